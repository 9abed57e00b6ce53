"""Week 2, the layers (affine, ReLU, sigmoid, tanh forward and backward): references, known mistakes,
hidden cases, fixtures.

Every backward is compared with the reference backward on the inputs the case sent, and the reference
equals centred finite differences of the forward (``tests/test_w02_layers.py`` proves it against
``autograder.gradcheck`` and against ``jax.vjp``), so a backward that passes is a correct gradient of the
layer. The backward cases run the student's own forward first (the cache is theirs), through the probe
in ``dlfs/checks/w02_layers.py``.
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_layers import (
    AFFINE_BACKWARD_HINT,
    AFFINE_HINT,
    RELU_HINT,
    SIGMOID_BACKWARD_HINT,
    SIGMOID_HINT,
    TANH_BACKWARD_HINT,
)
from dlfs.grading import Call, Raised

AFFINE_FORWARD_MISTAKES = {
    "no_bias": "your out is x_flat @ w without the bias: add b (it broadcasts over the rows).",
}
AFFINE_BACKWARD_MISTAKES = {
    "dx_flat": "your dx has the flattened shape (N, D): reshape it to x's original shape, dx.reshape(x.shape).",
    "db_mean": "your db is the mean of dout over the batch: the bias is added to every row, so db is the SUM, "
               "dout.sum(axis=0).",
    "dw_transposed": "your dw is transposed (dout.T @ x): dw must have w's shape (D, M), dw = x_flat.T @ dout.",
    "dx_no_transpose": "your dx uses w instead of w.T: dx = dout @ w.T (shape (N, M) times (M, D)).",
}
RELU_FORWARD_MISTAKES = {
    "negative_part": "your out keeps the negative part: ReLU is max(x, 0), which keeps the positive entries.",
}
RELU_BACKWARD_MISTAKES = {
    "no_mask": "your dx is dout everywhere: the gradient must be 0 where x <= 0 (mask with x > 0).",
    "ge_zero": "your dx passes the gradient where x is exactly 0: the course's rule is relu'(0) = 0, so mask with "
               "x > 0, not x >= 0.",
    "mask_only": "your dx is the mask (x > 0) without dout: multiply by the upstream gradient, dx = dout * (x > 0).",
    "dout_mask": "your dx masks by the sign of dout: the mask comes from the forward's input, dx = dout * (x > 0).",
}
SIGMOID_FORWARD_MISTAKES = {
    "sign": "your out is sigmoid(-x), 1 / (1 + exp(x)): the exponent is -x.",
}
SIGMOID_BACKWARD_MISTAKES = {
    "uses_x": "your dx is dout * x * (1 - x): the local derivative is out * (1 - out), with out = sigmoid(x) "
              "from the forward (keep it in the cache), not x.",
    "no_dout": "your dx is out * (1 - out) without dout: multiply by the upstream gradient.",
}
TANH_BACKWARD_MISTAKES = {
    "uses_x": "your dx is dout * (1 - x**2): the local derivative is 1 - out**2, with out = tanh(x) from the "
              "forward (keep it in the cache), not x.",
    "no_square": "your dx is dout * (1 - out): tanh' is 1 - out**2, square the output.",
    "no_dout": "your dx is 1 - out**2 without dout: multiply by the upstream gradient.",
}


# ---- references --------------------------------------------------------------------------------------


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = x_flat w + b, with x (N, d_1, ..., d_k) flattened to x_flat (N, D), D = d_1 ... d_k; w (D, M),
    b (M,); out (N, M). Cache: (x, w, b)."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx = (dout w^T) reshaped to x's shape, dw = x_flat^T dout, db = sum_n dout_n."""
    x, w, _ = cache
    dout = np.asarray(dout, dtype=np.float64)
    flat = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), flat.T @ dout, dout.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """out = max(x, 0) elementwise. Cache: x."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0), x


def relu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx = dout where x > 0, and 0 where x <= 0 (the course's rule at exactly 0: relu'(0) = 0)."""
    return np.where(x > 0, np.asarray(dout, dtype=np.float64), 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), stable: e^-|x| never overflows; for x < 0, sigma(x) = e^x / (1 + e^x)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """out = sigma(x). Cache: out."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """dx = dout sigma(x) (1 - sigma(x)) = dout out (1 - out)."""
    return np.asarray(dout, dtype=np.float64) * out * (1.0 - out)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """out = tanh(x). Cache: out."""
    out = np.tanh(np.asarray(x, dtype=np.float64))
    return out, out


def tanh_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """dx = dout (1 - tanh(x)^2) = dout (1 - out^2)."""
    return np.asarray(dout, dtype=np.float64) * (1.0 - out**2)


# ---- what the known mistakes output --------------------------------------------------------------------


def affine_forward_mistakes(x, w, b) -> dict[str, np.ndarray]:
    return {"no_bias": affine_forward(x, w, np.zeros_like(b))[0]}


def affine_backward_mistakes(x, w, b, dout) -> dict[str, dict[str, np.ndarray]]:
    """Per gradient (dx, dw, db), the outputs of the known mistakes."""
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    dx_no_t = {} if w.shape[0] != w.shape[1] else {"dx_no_transpose": (dout @ w).reshape(x.shape)}
    return {"dx": {"dx_flat": dx.reshape(x.shape[0], -1), **dx_no_t}, "dw": {"dw_transposed": dw.T},
            "db": {"db_mean": db / x.shape[0]}}


def relu_forward_mistakes(x) -> dict[str, np.ndarray]:
    return {"negative_part": np.minimum(x, 0.0)}


def relu_backward_mistakes(x, dout) -> dict[str, np.ndarray]:
    return {"no_mask": dout.astype(np.float64), "ge_zero": dout * (x >= 0), "mask_only": (x > 0).astype(np.float64),
            "dout_mask": dout * (dout > 0)}


def sigmoid_forward_mistakes(x) -> dict[str, np.ndarray]:
    return {"sign": sigmoid(-np.asarray(x, dtype=np.float64))}


def sigmoid_backward_mistakes(x, dout) -> dict[str, np.ndarray]:
    out = sigmoid(x)
    return {"uses_x": dout * x * (1.0 - x), "no_dout": out * (1.0 - out)}


def tanh_backward_mistakes(x, dout) -> dict[str, np.ndarray]:
    out = np.tanh(x)
    return {"uses_x": dout * (1.0 - x**2), "no_square": dout * (1.0 - out), "no_dout": 1.0 - out**2}


# ---- hidden cases: forwards (the default probe) -------------------------------------------------------


def _tolerances(x: np.ndarray, atol64: float) -> tuple[float, float]:
    """float32 inputs are compared with float32 tolerances, float64 ones tightly."""
    return (1e-5, 1e-5) if x.dtype == np.float32 else (1e-7, atol64)


def _label(args: tuple) -> str:
    x = args[0]
    dtype = ", float32" if x.dtype == np.float32 else ""
    if len(args) == 3:
        return f"x of shape {x.shape}, w of shape {args[1].shape}{dtype}"
    return f"x of shape {x.shape}{dtype}"


def _forward_case(problems: list[tuple], reference, mistakes, messages, hint, atol, arguments, summary,
                  finite_hint: str = ""):
    """Each problem's out against the reference; the cache is not looked at."""

    def judge(answers: Answers, context: Context) -> str:
        for i, args in enumerate(problems):
            label = _label(args)
            result = answers.parts(answers.result(i, label, arguments), "out", "cache")
            out = answers.value(result[0], label)
            rtol, tol = _tolerances(args[0], atol)
            check_array(f"{context.name} on {label}: out", out, reference(*args)[0], rtol=rtol, atol=tol,
                        mistakes=mistakes_on(mistakes(*args), messages), hint=finite_hint or hint)
        return summary

    return {"calls": [Call(args) for args in problems]}, judge


