"""Time one evaluation of J and ∇J with Δ(l) computed as A(l)ᵀ δ(l+1) or as (δ(l+1)ᵀ A(l))ᵀ.

The workspace's Δ buffers decide which (``_network.Workspace.Delta``): a C-ordered
(s_l, s_{l+1}) buffer gets A(l)ᵀ δ(l+1) (before), the transposed view of a C-ordered
(s_{l+1}, s_l) buffer gets δ(l+1)ᵀ A(l) (now). Both in one process, in alternation, numpy's BLAS
at one thread; CPU time of the process (less sensitive than wall time to other processes on a
shared machine). Prints the medians, the median ratio now / before with its range, and the
largest relative difference of the two gradients.

Usage::

    python benchmarks/bench_delta_layout.py
"""

import statistics
import time

import numpy as np
from _machine import load_average  # benchmarks/_machine.py
from bench_threads import digits_all, synthetic
from threadpoolctl import threadpool_limits

from sklearn_bp import BackpropClassifier

CASES = [
    ("digits 1797x64 (25,)", digits_all, (25,), 1e-3),
    ("20000x400 (25,)", lambda: synthetic(20000, 400), (25,), 50e-3),
    ("10000x784 (256, 256)", lambda: synthetic(10000, 784), (256, 256), 300e-3),
]
ROUNDS = 9
BATCH_SECONDS = 0.15


def cpu_time_per_call(function, number):
    function()
    start = time.process_time()
    for _ in range(number):
        function()
    return (time.process_time() - start) / number


def compare(data, hidden, dtype, seconds_per_call):
    X, y = data()
    X = X.astype(dtype)
    estimator = BackpropClassifier(hidden, alpha=1.0, random_state=0)
    objective, theta = estimator._objective_at_start(X, y, None, [dtype])
    workspace = objective.data.workspace
    layouts = {"before": [np.empty(D.shape, dtype) for D in workspace.Delta]}
    layouts["now"] = list(workspace.Delta)
    gradient = np.empty_like(theta)
    number = max(1, round(BATCH_SECONDS / seconds_per_call))
    times = {name: [] for name in layouts}
    with threadpool_limits(1, user_api="blas"):
        for round_ in range(ROUNDS):
            order = list(layouts) if round_ % 2 else list(layouts)[::-1]
            for name in order:
                workspace.Delta[:] = layouts[name]
                times[name].append(
                    cpu_time_per_call(lambda: objective.loss_gradient(theta, gradient), number)
                )
        gradients = {}
        for name, buffers in layouts.items():
            workspace.Delta[:] = buffers
            gradients[name] = objective.loss_gradient(theta)[1]
    ratios = [now / before for now, before in zip(times["now"], times["before"])]
    difference = np.max(np.abs(gradients["now"] - gradients["before"]))
    return times, ratios, difference / np.max(np.abs(gradients["before"]))


def main():
    print(f"load average at the start: {load_average()}")
    print("| problem | dtype | before ms | now ms | now / before | gradients' difference |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, data, hidden, seconds in CASES:
        for dtype in (np.float64, np.float32):
            times, ratios, difference = compare(data, hidden, dtype, seconds)
            before, now = (1e3 * statistics.median(times[name]) for name in ("before", "now"))
            ratio = f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
            cells = [label, np.dtype(dtype).name, f"{before:.3f}", f"{now:.3f}", ratio]
            print("| " + " | ".join([*cells, f"{difference:.1e}"]) + " |", flush=True)
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
