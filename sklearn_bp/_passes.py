"""The passes over a block of rows, written once: forward, backward, R-operator, Gauss-Newton.

Row-major notation as in ``_network``: Z(l+1) = A(l) W(l) + b(l), A(1) = X; the hidden A(l),
z(L) and h = g_out(z(L)) from the loss. The passes know no data term, estimator or solver;
they compute with a few primitives that each array library provides:

- ``matmul(A, B, out)``: A B, into ``out`` where the library has buffers;
- ``add(M, N)``, ``multiply(M, N)``, ``copy(M, out)``: element-wise, M overwritten where the
  library works in place;
- ``activate``, ``times_g_prime``, ``g_second``: the activation g, the product with g′ and g″
  (in terms of a = g(z), from the tables of ``_activations``);
- ``column_sums(M)`` and ``weigh_rows(M, w)``: 1ᵀ M and w ⊙ M, the weighted sums over rows;
- ``row_outer(A, delta, out)`` and ``concat_columns(blocks, out)``: [1, a_i] ⊗ δ_i of every
  row i, flattened (a layer's block of the per-row Jacobian), and those blocks side by side;
- ``loss``, ``output_delta``, ``r_output``: the loss object's own, for the library;
- ``sums(network, out)``: where the block sums of J and of the per-layer products are added.

:class:`NumpyPrimitives` (here) works in place on the preallocated buffers of ``_network``'s
workspaces, which the passes hand it as ``out``; ``_array_api.ArrayAPIPrimitives`` allocates
new arrays on the device of any array-API namespace and is handed ``None`` for every buffer.
Every pass uses what a primitive returns, so that both run the same statements in the same
order: a change to the mathematics is made here, once.
"""

import numpy as np

from ._activations import ACTIVATIONS, DERIVATIVES, SECOND_DERIVATIVES
from ._network import row_blocks, take_rows


def first_rows(buffers, n_rows):
    """Views of the first ``n_rows`` rows of each buffer (contiguous); None stays None."""
    return [None if buffer is None else buffer[:n_rows] for buffer in buffers]


def _last_rows(buffers, n_rows):
    """The first ``n_rows`` rows of the last buffer (the output layer's), or None."""
    buffer = buffers[-1]
    return None if buffer is None else buffer[:n_rows]


class NumpyPrimitives:
    """The primitives for NumPy arrays (and SciPy sparse X), in place on given buffers.

    Parameters
    ----------
    dtype : dtype
        float32 or float64: the dtype of X and of the passes.
    block_rows : int
        The most rows of a block, for the vector of ones of the column sums.
    unit_weights : bool
        Whether every sample weight is 1, which spares the products with w.
    """

    # The passes' matrix products run in this process, on NumPy's BLAS.
    computes_on_host = True

    def __init__(self, dtype, block_rows, unit_weights=True):
        self.dtype = np.dtype(dtype)
        self.unit_weights = unit_weights
        self.ones = np.ones(block_rows, dtype=self.dtype)

    def new(self, shape):
        """A buffer of ``shape`` in the dtype of the passes."""
        return np.empty(shape, dtype=self.dtype)

    def put(self, array):
        """``array`` where the passes read it: here, as it is."""
        return array

    def to_host(self, array):
        return np.asarray(array)

    def params(self, network, vector, buffer):
        """Per-layer views of a flat float64 θ or v, through a cast copy in ``buffer`` when the
        passes run in float32 (``buffer`` is None for float64)."""
        if buffer is None:
            return network.unpack(vector)
        buffer[...] = vector
        return network.unpack(buffer)

    def take(self, array, rows):
        """The rows in the slice ``rows``."""
        return take_rows(array, rows)

    def take_indices(self, array, indices):
        """The rows at the host indices ``indices``."""
        return array[indices]

    def concat_rows(self, blocks, out):
        """The outputs of all blocks: already written into their rows of ``out``."""
        return out

    def matmul(self, A, B, out=None):
        if out is None:
            return A @ B
        if hasattr(A, "tocsr"):
            # Sparse input: only the first layer sees it, and its product is dense.
            out[...] = A @ B
        elif out.flags.f_contiguous and not out.flags.c_contiguous:
            # A buffer laid out for the transposed product (``_network.Workspace.Delta``).
            np.matmul(B.T, A.T, out=out.T)
        else:
            np.matmul(A, B, out=out)
        return out

    def add(self, M, N):
        M += N
        return M

    def multiply(self, M, N):
        M *= N
        return M

    def copy(self, M, out):
        np.copyto(out, M)
        return out

    def activate(self, activation, Z):
        ACTIVATIONS[activation](Z)
        return Z

    def times_g_prime(self, activation, A, delta, scratch):
        DERIVATIVES[activation](A, delta, scratch)
        return delta

    def g_second(self, activation, A, out, scratch):
        """g″ in terms of a, into ``out``; None where g″ = 0."""
        g_second = SECOND_DERIVATIVES[activation]
        if g_second is None:
            return None
        g_second(A, out, scratch)
        return out

    def column_sums(self, M):
        # As a matrix-vector product: faster than a reduction along the rows.
        return self.ones[: M.shape[0]] @ M

    def weigh_rows(self, M, w):
        if not self.unit_weights:
            M *= w[:, np.newaxis]
        return M

    def row_outer(self, A, delta, out):
        """[1, a_i] ⊗ δ_i of every row i, flattened as a layer's block of θ (bias row first),
        into ``out`` of shape (n_rows, (s_l + 1) s_{l+1}), a view of the Jacobian's columns."""
        n_rows, width = delta.shape
        blocks = out.view()
        blocks.shape = (n_rows, -1, width)  # raises rather than copy: the writes land in out
        blocks[:, 0, :] = delta
        if hasattr(A, "toarray"):
            A = A.toarray()
        np.multiply(A[:, :, np.newaxis], delta[:, np.newaxis, :], out=blocks[:, 1:, :])
        return out

    def concat_columns(self, blocks, out):
        """The blocks of :meth:`row_outer`: already written into their columns of ``out``."""
        return out

    def loss(self, loss, Z, Y, w, H, scratch):
        return H, loss.loss(Z, Y, w, H, scratch)

    def output_delta(self, loss, H, Y):
        return loss.output_delta(H, Y)

    def r_output(self, loss, H, RZ, RH):
        loss.r_output(H, RZ, RH)
        return RH

    def sums(self, network, out):
        return HostSums(network, out)


