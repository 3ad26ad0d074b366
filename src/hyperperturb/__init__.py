"""hyperperturb: hyperbolic graph neural networks for single-cell CRISPR perturbation screens.

``import hyperperturb as hp`` gives the scverse-style namespaces :mod:`hp.pp <hyperperturb.pp>`,
:mod:`hp.tl <hyperperturb.tl>`, :mod:`hp.pl <hyperperturb.pl>`, :mod:`hp.get <hyperperturb.get>` and
:mod:`hp.datasets <hyperperturb.datasets>`. TensorFlow is only imported when a model is trained or
used (``hp.tl.train``, ``hp.tl.predict``, :mod:`hyperperturb.nn`), so this import stays fast.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets, get, pl, pp, tl

try:
    __version__ = version("hyperperturb")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["datasets", "get", "pl", "pp", "tl", "__version__"]
