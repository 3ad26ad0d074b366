"""``hp.pl.evaluation``: held-out prediction quality per model, from ``hp.tl.evaluate``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from hyperperturb._utils import resolve
from hyperperturb._utils._schema import EvaluationEntry, read

from ._utils import DOC_MOD, DOC_RETURNS, DOC_SHOW_AX, check_bool, check_show, doc_params, finish, new_axes

_LABELS = {
    "spearman_excess": "Spearman (excess over noise floor)",
    "pearson_excess": "Pearson (excess over noise floor)",
    "spearman_raw": "Spearman (raw reward)",
    "topk_recall": "top-20 recall (excess)",
    "js_policy": "Jensen-Shannon divergence of policy (lower is better)",
    "spearman_value": "Spearman of gene value",
    "residual_pearson": "Pearson of delta vs training mean (top-k genes)",
    "retrieval_rank": "retrieval rank (0 best, 0.5 chance)",
    "retrieval_top1": "retrieval top-1 accuracy",
    "policy_auroc": "per-gene AUROC of policy (training perturbations)",
}
_COLORS = {"all": "#9e9e9e", "detectable": "#d1495b", "none": "#30638e"}


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def evaluation(
    data: Any,
    metric: str = "spearman_excess",
    *,
    models: Sequence[str] | None = None,
    subsets: Sequence[str] = ("all", "detectable"),
    strip: bool = True,
    mod: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Any:
    """Held-out prediction quality per model: boxes over perturbations (or splits), all vs detectable effects.

    Reads ``.uns["hyperperturb"]["evaluation"]["results"]`` written by :func:`hyperperturb.tl.evaluate`. For each
    model, one box per subset: ``all`` held-out perturbations and those with a ``detectable`` effect; points are the
    individual perturbations (per-split metrics: the splits). A dashed line marks the ``mean`` baseline's median, a
    dotted line the split-half ``ceiling``'s median (when evaluated); the legend says so. The title names the metric;
    only methods scored on it get a slot (``majority-vote`` scores ``policy_auroc`` alone).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.evaluate`.
    metric
        A metric of the results table (``spearman_excess``, ``pearson_excess``, ``spearman_raw``, ``topk_recall``,
        ``residual_pearson``, ``retrieval_rank``, ``retrieval_top1``, ``js_policy``, ``spearman_value``,
        ``policy_auroc``).
    models
        Models to draw, in this order. Default: all, in the order they were evaluated.
    subsets
        ``"all"``, ``"detectable"`` and/or ``"none"`` (held-out perturbations without a detectable effect).
    strip
        Overlay the individual values as jittered points.
    {mod}
    {show_ax}

    Returns
    -------
    {returns}

    Examples
    --------
    >>> hp.tl.evaluate(adata)  # doctest: +SKIP
    >>> hp.pl.evaluation(adata, "spearman_excess")  # doctest: +SKIP
    """
    check_bool("strip", strip)
    check_bool("return_fig", return_fig)
    check_show(show)
    t = resolve(data, mod=mod)
    res = read(t.adata, EvaluationEntry, needed_by="hp.pl.evaluation").results
    known = list(dict.fromkeys(res["metric"].astype(str)))
    if metric not in known:
        msg = f"Metric {metric!r} is not in the evaluation results; evaluated metrics are {known}."
        raise ValueError(msg)
    r_metric = res[(res["metric"] == metric) & np.isfinite(res["value"].to_numpy(dtype=np.float64))]
    # only methods scored on this metric (majority-vote, for example, scores policy_auroc alone): no empty slots
    order = [m for m in dict.fromkeys(res["model"].astype(str)) if (r_metric["model"] == m).any()]
    if models is not None:
        models = [models] if isinstance(models, str) else list(models)
        evaluated = list(dict.fromkeys(res["model"].astype(str)))
        bad = [m for m in models if m not in evaluated]
        if bad:
            msg = f"Models {bad} were not evaluated; evaluated models are {evaluated}."
            raise ValueError(msg)
        missing = [m for m in models if m not in order]
        if missing:
            msg = f"Models {missing} have no {metric!r} values (not scored on this metric); drawable: {order}."
            raise ValueError(msg)
        order = models
    subsets = [subsets] if isinstance(subsets, str) else list(subsets)
    bad = [s for s in subsets if s not in _COLORS]
    if bad or not subsets:
        msg = f"`subsets` must be a non-empty selection of {list(_COLORS)}, got {subsets!r}."
        raise ValueError(msg)
    r = res[res["metric"] == metric]
    per_split = bool((r["perturbation"] == "all").all())

    def _values(m: str, s: str) -> np.ndarray:
        rm = r[r["model"] == m]
        if per_split:
            rm = rm[rm["effect"] == s]
        elif s in ("detectable", "none"):  # "all" keeps every held-out perturbation
            rm = rm[rm["effect"] == s]
        v = rm["value"].to_numpy(dtype=np.float64)
        return v[np.isfinite(v)]

    fig, axis = new_axes(ax, (3.0 + 1.1 * len(order) * len(subsets) ** 0.5, 3.6))
    width = 0.8 / len(subsets)
    rng = np.random.default_rng(0)  # jitter only
    for si, s in enumerate(subsets):
        pos = np.arange(len(order)) + (si - (len(subsets) - 1) / 2) * width
        vals = [_values(m, s) for m in order]
        keep = [i for i, v in enumerate(vals) if v.size]
        if not keep:
            continue
        bp = axis.boxplot(
            [vals[i] for i in keep],
            positions=pos[keep],
            widths=width * 0.85,
            patch_artist=True,
            showfliers=not strip,
            medianprops={"color": "black"},
        )
        for patch in bp["boxes"]:
            patch.set_facecolor(_COLORS[s])
            patch.set_alpha(0.45)
        if strip:
            for i in keep:
                x = pos[i] + rng.uniform(-width * 0.25, width * 0.25, vals[i].size)
                axis.scatter(x, vals[i], s=9, color=_COLORS[s], edgecolor="none", alpha=0.9, zorder=3)
        axis.plot([], [], marker="s", ls="", color=_COLORS[s], alpha=0.6, label=s)
    lines = []
    if "mean" in order and "all" in subsets:
        base = _values("mean", "all")
        if base.size:
            lines.append(axis.axhline(float(np.median(base)), color="0.3", ls="--", lw=0.8, zorder=0,
                                      label="median of the mean baseline"))  # fmt: skip
    if "ceiling" in order and "all" in subsets:
        top = _values("ceiling", "all")
        if top.size:
            lines.append(axis.axhline(float(np.median(top)), color="0.3", ls=":", lw=0.8, zorder=0,
                                      label="median of the noise ceiling (split-half)"))  # fmt: skip
    axis.set_xticks(np.arange(len(order)))
    axis.set_xticklabels(order, rotation=30, ha="right")
    axis.set_ylabel(_LABELS.get(metric, metric))
    unit = "per split" if per_split else "per held-out perturbation"
    axis.set_title(f"{metric}: {_LABELS.get(metric, metric)}\n{unit}", fontsize=9)
    handles, texts = axis.get_legend_handles_labels()
    if len(subsets) > 1 or lines:
        axis.legend(handles, texts, frameon=False, fontsize=7, title="effect" if len(subsets) > 1 else None,
                    title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    axis.spines[["top", "right"]].set_visible(False)
    return finish(fig, axis, ax_given=ax is not None, show=show, return_fig=return_fig)
