from __future__ import annotations

import pytest

import hyperperturb as hp


@pytest.mark.real
def test_string_real(string_path):
    net = hp.datasets.string_network(string_path)
    assert list(net.columns) == ["source", "target", "weight"]
    assert len(net) == 131_520  # edges with combined score >= 700
    assert net["weight"].between(0.7, 1.0).all()
    strict = hp.datasets.string_network(string_path.parent, min_score=900)
    assert len(strict) == 71_378 and strict["weight"].min() >= 0.9
    assert len(hp.datasets.string_network(string_path, min_score=0)) == 174_962


def test_bad_min_score(tmp_path):
    with pytest.raises(ValueError, match="min_score"):
        hp.datasets.string_network(tmp_path, min_score=1001)
    with pytest.raises(FileNotFoundError, match="string_v12"):
        hp.datasets.string_network(tmp_path)


def test_min_score_given_as_a_weight_is_refused(tmp_path):
    """min_score=0.7 (gene_network's min_weight) silently kept every edge; it names the score to pass."""
    with pytest.raises(ValueError, match=r"scores run from 0 to 1000.*min_score=700"):
        hp.datasets.string_network(tmp_path, min_score=0.7)


def test_another_file_is_named_not_a_decode_error(tmp_path):
    binary = tmp_path / "screen.h5ad"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"not the STRING edge list.*gene_a, gene_b, combined_score"):
        hp.datasets.string_network(binary)
    other = tmp_path / "edges.csv"
    other.write_text("source,target,weight\nA,B,0.9\n")
    with pytest.raises(ValueError, match="not the STRING edge list"):
        hp.datasets.string_network(other)
