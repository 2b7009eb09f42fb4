"""The Table 4.1 study: cells, job slices, the noise convention, config errors, the table's
columns and verdicts, and the cell command end to end on embedded data."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebmlab.config import from_dict, to_dict
from ebmlab.io import load_yaml
from ebmlab.errors import ConfigError
from ebmlab.papers import TABLE4_1_FID
from ebmlab.studies import base
from ebmlab.studies.table4_1 import jobs
from ebmlab.studies.table4_1.__main__ import main
from ebmlab.studies.table4_1.claims import CELL_COLUMNS, TABLE_COLUMNS, Z, cell_rows, metrics_summary, table_rows
from ebmlab.studies.table4_1.claims import claims as claims_of
from ebmlab.studies.table4_1.config import Table41Study

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "datasets": {"mnist": {"data": {"name": "digits8"}}, "cifar10": {"data": {"name": "cifar10"}}},
    "samplers": {
        "langevin": {"name": "langevin", "step_size": 100, "track_acceptance": True},
        "mala": {"name": "mala", "step_size": 100},
        "psgld": {"name": "psgld", "step_size": 100, "alpha": 0.9, "lam": 1.0, "precondition_noise": False},
        "psgld_lam001": {"name": "psgld", "step_size": 100, "alpha": 0.9, "lam": 0.01, "precondition_noise": False},
    },
    "switches": {"sgld_then_mala": {"first": "langevin", "then": "mala", "after": 3}},
    "table_samplers": ["langevin", "mala", "psgld"],
    "figure_datasets": ["mnist"],
}


def test_paper_values_are_the_thesis_table():
    assert TABLE4_1_FID["cifar10"] == {"langevin": 61, "mala": 375, "tempered_mala": 413, "psgld": 107}
    assert [TABLE4_1_FID[d]["langevin"] for d in ("cifar10", "svhn", "mnist", "cats")] == [61, 68, 117, 76]
    assert [TABLE4_1_FID[d]["psgld"] for d in ("cifar10", "svhn", "mnist", "cats")] == [107, 155, 173, 161]


def cell_of(study, ds, run, seed=0):
    return base.job_of(study, jobs.JOBS["cell"], f"{ds}/{run}/seed{seed}")


def test_cells_table_rows_everywhere_extra_runs_on_figure_datasets():
    study = from_dict(Table41Study, SMALL)
    expected = [("mnist", r, 0) for r in ("langevin", "mala", "psgld", "psgld_lam001", "sgld_then_mala")] + \
        [("cifar10", r, 0) for r in ("langevin", "mala", "psgld")]
    assert jobs.cells(SMALL) == jobs.cells(to_dict(study)) == expected
    assert len(jobs.cells({})) == 16  # 4 data sets x 4 samplers, the thesis's table
    assert jobs.JOBS["cell"].labels(SMALL)[0] == "mnist/langevin/seed0"


def test_seeds_expand_the_seeded_runs_and_the_sweep_gets_the_first():
    raw = {**SMALL, "seeds": [3, 1, 2], "seeded_runs": ["langevin", "mala"], "fid": {"curve_every": 2},
           "step_sweep": {"runs": ["mala"], "step_sizes": [100, 0.01], "noises": ["fixed", "matched"]}}
    study = from_dict(Table41Study, raw)
    labels = jobs.cell_labels(raw)
    assert labels == jobs.cell_labels(to_dict(study))
    assert labels[:7] == ["mnist/langevin/seed3", "mnist/langevin/seed1", "mnist/langevin/seed2",
                          "mnist/mala/seed3", "mnist/mala/seed1", "mnist/mala/seed2", "mnist/psgld/seed3"]
    assert labels[-4:] == ["mnist/step_mala_h100_fixed/seed3", "mnist/step_mala_h0.01_fixed/seed3",
                           "mnist/step_mala_h100_matched/seed3", "mnist/step_mala_h0.01_matched/seed3"]
    assert "cifar10/mala/seed2" in labels and not any(lb.startswith("cifar10/step_") for lb in labels)
    # the seed reaches the cell (weights, chains, data order); the curve is drawn for the first seed only
    a, b = cell_of(study, "mnist", "mala", 3), cell_of(study, "mnist", "mala", 1)
    assert (a.seed, b.seed, a.label) == (3, 1, "mnist/mala/seed3")
    assert a.fid.curve_every == 2
    assert b.fid.curve_every is None
    sw = cell_of(study, "mnist", "step_mala_h0.01_matched", 3)
    assert sw.sampler.config.step_size == 0.01 and sw.sampler.config.test == "exact"
    assert sw.noise_std == pytest.approx(math.sqrt(0.02)) and sw.train.max_iterations == 100
    assert sw.train.buffer_size == 2000 and sw.fid.n_samples == 2000 and sw.fid.curve_every is None
    mala = sw.schedule().first
    assert mala.info()["temperature"] == pytest.approx(1.0)  # matched noise: the exact test at T = 1
    fixed = cell_of(study, "mnist", "step_mala_h100_fixed", 3)
    assert fixed.noise_std == pytest.approx(0.01) and fixed.sampler.config.step_size == 100
    with pytest.raises(ConfigError, match=r"mnist/psgld: seed 1 is not one of its seeds \(3\)"):
        cell_of(study, "mnist", "psgld", 1)
    with pytest.raises(ConfigError, match="a cell's job label is <dataset>/<run>/seed<k>, got 'mnist/mala'"):
        base.job_of(study, jobs.JOBS["cell"], "mnist/mala")


def test_plain_defaults_are_the_study_defaults():
    # the rule file cuts raw params with jobs.DEFAULTS where a key is left out
    assert from_dict(Table41Study, jobs.DEFAULTS) == Table41Study()
    assert jobs.cells({}) == jobs.cells(to_dict(Table41Study()))


def test_jobs_module_imports_no_torch():
    code = "import sys, ebmlab.studies.table4_1.jobs; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_each_job_gets_only_the_keys_it_reads(profile):
    raw = load_yaml(ROOT / f"params/{profile}.yaml")["table4_1"]
    for ds in jobs.datasets(raw):
        ref = jobs.reference_slice(raw, ds)
        assert set(ref) == {"dataset", "threads", "device", "entry", "fid"}
        assert set(ref["entry"]) <= {"data", "metrics"} and set(ref["fid"]) <= {"reference_split", "reference_n"}
        assert set(jobs.classifier_slice(raw, ds)) <= {"data", "classifier", "seed", "device", "threads"}
    for ds, run, seed in jobs.cells(raw):
        cell = jobs.cell_slice(raw, f"{ds}/{run}/seed{seed}")
        assert not {"samplers", "switches", "datasets", "table_samplers", "figure_datasets", "seeds",
                    "seeded_runs", "step_sweep"} & set(cell)
        assert "runs" not in cell["entry"] and cell["run"] == run and "sampler" in cell
    # a sampler edit changes only the cells that use it
    edited = {**raw, "samplers": {**raw["samplers"], "mala": {**raw["samplers"]["mala"], "step_size": 50}}}
    for ds in jobs.datasets(raw):
        assert jobs.reference_slice(edited, ds) == jobs.reference_slice(raw, ds)
        assert jobs.classifier_slice(edited, ds) == jobs.classifier_slice(raw, ds)
    changed = {c for c in jobs.cells(raw)
               if jobs.cell_slice(edited, jobs.cell_folder(*c)) != jobs.cell_slice(raw, jobs.cell_folder(*c))}
    assert changed == {c for c in jobs.cells(raw) if c[1] in ("mala", "sgld_then_mala")}


@pytest.mark.parametrize("noise_is,std", [("variance", 0.01), ("std", 1e-4)])
def test_noise_convention_reaches_every_sampler(noise_is, std):
    study = from_dict(Table41Study, {**SMALL, "noise": 1e-4, "noise_is": noise_is})
    cell = cell_of(study, "mnist", "sgld_then_mala")
    sched = cell.schedule()
    for s in (sched.first, sched.then):
        assert s.config.noise_std == pytest.approx(std)
        assert s.config.clamp == (0.0, 1.0)
    assert sched.switch_after == 3 and sched.at(2).name == "langevin" and sched.at(3).name == "mala"
    mala = cell_of(study, "mnist", "mala").schedule().first
    assert mala.info()["temperature"] == pytest.approx(std ** 2 / 200)  # implied T = sigma^2 / (2h)


@pytest.mark.parametrize("change,message", [
    ({"samplers": {**SMALL["samplers"], "mala": {"name": "mala", "step_size": 100, "noise_std": 0.1}}},
     "sampler.noise_std: this study sets the chain noise with noise / noise_is"),
    ({"table_samplers": ["langevin", "hmc"]},
     "table_samplers: unknown run 'hmc' (runs: langevin, mala, psgld, psgld_lam001, sgld_then_mala)"),
    ({"switches": {"x": {"first": "sgld", "then": "mala", "after": 3}}},
     "switches.x.first: unknown sampler 'sgld' (samplers: langevin, mala, psgld, psgld_lam001)"),
    ({"figure_datasets": ["svhn"]}, "figure_datasets: unknown data set 'svhn' (datasets: mnist, cifar10)"),
    ({"train": {"init": "short_run"}}, "fid.source 'buffer' needs a replay buffer, but train.init is 'short_run'"),
    ({"fid": {"source": "fresh"}}, "fid: fid.steps must be >= 1 when fid.source is 'fresh'"),
    ({"fid": {"ema": True}}, "fid.ema needs train.ema (a decay)"),
    ({"noise_is": "sd"}, "noise_is: must be one of 'std', 'variance', got 'sd'"),
    ({"datasets": {"mnist": {"data": {"name": "digits8"}, "metrics": ["fid"]}}},
     "datasets.mnist.metrics[0]: must be one of 'inception', 'classifier', 'inception_standin', got 'fid'"),
    ({"seeded_runs": ["langevin", "hmc"]},
     "seeded_runs: unknown run 'hmc' (runs: langevin, mala, psgld, psgld_lam001, sgld_then_mala)"),
    ({"seeds": [0, 0]}, "seeds must list distinct seeds, got [0, 0]"),
    ({"step_sweep": {"runs": ["sgld"]}},
     "step_sweep.runs: unknown sampler 'sgld' (samplers: langevin, mala, psgld, psgld_lam001)"),
    ({"step_sweep": {"step_sizes": [1.0, -1.0]}}, "step_sweep: step_sweep.step_sizes must be positive numbers, "
                                                   "got [1.0, -1.0]"),
])
def test_bad_study_config_is_one_line(change, message):
    with pytest.raises(ConfigError) as err:
        study = from_dict(Table41Study, {**SMALL, **change})
        for ds, run, seed in jobs.cells(to_dict(study)):
            cell_of(study, ds, run, seed)
    assert str(err.value) == message


EXTRACTORS = {"inception": "inception:pool3:pt_inception-2015-12-05-6726825d.pth",
              "inception_standin": "inception_standin:pool3:random-seed0:75px", "classifier": "classifier:mnist"}


def _metrics(ds, run, scores, diverged=None, seed=0, accept=None, g=None):
    return {"dataset": ds, "run": run, "seed": seed, "scores": scores,
            "extractors": {k: EXTRACTORS[k] for k in scores}, "diverged": diverged, "epochs": 1.0,
            "n_fid_samples": 100, "data": ds, "fid_source": "buffer", "iterations": 10,
            "seconds_per_iteration": 0.5, "accept_prob_final": accept, "precond_mean_final": g}


def test_table_keeps_substitutes_out_of_the_paper_column():
    # two seeds per mnist row: the ordering rule needs a spread (pSGLD worse than MALA: against the paper)
    ms = [_metrics("mnist", run, {"classifier": v + 2.0 * seed}, seed=seed)
          for run, v in (("langevin", 5.0), ("mala", 50.0), ("psgld", 80.0)) for seed in (0, 1)] + [
          _metrics("cifar10", "langevin", {"inception": 70.0, "inception_standin": 1.0}),
          _metrics("cifar10", "mala", {"inception": None}, diverged="iteration 9: loss=nan")]
    rows = {(r["dataset"], r["run"]): r for r in table_rows(ms, "fast")}
    assert list(rows) == [("mnist", "langevin"), ("mnist", "mala"), ("mnist", "psgld"),
                          ("cifar10", "langevin"), ("cifar10", "mala")]
    m = rows[("mnist", "langevin")]
    assert m["fid_reproduced"] == "" and m["classifier_frechet_substitute"] == 6.0   # mean of 5 and 7
    assert m["fid_note"].startswith("no Inception weights here")
    assert m["verdict_substitute"] == "reproduced (substitute metric)"
    assert rows[("mnist", "psgld")]["verdict_substitute"] == "not reproduced (substitute metric)"
    assert rows[("mnist", "mala")]["verdict_substitute"] == "not reproduced (substitute metric)"
    c = rows[("cifar10", "langevin")]
    assert c["fid_reproduced"] == 70.0 and c["inception_standin_fid"] == 1.0 and c["fid_paper"] == 61
    assert c["fid_note"] == "" and c["profile"] == "fast"
    d = rows[("cifar10", "mala")]
    assert d["fid_reproduced"] == "diverged" and d["n_diverged"] == 1
    assert TABLE_COLUMNS[:7] == ["dataset", "sampler", "run", "fid_paper", "fid_reproduced", "fid_reproduced_sd",
                                 "fid_note"]
    # wall times go to the timing table (--timing), never into a results table (issue 18, item 6)
    assert not [c for c in TABLE_COLUMNS + CELL_COLUMNS if "seconds" in c or "wall" in c]
    assert "seconds_per_iteration" not in next(iter(metrics_summary(ms).values()))


def test_table_rows_are_mean_and_sd_over_seeds():
    ms = [_metrics("mnist", "langevin", {"classifier": v}, seed=s, accept=a)
          for s, v, a in ((0, 10.0, 0.9), (1, 12.0, 0.95), (2, 14.0, 1.0))]
    ms += [_metrics("mnist", "psgld", {"classifier": 30.0}, seed=0, g=0.99),
           _metrics("mnist", "psgld", {"classifier": None}, seed=1, diverged="iteration 3: loss=nan"),
           _metrics("mnist", "step_mala_exact_h1_fixed", {"classifier": 1.0})]   # the sweep is not a row
    rows = table_rows(ms, "fast")
    assert [r["run"] for r in rows] == ["langevin", "psgld"]
    lv, ps = rows
    assert lv["classifier_frechet_substitute"] == pytest.approx(12.0)
    assert lv["classifier_frechet_substitute_sd"] == pytest.approx(2.0)      # sd over seeds, ddof = 1
    assert lv["accept_prob_final"] == pytest.approx(0.95) and lv["accept_prob_final_sd"] == pytest.approx(0.05)
    assert (lv["n_seeds"], lv["seeds"], lv["n_diverged"]) == (3, "0 1 2", 0)
    assert ps["classifier_frechet_substitute"] == 30.0 and ps["classifier_frechet_substitute_sd"] == ""
    assert (ps["n_seeds"], ps["n_diverged"], ps["precond_mean_final"]) == (2, 1, 0.99)
    cells = {(r["run"], r["seed"]): r for r in cell_rows(ms, "fast")}
    assert cells[("psgld", 1)]["classifier_frechet_substitute"] == "diverged"
    assert ("step_mala_exact_h1_fixed", 0) in cells


def _seeded(run, values, **kw):
    return [_metrics("mnist", run, {"classifier": v}, seed=s, **kw) for s, v in enumerate(values)]


def _claims(ms, hist=None):
    hist = hist or {}
    return {c["claim"]: c for c in claims_of([(m, hist.get(m["run"], [])) for m in ms], "fast")}


def test_ordering_needs_a_gap_beyond_the_spread_over_seeds():
    # the rule itself: gap 1 against a combined sd of hypot(1, 1) = 1.41 is inconclusive, gap 3 is not
    assert base.compare((10.0, 1.0), (11.0, 1.0), "less", z=Z) == "inconclusive"
    assert base.compare((10.0, 1.0), (13.0, 1.0), "less", z=Z) == "reproduced"
    assert base.compare((13.0, 1.0), (10.0, 1.0), "less", z=Z) == "not reproduced"
    # hand-made metrics: langevin 10 +- 1; pSGLD 11 +- 1 (inside the spread), MALAs 30 +- 1 (far outside)
    base_runs = _seeded("langevin", [9, 10, 11]) + _seeded("mala", [29, 30, 31]) + \
        _seeded("tempered_mala", [29, 30, 31])
    close = _claims(base_runs + _seeded("psgld", [10, 11, 12]))
    assert close["T1"]["verdict"] == "inconclusive" and close["T2"]["verdict"] == "inconclusive"
    assert close["T3"]["verdict"] == "reproduced"
    far = _claims(base_runs + _seeded("psgld", [19, 20, 21]))
    assert far["T1"]["verdict"] == far["T2"]["verdict"] == far["T3"]["verdict"] == "reproduced"
    assert "langevin 10 +- 1" in far["T1"]["evidence"]
    wrong = _claims(base_runs + _seeded("psgld", [4, 5, 6]))   # pSGLD clearly better than Langevin
    assert wrong["T1"]["verdict"] == wrong["T2"]["verdict"] == "not reproduced"
    # a one-seed run borrows the seeded row's sd: the same tolerance both sides
    sw = _claims(base_runs + [_metrics("mnist", "sgld_then_mala", {"classifier": 11.0})])
    assert sw["T5"]["verdict"] == "inconclusive"
    sw = _claims(base_runs + [_metrics("mnist", "sgld_then_mala", {"classifier": 15.0})])
    assert sw["T5"]["verdict"] == "reproduced"
    # a row that diverged on every seed is the worst score; a missing row is missing
    div = _claims(_seeded("langevin", [9, 10, 11]) + _seeded("psgld", [19, 20, 21]) + _seeded("mala", [29, 30, 31])
                  + [_metrics("mnist", "tempered_mala", {"classifier": None}, diverged="iteration 1: loss=nan")])
    assert div["T1"]["verdict"] == "reproduced" and "tempered_mala diverged" in div["T1"]["evidence"]
    assert _claims(_seeded("langevin", [1, 2]))["T1"]["verdict"] == "missing"
    assert set(_claims(base_runs)) == {"T1", "T2", "T3", "T4", "T5", "T6a", "T6b"}
    assert all(c["verdict"] in base.VERDICTS for c in _claims(base_runs).values())


def _history(key, values):
    return [{"iteration": float(i), key: float(v)} for i, v in enumerate(values)]


@pytest.mark.parametrize("mala_late,verdict", [(0.01, "reproduced"), (0.9, "not reproduced")])
def test_t4_on_synthetic_acceptance_histories(mala_late, verdict):
    sgld = [0.97] * 300
    mala = [0.96] * 100 + [mala_late] * 200   # matches SGLD for 100 batches, then falls (or not)
    ms = _seeded("langevin", [1, 1, 1]) + _seeded("mala", [2, 2, 2])
    hist = {"langevin": _history("accept_prob_mean", sgld), "mala": _history("accept_prob_mean", mala)}
    t4 = _claims(ms, hist)["T4"]
    assert t4["verdict"] == verdict
    assert "first 100 iterations: mala 0.96" in t4["evidence"]
    # SGLD outside its 0.95-0.99 band is not the thesis's picture either
    hist["langevin"] = _history("accept_prob_mean", [0.5] * 300)
    assert _claims(ms, hist)["T4"]["verdict"] == "not reproduced"
    assert _claims(ms, {})["T4"]["verdict"] == "missing"


def test_t6_on_synthetic_preconditioner_histories():
    ms = _seeded("psgld", [1, 1, 1]) + [_metrics("mnist", "psgld_lam001", {"classifier": 1.0})]
    pinned = _history("precond_mean_mean", [0.999] * 50 + [0.998] * 50)
    free = _history("precond_mean_mean", [40.0 + i for i in range(100)])
    c = _claims(ms, {"psgld": pinned, "psgld_lam001": free})
    assert c["T6a"]["verdict"] == "reproduced" and c["T6b"]["verdict"] == "not reproduced"
    tiny = _history("precond_mean_mean", [1.2e-3] * 100)
    c = _claims(ms, {"psgld": tiny, "psgld_lam001": free})
    assert c["T6a"]["verdict"] == "not reproduced" and c["T6b"]["verdict"] == "reproduced"
    c = _claims(ms, {"psgld": pinned, "psgld_lam001": pinned})   # lambda = 0.01 pinned too: not the claim
    assert c["T6a"]["verdict"] == "not reproduced"


TINY = {
    "seed": 0, "device": "cpu",
    "train": {"epochs": 1, "max_iterations": 3, "batch_size": 8, "steps": 3, "buffer_size": 32,
              "checkpoint_every": 2, "aux": [{"name": "kl", "chains": 4, "entropy_min_buffer": 16,
                                              "entropy_compare": 8}]},
    "fid": {"n_samples": 8, "batch_size": 8, "curve_every": 2, "curve_samples": 4, "reference_n": 8},
    "datasets": {"cifar10": {"data": {"name": "cifar10", "source": "synthetic", "n": 32, "size": 16},
                             "model": {"name": "igebm", "stages": [4, 8], "blocks_per_stage": 1},
                             "augment": {"name": "du2020"}, "metrics": ["inception_standin"]}},
    "samplers": {"mala": {"name": "mala", "step_size": 100}},
    "table_samplers": ["mala"], "figure_datasets": ["cifar10"],
}


def cell_json(study, label="cifar10/mala/seed0"):
    """A cell's slice as the rule passes it."""
    return json.dumps(jobs.cell_slice(study, label))


