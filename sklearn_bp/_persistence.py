"""Saving and loading fitted models: skops first, pickle and joblib for files one trusts.

A skops file is data, not code: loading it builds only types the loader is told to trust. A
fitted estimator of sklearn-bp holds arrays, numbers, strings, lists and dicts and nothing
else, so that it loads trusting only its own type (:data:`TRUSTED_TYPES`); scikit-learn's own
types (a ``StandardScaler`` in front of it, a ``Pipeline``) skops trusts by default. A pickle
runs whatever code it names when loaded, so :func:`load_model` reads one only when told to.

Every fitted estimator records the versions it was trained with (:func:`library_versions`);
loading it into another version of sklearn-bp warns with :class:`InconsistentVersionWarning`.
"""

import os
import pickle
import platform
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from ._version import __version__

#: The types a skops file of a fitted sklearn-bp estimator needs trusted, beyond scikit-learn's.
TRUSTED_TYPES = (
    "sklearn_bp._classifier.BackpropClassifier",
    "sklearn_bp._regressor.BackpropRegressor",
)

# How a pickle (protocol 2 and later) or a compressed joblib file begins: zlib, gzip, bz2, xz,
# lzma, lz4.
PICKLE_STARTS = (
    b"\x80",
    b"\x78",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)

# Suffix of the file name → format written by save_model.
FORMATS = {".skops": "skops", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib"}


class InconsistentVersionWarning(UserWarning):
    """Warning when a model is loaded into another version of sklearn-bp than it was fit with.

    Parameters
    ----------
    estimator_name : str
        Name of the estimator's class.
    original_version : str
        The version of sklearn-bp the estimator was fitted with.
    current_version : str
        The version of sklearn-bp it is loaded into.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_bp import InconsistentVersionWarning
    >>> warning = InconsistentVersionWarning("BackpropClassifier", "0.1.0", "0.2.0")
    >>> print(warning)  # doctest: +ELLIPSIS
    Loading a BackpropClassifier fitted with sklearn-bp 0.1.0 into sklearn-bp 0.2.0...
    """

    def __init__(self, estimator_name, original_version, current_version):
        self.estimator_name = estimator_name
        self.original_version = original_version
        self.current_version = current_version
        super().__init__(
            f"Loading a {estimator_name} fitted with sklearn-bp {original_version} into "
            f"sklearn-bp {current_version}: this might lead to breaking code or invalid "
            f"results. Refit it with this version, or use the version it was fitted with."
        )


def library_versions():
    """The versions of sklearn-bp, NumPy, SciPy, scikit-learn and Python now running.

    Returns
    -------
    versions : dict of str to str
        ``{"sklearn-bp": ..., "numpy": ..., "scipy": ..., "scikit-learn": ..., "python": ...}``.
    """
    import numpy
    import scipy
    import sklearn

    return {
        "sklearn-bp": __version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def _skops_io():
    try:
        import skops.io
    except ImportError:
        from ._optional import missing_message

        raise ImportError(missing_message("Saving and loading .skops files", ["skops"])) from None
    return skops.io


def save_model(model, path):
    """Save a fitted model to ``path``, in the format its suffix names.

    Parameters
    ----------
    model : estimator
        The model to save: a fitted :class:`BackpropClassifier`, :class:`BackpropRegressor`,
        or any scikit-learn estimator or pipeline holding one.
    path : str or path-like
        Where to write. ``.skops`` writes a skops file, which loads without running code (the
        recommended format); ``.pkl`` or ``.pickle`` a pickle; ``.joblib`` a joblib file.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If the suffix of ``path`` names no known format.
    TypeError
        If a skops file is asked for a model that holds arrays of another namespace than
        NumPy's (a fit on PyTorch or CuPy arrays under ``array_api_dispatch``).

    See Also
    --------
    load_model : Load what this function saved.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bp import BackpropClassifier, load_model, save_model
    >>> X, y = load_iris(return_X_y=True)
    >>> model = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_model(model, Path(folder) / "iris.skops")
    ...     loaded = load_model(path)
    >>> bool((loaded.predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(
            f"Cannot tell the format of {str(path)!r} from its suffix: use .skops (recommended: "
            f"it loads without running code), .pkl, .pickle or .joblib."
        )
    if kind == "skops":
        _refuse_device_arrays(model)
    # Written next to the target and moved over it at the end: an error or an interrupt
    # half-way leaves an existing file as it was.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(temporary)
    try:
        if kind == "skops":
            _skops_io().dump(model, temporary)
        elif kind == "joblib":
            import joblib

            joblib.dump(model, temporary)
        else:
            with temporary.open("wb") as file:
                pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _device_arrays(obj, depth=0):
    """Types of the arrays of other namespaces than NumPy's (torch, CuPy, ...) that ``obj``,
    its fitted attributes and the estimators it holds contain."""
    if depth > 8:
        return set()
    if hasattr(obj, "__dlpack__") and not isinstance(obj, np.ndarray | np.generic):
        return {f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}"}
    if isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, list | tuple):
        items = obj
    elif isinstance(obj, BaseEstimator):
        items = vars(obj).values()
    else:
        return set()
    return set().union(*(_device_arrays(item, depth + 1) for item in items))


def _refuse_device_arrays(model):
    """skops files hold NumPy arrays only: refuse a model fitted on a device's arrays."""
    found = _device_arrays(model)
    if found:
        raise TypeError(
            f"A skops file holds NumPy arrays only, and this model holds {sorted(found)} "
            f"from a fit under array_api_dispatch. Move its arrays to NumPy first (scikit-learn "
            f"1.9: sklearn.utils._array_api.move_estimator_to(model, numpy, 'cpu')), or save a "
            f".pkl or .joblib file, which keeps them where they are."
        )


def load_model(path, *, trust_pickle=False):
    """Load a model saved by :func:`save_model` (or by skops, pickle or joblib).

    A skops file is recognized by its content, whatever its name, and loaded trusting only
    scikit-learn's types and :data:`TRUSTED_TYPES`: a file naming any other type is refused
    before anything is built. Any other file is taken for a pickle or joblib file, which can
    run arbitrary code as it loads: it is read only with ``trust_pickle=True``.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    trust_pickle : bool, default=False
        Whether to load a pickle or joblib file. Only pass True for files you trust.

    Returns
    -------
    model : estimator
        The loaded model.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is a pickle and ``trust_pickle`` is False, or no model file at all.
    skops.io.exceptions.UntrustedTypesFoundException
        If the skops file names a type outside scikit-learn's and :data:`TRUSTED_TYPES`.

    See Also
    --------
    save_model : Save a model.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bp import BackpropClassifier, load_model, save_model
    >>> X, y = load_iris(return_X_y=True)
    >>> model = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_model(model, Path(folder) / "iris.pkl")
    ...     loaded = load_model(path, trust_pickle=True)
    >>> loaded.predict(X[:3])
    array([0, 0, 0])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if zipfile.is_zipfile(path):
        return _skops_io().load(path, trusted=list(TRUSTED_TYPES))
    with path.open("rb") as file:
        start = file.read(8)
    if not start.startswith(PICKLE_STARTS):
        raise ValueError(
            f"{str(path)!r} is not a model file: neither a skops file nor a pickle or joblib file."
        )
    if not trust_pickle:
        raise ValueError(
            f"{str(path)!r} is not a skops file: it is a pickle or joblib file, which can run "
            f"arbitrary code when loaded. Load it only if you trust its source, with "
            f"trust_pickle=True (--trust-pickle on the command line)."
        )
    import joblib

    return joblib.load(path)
