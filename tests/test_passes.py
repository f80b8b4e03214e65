"""The passes of ``_passes`` on NumPy's primitives: the forward pass against the course's
hypothesis, row by row, and the outputs of many rows block by block."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

from sklearn_bp._network import Network
from sklearn_bp._passes import NumpyPrimitives, decision_output, forward

from .course_reference import hypothesis


def _outputs(network, theta, X, block_rows):
    ops = NumpyPrimitives(X.dtype, block_rows)
    return decision_output(ops, network, network.unpack(theta), X, block_rows)


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
def test_forward_output_matches_course_hypothesis(activation):
    layer_sizes = (4, 6, 5, 3)
    X = np.random.RandomState(0).normal(size=(13, 4))
    network = Network(layer_sizes, activation)
    theta = network.initial_theta(np.random.RandomState(4))
    expected = np.array([hypothesis(network.thetas(theta), x, activation) for x in X])
    assert_allclose(expit(_outputs(network, theta, X, X.shape[0])), expected, rtol=1e-12)


def test_forward_writes_into_the_buffers_it_is_given():
    network = Network((4, 6, 3), "tanh")
    theta = network.initial_theta(np.random.RandomState(1))
    X = np.random.RandomState(2).normal(size=(5, 4))
    buffers = [np.empty((5, 6)), np.empty((5, 3))]
    hidden, Z = forward(NumpyPrimitives(X.dtype, 5), "tanh", network.unpack(theta), X, buffers)
    assert hidden[0] is buffers[0] and Z is buffers[1]
    (W1, b1), (W2, b2) = network.unpack(theta)
    assert_allclose(Z, np.tanh(X @ W1 + b1) @ W2 + b2, rtol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 2, 5, 12, 13, 100])
def test_outputs_over_blocks_equal_the_whole_batch(block_rows):
    network = Network((4, 5, 4, 3))
    theta = network.initial_theta(np.random.RandomState(5))
    X = np.random.RandomState(3).normal(size=(13, 4))
    assert_allclose(
        _outputs(network, theta, X, block_rows), _outputs(network, theta, X, 13), rtol=1e-12
    )
