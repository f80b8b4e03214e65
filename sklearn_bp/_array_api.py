"""The data term for arrays of any array-API namespace (PyTorch, CuPy, array-api-strict), on
any device: GPUs included.

Under scikit-learn's ``array_api_dispatch``, a fit on such arrays keeps X, the encoded targets
and the weights on X's device for the whole fit. :class:`ArrayAPIDataTerm` offers the sums of
``_objective.DataTerm`` (the same methods and formulas; only the weighted sums over rows are
reductions rather than matrix-vector products, see ``_losses``), so the objective, the
optimizer and early stopping use it unchanged. What crosses between host and
device at each evaluation:

- θ (and v for a curvature product), float64 on the host, goes to the device once, in X's
  dtype;
- the loss and the gradient (or the product) come back once, as one vector, and become float64
  for ``scipy.optimize.minimize``.

The code is written once with the namespace's functions, with no branch for any library. The
standard has no ``out=``: every pass allocates its arrays, which a device's memory pool
recycles. The NumPy path keeps its in-place kernels and preallocated buffers; this one serves
every other namespace.
"""

import numpy as np

from ._activations import (
    ARRAY_API_ACTIVATIONS,
    ARRAY_API_DERIVATIVES,
    ARRAY_API_SECOND_DERIVATIVES,
)
from ._fixes import float_dtypes, get_chunk_n_rows, get_namespace_and_device, to_host
from ._network import MIN_BLOCK_ROWS, CurvatureWorkspace, Workspace, row_blocks
from ._objective import DataTerm, saturated_share


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


def forward_xp(xp, activation, params, X):
    """Forward propagation of the rows X on their device: the hidden a(l) and z(L)."""
    g = ARRAY_API_ACTIVATIONS[activation]
    A, activations = X, []
    for layer, (W, b) in enumerate(params):
        Z = A @ W + b
        if layer == len(params) - 1:
            return activations, Z
        A = g(xp, Z)
        activations.append(A)


def decision_output_xp(xp, network, params, X, block_rows):
    """Return z(L) for every row of X, evaluated block by block on X's device."""
    Z = [
        forward_xp(xp, network.activation, params, X[rows, ...])[1]
        for rows in row_blocks(X.shape[0], block_rows)
    ]
    return Z[0] if len(Z) == 1 else xp.concat(Z, axis=0)


