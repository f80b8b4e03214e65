"""Where the rows of a fit live: one placement, chosen once from the data.

- :class:`~.memory.InMemory`: NumPy arrays and SciPy sparse matrices in this process, whose
  passes run in place on preallocated buffers;
- :class:`~.device.OnDevice`: arrays of another array-API namespace under scikit-learn's
  ``array_api_dispatch`` (PyTorch, CuPy, array-api-strict), which stay on their device;
- :class:`~.cluster.OnCluster`: collections of a dask cluster, whose rows stay on the workers,
  each holding one data term per row chunk.

A placement gives the fit what depends on where the rows are: the input checks and the
encoding of the targets (the estimator's, applied per chunk where there are chunks), the
early-stopping split, the data term of the training rows, the scorer of the held-out rows,
the fitted arrays, and the predictions over rows. The estimators ask it, never the data.
"""

import functools

from .cluster import OnCluster, any_cluster_collection, is_cluster_collection
from .device import OnDevice, device_namespace
from .memory import InMemory, block_rows


def placement_for_fit(X, y, sample_weight):
    """The placement of a fit's rows: on a cluster if any input is a cluster's collection,
    on X's device for X of another array-API namespace under dispatch, else in memory."""
    if any_cluster_collection(X, y, sample_weight):
        return OnCluster()
    home = device_namespace(X)
    return InMemory() if home is None else OnDevice(*home)


def placement_for_rows(X):
    """The placement of rows to predict."""
    if is_cluster_collection(X):
        return OnCluster()
    home = device_namespace(X)
    return InMemory() if home is None else OnDevice(*home)


def over_row_chunks(columns):
    """Decorate a prediction method ``method(self, X, **options)`` so that rows that live in chunks
    elsewhere (on a cluster) are predicted where they are, lazily, chunk by chunk.

    ``columns(estimator) -> (n_columns, ravel)`` says what the method returns per row: that
    many columns, or one value per row when ``ravel``; it is called on the fitted estimator.
    """

    def decorate(method):
        @functools.wraps(method)
        def predict(self, X, **options):
            # Options that ask for more than the predictions (return_std) go to the method,
            # which says where it can serve them.
            if any(options.values()):
                return method(self, X, **options)
            mapped = placement_for_rows(X).map_rows(self, method.__name__, X, columns)
            return method(self, X) if mapped is None else mapped

        return predict

    return decorate


__all__ = [
    "InMemory",
    "OnCluster",
    "OnDevice",
    "block_rows",
    "over_row_chunks",
    "placement_for_fit",
    "placement_for_rows",
]
