"""The argument parser and the entry point of the ``hyperperturb`` command."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence

from ._common import PROG, _one_line, _version
from ._demo import cmd_demo, demo_args_problem
from ._info import cmd_info
from ._train import cmd_train


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low`` (a wrong value is a usage error, exit 2, before any work)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"must be an integer >= {low}, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if value < low:
            msg = f"must be an integer >= {low}, got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _unit_float(text: str) -> float:
    """An argparse ``type``: a number in [0, 1] (STRING-style edge weights)."""
    try:
        value = float(text)
    except ValueError:
        msg = f"must be a number in [0, 1], got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        msg = f"must be a number in [0, 1] (edge weights are scaled to [0, 1]), got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hyperperturb`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="only print errors")
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Hyperbolic graph neural networks for single-cell CRISPR perturbation screens.",
        epilog=f"Run '{PROG} <command> --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--quiet", "-q", action="store_true", help="only print errors")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the whole pipeline on a built-in synthetic screen",
        description="Simulate a screen (RNA + protein), preprocess, build the network, compute rewards, train and plot.",
    )
    p.add_argument("--out", default="hyperperturb_demo", help="output folder (default: ./hyperperturb_demo)")
    p.add_argument("--epochs", type=_int_at_least(1), default=40, help="training epochs (default: 40)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    p.add_argument("--cells", type=_int_at_least(1), default=1500, help="simulated cells (default: 1500)")
    p.add_argument("--genes", type=_int_at_least(2), default=120, help="simulated genes (default: 120)")
    p.add_argument("--perturbations", type=_int_at_least(1), default=12, help="simulated knockouts (default: 12)")
    p.add_argument("--strict", action="store_true", help="exit 1 if an available stage fails")
    p.add_argument("--force", action="store_true", help="overwrite the demo's files in an existing --out folder")
    p.add_argument(
        "--full-preprocess",
        action="store_true",
        help="also build scanpy's kNN cell graph in hp.pp.preprocess (unused by the model; slower)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train on your own screen (.h5ad/.h5mu)",
        description="preprocess -> perturbations -> gene network -> rewards -> train, then write the result.",
    )
    p.add_argument("input", help="input .h5ad (raw counts) or .h5mu")
    p.add_argument("--perturbation-key", required=True, help="obs column with perturbation labels")
    p.add_argument("--control", required=True, action="append", help="control label (repeat for several)")
    p.add_argument("--ignore", action="append", default=[], help="label to drop, e.g. 'multiple' (repeatable)")
    p.add_argument("--network", default="coexpression", help="network file (STRING links, edge list) or 'coexpression'")
    p.add_argument("--min-weight", type=_unit_float, default=None, help="drop network edges below this weight")
    p.add_argument("--hops", type=int, choices=(1, 2), default=1, help="network neighbourhood (default: 1)")
    p.add_argument("--epochs", type=_int_at_least(1), default=200, help="training epochs (default: 200)")
    p.add_argument("--dim", type=_int_at_least(2), default=2, help="embedding dimension (default: 2)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    p.add_argument("--mod", default="rna", help="RNA modality of a .h5mu (default: rna)")
    p.add_argument("--out", required=True, help="output .h5ad (.h5mu for MuData input); never the input file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out (and --plots files)")
    p.add_argument("--plots", default=None, help="folder for poincare.png, rewards.png, history.png")
    p.add_argument("--no-preprocess", action="store_true", help="input is already normalised and log-transformed")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "info",
        parents=[common],
        help="show what hyperperturb stored in a file",
        description="Print a short summary of the hyperperturb results in a file (at most 40 lines): the headline numbers "
        "of each step, stale results, the top perturbations of the most sensitive genes. --full prints everything.",
    )
    p.add_argument("input", help=".h5ad or .h5mu file")
    p.add_argument("--mod", default="rna", help="RNA modality of a .h5mu (default: rna)")
    p.add_argument("--full", action="store_true", help="print every ledger entry, parameter and array shape")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hyperperturb`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    if args.command == "demo" and (problem := demo_args_problem(args)) is not None:
        print(f"{PROG} demo: error: {problem}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning, module="mudata")
    from hyperperturb._utils._log import override_verbosity

    # --quiet: errors only (verbosity 0); otherwise warnings and the steps' info lines (verbosity 2)
    level = 0 if args.quiet else 2
    try:
        with override_verbosity(level):
            return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the command reports every error as one line
        if args.debug:
            traceback.print_exc()
        else:
            print(f"{PROG} {args.command}: error: {_one_line(e)} (run with --debug for the traceback)", file=sys.stderr)
        return 1
