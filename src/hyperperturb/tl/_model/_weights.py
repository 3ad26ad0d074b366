"""The stored model: weights as a dict (the ``train`` entry), the trained gene order, rebuilding each model kind."""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperperturb._utils._entries import has_network, network_key
from hyperperturb._utils._schema import TrainEntry


def _stored_weights(model) -> list[Any]:
    """The model's variables that the ledger stores: all but the starting map (stored once, as ``network_map``)."""
    base = getattr(model, "base", None)
    return [w for w in model.weights if base is None or w is not base]


def weights_to_dict(model) -> dict[str, np.ndarray]:
    """Model weights as ``{"000:path.to.var": ndarray}`` (order = ``model.weights``; no ``/`` for h5ad).

    The starting map of ``refine`` is left out: it is the network map, stored once in the ``network_map`` part of the
    ``train`` entry (float64; the weight is its float32 copy) and set again by :func:`rebuild`.
    """
    return {f"{i:03d}:{w.path.replace('/', '.')}": np.asarray(w.numpy()) for i, w in enumerate(_stored_weights(model))}


def weights_from_dict(model, weights: dict[str, Any]) -> None:
    """Assign weights stored by :func:`weights_to_dict` (by order)."""
    keys = sorted(weights, key=lambda k: int(str(k).split(":", 1)[0]))
    stored = _stored_weights(model)
    if len(keys) != len(stored):
        msg = (
            f"The stored model has {len(keys)} weight arrays but the rebuilt model has {len(stored)}; the "
            "training entry in .uns['hyperperturb'] is inconsistent with this hyperperturb version. Re-run hp.tl.train."
        )
        raise ValueError(msg)
    arrays = []
    for k, w in zip(keys, stored, strict=True):
        arr = np.asarray(weights[k])
        if arr.size != int(np.prod(w.shape)):
            msg = (
                f"Stored weight {k!r} has shape {arr.shape} but the rebuilt model expects {tuple(w.shape)}; the "
                "training entry in .uns['hyperperturb'] is corrupted or from another version. Re-run hp.tl.train."
            )
            raise ValueError(msg)
        if np.issubdtype(arr.dtype, np.number) and not np.isfinite(arr).all():
            msg = f"Stored weight {k!r} contains NaN or infinite values; the training entry is corrupted. Re-run hp.tl.train."
            raise ValueError(msg)
        arrays.append(arr.reshape(w.shape))
    for arr, w in zip(arrays, stored, strict=True):  # assign only once every array is valid
        w.assign(arr)


def trained_gene_order(adata, entry: TrainEntry, *, needed_by: str) -> np.ndarray | None:
    """Positions in ``var_names`` of the genes in the order the stored model was trained on (``None``: same order).

    Everything training stored per gene (node features, the noise floor, graph nodes) is in that order; readers
    work on ``adata[:, order]`` so that genes are matched by name, never by position.

    Raises
    ------
    ValueError
        If genes were added, removed or renamed since training (or ``var_names`` are not unique).
    """
    trained = list(entry.graph.nodes[: entry.graph.n_genes])
    now = adata.var_names
    if len(trained) == len(now) and all(a == b for a, b in zip(trained, map(str, now), strict=True)):
        return None
    if not now.is_unique:
        msg = (
            f"{needed_by}: var_names are not unique, so genes cannot be matched to the trained model by name. "
            "Run `adata.var_names_make_unique()` and re-run `hp.tl.train`."
        )
        raise ValueError(msg)
    pos = now.get_indexer(trained)
    missing = [g for g, i in zip(trained, pos, strict=True) if i < 0]
    added = sorted(set(map(str, now)) - set(trained))
    if missing or added:
        msg = (
            f"{needed_by}: the model was trained on {len(trained)} genes but the object has {len(now)}; "
            f"{len(missing)} trained gene(s) are missing (e.g. {missing[:5]}) and {len(added)} are new "
            f"(e.g. {added[:5]}). Genes are matched by name: re-run `hp.tl.train` on this object."
        )
        raise ValueError(msg)
    return np.asarray(pos, dtype=np.int64)


def rebuild_simple_model(adata, entry: TrainEntry) -> tuple[Any, None, None]:
    """:func:`rebuild` of ``model="simple"`` (no node features, no adjacency)."""
    from ._tensorflow import import_tensorflow

    import_tensorflow()

    from hyperperturb.nn._models import HyperbolicPerturbationModel

    p = entry.params
    geometry, c = entry.geometry, entry.curvature
    learn = bool(p["learn_curvature"])
    net = HyperbolicPerturbationModel(
        len(entry.perturbations),
        adata.n_vars,
        geometry=geometry,
        dim=int(p["dim"]),
        hidden=int(p["hidden"]),
        curvature=c,
        learn_curvature=learn,
        seed=int(p["seed"]),
    )
    net.build()
    weights_from_dict(net, entry.weights)
    return net, None, None


def rebuild_graph_model(adata, entry: TrainEntry) -> tuple[Any, Any, Any]:
    """:func:`rebuild` of ``model="hyperperturb"``: the graph model, its node features and normalised adjacency."""
    from ._tensorflow import import_tensorflow

    tf = import_tensorflow()

    from hyperperturb.nn._graph import normalized_adjacency
    from hyperperturb.nn._models import HyperPerturbModel
    from hyperperturb.tl._graph._inputs import stored_adjacency

    p = entry.params
    geometry, c = entry.geometry, entry.curvature
    learn = bool(p["learn_curvature"])
    graph = entry.graph
    n_genes = graph.n_genes
    if n_genes != adata.n_vars:
        msg = (
            f"The model was trained on {n_genes} genes but the object has {adata.n_vars}; genes were added or removed "
            "after hp.tl.train. Re-run `hp.tl.train` on this object."
        )
        raise ValueError(msg)
    nodes = graph.nodes
    feats = np.asarray(entry.node_features["values"], dtype=np.float32)
    net = HyperPerturbModel(
        len(nodes),
        feats.shape[1],
        entry.target_node,
        geometry=geometry,
        head=entry.head,
        dim=int(p["dim"]),
        hidden=int(p["hidden"]),
        curvature=c,
        learn_curvature=learn,
        dropout=float(p["dropout"]),
        seed=int(p["seed"]),
        attention=bool(p["attention"]),
        refine=None if p["refine"] is None else float(p["refine"]),
        rank=int(p["rank"]),
        distance_scale=float(p["distance_scale"]),
    )
    net.build()
    weights_from_dict(net, entry.weights)
    if net.refine is not None:
        if entry.map_embedding is None or entry.map_embedding.shape != (len(nodes), net.dim):
            msg = "The training entry has no network map of its graph (network_map.embedding). Re-run `hp.tl.train`."
            raise KeyError(msg)
        net.set_base(entry.map_embedding)  # the starting map, stored once (float64; the model holds float32)
    if graph.has_network and not has_network(adata):
        msg = (
            f"The gene network .varp[{network_key(adata)!r}] used in training is missing. Re-run "
            "`hp.pp.gene_network` and `hp.tl.train`."
        )
        raise KeyError(msg)
    adj = stored_adjacency(adata, len(nodes), n_genes, graph.extra_edges.as_dict())
    return net, tf.constant(feats), normalized_adjacency(adj)
