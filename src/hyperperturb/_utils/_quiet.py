"""A quiet first import of TensorFlow: no C++ start-up lines (CUDA probing, oneDNN notice, absl banner) on stderr.

TensorFlow >= 2.18 prints these from C++ while it loads and probes its devices, partly before its own log level
(``TF_CPP_MIN_LOG_LEVEL``) applies, so setting the variable is not enough. :func:`quiet_tensorflow_start` sets the
variable to ``2`` (errors only) when it is unset and points the process's stderr file descriptor at ``/dev/null``
while the block runs; ``hp.tl.train`` (and the ``hyperperturb`` command) import TensorFlow inside it. Nothing is
hidden when TensorFlow is already loaded, or when the user set ``TF_CPP_MIN_LOG_LEVEL`` to 0 or 1 (they asked for
TensorFlow's own logging). This module does not import TensorFlow itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

TF_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"
#: Set (when unset) before TensorFlow is first imported: TensorFlow's C++ log level and gRPC's verbosity.
QUIET_ENV = {TF_LOG_ENV: "2", "GRPC_VERBOSITY": "ERROR"}


def wants_tensorflow_logs() -> bool:
    """Whether the user asked for TensorFlow's own start-up logging (``TF_CPP_MIN_LOG_LEVEL`` set to 0 or 1)."""
    value = os.environ.get(TF_LOG_ENV)
    if value is None:
        return False
    try:
        return int(value) < 2
    except ValueError:
        return False


@contextlib.contextmanager
def quiet_tensorflow_start() -> Iterator[None]:
    """Import TensorFlow inside this block to keep its C++ start-up lines off stderr (see the module docstring).

    Python exceptions raised in the block (an ``ImportError`` for a missing TensorFlow) propagate unchanged, after
    stderr is restored.
    """
    if "tensorflow" in sys.modules or wants_tensorflow_logs():
        yield
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()  # type: ignore[union-attr]
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (embedded interpreters): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
