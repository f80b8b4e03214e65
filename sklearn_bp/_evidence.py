"""The evidence framework: the data choose α, and the Laplace approximation gives error bars.

MacKay (1992) and Foresee & Hagan (1997, MATLAB's ``trainbr``). In MacKay's terms the network
minimizes M(θ) = β E_D + Σ_c α_c E_W,c with E_W,c = ½ Σ Θ² over the non-bias weights of group
c (one group per layer of weights, or one for all) and E_D the data term's Σ_i w_i cost_i
(½ Σ_i w_i ‖h − y‖² for the squared error); ours minimizes J = (E_D + Σ_c alpha_c E_W,c) / W,
so that our ``alpha`` is MacKay's α / β. For the classifier and the Poisson regressor the cost
is a full negative log-likelihood and β = 1.

Everything here is written against the data-term protocol of ``_objective`` (the sums of
``loss_sum`` and ``gauss_newton_vector_product_sum``, and the optional dense
``gauss_newton_matrix_sum``), so it runs wherever the rows live: in memory, on an array-API
device, on a dask cluster. Where the rows are at hand the dense G of a round is
Σ_i J_iᵀ (w_i C_i) J_i, J_i row i's Jacobian of z(L) from one backward pass per output unit
of a block of rows (``_passes.output_jacobian``) and C_i the output's curvature, one matrix
product per block; each round then costs a few passes over the rows and one Cholesky
factorization, besides its minimization.

With G the Gauss-Newton matrix of E_D at θ (the data term's G·v, a sum over the rows), D the
diagonal of our alpha_c on the weights, and the biases unpenalized (a flat prior), the weights'
curvature once the biases have adjusted to them is the Schur complement

    S = G_ww − G_wb G_bb⁺ G_bw,

the weights' block of the posterior covariance is (β (S + D))⁻¹, and the number of
well-determined weights of group c is

    γ_c = k_c − alpha_c tr_c((S + D)⁻¹)     (one group: Σ_i μ_i / (μ_i + alpha) over the
                                             eigenvalues μ_i of S, i.e. Σ λ_i / (λ_i + α)
                                             over those of β S);

the biases count as determined: γ = Σ_c γ_c + (number of biases). S is not formed (see
:class:`DenseCurvature`): the biases' flat prior is the limit of a Gaussian of tiny precision.
The updates at a minimum of J are MacKay's

    α_c = γ_c / (2 E_W,c),   β = (N − γ) / (2 E_D),   alpha_c = α_c / β,

with N = W · (number of outputs): a sample weight counts as that many repeated rows, as in
scikit-learn. They alternate with the optimizer, which starts each round from the previous
θ, until every alpha_c settles (:func:`settle`): until every |Δ ln alpha_c| is below the
larger of 1% and a tenth of the evidence's own error bar on ln α_c, √(2 / γ_c) (at most 0.2).
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf, dtrtri
from sklearn import get_config

# Losses whose data term is a full negative log-likelihood (β = 1), and the one with a noise
# precision β to estimate; the Gamma deviance without its dispersion is neither.
FIXED_PRECISION = frozenset({"logistic", "softmax", "poisson"})
ESTIMATED_PRECISION = frozenset({"identity"})

# The evidence rounds: at most MAX_ROUNDS per stage (a stage settles in 2 to 12 on the data
# of benchmarks/bench_evidence.py; one that does not is degenerate and loses), until every
# |Δ ln alpha_c| is within its tolerance (:func:`settling_tolerance`): ALPHA_RTOL, or
# SETTLE_FRACTION of the evidence's own error bar on ln α_c where that is wider, at most
# SETTLE_LIMIT.
MAX_ROUNDS = 15
ALPHA_RTOL = 1e-2
# A group with fewer well-determined weights than this is degenerate (its evidence grows
# without bound as its alpha goes to 0): a stage ends, unsettled, when a group stays below it
# for DEGENERATE_ROUNDS evaluations in a row.
DEGENERATE_GAMMA = 0.5
DEGENERATE_ROUNDS = 2
SETTLE_FRACTION = 0.1
SETTLE_LIMIT = 0.2
# A later stage whose log evidence is, from its RIVAL_ROUNDS-th evaluation on, more than
# RIVAL_MARGIN below the best of the stages before it (a Bayes factor of e^10, about 2·10^4,
# against it) ends there, unsettled: it would lose anyway (measured on the data of
# benchmarks/bench_evidence.py, no stage so far behind came back to win).
RIVAL_MARGIN = 10.0
RIVAL_ROUNDS = 2
START_ALPHA = 1.0
# Beyond this many parameters (or three dense matrices beyond working_memory) γ is estimated
# stochastically; the dense matrix costs n_params² floats and a factorization of n_params³ / 3
# flops per round.
DENSE_LIMIT = 3000
# Hutchinson's estimator: this many Rademacher probes, CG to this relative residual.
PROBES = 30
CG_RTOL = 1e-6
# The biases' flat prior, as a Gaussian of this precision relative to the mean curvature.
BIAS_PRECISION = 1e-8


def weight_groups(network, per_layer=True):
    """Integer vector laid out as θ: the group of each non-bias weight (its layer, 0 for the
    input layer's weights, or 0 for all), −1 on the biases, which are not penalized."""
    groups = np.full(network.n_params, -1, dtype=np.intp)
    for layer, (W, _) in enumerate(network.unpack(groups)):
        W[...] = layer if per_layer else 0
    return groups


def check_evidence_loss(loss_name):
    """Refuse a loss whose evidence is not defined here; return whether β is estimated."""
    if loss_name in ESTIMATED_PRECISION:
        return True
    if loss_name in FIXED_PRECISION:
        return False
    raise ValueError(
        f"alpha='evidence' needs a cost that is a negative log-likelihood: the squared error, "
        f"the cross-entropy or the Poisson deviance; the {loss_name!r} outputs' cost leaves "
        f"the Gamma dispersion unknown. Give alpha a number, chosen by a grid search."
    )


def dense_fits(n_params):
    """Whether the dense Gauss-Newton matrix of ``n_params`` parameters is built: at most
    :data:`DENSE_LIMIT` parameters, and three such matrices within ``working_memory``."""
    working_memory = get_config()["working_memory"] * 2**20
    return n_params <= DENSE_LIMIT and 3 * 8 * n_params**2 <= working_memory


def gauss_newton_matrix(data, theta):
    """G of the data term at θ, dense and symmetric: from the data term's own dense G where it
    has one (Jᵀ (w C) J from the per-row Jacobian of the outputs, one backward pass per output
    unit and block of rows, within ``working_memory``), else from one G·e_j product per
    parameter (a dask cluster's data term: one round trip to the workers each)."""
    dense = getattr(data, "gauss_newton_matrix_sum", None)
    if dense is not None:
        G = dense(theta, get_config()["working_memory"] * 2**20)
        if G is not None:
            return G
    n = data.network.n_params
    G = np.empty((n, n), dtype=np.float64)
    e = np.zeros(n, dtype=np.float64)
    out = np.empty(n, dtype=np.float64)
    for j in range(n):
        e[j] = 1.0
        data.gauss_newton_vector_product_sum(theta, e, out)
        G[:, j] = out
        e[j] = 0.0
    G += G.T
    G *= 0.5
    return G


def _per_weight(alphas, groups):
    """Our alpha_c on each parameter of its group, 0 on the biases."""
    return np.where(groups >= 0, np.asarray(alphas, dtype=np.float64)[np.maximum(groups, 0)], 0.0)


class DenseCurvature:
    """γ_c and ln det from the dense G, exactly.

    The biases' flat prior is taken as the limit of a Gaussian of tiny precision
    ε = :data:`BIAS_PRECISION` times the mean of G's diagonal: M = G + D + ε P_b is then
    positive definite even where a bias has no curvature (a unit that no longer reaches the
    output), and the weights' block of M⁻¹ is (S + D)⁻¹ up to terms of order ε, without
    forming S (whose subtraction loses every digit when G_bb is ill-conditioned, as it is for
    nearly dead units). One Cholesky factorization gives the diagonal of M⁻¹ and ln det M.

    Parameters
    ----------
    G : ndarray of shape (n_params, n_params)
        The Gauss-Newton matrix of the data term (a sum over rows), from
        :func:`gauss_newton_matrix`.
    groups : ndarray of shape (n_params,)
        :func:`weight_groups`.
    """

    exact = True

    def __init__(self, G, groups):
        self.G, self.groups = G, groups
        self.n_biases = int(np.sum(groups < 0))
        scale = float(np.mean(np.diag(G))) if G.size else 1.0
        self.bias_precision = BIAS_PRECISION * max(scale, np.finfo(np.float64).tiny)

    def diagonal(self, alphas):
        """The diagonal of G + D + ε P_b, laid out as θ."""
        diagonal = _per_weight(alphas, self.groups)
        diagonal[self.groups < 0] = self.bias_precision
        return diagonal

    def traces(self, alphas):
        """tr_c(M⁻¹) of every group (over its weights) and ln det M."""
        M = self.G.copy()
        on_diagonal = np.arange(M.shape[0])
        M[on_diagonal, on_diagonal] += self.diagonal(alphas)
        try:
            # LAPACK's own Cholesky factorization, in M's place (M is symmetric: its
            # transpose is the Fortran-ordered array LAPACK works in without a copy), and
            # the factor's inverse in the factor's place.
            C, info = dpotrf(M.T, lower=1, clean=1, overwrite_a=1)
            if info != 0:
                raise np.linalg.LinAlgError("M is not positive definite in floating point")
            log_det = 2.0 * float(np.sum(np.log(np.diag(C))))
            # M⁻¹ = C⁻ᵀ C⁻¹: its diagonal is the column sums of the squares of C⁻¹ (C's
            # strict upper triangle is 0, and so stays C⁻¹'s).
            C_inverse, info = dtrtri(C, lower=1, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError("the Cholesky factor is singular")
            diagonal = np.einsum("ij,ij->j", C_inverse, C_inverse)
        except np.linalg.LinAlgError:  # round-off broke the factorization: the eigenvalues
            M = self.G + np.diag(self.diagonal(alphas))  # the factorization overwrote it
            values, vectors = np.linalg.eigh(0.5 * (M + M.T))
            values = np.maximum(values, np.finfo(np.float64).tiny)
            diagonal = np.einsum("ij,j,ij->i", vectors, 1.0 / values, vectors)
            log_det = float(np.sum(np.log(values)))
        on_weights = self.groups >= 0
        n_groups = len(alphas)
        traces = np.bincount(self.groups[on_weights], diagonal[on_weights], minlength=n_groups)
        return traces, log_det

    def gammas(self, alphas):
        """γ_c of every group, and ln det(G + D + ε P_b)."""
        traces, log_det = self.traces(alphas)
        return self.sizes(len(alphas)) - np.asarray(alphas) * traces, log_det

    def sizes(self, n_groups):
        """k_c, the number of weights of every group."""
        return np.bincount(self.groups[self.groups >= 0], minlength=n_groups).astype(np.float64)

    def regrouped(self, groups):
        """The same G, with other groups of weights."""
        return DenseCurvature(self.G, groups)


class StochasticCurvature:
    """γ_c estimated from G·v products alone: Hutchinson's estimator with conjugate gradients.

    E[z ⊙ (M⁻¹ z)] is the diagonal of M⁻¹ for Rademacher z; with z on the weights and 0 on
    the biases, and M = G + D + ε on the biases (ε a tiny jitter that keeps M definite where a
    bias has no curvature), its weights' entries are those of (S + D)⁻¹, whose sums over the
    groups give γ_c = k_c − alpha_c tr_c((S + D)⁻¹). Each probe costs one CG solve; the memory
    is a few vectors of θ's size. The estimate is unbiased; ``standard_errors`` are the
    probes' own (for one group at most √(2 k / m) for m probes, as the eigenvalues of
    alpha (S + alpha I)⁻¹ lie in (0, 1]). ln det is not estimated.
    """

    exact = False

    def __init__(self, data, theta, groups, probes=PROBES, random_state=0):
        self.data, self.theta, self.groups = data, theta, groups
        self.probes = probes
        self.random_state = random_state
        self.n_biases = int(np.sum(groups < 0))
        self.standard_errors = None
        self.n_products = 0

    def sizes(self, n_groups):
        """k_c, the number of weights of every group."""
        return np.bincount(self.groups[self.groups >= 0], minlength=n_groups).astype(np.float64)

    def regrouped(self, groups):
        """The same θ and probes, with other groups of weights."""
        return StochasticCurvature(
            self.data, self.theta, groups, probes=self.probes, random_state=self.random_state
        )

    def gammas(self, alphas):
        """Estimates of γ_c of every group (their ``standard_errors``), and None for ln det."""
        rng = np.random.default_rng(self.random_state)
        alphas = np.asarray(alphas, dtype=np.float64)
        diagonal = _per_weight(alphas, self.groups)
        jitter = 1e-8 * float(np.min(alphas))
        diagonal[self.groups < 0] = jitter
        out = np.empty(self.groups.size, dtype=np.float64)
        on_weights = self.groups >= 0

        def product(v):
            self.data.gauss_newton_vector_product_sum(self.theta, v, out)
            self.n_products += 1
            return out + diagonal * v

        n_groups = len(alphas)
        samples = np.empty((self.probes, n_groups))
        for probe in range(self.probes):
            z = np.where(on_weights, rng.choice([-1.0, 1.0], size=self.groups.size), 0.0)
            x = conjugate_gradient(product, z, CG_RTOL, maxiter=10 * self.groups.size)
            samples[probe] = np.bincount(
                self.groups[on_weights], (z * x)[on_weights], minlength=n_groups
            )
        samples *= alphas
        self.standard_errors = np.std(samples, axis=0, ddof=1) / np.sqrt(self.probes)
        return self.sizes(n_groups) - samples.mean(axis=0), None


def conjugate_gradient(product, b, rtol, maxiter):
    """Solve M x = b for symmetric positive definite M given by ``product(v) = M v``."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = float(r @ r)
    target = (rtol**2) * rs
    for _ in range(maxiter):
        if rs <= target:
            break
        Mp = product(p)
        step = rs / float(p @ Mp)
        x += step * p
        r -= step * Mp
        rs_new = float(r @ r)
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def curvature_at(data, theta, groups, random_state=0):
    """:class:`DenseCurvature` where the dense matrix fits, else :class:`StochasticCurvature`."""
    if dense_fits(groups.size):
        return DenseCurvature(gauss_newton_matrix(data, theta), groups)
    return StochasticCurvature(data, theta, groups, random_state=random_state)


@dataclass
class Evidence:
    """What the evidence says at θ, a minimum of J for the given alphas.

    Attributes
    ----------
    alphas : ndarray of shape (n_groups,)
        Our alpha_c at which θ minimizes J.
    gammas : ndarray of shape (n_groups,)
        γ_c, the well-determined weights of every group.
    gamma : float
        γ = Σ_c γ_c + number of biases: the effective number of parameters.
    beta : float
        The noise precision β re-estimated (1 where it is fixed).
    updates : ndarray of shape (n_groups,)
        The re-estimated alpha_c = α_c / β.
    log_evidence : float or None
        ln p(D | α, β) in the Laplace approximation, with the α and β at which θ was fitted
        (β re-estimated where it is not fixed); None where ln det A is not computed.
    curvature : DenseCurvature or StochasticCurvature
        Where they come from.
    """

    alphas: np.ndarray
    gammas: np.ndarray
    gamma: float
    beta: float
    updates: np.ndarray
    log_evidence: float | None
    curvature: object


# Hidden units whose sign can be flipped without changing the network's function: a tanh
# unit's with its outgoing weights; a logistic unit's too, g(−z) = 1 − g(z), with the next
# layer's biases taking up the difference (flat, so the posterior is unchanged).
SIGN_SYMMETRIC = frozenset({"logistic", "tanh"})


def log_symmetries(network):
    """ln of the number of equivalent modes of the posterior: Σ_l ln(H_l!) over the hidden
    layers (their units permuted), plus H_l ln 2 where the activation is sign-symmetric
    (MacKay 1992, "A practical Bayesian framework": ln(H! 2^H) for one hidden layer)."""
    hidden = network.layer_sizes[1:-1]
    total = sum(float(np.sum(np.log(np.arange(1, size + 1)))) for size in hidden)
    if network.activation in SIGN_SYMMETRIC:
        total += sum(hidden) * float(np.log(2.0))
    return total


def evidence_at(
    data, theta, alphas, groups, n_outputs, estimate_beta, random_state=0, curvature=None
):
    """The :class:`Evidence` at θ, a minimum of J for our ``alphas`` (one per group).

    ``curvature``, the :class:`DenseCurvature` or :class:`StochasticCurvature` of an earlier
    evaluation at this θ (with other groups), saves building G again.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    n_groups = alphas.size
    if curvature is None:
        curvature = curvature_at(data, theta, groups, random_state)
    else:
        curvature = curvature.regrouped(groups)
    sizes = curvature.sizes(n_groups)
    gammas, log_det = curvature.gammas(alphas)
    gammas = np.clip(gammas, 0.0, sizes)
    gamma = float(np.sum(gammas)) + curvature.n_biases
    on_weights = groups >= 0
    squared = np.bincount(groups[on_weights], theta[on_weights] ** 2, minlength=n_groups)
    e_w = 0.5 * squared
    e_d = float(data.loss_sum(theta))
    n_data = data.total_weight * n_outputs
    tiny = np.finfo(np.float64).tiny
    if estimate_beta:
        # β = (N − γ) / (2 E_D); N − γ at least 1, and the noise variance 1/β at least
        # √tiny (1.5e-154; E_D = 0 on rows the network interpolates), so that β, α = alpha β
        # and the log evidence stay finite and positive.
        dof = max(n_data - gamma, 1.0)
        beta = dof / max(2.0 * e_d, dof * float(np.sqrt(tiny)))
    else:
        beta = 1.0
    # α_c = γ_c / (2 E_W,c), kept positive for a group whose weights or γ_c vanish.
    updates = np.maximum(gammas, 1e-8) / np.maximum(2.0 * e_w, tiny) / beta
    log_evidence = None
    if log_det is not None:
        # ln det A = ln det(β (G + D + ε P_b)); α_c = alpha_c β.
        log_det_A = log_det + theta.size * np.log(beta)
        log_evidence = (
            -beta * (e_d + float(alphas @ e_w))
            - 0.5 * log_det_A
            + 0.5 * float(sizes @ np.log(alphas * beta))
            + 0.5 * curvature.n_biases * np.log(2 * np.pi)
            + log_symmetries(data.network)
        )
        if estimate_beta:
            log_evidence += 0.5 * n_data * (np.log(beta) - np.log(2 * np.pi))
        log_evidence = float(log_evidence)
    return Evidence(alphas, gammas, gamma, beta, updates, log_evidence, curvature)


def settling_tolerance(gammas):
    """The |Δ ln alpha_c| under which group c's alpha counts as settled.

    The evidence itself knows ln α_c only to about √(2 / γ_c) (MacKay 1992, "Bayesian
    interpolation": the posterior of ln α_c is nearly Gaussian with that standard deviation),
    and at a θ minimized to the fit's ``tol`` the update of a group with few well-determined
    weights jitters by several percent from round to round. The tolerance is
    :data:`SETTLE_FRACTION` of that error bar, at least :data:`ALPHA_RTOL` and at most
    :data:`SETTLE_LIMIT` (the error bar of γ_c = 0.5, below which a stage is degenerate).
    """
    gammas = np.maximum(np.asarray(gammas, dtype=np.float64), np.finfo(np.float64).tiny)
    return np.clip(SETTLE_FRACTION * np.sqrt(2.0 / gammas), ALPHA_RTOL, SETTLE_LIMIT)


def _sound(evidence):
    """Whether every group has at least :data:`DEGENERATE_GAMMA` well-determined weights."""
    return bool(np.all(evidence.gammas >= DEGENERATE_GAMMA))


def settle(
    minimize_at,
    data,
    theta,
    alphas,
    groups,
    n_outputs,
    estimate_beta,
    max_rounds,
    rival=None,
    at_minimum=None,
):
    """Alternate the minimization of J with MacKay's updates until the alphas settle.

    ``minimize_at(alphas, theta) -> theta`` minimizes J with our alphas (one per group) from
    θ. Every round's θ minimizes J for that round's alphas, so every round gives the log
    evidence of its alphas; the stage returns the round of the highest log evidence among the
    sound ones (every group with at least :data:`DEGENERATE_GAMMA` well-determined weights),
    the last round where there is none, or where the log evidence is not computed. The
    updates climb the evidence near a fixed point, but the path to it from the start can run
    downhill (each round's θ starts from the last one's, and J has several minima), and then
    an earlier round is the better choice of alpha by the evidence's own measure.

    Returns θ, the alphas it minimizes J for, the :class:`Evidence` there and whether the
    alphas settled (every |Δ ln alpha_c| within :func:`settling_tolerance`) within
    ``max_rounds``. A stage in which a group has had fewer than :data:`DEGENERATE_GAMMA`
    well-determined weights for :data:`DEGENERATE_ROUNDS` rounds in a row ends there, unsettled:
    it is running off to a degenerate optimum, which the stages' ranking puts last anyway. So
    does a stage whose log evidence is, from its :data:`RIVAL_ROUNDS`-th round on, more than
    :data:`RIVAL_MARGIN` below ``rival``, the best log evidence of the stages before it.

    ``at_minimum``, the :class:`Evidence` of an earlier stage at θ with these alphas (θ then
    already minimizes J: the same alpha on every group is the same J), skips the first
    minimization and the first round's G: the stage starts from that stage's choice.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    curvature = None
    if at_minimum is None:
        theta = minimize_at(alphas, theta)
    else:
        curvature = at_minimum.curvature
    degenerate = np.zeros(alphas.size, dtype=int)
    best = None  # the sound round of the highest log evidence so far

    def consider(theta, alphas, evidence):
        nonlocal best
        if (
            evidence.log_evidence is not None
            and _sound(evidence)
            and (best is None or evidence.log_evidence > best[2].log_evidence)
        ):
            best = (theta, alphas, evidence)

    def end(theta, alphas, evidence, settled):
        consider(theta, alphas, evidence)
        return (*(best or (theta, alphas, evidence)), settled)

    for round_ in range(1, max_rounds + 1):
        evidence = evidence_at(
            data, theta, alphas, groups, n_outputs, estimate_beta, curvature=curvature
        )
        curvature = None  # the next round's θ is another
        change = np.abs(np.log(evidence.updates / alphas))
        if np.all(change < settling_tolerance(evidence.gammas)):
            return end(theta, alphas, evidence, True)
        if (
            rival is not None
            and evidence.log_evidence is not None
            and round_ >= RIVAL_ROUNDS
            and evidence.log_evidence < rival - RIVAL_MARGIN
        ):
            return end(theta, alphas, evidence, False)
        # Rounds in a row with fewer than DEGENERATE_GAMMA determined weights, per group.
        degenerate = np.where(evidence.gammas < DEGENERATE_GAMMA, degenerate + 1, 0)
        if np.any(degenerate >= DEGENERATE_ROUNDS):
            return end(theta, alphas, evidence, False)
        consider(theta, alphas, evidence)
        alphas = evidence.updates
        theta = minimize_at(alphas, theta)
    evidence = evidence_at(data, theta, alphas, groups, n_outputs, estimate_beta)
    return end(theta, alphas, evidence, False)


def posterior_factor(curvature, alphas):
    """L with (G + D)⁻¹ = L Lᵀ (a pseudo-inverse where a bias has no curvature).

    The posterior covariance of θ in the Laplace approximation is A⁻¹ = (1/β) L Lᵀ.
    """
    A = curvature.G + np.diag(_per_weight(alphas, curvature.groups))
    values, vectors = np.linalg.eigh(0.5 * (A + A.T))
    floor = max(values[-1], 0.0) * A.shape[0] * np.finfo(np.float64).eps
    keep = values > floor
    return vectors[:, keep] / np.sqrt(values[keep])
