"""JEM (thesis 4.2.2): the WRN classifier-energy, the JEM loss, the data transform, the lr
schedule, the buffer policy, exact resume and the divergence guard (stop, keep the last good
checkpoint, optional restart with a new seed)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ebmlab import samplers
from ebmlab.errors import Diverged
from ebmlab.config import from_dict
from ebmlab.errors import ConfigError
from ebmlab.models import build_model
from ebmlab.models.wrn import WideBasic
from ebmlab.train.buffer import ReplayBuffer
from ebmlab.train.checkpoint import CheckpointStore
from ebmlab.train.image import SamplerSchedule
from ebmlab.train.jem import JEMTrainConfig, JEMTrainer, pad_crop_flip

torch.set_num_threads(1)

TINY_WRN = {"name": "wrn", "depth": 10, "width": 1, "n_classes": 3}


class Labelled:
    def __init__(self, n=24, c=1, size=8, classes=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = (torch.rand(n, c, size, size, generator=g) * 255).to(torch.uint8)
        self.y = torch.randint(classes, (n,), generator=g)


def make_trainer(tmp=None, seed=0, hooks=None, model=None, data=None, sampler=None, **train):
    cfg = from_dict(JEMTrainConfig, {"epochs": 2, "batch_size": 6, "steps": 3, "buffer_size": 20,
                                     "warmup_iters": 2, "checkpoint_every": 4, "lr": 1e-3, **train}, "train")
    data = data or Labelled()
    torch.manual_seed(seed)
    net = model if model is not None else build_model(TINY_WRN, tuple(data.x.shape[1:]))
    sampler = sampler or samplers.build("langevin", step_size=1.0, noise_std=0.01, track_acceptance=True)
    store = CheckpointStore(tmp, "test") if tmp is not None else None
    return JEMTrainer(net, data, cfg, SamplerSchedule(sampler), seed=seed, store=store, hooks=hooks)


# -- model ------------------------------------------------------------------------------

def test_energy_is_minus_logsumexp_of_the_logits_and_softmax_gives_p_y_given_x():
    torch.manual_seed(0)
    net = build_model(TINY_WRN, (1, 8, 8))
    x = torch.randn(5, 1, 8, 8)
    g = net.logits(x)
    assert g.shape == (5, 3)
    by_hand = -torch.log(torch.exp(g).sum(dim=1))
    assert torch.allclose(net(x), by_hand, atol=1e-6)
    # p(y|x) = exp(g_y) / sum exp(g) = exp(-E(x, y)) / exp(-E(x)) with E(x, y) = -g_y
    assert torch.allclose(torch.softmax(g, 1), torch.exp(g - (-net(x))[:, None]), atol=1e-6)


def test_wrn_28_10_has_jems_block_structure():
    net = build_model({"name": "wrn"}, (3, 32, 32))
    blocks = [m for m in net.modules() if isinstance(m, WideBasic)]
    assert len(blocks) == 12                                   # (28 - 4) / 6 = 4 per stage
    assert [b.conv2.out_channels for b in blocks] == [160] * 4 + [320] * 4 + [640] * 4
    assert [b.conv2.stride[0] for b in blocks] == [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1]
    assert [isinstance(b.shortcut, nn.Conv2d) for b in blocks] == [True, False, False, False] * 3
    assert net.stem.out_channels == 16 and net.class_output.in_features == 640
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.Dropout)) for m in net.modules())
    assert all(b.leak == 0.2 for b in blocks)
    assert 36.4e6 < sum(p.numel() for p in net.parameters()) < 36.6e6   # WRN-28-10: 36.5M weights


def test_bad_depth_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"^model: depth must be 6n \+ 4 .*got 20$"):
        build_model({"name": "wrn", "depth": 20}, (3, 32, 32))


# -- loss -------------------------------------------------------------------------------

class FixedLogits(nn.Module):
    """logits(x) = W x for x of shape (n, 1, 1, 2): hand-computable energies."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]]))

    def logits(self, x):
        return x.flatten(1) @ self.w

    def forward(self, x):
        return -self.logits(x).logsumexp(1)


def test_jem_loss_is_cross_entropy_plus_the_cd_term_by_hand():
    t = make_trainer(model=FixedLogits(), data=Labelled(n=12, size=1, classes=2, c=1), batch_size=2)
    # x = (1, 0) -> logits (0, ln 3): E = -ln 4;  x = (0, 1) -> (0, 0): E = -ln 2;  x = (0, 0) -> E = -ln 2
    x_pos = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(2, 1, 1, 2)
    x_neg = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).view(2, 1, 1, 2)
    x_lab = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2)
    y_lab = torch.tensor([1, 0])
    t.labelled = (x_lab, y_lab)
    loss, logs, _, _ = t.loss_terms(x_pos, x_neg, None, t.samplers.first, 0)
    cd = -math.log(4) - (-math.log(2))                       # mean E(x+) - mean E(x-)
    ce = (-math.log(3 / 4) - math.log(1 / 2)) / 2            # -log p(1|x1), -log p(0|x2)
    assert loss.item() == pytest.approx(cd + ce, abs=1e-6)
    assert logs["loss_cd"] == pytest.approx(cd, abs=1e-6) and logs["loss_ce"] == pytest.approx(ce, abs=1e-6)
    assert logs["train_acc"] == pytest.approx(1.0)


