"""Benchmark ``hp.tl.rewards`` against the seed's dense fold-change algorithm.

Every measurement runs in its own subprocess so that peak memory is clean: the worker loads the matrix, builds
the design with ``hp.pp.perturbations``, warms up (numba kernels are compiled and cached on first use), resets
the kernel's high-water mark (``/proc/self/clear_refs``), then times one call and reports the peak resident
memory above what was resident before the call.

Usage::

    python benchmarks/bench_rewards.py                      # 200,000 x 2,000 CSR, 250 perturbations, 3 repeats
    python benchmarks/bench_rewards.py --backed-cells 1000000   # also a 1M-cell backed .h5ad run
    python benchmarks/bench_rewards.py --cells 20000 --repeats 1 --no-seed   # quick smoke run
    python benchmarks/bench_rewards.py --first-call         # first call in fresh processes, empty/warm numba cache

``--first-call`` times the *first* ``hp.tl.rewards`` of a fresh process (after ``import hyperperturb.tl``, timed
apart, and ``hp.pp.perturbations``): with an empty per-user cache (first use after install: a fresh
``HYPERPERTURB_CACHE_DIR``; the default engine takes the NumPy path, and ``HYPERPERTURB_REWARDS_ENGINE=numba`` shows
what compiling would cost), with the cache warmed by an earlier process (every later process), a warm second call,
and the original dense algorithm — all in the same run, each in its own process, ``--repeats`` times.

Data are synthetic and written to a temporary folder (``--workdir``, default the system temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------- data


def _make_csr(n_cells: int, n_genes: int, density: float, seed: int, *, block: int = 50_000):
    """Random CSR with sorted, distinct column indices per row (geometric gaps), log1p(gamma)-like values."""
    from scipy import sparse

    rng = np.random.default_rng(seed)
    draws = int(n_genes * density * 1.5) + 20
    indptr = [np.zeros(1, dtype=np.int64)]
    indices, data = [], []
    total = 0
    for lo in range(0, n_cells, block):
        m = min(block, n_cells - lo)
        pos = np.cumsum(rng.geometric(density, size=(m, draws)), axis=1) - 1
        keep = pos < n_genes
        cnt = keep.sum(axis=1)
        indices.append(pos[keep].astype(np.int32))
        data.append(np.log1p(rng.gamma(2.0, 1.0, size=int(cnt.sum()))).astype(np.float32))
        indptr.append(total + np.cumsum(cnt))
        total += int(cnt.sum())
    X = sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)), shape=(n_cells, n_genes)
    )
    X.has_sorted_indices = True
    return X


def _labels(n_cells: int, n_perts: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    names = np.array(["non-targeting"] + [f"P{i:03d}" for i in range(n_perts)], dtype=object)
    # ~10 % controls, the rest uniform over the perturbations
    codes = np.where(rng.random(n_cells) < 0.1, 0, rng.integers(1, n_perts + 1, size=n_cells))
    return names[codes]


def _write_npz(path: Path, X, labels: np.ndarray) -> None:
    np.save(path / "indptr.npy", X.indptr)
    np.save(path / "indices.npy", X.indices)
    np.save(path / "data.npy", X.data)
    np.save(path / "labels.npy", labels.astype(str))
    (path / "shape.json").write_text(json.dumps(list(X.shape)))


def _load_adata(path: Path):
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    shape = tuple(json.loads((path / "shape.json").read_text()))
    X = sparse.csr_matrix(
        (np.load(path / "data.npy"), np.load(path / "indices.npy"), np.load(path / "indptr.npy")), shape=shape
    )
    labels = np.load(path / "labels.npy")
    obs = pd.DataFrame({"perturbation": labels}, index=pd.RangeIndex(shape[0]).astype(str))
    return ad.AnnData(X, obs=obs)


# --------------------------------------------------------------------------------------------- memory


def _status(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # 5 = reset the peak RSS (Linux >= 4.0)
        f.write("5")


# --------------------------------------------------------------------------------------------- workers


def _warm_up() -> None:
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    import hyperperturb as hp

    rng = np.random.default_rng(0)
    small = ad.AnnData(
        sparse.csr_matrix(rng.random((60, 5), dtype=np.float32)),
        obs=pd.DataFrame({"perturbation": ["nt", "a", "b"] * 20}, index=[str(i) for i in range(60)]),
    )
    hp.pp.perturbations(small, key="perturbation", control="nt")
    hp.tl.rewards(small, verbose=False)


def _worker_ours(path: Path) -> dict:
    import hyperperturb as hp

    adata = _load_adata(path)
    hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
    _warm_up()
    _reset_peak()
    rss0 = _status("VmRSS")
    c0, t0 = time.process_time(), time.perf_counter()
    hp.tl.rewards(adata, verbose=False)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"time_s": dt, "cpu_s": cpu, "extra_mb": (_status("VmHWM") - rss0) / 2**20, "rss_before_mb": rss0 / 2**20}


def _worker_seed(path: Path) -> dict:
    """The seed's algorithm: dense LFC = X - control mean, then a masked mean of |LFC| per perturbation."""
    adata = _load_adata(path)
    labels = adata.obs["perturbation"].to_numpy()
    names = sorted(set(labels) - {"non-targeting"})
    _reset_peak()
    rss0 = _status("VmRSS")
    c0, t0 = time.process_time(), time.perf_counter()
    X_dense = adata.X.toarray()  # the seed converts adata.X to dense
    control = labels == "non-targeting"
    control_mean = X_dense[control].mean(axis=0)
    lfc = X_dense - control_mean  # obsm["log_fold_change"]
    reward = np.empty((len(names), X_dense.shape[1]), dtype=np.float64)
    for p, name in enumerate(names):
        mask = labels == name  # targets[:, p] > 0.5
        reward[p] = np.abs(lfc[mask]).mean(axis=0)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"time_s": dt, "cpu_s": cpu, "extra_mb": (_status("VmHWM") - rss0) / 2**20, "rss_before_mb": rss0 / 2**20}