def _affine_problem(rng, x_shape, M, dtype=np.float64):
    D = int(np.prod(x_shape[1:]))
    return tuple(a.astype(dtype) for a in (rng.normal(size=x_shape), rng.normal(size=(D, M)) / np.sqrt(D),
                                           rng.normal(size=M)))


AFFINE_SHAPES = [((1, 5), 3), ((4, 2, 3, 4), 5), ((10, 6), 1), ((7, 3), 3), ((2, 3, 1, 2, 2), 4)]


@case("w02_affine_forward")
def affine_forward_case(rng: np.random.Generator):
    """out against the reference for N = 1, x of shape (N, 2, 3, 4) and (N, 3, 1, 2, 2), M = 1, and
    float32 inputs (float32 tolerances)."""
    problems = [_affine_problem(rng, s, M) for s, M in AFFINE_SHAPES] + [_affine_problem(rng, (8, 3, 2), 4, np.float32)]
    return _forward_case(problems, affine_forward, affine_forward_mistakes, AFFINE_FORWARD_MISTAKES, AFFINE_HINT,
                         1e-12, ("x", "w", "b"), f"{len(problems)} shapes (N = 1, x of 2 to 5 dimensions, float32) "
                         "agree with the reference")


def _elementwise_inputs(rng, scale: float = 2.0, zeros: bool = False) -> list[np.ndarray]:
    shapes = [(1, 7), (4, 5), (2, 3, 4), (6,)]
    xs = [scale * rng.normal(size=s) for s in shapes]
    if zeros:
        for x in xs:
            x.flat[:: 3] = 0.0  # exact zeros, where relu'(0) = 0 decides
    return xs + [(scale * rng.normal(size=(5, 3))).astype(np.float32)]


