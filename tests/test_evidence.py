"""alpha="evidence": γ, the updates, the log evidence and the predictive standard deviation
against an independent dense computation (a Jacobian by central differences, NumPy's
eigenvalues and determinants), the stochastic γ against the exact one, and the errors."""

import math
import re
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import minimize
from sklearn import config_context
from sklearn.datasets import make_classification, make_friedman1
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_bp import (
    BackpropClassifier,
    BackpropRegressor,
    _base,
    _evidence,
    load_model,
    save_model,
)
from sklearn_bp._evidence import (
    PROBES,
    RIVAL_MARGIN,
    RIVAL_ROUNDS,
    DenseCurvature,
    Evidence,
    StochasticCurvature,
    evidence_at,
    gauss_newton_matrix,
    log_symmetries,
    settle,
    settling_tolerance,
    weight_groups,
)
from sklearn_bp._network import Network
from sklearn_bp._objective import BackpropObjective, DataTerm
from tests.support import array_api_unavailable, fit_objective


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def output_layer_input(thetas, X):
    """z(L) of every row, written from the course's formulas with Θ(l) = [b | Wᵀ]."""
    a = X
    for layer, theta in enumerate(thetas):
        z = a @ theta[:, 1:].T + theta[:, 0]
        a = sigmoid(z) if layer < len(thetas) - 1 else z
    return a


def numerical_jacobian(network, theta, X, epsilon=1e-6):
    """∂z(L)/∂θ of every row and output, shape (n_rows, n_outputs, n_params), by central
    differences."""

    def z(flat):
        return output_layer_input(network.thetas(flat), X)

    columns = []
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = epsilon
        columns.append((z(theta + step) - z(theta - step)) / (2 * epsilon))
    return np.stack(columns, axis=-1)


def regression_data(n=40, n_features=3, noise=0.3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, n_features))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + noise * rng.normal(size=n)
    return X, y


def reference_evidence(
    J_rows, residual_sum, theta, groups, alphas, n_data, beta_fixed=None, n_hidden=0
):
    """γ, β, the updated alphas and the log evidence from the dense G = Σ Jᵀ w J, independently.

    ``n_hidden`` logistic hidden units in one layer add MacKay's ln(H! 2^H) to the log
    evidence, the posterior's equivalent modes.

    γ_c = k_c − alpha_c tr_c((S + D)⁻¹) with S the Schur complement of the biases' block, the
    log evidence with ln det A from NumPy's slogdet of β (G + D) (the biases' block is regular
    here, so its pseudo-determinant is its determinant), the biases' flat prior taken as a
    Gaussian of precision 1e-8 times the mean of G's diagonal, as documented.
    """
    w, b = groups >= 0, groups < 0
    # The biases' flat prior as the documented Gaussian of precision 1e-8 mean(diag G).
    G = J_rows + np.diag(np.where(b, 1e-8 * np.mean(np.diag(J_rows)), 0.0))
    D = np.diag(np.asarray(alphas)[groups[w]])
    S = G[np.ix_(w, w)] - G[np.ix_(w, b)] @ np.linalg.solve(G[np.ix_(b, b)], G[np.ix_(b, w)])
    inverse = np.linalg.inv(S + D)
    n_groups = len(alphas)
    sizes = np.array([np.sum(groups == c) for c in range(n_groups)], dtype=float)
    traces = np.array([np.sum(np.diag(inverse)[groups[w] == c]) for c in range(n_groups)])
    gammas = sizes - np.asarray(alphas) * traces
    gamma = gammas.sum() + b.sum()
    e_w = np.array([0.5 * np.sum(theta[groups == c] ** 2) for c in range(n_groups)])
    if beta_fixed is None:
        beta = (n_data - gamma) / (2 * residual_sum)
    else:
        beta = beta_fixed
    updates = gammas / (2 * e_w) / beta
    full_D = np.zeros_like(G)
    full_D[np.ix_(w, w)] = D
    _, log_det = np.linalg.slogdet(beta * (G + full_D))
    log_evidence = (
        -beta * (residual_sum + np.asarray(alphas) @ e_w)
        - 0.5 * log_det
        + 0.5 * sizes @ np.log(np.asarray(alphas) * beta)
        + 0.5 * b.sum() * np.log(2 * np.pi)
    )
    if beta_fixed is None:
        log_evidence += 0.5 * n_data * (np.log(beta) - np.log(2 * np.pi))
    log_evidence += math.log(math.factorial(n_hidden) * 2**n_hidden)
    return gammas, gamma, beta, updates, log_evidence


