"""Benchmark sklearn-bp's estimators against scikit-learn's MLPs with solver="lbfgs".

BackpropClassifier runs against MLPClassifier and BackpropRegressor against MLPRegressor, both
with activation="logistic". Measures what sklearn-bp's performance targets ask for and prints
Markdown tables:

- fit time per iteration, ours / the MLP's, as users run it and with scipy's bundled BLAS at
  one thread (numpy's and scipy's OpenBLAS pools otherwise fight over the cores), for
  classification and for regression;
- one cost-and-gradient evaluation / the GEMM floor, the matrix products of the forward and
  backward passes timed alone on the same shapes;
- float32 against float64, and sparse CSR input against its dense copy;
- loss="poisson" against MLPRegressor(loss="poisson"): time per iteration and held-out mean
  Poisson deviance;
- wall time to MLPClassifier's held-out accuracy on digits;
- peak memory above the input, each fit in a fresh process (``peak_memory.py``), for
  classification and for regression.

The machine is noisy: what is compared runs alternately in one process, and the tables show
ratios; absolute times only appear as details.

Usage::

    python benchmarks/bench_vs_mlp.py [--quick] [--only NAME ...]

``--quick`` runs fewer and shorter fits: a few minutes instead of up to twenty. ``--only
regression regression-memory`` runs the regression rows alone.
"""

import argparse
import contextlib
import functools
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import peak_memory  # benchmarks/peak_memory.py, next to this script
import scipy
import sklearn
import threadpoolctl
from _machine import cpu_model, git_revision, load_average  # benchmarks/_machine.py
from scipy import sparse
from sklearn.datasets import load_diabetes, load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import sklearn_bp
from sklearn_bp import BackpropClassifier, BackpropRegressor
from sklearn_bp._block_pool import workers as block_workers_now
from sklearn_bp._optimize import evaluation_threads

ALPHA = 1e-4
MEMORY_MAX_ITER = 2  # the peak is reached in the first evaluation
ACCURACY_SEARCH_LIMIT = 400
ONE_THREAD = "MLP with scipy's BLAS at 1 thread"


@dataclass(frozen=True)
class Settings:
    """How long the measurements run."""

    repeats: int  # alternated rounds of each comparison of fits, after one warm-up round
    max_iter: dict  # of the fits of each group
    evaluation_seconds: float  # time spent on each evaluation-vs-floor comparison
    accuracy_max_iter: int  # of the fits that compare float32's accuracy with float64's


QUICK = Settings(
    repeats=3,
    max_iter={
        "digits": 100,
        "20000x400": 10,
        "10000x784": 4,
        "sparse": 10,
        "diabetes": 100,
        "regression-20000x400": 10,
        "poisson": 50,
    },
    evaluation_seconds=0.5,
    accuracy_max_iter=100,
)
FULL = Settings(
    repeats=5,
    max_iter={
        "digits": 300,
        "20000x400": 40,
        "10000x784": 12,
        "sparse": 40,
        "diabetes": 300,
        "regression-20000x400": 40,
        "poisson": 200,
    },
    evaluation_seconds=4.0,
    accuracy_max_iter=300,
)


class Split(NamedTuple):
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def classification(n_samples, n_features):
    """make_classification data with 10 classes."""
    return make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=20,
        n_classes=10,
        random_state=0,
    )


