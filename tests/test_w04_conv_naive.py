"""Week 4, the naive convolution (conv_forward_naive, conv_backward_naive): correct variants pass every hidden case,
the known mistakes fail with their diagnosis, the visible checks say the same, and the reference agrees with loops,
centred differences and JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w04_conv_naive as ref
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import get_case
from dlfs.checks import week04 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_conv_naive, pytest.mark.autograder]


def _sizes(x, w, stride, pad):
    return (x.shape[2] + 2 * pad - w.shape[2]) // stride + 1, (x.shape[3] + 2 * pad - w.shape[3]) // stride + 1


def _padded(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _float(*arrays):
    """float32 stays float32, anything else becomes float64."""
    dtype = np.result_type(*arrays, 1.0)
    return [np.asarray(a).astype(dtype) for a in arrays]


# ---- correct forwards -----------------------------------------------------------------------------------------


def forward_six_loops(x, w, b, stride=1, pad=0):
    """Every index its own loop, accumulated in Python floats (float64)."""
    N, C = x.shape[:2]
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
    return out, (x, w, b, stride, pad)


def forward_tensordot_float32(x, w, b, stride=1, pad=0):
    """Four loops over (n, i, j) and all filters at once, in the inputs' floating type; the cache is a dict."""
    x, w, b = _float(x, w, b)
    KH, KW = w.shape[2:]
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    out = np.empty((x.shape[0], w.shape[0], OH, OW), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(OH):
            for j in range(OW):
                block = xp[n, :, stride * i:stride * i + KH, stride * j:stride * j + KW]
                out[n, :, i, j] = np.tensordot(w, block, axes=3) + b
    return out, {"xp": xp, "w": w, "stride": stride, "pad": pad, "shape": x.shape}


def forward_windows(x, w, b, stride=1, pad=0):
    """All windows as a strided view, one einsum; the cache holds the padded input."""
    windows = sliding_window_view(_padded(x, pad), w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwuv,fcuv->nfhw", windows, w) + b[:, None, None]
    return out, (_padded(x, pad), w, stride, pad, x.shape)


def forward_im2col(x, w, b, stride=1, pad=0):
    """Columns built with a loop over the kernel offsets, one matrix product; the cache holds the columns."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    N, C = x.shape[:2]
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x, w, stride, pad)
    xp = _padded(x, pad)
    cols = np.empty((N, C, KH, KW, OH * OW))
    for u in range(KH):
        for v in range(KW):
            cols[:, :, u, v] = xp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride].reshape(N, C, -1)
    cols = cols.reshape(N, C * KH * KW, -1)
    out = (w.reshape(F, -1) @ cols + b[:, None]).reshape(N, F, OH, OW)
    return out, (cols, w, x.shape, stride, pad)


# ---- correct backwards (each with the forward whose cache it reads) --------------------------------------------


def backward_scatter(dout, cache):
    """The scatter form with loops: each output adds w[f] * dout to its window of dxp, and its window to dw[f]."""
    x, w, b, stride, pad = cache
    KH, KW = w.shape[2:]
    xp = _padded(x.astype(np.float64), pad)
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    N, F, OH, OW = dout.shape
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = (n, slice(None), slice(stride * i, stride * i + KH), slice(stride * j, stride * j + KW))
                    dxp[window] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[window] * dout[n, f, i, j]
    H, W = x.shape[2:]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def backward_scatter_float32(dout, cache):
    """The scatter form with six loops, accumulating in the inputs' floating type (float32 stays float32)."""
    xp, w, stride, pad = cache["xp"], cache["w"], cache["stride"], cache["pad"]
    dout = dout.astype(xp.dtype)
    N, F, OH, OW = dout.shape
    C, KH, KW = w.shape[1:]
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros(F, dtype=xp.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    db[f] += dout[n, f, i, j]
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                dxp[n, c, stride * i + u, stride * j + v] += w[f, c, u, v] * dout[n, f, i, j]
                                dw[f, c, u, v] += xp[n, c, stride * i + u, stride * j + v] * dout[n, f, i, j]
    H, W = cache["shape"][2:]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


def _dilated(dout, stride):
    N, F, OH, OW = dout.shape
    spread = np.zeros((N, F, stride * (OH - 1) + 1, stride * (OW - 1) + 1), dtype=dout.dtype)
    spread[:, :, ::stride, ::stride] = dout
    return spread


def backward_gather(dout, cache):
    """The convolution form: dxp is the correlation of the dilated dout, zero-padded by K - 1, with the rotated
    kernel; dw the correlation of xp with the dilated dout (both as window views and einsums)."""
    xp, w, stride, pad, shape = cache
    KH, KW = w.shape[2:]
    H, W = shape[2:]
    spread = _dilated(np.asarray(dout, dtype=np.float64), stride)
    full = np.pad(spread, ((0, 0), (0, 0), (KH - 1, KH - 1), (KW - 1, KW - 1)))
    windows = sliding_window_view(full, (KH, KW), axis=(2, 3))  # (N, F, ., ., KH, KW)
    dxp_reached = np.einsum("nfhwuv,fcuv->nchw", windows, w[:, :, ::-1, ::-1])
    dxp = np.zeros(xp.shape)
    dxp[:, :, :dxp_reached.shape[2], :dxp_reached.shape[3]] = dxp_reached  # rows the stride never reads get 0
    patches = sliding_window_view(xp, spread.shape[2:], axis=(2, 3))[:, :, :KH, :KW]  # (N, C, KH, KW, ., .)
    dw = np.einsum("ncuvhw,nfhw->fcuv", patches, spread)
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, np.einsum("nfhw->f", dout)


def backward_im2col(dout, cache):
    """Three matrix products on the columns, then the columns scattered back with a loop over kernel offsets."""
    cols, w, shape, stride, pad = cache
    N, C, H, W = shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    d = dout.reshape(N, F, -1)
    dw = np.einsum("nfl,nkl->fk", d, cols).reshape(w.shape)
    dcols = (w.reshape(F, -1).T @ d).reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for u in range(KH):
        for v in range(KW):
            dxp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride] += dcols[:, :, u, v]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, d.sum(axis=(0, 2))


# ---- wrong forwards -----------------------------------------------------------------------------------------


def _forward(x, w, b, stride, pad, *, xp=None, sizes=None, start=None, kernel=None, bias_times=1):
    """Four loops, pieces replaced: the padded input, the output size, where window (i, j) starts, the kernel, how
    many times the bias is added."""
    xp = _padded(x, pad) if xp is None else xp
    KH, KW = w.shape[2:]
    OH, OW = sizes or _sizes(x, w, stride, pad)
    start = start or (lambda i: stride * i)
    kernel = w if kernel is None else kernel
    out = np.zeros((x.shape[0], w.shape[0], OH, OW))
    for n, f, i, j in np.ndindex(out.shape):
        out[n, f, i, j] = np.sum(xp[n, :, start(i):start(i) + KH, start(j):start(j) + KW] * kernel[f]) + bias_times * b[f]
    return out, (x, w, b, stride, pad)


def forward_flipped(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, pad, kernel=w[:, :, ::-1, ::-1])


def forward_kernel_transposed(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, pad, kernel=w.transpose(0, 1, 3, 2))


def forward_no_bias(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, pad, bias_times=0)


def forward_bias_per_channel(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, pad, bias_times=x.shape[1])


def forward_one_short(x, w, b, stride=1, pad=0):
    OH, OW = _sizes(x, w, stride, pad)
    return _forward(x, w, b, stride, pad, sizes=(OH - 1, OW - 1))


def forward_no_padding(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, 0)


def forward_pad_one_side(x, w, b, stride=1, pad=0):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, 0), (pad, 0)))
    return _forward(xp, w, b, stride, 0)