class HostSums:
    """Block sums added straight into the float64 vector ``out`` (laid out as θ), the loss
    into a float: Δ(l) of each block is added to its layer's view as soon as it is known."""

    def __init__(self, network, out):
        self.total = 0.0
        self.layers = None
        if out is not None:
            out[...] = 0.0
            self.layers = network.unpack(out)

    def add_loss(self, value):
        self.total += value

    def add(self, layer, W, b=None):
        out_W, out_b = self.layers[layer]
        out_W += W
        if b is not None:
            out_b += b

    def end_block(self):
        pass

    def finish(self):
        return self.total


def forward(ops, activation, params, X, buffers):
    """Forward propagation of the rows X: the hidden a(l) and z(L), the output layer's input.

    ``buffers`` hold z(l) of every layer, each then overwritten by a(l) = g(z(l)) for the
    hidden ones; returns ``(hidden, Z)``.
    """
    A, hidden = X, []
    last = len(params) - 1
    for layer, ((W, b), out) in enumerate(zip(params, buffers)):
        Z = ops.add(ops.matmul(A, W, out), b)
        if layer == last:
            return hidden, Z
        A = ops.activate(activation, Z)
        hidden.append(A)


def decision_output(ops, network, params, X, block_rows):
    """Return z(L) for every row of X, evaluated block by block in X's dtype."""
    n_samples = X.shape[0]
    block_rows = min(block_rows, n_samples)
    hidden = [ops.new((block_rows, width)) for width in network.layer_sizes[1:-1]]
    Z = ops.new((n_samples, network.layer_sizes[-1]))
    blocks = []
    for rows in row_blocks(n_samples, block_rows):
        # The output layer writes straight into its rows of Z, where there is a Z.
        buffers = [*first_rows(hidden, rows.stop - rows.start), None if Z is None else Z[rows]]
        blocks.append(forward(ops, network.activation, params, ops.take(X, rows), buffers)[1])
    return ops.concat_rows(blocks, Z)


def block_loss(ops, network, loss, params, X, Y, w, workspace):
    """The forward pass and the loss of one block: ``(hidden, H, Σ_i w_i cost_i)``; h lands
    in the last deltas' buffer, where the backward pass turns it into δ(L)."""
    n_rows = X.shape[0]
    hidden, Z = forward(
        ops, network.activation, params, X, first_rows(workspace.activations, n_rows)
    )
    H, value = ops.loss(
        loss, Z, Y, w, _last_rows(workspace.deltas, n_rows), _last_rows(workspace.scratch, n_rows)
    )
    return hidden, H, value


