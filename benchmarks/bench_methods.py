"""Compare the methods of BackpropClassifier by their wall time to a target cost.

Every gradient method of ``scipy.optimize.minimize`` that ``BackpropClassifier`` offers fits
the same network from the same initial θ0 (``random_state=0``); the four methods that take a
curvature product run once with the exact Hessian-vector product and once with the
Gauss-Newton product. Two problems, both with ``alpha=1.0`` and logistic units:

- digits: scikit-learn's 1797 8×8 digits, stratified 75/25 split, standardized with the
  training set's scale, ``hidden_layer_sizes=(25,)``: n = 1,885 parameters;
- synthetic: ``make_classification`` with 20000 rows, 100 features (40 informative) and 10
  classes, split and scaled the same way, ``hidden_layer_sizes=(50,)``: n = 5,560 parameters.

Targets. A reference L-BFGS-B fit with ``tol=0, max_iter=2000`` gives J*, the lowest cost
known for the problem from θ0. A target leaves a fraction of the initial gap J(θ0) − J*: the
main target, 1%, is J ≤ J* + 0.01 (J(θ0) − J*), 99% of the possible decrease done. Relative to
the gap, it means the same on both problems, whose costs differ in scale; there the held-out
accuracy is within a few points of the reference's (about one on digits, two to three on the
synthetic problem): the point where a fit becomes useful. Digits also has a tight target,
0.01% of the gap, where the fast local convergence of the second-order methods could pay off
(on the synthetic problem even the reference does not get that close within its budget).

Each fit runs with ``tol=0`` (no method stops on its own tolerance before the target) and a
callback that records the wall time since ``fit`` was called and J after every iteration, and
returns True, ending the fit there, at the first iteration with J ≤ target or once the
wall-time cap is exceeded. The time to target is the wall time at that first iteration; the
held-out accuracy is measured where the fit ended. A method that reaches the target neither
within ``max_iter=2000`` iterations (J evaluations for TNC) nor within the cap reports "not
reached" with the cost it got to. The cap is checked between iterations only: a method with
slow iterations overshoots it by up to one iteration.

The wall-time caps are 10 s on digits (L-BFGS-B needs about 0.01 s and 0.1 s) and 30 s on
the synthetic problem (L-BFGS-B needs about 8 s): a method that needs several times the
default's time is not one to recommend, and the full run stays under about fifteen minutes.
The heading of each table also gives the median cost of one evaluation of J and ∇J and of one
curvature product, the units the iterations are made of.

Timing runs go in rounds, each round fitting every method once, so that a change of load on
the shared machine hits all methods alike; the tables show the median over rounds, and the
median ratio to L-BFGS-B's time in the same round. A method that misses the target in the
first round is not run again: there is no time to take a median of. The BLAS libraries run
at one thread (``--blas-threads``): on a busy 2-core machine, two threads made the digits
evaluations up to ten times slower and erratic.

Usage::

    python benchmarks/bench_methods.py [--quick] [--blas-threads N]

``--quick`` runs digits only, one round, with a 3 s cap: under a minute. The full run takes
about twelve minutes.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import scipy
import sklearn
import threadpoolctl
from _machine import cpu_model, git_revision, load_average  # benchmarks/_machine.py
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sklearn_bp
from sklearn_bp import BackpropClassifier
from sklearn_bp._optimize import METHODS

ALPHA = 1.0
RANDOM_STATE = 0
REFERENCE_MAX_ITER = 2000
MAX_ITER = 2000  # budget of every timed fit, besides the wall-time cap


class Split(NamedTuple):
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def scaled_split(X, y):
    """Stratified 75/25 split, standardized with the training set's mean and scale."""
    X, X_test, y, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=RANDOM_STATE
    )
    scaler = StandardScaler().fit(X)
    return Split(scaler.transform(X), y, scaler.transform(X_test), y_test)


def digits():
    return scaled_split(*load_digits(return_X_y=True))


def synthetic():
    X, y = make_classification(
        n_samples=20000,
        n_features=100,
        n_informative=40,
        n_classes=10,
        random_state=RANDOM_STATE,
    )
    return scaled_split(X, y)


@dataclass(frozen=True)
class Problem:
    name: str
    load: Callable  # () -> Split
    hidden: tuple


