"""Logging and progress bars, following scanpy's verbosity.

The package logger ``logging.getLogger("hyperperturb")`` writes ``hyperperturb: <message>`` lines to the current
``sys.stderr``. What it lets through follows ``scanpy.settings.verbosity`` (read at every message, so changing it
takes effect at once), with scanpy's levels:

==========  ============================================================
verbosity   what hyperperturb prints
==========  ============================================================
0           nothing: no messages, no progress bars (errors are raised)
1           warnings and progress bars (scanpy's default)
2           + info lines (what each step did, e.g. ``hp.tl.train: 40 epochs ...``)
3           + hints
4           + debug messages
==========  ============================================================

When scanpy has not been imported the default (1) applies. Progress bars are shown only when the call has
``verbose=True``, the verbosity is at least 1 and stderr is a terminal (or a Jupyter kernel), so log files and CI
output never fill with carriage returns. Plain :mod:`logging` works too:
``logging.getLogger("hyperperturb").setLevel(logging.ERROR)``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: scanpy's verbosity levels -> the lowest logging level that is printed
_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.INFO, 4: logging.DEBUG}
DEFAULT_VERBOSITY = 1
_override: list[int] = []


def verbosity() -> int:
    """The verbosity in force: an active :func:`override_verbosity`, else ``scanpy.settings.verbosity``, else 1."""
    if _override:
        return _override[-1]
    sc = sys.modules.get("scanpy")
    if sc is not None:
        try:
            return int(sc.settings.verbosity)
        except (AttributeError, TypeError, ValueError):  # a scanpy without the setting: fall back to the default
            pass
    return DEFAULT_VERBOSITY


@contextlib.contextmanager
def override_verbosity(level: int) -> Iterator[None]:
    """Use ``level`` instead of scanpy's verbosity inside the ``with`` block (the command line uses this)."""
    _override.append(int(level))
    try:
        yield
    finally:
        _override.pop()


def _threshold() -> int:
    v = verbosity()
    return _LEVELS[min(max(v, 0), 4)]


class _VerbosityFilter(logging.Filter):
    """Let a record through when its level reaches the threshold given by the verbosity."""

    def filter(self, record: logging.LogRecord) -> bool:
        # ERROR messages are silenced at verbosity 0 too: the package raises its errors instead of logging them
        if verbosity() <= 0:
            return False
        return record.levelno >= _threshold()


class _StderrHandler(logging.StreamHandler):
    """A stream handler that always writes to the *current* ``sys.stderr`` (pytest, Jupyter and redirections)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


#: Package logger. Follows ``scanpy.settings.verbosity`` (see the module docstring).
logger = logging.getLogger("hyperperturb")
if not any(isinstance(h, _StderrHandler) for h in logger.handlers):  # pragma: no branch
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("hyperperturb: %(message)s"))
    _handler.addFilter(_VerbosityFilter())
    logger.addHandler(_handler)
    logger.setLevel(logging.DEBUG)  # the handler's filter decides; users can still raise the level
    logger.propagate = False


def _interactive() -> bool:
    """Whether progress bars can redraw in place: stderr is a terminal or we run in a Jupyter kernel."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return "ipykernel" in sys.modules


def show_progress(verbose: bool) -> bool:
    """Whether a progress bar should be drawn for a call with ``verbose``."""
    return bool(verbose) and verbosity() >= 1 and _interactive()


def progress(iterable: Iterable[T], *, verbose: bool, total: int | None = None, desc: str | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar described by ``desc`` when :func:`show_progress` allows it."""
    if not show_progress(verbose):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def progress_bar(*, verbose: bool, total: int | None = None, desc: str | None = None, **kwargs: Any) -> Any:
    """A manual tqdm bar (``.update()``/``.close()``) when :func:`show_progress` allows it, else a no-op bar."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not show_progress(verbose), **kwargs)
