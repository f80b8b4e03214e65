"""The driver around ``scipy.optimize.minimize``: method table, monitoring, BLAS threads.

``minimize`` is called in exactly one place, :func:`minimize_objective`. The caller hands it
the objective's J with its gradient (and, for second-order methods, a curvature product), and
gets back scipy's ``OptimizeResult`` together with what was recorded after every iteration:
the loss curve, validation scores for early stopping, the evaluation counts.
"""

import contextlib
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeResult, minimize
from sklearn.exceptions import ConvergenceWarning, EfficiencyWarning
from threadpoolctl import ThreadpoolController

from . import _lbfgs
from ._block_pool import block_workers
from ._fixes import caller_stacklevel, scipy_solver_options

# The largest iteration or evaluation limit: scipy's compiled methods take a C int.
MAX_ITER = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Method:
    """How ``fit``'s parameters map onto one method of ``scipy.optimize.minimize``, or of our
    own."""

    solver: str  # the private scipy function minimize dispatches to: its options
    max_iter: str  # the option ``max_iter`` sets
    tol: tuple  # the options ``minimize`` sets from ``tol``
    max_fun: str | None = None  # the option that bounds evaluations of J, if any
    hessp: bool = False  # takes a Hessian-vector product
    dense: bool = False  # keeps a dense n × n matrix
    reproducible: bool = True  # the same inputs give the same result
    # A method of our own, called in place of ``minimize`` as ``minimizer(fun, x0, callback=,
    # tol=, dtype=, **options)`` (dtype: that of the evaluations), the options it takes, and
    # ``check_options(options)``, which refuses values it cannot use.
    minimizer: object = None
    own_options: tuple = ()
    check_options: object = None


METHODS = {
    "L-BFGS-B": Method("_minimize_lbfgsb", "maxiter", ("ftol", "gtol"), max_fun="maxfun"),
    # Ours (_lbfgs): the two-loop recursion and a strong-Wolfe line search, no bounds; the
    # same stopping tests as L-BFGS-B's, without its bound-constrained bookkeeping.
    "L-BFGS": Method(
        "",
        "maxiter",
        ("ftol", "gtol"),
        max_fun="maxfun",
        minimizer=_lbfgs.minimize_lbfgs,
        own_options=_lbfgs.OPTIONS,
        check_options=_lbfgs.check_options,
    ),
    "BFGS": Method("_minimize_bfgs", "maxiter", ("gtol",), dense=True),
    "CG": Method("_minimize_cg", "maxiter", ("gtol",)),
    # TNC has no iteration limit: max_iter bounds its evaluations of J.
    "TNC": Method("_minimize_tnc", "maxfun", ("xtol", "ftol", "gtol"), max_fun="maxfun"),
    "SLSQP": Method("_minimize_slsqp", "maxiter", ("ftol",), dense=True),
    "Newton-CG": Method("_minimize_newtoncg", "maxiter", ("xtol",), hessp=True),
    "trust-ncg": Method("_minimize_trust_ncg", "maxiter", ("gtol",), hessp=True),
    # scipy's TRLIB seeds an inverse iteration from the clock: see NOT_REPRODUCIBLE.
    "trust-krylov": Method(
        "_minimize_trust_krylov", "maxiter", ("gtol",), hessp=True, reproducible=False
    ),
    "trust-constr": Method(
        "_minimize_trustregion_constr", "maxiter", ("xtol", "gtol", "barrier_tol"), hessp=True
    ),
}
# Above this many parameters a method that keeps a dense n × n matrix is warned about. Measured
# on digits: an iteration of BFGS or SLSQP costs 10× one of L-BFGS-B at about 500 parameters,
# 50-70× at 1000 and 150-300× at 2000 (BFGS's update is two n × n matrix products).
DENSE_SLOW_PARAMS = 500

# A user's own minimizer (``method=callable``): minimize passes it jac, hessp, callback and the
# options, among them ``maxiter`` and ``tol``.
CUSTOM = Method("", "maxiter", ("tol",), hessp=True)


def method_spec(method):
    """The :class:`Method` of a method name, or :data:`CUSTOM` for a callable."""
    return CUSTOM if callable(method) else METHODS[method]