PROBLEMS = {
    "digits": Problem("digits", digits, (25,)),
    "synthetic": Problem("synthetic", synthetic, (50,)),
}


@dataclass(frozen=True)
class Target:
    """One table: a problem, the fraction of the gap J(θ0) − J* left, the wall-time cap."""

    problem: str
    fraction: float
    seconds: float


@dataclass(frozen=True)
class Settings:
    rounds: int  # timing rounds, each fitting every method once
    targets: tuple  # of Target, one table each


QUICK = Settings(rounds=1, targets=(Target("digits", 1e-2, 3), Target("digits", 1e-4, 3)))
FULL = Settings(
    rounds=3,
    targets=(
        Target("digits", 1e-2, 10),
        Target("digits", 1e-4, 10),
        Target("synthetic", 1e-2, 30),
    ),
)


@dataclass(frozen=True)
class Config:
    """A method, with the curvature product it is given if it takes one."""

    method: str
    hessian: str | None = None

    @property
    def label(self):
        return self.method if self.hessian is None else f"{self.method} ({self.hessian})"


CONFIGS = [
    Config(method, hessian)
    for method, spec in METHODS.items()
    for hessian in (("exact", "gauss-newton") if spec.hessp else (None,))
]
BASELINE = Config("L-BFGS-B")


def classifier(problem, config=BASELINE, **params):
    return BackpropClassifier(
        hidden_layer_sizes=problem.hidden,
        alpha=ALPHA,
        method=config.method,
        hessian=config.hessian or "exact",
        random_state=RANDOM_STATE,
        **params,
    )


def fit_quietly(estimator, split):
    """Fit on the training rows; a method that stops short of its goal is reported, not warned."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(split.X, split.y)


@dataclass(frozen=True)
class Reference:
    split: Split
    n_params: int
    initial_loss: float  # J(θ0)
    best_loss: float  # J*
    n_iter: int
    seconds: float
    accuracy: float
    unit_seconds: dict  # one evaluation of J and ∇J, and one curvature product of each kind

    def target_loss(self, fraction):
        return self.best_loss + fraction * (self.initial_loss - self.best_loss)


def median_seconds(function, repeat=5):
    """Median wall time of one call, over ``repeat`` timings of at least 0.2 s each."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat, number)) / number


def unit_seconds(objective, theta):
    """What the methods' iterations are made of: J with ∇J, and the two curvature products."""
    v = np.random.default_rng(RANDOM_STATE).standard_normal(theta.size)
    return {
        "J and ∇J": median_seconds(lambda: objective.loss_gradient(theta)),
        "exact product": median_seconds(lambda: objective.hessian_vector_product(theta, v)),
        "Gauss-Newton product": median_seconds(
            lambda: objective.gauss_newton_vector_product(theta, v)
        ),
    }


def reference(problem):
    """Load the data; J(θ0), J* from a long L-BFGS-B fit with its tolerance tests off, and the
    cost of one evaluation and of one curvature product."""
    split = problem.load()
    estimator = classifier(problem, max_iter=REFERENCE_MAX_ITER, tol=0)
    objective, theta0 = estimator._objective_at_start(split.X, split.y, None, [split.X.dtype])
    initial_loss, _ = objective.loss_gradient(theta0)
    start = time.perf_counter()
    fit_quietly(estimator, split)
    seconds = time.perf_counter() - start
    return Reference(
        split,
        theta0.size,
        float(initial_loss),
        min(estimator.loss_curve_),
        estimator.n_iter_,
        seconds,
        estimator.score(split.X_test, split.y_test),
        unit_seconds(objective, theta0),
    )


class Stopwatch:
    """The fit's callback: wall time and J after every iteration; stop at the target or cap."""

    def __init__(self, target_loss, seconds):
        self.target_loss = target_loss
        self.seconds = seconds
        self.start = None
        self.times = []
        self.losses = []

    def __call__(self, iteration, loss, gradient_norm, coefs, intercepts):
        elapsed = time.perf_counter() - self.start
        self.times.append(elapsed)
        self.losses.append(loss)
        return bool(loss <= self.target_loss or elapsed >= self.seconds)

    @property
    def time_to_target(self):
        """Wall time at the first iteration with J ≤ target, or None."""
        return next(
            (elapsed for elapsed, loss in zip(self.times, self.losses) if loss <= self.target_loss),
            None,
        )


