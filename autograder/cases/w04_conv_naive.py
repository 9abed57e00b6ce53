"""Week 4, the naive convolution (conv_forward_naive, conv_backward_naive): references, known mistakes, hidden
cases, fixtures.

The references are :mod:`autograder.cases.conv_reference`'s convolution (checked against loops, SciPy and JAX in
``tests/test_conv_reference.py``), computed in float64 whatever the inputs' type, so that float32 answers are
compared with exact values at float32 tolerances. The backward cases compare the student's gradients with the
reference backward on the inputs the case sent; the reference equals centred differences of the forward
(``tests/test_w04_conv_naive.py`` proves it with :mod:`autograder.gradcheck` on every hidden problem, and against
``jax.vjp``), so a backward that passes is a correct gradient. They run the student's own forward first (the
cache is theirs), through the probe in ``dlfs/checks/w04_conv_naive.py``. Each known mistake is what one
plausible wrong implementation outputs, computed from the reference on altered inputs; the tests feed those
wrong implementations to every case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from autograder.cases.conv_reference import conv_backward_fast, conv_forward_fast, conv_output_size, pad2d
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w04_conv_naive import CONV_BACKWARD_HINT, CONV_FORWARD_HINT, tolerances
from dlfs.grading import Call, Raised

CONV_FORWARD_MISTAKES = {
    "flipped": "your out is a true convolution (the kernel flipped in both axes), where the layer computes a "
               "cross-correlation: use w[f, c, u, v] as it is, out[n, f, i, j] = b[f] + sum over c, u, v of "
               "xp[n, c, S*i + u, S*j + v] * w[f, c, u, v].",
    "kernel_transposed": "your kernel is transposed: the row offset u goes with the rows of xp and the column offset "
                         "v with its columns, xp[n, c, S*i + u, S*j + v] * w[f, c, u, v].",
    "no_bias": "your out has no bias: add b[f] once to every output of filter f.",
    "bias_per_channel": "your bias is added once per input channel (C times): add b[f] once to each output, after "
                        "the sum over the channels.",
    "one_short": "your out is one row and one column short: there are OH = (H + 2*pad - KH) // stride + 1 output rows "
                 "(mind the + 1) and OW likewise; loop with range(OH), not range(OH - 1).",
    "short_or_one_side": "your out lacks its last row and column: either your loops stop one row and one column "
                         "short (there are OH = (H + 2*pad - KH) // stride + 1 output rows, mind the + 1) or you "
                         "padded only one side of each spatial axis (`pad` zeros go before AND after the rows and "
                         "the columns, (pad, pad) in np.pad).",
    "no_padding": "your out is the convolution of the unpadded x: zero-pad the last two axes of x by `pad` on every "
                  "side first, np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))), and take the windows from it.",
    "pad_one_side": "your out lacks its last rows and columns: did you pad only one side of each spatial axis? `pad` "
                    "zeros go before AND after the rows and the columns, (pad, pad) in np.pad.",
    "stride_ignored": "your out is the stride-1 convolution: with stride S the windows start at (S*i, S*j) and there "
                      "are OH = (H + 2*pad - KH) // S + 1 of them down and OW across.",
    "stride_position": "your windows start at (i, j) instead of (S*i, S*j): with stride S, output (i, j) reads the "
                       "window whose top-left corner is at row S*i and column S*j of the padded input.",
}
CONV_BACKWARD_MISTAKES = {
    "dx_flipped": "your dx is what the kernel rotated by 180 degrees gives (a convolution where a correlation is "
                  "needed, or the other way round): in the scatter form add dout[n, f, i, j] * w[f] to the window of "
                  "dxp with w as it is; in the gather form correlate the zero-padded dout with w[:, :, ::-1, ::-1].",
    "dx_uncropped": "your dx has the padded shape (N, C, H + 2*pad, W + 2*pad): the padding zeros are constants, not "
                    "inputs, so crop their gradient away, dx = dxp[:, :, pad:pad + H, pad:pad + W].",
    "dx_crop_corner": "your dx is the top-left H x W corner of dxp: the padding border is on every side, so crop "
                      "dxp[:, :, pad:pad + H, pad:pad + W].",
    "dx_empty": "your dx is empty for pad=0: dxp[:, :, pad:-pad, pad:-pad] is dxp[:, :, 0:0, 0:0] when pad is 0 "
                "(-0 is 0); crop with dxp[:, :, pad:pad + H, pad:pad + W].",
    "dx_stride_ignored": "your dx sends the gradient of output (i, j) to the window at (i, j): the backward needs the "
                         "stride too, output (i, j) read the window starting at row S*i and column S*j of xp.",
    "dw_stride_ignored": "your dw pairs output (i, j) with the window at (i, j): the backward needs the stride too, "
                         "dw[f] += dout[n, f, i, j] * xp[n, :, S*i:S*i + KH, S*j:S*j + KW].",
    "dw_first_image": "your dw comes from image 0 only: every image used the same weights, so dw sums the "
                      "contributions of all N images.",
    "dw_mean": "your dw is the mean over the images: every image used the same weights, so dw is the SUM of their "
               "contributions (the loss's 1/N, if any, is already in dout).",
    "dw_flipped": "your dw is flipped in both axes: dw[f, c, u, v] = sum over n, i, j of dout[n, f, i, j] * "
                  "xp[n, c, S*i + u, S*j + v], a correlation of xp with dout, no flip.",
    "dw_transposed": "your dw is transposed in its last two axes: u is the row offset and v the column offset, "
                     "dw[f, c, u, v] pairs dout[n, f, i, j] with xp[n, c, S*i + u, S*j + v].",
    "db_mean": "your db is the mean of dout: b[f] is added to every output of filter f, so db[f] is the SUM of "
               "dout[:, f] over the images and the positions.",
    "db_batch_mean": "your db is divided by the number of images: db[f] is the sum of dout[:, f] over the images and "
                     "the positions.",
    "db_per_image": "your db has shape (N, F): sum dout over the images too, db = dout.sum(axis=(0, 2, 3)), of "
                    "shape (F,).",
}


# ---- references -------------------------------------------------------------------------------------------


def _float64(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The layer's output, in float64:

        out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, S i + u, S j + v] w[f, c, u, v],

    xp = x zero-padded by P = ``pad`` on its last two axes, S = ``stride``; x (N, C, H, W), w (F, C, KH, KW),
    b (F,) -> out (N, F, OH, OW), OH = (H + 2P - KH) // S + 1, OW = (W + 2P - KW) // S + 1.
    """
    return conv_forward_fast(*_float64(x, w, b), stride, pad)[0]


