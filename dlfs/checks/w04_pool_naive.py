"""Week 4, naive max pooling (max_pool_forward_naive, max_pool_backward_naive): the visible checks, and the probe
of the hidden backward cases (the student's forward makes the cache, then the student's backward runs).

Contract: ``max_pool_forward_naive(x, pool=2, stride=None) -> (out, cache)`` with ``x: (N, C, H, W)``, stride
defaulting to ``pool``, no padding, ``out: (N, C, OH, OW)``, ``OH = (H - pool) // stride + 1``;
``max_pool_backward_naive(dout, cache) -> dx``: each window's gradient goes to its maximum, the FIRST one in
row-major order within the window on a tie, and overlapping windows add.
"""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import passed
from dlfs.checks.w04_conv_naive import check_backward, check_forward, forward_then_backward, name_of
from dlfs.grading import probe

__all__ = ["max_pool_forward_naive", "max_pool_backward_naive", "max_pool_backward_naive_overlap",
           "max_pool_backward_naive_ties"]

MAX_POOL_FORWARD_HINT = ("out[n, c, i, j] = max over 0 <= u, v < pool of x[n, c, S*i + u, S*j + v], with S = stride "
                         "(pool when stride is None) and OH = (H - pool) // S + 1; loop over n, c, i, j and take the "
                         "max of the window x[n, c, S*i:S*i + pool, S*j:S*j + pool].")
MAX_POOL_BACKWARD_HINT = ("for every output (n, c, i, j), find the window's maximum with k = np.argmax(window) (the "
                          "first one on a tie), u, v = divmod(k, pool), and add dout[n, c, i, j] to "
                          "dx[n, c, S*i + u, S*j + v]; every other entry gets nothing, and `+=` adds up the "
                          "gradients of overlapping windows.")


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_max_pool_backward_naive...", max_pool_backward_naive, max_pool_forward_naive)``: each dx."""
    return {"problems": [forward_then_backward(backward, forward, p) for p in inputs["problems"]]}


for _case in ("w04_max_pool_backward_naive", "w04_max_pool_backward_naive_overlap", "w04_max_pool_backward_naive_ties"):
    probe(_case)(_backward_probe)


SETTINGS = ("pool", "stride")


def max_pool_forward_naive(fn: Callable) -> None:
    """Check ``max_pool_forward_naive(x)`` (2 x 2 windows, stride 2) on a stored batch of mostly negative values,
    5 x 7, so that the last row and column fill no window."""
    label = check_forward(fn, "w04_pool_naive_forward", ("x",), SETTINGS, MAX_POOL_FORWARD_HINT)
    passed(f"{name_of(fn)}: out matches on {label}")


def max_pool_backward_naive(backward: Callable, forward: Callable) -> None:
    """Check ``max_pool_backward_naive(dout, cache)``, the cache made by ``forward``, with 2 x 2 windows side by
    side on a stored 6 x 7 batch (the last column is in no window: its gradient is 0)."""
    label = check_backward(backward, forward, "w04_pool_naive_backward", ("x",), SETTINGS, ("dx",),
                           MAX_POOL_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx matches on {label}")


def max_pool_backward_naive_overlap(backward: Callable, forward: Callable) -> None:
    """Check ``max_pool_backward_naive`` with overlapping windows (pool=3, stride=2), where an entry can win two
    windows and receives the sum of their gradients."""
    label = check_backward(backward, forward, "w04_pool_naive_backward_overlap", ("x",), SETTINGS, ("dx",),
                           MAX_POOL_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx matches on {label}, overlapping windows added")


def max_pool_backward_naive_ties(backward: Callable, forward: Callable) -> None:
    """Check ``max_pool_backward_naive`` on stored integer values with many ties (pool=2, stride=1): the whole
    gradient of a window goes to its first maximum in row-major order."""
    label = check_backward(backward, forward, "w04_pool_naive_backward_ties", ("x",), SETTINGS, ("dx",),
                           MAX_POOL_BACKWARD_HINT)
    passed(f"{name_of(backward)}: dx matches on {label}, ties to the first maximum")
