"""Week 4, im2col, col2im and the fast convolution: the references agree with loops, centred differences and JAX;
correct variants pass every hidden case, the known mistakes fail with their diagnosis (the visible checks say the
same), and the speed case separates vectorised code from code that is right but slow.

The notebook's own solution is fed to every case by ``tests/test_solutions.py``; the variants here are written
differently on purpose (loops, other NumPy routes, float64 casts).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import conv_reference
from autograder.cases import w04_im2col as ref
from autograder.gradcheck import numerical_gradient_array
from dlfs.checks import week04 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_im2col, pytest.mark.autograder]


def _sizes(H, W, KH, KW, stride, pad):
    return (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1


def _padded(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


# ---- correct variants: im2col ----------------------------------------------------------------------------------


def im2col_offsets(x, KH, KW, stride=1, pad=0):
    """One strided slice per kernel offset, copied into a preallocated block."""
    N, C, H, W = x.shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    xp = _padded(x, pad)
    out = np.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for u in range(KH):
        for v in range(KW):
            out[:, :, u, v] = xp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride]
    return out.reshape(N, C * KH * KW, OH * OW)


def im2col_sliding(x, KH, KW, stride=1, pad=0):
    """sliding_window_view, every stride-th window, axes moved, reshaped."""
    N, C = x.shape[:2]
    windows = sliding_window_view(_padded(x, pad), (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.moveaxis(windows, (4, 5), (2, 3)).reshape(N, C * KH * KW, -1)


def im2col_positions_float64(x, KH, KW, stride=1, pad=0):
    """A loop over the output positions, in float64 whatever x is (float32 in, float64 out)."""
    N, C, H, W = x.shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    xp = _padded(np.asarray(x, dtype=np.float64), pad)
    cols = np.zeros((N, C * KH * KW, OH * OW))
    for i in range(OH):
        for j in range(OW):
            cols[:, :, i * OW + j] = xp[:, :, stride * i:stride * i + KH, stride * j:stride * j + KW].reshape(N, -1)
    return cols


# ---- correct variants: col2im ----------------------------------------------------------------------------------


def col2im_add_at(cols, x_shape, KH, KW, stride=1, pad=0):
    """np.add.at with the index of every entry: the unbuffered scatter-add."""
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    c, u, v, i, j = np.meshgrid(np.arange(C), np.arange(KH), np.arange(KW), np.arange(OH), np.arange(OW),
                                indexing="ij")
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    blocks = cols.reshape(N, C, KH, KW, OH, OW)
    np.add.at(dxp, (slice(None), c, stride * i + u, stride * j + v), blocks)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def col2im_positions(cols, x_shape, KH, KW, stride=1, pad=0):
    """A loop over the output positions, each window added back whole."""
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for i in range(OH):
        for j in range(OW):
            window = cols[:, :, i * OW + j].reshape(N, C, KH, KW)
            dxp[:, :, stride * i:stride * i + KH, stride * j:stride * j + KW] += window
    return dxp[:, :, pad:pad + H, pad:pad + W].copy()


def col2im_offsets(cols, x_shape, KH, KW, stride=1, pad=0):
    """The plain loop over the kernel offsets, into a float64 image."""
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    blocks = cols.reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for u in range(KH):
        for v in range(KW):
            dxp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride] += blocks[:, :, u, v]
    return dxp[:, :, pad:H + pad, pad:W + pad]


# ---- correct variants: the fast layer -----------------------------------------------------------------------


def forward_tensordot(x, w, b, stride=1, pad=0):
    """tensordot over the rows, (F, N, L) moved to (N, F, L); the cache keeps x itself."""
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    cols = im2col_offsets(x, KH, KW, stride, pad)
    out = np.moveaxis(np.tensordot(w.reshape(F, -1), cols, axes=(1, 1)), 0, 1) + b[:, None]
    return out.reshape(x.shape[0], F, OH, OW), (x, w, stride, pad)


def backward_tensordot(dout, cache):
    """Columns made again from x; dx by col2im with np.add.at."""
    x, w, stride, pad = cache
    F, _, KH, KW = w.shape
    cols = im2col_offsets(x, KH, KW, stride, pad)
    d = dout.reshape(dout.shape[0], F, -1)
    dw = np.tensordot(d, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
    dcols = np.einsum("fk,nfl->nkl", w.reshape(F, -1), d)
    return col2im_add_at(dcols, x.shape, KH, KW, stride, pad), dw, d.sum(axis=(0, 2))


def forward_float64(x, w, b, stride=1, pad=0):
    """Everything cast to float64 first (float32 in, float64 out), einsum on the columns."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    cols = im2col_sliding(x, KH, KW, stride, pad)
    out = np.einsum("fk,nkl->nfl", w.reshape(F, -1), cols) + b[:, None]
    return out.reshape(-1, F, OH, OW), {"shape": x.shape, "w": w, "cols": cols, "stride": stride, "pad": pad}


