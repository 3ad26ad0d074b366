"""Issue 16: the NumPy twin of the numba CSR kernel (first call without compiling) gives the numba path's numbers.

Bit-identical, not just close: the same per-thread parts, the same float64 operations, the same order of additions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb.tl._rewards import _kernels as rk


def _problem(seed: int, *, n: int = 400, G: int = 37, k: int = 1, groups: int = 0, signed: bool = False):
    rng = np.random.default_rng(seed)
    X = sparse.random(n, G, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    X.data = np.log1p(rng.gamma(2.0, 1.0, X.nnz)).astype(np.float32) * rng.choice([-1, 1], X.nnz)
    P = 9
    W = P + 1
    n_blocks = 1 + groups
    L = W * n_blocks
    labels = np.full((n, k), -1, dtype=np.int32)
    for i in range(n):
        if rng.random() < 0.1:
            continue  # unlabelled row
        picks = rng.choice(L, size=rng.integers(1, k + 1), replace=False)
        labels[i, : picks.size] = np.sort(picks)
    slot_cm = np.repeat(np.arange(n_blocks, dtype=np.int32), W)
    cm = rng.normal(size=(n_blocks, G))
    absmode = np.ones(L, dtype=bool)
    if signed:
        absmode[:] = False
        absmode[P::W] = True
    return X, rk.Slots(labels, slot_cm, cm, absmode)


def _both(monkeypatch, X, s, **kw):
    out = {}
    for eng in ("numpy", "numba"):
        monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", eng)
        out[eng] = rk.segment_sums(X, s, **kw)
    return out["numpy"], out["numba"]


@pytest.mark.parametrize("nt", [1, 2, 3])
@pytest.mark.parametrize(
    "case",
    [
        {},  # one label per cell, pooled: read in storage order
        {"k": 3},  # several perturbations per cell: gathered in visiting order
        {"groups": 2, "k": 2},  # several control-mean rows
        {"signed": True},  # absolute control slot, plain perturbation slots
    ],
)
def test_numpy_twin_is_bit_identical(monkeypatch, nt, case):
    monkeypatch.setattr(rk, "_numba_threads", lambda: nt)
    X, s = _problem(nt, **case)
    for chunk in (7, 1000):
        for check in (True, False):
            (S1, b1), (S2, b2) = _both(monkeypatch, X, s, chunk_size=chunk, check_unlabeled=check)
            assert S1.shape == (s.n_slots, X.shape[1])
            assert np.array_equal(S1, S2), np.abs(S1 - S2).max()
            assert b1 == b2


def test_numpy_twin_counts_nonfinite_like_numba(monkeypatch):
    X, s = _problem(5)
    unl = np.flatnonzero(s.labels[:, 0] < 0)
    lab = np.flatnonzero(s.labels[:, 0] >= 0)
    X = X.copy()
    for i in (unl[0], unl[1], lab[0]):
        X.data[X.indptr[i]] = np.nan  # rows with at least one stored value (density 0.3, 37 genes)
    (S1, b1), (S2, b2) = _both(monkeypatch, X, s, chunk_size=50)
    assert b1 == b2 == 2  # unlabelled rows are counted; the labelled NaN propagates into the sums
    assert np.array_equal(np.isnan(S1), np.isnan(S2)) and np.isnan(S1).any()


def _screen(n_per: int = 30, seed: int = 0) -> AnnData:
    rng = np.random.default_rng(seed)
    perts = ["g0", "g1", "g2", "g3"]
    labels = ["nt"] * (2 * n_per) + [p for p in perts for _ in range(n_per)]
    X = sparse.csr_matrix(np.log1p(rng.poisson(1.5, size=(len(labels), 25))).astype(np.float32))
    obs = pd.DataFrame(
        {"perturbation": labels, "batch": rng.choice(["a", "b"], len(labels))},
        index=[f"c{i}" for i in range(len(labels))],
    )
    a = AnnData(X, obs=obs)
    a.var_names = [f"g{i}" for i in range(25)]
    hp.pp.perturbations(a, key="perturbation", control="nt")
    return a


@pytest.mark.parametrize("kw", [{}, {"signed": True}, {"groupby": "batch"}])
def test_rewards_identical_whichever_engine(monkeypatch, kw):
    res = {}
    for eng in ("numpy", "numba"):
        monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", eng)
        res[eng] = hp.tl.rewards(_screen(), verbose=False, copy=True, **kw)
    a, b = res["numpy"], res["numba"]
    for key in ("hp_reward", "hp_policy_target"):
        assert np.array_equal(a.varm[key], b.varm[key])
    for key in ("hp_value_target", "hp_control_mean", "hp_reward_baseline"):
        assert np.array_equal(a.var[key].to_numpy(), b.var[key].to_numpy())
    if "groupby" in kw:
        ga = a.uns["hyperperturb"]["rewards"]["groups"]
        gb = b.uns["hyperperturb"]["rewards"]["groups"]
        assert set(ga) == set(gb) == {"a", "b"}
        for g in ga:
            assert np.array_equal(ga[g]["reward"], gb[g]["reward"])


def test_engine_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERPERTURB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("HYPERPERTURB_REWARDS_ENGINE", raising=False)
    monkeypatch.setattr(rk, "_kernel_loaded", lambda kind: False)
    X = sparse.random(50, 20, density=0.5, format="csr", dtype=np.float32, random_state=0)
    assert rk.engine(X) == "numpy"  # small, cold
    monkeypatch.setattr(rk, "WARM_NNZ", 10)
    assert rk.engine(X) == "numpy"  # big enough for a warm kernel, but nothing is cached
    rk._mark_cached("_csr_core", X)
    marker = rk._marker("_csr_core", X)
    assert marker is not None and marker.exists() and marker.parent == tmp_path / "numba"
    assert rk.engine(X) == "numba"  # cached and worth loading
    assert rk.engine(X.astype(np.float64)) == "numpy"  # other dtypes: another (uncompiled) specialisation
    monkeypatch.setattr(rk, "COMPILE_NNZ", 10)
    assert rk.engine(X.astype(np.float64)) == "numba"  # big enough to compile
    monkeypatch.setattr(rk, "_kernel_loaded", lambda kind: True)
    monkeypatch.setattr(rk, "COMPILE_NNZ", 10**12)
    monkeypatch.setattr(rk, "WARM_NNZ", 10**12)
    assert rk.engine(X.astype(np.float64)) == "numba"  # compiled in this process: always
    monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", "numpy")
    assert rk.engine(X) == "numpy"
    monkeypatch.setenv("HYPERPERTURB_REWARDS_ENGINE", "fast")
    with pytest.raises(ValueError, match="HYPERPERTURB_REWARDS_ENGINE"):
        rk.engine(X)


def test_no_marker_when_caching_is_off(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERPERTURB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HYPERPERTURB_NUMBA_CACHE", "0")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    X = sparse.random(5, 4, density=0.5, format="csr", dtype=np.float32, random_state=0)
    rk._mark_cached("_csr_core", X)
    assert not list(tmp_path.rglob("*.ok"))


def test_thread_count_matches_numba_without_importing_it():
    code = (
        "import sys\n"
        "from hyperperturb.tl._rewards import _kernels as rk\n"
        "n = rk._numba_threads(); assert 'numba' not in sys.modules\n"
        "import numba\n"
        "print(n, numba.get_num_threads())\n"
    )
    for extra in ({}, {"NUMBA_NUM_THREADS": "1"}):
        env = {**{k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}, **extra}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120
        )
        ours, theirs = out.stdout.split()
        assert ours == theirs


def test_drivers_import_no_numba():
    src = "".join((Path(rk.__file__).parent / f).read_text() for f in ("_kernels.py", "_numpy.py", "_slots.py"))
    top = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert not [ln for ln in top if "numba" in ln]
