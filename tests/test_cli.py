from __future__ import annotations

import subprocess
import sys

import anndata as ad
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperperturb as hp
from hyperperturb._cli import main
from hyperperturb._cli._common import _read


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    rc = main(
        [
            "demo",
            "--out",
            str(out),
            "--epochs",
            "3",
            "--cells",
            "600",
            "--genes",
            "40",
            "--perturbations",
            "5",
            "--quiet",
            "--strict",
        ]
    )
    assert rc == 0
    return out


@pytest.mark.slow
def test_demo_writes_files(demo_dir):
    summary = (demo_dir / "summary.txt").read_text()
    assert "Stages:" in summary
    assert "failed" not in summary
    data_files = list(demo_dir.glob("demo.h5*"))
    assert len(data_files) == 1
    pngs = {p.name for p in demo_dir.glob("*.png")}
    if hasattr(hp.tl, "rewards"):
        assert "rewards.png" in pngs
    if hasattr(hp.tl, "train"):
        assert {"poincare.png", "history.png"} <= pngs
        assert "Top 5 perturbations (predicted)" in summary
    for p in demo_dir.glob("*.png"):
        assert mpimg.imread(p).var() > 1e-3


@pytest.mark.slow
def test_info_on_demo_output(demo_dir, capsys):
    f = next(demo_dir.glob("demo.h5*"))
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "perturbations" in out and "arrays:" in out
    assert len(out.strip().splitlines()) <= 40  # a summary that fits a screen
    assert "Top 3 perturbations" in out  # headline numbers
    if hasattr(hp.tl, "train"):
        assert "train:" in out and ".varm['X_poincare']" in out
        # the held-out readout in one sentence, as hp.get.readout says it
        line = next(ln for ln in out.splitlines() if "held-out readout:" in ln)
        assert line.split("held-out readout: ", 1)[1] == hp.get.readout(_read(str(f)))["summary"]
    assert main(["info", str(f), "--full"]) == 0
    full = capsys.readouterr().out
    assert len(full.splitlines()) > len(out.splitlines()) and "params:" in full


def _small_h5ad(path, n_cells=300, n_genes=30):
    import scanpy as sc

    data = hp.datasets.synthetic(n_cells=n_cells, n_genes=n_genes, n_perturbations=4, seed=1)
    sc.pp.normalize_total(data)
    sc.pp.log1p(data)
    data.write_h5ad(path)
    return data


