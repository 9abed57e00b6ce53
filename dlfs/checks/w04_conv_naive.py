"""Week 4, the naive convolution (conv_forward_naive, conv_backward_naive): the visible checks, and the probe
of the hidden backward cases, which run the student's forward to get a cache and hand it to the student's
backward.

Contract: ``conv_forward_naive(x, w, b, stride=1, pad=0) -> (out, cache)`` with ``x: (N, C, H, W)``,
``w: (F, C, KH, KW)``, ``b: (F,)``, ``out: (N, F, OH, OW)`` (a cross-correlation, zero padding on H and W);
``conv_backward_naive(dout, cache) -> (dx, dw, db)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlfs.checks import call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, Unsupported, probe, record

__all__ = ["conv_forward_naive", "conv_forward_naive_shapes", "conv_backward_naive", "conv_backward_naive_stride_pad",
           "conv_backward_naive_shapes"]

CONV_FORWARD_HINT = ("out[n, f, i, j] = b[f] + sum over c, u, v of xp[n, c, S*i + u, S*j + v] * w[f, c, u, v], with "
                     "xp = x zero-padded by `pad` on the last two axes only and OH = (H + 2*pad - KH) // S + 1; loop "
                     "over n, f, i, j and sum the window xp[n, :, S*i:S*i + KH, S*j:S*j + KW] times w[f].")
CONV_BACKWARD_HINT = ("for every output (n, f, i, j), whose window is xp[n, :, S*i:S*i + KH, S*j:S*j + KW]: add "
                      "dout[n, f, i, j] * w[f] to that window of dxp (an array of xp's shape) and dout[n, f, i, j] "
                      "times the window to dw[f]; db[f] = dout[:, f].sum(); dx is dxp without its `pad` border.")


# ---- the probe of the hidden backward cases (also used by w04_pool_naive and w04_im2col) ------------------------------


def forward_then_backward(backward: Callable, forward: Callable | None, problem: dict) -> dict:
    """Run ``forward(*args, **kwargs)``, then ``backward(dout, cache)``, and record the forward's ``out``, the
    gradients (or the exception), the forward's failure if any, and which arrays (the args, then ``dout``) either
    changed."""
    args, kwargs, dout = list(problem["args"]), dict(problem.get("kwargs", {})), problem["dout"]
    arrays = [*args, dout]
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in arrays]
    if forward is None:
        entry: dict = {"forward": Raised("TypeError", "no forward function was passed to check(...)")}
    else:
        result = record(forward, *args, **kwargs)
        if isinstance(result, Raised):
            entry = {"forward": result}
        elif not (isinstance(result, tuple | list) and len(result) == 2):
            entry = {"forward": Unsupported(f"a {type(result).__name__} instead of the pair (out, cache)")}
        else:
            entry = {"out": result[0], "grads": record(backward, dout, result[1])}
    entry["changed"] = [i for i, (old, new) in enumerate(zip(before, arrays))
                        if old is not None and not np.array_equal(old, new, equal_nan=True)]
    return entry


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_conv_backward_naive...", conv_backward_naive, conv_forward_naive)``: each problem's grads."""
    return {"problems": [forward_then_backward(backward, forward, p) for p in inputs["problems"]]}


for _case in ("w04_conv_backward_naive", "w04_conv_backward_naive_stride_pad", "w04_conv_backward_naive_shapes"):
    probe(_case)(_backward_probe)


# ---- visible checks ----------------------------------------------------------------------------------


def tolerances(*arrays: np.ndarray, scale: float = 1.0, gradient: bool = False) -> tuple[float, float]:
    """(rtol, atol) for a layer's output or gradient: float32 inputs get float32 tolerances; atol is relative to
    the largest expected value, so entries that cancel to about 0 are judged on the array's scale."""
    scale = max(scale, 1.0)
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return (1e-4, 1e-5 * scale) if gradient else (1e-5, 1e-5 * scale)
    return (1e-6, 1e-10 * scale) if gradient else (1e-7, 1e-10 * scale)


def name_of(fn: Callable) -> str:
    return getattr(fn, "__name__", "your function")


def settings_label(a: dict, arguments: Sequence[str], settings: Sequence[str]) -> str:
    """'x of shape (...), w of shape (...), stride=2, pad=1, float32' for a stored problem."""
    parts = [f"{k} of shape {a[k].shape}" for k in arguments if a[k].ndim > 1]
    given = [f"{k}={a[k].item()}" for k in settings if k in a]
    parts += given or ["the defaults"]
    if a[arguments[0]].dtype == np.float32:
        parts.append("float32")
    return ", ".join(parts)


