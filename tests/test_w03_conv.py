"""Week 3, the convolutional layer (conv2d_forward): correct variants pass every hidden case, the known mistakes
fail with their diagnosis, the visible checks say the same, and the reference agrees with loops and JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w03_conv as ref
from dlfs.checks import week03 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week03, pytest.mark.w03_conv, pytest.mark.autograder]


def _sizes(x, w, stride, pad):
    return (x.shape[2] + 2 * pad - w.shape[2]) // stride + 1, (x.shape[3] + 2 * pad - w.shape[3]) // stride + 1


def _padded(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _float(*arrays):
    """float32 stays float32, anything else becomes float64."""
    dtype = np.result_type(*arrays, 1.0)
    return [np.asarray(a).astype(dtype) for a in arrays]


# ---- correct variants ----------------------------------------------------------------------------------------


def conv_six_loops(x, w, b, stride=1, pad=0):
    """Every index its own loop, accumulated in float64."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    total = float(b[f])
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                total += float(xp[n, c, stride * i + u, stride * j + v]) * float(w[f, c, u, v])
                    out[n, f, i, j] = total
    return out


def conv_six_loops_float32(x, w, b, stride=1, pad=0):
    """Six loops accumulating in the inputs' floating type: float32 in, float32 out (the least precise)."""
    x, w, b = _float(x, w, b)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    out = np.zeros((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    out[n, f, i, j] = b[f]
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                out[n, f, i, j] += xp[n, c, stride * i + u, stride * j + v] * w[f, c, u, v]
    return out


def conv_positions(x, w, b, stride=1, pad=0):
    """One loop over the output positions, each a (N, C, KH, KW) block contracted with all filters."""
    KH, KW = w.shape[2:]
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    out = np.empty((x.shape[0], w.shape[0], OH, OW), dtype=np.result_type(x, w, b, 1.0))
    for i in range(OH):
        for j in range(OW):
            block = xp[:, :, stride * i:stride * i + KH, stride * j:stride * j + KW]
            out[:, :, i, j] = np.tensordot(block, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv_windows_einsum(x, w, b, stride=1, pad=0):
    """All windows as a strided view, one einsum."""
    windows = sliding_window_view(_padded(x, pad), w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwuv,fcuv->nfhw", windows, w) + b[:, None, None]


def conv_windows_tensordot(x, w, b, stride=1, pad=0):
    """All windows as a strided view, one tensordot, channels last then moved."""
    x, w, b = _float(x, w, b)
    windows = sliding_window_view(_padded(x, pad), w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.moveaxis(np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])) + b, 3, 1)


def conv_im2col(x, w, b, stride=1, pad=0):
    """Columns built with a loop over the kernel offsets, then one matrix product per image, all in float64."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    N, C = x.shape[:2]
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    cols = np.empty((N, C, KH, KW, OH * OW))
    for u in range(KH):
        for v in range(KW):
            cols[:, :, u, v] = xp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride].reshape(N, C, -1)
    return (w.reshape(F, -1) @ cols.reshape(N, C * KH * KW, -1) + b[:, None]).reshape(N, F, OH, OW)


def conv_offsets_float64(x, w, b, stride=1, pad=0):
    """The loop over kernel offsets, casting everything to float64 first (float32 in, float64 out)."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    out = np.zeros((x.shape[0], w.shape[0], OH, OW)) + b[:, None, None]
    for u in range(w.shape[2]):
        for v in range(w.shape[3]):
            out += np.einsum("fc,nchw->nfhw", w[:, :, u, v], xp[:, :, u::stride, v::stride][:, :, :OH, :OW])
    return out


# ---- wrong variants -------------------------------------------------------------------------------------------


def _loops(x, w, b, stride, pad, *, xp=None, index=None, kernel=None, sizes=None, bias_each_channel=False,
           channels=None):
    """Six loops with pieces replaced: the padded input, where window (i, j) offset (u, v) reads, the kernel, the
    output size, the bias (added in the loop over channels) or the channels summed."""
    N, C = x.shape[:2]
    F, _, KH, KW = w.shape
    xp = _padded(x, pad) if xp is None else xp
    OH, OW = sizes or _sizes(x, w, stride, pad)
    index = index or (lambda i, u: stride * i + u)
    kernel = w if kernel is None else kernel
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    for c in range(channels or C):
                        if c == 0 or bias_each_channel:
                            out[n, f, i, j] += b[f]
                        for u in range(KH):
                            for v in range(KW):
                                out[n, f, i, j] += xp[n, c, index(i, u), index(j, v)] * kernel[f, c, u, v]
    return out


def conv_flipped(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, kernel=w[:, :, ::-1, ::-1])


def conv_kernel_transposed(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, kernel=w.transpose(0, 1, 3, 2))


def conv_no_plus_one(x, w, b, stride=1, pad=0):
    OH, OW = _sizes(x, w, stride, pad)
    return _loops(x, w, b, stride, pad, sizes=(OH - 1, OW - 1))


def conv_pad_all_axes(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, xp=np.pad(x, pad))


def conv_pad_first_axes(x, w, b, stride=1, pad=0):
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0), (0, 0)))
    return conv_windows_einsum(xp[:x.shape[0], :x.shape[1]], w, b, stride, 0)