class ArrayAPIDataTerm:
    """Σ_i w_i cost(h(x_i), y_i) over fixed rows on a device, its gradient and curvature
    products, as sums: :class:`~sklearn_bp._objective.DataTerm` for any array-API namespace.

    Parameters
    ----------
    network : Network
        Layout and hidden activation.
    loss : loss object
        The output units and their cost (``_losses``); its ``*_xp`` methods run here.
    X : array of shape (n_samples, s_1)
        Inputs of an array-API namespace, float32 or float64, on their device.
    Y : ndarray of shape (n_samples, s_L)
        Targets on the host, in X's dtype; copied to X's device once.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights w_i on the host, in X's dtype; copied to X's device once.
    block_rows : int
        Number of rows evaluated at once (:func:`device_block_rows`).
    """

    # What needs only the host's copies of Y and w: as in memory.
    loss_from_output = DataTerm.loss_from_output

    def __init__(self, network, loss, X, Y, sample_weight, block_rows):
        xp, _, device = get_namespace_and_device(X)
        self.xp, self.device = xp, device
        self.network = network
        self.loss = loss
        self.X = X
        # The host's copies serve the scores of held-out rows, which are computed there.
        self.Y = Y
        self.sample_weight = sample_weight
        self.dtype = Y.dtype
        self.total_weight = float(np.sum(sample_weight, dtype=np.float64))
        self._unit_weights = bool(np.all(sample_weight == 1))
        self.block_rows = int(min(block_rows, X.shape[0]))
        self._Y = xp.asarray(Y, device=device)
        self._w = xp.asarray(sample_weight, device=device)
        # Column sums as products with a vector of ones, as the NumPy path sums them.
        self._ones = xp.ones(self.block_rows, dtype=X.dtype, device=device)
        # Blocks are added in float64 where the device has it, as the NumPy path adds them.
        self._sum_dtype = float_dtypes(xp, device)[0]
        self._g_prime = ARRAY_API_DERIVATIVES[network.activation]
        self._g_second = ARRAY_API_SECOND_DERIVATIVES[network.activation]

    def largest_product_flops(self):
        """0: the host computes no matrix product of the passes.

        The fit sizes NumPy's BLAS threads by this number, and 0 keeps them at one: the host
        only does the optimizer's vector work, and NumPy's threads would fight a CPU device's
        own thread pool for the cores (measured with PyTorch on the CPU, 20000 × 400: 80 ms
        per evaluation with NumPy's BLAS on 2 threads, 34 ms with it on 1).
        """
        return 0

    def _to_device(self, vector):
        """A flat float64 host vector (θ or v) as per-layer arrays in X's dtype on the device."""
        on_device = self.xp.asarray(np.asarray(vector, dtype=self.dtype), device=self.device)
        return self.network.unpack_xp(self.xp, on_device)

    def _to_host(self, total, sums, out):
        """Bring a 0-d sum and per-layer sums back in one transfer; write the sums into ``out``
        (float64, laid out as θ) and return the 0-d sum as a float."""
        xp = self.xp
        flat = xp.concat((xp.reshape(total, (1,)), self.network.flatten_xp(xp, sums)))
        host = to_host(flat)
        out[...] = host[1:]
        return float(host[0])

    def _blocks(self):
        """(X, Y, w) of every block of rows, slices on the device."""
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            yield self.X[rows, ...], self._Y[rows, ...], self._w[rows]

    def _weigh(self, M, w):
        """M with each row multiplied by its sample weight."""
        return M if self._unit_weights else M * self.xp.reshape(w, (-1, 1))

    def _forward(self, params, X):
        return forward_xp(self.xp, self.network.activation, params, X)

    def _times_g_prime(self, delta, A):
        """delta ⊙ g′, with g′ in terms of the activation A."""
        return delta if self._g_prime is None else delta * self._g_prime(self.xp, A)

    def _add(self, total, value):
        """total + value, in the dtype blocks are added in."""
        value = self.xp.astype(value, self._sum_dtype, copy=False)
        return value if total is None else total + value

    def _add_layers(self, sums, block_sums):
        """Per-layer (W, b) sums plus one block's."""
        if sums is None:
            return [(self._add(None, W), self._add(None, b)) for W, b in block_sums]
        return [(self._add(W, bW), self._add(b, bb)) for (W, b), (bW, bb) in zip(sums, block_sums)]

    def _column_sums(self, M):
        return self._ones[: M.shape[0]] @ M

    def saturated_fraction(self, theta, n_rows=256):
        """Fraction of the first hidden layer's z(2) beyond the plateau of g on ``n_rows`` rows
        spread over X, as :meth:`DataTerm.saturated_fraction`."""
        if self.network.n_layers < 3:
            return None
        rows = np.unique(np.linspace(0, self.X.shape[0] - 1, num=n_rows).astype(int))
        W, b = self._to_device(theta)[0]
        with np.errstate(over="ignore", invalid="ignore"):
            Z = to_host(take_rows_xp(self.xp, self.X, rows) @ W + b)
        return saturated_share(Z, self.network.activation)

    def output(self, theta):
        """Return z(L) for every row of X at θ, on the host (for the scores of held-out rows)."""
        params = self._to_device(theta)
        return to_host(decision_output_xp(self.xp, self.network, params, self.X, self.block_rows))

    def loss_sum(self, theta):
        """Return Σ_i w_i cost(h(x_i), y_i) at θ."""
        params = self._to_device(theta)
        total = 0.0
        for X, Y, w in self._blocks():
            total += float(self.loss.loss_xp(self.xp, self._forward(params, X)[1], Y, w)[1])
        return total

    def loss_gradient_sum(self, theta, gradient):
        """Return Σ_i w_i cost_i at θ; write the accumulated Δ(l) of every layer into
        ``gradient`` (float64, laid out as θ), as :meth:`DataTerm.loss_gradient_sum`."""
        params = self._to_device(theta)
        total, sums = None, None
        for X, Y, w in self._blocks():
            loss, block_sums = self._block_gradient(params, X, Y, w)
            total, sums = self._add(total, loss), self._add_layers(sums, block_sums)
        return self._to_host(total, sums, gradient)

    def _block_gradient(self, params, X, Y, w):
        """One block's Σ_i w_i cost_i and Δ(l): forward pass, δ(L) = a(L) − y,
        δ(l) = δ(l+1) Θ(l) .* g′(z(l)), Δ(l) = δ(l+1)ᵀ a(l)."""
        activations, Z = self._forward(params, X)
        H, loss = self.loss.loss_xp(self.xp, Z, Y, w)
        delta = self._weigh(self.loss.output_delta_xp(self.xp, H, Y), w)
        return loss, self._linear_backward(params, X, activations, delta)

    def _linear_backward(self, params, X, activations, delta):
        """Per-layer (A(l)ᵀ δ(l+1), colsum δ(l+1)) of the backward pass that starts from δ(L)
        = ``delta`` and goes on by δ(l) = δ(l+1) W(l)ᵀ ⊙ g′: the gradient's, and G v's with
        R{E(L)} in place of δ(L)."""
        sums = [None] * len(params)
        for layer in range(len(params) - 1, -1, -1):
            A = X if layer == 0 else activations[layer - 1]
            sums[layer] = (A.T @ delta, self._column_sums(delta))
            if layer > 0:
                delta = self._times_g_prime(delta @ params[layer][0].T, A)
        return sums

    # Curvature: Pearlmutter's R-operator, as in ``_objective`` (whose comments have the
    # equations): one forward and one backward pass of directional derivatives.

    def hessian_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Hessian of Σ_i w_i cost_i at θ times the vector v."""
        self._curvature_product(theta, v, out, self._exact_backward)

    def gauss_newton_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Gauss-Newton approximation of that Hessian times v."""
        self._curvature_product(theta, v, out, self._gauss_newton_backward)

    def _curvature_product(self, theta, v, out, backward):
        params, directions = self._to_device(theta), self._to_device(v)
        sums = None
        for X, Y, w in self._blocks():
            activations, Z = self._forward(params, X)
            H, _ = self.loss.loss_xp(self.xp, Z, Y, w)
            RZ, RA, RE = self._r_forward(params, directions, X, activations, H, w)
            block_sums = backward(params, directions, X, Y, w, activations, H, RZ, RA, RE)
            sums = self._add_layers(sums, block_sums)
        self._to_host(self.xp.zeros((), dtype=self._sum_dtype, device=self.device), sums, out)

    def _r_forward(self, params, directions, X, activations, H, w):
        """R{Z(l)} and R{A(l)} of every layer, and R{E(L)} = w ⊙ R{H}."""
        RZ, RA = [], []
        for layer, ((W, _), (V, c)) in enumerate(zip(params, directions)):
            inputs = X if layer == 0 else activations[layer - 1]
            product = inputs @ V
            if layer > 0:
                product = product + RA[layer - 1] @ W
            RZ.append(product + c)
            if layer < len(params) - 1:
                RA.append(self._times_g_prime(RZ[layer], activations[layer]))
        RE = self._weigh(self.loss.r_output_xp(self.xp, H, RZ[-1]), w)
        return RZ, RA, RE

    def _gauss_newton_backward(self, params, directions, X, Y, w, activations, H, RZ, RA, RE):
        """G v of one block: R{E(l)} = (R{E(l+1)} W(l)ᵀ) ⊙ g′, Gv(W) = A(l)ᵀ R{E(l+1)}."""
        return self._linear_backward(params, X, activations, RE)

    def _exact_backward(self, params, directions, X, Y, w, activations, H, RZ, RA, RE):
        """H v of one block: the Gauss-Newton terms plus those that contain E."""
        E = self._weigh(self.loss.output_delta_xp(self.xp, H, Y), w)
        sums = [None] * len(params)
        for layer in range(len(params) - 1, -1, -1):
            inputs = X if layer == 0 else activations[layer - 1]
            sums[layer] = (inputs.T @ RE, self._column_sums(RE))
            if layer == 0:
                break
            W, V = params[layer][0], directions[layer][0]
            sums[layer] = (sums[layer][0] + RA[layer - 1].T @ E, sums[layer][1])
            previous = self._times_g_prime(RE @ W.T + E @ V.T, inputs)
            E_W = E @ W.T
            if self._g_second is not None:
                previous = previous + E_W * self._g_second(self.xp, inputs) * RZ[layer - 1]
            E = self._times_g_prime(E_W, inputs)
            RE = previous
        return sums
