"""The primitives of the passes for arrays of any array-API namespace (PyTorch, CuPy,
array-api-strict), on any device: GPUs included.

Under scikit-learn's ``array_api_dispatch``, a fit on such arrays keeps X, the encoded targets
and the weights on X's device for the whole fit. The data term (``_objective.DataTerm``) and
its passes (``_passes``) are the NumPy path's; :class:`ArrayAPIPrimitives` gives them the
namespace's functions, which allocate (the standard has no ``out=``; a device's memory pool
recycles the arrays), and :class:`DeviceSums` adds the blocks on the device. What crosses
between host and device at each evaluation:

- θ (and v for a curvature product), float64 on the host, goes to the device once, in X's
  dtype;
- the loss and the gradient (or the product) come back once, as one vector, and become float64
  for ``scipy.optimize.minimize``.

The code is written once with the namespace's functions, with no branch for any library. Only
the weighted sums over rows inside the losses are reductions rather than the NumPy path's
matrix-vector products (see ``_losses``).
"""

import numpy as np

from ._activations import (
    ARRAY_API_ACTIVATIONS_OVER,
    ARRAY_API_DERIVATIVES,
    ARRAY_API_SECOND_DERIVATIVES,
)
from ._fixes import float_dtypes, get_chunk_n_rows, get_namespace_and_device, to_host
from ._network import MIN_BLOCK_ROWS, CurvatureWorkspace, Workspace


def host_dtype(xp, dtype):
    """The NumPy dtype of a floating dtype of namespace ``xp``: float32 or float64."""
    return np.dtype(np.float32) if dtype == xp.float32 else np.dtype(np.float64)


# On the host's memory (PyTorch on the CPU, say), blocks of about this size ran fastest,
# measured on 200000 × 784, (256, 256), float32, one evaluation: 1.6 s with blocks of 32 MiB,
# 1.7 s with 64 MiB, 2.8 s with 8 MiB (too small for the products) and with 1 GiB (each pass
# allocates arrays of a block's size anew, and fresh memory of that size costs page faults).
HOST_BLOCK_BYTES = 32 * 2**20
# DLPack's device type of the host's memory.
_DLPACK_CPU = 1


