"""Week 3, pooling (max_pool_forward, avg_pool_forward): the visible checks. Their hidden cases need only calls
(the default probe).

Contract: ``max_pool_forward(x, pool=2, stride=None) -> out`` and ``avg_pool_forward(...)`` likewise, with
``x: (N, C, H, W)``, stride defaulting to ``pool``, no padding, ``out: (N, C, OH, OW)``,
``OH = (H - pool) // stride + 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import call, check_array, check_unchanged, fixture, passed, stored_mistakes
from dlfs.checks.w03_conv import output_only, tolerances

__all__ = ["max_pool_forward", "max_pool_forward_strides", "avg_pool_forward", "avg_pool_forward_strides"]

MAX_POOL_HINT = ("out[n, c, i, j] = max over 0 <= u, v < pool of x[n, c, S*i + u, S*j + v], with S = stride (pool when "
                 "stride is None) and OH = (H - pool) // S + 1; the slice x[:, :, u:u + S*OH:S, v:v + S*OW:S] holds "
                 "entry (u, v) of every window.")
AVG_POOL_HINT = ("out[n, c, i, j] = (1 / pool**2) * sum over 0 <= u, v < pool of x[n, c, S*i + u, S*j + v], with "
                 "S = stride (pool when stride is None) and OH = (H - pool) // S + 1.")


def _check(fn: Callable, fixture_name: str, hint: str) -> str:
    """Run ``fn`` on a stored batch, check it left x alone and compare its output; return the label."""
    a = fixture(fixture_name)
    name = getattr(fn, "__name__", "your function")
    x, pool, stride = a["x"], int(a["pool"]), int(a["stride"])
    if a["default"]:
        label = f"x of shape {x.shape} with the defaults (pool=2, stride=None)"
        result = call(fn, x)
    else:
        label = f"x of shape {x.shape}, pool={pool}, stride={stride}"
        result = call(fn, x, pool=pool, stride=stride)
    check_unchanged(name, fixture(fixture_name)["x"], x, "x")
    expected = a["expected"]
    rtol, atol = tolerances(x, scale=float(np.abs(expected).max()))
    check_array(f"{name} on {label}", output_only(name, result), expected, rtol=rtol, atol=atol,
                mistakes=stored_mistakes(a), hint=hint)
    return label


def max_pool_forward(fn: Callable) -> None:
    """Check ``max_pool_forward(x)`` (2 x 2 windows, stride 2) on a stored batch of mostly negative values, 5 x 7,
    so that the last row and column fill no window."""
    label = _check(fn, "w03_pool_max", MAX_POOL_HINT)
    passed(f"{getattr(fn, '__name__', 'max_pool_forward')}: the output matches on {label}")


def max_pool_forward_strides(fn: Callable) -> None:
    """Check ``max_pool_forward(x, pool=3, stride=2)`` (overlapping windows) on a stored batch."""
    label = _check(fn, "w03_pool_max_strides", MAX_POOL_HINT)
    passed(f"{getattr(fn, '__name__', 'max_pool_forward')}: the output matches on {label} (overlapping windows)")


def avg_pool_forward(fn: Callable) -> None:
    """Check ``avg_pool_forward(x)`` (2 x 2 windows, stride 2) on a stored 5 x 7 batch."""
    label = _check(fn, "w03_pool_avg", AVG_POOL_HINT)
    passed(f"{getattr(fn, '__name__', 'avg_pool_forward')}: the output matches on {label}")


def avg_pool_forward_strides(fn: Callable) -> None:
    """Check ``avg_pool_forward(x, pool=3, stride=2)`` (overlapping windows) on a stored batch."""
    label = _check(fn, "w03_pool_avg_strides", AVG_POOL_HINT)
    passed(f"{getattr(fn, '__name__', 'avg_pool_forward')}: the output matches on {label} (overlapping windows)")
