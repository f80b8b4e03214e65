"""The layout of a fully connected network and its buffers, with no scikit-learn in it.

Notation follows the course (see ``docs/mathematics.rst``): layer l has s_l units, the input
layer has s_1 = n_features and the output layer s_L = n_outputs. The code works row-major, one
row per example, so the course's z(l+1) = Θ(l) [1; a(l)] for one column x becomes, for a block
of rows A(l),

    Z(l+1) = A(l) W(l) + b(l),    A(l+1) = g(Z(l+1)),

where W(l) is Θ(l)'s non-bias part transposed and b(l) its bias column. All parameters live in
one flat float64 vector θ. Layer l owns a contiguous (s_l + 1, s_{l+1}) block of it whose row 0
is b(l) and whose remaining rows are W(l): the block is exactly Θ(l)ᵀ, so during a fit both the
course's matrices and scikit-learn's ``coefs_``/``intercepts_`` layout are views of θ.

The output units and their cost are not the network's: ``_losses`` has them. ``_passes``
computes on these layouts and buffers, ``_objective`` builds J and its derivatives on them.
"""

import numpy as np

from ._activations import ACTIVATIONS, POSITIVELY_HOMOGENEOUS


class Network:
    """Layout of a fully connected network: layer sizes, hidden activation, parameter views.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input layer first and output layer last (s_1, ..., s_L).
    activation : {"logistic", "tanh", "relu", "identity"}
        Activation g of the hidden units.
    """

    def __init__(self, layer_sizes, activation="logistic"):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = activation
        shapes = [(fan_in + 1, fan_out) for fan_in, fan_out in self.fans()]
        bounds = np.cumsum([0] + [rows * cols for rows, cols in shapes])
        self._blocks = [
            (start, stop, shape) for start, stop, shape in zip(bounds[:-1], bounds[1:], shapes)
        ]
        self.n_params = int(bounds[-1])

    def fans(self):
        """Return ``[(s_l, s_{l+1}), ...]``, the fan-in and fan-out of every layer."""
        return list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))

    @property
    def n_layers(self):
        """Number of layers L, input and output layers included."""
        return len(self.layer_sizes)

    def slice(self, layer):
        """The slice of θ that holds layer ``layer``'s block [b(l); W(l)]."""
        start, stop, _ = self._blocks[layer]
        return slice(int(start), int(stop))

    def unpack(self, theta):
        """Return ``[(W(l), b(l)), ...]``, views into the flat vector ``theta``."""
        params = []
        for start, stop, shape in self._blocks:
            block = theta[start:stop].reshape(shape)
            params.append((block[1:], block[0]))
        return params

    def unpack_xp(self, xp, theta):
        """:meth:`unpack` for a flat θ of any array-API namespace ``xp``, on its device."""
        params = []
        for start, stop, shape in self._blocks:
            block = xp.reshape(theta[start:stop], shape)
            params.append((block[1:, :], block[0, :]))
        return params

    def flatten_xp(self, xp, params):
        """The flat vector laid out as θ from per-layer ``[(W(l), b(l)), ...]`` of namespace ``xp``:
        the inverse of :meth:`unpack_xp`, one concatenation on the device."""
        blocks = [xp.concat((xp.reshape(b, (1, -1)), W), axis=0) for W, b in params]
        return xp.concat([xp.reshape(block, (-1,)) for block in blocks])

    def thetas(self, theta):
        """Return the course's matrices Θ(l), shape (s_{l+1}, s_l + 1), bias in column 0."""
        return [theta[start:stop].reshape(shape).T for start, stop, shape in self._blocks]

    def pack(self, coefs, intercepts):
        """Return the flat float64 vector θ holding ``coefs`` and ``intercepts``."""
        theta = np.empty(self.n_params, dtype=np.float64)
        for (W, b), coef, intercept in zip(self.unpack(theta), coefs, intercepts):
            W[...] = coef
            b[...] = intercept
        return theta

    def initial_theta(self, random_state):
        """Draw θ as the course does: every Θ(l)_ij uniform in [−ε(l), ε(l)].

        ε(l) = √6 / √(s_l + s_{l+1}), bias included, which breaks the symmetry between units.
        """
        theta = np.empty(self.n_params, dtype=np.float64)
        for (start, stop, _), (fan_in, fan_out) in zip(self._blocks, self.fans()):
            epsilon = np.sqrt(6.0 / (fan_in + fan_out))
            theta[start:stop] = random_state.uniform(-epsilon, epsilon, size=stop - start)
        return theta

    def squared_norm(self, theta):
        """Return Σ_l ‖W(l)‖², the sum of squares of the non-bias weights."""
        return sum(float(np.dot(W.ravel(), W.ravel())) for W, _ in self.unpack(theta))