@pytest.mark.slow
def test_train_on_file(tmp_path, capsys):
    if not hasattr(hp.tl, "train"):
        pytest.skip("hp.tl.train is not available in this version yet")
    src = tmp_path / "screen.h5ad"
    _small_h5ad(src)
    out = tmp_path / "screen_hp.h5ad"
    rc = main(
        [
            "train",
            str(src),
            "--perturbation-key",
            "perturbation",
            "--control",
            "non-targeting",
            "--epochs",
            "2",
            "--no-preprocess",
            "--out",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
            "--quiet",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    res = ad.read_h5ad(out)
    assert "X_poincare" in res.varm and "train" in res.uns["hyperperturb"]
    assert (tmp_path / "plots" / "poincare.png").exists()


def test_bad_path_one_line_error(tmp_path, capsys):
    rc = main(["info", str(tmp_path / "missing.h5ad")])
    err = capsys.readouterr().err
    assert rc != 0
    assert "does not exist" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_key_one_line_error(tmp_path, capsys):
    src = tmp_path / "tiny.h5ad"
    X = sparse.random(20, 5, density=0.5, format="csr", random_state=0)
    a = ad.AnnData(X, obs=pd.DataFrame({"guide": ["a"] * 20}, index=[f"c{i}" for i in range(20)]))
    a.write_h5ad(src)
    rc = main(
        ["train", str(src), "--perturbation-key", "perturbation", "--control", "NT", "--out", str(tmp_path / "o.h5ad")]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "perturbation" in err and "guide" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    # --debug shows the traceback
    rc = main(
        [
            "train",
            str(src),
            "--perturbation-key",
            "perturbation",
            "--control",
            "NT",
            "--out",
            str(tmp_path / "o.h5ad"),
            "--debug",
        ]
    )
    assert rc == 1 and "Traceback" in capsys.readouterr().err


def test_bad_output_and_usage(tmp_path, capsys):
    rc = main(["train", "x.h5ad", "--perturbation-key", "p", "--control", "c", "--out", str(tmp_path / "o.csv")])
    assert rc == 1 and ".h5ad" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert hp.__version__ in capsys.readouterr().out
    assert main(["train"]) == 2  # argparse usage error
    assert main([]) == 2


def test_info_without_results(tmp_path, capsys):
    f = tmp_path / "plain.h5ad"
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(f)
    assert main(["info", str(f)]) == 0
    assert "no hyperperturb results" in capsys.readouterr().out


def test_help_subprocess():
    r = subprocess.run(
        [sys.executable, "-m", "hyperperturb._cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0
    for cmd in ("demo", "train", "info"):
        assert cmd in r.stdout


def _ledger_file(path, *, stale: bool):
    """An AnnData whose ledger has perturbations + rewards; with ``stale`` the perturbations step ran again since."""
    from hyperperturb._utils import record

    a = ad.AnnData(np.ones((4, 3), dtype=np.float32))
    record(a, "perturbations", {"names": np.array(["A", "B"]), "control": np.array(["NT"]), "n_control": 2})
    record(a, "rewards", {"perturbations": np.array(["A", "B"])})
    if stale:
        record(a, "perturbations", {"names": np.array(["A", "C"]), "control": np.array(["NT"]), "n_control": 2})
    a.write_h5ad(path)


@pytest.mark.parametrize("stale", [False, True])
def test_info_marks_stale_entries(tmp_path, capsys, stale):
    f = tmp_path / "l.h5ad"
    _ledger_file(f, stale=stale)
    for extra in ([], ["--full"]):
        assert main(["info", str(f), *extra]) == 0
        out = capsys.readouterr().out
        assert ("STALE" in out) == stale
        if stale:
            assert "rewards" in next(line for line in out.splitlines() if "STALE" in line)


def test_wrong_control_reported_with_flag_before_preprocessing(tmp_path, capsys, monkeypatch):
    src = tmp_path / "counts.h5ad"
    data = hp.datasets.synthetic(n_cells=200, n_genes=20, n_perturbations=3, seed=1)
    data.write_h5ad(src)
    called = []
    monkeypatch.setattr(hp.pp, "preprocess", lambda *a, **k: called.append(1))
    rc = main(
        ["train", str(src), "--perturbation-key", "perturbation", "--control", "NTC", "--out", str(tmp_path / "o.h5ad")]
    )
    err = capsys.readouterr().err
    assert rc == 1 and not called
    assert "--control 'NTC'" in err and "--perturbation-key" in err and "non-targeting" in err
    assert "control=" not in err
    assert not (tmp_path / "o.h5ad").exists()


def test_normalised_input_names_no_preprocess(tmp_path, capsys, monkeypatch):
    src = tmp_path / "norm.h5ad"
    _small_h5ad(src, n_cells=120, n_genes=15)
    called = []
    monkeypatch.setattr(hp.pp, "preprocess", lambda *a, **k: called.append(1))
    rc = main(
        ["train", str(src), "--perturbation-key", "perturbation", "--control", "non-targeting",
         "--out", str(tmp_path / "o.h5ad")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and not called
    assert "--no-preprocess" in err and "already normalised" in err


def test_help_does_not_import_the_heavy_stack():
    code = (
        "import sys, contextlib, io; from hyperperturb._cli import main;"
        "buf = io.StringIO();"
        "ctx = contextlib.redirect_stdout(buf);"
        "ctx.__enter__(); rc = main(['--help']); ctx.__exit__(None, None, None);"
        "heavy = [m for m in ('anndata', 'scanpy', 'tensorflow', 'matplotlib') if m in sys.modules];"
        "print(rc, heavy, 'train' in buf.getvalue())"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "0 [] True", r.stderr


def test_tensorflow_quiet_import_respects_user_setting(monkeypatch):
    from hyperperturb._cli import _common

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user asked for TensorFlow's own logging
    imported = []
    monkeypatch.setattr("builtins.__import__", _spy_import(imported))
    _common._import_tensorflow_quietly()
    assert "tensorflow" not in imported


def _spy_import(seen):
    import builtins

    real = builtins.__import__

    def spy(name, *args, **kwargs):
        seen.append(name)
        return real(name, *args, **kwargs)

    return spy


def test_info_headline_of_an_evaluation(tmp_path, capsys):
    from hyperperturb._utils import record
    from hyperperturb._utils._schema import EvaluationEntry

    a = ad.AnnData(np.ones((4, 3), dtype=np.float32))
    summary = pd.DataFrame(
        {
            "model": ["hyperperturb", "mean", "hyperperturb"],
            "metric": ["spearman_excess", "spearman_excess", "spearman_excess"],
            "subset": ["all", "all", "detectable"],
            "mean": [0.33, 0.31, 0.5],
        }
    )
    empty = pd.DataFrame({"x": [0.0]})
    entry = EvaluationEntry(
        params={"split": "random", "n_splits": 5},
        results=empty,
        summary=summary,
        detectability=empty,
        splits={},
        scored={},
        coverage={},
        random_embedding_keys=(),
    )
    record(a, "evaluation", entry.to_uns())
    f = tmp_path / "e.h5ad"
    a.write_h5ad(f)
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "evaluation: split random, 5 splits" in out
    assert "held-out spearman_excess: hyperperturb 0.330, mean 0.310" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["demo", "--epochs", "0"], "--epochs: must be an integer >= 1"),
        (["demo", "--cells", "-3"], "--cells: must be an integer >= 1"),
        (["demo", "--seed", "-1"], "--seed: must be an integer >= 0"),
        (["demo", "--genes", "6"], "`--perturbations 12` is impossible"),  # a screen needs a gene per knock-out
        (["demo", "--cells", "5"], "Increase --cells"),
        (
            ["train", "x.h5ad", "--perturbation-key", "p", "--control", "c", "--out", "o.h5ad", "--epochs", "-3"],
            "--epochs",
        ),
        (["train", "x.h5ad", "--perturbation-key", "p", "--control", "c", "--out", "o.h5ad", "--dim", "1"], ">= 2"),
        (
            ["train", "x.h5ad", "--perturbation-key", "p", "--control", "c", "--out", "o.h5ad", "--min-weight", "5"],
            "[0, 1]",
        ),
        (
            ["train", "x.h5ad", "--perturbation-key", "p", "--control", "c", "--out", "o.h5ad", "--min-weight", "nan"],
            "[0, 1]",
        ),
    ],
)
def test_impossible_numbers_are_usage_errors_before_any_work(tmp_path, capsys, argv, says):
    """Wrong numbers on the command line: exit 2 with the flag named, before any file is read or written."""
    out = tmp_path / "d"
    argv = [a if a != "o.h5ad" else str(tmp_path / "o.h5ad") for a in argv]
    if argv[0] == "demo":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    assert says in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "o.h5ad").exists()


def test_demo_with_fewer_genes_than_its_proteins(tmp_path):
    """--genes below the demo's 8 proteins: the demo reads out one protein per gene instead of failing."""
    out = tmp_path / "d"
    argv = ["demo", "--out", str(out), "--genes", "6", "--perturbations", "3", "--cells", "200", "--epochs", "2"]
    assert main([*argv, "--quiet", "--strict"]) == 0
    mdata = _read(str(next(out.glob("demo.h5*"))))
    assert mdata["prot"].n_vars == 6


def test_info_ranks_the_modality_it_was_asked_for(demo_dir, capsys):
    f = next(demo_dir.glob("demo.h5*"))
    assert main(["info", str(f), "--mod", "prot"]) == 0
    out = capsys.readouterr().out
    ranked = [ln.split()[0] for ln in out.splitlines() if "hp_value=" in ln]
    prot_names = set(_read(str(f))["prot"].var_names)
    assert ranked and set(ranked) <= prot_names
