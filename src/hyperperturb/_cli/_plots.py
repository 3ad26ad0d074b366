"""Figures and the ranked summary written by ``demo`` and ``train --plots``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._common import _rna


def _save_png(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=150, bbox_inches="tight", format="png")


def _save_plots(data: Any, out: Path, *, say: Callable[..., None]) -> list[Path]:
    """Write poincare.png, rewards.png and history.png for what the object holds; return the files written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    import hyperperturb as hp
    from hyperperturb._utils._entries import has_step
    from hyperperturb._utils._files import write_atomic

    adata = _rna(data)
    trained = has_step(adata, "train")
    written = []
    jobs: list[tuple[str, Callable[[], Any]]] = []
    if trained:
        jobs.append(
            ("poincare.png", lambda: hp.pl.poincare(data, "hp_value", labels="top", edges=True, return_fig=True))
        )
    if "hp_reward" in adata.varm:
        jobs.append(("rewards.png", lambda: hp.pl.rewards(data, n_genes=30, return_fig=True)))
    if trained:
        jobs.append(("history.png", lambda: hp.pl.history(data, return_fig=True)))
    for name, make in jobs:
        fig = make()
        path = out / name
        try:
            write_atomic(path, partial(_save_png, fig))
        finally:
            plt.close(fig)
        written.append(path)
        say(f"  wrote {path}")
    return written


def _summary_lines(data: Any, *, n_genes: int = 10, n: int = 5, mod: str = "rna") -> list[str]:
    """Top perturbations for the genes (of modality ``mod``) with the highest predicted (else measured) sensitivity."""
    import hyperperturb as hp

    adata = _rna(data, mod)
    if "hp_policy" in adata.varm and "hp_value" in adata.var:
        source: Literal["predicted", "observed"] = "predicted"
        vkey = "hp_value"
    elif "hp_reward" in adata.varm and "hp_value_target" in adata.var:
        source, vkey = "observed", "hp_value_target"
    else:
        return ["(no rewards or predictions: nothing to rank)"]
    value = adata.var[vkey].astype(float)
    value = value[np.isfinite(value.to_numpy())].sort_values(ascending=False)
    genes = list(value.index[:n_genes])
    df = hp.get.rank_perturbations(data, genes, n, source=source, mod=mod)
    lines = [f"Top {n} perturbations ({source}) for the {len(genes)} genes with the highest {vkey}:", ""]
    for g in genes:
        sub = df[df["gene"] == g]
        tops = ", ".join(f"{p} ({s:.3f})" for p, s in zip(sub["perturbation"], sub["score"], strict=True))
        lines.append(f"{g:>12s}  {vkey}={value[g]:.3f}  ->  {tops}")
    return lines
