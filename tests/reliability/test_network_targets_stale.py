"""The network's extra nodes follow the declared targets: targets declared after ``hp.pp.gene_network`` are flagged.

``hp.pp.gene_network`` adds a node for each perturbation target outside ``var_names`` that is in the network, from
the targets ``hp.pp.perturbations`` had declared when it ran. Targets outside ``var_names`` declared later (or a
network built before any perturbations) have no node: the network is stale, ``hyperperturb info`` says so, and
``hp.tl.train`` / ``hp.tl.evaluate`` refuse with the fix. Re-runs that do not add such targets change nothing.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb._cli import main
from hyperperturb._utils import check_current, get_ledger, stale_reason

from ._data import screen
from ._snapshot import assert_unchanged, snapshot

#: X9 and Y7 are perturbation targets outside var_names (G0..G11) but in the network.
PERTS = ("G0", "G1", "X9", "Y7")
NET = pd.DataFrame({"a": ["G0", "G1", "X9", "Y7"], "b": ["G1", "G2", "G2", "G3"]})
NET_MATRIX = np.diag(np.ones(11), 1) + np.diag(np.ones(11), -1)  # a chain G0-G1-...-G11
FIX = r"Re-run `hp\.pp\.gene_network\(adata, network\)` after `hp\.pp\.perturbations`"


def _screen():
    return screen(perts=PERTS)


def _redeclared():
    """Y7 ignored when the network is built, declared afterwards; rewards current."""
    a = _screen()
    hp.pp.perturbations(a, ignore=["Y7"])
    hp.pp.gene_network(a, NET)
    assert list(get_ledger(a)["network"]["extra_nodes"]) == ["X9"]
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    return a


def test_targets_declared_after_the_network_make_it_stale():
    a = _redeclared()
    why = stale_reason(get_ledger(a), "network")
    assert why is not None and "re-run after `hp.pp.gene_network`" in why and "(Y7)" in why and "X9" not in why
    snap = snapshot(a)
    with pytest.raises(ValueError, match=rf"hp\.tl\.train: .*new target gene\(s\) outside var_names \(Y7\).*{FIX}"):
        hp.tl.train(a, epochs=1, verbose=False)
    with pytest.raises(ValueError, match=rf"hp\.tl\.evaluate: .*\(Y7\).*{FIX}"):
        hp.tl.evaluate(a, models=(), baselines=("mean",), n_splits=1, n_null=10, k=2, verbose=False)
    with pytest.raises(ValueError, match=rf"hp\.tl\.embed_network: .*\(Y7\).*{FIX}"):
        hp.tl.embed_network(a, epochs=2)
    assert_unchanged(a, snap)


def test_info_shows_the_stale_network(tmp_path, capsys):
    a = _redeclared()
    f = tmp_path / "s.h5ad"
    a.write_h5ad(f)
    # the recorded targets survive the file
    assert stale_reason(get_ledger(ad.read_h5ad(f)), "network") is not None
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("STALE network:") and "(Y7)" in line for line in out.splitlines()), out
    assert main(["info", str(f), "--full"]) == 0
    assert "  network [STALE: inputs changed since]" in capsys.readouterr().out


def test_rerunning_the_network_gives_the_new_targets_a_node():
    a = _redeclared()
    hp.pp.gene_network(a, NET)  # the fix named in the message
    assert sorted(get_ledger(a)["network"]["extra_nodes"]) == ["X9", "Y7"]
    assert stale_reason(get_ledger(a), "network") is None
    hp.tl.train(a, epochs=1, verbose=False)
    t = get_ledger(a)["train"]
    scorable = dict(zip(np.asarray(t["perturbations"]).astype(str), np.asarray(t["scorable"], dtype=bool), strict=True))
    assert scorable["Y7"] and scorable["X9"]


def test_network_built_before_perturbations_names_the_order_and_the_fix():
    a = _screen()
    hp.pp.gene_network(a, NET)
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    snap = snapshot(a)
    match = rf"hp\.tl\.train: .*built by `hp\.pp\.gene_network` before `hp\.pp\.perturbations`.*\(X9, Y7\).*{FIX}"
    with pytest.raises(ValueError, match=match):
        hp.tl.train(a, epochs=1, verbose=False)
    assert_unchanged(a, snap)


@pytest.mark.parametrize(
    "second",
    [
        {},  # identical re-run
        {"ignore": ["Y7"]},  # a target dropped: its extra node is harmless
        {"ignore": ["G0"]},  # a measured target dropped
    ],
)
def test_reruns_that_add_no_unmeasured_target_keep_the_network_current(second):
    a = _screen()
    hp.pp.perturbations(a)
    hp.pp.gene_network(a, NET)
    hp.pp.perturbations(a, **second)
    assert stale_reason(get_ledger(a), "network") is None
    check_current(a, "network", needed_by="hp.tl.train")


def test_network_before_perturbations_with_every_target_measured_keeps_working():
    """The order gene_network -> perturbations stays valid when every target is a measured gene."""
    a = screen(perts=("G0", "G1", "G2"))
    hp.pp.gene_network(a, NET)
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    assert stale_reason(get_ledger(a), "network") is None
    hp.tl.train(a, epochs=1, verbose=False)
    assert stale_reason(get_ledger(a), "train") is None


@pytest.mark.parametrize("network", ["coexpression", "matrix"])
def test_networks_without_extra_nodes_never_go_stale_for_targets(network):
    """Co-expression and matrix networks hold measured genes only: declaring targets later changes nothing."""
    a = _screen()
    hp.pp.gene_network(a, "coexpression" if network == "coexpression" else NET_MATRIX, n_neighbors=3)
    hp.pp.perturbations(a)
    assert stale_reason(get_ledger(a), "network") is None
    check_current(a, "network", needed_by="hp.tl.train")


def test_entries_without_the_recorded_targets_are_taken_as_current():
    a = _redeclared()
    led = a.uns["hyperperturb"]
    led["network"].pop("perturbations_declared")
    assert stale_reason(get_ledger(a), "network") is None
    b = _redeclared()
    b.uns["hyperperturb"]["perturbations"].pop("unmeasured_targets")
    assert stale_reason(get_ledger(b), "network") is None
