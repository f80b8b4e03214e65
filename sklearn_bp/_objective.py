"""The cost J(θ) and its derivatives: a data term of sums over rows, and the penalized objective.

With sample weights w_i and W = Σ_i w_i::

    J(θ) = (1/W) [ Σ_i w_i cost(h(x_i), y_i) + (α/2) Σ_l ‖W(l)‖² ]

The data term knows the rows and nothing of α or W: it returns *unnormalized sums* over its
rows, Σ_i w_i cost_i, the course's accumulated Δ(l) = Σ_i w_i δ(l+1)_i a(l)_iᵀ, and the sums of
the curvature products. Sums over rows add: blocks of one data term, chunks on the workers of
a cluster or the rows on a device can each be evaluated alone and added. The penalized objective
adds the penalty and divides by W, once, and is what the optimizer sees:

    D(l) = (Δ(l) + α Θ(l)) / W on the non-bias weights,  D(l) = Δ(l) / W on the bias.

The course writes D = (1/m) Δ + λ Θ, the gradient of a λ/2 penalty rather than of the λ/2m one
in its own J (``docs/mathematics.rst``); the gradient check shows that this D is exact.
"""

import numpy as np
from scipy import sparse

from ._activations import SATURATED_Z
from ._block_pool import OrderedBlocks, workers
from ._fixes import get_chunk_n_rows
from ._network import CurvatureWorkspace, Workspace, row_blocks
from ._passes import (
    NumpyPrimitives,
    block_loss,
    decision_output,
    exact_backward,
    first_rows,
    gauss_newton_backward,
    gradient_block,
    output_jacobian,
    r_forward,
)


def saturated_share(Z, activation):
    """Fraction of the entries of Z beyond the plateau of ``activation``; None without one."""
    threshold = SATURATED_Z.get(activation)
    if threshold is None:
        return None
    return float(np.mean(~(np.abs(Z) <= threshold)))


def primitives_for(X, block_rows, unit_weights=True):
    """The primitives of the passes for X: in place for NumPy arrays and SciPy sparse
    matrices, allocating on X's device for any other array-API namespace."""
    if isinstance(X, np.ndarray) or sparse.issparse(X):
        return NumpyPrimitives(X.dtype, block_rows, unit_weights)
    from ._array_api import ArrayAPIPrimitives

    return ArrayAPIPrimitives(X, block_rows, unit_weights)


