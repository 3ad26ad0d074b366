"""The ``.uns['hyperperturb']`` ledger: what ran, with which parameters, and its small results."""

from __future__ import annotations

import platform
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any

from anndata import AnnData

from ._validate import sanitize_for_h5ad

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
        warnings.warn(
            f"adata.uns[{LEDGER_KEY!r}] was written by hyperperturb {stored}, newer than the installed "
            f"{_package_version()}; stored results may not be read correctly. Upgrade hyperperturb.",
            UserWarning,
            stacklevel=3,
        )
    return led


def record(adata: AnnData, step: str, entry: dict[str, Any]) -> None:
    """Store ``entry`` under ``adata.uns['hyperperturb'][step]`` (h5ad-safe) and stamp the package version."""
    led = adata.uns.get(LEDGER_KEY)
    if not isinstance(led, dict):
        led = {}
    led = dict(led)
    led[step] = sanitize_for_h5ad(entry)
    led["version"] = _package_version()
    adata.uns[LEDGER_KEY] = led


def require_step(adata: AnnData, step: str, *, needed_by: str) -> dict[str, Any]:
    """Return the ledger entry ``step`` or raise a :class:`KeyError` telling which function to run first."""
    led = get_ledger(adata)
    how = _PRODUCERS.get(step, step)
    if step not in led:
        msg = f"{needed_by} needs the results of `{how.split('(')[0]}`, which has not been run on this object. Run `{how}` first."
        raise KeyError(msg)
    entry = led[step]
    missing = [k for k in _REQUIRED.get(step, ()) if not isinstance(entry, dict) or k not in entry]
    if missing:
        msg = (
            f"{needed_by}: the {step!r} entry of adata.uns[{LEDGER_KEY!r}] lacks {missing} (written by an older or "
            f"different hyperperturb, version {led.get('version', 'unknown')}, or edited by hand). Re-run `{how}`."
        )
        raise KeyError(msg)
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
