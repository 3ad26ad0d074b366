"""``hp.pp.gene_network``: a gene–gene adjacency aligned to ``var_names``."""

from __future__ import annotations

import difflib
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import (
    _entries,
    array_digest,
    atomic_write,
    check_unique_names,
    logger,
    record,
    resolve,
    target_sets,
)

from ._coexpression import _coexpression
from ._edges import _merge_max, _merge_signed, _scale_weights, _sym_csr, _two_hop
from ._go_network import go_annotations, go_similarity_edges
from ._network_io import best_translation, edges_from_frame, edges_from_networkx, load_mapping, read_table

_STEP = "network"


# --------------------------------------------------------------------------------------------- main
def _examples(x: Any, n: int = 5) -> list[str]:
    return [str(v) for v in list(x)[:n]]


def gene_network(
    data: AnnData | Any,
    network: str | PathLike | pd.DataFrame | Any = "coexpression",
    *,
    source: str | None = None,
    target: str | None = None,
    weight: str | None = None,
    min_weight: float | None = None,
    mapping: str | PathLike | pd.DataFrame | dict | None = None,
    hops: int = 1,
    symmetric: bool = True,
    n_neighbors: int = 10,
    layer: str | None = None,
    go_table: str | PathLike | pd.DataFrame | None = None,
    allow_empty: bool = False,
    key_added: str = "hp_adjacency",
    mod: str = "rna",
    copy: bool = False,
) -> AnnData | Any | None:
    """Build a gene–gene adjacency aligned to ``var_names`` from a network (STRING, edge list, graph) or the data.

    Parameters
    ----------
    data
        AnnData, or MuData with the RNA modality ``mod``.
    network
        One of

        - ``"coexpression"`` (default): a k-nearest-neighbour gene graph from the data itself, weight = absolute
          Pearson correlation over control cells (all cells if :func:`hyperperturb.pp.perturbations` has not run);
        - a path to a STRING ``protein.links*.txt[.gz]`` file (``protein1 protein2 combined_score``; pass the
          matching ``protein.info`` file as ``mapping`` to turn protein ids into gene symbols);
        - a path to a csv/tsv edge list (optionally gzipped) with a header;
        - a :class:`pandas.DataFrame` edge list;
        - a :class:`networkx.Graph` (edge attribute ``weight``, missing = 1);
        - a square NumPy/SciPy matrix already aligned to ``var_names``.

        For tables, the gene columns are the first two non-numeric columns and the weight column is the one named
        ``weight``, ``combined_score`` or ``score``, else the first other numeric column (else all weights are 1).
    source, target, weight
        Column names overriding the auto-detection (``weight`` also names the networkx edge attribute).
    min_weight
        Keep edges with scaled weight ≥ ``min_weight`` (in [0, 1]; STRING ``combined_score >= 700`` is ``0.7``).
    mapping
        Identifier map used when network ids are not ``var_names``: a DataFrame, dict or path to a table with
        (at least) two identifier columns, e.g. the HGNC map ``hgnc_symbol, ensembl_gene_id`` for Ensembl
        ``var_names`` and a symbol network, or a STRING ``protein.info`` file. The column pair that sends most
        network ids into ``var_names`` is used; ids that already match ``var_names`` are kept as they are.
    hops
        ``1``: direct edges only. ``2``: also link two measured genes that share a network neighbour outside the
        measured set; the weight is ``max_k w_ik * w_kj`` over such shared neighbours ``k`` (a direct edge keeps
        the larger of both).
    symmetric
        Make the adjacency undirected (default). ``False`` keeps edge direction (``source`` → ``target``); the
        models expect undirected graphs.
    n_neighbors
        Neighbours per gene for ``network="coexpression"``.
    layer
        Layer for ``"coexpression"`` (default: the layer recorded by :func:`hyperperturb.pp.preprocess`, else X).
    key_added
        Key in ``.varp``.
    mod
        RNA modality of a MuData.
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Writes ``.varp[key_added]`` (CSR float32, symmetric,
    weights in [0, 1], no self-loops) and ``.uns["hyperperturb"]["network"]`` with ``source``, ``hops``,
    ``n_edges`` (undirected edges between measured genes), ``n_matched`` (genes found in the network),
    ``n_connected`` (genes with at least one edge), ``n_connected_direct``, ``n_isolated``, ``coverage``
    (``n_matched / n_vars``), ``weight_scale``, ``extra_nodes`` and ``extra_edges`` (``i``, ``j``, ``weight``;
    indices into ``[*var_names, *extra_nodes]``) and ``params``.

    Notes
    -----
    Weights are scaled to [0, 1]: weights above 1 are divided by 1000 for STRING scores (a ``combined_score``
    or ``score`` column, or a STRING links file, with maximum ≤ 1000) and by their maximum otherwise. Negative
    weights raise a :class:`ValueError` (pass absolute values). Duplicated edges keep the maximum weight and
    self-loops are dropped. When :func:`hyperperturb.pp.perturbations` has run, perturbation targets that are
    not measured but are network nodes become ``extra_nodes``, with their edges to measured genes and to each
    other (direct, and with ``hops=2`` through shared unmeasured neighbours, same weight rule); extra nodes
    without any such edge are dropped.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.pp.gene_network(adata, "string_links.csv.gz", min_weight=0.7, hops=2)  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    adata = t.adata
    check_unique_names(adata)
    if hops not in (1, 2):
        msg = f"`hops` must be 1 or 2, got {hops!r}."
        raise ValueError(msg)
    if hops == 2 and not symmetric:
        msg = "hops=2 needs an undirected network; use symmetric=True."
        raise ValueError(msg)
    if min_weight is not None and not (0.0 <= float(min_weight) <= 1.0):
        msg = f"`min_weight` must be in [0, 1] (weights are scaled to [0, 1]; STRING score 700 is 0.7), got {min_weight!r}."
        raise ValueError(msg)
    if not isinstance(n_neighbors, int | np.integer) or n_neighbors < 1:
        msg = f"`n_neighbors` must be a positive integer, got {n_neighbors!r}."
        raise ValueError(msg)
    if isinstance(network, str) and network == "go":
        if go_table is None:
            msg = (
                "network='go' needs `go_table=`: a path to (or DataFrame of) a gene -> GO term table, e.g. columns "
                "'symbol', 'go_id' (one row per annotation). hyperperturb does not download it."
            )
            raise ValueError(msg)
    elif go_table is not None:
        msg = f"`go_table=` is only used with network='go' (got network={_describe(network)}); drop one of them."
        raise ValueError(msg)
    if isinstance(network, str | PathLike):
        _check_network_name(network)
    var = pd.Index(adata.var_names.astype(str))
    G = len(var)
    targets = _target_genes(_entries.entry(adata, "perturbations"))
    signs: np.ndarray | None = None  # +1/-1 (0 unknown) per direct edge, for signed networks

    extra_nodes: list[str] = []
    extra = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    weight_scale = 1.0
    mapped_with = "none"

    if isinstance(network, str) and network == "coexpression":
        i, j, w, n_matched = _coexpression(adata, layer=layer, n_neighbors=int(n_neighbors))
        i, j, w = _merge_max(i, j, w, symmetric=symmetric)
        if min_weight is not None:
            keep = w >= float(min_weight)
            i, j, w = i[keep], j[keep], w[keep]
        description = f"coexpression (|Pearson r|, {int(n_neighbors)} neighbours)"
        direct = (i, j, w)
        final = direct
    elif isinstance(network, str) and network == "go":
        ann, description, mapped_with = go_annotations(go_table, var, mapping=mapping)
        if len(ann) == 0:
            raw_desc = description.split(",")[0] + ")"
            msg = (
                f"No gene of the GO table ({raw_desc}) matches var_names (like {_examples(var)}). Check the gene "
                "column (symbols vs Ensembl/Entrez ids) or pass `mapping=`."
            )
            raise ValueError(msg)
        i, j, w, n_matched = go_similarity_edges(ann, var, n_neighbors=int(n_neighbors), min_weight=min_weight)
        i, j, w = _merge_max(i, j, w, symmetric=symmetric)
        description = f"{description}; Jaccard of GO term sets, top {int(n_neighbors)} per gene"
        direct = final = (i, j, w)
    elif isinstance(network, np.ndarray) or sparse.issparse(network):
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
        weight_scale = scale
        i, j, w, sv = _merge_signed(
            coo.row[nz].astype(np.int64), coo.col[nz].astype(np.int64), wv, sv, symmetric=symmetric
        )
        if min_weight is not None:
            keep = w >= float(min_weight)
            i, j, w, sv = i[keep], j[keep], w[keep], sv[keep]
        if (sv < 0).any():
            signs = sv
        n_matched = G
        description = f"matrix ({type(network).__name__})"
        direct = final = (i, j, w)
    else:
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
        if mapping is not None:
            mtab = load_mapping(mapping)
            ids = pd.unique(np.concatenate([src, dst]))
            ids = ids[~pd.Index(ids).isin(var)]
            translate, mapped_with = best_translation(ids, var, mtab)
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
                f"mapping used: {mapped_with}). Network ids look like {_examples(nodes_all)}, var_names like "
                f"{_examples(var)}. Identifiers are matched case-sensitively.{hint}"
            )
            raise ValueError(msg)
        keep = np.ones(len(w_all), dtype=bool) if min_weight is None else w_all >= float(min_weight)
        if not keep.any():
            msg = (
                f"No edge of the network ({description}) has a scaled weight >= min_weight={min_weight} "
                f"(max {w_all.max():.3g} after scaling by {weight_scale:g}). Lower `min_weight=`."
            )
            raise ValueError(msg)
        src, dst, w_all = src[keep], dst[keep], w_all[keep]
        s_all = s_all[keep] if s_all is not None else None
        others = pd.Index(pd.unique(np.concatenate([src, dst]))).difference(var)
        universe = var.append(others)
        ia = universe.get_indexer(src).astype(np.int64)
        ja = universe.get_indexer(dst).astype(np.int64)
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
        if hops == 2:
            hi_, hj_, hw_ = _two_hop(ui, uj, uw, measured, ~measured)
            final = _merge_max(
                np.concatenate([direct[0], hi_]),
                np.concatenate([direct[1], hj_]),
                np.concatenate([direct[2], hw_]),
                symmetric=True,
            )
        # perturbation targets that are network nodes but not measured genes
        if targets:
            tt = pd.Index(targets)
            if translate is not None and len(translate):
                first = translate.drop_duplicates("from").set_index("from")["to"]
                tt = pd.Index([first.get(x, x) for x in targets])
            cand = [x for x in pd.unique(tt) if x not in var and x in universe]
            if cand:
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
                used = np.unique(np.concatenate([ei, ej]))
                used = used[used >= G]
                if len(used):
                    remap = np.full(n_nodes, -1, dtype=np.int64)
                    remap[:G] = np.arange(G)
                    remap[used] = G + np.arange(len(used))
                    extra_nodes = [str(universe[u]) for u in used]
                    a, b = remap[ei], remap[ej]
                    extra = (np.minimum(a, b), np.maximum(a, b), ew)

    A = _sym_csr(*final, G, symmetric=symmetric)
    A_direct = _sym_csr(*direct, G, symmetric=symmetric)
    _check_graph(A, n_matched=int(n_matched), G=G, description=description, allow_empty=allow_empty)
    S = None
    n_negative = 0
    if signs is not None:
        n_negative = int((signs < 0).sum())
        nzs = signs != 0
        S = _sym_csr(direct[0][nzs], direct[1][nzs], signs[nzs], G, symmetric=symmetric)
    sign_key = f"{key_added}_sign"
    deg = np.diff(A.indptr) + np.bincount(A.indices, minlength=G)
    deg_direct = np.diff(A_direct.indptr) + np.bincount(A_direct.indices, minlength=G)
    n_connected = int((deg > 0).sum())
    n_edges = int(len(final[0]))
    entry = {
        "source": description,
        "hops": int(hops),
        "n_edges": n_edges,
        "n_matched": int(n_matched),
        "n_connected": n_connected,
        "n_connected_direct": int((deg_direct > 0).sum()),
        "n_isolated": G - n_connected,
        "coverage": float(n_matched / G),
        "weight_scale": float(weight_scale),
        "key_added": key_added,
        "signed": S is not None,
        "sign_key": sign_key if S is not None else "None",
        "n_negative": n_negative,
        "empty": bool(A.nnz == 0),
        "checksum": array_digest(A, S if S is not None else np.zeros(0)),
        "extra_nodes": np.asarray(extra_nodes, dtype=str),
        "extra_edges": {
            "i": np.asarray(extra[0], dtype=np.int64),
            "j": np.asarray(extra[1], dtype=np.int64),
            "weight": np.asarray(extra[2], dtype=np.float32),
        },
        "params": {
            "network": description,
            "source": source,
            "target": target,
            "weight": weight,
            "min_weight": min_weight,
            "mapping": mapped_with if mapping is not None else None,
            "hops": int(hops),
            "symmetric": bool(symmetric),
            "n_neighbors": int(n_neighbors),
            "layer": layer,
            "go_table": _describe(go_table) if go_table is not None else None,
            "allow_empty": bool(allow_empty),
            "key_added": key_added,
            "mod": mod,
        },
    }
    if copy:
        t = t.copy()
    adata = t.adata
    with atomic_write(adata):  # all-or-nothing
        adata.varp[key_added] = A
        if S is not None:
            adata.varp[sign_key] = S
        elif sign_key in adata.varp:  # a sign matrix of an earlier signed network would be stale
            del adata.varp[sign_key]
        record(adata, _STEP, entry)
    logger.info(
        "gene_network: %s; %d/%d genes in the network (coverage %.1f%%), %d connected (%d directly), %d edges, "
        "%d extra target nodes",
        description,
        n_matched,
        G,
        100 * n_matched / G,
        n_connected,
        entry["n_connected_direct"],
        n_edges,
        len(extra_nodes),
    )
    return t.done(copy)


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


def _describe(x: Any) -> str:
    if isinstance(x, str | PathLike):
        return Path(x).name if isinstance(x, PathLike) or "/" in str(x) else str(x)
    return type(x).__name__


_NAMED = ("coexpression", "go")


def _check_network_name(network: str | PathLike) -> None:
    """A string that is neither a named network nor an existing file: suggest the near name (typo)."""
    text = str(network)
    if text in _NAMED or Path(text).exists():
        return
    near = difflib.get_close_matches(text.lower(), _NAMED, n=1, cutoff=0.6)
    if near:
        msg = f"network={text!r} is neither a file nor a named network; did you mean {near[0]!r}?"
        raise FileNotFoundError(msg)
    files = []
    folder = Path(text).parent if str(Path(text).parent) else Path(".")
    if folder.is_dir():
        try:
            files = [f.name for f in folder.iterdir() if f.is_file()][:500]
        except OSError:  # pragma: no cover
            files = []
    close = difflib.get_close_matches(Path(text).name, files, n=1, cutoff=0.8)
    hint = f" Did you mean {str(folder / close[0])!r}?" if close else ""
    msg = (
        f"The network file {text!r} does not exist, and it is not a named network ({', '.join(map(repr, _NAMED))})."
        f"{hint}"
    )
    raise FileNotFoundError(msg)


#: Below this share of genes matched, the network is reported as matching almost no genes.
_LOW_COVERAGE = 0.05


def _check_graph(A: sparse.spmatrix, *, n_matched: int, G: int, description: str, allow_empty: bool) -> None:
    """Refuse an empty graph (unless ``allow_empty``) and warn when the network matches almost no genes."""
    if A.nnz == 0 and not allow_empty:
        msg = (
            f"The network ({description}) gives no edge between measured genes ({n_matched} of {G} genes matched); "
            "training on it would use no graph. Check the identifiers (`mapping=`), `min_weight=` or `hops=2`, or "
            "pass `allow_empty=True` to store the empty graph on purpose."
        )
        raise ValueError(msg)
    if G >= 20 and n_matched < max(2, _LOW_COVERAGE * G):
        warnings.warn(
            f"The network ({description}) matches almost no genes: {n_matched} of {G} var_names "
            f"({100 * n_matched / G:.1f}%). Check that network ids and var_names use the same identifiers "
            "(symbols vs Ensembl; pass `mapping=`).",
            UserWarning,
            stacklevel=3,
        )


def _target_genes(pert: dict[str, Any]) -> list[str]:
    """All target genes of the perturbation design (combinations contribute each of their genes)."""
    genes = [g for genes in target_sets(pert) for g in genes]
    return list(dict.fromkeys(genes))


def _read_network(
    network: Any, *, source: str | None, target: str | None, weight: str | None
) -> tuple[pd.DataFrame, str, bool]:
    """Edge table, a description of the source, and whether weights are STRING scores (0-1000)."""
    if isinstance(network, pd.DataFrame):
        edges, wcol = edges_from_frame(network, source=source, target=target, weight=weight, origin="network DataFrame")
        return edges, "DataFrame", wcol is not None and wcol.lower() in ("combined_score", "score")
    if type(network).__module__.startswith("networkx"):
        return edges_from_networkx(network, weight), f"networkx.{type(network).__name__}", False
    if isinstance(network, str | PathLike):
        path = Path(network)
        table = read_table(path, what="network")
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
        return edges, f"file {path.name}", string_scale
    msg = (
        f"Unsupported network of type {type(network).__name__}. Pass 'coexpression', a path to an edge list or STRING "
        "links file, a pandas DataFrame, a networkx Graph, or a square matrix aligned to var_names."
    )
    raise TypeError(msg)
