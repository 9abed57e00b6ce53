"""Week 3, pooling (max_pool_forward, avg_pool_forward): correct variants pass every hidden case, the known
mistakes fail with their diagnosis, the visible checks say the same, and the references agree with loops and
JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w03_pool as ref
from dlfs.checks import week03 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week03, pytest.mark.w03_pool, pytest.mark.autograder]


def _step(pool, stride):
    return pool if stride is None else stride


def _sizes(x, pool, S):
    return (x.shape[2] - pool) // S + 1, (x.shape[3] - pool) // S + 1


def _windows(x, pool, S):
    """(N, C, OH, OW, pool, pool): every whole window, a strided view."""
    return sliding_window_view(x, (pool, pool), axis=(2, 3))[:, :, ::S, ::S]


def _loops(x, pool, S, reduce, sizes=None, start=None, dtype=np.float64):
    """Four loops over n, c, i, j, reducing each window with ``reduce``; the window's start and the output size
    can be replaced (slices past the border are cut short by NumPy, as in a loop that overruns)."""
    N, C = x.shape[:2]
    OH, OW = sizes or _sizes(x, pool, S)
    start = start or (lambda i: S * i)
    out = np.empty((N, C, OH, OW), dtype=dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    out[n, c, i, j] = reduce(x[n, c, start(i):start(i) + pool, start(j):start(j) + pool])
    return out


def _ceil_sizes(x, pool, S):
    return -(-(x.shape[2] - pool) // S) + 1, -(-(x.shape[3] - pool) // S) + 1


# ---- max pooling ---------------------------------------------------------------------------------------------


def max_loops(x, pool=2, stride=None):
    return _loops(x, pool, _step(pool, stride), np.max)


def max_loops_float32(x, pool=2, stride=None):
    """Keeps the input's type, starting every window's maximum at -inf."""
    S = _step(pool, stride)

    def largest(window):
        best = -np.inf
        for value in window.ravel():
            best = max(best, value)
        return best

    return _loops(x, pool, S, largest, dtype=x.dtype)


def max_offsets(x, pool=2, stride=None):
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.full((*x.shape[:2], OH, OW), -np.inf, dtype=x.dtype)
    for u in range(pool):
        for v in range(pool):
            np.maximum(out, x[:, :, u:u + S * OH:S, v:v + S * OW:S], out=out)
    return out


def max_windows(x, pool=2, stride=None):
    return _windows(x, pool, _step(pool, stride)).max(axis=(4, 5))


def max_reshape(x, pool=2, stride=None):
    """Blocks by reshaping, the border cropped first: right for stride == pool only."""
    N, C = x.shape[:2]
    OH, OW = _sizes(x, pool, pool)
    return x[:, :, :OH * pool, :OW * pool].reshape(N, C, OH, pool, OW, pool).max(axis=(3, 5))


def max_window_start(x, pool=2, stride=None):
    return _loops(x, pool, _step(pool, stride), np.max, start=lambda i: i)


def max_stride_one(x, pool=2, stride=None):
    return max_windows(x, pool, 1)


def max_across_channels(x, pool=2, stride=None):
    S = _step(pool, stride)
    out = np.empty((*x.shape[:2], *_sizes(x, pool, S)))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, S * i:S * i + pool, S * j:S * j + pool].max(axis=(1, 2, 3))[:, None]
    return out


def max_across_channels_dropped(x, pool=2, stride=None):
    return max_windows(x, pool, stride).max(axis=1)


def max_ceil_mode(x, pool=2, stride=None):
    S = _step(pool, stride)
    return _loops(x, pool, S, np.max, sizes=_ceil_sizes(x, pool, S))


def max_abs(x, pool=2, stride=None):
    return max_windows(np.abs(x), pool, stride)


def max_zero_init(x, pool=2, stride=None):
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.zeros((*x.shape[:2], OH, OW))
    for u in range(pool):
        for v in range(pool):
            out = np.maximum(out, x[:, :, u:u + S * OH:S, v:v + S * OW:S])
    return out


def max_in_place(x, pool=2, stride=None):
    out = max_windows(x, pool, stride)
    x[:, :, :out.shape[2], :out.shape[3]] = out  # writes the result into the input
    return out


def max_with_cache(x, pool=2, stride=None):
    return max_windows(x, pool, stride), (x, pool, stride)


def max_stub(x, pool=2, stride=None):
    raise NotImplementedError()


# ---- average pooling -----------------------------------------------------------------------------------------


def avg_loops(x, pool=2, stride=None):
    return _loops(x, pool, _step(pool, stride), np.mean)


def avg_running_sum_float32(x, pool=2, stride=None):
    """A running sum in the input's floating type, divided at the end."""
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.zeros((*x.shape[:2], OH, OW), dtype=np.result_type(x, 1.0))
    for u in range(pool):
        for v in range(pool):
            out += x[:, :, u:u + S * OH:S, v:v + S * OW:S]
    return out / (pool * pool)


