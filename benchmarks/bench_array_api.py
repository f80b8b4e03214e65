"""The NumPy path against the array-API path: PyTorch on the CPU, and on a CUDA GPU PyTorch
and CuPy, where there is one.

For every problem and namespace, in one process, measured alternately with the NumPy path:

- ``evaluation``: one J and ∇J as the optimizer sees it (θ from the host, the loss and the
  gradient back as float64), median and spread (min to max) of ``--repeat`` after a warm-up;
- ``transfers``: the two crossings of every evaluation alone, θ to the device and a vector of
  as many numbers back to the host (a round trip, which waits for the device);
- ``compute``: evaluation minus transfers, the passes on the device;
- ``iteration``: a fit with L-BFGS-B (``tol=0``, ``--iterations`` iterations), its time over
  ``n_iter_``: validation, the optimizer's own work and every evaluation included.

The problems are the three of the performance page (digits 1797×64 and synthetic 20000×400 with
(25,) hidden units, synthetic 10000×784 with (256, 256)) in float64, and 1,000,000×784 with
(256, 256) in float32 (3 GB; ``--skip-large`` leaves it out).

The issue's GPU target, checked where a CUDA device is present: an iteration on 10000×784 at
least 30 times faster than the NumPy path on the 2-core machine of the performance page, and
transfers under 10% of an evaluation.

    SCIPY_ARRAY_API=1 python benchmarks/bench_array_api.py [--repeat 10] [--iterations 30]
        [--quick] [--skip-large]
"""

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before SciPy is imported

import numpy as np
from _machine import cpu_model, git_revision, load_average
from _timing import median_spread  # benchmarks/_timing.py
from sklearn import config_context
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier
from sklearn_bp._fixes import to_host
from sklearn_bp._objective import BackpropObjective
from sklearn_bp._optimize import evaluation_threads

# The targets for a GPU on 10000×784, (256, 256): against the NumPy path on a 2-core
# machine like the one of docs/performance.rst.
GPU_SPEEDUP_TARGET = 30
TRANSFER_SHARE_TARGET = 0.10


def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def synthetic(n_samples, n_features):
    return make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=20, n_classes=10, random_state=0
    )