def method_options(method, max_iter, options):
    """Return the ``options`` dict for ``minimize``: the ``max_iter`` bound, then ``options``."""
    return {method_spec(method).max_iter: max_iter, **(options or {})}


@dataclass(frozen=True)
class MethodPlan:
    """A fit's method and what ``minimize`` gives it, derived once from (method, max_iter,
    options) by :func:`plan_method`: the checks before the fit, the fit and the check of its
    result all read this one plan.

    ``options`` maps the ``max_iter`` bound to the method's own name for it (``maxiter``,
    ``maxfun`` for TNC), then the user's ``options``, which may override it.
    """

    method: object
    options: dict

    @property
    def spec(self):
        """The method's :class:`Method`."""
        return method_spec(self.method)

    @property
    def limit(self):
        """The iteration bound the method is given in the end."""
        return self.options[self.spec.max_iter]


def plan_method(method, max_iter, options):
    """The :class:`MethodPlan` of ``method`` with the bound ``max_iter`` and ``options``."""
    return MethodPlan(method, method_options(method, max_iter, options))


def method_name(method):
    """A printable name of a method name or callable."""
    return method if isinstance(method, str) else getattr(method, "__name__", repr(method))


def _check_options(method, options):
    """Refuse options that ``method`` does not take, and limits that are no positive integer.

    scipy itself only warns about unknown options, and takes ``maxiter=0`` as one iteration.
    """
    spec = method_spec(method)
    for name in {spec.max_iter, spec.max_fun} - {None}:
        limit = options.get(name)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, Integral) or not 1 <= limit <= MAX_ITER
        ):
            raise ValueError(
                f"options[{name!r}] must be an integer from 1 to {MAX_ITER}, got {limit!r}."
            )
    if callable(method):
        return
    if spec.minimizer is not None:
        known = set(spec.own_options)
        if spec.check_options is not None:
            spec.check_options(options)
    else:
        known = scipy_solver_options(spec.solver)
    if known is None:  # scipy renamed its private solver function: it warns of unknown options
        return
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


def _is_numpy_blas(info):
    # Every BLAS but scipy's own copy: numpy's, or the one numpy and scipy share (MKL, a
    # system OpenBLAS), which the matrix products of the passes run on.
    return info.get("user_api") == "blas" and not _is_scipy_bundled(info["filepath"])


class _BlasSingleThreaded:
    """Limit some of the loaded BLAS libraries to one thread, as a re-entrant context.

    Limits a user has set with ``threadpool_limits`` stay as they are or become stricter.
    Fits may overlap in threads: the first to enter sets the limit, the last to leave restores
    what was there before. The libraries are looked up once, on first use (a scan of every
    loaded library costs milliseconds, a large part of a small fit).

    Parameters
    ----------
    selects : callable
        ``selects(info) -> bool`` for an entry of ``ThreadpoolController().info()``.
    """

    def __init__(self, selects):
        self._selects = selects
        self._lock = threading.Lock()
        self._depth = 0
        self._libraries = None
        self._limiter = None
        self._original = []

    def __enter__(self):
        with self._lock:
            if self._libraries is None:
                controller = ThreadpoolController()
                paths = [info["filepath"] for info in controller.info() if self._selects(info)]
                self._libraries = controller.select(filepath=paths)
            if self._depth == 0:
                self._original = [info["num_threads"] for info in self._libraries.info()]
                self._limiter = self._libraries.limit(limits=1)
            self._depth += 1
        return self

    def original_threads(self):
        """Inside the context: the fewest threads of the libraries before it limited them."""
        with self._lock:
            return min(self._original, default=1)

    def __exit__(self, *exc_info):
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


# The optimizer's own vector work runs on scipy's BLAS while the gradient's matrix products run
# on numpy's. Two thread pools on the same cores fight, and a fit runs several times slower;
# the optimizer's vector work is far too small to need threads.
scipy_blas_single_threaded = _BlasSingleThreaded(lambda info: _is_scipy_bundled(info["filepath"]))
numpy_blas_single_threaded = _BlasSingleThreaded(_is_numpy_blas)