def _worker_first(path: Path, *, calls: int = 1) -> dict:
    """``calls``-th ``hp.tl.rewards`` of a fresh process; the cache folder and engine come from the environment."""
    import anndata  # noqa: F401  (as a user has it: loading the data imports it)

    t0 = time.perf_counter()
    import hyperperturb as hp
    import hyperperturb.tl

    t_import = time.perf_counter() - t0
    adata = _load_adata(path)
    hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
    numba_before = "numba" in sys.modules
    for _ in range(calls - 1):
        hp.tl.rewards(adata, verbose=False)
    _reset_peak()
    rss0 = _status("VmRSS")
    c0, t1 = time.process_time(), time.perf_counter()
    hp.tl.rewards(adata, verbose=False)
    dt, cpu = time.perf_counter() - t1, time.process_time() - c0
    from hyperperturb.tl._rewards import _kernels as rk

    return {
        "time_s": dt,
        "cpu_s": cpu,
        "import_s": t_import,
        "extra_mb": (_status("VmHWM") - rss0) / 2**20,
        "numba_imported": "numba" in sys.modules and not numba_before,
        "engine": "numba" if rk._kernel_loaded("_csr_core") else "numpy",
    }


def _worker_backed(h5ad: Path) -> dict:
    import anndata as ad

    import hyperperturb as hp

    _warm_up()
    t0 = time.perf_counter()
    adata = ad.read_h5ad(h5ad, backed="r")
    hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
    rss0 = _status("VmRSS")
    t1 = time.perf_counter()
    hp.tl.rewards(adata, verbose=False, chunk_size=20_000)
    dt = time.perf_counter() - t1
    return {
        "time_s": dt,
        "open_s": t1 - t0,
        "extra_mb": (_status("VmHWM") - rss0) / 2**20,
        "peak_total_mb": _status("VmHWM") / 2**20,
    }