def backward(ops, activation, params, X, hidden, delta, sums, deltas, scratch, products):
    """Add A(l)ᵀ δ(l+1) and 1ᵀ δ(l+1) of every layer to ``sums``, going back from δ(L) =
    ``delta`` by δ(l) = δ(l+1) W(l)ᵀ ⊙ g′(z(l)): the course's Δ(l), and G v's products with
    R{E(L)} in place of δ(L).

    ``deltas`` and ``scratch`` are the buffers of δ(l) and of g′, ``products`` those of the
    per-layer products (None: allocated, they are of the size of W, not of the rows).
    """
    for layer in range(len(params) - 1, -1, -1):
        A = X if layer == 0 else hidden[layer - 1]
        sums.add(layer, ops.matmul(A.T, delta, products[layer]), ops.column_sums(delta))
        if layer > 0:
            delta = ops.matmul(delta, params[layer][0].T, deltas[layer - 1])
            delta = ops.times_g_prime(activation, A, delta, scratch[layer - 1])


def gradient_block(ops, network, loss, params, X, Y, w, workspace, sums):
    """Add one block's Σ_i w_i cost_i and Δ(l) to ``sums``.

    This is the course's loop body over examples, done for a block of rows at once:
    forward pass, δ(L) from the loss (a(L) − y for a canonical link, 1 − y/h for Gamma's),
    δ(l) = δ(l+1) Θ(l) .* g′(z(l)),
    Δ(l) += δ(l+1)ᵀ a(l).
    """
    n_rows = X.shape[0]
    hidden, H, value = block_loss(ops, network, loss, params, X, Y, w, workspace)
    sums.add_loss(value)
    # w_i carries through the linear backward pass into Δ.
    delta = ops.weigh_rows(ops.output_delta(loss, H, Y), w)
    backward(
        ops, network.activation, params, X, hidden, delta, sums,
        first_rows(workspace.deltas, n_rows), first_rows(workspace.scratch, n_rows),
        workspace.Delta,
    )  # fmt: skip


def output_jacobian(ops, network, params, X, hidden, delta, deltas, scratch, out):
    """The per-row Jacobian of an output unit's z(L) with respect to θ, for a block of rows.

    ``delta`` is δ(L) = e_k on every row (the unit vector of output k), ``hidden`` the a(l)
    of :func:`forward`. The backward pass of :func:`backward` carries it back, δ(l) =
    δ(l+1) W(l)ᵀ ⊙ g′(z(l)), and row i's derivatives of z(L)_ik with respect to layer l's
    block of θ, [b(l); W(l)], are [1, a(l)_i] ⊗ δ(l+1)_i: where :func:`backward` sums them over
    the rows into Δ(l), this keeps one row of the Jacobian per row of X, laid out as θ.
    ``out`` is an (n_rows, n_params) buffer (None where the primitives allocate); ``deltas``
    and ``scratch`` the buffers of :func:`backward`.
    """
    blocks = [None] * len(params)
    for layer in range(len(params) - 1, -1, -1):
        A = X if layer == 0 else hidden[layer - 1]
        columns = None if out is None else out[:, network.slice(layer)]
        blocks[layer] = ops.row_outer(A, delta, columns)
        if layer > 0:
            delta = ops.matmul(delta, params[layer][0].T, deltas[layer - 1])
            delta = ops.times_g_prime(network.activation, A, delta, scratch[layer - 1])
    return ops.concat_columns(blocks, out)


# Curvature: products of the Hessian of the data term, or of its Gauss-Newton approximation,
# with a direction v, by Pearlmutter's R-operator R{·} = d/dr (·)(θ + r v) at r = 0: one
# forward and one backward pass of directional derivatives on top of the ordinary ones, exact,
# no finite differences. V(l) and c(l) are the parts of v for W(l) and b(l), E(l) the weighted
# deltas (E(L) = w ⊙ (H − Y)).


