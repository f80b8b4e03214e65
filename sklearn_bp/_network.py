"""The mathematics of a fully connected network, with no scikit-learn in it.

Notation follows the course (see ``docs/mathematics.rst``): layer l has s_l units, the input
layer has s_1 = n_features and the output layer s_L = n_outputs. The code works row-major, one
row per example, so the course's z(l+1) = Θ(l) [1; a(l)] for one column x becomes, for a block
of rows A(l),

    Z(l+1) = A(l) W(l) + b(l),    A(l+1) = g(Z(l+1)),

where W(l) is Θ(l)'s non-bias part transposed and b(l) its bias column. All parameters live in
one flat float64 vector θ. Layer l owns a contiguous (s_l + 1, s_{l+1}) block of it whose row 0
is b(l) and whose remaining rows are W(l): the block is exactly Θ(l)ᵀ, so during a fit both the
course's matrices and scikit-learn's ``coefs_``/``intercepts_`` layout are views of θ.
"""

import numpy as np
from scipy.special import log_expit, log_softmax, logsumexp

from ._activations import ACTIVATIONS, DERIVATIVES, POSITIVELY_HOMOGENEOUS, SECOND_DERIVATIVES


class Network:
    """Layout of a fully connected network: layer sizes, activations and parameter views.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input layer first and output layer last (s_1, ..., s_L).
    activation : {"logistic", "tanh", "relu", "identity"}
        Activation g of the hidden units.
    out_activation : {"logistic", "softmax"}
        Activation of the output units: one sigmoid per output, or a softmax over them.
    """

    def __init__(self, layer_sizes, activation="logistic", out_activation="logistic"):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = activation
        self.out_activation = out_activation
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

    def unpack(self, theta):
        """Return ``[(W(l), b(l)), ...]``, views into the flat vector ``theta``."""
        params = []
        for start, stop, shape in self._blocks:
            block = theta[start:stop].reshape(shape)
            params.append((block[1:], block[0]))
        return params

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


class Workspace:
    """Buffers for the forward and backward passes over blocks of at most ``block_rows`` rows.

    Allocated once per fit and reused by every block and every evaluation, so that the hot path
    allocates nothing proportional to the data.
    """

    def __init__(self, network, block_rows, dtype):
        sizes = network.layer_sizes[1:]
        self.dtype = np.dtype(dtype)
        self.block_rows = int(block_rows)
        self.activations = _buffers(block_rows, sizes, dtype)
        self.deltas = _buffers(block_rows, sizes, dtype)
        self.scratch = _buffers(block_rows, sizes, dtype)  # for g′ and the output layer
        self.Delta = [
            np.empty((fan_in, fan_out), dtype=dtype) for fan_in, fan_out in network.fans()
        ]
        self.ones = np.ones(block_rows, dtype=dtype)

    @staticmethod
    def bytes_per_row(network, dtype):
        """Bytes of the buffers per row of a block: activations, deltas and scratch."""
        return 3 * np.dtype(dtype).itemsize * sum(network.layer_sizes[1:])

    def rows(self, buffers, n_rows):
        """Views of the first ``n_rows`` rows of each buffer (contiguous in memory)."""
        return [buffer[:n_rows] for buffer in buffers]


def _buffers(n_rows, widths, dtype):
    return [np.empty((n_rows, width), dtype=dtype) for width in widths]


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


def forward(network, params, X, activations):
    """Forward propagation of the rows X through the network.

    Writes a(l) = g(z(l)) of every hidden layer into ``activations[:-1]`` and z(L), the output
    layer's input before its activation, into ``activations[-1]``; returns z(L).
    """
    g = ACTIVATIONS[network.activation]
    A = X
    for (W, b), Z in zip(params, activations):
        if A is not X:
            g(A)  # z(l) of the layer before becomes a(l) only now: the output keeps its z(L)
        if hasattr(A, "tocsr"):
            # Sparse input: only the first layer sees it, and its product is dense.
            Z[...] = A @ W
        else:
            np.matmul(A, W, out=Z)
        Z += b
        A = Z
    return A


