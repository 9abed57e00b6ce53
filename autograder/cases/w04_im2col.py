"""Week 4, im2col, col2im and the fast convolution (conv_forward_fast, conv_backward_fast): references, known
mistakes, hidden cases (one of them a speed test), fixtures.

The references are :mod:`autograder.cases.conv_reference`'s ``im2col``, ``col2im`` and fast convolution (checked
against loops, SciPy and JAX in ``tests/test_conv_reference.py``; ``tests/test_w04_im2col.py`` checks im2col
against JAX's patches and col2im against its transpose), computed in float64 whatever the inputs' type, so that
float32 answers are compared with exact values at float32 tolerances and float64 ones must agree with the loops
to 1e-10. The backward cases run the student's own forward first (the cache is theirs), through the probe in
``dlfs/checks/w04_im2col.py``; the reference gradients equal centred differences of the forward (proven in the
tests with :mod:`autograder.gradcheck` and ``jax.vjp``). Each known mistake is what one plausible wrong
implementation outputs, computed here from the reference on altered inputs; the tests feed those wrong
implementations to every case.

The speed case times the student's forward + backward on a batch of MNIST's shape (64 images of 28 x 28, 16 -> 32
channels, 3 x 3 kernels, pad 1, float32) with the grader's clock (the CPU time of the cell's sandbox, three passes:
:mod:`autograder.cpuclock`), and the naive reference loops here, on two images, scaled to 64 (the loops are linear
in N), by this process's CPU time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from autograder.cases.conv_reference import (
    col2im,
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    conv_output_size,
    im2col,
    pad2d,
)
from autograder.fixtures import stored
from autograder.protocol import SLOW, Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w04_im2col import (
    COL2IM_HINT,
    CONV_FAST_BACKWARD_HINT,
    CONV_FAST_HINT,
    IM2COL_HINT,
    tolerances,
)
from dlfs.grading import Call, Raised

IM2COL_MISTAKES = {
    "rows_uvc": "your rows are in (u, v, c) order, the kernel offset first: the rows must run over (c, u, v), row "
                "(c*KH + u)*KW + v, in the order of w.reshape(F, -1); a window view of shape (N, C, OH, OW, KH, KW) "
                "needs .transpose(0, 1, 4, 5, 2, 3) before the reshape.",
    "offsets_vu": "your rows swap the two kernel offsets: row (c*KH + u)*KW + v holds the row offset u, then the column "
                  "offset v; yours has v before u (the last two window axes transposed).",
    "positions_ji": "your columns run over the output positions column by column: column i*OW + j is output row i, "
                    "column j (row-major order, i before j).",
    "transposed": "your cols are transposed, shape (N, OH*OW, C*KH*KW): the rows are the C*KH*KW entries of a window "
                  "and the columns the OH*OW positions, (N, C*KH*KW, OH*OW), so that out[n] = w.reshape(F, -1) @ "
                  "cols[n].",
    "no_padding": "your cols come from the unpadded x: zero-pad its last two axes by `pad` on every side first, then "
                  "take the windows of the padded array.",
    "stride_ignored": "your windows are not strided: with stride S the windows start at rows S*i and columns S*j and "
                      "there are OH = (H + 2*pad - KH) // S + 1 of them down (OW across); use the strides S*sH and "
                      "S*sW for (i, j) in as_strided, or windows[:, :, ::S, ::S] of sliding_window_view.",
    "stride_in_window": "your windows step by the stride inside the window (rows i + S*u): the stride moves the "
                        "window's start, the window itself is contiguous, xp[n, c, S*i + u, S*j + v].",
}
COL2IM_MISTAKES = {
    "overwrite": "col2im overwriting instead of adding overlaps: a pixel that lies in several windows must receive the "
                 "SUM of their entries; add with +=, do not assign with =.",
    "averaged": "your col2im averages the entries of overlapping windows: it must ADD them (col2im is the adjoint of "
                "im2col, not its inverse: a pixel in k windows gets the sum of k entries).",
    "one_window": "col2im overwriting instead of adding overlaps, or averaging them: each pixel of yours holds the "
                  "value of one window, so col2im(im2col(ones)) gives 1 where it must count the windows that contain "
                  "the pixel; add the entries of every window with +=.",
    "rows_uvc": "you read the rows of cols in (u, v, c) order: im2col's row (c*KH + u)*KW + v holds channel c at "
                "offset (u, v), so reshape cols to (N, C, KH, KW, OH, OW).",
    "stride_ignored": "your col2im puts window (i, j) at (i, j): with stride S it starts at row S*i and column S*j, so "
                      "block (u, v) goes to dxp[:, :, u:u + S*OH:S, v:v + S*OW:S].",
    "uncropped": "your result has the padded shape (N, C, H + 2*pad, W + 2*pad): the padding is not part of x, crop it "
                 "away, dxp[:, :, pad:pad + H, pad:pad + W].",
    "crop_corner": "your result is the top-left H x W corner of the padded array: the padding is on every side, crop "
                   "dxp[:, :, pad:pad + H, pad:pad + W].",
    "empty_crop": "your result is empty for pad=0: dxp[:, :, pad:-pad, pad:-pad] is empty when pad is 0 (-0 is 0); "
                  "crop with pad:pad + H and pad:pad + W.",
}
CONV_FAST_FORWARD_MISTAKES = {
    "weights_uvc": "your weights and columns are flattened in different orders: w.reshape(F, -1) runs over (c, u, v) "
                   "like im2col's rows; do not transpose w before the reshape.",
    "columns_uvc": "your columns are in (u, v, c) order but w.reshape(F, -1) runs over (c, u, v): the rows of cols "
                   "must be in the order of the flattened filters, row (c*KH + u)*KW + v.",
    "out_layout": "your out is an (N, OH*OW, F) array reshaped to (N, F, OH, OW), which scrambles it: compute "
                  "w.reshape(F, -1) @ cols, of shape (N, F, OH*OW), or transpose the (N, OH*OW, F) product to "
                  "(N, F, OH*OW) before the reshape.",
    "no_bias": "your out has no bias: add b[:, None] to the (N, F, OH*OW) product (one b[f] per filter row).",
    "no_padding": "your out is the convolution of the unpadded x: pass `pad` on to im2col.",
    "stride_ignored": "your out is the stride-1 convolution: pass `stride` on to im2col, and OH = (H + 2*pad - KH) // "
                      "stride + 1.",
}
CONV_FAST_BACKWARD_MISTAKES = {
    "dx_overwrite": "your dx is what col2im overwriting instead of adding overlaps gives: every window that contains "
                    "a pixel adds its part of the gradient (use += in col2im).",
    "dx_uncropped": "your dx has the padded shape (N, C, H + 2*pad, W + 2*pad): col2im must crop the padding border, "
                    "dxp[:, :, pad:pad + H, pad:pad + W].",
    "dx_crop_corner": "your dx is the top-left H x W corner of dxp: the padding is on every side, crop "
                      "dxp[:, :, pad:pad + H, pad:pad + W].",
    "dx_empty": "your dx is empty for pad=0: dxp[:, :, pad:-pad, pad:-pad] is empty when pad is 0 (-0 is 0); crop with "
                "pad:pad + H and pad:pad + W.",
    "dw_first_image": "your dw comes from image 0 only: every image used the same filters, so dw is the SUM over n of "
                      "dout[n] @ cols[n].T.",
    "dw_mean": "your dw is the mean over the images: every image used the same filters, so dw is the SUM over n of "
               "dout[n] @ cols[n].T (the loss's 1/N, if any, is already in dout).",
    "dw_matrix_transposed": "your dw is the (C*KH*KW, F) matrix cols @ dout.T reshaped to w's shape: the (F, C*KH*KW) "
                            "matrix dout[n] @ cols[n].T is the one whose rows are the flattened filters.",
    "db_mean": "your db is the mean of dout: b[f] is added to every output of filter f, so db[f] is the SUM of "
               "dout[:, f] over the images and the positions.",
    "db_batch_mean": "your db is divided by the number of images: db[f] is the sum of dout[:, f] over the images and "
                     "the positions.",
    "db_per_image": "your db has shape (N, F): sum over the images too, db = dout.sum(axis=(0, 2, 3)), shape (F,).",
}

#: The speed case: (N, C, H, W, F, KH, KW, stride, pad) of a first MNIST layer with 16 -> 32 channels.
SPEED_SHAPE = (64, 16, 28, 28, 32, 3, 3, 1, 1)
SPEED_REPEATS, NAIVE_IMAGES, MIN_SPEEDUP = 3, 2, 50.0


# ---- references -------------------------------------------------------------------------------------------


def _float64(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def im2col_reference(x: np.ndarray, KH: int, KW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The columns, in float64:

        cols[n, (c KH + u) KW + v, i OW + j] = xp[n, c, S i + u, S j + v],   shape (N, C KH KW, OH OW),

    xp = x zero-padded by P = ``pad`` on its last two axes, S = ``stride``, OH = (H + 2P - KH) // S + 1 (OW likewise).
    """
    return im2col(np.asarray(x, dtype=np.float64), KH, KW, stride, pad)


