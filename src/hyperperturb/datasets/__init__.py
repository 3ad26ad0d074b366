"""Synthetic screens with a known hierarchy and loaders for real files (``hp.datasets``)."""

from ._eccite2021 import papalexi2021
from ._string import string_network
from ._synthetic import synthetic
from ._truth_network import truth_network

__all__: list[str] = ["papalexi2021", "string_network", "synthetic", "truth_network"]
