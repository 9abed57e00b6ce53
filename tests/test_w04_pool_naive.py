"""Week 4, naive max pooling (max_pool_forward_naive, max_pool_backward_naive): correct variants pass every hidden
case, the known mistakes fail with their diagnosis, the visible checks say the same, and the reference agrees with
loops, centred differences (away from ties) and JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w04_pool_naive as ref
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import get_case
from dlfs.checks import week04 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_pool_naive, pytest.mark.autograder]


def _step(pool, stride):
    return pool if stride is None else stride


def _sizes(x, pool, S):
    return (x.shape[2] - pool) // S + 1, (x.shape[3] - pool) // S + 1


# ---- correct forwards ---------------------------------------------------------------------------------------


def forward_loops(x, pool=2, stride=None):
    """Four loops, np.max of each window; the cache is (x, pool, S)."""
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.empty((*x.shape[:2], OH, OW))
    for n, c, i, j in np.ndindex(out.shape):
        out[n, c, i, j] = np.max(x[n, c, S * i:S * i + pool, S * j:S * j + pool])
    return out, (x, pool, S)


def forward_offsets(x, pool=2, stride=None):
    """np.maximum over the pool**2 strided slices, starting at -inf, in x's type; the cache also holds out."""
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.full((*x.shape[:2], OH, OW), -np.inf, dtype=x.dtype)
    for u in range(pool):
        for v in range(pool):
            np.maximum(out, x[:, :, u:u + S * OH:S, v:v + S * OW:S], out=out)
    return out, {"x": x, "out": out, "pool": pool, "stride": S}


def forward_argmax_cache(x, pool=2, stride=None):
    """All windows as a strided view; the cache holds where each window's first maximum is, in x's coordinates."""
    S = _step(pool, stride)
    windows = sliding_window_view(x, (pool, pool), axis=(2, 3))[:, :, ::S, ::S]
    flat = windows.reshape(*windows.shape[:4], -1)
    k = flat.argmax(axis=4)
    out = np.take_along_axis(flat, k[..., None], axis=4)[..., 0]
    OH, OW = out.shape[2:]
    rows = S * np.arange(OH)[:, None] + k // pool
    cols = S * np.arange(OW)[None, :] + k % pool
    return out, (x.shape, x.dtype, rows, cols)


def forward_python_floats(x, pool=2, stride=None):
    """Python floats and a running maximum that starts at -inf, kept in x's type."""
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    out = np.empty((*x.shape[:2], OH, OW), dtype=x.dtype)
    for n, c, i, j in np.ndindex(out.shape):
        best = -np.inf
        for value in x[n, c, S * i:S * i + pool, S * j:S * j + pool].ravel():
            best = max(best, float(value))
        out[n, c, i, j] = best
    return out, (x, pool, S)


# ---- correct backwards ----------------------------------------------------------------------------------------


def backward_loops(dout, cache):
    """Four loops, np.argmax of the flattened window, np.unravel_index."""
    x, pool, S = cache
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        u, v = np.unravel_index(np.argmax(x[n, c, S * i:S * i + pool, S * j:S * j + pool]), (pool, pool))
        dx[n, c, S * i + u, S * j + v] += dout[n, c, i, j]
    return dx


def backward_offsets(dout, cache):
    """Vectorised over windows: visit the offsets in row-major order, the first entry equal to out wins."""
    x, out, pool, S = cache["x"], cache["out"], cache["pool"], cache["stride"]
    OH, OW = out.shape[2:]
    dx = np.zeros_like(x)
    open_ = np.ones(out.shape, dtype=bool)
    for u in range(pool):
        for v in range(pool):
            view = (slice(None), slice(None), slice(u, u + S * OH, S), slice(v, v + S * OW, S))
            won = open_ & (x[view] == out)
            dx[view] += np.where(won, dout, 0).astype(x.dtype)
            open_ &= ~won
    return dx