def col2im_reference(cols: np.ndarray, x_shape: tuple, KH: int, KW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of im2col, in float64: dxp[n, c, S i + u, S j + v] += cols[n, (c KH + u) KW + v, i OW + j] for
    every (c, u, v, i, j), dx = dxp without its border, so that <im2col(y), cols> = <y, col2im(cols)> for all y."""
    return col2im(np.asarray(cols, dtype=np.float64), x_shape, KH, KW, stride, pad)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """out[n] = w.reshape(F, C KH KW) @ cols[n] + b[:, None], reshaped to (N, F, OH, OW), in float64: the same as
    out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, S i + u, S j + v] w[f, c, u, v]."""
    return conv_forward_fast(*_float64(x, w, b), stride, pad)[0]


def conv_backward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int,
                  dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db) in float64, with d = dout reshaped to (N, F, OH OW):

        db = sum_{n, l} d[n, :, l],   dw = sum_n d[n] cols[n]^T (reshaped to w's shape),
        dx = col2im(w.reshape(F, -1)^T d[n] for every n).
    """
    x, w, b, dout = _float64(x, w, b, dout)
    return conv_backward_fast(dout, conv_forward_fast(x, w, b, stride, pad)[1])


# ---- what the known mistakes output ----------------------------------------------------------------------


