"""Optional dependencies with helpful errors."""

from __future__ import annotations

import importlib
from types import ModuleType


def try_import(module: str, *, extra: str | None = None, purpose: str = "this feature") -> ModuleType:
    """Import ``module`` or raise an :class:`ImportError` that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        hint = f"pip install 'hyperperturb[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
        msg = f"{purpose} needs the optional package {module!r}, which is not installed. Install it with: {hint}"
        raise ImportError(msg) from e
