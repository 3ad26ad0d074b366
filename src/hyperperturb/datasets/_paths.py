"""Locating real data files for the loaders."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming a folder that holds the real data files.
DATA_ENV = "HYPERPERTURB_DATA"


def find_file(path: str | os.PathLike[str] | None, filename: str, *, loader: str) -> Path:
    """Resolve ``path`` (a file, or a folder holding ``filename``), falling back to ``$HYPERPERTURB_DATA``."""
    if path is None:
        folder = os.environ.get(DATA_ENV)
        if not folder:
            msg = (
                f"{loader} needs the file {filename!r}: pass its location as `path=` (the file or its folder), "
                f"or set the environment variable {DATA_ENV} to the folder that holds it."
            )
            raise ValueError(msg)
        p = Path(folder)
    else:
        p = Path(path)
    if p.is_dir():
        p = p / filename
    if not p.is_file():
        msg = f"{loader}: file {str(p)!r} does not exist. Pass `path=` pointing at {filename!r} or its folder."
        raise FileNotFoundError(msg)
    return p
