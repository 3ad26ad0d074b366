"""Regenerate the images of docs/plotting.md, docs/interop.md and the README.

Run from the repository root: ``python docs/_static/make_gallery.py``. It simulates a small screen with
``hp.datasets.synthetic``, runs the pipeline and saves every plot of ``hp.pl`` next to this file (small PNGs).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc

import hyperperturb as hp

HERE = Path(__file__).resolve().parent
DPI = 90


def save(fig, name):
    path = HERE / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")


def main():
    adata = hp.datasets.synthetic(n_cells=2000, n_genes=150, n_perturbations=12, seed=0)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
    hp.pp.gene_network(adata, hp.datasets.truth_network(adata, noise_edges=0.2, drop_edges=0.1))
    hp.tl.rewards(adata, verbose=False)
    hp.tl.train(adata, epochs=60, seed=0, verbose=False)
    adata.var["regulator"] = adata.var["is_regulator"].map({True: "regulator", False: "target"}).astype("category")
    perts = list(adata.uns["hyperperturb"]["train"]["perturbations"])

    save(hp.pl.poincare(adata, return_fig=True), "poincare_value.png")  # the defaults
    save(hp.pl.poincare(adata, radius="poincare", return_fig=True), "poincare_raw.png")  # the raw disk
    net = adata.var["hp_in_network"].to_numpy()
    d = 2 * np.arctanh(np.linalg.norm(adata.varm["X_poincare"], axis=1))
    reg = adata.var["is_regulator"].to_numpy()
    print(f"median |x| of network genes {np.median(np.linalg.norm(adata.varm['X_poincare'][net], axis=1)):.3f}")
    print(f"median d: regulators {np.median(d[net & reg]):.2f}, other genes {np.median(d[net & ~reg]):.2f}")
    # the README's picture
    save(
        hp.pl.poincare(adata, n_labels=8, perturbations=True, return_fig=True),
        "poincare_demo.png",
    )
    save(hp.pl.poincare(adata, "regulator", perturbations=True, return_fig=True), "poincare_categorical.png")
    save(hp.pl.poincare(adata, perts[0], labels="top", n_labels=8, return_fig=True), "poincare_perturbation.png")
    save(hp.pl.rewards(adata, n_genes=25, return_fig=True), "rewards.png")
    save(hp.pl.rewards(adata, n_genes=25, kind="policy", return_fig=True), "rewards_policy.png")
    save(hp.pl.history(adata, return_fig=True), "history.png")
    hp.tl.evaluate(
        adata, n_splits=3, models=("hyperperturb",), baselines=("mean", "median", "ceiling"),
        train_kwargs={"epochs": 30}, verbose=False,
    )  # fmt: skip
    print(hp.get.evaluation(adata, table="headline").round(3).to_string(index=False))
    save(hp.pl.evaluation(adata, "residual_pearson", return_fig=True), "evaluation.png")
    excess = adata.varm["hp_reward"] - adata.var["hp_reward_baseline"].to_numpy()[:, None]
    top_gene = adata.var_names[int(np.argmax(excess.max(axis=1)))]  # the gene with the largest observed excess
    print("rank_perturbations gene:", top_gene)
    save(hp.pl.rank_perturbations(adata, top_gene, n=8, return_fig=True), "rank_perturbations.png")

    # interop: scanpy on the transposed object (genes become observations, .varm becomes .obsm)
    genes = adata.T.copy()
    sc.pp.neighbors(genes, use_rep="X_poincare", n_neighbors=10)
    try:
        sc.tl.leiden(genes, resolution=0.5, flavor="igraph", n_iterations=2, directed=False)
        colour = ["leiden", "hp_value"]
    except ImportError:  # leiden needs the optional igraph package
        colour = ["regulator", "hp_value"]
    fig = sc.pl.embedding(genes, basis="poincare", color=colour, return_fig=True, show=False)
    for ax in fig.axes[:2]:
        ax.set_aspect("equal")
    save(fig, "interop_embedding.png")


if __name__ == "__main__":
    main()