def forward_stride_ignored(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, 1, pad)


def forward_stride_position(x, w, b, stride=1, pad=0):
    return _forward(x, w, b, stride, pad, start=lambda i: i)


def forward_out_only(x, w, b, stride=1, pad=0):
    return forward_windows(x, w, b, stride, pad)[0]


def forward_doubles_x_in_place(x, w, b, stride=1, pad=0):
    original = x.copy()
    x *= 2.0
    return forward_windows(original, w, b, stride, pad)


def forward_stub(x, w, b, stride=1, pad=0):
    raise NotImplementedError()


# ---- wrong backwards (with forward_six_loops' cache) ----------------------------------------------------------


def _backward(dout, cache, *, dx_kernel=None, dx_stride=None, dw_stride=None, images=None):
    """The scatter loops, pieces replaced: the kernel sent to dx, the stride used for dx or dw, the images summed
    into dw. Returns dxp (uncropped), dw, db."""
    x, w, b, stride, pad = cache
    KH, KW = w.shape[2:]
    xp = _padded(x, pad)
    kernel = w if dx_kernel is None else dx_kernel
    sx, sw = dx_stride or stride, dw_stride or stride
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    N, F, OH, OW = dout.shape
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    dxp[n, :, sx * i:sx * i + KH, sx * j:sx * j + KW] += kernel[f] * dout[n, f, i, j]
                    if images is None or n < images:
                        dw[f] += xp[n, :, sw * i:sw * i + KH, sw * j:sw * j + KW] * dout[n, f, i, j]
    return dxp, dw, dout.sum(axis=(0, 2, 3))


