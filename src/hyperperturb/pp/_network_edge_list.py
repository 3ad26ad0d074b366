"""The edge-list source of ``hp.pp.gene_network``: STRING links or edge-list files, DataFrames, networkx graphs.

Identifiers are matched to ``var_names`` (through ``mapping=`` when given); perturbation targets that are network
nodes but not measured genes become extra nodes with their edges.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils._validate import UNDIRECTED_ATTR
from hyperperturb._utils._warn import warn

from ._edges import _merge_max, _merge_signed, _scale_weights, _two_hop
from ._network_io import best_pair, edges_from_frame, edges_from_networkx, load_mapping, read_table, translation
from ._network_sources import Edges, NetworkEdges, examples


def from_edge_list(
    network: Any,
    var: pd.Index,
    targets: list[str],
    *,
    source: str | None,
    target: str | None,
    weight: str | None,
    mapping: Any,
    min_weight: float | None,
    hops: int,
    symmetric: bool,
) -> NetworkEdges:
    """Edges of an edge list matched to ``var`` (``hops=2`` adds gene pairs linked through an unmeasured node)."""
    G = len(var)
    mapped_with = "none"
    signs: np.ndarray | None = None
    edges, description, string_scale = _read_network(network, source=source, target=target, weight=weight)
    if len(edges) == 0:
        msg = f"The network ({description}) has no edges. Pass a non-empty edge list."
        raise ValueError(msg)
    w_all, weight_scale = _scale_weights(
        edges["weight"].to_numpy(np.float64), string_scale=string_scale, origin=f"network ({description})"
    )
    src = edges["src"].to_numpy(dtype=object)
    dst = edges["dst"].to_numpy(dtype=object)
    s_all = edges["sign"].to_numpy(np.float64) if "sign" in edges else None
    translate: pd.DataFrame | None = None
    mtab: pd.DataFrame | None = None
    pair: tuple[str, str] | None = None
    if mapping is not None:
        mtab = load_mapping(mapping)
        ids = pd.unique(np.concatenate([src, dst]))
        ids = ids[~pd.Index(ids).isin(var)]
        pair = best_pair(ids, var, mtab)
        if pair is not None:
            translate, mapped_with = translation(ids, mtab, pair), f"{pair[0]}->{pair[1]}"
        if translate is not None and len(translate):
            translate = translate[~translate["from"].isin(var)]
            src, w_all, dst, s_all = _translate(src, w_all, dst, translate, s_all)
    nodes_all = pd.Index(pd.unique(np.concatenate([src, dst])))
    matched = var.isin(nodes_all)
    n_matched = int(matched.sum())
    if n_matched == 0:
        hint = (
            " Try `mapping=` (e.g. a symbol <-> Ensembl table) so that network ids can be matched."
            if mapping is None
            else ""
        )
        msg = (
            f"No gene of the network matches var_names (0 of {len(nodes_all)} network ids, 0 of {G} genes; "
            f"mapping used: {mapped_with}). Network ids look like {examples(nodes_all)}, var_names like "
            f"{examples(var)}. Identifiers are matched case-sensitively.{hint}"
        )
        raise ValueError(msg)
    keep = np.ones(len(w_all), dtype=bool) if min_weight is None else w_all >= float(min_weight)
    if not keep.any():
        msg = (
            f"No edge of the network ({description}) has a scaled weight >= min_weight={min_weight} "
            f"(max {w_all.max():.3g} after scaling by {weight_scale:g}). Lower `min_weight=`."
        )
        raise ValueError(msg)
    # an edge of weight 0 (as stored, float32) is no edge: not in .varp, not counted, no two-hop link through it
    keep &= w_all.astype(np.float32) > 0
    src, dst, w_all = src[keep], dst[keep], w_all[keep]
    # "genes in the network": named by an edge that passes min_weight (the same count whether the table was
    # filtered before it was passed, e.g. a DataFrame of STRING scores >= 700, or by min_weight here)
    n_matched = int(var.isin(pd.Index(pd.unique(np.concatenate([src, dst])))).sum())
    s_all = s_all[keep] if s_all is not None else None
    others = pd.Index(pd.unique(np.concatenate([src, dst]))).difference(var)
    universe = var.append(others)
    ia = universe.get_indexer(src).astype(np.int64)
    ja = universe.get_indexer(dst).astype(np.int64)
    if s_all is not None:
        _warn_contradictions(ia, ja, s_all, universe, description)
    ui, uj, uw = _merge_max(ia, ja, w_all, symmetric=symmetric)
    n_nodes = len(universe)
    measured = np.zeros(n_nodes, dtype=bool)
    measured[:G] = True
    in_var = (ui < G) & (uj < G)
    direct = (ui[in_var], uj[in_var], uw[in_var])
    final = direct
    if s_all is not None:
        fi = (ia < G) & (ja < G)
        di, dj, _, ds = _merge_signed(ia[fi], ja[fi], w_all[fi], s_all[fi], symmetric=symmetric)
        di, dj, ds = di[di != dj], dj[di != dj], ds[di != dj]
        # align with ``direct`` (same pairs, same order: both sorted by (i, j))
        if len(di) == len(direct[0]) and np.array_equal(di, direct[0]) and np.array_equal(dj, direct[1]):
            signs = ds
        else:  # pragma: no cover - defensive: both merges see the same pairs
            lut = pd.Series(ds, index=pd.MultiIndex.from_arrays([di, dj]))
            signs = lut.reindex(pd.MultiIndex.from_arrays([direct[0], direct[1]])).fillna(0).to_numpy()
    fi = (ia < G) & (ja < G)
    ds_all = s_all[fi] if s_all is not None else np.ones(int(fi.sum()))
    xi, xj, xw, xs = _merge_signed(ia[fi], ja[fi], w_all[fi], ds_all, symmetric=False)
    directed = (xi, xj, xw * np.where(xs == 0, 1.0, xs))  # source -> target, signed strength (unknown sign: +)
    if hops == 2:
        hi_, hj_, hw_ = _two_hop(ui, uj, uw, measured, ~measured)
        final = _merge_max(
            np.concatenate([direct[0], hi_]),
            np.concatenate([direct[1], hj_]),
            np.concatenate([direct[2], hw_]),
            symmetric=True,
        )
    node_of = _target_nodes(targets, var, universe, mtab, pair)
    extra_nodes, extra = _extra_target_edges(
        [node_of.get(x, x) for x in targets], var, universe, (ui, uj, uw), measured, hops=hops
    )
    placed = set(var) | set(extra_nodes)
    target_nodes = {x: n for x, n in node_of.items() if n != x and n in placed}
    extra_directed = _extra_directed(universe, G, extra_nodes, ia, ja, w_all, s_all)
    return NetworkEdges(
        direct=direct,
        final=final,
        n_matched=n_matched,
        description=description,
        weight_scale=weight_scale,
        mapped_with=mapped_with,
        signs=signs,
        extra_nodes=extra_nodes,
        extra=extra,
        directed=directed,
        target_nodes=target_nodes,
        undirected_table=bool(edges.attrs.get("undirected", False)),
        extra_directed=extra_directed,
    )


def _warn_contradictions(ia: np.ndarray, ja: np.ndarray, s: np.ndarray, universe: pd.Index, description: str) -> None:
    """Warn when one regulator -> target edge is listed both as an activation and as a repression."""
    known = s != 0
    if not known.any():
        return
    df = pd.DataFrame({"i": ia[known], "j": ja[known], "s": np.sign(s[known])})
    n_signs = df.groupby(["i", "j"], sort=False)["s"].nunique()
    both = n_signs[n_signs > 1]
    if len(both):
        i, j = both.index[0]
        warn(
            f"{len(both)} edge(s) of the network ({description}) are listed both as activation and as repression "
            f"(e.g. {universe[i]} -> {universe[j]}); each keeps the sign of its strongest listing (a tie: "
            "activation). Resolve them in the table if that is not what you want."
        )


def _extra_directed(
    universe: pd.Index,
    G: int,
    extra_nodes: list[str],
    ia: np.ndarray,
    ja: np.ndarray,
    w: np.ndarray,
    s: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct edges touching an extra node as listed (``source -> target``, by name), weight times sign.

    The undirected ``extra`` edges feed the training graph; these keep what the propagation readout needs: an
    unmeasured regulator's direction and its repressions (they were sent both ways, positive).
    """
    empty = (np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0, np.float64))
    if not extra_nodes:
        return empty
    is_extra = np.zeros(len(universe), dtype=bool)
    is_extra[universe.get_indexer(extra_nodes)] = True
    kept = is_extra.copy()
    kept[:G] = True
    sel = kept[ia] & kept[ja] & (is_extra[ia] | is_extra[ja]) & (ia != ja)
    if not sel.any():
        return empty
    sg = s[sel] if s is not None else np.ones(int(sel.sum()))
    xi, xj, xw, xs = _merge_signed(ia[sel], ja[sel], w[sel], sg, symmetric=False)
    names = np.asarray(universe, dtype=object)
    return names[xi], names[xj], xw * np.where(xs == 0, 1.0, xs)


