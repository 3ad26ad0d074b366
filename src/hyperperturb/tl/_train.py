"""``hp.tl.train``: fit the hyperbolic gene-graph model to the rewards of a screen."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import sparse

from hyperperturb._utils import check_unique_names, library_versions, logger, record, require_step, resolve
from hyperperturb._utils._atomic import atomic_write

_MODELS = ("hyperperturb", "simple")
_GEOMETRIES = ("poincare", "euclidean")
_HEADS = ("distance", "dense")


def _validate(*, model, geometry, head, dim, hidden, curvature, epochs, learning_rate, dropout, key_added,
              graph_weight=1.0) -> None:  # fmt: skip
    if model not in _MODELS:
        msg = f"model must be one of {list(_MODELS)}, got {model!r}. Use 'hyperperturb' (gene graph) or 'simple'."
        raise ValueError(msg)
    if geometry not in _GEOMETRIES:
        msg = f"geometry must be one of {list(_GEOMETRIES)}, got {geometry!r}."
        raise ValueError(msg)
    if head not in _HEADS:
        msg = f"head must be one of {list(_HEADS)}, got {head!r}."
        raise ValueError(msg)
    if not isinstance(dim, int | np.integer) or dim < 2:
        msg = f"dim must be an integer >= 2 (2 gives a readable disk), got {dim!r}."
        raise ValueError(msg)
    if not isinstance(hidden, int | np.integer) or hidden < 1:
        msg = f"hidden must be a positive integer, got {hidden!r}."
        raise ValueError(msg)
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        msg = f"epochs must be a positive integer, got {epochs!r}."
        raise ValueError(msg)
    if not (np.isfinite(curvature) and curvature > 0):
        msg = f"curvature must be a positive number, got {curvature!r}; use geometry='euclidean' for flat space."
        raise ValueError(msg)
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        msg = f"learning_rate must be a positive number, got {learning_rate!r}."
        raise ValueError(msg)
    if not 0 <= dropout < 1:
        msg = f"dropout must be in [0, 1), got {dropout!r}."
        raise ValueError(msg)
    if isinstance(graph_weight, bool) or not (np.isfinite(graph_weight) and graph_weight >= 0):
        msg = f"graph_weight must be a number >= 0 (0 disables the graph-reconstruction loss), got {graph_weight!r}."
        raise ValueError(msg)
    if not isinstance(key_added, str) or not key_added:
        msg = f"key_added must be a non-empty string, got {key_added!r}."
        raise ValueError(msg)


def _holdout_mask(holdout: Sequence[str] | str | None, perts: list[str]) -> tuple[np.ndarray, list[str]]:
    if holdout is None:
        return np.ones(len(perts), dtype=bool), []
    names = [holdout] if isinstance(holdout, str) else [str(h) for h in holdout]
    unknown = [h for h in names if h not in perts]
    if unknown:
        msg = f"holdout names unknown perturbation(s) {unknown}; valid names are {perts}."
        raise ValueError(msg)
    trainable = ~np.isin(perts, names)
    if not trainable.any():
        msg = "holdout names every perturbation; keep at least one for training."
        raise ValueError(msg)
    return trainable, names


class _NaNGuard:
    """Factory of the Keras callback that stops training when the loss is not finite."""

    @staticmethod
    def make(keras):
        class NaNGuard(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is not None and not np.isfinite(float(loss)):
                    msg = (
                        f"hp.tl.train: the loss became {float(loss)} at epoch {epoch + 1}. Lower `learning_rate` "
                        "(e.g. by 10x), try geometry='euclidean' to see whether the curvature is the cause, or check the inputs (rewards and features must be "
                        "finite: `hp.tl.rewards` again). The object was left unchanged."
                    )
                    raise FloatingPointError(msg)

        return NaNGuard()


def _recorder(keras, model, env):
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


def weights_to_dict(model) -> dict[str, np.ndarray]:
    """Model weights as ``{"000:path.to.var": ndarray}`` (order = ``model.weights``; no ``/`` for h5ad)."""
    return {f"{i:03d}:{w.path.replace('/', '.')}": np.asarray(w.numpy()) for i, w in enumerate(model.weights)}


def weights_from_dict(model, weights: dict[str, Any]) -> None:
    """Assign weights stored by :func:`weights_to_dict` (by order)."""
    keys = sorted(weights, key=lambda k: int(str(k).split(":", 1)[0]))
    if len(keys) != len(model.weights):
        msg = (
            f"The stored model has {len(keys)} weight arrays but the rebuilt model has {len(model.weights)}; the "
            "training entry in .uns['hyperperturb'] is inconsistent with this hyperperturb version. Re-run hp.tl.train."
        )
        raise ValueError(msg)
    arrays = []
    for k, w in zip(keys, model.weights, strict=True):
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
    for arr, w in zip(arrays, model.weights, strict=True):  # assign only once every array is valid
        w.assign(arr)


def train(
    data: Any,
    *,
    model: Literal["hyperperturb", "simple"] = "hyperperturb",
    geometry: Literal["poincare", "euclidean"] = "poincare",
    head: Literal["distance", "dense"] = "distance",
    dim: int = 2,
    hidden: int = 32,
    curvature: float = 1.0,
    learn_curvature: bool = False,
    epochs: int = 200,
    learning_rate: float = 1e-2,
    dropout: float = 0.1,
    graph_weight: float = 1.0,
    attention: bool = False,
    refine: float | None = 0.1,
    rank: int = 8,
    map_kwargs: dict[str, Any] | None = None,
    holdout: Sequence[str] | str | None = None,
    curriculum: bool = True,
    seed: int = 0,
    mod: str = "rna",
    prot_mod: str = "prot",
    verbose: bool = True,
    key_added: str = "X_poincare",
    copy: bool = False,
    callbacks: Sequence[Any] | None = None,
) -> Any:
    r"""Train the hyperbolic gene-graph model on the rewards of a screen.

    Builds a graph whose nodes are the genes (plus unmeasured perturbation targets from the network and, for a
    MuData with protein, the proteins), with leak-free node features computed from control cells, and fits
    :class:`hyperperturb.nn.HyperPerturbModel`: a two-layer hyperbolic graph convolution embeds each node in the
    Poincaré ball; the policy head predicts, per gene, a distribution over perturbations (target
    ``.varm["hp_policy_target"]``), the value head a scalar sensitivity (target ``.var["hp_value_target"]``).
    See the training page of the documentation for the equations.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.pp.perturbations`, (optionally)
        :func:`hyperperturb.pp.gene_network` and :func:`hyperperturb.tl.rewards`.
    model
        ``"hyperperturb"`` (gene graph, :class:`~hyperperturb.nn.HyperPerturbModel`) or ``"simple"``
        (:class:`~hyperperturb.nn.HyperbolicPerturbationModel`: perturbation one-hot → hyperbolic dense layers →
        gene rewards).
    geometry
        ``"poincare"``, or ``"euclidean"`` for the flat ablation with the identical architecture.
    head
        Policy head: ``"distance"`` (score :math:`-\operatorname{softplus}(a)\,d(z_g, z_{t(p)}) + b_p`; can score
        perturbations of any graph node, including unseen ones) or ``"dense"`` (the original design's dense layer over the
        fixed perturbation list).
    dim
        Embedding dimension (>= 2).
    hidden
        Width of the first graph convolution.
    curvature
        Curvature ``c`` of the ball (initial value if ``learn_curvature``).
    learn_curvature
        Learn the curvature (kept positive through a softplus).
    epochs
        Number of epochs (one full-graph step each).
    learning_rate
        Initial learning rate of the :class:`~hyperperturb.nn.QuantumAnnealer` schedule.
    dropout
        Dropout rate in the encoder.
    graph_weight
        Weight of the graph-reconstruction loss: a Fermi–Dirac decoder over the network's edges (including edges
        to unmeasured targets) against 5 seeded random pairs per edge, so that distances in the ball reflect the
        network. ``0`` disables it. Euclidean distances for ``geometry="euclidean"``.
    attention
        Refine the first graph convolution with a graph-masked :class:`~hyperperturb.nn.HyperbolicAttention`
        layer (attention weights from negative hyperbolic distances between neighbours; residual in the tangent
        space). Off by default: on the Papalexi benchmark (``benchmarks/bench_evaluate.py --attention``) it did not
        improve held-out prediction (``spearman_excess`` 0.313 with it, 0.329 without; train-mean baseline 0.325).
    refine
        Start the encoder from the network map of :func:`hyperperturb.tl.embed_network` (fitted here on the training
        graph: genes, unmeasured targets and proteins): the graph convolutions only move each node by a bounded
        residual, :math:`z_i = m_i \oplus \exp_0(\rho\, u_i / \sqrt{1 + |u_i|^2})` with :math:`u_i` the
        convolutions' output in the tangent space and :math:`\rho` = ``refine``, so :math:`d(m_i, z_i) < 2\rho`
        and the written embedding keeps the map's reconstruction quality. ``None``: no map, the embedding is the
        graph convolutions' output alone (the behaviour of hyperperturb 0.1).
    rank
        Rank of the free low-rank term :math:`\langle u_g, w_p\rangle` added to the policy logits, and of the
        per-node value offsets (``0`` disables both): lets the heads reproduce the observed per-gene ranking of the
        screened perturbations. Perturbations that were never fitted (held out, or new targets) get :math:`w_p = 0`,
        so they are scored from the embedding alone.
    map_kwargs
        Settings of the network-map stage (``epochs``, ``learning_rate``, ``negatives``, ``burn_in``, ``radial``;
        see :func:`hyperperturb.tl.embed_network`).
    holdout
        Perturbation names excluded from the loss (for evaluation on unseen perturbations); their rewards are not
        used for the policy or the value target.
    curriculum
        Grow the share of perturbations in the policy loss from 25 % (strongest first) to all over the first half
        of training (:class:`~hyperperturb.nn.ComplexityScheduler`); ``False``: all from the start.
    seed
        Random seed (initialisation, dropout, subsampling of control cells for features). Same data + same seed
        give an identical embedding on the same machine.
    mod
        RNA modality of a MuData.
    prot_mod
        Protein modality of a MuData (used if present).
    verbose
        Show a progress bar and log a summary.
    key_added
        Key in ``.varm`` for the gene embedding.
    copy
        Return a trained copy instead of writing into ``data``.
    callbacks
        Extra Keras callbacks passed to ``fit``.

    Returns
    -------
    ``None``, or the trained copy if ``copy=True``. Writes

    ``.varm[key_added]``
        ``n_vars × dim`` embedding, every row strictly inside the ball (for ``model="simple"``: the output-layer
        gene vectors mapped onto the ball with :math:`\exp_0`).
    ``.varm["hp_policy"]``
        Predicted policy of the heads (their predicted reward normalised per gene), rows sum to 1 (columns:
        ``.uns["hyperperturb"]["train"]["perturbations"]``).
    ``.var["hp_value"]``
        Predicted value (per-gene sensitivity beyond noise): the predicted mean excess over the gene's control noise
        floor ``B``, in the units of the rewards.
    ``.var["hp_in_network"]``
        Whether the gene has at least one edge in the training graph (genes without one are placed by expression
        similarity, see :func:`hyperperturb.tl.embed_network`).
    ``.uns["hyperperturb"]["train"]``
        ``params``, ``history`` (incl. ``graph_loss``), ``weights``, ``perturbations``, ``perturbation_embedding``,
        ``perturbation_bias``, ``scorable``, ``value_unit`` (genes), ``value_unit_protein``, ``reward_baseline``,
        ``kernel`` (the kernel readout: source perturbations, ``form``, ``tau``, ``shrinkage``, ``kappa``,
        leave-one-out score), ``extra_nodes``, ``extra_embedding``,
        ``node_features``, ``graph``, ``versions``, ``seed``, ``wall_time``.

    For a MuData with a protein modality the proteins' embedding, policy and value go to
    ``mdata[prot_mod].varm[key_added]``, ``.varm["hp_policy"]`` and ``.var["hp_value"]``.

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.rewards` has not been run.
    ValueError
        For invalid arguments or unknown ``holdout`` names.
    FloatingPointError
        If the loss becomes NaN or infinite (the object is left unchanged).

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.tl.train(adata, epochs=200)  # doctest: +SKIP
    >>> adata.varm["X_poincare"].shape  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    t = resolve(data, mod=mod)
    _validate(
        model=model,
        geometry=geometry,
        head=head,
        dim=dim,
        hidden=hidden,
        curvature=curvature,
        epochs=epochs,
        learning_rate=learning_rate,
        dropout=dropout,
        key_added=key_added,
        graph_weight=graph_weight,
    )
    adata = t.adata
    check_unique_names(adata)
    rew = require_step(adata, "rewards", needed_by="hp.tl.train")
    for k, where in (("hp_reward", "varm"), ("hp_policy_target", "varm"), ("hp_value_target", "var")):
        store = adata.varm if where == "varm" else adata.var
        if k not in store:
            msg = f"adata.{where}[{k!r}] is missing although rewards were recorded. Re-run `hp.tl.rewards(adata)`."
            raise KeyError(msg)
    perts = [str(p) for p in np.asarray(rew["perturbations"]).ravel()]
    trainable, held = _holdout_mask(holdout, perts)
    if "hp_adjacency" not in adata.varp and model == "hyperperturb":
        logger.warning(
            "hp.tl.train: .varp['hp_adjacency'] is absent; training on an identity graph (no edges). "
            "Run `hp.pp.gene_network(adata, network)` first for a gene graph."
        )

    from ._graph_inputs import build_graph_inputs

    g = build_graph_inputs(t, prot_mod=prot_mod, seed=seed)
    for name, arr in (
        ("hp_reward", g.reward),
        ("hp_policy_target", g.policy_target),
        ("hp_value_target", g.value_target),
    ):
        if not np.isfinite(arr).all():
            msg = f"{name} contains NaN or inf values. Re-run `hp.tl.rewards(adata)` on finite expression data."
            raise ValueError(msg)
    targets = _excess_targets(g, trainable, signed=_signed(rew))

    res = _fit(
        g,
        targets=targets,
        trainable=trainable,
        model=model,
        geometry=geometry,
        head=head,
        dim=int(dim),
        hidden=int(hidden),
        curvature=float(curvature),
        learn_curvature=bool(learn_curvature),
        epochs=int(epochs),
        learning_rate=float(learning_rate),
        dropout=float(dropout),
        graph_weight=float(graph_weight),
        attention=bool(attention),
        curriculum=bool(curriculum),
        seed=int(seed),
        verbose=bool(verbose),
        callbacks=list(callbacks or []),
        refine=None if refine is None else float(refine),
        rank=int(rank),
        map_kwargs=dict(map_kwargs or {}),
    )

    n_scorable = int(res["scorable"].sum())
    entry = {
        "params": {
            "model": model,
            "geometry": geometry,
            "head": head,
            "dim": int(dim),
            "hidden": int(hidden),
            "curvature": res["curvature"],
            "initial_curvature": float(curvature),
            "learn_curvature": bool(learn_curvature),
            "epochs": int(epochs),
            "learning_rate": float(learning_rate),
            "dropout": float(dropout),
            "graph_weight": float(graph_weight),
            "attention": bool(attention),
            "refine": "None" if refine is None else float(refine),
            "distance_scale": res["distance_scale"],
            "rank": int(rank),
            "holdout": held,
            "curriculum": bool(curriculum),
            "seed": int(seed),
            "mod": mod,
            "prot_mod": prot_mod,
            "key_added": key_added,
        },
        "history": res["history"],
        "weights": res["weights"],
        "perturbations": perts,
        "targets": g.targets,
        "target_node": g.target_node,
        "perturbation_embedding": res["pert_emb"],
        "perturbation_bias": res["pert_bias"],
        "scorable": res["scorable"],
        "n_scorable": n_scorable,
        "value_unit": float(targets["unit"]),
        "value_unit_protein": float(targets["unit_protein"]),
        "reward_baseline": targets["baseline"][: g.n_genes],
        "kernel": res["kernel"],
        "network_map": res["network_map"],
        "extra_nodes": g.nodes[g.n_genes : g.n_genes + g.n_extra],
        "extra_embedding": res["z"][g.n_genes : g.n_genes + g.n_extra],
        "node_features": {"names": g.feature_names, "values": g.features},
        "graph": {
            "nodes": g.nodes,
            "n_genes": g.n_genes,
            "n_extra": g.n_extra,
            "n_prot": g.n_prot,
            "extra_edges": g.extra_edges,
            "has_network": bool(g.info["has_network"]),
        },
        "versions": library_versions(),
        "seed": int(seed),
    }
    if g.n_prot and g.prot_adata is None:
        entry["protein"] = {
            "names": g.prot_names,
            "embedding": res["z"][g.n_genes + g.n_extra :],
            "policy": res["policy"][g.n_genes + g.n_extra :],
            "value": res["value"][g.n_genes + g.n_extra :],
        }
    if verbose:
        logger.info(
            "hp.tl.train: %d nodes (%d genes, %d unmeasured targets, %d proteins); %d of %d perturbations scorable "
            "from their target's embedding; final loss %.4g",
            g.n_nodes,
            g.n_genes,
            g.n_extra,
            g.n_prot,
            n_scorable,
            len(perts),
            res["history"]["loss"][-1],
        )

    if copy:
        t = t.copy()
    prot_adata = None
    if g.n_prot and t.mod is not None:
        prot_adata = t.data.mod[prot_mod]
    sl = slice(0, g.n_genes)
    with atomic_write(t.adata):
        if prot_adata is not None:
            with atomic_write(prot_adata):
                ps = slice(g.n_genes + g.n_extra, g.n_nodes)
                prot_adata.varm[key_added] = res["z"][ps]
                prot_adata.varm["hp_policy"] = res["policy"][ps]
                prot_adata.var["hp_value"] = res["value"][ps]
                _write(t.adata, res, sl, key_added, entry, t0)
        else:
            _write(t.adata, res, sl, key_added, entry, t0)
    return t.done(copy)