@pytest.mark.parametrize("per_layer", [False, True])
def test_gamma_updates_and_log_evidence_match_a_dense_computation(per_layer):
    X, y = regression_data()
    weight = np.random.RandomState(1).uniform(0.5, 2.0, size=y.size)
    objective = fit_objective(
        BackpropRegressor(hidden_layer_sizes=(4,), alpha=1.0), X, y, sample_weight=weight
    )
    data, network = objective.data, objective.network
    theta = network.initial_theta(np.random.RandomState(0))
    groups = weight_groups(network, per_layer)
    alphas = [0.7, 0.2] if per_layer else [0.5]

    jacobian = numerical_jacobian(network, theta, X)[:, 0, :]
    G = jacobian.T @ (weight[:, None] * jacobian)
    np.testing.assert_allclose(gauss_newton_matrix(data, theta), G, rtol=1e-6, atol=1e-8)

    residual = output_layer_input(network.thetas(theta), X)[:, 0] - y
    expected = reference_evidence(
        G, 0.5 * np.sum(weight * residual**2), theta, groups, alphas, weight.sum(), n_hidden=4
    )
    evidence = evidence_at(data, theta, alphas, groups, 1, True)
    np.testing.assert_allclose(evidence.gammas, expected[0], rtol=1e-6)
    assert evidence.gamma == pytest.approx(expected[1], rel=1e-6)
    assert evidence.beta == pytest.approx(expected[2], rel=1e-6)
    np.testing.assert_allclose(evidence.updates, expected[3], rtol=1e-6)
    assert evidence.log_evidence == pytest.approx(expected[4], rel=1e-6)


def test_one_group_gamma_is_the_eigenvalue_sum():
    """With one α: γ_w = Σ μ_i / (μ_i + α) over the eigenvalues μ_i of S (MacKay's form)."""
    X, y = regression_data(n=30)
    objective = fit_objective(BackpropRegressor(hidden_layer_sizes=(3,), alpha=1.0), X, y)
    data, network = objective.data, objective.network
    theta = network.initial_theta(np.random.RandomState(2))
    groups = weight_groups(network, per_layer=False)
    G = gauss_newton_matrix(data, theta)
    w, b = groups >= 0, groups < 0
    G_flat = G + np.diag(np.where(b, 1e-8 * np.mean(np.diag(G)), 0.0))
    G_bb = G_flat[np.ix_(b, b)]
    S = G[np.ix_(w, w)] - G[np.ix_(w, b)] @ np.linalg.solve(G_bb, G[np.ix_(b, w)])
    mu = np.clip(np.linalg.eigvalsh(S), 0, None)
    gammas, _ = DenseCurvature(G, groups).gammas([0.3])
    assert gammas[0] == pytest.approx(np.sum(mu / (mu + 0.3)), rel=1e-6)


def test_classifier_gamma_uses_the_cross_entropy_curvature():
    """Binary logistic outputs: G = Σ Jᵀ w h (1 − h) J, β = 1."""
    X, y = make_classification(n_samples=40, n_features=3, n_informative=2, n_redundant=0,
                               random_state=0)  # fmt: skip
    objective = fit_objective(BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0), X, y)
    data, network = objective.data, objective.network
    theta = network.initial_theta(np.random.RandomState(0))
    groups = weight_groups(network, per_layer=True)
    z = output_layer_input(network.thetas(theta), X)[:, 0]
    h = sigmoid(z)
    jacobian = numerical_jacobian(network, theta, X)[:, 0, :]
    G = jacobian.T @ ((h * (1 - h))[:, None] * jacobian)
    cross_entropy = -np.sum(y * np.log(h) + (1 - y) * np.log(1 - h))
    alphas = [0.4, 0.9]
    expected = reference_evidence(
        G, cross_entropy, theta, groups, alphas, y.size, beta_fixed=1, n_hidden=3
    )
    evidence = evidence_at(data, theta, alphas, groups, 1, False)
    assert evidence.beta == 1.0
    np.testing.assert_allclose(evidence.gammas, expected[0], rtol=1e-6)
    np.testing.assert_allclose(evidence.updates, expected[3], rtol=1e-6)
    assert evidence.log_evidence == pytest.approx(expected[4], rel=1e-6)


