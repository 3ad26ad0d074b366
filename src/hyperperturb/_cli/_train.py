"""``hyperperturb train``: preprocess, design, network, rewards and training on a user's file."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    CLIError,
    _align_modalities,
    _bars,
    _check_out,
    _import_tensorflow_quietly,
    _out_path,
    _read,
    _rna,
    _say,
    _write,
)
from ._plots import _save_plots


def _check_controls(adata: Any, key: str, controls: Sequence[str]) -> None:
    """Every ``--control`` label must be a value of ``obs[key]`` (checked before any long work)."""
    values = adata.obs[key].astype(str).str.strip()
    present = set(values.unique())
    missing = [c for c in controls if str(c).strip() not in present]
    if missing:
        counts = values.value_counts()
        shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(15).items())
        close = [v for v in counts.index if any(m.strip().lower() in v.lower() for m in missing)][:5]
        hint = f" Did you mean {close}?" if close else ""
        msg = (
            f"No control cells: --control {', '.join(map(repr, missing))} is not a value of obs[{key!r}] "
            "(--perturbation-key); "
            f"values (cells) are: {shown}{' ...' if len(counts) > 15 else ''}.{hint}"
        )
        raise CLIError(msg)


def _check_counts(adata: Any) -> None:
    """Refuse to re-normalise: X with negative or non-integer values is already normalised."""
    from scipy import sparse

    X = adata.X
    block = X[: min(500, X.shape[0])]
    vals = block.data if sparse.issparse(block) else np.asarray(block).ravel()
    if vals.size and (vals.min() < 0 or not np.all(np.mod(vals, 1) == 0)):
        msg = (
            "the input's X has negative or non-integer values, so it looks already normalised and log-transformed; "
            "preprocessing it again would normalise it twice. Pass --no-preprocess to use X as it is "
            "(or give the raw counts)."
        )
        raise CLIError(msg)


def cmd_train(args: argparse.Namespace) -> int:
    """Preprocess, design, network, rewards and training on a user's file."""
    import hyperperturb as hp

    out = Path(args.out)
    if out.suffix.lower() not in (".h5ad", ".h5mu"):
        msg = f"--out {str(out)!r} must end in .h5ad (or .h5mu for MuData input)."
        raise CLIError(msg)
    if out.suffix.lower() == ".h5mu" and Path(args.input).suffix.lower() != ".h5mu":
        # an AnnData written under an .h5mu name is an h5ad file that mudata cannot read back
        msg = f"--out {str(out)!r} ends in .h5mu but the input is an AnnData (.h5ad): pass --out with .h5ad."
        raise CLIError(msg)
    if not out.parent.exists():
        msg = f"the folder of --out ({str(out.parent)!r}) does not exist; create it first."
        raise CLIError(msg)
    force = bool(getattr(args, "force", False))
    _check_out(out, inputs=[args.input], force=force)
    if Path(args.input).suffix.lower() == ".h5mu":  # a MuData is written as .h5mu whatever --out says
        _check_out(_out_path(True, out), inputs=[args.input], force=force)
    if args.plots:
        pdir = Path(args.plots)
        if pdir.exists() and not pdir.is_dir():
            msg = f"--plots {str(pdir)!r} is a file; pass a folder."
            raise CLIError(msg)
        taken = [n for n in ("poincare.png", "rewards.png", "history.png") if (pdir / n).exists()]
        if taken and not force:
            msg = f"--plots {str(pdir)!r} already holds {taken}; pass --force to overwrite them."
            raise CLIError(msg)
        probe = pdir if pdir.exists() else next((q for q in pdir.parents if q.exists()), Path("."))
        try:
            from hyperperturb._utils._files import check_writable_dir

            check_writable_dir(probe, what="--plots folder")
        except OSError as e:
            raise CLIError(str(e)) from e
    if args.network not in (None, "coexpression") and not Path(args.network).exists():
        msg = f"network file {args.network!r} does not exist; pass a file or 'coexpression'."
        raise CLIError(msg)
    data = _read(args.input)
    adata = _rna(data, args.mod)
    if args.perturbation_key not in adata.obs.columns:
        msg = (
            f"obs has no column {args.perturbation_key!r} (--perturbation-key); columns are "
            f"{list(adata.obs.columns)[:30]}."
        )
        raise CLIError(msg)
    _check_controls(adata, args.perturbation_key, args.control)
    if not args.no_preprocess:
        _check_counts(adata)
    verbose = _bars(args)
    say = lambda *p: _say(args, *p)
    t0 = time.perf_counter()
    if not args.no_preprocess:
        say("- preprocess (hp.pp.preprocess)")
        hp.pp.preprocess(data, perturbation_key=args.perturbation_key, seed=args.seed, neighbors=False)
        _align_modalities(data)
    say("- perturbations (hp.pp.perturbations)")
    hp.pp.perturbations(data, key=args.perturbation_key, control=args.control, ignore=args.ignore or None, mod=args.mod)
    net = args.network or "coexpression"
    say(f"- network (hp.pp.gene_network: {net})")
    kw: dict[str, Any] = {"hops": args.hops, "mod": args.mod}
    if args.min_weight is not None:
        kw["min_weight"] = args.min_weight
    hp.pp.gene_network(data, net, **kw)
    say("- rewards (hp.tl.rewards)")
    hp.tl.rewards(data, mod=args.mod, verbose=verbose)
    say(f"- train (hp.tl.train: {args.epochs} epochs, dim {args.dim})")
    _import_tensorflow_quietly()
    hp.tl.train(data, epochs=args.epochs, dim=args.dim, seed=args.seed, mod=args.mod, verbose=verbose)
    path = _write(data, out)
    say(f"  wrote {path}")
    if args.plots:
        pdir = Path(args.plots)
        pdir.mkdir(parents=True, exist_ok=True)
        _save_plots(data, pdir, say=say)
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
