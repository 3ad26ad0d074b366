"""Assembly and fitting of the model for ``hp.tl.train``: network map, model, optimiser, Keras callbacks."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from hyperperturb._utils import logger

from ._params import TrainParams
from ._readout import BLOCK_PAIRS, readout


def _nan_guard(keras):
    """Keras callback that stops training when the loss is not finite."""

    class NaNGuard(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(float(loss)):
                msg = (
                    f"hp.tl.train: the loss became {float(loss)} at epoch {epoch + 1}. Lower `learning_rate` (e.g. by "
                    "10x), try geometry='euclidean' to see whether the curvature is the cause, or check the inputs "
                    "(rewards and features must be finite: `hp.tl.rewards` again). The object was left unchanged."
                )
                raise FloatingPointError(msg)

    return NaNGuard()


def _recorder(keras, model, env):
    """Keras callback keeping the per-epoch history (losses, learning rate, curriculum complexity)."""

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows: dict[str, list[float]] = {}

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            logs["learning_rate"] = float(np.asarray(model.optimizer.learning_rate))
            logs["complexity"] = float(env.complexity)
            keys = ("loss", "policy_loss", "value_loss", "graph_loss", "policy_mae", "value_mae", "learning_rate")
            for k in (*keys, "complexity"):
                self.rows.setdefault(k, []).append(float(logs.get(k, np.nan)))

    return Recorder()


def _progress(keras, epochs: int):
    """Keras callback drawing the package's progress bar (silent at verbosity 0 and when stderr is no terminal)."""
    from hyperperturb._utils._log import progress_bar

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = progress_bar(verbose=True, total=epochs, desc="hp.tl.train: epochs")

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return Progress()


def fit_model(g, params: TrainParams, *, kind, targets, trainable, batch_size, verbose, callbacks) -> dict[str, Any]:
    """Build, train and read out the model of ``kind`` (:mod:`._kinds`); returns plain arrays (nothing is written)."""
    p = params
    epochs, learning_rate, curriculum, seed = p.epochs, p.learning_rate, p.curriculum, p.seed
    from ._tensorflow import import_tensorflow

    import_tensorflow()
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # public API has no query/disable

    from hyperperturb.nn._curriculum import ComplexityScheduler, PerturbationEnv, schedule_for
    from hyperperturb.nn._optimizer import HyperbolicAdam
    from hyperperturb.nn._schedule import QuantumAnnealer

    was_det = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        env = PerturbationEnv(_column_strength(g), start=0.25, trainable=trainable, curriculum=curriculum)
        frequency, factor = schedule_for(epochs, 0.25)
        net, nmap = kind.build(g, p, targets=targets, env=env, batch_size=batch_size, verbose=verbose)
        ds, steps = net.training_dataset(seed=seed)
        schedule = QuantumAnnealer(learning_rate, T_max=epochs * steps)  # the schedule counts optimizer steps
        opt = HyperbolicAdam(learning_rate=schedule, manifold=net.manifold)
        net.compile(optimizer=opt)
        rec = _recorder(keras, net, env)
        cbs = [ComplexityScheduler(env, frequency=frequency, factor=factor), rec, _nan_guard(keras), *callbacks]
        if verbose:
            cbs.append(_progress(keras, epochs))
        net.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=cbs, shuffle=False)
        if nmap is not None and p.learn_curvature and net.manifold.name == "poincare":
            _map_to_learned_curvature(net, nmap, float(p.curvature))  # the map's ball
        res = readout(
            net, g, kind=kind, trainable=trainable, history=rec.rows, targets=targets,
            base=None if nmap is None else nmap["embedding"],
        )  # fmt: skip
        res["distance_scale"] = float(getattr(net, "distance_scale", 1.0))
        res.update(kind.map_fields(g, nmap))
        return res
    finally:
        if not was_det:
            tf_config.disable_op_determinism()


def _map_to_learned_curvature(net: Any, nmap: dict[str, Any], c0: float) -> None:
    """Rescale the network map from the ball of ``c0`` to the ball of the learned curvature (in place).

    ``x -> x sqrt(c0 / c)`` multiplies every geodesic distance by ``sqrt(c0 / c)``: the map's neighbour order (its
    MAP) is kept, and the stored map, the written embedding and a rebuilt model all read it at the recorded ``c``.
    """
    c = float(net.manifold.curvature)
    emb = np.asarray(nmap["embedding"], dtype=np.float64) * np.sqrt(c0 / c)
    norms = np.linalg.norm(emb, axis=1) * np.sqrt(c)
    emb[norms >= 1 - 1e-7] *= ((1 - 1e-7) / norms[norms >= 1 - 1e-7])[:, None]  # float rounding at the rim
    nmap["embedding"] = emb
    net.set_base(emb, curvature=c)


