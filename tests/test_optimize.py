"""The scipy.optimize driver: method options, results, BLAS threads."""

import math
import os
import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from sklearn.exceptions import ConvergenceWarning, EfficiencyWarning
from threadpoolctl import ThreadpoolController, threadpool_limits

from sklearn_bp import BackpropClassifier
from sklearn_bp._optimize import (
    METHODS,
    Coordinates,
    Monitor,
    Stop,
    _is_scipy_bundled,
    check_method,
    check_result,
    method_options,
    minimize_objective,
    plan_method,
    scipy_blas_single_threaded,
)

from .support import fit_objective


def run(loss_gradient, theta0, **kwargs):
    """minimize_objective with a plain monitor of loss_gradient (curvature: the identity).

    Returns the summary with the parameters under ``"x"``.
    """
    monitor = Monitor(loss_gradient, lambda theta, v: v.copy())
    plan = plan_method(kwargs.pop("method"), kwargs.pop("max_iter"), kwargs.pop("options"))
    x, summary = minimize_objective(monitor, theta0, plan=plan, **kwargs)
    return {**summary, "x": x}


def quadratic(theta):
    """J(θ) = ½ ‖θ − 1‖², minimized at θ = 1."""
    return 0.5 * float(np.sum((theta - 1.0) ** 2)), theta - 1.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_minimizes_a_quadratic(method):
    result = run(quadratic, np.zeros(5), method=method, max_iter=100, tol=1e-10, options=None)
    np.testing.assert_allclose(result["x"], 1.0, atol=1e-5)
    assert result["nit"] >= 1


def test_options_override_the_max_iter_mapping():
    assert method_options("L-BFGS-B", 50, None) == {"maxiter": 50}
    assert method_options("TNC", 50, None) == {"maxfun": 50}
    assert method_options("L-BFGS-B", 50, {"maxiter": 3, "maxcor": 5}) == {
        "maxiter": 3,
        "maxcor": 5,
    }


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match=r"'CG' does not take the option\(s\) \['maxcor'\]"):
        check_method(plan_method("CG", 5, {"maxcor": 3}), n_params=2)


def test_check_result_warns_only_when_the_method_failed():
    def rosenbrock(theta):
        x, y = theta
        loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2
        return loss, np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

    result = run(rosenbrock, np.zeros(2), method="L-BFGS-B", max_iter=3, tol=0, options=None)
    with pytest.warns(ConvergenceWarning, match="L-BFGS-B did not converge after 3 iteration"):
        assert check_result(result, plan_method("L-BFGS-B", 3, None)) == 3
    result = run(quadratic, np.zeros(2), method="L-BFGS-B", max_iter=50, tol=1e-8, options=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_result(result, plan_method("L-BFGS-B", 50, None))


def test_only_scipys_blas_is_limited_during_minimize():
    before = blas_threads()
    seen = []

    def spy(theta):
        seen.append(blas_threads())
        return quadratic(theta)

    run(spy, np.zeros(3), method="L-BFGS-B", max_iter=2, tol=0, options=None)
    for path, threads in seen[0].items():
        assert threads == (1 if _is_scipy_bundled(path) else before[path])
    assert blas_threads() == before


def test_user_thread_limits_are_respected():
    with threadpool_limits(limits=1, user_api="blas"), scipy_blas_single_threaded:
        assert all(
            info["num_threads"] == 1
            for info in ThreadpoolController().info()
            if info["user_api"] == "blas"
        )


def test_scipy_bundled_paths():
    assert _is_scipy_bundled("/env/site-packages/scipy.libs/libscipy_openblas-1.so")
    assert _is_scipy_bundled("/env/site-packages/scipy/.dylibs/libscipy_openblas.dylib")
    assert not _is_scipy_bundled("/env/site-packages/numpy.libs/libscipy_openblas64_-2.so")
    assert not _is_scipy_bundled("/usr/lib/x86_64-linux-gnu/libopenblas.so.0")
    assert not _is_scipy_bundled("/home/me/scipy/venv/numpy/.dylibs/libscipy_openblas.dylib")


def blas_threads():
    return {
        info["filepath"]: info["num_threads"]
        for info in ThreadpoolController().info()
        if info["user_api"] == "blas"
    }


def test_overlapping_fits_restore_the_limits_once_the_last_one_ends():
    before = blas_threads()
    scipy_blas_single_threaded.__enter__()
    inside = blas_threads()
    scipy_blas_single_threaded.__enter__()  # a second fit in another thread
    scipy_blas_single_threaded.__exit__(None, None, None)  # the first one ends
    assert blas_threads() == inside  # the second fit still runs with the limit
    scipy_blas_single_threaded.__exit__(None, None, None)
    assert blas_threads() == before


def test_check_result_reads_the_limit_the_method_was_given():
    result = run(quadratic, np.zeros(2), method="CG", max_iter=10, tol=0, options={"maxiter": 1})
    with pytest.warns(ConvergenceWarning, match=r"after 1 iteration.*Increase max_iter \(now 1\)"):
        assert check_result(result, plan_method("CG", 10, {"maxiter": 1})) == 1


# The estimator's optimization features, on a digits problem.

SECOND_ORDER = ["Newton-CG", "trust-ncg", "trust-krylov", "trust-constr"]


@pytest.fixture(scope="module")
def digits500():
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:500]), y[:500]


