"""Metrics of hp.tl.evaluate against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from hyperperturb.tl._metrics import (
    js_divergence_rows,
    pearson,
    row_normalise,
    score_split,
    spearman,
    topk_recall,
)


def test_pearson_spearman_hand_values():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 2.0, 4.0])
    # centred: x=(-1,0,1), y=(-4/3,-1/3,5/3): r = 3 / sqrt(2 * 42/9)
    assert pearson(x, y) == pytest.approx(3 / np.sqrt(2 * 42 / 9))
    assert spearman(x, y) == pytest.approx(1.0)
    assert spearman(x, -y) == pytest.approx(-1.0)
    # ties get average ranks: ranks (1.5, 1.5, 3) vs (1, 2, 3)
    assert spearman(np.array([1.0, 1.0, 2.0]), x) == pytest.approx(pearson(np.array([1.5, 1.5, 3.0]), x))


def test_constant_profile_gives_nan():
    assert np.isnan(pearson(np.ones(4), np.arange(4.0)))
    assert np.isnan(spearman(np.arange(4.0), np.zeros(4)))


def test_topk_recall_hand_value():
    pred = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    obs = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert topk_recall(pred, obs, k=2) == pytest.approx(0.5)  # {0, 2} vs {0, 1}
    assert topk_recall(pred, obs, k=5) == pytest.approx(1.0)
    assert topk_recall(obs, obs, k=3) == pytest.approx(1.0)
    assert topk_recall(pred, obs, k=50) == pytest.approx(1.0)  # k capped by the length


def test_js_divergence_bounds():
    P = np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75]])
    Q = np.array([[0.0, 1.0], [0.5, 0.5], [0.75, 0.25]])
    js = js_divergence_rows(P, Q)
    assert js[0] == pytest.approx(np.log(2))
    assert js[1] == pytest.approx(0.0)
    m = np.array([0.5, 0.5])
    kl = lambda a, b: float((a * np.log(a / b)).sum())
    assert js[2] == pytest.approx(0.5 * kl(P[2], m) + 0.5 * kl(Q[2], m))


def test_row_normalise_zero_row_uniform():
    out = row_normalise(np.array([[1.0, 3.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]])


def test_score_split_uses_excess_over_noise_floor():
    rng = np.random.default_rng(0)
    B = rng.uniform(1, 5, 50)  # noise floor dominates raw rewards
    v = rng.normal(size=(50, 3))
    obs = B[:, None] + 0.1 * v
    pred_good = B[:, None] + 0.2 * v  # same excess pattern, different scale
    pred_floor = np.repeat(B[:, None], 3, axis=1) + 1e-3 * rng.normal(size=(50, 3))
    metrics = ("spearman_excess", "pearson_excess", "spearman_raw", "topk_recall", "js_policy", "spearman_value")
    good, gs = score_split(pred_good, obs, B, excess=True, metrics=metrics)
    floor, _ = score_split(pred_floor, obs, B, excess=True, metrics=metrics)
    np.testing.assert_allclose(good["spearman_excess"], 1.0)
    np.testing.assert_allclose(good["pearson_excess"], 1.0)
    np.testing.assert_allclose(good["topk_recall"], 1.0)
    assert (floor["spearman_raw"] > 0.9).all()  # raw rewards reward the noise floor...
    assert (np.abs(floor["spearman_excess"]) < 0.5).all()  # ...the excess does not
    assert set(gs) == {"js_policy", "spearman_value"}
    assert 0 <= gs["js_policy"] <= np.log(2)