def _crop(dxp, cache):
    x, _, _, _, pad = cache
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]


def backward_dx_flipped(dout, cache):
    dxp, dw, db = _backward(dout, cache, dx_kernel=cache[1][:, :, ::-1, ::-1])
    return _crop(dxp, cache), dw, db


def backward_dx_uncropped(dout, cache):
    return _backward(dout, cache)


def backward_dx_crop_corner(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    return dxp[:, :, :cache[0].shape[2], :cache[0].shape[3]], dw, db


def backward_dx_pad_minus_pad(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    pad = cache[4]
    return dxp[:, :, pad:-pad, pad:-pad], dw, db


def backward_stride_ignored(dout, cache):
    dxp, dw, db = _backward(dout, cache, dx_stride=1, dw_stride=1)
    return _crop(dxp, cache), dw, db


def backward_dw_stride_ignored(dout, cache):
    dxp, dw, db = _backward(dout, cache, dw_stride=1)
    return _crop(dxp, cache), dw, db


def backward_dw_first_image(dout, cache):
    dxp, dw, db = _backward(dout, cache, images=1)
    return _crop(dxp, cache), dw, db


def backward_dw_mean(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    return _crop(dxp, cache), dw / dout.shape[0], db


def backward_dw_flipped(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    return _crop(dxp, cache), dw[:, :, ::-1, ::-1], db


def backward_dw_transposed(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    return _crop(dxp, cache), np.swapaxes(dw, 2, 3), db


def backward_db_mean(dout, cache):
    dxp, dw, _ = _backward(dout, cache)
    return _crop(dxp, cache), dw, dout.mean(axis=(0, 2, 3))


def backward_db_batch_mean(dout, cache):
    dxp, dw, db = _backward(dout, cache)
    return _crop(dxp, cache), dw, db / dout.shape[0]


def backward_db_per_image(dout, cache):
    dxp, dw, _ = _backward(dout, cache)
    return _crop(dxp, cache), dw, dout.sum(axis=(2, 3))


def backward_scales_dout_in_place(dout, cache):
    dout *= 2.0
    dx, dw, db = backward_scatter(dout, cache)
    return dx / 2, dw / 2, db / 2


def backward_two_parts(dout, cache):
    return backward_scatter(dout, cache)[:2]


def backward_stub(dout, cache):
    raise NotImplementedError()


# ---- the hidden cases ---------------------------------------------------------------------------------------

FORWARDS = [forward_six_loops, forward_tensordot_float32, forward_windows, forward_im2col]
PAIRS = [Together(backward_scatter, forward_six_loops), Together(backward_scatter_float32, forward_tensordot_float32),
         Together(backward_gather, forward_windows), Together(backward_im2col, forward_im2col)]
FORWARD_CASES = ("w04_conv_forward_naive", "w04_conv_forward_naive_shapes")
BACKWARD_CASES = ("w04_conv_backward_naive", "w04_conv_backward_naive_stride_pad", "w04_conv_backward_naive_shapes")
CORRECT = {case: FORWARDS for case in FORWARD_CASES} | {case: PAIRS for case in BACKWARD_CASES}


def _with_six_loops(backward):
    return Together(backward, forward_six_loops)


WRONG = [
    ("w04_conv_forward_naive", forward_flipped, "a true convolution"),
    ("w04_conv_forward_naive", forward_kernel_transposed, "your kernel is transposed"),
    ("w04_conv_forward_naive", forward_no_bias, "your out has no bias"),
    ("w04_conv_forward_naive", forward_bias_per_channel, r"once per input channel \(C times\)"),
    ("w04_conv_forward_naive", forward_one_short, "one row and one column short"),
    ("w04_conv_forward_naive", forward_no_padding, "the convolution of the unpadded x"),
    ("w04_conv_forward_naive", forward_pad_one_side, "only one side of each spatial axis"),
    ("w04_conv_forward_naive", forward_stride_ignored, "the stride-1 convolution"),
    ("w04_conv_forward_naive", forward_stride_position, r"start at \(i, j\) instead of \(S\*i, S\*j\)"),
    ("w04_conv_forward_naive", forward_out_only, r"must return a tuple \(out, cache\)"),
    ("w04_conv_forward_naive", forward_doubles_x_in_place, "changed its input `x` in place"),
    ("w04_conv_forward_naive", forward_stub, "not implemented yet"),
    ("w04_conv_forward_naive_shapes", forward_flipped, "a true convolution"),
    ("w04_conv_forward_naive_shapes", forward_pad_one_side, "only one side of each spatial axis"),
    ("w04_conv_forward_naive_shapes", forward_stub, "not implemented yet"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dx_flipped), "rotated by 180 degrees"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dx_pad_minus_pad), r"your dx is empty for pad=0"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dw_first_image), "your dw comes from image 0 only"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dw_mean), "your dw is the mean over the images"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dw_flipped), "your dw is flipped in both axes"),
    ("w04_conv_backward_naive", _with_six_loops(backward_dw_transposed), "your dw is transposed"),
    ("w04_conv_backward_naive", _with_six_loops(backward_db_mean), "your db is the mean of dout"),
    ("w04_conv_backward_naive", _with_six_loops(backward_db_batch_mean), "divided by the number of images"),
    ("w04_conv_backward_naive", _with_six_loops(backward_db_per_image), r"your db has shape \(N, F\)"),
    ("w04_conv_backward_naive", _with_six_loops(backward_scales_dout_in_place), "changed `dout` in place"),
    ("w04_conv_backward_naive", _with_six_loops(backward_two_parts), r"must return a tuple \(dx, dw, db\)"),
    ("w04_conv_backward_naive", _with_six_loops(backward_stub), "not implemented yet"),
    ("w04_conv_backward_naive", Together(backward_scatter, forward_stub), "which is not implemented yet: write the forward"),
    ("w04_conv_backward_naive", Together(backward_scatter, forward_out_only), "fix the forward first"),
    ("w04_conv_backward_naive", Together(backward_scatter, forward_doubles_x_in_place), "changed `x` in place"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_dx_uncropped), "your dx has the padded shape"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_dx_crop_corner), "the top-left H x W corner"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_stride_ignored), "your dx sends the gradient of "
     r"output \(i, j\) to the window at \(i, j\)"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_dw_stride_ignored), r"your dw pairs output \(i, j\)"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_dx_flipped), "rotated by 180 degrees"),
    ("w04_conv_backward_naive_stride_pad", _with_six_loops(backward_stub), "not implemented yet"),
    ("w04_conv_backward_naive_shapes", _with_six_loops(backward_dx_flipped), "rotated by 180 degrees"),
    ("w04_conv_backward_naive_shapes", _with_six_loops(backward_dw_mean), "your dw is the mean over the images"),
    ("w04_conv_backward_naive_shapes", _with_six_loops(backward_stub), "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w04_conv_naive", CORRECT, WRONG)


