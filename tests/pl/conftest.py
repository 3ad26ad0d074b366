from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

_spec = importlib.util.spec_from_file_location("hp_test_trained", Path(__file__).with_name("_trained.py"))
trained_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trained_module)


@pytest.fixture
def trained():
    """A small AnnData with hand-written training results (see tests/pl/_trained.py)."""
    return trained_module.make_trained()


@pytest.fixture
def make_trained():
    """The builder of the ``trained`` fixture, for other sizes, dimensions and curvatures."""
    return trained_module.make_trained


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
