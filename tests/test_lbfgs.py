"""Our L-BFGS (``method="L-BFGS"``): against scipy's minimum, torch.optim.LBFGS's steps, and
through the estimators."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize, rosen, rosen_der
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier
from sklearn_bp._lbfgs import _cubic_minimum, minimize_lbfgs
from sklearn_bp._optimize import check_method, plan_method

X_LOGISTIC = np.random.RandomState(0).normal(size=(200, 30))
Y_LOGISTIC = (
    X_LOGISTIC @ np.random.RandomState(1).normal(size=30)
    + np.random.RandomState(2).normal(size=200)
    > 0
).astype(float)
LAMBDA = 0.1


def logistic(w):
    """Penalized logistic regression: convex, with one minimum."""
    z = X_LOGISTIC @ w
    f = np.sum(np.logaddexp(0, z) - Y_LOGISTIC * z) / 200 + 0.5 * LAMBDA * w @ w
    g = X_LOGISTIC.T @ (1 / (1 + np.exp(-z)) - Y_LOGISTIC) / 200 + LAMBDA * w
    return f, g


def test_reaches_scipys_minimum_on_a_convex_problem():
    w0 = np.zeros(30)
    reference = minimize(logistic, w0, jac=True, method="L-BFGS-B", tol=1e-15)
    result = minimize_lbfgs(logistic, w0, tol=0, gtol=1e-8, maxiter=1000)
    assert result.success and result.status == 0
    assert result.message == "Converged: the largest entry of the gradient is at most gtol"
    assert np.max(np.abs(result.jac)) <= 1e-8
    # The Hessian's smallest eigenvalue is at least LAMBDA: ‖x − x*‖ ≤ ‖g‖ / LAMBDA.
    assert_allclose(result.x, reference.x, atol=1e-6)
    assert result.fun == pytest.approx(reference.fun, rel=1e-13)
    assert result.nfev >= result.nit + 1


def test_reaches_the_minimum_of_rosenbrock():
    result = minimize_lbfgs(lambda x: (rosen(x), rosen_der(x)), np.full(6, -1.0), tol=1e-14)
    assert result.success
    assert_allclose(result.x, 1.0, atol=1e-5)


def test_takes_the_steps_of_torch_optim_lbfgs():
    # The same algorithm as torch.optim.LBFGS with its strong-Wolfe line search: the same
    # iterates, computed independently, to rounding. (From iteration 11 on here, torch's
    # absolute test sᵀy > 1e-10 drops a curvature pair that our relative one keeps.)
    torch = pytest.importorskip("torch")
    iterates = []
    minimize_lbfgs(logistic, np.zeros(30), tol=0, maxiter=10, callback=iterates.append)
    X, y = torch.from_numpy(X_LOGISTIC), torch.from_numpy(Y_LOGISTIC)
    for n_iter, iterate in enumerate(iterates, start=1):
        w = torch.zeros(30, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [w], lr=1, max_iter=n_iter, max_eval=1000, history_size=10, tolerance_grad=0,
            tolerance_change=0, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure(optimizer=optimizer, w=w):
            optimizer.zero_grad()
            z = X @ w
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum")
            loss = loss / 200 + 0.5 * LAMBDA * (w * w).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        assert_allclose(w.detach().numpy(), iterate, rtol=0, atol=1e-13)


def test_every_iteration_lowers_f_and_satisfies_armijo():
    evaluated = {}

    def recording(x):
        f, g = logistic(x)
        evaluated[x.tobytes()] = (f, g)
        return f, g

    iterates = [np.zeros(30)]
    minimize_lbfgs(recording, iterates[0], tol=0, maxiter=12, callback=iterates.append)
    assert len(iterates) == 13
    for before, after in itertools.pairwise(iterates):
        f0, g0 = evaluated[before.tobytes()]
        f1, g1 = evaluated[after.tobytes()]
        step = after - before
        assert f1 <= f0 + 1e-4 * g0 @ step  # sufficient decrease
        assert abs(g1 @ step) <= 0.9 * abs(g0 @ step) + 1e-15  # strong Wolfe curvature


def test_stops_at_maxiter_and_maxfun():
    result = minimize_lbfgs(logistic, np.zeros(30), tol=0, maxiter=4)
    assert (result.nit, result.status, result.success) == (4, 1, False)
    assert result.message == "The number of iterations reached maxiter"
    result = minimize_lbfgs(logistic, np.zeros(30), tol=0, maxfun=6)
    assert result.status == 1 and result.nfev == 6
    assert result.message == "The number of evaluations of J reached maxfun"


def test_stops_at_once_where_the_gradient_is_zero():
    calls = []

    def flat(x):
        calls.append(x)
        return 1.0, np.zeros_like(x)

    result = minimize_lbfgs(flat, np.ones(3), tol=0)
    assert (result.nit, result.nfev, result.status) == (0, 1, 0)
    assert len(calls) == 1


def test_ftol_is_l_bfgs_bs_relative_reduction():
    iterates = []
    result = minimize_lbfgs(
        logistic, np.zeros(30), ftol=1e-6, gtol=0, callback=iterates.append, maxiter=1000
    )
    assert result.message == "Converged: the relative reduction of J is at most ftol"
    f = [logistic(x)[0] for x in iterates]
    assert (f[-2] - f[-1]) <= 1e-6 * max(abs(f[-2]), abs(f[-1]), 1)
    assert all((a - b) > 1e-6 * max(abs(a), abs(b), 1) for a, b in itertools.pairwise(f[:-1]))


def test_cubic_minimum_is_the_cubics_minimizer():
    # p(t) = (t − 1)³ − 3 (t − 1) + 2 has its local minimum at t = 2.
    def p(t):
        return (t - 1) ** 3 - 3 * (t - 1) + 2, 3 * (t - 1) ** 2 - 3

    (f1, g1), (f2, g2) = p(0.5), p(3.0)
    assert _cubic_minimum(0.5, f1, g1, 3.0, f2, g2) == pytest.approx(2.0, abs=1e-12)
    assert _cubic_minimum(3.0, f2, g2, 0.5, f1, g1) == pytest.approx(2.0, abs=1e-12)
    assert _cubic_minimum(0.5, f1, g1, 3.0, f2, g2, bounds=(2.5, 4.0)) == 2.5


def test_a_line_search_that_finds_nothing_lower_ends_the_fit():
    # J rises along every direction the method tries (its gradient lies): no step is taken.
    def liar(x):
        return float(x @ x) + 1.0, -np.ones_like(x)

    result = minimize_lbfgs(liar, np.zeros(2), tol=0, maxiter=10)
    assert (result.status, result.success, result.nit) == (2, False, 0)
    assert result.message == "The line search found no lower J along the direction"
    assert_allclose(result.x, 0.0)


def test_options_are_checked():
    check_method(plan_method("L-BFGS", 5, {"maxcor": 3, "maxls": 10, "ftol": 0}), 2)
    with pytest.raises(
        ValueError,
        match=r"Method 'L-BFGS' does not take the option\(s\) \['iprint'\]; it takes "
        r"\['ftol', 'gtol', 'maxcor', 'maxfun', 'maxiter', 'maxls'\]",
    ):
        check_method(plan_method("L-BFGS", 5, {"iprint": 1}), 2)
    with pytest.raises(ValueError, match=r"options\['maxfun'\] must be an integer from 1"):
        check_method(plan_method("L-BFGS", 5, {"maxfun": 0}), 2)
    for name, value in [("maxcor", 0), ("maxls", 2.5), ("maxcor", True)]:
        with pytest.raises(
            ValueError, match=rf"options\['{name}'\] must be a positive integer, got {value!r}"
        ):
            check_method(plan_method("L-BFGS", 5, {name: value}), 2)
    for name, value in [("ftol", -1.0), ("gtol", np.nan), ("ftol", "0")]:
        with pytest.raises(
            ValueError,
            match=rf"options\['{name}'\] must be a finite number at least 0, got {value!r}",
        ):
            check_method(plan_method("L-BFGS", 5, {name: value}), 2)


def test_bad_options_leave_the_estimator_unfitted():
    clf = BackpropClassifier((3,), method="L-BFGS", options={"maxcor": 0})
    with pytest.raises(ValueError, match=r"options\['maxcor'\] must be a positive integer"):
        clf.fit(IRIS_X, IRIS_Y)
    assert not hasattr(clf, "coefs_")


# Through the estimators ---------------------------------------------------------------------

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def test_the_estimators_fit_with_it_and_record_every_iteration():
    seen = []
    clf = BackpropClassifier(
        (5,), method="L-BFGS", tol=0, max_iter=12, random_state=0,
        callback=lambda i, loss, norm, coefs, intercepts: seen.append((i, loss)),
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="L-BFGS did not converge after 12 iteration"):
        clf.fit(IRIS_X, IRIS_Y)
    assert clf.n_iter_ == 12 == len(clf.loss_curve_)
    assert [i for i, _ in seen] == list(range(1, 13))
    assert [loss for _, loss in seen] == clf.loss_curve_
    assert np.all(np.diff(clf.loss_curve_) < 0)
    assert clf.n_fun_evals_ >= 13
    # J at the returned parameters, computed independently of the fit.
    A = 1 / (1 + np.exp(-(IRIS_X @ clf.coefs_[0] + clf.intercepts_[0])))
    Z = A @ clf.coefs_[1] + clf.intercepts_[1]
    Y = np.eye(3)[IRIS_Y]
    data = np.sum(np.logaddexp(0, Z) - Y * Z) / 150
    penalty = 1e-4 / (2 * 150) * sum(np.sum(W**2) for W in clf.coefs_)
    assert clf.loss_ == pytest.approx(data + penalty, rel=1e-12)


def test_converges_to_the_minimum_l_bfgs_b_finds():
    # alpha = 1 gives a well-conditioned minimum that both methods reach.
    X = StandardScaler().fit_transform(IRIS_X)
    params = dict(hidden_layer_sizes=(4,), alpha=1.0, tol=1e-12, max_iter=5000, random_state=0)
    ours = BackpropClassifier(method="L-BFGS", **params).fit(X, IRIS_Y)
    scipys = BackpropClassifier(method="L-BFGS-B", **params).fit(X, IRIS_Y)
    assert ours.loss_ == pytest.approx(scipys.loss_, rel=1e-10)
    assert ours.optimize_result_["success"]
    assert ours.optimize_result_["gradient_norm"] < 1e-6
    for W, W_scipy in zip(ours.coefs_, scipys.coefs_):
        assert_allclose(W, W_scipy, atol=1e-5)


def test_warm_start_and_early_stopping():
    params = dict(method="L-BFGS", max_iter=5, tol=0, random_state=0)
    clf = BackpropClassifier((5,), **params)
    with pytest.warns(ConvergenceWarning):
        clf.fit(IRIS_X, IRIS_Y)
    first = list(clf.loss_curve_)
    clf.set_params(warm_start=True)
    with pytest.warns(ConvergenceWarning):
        clf.fit(IRIS_X, IRIS_Y)
    assert clf.loss_curve_[:5] == first and len(clf.loss_curve_) == 10
    assert clf.loss_ < first[-1]
    stopped = BackpropClassifier(
        (5,), method="L-BFGS", early_stopping=True, n_iter_no_change=2, tol=0.5, max_iter=200,
        random_state=0, options={"ftol": 0, "gtol": 0},
    ).fit(IRIS_X, IRIS_Y)  # fmt: skip
    assert stopped.optimize_result_["stopped_by"] == "early_stopping"
    assert len(stopped.validation_scores_) == stopped.n_iter_ >= 2


def test_a_float32_history_reaches_the_same_minimum():
    # Gradients computed in float32 keep their curvature pairs in float32: the iterate, J and
    # the line search stay float64, and the minimum is the same to float32's precision.
    reference = minimize(logistic, np.zeros(30), jac=True, method="L-BFGS-B", tol=1e-15)
    result = minimize_lbfgs(logistic, np.zeros(30), tol=0, gtol=1e-7, dtype=np.float32)
    assert result.success and result.x.dtype == np.float64
    assert np.max(np.abs(result.jac)) <= 1e-7
    assert_allclose(result.x, reference.x, atol=1e-5)
    assert result.fun == pytest.approx(reference.fun, rel=1e-12)


def test_a_short_line_search_still_lowers_f():
    # One evaluation per line search: the step is taken when it lowers f, as the lowest end
    # of the bracket.
    evaluations = []

    def counting(x):
        evaluations.append(None)
        return logistic(x)

    iterates = []
    result = minimize_lbfgs(
        counting, np.zeros(30), tol=0, maxiter=8, maxls=1, callback=iterates.append
    )
    assert result.nit == 8 and result.nfev == 9 == len(evaluations)
    f = [logistic(x)[0] for x in iterates]
    assert np.all(np.diff(f) < 0)


def test_options_reach_the_method():
    # The history's length changes the steps from the fourth iteration on.
    default = minimize_lbfgs(logistic, np.zeros(30), tol=0, maxiter=8)
    short = minimize_lbfgs(logistic, np.zeros(30), tol=0, maxiter=8, maxcor=2)
    clf = BackpropClassifier((3,), method="L-BFGS", tol=0, max_iter=8, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(IRIS_X, IRIS_Y)
    clf_short = BackpropClassifier(
        (3,), method="L-BFGS", tol=0, max_iter=8, random_state=0, options={"maxcor": 2}
    )
    with pytest.warns(ConvergenceWarning):
        clf_short.fit(IRIS_X, IRIS_Y)
    assert not np.array_equal(default.x, short.x)
    assert clf.loss_curve_[:3] == clf_short.loss_curve_[:3]
    assert clf.loss_curve_[-1] != clf_short.loss_curve_[-1]
