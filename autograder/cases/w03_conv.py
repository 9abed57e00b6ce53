"""Week 3, the convolutional layer forward (conv2d_forward): reference, known mistakes, hidden cases, fixtures.

The reference is :func:`autograder.cases.conv_reference.conv_forward_fast` (checked against loops, SciPy and
JAX in ``tests/test_conv_reference.py``), computed in float64 whatever the inputs' type, so that float32
answers are compared with exact values at float32 tolerances. Each known mistake is what one plausible wrong
implementation outputs, computed from the reference on altered inputs (``tests/test_w03_conv.py`` feeds those
wrong implementations to every case).
"""

from __future__ import annotations

import numpy as np

from autograder.cases.conv_reference import conv_forward_fast, conv_output_size
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import check_array
from dlfs.checks.w03_conv import CONV2D_HINT, output_only, tolerances
from dlfs.grading import Call

CONV2D_MISTAKES = {
    "flipped": "your output is a true convolution (the kernel flipped in both axes), where a cross-correlation is "
               "asked: use w[f, c, u, v] as it is, out[n, f, i, j] = b[f] + sum xp[n, c, S*i + u, S*j + v] w[f, c, u, v].",
    "kernel_transposed": "your kernel is transposed: the row offset u goes with the rows of x and the column offset v "
                         "with its columns, xp[n, c, S*i + u, S*j + v] * w[f, c, u, v].",
    "pad_one_side": "your output lacks its last rows and columns: did you pad only one side of each spatial axis? "
                    "`pad` zeros go before AND after the rows and the columns, (pad, pad) in np.pad, and "
                    "OH = (H + 2*pad - KH) // stride + 1.",
    "one_short": "your output is one row and one column short: there are OH = (H + 2*pad - KH) // stride + 1 output "
                 "rows (mind the + 1) and OW likewise; loop with range(OH), not range(OH - 1).",
    "pad_all_axes": "you padded every axis of x (np.pad(x, pad) pads the images and the channels too): pad only the "
                    "last two axes, np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).",
    "pad_first_axes": "you padded the first two axes of x (the images and the channels): pad the last two, H and W, "
                      "np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).",
    "pad_height_only": "you padded the rows of x but not its columns: pad both spatial axes, "
                       "np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).",
    "stride_in_window": "your window steps by the stride inside the window (rows i + S*u): the stride moves the "
                        "window's start, the window itself is contiguous, xp[n, c, S*i + u, S*j + v].",
    "stride_position": "your windows start at (i, j) instead of (S*i, S*j): with stride S, output (i, j) reads the "
                       "window whose top-left corner is at row S*i and column S*j of the padded input.",
    "stride_ignored": "your output is the stride-1 convolution: use the stride, windows start at (S*i, S*j) and there "
                      "are OH = (H + 2*pad - KH) // S + 1 of them down and OW across.",
    "no_bias": "your output has no bias: add b[f] to every output of filter f (b[:, None, None] broadcasts over the "
               "rows and columns).",
    "bias_per_channel": "your bias is added once per input channel (C times): add b[f] once to each output, after "
                        "summing over the channels.",
    "first_channel": "your output uses only channel 0 of x: each filter sums over ALL input channels c, "
                     "sum over c of xp[n, c, ...] * w[f, c, ...].",
}


