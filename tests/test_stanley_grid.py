"""STANLEY study, issue 17: the grid and its ranking, one temperature convention for every
sampler the study builds, Algorithm 1's gamma from the previous iterate, the seeds claim."""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from ebmlab import samplers
from ebmlab.config import Tagged, from_dict, to_dict
from ebmlab.data.rings import PointSet
from ebmlab.errors import ConfigError
from ebmlab.models import build_model
from ebmlab.studies.base import job_of
from ebmlab.studies.stanley import claims
from ebmlab.studies.stanley.__main__ import main
from ebmlab.studies.stanley.config import StanleyStudy, temperature_of
from ebmlab.studies.stanley.jobs import JOBS, grid_cells
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule

ROOT = Path(__file__).resolve().parents[1]
MATCHED = ("mh", "hmc", "langevin")


def study_of(profile, **rings_patch):
    raw = yaml.safe_load((ROOT / f"params/{profile}.yaml").read_text())["stanley"]
    for part in ("rings", "images"):
        if raw.get(part) is not None:
            raw[part] = {**raw[part], **rings_patch}
    return from_dict(StanleyStudy, raw)


def built_temperatures(study):
    """T of every MH, HMC and Langevin the study builds, through its own jobs (rings runs, curves)."""
    out = {}
    if study.rings is not None:
        for label in MATCHED:
            if label in study.rings.samplers:
                s = job_of(study, JOBS["rings"], label).build_sampler()
                out[("rings", label)] = temperature_of(Tagged(s.name, s.config))
    if study.images is not None:
        for ds, label in study.images.curves():
            if label in MATCHED:
                job = job_of(study, JOBS["segment"], f"{ds}/{label}")
                s = job.build_sampler(job.sampler)
                out[("images", f"{ds}/{label}")] = temperature_of(Tagged(s.name, s.config))
    return out


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_mh_hmc_and_langevin_built_by_the_study_target_one_temperature(profile):
    matched = built_temperatures(study_of(profile))
    assert {k[1].split("/")[-1] for k in matched} == set(MATCHED), matched   # all three built in every profile
    parts = {p: [t for k, t in matched.items() if k[0] == p] for p in {k[0] for k in matched}}
    assert max(map(len, parts.values())) >= 3, matched
    for mine in parts.values():     # rings and images: each at its own baseline's T
        assert max(mine) == pytest.approx(min(mine), rel=1e-9), matched
    one = built_temperatures(study_of(profile, temperature="one"))
    assert set(one) == set(matched) and all(t == pytest.approx(1.0) for t in one.values()), one
    assert all(not math.isclose(matched[k], one[k]) for k in matched)   # the convention changes it


def test_matched_temperature_follows_the_baseline():
    study = study_of("paper")
    study.rings.samplers["langevin"].config.noise_std = 0.01       # T = 1e-4 / 0.14
    mh = job_of(study, JOBS["rings"], "mh").build_sampler()
    assert mh.config.temperature == pytest.approx(0.01 ** 2 / (2 * 0.07))
    hmc = job_of(study, JOBS["rings"], "hmc").build_sampler()
    assert hmc.config.reflect == list(study.rings.data.box) or tuple(hmc.config.reflect) == study.rings.data.box


@pytest.mark.parametrize("name, kw", [("rwmh", {"noise_std": 0.6}), ("hmc", {"step_size": 0.25, "n_leapfrog": 4})])
def test_metropolis_samplers_sample_the_tempered_gaussian(name, kw):
    # E = x^2 / (2 s^2): exp(-E / T) is N(0, T s^2)
    s, T = 2.0, 0.3
    energy = lambda x: 0.5 * x.pow(2).sum(1) / s ** 2  # noqa: E731
    x0 = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = samplers.build(name, temperature=T, **kw).run(energy, x0, 300, generator=torch.Generator().manual_seed(1))
    assert float(res.x.var()) == pytest.approx(T * s ** 2, rel=0.06)


