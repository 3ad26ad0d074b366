"""``hp.tl.train``: fit the hyperbolic gene-graph model to the rewards of a screen."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from hyperperturb._utils import (
    _entries,
    check_current,
    check_unique_names,
    library_versions,
    logger,
    protein_mod_name,
    record,
    resolve,
)
from hyperperturb._utils._atomic import atomic_write
from hyperperturb._utils._ledger import edge_digest, gene_digest
from hyperperturb._utils._schema import RewardsEntry, read
from hyperperturb._utils._warn import warn

from ._kinds import model_kind
from ._params import TrainParams

#: Key in ``.varm`` of the embedding written by :func:`train` (one trained model per object).
EMBEDDING_KEY = "X_poincare"


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
    batch_size: int | None = None,
    holdout: Sequence[str] | str | None = None,
    curriculum: bool = True,
    seed: int = 0,
    mod: str = "rna",
    prot_mod: str = "prot",
    verbose: bool = True,
    copy: bool = False,
    callbacks: Sequence[Any] | None = None,
) -> Any:
    r"""Train the hyperbolic gene-graph model on the rewards of a screen.

    Builds a graph whose nodes are the genes (plus unmeasured perturbation targets from the network and, for a
    MuData with protein, the proteins), with leak-free node features computed from control cells, and fits
    :class:`hyperperturb.nn.HyperPerturbModel`: a two-layer hyperbolic graph convolution embeds each node in the
    Poincaré ball; the policy head predicts, per gene, a distribution over perturbations (which perturbations move
    the gene; target ``.varm["hp_policy_target"]``), the value head a scalar (how strongly the gene responds to
    perturbations at all; target ``.var["hp_value_target"]``). Both are fitted to the rewards of
    :func:`hyperperturb.tl.rewards` (per gene and perturbation, the response beyond the control noise). See the
    training page of the documentation for the equations, and the benchmarks page (``docs/benchmarks.md``) for
    measured quality of every option.

    The network is read from ``.varp`` under the key :func:`hyperperturb.pp.gene_network` recorded (its
    ``key_added``). One trained model per object: its outputs have fixed keys (below), and training again replaces
    them; to keep two models, train copies (``copy=True``).

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
        Learn the curvature (kept positive through a softplus; ``geometry="poincare"`` only). The network map is
        fitted in the ball of the initial ``curvature`` and read rescaled to the learned one (``x sqrt(c0 / c)``,
        which scales every distance alike), so the map keeps its reconstruction quality; the learned ``c`` is
        recorded in ``params["curvature"]``.
    epochs
        Number of epochs (one full-graph step each).
    learning_rate
        Initial learning rate of the :class:`~hyperperturb.nn.QuantumAnnealer` schedule (the original design's
        learning-rate schedule: an exponential decay modulated by a cosine oscillation).
    dropout
        Dropout rate in the encoder.
    graph_weight
        Weight of the graph-reconstruction loss: a Fermi–Dirac decoder over the network's edges (including edges
        to unmeasured targets) against 5 seeded random pairs per edge, so that distances in the ball reflect the
        network. ``0`` disables it. Euclidean distances for ``geometry="euclidean"``.
    attention
        Refine the first graph convolution with a graph-masked :class:`~hyperperturb.nn.HyperbolicAttention`
        layer (attention weights from negative hyperbolic distances between neighbours; residual in the tangent
        space). Off by default: it did not improve held-out prediction in the benchmarks (``docs/benchmarks.md``,
        "Graph attention").
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
    batch_size
        Nodes (genes, targets, proteins with targets) per training step. ``None`` (default): one full-graph step per
        epoch while nodes × perturbations ≤ 2\ :sup:`24` (about 16.8 million pairs, e.g. 4,000 genes × 4,000
        perturbations), otherwise as many nodes per step as keep a step at that many (node, perturbation) pairs,
        so the memory of a step does not grow with the screen. In mini-batch mode an epoch is one pass over the
        nodes in shuffled batches; the encoder still runs on the whole graph each step, each node's softmax still
        covers every perturbation (the same KL objective, computed as one XLA-compiled block for the distance
        head), the graph loss uses a random sample of the edges (at most 8,192 per step), the targets are kept
        sparse when they are mostly zero (entries at or below the noise floor), the learning-rate schedule counts
        steps, and ``.varm["hp_policy"]`` is written in float32. Measured cost and quality: the scaling page of the
        documentation.
    holdout
        Perturbation names excluded from the loss (for evaluation on unseen perturbations); their rewards are not
        used for the policy or the value target. Their ``hp_policy`` columns hold what the held-out readout
        predicts for them (``hp.tl.predict(kind="reward")``), normalised with the training columns.
    curriculum
        Grow the share of perturbations in the policy loss from 25 % (strongest first) to all over the first half
        of training (:class:`~hyperperturb.nn.ComplexityScheduler`); ``False``: all from the start.
    seed
        Random seed (initialisation, dropout, subsampling of control cells for features). Same data + same seed
        give an identical embedding on the same machine. A non-negative integer: ``None`` (a fresh random seed) is
        refused, since the ledger records the seed to reproduce the result.
    mod
        RNA modality of a MuData.
    prot_mod
        Protein modality of a MuData (used if present). The default ``"prot"`` also finds ``"adt"`` or ``"protein"``
        (with a warning when several are present); the modality is resolved once, before any work.
    verbose
        Show a progress bar and log a summary.
    copy
        Return a trained copy instead of writing into ``data``.
    callbacks
        Extra Keras callbacks passed to ``fit``.

    Returns
    -------
    ``None``, or the trained copy if ``copy=True``. Writes

    ``.varm["X_poincare"]``
        ``n_vars × dim`` embedding, every row strictly inside the ball (for ``model="simple"``: the output-layer
        gene vectors mapped onto the ball with :math:`\exp_0`).
    ``.varm["hp_policy"]``
        Policy: per gene, a distribution over perturbations of its excess over the noise floor, rows sum to 1
        (columns: ``.uns["hyperperturb"]["train"]["perturbations"]``). For trained perturbations, each observed
        excess profile combined per gene (empirical Bayes) with the held-out readout's leave-one-out prediction of
        it, so that noisy genes lean on what the network and the other perturbations say; for held-out ones (and
        ``model="simple"``, signed rewards, or more than 500 training perturbations) the heads' predicted reward.
    ``.var["hp_value"]``
        Value (per-gene sensitivity beyond noise): the mean over trained perturbations of that combined excess, in
        the units of the rewards (the heads' predicted mean excess where the policy is the heads').
    ``.var["hp_in_network"]``
        Whether the gene has at least one edge in the training graph (genes without one are placed by expression
        similarity, see :func:`hyperperturb.tl.embed_network`).
    ``.uns["hyperperturb"]["train"]``
        ``params``, ``history`` (incl. ``graph_loss``), ``weights``, ``perturbations``, ``perturbation_embedding``,
        ``perturbation_bias``, ``scorable``, ``value_unit`` (genes), ``value_unit_protein``, ``reward_baseline``,
        ``kernel`` (the held-out readout, see :func:`hyperperturb.tl.predict`: source perturbations, their split-half
        ``reliability``, ``form`` ``"residual"``, the chosen ``prior``, ``source`` (``"none"``, ``"graph"``,
        ``"embedding"`` or ``"propagation"``), ``tau``, ``kappa``, ``gamma``, ``prop_norm``, ``prop_alpha``,
        ``prop_shrink``, ``prop_beta``, ``on_target``, ``on_target_mode`` and the leave-one-out scores ``cv_score``, ``prior_cv_score``, ``transfer_cv_gain``),
        ``extra_nodes``, ``extra_embedding``,
        ``node_features``, ``graph``, ``versions``, ``seed``, ``wall_time``.

    For a MuData with a protein modality the proteins' embedding, policy and value go to
    ``mdata[prot_mod].varm["X_poincare"]``, ``.varm["hp_policy"]`` and ``.var["hp_value"]``.

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
    params = TrainParams.checked(
        model=model, geometry=geometry, head=head, dim=dim, hidden=hidden, curvature=curvature,
        learn_curvature=learn_curvature, epochs=epochs, learning_rate=learning_rate, dropout=dropout,
        graph_weight=graph_weight, attention=attention, refine=refine, rank=rank, batch_size=batch_size,
        curriculum=curriculum, seed=seed, map_kwargs=map_kwargs,
    )  # fmt: skip
    adata = t.adata
    check_unique_names(adata)
    rew = read(adata, RewardsEntry, needed_by="hp.tl.train")
    # a network built before the targets it should hold nodes for were declared (hp.pp.perturbations re-run)
    check_current(adata, "network", needed_by="hp.tl.train")
    # the protein modality, resolved once before any work ("prot", "adt" or "protein"; None: no proteins)
    prot_name = protein_mod_name(t.data, prot_mod, mod=t.mod) if t.mod is not None else None
    for k, where in (("hp_reward", "varm"), ("hp_policy_target", "varm"), ("hp_value_target", "var")):
        store = adata.varm if where == "varm" else adata.var
        if k not in store:
            msg = f"adata.{where}[{k!r}] is missing although rewards were recorded. Re-run `hp.tl.rewards(adata)`."
            raise KeyError(msg)
    perts = list(rew.perturbations)
    trainable, held = _holdout_mask(holdout, perts)
    net_key = _entries.network_key(adata)
    kind = model_kind(params.model)
    if net_key not in adata.varp and kind.on_graph:
        logger.warning(
            "hp.tl.train: the gene network .varp[%r] is absent; training on an identity graph (no edges). "
            "Run `hp.pp.gene_network(adata, network)` first for a gene graph.",
            net_key,
        )

    from hyperperturb.tl._graph._inputs import build_graph_inputs

    from ._fit import fit_model
    from ._targets import excess_targets

    g = build_graph_inputs(t, prot_mod=prot_name or prot_mod, seed=seed)
    for name, arr in (
        ("hp_reward", g.reward),
        ("hp_value_target", g.value_target),
    ):
        if not np.isfinite(arr).all():
            msg = f"{name} contains NaN or inf values. Re-run `hp.tl.rewards(adata)` on finite expression data."
            raise ValueError(msg)
    from ._fit import resolve_batch_size

    n_rows = int((g.row_weight > 0).sum())
    batch = resolve_batch_size(batch_size, n_rows, len(perts)) if kind.on_graph else None
    targets = excess_targets(g, trainable, signed=rew.signed, as_sparse=batch is not None)

    res = fit_model(
        g, params, kind=kind, targets=targets, trainable=trainable, batch_size=batch, verbose=bool(verbose),
        callbacks=list(callbacks or []),
    )  # fmt: skip
    _warn_divergence(res["history"].get("loss", []), learning_rate=learning_rate, curvature=curvature)
    if kind.kernel_readout:  # the held-out readout, chosen by leave-one-out over the training perturbations
        from hyperperturb.tl._transfer._reliability import perturbation_reliability

        from ._readout import fit_kernel_readout

        rw_layer = _entries.params(adata, "rewards").get("layer")
        rel = perturbation_reliability(
            adata, [g.perturbations[i] for i in np.flatnonzero(trainable)], seed=int(seed),
            layer=None if rw_layer is None else str(rw_layer),
        )  # fmt: skip
        from hyperperturb.tl._transfer._propagation import network_operator

        op = network_operator(adata, g.n_genes + g.n_extra, g.n_genes, g.extra_edges) if g.adjacency.nnz else None
        res["kernel"] = fit_kernel_readout(
            g, res["pert_emb"], res["scorable"], trainable, targets, geometry=str(res["geometry"]),
            curvature=float(res["curvature"]), reliability=rel, operator=op,  # of the training perturbations only
            control_mean=adata.var["hp_control_mean"].to_numpy(np.float64) if "hp_control_mean" in adata.var else None,
        )  # fmt: skip
        loo = res["kernel"].pop("_loo_excess", None)
        if loo is not None and not rew.signed and res["kernel"]["available"]:
            res["policy"], res["value"], res["in_sample_excess"] = _in_sample_policy(res, g, trainable, targets, loo)
    else:
        res["kernel"] = {"available": False}

    n_scorable = int(res["scorable"].sum())
    if kind.on_graph:
        _warn_unplaced(perts, g.targets, np.asarray(res["scorable"], dtype=bool))
    entry = {
        "params": params.ledger(
            curvature=res["curvature"],
            distance_scale=res["distance_scale"],
            batch_size=batch,
            holdout=held,
            mod=mod,
            prot_mod=prot_name or prot_mod,
        ),
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
        # what predict reads again (the training columns of hp_reward, the adjacency), keyed by gene name and
        # named by the key of the array they digest (the network's own key_added): edits after training are
        # refused; held-out columns are never read, so they are not covered
        "input_digests": {
            "hp_reward": gene_digest(adata.var_names, np.asarray(adata.varm["hp_reward"])[:, trainable]),
            net_key: edge_digest(adata.var_names, adata.varp[net_key]) if net_key in adata.varp else None,
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
    if g.n_prot and t.mod is not None and prot_name is not None:
        prot_adata = t.data.mod[prot_name]
    sl = slice(0, g.n_genes)
    with atomic_write(t.adata):
        if prot_adata is not None:
            with atomic_write(prot_adata):
                ps = slice(g.n_genes + g.n_extra, g.n_nodes)
                prot_adata.varm[EMBEDDING_KEY] = res["z"][ps]
                prot_adata.varm["hp_policy"] = res["policy"][ps]
                prot_adata.var["hp_value"] = res["value"][ps]
                _write(t.adata, res, sl, entry, t0)
        else:
            _write(t.adata, res, sl, entry, t0)
    return t.done(copy)


#: A final loss above this, or this many times the first epoch's, is reported as divergent training.
_DIVERGED_ABS, _DIVERGED_REL = 1e6, 100.0


def _warn_divergence(loss: Any, *, learning_rate: float, curvature: float) -> None:
    """Warn when the training loss exploded (finite but huge, or far above where it started)."""
    loss = np.asarray(loss, dtype=np.float64).ravel()
    if loss.size == 0:
        return
    first, last = float(loss[0]), float(loss[-1])
    if last > _DIVERGED_ABS or last > _DIVERGED_REL * max(abs(first), 1e-12):
        warn(
            f"hp.tl.train: training diverged: the loss went from {first:.3g} (first epoch) to {last:.3g} (last). "
            f"The results are not trustworthy. Lower learning_rate (now {learning_rate:g}), keep curvature "
            f"near 1 (now {curvature:g}), and check the rewards' scale.",
            UserWarning,
        )


def _warn_unplaced(perts: list[str], targets: Any, scorable: np.ndarray) -> None:
    """Name the perturbations whose target is no node of the graph: the readout gives them the prior only."""
    if scorable.all():
        return
    tg = [str(x) for x in np.asarray(targets).ravel()] if targets is not None else perts
    bad = [f"{p}" if k >= len(tg) or tg[k] == p else f"{p} (target {tg[k]})" for k, p in enumerate(perts)]
    bad = [b for b, ok in zip(bad, scorable, strict=False) if not ok]
    warn(
        f"hp.tl.train: {len(bad)} perturbation(s) have no target node in the graph (combinations such as 'A+B', or "
        f"targets neither in var_names nor in the network): {bad[:10]}{' ...' if len(bad) > 10 else ''}. They are "
        "fitted from their own profile, but held out they are predicted as the prior profile only (a combination "
        "has no single node; for a missing target, use a network that contains it).",
        UserWarning,
    )


def _in_sample_policy(res, g, trainable, targets, loo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``hp_policy`` and ``hp_value`` of the measured genes: the observed excess combined with the readout.

    The trained perturbations' columns hold the empirical-Bayes combination of each observed excess profile with
    its leave-one-out readout prediction (:func:`~hyperperturb.tl._model._readout.in_sample_excess`), the held-out ones the
    heads' predicted excess (replaced by the readout's prediction once the model is stored:
    :func:`_held_out_policy`); each gene's row is then normalised over perturbations (policy), and the value is the
    mean over the trained perturbations of the combined excess, clipped at 0 (the value target's definition).
    Also returns the genes x perturbations excess matrix the policy was normalised from.
    """
    from ._readout import in_sample_excess, reward_policy

    n_genes = g.n_genes
    B = targets["baseline"][:n_genes]
    pol = np.asarray(res["policy"][:n_genes], dtype=np.float64)
    heads = res["value"][:n_genes, None] * pol.shape[1] * pol  # the heads' predicted excess (value in reward units)
    tr = np.flatnonzero(trainable)
    E = g.reward[:n_genes, tr] - B[:, None]
    heads[:, tr] = in_sample_excess(E, loo, B)
    out = np.array(res["policy"], copy=True)
    out[:n_genes] = reward_policy(heads).astype(out.dtype)
    value = np.array(res["value"], dtype=np.float64, copy=True)
    value[:n_genes] = np.clip(heads[:, tr], 0.0, None).mean(axis=1)
    return out, value, heads


def _held_out_policy(adata, res, trainable, perts, baseline) -> None:
    """``hp_policy`` columns of the held-out perturbations from the held-out readout (what ``hp.tl.predict`` says).

    The heads never saw a held-out perturbation: its column of the policy head is unconstrained, and taken as the
    heads' excess it drew most of each gene's policy mass (0.5-0.7 on a 4-perturbation screen, against 0.12-0.48
    in the data). Held out, a perturbation is unscreened as far as the model knows, so its column holds the excess
    the stored readout predicts for it (``hp.tl.predict(kind="reward")`` minus the noise floor), and each gene's
    row is normalised again over all perturbations. The training columns and ``hp_value`` are unchanged.
    """
    from ._predict import predict
    from ._readout import reward_policy

    held = np.flatnonzero(~np.asarray(trainable, dtype=bool))
    excess = res.get("in_sample_excess")
    if held.size == 0 or excess is None:
        return
    excess = np.array(excess, dtype=np.float64, copy=True)
    names = [perts[i] for i in held]
    R = predict(adata, names, kind="reward").reindex(columns=names).to_numpy(dtype=np.float64)
    if not np.isfinite(R).all():
        return  # the readout could not score them (reported by hp.tl.predict's own checks): keep the heads' columns
    excess[:, held] = R - np.asarray(baseline, dtype=np.float64)[: excess.shape[0], None]
    P = adata.varm["hp_policy"]
    adata.varm["hp_policy"] = reward_policy(excess).astype(np.asarray(P).dtype)


def _write(adata, res, sl, entry, t0) -> None:
    adata.varm[EMBEDDING_KEY] = res["z"][sl]
    adata.varm["hp_policy"] = res["policy"][sl]
    adata.var["hp_value"] = res["value"][sl]
    adata.var["hp_in_network"] = res["in_network"][sl]
    entry["wall_time"] = float(time.perf_counter() - t0)
    record(adata, "train", entry)
    held = set(map(str, entry["params"].get("holdout") or []))
    if held:  # needs the stored model: the held-out columns are read out as hp.tl.predict does
        perts = [str(p) for p in entry["perturbations"]]
        _held_out_policy(adata, res, np.array([p not in held for p in perts]), perts, entry["reward_baseline"])
