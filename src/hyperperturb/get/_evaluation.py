"""``hp.get.evaluation``: the tables written by ``hp.tl.evaluate``."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from hyperperturb._utils import resolve
from hyperperturb._utils._headline import headline
from hyperperturb._utils._schema import EvaluationEntry, read

_TABLES = ("results", "summary", "detectability", "headline")


def evaluation(
    data: Any,
    *,
    table: Literal["results", "summary", "detectability", "headline"] = "results",
    mod: str = "rna",
) -> pd.DataFrame:
    """A table of the last :func:`hyperperturb.tl.evaluate` run, as a :class:`~pandas.DataFrame` (a copy).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.evaluate`.
    table
        ``"results"``: one row per split, model, perturbation and metric (columns ``split``, ``model``,
        ``perturbation``, ``metric``, ``value``, ``effect``). ``"summary"``: mean, sd, median and n per model ×
        metric × subset with the paired Wilcoxon p-values ``p_vs_<method>``. ``"detectability"``: per scored
        perturbation, the detectability statistic, threshold and effect (and the split-half ``split_half_r``
        when the ceiling was evaluated). ``"headline"``: one row per metric, the first thing to read — the
        model's mean (``model``: ``hyperperturb`` when evaluated) against the best baseline's
        (``best_baseline``: the highest mean among the baselines run, lowest for ``better == "lower"``), the paired
        Wilcoxon ``p_vs_baseline``, the split-half ``ceiling`` and the random-embedding ``floor``
        (``nan`` when not evaluated) and ``n`` paired values; over all held-out perturbations (``subset == "all"`` of
        the summary).
    mod
        Modality of a MuData holding the RNA (where the ledger lives).

    Returns
    -------
    The table; it survives an h5ad round trip.

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.evaluate` has not been run.
    ValueError
        For an unknown ``table``.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.tl.evaluate(adata, split="loo", models=(), baselines=("mean", "median"))  # doctest: +SKIP
    >>> hp.get.evaluation(adata, table="headline")  # doctest: +SKIP
    >>> hp.get.evaluation(adata, table="summary")  # doctest: +SKIP
    """
    if table not in _TABLES:
        msg = f"Unknown table {table!r}; choose from {list(_TABLES)}."
        raise ValueError(msg)
    entry = read(resolve(data, mod=mod).adata, EvaluationEntry, needed_by="hp.get.evaluation")
    if table == "headline":
        return headline(entry.summary, baselines=entry.baselines)
    out: pd.DataFrame = getattr(entry, table)  # one of EvaluationEntry.TABLES
    return out.copy()
