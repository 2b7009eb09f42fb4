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
from ebmlab.studies.table4_1.claims import TABLE_COLUMNS, VERDICTS, table_rows
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


def cell_of(study, ds, run):
    return base.job_of(study, jobs.JOBS["cell"], f"{ds}/{run}")


def test_cells_table_rows_everywhere_extra_runs_on_figure_datasets():
    study = from_dict(Table41Study, SMALL)
    expected = [("mnist", r) for r in ("langevin", "mala", "psgld", "psgld_lam001", "sgld_then_mala")] + \
        [("cifar10", r) for r in ("langevin", "mala", "psgld")]
    assert jobs.cells(SMALL) == jobs.cells(to_dict(study)) == expected
    assert len(jobs.cells({})) == 16  # 4 data sets x 4 samplers, the thesis's table
    assert jobs.JOBS["cell"].labels(SMALL)[0] == "mnist/langevin"


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
    for ds, run in jobs.cells(raw):
        cell = jobs.cell_slice(raw, f"{ds}/{run}")
        assert not {"samplers", "switches", "datasets", "table_samplers", "figure_datasets"} & set(cell)
        assert "runs" not in cell["entry"] and cell["run"] == run and "sampler" in cell
    # a sampler edit changes only the cells that use it
    edited = {**raw, "samplers": {**raw["samplers"], "mala": {**raw["samplers"]["mala"], "step_size": 50}}}
    for ds in jobs.datasets(raw):
        assert jobs.reference_slice(edited, ds) == jobs.reference_slice(raw, ds)
        assert jobs.classifier_slice(edited, ds) == jobs.classifier_slice(raw, ds)
    changed = {(ds, run) for ds, run in jobs.cells(raw)
               if jobs.cell_slice(edited, f"{ds}/{run}") != jobs.cell_slice(raw, f"{ds}/{run}")}
    assert changed == {(ds, run) for ds, run in jobs.cells(raw) if run in ("mala", "sgld_then_mala")}


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
])
def test_bad_study_config_is_one_line(change, message):
    with pytest.raises(ConfigError) as err:
        study = from_dict(Table41Study, {**SMALL, **change})
        for ds, run in jobs.cells(to_dict(study)):
            cell_of(study, ds, run)
    assert str(err.value) == message


EXTRACTORS = {"inception": "inception:pool3:pt_inception-2015-12-05-6726825d.pth",
              "inception_standin": "inception_standin:pool3:random-seed0:75px", "classifier": "classifier:mnist"}


def _metrics(ds, run, scores, diverged=None):
    return {"dataset": ds, "run": run, "scores": scores, "extractors": {k: EXTRACTORS[k] for k in scores},
            "diverged": diverged, "epochs": 1.0, "n_fid_samples": 100,
            "data": ds, "fid_source": "buffer", "iterations": 10, "seconds_per_iteration": 0.5,
            "accept_prob_final": None, "precond_mean_final": None}


def test_table_keeps_substitutes_out_of_the_paper_column():
    ms = [_metrics("mnist", "langevin", {"classifier": 5.0}), _metrics("mnist", "mala", {"classifier": 50.0}),
          _metrics("mnist", "psgld", {"classifier": 80.0}),   # pSGLD worse than MALA: against the paper
          _metrics("cifar10", "langevin", {"inception": 70.0, "inception_standin": 1.0}),
          _metrics("cifar10", "mala", {"inception": None}, diverged="iteration 9: loss=nan")]
    rows = {(r["dataset"], r["run"]): r for r in table_rows(ms, "fast")}
    assert list(rows) == [("mnist", "langevin"), ("mnist", "mala"), ("mnist", "psgld"),
                          ("cifar10", "langevin"), ("cifar10", "mala")]
    m = rows[("mnist", "langevin")]
    assert m["fid_reproduced"] == "" and m["classifier_frechet_substitute"] == 5.0
    assert m["verdict"] == "no Inception FID in this profile"
    assert m["verdict_substitute"] == "consistent (substitute metric)"
    assert rows[("mnist", "psgld")]["verdict_substitute"] == "inconsistent (substitute metric)"
    assert rows[("mnist", "mala")]["verdict_substitute"] == "inconsistent (substitute metric)"
    c = rows[("cifar10", "langevin")]
    assert c["fid_reproduced"] == 70.0 and c["inception_standin_fid"] == 1.0 and c["fid_paper"] == 61
    assert c["verdict"] == "consistent" and c["profile"] == "fast"
    d = rows[("cifar10", "mala")]
    assert d["fid_reproduced"] == "diverged" and d["diverged"] == "yes" and d["verdict"] == "consistent"
    assert set(VERDICTS) | set(VERDICTS.values()) | {"inception_standin_fid"} <= set(TABLE_COLUMNS)
    assert TABLE_COLUMNS[:8] == ["dataset", "sampler", "fid_paper", "fid_reproduced", "epochs", "n_fid_samples",
                                 "profile", "verdict"]


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


def cell_json(study, label="cifar10/mala"):
    """A cell's slice as the rule passes it."""
    return json.dumps(jobs.cell_slice(study, label))


def test_cell_command_end_to_end_and_rerun_resumes(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert main(["reference", "--config", json.dumps(jobs.reference_slice(TINY, "cifar10")), "--job", "cifar10",
                 "--ref-dir", str(ref)]) == 0
    assert json.loads((ref / "cifar10.json").read_text())["dataset"] == "cifar10"
    cell = ["cell", "--config", cell_json(TINY), "--job", "cifar10/mala", "--out", str(out), "--ref-dir", str(ref)]
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
    assert main(["cell", "--config", cell_json(cfg), "--job", "cifar10/mala", "--out", str(out),
                 "--ref-dir", str(tmp_path / "ref")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cifar10 (train) not found in ")
    assert "python -m ebmlab.data fetch cifar10" in err[0]
    assert not out.exists() and not (tmp_path / "ref").exists()


def test_whole_study_needs_the_job(capsys):
    whole = ["--params", str(ROOT / "params/smoke.yaml"), "--section", "table4_1"]
    assert main(["cell", *whole, "--out", "x", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: --job is required: name one of mnist/langevin, mnist/mala, mnist/tempered_mala, mnist/psgld, " \
        "mnist/psgld_lam001, mnist/sgld_then_mala, cifar10/langevin, cifar10/mala, cifar10/tempered_mala, " \
        "cifar10/psgld, svhn/langevin, cats/langevin"
    assert main(["cell", *whole, "--job", "svhn/mala", "--out", "x", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown run 'mala' for svhn (runs: langevin)"
    assert main(["reference", *whole, "--job", "lsun", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: unknown job 'lsun' in datasets (this study has mnist, cifar10, svhn, cats)"
    assert main(["cell", "--config", cell_json(TINY), "--job", "cifar10/psgld", "--out", "x", "--ref-dir", "y"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: --job 'cifar10/psgld' does not match the configuration's label 'cifar10/mala'"


@pytest.mark.parametrize("mode", ["record", "fail"])
def test_a_diverging_cell_is_recorded_or_fails(tmp_path, capsys, mode):
    cfg = dict(TINY, on_diverge=mode, train={**TINY["train"], "max_abs_energy": 1e-9},
               datasets={"cifar10": {**TINY["datasets"]["cifar10"], "metrics": []}})
    out = tmp_path / "run"
    rc = main(["cell", "--config", cell_json(cfg), "--job", "cifar10/mala", "--out", str(out),
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
        assert row["diverged"] == "yes" and row["verdict"] == "no Inception FID in this profile"