def test_fitted_attributes_are_a_fixed_point_of_the_updates():
    X, y = regression_data(n=60)
    regressor = BackpropRegressor(hidden_layer_sizes=(4,), alpha="evidence", random_state=0)
    regressor.fit(X, y)
    assert regressor.alpha_.shape == (2,)
    assert np.all(regressor.alpha_ > 0)
    n_params = sum(W.size + b.size for W, b in zip(regressor.coefs_, regressor.intercepts_))
    assert 4 + 1 < regressor.effective_n_parameters_ < n_params  # biases count as determined
    # At the fitted θ, an independent computation re-estimates alpha_ within the tolerance.
    network = regressor._network
    theta = network.pack(regressor.coefs_, regressor.intercepts_)
    jacobian = numerical_jacobian(network, theta, X)[:, 0, :]
    G = jacobian.T @ jacobian
    residual = regressor.predict(X) - y
    per_layer = not np.isclose(regressor.alpha_[0], regressor.alpha_[1], rtol=1e-12)
    groups = weight_groups(network, per_layer)
    alphas = regressor.alpha_ if per_layer else regressor.alpha_[:1]
    gammas, gamma, beta, updates, log_evidence = reference_evidence(
        G, 0.5 * np.sum(residual**2), theta, groups, alphas, y.size, n_hidden=4
    )
    # Settled: |Δ ln alpha_c| within a tenth of √(2 / γ_c), at least 1%, at most 0.2 (the
    # numerical Jacobian's G adds a little).
    tolerance = np.clip(0.1 * np.sqrt(2 / gammas), 0.01, 0.2)
    assert np.all(np.abs(np.log(updates / alphas)) < tolerance + 1e-3)
    assert regressor.effective_n_parameters_ == pytest.approx(gamma, rel=1e-4)
    assert regressor.noise_variance_ == pytest.approx(1 / beta, rel=1e-4)
    assert regressor.log_evidence_ == pytest.approx(log_evidence, rel=1e-4)


@pytest.mark.parametrize(
    "hidden, activation, expected",
    [
        ((5,), "logistic", math.log(math.factorial(5) * 2**5)),
        ((3, 4), "tanh", math.log(math.factorial(3) * 2**3 * math.factorial(4) * 2**4)),
        ((3, 4), "relu", math.log(math.factorial(3) * math.factorial(4))),
        ((6,), "identity", math.log(math.factorial(6))),
        ((), "logistic", 0.0),
    ],
)
def test_the_log_evidence_counts_the_hidden_units_symmetries(hidden, activation, expected):
    """Permutations of every hidden layer's units, and their sign flips where g is odd about
    a point (tanh, logistic): ln(H! 2^H) per layer (MacKay)."""
    network = Network((3, *hidden, 2), activation)
    assert log_symmetries(network) == pytest.approx(expected, rel=1e-12)


def test_settling_tolerance_is_a_tenth_of_the_error_bar_of_ln_alpha():
    """√(2 / γ_c) / 10, within [0.01, 0.2]: a group with no determined weight is capped."""
    np.testing.assert_allclose(
        settling_tolerance([0.0, 0.5, 2.0, 8.0, 200.0, 2e4]), [0.2, 0.2, 0.1, 0.05, 0.01, 0.01]
    )


def test_a_stage_running_off_to_a_degenerate_optimum_ends_early():
    """From a penalty that collapses the network (γ ≈ 0 in both groups), the rounds end after
    two evaluations with fewer than half a determined weight, unsettled; from a sound start
    they settle, every group above half a weight."""
    X, y = regression_data(n=40)
    data = fit_objective(BackpropRegressor(hidden_layer_sizes=(3,), alpha=1.0), X, y).data
    calls = []

    def minimize_at(alphas, theta):
        calls.append(alphas)
        objective = BackpropObjective(data, alphas)
        return minimize(objective.loss_gradient, theta, jac=True, method="L-BFGS-B").x

    theta0 = data.network.initial_theta(np.random.RandomState(0))
    groups = weight_groups(data.network, per_layer=True)
    _, _, evidence, settled = settle(minimize_at, data, theta0, [1.0, 1e3], groups, 1, True, 15)
    assert not settled and len(calls) == 2
    assert np.any(evidence.gammas < 0.5)
    calls.clear()
    _, _, evidence, settled = settle(minimize_at, data, theta0, [1.0, 1.0], groups, 1, True, 15)
    assert settled and np.all(evidence.gammas >= 0.5)
    assert 2 < len(calls) <= 16


def scripted_rounds(monkeypatch, script):
    """Run ``settle`` over scripted rounds: round k's minimization returns θ = [k, k] and its
    evaluation the k-th ``(updates, gammas, log_evidence)`` of ``script`` (one group)."""
    rounds = iter(script)

    def evidence_at(data, theta, alphas, groups, n_outputs, estimate_beta, curvature=None):
        updates, gammas, log_evidence = next(rounds)
        gammas = np.atleast_1d(np.asarray(gammas, dtype=np.float64))
        return Evidence(
            np.asarray(alphas),
            gammas,
            float(gammas.sum()),
            1.0,
            np.atleast_1d(np.asarray(updates, dtype=np.float64)),
            log_evidence,
            None,
        )

    monkeypatch.setattr(_evidence, "evidence_at", evidence_at)
    calls = []

    def minimize_at(alphas, theta):
        calls.append(float(alphas[0]))
        return np.full(2, float(len(calls)))

    def run(rival=None):
        groups = np.array([0, -1])
        result = settle(minimize_at, None, np.zeros(2), [1.0], groups, 1, True, 15, rival=rival)
        return (*result, calls)

    return run


