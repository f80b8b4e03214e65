"""Digits' evaluation in four modes, quiet and with one busy process: can blocks of rows on
threads give back the second core that the one-thread rule takes from small problems?

The modes, each one evaluation of J and ∇J (``BackpropObjective.loss_gradient``) on the
standardized digits (1797 × 64, (25,) logistic hidden units, alpha 1), or on
make_classification 5000 × 64 with ``--rows 5000``:

- ``now``: one block of all rows, NumPy's BLAS on one thread (the fit's rule below
  ``THREADED_PRODUCT_FLOPS``, ``_optimize.evaluation_threads``);
- ``old``: one block, OpenBLAS at its default threads (the rule before 5bb4469; not
  reproducible across thread counts, ``bench_blas_bits.py``);
- blocks of about 512 rows in order on one thread;
- the same blocks handed to two threads (``_block_pool``), the BLAS on one thread each.

Modes alternate in one process (the order reversed every repetition); the table gives the
median milliseconds of ``--repeat`` batches of 20 evaluations, their range, and the ratio to
``now``. The busy process (``python -c "while True: pass"``) is started and ended by its pid.

    python benchmarks/bench_small_blocks.py [--repeat 15] [--float32] [--rows 5000]
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from _machine import load_average  # benchmarks/_machine.py
from sklearn.datasets import load_digits, make_classification
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier
from sklearn_bp._objective import BackpropObjective, DataTerm
from sklearn_bp._optimize import _blocks_on_threads, numpy_blas_single_threaded

SPLIT_ROWS = 512


@contextlib.contextmanager
def busy_process():
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def modes(X, y):
    classifier = BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, random_state=0)
    start_objective, theta = classifier._objective_at_start(X, y, None, [X.dtype.type])
    data = start_objective.data
    n = X.shape[0]

    def objective(rows):
        term = DataTerm(data.network, data.loss, data.X, data.Y, data.sample_weight, rows)
        return BackpropObjective(term, 1.0)

    split = -(-n // max(1, round(n / SPLIT_ROWS)))
    return theta, {
        "now: 1 block, 1 thread": (objective(n), lambda: numpy_blas_single_threaded),
        "old: 1 block, OpenBLAS threads": (objective(n), contextlib.nullcontext),
        f"blocks of {split}, 1 thread": (objective(split), lambda: numpy_blas_single_threaded),
        f"blocks of {split}, 2 threads": (objective(split), _blocks_on_threads),
    }


def measure(theta, runs, repeat):
    times = {name: [] for name in runs}
    for rep in range(repeat):
        order = list(runs) if rep % 2 == 0 else list(runs)[::-1]
        for name in order:
            objective, context = runs[name]
            with context():
                objective.loss_gradient(theta)
                start = time.perf_counter()
                for _ in range(20):
                    objective.loss_gradient(theta)
                times[name].append((time.perf_counter() - start) / 20 * 1e3)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--rows", type=int, default=None, help="make_classification rows")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.rows:
        X, y = make_classification(args.rows, 64, n_informative=20, n_classes=10, random_state=0)
    else:
        X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32 if args.float32 else np.float64)
    theta, runs = modes(X, y)
    for load in ("quiet", "busy"):
        with busy_process() if load == "busy" else contextlib.nullcontext():
            times = measure(theta, runs, args.repeat)
        base = statistics.median(times["now: 1 block, 1 thread"])
        print(f"\n{load}, {X.shape[0]} x {X.shape[1]} {X.dtype}, load average {load_average()}")
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"  {name:32s} {median:7.3f} ms ({min(values):.3f}-{max(values):.3f})"
                f"  / now {median / base:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
