"""``hp.tl.predict``: predicted policy or reward of (possibly unseen) perturbations from the stored model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from hyperperturb._utils import _entries, resolve
from hyperperturb._utils._schema import KernelReadout, TrainEntry, read
from hyperperturb._utils._warn import warn

from ._kinds import model_kind
from ._readout import head_reward, reward_policy


def predict(
    data: Any,
    perturbations: Sequence[str] | str | None = None,
    *,
    kind: Literal["policy", "reward"] = "policy",
    method: Literal["auto", "head", "kernel"] = "auto",
    mod: str = "rna",
) -> pd.DataFrame:
    r"""Predict, for every gene, the policy (or reward) of perturbations from the model stored by ``hp.tl.train``.

    The model is rebuilt from ``.uns["hyperperturb"]["train"]`` (parameters, weights, node features, extra edges)
    and the gene network in ``.varp`` alone, so this works after ``write_h5ad`` / ``read_h5ad``.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    perturbations
        Names of trained perturbations and/or **new** perturbations given by the name of their target gene (any node
        of the training graph: a gene in ``var_names`` or an unmeasured network node). ``None``: all trained ones.
        New perturbations need the ``"distance"`` head: they are scored from the target's embedding with the mean
        perturbation bias.
    kind
        ``"reward"``: the predicted reward profile :math:`\hat R(g, p) = B_g + \hat E(g, p)`, each gene's control
        noise floor :math:`B_g` (``.var["hp_reward_baseline"]``, from control cells only) plus a predicted excess
        (see ``method``). ``"policy"``: per gene, that reward normalised over the trained perturbations plus the
        new ones (the returned columns are a subset, so rows sum to 1 only when all perturbations are returned),
        the inverse of how ``.varm["hp_policy_target"]`` is built; with signed rewards
        (``hp.tl.rewards(signed=True)``, :math:`B = 0`) it normalises :math:`|\hat E|`, so a perturbation that
        lowers a gene moves it as much as one that raises it by the same amount. For ``model="simple"`` the reward
        is the model output itself.
    method
        How the excess is predicted.
        ``"head"``: the policy and value heads,
        :math:`\hat E(g, p) = u\, v_g\, n_p\, \pi_g(p)` (the value head's mean excess in units ``u`` times the
        distance-head softmax over the ``n_p`` trained perturbations; a new perturbation is scored against the
        trained ones plus itself, ``n_p + 1``, so its reward does not depend on which other ones are asked for).
        ``"kernel"``: the residual transfer readout chosen by leave-one-out at the end of training,
        :math:`\hat E_p = m + \sum_q w_{pq}(E_q - m) / (\sum_q w_{pq} + \kappa)` over the *training*
        perturbations' observed excess profiles :math:`E_q`, with :math:`m` their per-gene prior profile
        (``kernel["prior"]``: the ``"mean"``, the ``"median"``, or the ``"midpoint"`` halfway between the two,
        :math:`(\mathrm{mean} + \mathrm{median}) / 2` per gene) and
        :math:`w_{pq} = \rho_q^\gamma \exp(-d(p, q)/\tau)`: :math:`d` the hop distance between the targets in the
        training graph or the geodesic distance between their embeddings, :math:`\rho_q` the split-half
        reliability of source :math:`q`; plus an on-target term when leave-one-out kept it (see
        ``.uns["hyperperturb"]["train"]["kernel"]`` and the training docs). Or, when leave-one-out chose
        ``source="propagation"``, :math:`\hat E_p = m + \beta \odot |\sum_k \alpha^{k-1} (M^\top)^k e_{t_p}|`:
        the target's change sent along the directed, signed network ``M`` with per-gene gains :math:`\beta`. A
        trained perturbation never uses its own profile; held-out ones are never among the sources.
        ``"auto"``: ``"kernel"`` when at least 3 training perturbations are scorable, else ``"head"``.
    mod
        RNA modality of a MuData: the one :func:`hyperperturb.tl.train` was run on, which stores the model. A
        protein modality holds only the per-protein outputs of training and is refused.

    Returns
    -------
    :class:`~pandas.DataFrame`, genes (``var_names``) × perturbations: one column per distinct name, in the order
    first given (a repeated name, trained or new, is one column).

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.train` has not been run.
    ValueError
        For names that are neither trained perturbations nor graph nodes, new names with the ``"dense"`` head,
        ``method="kernel"`` when the stored model has no kernel readout, or a MuData modality other than the one
        the model was trained on (e.g. ``mod="prot"``).

    Examples
    --------
    >>> hp.tl.predict(adata, ["STAT1", "IRF1"], kind="reward")  # doctest: +SKIP
    """
    return predict_for(data, perturbations, kind=kind, method=method, mod=mod, needed_by="hp.tl.predict")


def predict_for(
    data: Any,
    perturbations: Sequence[str] | str | None = None,
    *,
    kind: Literal["policy", "reward"] = "policy",
    method: Literal["auto", "head", "kernel"] = "auto",
    mod: str = "rna",
    needed_by: str,
) -> pd.DataFrame:
    """:func:`predict` for another function: its errors and warnings name ``needed_by`` (e.g. ``"hp.tl.design"``).

    The user of ``hp.tl.design`` is told that ``hp.tl.design`` needs a current model, not ``hp.tl.predict``, which
    they did not call.
    """
    from ._tensorflow import import_tensorflow

    tf = import_tensorflow()  # quiet: no TensorFlow C++ start-up lines in a fresh process

    from ._io import rebuild, trained_gene_order

    if kind not in ("policy", "reward"):
        msg = f"kind must be 'policy' or 'reward', got {kind!r}."
        raise ValueError(msg)
    if method not in ("auto", "head", "kernel"):
        msg = f"method must be 'auto', 'head' or 'kernel', got {method!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    _check_trained_modality(t, needed_by)
    entry = read(adata, TrainEntry, needed_by=needed_by)
    order = trained_gene_order(adata, entry, needed_by=needed_by)
    if order is not None:  # genes reordered since training: predict in the trained order, return in var_names order
        df = predict_for(adata[:, order], perturbations, kind=kind, method=method, needed_by=needed_by)
        return df.loc[list(map(str, adata.var_names))]
    trained = list(entry.perturbations)
    if perturbations is None:
        wanted = list(trained)
    else:
        wanted = [perturbations] if isinstance(perturbations, str) else [str(x) for x in perturbations]
        wanted = list(dict.fromkeys(wanted))  # a repeated name is one column, trained or new (first order kept)
    genes = list(map(str, adata.var_names))
    model = model_kind(entry.model)
    head = entry.head
    n_genes = len(genes)
    node_index = {n: i for i, n in enumerate(entry.graph.nodes[: entry.graph.n_graph])} if model.on_graph else {}
    new = [w for w in wanted if w not in trained]
    if new:
        if not model.can_score_new(head):
            msg = (
                f"{new} are not trained perturbations ({trained}); only the 'distance' head of the graph model can "
                f"score new perturbations, this model is model={model.name!r}, head={head!r}. Re-run `hp.tl.train` "
                "with head='distance'."
            )
            raise ValueError(msg)
        unknown = [w for w in new if w not in node_index]
        if unknown:
            msg = (
                f"{unknown} are neither trained perturbations ({trained}) nor nodes of the training graph; a new "
                "perturbation is named by its target gene, which must be in var_names or the network's extra nodes."
            )
            raise ValueError(msg)
    kern = entry.kernel if model.kernel_readout else None
    has_kernel = kern is not None and kern.available
    if method == "kernel" and not has_kernel:
        msg = (
            "method='kernel' needs the kernel readout of the graph model, which this training did not store (fewer "
            "than 3 scorable training perturbations, or model='simple'). Use method='head'."
        )
        raise ValueError(msg)
    use_kernel = method == "kernel" or (method == "auto" and has_kernel)
    if use_kernel and kern is not None:
        _warn_prior_only(entry, trained, wanted, list(kern.perturbations), needed_by)
    net, feats, adj = rebuild(adata, entry)
    if not model.on_graph:  # the simple model scores its trained perturbations directly
        pred = net(tf.eye(len(trained)), training=False).numpy().T.astype(np.float64)
        s = pred.sum(1, keepdims=True)
        pol = np.where(s > 0, pred / np.maximum(s, 1e-12), 1.0 / len(trained))
        mat = pol if kind == "policy" else pred
        cols = _positions(trained, wanted)
        return pd.DataFrame(mat[:, cols], index=pd.Index(genes, name="gene"), columns=wanted)
    out = net((feats, adj), training=False)
    z = out["embedding"]
    z64 = z.numpy().astype(np.float64)
    if getattr(net, "refine", None) is not None and entry.map_embedding is not None:
        from hyperperturb.tl._map._network_map import refined_embedding

        z64 = refined_embedding(net, feats, adj, entry.map_embedding)
    value = out["value"].numpy().astype(np.float64)[:n_genes]
    allnames = trained + new
    cols = _positions(allnames, wanted)
    if use_kernel and kern is not None:
        emb_all = entry.perturbation_embedding
        if new:
            zn = z64[[node_index[w] for w in new]]
            emb_all = np.concatenate([emb_all, zn], axis=0)
        reward = _kernel_reward(adata, entry, kern, allnames, emb_all, trained, node_index)
    else:
        reward = None
    if head == "distance":
        emb = np.asarray(net.perturbation_embedding(z).numpy(), dtype=np.float32)  # as the heads were trained
        bias = entry.perturbation_bias.astype(np.float32)
        holdout = entry.holdout
        fitted = np.array([n not in holdout for n in trained])
        mean_b = float(bias[fitted].mean()) if fitted.any() else 0.0
        factor = None
        if getattr(net, "rank", 0):  # the low-rank term exists only for fitted perturbations
            factor = np.asarray(net.pert_factor.numpy(), dtype=np.float32).copy()
            factor[~fitted] = 0.0
        if new:
            zn = tf.gather(z, [node_index[w] for w in new])
            emb = tf.concat([tf.constant(emb), zn], axis=0)
            bias = np.concatenate([bias, np.full(len(new), mean_b, dtype=np.float32)])
            if factor is not None:
                factor = np.concatenate([factor, np.zeros((len(new), factor.shape[1]), np.float32)])
        logits = net.score(
            z, tf.convert_to_tensor(emb), tf.constant(bias, tf.float32), None if factor is None else tf.constant(factor)
        )
        policy = _per_perturbation_softmax(logits.numpy().astype(np.float64)[:n_genes], len(trained))
    else:
        policy = out["policy"].numpy().astype(np.float64)[:n_genes]
    B = entry.reward_baseline
    if reward is None:  # heads predict the excess over the noise floor B
        if new and head == "distance":  # each new perturbation is scored against the trained ones plus itself
            n_t = len(trained)
            excess = head_reward(policy[:, n_t:], value, np.zeros_like(B), entry.value_unit)  # n_p = len(new)
            reward = np.concatenate(
                [
                    head_reward(policy[:, :n_t], value, B, entry.value_unit),
                    B[:, None] + excess * ((n_t + 1) / len(new)),
                ],
                axis=1,
            )
        else:
            reward = head_reward(policy, value, B, entry.value_unit)
    if kind == "policy":  # the policy ranks the excess over each gene's noise floor B (the reward minus B)
        excess = reward - B[:, None]
        if _signed_rewards(adata):  # trained on |R| (B = 0): a fall moves a gene as much as a rise
            excess = np.abs(excess)
        mat = reward_policy(excess)
    else:
        mat = reward
    if not np.isfinite(mat).all():
        msg = f"{needed_by}: the prediction has non-finite values; the training entry is corrupted. Re-run hp.tl.train."
        raise FloatingPointError(msg)
    return pd.DataFrame(mat[:, cols], index=pd.Index(genes, name="gene"), columns=wanted)


def _signed_rewards(adata: Any) -> bool:
    """Whether ``hp.tl.rewards`` wrote signed rewards (the policy then ranks their magnitude)."""
    from hyperperturb._utils._schema import RewardsEntry

    try:
        return bool(read(adata, RewardsEntry, needed_by="hp.tl.predict").signed)
    except (KeyError, ValueError):
        return False


def _check_trained_modality(t: Any, needed_by: str) -> None:
    """Refuse a MuData modality without the model when another modality holds it (e.g. ``mod="prot"``).

    ``hp.tl.train`` stores the model in the ledger of the modality it was run on (the RNA one) and writes only its
    per-feature outputs (embedding, policy, value) into the protein modality; a "train has not been run" error
    would be untrue there.
    """
    if t.mod is None or _entries.has_step(t.adata, "train"):
        return
    holders = [str(k) for k, m in t.data.mod.items() if str(k) != str(t.mod) and _entries.has_step(m, "train")]
    if not holders:
        return  # not trained anywhere: the usual "run hp.tl.train first" error
    outputs = [f".varm[{k!r}]" for k in ("X_poincare", "hp_policy") if k in t.adata.varm]
    outputs += [".var['hp_value']"] if "hp_value" in t.adata.var else []
    held = (
        f" Modality {t.mod!r} holds only the per-feature outputs training wrote there ({', '.join(outputs)})."
        if outputs
        else ""
    )
    msg = (
        f"{needed_by} works on the modality that `hp.tl.train` was run on, whose var_names are the genes that "
        f"perturbations target: the trained model is stored in modality {holders[0]!r}, not in {t.mod!r}.{held} "
        f"Pass mod={holders[0]!r} (the RNA modality)."
    )
    raise ValueError(msg)


def _warn_prior_only(
    entry: TrainEntry, trained: list[str], wanted: list[str], sources: list[str], needed_by: str = "hp.tl.predict"
) -> None:
    """Name the asked-for perturbations the readout can only give the prior: no target node and not a source."""
    scorable = dict(zip(trained, entry.scorable, strict=False))
    src = set(sources)
    bad = [w for w in dict.fromkeys(wanted) if w in scorable and not scorable[w] and w not in src]
    if bad:
        warn(
            f"{needed_by}: {bad[:10]} have no target node in the training graph (a combination such as 'A+B', or a "
            "target neither measured nor in the network); they are predicted as the prior profile only.",
            UserWarning,
        )


def _per_perturbation_softmax(logits: np.ndarray, n_trained: int) -> np.ndarray:
    """The distance head's softmax with every new perturbation scored on its own (genes × columns).

    The trained columns are normalised over the trained perturbations; each new column ``k`` over the trained ones
    plus ``k`` alone, so a perturbation's predicted reward does not depend on which other new perturbations are
    asked for (a softmax over all of them made it shrink as more were requested).
    """
    L = np.asarray(logits, dtype=np.float64)
    tr = L[:, :n_trained]
    m = tr.max(axis=1, keepdims=True) if n_trained else np.zeros((L.shape[0], 1))
    lse = m + np.log(np.exp(tr - m).sum(axis=1, keepdims=True)) if n_trained else np.full((L.shape[0], 1), -np.inf)
    out = np.empty_like(L)
    out[:, :n_trained] = np.exp(tr - lse)
    out[:, n_trained:] = np.exp(L[:, n_trained:] - np.logaddexp(lse, L[:, n_trained:]))
    return out


def _positions(names: list[str], wanted: list[str]) -> list[int]:
    """Index of each of ``wanted`` in ``names`` (one dictionary, not a list search per name)."""
    pos = {n: i for i, n in enumerate(names)}
    return [pos[w] for w in wanted]


def _kernel_reward(adata, entry: TrainEntry, kern: KernelReadout, allnames, emb_all, trained, node_index) -> np.ndarray:
    """``B + Ê`` for every name in ``allnames`` from the held-out readout stored by training."""
    rew_pos = {q: i for i, q in enumerate(_entries.reward_perturbations(adata))}
    sources = list(kern.perturbations)
    missing = [q for q in sources if q not in rew_pos]
    if missing or "hp_reward" not in adata.varm:
        msg = (
            f"The kernel readout needs the training perturbations' rewards in .varm['hp_reward'] ({missing or sources} "
            "missing); the rewards changed after hp.tl.train. Re-run `hp.tl.train`, or use method='head'."
        )
        raise KeyError(msg)
    B = entry.reward_baseline
    R = np.asarray(adata.varm["hp_reward"], dtype=np.float64)[:, [rew_pos[q] for q in sources]]
    E = R - B[:, None]
    src = {q: k for k, q in enumerate(sources)}
    scorable = entry.scorable
    # a held-out perturbation without a target node has an untrained free point: it gets the prior profile
    far = np.array([i < len(trained) and not scorable[i] and n not in src for i, n in enumerate(allnames)])
    exclude = np.array([src.get(n, -1) if i < len(trained) else -1 for i, n in enumerate(allnames)])
    src_rows = _positions(trained, sources)  # row of each source among the trained perturbations
    Ehat = _residual_readout(adata, entry, kern, E, allnames, emb_all, src_rows, node_index, exclude, far)
    amp = float(kern.on_target)  # "the targeted gene moves", chosen by leave-one-out in training
    if amp:
        gene_index = {g: i for i, g in enumerate(map(str, adata.var_names))}
        targets = list(entry.targets)
        scaled = str(kern.on_target_mode) == "scaled"  # amplitude x the target's control mean
        if scaled and "hp_control_mean" not in adata.var:
            msg = "The on-target term needs .var['hp_control_mean']; re-run `hp.tl.rewards` and `hp.tl.train`."
            raise KeyError(msg)
        cm = adata.var["hp_control_mean"].to_numpy(np.float64) if scaled else None
        for k, name in enumerate(allnames):
            tg = targets[k] if k < len(trained) and k < len(targets) else name
            if tg in gene_index:
                r = gene_index[tg]
                Ehat[r, k] += amp * (float(cm[r]) if cm is not None else 1.0)
    return B[:, None] + Ehat


def _gains(kern: KernelReadout, n_genes: int) -> np.ndarray:
    """The propagation readout's per-gene gains (one per gene; a scalar from a common gain)."""
    beta = kern.prop_beta
    if beta.size == 1:
        beta = np.full(n_genes, float(beta[0]))
    if beta.size != n_genes or not np.isfinite(beta).all() or (beta < 0).any():
        msg = (
            f"The stored propagation gains are corrupted ({beta.size} values for {n_genes} genes, or not finite and "
            "non-negative). Re-run `hp.tl.train`."
        )
        raise ValueError(msg)
    return beta


def _residual_readout(
    adata, entry: TrainEntry, kern: KernelReadout, E, allnames, emb_all, src_rows, node_index, exclude, far
) -> np.ndarray:
    """Prior + reliability-weighted transfer of the training residuals (:mod:`hyperperturb.tl._transfer`)."""
    from hyperperturb.tl._transfer._transfer import graph_distances, pairwise_distance, predict_transfer, prior_profile

    sources = list(kern.perturbations)
    source = str(kern.source)
    prior = str(kern.prior)
    graph = entry.graph
    n_q = len(allnames)
    D = np.full((n_q, len(sources)), np.inf)
    tnode = entry.target_node
    q_nodes = np.array([tnode[i] if i < tnode.size else node_index.get(n, -1) for i, n in enumerate(allnames)])
    if source == "embedding":
        D = pairwise_distance(emb_all, emb_all[src_rows], geometry=str(kern.geometry), c=float(kern.curvature))
        D[:, ~entry.scorable[src_rows]] = np.inf
    elif source == "propagation":  # prior + β |change sent along the network from the target|
        from hyperperturb.tl._transfer._propagation import network_operator, profile

        ee = graph.extra_edges.as_dict()
        M = network_operator(adata, graph.n_graph, graph.n_genes, ee)
        level = adata.var["hp_control_mean"].to_numpy(np.float64) if "hp_control_mean" in adata.var else None
        X = profile(M, q_nodes, E.shape[0], norm=str(kern.prop_norm), alpha=float(kern.prop_alpha), level=level)
        Ehat = predict_transfer(E, D, prior=prior, source="none", tau=1.0, kappa=0.0, gamma=0.0, rel=None,
                                exclude=exclude) + _gains(kern, E.shape[0])[:, None] * X  # fmt: skip
        if far.any():
            Ehat[:, far] = prior_profile(E, prior)[:, None]
        return Ehat
    elif source == "graph":
        from hyperperturb.tl._graph._inputs import stored_adjacency

        A = stored_adjacency(adata, len(graph.nodes), graph.n_genes, graph.extra_edges.as_dict())
        D = graph_distances(A, q_nodes, tnode[src_rows])
    Ehat = predict_transfer(
        E, D, prior=prior, source=source, tau=float(kern.tau), kappa=float(kern.kappa), gamma=float(kern.gamma),
        rel=kern.reliability, exclude=exclude,
    )  # fmt: skip
    if far.any():
        Ehat[:, far] = prior_profile(E, prior)[:, None]
    return Ehat
