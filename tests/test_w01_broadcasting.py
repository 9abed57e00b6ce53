"""Week 1 broadcasting drills: the hidden tests pass correct variants and fail the known mistakes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w01_broadcasting as ref
from dlfs.checks import week01 as visible

pytestmark = [pytest.mark.week01, pytest.mark.w01_broadcasting, pytest.mark.autograder]


# ---- softmax ---------------------------------------------------------------------------------------


def softmax_logsumexp(scores):
    m = scores.max(axis=1, keepdims=True)
    return np.exp(scores - m - np.log(np.exp(scores - m).sum(axis=1, keepdims=True)))


def softmax_loop(scores):
    out = np.empty_like(scores, dtype=np.result_type(scores, np.float32))
    for i, row in enumerate(scores):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out


def softmax_unstable(scores):
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def softmax_global_max(scores):
    e = np.exp(scores - scores.max())
    return e / e.sum(axis=1, keepdims=True)


def softmax_columns(scores):
    e = np.exp(scores - scores.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_no_keepdims(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1)  # broadcasts (N, C) against (N,) — wrong unless N == C


# ---- standardize -----------------------------------------------------------------------------------


def standardize_two_pass(X, eps=1e-8):
    centred = X - X.sum(axis=0) / X.shape[0]
    return centred / (np.sqrt((centred**2).mean(axis=0)) + eps)


def standardize_column_loop(X, eps=1e-8):
    out = np.empty(X.shape, dtype=np.result_type(X, np.float32))
    for j in range(X.shape[1]):
        column = X[:, j]
        out[:, j] = (column - column.mean()) / (column.std() + eps)
    return out


def standardize_sample_std(X, eps=1e-8):
    return (X - X.mean(0)) / (X.std(0, ddof=1) + eps)


def standardize_rows(X, eps=1e-8):
    return (X - X.mean(1, keepdims=True)) / (X.std(1, keepdims=True) + eps)


def standardize_no_eps(X, eps=1e-8):
    return (X - X.mean(0)) / X.std(0)


def standardize_ignores_eps(X, eps=1e-8):
    return (X - X.mean(0)) / (X.std(0) + 1e-8)


def standardize_in_place(X, eps=1e-8):
    X -= X.mean(0)
    X /= X.std(0) + eps
    return X


# ---- one_hot ---------------------------------------------------------------------------------------


def one_hot_eye(labels, num_classes):
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be integers: cast with `.astype(int)`")
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError("label out of range")
    return np.eye(num_classes)[labels]


def one_hot_loop(labels, num_classes):
    """Checks the kind of the dtype (signed or unsigned integers) and fills the rows one by one."""
    if np.asarray(labels).dtype.kind not in "iu":
        raise ValueError(f"one_hot needs integer labels, got {np.asarray(labels).dtype}: use labels.astype(int)")
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    for i, label in enumerate(labels):
        if not 0 <= label < num_classes:
            raise ValueError(f"label {label} is not in [0, {num_classes})")
        out[i, label] = 1.0
    return out


def one_hot_no_check(labels, num_classes):
    return np.eye(num_classes)[np.asarray(labels) % num_classes]


def one_hot_transposed(labels, num_classes):
    return one_hot_eye(labels, num_classes).T


def one_hot_shifted(labels, num_classes):
    out = np.zeros((len(labels), num_classes))
    for i, label in enumerate(labels):
        if not 0 <= label < num_classes:
            raise ValueError("out of range")
        out[i, label - 1] = 1
    return out


def one_hot_int(labels, num_classes):
    return one_hot_eye(labels, num_classes).astype(int)


def one_hot_index_error(labels, num_classes):
    out = np.zeros((len(labels), num_classes))
    out[np.arange(len(labels)), labels] = 1  # IndexError instead of ValueError; negatives wrap silently
    return out


def one_hot_range_only(labels, num_classes):
    """The old specification: checks the range only; float labels end in an IndexError from np.eye."""
    labels = np.asarray(labels)
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError("label out of range")
    return np.eye(num_classes)[labels]


def one_hot_casts_floats(labels, num_classes):
    """Accepts float (and boolean) labels silently by casting them."""
    return one_hot_eye(np.asarray(labels).astype(int), num_classes)


def one_hot_whole_floats(labels, num_classes):
    """Refuses fractional labels only: whole-valued floats and booleans slip through."""
    labels = np.asarray(labels)
    if np.any(labels != np.round(labels)):
        raise ValueError("labels must be integers: cast with `.astype(int)`")
    return one_hot_eye(labels.astype(int), num_classes)


def one_hot_floats_only(labels, num_classes):
    """Refuses floats but takes booleans for integers (they are 0 and 1)."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        raise ValueError("labels must be integers: cast with `.astype(int)`")
    return one_hot_eye(labels.astype(int), num_classes)


