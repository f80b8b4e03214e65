"""BackpropRegressor: its cost and derivatives against independent formulas, and its behaviour."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from scipy.optimize import OptimizeResult
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropRegressor, gradient_check, load_model, save_model
from sklearn_bp._network import Network
from sklearn_bp._optimize import target_coordinates

from .course_reference import G, central_differences
from .support import fit_objective

RNG = np.random.RandomState(0)
X = RNG.normal(size=(23, 4))
TARGETS = {
    "single": RNG.normal(size=23),
    "multi": RNG.normal(size=(23, 3)),
}
ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def squared_error_cost(thetas, X, Y, alpha, weight, activation):
    """J from the formula, one example at a time: (1/2W) Σ w_i ‖h(x_i) − y_i‖² + (α/2W) Σ Θ²."""
    Y = Y.reshape(len(X), -1)
    total = 0.0
    for x, y, w in zip(X, Y, weight):
        a = x
        for layer, theta in enumerate(thetas):
            z = theta @ np.concatenate([[1.0], a])
            a = G[activation](z) if layer < len(thetas) - 1 else z
        total += w * 0.5 * np.sum((a - y) ** 2)
    penalty = sum(np.sum(theta[:, 1:] ** 2) for theta in thetas)
    return (total + 0.5 * alpha * penalty) / weight.sum()


def objective_and_theta(regressor, y, weight, seed):
    """The objective a fit of ``regressor`` minimizes on X, and a θ of its network drawn here."""
    objective = fit_objective(regressor, X, y, weight)
    return objective, objective.network.initial_theta(np.random.RandomState(seed))


def hessian_vector_by_differences(objective, theta, v, step=1e-6):
    """H·v by central differences of the gradient along v."""
    forward, backward = (objective.loss_gradient(theta + sign * step * v)[1] for sign in (1, -1))
    return (forward - backward) / (2 * step)


def output_jacobian(objective, theta, step=1e-6):
    """∂z(L)/∂θ of every row by central differences: shape (n_rows, n_outputs, n_params)."""

    def outputs(t):
        return objective.data.output(t)

    return np.stack(
        [
            (outputs(theta + step * e) - outputs(theta - step * e)) / (2 * step)
            for e in np.eye(theta.size)
        ],
        axis=-1,
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("weighted", [False, True])
def test_cost_equals_the_formula(activation, target, weighted):
    weight = RNG.uniform(0.2, 2.0, size=23) if weighted else np.ones(23)
    regressor = BackpropRegressor(hidden_layer_sizes=(5, 3), activation=activation, alpha=0.7)
    objective, theta = objective_and_theta(regressor, TARGETS[target], weight, 1)
    thetas = objective.network.thetas(theta)
    expected = squared_error_cost(thetas, X, TARGETS[target], 0.7, weight, activation)
    assert_allclose(objective.loss(theta), expected, rtol=1e-12)
    assert objective.network.layer_sizes[-1] == (1 if target == "single" else 3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_gradient_and_curvature_products_against_differences(activation, target):
    weight = RNG.uniform(0.2, 2.0, size=23)
    regressor = BackpropRegressor(hidden_layer_sizes=(5,), activation=activation, alpha=0.5)
    objective, theta = objective_and_theta(regressor, TARGETS[target], weight, 2)
    theta = 2 * theta  # away from the small initial weights, where g″ matters
    _, gradient = objective.loss_gradient(theta)
    assert_allclose(gradient, central_differences(objective.loss, theta), rtol=1e-6, atol=1e-9)

    v = np.random.RandomState(3).normal(size=theta.size)
    expected = hessian_vector_by_differences(objective, theta, v)
    assert_allclose(objective.hessian_vector_product(theta, v), expected, rtol=1e-5, atol=1e-8)

    # For squared error the Gauss-Newton matrix is exactly (1/W) Σ_i w_i J_iᵀ J_i + α on the
    # weights, J_i the Jacobian of the outputs of row i, here by differences of the outputs.
    jacobian = output_jacobian(objective, theta)
    product = sum(w * J.T @ (J @ v) for J, w in zip(jacobian, weight))
    penalty = np.concatenate(
        [np.vstack([np.zeros_like(b), W]).ravel() for W, b in objective.network.unpack(v)]
    )
    expected = (product + 0.5 * penalty) / weight.sum()
    assert_allclose(objective.gauss_newton_vector_product(theta, v), expected, rtol=1e-6, atol=1e-8)


def test_gradient_check_works_on_the_regressor():
    regressor = BackpropRegressor(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
    assert gradient_check(regressor, X, TARGETS["multi"]) < 1e-8
    assert not hasattr(regressor, "n_features_in_")


def held_out_r2(model, X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    fit_quietly(model, X_train, y_train)
    return model.score(X_test, y_test)


@pytest.mark.parametrize(
    "data, hidden, alpha",
    [
        pytest.param(load_diabetes(return_X_y=True), (10,), 10.0, id="diabetes"),
        pytest.param(make_friedman1(n_samples=600, random_state=0), (20,), 1e-2, id="friedman1"),
    ],
)
def test_r2_as_good_as_mlpregressor(data, hidden, alpha):
    X_data, y_data = data
    y_data = y_data / y_data.std()  # MLPRegressor's lbfgs fits unscaled targets poorly
    ours = make_pipeline(
        StandardScaler(),
        BackpropRegressor(
            hidden_layer_sizes=hidden,
            activation="relu",
            alpha=alpha,
            max_iter=2000,
            random_state=0,
        ),
    )
    theirs = make_pipeline(
        StandardScaler(),
        MLPRegressor(
            hidden_layer_sizes=hidden,
            activation="relu",
            alpha=alpha,
            solver="lbfgs",
            max_iter=2000,
            random_state=0,
        ),
    )
    assert held_out_r2(ours, X_data, y_data) >= held_out_r2(theirs, X_data, y_data) - 0.02


def test_multi_output_is_one_network_with_several_output_units():
    Y = np.c_[TARGETS["multi"], TARGETS["single"]]
    regressor = fit_quietly(BackpropRegressor(hidden_layer_sizes=(6,), random_state=0), X, Y)
    assert regressor.n_outputs_ == 4 and regressor.coefs_[-1].shape == (6, 4)
    assert regressor.predict(X).shape == (23, 4)
    assert regressor.out_activation_ == "identity"
    expected = squared_error_cost(regressor.thetas_, X, Y, regressor.alpha, np.ones(23), "logistic")
    assert_allclose(regressor.loss_, expected, rtol=1e-12)


def test_sparse_input_gives_the_same_model_as_dense():
    X_sparse_values = np.where(np.abs(X) > 0.7, X, 0.0)
    params = dict(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    dense = fit_quietly(BackpropRegressor(**params), X_sparse_values, TARGETS["single"])
    sparse_fit = fit_quietly(
        BackpropRegressor(**params), sparse.csr_matrix(X_sparse_values), TARGETS["single"]
    )
    for W_dense, W_sparse in zip(dense.coefs_, sparse_fit.coefs_):
        assert_allclose(W_sparse, W_dense, rtol=1e-9, atol=1e-12)


def test_integer_sample_weights_equal_repeated_rows():
    weight = RNG.randint(0, 3, size=23)
    rows = np.repeat(np.arange(23), weight)
    regressor = BackpropRegressor(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
    weighted = fit_objective(regressor, X, TARGETS["multi"], weight)
    repeated = fit_objective(regressor, X[rows], TARGETS["multi"][rows])
    theta = weighted.network.initial_theta(np.random.RandomState(0))
    v = np.random.RandomState(1).normal(size=theta.size)
    assert_allclose(weighted.loss(theta), repeated.loss(theta), rtol=1e-12)
    assert_allclose(weighted.loss_gradient(theta)[1], repeated.loss_gradient(theta)[1], rtol=1e-10)
    assert_allclose(
        weighted.hessian_vector_product(theta, v),
        repeated.hessian_vector_product(theta, v),
        rtol=1e-10,
        atol=1e-14,
    )
    # The same cost: both fits reach the same model.
    params = dict(hidden_layer_sizes=(4,), alpha=1.0, random_state=0, tol=0, max_iter=2000)
    by_weight = fit_quietly(BackpropRegressor(**params), X, TARGETS["multi"], sample_weight=weight)
    by_rows = fit_quietly(BackpropRegressor(**params), X[rows], TARGETS["multi"][rows])
    assert_allclose(by_weight.predict(X), by_rows.predict(X), rtol=1e-3, atol=1e-4)


def test_float32_is_kept():
    regressor = fit_quietly(
        BackpropRegressor(hidden_layer_sizes=(4,), random_state=0),
        X.astype(np.float32),
        TARGETS["single"],
    )
    assert regressor.predict(X.astype(np.float32)).dtype == np.float32
    assert regressor.coefs_[0].dtype == np.float64


@pytest.mark.parametrize(
    "method, hessian",
    [
        ("L-BFGS-B", "exact"),
        ("CG", "exact"),
        ("Newton-CG", "exact"),
        ("Newton-CG", "gauss-newton"),
        ("trust-ncg", "gauss-newton"),
        ("trust-constr", "exact"),
    ],
)
def test_every_kind_of_method_fits(method, hessian):
    X_data, y_data = make_friedman1(n_samples=300, random_state=1)
    regressor = BackpropRegressor(
        hidden_layer_sizes=(10,),
        method=method,
        hessian=hessian,
        alpha=1e-2,
        max_iter=100,
        random_state=0,
    )
    fit_quietly(regressor, StandardScaler().fit_transform(X_data), y_data)
    assert regressor.score(StandardScaler().fit_transform(X_data), y_data) > 0.8
    if method != "CG":  # line-search and trust-region methods never increase J
        assert np.all(np.diff(regressor.loss_curve_) <= 1e-12)


def test_early_stopping_scores_r2_and_keeps_the_best():
    X_data, y_data = make_friedman1(n_samples=400, random_state=2)
    X_data = StandardScaler().fit_transform(X_data)
    regressor = BackpropRegressor(
        hidden_layer_sizes=(30,),
        alpha=0.0,
        early_stopping=True,
        n_iter_no_change=5,
        max_iter=500,
        random_state=0,
    )
    fit_quietly(regressor, X_data, y_data)
    validation = train_test_split(
        np.arange(400), test_size=0.1, random_state=regressor._validation_split[0]
    )[1]
    assert regressor.best_validation_score_ == pytest.approx(
        regressor.score(X_data[validation], y_data[validation]), rel=1e-12
    )
    best = int(np.argmax(regressor.validation_scores_))
    assert regressor.best_validation_score_ == regressor.validation_scores_[best]
    # The validation loss is J without its penalty on the held-out rows: ½ mean squared error.
    residual = regressor.predict(X_data[validation]) - y_data[validation]
    assert_allclose(regressor.validation_loss_curve_[best], 0.5 * np.mean(residual**2), rtol=1e-10)


def test_callback_warm_start_and_pickle():
    seen = []
    regressor = BackpropRegressor(
        hidden_layer_sizes=(4,),
        warm_start=True,
        max_iter=5,
        random_state=0,
        callback=lambda iteration, loss, *args: seen.append(loss),
    )
    fit_quietly(regressor, X, TARGETS["single"])
    fit_quietly(regressor, X, TARGETS["single"])
    assert len(seen) == len(regressor.loss_curve_) == regressor.n_iter_ + 5
    assert regressor.loss_curve_[5] <= regressor.loss_curve_[4]
    restored = pickle.loads(pickle.dumps(regressor.set_params(callback=None)))
    assert_array_equal(restored.predict(X), regressor.predict(X))


def test_same_random_state_gives_the_same_model():
    first = fit_quietly(BackpropRegressor(random_state=3), X, TARGETS["multi"])
    second = fit_quietly(BackpropRegressor(random_state=3), X, TARGETS["multi"])
    for W_first, W_second in zip(first.coefs_, second.coefs_):
        assert_array_equal(W_first, W_second)


def test_a_hidden_layer_of_zeros_passes_on_its_bias_at_any_scale():
    # ReLU units that all stay 0 for huge inputs: the next layer's input is its bias alone,
    # which the exact forward pass of overflowing rows once scaled away (and its factor 2^e
    # overflowed to inf from e = 1024 on).
    regressor = fit_quietly(
        BackpropRegressor(hidden_layer_sizes=(2, 2), activation="relu", max_iter=1),
        np.ones((3, 1)),
        np.arange(3.0),
    )
    regressor.coefs_ = [np.array([[-1.0, -1.0]]), np.eye(2), np.array([[1.0], [1.0]])]
    regressor.intercepts_ = [np.zeros(2), np.array([0.5, 0.3]), np.array([0.073])]
    X_huge = np.array([[1.0], [1e300], [1.7e308]])
    assert_allclose(regressor.predict(X_huge), 0.873, rtol=1e-15)


def test_warm_start_offers_its_start_to_early_stopping_only_on_the_same_rows():
    X_data, y_data = make_friedman1(n_samples=300, random_state=3)
    params = dict(hidden_layer_sizes=(8,), warm_start=True, max_iter=20, random_state=0)
    regressor = fit_quietly(BackpropRegressor(early_stopping=True, **params), X_data, y_data)
    fit_quietly(regressor.set_params(early_stopping=False), X_data, y_data)
    assert regressor._validation_split is None  # the plain fit trained on every row
    fit_quietly(regressor.set_params(early_stopping=True), X_data, y_data)
    # A new split: the start was trained on these rows, so it is no candidate.
    scores = regressor.validation_scores_[-regressor.n_iter_ :]
    assert regressor.best_validation_score_ == max(scores)


def scaled_targets(n_rows, scale, offset):
    rng = np.random.RandomState(0)
    X_data = rng.normal(size=(n_rows, 3))
    y = X_data[:, 0] + 0.5 * np.sin(2 * X_data[:, 1]) + 0.1 * rng.normal(size=n_rows)
    return X_data, (y - y.mean()) / y.std(), y * scale + offset


@pytest.mark.parametrize("n_rows", [30, 200])
@pytest.mark.parametrize("scale", [0.1, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_targets_of_any_scale_and_offset_fit_as_standardized_ones(n_rows, scale, offset):
    X_data, standardized, y = scaled_targets(n_rows, scale, offset)
    reference = BackpropRegressor(random_state=0).fit(X_data, standardized)
    regressor = BackpropRegressor(random_state=0).fit(X_data, y)
    assert regressor.score(X_data, y) > reference.score(X_data, standardized) - 0.02


def returns_its_start(fun, x0, **kwargs):
    """A method that stops where it starts: the fit keeps its starting parameters."""
    return OptimizeResult(x=x0, success=True, status=0, message="At the start.", nit=0, nfev=0)


def test_the_output_layer_starts_in_units_of_the_targets():
    X_data, _, y = scaled_targets(200, 1e3, 1e6)
    weight = RNG.uniform(0.5, 2.0, size=200)
    params = dict(random_state=0, hidden_layer_sizes=(4,))
    objective = fit_objective(BackpropRegressor(**params), X_data, y, weight)
    coordinates = target_coordinates(objective.data)
    mean = np.average(y, weights=weight)
    variance = np.average((y - mean) ** 2, weights=weight)
    spread = np.sqrt(variance)
    network = Network((3, 4, 1), "logistic")
    # The weighted mean on the output biases, the spread on the output layer, J in units of
    # the variance; the hidden layer is measured in θ itself.
    (shift_W_hidden, shift_b_hidden), (shift_W_out, shift_b_out) = network.unpack(coordinates.shift)
    assert not (shift_W_hidden.any() or shift_b_hidden.any() or shift_W_out.any())
    assert_allclose(shift_b_out, [mean], rtol=1e-12)
    (scale_W_hidden, scale_b_hidden), (scale_W_out, scale_b_out) = network.unpack(coordinates.scale)
    assert np.all(scale_W_hidden == 1) and np.all(scale_b_hidden == 1)
    assert_allclose(scale_W_out, spread, rtol=1e-10)
    assert_allclose(scale_b_out, spread, rtol=1e-10)
    assert_allclose(coordinates.factor, variance, rtol=1e-10)

    # The fit starts from the course's draw, measured in these coordinates.
    start = coordinates.theta(network.initial_theta(np.random.RandomState(0)))
    at_start = BackpropRegressor(**params, method=returns_its_start).fit(X_data, y, weight)
    assert_allclose(network.pack(at_start.coefs_, at_start.intercepts_), start, rtol=1e-12)
    (W_hidden, _), (W_out, b_out) = network.unpack(start)
    epsilon_hidden, epsilon_out = np.sqrt(6 / (3 + 4)), np.sqrt(6 / (4 + 1))
    assert np.abs(W_hidden).max() <= epsilon_hidden  # the hidden layer is drawn as before
    assert np.abs(W_out).max() <= epsilon_out * spread
    assert np.abs(W_out).max() > 0.1 * epsilon_out * spread
    assert_allclose(b_out, mean, atol=epsilon_out * spread)


@pytest.mark.parametrize("scale", [1e-3, 1e-6])
def test_targets_too_small_for_alpha_are_warned_about(scale):
    X_data, _, y = scaled_targets(30, scale, 0.0)
    with pytest.warns(UserWarning, match=r"Standardize y: TransformedTargetRegressor") as record:
        fit_quietly(BackpropRegressor(random_state=0), X_data, y)
    assert record[0].filename == __file__
    alpha_there = 1e-4 / y.var()
    assert f"alpha={alpha_there:.3g} would on standardized targets" in str(record[0].message)


@pytest.mark.parametrize(("scale", "alpha"), [(1.0, 10.0), (0.1, 1e-4), (1e3, 1e-4)])
def test_targets_large_enough_for_alpha_fit_without_warning(scale, alpha):
    X_data, _, y = scaled_targets(30, scale, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_quietly(BackpropRegressor(random_state=0, alpha=alpha), X_data, y)


# Poisson and Gamma regression: log-link outputs h = exp(z(L)).

COUNTS = RNG.poisson(np.exp(0.5 * X[:, 0]), size=23).astype(float)
COUNTS[0] = 1.0
AMOUNTS = RNG.gamma(2.0, np.exp(0.3 * X[:, 1]), size=23)
GLM_TARGETS = {"poisson": COUNTS, "gamma": AMOUNTS}


def log_link_cost(thetas, X, y, alpha, weight, activation, loss):
    """J from the formula, one example at a time: (1/W) Σ w_i (h − y log h) for Poisson,
    (1/W) Σ w_i (log h + y / h) for Gamma, h = exp(z(L)), plus (α/2W) Σ Θ²."""
    total = 0.0
    for x, target, w in zip(X, y, weight):
        a = x
        for layer, theta in enumerate(thetas):
            z = theta @ np.concatenate([[1.0], a])
            a = G[activation](z) if layer < len(thetas) - 1 else z
        h = np.exp(a[0])
        total += w * (h - target * np.log(h) if loss == "poisson" else np.log(h) + target / h)
    penalty = sum(np.sum(theta[:, 1:] ** 2) for theta in thetas)
    return (total + 0.5 * alpha * penalty) / weight.sum()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_cost_equals_the_formula(activation, loss):
    weight = RNG.uniform(0.2, 2.0, size=23)
    regressor = BackpropRegressor((5, 3), activation=activation, loss=loss, alpha=0.7)
    objective, theta = objective_and_theta(regressor, GLM_TARGETS[loss], weight, 1)
    thetas = objective.network.thetas(theta)
    expected = log_link_cost(thetas, X, GLM_TARGETS[loss], 0.7, weight, activation, loss)
    assert_allclose(objective.loss(theta), expected, rtol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_gradient_and_curvature_products_against_differences(activation, loss):
    weight = RNG.uniform(0.2, 2.0, size=23)
    regressor = BackpropRegressor((5,), activation=activation, loss=loss, alpha=0.5)
    y = GLM_TARGETS[loss]
    objective, theta = objective_and_theta(regressor, y, weight, 2)
    theta = 2 * theta  # away from the small initial weights, where g″ matters
    _, gradient = objective.loss_gradient(theta)
    numerical = central_differences(objective.loss, theta)
    assert np.linalg.norm(gradient - numerical) / np.linalg.norm(gradient) < 1e-7
    assert gradient_check(regressor, X, y, sample_weight=weight) < 1e-7

    v = np.random.RandomState(3).normal(size=theta.size)
    expected = hessian_vector_by_differences(objective, theta, v)
    assert_allclose(objective.hessian_vector_product(theta, v), expected, rtol=1e-5, atol=1e-8)

    # Gauss-Newton: (1/W) Σ_i w_i J_iᵀ c″(z_i) J_i + α on the weights, J_i the Jacobian of
    # z(L) of row i by differences, c″ = h (Poisson) or y / h (Gamma).
    jacobian = output_jacobian(objective, theta)[:, 0]
    z = objective.data.output(theta)[:, 0]
    curvature = np.exp(z) if loss == "poisson" else y * np.exp(-z)
    product = (weight * curvature) @ (jacobian * (jacobian @ v)[:, np.newaxis])
    penalty = np.concatenate(
        [np.vstack([np.zeros_like(b), W]).ravel() for W, b in objective.network.unpack(v)]
    )
    expected = (product + 0.5 * penalty) / weight.sum()
    gauss_newton = objective.gauss_newton_vector_product(theta, v)
    assert_allclose(gauss_newton, expected, rtol=1e-6, atol=1e-8)
    matrix = np.stack([objective.gauss_newton_vector_product(theta, e) for e in np.eye(theta.size)])
    eigenvalues = np.linalg.eigvalsh(0.5 * (matrix + matrix.T))
    assert eigenvalues.min() > -1e-12 * eigenvalues.max()  # PSD, up to rounding


@pytest.mark.parametrize(
    "loss, y, message",
    [
        ("poisson", np.r_[-1.0, np.ones(22)], "loss='poisson' needs targets y >= 0"),
        ("poisson", np.zeros(23), "loss='poisson' needs targets with a positive sum"),
        ("gamma", np.r_[0.0, np.ones(22)], "loss='gamma' needs targets y > 0"),
        ("gamma", np.r_[-2.0, np.ones(22)], "loss='gamma' needs targets y > 0"),
    ],
)
def test_targets_outside_the_loss_range_are_refused(loss, y, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        BackpropRegressor((3,), loss=loss).fit(X, y)


def test_poisson_targets_of_zero_weighted_sum_are_refused():
    y = np.r_[3.0, np.zeros(22)]  # the one count has weight 0
    weight = np.r_[0.0, np.ones(22)]
    regressor = BackpropRegressor((3,), loss="poisson")
    with pytest.raises(ValueError, match=r"positive weighted sum \(sum of w \* y > 0\)"):
        regressor.fit(X, y, sample_weight=weight)
    assert not hasattr(regressor, "coefs_")
    fit_quietly(regressor, X, y, sample_weight=np.r_[0.5, np.ones(22)])  # a positive sum fits


@pytest.mark.parametrize(("first", "second"), [("squared_error", "poisson"), ("poisson", "gamma")])
def test_warm_start_refuses_another_loss(first, second):
    y = np.abs(TARGETS["single"]) + 0.5
    regressor = fit_quietly(BackpropRegressor((3,), loss=first, warm_start=True), X, y)
    coefs = [W.copy() for W in regressor.coefs_]
    message = f"same loss: the previous fit had loss='{first}', this one has loss='{second}'"
    with pytest.raises(ValueError, match=message):
        regressor.set_params(loss=second).fit(X, y)
    for before, after in zip(coefs, regressor.coefs_):
        assert_array_equal(before, after)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="'loss' parameter"):
        BackpropRegressor(loss="huber").fit(X, TARGETS["single"])


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
@pytest.mark.parametrize("scale", [700.0, 1e4])
def test_log_link_extreme_outputs_stay_finite(loss, scale):
    # Inputs that drive z(L) to ±700 and far beyond: J, its gradient, the curvature products and
    # predict stay finite, without overflow warnings (which the test run turns into errors).
    Xe = np.array([[-1.0], [0.0], [1.0], [2.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    regressor = BackpropRegressor((), loss=loss, alpha=0.0)
    objective = fit_objective(regressor, Xe, y)
    theta = np.array([0.0, scale])  # z = scale · x
    with np.errstate(all="raise"):
        value, gradient = objective.loss_gradient(theta)
        products = [
            objective.hessian_vector_product(theta, np.ones(2)),
            objective.gauss_newton_vector_product(theta, np.ones(2)),
        ]
    assert np.isfinite(value) and np.isfinite(gradient).all()
    assert all(np.isfinite(product).all() for product in products)
    fitted = fit_quietly(BackpropRegressor((), loss=loss, max_iter=1), Xe, y)
    fitted.coefs_[0][...] = scale
    with np.errstate(all="raise"):
        predicted = fitted.predict(Xe)
    assert np.isfinite(predicted).all() and (predicted > 0).all()


def glm_data(loss, n_samples=300):
    rng = np.random.RandomState(0)
    Xg = rng.normal(size=(n_samples, 4))
    mean = np.exp(Xg @ [0.3, -0.2, 0.1, 0.0] + 0.5)
    y = rng.poisson(mean).astype(float) if loss == "poisson" else rng.gamma(2.0, mean / 2.0)
    return Xg, y


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 30.0])
def test_no_hidden_layer_equals_sklearn_glm(loss, alpha):
    # J = (1/W) Σ w cost + α/(2W) ‖Θ‖² and scikit-learn's GLM objective
    # (1/2W) Σ w deviance + α_glm/2 ‖w‖², deviance/2 = cost + terms in y: α_glm = α / W.
    from sklearn.linear_model import GammaRegressor, PoissonRegressor

    Xg, y = glm_data(loss)
    glm = {"poisson": PoissonRegressor, "gamma": GammaRegressor}[loss]
    reference = glm(alpha=alpha / len(Xg), tol=1e-12, max_iter=10_000).fit(Xg, y)
    network = BackpropRegressor((), loss=loss, alpha=alpha, tol=0, max_iter=1000, random_state=0)
    fit_quietly(network, Xg, y)
    assert network.out_activation_ == loss
    assert_allclose(network.coefs_[0].ravel(), reference.coef_, rtol=1e-4, atol=1e-8)
    assert_allclose(network.intercepts_[0][0], reference.intercept_, rtol=1e-4)
    assert_allclose(network.predict(Xg), reference.predict(Xg), rtol=1e-4)


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_early_stopping_scores_r2_of_the_predictions(loss):
    Xg, y = glm_data(loss)
    network = BackpropRegressor(
        (4,), loss=loss, early_stopping=True, n_iter_no_change=3, max_iter=60, random_state=0
    )
    fit_quietly(network, Xg, y)
    assert len(network.validation_scores_) == network.n_iter_
    assert network.best_validation_score_ == max(network.validation_scores_)
    assert network.best_validation_score_ > 0.0
    assert np.isfinite(network.validation_loss_curve_).all()


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_predictions_are_positive_and_fit(loss):
    Xg, y = glm_data(loss)
    network = fit_quietly(BackpropRegressor((5,), loss=loss, random_state=0), Xg, y)
    predicted = network.predict(Xg)
    assert (predicted > 0).all()
    assert_allclose(predicted, np.exp(network._output(Xg)[0][:, 0]), rtol=1e-12)
    assert network.score(Xg, y) > 0.15


def _log_link_targets(loss):
    """Counts for Poisson (some zeros), positive amounts for Gamma, from X's first column."""
    mean = np.exp(0.5 * X[:, 0])
    return np.round(2 * mean) if loss == "poisson" else mean * RNG.uniform(0.5, 1.5, size=23)


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_fits_sparse_float32_warm_start_and_files_as_squared_error_does(loss, tmp_path):
    y = _log_link_targets(loss)
    params = dict(hidden_layer_sizes=(4,), loss=loss, alpha=1.0, random_state=0)
    dense = fit_quietly(BackpropRegressor(**params), np.where(np.abs(X) > 0.7, X, 0.0), y)
    sparse_fit = fit_quietly(
        BackpropRegressor(**params), sparse.csr_matrix(np.where(np.abs(X) > 0.7, X, 0.0)), y
    )
    for W_dense, W_sparse in zip(dense.coefs_, sparse_fit.coefs_):
        assert_allclose(W_sparse, W_dense, rtol=1e-9, atol=1e-12)

    single = fit_quietly(BackpropRegressor(**params), X.astype(np.float32), y)
    assert single.predict(X.astype(np.float32)).dtype == np.float32
    assert_allclose(
        single.predict(X), fit_quietly(BackpropRegressor(**params), X, y).predict(X), rtol=1e-2
    )

    warm = fit_quietly(BackpropRegressor(**params, warm_start=True, max_iter=5), X, y)
    first_curve = list(warm.loss_curve_)
    fit_quietly(warm, X, y)
    assert warm.loss_curve_[: len(first_curve)] == first_curve
    assert warm.loss_curve_[-1] <= first_curve[-1]

    pytest.importorskip("skops")

    save_model(dense, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert loaded.loss == loss
    assert_array_equal(loaded.predict(X), dense.predict(X))
