"""
======================================
Comparing the optimizers on the digits
======================================

:class:`~sklearn_bp.BackpropClassifier` computes the cost J and its gradient by backpropagation
and hands both to :func:`~scipy.optimize.minimize`, which does the descending. ``method``
chooses how: L-BFGS-B (the default), CG and BFGS use the gradient only; TNC, Newton-CG and
trust-ncg build Newton steps, the latter two from the curvature products that sklearn-bp
computes exactly, either with the Hessian of J (``hessian="exact"``) or with the Gauss-Newton
matrix (``hessian="gauss-newton"``).

This example fits the same network from the same initial weights with six of these methods,
trust-ncg with both products, records J after every iteration with the ``callback``
parameter, and draws J against the wall-clock time and against the work done, counted in
evaluations. Iterations themselves are a poor yardstick: one iteration of Newton-CG does far
more work than one of L-BFGS-B.
"""

# %%
# The problem
# -----------
#
# The 1797 handwritten digits of scikit-learn (8×8 pixels, 10 classes), standardized, with one
# hidden layer of 25 logistic units and ``alpha=1``: 64 × 25 + 25 × 10 weights and 35 biases,
# 1885 parameters in all. This is an optimization benchmark, not a study of generalization, so
# all rows are used for training.

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
network = {"hidden_layer_sizes": (25,), "alpha": 1.0, "random_state": 0}

# %%
# Counting as the fit goes
# ------------------------
#
# ``callback(iteration, loss, gradient_norm, coefs, intercepts)`` is called after every
# iteration, and ends the fit when it returns True. It records the time and J, and stops the
# fit at the target, or after a budget of iterations: a method that crawls would otherwise take
# minutes.
#
# The counts of evaluations, ``n_fun_evals_`` (J with its gradient) and ``n_hessp_evals_``
# (curvature products), are only set when the fit ends. To know them after every iteration, the
# class below also hands ``fit`` a ``method`` of its own: a callable that runs the chosen
# scipy method through :func:`~scipy.optimize.minimize` with the same ``maxiter`` and ``tol``
# that ``fit`` passes it, and counts the calls on the way. (``fit`` hands such a callable J and
# its gradient as two functions that share one evaluation; the wrapper joins them again.) In
# your own code you would simply write ``method="CG"``; the counts it reaches at the end of a
# fit are the same, which the table below confirms.

SECOND_ORDER = {"Newton-CG", "trust-ncg"}  # the methods that use curvature products


class Run:
    """One fit: (seconds, J, evaluations of J, curvature products) at the start and after
    every iteration, until J reaches ``target`` or ``budget`` iterations are done."""

    def __init__(self, name, target, budget):
        self.name, self.target, self.budget = name, target, budget
        self.n_fun = self.n_hessp = 0
        self.history = []

    def record(self, loss):
        elapsed = time.perf_counter() - self.start
        self.history.append((elapsed, loss, self.n_fun, self.n_hessp))

    def callback(self, iteration, loss, gradient_norm, coefs, intercepts):
        self.record(loss)
        return bool(loss <= self.target or iteration >= self.budget)

    def method(self, fun, x0, args=(), jac=None, hessp=None, callback=None, **options):
        def loss_gradient(theta):
            self.n_fun += 1
            loss = fun(theta)
            if self.n_fun == 1:  # J(θ₀), where every curve starts
                self.record(loss)
            return loss, jac(theta)

        def curvature(theta, v):
            self.n_hessp += 1
            return hessp(theta, v)

        # TNC bounds its evaluations of J, not its iterations (as fit does for method="TNC").
        limit = "maxfun" if self.name == "TNC" else "maxiter"
        return minimize(
            loss_gradient,
            x0,
            jac=True,
            hessp=curvature if self.name in SECOND_ORDER else None,
            method=self.name,
            tol=options["tol"],
            callback=callback,
            options={limit: options["maxiter"]},
        )

    def fit(self, X, y, **params):
        self.start = time.perf_counter()
        estimator = BackpropClassifier(method=self.method, callback=self.callback, **params)
        return estimator.fit(X, y)


# %%
# The lowest cost, and a target
# -----------------------------
#
# Every fit starts from the same θ₀, drawn by ``random_state=0``. A first fit with L-BFGS-B and
# a tolerance far below the default runs until J stops decreasing in its last digits; its cost
# J*, the lowest cost known from θ₀, is what the other fits are measured against.
#
# Running every method all the way to J* would take long, so each fit is stopped once it is
# close: when J has covered 99.9% of the way from J(θ₀) to J*. That is close enough for the
# slow last stretch of each method to show, and for the fast final convergence that Newton-type
# methods promise to have a chance.

reference = Run("L-BFGS-B", target=-np.inf, budget=np.inf)
reference.fit(X, y, **network, max_iter=2000, tol=1e-9)
J0, J_star = reference.history[0][1], reference.history[-1][1]
target = J_star + 1e-3 * (J0 - J_star)
print(f"J(theta0) = {J0:.6f}, J* = {J_star:.6f} after {len(reference.history) - 1} iterations")
print(f"target: J <= {target:.6f}")

# %%
# The race
# --------
#
# Seven contestants: the three gradient-only methods and TNC, Newton-CG with the exact Hessian
# product, and trust-ncg with both products. Every fit gets ``max_iter=1000``, more than any
# of them uses, and ``tol=1e-10``, so small that the target, not a method's own test, ends the
# fits. Two get a smaller budget of iterations. trust-ncg with the Gauss-Newton product
# crawls near the minimum: 100 iterations show it. BFGS updates a dense 1885 × 1885 estimate
# of the inverse Hessian with matrix products of O(n³) operations, a large part of a second
# per iteration, so it gets 3 iterations (with ``method="BFGS"``, ``fit`` warns about this
# with an :class:`~sklearn.exceptions.EfficiencyWarning`).

