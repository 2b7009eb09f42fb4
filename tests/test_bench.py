"""The benchmarks run end to end at toy size (speed itself is not asserted here)."""

import subprocess
import sys

import pytest


def bench(*args):
    return subprocess.run([sys.executable, "-m", "ebmlab.bench", *args], capture_output=True, text=True)


def test_gmm_bench_smoke(tmp_path):
    out = tmp_path / "gmm.txt"
    r = bench("gmm", "--params", "params/smoke.yaml", "--samplers", "sgld", "mala", "--steps", "40",
              "--naive-steps", "10", "--check-steps", "30", "--set", "engine=closed_form", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert r.stdout == text + f"wrote {out}\n"
    rows = [line.split() for line in text.splitlines() if line.strip().startswith(("sgld", "mala"))]
    assert len(rows) == 4  # one timing row and one check row per sampler
    assert all(row[-1] == "PASS" for row in rows[2:])
    assert "Projected run of this configuration on 2 cores (4 trainings (runs x seeds) of 20 x 100 transitions" in text


@pytest.mark.parametrize("args,message", [
    (["--set", "engine=turbo"],
     "error: engine: must be one of 'auto', 'autograd', 'closed_form', 'compiled', got 'turbo'"),
    (["--samplers", "nuts"], "error: unknown job 'nuts' in samplers (this study has gd, sgld, mala, psgld)"),
])
def test_gmm_bench_bad_input(args, message):
    r = bench("gmm", "--params", "params/smoke.yaml", *args)
    assert r.returncode == 2
    assert r.stderr.strip() == message and r.stdout == ""


def test_image_bench_all_smoke_on_cpu(tmp_path):
    r = bench("all", "--smoke", "--device", "cpu", "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    files = list(tmp_path.glob("*_smoke.txt"))
    assert len(files) == 1
    text = files[0].read_text()
    for needle in ("== sampling", "naive eager fp32", "bf16 channels-last", "Equality checks", "== train_step",
                   "s/iteration", "== fid"):
        assert needle in text, needle
    checks = [line.split()[-1] for line in text.splitlines() if line.startswith(("fp32 channels", "bf16 channels"))
              and line.split()[-1] in ("PASS", "FAIL")]
    assert checks == ["PASS", "PASS"]


STUDY_MODELS = {"cnn": "table4_1", "wrn": "jem", "gagnon": "cd_vs_nll", "convnet": "stanley"}


def _check_rows(text):
    return [line.split()[-1] for line in text.splitlines()
            if line.startswith("engine ") and line.split()[-1] in ("PASS", "FAIL")]


def test_all_models_smoke_on_cpu(tmp_path):
    r = bench("all-models", "--smoke", "--params", "params/smoke.yaml", "--device", "cpu", "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"cpu-{m}_smoke.txt" for m in STUDY_MODELS)
    for model, study in STUDY_MODELS.items():
        text = (tmp_path / f"cpu-{model}_smoke.txt").read_text()
        assert f"study {study} (model {model}), params/smoke.yaml" in text
        for needle in ("torch capability", "threads: ", "load average", "parameters; images 1x8x8", "batch 8; 3 steps",
                       "measured peak", "Summary", "s/chain", "s/iteration", "GFLOP/s chain", "Equality checks"):
            assert needle in text, (model, needle)
        rows = [line for line in text.splitlines() if line.startswith(("  naive eager", "* engine", "  engine"))]
        labels = [line[2:].split("  ")[0] for line in rows]
        for label in ("naive eager fp32", "naive eager fp32, alt", "engine fp32 channels-last",
                      "engine bf16 channels-last (not a default)"):
            assert label in labels, (model, label, labels)
        assert _check_rows(text) == ["PASS", "PASS"], model
        assert str(tmp_path / f"cpu-{model}_smoke.txt") in r.stdout


def test_study_bench_builtin_settings():
    r = bench("sampling", "--smoke", "--model", "convnet", "--device", "cpu")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "study stanley (model convnet), built-in copy of params/smoke.yaml's settings" in r.stdout
    assert _check_rows(r.stdout) == ["PASS", "PASS"]


def test_study_bench_needs_a_study():
    r = bench("sampling", "--params", "params/smoke.yaml")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --params and --options need --study or --model (or use all-models)"
