"""Shared fixtures: locating the real data in ../shared/data and tiny synthetic objects."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Property tests draw fresh examples locally (to find bugs) but a fixed set in CI (a red CI must be reproducible).
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$HYPERPERTURB_SHARED_DATA`` or ``../shared/data`` next to the repository, if it exists."""
    env = os.environ.get("HYPERPERTURB_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder with the real data files; skips the test when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data folder ../shared/data is absent (set HYPERPERTURB_SHARED_DATA to point at it)")
    return d


@pytest.fixture(scope="session")
def papalexi_path(shared_data: Path) -> Path:
    p = shared_data / "papalexi2021_thp1_eccite_299genes.h5ad"
    if not p.exists():
        pytest.skip(f"{p.name} is absent from the shared data folder")
    return p


@pytest.fixture(scope="session")
def string_path(shared_data: Path) -> Path:
    p = shared_data / "string_v12_human_ppi_symbols.csv.gz"
    if not p.exists():
        pytest.skip(f"{p.name} is absent from the shared data folder")
    return p
