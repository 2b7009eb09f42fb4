"""STANLEY study: the sampler's step size, its reductions, the rings data, distances, the
ConvNet, segmented training, scoring columns, inpainting and bad input."""

import json
import math
import subprocess
import sys

import pytest
import torch
import yaml

from ebmlab import samplers
from ebmlab.config import from_dict
from ebmlab.errors import ConfigError
from ebmlab.data.rings import RingsConfig, rings
from ebmlab.metrics.distance import energy_distance, mmd_rbf
from ebmlab.models import build_model
from ebmlab.samplers import stanley_gamma
from ebmlab.studies.stanley.__main__ import main
from ebmlab.studies.stanley.claims import curve_rows
from ebmlab.studies.stanley.config import ImagesStudy, StanleyStudy
from ebmlab.studies.stanley.jobs import JOBS
from ebmlab.studies.stanley.run import inpaint, inpaint_mask


def quadratic(scale):
    return lambda x: 0.5 * scale * x.pow(2).flatten(1).sum(1)


# ---------------------------------------------------------------------------
# the sampler

def test_stanley_step_size_is_th_over_max_th_abs_grad():
    g = torch.tensor([[-3.0, -0.01, 0.0, 0.004, 0.02, 50.0]])
    th = 0.01
    expected = torch.tensor([[th / 3.0, 1.0, 1.0, 1.0, th / 0.02, th / 50.0]])
    assert torch.allclose(stanley_gamma(g, th), expected)
    assert torch.allclose(stanley_gamma(g, th, scale=0.14), 0.14 * expected)


def test_stanley_one_step_matches_hand_computation():
    x0 = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    energy = quadratic(2.0)                      # grad = 2 x
    s, th, eps = 0.3, 1.5, 0.2
    res = samplers.build("stanley", th=th, noise_std=eps, step_size=s).run(
        energy, x0, 1, generator=torch.Generator().manual_seed(5))
    xi = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    g = 2 * x0
    gamma = s * th / torch.clamp(g.abs(), min=th)
    assert torch.allclose(res.x, x0 - gamma / 2 * g + gamma.sqrt() * eps * xi)


