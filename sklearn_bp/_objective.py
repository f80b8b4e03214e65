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

from ._activations import DERIVATIVES, SATURATED_Z, SECOND_DERIVATIVES
from ._network import (
    CurvatureWorkspace,
    Workspace,
    decision_output,
    first_rows,
    forward,
    row_blocks,
    take_rows,
)


def saturated_share(Z, activation):
    """Fraction of the entries of Z beyond the plateau of ``activation``; None without one."""
    threshold = SATURATED_Z.get(activation)
    if threshold is None:
        return None
    return float(np.mean(~(np.abs(Z) <= threshold)))


class DataTerm:
    """Σ_i w_i cost(h(x_i), y_i) over fixed rows, its gradient and curvature products, as sums.

    Evaluated over blocks of at most ``block_rows`` rows, one after another, with buffers
    allocated once here: memory stays bounded by the block size, not the number of rows.

    Parameters
    ----------
    network : Network
        Layout and hidden activation.
    loss : loss object
        The output units and their cost (``_losses``).
    X : {ndarray, sparse matrix} of shape (n_samples, s_1)
        Inputs, float32 or float64; the passes run in this dtype.
    Y : ndarray of shape (n_samples, s_L)
        Targets, one column per output unit, in X's dtype.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights w_i, in X's dtype.
    block_rows : int
        Number of rows evaluated at once.
    """

    def __init__(self, network, loss, X, Y, sample_weight, block_rows):
        self.network = network
        self.loss = loss
        self.X = X
        self.Y = Y
        self.sample_weight = sample_weight
        self.total_weight = float(np.sum(sample_weight, dtype=np.float64))
        self._unit_weights = bool(np.all(sample_weight == 1))
        self.block_rows = int(min(block_rows, X.shape[0]))
        self.workspace = Workspace(network, self.block_rows, X.dtype)
        # The optimizer's θ is float64; float32 passes need a cast copy of it.
        self._compute_theta = (
            None if X.dtype == np.float64 else np.empty(network.n_params, dtype=X.dtype)
        )
        self._curvature = None

    def saturated_fraction(self, theta, n_rows=256):
        """Fraction of the first hidden layer's z(2) beyond the plateau of g, on ``n_rows``
        rows spread over X; None for activations without a plateau or no hidden layer."""
        if self.network.n_layers < 3:
            return None
        X = self.X
        rows = np.unique(np.linspace(0, X.shape[0] - 1, num=n_rows).astype(int))
        W, b = self.network.unpack(theta)[0]
        with np.errstate(over="ignore", invalid="ignore"):
            Z = np.asarray(X[rows] @ W.astype(X.dtype)) + b
        return saturated_share(Z, self.network.activation)

    def largest_product_flops(self):
        """Floating-point operations of the largest matrix product of a block, 2 r s_l s_{l+1}."""
        fans = self.network.fans()
        return 2 * self.block_rows * max(fan_in * fan_out for fan_in, fan_out in fans)

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

    def loss_from_output(self, Z):
        """Return Σ_i w_i cost_i from ``Z = self.output(θ)``, with no second pass."""
        H, scratch = np.empty_like(Z), np.empty_like(Z)
        return self.loss.loss(Z, self.Y, self.sample_weight, H, scratch)

    def loss_sum(self, theta):
        """Return Σ_i w_i cost(h(x_i), y_i) at θ."""
        params = self._compute_params(theta)
        total = 0.0
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            total += self._block_loss(
                params, take_rows(self.X, rows), self.Y[rows], self.sample_weight[rows]
            )
        return total

    def loss_gradient_sum(self, theta, gradient):
        """Return Σ_i w_i cost_i at θ; write the accumulated Δ(l) of every layer into ``gradient``.

        ``gradient`` is a float64 vector laid out as θ; its bias entries receive Δ's bias
        column Σ_i w_i δ(l+1)_i.
        """
        gradient[...] = 0.0
        params = self._compute_params(theta)
        grad_params = self.network.unpack(gradient)
        total = 0.0
        for rows in row_blocks(self.X.shape[0], self.block_rows):
            total += self._accumulate_block(
                params,
                take_rows(self.X, rows),
                self.Y[rows],
                self.sample_weight[rows],
                grad_params,
            )
        return total

    def _weigh_rows(self, M, w):
        """Multiply each row of M in place by its sample weight; nothing to do if all are 1."""
        if not self._unit_weights:
            M *= w[:, np.newaxis]

    def _block_loss(self, params, X, Y, w):
        """Forward pass over one block; return its Σ_i w_i cost_i, leaving h in the deltas."""
        workspace = self.workspace
        n_rows = X.shape[0]
        Z = forward(self.network, params, X, first_rows(workspace.activations, n_rows))
        return self.loss.loss(
            Z, Y, w, workspace.deltas[-1][:n_rows], workspace.scratch[-1][:n_rows]
        )

    def _accumulate_block(self, params, X, Y, w, grad_params):
        """Add one block's Δ(l) to ``grad_params``; return its Σ_i w_i cost_i.

        This is the course's loop body over examples, done for a block of rows at once:
        forward pass, δ(L) = a(L) − y (the loss's), δ(l) = δ(l+1) Θ(l) .* g′(z(l)),
        Δ(l) += δ(l+1)ᵀ a(l).
        """
        network, workspace = self.network, self.workspace
        n_rows = X.shape[0]
        activations = first_rows(workspace.activations, n_rows)
        deltas = first_rows(workspace.deltas, n_rows)
        scratch = first_rows(workspace.scratch, n_rows)
        ones = workspace.ones[:n_rows]
        g_prime = DERIVATIVES[network.activation]

        loss = self._block_loss(params, X, Y, w)
        # δ(L) from the loss (h − y: a canonical link), weighted: w_i carries through the
        # linear backward pass into Δ.
        delta = self.loss.output_delta(deltas[-1], Y)
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

    # Curvature: products of the Hessian of the data term, or of its Gauss-Newton
    # approximation, with a direction v, by Pearlmutter's R-operator R{·} = d/dr (·)(θ + r v) at
    # r = 0: one forward and one backward pass of directional derivatives on top of the
    # ordinary ones, exact, no finite differences. Row-major notation as in ``_network``, V(l)
    # and c(l) the parts of v for W(l) and b(l), E(l) the weighted deltas (E(L) = w ⊙ (H − Y)).

    def hessian_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Hessian of Σ_i w_i cost_i at θ times the vector v."""
        self._curvature_product(theta, v, out, self._exact_backward)

    def gauss_newton_vector_product_sum(self, theta, v, out):
        """Write into ``out`` the Gauss-Newton approximation of that Hessian times v.

        G drops the terms of H that contain the deltas E: it is positive semi-definite
        (it is Jᵀ H_out J for the Jacobian J of the outputs and the convex output loss).
        """
        self._curvature_product(theta, v, out, self._gauss_newton_backward)

    def _curvature_product(self, theta, v, out, backward):
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

    def _r_forward(self, params, directions, X, w):
        """R{Z(l)}, R{A(l)} of every layer and R{E(L)} = w ⊙ R{H}, after ``_block_loss``."""
        network, ws, cw = self.network, self.workspace, self._curvature
        n_rows = X.shape[0]
        A = first_rows(ws.activations, n_rows)
        RZ = first_rows(cw.RZ, n_rows)
        RA = first_rows(cw.RA, n_rows)
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
        RH = cw.RE[-1][:n_rows]
        self.loss.r_output(ws.deltas[-1][:n_rows], RZ[-1], RH)
        self._weigh_rows(RH, w)

    def _gauss_newton_backward(self, params, directions, X, Y, w, out_params):
        """Add G v of one block: R{E(l)} = (R{E(l+1)} W(l)ᵀ) ⊙ g′, Gv(W) = A(l)ᵀ R{E(l+1)}."""
        network, ws, cw = self.network, self.workspace, self._curvature
        n_rows = X.shape[0]
        A = first_rows(ws.activations, n_rows)
        RE = first_rows(cw.RE, n_rows)
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
        A = first_rows(ws.activations, n_rows)
        E = first_rows(ws.deltas, n_rows)
        RZ, RA = first_rows(cw.RZ, n_rows), first_rows(cw.RA, n_rows)
        RE = first_rows(cw.RE, n_rows)
        g_prime = DERIVATIVES[network.activation]
        g_second = SECOND_DERIVATIVES[network.activation]
        ones = ws.ones[:n_rows]
        self._weigh_rows(self.loss.output_delta(E[-1], Y), w)
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


class BackpropObjective:
    """J(θ) = (data term + (α/2) Σ_l ‖W(l)‖²) / W, its gradient D and curvature products.

    What the optimizer sees: functions of the flat float64 θ. The penalty's gradient α W(l) is
    added to the data term's Δ(l) on the non-bias weights only, and everything is divided by the
    total weight W once.

    Parameters
    ----------
    data : DataTerm
        The sums over the training rows.
    alpha : float
        L2 regularization strength α (the course's λ).
    """

    def __init__(self, data, alpha):
        self.data = data
        self.network = data.network
        self.alpha = float(alpha)
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
        return 0.5 * self.alpha * self.network.squared_norm(theta)

    def _add_penalty_direction(self, vector, out):
        """Add α times the non-bias weights of ``vector`` to ``out``: the penalty's part."""
        for (W, _), (out_W, _) in zip(self.network.unpack(vector), self.network.unpack(out)):
            out_W += self.alpha * W
