"""Time fits and evaluations with NumPy's BLAS at one thread against its default thread count.

A fit's matrix products run on the OpenBLAS bundled with numpy (the fit limits scipy's own copy
to one thread, see ``scipy_blas_single_threaded`` in ``sklearn_bp/_optimize.py``). This script
measures what the default thread count of numpy's pool buys, or costs, per problem shape: the
measurements behind the rule of ``THREADED_PRODUCT_FLOPS`` there ("below this size, one
thread"):

- evaluations: one call of ``BackpropObjective.loss_gradient`` (J and ∇J), built exactly as a
  fit builds it (``BackpropClassifier._objective_at_start``, blocks of rows from
  ``_placement.block_rows``), on a grid of shapes from digits 1797×64 (25,) to 10000×784 (256, 256),
  in float64 and float32;
- fits: whole ``BackpropClassifier(...).fit`` calls, among them the digits fit of
  ``python -m sklearn_bp`` (StandardScaler, then ``hidden_layer_sizes=(25,), alpha=1.0,
  max_iter=400, random_state=0`` on the stratified 75% training split). Below the rule's
  threshold the fit itself runs numpy's BLAS on one thread, so there both modes run alike.

Each comparison runs in pairs in one process: one measurement at one thread, one at the
default, the order swapped from one pair to the next, so that a change of load hits both
alike. The tables give the ratio default / one thread (above 1: the default is slower) as the
median over pairs with its min and max, and the median times. The one-thread runs limit numpy's
library only, selected by its folder (``numpy.libs``; ``numpy/.dylibs`` on macOS), because
numpy's and scipy's wheels both ship a ``libscipy_openblas``.

Every shape row also gives what the code knows before a fit, the candidates for the rule: the
rows per block r, the floating-point operations of the largest matrix product of one block,
2·r·fan_in·fan_out over the layers (the forward A @ W and the backward A.T @ delta have this
size; delta @ W.T too, for layers past the first), and those of all matrix products of one
evaluation. The crossover section lists, for each candidate, where the default stops being
slower than one thread.

``--busy N`` runs N competing processes (``python -c "while True: pass"``) for the duration of
the measurements and ends them afterwards: the slowdown was reported on a loaded machine.
Every row reports the cores that other processes used while it ran (from ``/proc/stat``);
on a shared machine, ``--wait-quiet SECONDS`` waits for a quiet spell before each row and
measures a row again when other processes woke up during it.

Usage::

    python benchmarks/bench_threads.py [--quick] [--busy N] [--wait-quiet SECONDS]
                                       [--only {evaluations,fits} ...]

The full run takes about two minutes on an idle 2-core machine and up to about four on a
loaded one, where the default's runs slow down; ``--quick`` (fewer shapes, float64 only, fewer
pairs, the digits fit only) well under a minute. ``--wait-quiet`` adds the waiting.
"""

import argparse
import contextlib
import dataclasses
import functools
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy
import sklearn
import threadpoolctl
from _machine import (  # benchmarks/_machine.py
    cpu_model,
    git_revision,
    load_average,
    numpy_blas,
)
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_bp
from sklearn_bp import BackpropClassifier
from sklearn_bp._block_pool import block_workers

N_CLASSES = 10
TOLERANCE = 1.1  # "not much slower": the default within 10% of one thread


# ---------------------------------------------------------------------------------------------
# numpy's BLAS pool


def default_threads():
    return numpy_blas().info()[0]["num_threads"]


@contextlib.contextmanager
def threads(mode):
    """Run the block with numpy's BLAS at one thread (``"one"``), as it is (``"default"``), or
    at one thread with the blocks of rows handed to as many threads as it had (``"blocks"``,
    what a fit of large products does, ``_optimize.evaluation_threads``)."""
    if mode == "default":
        yield
        return
    count = default_threads()
    limiter = numpy_blas().limit(limits=1)
    try:
        if mode == "blocks":
            with block_workers(count):
                yield
        else:
            yield
    finally:
        limiter.restore_original_limits()


def switch_seconds(repeat=2000):
    """Time of entering and leaving the one-thread limit, the price of a per-fit rule."""
    start = time.perf_counter()
    for _ in range(repeat):
        with threads("one"):
            pass
    return (time.perf_counter() - start) / repeat


def scan_seconds():
    """Time of one ``ThreadpoolController()`` scan of the loaded libraries."""
    start = time.perf_counter()
    threadpoolctl.ThreadpoolController()
    return time.perf_counter() - start


