"""Week 4, im2col, col2im and the fast convolution: the visible checks, and the probe of the hidden backward and
speed cases, which run the student's forward to get a cache and hand it to the student's backward.

Contracts: ``im2col(x, KH, KW, stride=1, pad=0) -> cols`` with ``x: (N, C, H, W)`` and ``cols: (N, C*KH*KW,
OH*OW)``, ``cols[n, (c*KH + u)*KW + v, i*OW + j] = xp[n, c, S*i + u, S*j + v]``; ``col2im(cols, x_shape, KH, KW,
stride=1, pad=0) -> dx`` of shape ``x_shape``, its adjoint (overlapping entries add up);
``conv_forward_fast(x, w, b, stride=1, pad=0) -> (out, cache)`` and ``conv_backward_fast(dout, cache) -> (dx, dw,
db)``, the layer of section 1 computed with them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.checks.w04_conv_naive import forward_then_backward
from dlfs.grading import Raised, probe

__all__ = ["im2col", "col2im", "conv_forward_fast", "conv_backward_fast"]

IM2COL_HINT = ("pad the last two axes, take a read-only view windows[n, c, u, v, i, j] = xp[n, c, S*i + u, S*j + v] "
               "of shape (N, C, KH, KW, OH, OW) (as_strided with the strides (sN, sC, sH, sW, S*sH, S*sW) of xp), "
               "and reshape it to (N, C*KH*KW, OH*OW): the reshape makes the one copy.")
COL2IM_HINT = ("reshape cols to (N, C, KH, KW, OH, OW); for each kernel offset (u, v) ADD block [:, :, u, v] into "
               "dxp[:, :, u:u + S*OH:S, v:v + S*OW:S] (dxp of the padded shape, zeros first), then crop the "
               "border, dxp[:, :, pad:pad + H, pad:pad + W]. Then <im2col(y), cols> = <y, col2im(cols)> for every y.")
CONV_FAST_HINT = ("cols = im2col(x, KH, KW, stride, pad) of shape (N, C*KH*KW, OH*OW); out = w.reshape(F, -1) @ cols "
                  "(a batched product, shape (N, F, OH*OW)) plus b[:, None], reshaped to (N, F, OH, OW).")
CONV_FAST_BACKWARD_HINT = ("with d = dout.reshape(N, F, OH*OW): db = d.sum(axis=(0, 2)); dw = the sum over n of "
                           "d[n] @ cols[n].T, reshaped to w's shape; dcols = w.reshape(F, -1).T @ d; dx = col2im(dcols, "
                           "x.shape, KH, KW, stride, pad).")


# ---- the probe of the hidden backward and speed cases --------------------------------------------------


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_conv_backward_fast...", conv_backward_fast, conv_forward_fast)``: each problem's gradients."""
    return {"problems": [forward_then_backward(backward, forward, p) for p in inputs["problems"]]}


for _case in ("w04_conv_backward_fast", "w04_conv_backward_fast_shapes"):
    probe(_case)(_backward_probe)


@probe("w04_conv_fast_speed")
def _speed_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """One forward-backward pass per problem sent, in a row (the grader times the whole cell); stops at the first
    pass that failed or changed an input."""
    entries: list = []
    for problem in inputs["problems"]:
        entry = forward_then_backward(backward, forward, problem)
        entries.append(entry)
        if "forward" in entry or isinstance(entry.get("grads"), Raised) or entry["changed"]:
            entries += [entry] * (len(inputs["problems"]) - len(entries))  # the failure stands for the rest
            break
    return {"problems": entries}


# ---- visible checks ----------------------------------------------------------------------------------


def tolerances(*arrays: np.ndarray, scale: float = 1.0, gradient: bool = False) -> tuple[float, float]:
    """(rtol, atol): float32 inputs get float32 tolerances; float64 ones must agree with the loops to 1e-10 (atol
    relative to the largest expected value, so entries that cancel to about 0 are judged on the array's scale)."""
    scale = max(scale, 1.0)
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return (1e-4, 1e-5 * scale) if gradient else (1e-5, 1e-5 * scale)
    return 1e-10, 1e-10 * scale


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", "your function")


def _settings(a: dict) -> tuple[int, int]:
    return int(a["stride"]), int(a["pad"])


def _kind(array: np.ndarray) -> str:
    return ", float32" if array.dtype == np.float32 else ""


def _check_im2col(fn: Callable, fixture_name: str) -> str:
    a = fixture(fixture_name)
    name = _name(fn)
    x, KH, KW = a["x"], int(a["KH"]), int(a["KW"])
    stride, pad = _settings(a)
    label = f"x of shape {x.shape}, KH={KH}, KW={KW}, stride={stride}, pad={pad}{_kind(x)}"
    cols = call(fn, x, KH, KW, stride=stride, pad=pad)
    check_unchanged(name, fixture(fixture_name)["x"], x, "x")
    rtol, atol = tolerances(x, scale=float(np.abs(x).max()))
    check_array(f"{name} on {label}", cols, a["expected"], rtol=rtol, atol=atol, mistakes=stored_mistakes(a),
                hint=IM2COL_HINT)
    return label


