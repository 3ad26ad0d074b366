"""Issue 13: numba's on-disk cache lives in a per-user folder (or is off), never next to the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hyperperturb

PKG = Path(hyperperturb.__file__).resolve().parent
_RUN = (
    "import sys, numpy as np, hyperperturb as hp\n"
    "from tests.reliability._data import screen\n"
    "a = screen(); hp.pp.perturbations(a); hp.tl.rewards(a, verbose=False)\n"
    "k = sys.modules.get('hyperperturb.tl._rewards._numba')\n"
    "st = k._csr_core.stats if k is not None else None\n"
    "print('numba' in sys.modules, sum(st.cache_hits.values()) if st else -1, sum(st.cache_misses.values()) if st else -1)\n"
)


def _run(env_extra: dict[str, str]) -> tuple[bool, int, int]:
    """Rewards of a tiny screen in a fresh process: (numba imported, cache hits, cache misses of the CSR kernel)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "HYPERPERTURB_REWARDS_ENGINE")}
    env.update({"HYPERPERTURB_REWARDS_ENGINE": "numba", **env_extra})
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _RUN], check=True, env=env, cwd=repo, capture_output=True, text=True, timeout=300
    )
    imported, hits, misses = out.stdout.split()[-3:]
    return imported == "True", int(hits), int(misses)


def _package_cache_files() -> set[Path]:
    return {p for p in PKG.rglob("*") if p.suffix in (".nbi", ".nbc")}


@pytest.mark.slow
def test_cache_in_user_folder_not_in_package(tmp_path):
    before = _package_cache_files()
    _run({"HYPERPERTURB_CACHE_DIR": str(tmp_path / "hp")})
    assert _package_cache_files() == before, "numba wrote cache files inside the installed package"
    written = [p for p in (tmp_path / "hp" / "numba").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert written, "expected numba cache files in the per-user folder"
    assert (tmp_path / "hp" / "numba").stat().st_mode & 0o077 == 0  # private folder


@pytest.mark.slow
def test_second_process_loads_instead_of_compiling(tmp_path):
    """Compiled once per user: a second fresh process finds the kernel in the folder (a hit, no miss)."""
    env = {"HYPERPERTURB_CACHE_DIR": str(tmp_path / "hp")}
    imported, hits, misses = _run(env)
    assert imported and misses >= 1 and hits == 0  # first use: compiled, and written to the folder
    index = sorted((tmp_path / "hp" / "numba").rglob("*_csr_core*.nbi"))
    assert index, "no index file of the CSR kernel in the per-user folder"
    stamp = {p: p.stat().st_mtime_ns for p in index}
    assert list((tmp_path / "hp" / "numba").glob("hp_rewards__csr_core_*.ok"))  # marker for the engine choice
    imported, hits, misses = _run(env)
    assert (hits, misses) == (1, 0)
    assert {p: p.stat().st_mtime_ns for p in index} == stamp  # the index was read, not rewritten


@pytest.mark.slow
def test_default_first_call_imports_no_numba(tmp_path):
    """A small in-memory CSR with a cold cache takes the NumPy twin: numba is neither imported nor compiled."""
    imported, hits, misses = _run(
        {"HYPERPERTURB_CACHE_DIR": str(tmp_path / "hp"), "HYPERPERTURB_REWARDS_ENGINE": "auto"}
    )
    assert not imported and (hits, misses) == (-1, -1)
    assert not list((tmp_path / "hp").rglob("*.nbi"))


@pytest.mark.slow
def test_cache_off(tmp_path):
    before = _package_cache_files()
    _run({"HYPERPERTURB_CACHE_DIR": str(tmp_path / "hp"), "HYPERPERTURB_NUMBA_CACHE": "0"})
    assert _package_cache_files() == before
    assert not list((tmp_path / "hp").rglob("*.nbi"))


def test_cache_dir_rules(tmp_path, monkeypatch):
    from hyperperturb._utils import _cache

    monkeypatch.setenv("HYPERPERTURB_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("HYPERPERTURB_NUMBA_CACHE", raising=False)
    d = _cache.numba_cache_dir()
    assert d == tmp_path / "c" / "numba" and d.is_dir()
    assert PKG not in d.parents
    monkeypatch.setenv("HYPERPERTURB_NUMBA_CACHE", "off")
    assert _cache.numba_cache_dir() is None
    monkeypatch.delenv("HYPERPERTURB_NUMBA_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("HYPERPERTURB_CACHE_DIR", str(blocker))  # cannot create a folder under a file
    assert _cache.numba_cache_dir() is None


def test_decorator_restores_numba_setting(tmp_path, monkeypatch):
    from numba.core import config

    from hyperperturb._utils._cache import njit

    monkeypatch.setenv("HYPERPERTURB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    old = config.CACHE_DIR

    @njit()
    def f(x):  # pragma: no cover - compiled
        return x + 1

    assert f(1) == 2 and config.CACHE_DIR == old
