"""The data term and the objective of ``_objective``: J, ∇J, H·v and G·v against the course's
formulas and finite differences, over blocks, sparse and float32 rows."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse

from sklearn_bp._losses import CLASSIFIER_LOSSES
from sklearn_bp._network import Network
from sklearn_bp._objective import BackpropObjective, DataTerm
from sklearn_bp._passes import NumpyPrimitives, decision_output

from .course_reference import central_differences, cost

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]


def make_problem(n_samples=13, layer_sizes=(4, 5, 3), out_activation="logistic", seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, layer_sizes[0]))
    n_outputs = layer_sizes[-1]
    if out_activation == "softmax":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    else:
        Y = rng.randint(2, size=(n_samples, n_outputs)).astype(np.float64)
    weight = rng.uniform(0.1, 3.0, size=n_samples)
    return X, Y, weight


def objective_for(layer_sizes, activation, out_activation, X, Y, weight, alpha, block_rows=None):
    network = Network(layer_sizes, activation)
    block_rows = X.shape[0] if block_rows is None else block_rows
    data = DataTerm(network, CLASSIFIER_LOSSES[out_activation], X, Y, weight, block_rows)
    return BackpropObjective(data, alpha)


def output_log_proba(Z, out_activation, kind):
    return CLASSIFIER_LOSSES[out_activation].log_proba(Z, kind)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
@pytest.mark.parametrize("layer_sizes", [(4, 3), (4, 5, 3), (4, 6, 5, 3)])
def test_loss_equals_course_formula(activation, out_activation, layer_sizes):
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    objective = objective_for(layer_sizes, activation, out_activation, X, Y, weight, 0.7)
    theta = objective.network.initial_theta(np.random.RandomState(1))

    expected = cost(objective.network.thetas(theta), X, Y, 0.7, weight, activation, out_activation)
    assert_allclose(objective.loss(theta), expected, rtol=1e-12)
    assert_allclose(objective.loss_gradient(theta)[0], expected, rtol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
@pytest.mark.parametrize("alpha", [0.0, 2.5])
def test_gradient_equals_central_differences(activation, out_activation, alpha):
    layer_sizes = (4, 5, 4, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    objective = objective_for(layer_sizes, activation, out_activation, X, Y, weight, alpha)
    theta = objective.network.initial_theta(np.random.RandomState(2))

    _, gradient = objective.loss_gradient(theta)
    numerical = central_differences(objective.loss, theta)
    assert_allclose(gradient, numerical, rtol=1e-6, atol=1e-9)


def test_regularization_term_of_D_is_alpha_theta_over_W():
    # D(l)_ij = (Δ(l)_ij + α Θ(l)_ij) / W for j ≥ 1 and Δ(l)_i0 / W for the bias column j = 0.
    layer_sizes = (4, 5, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes)
    alpha = 3.0
    plain = objective_for(layer_sizes, "logistic", "logistic", X, Y, weight, 0.0)
    regularized = objective_for(layer_sizes, "logistic", "logistic", X, Y, weight, alpha)
    theta = plain.network.initial_theta(np.random.RandomState(3))

    D_plain = plain.network.thetas(plain.loss_gradient(theta)[1].copy())
    D_regularized = plain.network.thetas(regularized.loss_gradient(theta)[1].copy())
    W = weight.sum()
    for Theta, Dp, Dr in zip(plain.network.thetas(theta), D_plain, D_regularized):
        assert_allclose(Dr[:, 0], Dp[:, 0], rtol=1e-13)
        assert_allclose(Dr[:, 1:] - Dp[:, 1:], alpha * Theta[:, 1:] / W, rtol=1e-9)
        # The textbook's (1/m) Δ + λ Θ would add λ Θ, W times too much.
        assert not np.allclose(Dr[:, 1:] - Dp[:, 1:], alpha * Theta[:, 1:])


def _decision(network, theta, X, block_rows=None):
    block_rows = X.shape[0] if block_rows is None else block_rows
    ops = NumpyPrimitives(X.dtype, block_rows)
    return decision_output(ops, network, network.unpack(theta), X, block_rows)


@pytest.mark.parametrize("block_rows", [1, 2, 5, 12, 13, 100])
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_blocked_evaluation_equals_whole_batch(block_rows, out_activation):
    layer_sizes = (4, 5, 4, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    whole = objective_for(layer_sizes, "logistic", out_activation, X, Y, weight, 0.3)
    blocked = objective_for(
        layer_sizes, "logistic", out_activation, X, Y, weight, 0.3, block_rows=block_rows
    )
    theta = whole.network.initial_theta(np.random.RandomState(5))

    loss_whole, gradient_whole = whole.loss_gradient(theta)
    loss_blocked, gradient_blocked = blocked.loss_gradient(theta)
    assert_allclose(loss_blocked, loss_whole, rtol=1e-12)
    assert_allclose(gradient_blocked, gradient_whole, rtol=1e-12, atol=1e-15)
    assert_allclose(blocked.loss(theta), loss_whole, rtol=1e-12)
    assert_allclose(
        _decision(whole.network, theta, X, block_rows), _decision(whole.network, theta, X)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_data_loss_from_the_output_is_J_without_penalty(out_activation, dtype):
    layer_sizes = (4, 5, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    args = (layer_sizes, "tanh", out_activation)
    objective = objective_for(*args, X.astype(dtype), Y.astype(dtype), weight, 2.0, block_rows=5)
    unpenalized = objective_for(*args, X, Y, weight, 0.0)
    theta = objective.network.initial_theta(np.random.RandomState(4))

    Z = objective.data.output(theta)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    data_loss = objective.data.loss_from_output(Z) / objective.total_weight
    assert_allclose(data_loss, unpenalized.loss(theta), rtol=rtol)


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_unit_weights_equal_weighted_rows(out_activation):
    # All weights 1 skips the weighting of the output deltas; a weight of 2 on the first row
    # must give what repeating that row does under unit weights, in every weighted product.
    layer_sizes = (4, 5, 3)
    X, Y, _ = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    weight = np.ones(X.shape[0])
    weight[0] = 2.0
    rows = np.r_[0, np.arange(X.shape[0])]
    args = (layer_sizes, "logistic", out_activation)
    weighted = objective_for(*args, X, Y, weight, 0.3, block_rows=5)
    repeated = objective_for(*args, X[rows], Y[rows], np.ones(rows.size), 0.3, block_rows=5)
    assert repeated.data.ops.unit_weights and not weighted.data.ops.unit_weights
    rng = np.random.RandomState(6)
    theta = 3 * weighted.network.initial_theta(rng)
    v = rng.normal(size=theta.size)

    loss_weighted, gradient_weighted = weighted.loss_gradient(theta)
    loss_repeated, gradient_repeated = repeated.loss_gradient(theta)
    assert_allclose(loss_weighted, loss_repeated, rtol=1e-12)
    assert_allclose(gradient_weighted, gradient_repeated, rtol=1e-12, atol=1e-15)
    for product in ("hessian_vector_product", "gauss_newton_vector_product"):
        assert_allclose(
            getattr(weighted, product)(theta, v),
            getattr(repeated, product)(theta, v),
            rtol=1e-10,
            atol=1e-13,
        )


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csr_array])
def test_sparse_input_gives_dense_results(container):
    layer_sizes = (6, 5, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes)
    X[X < 0.5] = 0.0
    dense = objective_for(layer_sizes, "relu", "softmax", X, np.eye(3)[Y.argmax(1)], weight, 1.0)
    sparse_ = objective_for(
        layer_sizes, "relu", "softmax", container(X), np.eye(3)[Y.argmax(1)], weight, 1.0, 4
    )
    theta = dense.network.initial_theta(np.random.RandomState(6))
    loss_dense, gradient_dense = dense.loss_gradient(theta)
    loss_sparse, gradient_sparse = sparse_.loss_gradient(theta)
    assert_allclose(loss_sparse, loss_dense, rtol=1e-12)
    assert_allclose(gradient_sparse, gradient_dense, rtol=1e-12, atol=1e-15)


def test_float32_data_is_computed_in_float32():
    layer_sizes = (4, 5, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes)
    objective64 = objective_for(layer_sizes, "logistic", "logistic", X, Y, weight, 1.0)
    objective32 = objective_for(
        layer_sizes,
        "logistic",
        "logistic",
        X.astype(np.float32),
        Y.astype(np.float32),
        weight.astype(np.float32),
        1.0,
    )
    theta = objective64.network.initial_theta(np.random.RandomState(7))
    loss64, gradient64 = objective64.loss_gradient(theta)
    loss32, gradient32 = objective32.loss_gradient(theta)
    assert all(buffer.dtype == np.float32 for buffer in objective32.data.workspace.activations)
    assert gradient32.dtype == np.float64  # the optimizer's vector stays float64
    assert_allclose(loss32, loss64, rtol=1e-5)
    assert_allclose(gradient32, gradient64, rtol=1e-3, atol=1e-5)
    Z = _decision(objective32.network, theta.astype(np.float32), X.astype(np.float32))
    assert Z.dtype == np.float32


def test_saturated_units_give_finite_exact_loss():
    # z = ±800 saturates every sigmoid: log(σ(z)) would be log(0); the loss must stay exact.
    X = np.array([[800.0], [-800.0]])
    Y = np.array([[0.0], [0.0]])
    objective = objective_for((1, 1), "logistic", "logistic", X, Y, np.ones(2), 0.0)
    theta = np.array([0.0, 1.0])  # bias 0, weight 1: z = x
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, gradient = objective.loss_gradient(theta)
    # −log(1 − σ(800)) = 800 + log(1 + e^−800) = 800; −log(1 − σ(−800)) ≈ e^−800 ≈ 0
    assert_allclose(loss, 800.0 / 2, rtol=1e-15)
    assert np.all(np.isfinite(gradient))


def _gradient_differences(objective, theta, v, epsilon=1e-5):
    plus = objective.loss_gradient(theta + epsilon * v)[1].copy()
    minus = objective.loss_gradient(theta - epsilon * v)[1].copy()
    return (plus - minus) / (2 * epsilon)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_hessian_vector_product_equals_differences_of_the_gradient(activation, out_activation):
    layer_sizes = (4, 5, 4, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation=out_activation)
    objective = objective_for(
        layer_sizes, activation, out_activation, X, Y, weight, 0.7, block_rows=5
    )
    rng = np.random.RandomState(8)
    theta = 3 * objective.network.initial_theta(rng)
    v = rng.normal(size=theta.size)
    numerical = _gradient_differences(objective, theta, v)
    Hv = objective.hessian_vector_product(theta, v)
    assert np.linalg.norm(Hv - numerical) < 1e-6 * np.linalg.norm(numerical)


def _output_loss_hessian(h, out_activation):
    """Hessian of one row's output loss with respect to z(L), from h = output(z(L))."""
    if out_activation == "softmax":
        return np.diag(h) - np.outer(h, h)
    return np.diag(h * (1 - h))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_gauss_newton_product_equals_jacobian_form(activation, out_activation):
    # G = (1/W) Σ_i w_i J_iᵀ H_i J_i + α on the non-bias weights, with J_i the Jacobian of row
    # i's z(L) with respect to θ (here by central differences) and H_i the output loss's Hessian.
    layer_sizes = (3, 4, 3)
    X, Y, weight = make_problem(n_samples=7, layer_sizes=layer_sizes, out_activation=out_activation)
    alpha = 0.7
    objective = objective_for(layer_sizes, activation, out_activation, X, Y, weight, alpha)
    network = objective.network
    rng = np.random.RandomState(9)
    theta = 2 * network.initial_theta(rng)
    v = rng.normal(size=theta.size)

    def outputs(t):
        ops = NumpyPrimitives(X.dtype, X.shape[0])
        return decision_output(ops, network, network.unpack(t), X, X.shape[0])

    jacobian = np.stack(
        [
            (outputs(theta + 1e-6 * e) - outputs(theta - 1e-6 * e)) / 2e-6
            for e in np.eye(theta.size)
        ],
        axis=-1,
    )  # (rows, outputs, parameters)
    log_h = output_log_proba(
        outputs(theta),
        out_activation,
        "multilabel" if out_activation == "logistic" else "multiclass",
    )
    expected = np.zeros_like(theta)
    for J_i, h_i, w_i in zip(jacobian, np.exp(log_h), weight):
        expected += w_i * J_i.T @ _output_loss_hessian(h_i, out_activation) @ (J_i @ v)
    penalized = np.concatenate(
        [np.r_[np.zeros(cols), np.ones(rows * cols - cols)] for rows, cols in [(4, 4), (5, 3)]]
    )
    expected = (expected + alpha * penalized * v) / weight.sum()

    Gv = objective.gauss_newton_vector_product(theta, v)
    assert_allclose(Gv, expected, rtol=1e-6, atol=1e-9)
    assert v @ Gv >= 0  # positive semi-definite


