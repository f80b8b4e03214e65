"""
=========================
Fitting on a dask cluster
=========================

When the training rows outgrow the memory of one machine, or already live on a dask cluster,
:class:`~sklearn_bp.BackpropClassifier` and :class:`~sklearn_bp.BackpropRegressor` fit on dask
collections directly. The rows stay on the workers. On each worker an actor sums the cost J
and its gradient over the row chunks that worker holds; each evaluation sends the parameter
vector θ to every worker and gets one number and one vector back, and the client, which needs
no rows at all, runs :func:`scipy.optimize.minimize` as it would in memory.

This example starts a small cluster on this machine, fits the same network in memory and on
the cluster, checks that the two fits give the same model, predicts lazily on the cluster's
rows, and compares the time per iteration. The :ref:`dask` page tells the full story: what
travels over the network, and when a cluster is worth it.
"""

# %%
# A local cluster
# ---------------
#
# A ``distributed.LocalCluster`` runs a scheduler and workers on this machine: here two
# workers with one thread each. ``silence_logs`` keeps their log messages out of the output,
# and ``dashboard_address=":0"`` puts the scheduler's web server on any free port rather than
# on 8787, which another cluster on the machine may hold. sklearn-bp fits on the default
# client, the last ``distributed.Client`` created: nothing else is needed to send the fits
# below to the cluster.
#
# A real cluster runs its workers as separate processes, usually on separate machines, and
# ``LocalCluster`` does the same by default (``processes=True``). It starts them with the
# "spawn" method, which imports the main module again in each new process, so a script that
# starts worker processes must do so under ``if __name__ == "__main__":``, or each worker
# would run the whole script again. The cells of a gallery example cannot all sit under that
# guard, so here ``processes=False`` runs the two workers as threads of this process. They
# still hold their own rows and answer the client through the same messages as worker
# processes would. On a real cluster only the two lines that start the cluster and the
# client change, to ``client = Client("tcp://scheduler-address:8786")``.

import logging
import os
import time
import warnings

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_bp import BackpropClassifier

cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,
    dashboard_address=":0",
    silence_logs=logging.ERROR,
)
client = Client(cluster)
print(f"{len(client.scheduler_info()['workers'])} workers")

# %%
# Rows chunked on the workers
# ---------------------------
#
# The problem: 60000 rows of 50 features in three classes, drawn by scikit-learn's
# ``make_classification``. ``dask.array.from_array`` cuts the array into chunks of 10000 rows
# (with all 50 columns in each: ``-1``), and ``client.persist`` sends the chunks to the
# workers, which keep them in memory. From now on ``X_dask`` and ``y_dask`` are handles on rows
# that live on the workers: the fit and the predictions below send the workers tasks, not
# rows.
#
# Here the rows start in the client's memory and go to the workers inside the task graph.
# dask warns about graphs larger than 10 MB, and ``X`` takes 24 MB, so the threshold is raised
# for that one call. On a real cluster the rows would not pass through the client at all: each
# worker would read its own chunks from files, with ``dask.dataframe.read_parquet`` or
# ``dask.array.from_zarr``, and the rows could add up to far more than the client's memory.

X, y = make_classification(
    n_samples=60_000,
    n_features=50,
    n_informative=20,
    n_redundant=10,
    n_classes=3,
    random_state=0,
)
X_dask = da.from_array(X, chunks=(10_000, -1))
y_dask = da.from_array(y, chunks=10_000)
with dask.config.set({"distributed.admin.large-graph-warning-threshold": "64MB"}):
    X_dask, y_dask = client.persist([X_dask, y_dask])
print(X_dask)
print(f"{X.nbytes / 1e6:.0f} MB in {X_dask.numblocks[0]} chunks of {X_dask.chunksize[0]} rows")