def conv_backward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int,
                  dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db) of the layer at (x, w, b) for the upstream gradient dout (N, F, OH, OW), in float64:

        dxp[n, c, S i + u, S j + v] += w[f, c, u, v] dout[n, f, i, j]     (summed over n, f, i, j),
        dx = dxp[:, :, P:P + H, P:P + W],
        dw[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] xp[n, c, S i + u, S j + v],
        db[f]          = sum_{n, i, j} dout[n, f, i, j].

    Equivalently dx is the full convolution of the dilated dout with w (the correlation of the dilated dout,
    zero-padded by K - 1, with w rotated by 180 degrees), cropped by P, and dw the correlation of xp with the
    dilated dout.
    """
    x, w, b, dout = _float64(x, w, b, dout)
    return conv_backward_fast(dout, conv_forward_fast(x, w, b, stride, pad)[1])


# ---- what the known mistakes output ----------------------------------------------------------------------


def _or_none(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray | None:
    """The reference on altered inputs, or None where they make no valid convolution."""
    try:
        return conv_forward(x, w, b, stride, pad)
    except ValueError:
        return None


def conv_forward_mistakes(x, w, b, stride: int = 1, pad: int = 0) -> dict[str, np.ndarray]:
    """Outputs of the known forward mistakes on one problem (those a wrong implementation can output there
    without failing: no kernel transpose for non-square kernels, no padding mistakes without padding, ...)."""
    x, w, b = _float64(x, w, b)
    C, KH, KW = w.shape[1:]
    right = conv_forward(x, w, b, stride, pad)
    OH, OW = right.shape[2:]
    found = {"flipped": conv_forward(x, w[:, :, ::-1, ::-1], b, stride, pad), "no_bias": right - b[:, None, None]}
    if OH > 1 and OW > 1:
        found["one_short"] = right[:, :, :-1, :-1]
    if C > 1:
        found["bias_per_channel"] = right + (C - 1) * b[:, None, None]
    if KH == KW:
        found["kernel_transposed"] = conv_forward(x, w.transpose(0, 1, 3, 2), b, stride, pad)
    if pad:
        found["no_padding"] = _or_none(x, w, b, stride, 0)
        found["pad_one_side"] = _or_none(np.pad(x, ((0, 0), (0, 0), (pad, 0), (pad, 0))), w, b, stride, 0)
    if stride > 1:
        found["stride_ignored"] = conv_forward(x, w, b, 1, pad)
        found["stride_position"] = found["stride_ignored"][:, :, :OH, :OW]
    short, one_side = found.get("one_short"), found.get("pad_one_side")
    if short is not None and one_side is not None and short.shape == one_side.shape and np.allclose(short, one_side):
        del found["one_short"], found["pad_one_side"]  # the same output: say both
        found["short_or_one_side"] = short
    return {name: out for name, out in found.items() if out is not None}


def conv_backward_mistakes(x, w, b, stride: int, pad: int, dout) -> dict[str, dict[str, np.ndarray]]:
    """Per gradient (dx, dw, db), the outputs of the known backward mistakes on one problem."""
    x, w, b, dout = _float64(x, w, b, dout)
    N, _, H, W = x.shape
    KH, KW = w.shape[2:]
    OH, OW = dout.shape[2:]
    dx, dw, db = conv_backward(x, w, b, stride, pad, dout)
    found_dx = {"dx_flipped": conv_backward(x, w[:, :, ::-1, ::-1], b, stride, pad, dout)[0]}
    found_dw = {"dw_flipped": dw[:, :, ::-1, ::-1]}
    found_db = {"db_mean": dout.mean(axis=(0, 2, 3)), "db_per_image": dout.sum(axis=(2, 3))}
    if pad:
        dxp = conv_backward(pad2d(x, pad), w, b, stride, 0, dout)[0]
        found_dx |= {"dx_uncropped": dxp, "dx_crop_corner": dxp[:, :, :H, :W]}
    else:
        found_dx["dx_empty"] = dx[:, :, 0:0, 0:0]
    if N > 1:
        found_dw |= {"dw_first_image": conv_backward(x[:1], w, b, stride, pad, dout[:1])[1], "dw_mean": dw / N}
        found_db["db_batch_mean"] = db / N
    if KH == KW:
        found_dw["dw_transposed"] = dw.transpose(0, 1, 3, 2)
    if stride > 1:  # the backward's loops place window (i, j) at (i, j): dout in the corner of a stride-1 output
        corner = np.zeros((*dout.shape[:2], conv_output_size(H, KH, pad, 1), conv_output_size(W, KW, pad, 1)))
        corner[:, :, :OH, :OW] = dout
        ignored = conv_backward(x, w, b, 1, pad, corner)
        found_dx["dx_stride_ignored"], found_dw["dw_stride_ignored"] = ignored[0], ignored[1]
    return {"dx": found_dx, "dw": found_dw, "db": found_db}


# ---- hidden cases: the forward (the default probe) ----------------------------------------------------------

#: (N, C, H, W, F, KH, KW, stride, pad)
Shape = tuple[int, int, int, int, int, int, int, int, int]


def problem(rng: np.random.Generator, shape: Shape, dtype: type = np.float64) -> tuple:
    """Random x, w, b of the given sizes (and type), then stride and pad."""
    N, C, H, W, F, KH, KW, stride, pad = shape
    x = rng.normal(size=(N, C, H, W))
    w = rng.normal(size=(F, C, KH, KW)) / np.sqrt(C * KH * KW)
    b = rng.normal(size=F)
    return x.astype(dtype), w.astype(dtype), b.astype(dtype), stride, pad


def dtype_note(x: np.ndarray) -> str:
    """', float32' for float32 inputs (judged with float32 tolerances), nothing otherwise."""
    return ", float32" if np.asarray(x).dtype == np.float32 else ""


def label_of(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> str:
    return f"x of shape {x.shape}, w of shape {w.shape}, stride={stride}, pad={pad}" + dtype_note(x)


def _forward_case(problems: list[tuple], calls: list[Call], summary: str):
    """Each call's out against the reference, naming the known mistakes; the cache is not looked at."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (x, w, b, stride, pad) in enumerate(problems):
            label = label_of(x, w, stride, pad)
            result = answers.parts(answers.result(i, label, arguments=("x", "w", "b")), "out", "cache")
            out = answers.value(result[0], label)
            expected = conv_forward(x, w, b, stride, pad)
            rtol, atol = tolerances(x, w, b, scale=float(np.abs(expected).max()))
            check_array(f"{context.name} on {label}: out", out, expected, rtol=rtol, atol=atol, hint=CONV_FORWARD_HINT,
                        mistakes=mistakes_on(conv_forward_mistakes(x, w, b, stride, pad), CONV_FORWARD_MISTAKES))
        return summary

    return {"calls": calls}, judge