def test_stanley_reduces_to_fixed_step_langevin_below_threshold():
    # |grad E| <= 1e-3 < th on the whole box: gamma = s everywhere, i.e. Langevin with
    # step s / 2 on the gradient and noise sqrt(s) * eps
    x0 = torch.rand(64, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    energy = quadratic(1e-3)
    s, eps = 0.4, 0.05
    st = samplers.build("stanley", th=0.01, noise_std=eps, step_size=s, recompute="step")
    la = samplers.build("langevin", step_size=s / 2, noise_std=math.sqrt(s) * eps)
    a = st.run(energy, x0, 25, generator=torch.Generator().manual_seed(1))
    b = la.run(energy, x0, 25, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a.x, b.x, atol=1e-6)
    assert torch.allclose(a.diagnostics["step_mean"], torch.full((25,), s))


def test_stanley_gamma_is_fixed_for_the_run_as_in_algorithm_1():
    x0 = torch.tensor([[4.0, 0.001]])
    res = samplers.build("stanley", th=0.01, noise_std=0.0, step_size=1.0).run(quadratic(1.0), x0, 3)
    gamma = stanley_gamma(x0, 0.01)              # from the start gradient (= x0), kept for all K steps
    x = x0.clone()
    for _ in range(3):
        x = x - gamma / 2 * x
    assert torch.allclose(res.x, x)


def test_hmc_with_one_leapfrog_step_is_mala():
    # one leapfrog step of size e proposes x - e^2/2 grad E + e p: MALA with h = e^2 / 2 and
    # noise sqrt(2 h) = e, and the two acceptance probabilities agree, so with the same draws
    # the chains coincide
    x0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2  # fp64: no near-tie flips
    energy = lambda x: (x.pow(2).sum(1) - 1.0).pow(2) + 0.3 * x[:, 0]  # noqa: E731  (non-Gaussian)
    e = 0.35
    hmc = samplers.build("hmc", step_size=e, n_leapfrog=1).run(energy, x0, 10, generator=torch.Generator().manual_seed(9))
    mala = samplers.build("mala", step_size=e * e / 2).run(energy, x0, 10, generator=torch.Generator().manual_seed(9))
    assert torch.allclose(hmc.x, mala.x, atol=1e-10)
    assert torch.allclose(hmc.diagnostics["accept_prob"], mala.diagnostics["accept_prob"], atol=1e-6)
    assert 0.05 < float(mala.diagnostics["accept_prob"].mean()) < 0.999  # the test does reject


# ---------------------------------------------------------------------------
# data, distances, model

def test_rings_have_the_stated_radii_and_weights():
    cfg = RingsConfig(groups=4, radius=1.0, std=0.15)
    assert cfg.radii == [1.0, 2.0, 3.0, 4.0]
    x, ring = rings(40000, cfg, torch.Generator().manual_seed(0))
    r = x.norm(dim=1)
    for k, radius in enumerate(cfg.radii):
        rk = r[ring == k]
        assert abs(float(rk.mean()) - radius) < 0.01
        assert abs(float(rk.std()) - 0.15) < 0.01
        assert abs(float((ring == k).float().mean()) - 0.25) < 0.015
    prop = RingsConfig(radius=0.5, weights="radius")
    _, ring = rings(40000, prop, torch.Generator().manual_seed(1))
    assert prop.radii == [0.5, 1.0, 1.5, 2.0]
    assert abs(float((ring == 3).float().mean()) - 0.4) < 0.015


def test_energy_distance_and_mmd_closed_forms():
    a = torch.zeros(50, 2)
    b = torch.tensor([[3.0, 4.0]]).repeat(70, 1)
    assert energy_distance(a, b) == pytest.approx(2 * 5.0)
    assert mmd_rbf(a, b, bandwidth=2.0) == pytest.approx(2 - 2 * math.exp(-25 / 8))
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(x, x + 1.0) > 0.1
    with pytest.raises(ValueError, match="same d"):
        energy_distance(x, torch.zeros(3, 3))


def test_vanilla_convnet_has_five_layers_on_images_and_points():
    img = build_model({"name": "convnet", "channels": [4, 5, 6, 7]}, (3, 16, 16))
    convs = [m for m in img.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (1, 1))] * 5
    assert img(torch.rand(2, 3, 16, 16)).shape == (2,)
    toy = build_model({"name": "convnet", "channels": [8, 8, 8, 8], "activation": "leaky_relu"}, (2,))
    assert len([m for m in toy.modules() if isinstance(m, torch.nn.Linear)]) == 5
    assert toy.slope == 0.05 and img.slope == 0.0
    with pytest.raises(ConfigError, match="4 positive widths"):
        build_model({"name": "convnet", "channels": [4, 4]}, (2,))


# ---------------------------------------------------------------------------
# jobs on a tiny configuration

TINY = {
    "device": "cpu",
    "train": {"batch_size": 8, "steps": 3, "lr": 1e-3, "betas": [0.9, 0.999], "alpha": 0.0, "init": "short_run",
              "max_abs_energy": 1e6, "checkpoint_every": 2},
    "fid": {"n_samples": 16, "batch_size": 16, "reference_n": 32},
    "datasets": {"cifar10": {"data": {"name": "cifar10", "source": "synthetic", "n": 32, "size": 8},
                             "model": {"name": "convnet", "channels": [4, 4, 4, 4]},
                             "metrics": ["inception_standin"], "iterations": 6, "eval_every": 3}},
    "samplers": {"stanley": {"name": "stanley", "th": 0.01, "noise_std": 0.01},
                 "langevin": {"name": "langevin", "step_size": 0.5, "noise_std": 0.01}},
    "inpainting": {"dataset": "cifar10", "samplers": ["stanley", "langevin"], "n_images": 3},
}


def run(*argv):
    return main([str(a) for a in argv])


