"""Output units and their costs: one object for each pair, and all that the rest needs of it.

Every loss here pairs its output units with the cost whose canonical link they are: the
derivative of the cost with respect to the output layer's input z(L) is δ(L) = h − y, the
course's output delta, whatever the pair. So the backward pass of ``_objective`` is the same for
all of them, and a new output unit (the identity, for a regressor) adds one class here and
nothing anywhere else: its cost, its h, its term of the R-operator, and how a prediction is read
from z(L).

A loss object has no state. Its methods work in place on arrays of one block of rows, in the
dtype of the data:

- ``loss(Z, Y, w, H, scratch) -> float``: write h = g_out(z) into ``H``; return
  Σ_i w_i cost(h_i, y_i), the unnormalized sum that the data term adds up over blocks.
- ``r_output(H, RZ, RH)``: write R{h} = (∂h/∂z) R{z} into ``RH``, the output's term of
  Pearlmutter's R-operator (the directional derivative of h along the direction of R{z}).
- ``log_h(Z)``: log h from z for classifiers, computed without forming h; absent for outputs that
  are no probability (the regressor's identity).

The same three, for arrays of any array-API namespace on any device (``_array_api``), return
new arrays instead: ``loss_xp(xp, Z, Y, w) -> (H, Σ_i w_i cost_i as a 0-d array)``,
``r_output_xp(xp, H, RZ) -> R{h}`` and ``log_h_xp(xp, Z)``. They compute the same expressions
as the NumPy methods, except that the weighted sum over rows is a reduction (pairwise or by a
tree in the libraries), not a matrix-vector product: a device's blocks have up to hundreds of
thousands of rows, over which a float32 product loses digits that the NumPy path's cache-sized
blocks keep.
"""

import numpy as np
from scipy.special import log_expit, log_softmax

from ._activations import ACTIVATIONS
from ._activations import ARRAY_API_ACTIVATIONS as ACTIVATIONS_XP


