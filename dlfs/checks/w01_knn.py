"""Week 1, k-nearest neighbours: the visible checks of knn_predict and choose_k. Their hidden cases need
only calls (the default probe)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, expect, fixture, passed, stored_mistakes, unpack

__all__ = ["knn_predict", "choose_k"]

CHOOSE_K_HINT = (
    "accuracies[i, f] is the accuracy of ks[i] on fold f (folds from np.array_split). choose_k calls your "
    "l2_distances_no_loops and knn_predict: make their checks pass first."
)


def knn_predict(fn: Callable) -> None:
    """Check majority votes for k = 1, 3, 4 (with ties in the vote) on stored distances."""
    arrays = fixture("w01_knn_predict")
    for k in (1, 3, 4):
        expect(fn, (arrays["dists"], arrays["y_train"], k), arrays[f"expected_k{k}"], rtol=0,
               mistakes=stored_mistakes(arrays, suffix=f"_k{k}"), label=f"k={k}")
    passed(f"{fn.__name__}: majority votes for k = 1, 3, 4, ties going to the smallest label")


def choose_k(fn: Callable) -> None:
    """Check k-fold cross-validation on a stored small data set (uses your distances and knn_predict)."""
    arrays = fixture("w01_choose_k")
    ks = [int(k) for k in arrays["ks"]]
    best_k, accuracies = unpack(fn.__name__, call(fn, arrays["X"], arrays["y"], ks, int(arrays["num_folds"])),
                                "best_k", "accuracies")
    check_array(f"{fn.__name__}'s accuracies", accuracies, arrays["expected_accuracies"], rtol=1e-9, atol=1e-12,
                mistakes=stored_mistakes(arrays), hint=CHOOSE_K_HINT)
    expected_k = int(arrays["expected_best_k"])
    if not isinstance(best_k, int | float | np.integer | np.floating) or best_k != expected_k:
        raise CheckFailed(
            f"{fn.__name__}: best k should be {expected_k} (highest mean accuracy over the folds, ties to the "
            f"smallest k); got {best_k!r}."
        )
    passed(f"{fn.__name__}: accuracies per k and fold match, best k = {expected_k}")