def check_forward(fn: Callable, fixture_name: str, arguments: Sequence[str], settings: Sequence[str],
                  hint: str) -> str:
    """Call a forward on the stored inputs, check it returns (out, cache), leaves its inputs alone and that out
    matches; return the problem's label."""
    a = fixture(fixture_name)
    name = name_of(fn)
    args = [a[k] for k in arguments]
    kwargs = {k: a[k].item() for k in settings if k in a}
    label = settings_label(a, arguments, settings)
    out, _ = unpack(name, call(fn, *args, **kwargs), "out", "cache")
    fresh = fixture(fixture_name)
    for k, arg in zip(arguments, args):
        check_unchanged(name, fresh[k], arg, k)
    expected = a["expected_out"]
    rtol, atol = tolerances(*args, scale=float(np.abs(expected).max()))
    check_array(f"{name} on {label}: out", out, expected, rtol=rtol, atol=atol,
                mistakes=stored_mistakes(a, suffix="_out"), hint=hint)
    return label


def check_backward(backward: Callable, forward: Callable, fixture_name: str, arguments: Sequence[str],
                   settings: Sequence[str], grads: Sequence[str], hint: str) -> str:
    """Run the stored forward-backward pass (the cache made by ``forward``) and compare each gradient with the
    stored one; return the problem's label."""
    a = fixture(fixture_name)
    name = name_of(backward)
    args = [a[k] for k in arguments]
    kwargs = {k: a[k].item() for k in settings if k in a}
    dout = a["dout"]
    label = settings_label(a, arguments, settings)
    _, cache = unpack(name_of(forward), call(forward, *args, **kwargs), "out", "cache")
    result = call(backward, dout, cache)
    got = unpack(name, result, *grads) if len(grads) > 1 else (result,)
    fresh = fixture(fixture_name)
    for k, arg in zip((*arguments, "dout"), (*args, dout)):
        check_unchanged(f"{name_of(forward)} or {name}" if k != "dout" else name, fresh[k], arg, k)
    for part, value in zip(grads, got):
        expected = a[f"expected_{part}"]
        rtol, atol = tolerances(*args, scale=float(np.abs(expected).max(initial=0.0)), gradient=True)
        check_array(f"{name} on {label}: {part}", value, expected, rtol=rtol, atol=atol,
                    mistakes=stored_mistakes(a, suffix=f"_{part}"), hint=hint)
    return label


CONV = ("x", "w", "b")
SETTINGS = ("stride", "pad")


def conv_forward_naive(fn: Callable) -> None:
    """Check ``conv_forward_naive(x, w, b, stride=1, pad=1)`` on a stored batch: 2 images of 3 channels, 2
    filters of 3 x 3."""
    label = check_forward(fn, "w04_conv_naive_forward", CONV, SETTINGS, CONV_FORWARD_HINT)
    passed(f"{name_of(fn)}: out matches on {label}")


def conv_forward_naive_shapes(fn: Callable) -> None:
    """Check ``conv_forward_naive`` on a stored float32 batch with a non-square image and kernel, stride 2."""
    label = check_forward(fn, "w04_conv_naive_forward_shapes", CONV, SETTINGS, CONV_FORWARD_HINT)
    passed(f"{name_of(fn)}: out matches on {label}")


def conv_backward_naive(backward: Callable, forward: Callable) -> None:
    """Check ``conv_backward_naive(dout, cache)``, the cache made by ``forward``, with stride 1 and pad 1."""
    label = check_backward(backward, forward, "w04_conv_naive_backward", CONV, SETTINGS, ("dx", "dw", "db"),
                           CONV_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx, dw and db match on {label}")


def conv_backward_naive_stride_pad(backward: Callable, forward: Callable) -> None:
    """Check ``conv_backward_naive`` with stride 2 and pad 2, where the stride drops the last row and column."""
    label = check_backward(backward, forward, "w04_conv_naive_backward_stride_pad", CONV, SETTINGS,
                           ("dx", "dw", "db"), CONV_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx, dw and db match on {label}")


def conv_backward_naive_shapes(backward: Callable, forward: Callable) -> None:
    """Check ``conv_backward_naive`` on a stored float32 batch with a non-square image and kernel, stride 2."""
    label = check_backward(backward, forward, "w04_conv_naive_backward_shapes", CONV, SETTINGS,
                           ("dx", "dw", "db"), CONV_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx, dw and db match on {label}")