def r_forward(ops, network, loss, params, directions, X, w, hidden, H, curvature):
    """R{Z(l)} and R{A(l)} of every layer and R{E(L)} = w ⊙ R{H}, after :func:`block_loss`."""
    n_rows = X.shape[0]
    RZ_buffers, RA_buffers = first_rows(curvature.RZ, n_rows), first_rows(curvature.RA, n_rows)
    products, scratch = first_rows(curvature.product, n_rows), first_rows(curvature.scratch, n_rows)
    RZ, RA = [], []
    last = len(params) - 1
    for layer, ((W, _), (V, c)) in enumerate(zip(params, directions)):
        # R{Z(l+1)} = R{A(l)} W(l) + A(l) V(l) + c(l), with R{A(1)} = R{X} = 0.
        inputs = X if layer == 0 else hidden[layer - 1]
        Z = ops.matmul(inputs, V, RZ_buffers[layer])
        if layer > 0:
            Z = ops.add(Z, ops.matmul(RA[layer - 1], W, products[layer]))
        RZ.append(ops.add(Z, c))
        if layer < last:
            # R{A} = g′(Z) ⊙ R{Z}
            R_A = ops.copy(RZ[layer], RA_buffers[layer])
            RA.append(ops.times_g_prime(network.activation, hidden[layer], R_A, scratch[layer]))
    RH = ops.r_output(loss, H, RZ[-1], _last_rows(curvature.RE, n_rows))
    return RZ, RA, ops.weigh_rows(RH, w)


def gauss_newton_backward(ops, network, params, X, hidden, RE, sums, curvature):
    """Add G v of one block: R{E(l)} = (R{E(l+1)} W(l)ᵀ) ⊙ g′, Gv(W) = A(l)ᵀ R{E(l+1)}.

    G drops the terms of H that contain the deltas E: it is positive semi-definite (it is
    Jᵀ H_out J for the Jacobian J of the outputs and the convex output loss).
    """
    n_rows = X.shape[0]
    backward(
        ops, network.activation, params, X, hidden, RE, sums,
        first_rows(curvature.RE, n_rows), first_rows(curvature.scratch, n_rows),
        [None] * len(params),
    )  # fmt: skip


def exact_backward(ops, network, loss, params, directions, X, Y, w, hidden, H, R, sums, spaces):
    """Add H v of one block: the Gauss-Newton terms plus those that contain E.

    Hv(W(l)) = A(l)ᵀ R{E(l+1)} + R{A(l)}ᵀ E(l+1) and
    R{E(l)} = (R{E(l+1)} W(l)ᵀ + E(l+1) V(l)ᵀ) ⊙ g′ + (E(l+1) W(l)ᵀ) ⊙ g″ ⊙ R{Z(l)},
    with ``R = (RZ, RA, RE)`` from :func:`r_forward` and ``spaces = (workspace, curvature)``.
    """
    n_rows = X.shape[0]
    activation = network.activation
    RZ, RA, RE = R
    workspace, curvature = spaces
    deltas = first_rows(workspace.deltas, n_rows)
    RE_buffers = first_rows(curvature.RE, n_rows)
    scratch, second = first_rows(curvature.scratch, n_rows), first_rows(curvature.second, n_rows)
    E = ops.weigh_rows(ops.output_delta(loss, H, Y), w)
    for layer in range(len(params) - 1, -1, -1):
        inputs = X if layer == 0 else hidden[layer - 1]
        sums.add(layer, ops.matmul(inputs.T, RE), ops.column_sums(RE))
        if layer == 0:
            break
        W, V = params[layer][0], directions[layer][0]
        sums.add(layer, ops.matmul(RA[layer - 1].T, E))
        previous = ops.matmul(RE, W.T, RE_buffers[layer - 1])
        # The g″ buffer holds g″ only further down: until then it serves for E(l+1) V(l)ᵀ.
        previous = ops.add(previous, ops.matmul(E, V.T, second[layer - 1]))
        previous = ops.times_g_prime(activation, inputs, previous, scratch[layer - 1])
        # E(l+1) W(l)ᵀ, before g′ makes it the delta E(l) of the ordinary backward pass.
        E_W = ops.matmul(E, W.T, deltas[layer - 1])
        g_second = ops.g_second(activation, inputs, second[layer - 1], scratch[layer - 1])
        if g_second is not None:
            curvature_term = ops.multiply(ops.multiply(g_second, E_W), RZ[layer - 1])
            previous = ops.add(previous, curvature_term)
        E = ops.times_g_prime(activation, inputs, E_W, scratch[layer - 1])
        RE = previous