def _target_nodes(
    targets: list[str],
    var: pd.Index,
    universe: pd.Index,
    mtab: pd.DataFrame | None,
    pair: tuple[str, str] | None,
) -> dict[str, str]:
    """The node name of each perturbation target that is not in ``var``, through the mapping's column ``pair``.

    A target translated to a measured gene is that gene; otherwise a translation that is a network node (an extra
    node to be); otherwise the target keeps its own name. Without a mapping every target keeps its name (``{}``).
    """
    if mtab is None or pair is None or not targets:
        return {}
    todo = [x for x in dict.fromkeys(targets) if x not in var]
    tab = translation(np.asarray(todo, dtype=object), mtab, pair)
    if not len(tab):
        return {}
    out: dict[str, str] = {}
    for x, to in tab.groupby("from", sort=False)["to"]:
        cand = list(to)
        hit = [c for c in cand if c in var] or [c for c in cand if c in universe]
        if hit:
            out[str(x)] = str(hit[0])
    return out


def _extra_target_edges(
    targets: list[str],
    var: pd.Index,
    universe: pd.Index,
    edges: Edges,
    measured: np.ndarray,
    *,
    hops: int,
) -> tuple[list[str], Edges]:
    """Perturbation targets that are network nodes but not measured genes, and their edges.

    ``targets`` are node names (already mapped, see :func:`_target_nodes`). Edges are ``(i, j, weight)`` with
    ``i < j``, each pair once (the two directions of a directed network merged by the larger weight), indices into
    ``[*var, *extra_nodes]``; each has an extra node.
    """
    G, n_nodes = len(var), len(universe)
    ui, uj, uw = edges
    none: tuple[list[str], Edges] = ([], (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)))
    if not targets:
        return none
    cand = [x for x in dict.fromkeys(targets) if x not in var and x in universe]
    if not cand:
        return none
    eidx = universe.get_indexer(cand)
    is_extra = np.zeros(n_nodes, dtype=bool)
    is_extra[eidx] = True
    kept = measured | is_extra
    sel = (is_extra[ui] | is_extra[uj]) & kept[ui] & kept[uj]
    ei, ej, ew = ui[sel], uj[sel], uw[sel]
    if hops == 2:
        xi, xj, xw = _two_hop(ui, uj, uw, kept, ~kept)
        sel2 = is_extra[xi] | is_extra[xj]
        ei, ej, ew = _merge_max(
            np.concatenate([ei, xi[sel2]]),
            np.concatenate([ej, xj[sel2]]),
            np.concatenate([ew, xw[sel2]]),
            symmetric=True,
        )
    pos = ew.astype(np.float32) > 0  # a (two-hop) weight that is 0 as stored is no edge
    ei, ej, ew = ei[pos], ej[pos], ew[pos]
    used = np.unique(np.concatenate([ei, ej]))
    used = used[used >= G]
    if not len(used):
        return none
    remap = np.full(n_nodes, -1, dtype=np.int64)
    remap[:G] = np.arange(G)
    remap[used] = G + np.arange(len(used))
    # one undirected edge per pair: with symmetric=False, X -> G and G -> X are the same pair (larger weight)
    return [str(universe[u]) for u in used], _merge_max(remap[ei], remap[ej], ew, symmetric=True)


