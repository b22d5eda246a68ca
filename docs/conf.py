"""Sphinx configuration for the autodiff documentation (``make docs``)."""
import doctest
import os
import sys

# Document the source tree this file belongs to, not whatever copy is installed.
sys.path.insert(0, os.path.abspath(".."))

import autodiff  # noqa: E402

project = "autodiff"
author = "the autodiff authors"
copyright = "the autodiff authors"
release = version = autodiff.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]

# `name` in a docstring is a cross-reference when it names a documented object (`Node`,
# `grad`), and plain code otherwise (argument names such as `wrt`).
default_role = "py:obj"

autodoc_member_order = "bysource"
# A method that overrides another without a docstring of its own is left out, rather than
# shown with the base class's text (which describes the general case, not the override).
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True}
autosummary_generate = False
toc_object_entries = False  # the tables of contents list pages and sections, not every object

napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# Every example in the reference runs as a doctest in this namespace. Exception messages
# are compared too (Sphinx's default would ignore them); "..." matches anything.
doctest_default_flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
doctest_global_setup = """
import numpy as np
import autodiff as ad
from autodiff import nn
"""

html_theme = "alabaster"
html_title = f"autodiff {release}"
html_theme_options = {
    "description": "Graph-to-graph symbolic differentiation over numpy arrays",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "sidebar_width": "230px",
    "body_max_width": "none",
}
html_static_path = ["_static"]  # custom.css, which alabaster loads
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_show_sourcelink = False

# --- stopgap for docstrings outside autodiff/nn that reST misreads ----------------------
# Each entry replaces one piece of text in one object's docstring, as the docs are built,
# so that it renders as its author meant; the source files are untouched. When a source
# docstring is fixed the entry no longer matches, and the build says so: delete the entry.