def backward_argmax_cache(dout, cache):
    """The forward stored the winners: one np.add.at adds every window's gradient, repeats included."""
    shape, dtype, rows, cols = cache
    dx = np.zeros(shape, dtype=np.result_type(dtype, dout))
    images, channels = np.indices(shape[:2])
    np.add.at(dx, (images[:, :, None, None], channels[:, :, None, None], rows, cols), dout)
    return dx


def backward_python_scan(dout, cache):
    """A scan of each window with `>`, so that the first maximum stays."""
    x, pool, S = cache
    dx = np.zeros(x.shape, dtype=x.dtype)
    for n, c, i, j in np.ndindex(dout.shape):
        best, where = -np.inf, None
        for u in range(pool):
            for v in range(pool):
                if x[n, c, S * i + u, S * j + v] > best:
                    best, where = x[n, c, S * i + u, S * j + v], (S * i + u, S * j + v)
        dx[n, c, where[0], where[1]] += dout[n, c, i, j]
    return dx


# ---- wrong forwards ------------------------------------------------------------------------------------------


def _pooled(x, pool, S, sizes=None, start=None, zero=False, channels_too=False):
    OH, OW = sizes or _sizes(x, pool, S)
    start = start or (lambda i: S * i)
    out = np.zeros((*x.shape[:2], OH, OW))
    for n, c, i, j in np.ndindex(out.shape):
        rows, cols = slice(start(i), start(i) + pool), slice(start(j), start(j) + pool)
        window = x[n, :, rows, cols] if channels_too else x[n, c, rows, cols]
        out[n, c, i, j] = max(0.0, window.max()) if zero else window.max()
    return out, (x, pool, S)


def forward_zero_init(x, pool=2, stride=None):
    return _pooled(x, pool, _step(pool, stride), zero=True)


def forward_across_channels(x, pool=2, stride=None):
    return _pooled(x, pool, _step(pool, stride), channels_too=True)


def forward_one_short(x, pool=2, stride=None):
    S = _step(pool, stride)
    OH, OW = _sizes(x, pool, S)
    return _pooled(x, pool, S, sizes=(OH - 1, OW - 1))


def forward_window_start(x, pool=2, stride=None):
    return _pooled(x, pool, _step(pool, stride), start=lambda i: i)


def forward_default_stride_one(x, pool=2, stride=None):
    return _pooled(x, pool, 1 if stride is None else stride)


def forward_stride_as_pool(x, pool=2, stride=None):
    return _pooled(x, pool, pool)


def forward_out_only(x, pool=2, stride=None):
    return forward_loops(x, pool, stride)[0]


def forward_doubles_x_in_place(x, pool=2, stride=None):
    original = x.copy()
    x *= 2.0
    return forward_loops(original, pool, stride)


def forward_stub(x, pool=2, stride=None):
    raise NotImplementedError()


# ---- wrong backwards (with forward_loops' cache) ----------------------------------------------------------------


def _routed(dout, cache, *, pick=np.argmax, value=None, assign=False, offset=True, transposed=False):
    """Loops over the windows with pieces replaced: which entry wins, what it receives, `=` for `+=`, the window's
    start forgotten, row and column swapped."""
    x, pool, S = cache
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        u, v = divmod(int(pick(x[n, c, S * i:S * i + pool, S * j:S * j + pool].ravel())), pool)
        if transposed:
            u, v = v, u
        r, s = (S * i + u, S * j + v) if offset else (u, v)
        got = dout[n, c, i, j] if value is None else value(n, c, i, j)
        if assign:
            dx[n, c, r, s] = got
        else:
            dx[n, c, r, s] += got
    return dx


def backward_spread(dout, cache):
    x, pool, S = cache
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        dx[n, c, S * i:S * i + pool, S * j:S * j + pool] += dout[n, c, i, j] / pool**2
    return dx


def backward_all_ties(dout, cache):
    x, pool, S = cache
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        window = x[n, c, S * i:S * i + pool, S * j:S * j + pool]
        dx[n, c, S * i:S * i + pool, S * j:S * j + pool] += (window == window.max()) * dout[n, c, i, j]
    return dx


