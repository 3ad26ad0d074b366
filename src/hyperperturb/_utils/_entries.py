"""Typed readers of the ``.uns['hyperperturb']`` ledger entries.

The ledger is written by :func:`~hyperperturb._utils.record`, which makes values h5ad-safe: ``None`` is stored as the
string ``"None"``, lists come back as NumPy arrays, and an entry may be absent. Every reader of a stored entry goes
through this module, so that this encoding is decoded in one place. Readers never raise on an absent entry (they
return the empty value); :func:`train_entry` is the one that requires its step (with the "run this first" message).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._ledger import check_current, check_schema, get_ledger, require_step
from ._validate import NONE, decode

__all__ = ["NONE", "decode"]  # re-exported: the encoding and its decoder live next to sanitize_for_h5ad


def names(x: Any) -> list[str]:
    """A stored name array (any shape, any dtype; a scalar is one name) as a list of ``str``."""
    return [str(v) for v in np.asarray(x).ravel()]


def decode_params(params: Any) -> dict[str, Any]:
    """A stored ``params`` dict with every ``"None"`` decoded (``{}`` when it is absent or not a dict)."""
    if not isinstance(params, dict):
        return {}
    return {k: decode(v) for k, v in params.items()}


def entry(adata: AnnData, step: str) -> dict[str, Any]:
    """The ledger entry ``step`` (``{}`` when absent or not a dict; another schema version is refused)."""
    e = get_ledger(adata).get(step)
    if not isinstance(e, dict):
        return {}
    check_schema(step, e, needed_by="hyperperturb")
    return e


def params(adata: AnnData, step: str) -> dict[str, Any]:
    """The decoded ``params`` of the ledger entry ``step`` (``{}`` when absent)."""
    return decode_params(entry(adata, step).get("params"))


def has_step(adata: AnnData, step: str) -> bool:
    """Whether the ledger holds an entry ``step``."""
    return step in get_ledger(adata)


# -- preprocess ------------------------------------------------------------------------------------------------------


def preprocess_layer(adata: AnnData) -> str | None:
    """The layer of normalised log1p expression recorded by ``hp.pp.preprocess`` (``None`` when not recorded)."""
    layer = decode(entry(adata, "preprocess").get("layer"))
    return None if layer is None else str(layer)


# -- perturbations ---------------------------------------------------------------------------------------------------


def perturbation_names(adata: AnnData) -> list[str]:
    """Names of the perturbations recorded by ``hp.pp.perturbations`` (``[]`` when it has not run)."""
    return names(entry(adata, "perturbations").get("names", []))


def perturbation_targets(adata: AnnData) -> list[str]:
    """The target gene of each recorded perturbation (the perturbation's own name when no targets are stored)."""
    e = entry(adata, "perturbations")
    return names(e.get("targets", e.get("names", [])))


def target_of(adata: AnnData) -> dict[str, str]:
    """Perturbation name → its target gene, for the perturbations recorded by ``hp.pp.perturbations``."""
    return dict(zip(perturbation_names(adata), perturbation_targets(adata), strict=False))


# -- rewards ---------------------------------------------------------------------------------------------------------


def reward_perturbations(adata: AnnData) -> list[str]:
    """Column names of ``.varm['hp_reward']`` recorded by ``hp.tl.rewards`` (``[]`` when it has not run)."""
    return names(entry(adata, "rewards").get("perturbations", []))


# -- network ---------------------------------------------------------------------------------------------------------

#: The ``.varp`` key of the gene network when ``hp.pp.gene_network`` ran with its default ``key_added`` (or when a
#: network was stored by hand, without a ledger entry).
NETWORK_KEY = "hp_adjacency"


def network_key(adata: AnnData) -> str:
    """The ``.varp`` key of the gene network: the ``key_added`` recorded by ``hp.pp.gene_network``.

    :data:`NETWORK_KEY` when no network entry records one. Every reader of the network finds it through this
    function, never through the literal key.
    """
    key = decode(entry(adata, "network").get("key_added"))
    return key if isinstance(key, str) and key else NETWORK_KEY


def network_directed(adata: AnnData) -> bool:
    """Whether ``hp.pp.gene_network`` stored the network with its directions (``symmetric=False``)."""
    params = entry(adata, "network").get("params")
    return isinstance(params, dict) and not bool(params.get("symmetric", True))


def network_graph(adata: AnnData) -> sparse.csr_matrix:
    """The gene network as the undirected graph the models, the map and the plots use (genes × genes, CSR).

    A network stored with its directions (``hp.pp.gene_network(..., symmetric=False)``) is symmetrised by the
    larger weight of the two directions; the directions themselves stay in ``.varp[f"{key}_directed"]``.
    """
    A = sparse.csr_matrix(adata.varp[network_key(adata)])
    return A.maximum(A.T).tocsr() if network_directed(adata) else A


def has_network(adata: AnnData) -> bool:
    """Whether the gene network (``.varp[network_key(adata)]``) is present."""
    return network_key(adata) in adata.varp


def network_extra_nodes(adata: AnnData) -> list[str]:
    """Network nodes that are not in ``var_names`` (perturbation targets), recorded by ``hp.pp.gene_network``."""
    return names(entry(adata, "network").get("extra_nodes", []))


def network_extra_edges(adata: AnnData) -> dict[str, np.ndarray]:
    """Edges touching an extra node: ``{"i", "j", "weight"}`` arrays, indices into ``[*var_names, *extra_nodes]``.

    Empty arrays when there are none; a missing ``weight`` is read as 1 per edge.
    """
    ee = entry(adata, "network").get("extra_edges")
    ee = ee if isinstance(ee, dict) else {}
    i = np.asarray(ee.get("i", []), dtype=np.int64).ravel()
    j = np.asarray(ee.get("j", []), dtype=np.int64).ravel()
    w = np.asarray(ee.get("weight", np.ones(len(i))), dtype=np.float64).ravel()
    if "i_name" in ee and "j_name" in ee:
        i, j, w = edges_by_name(
            names(ee["i_name"]), names(ee["j_name"]), w, adata.var_names, network_extra_nodes(adata)
        )
    return {"i": i, "j": j, "weight": w}


def network_extra_directed(adata: AnnData) -> tuple[list[str], list[str], np.ndarray] | None:
    """Direct edges touching an extra node as listed (source names, target names, weight x sign).

    ``None`` for networks stored before these were recorded (their extra edges are read both ways, positive).
    """
    ed = entry(adata, "network").get("extra_directed")
    if not isinstance(ed, dict) or "i_name" not in ed or "j_name" not in ed:
        return None
    i, j = names(ed["i_name"]), names(ed["j_name"])
    w = np.asarray(ed.get("weight", np.ones(len(i))), dtype=np.float64).ravel()
    if not (len(i) == len(j) == w.size):
        msg = "The stored directed edges of extra nodes have names and weights of different lengths. Re-run `hp.pp.gene_network`."
        raise ValueError(msg)
    return i, j, w


def edges_by_name(
    i_name: Any, j_name: Any, weight: np.ndarray, var_names: Any, extra_nodes: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge positions in ``[*var_names, *extra_nodes]`` from their endpoints' names (an endpoint gone: edge dropped).

    ``hp.pp.gene_network`` stores the edges to nodes outside ``var_names`` with the names of their endpoints, so that
    a gene subset or reorder of the object after it keeps every remaining edge on the right genes (as the
    ``.varp`` network itself is subset and reordered with the genes), instead of pointing at other genes.
    """
    nodes = [*map(str, var_names), *map(str, extra_nodes)]
    pos: dict[str, int] = {}
    for k, g in enumerate(nodes):
        pos.setdefault(g, k)
    i = np.asarray([pos.get(str(g), -1) for g in i_name], dtype=np.int64)
    j = np.asarray([pos.get(str(g), -1) for g in j_name], dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64).ravel()
    if not (i.size == j.size == w.size):
        msg = "The stored network edges to extra nodes have endpoint names and weights of different lengths. Re-run `hp.pp.gene_network`."
        raise ValueError(msg)
    ok = (i >= 0) & (j >= 0)
    return i[ok], j[ok], w[ok]


# -- train -----------------------------------------------------------------------------------------------------------


def train_entry(adata: AnnData, *, needed_by: str) -> dict[str, Any]:
    """The validated ``train`` entry, or a :class:`KeyError` telling the user to run ``hp.tl.train`` first."""
    return require_step(adata, "train", needed_by=needed_by)


def train_kernel(adata: AnnData) -> Any:
    """The held-out readout stored by ``hp.tl.train`` (a :class:`~._schema.KernelReadout`; ``None``: none stored)."""
    from ._schema import TrainEntry, find

    e = find(adata, TrainEntry, needed_by="the trained model's readout")
    return None if e is None else e.kernel


def train_history(adata: AnnData, *, needed_by: str) -> dict[str, np.ndarray]:
    """The training history stored by ``hp.tl.train`` (one array per recorded curve; the step must have run)."""
    h = train_entry(adata, needed_by=needed_by).get("history")
    return {str(k): np.asarray(v, dtype=float).ravel() for k, v in h.items()} if isinstance(h, dict) else {}


def train_params(adata: AnnData) -> dict[str, Any]:
    """The decoded ``params`` of the ``train`` entry (``{}`` when it has not run)."""
    return params(adata, "train")


def train_perturbations(adata: AnnData) -> list[str]:
    """Column names of ``.varm['hp_policy']`` recorded by ``hp.tl.train`` (``[]`` when it has not run)."""
    return names(entry(adata, "train").get("perturbations", []))


def train_extra_nodes(adata: AnnData, dim: int | None = None) -> tuple[list[str], np.ndarray]:
    """Unmeasured nodes embedded by training and their coordinates (``(n, dim)``; empty when none are stored)."""
    e = entry(adata, "train")
    extra, emb = e.get("extra_nodes"), e.get("extra_embedding")
    width = 0 if dim is None else dim
    if extra is None or emb is None or not len(names(extra)):
        return [], np.zeros((0, width))
    nodes = names(extra)
    return nodes, np.asarray(emb, dtype=float).reshape(len(nodes), -1)


def train_perturbation_embedding(adata: AnnData, *, needed_by: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The trained perturbations, their embedding (one row each) and which are scorable (the step must have run).

    ``scorable`` is all ``True`` when it is not stored; a :class:`KeyError` when no embedding is stored.
    """
    e = train_entry(adata, needed_by=needed_by)
    emb, raw = e.get("perturbation_embedding"), e.get("perturbations")
    if emb is None or raw is None:
        msg = "The training entry has no perturbation_embedding; re-run `hp.tl.train` or pass perturbations=False."
        raise KeyError(msg)
    pert = names(raw)
    scorable = np.asarray(e.get("scorable", np.ones(len(pert), bool)), dtype=bool).ravel()
    return pert, np.asarray(emb, dtype=float).reshape(len(pert), -1), scorable


#: Key in ``.varm`` of the embedding written by ``hp.tl.train`` (fixed: one trained model per object).
TRAIN_EMBEDDING_KEY = "X_poincare"


def map_key(adata: AnnData, step: str) -> str | None:
    """The ``.varm`` key of the map written by ``step`` (``"train"`` or ``"embed_network"``; ``None`` if it has not run).

    ``hp.tl.embed_network`` records its ``key_added``; ``hp.tl.train`` always writes :data:`TRAIN_EMBEDDING_KEY`.
    """
    if not has_step(adata, step):
        return None
    if step == "train":
        return TRAIN_EMBEDDING_KEY
    key = params(adata, step).get("key_added")
    return key if isinstance(key, str) and key else None


def curvature(adata: AnnData) -> float:
    """Curvature ``c`` of the ball used by ``hp.tl.train`` (1.0 when not recorded)."""
    c = train_params(adata).get("curvature", 1.0)
    try:
        c = float(np.asarray(c).ravel()[0])
    except (TypeError, ValueError, IndexError):
        c = 1.0
    if not np.isfinite(c) or c <= 0:
        msg = f"The recorded curvature {c!r} is not a positive number; the training entry in .uns looks corrupted."
        raise ValueError(msg)
    return c


def geometry(adata: AnnData) -> str:
    """``"poincare"`` or ``"euclidean"``: the geometry of training (the former when not recorded)."""
    return str(train_params(adata).get("geometry") or "poincare")


def map_writer(adata: AnnData, key: str) -> str | None:
    """The step that wrote the map ``.varm[key]``: ``"train"``, ``"embed_network"``, or ``None`` (another tool)."""
    for step in ("train", "embed_network"):
        if map_key(adata, step) == key:
            return step
    return None


def map_geometry(adata: AnnData, key: str) -> tuple[str, float]:
    """Geometry and curvature of the map ``.varm[key]``, as the step that wrote it recorded them.

    ``hp.tl.embed_network`` records its own (a map of curvature 4 next to a trained model of curvature 1); a map no
    step of this package wrote is read with training's (``"poincare"``, 1.0 when nothing is recorded).
    """
    if map_writer(adata, key) != "embed_network":
        geo = geometry(adata)
        # a Euclidean model records curvature 0: there is no ball, and readers take c = 1 for their formulas
        return geo, (1.0 if geo == "euclidean" else curvature(adata))
    p = params(adata, "embed_network")
    geo = str(p.get("geometry") or "poincare")
    if geo == "euclidean":
        return geo, 1.0
    try:
        c = float(np.asarray(p.get("curvature", 1.0)).ravel()[0])
    except (TypeError, ValueError, IndexError):
        c = float("nan")
    if not np.isfinite(c) or c <= 0:
        msg = f"The recorded curvature of hp.tl.embed_network ({c!r}) is not a positive number; re-run it."
        raise ValueError(msg)
    return geo, c


def map_extra_nodes(adata: AnnData, key: str) -> tuple[list[str], np.ndarray]:
    """Network nodes outside ``var_names`` placed by the step that wrote ``.varm[key]`` and their coordinates."""
    if map_writer(adata, key) != "embed_network":
        return train_extra_nodes(adata)
    e = entry(adata, "embed_network")
    extra, emb = names(e.get("extra_nodes", [])), e.get("extra_embedding")
    if not extra or emb is None:
        return [], np.zeros((0, 0))
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(extra):
        return [], np.zeros((0, 0))
    return extra, emb


# -- columns of the stored matrices ----------------------------------------------------------------------------------


def perturbation_columns(adata: AnnData, key: str) -> list[str]:
    """Names of the columns of ``.varm[key]`` (``hp_policy``-like from training, ``hp_reward``-like from rewards)."""
    n_cols = np.asarray(adata.varm[key]).shape[1]
    rewards, train = entry(adata, "rewards").get("perturbations"), entry(adata, "train").get("perturbations")
    sources = [rewards, train] if key in ("hp_reward", "hp_policy_target") else [train, rewards]
    sources.append(entry(adata, "perturbations").get("names"))
    for s in sources:
        if s is not None and len(names(s)) == n_cols:
            return names(s)
    msg = (
        f".varm[{key!r}] has {n_cols} columns but no perturbation names of that length are recorded in "
        ".uns['hyperperturb']; the object looks inconsistent. Re-run `hp.tl.rewards` and `hp.tl.train`."
    )
    raise ValueError(msg)


def basis_key(adata: AnnData, basis: str, *, needed_by: str) -> str:
    """Find ``basis`` in ``.varm``: tries ``basis``, ``f"X_{basis}"``, then the ``key_added`` recorded by training.

    A map written by ``hp.tl.train`` or ``hp.tl.embed_network`` whose inputs were re-run since is refused.
    """
    candidates = [basis, f"X_{basis}"]
    trained = map_key(adata, "train")
    if basis in ("X_poincare", "poincare") and trained is not None:
        candidates.append(trained)
    for key in candidates:
        if key in adata.varm:
            for step in ("train", "embed_network"):  # the step that wrote this map must be current
                if map_key(adata, step) == key:
                    check_current(adata, step, needed_by=needed_by)
            return key
    if not has_step(adata, "train"):
        train_entry(adata, needed_by=needed_by)  # raises the "run hp.tl.train first" KeyError
    msg = f"No embedding {basis!r} in .varm; available keys: {list(adata.varm)}. Pass one of them as `basis=`."
    raise KeyError(msg)


# -- keys ------------------------------------------------------------------------------------------------------------


def check_varp_key(adata: AnnData, key: Any) -> None:
    """Refuse a network ``key_added`` (``hp.pp.gene_network``) that is empty or would overwrite another matrix.

    That is the current network's sign or directed matrix (``.varp[f"{key}_sign"]``, ``.varp[f"{key}_directed"]``).
    ``"hp_reward"`` is refused too: ``hp.tl.train`` names the digest of each input by its key (``input_digests``),
    and that one is the rewards'.
    """
    if not isinstance(key, str) or not key:
        msg = f"key_added must be a non-empty string, got {key!r}."
        raise ValueError(msg)
    if key == "hp_reward":
        msg = (
            "key_added='hp_reward' would give the gene network the name of the rewards (.varm['hp_reward']), under "
            "which hp.tl.train records what it read; choose another key (e.g. 'hp_adjacency')."
        )
        raise ValueError(msg)
    net = entry(adata, "network")
    for which in ("sign", "directed"):
        owned = decode(net.get(f"{which}_key"))
        if isinstance(owned, str) and key == owned:
            msg = (
                f"key_added={key!r} would overwrite .varp[{key!r}], the {which} matrix of the gene network stored "
                f"under {network_key(adata)!r}; choose another key (e.g. {key + '_2'!r})."
            )
            raise ValueError(msg)


def check_varm_key(adata: AnnData, key: Any, *, owner: str) -> None:
    """Refuse a ``key_added`` in ``.varm`` that would overwrite results another step owns."""
    if not isinstance(key, str) or not key:
        msg = f"key_added must be a non-empty string, got {key!r}."
        raise ValueError(msg)
    owned = {"hp_reward": "hp.tl.rewards", "hp_policy_target": "hp.tl.rewards", "hp_policy": "hp.tl.train"}
    owned[TRAIN_EMBEDDING_KEY] = "hp.tl.train"
    tk = map_key(adata, "train")
    if tk is not None:
        owned[tk] = "hp.tl.train"
    mk = map_key(adata, "embed_network")
    if owner != "hp.tl.embed_network" and mk is not None:
        owned[mk] = "hp.tl.embed_network"
    if key in owned:
        msg = (
            f"key_added={key!r} would overwrite .varm[{key!r}], written by `{owned[key]}`; choose another key "
            f"(e.g. {key + '_2'!r})."
        )
        raise ValueError(msg)
