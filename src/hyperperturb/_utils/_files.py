"""Files the command line writes: one atomic path (temp file in the same folder + rename) and output checks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_file", "check_output_file", "check_writable_dir", "write_atomic"]


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`SystemExit` (exit status 143) so that clean-up code runs.

    By default SIGTERM ends the process without unwinding, which would leave a hidden temporary file behind.
    Only the main thread can install signal handlers; elsewhere this does nothing.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if previous not in (signal.SIG_DFL, None):  # someone else handles SIGTERM: leave it to them
        yield
        return
    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_file(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``, on any error removed.

    The temporary file lives in the same folder (so the final :func:`os.replace` is atomic on POSIX and Windows)
    and keeps the suffix of ``path`` (writers such as ``write_h5ad`` look at it). A failure or ``KeyboardInterrupt``
    while writing leaves ``path`` exactly as it was (absent, or the previous complete file) and no temporary file;
    so does ``SIGTERM`` (turned into :class:`SystemExit` while writing, when nobody else handles it).

    Examples
    --------
    >>> with atomic_file("out.h5ad") as tmp:  # doctest: +SKIP
    ...     adata.write_h5ad(tmp)
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    sfx = path.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{sfx}", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # writers create the file themselves (h5py refuses some pre-existing empty files)
        with _sigterm_raises():
            yield tmp
        if not tmp.exists():
            msg = f"nothing was written to the temporary file for {str(path)!r}"
            raise OSError(msg)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - best effort clean-up
            pass
        raise


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp)`` on a temporary path next to ``path`` and rename it onto ``path`` (see :func:`atomic_file`)."""
    with atomic_file(path) as tmp:
        writer(tmp)
    return Path(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:  # pragma: no cover
        pass
    return a.resolve() == b.resolve()


def check_writable_dir(folder: str | os.PathLike, *, what: str = "output folder") -> None:
    """Raise :class:`PermissionError` if files cannot be created in ``folder`` (tested by creating one)."""
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"The {what} {str(folder)!r} does not exist or is not a folder; create it first."
        raise FileNotFoundError(msg)
    try:
        fd, name = tempfile.mkstemp(prefix=".hyperperturb-write-test.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        msg = f"Cannot write into the {what} {str(folder)!r} ({e.strerror or e}); choose a folder you can write to."
        raise PermissionError(msg) from e


def check_output_file(
    path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), force: bool = False, flag: str = "--out"
) -> Path:
    """Refuse an output that is one of the ``inputs``, or that exists without ``force``; check its folder is writable."""
    path = Path(path)
    for inp in inputs:
        if inp is not None and _same_file(path, Path(inp)):
            msg = (
                f"{flag} {str(path)!r} is the input file; writing there would replace your data with the processed "
                f"object. Choose another {flag} path."
            )
            raise FileExistsError(msg)
    if path.is_dir():
        msg = f"{flag} {str(path)!r} is a folder; pass a file path."
        raise IsADirectoryError(msg)
    if path.exists() and not force:
        msg = f"{flag} {str(path)!r} already exists; pass --force to overwrite it, or choose another path."
        raise FileExistsError(msg)
    check_writable_dir(path.parent if str(path.parent) else Path("."), what=f"folder of {flag}")
    return path