def _write(adata, res, sl, key_added, entry, t0) -> None:
    adata.varm[key_added] = res["z"][sl]
    adata.varm["hp_policy"] = res["policy"][sl]
    adata.var["hp_value"] = res["value"][sl]
    adata.var["hp_in_network"] = res["in_network"][sl]
    entry["wall_time"] = float(time.perf_counter() - t0)
    record(adata, "train", entry)


def _signed(rew: dict[str, Any]) -> bool:
    params = rew.get("params", {})
    return bool(params.get("signed", False)) if isinstance(params, dict) else False


def _excess_targets(g, trainable: np.ndarray, *, signed: bool) -> dict[str, Any]:
    """Leak-free targets on top of each node's control noise floor ``B`` (only the training columns are read).

    ``E = max(R - B, 0)`` over the training perturbations; the policy target is ``E`` (normalised over the active
    perturbations in the loss), the value target the mean of ``E`` per node in units of ``unit`` (its mean over
    nodes with targets), so that the value head works on O(1) numbers whatever the scale of the rewards.
    """
    B = np.zeros(g.n_nodes)
    if g.baseline is not None and not signed:
        B = np.where(g.row_weight > 0, np.nan_to_num(g.baseline), 0.0)
    R = np.abs(g.reward) if signed else g.reward
    E = np.clip(R - B[:, None], 0.0, None)
    E[:, ~trainable] = 0.0
    v = np.where(g.row_weight > 0, E[:, trainable].mean(1), 0.0)
    rows = g.row_weight > 0
    # one unit per modality: protein rewards (e.g. ADT counts) live on another scale than log expression
    is_prot = np.zeros(g.n_nodes, dtype=bool)
    is_prot[g.n_nodes - g.n_prot :] = g.n_prot > 0
    units = np.ones(g.n_nodes)
    unit_by_kind = {}
    for kind, sel in (("genes", ~is_prot), ("proteins", is_prot)):
        r = rows & sel
        u = float(v[r].mean()) if r.any() and v[r].mean() > 0 else 1.0
        units[sel] = u
        unit_by_kind[kind] = u
    return {
        "baseline": B,
        "excess": E,
        "value": v / units,
        "unit": unit_by_kind["genes"],
        "unit_protein": unit_by_kind["proteins"],
        "units": units,
        "signed": signed,
    }