def _run_worker(kind: str, path: Path, env: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(path)]
    full = None if env is None else {**os.environ, **env}
    load = os.getloadavg()[0]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=full)
    if out.returncode != 0:
        msg = f"worker {kind} failed:\n{out.stderr[-3000:]}"
        raise RuntimeError(msg)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load": load}  # 1-min load average before the run


# --------------------------------------------------------------------------------------------- main


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba

    return f"{os.cpu_count()} cores ({cpu}), numba {numba.__version__} with {numba.get_num_threads()} threads, Python {platform.python_version()}"


def _first_call_table(tmp: Path, repeats: int) -> None:
    """First calls in fresh processes: empty cache, warm cache, a warm call, and the dense algorithm (same run)."""
    kinds = ("cold", "warm", "cold_numba", "warm_numba", "second", "second_numba", "seed")
    rows: dict[str, list[dict]] = {k: [] for k in kinds}
    warm_dir = tmp / "cache_warm"
    for r in range(repeats):
        for k in kinds:
            cache = warm_dir if k in ("warm", "warm_numba", "second", "second_numba") else tmp / f"cache_{k}_{r}"
            env = {"HYPERPERTURB_CACHE_DIR": str(cache), "HYPERPERTURB_REWARDS_ENGINE": "auto"}
            if k.endswith("numba"):
                env["HYPERPERTURB_REWARDS_ENGINE"] = "numba"
            worker = {"seed": "seed", "second": "second", "second_numba": "second"}.get(k, "first")
            rows[k].append(_run_worker(worker, tmp, env if k != "seed" else None))
            if k == "cold_numba" and r == 0:  # this run compiled into an empty folder: every later process finds it
                (tmp / f"cache_{k}_{r}").rename(warm_dir)
    labels = {
        "cold": "first call, empty cache (first use after install)",
        "warm": "first call, warm cache (every later process)",
        "cold_numba": "first call, empty cache, numba forced (compiles)",
        "warm_numba": "first call, warm cache, numba forced (loads)",
        "second": "second call in a process, warm cache",
        "second_numba": "second call in a process, warm cache, numba forced",
        "seed": "original dense algorithm",
    }
    seed = statistics.median(x["time_s"] for x in rows["seed"])
    print(f"load average after measuring (1/5/15 min): {os.getloadavg()}")
    print()
    print(
        f"| call | engine | median wall time (s) of {repeats} | runs (s) | dense / this | peak extra memory (MB) | "
        "load before each run |"
    )
    print("|---|---|---:|---|---:|---:|---|")
    for k, runs in rows.items():
        ts = [x["time_s"] for x in runs]
        med = statistics.median(ts)
        eng = runs[0].get("engine", "NumPy (dense)")
        mem = statistics.median(x["extra_mb"] for x in runs)
        loads = ", ".join(f"{x['load']:.1f}" for x in runs)
        print(
            f"| {labels[k]} | {eng} | {med:.3f} | {', '.join(f'{x:.3f}' for x in ts)} | {seed / med:.1f}x | "
            f"{mem:.0f} | {loads} |"
        )
    per_run = [rows["seed"][r]["time_s"] / rows["cold"][r]["time_s"] for r in range(repeats)]
    print()
    print(
        "dense / default first call (empty cache), run by run (same repeat, adjacent processes): "
        + ", ".join(f"{x:.1f}x" for x in per_run)
    )
    imp = [x["import_s"] for k in ("cold", "warm") for x in rows[k]]
    print()
    print(
        f"import hyperperturb.tl (anndata already imported), not in the times above: median {statistics.median(imp):.2f} s"
    )
    print(f"numba imported by the default first call: {any(x['numba_imported'] for x in rows['cold'] + rows['warm'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=200_000)
    ap.add_argument("--genes", type=int, default=2_000)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--perts", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-seed", action="store_true", help="skip the seed baseline")
    ap.add_argument("--backed-cells", type=int, default=0, help="also time a backed .h5ad with this many cells")
    ap.add_argument(
        "--first-call", action="store_true", help="time first calls in fresh processes (empty / warm numba cache)"
    )
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--worker", choices=["ours", "seed", "backed", "first", "second"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        fn = {"ours": _worker_ours, "seed": _worker_seed, "backed": _worker_backed, "first": _worker_first}.get(
            args.worker
        )
        fn = fn or (lambda p: _worker_first(p, calls=2))
        print(json.dumps(fn(args.data)))
        return

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="hp_bench_rewards_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        X = _make_csr(args.cells, args.genes, args.density, seed=0)
        _write_npz(tmp, X, _labels(args.cells, args.perts, seed=0))
        print(f"machine: {_machine()}")
        print(f"load average before measuring (1/5/15 min): {os.getloadavg()}")
        print(
            f"data: {args.cells:,} cells x {args.genes:,} genes CSR float32, {X.nnz:,} stored values "
            f"({X.nnz / (args.cells * args.genes):.1%}), {args.perts} perturbations + ~10 % controls "
            f"(generated in {time.perf_counter() - t0:.1f} s)"
        )
        del X
        if args.first_call:
            _first_call_table(tmp, args.repeats)
            return
        res: dict[str, list[dict]] = {"ours": [], "seed": []}
        for _ in range(args.repeats):
            res["ours"].append(_run_worker("ours", tmp))
            if not args.no_seed:
                res["seed"].append(_run_worker("seed", tmp))
        print()
        print(
            f"| method | median wall time (s) of {args.repeats} | runs (s) | median CPU time (s) | "
            "peak extra memory (MB, median) |"
        )
        print("|---|---|---|---|---|")
        med = {}
        for k, runs in res.items():
            if not runs:
                continue
            ts = [r["time_s"] for r in runs]
            ms = [r["extra_mb"] for r in runs]
            cs = [r["cpu_s"] for r in runs]
            med[k] = (statistics.median(ts), statistics.median(ms), statistics.median(cs))
            label = "hp.tl.rewards (CSR, in memory)" if k == "ours" else "seed: dense LFC + masked means"
            print(
                f"| {label} | {med[k][0]:.3f} | {', '.join(f'{x:.3f}' for x in ts)} | {med[k][2]:.3f} | {med[k][1]:.0f} |"
            )
        print(f"load average after measuring (1/5/15 min): {os.getloadavg()}")
        if "seed" in med:
            print()
            print(
                f"speed-up: {med['seed'][0] / med['ours'][0]:.1f}x faster (wall), "
                f"{med['seed'][2] / med['ours'][2]:.1f}x less CPU time; "
                f"memory: {med['ours'][1] / med['seed'][1]:.4f} of the seed's extra memory "
                f"(1/{med['seed'][1] / max(med['ours'][1], 1e-9):.0f})"
            )

        if args.backed_cells:
            import anndata as ad

            t0 = time.perf_counter()
            h5 = tmp / "backed.h5ad"
            big = ad.AnnData(_make_csr(args.backed_cells, args.genes, args.density, seed=1))
            big.obs_names = big.obs_names.astype(str)
            big.obs["perturbation"] = _labels(args.backed_cells, args.perts, seed=1)
            big.write_h5ad(h5)
            nnz = big.X.nnz
            del big
            print()
            print(
                f"backed: {args.backed_cells:,} cells x {args.genes:,} genes, {nnz:,} stored values, "
                f"{h5.stat().st_size / 2**30:.2f} GiB h5ad (written in {time.perf_counter() - t0:.0f} s; "
                "file in the OS page cache)"
            )
            r = _run_worker("backed", h5)
            print(
                f"| hp.tl.rewards (backed='r', chunk_size=20,000) | {r['time_s']:.2f} s | peak RSS of the process "
                f"{r['peak_total_mb']:.0f} MB ({r['extra_mb']:.0f} MB above the opened object) |"
            )


if __name__ == "__main__":
    main()