class OtherCpu:
    """Cores that other processes kept busy while a block ran, from ``/proc/stat`` (Linux).

    The busy time of the whole machine minus this process's own CPU time, over the wall time:
    about 0 on an idle machine, 1 with one competing busy process. The ``--busy`` processes
    count as others. ``cores`` is None where ``/proc/stat`` cannot be read.
    """

    def __init__(self):
        self.cores = None

    @staticmethod
    def _machine_busy_seconds():
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()
        except OSError:
            return None
        ticks = [int(field) for field in fields[1:9]]  # user nice system idle iowait irq ...
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self._start = (self._machine_busy_seconds(), cpu_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc_info):
        busy, own, wall = self._machine_busy_seconds(), cpu_seconds(), time.perf_counter()
        if busy is not None and self._start[0] is not None:
            others = (busy - self._start[0]) - (own - self._start[1])
            self.cores = max(0.0, others / (wall - self._start[2]))

    def __str__(self):
        return "n/a" if self.cores is None else f"{self.cores:.2f}"


IDLE_MARGIN = 0.15  # others' cores above the --busy processes that still count as quiet
QUIET_ATTEMPTS = 3


def settled(label, measure_row, settings):
    """``measure_row()``, printing ``label``; with ``--wait-quiet``, in a quiet spell.

    With ``settings.wait_quiet`` seconds, waits up to that long until the other processes (the
    ``--busy`` ones aside) use less than ``IDLE_MARGIN`` of a core over a second, and measures
    the row again, up to ``QUIET_ATTEMPTS`` times in all, if they used more while it ran. The
    table shows what they used in the attempt kept, the last.
    """
    print(f"  {label}", file=sys.stderr, flush=True)
    if not settings.wait_quiet:
        return measure_row()
    quiet = settings.busy + IDLE_MARGIN
    for _ in range(QUIET_ATTEMPTS):
        deadline = time.perf_counter() + settings.wait_quiet
        while time.perf_counter() < deadline:
            with OtherCpu() as others:
                time.sleep(1.0)
            if others.cores is None or others.cores < quiet:
                break
        row = measure_row()
        if row.others.cores is None or row.others.cores < quiet:
            break
        print(f"    others used {row.others} cores: again", file=sys.stderr, flush=True)
    return row


MODES = ("one", "default")
EVALUATION_MODES = ("one", "default", "blocks")


def paired(measure, pairs, modes=MODES):
    """Call ``measure(mode)`` for every mode, ``pairs`` times, the order rotated every round.

    One warm-up call of each mode comes first and is not kept. Returns mode -> list of results,
    the i-th of all taken in the same round.
    """
    for mode in modes:
        measure(mode)
    results = {mode: [] for mode in modes}
    for pair in range(pairs):
        order = modes[pair % len(modes) :] + modes[: pair % len(modes)]
        for mode in order if pair % 2 == 0 else order[::-1]:
            results[mode].append(measure(mode))
    return results


class Ratio(NamedTuple):
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, default_times, one_times):
        ratios = [d / o for d, o in zip(default_times, one_times)]
        return cls(statistics.median(ratios), min(ratios), max(ratios))

    def __str__(self):
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"


# ---------------------------------------------------------------------------------------------
# Problems


