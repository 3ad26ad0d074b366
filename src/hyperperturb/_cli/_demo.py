"""``hyperperturb demo``: the whole pipeline on the built-in synthetic screen."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import (
    PROG,
    CLIError,
    _align_modalities,
    _bars,
    _import_tensorflow_quietly,
    _one_line,
    _say,
    _version,
    _write,
)
from ._plots import _save_plots, _summary_lines

#: Proteins the demo's screen reads out (fewer when it has fewer genes: each protein reads out one gene).
DEMO_PROTEINS = 8


def _simulate(synthetic: Callable[..., Any], args: argparse.Namespace) -> Any:
    """The demo's screen (RNA + protein) at the command line's sizes."""
    return synthetic(
        n_cells=args.cells,
        n_genes=args.genes,
        n_perturbations=args.perturbations,
        protein=True,
        n_proteins=min(DEMO_PROTEINS, args.genes),
        seed=args.seed,
    )


def demo_args_problem(args: argparse.Namespace) -> str | None:
    """Why ``--cells/--genes/--perturbations`` cannot make a screen (a usage error before any file is written).

    Simulates the screen (the demo's first stage, a second at the default size) and keeps it in ``args`` for
    :func:`cmd_demo`: :func:`hyperperturb.datasets.synthetic` names every impossible setting.
    """
    from hyperperturb.datasets import synthetic

    try:
        args.screen = _simulate(synthetic, args)
    except (TypeError, ValueError) as e:
        flags = {"n_cells": "--cells", "n_genes": "--genes", "n_perturbations": "--perturbations"}
        text = str(e)
        for name, flag in flags.items():
            text = text.replace(f"{name}=", f"{flag} ").replace(name, flag)
        return text
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the whole pipeline on the built-in synthetic screen."""
    import hyperperturb as hp
    from hyperperturb._utils._files import check_writable_dir, write_atomic

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        msg = f"--out {str(out)!r} is a file; the demo writes a folder. Choose a folder path."
        raise CLIError(msg)
    ours = ["demo.h5ad", "demo.h5mu", "summary.txt", "poincare.png", "rewards.png", "history.png"]
    existing = [n for n in ours if (out / n).exists()]
    if existing and not getattr(args, "force", False):
        msg = f"--out {str(out)!r} already holds {existing}; pass --force to overwrite them, or choose another folder."
        raise CLIError(msg)
    out.mkdir(parents=True, exist_ok=True)
    try:
        check_writable_dir(out, what="--out folder")
    except OSError as e:
        raise CLIError(str(e)) from e
    for name in existing:  # --force: the demo's own files of an earlier run go, so none outlives a failed stage
        (out / name).unlink()
    verbose = _bars(args)
    say = lambda *p: _say(args, *p)
    say(f"hyperperturb {_version()} demo -> {out}")
    state: dict[str, Any] = {"data": None}

    def generate() -> None:
        screen = getattr(args, "screen", None)  # simulated when the command line was checked (demo_args_problem)
        state["data"] = screen if screen is not None else _simulate(hp.datasets.synthetic, args)

    def preprocess() -> None:
        data = state["data"]
        # scanpy's kNN cell graph (~30 s of numba compilation on first use) is not needed by the model:
        # skipped unless --full-preprocess
        hp.pp.preprocess(
            data,
            perturbation_key="perturbation",
            n_top_genes=args.genes,
            seed=args.seed,
            neighbors=bool(args.full_preprocess),
        )
        _align_modalities(data)
        state["preprocess"] = "hp.pp.preprocess" + (" (with the cell kNN graph)" if args.full_preprocess else "")

    def perturbations() -> None:
        hp.pp.perturbations(state["data"], key="perturbation", control="non-targeting")

    def network() -> None:
        data = state["data"]
        net = hp.datasets.truth_network(data, noise_edges=0.2, drop_edges=0.1, seed=args.seed)
        state["network_source"] = "truth network of the synthetic screen (20% false edges added, 10% dropped)"
        hp.pp.gene_network(data, net)

    def rewards() -> None:
        hp.tl.rewards(state["data"], verbose=verbose)

    def train() -> None:
        _import_tensorflow_quietly()
        hp.tl.train(state["data"], epochs=args.epochs, seed=args.seed, verbose=verbose)

    stages: list[tuple[str, Callable[[], None]]] = [
        ("generate (hp.datasets.synthetic)", generate),
        ("preprocess (hp.pp.preprocess)", preprocess),
        ("perturbations (hp.pp.perturbations)", perturbations),
        ("network (hp.pp.gene_network)", network),
        ("rewards (hp.tl.rewards)", rewards),
        ("train (hp.tl.train)", train),
    ]
    # stages that later ones cannot do without
    required = {"generate", "perturbations", "rewards", "train"}
    report = []
    blocked = None
    t_all = time.perf_counter()
    for name, fn in stages:
        st: dict[str, Any] = {"name": name, "status": "pending", "seconds": 0.0}
        report.append(st)
        short = name.split()[0]
        if blocked is not None:
            st["status"] = f"skipped ({blocked} did not run)"
            continue
        say(f"- {name} ...")
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:
            if args.debug:
                raise
            st["status"] = f"failed: {_one_line(e)}"
            print(f"{PROG} demo: stage {short} failed: {_one_line(e)}", file=sys.stderr)
            if short in required:
                blocked = short
            continue
        st["status"] = "ok"
        st["seconds"] = time.perf_counter() - t0
    written = []
    data = state["data"]
    if data is not None:
        fname = "demo.h5mu" if hasattr(data, "mod") else "demo.h5ad"
        try:
            written.append(_write(data, out / fname))
            say(f"  wrote {written[-1]}")
        except Exception as e:
            if args.debug:
                raise
            report.append({"name": "write", "status": f"failed: {_one_line(e)}", "seconds": 0.0})
            print(f"{PROG} demo: writing {fname} failed: {_one_line(e)}", file=sys.stderr)
        try:
            written += _save_plots(data, out, say=say)
        except Exception as e:
            if args.debug:
                raise
            report.append({"name": "plots", "status": f"failed: {_one_line(e)}", "seconds": 0.0})
            print(f"{PROG} demo: plotting failed: {_one_line(e)}", file=sys.stderr)
    lines = [f"hyperperturb {_version()} demo (seed {args.seed}, {args.epochs} epochs)", ""]
    lines += ["Stages:"] + [
        f"  {st['name']:<40s} {st['status']}" + (f" ({st['seconds']:.1f} s)" if st["status"] == "ok" else "")
        for st in report
    ]
    if "preprocess" in state:
        lines.append(f"  preprocessing: {state['preprocess']}")
    if "network_source" in state:
        lines.append(f"  network: {state['network_source']}")
    lines.append("")
    if data is not None:
        try:
            lines += _summary_lines(data)
        except Exception as e:
            if args.debug:
                raise
            lines.append(f"(summary failed: {_one_line(e)})")
    summary = out / "summary.txt"
    write_atomic(summary, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    written.append(summary)
    say(f"  wrote {summary}")
    failed = [st["name"] for st in report if st["status"].startswith("failed")]
    say(f"done in {time.perf_counter() - t_all:.1f} s; wrote {len(written)} files to {out}")
    if failed and args.strict:
        msg = "demo stages failed: " + ", ".join(failed)
        raise CLIError(msg)
    return 0
