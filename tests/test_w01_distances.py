"""Week 1, pairwise distances: the reference, the visible checks and the hidden tests.

The hidden tests are fed deliberately wrong implementations (each a mistake students make) that they
must fail, with the diagnosis they must give, and correct alternatives that they must pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w01_distances as ref
from autograder.protocol import run_case
from dlfs.checks import CheckFailed
from dlfs.checks import week01 as visible

pytestmark = [pytest.mark.week01, pytest.mark.w01_l2_distances, pytest.mark.autograder]


# ---- correct implementations, written differently from the solution and the reference ----------


def two_loops_norm(X, Y):
    out = np.zeros((X.shape[0], Y.shape[0]))
    for i in range(X.shape[0]):
        for j in range(Y.shape[0]):
            out[i, j] = np.linalg.norm(X[i] - Y[j])
    return out


def one_loop_over_y(X, Y):
    out = np.zeros((X.shape[0], Y.shape[0]))
    for j in range(Y.shape[0]):
        out[:, j] = np.sqrt(((X - Y[j]) ** 2).sum(axis=1))
    return out


def no_loops_einsum(X, Y):
    squared = np.einsum("ij,ij->i", X, X)[:, None] - 2 * np.einsum("id,jd->ij", X, Y) + (Y * Y).sum(1)
    return np.sqrt(np.clip(squared, 0, None))


def no_loops_einsum_optimized(X, Y):
    """einsum hands the cross term to BLAS only with optimize=True; without it, it is 10x slower."""
    cross = np.einsum("id,jd->ij", X, Y, optimize=True)
    return np.sqrt(np.clip((X * X).sum(1)[:, None] - 2 * cross + (Y * Y).sum(1), 0, None))


def no_loops_float32_kept(X, Y):
    """Keeps float32 in, float32 out (the expansion in single precision)."""
    squared = (X**2).sum(1, keepdims=True) + (Y**2).sum(1) - 2.0 * X @ Y.T
    return np.sqrt(np.maximum(squared, 0.0))


def broadcast_3d(X, Y):
    return np.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1))


# ---- wrong implementations: the mistakes the tests must catch --------------------------------------


def forgot_sqrt(X, Y):
    return (X**2).sum(1)[:, None] + (Y**2).sum(1)[None, :] - 2 * X @ Y.T


def transposed(X, Y):
    return ref.l2_distances(Y, X)


def manhattan(X, Y):
    return np.abs(X[:, None, :] - Y[None, :, :]).sum(-1)


def no_clip(X, Y):
    return np.sqrt((X**2).sum(1)[:, None] + (Y**2).sum(1)[None, :] - 2 * X @ Y.T)


def off_by_one(X, Y):
    out = np.zeros((X.shape[0], Y.shape[0]))
    for i in range(X.shape[0] - 1):
        for j in range(Y.shape[0]):
            out[i, j] = np.sqrt(np.sum((X[i] - Y[j]) ** 2))
    return out


def integer_result(X, Y):
    out = np.zeros((X.shape[0], Y.shape[0]), dtype=np.int64)
    for i in range(X.shape[0]):
        out[i] = np.sqrt(((X[i] - Y) ** 2).sum(1))
    return out


def overwrites_input(X, Y):
    X -= X.mean()  # in place: changes the caller's array
    return broadcast_3d(X + X.mean(), Y)


def no_return(X, Y):
    ref.l2_distances(X, Y)


def stub(X, Y):
    raise NotImplementedError()


def comprehension(X, Y):
    return np.array([[np.linalg.norm(x - y) for y in Y] for x in X])


def vectorized_call(X, Y):
    one = np.vectorize(lambda i, j: np.linalg.norm(X[i] - Y[j]))
    return one(*np.meshgrid(np.arange(len(X)), np.arange(len(Y)), indexing="ij"))


def fast_but_wrong(X, Y):
    return forgot_sqrt(X, Y)


# ---- the reference, against independent computations ------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 2), (6, 2, 5), (4, 4, 9)])
def test_reference_matches_math_dist(shape):
    N, M, D = shape
    rng = np.random.default_rng(sum(shape))
    X, Y = rng.normal(size=(N, D)), rng.normal(size=(M, D))
    expected = np.array([[math.dist(x, y) for y in Y] for x in X])
    np.testing.assert_allclose(ref.l2_distances(X, Y), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.l2_distances_two_loops(X, Y), expected, rtol=1e-12, atol=1e-12)


def test_reference_clips_round_off():
    X = np.random.default_rng(0).normal(size=(20, 50)) + 100.0
    squared = (X**2).sum(1)[:, None] + (X**2).sum(1)[None, :] - 2 * X @ X.T
    assert (np.diag(squared) < 0).any(), "the edge-case input no longer produces negative round-off"
    assert not np.isnan(ref.l2_distances(X, X)).any()


def test_mistake_outputs_are_those_mistakes():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    outputs = ref.mistake_outputs(X, Y)
    np.testing.assert_allclose(outputs["squared"], [[math.dist(x, y) ** 2 for y in Y] for x in X])
    np.testing.assert_allclose(outputs["transposed"], [[math.dist(x, y) for x in X] for y in Y])
    np.testing.assert_allclose(outputs["l1"], [[sum(abs(a - b) for a, b in zip(x, y)) for y in Y] for x in X])


# ---- visible checks ----------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.l2_distances, fn) for fn in (two_loops_norm, one_loop_over_y, no_loops_einsum, broadcast_3d)]

VISIBLE_WRONG = [
    (visible.l2_distances, forgot_sqrt, "squared"),
    (visible.l2_distances, transposed, "transpose"),
    (visible.l2_distances, manhattan, r"L1 \(Manhattan\)"),
    (visible.l2_distances, stub, "not implemented yet"),
    (visible.l2_distances, no_return, "returned None"),
    (visible.l2_distances, off_by_one, "values are wrong; max relative error"),
    (visible.l2_distances, integer_result, "floating-point"),
    (visible.l2_distances, overwrites_input, "changed its input `X`"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


def test_visible_no_loops_check_lists_the_loops():
    with pytest.raises(CheckFailed, match=r"list comprehension \(line \d+\)"):
        visible.l2_distances_no_loops(comprehension)
    visible.l2_distances_no_loops(no_loops_einsum)


# ---- hidden tests ------------------------------------------------------------------------------------

CORRECT = {
    "w01_l2_distances_shapes": [two_loops_norm, one_loop_over_y, no_loops_einsum, no_loops_float32_kept],
    "w01_l2_distances_edge_cases": [two_loops_norm, one_loop_over_y, no_loops_einsum, no_loops_float32_kept],
    "w01_l2_no_loops_syntax": [no_loops_einsum, no_loops_float32_kept, broadcast_3d],
    "w01_l2_no_loops_speed": [no_loops_einsum_optimized, no_loops_float32_kept],
}

WRONG = [
    ("w01_l2_distances_shapes", forgot_sqrt, "did you forget the square root"),
    ("w01_l2_distances_shapes", transposed, "transpose"),
    ("w01_l2_distances_shapes", manhattan, "L1"),
    ("w01_l2_distances_shapes", off_by_one, "values are wrong"),
    ("w01_l2_distances_shapes", integer_result, "floating-point"),
    ("w01_l2_distances_shapes", overwrites_input, "changed its input"),
    ("w01_l2_distances_shapes", no_return, "returned None"),
    ("w01_l2_distances_shapes", stub, "not implemented"),
    ("w01_l2_distances_edge_cases", no_clip, "NaN"),
    ("w01_l2_distances_edge_cases", stub, "not implemented"),
    ("w01_l2_no_loops_syntax", comprehension, "comprehension"),
    ("w01_l2_no_loops_syntax", vectorized_call, "vectorize"),
    ("w01_l2_no_loops_syntax", two_loops_norm, "`for` loop"),
    ("w01_l2_no_loops_syntax", stub, "not implemented"),
    ("w01_l2_no_loops_syntax", forgot_sqrt, "square root"),
    ("w01_l2_no_loops_speed", one_loop_over_y, "faster than two Python loops"),
    ("w01_l2_no_loops_speed", fast_but_wrong, "square root"),
    ("w01_l2_no_loops_speed", stub, "not implemented"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w01_distances", CORRECT, WRONG
)


def test_broadcast_3d_is_too_slow_for_the_speed_test():
    """The (N, M, D) broadcast has no loop but is the slow, memory-hungry answer the speed test rejects."""
    with pytest.raises(AssertionError, match="only .*x faster"):
        run_case("w01_l2_no_loops_speed", broadcast_3d)


def test_unknown_case_is_reported():
    with pytest.raises(KeyError, match="unknown hidden test"):
        run_case("w01_nope", two_loops_norm)


def rebound_after_def(X, Y):
    return no_loops_einsum(X, Y)


def test_no_loop_rule_reads_the_notebook_not_the_kernel():
    """The rule reads the definition in the submitted cells: a loop-free decoy rebound later fails."""
    from autograder.protocol import Context

    cells = ["def f(X, Y):\n    return X @ Y.T\n", "f = lambda X, Y: [x for x in X]\n"]
    with pytest.raises(CheckFailed, match="bound last by `f = lambda"):
        Context("f", sources=cells).definition()
    assert "return X @ Y.T" in Context("f", sources=cells[:1]).definition()
    with pytest.raises(CheckFailed, match="no `def g"):
        Context("g", sources=cells).definition()
