"""Cost of ``hp.tl.evaluate`` and ``hp.tl.design`` as the number of perturbations grows (issue 16).

For each size a synthetic screen (``hp.datasets.synthetic``, its true network) is prepared once (normalise, log1p,
perturbations, network, rewards) and written to a temporary ``.h5ad``; every measurement then runs in its own
process (wall time, peak RSS of that process):

* ``evaluate`` with the baselines (mean, linear, ceiling, majority-vote), the default ``max_heldout`` and
  ``max_heldout=None`` (every held-out perturbation scored);
* ``evaluate`` with the ``hyperperturb`` model (``train_kwargs={"epochs": --epochs}``);
* ``design`` with the linear predictor and with the model predictor (after ``hp.tl.train``, same epochs).

Usage::

    python benchmarks/bench_evaluate_scale.py                         # 200, 1,000 and 3,000 perturbations
    python benchmarks/bench_evaluate_scale.py --sizes 100x200 --splits 2 --epochs 2   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _prepare(n_perts: int, n_genes: int, cells_per_pert: int, path: Path) -> dict:
    import scanpy as sc

    import hyperperturb as hp

    t0 = time.perf_counter()
    n_cells = int(n_perts * cells_per_pert / 0.85)  # 15 % controls
    a = hp.datasets.synthetic(n_cells, n_genes, n_perts, seed=0)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    a.write_h5ad(path)
    n_p = len(a.uns["hyperperturb"]["rewards"]["perturbations"])
    return {"cells": a.n_obs, "genes": a.n_vars, "perturbations": n_p, "prepare_s": time.perf_counter() - t0}


def _worker(kind: str, path: Path, splits: int, epochs: int) -> dict:
    import anndata as ad

    import hyperperturb as hp

    a = ad.read_h5ad(path)
    base = ("mean", "linear", "ceiling", "majority-vote")
    t0 = time.perf_counter()
    if kind == "evaluate-baselines":
        hp.tl.evaluate(a, n_splits=splits, models=(), baselines=base, verbose=False)
        res = hp.get.evaluation(a)
    elif kind == "evaluate-baselines-all":
        hp.tl.evaluate(a, n_splits=splits, models=(), baselines=base, max_heldout=None, verbose=False)
        res = hp.get.evaluation(a)
    elif kind == "evaluate-model":
        hp.tl.evaluate(
            a, n_splits=splits, models=("hyperperturb",), baselines=("mean",), train_kwargs={"epochs": epochs}
        )
        res = hp.get.evaluation(a)
    elif kind == "design-linear":
        hp.tl.design(a, n=50, predictor="linear")
        res = hp.get.design(a)
    elif kind == "design-model":
        hp.tl.train(a, epochs=epochs, verbose=False)
        t0 = time.perf_counter()  # the proposal step only
        hp.tl.design(a, n=50, predictor="model", strategy="ucb")
        res = hp.get.design(a)
    else:  # pragma: no cover
        raise ValueError(kind)
    dt = time.perf_counter() - t0
    ent = a.uns["hyperperturb"].get("evaluation", {})
    scored = sum(len(v) for v in ent.get("scored", {}).values()) if ent else 0
    return {
        "time_s": dt,
        "rows": len(res),
        "scored": scored,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(kind: str, path: Path, splits: int, epochs: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(path), "--splits", str(splits)]
    cmd += ["--epochs", str(epochs)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        msg = f"worker {kind} failed:\n{out.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200x1000,1000x1000,3000x1000", help="perturbations x genes, comma separated")
    ap.add_argument("--cells-per-pert", type=int, default=20)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument(
        "--kinds", default="evaluate-baselines,evaluate-baselines-all,evaluate-model,design-linear,design-model"
    )
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data, args.splits, args.epochs)))
        return
    print(f"machine: {os.cpu_count()} cores; load average before (1/5/15 min): {os.getloadavg()}")
    print(f"{args.splits} random splits, holdout_frac 0.2, n_null 200, epochs {args.epochs}")
    print()
    print("| perturbations | genes | cells | call | held out / scored per split | wall time (s) | peak RSS (MiB) |")
    print("|---:|---:|---:|---|---|---:|---:|")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="hp_bench_evscale_") as tmp:
        for size in args.sizes.split(","):
            n_p, n_g = (int(x) for x in size.lower().split("x"))
            path = Path(tmp) / f"s{n_p}x{n_g}.h5ad"
            info = _prepare(n_p, n_g, args.cells_per_pert, path)
            held = max(1, round(0.2 * info["perturbations"]))
            for kind in args.kinds.split(","):
                r = _run(kind, path, args.splits, args.epochs)
                per = f"{held} / {r['scored'] // args.splits}" if kind.startswith("evaluate") else "–"
                print(
                    f"| {info['perturbations']:,} | {info['genes']:,} | {info['cells']:,} | {kind} | {per} | "
                    f"{r['time_s']:.1f} | {r['peak_rss_mb']:.0f} |",
                    flush=True,
                )
    print()
    print(f"load average after (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