# Blocks of fewer rows lose more in matrix-product efficiency than they gain (measured here).
MIN_BLOCK_ROWS = 1024


class Workspace:
    """Buffers for the forward and backward passes over blocks of at most ``block_rows`` rows.

    Allocated once per fit and reused by every block and every evaluation, so that the hot path
    allocates nothing proportional to the data. ``new(shape)`` makes a buffer; where it returns
    None (the array-API path, whose primitives allocate), the passes get None for every buffer.
    """

    def __init__(self, network, block_rows, new):
        sizes = network.layer_sizes[1:]
        self.activations = _buffers(new, block_rows, sizes)
        self.deltas = _buffers(new, block_rows, sizes)
        self.scratch = _buffers(new, block_rows, sizes)  # for g′ and the output layer
        # Δ(l) = A(l)ᵀ δ(l+1) is written as its transpose δ(l+1)ᵀ A(l) into a C-ordered
        # (s_{l+1}, s_l) buffer, handed over as its (s_l, s_{l+1}) view: OpenBLAS computes it
        # that way round up to 20% faster for the skinny layers (measured with one thread:
        # 2076×400·(25,) 1.80 against 2.2 ms in float64, digits 0.19 against 0.25 ms).
        self.Delta = [_transposed(new((fan_out, fan_in))) for fan_in, fan_out in network.fans()]

    @staticmethod
    def bytes_per_row(network, dtype):
        """Bytes of the buffers per row of a block: activations, deltas and scratch."""
        return 3 * np.dtype(dtype).itemsize * sum(network.layer_sizes[1:])


class CurvatureWorkspace:
    """Buffers of the R-passes, made on the first curvature product of a fit."""

    def __init__(self, network, block_rows, new, float64):
        sizes = network.layer_sizes[1:]
        self.RZ = _buffers(new, block_rows, sizes)
        self.RA = _buffers(new, block_rows, sizes[:-1])
        self.RE = _buffers(new, block_rows, sizes)
        self.scratch = _buffers(new, block_rows, sizes[:-1])
        self.second = _buffers(new, block_rows, sizes[:-1])
        # R{A(l)} W(l) of every layer after the first (R{A(1)} = R{X} = 0).
        self.product = [None, *_buffers(new, block_rows, sizes[1:])]
        # The direction v in the passes' dtype, when that is not v's float64.
        self.direction = None if float64 else new((network.n_params,))

    @staticmethod
    def bytes_per_row(network, dtype):
        """Bytes of the R-pass buffers per row of a block, on top of the :class:`Workspace`.

        R{Z} and R{E} for every non-input layer, a product buffer for every layer after the
        first hidden one; R{A}, a scratch and g″ for every hidden layer.
        """
        sizes = network.layer_sizes[1:]
        return np.dtype(dtype).itemsize * (2 * sum(sizes) + sum(sizes[1:]) + 3 * sum(sizes[:-1]))


def _transposed(buffer):
    return None if buffer is None else buffer.T


def _buffers(new, n_rows, widths):
    return [new((n_rows, width)) for width in widths]


def row_blocks(n_samples, block_rows):
    """Yield the slices that cut ``n_samples`` rows into blocks of ``block_rows``."""
    for start in range(0, n_samples, block_rows):
        yield slice(start, min(start + block_rows, n_samples))


def take_rows(array, rows):
    """The rows of ``array`` in the slice ``rows``; the array itself when that is all of them.

    Slicing a sparse matrix copies it, even when the slice covers every row.
    """
    if rows.start == 0 and rows.stop == array.shape[0]:
        return array
    return array[rows]


