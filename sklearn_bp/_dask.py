"""Data-parallel fits on a dask cluster: the data term summed on the workers.

The accumulator Δ is a sum over examples, so J, ∇J and H·v split over row chunks exactly. A fit
on dask collections keeps the rows on the workers:

1. The chunks of X, of the encoded targets Y and of the weights w are computed once, as one
   (X, Y, w) tuple per row chunk, on the workers (``client.compute``).
2. On every worker that holds chunks, an actor (:class:`WorkerTerm`) builds one
   :class:`~sklearn_bp._objective.DataTerm` per chunk, with its workspaces, once per fit; the
   actors hold the rows from then on, and the client keeps only the chunks' dask graph.
3. Each evaluation sends θ (and v for a curvature product) straight to each actor, which sums
   over its group of chunks and sends back one loss and one vector. The client adds them, in
   the groups' order; the objective divides by W and adds the penalty as for in-memory data,
   and ``scipy.optimize.minimize`` runs on the client.
4. When a worker is lost, its groups are computed again from the graph and given to new
   actors on the workers left, and the evaluation is repeated (:meth:`DaskData.call`): the
   optimizer sees the same numbers, bounded by the config keys
   ``sklearn-bp.recovery.attempts`` and ``sklearn-bp.recovery.timeout``.

An actor call goes from the client to the worker without a round trip through the scheduler,
which is what keeps the fixed cost of an evaluation low (``benchmarks/bench_dask.py``).
Nothing here imports dask until a fit meets a dask collection.
"""

import contextlib
import numbers
import time
import zlib

import numpy as np
from scipy import sparse

from ._losses import LOSSES
from ._network import Network
from ._objective import DataTerm


def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection (array, DataFrame, Series), without importing dask."""
    root = type(obj).__module__.split(".")[0]
    return root in {"dask", "dask_expr"} and hasattr(obj, "__dask_graph__")


def any_dask(*objects):
    """Whether any of ``objects`` is a dask collection."""
    return any(is_dask_collection(obj) for obj in objects)


def _client():
    try:
        from distributed import default_client
    except ImportError:  # dask without distributed
        from ._optional import missing_message

        raise ImportError(missing_message("Fitting on dask collections", ["distributed"])) from None
    try:
        return default_client()
    except ValueError:
        raise ValueError(
            "Fitting on dask collections needs a dask.distributed Client: start one, for "
            "example distributed.Client(LocalCluster()) or Client('scheduler-address:8786'), "
            "before calling fit."
        ) from None


# How long a failed actor call waits for the scheduler to notice that the worker is gone: it
# learns of a killed worker's process when its connection closes, within moments.
WORKER_LOSS_WAIT = 5.0

# The bounds on surviving a lost worker, read from dask's configuration when a fit starts:
# how many times one evaluation may be repeated after placing lost rows again, and how long
# one such placing may take (waiting for a worker, computing the chunks, building the actor).
RECOVERY_ATTEMPTS = 3  # "sklearn-bp.recovery.attempts"
RECOVERY_TIMEOUT = 120.0  # "sklearn-bp.recovery.timeout", seconds or a string such as "2 min"

# How often a wait for the cluster looks at its futures and its workers: at first every
# POLL seconds, then less and less often, down to every POLL_MAX seconds.
POLL, POLL_MAX = 0.02, 0.5


def recovery_limits():
    """``(attempts, timeout)``: the bounds on placing lost rows again, from dask's config."""
    import dask
    from dask.utils import parse_timedelta

    attempts = dask.config.get("sklearn-bp.recovery.attempts", RECOVERY_ATTEMPTS)
    timeout = dask.config.get("sklearn-bp.recovery.timeout", RECOVERY_TIMEOUT)
    if isinstance(attempts, bool) or not isinstance(attempts, numbers.Integral) or attempts < 0:
        raise ValueError(
            f"The dask config key 'sklearn-bp.recovery.attempts' must be an integer >= 0, got "
            f"{attempts!r}."
        )
    try:
        seconds = float(parse_timedelta(timeout, default="s"))
    except (TypeError, ValueError, KeyError):
        seconds = None
    if seconds is None or not seconds > 0:
        raise ValueError(
            f"The dask config key 'sklearn-bp.recovery.timeout' must be a positive duration "
            f"(seconds, or a string such as '2 min'), got {timeout!r}."
        )
    return int(attempts), seconds


