"""Data-parallel fits on a dask cluster: the data term summed on the workers.

The accumulator Δ is a sum over examples, so J, ∇J and H·v split over row chunks exactly. A fit
on dask collections keeps the rows on the workers:

1. The chunks of X, of the encoded targets Y and of the weights w are computed once, as one
   (X, Y, w) tuple per row chunk, on the workers (``client.compute``); the client keeps their
   futures for the whole fit, since they are what the workers' terms read.
2. On every worker that holds chunks, an actor (:class:`WorkerTerm`) builds one
   :class:`~sklearn_bp._objective.DataTerm` per chunk, with its workspaces, once per fit.
3. Each evaluation sends θ (and v for a curvature product) straight to each actor, which sums
   over its chunks and sends back one loss and one vector. The client adds them; the
   objective divides by W and adds the penalty as for in-memory data, and
   ``scipy.optimize.minimize`` runs on the client.

An actor call goes from the client to the worker without a round trip through the scheduler,
which is what keeps the fixed cost of an evaluation low (``benchmarks/bench_dask.py``).
Nothing here imports dask until a fit meets a dask collection.
"""

import contextlib
import time

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
        """Rows and total weight of the training and validation parts."""
        return {
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
    """

    def __init__(self, X, y, sample_weight, encode, weigh, dtype, loss):
        import dask

        self.client = _client()
        self.loss = loss
        self.shape = X.shape
        x_blocks = X.to_delayed().ravel()
        y_blocks = y.to_delayed().ravel()
        w_blocks = (
            [None] * len(x_blocks) if sample_weight is None else sample_weight.to_delayed().ravel()
        )
        chunk = dask.delayed(_chunk, pure=False)
        # The chunks are dealt out to the workers in turn: left to itself, the scheduler may put
        # every chunk of an array sent from the client on one worker, which then computes every
        # evaluation alone (measured here: 1.3-1.4 times the in-memory time instead of 0.6-0.8).
        # One compute call for all of them: each call would send the whole graph again.
        workers = sorted(self.client.has_what())  # asked of the scheduler, not a cached list
        tasks = []
        for index, (xb, yb, wb) in enumerate(zip(x_blocks, y_blocks, w_blocks)):
            placement = (
                dask.annotate(workers=[workers[index % len(workers)]], allow_other_workers=True)
                if workers
                else contextlib.nullcontext()  # no worker yet: the scheduler decides
            )
            with placement:
                tasks.append(chunk(index, xb, yb, wb, encode, weigh, dtype))
        self.chunks = self.client.compute(tasks, optimize_graph=False)
        self.actors, self.workers = [], []

    def start(self, network, loss_name, block_rows, curvature, fraction, seed):
        """Build one :class:`WorkerTerm` on every worker that holds chunks."""
        from distributed import wait

        wait(self.chunks)
        for future in self.chunks:
            if future.status == "error":
                future.result()  # raises the chunk's error, such as non-finite X
        by_worker = {}
        for future in self.chunks:
            (worker, *_) = self.client.who_has([future])[future.key]
            by_worker.setdefault(worker, []).append(future)
        futures = [
            self.client.submit(
                WorkerTerm,
                network.layer_sizes,
                network.activation,
                loss_name,
                block_rows,
                curvature,
                fraction,
                seed,
                *chunks,
                workers=[worker],
                allow_other_workers=False,
                actor=True,
                pure=False,
            )
            for worker, chunks in by_worker.items()
        ]
        self.network = network
        self.actors = [future.result() for future in futures]
        self._actor_futures = futures
        self.workers = list(by_worker)
        summaries = self.call("summary")
        self.summary = {
            part: tuple(sum(s[part][i] for s in summaries) for i in (0, 1))
            for part in ("train", "validation")
        }
        if fraction:
            # The actors hold copies of their training and held-out rows: the chunks can go.
            self.chunks = []

    def call(self, name, *args, actors=None):
        """Call the method ``name`` of every actor (or of ``actors``) with ``args``; return
        the results in the actors' order.

        When the cluster lost an actor, distributed says "Unable to contact Actor's worker" or
        "Worker holding Actor was lost", whether a worker died or the client was closed: the
        error raised instead says which of the two happened, chained from distributed's.
        """
        actors = self.actors if actors is None else actors
        try:
            calls = [getattr(actor, name)(*args) for actor in actors]
            return [call.result() for call in calls]
        except (OSError, RuntimeError) as error:
            lost = self._lost(patient=isinstance(error, OSError))
            if lost is None:
                raise
            raise lost from error

    def _lost(self, patient):
        """A ``RuntimeError`` that says how the fit lost its actors, or None if it did not.

        A closed client shows in its status; a lost worker by its absence from the scheduler's
        workers, which the scheduler may learn of a moment after the failed call: a call that
        could not reach its worker (``patient``) waits up to ``WORKER_LOSS_WAIT`` seconds.
        """
        deadline = time.monotonic() + (WORKER_LOSS_WAIT if patient else 0.0)
        while True:
            if self.client.status != "running":
                return RuntimeError(
                    f"The dask client was closed during the fit (its status is "
                    f"{self.client.status!r}): the fit can no longer reach the workers that "
                    f"hold its rows. The fit stopped and the estimator is unchanged; keep the "
                    f"client open until fit returns."
                )
            gone = sorted(set(self.workers) - set(self.client.has_what()))
            if gone:
                return RuntimeError(
                    f"A dask worker that held rows of this fit was lost during the fit: the "
                    f"scheduler no longer lists {', '.join(gone)}, and the rows held there "
                    f"are gone with it. The fit stopped and the estimator is unchanged; fit "
                    f"again to send the rows to the workers the cluster has now."
                )
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

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
        self.actors, self._actor_futures, self.chunks, self.workers = [], [], [], []


class TrainTerm:
    """The training rows on the workers, with the interface of ``DataTerm`` for the objective."""

    def __init__(self, data):
        self.data = data
        self.network = data.network
        self.total_weight = data.summary["train"][1]

    def saturated_fraction(self, theta, n_rows):
        """The saturation check, computed on the first worker's rows."""
        data = self.data
        return data.call("saturated_fraction", theta, n_rows, actors=data.actors[:1])[0]

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
