"""The true-CD vs NLL study: regime configs, initialisation sources and rates, chains with
deformations, metric and verdict arithmetic, one-line errors, and a tiny end-to-end run."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from ebmlab import samplers
from ebmlab.config import from_dict
from ebmlab.studies.base import compare, job_of
from ebmlab.studies.cd_vs_nll.__main__ import main
from ebmlab.studies.cd_vs_nll.claims import claims
from ebmlab.studies.cd_vs_nll.config import CDvsNLLStudy
from ebmlab.studies.cd_vs_nll.jobs import JOBS
from ebmlab.studies.cd_vs_nll.run import coverage, entropy_nats, frame_steps, run_chains
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.metrics.classifier import ClassifierConfig, train_classifier
from ebmlab.models import build_model
from ebmlab.train.deform import ElasticConfig
from ebmlab.train.image import ImageTrainer, SamplerSchedule

torch.set_num_threads(1)
DIGITS = {"name": "digits8", "size": 8, "test_fraction": 0.2}


def study(**over):
    return from_dict(CDvsNLLStudy, {"data": DIGITS, **over}, "cd_vs_nll")


def train_run(s, regime):
    return job_of(s, JOBS["train"], regime)


def study_file(tmp_path, cfg):
    """The whole study as a params file: job commands take it with --params and cut their slice."""
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_default_regimes_are_the_papers():
    s = study()
    assert list(s.regimes) == ["nll", "true_cd", "true_cd_kl", "nll_du_kl", "nll_deform"]
    t = {r: train_run(s, r).train_config() for r in s.regimes}
    assert (t["nll"].init, t["nll"].reinit_prob) == ("nll", 0.05)
    assert (t["true_cd"].init, t["true_cd"].reinit_prob) == ("true_cd", 0.1)
    assert [a.name for a in t["true_cd_kl"].aux] == ["kl_cd"] and t["true_cd_kl"].init == "true_cd"
    assert [a.name for a in t["nll_du_kl"].aux] == ["kl"]
    assert t["nll_deform"].augment.name == "elastic" and t["nll"].augment.name == "none"
    # Gagnon & Lajoie 4.5 / 8.4 defaults survive a partial train section
    g = train_run(study(train={"epochs": 1}), "nll").train_config()
    assert (g.steps, g.lr, g.betas, g.grad_clip_norm) == (10, 1e-4, (0.0, 0.999), 0.1)
    assert s.temperature == pytest.approx(0.005 ** 2 / 20)


def test_practical_options_reach_the_trainer():
    s = study(practical={"data_noise_factor": 2.0, "anneal_lr": {"start": 0.01, "end": 0.001, "iterations": 10}})
    t = train_run(s, "nll").train_config()
    assert t.data_noise == pytest.approx(0.01) and t.lr == pytest.approx(0.01)
    r = study(sampler={"name": "langevin", "step_size": 0.005 ** 2 / 2, "noise_std": 0.005, "clamp": [0, 1]},
              practical={"rescale_energy": True, "scale_lr": True}, train={"lr": 0.0005})
    assert train_run(r, "nll").train_config().lr == pytest.approx(0.005 ** 2 / 2 * 0.0005)
    assert r.temperature == pytest.approx(1.0)


@pytest.mark.parametrize("over,message", [
    ({"regimes": {"pcd": {}}}, "regimes: unknown regime 'pcd' (choose from nll, true_cd"),
    ({"eval": {"figures": {"fig3": ["cd"]}}}, "eval.figures.fig3: unknown regime 'cd'"),
    ({"eval": {"deform_coverage": ["x"]}}, "eval.deform_coverage: unknown regime 'x'"),
    ({"sampler": {"name": "hmc"}}, "sampler.name: this study uses a Langevin-type sampler"),
    ({"practical": {"rescale_energy": True}}, "practical.rescale_energy needs sampler.step_size = noise_std^2 / 2"),
    ({"practical": {"scale_lr": True}}, "practical.scale_lr needs practical.rescale_energy"),
    ({"regimes": {"nll": {"augment": {"name": "elastic", "sigmaa": 1}}}}, "unknown key 'cd_vs_nll.regimes.nll.augment.sigmaa'"),
    ({"regimes": {"nll": {"aux": [{"name": "kl_wrong"}]}}}, "unknown auxiliary loss 'kl_wrong'"),
])
def test_bad_config_is_one_line(over, message):
    with pytest.raises(ConfigError) as err:
        study(**over)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_data_stops_before_any_output(tmp_path, capsys):
    cfg = json.dumps({"data": {"name": "mnist", "size": 28, "root": str(tmp_path / "nowhere")}})
    out = tmp_path / "run"
    assert main(["train", "--config", cfg, "--job", "nll", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "mnist" in err
    assert not out.exists()
    assert main(["evaluate", "--config", json.dumps({"data": DIGITS}), "--job", "nll", "--out", str(out),
                 "--classifier", "x.pt"]) == 2
    assert "missing input" in capsys.readouterr().err and not out.exists()


# -- jobs and their slices -----------------------------------------------------------------

def test_jobs_table_imports_no_torch():
    code = "import ebmlab.studies.cd_vs_nll.jobs, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_job_reads_only_its_slice():
    import yaml
    from ebmlab.studies import base
    from pathlib import Path
    sec = yaml.safe_load((Path(__file__).parents[1] / "params" / "smoke.yaml").read_text())["cd_vs_nll"]
    clf = JOBS["classifier"].slice(sec, None)
    assert set(clf) <= {"seed", "threads", "device", "data", "classifier"} and "classifier" in clf
    train = JOBS["train"].slice(sec, "true_cd")
    assert train["label"] == "true_cd" and train["regime"] == sec["regimes"]["true_cd"]
    assert not {"eval", "ais", "classifier", "test_split", "regimes"} & set(train)
    ev = JOBS["evaluate"].slice(sec, "nll_deform")
    assert {"eval", "ais", "sampler"} <= set(ev) and not {"train", "classifier", "on_diverge", "regimes"} & set(ev)
    # the study's regimes name the jobs; --job is required and checked
    with pytest.raises(ConfigError, match="unknown job 'pcd' in regimes"):
        JOBS["train"].slice(sec, "pcd")
    with pytest.raises(ConfigError, match="--job is required"):
        JOBS["evaluate"].slice(sec, None)
    # a hand run (whole study validated, then cut) and a rule's slice give the same job config
    s = from_dict(CDvsNLLStudy, sec, "cd_vs_nll")
    for kind in ("train", "evaluate"):
        assert job_of(s, JOBS[kind], "nll") == from_dict(JOBS[kind].config_class(), JOBS[kind].slice(sec, "nll"))
    assert base.job_of(s, JOBS["classifier"]) == from_dict(JOBS["classifier"].config_class(), clf)


# -- initialisation sources and rates (Gagnon & Lajoie 5.1.1, 6.1) ------------------------------

def _trainer(regime, regimes=None):
    s = study(train={"batch_size": 128, "buffer_size": 1000}, **({"regimes": regimes} if regimes else {}))
    run = train_run(s, regime)
    data = load_images(run.data)
    torch.manual_seed(0)
    net = build_model({"name": "gagnon_mnist", "width": 2, "latent": 4}, tuple(data.x.shape[1:]))
    return ImageTrainer(net, data, run.train_config(), SamplerSchedule(samplers.build(run.sampler)), seed=0), data


def _is_data(x, data):
    """Each image is some training image: k / 255 for its grey levels k (no dequantisation here)."""
    levels = (x * 255).round().clamp(0, 255).to(torch.uint8).flatten(1)
    ref = data.x.flatten(1)
    return (levels[:, None, :] == ref[None]).all(-1).any(-1)


@pytest.mark.parametrize("regime,p", [("nll", 0.05), ("true_cd", 0.1)])
def test_buffer_draws_come_from_the_right_source_at_the_stated_rate(regime, p):
    t, data = _trainer(regime)
    x_pos = t.positives(0)
    t.start_points(x_pos)                     # true_cd: fills the buffer with real images
    t.buffer.fill(torch.full((1000, 1, 8, 8), 0.5))  # mark stored states
    fresh_total, n = 0, 0
    for _ in range(40):
        x0, idx = t.start_points(x_pos)
        fresh = ~(x0 == 0.5).flatten(1).all(1)
        assert torch.equal(fresh, idx < 0)
        if regime == "true_cd":
            assert bool(_is_data(x0[fresh], data).all())        # fresh starts are data points
        else:
            assert not bool(_is_data(x0[fresh], data).any())    # fresh starts are uniform noise
        fresh_total += int(fresh.sum())
        n += x0.shape[0]
    rate = fresh_total / n
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n), (rate, p)


def test_true_cd_buffer_starts_with_real_images_and_nll_with_noise():
    t, data = _trainer("true_cd")
    t.start_points(t.positives(0))
    assert len(t.buffer) == 1000 and bool(_is_data(t.buffer.data[:50], data).all())
    t, data = _trainer("nll")
    x0, idx = t.start_points(t.positives(0))
    assert bool((idx < 0).all()) and not bool(_is_data(x0, data).any())


def test_deformation_regime_warps_buffer_draws():
    t, _ = _trainer("nll_deform", {"nll_deform": {"reinit_prob": 0.0, "augment": {"name": "elastic"}}})
    marker = torch.zeros(1000, 1, 8, 8)
    marker[:, :, 2:6, 3:5] = 1.0
    t.buffer.fill(marker)
    x0, idx = t.start_points(t.positives(0))
    assert bool((idx >= 0).all()) and x0.shape == marker[:128].shape
    assert float(x0.min()) >= 0 and float(x0.max()) <= 1
    assert (x0 - marker[:128]).abs().flatten(1).amax(1).min() > 0.01   # every draw was warped


# -- chains ---------------------------------------------------------------------------------

def test_run_chains_snapshots_and_masked_deformations():
    energy = lambda x: ((x - 0.5) ** 2).flatten(1).sum(1)  # noqa: E731
    sampler = samplers.build("langevin", step_size=0.01, noise_std=0.0, clamp=(0.0, 1.0))
    x0 = torch.zeros(2, 1, 8, 8)
    x0[:, :, 2:6, 3:5] = 1.0
    mask = torch.tensor([True, False])
    x, snaps = run_chains(energy, sampler, x0, 10, torch.Generator(), frames={0, 5, 10}, deform=ElasticConfig(sigma=2),
                          every=5, deform_mask=mask, deform_gen=torch.Generator().manual_seed(0))
    assert sorted(snaps) == [0, 5, 10] and torch.equal(snaps[0], x0) and torch.equal(snaps[10], x)
    plain, _ = run_chains(energy, sampler, x0, 10, torch.Generator())
    assert torch.allclose(x[1], plain[1]) and not torch.allclose(x[0], plain[0], atol=1e-3)
    assert frame_steps(100, 5) == [0, 25, 50, 75, 100]


# -- metrics and verdicts -------------------------------------------------------------------

def test_coverage_entropy_by_hand():
    assert entropy_nats([5, 5, 0]) == pytest.approx(math.log(2))
    c = coverage(np.array([9, 9, 9, 1]), 10, 50, np.random.default_rng(0))
    assert c["histogram"][9] == 3 and c["top_class"] == 9 and c["top_fraction"] == 0.75
    assert c["entropy"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert c["entropy_max"] == pytest.approx(math.log(10)) and c["entropy_se"] > 0


def test_compare_uses_two_standard_errors():
    assert compare((1.0, 0.1), (2.0, 0.1), "less") == "reproduced"          # 1.0 > 2 * 0.141
    assert compare((1.0, 0.4), (2.0, 0.4), "less") == "inconclusive"
    assert compare((3.0, 0.1), (2.0, 0.1), "less") == "not reproduced"
    assert compare((3.0, 0.1), (2.0, 0.1), "greater") == "reproduced"
    assert compare(None, (2.0, 0.1), "less") == "missing"
    assert compare((1.0, math.inf), (2.0, 0.1), "less") == "inconclusive"


def _m(stay=0.5, fd=10.0, nll=100.0, ess=50.0, ent=1.0, ent_hi=1.0, ent_def=1.0):
    cov = {"entropy": ent, "entropy_se": 0.01, "frechet": fd, "frechet_se": 0.1}
    return {"stay": {"fraction": stay, "fraction_se": 0.01}, "coverage": cov,
            "nll": {"nll_nats": nll, "nll_nats_se": 0.5}, "ais": {"ess": ess, "chains": 64},
            "coverage_high_noise": {"entropy": ent_hi, "entropy_se": 0.01},
            "coverage_deform": {"entropy": ent_def, "entropy_se": 0.01}}


def test_claims_follow_the_paper_direction():
    metrics = {"nll": _m(stay=0.2, fd=10, nll=90, ent=2.0, ent_hi=0.3, ent_def=0.5),
               "true_cd": _m(stay=0.95, fd=50, nll=120), "true_cd_kl": _m(fd=52),
               "nll_du_kl": _m(fd=8), "nll_deform": _m(nll=80, ent_def=1.8)}
    v = {c["claim"]: c["verdict"] for c in claims(metrics, "test")}
    assert all(x == "reproduced" for x in v.values()), v
    metrics["true_cd_kl"] = _m(fd=20)                  # the CD-sign KL term did help
    metrics["nll"]["ais"]["ess"] = 1.0                 # AIS collapsed: no NLL verdict
    metrics["nll_deform"] = {"diverged": "iteration 3: ..."}
    v = {c["claim"]: c["verdict"] for c in claims(metrics, "test")}
    assert v["C4"] == "not reproduced" and v["C5"] == "inconclusive"
    assert v["C7"] == "missing" and v["C8"] == "missing"


# -- end to end -----------------------------------------------------------------------------

def test_tiny_study_end_to_end(tmp_path):
    cfg = {"device": "cpu", "data": {**DIGITS, "dequantize": True}, "model": {"name": "gagnon_mnist", "width": 2,
           "latent": 4}, "train": {"max_iterations": 3, "batch_size": 16, "buffer_size": 50},
           "regimes": {"nll": {}, "true_cd": {"init": "true_cd", "reinit_prob": 0.1}},
           "eval": {"long_chains": 12, "long_steps": 3, "high_noise_chains": 6, "stay_chains": 5, "stay_steps": 3,
                    "fig3_steps": 4, "fig4_short_steps": 2, "fig4_long_steps": 4, "fig5_steps": 4, "deform_every": 2,
                    "frames": 3, "bootstrap": 3, "test_images": 40},
           "ais": {"chains": 4, "steps": 5, "pilot_chains": 2, "pilot_steps": 3}, "classifier": {"epochs": 1}}
    c = study_file(tmp_path, cfg)
    clf = tmp_path / "clf.pt"
    assert main(["classifier", "--params", c, "--out", str(clf)]) == 0
    for r in ("nll", "true_cd"):
        assert main(["train", "--params", c, "--job", r, "--out", str(tmp_path / r)]) == 0
        assert main(["evaluate", "--params", c, "--job", r, "--out", str(tmp_path / r),
                     "--classifier", str(clf)]) == 0
    runs = [str(tmp_path / r) for r in ("nll", "true_cd")]
    assert main(["figures", "--runs", *runs, "--out-dir", str(tmp_path / "fig")]) == 0
    assert main(["table", "--runs", *runs, "--profile", "test", "--csv", str(tmp_path / "t.csv"),
                 "--claims", str(tmp_path / "c.csv")]) == 0
    m = json.loads((tmp_path / "nll" / "metrics.json").read_text())
    assert m["coverage"]["n"] == 12 and len(m["coverage"]["histogram"]) == 10 and m["iterations"] == 3
    assert {"fig3", "fig4", "fig5", "samples"} == {p.stem.replace("cd_vs_nll_", "")
                                                   for p in (tmp_path / "fig").glob("*.png")}
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0].startswith("regime,description,profile") and len(rows) == 3
    claims_csv = (tmp_path / "c.csv").read_text()
    assert "C1," in claims_csv and "C9," in claims_csv and ",missing," in claims_csv  # no nll_du_kl run


def test_diverged_regime_is_recorded_and_reported(tmp_path):
    cfg = study_file(tmp_path, {"device": "cpu", "data": DIGITS, "model": {"name": "gagnon_mnist", "width": 2,
                                 "latent": 4}, "train": {"max_iterations": 3, "batch_size": 16, "buffer_size": 50,
                                                         "max_abs_energy": 1e-9}})
    out = tmp_path / "nll"
    assert main(["train", "--params", cfg, "--job", "nll", "--out", str(out)]) == 0   # on_diverge: record
    assert "iteration 1: " in torch.load(out / "model.pt", weights_only=False)["diverged"]
    assert main(["evaluate", "--params", cfg, "--job", "nll", "--out", str(out), "--classifier", "none.pt"]) == 2
    clf = tmp_path / "clf.pt"
    train_classifier(from_dict(ImageDataConfig, DIGITS), clf, config=ClassifierConfig(epochs=0.1))
    assert main(["evaluate", "--params", cfg, "--job", "nll", "--out", str(out), "--classifier", str(clf)]) == 0
    assert (out / "chains.npz").exists() and json.loads((out / "metrics.json").read_text())["diverged"]
    assert main(["table", "--runs", str(out), "--profile", "t", "--csv", str(tmp_path / "t.csv"),
                 "--claims", str(tmp_path / "c.csv")]) == 0
    assert ",yes," in (tmp_path / "t.csv").read_text()
    assert main(["figures", "--runs", str(out), "--out-dir", str(tmp_path / "f")]) == 0