# %%
# The same network, in memory and on the cluster
# ----------------------------------------------
#
# Two estimators with the same parameters and the same ``random_state``, hence the same
# starting weights: one is fitted on the NumPy arrays, the other on the dask arrays. To keep
# the example short, L-BFGS-B stops after 50 iterations, before it converges (the
# :class:`~sklearn.exceptions.ConvergenceWarning` that says so is silenced below); the
# comparison does not need convergence, since it holds at every iteration, as the loss curves
# will show.

params = dict(hidden_layer_sizes=(25,), alpha=1.0, max_iter=50, random_state=0)
fit_time = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    in_memory = BackpropClassifier(**params).fit(X, y)
    fit_time["in memory"] = time.perf_counter() - start

    start = time.perf_counter()
    on_cluster = BackpropClassifier(**params).fit(X_dask, y_dask)
    fit_time["on the cluster"] = time.perf_counter() - start


def relative_difference(a, b):
    """‖a − b‖ / ‖a‖, the size of the difference relative to the size of a."""
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(a))


for name, model in [("in memory", in_memory), ("on the cluster", on_cluster)]:
    print(
        f"{name:<15} loss_ = {model.loss_:.10f}, n_iter_ = {model.n_iter_}, "
        f"n_fun_evals_ = {model.n_fun_evals_}"
    )
print("relative differences, on the cluster against in memory:")
print(f"  {'loss_':<15} {relative_difference(in_memory.loss_, on_cluster.loss_):.1e}")
for attribute in ("coefs_", "intercepts_"):
    pairs = zip(getattr(in_memory, attribute), getattr(on_cluster, attribute))
    for index, (a, b) in enumerate(pairs):
        print(f"  {f'{attribute}[{index}]':<15} {relative_difference(a, b):.1e}")

# %%
# The two loss curves
# -------------------
#
# ``loss_curve_`` holds J after every iteration. The left panel draws the two curves on top
# of each other; the right one shows how far apart they are, relative to J.

iterations = np.arange(1, in_memory.n_iter_ + 1)
memory_curve = np.asarray(in_memory.loss_curve_)
cluster_curve = np.asarray(on_cluster.loss_curve_)

fig, (ax_curve, ax_gap) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax_curve.plot(iterations, memory_curve, color="C0", linewidth=4, alpha=0.5, label="in memory")
ax_curve.plot(iterations, cluster_curve, "k--", linewidth=1.2, label="on the cluster")
ax_curve.set_yscale("log")
ax_curve.set_xlabel("iteration")
ax_curve.set_ylabel("J (cross-entropy per row + penalty)")
ax_curve.set_title("loss_curve_")
ax_curve.legend()

gap = np.abs(cluster_curve - memory_curve) / memory_curve
ax_gap.plot(iterations, np.maximum(gap, 1e-18), "o-", color="C3", markersize=3)
ax_gap.axhline(np.finfo(float).eps, color="k", linestyle=":", linewidth=1)
ax_gap.annotate(
    "machine epsilon",
    (iterations[-1], np.finfo(float).eps),
    xytext=(0, -4),
    textcoords="offset points",
    ha="right",
    va="top",
    fontsize=9,
)
ax_gap.set_yscale("log")
ax_gap.set_ylim(1e-18, 1e-6)
ax_gap.set_xlabel("iteration")
ax_gap.set_ylabel("|J on the cluster - J in memory| / J")
ax_gap.set_title("How far apart the two curves are")
plt.show()

# %%
# The curves cannot be told apart. The two fits are the same computation: the cluster adds
# the same per-row terms, only grouped by chunk and by worker, and so in a different order,
# which changes the last bits of each sum. At the first iterations the two values of J are
# equal (points on the bottom edge are exact ties) or differ by about machine epsilon.
# L-BFGS-B builds each step on the gradients before it, so these last-bit differences are
# carried forward and grow slowly, to around 1e-11 after 50 iterations: far below anything a
# model could notice. The final parameters, printed above, differ by as little. (The exact
# sizes of these differences change a little from run to run: the workers' sums do not
# always round the same way.)

