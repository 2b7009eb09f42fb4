"""The JEM study (thesis Table 4.2): one-line errors for bad input, a run end to end on the
embedded digits, divergence recorded or failed, the table's columns and verdicts, the figures
and the time-per-epoch bench."""

import csv
import json
import math

import pytest
import torch
import yaml

from ebmlab.metrics.fid import INCEPTION_FILE
from ebmlab.studies.jem import claims as jem_claims
from ebmlab.studies.jem.__main__ import main as jem_main
from ebmlab.studies.jem.jobs import FIGURES, JOBS

torch.set_num_threads(1)

TINY = {
    "seed": 1, "threads": 1, "device": "cpu",
    "data": {"name": "digits8", "size": 8, "range": "symmetric", "test_fraction": 0.15},
    "model": {"name": "wrn", "depth": 10, "width": 1},
    "train": {"epochs": 1, "max_iterations": 6, "batch_size": 16, "steps": 3, "buffer_size": 40,
              "warmup_iters": 2, "checkpoint_every": 3, "chain_log_every": 2, "data_augment": {"pad": 1, "flip": False}},
    "eval": {"n_valid": 100, "every": 0.05},
    "fid": {"metrics": []},
    "figures": {"chain_iterations": [0, 4]},
    "samplers": {
        "sgld": {"name": "langevin", "step_size": 1.0, "noise_std": 0.01, "track_acceptance": True},
        "psgld_small": {"name": "psgld", "step_size": 1.0, "noise_std": 0.01, "alpha": 0.9, "lam": 0.01,
                        "precondition_noise": False},
        "mala": {"name": "mala", "step_size": 1.0, "noise_std": 0.01},
    },
}


def write_params(tmp_path, **changes):
    section = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        node = section
        *head, last = key.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "smoke", "jem": section}, sort_keys=False))
    return path


def train(tmp_path, run, params=None, extra=()):
    params = params or write_params(tmp_path)
    out = tmp_path / "runs" / run
    code = jem_main(["train", "--params", str(params), "--section", "jem", "--job", run, "--out", str(out),
                     "--ref-dir", str(tmp_path / "ref"), *extra])
    return code, out


# -- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"train.stepz": 3}, "unknown key 'train.stepz' (allowed: "),
    ({"train.steps": "many"}, "train.steps: expected an integer, got 'many'"),
    ({"samplers.sgld": {"name": "hmcc"}}, "samplers.sgld.name: unknown sampler 'hmcc' (choose from "),
    ({"model": {"name": "wrn", "depth": 12}}, "model: depth must be 6n + 4 (e.g. 10, 16, 28), got 12"),
    ({"data": {"name": "digits8", "size": 8, "test_fraction": 0.15}},
     "data.range must be 'symmetric' (JEM works in [-1, 1]), got 'unit'"),
    ({"data": {"name": "mnist", "source": "local", "path": "nowhere/mnist.npz", "range": "symmetric",
               "test_fraction": 0.1}}, "local image file nowhere/mnist.npz not found"),
    ({"eval.n_valid": 5000}, "eval.n_valid=5000 leaves no training images (the split has 1527)"),
    ({"model": {"name": "wrn", "depth": 10, "width": 1, "n_classes": 5}},
     "model.n_classes=5 but the data have labels up to 9"),
])
def test_bad_input_is_one_line_before_any_output(tmp_path, capsys, change, message):
    code, out = train(tmp_path, "sgld", write_params(tmp_path, **change))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_unknown_run_and_missing_run_are_one_line(tmp_path, capsys):
    assert train(tmp_path, "langevin")[0] == 2
    assert "unknown job 'langevin' in samplers (this study has sgld, psgld_small, mala)" in capsys.readouterr().err
    params = write_params(tmp_path)
    code = jem_main(["train", "--params", str(params), "--section", "jem", "--out", str(tmp_path / "x"),
                     "--ref-dir", str(tmp_path / "ref")])
    assert code == 2 and "--job is required: name one of sgld, psgld_small, mala" in capsys.readouterr().err


