"""Issue 25: the default statistic in one pass, bounded NumPy blocks, the control SD without cancellation.

``statistic="mean_shift"`` reads every stored value once (control means and perturbation sums from the same pass);
the NumPy twin of the CSR kernel works in small blocks of rows; the control SD adds non-negative terms only. The
numbers are checked against a dense brute force, and the twin against numba (bit-identical) with tiny blocks.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils._ledger import cells_digest
from hyperperturb.tl._rewards import _compute as rc
from hyperperturb.tl._rewards import _kernels as rk
from hyperperturb.tl._rewards import _numpy as rn


def _screen(seed: int = 0, n: int = 240, G: int = 23) -> AnnData:
    """Controls, three perturbations (some of the last one's cells dropped from the design: ignored cells), two
    batches with controls and a third without."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["nt", "A", "B", "C"], size=n, p=[0.3, 0.3, 0.2, 0.2])
    X = np.log1p(rng.poisson(rng.uniform(0.05, 3.0, G), size=(n, G))).astype(np.float32)
    X[labels == "A", 3] += 1.5
    X[:, 5] = 0.0  # an all-zero gene
    X[:, 6] = 7.0 + 1e-3 * rng.standard_normal(n).astype(np.float32)  # large mean, tiny spread
    batch = np.where(rng.random(n) < 0.5, "b1", "b2").astype(object)
    batch[(labels != "nt") & (rng.random(n) < 0.1)] = "b3"  # a group without control cells
    obs = pd.DataFrame(
        {"perturbation": pd.Categorical(labels, categories=["nt", "A", "B", "C", "D"]), "batch": batch},
        index=[f"c{i}" for i in range(n)],
    )
    a = AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(G)]))
    hp.pp.perturbations(a, key="perturbation", control="nt")
    D = a.obsm["perturbation_target"]
    D = np.asarray(D.toarray() if sparse.issparse(D) else D).copy()
    D[rng.random(n) < 0.3, -1] = 0.0  # some cells of the last perturbation leave the design: ignored rows (not read)
    a.obsm["perturbation_target"] = D
    return a


