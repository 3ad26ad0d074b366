"""Quiet start-up: TensorFlow's C++ lines hidden, mudata's update() warnings avoided, nothing printed at verbosity 0."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import hyperperturb as hp
from hyperperturb._utils._quiet import quiet_tensorflow_start, wants_tensorflow_logs

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.mark.parametrize(("value", "wants"), [(None, False), ("0", True), ("1", True), ("2", False), ("3", False)])
def test_wants_tensorflow_logs_follows_the_users_setting(monkeypatch, value, wants):
    if value is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", value)
    assert wants_tensorflow_logs() is wants


def test_quiet_block_hides_native_stderr_and_restores_it():
    code = textwrap.dedent(
        """
        import os, sys
        sys.modules.pop("tensorflow", None)
        from hyperperturb._utils._quiet import quiet_tensorflow_start
        with quiet_tensorflow_start():
            os.write(2, b"hidden C++ line\\n")
            assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        os.write(2, b"shown after\\n")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stderr == "shown after\n"
    # the user asked for TensorFlow's logging: nothing hidden, their setting kept
    r = subprocess.run(
        [sys.executable, "-c", code.replace('== "2"', '== "0"')],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(TF_CPP_MIN_LOG_LEVEL="0"),
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == "hidden C++ line\nshown after\n"


def test_quiet_block_lets_python_errors_through():
    with pytest.raises(ZeroDivisionError), quiet_tensorflow_start():
        1 / 0  # noqa: B018


def test_mudata_calls_raise_no_mudata_warnings():
    mdata = hp.datasets.synthetic(n_cells=200, n_genes=30, n_perturbations=3, protein=True, seed=0, verbose=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hp.pp.perturbations(mdata, key="perturbation", control="non-targeting")
        hp.pp.gene_network(mdata, hp.datasets.truth_network(mdata))
    msgs = [str(w.message) for w in seen]
    assert not [m for m in msgs if "pull obs/var columns" in m or "Cannot join columns" in m], msgs
    assert "hp_control" in mdata["rna"].obs and "hp_adjacency" in mdata["rna"].varp  # results stay in the modality
    assert np.array_equal(mdata.obs_names, mdata["rna"].obs_names)


@pytest.mark.slow
def test_fresh_process_at_verbosity_0_prints_nothing():
    """import + rewards + train in a fresh process (no TF_CPP_MIN_LOG_LEVEL set): empty stdout and stderr."""
    code = textwrap.dedent(
        """
        import scanpy as sc
        sc.settings.verbosity = 0
        import hyperperturb as hp
        adata = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0)
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
        hp.pp.gene_network(adata, hp.datasets.truth_network(adata))
        hp.tl.rewards(adata)
        hp.tl.train(adata, epochs=2, seed=0)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr == ""


def test_preprocess_in_a_fresh_process_prints_nothing():
    """hp.pp.preprocess builds scanpy's neighbour graph, whose umap-learn import loads TensorFlow when installed:
    that first import is quiet too (empty stderr at verbosity 0), and with TF_CPP_MIN_LOG_LEVEL=0 nothing is hidden."""
    code = textwrap.dedent(
        """
        import sys
        import scanpy as sc
        sc.settings.verbosity = 0
        import hyperperturb as hp
        adata = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
        hp.pp.preprocess(adata, perturbation_key="perturbation", n_top_genes=30, n_pcs=10)
        assert "connectivities" in adata.obsp
        print("tensorflow" in sys.modules, end="")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    if r.stdout == "True":  # umap-learn loaded TensorFlow: the user who asks for its logs gets them
        r = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(TF_CPP_MIN_LOG_LEVEL="0"),
        )
        assert r.returncode == 0, r.stderr
        assert r.stderr != ""
    else:
        assert r.stdout == "False"
