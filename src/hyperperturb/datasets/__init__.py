"""Synthetic screens with a known hierarchy and loaders for real files (``hp.datasets``)."""

__all__: list[str] = []
