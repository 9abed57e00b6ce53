"""Week 1, k-nearest neighbours (knn_predict, choose_k): reference, known mistakes, hidden cases, fixtures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.cases.w01_distances import l2_distances
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, expect, mistakes_on
from dlfs.checks import CheckFailed, Mistake, check_array
from dlfs.checks.w01_knn import CHOOSE_K_HINT
from dlfs.grading import Call

MISTAKES = {
    "largest_label": (
        "in a tie of votes you returned the *largest* tied label; return the smallest "
        "(np.bincount(votes).argmax() does that)."
    ),
    "nearest_in_tie": (
        "in a tie of votes you returned the label of the nearest tied neighbour (as Counter.most_common "
        "does); the rule is the smallest tied label."
    ),
    "farthest": "you voted with the k *farthest* points: sort the distances in increasing order.",
}

CHOOSE_K_MISTAKES = {
    "leak": (
        "your accuracies match cross-validation in which the validation fold is also among the "
        "training points (k=1 then scores 100%): train on the other folds only."
    ),
}

#: Known wrong rules for picking best_k from correct accuracies (the k each picks is compared, not an array).
BEST_K_MISTAKES = {
    "largest_tied": "you returned the *largest* of the k tied for the best mean accuracy; a tie goes to the smallest k.",
    "first_tied": (
        "you returned the first of the tied k in the order of ks (as np.argmax of the means does), but ks need "
        "not be sorted: a tie goes to the smallest k, e.g. min(k for k, m in zip(ks, means) if m == means.max())."
    ),
    "best_fold": "you chose k by its best single fold; best_k has the highest *mean* accuracy over the folds.",
}

KNN_ARGUMENTS = ("dists", "y_train", "k")
CHOOSE_K_ARGUMENTS = ("X", "y", "ks", "num_folds")
MNIST_TRAIN, MNIST_TEST, MNIST_K, MNIST_MIN_ACCURACY = 5000, 1000, 5, 0.90
#: Means of the fold accuracies closer than this are a tie (they are sums of a few fractions).
TIE = 1e-12


# ---- reference -----------------------------------------------------------------------------------


def nearest(dists: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest training points per row; equal distances keep training order."""
    return np.argsort(dists, axis=1, kind="stable")[:, :k]


def _vote_counts(dists: np.ndarray, y_train: np.ndarray, k: int) -> np.ndarray:
    votes = np.asarray(y_train)[nearest(dists, k)]
    counts = np.zeros((dists.shape[0], int(np.max(y_train)) + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(dists.shape[0])[:, None], votes), 1)
    return counts


def knn_predict(dists: np.ndarray, y_train: np.ndarray, k: int) -> np.ndarray:
    """Majority label of the k nearest training points (stable order); a tie in the vote -> the smallest label."""
    return _vote_counts(dists, y_train, k).argmax(axis=1)


