"""Warnings that point at the user's own call.

A hard-coded ``stacklevel=N`` is right only for one call path: after a refactor (a helper more or less between the
public function and ``warnings.warn``) it points at a line inside hyperperturb or above the user's call. Users read
and filter warnings by the file and line shown, so :func:`warn` computes the stack level at the call: the frame
through which the user entered the package.

Python 3.12's ``warnings.warn(skip_file_prefixes=...)`` does the same, but hyperperturb supports Python 3.11.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import lru_cache
from types import FrameType

__all__ = ["warn"]

#: The folder of the installed package (``.../hyperperturb``), as the frames' ``co_filename`` spell it.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@lru_cache(maxsize=512)
def _in_package(filename: str, package_dir: str = _PACKAGE_DIR) -> bool:
    """Whether a code object's file lies inside the package folder."""
    if filename.startswith("<"):  # <string>, <doctest ...>, <stdin>
        return False
    path = os.path.normcase(os.path.abspath(filename))
    root = os.path.normcase(package_dir)
    return path == root or path.startswith(root + os.sep)


def _is_internal(frame: FrameType) -> bool:
    """The frames ``warnings.warn`` itself skips when counting ``stacklevel`` (the import machinery)."""
    filename = frame.f_code.co_filename
    return "importlib" in filename and "_bootstrap" in filename


def _stacklevel(frame: FrameType, package_dir: str = _PACKAGE_DIR) -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called from ``frame``, point at the user's call.

    Level 1 is ``frame`` itself and every further level is the next frame outward that ``warnings.warn`` counts.
    The answer is the frame just outside the *outermost* package frame: the line that called into hyperperturb.
    Frames of other libraries between package frames (a Keras callback, a pandas ``apply``, ``functools`` or
    ``contextlib`` wrappers) are passed over, since the package is still running below them. When nothing outside
    the package called it (the whole stack is inside, as in the command line's own frames), the outermost package
    frame is used.
    """
    level, outermost = 1, 1
    answer: int | None = None
    f: FrameType | None = frame
    while f is not None:
        if _in_package(f.f_code.co_filename, package_dir):
            outermost, answer = level, None
        elif answer is None:
            answer = level
        f = f.f_back
        while f is not None and _is_internal(f):
            f = f.f_back
        level += 1
    return answer if answer is not None else outermost


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` shown at the line that called into hyperperturb (see :func:`_stacklevel`).

    Nothing is shown at verbosity 0 (``sc.settings.verbosity = 0``, the command line's ``--quiet``): "errors only".
    """
    from hyperperturb._utils._log import verbosity

    if verbosity() <= 0:
        return
    frame = sys._getframe(1)  # the package function that warns
    # warnings.warn counts this function as level 1 and its caller (``frame``) as level 2
    warnings.warn(message, category, stacklevel=_stacklevel(frame) + 1)
