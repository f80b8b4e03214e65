"""Activations and their derivatives against closed forms and finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_bp._activations import ACTIVATIONS, DERIVATIVES, SECOND_DERIVATIVES

Z = np.linspace(-6, 6, 41)
Z = Z[np.abs(Z) > 1e-3]  # keep away from ReLU's kink at 0

CLOSED_FORMS = {
    "identity": lambda z: z,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.where(z > 0, z, 0.0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_in_place_and_dtype_preserving(name, dtype):
    A = Z.astype(dtype)
    ACTIVATIONS[name](A)
    assert A.dtype == dtype
    # The sigmoid is computed as ½ tanh(z/2) + ½: accurate to rounding in absolute terms.
    eps = np.finfo(dtype).eps
    assert_allclose(A, CLOSED_FORMS[name](Z), rtol=8 * eps, atol=2 * eps)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_in_terms_of_activation_equals_finite_differences(name):
    A = Z.copy()
    ACTIVATIONS[name](A)
    delta = np.full_like(Z, 2.0)
    DERIVATIVES[name](A, delta, np.empty_like(Z))
    h = 1e-6
    numerical = (CLOSED_FORMS[name](Z + h) - CLOSED_FORMS[name](Z - h)) / (2 * h)
    assert_allclose(delta, 2.0 * numerical, rtol=1e-7, atol=1e-9)


def test_logistic_does_not_overflow():
    A = np.array([-1e6, -800.0, 0.0, 800.0, 1e6], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        ACTIVATIONS["logistic"](A)
    assert_allclose(A, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_second_derivative_in_terms_of_activation_equals_finite_differences(name):
    h = 1e-4
    numerical = (
        CLOSED_FORMS[name](Z + h) - 2 * CLOSED_FORMS[name](Z) + CLOSED_FORMS[name](Z - h)
    ) / h**2
    if SECOND_DERIVATIVES[name] is None:  # piecewise linear: g″ = 0 away from the kink
        assert_allclose(numerical, 0.0, atol=1e-6)
        return
    A = Z.copy()
    ACTIVATIONS[name](A)
    out = np.empty_like(Z)
    SECOND_DERIVATIVES[name](A, out, np.empty_like(Z))
    assert_allclose(out, numerical, rtol=1e-5, atol=1e-7)
