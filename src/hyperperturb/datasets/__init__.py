"""Synthetic screens with a known hierarchy and loaders for real files (``hp.datasets``)."""

from ._synthetic import synthetic

__all__: list[str] = ["synthetic"]