def _sizes(H: int, W: int, KH: int, KW: int, stride: int, pad: int) -> tuple[int, int]:
    return conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)


def _dilated_windows(x: np.ndarray, KH: int, KW: int, stride: int, pad: int) -> np.ndarray | None:
    """cols of windows that step by the stride inside: xp[n, c, i + S u, j + S v] at the right OH x OW positions;
    None where such windows leave the padded input (the code would fail)."""
    N, C, H, W = x.shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    xp = pad2d(x, pad)
    if OH - 1 + (KH - 1) * stride >= xp.shape[2] or OW - 1 + (KW - 1) * stride >= xp.shape[3]:
        return None
    found = np.empty((N, C, KH, KW, OH, OW))
    for u in range(KH):
        for v in range(KW):
            found[:, :, u, v] = xp[:, :, u * stride:u * stride + OH, v * stride:v * stride + OW]
    return found.reshape(N, C * KH * KW, OH * OW)


def im2col_mistakes(x: np.ndarray, KH: int, KW: int, stride: int = 1, pad: int = 0) -> dict[str, np.ndarray]:
    """Outputs of the known im2col mistakes on one problem (those that differ from the right answer there)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    right = im2col_reference(x, KH, KW, stride, pad)
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    blocks = right.reshape(N, C, KH, KW, OH, OW)
    found = {"transposed": right.transpose(0, 2, 1)}
    if C > 1 and KH * KW > 1:
        found["rows_uvc"] = blocks.transpose(0, 2, 3, 1, 4, 5).reshape(right.shape)
    if KH > 1 and KW > 1:
        found["offsets_vu"] = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(right.shape)
    if OH > 1 and OW > 1:
        found["positions_ji"] = blocks.transpose(0, 1, 2, 3, 5, 4).reshape(right.shape)
    if pad and KH <= H and KW <= W:
        found["no_padding"] = im2col_reference(x, KH, KW, stride, 0)
    if stride > 1:
        found["stride_ignored"] = im2col_reference(x, KH, KW, 1, pad)
        found["stride_in_window"] = _dilated_windows(x, KH, KW, stride, pad)
    return {name: out for name, out in found.items() if out is not None}


def col2im_overwriting(cols: np.ndarray, x_shape: tuple, KH: int, KW: int, stride: int = 1,
                       pad: int = 0) -> np.ndarray:
    """col2im with `=` in place of `+=`, offsets in the usual order (u outer, v inner): the last window wins."""
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    blocks = np.asarray(cols, dtype=np.float64).reshape(N, C, KH, KW, OH, OW)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride] = blocks[:, :, u, v]
    return xp[:, :, pad:pad + H, pad:pad + W]


def col2im_mistakes(cols: np.ndarray, x_shape: tuple, KH: int, KW: int, stride: int = 1,
                    pad: int = 0) -> dict[str, np.ndarray]:
    """Outputs of the known col2im mistakes on one problem (those that differ from the right answer there)."""
    cols = np.asarray(cols, dtype=np.float64)
    N, C, H, W = x_shape
    OH, OW = _sizes(H, W, KH, KW, stride, pad)
    right = col2im_reference(cols, x_shape, KH, KW, stride, pad)
    counts = col2im_reference(np.ones(cols.shape), x_shape, KH, KW, stride, pad)
    found = {"overwrite": col2im_overwriting(cols, x_shape, KH, KW, stride, pad),
             "averaged": np.divide(right, counts, out=np.zeros_like(right), where=counts > 0)}
    if np.allclose(found["overwrite"], found["averaged"]):  # the columns of an image: both give it back
        found["one_window"] = found.pop("overwrite")
        del found["averaged"]
    if C > 1 and KH * KW > 1:
        in_uvc = cols.reshape(N, KH, KW, C, OH * OW).transpose(0, 3, 1, 2, 4).reshape(cols.shape)
        found["rows_uvc"] = col2im_reference(in_uvc, x_shape, KH, KW, stride, pad)
    if stride > 1:  # window (i, j) placed at (i, j): a stride-1 scatter of the same blocks
        xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
        blocks = cols.reshape(N, C, KH, KW, OH, OW)
        for u in range(KH):
            for v in range(KW):
                xp[:, :, u:u + OH, v:v + OW] += blocks[:, :, u, v]
        found["stride_ignored"] = xp[:, :, pad:pad + H, pad:pad + W]
    if pad:
        scattered = col2im_reference(cols, (N, C, H + 2 * pad, W + 2 * pad), KH, KW, stride, 0)
        found |= {"uncropped": scattered, "crop_corner": scattered[:, :, :H, :W]}
    else:
        found["empty_crop"] = right[:, :, 0:0, 0:0]
    return found


def conv_forward_mistakes(x, w, b, stride: int = 1, pad: int = 0) -> dict[str, np.ndarray]:
    """Outputs of the known mistakes of the fast forward on one problem."""
    x, w, b = _float64(x, w, b)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    right = conv_forward(x, w, b, stride, pad)
    OH, OW = right.shape[2:]
    found = {"no_bias": right - b[:, None, None]}
    if C > 1 and KH * KW > 1:
        found["weights_uvc"] = conv_forward(x, w.transpose(0, 2, 3, 1).reshape(w.shape), b, stride, pad)
        found["columns_uvc"] = conv_forward(x, w.reshape(F, KH, KW, C).transpose(0, 3, 1, 2), b, stride, pad)
    if F > 1 and OH * OW > 1:
        found["out_layout"] = right.reshape(N, F, OH * OW).transpose(0, 2, 1).reshape(right.shape)
    if pad and KH <= H and KW <= W:
        found["no_padding"] = conv_forward(x, w, b, stride, 0)
    if stride > 1:
        found["stride_ignored"] = conv_forward(x, w, b, 1, pad)
    return found


def conv_backward_mistakes(x, w, b, stride: int, pad: int, dout) -> dict[str, dict[str, np.ndarray]]:
    """Per gradient (dx, dw, db), the outputs of the known mistakes of the fast backward on one problem."""
    x, w, b, dout = _float64(x, w, b, dout)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    dx, dw, db = conv_backward(x, w, b, stride, pad, dout)
    dcols = np.matmul(w.reshape(F, -1).T, dout.reshape(N, F, -1))
    found_dx = {"dx_overwrite": col2im_overwriting(dcols, x.shape, KH, KW, stride, pad)}
    if pad:
        dxp = col2im_reference(dcols, (N, C, H + 2 * pad, W + 2 * pad), KH, KW, stride, 0)
        found_dx |= {"dx_uncropped": dxp, "dx_crop_corner": dxp[:, :, :H, :W]}
    else:
        found_dx["dx_empty"] = dx[:, :, 0:0, 0:0]
    found_dw = {"dw_matrix_transposed": np.reshape(dw.reshape(F, -1).T, w.shape)}
    found_db = {"db_mean": dout.mean(axis=(0, 2, 3)), "db_per_image": dout.sum(axis=(2, 3))}
    if N > 1:
        found_dw |= {"dw_first_image": conv_backward(x[:1], w, b, stride, pad, dout[:1])[1], "dw_mean": dw / N}
        found_db["db_batch_mean"] = db / N
    return {"dx": found_dx, "dw": found_dw, "db": found_db}


# ---- hidden cases: im2col and col2im (the default probe) -------------------------------------------------


def _judged(*inputs: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(rtol, atol) for an answer whose right value is ``reference``: the inputs' precision, the reference's scale."""
    return tolerances(*inputs, scale=float(np.max(np.abs(reference), initial=0.0)))