# ---- reference ------------------------------------------------------------------------------------------


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The convolutional layer's output, in float64:

        out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, S i + u, S j + v] w[f, c, u, v],

    xp = x zero-padded by P = ``pad`` on its last two axes, S = ``stride``; x (N, C, H, W), w (F, C, KH, KW),
    b (F,) -> out (N, F, OH, OW), OH = (H + 2P - KH) // S + 1, OW = (W + 2P - KW) // S + 1.
    """
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    return conv_forward_fast(x, w, b, stride, pad)[0]


# ---- what the known mistakes output ------------------------------------------------------------------------


def _or_none(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray | None:
    """The reference on altered inputs, or None where they make no valid convolution."""
    try:
        return conv2d_forward(x, w, b, stride, pad)
    except ValueError:
        return None


def _dilated(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray | None:
    """out[n, f, i, j] = b[f] + sum xp[n, c, i + S u, j + S v] w[f, c, u, v] for the right OH x OW positions: the
    stride applied inside the window. None where such windows leave the padded input (the code would fail)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)
    if OH - 1 + (KH - 1) * stride >= H + 2 * pad or OW - 1 + (KW - 1) * stride >= W + 2 * pad:
        return None
    spread = np.zeros((F, C, (KH - 1) * stride + 1, (KW - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = w
    return conv2d_forward(x, spread, b, 1, pad)[:, :, :OH, :OW]


def conv2d_mistakes(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> dict[str, np.ndarray]:
    """Outputs of the known mistakes on one problem (those a wrong implementation can output there without
    failing: no kernel transpose for non-square kernels, no padding mistakes without padding, ...)."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    right = conv2d_forward(x, w, b, stride, pad)
    OH, OW = right.shape[2:]
    found = {
        "flipped": conv2d_forward(x, w[:, :, ::-1, ::-1], b, stride, pad),
        "one_short": right[:, :, :-1, :-1],
        "no_bias": right - b[:, None, None],
        "bias_per_channel": right + (C - 1) * b[:, None, None],
        "first_channel": conv2d_forward(x[:, :1], w[:, :1], b, stride, pad),
    }
    if KH == KW:
        found["kernel_transposed"] = conv2d_forward(x, w.transpose(0, 1, 3, 2), b, stride, pad)
    if pad:
        # index loops over the original N and C read the first N, C entries of an array padded on every axis
        found["pad_all_axes"] = _or_none(np.pad(x, pad)[:N, :C], w, b, stride, 0)
        found["pad_first_axes"] = _or_none(np.pad(x, ((pad, pad), (pad, pad), (0, 0), (0, 0)))[:N, :C], w, b, stride, 0)
        found["pad_height_only"] = _or_none(np.pad(x, ((0, 0), (0, 0), (pad, pad), (0, 0))), w, b, stride, 0)
        found["pad_one_side"] = _or_none(np.pad(x, ((0, 0), (0, 0), (pad, 0), (pad, 0))), w, b, stride, 0)
    if stride > 1:
        found["stride_in_window"] = _dilated(x, w, b, stride, pad)
        found["stride_ignored"] = conv2d_forward(x, w, b, 1, pad)
        found["stride_position"] = found["stride_ignored"][:, :, :OH, :OW]
    return {name: out for name, out in found.items() if out is not None}


# ---- hidden cases -------------------------------------------------------------------------------------------

#: (N, C, H, W, F, KH, KW, stride, pad)
Shape = tuple[int, int, int, int, int, int, int, int, int]


def _problem(rng: np.random.Generator, shape: Shape, dtype: type = np.float64) -> tuple:
    """Random x, w, b of the given sizes (and type), then stride and pad."""
    N, C, H, W, F, KH, KW, stride, pad = shape
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(F, C, KH, KW)) / np.sqrt(C * KH * KW)
    b = rng.normal(size=F)
    return x.astype(dtype), w.astype(dtype), b.astype(dtype), stride, pad


def _label(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> str:
    kind = "" if x.dtype == np.float64 else f", {x.dtype} x"
    return f"x of shape {x.shape}, w of shape {w.shape}, stride={stride}, pad={pad}{kind}"


def _conv_case(problems: list[tuple], calls: list[Call], summary: str):
    """Each call's output against the reference, naming the known mistakes."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (x, w, b, stride, pad) in enumerate(problems):
            label = _label(x, w, stride, pad)
            expected = conv2d_forward(x, w, b, stride, pad)
            got = output_only(f"{context.name} on {label}", answers.result(i, label, arguments=("x", "w", "b")))
            rtol, atol = tolerances(x, w, b, scale=float(np.abs(expected).max()))
            check_array(f"{context.name} on {label}", got, expected, rtol=rtol, atol=atol, hint=CONV2D_HINT,
                        mistakes=mistakes_on(conv2d_mistakes(x, w, b, stride, pad), CONV2D_MISTAKES))
        return summary

    return {"calls": calls}, judge


@case("w03_conv2d_forward")
def conv2d_forward_case(rng: np.random.Generator):
    """Stride 1, no padding, called with the defaults ``fn(x, w, b)``: one image, one channel and one filter; 3
    channels and 4 filters; 5 x 5 kernels; a batch of 4 one-channel images."""
    shapes = [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 6, 4, 3, 3, 1, 0), (2, 3, 8, 8, 5, 5, 5, 1, 0),
              (4, 1, 7, 7, 3, 3, 3, 1, 0), (1, 2, 4, 4, 1, 2, 2, 1, 0)]
    problems = [_problem(rng, s) for s in shapes]
    calls = [Call((x, w, b)) for x, w, b, _, _ in problems]
    return _conv_case(problems, calls, f"{len(problems)} batches (N = 1, C = 1 and 3, F = 1 to 5, kernels 2 to 5) "
                      "agree with the reference")


@case("w03_conv2d_stride_pad")
def conv2d_stride_pad_case(rng: np.random.Generator):
    """Strides 1, 2 and 3 and paddings 0, 1 and 2 in keyword and positional calls, including strides that do not
    divide H + 2P - K (the border they do not reach is dropped)."""
    shapes = [(2, 3, 7, 7, 2, 3, 3, 1, 1), (1, 2, 8, 8, 3, 3, 3, 2, 1), (2, 1, 9, 9, 2, 3, 3, 2, 0),
              (2, 3, 6, 6, 2, 3, 3, 1, 2), (1, 3, 10, 10, 2, 5, 5, 3, 2), (2, 2, 7, 7, 2, 3, 3, 3, 0),
              (3, 2, 8, 8, 4, 3, 3, 2, 2)]
    problems = [_problem(rng, s) for s in shapes]
    calls = [Call((x, w, b), {"stride": s, "pad": p}) for x, w, b, s, p in problems[:-1]]
    x, w, b, s, p = problems[-1]
    calls.append(Call((x, w, b, s, p)))  # positional, in the order of the signature
    return _conv_case(problems, calls, f"{len(problems)} batches with strides 1 to 3 and paddings 0 to 2 (dropped "
                      "borders included) agree with the reference")


@case("w03_conv2d_shapes")
def conv2d_shapes_case(rng: np.random.Generator):
    """Non-square images and kernels, a 1 x 1 kernel, a kernel as large as the image (a 1 x 1 output), float32
    inputs (float32 tolerances) and integer pixels (uint8, computed in float64)."""
    problems = [_problem(rng, s) for s in [(2, 3, 5, 8, 4, 3, 3, 1, 0), (1, 3, 7, 6, 2, 2, 4, 2, 1),
                                            (3, 3, 6, 5, 1, 1, 1, 1, 0), (2, 2, 4, 5, 3, 4, 5, 1, 0)]]
    problems += [_problem(rng, s, np.float32) for s in [(2, 3, 9, 7, 4, 3, 2, 1, 1), (4, 1, 12, 10, 3, 5, 3, 2, 2)]]
    _, w, b, _, _ = _problem(rng, (1, 1, 1, 1, 2, 3, 3, 1, 1))
    problems.append((rng.integers(0, 256, size=(2, 1, 6, 7)).astype(np.uint8), w, b, 1, 1))
    calls = [Call((x, w, b), {"stride": s, "pad": p}) for x, w, b, s, p in problems]
    return _conv_case(problems, calls, f"{len(problems)} batches (non-square images and kernels, 1 x 1 kernels and "
                      "outputs, float32, uint8 pixels) agree with the reference")


# ---- fixtures of the visible checks ------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    made = {}
    for name, seed, shape, dtype in [("w03_conv_basic", 31, (2, 3, 5, 5, 2, 3, 3, 1, 0), np.float64),
                                     ("w03_conv_stride_pad", 32, (2, 2, 7, 6, 3, 3, 3, 2, 1), np.float64),
                                     ("w03_conv_shapes", 33, (2, 3, 6, 9, 2, 2, 4, 1, 2), np.float32)]:
        x, w, b, stride, pad = _problem(np.random.default_rng(seed), shape, dtype)
        made[name] = ({"x": x, "w": w, "b": b, "stride": np.array(stride), "pad": np.array(pad),
                       "expected": conv2d_forward(x, w, b, stride, pad)}
                      | stored(conv2d_mistakes(x, w, b, stride, pad), CONV2D_MISTAKES))
    return made