# Below this many floating-point operations in the largest matrix product of a block, numpy's
# BLAS runs on one thread (benchmarks/bench_threads.py, 2-core machine): there a second thread
# gains 0-17% on an idle machine (digits, 5.8 MFLOP) and loses 4-11x when other processes keep
# a core busy, since its synchronization waits for that core. From 11.5 MFLOP up the idle
# machine gains 13-49%, which a size rule cannot give up.
THREADED_PRODUCT_FLOPS = 10e6


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_threads_for(flops):
    """One BLAS thread for the matrix products of a small problem, the default for a large one.

    ``flops`` is the size that decides: the floating-point operations of the largest matrix
    product of a block of rows, 2 r s_l s_{l+1}, or of dense linear algebra that is no sum
    over blocks (the evidence's factorizations). The evaluations of a fit take
    :func:`evaluation_threads` instead.
    """
    if flops < THREADED_PRODUCT_FLOPS:
        return numpy_blas_single_threaded
    return contextlib.nullcontext()


def evaluation_threads(flops, n_blocks):
    """Where the threads of a fit's evaluations come from, as a context for the fit.

    ``flops`` is the size that decides: the floating-point operations of the largest matrix
    product of a block of rows, 2 r s_l s_{l+1} (0 where the passes run elsewhere);
    ``n_blocks`` the number of blocks the data term evaluates.

    - Small products: numpy's BLAS on one thread, the blocks in order.
    - Large products in several blocks: numpy's BLAS on one thread, the blocks handed to as
      many threads as numpy's BLAS had (``_block_pool``), so a user's ``threadpool_limits``
      still sets the count. The result is the same for every count, and a busy core takes
      fewer blocks; OpenBLAS's own threads round differently at each count
      (``benchmarks/bench_blas_bits.py``) and wait for a busy core.
    - Large products in one block: numpy's BLAS as it is.
    """
    if flops < THREADED_PRODUCT_FLOPS:
        return numpy_blas_single_threaded
    if n_blocks < 2:
        return contextlib.nullcontext()
    return _blocks_on_threads()


@contextlib.contextmanager
def _blocks_on_threads():
    with numpy_blas_single_threaded as blas:
        with block_workers(min(blas.original_threads(), _usable_cores())):
            yield


# Sums of squares between these bounds give the norm as the square root of one dot product:
# neither overflowed nor made of squares that underflowed.
_SQUARES_LOW, _SQUARES_HIGH = 1e-200, 1e300


def _norm(vector):
    """The Euclidean norm, without overflow for entries beyond 1e154.

    One pass over the vector (a dot product) where the sum of squares is safely within
    float64's range; scaled by the largest entry otherwise.
    """
    with np.errstate(over="ignore", under="ignore"):
        squares = float(np.dot(vector, vector))
    if _SQUARES_LOW < squares < _SQUARES_HIGH:
        return math.sqrt(squares)
    largest = float(np.max(np.abs(vector), initial=0.0))
    if largest == 0.0 or not np.isfinite(largest):
        return largest
    return largest * float(np.linalg.norm(vector / largest))


def _all_finite(array):
    """Whether every entry is finite: a sum is finite only if every entry is (inf and nan
    propagate), one pass without a new array; the entries are looked at one by one only
    where the sum overflowed."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(array))
    return math.isfinite(total) or bool(np.isfinite(array).all())


def _with_norm(loss, gradient):
    return loss, _norm(gradient)


class _Stop(Exception):
    """Raised to end ``minimize`` at the current point: by a listener, or on a breakdown."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Stop:
    """A listener's request to end the fit after this iteration."""

    reason: str
    message: str


@dataclass(frozen=True)
class Coordinates:
    """The method's coordinates u of the parameters: θ = shift + scale ⊙ u, and J / factor.

    A change of variables moves no minimum of J; it changes only what the method sees: the
    size of its first steps and of the gradient its tolerances test. A regressor measures its
    output layer in units of the targets (the mean on the output biases, the spread on the
    output layer) and J in units of their variance, so that targets around 1e6, or of spread
    1e-3, take the steps of standardized ones (``_objective.target_coordinates``).
    """

    shift: np.ndarray
    scale: np.ndarray
    factor: float

    def theta(self, u):
        """θ of the method's u."""
        return self.shift + self.scale * u

    def u(self, theta):
        """The method's u of θ."""
        return (theta - self.shift) / self.scale


