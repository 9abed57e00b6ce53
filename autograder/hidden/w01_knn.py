"""Hidden tests of week 1's k-nearest neighbours: knn_predict and choose_k."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.hidden import case
from autograder.reference import w01_distances
from autograder.reference import w01_knn as ref
from dlfs.checks import CheckFailed, Mistake, call, check_array, expect, unpack
from dlfs.checks.w01_knn import CHOOSE_K_HINT, CHOOSE_K_MISTAKES, KNN_MISTAKES
from dlfs.data import load_mnist

MNIST_TRAIN, MNIST_TEST, MNIST_K, MNIST_MIN_ACCURACY = 5000, 1000, 5, 0.90


def _votes(fn: Callable, dists: np.ndarray, y_train: np.ndarray, k: int, label: str) -> None:
    expect(fn, (dists, y_train, k), ref.knn_predict(dists, y_train, k), messages=KNN_MISTAKES,
           mistake_outputs=ref.knn_mistakes(dists, y_train, k), label=label)


@case("w01_knn_votes")
def knn_votes(fn: Callable) -> str:
    """Agreement with the reference for k = 1, 2, 5 and k = all training points."""
    rng = np.random.default_rng(601)
    dists, y_train = rng.random((20, 50)), rng.integers(0, 5, 50)
    for k in (1, 2, 5, 50):
        _votes(fn, dists, y_train, k, f"20 x 50 distances, k={k}")
    _votes(fn, rng.random((1, 3)), np.array([2, 0, 1]), 3, "one test point, three labels, k=3")
    return "votes agree with the reference for k = 1, 2, 5, 50 and a single test point"


@case("w01_knn_ties")
def knn_ties(fn: Callable) -> str:
    """Ties in the vote go to the smallest label; ties in distance keep training order."""
    rng = np.random.default_rng(602)
    dists, y_train = rng.random((40, 12)), rng.integers(0, 4, 12)
    _votes(fn, dists, y_train, 4, "many tied votes, k=4")
    equal = np.ones((3, 6))
    _votes(fn, equal, np.array([3, 1, 2, 0, 0, 1]), 3, "equal distances (the first training points win)")
    crafted = np.array([[0.1, 0.2, 0.3, 0.4]])
    _votes(fn, crafted, np.array([3, 3, 1, 1]), 4, "a 2-2 tie between labels 3 (nearer) and 1")
    return "ties go to the smallest label; equal distances keep training order"


@case("w01_knn_mnist")
def knn_mnist(fn: Callable) -> str:
    """At least 90% test accuracy with k=5 on 5,000 MNIST training and 1,000 test images."""
    mnist = load_mnist(normalize="unit")
    X_train, y_train = mnist.X_train[:MNIST_TRAIN], mnist.y_train[:MNIST_TRAIN]
    X_test, y_test = mnist.X_test[:MNIST_TEST], mnist.y_test[:MNIST_TEST]
    predictions = call(fn, w01_distances.l2_distances(X_test, X_train), y_train, MNIST_K)
    accuracy = float(np.mean(np.asarray(predictions) == y_test))
    if accuracy < MNIST_MIN_ACCURACY:
        raise CheckFailed(f"{fn.__name__}: {accuracy:.3f} test accuracy with k={MNIST_K} on MNIST; expected at least "
                          f"{MNIST_MIN_ACCURACY}.")
    return f"test accuracy {accuracy:.3f} with k={MNIST_K}"


@case("w01_choose_k")
def choose_k(fn: Callable) -> str:
    """Accuracies per k and fold and the best k agree with the reference, for 3 and 5 folds."""
    for seed, ks, num_folds in ((603, [1, 3, 5, 7, 9], 3), (604, [9, 1, 5], 5), (605, [2, 4], 4)):
        X, y = ref.clusters(seed, n=50 + seed % 7)
        best, expected = ref.cross_validate(X, y, ks, num_folds)
        _, leaked = ref.cross_validate(X, y, ks, num_folds, leak=True)
        result = unpack(fn.__name__, call(fn, X, y, ks, num_folds), "best_k", "accuracies")
        check_array(f"{fn.__name__} (ks={ks}, {num_folds} folds): accuracies", result[1], expected, rtol=1e-9,
                    atol=1e-12, mistakes=[Mistake("leak", leaked, CHOOSE_K_MISTAKES["leak"])], hint=CHOOSE_K_HINT)
        if int(result[0]) != best:
            raise CheckFailed(f"{fn.__name__} (ks={ks}, {num_folds} folds): best k should be {best} (highest mean "
                              f"accuracy, ties to the smallest k); got {result[0]}.")
    return "accuracies and best k agree with the reference for 3, 4 and 5 folds"
