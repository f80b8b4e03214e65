"""Can stochastic Lanczos quadrature stand in for the dense ln det of the evidence?

Beyond ``_evidence.DENSE_LIMIT`` parameters the evidence estimates γ from G·v products
(Hutchinson's estimator) but computes no log evidence, so its two stages cannot be ranked by it.
The standard estimator of ln det M from products alone is stochastic Lanczos quadrature (SLQ):
zᵀ ln(M) z ≈ ‖z‖² Σ_j U_0j² ln θ_j from m Lanczos steps on M from a Rademacher z (T = U Θ Uᵀ,
the tridiagonal of the steps), averaged over probes. This script measures it against the exact
ln det on networks small enough for the dense M, at the alphas ``alpha="evidence"`` chose:
M = G + D + ε P_b as ``_evidence.DenseCurvature`` builds it, the steps with full
reorthogonalization (the best case for Lanczos), 30 probes.

It prints, per network and number of steps, the estimate, its standard error over the probes,
its error against the exact value, the number of G·v products, and the time. A stage's ranking
needs errors well below the margins the stages differ by (a few nats to a few tens).

    python benchmarks/bench_slq_logdet.py [--probes 30] [--steps 30 60 100]
"""

import argparse
import time
import warnings

import numpy as np
from _machine import load_average  # benchmarks/_machine.py
from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor
from sklearn_bp._evidence import DenseCurvature, gauss_newton_matrix, weight_groups


def lanczos_quadrature(product, z, steps):
    """zᵀ ln(M) z by ``steps`` Lanczos steps from z, fully reorthogonalized."""
    n = z.size
    basis = np.zeros((steps + 1, n))
    diagonal, off = np.zeros(steps), np.zeros(steps)
    basis[0] = z / np.linalg.norm(z)
    for k in range(steps):
        w = product(basis[k])
        diagonal[k] = basis[k] @ w
        w -= basis[: k + 1].T @ (basis[: k + 1] @ w)
        off[k] = np.linalg.norm(w)
        if off[k] <= 1e-12 * abs(diagonal[k]):
            steps = k + 1
            break
        basis[k + 1] = w / off[k]
    T = np.diag(diagonal[:steps]) + np.diag(off[: steps - 1], 1) + np.diag(off[: steps - 1], -1)
    values, vectors = np.linalg.eigh(T)
    return (z @ z) * float(np.sum(vectors[0] ** 2 * np.log(np.maximum(values, 1e-300))))


def measure(name, estimator, X, y, probes, all_steps):
    estimator.fit(X, y)
    objective, _ = estimator._objective_at_start(X, y, None, [np.float64])
    data, network = objective.data, objective.network
    theta = network.pack(estimator.coefs_, estimator.intercepts_)
    alphas = np.atleast_1d(np.asarray(estimator.alpha_, dtype=np.float64))
    groups = weight_groups(network, per_layer=True)
    curvature = DenseCurvature(gauss_newton_matrix(data, theta), groups)
    diagonal = curvature.diagonal(alphas)
    M = curvature.G + np.diag(diagonal)
    exact = np.linalg.slogdet(M)[1]
    values = np.linalg.eigvalsh(M)
    print(
        f"\n{name}: {theta.size} parameters, alpha_ {np.round(alphas, 4)}, exact ln det M "
        f"{exact:.1f}, eigenvalues {values[0]:.2e} to {values[-1]:.2e}"
    )
    out = np.empty(theta.size)

    def product(v):
        data.gauss_newton_vector_product_sum(theta, v, out)
        return out + diagonal * v

    rng = np.random.default_rng(0)
    for steps in all_steps:
        start = time.perf_counter()
        estimates = np.array(
            [
                lanczos_quadrature(product, rng.choice([-1.0, 1.0], size=theta.size), steps)
                for _ in range(probes)
            ]
        )
        seconds = time.perf_counter() - start
        error = estimates.mean() - exact
        standard_error = estimates.std(ddof=1) / np.sqrt(probes)
        print(
            f"  {steps:4d} steps: {estimates.mean():9.1f} ± {standard_error:5.1f}, error "
            f"{error:+8.1f} nats, {probes * steps} G·v products, {seconds:.1f} s"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--steps", type=int, nargs="*", default=[30, 60, 100])
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"load average (1, 5, 15 min): {load_average()}")
    X, y = make_friedman1(1000, noise=1.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    regressor = BackpropRegressor(hidden_layer_sizes=(150,), alpha="evidence", random_state=0)
    measure("make_friedman1(1000), (150,)", regressor, X, y, args.probes, args.steps)
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    classifier = BackpropClassifier(hidden_layer_sizes=(25,), alpha="evidence", random_state=0)
    measure("digits, (25,)", classifier, X, y, args.probes, args.steps)


if __name__ == "__main__":
    main()
