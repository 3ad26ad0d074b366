"""Run the tutorial on the real Papalexi 2021 subset + STRING and render its figures.

Usage: ``python docs/_static/make_tutorial.py [SHARED_DATA_DIR]`` (default: ``../shared/data`` next to the
repository). Writes ``docs/_static/tutorial_*.png`` and prints the tables quoted in ``docs/tutorial.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc

import hyperperturb as hp

HERE = Path(__file__).resolve().parent
data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data"
pd.set_option("display.width", 120)

t0 = time.perf_counter()
adata = hp.datasets.papalexi2021(data_dir / "papalexi2021_thp1_eccite_299genes.h5ad")  # drops unassigned cells
print(adata)
sc.pp.normalize_total(adata)
sc.pp.log1p(adata)

sc.settings.verbosity = 2  # the info lines quoted in the tutorial
hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
string = hp.datasets.string_network(data_dir / "string_v12_human_ppi_symbols.csv.gz", min_score=700)
hp.pp.gene_network(adata, string, min_weight=0.7, hops=2)
sc.settings.verbosity = 1
net = adata.uns["hyperperturb"]["network"]
print(
    f"network: matched {net['n_matched']} / {adata.n_vars} genes, {net['n_connected']} connected, "
    f"{net['n_edges']} edges, {len(net['extra_nodes'])} unmeasured targets added: {list(net['extra_nodes'])}"
)

hp.tl.rewards(adata, verbose=False)
print("\nobserved top perturbations for STAT1:")
print(hp.get.rank_perturbations(adata, "STAT1", n=5, source="observed").to_string(index=False))

hp.tl.train(adata, epochs=200, seed=0, verbose=False)
tr = adata.uns["hyperperturb"]["train"]
print(f"\nscorable perturbations: {int(sum(tr['scorable']))} / {len(tr['scorable'])}")
print("final losses:", {k: round(float(v[-1]), 4) for k, v in tr["history"].items() if "loss" in k})

print("\npredicted top perturbations for STAT1:")
print(hp.get.rank_perturbations(adata, "STAT1", n=5).to_string(index=False))
emb = hp.get.embedding(adata)
print("\nembedding (first rows):")
print(emb.sort_values("value", ascending=False).head(5).round(3).to_string())
print("\nembedding quality:")
print(hp.tl.embedding_quality(adata).round(3).to_string(index=False))
in_net = adata.var["hp_in_network"].to_numpy()
print(
    f"genes without edges (hp_in_network False): {int((~in_net).sum())}; network entry n_isolated: {net['n_isolated']}"
)
x = adata.varm["X_poincare"]
d = 2 * np.arctanh(np.linalg.norm(x, axis=1))
order = np.argsort(np.where(in_net, d, np.inf))
print(
    "network genes nearest the centre (hyperbolic distance d):",
    [(adata.var_names[i], round(float(d[i]), 2)) for i in order[:5]],
)
print(
    f"median |x| of network genes {np.median(np.linalg.norm(x[in_net], axis=1)):.3f}; median d {np.median(d[in_net]):.2f}"
)

t_ev = time.perf_counter()
hp.tl.evaluate(
    adata,
    n_splits=3,
    models=("hyperperturb", "hyperperturb-random-embedding"),
    baselines=("mean", "median", "ceiling"),
    train_kwargs={"epochs": 100},
    verbose=False,
)
print(f"\nevaluate: {time.perf_counter() - t_ev:.0f} s; headline:")
print(hp.get.evaluation(adata, table="headline").round(3).to_string(index=False))

# figures
ax = hp.pl.poincare(adata, n_labels=12, perturbations=True, show=False)
ax.figure.savefig(HERE / "tutorial_poincare.png", dpi=110, bbox_inches="tight")
plt.close("all")
ax = hp.pl.poincare(adata, color="STAT1", source="observed", labels="top", n_labels=10, show=False)
ax.figure.savefig(HERE / "tutorial_poincare_stat1.png", dpi=110, bbox_inches="tight")
plt.close("all")
fig = hp.pl.rewards(adata, n_genes=25, return_fig=True)
fig.savefig(HERE / "tutorial_rewards.png", dpi=110, bbox_inches="tight")
plt.close("all")
fig = hp.pl.history(adata, return_fig=True)
fig.savefig(HERE / "tutorial_history.png", dpi=110, bbox_inches="tight")
plt.close("all")
ax = hp.pl.rank_perturbations(adata, "STAT1", n=10, show=False)
ax.figure.savefig(HERE / "tutorial_rank_stat1.png", dpi=110, bbox_inches="tight")
plt.close("all")
ax = hp.pl.evaluation(adata, "residual_pearson", show=False)
ax.figure.savefig(HERE / "tutorial_evaluation.png", dpi=110, bbox_inches="tight")
plt.close("all")

out = Path("/tmp") / "papalexi_hp.h5ad"
adata.write_h5ad(out)
back = sc.read_h5ad(out)
same = hp.tl.predict(back).equals(hp.tl.predict(adata))
print(f"\nh5ad round trip -> identical predictions: {same}")
print(f"total time: {time.perf_counter() - t0:.1f} s")