#: (N, C, H, W, KH, KW, stride, pad) of an im2col or col2im problem
Window = tuple[int, int, int, int, int, int, int, int]


def _window_label(shape: tuple, KH: int, KW: int, stride: int, pad: int, dtype: np.dtype, what: str = "x") -> str:
    kind = ", float32" if dtype == np.float32 else ""
    return f"{what} {tuple(shape)}, KH={KH}, KW={KW}, stride={stride}, pad={pad}{kind}"


def _call(args: tuple, stride: int, pad: int, style: str) -> Call:
    """The call in one of three styles: the defaults (stride 1, pad 0), keywords, or all positional."""
    if style == "defaults":
        return Call(args)
    if style == "positional":
        return Call((*args, stride, pad))
    return Call(args, {"stride": stride, "pad": pad})


def _style(index: int, count: int, stride: int, pad: int) -> str:
    if index == 0 and stride == 1 and pad == 0:
        return "defaults"
    return "positional" if index == count - 1 else "keywords"


def _im2col_case(rng: np.random.Generator, windows: list[Window], dtypes: list, summary: str):
    problems = []
    for (N, C, H, W, KH, KW, stride, pad), dtype in zip(windows, dtypes):
        problems.append((rng.normal(size=(N, C, H, W)).astype(dtype), KH, KW, stride, pad))
    calls = [_call((x, KH, KW), s, p, _style(i, len(problems), s, p)) for i, (x, KH, KW, s, p) in enumerate(problems)]

    def judge(answers: Answers, context: Context) -> str:
        for i, (x, KH, KW, stride, pad) in enumerate(problems):
            label = _window_label(x.shape, KH, KW, stride, pad, x.dtype)
            got = answers.result(i, label, arguments=("x",))
            rtol, atol = _judged(x, reference=x)
            check_array(f"{context.name} on {label}", got, im2col_reference(x, KH, KW, stride, pad), rtol=rtol,
                        atol=atol, hint=IM2COL_HINT,
                        mistakes=mistakes_on(im2col_mistakes(x, KH, KW, stride, pad), IM2COL_MISTAKES))
        return summary

    return {"calls": calls}, judge