@functools.cache
def synthetic(n_samples, n_features):
    """``n_samples`` rows to fit and a fifth as many held out, from the same distribution."""
    X, y = classification(n_samples + n_samples // 5, n_features)
    X, X_test, y, y_test = train_test_split(X, y, train_size=n_samples, random_state=0)
    return Split(X, y, X_test, y_test)


@functools.cache
def digits():
    """All 1797 digits, standardized."""
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@functools.cache
def digits_split():
    """Digits split into training and test sets, standardized with the training set's scale."""
    X, y = load_digits(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X)
    return Split(scaler.transform(X), y, scaler.transform(X_test), y_test)


def regression(n_samples, n_features):
    """make_regression data with one target, X standardized and y scaled to unit variance."""
    X, y = make_regression(
        n_samples=n_samples, n_features=n_features, n_targets=1, noise=10.0, random_state=0
    )
    return StandardScaler().fit_transform(X), y / y.std()


@functools.cache
def regression_synthetic(n_samples, n_features):
    """:func:`regression`, kept for the fits that reuse it (the memory row's is not kept)."""
    return regression(n_samples, n_features)


@functools.cache
def diabetes():
    """All 442 rows of the diabetes data, X standardized and y scaled to unit variance."""
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def sparse_data(n_samples, n_features):
    """CSR data at 1% density; the class of a row is the argmax of a random projection of it."""
    rng = np.random.default_rng(0)
    X = sparse.random(n_samples, n_features, density=0.01, format="csr", rng=rng)
    y = np.argmax(X @ rng.standard_normal((n_features, 10)), axis=1)
    return X, y


@dataclass(frozen=True)
class Kind:
    """A task: our estimator for it, scikit-learn's MLP for it, and its data for the memory row."""

    ours: type
    peer: type
    data: Callable  # (n_samples, n_features) -> (X, y)
    prefix: str  # put before the data set's name in the rows' titles


CLASSIFIER = Kind(BackpropClassifier, MLPClassifier, classification, "")
REGRESSOR = Kind(BackpropRegressor, MLPRegressor, regression, "regression ")


@dataclass(frozen=True)
class Case:
    """A data set and architecture on which ours is compared with the MLP of its kind."""

    name: str
    title: str
    hidden: tuple
    data: Callable  # () -> (X, y)
    targets: tuple  # per-iteration time ratios: vs MLP as users run it, vs scipy BLAS 1 thread
    kind: Kind = CLASSIFIER


CASES = [
    Case("digits", "digits 1797x64", (25,), digits, (0.5, 0.8)),
    Case("20000x400", "20000x400", (25,), lambda: synthetic(20000, 400)[:2], (0.5, 0.8)),
    Case("10000x784", "10000x784", (256, 256), lambda: synthetic(10000, 784)[:2], (0.55, 0.8)),
]
# The issue sets the regressor the classifier's targets; its one-thread target is theirs too.
REGRESSION_CASES = [
    Case("diabetes", "regression diabetes 442x10", (25,), diabetes, (0.5, 0.8), REGRESSOR),
    Case(
        "regression-20000x400",
        "regression 20000x400",
        (25,),
        lambda: regression_synthetic(20000, 400),
        (0.5, 0.8),
        REGRESSOR,
    ),
]


def ours(hidden, max_iter, kind=CLASSIFIER):
    return kind.ours(
        hidden_layer_sizes=hidden, alpha=ALPHA, max_iter=max_iter, tol=0, random_state=0
    )


def mlp(hidden, max_iter=200, tol=0, kind=CLASSIFIER):
    return kind.peer(
        hidden_layer_sizes=hidden,
        activation="logistic",
        solver="lbfgs",
        alpha=ALPHA,
        max_iter=max_iter,
        tol=tol,
        random_state=0,
    )


@functools.cache
def _scipy_blas():
    # numpy's and scipy's wheels both bundle an OpenBLAS named libscipy_openblas*: only the
    # folder tells them apart.
    controller = threadpoolctl.ThreadpoolController()
    paths = [
        info["filepath"]
        for info in controller.info()
        if Path(info["filepath"]).parent.name == "scipy.libs"
    ]
    if not paths:
        raise RuntimeError("scipy's bundled OpenBLAS (in scipy.libs) is not loaded.")
    return controller.select(filepath=paths)


def scipy_blas_at_one_thread():
    """A context limiting scipy's bundled OpenBLAS to one thread, and nothing else."""
    return _scipy_blas().limit(limits=1)


@dataclass(frozen=True)
class Fit:
    seconds: float
    n_iter: int
    estimator: object

    @property
    def per_iteration(self):
        return self.seconds / self.n_iter


def timed_fit(estimator, X, y, limits=contextlib.nullcontext):
    """Fit ``estimator`` within the context ``limits()``; return the Fit."""
    with warnings.catch_warnings(), limits():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    return Fit(seconds, estimator.n_iter_, estimator)


def alternate(runs, repeats):
    """Call each of ``runs`` (label -> function returning a Fit) in turn, ``repeats`` times.

    One warm-up round comes first and is not kept. Returns label -> list of Fits.
    """
    for run in runs.values():
        run()
    fits = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            fits[label].append(run())
    return fits


def alternated_times(functions, seconds, min_runs=10):
    """Time ``functions`` in turn for about ``seconds``, after one warm-up call each.

    Returns one list of times per function, the i-th times of all taken in the same round.
    """
    for function in functions:
        function()
    times = [[] for _ in functions]
    deadline = time.perf_counter() + seconds
    while len(times[0]) < min_runs or time.perf_counter() < deadline:
        for function, record in zip(functions, times):
            start = time.perf_counter()
            function()
            record.append(time.perf_counter() - start)
    return times


# OpenBLAS's threads keep spinning for about a tenth of a second after a product on several
# threads: an evaluation on blocks of rows, NumPy's BLAS at one thread, timed right after the
# floor's products on OpenBLAS's threads would share the cores with them, as no fit does.
PHASE_SECONDS, SETTLE_SECONDS = 0.6, 0.2


def phased_times(functions, contexts, seconds):
    """Time ``functions`` in turn, each for a phase of ``PHASE_SECONDS`` inside its context,
    keeping the calls that start ``SETTLE_SECONDS`` or more into the phase (at least one), for
    about ``seconds`` in all. Returns one list per function: the median of each phase, the
    i-th of all from the same round, as ``alternated_times`` pairs them."""
    times = [[] for _ in functions]
    deadline = time.perf_counter() + seconds
    while len(times[0]) < 3 or time.perf_counter() < deadline:
        for function, context, record in zip(functions, contexts, times):
            kept = []
            with context():
                phase_start = time.perf_counter()
                while not kept or time.perf_counter() - phase_start < PHASE_SECONDS:
                    start = time.perf_counter()
                    function()
                    if start - phase_start >= SETTLE_SECONDS or (
                        time.perf_counter() - phase_start >= PHASE_SECONDS
                    ):
                        kept.append(time.perf_counter() - start)
            record.append(statistics.median(kept))
    return times


def gemm_floor(layer_sizes, X, block_rows):
    """The GEMMs of one forward and backward pass over X, on preallocated arrays.

    Per layer: forward A @ W, backward A.T @ delta, and delta @ W.T for every layer but the
    first; for the rows of X in blocks of ``block_rows``, each block's outputs written into the
    same buffers. Returns a function running them, and their number of floating-point
    operations.
    """
    rng = np.random.default_rng(0)
    n_samples, dtype = X.shape[0], X.dtype
    fans = list(itertools.pairwise(layer_sizes))
    weights = [rng.random(fan, dtype=dtype) for fan in fans]
    hidden = [rng.random((block_rows, width), dtype=dtype) for width in layer_sizes[1:-1]]
    deltas = [rng.random((block_rows, width), dtype=dtype) for width in layer_sizes[1:]]
    forward_out = [np.empty((block_rows, fan_out), dtype=dtype) for _, fan_out in fans]
    Delta = [np.empty(fan, dtype=dtype) for fan in fans]
    backward_out = [np.empty((block_rows, width), dtype=dtype) for width in layer_sizes[1:-1]]
    products = []
    for start in range(0, n_samples, block_rows):
        n_rows = min(block_rows, n_samples - start)
        inputs = [X[start : start + n_rows]] + [A[:n_rows] for A in hidden]
        for layer, (A, W, delta) in enumerate(zip(inputs, weights, deltas)):
            delta = delta[:n_rows]
            products += [(A, W, forward_out[layer][:n_rows]), (A.T, delta, Delta[layer])]
            if layer > 0:
                products.append((delta, W.T, backward_out[layer - 1][:n_rows]))
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in products)

    def run():
        for a, b, out in products:
            np.matmul(a, b, out=out)

    return run, flops