def fit_quietly(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*is not reproducible", category=UserWarning)
        return estimator.fit(X, y, **kwargs)


def gradient_descent(fun, x0, args=(), jac=None, callback=None, maxiter=100, **unused):
    """A custom minimizer as scipy.optimize.minimize accepts it: fixed-step gradient descent.

    minimize splits our jac=True objective into ``fun`` (J) and ``jac`` (∇J) for it.
    """
    x = x0.copy()
    for _ in range(maxiter):
        x -= 0.5 * jac(x)
        callback(x)
    return OptimizeResult(x=x, fun=fun(x), success=True, status=0, message="done", nit=maxiter)


METHOD_CASES = [(method, "exact") for method in sorted(METHODS)] + [
    (method, "gauss-newton") for method in SECOND_ORDER
]


@pytest.mark.parametrize("method, hessian", METHOD_CASES)
def test_every_method_fits_digits(digits500, method, hessian):
    X, y = digits500
    clf = BackpropClassifier(
        hidden_layer_sizes=(10,),
        method=method,
        hessian=hessian,
        max_iter=40 if method == "BFGS" else 200,  # BFGS's dense n-by-n update is slow
        random_state=0,
    )
    with warnings.catch_warnings():
        # 760 parameters: BFGS and SLSQP are warned about, and tested for it elsewhere.
        warnings.simplefilter("ignore", EfficiencyWarning)
        fit_quietly(clf, X, y)
    assert clf.score(X, y) >= 0.95
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.loss_curve_[-1] == pytest.approx(clf.loss_, rel=1e-12)
    assert clf.n_grad_evals_ == clf.n_fun_evals_ >= clf.n_iter_
    assert (clf.n_hessp_evals_ > 0) == METHODS[method].hessp


def test_custom_minimizer(digits500):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(10,), method=gradient_descent, max_iter=150)
    clf.set_params(random_state=0).fit(X, y)
    assert clf.n_iter_ == 150 and clf.score(X, y) >= 0.95
    assert clf.loss_curve_[-1] >= clf.loss_  # the final evaluation is after the last step


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG", "BFGS", "Newton-CG", *SECOND_ORDER[1:]])
def test_loss_curve_does_not_increase(digits500, method):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(5,), method=method, max_iter=30, random_state=0)
    fit_quietly(clf, X, y)
    assert np.all(np.diff(clf.loss_curve_) <= 1e-12)


def test_second_order_methods_reach_the_same_minimum(digits500):
    # Strong regularization makes the minimum unique and well conditioned (at alpha=50 the
    # methods still find different local minima of this non-convex J).
    X, y = digits500
    models = {
        method: BackpropClassifier(
            hidden_layer_sizes=(5,),
            alpha=500.0,
            method=method,
            tol=1e-12,
            max_iter=2000,
            random_state=0,
            options={"maxfun": 100000} if method == "L-BFGS-B" else None,
        )
        for method in ["L-BFGS-B", "Newton-CG", "trust-ncg"]
    }
    for clf in models.values():
        fit_quietly(clf, X, y)
    reference = models["trust-ncg"]
    for method, clf in models.items():
        assert clf.loss_ == pytest.approx(reference.loss_, rel=1e-9), method
        # The same minimum up to the order of the hidden units, which J cannot see.
        np.testing.assert_allclose(
            clf.predict_proba(X), reference.predict_proba(X), atol=1e-6, err_msg=method
        )