def test_jem_loss_matches_cross_entropy_plus_cd_on_a_tiny_wrn_and_respects_weights():
    t = make_trainer(px_weight=0.5, ce_weight=2.0)
    g = torch.Generator().manual_seed(3)
    x_pos, x_neg, x_lab = (torch.rand(6, 1, 8, 8, generator=g) * 2 - 1 for _ in range(3))
    y_lab = torch.randint(3, (6,), generator=g)
    t.labelled = (x_lab, y_lab)
    loss, _, _, _ = t.loss_terms(x_pos, x_neg, None, t.samplers.first, 0)
    net = t.model
    cd = (-net.logits(x_pos).logsumexp(1)).mean() - (-net.logits(x_neg).logsumexp(1)).mean()
    logp = net.logits(x_lab).log_softmax(1)
    ce = -logp[torch.arange(6), y_lab].mean()
    assert loss.item() == pytest.approx((0.5 * cd + 2.0 * ce).item(), rel=1e-5)
    # the gradient reaches the weights through both terms
    loss.backward()
    assert net.class_output.weight.grad.abs().sum() > 0 and net.stem.weight.grad.abs().sum() > 0


# -- data transform, schedule, buffer -------------------------------------------------

def test_pad_crop_flip_returns_shifted_windows_of_the_reflect_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    assert torch.equal(pad_crop_flip(x, 0, False, g), x)
    out = pad_crop_flip(x, 2, True, g)
    xp = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(2):
        windows = [xp[i, :, a:a + 6, b:b + 6] for a in range(5) for b in range(5)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(out[i], w) for w in windows)


def test_training_images_are_k_over_255_in_minus_one_one_then_cropped_and_flipped():
    data = Labelled(n=6, size=4)
    t = make_trainer(data=data, batch_size=6, data_augment=None)
    x = t.to_float(data.x)
    assert torch.allclose(x, data.x.float() / 255 * 2 - 1)   # JEM: ToTensor, Normalize(0.5, 0.5)
    t = make_trainer(data=data, batch_size=6, data_augment={"pad": 0, "flip": True})
    x = t.to_float(data.x)
    ref = data.x.float() / 255 * 2 - 1
    assert all(torch.equal(x[i], ref[i]) or torch.equal(x[i], ref[i].flip(-1)) for i in range(6))


def test_lr_schedule_warms_up_then_decays_at_the_given_epochs():
    cfg = from_dict(JEMTrainConfig, {"lr": 1e-4, "warmup_iters": 1000, "decay_epochs": [160, 180],
                                     "decay_rate": 0.3}, "train")
    per_epoch = 703   # 45000 training images / 64
    assert cfg.lr_at(0, per_epoch) == 0.0
    assert cfg.lr_at(500, per_epoch) == pytest.approx(5e-5)
    assert cfg.lr_at(1000, per_epoch) == pytest.approx(1e-4)
    assert cfg.lr_at(160 * per_epoch - 1, per_epoch) == pytest.approx(1e-4)
    assert cfg.lr_at(160 * per_epoch, per_epoch) == pytest.approx(3e-5)
    assert cfg.lr_at(190 * per_epoch, per_epoch) == pytest.approx(9e-6)
    none = from_dict(JEMTrainConfig, {"warmup_iters": 0}, "train")
    assert none.lr_at(0, per_epoch) == pytest.approx(1e-4)


def test_reinit_in_place_keeps_the_drawn_slot_so_replace_writes_back_there():
    buf = ReplayBuffer(5, reinit_in_place=True)
    buf.fill(torch.zeros(5, 1))
    g = torch.Generator().manual_seed(0)
    x, idx, fresh = buf.sample(4, lambda n: torch.ones(n, 1), reinit_prob=1.0, generator=g)
    assert fresh.all() and (idx >= 0).all() and torch.equal(x, torch.ones(4, 1))
    buf.replace(idx, torch.full((4, 1), 7.0))
    assert len(buf) == 5 and buf.ptr == 0
    assert set(torch.nonzero(buf.data[:, 0] == 7.0).flatten().tolist()) == set(idx.tolist())
    plain = ReplayBuffer(5)
    plain.fill(torch.zeros(5, 1))
    _, idx2, _ = plain.sample(4, lambda n: torch.ones(n, 1), reinit_prob=1.0, generator=g)
    assert (idx2 == -1).all()   # default policy unchanged: fresh chains are appended


def test_buffer_starts_full_of_uniform_noise_and_keeps_its_size():
    t = make_trainer(max_iterations=1, buffer_size=20, reinit_prob=0.0)
    assert len(t.buffer) == 0
    x_pos = t.positives(0)
    assert x_pos.min() >= -1.2 and x_pos.max() <= 1.2           # [-1, 1] plus 0.03 noise
    t.start_points(x_pos)
    assert len(t.buffer) == 20
    data = t.buffer.data
    assert data.min() >= -1 and data.max() <= 1 and data.std() > 0.5   # U[-1, 1] has std 0.577
    t.train()
    assert len(t.buffer) == 20 and t.buffer.ptr == 0


