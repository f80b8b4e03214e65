"""Do NumPy's BLAS results change with its thread count? On our products, bit for bit.

A fit may choose numpy's BLAS thread count while it runs (from the time of its evaluations)
only if the products of the passes give the same bits at every count: otherwise a fit on a busy
machine and one on an idle machine end at different parameters. This script answers for the
products the passes compute, at the block sizes a fit uses:

- every matrix product of one block, layer by layer: forward ``A @ W``, backward ``A.T @ δ`` and
  ``δ @ W.T``, and the column sums ``1ᵀ δ`` (a matrix-vector product), on random operands of the
  block's shapes;
- one whole evaluation of J and ∇J, built as a fit builds it
  (``BackpropClassifier._objective_at_start``), at the fit's starting θ.

Each is computed at 1 thread and at every other count in ``--threads`` (numpy's library only,
selected by its folder, as ``bench_threads.py`` does), and compared with ``np.array_equal`` of
the bits; a difference is reported as the largest relative difference. Timing plays no part:
the load of the machine does not change the answer (OpenBLAS splits the work by the thread
count it is given, not by the cores that happen to be free).

Usage::

    python benchmarks/bench_blas_bits.py [--threads 1 2 3 4 8]
"""

import argparse
import contextlib
import functools
import sys
import warnings
from pathlib import Path

import numpy as np
from _machine import (  # benchmarks/_machine.py
    cpu_model,
    git_revision,
    load_average,
    numpy_blas,
)
from sklearn.datasets import load_digits, make_classification
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

SHAPES = [
    ("digits 1797x64", (1797, 64), (25,)),
    ("20000x100", (20000, 100), (50,)),
    ("20000x400", (20000, 400), (25,)),
    ("10000x784", (10000, 784), (256, 256)),
]


@contextlib.contextmanager
def blas_threads(count):
    limiter = numpy_blas().limit(limits=count)
    try:
        yield
    finally:
        limiter.restore_original_limits()


@functools.cache
def data(shape):
    n_samples, n_features = shape
    if shape == (1797, 64):
        X, y = load_digits(return_X_y=True)
    else:
        X, y = make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=min(20, n_features // 2),
            n_classes=10,
            random_state=0,
        )
    return StandardScaler().fit_transform(X), y


def objective_for(shape, hidden, dtype):
    X, y = data(shape)
    X = X.astype(dtype)
    estimator = BackpropClassifier(hidden_layer_sizes=hidden, alpha=1.0, random_state=0)
    return estimator._objective_at_start(X, y, None, [X.dtype])


def block_products(network, rows, dtype, seed=0):
    """(name, function) of every product one block computes, on random operands of its shapes."""
    rng = np.random.default_rng(seed)
    products = []
    for layer, (fan_in, fan_out) in enumerate(network.fans()):
        A = rng.standard_normal((rows, fan_in)).astype(dtype)
        W = rng.standard_normal((fan_in, fan_out)).astype(dtype)
        delta = rng.standard_normal((rows, fan_out)).astype(dtype)
        ones = np.ones(rows, dtype=dtype)
        out = np.empty((rows, fan_out), dtype=dtype)
        shape = f"{rows}x{fan_in}·{fan_in}x{fan_out}"
        products.append((f"layer {layer + 1} forward A @ W ({shape})",
                         lambda A=A, W=W, out=out: np.matmul(A, W, out=out).copy()))  # fmt: skip
        products.append((f"layer {layer + 1} backward A.T @ δ",
                         lambda A=A, delta=delta: A.T @ delta))  # fmt: skip
        products.append((f"layer {layer + 1} column sums 1ᵀ δ",
                         lambda ones=ones, delta=delta: ones @ delta))  # fmt: skip
        if layer > 0:
            products.append((f"layer {layer + 1} backward δ @ W.T",
                             lambda delta=delta, W=W: delta @ W.T))  # fmt: skip
    return products


def compare(function, counts):
    """The result at each thread count against the one at one thread: 'same' or the largest
    relative difference."""
    with blas_threads(1):
        reference = np.array(function(), copy=True)
    answers = []
    for count in counts:
        with blas_threads(count):
            result = np.array(function(), copy=True)
        if np.array_equal(result.view(np.uint8), reference.view(np.uint8)):
            answers.append("same")
        else:
            scale = np.max(np.abs(reference))
            answers.append(f"differs ({np.max(np.abs(result - reference)) / scale:.1e})")
    return answers


def evaluation(objective, theta):
    gradient = np.empty_like(theta)

    def function():
        loss, _ = objective.loss_gradient(theta, gradient)
        return np.concatenate(([loss], gradient))

    return function


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 3, 4, 8])
    args = parser.parse_args(argv)
    counts = [count for count in args.threads if count != 1]
    info = numpy_blas().info()[0]
    print("# NumPy's BLAS at other thread counts than one: the same bits?\n")
    print(
        f"- {info['internal_api']} {info['version']} ({info['architecture']}), "
        f"{Path(info['filepath']).parent.name}, default {info['num_threads']} threads; "
        f"numpy {np.__version__}; {cpu_model()}; sklearn-bp {git_revision()}; "
        f"load {load_average()}\n"
    )
    header = ["problem", "dtype", "product", *(f"{count} threads" for count in counts)]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    all_same = True
    for label, shape, hidden in SHAPES:
        for dtype in (np.float64, np.float32):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                objective, theta = objective_for(shape, hidden, dtype)
            rows = objective.data.block_rows
            cases = block_products(objective.network, rows, dtype)
            cases.append((f"whole evaluation J, ∇J (blocks of {rows})",
                          evaluation(objective, theta)))  # fmt: skip
            for name, function in cases:
                answers = compare(function, counts)
                all_same &= all(answer == "same" for answer in answers)
                cells = [label + f" {hidden}", np.dtype(dtype).name, name, *answers]
                print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\nEvery product bit-identical at every thread count: {all_same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