def avg_windows(x, pool=2, stride=None):
    return _windows(x, pool, _step(pool, stride)).mean(axis=(4, 5))


def avg_box_filter(x, pool=2, stride=None):
    """A convolution with a constant pool x pool kernel of 1/pool^2, per channel, by einsum."""
    kernel = np.full((pool, pool), 1.0 / pool**2)
    return np.einsum("nchwuv,uv->nchw", _windows(x, pool, _step(pool, stride)), kernel)


def avg_reshape(x, pool=2, stride=None):
    N, C = x.shape[:2]
    OH, OW = _sizes(x, pool, pool)
    return x[:, :, :OH * pool, :OW * pool].reshape(N, C, OH, pool, OW, pool).mean(axis=(3, 5))


def avg_window_start(x, pool=2, stride=None):
    return _loops(x, pool, _step(pool, stride), np.mean, start=lambda i: i)


def avg_stride_one(x, pool=2, stride=None):
    return avg_windows(x, pool, 1)


def avg_across_channels(x, pool=2, stride=None):
    out = avg_windows(x, pool, stride)
    return np.repeat(out.mean(axis=1, keepdims=True), x.shape[1], axis=1)


def avg_across_channels_dropped(x, pool=2, stride=None):
    return avg_windows(x, pool, stride).mean(axis=1)


def avg_ceil_mode(x, pool=2, stride=None):
    S = _step(pool, stride)
    return _loops(x, pool, S, np.mean, sizes=_ceil_sizes(x, pool, S))


def avg_ceil_mode_zeros(x, pool=2, stride=None):
    S = _step(pool, stride)
    return _loops(x, pool, S, lambda window: window.sum() / pool**2, sizes=_ceil_sizes(x, pool, S))


def avg_divide_by_pool(x, pool=2, stride=None):
    return _windows(x, pool, _step(pool, stride)).sum(axis=(4, 5)) / pool


def avg_no_division(x, pool=2, stride=None):
    return _windows(x, pool, _step(pool, stride)).sum(axis=(4, 5))


def avg_with_cache(x, pool=2, stride=None):
    return avg_windows(x, pool, stride), x.shape


def avg_in_place(x, pool=2, stride=None):
    x /= pool * pool
    return _windows(x, pool, _step(pool, stride)).sum(axis=(4, 5))


def avg_stub(x, pool=2, stride=None):
    raise NotImplementedError()


MAX_CORRECT = [max_loops, max_loops_float32, max_offsets, max_windows, ref.max_pool_forward]
AVG_CORRECT = [avg_loops, avg_running_sum_float32, avg_windows, avg_box_filter, ref.avg_pool_forward]
CORRECT = {
    "w03_max_pool_forward": [*MAX_CORRECT, max_reshape],
    "w03_max_pool_strides": MAX_CORRECT,
    "w03_avg_pool_forward": [*AVG_CORRECT, avg_reshape],
    "w03_avg_pool_strides": AVG_CORRECT,
}