@functools.cache
def digits_split():
    """The training rows of ``python -m sklearn_bp``: stratified 75%, unscaled."""
    X, y = load_digits(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    return X, y


@functools.cache
def digits_all():
    """All 1797 digits, standardized."""
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@functools.cache
def synthetic(n_samples, n_features):
    """make_classification data with 10 classes, standardized."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=min(20, n_features // 2),
        n_classes=N_CLASSES,
        random_state=0,
    )
    return StandardScaler().fit_transform(X), y


@dataclass(frozen=True)
class Shape:
    n_samples: int
    n_features: int
    hidden: tuple

    @property
    def is_digits(self):
        return (self.n_samples, self.n_features) == (1797, 64)

    def data(self):
        if self.is_digits:
            return digits_all()
        return synthetic(self.n_samples, self.n_features)

    @property
    def label(self):
        name = "digits " if self.is_digits else ""
        return f"{name}{self.n_samples}x{self.n_features} {self.hidden}"


# From small to large (500x20 (10,) is below OpenBLAS's own size for threads, m·n·k < 262144);
# some shapes pull the candidates apart: 50000×64 has many small blocks
# (much work per evaluation, small products), 2000×784 (256, 256) two large blocks.
SHAPES = [
    Shape(500, 20, (10,)),
    Shape(1797, 64, (25,)),
    Shape(1797, 64, (50,)),
    Shape(5000, 64, (25,)),
    Shape(1797, 64, (100,)),
    Shape(5000, 100, (50,)),
    Shape(20000, 100, (50,)),
    Shape(50000, 64, (25,)),
    Shape(20000, 400, (25,)),
    Shape(2000, 784, (256, 256)),
    Shape(10000, 784, (64,)),
    Shape(20000, 400, (100,)),
    Shape(10000, 784, (256, 256)),
]
QUICK_SHAPES = [Shape(1797, 64, (25,)), Shape(20000, 100, (50,)), Shape(20000, 400, (25,))]
QUICK_SHAPES += [Shape(10000, 784, (256, 256))]


@dataclass(frozen=True)
class FitProblem:
    label: str
    data: object  # () -> (X, y)
    hidden: tuple
    alpha: float
    max_iter: int
    tol: float | None  # None: the classifier's default
    scale: bool  # a StandardScaler in front, as python -m sklearn_bp has

    def estimator(self):
        params = {} if self.tol is None else {"tol": self.tol}
        classifier = BackpropClassifier(
            hidden_layer_sizes=self.hidden,
            alpha=self.alpha,
            max_iter=self.max_iter,
            random_state=0,
            **params,
        )
        return make_pipeline(StandardScaler(), classifier) if self.scale else classifier


DIGITS_FIT = FitProblem(
    "digits 1347x64 (25,), python -m sklearn_bp", digits_split, (25,), 1.0, 400, None, True
)


def fit_problems(quick):
    if quick:
        return [DIGITS_FIT]
    return [
        DIGITS_FIT,
        FitProblem("20000x100 (50,)", lambda: synthetic(20000, 100), (50,), 1.0, 20, 0.0, False),
        FitProblem("20000x400 (25,)", lambda: synthetic(20000, 400), (25,), 1.0, 10, 0.0, False),
        FitProblem(
            "10000x784 (256, 256)", lambda: synthetic(10000, 784), (256, 256), 1.0, 2, 0.0, False
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Evaluations


def gemm_sizes(network, n_samples, block_rows):
    """Flops of the largest matrix product of one full block, and of all products of one
    evaluation (forward A @ W, backward A.T @ delta, and delta @ W.T past the first layer)."""
    fans = network.fans()
    largest = max(2 * block_rows * fan_in * fan_out for fan_in, fan_out in fans)
    total = sum(
        2 * n_samples * fan_in * fan_out * (2 if layer == 0 else 3)
        for layer, (fan_in, fan_out) in enumerate(fans)
    )
    return largest, total


@dataclass(frozen=True)
class EvaluationRow:
    shape: Shape
    dtype: str
    block_rows: int
    n_blocks: int
    largest_flops: int
    total_flops: int
    one: float  # median seconds per evaluation
    default: float
    ratio: Ratio
    others: OtherCpu
    blocks: float = float("nan")  # blocks of rows on threads, BLAS at one thread
    blocks_ratio: Ratio = None  # blocks / the better of one thread and the default


def batch_timer(function, seconds):
    """``measure(mode)``: the mean time of calls of ``function`` over a batch of about
    ``seconds``, with one untimed call first (the pool's threads start after a switch)."""
    start = time.perf_counter()
    function()
    once = time.perf_counter() - start
    number = max(1, round(seconds / max(once, 1e-6)))

    def measure(mode):
        with threads(mode):
            function()
            start = time.perf_counter()
            for _ in range(number):
                function()
            return (time.perf_counter() - start) / number

    return measure


def evaluation_row(shape, dtype, settings):
    X, y = shape.data()
    X = X.astype(dtype)
    estimator = BackpropClassifier(hidden_layer_sizes=shape.hidden, alpha=1.0, random_state=0)
    objective, theta = estimator._objective_at_start(X, y, None, [X.dtype])
    gradient = np.empty_like(theta)
    n_samples, block_rows = X.shape[0], objective.data.block_rows
    largest, total = gemm_sizes(objective.network, n_samples, block_rows)
    measure = batch_timer(lambda: objective.loss_gradient(theta, gradient), settings.batch_seconds)
    with OtherCpu() as others:
        times = paired(measure, settings.evaluation_pairs, EVALUATION_MODES)
    better = [min(one, default) for one, default in zip(times["one"], times["default"])]
    return EvaluationRow(
        shape,
        np.dtype(dtype).name,
        block_rows,
        -(-n_samples // block_rows),
        largest,
        total,
        statistics.median(times["one"]),
        statistics.median(times["default"]),
        Ratio.of(times["default"], times["one"]),
        others,
        statistics.median(times["blocks"]),
        Ratio.of(times["blocks"], better),
    )


def evaluation_rows(settings):
    rows = []
    for shape in settings.shapes:
        for dtype in settings.dtypes:
            label = f"evaluation {shape.label} {np.dtype(dtype).name}"
            rows.append(
                settled(label, functools.partial(evaluation_row, shape, dtype, settings), settings)
            )
    return rows


def milliseconds(seconds):
    return f"{1e3 * seconds:.3g}"


def evaluation_table(rows):
    header = ["shape", "dtype", "block rows x blocks", "largest product MFLOP", "GFLOP / eval"]
    header += ["1 thread ms", "default ms", "default / 1 thread", "blocks on threads ms"]
    header += ["blocks / better of the two", "others' cores"]
    cells = [
        [
            row.shape.label,
            row.dtype,
            f"{row.block_rows} x {row.n_blocks}",
            f"{row.largest_flops / 1e6:.3g}",
            f"{row.total_flops / 1e9:.3g}",
            milliseconds(row.one),
            milliseconds(row.default),
            str(row.ratio),
            milliseconds(row.blocks),
            str(row.blocks_ratio),
            str(row.others),
        ]
        for row in sorted(rows, key=lambda row: (row.largest_flops, row.total_flops))
    ]
    return markdown_table(header, cells)


def crossover(rows, key, unit, scale):
    """Where, by the candidate ``key``, the default stops being slower than one thread."""
    ordered = sorted(rows, key=key)
    slower = [row for row in ordered if row.ratio.median > 1.0]
    much_slower = [row for row in ordered if row.ratio.median > TOLERANCE]
    faster = [row for row in ordered if row.ratio.median < 1.0]

    def size(row):
        return f"{key(row) / scale:.3g} {unit} ({row.shape.label}, {row.dtype})"

    # The smallest threshold T such that the default is within TOLERANCE on every shape ≥ T.
    safe = [row for row in ordered if key(row) > max(map(key, much_slower), default=-1)]
    none_safe = "none: the default is much slower up to the largest shape measured"
    lines = [
        f"- largest size with the default slower than one thread: "
        f"{size(slower[-1]) if slower else 'none'}",
        f"- largest size with the default more than {TOLERANCE:g}x slower: "
        f"{size(much_slower[-1]) if much_slower else 'none'}",
        f"- smallest size with the default faster: {size(faster[0]) if faster else 'none'}",
        f"- smallest threshold T with the default within {TOLERANCE:g}x of one thread on every "
        f"shape ≥ T: {size(safe[0]) if safe else none_safe}",
    ]
    return "\n".join(lines)


def crossover_section(rows, busy):
    """The crossover by each candidate, over the rows measured with no more load than asked
    for (other processes below ``busy + IDLE_MARGIN`` cores), or over all rows if none was."""
    expected = [
        row for row in rows if row.others.cores is None or row.others.cores < busy + IDLE_MARGIN
    ]
    if expected:
        left_out = len(rows) - len(expected)
        scope = (
            f"Over the {len(expected)} rows during which other processes used less than "
            f"{busy + IDLE_MARGIN:g} cores ({left_out} left out)."
        )
    else:
        expected = rows
        scope = (
            f"Over all rows: during every one, other processes used {busy + IDLE_MARGIN:g} "
            "cores or more."
        )
    candidates = [
        ("the largest product of one block", lambda row: row.largest_flops, "MFLOP", 1e6),
        ("all the products of one evaluation", lambda row: row.total_flops, "GFLOP", 1e9),
    ]
    return (
        scope
        + "\n\n"
        + "\n\n".join(
            f"By the flops of {name}:\n\n{crossover(expected, key, unit, scale)}"
            for name, key, unit, scale in candidates
        )
    )


# ---------------------------------------------------------------------------------------------
# Whole fits


class Fit(NamedTuple):
    seconds: float
    n_iter: int


def fit_measure(problem):
    X, y = problem.data()

    def measure(mode):
        estimator = problem.estimator()
        with threads(mode), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            estimator.fit(X, y)
            seconds = time.perf_counter() - start
        classifier = estimator[-1] if hasattr(estimator, "steps") else estimator
        return Fit(seconds, classifier.n_iter_)

    return measure


@dataclass(frozen=True)
class FitRow:
    problem: FitProblem
    largest_flops: int
    total_flops: int
    fits: dict  # mode -> list of Fit
    others: OtherCpu

    def seconds(self, mode):
        return [fit.seconds for fit in self.fits[mode]]

    def n_iter(self, mode):
        return ", ".join(str(n) for n in sorted({fit.n_iter for fit in self.fits[mode]}))

    def per_iteration(self, mode):
        return [fit.seconds / fit.n_iter for fit in self.fits[mode]]

    @property
    def ratio(self):
        return Ratio.of(self.seconds("default"), self.seconds("one"))

    @property
    def ratio_per_iteration(self):
        return Ratio.of(self.per_iteration("default"), self.per_iteration("one"))


def fit_row(problem, settings):
    X, y = problem.data()
    estimator = BackpropClassifier(hidden_layer_sizes=problem.hidden, alpha=problem.alpha)
    objective, _ = estimator._objective_at_start(X, y, None, [np.float64])
    largest, total = gemm_sizes(objective.network, X.shape[0], objective.data.block_rows)
    with OtherCpu() as others:
        fits = paired(fit_measure(problem), settings.fit_pairs)
    return FitRow(problem, largest, total, fits, others)


def fit_rows(settings):
    rows = []
    for problem in settings.fit_problems:
        label = f"fits {problem.label}"
        rows.append(settled(label, functools.partial(fit_row, problem, settings), settings))
    return rows


def fit_table(rows):
    header = ["fit", "max_iter", "n_iter_ 1 thread", "n_iter_ default", "largest product MFLOP"]
    header += ["1 thread s", "default s", "default / 1 thread", "per iteration", "others' cores"]
    cells = [
        [
            row.problem.label,
            row.problem.max_iter,
            row.n_iter("one"),
            row.n_iter("default"),
            f"{row.largest_flops / 1e6:.3g}",
            f"{statistics.median(row.seconds('one')):.3g} "
            f"({min(row.seconds('one')):.3g}-{max(row.seconds('one')):.3g})",
            f"{statistics.median(row.seconds('default')):.3g} "
            f"({min(row.seconds('default')):.3g}-{max(row.seconds('default')):.3g})",
            str(row.ratio),
            str(row.ratio_per_iteration),
            str(row.others),
        ]
        for row in rows
    ]
    return markdown_table(header, cells)


# ---------------------------------------------------------------------------------------------
# Report


def markdown_table(header, cells):
    lines = [header, ["---"] * len(header), *cells]
    return "\n".join(
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in line) + " |" for line in lines
    )


def cpu_seconds():
    times = os.times()
    return times.user + times.system


@dataclass(frozen=True)
class Run:
    """What the machine looked like while the benchmark ran."""

    mode: str
    busy: int
    load_before: str
    wall_start: float
    cpu_start: float

    @classmethod
    def start(cls, mode, busy):
        return cls(mode, busy, load_average(), time.perf_counter(), cpu_seconds())

    def cores_used(self):
        return (cpu_seconds() - self.cpu_start) / (time.perf_counter() - self.wall_start)

    def minutes(self):
        return (time.perf_counter() - self.wall_start) / 60


def machine_info(run, switch, scan):
    pools = "; ".join(
        f"{info['internal_api']} {info['version']} ({Path(info['filepath']).parent.name}): "
        f"{info['num_threads']} threads"
        for info in sorted(threadpoolctl.threadpool_info(), key=lambda info: info["filepath"])
    )
    return "\n".join(
        [
            f"- mode: {run.mode}, {run.busy} competing busy process(es), {run.minutes():.1f} min; "
            f"Python {platform.python_version()} on {platform.platform()}",
            f"- numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn "
            f"{sklearn.__version__}, threadpoolctl {threadpoolctl.__version__}, sklearn-bp "
            f"{sklearn_bp.__version__} ({Path(sklearn_bp.__file__).parent}, {git_revision()})",
            f"- {os.cpu_count()} CPUs ({cpu_model()}), {len(os.sched_getaffinity(0))} usable",
            f"- load average (1, 5, 15 min): {run.load_before} at the start, {load_average()} "
            f"at the end; CPU time / wall time of this process: {run.cores_used():.2f}",
            f"- thread pools: {pools}; numpy's default: {default_threads()} threads",
            f"- entering and leaving the one-thread limit on numpy's BLAS: {1e6 * switch:.1f} µs; "
            f"one ThreadpoolController() scan: {1e3 * scan:.1f} ms",
        ]
    )


EVALUATION_NOTES = """\
One evaluation is `objective.loss_gradient(theta)` at the fit's starting θ, the objective built
by `BackpropClassifier(hidden_layer_sizes, alpha=1.0)._objective_at_start` (10 classes, softmax
output). Each measurement is the mean over a batch of calls (about {batch:g} s, after one
untimed call); {pairs} rounds of measurements of three modes, the order rotated every round.
Modes: numpy's BLAS at 1 thread, at its default, and "blocks on threads" (BLAS at 1 thread, the
blocks of rows handed to as many threads as the default, as a fit of large products now runs;
its result is the same for every thread count). Times: medians; ratios: median of the ratios
within a round (min-max); "blocks / better of the two": against the faster of 1 thread and the
default in the same round. Largest product: 2·r·fan_in·
fan_out of the largest layer for a full block of r rows; GFLOP / eval: all products of one
evaluation. Others' cores: CPU time of all other processes (the --busy ones included) per second
of this row's measurements, from /proc/stat: 0 on an idle machine. Rows sorted by the largest
product."""

FIT_NOTES = """\
Whole `fit` calls, {pairs} pairs, the order of the modes swapped every pair, after one warm-up
fit of each. The digits fit is `python -m sklearn_bp`'s: StandardScaler + BackpropClassifier(
hidden_layer_sizes=(25,), alpha=1.0, max_iter=400, random_state=0) on the stratified 75%
training split; the others use standardized make_classification data (10 classes), alpha=1.0,
tol=0. Times: median (min-max); ratio: median of the paired ratios (min-max), of the fit times
and of the times per iteration (the thread count changes the rounding of the products, and
with it the number of iterations a fit that stops on its tolerance takes). Others' cores: as
above."""


@dataclass(frozen=True)
class Settings:
    shapes: list
    dtypes: tuple
    evaluation_pairs: int
    batch_seconds: float
    fit_problems: list
    fit_pairs: int
    busy: int = 0  # competing processes started by --busy
    wait_quiet: float = 0.0  # --wait-quiet


QUICK = Settings(QUICK_SHAPES, (np.float64,), 3, 0.05, fit_problems(quick=True), 3)
FULL = Settings(SHAPES, (np.float64, np.float32), 5, 0.08, fit_problems(quick=False), 4)


@contextlib.contextmanager
def busy_processes(count):
    """Run ``count`` processes spinning on a core each; end them, and only them, afterwards."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer shapes, float64 only, fewer pairs (< 1 min)"
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="run N competing busy-loop processes during the measurements (default: 0)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["evaluations", "fits"],
        metavar="NAME",
        help="evaluations and/or fits (default: both)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each row, wait up to SECONDS for the other processes to go quiet, and "
        "measure a row again (3 attempts at most) if they did not stay quiet (default: 0, off)",
    )
    return parser.parse_args(argv)


def timed_group(name, rows, settings, groups):
    if name not in groups:
        return []
    start = time.perf_counter()
    result = rows(settings)
    print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return result


def main(argv=None):
    args = parse_args(argv)
    settings, mode = (QUICK, "--quick") if args.quick else (FULL, "full")
    settings = dataclasses.replace(settings, busy=args.busy, wait_quiet=args.wait_quiet)
    if args.wait_quiet:
        mode += f", --wait-quiet {args.wait_quiet:g}"
    groups = args.only or ["evaluations", "fits"]
    numpy_blas()  # find the library before anything is timed
    switch, scan = switch_seconds(), scan_seconds()
    run = Run.start(mode, args.busy)
    with busy_processes(args.busy):
        evaluations = timed_group("evaluations", evaluation_rows, settings, groups)
        fits = timed_group("fits", fit_rows, settings, groups)

    print("# NumPy's BLAS threads: one thread against the default\n")
    print(f"## Machine\n\n{machine_info(run, switch, scan)}\n")
    if evaluations:
        notes = EVALUATION_NOTES.format(
            batch=settings.batch_seconds, pairs=settings.evaluation_pairs
        )
        print(f"## One evaluation of J and ∇J\n\n{evaluation_table(evaluations)}\n\n{notes}\n")
        print(f"## Crossover\n\n{crossover_section(evaluations, args.busy)}\n")
    if fits:
        print(
            f"## Whole fits\n\n{fit_table(fits)}\n\n{FIT_NOTES.format(pairs=settings.fit_pairs)}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
