"""The sources of ``hp.pp.gene_network`` that need no edge list: coexpression, GO annotations, a square matrix.

Each reader returns :class:`NetworkEdges`: the merged edges between measured genes (indices into ``var_names``) and
what the ledger records about the source. The edge-list reader (files, DataFrames, networkx) is
:mod:`hyperperturb.pp._network_edge_list`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ._coexpression import _coexpression
from ._edges import _merge_max, _merge_signed, _scale_weights
from ._go_network import go_annotations, go_similarity_edges

Edges = tuple[np.ndarray, np.ndarray, np.ndarray]


def _no_edges() -> Edges:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


@dataclass
class NetworkEdges:
    """What a network source gives ``gene_network``."""

    direct: Edges  # merged edges between measured genes, ``(i, j, weight)``
    final: Edges  # ``direct`` plus the two-hop edges through unmeasured nodes (``hops=2``)
    n_matched: int  # genes of ``var_names`` found in the source
    description: str  # the source, as recorded in the ledger and in messages
    weight_scale: float = 1.0  # what raw weights were divided by
    mapped_with: str = "none"  # the identifier mapping used
    signs: np.ndarray | None = None  # +1/-1 (0 unknown) per ``direct`` edge, for signed networks
    extra_nodes: list[str] = field(default_factory=list)  # perturbation targets that are network nodes, not genes
    extra: Edges = field(default_factory=_no_edges)  # edges touching an extra node, into ``[*var, *extra_nodes]``
    #: edges between measured genes as listed (``source -> target``), weight times sign (unsigned: the weight);
    #: ``None`` for sources without a direction (co-expression, GO similarity, matrices)
    directed: Edges | None = None
    #: perturbation target -> its node name, for targets found under another id through ``mapping=`` (a measured
    #: gene or an extra node); targets not listed are nodes under their own name (or not nodes)
    target_nodes: dict[str, str] = field(default_factory=dict)
    #: an undirected interaction table (STRING-like): its listed order is no direction (``directed=None``)
    undirected_table: bool = False
    #: direct edges touching an extra node as listed: ``(source names, target names, weight x sign)``
    extra_directed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def examples(x: Any, n: int = 5) -> list[str]:
    """The first ``n`` identifiers of ``x`` as strings, for messages."""
    return [str(v) for v in list(x)[:n]]


def from_coexpression(
    adata: AnnData, *, layer: str | None, n_neighbors: int, min_weight: float | None, symmetric: bool
) -> NetworkEdges:
    """Edges of the ``n_neighbors`` most correlated genes of each gene (|Pearson r| of the expression)."""
    i, j, w, n_matched = _coexpression(adata, layer=layer, n_neighbors=int(n_neighbors))
    i, j, w = _merge_max(i, j, w, symmetric=symmetric)
    if min_weight is not None:
        keep = w >= float(min_weight)
        i, j, w = i[keep], j[keep], w[keep]
    description = f"coexpression (|Pearson r|, {int(n_neighbors)} neighbours)"
    return NetworkEdges(direct=(i, j, w), final=(i, j, w), n_matched=int(n_matched), description=description)


def from_go(
    go_table: Any, var: pd.Index, *, mapping: Any, n_neighbors: int, min_weight: float | None, symmetric: bool
) -> NetworkEdges:
    """Edges of the ``n_neighbors`` genes of each gene with the most similar GO term sets (Jaccard)."""
    ann, description, mapped_with = go_annotations(go_table, var, mapping=mapping)
    if len(ann) == 0:
        raw_desc = description.split(",")[0] + ")"
        msg = (
            f"No gene of the GO table ({raw_desc}) matches var_names (like {examples(var)}). Check the gene "
            "column (symbols vs Ensembl/Entrez ids) or pass `mapping=`."
        )
        raise ValueError(msg)
    i, j, w, n_matched = go_similarity_edges(ann, var, n_neighbors=int(n_neighbors), min_weight=min_weight)
    i, j, w = _merge_max(i, j, w, symmetric=symmetric)
    description = f"{description}; Jaccard of GO term sets, top {int(n_neighbors)} per gene"
    return NetworkEdges(
        direct=(i, j, w), final=(i, j, w), n_matched=int(n_matched), description=description, mapped_with=mapped_with
    )


def from_matrix(network: Any, G: int, *, min_weight: float | None, symmetric: bool) -> NetworkEdges:
    """Edges of a square (dense or sparse) matrix already aligned to ``var_names``; negative weights give signs."""
    if network.ndim != 2 or network.shape != (G, G):
        msg = (
            f"The network matrix has shape {network.shape}, but the data has {G} genes; a matrix network must be "
            f"{G} x {G} with rows/columns in var_names order. Pass an edge list (DataFrame/file) to align by name."
        )
        raise ValueError(msg)
    coo = sparse.coo_matrix(network)
    if not np.issubdtype(coo.data.dtype, np.number) or np.iscomplexobj(coo.data):
        msg = f"The network matrix has dtype {coo.data.dtype}; pass real numbers (edge weights)."
        raise TypeError(msg)
    wv = coo.data.astype(np.float64)
    if not np.isfinite(wv).all():
        msg = "The network matrix contains NaN or infinite values; replace them (e.g. with 0) first."
        raise ValueError(msg)
    nz = wv != 0
    sv = np.sign(wv[nz])
    wv, scale = _scale_weights(np.abs(wv[nz]), string_scale=False, origin="network matrix")
    i, j, w, sv = _merge_signed(coo.row[nz].astype(np.int64), coo.col[nz].astype(np.int64), wv, sv, symmetric=symmetric)
    if min_weight is not None:
        keep = w >= float(min_weight)
        i, j, w, sv = i[keep], j[keep], w[keep], sv[keep]
    edges = (i, j, w)
    return NetworkEdges(
        direct=edges,
        final=edges,
        n_matched=G,
        description=f"matrix ({type(network).__name__})",
        weight_scale=scale,
        signs=sv if (sv < 0).any() else None,
    )