def test_a_stage_keeps_its_round_of_the_highest_sound_log_evidence(monkeypatch):
    """The second round has the highest log evidence of the sound rounds; the third's is
    higher still but has fewer than half a determined weight; the fourth settles. The stage
    returns the second round: its θ, the alphas it was fitted with, its evidence."""
    run = scripted_rounds(
        monkeypatch,
        [(2.0, 5.0, -9.0), (4.0, 6.0, -1.0), (8.0, 0.3, 5.0), (8.0, 6.0, -4.0)],
    )
    theta, alphas, evidence, settled, calls = run()
    assert settled
    assert calls == [1.0, 2.0, 4.0, 8.0]
    np.testing.assert_array_equal(theta, [2.0, 2.0])
    np.testing.assert_array_equal(alphas, [2.0])
    assert evidence.log_evidence == -1.0


def test_without_a_log_evidence_a_stage_ends_with_its_last_round(monkeypatch):
    run = scripted_rounds(monkeypatch, [(2.0, 5.0, None), (2.0, 6.0, None)])
    theta, _alphas, evidence, settled, calls = run(rival=0.0)
    assert settled and calls == [1.0, 2.0]
    np.testing.assert_array_equal(theta, [2.0, 2.0])
    assert evidence.log_evidence is None


def test_a_stage_far_behind_its_rival_ends_after_its_second_round(monkeypatch):
    """Far behind at the first evaluation is not yet enough; at the second it is, and the
    stage ends unsettled with its best round. Within the margin it goes on."""
    behind = -RIVAL_MARGIN - 1.0
    run = scripted_rounds(monkeypatch, [(2.0, 5.0, behind - 5.0), (4.0, 5.0, behind), ()])
    theta, alphas, evidence, settled, calls = run(rival=0.0)
    assert RIVAL_ROUNDS == 2
    assert not settled and calls == [1.0, 2.0]
    assert evidence.log_evidence == behind
    np.testing.assert_array_equal(theta, [2.0, 2.0])
    np.testing.assert_array_equal(alphas, [2.0])

    close = -RIVAL_MARGIN + 1.0
    run = scripted_rounds(monkeypatch, [(2.0, 5.0, close), (4.0, 5.0, close), (4.0, 5.0, close)])
    *_, settled, calls = run(rival=0.0)
    assert settled and calls == [1.0, 2.0, 4.0]


def test_a_fit_keeps_the_round_of_the_highest_log_evidence_of_the_winning_stage(monkeypatch):
    """On these data the per-layer stage's best round is not its last. Every round's evidence
    is recorded: the fit keeps the highest sound one of the winning stage (the one-alpha
    stage's best is lower), with that round's alphas and parameters, and ``loss_`` is J there
    (computed anew from the fitted weights)."""
    recorded = []
    evidence_at = _evidence.evidence_at

    def record(*args, **kwargs):
        evidence = evidence_at(*args, **kwargs)
        recorded.append(evidence)
        return evidence

    monkeypatch.setattr(_evidence, "evidence_at", record)
    X, y = make_classification(120, 6, n_informative=3, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    classifier = BackpropClassifier(hidden_layer_sizes=(4,), alpha="evidence", random_state=0)
    classifier.fit(X, y)

    def best(n_groups):
        sound = [e for e in recorded if e.alphas.size == n_groups and np.all(e.gammas >= 0.5)]
        return max(sound, key=lambda e: e.log_evidence)

    per_layer = best(2)
    assert per_layer is not [e for e in recorded if e.alphas.size == 2][-1]
    assert per_layer.log_evidence > best(1).log_evidence
    assert classifier.log_evidence_ == per_layer.log_evidence
    np.testing.assert_array_equal(classifier.alpha_, per_layer.alphas)
    assert classifier.effective_n_parameters_ == per_layer.gamma

    data = fit_objective(BackpropClassifier(hidden_layer_sizes=(4,)), X, y).data
    theta = data.network.pack(classifier.coefs_, classifier.intercepts_)
    loss = BackpropObjective(data, classifier.alpha_).loss_gradient(theta)[0]
    assert classifier.loss_ == pytest.approx(loss, rel=1e-12)


def test_the_per_layer_stage_starts_from_the_first_stages_choice_without_refitting(
    monkeypatch,
):
    """The per-layer stage starts where the one-alpha stage's choice is: the same J (every
    layer's alpha equal), so no minimization and no new G for its first round, whose log
    evidence is the first stage's and whose γ_c split the first stage's γ by layer."""
    built, recorded, minimized = [], [], []
    gauss_newton, evidence_at = _evidence.gauss_newton_matrix, _evidence.evidence_at
    minimize_objective = _base.minimize_objective

    def build(data, theta):
        built.append(theta.copy())
        return gauss_newton(data, theta)

    def record(*args, **kwargs):
        recorded.append(evidence_at(*args, **kwargs))
        return recorded[-1]

    def minimize(monitor, theta0, **kwargs):
        minimized.append(theta0.copy())
        return minimize_objective(monitor, theta0, **kwargs)

    monkeypatch.setattr(_evidence, "gauss_newton_matrix", build)
    monkeypatch.setattr(_evidence, "evidence_at", record)
    monkeypatch.setattr(_base, "minimize_objective", minimize)
    X, y = regression_data(n=60)
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, y)

    first = next(i for i, e in enumerate(recorded) if e.alphas.size == 2)
    one_group = [e for e in recorded[:first] if np.all(e.gammas >= 0.5)]
    chosen = max(one_group, key=lambda e: e.log_evidence)
    start = recorded[first]
    np.testing.assert_array_equal(start.alphas, np.full(2, chosen.alphas[0]))
    assert start.curvature.G is chosen.curvature.G
    assert start.log_evidence == pytest.approx(chosen.log_evidence, rel=1e-12, abs=1e-9)
    assert start.gammas.sum() == pytest.approx(chosen.gammas.sum(), rel=1e-10)
    # One G for every evaluation but the per-layer stage's first; one minimization before
    # every evaluation but that one.
    assert len(built) == len(recorded) - 1
    assert first >= 2 and len(recorded) > first + 1
    assert len(minimized) == len(recorded) - 1


