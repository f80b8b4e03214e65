"""Intersphinx inventories for building the docs without network access.

intersphinx reads each library's ``objects.inv`` from its website. Where the website cannot be
reached (a sandbox, CI without network), ``conf.py`` falls back to the inventories this module
writes: the names these pages link to, with the addresses the libraries' own documentation
gives them. An inventory is the documented format of Sphinx (version 2): four header lines,
then zlib-compressed lines ``name domain:role priority uri display-name``.

Every name is checked against the installed library before it is written, so a name that a
library drops fails the docs build here instead of making a dead link.
"""

import importlib
import socket
import zlib
from urllib.parse import urlsplit

# (name, role, address relative to the library's documentation). ``$`` stands for the name.
PYTHON = [
    *[(name, "py:class", "library/functions.html#$") for name in ("int", "float", "bool")],
    *[(name, "py:class", "library/stdtypes.html#$") for name in ("str", "dict", "list", "tuple")],
    ("object", "py:class", "library/functions.html#object"),
    ("callable", "py:function", "library/functions.html#callable"),
    ("None", "py:data", "library/constants.html#None"),
    ("True", "py:data", "library/constants.html#True"),
    ("False", "py:data", "library/constants.html#False"),
    ("bltin-boolean-values", "std:label", "library/stdtypes.html#bltin-boolean-values"),
    ("fractions.Fraction", "py:class", "library/fractions.html#$"),
    ("pickle", "py:module", "library/pickle.html#module-pickle"),
    ("json", "py:module", "library/json.html#module-json"),
    ("json.load", "py:function", "library/json.html#$"),
    ("pathlib.Path", "py:class", "library/pathlib.html#$"),
    ("KeyboardInterrupt", "py:exception", "library/exceptions.html#$"),
    ("ValueError", "py:exception", "library/exceptions.html#$"),
    ("TypeError", "py:exception", "library/exceptions.html#$"),
    ("FileNotFoundError", "py:exception", "library/exceptions.html#$"),
    ("UserWarning", "py:exception", "library/exceptions.html#$"),
    ("callable", "std:term", "glossary.html#term-callable"),
    ("path-like object", "std:term", "glossary.html#term-path-like-object"),
]
NUMPY = [
    ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$"),
    ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html#$"),
    ("numpy.float32", "py:class", "reference/arrays.scalars.html#$"),
    ("numpy.float64", "py:class", "reference/arrays.scalars.html#$"),
    ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$"),
    ("numpy.inf", "py:data", "reference/constants.html#$"),
    ("numpy.savez", "py:function", "reference/generated/numpy.savez.html#$"),
    ("numpy.load", "py:function", "reference/generated/numpy.load.html#$"),
]
SCIPY = [
    ("scipy.optimize.minimize", "py:function", "reference/generated/$.html#$"),
    ("scipy.sparse.csr_matrix", "py:class", "reference/generated/scipy.sparse.csr_matrix.html#$"),
    ("scipy.special.expit", "py:data", "reference/generated/scipy.special.expit.html#$"),
    ("scipy.special.log_expit", "py:data", "reference/generated/scipy.special.log_expit.html#$"),
    (
        "scipy.optimize.OptimizeResult",
        "py:class",
        "reference/generated/scipy.optimize.OptimizeResult.html#$",
    ),
]
SKLEARN_CLASSES = [
    "sklearn.neural_network.MLPClassifier",
    "sklearn.neural_network.MLPRegressor",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing.StandardScaler",
    "sklearn.model_selection.GridSearchCV",
    "sklearn.model_selection.RandomizedSearchCV",
    "sklearn.compose.TransformedTargetRegressor",
    "sklearn.metrics.ConfusionMatrixDisplay",
    "sklearn.inspection.DecisionBoundaryDisplay",
    "sklearn.exceptions.ConvergenceWarning",
    "sklearn.exceptions.InconsistentVersionWarning",
    "sklearn.exceptions.EfficiencyWarning",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.linear_model.RidgeCV",
    "sklearn.linear_model.PoissonRegressor",
    "sklearn.linear_model.GammaRegressor",
    "sklearn.ensemble.HistGradientBoostingRegressor",
]
SKLEARN_FUNCTIONS = [
    "sklearn.pipeline.make_pipeline",
    "sklearn.model_selection.cross_val_score",
    "sklearn.model_selection.validation_curve",
    "sklearn.model_selection.train_test_split",
    "sklearn.datasets.load_digits",
    "sklearn.datasets.load_iris",
    "sklearn.datasets.load_diabetes",
    "sklearn.datasets.make_moons",
    "sklearn.datasets.make_multilabel_classification",
    "sklearn.metrics.accuracy_score",
    "sklearn.metrics.r2_score",
    "sklearn.metrics.hamming_loss",
    "sklearn.metrics.log_loss",
    "sklearn.set_config",
    "sklearn.config_context",
    "sklearn.clone",
]
SKLEARN = [
    *[(name, "py:class", "modules/generated/$.html#$") for name in SKLEARN_CLASSES],
    *[(name, "py:function", "modules/generated/$.html#$") for name in SKLEARN_FUNCTIONS],
    ("sklearn.callback", "py:module", "api/sklearn.callback.html#module-sklearn.callback"),
    ("estimator", "std:term", "glossary.html#term-estimator"),
    ("array-like", "std:term", "glossary.html#term-array-like"),
    ("sparse matrix", "std:term", "glossary.html#term-sparse-matrix"),
    ("random_state", "std:term", "glossary.html#term-random_state"),
]
MATPLOTLIB = [
    ("matplotlib.pyplot.subplots", "py:function", "api/_as_gen/matplotlib.pyplot.subplots.html#$"),
    ("matplotlib.pyplot.show", "py:function", "api/_as_gen/matplotlib.pyplot.show.html#$"),
    ("matplotlib.axes.Axes.imshow", "py:method", "api/_as_gen/matplotlib.axes.Axes.imshow.html#$"),
]

INVENTORIES = {
    "python": ("Python", PYTHON),
    "numpy": ("NumPy", NUMPY),
    "scipy": ("SciPy", SCIPY),
    "sklearn": ("scikit-learn", SKLEARN),
    "matplotlib": ("Matplotlib", MATPLOTLIB),
}


def _resolve(name):
    """The object a dotted name stands for in the installed library (raises if none)."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(name)


def _check(library, name, role):
    if role.startswith("std:") or (library == "python" and "." not in name) or name == "numpy.inf":
        return
    _resolve(name)  # AttributeError or ImportError: the library no longer has it


def write_offline_inventories(folder):
    """Write ``<library>.inv`` for each library into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for library, (project, entries) in INVENTORIES.items():
        lines = []
        for name, role, uri in entries:
            _check(library, name, role)
            display = "-"
            lines.append(f"{name} {role} 1 {uri.replace('$', name)} {display}")
        header = (
            "# Sphinx inventory version 2\n"
            f"# Project: {project}\n"
            "# Version: \n"
            "# The remainder of this file is compressed using zlib.\n"
        )
        body = zlib.compress(("\n".join(lines) + "\n").encode())
        (folder / f"{library}.inv").write_bytes(header.encode() + body)
    return folder


def reachable(url, timeout):
    """Whether the host of ``url`` accepts a connection on its HTTPS port within ``timeout``
    seconds: one quiet try, instead of one long connection error per inventory."""
    try:
        socket.create_connection((urlsplit(url).hostname, 443), timeout=timeout).close()
    except OSError:
        return False
    return True