@case("w04_im2col")
def im2col_case(rng: np.random.Generator):
    """Stride 1 with paddings 0 to 2: one image of one channel (called with the defaults), 3 and 4 channels, a 1 x 1
    kernel, a kernel as large as the image (one column)."""
    windows = [(1, 1, 4, 4, 2, 2, 1, 0), (2, 3, 5, 5, 3, 3, 1, 1), (2, 2, 6, 6, 3, 3, 1, 2), (3, 4, 4, 4, 1, 1, 1, 0),
               (1, 3, 5, 5, 5, 5, 1, 0), (2, 3, 4, 5, 3, 3, 1, 1)]
    return _im2col_case(rng, windows, [np.float64] * len(windows),
                        f"cols agree with the reference on {len(windows)} batches (stride 1, paddings 0 to 2, N = 1, "
                        "C = 1 to 4, 1 x 1 and full-size kernels)")


@case("w04_im2col_strides")
def im2col_strides_case(rng: np.random.Generator):
    """Strides 2 and 3 (borders the stride does not reach dropped), non-square images and kernels, float32 (kept or
    not: float32 tolerances)."""
    windows = [(2, 3, 7, 7, 3, 3, 2, 1), (1, 2, 8, 6, 3, 2, 2, 0), (2, 2, 9, 9, 3, 3, 3, 1), (2, 3, 6, 9, 2, 4, 2, 2),
               (2, 3, 7, 5, 3, 3, 2, 1), (1, 1, 10, 8, 4, 2, 3, 1)]
    dtypes = [np.float64] * 4 + [np.float32, np.float64]
    return _im2col_case(rng, windows, dtypes, f"cols agree with the reference on {len(windows)} batches (strides 2 and "
                        "3, dropped borders, non-square images and kernels, float32)")


def _col2im_problems(rng: np.random.Generator, windows: list[Window], dtypes: list) -> list[tuple]:
    problems = []
    for (N, C, H, W, KH, KW, stride, pad), dtype in zip(windows, dtypes):
        OH, OW = _sizes(H, W, KH, KW, stride, pad)
        cols = rng.normal(size=(N, C * KH * KW, OH * OW)).astype(dtype)
        problems.append((cols, (N, C, H, W), KH, KW, stride, pad))
    return problems


def _col2im_case(problems: list[tuple], summary: Callable[[float], str]):
    calls = [_call((cols, x_shape, KH, KW), s, p, _style(i, len(problems), s, p))
             for i, (cols, x_shape, KH, KW, s, p) in enumerate(problems)]

    def judge(answers: Answers, context: Context) -> str:
        check = np.random.default_rng(0)
        worst = 0.0
        for i, (cols, x_shape, KH, KW, stride, pad) in enumerate(problems):
            label = _window_label(x_shape, KH, KW, stride, pad, cols.dtype, what="x_shape")
            got = answers.result(i, label, arguments=("cols",))
            expected = col2im_reference(cols, x_shape, KH, KW, stride, pad)
            rtol, atol = _judged(cols, reference=expected)
            check_array(f"{context.name} on {label}", got, expected, rtol=rtol, atol=atol, hint=COL2IM_HINT,
                        mistakes=mistakes_on(col2im_mistakes(cols, x_shape, KH, KW, stride, pad), COL2IM_MISTAKES))
            y = check.normal(size=x_shape)  # the adjoint identity, with the student's col2im, for the summary
            left = float(np.sum(im2col_reference(y, KH, KW, stride, pad) * cols))
            worst = max(worst, abs(left - float(np.sum(y * got))) / max(abs(left), 1.0))
        return summary(worst)

    return {"calls": calls}, judge


@case("w04_col2im")
def col2im_case(rng: np.random.Generator):
    """Random columns: stride 1 with paddings 0 and 1 (one image of one channel with the defaults), strides 2 and 3
    with paddings 0 to 2 and dropped borders, a non-square image and kernel, float32."""
    windows = [(1, 1, 4, 4, 2, 2, 1, 0), (2, 3, 5, 5, 3, 3, 1, 1), (2, 2, 7, 7, 3, 3, 2, 1), (1, 3, 8, 6, 3, 2, 2, 2),
               (2, 2, 9, 9, 3, 3, 3, 0), (2, 3, 6, 7, 3, 3, 1, 1)]
    problems = _col2im_problems(rng, windows, [np.float64] * 5 + [np.float32])
    return _col2im_case(problems, lambda worst: f"the sums agree with the reference on {len(problems)} problems "
                        "(strides 1 to 3, paddings 0 to 2, dropped borders, float32)")


@case("w04_col2im_adjoint")
def col2im_adjoint_case(rng: np.random.Generator):
    """Heavy overlaps and gaps: col2im(im2col(ones)) counts the windows over each pixel (up to 9, and 25 for a 5 x 5
    kernel), stride 2 with 3 x 3 windows, stride 3 with 2 x 2 windows (pixels in no window get 0); judged against
    the reference, and the adjoint identity <im2col(y), cols> = <y, col2im(cols)> reported."""
    ones = [(1, 1, 5, 5, 3, 3, 1, 1), (2, 2, 6, 6, 5, 5, 1, 2)]
    problems = [(im2col_reference(np.ones((N, C, H, W)), KH, KW, s, p), (N, C, H, W), KH, KW, s, p)
                for N, C, H, W, KH, KW, s, p in ones]
    problems += _col2im_problems(rng, [(2, 2, 8, 8, 3, 3, 2, 0), (1, 3, 8, 7, 2, 2, 3, 0), (2, 2, 7, 6, 5, 3, 1, 2)],
                                 [np.float64] * 3)
    return _col2im_case(problems, lambda worst: f"col2im is the adjoint of im2col on {len(problems)} problems (overlaps "
                        f"add up, gaps get 0): <im2col(y), cols> = <y, col2im(cols)> to {worst:.0e}")


