"""What every subcommand shares: one-line errors, messages, reading and writing files, the quiet TensorFlow import."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "hyperperturb"


class CLIError(Exception):
    """A user error reported as one line (no traceback)."""


def _say(args: argparse.Namespace, *parts: Any) -> None:
    if not getattr(args, "quiet", False):
        print(*parts, flush=True)


def _one_line(e: BaseException) -> str:
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    text = " ".join(str(text).split())
    name = "" if isinstance(e, CLIError) else f"{type(e).__name__}: "
    return f"{name}{text}"


def _version() -> str:
    # from the installed metadata: importing the package here would make `--help` slow
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hyperperturb")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


#: Environment variable that sets TensorFlow's C++ log level; the command sets it to "2" unless the user did.
def _import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up lines on stderr (:func:`~hyperperturb._utils._quiet.quiet_tensorflow_start`).

    Nothing is imported when the user set ``TF_CPP_MIN_LOG_LEVEL`` to 0 or 1 (they asked for TensorFlow's own
    logging; ``hp.tl.train`` imports it then); an import error is left to ``hp.tl.train`` to report.
    """
    from hyperperturb._utils._quiet import quiet_tensorflow_start, wants_tensorflow_logs

    if wants_tensorflow_logs() or "tensorflow" in sys.modules:
        return
    try:
        with quiet_tensorflow_start():
            import tensorflow as tf

            tf.config.list_physical_devices()
    except ImportError:
        pass  # reported by hp.tl.train with its own message


# ---------------------------------------------------------------------------------------------------------------------
# reading and writing


def _read(path: str, *, what: str = "input") -> Any:
    p = Path(path)
    if not p.exists():
        msg = f"{what} file {str(p)!r} does not exist; check the path."
        raise CLIError(msg)
    if p.is_dir():
        msg = f"{what} {str(p)!r} is a directory; pass an .h5ad or .h5mu file."
        raise CLIError(msg)
    suffix = p.suffix.lower()
    try:
        if suffix == ".h5mu":
            import mudata

            return mudata.read_h5mu(p)
        if suffix == ".h5ad":
            import anndata

            return anndata.read_h5ad(p)
    except (OSError, KeyError, ValueError, TypeError) as e:  # TypeError: an HDF5 file that is not an AnnData
        kind = "a MuData" if suffix == ".h5mu" else "an AnnData"
        msg = (
            f"cannot read {str(p)!r} as {suffix[1:]}: {_one_line(e)}. Is it {kind} written by "
            f"{'mudata' if suffix == '.h5mu' else 'anndata/scanpy'} (not another kind of HDF5 file)?"
        )
        raise CLIError(msg) from e
    msg = f"{what} file {str(p)!r} must end in .h5ad (AnnData) or .h5mu (MuData)."
    raise CLIError(msg)


def _out_path(data_is_mudata: bool, path: Path) -> Path:
    """The file a result is written to (a MuData always gets ``.h5mu``)."""
    if data_is_mudata and path.suffix.lower() != ".h5mu":
        return path.with_suffix(".h5mu")
    return path


def _write(data: Any, path: Path) -> Path:
    """Write ``data`` atomically: a temporary file in the same folder renamed onto ``path`` only when complete."""
    from hyperperturb._utils import is_mudata
    from hyperperturb._utils._files import write_atomic

    mu = is_mudata(data)
    path = _out_path(mu, path)
    return write_atomic(path, (lambda tmp: data.write(tmp)) if mu else (lambda tmp: data.write_h5ad(tmp)))


def _check_out(path: Path, *, inputs: Sequence[str] = (), force: bool = False, flag: str = "--out") -> None:
    """Refuse --out equal to an input or existing without --force; check the folder is writable (before any work)."""
    from hyperperturb._utils._files import check_output_file

    try:
        check_output_file(path, inputs=inputs, force=force, flag=flag)
    except OSError as e:
        raise CLIError(str(e)) from e


def _rna(data: Any, mod: str = "rna") -> Any:
    from hyperperturb._utils import resolve

    return resolve(data, mod=mod).adata


def _align_modalities(data: Any) -> None:
    """After RNA-only filtering, keep the cells that every modality of a MuData still has."""
    from hyperperturb._utils import is_mudata

    if not is_mudata(data) or len(data.mod) < 2:
        return
    common: Any = None
    for m in data.mod.values():
        common = m.obs_names if common is None else common.intersection(m.obs_names, sort=False)
    for name, m in list(data.mod.items()):
        if m.n_obs != len(common) or not m.obs_names.equals(common):
            data.mod[name] = m[common].copy()
    from hyperperturb._utils._data import update_mudata

    update_mudata(data)


def _bars(args: argparse.Namespace) -> bool:
    """Progress bars only without --quiet and when stderr is a terminal (never in log files)."""
    from hyperperturb._utils._log import show_progress

    return not args.quiet and show_progress(True)