@case("w02_relu_forward")
def relu_forward_case(rng: np.random.Generator):
    """out against the reference on 1-D to 3-D x with exact zeros, N = 1, float32."""
    problems = [(x,) for x in _elementwise_inputs(rng, zeros=True)]
    return _forward_case(problems, relu_forward, relu_forward_mistakes, RELU_FORWARD_MISTAKES, RELU_HINT, 0.0,
                         ("x",), "out = max(x, 0) on 5 shapes, float32 included")


@case("w02_sigmoid_forward")
def sigmoid_forward_case(rng: np.random.Generator):
    """out against the reference on 1-D to 3-D x, N = 1, float32."""
    problems = [(x,) for x in _elementwise_inputs(rng, scale=3.0)]
    return _forward_case(problems, sigmoid_forward, sigmoid_forward_mistakes, SIGMOID_FORWARD_MISTAKES, SIGMOID_HINT,
                         1e-14, ("x",), "sigmoid agrees with the reference on 5 shapes, float32 included")


@case("w02_sigmoid_stable")
def sigmoid_stable_case(rng: np.random.Generator):
    """x from -1000 to +1000 (exp(1000) overflows): no NaN, and the right tiny values, also in float32."""
    big = np.array([-1000.0, -745.0, -700.0, -40.0, -1.0, 0.0, 1.0, 40.0, 700.0, 745.0, 1000.0])
    mixed = rng.normal(size=(4, 6)) * 500.0
    problems = [(big,), (mixed,), ((rng.normal(size=(3, 4)) * 300).astype(np.float32),)]
    return _forward_case(problems, sigmoid_forward, sigmoid_forward_mistakes, SIGMOID_FORWARD_MISTAKES, SIGMOID_HINT,
                         1e-14, ("x",), "no overflow: sigmoid is right for x from -1000 to +1000, float32 included",
                         finite_hint=SIGMOID_HINT)


@case("w02_tanh_forward")
def tanh_forward_case(rng: np.random.Generator):
    """out against the reference on 1-D to 3-D x, N = 1, float32, and x up to +-1000."""
    problems = [(x,) for x in _elementwise_inputs(rng)] + [(np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0]),)]
    return _forward_case(problems, tanh_forward, lambda x: {}, {}, "out = np.tanh(x).", 1e-14, ("x",),
                         "tanh agrees with the reference on 6 inputs, float32 and +-1000 included")


