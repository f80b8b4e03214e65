"""Sphinx configuration of sklearn-bp's documentation: ``sphinx-build -W docs docs/_build/html``.

numpydoc renders the docstrings, autosummary the API reference, sphinx-gallery runs the
scripts in ``examples/`` into a gallery with their figures, and intersphinx links to Python,
NumPy, SciPy, scikit-learn and matplotlib. Without network access (as in CI here), intersphinx
reads inventories written by ``_inventories.py`` for the names these pages use, and MathJax
comes with the site (``sphinx-mathjax-offline``), so its pages render their math offline.
"""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _inventories import reachable, write_offline_inventories  # noqa: E402

import sklearn_bp  # noqa: E402

project = "sklearn-bp"
author = "the sklearn-bp developers"
copyright = "the sklearn-bp developers, BSD-3-Clause"
release = sklearn_bp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax from the package, copied into the built site: the pages render their
    # mathematics without network access, where the default would fetch it from a CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
root_doc = "index"
default_role = "literal"
nitpicky = True

# The API reference: one page per public name, methods listed by the class template.
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "estimator": ":term:`sklearn:estimator`",
    "array-like": ":term:`array-like <sklearn:array-like>`",
    "sparse matrix": ":term:`sparse matrix <sklearn:sparse matrix>`",
    "ndarray": "numpy.ndarray",
    "RandomState": "numpy.random.RandomState",
    "dtype": "numpy.dtype",
    "path-like": ":term:`path-like object <python:path-like object>`",
    "callable": ":term:`python:callable`",
    "BackpropClassifier": "sklearn_bp.BackpropClassifier",
    "BackpropRegressor": "sklearn_bp.BackpropRegressor",
    "Pipeline": "sklearn.pipeline.Pipeline",
}
numpydoc_xref_ignore = {
    "of", "or", "shape", "default", "optional", "instance", "n_samples", "n_features",
    "n_outputs", "n_params", "n_classes", "n_layers", "fan_in", "fan_out", "s_l", "s_", "1",
    "L", "None", "True", "False", "to", "int", "float", "str", "bool", "dict", "list", "tuple",
    "object", "inf", "an", "from", "n_labels",
    "onnx.ModelProto",
}  # fmt: skip

# Links to the documentation of the libraries sklearn-bp builds on. Each is fetched from the
# web when possible, with the offline inventory written below as its fallback. Without network
# access the offline inventories serve alone: asking each site would print a long connection
# error per library.
OFFLINE = HERE / "_build" / "offline_inventories"
write_offline_inventories(OFFLINE)
SITES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}
intersphinx_timeout = float(os.environ.get("SKLEARN_BP_INTERSPHINX_TIMEOUT", "5"))
ONLINE = reachable(SITES["python"], intersphinx_timeout)
intersphinx_mapping = {
    name: (url, (None, str(OFFLINE / f"{name}.inv")) if ONLINE else str(OFFLINE / f"{name}.inv"))
    for name, url in SITES.items()
}

# The gallery: every examples/plot_*.py is run, its output and figures shown.
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "reference_url": {"sklearn_bp": None},
    "doc_module": ("sklearn_bp",),
    "backreferences_dir": None,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
}
# The examples' own warnings would be errors under -W: they must run clean.
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-bp {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
html_static_path = []
