"""The layout of ``_network``: θ's views in both layouts and the initial draw."""

import numpy as np
from numpy.testing import assert_array_equal

from sklearn_bp._network import Network


def test_pack_unpack_and_course_matrices():
    network = Network((3, 4, 2))
    theta = np.arange(network.n_params, dtype=np.float64)
    (W1, b1), (W2, b2) = network.unpack(theta)
    assert (W1.shape, b1.shape, W2.shape, b2.shape) == ((3, 4), (4,), (4, 2), (2,))
    Theta1, Theta2 = network.thetas(theta)
    assert Theta1.shape == (4, 4) and Theta2.shape == (2, 5)
    assert_array_equal(Theta1[:, 0], b1)
    assert_array_equal(Theta1[:, 1:], W1.T)
    assert_array_equal(network.pack([W1, W2], [b1, b2]), theta)
    W1[0, 0] = -1.0  # views: writing a layer writes θ
    assert theta[4] == -1.0


def test_initial_theta_is_symmetric_uniform_within_epsilon():
    network = Network((64, 25, 10))
    theta = network.initial_theta(np.random.RandomState(0))
    for Theta, (fan_in, fan_out) in zip(network.thetas(theta), [(64, 25), (25, 10)]):
        epsilon = np.sqrt(6) / np.sqrt(fan_in + fan_out)
        assert np.abs(Theta).max() <= epsilon
        assert np.abs(Theta).max() > 0.9 * epsilon
        assert abs(Theta.mean()) < 0.1 * epsilon
    assert_array_equal(theta, network.initial_theta(np.random.RandomState(0)))
