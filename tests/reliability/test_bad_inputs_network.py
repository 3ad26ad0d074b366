"""Bad-input matrix for ``hp.pp.gene_network``: messy networks, identifiers, shapes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._data import screen
from ._snapshot import assert_unchanged, snapshot


def _edges(rows):
    return pd.DataFrame(rows, columns=["a", "b", "score"])


def _fails(adata, exc, match, *args, **kwargs):
    snap = snapshot(adata)
    with pytest.raises(exc, match=match):
        hp.pp.gene_network(adata, *args, **kwargs)
    assert_unchanged(adata, snap)


def _adj(adata):
    A = adata.varp["hp_adjacency"]
    assert sparse.isspmatrix_csr(A)
    assert (abs(A - A.T) > 0).nnz == 0, "adjacency must be symmetric"
    assert A.diagonal().sum() == 0, "no self-loops"
    if A.nnz:
        assert A.data.min() > 0 and A.data.max() <= 1
    return A.toarray()


def test_self_loops_dropped_duplicates_keep_max():
    a = screen()
    net = _edges([("G0", "G0", 0.9), ("G0", "G1", 0.2), ("G1", "G0", 0.6), ("G0", "G1", 0.4), ("G2", "G3", 0.5)])
    hp.pp.gene_network(a, net)
    A = _adj(a)
    assert A[0, 1] == pytest.approx(0.6) and A[2, 3] == pytest.approx(0.5)
    assert get_ledger(a)["network"]["n_edges"] == 2


def test_isolated_genes_are_counted():
    a = screen(n_genes=12)
    hp.pp.gene_network(a, _edges([("G0", "G1", 1.0)]))
    led = get_ledger(a)["network"]
    assert led["n_connected"] == 2 and led["n_isolated"] == 10
    assert _adj(a)[5].sum() == 0


def test_negative_weights_are_signs():
    a = screen()
    hp.pp.gene_network(a, _edges([("G0", "G1", -0.5), ("G1", "G2", 0.5)]))
    A = _adj(a)
    assert A[0, 1] == pytest.approx(0.5) and A[1, 2] == pytest.approx(0.5)
    S = a.varp["hp_adjacency_sign"].toarray()
    assert S[0, 1] == S[1, 0] == -1 and S[1, 2] == 1


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_string_scores_0_1000_equal_0_1(scale):
    ref = screen()
    rows = [("G0", "G1", 0.9), ("G1", "G2", 0.4), ("G3", "G4", 0.75)]
    hp.pp.gene_network(ref, _edges(rows))
    a = screen()
    hp.pp.gene_network(a, _edges([(x, y, w * scale) for x, y, w in rows]))
    np.testing.assert_allclose(_adj(a), _adj(ref), rtol=1e-6)


def test_nan_weights_rejected_or_dropped():
    a = screen()
    snap = snapshot(a)
    try:
        hp.pp.gene_network(a, _edges([("G0", "G1", np.nan), ("G1", "G2", 0.5)]))
    except ValueError as e:  # a clear error is fine
        assert "NaN" in str(e) or "finite" in str(e) or "missing" in str(e)
        assert_unchanged(a, snap)
    else:  # or the NaN edge is dropped: no NaN may reach the adjacency
        assert np.isfinite(a.varp["hp_adjacency"].data).all()


@pytest.mark.parametrize("shape", [(11, 11), (12, 11), (13, 13)])
def test_adjacency_of_wrong_shape(shape):
    _fails(screen(n_genes=12), ValueError, r"shape.*12 x 12", np.ones(shape))


def test_matrix_with_nan():
    M = np.eye(12)[::-1].copy()
    M[0, 1] = np.nan
    _fails(screen(n_genes=12), ValueError, "NaN or infinite", M)


@pytest.mark.parametrize("fmt", ["dense", "csr", "coo", "csc"])
def test_matrix_formats_agree(fmt):
    rng = np.random.default_rng(0)
    M = rng.random((12, 12)) * (rng.random((12, 12)) < 0.2)
    M = np.maximum(M, M.T)
    np.fill_diagonal(M, 0)
    mats = {"dense": M, "csr": sparse.csr_matrix(M), "coo": sparse.coo_matrix(M), "csc": sparse.csc_matrix(M)}
    a = screen(n_genes=12)
    hp.pp.gene_network(a, mats[fmt])
    np.testing.assert_allclose(_adj(a), M, rtol=1e-5)  # weights already in [0, 1]: unscaled


def test_no_matching_ids_says_use_mapping():
    a = screen()
    _fails(a, ValueError, r"No gene of the network matches var_names.*mapping=", _edges([("X1", "X2", 1.0)]))


def test_ensembl_var_names_with_mapping_table():
    a = screen(n_genes=6)
    ens = [f"ENSG{i:011d}" for i in range(6)]
    a.var_names = ens
    table = pd.DataFrame({"hgnc_symbol": [f"G{i}" for i in range(6)], "ensembl_gene_id": ens})
    net = _edges([("G0", "G1", 0.8), ("G2", "G3", 0.6), ("G4", "NOTMEASURED", 0.9)])
    with pytest.raises(ValueError, match="mapping"):
        hp.pp.gene_network(a.copy(), net)
    hp.pp.gene_network(a, net, mapping=table)
    A = _adj(a)
    assert A[0, 1] == pytest.approx(0.8) and A[2, 3] == pytest.approx(0.6)
    assert get_ledger(a)["network"]["n_matched"] == 5


def test_duplicated_var_names():
    a = screen()
    a.var_names = ["G0"] * a.n_vars
    _fails(a, ValueError, r"var_names are not unique.*var_names_make_unique", _edges([("G0", "G1", 1.0)]))


@pytest.mark.parametrize(
    ("kw", "match"), [({"hops": 3}, "hops"), ({"min_weight": 5}, "min_weight"), ({"n_neighbors": 0}, "n_neighbors")]
)
def test_bad_parameters(kw, match):
    _fails(screen(), ValueError, match, _edges([("G0", "G1", 1.0)]), **kw)


def test_empty_edge_list():
    _fails(screen(), ValueError, "no edges", _edges([]))


def test_unknown_network_type():
    _fails(screen(), TypeError, "", 12345)


def test_coexpression_default_works_on_all_formats():
    for fmt in ("csr", "csc", "dense"):
        a = screen(fmt=fmt)
        hp.pp.gene_network(a)
        _adj(a)
