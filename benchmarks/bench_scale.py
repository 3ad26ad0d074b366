"""Scale benchmark: the cell-level pipeline on screens of 1e5 to 1e6 cells, in memory, backed and on Dask.

For each screen (cells × 2,000 genes, 250 or 2,000 perturbations) a sparse, log-normalised synthetic screen is
written to an ``.h5ad`` in a temporary folder (a fast block generator: ``hp.datasets.synthetic`` simulates a
whole regulatory hierarchy and takes ~15 s per 1e5 cells, too slow for 1e6). Every measurement then runs in a
fresh subprocess:

``memory``
    ``sc.read_h5ad`` (everything in RAM) → ``hp.pp.perturbations`` → ``hp.tl.rewards`` → ``hp.tl.train``;
``backed``
    the same on ``read_h5ad(path, backed="r")``: rewards stream ``chunk_size`` rows at a time from disk;
``dask``
    ``X`` opened lazily as a Dask array (``anndata.experimental.read_elem_lazy``) and reduced by a
    ``dask.distributed`` ``LocalCluster`` (2 worker processes × 1 thread).

Time is wall-clock per step; peak memory is the peak of the summed RSS of the measuring process and all its
descendants (Dask workers included), sampled every 50 ms with psutil, and ``ru_maxrss`` of the measuring process.
``hp.tl.train`` only sees gene-level aggregates, so its cost does not depend on the number of cells.

Usage::

    python benchmarks/bench_scale.py                 # full table (~15 min on 2 cores)
    python benchmarks/bench_scale.py --quick         # 2e4 / 5e4 cells, smoke test
    python benchmarks/bench_scale.py --markdown out.md
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CONTROL = "non-targeting"


# --------------------------------------------------------------------------------------------- data generator


def generate(path: Path, n_cells: int, n_genes: int, n_perts: int, *, density: float = 0.05, seed: int = 0) -> None:
    """Write a sparse log-normalised screen block by block (memory ~ one block, never the whole matrix)."""
    import anndata as ad
    import h5py
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    perts = np.asarray([f"G{i:04d}" for i in range(n_perts)], dtype=object)
    is_ctrl = rng.random(n_cells) < 0.15
    which = rng.integers(0, n_perts, size=n_cells)
    labels = np.where(is_ctrl, CONTROL, perts[which])
    target = np.where(is_ctrl, -1, which % n_genes)
    base = rng.gamma(2.0, 0.5, size=n_genes).astype(np.float32)  # gene-level mean expression
    block = max(1, int(4e6 / n_genes))
    with h5py.File(path, "w") as f:
        first = True
        for lo in range(0, n_cells, block):
            hi = min(lo + block, n_cells)
            mask = rng.random((hi - lo, n_genes), dtype=np.float32) < density
            t = target[lo:hi]
            rows = np.flatnonzero(t >= 0)
            mask[rows, t[rows]] = False  # knockdown: the target gene is silenced
            flat = np.flatnonzero(mask)  # row-major: already in CSR order
            cols = (flat % n_genes).astype(np.int32)
            vals = np.log1p(rng.poisson(base[cols] * 3.0 + 1.0).astype(np.float32))
            indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
            X = sparse.csr_matrix((vals, cols, indptr), shape=(hi - lo, n_genes))
            if first:
                ad.io.write_elem(f, "X", X, dataset_kwargs={"chunks": (1 << 18,)})
                ds = ad.io.sparse_dataset(f["X"])
                first = False
            else:
                ds.append(X)
        obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n_cells)])
        var = pd.DataFrame(index=[f"G{i:04d}" for i in range(n_genes)])
        ad.io.write_elem(f, "obs", obs)
        ad.io.write_elem(f, "var", var)
        for k in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            ad.io.write_elem(f, k, {})
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"


# --------------------------------------------------------------------------------------------- one measurement


class _PeakSampler(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, rss)
            except Exception:  # noqa: BLE001 - sampling is best effort
                pass
            self.stop.wait(0.05)


def child(path: str, mode: str, epochs: int, chunk_size: int) -> dict:
    """Run the pipeline once in this (fresh) process and return timings + memory."""
    import warnings

    import anndata as ad

    import hyperperturb as hp

    warnings.simplefilter("ignore")
    sampler = _PeakSampler()
    sampler.start()
    out: dict = {}
    t0 = time.perf_counter()
    client = None
    if mode == "memory":
        adata = ad.read_h5ad(path)
    elif mode == "backed":
        adata = ad.read_h5ad(path, backed="r")
    elif mode == "dask":
        import h5py
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        # workers import the kernels once (numba cache) before the clock of the pass starts
        client.run(importlib.import_module, "hyperperturb.tl._rewards._kernels")
        f = h5py.File(path, "r")
        X = ad.experimental.read_elem_lazy(f["X"], chunks=(chunk_size, -1))
        adata = ad.AnnData(X=X, obs=ad.io.read_elem(f["obs"]), var=ad.io.read_elem(f["var"]))
    else:
        raise ValueError(mode)
    out["open_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    hp.pp.perturbations(adata, key="perturbation", control=CONTROL)
    out["perturbations_s"] = time.perf_counter() - t
    t = time.perf_counter()
    hp.tl.rewards(adata, verbose=False, chunk_size=chunk_size)
    out["rewards_s"] = time.perf_counter() - t
    out["rss_before_train_mb"] = sampler.peak / 2**20
    out["cell_level_s"] = time.perf_counter() - t0
    if epochs > 0 and hasattr(hp.tl, "train"):
        t = time.perf_counter()
        # on the object itself (backed or Dask X is read once, in chunks, for the control cells' gene features);
        # a one-row copy of the gene-level results is refused since rewards record the cells they read
        hp.tl.train(adata, epochs=epochs, seed=0, verbose=False)
        out["train_s"] = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - t0
    if client is not None:
        client.close()
        cluster.close()
    sampler.stop.set()
    sampler.join()
    out["peak_rss_mb"] = sampler.peak / 2**20
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure(path: Path, mode: str, epochs: int, chunk_size: int) -> dict:
    """One measurement in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", str(path), mode, str(epochs), str(chunk_size)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- driver


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, path, mode, epochs, chunk = sys.argv
        print(json.dumps(child(path, mode, int(epochs), int(chunk))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement below 1e6 cells (median)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--chunk-size", type=int, default=20_000)
    ap.add_argument("--markdown", type=Path, help="write the table to this file")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the generated .h5ad files")
    args = ap.parse_args()

    if args.quick:
        plan = [(20_000, 250, ("memory", "backed", "dask")), (50_000, 250, ("memory", "backed"))]
    else:
        plan = [
            (100_000, 250, ("memory", "backed")),
            (300_000, 250, ("memory", "backed")),
            (1_000_000, 250, ("backed", "dask")),
            (100_000, 2000, ("memory", "backed")),
            (300_000, 2000, ("backed",)),
            (1_000_000, 2000, ("backed",)),
        ]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n_cells, n_perts, modes in plan:
            path = Path(tmp) / f"screen_{n_cells}_{n_perts}.h5ad"
            t = time.perf_counter()
            generate(path, n_cells, args.genes, n_perts)
            size = path.stat().st_size / 2**20
            print(
                f"generated {n_cells} cells x {args.genes} genes, {n_perts} perts ({size:.0f} MiB) "
                f"in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
            for k, mode in enumerate(modes):
                reps = 1 if n_cells >= 1_000_000 else args.repeats
                # training sees only gene-level aggregates (its cost does not depend on cells): it is timed once
                # per screen, in the first run; the cell-level steps are timed in every run
                runs = [
                    measure(path, mode, args.epochs if (k == 0 and r == 0) else 0, args.chunk_size) for r in range(reps)
                ]
                med = {key: statistics.median(r[key] for r in runs) for key in runs[-1]}
                if "train_s" in runs[0]:
                    med.update(train_s=runs[0]["train_s"], peak_rss_mb=runs[0]["peak_rss_mb"])
                med.update(n_cells=n_cells, n_perts=n_perts, mode=mode, runs=reps, file_mib=size)
                rows.append(med)
                print(json.dumps(med), flush=True)
            path.unlink()
    table = render(rows, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


def render(rows: list[dict], args: argparse.Namespace) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (
        f"Machine: {machine()}; load average at the end {load:.1f}. {args.genes} genes, ~5% non-zero, 15% control cells; `hp.tl.train` "
        f"{args.epochs} epochs on the gene-level aggregates (timed once per screen: its cost does not depend on cells); `chunk_size={args.chunk_size}`. "
        "Cell-level columns: median of the runs shown (1 run for 1e6 cells); open = reading obs/var (and starting the "
        "Dask cluster + importing hyperperturb in its workers for `dask`). Peak RSS = peak summed RSS of the process and its "
        "Dask workers (includes ~the Python/NumPy/TensorFlow baseline).\n\n"
    )
    lines = [
        "| cells | perturbations | X | runs | file (MiB) | open (s) | perturbations (s) | rewards (s) | "
        "cell-level total (s) | peak RSS cell-level (MiB) | train (s) | peak RSS with train (MiB) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        train = f"{r['train_s']:.1f}" if "train_s" in r else "–"
        peak = f"{r['peak_rss_mb']:.0f}" if "train_s" in r else "–"
        lines.append(
            f"| {r['n_cells']:,} | {r['n_perts']:,} | {r['mode']} | {r['runs']} | {r['file_mib']:.0f} | "
            f"{r['open_s']:.2f} | {r['perturbations_s']:.2f} | {r['rewards_s']:.2f} | {r['cell_level_s']:.2f} | "
            f"{r['rss_before_train_mb']:.0f} | {train} | {peak} |"
        )
    return head + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