def _row_exponents(A):
    """The binary exponent e_i with max_j |a_ij| < 2^e_i for every row (0 for a zero row)."""
    return np.frexp(_abs_row_max(A))[1]


def may_overflow(network, params, X, dtype):
    """Rows of X whose forward pass may overflow ``dtype`` somewhere on the way to z(L).

    A sum that overflows on the way need not leave a trace in z(L): a sigmoid or tanh of ±inf,
    or a ReLU of −inf, is finite, and of the wrong sign if the exact sum had the other one. So
    the rows are found from a bound instead: |z(l+1)| ≤ max|a(l)| max_j ‖W(l)_{:,j}‖₁ + max|b(l)|,
    with max|a| ≤ 1 after a bounded unit.
    """
    return overflow_rows(network, params, _abs_row_max(X), dtype)


def overflow_rows(network, params, row_max, dtype):
    """:func:`may_overflow` from max_j |x_ij| of every row, wherever the rows are."""
    largest = np.finfo(dtype).max
    bound = np.asarray(row_max, dtype=np.float64)
    overflows = np.zeros(bound.shape[0], dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer, (W, b) in enumerate(params):
            bound = bound * np.abs(W).sum(axis=0).max(initial=0.0) + np.abs(b).max(initial=0.0)
            overflows |= ~(bound < largest)
            if network.activation not in POSITIVELY_HOMOGENEOUS and layer < len(params) - 1:
                bound = np.ones_like(bound)
    return overflows


def _abs_row_max(A):
    """max_j |a_ij| of every row, dense or sparse, without a dense copy of A."""
    if hasattr(A, "tocsr"):
        return abs(A).max(axis=1).toarray().ravel()
    return np.maximum(A.max(axis=1), -A.min(axis=1))


def _scale_rows(A, exponents):
    """A with row i multiplied by 2^exponents[i]: exact, as long as nothing under- or overflows.

    By ``ldexp`` on the entries, not by a factor 2^e, which overflows to inf from e = 1024 on.
    """
    if hasattr(A, "tocsr"):
        A = A.tocsr(copy=True)
        A.data = np.ldexp(A.data, np.repeat(exponents, np.diff(A.indptr)))
        return A
    return np.ldexp(A, exponents[:, np.newaxis])


def scaled_decision_output(network, params, X):
    """Return z(L) of rows whose ordinary forward pass overflows, as ``(M, e)``: z = 2^e M.

    Every row is carried as 2^e_i times a row of magnitude below 1. Scaling by a power of two
    is exact and commutes with rounding, so where nothing overflows this is the ordinary
    forward pass, and where something does z(L) is still known exactly up to its rounding.
    Homogeneous units (g(s z) = s g(z): ReLU and identity) pass the scale on; any other unit
    applies g to the unscaled z, which may overflow to ±inf, where g saturates. Computed in
    float64.
    """
    exponents = _row_exponents(X)
    A = _scale_rows(X, -exponents)
    homogeneous = network.activation in POSITIVELY_HOMOGENEOUS
    g = ACTIVATIONS[network.activation]
    with np.errstate(over="ignore", under="ignore"):
        for W, b in params[:-1]:
            Z = np.asarray(A @ W) + np.ldexp(b, -exponents[:, np.newaxis])
            if homogeneous:
                g(Z)
                shift = _row_exponents(Z)
                # A row of zeros has no scale to carry: the next layer's input is its bias alone.
                exponents = np.where(Z.any(axis=1), exponents + shift, 0)
                A = _scale_rows(Z, -shift)
            else:
                A = np.ldexp(Z, exponents[:, np.newaxis])
                g(A)
                exponents = np.zeros_like(exponents)
        W, b = params[-1]
        M = np.asarray(A @ W) + np.ldexp(b, -exponents[:, np.newaxis])
    return M, exponents


def unscale(M, exponents, dtype):
    """z = 2^e M from :func:`scaled_decision_output`, clipped into the range of ``dtype``."""
    with np.errstate(over="ignore"):
        Z = np.ldexp(M, exponents[:, np.newaxis])
    largest = np.finfo(dtype).max
    return np.clip(Z, -largest, largest).astype(dtype)
