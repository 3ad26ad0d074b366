"""The ``.uns['hyperperturb']`` ledger: what ran, with which parameters, and its small results."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from ._stored import validate_step
from ._validate import sanitize_for_h5ad, str_array
from ._warn import warn

#: Key of the ledger in ``adata.uns``.
LEDGER_KEY = "hyperperturb"

# Which function produces each ledger entry, to tell users what to run.
_PRODUCERS = {
    "preprocess": "hp.pp.preprocess(adata)",
    "perturbations": "hp.pp.perturbations(adata, key='perturbation', control='non-targeting')",
    "log_fold_change": "hp.pp.log_fold_change(adata)",
    "network": "hp.pp.gene_network(adata, network)",
    "rewards": "hp.tl.rewards(adata)",
    "train": "hp.tl.train(adata)",
    "evaluation": "hp.tl.evaluate(adata)",
    "design": "hp.tl.design(adata)",
    "embed_network": "hp.tl.embed_network(adata)",
}

# What each step is computed from: re-running one of these makes the step's stored results stale.
DEPENDS_ON = {
    "log_fold_change": ("perturbations",),
    "rewards": ("perturbations",),
    "train": ("rewards", "network"),
    "evaluation": ("rewards", "network"),
    "design": ("train",),
    "embed_network": ("network",),
}
#: Key naming the kind of a ledger entry stored under a user-chosen key (``hp.tl.design(key_added=...)``).
KIND = "kind"
#: Key of the content digest of each ledger entry, and of the digests of the entries it was computed from.
RUN_ID = "run_id"
# Fields that differ between identical runs (timings, library versions): not part of the digest.
_VOLATILE = frozenset({"wall_time", "seconds", "versions", "version", "timestamp"})
INPUTS = "inputs"
#: Key of the schema version of each ledger entry (:data:`SCHEMA_VERSIONS`).
SCHEMA = "schema"
#: Schema version of each kind of ledger entry: bumped when an entry's layout changes. Readers refuse an entry
#: without it or with another version (the package was never released: no reader keeps an older layout).
SCHEMA_VERSIONS = {
    "preprocess": 1,
    "perturbations": 1,
    "log_fold_change": 1,
    "network": 1,
    "rewards": 1,
    "train": 1,
    "evaluation": 1,
    "design": 1,
    "embed_network": 1,
}

# Keys that later steps read from each entry: an entry without them (older file, hand-edited) is refused clearly.
_REQUIRED = {
    "perturbations": ("names",),
    "rewards": ("perturbations",),
    "train": ("params", "perturbations"),
}


def _package_version() -> str:
    try:
        return _dist_version("hyperperturb")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0+unknown"


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in str(v).split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def get_ledger(adata: AnnData) -> dict[str, Any]:
    """The ledger as a dict (empty if absent). Warns if written by a newer hyperperturb."""
    led = adata.uns.get(LEDGER_KEY, {})
    if not isinstance(led, dict):
        msg = (
            f"adata.uns[{LEDGER_KEY!r}] is a {type(led).__name__}, not a dict; it was not written by hyperperturb. "
            f"Delete or rename it: `del adata.uns[{LEDGER_KEY!r}]`."
        )
        raise TypeError(msg)
    stored = led.get("version")
    if stored is not None and _version_tuple(stored)[:2] > _version_tuple(_package_version())[:2]:
        warn(
            f"adata.uns[{LEDGER_KEY!r}] was written by hyperperturb {stored}, newer than the installed "
            f"{_package_version()}; stored results may not be read correctly. Upgrade hyperperturb.",
            UserWarning,
        )
    return led


def written_by(led: dict[str, Any]) -> str:
    """The hyperperturb version that last wrote the ledger ``led`` (``"?"`` when it is not recorded)."""
    return str(led.get("version", "?"))


def _digest(obj: Any, h: Any, *, names: bool = True) -> None:
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            if k in (RUN_ID, INPUTS) or k in _VOLATILE:
                continue
            if names:
                h.update(f"<{k}>".encode())
            # Keras variable paths carry per-process layer counters: model weights are hashed by value only
            _digest(obj[k], h, names=names and k != "weights")
    elif isinstance(obj, np.ndarray):
        h.update(f"{obj.shape}{obj.dtype}".encode())
        h.update(np.ascontiguousarray(obj).tobytes() if obj.dtype != object else repr(obj.tolist()).encode())
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for x in obj:
            _digest(x, h, names=names)
        h.update(b"]")
    elif hasattr(obj, "to_csv"):  # DataFrame
        h.update(obj.to_csv().encode())
    else:
        h.update(repr(obj).encode())


def entry_digest(entry: dict[str, Any]) -> str:
    """A content digest of a ledger entry (same step, same inputs, same results -> same id; deterministic)."""
    h = hashlib.sha1()
    _digest(entry, h)
    return h.hexdigest()[:16]


def array_digest(*arrays: Any) -> str:
    """A short content digest of arrays (dense or scipy sparse), stored in ledger entries to tell outputs apart."""
    h = hashlib.sha1()
    for a in arrays:
        if hasattr(a, "indptr"):
            a = a.tocsr()
            for part in (a.indptr, a.indices, a.data):
                h.update(np.ascontiguousarray(part).tobytes())
        else:
            arr = np.asarray(a)
            h.update(f"{arr.shape}{arr.dtype}".encode())
            # the buffer itself as bytes, not a bytes copy (the same digest; no second genes x perturbations array)
            if arr.dtype != object:
                h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)  # a memoryview, no copy
            else:
                h.update(repr(arr.tolist()).encode())
    return h.hexdigest()[:16]


def _kind(step: str, entry: Any) -> str:
    """The kind of step that wrote ``entry`` (its ledger key unless it was stored under a ``key_added``)."""
    kind = entry.get(KIND) if isinstance(entry, dict) else None
    return str(kind) if kind is not None else step


#: Steps whose results describe the cells that ``hp.tl.rewards`` read (directly or through ``rewards``).
_CELL_STEPS = frozenset({"rewards", "train", "evaluation", "design"})


def cells_digest(adata: AnnData) -> str:
    """An order-free digest of the cells (``obs_names``) and their control flags (``obs['hp_control']``).

    Stored by ``hp.tl.rewards``: removing, adding or renaming cells, or editing which cells are controls,
    changes it (reordering cells does not, since nothing computed from cells depends on their order).
    """
    n = adata.n_obs
    # to_numpy, not np.asarray: numpy's attribute probing of a Series builds a hash table of the obs_names
    ctrl = adata.obs["hp_control"].to_numpy(dtype=bool) if "hp_control" in adata.obs else np.zeros(n, bool)
    values = np.asarray(adata.obs_names)
    as_is = values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string"
    parts = []
    step = 1 << 16
    for lo in range(0, n, step):  # in blocks: bounded temporaries
        names = values[lo : lo + step] if as_is else values[lo : lo + step].astype(str).astype(object)
        # the hash of each name as str (hash_pandas_object's values; categorize=False skips a factorisation)
        h = pd.util.hash_array(names, categorize=False).astype(np.uint64, copy=False)
        h = h ^ (ctrl[lo : lo + step].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        parts.append(np.sum(h, dtype=np.uint64))
    total = np.sum(np.asarray(parts, dtype=np.uint64), dtype=np.uint64) if parts else np.uint64(0)  # mod 2**64
    return f"{n}:{int(total):016x}"


_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)


def _name_hashes(names: Any) -> np.ndarray:
    return pd.util.hash_pandas_object(pd.Series(str_array(names)), index=False).to_numpy(np.uint64)


def gene_digest(names: Any, M: Any) -> str:
    """A digest of a genes x columns matrix keyed by gene name: independent of the order of the genes."""
    M = np.asarray(M)
    M = M.reshape(len(M), -1)
    cols = (np.arange(M.shape[1], dtype=np.uint64) * _K2) | np.uint64(1)
    rows = np.empty(len(M), dtype=np.uint64)
    step = max(1, (1 << 22) // max(M.shape[1], 1))  # blocks of about 4 million values (float64 -> same digest)
    with np.errstate(over="ignore"):
        for lo in range(0, len(M), step):
            bits = np.ascontiguousarray(M[lo : lo + step], dtype=np.float64).view(np.uint64)
            rows[lo : lo + step] = (bits * cols[None, :]).sum(axis=1, dtype=np.uint64)
        h = (rows ^ _name_hashes(names)) * _K1
    return f"{M.shape}:{int(h.sum(dtype=np.uint64)):016x}"


def edge_digest(names: Any, A: Any) -> str:
    """A digest of a gene x gene adjacency keyed by gene names (independent of the order of the genes)."""
    from scipy import sparse

    C = sparse.coo_matrix(A)
    nh = _name_hashes(names)
    w = np.ascontiguousarray(C.data.astype(np.float64)).view(np.uint64)
    with np.errstate(over="ignore"):
        h = nh[C.row] * _K1 + nh[C.col] * _K2 + w * _K3
    return f"{C.nnz}:{int(h.sum(dtype=np.uint64)):016x}"


def _cells_reason(adata: AnnData, led: dict[str, Any], step: str) -> str | None:
    """Why the rewards (and what was computed from them) no longer describe the object's cells, or ``None``."""
    if _kind(step, led.get(step)) not in _CELL_STEPS:
        return None
    rew = led.get("rewards")
    stored = rew.get("cells") if isinstance(rew, dict) else None
    if stored is None:  # written before cells were recorded
        return None
    if str(stored) == cells_digest(adata):
        return None
    n_then = str(stored).split(":", 1)[0]
    what = (
        f"it read {n_then} cells, the object now has {adata.n_obs}"
        if n_then != str(adata.n_obs)
        else "cell names or obs['hp_control'] changed"
    )
    return (
        f"the cells changed since `hp.tl.rewards` ran ({what}); the rewards and everything computed from them "
        "describe other cells. Re-run `hp.tl.rewards(adata)` (and `hp.pp.perturbations` first if control labels "
        "changed)"
    )


