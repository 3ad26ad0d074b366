"""Out-of-core runs at small scale: backed ``.h5ad``, Dask arrays, and a ``dask.distributed`` LocalCluster."""

from __future__ import annotations

import tracemalloc
import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp

CONTROL = "non-targeting"


def _screen(n_cells: int = 4000, n_genes: int = 60, n_perts: int = 12, *, density: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    perts = np.asarray([f"G{i}" for i in range(n_perts)], dtype=object)
    ctrl = rng.random(n_cells) < 0.2
    labels = np.where(ctrl, CONTROL, perts[rng.integers(0, n_perts, n_cells)])
    X = np.log1p(rng.poisson(2.0, (n_cells, n_genes))).astype(np.float32) * (rng.random((n_cells, n_genes)) < density)
    for p in range(n_perts):  # knock the target gene down
        X[labels == f"G{p}", p] = 0
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n_cells)])
    var = pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])
    return X, obs, var


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    X, obs, var = _screen()
    d = tmp_path_factory.mktemp("scale")
    AnnData(sparse.csr_matrix(X), obs=obs, var=var).write_h5ad(d / "sparse.h5ad")
    AnnData(X, obs=obs, var=var).write_h5ad(d / "dense.h5ad")
    ref = AnnData(sparse.csr_matrix(X), obs=obs.copy(), var=var.copy())
    hp.pp.perturbations(ref, control=CONTROL)
    hp.tl.rewards(ref, verbose=False)
    return d, ref


def _lazy(path, chunks=(500, -1)):
    f = h5py.File(path, "r")
    X = ad.experimental.read_elem_lazy(f["X"], chunks=chunks)
    return AnnData(X=X, obs=ad.io.read_elem(f["obs"]), var=ad.io.read_elem(f["var"])), f


def _same(a, ref):
    np.testing.assert_allclose(a.varm["hp_reward"], ref.varm["hp_reward"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.varm["hp_policy_target"], ref.varm["hp_policy_target"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.var["hp_control_mean"], ref.var["hp_control_mean"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_backed_matches_memory(files, kind):
    d, ref = files
    a = ad.read_h5ad(d / f"{kind}.h5ad", backed="r")
    hp.pp.perturbations(a, control=CONTROL)
    hp.tl.rewards(a, verbose=False, chunk_size=300)
    _same(a, ref)
    a.file.close()


def test_backed_memory_does_not_grow_with_cells(tmp_path):
    # a dense backed X of 20000 x 100 float32 (~7.6 MiB): rewards read 200 rows at a time, so the peak of Python
    # allocations stays far below the size of X (accumulators are perturbations x genes, labels O(cells))
    X, obs, var = _screen(n_cells=20_000, n_genes=100, density=1.0)
    AnnData(X, obs=obs, var=var).write_h5ad(tmp_path / "big.h5ad")
    a = ad.read_h5ad(tmp_path / "big.h5ad", backed="r")
    hp.pp.perturbations(a, control=CONTROL)
    hp.tl.rewards(a, verbose=False, chunk_size=200)  # warm-up (numba compilation, caches)
    x_bytes = a.n_obs * a.n_vars * 4
    tracemalloc.start()
    try:
        hp.tl.rewards(a, verbose=False, chunk_size=200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    a.file.close()
    assert peak < x_bytes / 4, f"peak {peak / 2**20:.2f} MiB vs X {x_bytes / 2**20:.2f} MiB"


@pytest.mark.parametrize(("kind", "chunks"), [("sparse", (500, -1)), ("dense", (500, -1)), ("dense", (1000, 25))])
def test_dask_lazy_h5ad_matches_memory(files, kind, chunks):
    d, ref = files
    if True:
        a, f = _lazy(d / f"{kind}.h5ad", chunks=chunks)
        assert type(a.X).__module__.startswith("dask")
        hp.pp.perturbations(a, control=CONTROL)
        hp.tl.rewards(a, verbose=False)
        assert type(a.X).__module__.startswith("dask"), "X must stay lazy"
        _same(a, ref)
        f.close()


def test_dask_from_array(files):
    import dask.array as da

    d, ref = files
    b = ad.read_h5ad(d / "sparse.h5ad")
    X = da.from_array(b.X, chunks=(700, -1), asarray=False)
    a = AnnData(X=X, obs=b.obs.copy(), var=b.var.copy())
    hp.pp.perturbations(a, control=CONTROL)
    hp.tl.rewards(a, verbose=False)
    _same(a, ref)


def test_local_cluster_runs_the_pass_in_parallel_workers(files):
    distributed = pytest.importorskip("distributed")
    d, ref = files
    with (
        warnings.catch_warnings(),
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        warnings.simplefilter("ignore")
        a, f = _lazy(d / "sparse.h5ad", chunks=(400, -1))
        hp.pp.perturbations(a, control=CONTROL)
        with distributed.get_task_stream(client) as ts:
            hp.tl.rewards(a, verbose=False)
        workers = {t["worker"] for t in ts.data}
        assert len(workers) == 2, f"the cell-level pass ran on {workers}"
        _same(a, ref)
        f.close()


@pytest.mark.slow
def test_end_to_end_backed_then_train(files):
    d, ref = files
    a = ad.read_h5ad(d / "sparse.h5ad", backed="r")
    hp.pp.perturbations(a, control=CONTROL)
    hp.tl.rewards(a, verbose=False, chunk_size=1000)
    hp.tl.train(a, epochs=2, seed=0, verbose=False)
    emb = a.varm["X_poincare"]
    assert emb.shape == (a.n_vars, 2) and np.isfinite(emb).all()
    assert (np.linalg.norm(emb, axis=1) < 1).all()
    a.file.close()


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_dask_chunks_give_the_coexpression_network_and_lfc_of_memory(files, kind):
    """Dask X with scipy-sparse chunks (anndata's lazy sparse X) used to fail in the finiteness check and in the
    co-expression pass with a numpy TypeError; both now read it block by block and match the in-memory result."""
    d, ref = files
    a, f = _lazy(d / f"{kind}.h5ad")
    m = ad.read_h5ad(d / f"{kind}.h5ad")
    for obj in (a, m):
        hp.pp.perturbations(obj, control=CONTROL)
        hp.pp.gene_network(obj, "coexpression", n_neighbors=5)
        hp.pp.log_fold_change(obj)
    assert type(a.X).__module__.startswith("dask"), "X must stay lazy"
    assert (a.varp["hp_adjacency"] != m.varp["hp_adjacency"]).nnz == 0 or np.allclose(
        a.varp["hp_adjacency"].toarray(), m.varp["hp_adjacency"].toarray(), atol=1e-6
    )
    np.testing.assert_allclose(a.obsm["log_fold_change"], m.obsm["log_fold_change"], rtol=1e-5, atol=1e-6)
    bad = AnnData(a.X.map_blocks(lambda b: b * np.nan), obs=a.obs.copy(), var=a.var.copy())
    hp.pp.perturbations(bad, control=CONTROL)
    with pytest.raises(ValueError, match="NaN or infinite"):
        hp.pp.log_fold_change(bad)
    f.close()