@case("w04_conv_forward_naive")
def conv_forward_naive_case(rng: np.random.Generator):
    """Strides 1 to 3 and paddings 0 to 2 (borders the stride does not reach dropped), N = 1, C = 1 and 3, F = 1;
    called with the defaults ``fn(x, w, b)``, with keywords and positionally."""
    shapes = [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 6, 4, 3, 3, 1, 1), (2, 3, 7, 7, 2, 3, 3, 2, 1),
              (1, 2, 8, 8, 3, 3, 3, 2, 2), (3, 1, 6, 6, 2, 3, 3, 1, 2), (2, 2, 9, 9, 2, 3, 3, 3, 0)]
    problems = [problem(rng, s) for s in shapes]
    calls = [Call(p[:3]) for p in problems[:1]] + [Call(p[:3], {"stride": p[3], "pad": p[4]}) for p in problems[1:-1]]
    calls.append(Call(problems[-1]))  # positional, in the order of the signature
    return _forward_case(problems, calls, f"out agrees with the reference on {len(problems)} batches (strides 1 to 3, "
                         "paddings 0 to 2, N = 1, C = 1 and 3, F = 1)")


@case("w04_conv_forward_naive_shapes")
def conv_forward_naive_shapes_case(rng: np.random.Generator):
    """Non-square images and kernels, a 1 x 1 kernel, a kernel as large as the image, float32 inputs (float32
    tolerances)."""
    problems = [problem(rng, s) for s in [(2, 3, 5, 8, 4, 3, 3, 1, 0), (1, 3, 7, 6, 2, 2, 4, 2, 1),
                                           (3, 3, 6, 5, 1, 1, 1, 1, 0), (2, 2, 4, 5, 3, 4, 5, 1, 0)]]
    problems += [problem(rng, s, np.float32) for s in [(2, 3, 9, 7, 4, 3, 2, 1, 1), (2, 1, 10, 8, 3, 5, 3, 2, 2)]]
    calls = [Call(p[:3], {"stride": p[3], "pad": p[4]}) for p in problems]
    return _forward_case(problems, calls, f"out agrees with the reference on {len(problems)} batches (non-square "
                         "images and kernels, 1 x 1 kernels, float32)")


