"""``hp.get.readout``: the held-out readout training chose, and whether the network (or the map) carries it."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from hyperperturb._utils import resolve
from hyperperturb._utils._schema import TrainEntry, read

#: What each stored ``source`` means, in words.
NETWORK_TERMS = {
    "none": "none",
    "propagation": "propagation along the network",
    "graph": "transfer from network neighbours",
    "embedding": "transfer from map neighbours",
}


def readout(data: Any, *, mod: str = "rna") -> pd.Series:
    """The held-out readout :func:`hyperperturb.tl.train` chose, and what the network adds to it.

    Training chooses how :func:`hyperperturb.tl.predict` answers for a perturbation it has not seen (the prior
    profile, the on-target term, and a network term, each kept only when it beats the simpler readout by one
    standard error of the leave-one-out residual score over the training perturbations; see the training docs).
    This is that choice as one record: read it to see whether your network carries the predictions, before
    trusting predictions for unscreened targets (and run :func:`hyperperturb.tl.evaluate` to measure them held out).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train` (the graph model).
    mod
        Modality of a MuData holding the RNA (where the ledger lives).

    Returns
    -------
    A :class:`~pandas.Series` named ``"readout"`` with the fields listed under Notes.

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.train` has not been run.
    ValueError
        If the model stored no held-out readout (``model="simple"``).

    Notes
    -----
    The fields of the returned record:

    - ``available``: whether a readout was fitted (at least 3 training perturbations with a target node); when
      ``False`` predictions for unseen perturbations are the prior profile.
    - ``prior``: ``"mean"``, ``"midpoint"`` or ``"median"`` of the training profiles.
    - ``on_target`` (whether the targeted gene's own change is added), ``on_target_mode`` (``"constant"``, or
      ``"scaled"`` with the gene's control mean) and ``on_target_amplitude``.
    - ``network_term`` in words (``"propagation along the network"``, ``"transfer from network neighbours"``,
      ``"transfer from map neighbours"`` or ``"none"``), ``source`` as stored, ``uses_network`` and ``uses_map``
      (the embedding's positions are read only with ``source == "embedding"``).
    - ``cv_score`` (leave-one-out residual score of the chosen readout), ``cv_score_without_network`` (of the best
      readout without a network term), ``network_cv_gain`` (their difference; 0 when no network term is kept),
      ``propagation_cv_score`` (the best propagation readout's score, kept or not; ``nan`` when the network had no
      usable edges) and ``n_cv`` (perturbations left out).
    - The chosen term's own settings: ``prop_norm``, ``prop_alpha`` and ``prop_shrink`` for the propagation;
      ``tau_rel``, ``kappa`` and ``gamma`` for a transfer.
    - ``summary``: all of it in one sentence (what ``hyperperturb info`` prints).

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.tl.train(adata)  # doctest: +SKIP
    >>> r = hp.get.readout(adata)  # doctest: +SKIP
    >>> r["network_term"], r["network_cv_gain"]  # doctest: +SKIP
    >>> print(r["summary"])  # doctest: +SKIP
    """
    entry = read(resolve(data, mod=mod).adata, TrainEntry, needed_by="hp.get.readout")
    k = entry.kernel
    if k is None:
        msg = (
            "hp.get.readout: this model stored no held-out readout (model='simple' predicts unseen perturbations "
            "from its heads). Re-run `hp.tl.train(adata)` with the default graph model."
        )
        raise ValueError(msg)
    return pd.Series(describe_kernel(k), name="readout", dtype=object)


def describe_kernel(k: Any) -> dict[str, Any]:
    """The fields of :func:`readout` from a stored :class:`~hyperperturb._utils._schema.KernelReadout`."""
    source = str(k.source)
    amp = float(k.on_target)
    uses_network = bool(k.available) and source != "none"
    rec: dict[str, Any] = {
        "available": bool(k.available),
        "prior": str(k.prior),
        "on_target": bool(k.available) and amp != 0.0,
        "on_target_mode": str(k.on_target_mode),
        "on_target_amplitude": amp,
        "network_term": NETWORK_TERMS.get(source, source) if k.available else "none",
        "source": source,
        "uses_network": uses_network,
        "uses_map": uses_network and source == "embedding",
        "cv_score": float(k.cv_score),
        "cv_score_without_network": float(k.prior_cv_score),
        "network_cv_gain": float(k.transfer_cv_gain) if uses_network else 0.0,
        "propagation_cv_score": float(k.other.get("propagation_cv_score", math.nan)),
        "n_cv": int(k.n_cv),
    }
    if source == "propagation":
        rec.update(prop_norm=str(k.prop_norm), prop_alpha=float(k.prop_alpha), prop_shrink=float(k.prop_shrink))
    elif source in ("graph", "embedding"):
        rec.update(tau_rel=float(k.tau_rel), kappa=float(k.kappa), gamma=float(k.gamma))
    rec["summary"] = _sentence(rec)
    return rec


def _sentence(r: dict[str, Any]) -> str:
    """The readout in one sentence (what ``hyperperturb info`` prints)."""
    if not r["available"]:
        return "no readout fitted (fewer than 3 training perturbations with a target node): unseen ones get the prior"
    parts = [f"{r['prior']} prior"]
    if r["on_target"]:
        parts.append(f"on-target term ({r['on_target_mode']})")
    if r["uses_network"]:
        parts.append(str(r["network_term"]))
        how = f"leave-one-out residual {r['cv_score']:.3f}, {r['cv_score_without_network']:.3f} without the network"
    else:
        how = f"no network term (leave-one-out residual {r['cv_score']:.3f}"
        if math.isfinite(r["propagation_cv_score"]):
            how += f"; the propagation's {r['propagation_cv_score']:.3f} did not beat it by one standard error"
        how += ")"
    return " + ".join(parts) + f"; {how}"