def curve_cfg(study, label):
    """A curve's job slice as the rule passes it (``study``: the images part of the section)."""
    return json.dumps(JOBS["segment"].slice({"images": study}, label))


def params_file(tmp_path, images):
    p = tmp_path / "params.yaml"
    p.write_text(json.dumps({"stanley": {"rings": None, "images": images}}))
    return p


def test_segments_reach_the_state_of_one_uninterrupted_run(tmp_path):
    base = ["--config", curve_cfg(TINY, "cifar10/stanley"), "--job", "cifar10/stanley"]
    assert run("segment", *base, "--until", 3, "--out", tmp_path / "a3.pt") == 0
    assert run("segment", *base, "--until", 6, "--previous", tmp_path / "a3.pt", "--out", tmp_path / "a6.pt") == 0
    one = dict(TINY, datasets={"cifar10": dict(TINY["datasets"]["cifar10"], eval_every=6)})
    assert run("segment", "--config", curve_cfg(one, "cifar10/stanley"), "--job", "cifar10/stanley",
               "--until", 6, "--out", tmp_path / "b6.pt") == 0
    a = torch.load(tmp_path / "a6.pt", weights_only=False)["trainer"]["model"]
    b = torch.load(tmp_path / "b6.pt", weights_only=False)["trainer"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / ".partial_a6").exists()


def test_every_curve_point_is_scored_with_the_same_chains(tmp_path):
    # the whole study through --params: training and scoring slices cut from it agree on the checkpoint
    base = ["--params", params_file(tmp_path, TINY), "--section", "stanley", "--job", "cifar10/langevin"]
    assert run("segment", *base, "--until", 3, "--out", tmp_path / "3.pt") == 0
    for name in ("p1.json", "p2.json"):
        assert run("fid", *base, "--checkpoint", tmp_path / "3.pt", "--ref-dir", tmp_path / "ref",
                   "--out", tmp_path / name, "--record", tmp_path / f"{name}.run.yaml") == 0
    p1, p2 = (json.loads((tmp_path / n).read_text()) for n in ("p1.json", "p2.json"))
    # a scoring job's record: the job's resolved slice and seed, the checkpoint and references it read
    rec = yaml.safe_load((tmp_path / "p1.json.run.yaml").read_text())
    assert rec["command"] == "ebmlab.studies.stanley fid" and rec["seed"] == rec["config"]["seed"]
    assert rec["config"]["curve"] == "langevin" and rec["config"]["fid"]["n_samples"] == 16
    assert sorted(rec["inputs"]) == sorted([str(tmp_path / "3.pt"), str(tmp_path / "ref")])
    assert "config" not in rec["arguments"] and rec["arguments"]["job"] == "cifar10/langevin"
    assert p1["scores"] == p2["scores"] and p1["n_samples"] == 16 and p1["iteration"] == 3
    rows = curve_rows([p1], "smoke")
    assert rows[0]["fid"] == "" and rows[0]["inception_standin_fid"] == p1["scores"]["inception_standin"]


def test_a_substitute_score_never_lands_in_the_fid_column():
    point = {"dataset": "mnist", "sampler": "stanley", "iteration": 5, "diverged": None, "n_samples": 10,
             "scores": {"classifier": 1.5}, "extractors": {"classifier": "classifier:penultimate:x.pt:sha256=ab"}}
    row = curve_rows([point], "fast")[0]
    assert row["fid"] == "" and row["classifier_frechet_substitute"] == 1.5 and row["sampler"] == "STANLEY"


def _point(ds, sampler, it, score, secs):
    return {"dataset": ds, "sampler": sampler, "sampler_name": sampler, "iteration": it, "diverged": None,
            "n_samples": 10, "scores": {"classifier": score}, "extractors": {"classifier": "classifier:mnist"},
            "data": "digits8", "seconds_per_iteration": secs, "train_wall_seconds": it * secs}