def one_hot_type_error(labels, num_classes):
    if not np.issubdtype(np.asarray(labels).dtype, np.integer):
        raise TypeError("labels must be integers")
    return one_hot_eye(labels, num_classes)


def one_hot_silent_refusal(labels, num_classes):
    """Raises ValueError for float labels, with no word of what to do."""
    if not np.issubdtype(np.asarray(labels).dtype, np.integer):
        raise ValueError("bad input")
    return one_hot_eye(labels, num_classes)


def one_hot_refuses_everything(labels, num_classes):
    raise ValueError("labels must be integers: cast with `.astype(int)`")


def one_hot_stub(labels, num_classes):
    raise NotImplementedError()


CORRECT = {
    "w01_softmax_values": [softmax_logsumexp, softmax_loop, ref.softmax],
    "w01_softmax_stable": [softmax_logsumexp, softmax_loop],
    "w01_standardize_values": [standardize_two_pass, standardize_column_loop, ref.standardize],
    "w01_standardize_edge_cases": [standardize_two_pass, standardize_column_loop],
    "w01_one_hot_values": [one_hot_eye, one_hot_loop, ref.one_hot],
    "w01_one_hot_errors": [one_hot_eye, one_hot_loop, ref.one_hot],
}

WRONG = [
    ("w01_softmax_values", softmax_columns, "your columns sum to 1"),
    ("w01_softmax_values", softmax_no_keepdims, "values are wrong|expected shape"),
    ("w01_softmax_stable", softmax_unstable, "NaN"),
    ("w01_softmax_stable", softmax_global_max, "NaN"),
    ("w01_standardize_values", standardize_sample_std, "sample"),
    ("w01_standardize_values", standardize_rows, "each row"),
    ("w01_standardize_values", standardize_ignores_eps, "eps=0.5"),
    ("w01_standardize_values", standardize_in_place, "changed its input `X`"),
    ("w01_standardize_edge_cases", standardize_no_eps, "NaN"),
    ("w01_one_hot_values", one_hot_transposed, "transposed"),
    ("w01_one_hot_values", one_hot_shifted, "one column to the left"),
    ("w01_one_hot_values", one_hot_int, "floating-point"),
    ("w01_one_hot_values", one_hot_stub, "not implemented"),
    ("w01_one_hot_errors", one_hot_no_check, r"one_hot_no_check\(\[0, 3\], 3\) must raise ValueError: the label 3"),
    ("w01_one_hot_errors", one_hot_index_error, r"must raise ValueError, not IndexError"),
    ("w01_one_hot_errors", one_hot_range_only, r"must raise ValueError, not IndexError .*: the labels are floats"),
    ("w01_one_hot_errors", one_hot_casts_floats, r"\[0\.0, .*must raise ValueError: the labels are floats"),
    ("w01_one_hot_errors", one_hot_whole_floats, "must raise ValueError: the labels are floats"),
    ("w01_one_hot_errors", one_hot_floats_only, r"\[True, False, True\], 3\) must raise ValueError: the labels are booleans"),
    ("w01_one_hot_errors", one_hot_type_error, "must raise ValueError, not TypeError"),
    ("w01_one_hot_errors", one_hot_refuses_everything, r"on the valid labels \[0, 2\] with 3 classes raised ValueError"),
    ("w01_one_hot_errors", one_hot_stub, "not implemented"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w01_broadcasting", CORRECT, WRONG)


def test_reference_softmax_against_math():
    scores = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 999.0]])
    first = [math.exp(v) / sum(math.exp(w) for w in scores[0]) for v in scores[0]]
    second = [math.exp(v - 1000) / sum(math.exp(w - 1000) for w in scores[1]) for v in scores[1]]
    np.testing.assert_allclose(ref.softmax(scores), [first, second], rtol=1e-13)


