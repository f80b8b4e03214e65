"""Properties that hold for every small network and data set, drawn by hypothesis.

Shapes, activations, output layers, ``alpha``, sample weights and the scale of X (up to 1e6)
are drawn at random; the examples are derandomized so that every run checks the same ones.
The references here (a forward pass, a numerically stable J) are written independently of
``sklearn_bp``.
"""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp

from sklearn_bp import BackpropClassifier, gradient_check
from sklearn_bp._gradient_check import check_objective

from .support import fit_objective, numpy_must_not_warn

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)

MODERATE_SCALES = [1e-3, 0.1, 1.0, 3.0, 10.0]
LARGE_SCALES = [1e2, 1e3, 1e4, 1e5, 1e6]

G = {
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: z,
}


@st.composite
def problems(draw, scales, weights="real"):
    """A classification problem and the hyperparameters of a small network for it.

    ``weights`` is ``"real"`` (none, or positive reals with some zeros) or ``"integer"``
    (counts from 0 to 3, at least one row of each class counted).
    """
    n_samples = draw(st.integers(2, 30), label="n_samples")
    n_features = draw(st.integers(1, 5), label="n_features")
    kind = draw(
        st.sampled_from(["binary", "multilabel"] + (["multiclass"] if n_samples >= 3 else [])),
        label="kind",
    )
    unit = draw(
        hnp.arrays(np.float64, (n_samples, n_features), elements=st.floats(-1, 1)), label="unit"
    )
    scale = draw(st.sampled_from(scales), label="scale")
    if kind == "multilabel":
        n_labels = draw(st.integers(2, 3))
        y = draw(hnp.arrays(np.int64, (n_samples, n_labels), elements=st.integers(0, 1)))
        n_classes = n_labels
    else:
        n_classes = 2 if kind == "binary" else draw(st.integers(3, min(4, n_samples)))
        y = draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, n_classes - 1)))
        y[:n_classes] = np.arange(n_classes)  # every class present
    if weights == "integer":
        sample_weight = draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, 3)))
        sample_weight[:n_classes] = np.maximum(sample_weight[:n_classes], 1)
    else:
        sample_weight = draw(
            st.none() | hnp.arrays(np.float64, n_samples, elements=st.floats(0, 3)),
            label="sample_weight",
        )
        if sample_weight is not None:
            sample_weight[0] = max(sample_weight[0], 0.5)  # a positive sum
    params = {
        "hidden_layer_sizes": draw(st.lists(st.integers(1, 5), max_size=2).map(tuple)),
        "activation": draw(st.sampled_from(sorted(G))),
        "out_activation": draw(st.sampled_from(["logistic", "softmax"])),
        "alpha": draw(st.just(0.0) | st.floats(1e-4, 10.0)),
        "random_state": draw(st.integers(0, 2**16)),
    }
    return {
        "X": unit * scale,
        "y": y,
        "sample_weight": sample_weight,
        "params": params,
        "kind": kind,
        "scale": scale,
    }


def targets(problem):
    """The 0/1 output targets Y, one column per output unit, as the course encodes them."""
    y = problem["y"]
    if problem["kind"] == "multilabel":
        return y.astype(np.float64)
    if problem["kind"] == "binary":
        return y[:, np.newaxis].astype(np.float64)
    return np.eye(y.max() + 1)[y]


def objective_and_theta(problem):
    """The objective ``fit`` minimizes, built through the placement, and a θ of its network
    drawn from the problem's seed."""
    clf = BackpropClassifier(**problem["params"])
    objective = fit_objective(clf, problem["X"], problem["y"], problem["sample_weight"])
    random_state = np.random.RandomState(problem["params"]["random_state"])
    return objective, objective.network.initial_theta(random_state)


