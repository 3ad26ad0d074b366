"""hp.pl.evaluation draws the stored evaluation table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import scanpy as sc
from matplotlib.figure import Figure

import hyperperturb as hp


@pytest.fixture(scope="module")
def evaluated():
    a = hp.datasets.synthetic(n_cells=800, n_genes=40, n_perturbations=10, seed=0)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.tl.rewards(a, verbose=False)
    hp.tl.evaluate(a, n_splits=2, models=(), baselines=("mean", "linear"), n_null=20, verbose=False)
    return a


def test_returns_figure_and_axes(evaluated):
    fig = hp.pl.evaluation(evaluated, return_fig=True)
    assert isinstance(fig, Figure)
    ax = hp.pl.evaluation(evaluated, "js_policy", show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mean", "linear"]
    _, ax0 = plt.subplots()
    out = hp.pl.evaluation(evaluated, "topk_recall", models=["linear"], subsets="all", ax=ax0)
    assert out is ax0


def test_errors(evaluated):
    with pytest.raises(ValueError, match="not in the evaluation results"):
        hp.pl.evaluation(evaluated, "auc", show=False)
    with pytest.raises(ValueError, match="not evaluated"):
        hp.pl.evaluation(evaluated, models=["gears"], show=False)
    fresh = hp.datasets.synthetic(n_cells=100, n_genes=10, n_perturbations=2, seed=0)
    with pytest.raises(KeyError, match="hp.tl.evaluate"):
        hp.pl.evaluation(fresh, show=False)
