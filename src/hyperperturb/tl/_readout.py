"""Read-out of a fitted model: embedding (float64), policy, value, perturbation embedding and the kernel readout.

Shared by :func:`hyperperturb.tl.train` (after fitting) and :func:`hyperperturb.tl.predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._model_io import weights_to_dict

#: (node, perturbation) pairs above which training uses node mini-batches and the readout works in row blocks.
BLOCK_PAIRS = 2**24


def head_reward(policy: np.ndarray, value: np.ndarray, baseline: np.ndarray, unit: float | np.ndarray) -> np.ndarray:
    """Reward of the heads: ``B[g] + unit · v_g · n_p · π_g(p)`` (noise floor + predicted excess)."""
    return baseline[:, None] + unit * value[:, None] * policy.shape[1] * policy


def reward_policy(reward: np.ndarray) -> np.ndarray:
    """Rows of a non-negative reward matrix normalised to sum to 1 (all-zero rows: uniform)."""
    r = np.clip(reward, 0.0, None)
    s = r.sum(1, keepdims=True)
    return np.where(s > 0, r / np.where(s > 0, s, 1.0), 1.0 / max(r.shape[1], 1))


def _blocked_readout(net, g, adj, trainable) -> dict[str, Any]:
    """Readout of a large screen in row blocks: float32 policy, no nodes × perturbations temporaries beyond one block."""
    import tensorflow as tf

    zt, h = net.encode(tf.constant(g.features), adj, training=False)
    emb_model = net.perturbation_embedding(zt)
    bias = net.pert_bias.numpy().astype(np.float64)
    factor = tf.convert_to_tensor(net.pert_factor) if net.rank else None
    held = bool((~trainable).any()) and net.head == "distance"
    if held:  # held-out perturbations were never fitted: mean bias of fitted ones, no factor
        bias[~trainable] = bias[trainable].mean()
        if net.rank:
            f = net.pert_factor.numpy().copy()
            f[~trainable] = 0.0
            factor = tf.constant(f, tf.float32)
    n_p = len(g.perturbations)
    step = max(1, BLOCK_PAIRS // max(n_p, 1))
    policy = np.empty((g.n_nodes, n_p), dtype=np.float32)
    for i in range(0, g.n_nodes, step):
        rows = tf.range(i, min(i + step, g.n_nodes))
        if held:
            logits = net.score(tf.gather(zt, rows), emb_model, tf.constant(bias, tf.float32), factor, rows)
        else:
            logits = net.policy_logits(zt, h, rows)
        policy[i : i + step] = tf.nn.softmax(logits, axis=-1).numpy()
    return {
        "embedding": zt,
        "emb_model": emb_model,
        "policy": policy,
        "value": net.value(zt).numpy().astype(np.float64),
        "bias": bias,
    }


def readout(net, g, *, model, trainable, history, targets, base=None) -> dict[str, Any]:
    """Plain arrays of a fitted model: embedding (float64), policy, value, perturbation embedding, kernel readout.

    Screens with more than :data:`BLOCK_PAIRS` (node, perturbation) pairs are read out in row blocks and their
    policy is float32 (half the memory of float64; its rows sum to 1 within 1e-6).
    """
    import tensorflow as tf

    from hyperperturb.nn._graph import normalized_adjacency

    n_p = len(g.perturbations)
    if model == "hyperperturb" and g.n_nodes * n_p > BLOCK_PAIRS:
        adj = normalized_adjacency(g.adjacency)
        big = _blocked_readout(net, g, adj, trainable)
        z = big["embedding"].numpy().astype(np.float64)
        if net.refine is not None:
            from ._network_map import refined_embedding

            z = refined_embedding(net, tf.constant(g.features), adj, base)
        policy, value, bias = big["policy"], targets["units"] * big["value"], big["bias"]
        emb = big["emb_model"].numpy().astype(np.float64)
        on_node = g.target_node >= 0
        emb[on_node] = z[g.target_node[on_node]]
        scorable = on_node
    elif model == "hyperperturb":
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
    kernel = (
        fit_kernel_readout(net, g, emb, scorable, trainable, targets)
        if model == "hyperperturb"
        else {"available": False}
    )
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


def fit_kernel_readout(net, g, emb, scorable, trainable, targets) -> dict[str, Any]:
    """Leave-one-out choice of the kernel readout's bandwidth and shrinkage (training perturbations only).

    Screens with more than :data:`~hyperperturb.tl._kernel.MAX_LOO` scorable training perturbations leave out a
    seeded subsample of that many (bandwidth, shrinkage, on-target term and transfer guard all use it); only
    left-out × training distance rows are formed, never a perturbations × perturbations × genes tensor.
    """
    from ._kernel import fit_kernel, fit_on_target, loo_subset, predict_kernel, residual_pearson_topk

    tr = np.flatnonzero(trainable)
    E = g.reward[: g.n_genes, tr] - targets["baseline"][: g.n_genes, None]  # signed rewards: B = 0
    geometry = net.manifold.name if net.manifold.name == "poincare" else "euclidean"
    c = float(net.manifold.curvature) if geometry == "poincare" else 1.0
    # leave-one-out set: every scorable training perturbation, or a seeded subsample of MAX_LOO on large screens
    loo = loo_subset(scorable[tr])
    fit = fit_kernel(E, emb[tr], loo, geometry=geometry, c=c)
    n_cv = int(scorable[tr].sum())
    # on-target term, chosen by leave-one-out on the same training perturbations
    tn = g.target_node[tr]
    target_row = np.where((tn >= 0) & (tn < g.n_genes), tn, -1)
    cv_idx = np.flatnonzero(loo)
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
