"""``hp.tl.save_model`` / ``hp.tl.load_model``: the trained model as a ``.keras`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperperturb._utils import resolve
from hyperperturb._utils._schema import TrainEntry, read

from ._kinds import model_kind
from ._weights import trained_gene_order


def rebuild(adata, entry: TrainEntry) -> tuple[Any, Any, Any]:
    """Rebuild the trained model from the ``train`` ledger entry: ``(model, features, adjacency)``.

    ``features`` and ``adjacency`` (a ``tf.SparseTensor``) are ``None`` for ``model="simple"``. ``adata`` must
    hold the genes in the trained order (see :func:`trained_gene_order`); other orders are refused.
    """
    if trained_gene_order(adata, entry, needed_by="hp.tl.train's stored model") is not None:
        msg = "rebuild: genes are in another order than in training; pass adata[:, trained_gene_order(...)]."
        raise ValueError(msg)
    return model_kind(entry.model).rebuild(adata, entry)


def save_model(data: Any, path: str | Path, *, mod: str = "rna") -> Path:
    """Save the model trained by :func:`hyperperturb.tl.train` as a Keras ``.keras`` file.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    path
        Output file; must end in ``.keras``.
    mod
        RNA modality of a MuData.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> hp.tl.save_model(adata, "screen_model.keras")  # doctest: +SKIP
    >>> model = hp.tl.load_model("screen_model.keras")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix != ".keras":
        msg = f"path must end in '.keras' (the Keras 3 format), got {str(path)!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    entry = read(t.adata, TrainEntry, needed_by="hp.tl.save_model")
    order = trained_gene_order(t.adata, entry, needed_by="hp.tl.save_model")
    net, _, _ = rebuild(t.adata if order is None else t.adata[:, order], entry)
    net.save(path)
    return path


def load_model(path: str | Path) -> Any:
    """Load a model written by :func:`save_model` (``keras.saving.load_model`` with ``safe_mode=True``).

    Parameters
    ----------
    path
        A ``.keras`` file.

    Returns
    -------
    The :class:`~hyperperturb.nn.HyperPerturbModel` or :class:`~hyperperturb.nn.HyperbolicPerturbationModel`.
    Call it on ``(features, adjacency)`` (the graph model) or on one-hot perturbations (the simple model).
    """
    import zipfile

    from ._tensorflow import import_tensorflow

    import_tensorflow()
    import keras

    import hyperperturb.nn  # noqa: F401 - registers the serialisable classes

    path = Path(path)
    if not path.exists():
        msg = f"No model file at {str(path)!r}; write one with `hp.tl.save_model(adata, path)`."
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f"{str(path)!r} is a folder, not a .keras model file written by `hp.tl.save_model`."
        raise IsADirectoryError(msg)
    if not zipfile.is_zipfile(path):
        msg = (
            f"{str(path)!r} exists but is not a Keras model archive (a .keras file is a zip written by "
            "`hp.tl.save_model`); it may be truncated or another kind of file. Save the model again."
        )
        raise ValueError(msg)
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        msg = (
            f"Could not load the model in {str(path)!r}: it is not a complete model written by `hp.tl.save_model` "
            f"({type(e).__name__}: {' '.join(str(e).split())[:200]}). Save the model again."
        )
        raise ValueError(msg) from e