# ---- hidden cases: the backward (the probe runs the student's forward, then the backward) -------------------


def backward_case(problems: list[dict], expected_of: Callable[[dict], tuple], mistakes_of: Callable[[dict], dict],
                  messages: dict[str, str], grads: Sequence[str], hint: str, forward_name: str,
                  arguments: Sequence[str], label: Callable[[dict], str], summary: str):
    """Each problem's gradients against the reference backward (= centred differences of the forward).

    ``problems`` are dicts {"args": [...], "kwargs": {...}, "dout": ...} (what the probe calls); ``expected_of``
    and ``mistakes_of`` give, for one problem, the reference gradients and {gradient: {mistake: output}}.
    """

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems) and all(isinstance(e, dict) for e in entries)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for entry, sent in zip(entries, problems):
            where = label(sent)
            if "forward" in entry:
                failure = entry["forward"]
                if isinstance(failure, Raised) and failure.type == "NotImplementedError":
                    raise CheckFailed(f"{context.name} is checked on the cache of your {forward_name}, which is not "
                                      "implemented yet: write the forward first.")
                what = (f"raised {failure.type}: {failure.message}" if isinstance(failure, Raised)
                        else f"returned {getattr(failure, 'type', failure)}")
                raise CheckFailed(f"{context.name} is checked on the cache of your {forward_name}, which {what} "
                                  f"(on {where}); fix the forward first.")
            names = (*arguments, "dout")
            for position in entry.get("changed", []):
                if not isinstance(position, int) or not 0 <= position < len(names):
                    raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
                who = context.name if names[position] == "dout" else f"{forward_name} or {context.name}"
                raise CheckFailed(f"{who} changed `{names[position]}` in place (on {where}); work on a copy or on "
                                  "new arrays.")
            result = answers.value(entry.get("grads"), where)
            got = answers.parts(result, *grads) if len(grads) > 1 else (result,)
            wrong = mistakes_of(sent)
            arrays = [a for a in sent["args"] if isinstance(a, np.ndarray)]
            for part, value, want in zip(grads, got, expected_of(sent)):
                rtol, atol = tolerances(*arrays, scale=float(np.abs(want).max(initial=0.0)), gradient=True)
                check_array(f"{context.name} on {where}: {part}", value, want, rtol=rtol, atol=atol, hint=hint,
                            mistakes=mistakes_on(wrong.get(part, {}), messages))
        return summary

    return {"problems": problems}, judge


