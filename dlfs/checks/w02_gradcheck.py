"""Week 2, numerical gradients (eval_numerical_gradient and its array version): the visible checks, and the
probes of the hidden cases, which build the test function from parameters the grader sends, call the
student's function on it, and return the gradient it computed and the array x as it was left afterwards.

The test functions, of u = x.ravel() (public family, random parameters):

    scalar:  f(x) = sum(sin(A u) * c) + u^T B u
    array:   f(x) = (sin(A u) * c + (Bm u)**2).reshape(out_shape)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes
from dlfs.grading import probe, record

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array"]

GRADIENT_HINT = ("for each entry i: save x[i], set x[i] = old + h and evaluate f, set x[i] = old - h and evaluate f, "
                 "put x[i] = old back, and store (f_plus - f_minus) / (2 * h).")


def scalar_function(A: np.ndarray, c: np.ndarray, B: np.ndarray) -> Callable[[np.ndarray], float]:
    """f(x) = sum(sin(A u) * c) + u^T B u with u = x.ravel()."""

    def f(x: np.ndarray) -> float:
        u = np.asarray(x, dtype=np.float64).ravel()
        return float(np.sum(np.sin(A @ u) * c) + u @ B @ u)

    return f


def array_function(A: np.ndarray, c: np.ndarray, Bm: np.ndarray, out_shape: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """f(x) = (sin(A u) * c + (Bm u)**2).reshape(out_shape) with u = x.ravel(); a new array every call."""

    def f(x: np.ndarray) -> np.ndarray:
        u = np.asarray(x, dtype=np.float64).ravel()
        return (np.sin(A @ u) * c + (Bm @ u) ** 2).reshape(out_shape)

    return f


# ---- probes -------------------------------------------------------------------------------------------


@probe("w02_numerical_gradient")
def _scalar_probe(fn: Callable, *, inputs: dict) -> dict:
    """Per problem: what ``fn(f, x)`` returned and x as the call left it."""
    answers = []
    for p in inputs["problems"]:
        x = np.array(p["x"], dtype=np.float64)
        grad = record(fn, scalar_function(p["A"], p["c"], p["B"]), x)
        answers.append({"grad": grad, "x_after": np.array(x, copy=True)})
    return {"problems": answers}


@probe("w02_numerical_gradient_array")
def _array_probe(fn: Callable, *, inputs: dict) -> dict:
    """Per problem: what ``fn(f, x, df)`` returned, and x and df as the call left them."""
    answers = []
    for p in inputs["problems"]:
        x = np.array(p["x"], dtype=np.float64)
        df = np.array(p["df"], dtype=np.float64)
        f = array_function(p["A"], p["c"], p["Bm"], tuple(int(n) for n in p["out_shape"]))
        grad = record(fn, f, x, df)
        answers.append({"grad": grad, "x_after": np.array(x, copy=True), "df_after": np.array(df, copy=True)})
    return {"problems": answers}


# ---- visible checks -----------------------------------------------------------------------------------


def restored(x_before: np.ndarray, x_after: np.ndarray) -> bool:
    """x is back to its values (round-off of old + h - h allowed, a step of h left behind is not)."""
    return x_before.shape == x_after.shape and bool(
        np.all(np.abs(x_after - x_before) <= 1e-12 * np.maximum(np.abs(x_before), 1.0)))


NOT_RESTORED = ("x is not the same after the call: put each entry back to its saved value (x[i] = old) after "
                "evaluating f at old + h and old - h, or every later entry is measured at a shifted point.")


def _after(name: str, x_before: np.ndarray, x: np.ndarray) -> None:
    if not restored(x_before, x):
        raise CheckFailed(f"{name}: {NOT_RESTORED}")


def eval_numerical_gradient(fn: Callable) -> None:
    """Check ``eval_numerical_gradient(f, x)`` on a stored f and x of shape (3, 4)."""
    a = fixture("w02_gradcheck_scalar")
    name = getattr(fn, "__name__", "your function")
    x = a["x"].copy()
    grad = call(fn, scalar_function(a["A"], a["c"], a["B"]), x)
    _after(name, a["x"], x)
    error = check_array(name, grad, a["expected"], rtol=5e-8, atol=2e-9, mistakes=stored_mistakes(a), hint=GRADIENT_HINT)
    passed(f"{name}: the gradient matches the analytic one (max relative error {error:.1e}) and x is restored")


def eval_numerical_gradient_array(fn: Callable) -> None:
    """Check ``eval_numerical_gradient_array(f, x, df)`` on a stored f, x of shape (2, 3) and df of shape (2, 2)."""
    a = fixture("w02_gradcheck_array")
    name = getattr(fn, "__name__", "your function")
    x, df = a["x"].copy(), a["df"].copy()
    grad = call(fn, array_function(a["A"], a["c"], a["Bm"], tuple(a["out_shape"])), x, df)
    _after(name, a["x"], x)
    if not np.array_equal(df, a["df"]):
        raise CheckFailed(f"{name} changed its input `df` in place; only read it.")
    error = check_array(name, grad, a["expected"], rtol=5e-8, atol=2e-9, mistakes=stored_mistakes(a),
                        hint="the gradient of sum(f(x) * df): " + GRADIENT_HINT.replace("f_plus - f_minus",
                                                                                        "np.sum((f_plus - f_minus) * df)"))
    passed(f"{name}: the gradient of sum(f(x) * df) matches the analytic one (max relative error {error:.1e}) "
           "and x is restored")