def backward_dilated(dout, cache):
    """dx as a gather: the full correlation of the stride-dilated dout with the kernel rotated by 180 degrees."""
    N, C, H, W = cache["shape"]
    w, cols, stride, pad = cache["w"], cache["cols"], cache["stride"], cache["pad"]
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    d = np.asarray(dout, dtype=np.float64).reshape(N, F, -1)
    dw = np.einsum("nfl,nkl->fk", d, cols).reshape(w.shape)
    dilated = np.zeros((N, F, H + 2 * pad + KH - 1, W + 2 * pad + KW - 1))  # room for the border no window reaches
    dilated[:, :, KH - 1:KH - 1 + stride * OH:stride, KW - 1:KW - 1 + stride * OW:stride] = dout
    rotated = w[:, :, ::-1, ::-1]
    windows = sliding_window_view(dilated, (KH, KW), axis=(2, 3))[:, :, :H + 2 * pad, :W + 2 * pad]
    dxp = np.einsum("nfhwuv,fcuv->nchw", windows, rotated, optimize=True)
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, d.sum(axis=(0, 2))


def forward_positions(x, w, b, stride=1, pad=0):
    """A loop over the output positions, vectorised over images, channels and filters: fast enough for the
    speed test's 50x (each step works on the whole batch)."""
    N = x.shape[0]
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    xp = _padded(x, pad)
    flat = w.reshape(F, -1)
    out = np.empty((N, F, OH, OW), dtype=np.result_type(x, w))
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xp[:, :, stride * i:stride * i + KH, stride * j:stride * j + KW].reshape(N, -1) @ flat.T
    return out + b[:, None, None], (xp, w, stride, pad, x.shape)


def backward_positions(dout, cache):
    xp, w, stride, pad, (N, C, H, W) = cache
    F, _, KH, KW = w.shape
    flat = w.reshape(F, -1)
    dxp, dw = np.zeros(xp.shape, dtype=dout.dtype), np.zeros(flat.shape, dtype=dout.dtype)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(stride * i, stride * i + KH), slice(stride * j, stride * j + KW)
            dxp[:, :, rows, cols] += (dout[:, :, i, j] @ flat).reshape(N, C, KH, KW)
            dw += dout[:, :, i, j].T @ xp[:, :, rows, cols].reshape(N, -1)
    return dxp[:, :, pad:pad + H, pad:pad + W], dw.reshape(w.shape), dout.sum(axis=(0, 2, 3))


def forward_blas(x, w, b, stride=1, pad=0):
    """The textbook im2col forward (the shape of the course's solution, with other helpers)."""
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    cols = im2col_sliding(x, KH, KW, stride, pad)
    out = w.reshape(F, -1) @ cols + b.reshape(-1, 1)
    return out.reshape(x.shape[0], F, OH, OW), (x.shape, w, cols, stride, pad)


def forward_blas_float64(x, w, b, stride=1, pad=0):
    """The textbook forward on float64 copies of float32 inputs (twice the memory traffic, still fast)."""
    return forward_blas(*(np.asarray(a, dtype=np.float64) for a in (x, w, b)), stride, pad)


