"""A fit on PyTorch tensors against ``torch.optim.LBFGS`` on the same J: time per iteration,
and where it goes.

For each problem (synthetic 20000×400 with (25,) hidden units and 10000×784 with (256, 256),
10 classes, logistic units, α = 1e-4) and dtype (float64, float32), in one process, the
contenders alternate over ``--rounds`` rounds:

- ``ours <method>``: ``BackpropClassifier(tol=0, max_iter=N)`` fitted on torch tensors under
  ``array_api_dispatch``, with each method of ``--methods`` (``L-BFGS-B``: scipy's;
  ``L-BFGS``: ours); the time of its minimization (``_optimize.minimize_objective``: the
  method with every evaluation, the monitor, J at the end) over ``n_iter_``, the whole fit's
  (validation and set-up included) over ``n_iter_``, its evaluations per iteration, and J at
  the end (``loss_``);
- ``torch LBFGS``: ``torch.optim.LBFGS`` (history 10, strong Wolfe line search, ``lr=1``,
  tolerances 0) on the same J written with torch's autograd, on the same tensors in the same
  dtype, from the same θ (checked equal at the start), for the same N iterations: the time of
  its ``step`` over its iterations.

And the split of ours per iteration (medians over ``--repeat`` calls):

- ``evaluation``: one J and ∇J as the method sees it (θ float64 from the host, J and ∇J back),
  timed inside the fits (median);
- ``transfers``: θ to a tensor and a vector of θ's size back to float64, alone;
- ``optimizer``: the method's own work per iteration at this number of parameters, on a
  quadratic whose evaluation costs next to nothing (the same method, the same N iterations;
  the least of three runs);
- ``rest``: the iteration less the time of the evaluations in it less the optimizer's work:
  the monitor's checks and copies and the loss curve (timed on the quadratic too, through
  ``minimize_objective``, less the bare method), and whatever the evaluations in between cost
  the method's own work (its vectors evicted from the caches).

Usage::

    python benchmarks/bench_torch_lbfgs.py [--rounds 3] [--iterations 20] [--only 20000x400]
        [--dtypes float64 float32] [--methods L-BFGS-B L-BFGS] [--threads 1] [--numpy]
        [--profile]

``--numpy`` adds our fits of the same rows as NumPy arrays (OpenBLAS's products, the NumPy
path's primitives), each method, to the same table. ``--profile`` prints instead
torch.profiler's tables of ``--repeat`` evaluations of J and ∇J, ours and torch's autograd:
where an evaluation's time goes, operation by operation.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before SciPy is imported

import numpy as np
import torch
from _machine import cpu_model, git_revision, load_average  # benchmarks/_machine.py
from _timing import median_spread  # benchmarks/_timing.py
from _torch_lbfgs import run_torch_lbfgs  # benchmarks/_torch_lbfgs.py
from scipy.optimize import minimize
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import sklearn_bp._base
from sklearn_bp import BackpropClassifier
from sklearn_bp._optimize import (
    METHODS,
    Monitor,
    minimize_objective,
    plan_method,
    scipy_blas_single_threaded,
)

ALPHA = 1e-4
PROBLEMS = {
    "20000x400": ((20000, 400), (25,)),
    "10000x784": ((10000, 784), (256, 256)),
}


def data(shape, dtype):
    n_samples, n_features = shape
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=20, n_classes=10, random_state=0
    )
    X = StandardScaler().fit_transform(X).astype(dtype)
    return torch.from_numpy(X), torch.from_numpy(y)


def timed_minimize(seconds, evaluations):
    """``minimize_objective`` that appends its own time to ``seconds``, and the time of each
    evaluation of J and ∇J inside it to ``evaluations``."""

    def minimize_and_time(monitor, *args, **kwargs):
        loss_gradient = monitor.loss_gradient

        def timed(theta):
            start = time.perf_counter()
            try:
                return loss_gradient(theta)
            finally:
                evaluations.append(time.perf_counter() - start)

        monitor.loss_gradient = timed
        start = time.perf_counter()
        try:
            return minimize_objective(monitor, *args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    return minimize_and_time


def fit_ours(X, y, hidden, iterations, method):
    clf = BackpropClassifier(
        hidden, alpha=ALPHA, max_iter=iterations, tol=0, random_state=0, method=method
    )
    loop, evaluations = [], []
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sklearn_bp._base.minimize_objective = timed_minimize(loop, evaluations)
        try:
            start = time.perf_counter()
            clf.fit(X, y)
            seconds = time.perf_counter() - start
        finally:
            sklearn_bp._base.minimize_objective = minimize_objective
    return {
        "fit": seconds / clf.n_iter_,
        "iteration": loop[0] / clf.n_iter_,
        "evaluation": statistics.median(evaluations),
        "evaluations_seconds": sum(evaluations) / clf.n_iter_,
        "n_iter": clf.n_iter_,
        "evaluations": clf.n_fun_evals_ / clf.n_iter_ if hasattr(clf, "n_fun_evals_") else None,
        "J": float(clf.loss_),
    }


def objective_of(X, y, hidden):
    clf = BackpropClassifier(hidden, alpha=ALPHA, random_state=0)
    with config_context(array_api_dispatch=True):
        dtype = np.float32 if X.dtype == torch.float32 else np.float64
        return clf._objective_at_start(X, y, None, [dtype])


def fit_torch(X, y, hidden, iterations, objective, theta0):
    """torch.optim.LBFGS on our J, from our θ0, in X's dtype."""
    params, J = torch_loss(X, y, objective, theta0)
    tolerance = 1e-12 if X.dtype == torch.float64 else 1e-5
    seconds, state = run_torch_lbfgs(
        params, J, iterations, objective.loss(theta0), tolerance,
        max_eval=25 * iterations,  # so that only max_iter ends it
    )  # fmt: skip
    with torch.no_grad():
        return {
            "fit": seconds / state["n_iter"],
            "iteration": seconds / state["n_iter"],
            "n_iter": state["n_iter"],
            "evaluations": state["func_evals"] / state["n_iter"],
            "J": float(J()),
        }


