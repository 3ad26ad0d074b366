"""Warnings point at the user's own call: the file and line that called into hyperperturb (here: this file).

Users read and filter warnings by the location shown; a hard-coded ``stacklevel`` silently goes wrong when a
helper is added or removed between the public function and the warning.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import _warn
from hyperperturb._utils._warn import _in_package, _stacklevel, warn

NT = "non-targeting"


def _screen(n_per: int = 5, n_genes: int = 12, perts=("G0", "G1", "G2"), labels=None, seed: int = 0) -> AnnData:
    """Controls + ``perts`` (``n_per`` cells each), log-normalised, genes ``G0..``."""
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = [NT] * (2 * n_per) + [p for p in perts for _ in range(n_per)]
    n = len(labels)
    X = np.log1p(rng.poisson(2.0, size=(n, n_genes))).astype(np.float32)
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)])
    return AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))


def _designed(**kw) -> AnnData:
    a = _screen(**kw)
    hp.pp.perturbations(a, control=NT)
    return a


def _assert_here(rec, match: str) -> None:
    """Every recorded warning whose message matches ``match`` is shown at a line of this file."""
    hits = [w for w in rec if re.search(match, str(w.message))]
    assert hits, f"no warning matching {match!r}: {[str(w.message)[:80] for w in rec]}"
    where = sorted({f"{w.filename}:{w.lineno}" for w in hits})
    assert all(w.filename == __file__ for w in hits), f"{match!r} is shown at {where}, not at the caller's line"


# --------------------------------------------------------------------------------------------- hp.tl.rewards


def test_rewards_raw_counts_points_at_the_call():
    a = _designed()
    a.layers["counts"] = sparse.csr_matrix(np.random.default_rng(0).poisson(30, size=a.shape).astype(np.float32))
    with pytest.warns(UserWarning, match="raw counts") as rec:
        hp.tl.rewards(a, layer="counts", verbose=False)
    assert rec[0].filename == __file__
    _assert_here(rec, "raw counts")


def test_verbosity_zero_shows_no_warning():
    """Verbosity 0 ("errors only": ``sc.settings.verbosity = 0``, the command line's ``--quiet``) shows no warning."""
    from hyperperturb._utils._log import override_verbosity

    a = _designed()
    a.layers["counts"] = sparse.csr_matrix(np.random.default_rng(0).poisson(30, size=a.shape).astype(np.float32))
    with override_verbosity(0), warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        hp.tl.rewards(a, layer="counts", verbose=False)
    assert not [w for w in rec if "raw counts" in str(w.message)]
    with override_verbosity(1), pytest.warns(UserWarning, match="raw counts"):
        hp.tl.rewards(a, layer="counts", verbose=False)


def test_rewards_several_protein_modalities_point_at_the_call():
    import mudata as md

    a = _screen()
    prot = AnnData(
        np.random.default_rng(1).normal(size=(a.n_obs, 3)).astype(np.float32),
        obs=pd.DataFrame(index=a.obs_names),
        var=pd.DataFrame(index=["P0", "P1", "P2"]),
    )
    m = md.MuData({"rna": a, "adt": prot, "protein": prot.copy()})
    hp.pp.perturbations(m, control=NT)
    with pytest.warns(UserWarning, match="several protein-like modalities") as rec:
        hp.tl.rewards(m, verbose=False)
    assert rec[0].filename == __file__
    _assert_here(rec, "several protein-like modalities")


def test_rewards_unread_protein_obsm_points_at_the_call():
    a = _designed()
    a.obsm["ADT"] = np.ones((a.n_obs, 2), dtype=np.float32)
    with pytest.warns(UserWarning, match="protein channels") as rec:
        hp.tl.rewards(a, verbose=False)
    _assert_here(rec, "protein channels")


def test_rewards_groups_without_controls_point_at_the_call():
    a = _designed()
    labels = a.obs["perturbation"].to_numpy()
    a.obs["batch"] = pd.Categorical(np.where((labels == "G1") & (np.arange(a.n_obs) % 2 == 0), "rare", "b1"))
    with pytest.warns(UserWarning, match="without control cells") as rec:
        hp.tl.rewards(a, groupby="batch", verbose=False)
    _assert_here(rec, "without control cells")


def test_ledger_from_a_newer_version_points_at_the_call():
    a = _designed()
    a.uns["hyperperturb"]["version"] = "999.0.0"
    with pytest.warns(UserWarning, match="newer than the installed") as rec:
        hp.tl.rewards(a, verbose=False)
    _assert_here(rec, "newer than the installed")


# --------------------------------------------------------------------------------------------------- hp.pp


@pytest.mark.parametrize(
    ("labels", "kw", "match"),
    [
        ([NT] * 3 + ["G1", "G1", " G2", " G2"], {}, "surrounding whitespace"),
        ([NT] * 3 + ["G1", "G1", "nan"], {}, "missing-value label"),
        ([NT] * 3 + ["Non-Targeting", "G1"], {}, "only in letter case"),
        ([NT] * 3 + ["G1", "G1", "unassigned"], {}, "without a clean guide assignment"),
        ([NT] * 3 + ["G1", "G1"], {"control": [NT, "safe-targeting"]}, "do not occur in obs"),
        ([NT] * 3 + ["G1", "G1"], {"targets": {"G9": "X"}}, "not perturbations in obs"),
    ],
)
def test_perturbations_warnings_point_at_the_call(labels, kw, match):
    a = _screen(labels=labels, n_genes=4)
    with pytest.warns(UserWarning) as rec:
        hp.pp.perturbations(a, **{"control": NT, **kw})
    _assert_here(rec, match)


def test_perturbations_unlabelled_cells_point_at_the_call():
    a = _screen(labels=[NT] * 3 + ["G1", "G1", "G1"], n_genes=4)
    a.obs["perturbation"] = pd.Categorical([NT] * 3 + ["G1", "G1", None])
    with pytest.warns(UserWarning, match="have no label") as rec:
        hp.pp.perturbations(a, control=NT)
    _assert_here(rec, "have no label")


def test_log_fold_change_warnings_point_at_the_call():
    a = _designed()
    a.X = sparse.csr_matrix(np.random.default_rng(0).poisson(40, size=a.shape).astype(np.float32))
    with pytest.warns(UserWarning) as rec:
        hp.pp.log_fold_change(a, max_gb=0.0)
    _assert_here(rec, "raw counts")
    _assert_here(rec, "max_gb")
    b = _designed()
    b.layers["scaled"] = b.X.toarray() - 1.0
    with pytest.warns(UserWarning, match="negative values") as rec:
        hp.pp.log_fold_change(b, layer="scaled")
    _assert_here(rec, "negative values")


def test_gene_network_low_coverage_points_at_the_call():
    a = _designed(n_genes=60)
    net = pd.DataFrame(
        {"source": ["G0"] + [f"X{i}" for i in range(50)], "target": ["G1"] + [f"Y{i}" for i in range(50)]}
    )
    with pytest.warns(UserWarning, match="matches almost no genes") as rec:
        hp.pp.gene_network(a, net)
    _assert_here(rec, "matches almost no genes")


# --------------------------------------------------------------------------------------------------- hp.pl


def test_plot_of_a_newer_ledger_points_at_the_call():
    spec = importlib.util.spec_from_file_location("hp_test_trained", Path(__file__).parents[1] / "pl" / "_trained.py")
    trained = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trained)
    a = trained.make_trained()
    a.uns["hyperperturb"]["version"] = "999.0.0"
    import matplotlib.pyplot as plt

    try:
        with pytest.warns(UserWarning, match="newer than the installed") as rec:
            hp.pl.rewards(a, show=False)
    finally:
        plt.close("all")
    _assert_here(rec, "newer than the installed")
    # shown at one line, the default filter shows it once, not once per internal read of the ledger
    assert len({(w.filename, w.lineno) for w in rec if "newer than" in str(w.message)}) == 1


