"""Reading gene networks (files, DataFrames, networkx graphs) into a plain edge table, and identifier mapping."""

from __future__ import annotations

import gzip
import re
from collections.abc import Collection
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils._warn import warn


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


def read_table(path: str | PathLike, *, what: str = "network", text: Collection[str] | bool = ()) -> pd.DataFrame:
    """Read a csv/tsv/whitespace-separated text file (optionally gzipped) with a header line.

    Every field is read as text first, so that identifiers keep their form: Entrez ids stay ids and zero-padded
    ids (``"00001"``) keep their zeros. A column whose every value is a number (or ``True``/``False``) is then
    turned into numbers (booleans), except the identifier columns: those named in ``text`` (``True``: every
    column), the gene columns of the known formats (``source``, ``target``, ``protein1``, ``gene_a``, ...) and
    columns of zero-padded numbers.
    """
    path = Path(path)
    if not path.exists():
        msg = f"The {what} file {str(path)!r} does not exist. Check the path (relative paths are resolved from {Path.cwd().name!r})."
        raise FileNotFoundError(msg)
    line = _first_line(path)
    if not line.strip():
        msg = f"The {what} file {path.name!r} is empty. Pass an edge list with a header line (e.g. 'source,target,weight')."
        raise ValueError(msg)
    sep = _sep_for(line)
    header = _has_header(line, sep)
    try:
        df = pd.read_csv(path, sep=sep, engine="c", low_memory=False, header=0 if header else None, dtype=str)
        df = df if header else _name_headerless(df)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        if _interrupted(e):  # Ctrl-C inside the C parser can surface wrapped in a parser error
            raise KeyboardInterrupt from e
        msg = (
            f"Could not parse the {what} file {path.name!r} as a {'tab' if sep == chr(9) else 'comma' if sep == ',' else 'space'}"
            f"-separated table: {e}. Pass a csv/tsv edge list with a header, or load it yourself and pass a DataFrame."
        )
        raise ValueError(msg) from e
    if isinstance(text, bool):
        return df if text else _values_back(df, set())
    return _values_back(df, {str(c) for c in text})


def _values_back(df: pd.DataFrame, text: set[str]) -> pd.DataFrame:
    """Columns read as text turned back into numbers or booleans, except the identifier columns (see read_table)."""
    for c in df.columns:
        if str(c) in text or str(c).lower().lstrip("#") in _ID_COLUMNS:
            continue
        values = _as_numbers(df[c])
        values = _as_booleans(df[c]) if values is None else values
        if values is not None:
            df[c] = values
    return df


def _as_numbers(col: pd.Series) -> pd.Series | None:
    """A text column as numbers when every value is one and none is zero-padded (an identifier), else ``None``."""
    try:
        num = pd.to_numeric(col)  # stops at the first value that is not a number
    except (ValueError, TypeError):
        return None
    head = col.dropna().head(1000).str.strip()
    return None if head.str.fullmatch(r"0\d+").any() else num


def _as_booleans(col: pd.Series) -> pd.Series | None:
    """A text column of ``True``/``False`` (any case; missing values kept) as booleans, else ``None``."""
    low = col.dropna().str.strip().str.lower()
    if low.empty or low.iloc[0] not in ("true", "false") or not low.isin(("true", "false")).all():
        return None
    return col.str.strip().str.lower().map({"true": True, "false": False})