def _brute(a: AnnData, cells: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense reference: |mean - control mean| per gene x perturbation, control mean, noise floor, cells per perturbation."""
    X = np.asarray(a.X.toarray() if sparse.issparse(a.X) else a.X, dtype=np.float64)
    keep = np.ones(a.n_obs, bool) if cells is None else cells
    ctrl = a.obs["hp_control"].to_numpy() & keep
    allctrl = a.obs["hp_control"].to_numpy()
    D = a.obsm["perturbation_target"]
    D = np.asarray(D.toarray() if sparse.issparse(D) else D) > 0.5
    D = D & keep[:, None]
    cm = X[ctrl].mean(0)
    n_p = D.sum(0)
    with np.errstate(invalid="ignore"):
        R = np.abs((X.T @ D) / n_p - cm[:, None])
    R[:, n_p == 0] = 0.0
    sd = X[allctrl].std(0, ddof=1)  # groups use the pooled SD
    n = float(np.median(n_p[n_p > 0]))
    floor = sd * np.sqrt(2 / np.pi) * np.sqrt(1 / n + 1 / ctrl.sum())
    return R, cm, floor, n_p


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_mean_shift_single_pass_matches_dense_brute_force(monkeypatch, engine, fmt):
    monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", engine)
    a = _screen()
    if fmt != "csr":
        a.X = a.X.tocsc() if fmt == "csc" else a.X.toarray()
    with pytest.warns(UserWarning):  # "b3" without control cells
        hp.tl.rewards(a, verbose=False, groupby="batch")
    R, cm, floor, n_p = _brute(a)
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.var["hp_control_mean"], cm, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.var["hp_reward_baseline"], floor, rtol=1e-9, atol=1e-12)
    assert np.isfinite(a.varm["hp_reward"]).all() and np.isfinite(a.varm["hp_policy_target"]).all()
    led = a.uns["hyperperturb"]["rewards"]
    np.testing.assert_array_equal(led["n_cells"], n_p)
    assert led["groups_skipped"] == ["b3"]
    batch = a.obs["batch"].to_numpy()
    for grp in ("b1", "b2"):
        Rg, cmg, _, ng = _brute(a, cells=batch == grp)
        got = led["groups"][grp]
        np.testing.assert_allclose(got["reward"], Rg, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got["control_mean"], cmg, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got["n_cells"], ng)


def test_mean_shift_with_several_perturbations_per_cell(monkeypatch):
    """Cells carrying two perturbations count in both (the gathered path of the NumPy twin)."""
    a = _screen(3)
    D = np.asarray(a.obsm["perturbation_target"]).copy()
    pert = ~a.obs["hp_control"].to_numpy()
    twice = np.flatnonzero(pert)[::4]
    D[twice, 1] = 1.0  # every fourth perturbed cell also carries the second perturbation
    a.obsm["perturbation_target"] = D
    res = {}
    for engine in ("numpy", "numba"):
        monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", engine)
        res[engine] = hp.tl.rewards(a, verbose=False, copy=True)
    R, cm, floor, _ = _brute(a)
    np.testing.assert_allclose(res["numpy"].varm["hp_reward"], R, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(res["numpy"].varm["hp_reward"], res["numba"].varm["hp_reward"])


def _problem(seed: int, *, k: int, plain: bool, groups: int = 0):
    rng = np.random.default_rng(seed)
    n, G, P = 300, 41, 7
    X = sparse.random(n, G, density=0.35, format="csr", dtype=np.float32, random_state=rng)
    X.data = (np.log1p(rng.gamma(2.0, 1.0, X.nnz)) * rng.choice([-1, 1], X.nnz)).astype(np.float32)
    X.indptr[50:60] = X.indptr[50]  # a run of empty rows
    X = sparse.csr_matrix((X.data[: X.indptr[-1]], X.indices[: X.indptr[-1]], X.indptr), shape=(n, G))
    X.sum_duplicates()
    W = P + 1
    L = W * (1 + groups)
    labels = np.full((n, k), -1, dtype=np.int32)
    for i in range(n):
        if rng.random() < 0.1:
            continue
        picks = rng.choice(L, size=rng.integers(1, k + 1), replace=False)
        labels[i, : picks.size] = np.sort(picks)
    absmode = np.zeros(L, bool) if plain else np.ones(L, bool)
    return X, rk.Slots(
        labels, np.repeat(np.arange(1 + groups, dtype=np.int32), W), rng.normal(size=(1 + groups, G)), absmode
    )


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize(
    "case",
    [
        {"k": 1, "plain": True},
        {"k": 1, "plain": False},
        {"k": 2, "plain": True, "groups": 1},
        {"k": 3, "plain": False, "groups": 2},
    ],
)
def test_numpy_twin_in_tiny_blocks_is_bit_identical_to_numba(monkeypatch, nt, case):
    """Blocks of a few stored values (rows split across blocks, long rows alone, empty rows) change no bit."""
    monkeypatch.setattr(rk, "_numba_threads", lambda: nt)
    X, s = _problem(nt, **case)
    ref = {}
    for eng in ("numba", "numpy"):
        monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", eng)
        ref[eng] = rk.segment_sums(X, s, chunk_size=64, check_unlabeled=True)
    for block, gather in ((5, 13), (1, 1), (17, 40)):
        monkeypatch.setattr(rn, "_BLOCK", block)
        monkeypatch.setattr(rn, "_GATHER", gather)
        S, bad = rk.segment_sums(X, s, chunk_size=64, check_unlabeled=True)
        assert np.array_equal(S, ref["numba"][0]), np.abs(S - ref["numba"][0]).max()
        assert bad == ref["numba"][1] == 0
    assert np.array_equal(ref["numpy"][0], ref["numba"][0])


def test_pieces_cover_every_row_once():
    lengths = np.array([0, 5, 0, 0, 30, 1, 1, 1, 0, 12, 0])
    for size in (1, 4, 10, 100):
        p = rn._pieces(lengths, size)
        assert p[0][0] == 0 and p[-1][1] == lengths.size
        assert all(a < b for a, b in p) and all(p[i][1] == p[i + 1][0] for i in range(len(p) - 1))
        assert all(lengths[a : b - 1].sum() < size for a, b in p)  # under `size` values, plus one row
    assert rn._pieces(np.zeros(0, int), 4) == []


@pytest.mark.parametrize("fmt", ["csr", "csr_dup", "dense", "csc"])
def test_control_sd_has_no_cancellation(monkeypatch, fmt):
    """A gene at 1e4 with spread 1e-2: the SD from (x - c)^2 terms, not from sum(x^2) - n c^2."""
    rng = np.random.default_rng(0)
    n, G = 500, 6
    X = np.where(rng.random((n, G)) < 0.6, rng.gamma(2.0, 1.0, (n, G)), 0.0)
    X[:, 0] = 1e4 + 1e-2 * rng.standard_normal(n)
    X[:, 1] = 0.0
    control = rng.random(n) < 0.4
    cm = X[control].mean(0)
    want = X[control].std(0, ddof=1)
    monkeypatch.setattr(rn, "_GATHER", 37)  # several pieces
    if fmt == "csr_dup":  # duplicate entries add up before squaring
        coo = sparse.coo_matrix(X)
        half = coo.data / 2
        M = sparse.csr_matrix((np.concatenate([half, half]), (np.tile(coo.row, 2), np.tile(coo.col, 2))), shape=X.shape)
        M.has_canonical_format = False
    else:
        M = {"csr": sparse.csr_matrix, "dense": np.asarray, "csc": sparse.csc_matrix}[fmt](X)
    got = rc._control_sd(M, control, cm, chunk_size=50)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)


def _old_cells_digest(names, ctrl) -> str:
    """The digest as computed before issue 25 (must not change: it is stored in saved objects)."""
    n = len(names)
    parts = []
    for lo in range(0, n, 4096):
        nm = np.asarray(names[lo : lo + 4096]).astype(str)
        h = pd.util.hash_pandas_object(pd.Series(nm), index=False).to_numpy(np.uint64)
        h = h ^ (ctrl[lo : lo + 4096].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        parts.append(np.sum(h, dtype=np.uint64))
    total = np.sum(np.asarray(parts, dtype=np.uint64), dtype=np.uint64) if parts else np.uint64(0)
    return f"{n}:{int(total):016x}"


@pytest.mark.parametrize(
    "names",
    [
        [f"cell{i}" for i in range(70_000)],
        ["é1", "ß", "猫", ""],
        [1, 2, 3],  # not strings: hashed as their str()
        [],
    ],
)
def test_cells_digest_is_unchanged(names):
    rng = np.random.default_rng(len(names))
    ctrl = rng.random(len(names)) < 0.3
    obs = pd.DataFrame({"hp_control": ctrl}, index=pd.Index(names, dtype=object))
    fake = SimpleNamespace(n_obs=len(names), obs_names=obs.index, obs=obs)
    assert cells_digest(fake) == _old_cells_digest(obs.index, ctrl)


def _old_targets(R, baseline=None, *, kind="excess", signed=False):
    """The targets as formed before issue 25 (whole-matrix temporaries)."""
    A = np.abs(R)
    zero = ~(A.sum(axis=1) > 0)
    if kind == "excess" and baseline is not None and not signed:
        A = np.clip(A - np.nan_to_num(np.asarray(baseline, dtype=np.float64))[:, None], 0.0, None)
    tot = A.sum(axis=1)
    flat = ~(tot > 0)
    policy = np.empty_like(A)
    policy[~flat] = A[~flat] / tot[~flat, None]
    policy[flat] = 1.0 / R.shape[1]
    return policy, A.mean(axis=1), zero


@pytest.mark.parametrize("kw", [{}, {"kind": "reward"}, {"signed": True}])
def test_targets_in_blocks_are_bit_identical(monkeypatch, kw):
    rng = np.random.default_rng(4)
    R = rng.normal(size=(57, 13)) * (rng.random((57, 13)) < 0.5)
    R[3] = 0.0  # a zero-reward gene
    B = np.abs(rng.normal(size=57))
    B[7] = np.nan
    B[9] = 1e9  # no excess: uniform row
    monkeypatch.setattr(rc, "_FINAL_BLOCK", 40)  # three genes per block
    for got, want in zip(rc._targets(R, B, **kw), _old_targets(R, B, **kw), strict=True):
        assert np.array_equal(got, want)


def test_array_digest_unchanged_without_a_bytes_copy():
    import hashlib

    from hyperperturb._utils._ledger import array_digest

    def old(*arrays):
        h = hashlib.sha1()
        for a in arrays:
            if hasattr(a, "indptr"):
                a = a.tocsr()
                for part in (a.indptr, a.indices, a.data):
                    h.update(np.ascontiguousarray(part).tobytes())
            else:
                arr = np.asarray(a)
                h.update(f"{arr.shape}{arr.dtype}".encode())
                h.update(np.ascontiguousarray(arr).tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
        return h.hexdigest()[:16]

    rng = np.random.default_rng(0)
    cases = [
        rng.random((5, 7)),
        rng.random((5, 7)).T,
        np.array(3.0),
        np.zeros((0, 4)),
        rng.random(10) > 0.5,
        np.arange(6).astype("M8[D]"),
        np.array(["a", "bc"]),
        np.array([1, "x"], dtype=object),
        rng.random((4, 6)).astype(">f8"),
        sparse.random(5, 5, density=0.3, format="csr", random_state=1),
        [1, 2, 3],
    ]
    for c in cases:
        assert array_digest(c) == old(c)
    assert array_digest(*cases[:4]) == old(*cases[:4])


@pytest.mark.parametrize("statistic", ["mean_shift", "mean_abs_lfc"])
def test_split_halves_and_reliability_in_blocks_match_one_block(monkeypatch, statistic):
    """Blocks of columns and of rows (bounded memory at genome scale) draw the same halves: the same numbers."""
    from hyperperturb.tl._screen import _halves, _read
    from hyperperturb.tl._transfer import _reliability

    a = hp.datasets.synthetic(n_cells=600, n_genes=40, n_perturbations=12, seed=1)
    import scanpy as sc

    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.tl.rewards(a, statistic=statistic, verbose=False)
    s = _read.read_screen(a, needed_by="t")
    cols = np.arange(s.names.size)
    names = [str(n) for n in s.names]
    A1, B1, n1 = _halves.split_half_rewards(a, s, cols, rng=np.random.default_rng(3))
    r1 = _reliability.perturbation_reliability(a, names, seed=3)
    monkeypatch.setattr(_halves, "_SPLIT_BLOCK", 40 * 5)  # 5 columns and 5 rows per block
    monkeypatch.setattr(_reliability, "_BLOCK", 40 * 4)  # 4 perturbations per reliability block
    A2, B2, n2 = _halves.split_half_rewards(a, s, cols, rng=np.random.default_rng(3))
    r2 = _reliability.perturbation_reliability(a, names, seed=3)
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_allclose(A1, A2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B1, B2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-12)
    assert r1.shape == (len(names),) and ((r1 >= 0) & (r1 <= 1)).all() and (r1 > 0).any()
