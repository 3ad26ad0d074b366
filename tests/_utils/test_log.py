from __future__ import annotations

import io
import logging
import sys

import pytest

from hyperperturb._utils._log import logger, override_verbosity, progress, progress_bar, show_progress, verbosity


@pytest.fixture
def sc_verbosity():
    sc = pytest.importorskip("scanpy")
    old = sc.settings.verbosity
    yield sc
    sc.settings.verbosity = old


def _emit():
    logger.warning("a warning")
    logger.info("an info line")
    logger.debug("a debug line")


def test_scanpy_verbosity_zero_silences_everything(sc_verbosity, capsys):
    sc_verbosity.settings.verbosity = 0
    _emit()
    logger.error("an error")
    err = capsys.readouterr().err
    assert err == ""


def test_scanpy_levels_map_to_logging_levels(sc_verbosity, capsys):
    sc_verbosity.settings.verbosity = 1  # scanpy's default: warnings only
    _emit()
    err = capsys.readouterr().err
    assert "hyperperturb: a warning" in err and "info line" not in err
    sc_verbosity.settings.verbosity = 2
    _emit()
    err = capsys.readouterr().err
    assert "an info line" in err and "debug" not in err
    sc_verbosity.settings.verbosity = 4
    _emit()
    assert "a debug line" in capsys.readouterr().err


def test_override_wins_and_restores(sc_verbosity, capsys):
    sc_verbosity.settings.verbosity = 2
    with override_verbosity(0):
        assert verbosity() == 0
        _emit()
    assert capsys.readouterr().err == ""
    assert verbosity() == 2


def test_progress_bars_need_verbose_verbosity_and_a_terminal(sc_verbosity, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    items = [1, 2, 3]
    monkeypatch.setattr(sys, "stderr", Tty())
    sc_verbosity.settings.verbosity = 1
    assert show_progress(True) and not show_progress(False)
    bar = progress(items, verbose=True, desc="computing rewards")
    assert bar is not items and list(bar) == items
    sc_verbosity.settings.verbosity = 0
    assert progress(items, verbose=True) is items
    assert progress_bar(verbose=True, total=3).disable
    sc_verbosity.settings.verbosity = 1
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file: no carriage returns
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert progress(items, verbose=True) is items


def test_plain_logging_level_still_works(sc_verbosity, capsys):
    sc_verbosity.settings.verbosity = 2
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        _emit()
        assert capsys.readouterr().err == ""
    finally:
        logger.setLevel(old)
