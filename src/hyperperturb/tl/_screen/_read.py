"""What the steps after ``hp.tl.rewards`` read of a screen: rewards, targets, noise floor, graph membership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from anndata import AnnData

from hyperperturb._utils import _entries


@dataclass
class Screen:
    """What evaluation needs from an object after ``hp.tl.rewards``, read without writing anything."""

    names: np.ndarray  # perturbation names, column order of .varm["hp_reward"]
    targets: np.ndarray  # target gene per perturbation
    reward: np.ndarray  # genes x perturbations (float64 copy)
    baseline: np.ndarray  # per-gene noise floor B[g]
    signed: bool
    eligible: np.ndarray  # bool per perturbation: target is a node of the graph
    target_index: np.ndarray  # index of the target in var_names, -1 if unmeasured
    extra_nodes: np.ndarray
    coverage: dict[str, Any]
    #: rewards are the pseudo-bulk ``|mean(x) - c|`` (``statistic="mean_shift"``), not the mean of ``|x - c|``
    shift: bool = False


def read_screen(adata: AnnData, *, needed_by: str) -> Screen:
    """Collect rewards, targets and graph membership; raise clear errors when a step is missing."""
    for step, how in (("perturbations", "hp.pp.perturbations(adata, ...)"), ("rewards", "hp.tl.rewards(adata)")):
        if not _entries.has_step(adata, step):
            msg = f"{needed_by} needs the results of `{how.split('(')[0]}`, which has not been run. Run `{how}` first."
            raise KeyError(msg)
    if "hp_reward" not in adata.varm:
        msg = f'{needed_by} needs adata.varm["hp_reward"], which is missing. Run `hp.tl.rewards(adata)` first.'
        raise KeyError(msg)
    names = np.asarray(_entries.reward_perturbations(adata) or _entries.perturbation_names(adata), dtype=str)
    tmap = _entries.target_of(adata)
    from hyperperturb._utils._schema import NetworkEntry, find

    net = find(adata, NetworkEntry, needed_by=needed_by)
    # each target by its node name: its own, or the id hp.pp.gene_network(mapping=...) placed it under (as training)
    node_of = net.target_nodes if net is not None else {}
    targets = np.asarray([node_of.get(t, t) for t in (tmap.get(n, n) for n in names)], dtype=str)
    R = np.asarray(adata.varm["hp_reward"], dtype=np.float64)
    if R.shape[1] != names.size:
        msg = (
            f'adata.varm["hp_reward"] has {R.shape[1]} columns but the rewards ledger lists {names.size} perturbations. '
            "Re-run `hp.tl.rewards(adata)`."
        )
        raise ValueError(msg)
    if not np.isfinite(R).all():
        msg = 'adata.varm["hp_reward"] contains NaN or inf. Re-run `hp.tl.rewards(adata)` on finite expression.'
        raise ValueError(msg)
    signed = bool(_entries.params(adata, "rewards").get("signed", False))
    if "hp_reward_baseline" in adata.var:
        B = adata.var["hp_reward_baseline"].to_numpy(dtype=np.float64)
    elif signed:
        B = np.zeros(adata.n_vars)
    else:
        msg = (
            f'{needed_by} needs adata.var["hp_reward_baseline"] (the control-vs-control noise floor written by '
            "`hp.tl.rewards`). Re-run `hp.tl.rewards(adata)` with the current hyperperturb."
        )
        raise KeyError(msg)
    if not np.isfinite(B).all():
        msg = 'adata.var["hp_reward_baseline"] contains NaN. Re-run `hp.tl.rewards(adata)`.'
        raise ValueError(msg)
    extra = np.asarray(_entries.network_extra_nodes(adata), dtype=str)
    var_index = {g: i for i, g in enumerate(map(str, adata.var_names))}
    tidx = np.asarray([var_index.get(t, -1) for t in targets], dtype=np.int64)
    in_extra = np.isin(targets, extra)
    eligible = (tidx >= 0) | in_extra
    has_edge = np.zeros(names.size, dtype=bool)
    if _entries.has_network(adata):
        A = _entries.network_graph(adata)
        deg = np.diff(A.indptr)
        has_edge = (tidx >= 0) & (deg[np.maximum(tidx, 0)] > 0)
    has_edge |= in_extra
    coverage = {
        "n_perturbations": int(names.size),
        "n_eligible": int(eligible.sum()),
        "n_measured_target": int((tidx >= 0).sum()),
        "n_extra_node_target": int((in_extra & (tidx < 0)).sum()),
        "n_target_with_edges": int(has_edge.sum()),
        "coverage": float(eligible.mean()) if names.size else 0.0,
        "not_eligible": [str(n) for n in names[~eligible]],
    }
    shift = not signed and str(_entries.params(adata, "rewards").get("statistic", "mean_abs_lfc")) == "mean_shift"
    return Screen(names, targets, R, B, signed, eligible, tidx, extra, coverage, shift)