@dataclass(frozen=True)
class Run:
    time_to_target: float | None  # None: not reached
    seconds: float  # wall time of the whole fit
    n_iter: int
    n_fun_evals: int
    n_hessp_evals: int
    loss: float
    accuracy: float
    stop: str


def stop_reason(estimator, stopwatch, config):
    """Why the fit ended: the target, the wall-time cap, max_iter, or the method itself."""
    if stopwatch.time_to_target is not None:
        return "target"
    if estimator.optimize_result_.get("stopped_by") == "callback":
        return "wall-time cap"
    counts_evaluations = METHODS[config.method].max_iter == "maxfun"
    used = estimator.n_fun_evals_ if counts_evaluations else estimator.n_iter_
    if used >= MAX_ITER:
        return "max_iter"
    message = str(estimator.optimize_result_["message"]).rstrip(".")
    return f"method stopped: {message}"


def timed_run(problem, split, config, target_loss, seconds):
    """Fit with ``config`` until the target, the cap or max_iter; return the Run."""
    stopwatch = Stopwatch(target_loss, seconds)
    estimator = classifier(problem, config, max_iter=MAX_ITER, tol=0, callback=stopwatch)
    stopwatch.start = time.perf_counter()
    try:
        fit_quietly(estimator, split)
    except (ValueError, MemoryError) as error:  # non-finite J, or a dense matrix too large
        elapsed = time.perf_counter() - stopwatch.start
        return Run(None, elapsed, len(stopwatch.losses), 0, 0, np.nan, np.nan, f"error: {error}")
    elapsed = time.perf_counter() - stopwatch.start
    return Run(
        stopwatch.time_to_target,
        elapsed,
        estimator.n_iter_,
        estimator.n_fun_evals_,
        estimator.n_hessp_evals_,
        estimator.loss_,
        estimator.score(split.X_test, split.y_test),
        stop_reason(estimator, stopwatch, config),
    )


def timing_rounds(problem, ref, target, rounds):
    """Fit every config once per round; a config that misses the target runs only once."""
    target_loss = ref.target_loss(target.fraction)
    runs = {config: [] for config in CONFIGS}
    for round_number in range(rounds):
        for config in CONFIGS:
            if round_number > 0 and runs[config][0].time_to_target is None:
                continue
            print(f"  round {round_number + 1}: {config.label}", file=sys.stderr, flush=True)
            runs[config].append(timed_run(problem, ref.split, config, target_loss, target.seconds))
    return runs


@dataclass(frozen=True)
class Row:
    config: Config
    runs: list  # of Run, one per round the config ran
    ratios: list  # time to target / L-BFGS-B's in the same round

    @property
    def reached(self):
        return [run for run in self.runs if run.time_to_target is not None]

    @property
    def median_time(self):
        """Median time to target over the runs that reached it, or None."""
        times = [run.time_to_target for run in self.reached]
        return statistics.median(times) if times else None

    @property
    def typical(self):
        """The run of median time to target (the lower middle one), or the first run."""
        if not self.reached:
            return self.runs[0]
        ordered = sorted(self.reached, key=lambda run: run.time_to_target)
        return ordered[(len(ordered) - 1) // 2]

    def sort_key(self):
        if self.median_time is None:
            return (1, np.nan_to_num(self.typical.loss, nan=np.inf))  # a failed fit goes last
        return (0, self.median_time)


def rows(runs):
    """One Row per config, by median time to target; those that missed it by J at the stop."""
    baseline = runs[BASELINE]
    table = []
    for config, config_runs in runs.items():
        ratios = [
            run.time_to_target / base.time_to_target
            for run, base in zip(config_runs, baseline)
            if run.time_to_target is not None and base.time_to_target is not None
        ]
        table.append(Row(config, config_runs, ratios))
    return sorted(table, key=Row.sort_key)


def seconds_cell(row):
    if row.median_time is None:
        return "not reached"
    times = [run.time_to_target for run in row.reached]
    spread = f" ({min(times):.3g} to {max(times):.3g})" if len(times) > 1 else ""
    missed = len(row.runs) - len(times)
    return f"{row.median_time:.3g}{spread}" + (f", missed in {missed}" if missed else "")


def markdown_table(header, cells):
    lines = [header, ["---"] * len(header), *cells]
    return "\n".join(
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in line) + " |" for line in lines
    )