def test_curves_keep_wall_times_in_their_own_table(tmp_path):
    """Issue 18, item 6: points whose wall times differ (a rerun) give the same curves table and
    metrics; the timing table has one row per scored point (the segment ending there)."""
    from ebmlab.studies.base import TIMING_COLUMNS
    done = {}
    for copy, secs in (("a", 0.5), ("b", 2.0)):
        root = tmp_path / copy
        root.mkdir()
        paths = []
        for sampler in ("stanley", "langevin"):
            for it in (3, 6):
                paths.append(root / f"{sampler}_{it}.json")
                paths[-1].write_text(json.dumps(_point("mnist", sampler, it, 10.0 + it, secs)))
        assert run("curves", "--points", *paths, "--profile", "smoke", "--csv", root / "c.csv",
                   "--metrics", root / "c.json", "--timing", root / "timing.csv", "--out-dir", root / "fig") == 0
        done[copy] = {f: (root / f).read_bytes() for f in ("c.csv", "c.json")}
        lines = (root / "timing.csv").read_text().splitlines()
        assert lines[0] == ",".join(TIMING_COLUMNS)
        assert lines[1:] == [f"mnist/{s}/{it},smoke,{secs:g},{it * secs:g}" for s in ("langevin", "stanley")
                             for it in (3, 6)]
    assert done["a"] == done["b"]
    assert b"seconds" not in done["a"]["c.csv"] + done["a"]["c.json"]


def test_rings_metrics_hold_no_wall_time_and_its_timing_lists_each_run_once():
    from ebmlab.studies.stanley.claims import rings_summary, rings_timing
    m = {"label": "stanley/seed0", "points": [{"iteration": 5, "distance": 0.1, "radial_w1": 0.2}],
         "noise_floor": 0.01, "diverged": None, "seconds_per_iteration": 0.1, "train_wall_seconds": 1.0}
    other = dict(m, label="mh", seconds_per_iteration=0.05)
    assert "seconds_per_iteration" not in rings_summary([m])["stanley/seed0"]
    assert [job for job, _ in rings_timing([m, other, m])] == ["stanley/seed0", "mh"]


def test_inpainting_moves_only_masked_pixels():
    torch.manual_seed(0)
    model = build_model({"name": "convnet", "channels": [4, 4, 4, 4]}, (3, 8, 8))
    x = torch.rand(2, 3, 8, 8)
    mask = inpaint_mask((3, 8, 8), "center", 0.5)
    assert int(mask.sum()) == 3 * 4 * 4
    assert int(inpaint_mask((1, 8, 8), "lower_half", 0.5)[..., 4:, :].sum()) == 32
    out = inpaint(model, samplers.build("langevin", step_size=0.1, noise_std=0.01), x, mask, 5, (0.0, 1.0),
                  torch.Generator().manual_seed(0))
    assert torch.equal(out * (1 - mask), x * (1 - mask))
    assert not torch.allclose(out * mask, x * mask)


