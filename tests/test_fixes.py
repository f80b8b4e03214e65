"""The private scikit-learn and SciPy names of ``_fixes``: present in the installed versions."""

import inspect
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier
from sklearn_bp._fixes import scipy_solver_options
from sklearn_bp._optimize import METHODS

from .support import array_api_unavailable


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_methods_solver_function_is_found(method):
    # None would mean that SciPy renamed the private function: options would go unchecked.
    # A method of our own names its options itself.
    spec = METHODS[method]
    options = set(spec.own_options) if spec.minimizer else scipy_solver_options(spec.solver)
    assert options is not None
    assert METHODS[method].max_iter in options
    assert set(METHODS[method].tol) <= options | {"tol"}


def test_warnings_point_at_the_line_that_called_fit():
    # Through the estimator, scikit-learn's fit wrapper and a Pipeline: every frame inside
    # sklearn_bp and scikit-learn is skipped, whatever their number.
    X, y = np.random.RandomState(0).normal(size=(30, 3)), np.arange(30) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        direct = inspect.currentframe().f_lineno + 1
        BackpropClassifier(max_iter=1, random_state=0).fit(X, y)
        in_pipeline = inspect.currentframe().f_lineno + 1
        make_pipeline(StandardScaler(), BackpropClassifier(max_iter=1, random_state=0)).fit(X, y)
    convergence = [warning for warning in caught if warning.category is ConvergenceWarning]
    assert [(warning.filename, warning.lineno) for warning in convergence] == [
        (__file__, direct),
        (__file__, in_pipeline),
    ]


@pytest.mark.skipif(array_api_unavailable() is not None, reason=str(array_api_unavailable()))
def test_move_to_without_scikit_learns_own_goes_through_numpy(monkeypatch):
    # scikit-learn before 1.8 has no move_to: the shim converts through NumPy instead.
    xp = pytest.importorskip("array_api_strict")
    from sklearn import config_context

    from sklearn_bp import _fixes

    array = xp.asarray([[1.0, 2.0], [3.0, 4.0]], device=xp.Device("device1"))
    for sklearn_move_to in (_fixes._sklearn_move_to, None):
        monkeypatch.setattr(_fixes, "_sklearn_move_to", sklearn_move_to)
        host = _fixes.to_host(array)
        assert isinstance(host, np.ndarray)
        np.testing.assert_array_equal(host, [[1.0, 2.0], [3.0, 4.0]])
        with config_context(array_api_dispatch=True):
            back = _fixes.move_to(host, xp=xp, device=xp.Device("device1"))
            assert back.device == xp.Device("device1")
            assert _fixes.move_to(array, xp=xp, device=array.device) is array
