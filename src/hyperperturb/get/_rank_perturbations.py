"""``hp.get.rank_perturbations``: which perturbations move a gene most, as a tidy table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from hyperperturb._utils import check_current, logger, require_step, resolve
from hyperperturb._utils._entries import params, perturbation_columns
from hyperperturb._utils._validate import unknown_gene_message

_SOURCES = {"predicted": ("hp_policy", "train"), "observed": ("hp_reward", "rewards")}


def rank_perturbations(
    data: Any,
    gene: str | Sequence[str] | None = None,
    n: int | None = 10,
    *,
    source: Literal["predicted", "observed"] = "predicted",
    mod: str = "rna",
) -> pd.DataFrame:
    """Perturbations ranked by how strongly they move each gene.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train` (``source="predicted"``) or
        :func:`hyperperturb.tl.rewards` (``source="observed"``).
    gene
        A gene name, a list of gene names, or ``None`` for all genes.
    n
        Number of top perturbations per gene; ``None`` keeps all.
    source
        ``"predicted"``: the model's policy ``.varm["hp_policy"]`` (a distribution over perturbations per gene, so
        scores of one gene sum to 1). ``"observed"``: the measured rewards ``.varm["hp_reward"]`` (by default the
        gene's absolute mean shift in cells carrying the perturbation); signed rewards (``hp.tl.rewards(signed=True)``)
        are ranked by magnitude and reported with their sign, so the strongest fall ranks next to the strongest rise.
    mod
        Modality of a MuData holding the RNA.

    Returns
    -------
    A :class:`~pandas.DataFrame` with columns ``gene``, ``perturbation``, ``score`` and ``rank`` (1 = strongest),
    sorted by gene (in the order asked for, or ``var_names`` order) then rank. Genes whose row is not finite
    (genes the model did not score) are left out when ``gene=None`` (with a log message) and raise a
    :class:`ValueError` when asked for by name.

    Raises
    ------
    KeyError
        If the needed results are absent or a gene is unknown.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.get.rank_perturbations(adata, "STAT1", n=5)  # doctest: +SKIP
    """
    if source not in _SOURCES:
        msg = f"`source` must be 'predicted' or 'observed', got {source!r}."
        raise ValueError(msg)
    if n is not None and (not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1):
        msg = f"`n` must be a positive integer or None (all perturbations), got {n!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    key, step = _SOURCES[source]
    check_current(adata, step, needed_by=f"hp.get.rank_perturbations(source={source!r})")
    if key not in adata.varm:
        require_step(adata, step, needed_by=f"hp.get.rank_perturbations(source={source!r})")
        msg = f".varm[{key!r}] is missing although {step!r} is recorded in .uns; re-run the step that writes it."
        raise KeyError(msg)
    cols = perturbation_columns(adata, key)
    var_names = adata.var_names
    if gene is None:
        idx = np.arange(adata.n_vars)
        by_name = False
    else:
        genes = _gene_names(gene)
        pos = var_names.get_indexer(genes)
        for g, p in zip(genes, pos, strict=True):
            if p < 0:
                raise KeyError(unknown_gene_message(str(g), var_names))
        idx = pos
        by_name = True
    scores = np.asarray(adata.varm[key][idx], dtype=float)
    finite = np.isfinite(scores).all(axis=1)
    if not finite.all():
        bad = [str(var_names[i]) for i in idx[~finite]]
        if by_name:
            some = [str(var_names[i]) for i in idx[~finite & np.isfinite(scores).any(axis=1)]]
            what = (
                f"have non-finite {source} scores in .varm[{key!r}] for some perturbations ({some[:5]}: the array was "
                "edited or damaged after it was written; re-run the step that wrote it)"
                if some
                else f"have no finite {source} scores in .varm[{key!r}] (not modelled)"
            )
            msg = (
                f"Gene(s) {bad[:5]} {what}. A gene's ranking needs a score for every perturbation; pick genes that "
                "were scored, e.g. from `hp.get.rank_perturbations(adata)`."
            )
            raise ValueError(msg)
        logger.info("hp.get.rank_perturbations: %d genes without finite scores are left out", len(bad))
        idx, scores = idx[finite], scores[finite]
    k = len(cols) if n is None else min(int(n), len(cols))
    # stable descending sort: ties keep column order; signed rewards rank by magnitude (a fall moves a gene too)
    strength = (
        np.abs(scores) if source == "observed" and bool(params(adata, "rewards").get("signed", False)) else scores
    )
    order = np.argsort(-strength, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    cols_arr = np.asarray(cols, dtype=object)
    df = pd.DataFrame(
        {
            "gene": np.repeat(np.asarray(var_names[idx], dtype=object), k),
            "perturbation": cols_arr[order].ravel(),
            "score": top.ravel(),
            "rank": np.tile(np.arange(1, k + 1), len(idx)),
        }
    )
    return df


def _gene_names(gene: Any) -> list[str]:
    """``gene`` (a name or a list of names) as a non-empty list of names; anything but ``str`` names is refused.

    Genes are looked up by name: an ``int`` is not a position in ``var_names`` (nor the gene named ``"1"``).
    """
    if isinstance(gene, str):
        return [gene]
    if not isinstance(gene, Iterable) or isinstance(gene, bytes):
        raise TypeError(_not_a_name(gene, "`gene`"))
    genes = list(gene)
    if not genes:
        msg = "`gene` is an empty list; pass gene names or None for all genes."
        raise ValueError(msg)
    for g in genes:
        if not isinstance(g, str):
            raise TypeError(_not_a_name(g, "every entry of `gene`"))
    return genes


def _not_a_name(value: Any, what: str) -> str:
    return (
        f"{what} must be a gene name (a str from adata.var_names), got {value!r} of type {type(value).__name__}. "
        f"Genes are looked up by name, not by position: pass {str(value)!r} for the gene named {str(value)!r}, or "
        "`adata.var_names[i]` for the gene at position i."
    )