def test_evaluation_counts_count_every_evaluation(digits500):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(5,), method="trust-ncg", max_iter=10)
    objective = fit_objective(clf, X, y)
    theta0 = objective.network.initial_theta(np.random.RandomState(0))
    counts = {"loss_gradient": 0, "hessian_vector_product": 0}

    def counted(name):
        def evaluate(*args):
            counts[name] += 1
            return getattr(objective, name)(*args)

        return evaluate

    monitor = Monitor(counted("loss_gradient"), counted("hessian_vector_product"))
    _, result = minimize_objective(
        monitor, theta0, plan=plan_method("trust-ncg", 10, None), tol=1e-5
    )
    assert monitor.n_fun_evals == result["nfev"] == counts["loss_gradient"]
    assert monitor.n_hessp_evals == result["nhev"] == counts["hessian_vector_product"] > 0
    # The estimator reports the monitor's counts.
    fitted = fit_quietly(clf.set_params(random_state=None), X, y)
    assert fitted.n_fun_evals_ >= fitted.n_iter_ and fitted.n_hessp_evals_ > 0


def test_callback_sees_every_iteration_and_can_stop_the_fit(digits500):
    X, y = digits500
    seen = []

    def callback(iteration, loss, gradient_norm, coefs, intercepts):
        seen.append((iteration, loss, gradient_norm, [W.copy() for W in coefs], intercepts))
        return iteration == 5

    clf = BackpropClassifier(hidden_layer_sizes=(6,), callback=callback, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopping on purpose is not a convergence failure
        clf.fit(X, y)
    assert [item[0] for item in seen] == [1, 2, 3, 4, 5]
    assert clf.n_iter_ == 5
    assert [item[1] for item in seen] == clf.loss_curve_
    assert clf.loss_ == seen[-1][1]
    assert all(gradient_norm > 0 for _, _, gradient_norm, _, _ in seen)
    assert [W.shape for W in seen[-1][3]] == [(64, 6), (6, 10)]
    for W, W_seen in zip(clf.coefs_, seen[-1][3]):
        np.testing.assert_array_equal(W, W_seen)
    assert clf.optimize_result_["stopped_by"] == "callback"


def test_callback_must_answer_with_a_boolean(digits500):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(3,), callback=lambda *args: "stop")
    with pytest.raises(TypeError, match=r"callback must return True \(to stop\), False or None"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG", "TNC", "trust-ncg"])
def test_early_stopping_restores_the_best_validation_score(digits500, method):
    X, y = digits500
    snapshots = []
    clf = BackpropClassifier(
        hidden_layer_sizes=(10,),
        method=method,
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        max_iter=300,
        random_state=0,
        callback=lambda i, loss, g, coefs, b: snapshots.append([W.copy() for W in coefs]),
    )
    fit_quietly(clf, X, y)
    scores = clf.validation_scores_
    best = int(np.argmax(scores))
    assert clf.best_validation_score_ == scores[best]
    assert len(scores) == len(clf.validation_loss_curve_) == clf.n_iter_ == len(snapshots)
    for W, W_best in zip(clf.coefs_, snapshots[best]):
        np.testing.assert_array_equal(W, W_best)
    assert clf.loss_ == clf.loss_curve_[best]
    if clf.optimize_result_.get("stopped_by") == "early_stopping":
        assert clf.n_iter_ == best + 1 + 3


def test_early_stopping_holds_out_a_stratified_fraction(digits500):
    from sklearn.model_selection import train_test_split

    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(3,), early_stopping=True, max_iter=3)
    fit_quietly(clf.set_params(validation_fraction=0.2), X, y)
    train, validation = train_test_split(
        np.arange(500), test_size=0.2, stratify=y, random_state=clf._validation_split[0]
    )
    assert (len(train), len(validation)) == (400, 100)
    # Stratified: every class keeps its share of the rows in the validation part.
    np.testing.assert_allclose(
        np.bincount(y[validation], minlength=10) / 100,
        np.bincount(y, minlength=10) / 500,
        atol=0.011,
    )
    assert clf.best_validation_score_ == clf.score(X[validation], y[validation])
    assert clf.validation_scores_ is not None
    plain = fit_quietly(BackpropClassifier(hidden_layer_sizes=(3,), max_iter=3), X, y)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None


