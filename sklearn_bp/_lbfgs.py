"""L-BFGS of our own: the two-loop recursion with a strong-Wolfe line search, no bounds.

``method="L-BFGS"`` of the estimators. It is the algorithm of ``torch.optim.LBFGS``
(Nocedal and Wright, *Numerical Optimization*, algorithms 7.4 and 3.5-3.6: history of the
last ``maxcor`` curvature pairs, initial inverse Hessian γ I with γ = sᵀy / yᵀy, the strong
Wolfe line search of More and Thuente's kind with cubic interpolation, c₁ = 1e-4, c₂ = 0.9,
first step min(1, 1/‖g‖₁), then 1), with the stopping tests of scipy's L-BFGS-B, so that
``tol`` means what it means for ``method="L-BFGS-B"``:

- the relative reduction of J, (J_k − J_{k+1}) / max(|J_k|, |J_{k+1}|, 1), at most ``ftol``;
- the largest entry of the gradient at most ``gtol``.

Why it exists: scipy's L-BFGS-B handles bounds with a compact representation of the inverse
Hessian and a generalized Cauchy point, work that the unbounded problem of a network does not
need and that costs 13-17 ms per iteration at 269,322 parameters on a 2-core Xeon, more than
the evaluation of J on PyTorch tensors gains over NumPy's (``benchmarks/bench_torch_lbfgs.py``).
The two-loop recursion costs about 4 ``maxcor`` passes over a vector of the parameters.

The vectors are NumPy float64 vectors on the host, as the monitor hands them out; on the CPU
a PyTorch tensor and a NumPy array share the same memory, and only θ and the gradient cross
between them at each evaluation.
"""

import math
from numbers import Integral, Real

import numpy as np
from scipy.linalg.blas import get_blas_funcs
from scipy.optimize import OptimizeResult

# The options ``method="L-BFGS"`` takes (``fit``'s ``options``), with scipy's names.
OPTIONS = ("maxiter", "maxfun", "maxcor", "maxls", "ftol", "gtol")
# A curvature pair enters the history only when sᵀy > EPS yᵀy (scipy's L-BFGS-B skips pairs
# by a relative test too; torch.optim.LBFGS's absolute 1e-10 freezes the history near a
# minimum where J itself is small).
EPS = np.finfo(np.float64).eps
# The line search gives up on a bracket shorter than this along the direction's largest entry.
MIN_BRACKET = 1e-9
C1, C2 = 1e-4, 0.9


