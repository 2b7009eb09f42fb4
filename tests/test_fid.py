"""FID: the closed form, streaming statistics, caching, extractors and their errors."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from ebmlab.errors import DataError
from ebmlab.config import from_dict
from ebmlab.data.images import ImageDataConfig, file_sha256
from ebmlab.metrics import fid as fidmod
from ebmlab.metrics.fid import (FeatureStats, build_extractor, check_column, column_for, fid, frechet_distance,
                                is_real_fid, metric_kind, reference_stats, stats_of)


def rotation(d, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def test_one_dimensional_value_by_hand():
    # N(0, 1) vs N(1, 4): (0 - 1)^2 + 1 + 4 - 2 sqrt(1 * 4) = 2
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0, abs=1e-12)


def test_diagonal_covariances_match_the_closed_form():
    rng = np.random.default_rng(0)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_commuting_covariances_match_the_closed_form():
    # same eigenvectors: tr (S1 S2)^(1/2) = sum sqrt(a_i b_i)
    rng = np.random.default_rng(1)
    d = 50
    q = rotation(d, 2)
    a, b = rng.uniform(0.01, 5, d), rng.uniform(0.01, 5, d)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu = rng.normal(size=d)
    expected = np.sum(mu ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu, s1, np.zeros(d), s2) == pytest.approx(expected, rel=1e-9)


def test_general_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(3)
    d = 40
    a1, a2 = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a1 @ a1.T / d + 0.1 * np.eye(d), a2 @ a2.T / d
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_identical_and_singular_statistics():
    rng = np.random.default_rng(4)
    f = rng.normal(size=(20, 100))  # fewer samples than features: singular covariance
    mu, s = f.mean(0), np.cov(f, rowvar=False)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    g = rng.normal(size=(20, 100)) + 1.0
    value = frechet_distance(mu, s, g.mean(0), np.cov(g, rowvar=False))
    assert np.isfinite(value) and value > 90  # the mean shift alone is about 100
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(mu, s, mu[:5], s)


def test_low_rank_factor_path_equals_the_dense_path():
    rng = np.random.default_rng(5)
    d = 60
    f, g = rng.normal(size=(9, d)), rng.normal(size=(300, d)) + 0.3
    a = (f - f.mean(0)).T / np.sqrt(8)  # sigma1 = a a^T, rank 8
    s1, s2 = a @ a.T, np.cov(g, rowvar=False)
    dense = frechet_distance(f.mean(0), s1, g.mean(0), s2)
    assert frechet_distance(f.mean(0), s1, g.mean(0), s2, factor1=a) == pytest.approx(dense, rel=1e-9)
    assert frechet_distance(g.mean(0), s2, f.mean(0), s1, factor2=a) == pytest.approx(dense, rel=1e-9)
    # the streaming statistics keep that factor while n <= d, and drop it beyond
    small = stats_of(Flatten(), torch.from_numpy(f).view(9, 1, 6, 10), quantize=False)
    assert small.factor.shape == (d, 9) and np.allclose(small.factor @ small.factor.T, small.sigma)
    big = stats_of(Flatten(), torch.from_numpy(g).view(300, 1, 6, 10), batch_size=64, quantize=False)
    assert big.factor is None
    assert small.distance(big) == pytest.approx(frechet_distance(small.mu, small.sigma, big.mu, big.sigma), rel=1e-9)


class Flatten:
    """Identity features (pixels), counting its calls."""

    def __init__(self, id="classifier:test-identity"):
        self.id, self.device, self.calls, self.dim = id, torch.device("cpu"), 0, None

    def features(self, x):
        self.calls += 1
        return x.flatten(1)


def test_streaming_statistics_equal_numpy():
    x = torch.rand(103, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    s = stats_of(Flatten(), x, batch_size=10, quantize=False)
    f = x.flatten(1).double().numpy()
    assert s.n == 103
    np.testing.assert_allclose(s.mu, f.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.sigma, np.cov(f, rowvar=False), rtol=1e-10, atol=1e-14)


def test_gaussian_features_give_the_closed_form():
    # features ~ N(mu_i, diag(v_i)) exactly known (inside [0, 1] but for ~1e-6 of the draws);
    # the estimate converges to the closed form
    d, n = 4, 200_000
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.tensor([0.4, 0.5, 0.6, 0.5]), torch.tensor([0.6, 0.5, 0.4, 0.5])
    v1, v2 = torch.tensor([0.001, 0.004, 0.009, 0.004]), torch.tensor([0.004, 0.004, 0.001, 0.009])
    x1 = (mu1 + v1.sqrt() * torch.randn(n, d, generator=g)).view(n, 1, 2, 2)
    x2 = (mu2 + v2.sqrt() * torch.randn(n, d, generator=g)).view(n, 1, 2, 2)
    ex = Flatten()
    ref = stats_of(ex, x2, batch_size=50_000, quantize=False)
    value = fid(x1, ref, ex, batch_size=50_000, quantize=False)
    expected = float(((mu1 - mu2) ** 2).sum() + ((v1.sqrt() - v2.sqrt()) ** 2).sum())
    assert value == pytest.approx(expected, rel=0.01)
    assert fid(x2, ref, ex, quantize=False) == pytest.approx(0.0, abs=1e-12)


def test_quantisation_rounds_to_grey_levels():
    x = torch.full((4, 1, 2, 2), 0.5)  # 127.5 -> 128 / 255
    s = stats_of(Flatten(), x)
    assert s.mu[0] == pytest.approx(128 / 255)


def test_statistics_round_trip(tmp_path):
    s = FeatureStats(np.arange(3.0), np.eye(3), 7, "classifier:x", {"a": 1})
    s.save(tmp_path / "s.npz")
    t = FeatureStats.load(tmp_path / "s.npz")
    assert np.array_equal(t.mu, s.mu) and np.array_equal(t.sigma, s.sigma)
    assert (t.n, t.extractor_id, t.meta) == (7, "classifier:x", {"a": 1})


def digits(**kw):
    return from_dict(ImageDataConfig, {"name": "digits8", "size": 8, **kw}, "data")


def test_reference_statistics_are_cached(tmp_path):
    ex = Flatten()
    cfg = digits()
    first = reference_stats(ex, cfg, tmp_path, n=100)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("digits8-train-8px-classifier-") and ex.calls == 1
    stamp = files[0].stat().st_mtime_ns
    again = reference_stats(ex, cfg, tmp_path, n=100, batch_size=7)
    assert ex.calls == 1 and files[0].stat().st_mtime_ns == stamp  # read back, not recomputed
    assert np.array_equal(again.mu, first.mu) and again.n == 100
    # the float range and dequantisation of the training config do not change the reference
    reference_stats(ex, digits(range="symmetric", dequantize=True), tmp_path, n=100)
    assert ex.calls == 1
    # a different sample count, or a different extractor, is a different file
    reference_stats(ex, cfg, tmp_path, n=50)
    reference_stats(Flatten("classifier:other"), cfg, tmp_path, n=100)
    assert len(list(tmp_path.iterdir())) == 3
    # the subset is the same seeded choice of images every time; the whole split when n is None
    assert reference_stats(Flatten(), cfg, tmp_path / "b", n=100).mu.tolist() == first.mu.tolist()
    assert reference_stats(Flatten(), cfg, tmp_path / "c").n == 1797


def test_reference_statistics_of_missing_data_fail_before_compute(tmp_path):
    ex = Flatten()
    cfg = from_dict(ImageDataConfig, {"name": "svhn", "root": str(tmp_path / "raw")}, "data")
    with pytest.raises(DataError, match="^svhn \\(train\\) not found in .*python -m ebmlab.data fetch svhn"):
        reference_stats(ex, cfg, tmp_path / "ref")
    assert ex.calls == 0 and not (tmp_path / "ref").exists()


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(fidmod.WEIGHTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_missing_inception_weights_is_one_line(no_weights):
    hub = no_weights / "torch/hub/checkpoints"
    with pytest.raises(DataError) as err:
        build_extractor("inception", device="cpu")
    assert str(err.value) == (
        f"FID Inception weights pt_inception-2015-12-05-6726825d.pth not found in $EBMLAB_FID_WEIGHTS, data/weights/ "
        f"or {hub}/: download https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        f"pt_inception-2015-12-05-6726825d.pth into data/weights/ ('python -m ebmlab.metrics.fid weights --fetch' "
        f"or 'dvc pull data/dvc.yaml:fetch_inception' once it was pushed to the DVC remote) or point $EBMLAB_FID_WEIGHTS at the file")
    os.environ[fidmod.WEIGHTS_ENV] = str(no_weights / "nope.pth")
    try:
        with pytest.raises(DataError, match=f"^\\$EBMLAB_FID_WEIGHTS={no_weights}/nope.pth is not a file: download"):
            build_extractor("inception")
    finally:
        del os.environ[fidmod.WEIGHTS_ENV]
    with pytest.raises(DataError, match="^FID Inception weights w.pth not found: download"):
        build_extractor("inception", weights="w.pth")


def test_wrong_weights_file_is_refused(no_weights):
    bad = no_weights / "data/weights/pt_inception-2015-12-05-6726825d.pth"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the weights")
    with pytest.raises(DataError, match=f"^{bad.relative_to(no_weights)} is not the FID Inception weights "
                                        f"\\(sha256 [0-9a-f]{{8}}\\.\\.\\., expected 6726825d\\.\\.\\.\\): download"):
        build_extractor("inception")


def test_weights_are_found_in_the_hub_cache_and_loaded_into_pytorch_fid_inception(no_weights, monkeypatch, standin):
    hub = no_weights / "torch/hub/checkpoints"
    hub.mkdir(parents=True)
    path = hub / fidmod.INCEPTION_FILE
    torch.save(fidmod.standin_weights(seed=0), path)
    monkeypatch.setattr(fidmod, "INCEPTION_SHA256_PREFIX", file_sha256(path)[:8])
    real = build_extractor("inception")
    assert real.id == "inception:pool3:pt_inception-2015-12-05-6726825d.pth" and is_real_fid(real.id)
    assert real.input_size == 299
    a, b = real.net.state_dict(), standin.net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def standin():
    return build_extractor("inception_standin")


def test_standin_is_seeded_labelled_and_scores_images(standin):
    ex = standin
    assert "standin" in ex.id and metric_kind(ex.id) == "inception_standin" and not is_real_fid(ex.id)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # grey, any size
    f = ex.features(x)
    assert f.shape == (6, 2048) and torch.isfinite(f).all() and f.std() > 1e-3
    assert torch.equal(build_extractor("inception_standin").features(x), f)
    assert not torch.equal(build_extractor("inception_standin", seed=1).features(x), f)
    ref = stats_of(ex, x)
    assert ref.factor is not None  # 6 images < 2048 features: the fast exact path
    assert fid(x, ref, ex) == pytest.approx(0.0, abs=1e-6)
    assert fid(1 - x, ref, ex) > 0
    with pytest.raises(ValueError, match="reference statistics come from 'classifier:x'"):
        fid(x, FeatureStats(ref.mu, ref.sigma, 6, "classifier:x"), ex)


def test_columns_keep_substitutes_out_of_fid_columns():
    real = "inception:pool3:pt_inception-2015-12-05-6726825d.pth"
    standin = "inception_standin:pool3:random-seed0:75px"
    clf = "classifier:penultimate:mnist.pt:sha256=0123456789ab"
    assert column_for(real, "fid_reproduced") == "fid_reproduced" and column_for(real) == "fid"
    assert column_for(standin, "fid_reproduced") == "inception_standin_fid"
    assert column_for(clf, "fid_reproduced") == "classifier_frechet_substitute"
    check_column("fid_reproduced", real)
    check_column("classifier_frechet_substitute", clf)
    with pytest.raises(ValueError, match="column 'fid_reproduced' holds real-Inception FIDs only"):
        check_column("fid_reproduced", standin)
    with pytest.raises(ValueError, match="use 'classifier_frechet_substitute'"):
        check_column("fid", clf)
    with pytest.raises(ValueError, match="unknown extractor id"):
        metric_kind("resnet:whatever")


def test_unknown_extractor_and_classifier_without_weights():
    from ebmlab.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown feature extractor 'vgg'"):
        build_extractor("vgg")
    with pytest.raises(ConfigError, match="the classifier extractor needs weights"):
        build_extractor("classifier")


def test_cli_weights_reports_where_or_how(no_weights, capsys):
    assert fidmod.main(["weights"]) == 2
    assert capsys.readouterr().err.startswith("error: FID Inception weights pt_inception-2015-12-05-6726825d.pth "
                                              "not found")


def test_cli_reference_writes_the_cached_file_once(tmp_path, capsys):
    args = ["reference", "--config", "{data: {name: digits8, size: 8}, extractor: inception_standin, n: 20, "
            "device: cpu}", "--cache-dir", str(tmp_path)]
    assert fidmod.main(args) == 0
    files = list(tmp_path.glob("digits8-train-8px-inception_standin-*.npz"))
    assert len(files) == 1 and f"{files[0]}: 20 images, 2048 features" in capsys.readouterr().out
    assert FeatureStats.load(files[0]).extractor_id == "inception_standin:pool3:random-seed0:75px"