def test_cell_command_end_to_end_and_rerun_resumes(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert main(["reference", "--config", json.dumps(jobs.reference_slice(TINY, "cifar10")), "--job", "cifar10",
                 "--ref-dir", str(ref)]) == 0
    assert json.loads((ref / "cifar10.json").read_text())["dataset"] == "cifar10"
    cell = ["cell", "--config", cell_json(TINY), "--job", "cifar10/mala/seed0", "--out", str(out), "--ref-dir", str(ref)]
    assert main(cell) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["iterations"] == 3 and m["n_fid_samples"] == 8 and m["diverged"] is None
    assert m["noise_std"] == pytest.approx(0.01) and m["sampler_config"]["noise_std"] == pytest.approx(0.01)
    assert math.isfinite(m["scores"]["inception_standin"]) and m["accept_prob_final"] is not None
    assert m["extractors"]["inception_standin"].startswith("inception_standin:")
    hist = (out / "history.csv").read_text().splitlines()
    assert len(hist) == 4 and "curve_inception_standin" in hist[0] and "d_st" in hist[0]
    assert (out / "samples.png").exists() and (out / "ckpt" / "last.pt").exists()
    assert main(cell) == 0   # a rerun resumes from the final checkpoint: same model, same samples
    again = json.loads((out / "metrics.json").read_text())
    assert again["scores"] == m["scores"]
    assert torch.load(out / "model.pt", weights_only=False)["iteration"] == 3


def test_missing_data_is_one_line_and_writes_nothing(tmp_path, capsys):
    cfg = dict(TINY, datasets={"cifar10": {**TINY["datasets"]["cifar10"],
                                           "data": {"name": "cifar10", "root": str(tmp_path / "nowhere")}}})
    out = tmp_path / "run"
    assert main(["cell", "--config", cell_json(cfg), "--job", "cifar10/mala/seed0", "--out", str(out),
                 "--ref-dir", str(tmp_path / "ref")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cifar10 (train) not found in ")
    assert "python -m ebmlab.data fetch cifar10" in err[0]
    assert not out.exists() and not (tmp_path / "ref").exists()


def test_whole_study_needs_the_job(capsys):
    whole = ["--params", str(ROOT / "params/smoke.yaml"), "--section", "table4_1"]
    assert main(["cell", *whole, "--out", "x", "--ref-dir", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --job is required: name one of mnist/langevin/seed0, mnist/langevin/seed1, "
                          "mnist/mala/seed0, mnist/mala/seed1, mnist/tempered_mala/seed0, ")
    assert err.endswith(", cats/langevin/seed1, mnist/step_mala_exact_h100_fixed/seed0, "
                        "mnist/step_mala_exact_h0.01_fixed/seed0, mnist/step_mala_exact_h100_matched/seed0, "
                        "mnist/step_mala_exact_h0.01_matched/seed0") and "\n" not in err
    assert main(["cell", *whole, "--job", "svhn/mala/seed0", "--out", "x", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown run 'mala' for svhn (runs: langevin)"
    assert main(["reference", *whole, "--job", "lsun", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: unknown job 'lsun' in datasets (this study has mnist, cifar10, svhn, cats)"
    assert main(["cell", "--config", cell_json(TINY), "--job", "cifar10/psgld/seed0", "--out", "x",
                 "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: --job 'cifar10/psgld/seed0' does not match the configuration's label 'cifar10/mala/seed0'"


@pytest.mark.parametrize("mode", ["record", "fail"])
def test_a_diverging_cell_is_recorded_or_fails(tmp_path, capsys, mode):
    cfg = dict(TINY, on_diverge=mode, train={**TINY["train"], "max_abs_energy": 1e-9},
               datasets={"cifar10": {**TINY["datasets"]["cifar10"], "metrics": []}})
    out = tmp_path / "run"
    rc = main(["cell", "--config", cell_json(cfg), "--job", "cifar10/mala/seed0", "--out", str(out),
               "--ref-dir", str(tmp_path / "ref")])
    if mode == "fail":
        assert rc == 3
        err = capsys.readouterr().err.strip()
        assert err.startswith("diverged: iteration 1: loss=") and err.endswith("last good checkpoint: none")
        assert not (out / "metrics.json").exists()
    else:
        assert rc == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["diverged"].startswith("iteration 1: ") and m["n_fid_samples"] == 0
        row = table_rows([m], "smoke")[0]
        assert row["n_diverged"] == 1 and row["fid_note"].startswith("no Inception weights here")
