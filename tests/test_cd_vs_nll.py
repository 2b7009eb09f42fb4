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


def train_run(s, regime, seed=0):
    return job_of(s, JOBS["train"], f"{regime}/seed{seed}")


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
    assert main(["train", "--config", cfg, "--job", "nll/seed0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "mnist" in err
    assert not out.exists()
    assert main(["evaluate", "--config", json.dumps({"data": DIGITS}), "--job", "nll/seed0", "--out", str(out),
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
    train = JOBS["train"].slice(sec, "true_cd/seed1")
    assert train["label"] == "true_cd" and train["regime"] == sec["regimes"]["true_cd"] and train["seed"] == 1
    assert not {"eval", "ais", "classifier", "test_split", "regimes"} & set(train)
    ev = JOBS["evaluate"].slice(sec, "nll_deform/seed0")
    assert {"eval", "ais", "sampler"} <= set(ev) and not {"train", "classifier", "on_diverge", "regimes"} & set(ev)
    # the study's regimes name the jobs; --job is required and checked
    with pytest.raises(ConfigError, match="unknown job 'pcd' in regimes"):
        JOBS["train"].slice(sec, "pcd/seed0")
    with pytest.raises(ConfigError, match="--job is required"):
        JOBS["evaluate"].slice(sec, None)
    # a hand run (whole study validated, then cut) and a rule's slice give the same job config
    s = from_dict(CDvsNLLStudy, sec, "cd_vs_nll")
    for kind in ("train", "evaluate"):
        assert job_of(s, JOBS[kind], "nll/seed1") == from_dict(JOBS[kind].config_class(),
                                                              JOBS[kind].slice(sec, "nll/seed1"))
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


def _m(stay=0.5, fd=10.0, nll=100.0, ess=50.0, ent=1.0, ent_hi=1.0, ent_def=1.0, seed=0):
    cov = {"entropy": ent, "entropy_se": 0.01, "frechet": fd, "frechet_se": 0.1}
    return {"seed": seed, "stay": {"fraction": stay, "fraction_se": 0.01}, "coverage": cov,
            "nll": {"nll_nats": nll, "nll_nats_se": 0.5}, "ais": {"ess": ess, "chains": 64},
            "coverage_high_noise": {"entropy": ent_hi, "entropy_se": 0.01},
            "coverage_deform": {"entropy": ent_def, "entropy_se": 0.01}}


def _seeds(jitter, **kw):
    """Two seeds of one regime: every given metric at value -+ jitter x value."""
    return [_m(**{k: v * (1 - jitter) for k, v in kw.items()}, seed=0),
            _m(**{k: v * (1 + jitter) for k, v in kw.items()}, seed=1)]


def _paper_like(jitter):
    """nll and true_cd with two seeds (spread +-jitter), the others one: gaps in the paper's direction."""
    return {"nll": _seeds(jitter, stay=0.2, fd=10, nll=90, ent=2.0, ent_hi=0.3, ent_def=0.5),
            "true_cd": _seeds(jitter, stay=0.95, fd=50, nll=120), "true_cd_kl": [_m(fd=52)],
            "nll_du_kl": [_m(fd=8)], "nll_deform": [_m(nll=80, ent_def=1.8)]}


def verdicts(metrics):
    return {c["claim"]: c["verdict"] for c in claims(metrics, "test")}


def test_claims_follow_the_paper_direction_beyond_the_spread_over_seeds():
    v = verdicts(_paper_like(0.01))
    assert all(x == "reproduced" for x in v.values()), v
    rows = claims(_paper_like(0.01), "test")
    c3 = next(r for r in rows if r["claim"] == "C3")
    sd = np.std([50 * 0.99, 50 * 1.01], ddof=1)
    assert f"true_cd 50 +- {sd:.4g} [seeds 0 1]" in c3["evidence"] and "nll 10 +- " in c3["evidence"]
    m = _paper_like(0.01)
    m["true_cd_kl"] = [_m(fd=20)]                    # the CD-sign KL term did help
    m["nll"][1]["ais"]["ess"] = 1.0                  # one seed's AIS collapsed: no NLL verdict
    m["nll_deform"] = [{"seed": 0, "diverged": "iteration 3: ..."}]
    v = verdicts(m)
    assert v["C4"] == "not reproduced" and v["C5"] == "inconclusive"
    assert v["C7"] == "missing"                      # no chains of a diverged regime
    assert v["C8"] == "not reproduced"               # a diverged regime has the worse NLL
    del m["nll_du_kl"]
    assert verdicts(m)["C9"] == "missing"
    # one seed of two diverged: the other's value alone, and the evidence says so
    m = _paper_like(0.01)
    m["true_cd"][1] = {"seed": 1, "diverged": "iteration 5: ..."}
    c3 = next(r for r in claims(m, "test") if r["claim"] == "C3")
    assert "true_cd 49.5 [seeds 0 1; diverged: 1]" in c3["evidence"] and c3["verdict"] == "reproduced"


def test_an_inconclusive_claim_is_never_written_as_reproduced(tmp_path):
    from ebmlab.studies.base import write_claims
    # every gap in the paper's direction but within the spread over seeds (+-60%)
    v = verdicts(_paper_like(0.6))
    assert v["C2"] == v["C3"] == v["C5"] == v["C6"] == "inconclusive", v
    # C4 ("the KL term does not help"): equal within the spread decides nothing
    m = _paper_like(0.6)
    m["true_cd_kl"] = [_m(fd=50)]
    assert verdicts(m)["C4"] == "inconclusive"
    # one seed everywhere: no spread, so no ordering verdict at all
    one = {r: [ms[0]] for r, ms in _paper_like(0.01).items()}
    assert set(verdicts(one).values()) == {"inconclusive"}
    # the writer refuses anything but the four verdicts
    row = {**claims(one, "test")[0]}
    for bad in ("inconclusive (reproduced)", "consistent", "Reproduced"):
        with pytest.raises(ValueError, match="is not one of"):
            write_claims(tmp_path / "c.csv", [{**row, "verdict": bad}])
    write_claims(tmp_path / "c.csv", claims(one, "test"))
    assert ",reproduced," not in (tmp_path / "c.csv").read_text()


def test_seeded_regimes_get_every_seed_and_the_others_the_first():
    from ebmlab.studies.cd_vs_nll.jobs import run_labels
    sec = {"seed": 3, "seeds": [3, 4], "regimes": {"nll": {}, "true_cd": {}, "nll_deform": {}}}
    assert run_labels(sec) == ["nll/seed3", "nll/seed4", "true_cd/seed3", "true_cd/seed4", "nll_deform/seed3"]
    assert run_labels({**sec, "seeded_runs": ["nll_deform"]}) == ["nll/seed3", "true_cd/seed3", "nll_deform/seed3",
                                                                   "nll_deform/seed4"]
    assert JOBS["train"].slice(sec, "nll/seed4")["seed"] == 4
    assert JOBS["classifier"].slice(sec, None)["seed"] == 3
    with pytest.raises(ConfigError, match="nll_deform: seed 4 is not one of its seeds"):
        JOBS["train"].slice(sec, "nll_deform/seed4")
    with pytest.raises(ConfigError, match="label is <run>/seed<k>"):
        JOBS["evaluate"].slice(sec, "nll")
    s = study(seeds=[0, 1])
    assert job_of(s, JOBS["evaluate"], "true_cd/seed1").job_label == "true_cd/seed1"
    with pytest.raises(ConfigError, match="seeded_runs: unknown regime 'pcd'"):
        study(seeded_runs=["pcd"])
    with pytest.raises(ConfigError, match="seeds must list distinct seeds"):
        study(seeds=[1, 1])


@pytest.mark.parametrize("noise_is,std", [("std", 0.005), ("variance", math.sqrt(0.005))])
def test_noise_is_says_how_lambda_is_read(noise_is, std):
    s = study(noise_is=noise_is)
    run = train_run(s, "nll")
    assert run.eps == pytest.approx(std)
    assert run.temperature == pytest.approx(std ** 2 / (2 * 10.0))
    assert run.train_sampler().config.noise_std == pytest.approx(std)
    ev = job_of(s, JOBS["evaluate"], "nll/seed0")
    assert ev.eval_sampler(0.05).config.noise_std == pytest.approx(0.05 if noise_is == "std" else math.sqrt(0.05))
    # the sampler the trainer gets draws noise of that std: one step on a flat energy from x = 0.5
    x = torch.full((4000, 1), 0.5)
    flat = lambda y: y.sum(1) * 0.0   # noqa: E731
    out = run.train_sampler().run(flat, x, 1, generator=torch.Generator().manual_seed(0), progress=None).x
    assert float((out - 0.5).std()) == pytest.approx(std, rel=0.05)


# -- end to end -----------------------------------------------------------------------------

def test_tiny_study_end_to_end(tmp_path):
    cfg = {"device": "cpu", "data": {**DIGITS, "dequantize": True}, "model": {"name": "gagnon_mnist", "width": 2,
           "latent": 4}, "train": {"max_iterations": 3, "batch_size": 16, "buffer_size": 50},
           "regimes": {"nll": {}, "true_cd": {"init": "true_cd", "reinit_prob": 0.1}}, "seeds": [0, 1],
           "seeded_runs": ["nll"],
           "eval": {"long_chains": 12, "long_steps": 3, "high_noise_chains": 6, "stay_chains": 5, "stay_steps": 3,
                    "fig3_steps": 4, "fig4_short_steps": 2, "fig4_long_steps": 4, "fig5_steps": 4, "deform_every": 2,
                    "frames": 3, "bootstrap": 3, "test_images": 40},
           "ais": {"chains": 4, "steps": 5, "pilot_chains": 2, "pilot_steps": 3}, "classifier": {"epochs": 1}}
    c = study_file(tmp_path, cfg)
    clf = tmp_path / "clf.pt"
    assert main(["classifier", "--params", c, "--out", str(clf)]) == 0
    for r in ("nll", "true_cd", "nll/seed1"):
        job = r if "/" in r else f"{r}/seed0"
        assert main(["train", "--params", c, "--job", job, "--out", str(tmp_path / r)]) == 0
        assert main(["evaluate", "--params", c, "--job", job, "--out", str(tmp_path / r),
                     "--classifier", str(clf)]) == 0
    runs = [str(tmp_path / r) for r in ("nll/seed1", "true_cd", "nll")]
    assert main(["figures", "--runs", *runs, "--out-dir", str(tmp_path / "fig")]) == 0
    assert main(["table", "--runs", *runs, "--profile", "test", "--csv", str(tmp_path / "t.csv"),
                 "--claims", str(tmp_path / "c.csv")]) == 0
    m = json.loads((tmp_path / "nll" / "metrics.json").read_text())
    assert m["coverage"]["n"] == 12 and len(m["coverage"]["histogram"]) == 10 and m["iterations"] == 3
    assert {"fig3", "fig4", "fig5", "samples"} == {p.stem.replace("cd_vs_nll_", "")
                                                   for p in (tmp_path / "fig").glob("*.png")}
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0].startswith("regime,seed,description,profile") and len(rows) == 4
    assert [r.split(",")[:2] for r in rows[1:]] == [["nll", "0"], ["nll", "1"], ["true_cd", "0"]]
    claims_csv = (tmp_path / "c.csv").read_text()
    assert "[seeds 0 1]" in claims_csv
    assert "C1," in claims_csv and "C9," in claims_csv and ",missing," in claims_csv  # no nll_du_kl run


def test_diverged_regime_is_recorded_and_reported(tmp_path):
    cfg = study_file(tmp_path, {"device": "cpu", "data": DIGITS, "model": {"name": "gagnon_mnist", "width": 2,
                                 "latent": 4}, "train": {"max_iterations": 3, "batch_size": 16, "buffer_size": 50,
                                                         "max_abs_energy": 1e-9}})
    out = tmp_path / "nll"
    assert main(["train", "--params", cfg, "--job", "nll/seed0", "--out", str(out)]) == 0   # on_diverge: record
    assert "iteration 1: " in torch.load(out / "model.pt", weights_only=False)["diverged"]
    assert main(["evaluate", "--params", cfg, "--job", "nll/seed0", "--out", str(out), "--classifier", "none.pt"]) == 2
    clf = tmp_path / "clf.pt"
    train_classifier(from_dict(ImageDataConfig, DIGITS), clf, config=ClassifierConfig(epochs=0.1))
    assert main(["evaluate", "--params", cfg, "--job", "nll/seed0", "--out", str(out), "--classifier", str(clf)]) == 0
    assert (out / "chains.npz").exists() and json.loads((out / "metrics.json").read_text())["diverged"]
    assert main(["table", "--runs", str(out), "--profile", "t", "--csv", str(tmp_path / "t.csv"),
                 "--claims", str(tmp_path / "c.csv")]) == 0
    assert ",yes," in (tmp_path / "t.csv").read_text()
    assert main(["figures", "--runs", str(out), "--out-dir", str(tmp_path / "f")]) == 0