def test_predictive_std_matches_an_independent_laplace_computation():
    X, y = regression_data(n=50)
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, y)
    X_new = np.random.RandomState(5).uniform(-3, 3, size=(7, 3))
    mean, std = regressor.predict(X_new, return_std=True)
    np.testing.assert_array_equal(mean, regressor.predict(X_new))

    network = regressor._network
    theta = network.pack(regressor.coefs_, regressor.intercepts_)
    beta = 1 / regressor.noise_variance_
    jacobian = numerical_jacobian(network, theta, X)[:, 0, :]
    penalty = np.zeros(theta.size)
    for alpha, (W, _) in zip(regressor.alpha_, network.unpack(penalty)):
        W[...] = alpha
    A = beta * (jacobian.T @ jacobian + np.diag(penalty))
    g = numerical_jacobian(network, theta, X_new)[:, 0, :]
    expected = np.sqrt(1 / beta + np.einsum("ij,ij->i", g, np.linalg.solve(A, g.T).T))
    np.testing.assert_allclose(std, expected, rtol=1e-5)
    assert np.all(std > np.sqrt(regressor.noise_variance_))


def test_predictive_std_of_several_outputs_sparse_and_float32():
    X, y = regression_data(n=50)
    Y = np.column_stack([y, -2 * y + 0.1])
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, Y)
    mean, std = regressor.predict(X[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)
    _, std_sparse = regressor.predict(sparse.csr_matrix(X[:5]), return_std=True)
    np.testing.assert_allclose(std_sparse, std, rtol=1e-12)
    _, std32 = regressor.predict(X[:5].astype(np.float32), return_std=True)
    assert std32.dtype == np.float32
    np.testing.assert_allclose(std32, std, rtol=1e-4)


def test_traces_fall_back_to_the_eigenvalues_of_the_matrix_itself():
    """Where round-off leaves M = G + D + ε P_b indefinite (here a bias of negative
    curvature), the Cholesky factorization fails part way, having overwritten M; the traces
    and ln det then come from the eigenvalues of M itself, clipped at the smallest float."""
    rng = np.random.RandomState(0)
    root = rng.randn(6, 4)
    G = np.zeros((5, 5))
    G[:4, :4] = root.T @ root
    G[4, 4] = -1e-6
    groups = np.array([0, 0, 1, 1, -1])
    curvature = DenseCurvature(G, groups)
    alphas = np.array([0.5, 2.0])
    traces, log_det = curvature.traces(alphas)
    inverse = np.linalg.inv(G[:4, :4] + np.diag([0.5, 0.5, 2.0, 2.0]))
    np.testing.assert_allclose(traces, [np.trace(inverse[:2, :2]), np.trace(inverse[2:, 2:])])
    tiny = np.finfo(np.float64).tiny
    expected = np.linalg.slogdet(G[:4, :4] + np.diag([0.5, 0.5, 2.0, 2.0]))[1] + np.log(tiny)
    assert log_det == pytest.approx(expected, rel=1e-12)


def test_stochastic_gamma_agrees_with_the_exact_one_within_its_standard_error():
    X, y = regression_data(n=60, n_features=5)
    objective = fit_objective(BackpropRegressor(hidden_layer_sizes=(6,), alpha=1.0), X, y)
    data, network = objective.data, objective.network
    theta = network.initial_theta(np.random.RandomState(0))
    groups = weight_groups(network, per_layer=True)
    alphas = [0.5, 0.1]
    exact, _ = DenseCurvature(gauss_newton_matrix(data, theta), groups).gammas(alphas)
    stochastic = StochasticCurvature(data, theta, groups, probes=PROBES, random_state=0)
    estimate, log_det = stochastic.gammas(alphas)
    assert log_det is None
    sizes = stochastic.sizes(2)
    # The documented bound on the standard error, √(2 k_c / m), and the probes' own.
    assert np.all(stochastic.standard_errors <= np.sqrt(2 * sizes / PROBES))
    assert np.all(np.abs(estimate - exact) <= 4 * stochastic.standard_errors)


def test_a_network_beyond_the_dense_limit_estimates_gamma_and_refuses_return_std():
    X, y = regression_data(n=60)
    regressor = BackpropRegressor(hidden_layer_sizes=(4,), alpha="evidence", random_state=0)
    with config_context(working_memory=0.005):  # 5 kB: no dense matrix of 21 parameters
        regressor.fit(X, y)
    assert regressor.log_evidence_ is None
    assert regressor.noise_variance_ > 0 and regressor.effective_n_parameters_ > 5
    with pytest.raises(ValueError, match="return_std=True needs the dense posterior"):
        regressor.predict(X, return_std=True)


def test_sample_weights_count_as_repeated_rows():
    X, y = regression_data(n=30)
    weight = np.arange(30) % 3
    weighted = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    weighted.fit(X, y, sample_weight=weight)
    repeated = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    repeated.fit(np.repeat(X, weight, axis=0), np.repeat(y, weight))
    np.testing.assert_allclose(weighted.alpha_, repeated.alpha_, rtol=1e-5)
    assert weighted.noise_variance_ == pytest.approx(repeated.noise_variance_, rel=1e-5)
    assert weighted.log_evidence_ == pytest.approx(repeated.log_evidence_, rel=1e-5)


def test_classifier_with_class_weights():
    X, y = make_classification(n_samples=80, n_features=4, weights=[0.8], random_state=0)
    classifier = BackpropClassifier(
        hidden_layer_sizes=(3,), alpha="evidence", class_weight="balanced", random_state=0
    ).fit(X, y)
    assert classifier.noise_variance_ is None
    assert np.all(classifier.alpha_ > 0) and classifier.log_evidence_ < 0
    assert classifier.score(X, y) > 0.8


def test_warm_start_continues_from_the_chosen_alpha():
    X, y = regression_data(n=60)
    regressor = BackpropRegressor(
        hidden_layer_sizes=(4,), alpha="evidence", warm_start=True, random_state=0
    ).fit(X, y)
    alpha, n_iter = regressor.alpha_.copy(), len(regressor.loss_curve_)
    regressor.fit(X, y)
    np.testing.assert_allclose(regressor.alpha_, alpha, rtol=0.05)
    assert len(regressor.loss_curve_) >= n_iter


def test_a_fit_with_a_number_clears_the_evidence():
    X, y = regression_data(n=40)
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, y).set_params(alpha=1.0).fit(X, y)
    assert regressor.alpha_ is None and regressor.noise_variance_ is None
    with pytest.raises(
        ValueError, match=re.escape("fitted with alpha=1.0 and loss='squared_error'")
    ):
        regressor.predict(X, return_std=True)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"early_stopping": True},
            "alpha='evidence' chooses the penalty from all the training rows, and "
            "early_stopping would hold some out",
        ),
        ({"loss": "gamma"}, "the 'gamma' outputs' cost leaves the Gamma dispersion unknown"),
    ],
)
def test_refused_combinations_leave_the_estimator_as_it_was(params, message):
    X, y = regression_data(n=40)
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, np.abs(y) + 0.1)
    before = dict(vars(regressor))
    regressor.set_params(**params)
    with pytest.raises(ValueError, match=re.escape(message)):
        regressor.fit(X, np.abs(y) + 0.1)
    after = {key: value for key, value in vars(regressor).items() if key not in params}
    assert after.keys() == {key for key in before if key not in params}
    np.testing.assert_array_equal(regressor.alpha_, before["alpha_"])
    assert regressor.log_evidence_ == before["log_evidence_"]


