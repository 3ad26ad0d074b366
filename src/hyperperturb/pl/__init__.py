"""Plots in the style of ``sc.pl`` (``hp.pl``)."""

__all__: list[str] = []
