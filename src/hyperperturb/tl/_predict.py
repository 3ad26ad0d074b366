"""``hp.tl.predict``: predicted policy or reward of (possibly unseen) perturbations from the stored model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from hyperperturb._utils import require_step, resolve


def _names(x: Any) -> list[str]:
    return [str(v) for v in np.asarray(x).ravel()]


def predict(
    data: Any,
    perturbations: Sequence[str] | str | None = None,
    *,
    kind: Literal["policy", "reward"] = "policy",
    mod: str = "rna",
) -> pd.DataFrame:
    r"""Predict, for every gene, the policy (or reward) of perturbations from the model stored by ``hp.tl.train``.

    The model is rebuilt from ``.uns["hyperperturb"]["train"]`` (parameters, weights, node features, extra edges)
    and ``.varp["hp_adjacency"]`` alone, so this works after ``write_h5ad`` / ``read_h5ad``.

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
        ``"policy"``: per gene, the softmax over the trained perturbations plus the new ones (the returned columns
        are a subset, so rows sum to 1 only when all perturbations are returned). ``"reward"``: the policy times
        the predicted value times the number of perturbations in the softmax, :math:`\hat R(g, p) = \pi_g(p)\,
        v_g\, n_p`, the inverse of how the targets are built (policy = reward / row sum, value = row mean). For
        ``model="simple"`` the reward is the model output itself.
    mod
        RNA modality of a MuData.

    Returns
    -------
    :class:`~pandas.DataFrame`, genes (``var_names``) × perturbations.

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.train` has not been run.
    ValueError
        For names that are neither trained perturbations nor graph nodes, or new names with the ``"dense"`` head.

    Examples
    --------
    >>> hp.tl.predict(adata, ["STAT1", "IRF1"], kind="reward")  # doctest: +SKIP
    """
    import tensorflow as tf

    from ._model_io import rebuild

    if kind not in ("policy", "reward"):
        msg = f"kind must be 'policy' or 'reward', got {kind!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    entry = require_step(adata, "train", needed_by="hp.tl.predict")
    p = entry["params"]
    trained = _names(entry["perturbations"])
    if perturbations is None:
        wanted = list(trained)
    else:
        wanted = [perturbations] if isinstance(perturbations, str) else [str(x) for x in perturbations]
    genes = list(map(str, adata.var_names))
    model_kind = str(p["model"])
    head = str(p.get("head", "distance"))
    nodes = _names(entry["graph"]["nodes"]) if model_kind == "hyperperturb" else genes
    n_genes = len(genes)
    node_index = (
        {n: i for i, n in enumerate(nodes[: len(nodes) - int(entry["graph"].get("n_prot", 0))])}
        if model_kind == "hyperperturb"
        else {}
    )
    new = [w for w in wanted if w not in trained]
    if new:
        if model_kind != "hyperperturb" or head != "distance":
            msg = (
                f"{new} are not trained perturbations ({trained}); only the 'distance' head of the graph model can "
                f"score new perturbations, this model is model={model_kind!r}, head={head!r}. Re-run `hp.tl.train` "
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
    net, feats, adj = rebuild(adata, entry)
    if model_kind == "simple":
        pred = net(tf.eye(len(trained)), training=False).numpy().T.astype(np.float64)
        s = pred.sum(1, keepdims=True)
        pol = np.where(s > 0, pred / np.maximum(s, 1e-12), 1.0 / len(trained))
        mat = pol if kind == "policy" else pred
        cols = [trained.index(w) for w in wanted]
        return pd.DataFrame(mat[:, cols], index=pd.Index(genes, name="gene"), columns=wanted)
    out = net((feats, adj), training=False)
    z = out["embedding"]
    value = out["value"].numpy().astype(np.float64)[:n_genes]
    if head == "distance":
        emb = np.asarray(entry["perturbation_embedding"], dtype=np.float32).reshape(len(trained), -1)
        bias = np.asarray(entry["perturbation_bias"], dtype=np.float32).ravel()
        holdout = set(_names(p.get("holdout", []))) if not isinstance(p.get("holdout"), str) else set()
        fitted = np.array([n not in holdout for n in trained])
        mean_b = float(bias[fitted].mean()) if fitted.any() else 0.0
        if new:
            zn = tf.gather(z, [node_index[w] for w in new])
            emb = tf.concat([tf.constant(emb), zn], axis=0)
            bias = np.concatenate([bias, np.full(len(new), mean_b, dtype=np.float32)])
        logits = net.score(z, tf.convert_to_tensor(emb), tf.constant(bias, tf.float32))
        policy = tf.nn.softmax(logits, axis=-1).numpy().astype(np.float64)[:n_genes]
    else:
        policy = out["policy"].numpy().astype(np.float64)[:n_genes]
    allnames = trained + new
    cols = [allnames.index(w) for w in wanted]
    mat = policy if kind == "policy" else policy * value[:, None] * len(allnames)
    return pd.DataFrame(mat[:, cols], index=pd.Index(genes, name="gene"), columns=wanted)
