from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import hyperperturb as hp


@pytest.mark.real
def test_papalexi_real(papalexi_path):
    a = hp.datasets.papalexi2021(papalexi_path)
    cats = list(a.obs["perturbation"].cat.categories)
    assert "non-targeting" in cats and "multiple" not in cats
    assert len(cats) == 26  # 25 targets + control
    assert a.obs["grna_assigned"].all()
    assert a.n_vars == 299 and a.n_obs == 20729 - 966
    assert sparse.issparse(a.X) and np.issubdtype(a.X.dtype, np.integer)
    assert a.obs["is_control"].sum() == 2304
    # folder works too, and keeping unassigned cells
    full = hp.datasets.papalexi2021(papalexi_path.parent, drop_unassigned=False)
    assert full.n_obs == 20729 and "multiple" in full.obs["perturbation"].cat.categories


@pytest.mark.real
def test_papalexi_env_var(papalexi_path, monkeypatch):
    monkeypatch.setenv("HYPERPERTURB_DATA", str(papalexi_path.parent))
    assert hp.datasets.papalexi2021().n_obs == 20729 - 966


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERPERTURB_DATA", raising=False)
    with pytest.raises(ValueError, match="HYPERPERTURB_DATA"):
        hp.datasets.papalexi2021()
    with pytest.raises(FileNotFoundError, match="papalexi2021"):
        hp.datasets.papalexi2021(tmp_path)
