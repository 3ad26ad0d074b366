"""Validation of values read back from ``.uns['hyperperturb']``, ``.var``, ``.varm`` and ``.varp``.

A stored value may have been edited by hand, damaged on disk or written by another tool. Everything a later step
reads is checked here (finite, shape, range) and a bad value raises a :class:`ValueError` naming the step that
writes it, so that the fix is "re-run that step" — never a silent ``nan_to_num``.
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._validate import decode, str_array

_PRODUCER = {
    "perturbations": "hp.pp.perturbations(adata, key=..., control=...)",
    "network": "hp.pp.gene_network(adata, network)",
    "rewards": "hp.tl.rewards(adata)",
    "train": "hp.tl.train(adata)",
}
# numeric training parameters and their allowed ranges (lo, hi; None = unbounded)
_TRAIN_PARAMS: dict[str, tuple[float | None, float | None, bool]] = {
    # name: (lo, hi, integer)
    "dim": (1, None, True),
    "hidden": (1, None, True),
    "epochs": (0, None, True),
    "rank": (0, None, True),
    "seed": (0, None, True),
    "learning_rate": (0.0, None, False),
    "dropout": (0.0, 1.0, False),
    "graph_weight": (0.0, None, False),
    "initial_curvature": (0.0, None, False),
}
_KERNEL: dict[str, tuple[float | None, float | None]] = {
    "shrinkage": (0.0, 1.0),
    "tau": (0.0, None),
    "kappa": (0.0, None),
    "curvature": (0.0, None),
    "gamma": (0.0, None),
    "on_target": (None, None),  # bounded by the rewards' scale in validate_step
}
# the held-out readout's choices (absent in older ledgers)
_KERNEL_CHOICES = {
    "prior": ("mean", "midpoint", "median"),
    "source": ("none", "graph", "embedding", "propagation"),
    "on_target_mode": ("constant", "scaled"),
    "geometry": ("poincare", "euclidean"),
}


def _fail(what: str, problem: str, step: str, needed_by: str) -> NoReturn:
    how = _PRODUCER.get(step, step)
    msg = f"{needed_by}: {what} {problem}; it was changed after `{how.split('(')[0]}` wrote it. Re-run `{how}`."
    raise ValueError(msg)


def _as_float_array(x: Any, what: str, step: str, needed_by: str) -> np.ndarray:
    try:
        arr = np.asarray(x.toarray() if sparse.issparse(x) else x)
        if arr.dtype == object or np.iscomplexobj(arr) or arr.dtype.kind in "USb":
            raise TypeError(arr.dtype)
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        _fail(what, f"is not numeric (dtype {getattr(np.asarray(x), 'dtype', type(x).__name__)})", step, needed_by)
        raise  # pragma: no cover


def check_vector(
    adata: AnnData,
    key: str,
    *,
    step: str,
    needed_by: str,
    nonnegative: bool = False,
    length: int | None = None,
) -> np.ndarray | None:
    """``adata.var[key]`` as a finite float vector (``None`` if absent)."""
    if key not in adata.var.columns:
        return None
    what = f"adata.var[{key!r}]"
    v = _as_float_array(adata.var[key].to_numpy(), what, step, needed_by)
    bad = ~np.isfinite(v)
    if bad.any():
        _fail(
            what, f"has {int(bad.sum())} NaN/infinite value(s) (e.g. gene {adata.var_names[bad][0]!r})", step, needed_by
        )
    if nonnegative and (v < 0).any():
        _fail(what, f"has negative values (min {v.min():.3g}); it must be >= 0", step, needed_by)
    if length is not None and len(v) != length:  # pragma: no cover - .var always has n_vars rows
        _fail(what, f"has {len(v)} values, expected {length}", step, needed_by)
    return v


def check_matrix(
    adata: AnnData, key: str, shape: tuple[int, int], *, step: str, needed_by: str, row_sums: bool = False
) -> np.ndarray | None:
    """``adata.varm[key]`` as a finite float matrix of ``shape`` (``None`` if absent)."""
    if key not in adata.varm:
        return None
    what = f"adata.varm[{key!r}]"
    M = _as_float_array(adata.varm[key], what, step, needed_by)
    if M.shape != tuple(shape):
        _fail(what, f"has shape {M.shape}, expected {tuple(shape)} (genes x perturbations)", step, needed_by)
    bad = ~np.isfinite(M)
    if bad.any():
        _fail(what, f"has {int(bad.sum())} NaN/infinite value(s)", step, needed_by)
    if row_sums and M.size:
        if (M < 0).any():
            _fail(what, f"has negative probabilities (min {M.min():.3g})", step, needed_by)
        s = M.sum(1)
        off = np.abs(s - 1.0) > 1e-4
        if off.any():
            _fail(what, f"has {int(off.sum())} row(s) that do not sum to 1 (e.g. {s[off][0]:.4g})", step, needed_by)
    return M


def check_adjacency(
    adata: AnnData, key: str | None = None, *, needed_by: str, symmetric: bool | None = None
) -> sparse.csr_matrix | None:
    """``adata.varp[key]`` checked (square over genes, finite, weights in [0, 1]) as the undirected graph.

    ``key=None``: the gene network's key recorded by ``hp.pp.gene_network`` (its ``key_added``). ``symmetric``:
    whether the stored matrix must be symmetric; ``None`` takes what ``hp.pp.gene_network`` recorded (a network
    stored with ``symmetric=False`` keeps its directions). A directed matrix is returned symmetrised by the larger
    weight of the two directions (the graph the models use); ``None`` if the key is absent.
    """
    from ._entries import network_directed, network_key

    if key is None:
        key = network_key(adata)
    if symmetric is None:
        symmetric = not (key == network_key(adata) and network_directed(adata))
    if key not in adata.varp:
        return None
    what = f"adata.varp[{key!r}]"
    raw = adata.varp[key]
    A = sparse.csr_matrix(raw) if sparse.issparse(raw) else None
    if A is None:
        A = sparse.csr_matrix(_as_float_array(raw, what, "network", needed_by))
    G = adata.n_vars
    if A.shape != (G, G):  # pragma: no cover - anndata enforces the shape of .varp
        _fail(what, f"has shape {A.shape}, expected {(G, G)}", "network", needed_by)
    data = _as_float_array(A.data, what, "network", needed_by)
    if not np.isfinite(data).all():
        _fail(what, f"has {int((~np.isfinite(data)).sum())} NaN/infinite weight(s)", "network", needed_by)
    if (data < 0).any():
        _fail(what, f"has negative weights (min {data.min():.3g}); weights are interaction strengths in [0, 1] "
              f"(signs live in varp['{key}_sign'])", "network", needed_by)  # fmt: skip
    if (data > 1 + 1e-6).any():
        _fail(what, f"has weights above 1 (max {data.max():.3g})", "network", needed_by)
    if not symmetric:
        return A.maximum(A.T).tocsr()
    A = sparse.csr_matrix(A, dtype=np.float64)
    diff = abs(A - A.T)
    if diff.nnz and diff.max() > 1e-6:
        _fail(what, "is not symmetric", "network", needed_by)
    return A


def _number(x: Any) -> float | None:
    """A Python float from a stored scalar (0-d array, numpy or Python number); ``None`` if not numeric."""
    if isinstance(x, np.ndarray):
        if x.size != 1 or x.dtype.kind not in "iuf":
            return None
        x = x.reshape(-1)[0]
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        return None
    return float(x)


def check_train_entry(entry: dict[str, Any], *, needed_by: str) -> None:
    """Numeric training parameters and the kernel readout parameters of a ``train`` ledger entry."""
    params = entry.get("params", {})
    if isinstance(params, dict):
        for name, (lo, hi, integer) in _TRAIN_PARAMS.items():
            if name not in params:
                continue  # older ledgers: absent; a stored "None" is refused below (never int(None) later)
            v = _number(params[name])
            what = f"the stored training parameter {name!r} ({params[name]!r})"
            if v is None or not np.isfinite(v):
                _fail(what, "is not a finite number", "train", needed_by)
            if integer and float(v) != int(v):
                _fail(what, "is not an integer", "train", needed_by)
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                _fail(what, f"is outside [{lo}, {hi if hi is not None else 'inf'}]", "train", needed_by)
    weights = entry.get("weights")
    if isinstance(weights, dict):
        for name, w in weights.items():
            arr = w if isinstance(w, np.ndarray) else np.asarray(w)
            if arr.dtype.kind not in "biuf":
                _fail(
                    f"the stored model weight {name!r}",
                    f"is not a numeric array (dtype {arr.dtype}; serialised Python objects are never loaded)",
                    "train",
                    needed_by,
                )
            if not np.isfinite(arr.astype(np.float64, copy=False)).all():
                _fail(f"the stored model weight {name!r}", "has NaN/infinite values", "train", needed_by)
    _check_train_arrays(entry, needed_by)
    kern = entry.get("kernel")
    if isinstance(kern, dict):
        for name, allowed in _KERNEL_CHOICES.items():
            if name in kern and str(decode(kern[name])) not in allowed:
                _fail(f"the stored kernel readout choice {name!r} ({kern[name]!r})", f"is not one of {list(allowed)}",
                      "train", needed_by)  # fmt: skip
        if "reliability" in kern:
            rel = _as_float_array(kern["reliability"], "the stored kernel readout 'reliability'", "train", needed_by)
            n_src = len(np.asarray(kern.get("perturbations", rel)).ravel())
            if rel.size != n_src or not np.isfinite(rel).all() or (np.abs(rel) > 1 + 1e-9).any():
                _fail("the stored kernel readout 'reliability'", f"is not {n_src} finite values in [-1, 1]", "train",
                      needed_by)  # fmt: skip
        for name, (lo, hi) in _KERNEL.items():
            if name not in kern:
                continue
            v = _number(kern[name])
            what = f"the stored kernel readout parameter {name!r} ({kern[name]!r})"
            if v is None or not np.isfinite(v):
                _fail(what, "is not a finite number", "train", needed_by)
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                _fail(what, f"is outside [{lo}, {hi if hi is not None else 'inf'}]", "train", needed_by)


def _corrupt(field: str, problem: str, needed_by: str) -> NoReturn:
    msg = (
        f"{needed_by}: the ledger entry 'train' is corrupted: its {field!r} {problem}. It was changed after "
        "`hp.tl.train` wrote it (hand edit, damaged file). Re-run `hp.tl.train(adata)`."
    )
    raise ValueError(msg)


def _int_array(entry: dict[str, Any], key: str, needed_by: str, sub: dict[str, Any] | None = None) -> np.ndarray:
    src = entry if sub is None else sub
    arr = np.asarray(src[key])
    if arr.dtype.kind not in "iub" and not (
        arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all()
    ):
        _corrupt(key, f"is not an integer array (dtype {arr.dtype})", needed_by)
    return arr.astype(np.int64).ravel()


def _check_train_arrays(entry: dict[str, Any], needed_by: str) -> None:
    """The structure of the arrays a ``train`` entry holds: lengths, index ranges, finiteness (each if present)."""
    n_p = len(np.asarray(entry.get("perturbations", [])).ravel())
    graph = entry.get("graph")
    n_nodes = None
    if isinstance(graph, dict) and "nodes" in graph:
        n_nodes = len(np.asarray(graph["nodes"]).ravel())
        parts = [int(_number(graph.get(k, 0)) or 0) for k in ("n_genes", "n_extra", "n_prot")]
        if min(parts) < 0 or sum(parts) != n_nodes:
            _corrupt("graph", f"counts n_genes/n_extra/n_prot {parts} do not add up to its {n_nodes} nodes", needed_by)
        ee = graph.get("extra_edges")
        if isinstance(ee, dict) and "i" in ee and "j" in ee:
            i, j = _int_array(ee, "i", needed_by, ee), _int_array(ee, "j", needed_by, ee)
            w = _as_float_array(ee.get("weight", np.ones(i.size)), "the stored extra edges", "train", needed_by).ravel()
            if i.size != j.size or w.size != i.size:
                _corrupt("graph.extra_edges", "arrays i, j, weight have different lengths", needed_by)
            if i.size and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n_nodes):
                _corrupt("graph.extra_edges", f"indices lie outside the {n_nodes} graph nodes", needed_by)
            if not np.isfinite(w).all():
                _corrupt("graph.extra_edges", "weights are not finite", needed_by)
    if n_nodes is not None and isinstance(entry.get("node_features"), dict) and "values" in entry["node_features"]:
        F = _as_float_array(entry["node_features"]["values"], "the stored node features", "train", needed_by)
        if F.ndim != 2 or F.shape[0] != n_nodes or not np.isfinite(F).all():
            _corrupt("node_features", f"values are not a finite {n_nodes}-row matrix (shape {F.shape})", needed_by)
    if "target_node" in entry:
        tn = _int_array(entry, "target_node", needed_by)
        if tn.size != n_p or (n_nodes is not None and tn.size and (tn.min() < -1 or tn.max() >= n_nodes)):
            _corrupt("target_node", f"is not {n_p} node indices in [-1, {n_nodes})", needed_by)
    for key in ("perturbation_bias", "scorable"):
        if key in entry and len(np.asarray(entry[key]).ravel()) != n_p:
            _corrupt(key, f"does not have one value per perturbation ({n_p})", needed_by)
    for key in ("perturbation_embedding", "extra_embedding", "perturbation_bias", "reward_baseline"):
        if key in entry:
            arr = _as_float_array(entry[key], f"the stored {key!r}", "train", needed_by)
            if not np.isfinite(arr).all():
                _corrupt(key, "has NaN/infinite values", needed_by)
    if "perturbation_embedding" in entry and n_p:
        emb = np.asarray(entry["perturbation_embedding"])
        if emb.ndim != 2 or emb.shape[0] != n_p:
            _corrupt("perturbation_embedding", f"has shape {emb.shape}, expected ({n_p}, dim)", needed_by)
    if isinstance(graph, dict) and "reward_baseline" in entry and "n_genes" in graph:
        n_g = int(_number(graph["n_genes"]) or 0)
        if len(np.asarray(entry["reward_baseline"]).ravel()) != n_g:
            _corrupt("reward_baseline", f"does not have one value per trained gene ({n_g})", needed_by)


def check_rewards_outputs(adata: AnnData, entry: dict[str, Any], *, needed_by: str) -> None:
    """The arrays ``hp.tl.rewards`` wrote: finite, one row per gene, one column per recorded perturbation."""
    P = len(np.asarray(entry.get("perturbations", [])).ravel())
    G = adata.n_vars
    kw: dict[str, Any] = {"step": "rewards", "needed_by": needed_by}
    check_matrix(adata, "hp_reward", (G, P), **kw)
    check_matrix(adata, "hp_policy_target", (G, P), row_sums=True, **kw)
    check_vector(adata, "hp_value_target", nonnegative=True, **kw)
    check_vector(adata, "hp_control_mean", **kw)
    check_vector(adata, "hp_reward_baseline", nonnegative=True, **kw)


def validate_step(adata: AnnData, step: str, entry: Any, *, needed_by: str) -> None:
    """Validate what ``step`` stored (called by :func:`~hyperperturb._utils.require_step`)."""
    if not isinstance(entry, dict):
        return
    if step == "rewards":
        check_rewards_outputs(adata, entry, needed_by=needed_by)
    elif step == "train":
        check_train_entry(entry, needed_by=needed_by)
        _check_on_target(adata, entry, needed_by)
        _check_train_inputs(adata, entry, needed_by)
    elif step == "network":
        key = decode(entry.get("key_added", "hp_adjacency"))
        sym = entry.get("params", {}).get("symmetric", True) if isinstance(entry.get("params"), dict) else True
        check_adjacency(adata, str(key), needed_by=needed_by, symmetric=bool(sym))


def _check_on_target(adata: AnnData, entry: dict[str, Any], needed_by: str) -> None:
    """Bound the stored on-target amplitude by what training can write from these rewards.

    It is an excess in reward units (never beyond twice the largest observed reward) or, with
    ``on_target_mode="scaled"``, a least-squares factor of the target's control mean ``l``: with ``n`` screened
    targets, ``|factor| * max(l) <= 4 sqrt(n) max|reward|`` (each target's excess is at most ``4 max|reward|``, and
    ``max(l) sum(l) <= sqrt(n) sum(l**2)``). A lowly expressed target that rises many-fold (CRISPRa) has a factor far
    above 1, which is legitimate.
    """
    kern = entry.get("kernel")
    amp = _number(kern.get("on_target")) if isinstance(kern, dict) and "on_target" in kern else None
    if amp is None or "hp_reward" not in adata.varm:
        return
    R = np.asarray(adata.varm["hp_reward"], dtype=np.float64)
    top = float(np.nanmax(np.abs(R))) if R.size and np.isfinite(R).any() else 0.0
    if isinstance(kern, dict) and str(decode(kern.get("on_target_mode", "constant"))) == "scaled":
        if "hp_control_mean" not in adata.var:
            return  # the readers name the missing column
        level = adata.var["hp_control_mean"].to_numpy(np.float64)
        pos = {g: i for i, g in enumerate(map(str, adata.var_names))}
        perts, tgts = str_array(entry.get("perturbations", [])).ravel(), str_array(entry.get("targets", [])).ravel()
        fitted = set(str_array(kern.get("perturbations", perts)).ravel())  # the readout's training columns
        rows = sorted({pos[t] for q, t in zip(perts, tgts, strict=False) if q in fitted and t in pos})
        lv = np.abs(level[rows]) if rows else np.zeros(0)
        lv = lv[np.isfinite(lv) & (lv > 0)]
        if lv.size:
            bound = 4.0 * np.sqrt(lv.size) * top
            if abs(amp) * float(lv.max()) > bound * (1 + 1e-9) + 1e-12:
                _fail(f"the stored kernel readout parameter 'on_target' ({amp:.3g}, a factor of the target's control "
                      "mean)", f"exceeds what training can fit from these rewards (a target moved by at most {bound:.3g})",
                      "train", needed_by)  # fmt: skip
        return
    if abs(amp) > 2.0 * top + 1e-9:
        _fail(f"the stored kernel readout parameter 'on_target' ({amp:.3g})",
              f"exceeds twice the largest observed |reward| ({top:.3g})", "train", needed_by)  # fmt: skip


def _check_train_inputs(adata: AnnData, entry: dict[str, Any], needed_by: str) -> None:
    """Refuse edits after training to what the stored model reads again at prediction time.

    That is the training perturbations' columns of ``.varm["hp_reward"]`` and the gene network in ``.varp`` (digests
    keyed by gene name, so reordering genes is fine). Absent arrays and columns are reported by the readers.
    """
    from ._entries import network_key
    from ._ledger import edge_digest, gene_digest

    digests = entry.get("input_digests")
    if not isinstance(digests, dict):
        return  # older ledgers
    graph = entry.get("graph")
    if isinstance(graph, dict) and "nodes" in graph:
        trained = str_array(graph["nodes"]).ravel()[: int(_number(graph.get("n_genes")) or 0)]
        if len(trained) != adata.n_vars or set(trained) != set(map(str, adata.var_names)):
            return  # other genes: refused by name, with its own message, when the model is read
    changed = None
    stored = str(digests.get("hp_reward", "None"))
    if stored != "None" and "hp_reward" in adata.varm:
        rew = adata.uns.get("hyperperturb", {}).get("rewards", {})
        cols = [str(c) for c in np.asarray(rew.get("perturbations", [])).ravel()] if isinstance(rew, dict) else []
        pos = {c: k for k, c in enumerate(cols)}
        held = entry.get("params", {}).get("holdout", []) if isinstance(entry.get("params"), dict) else []
        held = set() if decode(held) is None else {str(h) for h in np.asarray(held).ravel()}
        fitted = [str(p) for p in np.asarray(entry.get("perturbations", [])).ravel() if str(p) not in held]
        R = np.asarray(adata.varm["hp_reward"])
        if all(p in pos for p in fitted) and R.ndim == 2 and R.shape[1] == len(cols):
            if gene_digest(adata.var_names, R[:, [pos[p] for p in fitted]]) != stored:
                changed = ("varm", "hp_reward", "hp.tl.rewards")
    net_key = network_key(adata)
    stored = str(digests.get(net_key, "None"))  # named by the network's key, as hp.tl.train recorded it
    if changed is None and stored != "None" and net_key in adata.varp:
        if edge_digest(adata.var_names, adata.varp[net_key]) != stored:
            changed = ("varp", net_key, "hp.pp.gene_network")
    if changed is not None:
        where, key, step = changed
        msg = (
            f"{needed_by}: adata.{where}[{key!r}] changed after `hp.tl.train` read it (edited by hand, or "
            f"overwritten without `{step}`); the stored model would mix old and new data. Re-run `{step}(adata)` "
            "and `hp.tl.train(adata)`."
        )
        raise ValueError(msg)
