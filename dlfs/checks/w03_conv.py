"""Week 3, the convolutional layer (conv2d_forward): the visible checks. Its hidden cases need only calls
(the default probe).

The layer's contract this week: ``conv2d_forward(x, w, b, stride=1, pad=0) -> out`` (the output only; week 4
adds the cache), with ``x: (N, C, H, W)``, ``w: (F, C, KH, KW)``, ``b: (F,)`` and ``out: (N, F, OH, OW)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes

__all__ = ["conv2d_forward", "conv2d_forward_stride_pad", "conv2d_forward_shapes"]

CONV2D_HINT = ("out[n, f, i, j] = b[f] + sum over c, u, v of xp[n, c, S*i + u, S*j + v] * w[f, c, u, v], with xp = x "
               "padded by `pad` zeros on the last two axes only; loop over the kernel offsets (u, v) and take the "
               "slice xp[:, :, u:u + S*OH:S, v:v + S*OW:S] of shape (N, C, OH, OW) for each.")


def output_only(name: str, result: Any) -> Any:
    """The layer's output; a failure when a pair such as (out, cache) came back instead of one array."""
    if isinstance(result, tuple | list) and any(isinstance(part, tuple | list | dict | np.ndarray) for part in result):
        raise CheckFailed(f"{name} returned a {type(result).__name__} of length {len(result)}: this week the layer "
                          "returns its output array only, `return out` (week 4 adds the cache).")
    return result


def tolerances(*arrays: np.ndarray, scale: float = 1.0) -> tuple[float, float]:
    """(rtol, atol): float32 inputs get float32 tolerances (atol relative to the output's scale)."""
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return 1e-5, 1e-5 * max(scale, 1.0)
    return 1e-7, 1e-10 * max(scale, 1.0)


def _check(fn: Callable, fixture_name: str) -> str:
    """Run ``fn`` on a stored problem, check it left its inputs alone and compare its output; return the label."""
    a = fixture(fixture_name)
    name = getattr(fn, "__name__", "conv2d_forward")
    stride, pad = int(a["stride"]), int(a["pad"])
    x, w, b = a["x"], a["w"], a["b"]
    kind = ", float32" if x.dtype == np.float32 else ""
    label = f"x of shape {x.shape}, w of shape {w.shape}, stride={stride}, pad={pad}{kind}"
    if stride == 1 and pad == 0:  # the defaults
        label = f"x of shape {x.shape}, w of shape {w.shape} (the defaults stride=1, pad=0)"
        result = call(fn, x, w, b)
    else:
        result = call(fn, x, w, b, stride=stride, pad=pad)
    fresh = fixture(fixture_name)
    for argument in ("x", "w", "b"):
        check_unchanged(name, fresh[argument], a[argument], argument)
    expected = a["expected"]
    largest = float(np.abs(expected).max())
    rtol, atol = tolerances(x, w, b, scale=largest)
    check_array(f"{name} on {label}", output_only(name, result), expected, rtol=rtol, atol=atol,
                mistakes=stored_mistakes(a), hint=CONV2D_HINT)
    return label


def conv2d_forward(fn: Callable) -> None:
    """Check ``conv2d_forward(x, w, b)`` with the default stride 1 and no padding on a stored batch: 2 images of
    3 channels, 2 filters of 3 x 3."""
    label = _check(fn, "w03_conv_basic")
    passed(f"{getattr(fn, '__name__', 'conv2d_forward')}: the output matches on {label}")


def conv2d_forward_stride_pad(fn: Callable) -> None:
    """Check ``conv2d_forward(x, w, b, stride=2, pad=1)`` on a stored 7 x 6 batch, where the stride drops the
    last column."""
    label = _check(fn, "w03_conv_stride_pad")
    passed(f"{getattr(fn, '__name__', 'conv2d_forward')}: the output matches on {label}, the border the stride "
           "does not reach dropped")


def conv2d_forward_shapes(fn: Callable) -> None:
    """Check ``conv2d_forward`` on a stored float32 batch with a non-square image and a non-square kernel."""
    label = _check(fn, "w03_conv_shapes")
    passed(f"{getattr(fn, '__name__', 'conv2d_forward')}: the output matches on {label}")