# ---- hidden cases: the fast convolution --------------------------------------------------------------------

#: (N, C, H, W, F, KH, KW, stride, pad)
Shape = tuple[int, int, int, int, int, int, int, int, int]


def conv_problem(rng: np.random.Generator, shape: Shape, dtype: type = np.float64) -> tuple:
    """Random x, w, b of the given sizes (and type), then stride and pad."""
    N, C, H, W, F, KH, KW, stride, pad = shape
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(F, C, KH, KW)) / np.sqrt(C * KH * KW)
    b = rng.normal(size=F)
    return x.astype(dtype), w.astype(dtype), b.astype(dtype), stride, pad


def _conv_label(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> str:
    kind = "" if x.dtype != np.float32 else ", float32"
    return f"x of shape {x.shape}, w of shape {w.shape}, stride={stride}, pad={pad}{kind}"


@case("w04_conv_forward_fast")
def conv_forward_fast_case(rng: np.random.Generator):
    """out against the loops (to 1e-10 in float64) for strides 1 to 3 and paddings 0 to 2, N = 1, C = 1, F = 1,
    non-square images and kernels, a 1 x 1 kernel, float32 (float32 tolerances); called with the defaults, with
    keywords and positionally."""
    shapes = [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 6, 4, 3, 3, 1, 1), (2, 3, 7, 7, 2, 3, 3, 2, 1),
              (1, 2, 8, 8, 3, 3, 3, 2, 2), (2, 3, 5, 8, 4, 3, 2, 1, 1), (3, 3, 6, 5, 2, 1, 1, 1, 0),
              (2, 2, 9, 7, 3, 5, 3, 3, 2)]
    problems = [conv_problem(rng, s) for s in shapes]
    problems += [conv_problem(rng, s, np.float32) for s in [(2, 3, 9, 7, 4, 3, 2, 1, 1), (4, 1, 12, 10, 3, 5, 3, 2, 2)]]
    calls = [_call((x, w, b), s, p, _style(i, len(problems), s, p)) for i, (x, w, b, s, p) in enumerate(problems)]

    def judge(answers: Answers, context: Context) -> str:
        for i, (x, w, b, stride, pad) in enumerate(problems):
            label = _conv_label(x, w, stride, pad)
            result = answers.parts(answers.result(i, label, arguments=("x", "w", "b")), "out", "cache")
            out = answers.value(result[0], label)
            expected = conv_forward(x, w, b, stride, pad)
            rtol, atol = _judged(x, w, b, reference=expected)
            check_array(f"{context.name} on {label}: out", out, expected, rtol=rtol, atol=atol, hint=CONV_FAST_HINT,
                        mistakes=mistakes_on(conv_forward_mistakes(x, w, b, stride, pad), CONV_FAST_FORWARD_MISTAKES))
        return (f"out agrees with the loops on {len(problems)} batches (strides 1 to 3, paddings 0 to 2, non-square, "
                "1 x 1 kernels, float32)")

    return {"calls": calls}, judge


def _judge_entry(entry: object, context: Context, where: str) -> object:
    """The gradients an entry of the backward probe recorded, or the failure that explains why there are none."""
    if not isinstance(entry, dict):
        raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
    if "forward" in entry:
        failure = entry["forward"]
        if isinstance(failure, Raised) and failure.type == "NotImplementedError":
            raise CheckFailed(f"{context.name} is checked on the cache of your conv_forward_fast, which is not "
                              "implemented yet: write the forward first.")
        what = (f"raised {failure.type}: {failure.message}" if isinstance(failure, Raised)
                else f"returned {getattr(failure, 'type', failure)}")
        raise CheckFailed(f"{context.name} is checked on the cache of your conv_forward_fast, which {what} (on "
                          f"{where}); fix the forward first.")
    names = ("x", "w", "b", "dout")
    for position in entry.get("changed", []):
        if not isinstance(position, int) or not 0 <= position < len(names):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        who = context.name if names[position] == "dout" else f"conv_forward_fast or {context.name}"
        raise CheckFailed(f"{who} changed `{names[position]}` in place (on {where}); work on a copy or on new arrays.")
    return entry.get("grads")