@pytest.mark.parametrize("product", ["hessian_vector_product", "gauss_newton_vector_product"])
def test_curvature_products_over_blocks_sparse_and_float32(product):
    layer_sizes = (6, 5, 3)
    X, Y, weight = make_problem(layer_sizes=layer_sizes, out_activation="softmax")
    X[X < 0.3] = 0.0
    whole = objective_for(layer_sizes, "tanh", "softmax", X, Y, weight, 1.0)
    blocked = objective_for(layer_sizes, "tanh", "softmax", X, Y, weight, 1.0, block_rows=4)
    sparse_ = objective_for(
        layer_sizes, "tanh", "softmax", sparse.csr_matrix(X), Y, weight, 1.0, block_rows=4
    )
    single = objective_for(
        layer_sizes, "tanh", "softmax", *(a.astype(np.float32) for a in (X, Y, weight)), 1.0
    )
    rng = np.random.RandomState(10)
    theta = whole.network.initial_theta(rng)
    v = rng.normal(size=theta.size)
    expected = getattr(whole, product)(theta, v).copy()
    assert_allclose(getattr(blocked, product)(theta, v), expected, rtol=1e-12, atol=1e-15)
    assert_allclose(getattr(sparse_, product)(theta, v), expected, rtol=1e-12, atol=1e-15)
    result32 = getattr(single, product)(theta, v)
    assert result32.dtype == np.float64
    assert_allclose(result32, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hessian", ["hessian_vector_product", "gauss_newton_vector_product"])
def test_curvature_buffers_stay_within_working_memory(hessian):
    # The curvature products allocate six more block-sized buffers than J and its gradient; the
    # blocks of a second-order fit must be sized for all of them.
    from sklearn import config_context

    from sklearn_bp._placement import block_rows as _block_rows

    layer_sizes = (50, 64, 32, 10)
    X, Y, weight = make_problem(n_samples=6000, layer_sizes=layer_sizes)
    network = Network(layer_sizes)
    with config_context(working_memory=1):
        block_rows = _block_rows(network, X, curvature=True)
    data = DataTerm(network, CLASSIFIER_LOSSES["logistic"], X, Y, weight, block_rows)
    objective = BackpropObjective(data, 1.0)
    theta = network.initial_theta(np.random.RandomState(0))
    getattr(objective, hessian)(theta, np.ones_like(theta))
    workspace, curvature = data.workspace, data._slots[0].curvature
    buffers = [
        *workspace.activations, *workspace.deltas, *workspace.scratch,
        *curvature.RZ, *curvature.RA, *curvature.RE,
        *curvature.scratch, *curvature.second, *curvature.product,
    ]  # fmt: skip
    assert block_rows < 6000
    assert sum(buffer.nbytes for buffer in buffers if buffer is not None) <= 2**20