# ---- hidden cases: backwards (the probe runs the student's forward, then the backward) ----------------


def _backward_case(problems: list[dict], backward_of, mistakes_of, messages, grads: tuple[str, ...], hint: str,
                   forward_name: str, arguments: tuple[str, ...], summary: str):
    """Each problem's gradients against the reference backward (= centred differences of the forward)."""

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems) and all(isinstance(e, dict) for e in entries)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for problem, sent in zip(entries, problems):
            args, dout = sent["args"], sent["dout"]
            label = _label(tuple(args))
            if "forward" in problem:
                failure = problem["forward"]
                if isinstance(failure, Raised) and failure.type == "NotImplementedError":
                    raise CheckFailed(f"{context.name} is checked on the cache of your {forward_name}, which is not "
                                      "implemented yet: write the forward first.")
                what = f"raised {failure.type}: {failure.message}" if isinstance(failure, Raised) else \
                    f"returned {getattr(failure, 'type', failure)}"
                raise CheckFailed(f"{context.name} is checked on the cache of your {forward_name}, which {what} "
                                  f"(on {label}); fix the forward first.")
            for position in problem.get("changed", []):
                names = (*arguments, "dout")
                where = names[position] if position < len(names) else f"argument {position + 1}"
                who = context.name if where == "dout" else f"{forward_name} or {context.name}"
                raise CheckFailed(f"{who} changed `{where}` in place (on {label}); work on a copy or on new arrays, "
                                  "e.g. dx = dout * mask instead of dout[mask] = 0.")
            result = answers.value(problem.get("grads"), label)
            got = answers.parts(result, *grads) if len(grads) > 1 else (result,)
            expected = backward_of(*args, dout)
            wrong = mistakes_of(*args, dout)
            rtol, atol = (1e-4, 1e-5) if args[0].dtype == np.float32 else (1e-6, 1e-10)
            for part, value, want in zip(grads, got, expected):
                named = wrong.get(part, {}) if len(grads) > 1 else wrong
                check_array(f"{context.name} on {label}: {part}", value, want, rtol=rtol, atol=atol,
                            mistakes=mistakes_on(named, messages), hint=hint)
        return summary

    return {"problems": problems}, judge


def _douts(rng, problems: list[tuple], out_of) -> list[dict]:
    found = []
    for args in problems:
        out = out_of(*args)
        found.append({"args": list(args), "dout": rng.normal(size=out.shape).astype(args[0].dtype)})
    return found


@case("w02_affine_backward")
def affine_backward_case(rng: np.random.Generator):
    """dx (in x's shape), dw and db against the reference for N = 1, x of shape (N, 2, 3, 4), D = M, and
    float32 inputs (float32 tolerances)."""
    shapes = [((6, 4), 4), ((4, 2, 3, 4), 5), ((1, 5), 3), ((10, 6), 1)]  # D = M first: w and w.T fit both
    problems = [_affine_problem(rng, s, M) for s, M in shapes] + [_affine_problem(rng, (8, 3, 2), 4, np.float32)]
    return _backward_case(
        _douts(rng, problems, lambda x, w, b: affine_forward(x, w, b)[0]),
        lambda x, w, b, dout: affine_backward(dout, affine_forward(x, w, b)[1]), affine_backward_mistakes,
        AFFINE_BACKWARD_MISTAKES, ("dx", "dw", "db"), AFFINE_BACKWARD_HINT, "affine_forward", ("x", "w", "b"),
        "dx, dw and db agree with the reference (= centred differences) on 5 shapes, float32 included")


def _elementwise_backward_case(rng, backward_of, mistakes_of, messages, hint, forward_name, summary, zeros=False):
    problems = [(x,) for x in _elementwise_inputs(rng, zeros=zeros)]
    return _backward_case(_douts(rng, problems, lambda x: x), lambda x, dout: (backward_of(x, dout),),
                          mistakes_of, messages, ("dx",), hint, forward_name, ("x",), summary)