def target_coordinates(data):
    """Coordinates in which the output layer is measured in units of the targets.

    For identity outputs with the squared error. At zero output weights the outputs are the
    output biases b, so the data term's own sums give the targets' weighted mean and spread:
    at b = 0 its gradient with respect to b is −Σ_i w_i y_i, and at b = μ its cost is
    ½ Σ_i w_i ‖y_i − μ‖². Written over the data term alone, this serves every place the rows
    live, for the price of two evaluations.

    The spread σ is the root mean variance of the target columns (1 for constant targets):
    u = 0 on the output layer is b = μ, and a unit step of u there moves the outputs by σ.
    """
    network = data.network
    theta = np.zeros(network.n_params, dtype=np.float64)
    gradient = np.empty_like(theta)
    data.loss_gradient_sum(theta, gradient)
    _, output_bias = network.unpack(theta)[-1]
    output_bias[:] = -network.unpack(gradient)[-1][1] / data.total_weight
    spread = data.loss_sum(theta) / data.total_weight
    variance = 2.0 * spread / output_bias.size
    if not (np.isfinite(variance) and variance > np.finfo(np.float64).tiny):
        variance = 1.0
    scale = np.ones_like(theta)
    output_W, output_b = network.unpack(scale)[-1]
    output_W[...] = output_b[...] = np.sqrt(variance)
    return Coordinates(shift=theta, scale=scale, factor=float(variance))


@dataclass
class Iteration:
    """The record of one iteration that the monitor hands to every listener, in order.

    ``theta`` is the listeners' own copy of the iterate, never written to by the fit. A
    listener that scores the iterate on held-out rows (early stopping) fills in
    ``validation_score`` and ``validation_loss`` for the listeners after it.
    """

    number: int
    theta: np.ndarray
    loss: float
    gradient_norm: float
    elapsed: float
    validation_score: float | None = None
    validation_loss: float | None = None