#: Field of a ``perturbations`` entry: its target genes that are not in ``var_names`` (set by :func:`record`).
UNMEASURED_TARGETS = "unmeasured_targets"
#: Fields of a ``network`` entry (set by :func:`record`): whether ``hp.pp.perturbations`` had run when the network
#: was built, and every target gene it had declared then (those outside ``var_names`` were looked up in the
#: network as extra nodes).
PERTURBATIONS_DECLARED = "perturbations_declared"
PERTURBATION_TARGETS = "perturbation_targets"


def _all_targets(perturbations_entry: Any) -> list[str] | None:
    """Every target gene of a ``perturbations`` entry, once each (``None``: no readable entry)."""
    if not isinstance(perturbations_entry, dict) or "names" not in perturbations_entry:
        return None
    try:
        sets = target_sets(perturbations_entry)
    except ValueError:  # inconsistent offsets: reported by the readers of the entry
        return None
    return list(dict.fromkeys(g for genes in sets for g in genes))


def _target_fields(adata: AnnData, led: dict[str, Any], kind: str, clean: dict[str, Any]) -> None:
    """Record what :func:`stale_reason` needs to tell whether the network's extra nodes match the targets.

    ``hp.pp.gene_network`` adds a node for each perturbation target outside ``var_names`` that is in the network,
    from the targets declared when it runs: a ``perturbations`` entry records its targets outside ``var_names``,
    a ``network`` entry the targets it was built with (kept when the entry already has them, e.g. a copy).
    """
    if kind == "perturbations":
        targets = _all_targets(clean)
        if targets is not None:
            measured = set(map(str, adata.var_names))
            clean[UNMEASURED_TARGETS] = np.asarray([g for g in targets if g not in measured], dtype=str)
    elif kind == "network" and PERTURBATIONS_DECLARED not in clean and _looks_up_targets(clean):
        targets = _all_targets(led.get("perturbations"))
        clean[PERTURBATIONS_DECLARED] = targets is not None
        clean[PERTURBATION_TARGETS] = np.asarray(targets or [], dtype=str)