def _interrupted(e: BaseException) -> bool:
    """Whether ``e`` was caused by a ``KeyboardInterrupt`` (in its cause/context chain or its message)."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt) or "KeyboardInterrupt" in str(cur):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def _has_header(line: str, sep: str) -> bool:
    """Whether the first line is a header: no field is a number (a weight, PMIDs) or a mode of regulation."""
    fields = [f.strip().strip('"') for f in re.split(sep, line.strip())]
    modes = _ACTIVATION | _REPRESSION | {"unknown"}
    return not any(f.lower() in modes or _NUMBER.fullmatch(f) for f in fields if f)


def _name_headerless(df: pd.DataFrame) -> pd.DataFrame:
    """Column names for a file without header: TRRUST (tf, target, mode, PMIDs) or source, target[, weight]."""
    n = df.shape[1]
    if n >= 3 and not pd.api.types.is_numeric_dtype(df[2]):
        modes = df[2].astype(str).str.strip().str.lower().isin(_ACTIVATION | _REPRESSION | {"unknown"})
        if modes.mean() > 0.9:  # TRRUST: tf, target, mode of regulation, PMIDs (never a weight)
            return df.set_axis(["tf", "target", "mode", *(["pmid"] if n >= 4 else []), *map(str, range(4, n))], axis=1)
    names = ["source", "target", *(["weight"] if n >= 3 else []), *(f"column_{i}" for i in range(3, n))]
    return df.set_axis(names[:n], axis=1)


_NUMBER = re.compile(r"[-+]?[\d.;,]*\d[\d.;,eE+-]*")

# Known gene-column pairs (lower case), most specific first: OmniPath, decoupler/CollecTRI/PROGENy, DoRothEA,
# TRRUST, STRING (links file, API/TSV export, the symbol subset), generic edge lists.
_GENE_PAIRS = (
    ("source_genesymbol", "target_genesymbol"),  # OmniPath interactions (source/target hold UniProt ids)
    ("genesymbol_source", "genesymbol_target"),
    ("source", "target"),  # decoupler: CollecTRI, DoRothEA, PROGENy, OmniPath via decoupler
    ("tf", "target"),  # DoRothEA (tf, confidence, target, mor), TRRUST with a header
    ("tf", "gene"),
    ("regulator", "target"),
    ("preferredname_a", "preferredname_b"),  # STRING API
    ("gene_a", "gene_b"),
    ("gene1", "gene2"),
    ("node1", "node2"),  # STRING network export (#node1 node2 ...)
    ("protein1", "protein2"),  # STRING protein.links
    ("symbol_a", "symbol_b"),
    ("from", "to"),
)
#: Column names (lower case) that hold gene identifiers: read from a file as text even when they look like numbers.
_ID_COLUMNS = frozenset(name for pair in _GENE_PAIRS for name in pair)
# Unsigned strength columns (STRING scores, generic weights) and signed effect columns.
_STRENGTH_NAMES = ("combined_score", "score", "weight", "likelihood", "confidence_score")
_SIGNED_NAMES = ("mor", "sign", "effect")
# String columns holding the mode of regulation (TRRUST: Activation / Repression / Unknown).
_MODE_NAMES = ("mode", "mode_of_regulation", "regulation", "type", "effect", "sign")
_ACTIVATION = {"activation", "activator", "activating", "stimulation", "up", "+", "positive", "induction"}
_REPRESSION = {"repression", "repressor", "repressing", "inhibition", "down", "-", "negative"}
# Numeric columns that are identifiers or counts, never edge weights.
_NOT_WEIGHTS = ("entrez", "pmid", "reference", "curation_effort", "n_references", "n_sources", "id", "taxon", "ncbi")


def _is_id_like(col: str) -> bool:
    c = col.lower()
    return any(c == k or c.startswith(k) or c.endswith(f"_{k}") for k in _NOT_WEIGHTS)


def _pick_columns(
    df: pd.DataFrame, source: str | None, target: str | None, weight: str | None, origin: str
) -> tuple[str, str, str | None]:
    cols = [str(c) for c in df.columns]
    df.columns = cols
    for name, val in (("source", source), ("target", target), ("weight", weight)):
        if val is not None and val not in cols:
            msg = f"`{name}={val!r}` is not a column of the {origin}; its columns are {cols}."
            raise KeyError(msg)
    lower = {c.lower().lstrip("#"): c for c in cols}
    if source is None and target is None:
        for a, b in _GENE_PAIRS:
            if a in lower and b in lower and not any(pd.api.types.is_numeric_dtype(df[lower[x]]) for x in (a, b)):
                source, target = lower[a], lower[b]
                break
    if source is None or target is None:
        strcols = [
            c
            for c in cols
            if c not in (source, target, weight)
            and not pd.api.types.is_numeric_dtype(df[c])
            and c.lower() not in _MODE_NAMES
            and c.lower() not in ("confidence", "references", "pmid", "sources")
        ]
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
        for w in (*_STRENGTH_NAMES, *_SIGNED_NAMES):
            if w in lower and lower[w] not in (source, target) and pd.api.types.is_numeric_dtype(df[lower[w]]):
                weight = lower[w]
                break
        else:
            numeric = [
                c
                for c in cols
                if c not in (source, target)
                and pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])
                and not _is_id_like(c)
                and not c.lower().startswith(("is_", "consensus_"))
            ]
            weight = numeric[0] if numeric else None
    return source, target, weight


def _sign_column(df: pd.DataFrame, used: tuple[str | None, ...]) -> tuple[np.ndarray | None, str | None]:
    """Signs (+1/-1, 0 = unknown) from a mode-of-regulation column or OmniPath stimulation/inhibition flags."""
    lower = {str(c).lower(): str(c) for c in df.columns if str(c) not in used}
    for stim, inh in (("consensus_stimulation", "consensus_inhibition"), ("is_stimulation", "is_inhibition")):
        if stim in lower and inh in lower:
            st = pd.to_numeric(df[lower[stim]], errors="coerce").fillna(0).to_numpy() > 0
            ih = pd.to_numeric(df[lower[inh]], errors="coerce").fillna(0).to_numpy() > 0
            return np.where(st & ~ih, 1.0, np.where(ih & ~st, -1.0, 0.0)), f"{lower[stim]}/{lower[inh]}"
    for name in _MODE_NAMES:
        if name in lower and not pd.api.types.is_numeric_dtype(df[lower[name]]):
            vals = df[lower[name]].astype(str).str.strip().str.lower()
            if vals.isin(_ACTIVATION | _REPRESSION | {"unknown", "nan", "", "0"}).mean() > 0.9:
                sign = np.where(vals.isin(_ACTIVATION), 1.0, np.where(vals.isin(_REPRESSION), -1.0, 0.0))
                return sign, lower[name]
    return None, None


def edges_from_frame(
    df: pd.DataFrame, *, source: str | None, target: str | None, weight: str | None, origin: str
) -> tuple[pd.DataFrame, str | None]:
    """A table ``src, dst, weight, sign`` and the name of the weight column used.

    ``weight`` is the magnitude (``|w|``, interaction strength), ``sign`` is ``+1``/``-1`` for a signed network
    (a negative weight such as decoupler's ``weight``/``mor``, a TRRUST mode of regulation, OmniPath
    stimulation/inhibition flags), ``0`` where the sign is unknown; the column is absent for unsigned networks.
    """
    if df.shape[1] < 2:
        msg = f"The {origin} has {df.shape[1]} column(s); an edge list needs at least two (source and target genes)."
        raise ValueError(msg)
    df = df.copy(deep=False)  # columns renamed or converted below never reach the caller's table
    _numeric_text_weights(df, source, target, weight)
    s, t, w = _pick_columns(df, source, target, weight, origin)
    _refuse_go_annotations(df, (s, t), origin)
    out = pd.DataFrame({"src": _stripped(df[s], origin), "dst": _stripped(df[t], origin)})
    sign: np.ndarray | None = None
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
        if (wv < 0).any():
            sign = np.sign(wv)
        out["weight"] = np.abs(wv)
    mode, _ = _sign_column(df, (s, t, w))
    if mode is None:
        mode = _numeric_sign_column(df, (s, t, w))
    if mode is not None:
        sign = mode if sign is None else np.where(mode != 0, mode, sign)
    if sign is not None:
        out["sign"] = sign.astype(np.float64)
    out.attrs["pair"] = (str(s), str(t))
    return out, w


def _stripped(col: pd.Series, origin: str) -> np.ndarray:
    """Gene ids as text without surrounding whitespace (``"STAT1 "`` would match no gene), with a warning."""
    raw = col.astype(str)
    clean = raw.str.strip()
    changed = raw != clean
    if changed.any():
        warn(
            f"{int(changed.sum())} gene id(s) of column {col.name!r} of the {origin} had surrounding whitespace "
            f"(e.g. {raw[changed].iloc[0]!r}); it was removed so that they match var_names."
        )
    return clean.to_numpy(dtype=object)


def _numeric_text_weights(df: pd.DataFrame, source: str | None, target: str | None, weight: str | None) -> None:
    """Weight-like columns (``weight``, ``score``, ``mor``, ...) read as text but holding numbers become numbers.

    A csv column of ``"1"``/``"-1"`` strings used to be skipped as "not numeric", so every edge silently got weight 1
    and lost its sign. Only fully numeric text is converted (``"activation"`` stays a mode of regulation).
    """
    wanted = {weight.lower()} if weight is not None else {*_STRENGTH_NAMES, *_SIGNED_NAMES}
    for c in list(df.columns):
        name = str(c)
        if name in (source, target) or name.lower().lstrip("#") not in wanted:
            continue
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        conv = pd.to_numeric(col.astype(str).str.strip(), errors="coerce")
        if len(conv) and conv.notna().all():
            df[c] = conv


def _numeric_sign_column(df: pd.DataFrame, used: tuple[str | None, ...]) -> np.ndarray | None:
    """Signs from a numeric signed column (``mor``, ``sign``, ``effect``) next to a strength weight.

    VIPER/ARACNe regulons (``tf, target, mor, likelihood``) and tables with ``weight`` plus ``sign`` keep their
    repressions: the weight column is the strength, this one the direction of the effect.
    """
    lower = {str(c).lower(): str(c) for c in df.columns if str(c) not in used}
    for name in _SIGNED_NAMES:
        if name in lower and pd.api.types.is_numeric_dtype(df[lower[name]]):
            v = pd.to_numeric(df[lower[name]], errors="coerce").to_numpy(dtype=np.float64)
            if np.isfinite(v).all() and (v < 0).any():
                return np.sign(v)
    return None


def _refuse_go_annotations(df: pd.DataFrame, cols: tuple[str, str], origin: str) -> None:
    """A gene -> GO term table is not an edge list: say so and point to ``network="go"``."""
    for c in cols:
        head = df[c].astype(str).head(200)
        if len(head) and head.str.match(r"^GO:\d{7}$").mean() > 0.9:
            msg = (
                f"The {origin} looks like a Gene Ontology annotation table (column {c!r} holds GO term ids such as "
                f"{head.iloc[0]!r}), not a gene-gene edge list. For a GO similarity graph pass "
                "`network='go', go_table=<this file or DataFrame>`."
            )
            raise ValueError(msg)


def edges_from_networkx(graph: Any, weight: str | None) -> pd.DataFrame:
    """Edge table ``src, dst, weight[, sign]`` of a networkx graph, with the sign handling of DataFrames.

    ``weight`` names the edge attribute (default ``"weight"``); an edge without it has weight 1. A negative weight
    makes the network signed (``weight`` is then ``|w|`` and ``sign`` is ``+1``/``-1``), as does an edge attribute
    holding a mode of regulation (``mode``, ``sign``, ``effect``, ... with ``activation``/``repression``) or
    OmniPath's stimulation/inhibition flags; see :func:`edges_from_frame`. A weight that is present but missing
    (NaN, ``None``), non-numeric or infinite is refused. An undirected graph gives each edge in both directions
    (the propagation readout reads ``.varp[f"{key_added}_directed"]``; networkx lists an undirected edge in an
    arbitrary order).
    """
    attr = weight or "weight"
    origin = f"networkx.{type(graph).__name__}"
    data = list(graph.edges(data=True))
    if not data:
        return pd.DataFrame({"src": [], "dst": [], "weight": []})
    raw = pd.Series([d.get(attr, 1.0) for *_, d in data], dtype=object)
    wv = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(wv)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        msg = (
            f"Edge attribute {attr!r} of the {origin} has {int(bad.sum())} missing, non-numeric or infinite "
            f"value(s) (e.g. edge {data[k][0]!r} - {data[k][1]!r}: {raw.iloc[k]!r}). Give those edges finite "
            "weights (an edge without the attribute has weight 1), or name another edge attribute with `weight=`."
        )
        raise ValueError(msg)
    out = pd.DataFrame({"src": [str(u) for u, *_ in data], "dst": [str(v) for _, v, _ in data], "weight": np.abs(wv)})
    sign: np.ndarray | None = np.sign(wv) if (wv < 0).any() else None
    attrs = pd.DataFrame.from_records([d for *_, d in data], index=range(len(data)))
    mode, _ = _sign_column(attrs, (attr,))
    if mode is not None:
        sign = mode if sign is None else np.where(mode != 0, mode, sign)
    if sign is not None:
        out["sign"] = sign.astype(np.float64)
    if not graph.is_directed():  # no direction: each edge both ways (networkx lists it in an arbitrary order)
        back = out.rename(columns={"src": "dst", "dst": "src"})[out.columns]
        out = pd.concat([out, back], ignore_index=True)
    return out


def load_mapping(mapping: str | PathLike | pd.DataFrame | dict) -> pd.DataFrame:
    """A mapping table (DataFrame with >= 2 columns of identifiers, as strings)."""
    if isinstance(mapping, dict):
        df = pd.DataFrame(
            {"from": list(map(str, mapping)), "to": [None if v is None else str(v) for v in mapping.values()]}
        )
    elif isinstance(mapping, pd.DataFrame):
        df = mapping
    elif isinstance(mapping, str | PathLike):
        df = read_table(mapping, what="mapping", text=True)  # every column an identifier (Entrez ids too)
    else:
        msg = f"`mapping` must be a DataFrame, a dict or a path to a table, got {type(mapping).__name__}."
        raise TypeError(msg)
    df = df.copy()
    df.columns = [str(c).lstrip("#") for c in df.columns]
    keep = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if len(keep) < 2:
        msg = f"The mapping table needs two identifier columns (e.g. 'hgnc_symbol', 'ensembl_gene_id'); it has {list(df.columns)}."
        raise ValueError(msg)
    # missing ids stay missing (never the string "nan"): a row is dropped only for the column pair that is used
    # (best_translation), so a table with a gap in a third column (e.g. no UniProt id) keeps its other ids
    ids = df[keep]
    return ids.astype(str).where(ids.notna())


def best_pair(ids: np.ndarray, vocab: pd.Index, mapping: pd.DataFrame) -> tuple[str, str] | None:
    """The pair of mapping columns ``(from, to)`` that sends most ``ids`` into ``vocab`` (``None``: no pair).

    A STRING ``protein.info`` table (``string_protein_id``, ``preferred_name``) always maps ids to preferred names.
    Rows missing either id of a pair are ignored for that pair only.
    """
    uid = pd.Index(pd.unique(ids))
    cols = list(mapping.columns)
    if "string_protein_id" in cols and "preferred_name" in cols:
        pairs = [("string_protein_id", "preferred_name")]
    else:
        pairs = [(a, b) for a in cols for b in cols if a != b]
    best_n, best_pair_ = -1, None
    for a, b in pairs:
        sub = mapping[[a, b]].dropna()
        sub = sub[sub[a].isin(uid)]
        n = int(sub[a][sub[b].isin(vocab)].nunique())
        if n > best_n:
            best_n, best_pair_ = n, (a, b)
    return best_pair_


def translation(ids: np.ndarray, mapping: pd.DataFrame, pair: tuple[str, str]) -> pd.DataFrame:
    """Rows ``from, to`` of ``mapping`` through the column ``pair`` for the ``ids`` (many-to-many, no missing ids)."""
    a, b = pair
    sub = mapping[[a, b]].dropna()
    sub = sub[sub[a].isin(pd.Index(pd.unique(ids)))]
    return sub.drop_duplicates().rename(columns={a: "from", b: "to"})


def best_translation(ids: np.ndarray, vocab: pd.Index, mapping: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The pair of mapping columns that sends most network ``ids`` into ``vocab`` (``var_names``).

    Returns the two-column table ``from, to`` (possibly many-to-many) restricted to useful rows, and a description.
    A STRING ``protein.info`` table (``string_protein_id``, ``preferred_name``) always maps ids to preferred names.
    Only rows missing one of the two ids of the chosen pair are left out (another column may have gaps).
    """
    pair = best_pair(ids, vocab, mapping)
    if pair is None:
        return None, "none"
    return translation(ids, mapping, pair), f"{pair[0]}->{pair[1]}"
