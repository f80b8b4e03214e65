"""Time per L-BFGS iteration on a quiet machine and with one busy process, for several fitters.

The contenders, each fitting the same data with the same network (logistic hidden units, one
logistic output per class, L2 penalty α/(2m) ΣW², L-BFGS, ``tol=0``, a fixed number of
iterations):

- ``ours``: ``BackpropClassifier`` as it runs now (large products in several blocks: the
  blocks on threads, numpy's BLAS at one thread, ``_optimize.evaluation_threads``);
- ``ours, BLAS threads``: the rule before (numpy's BLAS at its default thread count for large
  products, the blocks in order), for comparison in the same process;
- ``ours, 1 thread``: under ``threadpool_limits(1)``;
- ``MLPClassifier``: ``solver="lbfgs", activation="logistic"`` (softmax output, so its J is
  not ours: compare its slowdown, not its time);
- ``torch LBFGS``: ``torch.optim.LBFGS`` (strong Wolfe line search, history 10, as
  L-BFGS-B's) on the same J as ours, where PyTorch is installed; its J at the start and the
  end are printed next to ours;
- ``JAX + L-BFGS-B``: where JAX is installed, our J and its gradient written in
  ``jax.numpy`` (float64), ``jax.jit(jax.value_and_grad(J))``, driven by the same
  ``scipy.optimize.minimize(method="L-BFGS-B")`` as ours: JAX's compiled passes (XLA's CPU
  threads, Eigen's products) in place of ours, the optimizer the same.

Each round measures every contender quietly, then starts one competing process
(``python -c "while True: pass"``), measures every contender again, and ends that process by its
pid. The table gives the median time per iteration (min-max over rounds) and the slowdown
busy / quiet of each, and for ours the ratio to the better of "BLAS threads" and "1 thread"
under the same load (the issue's target: at most 1.15). The load average is printed at the
start and the end; on a shared machine the "quiet" runs are only as quiet as the others let
them be.

Usage::

    python benchmarks/bench_under_load.py [--rounds 3] [--only 20000x400 10000x784]
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from _machine import cpu_model, git_revision, load_average  # benchmarks/_machine.py
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_bp._base
from sklearn_bp import BackpropClassifier
from sklearn_bp._optimize import (
    THREADED_PRODUCT_FLOPS,
    numpy_blas_single_threaded,
)

ALPHA = 1e-4
PROBLEMS = {
    "20000x400": ((20000, 400), (25,), 10),
    "10000x784": ((10000, 784), (256, 256), 4),
}


def data(shape):
    n_samples, n_features = shape
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=20,
        n_classes=10,
        random_state=0,
    )
    return StandardScaler().fit_transform(X), y


def before_rule(flops, n_blocks):
    """The fit's thread rule before the blocks went to threads: by size alone."""
    if flops < THREADED_PRODUCT_FLOPS:
        return numpy_blas_single_threaded
    return contextlib.nullcontext()


@contextlib.contextmanager
def rule(choice):
    """Run the fit with the thread rule ``choice`` (None: as it is)."""
    if choice is None:
        yield
        return
    now = sklearn_bp._base.evaluation_threads
    sklearn_bp._base.evaluation_threads = choice
    try:
        yield
    finally:
        sklearn_bp._base.evaluation_threads = now


def fit_ours(X, y, hidden, max_iter, choice=None, limit=None):
    clf = BackpropClassifier(
        hidden_layer_sizes=hidden, alpha=ALPHA, max_iter=max_iter, tol=0, random_state=0
    )
    limits = threadpool_limits(limit, user_api="blas") if limit else contextlib.nullcontext()
    with rule(choice), limits, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        return (time.perf_counter() - start) / clf.n_iter_, clf.loss_curve_[-1]


def fit_mlp(X, y, hidden, max_iter):
    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation="logistic",
        solver="lbfgs",
        alpha=ALPHA,
        max_iter=max_iter,
        tol=0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        return (time.perf_counter() - start) / clf.n_iter_, clf.loss_


def torch_fitter():
    try:
        import torch
        from _torch_lbfgs import run_torch_lbfgs  # benchmarks/_torch_lbfgs.py
    except ImportError:
        return None

    def fit_torch(X, y, hidden, max_iter):
        """torch.optim.LBFGS on our J, from our starting θ."""
        clf = BackpropClassifier(hidden_layer_sizes=hidden, alpha=ALPHA, random_state=0)
        objective, theta0 = clf._objective_at_start(X, y, None, [np.float64])
        network = objective.network
        params = [
            torch.tensor(array.copy(), requires_grad=True)
            for W, b in network.unpack(theta0)
            for array in (W, b)
        ]
        Xt = torch.from_numpy(np.ascontiguousarray(X))
        Y = torch.from_numpy(objective.data.Y.astype(np.float64))
        m = X.shape[0]

        def J():
            A = Xt
            for layer in range(0, len(params) - 2, 2):
                A = torch.sigmoid(A @ params[layer] + params[layer + 1])
            Z = A @ params[-2] + params[-1]
            data = torch.nn.functional.binary_cross_entropy_with_logits(Z, Y, reduction="sum")
            penalty = sum((W * W).sum() for W in params[::2])
            return (data + 0.5 * ALPHA * penalty) / m

        seconds, state = run_torch_lbfgs(params, J, max_iter, objective.loss(theta0), 1e-12)
        with torch.no_grad():
            return seconds / state["n_iter"], float(J())

    return fit_torch