def _logistic_output(Z, Y, w, H, scratch):
    """Write h = σ(z) into H; return Σ_i w_i Σ_k −[y_ik log h_ik + (1 − y_ik) log(1 − h_ik)].

    For y ∈ {0, 1} the bracket is −softplus(t) with t = (1 − 2y) z, and
    softplus(t) = max(t, 0) + log(1 + e) with e = exp(−|z|): exact for saturated units, where
    log(σ(z)) would round to log(0) or lose every digit. h itself is the hidden units' sigmoid,
    whose absolute error stays at the rounding level of 1, all that δ(L) = h − y needs.
    """
    np.abs(Z, out=H)
    np.negative(H, out=H)
    np.exp(H, out=H)
    np.log1p(H, out=scratch)
    # Weighted sums over rows as matrix-vector products: faster than reductions along rows.
    loss = w @ scratch
    np.multiply(Y, -2, out=scratch)
    scratch += 1
    scratch *= Z
    np.maximum(scratch, 0, out=scratch)
    loss += w @ scratch
    np.copyto(H, Z)
    ACTIVATIONS["logistic"](H)
    return float(loss.sum())


def _softmax_output(Z, Y, w, H, scratch):
    """Write h = softmax(z) into H; return Σ_i w_i (−Σ_k y_ik log h_ik).

    With m = max_k z_k and S = Σ_k exp(z_k − m) ≥ 1, −Σ_k y_k log h_k = log S + (m − Σ_k y_k z_k)
    for one-hot y: no exponential overflows, no log of a rounded-to-zero probability, and
    both terms are at least 0 as computed, so rounding cannot make the cost negative.
    """
    row_max = Z.max(axis=1)
    np.subtract(Z, row_max[:, np.newaxis], out=H)
    np.exp(H, out=H)
    row_sum = H.sum(axis=1)
    H /= row_sum[:, np.newaxis]
    np.multiply(Y, Z, out=scratch)
    margin = row_max - scratch.sum(axis=1)
    return float(w @ (np.log(row_sum) + margin))


OUTPUTS = {"logistic": _logistic_output, "softmax": _softmax_output}


