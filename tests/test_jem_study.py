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
        "mala": {"name": "mala", "step_size": 1.0, "noise_std": 0.01, "test": "thesis"},
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
    """One train job; ``run`` is a run label (its first seed, 1) or a job label <run>/seed<k>."""
    params = params or write_params(tmp_path)
    job = run if "/" in run else f"{run}/seed1"
    out = tmp_path / "runs" / job
    code = jem_main(["train", "--params", str(params), "--section", "jem", "--job", job, "--out", str(out),
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
    assert code == 2 and "--job is required: name one of sgld/seed1, psgld_small/seed1, mala/seed1" in \
        capsys.readouterr().err
    assert train(tmp_path, "sgld/seed2")[0] == 2   # a seed the study does not name
    assert "sgld: seed 2 is not one of its seeds (1)" in capsys.readouterr().err
    assert train(tmp_path, "sgld/2")[0] == 2
    assert "a seeded job's label is <run>/seed<k>, got 'sgld/2'" in capsys.readouterr().err


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
    csv_path, metrics_path, claims_path = tmp_path / "t.csv", tmp_path / "t.json", tmp_path / "c.csv"
    timing_path = tmp_path / "timing.csv"
    assert jem_main(["table", "--runs", *dirs, "--profile", "smoke", "--csv", str(csv_path),
                     "--metrics", str(metrics_path), "--claims", str(claims_path), "--timing", str(timing_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    # wall times only in the timing table (issue 18, item 6): one row per run and seed, with numbers
    assert "seconds" not in csv_path.read_text() + metrics_path.read_text()
    with open(timing_path, newline="") as f:
        timing = list(csv.DictReader(f))
    assert [t["job"] for t in timing] == ["sgld/seed1", "psgld_small/seed1", "mala/seed1"]
    assert all(float(t["seconds_per_iteration"]) > 0 and float(t["train_wall_seconds"]) > 0 for t in timing)
    assert [r["sampler"] for r in rows] == ["SGLD", "PSGLD (small Lambda)", "MALA (thesis test)"]
    for r in rows:   # digits are a substitute: nothing in the columns compared with the thesis
        assert r["accuracy_reproduced"] == "" and r["fid_reproduced"] == ""
        assert r["accuracy_substitute"] != "" and r["data"].startswith("digits8")
    assert rows[0]["accuracy_paper"] == "0.89" and rows[2]["fid_paper"] == "56.4"
    with open(claims_path, newline="") as f:
        claims = {c["claim"]: c for c in csv.DictReader(f)}
    assert list(claims) == ["J1", "J2", "J3", "J4", "J5"]
    assert claims["J1"]["verdict"] == "missing"   # no pSGLD(1) run among these
    assert json.loads(metrics_path.read_text())["claims"]["J1"] == "missing"
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
    assert jem_main(["train", "--params", str(digits), "--section", "jem", "--job", "mala/seed1", "--out", str(out2),
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

def metrics(run, sampler, acc, *, lam=None, test=None, seed=1, real=True, status="completed", acc1=None,
            fid=None, div_it=None, spi=0.5):
    cfg = {"name": sampler, **({} if lam is None else {"lam": lam}), **({} if test is None else {"test": test})}
    return {"run": run, "job": f"{run}/seed{seed}", "seed": seed, "sampler": sampler, "sampler_config": cfg,
            "real_cifar10": real, "data": "cifar10 (torchvision)" if real else "mnist (local file mnist10k.npz)",
            "test_acc": acc, "test_acc_clean": acc, "acc_epoch1": acc1, "status": status,
            "diverged_at_iteration": div_it, "diverged_at_epoch": None if div_it is None else div_it / 703,
            "scores": {} if fid is None else {"inception" if real else "classifier": fid},
            "extractors": {"inception": f"inception:pool3:{INCEPTION_FILE}",
                           "classifier": "classifier:penultimate:clf.pt:sha256=0123456789ab"}, "epochs": 100,
            "epochs_planned": 100, "seconds_per_iteration": spi, "iterations_per_epoch": 703,
            "accept_prob_final": None, "inv_precond_final": None}


def hist(accept=None, inv_precond=None, n=20):
    rows = [{"iteration": float(i)} for i in range(n)]
    for key, f in (("accept_prob_mean", accept), ("precond_inv_mean_mean", inv_precond)):
        if f is not None:
            for i, r in enumerate(rows):
                r[key] = float(f(i))
    return rows


def trio(accs, *, real=False, fid=(50.0, 50.0, 50.0), mala_status="completed"):
    """sgld, psgld, mala with one seed per accuracy in accs[k] (and their scores)."""
    out = []
    for (run, sampler, lam, test), a, f in zip((("sgld", "langevin", None, "thesis"), ("psgld", "psgld", 1.0, None),
                                                ("mala", "mala", None, "thesis")), accs, fid):
        for seed, acc in enumerate(a, start=1):
            m = metrics(run, sampler, acc, lam=lam, test=test, seed=seed, real=real, fid=f + seed * 0.1,
                        status=mala_status if run == "mala" else "completed",
                        div_it=50 if run == "mala" and mala_status == "diverged" else None)
            out.append((m, hist()))
    return out


def verdicts(runs):
    return {c["claim"]: c["verdict"] for c in jem_claims.claims(runs, "fast")}


def test_j1_tie_needs_a_spread_narrow_enough_to_show_it():
    same = trio(([0.500, 0.505, 0.495], [0.502, 0.498, 0.500], [0.499, 0.503, 0.497]))
    assert verdicts(same)["J1"] == "reproduced"
    apart = trio(([0.50, 0.505, 0.495], [0.50, 0.505, 0.495], [0.40, 0.405, 0.395]))   # mala 0.1 below
    assert verdicts(apart)["J1"] == "not reproduced"
    wide = trio(([0.3, 0.5, 0.7], [0.31, 0.52, 0.69], [0.29, 0.5, 0.71]))   # same means, sd 0.2
    assert verdicts(wide)["J1"] == "inconclusive"


def test_a_row_whose_every_seed_diverged_is_the_worst():
    runs = trio(([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), mala_status="diverged")
    v = verdicts(runs)
    assert v["J1"] == "not reproduced" and v["J5"] == "not reproduced"
    rows = {r["run"]: r for r in jem_claims.table_rows(runs, "fast")}
    assert rows["mala"]["status"] == "diverged" and rows["mala"]["n_diverged"] == 3
    assert rows["mala"]["diverged_at_iteration"] == "50 50 50"


def test_j2_small_lambda_faster_then_diverging_with_growing_inv_g():
    base = [(metrics("sgld", "langevin", 0.5, seed=s, real=False, acc1=a), hist()) for s, a in ((1, .25), (2, .27))]
    small = metrics("psgld_small", "psgld", 0.3, lam=0.01, real=False, acc1=0.36, status="diverged", div_it=400)
    grows = hist(inv_precond=lambda i: 0.01 * (1 + i))          # last 10% / first 10% = 19.5 / 1.5 = 13
    assert verdicts(base + [(small, grows)])["J2"] == "reproduced"
    flat = hist(inv_precond=lambda i: 0.01)
    assert verdicts(base + [(small, flat)])["J2"] == "not reproduced"
    slow = dict(small, acc_epoch1=0.26)                          # inside sgld's spread (0.26 +- 0.014)
    assert verdicts(base + [(slow, grows)])["J2"] == "inconclusive"


def test_j3_and_j4_use_histories_and_timings():
    runs = [(metrics("sgld", "langevin", 0.5, seed=s, test="thesis", spi=0.50 + 0.01 * s),
             hist(accept=lambda i: 0.97)) for s in (1, 2, 3)]
    runs += [(metrics("mala", "mala", 0.5, seed=s, test="thesis", spi=0.80 + 0.01 * s),
              hist(accept=lambda i, s=s: 0.96 + 0.001 * s)) for s in (1, 2, 3)]
    v = verdicts(runs)
    assert v["J3"] == "reproduced" and v["J4"] == "reproduced"
    runs = [(m, hist(accept=lambda i: 0.5 if m["run"] == "mala" else 0.97)) for m, _ in runs]
    assert verdicts(runs)["J3"] == "not reproduced"


def test_table_rows_are_mean_and_sd_over_seeds_with_the_paper_values_labelled_cifar10():
    runs = trio(([0.5, 0.6, 0.7], [0.5, 0.5, 0.5], [0.4, 0.5, 0.6]))
    runs.append((metrics("mala_exact", "mala", 0.2, test="exact", real=False, fid=80.0), hist()))
    rows = {r["run"]: r for r in jem_claims.table_rows(runs, "fast")}
    sg = rows["sgld"]
    assert sg["accuracy_substitute"] == pytest.approx(0.6) and sg["accuracy_substitute_sd"] == pytest.approx(0.1)
    assert sg["classifier_frechet_substitute"] == pytest.approx(50.2)   # 50.1, 50.2, 50.3
    assert sg["accuracy_reproduced"] == "" and sg["fid_reproduced"] == ""
    assert sg["accuracy_paper"] == 0.89 and sg["fid_paper"] == 57.1 and sg["paper_data"].startswith("CIFAR-10")
    assert sg["n_seeds"] == 3 and sg["seeds"] == "1 2 3" and "compare ordering and spread" in sg["note"]
    assert rows["mala"]["sampler"] == "MALA (thesis test)" and rows["mala"]["verdict"].startswith("J1 ")
    ex = rows["mala_exact"]
    assert ex["sampler"] == "MALA (exact test)" and ex["accuracy_substitute_sd"] == "" and ex["paper_data"] == ""
    assert list(rows) == ["sgld", "psgld", "mala", "mala_exact"]


def test_real_cifar10_runs_fill_the_reproduced_columns():
    runs = trio(([0.89, 0.88, 0.9], [0.89, 0.89, 0.89], [0.88, 0.87, 0.89]), real=True)
    rows = {r["run"]: r for r in jem_claims.table_rows(runs, "paper")}
    assert rows["sgld"]["accuracy_reproduced"] == pytest.approx(0.89) and rows["sgld"]["accuracy_substitute"] == ""
    assert rows["sgld"]["fid_reproduced"] == pytest.approx(50.2) and rows["sgld"]["note"] == ""


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
    run = JOBS["train"].slice(study, "mala/seed1")
    assert "samplers" not in run and run["label"] == "mala" and run["sampler"] == TINY["samplers"]["mala"]
    study["seeds"], study["seeded_runs"] = [4, 5], ["mala"]
    assert JOBS["train"].labels(study) == ["sgld/seed4", "psgld_small/seed4", "mala/seed4", "mala/seed5"]
    assert JOBS["train"].slice(study, "mala/seed5")["seed"] == 5
    assert "seeds" not in JOBS["train"].slice(study, "mala/seed5")
    del study["seeds"], study["seeded_runs"]
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
    whole = base.job_of(from_dict(JEMStudy, study), JOBS["train"], "mala/seed1")
    assert to_dict(from_dict(JEMRun, JOBS["train"].slice(study, "mala/seed1"))) == to_dict(whole)
    # what the rule runs: the reference job from its slice alone
    ref = json.dumps(JOBS["reference"].slice(study, None))
    assert jem_main(["reference", "--config", ref, "--ref-dir", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "jem.json").read_text())["data"].startswith("digits8")
    cfg = json.dumps(JOBS["train"].slice(study, "mala/seed1"))
    code = jem_main(["train", "--config", cfg, "--job", "sgld/seed1", "--out", str(tmp_path / "x"),
                     "--ref-dir", str(tmp_path / "r")])
    assert code == 2 and "--job 'sgld/seed1' does not match the configuration's label 'mala/seed1'" in \
        capsys.readouterr().err


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
    r = _dry_run("--forceall", "reports/fast/table4_2.csv", "--config", "profile=fast")
    assert r.returncode == 0, r.stderr
    for job in ("sgld/seed1", "sgld/seed3", "mala/seed2", "psgld_small/seed1", "mala_exact/seed1"):
        assert f"results/fast/jem/{job}/metrics.json" in r.stdout
    assert "results/fast/jem/psgld_small/seed2/" not in r.stdout   # one seed for the unseeded runs
    r = _dry_run("--forceall", "jem", "--config", "profile=fast")   # figures: one folder for the study
    assert r.returncode == 0, r.stderr
    assert "reports/fast/figures/jem/jem_samples.png" in r.stdout and "reports/fast/table4_2_claims.csv" in r.stdout