def device_block_rows(network, X, dtype, curvature=False):
    """Rows per block for X on its device, within scikit-learn's ``working_memory``.

    An accelerator wants its products as large as they come, so its blocks are as large as
    ``working_memory`` allows. Arrays in the host's memory get blocks of about
    ``HOST_BLOCK_BYTES``. The arrays of a pass are counted as the NumPy path's workspaces
    count them.
    """
    bytes_per_row = Workspace.bytes_per_row(network, dtype)
    if curvature:
        bytes_per_row += CurvatureWorkspace.bytes_per_row(network, dtype)
    n_samples = X.shape[0]
    rows = get_chunk_n_rows(bytes_per_row, max_n_rows=max(n_samples, 1))
    if int(X.__dlpack_device__()[0]) == _DLPACK_CPU:
        rows = min(rows, max(MIN_BLOCK_ROWS, HOST_BLOCK_BYTES // bytes_per_row))
    return max(1, rows)


def check_not_complex(xp, X):
    """Refuse X of a complex dtype with the error scikit-learn gives for complex NumPy arrays.

    scikit-learn's ``check_array`` knows complex data by NumPy's ``dtype.kind``, which
    PyTorch's dtypes lack; converting such a tensor to a real dtype drops its imaginary part.
    """
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported\n{X}\n")


def take_rows_xp(xp, X, rows):
    """The rows of X at the host indices ``rows``, on X's device."""
    _, _, device = get_namespace_and_device(X)
    return xp.take(X, xp.asarray(np.asarray(rows, dtype=np.int64), device=device), axis=0)


class ArrayAPIPrimitives:
    """The primitives of ``_passes`` for arrays of X's namespace, on X's device, allocating.

    Every buffer the passes hand over is None; each primitive returns a new array.

    Parameters
    ----------
    X : array of shape (n_samples, s_1)
        Inputs of an array-API namespace, float32 or float64, on their device.
    block_rows : int
        The most rows of a block, for the vector of ones of the column sums.
    unit_weights : bool
        Whether every sample weight is 1, which spares the products with w.
    """

    # The host computes no matrix product of the passes.
    computes_on_host = False

    def __init__(self, X, block_rows, unit_weights=True):
        xp, _, device = get_namespace_and_device(X)
        self.xp, self.device = xp, device
        self.dtype = host_dtype(xp, X.dtype)
        self.unit_weights = unit_weights
        # Column sums as products with a vector of ones, as the NumPy path sums them.
        self.ones = xp.ones(block_rows, dtype=X.dtype, device=device)
        # Blocks are added in float64 where the device has it, as the NumPy path adds them.
        self.sum_dtype = float_dtypes(xp, device)[0]

    def new(self, shape):
        """No buffer: the standard has no ``out=``."""
        return None

    def put(self, array):
        """A host array (targets, weights) on the device, once."""
        return self.xp.asarray(array, device=self.device)

    def to_host(self, array):
        return to_host(array)

    def params(self, network, vector, buffer):
        """A flat float64 host vector (θ or v) as per-layer arrays in X's dtype on the device."""
        on_device = self.xp.asarray(np.asarray(vector, dtype=self.dtype), device=self.device)
        return network.unpack_xp(self.xp, on_device)

    def take(self, array, rows):
        return array[rows, ...]

    def take_indices(self, array, indices):
        return take_rows_xp(self.xp, array, indices)

    def concat_rows(self, blocks, out):
        return blocks[0] if len(blocks) == 1 else self.xp.concat(blocks, axis=0)

    # The passes hand ``add``, ``multiply``, ``activate`` and ``times_g_prime`` an M (Z,
    # delta) that is theirs to overwrite, as the NumPy path's buffers are: the standard's
    # in-place operators update it without a new array of a block's size.

    def matmul(self, A, B, out=None):
        return A @ B

    def add(self, M, N):
        M += N
        return M

    def multiply(self, M, N):
        M *= N
        return M

    def copy(self, M, out):
        return self.xp.asarray(M, copy=True)

    def activate(self, activation, Z):
        return ARRAY_API_ACTIVATIONS_OVER[activation](self.xp, Z)

    def times_g_prime(self, activation, A, delta, scratch):
        g_prime = ARRAY_API_DERIVATIVES[activation]
        if g_prime is not None:
            delta *= g_prime(self.xp, A)
        return delta

    def g_second(self, activation, A, out, scratch):
        g_second = ARRAY_API_SECOND_DERIVATIVES[activation]
        return None if g_second is None else g_second(self.xp, A)

    def column_sums(self, M):
        return self.ones[: M.shape[0]] @ M

    def weigh_rows(self, M, w):
        return M if self.unit_weights else M * self.xp.reshape(w, (-1, 1))

    def loss(self, loss, Z, Y, w, H, scratch):
        return loss.loss_xp(self.xp, Z, Y, w)

    def output_delta(self, loss, H, Y):
        return loss.output_delta_xp(self.xp, H, Y)

    def r_output(self, loss, H, RZ, RH):
        return loss.r_output_xp(self.xp, H, RZ)

    def row_outer(self, A, delta, out):
        xp = self.xp
        n_rows = delta.shape[0]
        outer = A[:, :, None] * delta[:, None, :]
        return xp.reshape(xp.concat((delta[:, None, :], outer), axis=1), (n_rows, -1))

    def concat_columns(self, blocks, out):
        return self.xp.concat(blocks, axis=1)

    def sums(self, network, out):
        return DeviceSums(self, network, out)


class DeviceSums:
    """Block sums added on the device, in float64 where it has it; the loss and the per-layer
    sums come back to the host in one transfer (:meth:`finish`), into ``out`` (float64, laid
    out as θ)."""

    def __init__(self, primitives, network, out):
        self.xp, self.device = primitives.xp, primitives.device
        self.sum_dtype = primitives.sum_dtype
        self.network, self.out = network, out
        self.total, self.layers = None, None
        self._block_loss, self._block = None, [None] * (network.n_layers - 1)

    def add_loss(self, value):
        self._block_loss = value

    def add(self, layer, W, b=None):
        """Add to this block's sums of ``layer``, in X's dtype."""
        if self._block[layer] is None:
            self._block[layer] = (W, b)
        else:
            old_W, old_b = self._block[layer]
            self._block[layer] = (old_W + W, old_b if b is None else old_b + b)

    def _add(self, total, value):
        value = self.xp.astype(value, self.sum_dtype, copy=False)
        return value if total is None else total + value

    def end_block(self):
        """Add the block's sums to the totals, in the dtype blocks are added in."""
        if self._block_loss is not None:
            self.total = self._add(self.total, self._block_loss)
        if self._block[0] is not None:
            if self.layers is None:
                self.layers = [(self._add(None, W), self._add(None, b)) for W, b in self._block]
            else:
                self.layers = [
                    (self._add(W, bW), self._add(b, bb))
                    for (W, b), (bW, bb) in zip(self.layers, self._block)
                ]
        self._block_loss, self._block = None, [None] * len(self._block)

    def finish(self):
        """Bring the sums back in one transfer; write the per-layer ones into ``out`` and
        return the loss as a float."""
        xp = self.xp
        total = self.total
        if total is None:
            total = xp.zeros((), dtype=self.sum_dtype, device=self.device)
        if self.layers is None:
            return float(to_host(total))
        flat = xp.concat((xp.reshape(total, (1,)), self.network.flatten_xp(xp, self.layers)))
        host = to_host(flat)
        self.out[...] = host[1:]
        return float(host[0])