def backward_last_tie(dout, cache):
    return _routed(dout, cache, pick=lambda flat: len(flat) - 1 - np.argmax(flat[::-1]))


def backward_overwrite(dout, cache):
    return _routed(dout, cache, assign=True)


def backward_mask_from_dout(dout, cache):
    x, pool, S = cache
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        window = x[n, c, S * i:S * i + pool, S * j:S * j + pool]
        dx[n, c, S * i:S * i + pool, S * j:S * j + pool] += (window == dout[n, c, i, j]) * dout[n, c, i, j]
    return dx


def backward_mask_only(dout, cache):
    return _routed(dout, cache, value=lambda n, c, i, j: 1.0)


def backward_times_out(dout, cache):
    x, pool, S = cache
    return _routed(dout, cache, value=lambda n, c, i, j: x[n, c, S * i:S * i + pool, S * j:S * j + pool].max())


def backward_channel_argmax(dout, cache):
    x = cache[0]
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        r, s = np.unravel_index(np.argmax(x[n, c]), x.shape[2:])
        dx[n, c, r, s] += dout[n, c, i, j]
    return dx


def backward_no_offset(dout, cache):
    return _routed(dout, cache, offset=False)


def backward_argmax_transposed(dout, cache):
    return _routed(dout, cache, transposed=True)


def backward_scales_dout_in_place(dout, cache):
    dout *= 2.0
    return backward_loops(dout, cache) / 2


def backward_stub(dout, cache):
    raise NotImplementedError()


# ---- the hidden cases ---------------------------------------------------------------------------------------

FORWARDS = [forward_loops, forward_offsets, forward_argmax_cache, forward_python_floats]
PAIRS = [Together(backward_loops, forward_loops), Together(backward_offsets, forward_offsets),
         Together(backward_argmax_cache, forward_argmax_cache), Together(backward_python_scan, forward_python_floats)]
BACKWARD_CASES = ("w04_max_pool_backward_naive", "w04_max_pool_backward_naive_overlap", "w04_max_pool_backward_naive_ties")
CORRECT = {"w04_max_pool_forward_naive": FORWARDS} | {case: PAIRS for case in BACKWARD_CASES}


def _with_loops(backward):
    return Together(backward, forward_loops)


