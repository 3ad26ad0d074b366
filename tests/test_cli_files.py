"""CLI output safety: atomic writes, --out never the input, --force for existing outputs, writable folders."""

from __future__ import annotations

import os
import stat

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from hyperperturb._cli import main
from hyperperturb._utils._files import atomic_file, check_output_file, write_atomic


def _input(tmp_path):
    a = ad.AnnData(
        np.ones((4, 3), dtype=np.float32),
        obs=pd.DataFrame({"perturbation": ["non-targeting", "non-targeting", "G0", "G0"]}, index=list("abcd")),
        var=pd.DataFrame(index=["G0", "G1", "G2"]),
    )
    path = tmp_path / "in.h5ad"
    a.write_h5ad(path)
    return path


def _train(inp, out, *extra):
    return main(["train", str(inp), "--perturbation-key", "perturbation", "--control", "non-targeting",
                 "--out", str(out), "--epochs", "1", "--quiet", *extra])  # fmt: skip


def test_out_equal_to_input_refused_and_input_unchanged(tmp_path, capsys):
    inp = _input(tmp_path)
    before = inp.read_bytes()
    assert _train(inp, inp) == 1
    assert "is the input file" in capsys.readouterr().err
    assert inp.read_bytes() == before
    # also through another spelling of the same path
    assert _train(inp, tmp_path / "." / "in.h5ad", "--force") == 1
    assert inp.read_bytes() == before


def test_existing_out_needs_force(tmp_path, capsys):
    inp = _input(tmp_path)
    out = tmp_path / "out.h5ad"
    out.write_bytes(b"keep me")
    assert _train(inp, out) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_h5mu_out_for_anndata_input_is_refused(tmp_path, capsys):
    """An AnnData written under an .h5mu name was an h5ad file that mudata could not read back (exit code 0)."""
    inp = _input(tmp_path)
    out = tmp_path / "out.h5mu"
    assert _train(inp, out) == 1
    assert "input is an AnnData" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="permissions are not enforced for root")
def test_unwritable_out_folder_fails_before_work(tmp_path, capsys):
    inp = _input(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert _train(inp, ro / "out.h5ad") == 1
        assert "Cannot write" in capsys.readouterr().err
    finally:
        ro.chmod(stat.S_IRWXU)


def test_demo_existing_folder_needs_force(tmp_path, capsys):
    (tmp_path / "summary.txt").write_text("old")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "summary.txt").read_text() == "old"


def test_demo_force_leaves_no_file_of_an_earlier_run_behind(tmp_path, capsys, monkeypatch):
    """A failed stage after --force used to leave the old demo.h5mu and plots beside a summary contradicting them."""
    import hyperperturb as hp
    import hyperperturb._cli._main as cli_main

    def broken(*args, **kwargs):
        raise RuntimeError("simulation failed")

    # the generate stage fails (impossible sizes are usage errors now, caught before any file is touched)
    monkeypatch.setattr(cli_main, "demo_args_problem", lambda args: None)
    monkeypatch.setattr(hp.datasets, "synthetic", broken)
    for name in ("demo.h5mu", "poincare.png", "summary.txt"):
        (tmp_path / name).write_text("old")
    (tmp_path / "mine.txt").write_text("not the demo's")
    main(["demo", "--out", str(tmp_path), "--force", "--quiet"])
    assert not (tmp_path / "demo.h5mu").exists() and not (tmp_path / "poincare.png").exists()
    assert (tmp_path / "summary.txt").read_text() != "old"
    assert (tmp_path / "mine.txt").read_text() == "not the demo's"


def test_demo_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "x"
    f.write_text("x")
    assert main(["demo", "--out", str(f), "--quiet"]) == 1
    assert f.read_text() == "x"


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_file_interrupted_leaves_nothing(tmp_path, exc):
    target = tmp_path / "res.h5ad"
    target.write_bytes(b"previous complete file")

    def writer(tmp):
        tmp.write_bytes(b"partial")
        raise exc("stop")

    with pytest.raises(exc):
        write_atomic(target, writer)
    assert target.read_bytes() == b"previous complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.h5ad"]


def test_atomic_file_h5ad_roundtrip(tmp_path):
    a = ad.AnnData(np.eye(3, dtype=np.float32))
    target = tmp_path / "res.h5ad"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".h5ad" and tmp != target
        a.write_h5ad(tmp)
    np.testing.assert_array_equal(ad.read_h5ad(target).X, a.X)
    assert [p.name for p in tmp_path.iterdir()] == ["res.h5ad"]


def test_cli_write_interrupted_keeps_no_partial_file(tmp_path, monkeypatch):
    from hyperperturb._cli import _common

    a = ad.AnnData(np.eye(3, dtype=np.float32))
    target = tmp_path / "o.h5ad"

    def boom(self, path, *args, **kwargs):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(ad.AnnData, "write_h5ad", boom)
    with pytest.raises(KeyboardInterrupt):
        _common._write(a, target)
    assert list(tmp_path.iterdir()) == []


def test_check_output_file(tmp_path):
    inp = tmp_path / "a.h5ad"
    inp.write_text("x")
    with pytest.raises(FileExistsError, match="input file"):
        check_output_file(inp, inputs=[inp], force=True)
    with pytest.raises(FileExistsError, match="--force"):
        check_output_file(inp)
    assert check_output_file(inp, force=True) == inp
    with pytest.raises(FileNotFoundError):
        check_output_file(tmp_path / "nope" / "b.h5ad")
