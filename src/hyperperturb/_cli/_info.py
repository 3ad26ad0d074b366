"""``hyperperturb info``: what hyperperturb stored in a file.

The summary reads the typed entries (:mod:`hyperperturb._utils._schema`); ``info --full`` dumps every entry as
stored, field by field, without interpreting any (the one reader that prints the raw ledger).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._common import PROG, _read, _rna
from ._plots import _summary_lines


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "USO" and v.ndim == 1:
            head = ", ".join(map(str, v[:5]))
            return f"[{head}{', ...' if v.size > 5 else ''}] ({v.size})"
        if v.size <= 6:
            return np.array2string(v, separator=", ", threshold=6)
        return f"array{v.shape}"
    if isinstance(v, list | tuple):
        return repr(list(v)) if len(v) <= 6 else f"list[{len(v)}]"
    if isinstance(v, dict):
        return f"{{{len(v)} entries}}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _dump_entry(entry: dict[str, Any]) -> list[str]:
    """One ledger entry as stored, every field in turn (``params`` first, ``history`` and ``weights`` summarised last).

    A dump, not a reader: no field is interpreted, so it shows any entry, current, outdated or hand-made.
    """
    fields = dict(entry)
    params, history, weights = (fields.pop(k, None) for k in ("params", "history", "weights"))
    lines = []
    if isinstance(params, dict) and params:
        lines.append("    params: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
    lines += [f"    {k}: {_short(v)}" for k, v in fields.items()]
    if isinstance(history, dict):
        n_ep = len(np.asarray(next(iter(history.values())))) if history else 0
        last = {k: float(np.asarray(v).ravel()[-1]) for k, v in history.items() if len(np.asarray(v).ravel())}
        lines.append(f"    history: {n_ep} epochs; last " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
    if isinstance(weights, dict):
        lines.append(f"    weights: {len(weights)} arrays")
    return lines


def _full_info(adata: Any, led: dict[str, Any]) -> list[str]:
    """Every ledger entry with its parameters and every hp_* array (``info --full``)."""
    from hyperperturb._utils import stale_reason
    from hyperperturb._utils._ledger import written_by

    lines = [f"written by hyperperturb {written_by(led)}", "steps:"]
    for step, entry in led.items():
        if step == "version":
            continue
        stale = stale_reason(led, step) if isinstance(entry, dict) else None
        lines.append(f"  {step}" + (" [STALE: inputs changed since]" if stale else ""))
        if isinstance(entry, dict):
            lines += _dump_entry(entry)
    return lines


def _arrays(adata: Any) -> list[str]:
    out = []
    for where, store in (("var", adata.var), ("varm", adata.varm), ("varp", adata.varp), ("obsm", adata.obsm)):
        keys = store.columns if where == "var" else store.keys()
        for k in keys:
            if str(k).startswith("hp_") or k in ("X_poincare", "perturbation_target", "log_fold_change"):
                shape = (adata.n_vars,) if where == "var" else tuple(store[k].shape)
                out.append(f".{where}[{k!r}] {shape}")
    return out


def _evaluation_headline(df: Any) -> list[str]:
    """One line per model/baseline: the mean held-out score of the first reported metric (spearman_excess first)."""
    if df.empty or "metric" not in df.columns:
        return []
    metrics = list(dict.fromkeys(df["metric"].astype(str)))
    metric = "spearman_excess" if "spearman_excess" in metrics else metrics[0]
    sub = df[df["metric"].astype(str) == metric]
    if "subset" in sub.columns and (sub["subset"].astype(str) == "all").any():
        sub = sub[sub["subset"].astype(str) == "all"]
    name = next((c for c in ("model", "method", "name") if c in sub.columns), None)
    val = next((c for c in ("mean", "value", "score") if c in sub.columns), None)
    if name is None or val is None:
        return []
    parts = [f"{n} {float(v):.3f}" for n, v in zip(sub[name].astype(str), sub[val], strict=True)][:8]
    return [f"  held-out {metric}: " + ", ".join(parts)] if parts else []


def _typed(adata: Any, cls: Any, lines: list[str]) -> Any:
    """The typed ledger entry of ``cls`` (``None`` if absent; an outdated entry is reported in ``lines``)."""
    from hyperperturb._utils._schema import find

    try:
        return find(adata, cls, needed_by="info")
    except (KeyError, ValueError) as e:
        lines.append(f"{cls.STEP}: cannot be read ({str(e).strip(chr(39)).split(': ', 1)[-1]})")
        return None


def _summary_info(data: Any, adata: Any, led: dict[str, Any], mod: str = "rna") -> list[str]:
    """The headline numbers of each step (a screen's worth; ``--full`` prints everything)."""
    from hyperperturb._utils import stale_reason
    from hyperperturb._utils._ledger import written_by
    from hyperperturb._utils._schema import (
        EvaluationEntry,
        NetworkEntry,
        PerturbationsEntry,
        PreprocessEntry,
        RewardsEntry,
        TrainEntry,
    )

    lines = [f"written by hyperperturb {written_by(led)}"]
    stale = {s: why for s in led if s != "version" and (why := stale_reason(led, s)) is not None}
    pe = _typed(adata, PerturbationsEntry, lines)
    if pe is not None:
        lines.append(
            f"perturbations: {len(pe.names)} perturbations (obs[{pe.key!r}]), control "
            f"{', '.join(map(repr, pe.control)) or '?'} ({pe.n_control} cells)"
            + (f", median {int(np.median(pe.n_cells))} cells per perturbation" if pe.n_cells.size else "")
        )
    ne = _typed(adata, NetworkEntry, lines)
    if ne is not None:
        lines.append(
            f"network: {ne.n_edges} edges; {ne.n_matched} of {adata.n_vars} genes in the "
            f"network (named by an edge that passes min_weight), {ne.n_isolated} without edges (no edge "
            f"in the graph hp.tl.train uses; the 'not in network' genes of hp.pl.poincare) "
            f"(source: {ne.source})"
        )
    if _typed(adata, RewardsEntry, lines) is not None and "hp_reward" in adata.varm:
        r = np.asarray(adata.varm["hp_reward"], dtype=float)
        line = f"rewards: {r.shape[0]} genes x {r.shape[1]} perturbations"
        if "hp_reward_baseline" in adata.var:
            excess = r - np.asarray(adata.var["hp_reward_baseline"], dtype=float)[:, None]
            if np.isfinite(excess).any():
                line += f"; largest excess over the noise floor {np.nanmax(excess):.3g}"
        lines.append(line)
    tr = _typed(adata, TrainEntry, lines)
    if tr is not None:
        h = tr.history
        n_ep = len(h["loss"]) if "loss" in h else 0
        losses = ", ".join(
            f"{k} {float(np.asarray(h[k]).ravel()[-1]):.3g}" for k in ("loss", "policy_loss", "value_loss") if k in h
        )
        lines.append(
            f"train: {n_ep} epochs, dim {tr.params['dim']}, geometry {tr.geometry}, seed {tr.seed}"
            + (f"; final {losses}" if losses else "")
        )
        lines.append(f"  scorable perturbations: {tr.n_scorable} of {len(tr.perturbations)}")
        if tr.kernel is not None:
            from hyperperturb.get._readout import describe_kernel

            lines.append(f"  held-out readout: {describe_kernel(tr.kernel)['summary']}")
    ev = _typed(adata, EvaluationEntry, lines)
    if ev is not None:
        lines.append(f"evaluation: split {ev.params.get('split', '?')}, {ev.params.get('n_splits', '?')} splits")
        lines += _evaluation_headline(ev.summary)
    for step in led:
        if step not in ("version", "perturbations", "network", "rewards", "train", "evaluation", "preprocess"):
            lines.append(f"{step}: recorded")
    pp = _typed(adata, PreprocessEntry, lines)
    if pp is not None:
        lines.insert(1, f"preprocess: {pp.n_cells_in} -> {pp.n_cells} cells, {pp.n_genes_in} -> {pp.n_genes} genes")
    for step, reason in stale.items():
        lines.append(f"STALE {step}: {reason}.")
    try:
        top = _summary_lines(data, n_genes=5, n=3, mod=mod)
    except Exception:  # noqa: BLE001 - the ranking is a bonus; never fail info on it
        top = []
    if len(top) > 2:
        lines += [""] + top
    arrays = _arrays(adata)
    lines += ["", "arrays: " + ", ".join(a.split(" ")[0] for a in arrays)]
    lines.append(f"(run `{PROG} info --full` for every parameter and array shape)")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    """Print what hyperperturb stored in a file: a short summary, or everything with ``--full``."""
    from hyperperturb._utils import get_ledger

    data = _read(args.input)
    adata = _rna(data, args.mod)
    kind = "MuData" if hasattr(data, "mod") else "AnnData"
    print(
        f"{args.input}: {kind}, {adata.n_obs} cells x {adata.n_vars} genes"
        + (f" (modality {args.mod!r})" if kind == "MuData" else "")
    )
    led = get_ledger(adata)
    if not led:
        print("no hyperperturb results (.uns['hyperperturb'] is absent)")
        return 0
    if getattr(args, "full", False):
        lines = _full_info(adata, led)
        arrays = _arrays(adata)
        lines += ["arrays:"] + [f"  {a}" for a in arrays] if arrays else ["no hp_* arrays"]
    else:
        lines = _summary_info(data, adata, led, args.mod)
    for line in lines:
        print(line)
    return 0