def _conv_problems(rng: np.random.Generator, shapes: list[Shape], dtype: type = np.float64) -> list[dict]:
    found = []
    for shape in shapes:
        x, w, b, stride, pad = problem(rng, shape, dtype)
        dout = rng.normal(size=conv_forward(x, w, b, stride, pad).shape).astype(dtype)
        found.append({"args": [x, w, b], "kwargs": {"stride": stride, "pad": pad}, "dout": dout})
    return found


def _settings(sent: dict) -> tuple:
    x, w, b = sent["args"]
    return x, w, b, sent["kwargs"].get("stride", 1), sent["kwargs"].get("pad", 0)


def _conv_backward_case(problems: list[dict], summary: str):
    def label(sent: dict) -> str:
        x, w, _, stride, pad = _settings(sent)
        return label_of(x, w, stride, pad)

    return backward_case(problems, lambda p: conv_backward(*_settings(p), p["dout"]),
                         lambda p: conv_backward_mistakes(*_settings(p), p["dout"]), CONV_BACKWARD_MISTAKES,
                         ("dx", "dw", "db"), CONV_BACKWARD_HINT, "conv_forward_naive", ("x", "w", "b"), label, summary)


@case("w04_conv_backward_naive")
def conv_backward_naive_case(rng: np.random.Generator):
    """dx, dw and db with stride 1 and paddings 0 to 2: N = 1, C = 1 and 3, F = 1, 2 x 2 and 3 x 3 kernels; the
    first batch through the forward's defaults."""
    problems = _conv_problems(rng, [(1, 1, 5, 5, 1, 3, 3, 1, 0), (2, 3, 6, 6, 4, 3, 3, 1, 1), (3, 2, 5, 5, 3, 3, 3, 1, 0),
                                    (2, 1, 4, 4, 2, 3, 3, 1, 2), (4, 3, 5, 5, 1, 2, 2, 1, 1)])
    problems[0]["kwargs"] = {}  # conv_forward_naive(x, w, b)
    return _conv_backward_case(problems, f"dx, dw and db agree with the reference (= centred differences) on "
                               f"{len(problems)} batches with stride 1 and paddings 0 to 2")