class Monitor:
    """What happens around the method: counts, checks, and one record per iteration.

    The method calls ``fun``, ``hessp`` and ``callback``. ``fun`` counts the evaluations,
    refuses a non-finite J and remembers the evaluated point of lowest J (where Ctrl-C and a
    breakdown of the method end the fit). ``callback`` makes an :class:`Iteration` record and
    hands it to each listener in turn; a listener returns None or a :class:`Stop`, and after
    all of them have seen the iteration the fit ends if one asked (the user's callback first).

    Parameters
    ----------
    loss_gradient : callable
        ``loss_gradient(theta) -> (J, gradient)``.
    curvature : callable or None
        ``curvature(theta, v) -> H v`` for the methods that take ``hessp``.
    listeners : sequence of callable
        ``listener(record) -> Stop or None``, called after every iteration.
    first_iteration : int
        Number of the first iteration, so a warm-started fit continues the count.
    coordinates : Coordinates or None
        The coordinates the method works in, if not θ itself. Everything recorded (the loss
        curve, the iterates the listeners get, the best point) is of θ and J.
    """

    _CACHE_SIZE = 4

    def __init__(
        self, loss_gradient, curvature=None, *, listeners=(), first_iteration=1, coordinates=None
    ):
        self.loss_gradient = loss_gradient
        self.curvature = curvature
        self.coordinates = coordinates
        self.listeners = list(listeners)
        self.iteration = first_iteration - 1
        self.n_fun_evals = 0
        self.n_hessp_evals = 0
        self.loss_curve = []
        self.best_loss, self.best_theta = np.inf, None
        self.iterate = None
        self._recent = []  # (theta, loss, gradient norm) of the last evaluations
        self._start = time.perf_counter()

    def to_method(self, theta):
        """The method's coordinates of θ."""
        return theta if self.coordinates is None else self.coordinates.u(theta)

    def from_method(self, u):
        """θ of the method's coordinates."""
        return u if self.coordinates is None else self.coordinates.theta(u)

    def fun(self, u):
        """J and ∇J for the method, in its coordinates: counted, checked finite, remembered."""
        if not _all_finite(u):
            # The method itself broke down (a division by zero in its own step, say): end the
            # fit at the best parameters evaluated, not with an error about the network.
            raise _Stop("breakdown", BREAKDOWN_MESSAGE)
        loss, gradient = self._evaluate(self.from_method(u))
        if self.coordinates is None:
            return loss, gradient
        # d(J / c)/du = scale ⊙ ∇J / c, by the chain rule through θ = shift + scale ⊙ u.
        factor = self.coordinates.factor
        return loss / factor, gradient * (self.coordinates.scale / factor)

    def _evaluate(self, theta):
        """J and ∇J at θ: counted, checked finite, remembered."""
        loss, gradient = self.loss_gradient(theta)
        self.n_fun_evals += 1
        if not (np.isfinite(loss) and _all_finite(gradient)):
            # A method fed nan keeps going and returns a model of nan: stop here instead.
            raise ValueError(
                f"The cost J or its gradient became non-finite (J = {loss}) at evaluation "
                f"{self.n_fun_evals}: the network overflowed. Scale the features (for example "
                f"with StandardScaler) and, for a regressor, the targets; check alpha and the "
                f"sample weights."
            )
        # One copy serves both records: neither is ever written to.
        theta_copy = theta.copy()
        if loss < self.best_loss:
            self.best_loss, self.best_theta = loss, theta_copy
        self._recent = [(theta_copy, loss, _norm(gradient)), *self._recent[: self._CACHE_SIZE - 1]]
        return loss, gradient

    def hessp(self, u, v):
        """The curvature product for the method, in its coordinates, counted."""
        if not (_all_finite(u) and _all_finite(v)):
            raise _Stop("breakdown", BREAKDOWN_MESSAGE)
        self.n_hessp_evals += 1
        if self.coordinates is None:
            return self.curvature(u, v)
        # The Hessian in u is diag(scale) H diag(scale) / c.
        scale = self.coordinates.scale
        product = self.curvature(self.from_method(u), scale * v)
        product *= scale / self.coordinates.factor
        return product

    def recall(self, theta):
        """J and the norm of ∇J at θ if θ was among the last evaluations, else None."""
        for recent_theta, loss, gradient_norm in self._recent:
            if np.array_equal(theta, recent_theta):
                return loss, gradient_norm
        return None

    def loss_and_gradient_norm(self, theta):
        """J and the norm of ∇J at θ: remembered if θ was evaluated recently, else evaluated."""
        # Methods call back with a point they evaluated recently; evaluate only if not.
        return self.recall(theta) or _with_norm(*self._evaluate(theta))

    def final_loss_and_gradient_norm(self, theta):
        """J and the norm of ∇J at the returned θ, not counted as an evaluation of the method."""
        return self.recall(theta) or _with_norm(*self.loss_gradient(theta))

    def callback(self, u, *state):
        """Called by the method after each iteration with its iterate (trust-constr adds a
        state): record θ, hand the record to the listeners, stop the method if one asks."""
        self.iteration += 1
        theta = self.from_method(u)
        self.iterate = theta.copy()
        loss, gradient_norm = self.loss_and_gradient_norm(theta)
        self.loss_curve.append(loss)
        record = Iteration(
            self.iteration, self.iterate, loss, gradient_norm, time.perf_counter() - self._start
        )
        stops = [stop for stop in (listener(record) for listener in self.listeners) if stop]
        if stops:
            stop = min(stops, key=lambda stop: stop.reason != "callback")
            raise _Stop(stop.reason, stop.message)

    def stopped_result(self, stop):
        """The result when a listener, Ctrl-C or a breakdown of the method ends the fit.

        A listener ends the fit at the current iterate; Ctrl-C and a breakdown at the evaluated
        point of lowest J.
        """
        if stop.reason in ("interrupted", "breakdown"):
            theta, loss = self.best_theta, self.best_loss
        else:
            theta, loss = self.iterate, self.loss_curve[-1]
        return OptimizeResult(
            x=np.array(theta, dtype=np.float64),
            fun=loss,
            success=stop.reason not in ("interrupted", "breakdown"),
            status={"interrupted": -1, "breakdown": -2}.get(stop.reason, 0),
            message=stop.message,
            stopped_by=stop.reason,
        )


