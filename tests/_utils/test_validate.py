"""Input validation helpers (``hyperperturb._utils._validate``)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperperturb._utils._validate import sanitize_for_h5ad, str_array


@pytest.mark.parametrize(
    "stored",
    [
        np.array(["G001", "Gène"], dtype=np.dtypes.StringDType()),  # zarr with anndata >= 0.12 and NumPy 2
        np.array(["G001", "Gène"], dtype=object),
        np.array([b"G001", "Gène".encode()], dtype=object),
        np.array([b"G001", "Gène".encode()]),
        np.array(["G001", "Gène"]),
        ["G001", "Gène"],
    ],
    ids=["StringDType", "object", "object-bytes", "bytes", "str", "list"],
)
def test_str_array_reads_every_stored_name_dtype(stored):
    out = str_array(stored)
    assert out.dtype.kind == "U"
    assert out.tolist() == ["G001", "Gène"]


def test_str_array_keeps_the_shape():
    stored = np.array([["a", "bb"], ["c", "d"]], dtype=np.dtypes.StringDType())
    out = str_array(stored)
    assert out.shape == (2, 2) and out.dtype.kind == "U" and out[0, 1] == "bb"
    assert str_array(np.array([], dtype=np.dtypes.StringDType())).shape == (0,)
    assert str_array("G001").tolist() == "G001"


def test_sanitize_decodes_object_names_of_bytes():
    assert sanitize_for_h5ad(np.array([b"G001", "G002"], dtype=object)).tolist() == ["G001", "G002"]