def output_log_proba(Z, out_activation, kind):
    """Log-probabilities of the classes from the output layer's input z(L).

    ``kind`` says how the outputs encode the target: ``"binary"`` (one unit, the probability of
    the positive class), ``"multiclass"`` (one unit per class) or ``"multilabel"`` (one unit
    per label, each its own probability). K sigmoids of a multiclass problem are normalized to
    sum to one, as one-vs-rest models do.
    """
    if out_activation == "softmax":
        return log_softmax(Z, axis=1)
    log_h = log_expit(Z)
    if kind == "multilabel":
        return log_h
    if kind == "binary":
        return np.hstack([log_expit(-Z), log_h])
    return log_h - logsumexp(log_h, axis=1, keepdims=True)


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
    largest = np.finfo(dtype).max
    bound = np.asarray(_abs_row_max(X), dtype=np.float64)
    overflows = np.zeros(X.shape[0], dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer, (W, b) in enumerate(params):
            bound = bound * np.abs(W).sum(axis=0).max(initial=0.0) + np.abs(b).max(initial=0.0)
            overflows |= ~(bound < largest)
            if network.activation not in POSITIVELY_HOMOGENEOUS and layer < len(params) - 1:
                bound = np.ones_like(bound)
    return overflows


def _abs_row_max(A):
    """max_j |a_ij| of every row, dense or sparse."""
    largest = abs(A).max(axis=1)
    return largest.toarray().ravel() if hasattr(largest, "toarray") else np.asarray(largest)


def _scale_rows(A, exponents):
    """A with row i multiplied by 2^exponents[i]: exact, as long as nothing under- or overflows."""
    factors = np.ldexp(1.0, exponents)
    if hasattr(A, "tocsr"):
        return A.multiply(factors[:, np.newaxis]).tocsr()
    return A * factors[:, np.newaxis]


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
                exponents = exponents + shift
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


def scaled_log_proba(M, exponents, out_activation, kind):
    """:func:`output_log_proba` of z = 2^e M, exact also where z overflows.

    The softmax is shift-invariant: z − max z = 2^e (M − max M) is at most 0 and at worst
    −inf, whose probability is 0. Sigmoids take z itself, ±inf included, except when every
    unit of a multiclass row is far below zero: there log σ(z) = z to the last digit, and
    the normalized sigmoids are the softmax of z.
    """
    with np.errstate(over="ignore"):
        Z = np.ldexp(M, exponents[:, np.newaxis])
        shifted = np.ldexp(M - M.max(axis=1, keepdims=True), exponents[:, np.newaxis])
    if out_activation == "softmax":
        return log_softmax(shifted, axis=1)
    if kind != "multiclass":
        return output_log_proba(Z, out_activation, kind)
    far_below = Z.max(axis=1) < _LOG_TINY
    log_proba = np.empty_like(Z)
    log_proba[far_below] = log_softmax(shifted[far_below], axis=1)
    log_proba[~far_below] = output_log_proba(Z[~far_below], out_activation, kind)
    return log_proba


# Below this z, σ(z) = exp(z) is below the smallest float64: log σ(z) = z exactly.
_LOG_TINY = np.log(np.finfo(np.float64).smallest_subnormal)


def decision_output(network, params, X, block_rows):
    """Return z(L) for every row of X, evaluated block by block in X's dtype."""
    n_samples = X.shape[0]
    block_rows = min(block_rows, n_samples)
    hidden = _buffers(block_rows, network.layer_sizes[1:-1], X.dtype)
    Z = np.empty((n_samples, network.layer_sizes[-1]), dtype=X.dtype)
    for rows in row_blocks(n_samples, block_rows):
        n_rows = rows.stop - rows.start
        # The output layer writes straight into its rows of Z.
        activations = [buffer[:n_rows] for buffer in hidden] + [Z[rows]]
        forward(network, params, take_rows(X, rows), activations)
    return Z


class BackpropObjective:
    """The cost J(θ) of a network on fixed data, and its gradient by backpropagation.

    With sample weights w_i and W = Σ_i w_i::

        J(θ) = (1/W) Σ_i w_i cost(h(x_i), y_i) + (α / 2W) Σ_l ‖W(l)‖²

    The gradient is the course's accumulated Δ(l) = Σ_i w_i δ(l+1)_i a(l)_iᵀ, and
    D(l) = (Δ(l) + α Θ(l)) / W on the non-bias weights, D(l) = Δ(l) / W on the bias.
    Δ is a sum over rows, so J and D are evaluated over blocks of rows one after another, with
    buffers allocated once here: memory stays bounded by the block size, not the data size.

    Parameters
    ----------
    network : Network
        Layout and activations.
    X : {ndarray, sparse matrix} of shape (n_samples, s_1)
        Inputs, float32 or float64; the passes run in this dtype.
    Y : ndarray of shape (n_samples, s_L)
        Targets encoded as 0/1, one column per output unit, in X's dtype.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights w_i, in X's dtype, with a positive sum.
    alpha : float
        L2 regularization strength α (the course's λ).
    block_rows : int
        Number of rows evaluated at once.
    """

    def __init__(self, network, X, Y, sample_weight, alpha, block_rows):
        self.network = network
        self.X = X
        self.Y = Y
        self.sample_weight = sample_weight
        self.alpha = float(alpha)
        self.total_weight = float(np.sum(sample_weight, dtype=np.float64))
        self._unit_weights = bool(np.all(sample_weight == 1))
        self.block_rows = int(min(block_rows, X.shape[0]))
        self.workspace = Workspace(network, self.block_rows, X.dtype)
        # The optimizer's θ is float64; float32 passes need a cast copy of it.
        self._compute_theta = (
            None if X.dtype == np.float64 else np.empty(network.n_params, dtype=X.dtype)
        )
        self._curvature = None

    def _compute_params(self, theta, buffer=None):
        """Per-layer views of θ in the dtype of the passes (a cast copy for float32 data)."""
        buffer = self._compute_theta if buffer is None else buffer
        if buffer is None:
            return self.network.unpack(theta)
        buffer[...] = theta
        return self.network.unpack(buffer)

    def output(self, theta):
        """Return z(L), the output layer's input, for every row of X at θ."""
        return decision_output(self.network, self._compute_params(theta), self.X, self.block_rows)

    def data_loss(self, Z):
        """Return J without its penalty from ``Z = self.output(θ)``, with no second pass."""
        output = OUTPUTS[self.network.out_activation]
        H, scratch = np.empty_like(Z), np.empty_like(Z)
        return output(Z, self.Y, self.sample_weight, H, scratch) / self.total_weight

    def loss(self, theta):
        """Return J(θ)."""
        params = self._compute_params(theta)
        data_loss = 0.0
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            data_loss += self._block_loss(
                params, take_rows(self.X, rows), self.Y[rows], self.sample_weight[rows]
            )
        penalty = 0.5 * self.alpha * self.network.squared_norm(theta)
        return (data_loss + penalty) / self.total_weight

    def loss_gradient(self, theta, gradient=None):
        """Return J(θ) and ∇J(θ), the gradient written into ``gradient`` if given."""
        theta = np.asarray(theta, dtype=np.float64)
        if gradient is None:
            gradient = np.empty(self.network.n_params, dtype=np.float64)
        gradient[...] = 0.0
        params = self._compute_params(theta)
        grad_params = self.network.unpack(gradient)
        data_loss = 0.0
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            data_loss += self._accumulate_block(
                params,
                take_rows(self.X, rows),
                self.Y[rows],
                self.sample_weight[rows],
                grad_params,
            )
        # D(l) = (Δ(l) + α Θ(l)) / W with the bias column unregularized. The course's
        # (1/m) Δ + λ Θ is the gradient of a λ/2 penalty, not of the λ/2m one in its own J
        # (docs/mathematics.rst).
        for (W, _), (grad_W, _) in zip(self.network.unpack(theta), grad_params):
            grad_W += self.alpha * W
        penalty = 0.5 * self.alpha * self.network.squared_norm(theta)
        gradient /= self.total_weight
        return (data_loss + penalty) / self.total_weight, gradient

    def _weigh_rows(self, M, w):
        """Multiply each row of M in place by its sample weight; nothing to do if all are 1."""
        if not self._unit_weights:
            M *= w[:, np.newaxis]

    def _block_loss(self, params, X, Y, w):
        """Forward pass over one block; return its Σ_i w_i cost_i, leaving h in the deltas."""
        workspace = self.workspace
        n_rows = X.shape[0]
        Z = forward(self.network, params, X, workspace.rows(workspace.activations, n_rows))
        output = OUTPUTS[self.network.out_activation]
        return output(Z, Y, w, workspace.deltas[-1][:n_rows], workspace.scratch[-1][:n_rows])

    def _accumulate_block(self, params, X, Y, w, grad_params):
        """Add one block's Δ(l) to ``grad_params``; return its Σ_i w_i cost_i.

        This is the course's loop body over examples, done for a block of rows at once:
        forward pass, δ(L) = a(L) − y, δ(l) = δ(l+1) Θ(l) .* g′(z(l)), Δ(l) += δ(l+1)ᵀ a(l).
        """
        network, workspace = self.network, self.workspace
        n_rows = X.shape[0]
        activations = workspace.rows(workspace.activations, n_rows)
        deltas = workspace.rows(workspace.deltas, n_rows)
        scratch = workspace.rows(workspace.scratch, n_rows)
        ones = workspace.ones[:n_rows]
        g_prime = DERIVATIVES[network.activation]

        loss = self._block_loss(params, X, Y, w)
        delta = deltas[-1]
        # δ(L) = a(L) − y, weighted: w_i carries through the linear backward pass into Δ.
        delta -= Y
        self._weigh_rows(delta, w)

        for layer in range(len(params) - 1, -1, -1):
            A = X if layer == 0 else activations[layer - 1]
            grad_W, grad_b = grad_params[layer]
            Delta = workspace.Delta[layer]
            if hasattr(A, "tocsr"):
                Delta[...] = A.T @ delta
            else:
                np.matmul(A.T, delta, out=Delta)
            grad_W += Delta
            grad_b += ones @ delta  # the bias column of Δ: Σ_i δ_i, as a matrix-vector product
            if layer > 0:
                previous = deltas[layer - 1]
                np.matmul(delta, params[layer][0].T, out=previous)
                g_prime(A, previous, scratch[layer - 1])
                delta = previous
        return loss

    # Curvature: products of the Hessian of J, or of its Gauss-Newton approximation, with a
    # direction v, by Pearlmutter's R-operator R{·} = d/dr (·)(θ + r v) at r = 0: one forward
    # and one backward pass of directional derivatives on top of the ordinary ones, exact, no
    # finite differences. Row-major notation as above, V(l) and c(l) the parts of v for W(l)
    # and b(l), E(l) the weighted deltas (E(L) = w ⊙ (H − Y)).

    def hessian_vector_product(self, theta, v, out=None):
        """Return H(θ) v, the exact Hessian of J at θ times the vector v."""
        return self._curvature_product(theta, v, out, self._exact_backward)

    def gauss_newton_vector_product(self, theta, v, out=None):
        """Return G(θ) v, the Gauss-Newton approximation of the Hessian times v.

        G drops the terms of H that contain the deltas E: it is positive semi-definite
        (it is Jᵀ H_out J for the Jacobian J of the outputs and the convex output loss).
        """
        return self._curvature_product(theta, v, out, self._gauss_newton_backward)

    def _curvature_product(self, theta, v, out, backward):
        theta = np.asarray(theta, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        if out is None:
            out = np.empty(self.network.n_params, dtype=np.float64)
        out[...] = 0.0
        if self._curvature is None:
            self._curvature = CurvatureWorkspace(self.network, self.block_rows, self.X.dtype)
        params = self._compute_params(theta)
        directions = self._compute_params(v, self._curvature.direction)
        out_params = self.network.unpack(out)
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            X = take_rows(self.X, rows)
            w = self.sample_weight[rows]
            self._block_loss(params, X, self.Y[rows], w)
            self._r_forward(params, directions, X, w)
            backward(params, directions, X, self.Y[rows], w, out_params)
        for (V, _), (out_W, _) in zip(self.network.unpack(v), out_params):
            out_W += self.alpha * V
        out /= self.total_weight
        return out

    def _r_forward(self, params, directions, X, w):
        """R{Z(l)}, R{A(l)} of every layer and R{E(L)} = w ⊙ R{H}, after ``_block_loss``."""
        network, ws, cw = self.network, self.workspace, self._curvature
        n_rows = X.shape[0]
        A = ws.rows(ws.activations, n_rows)
        RZ = cw.rows(cw.RZ, n_rows)
        RA = cw.rows(cw.RA, n_rows)
        g_prime = DERIVATIVES[network.activation]
        for layer, ((W, _), (V, c)) in enumerate(zip(params, directions)):
            # R{Z(l+1)} = R{A(l)} W(l) + A(l) V(l) + c(l), with R{A(1)} = R{X} = 0.
            inputs = X if layer == 0 else A[layer - 1]
            if hasattr(inputs, "tocsr"):
                RZ[layer][...] = inputs @ V
            else:
                np.matmul(inputs, V, out=RZ[layer])
            if layer > 0:
                product = cw.product[layer][:n_rows]
                np.matmul(RA[layer - 1], W, out=product)
                RZ[layer] += product
            RZ[layer] += c
            if layer < len(params) - 1:
                # R{A} = g′(Z) ⊙ R{Z}
                np.copyto(RA[layer], RZ[layer])
                g_prime(A[layer], RA[layer], cw.scratch[layer][:n_rows])
        H = ws.deltas[-1][:n_rows]
        RH = cw.RE[-1][:n_rows]
        np.multiply(H, RZ[-1], out=RH)
        if network.out_activation == "softmax":
            # R{H} = H ⊙ R{Z} − H ⊙ rowsum(H ⊙ R{Z})
            RH -= H * RH.sum(axis=1, keepdims=True)
        else:
            # R{H} = H ⊙ (1 − H) ⊙ R{Z}
            RH -= H * RH
        self._weigh_rows(RH, w)

    def _gauss_newton_backward(self, params, directions, X, Y, w, out_params):
        """Add G v of one block: R{E(l)} = (R{E(l+1)} W(l)ᵀ) ⊙ g′, Gv(W) = A(l)ᵀ R{E(l+1)}."""
        network, ws, cw = self.network, self.workspace, self._curvature
        n_rows = X.shape[0]
        A = ws.rows(ws.activations, n_rows)
        RE = cw.rows(cw.RE, n_rows)
        g_prime = DERIVATIVES[network.activation]
        for layer in range(len(params) - 1, -1, -1):
            inputs = X if layer == 0 else A[layer - 1]
            _add_products(out_params[layer], inputs, RE[layer], ws.ones[:n_rows])
            if layer > 0:
                np.matmul(RE[layer], params[layer][0].T, out=RE[layer - 1])
                g_prime(A[layer - 1], RE[layer - 1], cw.scratch[layer - 1][:n_rows])

    def _exact_backward(self, params, directions, X, Y, w, out_params):
        """Add H v of one block: the Gauss-Newton terms plus those that contain E.

        Hv(W(l)) = A(l)ᵀ R{E(l+1)} + R{A(l)}ᵀ E(l+1) and
        R{E(l)} = (R{E(l+1)} W(l)ᵀ + E(l+1) V(l)ᵀ) ⊙ g′ + (E(l+1) W(l)ᵀ) ⊙ g″ ⊙ R{Z(l)}.
        """
        network, ws, cw = self.network, self.workspace, self._curvature
        n_rows = X.shape[0]
        A = ws.rows(ws.activations, n_rows)
        E = ws.rows(ws.deltas, n_rows)
        RZ, RA, RE = cw.rows(cw.RZ, n_rows), cw.rows(cw.RA, n_rows), cw.rows(cw.RE, n_rows)
        g_prime = DERIVATIVES[network.activation]
        g_second = SECOND_DERIVATIVES[network.activation]
        ones = ws.ones[:n_rows]
        E[-1] -= Y
        self._weigh_rows(E[-1], w)
        for layer in range(len(params) - 1, -1, -1):
            inputs = X if layer == 0 else A[layer - 1]
            _add_products(out_params[layer], inputs, RE[layer], ones)
            if layer == 0:
                break
            W, V = params[layer][0], directions[layer][0]
            out_W, _ = out_params[layer]
            out_W += RA[layer - 1].T @ E[layer]
            previous, scratch = RE[layer - 1], cw.scratch[layer - 1][:n_rows]
            np.matmul(RE[layer], W.T, out=previous)
            # cw.second holds g″ only further down: until then it serves for E(l+1) V(l)ᵀ.
            product = cw.second[layer - 1][:n_rows]
            np.matmul(E[layer], V.T, out=product)
            previous += product
            g_prime(A[layer - 1], previous, scratch)
            # E(l+1) W(l)ᵀ, before g′ makes it the delta E(l) of the ordinary backward pass.
            np.matmul(E[layer], W.T, out=E[layer - 1])
            if g_second is not None:
                curvature = cw.second[layer - 1][:n_rows]
                g_second(A[layer - 1], curvature, scratch)
                curvature *= E[layer - 1]
                curvature *= RZ[layer - 1]
                previous += curvature
            g_prime(A[layer - 1], E[layer - 1], scratch)


def _add_products(out_layer, inputs, RE, ones):
    """Add inputsᵀ R{E} to the W part and 1ᵀ R{E} to the b part of one layer's product."""
    out_W, out_b = out_layer
    out_W += inputs.T @ RE
    out_b += ones @ RE


class CurvatureWorkspace:
    """Buffers of the R-passes, allocated on the first curvature product of a fit."""

    def __init__(self, network, block_rows, dtype):
        sizes = network.layer_sizes[1:]
        self.RZ = _buffers(block_rows, sizes, dtype)
        self.RA = _buffers(block_rows, sizes[:-1], dtype)
        self.RE = _buffers(block_rows, sizes, dtype)
        self.scratch = _buffers(block_rows, sizes[:-1], dtype)
        self.second = _buffers(block_rows, sizes[:-1], dtype)
        self.product = _buffers(block_rows, sizes, dtype)
        self.direction = (
            None if np.dtype(dtype) == np.float64 else np.empty(network.n_params, dtype=dtype)
        )

    @staticmethod
    def bytes_per_row(network, dtype):
        """Bytes of the R-pass buffers per row of a block, on top of the :class:`Workspace`.

        R{Z}, R{E} and a product buffer for every non-input layer; R{A}, a scratch and g″
        for every hidden layer.
        """
        itemsize = np.dtype(dtype).itemsize
        return 3 * itemsize * (sum(network.layer_sizes[1:]) + sum(network.layer_sizes[1:-1]))

    rows = Workspace.rows
