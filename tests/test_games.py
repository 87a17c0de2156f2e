"""The bilinear game min_x max_y x·y: simultaneous gradient steps spiral away from the equilibrium (0, 0),
alternating steps orbit it."""

import numpy as np
import pytest

from gen_keras import games


def test_simultaneous_steps_spiral_out_by_the_factor_sqrt_one_plus_eta_squared():
    eta = 0.1
    path = games.bilinear_game(1.0, 0.5, steps=200, learning_rate=eta, update="simultaneous")
    distance = np.linalg.norm(path, axis=1)
    assert np.all(np.diff(distance) > 0)  # every step moves away from the equilibrium
    np.testing.assert_allclose(distance[1:] / distance[:-1], np.sqrt(1 + eta ** 2), rtol=1e-12)
    assert distance[-1] > 2.5 * distance[0]  # (1.01)^100 = 2.7


def test_alternating_steps_orbit_at_a_bounded_distance():
    """Alternating steps keep x² + y² − η x y fixed (the map has determinant 1 and this invariant ellipse): the
    distance stays within a band, neither growing nor shrinking over many turns."""
    eta = 0.1
    path = games.bilinear_game(1.0, 0.5, steps=2000, learning_rate=eta, update="alternating")
    x, y = path[:, 0], path[:, 1]
    np.testing.assert_allclose(x * x + y * y - eta * x * y, 1.0 + 0.25 - eta * 0.5, rtol=1e-9)
    distance = np.linalg.norm(path, axis=1)
    assert distance.max() < 1.1 * distance[0] and distance.min() > 0.9 * distance[0]
    assert np.sum(np.diff(np.sign(x)) != 0) >= 10  # it keeps turning: 2000 steps of about 0.1 rad each


def test_one_step_by_hand_and_bad_arguments():
    np.testing.assert_allclose(games.bilinear_game(1.0, 2.0, steps=1, learning_rate=0.5, update="simultaneous")[1],
                               [1.0 - 0.5 * 2.0, 2.0 + 0.5 * 1.0])
    np.testing.assert_allclose(games.bilinear_game(1.0, 2.0, steps=1, learning_rate=0.5, update="alternating")[1],
                               [0.0, 2.0 + 0.5 * 0.0])
    with pytest.raises(ValueError, match="update must be one of"):
        games.bilinear_game(update="together")
    with pytest.raises(ValueError, match="learning_rate"):
        games.bilinear_game(learning_rate=0.0)