def _translate(
    src: np.ndarray, w: np.ndarray, dst: np.ndarray, tab: pd.DataFrame, sign: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Replace ids by their mapped ids (many-to-many expands edges); unmapped ids are kept."""
    df = pd.DataFrame({"src": src, "dst": dst, "w": w, "s": np.zeros(len(w)) if sign is None else sign})
    for col in ("src", "dst"):
        df = df.merge(tab, how="left", left_on=col, right_on="from")
        df[col] = df["to"].where(df["to"].notna(), df[col])
        df = df.drop(columns=["from", "to"])
    s_out = None if sign is None else df["s"].to_numpy(np.float64)
    return df["src"].to_numpy(dtype=object), df["w"].to_numpy(np.float64), df["dst"].to_numpy(dtype=object), s_out


#: Gene-pair columns of protein-protein interaction exports (STRING files, API and web exports): no direction.
_INTERACTION_PAIRS = frozenset(
    {
        ("preferredname_a", "preferredname_b"),
        ("gene_a", "gene_b"),
        ("gene1", "gene2"),
        ("node1", "node2"),
        ("protein1", "protein2"),
        ("symbol_a", "symbol_b"),
    }
)


def _interaction_table(edges: pd.DataFrame, wcol: str | None) -> bool:
    """Whether an edge table is an undirected interaction export (STRING-like columns or scores), not a regulon."""
    s, t = edges.attrs.get("pair", ("", ""))
    pair = (str(s).lower().lstrip("#"), str(t).lower())
    return pair in _INTERACTION_PAIRS or (wcol is not None and wcol.lower() in ("combined_score", "score"))


def _read_network(
    network: Any, *, source: str | None, target: str | None, weight: str | None
) -> tuple[pd.DataFrame, str, bool]:
    """Edge table, a description of the source, and whether weights are STRING scores (0-1000)."""
    if isinstance(network, pd.DataFrame):
        edges, wcol = edges_from_frame(network, source=source, target=target, weight=weight, origin="network DataFrame")
        edges.attrs["undirected"] = bool(network.attrs.get(UNDIRECTED_ATTR)) or _interaction_table(edges, wcol)
        return edges, "DataFrame", wcol is not None and wcol.lower() in ("combined_score", "score")
    if type(network).__module__.startswith("networkx"):
        return edges_from_networkx(network, weight), f"networkx.{type(network).__name__}", False
    if isinstance(network, str | PathLike):
        path = Path(network)
        table = read_table(path, what="network", text=[c for c in (source, target) if c is not None])
        cols = [str(c) for c in table.columns]
        is_string = all(c in cols for c in ("protein1", "protein2", "combined_score"))
        if is_string:
            source = source or "protein1"
            target = target or "protein2"
            weight = weight or "combined_score"
        edges, wcol = edges_from_frame(
            table, source=source, target=target, weight=weight, origin=f"network file {path.name!r}"
        )
        string_scale = is_string or (wcol is not None and wcol.lower() in ("combined_score", "score"))
        edges.attrs["undirected"] = _interaction_table(edges, wcol)
        return edges, f"file {path.name}", string_scale
    msg = (
        f"Unsupported network of type {type(network).__name__}. Pass 'coexpression', a path to an edge list or STRING "
        "links file, a pandas DataFrame, a networkx Graph, or a square matrix aligned to var_names."
    )
    raise TypeError(msg)