class DataTerm:
    """Σ_i w_i cost(h(x_i), y_i) over fixed rows, its gradient and curvature products, as sums.

    The data-term protocol, stated here once: what the objective, the optimizer's driver and
    early stopping ask of the rows of a fit, wherever they live.

    - ``network``, ``total_weight`` (W = Σ_i w_i over its rows), ``dtype`` (the NumPy dtype
      its passes compute in, float32 or float64);
    - ``loss_sum(θ)``, ``loss_gradient_sum(θ, gradient)``,
      ``hessian_vector_product_sum(θ, v, out)``, ``gauss_newton_vector_product_sum(θ, v, out)``:
      sums over its rows of w_i cost_i, of Δ(l) and of the curvature products, with no penalty
      and no division by W, so that the sums of disjoint rows add;
    - ``saturated_fraction(θ, n_rows)``, ``largest_product_flops()`` and ``block_count()`` for
      the fit around it;
    - optionally ``gauss_newton_matrix_sum(θ, max_bytes)``: the dense G at once, faster than
      its n_params products (``_evidence`` asks for the products where it is missing);
    - for held-out rows, ``validation_sums(θ, statistics)``: Σ_i w_i cost_i and the loss's
      additive statistics over its rows (and ``output(θ)``, ``loss_from_output(Z)`` where
      the rows are at hand).

    This class serves NumPy arrays, SciPy sparse matrices and arrays of any array-API
    namespace; on a dask cluster each worker holds one per row chunk, and the client's
    ``_dask.TrainTerm`` gives the sums of the first two groups, added over the workers.

    Evaluated over blocks of at most ``block_rows`` rows by the passes of ``_passes`` on the
    primitives of X's library: on NumPy's in place, with buffers allocated once here, so that
    memory stays bounded by the block size, not the number of rows. Inside
    ``_block_pool.block_workers(k)`` (a fit) NumPy's blocks are handed to k threads, each with
    buffers of its own, and their sums added in block order: the result is the same, bit for
    bit, for every k.

    Parameters
    ----------
    network : Network
        Layout and hidden activation.
    loss : loss object
        The output units and their cost (``_losses``).
    X : {ndarray, sparse matrix, array} of shape (n_samples, s_1)
        Inputs, float32 or float64; the passes run in this dtype, on X's device for arrays of
        another array-API namespace.
    Y : ndarray of shape (n_samples, s_L)
        Targets on the host, one column per output unit, in X's dtype; copied to X's device
        once where X lives on one.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights w_i on the host, in X's dtype; copied as Y.
    block_rows : int
        Number of rows evaluated at once.
    """

    def __init__(self, network, loss, X, Y, sample_weight, block_rows):
        self.network = network
        self.loss = loss
        self.X = X
        # The host's copies serve the scores of held-out rows, which are computed there.
        self.Y = Y
        self.sample_weight = sample_weight
        self.total_weight = float(np.sum(sample_weight, dtype=np.float64))
        self.block_rows = int(min(block_rows, X.shape[0]))
        unit_weights = bool(np.all(sample_weight == 1))
        self.ops = ops = primitives_for(X, self.block_rows, unit_weights)
        # The NumPy dtype the passes compute in.
        self.dtype = ops.dtype
        self._Y, self._w = ops.put(Y), ops.put(sample_weight)
        self.workspace = Workspace(network, self.block_rows, ops.new)
        # The optimizer's θ is float64; float32 passes need a cast copy of it.
        self._float64 = ops.dtype == np.float64
        self._compute_theta = None if self._float64 else ops.new((network.n_params,))
        # Buffers of the blocks in flight: the first serves a single thread; more are made
        # when the blocks are handed to several.
        self._slots = [_Slot(self.workspace)]

    def saturated_fraction(self, theta, n_rows=256):
        """Fraction of the first hidden layer's z(2) beyond the plateau of g, on ``n_rows``
        rows spread over X; None for activations without a plateau or no hidden layer."""
        if self.network.n_layers < 3:
            return None
        ops = self.ops
        rows = np.unique(np.linspace(0, self.X.shape[0] - 1, num=n_rows).astype(int))
        W, b = self._params(theta)[0]
        with np.errstate(over="ignore", invalid="ignore"):
            Z = ops.to_host(ops.take_indices(self.X, rows) @ W + b)
        return saturated_share(Z, self.network.activation)

    def largest_product_flops(self):
        """Floating-point operations of the largest matrix product of a block, 2 r s_l s_{l+1}.

        0 where the passes run on a device: the fit sizes NumPy's BLAS threads by this number,
        and 0 keeps them at one, for the host only does the optimizer's vector work there, and
        NumPy's threads would fight a CPU device's own thread pool for the cores (measured with
        PyTorch on the CPU, 20000 × 400: 80 ms per evaluation with NumPy's BLAS on 2 threads,
        34 ms with it on 1).
        """
        if not self.ops.computes_on_host:
            return 0
        fans = self.network.fans()
        return 2 * self.block_rows * max(fan_in * fan_out for fan_in, fan_out in fans)

    def block_count(self):
        """Number of blocks of rows an evaluation goes through."""
        return -(-self.X.shape[0] // self.block_rows)

    def _params(self, theta):
        """Per-layer θ in the dtype of the passes, where they run."""
        return self.ops.params(self.network, theta, self._compute_theta)

    def _blocks(self, block_rows=None):
        """(X, Y, w) of every block of rows (at most ``block_rows``, by default the data
        term's), where the passes read them."""
        ops = self.ops
        for rows in row_blocks(self.X.shape[0], block_rows or self.block_rows):
            yield ops.take(self.X, rows), ops.take(self._Y, rows), ops.take(self._w, rows)

    def output(self, theta):
        """Return z(L), the output layer's input, for every row of X at θ, on the host."""
        Z = decision_output(self.ops, self.network, self._params(theta), self.X, self.block_rows)
        return self.ops.to_host(Z)

    def loss_from_output(self, Z):
        """Return Σ_i w_i cost_i from ``Z = self.output(θ)``, with no second pass."""
        H, scratch = np.empty_like(Z), np.empty_like(Z)
        return self.loss.loss(Z, self.Y, self.sample_weight, H, scratch)

    def validation_sums(self, theta, statistics):
        """Σ_i w_i cost_i and ``statistics(Z, Y, w)`` over these rows, from one forward pass."""
        Z = self.output(theta)
        return self.loss_from_output(Z), statistics(Z, self.Y, self.sample_weight)

    def loss_sum(self, theta):
        """Return Σ_i w_i cost(h(x_i), y_i) at θ."""
        ops, network, loss, params = self.ops, self.network, self.loss, self._params(theta)

        def block_pass(X, Y, w, slot, sums):
            sums.add_loss(block_loss(ops, network, loss, params, X, Y, w, slot.workspace)[2])

        return self._sum_blocks(block_pass, None)

    def loss_gradient_sum(self, theta, gradient):
        """Return Σ_i w_i cost_i at θ; write the accumulated Δ(l) of every layer into ``gradient``.

        ``gradient`` is a float64 vector laid out as θ; its bias entries receive Δ's bias
        column Σ_i w_i δ(l+1)_i.
        """
        ops, network, loss, params = self.ops, self.network, self.loss, self._params(theta)

        def block_pass(X, Y, w, slot, sums):
            gradient_block(ops, network, loss, params, X, Y, w, slot.workspace, sums)

        return self._sum_blocks(block_pass, gradient)

    def hessian_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Hessian of Σ_i w_i cost_i at θ times the vector v."""
        self._curvature_product(theta, v, out, exact=True)

    def gauss_newton_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Gauss-Newton approximation of that Hessian times v."""
        self._curvature_product(theta, v, out, exact=False)

    def gauss_newton_matrix_sum(self, theta, max_bytes):
        """Return the dense Gauss-Newton matrix of Σ_i w_i cost_i at θ, or None.

        G = Σ_i J_iᵀ (w_i C_i) J_i, with J_i the Jacobian of row i's z(L) with respect to θ
        (s_L × n_params) and C_i the output units' curvature there (∂²cost/∂z², the
        R-operator of the loss's output: 1 for the squared error, h(1 − h) for logistic
        units, diag(h) − h hᵀ for the softmax). The Jacobian of a block of rows comes from one
        backward pass per output unit, of δ(L) = e_k (:func:`_passes.output_jacobian`), and G
        from one matrix product per block, J_blockᵀ (C J)_block, in float64. The blocks hold as
        many rows as ``max_bytes`` allows for J and C J in float64 and a row of J in X's dtype
        (2 · 8 · s_L · n_params bytes and n_params items a row); None where not even one row
        fits: the caller then asks for the products.
        """
        ops, network, loss = self.ops, self.network, self.loss
        n = network.n_params
        n_outputs = self.Y.shape[1]
        bytes_per_row = 2 * 8 * n_outputs * n + ops.dtype.itemsize * n
        block_rows = min(self.block_rows, int(max_bytes // bytes_per_row))
        if block_rows < 1:
            return None
        params = self._params(theta)
        workspace = self.workspace
        buffer = ops.new((block_rows, n))
        G = None
        for X, Y, w in self._blocks(block_rows):
            n_rows = X.shape[0]
            hidden, H, _ = block_loss(ops, network, loss, params, X, Y, w, workspace)
            deltas = first_rows(workspace.deltas, n_rows)
            scratch = first_rows(workspace.scratch, n_rows)
            out = None if buffer is None else buffer[:n_rows]
            jacobian = np.empty((n_outputs, n_rows, n), dtype=np.float64) if n_outputs > 1 else None
            # C_i e_k for every row, weighted: column k of w_i C_i.
            curvature = np.empty((n_outputs, n_rows, n_outputs), dtype=np.float64)
            for unit in range(n_outputs):
                e = np.zeros((n_rows, n_outputs), dtype=ops.dtype)
                e[:, unit] = 1.0
                e = ops.put(e)
                rows = output_jacobian(ops, network, params, X, hidden, e, deltas, scratch, out)
                Ce = ops.r_output(loss, H, e, ops.new((n_rows, n_outputs)))
                curvature[unit] = ops.to_host(ops.weigh_rows(Ce, w))
                if jacobian is not None:
                    jacobian[unit] = ops.to_host(rows)
            if jacobian is None:
                # One output: w_i c_i ≥ 0, and G = Sᵀ S for S = √(w c) ⊙ J, a symmetric product;
                # S made in the host's float64 J, the buffer itself where the passes run on the
                # host in float64 (it is written again by the next block).
                root = np.asarray(ops.to_host(rows), dtype=np.float64)
                root *= np.sqrt(np.maximum(curvature[0], 0.0))
                left, right = root.T, root
            else:
                # (C J)_i for output k' = Σ_k (w_i C_i)_k'k J_ik, C_i symmetric.
                weighted = np.einsum("kiq,kin->qin", curvature, jacobian)
                left, right = jacobian.reshape(-1, n).T, weighted.reshape(-1, n)
            # The first block's product is G's memory: no zeros to add it to.
            if G is None:
                G = left @ right
            else:
                G += left @ right
        G += G.T
        G *= 0.5
        return G

    def output_jacobian_product(self, theta, v):
        """Return R{z(L)} = (∂z(L)/∂θ) v for every row of X at θ, on the host: the Jacobian of
        the output layer's input times the vector v (Pearlmutter's forward R-pass)."""
        ops, network, loss = self.ops, self.network, self.loss
        curvature = self._slots[0].curvature_workspace(self)
        params = self._params(theta)
        directions = ops.params(network, v, curvature.direction)
        blocks = []
        for X, Y, w in self._blocks():
            hidden, H, _ = block_loss(ops, network, loss, params, X, Y, w, self.workspace)
            RZ = r_forward(ops, network, loss, params, directions, X, w, hidden, H, curvature)[0]
            blocks.append(np.array(ops.to_host(RZ[-1]), dtype=np.float64))
        return np.concatenate(blocks)

    def _curvature_product(self, theta, v, out, exact):
        ops, network, loss = self.ops, self.network, self.loss
        params = self._params(theta)
        # v in the passes' dtype: one cast copy, read by every block.
        directions = ops.params(network, v, self._direction_buffer())

        def block_pass(X, Y, w, slot, sums):
            curvature = slot.curvature_workspace(self)
            hidden, H, _ = block_loss(ops, network, loss, params, X, Y, w, slot.workspace)
            R = r_forward(ops, network, loss, params, directions, X, w, hidden, H, curvature)
            if exact:
                spaces = (slot.workspace, curvature)
                exact_backward(
                    ops, network, loss, params, directions, X, Y, w, hidden, H, R, sums, spaces
                )
            else:
                gauss_newton_backward(ops, network, params, X, hidden, R[2], sums, curvature)

        self._sum_blocks(block_pass, out)

    def _direction_buffer(self):
        return self._slots[0].curvature_workspace(self).direction

    def _sum_blocks(self, block_pass, out):
        """``block_pass(X, Y, w, slot, sums)`` over every block; the sums' total, the
        per-layer sums written into ``out`` (None: the loss only).

        On one thread the blocks add to the sums as they are evaluated; on several
        (``_block_pool``) each block's additions are recorded and made in block order, the same
        additions in the same order.
        """
        ops = self.ops
        sums = ops.sums(self.network, out)
        blocks = list(row_blocks(self.X.shape[0], self.block_rows))
        n_threads = min(workers(), len(blocks))
        n_slots = self._n_slots(n_threads)
        if min(n_threads, n_slots) <= 1:
            for X, Y, w in self._blocks():
                block_pass(X, Y, w, self._slots[0], sums)
                sums.end_block()
            return sums.finish()
        while len(self._slots) < n_slots:
            self._slots.append(_Slot(Workspace(self.network, self.block_rows, ops.new)))

        def evaluate(index, slot, recorded):
            rows = blocks[index]
            X, Y, w = ops.take(self.X, rows), ops.take(self._Y, rows), ops.take(self._w, rows)
            block_pass(X, Y, w, slot, recorded)

        OrderedBlocks(self._slots[:n_slots]).run(len(blocks), evaluate, sums, n_threads)
        return sums.finish()

    def _n_slots(self, n_threads):
        """Blocks in flight for ``n_threads`` threads: two per thread (one may run a block
        ahead of a slow one), no more than ``working_memory`` holds."""
        if n_threads <= 1 or not self.ops.computes_on_host:
            return 1
        bytes_per_row = Workspace.bytes_per_row(self.network, self.ops.dtype)
        if self._slots[0].curvature is not None:  # the slots hold the R-passes' buffers too
            bytes_per_row += CurvatureWorkspace.bytes_per_row(self.network, self.ops.dtype)
        rows = get_chunk_n_rows(bytes_per_row, max_n_rows=2 * n_threads * self.block_rows)
        return max(1, rows // self.block_rows)


class _Slot:
    """The buffers of one block in flight: the passes' workspace and, from the first curvature
    product on, the R-passes' one."""

    def __init__(self, workspace):
        self.workspace = workspace
        self.curvature = None

    def curvature_workspace(self, data):
        if self.curvature is None:
            self.curvature = CurvatureWorkspace(
                data.network, data.block_rows, data.ops.new, data._float64
            )
        return self.curvature


class BackpropObjective:
    """J(θ) = (data term + (α/2) Σ_l ‖W(l)‖²) / W, its gradient D and curvature products.

    What the optimizer sees: functions of the flat float64 θ. The penalty's gradient α W(l) is
    added to the data term's Δ(l) on the non-bias weights only, and everything is divided by the
    total weight W once.

    Parameters
    ----------
    data : DataTerm
        The sums over the training rows.
    alpha : float or sequence of float
        L2 regularization strength α (the course's λ); or one α per layer of weights, input
        layer first (the evidence's groups, ``_evidence``), each on its own layer's weights.
    """

    def __init__(self, data, alpha):
        self.data = data
        self.network = data.network
        n_layers = len(self.network.layer_sizes) - 1
        if np.ndim(alpha) == 0:
            self.alpha = float(alpha)
            self.alphas = [self.alpha] * n_layers
        else:
            self.alphas = [float(value) for value in alpha]
            self.alpha = None
            if len(self.alphas) != n_layers:
                raise ValueError(
                    f"Expected one alpha per layer of weights ({n_layers}), got {len(self.alphas)}."
                )
        self.total_weight = data.total_weight

    def loss(self, theta):
        """Return J(θ)."""
        return (self.data.loss_sum(theta) + self._penalty(theta)) / self.total_weight

    def loss_gradient(self, theta, gradient=None):
        """Return J(θ) and ∇J(θ), the gradient written into ``gradient`` if given."""
        theta = np.asarray(theta, dtype=np.float64)
        if gradient is None:
            gradient = np.empty(self.network.n_params, dtype=np.float64)
        data_loss = self.data.loss_gradient_sum(theta, gradient)
        # D(l) = (Δ(l) + α Θ(l)) / W with the bias column unregularized.
        self._add_penalty_direction(theta, gradient)
        gradient /= self.total_weight
        return (data_loss + self._penalty(theta)) / self.total_weight, gradient

    def hessian_vector_product(self, theta, v, out=None):
        """Return H(θ) v, the exact Hessian of J at θ times the vector v."""
        theta, v, out = self._product_arrays(theta, v, out)
        self.data.hessian_vector_product_sum(theta, v, out)
        return self._penalized_product(v, out)

    def gauss_newton_vector_product(self, theta, v, out=None):
        """Return G(θ) v, the Gauss-Newton approximation of the Hessian of J times v."""
        theta, v, out = self._product_arrays(theta, v, out)
        self.data.gauss_newton_vector_product_sum(theta, v, out)
        return self._penalized_product(v, out)

    def _product_arrays(self, theta, v, out):
        theta = np.asarray(theta, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        if out is None:
            out = np.empty(self.network.n_params, dtype=np.float64)
        return theta, v, out

    def _penalized_product(self, v, out):
        self._add_penalty_direction(v, out)
        out /= self.total_weight
        return out

    def _penalty(self, theta):
        if self.alpha is not None:
            return 0.5 * self.alpha * self.network.squared_norm(theta)
        return 0.5 * sum(
            alpha * float(np.dot(W.ravel(), W.ravel()))
            for alpha, (W, _) in zip(self.alphas, self.network.unpack(theta))
        )

    def _add_penalty_direction(self, vector, out):
        """Add α times the non-bias weights of ``vector`` to ``out``: the penalty's part."""
        pairs = zip(self.alphas, self.network.unpack(vector), self.network.unpack(out))
        for alpha, (W, _), (out_W, _) in pairs:
            out_W += alpha * W