def conv_pad_height_only(x, w, b, stride=1, pad=0):
    """Sizes taken from the padded array, which was padded on the rows only."""
    return conv_windows_einsum(np.pad(x, ((0, 0), (0, 0), (pad, pad), (0, 0))), w, b, stride, 0)


def conv_pad_one_side(x, w, b, stride=1, pad=0):
    return conv_windows_einsum(np.pad(x, ((0, 0), (0, 0), (pad, 0), (pad, 0))), w, b, stride, 0)


def conv_stride_in_window(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, index=lambda i, u: i + stride * u)


def conv_stride_position(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, index=lambda i, u: i + u)


def conv_stride_ignored(x, w, b, stride=1, pad=0):
    return conv_windows_einsum(x, w, b, 1, pad)


def conv_no_bias(x, w, b, stride=1, pad=0):
    return conv_windows_einsum(x, w, np.zeros_like(b), stride, pad)


def conv_bias_per_channel(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, bias_each_channel=True)


def conv_first_channel(x, w, b, stride=1, pad=0):
    return _loops(x, w, b, stride, pad, channels=1)


def conv_with_cache(x, w, b, stride=1, pad=0):
    return conv_windows_einsum(x, w, b, stride, pad), (x, w, b, stride, pad)


def conv_scales_w_in_place(x, w, b, stride=1, pad=0):
    w *= 2.0
    return conv_windows_einsum(x, w, 2 * b, stride, pad) / 2


def conv_all_float32(x, w, b, stride=1, pad=0):
    return conv_windows_einsum(*(np.asarray(a, dtype=np.float32) for a in (x, w, b)), stride, pad)


def conv_output_like_x(x, w, b, stride=1, pad=0):
    """The output allocated with x's type: uint8 pixels give truncated, wrapped integers."""
    out = np.zeros((x.shape[0], w.shape[0], *_sizes(x, w, stride, pad)), dtype=x.dtype)
    with np.errstate(all="ignore"):
        out[...] = conv_windows_einsum(x.astype(np.float64), w, b, stride, pad).astype(x.dtype)
    return out


def conv_stub(x, w, b, stride=1, pad=0):
    raise NotImplementedError()


CONV_CORRECT = [conv_six_loops, conv_six_loops_float32, conv_positions, conv_windows_einsum, conv_windows_tensordot,
                conv_im2col, conv_offsets_float64, ref.conv2d_forward]
CORRECT = {case: CONV_CORRECT for case in ("w03_conv2d_forward", "w03_conv2d_stride_pad", "w03_conv2d_shapes")}