# %%
# Lazy predictions
# ----------------
#
# The fitted estimator is an ordinary one. Given a dask array, ``predict``,
# ``predict_proba``, ``predict_log_proba`` and ``decision_function`` return a lazy dask array,
# one chunk of predictions per chunk of rows, computed by the workers when asked for.
# Nothing has been computed yet when ``proba`` is printed.

proba = on_cluster.predict_proba(X_dask)
print(proba)

proba_computed = proba.compute()
print(f"{type(proba_computed).__name__} of shape {proba_computed.shape}")
same_model = np.abs(proba_computed - on_cluster.predict_proba(X)).max()
in_memory_fit = np.abs(proba_computed - in_memory.predict_proba(X)).max()
print(f"largest difference from the same model predicting in memory: {same_model:.1e}")
print(f"largest difference from the model fitted in memory:          {in_memory_fit:.1e}")

accuracy = (on_cluster.predict(X_dask) == y_dask).mean()
print(f"training accuracy, computed on the workers: {accuracy.compute():.3f}")

# %%
# ``compute`` brings the 60000 × 3 probabilities to the client as a NumPy array. Computed chunk
# by chunk on the workers, they are, to rounding, the numbers the same model gives on ``X`` in
# memory; they differ from the predictions of the model fitted in memory by the little that
# the two fits' parameters differ. The accuracy is a lazy expression too: the workers compare
# their own predictions with their own labels, and only the mean comes back to the client. On
# rows that do not fit in the client's memory, reduce the predictions on the workers like
# this, or write them to files with ``dask.array.to_zarr``, rather than calling ``compute`` on
# them.

# %%
# Time per iteration
# ------------------
#
# Each fit's wall-clock time divided by its number of iterations. The time on the cluster
# includes the start of the fit, in which the workers prepare their chunks and build their
# actors, and the messages of every evaluation to and from the workers.

per_iteration = {
    "in memory": fit_time["in memory"] / in_memory.n_iter_,
    "on the cluster": fit_time["on the cluster"] / on_cluster.n_iter_,
}
for name, seconds in per_iteration.items():
    print(f"{name:<15} {1e3 * seconds:6.1f} ms per iteration ({fit_time[name]:.1f} s in all)")

fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
bars = ax.barh([0, 1], [1e3 * s for s in per_iteration.values()], color=["C0", "C1"])
ax.bar_label(bars, fmt="%.0f ms", padding=3)
ax.set_yticks(
    [0, 1], ["in memory\n(NumPy's threads)", "on the cluster\n(2 workers, 1 thread each)"]
)
ax.invert_yaxis()
ax.set_xlabel("milliseconds per iteration")
ax.set_xlim(0, 1.25e3 * max(per_iteration.values()))
ax.set_title(f"60000 rows, 50 features, one machine with {os.cpu_count()} cores")
plt.show()

# %%
# Read these bars for the mechanics, not as a benchmark. Both fits ran on the same few cores
# of one machine. In memory, NumPy's BLAS spreads the matrix products over the cores, but the
# element-wise work (the sigmoids, the cost) runs on one; on the cluster each worker does all
# the work for its half of the rows, and every evaluation adds a message to each worker and
# one back (here they do not even leave the process). So the two times come out close, the
# cluster sometimes a little ahead, and which bar is the shorter depends on the machine and on
# what else it is doing. Either way, a local cluster cannot be faster than the cores it runs
# on: for data that fit in memory, fit in memory. A cluster pays off when the rows outgrow
# one machine. Each worker then passes over its own share of the rows with its own cores and
# memory, while all that travels per evaluation is θ out to each worker and one vector back,
# however many rows there are. The :ref:`dask` page measures that fixed cost.

# %%
# Closing the cluster
# -------------------
#
# The client and the cluster are closed at the end; their rows and actors go with them.

client.close()
cluster.close()
