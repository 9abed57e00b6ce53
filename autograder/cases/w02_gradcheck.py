"""Week 2, numerical gradients (eval_numerical_gradient, eval_numerical_gradient_array): references, known
mistakes, hidden cases, fixtures.

The grader draws the parameters of a public family of test functions (see ``dlfs/checks/w02_gradcheck.py``);
the kernel's probe builds f from them and returns what the student's function computed and x as it was left.
Here the result is compared with the ANALYTIC gradient of f, with u = x.ravel():

    scalar:  f = sum(sin(A u) * c) + u^T B u             grad_u = A^T (cos(A u) * c) + (B + B^T) u
    array:   g = sin(A u) * c + (Bm u)^2, f = sum(g * df)  grad_u = A^T (cos(A u) * c * df) + 2 Bm^T ((Bm u) * df)

Centred differences with h = 1e-5 agree with it to ~1e-10 here (truncation h^2 f'''/6, rounding
eps |f| / h): over 1,200 draws they stay within 0.1 of the tolerance (RTOL, ATOL). Forward differences are
off by h f''/2, ~1e-5, 30 tolerances at least: f'' is bounded away from 0 on every entry (B and Bm have a
dominant diagonal, df is positive). tests/test_w02_gradcheck.py measures both margins.
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_gradcheck import GRADIENT_HINT, NOT_RESTORED, array_function, restored, scalar_function

H = 1e-5
#: Centred differences are within ~1e-9 of the analytic gradient; forward differences ~1e-5 off.
RTOL, ATOL = 5e-8, 2e-9

GRADIENT_MISTAKES = {
    "forward_difference": "your gradient matches the FORWARD difference (f(x + h) - f(x)) / h, whose error is O(h) "
                          "(~1e-5 here): use the centred difference (f(x + h) - f(x - h)) / (2h), accurate to O(h^2).",
    "backward_difference": "your gradient matches the one-sided difference (f(x) - f(x - h)) / h, whose error is O(h): "
                           "use the centred difference (f(x + h) - f(x - h)) / (2h).",
    "divides_by_h": "your gradient is twice the right one: the two points x + h and x - h are 2h apart, so divide "
                    "f(x + h) - f(x - h) by 2h, not by h.",
    "ignores_df": "your gradient is that of sum(f(x)), as if df were all ones: weight the change of every output "
                  "by df, np.sum((f_plus - f_minus) * df) / (2h).",
}


# ---- references --------------------------------------------------------------------------------------


def scalar_gradient(x: np.ndarray, A: np.ndarray, c: np.ndarray, B: np.ndarray) -> np.ndarray:
    """grad of sum(sin(A u) c) + u^T B u at u = x.ravel(), in x's shape."""
    u = x.ravel()
    return (A.T @ (np.cos(A @ u) * c) + (B + B.T) @ u).reshape(x.shape)


def array_gradient(x: np.ndarray, A: np.ndarray, c: np.ndarray, Bm: np.ndarray, df: np.ndarray) -> np.ndarray:
    """grad of sum((sin(A u) c + (Bm u)^2) * df) at u = x.ravel(), in x's shape."""
    u, w = x.ravel(), df.ravel()
    return (A.T @ (np.cos(A @ u) * c * w) + 2.0 * Bm.T @ ((Bm @ u) * w)).reshape(x.shape)


