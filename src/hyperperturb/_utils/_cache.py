"""Where numba keeps hyperperturb's compiled kernels: a per-user cache folder, never inside the installed package.

numba's ``cache=True`` writes (and later loads, unpickling) compiled code next to the source file by default, i.e.
inside ``site-packages``: anyone who can write there could get code run, and a read-only install cannot cache.
:func:`njit` compiles with the on-disk cache placed in

1. ``$NUMBA_CACHE_DIR`` when the user has set it (numba's own setting, respected as is);
2. else ``$HYPERPERTURB_CACHE_DIR/numba``, or the user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
   ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) ``/hyperperturb/numba``, created with mode 0700;
3. caching is switched off (compiled again in each process) when that folder cannot be created or written, when it
   belongs to another user, or when ``HYPERPERTURB_NUMBA_CACHE=0``.

Only hyperperturb's own kernels are affected: numba's global setting is changed only while they are decorated.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_OFF = ("0", "false", "no", "off")


def user_cache_root() -> Path:
    """The per-user cache folder of hyperperturb (not created here)."""
    env = os.environ.get("HYPERPERTURB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or (Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache"))
    return base / "hyperperturb"


def numba_cache_dir() -> Path | None:
    """The folder for hyperperturb's numba cache, or ``None`` when caching is off (see the module docstring)."""
    if os.environ.get("HYPERPERTURB_NUMBA_CACHE", "1").strip().lower() in _OFF:
        return None
    d = user_cache_root() / "numba"
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if hasattr(os, "getuid") and d.stat().st_uid != os.getuid():
            return None  # someone else's folder: never load their pickles
        if not os.access(d, os.W_OK | os.X_OK):
            return None
    except OSError:
        return None
    return d


def njit(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **kwargs)`` with the cache in the per-user folder (or off); see the module docs."""
    import numba
    from numba.core import config as numba_config

    config: Any = numba_config  # CACHE_DIR is set at run time: not in numba's stubs

    def deco(func: Callable[..., Any]) -> Any:
        if os.environ.get("NUMBA_CACHE_DIR"):  # the user's explicit choice
            return numba.njit(cache=True, **kwargs)(func)
        d = numba_cache_dir()
        if d is None:
            return numba.njit(cache=False, **kwargs)(func)
        old = config.CACHE_DIR
        config.CACHE_DIR = str(d)
        try:  # the cache locator is chosen (and its folder fixed) when the dispatcher is created
            return numba.njit(cache=True, **kwargs)(func)
        finally:
            config.CACHE_DIR = old

    return deco
