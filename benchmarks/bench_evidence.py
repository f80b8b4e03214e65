"""alpha="evidence" against a grid search over alpha and against the default alpha.

The targets of the evidence's issue, measured (a benchmark, not a timed test):

1. On diabetes (targets standardized), make_friedman1(300, noise=1.0) (R²) and breast_cancer
   (accuracy), each behind a StandardScaler with hidden_layer_sizes=(10,) and 5-fold CV:
   alpha="evidence" scores within 0.05 R² (0.015 accuracy) of the best mean CV score of a
   GridSearchCV over np.logspace(-3, 4, 15), in at most a fifth of its time.
2. The 95% intervals (±1.96 std) of ``predict(X, return_std=True)`` cover 88% to 98% of
   held-out targets of make_friedman1 with noise 1.0 and 0.3.
3. The table of the default alpha, the evidence and the grid search on at least 8 data
   sets, with their times; the evidence would become the default only if it scores at least
   as well as the default on at least 6 of them at no more than twice its time.

Run from the repository root::

    python benchmarks/bench_evidence.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_evidence.py --coverage # the intervals only

Every number is printed with the machine's load average; times are the wall-clock seconds
of the whole 5-fold cross-validation (one process, ``n_jobs=1``).
"""

import argparse
import time
import warnings

import numpy as np
from _machine import load_average  # benchmarks/_machine.py
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_wine,
    make_classification,
    make_friedman1,
    make_friedman2,
    make_friedman3,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor

GRID = np.logspace(-3, 4, 15)
HIDDEN = (10,)


def standardized(y):
    return (y - y.mean()) / y.std()


def data_sets():
    """name → (X, y, kind); regression targets standardized."""
    X_d, y_d = load_diabetes(return_X_y=True)
    X_r, y_r = make_regression(300, 10, n_informative=5, noise=20.0, random_state=0)
    X_f2, y_f2 = make_friedman2(300, noise=10.0, random_state=0)
    X_f3, y_f3 = make_friedman3(300, noise=0.1, random_state=0)
    X_c, y_c = make_classification(500, 20, n_informative=5, random_state=0)
    return {
        "diabetes": (X_d, standardized(y_d), "regression"),
        "friedman1": (*make_friedman1(300, noise=1.0, random_state=0), "regression"),
        "breast_cancer": (*load_breast_cancer(return_X_y=True), "classification"),
        "iris": (*load_iris(return_X_y=True), "classification"),
        "wine": (*load_wine(return_X_y=True), "classification"),
        "friedman2": (X_f2, standardized(y_f2), "regression"),
        "friedman3": (X_f3, standardized(y_f3), "regression"),
        "make_regression": (X_r, standardized(y_r), "regression"),
        "make_classification": (X_c, y_c, "classification"),
    }


def model(kind, alpha):
    Estimator = BackpropRegressor if kind == "regression" else BackpropClassifier
    return make_pipeline(
        StandardScaler(), Estimator(hidden_layer_sizes=HIDDEN, alpha=alpha, random_state=0)
    )


def folds(kind):
    if kind == "regression":
        return KFold(5, shuffle=True, random_state=0)
    return StratifiedKFold(5, shuffle=True, random_state=0)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def compare(name, X, y, kind):
    """Mean CV scores and seconds of the default alpha, the evidence and the grid search."""
    cv = folds(kind)
    default, default_seconds = timed(lambda: cross_val_score(model(kind, 1e-4), X, y, cv=cv).mean())
    evidence, evidence_seconds = timed(
        lambda: cross_val_score(model(kind, "evidence"), X, y, cv=cv).mean()
    )
    step = "backpropregressor" if kind == "regression" else "backpropclassifier"
    search = GridSearchCV(model(kind, 1e-4), {f"{step}__alpha": GRID}, cv=cv)
    _, grid_seconds = timed(lambda: search.fit(X, y))
    chosen = search.best_params_[f"{step}__alpha"]
    return {
        "name": name,
        "kind": kind,
        "default": default,
        "default_s": default_seconds,
        "evidence": evidence,
        "evidence_s": evidence_seconds,
        "grid": search.best_score_,
        "grid_alpha": chosen,
        "grid_s": grid_seconds,
    }


def coverage(noise, seeds=5, n_test=2000):
    """Share of held-out friedman1 targets inside ±1.96 std, over ``seeds`` draws."""
    shares = []
    for seed in range(seeds):
        X, y = make_friedman1(300 + n_test, noise=noise, random_state=seed)
        pipe = model("regression", "evidence").fit(X[:300], y[:300])
        mean, std = pipe.predict(X[300:], return_std=True)
        shares.append(np.mean(np.abs(y[300:] - mean) <= 1.96 * std))
    return np.median(shares), min(shares), max(shares)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coverage", action="store_true", help="the intervals only")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"load average (1, 5, 15 min) at the start: {load_average()}")
    for noise in (1.0, 0.3):
        median, low, high = coverage(noise)
        print(
            f"friedman1 noise {noise}: 95% intervals cover {median:.1%} of held-out targets "
            f"(median of 5 draws, {low:.1%} to {high:.1%}; target 88% to 98%)"
        )
    if args.coverage:
        return
    rows = []
    header = (
        "| data | score | default alpha (s) | evidence (s) | grid best, alpha (s) | "
        "evidence - grid | evidence time / grid time |"
    )
    print(header)
    print("|" + "---|" * 7)
    for name, (X, y, kind) in data_sets().items():
        row = compare(name, X, y, kind)
        rows.append(row)
        score = "R²" if kind == "regression" else "accuracy"
        print(
            f"| {name} | {score} | {row['default']:.3f} ({row['default_s']:.1f}) | "
            f"{row['evidence']:.3f} ({row['evidence_s']:.1f}) | {row['grid']:.3f}, "
            f"{row['grid_alpha']:.3g} ({row['grid_s']:.1f}) | "
            f"{row['evidence'] - row['grid']:+.3f} | {row['evidence_s'] / row['grid_s']:.3f} |",
            flush=True,
        )
    wins = [
        row["evidence"] >= row["default"] and row["evidence_s"] <= 2 * row["default_s"]
        for row in rows
    ]
    better = sum(row["evidence"] >= row["default"] for row in rows)
    print(
        f"\nevidence scores at least as well as the default alpha on {better} of {len(rows)} "
        f"data sets, and at no more than twice its time on {sum(wins)}: the rule (6 of them) "
        f"{'is' if sum(wins) >= 6 else 'is not'} met."
    )
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")


if __name__ == "__main__":
    main()
