"""``gene_network(mapping=...)``: gaps in unused columns, and perturbation targets mapped like network ids."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb._utils import get_ledger
from hyperperturb._utils._schema import NetworkEntry, find

from ._helpers import tiny_screen

SYMBOLS = ["G0", "G1", "G2", "G3", "G4"]
ENSEMBL = [f"ENSG{i}" for i in range(5)]
NET = pd.DataFrame(
    {
        "source": ["G0", "G1", "G2", "X1", "X1"],
        "target": ["G1", "G2", "G3", "G3", "G4"],
        "weight": [0.9, 0.8, 0.7, 0.6, 0.5],
    }
)


def _ensembl_screen(labels: dict[str, str] | None = None):
    a = tiny_screen(n_genes=5)
    a.var_names = ENSEMBL
    if labels:
        a.obs["perturbation"] = a.obs["perturbation"].replace(labels)
    return a


def _table(uniprot: list) -> pd.DataFrame:
    """HGNC-like table: symbol, Ensembl id and a UniProt id that is missing for some genes."""
    return pd.DataFrame(
        {
            "hgnc_symbol": [*SYMBOLS, "X1"],
            "ensembl_gene_id": [*ENSEMBL, "ENSGX1"],
            "uniprot_id": uniprot,
        }
    )


def test_mapping_keeps_rows_with_a_gap_in_an_unused_column():
    # G1 and G3 have no UniProt id: they must still be mapped (symbol -> Ensembl does not need it)
    table = _table(["P0", np.nan, "P2", None, "P4", "PX"])
    full, two = _ensembl_screen(), _ensembl_screen()
    hp.pp.gene_network(full, NET, mapping=table)
    hp.pp.gene_network(two, NET, mapping=table[["hgnc_symbol", "ensembl_gene_id"]])
    ef, et = get_ledger(full)["network"], get_ledger(two)["network"]
    assert ef["n_matched"] == et["n_matched"] == 5
    assert ef["n_edges"] == et["n_edges"] == 3
    assert (full.varp["hp_adjacency"] != two.varp["hp_adjacency"]).nnz == 0
    assert full.varp["hp_adjacency"][0, 1] == pytest.approx(0.9)
    assert full.varp["hp_adjacency"][2, 3] == pytest.approx(0.7)
    assert ef["params"]["mapping"] == "hgnc_symbol->ensembl_gene_id"


def test_mapping_ignores_rows_missing_an_id_of_the_pair_used():
    table = _table(["P0", "P1", "P2", "P3", "P4", "PX"])
    table.loc[1, "ensembl_gene_id"] = np.nan  # G1 cannot be mapped, and never to the string "nan"
    a = _ensembl_screen()
    hp.pp.gene_network(a, NET, mapping=table)
    A = a.varp["hp_adjacency"]
    assert A[0, 1] == 0 and A[1, 2] == 0 and A[2, 3] == pytest.approx(0.7)
    assert get_ledger(a)["network"]["n_matched"] == 4  # ENSG1 is not named by any mapped edge


def test_symbol_targets_with_ensembl_var_names_are_mapped_like_the_network():
    # "G1" is a measured gene (var_name ENSG1), "X1" an unmeasured network node (ENSGX1), "Z9" is nowhere
    a = _ensembl_screen({"A": "G1", "B": "X1", "C": "Z9"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, NET, mapping=_table(["P0", np.nan, "P2", "P3", "P4", np.nan]))
    led = get_ledger(a)["network"]
    assert list(led["extra_nodes"]) == ["ENSGX1"]
    tn = dict(zip(led["target_nodes"]["targets"], led["target_nodes"]["nodes"], strict=True))
    assert tn == {"G1": "ENSG1", "X1": "ENSGX1"}
    assert find(a, NetworkEntry).target_nodes == tn


def test_target_nodes_empty_without_mapping_and_round_trip(tmp_path):
    a = tiny_screen(n_genes=5)
    a.var_names = SYMBOLS
    a.obs["perturbation"] = a.obs["perturbation"].replace({"A": "G1", "B": "X1"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, NET)
    assert find(a, NetworkEntry).target_nodes == {}
    assert list(get_ledger(a)["network"]["extra_nodes"]) == ["X1"]
    b = _ensembl_screen({"A": "G1", "B": "X1"})
    hp.pp.perturbations(b, ignore="multiple")
    hp.pp.gene_network(b, NET, mapping=_table(["P0", "P1", "P2", "P3", "P4", "PX"]))
    p = tmp_path / "mapped.h5ad"
    b.write_h5ad(p)
    c = ad.read_h5ad(p)
    assert find(c, NetworkEntry).target_nodes == {"G1": "ENSG1", "X1": "ENSGX1"}
    # a network entry written before target_nodes existed still reads (every target under its own name)
    del c.uns["hyperperturb"]["network"]["target_nodes"]
    assert find(c, NetworkEntry).target_nodes == {}


def test_mapped_targets_are_eligible_for_evaluate_and_design():
    """read_screen (evaluate, design) places targets through ``target_nodes`` as training does."""
    from hyperperturb.tl._screen._read import read_screen

    a = _ensembl_screen({"A": "G1", "B": "X1", "C": "Z9"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, NET, mapping=_table(["P0", np.nan, "P2", "P3", "P4", np.nan]))
    hp.tl.rewards(a, verbose=False)
    s = read_screen(a, needed_by="test")
    by = dict(zip(s.targets.tolist(), s.eligible.tolist(), strict=True))
    assert by["ENSG1"] and by["ENSGX1"] and not by["Z9"]
    assert s.target_index[s.targets.tolist().index("ENSG1")] == list(a.var_names).index("ENSG1")
    assert s.coverage["n_eligible"] == 2 and s.coverage["n_extra_node_target"] == 1