def results_table(table):
    header = ["method", "time to target s", "/ L-BFGS-B", "iterations", "J evals"]
    header += ["H products", "J at stop", "held-out accuracy", "stopped by"]
    cells = []
    for row in table:
        run = row.typical
        ratio = f"{statistics.median(row.ratios):.2g}" if row.ratios else ""
        stop = run.stop if run.stop == "target" else f"{run.stop} ({run.seconds:.3g} s)"
        cells.append(
            [
                row.config.label,
                seconds_cell(row),
                ratio,
                run.n_iter,
                run.n_fun_evals,
                run.n_hessp_evals,
                f"{run.loss:.5f}",
                f"{run.accuracy:.4f}",
                stop,
            ]
        )
    return markdown_table(header, cells)


def heading(problem, ref, target, rounds):
    shape = "x".join(str(size) for size in ref.split.X.shape)
    products = dict(ref.unit_seconds)
    evaluation = products.pop("J and ∇J")
    units = "; ".join(
        f"{name} {1e3 * seconds:.3g} ms ({seconds / evaluation:.2g} evaluations)"
        for name, seconds in products.items()
    )
    return "\n".join(
        [
            f"## {problem.name}, target {target.fraction:.2%} of the gap: {shape} training "
            f"rows, {len(ref.split.y_test)} held out, hidden_layer_sizes={problem.hidden}, "
            f"n = {ref.n_params:,} parameters",
            "",
            f"J(θ0) = {ref.initial_loss:.6f}; J* = {ref.best_loss:.6f} from L-BFGS-B "
            f"(tol=0, max_iter={REFERENCE_MAX_ITER}): {ref.n_iter} iterations, "
            f"{ref.seconds:.3g} s, held-out accuracy {ref.accuracy:.4f}. Target: J ≤ "
            f"{ref.target_loss(target.fraction):.6f}. Budget: max_iter={MAX_ITER}, wall-time "
            f"cap {target.seconds:g} s; median of {rounds} round(s).",
            "",
            f"One call, median: J and ∇J {1e3 * evaluation:.3g} ms; {units}.",
        ]
    )


def benchmark(settings):
    """The Markdown heading and table of every target; one reference fit per problem."""
    references, tables = {}, []
    for target in settings.targets:
        problem = PROBLEMS[target.problem]
        print(f"{problem.name}, {target.fraction:.2%} ...", file=sys.stderr, flush=True)
        if problem.name not in references:
            references[problem.name] = reference(problem)  # also the warm-up fit
        ref = references[problem.name]
        runs = timing_rounds(problem, ref, target, settings.rounds)
        tables.append(
            f"{heading(problem, ref, target, settings.rounds)}\n\n{results_table(rows(runs))}"
        )
    return tables


def machine_info(mode, started, revision, load_before, seconds):
    pools = "; ".join(
        f"{info['internal_api']} {info['version']}: {info['num_threads']} thread(s)"
        for info in threadpoolctl.threadpool_info()
    )
    return "\n".join(
        [
            f"- {started:%Y-%m-%d %H:%M} UTC, mode {mode}, {seconds / 60:.1f} min in all",
            f"- Python {platform.python_version()} on {platform.platform()}",
            f"- numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn "
            f"{sklearn.__version__}, sklearn-bp {sklearn_bp.__version__} ({revision} at the start)",
            f"- {os.cpu_count()} CPUs ({cpu_model()}); thread pools: {pools}",
            f"- load average (1, 5, 15 min): {load_before} at the start, {load_average()} at "
            "the end",
        ]
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="digits only, one round, 3 s cap (under a minute)"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="threads of the BLAS libraries, 0 for their own default (default: 1)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    settings, mode = (QUICK, "--quick") if args.quick else (FULL, "full")
    started, revision, load_before = datetime.now(timezone.utc), git_revision(), load_average()
    start = time.perf_counter()
    with threadpoolctl.threadpool_limits(limits=args.blas_threads or None, user_api="blas"):
        tables = benchmark(settings)
        seconds = time.perf_counter() - start
        machine = machine_info(mode, started, revision, load_before, seconds)
    print(f"# Methods of BackpropClassifier: time to target\n\n{machine}")
    for table in tables:
        print(f"\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
