"""The digit classifier behind the substitute Frechet distance and class histograms."""

import json
from pathlib import Path

import pytest
import torch

from ebmlab.errors import DataError
from ebmlab.config import from_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.metrics import classifier as clf
from ebmlab.metrics.fid import build_extractor, column_for, fid, reference_stats

MNIST10K = Path(__file__).resolve().parents[1] / "data/embedded/mnist10k.npz"
SMALL = clf.ClassifierConfig(channels=(16, 32), epochs=3, batch_size=32, lr=2e-3, holdout=0.2)


def data(**kw):
    return from_dict(ImageDataConfig, kw, "data")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """3,000 of the embedded real MNIST digits at 28x28; a few seconds on one CPU thread."""
    out = tmp_path_factory.mktemp("clf") / "mnist.pt"
    torch.set_num_threads(1)
    cfg = data(name="mnist", path=str(MNIST10K), size=28, limit=3000)
    metrics = clf.train_classifier(cfg, out, seed=0, config=SMALL)
    return out, metrics, cfg


def test_trains_to_high_accuracy_on_real_digits(trained):
    out, metrics, cfg = trained
    assert metrics["holdout_accuracy"] >= 0.93 and metrics["n_holdout"] == 600
    assert json.loads(out.with_suffix(".json").read_text())["holdout_accuracy"] == metrics["holdout_accuracy"]
    assert out.with_suffix(".run.yaml").exists()
    model = clf.load_classifier(out)
    # the digits it never saw (images 3000-3999 of the file) are labelled as well
    rest = load_images(data(name="mnist", path=str(MNIST10K), size=28))
    x, y = rest.to_float(rest.x[3000:4000]), rest.y[3000:4000]
    assert (model.predict(x) == y).float().mean() >= 0.93
    assert model.n_classes == model.num_classes == 10


def test_features_accept_other_sizes_and_colour(trained):
    out, _, _ = trained
    model = clf.load_classifier(out)
    s = load_images(data(name="mnist", path=str(MNIST10K), size=28, limit=64))
    x = s.to_float(s.x)
    f = model.features(x)
    assert f.shape == (64, 128) and (f >= 0).all()  # post-ReLU penultimate layer
    # the same digits as 32x32 RGB: converted back (pad + resize is not the identity, so
    # labels rather than features are compared)
    rgb = load_images(data(name="mnist", path=str(MNIST10K), size=32, channels=3, limit=64))
    same = (model.predict(rgb.to_float(rgb.x)) == model.predict(x)).float().mean()
    assert same >= 0.8


def test_classifier_extractor_gives_a_labelled_substitute(trained, tmp_path):
    out, _, cfg = trained
    ex = build_extractor("classifier", weights=str(out))
    assert ex.id.startswith("classifier:penultimate:mnist.pt:sha256=")
    assert column_for(ex.id, "fid_reproduced") == "classifier_frechet_substitute"
    ref = reference_stats(ex, data(name="mnist", path=str(MNIST10K), size=28, limit=3000), tmp_path, n=1000)
    real = load_images(data(name="mnist", path=str(MNIST10K), size=28))
    other_digits = real.to_float(real.x[5000:6000])
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    near, far = fid(other_digits, ref, ex), fid(noise, ref, ex)
    assert near < 0.1 * far  # real digits are much closer to the reference than noise


def test_training_is_deterministic(tmp_path):
    cfg = data(name="digits8", size=8, limit=400)
    small = clf.ClassifierConfig(channels=(4, 8), hidden=16, epochs=1, batch_size=50)
    a = clf.train_classifier(cfg, tmp_path / "a.pt", seed=3, config=small)
    b = clf.train_classifier(cfg, tmp_path / "b.pt", seed=3, config=small)
    sa, sb = (torch.load(tmp_path / f, weights_only=False)["state_dict"] for f in ("a.pt", "b.pt"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["holdout_accuracy"] == b["holdout_accuracy"]


def test_bad_input_stops_before_training(tmp_path, capsys):
    with pytest.raises(ConfigError, match="^cifar10 \\(local file h.npz\\) has no labels: the classifier needs"):
        import numpy as np
        np.savez(tmp_path / "h.npz", images=np.zeros((10, 8, 8), np.uint8))
        clf.train_classifier(data(name="cifar10", source="local", path=str(tmp_path / "h.npz"), size=8),
                             tmp_path / "x.pt")
    with pytest.raises(DataError, match="not found in"):
        clf.train_classifier(data(name="mnist", root=str(tmp_path)), tmp_path / "x.pt")
    out = tmp_path / "c.pt"
    rc = clf.main(["train", "--config", "{data: {name: digits8, size: 8}, classifier: {epochz: 1}}",
                   "--out", str(out)])
    assert rc == 2 and "error: unknown key 'classifier.epochz'" in capsys.readouterr().err
    rc = clf.main(["train", "--config", "{data: {name: digits8, size: 8, limit: 200}, "
                   "classifier: {channels: [4, 8], hidden: 8, epochs: 0.1, min_accuracy: 0.99}}", "--out", str(out)])
    assert rc == 2 and "is below min_accuracy 0.99" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "x.pt").exists()
    with pytest.raises(DataError, match="missing input .*nothing.pt: train it with"):
        clf.load_classifier(tmp_path / "nothing.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="is not a digit classifier saved by ebmlab.metrics.classifier"):
        clf.load_classifier(tmp_path / "other.pt")