@case("w02_relu_backward")
def relu_backward_case(rng: np.random.Generator):
    """dx against the reference on 1-D to 3-D x, N = 1, float32; every x holds exact zeros, where dx = 0."""
    return _elementwise_backward_case(
        rng, lambda x, dout: relu_backward(dout, x), relu_backward_mistakes, RELU_BACKWARD_MISTAKES, RELU_HINT,
        "relu_forward", "dx = dout where x > 0, 0 where x <= 0 (exact zeros included), on 5 shapes", zeros=True)


@case("w02_sigmoid_backward")
def sigmoid_backward_case(rng: np.random.Generator):
    """dx against the reference on 1-D to 3-D x, N = 1, float32."""
    return _elementwise_backward_case(
        rng, lambda x, dout: sigmoid_backward(dout, sigmoid(x)), sigmoid_backward_mistakes, SIGMOID_BACKWARD_MISTAKES,
        SIGMOID_BACKWARD_HINT, "sigmoid_forward", "dx agrees with the reference (= centred differences) on 5 shapes")


@case("w02_tanh_backward")
def tanh_backward_case(rng: np.random.Generator):
    """dx against the reference on 1-D to 3-D x, N = 1, float32."""
    return _elementwise_backward_case(
        rng, lambda x, dout: tanh_backward(dout, np.tanh(x)), tanh_backward_mistakes, TANH_BACKWARD_MISTAKES,
        TANH_BACKWARD_HINT, "tanh_forward", "dx agrees with the reference (= centred differences) on 5 shapes")


# ---- fixtures of the visible checks ----------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(202)
    x, w, b = _affine_problem(rng, (3, 2, 2, 2), 4)
    out = affine_forward(x, w, b)[0]
    dout = rng.normal(size=out.shape)
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    wrong = affine_backward_mistakes(x, w, b, dout)
    affine = ({"x": x, "w": w, "b": b, "dout": dout, "expected_out": out, "expected_dx": dx, "expected_dw": dw,
               "expected_db": db} | stored(affine_forward_mistakes(x, w, b), AFFINE_FORWARD_MISTAKES, "_out"))
    for part in ("dx", "dw", "db"):
        affine |= stored(wrong[part], AFFINE_BACKWARD_MISTAKES, f"_{part}")

    xr = np.round(rng.normal(size=(4, 5)), 1)
    xr[0, :3] = 0.0
    dr = rng.normal(size=xr.shape)
    relu = ({"x": xr, "dout": dr, "expected_out": relu_forward(xr)[0], "expected_dx": relu_backward(dr, xr)}
            | stored(relu_forward_mistakes(xr), RELU_FORWARD_MISTAKES, "_out")
            | stored(relu_backward_mistakes(xr, dr), RELU_BACKWARD_MISTAKES, "_dx"))

    xs = np.concatenate([[-1000.0, -30.0, 0.0, 30.0, 1000.0], 2.0 * rng.normal(size=7)]).reshape(3, 4)
    ds = rng.normal(size=xs.shape)
    sig = ({"x": xs, "dout": ds, "expected_out": sigmoid(xs), "expected_dx": sigmoid_backward(ds, sigmoid(xs))}
           | stored(sigmoid_forward_mistakes(xs), SIGMOID_FORWARD_MISTAKES, "_out")
           | stored(sigmoid_backward_mistakes(xs, ds), SIGMOID_BACKWARD_MISTAKES, "_dx"))

    xt = 1.5 * rng.normal(size=(2, 3, 2))
    dt = rng.normal(size=xt.shape)
    tanh = ({"x": xt, "dout": dt, "expected_out": np.tanh(xt), "expected_dx": tanh_backward(dt, np.tanh(xt))}
            | stored(tanh_backward_mistakes(xt, dt), TANH_BACKWARD_MISTAKES, "_dx"))
    return {"w02_layers_affine": affine, "w02_layers_relu": relu, "w02_layers_sigmoid": sig, "w02_layers_tanh": tanh}
