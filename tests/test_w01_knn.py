"""Week 1, k-nearest neighbours: the reference, the visible checks and the hidden tests.

The hidden tests are fed deliberately wrong implementations (each a mistake students make, and one that
cheats with the public MNIST test labels) that they must fail, with the diagnosis they must give, and
correct alternatives that they must pass.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w01_distances
from autograder.cases import w01_knn as ref
from autograder.protocol import get_case
from dlfs.checks import week01 as visible
from dlfs.data import load_mnist

pytestmark = [pytest.mark.week01, pytest.mark.w01_knn, pytest.mark.autograder]


# ---- knn_predict: correct implementations, written differently from the solution and the reference --


def knn_bincount(dists, y_train, k):
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
    return np.array([np.bincount(y_train[row]).argmax() for row in nearest])


def knn_sorted_counter(dists, y_train, k):
    out = []
    for row in dists:
        votes = Counter(y_train[np.argsort(row, kind="stable")[:k]].tolist())
        best = max(votes.values())
        out.append(min(label for label, count in votes.items() if count == best))
    return np.array(out)


def knn_vectorised_counts(dists, y_train, k):
    """One-hot votes summed per row; argmax takes the first (smallest) tied label."""
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
    return np.eye(y_train.max() + 1, dtype=int)[y_train[nearest]].sum(axis=1).argmax(axis=1)


def knn_float_labels(dists, y_train, k):
    """Returns the right labels as floats: the labels are compared by value."""
    return knn_bincount(dists, y_train, k).astype(np.float64)


# ---- knn_predict: wrong implementations -----------------------------------------------------------


def knn_counter_most_common(dists, y_train, k):
    return np.array([Counter(y_train[np.argsort(row, kind="stable")[:k]].tolist()).most_common(1)[0][0] for row in dists])


def knn_largest_in_tie(dists, y_train, k):
    out = []
    for row in dists:
        counts = np.bincount(y_train[np.argsort(row, kind="stable")[:k]])
        out.append(len(counts) - 1 - counts[::-1].argmax())
    return np.array(out)


def knn_farthest(dists, y_train, k):
    return knn_bincount(-dists, y_train, k)


def knn_off_by_one(dists, y_train, k):
    return knn_bincount(dists, y_train, k + 1)


def knn_last_among_equal(dists, y_train, k):
    """Among equal distances, prefers the *last* training point instead of the first."""
    order = np.arange(dists.shape[1])[::-1]
    nearest = order[np.argsort(dists[:, order], axis=1, kind="stable")[:, :k]]
    return np.array([np.bincount(y_train[row]).argmax() for row in nearest])


def knn_sorts_in_place(dists, y_train, k):
    dists.sort(axis=1)
    return knn_bincount(dists, y_train, k)


def knn_stub(dists, y_train, k):
    raise NotImplementedError()


def knn_reads_the_test_labels(dists, y_train, k):
    """Cheats: ignores the distances and returns the public MNIST test labels."""
    return load_mnist(normalize="unit").y_test[: len(dists)]


# ---- choose_k --------------------------------------------------------------------------------------


def choose_k_with(predict=knn_bincount, leak=False, pick="smallest"):
    """Cross-validation with a k-NN prediction, optionally leaking, and a rule to pick best_k."""

    def choose_k(X, y, ks, num_folds=5):
        folds = np.array_split(np.arange(len(y)), num_folds)
        acc = np.zeros((len(ks), num_folds))
        for f, val in enumerate(folds):
            train = np.arange(len(y)) if leak else np.concatenate([folds[g] for g in range(num_folds) if g != f])
            d = w01_distances.l2_distances(X[val], X[train])
            for i, k in enumerate(ks):
                acc[i, f] = np.mean(predict(d, y[train], k) == y[val])
        means = acc.mean(1)
        tied = [k for k, m in zip(ks, means) if m == means.max()]
        if pick == "largest":
            return max(tied), acc
        if pick == "first":
            return ks[int(np.argmax(means))], acc
        if pick == "best_fold":
            best = acc.max(1)
            return min(k for k, m in zip(ks, best) if m == best.max()), acc
        return min(tied), acc

    return choose_k


choose_k_correct = choose_k_with()
choose_k_vectorised_knn = choose_k_with(predict=knn_vectorised_counts)
choose_k_leak = choose_k_with(leak=True)
choose_k_largest_tie = choose_k_with(pick="largest")
choose_k_first_tie = choose_k_with(pick="first")
choose_k_best_fold = choose_k_with(pick="best_fold")


def choose_k_sorted_isclose(X, y, ks, num_folds=5):
    """Sorts ks first and breaks ties with np.isclose; returns a NumPy integer."""
    _, acc = choose_k_correct(X, y, ks, num_folds)
    means = acc.mean(1)
    order = np.argsort(ks, kind="stable")
    return np.asarray(ks)[order][np.isclose(means[order], means.max()).argmax()], acc


def choose_k_shuffled_folds(X, y, ks, num_folds=5):
    perm = np.random.default_rng(0).permutation(len(y))
    return choose_k_correct(X[perm], y[perm], ks, num_folds)


def choose_k_accuracies_only(X, y, ks, num_folds=5):
    return choose_k_correct(X, y, ks, num_folds)[1]


# ---- the reference, against computations by hand ------------------------------------------------------


def test_reference_knn_by_hand():
    dists = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    y_train = np.array([3, 3, 1, 1])
    assert ref.knn_predict(dists, y_train, 1).tolist() == [3, 1]
    assert ref.knn_predict(dists, y_train, 4).tolist() == [1, 1]  # 2-2 tie: the smallest label
    assert ref.knn_predict(dists, y_train, 3).tolist() == [3, 1]


def test_mistake_outputs_are_those_mistakes():
    rng = np.random.default_rng(3)
    dists, y_train = rng.random((30, 10)), rng.integers(0, 4, 10)
    for k in (1, 3, 4, 10):
        outputs = ref.knn_mistakes(dists, y_train, k)
        np.testing.assert_array_equal(outputs["largest_label"], knn_largest_in_tie(dists, y_train, k))
        np.testing.assert_array_equal(outputs["nearest_in_tie"], knn_counter_most_common(dists, y_train, k))
        np.testing.assert_array_equal(outputs["farthest"], knn_farthest(dists, y_train, k))


def test_reference_cross_validation_by_hand():
    X, y = ref.clusters(np.random.default_rng(1), n=12)
    best, acc = ref.cross_validate(X, y, [1, 3], 3)
    folds = [range(0, 4), range(4, 8), range(8, 12)]
    for f, val in enumerate(folds):
        train = [i for i in range(12) if i not in val]
        for i, k in enumerate([1, 3]):
            right = 0
            for v in val:
                order = sorted(train, key=lambda t: (np.linalg.norm(X[v] - X[t]), t))[:k]
                votes = Counter(y[order].tolist())
                top = max(votes.values())
                right += min(lbl for lbl, c in votes.items() if c == top) == y[v]
            assert acc[i, f] == pytest.approx(right / 4)
    means = acc.mean(1)
    assert best == (1 if means[0] >= means[1] else 3)


def test_choose_k_hidden_inputs_hold_an_unsorted_tie():
    """The last data set: every k scores the same, the smallest k is neither the largest nor the first."""
    inputs, _ = get_case("w01_choose_k").build()
    X, y, ks, num_folds = inputs["calls"][-1].args
    best, acc = ref.cross_validate(X, y, ks, num_folds)
    assert np.all(acc == acc[0]) and best == min(ks) != ks[0] and max(ks) != ks[0]
    for call in inputs["calls"][:-1]:  # elsewhere, no near-tie that exact == and the tolerance would split
        means = ref.cross_validate(*call.args)[1].mean(1)
        gaps = np.abs(means[:, None] - means[None, :])
        assert np.all((gaps == 0) | (gaps > 1e-9))


# ---- visible checks ----------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.knn_predict, knn_bincount), (visible.knn_predict, knn_sorted_counter),
    (visible.knn_predict, knn_vectorised_counts), (visible.choose_k, choose_k_correct),
    (visible.choose_k, choose_k_sorted_isclose),
]

VISIBLE_WRONG = [
    (visible.knn_predict, knn_counter_most_common, "nearest tied neighbour"),
    (visible.knn_predict, knn_largest_in_tie, "largest"),
    (visible.knn_predict, knn_farthest, "farthest"),
    (visible.knn_predict, knn_sorts_in_place, "changed its input"),
    (visible.knn_predict, knn_stub, "not implemented"),
    (visible.choose_k, choose_k_leak, "validation fold"),
    (visible.choose_k, choose_k_shuffled_folds, "values are wrong.*Hint: accuracies\\[i, f\\]"),
    (visible.choose_k, choose_k_accuracies_only, "must return a tuple"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


# ---- hidden tests ------------------------------------------------------------------------------------

CORRECT = {
    "w01_knn_votes": [knn_bincount, knn_sorted_counter, knn_vectorised_counts, knn_float_labels, ref.knn_predict],
    "w01_knn_ties": [knn_bincount, knn_sorted_counter, knn_vectorised_counts],
    "w01_knn_mnist": [knn_bincount, knn_vectorised_counts],
    "w01_choose_k": [choose_k_correct, choose_k_vectorised_knn, choose_k_sorted_isclose],
}

WRONG = [
    ("w01_knn_votes", knn_farthest, "farthest"),
    ("w01_knn_votes", knn_off_by_one, "values are wrong|smallest|nearest tied|largest"),
    ("w01_knn_votes", knn_sorts_in_place, "changed its input `dists`"),
    ("w01_knn_votes", knn_stub, "not implemented"),
    ("w01_knn_ties", knn_counter_most_common, "nearest tied neighbour"),
    ("w01_knn_ties", knn_largest_in_tie, "largest"),
    ("w01_knn_ties", knn_last_among_equal, "values are wrong|nearest tied|largest"),
    ("w01_knn_mnist", knn_farthest, "farthest.*Test accuracy of these predictions: 0\\.0"),
    ("w01_knn_mnist", knn_largest_in_tie, "largest"),
    ("w01_knn_mnist", knn_reads_the_test_labels, "values are wrong.*Test accuracy of these predictions: 1.000; they must be"),
    ("w01_choose_k", choose_k_leak, "validation fold is also among the training points"),
    ("w01_choose_k", choose_k_best_fold, "best k should be 9 .*best single fold"),
    ("w01_choose_k", choose_k_largest_tie, r"ks=\[3, 5, 1\].*best k should be 1 .*got 5: .*largest"),
    ("w01_choose_k", choose_k_first_tie, r"ks=\[3, 5, 1\].*best k should be 1 .*got 3: .*first of the tied k"),
    ("w01_choose_k", choose_k_shuffled_folds, "values are wrong"),
    ("w01_choose_k", choose_k_accuracies_only, "must return a tuple"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w01_knn", CORRECT, WRONG)
