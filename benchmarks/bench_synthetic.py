"""Time ``hp.datasets.synthetic`` (median of repeats) and print Markdown table rows for docs/benchmarks.md.

Usage: ``python benchmarks/bench_synthetic.py [--repeats 3] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import hyperperturb as hp

SIZES = [(3_000, 200, 20), (20_000, 1_000, 50), (200_000, 2_000, 200)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the largest size")
    args = parser.parse_args()
    sizes = SIZES[:-1] if args.quick else SIZES
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        "| cells | genes | perturbations | median time (s) | non-zero share | peak extra memory (MiB) | X size (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n_cells, n_genes, n_pert in sizes:
        times = []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            adata = hp.datasets.synthetic(n_cells, n_genes, n_pert, seed=rep, verbose=False)
            times.append(time.perf_counter() - t0)
        density = adata.X.nnz / (adata.n_obs * adata.n_vars)
        x_mib = (adata.X.data.nbytes + adata.X.indices.nbytes + adata.X.indptr.nbytes) / 2**20
        del adata
        tracemalloc.start()
        adata = hp.datasets.synthetic(n_cells, n_genes, n_pert, seed=0, verbose=False)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del adata
        print(
            f"| {n_cells:,} | {n_genes:,} | {n_pert} | {statistics.median(times):.2f} | {density:.3f} | {peak:.0f} | {x_mib:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
