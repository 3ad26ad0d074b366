"""hyperperturb: hyperbolic graph neural networks for single-cell CRISPR perturbation screens.

``import hyperperturb as hp`` gives the scverse-style namespaces :mod:`hp.pp <hyperperturb.pp>`,
:mod:`hp.tl <hyperperturb.tl>`, :mod:`hp.pl <hyperperturb.pl>`, :mod:`hp.get <hyperperturb.get>` and
:mod:`hp.datasets <hyperperturb.datasets>`. The namespaces are imported on first use (``hp.pl`` loads matplotlib
only when you touch it), and TensorFlow only when a model is trained or used (``hp.tl.train``, ``hp.tl.predict``,
:mod:`hyperperturb.nn`), so this import and the ``hyperperturb --help`` command stay fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from . import datasets, get, pl, pp, tl

try:
    __version__ = version("hyperperturb")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

_SUBMODULES = ("datasets", "get", "pl", "pp", "tl")

__all__ = ["datasets", "get", "pl", "pp", "tl", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