def test_verbose_reports_gradient_norm_and_validation_score(digits500, capsys):
    X, y = digits500
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), max_iter=4, tol=0, verbose=1, early_stopping=True
    )
    fit_quietly(clf, X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Iteration    1, loss = ")
    assert "gradient norm = " in lines[0] and "validation score = " in lines[0]


def test_warm_start_continues_the_loss_curve_with_any_method(digits500):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=10, tol=0, random_state=0)
    fit_quietly(clf, X, y)
    first = list(clf.loss_curve_)
    clf.set_params(warm_start=True, method="Newton-CG", max_iter=5)
    fit_quietly(clf, X, y)
    assert clf.loss_curve_[:10] == first
    assert len(clf.loss_curve_) == 10 + clf.n_iter_
    assert clf.loss_curve_[10] <= first[-1]


def test_dense_methods_refuse_networks_too_large_for_memory():
    rng = np.random.RandomState(0)
    X, y = rng.rand(20, 784), np.arange(20) % 10
    for method in ["BFGS", "SLSQP"]:
        clf = BackpropClassifier(hidden_layer_sizes=(256, 256), method=method)
        with pytest.raises(ValueError, match=r"dense n-by-n float64 matrix.*Use method='L-BFGS-B'"):
            clf.fit(X, y)


def test_dense_method_memory_check_uses_the_machine_memory(monkeypatch):
    from sklearn_bp import _optimize

    monkeypatch.setattr(_optimize, "_physical_memory", lambda: 2**20)  # 1 MiB
    _optimize.check_dense_memory("L-BFGS-B", 10_000)  # keeps no matrix: never refused
    _optimize.check_dense_memory("BFGS", 100)  # 80 kB
    with pytest.raises(ValueError, match="n = 1,000 parameters"):
        _optimize.check_dense_memory("BFGS", 1000)  # 8 MB


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"method": "adam"}, ValueError, "'method' parameter"),
        ({"method": 3}, ValueError, "'method' parameter"),
        ({"hessian": "bfgs"}, ValueError, "'hessian' parameter"),
        ({"callback": "print"}, ValueError, "'callback' parameter"),
        ({"early_stopping": "yes"}, ValueError, "'early_stopping' parameter"),
        ({"validation_fraction": 1.0}, ValueError, "'validation_fraction' parameter"),
        ({"validation_fraction": 0.0}, ValueError, "'validation_fraction' parameter"),
        ({"n_iter_no_change": 0}, ValueError, "'n_iter_no_change' parameter"),
        ({"method": "Newton-CG", "options": {"maxcor": 5}}, ValueError, "does not take"),
        ({"method": "trust-ncg", "options": {"initial_trust_radius": 0.5}}, None, None),
    ],
)
def test_bad_optimization_parameters_are_refused(digits500, params, error, message):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=3, **params)
    if error is None:
        fit_quietly(clf, X, y)  # a valid option of the method passes
        return
    with pytest.raises(error, match=message):
        clf.fit(X, y)


def test_newton_cg_runs_with_tol_zero(digits500):
    X, y = digits500
    clf = fit_quietly(
        BackpropClassifier(hidden_layer_sizes=(3,), method="Newton-CG", tol=0, max_iter=4), X, y
    )
    assert clf.n_iter_ == 4


def test_warm_start_continues_the_validation_records(digits500):
    X, y = digits500
    clf = BackpropClassifier(
        hidden_layer_sizes=(4,), early_stopping=True, max_iter=5, tol=0, random_state=0
    )
    fit_quietly(clf, X, y)
    first = list(clf.validation_scores_)
    clf.set_params(warm_start=True, max_iter=3)
    fit_quietly(clf, X, y)
    assert clf.validation_scores_[: len(first)] == first
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == len(clf.loss_curve_)


