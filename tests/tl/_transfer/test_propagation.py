"""The propagation readout (``tl._transfer._propagation``): operator, propagation, gains, and its choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from hyperperturb.tl._transfer._propagation import (
    MAX_LOG_LEVEL,
    NORMS,
    candidate_profiles,
    full_gain,
    gene_gain,
    log_shift,
    loo_gain,
    loo_gene_gain,
    node_operator,
    normalise,
    profile,
    propagate,
    usable_level,
)
from hyperperturb.tl._transfer._transfer import fit_transfer


def _chain():
    """A -> B -> C -> D, A -| E (genes 0..4)."""
    D = sparse.csr_matrix(([1.0, 1.0, 1.0, -1.0], ([0, 1, 2, 0], [1, 2, 3, 4])), shape=(5, 5))
    return D, (D + D.T).astype(bool).astype(float)


def test_propagation_follows_direction_and_sign():
    D, A = _chain()
    M = node_operator(D, abs(A), 5)
    x = propagate(M, np.array([0]), alpha=1.0, hops=3)[:, 0]
    np.testing.assert_allclose(x, [0, 1, 1, 1, -1])  # downstream of A only, E with the repressor's sign
    x1 = propagate(M, np.array([0]), alpha=0.0)[:, 0]
    np.testing.assert_allclose(x1, [0, 1, 0, 0, -1])  # direct targets only
    xc = propagate(M, np.array([2]), alpha=1.0)[:, 0]
    np.testing.assert_allclose(xc, [0, 0, 0, 1, 0])  # C moves D, never its regulators
    xh = propagate(M, np.array([0]), alpha=0.5, hops=3)[:, 0]
    np.testing.assert_allclose(xh, [0, 1, 0.5, 0.25, -1])
    assert not propagate(M, np.array([-1]), alpha=1.0).any()  # no target node: nothing moves


def test_without_direction_the_symmetric_signed_adjacency_is_used():
    A = sparse.csr_matrix(([0.5, 0.5, 1.0, 1.0], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    S = sparse.csr_matrix(([-1.0, -1.0, 1.0, 1.0], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    M = node_operator(None, A, 3, sign=S)
    np.testing.assert_allclose(M.toarray(), [[0, -0.5, 0], [-0.5, 0, 1], [0, 1, 0]])


def test_extra_node_edges_go_both_ways_and_parallel_paths_cancel():
    D = sparse.csr_matrix(([1.0, -1.0], ([0, 1], [2, 2])), shape=(3, 3))  # 0 -> 2, 1 -| 2
    # extra node 3 (unmeasured target) linked to genes 0 and 1 with weight 1
    M = node_operator(D, sparse.csr_matrix((4, 4)), 4, extra_edges=(np.array([3, 3]), np.array([0, 1]), np.ones(2)))
    x = propagate(M, np.array([3]), alpha=1.0, hops=2)[:, 0]
    assert x[0] == 1 and x[1] == 1 and x[2] == 0  # the two paths to gene 2 have opposite signs


def test_in_normalisation_divides_by_the_targets_input_strength():
    D = sparse.csr_matrix(([1.0, -1.0, 2.0], ([0, 1, 0], [2, 2, 1])), shape=(3, 3))
    Mn = normalise(node_operator(D, sparse.csr_matrix((3, 3)), 3), "in").toarray()
    np.testing.assert_allclose(Mn[:, 2], [0.5, -0.5, 0])
    np.testing.assert_allclose(Mn[:, 1], [1, 0, 0])
    with pytest.raises(ValueError, match="normalisation"):
        normalise(sparse.csr_matrix((2, 2)), "out")


def test_gains_by_hand():
    rng = np.random.default_rng(0)
    B = np.abs(rng.normal(size=(6, 5)))
    R = 2.0 * B + 0.01 * rng.normal(size=B.shape)
    assert full_gain(R, B) == pytest.approx(2.0, abs=0.02)
    loo = loo_gain(R, B)
    for j in range(5):
        keep = np.arange(5) != j
        assert loo[j] == pytest.approx(full_gain(R[:, keep], B[:, keep]))
    assert full_gain(-R, B) == 0.0  # never negative
    # per-gene gains: no shrinkage towards the common gain is the gene's own least-squares fit
    R2 = R * np.arange(1, 7)[:, None]
    g = gene_gain(R2, B, 1e-12)
    np.testing.assert_allclose(g, 2.0 * np.arange(1, 7), rtol=0.02)
    np.testing.assert_allclose(gene_gain(R2, B, float("inf")), full_gain(R2, B))
    lg = loo_gene_gain(R2, B, 1e-12)
    np.testing.assert_allclose(lg[:, 0], gene_gain(R2[:, 1:], B[:, 1:], 1e-12), rtol=1e-6)


def _knockout_screen(n_tf=12, n_targets=8, seed=0, noise=0.05):
    """Excess profiles of a two-layer regulatory screen: each TF moves its own targets (and the TF itself)."""
    rng = np.random.default_rng(seed)
    G = n_tf + n_tf * n_targets
    rows, cols, vals = [], [], []
    for t in range(n_tf):
        tg = n_tf + t * n_targets + np.arange(n_targets)
        rows += [t] * n_targets
        cols += list(tg)
        vals += list(rng.choice([-1.0, 1.0], n_targets))
    D = sparse.csr_matrix((vals, (rows, cols)), shape=(G, G))
    E = noise * rng.normal(size=(G, n_tf))
    for t in range(n_tf):
        E[D[t].indices, t] += rng.uniform(0.5, 1.0, n_targets)
        E[t, t] += 1.5
    return E, D, np.arange(n_tf)


def test_fit_transfer_chooses_the_propagation_when_the_network_explains_the_effects():
    E, D, target_row = _knockout_screen()
    G = E.shape[0]
    M = node_operator(D, sparse.csr_matrix((G, G)), G)
    cv = np.arange(E.shape[1])
    props = candidate_profiles(M, target_row[cv], G)
    fit = fit_transfer(E, cv, distances={}, rel=None, target_row=target_row, propagation=props)
    assert fit["source"] == "propagation"
    assert fit["cv_score"] > fit["prior_cv_score"] + 0.1
    assert np.asarray(fit["prop_beta"]).shape == (G,)
    # a network that points at the wrong genes is not kept (the one-standard-error rule)
    perm = np.random.default_rng(1).permutation(G)
    Dw = sparse.csr_matrix(D.toarray()[:, perm])
    Mw = node_operator(Dw, sparse.csr_matrix((G, G)), G)
    fit_w = fit_transfer(
        E, cv, distances={}, rel=None, target_row=target_row, propagation=candidate_profiles(Mw, target_row, G)
    )
    assert fit_w["source"] == "none"


def test_scaled_on_target_term_follows_the_targets_control_level():
    rng = np.random.default_rng(3)
    G, n = 30, 12
    level = rng.uniform(0.2, 3.0, n)
    E = 0.05 * rng.normal(size=(G, n))
    E[np.arange(n), np.arange(n)] += 0.8 * level  # a knock-out removes what the gene had
    fit = fit_transfer(E, np.arange(n), distances={}, rel=None, target_row=np.arange(n), target_level=level)
    assert fit["on_target_mode"] == "scaled"
    assert fit["on_target"] == pytest.approx(0.8, rel=0.1)
    fit_c = fit_transfer(E, np.arange(n), distances={}, rel=None, target_row=np.arange(n))
    assert fit_c["on_target_mode"] == "constant" and fit_c["cv_score"] < fit["cv_score"]


def test_gene_network_stores_the_direction_and_sign_of_an_edge_list():
    import anndata as ad

    import hyperperturb as hp

    a = ad.AnnData(np.zeros((3, 4), np.float32), var=pd.DataFrame(index=list("ABCD")))
    df = pd.DataFrame({"source": ["A", "A", "C"], "target": ["B", "D", "B"], "weight": [1.0, -1.0, 1.0]})
    hp.pp.gene_network(a, df)
    Dm = a.varp["hp_adjacency_directed"].toarray()
    want = np.zeros((4, 4))
    want[0, 1], want[0, 3], want[2, 1] = 1, -1, 1
    np.testing.assert_array_equal(Dm, want)
    assert a.uns["hyperperturb"]["network"]["directed_key"] == "hp_adjacency_directed"
    np.testing.assert_array_equal(a.varp["hp_adjacency"].toarray(), (want != 0) | (want.T != 0))


def test_in_sample_excess_leans_on_the_readout_for_noisy_genes_only():
    from hyperperturb.tl._model._readout import in_sample_excess

    rng = np.random.default_rng(0)
    n = 40
    truth = np.zeros((2, n))
    truth[:, :5] = 1.0
    B = np.array([0.5, 0.01])  # gene 0 noisy, gene 1 precise
    E = truth + rng.normal(size=(2, n)) * (B * np.sqrt(np.pi / 2))[:, None]
    loo = truth + 0.1 * rng.normal(size=truth.shape)  # a readout with small errors
    post = in_sample_excess(E, loo, B)
    err = lambda X: np.abs(X - truth).mean(axis=1)
    assert err(post)[0] < 0.5 * err(E)[0]  # the noisy gene is denoised
    np.testing.assert_allclose(post[1], E[1], atol=0.01)  # the precise gene keeps its data
    bad = rng.permutation(truth.T).T  # a readout that is wrong everywhere: the data stays close to itself
    assert err(in_sample_excess(E, bad, B))[1] < 0.05


def test_log_shift_by_hand():
    L = np.array([2.0, 0.05, 3.0, 8.0])
    x = np.array([[1.0], [0.5], [-0.5], [0.5]])
    got = log_shift(x, L)[:, 0]
    assert got[0] == pytest.approx(2.0)  # all of the input lost: the gene drops by its whole log level
    assert got[1] == pytest.approx(0.05 - np.log1p(np.expm1(0.05) * 0.5))  # lowly expressed: small
    assert got[1] < 0.03
    assert got[2] == pytest.approx(np.log1p(np.expm1(3.0) * 1.5) - 3.0)  # a repressed gene gains
    assert got[3] == pytest.approx(np.log(2.0), rel=1e-3)  # well expressed, half lost: log 2
    assert log_shift(np.array([[2.5]]), np.array([1.2]))[0, 0] == pytest.approx(1.2)  # beyond all: capped at L
    xs = np.linspace(0, 1, 11)[None, :]
    ys = log_shift(xs, np.array([1.5]))[0]
    assert ys[0] == 0.0 and np.all(np.diff(ys) > 0)  # nothing lost: no shift; more lost: larger shift


def test_usable_level_refuses_what_cannot_be_a_log1p_level():
    assert usable_level(None, 3) is None
    assert usable_level(np.array([1.0, 2.0]), 3) is None  # wrong length
    assert usable_level(np.array([1.0, np.nan, 2.0]), 3) is None
    assert usable_level(np.array([1.0, -0.2, 2.0]), 3) is None  # a centred or scaled layer
    np.testing.assert_allclose(usable_level(np.array([0.0, 1.0, 1e6]), 3), [0.0, 1.0, MAX_LOG_LEVEL])


def test_in_log_candidates_need_the_control_means():
    D, _ = _chain()
    M = node_operator(D, sparse.csr_matrix((5, 5)), 5)
    src = np.array([0, 1])
    without = candidate_profiles(M, src, 5)  # no usable control means: the in-normalised change as it is
    assert {k.split("/")[0] for k in without} == {"none", "in"}
    negative = candidate_profiles(M, src, 5, level=np.array([1.0, -2.0, 0.5, 3.0, 1.5]))  # a centred layer
    assert set(negative) == set(without)
    np.testing.assert_allclose(without["in/0"], np.abs(propagate(normalise(M, "in"), src, alpha=0.0)))
    level = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    withl = candidate_profiles(M, src, 5, level=level)
    assert {k.split("/")[0] for k in withl} == set(NORMS) == {"none", "in-log"}
    # A -> B: B (single input) loses all of it and drops by its whole level; A -| E: E gains all of its input
    direct = withl["in-log/0"]
    assert direct[1, 0] == pytest.approx(2.0)
    assert direct[4, 0] == pytest.approx(np.log1p(np.expm1(1.5) * 2.0) - 1.5)
    assert direct[0, 0] == 0.0
    with pytest.raises(ValueError, match="hp_control_mean"):
        profile(M, src, 5, norm="in-log", alpha=0.0, level=None)
    # the previous grid's "in" is still computed for models stored with it
    np.testing.assert_allclose(
        profile(M, src, 5, norm="in", alpha=0.0, level=None), np.abs(propagate(normalise(M, "in"), src, alpha=0.0))
    )


def _shared_input_screen(n_tf=16, n_targets=120, seed=0, noise=0.03):
    """Targets with 1-4 activating TFs; a knock-out's effect is the log1p shift of the input share it removes."""
    rng = np.random.default_rng(seed)
    G = n_tf + n_targets
    level = rng.uniform(0.3, 3.0, G)
    rows, cols = [], []
    for t in range(n_targets):
        regs = rng.choice(n_tf, size=int(rng.integers(1, 5)), replace=False)
        rows += list(regs)
        cols += [n_tf + t] * len(regs)
    D = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(G, G))
    indeg = np.asarray(D.sum(axis=0)).ravel()
    E = noise * rng.normal(size=(G, n_tf))
    for tf in range(n_tf):
        tg = D[tf].indices
        E[tg, tf] += level[tg] - np.log1p(np.expm1(level[tg]) * (1 - 1 / indeg[tg]))
        E[tf, tf] += level[tf]
    return E, D, np.arange(n_tf), level


def test_fit_transfer_prefers_in_log_when_effects_are_log_shifts_of_lost_input():
    E, D, target_row, level = _shared_input_screen()
    G = E.shape[0]
    M = node_operator(D, sparse.csr_matrix((G, G)), G)
    cv = np.arange(E.shape[1])
    kw = {"distances": {}, "rel": None, "target_row": target_row, "target_level": level[target_row]}
    fit = fit_transfer(E, cv, propagation=candidate_profiles(M, target_row, G, level=level), **kw)
    assert fit["source"] == "propagation" and fit["prop_norm"] == "in-log"
    old = {f"{n}/{a:g}": profile(M, target_row, G, norm=n, alpha=a, level=None) for n in ("none", "in") for a in (0, 1)}
    fit_old = fit_transfer(E, cv, propagation=old, **kw)
    assert fit["cv_score"] > fit_old["propagation_cv_score"] + 0.02