def test_grid_cells_are_the_product_and_labelled_by_their_settings():
    cells = grid_cells({"grid": {"stanley": {"th": [0.01, 0.02], "noise_std": [0.005, 0.01, 0.02]}}})
    assert len(cells) == 6 and cells["stanley_th0.02_eps0.005"] == ("stanley", {"th": 0.02, "noise_std": 0.005})
    study = study_of("paper")
    run = job_of(study, JOBS["rings"], "stanley_th0.02_eps0.005")
    assert (run.sampler.config.th, run.sampler.config.noise_std, run.iterations) == (0.02, 0.005, 2500)
    seeded = job_of(study, JOBS["rings"], "stanley_th0.02_eps0.005/seed2")
    assert (seeded.seed, seeded.iterations, seeded.sampler.config.th) == (2, 2500, 0.02)   # run_iterations
    assert job_of(study, JOBS["rings"], "hmc").iterations == 2500
    full = from_dict(StanleyStudy, {**to_dict(study), "rings": {**to_dict(study.rings), "run_iterations": None}})
    assert job_of(full, JOBS["rings"], "stanley_th0.02_eps0.005/seed2").iterations == 10000
    assert job_of(full, JOBS["rings"], "hmc").iterations == 10000
    assert job_of(full, JOBS["rings"], "stanley_th0.02_eps0.005").iterations == 2500   # the grid keeps its own
    with pytest.raises(ConfigError, match="seed 7 is not one of its seeds"):
        job_of(study, JOBS["rings"], "stanley_th0.02_eps0.005/seed7")
    with pytest.raises(ConfigError, match="'tau' is not a setting of stanley"):
        from_dict(StanleyStudy, {**to_dict(study), "rings": {**to_dict(study.rings), "grid": {"stanley": {"tau": [1]}}}})


def _metrics(label, sampler, distance, diverged=False, reached=100, seed=0):
    return {"label": label, "sampler": sampler, "sampler_config": {"th": 0.01}, "temperature": 1e-4, "seed": seed,
            "iterations": reached, "iterations_planned": 100, "diverged": diverged, "noise_floor": 0.001,
            "points": [{"iteration": reached, "distance": distance, "radial_w1": 10 * distance}]}


def test_grid_ranks_by_final_distance_and_diverged_cells_last():
    rows = claims.grid_rows([_metrics("a", "stanley", 0.5), _metrics("b", "stanley", 0.001, True, 90),
                             _metrics("c", "stanley", 0.2), _metrics("d", "stanley", 0.001, True, 40),
                             _metrics("e", "langevin", 0.3)], "paper")
    assert [r["run"] for r in rows if r["sampler"] == "STANLEY"] == ["c", "a", "b", "d"]
    metrics = [_metrics(x, "stanley" if x != "e" else "langevin", 0.1) for x in "abcde"]
    assert claims.best_cells(rows, metrics) == {"stanley": "c", "langevin": "e"}


def test_the_claim_uses_the_spread_over_seeds_and_divergence_is_worst():
    st = [_metrics("s/seed%d" % k, "stanley", d, seed=k) for k, d in enumerate((0.010, 0.011, 0.012))]
    la = [_metrics("l/seed%d" % k, "langevin", d, seed=k) for k, d in enumerate((0.030, 0.031, 0.029))]
    assert claims.rings_claims(st, la, "paper")[0]["verdict"] == "reproduced"
    assert claims.rings_claims(la, st, "paper")[0]["verdict"] == "not reproduced"
    noisy = [_metrics("l/seed%d" % k, "langevin", d, seed=k) for k, d in enumerate((0.001, 0.02, 0.04))]
    assert claims.rings_claims(st, noisy, "paper")[0]["verdict"] == "inconclusive"
    st[1]["diverged"] = True                                       # one diverged seed: worse than none
    assert claims.rings_claims(st, la, "paper")[0]["verdict"] == "not reproduced"
    assert claims.rings_claims([], la, "paper")[0]["verdict"] == "missing"


