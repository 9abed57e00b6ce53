"""Numerical comparison helpers used by the visible checks of the course.

The one measure used everywhere in the course is the *relative error* of CS231n,

    rel(x, y)_i = |x_i - y_i| / max(eps, |x_i| + |y_i|),

and a comparison reports its maximum over all entries.  It is symmetric, lies in [0, 1] for finite
inputs, and is scale free: an analytic gradient that agrees with a numerical one to about 1e-7 or
better is usually right, around 1e-2 is usually wrong.  The ``eps`` floor keeps the measure finite
where both values are (near) zero, so two tiny values count as equal rather than as 100 % apart.

Non-finite inputs (NaN, or infinities) give NaN, never a silent 0, so a check written as
``rel_error(a, b) < tol`` fails on them, as it should.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["rel_error", "max_rel_error_location"]


def _same_shape_float(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``x`` and ``y`` to float64 arrays, refusing to broadcast.

    Broadcasting a (3,) gradient against a (3, 1) one would compare 9 pairs that have nothing to do
    with each other, so unequal shapes are an error here, reported with both shapes.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, x has shape {a.shape} and y has shape {b.shape}")
    return a, b


def _elementwise_rel_error(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Elementwise relative error |a - b| / max(eps, |a| + |b|) of two same-shape float arrays.

    inf - inf and inf / inf give NaN; the floating-point warnings for those are silenced because
    the NaN itself is the report.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))


def rel_error(x: ArrayLike, y: ArrayLike, eps: float = 1e-8) -> float:
    """Maximum elementwise relative error between ``x`` and ``y``.

    .. math::

        \\mathrm{rel\\_error}(x, y) = \\max_i \\frac{|x_i - y_i|}{\\max(\\varepsilon, |x_i| + |y_i|)}

    Parameters
    ----------
    x, y:
        Scalars or arrays of the same shape (no broadcasting).
    eps:
        Floor of the denominator, so that entries where both values are ~0 do not blow up.

    Returns
    -------
    float
        A number in [0, 1] for finite inputs; 0.0 for two empty arrays; NaN if any entry is NaN
        or infinite.

    Raises
    ------
    ValueError
        If the shapes differ (the message gives both).
    """
    a, b = _same_shape_float(x, y)
    if a.size == 0:
        return 0.0
    return float(np.max(_elementwise_rel_error(a, b, eps)))


def max_rel_error_location(
    x: ArrayLike, y: ArrayLike, eps: float = 1e-8
) -> tuple[float, tuple[int, ...]]:
    """The maximum relative error and the index at which it occurs.

    .. math::

        i^* = \\arg\\max_i \\frac{|x_i - y_i|}{\\max(\\varepsilon, |x_i| + |y_i|)}, \\qquad
        \\text{returns } (\\mathrm{rel}_{i^*},\\ \\mathrm{unravel}(i^*))

    The index is a tuple of Python ints (``()`` for scalars), ready for a message such as
    ``f"max relative error {err:.1e} at {list(idx)}"`` -> "max relative error 3.0e-02 at [4, 1]".
    If some entries are NaN (or infinite) the first of them is reported, with the value NaN.

    Raises
    ------
    ValueError
        If the shapes differ, or the arrays are empty (there is no location to report).
    """
    a, b = _same_shape_float(x, y)
    if a.size == 0:
        raise ValueError("max_rel_error_location: the arrays are empty, there is no location to report")
    err = _elementwise_rel_error(a, b, eps)
    flat = int(np.argmax(err))  # argmax returns the first NaN, if there is one
    index = tuple(int(i) for i in np.unravel_index(flat, err.shape))
    return float(err.flat[flat]), index
