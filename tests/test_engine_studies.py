"""The image engine inside the studies' trainer: the same chains and updates as the naive
autograd loop up to rounding, exact resume with the engine on, and fp32 in every profile."""

from pathlib import Path

import pytest
import torch
import yaml

from ebmlab import samplers
from ebmlab.config import from_dict
from ebmlab.engine.image import ImageEngineConfig, engine_target
from ebmlab.models import build_model
from ebmlab.train.checkpoint import CheckpointStore
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


class Digits:
    """uint8 images with the data module's dequantisation (k + U) / 256."""

    def __init__(self, n=32, size=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = (torch.rand(n, 1, size, size, generator=g) * 255).to(torch.uint8)

    def to_float(self, x, generator=None):
        return (x.float() + torch.rand(x.shape, generator=generator)) / 256.0


CNN = {"name": "cnn", "channels": [4, 8], "strides": [1, 2], "hidden": 8}
TRAIN = {"epochs": 2, "batch_size": 8, "steps": 6, "buffer_size": 40, "lr": 1e-3, "checkpoint_every": 3,
         "aux": [{"name": "kl", "chains": 8, "entropy_min_buffer": 8, "entropy_compare": 8}]}


def run(engine: ImageEngineConfig | None, sampler="langevin", store=None, iterations=None):
    cfg = from_dict(ImageTrainConfig, {**TRAIN, **({"max_iterations": iterations} if iterations else {})}, "train")
    data = Digits()
    torch.manual_seed(0)
    net = build_model(CNN, (1, 8, 8))
    s = samplers.build(sampler, step_size=10.0, noise_std=0.01, clamp=(0.0, 1.0))
    make_target = engine_target(net, engine, "cpu")
    t = ImageTrainer(net, data, cfg, SamplerSchedule(s), seed=3, store=store, make_target=make_target)
    t.train()
    return t


@pytest.mark.parametrize("sampler", ["langevin", "mala"])
def test_frozen_copy_in_nchw_reproduces_the_naive_loop_bit_for_bit(sampler):
    naive = run(None, sampler)
    fast = run(ImageEngineConfig(channels_last=False), sampler)
    assert [r["loss"] for r in fast.history] == [r["loss"] for r in naive.history]
    for p, q in zip(naive.model.state_dict().values(), fast.model.state_dict().values()):
        assert torch.equal(p, q)


def test_channels_last_langevin_training_matches_the_naive_loop_up_to_rounding():
    naive = run(None, "langevin")
    fast = run(ImageEngineConfig(), "langevin")   # fp32, channels-last, frozen copy
    assert len(naive.history) == len(fast.history) == 8
    for a, b in zip(naive.history, fast.history):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5)
        assert b["e_neg"] == pytest.approx(a["e_neg"], rel=1e-4, abs=1e-5)
    for (k, p), q in zip(naive.model.state_dict().items(), fast.model.state_dict().values()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), k


def test_channels_last_mala_agrees_until_rounding_flips_a_metropolis_decision():
    # a Metropolis decision is a step function of the energies: a last-bit difference from the
    # layout can flip one (then that chain takes another path), so only the start must agree
    naive = run(None, "mala")
    fast = run(ImageEngineConfig(), "mala")
    for a, b in zip(naive.history[:2], fast.history[:2]):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5)
        assert b["accept_rate_mean"] == a["accept_rate_mean"]


def test_disabled_engine_is_the_naive_loop():
    assert engine_target(build_model(CNN, (1, 8, 8)), ImageEngineConfig(enabled=False), "cpu") is None
    assert engine_target(build_model(CNN, (1, 8, 8)), None, "cpu") is None


def test_engine_run_resumes_exactly(tmp_path):
    whole = run(ImageEngineConfig())
    run(ImageEngineConfig(), store=CheckpointStore(tmp_path, "h"), iterations=3)   # "killed" after 3
    resumed = run(ImageEngineConfig(), store=CheckpointStore(tmp_path, "h"))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    for p, q in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(p, q)


def _engine_sections(node, where=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "engine":
                yield f"{where}.{k}", v
            else:
                yield from _engine_sections(v, f"{where}.{k}")


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_no_profile_uses_bf16_by_default(profile):
    params = yaml.safe_load((ROOT / "params" / f"{profile}.yaml").read_text())
    assert ImageEngineConfig().precision == "fp32"
    for where, section in _engine_sections(params):
        if isinstance(section, dict):   # image studies; gmm's engine is a name, its dtype is checked in test_gmm
            assert section.get("precision", "fp32") == "fp32", where


def test_image_studies_default_to_the_fp32_engine():
    from ebmlab.studies.cd_vs_nll.config import CDvsNLLStudy
    from ebmlab.studies.jem.config import JEMStudy
    from ebmlab.studies.stanley.config import ImagesStudy
    from ebmlab.studies.table4_1.config import Table41Study
    for cls in (Table41Study, JEMStudy, CDvsNLLStudy, ImagesStudy):
        eng = cls.__dataclass_fields__["engine"].default_factory()
        assert eng.enabled and eng.precision == "fp32" and eng.channels_last, cls.__name__


def test_metropolis_target_outside_a_sampler_starts_in_fp32():
    # AIS runs HMC moves through the target without Sampler.prepare
    from ebmlab.engine.image import ImageEngine
    net = build_model(CNN, (1, 8, 8))
    engine = ImageEngine(net, ImageEngineConfig(precision="bf16"), device="cpu")
    assert engine.make_target(net).precision == "bf16"
    assert engine.make_target(net, metropolis=True).precision == "fp32"
