"""Loader for the STRING v12 human protein-protein interaction subset."""

from __future__ import annotations

import numbers
import os

import pandas as pd

from hyperperturb._utils._validate import UNDIRECTED_ATTR

from ._paths import find_file

FILENAME = "string_v12_human_ppi_symbols.csv.gz"


def string_network(path: str | os.PathLike[str] | None = None, *, min_score: int = 700) -> pd.DataFrame:
    """Read the STRING v12 human PPI edge list (gene symbols) as a network for :func:`hyperperturb.pp.gene_network`.

    Parameters
    ----------
    path
        The file ``string_v12_human_ppi_symbols.csv.gz`` (columns ``gene_a``, ``gene_b``, ``combined_score``, ...)
        or the folder holding it. Default: the folder named by the environment variable ``HYPERPERTURB_DATA``.
    min_score
        Keep edges with ``combined_score >= min_score`` (STRING scores run from 0 to 1000; 700 = "high
        confidence"). The file itself only holds edges scored 400 or more.

    Returns
    -------
    A :class:`~pandas.DataFrame` with columns ``source``, ``target`` (gene symbols; each undirected edge once) and
    ``weight`` = ``combined_score / 1000``, marked as undirected in ``DataFrame.attrs``, so
    :func:`hyperperturb.pp.gene_network` sends its edges both ways (a filtered copy keeps the mark).

    Examples
    --------
    >>> import hyperperturb as hp
    >>> net = hp.datasets.string_network("data/", min_score=900)  # doctest: +SKIP
    """
    if isinstance(min_score, bool) or not isinstance(min_score, numbers.Real) or not 0 <= min_score <= 1000:
        msg = f"`min_score` must be a STRING score between 0 and 1000, got {min_score!r}."
        raise ValueError(msg)
    if 0 < min_score < 1:  # a weight in [0, 1] (gene_network's min_weight=0.7) given as a STRING score
        msg = (
            f"`min_score={min_score!r}` keeps every edge: STRING scores run from 0 to 1000. For "
            f"`hp.pp.gene_network(min_weight={min_score!r})`'s threshold pass min_score={round(min_score * 1000)}."
        )
        raise ValueError(msg)
    p = find_file(path, FILENAME, loader="hp.datasets.string_network")
    try:
        df = pd.read_csv(p, usecols=["gene_a", "gene_b", "combined_score"])
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:  # another file (binary, other columns)
        msg = (
            f"{str(p)!r} is not the STRING edge list this reader expects (a csv, optionally gzipped, with columns "
            f"gene_a, gene_b, combined_score, e.g. string_v12_human_ppi_symbols.csv.gz): {type(e).__name__}: {e}. "
            "For another network file, pass it to `hp.pp.gene_network(adata, path)` directly."
        )
        raise ValueError(msg) from None
    df = df[df["combined_score"] >= min_score]
    out = pd.DataFrame(
        {
            "source": df["gene_a"].astype(str).to_numpy(),
            "target": df["gene_b"].astype(str).to_numpy(),
            "weight": df["combined_score"].to_numpy(dtype=float) / 1000.0,
        }
    )
    out.attrs[UNDIRECTED_ATTR] = True  # hp.pp.gene_network sends its edges both ways (each pair is listed once)
    return out
