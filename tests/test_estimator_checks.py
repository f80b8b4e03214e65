"""scikit-learn's whole estimator check suite, with nothing skipped or marked as failing.

The array-API checks run for every namespace installed (scikit-learn skips those of absent
libraries and devices itself); where array API dispatch is not available at all (SciPy before
1.14, as on the lowest versions .ci/run tests), they are skipped with the reason.
"""

from functools import partial

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bp import BackpropClassifier, BackpropRegressor

from .support import array_api_unavailable


def _name(check):
    while isinstance(check, partial):
        check = check.func
    return check.__name__


# scikit-learn's checks fit unscaled data (features up to 100) with few iterations, as they
# fit every estimator: the convergence and saturation warnings are the ones a user would get,
# and they are tested on their own in test_classifier.py and test_optimize.py.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:.*start saturated:UserWarning")
@parametrize_with_checks([BackpropClassifier(), BackpropRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    if _name(check).startswith("check_array_api") and array_api_unavailable() is not None:
        pytest.skip(array_api_unavailable())
    check(estimator)
