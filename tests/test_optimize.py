"""The scipy.optimize driver: method options, results, BLAS threads."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController, threadpool_limits

from sklearn_bp._optimize import (
    METHODS,
    Monitor,
    _is_scipy_bundled,
    check_result,
    method_options,
    minimize_objective,
    scipy_blas_single_threaded,
)


def run(loss_gradient, theta0, **kwargs):
    """minimize_objective with a plain monitor of loss_gradient (curvature: the identity)."""
    monitor = Monitor(loss_gradient, lambda theta, v: v.copy(), views=lambda theta: ([], []))
    return minimize_objective(monitor, theta0, **kwargs)


def quadratic(theta):
    """J(θ) = ½ ‖θ − 1‖², minimized at θ = 1."""
    return 0.5 * float(np.sum((theta - 1.0) ** 2)), theta - 1.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_minimizes_a_quadratic(method):
    result = run(quadratic, np.zeros(5), method=method, max_iter=100, tol=1e-10, options=None)
    np.testing.assert_allclose(result.x, 1.0, atol=1e-5)
    assert result.nit >= 1


def test_options_override_the_max_iter_mapping():
    assert method_options("L-BFGS-B", 50, None) == {"maxiter": 50}
    assert method_options("TNC", 50, None) == {"maxfun": 50}
    assert method_options("L-BFGS-B", 50, {"maxiter": 3, "maxcor": 5}) == {
        "maxiter": 3,
        "maxcor": 5,
    }


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match=r"'CG' does not take the option\(s\) \['maxcor'\]"):
        run(quadratic, np.zeros(2), method="CG", max_iter=5, tol=0, options={"maxcor": 3})


def test_check_result_warns_only_when_the_method_failed():
    def rosenbrock(theta):
        x, y = theta
        loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2
        return loss, np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

    result = run(rosenbrock, np.zeros(2), method="L-BFGS-B", max_iter=3, tol=0, options=None)
    with pytest.warns(ConvergenceWarning, match="L-BFGS-B did not converge after 3 iteration"):
        assert check_result(result, "L-BFGS-B", 3, None, stacklevel=2) == 3
    result = run(quadratic, np.zeros(2), method="L-BFGS-B", max_iter=50, tol=1e-8, options=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_result(result, "L-BFGS-B", 50, None)


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
        assert check_result(result, "CG", 10, {"maxiter": 1}, stacklevel=2) == 1
