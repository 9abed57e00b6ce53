"""Week 1 k-NN: the hidden tests pass correct variants and fail the known mistakes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hidden_suite import hidden_tests, name_of

from autograder.reference import w01_distances
from autograder.reference import w01_knn as ref
from dlfs.checks import CheckFailed
from dlfs.checks import week01 as visible

pytestmark = [pytest.mark.week01, pytest.mark.w01_knn, pytest.mark.autograder]


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
    keyed = dists[:, order]
    nearest = order[np.argsort(keyed, axis=1, kind="stable")[:, :k]]
    return np.array([np.bincount(y_train[row]).argmax() for row in nearest])


def choose_k_with(distances=w01_distances.l2_distances, predict=knn_bincount, leak=False, best="mean"):
    def choose_k(X, y, ks, num_folds=5):
        folds = np.array_split(np.arange(len(y)), num_folds)
        acc = np.zeros((len(ks), num_folds))
        for f, val in enumerate(folds):
            train = np.arange(len(y)) if leak else np.concatenate([folds[g] for g in range(num_folds) if g != f])
            d = distances(X[val], X[train])
            for i, k in enumerate(ks):
                acc[i, f] = np.mean(predict(d, y[train], k) == y[val])
        score = acc.mean(1) if best == "mean" else acc.max(1)
        if best == "largest":
            return max(k for k, s in zip(ks, score) if s == score.max()), acc
        return min(k for k, s in zip(ks, score) if s == score.max()), acc
    return choose_k


choose_k_correct = choose_k_with()
choose_k_leak = choose_k_with(leak=True)
choose_k_best_fold = choose_k_with(best="max")


def choose_k_shuffled_folds(X, y, ks, num_folds=5):
    perm = np.random.default_rng(0).permutation(len(y))
    return choose_k_correct(X[perm], y[perm], ks, num_folds)


CORRECT = {
    "w01_knn_votes": [knn_bincount, knn_sorted_counter, ref.knn_predict],
    "w01_knn_ties": [knn_bincount, knn_sorted_counter],
    "w01_knn_mnist": [knn_bincount],
    "w01_choose_k": [choose_k_correct],
}

WRONG = [
    ("w01_knn_votes", knn_farthest, "farthest"),
    ("w01_knn_votes", knn_off_by_one, "values are wrong|smallest|nearest tied|largest"),
    ("w01_knn_ties", knn_counter_most_common, "nearest tied neighbour"),
    ("w01_knn_ties", knn_largest_in_tie, "largest"),
    ("w01_knn_ties", knn_last_among_equal, "values are wrong|nearest tied|largest"),
    ("w01_knn_mnist", knn_farthest, "test accuracy"),
    ("w01_choose_k", choose_k_leak, "validation fold is also among the training points"),
    ("w01_choose_k", choose_k_best_fold, "best k should be"),
    ("w01_choose_k", choose_k_shuffled_folds, "values are wrong"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w01_knn", CORRECT, WRONG)



def test_reference_knn_by_hand():
    dists = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    y_train = np.array([3, 3, 1, 1])
    assert ref.knn_predict(dists, y_train, 1).tolist() == [3, 1]
    assert ref.knn_predict(dists, y_train, 4).tolist() == [1, 1]  # 2-2 tie: the smallest label
    assert ref.knn_predict(dists, y_train, 3).tolist() == [3, 1]


def test_reference_cross_validation_by_hand():
    X, y = ref.clusters(1, n=12)
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


@pytest.mark.parametrize(
    ("check_fn", "fn", "message"),
    [
        (visible.knn_predict, knn_counter_most_common, "nearest tied neighbour"),
        (visible.knn_predict, knn_largest_in_tie, "largest"),
        (visible.knn_predict, knn_farthest, "farthest"),
        (visible.choose_k, choose_k_leak, "validation fold"),
    ],
    ids=name_of,
)
def test_visible_checks_name_the_mistake(check_fn, fn, message, monkeypatch):
    with pytest.raises(CheckFailed, match=message):
        check_fn(fn)


def test_visible_checks_pass_correct(capsys):
    visible.knn_predict(knn_bincount)
    visible.choose_k(choose_k_correct)
    assert capsys.readouterr().out.count("\u2713") == 2
