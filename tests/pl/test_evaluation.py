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
    hp.tl.evaluate(
        a, n_splits=2, models=(), baselines=("mean", "linear", "ceiling", "majority-vote"), n_null=20, verbose=False
    )
    return a


def test_returns_figure_and_axes(evaluated):
    fig = hp.pl.evaluation(evaluated, return_fig=True)
    assert isinstance(fig, Figure)
    ax = hp.pl.evaluation(evaluated, "js_policy", show=False)
    # every drawn method was scored on the metric: no empty slot for majority-vote (policy_auroc only)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mean", "linear", "ceiling"]
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


def test_title_names_the_metric_and_legend_explains_the_lines(evaluated):
    ax = hp.pl.evaluation(evaluated, "spearman_excess", show=False)
    assert "spearman_excess" in ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "median of the mean baseline" in texts
    assert "median of the noise ceiling (split-half)" in texts
    styles = {ln.get_label(): ln.get_linestyle() for ln in ax.get_lines()}
    assert styles["median of the mean baseline"] == "--"
    assert styles["median of the noise ceiling (split-half)"] == ":"
    ax = hp.pl.evaluation(evaluated, "policy_auroc", show=False)
    assert "majority-vote" in [t.get_text() for t in ax.get_xticklabels()]
    with pytest.raises(ValueError, match="no 'spearman_excess' values"):
        hp.pl.evaluation(evaluated, "spearman_excess", models=["majority-vote"], show=False)


def test_headline_table(evaluated):
    h = hp.get.evaluation(evaluated, table="headline")
    assert list(h.columns) == [
        "metric", "better", "model", "model_mean", "best_baseline", "baseline_mean", "p_vs_baseline", "ceiling",
        "floor", "n",
    ]  # fmt: skip
    summary = hp.get.evaluation(evaluated, table="summary")
    assert set(h["metric"]) == set(summary.loc[summary["subset"] == "all", "metric"])
    assert h["metric"].is_unique and len(h) <= 12  # one screen
    row = h.set_index("metric").loc["spearman_excess"]
    means = summary[(summary["subset"] == "all") & (summary["metric"] == "spearman_excess")].set_index("model")["mean"]
    assert row["best_baseline"] == means[["mean", "linear"]].idxmax()  # the ceiling is no baseline to beat
    assert row["baseline_mean"] == pytest.approx(means[["mean", "linear"]].max())
    assert row["ceiling"] == pytest.approx(means["ceiling"])
    js = h.set_index("metric").loc["js_policy"]
    js_means = summary[(summary["subset"] == "all") & (summary["metric"] == "js_policy")].set_index("model")["mean"]
    assert js["better"] == "lower" and js["best_baseline"] == js_means[["mean", "linear"]].idxmin()
    assert (h["model"] == "").all()  # no graph model was evaluated here
    assert h.set_index("metric").loc["policy_auroc", "best_baseline"] in ("mean", "linear", "majority-vote")


@pytest.mark.parametrize("subset", ["none", "detectable", "all"])
def test_each_subset_draws_its_own_perturbations(evaluated, subset):
    # "none" used to fall through to every perturbation (its box was the "all" box)
    res = hp.get.evaluation(evaluated)
    r = res[(res["metric"] == "spearman_excess") & (res["model"] == "linear")]
    want = r if subset == "all" else r[r["effect"] == subset]
    ax = hp.pl.evaluation(evaluated, "spearman_excess", models=["linear"], subsets=subset, show=False)
    drawn = sorted(float(v) for c in ax.collections for v in c.get_offsets()[:, 1])
    assert drawn == pytest.approx(sorted(want["value"].astype(float)))
