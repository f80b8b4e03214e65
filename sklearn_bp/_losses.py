"""Output units and their costs: one object for each pair, and all that the rest needs of it.

A loss object owns the output layer, as scikit-learn's ``BaseLoss(closs, link)`` does: its link
(how h = g_out(z) is read from the output layer's input z(L), and back), its cost, the output
error δ(L) that starts the backward pass and its term of the R-operator, the range of targets it
accepts, and the additive statistic that early stopping scores held-out rows from. Every loss
but Gamma's pairs its output units with the cost whose canonical link they are, so that
δ(L) = ∂cost/∂z(L) = h − y; Gamma's log link is not canonical, and its δ(L) = 1 − y / h. The
passes ask the loss for δ(L) and its R-operator term and assume neither: a new output unit
(the identity, the log link) adds one class here and nothing in the data terms.

A loss object has no state. Its methods work in place on arrays of one block of rows, in the
dtype of the data:

- ``loss(Z, Y, w, H, scratch) -> float``: write into ``H`` what the two methods below read
  (h = g_out(z) for every loss but Gamma, which leaves y / h); return
  Σ_i w_i cost(h_i, y_i), the unnormalized sum that the data term adds up over blocks.
- ``output_delta(H, Y) -> H``: overwrite ``H`` with δ(L) = ∂cost/∂z(L) (unweighted): h − y
  for a canonical link, 1 − y / h for Gamma's log link.
- ``r_output(H, RZ, RH)``: write R{δ(L)} = (∂δ(L)/∂z) R{z} into ``RH``, the output's term of
  Pearlmutter's R-operator (for a canonical link R{h}, the directional derivative of h along
  the direction of R{z}).
- ``log_h(Z)``: log h from z for classifiers, computed without forming h; absent for outputs that
  are no probability (the regressor's identity).
- ``validation_sums(Z, Y, w, kind) -> vector`` and ``score_from_sums(sums) -> float``: sums over
  held-out rows that add across blocks and workers, and the score they give (accuracy, R²).

The same, for arrays of any array-API namespace on any device (``_array_api``), return
new arrays instead: ``loss_xp(xp, Z, Y, w) -> (H, Σ_i w_i cost_i as a 0-d array)``,
``output_delta_xp(xp, H, Y)``, ``r_output_xp(xp, H, RZ) -> R{h}`` and ``log_h_xp(xp, Z)``. They
compute the same expressions as the NumPy methods, except that the weighted sum over rows is a
reduction (pairwise or by a tree in the libraries), not a matrix-vector product: a device's
blocks have up to hundreds of thousands of rows, over which a float32 product loses digits that
the NumPy path's cache-sized blocks keep.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import expit, log_expit, log_softmax, logit, logsumexp, softmax

from ._activations import ACTIVATIONS
from ._activations import ARRAY_API_ACTIVATIONS as ACTIVATIONS_XP


class TargetRange(NamedTuple):
    """The targets a loss accepts: every entry of Y between ``low`` and ``high``."""

    low: float
    high: float
    low_inclusive: bool
    high_inclusive: bool

    def includes(self, Y):
        """Whether every entry of Y lies in the range (NaN never does)."""
        Y = np.asarray(Y)
        above = Y >= self.low if self.low_inclusive else Y > self.low
        below = Y <= self.high if self.high_inclusive else Y < self.high
        return bool(np.all(above & below))


class IdentityLink:
    """h = z: the output units of a regressor."""

    def link(self, H):
        """z from h."""
        return H

    def inverse(self, Z):
        """h from z (an array of any namespace)."""
        return Z


class LogitLink:
    """h = σ(z) for every output, z = log(h / (1 − h))."""

    def link(self, H):
        """z from h."""
        return logit(H)

    def inverse(self, Z):
        """h = σ(z)."""
        return expit(Z)


class SoftmaxLink:
    """h = softmax(z) over the outputs of a row; z is known from h up to a constant per row,
    here the one that centres log h."""

    def link(self, H):
        """The centred z = log h − mean_k log h_k of every row."""
        log_H = np.log(H)
        return log_H - log_H.mean(axis=1, keepdims=True)

    def inverse(self, Z):
        """h = softmax(z) of every row."""
        return softmax(Z, axis=1)


def decide(proba, kind):
    """The predicted class index of every row, or the label indicator matrix for multilabel.

    The argmax of the probabilities themselves, so that predict and predict_proba agree even
    where saturated outputs round to tied probabilities; the validation score of early
    stopping decides the same way.
    """
    if kind == "multilabel":
        return proba > 0.5
    return np.argmax(proba, axis=1)


class CanonicalLoss:
    """A cost paired with the output units of its canonical link: δ(L) = ∂cost/∂z = h − y."""

    def output_delta(self, H, Y):
        """Overwrite h with δ(L) = h − y."""
        H -= Y
        return H

    def output_delta_xp(self, xp, H, Y):
        """δ(L) = h − y, a new array."""
        return H - Y


class ClassificationLoss(CanonicalLoss):
    """What the classifiers' losses share: probabilities of the classes and accuracy.

    ``kind`` says how the outputs encode the target: ``"binary"`` (one unit, the probability of
    the positive class), ``"multiclass"`` (one unit per class) or ``"multilabel"`` (one unit
    per label, each its own probability).
    """

    # One-hot rows, 0/1 indicators: the cross-entropies accept any y in [0, 1].
    target_range = TargetRange(0.0, 1.0, True, True)

    def log_proba(self, Z, kind):
        """Log-probabilities of the classes from the output layer's input z(L).

        K sigmoids of a multiclass problem are normalized to sum to one, as one-vs-rest models
        do.
        """
        log_h = self.log_h(Z)
        if self.name == "softmax" or kind == "multilabel":
            return log_h
        if kind == "binary":
            return np.hstack([self.log_h(-Z), log_h])
        return log_h - logsumexp(log_h, axis=1, keepdims=True)

    def log_proba_xp(self, xp, Z, kind):
        """:meth:`log_proba` for z(L) of any array-API namespace, on its device."""
        log_h = self.log_h_xp(xp, Z)
        if self.name == "softmax" or kind == "multilabel":
            return log_h
        if kind == "binary":
            return xp.concat((self.log_h_xp(xp, -Z), log_h), axis=1)
        return log_softmax_xp(xp, log_h)

    def validation_sums(self, Z, Y, w, kind):
        """(Σ w_i right_i, Σ w_i) of held-out rows, decided as ``predict`` decides: the sums
        of the weighted accuracy (all labels right, for multilabel targets)."""
        with np.errstate(over="ignore"):
            predicted = decide(np.exp(self.log_proba(Z, kind)), kind)
        if kind == "multilabel":
            right = (predicted == (Y > 0.5)).all(axis=1)
        else:
            truth = (Y[:, 0] > 0.5).astype(int) if kind == "binary" else np.argmax(Y, axis=1)
            right = predicted == truth
        w = np.asarray(w, dtype=np.float64)
        return np.array([np.dot(w, right), w.sum()])

    def score_from_sums(self, sums):
        """Accuracy from (Σ w right, Σ w)."""
        return float(sums[0] / sums[1])


def log_softmax_xp(xp, Z):
    """log softmax(z) of every row, by log-sum-exp, for arrays of any array-API namespace."""
    shifted = Z - xp.max(Z, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


class LogisticLoss(ClassificationLoss):
    """One sigmoid per output, each with the course's cross-entropy.

    cost(h, y) = −Σ_k [y_k log h_k + (1 − y_k) log(1 − h_k)], h = σ(z).
    """

    name = "logistic"
    link = LogitLink()

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


class SoftmaxLoss(ClassificationLoss):
    """A softmax over the outputs with the categorical cross-entropy, for one-hot targets.

    cost(h, y) = −Σ_k y_k log h_k, h = softmax(z).
    """

    name = "softmax"
    link = SoftmaxLink()

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


class SquaredErrorLoss(CanonicalLoss):
    """Identity outputs with half the squared error, for regression.

    cost(h, y) = ½ ‖h − y‖², h = z. Its Hessian with respect to z is the identity, so the
    Gauss-Newton product of this loss is exactly Jᵀ J.
    """

    name = "identity"
    link = IdentityLink()
    target_range = TargetRange(-np.inf, np.inf, False, False)

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

    def validation_sums(self, Z, Y, w, kind=None):
        """(Σ w, Σ w y_k, Σ w y_k², Σ w (y_k − z_k)²) of held-out rows: the sums of R²."""
        Y, Z = np.asarray(Y, dtype=np.float64), np.asarray(Z, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        return np.concatenate([[w.sum()], w @ Y, w @ Y**2, w @ (Y - Z) ** 2])

    def score_from_sums(self, sums):
        """R² from the sums of :meth:`validation_sums`, averaged over the targets as
        ``r2_score`` averages: 1 for a perfect fit of a constant target, 0 otherwise."""
        total, rest = sums[0], sums[1:].reshape(3, -1)
        linear, squares, residuals = rest
        spread = squares - linear**2 / total
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(spread > 0, 1 - residuals / spread, np.where(residuals == 0, 1.0, 0.0))
        return float(np.mean(r2))


# Beyond this margin below log(largest float), exp(z) of a log link is held at
# exp(log(largest) − margin) (about 1e299 in float64, 7e29 in float32): the costs of a block
# of rows, their weighted sums and the backward pass from δ(L) then stay finite.
LOG_LINK_MARGIN = 20.0


def capped_exponent(Z):
    """z clipped to [−c, c], c = log(largest float of Z's dtype) − :data:`LOG_LINK_MARGIN`."""
    bound = float(np.log(np.finfo(Z.dtype).max)) - LOG_LINK_MARGIN
    return np.clip(Z, -bound, bound)


def capped_exponent_xp(xp, Z):
    """:func:`capped_exponent` for arrays of any array-API namespace."""
    bound = float(np.log(xp.finfo(Z.dtype).max)) - LOG_LINK_MARGIN
    return xp.clip(Z, min=-bound, max=bound)


class LogLink:
    """h = exp(z), z = log h, for outputs that are positive: counts, amounts, durations.

    z is capped as :func:`capped_exponent` says, so that h never overflows.
    """

    def link(self, H):
        """z from h."""
        return np.log(H)

    def inverse(self, Z):
        """h = exp(z), z capped (an array of any namespace)."""
        if isinstance(Z, np.ndarray):
            return np.exp(capped_exponent(Z))
        from sklearn.utils._array_api import get_namespace

        xp, _ = get_namespace(Z)
        return xp.exp(capped_exponent_xp(xp, Z))


class LogLinkLoss:
    """What the log-link regression losses share: the link, and R² of h = exp(z) as the
    validation score of early stopping (the score that ``score`` gives, as for the squared
    error)."""

    link = LogLink()

    def validation_sums(self, Z, Y, w, kind=None):
        """The sums of R² (:meth:`SquaredErrorLoss.validation_sums`) of the predictions
        h = exp(z)."""
        H = self.link.inverse(np.asarray(Z, dtype=np.float64))
        return SquaredErrorLoss.validation_sums(self, H, Y, w, kind)

    def score_from_sums(self, sums):
        """R² from the sums of :meth:`validation_sums`."""
        return SquaredErrorLoss.score_from_sums(self, sums)


class PoissonLoss(LogLinkLoss, CanonicalLoss):
    """Log-link outputs with the half Poisson deviance, for counts and rates.

    cost(h, y) = Σ_k (h_k − y_k log h_k), h = exp(z): the half Poisson deviance
    y log(y / h) − y + h up to terms in y alone. The log link is its canonical link, so
    δ(L) = h − y, and ∂²cost/∂z² = h: R{δ(L)} = h ⊙ R{z}, which the exact and the Gauss-Newton
    products share (the cost is convex in z, so the Gauss-Newton product is PSD).
    """

    name = "poisson"
    # y ≥ 0; that Σ w y > 0 is the regressor's check (a target of zeros has no finite fit).
    target_range = TargetRange(0.0, np.inf, True, False)

    def loss(self, Z, Y, w, H, scratch):
        """Write h = exp(z) into H; return Σ_i w_i Σ_k (h_ik − y_ik z_ik), log h = z from z."""
        np.copyto(scratch, capped_exponent(Z))
        np.exp(scratch, out=H)
        scratch *= Y
        np.subtract(H, scratch, out=scratch)
        return float((w @ scratch).sum())

    def r_output(self, H, RZ, RH):
        """R{h} = h ⊙ R{z}."""
        np.multiply(H, RZ, out=RH)

    def loss_xp(self, xp, Z, Y, w):
        """h = exp(z) and Σ_i w_i Σ_k (h_ik − y_ik z_ik)."""
        capped = capped_exponent_xp(xp, Z)
        H = xp.exp(capped)
        return H, xp.sum(w * xp.sum(H - Y * capped, axis=1))

    def r_output_xp(self, xp, H, RZ):
        """R{h} = h ⊙ R{z}."""
        return H * RZ


class GammaLoss(LogLinkLoss):
    """Log-link outputs with the half Gamma deviance, for positive skewed amounts.

    cost(h, y) = Σ_k (log h_k + y_k / h_k) = Σ_k (z_k + y_k exp(−z_k)), h = exp(z): the half
    Gamma deviance log(h / y) + y / h − 1 up to terms in y alone. The log link is not its
    canonical link: δ(L) = ∂cost/∂z = 1 − y / h, and ∂²cost/∂z² = y / h ≥ 0, so
    R{δ(L)} = (y / h) ⊙ R{z} for the exact and the Gauss-Newton products alike.

    What the forward pass leaves for the backward pass in the buffer of h is therefore
    q = y / h = y exp(−z), computed from z (exp(−z) underflows to 0, never overflows, within
    the cap): δ(L) = 1 − q and R{δ(L)} = q ⊙ R{z}. ``predict`` reads h from the link.
    """

    name = "gamma"
    target_range = TargetRange(0.0, np.inf, False, False)

    def loss(self, Z, Y, w, H, scratch):
        """Write q = y exp(−z) into H; return Σ_i w_i Σ_k (z_ik + q_ik)."""
        np.copyto(scratch, capped_exponent(Z))
        np.negative(scratch, out=H)
        np.exp(H, out=H)
        H *= Y
        scratch += H
        return float((w @ scratch).sum())

    def output_delta(self, H, Y):
        """Overwrite q = y / h with δ(L) = 1 − y / h."""
        np.subtract(1, H, out=H)
        return H

    def r_output(self, H, RZ, RH):
        """R{δ(L)} = (y / h) ⊙ R{z}."""
        np.multiply(H, RZ, out=RH)

    def loss_xp(self, xp, Z, Y, w):
        """q = y exp(−z) and Σ_i w_i Σ_k (z_ik + q_ik)."""
        capped = capped_exponent_xp(xp, Z)
        Q = Y * xp.exp(-capped)
        return Q, xp.sum(w * xp.sum(capped + Q, axis=1))

    def output_delta_xp(self, xp, H, Y):
        """δ(L) = 1 − y / h, from q = y / h."""
        return 1 - H

    def r_output_xp(self, xp, H, RZ):
        """R{δ(L)} = (y / h) ⊙ R{z}."""
        return H * RZ


# Every loss, by its name: the name of its output units, which ``out_activation_`` records.
LOSSES = {
    loss.name: loss
    for loss in (LogisticLoss(), SoftmaxLoss(), SquaredErrorLoss(), PoissonLoss(), GammaLoss())
}
# The regressor's losses, by the name its ``loss`` parameter takes.
REGRESSOR_LOSSES = {
    "squared_error": LOSSES["identity"],
    "poisson": LOSSES["poisson"],
    "gamma": LOSSES["gamma"],
}
# The classifier's output units, by the name its ``out_activation`` parameter takes.
CLASSIFIER_LOSSES = {name: LOSSES[name] for name in ("logistic", "softmax")}