def test_a_method_that_breaks_down_ends_the_fit_at_the_best_evaluated_parameters():
    # trust-ncg with tol=0 on separable data: the loss reaches 1e-18, then the method divides
    # by zero in its own step and proposes non-finite parameters.
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=60, centers=2, cluster_std=0.5, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(3,), method="trust-ncg", tol=0, alpha=0, max_iter=500, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(ConvergenceWarning, match="trust-ncg broke down after"):
            clf.fit(X, y)
    assert clf.optimize_result_["stopped_by"] == "breakdown"
    assert not clf.optimize_result_["success"]
    assert 0 <= clf.loss_ <= min(clf.loss_curve_) < 1e-10
    assert all(np.isfinite(W).all() for W in clf.coefs_)


def proposes_nan_after(n_steps):
    """A custom method: n_steps of gradient descent, then a non-finite step."""

    def method(fun, x0, args=(), jac=None, callback=None, **options):
        x = x0.copy()
        for _ in range(n_steps):
            x = x - 0.5 * jac(x)
            callback(x)
        fun(np.full_like(x, np.nan))
        raise AssertionError("the fit must end at the non-finite proposal")

    return method


def test_breakdown_returns_the_lowest_evaluated_j(digits500):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(5,), method=proposes_nan_after(4), random_state=0)
    with pytest.warns(ConvergenceWarning, match="broke down after 4 iteration"):
        clf.fit(X, y)
    assert clf.n_iter_ == 4 and clf.loss_ == min(clf.loss_curve_)
    # Gradient descent lowers J at every step here: the best point is the fourth iterate.
    assert clf.loss_ == clf.loss_curve_[-1]


def returns(make_x):
    """A custom method that evaluates J once and returns ``make_x(x0)`` as its solution."""

    def method(fun, x0, args=(), jac=None, **options):
        fun(x0)
        return OptimizeResult(x=make_x(x0), success=True, status=0, message="done")

    return method