def build_graph_model(g, p: TrainParams, *, targets, env, batch_size, verbose) -> tuple[Any, dict[str, Any]]:
    """The graph model (``model="hyperperturb"``) with its training data, and the network map it starts from."""
    from hyperperturb.nn._graph import normalized_adjacency
    from hyperperturb.nn._models import HyperPerturbModel

    geometry, dim, curvature, seed, refine = p.geometry, p.dim, p.curvature, p.seed, p.refine
    net = HyperPerturbModel(
        g.n_nodes,
        g.features.shape[1],
        g.target_node,
        geometry=geometry,
        head=p.head,
        dim=dim,
        hidden=p.hidden,
        curvature=curvature,
        learn_curvature=p.learn_curvature,
        dropout=p.dropout,
        seed=seed,
        graph_weight=p.graph_weight,
        attention=p.attention,
        refine=refine,
        rank=p.rank,
    )
    nmap = _network_map(g, geometry=geometry, dim=dim, curvature=curvature, seed=seed,
                        map_kwargs=dict(p.map_kwargs) or {}, verbose=verbose)  # fmt: skip
    if refine is not None:
        net.distance_scale = _distance_scale(nmap["embedding"], g, geometry=geometry, c=curvature)
    net.build()
    if refine is not None:
        net.set_base(nmap["embedding"])
    adj = normalized_adjacency(g.adjacency)
    up = sparse.triu(g.adjacency, k=1).tocoo()
    net.set_training_data(
        g.features, adj, targets.pop("excess"), targets["value"], g.row_weight, env.mask,
        edges=(up.row, up.col), batch_size=batch_size,
    )  # fmt: skip
    return net, nmap


def build_simple_model(g, p: TrainParams, *, env) -> Any:
    """The simple model (``model="simple"``: gene and perturbation embeddings, no graph) with its training data."""
    from hyperperturb.nn._models import HyperbolicPerturbationModel

    reward = g.reward[: g.n_genes]
    net = HyperbolicPerturbationModel(
        reward.shape[1],
        reward.shape[0],
        geometry=p.geometry,
        dim=p.dim,
        hidden=p.hidden,
        curvature=p.curvature,
        learn_curvature=p.learn_curvature,
        seed=p.seed,
    )
    net.build()
    net.set_training_data(reward, env.mask)
    return net


def _column_strength(g) -> np.ndarray:
    """Total reward of each perturbation over the nodes with targets, as a 1 × perturbations matrix (curriculum order)."""
    rows = g.row_weight > 0
    if rows.sum() * g.reward.shape[1] <= BLOCK_PAIRS:
        return g.reward[rows].sum(axis=0, keepdims=True)
    idx = np.flatnonzero(rows)
    total = np.zeros((1, g.reward.shape[1]))
    for i in range(0, len(idx), 4096):  # no full-size copy of the reward matrix
        total += g.reward[idx[i : i + 4096]].sum(axis=0, keepdims=True)
    return total


def resolve_batch_size(batch_size: int | None, n_rows: int, n_perturbations: int) -> int | None:
    """Nodes per training step: ``None`` means one full-graph step per epoch.

    ``batch_size=None`` (default): full graph while ``n_rows × n_perturbations`` ≤ :data:`BLOCK_PAIRS`, otherwise
    the number of rows that keeps a step at that many (node, perturbation) pairs (at least 8).
    """
    if batch_size is None:
        if n_rows * max(n_perturbations, 1) <= BLOCK_PAIRS:
            return None
        return max(8, BLOCK_PAIRS // max(n_perturbations, 1))
    return None if batch_size >= n_rows else int(batch_size)


def _distance_scale(Z: np.ndarray, g, *, geometry: str, c: float) -> float:
    """Median distance between measured genes and perturbation targets in the map (the distance head's unit)."""
    from hyperperturb._utils import _ball

    tn = g.target_node[g.target_node >= 0]
    if tn.size == 0:
        return 1.0
    rows = np.arange(min(g.n_genes, 2000))
    D = _ball.geometry(geometry, c).pairwise_distance(Z[rows], Z[tn])
    med = float(np.median(D[np.isfinite(D)])) if np.isfinite(D).any() else 1.0
    return med if med > 1e-6 else 1.0


def _network_map(g, *, geometry, dim, curvature, seed, map_kwargs, verbose) -> dict[str, Any]:
    """The network-map stage on the training graph (all nodes), placed in the model's space."""
    from hyperperturb.tl._map._network_map import DEFAULTS, fit_network_map

    unknown = set(map_kwargs) - set(DEFAULTS)
    if unknown:
        msg = f"map_kwargs has unknown keys {sorted(unknown)}; valid keys are {sorted(DEFAULTS)}."
        raise ValueError(msg)
    params = {**DEFAULTS, **map_kwargs}
    res = fit_network_map(
        g.adjacency, dim=dim, geometry=geometry, curvature=curvature, seed=seed, features=g.features, **params
    )
    if verbose:
        logger.info(
            "hp.tl.train: network map of %d nodes (%d edges, %d without edges) in %.1f s",
            g.n_nodes,
            res["n_edges"],
            int((~res["in_network"]).sum()),
            res["wall_time"],
        )
    res["params"] = dict(params)  # record() stores None h5ad-safe
    return res