def large(n_samples=1_000_000, n_features=784):
    """Standard normal rows in float32 with 10 classes from a random linear map: 3 GB."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    y = np.argmax(X[:, :20] @ rng.standard_normal((20, 10), dtype=np.float32), axis=1)
    return X, y


PROBLEMS = [
    # name, hidden layers, data, dtype, repeats and iterations scaled down for the large one
    ("digits 1797x64", (25,), digits, np.float64, 1.0),
    ("20000x400", (25,), lambda: synthetic(20000, 400), np.float64, 1.0),
    ("10000x784", (256, 256), lambda: synthetic(10000, 784), np.float64, 1.0),
    ("1000000x784 float32", (256, 256), large, np.float32, 0.25),
]


def namespaces():
    """(label, xp, device, on a GPU) of every namespace and device to run, NumPy first."""
    found = [("NumPy", None, None, False)]
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: its rows are skipped (pip install torch).")
    else:
        found.append(("PyTorch CPU", torch, torch.device("cpu"), False))
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name()
            found.append((f"PyTorch {name}", torch, torch.device("cuda"), True))
        else:
            print("No CUDA device: the GPU rows are skipped.")
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            found.append(("CuPy (current CUDA device)", cupy, None, True))
    except Exception:  # CuPy absent, or installed without a usable device
        print("CuPy with a CUDA device is not available: its rows are skipped.")
    return found


def put(xp, device, array):
    """``array`` in namespace ``xp`` on ``device`` (the current device for None)."""
    if xp is None:
        return array
    return xp.asarray(array) if device is None else xp.asarray(array, device=device)


def objective_of(estimator, X, y):
    """The objective a fit of ``estimator`` on X, y minimizes, and its starting θ."""
    problem = estimator._prepare(X, y, None)
    data = estimator._data_term(problem, np.arange(problem.X.shape[0]))
    theta = problem.network.initial_theta(np.random.RandomState(0))
    return BackpropObjective(data, estimator.alpha), theta


def measure(label, xp, device, gpu, X, y, hidden, repeat, iterations):
    """Evaluation, transfers and iteration times of one namespace on one problem."""
    X_there, y_there = put(xp, device, X), put(xp, device, y)
    with config_context(array_api_dispatch=xp is not None), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = BackpropClassifier(hidden, alpha=1e-4, random_state=0)
        objective, theta = objective_of(estimator, X_there, y_there)
        # NumPy's BLAS threads as a fit sets them.
        data = objective.data
        with evaluation_threads(data.largest_product_flops(), data.block_count()):
            evaluation = median_spread(lambda: objective.loss_gradient(theta), repeat)
        transfers = (0.0, 0.0, 0.0)
        if xp is not None:
            vector = theta.astype(X.dtype)
            transfers = median_spread(lambda: to_host(put(xp, device, vector)), repeat)
        fit = BackpropClassifier(hidden, tol=0, max_iter=iterations, random_state=0)
        start = time.perf_counter()
        fit.fit(X_there, y_there)
        iteration = (time.perf_counter() - start) / fit.n_iter_
    return {
        "label": label, "gpu": gpu, "evaluation": evaluation, "transfers": transfers,
        "iteration": iteration,
    }  # fmt: skip


def report(problem, rows):
    numpy_row = rows[0]
    print(f"\n### {problem}\n")
    print(
        "| namespace | evaluation ms (spread) | transfers ms | compute ms | transfers share "
        "| iteration ms | iteration / NumPy's |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        median, low, high = row["evaluation"]
        transfer = row["transfers"][0]
        print(
            f"| {row['label']} | {1e3 * median:.1f} ({1e3 * low:.1f} to {1e3 * high:.1f}) "
            f"| {1e3 * transfer:.2f} | {1e3 * (median - transfer):.1f} "
            f"| {transfer / median:.1%} | {1e3 * row['iteration']:.1f} "
            f"| {row['iteration'] / numpy_row['iteration']:.2f} |"
        )
        if row["gpu"]:
            check_gpu_target(problem, row, numpy_row)


def check_gpu_target(problem, row, numpy_row):  # pragma: no cover - needs a GPU
    if not problem.startswith("10000x784"):
        return
    speedup = numpy_row["iteration"] / row["iteration"]
    share = row["transfers"][0] / row["evaluation"][0]
    print(
        f"\n{row['label']} on {problem}: an iteration {speedup:.1f}x faster than NumPy here "
        f"(target {GPU_SPEEDUP_TARGET}x against the performance page's 2-core machine), "
        f"transfers {share:.1%} of an evaluation (target under {TRANSFER_SHARE_TARGET:.0%})."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="digits and 20000x400 only")
    parser.add_argument("--skip-large", action="store_true", help="leave out 1000000x784")
    args = parser.parse_args()

    print(f"sklearn-bp {git_revision()} on {cpu_model()}, {os.cpu_count()} CPUs")
    print(f"load average before the run: {load_average()}; Python {sys.version.split()[0]}")
    spaces = namespaces()
    problems = PROBLEMS[:2] if args.quick else PROBLEMS
    if args.skip_large:
        problems = [problem for problem in problems if not problem[0].startswith("1000000")]
    for name, hidden, data, dtype, scale in problems:
        X, y = data()
        X = X.astype(dtype, copy=False)
        repeat = max(2, round(args.repeat * scale))
        iterations = max(2, round(args.iterations * scale))
        rows = [
            measure(label, xp, device, gpu, X, y, hidden, repeat, iterations)
            for label, xp, device, gpu in spaces
        ]
        report(f"{name}, hidden {hidden}", rows)
        print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
