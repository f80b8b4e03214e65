"""The loss objects: cost, link, δ(L), R-operator term, target range and validation sums,
against independent formulas."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, r2_score

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


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_inverse_link_is_h_and_link_inverts_it(name):
    loss = LOSSES[name]
    h = REFERENCE[name][0]
    H = loss.link.inverse(Z)
    assert_allclose(H, h(Z), rtol=1e-14)
    Z_back = loss.link.link(H)
    if name == "softmax":  # z only up to a constant per row
        Z_back = Z_back - Z_back[:, :1] + Z[:, :1]
    assert_allclose(Z_back, Z, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_output_delta_overwrites_h_with_h_minus_y(name):
    loss = LOSSES[name]
    h, _, Y = REFERENCE[name]
    H = h(Z)
    delta = loss.output_delta(H.copy(), Y)
    assert_allclose(delta, h(Z) - Y, rtol=0, atol=0)


@pytest.mark.parametrize(
    "name, inside, outside",
    [
        ("logistic", [[0.0, 1.0, 0.5]], [[0.0, 1.5]]),
        ("softmax", [[0.0, 1.0]], [[-0.1, 1.0]]),
        ("identity", [[-1e300, 3.0, 1e300]], [[np.nan, 0.0], [np.inf, 0.0]]),
    ],
)
def test_target_range(name, inside, outside):
    target_range = LOSSES[name].target_range
    assert target_range.includes(np.asarray(inside))
    for row in outside:
        assert not target_range.includes(np.asarray([row]))


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_r2_from_sums_over_chunks_equals_r2_score(n_outputs):
    loss = LOSSES["identity"]
    rng = np.random.RandomState(0)
    Y, Z = rng.normal(size=(50, n_outputs)), rng.normal(size=(50, n_outputs))
    w = rng.uniform(0, 2, size=50)
    if n_outputs == 3:
        Z[:10, 2] = Y[:10, 2]
    sums = loss.validation_sums(Z[:20], Y[:20], w[:20]) + loss.validation_sums(
        Z[20:], Y[20:], w[20:]
    )
    assert loss.score_from_sums(sums) == pytest.approx(r2_score(Y, Z, sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multiclass-logistic", "multiclass", "multilabel"])
def test_accuracy_from_sums_over_chunks_equals_accuracy_score(kind):
    rng = np.random.RandomState(1)
    n_outputs = {"binary": 1, "multilabel": 3}.get(kind, 4)
    Z = rng.normal(size=(60, n_outputs))
    if kind.startswith("multiclass"):
        Y = np.eye(4)[rng.randint(4, size=60)]
    else:
        Y = rng.randint(2, size=(60, n_outputs)).astype(float)
    w = rng.uniform(0, 2, size=60)
    loss = CLASSIFIER_LOSSES["softmax" if kind == "multiclass" else "logistic"]
    kind = kind.split("-")[0]
    # The decision written out: z > 0 per unit, or the largest z of a row.
    if kind == "multiclass":
        truth, predicted = Y.argmax(axis=1), Z.argmax(axis=1)
    else:
        truth, predicted = Y.astype(int), (Z > 0).astype(int)
    expected = accuracy_score(truth, predicted, sample_weight=w)
    sums = loss.validation_sums(Z[:25], Y[:25], w[:25], kind) + loss.validation_sums(
        Z[25:], Y[25:], w[25:], kind
    )
    assert loss.score_from_sums(sums) == pytest.approx(expected, rel=1e-12)
