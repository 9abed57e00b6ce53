"""Small seeded 2-D data sets for classifiers and generative models you can draw.

Every generator returns ``(X, y)``: ``X`` float64 of shape (n, 2), ``y`` int64 of shape (n,). The n points
are split between the groups (classes or modes) as evenly as possible, the first groups getting one extra
point when n does not divide, and the rows are shuffled. The same ``seed`` always gives the same arrays
(``np.random.default_rng(seed)``). ``noise`` is the standard deviation of Gaussian noise added to each
coordinate.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["xor", "two_moons", "spirals", "gaussian_ring", "ring_centers"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_float(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, got {value}")
    return float(value)


def _groups(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Group indices 0..k-1 for n points: group g has n // k + (g < n % k) of them, in a random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


def xor(n: int = 200, noise: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian clusters at the corners c = (s1, s2), s1, s2 in {-1, +1}, labelled by XOR of the signs.

    x = c + noise * e with e ~ N(0, I), and y = [s1 > 0] XOR [s2 > 0]: 0 for the corners (1, 1) and (-1, -1),
    1 for (-1, 1) and (1, -1). The label belongs to the corner, so with a large ``noise`` a point can stray
    into a neighbouring quadrant. No line separates the two classes. Each corner gets n/4 points (+-1).
    """
    n, noise = _check_int("n", n, 4), _check_float("noise", noise)
    rng = np.random.default_rng(seed)
    corners = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])   # alternating labels 0, 1, 0, 1
    g = _groups(n, 4, rng)
    X = corners[g] + noise * rng.standard_normal((n, 2))
    return X, (g % 2).astype(np.int64)


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles of radius 1.

    With t ~ U(0, pi): class 0 is (cos t, sin t), the upper half of the circle around (0, 0); class 1 is
    (1 - cos t, 1/2 - sin t), the lower half of the circle around (1, 1/2). Then noise * N(0, I) is added.
    """
    n, noise = _check_int("n", n, 2), _check_float("noise", noise)
    rng = np.random.default_rng(seed)
    y = _groups(n, 2, rng)
    t = rng.uniform(0.0, math.pi, size=n)
    upper = np.column_stack([np.cos(t), np.sin(t)])
    lower = np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])
    X = np.where(y[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))
    return X, y


#: How far (in radians) an arm of ``spirals`` turns between radius 0 and radius 1.
SPIRAL_TURN = 4.0


def spirals(n: int = 300, classes: int = 3, noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms, one per class.

    A point of class k has a radius r ~ U(0.1, 1) and the angle theta = 2 pi k / K + SPIRAL_TURN * r (K =
    ``classes``), so every arm starts near the centre and winds 4 radians outwards, the arms 2 pi / K apart;
    x = r (cos theta, sin theta) + noise * N(0, I).
    """
    n, k = _check_int("n", n, 1), _check_int("classes", classes, 2)
    noise = _check_float("noise", noise)
    if n < k:
        raise ValueError(f"n must be at least classes = {k} so that every class has a point, got n = {n}")
    rng = np.random.default_rng(seed)
    y = _groups(n, k, rng)
    r = rng.uniform(0.1, 1.0, size=n)
    theta = 2.0 * math.pi * y / k + SPIRAL_TURN * r
    X = r[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]) + noise * rng.standard_normal((n, 2))
    return X, y


def ring_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The (modes, 2) centres mu_k = radius * (cos(2 pi k / modes), sin(2 pi k / modes)), k = 0..modes-1."""
    modes, radius = _check_int("modes", modes, 1), _check_float("radius", radius, positive=True)
    angle = 2.0 * math.pi * np.arange(modes) / modes
    return radius * np.column_stack([np.cos(angle), np.sin(angle)])


def gaussian_ring(
    n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A mixture of ``modes`` equal Gaussians N(mu_k, std^2 I) centred on a circle (see :func:`ring_centers`).

    The classic target of a GAN on 2-D data: a generator that covers only some of the modes is easy to see.
    y is the mode k each point was drawn from (not a class to predict); each mode gets n / modes points (+-1).
    """
    n, std = _check_int("n", n, 1), _check_float("std", std)
    centers = ring_centers(modes, radius)
    rng = np.random.default_rng(seed)
    y = _groups(n, len(centers), rng)
    return centers[y] + std * rng.standard_normal((n, 2)), y
