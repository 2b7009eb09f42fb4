"""The GMM study's entry points: bad input, end to end at toy size, resume, divergence."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ebmlab.studies import base
from ebmlab.studies.gmm import run as gmm
from ebmlab.studies.gmm.__main__ import main as gmm_main
from ebmlab.studies.gmm.config import GMMStudy
from ebmlab.studies.gmm.jobs import JOBS
from ebmlab.errors import Diverged
from ebmlab.config import from_dict, to_dict

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train": {"epochs": 4, "steps": 20, "checkpoint_every": 2, "lr": 0.01},
        "model": {"hidden": [8, 8]}, "rhat": {"steps": 40}, "figures": {"resolution": 12}}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ebmlab.studies.gmm", *args], capture_output=True, text=True)


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def cli(capsys, *args):
    """``python -m ebmlab.studies.gmm`` in this process (no torch import per call); threads restored."""
    threads = torch.get_num_threads()
    capsys.readouterr()
    try:
        code = gmm_main(list(args))
    finally:
        torch.set_num_threads(threads)
    return _Result(code, capsys.readouterr().err)


def cfg_json(**changes):
    cfg = json.loads(json.dumps(TINY))
    for k, v in changes.items():
        cfg[k] = v
    return json.dumps(cfg)


@pytest.mark.parametrize("config,message", [
    ('{"train": {"epochz": 3}}', "error: unknown key 'train.epochz' (allowed: epochs, steps, lr, betas, alpha, "
                                "init_noise, init_noise_is, batch_size, checkpoint_every, max_abs_energy)"),
    ('{"train": {"epochs": "many"}}', "error: train.epochs: expected an integer, got 'many'"),
    ('{"label": "x", "sampler": {"name": "mala", "step_size": -0.01}}',
     "error: sampler.step_size: must be > 0, got -0.01"),
    ('{"label": "x", "sampler": {"name": "nuts"}}',
     "error: sampler.name: unknown sampler 'nuts' (choose from gd, hmc, langevin, mala, psgld, rwmh, sgld, "
     "stanley, tempered_mala)"),
    ('{"train": {epochs: }', "error: malformed inline config: expected ',' or '}', but got '<stream end>'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, config, message):
    out = tmp_path / "run"
    r = run_cli("train", "--config", config, "--job", "x", "--out", str(out))
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert not out.exists()


def test_unknown_run_and_malformed_params_file(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text("gmm:\n  train: [1, 2\n")
    r = cli(capsys, "train", "--params", str(p), "--section", "gmm", "--job", "mala/seed0", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: malformed YAML in {p} line 3")
    assert len(r.stderr.strip().splitlines()) == 1
    p.write_text("gmm: {}\n")
    r = cli(capsys, "train", "--params", str(p), "--section", "gmm", "--job", "nuts/seed0", "--out", str(tmp_path / "o"))
    assert r.stderr.strip() == "error: unknown job 'nuts' in samplers (this study has gd, sgld, mala, psgld)"
    r = cli(capsys, "train", "--params", str(p), "--section", "gmm", "--job", "mala", "--out", str(tmp_path / "o"))
    assert r.stderr.strip() == "error: a seeded job's label is <run>/seed<k>, got 'mala'"
    r = cli(capsys, "train", "--params", str(p), "--section", "gmm", "--job", "mala/seed3", "--out", str(tmp_path / "o"))
    assert r.stderr.strip() == "error: mala: seed 3 is not one of its seeds (0)"
    r = cli(capsys, "evaluate", "--params", str(p), "--section", "gmm", "--job", "mala/seed0", "--out", str(tmp_path / "o"))
    assert r.stderr.strip() == f"error: missing input {tmp_path / 'o' / 'model.pt'}: run 'train' first"
    r = cli(capsys, "compare", "--params", str(p), "--section", "gmm", "--job", "shared/seed0", "--out", str(tmp_path / "c"))
    assert r.stderr.strip() == "error: energy 'shared' needs --shared-model (the shared energy's model.pt)"
    r = cli(capsys, "compare", "--params", str(p), "--section", "gmm", "--job", "shared/seed10", "--out", str(tmp_path / "c"))
    assert r.stderr.strip().startswith("error: unknown compare job 'shared/seed10'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_train_evaluate_compare_table_end_to_end(tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        out = tmp_path / "mala" / f"seed{seed}"
        cfg = cfg_json(label="mala", seed=seed, sampler={"name": "mala", "step_size": 0.01},
                       nll={"resolution": 80, "n_test": 200})
        assert cli(capsys, "train", "--config", cfg, "--job", f"mala/seed{seed}", "--out", str(out)).returncode == 0
        assert cli(capsys, "evaluate", "--config", cfg, "--job", f"mala/seed{seed}", "--out", str(out)).returncode == 0
        runs.append(str(out))
    m = json.loads((tmp_path / "mala" / "seed1" / "rhat.json").read_text())
    assert m["rhat"] >= 1.0 and m["chains"] == 10 and m["draws_per_chain"] == 20 and m["seed"] == 1
    assert m["test_nll"] > m["true_nll"] and 0.0 <= m["nll_edge_mass"] < 1.0   # no model beats the true density
    cmp = tmp_path / "cmp"
    small = json.dumps({**TINY, "compare": {"seeds": [0, 1], "steps": 40, "exact_draws": 100, "mmd_points": 100,
                                            "grid_resolution": 60,
                                            "reference": {"hmc": {"name": "hmc", "step_size": 0.2, "n_leapfrog": 2}}}})
    p = tmp_path / "p.yaml"
    p.write_text(f"gmm: {small}\n")
    for seed in (0, 1):
        r = cli(capsys, "compare", "--params", str(p), "--section", "gmm", "--job", f"shared/seed{seed}",
                    "--out", str(cmp / f"seed{seed}"), "--shared-model", str(tmp_path / "mala" / "seed0" / "model.pt"))
        assert r.returncode == 0, r.stderr
    c = json.loads((cmp / "seed0" / "compare.json").read_text())
    assert list(c["samplers"]) == ["gd", "sgld", "mala", "psgld", "hmc"]
    assert abs(sum(c["mode_weights"]) - 1.0) < 1e-6
    hmc, sgld = c["samplers"]["hmc"], c["samplers"]["sgld"]
    assert hmc["grad_evals"] == 10 * (1 + 2 * 40) and sgld["grad_evals"] == 10 * (1 + 40)   # 10 chains
    assert all(abs(sum(r["occupancy"]) - 1.0) < 1e-9 for r in c["samplers"].values())
    csv, samplers_csv, claims = tmp_path / "t.csv", tmp_path / "s.csv", tmp_path / "c.csv"
    compares = [str(cmp / "seed0"), str(cmp / "seed1")]
    table_args = ["table", "--runs", *runs, "--compare", *compares, "--profile", "smoke", "--csv", str(csv),
                  "--claims", str(claims), "--metrics", str(tmp_path / "m.json"),
                  "--record", str(tmp_path / "records" / "table.run.yaml")]
    r = cli(capsys, *table_args)
    assert r.returncode == 0, r.stderr
    r = cli(capsys, "samplers", "--compare", *compares, "--profile", "smoke", "--csv", str(samplers_csv))
    assert r.returncode == 0, r.stderr
    # a table and a figure command, run in this process, write the record of what they did and read
    figure_args = ["rhat-figure", "--runs", *runs, "--compare", *compares, "--png", str(tmp_path / "rhat.png"),
                   "--record", str(tmp_path / "records" / "rhat_figure.run.yaml")]
    assert cli(capsys, *figure_args).returncode == 0
    for args in (table_args, figure_args):
        rec = yaml.safe_load(Path(args[-1]).read_text())
        assert rec["command"] == f"ebmlab.studies.gmm {args[0]}"
        assert rec["argv"] == ["python", "-m", "ebmlab.studies.gmm", *args]
        assert rec["inputs"] == runs + compares
        assert rec["arguments"]["runs"] == runs and rec["config"] is None and rec["seed"] is None
        assert {"versions", "git", "time", "device", "wall_seconds"} <= set(rec) and rec["versions"]["torch"]
    header, row = csv.read_text().splitlines()
    assert header.startswith("sampler,run,rhat_paper,rhat_mean,rhat_ci95_low,rhat_ci95_high,rhat_sd")
    cells = dict(zip(header.split(","), row.split(",")))
    assert cells["sampler"] == "MALA" and cells["n_seeds"] == "2" and cells["seeds"] == "0 1"
    r0, r1 = (json.loads((tmp_path / "mala" / f"seed{s}" / "rhat.json").read_text())["rhat"] for s in (0, 1))
    assert abs(float(cells["rhat_mean"]) - (r0 + r1) / 2) < 1e-5 * max(r0, r1)   # CSV cells keep 6 digits
    # the 95% t-interval of two values: mean +- t(0.975, 1) * |r0 - r1| / 2
    assert abs(float(cells["rhat_ci95_high"]) - ((r0 + r1) / 2 + 12.7062047 * abs(r0 - r1) / 2)) < 1e-4 * max(r0, r1)
    assert len(samplers_csv.read_text().splitlines()) == 1 + 5
    record = (tmp_path / "mala" / "seed0" / "train.run.yaml").read_text()
    for key in ("config:", "seed: 0", "versions:", "git:", "torch:"):
        assert key in record


def _train(run, tmp_path, interrupt_at=None):
    model = gmm._model(run)
    store = gmm.CheckpointStore(tmp_path / "ckpt", gmm.config_hash(gmm.to_dict(run)))
    gen = torch.Generator().manual_seed(run.seed + 1)

    def stop(row):
        if interrupt_at is not None and row["epoch"] == interrupt_at:
            raise KeyboardInterrupt

    from ebmlab import samplers
    return model, gmm.train_toy_cd(model, gmm._data(run), samplers.build(run.sampler), run.train, gen,
                                   store=store, on_epoch=stop, make_target=gmm.make_target(run))


def test_kill_and_resume_reaches_the_same_state(tmp_path):
    run = base.job_of(from_dict(GMMStudy, json.loads(cfg_json())), JOBS["train"], "mala/seed0")
    ref, _ = _train(run, tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _train(run, tmp_path / "b", interrupt_at=2)  # killed after the epoch-2 checkpoint
    resumed, info = _train(run, tmp_path / "b")
    assert info["resumed_from"] == 2
    for p, q in zip(ref.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


class PoisonedSampler:
    """Delegates to a real sampler but returns NaN states from its ``bad_run``-th run on."""

    def __init__(self, inner, bad_run):
        self.inner, self.bad_run, self.runs = inner, bad_run, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        res = self.inner.run(*args, **kwargs)
        if self.runs >= self.bad_run:
            res.x = torch.full_like(res.x, float("nan"))
        return res


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    from ebmlab import samplers
    run = base.job_of(from_dict(GMMStudy, json.loads(cfg_json())), JOBS["train"], "sgld/seed0")
    store = gmm.CheckpointStore(tmp_path / "ckpt", gmm.config_hash(gmm.to_dict(run)))
    sampler = PoisonedSampler(samplers.build(run.sampler), bad_run=4)  # epochs 0-2 fine, epoch 3 NaN
    with pytest.raises(Diverged) as e:
        gmm.train_toy_cd(gmm._model(run), gmm._data(run), sampler, run.train,
                         torch.Generator().manual_seed(1), store=store)
    # counts from 1: the fourth update diverged, the checkpoint holds the state after two
    assert str(e.value) == f"epoch 4: loss=nan, max|E|=nan; last good checkpoint: {store.path} (after epoch 2)"
    saved = store.load()
    assert saved["epoch"] == 2 and all(torch.isfinite(v).all() for v in saved["model"].values())


def test_smoke_study_is_reproducible_to_the_last_bit(tmp_path):
    """Same seed, two run folders: identical R-hats (==), for a Metropolis sampler and a
    gradient-only one. The default numerics are fp32 on every machine (docs/engine.md)."""
    threads = torch.get_num_threads()
    shrink = ["--set", "train.epochs=5", "--set", "rhat.steps=100"]
    results = {}
    try:
        for copy in ("a", "b"):
            for label in ("mala", "sgld"):
                out = tmp_path / copy / label
                for cmd in ("train", "evaluate"):
                    argv = [cmd, "--params", str(ROOT / "params/smoke.yaml"), "--section", "gmm", "--job", f"{label}/seed0",
                            "--out", str(out), *shrink]
                    assert gmm_main(argv) == 0
                results[copy, label] = json.loads((out / "rhat.json").read_text())
    finally:
        torch.set_num_threads(threads)
    for label in ("mala", "sgld"):
        a, b = results["a", label], results["b", label]
        assert a["rhat"] == b["rhat"] and a["split_rhat"] == b["split_rhat"]
        assert a["rhat_per_coordinate"] == b["rhat_per_coordinate"]
        assert a["accept_rate"] == b["accept_rate"]
        assert a["rhat"] > 1.0 and a["draws_per_chain"] == 50
    assert results["a", "mala"]["accept_rate"] is not None and results["a", "sgld"]["accept_rate"] is None
    record = (tmp_path / "a" / "mala" / "train.run.yaml").read_text()
    assert "matmul_dtype: float32" in record


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_profiles_use_fp32_products(profile):
    from ebmlab.io import load_yaml
    study = from_dict(GMMStudy, load_yaml(ROOT / f"params/{profile}.yaml")["gmm"])
    labels = JOBS["train"].labels(to_dict(study))
    assert len(labels) >= len(study.samplers)
    assert all(base.job_of(study, JOBS["train"], label).matmul_dtype == "float32" for label in labels)
