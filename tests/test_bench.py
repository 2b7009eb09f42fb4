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
    assert "Projected run of this configuration on 2 cores (2 trainings of 20 x 100 transitions" in text


@pytest.mark.parametrize("args,message", [
    (["--set", "engine=turbo"],
     "error: engine: must be one of 'auto', 'autograd', 'closed_form', 'compiled', got 'turbo'"),
    (["--samplers", "nuts"], "error: unknown run 'nuts' (this study has gd, sgld, mala, psgld)"),
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
