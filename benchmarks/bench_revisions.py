"""Two checkouts of sklearn-bp against each other, in alternating processes.

For a bisect or a before/after: each round runs one process per checkout, in turn (the order
swapped every round), each importing sklearn-bp from its checkout. The measurement is CPU
time of the process (less sensitive than wall time to other processes on a shared machine),
with one BLAS thread so that the thread rules of the two versions play no part:

- ``digits``: ms per L-BFGS iteration of ``BackpropClassifier(hidden_layer_sizes=(25,),
  alpha=1e-4, max_iter=100, tol=0)`` on all 1797 standardized digits, float64 and float32
  (median of 5 fits after one warm-up);
- ``torch``: ms per evaluation of J and ∇J on PyTorch CPU tensors under
  ``array_api_dispatch`` (``torch.set_num_threads(1)``), 20000×400 (25,) and 10000×784
  (256, 256), float64 and float32.

Make the old checkout with ``git worktree add --detach /tmp/old REV``.

Usage::

    python benchmarks/bench_revisions.py OLD_CHECKOUT NEW_CHECKOUT [--what digits] [--rounds 4]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from _machine import load_average  # benchmarks/_machine.py


def digits(repeat=5):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    from sklearn_bp import BackpropClassifier

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    results = {}
    for dtype in (np.float64, np.float32):
        times = []
        for fit in range(repeat + 1):
            clf = BackpropClassifier(
                hidden_layer_sizes=(25,), alpha=1e-4, max_iter=100, tol=0, random_state=0
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.process_time()
                clf.fit(X.astype(dtype), y)
                seconds = time.process_time() - start
            if fit:  # the first is a warm-up
                times.append(seconds / clf.n_iter_)
        results[f"digits {np.dtype(dtype).name}"] = times
    return results


def torch_evaluations(repeat=5):
    import numpy as np
    import sklearn
    import torch
    from sklearn.datasets import make_classification

    from sklearn_bp import BackpropClassifier

    torch.set_num_threads(1)
    results = {}
    for n_samples, n_features, hidden, number in [
        (20000, 400, (25,), 5),
        (10000, 784, (256, 256), 2),
    ]:
        X, y = make_classification(
            n_samples, n_features, n_informative=20, n_classes=10, random_state=0
        )
        for dtype in (np.float64, np.float32):
            with sklearn.config_context(array_api_dispatch=True):
                estimator = BackpropClassifier(hidden, alpha=1.0, random_state=0)
                objective, theta = estimator._objective_at_start(
                    torch.asarray(X.astype(dtype)), torch.asarray(y), None, [dtype]
                )
                objective.loss_gradient(theta)
                times = []
                for _ in range(repeat):
                    start = time.process_time()
                    for _ in range(number):
                        objective.loss_gradient(theta)
                    times.append((time.process_time() - start) / number)
            results[f"torch {n_samples}x{n_features} {np.dtype(dtype).name}"] = times
    return results


MEASUREMENTS = {"digits": digits, "torch": torch_evaluations}


def child(checkout, what):
    sys.path.insert(0, checkout)
    import sklearn_bp

    if not sklearn_bp.__file__.startswith(os.path.abspath(checkout)):
        raise RuntimeError(f"sklearn_bp came from {sklearn_bp.__file__}, not {checkout}")
    print(json.dumps(MEASUREMENTS[what]()))


def run(checkout, what):
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "SCIPY_ARRAY_API": "1"}
    environment.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, __file__, "--child", checkout, "--what", what],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd="/",
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*")
    parser.add_argument("--what", choices=list(MEASUREMENTS), default="digits")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.what)
        return 0
    if len(args.checkouts) != 2:
        parser.error("give two checkouts: OLD NEW")
    old, new = (os.path.abspath(path) for path in args.checkouts)
    print(f"load average at the start: {load_average()}")
    medians = {old: {}, new: {}}
    for round_ in range(args.rounds):
        for checkout in (old, new) if round_ % 2 == 0 else (new, old):
            for name, times in run(checkout, args.what).items():
                medians[checkout].setdefault(name, []).append(statistics.median(times))
    print(f"load average at the end: {load_average()}\n")
    print(f"| ms, CPU time | {old} | {new} | new / old per round |")
    print("| --- | --- | --- | --- |")
    for name in medians[old]:
        before, after = medians[old][name], medians[new][name]
        ratios = [b / a for a, b in zip(before, after)]
        print(
            f"| {name} | {1e3 * min(before):.3f}-{1e3 * max(before):.3f} | "
            f"{1e3 * min(after):.3f}-{1e3 * max(after):.3f} | "
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