def _backward_problems():
    for case_id in BACKWARD_CASES:
        for sent in get_case(case_id).build()[0]["problems"]:
            x, w, b = sent["args"]
            yield case_id, x, w, b, sent["kwargs"].get("stride", 1), sent["kwargs"].get("pad", 0), sent["dout"]


def _forward_problems():
    for case_id in FORWARD_CASES:
        for call in get_case(case_id).build()[0]["calls"]:
            named = dict(zip(("x", "w", "b", "stride", "pad"), call.args)) | call.kwargs
            yield named["x"], named["w"], named["b"], named.get("stride", 1), named.get("pad", 0)


def test_mistakes_differ_from_the_reference_on_the_cases_that_name_them():
    """Each named mistake can be told from the right answer on at least one hidden problem."""
    named = set()
    for x, w, b, stride, pad in _forward_problems():
        right = ref.conv_forward(x, w, b, stride, pad)
        named |= {k for k, out in ref.conv_forward_mistakes(x, w, b, stride, pad).items()
                  if out.shape != right.shape or not np.allclose(out, right)}
    for _, x, w, b, stride, pad, dout in _backward_problems():
        right = dict(zip(("dx", "dw", "db"), ref.conv_backward(x, w, b, stride, pad, dout)))
        for part, outputs in ref.conv_backward_mistakes(x, w, b, stride, pad, dout).items():
            named |= {k for k, out in outputs.items() if out.shape != right[part].shape or not np.allclose(out, right[part])}
    assert named == set(ref.CONV_FORWARD_MISTAKES) | set(ref.CONV_BACKWARD_MISTAKES)