def test_reference_standardize_and_one_hot_against_definitions():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [8.0, 5.0]])
    mean, std = X[:, 0].mean(), math.sqrt(sum((v - X[:, 0].mean()) ** 2 for v in X[:, 0]) / 3)
    np.testing.assert_allclose(ref.standardize(X)[:, 0], (X[:, 0] - mean) / (std + 1e-8))
    np.testing.assert_array_equal(ref.standardize(X)[:, 1], 0.0)
    np.testing.assert_array_equal(ref.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    assert ref.one_hot(np.array([], dtype=int), 4).shape == (0, 4)
    with pytest.raises(ValueError):
        ref.one_hot(np.array([3]), 3)


@pytest.mark.parametrize("labels", [np.array([0.0, 2.0]), np.array([True, False]), np.array([0.5]), np.array([])],
                         ids=["whole floats", "booleans", "fraction", "empty float"])
def test_reference_one_hot_refuses_non_integer_labels(labels):
    with pytest.raises(ValueError, match=re.escape("labels must be integers: cast with `.astype(int)`")):
        ref.one_hot(labels, 3)


def test_mistake_outputs_are_those_mistakes():
    labels = np.array([1, 0])
    outputs = ref.one_hot_mistakes(labels, 3)
    np.testing.assert_array_equal(outputs["transposed"], [[0, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(outputs["shifted"], [[1, 0, 0], [0, 0, 1]])
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(ref.standardize_mistakes(X, 0.0)["sample_std"], (X - X.mean(0)) / X.std(0, ddof=1))
    np.testing.assert_allclose(ref.standardize_mistakes(X, 0.0)["rows"], [[-1, 1], [-1, 1]])
    np.testing.assert_allclose(ref.softmax_mistakes(X)["columns"].sum(axis=0), 1.0)


# ---- visible checks ----------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.softmax, softmax_loop), (visible.softmax, softmax_logsumexp), (visible.standardize, standardize_two_pass),
    (visible.standardize, standardize_column_loop), (visible.one_hot, one_hot_eye), (visible.one_hot, one_hot_loop),
    (visible.one_hot, ref.one_hot),
]

VISIBLE_WRONG = [
    (visible.softmax, softmax_columns, "your columns sum to 1"),
    (visible.softmax, softmax_unstable, "subtract each row's maximum"),
    (visible.standardize, standardize_sample_std, "sample"),
    (visible.standardize, standardize_rows, "each row"),
    (visible.standardize, standardize_no_eps, "std \\+ eps"),
    (visible.standardize, standardize_in_place, "changed its input"),
    (visible.one_hot, one_hot_transposed, "transposed"),
    (visible.one_hot, one_hot_shifted, "one column to the left"),
    (visible.one_hot, one_hot_no_check, "the label 3 is outside \\[0, 3\\)"),
    (visible.one_hot, one_hot_stub, "not implemented yet"),
    (visible.one_hot, one_hot_range_only, "must raise ValueError, not IndexError .*the labels are floats"),
    (visible.one_hot, one_hot_casts_floats, "must raise ValueError; nothing was raised: the labels are floats"),
    (visible.one_hot, one_hot_whole_floats, "nothing was raised: the labels are floats"),
    (visible.one_hot, one_hot_type_error, "not TypeError"),
    (visible.one_hot, one_hot_silent_refusal, "must tell the caller what to do .*yours says 'bad input'"),
    (visible.one_hot, one_hot_refuses_everything, "raised ValueError"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
