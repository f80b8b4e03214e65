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


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_methods_solver_function_is_found(method):
    # None would mean that SciPy renamed the private function: options would go unchecked.
    options = scipy_solver_options(METHODS[method].solver)
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