def _looks_up_targets(network_entry: dict[str, Any]) -> bool:
    """Whether the network came from an edge list, the only source whose nodes outside ``var_names`` are added.

    Co-expression, GO-similarity and matrix networks have nodes for measured genes only: the declared targets
    change nothing they hold (their entries get no target fields, so they are never stale for targets).
    """
    params = network_entry.get("params")
    params = params if isinstance(params, dict) else {}
    source = str(params.get("network", network_entry.get("source", "")))
    go = str(params.get("go_table", "None")) != "None"
    return not (go or source.startswith(("coexpression", "matrix (")))


def _shown(genes: list[str], n: int = 8) -> str:
    return ", ".join(genes[:n]) + (f" and {len(genes) - n} more" if len(genes) > n else "")


def _network_targets_reason(led: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """Why the network lacks nodes for the declared perturbation targets, or ``None``.

    Stale when a target gene outside ``var_names`` is declared now (``hp.pp.perturbations``) that was not declared
    when ``hp.pp.gene_network`` built the network: it was never looked up in the network, so it has no extra node
    even if the network has it (its perturbation cannot be scored). Targets dropped since, or measured, change
    nothing the network holds. Entries without the recorded fields (older files, hand-made) are taken as current.
    """
    pert = led.get("perturbations")
    if not isinstance(pert, dict) or UNMEASURED_TARGETS not in pert or PERTURBATIONS_DECLARED not in entry:
        return None
    before = set(str_array(entry.get(PERTURBATION_TARGETS, [])).ravel().tolist())
    now = str_array(pert[UNMEASURED_TARGETS]).ravel().tolist()
    new = [g for g in dict.fromkeys(now) if g not in before]
    if not new:
        return None
    fix = "Re-run `hp.pp.gene_network(adata, network)` after `hp.pp.perturbations` (and the steps after it)"
    declared = bool(np.asarray(entry[PERTURBATIONS_DECLARED]).ravel()[0])
    if not declared:
        return (
            "the gene network was built by `hp.pp.gene_network` before `hp.pp.perturbations` declared the "
            f"perturbations, so their {len(new)} target gene(s) outside var_names ({_shown(new)}) were not looked "
            f"up in the network and got no network node: their perturbations cannot be scored. {fix}"
        )
    return (
        f"`hp.pp.perturbations` was re-run after `hp.pp.gene_network` with {len(new)} new target gene(s) outside "
        f"var_names ({_shown(new)}); they were not looked up in the network and have no network node (their "
        f"perturbations cannot be scored), so the gene network is stale. {fix}"
    )


def record(adata: AnnData, step: str, entry: dict[str, Any], *, kind: str | None = None) -> None:
    """Store ``entry`` under ``adata.uns['hyperperturb'][step]`` (h5ad-safe) and stamp the package version.

    Each entry gets ``run_id`` (a digest of its content) and ``inputs`` (the ``run_id`` of each step it depends
    on, :data:`DEPENDS_ON`, as it was when this step ran), so that :func:`require_step` can refuse results
    computed from an upstream step's older output. ``kind`` names the step when ``step`` is a user-chosen key
    (``hp.tl.design(key_added=...)``): the entry is then tracked like one stored under ``kind``.

    A ``perturbations`` entry also gets ``unmeasured_targets`` (its target genes outside ``var_names``), a
    ``network`` entry ``perturbations_declared`` and ``perturbation_targets`` (the target genes declared when it
    was built): the network is stale when targets outside ``var_names`` are declared that it never looked up
    (:func:`stale_reason`), without depending on every re-run of ``hp.pp.perturbations``.
    """
    led = adata.uns.get(LEDGER_KEY)
    if not isinstance(led, dict):
        led = {}
    led = dict(led)
    clean = sanitize_for_h5ad(entry)
    if isinstance(clean, dict):
        clean = dict(clean)
        _target_fields(adata, led, kind or step, clean)
        if kind is not None and kind != step:
            clean[KIND] = kind
        if (kind or step) in SCHEMA_VERSIONS:
            clean[SCHEMA] = SCHEMA_VERSIONS[kind or step]
        inputs = {}
        for dep in DEPENDS_ON.get(kind or step, ()):
            dep_entry = led.get(dep)
            if isinstance(dep_entry, dict) and RUN_ID in dep_entry:
                inputs[dep] = str(dep_entry[RUN_ID])
        clean[INPUTS] = inputs
        clean[RUN_ID] = entry_digest({**clean, "__step__": step, "__inputs__": inputs})
    led[step] = clean
    led["version"] = _package_version()
    adata.uns[LEDGER_KEY] = led


def stale_reason(led: dict[str, Any], step: str, *, _seen: tuple[str, ...] = ()) -> str | None:
    """Why ``step``'s entry is stale (an upstream step was re-run or removed since), or ``None`` if it is current.

    Entries without ``run_id``/``inputs`` (written by older hyperperturb versions) are taken as current.
    """
    entry = led.get(step)
    if not isinstance(entry, dict) or step in _seen:
        return None
    inputs = entry.get(INPUTS)
    if not isinstance(inputs, dict):
        return None
    kind = _kind(step, entry)
    if kind == "network":  # not in DEPENDS_ON: only new unmeasured targets make the network stale
        why = _network_targets_reason(led, entry)
        if why is not None:
            return why
    for dep in DEPENDS_ON.get(kind, ()):
        # upstream first: a stale input is reported at its own level
        deeper = stale_reason(led, dep, _seen=(*_seen, step))
        if deeper is not None:
            return deeper
        used = inputs.get(dep)
        now = led.get(dep)
        now_id = now.get(RUN_ID) if isinstance(now, dict) else None
        if now_id is None:
            continue  # absent now (handled by the caller) or an old entry without id
        if now_id != used:  # re-run since, or run for the first time after this step
            how = _PRODUCERS.get(kind, kind)
            if kind != step:
                how = f"{how.rstrip(')')}, key_added={step!r})"
            dep_how = _PRODUCERS.get(dep, dep).split("(")[0]
            what = "was re-run" if used is not None else "was run"
            return (
                f"the {step!r} results were computed from an earlier output of `{dep_how}`, which {what} since; "
                f"they are stale. Re-run `{how}` (and the steps after it)"
            )
    return None


def check_ledger_key(adata: AnnData, key: Any, *, kind: str) -> None:
    """Refuse a ``key_added`` that would overwrite a ledger entry of another step (``hp.tl.design(key_added=...)``)."""
    reserved = (set(_PRODUCERS) | {"version", "embed_network"}) - {kind}
    now = get_ledger(adata).get(key) if isinstance(key, str) else None
    other = now is not None and (not isinstance(now, dict) or _kind(str(key), now) != kind)
    if not isinstance(key, str) or not key or key in reserved or other:
        msg = (
            f"`key_added` must be a new ledger key such as {kind!r}, got {key!r}"
            f"{' (it holds results of another step)' if isinstance(key, str) and (key in reserved or other) else ''}. "
            f"Reserved keys: {sorted(reserved)}."
        )
        raise ValueError(msg)


def check_schema(step: str, entry: Any, *, needed_by: str) -> None:
    """Refuse (:class:`ValueError`) a ledger entry without the current schema version of its kind.

    Entries of unknown kinds (not written by a hyperperturb step) are not checked.
    """
    kind = _kind(step, entry)
    if kind not in SCHEMA_VERSIONS:
        return
    now = SCHEMA_VERSIONS[kind]
    stored = entry.get(SCHEMA) if isinstance(entry, dict) else None
    try:
        version = int(np.asarray(stored).ravel()[0]) if stored is not None else None
    except (TypeError, ValueError, IndexError):
        version = None
    if version == now:
        return
    how = _PRODUCERS.get(kind, kind)
    if kind != step:
        how = f"{how.rstrip(')')}, key_added={step!r})"
    what = "no schema version" if stored is None else f"schema version {stored!r}"
    msg = (
        f"{needed_by}: the {step!r} entry of adata.uns[{LEDGER_KEY!r}] has {what}; this hyperperturb reads schema "
        f"{now} (the entry was written by an earlier development version, or edited by hand). Re-run `{how}`."
    )
    raise ValueError(msg)


def check_current(adata: AnnData, step: str, *, needed_by: str) -> None:
    """Refuse (:class:`ValueError`) results of ``step`` computed from an upstream output that was re-run since.

    Nothing happens when ``step`` has not been recorded: readers of plain ``.varm``/``.var`` arrays written by
    other tools keep working.
    """
    led = get_ledger(adata)
    if step not in led:
        return
    stale = stale_reason(led, step) or _cells_reason(adata, led, step)
    if stale is not None:
        msg = f"{needed_by}: {stale}."
        raise ValueError(msg)


def require_step(adata: AnnData, step: str, *, needed_by: str) -> dict[str, Any]:
    """Return the ledger entry ``step`` or raise a :class:`KeyError` telling which function to run first."""
    led = get_ledger(adata)
    how = _PRODUCERS.get(step, step)
    if step not in led:
        msg = f"{needed_by} needs the results of `{how.split('(')[0]}`, which has not been run on this object. Run `{how}` first."
        raise KeyError(msg)
    entry = led[step]
    check_schema(step, entry, needed_by=needed_by)
    stale = stale_reason(led, step) or _cells_reason(adata, led, step)
    if stale is not None:
        msg = f"{needed_by}: {stale}."
        raise ValueError(msg)
    missing = [k for k in _REQUIRED.get(step, ()) if not isinstance(entry, dict) or k not in entry]
    if missing:
        msg = (
            f"{needed_by}: the {step!r} entry of adata.uns[{LEDGER_KEY!r}] lacks {missing} (written by an older or "
            f"different hyperperturb, version {led.get('version', 'unknown')}, or edited by hand). Re-run `{how}`."
        )
        raise KeyError(msg)
    validate_step(adata, step, entry, needed_by=needed_by)  # stored arrays and numbers: finite, shape, range
    return entry


def library_versions() -> dict[str, str]:
    """Versions of the libraries that matter for reproducing a result."""
    out = {"python": platform.python_version(), "hyperperturb": _package_version()}
    for pkg in ("numpy", "scipy", "anndata", "scanpy", "tensorflow", "keras"):
        try:
            out[pkg] = _dist_version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def target_sets(perturbations_entry: dict[str, Any]) -> list[list[str]]:
    """All target genes of each perturbation of a ``perturbations`` ledger entry (one list per name).

    Combinations (``hp.pp.perturbations(sep="+")``) list every gene; entries written before combinations were
    recorded give ``[targets[k]]``.
    """
    names = str_array(perturbations_entry.get("names", [])).ravel()
    single = str_array(perturbations_entry.get("targets", names)).ravel()
    if "target_genes" in perturbations_entry and "target_offsets" in perturbations_entry:
        flat = str_array(perturbations_entry["target_genes"]).ravel()
        off = np.asarray(perturbations_entry["target_offsets"], dtype=np.int64).ravel()
        if len(off) == len(names) + 1 and off[0] == 0 and off[-1] == len(flat) and np.all(np.diff(off) >= 0):
            return [flat[off[k] : off[k + 1]].tolist() for k in range(len(names))]
        msg = (
            "The 'perturbations' entry of adata.uns['hyperperturb'] has inconsistent target_genes/target_offsets. "
            "Re-run `hp.pp.perturbations(adata, key=..., control=...)`."
        )
        raise ValueError(msg)
    return [[str(t)] for t in single]
