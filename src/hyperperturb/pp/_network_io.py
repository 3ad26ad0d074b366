"""Reading gene networks (files, DataFrames, networkx graphs) into a plain edge table, and identifier mapping."""

from __future__ import annotations

import gzip
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_WEIGHT_NAMES = ("weight", "combined_score", "score")
_STRING_LINK_COLS = ("protein1", "protein2", "combined_score")


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            return fh.readline()
    except (OSError, UnicodeDecodeError) as e:
        msg = f"Could not read the network file {path.name!r} ({e}). Pass a text edge list (csv/tsv, optionally .gz)."
        raise ValueError(msg) from e


def _sep_for(line: str) -> str:
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    return r"\s+"


def read_table(path: str | PathLike, *, what: str = "network") -> pd.DataFrame:
    """Read a csv/tsv/whitespace-separated text file (optionally gzipped) with a header line."""
    path = Path(path)
    if not path.exists():
        msg = f"The {what} file {str(path)!r} does not exist. Check the path (relative paths are resolved from {Path.cwd().name!r})."
        raise FileNotFoundError(msg)
    line = _first_line(path)
    if not line.strip():
        msg = f"The {what} file {path.name!r} is empty. Pass an edge list with a header line (e.g. 'source,target,weight')."
        raise ValueError(msg)
    sep = _sep_for(line)
    try:
        return pd.read_csv(path, sep=sep, engine="c", low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        msg = (
            f"Could not parse the {what} file {path.name!r} as a {'tab' if sep == chr(9) else 'comma' if sep == ',' else 'space'}"
            f"-separated table: {e}. Pass a csv/tsv edge list with a header, or load it yourself and pass a DataFrame."
        )
        raise ValueError(msg) from e


def _pick_columns(
    df: pd.DataFrame, source: str | None, target: str | None, weight: str | None, origin: str
) -> tuple[str, str, str | None]:
    cols = [str(c) for c in df.columns]
    df.columns = cols
    for name, val in (("source", source), ("target", target), ("weight", weight)):
        if val is not None and val not in cols:
            msg = f"`{name}={val!r}` is not a column of the {origin}; its columns are {cols}."
            raise KeyError(msg)
    if source is None or target is None:
        strcols = [c for c in cols if c not in (source, target, weight) and not pd.api.types.is_numeric_dtype(df[c])]
        if source is None:
            if not strcols:
                msg = (
                    f"Could not find gene identifier columns in the {origin} (columns {cols}, none holds strings). "
                    "Name them with `source=` and `target=`."
                )
                raise ValueError(msg)
            source = strcols.pop(0)
        if target is None:
            if not strcols:
                msg = f"Could not find a second gene identifier column in the {origin} (columns {cols}). Name it with `target=`."
                raise ValueError(msg)
            target = strcols.pop(0)
    if weight is None:
        lower = {c.lower(): c for c in cols}
        for w in _WEIGHT_NAMES:
            if w in lower:
                weight = lower[w]
                break
        else:
            numeric = [c for c in cols if c not in (source, target) and pd.api.types.is_numeric_dtype(df[c])]
            weight = numeric[0] if numeric else None
    return source, target, weight


def edges_from_frame(
    df: pd.DataFrame, *, source: str | None, target: str | None, weight: str | None, origin: str
) -> tuple[pd.DataFrame, str | None]:
    """A table ``src, dst, weight`` (str, str, float64) and the name of the weight column used."""
    if df.shape[1] < 2:
        msg = f"The {origin} has {df.shape[1]} column(s); an edge list needs at least two (source and target genes)."
        raise ValueError(msg)
    df = df.copy() if any(not isinstance(c, str) for c in df.columns) else df
    s, t, w = _pick_columns(df, source, target, weight, origin)
    out = pd.DataFrame({"src": df[s].astype(str).to_numpy(), "dst": df[t].astype(str).to_numpy()})
    if w is None:
        out["weight"] = 1.0
    else:
        wv = pd.to_numeric(df[w], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(wv)
        if bad.any():
            msg = (
                f"Weight column {w!r} of the {origin} has {int(bad.sum())} missing or non-numeric value(s). "
                "Clean it, or pass another column as `weight=`."
            )
            raise ValueError(msg)
        out["weight"] = wv
    return out, w


def edges_from_networkx(graph: Any, weight: str | None) -> pd.DataFrame:
    """Edge table of a networkx graph; ``weight`` names the edge attribute (default ``"weight"``, missing = 1)."""
    import networkx as nx

    attr = weight or "weight"
    rows = nx.to_pandas_edgelist(graph, source="src", target="dst")
    if rows.empty:
        return pd.DataFrame({"src": [], "dst": [], "weight": []})
    w = rows[attr].to_numpy(dtype=np.float64) if attr in rows else np.ones(len(rows))
    w = np.where(np.isnan(w), 1.0, w) if attr in rows else w
    return pd.DataFrame({"src": rows["src"].astype(str), "dst": rows["dst"].astype(str), "weight": w})


def load_mapping(mapping: str | PathLike | pd.DataFrame | dict) -> pd.DataFrame:
    """A mapping table (DataFrame with >= 2 columns of identifiers, as strings)."""
    if isinstance(mapping, dict):
        df = pd.DataFrame({"from": list(map(str, mapping)), "to": [str(v) for v in mapping.values()]})
    elif isinstance(mapping, pd.DataFrame):
        df = mapping
    elif isinstance(mapping, str | PathLike):
        df = read_table(mapping, what="mapping")
    else:
        msg = f"`mapping` must be a DataFrame, a dict or a path to a table, got {type(mapping).__name__}."
        raise TypeError(msg)
    df = df.copy()
    df.columns = [str(c).lstrip("#") for c in df.columns]
    keep = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if len(keep) < 2:
        msg = f"The mapping table needs two identifier columns (e.g. 'hgnc_symbol', 'ensembl_gene_id'); it has {list(df.columns)}."
        raise ValueError(msg)
    return df[keep].dropna(how="any").astype(str)


def best_translation(ids: np.ndarray, vocab: pd.Index, mapping: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The pair of mapping columns that sends most network ``ids`` into ``vocab`` (``var_names``).

    Returns the two-column table ``from, to`` (possibly many-to-many) restricted to useful rows, and a description.
    A STRING ``protein.info`` table (``string_protein_id``, ``preferred_name``) always maps ids to preferred names.
    """
    uid = pd.Index(pd.unique(ids))
    cols = list(mapping.columns)
    if "string_protein_id" in cols and "preferred_name" in cols:
        pairs = [("string_protein_id", "preferred_name")]
    else:
        pairs = [(a, b) for a in cols for b in cols if a != b]
    best, best_n, best_pair = None, -1, None
    for a, b in pairs:
        sub = mapping[[a, b]]
        sub = sub[sub[a].isin(uid)]
        n = int(sub[a][sub[b].isin(vocab)].nunique())
        if n > best_n:
            best, best_n, best_pair = sub, n, (a, b)
    if best is None or best_pair is None:
        return None, "none"
    tab = best.drop_duplicates().rename(columns={best_pair[0]: "from", best_pair[1]: "to"})
    return tab, f"{best_pair[0]}->{best_pair[1]}"