def torch_loss(X, y, objective, theta0):
    """Our J as torch's autograd computes it, on parameters from θ0 in X's dtype: the
    parameters and a function that evaluates J and ∇J."""
    params = [
        torch.tensor(array.copy(), dtype=X.dtype, requires_grad=True)
        for W, b in objective.network.unpack(theta0)
        for array in (W, b)
    ]
    Y = torch.nn.functional.one_hot(y, 10).to(X.dtype)
    m = X.shape[0]

    def J():
        A = X
        for layer in range(0, len(params) - 2, 2):
            A = torch.sigmoid(torch.addmm(params[layer + 1], A, params[layer]))
        Z = torch.addmm(params[-1], A, params[-2])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Z, Y, reduction="sum")
        penalty = sum((W * W).sum() for W in params[::2])
        return (loss + 0.5 * ALPHA * penalty) / m

    return params, J


def profile(X, y, hidden, repeat):
    """torch.profiler's table of ``repeat`` evaluations of J and ∇J, ours and autograd's."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    objective, theta0 = objective_of(X, y, hidden)
    params, J = torch_loss(X, y, objective, theta0)

    def autograd():
        for param in params:
            param.grad = None
        J().backward()
        return torch.cat([param.grad.reshape(-1) for param in params])

    for label, evaluate in [
        ("ours", lambda: objective.loss_gradient(theta0)),
        ("torch autograd", autograd),
    ]:
        for _ in range(2):
            evaluate()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(repeat):
                evaluate()
        print(f"\n{label}, {repeat} evaluations:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def optimizer_work(method, n_params, iterations, dtype):
    """The method's own seconds per iteration at ``n_params``, on a cheap quadratic."""
    rng = np.random.default_rng(0)
    diagonal = rng.uniform(0.1, 10.0, n_params)
    x0 = rng.standard_normal(n_params)
    calls = []

    def fun(x):
        calls.append(None)
        g = diagonal * x
        return 0.5 * float(x @ g), g

    count = []
    spec = METHODS[method]
    with scipy_blas_single_threaded:
        start = time.perf_counter()
        if spec.minimizer is not None:
            spec.minimizer(
                fun, x0, tol=0, maxiter=iterations, callback=lambda x: count.append(None),
                dtype=dtype,
            )  # fmt: skip
        else:
            minimize(
                fun, x0, jac=True, method=method, tol=0,
                options={spec.max_iter: iterations}, callback=lambda x: count.append(None),
            )  # fmt: skip
        seconds = time.perf_counter() - start
    # Less the quadratic's own evaluations, timed alone.
    evaluation = median_spread(lambda: fun(x0), 5)[0]
    return (seconds - len(calls) * evaluation) / max(1, len(count))


def monitor_work(method, n_params, iterations, dtype):
    """The monitor's seconds per iteration at ``n_params``: ``minimize_objective`` with a
    ``Monitor`` on the quadratic of :func:`optimizer_work`, less the bare method's time."""
    rng = np.random.default_rng(0)
    diagonal = rng.uniform(0.1, 10.0, n_params)
    x0 = rng.standard_normal(n_params)

    def fun(x):
        g = diagonal * x
        return 0.5 * float(x @ g), g

    plan = plan_method(method, iterations, None)
    start = time.perf_counter()
    _, summary = minimize_objective(Monitor(fun), x0, plan=plan, tol=0, dtype=dtype)
    seconds = time.perf_counter() - start
    evaluation = median_spread(lambda: fun(x0), 5)[0]
    with_monitor = (seconds - summary["nfev"] * evaluation) / max(1, summary["nit"])
    return with_monitor - optimizer_work(method, n_params, iterations, dtype)


