"""Reading network and mapping files (``hyperperturb.pp._network_io``): identifier columns stay identifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb.pp._network_io import read_table

from ._helpers import tiny_screen

#: An edge list over the genes G0..G4 of a tiny screen.
NET = pd.DataFrame(
    {"source": ["G0", "G1", "G2", "G3"], "target": ["G1", "G2", "G3", "G4"], "weight": [0.9, 0.8, 0.7, 0.6]}
)


def _screen_with_ids(ids: list[str]):
    """A tiny screen whose genes G0..G4 are named ``ids`` (e.g. Entrez or zero-padded ids)."""
    a = tiny_screen(n_genes=5)
    a.var_names = ids
    return a


def _adjacency(a) -> np.ndarray:
    return a.varp["hp_adjacency"].toarray()


GENES = ["G0", "G1", "G2", "G3", "G4"]
ENTREZ = ["7157", "672", "675", "1956", "5290"]


def _renamed(ids: list[str]) -> pd.DataFrame:
    """:data:`NET` with its genes named ``ids``."""
    rename = dict(zip(GENES, ids, strict=True))
    return NET.assign(source=NET["source"].map(rename), target=NET["target"].map(rename))


@pytest.mark.parametrize("ids", [ENTREZ, ["00001", "00002", "00003", "00010", "00100"]])
@pytest.mark.parametrize("columns", [("source", "target"), ("entrez_a", "entrez_b")])
@pytest.mark.parametrize("sep", [",", "\t"])
def test_numeric_ids_in_a_network_file_are_read_as_ids(tmp_path, ids, columns, sep):
    net = _renamed(ids)
    path = tmp_path / ("net.csv" if sep == "," else "net.tsv")
    net.rename(columns=dict(zip(["source", "target"], columns, strict=True))).to_csv(path, sep=sep, index=False)
    a = _screen_with_ids(ids)
    # known gene-column names are found alone; other names are given
    kw = {} if columns[0] == "source" else {"source": columns[0], "target": columns[1]}
    hp.pp.gene_network(a, str(path), **kw)
    b = _screen_with_ids(ids)
    hp.pp.gene_network(b, net)
    np.testing.assert_array_equal(_adjacency(a), _adjacency(b))
    assert a.uns["hyperperturb"]["network"]["n_edges"] == len(NET)


def test_zero_padded_ids_keep_their_zeros_and_weights_stay_numbers(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text("id_a,id_b,score,n_references,is_stimulation\n00001,00002,0.5,3,True\n00002,00010,0.25,1,False\n")
    df = read_table(path)
    assert df["id_a"].tolist() == ["00001", "00002"] and df["id_b"].tolist() == ["00002", "00010"]
    assert df["score"].dtype == np.float64 and df["n_references"].dtype == np.int64
    assert df["is_stimulation"].tolist() == [True, False]


def test_a_headerless_file_of_numeric_ids(tmp_path):
    path = tmp_path / "net.tsv"
    path.write_text("7157\t672\t0.5\n672\t675\t1\n")
    df = read_table(path)
    assert list(df.columns) == ["source", "target", "weight"]
    assert df["source"].tolist() == ["7157", "672"] and df["weight"].tolist() == [0.5, 1.0]


def test_text_names_the_identifier_columns(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text("a,b,w\n1,2,0.5\n")
    assert read_table(path)["a"].dtype == np.int64  # an unnamed numeric column is a number
    assert read_table(path, text=["a", "b"])[["a", "b"]].to_numpy().tolist() == [["1", "2"]]
    assert read_table(path, text=True)["w"].tolist() == ["0.5"]


def test_a_mapping_file_with_entrez_ids(tmp_path):
    path = tmp_path / "map.csv"
    pd.DataFrame({"symbol": GENES, "entrez": [int(x) for x in ENTREZ]}).to_csv(path, index=False)
    net = NET.assign(source=NET["source"].map(dict(zip(GENES, ENTREZ, strict=True))))
    a = tiny_screen(n_genes=5)
    a.var_names = GENES
    hp.pp.gene_network(a, net, mapping=str(path))
    b = tiny_screen(n_genes=5)
    b.var_names = GENES
    hp.pp.gene_network(b, NET)
    np.testing.assert_array_equal(_adjacency(a), _adjacency(b))
