"""Logging and progress bars."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

#: Package logger. Users control it with ``logging.getLogger("hyperperturb").setLevel(...)``.
logger = logging.getLogger("hyperperturb")
if not logger.handlers:  # pragma: no branch
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("hyperperturb: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def progress(iterable: Iterable[T], *, verbose: bool, total: int | None = None, desc: str | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar when ``verbose`` is true."""
    if not verbose:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)
