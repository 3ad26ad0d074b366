"""Does ``hp.tl.design`` propose unscreened regulators before leaves on the synthetic hierarchy?

Usage: ``python benchmarks/bench_design.py [--seeds 0 1 2] [--epochs 100]``. For each synthetic screen (1,500 cells,
120 genes of which 30 regulators, 10 screened perturbations, true network) it trains the model, ranks every
unscreened graph node with each strategy, and prints the AUC of "regulators ranked before non-regulators"
(1 = all regulators first, 0.5 = chance) and the share of regulators among the first 10 proposals.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time

import numpy as np
import scanpy as sc
from sklearn.metrics import roc_auc_score

import hyperperturb as hp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=100)
    args = p.parse_args()
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}.\n"
    )
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        a = hp.datasets.synthetic(1500, 120, 10, n_regulators=30, seed=seed)
        sc.pp.normalize_total(a)
        sc.pp.log1p(a)
        hp.pp.perturbations(a)
        hp.pp.gene_network(a, hp.datasets.truth_network(a))
        hp.tl.rewards(a, verbose=False)
        hp.tl.train(a, epochs=args.epochs, seed=0, verbose=False)
        for strategy in ("greedy", "ucb", "degree", "random"):
            hp.tl.design(a, n=a.n_vars, strategy=strategy, seed=seed)
            df = hp.get.design(a)
            reg = a.var["is_regulator"].reindex(list(df["gene"])).fillna(False).to_numpy(bool)
            auc = roc_auc_score(reg, -np.arange(len(reg)))
            rows.append((seed, strategy, auc, reg[:10].mean()))
    print("| strategy | AUC regulators first (per seed) | mean AUC | regulators in top 10 (mean) |")
    print("|---|---|---|---|")
    for strategy in ("greedy", "ucb", "degree", "random"):
        r = [x for x in rows if x[1] == strategy]
        aucs = ", ".join(f"{x[2]:.2f}" for x in r)
        print(f"| {strategy} | {aucs} | {np.mean([x[2] for x in r]):.2f} | {np.mean([x[3] for x in r]):.2f} |")
    print(f"\nRun time {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