def knn_mistakes(dists: np.ndarray, y_train: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """What each known k-NN mistake outputs on (dists, y_train, k)."""
    counts = _vote_counts(dists, y_train, k)
    rows = np.arange(counts.shape[0])
    votes = np.asarray(y_train)[nearest(dists, k)]
    tied = counts[rows[:, None], votes] == counts.max(axis=1, keepdims=True)
    return {
        "largest_label": counts.shape[1] - 1 - counts[:, ::-1].argmax(axis=1),
        "nearest_in_tie": votes[rows, tied.argmax(axis=1)],
        "farthest": _vote_counts(-dists, y_train, k).argmax(axis=1),
    }


def clusters(rng: np.random.Generator, n: int = 60, noise: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 2-D, labels 0..2: overlapping at the default noise (k matters), well
    separated at a small one (every k is right)."""
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 0.0], [2.0, 0.5], [1.0, 2.0]])
    return centres[y] + noise * rng.normal(size=(n, 2)), y


def fold_indices(n: int, num_folds: int) -> list[np.ndarray]:
    """Contiguous folds of range(n), as np.array_split makes them."""
    return np.array_split(np.arange(n), num_folds)


def cross_validate(
    X: np.ndarray, y: np.ndarray, ks: list[int], num_folds: int = 5, distances: Callable = l2_distances,
    predict: Callable = knn_predict, leak: bool = False,
) -> tuple[int, np.ndarray]:
    """(best k, accuracies of shape (len(ks), num_folds)); best = highest mean, ties -> smallest k.

    ``leak=True`` is the known mistake of keeping the validation fold among the training points.
    """
    folds = fold_indices(len(y), num_folds)
    accuracies = np.zeros((len(ks), num_folds))
    for f, val in enumerate(folds):
        train = np.arange(len(y)) if leak else np.concatenate([folds[g] for g in range(num_folds) if g != f])
        dists = distances(X[val], X[train])
        for i, k in enumerate(ks):
            accuracies[i, f] = np.mean(predict(dists, y[train], k) == y[val])
    return best_k(ks, accuracies.mean(axis=1)), accuracies


def tied_best(ks: list[int], scores: np.ndarray) -> list[int]:
    """The k whose score ties the highest, in the order of ks."""
    return [k for k, score in zip(ks, scores) if score >= scores.max() - TIE]


def best_k(ks: list[int], means: np.ndarray) -> int:
    return min(tied_best(ks, means))


def best_k_mistakes(ks: list[int], accuracies: np.ndarray) -> dict[str, int]:
    """The k each known wrong rule picks from the (correct) accuracies."""
    tied = tied_best(ks, accuracies.mean(axis=1))
    return {"largest_tied": max(tied), "first_tied": tied[0], "best_fold": best_k(ks, accuracies.max(axis=1))}


# ---- hidden cases ----------------------------------------------------------------------------------


def _votes_case(calls: list[tuple[np.ndarray, np.ndarray, int, str]], summary: str):
    """Each call's labels must equal the reference's exactly; the known mistakes are named."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (dists, y_train, k, label) in enumerate(calls):
            expect(answers, i, knn_predict(dists, y_train, k), label=label, rtol=0, arguments=KNN_ARGUMENTS,
                   mistakes=lambda: mistakes_on(knn_mistakes(dists, y_train, k), MISTAKES))
        return summary

    return {"calls": [Call((dists, y_train, k)) for dists, y_train, k, _ in calls]}, judge


@case("w01_knn_votes")
def knn_votes(rng: np.random.Generator):
    """Agreement with the reference for k = 1, 2, 5 and k = all training points, one test point, float32 distances."""
    dists, y_train = rng.random((20, 50)), rng.integers(0, 5, 50)
    calls = [(dists, y_train, k, f"20 x 50 distances, k={k}") for k in (1, 2, 5, 50)]
    calls.append((rng.random((1, 3)), np.array([2, 0, 1]), 3, "one test point, three labels, k=3"))
    calls.append((rng.random((10, 30)).astype(np.float32), rng.integers(0, 4, 30), 3, "float32 distances, k=3"))
    return _votes_case(calls, "votes agree with the reference for k = 1, 2, 5, 50, a single test point and float32")


@case("w01_knn_ties")
def knn_ties(rng: np.random.Generator):
    """Ties in the vote go to the smallest label; ties in distance keep training order."""
    calls = [
        (rng.random((40, 12)), rng.integers(0, 4, 12), 4, "many tied votes, k=4"),
        (np.ones((3, 6)), np.array([3, 1, 2, 0, 0, 1]), 3, "equal distances (the first training points win)"),
        (np.array([[0.1, 0.2, 0.3, 0.4]]), np.array([3, 3, 1, 1]), 4, "a 2-2 tie between labels 3 (nearer) and 1"),
    ]
    return _votes_case(calls, "ties go to the smallest label; equal distances keep training order")


def mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distances of 1,000 MNIST test images to 5,000 training images (float64), training labels, test labels)."""
    from dlfs.data import load_mnist

    mnist = load_mnist(normalize="unit")
    dists = l2_distances(mnist.X_test[:MNIST_TEST], mnist.X_train[:MNIST_TRAIN])
    return dists, mnist.y_train[:MNIST_TRAIN], mnist.y_test[:MNIST_TEST]


@case("w01_knn_mnist")
def knn_mnist(rng: np.random.Generator):
    """k=5 on real data: the predictions from 1,000 x 5,000 MNIST distances must be the reference's, exactly.

    The distances and training labels are sent; the test labels stay here. Comparing with the reference's
    predictions (not with the labels) means returning the public test labels does not pass. The test
    accuracy against the real labels is reported, and must be at least 90%.
    """
    dists, y_train, y_test = mnist_split()

    def judge(answers: Answers, context: Context) -> str:
        label = f"{MNIST_TEST:,} MNIST test digits, k={MNIST_K}"
        expected = knn_predict(dists, y_train, MNIST_K)
        got = answers.result(0, label, KNN_ARGUMENTS)
        try:
            expect(answers, 0, expected, label=label, rtol=0, arguments=KNN_ARGUMENTS,
                   mistakes=lambda: mistakes_on(knn_mistakes(dists, y_train, MNIST_K), MISTAKES))
        except CheckFailed as failure:
            if not (isinstance(got, np.ndarray) and got.shape == y_test.shape and got.dtype.kind in "iuf"):
                raise
            raise CheckFailed(f"{failure} Test accuracy of these predictions: {np.mean(got == y_test):.3f}; "
                              "they must be the votes of the k nearest training points on the distances given.",
                              mistake=failure.mistake) from None
        accuracy = float(np.mean(np.asarray(got) == y_test))
        if accuracy < MNIST_MIN_ACCURACY:
            raise CheckFailed(f"{context.name}: {accuracy:.3f} test accuracy with k={MNIST_K} on MNIST; expected at least "
                              f"{MNIST_MIN_ACCURACY}.")
        return f"the same predictions as the reference on {label}: test accuracy {accuracy:.3f}"

    return {"calls": [Call((dists, y_train, MNIST_K))]}, judge


def _as_k(name: str, value: object) -> int:
    """best_k as an int, or a failure when it is not one whole number."""
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf" or not float(array.item()).is_integer():
        raise CheckFailed(f"{name}: best_k must be one of the numbers in ks; got {str(value)[:60]}.")
    return int(array.item())


@case("w01_choose_k")
def choose_k(rng: np.random.Generator):
    """Accuracies per k and fold and the best k agree with the reference, for 3, 4 and 5 folds.

    The last data set has well-separated clusters, on which every k in the unsorted [3, 5, 1] scores 100%:
    best_k must be the smallest, 1, not the largest (5) nor the first in the list (3).
    """
    settings = [([1, 3, 5, 7, 9], 3, 1.2), ([9, 1, 5], 5, 1.2), ([2, 4], 4, 1.2), ([3, 5, 1], 3, 0.1)]
    sets = [(*clusters(rng, n=int(rng.integers(50, 57)), noise=noise), ks, folds) for ks, folds, noise in settings]

    def judge(answers: Answers, context: Context) -> str:
        for i, (X, y, ks, num_folds) in enumerate(sets):
            label = f"ks={ks}, {num_folds} folds"
            name = f"{context.name} ({label})"
            best, expected = cross_validate(X, y, ks, num_folds)
            _, leaked = cross_validate(X, y, ks, num_folds, leak=True)
            got_k, accuracies = answers.parts(answers.result(i, label, CHOOSE_K_ARGUMENTS), "best_k", "accuracies")
            check_array(f"{name}: accuracies", accuracies, expected, rtol=1e-9, atol=1e-12, hint=CHOOSE_K_HINT,
                        mistakes=[Mistake("leak", leaked, CHOOSE_K_MISTAKES["leak"])])
            got = _as_k(name, answers.value(got_k, label))
            if got != best:
                why = next((BEST_K_MISTAKES[m] for m, k in best_k_mistakes(ks, expected).items() if k == got), "")
                raise CheckFailed(f"{name}: best k should be {best} (highest mean accuracy over the folds, ties to the "
                                  f"smallest k); got {got}{': ' + why if why else '.'}")
        return "accuracies and best k agree with the reference for 3, 4 and 5 folds, and a tie goes to the smallest k"

    return {"calls": [Call((X, y, ks, num_folds)) for X, y, ks, num_folds in sets]}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(14)
    dists, y_train = rng.random((6, 8)), np.array([0, 1, 2, 1, 2, 0, 3, 3])
    predict = {"dists": dists, "y_train": y_train}
    for k in (1, 3, 4):
        predict |= {f"expected_k{k}": knn_predict(dists, y_train, k)}
        predict |= stored(knn_mistakes(dists, y_train, k), MISTAKES, suffix=f"_k{k}")
    X, y = clusters(np.random.default_rng(15))
    ks = [1, 3, 5, 9]
    best, accuracies = cross_validate(X, y, ks, 3)
    _, leaked = cross_validate(X, y, ks, 3, leak=True)
    choose = {"X": X, "y": y, "ks": np.array(ks), "num_folds": np.array(3), "expected_best_k": np.array(best),
              "expected_accuracies": accuracies} | stored({"leak": leaked}, CHOOSE_K_MISTAKES)
    return {"w01_knn_predict": predict, "w01_choose_k": choose}