WRONG = [
    ("w03_conv2d_forward", conv_flipped, "a true convolution"),
    ("w03_conv2d_forward", conv_kernel_transposed, "your kernel is transposed"),
    ("w03_conv2d_forward", conv_no_plus_one, "one row and one column short"),
    ("w03_conv2d_forward", conv_no_bias, "your output has no bias"),
    ("w03_conv2d_forward", conv_bias_per_channel, r"added once per input channel \(C times\)"),
    ("w03_conv2d_forward", conv_first_channel, "uses only channel 0"),
    ("w03_conv2d_forward", conv_with_cache, "returns its output array only"),
    ("w03_conv2d_forward", conv_scales_w_in_place, "changed its input `w` in place"),
    ("w03_conv2d_forward", conv_all_float32, "values are wrong; max relative error"),
    ("w03_conv2d_forward", conv_stub, "not implemented yet"),
    ("w03_conv2d_stride_pad", conv_pad_all_axes, "you padded every axis of x"),
    ("w03_conv2d_stride_pad", conv_pad_first_axes, "you padded the first two axes"),
    ("w03_conv2d_stride_pad", conv_pad_height_only, "padded the rows of x but not its columns"),
    ("w03_conv2d_stride_pad", conv_pad_one_side, "only one side of each spatial axis"),
    ("w03_conv2d_stride_pad", conv_stride_in_window, "steps by the stride inside the window"),
    ("w03_conv2d_stride_pad", conv_stride_position, r"start at \(i, j\) instead of \(S\*i, S\*j\)"),
    ("w03_conv2d_stride_pad", conv_stride_ignored, "the stride-1 convolution"),
    ("w03_conv2d_stride_pad", conv_flipped, "a true convolution"),
    ("w03_conv2d_stride_pad", conv_stub, "not implemented yet"),
    ("w03_conv2d_shapes", conv_output_like_x, r"uint8 x: expected a floating-point array"),
    ("w03_conv2d_shapes", conv_first_channel, "uses only channel 0"),
    ("w03_conv2d_shapes", conv_no_plus_one, "one row and one column short"),
    ("w03_conv2d_shapes", conv_stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w03_conv", CORRECT, WRONG)


# ---- the reference -------------------------------------------------------------------------------------------

SHAPES = [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 7, 6, 4, 3, 2, 2, 1), (2, 2, 9, 8, 3, 5, 3, 3, 2), (3, 1, 4, 4, 2, 1, 1, 1, 0)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_against_six_loops(shape):
    x, w, b, stride, pad = ref._problem(np.random.default_rng(1), shape)
    np.testing.assert_allclose(ref.conv2d_forward(x, w, b, stride, pad), conv_six_loops(x, w, b, stride, pad),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reference_against_jax(shape, dtype):
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    x, w, b, stride, pad = ref._problem(np.random.default_rng(2), shape, dtype)
    theirs = jax.lax.conv_general_dilated(x.astype(np.float64), w.astype(np.float64), (stride, stride),
                                          [(pad, pad), (pad, pad)], dimension_numbers=("NCHW", "OIHW", "NCHW"))
    ours = ref.conv2d_forward(x, w, b, stride, pad)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, np.asarray(theirs) + b.astype(np.float64)[:, None, None], rtol=1e-12, atol=1e-12)


def test_reference_does_not_flip():
    """One channel, one filter, no padding: the layer is scipy's correlate2d, not convolve2d."""
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    out = ref.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0, 0]
    np.testing.assert_allclose(out, signal.correlate2d(image, kernel, mode="valid"), rtol=1e-12, atol=1e-12)


def test_mistakes_differ_from_the_reference_on_every_case_that_names_them():
    """Each named mistake can be told from the right answer on at least one hidden problem."""
    from autograder.protocol import get_case

    named = set()
    for case in CORRECT:
        inputs, _ = get_case(case).build()
        for call in inputs["calls"]:
            args = dict(zip(("x", "w", "b", "stride", "pad"), call.args)) | call.kwargs
            right = ref.conv2d_forward(**args)
            for name, out in ref.conv2d_mistakes(**args).items():
                if out.shape != right.shape or not np.allclose(out, right):
                    named.add(name)
    assert named == set(ref.CONV2D_MISTAKES)


# ---- visible checks ------------------------------------------------------------------------------------------

CHECKS = [visible.conv2d_forward, visible.conv2d_forward_stride_pad, visible.conv2d_forward_shapes]

VISIBLE_CORRECT = [(check, fn) for check in CHECKS for fn in (conv_six_loops, conv_six_loops_float32, conv_positions,
                                                              conv_windows_einsum, conv_windows_tensordot, conv_im2col,
                                                              conv_offsets_float64)]

VISIBLE_WRONG = [
    (visible.conv2d_forward, conv_stub, "conv_stub is not implemented yet"),
    (visible.conv2d_forward, conv_flipped, "a true convolution"),
    (visible.conv2d_forward, conv_kernel_transposed, "your kernel is transposed"),
    (visible.conv2d_forward, conv_no_plus_one, "one row and one column short"),
    (visible.conv2d_forward, conv_no_bias, "no bias"),
    (visible.conv2d_forward, conv_bias_per_channel, "once per input channel"),
    (visible.conv2d_forward, conv_first_channel, "only channel 0"),
    (visible.conv2d_forward, conv_with_cache, "returns its output array only"),
    (visible.conv2d_forward, conv_scales_w_in_place, "changed its input `w` in place"),
    (visible.conv2d_forward_stride_pad, conv_stub, "not implemented yet"),
    (visible.conv2d_forward_stride_pad, conv_pad_all_axes, "padded every axis"),
    (visible.conv2d_forward_stride_pad, conv_pad_first_axes, "padded the first two axes"),
    (visible.conv2d_forward_stride_pad, conv_pad_height_only, "rows of x but not its columns"),
    (visible.conv2d_forward_stride_pad, conv_pad_one_side, "only one side"),
    (visible.conv2d_forward_stride_pad, conv_stride_in_window, "inside the window"),
    (visible.conv2d_forward_stride_pad, conv_stride_position, r"instead of \(S\*i, S\*j\)"),
    (visible.conv2d_forward_stride_pad, conv_stride_ignored, "stride-1 convolution"),
    (visible.conv2d_forward_shapes, conv_stub, "not implemented yet"),
    (visible.conv2d_forward_shapes, conv_flipped, "a true convolution"),
    (visible.conv2d_forward_shapes, conv_pad_one_side, "only one side"),
    (visible.conv2d_forward_shapes, conv_first_channel, "only channel 0"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