def backward_blas(dout, cache):
    x_shape, w, cols, stride, pad = cache
    F, _, KH, KW = w.shape
    d = dout.reshape(x_shape[0], F, -1)
    dw = (d @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    return col2im_offsets(w.reshape(F, -1).T @ d, x_shape, KH, KW, stride, pad), dw, d.sum(axis=(0, 2))


# ---- wrong variants: im2col --------------------------------------------------------------------------------------


def _blocks(x, KH, KW, stride, pad):
    """(N, C, KH, KW, OH, OW) windows, right."""
    N, C, H, W = x.shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    return im2col_offsets(x, KH, KW, stride, pad).reshape(N, C, KH, KW, OH, OW)


def im2col_rows_uvc(x, KH, KW, stride=1, pad=0):
    windows = sliding_window_view(_padded(x, pad), (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.transpose(0, 4, 5, 1, 2, 3).reshape(x.shape[0], -1, windows.shape[2] * windows.shape[3])


def im2col_offsets_vu(x, KH, KW, stride=1, pad=0):
    windows = sliding_window_view(_padded(x, pad), (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.transpose(0, 1, 5, 4, 2, 3).reshape(x.shape[0], -1, windows.shape[2] * windows.shape[3])


def im2col_positions_ji(x, KH, KW, stride=1, pad=0):
    blocks = _blocks(x, KH, KW, stride, pad)
    return np.swapaxes(blocks, 4, 5).reshape(x.shape[0], x.shape[1] * KH * KW, -1)


def im2col_transposed(x, KH, KW, stride=1, pad=0):
    return im2col_offsets(x, KH, KW, stride, pad).transpose(0, 2, 1)


def im2col_no_padding(x, KH, KW, stride=1, pad=0):
    return im2col_offsets(x, KH, KW, stride, 0)


def im2col_not_strided(x, KH, KW, stride=1, pad=0):
    windows = sliding_window_view(_padded(x, pad), (KH, KW), axis=(2, 3))
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(x.shape[0], x.shape[1] * KH * KW, -1)


def im2col_dilated(x, KH, KW, stride=1, pad=0):
    N, C, H, W = x.shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    xp = _padded(x, pad)
    out = np.empty((N, C, KH, KW, OH, OW))
    for u in range(KH):
        for v in range(KW):
            out[:, :, u, v] = xp[:, :, stride * u:stride * u + OH, stride * v:stride * v + OW]
    return out.reshape(N, C * KH * KW, OH * OW)


def im2col_stub(x, KH, KW, stride=1, pad=0):
    raise NotImplementedError()


def im2col_no_return(x, KH, KW, stride=1, pad=0):
    im2col_offsets(x, KH, KW, stride, pad)


def im2col_pads_in_place(x, KH, KW, stride=1, pad=0):
    """Zeroes the border of x instead of padding (changes the caller's x)."""
    x[:, :, 0] = 0.0
    return im2col_offsets(x, KH, KW, stride, pad)


# ---- wrong variants: col2im --------------------------------------------------------------------------------------


def _col2im_loop(cols, x_shape, KH, KW, stride, pad, *, assign=False, place=None, blocks=None):
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    blocks = cols.reshape(N, C, KH, KW, OH, OW) if blocks is None else blocks
    place = place or (lambda u, v: (slice(u, u + stride * OH, stride), slice(v, v + stride * OW, stride)))
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for u in range(KH):
        for v in range(KW):
            rows, columns = place(u, v)
            if assign:
                dxp[:, :, rows, columns] = blocks[:, :, u, v]
            else:
                dxp[:, :, rows, columns] += blocks[:, :, u, v]
    return dxp


def col2im_overwrite(cols, x_shape, KH, KW, stride=1, pad=0):
    H, W = x_shape[2:]
    return _col2im_loop(cols, x_shape, KH, KW, stride, pad, assign=True)[:, :, pad:pad + H, pad:pad + W]


def col2im_averaged(cols, x_shape, KH, KW, stride=1, pad=0):
    total = col2im_offsets(cols, x_shape, KH, KW, stride, pad)
    counts = col2im_offsets(np.ones_like(cols), x_shape, KH, KW, stride, pad)
    return total / np.maximum(counts, 1)


def col2im_rows_uvc(cols, x_shape, KH, KW, stride=1, pad=0):
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    blocks = cols.reshape(N, KH, KW, C, OH, OW).transpose(0, 3, 1, 2, 4, 5)
    return _col2im_loop(cols, x_shape, KH, KW, stride, pad, blocks=blocks)[:, :, pad:pad + H, pad:pad + W]


def col2im_not_strided(cols, x_shape, KH, KW, stride=1, pad=0):
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    dxp = _col2im_loop(cols, x_shape, KH, KW, stride, pad, place=lambda u, v: (slice(u, u + OH), slice(v, v + OW)))
    return dxp[:, :, pad:pad + H, pad:pad + W]


def col2im_uncropped(cols, x_shape, KH, KW, stride=1, pad=0):
    return _col2im_loop(cols, x_shape, KH, KW, stride, pad)


def col2im_crop_corner(cols, x_shape, KH, KW, stride=1, pad=0):
    return _col2im_loop(cols, x_shape, KH, KW, stride, pad)[:, :, :x_shape[2], :x_shape[3]]


def col2im_negative_crop(cols, x_shape, KH, KW, stride=1, pad=0):
    return _col2im_loop(cols, x_shape, KH, KW, stride, pad)[:, :, pad:-pad, pad:-pad]


def col2im_stub(cols, x_shape, KH, KW, stride=1, pad=0):
    raise NotImplementedError()


# ---- wrong variants: the fast layer -----------------------------------------------------------------------------


def forward_weights_uvc(x, w, b, stride=1, pad=0):
    out, cache = forward_blas(x, w.transpose(0, 2, 3, 1).reshape(w.shape), b, stride, pad)
    return out, cache


def forward_columns_uvc(x, w, b, stride=1, pad=0):
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    out = w.reshape(F, -1) @ im2col_rows_uvc(x, KH, KW, stride, pad) + b[:, None]
    return out.reshape(x.shape[0], F, OH, OW), None


def forward_out_layout(x, w, b, stride=1, pad=0):
    F, _, KH, KW = w.shape
    OH, OW = _sizes(x.shape[2], x.shape[3], KH, KW, stride, pad)
    cols = im2col_sliding(x, KH, KW, stride, pad)
    out = cols.transpose(0, 2, 1) @ w.reshape(F, -1).T + b
    return out.reshape(x.shape[0], F, OH, OW), None


def forward_no_bias(x, w, b, stride=1, pad=0):
    return forward_blas(x, w, np.zeros_like(b), stride, pad)


def forward_no_padding(x, w, b, stride=1, pad=0):
    return forward_blas(x, w, b, stride, 0)


def forward_stride_ignored(x, w, b, stride=1, pad=0):
    return forward_blas(x, w, b, 1, pad)


def forward_out_only(x, w, b, stride=1, pad=0):
    return forward_blas(x, w, b, stride, pad)[0]


def forward_stub(x, w, b, stride=1, pad=0):
    raise NotImplementedError()


def _backward_with(dout, cache, *, col2im=col2im_offsets, dw_of=None, db_of=None):
    x_shape, w, cols, stride, pad = cache
    F, _, KH, KW = w.shape
    d = dout.reshape(x_shape[0], F, -1)
    dw = (dw_of or (lambda: (d @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)))()
    db = (db_of or (lambda: d.sum(axis=(0, 2))))()
    return col2im(w.reshape(F, -1).T @ d, x_shape, KH, KW, stride, pad), dw, db


def backward_dx_overwrite(dout, cache):
    return _backward_with(dout, cache, col2im=col2im_overwrite)


def backward_dx_uncropped(dout, cache):
    return _backward_with(dout, cache, col2im=col2im_uncropped)


def backward_dx_crop_corner(dout, cache):
    return _backward_with(dout, cache, col2im=col2im_crop_corner)


def backward_dx_negative_crop(dout, cache):
    return _backward_with(dout, cache, col2im=col2im_negative_crop)


def backward_dw_first_image(dout, cache):
    _, w, cols, _, _ = cache
    return _backward_with(dout, cache, dw_of=lambda: (dout[0].reshape(w.shape[0], -1) @ cols[0].T).reshape(w.shape))


def backward_dw_mean(dout, cache):
    _, w, cols, _, _ = cache
    d = dout.reshape(dout.shape[0], w.shape[0], -1)
    return _backward_with(dout, cache, dw_of=lambda: (d @ cols.transpose(0, 2, 1)).mean(axis=0).reshape(w.shape))


def backward_dw_matrix_transposed(dout, cache):
    _, w, cols, _, _ = cache
    d = dout.reshape(dout.shape[0], w.shape[0], -1)
    return _backward_with(dout, cache, dw_of=lambda: (cols @ d.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape))


def backward_db_mean(dout, cache):
    return _backward_with(dout, cache, db_of=lambda: dout.mean(axis=(0, 2, 3)))


def backward_db_batch_mean(dout, cache):
    return _backward_with(dout, cache, db_of=lambda: dout.sum(axis=(0, 2, 3)) / dout.shape[0])


def backward_db_per_image(dout, cache):
    return _backward_with(dout, cache, db_of=lambda: dout.sum(axis=(2, 3)))


def backward_clips_dout(dout, cache):
    """Clips large upstream gradients in place (changes the caller's dout)."""
    dout[np.abs(dout) > 1.5] = 0.0
    return backward_blas(dout, cache)


def backward_stub(dout, cache):
    raise NotImplementedError()


def spin(seconds: float) -> None:
    """Busy for ``seconds`` of CPU time: what slow loops cost on the grader's clock (a sleep costs no CPU)."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def backward_slow(dout, cache):
    """Right, but as busy as loops over the images and filters would be."""
    spin(0.6)
    return backward_blas(dout, cache)


_MEMO: dict = {}


def forward_memo(x, w, b, stride=1, pad=0):
    """Slow loops once, then the first result for every later input: caching passed off as speed."""
    if "forward" not in _MEMO:
        spin(0.3)
        _MEMO["forward"] = forward_blas(x, w, b, stride, pad)
    return _MEMO["forward"]


def backward_memo(dout, cache):
    if "backward" not in _MEMO:
        _MEMO["backward"] = backward_blas(dout, cache)
    return _MEMO["backward"]


# ---- the references, against independent computations ------------------------------------------------------

WINDOWS = [(1, 1, 4, 4, 2, 2, 1, 0), (2, 3, 5, 6, 3, 3, 1, 1), (2, 2, 8, 7, 3, 2, 2, 0), (1, 3, 9, 9, 5, 3, 3, 2),
           (2, 2, 6, 6, 1, 1, 1, 0)]
SHAPES = [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 5, 4, 3, 2, 2, 1), (2, 2, 8, 8, 3, 3, 3, 3, 2),
          (3, 2, 6, 7, 2, 1, 1, 1, 0)]


def _windows_problem(window, seed):
    N, C, H, W, KH, KW, stride, pad = window
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C, H, W))
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    return x, rng.normal(size=(N, C * KH * KW, OH * OW)), KH, KW, stride, pad


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_im2col_and_col2im_references_against_loops(window):
    x, cols, KH, KW, stride, pad = _windows_problem(window, sum(window))
    np.testing.assert_array_equal(ref.im2col_reference(x, KH, KW, stride, pad),
                                  im2col_positions_float64(x, KH, KW, stride, pad))
    np.testing.assert_allclose(ref.col2im_reference(cols, x.shape, KH, KW, stride, pad),
                               col2im_positions(cols, x.shape, KH, KW, stride, pad), rtol=1e-13, atol=1e-13)
    # the adjoint identity, and col2im(im2col(ones)) counts the windows over each pixel
    left = np.sum(ref.im2col_reference(x, KH, KW, stride, pad) * cols)
    assert left == pytest.approx(np.sum(x * ref.col2im_reference(cols, x.shape, KH, KW, stride, pad)), rel=1e-12)
    ones = np.ones(x.shape)
    counts = ref.col2im_reference(ref.im2col_reference(ones, KH, KW, stride, pad), x.shape, KH, KW, stride, pad)
    assert counts.max() <= KH * KW and counts.sum() == ref.im2col_reference(ones, KH, KW, stride, pad).sum()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_references_against_the_loops_and_centred_differences(shape):
    x, w, b, stride, pad = ref.conv_problem(np.random.default_rng(sum(shape)), shape)
    out = ref.conv_forward(x, w, b, stride, pad)
    np.testing.assert_allclose(out, conv_reference.conv_forward_naive(x, w, b, stride, pad)[0], rtol=1e-12,
                               atol=1e-12)
    dout = np.random.default_rng(1).normal(size=out.shape)
    dx, dw, db = ref.conv_backward(x, w, b, stride, pad, dout)
    naive = conv_reference.conv_backward_naive(dout, (x, w, b, stride, pad))
    for got, want in zip((dx, dw, db), naive):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, a in zip((dx, dw, db), (x, w, b)):
        def f(_):
            return ref.conv_forward(x, w, b, stride, pad)
        np.testing.assert_allclose(got, numerical_gradient_array(f, a, dout), rtol=1e-6, atol=1e-8)


def test_hidden_backward_problems_satisfy_centred_differences():
    """The reference gradients of every hidden backward problem (float64 ones) equal centred differences."""
    for case_fn in (ref.conv_backward_fast_case, ref.conv_backward_fast_shapes_case):
        inputs, _ = case_fn(np.random.default_rng(7))
        for problem in inputs["problems"]:
            x, w, b = (np.asarray(a, dtype=np.float64) for a in problem["args"])
            stride, pad = problem["kwargs"].get("stride", 1), problem["kwargs"].get("pad", 0)
            dout = np.asarray(problem["dout"], dtype=np.float64)
            grads = ref.conv_backward(x, w, b, stride, pad, dout)
            for got, a in zip(grads, (x, w, b)):
                def f(_):
                    return ref.conv_forward(x, w, b, stride, pad)
                np.testing.assert_allclose(got, numerical_gradient_array(f, a, dout), rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_im2col_and_col2im_against_jax(jax, window):
    """im2col is JAX's patches in the same layout, and col2im is their transpose: the vjp of that linear map."""
    x, cols, KH, KW, stride, pad = _windows_problem(window, 3 + sum(window))

    def patches(a):
        found = jax.lax.conv_general_dilated_patches(a, (KH, KW), (stride, stride), [(pad, pad), (pad, pad)])
        return found.reshape(found.shape[0], found.shape[1], -1)

    out, vjp = jax.vjp(patches, x)
    np.testing.assert_allclose(ref.im2col_reference(x, KH, KW, stride, pad), np.asarray(out), rtol=0, atol=0)
    (transposed,) = vjp(cols)
    np.testing.assert_allclose(ref.col2im_reference(cols, x.shape, KH, KW, stride, pad), np.asarray(transposed),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_references_against_jax(jax, shape):
    x, w, b, stride, pad = ref.conv_problem(np.random.default_rng(5 + sum(shape)), shape)

    def layer(x, w, b):
        out = jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    out, vjp = jax.vjp(layer, x, w, b)
    np.testing.assert_allclose(ref.conv_forward(x, w, b, stride, pad), np.asarray(out), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(2).normal(size=out.shape)
    for got, want in zip(ref.conv_backward(x, w, b, stride, pad, dout), vjp(dout)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)


def test_mistake_outputs_are_those_mistakes():
    """The outputs the judge names are what the wrong implementations below return."""
    x, cols, KH, KW, stride, pad = _windows_problem((2, 3, 7, 6, 3, 2, 2, 1), 9)
    outputs = ref.im2col_mistakes(x, KH, KW, stride, pad)
    for name, fn in [("rows_uvc", im2col_rows_uvc), ("offsets_vu", im2col_offsets_vu), ("transposed", im2col_transposed),
                     ("positions_ji", im2col_positions_ji), ("no_padding", im2col_no_padding),
                     ("stride_ignored", im2col_not_strided), ("stride_in_window", im2col_dilated)]:
        np.testing.assert_allclose(fn(x, KH, KW, stride, pad), outputs[name], err_msg=name)
    outputs = ref.col2im_mistakes(cols, x.shape, KH, KW, stride, pad)
    for name, fn in [("overwrite", col2im_overwrite), ("averaged", col2im_averaged), ("rows_uvc", col2im_rows_uvc),
                     ("stride_ignored", col2im_not_strided), ("uncropped", col2im_uncropped),
                     ("crop_corner", col2im_crop_corner)]:
        np.testing.assert_allclose(fn(cols, x.shape, KH, KW, stride, pad), outputs[name], err_msg=name)


# ---- hidden cases ----------------------------------------------------------------------------------------------

FAST_PAIRS = [Together(backward_tensordot, forward_tensordot), Together(backward_dilated, forward_float64),
              Together(backward_positions, forward_positions), Together(backward_blas, forward_blas)]

CORRECT = {
    "w04_im2col": [im2col_offsets, im2col_sliding, im2col_positions_float64],
    "w04_im2col_strides": [im2col_offsets, im2col_sliding, im2col_positions_float64],
    "w04_col2im": [col2im_add_at, col2im_positions, col2im_offsets],
    "w04_col2im_adjoint": [col2im_add_at, col2im_positions, col2im_offsets],
    "w04_conv_forward_fast": [forward_tensordot, forward_float64, forward_positions, forward_blas],
    "w04_conv_backward_fast": FAST_PAIRS,
    "w04_conv_backward_fast_shapes": FAST_PAIRS,
    "w04_conv_fast_speed": [Together(backward_blas, forward_blas), Together(backward_positions, forward_positions),
                            Together(backward_blas, forward_blas_float64)],
}

_BACKWARD_WRONG = [
    (Together(backward_dx_overwrite, forward_blas), "col2im overwriting instead of adding overlaps"),
    (Together(backward_dx_uncropped, forward_blas), "padded shape"),
    (Together(backward_dx_crop_corner, forward_blas), "top-left H x W corner"),
    (Together(backward_dw_first_image, forward_blas), "image 0 only"),
    (Together(backward_dw_mean, forward_blas), "mean over the images"),
    (Together(backward_dw_matrix_transposed, forward_blas), r"\(C\*KH\*KW, F\) matrix"),
    (Together(backward_db_mean, forward_blas), "db is the mean of dout"),
    (Together(backward_db_per_image, forward_blas), r"shape \(N, F\)"),
    (Together(backward_clips_dout, forward_blas), "changed `dout` in place"),
    (Together(backward_stub, forward_blas), "not implemented yet"),
    (Together(backward_blas, forward_stub), "write the forward first"),
    (Together(backward_blas, forward_out_only), "instead of the pair"),
]

WRONG = [
    ("w04_im2col", im2col_rows_uvc, r"\(u, v, c\) order"),
    ("w04_im2col", im2col_offsets_vu, "swap the two kernel offsets"),
    ("w04_im2col", im2col_positions_ji, "column by column"),
    ("w04_im2col", im2col_transposed, "transposed, shape"),
    ("w04_im2col", im2col_no_padding, "unpadded x"),
    ("w04_im2col", im2col_stub, "not implemented yet"),
    ("w04_im2col", im2col_no_return, "returned None"),
    ("w04_im2col", im2col_pads_in_place, "changed its input `x`"),
    ("w04_im2col_strides", im2col_not_strided, "windows are not strided"),
    ("w04_im2col_strides", im2col_dilated, "inside the window"),
    ("w04_im2col_strides", im2col_rows_uvc, r"\(u, v, c\) order"),
    ("w04_im2col_strides", im2col_stub, "not implemented yet"),
    ("w04_col2im", col2im_overwrite, "col2im overwriting instead of adding overlaps"),
    ("w04_col2im", col2im_averaged, "averages"),
    ("w04_col2im", col2im_rows_uvc, r"\(u, v, c\) order"),
    ("w04_col2im", col2im_not_strided, r"puts window \(i, j\) at \(i, j\)"),
    ("w04_col2im", col2im_uncropped, "padded shape"),
    ("w04_col2im", col2im_crop_corner, "top-left H x W corner"),
    ("w04_col2im", col2im_negative_crop, "empty for pad=0"),
    ("w04_col2im", col2im_stub, "not implemented yet"),
    ("w04_col2im_adjoint", col2im_overwrite, "col2im overwriting instead of adding overlaps"),
    ("w04_col2im_adjoint", col2im_averaged, "or averaging them"),
    ("w04_col2im_adjoint", col2im_not_strided, r"puts window \(i, j\) at \(i, j\)"),
    ("w04_col2im_adjoint", col2im_stub, "not implemented yet"),
    ("w04_conv_forward_fast", forward_weights_uvc, "flattened in different orders"),
    ("w04_conv_forward_fast", forward_columns_uvc, r"columns are in \(u, v, c\) order"),
    ("w04_conv_forward_fast", forward_out_layout, "scrambles it"),
    ("w04_conv_forward_fast", forward_no_bias, "no bias"),
    ("w04_conv_forward_fast", forward_no_padding, "unpadded x"),
    ("w04_conv_forward_fast", forward_stride_ignored, "stride-1 convolution"),
    ("w04_conv_forward_fast", forward_out_only, r"must return a tuple \(out, cache\)"),
    ("w04_conv_forward_fast", forward_stub, "not implemented yet"),
    *[("w04_conv_backward_fast", fn, message) for fn, message in _BACKWARD_WRONG],
    ("w04_conv_backward_fast", Together(backward_dx_negative_crop, forward_blas), "empty for pad=0"),
    ("w04_conv_backward_fast", Together(backward_db_batch_mean, forward_blas), "divided by the number of images"),
    ("w04_conv_backward_fast_shapes", Together(backward_dx_overwrite, forward_blas), "overwriting"),
    ("w04_conv_backward_fast_shapes", Together(backward_dw_mean, forward_blas), "mean over the images"),
    ("w04_conv_backward_fast_shapes", Together(backward_stub, forward_blas), "not implemented yet"),
    ("w04_conv_fast_speed", Together(backward_slow, forward_blas), r"only \d+x faster than the naive loops"),
    ("w04_conv_fast_speed", Together(backward_memo, forward_memo), "conv_forward_fast on .*: out"),
    ("w04_conv_fast_speed", Together(backward_dw_mean, forward_blas), "mean over the images"),
    ("w04_conv_fast_speed", Together(backward_blas, forward_no_bias), "conv_forward_fast on .*: out"),
    ("w04_conv_fast_speed", Together(backward_clips_dout, forward_blas), "changed `dout` in place"),
    ("w04_conv_fast_speed", Together(backward_stub, forward_blas), "not implemented yet"),
    ("w04_conv_fast_speed", Together(backward_blas, forward_stub), "write the forward first"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w04_im2col", CORRECT, WRONG)


# ---- visible checks ----------------------------------------------------------------------------------------------

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(
    [(visible.im2col, im2col_offsets), (visible.im2col, im2col_sliding), (visible.im2col, im2col_positions_float64),
     (visible.col2im, col2im_add_at), (visible.col2im, col2im_positions),
     (visible.conv_forward_fast, forward_tensordot), (visible.conv_forward_fast, forward_positions),
     (visible.conv_backward_fast, Together(backward_tensordot, forward_tensordot)),
     (visible.conv_backward_fast, Together(backward_dilated, forward_float64))],
    [(visible.im2col, im2col_stub, "not implemented yet"),
     (visible.im2col, im2col_rows_uvc, r"\(u, v, c\) order"),
     (visible.im2col, im2col_transposed, "transposed, shape"),
     (visible.im2col, im2col_not_strided, "windows are not strided"),
     (visible.im2col, im2col_pads_in_place, "changed its input `x`"),
     (visible.col2im, col2im_stub, "not implemented yet"),
     (visible.col2im, col2im_overwrite, "col2im overwriting instead of adding overlaps"),
     (visible.col2im, col2im_uncropped, "padded shape"),
     (visible.col2im, col2im_not_strided, r"puts window \(i, j\) at \(i, j\)"),
     (visible.conv_forward_fast, forward_stub, "not implemented yet"),
     (visible.conv_forward_fast, forward_weights_uvc, "flattened in different orders"),
     (visible.conv_forward_fast, forward_out_layout, "scrambles it"),
     (visible.conv_forward_fast, forward_out_only, r"must return a tuple \(out, cache\)"),
     (visible.conv_backward_fast, Together(backward_stub, forward_blas), "not implemented yet"),
     (visible.conv_backward_fast, Together(backward_blas, forward_stub), "not implemented yet"),
     (visible.conv_backward_fast, Together(backward_dx_overwrite, forward_blas), "overwriting instead of adding"),
     (visible.conv_backward_fast, Together(backward_dw_matrix_transposed, forward_blas), r"\(C\*KH\*KW, F\) matrix"),
     (visible.conv_backward_fast, Together(backward_db_mean, forward_blas), "db is the mean of dout"),
     (visible.conv_backward_fast, Together(backward_clips_dout, forward_blas), "changed its input `dout`")],
)
