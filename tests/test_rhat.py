"""R-hat against values computed by hand from the thesis's formulas (section 2.2.6)."""

import numpy as np
import pytest
import torch

from ebmlab.diagnostics import rhat, rhat_components, split_rhat


def test_two_chains_by_hand():
    # chains [1,2,3] and [4,5,6]: means 2, 5; grand mean 3.5
    # B = 3/1 * (1.5^2 + 1.5^2) = 13.5;  W = (1 + 1) / 2 = 1
    # var+ = 2/3 * 1 + 13.5 / 3 = 5.1667;  R = sqrt(5.1667)
    c = rhat_components([[1, 2, 3], [4, 5, 6]])
    assert c["B"] == pytest.approx(13.5)
    assert c["W"] == pytest.approx(1.0)
    assert c["var_plus"] == pytest.approx(2 / 3 + 4.5)
    assert c["rhat"] == pytest.approx(np.sqrt(2 / 3 + 4.5))


def test_split_rhat_by_hand():
    # halves [1,3] [2,4] [5,7] [6,8]: means 2,3,6,7 (grand 4.5), each s^2 = 2
    # B = 2/3 * (2.5^2 + 1.5^2 + 1.5^2 + 2.5^2) = 34/3;  var+ = 1/2 * 2 + 34/6
    expected = np.sqrt((1 + 34 / 6) / 2)
    assert split_rhat([[1, 3, 2, 4], [5, 7, 6, 8]]) == pytest.approx(expected)


def test_trailing_dimensions_are_independent_statistics():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4, 50, 3))
    draws[:, :, 1] += np.arange(4)[:, None] * 5  # coordinate 1: chains disagree
    r = rhat(torch.from_numpy(draws))
    assert r.shape == (3,)
    assert r[1] > 5 and abs(r[0] - 1) < 0.1 and abs(r[2] - 1) < 0.1
    for j in range(3):
        assert r[j] == pytest.approx(rhat(draws[:, :, j]))


def test_identical_chains_give_one_and_stuck_chains_infinity():
    rng = np.random.default_rng(1)
    iid = rng.normal(size=(10, 4000))
    assert rhat(iid) == pytest.approx(1.0, abs=0.01)
    stuck = np.repeat(np.arange(3.0)[:, None], 5, axis=1)  # constant, different chains
    assert np.isinf(rhat(stuck))


def test_split_rhat_detects_a_trend_plain_rhat_misses():
    t = np.linspace(0, 10, 200)
    draws = np.stack([t, t])  # two identical drifting chains
    assert rhat(draws) == pytest.approx(np.sqrt(199 / 200))
    assert split_rhat(draws) > 1.5


@pytest.mark.parametrize("shape", [(1, 10), (5, 1), (5,)])
def test_too_few_chains_or_draws(shape):
    with pytest.raises(ValueError):
        rhat(np.zeros(shape))