def check_options(options):
    """Refuse values of ``maxcor``, ``maxls``, ``ftol`` and ``gtol`` the method cannot use,
    before the fit; ``maxiter`` and ``maxfun`` are checked with every method's."""
    for name in ("maxcor", "maxls"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, Integral) or value < 1
        ):
            raise ValueError(f"options[{name!r}] must be a positive integer, got {value!r}.")
    for name in ("ftol", "gtol"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(
                f"options[{name!r}] must be a finite number at least 0, got {value!r}."
            )


def _dot(a, b):
    return float(np.dot(a, b))


def _largest(v):
    """The largest |entry| of v, in two passes without a new array."""
    return max(float(v.max(initial=0.0)), -float(v.min(initial=0.0)))


def _cubic_minimum(t1, f1, g1, t2, f2, g2, bounds=None):
    """The minimizer of the cubic through (t1, f1, slope g1) and (t2, f2, slope g2), within
    ``bounds`` (the interval between t1 and t2 by default); its middle if there is none."""
    low, high = bounds if bounds is not None else (min(t1, t2), max(t1, t2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    square = d1 * d1 - g1 * g2
    if not square >= 0:  # no real minimizer (or NaN)
        return (low + high) / 2
    d2 = math.sqrt(square)
    if t1 <= t2:
        t = t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = t1 - (t1 - t2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    if not math.isfinite(t):
        return (low + high) / 2
    return min(max(t, low), high)


class _Point:
    """A point on the search line: step t, its x, J, ∇J and slope ∇Jᵀd."""

    __slots__ = ("f", "g", "slope", "t", "x")

    def __init__(self, t, x, f, g, slope):
        self.t, self.x, self.f, self.g, self.slope = t, x, f, g, slope


def _strong_wolfe(evaluate, start, d, t, max_evals):
    """A step along d from ``start`` (a :class:`_Point` at t = 0) that satisfies the strong
    Wolfe conditions, found in at most ``max_evals`` evaluations (at least one); the point of
    lowest J among the bracket's ends otherwise, which may be ``start``. Returns the point
    and the number of evaluations."""
    f0, slope0 = start.f, start.slope
    d_max = _largest(d)
    more = max_evals - 1  # evaluations after the first
    new = evaluate(t)
    n = 0
    previous = start
    done = False
    bracket = None
    # Bracketing: grow the step until J rises, the slope turns, or the conditions hold.
    while n < more:
        if new.f > f0 + C1 * new.t * slope0 or (n > 1 and new.f >= previous.f):
            bracket = [previous, new]
            break
        if abs(new.slope) <= -C2 * slope0:
            bracket = [new]
            done = True
            break
        if new.slope >= 0:
            bracket = [previous, new]
            break
        t_next = _cubic_minimum(
            previous.t, previous.f, previous.slope, new.t, new.f, new.slope,
            bounds=(new.t + 0.01 * (new.t - previous.t), new.t * 10),
        )  # fmt: skip
        previous, new = new, evaluate(t_next)
        n += 1
    if bracket is None:  # out of evaluations while growing the step
        bracket = [start, new]
    if done:
        return bracket[0], n + 1
    # Zoom: shrink the bracket around a point that satisfies the conditions.
    insufficient = False
    low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    while not done and n < more:
        a, b = bracket[0].t, bracket[1].t
        if abs(b - a) * d_max < MIN_BRACKET:
            break
        t = _cubic_minimum(a, bracket[0].f, bracket[0].slope, b, bracket[1].f, bracket[1].slope)
        lo, hi = min(a, b), max(a, b)
        margin = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < margin:
            # Close to an end of the bracket: twice in a row, or at the end, move inside.
            if insufficient or t >= hi or t <= lo:
                t = hi - margin if abs(t - hi) < abs(t - lo) else lo + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        new = evaluate(t)
        n += 1
        if new.f > f0 + C1 * new.t * slope0 or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.slope) <= -C2 * slope0:
                done = True
            elif new.slope * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    return bracket[low], n + 1


def minimize_lbfgs(
    fun,
    x0,
    *,
    callback=None,
    tol=None,
    maxiter=15000,
    maxfun=15000,
    maxcor=10,
    maxls=25,
    ftol=None,
    gtol=None,
    dtype=np.float64,
):
    """Minimize ``fun`` from ``x0`` with L-BFGS and a strong-Wolfe line search.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, gradient)``, f a float and the gradient a new float64 array.
    x0 : ndarray of shape (n,)
        The start.
    callback : callable or None
        ``callback(x)`` after every iteration, with the x ``fun`` was evaluated at; an
        exception it raises ends the minimization.
    tol : float or None
        ``ftol`` and ``gtol`` where these are not given (as for scipy's L-BFGS-B).
    maxiter, maxfun : int
        The most iterations and evaluations of ``fun``.
    maxcor : int
        The curvature pairs kept (the history).
    maxls : int
        The most evaluations of one line search.
    ftol : float or None
        Stop when the relative reduction of f is at most this (default 2.22e-9, scipy's).
    gtol : float or None
        Stop when the largest entry of the gradient is at most this (default 1e-5, scipy's).
    dtype : numpy dtype, default=np.float64
        The dtype of the curvature pairs and of the two-loop recursion: the one the gradient
        was computed in (a gradient computed in float32 carries float32's precision, and the
        recursion reads the pairs at half the bytes). The iterate, J, the line search and
        the scalars sᵀy and yᵀy stay float64.

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``status`` (0 converged, 1 a limit
        reached, 2 the line search found no lower f), ``success`` and ``message``.
    """
    ftol = (2.220446049250313e-09 if tol is None else tol) if ftol is None else ftol
    gtol = (1e-5 if tol is None else tol) if gtol is None else gtol
    x = np.array(x0, dtype=np.float64)
    dtype = np.dtype(dtype)
    dot, axpy = get_blas_funcs(("dot", "axpy"), dtype=dtype)
    f, g = fun(x)
    nfev, nit = 1, 0
    steps, changes, rho = [], [], []  # s_k, y_k and 1 / s_kᵀy_k, oldest first
    alpha = [0.0] * maxcor
    gamma = None  # scale of the initial inverse Hessian; None: no pair yet
    status, message = None, None
    if _largest(g) <= gtol:
        status, message = 0, "Converged: the largest entry of the gradient is at most gtol"
    while status is None:
        # The direction d = −H g by the two-loop recursion, in the pairs' dtype; y ← a x + y
        # in place by BLAS's axpy.
        q = np.negative(g, dtype=dtype)
        for i in range(len(steps) - 1, -1, -1):
            alpha[i] = rho[i] * float(dot(steps[i], q))
            axpy(changes[i], q, a=-alpha[i])
        if gamma is not None:
            q *= gamma
            for i in range(len(steps)):
                beta = rho[i] * float(dot(changes[i], q))
                axpy(steps[i], q, a=alpha[i] - beta)
        d = q if dtype == np.float64 else q.astype(np.float64)
        slope = _dot(g, d)
        if not slope < 0:  # no descent direction (rounding in the history): start afresh
            steps, changes, rho, gamma = [], [], [], None
            d = np.negative(g)
            slope = _dot(g, d)
        t = min(1.0, 1.0 / float(np.sum(np.abs(g)))) if gamma is None else 1.0

        def evaluate(t, x=x, d=d):
            x_t = x + t * d
            f_t, g_t = fun(x_t)
            return _Point(t, x_t, f_t, g_t, _dot(g_t, d))

        start = _Point(0.0, x, f, g, slope)
        budget = min(maxls, maxfun - nfev)
        point, evals = _strong_wolfe(evaluate, start, d, t, budget)
        nfev += evals
        if not point.f < f:
            status, message = 2, "The line search found no lower J along the direction"
            break
        nit += 1
        s = point.x - x
        y = point.g - g
        sy, yy = _dot(s, y), _dot(y, y)
        if sy > EPS * yy:
            if len(steps) == maxcor:
                steps.pop(0), changes.pop(0), rho.pop(0)
            steps.append(s.astype(dtype, copy=False))
            changes.append(y.astype(dtype, copy=False))
            rho.append(1.0 / sy)
            gamma = sy / yy
        f_previous = f
        x, f, g = point.x, point.f, point.g
        if callback is not None:
            callback(x)
        if (f_previous - f) <= ftol * max(abs(f_previous), abs(f), 1.0):
            status, message = 0, "Converged: the relative reduction of J is at most ftol"
        elif _largest(g) <= gtol:
            status, message = 0, "Converged: the largest entry of the gradient is at most gtol"
        elif nit >= maxiter:
            status, message = 1, "The number of iterations reached maxiter"
        elif nfev >= maxfun:
            status, message = 1, "The number of evaluations of J reached maxfun"
    return OptimizeResult(
        x=x, fun=f, jac=g, nit=nit, nfev=nfev, status=status, success=status == 0,
        message=message,
    )  # fmt: skip
