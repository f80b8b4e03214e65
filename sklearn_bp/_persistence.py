"""Saving and loading fitted models: skops first, pickle and joblib for files one trusts.

A skops file is data, not code: loading it builds only types the loader is told to trust. A
fitted estimator of sklearn-bp holds arrays, numbers, strings, lists and dicts and nothing
else, so that it loads trusting only its own type (:data:`TRUSTED_TYPES`); scikit-learn's
estimators (a ``StandardScaler`` in front of it, a ``Pipeline``) skops trusts by default.
scikit-learn's callbacks are not saved: they report on a fit, and are no part of the fitted model.
A pickle runs whatever code it names when loaded, so :func:`load_model` reads one only when told
to.

Every fitted estimator records the versions it was trained with (:func:`library_versions`);
loading it into another version of sklearn-bp warns with :class:`InconsistentVersionWarning`.
"""

import mmap
import os
import pickle
import pickletools
import platform
import secrets
import stat
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from ._version import __version__

#: The types a skops file of a fitted sklearn-bp estimator needs trusted, beyond scikit-learn's.
TRUSTED_TYPES = (
    "sklearn_bp._classifier.BackpropClassifier",
    "sklearn_bp._regressor.BackpropRegressor",
)

# How a pickle of protocol 2 and later or a compressed joblib file begins: zlib, gzip, bz2, xz,
# lzma, lz4. Protocols 0 and 1 have no header (see _is_pickle).
PICKLE_STARTS = (
    b"\x80",
    b"\x78",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)

# What scikit-learn's callbacks (sklearn.callback) keep on an estimator: those set_callbacks set
# and, during a fit, their context. Code that reports on a fit, not a part of the fitted model.
CALLBACK_ATTRIBUTES = (
    "_skl_callbacks",
    "_callback_fit_ctx",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
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
        The file is replaced whole, or left as it was if the save fails; a new file gets the
        mode ``open(path, "wb")`` would give it, an existing one keeps its mode. The
        callbacks set by ``set_callbacks`` are not saved (the model keeps them).

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
    OSError
        If the file cannot be written: no such folder, a folder at ``path``, no permission.
        The error names ``path``, as ``open(path, "wb")`` would.

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
    with _callbacks_set_aside(model):
        _write_replacing(path, lambda temporary: _DUMPS[kind](model, temporary))
    return path


def _dump_skops(model, path):
    _skops_io().dump(model, path)


def _dump_joblib(model, path):
    import joblib

    joblib.dump(model, path)


def _dump_pickle(model, path):
    with path.open("wb") as file:
        pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)


_DUMPS = {"skops": _dump_skops, "joblib": _dump_joblib, "pickle": _dump_pickle}


def _write_replacing(path, write):
    """Have ``write(temporary)`` write a file next to ``path``, then move it over ``path``.

    An error or an interrupt half-way leaves an existing file as it was. The file ends as
    ``open(path, "wb")`` would leave it: a new one with the mode that the umask (or the folder's
    default ACL) gives, an existing one with its mode; and an ``OSError`` names ``path``.
    """
    # 64 random bits: O_EXCL would refuse a name already taken, which then practically never is.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(temporary)
        _copy_mode(path, temporary)  # after writing: a read-only mode would refuse the writes
        os.replace(temporary, path)
    except OSError as error:
        if error.errno is None or str(error.filename) != str(temporary):
            raise
        # The temporary is ours, not the user's: name the file the user asked for.
        raise OSError(error.errno, error.strerror, str(path)) from None
    finally:
        temporary.unlink(missing_ok=True)


def _copy_mode(path, temporary):
    """Give ``temporary`` the mode of the file at ``path``, if there is one."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(status.st_mode):
        os.chmod(temporary, stat.S_IMODE(status.st_mode))


def _parts(obj, depth=0):
    """``obj`` and all it holds: the items of its lists, tuples and dicts and the attributes of
    its estimators, down to eight levels."""
    yield obj
    if depth >= 8:
        return
    if isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, list | tuple):
        items = obj
    elif isinstance(obj, BaseEstimator):
        items = vars(obj).values()
    else:
        return
    for item in items:
        yield from _parts(item, depth + 1)


def _device_arrays(model):
    """Types of the arrays of other namespaces than NumPy's (torch, CuPy, ...) in ``model``."""
    return {
        f"{type(part).__module__.split('.')[0]}.{type(part).__name__}"
        for part in _parts(model)
        if hasattr(part, "__dlpack__") and not isinstance(part, np.ndarray | np.generic)
    }


@contextmanager
def _callbacks_set_aside(model):
    """Take scikit-learn's callbacks off ``model`` and every estimator it holds, for a while.

    Not in ``__getstate__``: a copy of an estimator pickled for a parallel grid search keeps
    its callbacks, a saved model does not.
    """
    estimators = {id(part): part for part in _parts(model) if isinstance(part, BaseEstimator)}
    aside = [
        (state, {key: state.pop(key) for key in CALLBACK_ATTRIBUTES if key in state})
        for state in (vars(estimator) for estimator in estimators.values())
    ]
    try:
        yield
    finally:
        for state, callbacks in aside:
            state.update(callbacks)


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
    :data:`TRUSTED_TYPES` and the types skops trusts by default (scikit-learn's estimators and
    some of their parts): a file naming any other type is refused before anything is built.
    Any other file must be a pickle (of any protocol, 0 to 5) or a joblib file, which can run
    arbitrary code as it loads: it is read only with ``trust_pickle=True``.

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
        If the file is a pickle and ``trust_pickle`` is False, a skops file that names a type
        trusted neither by skops's defaults nor in :data:`TRUSTED_TYPES`, or no model file at
        all.

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
        return _load_skops(path)
    if not _is_pickle(path):
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


def _load_skops(path):
    """Load a skops file, refusing it, before anything is built, if it names untrusted types."""
    io = _skops_io()
    untrusted = sorted(set(io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ValueError(
            f"Refusing to load {str(path)!r}: it names types that are not trusted: "
            f"{', '.join(untrusted)}. load_model trusts only sklearn-bp's estimators and the "
            f"types that skops trusts by default, which are scikit-learn's estimators and some of "
            f"their parts, not every type of scikit-learn. If you trust the file's source, load "
            f"it with skops.io.load(path, trusted=[...]) naming these types."
        )
    return io.load(path, trusted=list(TRUSTED_TYPES))


def _is_pickle(path):
    """Whether the file at ``path`` is a pickle or a joblib file, told without loading it."""
    with path.open("rb") as file:
        if file.read(8).startswith(PICKLE_STARTS):
            return True
        if os.fstat(file.fileno()).st_size == 0:
            return False  # nothing to map
        # Protocols 0 and 1 begin with any opcode: parse the opcodes up to STOP, which builds
        # nothing. Through a map, because a read of a length that a file claims, 2 GiB for
        # instance, then returns what is there instead of allocating that length first.
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                for _ in pickletools.genops(data):
                    pass
            except ValueError:  # an unknown opcode, a malformed argument, no STOP
                return False
    return True