def test_return_std_errors():
    X, y = regression_data(n=40)
    plain = BackpropRegressor(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=re.escape("return_std=True needs a model fitted with")):
        plain.predict(X, return_std=True)
    poisson = BackpropRegressor(
        hidden_layer_sizes=(3,), loss="poisson", alpha="evidence", random_state=0
    ).fit(X, np.round(np.abs(y) * 3))
    assert poisson.noise_variance_ is None and poisson.alpha_.shape == (2,)
    with pytest.raises(ValueError, match="loss='poisson'"):
        poisson.predict(X, return_std=True)


def test_alpha_must_be_a_number_or_evidence():
    with pytest.raises(InvalidParameterError, match=re.escape("or a str among {'evidence'}")):
        BackpropRegressor(alpha="evidance").fit(*regression_data(n=10))


def test_skops_round_trip_keeps_the_evidence(tmp_path):
    X, y = regression_data(n=40)
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    regressor.fit(X, y)
    save_model(regressor, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    for name in ("alpha_", "effective_n_parameters_", "log_evidence_", "noise_variance_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(regressor, name))
    np.testing.assert_array_equal(
        loaded.predict(X, return_std=True)[1], regressor.predict(X, return_std=True)[1]
    )


def test_coverage_of_the_predictive_intervals_on_friedman1():
    """A coarse check of calibration (the benchmark measures it on more rows)."""
    X, y = make_friedman1(n_samples=500, noise=1.0, random_state=0)
    regressor = BackpropRegressor(hidden_layer_sizes=(8,), alpha="evidence", random_state=0)
    regressor.fit(X[:300], y[:300])
    mean, std = regressor.predict(X[300:], return_std=True)
    covered = np.mean(np.abs(y[300:] - mean) <= 1.96 * std)
    assert 0.85 <= covered <= 0.99


def test_every_placement_gives_the_evidence_of_the_rows_in_memory():
    """The evidence asks the data term for sums and G·v only: on an array-API device and on
    a dask cluster it finds what it finds in memory."""
    X, y = regression_data(n=40)

    def make():
        return BackpropRegressor(hidden_layer_sizes=(2,), alpha="evidence", random_state=0)

    memory = make().fit(X, y)
    if array_api_unavailable() is None:
        xp = pytest.importorskip("array_api_strict")
        with config_context(array_api_dispatch=True):
            device = make().fit(xp.asarray(X), xp.asarray(y))
            with pytest.raises(ValueError, match="return_std=True needs X in memory"):
                device.predict(xp.asarray(X), return_std=True)
        np.testing.assert_allclose(np.asarray(device.alpha_), memory.alpha_, rtol=1e-6)
        assert device.log_evidence_ == pytest.approx(memory.log_evidence_, rel=1e-6)
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster):  # fmt: skip
        on_cluster = make().fit(da.from_array(X, chunks=(17, -1)), da.from_array(y, chunks=17))
    np.testing.assert_allclose(on_cluster.alpha_, memory.alpha_, rtol=1e-6)
    assert on_cluster.noise_variance_ == pytest.approx(memory.noise_variance_, rel=1e-6)
    np.testing.assert_allclose(
        on_cluster.predict(X[:5], return_std=True)[1],
        memory.predict(X[:5], return_std=True)[1],
        rtol=1e-5,
    )


def gauss_newton_columns(data, theta):
    """G of a data term, one G·e_j product (a forward, an R- and a backward pass) a column."""
    columns = []
    for j in range(theta.size):
        e, out = np.zeros(theta.size), np.empty(theta.size)
        e[j] = 1.0
        data.gauss_newton_vector_product_sum(theta, e, out)
        columns.append(out)
    return np.column_stack(columns)


def every_loss(X, y):
    """(estimator, targets) for every loss's outputs: two identity outputs (two hidden layers
    of tanh units), Poisson (relu units), Gamma, logistic and softmax units."""
    labels = np.digitize(y, [-0.5, 0.5])  # three classes
    return [
        (
            BackpropRegressor(hidden_layer_sizes=(3, 2), activation="tanh", alpha=1.0),
            np.column_stack([y, y**2]),
        ),
        (
            BackpropRegressor(hidden_layer_sizes=(3,), activation="relu", loss="poisson"),
            labels,
        ),
        (BackpropRegressor(hidden_layer_sizes=(3,), alpha=1.0, loss="gamma"), np.exp(y)),
        (BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0), labels),
        (BackpropClassifier(hidden_layer_sizes=(3,), alpha=1.0, out_activation="softmax"), labels),
    ]