# ---- the reference against loops, centred differences and JAX --------------------------------------------------


def test_reference_forward_against_six_loops():
    for x, w, b, stride, pad in _forward_problems():
        np.testing.assert_allclose(ref.conv_forward(x, w, b, stride, pad), forward_six_loops(x, w, b, stride, pad)[0],
                                   rtol=1e-12, atol=1e-12)


def test_reference_backward_against_scatter_loops():
    for _, x, w, b, stride, pad, dout in _backward_problems():
        cache = (x.astype(np.float64), w.astype(np.float64), b, stride, pad)
        for ours, theirs in zip(ref.conv_backward(x, w, b, stride, pad, dout),
                                backward_scatter(dout.astype(np.float64), cache)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case_id", BACKWARD_CASES)
def test_reference_backward_equals_centred_differences(case_id):
    """On every hidden backward problem (float32 ones in float64): the reference is the gradient of the forward."""
    for found, x, w, b, stride, pad, dout in _backward_problems():
        if found != case_id:
            continue
        x, w, b, dout = (a.astype(np.float64) for a in (x, w, b, dout))
        dx, dw, db = ref.conv_backward(x, w, b, stride, pad, dout)
        np.testing.assert_allclose(dx, numerical_gradient_array(lambda a: ref.conv_forward(a, w, b, stride, pad), x, dout),
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dw, numerical_gradient_array(lambda a: ref.conv_forward(x, a, b, stride, pad), w, dout),
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, numerical_gradient_array(lambda a: ref.conv_forward(x, w, a, stride, pad), b, dout),
                                   rtol=1e-6, atol=1e-8)


def _jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


def test_reference_against_jax_vjp():
    """Forward and (dx, dw, db) against jax.lax.conv_general_dilated and its vjp, on every hidden backward problem."""
    jax = _jax()

    def layer(x, w, b, stride, pad):
        out = jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[:, None, None]

    for _, x, w, b, stride, pad, dout in _backward_problems():
        x, w, b, dout = (a.astype(np.float64) for a in (x, w, b, dout))
        out, vjp = jax.vjp(lambda x_, w_, b_: layer(x_, w_, b_, stride, pad), x, w, b)
        np.testing.assert_allclose(ref.conv_forward(x, w, b, stride, pad), np.asarray(out), rtol=1e-12, atol=1e-12)
        for ours, theirs in zip(ref.conv_backward(x, w, b, stride, pad, dout), vjp(dout)):
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-12)


def test_reference_keeps_float64_for_float32_inputs():
    x, w, b, stride, pad = ref.problem(np.random.default_rng(5), (2, 2, 5, 6, 3, 3, 2, 2, 1), np.float32)
    dout = np.ones(ref.conv_forward(x, w, b, stride, pad).shape, dtype=np.float32)
    assert ref.conv_forward(x, w, b, stride, pad).dtype == np.float64
    assert all(g.dtype == np.float64 for g in ref.conv_backward(x, w, b, stride, pad, dout))


