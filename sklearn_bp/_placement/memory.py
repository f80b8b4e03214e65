"""Rows in this process: NumPy arrays and SciPy sparse matrices."""

from contextlib import contextmanager

import numpy as np
from scipy import sparse
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import validate_data

from .._fixes import get_chunk_n_rows, to_host
from .._network import (
    MIN_BLOCK_ROWS,
    CurvatureWorkspace,
    Network,
    Workspace,
    may_overflow,
    scaled_decision_output,
    unscale,
)
from .._objective import DataTerm, primitives_for
from .._optimize import THREADED_PRODUCT_FLOPS
from .._passes import decision_output

# A block of X and its buffers should stay in cache between the forward and the backward
# pass: measured here, blocks of about 8 MiB ran 10-15% faster than one block of all rows
# (but no fewer rows than MIN_BLOCK_ROWS).
BLOCK_BYTES = 8 * 2**20


def block_rows(network, X, curvature=False):
    """Rows per block: about ``BLOCK_BYTES`` of X and buffers, within ``working_memory``.

    Each block holds activations, deltas and a scratch array for every non-input layer, and
    for the methods that take curvature products six more arrays of the R-passes;
    scikit-learn's ``working_memory`` setting bounds them all, as it bounds
    ``pairwise_distances_chunked``.
    """
    n_samples, n_features = X.shape
    buffer_bytes = Workspace.bytes_per_row(network, X.dtype)
    if curvature:
        buffer_bytes += CurvatureWorkspace.bytes_per_row(network, X.dtype)
    by_cache = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (buffer_bytes + X.dtype.itemsize * n_features))
    by_memory = get_chunk_n_rows(buffer_bytes, max_n_rows=max(n_samples, 1))
    rows = max(1, min(by_cache, by_memory))
    return _even_blocks(network, n_samples, rows)


