"""The image trainer (thesis Algorithm 7): a step moves energies the right way, chain
initialisation modes, logging, exact resume after a kill, and the divergence guard."""

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ebmlab import samplers
from ebmlab.errors import Diverged
from ebmlab.config import from_dict
from ebmlab.errors import ConfigError
from ebmlab.models import build_model
from ebmlab.train.checkpoint import CheckpointStore
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule

torch.set_num_threads(1)
SRC = Path(__file__).resolve().parents[1] / "src"


class TensorImages:
    """Minimal stand-in for ebmlab.data.images.ImageSet: uint8 images, dequantised floats."""

    def __init__(self, x):
        self.x = x

    def to_float(self, x, generator=None):
        u = torch.rand(x.shape, generator=generator, device=x.device)
        return (x.float() + u) / 256.0


def images(n=24, c=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorImages((torch.rand(n, c, size, size, generator=g) * 255).to(torch.uint8))


TINY_MODEL = {"name": "igebm", "stages": [4, 8], "blocks_per_stage": 1}


def trainer(tmp=None, data=None, switch=None, seed=0, hooks=None, model=None, **train):
    cfg = from_dict(ImageTrainConfig, {"epochs": 1, "batch_size": 6, "steps": 3, "buffer_size": 20,
                                       "checkpoint_every": 4, "lr": 1e-3, **train}, "train")
    data = data or images()
    torch.manual_seed(seed)
    net = build_model(model or TINY_MODEL, tuple(data.x.shape[1:]))
    first = samplers.build("langevin", step_size=10.0, noise_std=0.01, clamp=(0.0, 1.0), track_acceptance=True)
    sched = SamplerSchedule(first) if switch is None else SamplerSchedule(
        first, samplers.build("mala", step_size=10.0, noise_std=0.01, clamp=(0.0, 1.0)), switch)
    store = CheckpointStore(tmp, "test") if tmp is not None else None
    return ImageTrainer(net, data, cfg, sched, seed=seed, store=store, hooks=hooks)


FULL = dict(epochs=3, init="nll", reinit_prob=0.2, augment={"name": "du2020"}, data_noise=0.02, ema=0.9,
            grad_clip_norm=5.0, aux=[{"name": "kl", "chains": 4, "entropy_min_buffer": 6, "entropy_compare": 5}])


def final_state(t):
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in t.history]
    return (t.model.state_dict(), t.ema.state_dict() if t.ema is not None else None,
            t.buffer.state_dict() if t.buffer is not None else None, rows, t.gen.get_state(),
            t.data_gen.get_state(), t.opt.state_dict())


def assert_same_state(a, b):
    for sa, sb in zip(a, b):
        _assert_equal(sa, sb)


