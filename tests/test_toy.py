"""Tests of dlfs.toy: the 2-D data sets follow their stated geometry, are balanced and reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlfs.toy import SPIRAL_TURN, gaussian_ring, ring_centers, spirals, two_moons, xor

pytestmark = pytest.mark.library

#: Each generator with small keyword arguments, and the number of groups (classes or modes) it makes.
GENERATORS = [
    (xor, {}, 4),
    (two_moons, {}, 2),
    (spirals, {}, 3),
    (spirals, {"classes": 5}, 5),
    (gaussian_ring, {}, 8),
    (gaussian_ring, {"modes": 3, "radius": 1.0, "std": 0.1}, 3),
]
IDS = ["xor", "moons", "spirals3", "spirals5", "ring8", "ring3"]


@pytest.mark.parametrize(("make", "kwargs", "groups"), GENERATORS, ids=IDS)
@pytest.mark.parametrize("n", [9, 100, 257])
def test_shapes_and_dtypes(make, kwargs, groups, n):
    X, y = make(n=n, seed=1, **kwargs)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    labels = 2 if make is xor else groups
    assert set(np.unique(y)) <= set(range(labels))


@pytest.mark.parametrize(("make", "kwargs", "groups"), GENERATORS, ids=IDS)
def test_same_seed_same_data_other_seed_other_data(make, kwargs, groups):
    X1, y1 = make(n=120, seed=7, **kwargs)
    X2, y2 = make(n=120, seed=7, **kwargs)
    X3, _ = make(n=120, seed=8, **kwargs)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize(("make", "kwargs", "groups"), GENERATORS, ids=IDS)
@pytest.mark.parametrize("n", [40, 41, 42, 43, 1001])
def test_classes_are_balanced_and_shuffled(make, kwargs, groups, n):
    _, y = make(n=n, seed=0, **kwargs)
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1, counts
    assert counts.sum() == n
    assert not np.all(np.diff(y) >= 0), "the rows should be shuffled, not sorted by label"


def test_xor_labels_are_the_xor_of_the_quadrant_signs():
    X, y = xor(n=400, noise=0.1, seed=3)     # 10 standard deviations from the axes: no point crosses
    np.testing.assert_array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))
    assert np.bincount(y).tolist() == [200, 200]
    corners = np.sign(X)
    assert len(np.unique(corners, axis=0)) == 4


def test_xor_without_noise_is_exactly_the_corners():
    X, _ = xor(n=8, noise=0.0)
    assert set(map(tuple, X)) == {(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)}


def test_two_moons_without_noise_lie_on_their_half_circles():
    X, y = two_moons(n=300, noise=0.0, seed=2)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0)
    assert np.all(upper[:, 1] >= 0)
    np.testing.assert_allclose(np.linalg.norm(lower - [1.0, 0.5], axis=1), 1.0)
    assert np.all(lower[:, 1] <= 0.5)


def test_spirals_without_noise_follow_their_arm():
    k = 4
    X, y = spirals(n=400, classes=k, noise=0.0, seed=5)
    r = np.linalg.norm(X, axis=1)
    assert np.all((r >= 0.1) & (r <= 1.0))
    expected = 2 * math.pi * y / k + SPIRAL_TURN * r
    offset = np.angle(np.exp(1j * (np.arctan2(X[:, 1], X[:, 0]) - expected)))   # wrapped to (-pi, pi]
    np.testing.assert_allclose(offset, 0.0, atol=1e-9)


def test_ring_centers_are_evenly_spaced_on_the_circle():
    centers = ring_centers(modes=6, radius=3.0)
    assert centers.shape == (6, 2) and centers.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 3.0)
    np.testing.assert_allclose(centers[0], [3.0, 0.0])
    gaps = np.linalg.norm(np.diff(np.vstack([centers, centers[:1]]), axis=0), axis=1)
    np.testing.assert_allclose(gaps, 2 * 3.0 * math.sin(math.pi / 6))


def test_ring_points_are_near_their_own_center():
    X, y = gaussian_ring(n=2000, modes=8, radius=2.0, std=0.02, seed=4)
    centers = ring_centers(8, 2.0)
    distance = np.linalg.norm(X - centers[y], axis=1)
    assert distance.max() < 6 * 0.02
    nearest = np.argmin(np.linalg.norm(X[:, None, :] - centers[None], axis=2), axis=1)
    np.testing.assert_array_equal(nearest, y)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=0.01)   # balanced modes: the ring is centred


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: xor(n=0), "n must be at least 4"),
        (lambda: xor(n=10.0), "n must be an integer"),
        (lambda: xor(n=True), "n must be an integer"),
        (lambda: xor(noise=-0.1), "noise must be non-negative"),
        (lambda: two_moons(noise=float("nan")), "noise must be a finite number"),
        (lambda: two_moons(n=1), "n must be at least 2"),
        (lambda: spirals(classes=1), "classes must be at least 2"),
        (lambda: spirals(n=2, classes=3), "n must be at least classes"),
        (lambda: spirals(noise="0.1"), "noise must be a finite number"),
        (lambda: gaussian_ring(modes=0), "modes must be at least 1"),
        (lambda: gaussian_ring(std=-1.0), "std must be non-negative"),
        (lambda: ring_centers(radius=0.0), "radius must be positive"),
        (lambda: ring_centers(radius=float("inf")), "radius must be a finite number"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