@pytest.mark.parametrize(
    "make_x, error, message",
    [
        pytest.param(
            lambda x0: np.full_like(x0, np.nan), ValueError, "returned non-finite", id="NaN"
        ),
        pytest.param(lambda x0: x0[:-1], ValueError, "returned x of shape", id="too short"),
        pytest.param(lambda x0: x0.reshape(1, -1), ValueError, "returned x of shape", id="2-D"),
        pytest.param(
            lambda x0: ["a"] * x0.size, TypeError, "not an array of numbers", id="strings"
        ),
    ],
)
def test_a_custom_method_returning_junk_is_refused(digits500, make_x, error, message):
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(3,), method=returns(make_x))
    with pytest.raises(error, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_a_custom_method_may_return_integers_or_a_list(digits500):
    X, y = digits500
    for make_x in (lambda x0: np.round(x0 * 3).astype(int), lambda x0: list(x0)):
        clf = BackpropClassifier(hidden_layer_sizes=(3,), method=returns(make_x), random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert all(W.dtype == np.float64 for W in clf.coefs_ + clf.intercepts_)
        assert clf.loss_ > 0


def test_custom_method_calling_convention(digits500):
    # What docs/user_guide.rst promises a method of one's own: minimize splits J and ∇J, passes
    # the curvature product and the callback of one argument, and the options.
    X, y = digits500
    seen = {}

    def method(fun, x0, args=(), jac=None, hess=None, hessp=None, callback=None, **options):
        seen.update(options, J=fun(x0), gradient=jac(x0), product=hessp(x0, np.ones_like(x0)))
        callback(x0)
        return OptimizeResult(x=x0, success=True, status=0, message="done")

    clf = BackpropClassifier(hidden_layer_sizes=(3,), method=method, max_iter=7, tol=1e-3)
    clf.set_params(options={"step": 0.5}).fit(X, y)
    n_params = sum(W.size + b.size for W, b in zip(clf.coefs_, clf.intercepts_))
    assert isinstance(seen["J"], float) and seen["J"] == clf.loss_
    assert seen["gradient"].shape == seen["product"].shape == (n_params,)
    assert (seen["maxiter"], seen["tol"], seen["step"]) == (7, 1e-3, 0.5)
    assert clf.n_iter_ == 1


def numpy_blas_threads():
    return [
        info["num_threads"]
        for info in ThreadpoolController().info()
        if info["user_api"] == "blas" and not _is_scipy_bundled(info["filepath"])
    ]


def threads_of_a_fit(n_samples, n_features, hidden):
    """numpy's BLAS threads and the threads of the blocks of rows during a fit's iteration,
    and numpy's BLAS threads after the fit."""
    from sklearn_bp._block_pool import workers

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(n_samples, n_features)), np.arange(n_samples) % 2
    seen = []
    clf = BackpropClassifier(
        hidden_layer_sizes=hidden,
        max_iter=1,
        callback=lambda *args: seen.append((numpy_blas_threads(), workers())),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return seen[0], numpy_blas_threads()


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.mark.parametrize(
    "n_samples, n_features, hidden, expected",
    [
        (2000, 8, (4,), "one thread"),  # small products
        (2000, 400, (256,), "blocks on threads"),  # large products, two blocks of rows
        (1000, 400, (256,), "blas threads"),  # large products, one block
    ],
)
def test_threads_of_a_fit_follow_the_size_and_number_of_blocks(
    n_samples, n_features, hidden, expected
):
    default = numpy_blas_threads()
    (blas, blocks), after = threads_of_a_fit(n_samples, n_features, hidden)
    ones = [1] * len(default)
    if expected == "one thread":
        assert (blas, blocks) == (ones, 1)
    elif expected == "blocks on threads":
        assert (blas, blocks) == (ones, min(min(default), usable_cores()))
    else:
        assert (blas, blocks) == (default, 1)
    assert after == default


def test_a_users_thread_limit_bounds_the_threads_of_the_blocks():
    with threadpool_limits(limits=1, user_api="blas"):
        (blas, blocks), _ = threads_of_a_fit(2000, 400, (256,))
    assert blocks == 1 and set(blas) == {1}


def test_a_fit_gives_the_same_model_on_any_number_of_threads():
    # Large products in several blocks: the blocks go to as many threads as numpy's BLAS has,
    # and the fit's result does not depend on that number.
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(2500, 300)), rng.randint(3, size=2500)
    fits = []
    for limit in (1, 2, 4):
        clf = BackpropClassifier(hidden_layer_sizes=(64,), max_iter=5, random_state=0)
        with threadpool_limits(limits=limit, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(clf.fit(X, y))
    for clf in fits[1:]:
        assert clf.loss_ == fits[0].loss_
        for W, W0 in zip(clf.coefs_ + clf.intercepts_, fits[0].coefs_ + fits[0].intercepts_):
            assert np.array_equal(W, W0)


def test_loss_is_j_at_the_returned_parameters_after_an_abnormal_line_search():
    # L-BFGS-B ends this fit with status 2 (ABNORMAL): scipy returns the last accepted iterate
    # as x, but the J of its last rejected line-search trial as fun.
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=60, centers=4, cluster_std=0.3, random_state=1)
    clf = BackpropClassifier(hidden_layer_sizes=(5,), alpha=0, tol=0, max_iter=3000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.optimize_result_["status"] == 2
    assert clf.loss_ == clf.loss_curve_[-1]


def test_trust_krylov_warns_that_it_is_not_reproducible(digits500):
    # scipy's TRLIB seeds an inverse iteration from the clock: on digits the same random_state
    # gave 14 different models in 15 fits. The warning points at the caller's line.
    X, y = digits500
    clf = BackpropClassifier(hidden_layer_sizes=(3,), method="trust-krylov", max_iter=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.set_params(random_state=0).fit(X, y)
        clf.set_params(random_state=None).fit(X, y)  # no reproducibility asked for
        clf.set_params(method="trust-ncg", random_state=0).fit(X, y)
    warned = [warning for warning in caught if "is not reproducible" in str(warning.message)]
    assert len(warned) == 1 and warned[0].category is UserWarning
    assert "method='trust-krylov' is not reproducible" in str(warned[0].message)
    assert warned[0].filename == __file__


def rosenbrock(theta):
    x, y = theta
    loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    return loss, np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def test_listeners_see_every_iteration_in_order_and_may_end_the_fit():
    seen = []

    def recorder(record):
        seen.append((record.number, record.loss, record.theta.copy()))

    def stop_at_the_third(record):
        return Stop("callback", "enough") if record.number == 3 else None

    monitor = Monitor(rosenbrock, listeners=[recorder, stop_at_the_third])
    x, result = minimize_objective(
        monitor, np.zeros(2), plan=plan_method("L-BFGS-B", 50, None), tol=0
    )
    assert [number for number, _, _ in seen] == [1, 2, 3]
    assert (result["stopped_by"], result["message"], result["nit"]) == ("callback", "enough", 3)
    # The fit ends at the third iterate, the one the listeners saw last.
    np.testing.assert_array_equal(x, seen[-1][2])
    assert result["fun"] == seen[-1][1] == monitor.loss_curve[-1]


def stretched(theta):
    """J(θ) = ½ Σ_i d_i (θ_i − c_i)² with curvatures d_i from 1e-6 to 1e6."""
    curvature = np.logspace(-6, 6, theta.size)
    centre = np.arange(theta.size) * 1e3
    residual = theta - centre
    return 0.5 * float(residual @ (curvature * residual)), curvature * residual


def test_the_method_sees_j_and_its_derivatives_in_its_coordinates():
    rng = np.random.RandomState(0)
    coordinates = Coordinates(
        shift=rng.normal(size=5), scale=rng.uniform(0.5, 3.0, size=5), factor=7.0
    )
    curvature = rng.uniform(0.5, 2.0, size=5)

    def loss_gradient(theta):
        return 0.5 * float(curvature @ (theta - 1) ** 2), curvature * (theta - 1)

    monitor = Monitor(loss_gradient, lambda theta, v: curvature * v, coordinates=coordinates)
    u = rng.normal(size=5)
    loss, gradient = monitor.fun(u)
    theta = coordinates.shift + coordinates.scale * u
    assert loss == pytest.approx(loss_gradient(theta)[0] / 7.0, rel=1e-15)
    step = 1e-6
    differences = [
        (monitor.fun(u + step * e)[0] - monitor.fun(u - step * e)[0]) / (2 * step)
        for e in np.eye(5)
    ]
    np.testing.assert_allclose(gradient, differences, rtol=1e-7)
    v = rng.normal(size=5)
    expected = coordinates.scale * curvature * coordinates.scale * v / 7.0
    np.testing.assert_allclose(monitor.hessp(u, v), expected, rtol=1e-14)


def test_coordinates_change_what_the_method_sees_not_what_is_recorded():
    # The minimum lies where it lies; the loss curve, the iterates and x are of θ and J.
    theta0 = np.zeros(3)
    coordinates = Coordinates(shift=np.full(3, 5.0), scale=np.array([1.0, 10.0, 100.0]), factor=3)
    seen = []
    monitor = Monitor(
        stretched,
        listeners=[lambda record: seen.append(record.theta)],
        coordinates=coordinates,
    )
    x, summary = minimize_objective(monitor, theta0, plan=plan_method("L-BFGS-B", 500, None), tol=0)
    np.testing.assert_allclose(x, [0.0, 1e3, 2e3], atol=1e-6)
    assert summary["fun"] == pytest.approx(stretched(x)[0], rel=1e-15)
    assert monitor.loss_curve == [stretched(theta)[0] for theta in seen]


@pytest.mark.parametrize(
    "vector",
    [
        np.array([3.0, -4.0]),
        np.array([3e200, -4e200]),  # squares overflow
        np.array([3e-170, -4e-170]),  # squares underflow
        np.array([1e308, 1e308, -1e308]),
        np.zeros(3),
    ],
)
def test_the_norm_of_the_records_is_exact_at_any_scale(vector):
    from sklearn_bp._optimize import _norm

    scale = np.max(np.abs(vector)) or 1.0
    expected = scale * math.hypot(*(vector / scale))
    assert _norm(vector) == pytest.approx(expected, rel=1e-15)


def test_finiteness_is_decided_entry_by_entry_where_the_sum_overflows():
    from sklearn_bp._optimize import _all_finite

    assert _all_finite(np.array([1e308, 1e308]))  # the sum overflows; every entry is finite
    assert _all_finite(np.array([1.0, -2.0]))
    for bad in (np.inf, -np.inf, np.nan):
        assert not _all_finite(np.array([1.0, bad]))
    assert not _all_finite(np.array([np.inf, -np.inf]))  # a sum of nan