# ---- visible checks ----------------------------------------------------------------------------------------

FORWARD_CHECKS = [visible.conv_forward_naive, visible.conv_forward_naive_shapes]
BACKWARD_CHECKS = [visible.conv_backward_naive, visible.conv_backward_naive_stride_pad, visible.conv_backward_naive_shapes]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(
    [(check, fn) for check in FORWARD_CHECKS for fn in FORWARDS]
    + [(check, pair) for check in BACKWARD_CHECKS for pair in PAIRS],
    [
        (visible.conv_forward_naive, forward_stub, "forward_stub is not implemented yet"),
        (visible.conv_forward_naive, forward_flipped, "a true convolution"),
        (visible.conv_forward_naive, forward_kernel_transposed, "your kernel is transposed"),
        (visible.conv_forward_naive, forward_no_bias, "no bias"),
        (visible.conv_forward_naive, forward_bias_per_channel, "once per input channel"),
        (visible.conv_forward_naive, forward_one_short, "one row and one column short"),
        (visible.conv_forward_naive, forward_no_padding, "unpadded x"),
        (visible.conv_forward_naive, forward_pad_one_side, "only one side"),
        (visible.conv_forward_naive, forward_out_only, r"must return a tuple \(out, cache\)"),
        (visible.conv_forward_naive, forward_doubles_x_in_place, "changed its input `x` in place"),
        (visible.conv_forward_naive_shapes, forward_stride_ignored, "the stride-1 convolution"),
        (visible.conv_forward_naive_shapes, forward_stride_position, r"instead of \(S\*i, S\*j\)"),
        (visible.conv_forward_naive_shapes, forward_flipped, "a true convolution"),
        (visible.conv_backward_naive, _with_six_loops(backward_stub), "backward_stub is not implemented yet"),
        (visible.conv_backward_naive, Together(backward_scatter, forward_stub), "forward_stub is not implemented yet"),
        (visible.conv_backward_naive, _with_six_loops(backward_dx_flipped), "rotated by 180 degrees"),
        (visible.conv_backward_naive, _with_six_loops(backward_dx_uncropped), "the padded shape"),
        (visible.conv_backward_naive, _with_six_loops(backward_dx_crop_corner), "top-left H x W corner"),
        (visible.conv_backward_naive, _with_six_loops(backward_dw_first_image), "image 0 only"),
        (visible.conv_backward_naive, _with_six_loops(backward_dw_mean), "the mean over the images"),
        (visible.conv_backward_naive, _with_six_loops(backward_dw_flipped), "flipped in both axes"),
        (visible.conv_backward_naive, _with_six_loops(backward_dw_transposed), "your dw is transposed"),
        (visible.conv_backward_naive, _with_six_loops(backward_db_mean), "your db is the mean of dout"),
        (visible.conv_backward_naive, _with_six_loops(backward_db_batch_mean), "divided by the number of images"),
        (visible.conv_backward_naive, _with_six_loops(backward_db_per_image), r"shape \(N, F\)"),
        (visible.conv_backward_naive, _with_six_loops(backward_scales_dout_in_place), "changed its input `dout`"),
        (visible.conv_backward_naive, _with_six_loops(backward_two_parts), r"must return a tuple \(dx, dw, db\)"),
        (visible.conv_backward_naive_stride_pad, _with_six_loops(backward_stride_ignored), r"to the window at \(i, j\)"),
        (visible.conv_backward_naive_stride_pad, _with_six_loops(backward_dw_stride_ignored), r"dw pairs output"),
        (visible.conv_backward_naive_stride_pad, _with_six_loops(backward_dx_uncropped), "the padded shape"),
        (visible.conv_backward_naive_shapes, _with_six_loops(backward_dx_flipped), "rotated by 180 degrees"),
        (visible.conv_backward_naive_shapes, _with_six_loops(backward_db_per_image), r"shape \(N, F\)"),
    ],
)
