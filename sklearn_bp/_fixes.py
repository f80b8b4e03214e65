"""Every private scikit-learn and SciPy name sklearn-bp uses, and every version shim, in one place.

Private names can change in any release. Keeping them here makes the dependency visible, and
``tests/test_fixes.py`` fails on the day an installed version renames one, instead of a check
being given up silently.
"""

import inspect
import sys
from pathlib import Path

import joblib
import numpy as np
import sklearn
from scipy import sparse
from scipy.optimize import _minimize as _scipy_minimize
from scipy.optimize import _trustregion as _scipy_trustregion
from sklearn.base import _fit_context
from sklearn.utils._array_api import (
    _convert_to_numpy,
    _is_numpy_namespace,
    _max_precision_float_dtype,
    get_namespace,
    get_namespace_and_device,
)
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - exercised by .ci/run's lowest versions

    class CallbackSupportMixin:
        """scikit-learn before 1.9 has no callbacks (``sklearn.callback``): nothing to add."""


try:  # scikit-learn 1.8 and later have it, 1.6 and 1.7 have not
    from sklearn.utils._array_api import move_to as _sklearn_move_to
except ImportError:  # pragma: no cover - .ci/run's lowest versions; tests/test_fixes.py
    _sklearn_move_to = None


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "Options",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "caller_stacklevel",
    "float_dtypes",
    "get_chunk_n_rows",
    "get_namespace",
    "get_namespace_and_device",
    "is_numpy_namespace",
    "move_to",
    "scipy_solver_options",
    "to_host",
    "validate_parameter_constraints",
]

# Arguments of scipy's solver functions that minimize passes itself: not options.
_NOT_OPTIONS = {
    "fun", "func", "x0", "args", "jac", "grad", "hess", "hessp", "bounds", "constraints",
    "callback", "subproblem", "unknown_options", "trust_region_options",
}  # fmt: skip


def scipy_solver_options(solver):
    """The options the private SciPy solver function named ``solver`` takes, or None.

    ``minimize`` dispatches each method to a private function (``_minimize_lbfgsb``, ...)
    whose keyword arguments are the method's options. None means that the installed SciPy has
    no such function (renamed): the options then go unchecked to SciPy, which warns about
    unknown ones, and the test of this module fails.
    """
    function = getattr(_scipy_minimize, solver, None)
    if function is None:
        return None
    parameters = inspect.signature(function).parameters
    known = set(parameters)
    if "trust_region_options" in parameters:  # trust-ncg, trust-krylov pass these on
        known |= set(inspect.signature(_scipy_trustregion._minimize_trust_region).parameters)
    return known - _NOT_OPTIONS


# The frames a warning of a fit looks past: ours, scikit-learn's (``_fit_context``, a search's
# ``_fit_and_score``) and joblib's, which runs a search's fits one after another when n_jobs=1.
_PASSED_BY = tuple(
    Path(file).resolve().parent for file in (__file__, sklearn.__file__, joblib.__file__)
)


def caller_stacklevel():
    """The ``stacklevel`` of ``warnings.warn`` that points at the user's line.

    Counts the frames from the caller of this function outwards until the first one outside
    sklearn-bp, scikit-learn (whose ``_fit_context`` wraps ``fit``) and joblib (which runs a
    search's fits), so that a warning raised deep in a fit names the line that called ``fit``,
    however deep the call, in a grid search too.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if not any(path.is_relative_to(folder) for folder in _PASSED_BY):
            return level
        frame = frame.f_back
        level += 1
    return level


is_numpy_namespace = _is_numpy_namespace


def float_dtypes(xp, device):
    """The floating dtypes X may take on ``device``, widest first: float64 only where the
    device has it (Apple's MPS has not)."""
    if _max_precision_float_dtype(xp, device) == xp.float64:
        return [xp.float64, xp.float32]
    return [xp.float32]


def move_to(array, xp, device):
    """``array`` (of any namespace, on any device) in namespace ``xp`` on ``device``.

    scikit-learn's ``move_to`` (DLPack first, a copy through NumPy where a library lacks it);
    where scikit-learn has none, the copy through NumPy.
    """
    if _sklearn_move_to is not None:
        return _sklearn_move_to(array, xp=xp, device=device)
    source, _, source_device = get_namespace_and_device(array)
    if source is xp and source_device == device:
        return array
    host = array if _is_numpy_namespace(source) else _convert_to_numpy(array, source)
    return host if _is_numpy_namespace(xp) else xp.asarray(host, device=device)


def to_host(array):
    """A NumPy array on the host for an array of another namespace; anything else unchanged.

    What crosses from a device: labels and weights at the start of a fit, the loss and
    gradient of every evaluation, the outputs of held-out rows.
    """
    if array is None or isinstance(array, np.ndarray) or sparse.issparse(array):
        return array
    if not hasattr(array, "__dlpack__"):  # lists, DataFrames, ...: validation converts them
        return array
    # Only such an array's namespace tells how to move it: scikit-learn finds it under dispatch.
    try:
        with sklearn.config_context(array_api_dispatch=True):
            return move_to(array, xp=np, device="cpu")
    except (ImportError, RuntimeError):
        # No dispatch in this process (SciPy imported without SCIPY_ARRAY_API, say): DLPack,
        # which every array-API array offers, asked for a copy in the host's memory.
        try:
            return np.from_dlpack(array, device="cpu")
        except TypeError:  # NumPy before 2.1 takes no device
            return np.from_dlpack(array)