@pytest.mark.parametrize("extra, message", [
    (["--job", "svhn/stanley", "--until", "3"], "unknown data set 'svhn'"),
    (["--job", "cifar10/nuts", "--until", "3"], "unknown sampler 'nuts' for cifar10"),
    (["--job", "cifar10/stanley", "--until", "4"], "--until 4 is not a checkpoint"),
    (["--job", "cifar10/stanley", "--until", "6"], "--previous is needed exactly"),
    (["--job", "cifar10", "--until", "3"], "--job takes <dataset>/<sampler>"),
    (["--until", "3"], "--job is required"),
])
def test_bad_jobs_stop_with_one_line(tmp_path, capsys, extra, message):
    p = params_file(tmp_path, TINY)
    assert run("segment", "--params", p, "--section", "stanley", *extra, "--out", tmp_path / "x.pt") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("patch, message", [
    ({"inpainting": {"dataset": "celeba"}}, "inpainting.dataset: unknown data set 'celeba'"),
    ({"datasets": {"cifar10": dict(TINY["datasets"]["cifar10"], iterations=7)}}, "must be a multiple of eval_every"),
    ({"train": dict(TINY["train"], init="nll")}, "must be 'short_run'"),
    ({"datasets": {"cifar10": dict(TINY["datasets"]["cifar10"], samplers=["hmc"])}}, "unknown sampler 'hmc'"),
])
def test_bad_study_settings(patch, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(ImagesStudy, {**TINY, **patch})


def test_study_defaults_carry_the_papers_settings():
    s = StanleyStudy()
    assert (s.rings.iterations, s.rings.train.steps, s.rings.train.lr, s.rings.data.std) == (10000, 100, 1e-4, 0.15)
    assert s.rings.samplers["stanley"].config.th == 0.01
    d = s.images.datasets
    assert (d["flowers102"].steps, d["flowers102"].lr, d["flowers102"].iterations) == (50, 1e-3, 100000)
    assert (d["cifar10"].th, d["cifar10"].lr, d["cifar10"].optimizer) == (0.0002, 1e-4, "adam")
    assert (d["celeba"].steps, d["celeba"].lr, d["celeba"].iterations) == (50, 0.01, 50000)
    assert d["cifar10"].points()[:2] == [5000, 10000] and s.images.fid.n_samples == 10000


def test_radial_w1_measures_the_ring_radii():
    from ebmlab.metrics.distance import radial_w1
    cfg = RingsConfig()
    x, _ = rings(4000, cfg, torch.Generator().manual_seed(0))
    assert radial_w1(x, x) == 0.0
    assert radial_w1(x, 1.5 * x) == pytest.approx(0.5 * float(x.norm(dim=1).mean()), rel=1e-3)
    rot = torch.stack([-x[:, 1], x[:, 0]], dim=1)            # rotations keep the radii
    assert radial_w1(x, rot) == pytest.approx(0.0, abs=1e-6)


def test_a_slice_names_the_job_it_was_cut_for(tmp_path, capsys):
    cfg = curve_cfg(TINY, "cifar10/stanley")
    assert run("segment", "--config", cfg, "--job", "cifar10/langevin", "--until", 3, "--out", tmp_path / "x.pt") == 2
    assert "does not match the configuration's label 'cifar10/stanley'" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_jobs_table_imports_no_torch():
    code = "import ebmlab.studies.stanley.jobs, sys; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_job_slices_hold_only_what_the_job_reads():
    study = {"rings": {"iterations": 5, "samplers": {"stanley": {"name": "stanley"}, "langevin": {"name": "langevin"}}},
             "images": {**TINY, "datasets": {"cifar10": {**TINY["datasets"]["cifar10"], "samplers": ["stanley"]}}}}
    for kind in ("reference", "classifier"):
        cut = JOBS[kind].slice(study, "cifar10")
        assert not {"samplers", "sampler", "train", "model", "inpainting", "datasets"} & set(cut), kind
    assert set(JOBS["reference"].slice(study, "cifar10")["fid"]) == {"reference_n"}
    assert JOBS["classifier"].slice(study, "cifar10")["data"] == TINY["datasets"]["cifar10"]["data"]
    seg = JOBS["segment"].slice(study, "cifar10/stanley")
    assert "fid" not in seg and not {"metrics", "samplers"} & set(seg["entry"])   # scoring edits re-run no training
    assert seg["sampler"] == TINY["samplers"]["stanley"] and "samplers" not in seg
    assert "fid" in JOBS["fid"].slice(study, "cifar10/stanley")
    ring = JOBS["rings"].slice(study, "langevin")
    assert ring["sampler"] == {"name": "langevin"} and "samplers" not in ring
    ip = JOBS["inpaint"].slice({"images": TINY}, None)
    assert set(ip["samplers"]) == {"stanley", "langevin"} and "fid" not in ip
    with pytest.raises(ConfigError, match="inpainting.samplers: no 'langevin' curve on cifar10"):
        JOBS["inpaint"].slice(study, None)
    with pytest.raises(ConfigError, match="stanley.rings is null"):
        JOBS["rings"].slice({"rings": None}, "stanley")
