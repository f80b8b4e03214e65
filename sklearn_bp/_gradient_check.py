"""The course's gradient checking: backpropagation against central differences of J."""

import copy
from numbers import Real

import numpy as np

from ._base import BaseBackprop

MIN_EPSILON, MAX_EPSILON = 1e-12, 1.0


def numerical_gradient(loss, theta, epsilon=1e-4):
    """Central differences (J(θ + ε e_i) − J(θ − ε e_i)) / 2ε for every parameter i."""
    theta = np.array(theta, dtype=np.float64)
    gradient = np.empty_like(theta)
    for i in range(theta.size):
        saved = theta[i]
        theta[i] = saved + epsilon
        loss_plus = loss(theta)
        theta[i] = saved - epsilon
        loss_minus = loss(theta)
        theta[i] = saved
        gradient[i] = (loss_plus - loss_minus) / (2 * epsilon)
    return gradient


def relative_difference(numerical, backprop):
    """Return ‖num − bp‖ / ‖num + bp‖, without overflow for entries near the largest float.

    Both vectors are divided by their largest magnitude first (a power of two, so exactly):
    the norms of gradients beyond about 1e154 would otherwise overflow to inf and make the
    quotient 0 or nan.
    """
    numerical = np.asarray(numerical, dtype=np.float64)
    backprop = np.asarray(backprop, dtype=np.float64)
    if not (np.isfinite(numerical).all() and np.isfinite(backprop).all()):
        raise ValueError(
            "The gradient is not finite (J or its gradient overflowed at the initial "
            "parameters): scale the features, for example with StandardScaler."
        )
    largest = max(np.max(np.abs(numerical), initial=0.0), np.max(np.abs(backprop), initial=0.0))
    if largest == 0:  # both zero
        return 0.0
    scale = np.ldexp(1.0, -np.frexp(largest)[1])
    difference = np.linalg.norm(numerical * scale - backprop * scale)
    if difference == 0:  # both exactly equal
        return 0.0
    return float(difference / np.linalg.norm(numerical * scale + backprop * scale))


def gradient_check(estimator, X, y, sample_weight=None, epsilon=1e-4):
    """Check backpropagation's gradient against central differences of the cost J.

    The estimator's parameters are initialized exactly as ``fit`` would initialize them (same
    ``random_state``, or the fitted parameters under ``warm_start``); the estimator itself is
    left untouched. J and its gradient are computed in float64 whatever the dtype of X, since
    central differences in float32 cannot show agreement beyond a few digits.

    This costs two evaluations of J per parameter: use it on small networks and data.

    Parameters
    ----------
    estimator : BackpropClassifier or BackpropRegressor
        The estimator whose hyperparameters define the network and cost.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, as for ``fit``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights, as for ``fit``.
    epsilon : float, default=1e-4
        Step of the central differences, between 1e-12 and 1.

    Returns
    -------
    relative_difference : float
        ‖num − bp‖ / ‖num + bp‖, where ``num`` is the numerical and ``bp`` the
        backpropagation gradient; about 1e-9 or smaller when backpropagation is right.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bp import BackpropClassifier, gradient_check
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(20, 4)), rng.randint(3, size=20)
    >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    >>> gradient_check(clf, X, y) < 1e-9
    True
    """
    if not isinstance(estimator, BaseBackprop):
        raise TypeError(
            f"estimator must be a BackpropClassifier instance or a BackpropRegressor "
            f"instance, got {estimator!r} of type {type(estimator).__name__}."
        )
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, Real)
        or not MIN_EPSILON <= epsilon <= MAX_EPSILON
    ):
        # Below the range θ ± ε rounds to θ; above it the differences say nothing of a slope.
        raise ValueError(
            f"epsilon must be a positive finite number between {MIN_EPSILON:g} and "
            f"{MAX_EPSILON:g}, got {epsilon!r}."
        )
    # A shallow copy absorbs what validation records and reads the fitted parameters for
    # warm_start without copying the parameters: a callback holding a lock cannot be
    # deep-copied. Only a RandomState is copied, so that the check does not advance it.
    checked = copy.copy(estimator)
    if isinstance(estimator.random_state, np.random.RandomState):
        checked.random_state = copy.deepcopy(estimator.random_state)
    objective, theta = checked._objective_at_start(X, y, sample_weight)
    return check_objective(objective, theta, float(epsilon))


def check_objective(objective, theta, epsilon=1e-4):
    """Compare an objective's gradient with central differences of its J at θ.

    Parameters
    ----------
    objective : object
        Has ``loss(theta) -> J`` and ``loss_gradient(theta) -> (J, gradient)``, such as
        :class:`~sklearn_bp._objective.BackpropObjective`.
    theta : ndarray of shape (n_params,)
        Where to compare, float64.
    epsilon : float, default=1e-4
        Step of the central differences.

    Returns
    -------
    relative_difference : float
        ‖num − bp‖ / ‖num + bp‖.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        _, backprop = objective.loss_gradient(theta)
        numerical = numerical_gradient(objective.loss, theta, epsilon)
    return relative_difference(numerical, backprop)
