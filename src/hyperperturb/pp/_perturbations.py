"""``hp.pp.perturbations``: the one-hot perturbation design of a screen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import array_digest, atomic_write, logger, record, resolve
from hyperperturb._utils._warn import warn

_STEP = "perturbations"


def _labels_for(adata: AnnData, data: Any, key: str, mod: str | None) -> pd.Series:
    """The perturbation column for the cells of ``adata`` (looked up in the modality, then in a MuData's ``.obs``)."""
    if key in adata.obs.columns:
        return adata.obs[key]
    if mod is not None:
        for col in (key, f"{mod}:{key}"):
            if col in data.obs.columns:
                return data.obs[col].reindex(adata.obs_names)
    cols = list(adata.obs.columns)
    if mod is not None:
        cols = cols + [c for c in data.obs.columns if c not in cols]
    msg = (
        f"Column {key!r} not found in obs; obs columns are {cols}. "
        "Pass the column holding the perturbation label of each cell as `key=`."
    )
    raise KeyError(msg)


def _as_str_labels(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """String labels (``""`` where missing) and the missing mask, vectorised (works for int/categorical/str)."""
    missing = col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.asarray(col.cat.categories.astype(str), dtype=object)
        codes = col.cat.codes.to_numpy()
        out = np.where(codes >= 0, cats[np.maximum(codes, 0)] if len(cats) else "", "")
        return out.astype(object), missing
    vals = col.astype(object).to_numpy()
    out = np.empty(len(vals), dtype=object)
    out[~missing] = pd.Series(vals[~missing]).astype(str).to_numpy()
    out[missing] = ""
    return out, missing


#: String labels that mean "no label" (treated like NaN: excluded, counted in ``n_missing``).
_MISSING_LABELS = frozenset({"", "nan", "none", "na", "n/a", "null", "<na>"})
#: Labels that usually mark cells without a clean assignment (warned about unless ignored or control).
_UNASSIGNED_WORDS = ("multiple", "multiplet", "unassigned", "doublet", "ambiguous", "undetermined", "unknown",
                     "no_guide", "no guide", "noguide", "blank", "negative")  # fmt: skip


def _clean_labels(
    labels: np.ndarray, missing: np.ndarray, *, key: str, controls: list[str], ignore: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Label hygiene; returns new arrays (the inputs are not modified).

    Trims whitespace, treats "nan"/"" as missing, warns about case-variants of the control and labels that look
    like unassigned cells.
    """
    labels = labels.copy()
    missing = missing.copy()
    uniq, inv = np.unique(labels.astype(str), return_inverse=True)
    stripped = np.asarray([u.strip() for u in uniq], dtype=object)
    changed = [u for u, v in zip(uniq, stripped, strict=True) if u != v and v not in _MISSING_LABELS]
    if changed:
        warn(
            f"{len(changed)} label(s) in obs[{key!r}] have surrounding whitespace (e.g. {changed[:3]}); they are "
            "trimmed (' STAT1 ' is the perturbation 'STAT1').",
            UserWarning,
        )
    labels = stripped[inv].astype(object)
    as_missing = np.asarray([v.lower() in _MISSING_LABELS for v in stripped])[inv] & ~missing
    if as_missing.any():
        shown = sorted({str(uniq[i]) for i in np.unique(inv[as_missing])})[:5]
        warn(
            f"{int(as_missing.sum())} cell(s) in obs[{key!r}] have an empty or missing-value label ({shown}); they "
            "are treated as unlabelled (excluded from the design, counted in n_missing).",
            UserWarning,
        )
        missing = missing | as_missing
        labels[as_missing] = ""
    present = {str(v) for v in np.unique(labels[~missing])}
    ctrl_fold = {c.casefold(): c for c in controls}
    variants = sorted(v for v in present if v.casefold() in ctrl_fold and v not in controls and v not in ignore)
    if variants:
        warn(
            f"Label(s) {variants} in obs[{key!r}] differ from the control {[ctrl_fold[v.casefold()] for v in variants]} "
            "only in letter case; they are treated as perturbations. Add them to `control=` (or `ignore=`) if they "
            "are controls.",
            UserWarning,
        )
    odd = sorted(
        v
        for v in present
        if v not in controls and v not in ignore and any(w in v.casefold() for w in _UNASSIGNED_WORDS)
    )
    if odd:
        warn(
            f"Label(s) {odd[:10]} in obs[{key!r}] look like cells without a clean guide assignment; they are treated "
            f"as perturbations. Pass `ignore={odd[:3]}` to exclude them.",
            UserWarning,
        )
    return labels, missing


def _target_sets(
    names: np.ndarray, tmap: dict[str, str], *, sep: str | None, controls: list[str]
) -> tuple[np.ndarray, list[list[str]], np.ndarray]:
    """Single target per perturbation (the label itself for a combination), all target genes, combination flags."""
    single, sets, combo = [], [], []
    for n in map(str, names):
        if sep and sep in n:
            parts = [x.strip() for x in n.split(sep)]
            genes = [tmap.get(x, x) for x in parts if x and x not in controls]
            genes = list(dict.fromkeys(genes))
            if len(genes) == 1:  # e.g. "STAT1+ctrl": a single-gene perturbation
                single.append(genes[0])
                sets.append(genes)
                combo.append(False)
                continue
            single.append(tmap.get(n, n))
            sets.append(genes)
            combo.append(True)
        else:
            g = tmap.get(n, n)
            single.append(g)
            sets.append([g])
            combo.append(False)
    return np.asarray(single, dtype=object), sets, np.asarray(combo, dtype=bool)


def _only_controls(label: str, sep: str, controls: list[str]) -> bool:
    """Whether a combined label is made of control labels only (at least one; empty parts aside)."""
    parts = [x.strip() for x in label.split(sep) if x.strip()] if sep in label else []
    return bool(parts) and all(x in controls for x in parts)


def _as_list(x: str | int | Sequence[Any] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str | int | np.integer | float):
        return [str(x)]
    return [str(v) for v in x]


def _design(
    labels: np.ndarray,
    missing: np.ndarray,
    *,
    key: str,
    controls: list[str],
    ignore: list[str],
    min_cells: int,
    targets: Mapping[str, str] | None,
    sep: str | None = None,
) -> dict[str, Any]:
    """Validate the labels and build the design (pure: nothing is written)."""
    labels, missing = _clean_labels(labels, missing, key=key, controls=controls, ignore=ignore)
    cat = pd.Categorical(labels[~missing])
    counts = pd.Series(np.bincount(cat.codes, minlength=len(cat.categories)), index=cat.categories.astype(str))
    seen = counts.index.tolist()
    if sep:  # "non-targeting+non-targeting" (a double control guide) is a control cell, not a perturbation
        doubled = [c for c in seen if c not in controls and _only_controls(c, sep, controls)]
        controls = [*controls, *doubled]
    absent = [c for c in controls if c not in counts.index]
    if len(absent) == len(controls):
        shown = sorted(seen)[:30]
        more = f" (and {len(seen) - 30} more)" if len(seen) > 30 else ""
        msg = (
            f"No control cells: obs[{key!r}] has no value {controls[0] if len(controls) == 1 else controls}; "
            f"values are: {shown}{more}. Pass the label(s) of the control cells as `control=` "
            "(several allowed, e.g. control=['non-targeting', 'safe-targeting'])."
        )
        raise ValueError(msg)
    if absent:
        warn(
            f"Control label(s) {absent} do not occur in obs[{key!r}]; using {[c for c in controls if c not in absent]}.",
            UserWarning,
        )
    is_control = np.isin(labels, controls) & ~missing
    # disjoint counts: n_ignored are the cells labelled in `ignore`, n_missing the unlabelled ones
    is_ignored = np.isin(labels, ignore) & ~missing
    perturbed = ~is_control & ~is_ignored & ~missing
    names = np.asarray(sorted(c for c in seen if c not in controls and c not in ignore), dtype=object)
    if len(names) == 0:
        msg = (
            f"No perturbed cells: every labelled cell in obs[{key!r}] is a control ({controls}) or ignored ({ignore}). "
            "Check `control=` and `ignore=`; a screen needs cells with at least one perturbation."
        )
        raise ValueError(msg)
    n_cells = counts.reindex(names).to_numpy().astype(np.int64)
    small = names[n_cells < min_cells]
    if len(small):
        detail = ", ".join(f"{n} ({c})" for n, c in zip(small[:20], n_cells[n_cells < min_cells][:20], strict=False))
        msg = (
            f"{len(small)} perturbation(s) have fewer than min_cells={min_cells} cells: {detail}. "
            f"Exclude them with `ignore={list(map(str, small[:5]))}` (plus any others) or lower `min_cells=`."
        )
        raise ValueError(msg)
    # vectorised one-hot: categorical codes of the perturbed cells -> CSR rows with at most one entry
    codes = pd.Categorical(labels, categories=names).codes.astype(np.int64)
    codes[~perturbed] = -1
    has = codes >= 0
    indptr = np.concatenate([[0], np.cumsum(has)]).astype(np.int64)
    onehot = sparse.csr_matrix(
        (np.ones(int(has.sum()), dtype=np.float32), codes[has].astype(np.int32), indptr),
        shape=(len(labels), len(names)),
    )
    targets = dict(targets or {})
    unknown = [k for k in targets if str(k) not in set(names) and str(k) not in controls and str(k) not in ignore]
    if unknown:
        warn(
            f"`targets=` has labels that are not perturbations in obs[{key!r}]: {unknown[:10]}; they are unused.",
            UserWarning,
        )
    tmap = {str(k): str(v) for k, v in targets.items()}
    target_genes, sets, combo = _target_sets(names, tmap, sep=sep, controls=controls)
    empty = [str(n) for n, genes in zip(names, sets, strict=True) if not genes]
    if empty:
        msg = (
            f"{len(empty)} perturbation label(s) in obs[{key!r}] name no target gene once split at sep={sep!r}: "
            f"{empty[:10]}. Exclude them with `ignore={empty[:5]}`, or map them to a gene with `targets=`."
        )
        raise ValueError(msg)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in sets])]).astype(np.int64)
    flat = np.asarray([g for x in sets for g in x], dtype=object)
    return {
        "target_genes": flat.astype(str),
        "target_offsets": offsets,
        "combination": combo,
        "onehot": onehot,
        "is_control": is_control,
        "names": names.astype(str),
        "targets": target_genes.astype(str),
        "n_cells": n_cells,
        "n_control": int(is_control.sum()),
        "n_ignored": int(is_ignored.sum()),
        "n_missing": int(missing.sum()),
        "control": [c for c in controls if c not in absent],
    }


def perturbations(
    data: AnnData | Any,
    key: str = "perturbation",
    control: str | Sequence[str] = "non-targeting",
    *,
    ignore: str | Sequence[str] | None = None,
    min_cells: int = 1,
    targets: Mapping[str, str] | None = None,
    sep: str | None = None,
    mod: str = "rna",
    copy: bool = False,
) -> AnnData | Any | None:
    """Build the one-hot perturbation design of a CRISPR screen.

    Every cell gets the perturbation named in ``obs[key]``; cells labelled ``control`` are the reference, cells
    whose label is in ``ignore`` (e.g. ``"multiple"`` for cells with several guides) or missing (NaN) are kept
    in the object but excluded from the design.

    Label hygiene (with a warning each): surrounding whitespace is trimmed; ``""``, ``"nan"``, ``"None"``,
    ``"NA"`` count as missing; labels that differ from a control only in letter case, and labels that look like
    unassigned cells (``multiple``, ``unassigned``, ``doublet``, ...) stay perturbations but are reported.

    Parameters
    ----------
    data
        AnnData, or MuData with the RNA modality ``mod``. Labels may be strings, integers or categoricals; they
        are compared as strings (``control=0`` matches the integer label ``0``).
    key
        Column of ``.obs`` with the perturbation label of each cell. For a MuData it is looked up in the
        modality's ``.obs``, then in the MuData's ``.obs`` (``key`` or ``"{mod}:{key}"``).
    control
        Label(s) of control cells, e.g. ``["non-targeting", "safe-targeting"]``.
    ignore
        Label(s) of cells to exclude (all-zero rows, counted in ``n_ignored``), e.g. ``"multiple"``. Cells without
        a label (NaN, ``""``, ``"nan"``, ...) are excluded too, and counted in ``n_missing`` instead.
    min_cells
        Minimum number of cells per perturbation; fewer raises a :class:`ValueError` naming them.
    targets
        Mapping label → target gene, for labels that are not gene symbols (e.g. ``{"PDL1": "CD274"}``).
        Labels not in the mapping target the gene of the same name.
    sep
        Separator of combinatorial labels (default ``None``: off; ``"+"`` for Norman 2019-style ``"CEBPA+KLF1"``).
        A combination stays its own perturbation (its own design column and rewards), and all its target genes
        are recorded (``target_genes``/``target_offsets`` in the ledger). Parts equal to a control label are
        dropped (``"KLF1+ctrl"`` targets ``KLF1``); a label made of control parts only (``"ctrl+ctrl"``, a
        double control guide) marks control cells and is recorded among the control labels; a label with no part
        left (``"+"``) is refused. ``targets=`` maps parts too.
    mod
        RNA modality of a MuData.
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Writes:

    ``.obsm["perturbation_target"]``
        :class:`scipy.sparse.csr_matrix` (float32), cells × perturbations; one 1 per perturbed cell, control,
        ignored and unlabelled rows all zero.
    ``.obs["hp_control"]``
        Boolean, ``True`` for control cells.
    ``.uns["hyperperturb"]["perturbations"]``
        ``names`` (column order of the design: perturbation labels sorted as strings), ``targets`` (one gene per
        perturbation; a combination's own label), ``target_genes`` + ``target_offsets`` (all target genes:
        those of perturbation ``k`` are ``target_genes[target_offsets[k]:target_offsets[k + 1]]``),
        ``combination`` (bool per perturbation),
        ``n_cells``, ``control`` (list), ``key``, ``n_control``, ``n_ignored`` (cells whose label is in
        ``ignore``), ``n_missing`` (unlabelled cells; disjoint from ``n_ignored``, so control, perturbed, ignored
        and unlabelled cells add up to ``n_obs``) and ``params``.

    For a MuData, every modality whose cells are all RNA cells (same or different order) gets the same
    annotations, re-indexed to its own cells.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> adata = hp.datasets.synthetic_screen()  # doctest: +SKIP
    >>> hp.pp.perturbations(adata, key="perturbation", control="non-targeting", ignore="multiple")  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    controls = _as_list(control)
    if not controls:
        msg = "`control=` is empty. Pass the label(s) of the control cells, e.g. control='non-targeting'."
        raise ValueError(msg)
    ignored = _as_list(ignore)
    both = sorted(set(controls) & set(ignored))
    if both:
        msg = f"Label(s) {both} are both in `control=` and `ignore=`; remove them from one of the two."
        raise ValueError(msg)
    if not isinstance(min_cells, int | np.integer) or min_cells < 1:
        msg = f"`min_cells` must be a positive integer, got {min_cells!r}."
        raise ValueError(msg)
    if targets is not None and not isinstance(targets, Mapping):
        msg = f"`targets` must be a mapping label -> target gene (e.g. a dict), got {type(targets).__name__}."
        raise TypeError(msg)
    col = _labels_for(t.adata, t.data, key, t.mod)
    labels, missing = _as_str_labels(col)
    if sep is not None and (not isinstance(sep, str) or not sep.strip()):
        msg = f"`sep` must be a non-empty string such as '+' (or None), got {sep!r}."
        raise ValueError(msg)
    d = _design(
        labels,
        missing,
        key=key,
        controls=controls,
        ignore=ignored,
        min_cells=int(min_cells),
        targets=targets,
        sep=sep,
    )
    if d["n_missing"]:
        warn(
            f"{d['n_missing']} cell(s) have no label in obs[{key!r}] (NaN or empty); they are excluded from the design "
            "(all-zero rows) and counted in n_missing (not in n_ignored).",
            UserWarning,
        )

    # modalities to annotate (MuData): those whose cells are all RNA cells
    others: list[str] = []
    if t.mod is not None:
        rna_names = t.adata.obs_names
        for name, m in t.data.mod.items():
            if name != t.mod and m.n_obs and m.obs_names.isin(rna_names).all() and rna_names.is_unique:
                others.append(name)

    entry = {
        "key": key,
        "control": d["control"],
        "names": d["names"],
        "targets": d["targets"],
        "target_genes": d["target_genes"],
        "target_offsets": d["target_offsets"],
        "combination": d["combination"],
        "n_cells": d["n_cells"],
        "n_control": d["n_control"],
        "n_ignored": d["n_ignored"],
        "n_missing": d["n_missing"],
        "checksum": array_digest(d["onehot"], d["is_control"]),
        "params": {
            "key": key,
            "control": controls,
            "ignore": ignored,
            "min_cells": int(min_cells),
            # two arrays, not a dict: a label is no safe .h5ad key ('/' in "G007/sg1" would nest groups)
            "targets": {
                "labels": np.asarray([str(k) for k in (targets or {})], dtype=str),
                "genes": np.asarray([str(v) for v in (targets or {}).values()], dtype=str),
            },
            "sep": sep,
            "mod": mod,
        },
    }

    if copy:
        t = t.copy()
    adata = t.adata
    # all-or-nothing: a failure (even Ctrl-C) in any write undoes the writes to every modality
    with ExitStack() as stack:
        stack.enter_context(atomic_write(adata))
        for name in others:
            stack.enter_context(atomic_write(t.data.mod[name]))
        adata.obsm["perturbation_target"] = d["onehot"]
        adata.obs["hp_control"] = d["is_control"]
        record(adata, _STEP, entry)
        if t.mod is not None:
            pos = pd.Index(adata.obs_names)
            for name in others:
                m = t.data.mod[name]
                idx = pos.get_indexer(m.obs_names)
                m.obsm["perturbation_target"] = d["onehot"][idx]
                m.obs["hp_control"] = d["is_control"][idx]
                record(m, _STEP, {**entry, "n_control": int(d["is_control"][idx].sum())})
    logger.info(
        "perturbations: %d perturbations, %d control cells, %d perturbed cells, %d ignored",
        len(d["names"]),
        d["n_control"],
        int(d["n_cells"].sum()),
        d["n_ignored"],
    )
    return t.done(copy)
