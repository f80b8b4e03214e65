"""An independent implementation of the course's network, one example at a time.

Written straight from the course notes, with column vectors and Θ(l) of shape
(s_{l+1}, s_l + 1), bias in column 0; it shares no code with ``sklearn_bp``. Slow on purpose:
it is the reference the vectorized, blocked code is checked against.
"""

import numpy as np

G = {
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: z,
}


def hypothesis(thetas, x, activation="logistic", out_activation="logistic"):
    """h_Θ(x) for one example x: a(1) = x, z(l+1) = Θ(l) [1; a(l)], a(l+1) = g(z(l+1))."""
    a = np.asarray(x, dtype=np.float64)
    for layer, theta in enumerate(thetas):
        z = theta @ np.concatenate([[1.0], a])
        if layer < len(thetas) - 1:
            a = G[activation](z)
        elif out_activation == "softmax":
            a = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        else:
            a = 1.0 / (1.0 + np.exp(-z))
    return a


def cost(thetas, X, Y, alpha, sample_weight=None, activation="logistic", out_activation="logistic"):
    """J(Θ): weighted cross-entropy over the examples plus (α / 2W) Σ Θ² over non-bias weights."""
    m = X.shape[0]
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = 0.0
    for i in range(m):
        h = hypothesis(thetas, X[i], activation, out_activation)
        y = Y[i]
        if out_activation == "softmax":
            example = -np.sum(y * np.log(h))
        else:
            example = -np.sum(y * np.log(h) + (1 - y) * np.log(1 - h))
        total += w[i] * example
    penalty = sum(np.sum(theta[:, 1:] ** 2) for theta in thetas)
    return total / w.sum() + alpha / (2 * w.sum()) * penalty


def central_differences(f, theta, epsilon=1e-5):
    """Numerical gradient of f at the flat vector theta, by central differences."""
    theta = np.array(theta, dtype=np.float64)
    gradient = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = epsilon
        gradient[i] = (f(theta + step) - f(theta - step)) / (2 * epsilon)
    return gradient
