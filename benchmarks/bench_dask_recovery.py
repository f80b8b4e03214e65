"""What a lost worker costs a dask fit: the time to place its chunks again, on 200000 × 100.

Runs a ``LocalCluster`` of worker processes with one thread each (and a nanny each, which
starts a killed worker again), starts the workers' terms of a classifier's fit as a fit does,
and then, ``--repeat`` times: times evaluations of J and ∇J, kills the worker of the first
group of chunks with SIGKILL, and times the next evaluation, which finds the worker gone,
computes its chunks again from the dask graph on a worker that is left (or the restarted one,
when it is back first), builds their actor and repeats the evaluation. Reported:

* ``evaluation``: one evaluation before the kill (median of 5);
* ``evaluation that recovers``: the first evaluation after the kill, all included;
* ``placing again``: the part of it spent placing the lost chunks again (from noticing the
  loss to the new actor's answer), which includes computing the chunks from the graph;
* ``evaluation after``: one evaluation once recovered (median of 5): the lost group's rows
  may now share a worker with another group.

Two kinds of graph: X sent from the client (``da.from_array``: the graph holds all of X, and
computing lost chunks again sends it again), and X generated on the workers
(``dask.array.random``, seeded: like rows read from files there, only the lost chunks are
computed again).

    python benchmarks/bench_dask_recovery.py [--rows 200000] [--workers 3] [--repeat 3]
"""

import argparse
import functools
import os
import signal
import statistics
import time
import warnings

import numpy as np


def _data(kind, n_rows, n_features, n_chunks):
    import dask.array as da

    rows = -(-n_rows // n_chunks)
    if kind == "from_array":
        rng = np.random.RandomState(0)
        X = rng.normal(size=(n_rows, n_features))
        y = (X[:, :10] @ rng.normal(size=(10, 10))).argmax(axis=1)
        return da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)
    state = da.random.RandomState(0)
    X = state.normal(size=(n_rows, n_features), chunks=(rows, -1))
    y = (X[:, :10] @ np.random.RandomState(1).normal(size=(10, 10))).argmax(axis=1)
    return X, y


def _placed(estimator, X, y):
    """The objective of a fit on the cluster, its start θ and its rows' placement."""
    from sklearn_bp._objective import BackpropObjective

    problem = estimator._prepare(X, y, None)
    rows, _ = estimator._split(problem, np.random.RandomState(0), False)
    data = estimator._data_term(problem, rows, False)
    theta = problem.network.initial_theta(np.random.RandomState(0))
    return BackpropObjective(data, estimator.alpha), theta, problem.placement


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _summary(values):
    low, high = 1e3 * min(values), 1e3 * max(values)
    return f"{1e3 * statistics.median(values):8.0f} ms  ({low:.0f} to {high:.0f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--chunks-per-worker", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from sklearn_bp import BackpropClassifier

    print(f"load average before the run: {os.getloadavg()}; CPUs: {os.cpu_count()}")
    print(
        f"{args.rows} x {args.features}, {args.workers} worker processes (1 thread, a nanny "
        f"each), {args.chunks_per_worker} chunks per worker, hidden (25,), 10 classes"
    )
    with (
        warnings.catch_warnings(),
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        warnings.simplefilter("ignore")
        for kind in ("from_array", "generated on the workers"):
            X, y = _data(kind, args.rows, args.features, args.workers * args.chunks_per_worker)
            objective, theta, placement = _placed(BackpropClassifier(alpha=1.0), X, y)
            evaluate = functools.partial(objective.loss_gradient, theta)
            data = placement.data
            rows_lost = sum(data._chunk_rows[i] for i in data.groups[0])
            before, recovering, placing, after, targets = [], [], [], [], []
            try:
                objective.loss_gradient(theta)  # warm-up
                for _ in range(args.repeat):
                    client.wait_for_workers(args.workers, timeout=120)
                    before.extend(_seconds(evaluate) for _ in range(5))
                    lost = data.where[0]
                    os.kill(client.run(os.getpid, workers=[lost])[lost], signal.SIGKILL)
                    recovering.append(_seconds(evaluate))
                    placing.append(data.recoveries[-1][0])
                    restarted = data.where[0] not in data.where[1:]
                    targets.append("the restarted worker" if restarted else "a worker left")
                    after.extend(_seconds(evaluate) for _ in range(5))
            finally:
                placement.close()
            print(f"\nX {kind}: one worker lost, {rows_lost} rows to place again")
            print(f"  evaluation                       {_summary(before)}")
            print(f"  evaluation that recovers         {_summary(recovering)}")
            print(f"  of which placing again           {_summary(placing)}")
            print(f"  evaluation after                 {_summary(after)}")
            print(f"  lost chunks went to: {', '.join(targets)}")


if __name__ == "__main__":
    main()