def test_training_logs_lr_losses_accuracy_and_sampler_diagnostics():
    t = make_trainer(epochs=1)
    t.train()
    rows = t.history
    assert len(rows) == t.total == 24 // 6
    assert [r["lr"] for r in rows[:3]] == pytest.approx([0.0, 5e-4, 1e-3])
    for key in ("loss", "loss_cd", "loss_ce", "train_acc", "accept_prob_mean", "lr"):
        assert all(math.isfinite(r[key]) for r in rows), key
    assert all(r["loss"] == pytest.approx(r["loss_cd"] + r["loss_ce"], abs=1e-5) for r in rows)
    assert t.chain_log and len(t.chain_log[0]["accept_prob"]) == 3   # one value per chain step


def test_psgld_records_inverse_preconditioner():
    t = make_trainer(epochs=1, sampler=samplers.build("psgld", step_size=1.0, noise_std=0.01, lam=0.01,
                                                      alpha=0.9, precondition_noise=False))
    t.train()
    inv = [r["precond_inv_mean_mean"] for r in t.history]
    assert all(v >= 0.01 for v in inv)      # 1/G = lambda + sqrt(V) >= lambda


# -- checkpoints and divergence -------------------------------------------------------

def _state(t):
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in t.history]
    return t.model.state_dict(), t.buffer.state_dict(), rows, t.gen.get_state(), t.label_perm, t.opt.state_dict()


def _equal(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_interrupted_run_resumes_exactly(tmp_path):
    full = make_trainer(tmp_path / "a", epochs=3)
    full.train()

    class Stop(Exception):
        pass

    def killer(trainer, it):
        if it == 6:
            raise Stop

    part = make_trainer(tmp_path / "b", epochs=3, hooks=[killer])
    with pytest.raises(Stop):
        part.train()
    again = make_trainer(tmp_path / "b", epochs=3)
    result = again.train()
    assert result.resumed_from == 4
    assert _equal(_state(full), _state(again))


class Bomb(nn.Module):
    """A tiny WRN whose logits a hook can blow up (the scale is saved with the weights)."""

    def __init__(self):
        super().__init__()
        self.net = build_model(TINY_WRN, (1, 8, 8))
        self.register_buffer("scale", torch.tensor(1.0))

    def logits(self, x):
        return self.net.logits(x) * self.scale

    def forward(self, x):
        return -self.logits(x).logsumexp(1)


def _bomb_at(iteration, times=1):
    fired = []

    def hook(trainer, it):
        if it == iteration and len(fired) < times:
            fired.append(it)
            trainer.model.scale.fill_(1e12)
    return hook


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    t = make_trainer(tmp_path, model=Bomb(), epochs=3, hooks=[_bomb_at(5)])
    with pytest.raises(Diverged, match=r"iteration 7: \|loss\| = .*, not <= 1e\+08; last good checkpoint: .*last.pt "
                                       r"\(after iteration 4\)"):
        t.train()
    saved = CheckpointStore(tmp_path, "test").load()
    assert saved["iteration"] == 4 and len(saved["history"]) == 4
    assert saved["model"]["scale"].item() == 1.0


def test_divergence_restart_resumes_from_the_checkpoint_with_a_new_seed(tmp_path):
    torch.manual_seed(0)
    t = make_trainer(tmp_path / "r", model=Bomb(), epochs=3, hooks=[_bomb_at(5)], restarts=1)
    result = t.train()
    assert [r["iteration"] for r in result.history] == list(range(12))
    (rec,) = t.restarts
    assert rec["diverged_at"] == 6 and rec["resumed_at"] == 4 and rec["seed"] == 0 + 1_000_003
    assert "last good checkpoint" in rec["reason"]
    # the restarted chains differ from a run that never diverged (same weights up to iteration 4)
    torch.manual_seed(0)
    clean = make_trainer(tmp_path / "c", model=Bomb(), epochs=3)
    clean.train()
    assert _equal(clean.history[3]["loss"], t.history[3]["loss"])
    assert not torch.equal(clean.buffer.data, t.buffer.data)
    # the restart record survives a later resume from the checkpoint
    assert CheckpointStore(tmp_path / "r", "test").load()["restarts"] == t.restarts


def test_divergence_after_the_allowed_restarts_raises(tmp_path):
    torch.manual_seed(0)
    t = make_trainer(tmp_path, model=Bomb(), epochs=3, hooks=[_bomb_at(5, times=5)], restarts=2)
    with pytest.raises(Diverged):
        t.train()
    assert [r["restart"] for r in t.restarts] == [1, 2]
    assert [r["seed"] for r in t.restarts] == [1_000_003, 2_000_006]


def test_divergence_without_checkpoint_or_store_raises_at_once():
    torch.manual_seed(0)
    t = make_trainer(model=Bomb(), epochs=3, hooks=[_bomb_at(1)], restarts=3)
    with pytest.raises(Diverged, match="last good checkpoint: none"):
        t.train()
    assert t.restarts == []
