"""Rows on the device of another array-API namespace (PyTorch, CuPy, array-api-strict)."""

import numpy as np
from sklearn import config_context, get_config
from sklearn.utils.validation import validate_data

from .._array_api import check_not_complex, device_block_rows, host_dtype, take_rows_xp
from .._fixes import float_dtypes, get_namespace_and_device, is_numpy_namespace, to_host
from .._network import Network, overflow_rows, scaled_decision_output, unscale
from .._objective import primitives_for
from .._passes import decision_output
from .memory import InMemory, too_large_for_float


def device_namespace(X):
    """``(xp, device)`` of X under ``array_api_dispatch`` when X is no NumPy array, else None.

    Only such X take the array-API path: NumPy arrays, sparse matrices, lists and DataFrames
    keep the NumPy path and its in-place kernels, with dispatch on or off.
    """
    if not get_config()["array_api_dispatch"]:
        return None
    xp, _, device = get_namespace_and_device(X)
    return None if is_numpy_namespace(xp) else (xp, device)


class OnDevice(InMemory):
    """Rows on X's device, under scikit-learn's ``array_api_dispatch``: the passes run there,
    in blocks sized for where the device's memory is; labels and weights are encoded on the
    host, as for NumPy, and copied to the device once by the data term."""

    def __init__(self, xp, device):
        self.xp, self.device = xp, device

    def prepare(self, estimator, X, y, sample_weight, hidden, dtype):
        """:meth:`InMemory.prepare` for X of another array-API namespace: X stays on its
        device; labels and weights are encoded and checked on the host, once per fit."""
        xp, device = self.xp, self.device
        y, sample_weight = to_host(y), to_host(sample_weight)
        check_not_complex(xp, X)
        on_device = float_dtypes(xp, device)
        wanted = [getattr(xp, np.dtype(d).name) for d in dtype]
        with too_large_for_float("X"):
            X, y = validate_data(
                estimator,
                X,
                y,
                dtype=[d for d in wanted if d in on_device] or on_device,
                **estimator._y_checks,
            )
        X_dtype = host_dtype(xp, X.dtype)
        with config_context(array_api_dispatch=False):  # everything here is NumPy
            targets = estimator._encode_targets(y, X_dtype)
            sample_weight = estimator._sample_weight(sample_weight, X, targets, X_dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), estimator.activation)
        return X, targets, sample_weight, network

    def _rows(self, X, rows):
        return take_rows_xp(self.xp, X, rows)

    def _block_rows(self, problem, X, Y, curvature):
        return device_block_rows(problem.network, X, Y.dtype, curvature)

    def fitted_arrays(self, problem, arrays):
        """The arrays on X's device in X's dtype, as scikit-learn's estimators keep them."""
        dtype = problem.targets.Y.dtype
        return [self.xp.asarray(array.astype(dtype), device=self.device) for array in arrays]

    def output(self, estimator, X):
        """:meth:`InMemory.output` on X's device; rows that may overflow are finished on the
        host: those rows (inputs near the largest float) take the exact scaled pass of the
        NumPy path; their ``Z`` goes back to the device clipped, ``saturated`` stays on the
        host."""
        xp, device = self.xp, self.device
        check_not_complex(xp, X)
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(estimator, X, dtype=float_dtypes(xp, device), reset=False)
        network, dtype = estimator._network, host_dtype(xp, X.dtype)
        params = [
            (xp.astype(W, X.dtype), xp.astype(b, X.dtype))
            for W, b in zip(estimator.coefs_, estimator.intercepts_)
        ]
        with np.errstate(over="ignore", invalid="ignore"):
            n_block = device_block_rows(network, X, dtype)
            Z = decision_output(primitives_for(X, n_block), network, params, X, n_block)
            row_max = to_host(xp.max(xp.abs(X), axis=1))
        params64 = [
            (W.astype(np.float64), b.astype(np.float64))
            for W, b in zip(*estimator._host_parameters())
        ]
        rows = overflow_rows(network, params64, row_max, dtype)
        if not rows.any():
            return Z, None
        X_rows = to_host(take_rows_xp(xp, X, np.flatnonzero(rows))).astype(np.float64)
        M, exponents = scaled_decision_output(network, params64, X_rows)
        Z = np.array(to_host(Z))
        Z[rows] = unscale(M, exponents, dtype)
        return xp.asarray(Z, device=device), (rows, M, exponents)