WRONG = [
    ("w04_max_pool_forward_naive", forward_zero_init, "never go below 0"),
    ("w04_max_pool_forward_naive", forward_across_channels, "across the channels too"),
    ("w04_max_pool_forward_naive", forward_one_short, "one row and one column short"),
    ("w04_max_pool_forward_naive", forward_window_start, r"start at \(i, j\) instead of \(S\*i, S\*j\)"),
    ("w04_max_pool_forward_naive", forward_default_stride_one, "the stride defaults to the window size"),
    ("w04_max_pool_forward_naive", forward_stride_as_pool, "although a different `stride` was given"),
    ("w04_max_pool_forward_naive", forward_out_only, r"must return a tuple \(out, cache\)"),
    ("w04_max_pool_forward_naive", forward_doubles_x_in_place, "changed its input `x` in place"),
    ("w04_max_pool_forward_naive", forward_stub, "not implemented yet"),
    ("w04_max_pool_backward_naive", _with_loops(backward_spread), "spreads each window's gradient"),
    ("w04_max_pool_backward_naive", _with_loops(backward_mask_from_dout), "your dx is 0 everywhere"),
    ("w04_max_pool_backward_naive", _with_loops(backward_mask_only), "the mask of the winners without dout"),
    ("w04_max_pool_backward_naive", _with_loops(backward_times_out), "carries the forward's maxima"),
    ("w04_max_pool_backward_naive", _with_loops(backward_channel_argmax), "the maximum of the whole channel"),
    ("w04_max_pool_backward_naive", _with_loops(backward_no_offset), "add the window's start"),
    ("w04_max_pool_backward_naive", _with_loops(backward_argmax_transposed), "swaps the winner's row and column"),
    ("w04_max_pool_backward_naive", _with_loops(backward_scales_dout_in_place), "changed `dout` in place"),
    ("w04_max_pool_backward_naive", _with_loops(backward_stub), "not implemented yet"),
    ("w04_max_pool_backward_naive", Together(backward_loops, forward_stub), "write the forward first"),
    ("w04_max_pool_backward_naive", Together(backward_loops, forward_out_only), "fix the forward first"),
    ("w04_max_pool_backward_naive_overlap", _with_loops(backward_overwrite), "add with `\\+=` instead of assigning"),
    ("w04_max_pool_backward_naive_overlap", _with_loops(backward_spread), "spreads each window's gradient"),
    ("w04_max_pool_backward_naive_overlap", Together(backward_loops, forward_doubles_x_in_place), "changed `x` in place"),
    ("w04_max_pool_backward_naive_overlap", _with_loops(backward_stub), "not implemented yet"),
    ("w04_max_pool_backward_naive_ties", _with_loops(backward_all_ties), "to every entry that ties"),
    ("w04_max_pool_backward_naive_ties", _with_loops(backward_last_tie), "its LAST maximum"),
    ("w04_max_pool_backward_naive_ties", _with_loops(backward_overwrite), "add with `\\+=` instead of assigning"),
    ("w04_max_pool_backward_naive_ties", _with_loops(backward_stub), "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w04_pool_naive", CORRECT, WRONG)


def _backward_problems(*case_ids):
    for case_id in case_ids:
        for sent in get_case(case_id).build()[0]["problems"]:
            yield sent["args"][0], sent["kwargs"].get("pool", 2), sent["kwargs"].get("stride"), sent["dout"]


def test_mistakes_differ_from_the_reference_on_the_cases_that_name_them():
    """Each named mistake can be told from the right answer on at least one hidden problem."""
    named = set()
    for call in get_case("w04_max_pool_forward_naive").build()[0]["calls"]:
        given = dict(zip(("pool", "stride"), call.args[1:])) | call.kwargs
        x, pool, stride = call.args[0], given.get("pool", 2), given.get("stride")
        right = ref.max_pool_forward(x, pool, stride)
        named |= {k for k, out in ref.max_pool_forward_mistakes(x, pool, stride).items()
                  if out.shape != right.shape or not np.allclose(out, right)}
    for x, pool, stride, dout in _backward_problems(*BACKWARD_CASES):
        right = ref.max_pool_backward(x, pool, stride, dout)
        named |= {k for k, out in ref.max_pool_backward_mistakes(x, pool, stride, dout).items()
                  if out.shape != right.shape or not np.allclose(out, right)}
    assert named == set(ref.MAX_POOL_FORWARD_MISTAKES) | set(ref.MAX_POOL_BACKWARD_MISTAKES)


def test_tie_mistakes_are_told_apart_only_where_there_are_ties():
    """all_ties and last_tie equal the reference on the tie-free cases and differ on the tied one."""
    for case_ids, differs in [(BACKWARD_CASES[:2], False), (BACKWARD_CASES[2:], True)]:
        seen = False
        for x, pool, stride, dout in _backward_problems(*case_ids):
            right = ref.max_pool_backward(x, pool, stride, dout)
            wrong = ref.max_pool_backward_mistakes(x, pool, stride, dout)
            seen |= not (np.allclose(wrong["all_ties"], right) and np.allclose(wrong["last_tie"], right))
        assert seen == differs


# ---- the reference against loops, centred differences and JAX --------------------------------------------------


def test_reference_against_loops():
    """Forward and backward (ties included) against four loops with np.argmax."""
    for x, pool, stride, dout in _backward_problems(*BACKWARD_CASES):
        out, cache = forward_loops(x.astype(np.float64), pool, stride)
        np.testing.assert_array_equal(ref.max_pool_forward(x, pool, stride), out)
        np.testing.assert_allclose(ref.max_pool_backward(x, pool, stride, dout), backward_loops(dout, cache),
                                   rtol=1e-12, atol=1e-12)


def test_reference_backward_equals_centred_differences_away_from_ties():
    """On every tie-free hidden problem (float32 ones in float64)."""
    for x, pool, stride, dout in _backward_problems(*BACKWARD_CASES[:2]):
        x, dout = x.astype(np.float64), dout.astype(np.float64)
        numerical = numerical_gradient_array(lambda a: ref.max_pool_forward(a, pool, stride), x, dout)
        np.testing.assert_allclose(ref.max_pool_backward(x, pool, stride, dout), numerical, rtol=1e-6, atol=1e-8)


def test_reference_against_jax_vjp():
    """Forward and dx against jax.lax.reduce_window(max) and its vjp on the tie-free hidden problems."""
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    for x, pool, stride, dout in _backward_problems(*BACKWARD_CASES[:2]):
        x, dout = x.astype(np.float64), dout.astype(np.float64)
        S = _step(pool, stride)

        def pooled(a):
            return jax.lax.reduce_window(a, -np.inf, jax.lax.max, (1, 1, pool, pool), (1, 1, S, S), "VALID")

        out, vjp = jax.vjp(pooled, x)
        np.testing.assert_array_equal(ref.max_pool_forward(x, pool, stride), np.asarray(out))
        np.testing.assert_allclose(ref.max_pool_backward(x, pool, stride, dout), np.asarray(vjp(dout)[0]),
                                   rtol=1e-12, atol=1e-12)


# ---- visible checks ----------------------------------------------------------------------------------------

BACKWARD_CHECKS = [visible.max_pool_backward_naive, visible.max_pool_backward_naive_overlap,
                   visible.max_pool_backward_naive_ties]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(
    [(visible.max_pool_forward_naive, fn) for fn in FORWARDS] + [(c, pair) for c in BACKWARD_CHECKS for pair in PAIRS],
    [
        (visible.max_pool_forward_naive, forward_stub, "forward_stub is not implemented yet"),
        (visible.max_pool_forward_naive, forward_zero_init, "never go below 0"),
        (visible.max_pool_forward_naive, forward_across_channels, "across the channels too"),
        (visible.max_pool_forward_naive, forward_one_short, "one row and one column short"),
        (visible.max_pool_forward_naive, forward_window_start, r"instead of \(S\*i, S\*j\)"),
        (visible.max_pool_forward_naive, forward_default_stride_one, "the stride defaults to the window size"),
        (visible.max_pool_forward_naive, forward_out_only, r"must return a tuple \(out, cache\)"),
        (visible.max_pool_forward_naive, forward_doubles_x_in_place, "changed its input `x` in place"),
        (visible.max_pool_backward_naive, _with_loops(backward_stub), "backward_stub is not implemented yet"),
        (visible.max_pool_backward_naive, Together(backward_loops, forward_stub), "forward_stub is not implemented"),
        (visible.max_pool_backward_naive, _with_loops(backward_spread), "spreads each window's gradient"),
        (visible.max_pool_backward_naive, _with_loops(backward_mask_from_dout), "0 everywhere"),
        (visible.max_pool_backward_naive, _with_loops(backward_mask_only), "without dout"),
        (visible.max_pool_backward_naive, _with_loops(backward_times_out), "the forward's maxima"),
        (visible.max_pool_backward_naive, _with_loops(backward_channel_argmax), "the whole channel"),
        (visible.max_pool_backward_naive, _with_loops(backward_no_offset), "the window's start"),
        (visible.max_pool_backward_naive, _with_loops(backward_argmax_transposed), "row and column"),
        (visible.max_pool_backward_naive, _with_loops(backward_scales_dout_in_place), "changed its input `dout`"),
        (visible.max_pool_backward_naive_overlap, _with_loops(backward_overwrite), "instead of assigning"),
        (visible.max_pool_backward_naive_overlap, _with_loops(backward_spread), "spreads each window's gradient"),
        (visible.max_pool_backward_naive_ties, _with_loops(backward_all_ties), "every entry that ties"),
        (visible.max_pool_backward_naive_ties, _with_loops(backward_last_tie), "LAST maximum"),
    ],
)