def test_bench_rejects_a_bad_size(tmp_path, capsys):
    code = jem_main(["bench", "--params", str(write_params(tmp_path)), "--section", "jem", "--models", "28by10",
                     "--csv", str(tmp_path / "b.csv")])
    assert code == 2 and "--models: expected DEPTHxWIDTH such as 28x10, got '28by10'" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()


# -- a run end to end -------------------------------------------------------------------

def test_run_writes_metrics_curves_chains_and_resumes_as_done(tmp_path):
    code, out = train(tmp_path, "sgld")
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "completed" and m["iterations"] == 6 and m["real_cifar10"] is False
    assert m["data"] == "digits8 (scikit-learn's bundled 8x8 digits)"
    assert m["n_train"] == 1527 - 100 and m["iterations_per_epoch"] == (1527 - 100) // 16
    for key in ("test_acc", "test_acc_clean", "valid_acc"):
        assert 0.0 <= m[key] <= 1.0
    assert 0.0 <= m["accept_prob_final"] <= 1.0 and m["inv_precond_final"] is None
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["iteration"] for r in rows] == [str(i) for i in range(6)]
    every = round(0.05 * m["iterations_per_epoch"])          # 4 iterations
    evaluated = [int(r["iteration"]) for r in rows if r["test_acc"]]
    assert evaluated == [every - 1, 5]                        # every 0.05 epochs and at the end
    chains = json.loads((out / "chains.json").read_text())
    assert [c["iteration"] for c in chains] == [0, 2, 4, 5] and len(chains[0]["accept_prob"]) == 3
    # a finished run started again resumes at its end and reproduces its metrics
    before = (out / "history.csv").read_text()
    assert train(tmp_path, "sgld")[0] == 0
    assert (out / "history.csv").read_text().split("\n")[1].split(",")[:6] == before.split("\n")[1].split(",")[:6]


def test_divergence_is_recorded_or_fails_with_exit_3(tmp_path, capsys):
    params = write_params(tmp_path, **{"train.max_abs_loss": 1.0})   # the initial CE (~2.3) trips it
    code, out = train(tmp_path, "sgld", params)
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "diverged" and m["diverged_at_iteration"] == 0
    assert "|loss| = " in m["diverged"] and "last good checkpoint: none" in m["diverged"]
    assert capsys.readouterr().err.startswith("diverged (recorded; on_diverge: record): iteration 1: |loss| = ")
    params = write_params(tmp_path, **{"train.max_abs_loss": 1.0, "on_diverge": "fail"})
    code, out2 = train(tmp_path, "mala", params)
    assert code == 3 and capsys.readouterr().err.startswith("diverged: iteration 1: |loss| = ")
    assert not (out2 / "metrics.json").exists()


def test_recorded_divergence_reports_the_last_good_checkpoint_and_the_curves_up_to_it(tmp_path, monkeypatch):
    from ebmlab.train.jem import JEMTrainer
    step = JEMTrainer.step

    def blow_up_at_4(self, it):
        if it == 4:
            raise self._diverged(it, "|loss| = 3e+08, not <= 1e+08")
        return step(self, it)

    monkeypatch.setattr(JEMTrainer, "step", blow_up_at_4)
    code, out = train(tmp_path, "sgld")
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "diverged" and m["diverged_at_iteration"] == 4
    assert m["diverged_at_epoch"] == pytest.approx(4 / m["iterations_per_epoch"])
    assert m["iterations"] == 3 and "(after iteration 3)" in m["diverged"]   # the checkpoint's model is scored
    with open(out / "history.csv", newline="") as f:
        assert [r["iteration"] for r in csv.DictReader(f)] == ["0", "1", "2", "3"]
    assert [c["iteration"] for c in json.loads((out / "chains.json").read_text())] == [0, 2]