def split(X, y, hidden, iterations, repeat, method):
    objective, theta0 = objective_of(X, y, hidden)
    vector = theta0.astype(np.float32 if X.dtype == torch.float32 else np.float64)
    transfers = median_spread(lambda: torch.asarray(vector).numpy().astype(np.float64), repeat)[0]
    return (
        {
            "transfers": transfers,
            # The least of three runs: another process's work only ever adds to it.
            "optimizer": min(
                optimizer_work(method, theta0.size, iterations, objective.data.dtype)
                for _ in range(3)
            ),
            "monitor": min(
                monitor_work(method, theta0.size, iterations, objective.data.dtype)
                for _ in range(3)
            ),
            "n_params": theta0.size,
        },
        objective,
        theta0,
    )


def ms(values):
    median = statistics.median(values)
    return f"{1e3 * median:.1f} ({1e3 * min(values):.1f} to {1e3 * max(values):.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--dtypes", nargs="*", default=["float64", "float32"])
    parser.add_argument("--methods", nargs="*", default=["L-BFGS-B", "L-BFGS"])
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument(
        "--numpy", action="store_true", help="also fit ours on the same rows as NumPy arrays"
    )
    parser.add_argument(
        "--profile", action="store_true", help="torch.profiler's tables of one evaluation only"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"sklearn-bp {git_revision()} on {cpu_model()}, {os.cpu_count()} CPUs")
    print(
        f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"Python {sys.version.split()[0]}; load average before: {load_average()}"
    )
    for name in args.only:
        shape, hidden = PROBLEMS[name]
        for dtype in args.dtypes:
            X, y = data(shape, np.dtype(dtype))
            if args.profile:
                print(f"\n### {name}, hidden {hidden}, {dtype}")
                profile(X, y, hidden, args.repeat)
                continue
            splits, objective, theta0 = {}, None, None
            for method in args.methods:
                splits[method], objective, theta0 = split(
                    X, y, hidden, args.iterations, args.repeat, method
                )
            runs = {f"ours {method}": [] for method in args.methods}
            runs["torch LBFGS"] = []
            if args.numpy:
                runs.update({f"ours {method}, NumPy arrays": [] for method in args.methods})
            for _ in range(args.rounds):
                for method in args.methods:
                    runs[f"ours {method}"].append(fit_ours(X, y, hidden, args.iterations, method))
                    if args.numpy:
                        runs[f"ours {method}, NumPy arrays"].append(
                            fit_ours(X.numpy(), y.numpy(), hidden, args.iterations, method)
                        )
                runs["torch LBFGS"].append(
                    fit_torch(X, y, hidden, args.iterations, objective, theta0)
                )
            torch_iteration = statistics.median(r["iteration"] for r in runs["torch LBFGS"])
            print(f"\n### {name}, hidden {hidden}, {dtype}, {args.iterations} iterations\n")
            print("| contender | ms per iteration (min to max) | / torch | whole fit / n_iter "
                  "| evaluations per iteration | J reached |")  # fmt: skip
            print("| --- | --- | --- | --- | --- | --- |")
            for label, results in runs.items():
                times = [r["iteration"] for r in results]
                evaluations = results[-1]["evaluations"]
                print(
                    f"| {label} | {ms(times)} | {statistics.median(times) / torch_iteration:.2f} "
                    f"| {ms([r['fit'] for r in results])} "
                    f"| {'?' if evaluations is None else f'{evaluations:.2f}'} "
                    f"| {results[-1]['J']:.10f} |"
                )
            for method, parts in splits.items():
                results = runs[f"ours {method}"]
                iteration = statistics.median(r["iteration"] for r in results)
                in_fit = statistics.median(r["evaluations_seconds"] for r in results)
                evaluation = statistics.median(r["evaluation"] for r in results)
                evaluations = results[-1]["evaluations"]
                rest = iteration - in_fit - parts["optimizer"]
                print(
                    f"\nours {method}, {parts['n_params']} parameters, per iteration "
                    f"{1e3 * iteration:.1f} ms: {evaluations:.2f} evaluations x "
                    f"{1e3 * evaluation:.1f} ms (median in the fits; transfers "
                    f"{1e3 * parts['transfers']:.2f} ms of it, timed alone), the method's "
                    f"own work {1e3 * parts['optimizer']:.1f} ms, the rest {1e3 * rest:.1f} ms "
                    f"(the monitor's checks and copies on the quadratic: "
                    f"{1e3 * parts['monitor']:.1f} ms)"
                )
            print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
