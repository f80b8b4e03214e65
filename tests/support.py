"""Helpers shared by the test modules."""

import warnings
from contextlib import contextmanager

import numpy as np
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning

from sklearn_bp._base import Problem
from sklearn_bp._objective import BackpropObjective
from sklearn_bp._placement import placement_for_fit


def array_api_unavailable():
    """Why scikit-learn's ``array_api_dispatch`` cannot be switched on here, or None.

    It needs SciPy 1.14 or later, imported with ``SCIPY_ARRAY_API=1`` (which the repository's
    ``conftest.py`` sets), and, before scikit-learn 1.9, the array-api-compat package.
    """
    try:
        with config_context(array_api_dispatch=True):
            return None
    except (ImportError, RuntimeError) as error:
        return f"no array API dispatch: {error}"


def fit_objective(estimator, X, y, sample_weight=None):
    """The objective a fit of ``estimator`` minimizes on every row of (X, y), in float64.

    Built as the fit builds it, through the seams: the placement of the rows validates them
    and encodes the targets (the estimator as the targets' encoder) and gives the data term of
    every row, on which ``BackpropObjective`` puts the penalty ``alpha``. No θ comes with it:
    a test draws its own (``objective.network.initial_theta(np.random.RandomState(seed))``).
    Validation records the number of features on ``estimator``, as ``fit`` does.
    """
    hidden = [int(size) for size in np.ravel(estimator.hidden_layer_sizes)]
    placement = placement_for_fit(X, y, sample_weight)
    prepared = placement.prepare(estimator, X, y, sample_weight, hidden, (np.float64,))
    problem = Problem(*prepared, placement)
    data = placement.data_term(problem, placement.all_rows(problem))
    return BackpropObjective(data, estimator.alpha)


@contextmanager
def numpy_must_not_warn():
    """Turn numpy's overflow, divide-by-zero and invalid-value reports into errors.

    The fits inside are of inputs at extreme scales with few iterations, on purpose: their
    convergence and saturation warnings are expected there, and tested elsewhere.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*start saturated", category=UserWarning)
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def tampered_skops(data, module, name):
    """The bytes of a skops file whose top-level object claims to be ``module.name``."""
    import io
    import json
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            content = source.read(item)
            if item == "schema.json":
                schema = json.loads(content)
                schema["__module__"], schema["__class__"] = module, name
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()
