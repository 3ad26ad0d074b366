"""Sphinx configuration for hyperperturb."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "hyperperturb"
author = "hyperperturb developers"
copyright = "2026, hyperperturb developers"
release = _version("hyperperturb")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_autodoc_typehints",
]
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
master_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
typehints_defaults = "comma"
always_document_param_types = False

# No network in CI: intersphinx inventories cannot be fetched, so links to other projects stay plain text.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False
suppress_warnings = ["myst.header", "config.cache"]

html_theme = "furo"
html_title = "hyperperturb"
html_static_path: list[str] = []