def _check_gradients(answers: Answers, context: Context, grads: object, sent: dict, where: str,
                     tolerance: Callable[[np.ndarray, np.ndarray, str], tuple[float, float]]) -> None:
    x, w, b = sent["args"]
    stride, pad = sent["kwargs"].get("stride", 1), sent["kwargs"].get("pad", 0)
    got = answers.parts(answers.value(grads, where), "dx", "dw", "db")
    wrong = conv_backward_mistakes(x, w, b, stride, pad, sent["dout"])
    for part, value, want in zip(("dx", "dw", "db"), got, conv_backward(x, w, b, stride, pad, sent["dout"])):
        rtol, atol = tolerance(x, want, part)
        check_array(f"{context.name} on {where}: {part}", value, want, rtol=rtol, atol=atol,
                    hint=CONV_FAST_BACKWARD_HINT, mistakes=mistakes_on(wrong[part], CONV_FAST_BACKWARD_MISTAKES))


def _gradient_tolerance(x: np.ndarray, want: np.ndarray, part: str) -> tuple[float, float]:
    return tolerances(x, scale=float(np.abs(want).max(initial=0.0)), gradient=True)


def _conv_backward_problems(rng: np.random.Generator, shapes: list[Shape], dtype: type = np.float64) -> list[dict]:
    found = []
    for shape in shapes:
        x, w, b, stride, pad = conv_problem(rng, shape, dtype)
        dout = rng.normal(size=conv_forward(x, w, b, stride, pad).shape).astype(dtype)
        found.append({"args": [x, w, b], "kwargs": {"stride": stride, "pad": pad}, "dout": dout})
    return found


def _conv_backward_case(problems: list[dict], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for entry, sent in zip(entries, problems):
            x, w = sent["args"][:2]
            where = _conv_label(x, w, sent["kwargs"].get("stride", 1), sent["kwargs"].get("pad", 0))
            _check_gradients(answers, context, _judge_entry(entry, context, where), sent, where, _gradient_tolerance)
        return summary

    return {"problems": problems}, judge


@case("w04_conv_backward_fast")
def conv_backward_fast_case(rng: np.random.Generator):
    """dx, dw and db against the loops (to 1e-10) with strides 1 to 3 and paddings 0 to 2: N = 1, C = 1, F = 1, the
    first batch through the forward's defaults, dropped borders (their gradient is 0)."""
    problems = _conv_backward_problems(rng, [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 6, 4, 3, 3, 1, 1),
                                             (3, 2, 5, 5, 3, 3, 3, 1, 0), (2, 3, 7, 7, 2, 3, 3, 2, 1),
                                             (2, 2, 9, 9, 2, 3, 3, 3, 2), (2, 1, 8, 8, 3, 3, 3, 2, 0)])
    problems[0]["kwargs"] = {}  # conv_forward_fast(x, w, b)
    return _conv_backward_case(problems, f"dx, dw and db agree with the loops (= centred differences) on {len(problems)} "
                               "batches with strides 1 to 3 and paddings 0 to 2")


@case("w04_conv_backward_fast_shapes")
def conv_backward_fast_shapes_case(rng: np.random.Generator):
    """dx, dw and db for non-square images and kernels, a 1 x 1 kernel and float32 inputs (float32 tolerances)."""
    problems = _conv_backward_problems(rng, [(2, 3, 5, 8, 2, 3, 2, 1, 1), (1, 3, 7, 6, 2, 2, 4, 2, 1),
                                             (3, 2, 6, 5, 2, 1, 1, 1, 0)])
    problems += _conv_backward_problems(rng, [(2, 3, 9, 7, 3, 3, 2, 2, 1), (2, 1, 8, 10, 3, 5, 3, 1, 2)], np.float32)
    return _conv_backward_case(problems, f"dx, dw and db agree with the loops on {len(problems)} batches (non-square "
                               "images and kernels, 1 x 1 kernels, float32)")


# ---- hidden case: the speed test ----------------------------------------------------------------------------


def naive_seconds(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, dout: np.ndarray) -> float:
    """CPU seconds of the reference loops' forward and backward on these images: the same kind of clock as the
    graded cell's (:mod:`autograder.cpuclock`), which a neighbouring process does not slow."""
    began = time.process_time()
    conv_backward_naive(dout, conv_forward_naive(x, w, b, stride, pad)[1])
    return time.process_time() - began


def _speed_tolerance(x: np.ndarray, want: np.ndarray, part: str) -> tuple[float, float]:
    """float32 sums of up to 50,176 products: judged on the array's scale."""
    return 1e-3, 1e-4 * max(float(np.abs(want).max(initial=0.0)), 1.0)


def _speed_problem(rng: np.random.Generator) -> dict:
    N, C, H, W, F, KH, KW, stride, pad = SPEED_SHAPE
    x = rng.normal(size=(N, C, H, W)).astype(np.float32)
    w = (rng.normal(size=(F, C, KH, KW)) / np.sqrt(C * KH * KW)).astype(np.float32)
    b = rng.normal(size=F).astype(np.float32)
    dout = rng.normal(size=(N, F, H, W)).astype(np.float32)
    return {"args": [x, w, b], "kwargs": {"stride": stride, "pad": pad}, "dout": dout}


