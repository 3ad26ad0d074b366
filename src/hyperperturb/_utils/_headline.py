"""The one-screen headline of an ``hp.tl.evaluate`` run, built from its summary table (NumPy/pandas only).

Shared by ``hp.tl.evaluate`` (which writes it to the log) and ``hp.get.evaluation(table="headline")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Metrics where a lower value is better (all others: higher is better).
LOWER_IS_BETTER = ("js_policy", "retrieval_rank")
#: Reference methods that are not baselines to beat: the noise ceiling and the random-embedding floor.
CEILING = "ceiling"
FLOOR = "hyperperturb-random-embedding"
#: Graph models of ``hp.tl.evaluate`` (the headline's model is the first of these that was evaluated).
MODEL_ORDER = (
    "hyperperturb",
    "hyperperturb-head",
    "hyperperturb-euclidean",
    "hyperperturb-euclidean-head",
)
HEADLINE_COLUMNS = [
    "metric",
    "better",
    "model",
    "model_mean",
    "best_baseline",
    "baseline_mean",
    "p_vs_baseline",
    "ceiling",
    "floor",
    "n",
]


def headline(summary: pd.DataFrame, *, baselines: Sequence[str], subset: str = "all") -> pd.DataFrame:
    """Per metric: the model's mean vs the best baseline's, the paired p-value, the ceiling and the floor.

    ``model`` is ``"hyperperturb"`` when evaluated (else the first graph model that was); ``best_baseline`` is the
    baseline in ``baselines`` (not the ceiling) with the best mean on that metric (highest, or lowest for
    :data:`LOWER_IS_BETTER`); ``p_vs_baseline`` the paired Wilcoxon p-value between the two (from the summary's
    ``p_vs_<baseline>``); ``ceiling`` the split-half noise ceiling's mean and ``floor`` the random-embedding model's
    mean (``nan`` where not evaluated); ``n`` the number of paired values of the model (held-out perturbations, or
    splits for per-split metrics). Only the summary rows of ``subset`` are used.
    """
    if summary is None or len(summary) == 0:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    s = summary[summary["subset"] == subset]
    methods = set(s["model"].astype(str))
    model = next((m for m in MODEL_ORDER if m in methods), None)
    base_names = [b for b in baselines if b != CEILING and b in methods]
    rows = []
    for metric in dict.fromkeys(s["metric"].astype(str)):
        sm = s[s["metric"] == metric].set_index("model")
        lower = metric in LOWER_IS_BETTER
        cands = sm.loc[[b for b in base_names if b in sm.index], "mean"].astype(float)
        cands = cands[np.isfinite(cands)]
        best = None
        if len(cands):
            best = str(cands.idxmin() if lower else cands.idxmax())
        has_model = model is not None and model in sm.index
        p = float("nan")
        if has_model and best is not None and f"p_vs_{best}" in sm.columns:
            p = float(sm.loc[model, f"p_vs_{best}"])
        rows.append(
            {
                "metric": metric,
                "better": "lower" if lower else "higher",
                "model": model if has_model else "",
                "model_mean": float(sm.loc[model, "mean"]) if has_model else float("nan"),
                "best_baseline": best or "",
                "baseline_mean": float(sm.loc[best, "mean"]) if best is not None else float("nan"),
                "p_vs_baseline": p,
                "ceiling": float(sm.loc[CEILING, "mean"]) if CEILING in sm.index else float("nan"),
                "floor": float(sm.loc[FLOOR, "mean"]) if FLOOR in sm.index else float("nan"),
                "n": int(sm.loc[model, "n"]) if has_model else int(sm["n"].max()),
            }
        )
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def headline_text(table: pd.DataFrame) -> str:
    """The headline as fixed-width text (3 significant digits, p-values in scientific notation)."""
    if table.empty:
        return "(no metric to report)"
    out = table.copy()
    for col in ("model_mean", "baseline_mean", "ceiling", "floor"):
        out[col] = out[col].map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
    out["p_vs_baseline"] = out["p_vs_baseline"].map(lambda v: "" if not np.isfinite(v) else f"{v:.1e}")
    return out.to_string(index=False)