def jax_fitter():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from scipy.optimize import minimize

    def fit_jax(X, y, hidden, max_iter):
        """scipy's L-BFGS-B on our J written in JAX, jitted, from our starting θ."""
        clf = BackpropClassifier(hidden_layer_sizes=hidden, alpha=ALPHA, random_state=0)
        objective, theta0 = clf._objective_at_start(X, y, None, [np.float64])
        network = objective.network
        # Where each layer's W and b sit in θ (θ's layout is the network's, not W's then b's).
        where = network.unpack(np.arange(network.n_params, dtype=np.float64))
        positions = [jnp.asarray(array.astype(np.int64)) for W, b in where for array in (W, b)]
        Xj = jnp.asarray(np.ascontiguousarray(X))
        Y = jnp.asarray(objective.data.Y.astype(np.float64))
        m = X.shape[0]

        def J(theta):
            params = [theta[position] for position in positions]
            A = Xj
            for layer in range(0, len(params) - 2, 2):
                A = jax.nn.sigmoid(A @ params[layer] + params[layer + 1])
            Z = A @ params[-2] + params[-1]
            # Binary cross-entropy with logits, summed: softplus(Z) − Y Z.
            data = jnp.sum(jax.nn.softplus(Z) - Y * Z)
            penalty = sum(jnp.sum(W * W) for W in params[::2])
            return (data + 0.5 * ALPHA * penalty) / m

        value_and_grad = jax.jit(jax.value_and_grad(J))

        def fun(theta):
            value, gradient = value_and_grad(jnp.asarray(theta))
            return float(value), np.asarray(gradient, dtype=np.float64)

        start_J = fun(theta0)[0]  # compiles
        assert abs(start_J - objective.loss(theta0)) <= 1e-12 * abs(start_J), "not the same J"
        start = time.perf_counter()
        result = minimize(
            fun,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": 0, "gtol": 0},
        )
        seconds = time.perf_counter() - start
        return seconds / result.nit, float(result.fun)

    return fit_jax


def contenders():
    runs = {
        "ours": lambda X, y, h, n: fit_ours(X, y, h, n),
        "ours, BLAS threads (before)": lambda X, y, h, n: fit_ours(X, y, h, n, before_rule),
        "ours, 1 thread": lambda X, y, h, n: fit_ours(X, y, h, n, limit=1),
        "MLPClassifier": fit_mlp,
    }
    fit_torch = torch_fitter()
    if fit_torch is not None:
        runs["torch LBFGS"] = fit_torch
    fit_jax = jax_fitter()
    if fit_jax is not None:
        runs["JAX + L-BFGS-B"] = fit_jax
    return runs


@contextlib.contextmanager
def busy_process():
    """One process spinning on a core, ended by its pid afterwards."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it take its core
        yield
    finally:
        process.kill()
        process.wait()


def measure(problem, rounds):
    shape, hidden, max_iter = PROBLEMS[problem]
    X, y = data(shape)
    runs = contenders()
    for run in runs.values():  # warm-up, not kept
        run(X, y, hidden, 2)
    times = {(name, load): [] for name in runs for load in ("quiet", "busy")}
    final_J = {}
    for round_ in range(rounds):
        for load in ("quiet", "busy"):
            order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
            with busy_process() if load == "busy" else contextlib.nullcontext():
                for name in order:
                    seconds, J = runs[name](X, y, hidden, max_iter)
                    times[name, load].append(seconds)
                    final_J[name] = J
    return runs, times, final_J


def spread(values):
    return (
        f"{1e3 * statistics.median(values):.1f} ({1e3 * min(values):.1f}-{1e3 * max(values):.1f})"
    )


def table(problem, runs, times, final_J):
    _, hidden, max_iter = PROBLEMS[problem]
    lines = [
        f"### {problem} {hidden}, {max_iter} iterations\n",
        "| fitter | quiet ms / iteration | busy ms / iteration | busy / quiet | J at the end |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in runs:
        quiet, busy = times[name, "quiet"], times[name, "busy"]
        slowdown = statistics.median(busy) / statistics.median(quiet)
        lines.append(
            f"| {name} | {spread(quiet)} | {spread(busy)} | {slowdown:.2f} | {final_J[name]:.10f} |"
        )
    for load in ("quiet", "busy"):
        ratios = [
            ours / min(before, one)
            for ours, before, one in zip(
                times["ours", load],
                times["ours, BLAS threads (before)", load],
                times["ours, 1 thread", load],
            )
        ]
        lines.append(
            f"\n{load}: ours / the better of BLAS threads and 1 thread, per round: "
            f"median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    args = parser.parse_args(argv)
    print("# Per iteration, quiet and with one busy process\n")
    print(f"- {cpu_model()}; sklearn-bp {git_revision()}; load average {load_average()}")
    try:
        import jax  # noqa: F401
    except ImportError:
        print("- JAX is not installed here: no JAX row")
    for problem in args.only:
        runs, times, final_J = measure(problem, args.rounds)
        print("\n" + table(problem, runs, times, final_J), flush=True)
    print(f"\n- load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
