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
Y_COUNTS = RNG.poisson(2.0, size=(7, 4)).astype(float)
Y_POSITIVE = RNG.gamma(2.0, size=(7, 4))
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
    "poisson": (
        np.exp,
        lambda H, Y, w: w @ (H - Y * np.log(H)).sum(axis=1),
        Y_COUNTS,
    ),
    "gamma": (
        np.exp,
        lambda H, Y, w: w @ (np.log(H) + Y / H).sum(axis=1),
        Y_POSITIVE,
    ),
}


def written(name, Z, Y):
    """What the loss leaves in the buffer of h for δ(L) and R{δ(L)}: h, or y / h for Gamma."""
    return Y * np.exp(-Z) if name == "gamma" else REFERENCE[name][0](Z)


def delta(name, Z, Y):
    """δ(L) = ∂cost/∂z: h − y for the canonical links, 1 − y / h for Gamma's log link."""
    return 1 - Y * np.exp(-Z) if name == "gamma" else REFERENCE[name][0](Z) - Y


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_writes_h_and_returns_the_weighted_cost(name):
    loss = LOSSES[name]
    h, cost, Y = REFERENCE[name]
    H, scratch = np.empty_like(Z), np.empty_like(Z)
    total = loss.loss(Z, Y, W, H, scratch)
    # The tanh form: absolute error of 1.
    assert_allclose(H, written(name, Z, Y), rtol=1e-14, atol=1e-16)
    assert_allclose(total, cost(h(Z), Y, W), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CLASSIFIER_LOSSES))
def test_log_h_of_the_classifier_losses(name):
    h = REFERENCE[name][0]
    assert_allclose(np.exp(CLASSIFIER_LOSSES[name].log_h(Z)), h(Z), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_r_output_is_the_directional_derivative_of_the_output_delta(name):
    # R{δ(L)}: for a canonical link the directional derivative of h.
    loss = LOSSES[name]
    Y = REFERENCE[name][2]
    RZ = DIRECTION
    RH = np.empty_like(Z)
    loss.r_output(written(name, Z, Y), RZ, RH)
    step = 1e-6
    numerical = (delta(name, Z + step * RZ, Y) - delta(name, Z - step * RZ, Y)) / (2 * step)
    assert_allclose(RH, numerical, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_output_delta_is_the_gradient_of_the_cost(name):
    # The contract every loss keeps: δ(L) = ∂cost/∂z (h − y for a canonical link, 1 − y / h
    # for Gamma's log link), from which the data term's backward pass starts.
    loss = LOSSES[name]
    Y = REFERENCE[name][2]
    scratch = np.empty_like(Z)

    def total(Z):
        return loss.loss(Z, Y, W, np.empty_like(Z), scratch)

    step = 1e-6
    numerical = np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        E = np.zeros_like(Z)
        E[index] = step
        numerical[index] = (total(Z + E) - total(Z - E)) / (2 * step)
    assert_allclose(numerical, W[:, np.newaxis] * delta(name, Z, Y), rtol=1e-6, atol=1e-8)


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
def test_output_delta_overwrites_what_the_loss_wrote_with_the_delta(name):
    loss = LOSSES[name]
    Y = REFERENCE[name][2]
    H, scratch = np.empty_like(Z), np.empty_like(Z)
    loss.loss(Z, Y, W, H, scratch)
    assert_allclose(loss.output_delta(H, Y), delta(name, Z, Y), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "name, inside, outside",
    [
        ("logistic", [[0.0, 1.0, 0.5]], [[0.0, 1.5]]),
        ("softmax", [[0.0, 1.0]], [[-0.1, 1.0]]),
        ("identity", [[-1e300, 3.0, 1e300]], [[np.nan, 0.0], [np.inf, 0.0]]),
        ("poisson", [[0.0, 3.0, 1e300]], [[-1e-300, 1.0], [np.nan, 1.0], [np.inf, 1.0]]),
        ("gamma", [[1e-300, 3.0, 1e300]], [[0.0, 1.0], [-1.0, 1.0], [np.nan, 1.0]]),
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


@pytest.mark.parametrize("name", ["poisson", "gamma"])
def test_log_link_losses_stay_finite_at_extreme_z(name):
    # z(L) at ±700 and far beyond: h, log h and y / h come from the capped z, never from
    # log(exp(z)); no overflow (the warnings are errors), finite costs and deltas.
    loss = LOSSES[name]
    Zx = np.array([[-1e4, -800.0, -700.0, 0.0, 700.0, 800.0, 1e4]]).T
    Y = np.full_like(Zx, 2.0)
    w = np.ones(len(Zx))
    H, scratch, RH = np.empty_like(Zx), np.empty_like(Zx), np.empty_like(Zx)
    with np.errstate(all="raise"):
        total = loss.loss(Zx, Y, w, H, scratch)
        loss.r_output(H, np.ones_like(Zx), RH)
        deltas = loss.output_delta(H, Y)
        predicted = loss.link.inverse(Zx)
    assert np.isfinite(total)
    assert np.isfinite(deltas).all() and np.isfinite(RH).all() and np.isfinite(predicted).all()
    assert (predicted > 0).all()


@pytest.mark.parametrize("name", ["poisson", "gamma"])
def test_log_link_validation_sums_give_r2_of_the_predictions(name):
    loss = LOSSES[name]
    rng = np.random.RandomState(0)
    Zv, Y = rng.normal(size=(40, 2)), rng.gamma(2.0, size=(40, 2))
    w = rng.uniform(0, 2, size=40)
    sums = loss.validation_sums(Zv[:15], Y[:15], w[:15]) + loss.validation_sums(
        Zv[15:], Y[15:], w[15:]
    )
    expected = r2_score(Y, np.exp(Zv), sample_weight=w)
    assert loss.score_from_sums(sums) == pytest.approx(expected, rel=1e-12)
