"""The driver around ``scipy.optimize.minimize``: method table, monitoring, BLAS threads.

``minimize`` is called in exactly one place, :func:`minimize_objective`. The caller hands it
the objective's J with its gradient (and, for second-order methods, a curvature product), and
gets back scipy's ``OptimizeResult`` together with what was recorded after every iteration:
the loss curve, validation scores for early stopping, the evaluation counts.
"""

import inspect
import os
import threading
import time
import warnings
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeResult, minimize
from scipy.optimize import _minimize as _scipy_minimize
from scipy.optimize import _trustregion as _scipy_trustregion
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController


@dataclass(frozen=True)
class Method:
    """How ``fit``'s parameters map onto one method of ``scipy.optimize.minimize``."""

    solver: str  # the private scipy function minimize dispatches to: its options
    max_iter: str  # the option ``max_iter`` sets
    tol: tuple  # the options ``minimize`` sets from ``tol``
    max_fun: str | None = None  # the option that bounds evaluations of J, if any
    hessp: bool = False  # takes a Hessian-vector product
    dense: bool = False  # keeps a dense n × n matrix


METHODS = {
    "L-BFGS-B": Method("_minimize_lbfgsb", "maxiter", ("ftol", "gtol"), max_fun="maxfun"),
    "BFGS": Method("_minimize_bfgs", "maxiter", ("gtol",), dense=True),
    "CG": Method("_minimize_cg", "maxiter", ("gtol",)),
    # TNC has no iteration limit: max_iter bounds its evaluations of J.
    "TNC": Method("_minimize_tnc", "maxfun", ("xtol", "ftol", "gtol"), max_fun="maxfun"),
    "SLSQP": Method("_minimize_slsqp", "maxiter", ("ftol",), dense=True),
    "Newton-CG": Method("_minimize_newtoncg", "maxiter", ("xtol",), hessp=True),
    "trust-ncg": Method("_minimize_trust_ncg", "maxiter", ("gtol",), hessp=True),
    "trust-krylov": Method("_minimize_trust_krylov", "maxiter", ("gtol",), hessp=True),
    "trust-constr": Method(
        "_minimize_trustregion_constr", "maxiter", ("xtol", "gtol", "barrier_tol"), hessp=True
    ),
}
# A user's own minimizer (``method=callable``): minimize passes it jac, hessp, callback and the
# options, among them ``maxiter`` and ``tol``.
CUSTOM = Method("", "maxiter", ("tol",), hessp=True)

# Arguments of scipy's solver functions that minimize passes itself: not options.
NOT_OPTIONS = {
    "fun", "func", "x0", "args", "jac", "grad", "hess", "hessp", "bounds", "constraints",
    "callback", "subproblem", "unknown_options", "trust_region_options",
}  # fmt: skip


def method_spec(method):
    """The :class:`Method` of a method name, or :data:`CUSTOM` for a callable."""
    return CUSTOM if callable(method) else METHODS[method]


def method_options(method, max_iter, options):
    """Return the ``options`` dict for ``minimize``: the ``max_iter`` bound, then ``options``."""
    return {method_spec(method).max_iter: max_iter, **(options or {})}


def method_name(method):
    """A printable name of a method name or callable."""
    return method if isinstance(method, str) else getattr(method, "__name__", repr(method))


def _known_options(solver):
    parameters = inspect.signature(solver).parameters
    known = set(parameters)
    if "trust_region_options" in parameters:  # trust-ncg, trust-krylov pass these on
        known |= _known_options(_scipy_trustregion._minimize_trust_region)
    return known - NOT_OPTIONS


def _check_options(method, options):
    """Refuse options that ``method`` does not take, and limits that are no positive integer.

    scipy itself only warns about unknown options, and takes ``maxiter=0`` as one iteration.
    """
    spec = method_spec(method)
    for name in {spec.max_iter, spec.max_fun} - {None}:
        limit = options.get(name)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, Integral) or limit < 1
        ):
            raise ValueError(f"options[{name!r}] must be a positive integer, got {limit!r}.")
    if callable(method):
        return
    solver = getattr(_scipy_minimize, METHODS[method].solver, None)
    if solver is None:  # scipy renamed its private solver functions: leave the check to it
        return
    known = _known_options(solver)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"Method {method!r} does not take the option(s) {unknown}; it takes {sorted(known)}."
        )


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest machine
        return 16 * 2**30


