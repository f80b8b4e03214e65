"""Activation functions g and their derivatives g′, in place and dtype-preserving.

Each derivative is written in terms of the activation a = g(z), as the course writes the
sigmoid's g′(z) = a .* (1 − a), so that the backward pass needs no copy of z. A derivative
multiplies the incoming deltas by g′ in place, using ``scratch`` (an array of the same shape
and dtype) for its one temporary.
"""

import numpy as np


def _identity(Z):
    """Leave Z as it is: g(z) = z."""


def _logistic(Z):
    """Apply the logistic sigmoid g(z) = 1 / (1 + exp(−z)) in place, as ½ tanh(z/2) + ½.

    The identity is exact; numpy's vectorized tanh makes it several times faster than scipy's
    expit, and its absolute error stays at the rounding level of 1 (enough for the units' values
    and δ(L) = h − y; the output layer's logarithms are computed from z, see ``_network``).
    """
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5


def _tanh(Z):
    """Apply the hyperbolic tangent in place."""
    np.tanh(Z, out=Z)


def _relu(Z):
    """Apply the rectified linear unit g(z) = max(z, 0) in place."""
    np.maximum(Z, 0, out=Z)


def _identity_derivative(A, delta, scratch):
    """Multiply delta by g′ = 1 (nothing to do)."""


def _logistic_derivative(A, delta, scratch):
    """Multiply delta in place by the sigmoid's derivative a .* (1 − a)."""
    np.subtract(1, A, out=scratch)
    scratch *= A
    delta *= scratch


def _tanh_derivative(A, delta, scratch):
    """Multiply delta in place by tanh's derivative 1 − a²."""
    np.multiply(A, A, out=scratch)
    np.subtract(1, scratch, out=scratch)
    delta *= scratch


def _relu_derivative(A, delta, scratch):
    """Multiply delta in place by the ReLU's derivative: 1 where a > 0, else 0."""
    # a = max(z, 0) is never negative, so sign(a) is exactly the step function.
    np.sign(A, out=scratch)
    delta *= scratch


def _logistic_second_derivative(A, out, scratch):
    """Write the sigmoid's g″ = a (1 − a) (1 − 2a) into out."""
    np.multiply(A, -2, out=out)
    out += 1
    np.subtract(1, A, out=scratch)
    scratch *= A
    out *= scratch


def _tanh_second_derivative(A, out, scratch):
    """Write tanh's g″ = −2a (1 − a²) into out."""
    np.multiply(A, A, out=out)
    np.subtract(1, out, out=out)
    out *= A
    out *= -2


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
}

DERIVATIVES = {
    "identity": _identity_derivative,
    "logistic": _logistic_derivative,
    "tanh": _tanh_derivative,
    "relu": _relu_derivative,
}

# |z| beyond which a unit is saturated: g′(z) below 2e-4 of its largest value, so that
# backpropagation's deltas through it all but vanish. Units without a plateau are absent.
SATURATED_Z = {"logistic": 10.0, "tanh": 5.0}

# Activations with g(s z) = s g(z) for every s > 0: a network of them carries a common scale of
# its inputs through to z(L), which lets the forward pass of huge inputs run on scaled rows.
POSITIVELY_HOMOGENEOUS = {"identity", "relu"}

# g″ in terms of a, for the exact Hessian-vector product. ReLU and identity are piecewise
# linear: g″ = 0, so their term drops out (None).
SECOND_DERIVATIVES = {
    "identity": None,
    "logistic": _logistic_second_derivative,
    "tanh": _tanh_second_derivative,
    "relu": None,
}


# The same functions for arrays of any array-API namespace (PyTorch, CuPy, array-api-strict),
# on any device: ``(xp, Z) -> g(Z)``, ``(xp, A) -> g′`` and ``(xp, A) -> g″`` in terms of
# a = g(z), as new arrays (the standard has no ``out=``). The sigmoid takes the same
# ½ tanh(z/2) + ½ as above, so that both paths round alike. None where g′ = 1 or g″ = 0.
ARRAY_API_ACTIVATIONS = {
    "identity": lambda xp, Z: Z,
    "logistic": lambda xp, Z: 0.5 * xp.tanh(0.5 * Z) + 0.5,
    "tanh": lambda xp, Z: xp.tanh(Z),
    "relu": lambda xp, Z: xp.clip(Z, min=0.0),
}

ARRAY_API_DERIVATIVES = {
    "identity": None,
    "logistic": lambda xp, A: _logistic_derivative_xp(xp, A),
    "tanh": lambda xp, A: _tanh_derivative_xp(xp, A),
    "relu": lambda xp, A: xp.sign(A),
}


def _logistic_xp_over(xp, Z):
    """½ tanh(z/2) + ½ over Z where the namespace works in place: one new array, not four."""
    Z *= 0.5
    A = xp.tanh(Z)
    A *= 0.5
    A += 0.5
    return A


def _logistic_derivative_xp(xp, A):
    """a (1 − a) as one new array."""
    g_prime = 1 - A
    g_prime *= A
    return g_prime


def _tanh_derivative_xp(xp, A):
    """1 − a² as one new array (−a² + 1 rounds as 1 − a²)."""
    g_prime = A * A
    g_prime *= -1
    g_prime += 1
    return g_prime


# The activations for the passes, which may overwrite their Z (it is theirs, and a(l) is kept
# instead): with the standard's in-place operators, fewer new arrays of a block's size, which
# on the host's memory cost page faults at every block. They compute what
# ``ARRAY_API_ACTIVATIONS`` computes, bit for bit; a namespace without in-place updates (JAX)
# rebinds the names instead.
ARRAY_API_ACTIVATIONS_OVER = {
    "identity": lambda xp, Z: Z,
    "logistic": _logistic_xp_over,
    "tanh": lambda xp, Z: xp.tanh(Z),
    "relu": lambda xp, Z: xp.clip(Z, min=0.0),
}

ARRAY_API_SECOND_DERIVATIVES = {
    "identity": None,
    "logistic": lambda xp, A: (1 - 2 * A) * (A * (1 - A)),
    "tanh": lambda xp, A: -2 * (A * (1 - A * A)),
    "relu": None,
}
