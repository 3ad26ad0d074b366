"""Metrics of hp.tl.evaluate against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from hyperperturb.tl._evaluation._metrics import (
    auroc_rows,
    js_divergence_rows,
    majority_vote_scores,
    pearson,
    residual_pearson,
    retrieval,
    row_normalise,
    score_split,
    spearman,
    spearman_brown,
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


def test_residual_pearson_hand_value():
    m = np.array([1.0, 1.0, 1.0, 1.0])
    obs = m + np.array([3.0, -2.0, 1.0, 0.5])  # top-3 |delta|: genes 0, 1, 2
    pred = m + np.array([1.0, 2.0, 3.0, 4.0])
    # x = (1, 2, 3) centred (-1, 0, 1); y = (3, -2, 1) centred (7/3, -8/3, 1/3): r = -2 / sqrt(2 * 114/9)
    assert residual_pearson(pred, obs, m, k=3) == pytest.approx(-2 / np.sqrt(2 * 114 / 9))
    assert residual_pearson(obs, obs, m, k=3) == pytest.approx(1.0)  # a perfect predictor
    assert residual_pearson(2 * obs - m, obs, m, k=3) == pytest.approx(1.0)  # scale-free


def test_residual_pearson_mean_baseline_is_exactly_zero():
    rng = np.random.default_rng(0)
    R_train = rng.uniform(0, 2, (40, 6))
    m = R_train.mean(axis=1)
    obs = rng.uniform(0, 2, 40)
    assert residual_pearson(m, obs, m, k=20) == 0.0
    # the same mean reached by another route (floating-point noise only) is still "no change"
    assert residual_pearson(m * (1 + 1e-15), obs, m, k=20) == 0.0
    assert residual_pearson(m + 0.3, obs, m, k=20) == 0.0  # a constant shift carries no gene-specific signal
    assert np.isnan(residual_pearson(obs, m, m, k=20))  # nothing observed to predict


def test_retrieval_hand_values():
    cand = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [-1.0, 0.0, -1.0], [0.0, -1.0, -1.0]])
    # the true profile is column 0; a perfect prediction is ranked first
    assert retrieval(cand[:, 0], cand, 0, scale=1.0) == (0.0, 1.0)
    # a prediction equal to column 1: column 0 has r = 0, column 2 has r ~ 0.71 > 0: two better -> rank 1
    rank, top1 = retrieval(cand[:, 1], cand, 0, scale=1.0)
    assert rank == pytest.approx(1.0) and top1 == 0.0
    # a constant prediction ties every candidate: rank 0.5, expected top-1 1/C
    assert retrieval(np.zeros(4), cand, 0, scale=1.0) == (0.5, pytest.approx(1 / 3))
    assert np.isnan(retrieval(cand[:, 0], cand[:, :1], 0, scale=1.0)[0])


def test_auroc_rows_hand_values():
    scores = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [1.0, 2.0, 3.0, 4.0]])
    labels = np.array([[0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)
    auc = auroc_rows(scores, labels)
    assert auc[0] == pytest.approx(1.0)
    assert auc[1] == pytest.approx(0.75)  # pairs (2>1, 2<3, 4>1, 4>3): 3 of 4
    assert auc[2] == 0.5  # constant scores
    assert np.isnan(auc[3])  # one class only
    # ties between a positive and a negative count one half
    assert auroc_rows(np.array([[1.0, 1.0, 2.0]]), np.array([[True, False, False]]))[0] == pytest.approx(0.25)


def test_majority_vote_scores_leave_the_gene_out():
    Y = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(majority_vote_scores(Y), [[1, 1, 1], [1, 0, 2], [2, 1, 1]])


def test_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == pytest.approx(1.0)
    assert spearman_brown(0.0) == 0.0
    assert spearman_brown(-0.2) == pytest.approx(-0.2)  # reported as measured
    np.testing.assert_allclose(spearman_brown(np.array([0.25, np.nan])), [0.4, np.nan])


def test_score_split_residual_and_retrieval_for_perfect_and_mean_predictors():
    rng = np.random.default_rng(1)
    R = rng.uniform(0.5, 2.0, (50, 8))
    train, held = R[:, :5], R[:, 5:]
    m = train.mean(axis=1)
    kw = {
        "excess": True,
        "metrics": ("residual_pearson", "retrieval_rank", "retrieval_top1"),
        "train_mean": m,
        "candidates": held,
        "true_index": np.arange(3),
    }
    perfect, _ = score_split(held, held, np.zeros(50), **kw)
    np.testing.assert_allclose(perfect["residual_pearson"], 1.0)
    np.testing.assert_array_equal(perfect["retrieval_rank"], 0.0)
    np.testing.assert_array_equal(perfect["retrieval_top1"], 1.0)
    mean, _ = score_split(np.repeat(m[:, None], 3, axis=1), held, np.zeros(50), **kw)
    np.testing.assert_array_equal(mean["residual_pearson"], 0.0)
    np.testing.assert_array_equal(mean["retrieval_rank"], 0.5)
    np.testing.assert_allclose(mean["retrieval_top1"], 1 / 3)
    with pytest.raises(ValueError, match="train_mean"):
        score_split(held, held, np.zeros(50), excess=True, metrics=("residual_pearson",))


def test_blocked_retrieval_matches_the_reference(monkeypatch):
    """Issue 16: large screens score retrieval in blocks; same ranks and top-1 as one candidate copy per perturbation."""
    from hyperperturb.tl._evaluation import _metrics as M

    rng = np.random.default_rng(0)
    G, C, n = 40, 30, 9
    cand = rng.gamma(2.0, 1.0, (G, C))
    true_index = rng.choice(C, n, replace=False)
    obs = cand[:, true_index] + rng.normal(0, 0.3, (G, n))
    pred = obs + rng.normal(0, 1.0, (G, n))
    m = cand.mean(axis=1)
    pred[:, 0] = m  # constant delta: ties everything
    cand[:, true_index[1]] = 1.0
    obs[:, 1] = m  # constant observed delta: nan
    kw = {"excess": True, "metrics": ("retrieval_rank", "retrieval_top1"), "train_mean": m, "candidates": cand}
    ref, _ = M.score_split(pred, obs, np.zeros(G), true_index=true_index, **kw)
    monkeypatch.setattr(M, "RETRIEVAL_BLOCKED", 0)
    monkeypatch.setattr(M, "_RETRIEVAL_BLOCK", 2 * C)  # two held-out perturbations per block
    blk, _ = M.score_split(pred, obs, np.zeros(G), true_index=true_index, **kw)
    for key in ("retrieval_rank", "retrieval_top1"):
        np.testing.assert_allclose(blk[key], ref[key], rtol=0, atol=1e-12, equal_nan=True)
    assert ref["retrieval_rank"][0] == 0.5 and np.isnan(ref["retrieval_rank"][1])
    assert np.isfinite(ref["retrieval_rank"][2:]).all()