def forward(thetas, X, activation):
    """Hidden pre-activations z(l), the inputs a(l) of every layer, and z(L)."""
    A, hidden, inputs = X, [], [X]
    for Theta in thetas[:-1]:
        Z = Theta[:, 0] + A @ Theta[:, 1:].T
        hidden.append(Z)
        A = G[activation](Z)
        inputs.append(A)
    return hidden, inputs, thetas[-1][:, 0] + A @ thetas[-1][:, 1:].T


def stable_cost(thetas, X, Y, weight, alpha, activation, out_activation):
    """J, with every logarithm of a probability taken from z directly (no overflow, no log 0)."""
    _, _, Z = forward(thetas, X, activation)
    if out_activation == "softmax":
        per_row = logsumexp(Z, axis=1) - np.sum(Y * Z, axis=1)
    else:
        # −[y log σ(z) + (1 − y) log(1 − σ(z))] = log(1 + exp((1 − 2y) z)) for y in {0, 1}
        per_row = np.logaddexp(0.0, (1 - 2 * Y) * Z).sum(axis=1)
    penalty = sum(np.sum(Theta[:, 1:] ** 2) for Theta in thetas)
    return (weight @ per_row + 0.5 * alpha * penalty) / weight.sum()


def output_probabilities(Z, out_activation):
    if out_activation == "softmax":
        return np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
    return expit(Z)


def weights_of(problem):
    weight = problem["sample_weight"]
    return np.ones(problem["X"].shape[0]) if weight is None else weight.astype(np.float64)


def relu_kinks_out_of_reach(thetas, X, epsilon):
    """Whether no ReLU unit crosses its kink when any one parameter moves by ±epsilon.

    A step of ε in Θ(l) moves z(l+1) by at most ε max(1, max |a(l)|), and every later layer
    multiplies that by at most max(1, ‖Θ(m)‖∞) (ReLU is 1-Lipschitz). Within that reach J is
    smooth along each coordinate, and central differences are accurate.
    """
    hidden, inputs, _ = forward(thetas, X, "relu")
    if not hidden:
        return True
    largest_input = max(1.0, max(float(np.abs(A).max(initial=0.0)) for A in inputs))
    gain = np.prod([max(1.0, np.abs(Theta[:, 1:]).sum(axis=1).max()) for Theta in thetas])
    reach = epsilon * largest_input * gain
    return min(float(np.abs(Z).min()) for Z in hidden) > 2 * reach


@PROPERTY
@given(problems(MODERATE_SCALES))
def test_gradient_check_holds_at_moderate_scales(problem):
    epsilon = 1e-5
    params = problem["params"]
    objective, theta = objective_and_theta(problem)
    thetas = objective.network.thetas(theta)
    if params["activation"] == "relu":
        assume(relu_kinks_out_of_reach(thetas, problem["X"], epsilon))
    difference = check_objective(objective, theta, epsilon)
    _, gradient = objective.loss_gradient(theta)
    # Where every output saturates on the right side, ∇J is ~1e-17 and the relative difference
    # of two such numbers says nothing.
    assert difference < 1e-6 or np.linalg.norm(gradient) < 1e-10


@PROPERTY
@given(problems([1.0, *LARGE_SCALES]))
def test_cost_is_finite_and_exact_up_to_large_scales(problem):
    params = problem["params"]
    objective, theta = objective_and_theta(problem)
    thetas = [Theta.copy() for Theta in objective.network.thetas(theta)]
    with numpy_must_not_warn():
        loss, gradient = objective.loss_gradient(theta)
        difference = gradient_check(
            BackpropClassifier(**params),
            problem["X"],
            problem["y"],
            sample_weight=problem["sample_weight"],
        )
    assert np.isfinite(loss) and loss >= 0
    assert np.isfinite(gradient).all()
    assert np.isfinite(difference)

    Y, weight = targets(problem), weights_of(problem)
    out = objective.data.loss.name
    expected = stable_cost(
        thetas, problem["X"], Y, weight, params["alpha"], params["activation"], out
    )
    assert_allclose(loss, expected, rtol=1e-6, atol=1e-12)
    # The gradient of the output biases is (1/W) Σ_i w_i (h_i − y_i) for either output layer,
    # at every scale: saturated units give exactly 0 or 1, not NaN.
    _, _, Z = forward(thetas, problem["X"], params["activation"])
    H = output_probabilities(Z, out)
    bias_gradient = objective.network.thetas(gradient)[-1][:, 0]
    assert_allclose(bias_gradient, weight @ (H - Y) / weight.sum(), rtol=1e-6, atol=1e-7)


