"""Numerical gradients by centered differences (trusted side: instructor code and tests only).

Writing a numerical gradient is a graded task of week 2 of the course, so this module is not part of
the student library ``dlfs`` (which is what students install); the instructor-side code and the tests
import it as ``autograder.gradcheck``. Hidden cases that need a numerical gradient of a student's
function send the perturbed calls to the kernel and form the differences on the trusted side.

The centered difference along the unit vector e_i,

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h),

has truncation error O(h^2) (it is exact for quadratics) and rounding error about
eps_mach * |f| / h, so with float64 and h = 1e-5 both are around 1e-10 for well-scaled functions.
With float32 inputs the rounding term is ~1e-2: check gradients in float64.

Each entry of ``x`` is perturbed *in place* (so ``f`` can close over ``x`` or over a layer's
parameters that are the same array) and then restored to the exact value it had, bit for bit,
even if ``f`` raises.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from dlfs.numerics import rel_error


def _check_float_array(x: object, h: float) -> None:
    """Refuse inputs that cannot be perturbed in place by a small float step ``h``.

    An integer array would silently round x + 1e-5 back to x, giving a gradient of exactly 0.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"x must be a NumPy array (it is perturbed in place), got {type(x).__name__}; "
            "use np.asarray(x, dtype=np.float64)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"x must be a floating-point array, got dtype {x.dtype}: a step of h would be rounded away; "
            "convert it first with x.astype(np.float64)"
        )
    if not h > 0:
        raise ValueError(f"the step h must be positive, got {h}")


def _scalar(value: object) -> float:
    """``f(x)`` as a Python float, insisting that it has exactly one element."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(
            f"f must return a scalar, got an array of shape {arr.shape}; "
            "for array-valued f use numerical_gradient_array(f, x, dout)"
        )
    return float(arr.reshape(()))


def numerical_gradient(f: Callable[[np.ndarray], ArrayLike], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by centered differences.

    .. math::

        g_i = \\frac{f(x + h e_i) - f(x - h e_i)}{2h}

    Parameters
    ----------
    f:
        Called as ``f(x)`` with the perturbed array (the same object each time); must return a
        scalar (a float or a one-element array).
    x:
        A floating-point NumPy array of any shape (0-d and non-contiguous views are fine).  It is
        modified during the call and restored exactly afterwards.
    h:
        The step, > 0.

    Returns
    -------
    np.ndarray
        float64 array of the shape of ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point NumPy array.
    ValueError
        If ``h <= 0`` or ``f`` does not return a scalar.
    """
    _check_float_array(x, h)
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]  # a NumPy scalar: a copy of the exact original value, not a view
        try:
            x[ix] = old + h
            f_plus = _scalar(f(x))
            x[ix] = old - h
            f_minus = _scalar(f(x))
        finally:
            x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], ArrayLike], x: np.ndarray, dout: ArrayLike, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x``, by centered differences.

    .. math::

        g_i = \\sum_j \\frac{f_j(x + h e_i) - f_j(x - h e_i)}{2h}\\, \\mathrm{dout}_j
            \\approx \\frac{\\partial}{\\partial x_i} \\sum_j f_j(x)\\, \\mathrm{dout}_j

    This is the vector-Jacobian product that a layer's ``backward(dout)`` must compute, so it is the
    usual way to check a backward pass given an upstream gradient ``dout``.  The output of ``f`` is
    copied before the next evaluation, so ``f`` may return a view of ``x`` (e.g. ``lambda x: x``).

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point NumPy array.
    ValueError
        If ``h <= 0`` or ``f(x)`` and ``dout`` have different shapes (no broadcasting).
    """
    _check_float_array(x, h)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        try:
            x[ix] = old + h
            f_plus = np.array(f(x), dtype=np.float64)  # a copy, never a view of x
            x[ix] = old - h
            f_minus = np.array(f(x), dtype=np.float64)
        finally:
            x[ix] = old
        if f_plus.shape != dout.shape:
            raise ValueError(f"f(x) has shape {f_plus.shape} but dout has shape {dout.shape}")
        grad[ix] = np.sum((f_plus - f_minus) * dout) / (2 * h)
        it.iternext()
    return grad


def gradient_check(
    f: Callable[[np.ndarray], ArrayLike], x: np.ndarray, analytic: ArrayLike, h: float = 1e-5
) -> float:
    """Relative error between an analytic gradient and the numerical gradient of scalar ``f`` at ``x``.

    .. math::

        \\max_i \\frac{|a_i - g_i|}{\\max(10^{-8}, |a_i| + |g_i|)}, \\qquad
        g = \\texttt{numerical\\_gradient}(f, x, h)

    Below about 1e-7 (float64, smooth ``f``) the analytic gradient is almost surely right.

    Raises
    ------
    ValueError
        If ``analytic`` does not have the shape of ``x``.
    """
    return rel_error(analytic, numerical_gradient(f, x, h))
