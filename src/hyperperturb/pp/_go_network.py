r"""The ``"go"`` network of ``hp.pp.gene_network``: genes linked by the Jaccard similarity of their GO term sets.

As GEARS builds its gene graph: for genes :math:`a, b` with GO term sets :math:`T_a, T_b`,
:math:`J(a, b) = |T_a \cap T_b| / |T_a \cup T_b|`, and every gene keeps its ``k`` most similar genes.
The table is the user's (a path or a DataFrame); nothing is downloaded.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from ._network_io import best_translation, load_mapping, read_table

# gene and term columns of common gene -> GO tables (GAF-derived tables, org.Hs.eg.db exports, biomart, GEARS)
_GENE_COLS = ("symbol", "gene_symbol", "genesymbol", "gene_name", "db_object_symbol", "hgnc_symbol", "gene")
_ID_COLS = ("entrez", "entrezgene_id", "gene_id", "ensembl_gene_id", "db_object_id")
_TERM_COLS = ("go_id", "go", "go_term", "term", "term_id", "go_accession", "goterm")
_ROWS = 1024  # genes per block of the similarity computation


def read_go_table(go_table: str | PathLike | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The raw gene → GO table (from a path or a DataFrame) and a description of its origin."""
    if isinstance(go_table, pd.DataFrame):
        return go_table, "DataFrame"
    if isinstance(go_table, str | PathLike):
        path = Path(go_table)
        return read_table(path, what="GO annotation"), f"file {path.name}"
    msg = (
        f"`go_table` must be a path to a gene -> GO term table (e.g. columns symbol, go_id) or a DataFrame, "
        f"got {type(go_table).__name__}."
    )
    raise TypeError(msg)


def _term_column(df: pd.DataFrame) -> str:
    lower = {str(c).lower().lstrip("#"): str(c) for c in df.columns}
    for name in _TERM_COLS:
        if name in lower:
            return lower[name]
    for c in df.columns:  # a column whose values look like GO ids
        vals = df[c].astype(str).head(200)
        if len(vals) and vals.str.match(r"^GO:\d+$").mean() > 0.9:
            return str(c)
    msg = (
        f"Could not find the GO term column of the GO table (columns {list(map(str, df.columns))}); expected one of "
        f"{list(_TERM_COLS)} or a column of GO ids like 'GO:0006955'."
    )
    raise ValueError(msg)


def _gene_column(df: pd.DataFrame, term: str, var: pd.Index) -> str:
    """The gene column that matches most ``var_names`` (known names first; any other column as a fallback)."""
    lower = {str(c).lower().lstrip("#"): str(c) for c in df.columns if str(c) != term}
    known = [lower[c] for c in (*_GENE_COLS, *_ID_COLS) if c in lower]
    others = [str(c) for c in df.columns if str(c) != term and str(c) not in known]
    cands = known + others
    if not cands:
        msg = f"The GO table needs a gene column next to the term column {term!r}; its columns are {list(df.columns)}."
        raise ValueError(msg)
    hits = [int(pd.Index(df[c].astype(str).unique()).isin(var).sum()) for c in cands]
    best = int(np.argmax(hits))
    return cands[best] if hits[best] > 0 else cands[0]


def go_annotations(
    go_table: str | PathLike | pd.DataFrame,
    var: pd.Index,
    *,
    mapping: str | PathLike | pd.DataFrame | dict | None = None,
) -> tuple[pd.DataFrame, str, str]:
    """Unique ``(gene, term)`` pairs with genes in ``var`` (after optional id mapping), description, mapping used."""
    raw, description = read_go_table(go_table)
    if raw.shape[1] < 2 or len(raw) == 0:
        msg = f"The GO table ({description}) is empty or has fewer than two columns; pass gene -> GO term rows."
        raise ValueError(msg)
    term = _term_column(raw)
    gene = _gene_column(raw, term, var)
    ann = pd.DataFrame({"gene": raw[gene].astype(str).to_numpy(), "term": raw[term].astype(str).to_numpy()})
    ok = raw[gene].notna().to_numpy() & raw[term].notna().to_numpy()
    ann = ann[ok & (ann["gene"] != "") & (ann["term"] != "")]
    mapped_with = "none"
    if mapping is not None:
        ids = pd.unique(ann["gene"].to_numpy())
        ids = ids[~pd.Index(ids).isin(var)]
        tab, mapped_with = best_translation(ids, var, load_mapping(mapping))
        if tab is not None and len(tab):
            tab = tab[~tab["from"].isin(var)]
            ann = ann.merge(tab, how="left", left_on="gene", right_on="from")
            ann["gene"] = ann["to"].where(ann["to"].notna(), ann["gene"])
            ann = ann[["gene", "term"]]
    ann = ann[ann["gene"].isin(var)].drop_duplicates()
    return ann, f"GO ({description}, gene column {gene!r}, term column {term!r})", mapped_with


def go_similarity_edges(
    ann: pd.DataFrame, var: pd.Index, *, n_neighbors: int, min_weight: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Top-``n_neighbors`` Jaccard neighbours per annotated gene (``i, j, weight``, indices into ``var``).

    Pairs with Jaccard 0 (no shared term) or below ``min_weight`` are never edges; ties at the ``k``-th place
    are broken by gene order (``var_names``). The similarity is computed in blocks of genes, so memory grows
    with ``block × genes``, not ``genes²``.
    """
    gi = var.get_indexer(ann["gene"].to_numpy())
    terms, tcode = np.unique(ann["term"].to_numpy(), return_inverse=True)
    genes = np.unique(gi)
    n_matched = len(genes)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), n_matched)
    if n_matched < 2:
        return empty
    local = np.searchsorted(genes, gi)
    M = sparse.csr_matrix((np.ones(len(local), dtype=np.float64), (local, tcode)), shape=(n_matched, len(terms)))
    M.sum_duplicates()
    M.data[:] = 1.0
    size = np.asarray(M.sum(1)).ravel()
    Mt = M.T.tocsc()
    k = min(int(n_neighbors), n_matched - 1)
    floor = 0.0 if min_weight is None else float(min_weight)
    out_i, out_j, out_w = [], [], []
    for lo in range(0, n_matched, _ROWS):
        hi = min(lo + _ROWS, n_matched)
        inter = (M[lo:hi] @ Mt).toarray()
        union = size[lo:hi, None] + size[None, :] - inter
        J = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        J[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # no self-loops
        # top-k per row, ties broken by column (gene) order: stable sort on -J
        nb = np.argsort(-J, axis=1, kind="stable")[:, :k]
        w = np.take_along_axis(J, nb, axis=1)
        keep = (w > 0) & (w >= floor)
        rows = np.repeat(np.arange(lo, hi), k).reshape(hi - lo, k)
        out_i.append(genes[rows[keep]])
        out_j.append(genes[nb[keep]])
        out_w.append(w[keep])
    return (
        np.concatenate(out_i).astype(np.int64),
        np.concatenate(out_j).astype(np.int64),
        np.clip(np.concatenate(out_w), 0.0, 1.0),
        n_matched,
    )
