"""Rows on a dask cluster: one data term per row chunk, held by an actor on each worker.

The machinery (the actors, the chunks, the summed terms) is ``_dask``'s; this placement is
the one place where a fit or a prediction meets it.
"""

import warnings

import numpy as np

from .._dask import (
    DaskData,
    any_dask,
    as_dask_array,
    dask_inputs,
    is_dask_collection,
    map_rows,
    without_feature_names,
)
from .._fixes import caller_stacklevel
from .._network import Network
from .memory import block_rows, check_total_weight

# A cluster's collection, whatever its library: the names the rest of the package asks by.
is_cluster_collection = is_dask_collection
any_cluster_collection = any_dask


class ChunkedTargets:
    """What an estimator may ask of targets that stay in row chunks on the workers: their
    shape and dtype, and the few facts that need a look at every chunk.

    Parameters
    ----------
    y : dask array of shape (n_samples,) or (n_samples, n_outputs)
        The targets, chunked along the rows as X is.
    """

    def __init__(self, y):
        self._y = y
        self.ndim, self.shape, self.dtype = y.ndim, y.shape, y.dtype

    def only_zeros_and_ones(self):
        """Whether every entry is 0 or 1, computed on the workers."""
        import dask

        y = self._y
        return not dask.compute(((y != 0) & (y != 1)).any())[0]

    def unique_counts(self):
        """The distinct values, sorted, and how often each occurs, computed on the workers."""
        import dask
        import dask.array as da

        return dask.compute(*da.unique(self._y, return_counts=True))


class OnCluster:
    """Rows on the workers of a dask cluster; the client sums what their actors compute."""

    # The rows are not here: scikit-learn's callbacks and the gradient check do not get them.
    rows_at_hand = False

    def __init__(self):
        self.data = None

    def prepare(self, estimator, X, y, sample_weight, hidden, dtype):
        """Check the collections and encode their targets chunk by chunk, without computing
        X; return ``(X, targets, None, network)``."""
        X, y, sample_weight, feature_names = dask_inputs(X, y, sample_weight)
        estimator.n_features_in_ = X.shape[1]
        if feature_names is None:
            vars(estimator).pop("feature_names_in_", None)
        else:
            estimator.feature_names_in_ = feature_names
        targets, encode, weigh = estimator._chunked_targets(ChunkedTargets(y), X.dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), estimator.activation)
        self.data = DaskData(X, y, sample_weight, encode, weigh, X.dtype, targets.loss)
        return X, targets, None, network

    def row_layout(self, problem):
        """The row chunks: the same seed holds out the same rows only in the same chunks."""
        return ("dask", *map(int, problem.X.chunks[0]))

    def all_rows(self, problem):
        return "train"

    def split(self, problem, fraction, seed, curvature):
        """Start the workers' terms with each chunk's held-out rows drawn from ``seed``, at
        random (not stratified)."""
        fraction = float(fraction)
        self.data.start(
            problem.network, problem.targets.loss.name, block_rows, curvature, fraction, seed
        )
        n_train, w_train = self.data.summary["train"]
        n_validation, w_validation = self.data.summary["validation"]
        if n_validation < 2 or n_train < 1:
            raise ValueError(
                f"early_stopping cannot score on {n_validation} validation row(s): "
                f"validation_fraction={fraction} of {problem.X.shape[0]} rows holds out fewer "
                f"than 2."
            )
        check_total_weight(w_train, "The sample weights of the training rows")
        check_total_weight(w_validation, "The sample weights of the validation rows")
        return "train", "validation"

    def data_term(self, problem, rows, curvature=False):
        """The training rows on the workers, as one data term that sums theirs."""
        if not self.data.actors:  # no early stopping: every row trains
            self.data.start(
                problem.network, problem.targets.loss.name, block_rows, curvature, 0.0, 0
            )
            check_total_weight(self.data.summary["train"][1], "The sample weights")
        return self.data.term()

    def scorer(self, problem, rows, statistics, score_from_sums):
        """Sums over the held-out rows, computed on the workers: no row travels."""
        return self.data.scorer(statistics, score_from_sums)

    def fitted_arrays(self, problem, arrays):
        return arrays

    def check_gradient_check(self):
        """Refuse: central differences take a few rows, in memory."""
        raise TypeError(
            "gradient_check needs in-memory data (central differences on a few rows): pass "
            "NumPy arrays, for example the first rows of the dask array, computed."
        )

    def close(self):
        """Let go of the rows and the actors on the workers."""
        if self.data is not None:
            self.data.close()

    def map_rows(self, estimator, name, X, columns):
        """``estimator.<name>`` applied lazily to every row chunk of the collection X."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        n_columns, ravel = columns(estimator)
        name_of = type(estimator).__name__
        names = getattr(estimator, "feature_names_in_", None)
        columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        if names is not None and columns is not None and columns != list(names):
            raise ValueError(
                "The feature names should match those that were passed during fit: "
                f"{list(names)}, got {columns}."
            )
        if names is not None and columns is None:
            warnings.warn(
                f"X does not have valid feature names, but {name_of} was fitted with feature names",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        if names is None and columns is not None:
            warnings.warn(
                f"X has feature names, but {name_of} was fitted without feature names",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        # A DataFrame's partitions become row chunks of unknown length: nothing is computed.
        X = X.to_dask_array() if hasattr(X, "to_dask_array") else as_dask_array(X)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array for X, got {X.ndim} dimension(s).")
        if X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {name_of} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        method = getattr(without_feature_names(estimator), name)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        if name == "predict" and hasattr(estimator, "classes_"):  # labels, or an indicator
            multilabel = estimator.target_type_ == "multilabel"
            dtype = estimator._y_dtype if multilabel else estimator.classes_.dtype
        return map_rows(method, X, n_columns=n_columns, dtype=dtype, ravel=ravel)
