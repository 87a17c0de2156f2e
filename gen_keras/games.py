"""Gradient dynamics of a two-player game: why a GAN's simultaneous gradient steps need not converge.

The bilinear game min_x max_y V(x, y) = x·y has its only equilibrium at (0, 0). Its gradient field
(∂V/∂x, −∂V/∂y) = (y, −x) is a rotation, so gradient play circles the equilibrium instead of falling into it:
- simultaneous steps, x ← x − η y, y ← y + η x, multiply the distance to (0, 0) by √(1 + η²) each step:
  the players spiral outwards;
- alternating steps, x ← x − η y, then y ← y + η x with the new x, are a map of determinant 1 that keeps
  x² + y² − η x y fixed: for η < 2 the players orbit on that ellipse, their distance staying within a band.
"""

from __future__ import annotations

import numpy as np

UPDATES = ("simultaneous", "alternating")


def bilinear_game(x: float = 1.0, y: float = 1.0, *, steps: int = 100, learning_rate: float = 0.1,
                  update: str = "simultaneous") -> np.ndarray:
    """Plays min_x max_y x·y by gradient steps: x descends ∂V/∂x = y, y ascends ∂V/∂y = x.

    Args:
        x: the minimising player's start.
        y: the maximising player's start.
        steps: the number of steps (each player moves once per step).
        learning_rate: η.
        update: "simultaneous" (both players step from the same point, as a GAN's joint gradient step) or
            "alternating" (y steps after seeing x's new value, as a GAN's D-step-then-G-step loop).

    Returns:
        float64 (steps + 1, 2): (x, y) at the start and after each step.

    Raises:
        ValueError: an unknown `update`, steps < 0 or learning_rate ≤ 0.
    """
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
    if steps < 0 or not learning_rate > 0:
        raise ValueError(f"steps must be >= 0 and learning_rate > 0, got {steps} and {learning_rate}")
    path = np.empty((steps + 1, 2))
    path[0] = x, y
    for t in range(steps):
        new_x = x - learning_rate * y
        y = y + learning_rate * (new_x if update == "alternating" else x)
        x = new_x
        path[t + 1] = x, y
    return path