def as_dask_array(collection):
    """A dask array with known chunk sizes from a dask array, DataFrame or Series."""
    import dask.array as da

    if hasattr(collection, "to_dask_array"):  # a dask DataFrame or Series
        return collection.to_dask_array(lengths=True)
    array = collection if isinstance(collection, da.Array) else da.asarray(collection)
    if any(np.isnan(size) for sizes in array.chunks for size in sizes):
        array = array.compute_chunk_sizes()
    return array


def _refuse_complex(array, name):
    """Refuse a complex ``array`` with the error scikit-learn gives for complex NumPy data."""
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} is an array of dtype {array.dtype}.")


def dask_inputs(X, y, sample_weight):
    """Validate the shapes and dtypes of dask X, y and sample_weight without computing X.

    Returns
    -------
    X, y, sample_weight : dask arrays
        X of shape (n, p) in one column chunk, float32 or float64; y and the weights
        (or None) chunked along the rows as X is.
    feature_names : ndarray of str or None
        The columns of a dask DataFrame X.
    """
    import dask.array as da

    if not is_dask_collection(X):
        raise TypeError(
            f"With a dask y or sample_weight, X must be a dask collection too, got "
            f"{type(X).__name__}: wrap it with dask.array.from_array."
        )
    feature_names = None
    if hasattr(X, "columns"):
        columns = [str(column) for column in X.columns]
        if all(isinstance(column, str) for column in X.columns):
            feature_names = np.asarray(columns, dtype=object)
    X = as_dask_array(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D dask array for X, got {X.ndim} dimension(s).")
    if X.shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}): a minimum of 1 is required."
        )
    if X.shape[1] < 1:
        raise ValueError("X has 0 features: at least one is required.")
    _refuse_complex(X, "X")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers, got a dask array of dtype {X.dtype}.")
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    X = X.rechunk({1: -1})
    if y is None:
        raise ValueError("y is required: fit needs targets.")
    y = as_dask_array(y if is_dask_collection(y) else da.from_array(np.asarray(y)))
    _refuse_complex(y, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have 1 or 2 dimensions, got {y.ndim}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {X.shape[0]} and {y.shape[0]}."
        )
    y = y.rechunk({0: X.chunks[0], **({1: -1} if y.ndim == 2 else {})})
    if sample_weight is not None:
        if not is_dask_collection(sample_weight):
            sample_weight = np.asarray(sample_weight)
            _refuse_complex(sample_weight, "sample_weight")
            sample_weight = da.from_array(sample_weight.astype(np.float64))
        sample_weight = as_dask_array(sample_weight)
        # Cast to float64, complex weights would lose their imaginary part with a mere warning.
        _refuse_complex(sample_weight, "sample_weight")
        sample_weight = sample_weight.astype(np.float64)
        if sample_weight.shape != (X.shape[0],):
            raise ValueError(
                f"sample_weight.shape == {sample_weight.shape}, expected ({X.shape[0]},)."
            )
        sample_weight = sample_weight.rechunk({0: X.chunks[0]})
    return X, y, sample_weight, feature_names