@case("w04_conv_fast_speed", fresh=True)
def conv_fast_speed_case(rng: np.random.Generator):
    """Forward + backward on 64 float32 images of 28 x 28 with 16 channels, 32 filters of 3 x 3, pad 1, for three
    different problems in a row (new inputs at every grading, and different ones in each pass, so that caching a
    result cannot pass for speed): out, dx, dw and db must be right for each, and one pass at least 50x faster than
    the naive loops, timed here on two of the images and scaled to 64."""
    N, C, H, W, F, KH, KW, stride, pad = SPEED_SHAPE
    problems = [_speed_problem(rng) for _ in range(SPEED_REPEATS)]

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for entry, sent in zip(entries, problems):
            x, w, b = sent["args"]
            where = _conv_label(x, w, stride, pad)
            grads = _judge_entry(entry, context, where)
            expected = conv_forward(x, w, b, stride, pad)
            check_array(f"conv_forward_fast on {where}: out", answers.value(entry.get("out"), where), expected,
                        rtol=1e-3, atol=1e-4 * float(np.abs(expected).max()), hint=CONV_FAST_HINT)
            _check_gradients(answers, context, grads, sent, where, _speed_tolerance)
        per_pass = context.seconds / len(problems)
        x, w, b = problems[0]["args"]
        dout = problems[0]["dout"]
        naive = naive_seconds(x[:NAIVE_IMAGES], w, b, stride, pad, dout[:NAIVE_IMAGES]) * N / NAIVE_IMAGES
        speedup = naive / per_pass
        if speedup < MIN_SPEEDUP:
            raise CheckFailed(
                f"conv_forward_fast + {context.name} took {per_pass * 1e3:.0f} ms per forward and backward pass of "
                f"{N} images of {H} x {W} ({C} -> {F} channels, {KH} x {KW} kernels), only {speedup:.0f}x faster than "
                f"the naive loops ({naive:.1f} s); at least {MIN_SPEEDUP:.0f}x is expected. Hint: no Python loop over "
                "images, filters or output positions: im2col (a strided view and one copy), one matrix product per "
                "direction, and col2im looping over the kernel offsets only.", mistake=SLOW,
            )
        return (f"{speedup:.0f}x faster than the naive loops ({per_pass * 1e3:.0f} ms per forward and backward pass "
                f"of {N} MNIST-sized images vs {naive:.1f} s), and out, dx, dw, db are right on {len(problems)} problems")

    return {"problems": problems}, judge


# ---- fixtures of the visible checks ------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    made = {}
    for name, seed, (N, C, H, W, KH, KW, stride, pad), dtype in [
            ("w04_im2col_basic", 431, (2, 3, 4, 5, 3, 3, 1, 1), np.float64),
            ("w04_im2col_strided", 432, (2, 2, 7, 6, 3, 2, 2, 1), np.float32)]:
        x = np.random.default_rng(seed).normal(size=(N, C, H, W)).astype(dtype)
        made[name] = ({"x": x, "KH": np.array(KH), "KW": np.array(KW), "stride": np.array(stride),
                       "pad": np.array(pad), "expected": im2col_reference(x, KH, KW, stride, pad)}
                      | stored(im2col_mistakes(x, KH, KW, stride, pad), IM2COL_MISTAKES))
    for name, seed, window in [("w04_im2col_col2im_overlaps", 433, (2, 3, 4, 5, 3, 3, 1, 1)),
                               ("w04_im2col_col2im_strided", 434, (2, 2, 8, 7, 3, 2, 2, 0))]:
        cols, x_shape, KH, KW, stride, pad = _col2im_problems(np.random.default_rng(seed), [window], [np.float64])[0]
        made[name] = ({"cols": cols, "x_shape": np.array(x_shape), "KH": np.array(KH), "KW": np.array(KW),
                       "stride": np.array(stride), "pad": np.array(pad),
                       "expected": col2im_reference(cols, x_shape, KH, KW, stride, pad)}
                      | stored(col2im_mistakes(cols, x_shape, KH, KW, stride, pad), COL2IM_MISTAKES))
    x, w, b, stride, pad = conv_problem(np.random.default_rng(435), (2, 3, 6, 5, 4, 3, 2, 2, 1))
    made["w04_im2col_conv_forward"] = ({"x": x, "w": w, "b": b, "stride": np.array(stride), "pad": np.array(pad),
                                      "expected_out": conv_forward(x, w, b, stride, pad)}
                                     | stored(conv_forward_mistakes(x, w, b, stride, pad), CONV_FAST_FORWARD_MISTAKES,
                                              "_out"))
    rng = np.random.default_rng(436)
    x, w, b, stride, pad = conv_problem(rng, (2, 3, 5, 6, 4, 3, 3, 1, 1))
    dout = rng.normal(size=conv_forward(x, w, b, stride, pad).shape)
    dx, dw, db = conv_backward(x, w, b, stride, pad, dout)
    arrays = {"x": x, "w": w, "b": b, "stride": np.array(stride), "pad": np.array(pad), "dout": dout,
              "expected_dx": dx, "expected_dw": dw, "expected_db": db}
    for part, outputs in conv_backward_mistakes(x, w, b, stride, pad, dout).items():
        arrays |= stored(outputs, CONV_FAST_BACKWARD_MISTAKES, f"_{part}")
    made["w04_im2col_conv_backward"] = arrays
    return made