BREAKDOWN_MESSAGE = (
    "The method broke down: it proposed non-finite parameters; the fit ended at the evaluated "
    "parameters of lowest J"
)
INTERRUPTED = _Stop("interrupted", "Interrupted by KeyboardInterrupt")


class Printer:
    """Print one line per iteration: J, the norm of its gradient, the validation score, time."""

    def __call__(self, record):
        line = (
            f"Iteration {record.number:4d}, loss = {record.loss:.8f}, "
            f"gradient norm = {record.gradient_norm:.3e}"
        )
        if record.validation_score is not None:
            line += f", validation score = {record.validation_score:.6f}"
        print(f"{line}, time = {record.elapsed:.2f}s", flush=True)


class UserCallback:
    """Call the user's ``callback(iteration, loss, gradient_norm, coefs, intercepts)``.

    Parameters
    ----------
    callback : callable
        Returns True to end the fit, False or None to go on.
    views : callable
        ``views(theta) -> (coefs, intercepts)``, per-layer views of θ.
    """

    def __init__(self, callback, views):
        self.callback = callback
        self.views = views

    def __call__(self, record):
        # The user's own copy: whatever the callback does to it, the fit's records stay.
        coefs, intercepts = self.views(record.theta.copy())
        answer = self.callback(record.number, record.loss, record.gradient_norm, coefs, intercepts)
        if answer is not None and not isinstance(answer, bool | np.bool_):
            raise TypeError(f"callback must return True (to stop), False or None, got {answer!r}.")
        return Stop("callback", "Stopped by the callback") if answer else None


class EarlyStopping:
    """Score every iterate on held-out rows; ask to stop once the score stops improving.

    Keeps the best-scoring iterate, which the fit returns however it ends.

    Parameters
    ----------
    validation : callable
        ``validation(theta) -> (loss, score)`` on the held-out rows.
    n_iter_no_change : int or inf
        Iterations without a score better than the best by ``tol`` before the fit ends.
    tol : float
        Least improvement of the score that counts.
    """

    def __init__(self, validation, n_iter_no_change, tol):
        self.validation = validation
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scores = []
        self.losses = []
        self.best_score, self.best_theta = -np.inf, None
        self._no_improvement = 0

    def offer_start(self, theta):
        """Make θ the best parameters so far, without recording an iteration.

        A warm-started fit starts from the parameters a previous fit chose for their
        validation score: the new fit returns others only if they score better.
        """
        _, score = self.validation(theta)
        self.best_score, self.best_theta = score, theta.copy()

    def __call__(self, record):
        loss, score = self.validation(record.theta)
        record.validation_loss, record.validation_score = loss, score
        self.losses.append(loss)
        self.scores.append(score)
        if score > self.best_score + self.tol:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if score > self.best_score:
            self.best_score, self.best_theta = score, record.theta
        if self._no_improvement >= self.n_iter_no_change:
            return Stop(
                "early_stopping",
                f"Stopped early: validation score did not improve by more than tol for "
                f"{self.n_iter_no_change} iterations",
            )
        return None

    def choose(self, theta):
        """The parameters to return: the best scored, or θ if no iterate was scored."""
        if self.best_theta is None:  # no iteration: the start is all there is to offer
            self.offer_start(theta)
        return self.best_theta