def _assert_equal(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


class Recorder(ImageTrainer):
    def loss_terms(self, x_pos, x_neg, x_prev, sampler, it):
        self.seen = (x_pos, x_neg)
        return super().loss_terms(x_pos, x_neg, x_prev, sampler, it)


def test_one_step_lowers_the_cd_loss_on_its_batch():
    t = trainer(alpha=0.0, lr=1e-3)
    t.__class__ = Recorder
    before = copy.deepcopy(t.model).eval()
    t.step(0)
    x_pos, x_neg = t.seen
    after = t.model.eval()
    with torch.no_grad():
        cd_before = float(before(x_pos).mean() - before(x_neg).mean())
        cd_after = float(after(x_pos).mean() - after(x_neg).mean())
    assert cd_after < cd_before


def test_training_pushes_data_energy_below_noise_energy():
    # data: one smooth pattern plus a little noise; negatives: short runs from uniform noise
    g = torch.Generator().manual_seed(5)
    base = torch.linspace(0, 1, 8).view(1, 1, 1, 8).expand(32, 1, 8, 8)
    x = ((base + 0.05 * torch.randn(32, 1, 8, 8, generator=g)).clamp(0, 1) * 255).to(torch.uint8)
    data = TensorImages(x)
    t = trainer(data=data, init="short_run", epochs=8, batch_size=8, alpha=0.1, lr=3e-3,
                model={"name": "cnn", "channels": [8, 8], "strides": [2, 2], "hidden": 16})
    noise = torch.rand(64, 1, 8, 8, generator=g)
    real = data.to_float(x, g)

    def gap():
        with torch.no_grad():
            return float(t.model(real).mean() - t.model(noise).mean())

    start = gap()
    t.train()
    assert gap() < start - 0.25, (start, gap())
    d = [r["d_st"] for r in t.history]
    assert sum(d[-8:]) / 8 < sum(d[:8]) / 8


def test_chain_initialisation_modes():
    data = images(n=12)
    floats = {tuple((data.x[i].float() / 256).flatten().tolist()) for i in range(12)}

    def near_data(x):  # a dequantised image lies within 1/256 above its uint8 value / 256
        base = (x * 256).floor() / 256
        return all(tuple(b.flatten().tolist()) in floats for b in base)

    t = trainer(data=data, init="cd_k")
    x_pos = t.positives(0)
    x0, idx = t.start_points(x_pos)
    assert torch.equal(x0, x_pos) and idx is None and t.buffer is None

    t = trainer(data=data, init="short_run")
    x0, idx = t.start_points(t.positives(0))
    assert idx is None and t.buffer is None and not near_data(x0)

    t = trainer(data=data, init="true_cd", reinit_prob=0.5, buffer_size=10)
    x0, idx = t.start_points(t.positives(0))
    assert len(t.buffer) == 10 and near_data(t.buffer.data) and near_data(x0)
    assert (idx == -1).any() and (idx >= 0).any()   # some starts replaced by fresh data points

    t = trainer(data=data, init="nll", reinit_prob=0.0)
    x0, idx = t.start_points(t.positives(0))
    assert (idx == -1).all() and not near_data(x0)  # empty buffer: uniform noise
    assert x0.min() >= 0 and x0.max() <= 1


def test_logs_nijkamp_diagnostics_acceptance_and_switch():
    t = trainer(switch=3, epochs=1.5)
    t.train()
    h = t.history
    assert [r["sampler"] for r in h] == ["langevin"] * 3 + ["mala"] * 3
    for r in h:
        assert r["d_st"] == pytest.approx(r["e_pos"] - r["e_neg"])
        assert r["d_st"] == pytest.approx(r["loss_cd"], rel=1e-5, abs=1e-6)
        assert r["r_t"] == r["grad_norm_mean"] > 0
        assert 0 <= r["accept_prob_mean"] <= 1   # computed-not-applied for Langevin, applied for MALA
    assert "accept_rate_mean" in h[-1] and "accept_rate_mean" not in h[0]
    assert [c["iteration"] for c in t.chain_log] == [0, 5]
    assert len(t.chain_log[0]["accept_prob"]) == 3   # per chain step


def test_psgld_logs_preconditioner_statistics():
    t = trainer()
    t.samplers = SamplerSchedule(samplers.build("psgld", step_size=10.0, noise_std=0.01, lam=1.0, alpha=0.9,
                                                precondition_noise=False, clamp=(0.0, 1.0)))
    row = t.step(0)
    assert 0 < row["precond_mean_mean"] <= 1 <= row["precond_inv_mean_mean"]


def test_resume_after_interruption_reaches_the_uninterrupted_state(tmp_path):
    ref = trainer(tmp_path / "a", switch=5, **FULL)
    ref.train()
    assert ref.total == 12

    class Killed(Exception):
        pass

    def kill_at_6(tr, it):
        if it == 6:
            raise Killed

    t = trainer(tmp_path / "b", switch=5, hooks=[kill_at_6], **FULL)
    with pytest.raises(Killed):
        t.train()
    resumed = trainer(tmp_path / "b", switch=5, **FULL)
    result = resumed.train()
    assert result.resumed_from == 4   # checkpoints every 4 iterations: the one at 8 was never written
    assert_same_state(final_state(resumed), final_state(ref))


def test_resume_after_sigkill_in_a_subprocess(tmp_path):
    """A real kill (SIGKILL mid-iteration, no clean-up) and a rerun end in the same state."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_image_train import trainer, FULL
        def die(tr, it):
            if it == 6:
                os.kill(os.getpid(), signal.SIGKILL)
        trainer({str(tmp_path / "k")!r}, switch=5, hooks=[die], **FULL).train()
    """)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert (tmp_path / "k" / "last.pt").exists()
    resumed = trainer(tmp_path / "k", switch=5, **FULL)
    assert resumed.train().resumed_from == 4
    ref = trainer(None, switch=5, **FULL)
    ref.train()
    assert_same_state(final_state(resumed), final_state(ref))


def test_divergence_guard_names_and_keeps_the_last_good_checkpoint(tmp_path):
    def blow_up(tr, it):
        if it == 5:
            with torch.no_grad():
                tr.model.trunks[0].linear.weight.mul_(1e7)

    t = trainer(tmp_path, hooks=[blow_up], epochs=3)
    with pytest.raises(Diverged) as err:
        t.train()
    msg = str(err.value)
    assert msg.startswith("iteration 7: loss=")   # 1-based: the seventh iteration, after the hook of the sixth
    assert msg.endswith(f"last good checkpoint: {tmp_path / 'last.pt'} (after iteration 4)")
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert saved["iteration"] == 4 and len(saved["history"]) == 4
    assert torch.isfinite(saved["model"]["trunks.0.linear.weight"]).all()


def test_divergence_on_nan_samples_without_a_checkpoint():
    def poison(tr, it):
        with torch.no_grad():
            tr.model.trunks[0].linear.bias.fill_(float("nan"))

    t = trainer(hooks=[poison])
    with pytest.raises(Diverged, match=r"^iteration 2: .*last good checkpoint: none$"):
        t.train()


@pytest.mark.parametrize("body,message", [
    ({"init": "pcd"}, "train.init: must be one of 'nll', 'true_cd', 'cd_k', 'short_run', 'persistent', got 'pcd'"),
    ({"aux": [{"name": "entropy"}]}, "train.aux[0].name: unknown auxiliary loss 'entropy' (choose from kl, kl_cd)"),
    ({"augment": {"name": "du2020", "crop_scale": [0.5, 2.0]}},
     "train.augment: crop_scale must satisfy 0 < low <= high <= 1, got (0.5, 2.0)"),
    ({"reinit_prob": 1.5}, "train.reinit_prob: must be <= 1, got 1.5"),
    ({"betas": [0.0, 1.0]}, "train: betas must lie in [0, 1), got (0.0, 1.0)"),
    ({"steps": 0}, "train.steps: must be >= 1, got 0"),
])
def test_bad_training_config_is_one_line(body, message):
    with pytest.raises(ConfigError) as err:
        from_dict(ImageTrainConfig, body, "train")
    assert str(err.value) == message


def test_epoch_arithmetic():
    cfg = from_dict(ImageTrainConfig, {"epochs": 2.5, "batch_size": 128})
    assert cfg.iterations_per_epoch(10000) == 78 and cfg.iterations(10000) == 195
    assert from_dict(ImageTrainConfig, {"epochs": 100, "max_iterations": 7}).iterations(50000) == 7
