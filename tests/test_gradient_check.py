"""The public gradient check, on every kind of network and target the estimator supports."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse

from sklearn_bp import BackpropClassifier, gradient_check
from sklearn_bp._gradient_check import check_objective, numerical_gradient, relative_difference
from sklearn_bp._objective import BackpropObjective

from .course_reference import central_differences
from .support import fit_objective, numpy_must_not_warn

RNG = np.random.RandomState(0)
X = RNG.normal(size=(25, 4))
TARGETS = {
    "binary": np.array(["a", "b"])[RNG.randint(2, size=25)],
    "multiclass": RNG.randint(4, size=25),
    "multilabel": RNG.randint(2, size=(25, 3)),
}


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
@pytest.mark.parametrize(
    "target, weights",
    [
        (target, weights)
        for target in sorted(TARGETS)
        for weights in ("none", "sample", "class")
        if not (target == "multilabel" and weights == "class")
    ],  # no class_weight for multilabel
)
def test_backpropagation_matches_central_differences(activation, out_activation, target, weights):
    clf = BackpropClassifier(
        hidden_layer_sizes=(5, 4),
        activation=activation,
        out_activation=out_activation,
        alpha=0.5,
        class_weight="balanced" if weights == "class" else None,
        random_state=1,
    )
    sample_weight = RNG.uniform(0.2, 2.0, size=25) if weights == "sample" else None
    assert gradient_check(clf, X, TARGETS[target], sample_weight=sample_weight) < 1e-8


def test_gradient_check_on_sparse_and_float32_input():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0, random_state=0)
    X_sparse = sparse.csr_matrix(np.where(X > 0.3, X, 0.0))
    assert gradient_check(clf, X_sparse, TARGETS["multiclass"]) < 1e-8
    # float32 data is checked in float64: central differences in float32 show ~1e-3 at best.
    assert gradient_check(clf, X.astype(np.float32), TARGETS["multiclass"]) < 1e-8


class TextbookObjective(BackpropObjective):
    """The course's D = (1/m) Δ + λ Θ: its λ Θ term is W times too large for its own J."""

    def loss_gradient(self, theta, gradient=None):
        loss, gradient = super().loss_gradient(theta, gradient)
        for (W, _), (grad_W, _) in zip(self.network.unpack(theta), self.network.unpack(gradient)):
            grad_W += self.alpha * W * (1 - 1 / self.total_weight)
        return loss, gradient


def test_gradient_check_detects_a_wrong_gradient():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0)
    objective = fit_objective(clf, X, TARGETS["multiclass"])
    theta = objective.network.initial_theta(np.random.RandomState(0))
    assert check_objective(objective, theta) < 1e-8
    textbook = TextbookObjective(objective.data, objective.alpha)
    assert check_objective(textbook, theta) > 1e-2


def test_gradient_check_leaves_estimator_untouched_and_uses_fit_initialization():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0)
    first = gradient_check(clf, X, TARGETS["binary"])
    assert not hasattr(clf, "n_features_in_")
    assert gradient_check(clf, X, TARGETS["binary"]) == first  # same random_state, same θ


def test_gradient_check_under_warm_start_checks_fitted_parameters():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0, random_state=0, warm_start=True)
    clf.fit(X, TARGETS["multiclass"])
    coefs = [W.copy() for W in clf.coefs_]
    assert gradient_check(clf, X, TARGETS["multiclass"]) < 1e-6
    for W_now, W_before in zip(clf.coefs_, coefs):
        assert_allclose(W_now, W_before, rtol=0)


def test_numerical_gradient_of_a_known_function():
    def f(theta):
        return np.sin(theta[0]) * theta[1] ** 2

    theta = np.array([0.3, -1.2])
    expected = [np.cos(0.3) * 1.44, 2 * np.sin(0.3) * -1.2]
    assert_allclose(numerical_gradient(f, theta), expected, rtol=1e-7)
    assert_allclose(central_differences(f, theta), expected, rtol=1e-7)


@pytest.mark.parametrize("scale", [1.0, 1e157, 1e200, 1e307])
def test_relative_difference_of_huge_gradients(scale):
    backprop = RNG.normal(size=50) * scale
    numerical = backprop * 1.001  # off by 0.1%
    # The reference works on the unscaled vectors, where nothing can overflow.
    unscaled = backprop / scale
    expected = np.linalg.norm(unscaled * 0.001) / np.linalg.norm(unscaled * 2.001)
    with np.errstate(all="raise"):
        assert relative_difference(numerical, backprop) == pytest.approx(expected, rel=1e-12)
    assert relative_difference(backprop, backprop) == 0.0
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0


def test_relative_difference_refuses_non_finite_gradients():
    with pytest.raises(ValueError, match="The gradient is not finite"):
        relative_difference(np.array([1.0, np.inf]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("activation", ["relu", "identity"])
@pytest.mark.parametrize("scale", [1e157, 1e200])
def test_gradient_check_of_huge_gradients(activation, scale):
    # Unbounded units pass the scale of X on to the gradient: above 1e154 its squared norm
    # overflows, which once made the check answer 0.0 or nan.
    clf = BackpropClassifier(hidden_layer_sizes=(5,), activation=activation, random_state=0)
    with numpy_must_not_warn():
        difference = gradient_check(clf, X * scale, TARGETS["multiclass"])
    assert 0 < difference < 1e-8


def test_gradient_check_runs_in_float64_whatever_the_type_of_epsilon():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0, random_state=0)
    epsilon = np.float32(1e-4)
    assert gradient_check(clf, X, TARGETS["multiclass"], epsilon=epsilon) == gradient_check(
        clf, X, TARGETS["multiclass"], epsilon=float(epsilon)
    )


class LockingCallback:
    """A callback that holds a lock, as one shared with another thread would: no deep copy."""

    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, *args):
        with self.lock:
            return False


def test_gradient_check_copies_neither_callback_nor_random_state_draws():
    random_state = np.random.RandomState(0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), callback=LockingCallback(), random_state=random_state
    )
    before = random_state.get_state()[1].copy()
    assert gradient_check(clf, X, TARGETS["binary"]) < 1e-8
    np.testing.assert_array_equal(random_state.get_state()[1], before)
    # The check used the parameters the next fit draws.
    expected = gradient_check(
        BackpropClassifier(hidden_layer_sizes=(3,), random_state=0), X, TARGETS["binary"]
    )
    assert gradient_check(clf, X, TARGETS["binary"]) == expected