def test_persistent_chains_start_where_the_last_iteration_ended():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    out = {}
    for init in ("short_run", "persistent"):
        model = build_model({"name": "convnet", "channels": [8, 8, 8, 8], "activation": "leaky_relu"}, (2,))
        cfg = ImageTrainConfig(batch_size=16, steps=3, lr=1e-3, alpha=0.0, init=init, start_noise="gaussian",
                               max_abs_energy=1e6)
        tr = ImageTrainer(model, PointSet(x), cfg, SamplerSchedule(samplers.build("stanley", th=0.01)), seed=0,
                          device="cpu", value_range=(-3.0, 3.0), progress=None)
        tr.step(0)
        x0, _ = tr.start_points(tr.positives(1))
        out[init] = (x0, tr.last_negatives)
    assert torch.equal(out["persistent"][0], out["persistent"][1])       # z_{t-1} carried over
    assert not torch.allclose(out["short_run"][0], out["short_run"][1])  # fresh noise


def test_gamma_from_previous_is_its_own_reading_of_algorithm_1(tmp_path):
    study = study_of("smoke")
    prev = job_of(study, JOBS["rings"], "stanley_previous")
    fresh = job_of(study, JOBS["rings"], "stanley_th0.01_eps0.01")
    assert (prev.gamma_from, prev.train_config().init) == ("previous", "persistent")
    assert (fresh.gamma_from, fresh.train_config().init) == ("fresh", "short_run")
    params = tmp_path / "p.yaml"
    raw = yaml.safe_load((ROOT / "params/smoke.yaml").read_text())
    raw["stanley"]["rings"].update(iterations=6, eval_every=3, plot_every=6, eval_samples=50)
    raw["stanley"]["rings"]["data"] = {"n_train": 200}
    params.write_text(yaml.safe_dump(raw))
    finals = {}
    for job in ("stanley", "stanley_previous"):     # the same sampler settings, two readings of line 3
        assert main(["rings", "--params", str(params), "--section", "stanley", "--job", job,
                     "--out", str(tmp_path / job)]) == 0
        m = json.loads((tmp_path / job / "metrics.json").read_text())
        finals[job] = (m["gamma_from"], torch.load(tmp_path / job / "model.pt", weights_only=False)["model"])
    assert finals["stanley"][0] == "fresh" and finals["stanley_previous"][0] == "previous"
    a, b = finals["stanley"][1], finals["stanley_previous"][1]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_the_image_grid_cells_are_short_curves_of_their_own():
    from ebmlab.studies.stanley.jobs import points
    study = study_of("fast")
    job = job_of(study, JOBS["segment"], "mnist/stanley_th0.001_eps0.005")
    assert (job.sampler.config.th, job.sampler.config.noise_std, job.entry.iterations) == (0.001, 0.005, 500)
    assert job.build_sampler(job.sampler).config.th == 0.001          # the cell's th, not a data-set override
    raw = to_dict(study.images)
    assert points(raw, "mnist", "stanley_th0.001_eps0.005") == [250, 500]
    assert points(raw, "mnist", "stanley")[-1] == 2000                 # the main curves keep their horizon
    with pytest.raises(ConfigError, match="grid_iterations \\(300\\) must be a multiple"):
        from_dict(StanleyStudy, {**to_dict(study), "images": {**raw, "grid_iterations": 300}})


def test_the_convention_shapes_only_the_curves_it_changes():
    from ebmlab.studies.stanley.run import _job_hash
    raw = yaml.safe_load((ROOT / "params/fast.yaml").read_text())["stanley"]

    def ident(label, **images_patch):
        study = {**raw, "images": {**raw["images"], **images_patch}}
        return (json.dumps(JOBS["segment"].slice(study, label), sort_keys=True),
                _job_hash(job_of(from_dict(StanleyStudy, study), JOBS["segment"], label)))

    hotter = {**raw["images"]["samplers"], "langevin": {"name": "langevin", "step_size": 0.5, "noise_std": 0.02}}
    assert ident("mnist/stanley") == ident("mnist/stanley", samplers=hotter)     # not MH / HMC: untouched
    assert ident("mnist/stanley") != ident("mnist/stanley", temperature="one")
    for label in ("mnist/mh", "mnist/hmc"):                                      # they follow the baseline
        assert ident(label)[0] != ident(label, samplers=hotter)[0]
        assert ident(label)[1] != ident(label, samplers=hotter)[1]