# --------------------------------------------------------------------------------------------------- hp.tl


@pytest.mark.slow  # imports TensorFlow and trains
def test_train_divergence_points_at_the_call():
    a = _designed(perts=("G0", "G1", "G2"))
    hp.pp.gene_network(a, pd.DataFrame({"a": ["G0", "G1", "G2"], "b": ["G1", "G2", "G3"]}))
    hp.tl.rewards(a, verbose=False)
    with pytest.warns(UserWarning, match="training diverged") as rec:
        hp.tl.train(a, epochs=20, learning_rate=1e9, verbose=False)
    _assert_here(rec, "training diverged")


# ------------------------------------------------------------------------------------------ the helper itself


def test_no_hard_coded_stacklevel_in_the_package():
    """Every warning of the package goes through ``_utils._warn.warn``; a new ``warnings.warn`` would drift again."""
    import ast

    found = []
    for path in sorted(Path(hp.__file__).parent.rglob("*.py")):
        if path.name == "_warn.py" and path.parent.name == "_utils":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "warn" and getattr(func.value, "id", "") == "warnings":
                found.append(f"{path.name}:{node.lineno}")
            elif any(k.arg == "stacklevel" for k in node.keywords):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, f"use hyperperturb._utils._warn.warn instead of warnings.warn/stacklevel: {found}"