def minimize_objective(monitor, theta0, *, plan, tol, early_stopping=None, dtype=np.float64):
    """Minimize J from ``theta0`` with ``scipy.optimize.minimize`` (or our own L-BFGS);
    return its result.

    Parameters
    ----------
    monitor : Monitor
        Supplies J, ∇J and the curvature product, and records every iteration.
    theta0 : ndarray of shape (n_params,)
        Starting parameters, float64.
    plan : MethodPlan
        The method (a key of :data:`METHODS`, or a minimizer as ``scipy.optimize.minimize``
        accepts) and its options, the bound on its iterations (evaluations of J for TNC)
        among them (:func:`plan_method`).
    tol : float
        ``minimize``'s ``tol``; 0 turns the method's tolerance tests off.
    early_stopping : EarlyStopping or None
        The early-stopping listener of ``monitor``, if any: it chooses the parameters.
    dtype : numpy dtype, default=np.float64
        The dtype the evaluations of J compute in; our own methods keep their curvature
        history in it (``_lbfgs``).

    Returns
    -------
    x : ndarray of shape (n_params,)
        The parameters the fit ends with: the method's solution; with early stopping those
        of the best validation score; after an interrupt or a breakdown of the method (it
        proposed non-finite parameters), the evaluated parameters of lowest J.
    summary : dict
        ``success``, ``status``, ``message`` of the method, ``fun`` (J at ``x``, evaluated
        here), ``gradient_norm`` (of ∇J at ``x``), ``nit`` (iterations), ``nfev``
        (evaluations of J and ∇J), ``nhev`` (curvature products), and ``stopped_by``
        (``"callback"``, ``"early_stopping"``, ``"interrupted"`` or ``"breakdown"``) when the
        fit did not end by the method's own test.

    Raises
    ------
    ValueError
        If J or its gradient becomes non-finite at finite parameters, or a custom method
        returns parameters of the wrong shape or non-finite ones.
    TypeError
        If a custom method returns no ``OptimizeResult`` or an ``x`` that holds no numbers.
    """
    method, options = plan.method, dict(plan.options)
    if method == "Newton-CG" and tol == 0:
        # Newton-CG of scipy < 1.12 never starts with xtol=0 (its first update is 2 xtol).
        options.setdefault("xtol", np.finfo(np.float64).tiny)
    hessp = monitor.hessp if plan.spec.hessp and monitor.curvature else None
    # Overflow in a pass shows as a non-finite J, which Monitor.fun refuses with a clear error,
    # and a method's own division by zero as non-finite parameters, which end the fit at the
    # best point: numpy's warnings on the way there would only be noise.
    with (
        scipy_blas_single_threaded,
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
    ):
        try:
            if plan.spec.minimizer is not None:
                result = plan.spec.minimizer(
                    monitor.fun,
                    monitor.to_method(theta0),
                    callback=monitor.callback,
                    tol=tol,
                    dtype=dtype,
                    **options,
                )
            else:
                result = minimize(
                    monitor.fun,
                    monitor.to_method(theta0),
                    jac=True,
                    hessp=hessp,
                    method=method,
                    tol=tol,
                    options=options,
                    callback=monitor.callback,
                )
            x = monitor.from_method(_check_solution(result, method, theta0.size))
        except _Stop as stop:
            if monitor.best_theta is None:
                raise ValueError(
                    f"The method {method_name(method)} proposed non-finite parameters before "
                    f"evaluating any finite ones."
                ) from None
            result = monitor.stopped_result(stop)
            x = result.x
        except KeyboardInterrupt:
            # Ctrl-C ends a long fit with the best parameters so far, not with nothing.
            if monitor.best_theta is None:
                raise
            result = monitor.stopped_result(INTERRUPTED)
            x = result.x
    if early_stopping is not None:
        # Early stopping keeps the parameters of the best validation score, however it ended.
        x = early_stopping.choose(x)
    # J at the returned parameters, evaluated by us: a method's own report may be of another
    # point (L-BFGS-B after an abnormal line search) or missing (a custom method).
    loss, gradient_norm = monitor.final_loss_and_gradient_norm(x)
    return x, _summary(result, monitor, loss, gradient_norm)


def _check_solution(result, method, n_params):
    """The parameters in ``result``, as float64; refuse a result that holds no such vector."""
    name = method_name(method)
    if not isinstance(result, OptimizeResult) or "x" not in result:
        raise TypeError(
            f"The method {name} must return a scipy.optimize.OptimizeResult with the solution "
            f"in 'x', got {type(result).__name__}."
        )
    try:
        x = np.array(result.x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"The method {name} returned x that is not an array of numbers: {error}."
        ) from error
    if x.shape != (n_params,):
        raise ValueError(
            f"The method {name} returned x of shape {x.shape}; the network has "
            f"({n_params},) parameters."
        )
    if not np.isfinite(x).all():
        raise ValueError(f"The method {name} returned non-finite parameters (NaN or inf) in x.")
    return x