def check_dense_memory(method, n_params):
    """Refuse a method that keeps a dense n × n matrix when that matrix cannot fit in memory."""
    if callable(method) or not METHODS[method].dense:
        return
    needed = 8 * n_params**2
    available = _physical_memory() // 2
    if needed > available:
        raise ValueError(
            f"Method {method!r} keeps a dense n-by-n float64 matrix for the n = {n_params:,} "
            f"parameters of this network: {needed / 2**30:,.1f} GiB, more than half of this "
            f"machine's memory ({2 * available / 2**30:,.1f} GiB). Use method='L-BFGS-B', "
            f"which keeps only a few vectors of n."
        )


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


def _norm(vector):
    """The Euclidean norm, without overflow for entries beyond 1e154."""
    largest = float(np.max(np.abs(vector), initial=0.0))
    if largest == 0.0 or not np.isfinite(largest):
        return largest
    return largest * float(np.linalg.norm(vector / largest))


class _Stop(Exception):
    """Raised from the per-iteration callback to end ``minimize`` at the current point."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Monitor:
    """What happens around the method: counts, checks, and the record of every iteration.

    Parameters
    ----------
    loss_gradient : callable
        ``loss_gradient(theta) -> (J, gradient)``.
    curvature : callable or None
        ``curvature(theta, v) -> H v`` for the methods that take ``hessp``.
    views : callable
        ``views(theta) -> (coefs, intercepts)``, per-layer views of θ for ``callback``.
    validation : callable or None
        ``validation(theta) -> (loss, score)`` on held-out data, for early stopping.
    n_iter_no_change : int
        Iterations without a validation score better than the best by ``tol`` before
        early stopping ends the fit.
    tol : float
        Least improvement of the validation score that counts.
    callback : callable or None
        The user's ``callback(iteration, loss, gradient_norm, coefs, intercepts)``;
        returning True ends the fit.
    verbose : int
        Print one line per iteration when positive.
    first_iteration : int
        Number of the first iteration, so a warm-started fit continues the count.
    """

    _CACHE_SIZE = 4

    def __init__(
        self,
        loss_gradient,
        curvature=None,
        *,
        views,
        validation=None,
        n_iter_no_change=10,
        tol=0.0,
        callback=None,
        verbose=0,
        first_iteration=1,
    ):
        self.loss_gradient = loss_gradient
        self.curvature = curvature
        self.views = views
        self.validation = validation
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.user_callback = callback
        self.verbose = verbose
        self.iteration = first_iteration - 1
        self.n_fun_evals = 0
        self.n_hessp_evals = 0
        self.loss_curve = []
        self.validation_scores = []
        self.validation_loss_curve = []
        self.best_loss, self.best_theta = np.inf, None
        self.best_score, self.best_score_theta, self.best_score_loss = -np.inf, None, None
        self._no_improvement = 0
        self.iterate = None
        self._recent = []  # (theta, loss, gradient norm) of the last evaluations
        self._start = time.perf_counter()

    def fun(self, theta):
        """J and ∇J for the method: counted, checked finite, remembered."""
        loss, gradient = self.loss_gradient(theta)
        self.n_fun_evals += 1
        if not (np.isfinite(loss) and np.isfinite(gradient).all()):
            # A method fed nan keeps going and returns a model of nan: stop here instead.
            raise ValueError(
                f"The cost J or its gradient became non-finite (J = {loss}) at evaluation "
                f"{self.n_fun_evals}: the network overflowed. Scale the features (for example "
                f"with StandardScaler), and check alpha and the sample weights."
            )
        # One copy serves both records: neither is ever written to.
        theta_copy = theta.copy()
        if loss < self.best_loss:
            self.best_loss, self.best_theta = loss, theta_copy
        self._recent = [(theta_copy, loss, _norm(gradient)), *self._recent[: self._CACHE_SIZE - 1]]
        return loss, gradient

    def hessp(self, theta, v):
        """The curvature product for the method, counted."""
        self.n_hessp_evals += 1
        return self.curvature(theta, v)

    def _loss_and_gradient_norm(self, theta):
        # Methods call back with a point they evaluated recently; evaluate only if not.
        for recent_theta, loss, gradient_norm in self._recent:
            if np.array_equal(theta, recent_theta):
                return loss, gradient_norm
        loss, gradient = self.fun(theta)
        return loss, _norm(gradient)

    def callback(self, theta, *state):
        """Called by the method after each iteration with the iterate θ (trust-constr adds a
        state): record it, report it, and stop the method when asked to."""
        self.iteration += 1
        self.iterate = theta.copy()
        loss, gradient_norm = self._loss_and_gradient_norm(theta)
        self.loss_curve.append(loss)
        score = self._validate(theta, loss)
        if self.verbose:
            self._print(loss, gradient_norm, score)
        if self.user_callback is not None:
            coefs, intercepts = self.views(theta.copy())
            answer = self.user_callback(self.iteration, loss, gradient_norm, coefs, intercepts)
            if answer is not None and not isinstance(answer, bool | np.bool_):
                raise TypeError(
                    f"callback must return True (to stop), False or None, got {answer!r}."
                )
            if answer:
                raise _Stop("callback")
        if self.validation is not None and self._no_improvement >= self.n_iter_no_change:
            raise _Stop("early_stopping")

    def _validate(self, theta, loss):
        if self.validation is None:
            return None
        validation_loss, score = self.validation(theta)
        self.validation_loss_curve.append(validation_loss)
        self.validation_scores.append(score)
        if score > self.best_score + self.tol:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if score > self.best_score:
            self.best_score, self.best_score_theta, self.best_score_loss = (
                score,
                theta.copy(),
                loss,
            )
        return score

    def _print(self, loss, gradient_norm, score):
        elapsed = time.perf_counter() - self._start
        line = (
            f"Iteration {self.iteration:4d}, loss = {loss:.8f}, gradient norm = {gradient_norm:.3e}"
        )
        if score is not None:
            line += f", validation score = {score:.6f}"
        print(f"{line}, time = {elapsed:.2f}s", flush=True)

    def stopped_result(self, reason):
        """The result when the fit ends by callback, early stopping or Ctrl-C.

        The callback and early stopping end at the current iterate (early stopping then goes
        back to the best validation score); Ctrl-C at the evaluated point of lowest J.
        """
        messages = {
            "callback": "Stopped by the callback",
            "early_stopping": (
                f"Stopped early: validation score did not improve by more than tol for "
                f"{self.n_iter_no_change} iterations"
            ),
            "interrupted": "Interrupted by KeyboardInterrupt",
        }
        if reason == "interrupted":
            theta, loss = self.best_theta, self.best_loss
        elif reason == "early_stopping":
            theta, loss = self.best_score_theta, self.best_score_loss
        else:
            theta, loss = self.iterate, self.loss_curve[-1]
        return OptimizeResult(
            x=np.array(theta, dtype=np.float64),
            fun=loss,
            success=reason != "interrupted",
            status=-1 if reason == "interrupted" else 0,
            message=messages[reason],
            stopped_by=reason,
        )


def minimize_objective(monitor, theta0, *, method, max_iter, tol, options):
    """Minimize J from ``theta0`` with ``scipy.optimize.minimize``; return its result.

    Parameters
    ----------
    monitor : Monitor
        Supplies J, ∇J and the curvature product, and records every iteration.
    theta0 : ndarray of shape (n_params,)
        Starting parameters, float64.
    method : str or callable
        A key of :data:`METHODS`, or a minimizer as ``scipy.optimize.minimize`` accepts.
    max_iter : int
        Bound on the method's iterations (evaluations of J for TNC).
    tol : float
        ``minimize``'s ``tol``; 0 turns the method's tolerance tests off.
    options : dict or None
        Extra options for the method; they override the ``max_iter`` mapping.

    Returns
    -------
    result : OptimizeResult
        scipy's result, with ``nit`` (iterations), ``nfev`` (evaluations of J and ∇J) and
        ``nhev`` (curvature products) set for every method. If the fit was stopped by the
        callback, early stopping or ``KeyboardInterrupt``, ``stopped_by`` says which; early
        stopping returns the parameters of the best validation score, an interrupt the
        evaluated point of lowest J.

    Raises
    ------
    ValueError
        If J or its gradient becomes non-finite, or ``options`` holds an unknown option.
    """
    options = method_options(method, max_iter, options)
    if method == "Newton-CG" and tol == 0:
        # Newton-CG of scipy < 1.12 never starts with xtol=0 (its first update is 2 xtol).
        options.setdefault("xtol", np.finfo(np.float64).tiny)
    _check_options(method, options)
    check_dense_memory(method, theta0.size)
    hessp = monitor.hessp if method_spec(method).hessp and monitor.curvature else None
    # Overflow in a pass shows as a non-finite J, which Monitor.fun refuses with a clear error;
    # numpy's warnings on the way there would only be noise.
    with scipy_blas_single_threaded, np.errstate(over="ignore", invalid="ignore"):
        try:
            result = minimize(
                monitor.fun,
                theta0,
                jac=True,
                hessp=hessp,
                method=method,
                tol=tol,
                options=options,
                callback=monitor.callback,
            )
        except _Stop as stop:
            result = monitor.stopped_result(stop.reason)
        except KeyboardInterrupt:
            # Ctrl-C ends a long fit with the best parameters so far, not with nothing.
            if monitor.best_theta is None:
                raise
            result = monitor.stopped_result("interrupted")
    if not isinstance(result, OptimizeResult) or "x" not in result:
        raise TypeError(
            f"The method {method_name(method)} must return a scipy.optimize.OptimizeResult "
            f"with the solution in 'x', got {type(result).__name__}."
        )
    if "fun" not in result:  # a custom method need not report J
        result.fun = monitor.fun(np.asarray(result.x, dtype=np.float64))[0]
    if monitor.validation is not None and monitor.best_score_theta is not None:
        # Early stopping keeps the parameters of the best validation score, however it ended.
        result.x, result.fun = monitor.best_score_theta, monitor.best_score_loss
    result.nit = len(monitor.loss_curve)
    result.nfev = monitor.n_fun_evals
    result.nhev = monitor.n_hessp_evals
    return result


def check_result(result, method, max_iter, options, stacklevel=5):
    """Warn unless the method succeeded or was stopped on purpose; return ``n_iter_``.

    The one place where an ``OptimizeResult`` is read for its status. The iteration limit is
    the one the method was given: ``max_iter``, unless ``options`` overrode it. The default
    ``stacklevel`` points the warning at the line that called the estimator's ``fit``.
    """
    option = method_spec(method).max_iter
    limit = method_options(method, max_iter, options)[option]
    n_iter = int(result.nit)
    name = method_name(method)
    stopped_by = result.get("stopped_by")
    if stopped_by == "interrupted":
        warnings.warn(
            f"The fit was interrupted (KeyboardInterrupt) after {n_iter} iteration(s); the "
            f"estimator holds the parameters with the lowest J evaluated so far.",
            UserWarning,
            stacklevel=stacklevel,
        )
    elif not result.get("success", True) and stopped_by is None:
        message = (
            f"{name} did not converge after {n_iter} iteration(s) "
            f"(status={result.get('status')}): {str(result.get('message', '')).rstrip('.')}."
        )
        if (result.nfev if option == "maxfun" else n_iter) >= limit:
            message += f" Increase max_iter (now {limit}) or tol, or scale the data."
        warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)
    return n_iter
