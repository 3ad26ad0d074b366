"""``hp.pp.gene_network``: a gene–gene adjacency aligned to ``var_names``."""

from __future__ import annotations

import difflib
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
from hyperperturb._utils._warn import warn

from ._edges import _sym_csr
from ._network_edge_list import from_edge_list
from ._network_sources import from_coexpression, from_go, from_matrix

_STEP = "network"


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
    directed: bool | None = None,
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
        - a :class:`networkx.Graph` or ``DiGraph`` (edge attribute ``weight``, an edge without it has weight 1;
          signed like a DataFrame: negative weights, or a ``mode``/``sign`` attribute with
          ``activation``/``repression``);
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
        network ids into ``var_names`` is used (a row missing one of those two ids is ignored; gaps in other
        columns do not matter); ids that already match ``var_names`` are kept as they are. Perturbation targets
        are mapped through the same pair, so symbol targets find their Ensembl ``var_names`` (ledger
        ``target_nodes``).
    hops
        ``1``: direct edges only. ``2``: also link two measured genes that share a network neighbour outside the
        measured set; the weight is ``max_k w_ik * w_kj`` over such shared neighbours ``k`` (a direct edge keeps
        the larger of both).
    symmetric
        Make the adjacency undirected (default). ``False`` stores it with its directions (``source`` →
        ``target``) for other tools; every hyperperturb step then uses the undirected graph (the larger weight of
        the two directions), and the propagation readout reads the directions from ``.varp[f"{key_added}_directed"]``
        either way.
    directed
        Whether an edge list's ``source`` → ``target`` order is a direction (regulator → target) for the
        propagation readout of :func:`hyperperturb.tl.train`. ``None`` (default): automatic — the listed order
        is kept (TF regulons such as CollecTRI, DoRothEA, TRRUST; any ``source``/``target`` table; a networkx
        ``DiGraph``), except for an unsigned protein–protein interaction export, which lists each pair once in an
        arbitrary order: STRING files and tables (columns ``protein1``/``protein2``, ``gene_a``/``gene_b``,
        ``node1``/``node2``, ``preferredName_A``/``preferredName_B``, ..., or a ``combined_score``/``score``
        weight) and :func:`hyperperturb.datasets.string_network`'s table count both ways (logged; the ledger's
        ``params["directed"]`` records the choice). ``True`` keeps the listed order always, ``False`` sends every
        edge both ways in ``.varp[f"{key_added}_directed"]``. On knock-out screens with a known network, sending
        the change along arbitrarily oriented edges scored 0.61 against 0.70 both ways (``docs/benchmarks.md``).
        Undirected networkx graphs are stored both ways; matrices, co-expression and GO networks have no
        directions.
    n_neighbors
        Neighbours per gene for ``network="coexpression"``.
    layer
        Layer for ``"coexpression"`` (default: the layer recorded by :func:`hyperperturb.pp.preprocess`, else X).
    key_added
        Key of the network in ``.varp`` (recorded in the ledger entry ``network``; every later step finds the
        network through it, so any key works). The sign and directed matrices go to ``f"{key_added}_sign"`` and
        ``f"{key_added}_directed"``. A key naming the current network's sign or directed matrix is refused.
    mod
        RNA modality of a MuData.
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Writes ``.varp[key_added]`` (CSR float32, symmetric,
    weights in [0, 1], no self-loops) and ``.uns["hyperperturb"]["network"]`` with ``source``, ``hops``,
    ``n_edges`` (pairs of measured genes joined by an edge of non-zero weight, each pair once), ``n_matched``
    ("genes in the network": genes named by an edge of non-zero weight that passes ``min_weight``, the same count
    for a file, a DataFrame or a pre-filtered table),
    ``n_connected`` (genes with at least one edge in the graph :func:`hyperperturb.tl.train` uses: ``.varp`` plus the
    edges to unmeasured perturbation targets), ``n_connected_direct`` (with an edge to another measured gene in the
    network itself), ``n_isolated`` ("genes without edges", ``n_vars - n_connected``: after training exactly the
    genes with ``.var["hp_in_network"] == False``), ``coverage`` (``n_matched / n_vars``), ``weight_scale``, ``extra_nodes`` and ``extra_edges`` (``i``, ``j``, ``weight``;
    indices into ``[*var_names, *extra_nodes]``, each pair once; ``i_name``, ``j_name``: the endpoints by name,
    which readers use, so a later gene subset or reorder of the object keeps these edges on their genes), ``target_nodes`` (``targets``, ``nodes``: the
    perturbation targets that ``mapping=`` placed at a node of another name, and that node; empty without a
    mapping) and ``params``.
    Signed networks add ``.varp[f"{key_added}_sign"]`` (the sign of each undirected edge). Edge lists (files,
    DataFrames) also add ``.varp[f"{key_added}_directed"]``: the edges between measured genes as listed, row
    ``source`` → column ``target``, value = weight × sign (unsigned networks: the weight); the held-out readout
    propagates a knock-out's effect along it (ledger key ``directed_key``).

    Notes
    -----
    Weights are scaled to [0, 1]: weights above 1 are divided by 1000 for STRING scores (a ``combined_score``
    or ``score`` column, or a STRING links file, with maximum ≤ 1000) and by their maximum otherwise. Negative
    weights make the network signed (the adjacency holds ``|w|``, ``.varp[f"{key_added}_sign"]`` the sign);
    missing or infinite weights raise a :class:`ValueError`. Edges of weight 0 are no edges (not stored, not
    counted, no two-hop link through them). Duplicated edges keep the maximum weight and self-loops are dropped.
    When :func:`hyperperturb.pp.perturbations` has run, perturbation targets that are not measured but are network
    nodes become ``extra_nodes``, with their edges to measured genes and to each
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
    _entries.check_varp_key(adata, key_added)
    if hops not in (1, 2):
        msg = f"`hops` must be 1 or 2, got {hops!r}."
        raise ValueError(msg)
    if directed is not None and not isinstance(directed, bool | np.bool_):
        msg = f"`directed` must be None (automatic), True or False, got {directed!r}."
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
    if isinstance(network, str) and network == "coexpression":
        net = from_coexpression(adata, layer=layer, n_neighbors=n_neighbors, min_weight=min_weight, symmetric=symmetric)
    elif isinstance(network, str) and network == "go":
        net = from_go(
            go_table, var, mapping=mapping, n_neighbors=n_neighbors, min_weight=min_weight, symmetric=symmetric
        )
    elif isinstance(network, np.ndarray) or sparse.issparse(network):
        net = from_matrix(network, G, min_weight=min_weight, symmetric=symmetric)
    else:
        net = from_edge_list(
            network,
            var,
            targets,
            source=source,
            target=target,
            weight=weight,
            mapping=mapping,
            min_weight=min_weight,
            hops=hops,
            symmetric=symmetric,
        )
    direct, final, signs, extra = net.direct, net.final, net.signs, net.extra
    n_matched, description, extra_nodes = net.n_matched, net.description, net.extra_nodes
    weight_scale, mapped_with = net.weight_scale, net.mapped_with

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
    directed_key = f"{key_added}_directed"
    Dir = None
    if directed is None:  # an interaction export (STRING) lists each pair in an arbitrary order: no direction
        directed = not (net.undirected_table and signs is None)
        if not directed and net.directed is not None and len(net.directed[0]):
            logger.info(
                "gene_network: %s is an undirected interaction table (STRING-like); its edges count both ways for "
                "the propagation readout (pass directed=True to keep the listed order)",
                description,
            )
    if net.directed is not None and len(net.directed[0]):
        di, dj, dw = net.directed
        Dir = sparse.csr_matrix((dw.astype(np.float32), (di, dj)), shape=(G, G))
        Dir.eliminate_zeros()
        if not directed:  # the listed order means nothing (e.g. an interaction table listing each pair once)
            Dir = _both_ways(Dir)
    deg = np.diff(A.indptr) + np.bincount(A.indices, minlength=G)
    deg_direct = np.diff(A_direct.indptr) + np.bincount(A_direct.indices, minlength=G)
    # "genes without edges" means no edge in the graph hp.tl.train uses: .varp plus the edges to unmeasured
    # perturbation targets (the same genes as .var["hp_in_network"] == False after training on this network)
    ei, ej = np.asarray(extra[0], dtype=np.int64), np.asarray(extra[1], dtype=np.int64)
    deg = deg + np.bincount(ei[ei < G], minlength=G) + np.bincount(ej[ej < G], minlength=G)
    n_connected = int((deg > 0).sum())
    n_edges = _n_undirected(A)
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
        "sign_key": sign_key if S is not None else None,  # record() stores None as "None"
        "directed_key": directed_key if Dir is not None else None,
        "n_negative": n_negative,
        "empty": bool(A.nnz == 0),
        "checksum": array_digest(A, S if S is not None else np.zeros(0)),
        "extra_nodes": np.asarray(extra_nodes, dtype=str),
        "extra_edges": {
            "i": np.asarray(extra[0], dtype=np.int64),
            "j": np.asarray(extra[1], dtype=np.int64),
            "weight": np.asarray(extra[2], dtype=np.float32),
            # the endpoints by name: readers match them to the genes by name, so the edges survive a gene subset
            # or reorder of the object (the positions alone would then point at other genes)
            **_endpoint_names(adata.var_names, extra_nodes, extra[0], extra[1]),
        },
        # the direct ones as listed (source -> target, weight x sign), for the propagation readout
        "extra_directed": _extra_directed_entry(net.extra_directed, both_ways=not directed),
        # targets found under another id through `mapping=` -> their node (a var_name or an extra node); hp.tl.train
        # places each perturbation at the node of its target through this table
        "target_nodes": {
            "targets": np.asarray(list(net.target_nodes), dtype=str),
            "nodes": np.asarray(list(net.target_nodes.values()), dtype=str),
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
            "directed": bool(directed),
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
        if Dir is not None:
            adata.varp[directed_key] = Dir
        elif directed_key in adata.varp:
            del adata.varp[directed_key]
        record(adata, _STEP, entry)
    logger.info(
        "gene_network: %s; %d/%d genes in the network (named by an edge that passes min_weight; coverage %.1f%%); "
        "%d genes with an edge in the graph hp.tl.train uses (%d to another measured gene directly), %d without "
        "edges; %d edges between measured genes, %d extra target nodes",
        description,
        n_matched,
        G,
        100 * n_matched / G,
        n_connected,
        entry["n_connected_direct"],
        G - n_connected,
        n_edges,
        len(extra_nodes),
    )
    return t.done(copy)


def _n_undirected(A: sparse.spmatrix) -> int:
    """Gene pairs joined by an edge of non-zero weight (a pair linked both ways counts once; no self-loops)."""
    B = (A != 0).astype(np.int8)
    return int(sparse.triu(B + B.T, k=1).nnz)


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
    if not (np.asarray(A.data, dtype=np.float32) > 0).any() and not allow_empty:  # zero/underflowing weights: no edge
        msg = (
            f"The network ({description}) gives no edge between measured genes ({n_matched} of {G} genes matched); "
            "training on it would use no graph. Check the identifiers (`mapping=`), `min_weight=` or `hops=2`, or "
            "pass `allow_empty=True` to store the empty graph on purpose."
        )
        raise ValueError(msg)
    if G >= 20 and n_matched < max(2, _LOW_COVERAGE * G):
        warn(
            f"The network ({description}) matches almost no genes: {n_matched} of {G} var_names "
            f"({100 * n_matched / G:.1f}%). Check that network ids and var_names use the same identifiers "
            "(symbols vs Ensembl; pass `mapping=`).",
            UserWarning,
        )


def _target_genes(pert: dict[str, Any]) -> list[str]:
    """All target genes of the perturbation design (combinations contribute each of their genes)."""
    genes = [g for genes in target_sets(pert) for g in genes]
    return list(dict.fromkeys(genes))


def _extra_directed_entry(ed: Any, *, both_ways: bool) -> dict[str, np.ndarray]:
    """Ledger arrays ``i_name``, ``j_name``, ``weight`` (signed) of the directed edges touching extra nodes."""
    if ed is None:
        ed = (np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0))
    i, j, w = (np.asarray(a) for a in ed)
    if both_ways and i.size:  # the listed order means nothing: each edge counts both ways (larger |weight| kept)
        i, j, w = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([w, w])
        key = pd.DataFrame({"i": i, "j": j, "a": -np.abs(w)}).sort_values(["i", "j", "a"], kind="mergesort")
        key = key.drop_duplicates(["i", "j"], keep="first")
        i, j, w = i[key.index], j[key.index], w[key.index]
    return {
        "i_name": np.asarray(i, dtype=str),
        "j_name": np.asarray(j, dtype=str),
        "weight": np.asarray(w, dtype=np.float32),
    }


def _both_ways(D: sparse.csr_matrix) -> sparse.csr_matrix:
    """``D`` with every edge in both directions; a pair listed both ways keeps its larger ``|weight|`` (and sign)."""
    C = D.tocoo()
    r = np.concatenate([C.row, C.col])
    c = np.concatenate([C.col, C.row])
    v = np.concatenate([C.data, C.data])
    order = np.lexsort((-np.abs(v), c, r))  # by pair, the largest magnitude first
    r, c, v = r[order], c[order], v[order]
    first = np.ones(r.size, dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    out = sparse.csr_matrix((v[first], (r[first], c[first])), shape=D.shape, dtype=D.dtype)
    out.eliminate_zeros()
    return out


def _endpoint_names(var_names: Any, extra_nodes: Any, i: Any, j: Any) -> dict[str, np.ndarray]:
    """``i_name``/``j_name``: the node names of edge endpoints given as positions in ``[*var_names, *extra_nodes]``."""
    nodes = np.asarray([*map(str, var_names), *map(str, extra_nodes)], dtype=str)
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    return {
        "i_name": nodes[i] if i.size else np.zeros(0, dtype=str),
        "j_name": nodes[j] if j.size else np.zeros(0, dtype=str),
    }