def _fit(g, *, targets, trainable, model, geometry, head, dim, hidden, curvature, learn_curvature, epochs,
         learning_rate, dropout, graph_weight, curriculum, seed, verbose, callbacks,
         attention=False, refine=None, rank=0, map_kwargs=None) -> dict[str, Any]:  # fmt: skip
    """Build, train and read out the model; returns plain arrays (nothing is written)."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # public API has no query/disable

    from hyperperturb.nn._curriculum import ComplexityScheduler, PerturbationEnv, schedule_for
    from hyperperturb.nn._graph import normalized_adjacency
    from hyperperturb.nn._models import HyperbolicPerturbationModel, HyperPerturbModel
    from hyperperturb.nn._optimizer import HyperbolicAdam
    from hyperperturb.nn._schedule import QuantumAnnealer

    was_det = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        rows = g.row_weight > 0
        env = PerturbationEnv(g.reward[rows], start=0.25, trainable=trainable, curriculum=curriculum)
        frequency, factor = schedule_for(epochs, 0.25)
        if model == "hyperperturb":
            net = HyperPerturbModel(
                g.n_nodes,
                g.features.shape[1],
                g.target_node,
                geometry=geometry,
                head=head,
                dim=dim,
                hidden=hidden,
                curvature=curvature,
                learn_curvature=learn_curvature,
                dropout=dropout,
                seed=seed,
                graph_weight=graph_weight,
                attention=attention,
                refine=refine,
                rank=rank,
            )
            nmap = _network_map(g, geometry=geometry, dim=dim, curvature=curvature, seed=seed,
                                map_kwargs=map_kwargs or {}, verbose=verbose)  # fmt: skip
            if refine is not None:
                net.distance_scale = _distance_scale(nmap["embedding"], g, geometry=geometry, c=curvature)
            net.build()
            if refine is not None:
                net.set_base(nmap["embedding"])
            adj = normalized_adjacency(g.adjacency)
            up = sparse.triu(g.adjacency, k=1).tocoo()
            net.set_training_data(
                g.features, adj, targets["excess"], targets["value"], g.row_weight, env.mask, edges=(up.row, up.col)
            )
        else:
            reward = g.reward[: g.n_genes]
            net = HyperbolicPerturbationModel(
                reward.shape[1],
                reward.shape[0],
                geometry=geometry,
                dim=dim,
                hidden=hidden,
                curvature=curvature,
                learn_curvature=learn_curvature,
                seed=seed,
            )
            net.build()
            net.set_training_data(reward, env.mask)
        opt = HyperbolicAdam(learning_rate=QuantumAnnealer(learning_rate, T_max=epochs), manifold=net.manifold)
        net.compile(optimizer=opt)
        rec = _recorder(keras, net, env)
        cbs = [ComplexityScheduler(env, frequency=frequency, factor=factor), rec, _NaNGuard.make(keras), *callbacks]
        if verbose:
            cbs.append(_progress(keras, epochs))
        # one placeholder batch repeated forever: Keras keeps the iterator across epochs (no per-epoch set-up)
        ds = tf.data.Dataset.from_tensors(tf.zeros((1, 1))).repeat()
        net.fit(ds, epochs=epochs, steps_per_epoch=1, verbose=0, callbacks=cbs, shuffle=False)
        res = _readout(
            net, g, model=model, trainable=trainable, history=rec.rows, targets=targets,
            base=nmap["embedding"] if model == "hyperperturb" else None,
        )  # fmt: skip
        res["distance_scale"] = float(getattr(net, "distance_scale", 1.0))
        if model == "hyperperturb":
            res["in_network"] = nmap["in_network"]
            res["network_map"] = {
                "embedding": nmap["embedding"],
                "level": nmap["level"],
                "epochs": int(nmap["epochs"]),
                "wall_time": float(nmap["wall_time"]),
                "params": nmap["params"],
            }
        else:
            res["in_network"] = np.asarray(g.adjacency.getnnz(axis=1) > 0)
            res["network_map"] = {}
        return res
    finally:
        if not was_det:
            tf_config.disable_op_determinism()


def _distance_scale(Z: np.ndarray, g, *, geometry: str, c: float) -> float:
    """Median distance between measured genes and perturbation targets in the map (the distance head's unit)."""
    from hyperperturb._utils import _ball

    tn = g.target_node[g.target_node >= 0]
    if tn.size == 0:
        return 1.0
    rows = np.arange(min(g.n_genes, 2000))
    if geometry == "poincare":
        D = _ball.pairwise_distance(Z[rows], Z[tn], c=c)
    else:
        D = _ball.euclidean_pairwise_distance(Z[rows], Z[tn])
    med = float(np.median(D[np.isfinite(D)])) if np.isfinite(D).any() else 1.0
    return med if med > 1e-6 else 1.0


def _network_map(g, *, geometry, dim, curvature, seed, map_kwargs, verbose) -> dict[str, Any]:
    """The network-map stage on the training graph (all nodes), placed in the model's space."""
    from ._network_map import DEFAULTS, fit_network_map

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
    res["params"] = {k: ("None" if v is None else v) for k, v in params.items()}
    return res


def _head_reward(policy: np.ndarray, value: np.ndarray, baseline: np.ndarray, unit: float | np.ndarray) -> np.ndarray:
    """Reward of the heads: ``B[g] + unit · v_g · n_p · π_g(p)`` (noise floor + predicted excess)."""
    return baseline[:, None] + unit * value[:, None] * policy.shape[1] * policy


def _reward_policy(reward: np.ndarray) -> np.ndarray:
    """Rows of a non-negative reward matrix normalised to sum to 1 (all-zero rows: uniform)."""
    r = np.clip(reward, 0.0, None)
    s = r.sum(1, keepdims=True)
    return np.where(s > 0, r / np.where(s > 0, s, 1.0), 1.0 / max(r.shape[1], 1))


def _readout(net, g, *, model, trainable, history, targets, base=None) -> dict[str, Any]:
    import tensorflow as tf

    from hyperperturb.nn._graph import normalized_adjacency

    n_p = len(g.perturbations)
    if model == "hyperperturb":
        adj = normalized_adjacency(g.adjacency)
        out = net((tf.constant(g.features), adj), training=False)
        z = out["embedding"].numpy().astype(np.float64)
        if net.refine is not None:  # float64 readout of the refined network map (the model runs in float32)
            from ._network_map import refined_embedding

            z = refined_embedding(net, tf.constant(g.features), adj, base)
        policy = out["policy"].numpy().astype(np.float64)
        value = out["value"].numpy().astype(np.float64)
        emb_model = net.perturbation_embedding(out["embedding"])  # what the heads score with (float32)
        emb = emb_model.numpy().astype(np.float64)
        on_node = g.target_node >= 0
        emb[on_node] = z[g.target_node[on_node]]
        bias = net.pert_bias.numpy().astype(np.float64)
        scorable = g.target_node >= 0
        if (~trainable).any():  # held-out perturbations were never fitted: mean bias of fitted ones, no factor
            bias = bias.copy()
            bias[~trainable] = bias[trainable].mean()
            if net.head == "distance":
                factor = None
                if net.rank:
                    factor = net.pert_factor.numpy().copy()
                    factor[~trainable] = 0.0
                    factor = tf.constant(factor, tf.float32)
                logits = net.score(out["embedding"], emb_model, tf.constant(bias, tf.float32), factor)
                policy = tf.nn.softmax(logits, axis=-1).numpy().astype(np.float64)
        # heads predict the excess over the noise floor B: the policy is the heads' distribution of that excess,
        # the value the predicted mean excess in reward units (B is reported separately: .var["hp_reward_baseline"])
        value = targets["units"] * value
    else:
        pred = net(tf.eye(n_p), training=False).numpy().T.astype(np.float64)  # genes x perts
        s = pred.sum(1, keepdims=True)
        policy_g = np.where(s > 0, pred / np.maximum(s, 1e-12), 1.0 / n_p)
        z = np.zeros((g.n_nodes, net.dim))
        z[: g.n_genes] = net.gene_embedding().numpy()
        policy = np.full((g.n_nodes, n_p), np.nan)
        policy[: g.n_genes] = policy_g
        value = np.full(g.n_nodes, np.nan)
        value[: g.n_genes] = pred.mean(1)
        emb = net.perturbation_embedding(tf.eye(n_p)).numpy().astype(np.float64)
        bias = np.zeros(n_p)
        scorable = np.zeros(n_p, dtype=bool)
    for name, arr in (("embedding", z), ("policy", policy), ("value", value)):
        if not np.isfinite(arr[: g.n_genes]).all():
            msg = f"hp.tl.train produced a non-finite {name}; lower `learning_rate` or use fewer epochs."
            raise FloatingPointError(msg)
    if net.manifold.name == "poincare":
        c = float(net.manifold.curvature)
        norms = np.linalg.norm(z, axis=1) * np.sqrt(c)
        if np.any(norms >= 1):
            msg = "hp.tl.train produced points on the ball boundary; lower `learning_rate`."
            raise FloatingPointError(msg)
    else:
        c = float("nan")
    hist = {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    kernel = _fit_kernel(net, g, emb, scorable, trainable, targets) if model == "hyperperturb" else {"available": False}
    return {
        "kernel": kernel,
        "z": z,
        "policy": policy,
        "value": value,
        "pert_emb": emb,
        "pert_bias": bias,
        "scorable": scorable,
        "curvature": c if np.isfinite(c) else 0.0,
        "history": hist,
        "weights": weights_to_dict(net),
    }


def _fit_kernel(net, g, emb, scorable, trainable, targets) -> dict[str, Any]:
    """Leave-one-out choice of the kernel readout's bandwidth and shrinkage (training perturbations only)."""
    from ._kernel import fit_kernel, fit_on_target, predict_kernel, residual_pearson_topk

    tr = np.flatnonzero(trainable)
    E = g.reward[: g.n_genes, tr] - targets["baseline"][: g.n_genes, None]  # signed rewards: B = 0
    geometry = net.manifold.name if net.manifold.name == "poincare" else "euclidean"
    c = float(net.manifold.curvature) if geometry == "poincare" else 1.0
    fit = fit_kernel(E, emb[tr], scorable[tr], geometry=geometry, c=c)
    n_cv = int(scorable[tr].sum())
    # on-target term, chosen by leave-one-out on the same training perturbations
    tn = g.target_node[tr]
    target_row = np.where((tn >= 0) & (tn < g.n_genes), tn, -1)
    cv_idx = np.flatnonzero(scorable[tr])
    if cv_idx.size >= 3 and len(tr) >= 3:
        n = len(tr)
        means = (E.sum(axis=1, keepdims=True) - E[:, cv_idx]) / (n - 1)
        P_loo = predict_kernel(
            E, emb[tr], emb[tr][cv_idx], tau=fit["tau"], shrinkage=fit["shrinkage"], geometry=geometry, c=c,
            exclude=cv_idx, form=fit["form"], kappa=fit["kappa"],
        )  # fmt: skip
        fit.update(fit_on_target(E, target_row, P_loo, means, cv_idx))
        # keep the transfer from neighbouring perturbations only if, in leave-one-out, it predicts what differs from
        # the mean better than the mean itself (both with the chosen on-target term): the worst case is the mean
        bump = np.zeros_like(P_loo)
        for j, q in enumerate(cv_idx):
            if target_row[q] >= 0:
                bump[target_row[q], j] = fit["on_target"]
        O = E[:, cv_idx]
        s_transfer = float(np.mean(residual_pearson_topk(P_loo + bump, O, means)))
        s_mean = float(np.mean(residual_pearson_topk(means + bump, O, means)))
        fit["transfer_cv_gain"] = s_transfer - s_mean
        if s_transfer <= s_mean:
            fit.update({"form": "mixture", "shrinkage": 1.0, "kappa": 0.0})
    else:
        fit.update({"on_target": 0.0, "on_target_cv_gain": 0.0, "n_on_target": 0, "transfer_cv_gain": 0.0})
    return {
        "available": bool(n_cv >= 3 and len(tr) >= 3),
        "perturbations": [g.perturbations[i] for i in tr],
        "geometry": geometry,
        "curvature": c,
        **fit,
    }