def _chunk(index, X, Y, weight, encode, weigh, dtype):
    """One row chunk on a worker: (index, X, encoded targets, weights)."""
    if sparse.issparse(X):
        X = X.tocsr().astype(dtype, copy=False)
    elif X.base is not None or X.dtype != dtype:
        # A view into memory the chunk does not own (a slice of an array sent from the client,
        # a buffer received from another worker): measured here, the passes over such rows ran
        # at half the speed of the same rows in a fresh array of their own.
        X = np.array(X, dtype=dtype, order="C")
    finite = np.isfinite(X.data if sparse.issparse(X) else X).all()
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")
    Y, y = encode(Y), Y
    if weight is None:
        weight = np.ones(X.shape[0], dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    if weigh is not None:
        weight = weigh(y, weight)
    return index, X, Y.astype(dtype, copy=False), weight.astype(dtype)


def _fingerprint(X, Y, weight):
    """A chunk's rows and a checksum of its bytes: what a chunk computed again must match."""
    parts = (X.data, X.indices, X.indptr) if sparse.issparse(X) else (X,)
    checksum = 0
    for part in (*parts, Y, weight):
        checksum = zlib.crc32(np.ascontiguousarray(part).view(np.uint8), checksum)
    return int(X.shape[0]), checksum


def _own(array):
    """``array`` in memory of its own, aligned and in C order: a copy if it is not.

    A chunk received from another worker is a view into the receive buffer, not even aligned
    to 8 bytes (seen here: addresses 62 modulo 64): NumPy's reductions then add in another
    order than over an aligned copy, and the passes ran at half the speed.
    """
    if sparse.issparse(array):
        parts = (array.data, array.indices, array.indptr)
        return array if all(_owned(part) for part in parts) else array.copy()
    return array if _owned(array) else np.array(array, order="C")


def _owned(array):
    return array.flags.owndata and array.flags.aligned and array.flags.c_contiguous


def _split_rows(n_rows, fraction, seed, index):
    """Training and validation rows of chunk ``index``: a random ``fraction`` held out."""
    if not fraction:
        return None, None
    order = np.random.RandomState([seed, index]).permutation(n_rows)
    n_validation = int(np.floor(fraction * n_rows + np.random.RandomState([seed, index]).rand()))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


class WorkerTerm:
    """The data term of the row chunks on one worker: an actor, built once per fit.

    Parameters
    ----------
    layer_sizes, activation, loss_name
        The network and its output units.
    block_rows : callable
        ``block_rows(network, X, curvature) -> int``, as for in-memory data.
    curvature : bool
        Whether the training terms will compute curvature products.
    fraction, seed
        With ``fraction > 0``, each chunk holds out a random ``fraction`` of its rows for
        early stopping, drawn from ``seed`` and the chunk's index.
    *chunks : tuple
        ``(index, X, Y, weight)`` of every chunk on this worker.
    """

    def __init__(self, layer_sizes, activation, loss_name, block_rows, curvature, fraction,
                 seed, *chunks):  # fmt: skip
        self.network = network = Network(layer_sizes, activation)
        loss = LOSSES[loss_name]
        self.train, self.validation = [], []
        chunks = [(index, *map(_own, arrays)) for index, *arrays in chunks]
        self.fingerprints = {index: _fingerprint(X, Y, weight) for index, X, Y, weight in chunks}
        for index, X, Y, weight in chunks:
            train, validation = _split_rows(X.shape[0], fraction, seed, index)
            if train is not None:
                if validation.size:
                    self.validation.append(
                        DataTerm(network, loss, X[validation], Y[validation], weight[validation],
                                 block_rows(network, X[validation]))
                    )  # fmt: skip
                X, Y, weight = X[train], Y[train], weight[train]
            if X.shape[0]:
                self.train.append(
                    DataTerm(network, loss, X, Y, weight, block_rows(network, X, curvature))
                )
        self._buffer = np.empty(network.n_params)

    def summary(self):
        """The worker's address; rows and total weight of the training and validation parts;
        each chunk's fingerprint."""
        from distributed import get_worker

        return {
            "worker": get_worker().address,
            "fingerprints": self.fingerprints,
            "train": (
                sum(t.X.shape[0] for t in self.train),
                sum(t.total_weight for t in self.train),
            ),
            "validation": (
                sum(t.X.shape[0] for t in self.validation),
                sum(t.total_weight for t in self.validation),
            ),
        }

    def saturated_fraction(self, theta, n_rows):
        """The saturation check of the first training chunk's rows, computed here."""
        return self.train[0].saturated_fraction(theta, n_rows) if self.train else None

    def loss_gradient(self, theta):
        """Σ over this worker's training rows of w_i cost_i, and of the accumulated Δ."""
        total, gradient = 0.0, np.zeros(self.network.n_params)
        for term in self.train:
            total += term.loss_gradient_sum(theta, self._buffer)
            gradient += self._buffer
        return total, gradient

    def loss(self, theta):
        """Σ over this worker's training rows of w_i cost_i."""
        return sum(term.loss_sum(theta) for term in self.train)

    def curvature_product(self, theta, v, kind):
        """Σ over this worker's training rows of the exact or Gauss-Newton product with v."""
        out = np.zeros(self.network.n_params)
        for term in self.train:
            product = {
                "exact": term.hessian_vector_product_sum,
                "gauss-newton": term.gauss_newton_vector_product_sum,
            }[kind]
            product(theta, v, self._buffer)
            out += self._buffer
        return out

    def validation_sums(self, theta, statistics):
        """Σ w_i cost_i and ``statistics(Z, Y, w)`` summed over this worker's held-out rows:
        additive sums from which the client computes the score, so that no row travels."""
        loss, total = 0.0, None
        for term in self.validation:
            term_loss, sums = term.validation_sums(theta, statistics)
            loss += term_loss
            total = sums if total is None else total + sums
        return loss, total


class DaskData:
    """The rows of a fit, as chunks on the workers of a dask cluster.

    Built by the cluster placement (``_placement.cluster``); :meth:`start` makes the actors,
    :meth:`term` gives data terms with the interface of :class:`~sklearn_bp._objective.DataTerm`
    that the objective, the early stopper and the saturation check use, :meth:`close` lets go.

    The chunks are held in *groups*: the chunks that one actor sums, in the order of their
    index, fixed when the actors start. An evaluation adds the groups' sums in the groups'
    order. When a worker is lost, each of its groups is computed again from the dask graph and
    given to a new actor on a worker that is left, whole: every sum is then added in the same
    order as before, and the evaluation, repeated, gives the same numbers.
    """

    def __init__(self, X, y, sample_weight, encode, weigh, dtype, loss):
        self.client = _client()
        self.attempts, self.timeout = recovery_limits()  # read once, when the fit starts
        self.loss = loss
        self.shape = X.shape
        x_blocks = X.to_delayed().ravel()
        y_blocks = y.to_delayed().ravel()
        w_blocks = (
            [None] * len(x_blocks) if sample_weight is None else sample_weight.to_delayed().ravel()
        )
        # What computes each chunk again when a worker that held it is lost: its graph.
        self._blocks = list(zip(x_blocks, y_blocks, w_blocks))
        self._chunk_args = (encode, weigh, dtype)
        self.dtype = np.dtype(dtype)  # the dtype the passes compute in
        self._chunk_rows = [int(rows) for rows in X.chunks[0]]
        # The chunks are dealt out to the workers in turn: left to itself, the scheduler may put
        # every chunk of an array sent from the client on one worker, which then computes every
        # evaluation alone (measured here: 1.3-1.4 times the in-memory time instead of 0.6-0.8).
        workers = sorted(self._workers())
        indices = range(len(self._blocks))
        self.chunks = self._compute(
            indices, [workers[i % len(workers)] if workers else None for i in indices]
        )
        self.groups, self.actors, self.where, self._actor_futures = [], [], [], []
        self.fingerprints = {}
        self.recoveries = []  # (seconds, lost workers, chunks placed again) per recovery

    def _compute(self, indices, workers):
        """Futures of the chunks ``indices``, each computed on its worker of ``workers`` if it
        can (anywhere for a worker None).

        One compute call for all of them: each call sends the whole graph again.
        """
        import dask

        chunk = dask.delayed(_chunk, pure=False)  # a new key each time: computed anew
        tasks = []
        for index, worker in zip(indices, workers):
            placement = (
                dask.annotate(workers=[worker], allow_other_workers=True)
                if worker is not None
                else contextlib.nullcontext()  # no worker yet: the scheduler decides
            )
            with placement:
                tasks.append(chunk(index, *self._blocks[index], *self._chunk_args))
        return self.client.compute(tasks, optimize_graph=False)

    def start(self, network, loss_name, block_rows, curvature, fraction, seed):
        """Build one :class:`WorkerTerm` for the chunks of every worker that holds some."""
        self.network = network
        self._spec = (
            network.layer_sizes, network.activation, loss_name, block_rows, curvature,
            fraction, seed,
        )  # fmt: skip
        timeout = self.timeout
        self._wait(self.chunks, None, timeout, range(len(self.chunks)), None)
        by_worker, who_has = {}, self.client.who_has(self.chunks)
        for index, future in enumerate(self.chunks):
            (worker, *_) = who_has[future.key]
            by_worker.setdefault(worker, []).append(index)
        self.groups = [tuple(indices) for indices in by_worker.values()]
        self.actors = [None] * len(self.groups)
        self.where = [None] * len(self.groups)
        self._actor_futures = [None] * len(self.groups)
        self._place(range(len(self.groups)), list(by_worker), self.chunks, None, timeout, None)
        summaries = self.call("summary")
        for summary in summaries:
            self.fingerprints.update(summary["fingerprints"])
        self.summary = {
            part: tuple(sum(s[part][i] for s in summaries) for i in (0, 1))
            for part in ("train", "validation")
        }
        # The actors hold the rows (copies of their training and held-out rows with early
        # stopping, the chunks themselves without): the chunks' futures can go. A chunk that
        # is lost with its worker is computed again from its graph.
        self.chunks = []

    def _place(self, groups, workers, chunks, deadline, timeout, cause):
        """Start an actor for each of ``groups`` on ``workers`` (one per group), from the
        futures ``chunks`` (by chunk index) or, without them, from chunks computed anew there.
        """
        indices = [index for group in groups for index in self.groups[group]]
        if chunks is None:  # one compute call: each sends the graph, maybe all of X, again
            places = [worker for group, worker in zip(groups, workers) for _ in self.groups[group]]
            chunks = dict(zip(indices, self._compute(indices, places)))
        actor_futures, futures = [], []
        for group, worker in zip(groups, workers):
            parts = [chunks[index] for index in self.groups[group]]
            futures.extend(parts)
            actor_futures.append(
                self.client.submit(
                    WorkerTerm,
                    *self._spec,
                    *parts,
                    workers=[worker],
                    allow_other_workers=True,  # if that worker is lost too, on another
                    actor=True,
                    pure=False,
                )
            )
        self._wait(futures + actor_futures, deadline, timeout, indices, cause)
        who_has = self.client.who_has(actor_futures)
        for group, future in zip(groups, actor_futures):
            (self.where[group], *_) = who_has[future.key]
            self.actors[group] = future.result()
            self._actor_futures[group] = future

    def _wait(self, futures, deadline, timeout, indices, cause):
        """Wait for ``futures`` (the chunks ``indices`` and their actors); raise a clear error
        when they cannot be had: the client closed, their data lost for good, no worker left
        for ``timeout`` seconds, or past ``deadline``."""
        no_worker_since, pause = None, POLL
        while True:
            closed = self._closed_error()
            if closed is not None:
                raise closed from cause
            statuses = {future.status for future in futures}
            if statuses == {"finished"}:
                return
            for future in futures:
                if future.status == "error" and cause is None:
                    future.result()  # raises the chunk's error, such as non-finite X
                if future.status in ("error", "cancelled", "lost"):
                    raise self._unrecoverable(future, indices) from cause
            now = time.monotonic()
            listed = bool(self._workers())
            if listed or no_worker_since is None:
                no_worker_since = None if listed else now
            out_of_time = deadline is not None and now > deadline
            if not listed and (out_of_time or now - no_worker_since > timeout):
                raise self._no_worker_error(timeout) from cause
            if out_of_time:
                raise self._timeout_error(indices, timeout) from cause
            time.sleep(pause)
            pause = min(2 * pause, POLL_MAX)

    def _timeout_error(self, indices, timeout):
        """The error for chunks not placed again in time."""
        return RuntimeError(
            f"The rows of chunks {_ranges(indices)}, lost with a dask worker, were not placed "
            f"again within {timeout:g} s (the config key 'sklearn-bp.recovery.timeout'). The "
            f"fit stopped and the estimator is unchanged."
        )

    def _no_worker_error(self, timeout):
        """The error for a cluster without workers: every row of the fit is gone."""
        return RuntimeError(
            f"Every dask worker is gone: the scheduler lists none, and none came within the "
            f"{timeout:g} s the fit waits for one (the config key "
            f"'sklearn-bp.recovery.timeout'). The rows of this fit (chunks "
            f"{_ranges(range(len(self._blocks)))}) need a worker to be computed again. The fit "
            f"stopped and the estimator is unchanged; start workers and fit again."
        )

    def _unrecoverable(self, future, indices):
        """The error for a chunk or an actor that dask could not compute again."""
        try:
            future.result(timeout=1)
        except Exception as error:  # dask's reason, quoted
            reason = f"{type(error).__name__}: {error}".strip()
        else:
            reason = f"its status is {future.status!r}"
        reason = " ".join(reason.split())
        return RuntimeError(
            f"The rows of chunks {_ranges(indices)}, lost with a dask worker, cannot be computed "
            f"again: dask gave up on them ({reason}). Their graph needs data that only the lost "
            f"worker held (data scattered to it alone, say): persist or scatter the data to "
            f"several workers to survive a lost one. The fit stopped and the estimator is "
            f"unchanged."
        )

    def call(self, name, *args, groups=None):
        """Call the method ``name`` of every actor (or of those of ``groups``) with ``args``;
        return the results in the groups' order.

        When the cluster lost an actor, distributed says "Unable to contact Actor's worker" or
        "Worker holding Actor was lost", whether a worker died or the client was closed. A
        closed client ends the fit with an error that says so, chained from distributed's. A
        lost worker's groups are placed again on the workers that are left and the call is
        repeated, at most ``sklearn-bp.recovery.attempts`` times.
        """
        groups = range(len(self.actors)) if groups is None else groups
        attempts, timeout = self.attempts, self.timeout
        for attempt in range(attempts + 1):
            try:
                calls = [getattr(self.actors[group], name)(*args) for group in groups]
                return [call.result() for call in calls]
            except (OSError, RuntimeError) as error:
                closed = self._closed_error()
                if closed is not None:
                    raise closed from error
                gone = self._gone(patient=isinstance(error, OSError))
                if not gone:
                    raise
                if attempt == attempts:
                    raise RuntimeError(
                        f"A dask worker that held rows of this fit was lost during the fit "
                        f"(the scheduler no longer lists {', '.join(gone)}), and one "
                        f"evaluation already placed lost rows again {attempts} time(s) (the "
                        f"config key 'sklearn-bp.recovery.attempts'). The fit stopped and the "
                        f"estimator is unchanged; fit again on the workers the cluster has now."
                    ) from error
                self._recover(gone, timeout, error)
        raise AssertionError("unreachable")  # pragma: no cover

    def _workers(self):
        """The addresses of the workers the scheduler lists now (asked, not a cached list)."""
        return self.client.nthreads()

    def _closed_error(self):
        """The error that says the client was closed during the fit, or None."""
        if self.client.status == "running":
            return None
        return RuntimeError(
            f"The dask client was closed during the fit (its status is "
            f"{self.client.status!r}): the fit can no longer reach the workers that "
            f"hold its rows. The fit stopped and the estimator is unchanged; keep the "
            f"client open until fit returns."
        )

    def _gone(self, patient):
        """The workers of the actors that the scheduler no longer lists, sorted.

        The scheduler may learn of a lost worker a moment after the failed call: a call that
        could not reach its worker (``patient``) waits up to ``WORKER_LOSS_WAIT`` seconds.
        """
        deadline = time.monotonic() + (WORKER_LOSS_WAIT if patient else 0.0)
        while True:
            gone = sorted(set(self.where) - set(self._workers()) - {None})
            if gone or time.monotonic() >= deadline:
                return gone
            time.sleep(0.1)

    def _recover(self, gone, timeout, cause):
        """Place the groups of the workers ``gone`` again, on the workers that are left."""
        started = time.monotonic()
        deadline = started + timeout
        gone, unchecked, placed = set(gone), set(), []
        while True:
            for group, worker in enumerate(self.where):
                if worker in gone:
                    # Let go of the lost actor at once: the scheduler would build it again.
                    self.actors[group] = self._actor_futures[group] = self.where[group] = None
            lost = [group for group, actor in enumerate(self.actors) if actor is None]
            if lost:
                self._place(lost, self._targets(lost, deadline, timeout, cause), None,
                            deadline, timeout, cause)  # fmt: skip
                unchecked.update(lost)
            checking = sorted(unchecked)
            try:
                summaries = [self.actors[group].summary().result() for group in checking]
            except (OSError, RuntimeError):  # lost again, while placing
                if time.monotonic() > deadline:
                    indices = [index for group in checking for index in self.groups[group]]
                    raise self._timeout_error(indices, timeout) from cause
                gone = set(self._gone(patient=True))
                if not gone:
                    raise
                continue
            for summary in summaries:
                self._check_fingerprints(summary["fingerprints"], cause)
            placed.extend(index for group in checking for index in self.groups[group])
            break
        self.recoveries.append((time.monotonic() - started, sorted(gone), sorted(placed)))

    def _targets(self, groups, deadline, timeout, cause):
        """A worker for each of ``groups``: each to the one with the fewest rows so far."""
        while True:
            workers = sorted(self._workers())
            if workers:
                break
            if time.monotonic() > deadline:
                raise self._no_worker_error(timeout) from cause
            closed = self._closed_error()
            if closed is not None:
                raise closed from cause
            time.sleep(POLL_MAX)
        load = dict.fromkeys(workers, 0)
        for group, worker in enumerate(self.where):
            if worker in load:
                load[worker] += sum(self._chunk_rows[index] for index in self.groups[group])
        targets = []
        for group in groups:
            target = min(workers, key=lambda worker: (load[worker], worker))
            load[target] += sum(self._chunk_rows[index] for index in self.groups[group])
            targets.append(target)
        return targets

    def _check_fingerprints(self, fingerprints, cause):
        """Refuse chunks computed again that differ from those the fit started with."""
        changed = sorted(i for i, f in fingerprints.items() if self.fingerprints.get(i, f) != f)
        if changed:
            raise RuntimeError(
                f"The rows of chunks {_ranges(changed)}, lost with a dask worker and computed "
                f"again from their dask graph, differ from those the fit started with: the "
                f"graph does not give the same rows twice (random numbers without a seed, "
                f"say). The fit stopped and the estimator is unchanged; persist the data to "
                f"compute it once."
            ) from cause

    def term(self):
        """The training rows as a data term."""
        return TrainTerm(self)

    def scorer(self, statistics, score):
        """``scorer(theta) -> (loss, score)`` on the held-out rows, from sums over them.

        ``statistics(Z, Y, w)`` runs on the workers and returns a vector of sums over rows;
        ``score(sums)`` turns their total into the estimator's score.
        """
        total_weight = self.summary["validation"][1]

        def score_theta(theta):
            loss, sums = 0.0, None
            for part_loss, part_sums in self.call("validation_sums", theta, statistics):
                loss += part_loss
                if part_sums is not None:
                    sums = part_sums if sums is None else sums + part_sums
            return loss / total_weight, score(sums)

        return score_theta

    def close(self):
        """Release the actors and the chunks on the workers."""
        self.actors, self._actor_futures, self.chunks, self.where = [], [], [], []
        self._blocks = []  # the graph, which may hold X (``da.from_array``)


def _ranges(indices):
    """``[0, 1, 2, 5]`` as ``"0-2, 5"``."""
    indices, parts = sorted(indices), []
    for index in indices:
        if parts and parts[-1][1] == index - 1:
            parts[-1][1] = index
        else:
            parts.append([index, index])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


class TrainTerm:
    """The training rows on the workers, with the interface of ``DataTerm`` for the objective."""

    def __init__(self, data):
        self.data = data
        self.network = data.network
        self.total_weight = data.summary["train"][1]

    def saturated_fraction(self, theta, n_rows):
        """The saturation check, computed on the first worker's rows."""
        data = self.data
        return data.call("saturated_fraction", theta, n_rows, groups=[0])[0]

    def largest_product_flops(self):
        """No product runs in the client: its BLAS may stay on one thread."""
        return 0

    def block_count(self):
        """The client evaluates no block of rows."""
        return 0

    def loss_sum(self, theta):
        """Σ_i w_i cost_i at θ, summed on the workers."""
        return float(sum(self.data.call("loss", theta)))

    def loss_gradient_sum(self, theta, gradient):
        """Σ_i w_i cost_i at θ; the accumulated Δ written into ``gradient``."""
        results = self.data.call("loss_gradient", theta)
        gradient[...] = 0.0
        total = 0.0
        for loss, part in results:
            total += loss
            gradient += part
        return total

    def _product(self, theta, v, out, kind):
        parts = self.data.call("curvature_product", theta, v, kind)
        out[...] = 0.0
        for part in parts:
            out += part

    def hessian_vector_product_sum(self, theta, v, out):
        """The exact Hessian of the data term times v, summed on the workers, into ``out``."""
        self._product(theta, v, out, "exact")

    def gauss_newton_vector_product_sum(self, theta, v, out):
        """The Gauss-Newton product of the data term with v, summed on the workers."""
        self._product(theta, v, out, "gauss-newton")


def map_rows(method, X, *, n_columns, dtype, ravel):
    """Apply ``method`` to every row chunk of the dask array X; return a lazy dask array.

    ``method(block)`` returns an array of ``n_columns`` columns per row, or one value per row
    when ``ravel``.
    """
    X = X.rechunk({1: -1})
    if ravel:
        return X.map_blocks(method, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],))
    return X.map_blocks(method, dtype=dtype, chunks=(X.chunks[0], (n_columns,)))


def without_feature_names(estimator):
    """A shallow copy of a fitted estimator that checks no feature names (for array blocks)."""
    import copy

    clone = copy.copy(estimator)
    with contextlib.suppress(AttributeError):
        del clone.feature_names_in_
    return clone


__all__ = [
    "DaskData",
    "WorkerTerm",
    "any_dask",
    "as_dask_array",
    "dask_inputs",
    "is_dask_collection",
    "map_rows",
    "without_feature_names",
]