contestants = [
    ("L-BFGS-B", "exact", 1000),
    ("CG", "exact", 1000),
    ("BFGS", "exact", 3),
    ("TNC", "exact", 1000),
    ("Newton-CG", "exact", 1000),
    ("trust-ncg", "exact", 1000),
    ("trust-ncg", "gauss-newton", 100),
]
runs, estimators = {}, {}
for name, hessian, budget in contestants:
    label = f"{name} ({hessian})" if name in SECOND_ORDER else name
    run = Run(name, target, budget)
    estimators[label] = run.fit(X, y, **network, hessian=hessian, max_iter=1000, tol=1e-10)
    runs[label] = run

# %%
# What each fit did
# -----------------
#
# The table gives, for every fit, its iterations and evaluations, as the estimator reports them
# in ``n_iter_``, ``n_fun_evals_`` and ``n_hessp_evals_`` (the counts of the wrapper agree),
# the time it took and J at the end. Times vary from machine to machine and from run to run;
# the counts do not.

print(
    f"{'method':<25} {'iterations':>10} {'J evals':>8} {'H products':>10} "
    f"{'seconds':>8} {'J at end':>9}  reached target"
)
for label, estimator in estimators.items():
    run = runs[label]
    assert (run.n_fun, run.n_hessp) == (estimator.n_fun_evals_, estimator.n_hessp_evals_)
    print(
        f"{label:<25} {estimator.n_iter_:>10} {estimator.n_fun_evals_:>8} "
        f"{estimator.n_hessp_evals_:>10} {run.history[-1][0]:>8.2f} {estimator.loss_:>9.5f}  "
        f"{'yes' if estimator.loss_ <= target else 'no'}"
    )

# %%
# J against time and against work
# -------------------------------
#
# Both panels show J − J*, the distance left to the lowest cost, on a log scale; the dotted
# line is the target. On the left the horizontal axis is wall-clock time since ``fit`` was
# called, on the right the work done, counted as evaluations of J with its gradient plus
# curvature products. Each of these is a pass over the data forwards and backwards (a
# curvature product costs 1.4 to 1.7 evaluations), so the right panel shows roughly what the
# time would be if nothing but these passes cost anything.

fig, (ax_time, ax_work) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
for (label, run), marker in zip(runs.items(), "os^vDPX"):
    seconds, loss, n_fun, n_hessp = np.array(run.history).T
    gap = loss - J_star
    style = {"marker": marker, "markersize": 3, "markevery": max(1, len(gap) // 12)}
    ax_time.plot(seconds, gap, label=label, **style)
    ax_work.plot(n_fun + n_hessp, gap, label=label, **style)
for ax in (ax_time, ax_work):
    ax.axhline(target - J_star, color="0.3", linestyle=":", linewidth=1)
    ax.set(xscale="log", yscale="log")
    ax.grid(True, which="major", alpha=0.3)
ax_time.text(1.5e-2, 1.2 * (target - J_star), "target", color="0.3", va="bottom")
ax_time.set(xlabel="seconds since fit was called", ylabel="J - J*", title="Against time")
ax_work.set(
    xlabel="evaluations of J and its gradient + curvature products",
    title="Against work",
)
ax_work.legend(loc="upper right")
fig.tight_layout()
plt.show()

# %%
# What to conclude
# ----------------
#
# **L-BFGS-B wins on both counts.** It reaches the target first, in about a hundred
# evaluations, a fraction of a second, which is why it is the default. It builds its picture
# of the curvature from the last few gradients for free, and almost every iteration needs one
# evaluation only.
#
# **CG** takes a few more iterations than L-BFGS-B, and its line searches need about three
# evaluations for each. **TNC** takes few iterations, but each solves for its Newton step with
# an inner conjugate gradient loop whose curvature products are differences of gradients: each
# one costs an evaluation of J, hence its hundreds of evaluations.
#
# **Newton-CG and trust-ncg with the exact product** need fewer iterations than L-BFGS-B
# and CG, and Newton-CG does the least work after L-BFGS-B. But every iteration solves for its
# Newton step with several curvature products, five or more on average here. The fast local
# convergence of Newton's method only sets in closer to the minimum than this target, and even
# there it does not make up for them (see the benchmark page below).
#
# **trust-ncg with the Gauss-Newton product** starts as well as the exact products do, then
# slows to a crawl. The Gauss-Newton matrix drops the terms of the Hessian that carry the
# output errors a − y. Near the minimum of a cross-entropy these do not vanish (the network
# does not fit every example exactly, and the penalty keeps it from doing so), so the
# Gauss-Newton steps are no Newton steps there, and the fast final convergence is lost. Its
# advantage, a curvature that is never negative, matters far from a minimum, not here.
#
# **BFGS** is the lesson of the two panels together. Per evaluation (right) it does about as
# well as the others in its first iterations; in time (left) it has barely started when the
# others are done, because its dense n × n update costs far more than the evaluation of J
# and its gradient. Counting evaluations alone would hide that; timing alone would hide why.
#
# These measurements are for one small problem; the :ref:`optimization-benchmark` page of the
# documentation compares all methods on digits and on a larger problem, with the same
# conclusion: keep the default, L-BFGS-B.
