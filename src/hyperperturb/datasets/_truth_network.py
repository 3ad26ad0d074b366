"""The true hierarchy of a synthetic screen as an undirected, optionally corrupted, edge list."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from hyperperturb._utils import as_rng, is_mudata
from hyperperturb._utils._validate import str_array

from ._synthetic import TRUTH_KEY


def _find_truth(data: Any) -> dict[str, Any]:
    if isinstance(data, AnnData):
        candidates = [data.uns]
    elif is_mudata(data):
        candidates = [data.uns] + [m.uns for m in data.mod.values()]
    else:
        msg = f"`data` must be the AnnData or MuData returned by `hp.datasets.synthetic`, got {type(data).__name__}."
        raise TypeError(msg)
    for uns in candidates:
        if TRUTH_KEY in uns:
            return uns[TRUTH_KEY]
    msg = (
        f"No ground truth found: `.uns[{TRUTH_KEY!r}]` is missing. `truth_network` only works on data simulated by "
        "`hp.datasets.synthetic` (for real data, load a network with `hp.datasets.string_network`)."
    )
    raise KeyError(msg)


def _fraction(name: str, value: Any, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)) or value < 0:
        msg = f"`{name}` must be a number >= 0, got {value!r}."
        raise ValueError(msg)
    if high is not None and float(value) > high:
        msg = f"`{name}={value}` must be at most {high} (it is the share of true edges to remove)."
        raise ValueError(msg)
    return float(value)


def truth_network(
    data: Any,
    *,
    noise_edges: float = 0.0,
    drop_edges: float = 0.0,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """The true regulatory hierarchy of a synthetic screen as an undirected gene network.

    Use it as a prior network in place of STRING, e.g. ``hp.pp.gene_network(adata, hp.datasets.truth_network(adata))``;
    corrupting it with ``noise_edges`` / ``drop_edges`` emulates an imperfect database.

    Parameters
    ----------
    data
        The AnnData or MuData returned by :func:`~hyperperturb.datasets.synthetic` (the truth is read from
        ``.uns["hyperperturb_truth"]``, of the object itself or of one of its modalities).
    noise_edges
        Number of random false edges to add, as a fraction of the number of true edges (``0.5`` adds half as many
        false edges as there are true ones). False edges join distinct genes that are not linked in the truth.
    drop_edges
        Fraction of true edges to remove at random, in [0, 1].
    seed
        Seed of the corruption.

    Returns
    -------
    A :class:`~pandas.DataFrame` with columns ``source``, ``target`` (gene names; each undirected edge once, in the
    direction regulator → target for true edges) and ``weight`` (1.0 for every edge).

    Examples
    --------
    >>> import hyperperturb as hp
    >>> adata = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4)
    >>> net = hp.datasets.truth_network(adata, noise_edges=0.2, drop_edges=0.1)
    >>> list(net.columns)
    ['source', 'target', 'weight']
    """
    truth = _find_truth(data)
    noise_edges = _fraction("noise_edges", noise_edges, None)
    drop_edges = _fraction("drop_edges", drop_edges, 1.0)
    genes = str_array(truth["genes"])
    edges = truth["edges"]
    src = str_array(edges["source"])
    tgt = str_array(edges["target"])
    rng = as_rng(seed)
    n_true = src.size
    n_drop = round(drop_edges * n_true)
    keep = np.ones(n_true, dtype=bool)
    if n_drop:
        keep[rng.choice(n_true, n_drop, replace=False)] = False
    n_noise = round(noise_edges * n_true)
    n = genes.size
    n_free = n * (n - 1) // 2 - n_true
    if n_noise > n_free:
        msg = (
            f"`noise_edges={noise_edges}` asks for {n_noise} false edges but only {n_free} gene pairs are not linked "
            f"in the truth. Use noise_edges <= {n_free / max(n_true, 1):.3g}."
        )
        raise ValueError(msg)
    index = {g: i for i, g in enumerate(genes)}
    si = np.fromiter((index[g] for g in src), dtype=np.int64, count=n_true)
    ti = np.fromiter((index[g] for g in tgt), dtype=np.int64, count=n_true)
    taken = set(zip(np.minimum(si, ti).tolist(), np.maximum(si, ti).tolist(), strict=True))
    noise_i: list[int] = []
    noise_j: list[int] = []
    while len(noise_i) < n_noise:
        need = n_noise - len(noise_i)
        a = rng.integers(0, n, size=2 * need + 8)
        b = rng.integers(0, n, size=2 * need + 8)
        for i, j in zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True):
            if i != j and (i, j) not in taken:
                taken.add((i, j))
                noise_i.append(i)
                noise_j.append(j)
                if len(noise_i) == n_noise:
                    break
    return pd.DataFrame(
        {
            "source": np.concatenate([src[keep], genes[np.asarray(noise_i, dtype=np.int64)]]),
            "target": np.concatenate([tgt[keep], genes[np.asarray(noise_j, dtype=np.int64)]]),
            "weight": np.ones(int(keep.sum()) + n_noise, dtype=np.float64),
        }
    )
