"""The private scikit-learn and SciPy names of ``_fixes``: present in the installed versions."""

import warnings

import pytest

from sklearn_bp._fixes import caller_stacklevel, scipy_solver_options
from sklearn_bp._optimize import METHODS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_methods_solver_function_is_found(method):
    # None would mean that SciPy renamed the private function: options would go unchecked.
    options = scipy_solver_options(METHODS[method].solver)
    assert options is not None
    assert METHODS[method].max_iter in options
    assert set(METHODS[method].tol) <= options | {"tol"}


def test_warnings_point_at_the_first_line_outside_the_package():
    def inside_the_package():
        warnings.warn("here", UserWarning, stacklevel=caller_stacklevel())

    with pytest.warns(UserWarning) as caught:
        inside_the_package()
    # This test module is outside sklearn_bp: the warning names the function's own line.
    assert caught[0].filename == __file__
