"""The driver around ``scipy.optimize.minimize``: method table, progress, BLAS threads.

``minimize`` is called in exactly one place, :func:`minimize_objective`; the caller gives it a
function returning (J(θ), ∇J(θ)) and gets scipy's ``OptimizeResult`` back.
"""

import inspect
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeResult, minimize
from scipy.optimize import _minimize as _scipy_minimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

# Gradient-based methods of scipy.optimize.minimize, each with the name of the option that
# bounds its work by ``max_iter``. TNC counts function evaluations, not iterations.
METHODS = {
    "L-BFGS-B": "maxiter",
    "BFGS": "maxiter",
    "CG": "maxiter",
    "SLSQP": "maxiter",
    "TNC": "maxfun",
}


# The functions that scipy.optimize.minimize dispatches each method to (private to scipy):
# their keyword parameters, less the arguments minimize passes itself, are the method's options.
SOLVERS = {
    "L-BFGS-B": "_minimize_lbfgsb",
    "BFGS": "_minimize_bfgs",
    "CG": "_minimize_cg",
    "SLSQP": "_minimize_slsqp",
    "TNC": "_minimize_tnc",
}
NOT_OPTIONS = {
    "fun", "func", "x0", "args", "jac", "hess", "hessp", "bounds", "constraints", "callback",
    "unknown_options",
}  # fmt: skip


def method_options(method, max_iter, options):
    """Return the ``options`` dict for ``minimize``: the ``max_iter`` bound, then ``options``."""
    return {METHODS[method]: max_iter, **(options or {})}


def _is_scipy_bundled(filepath):
    # scipy's wheels ship their own OpenBLAS in site-packages/scipy.libs (Linux, Windows) or
    # scipy/.dylibs (macOS); numpy's copy has a file name with the same prefix.
    folder = Path(filepath).parent
    return folder.name == "scipy.libs" or (
        folder.name == ".dylibs" and folder.parent.name == "scipy"
    )