def log_softmax_xp(xp, Z):
    """log softmax(z) of every row, by log-sum-exp, for arrays of any array-API namespace."""
    shifted = Z - xp.max(Z, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


class LogisticLoss:
    """One sigmoid per output, each with the course's cross-entropy.

    cost(h, y) = −Σ_k [y_k log h_k + (1 − y_k) log(1 − h_k)], h = σ(z).
    """

    name = "logistic"

    def loss(self, Z, Y, w, H, scratch):
        """Write h = σ(z) into H; return Σ_i w_i Σ_k −[y_ik log h_ik + (1 − y_ik) log(1 − h_ik)].

        For y ∈ {0, 1} the bracket is −softplus(t) with t = (1 − 2y) z, and
        softplus(t) = max(t, 0) + log(1 + e) with e = exp(−|z|): exact for saturated units, where
        log(σ(z)) would round to log(0) or lose every digit. h itself is the hidden units'
        sigmoid, whose absolute error stays at the rounding level of 1, all that δ(L) = h − y
        needs.
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

    def r_output(self, H, RZ, RH):
        """R{h} = h ⊙ (1 − h) ⊙ R{z}."""
        np.multiply(H, RZ, out=RH)
        RH -= H * RH

    def log_h(self, Z):
        """log σ(z), exact also where σ(z) rounds to 0 or 1."""
        return log_expit(Z)

    def loss_xp(self, xp, Z, Y, w):
        """h = σ(z) and Σ_i w_i cost_i, by the softplus of :meth:`loss`."""
        log_term = xp.log1p(xp.exp(-xp.abs(Z)))
        hinge = xp.clip((1 - 2 * Y) * Z, min=0.0)
        loss = xp.sum(w * xp.sum(log_term + hinge, axis=1))
        return ACTIVATIONS_XP["logistic"](xp, Z), loss

    def r_output_xp(self, xp, H, RZ):
        """R{h} = h ⊙ (1 − h) ⊙ R{z}."""
        RH = H * RZ
        return RH - H * RH

    def log_h_xp(self, xp, Z):
        """log σ(z) = −softplus(−z), exact also where σ(z) rounds to 0 or 1."""
        return -(xp.clip(-Z, min=0.0) + xp.log1p(xp.exp(-xp.abs(Z))))


class SoftmaxLoss:
    """A softmax over the outputs with the categorical cross-entropy, for one-hot targets.

    cost(h, y) = −Σ_k y_k log h_k, h = softmax(z).
    """

    name = "softmax"

    def loss(self, Z, Y, w, H, scratch):
        """Write h = softmax(z) into H; return Σ_i w_i (−Σ_k y_ik log h_ik).

        With m = max_k z_k and S = Σ_k exp(z_k − m) ≥ 1,
        −Σ_k y_k log h_k = log S + (m − Σ_k y_k z_k) for one-hot y: no exponential overflows,
        no log of a rounded-to-zero probability, and both terms are at least 0 as computed, so
        rounding cannot make the cost negative.
        """
        row_max = Z.max(axis=1)
        np.subtract(Z, row_max[:, np.newaxis], out=H)
        np.exp(H, out=H)
        row_sum = H.sum(axis=1)
        H /= row_sum[:, np.newaxis]
        np.multiply(Y, Z, out=scratch)
        margin = row_max - scratch.sum(axis=1)
        return float(w @ (np.log(row_sum) + margin))

    def r_output(self, H, RZ, RH):
        """R{h} = h ⊙ R{z} − h ⊙ rowsum(h ⊙ R{z})."""
        np.multiply(H, RZ, out=RH)
        RH -= H * RH.sum(axis=1, keepdims=True)

    def log_h(self, Z):
        """log softmax(z), by log-sum-exp."""
        return log_softmax(Z, axis=1)

    def loss_xp(self, xp, Z, Y, w):
        """h = softmax(z) and Σ_i w_i cost_i, by the log-sum-exp of :meth:`loss`."""
        row_max = xp.max(Z, axis=1, keepdims=True)
        H = xp.exp(Z - row_max)
        row_sum = xp.sum(H, axis=1, keepdims=True)
        margin = row_max[:, 0] - xp.sum(Y * Z, axis=1)
        return H / row_sum, xp.sum(w * (xp.log(row_sum[:, 0]) + margin))

    def r_output_xp(self, xp, H, RZ):
        """R{h} = h ⊙ R{z} − h ⊙ rowsum(h ⊙ R{z})."""
        RH = H * RZ
        return RH - H * xp.sum(RH, axis=1, keepdims=True)

    def log_h_xp(self, xp, Z):
        """log softmax(z), by log-sum-exp."""
        return log_softmax_xp(xp, Z)


class SquaredErrorLoss:
    """Identity outputs with half the squared error, for regression.

    cost(h, y) = ½ ‖h − y‖², h = z. Its Hessian with respect to z is the identity, so the
    Gauss-Newton product of this loss is exactly Jᵀ J.
    """

    name = "identity"

    def loss(self, Z, Y, w, H, scratch):
        """Write h = z into H; return Σ_i w_i ½ Σ_k (h_ik − y_ik)²."""
        np.copyto(H, Z)
        np.subtract(Z, Y, out=scratch)
        scratch *= scratch
        return 0.5 * float((w @ scratch).sum())

    def r_output(self, H, RZ, RH):
        """R{h} = R{z}."""
        np.copyto(RH, RZ)

    def loss_xp(self, xp, Z, Y, w):
        """h = z and Σ_i w_i ½ Σ_k (h_ik − y_ik)²."""
        residual = Z - Y
        return Z, 0.5 * xp.sum(w * xp.sum(residual * residual, axis=1))

    def r_output_xp(self, xp, H, RZ):
        """R{h} = R{z}."""
        return RZ


# Every loss, by its name: the name of its output units, which ``out_activation_`` records.
LOSSES = {loss.name: loss for loss in (LogisticLoss(), SoftmaxLoss(), SquaredErrorLoss())}
# The classifier's output units, by the name its ``out_activation`` parameter takes.
CLASSIFIER_LOSSES = {name: LOSSES[name] for name in ("logistic", "softmax")}
