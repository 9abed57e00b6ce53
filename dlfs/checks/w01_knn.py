"""Visible checks of week 1's k-nearest-neighbour tasks: knn_predict and choose_k."""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import CheckFailed, Mistake, call, check_array, expect, fixture, passed, stored_mistakes, unpack

KNN_MISTAKES = {
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
CHOOSE_K_HINT = (
    "accuracies[i, f] is the accuracy of ks[i] on fold f (folds from np.array_split). choose_k calls your "
    "l2_distances_no_loops and knn_predict: make their checks pass first."
)


def knn_predict(fn: Callable) -> None:
    """Check majority votes, including ties, on stored distances."""
    arrays = fixture("w01_knn_predict")
    for k in (1, 3, 4):
        expect(fn, (arrays["dists"], arrays["y_train"], k), arrays[f"expected_k{k}"], messages=KNN_MISTAKES,
               mistake_outputs=stored_mistakes({key.replace(f"_k{k}", ""): v for key, v in arrays.items()}, KNN_MISTAKES),
               label=f"k={k}")
    passed(f"{fn.__name__}: majority votes for k = 1, 3, 4, ties going to the smallest label")


def choose_k(fn: Callable) -> None:
    """Check k-fold cross-validation on a stored small data set (uses your distances and knn_predict)."""
    arrays = fixture("w01_choose_k")
    ks = [int(k) for k in arrays["ks"]]
    best_k, accuracies = unpack(fn.__name__, call(fn, arrays["X"], arrays["y"], ks, int(arrays["num_folds"])),
                                "best_k", "accuracies")
    check_array(f"{fn.__name__}'s accuracies", accuracies, arrays["expected_accuracies"], rtol=1e-9, atol=1e-12,
                mistakes=[Mistake("leak", arrays["mistake_leak"], CHOOSE_K_MISTAKES["leak"])],
                hint=CHOOSE_K_HINT)
    if int(best_k) != int(arrays["expected_best_k"]):
        raise CheckFailed(
            f"{fn.__name__}: best k should be {int(arrays['expected_best_k'])} (highest mean accuracy over "
            f"the folds, ties to the smallest k); got {best_k}."
        )
    passed(f"{fn.__name__}: accuracies per k and fold match, best k = {int(best_k)}")