@pytest.mark.parametrize("weighted", [False, True])
def test_the_dense_gauss_newton_matrix_equals_its_products(weighted):
    """The data term's G from the batched output Jacobian, Jᵀ (w C) J block by block, equals
    its G·e_j products for every loss's outputs, with and without sample weights, in blocks
    of any size; where not one row's Jacobian fits in ``max_bytes`` it leaves them to the
    caller."""
    X, y = regression_data(n=30)
    weights = np.random.RandomState(1).uniform(0, 3, size=30) if weighted else None
    for estimator, target in every_loss(X, y):
        data = fit_objective(estimator, X, target, sample_weight=weights).data
        theta = data.network.initial_theta(np.random.RandomState(0))
        products = gauss_newton_columns(data, theta)
        np.testing.assert_allclose(
            data.gauss_newton_matrix_sum(theta, 2**30), products, rtol=1e-10, atol=1e-12
        )
        # Blocks of 7 rows (4 blocks, the last of 2): the same sum.
        n_outputs = data.Y.shape[1]
        seven_rows = 7 * (2 * 8 * n_outputs + 8) * theta.size
        np.testing.assert_allclose(
            data.gauss_newton_matrix_sum(theta, seven_rows), products, rtol=1e-10, atol=1e-12
        )
        assert data.gauss_newton_matrix_sum(theta, 100) is None