@PROPERTY
@given(problems(MODERATE_SCALES + LARGE_SCALES))
def test_float32_stays_float32_and_finite(problem):
    X = problem["X"].astype(np.float32)
    clf = BackpropClassifier(**{**problem["params"], "max_iter": 15})
    with numpy_must_not_warn():
        clf.fit(X, problem["y"], sample_weight=problem["sample_weight"])
        proba = clf.predict_proba(X)
        log_proba = clf.predict_log_proba(X)
    for array in clf.coefs_ + clf.intercepts_:
        assert array.dtype == np.float64 and np.isfinite(array).all()
    assert np.isfinite(clf.loss_)
    assert proba.dtype == np.float32 and log_proba.dtype == np.float32
    assert np.isfinite(proba).all() and not np.isnan(log_proba).any()
    assert ((proba >= 0) & (proba <= 1)).all() and (log_proba <= 0).all()
    if problem["kind"] != "multilabel":
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@PROPERTY
@given(problems(MODERATE_SCALES + LARGE_SCALES, weights="integer"))
def test_integer_sample_weights_equal_repeated_rows(problem):
    weight = problem["sample_weight"]
    repeated = {
        **problem,
        "X": np.repeat(problem["X"], weight, axis=0),
        "y": np.repeat(problem["y"], weight, axis=0),
        "sample_weight": None,
    }
    weighted_objective, theta = objective_and_theta(problem)
    repeated_objective, _ = objective_and_theta(repeated)
    # The same network: the same θ serves both.
    assert weighted_objective.network.layer_sizes == repeated_objective.network.layer_sizes
    other_theta = np.random.RandomState(0).uniform(-1, 1, size=theta.size)
    for point in [theta, other_theta]:
        loss, gradient = weighted_objective.loss_gradient(point)
        gradient = gradient.copy()
        repeated_loss, repeated_gradient = repeated_objective.loss_gradient(point)
        assert_allclose(loss, repeated_loss, rtol=1e-10)
        assert_allclose(
            gradient, repeated_gradient, rtol=1e-9, atol=1e-9 * np.abs(repeated_gradient).max()
        )


@PROPERTY
@given(
    problems(MODERATE_SCALES + LARGE_SCALES),
    st.sampled_from(MODERATE_SCALES + LARGE_SCALES),
    st.sampled_from([np.float64, np.float32]),
)
def test_predict_proba_rows_are_probabilities(problem, new_scale, dtype):
    clf = BackpropClassifier(**{**problem["params"], "max_iter": 15})
    X = problem["X"].astype(dtype)
    new_X = (problem["X"] / problem["scale"] * new_scale)[::-1].astype(dtype)
    with numpy_must_not_warn():
        clf.fit(X, problem["y"], sample_weight=problem["sample_weight"])
        for rows in [X, new_X]:
            proba = clf.predict_proba(rows)
            log_proba = clf.predict_log_proba(rows)
            prediction = clf.predict(rows)
            assert proba.shape == (rows.shape[0], clf.classes_.size)
            assert proba.dtype == dtype
            assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
            assert not np.isnan(log_proba).any() and (log_proba <= 0).all()
            assert_allclose(np.exp(log_proba), proba, rtol=1e-4, atol=1e-30)
            if problem["kind"] == "multilabel":
                assert_array_equal(prediction, proba > 0.5)
            else:
                assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12 if dtype == np.float64 else 1e-5)
                assert_array_equal(prediction, clf.classes_[proba.argmax(axis=1)])