def elementwise_floor(layer_sizes, X):
    """The element-wise work an exact, stable evaluation cannot skip, over all rows of X.

    Each operation once, on preallocated arrays: per hidden unit the bias add, tanh (the
    fastest exact sigmoid in NumPy) and the two multiplications of δ ⊙ g′; per output unit the
    bias add, |z|, exp(−|z|) and log1p for J (the exponential timed on |z|, the same work), tanh
    for h, and h − y. Added to the GEMM floor: a lower bound for any evaluation written with
    NumPy's functions.
    """
    rng = np.random.default_rng(0)
    n_samples, dtype = X.shape[0], X.dtype
    hidden = [rng.standard_normal((n_samples, width)).astype(dtype) for width in layer_sizes[1:-1]]
    hidden_out = [np.empty_like(A) for A in hidden]
    biases = [rng.standard_normal(width).astype(dtype) for width in layer_sizes[1:]]
    Z = rng.standard_normal((n_samples, layer_sizes[-1])).astype(dtype)
    Y = (rng.random(Z.shape) < 0.5).astype(dtype)
    out = np.empty_like(Z)

    def run():
        for A, A_out, b in zip(hidden, hidden_out, biases):
            np.add(A, b, out=A_out)
            np.tanh(A, out=A_out)
            np.multiply(A, A, out=A_out)
            np.multiply(A, A_out, out=A_out)
        np.add(Z, biases[-1], out=out)
        np.abs(Z, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        np.tanh(Z, out=out)
        np.subtract(Z, Y, out=out)

    return run


@dataclass(frozen=True)
class Target:
    label: str
    test: Callable  # ratio -> bool


def at_most(value):
    return Target(f"≤ {value:g}", lambda ratio: ratio <= value)


def at_least(value):
    return Target(f"≥ {value:g}", lambda ratio: ratio >= value)


def below(value):
    return Target(f"< {value:g}", lambda ratio: ratio < value)


@dataclass(frozen=True)
class Row:
    measurement: str
    ratio: float
    low: float
    high: float
    target: Target
    details: str

    @property
    def passed(self):
        return self.target.test(self.ratio)


def describe(label, fits):
    """Median time per iteration, and the n_iter_ reached out of max_iter."""
    milliseconds = 1e3 * statistics.median(fit.per_iteration for fit in fits)
    n_iter = ", ".join(str(n) for n in sorted({fit.n_iter for fit in fits}))
    return f"{label} {milliseconds:.3g} ms/iter (n_iter_ {n_iter} of {fits[0].estimator.max_iter})"


def per_iteration_row(measurement, fits, numerator, denominator, target):
    """Compare the per-iteration fit times of two labels of ``fits``, repeat by repeat."""
    ratios = [a.per_iteration / b.per_iteration for a, b in zip(fits[numerator], fits[denominator])]
    details = f"{describe(numerator, fits[numerator])}; {describe(denominator, fits[denominator])}"
    return Row(measurement, statistics.median(ratios), min(ratios), max(ratios), target, details)


def fit_rows(case, settings):
    """Per-iteration fit time of ours / MLP's, as users run MLP and with scipy's BLAS at 1."""
    X, y = case.data()
    max_iter, kind = settings.max_iter[case.name], case.kind

    def peer():
        return mlp(case.hidden, max_iter, kind=kind)

    runs = {
        "ours": lambda: timed_fit(ours(case.hidden, max_iter, kind), X, y),
        "MLP": lambda: timed_fit(peer(), X, y),
        ONE_THREAD: lambda: timed_fit(peer(), X, y, scipy_blas_at_one_thread),
    }
    fits = alternate(runs, settings.repeats)
    title = f"{case.title}, {case.hidden}: fit time per iteration, ours / MLP"
    as_users_run_it, one_thread = case.targets
    return [
        per_iteration_row(title, fits, "ours", "MLP", at_most(as_users_run_it)),
        per_iteration_row(
            f"{title} with scipy's BLAS at 1 thread", fits, "ours", ONE_THREAD, at_most(one_thread)
        ),
    ]


def regression_rows(settings):
    """The fit rows of the regression cases: BackpropRegressor against MLPRegressor."""
    return [row for case in REGRESSION_CASES for row in fit_rows(case, settings)]


def poisson_counts(n_samples=20000, n_features=20):
    """Counts whose log-mean is nonlinear in standardized features: train and test rows."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, n_features))
    log_mean = np.sin(X[:, 0]) + 0.3 * X[:, 1] - 0.2 * X[:, 2] * X[:, 3]
    y = rng.poisson(np.exp(log_mean)).astype(float)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    return Split(X_train, y_train, X_test, y_test)


def poisson_rows(settings):
    """loss="poisson": BackpropRegressor against MLPRegressor(loss="poisson", solver="lbfgs")
    (scikit-learn 1.7 and later), per-iteration time and held-out mean Poisson deviance."""
    split = poisson_counts()
    max_iter, hidden = settings.max_iter["poisson"], (25,)

    def fit(Estimator):
        estimator = Estimator(
            hidden_layer_sizes=hidden, activation="logistic", loss="poisson", alpha=ALPHA,
            max_iter=max_iter, tol=0,
            random_state=0, **({"solver": "lbfgs"} if Estimator is MLPRegressor else {}),
        )  # fmt: skip
        return timed_fit(estimator, split.X, split.y)

    fits = alternate(
        {"ours": lambda: fit(BackpropRegressor), "MLP": lambda: fit(MLPRegressor)},
        settings.repeats,
    )
    title = f"poisson 15000x20, {hidden}: fit time per iteration, ours / MLP"
    row = per_iteration_row(title, fits, "ours", "MLP", at_most(1.0))
    deviances = {
        label: mean_poisson_deviance(split.y_test, fits[label][-1].estimator.predict(split.X_test))
        for label in fits
    }
    details = f"; held-out mean Poisson deviance ours {deviances['ours']:.4f}, "
    details += f"MLP {deviances['MLP']:.4f}"
    return [replace(row, details=row.details + details)]


def evaluation_row(case, dtype, seconds):
    """One evaluation of J and ∇J / the GEMMs it needs, timed alone over all rows at once.

    The evaluation runs as a fit runs it, under ``evaluation_threads`` (large products: the
    blocks on threads, NumPy's BLAS at one thread each; small ones: one thread); the floor is
    the GEMMs at the BLAS's own thread count. The details add the same GEMMs over the
    objective's blocks of rows, which keep a block of X in cache between the forward and
    backward pass, and the element-wise floor, timed on one thread: spread over the fit's T
    threads at best, no NumPy evaluation goes below floor + element-wise / T.
    """
    X, y = case.data()
    X = X.astype(dtype)
    objective, theta = BackpropClassifier(
        hidden_layer_sizes=case.hidden, alpha=ALPHA
    )._objective_at_start(X, y, None, dtype=[X.dtype])
    data = objective.data
    layer_sizes, block_rows = objective.network.layer_sizes, data.block_rows
    floor, flops = gemm_floor(layer_sizes, X, X.shape[0])
    blocked_floor, _ = gemm_floor(layer_sizes, X, block_rows)

    def evaluate():
        objective.loss_gradient(theta)

    with evaluation_threads(data.largest_product_flops(), data.block_count()):
        threads = block_workers_now()
    contexts = [
        functools.partial(evaluation_threads, data.largest_product_flops(), data.block_count()),
        contextlib.nullcontext,
        contextlib.nullcontext,
        contextlib.nullcontext,
    ]
    times = phased_times(
        [evaluate, floor, blocked_floor, elementwise_floor(layer_sizes, X)], contexts, seconds
    )
    evaluation, floor, blocked_floor, elementwise = (statistics.median(record) for record in times)
    quartiles = statistics.quantiles([a / b for a, b in zip(times[0], times[1])], n=4)
    details = (
        f"evaluation {1e3 * evaluation:.3g} ms on {threads} thread(s), floor "
        f"{1e3 * floor:.3g} ms ({flops / floor / 1e9:.0f} GFLOP/s), floor over blocks of "
        f"{block_rows} rows {1e3 * blocked_floor:.3g} ms; element-wise floor "
        f"{1e3 * elementwise:.3g} ms on one thread, so no NumPy evaluation on {threads} "
        f"thread(s) below {(floor + elementwise / threads) / floor:.2f} times the floor; "
        f"{len(times[0])} runs each"
    )
    measurement = f"{case.title}, {case.hidden}, {np.dtype(dtype).name}: evaluation / GEMM floor"
    return Row(measurement, evaluation / floor, quartiles[0], quartiles[2], at_most(1.2), details)


def evaluation_rows(settings):
    return [
        evaluation_row(case, dtype, settings.evaluation_seconds)
        for case in CASES
        for dtype in (np.float64, np.float32)
    ]


def float32_rows(settings):
    """float32 against float64 on 20000×400: speed-up per iteration, and held-out accuracy."""
    split, hidden = synthetic(20000, 400), (25,)
    X32, X32_test = split.X.astype(np.float32), split.X_test.astype(np.float32)
    max_iter = settings.max_iter["20000x400"]
    runs = {
        "float64": lambda: timed_fit(ours(hidden, max_iter), split.X, split.y),
        "float32": lambda: timed_fit(ours(hidden, max_iter), X32, split.y),
    }
    fits = alternate(runs, settings.repeats)

    def held_out_accuracy(X, X_test):
        fit = timed_fit(ours(hidden, settings.accuracy_max_iter), X, split.y)
        return fit.estimator.score(X_test, split.y_test)

    accuracy64 = held_out_accuracy(split.X, split.X_test)
    accuracy32 = held_out_accuracy(X32, X32_test)
    ratio = accuracy32 / accuracy64
    return [
        per_iteration_row(
            "20000x400, (25,): fit time per iteration, float64 / float32",
            fits,
            "float64",
            "float32",
            at_least(1.6),
        ),
        Row(
            "20000x400, (25,): held-out accuracy, float32 / float64",
            ratio,
            ratio,
            ratio,
            Target("1 ± 0.01", lambda ratio: abs(ratio - 1) <= 0.01),
            f"float32 {accuracy32:.4f}, float64 {accuracy64:.4f}, "
            f"max_iter={settings.accuracy_max_iter}",
        ),
    ]


def sparse_rows(settings):
    """CSR at 1% density against its dense copy: per-iteration fit time."""
    X, y = sparse_data(20000, 2000)
    dense, hidden, max_iter = X.toarray(), (25,), settings.max_iter["sparse"]
    runs = {
        "CSR": lambda: timed_fit(ours(hidden, max_iter), X, y),
        "dense": lambda: timed_fit(ours(hidden, max_iter), dense, y),
    }
    fits = alternate(runs, settings.repeats)
    title = "CSR 20000x2000 at 1%, (25,): fit time per iteration, CSR / dense copy"
    return [per_iteration_row(title, fits, "CSR", "dense", below(1))]


def smallest_max_iter(reaches, limit):
    """The smallest max_iter in 1..limit for which ``reaches(max_iter)``, or None."""
    return next((max_iter for max_iter in range(1, limit + 1) if reaches(max_iter)), None)


def time_to_accuracy_rows(settings):
    """Wall time for ours to reach MLPClassifier's final held-out accuracy, / MLP's wall time.

    MLPClassifier runs with its defaults (max_iter=200, tol=1e-4); ours with tol=0 and the
    smallest max_iter that reaches the accuracy, found by fitting every max_iter in turn.
    """
    split, hidden = digits_split(), (25,)

    def peer():
        return timed_fit(mlp(hidden, tol=1e-4), split.X, split.y)

    def accuracy(estimator):
        return estimator.score(split.X_test, split.y_test)

    goal = accuracy(peer().estimator)
    max_iter = smallest_max_iter(
        lambda max_iter: (
            accuracy(timed_fit(ours(hidden, max_iter), split.X, split.y).estimator) >= goal
        ),
        ACCURACY_SEARCH_LIMIT,
    )
    title = "digits, (25,): wall time to MLP's held-out accuracy, ours / MLP"
    if max_iter is None:
        details = f"ours does not reach {goal:.4f} within {ACCURACY_SEARCH_LIMIT} iterations"
        return [Row(title, np.inf, np.inf, np.inf, at_most(0.5), details)]
    runs = {"ours": lambda: timed_fit(ours(hidden, max_iter), split.X, split.y), "MLP": peer}
    fits = alternate(runs, settings.repeats)
    seconds = {label: [fit.seconds for fit in fits[label]] for label in fits}
    ratios = [a / b for a, b in zip(seconds["ours"], seconds["MLP"])]
    details = (
        f"MLP: accuracy {goal:.4f} after {fits['MLP'][0].n_iter} iterations, "
        f"{1e3 * statistics.median(seconds['MLP']):.3g} ms; ours: "
        f"{accuracy(fits['ours'][0].estimator):.4f} after {max_iter}, "
        f"{1e3 * statistics.median(seconds['ours']):.3g} ms"
    )
    return [Row(title, statistics.median(ratios), min(ratios), max(ratios), at_most(0.5), details)]


@dataclass(frozen=True)
class MemoryRow:
    fit: str
    usage: dict  # from peak_memory.measure
    ratio: str = ""
    target: Target | None = None
    value: float = np.nan

    @property
    def passed(self):
        return self.target.test(self.value)


def memory_rows(settings):
    """Peak memory above the input, each fit in a fresh process that loads its data."""
    with tempfile.TemporaryDirectory() as folder:
        return dense_memory_rows(folder, CLASSIFIER) + sparse_memory_rows(folder)


def regression_memory_rows(settings):
    """Peak memory above the input of BackpropRegressor and MLPRegressor, as memory_rows."""
    with tempfile.TemporaryDirectory() as folder:
        return dense_memory_rows(folder, REGRESSOR)


def dense_memory_rows(folder, kind):
    """Ours against the MLP of ``kind`` on 100000x200 dense data, with (256, 256)."""
    hidden, data = (256, 256), f"{kind.prefix}100000x200"
    paths = peak_memory.save(folder, "dense", *kind.data(100000, 200))
    peer = peak_memory.measure(paths, mlp(hidden, MEMORY_MAX_ITER, kind=kind))
    usage = peak_memory.measure(paths, ours(hidden, MEMORY_MAX_ITER, kind))
    ratio = usage["above_input"] / peer["above_input"]
    return [
        MemoryRow(f"{kind.peer.__name__}, {data}, {hidden}", peer),
        MemoryRow(
            f"ours, {data}, {hidden}", usage, f"{ratio:.3g} (ours / MLP)", at_most(0.1), ratio
        ),
    ]


def sparse_memory_rows(folder):
    """Two CSR inputs, the second with 4× the non-zeros on as many rows.

    Memory that grows with the non-zeros grows by a few bytes per non-zero between them; a
    dense copy of X would grow by n_samples × Δn_features × 8 bytes, 67× the CSR's growth.
    """
    usages = []
    for n_features in (2000, 8000):
        paths = peak_memory.save(folder, f"csr{n_features}", *sparse_data(50000, n_features))
        usages.append(peak_memory.measure(paths, ours((25,), MEMORY_MAX_ITER)))
    small, large = usages
    growth = (large["above_input"] - small["above_input"]) / (large["input"] - small["input"])
    return [
        MemoryRow("ours, CSR 50000x2000 at 1%, (25,)", small),
        MemoryRow(
            "ours, CSR 50000x8000 at 1%, (25,)",
            large,
            f"{growth:.3g} (Δ peak above input / Δ input)",
            at_most(3),
            growth,
        ),
    ]


def markdown_table(header, rows):
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def verdict(row):
    return "pass" if row.passed else "**FAIL**"


def ratio_table(rows):
    header = ["measurement", "ratio", "range", "target", "pass", "details"]
    cells = [
        [
            row.measurement,
            f"{row.ratio:.3g}",
            f"{row.low:.3g} to {row.high:.3g}",
            row.target.label,
            verdict(row),
            row.details,
        ]
        for row in rows
    ]
    return markdown_table(header, cells)


def memory_table(rows):
    header = ["fit", "input MiB", "RSS after load MiB", "peak above input MiB", "n_iter_"]
    header += ["ratio", "target", "pass"]
    cells = [
        [
            row.fit,
            f"{row.usage['input']:.1f}",
            f"{row.usage['after_load']:.0f}",
            f"{row.usage['above_input']:.1f}",
            row.usage["n_iter"],
            row.ratio,
            row.target.label if row.target else "",
            verdict(row) if row.target else "",
        ]
        for row in rows
    ]
    return markdown_table(header, cells)


def cpu_seconds():
    """CPU time of this process and of its finished children (the memory measurements)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Run:
    """What the machine looked like while the benchmark ran."""

    mode: str
    load_before: str
    wall_start: float
    cpu_start: float

    @classmethod
    def start(cls, mode):
        return cls(mode, load_average(), time.perf_counter(), cpu_seconds())

    def cores_used(self):
        return (cpu_seconds() - self.cpu_start) / (time.perf_counter() - self.wall_start)


def machine_info(run):
    pools = "; ".join(
        f"{info['internal_api']} {info['version']} ({Path(info['filepath']).parent.name}): "
        f"{info['num_threads']} threads"
        for info in sorted(threadpoolctl.threadpool_info(), key=lambda info: info["filepath"])
    )
    return "\n".join(
        [
            f"- mode: {run.mode}; Python {platform.python_version()} on {platform.platform()}",
            f"- numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn "
            f"{sklearn.__version__}, threadpoolctl {threadpoolctl.__version__}, sklearn-bp "
            f"{sklearn_bp.__version__} ({git_revision()})",
            f"- {os.cpu_count()} CPUs ({cpu_model()}), {len(os.sched_getaffinity(0))} usable",
            f"- load average (1, 5, 15 min): {run.load_before} at the start, {load_average()} "
            f"at the end; CPU time / wall time of the run: {run.cores_used():.2f} (lower when "
            "other processes compete for the cores)",
            f"- thread pools: {pools}",
            f"- scikit-learn working_memory: {sklearn.get_config()['working_memory']} MiB",
        ]
    )


RATIO_NOTES = """\
Ours is BackpropClassifier(tol=0, random_state=0); MLP is MLPClassifier(solver="lbfgs",
activation="logistic", random_state=0), with tol=0 except in the time to accuracy row, where it
runs with its defaults (max_iter=200, tol=1e-4); alpha=1e-4 for both. In the regression rows ours
is BackpropRegressor and MLP is MLPRegressor, with the same parameters; X is standardized and y
scaled to unit variance. Fit rows: per-iteration time is fit wall time / n_iter_; ratio is the
median over alternated repeats (after a warm-up round), range their min to max. Evaluation rows:
median time of `loss_gradient` / median time of its GEMMs alone on preallocated arrays; range is
the interquartile range of paired ratios."""

MEMORY_NOTES = """\
Each fit runs in a fresh process that loads X and y from .npy/.npz files: peak above input is
VmHWM after the fit minus VmRSS right after loading (/proc/self/status), max_iter=2. The regression
rows fit make_regression data (X standardized, y scaled to unit variance) with BackpropRegressor
and MLPRegressor."""


GROUPS = {
    **{case.name: functools.partial(fit_rows, case) for case in CASES},
    "evaluation": evaluation_rows,
    "float32": float32_rows,
    "sparse": sparse_rows,
    "accuracy": time_to_accuracy_rows,
    "memory": memory_rows,
    "regression": regression_rows,
    "poisson": poisson_rows,
    "regression-memory": regression_memory_rows,
}
MEMORY_GROUPS = ("memory", "regression-memory")  # their rows go into the memory table


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer and shorter fits (a few minutes)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(GROUPS), metavar="NAME", help=f"any of {list(GROUPS)}"
    )
    return parser.parse_args(argv)


def run_groups(names, settings):
    """Run the named groups; a group that fails is reported and skipped, not fatal."""
    results, failed = {}, []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results[name] = GROUPS[name](settings)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return results, failed


def main(argv=None):
    args = parse_args(argv)
    settings, mode = (QUICK, "--quick") if args.quick else (FULL, "full")
    run = Run.start(mode)
    results, failed = run_groups(args.only or list(GROUPS), settings)

    print(f"## Machine\n\n{machine_info(run)}\n")
    ratio_rows, memory_usage_rows = [], []
    for name, rows in results.items():
        (memory_usage_rows if name in MEMORY_GROUPS else ratio_rows).extend(rows)
    if ratio_rows:
        print(f"## Ratios\n\n{ratio_table(ratio_rows)}\n\n{RATIO_NOTES}\n")
    if memory_usage_rows:
        print(f"## Peak memory above the input\n\n{memory_table(memory_usage_rows)}\n")
        print(f"{MEMORY_NOTES}\n")
    if failed:
        print(f"Failed (traceback on stderr): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
