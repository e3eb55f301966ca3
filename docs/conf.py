"""Sphinx configuration of fastbp's documentation: pip install ".[docs]", then
sphinx-build -W -b html docs docs/_build/html"""

import os

import fastbp  # pip install ".[docs]" installs it and what the build needs

os.environ.setdefault("MPLBACKEND", "Agg")

project = "fastbp"
author = "the fastbp developers"
copyright = "2026, the fastbp developers"
release = version = fastbp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax from a package, copied into the build: the math renders offline (the default
    # loads MathJax from a CDN)
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# The guide pages (once sections of README.md) start their headings at level 3.
suppress_warnings = ["myst.header"]

templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# Signatures as written in the source (dtype=np.float32), not as the default's repr
# (dtype=<class 'numpy.float32'>).
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# No intersphinx: the build must work offline (CI has no network but the package registries).

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # run plot_*.py at build time; show the others as code
    "download_all_examples": False,
    "remove_config_comments": True,
}

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_css_files = ["fastbp.css"]
html_title = "fastbp"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}