def test_table_figures_and_claims_from_real_runs(tmp_path):
    dirs = []
    for run in ("sgld", "psgld_small", "mala"):
        code, out = train(tmp_path, run)
        assert code == 0
        dirs.append(str(out))
    csv_path, metrics_path = tmp_path / "t.csv", tmp_path / "t.json"
    assert jem_main(["table", "--runs", *dirs, "--profile", "smoke", "--csv", str(csv_path),
                     "--metrics", str(metrics_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["sampler"] for r in rows] == ["SGLD", "PSGLD (small Lambda)", "MALA"]
    for r in rows:   # digits are a substitute: nothing in the columns compared with the thesis
        assert r["accuracy_reproduced"] == "" and r["fid_reproduced"] == ""
        assert r["accuracy_substitute"] != "" and r["verdict"].startswith("not comparable (data: digits8")
    assert rows[0]["accuracy_paper"] == "0.89" and rows[2]["fid_paper"] == "56.4"
    claims = json.loads(metrics_path.read_text())["claims"]
    assert set(claims["accuracy_gap_vs_sgld"]) == {"mala"}
    assert jem_main(["figures", "--runs", *dirs, "--out-dir", str(tmp_path / "fig"), "--prefix", "jem_x"]) == 0
    for name in FIGURES:
        assert (tmp_path / "fig" / f"jem_x_{name}.png").stat().st_size > 1000


def test_scores_go_to_their_own_columns_standin_and_classifier(tmp_path):
    """CIFAR-shaped synthetic images with the random-weight Inception, digits with the classifier
    substitute: neither may reach fid_reproduced or accuracy_reproduced."""
    params = write_params(tmp_path, **{
        "data": {"name": "cifar10", "source": "synthetic", "n": 96, "range": "symmetric"},
        "eval.n_valid": 16, "train.max_iterations": 2, "train.buffer_size": 24,
        "fid": {"metrics": ["inception_standin"], "n_samples": 24, "reference_n": 32, "batch_size": 24}})
    code, out = train(tmp_path, "sgld", params)
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["real_cifar10"] is False and m["n_fid_samples"] == 24
    assert m["extractors"]["inception_standin"].startswith("inception_standin:")
    clf = tmp_path / "clf.pt"
    digits = write_params(tmp_path, **{"fid": {"metrics": ["classifier"], "n_samples": 40}})
    assert jem_main(["classifier", "--params", str(digits), "--section", "jem", "--out", str(clf)]) == 0
    assert jem_main(["reference", "--params", str(digits), "--section", "jem", "--ref-dir", str(tmp_path / "r2"),
                     "--classifier", str(clf)]) == 0
    out2 = tmp_path / "runs" / "mala"
    assert jem_main(["train", "--params", str(digits), "--section", "jem", "--job", "mala", "--out", str(out2),
                     "--ref-dir", str(tmp_path / "r2"), "--classifier", str(clf)]) == 0
    assert json.loads((out2 / "metrics.json").read_text())["scores"]["classifier"] > 0
    csv_path = tmp_path / "t.csv"
    assert jem_main(["table", "--runs", str(out), str(out2), "--profile", "smoke", "--csv", str(csv_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert float(rows["sgld"]["inception_standin_fid"]) >= 0 and rows["sgld"]["fid_reproduced"] == ""
    assert float(rows["mala"]["classifier_frechet_substitute"]) > 0 and rows["mala"]["fid_reproduced"] == ""
    assert rows["sgld"]["accuracy_reproduced"] == "" and rows["sgld"]["data"] == "cifar10 (synthetic)"


def test_classifier_metric_without_weights_is_one_line(tmp_path, capsys):
    params = write_params(tmp_path, **{"fid": {"metrics": ["classifier"]}})
    assert train(tmp_path, "sgld", params)[0] == 2
    assert "metric 'classifier' needs --classifier <weights file>" in capsys.readouterr().err
    assert train(tmp_path, "sgld", params, extra=("--classifier", str(tmp_path / "none.pt")))[0] == 2
    assert "none.pt" in capsys.readouterr().err


# -- verdicts ---------------------------------------------------------------------------

def metrics(run, sampler, acc, *, lam=None, real=True, status="completed", acc1=None, fid=None, div_epoch=None):
    cfg = {"name": sampler} if lam is None else {"name": sampler, "lam": lam}
    return {"run": run, "sampler": sampler, "sampler_config": cfg, "real_cifar10": real,
            "data": "cifar10 (torchvision)" if real else "mnist (local file mnist10k.npz)", "test_acc": acc,
            "test_acc_clean": acc, "acc_epoch1": acc1, "status": status, "diverged_at_epoch": div_epoch,
            "scores": {} if fid is None else {"inception" if real else "classifier": fid},
            "extractors": {"inception": f"inception:pool3:{INCEPTION_FILE}",
                           "classifier": "classifier:penultimate:clf.pt:sha256=0123456789ab"}, "epochs": 100,
            "seconds_per_iteration": 0.5, "iterations_per_epoch": 703, "accept_prob_final": None,
            "inv_precond_final": None}


def test_verdicts_follow_the_thesis_claims_on_cifar10():
    ms = [metrics("sgld", "langevin", 0.905, acc1=0.26, fid=55.0),
          metrics("psgld", "psgld", 0.875, lam=1.0, fid=60.0),
          metrics("psgld_small", "psgld", 0.5, lam=0.01, acc1=0.36, status="diverged", div_epoch=3.5),
          metrics("mala", "mala", 0.89, fid=90.0)]
    rows = {r["run"]: r for r in jem_claims.table_rows(ms, "paper")}
    assert rows["sgld"]["accuracy_reproduced"] == 0.905 and rows["sgld"]["fid_reproduced"] == 55.0
    assert rows["sgld"]["verdict"].startswith("consistent with the thesis's values")
    # 0.875 is 0.015 below the thesis's 0.89 (tolerance 0.03) but 0.03 below SGLD (the claim allows 0.02)
    assert rows["psgld"]["verdict"] == ("consistent with the thesis's values; "
                                        "inconsistent (accuracy - SGLD = -0.030)")
    assert rows["mala"]["verdict"].startswith("inconsistent with the thesis's values")   # FID 90 vs 56.4
    assert rows["psgld_small"]["verdict"] == ("consistent (first-epoch accuracy above SGLD: yes; diverged: yes); "
                                              "diverged at epoch 3.50")
    assert rows["psgld_small"]["accuracy_paper"] == "" and rows["psgld_small"]["acc_epoch1_paper"] == 0.36


def test_substitute_runs_fill_only_substitute_columns_and_claims():
    ms = [metrics("sgld", "langevin", 0.98, real=False, acc1=0.9, fid=12.0),
          metrics("psgld", "psgld", 0.975, lam=1.0, real=False, fid=13.0),
          metrics("psgld_small", "psgld", 0.97, lam=0.01, real=False, acc1=0.8, fid=30.0),
          metrics("mala", "mala", 0.99, real=False, fid=11.0)]
    rows = {r["run"]: r for r in jem_claims.table_rows(ms, "fast")}
    for r in rows.values():
        assert r["accuracy_reproduced"] == "" and r["fid_reproduced"] == "" and r["verdict"].startswith("not comp")
    assert rows["mala"]["classifier_frechet_substitute"] == 11.0 and rows["mala"]["accuracy_substitute"] == 0.99
    assert rows["psgld_small"]["verdict_substitute"] == (
        "inconsistent (first-epoch accuracy above SGLD: no; diverged: no) [substitute data]")
    c = jem_claims.claims(ms)
    assert c["samplers_barely_differ"] is True and c["accuracy_gap_vs_sgld"]["mala"] == pytest.approx(0.01)
    assert c["small_lambda_faster_first_epoch"] is False and c["small_lambda_diverged"] is False


# -- job slices ---------------------------------------------------------------------------

def test_jobs_module_imports_no_torch():
    import subprocess
    import sys
    code = "import ebmlab.studies.jem.jobs, sys; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_each_job_reads_only_its_slice():
    study = json.loads(json.dumps(TINY))
    clf, ref = JOBS["classifier"].slice(study, None), JOBS["reference"].slice(study, None)
    assert set(clf) == {"seed", "threads", "device", "data"}
    assert set(ref) == {"threads", "device", "data", "fid"} and ref["fid"] == {"metrics": []}
    run = JOBS["train"].slice(study, "mala")
    assert "samplers" not in run and run["label"] == "mala" and run["sampler"] == TINY["samplers"]["mala"]
    assert set(JOBS["bench"].slice(study, None)) == {"seed", "threads", "device", "train", "samplers"}
    # a sampler, the model, the recipe or the number of scored samples change: classifier and references stay
    study.update(samplers={"sgld": {"name": "mala"}}, model={"name": "wrn", "depth": 16}, train={"steps": 9})
    study["fid"] = {"metrics": [], "n_samples": 7, "batch_size": 3}
    assert JOBS["classifier"].slice(study, None) == clf and JOBS["reference"].slice(study, None) == ref


def test_a_rule_slice_and_the_whole_study_give_the_same_job(tmp_path, capsys):
    from ebmlab.config import from_dict, to_dict
    from ebmlab.studies import base
    from ebmlab.studies.jem.config import JEMRun, JEMStudy
    study = json.loads(json.dumps(TINY))
    whole = base.job_of(from_dict(JEMStudy, study), JOBS["train"], "mala")
    assert to_dict(from_dict(JEMRun, JOBS["train"].slice(study, "mala"))) == to_dict(whole)
    # what the rule runs: the reference job from its slice alone
    ref = json.dumps(JOBS["reference"].slice(study, None))
    assert jem_main(["reference", "--config", ref, "--ref-dir", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "jem.json").read_text())["data"].startswith("digits8")
    cfg = json.dumps(JOBS["train"].slice(study, "mala"))
    code = jem_main(["train", "--config", cfg, "--job", "sgld", "--out", str(tmp_path / "x"),
                     "--ref-dir", str(tmp_path / "r")])
    assert code == 2 and "--job 'sgld' does not match the configuration's label 'mala'" in capsys.readouterr().err


# -- time per epoch -----------------------------------------------------------------------

def test_bench_extrapolates_seconds_per_iteration_to_a_50000_image_epoch(tmp_path):
    csv_path = tmp_path / "bench.csv"
    assert jem_main(["bench", "--params", str(write_params(tmp_path)), "--section", "jem", "--models", "10x1",
                     "--iterations", "1", "--warmup", "1", "--csv", str(csv_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["sampler"] for r in rows] == ["sgld", "psgld_small", "mala"]
    for r in rows:
        assert r["model"] == "WRN-10-1" and r["batch_size"] == "16" and r["steps"] == "3"
        per_it = float(r["seconds_per_iteration"])
        assert float(r["seconds_per_epoch_50k"]) == pytest.approx(per_it * (50000 // 16), rel=1e-5)
        assert float(r["hours_per_100_epochs"]) == pytest.approx(per_it * 3125 * 100 / 3600, rel=1e-5)
        assert math.isfinite(per_it) and per_it > 0


# -- the Snakemake layer ------------------------------------------------------------------

def _dry_run(*extra):
    import shutil
    import subprocess
    from pathlib import Path
    exe = shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake not installed")
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([exe, "-n", "--cores", "1", *extra], cwd=root, capture_output=True, text=True)


def test_bad_jem_params_stop_the_dag_and_profiles_plan_the_jem_jobs(tmp_path):
    bad = tmp_path / "override.yaml"
    bad.write_text("jem: {train: {stepz: 3}}\n")
    r = _dry_run("--configfile", str(bad), "--config", "profile=smoke")
    assert r.returncode != 0 and "params/smoke.yaml: jem.train: unknown key 'stepz'" in r.stdout + r.stderr
    r = _dry_run("--forceall", "--config", "profile=smoke")
    assert r.returncode == 0, r.stderr
    for rule in ("jem_classifier", "jem_reference", "jem_train", "jem_table", "jem_figures"):
        assert rule in r.stdout
    r = _dry_run("--forceall", "reports/fast/table4_2_mnist.csv", "--config", "profile=fast")
    assert r.returncode == 0, r.stderr
    assert "results/fast/jem_mnist/psgld_small/metrics.json" in r.stdout
    r = _dry_run("--forceall", "jem_mnist", "--config", "profile=fast")   # figures: one folder for the study
    assert r.returncode == 0, r.stderr
    assert "reports/fast/figures/jem/jem_mnist_samples.png" in r.stdout