def _summary(result, monitor, loss, gradient_norm):
    """What a fitted estimator keeps of the result: plain numbers and text, no solver state.

    L-BFGS-B's result alone holds its inverse-Hessian memory, twenty times the size of the
    network it fitted.
    """
    summary = {
        "success": bool(result.get("success", True)),
        "status": int(result.get("status", 0)),
        "message": str(result.get("message", "")),
        "fun": float(loss),
        "gradient_norm": float(gradient_norm),
        "nit": len(monitor.loss_curve),
        "nfev": monitor.n_fun_evals,
        "nhev": monitor.n_hessp_evals,
    }
    if "stopped_by" in result:
        summary["stopped_by"] = result["stopped_by"]
    return summary


NOT_REPRODUCIBLE = (
    "method={method!r} is not reproducible: the same random_state can give a different model "
    "in each fit. scipy's trust-krylov subproblem solver (TRLIB) starts an inverse iteration "
    "from a vector seeded with the clock, time(NULL), and C's rand(), and its wrapper reads an "
    "uninitialized row of its Krylov basis; neither can be fixed from outside scipy. Use "
    "method='trust-ncg' or 'Newton-CG' for reproducible second-order fits."
)


def check_reproducible(method, random_state):
    """Warn when ``random_state`` asks for a reproducible fit that ``method`` cannot give."""
    if random_state is not None and not method_spec(method).reproducible:
        warnings.warn(
            NOT_REPRODUCIBLE.format(method=method_name(method)),
            UserWarning,
            stacklevel=caller_stacklevel(),
        )


def check_method(plan, n_params):
    """Refuse what the method cannot run, and warn where a method will be slow: before the fit.

    Checks the options of the :class:`MethodPlan` against those the method takes, and that a
    method which keeps a dense n × n matrix fits in memory, before anything of the size of the
    network is allocated.
    """
    method = plan.method
    _check_options(method, plan.options)
    check_dense_memory(method, n_params)
    if not callable(method) and METHODS[method].dense and n_params > DENSE_SLOW_PARAMS:
        warnings.warn(
            f"Method {method!r} updates a dense {n_params:,}-by-{n_params:,} matrix at every "
            f"iteration: for more than {DENSE_SLOW_PARAMS:,} parameters its iterations cost "
            f"far more than those of 'L-BFGS-B', which keeps a few vectors instead.",
            EfficiencyWarning,
            stacklevel=caller_stacklevel(),
        )


def check_result(result, plan):
    """Warn unless the method succeeded or was stopped on purpose; return ``n_iter_``.

    The one place where the summary of a result is read for its status. The iteration limit
    is the one the method was given (``plan.limit``): ``max_iter``, unless ``options``
    overrode it. The warning points at the first line outside sklearn-bp and scikit-learn: the
    one that called ``fit``.
    """
    method, option, limit = plan.method, plan.spec.max_iter, plan.limit
    n_iter = int(result["nit"])
    name = method_name(method)
    stopped_by = result.get("stopped_by")
    warns = stopped_by in ("breakdown", "interrupted") or (
        not result.get("success", True) and stopped_by is None
    )
    if not warns:
        return n_iter
    stacklevel = caller_stacklevel()  # only now: it walks the stack
    if stopped_by == "breakdown":
        warnings.warn(
            f"{name} broke down after {n_iter} iteration(s): it proposed non-finite "
            f"parameters. The estimator holds the evaluated parameters of lowest J "
            f"(J = {result['fun']:.6g}); try another method or a larger tol.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    elif stopped_by == "interrupted":
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
        if (result["nfev"] if option == "maxfun" else n_iter) >= limit:
            message += f" Increase max_iter (now {limit}) or tol, or scale the data."
        warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)
    return n_iter
