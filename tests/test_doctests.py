"""The docstring examples that are cheap to run (not marked ``+SKIP``) run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import hyperperturb
import hyperperturb as hp


def _docstring_tests():
    finder = doctest.DocTestFinder()
    out = []
    for info in pkgutil.walk_packages(hyperperturb.__path__, "hyperperturb."):
        if info.name.endswith("__main__"):  # importing it runs the command line
            continue
        module = importlib.import_module(info.name)
        for test in finder.find(module):
            if any(not ex.options.get(doctest.SKIP, False) for ex in test.examples):
                out.append(test)
    return sorted(out, key=lambda t: t.name)


TESTS = _docstring_tests()


def test_there_are_runnable_examples():
    runnable = {t.name for t in TESTS if any("import" not in ex.source for ex in t.examples)}
    # the cheap ones: synthetic data, its network, rewards, the geometry and the schedule
    assert {
        "hyperperturb.datasets._synthetic.synthetic",
        "hyperperturb.datasets._truth_network.truth_network",
        "hyperperturb.tl._rewards._rewards.rewards",
        "hyperperturb.nn._geometry.PoincareBall",
        "hyperperturb.nn._schedule.QuantumAnnealer",
    } <= runnable


@pytest.mark.parametrize("test", TESTS, ids=[t.name for t in TESTS])
def test_docstring_example(test):
    test.globs.update({"hp": hp, "np": np})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    result = runner.run(test, out=failures.append)
    assert result.failed == 0, "".join(failures)