def test_the_dense_gauss_newton_matrix_of_sparse_float32_and_array_api_rows():
    """The batched Jacobian's G of sparse rows equals that of the same rows dense; in float32
    (the passes in float32, the products in float64) and on an array-API namespace it equals
    the float64 G·e_j products to their precision."""
    X, y = regression_data(n=30)
    X[X < 0] = 0.0  # a sparse matrix worth the name
    for estimator, target in every_loss(X, y):
        dense = fit_objective(estimator, X, target).data
        theta = dense.network.initial_theta(np.random.RandomState(0))
        products = gauss_newton_columns(dense, theta)
        on_sparse = fit_objective(estimator, sparse.csr_matrix(X), target).data
        np.testing.assert_allclose(
            on_sparse.gauss_newton_matrix_sum(theta, 2**30), products, rtol=1e-10, atol=1e-12
        )
        single = DataTerm(
            dense.network, dense.loss, X.astype(np.float32), dense.Y.astype(np.float32),
            dense.sample_weight.astype(np.float32), 64,
        )  # fmt: skip
        G = single.gauss_newton_matrix_sum(theta, 2**30)
        assert G.dtype == np.float64
        scale = np.max(np.abs(products))
        np.testing.assert_allclose(G, products, rtol=1e-4, atol=1e-5 * scale)
        if array_api_unavailable() is None:
            xp = pytest.importorskip("array_api_strict")
            with config_context(array_api_dispatch=True):
                device = DataTerm(
                    dense.network, dense.loss, xp.asarray(X), dense.Y, dense.sample_weight, 64
                )
                np.testing.assert_allclose(
                    device.gauss_newton_matrix_sum(theta, 2**30), products, rtol=1e-10,
                    atol=1e-12,
                )  # fmt: skip


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("alphas", [[0.5], [50.0]])
def test_interpolated_rows_keep_beta_and_the_log_evidence_finite(alphas):
    # E_D = 0 (rows the network interpolates): β = (N − γ) / (2 E_D) overflowed to inf, and
    # the log evidence and the updates with it; the noise variance is floored at √tiny.
    X, y = regression_data(n=60)
    objective = fit_objective(BackpropRegressor(hidden_layer_sizes=(3,), alpha=1.0), X, y)
    data, network = objective.data, objective.network
    data.loss_sum = lambda theta: 0.0
    theta = network.initial_theta(np.random.RandomState(0))
    groups = weight_groups(network, per_layer=False)
    evidence = evidence_at(data, theta, alphas, groups, 1, True)
    assert evidence.beta == pytest.approx(1.0 / np.sqrt(np.finfo(np.float64).tiny))
    assert np.isfinite(evidence.log_evidence)
    assert np.all(np.isfinite(evidence.updates)) and np.all(evidence.updates > 0)


def test_more_determined_parameters_than_targets_warns_about_the_noise():
    # 5 rows and 20 hidden units: every bias counts as determined, so γ > N and β rests on the
    # guard max(N − γ, 1), not on the data; the fit says so.
    rng = np.random.RandomState(0)
    X, y = rng.randn(5, 3), rng.randn(5)
    model = BackpropRegressor(hidden_layer_sizes=(20,), alpha="evidence", random_state=0)
    with pytest.warns(UserWarning, match=r"determined by 5 targets.*too few targets") as record:
        model.fit(X, y)
    assert record[0].filename == __file__
    assert model.effective_n_parameters_ > 5 - 1


def test_enough_targets_fit_without_the_noise_warning():
    X, y = regression_data(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
        model.fit(X, y)
    assert model.effective_n_parameters_ < 60 - 1