@case("w04_conv_backward_naive_stride_pad")
def conv_backward_naive_stride_pad_case(rng: np.random.Generator):
    """dx, dw and db with strides 2 and 3 and paddings 0 to 2, including strides that leave the last rows and
    columns of the padded input unread (their gradient is 0)."""
    problems = _conv_problems(rng, [(2, 3, 7, 7, 2, 3, 3, 2, 1), (1, 2, 8, 8, 3, 3, 3, 2, 0), (2, 2, 9, 9, 2, 3, 3, 3, 1),
                                    (3, 1, 6, 6, 2, 3, 3, 2, 2), (2, 3, 8, 8, 3, 5, 5, 3, 2)])
    return _conv_backward_case(problems, f"dx, dw and db agree with the reference (= centred differences) on "
                               f"{len(problems)} batches with strides 2 and 3 and paddings 0 to 2")


@case("w04_conv_backward_naive_shapes")
def conv_backward_naive_shapes_case(rng: np.random.Generator):
    """dx, dw and db for non-square images and kernels, a 1 x 1 kernel and float32 inputs (float32 tolerances)."""
    problems = _conv_problems(rng, [(2, 3, 5, 8, 2, 3, 2, 1, 1), (1, 3, 7, 6, 2, 2, 4, 2, 1), (3, 2, 6, 5, 2, 1, 1, 1, 0)])
    problems += _conv_problems(rng, [(2, 3, 9, 7, 3, 3, 2, 2, 1), (2, 1, 8, 10, 3, 5, 3, 1, 2)], np.float32)
    return _conv_backward_case(problems, f"dx, dw and db agree with the reference (= centred differences) on "
                               f"{len(problems)} batches (non-square images and kernels, 1 x 1 kernels, float32)")


# ---- fixtures of the visible checks ------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    made = {}
    for name, seed, shape, dtype in [("w04_conv_naive_forward", 401, (2, 3, 5, 5, 2, 3, 3, 1, 1), np.float64),
                                     ("w04_conv_naive_forward_shapes", 402, (2, 2, 7, 6, 3, 3, 2, 2, 1), np.float32)]:
        x, w, b, stride, pad = problem(np.random.default_rng(seed), shape, dtype)
        made[name] = ({"x": x, "w": w, "b": b, "stride": np.array(stride), "pad": np.array(pad),
                       "expected_out": conv_forward(x, w, b, stride, pad)}
                      | stored(conv_forward_mistakes(x, w, b, stride, pad), CONV_FORWARD_MISTAKES, "_out"))
    for name, seed, shape, dtype in [("w04_conv_naive_backward", 403, (2, 3, 5, 5, 2, 3, 3, 1, 1), np.float64),
                                     ("w04_conv_naive_backward_stride_pad", 404, (2, 2, 7, 7, 3, 3, 3, 2, 2), np.float64),
                                     ("w04_conv_naive_backward_shapes", 405, (2, 3, 7, 9, 2, 2, 4, 2, 1), np.float32)]:
        rng = np.random.default_rng(seed)
        x, w, b, stride, pad = problem(rng, shape, dtype)
        dout = rng.normal(size=conv_forward(x, w, b, stride, pad).shape).astype(dtype)
        dx, dw, db = conv_backward(x, w, b, stride, pad, dout)
        arrays = {"x": x, "w": w, "b": b, "stride": np.array(stride), "pad": np.array(pad), "dout": dout,
                  "expected_dx": dx, "expected_dw": dw, "expected_db": db}
        for part, outputs in conv_backward_mistakes(x, w, b, stride, pad, dout).items():
            arrays |= stored(outputs, CONV_BACKWARD_MISTAKES, f"_{part}")
        made[name] = arrays
    return made