def im2col(fn: Callable) -> None:
    """Check ``im2col(x, KH, KW, stride, pad)`` on two stored batches: 3 x 3 windows with stride 1 and pad 1, and
    3 x 2 windows with stride 2 (a non-square image, float32)."""
    labels = [_check_im2col(fn, f) for f in ("w04_im2col_basic", "w04_im2col_strided")]
    passed(f"{_name(fn)}: cols match on {labels[0]} and on {labels[1]}")


def _check_col2im(fn: Callable, fixture_name: str) -> str:
    a = fixture(fixture_name)
    name = _name(fn)
    cols, x_shape, KH, KW = a["cols"], tuple(int(s) for s in a["x_shape"]), int(a["KH"]), int(a["KW"])
    stride, pad = _settings(a)
    label = f"x_shape {x_shape}, KH={KH}, KW={KW}, stride={stride}, pad={pad}{_kind(cols)}"
    dx = call(fn, cols, x_shape, KH, KW, stride=stride, pad=pad)
    check_unchanged(name, fixture(fixture_name)["cols"], cols, "cols")
    expected = a["expected"]
    rtol, atol = tolerances(cols, scale=float(np.abs(expected).max()))
    check_array(f"{name} on {label}", dx, expected, rtol=rtol, atol=atol, mistakes=stored_mistakes(a),
                hint=COL2IM_HINT)
    return label


def col2im(fn: Callable) -> None:
    """Check ``col2im(cols, x_shape, KH, KW, stride, pad)`` on two stored problems: 3 x 3 windows with stride 1 and
    pad 1 (each pixel in up to 9 windows), and 3 x 2 windows with stride 2, where the last row and column of x are
    in no window (their gradient is 0)."""
    labels = [_check_col2im(fn, f) for f in ("w04_im2col_col2im_overlaps", "w04_im2col_col2im_strided")]
    passed(f"{_name(fn)}: the sums match on {labels[0]} and on {labels[1]}")


def _conv_label(a: dict) -> str:
    stride, pad = _settings(a)
    return f"x of shape {a['x'].shape}, w of shape {a['w'].shape}, stride={stride}, pad={pad}{_kind(a['x'])}"


def conv_forward_fast(fn: Callable) -> None:
    """Check ``conv_forward_fast(x, w, b, stride=2, pad=1)`` on a stored batch with a non-square image and kernel:
    the same out as the loops, to 1e-10."""
    a = fixture("w04_im2col_conv_forward")
    name = _name(fn)
    x, w, b = a["x"], a["w"], a["b"]
    stride, pad = _settings(a)
    out, _ = unpack(name, call(fn, x, w, b, stride=stride, pad=pad), "out", "cache")
    fresh = fixture("w04_im2col_conv_forward")
    for key, value in (("x", x), ("w", w), ("b", b)):
        check_unchanged(name, fresh[key], value, key)
    expected = a["expected_out"]
    rtol, atol = tolerances(x, w, b, scale=float(np.max(np.abs(expected))))
    check_array(f"{name} on {_conv_label(a)}: out", out, expected, rtol=rtol, atol=atol,
                mistakes=stored_mistakes(a, suffix="_out"), hint=CONV_FAST_HINT)
    passed(f"{name}: out matches the loops on {_conv_label(a)}")


def conv_backward_fast(backward: Callable, forward: Callable) -> None:
    """Check ``conv_backward_fast(dout, cache)``, the cache made by ``forward``, on a stored batch with stride 1 and
    pad 1: dx, dw and db as the loops give them, to 1e-10."""
    a = fixture("w04_im2col_conv_backward")
    name = _name(backward)
    x, w, b, dout = a["x"], a["w"], a["b"], a["dout"]
    stride, pad = _settings(a)
    _, cache = unpack(_name(forward), call(forward, x, w, b, stride=stride, pad=pad), "out", "cache")
    grads = unpack(name, call(backward, dout, cache), "dx", "dw", "db")
    fresh = fixture("w04_im2col_conv_backward")
    for key, value in (("x", x), ("w", w), ("b", b)):
        check_unchanged(f"{_name(forward)} or {name}", fresh[key], value, key)
    check_unchanged(name, fresh["dout"], dout, "dout")
    for part, value in zip(("dx", "dw", "db"), grads):
        expected = a[f"expected_{part}"]
        rtol, atol = tolerances(x, w, b, scale=float(np.abs(expected).max()), gradient=True)
        check_array(f"{name} on {_conv_label(a)}: {part}", value, expected, rtol=rtol, atol=atol,
                    mistakes=stored_mistakes(a, suffix=f"_{part}"), hint=CONV_FAST_BACKWARD_HINT)
    passed(f"{name}: dx, dw and db match the loops on {_conv_label(a)}")