def _even_blocks(network, n_samples, rows):
    """Rows per block such that the blocks are even in number where they go to threads.

    Blocks of large products are handed to threads (``_optimize.evaluation_threads``), and
    their number must not depend on the thread count, or the sums would round differently.
    An odd number leaves a thread idle while the last block runs: measured here, 20000 × 400
    in float32 with (25,) hidden units, 5 blocks of 4152 rows took 8.34 ms an evaluation on two
    threads, 6 blocks 7.49 ms, 8 blocks 7.64 ms and 10 blocks 7.68 ms (the matrix products
    alone on OpenBLAS's threads: 7.18 ms). An even count shares evenly among two threads (and
    four, where it is a multiple of four: no worse than the odd count before it otherwise).
    """
    n_blocks = -(-n_samples // rows)
    largest = 2 * rows * max(fan_in * fan_out for fan_in, fan_out in network.fans())
    if n_blocks < 3 or n_blocks % 2 == 0 or largest < THREADED_PRODUCT_FLOPS:
        return rows
    return -(-n_samples // (n_blocks + 1))


def check_total_weight(weight, what):
    """Refuse weights whose sum W cannot serve as the divisor of J: zero, tiny or infinite."""
    with np.errstate(over="ignore"):  # an overflowing sum is refused below, not warned about
        total = np.sum(weight, dtype=np.float64)
    if not total > 0:
        raise ValueError(f"{what} sum to zero: at least one sample needs a positive weight.")
    if not np.isfinite(total) or total < np.finfo(np.float64).tiny / np.finfo(np.float64).eps:
        raise ValueError(
            f"{what} sum to {total:g}, too large or too small to divide the cost by: rescale "
            f"the sample weights (or class_weight)."
        )


@contextmanager
def too_large_for_float(name):
    """Name the input when numpy cannot convert a Python integer beyond float's range."""
    try:
        yield
    except OverflowError as error:
        raise ValueError(f"{name} holds a number too large for float64: {error}.") from error


class InMemory:
    """Rows in this process: the passes run in place, on NumPy's BLAS."""

    # scikit-learn's callbacks and the gradient check may read the rows.
    rows_at_hand = True

    def prepare(self, estimator, X, y, sample_weight, hidden, dtype):
        """Validate X and y, encode the targets, weigh the rows; return ``(X, targets,
        sample_weight, network)``."""
        # Labels and weights of any namespace are encoded and checked on the host.
        y, sample_weight = to_host(y), to_host(sample_weight)
        with too_large_for_float("X"):
            X, y = validate_data(
                estimator, X, y, accept_sparse=["csr", "csc"], dtype=list(dtype),
                **estimator._y_checks,
            )  # fmt: skip
        if sparse.issparse(X):
            X = X.tocsr()
        targets = estimator._encode_targets(y, X.dtype)
        sample_weight = estimator._sample_weight(sample_weight, X, targets, X.dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), estimator.activation)
        return X, targets, sample_weight, network

    def row_layout(self, problem):
        """How the rows are laid out, for the early-stopping split: one set of rows."""
        return None

    def all_rows(self, problem):
        """Every row, as the training rows of a fit without early stopping."""
        return np.arange(problem.X.shape[0])

    def split(self, problem, fraction, seed, curvature):
        """Training and validation rows: ``fraction`` held out, drawn from ``seed``, stratified
        by the targets' labels where they have some."""
        n_samples = problem.X.shape[0]
        try:
            train, validation = train_test_split(
                np.arange(n_samples),
                test_size=float(fraction),
                stratify=problem.targets.stratify,
                random_state=seed,
            )
        except ValueError as error:
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction="
                f"{fraction} of the {n_samples} rows: {error}"
            ) from error
        if len(validation) < 2:
            raise ValueError(
                f"early_stopping cannot score on {len(validation)} validation row: "
                f"validation_fraction={fraction} of {n_samples} rows holds out "
                f"fewer than 2."
            )
        weight = problem.sample_weight
        check_total_weight(weight[train], "The sample weights of the training rows")
        check_total_weight(weight[validation], "The sample weights of the validation rows")
        return train, validation

    def _rows(self, X, rows):
        return X[rows]

    def _block_rows(self, problem, X, Y, curvature):
        return block_rows(problem.network, X, curvature)

    def data_term(self, problem, rows, curvature=False):
        """The data term of the given rows, its blocks sized for curvature products if asked."""
        every_row = len(rows) == problem.X.shape[0]
        Y, weight = problem.targets.Y[rows], problem.sample_weight[rows]
        X = problem.X if every_row else self._rows(problem.X, rows)
        blocks = self._block_rows(problem, X, Y, curvature)
        return DataTerm(problem.network, problem.targets.loss, X, Y, weight, blocks)

    def scorer(self, problem, rows, statistics, score_from_sums):
        """``score(theta) -> (loss, score)`` on the held-out ``rows``: the mean cost, and the
        score of the sums ``statistics`` over them (one forward pass)."""
        data = self.data_term(problem, rows)

        def score(theta):
            data_loss, sums = data.validation_sums(theta, statistics)
            return data_loss / data.total_weight, score_from_sums(sums)

        return score

    def fitted_arrays(self, problem, arrays):
        """The fitted ``coefs_`` or ``intercepts_`` where predictions will read them."""
        return arrays

    def check_gradient_check(self):
        """The gradient check takes these rows."""

    def close(self):
        """Nothing to let go of."""

    def map_rows(self, estimator, name, X, columns):
        """None: rows at hand are predicted by the method itself."""
        return None

    def output(self, estimator, X):
        """z(L) for the rows of X in X's dtype, and the rows whose z overflows.

        Returns ``Z, saturated``: ``saturated`` is None, or ``(rows, M, e)`` for the rows
        whose forward pass may overflow X's dtype (``Z`` holds them clipped into its range)
        with their exact z = 2^e M from :func:`scaled_decision_output`.
        """
        if not isinstance(estimator.coefs_[0], np.ndarray):
            raise ValueError(
                f"This {type(estimator).__name__} was fitted on "
                f"{type(estimator.coefs_[0]).__module__.split('.')[0]} "
                f"arrays under array_api_dispatch: predict with "
                f"sklearn.config_context(array_api_dispatch=True) on arrays of that namespace "
                f"and device, or fit again on NumPy arrays."
            )
        # scikit-learn's finiteness check sums X, which may overflow near the largest float32.
        with np.errstate(over="ignore", invalid="ignore"), too_large_for_float("X"):
            X = validate_data(
                estimator, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
                reset=False,
            )  # fmt: skip
        if sparse.issparse(X):
            X = X.tocsr()
        network = estimator._network
        params = [
            (W.astype(X.dtype, copy=False), b.astype(X.dtype, copy=False))
            for W, b in zip(estimator.coefs_, estimator.intercepts_)
        ]
        with np.errstate(over="ignore", invalid="ignore"):
            n_block = block_rows(network, X)
            Z = decision_output(primitives_for(X, n_block), network, params, X, n_block)
        params64 = list(zip(estimator.coefs_, estimator.intercepts_))
        rows = may_overflow(network, params64, X, X.dtype)
        if not rows.any():
            return Z, None
        M, exponents = scaled_decision_output(network, params64, X[rows].astype(np.float64))
        Z[rows] = unscale(M, exponents, X.dtype)
        return Z, (rows, M, exponents)