_PACKAGE_DIR = str(Path(hp.__file__).parent)


def _run_as_package(source: str, name: str) -> dict:
    """Execute ``source`` as if it were a module inside the package folder (its code's file is there)."""
    filename = str(Path(_PACKAGE_DIR) / "_utils" / f"_{name}_for_test.py")
    namespace: dict = {"__name__": f"hyperperturb._utils._{name}_for_test", "warn": warn}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


_INSIDE = """
def inner(message):
    warn(message)

def outer(message):
    inner(message)

def through(callback, message):
    return callback(lambda: outer(message))
"""


def test_in_package():
    assert _in_package(hp.__file__)
    assert _in_package(str(Path(_PACKAGE_DIR) / "tl" / "_rewards" / "_rewards.py"))
    assert not _in_package(__file__)
    assert not _in_package(_PACKAGE_DIR + "_other/x.py")  # a sibling folder sharing the prefix
    assert not _in_package("<doctest hyperperturb.tl.rewards[0]>")
    assert not _in_package("<string>")


def test_helper_called_from_nested_package_functions_points_here():
    ns = _run_as_package(_INSIDE, "nested")
    with pytest.warns(UserWarning, match="nested") as rec:
        line = sys._getframe().f_lineno + 1
        ns["outer"]("nested")
    assert (rec[0].filename, rec[0].lineno) == (__file__, line)


def test_helper_called_from_outside_points_at_its_caller():
    with pytest.warns(UserWarning, match="direct") as rec:
        line = sys._getframe().f_lineno + 1
        warn("direct")
    assert (rec[0].filename, rec[0].lineno) == (__file__, line)
    with pytest.warns(FutureWarning, match="category"):
        warn("category", FutureWarning)


def test_helper_passes_over_other_libraries_between_package_frames(monkeypatch):
    """user -> package -> another library's callback machinery -> package -> warn: shown at the user's line."""
    ns = _run_as_package(_INSIDE, "sandwich")

    def library(fn):  # stands for Keras/pandas calling back into the package; it lives outside the package
        return fn()

    library.__code__ = library.__code__.replace(co_filename=str(Path(np.__file__).parent / "_fake_library.py"))
    with pytest.warns(UserWarning, match="sandwich") as rec:
        line = sys._getframe().f_lineno + 1
        ns["through"](library, "sandwich")
    assert (rec[0].filename, rec[0].lineno) == (__file__, line)


def test_whole_stack_inside_the_package_uses_the_outermost_frame(monkeypatch):
    """No frame outside the package (the command line's own frames): the outermost package frame is used."""
    frames = []
    f = sys._getframe()
    while f is not None:
        if not _warn._is_internal(f):
            frames.append(f)
        f = f.f_back
    assert _stacklevel(frames[0]) == 1  # this test's frame is outside the package
    monkeypatch.setattr(_warn, "_in_package", lambda filename, package_dir=None: True)  # every frame "inside"
    assert _stacklevel(frames[0]) == len(frames)
    with pytest.warns(UserWarning, match="outermost") as rec:
        warn("outermost")
    assert rec[0].filename == frames[-1].f_code.co_filename


def test_filters_by_the_callers_module_work():
    """Users silence a warning for their own module with ``filterwarnings(module=...)``: it must see their module."""
    a = _designed()
    a.layers["counts"] = sparse.csr_matrix(np.random.default_rng(0).poisson(30, size=a.shape).astype(np.float32))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=".*raw counts", module=re.escape(__name__))
        hp.tl.rewards(a, layer="counts", verbose=False)
    assert not [w for w in rec if "raw counts" in str(w.message)]