def one_sided(f, x: np.ndarray, h: float, sign: float) -> np.ndarray:
    """(f(x + h e_i) - f(x)) / h for sign = +1, (f(x) - f(x - h e_i)) / h for sign = -1; f returns arrays
    (a scalar f is handled as a 0-d array) and the result is summed over f's entries."""
    x = x.astype(np.float64)
    base = np.asarray(f(x), dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + sign * h
        moved = np.asarray(f(x), dtype=np.float64)
        x[i] = old
        grad[i] = sign * np.sum(moved - base) / h
    return grad


def scalar_mistakes(x, A, c, B) -> dict[str, np.ndarray]:
    f = scalar_function(A, c, B)
    return {"forward_difference": one_sided(f, x, H, 1.0), "backward_difference": one_sided(f, x, H, -1.0),
            "divides_by_h": 2.0 * scalar_gradient(x, A, c, B)}


def array_mistakes(x, A, c, Bm, out_shape, df) -> dict[str, np.ndarray]:
    f = array_function(A, c, Bm, tuple(out_shape))
    weighted = lambda v: f(v) * df  # noqa: E731
    return {"forward_difference": one_sided(weighted, x, H, 1.0), "backward_difference": one_sided(weighted, x, H, -1.0),
            "divides_by_h": 2.0 * array_gradient(x, A, c, Bm, df),
            "ignores_df": array_gradient(x, A, c, Bm, np.ones_like(df))}


# ---- problems -----------------------------------------------------------------------------------------


def scalar_problem(rng: np.random.Generator, shape: tuple) -> dict[str, np.ndarray]:
    """x of ``shape``; A (m, D) of scale 0.5, c in [-1, 1], B = I + a small symmetric-ish part, so f'' >= ~1."""
    D = int(np.prod(shape))
    m = max(2, D // 2)
    return {"x": rng.normal(size=shape), "A": 0.5 * rng.normal(size=(m, D)), "c": rng.uniform(-1, 1, size=m),
            "B": np.eye(D) + 0.2 * rng.normal(size=(D, D)) / np.sqrt(D)}


def array_problem(rng: np.random.Generator, shape: tuple, out_shape: tuple) -> dict[str, np.ndarray]:
    """x of ``shape``, f(x) of ``out_shape``; Bm has a strong diagonal-like part so that every entry's second
    derivative of sum(f * df) is far from 0 (df positive)."""
    D, K = int(np.prod(shape)), int(np.prod(out_shape))
    Bm = 0.3 * rng.normal(size=(K, D))
    Bm[np.arange(max(K, D)) % K, np.arange(max(K, D)) % D] += 1.0
    df = rng.uniform(0.5, 2.0, size=out_shape)  # positive: the curvature of sum(f * df) cannot cancel
    return {"x": rng.normal(size=shape), "A": 0.5 * rng.normal(size=(K, D)), "c": rng.uniform(-1, 1, size=K),
            "Bm": Bm, "out_shape": np.array(out_shape, dtype=np.int64), "df": df}


# ---- hidden cases ------------------------------------------------------------------------------------------


def _judge(problems: list[dict], expected_of, mistakes_of, summary: str, array: bool):
    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems) and all(isinstance(e, dict) for e in entries)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for entry, p in zip(entries, problems):
            label = f"x of shape {p['x'].shape}" + (f", f(x) of shape {tuple(p['out_shape'])}" if array else "")
            grad = answers.value(entry.get("grad"), label)
            if not restored(p["x"], np.asarray(entry.get("x_after"), dtype=np.float64)):
                raise CheckFailed(f"{context.name} on {label}: {NOT_RESTORED}")
            if array and not np.array_equal(p["df"], entry.get("df_after")):
                raise CheckFailed(f"{context.name} on {label} changed its input `df` in place; only read it.")
            check_array(f"{context.name} on {label}", grad, expected_of(p), rtol=RTOL, atol=ATOL,
                        mistakes=mistakes_on(mistakes_of(p), GRADIENT_MISTAKES), hint=GRADIENT_HINT)
        return summary

    return judge


@case("w02_numerical_gradient")
def numerical_gradient_case(rng: np.random.Generator):
    """x of shape (6,), (3, 4), (2, 3, 2) and a single entry (1,): the gradient of a random smooth f agrees
    with the analytic one to centred-difference accuracy, and x is restored."""
    problems = [scalar_problem(rng, s) for s in [(6,), (3, 4), (2, 3, 2), (1,)]]
    judge = _judge(problems, lambda p: scalar_gradient(p["x"], p["A"], p["c"], p["B"]),
                   lambda p: scalar_mistakes(p["x"], p["A"], p["c"], p["B"]),
                   "centred differences on 1-D, 2-D, 3-D and single-entry x, with x restored", array=False)
    return {"problems": problems}, judge


@case("w02_numerical_gradient_array")
def numerical_gradient_array_case(rng: np.random.Generator):
    """x of shape (4,), (2, 3), (2, 2, 2) and (1,), f(x) of shape (3,), (2, 2), (5,), (2, 1): the gradient of
    sum(f(x) * df) agrees with the analytic one, df is used and left alone, and x is restored."""
    shapes = [((4,), (3,)), ((2, 3), (2, 2)), ((2, 2, 2), (5,)), ((1,), (2, 1))]
    problems = [array_problem(rng, s, o) for s, o in shapes]
    judge = _judge(problems, lambda p: array_gradient(p["x"], p["A"], p["c"], p["Bm"], p["df"]),
                   lambda p: array_mistakes(p["x"], p["A"], p["c"], p["Bm"], p["out_shape"], p["df"]),
                   "centred differences of sum(f(x) * df) on 1-D to 3-D and single-entry x, with x restored", array=True)
    return {"problems": problems}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2002)
    s = scalar_problem(rng, (3, 4))
    a = array_problem(rng, (2, 3), (2, 2))
    return {
        "w02_gradcheck_scalar": s | {"expected": scalar_gradient(s["x"], s["A"], s["c"], s["B"])}
        | stored(scalar_mistakes(s["x"], s["A"], s["c"], s["B"]), GRADIENT_MISTAKES),
        "w02_gradcheck_array": a | {"expected": array_gradient(a["x"], a["A"], a["c"], a["Bm"], a["df"])}
        | stored(array_mistakes(a["x"], a["A"], a["c"], a["Bm"], a["out_shape"], a["df"]), GRADIENT_MISTAKES),
    }