class _ScipyBlasSingleThreaded:
    """Limit the BLAS bundled with scipy to one thread; leave numpy's BLAS alone.

    The optimizer's own vector work runs on scipy's BLAS while the gradient's matrix products
    run on numpy's. Two thread pools on the same cores fight, and a fit runs several times
    slower; the optimizer's vector work is far too small to need threads. Limits a user has set
    with ``threadpool_limits`` stay as they are or become stricter.

    Fits may overlap in threads: the first to enter sets the limit, the last to leave restores
    what was there before. The libraries are looked up once, on first use (a scan of every
    loaded library costs milliseconds, a large part of a small fit).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._scipy_blas = None
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._scipy_blas is None:
                controller = ThreadpoolController()
                paths = [
                    info["filepath"]
                    for info in controller.info()
                    if _is_scipy_bundled(info["filepath"])
                ]
                self._scipy_blas = controller.select(filepath=paths)
            if self._depth == 0:
                self._limiter = self._scipy_blas.limit(limits=1)
            self._depth += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


scipy_blas_single_threaded = _ScipyBlasSingleThreaded()


def _check_options(method, options):
    """Refuse options that ``method`` does not take; scipy itself only warns about them."""
    solver = getattr(_scipy_minimize, SOLVERS[method], None)
    if solver is None:  # scipy renamed its private solver functions: leave the check to it
        return
    known = set(inspect.signature(solver).parameters) - NOT_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"Method {method!r} does not take the option(s) {unknown}; it takes {sorted(known)}."
        )


class _Progress:
    """Wraps J and ∇J: refuses non-finite values, keeps the best point, reports iterations."""

    def __init__(self, loss_gradient, theta0, verbose):
        self.loss_gradient = loss_gradient
        self.verbose = verbose
        self.n_evaluations = 0
        self.n_iterations = 0
        self.best_loss = np.inf
        self.best_theta = np.array(theta0, dtype=np.float64)
        self._last_theta = None
        self._last_loss = np.nan
        self._start = time.perf_counter()

    def __call__(self, theta):
        loss, gradient = self.loss_gradient(theta)
        self.n_evaluations += 1
        if not (np.isfinite(loss) and np.isfinite(gradient).all()):
            # A method fed nan keeps going and returns a model of nan: stop here instead.
            raise ValueError(
                f"The cost J or its gradient became non-finite (J = {loss}) at evaluation "
                f"{self.n_evaluations}. Scale the features (e.g. StandardScaler) or increase "
                f"alpha."
            )
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_theta[...] = theta
        self._last_theta = theta.copy()
        self._last_loss = loss
        return loss, gradient

    def interrupted_result(self):
        """The result to return when the user interrupts: the best point evaluated so far."""
        return OptimizeResult(
            x=self.best_theta,
            fun=self.best_loss,
            success=False,
            status=-1,
            message="Interrupted by KeyboardInterrupt",
            nit=self.n_iterations,
            nfev=self.n_evaluations,
            interrupted=True,
        )

    def callback(self, theta):
        self.n_iterations += 1
        if not self.verbose:
            return
        # Methods call back with the point they just accepted, which they evaluated last.
        if self._last_theta is not None and np.array_equal(theta, self._last_theta):
            loss = self._last_loss
        else:
            loss, _ = self.loss_gradient(theta)
        elapsed = time.perf_counter() - self._start
        print(f"Iteration {self.n_iterations:4d}, loss = {loss:.8f}, time = {elapsed:.2f}s")


def minimize_objective(loss_gradient, theta0, *, method, max_iter, tol, options, verbose):
    """Minimize J from ``theta0`` with ``scipy.optimize.minimize``; return its result.

    Parameters
    ----------
    loss_gradient : callable
        ``loss_gradient(theta) -> (J, gradient)``.
    theta0 : ndarray of shape (n_params,)
        Starting parameters, float64.
    method : str
        A key of :data:`METHODS`.
    max_iter : int
        Bound on the method's iterations (function evaluations for TNC).
    tol : float
        ``minimize``'s ``tol``; 0 runs until ``max_iter``.
    options : dict or None
        Extra options for the method; they override the ``max_iter`` mapping.
    verbose : int
        Print one line per iteration when positive.

    Returns
    -------
    result : OptimizeResult
        scipy's result, with ``nit`` set for every method. If the fit is interrupted by
        ``KeyboardInterrupt`` after at least one evaluation, a result holding the evaluated
        point with the lowest J instead, with ``interrupted=True``.

    Raises
    ------
    ValueError
        If J or its gradient becomes non-finite, or ``options`` holds an unknown option.
    """
    options = method_options(method, max_iter, options)
    _check_options(method, options)
    progress = _Progress(loss_gradient, theta0, verbose)
    with scipy_blas_single_threaded:
        try:
            result = minimize(
                progress,
                theta0,
                jac=True,
                method=method,
                tol=tol,
                options=options,
                callback=progress.callback,
            )
        except KeyboardInterrupt:
            # Ctrl-C ends a long fit with the best parameters so far, not with nothing.
            if progress.n_evaluations == 0:
                raise
            result = progress.interrupted_result()
    if "nit" not in result:
        result.nit = progress.n_iterations
    return result


def check_result(result, method, max_iter, options, stacklevel=5):
    """Warn with ``ConvergenceWarning`` unless the method reports success; return ``n_iter_``.

    The one place where an ``OptimizeResult`` is read for its status. The iteration limit is
    the one the method was given: ``max_iter``, unless ``options`` overrode it. The default
    ``stacklevel`` points the warning at the line that called the estimator's ``fit``.
    """
    option = METHODS[method]
    limit = method_options(method, max_iter, options)[option]
    # L-BFGS-B of some scipy versions counts one iteration past its limit (scipy #7854).
    n_iter = int(min(result.nit, limit) if option == "maxiter" else result.nit)
    if result.get("interrupted", False):
        warnings.warn(
            f"The fit was interrupted (KeyboardInterrupt) after {n_iter} iteration(s); the "
            f"estimator holds the parameters with the lowest J evaluated so far.",
            UserWarning,
            stacklevel=stacklevel,
        )
    elif not result.success:
        message = (
            f"{method} did not converge after {n_iter} iteration(s) "
            f"(status={result.status}): {result.message.rstrip('.')}."
        )
        if (result.nfev if option == "maxfun" else n_iter) >= limit:
            message += f" Increase max_iter (now {limit}) or tol, or scale the data."
        warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)
    return n_iter