WRONG = [
    ("w03_max_pool_forward", max_window_start, r"start at \(i, j\) instead of \(S\*i, S\*j\)"),
    ("w03_max_pool_forward", max_stride_one, "step by 1"),
    ("w03_max_pool_forward", max_across_channels, "taken across the channels too"),
    ("w03_max_pool_forward", max_across_channels_dropped, "no channel axis"),
    ("w03_max_pool_forward", max_ceil_mode, "keeps a partial window"),
    ("w03_max_pool_forward", max_abs, "largest absolute value"),
    ("w03_max_pool_forward", max_zero_init, "never go below 0"),
    ("w03_max_pool_forward", max_in_place, "changed its input `x` in place"),
    ("w03_max_pool_forward", max_with_cache, "returns its output array only"),
    ("w03_max_pool_forward", max_stub, "not implemented yet"),
    ("w03_max_pool_strides", max_reshape, "step by `pool` although a different `stride` was given"),
    ("w03_max_pool_strides", max_window_start, r"instead of \(S\*i, S\*j\)"),
    ("w03_max_pool_strides", max_ceil_mode, "keeps a partial window"),
    ("w03_max_pool_strides", max_abs, "largest absolute value"),
    ("w03_max_pool_strides", max_stub, "not implemented yet"),
    ("w03_avg_pool_forward", avg_window_start, r"instead of \(S\*i, S\*j\)"),
    ("w03_avg_pool_forward", avg_stride_one, "step by 1"),
    ("w03_avg_pool_forward", avg_across_channels, "taken across the channels too"),
    ("w03_avg_pool_forward", avg_across_channels_dropped, "no channel axis"),
    ("w03_avg_pool_forward", avg_ceil_mode, r"keeps a partial window at the border: the rows"),
    ("w03_avg_pool_forward", avg_ceil_mode_zeros, r"partial window at the border \(averaged with zeros\)"),
    ("w03_avg_pool_forward", avg_divide_by_pool, "pool times too large"),
    ("w03_avg_pool_forward", avg_no_division, "the sum of each window"),
    ("w03_avg_pool_forward", avg_in_place, "changed its input `x` in place"),
    ("w03_avg_pool_forward", avg_with_cache, "returns its output array only"),
    ("w03_avg_pool_forward", avg_stub, "not implemented yet"),
    ("w03_avg_pool_strides", avg_reshape, "step by `pool` although a different `stride` was given"),
    ("w03_avg_pool_strides", avg_ceil_mode, "keeps a partial window"),
    ("w03_avg_pool_strides", avg_divide_by_pool, "pool times too large"),
    ("w03_avg_pool_strides", avg_stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w03_pool", CORRECT, WRONG)


# ---- the references ------------------------------------------------------------------------------------------

SHAPES = [((2, 3, 4, 4), 2, None), ((1, 1, 7, 5), 2, None), ((2, 2, 7, 8), 3, 2), ((1, 2, 8, 7), 2, 3),
          ((3, 1, 6, 6), 3, 1)]


@pytest.mark.parametrize(("shape", "pool", "stride"), SHAPES, ids=str)
def test_references_against_loops(shape, pool, stride):
    x = np.random.default_rng(5).normal(size=shape)
    np.testing.assert_array_equal(ref.max_pool_forward(x, pool, stride), max_loops(x, pool, stride))
    np.testing.assert_allclose(ref.avg_pool_forward(x, pool, stride), avg_loops(x, pool, stride), rtol=1e-13)


@pytest.mark.parametrize(("shape", "pool", "stride"), SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_references_against_jax(shape, pool, stride, dtype):
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(6).normal(size=shape).astype(dtype)
    S = _step(pool, stride)
    x64 = x.astype(np.float64)
    window, strides = (1, 1, pool, pool), (1, 1, S, S)
    highest = jax.lax.reduce_window(x64, -np.inf, jax.lax.max, window, strides, "VALID")
    total = jax.lax.reduce_window(x64, 0.0, jax.lax.add, window, strides, "VALID")
    assert ref.max_pool_forward(x, pool, stride).dtype == np.float64
    np.testing.assert_array_equal(ref.max_pool_forward(x, pool, stride), np.asarray(highest))
    np.testing.assert_allclose(ref.avg_pool_forward(x, pool, stride), np.asarray(total) / pool**2, rtol=1e-13)


def test_mistakes_differ_from_the_reference_on_the_cases_that_name_them():
    """Each named mistake can be told from the right answer on at least one hidden problem of its pooling."""
    from autograder.protocol import get_case

    for kind, cases in [("max", ("w03_max_pool_forward", "w03_max_pool_strides")),
                        ("avg", ("w03_avg_pool_forward", "w03_avg_pool_strides"))]:
        reference, mistakes, messages, _ = ref.KINDS[kind]
        named = set()
        for case in cases:
            inputs, _ = get_case(case).build()
            for call in inputs["calls"]:
                args = dict(zip(("x", "pool", "stride"), call.args)) | call.kwargs
                right = reference(**args)
                named |= {name for name, out in mistakes(**args).items()
                          if out.shape != right.shape or not np.allclose(out, right)}
        assert named == set(messages), kind


# ---- visible checks ------------------------------------------------------------------------------------------

VISIBLE_CORRECT = (
    [(check, fn) for check in (visible.max_pool_forward, visible.max_pool_forward_strides) for fn in MAX_CORRECT[:-1]]
    + [(check, fn) for check in (visible.avg_pool_forward, visible.avg_pool_forward_strides) for fn in AVG_CORRECT[:-1]]
    + [(visible.max_pool_forward, max_reshape), (visible.avg_pool_forward, avg_reshape)]
)

VISIBLE_WRONG = [
    (visible.max_pool_forward, max_stub, "max_stub is not implemented yet"),
    (visible.max_pool_forward, max_window_start, r"instead of \(S\*i, S\*j\)"),
    (visible.max_pool_forward, max_stride_one, "step by 1"),
    (visible.max_pool_forward, max_across_channels, "across the channels"),
    (visible.max_pool_forward, max_across_channels_dropped, "no channel axis"),
    (visible.max_pool_forward, max_ceil_mode, "partial window"),
    (visible.max_pool_forward, max_abs, "largest absolute value"),
    (visible.max_pool_forward, max_zero_init, "never go below 0"),
    (visible.max_pool_forward, max_in_place, "changed its input `x` in place"),
    (visible.max_pool_forward, max_with_cache, "output array only"),
    (visible.max_pool_forward_strides, max_stub, "not implemented yet"),
    (visible.max_pool_forward_strides, max_reshape, "a different `stride` was given"),
    (visible.max_pool_forward_strides, max_window_start, r"instead of \(S\*i, S\*j\)"),
    (visible.max_pool_forward_strides, max_ceil_mode, "partial window"),
    (visible.avg_pool_forward, avg_stub, "not implemented yet"),
    (visible.avg_pool_forward, avg_window_start, r"instead of \(S\*i, S\*j\)"),
    (visible.avg_pool_forward, avg_across_channels, "across the channels"),
    (visible.avg_pool_forward, avg_ceil_mode, "partial window at the border: the rows"),
    (visible.avg_pool_forward, avg_ceil_mode_zeros, r"\(averaged with zeros\)"),
    (visible.avg_pool_forward, avg_divide_by_pool, "pool times too large"),
    (visible.avg_pool_forward, avg_no_division, "the sum of each window"),
    (visible.avg_pool_forward, avg_in_place, "changed its input `x` in place"),
    (visible.avg_pool_forward_strides, avg_stub, "not implemented yet"),
    (visible.avg_pool_forward_strides, avg_reshape, "a different `stride` was given"),
    (visible.avg_pool_forward_strides, avg_stride_one, "step by 1"),
    (visible.avg_pool_forward_strides, avg_divide_by_pool, "pool times too large"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
