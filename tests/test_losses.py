"""The loss objects: cost, output h, R-operator term and log h, against independent formulas."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit, softmax

from sklearn_bp._losses import CLASSIFIER_LOSSES, LOSSES

RNG = np.random.RandomState(0)
Z = RNG.normal(scale=3, size=(7, 4))
Y_MULTILABEL = RNG.randint(2, size=(7, 4)).astype(float)
Y_ONE_HOT = np.eye(4)[RNG.randint(4, size=7)]
Y_REAL = RNG.normal(size=(7, 4))
W = RNG.uniform(0.5, 2, size=7)
DIRECTION = RNG.normal(size=Z.shape)

REFERENCE = {
    # h, and Σ_i w_i cost_i written out from the course's formulas.
    "logistic": (
        expit,
        lambda H, Y, w: -w @ (Y * np.log(H) + (1 - Y) * np.log(1 - H)).sum(axis=1),
        Y_MULTILABEL,
    ),
    "softmax": (
        lambda Z: softmax(Z, axis=1),
        lambda H, Y, w: -w @ (Y * np.log(H)).sum(axis=1),
        Y_ONE_HOT,
    ),
    "identity": (
        lambda Z: Z,
        lambda H, Y, w: 0.5 * w @ ((H - Y) ** 2).sum(axis=1),
        Y_REAL,
    ),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_writes_h_and_returns_the_weighted_cost(name):
    loss = LOSSES[name]
    h, cost, Y = REFERENCE[name]
    H, scratch = np.empty_like(Z), np.empty_like(Z)
    total = loss.loss(Z, Y, W, H, scratch)
    assert_allclose(H, h(Z), rtol=1e-14, atol=1e-16)  # the tanh form: absolute error of 1
    assert_allclose(total, cost(h(Z), Y, W), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CLASSIFIER_LOSSES))
def test_log_h_of_the_classifier_losses(name):
    h = REFERENCE[name][0]
    assert_allclose(np.exp(CLASSIFIER_LOSSES[name].log_h(Z)), h(Z), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_r_output_is_the_directional_derivative_of_h(name):
    loss = LOSSES[name]
    h = REFERENCE[name][0]
    RZ = DIRECTION
    RH = np.empty_like(Z)
    loss.r_output(h(Z), RZ, RH)
    step = 1e-6
    assert_allclose(RH, (h(Z + step * RZ) - h(Z - step * RZ)) / (2 * step), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_output_delta_is_the_gradient_of_the_cost(name):
    # The contract every loss keeps: ∂cost/∂z = h − y (a canonical link), which lets the
    # data term's backward pass start from δ(L) = a(L) − y whatever the loss.
    loss = LOSSES[name]
    h, _, Y = REFERENCE[name]
    scratch = np.empty_like(Z)

    def total(Z):
        return loss.loss(Z, Y, W, np.empty_like(Z), scratch)

    step = 1e-6
    numerical = np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        E = np.zeros_like(Z)
        E[index] = step
        numerical[index] = (total(Z + E) - total(Z - E)) / (2 * step)
    assert_allclose(numerical, W[:, np.newaxis] * (h(Z) - Y), rtol=1e-6, atol=1e-8)
