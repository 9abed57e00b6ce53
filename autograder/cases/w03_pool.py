"""Week 3, pooling forward (max_pool_forward, avg_pool_forward): references, known mistakes, hidden cases,
fixtures.

The references are :func:`autograder.cases.conv_reference.max_pool_forward` and ``avg_pool_forward`` (checked
against loops and JAX in ``tests/test_conv_reference.py``), computed in float64, so float32 answers are compared
with exact values at float32 tolerances. Each known mistake is what one plausible wrong implementation outputs,
computed from the references on altered inputs (``tests/test_w03_pool.py`` feeds those implementations to the
cases).
"""

from __future__ import annotations

import numpy as np

from autograder.cases import conv_reference
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import check_array
from dlfs.checks.w03_conv import output_only, tolerances
from dlfs.checks.w03_pool import AVG_POOL_HINT, MAX_POOL_HINT
from dlfs.grading import Call

_STEPPING = {
    "window_start": "your windows start at (i, j) instead of (S*i, S*j): with stride S, window (i, j) covers rows "
                    "S*i to S*i + pool - 1 and columns S*j to S*j + pool - 1.",
    "stride_one": "your windows step by 1 (they overlap): the stride defaults to the window size, "
                  "`stride = pool if stride is None else stride`, and the output has OH = (H - pool) // stride + 1 rows.",
    "stride_as_pool": "your windows step by `pool` although a different `stride` was given: use the stride argument "
                      "when it is not None.",
    "ceil_mode": "your output keeps a partial window at the border: the rows and columns that fill no whole window "
                 "are dropped, OH = (H - pool) // stride + 1 (rounded down).",
}
MAX_POOL_MISTAKES = _STEPPING | {
    "across_channels": "your maximum is taken across the channels too: pool each channel of each image on its own, "
                       "over the two spatial axes only; the output has shape (N, C, OH, OW).",
    "across_channels_dropped": "your output has no channel axis (the maximum ran over the channels too): pool each "
                               "channel on its own, over the two spatial axes only; the output has shape (N, C, OH, OW).",
    "abs": "your output is the largest absolute value of each window: take the maximum of the values themselves "
           "(a window of negative values has a negative maximum).",
    "zero_init": "your maxima never go below 0, as if the running maximum started at 0: start from the window's "
                 "first entry (or -inf), since a window of negative values has a negative maximum.",
}
AVG_POOL_MISTAKES = _STEPPING | {
    "ceil_mode_zeros": "your output keeps a partial window at the border (averaged with zeros): the rows and columns "
                       "that fill no whole window are dropped, OH = (H - pool) // stride + 1 (rounded down).",
    "across_channels": "your mean is taken across the channels too: pool each channel of each image on its own, over "
                       "the two spatial axes only; the output has shape (N, C, OH, OW).",
    "across_channels_dropped": "your output has no channel axis (the mean ran over the channels too): pool each "
                               "channel on its own, over the two spatial axes only; the output has shape (N, C, OH, OW).",
    "divide_by_pool": "your averages are pool times too large: a window holds pool**2 values, divide the sum by "
                      "pool * pool, not by pool.",
    "no_division": "your output is the sum of each window: divide by the number of values, pool * pool.",
}


# ---- references ------------------------------------------------------------------------------------------


def max_pool_forward(x: np.ndarray, pool: int = 2, stride: int | None = None) -> np.ndarray:
    """out[n, c, i, j] = max_{0 <= u, v < pool} x[n, c, S i + u, S j + v], S = stride (pool when None), no padding:
    x (N, C, H, W) -> out (N, C, OH, OW), OH = (H - pool) // S + 1, OW likewise. In float64."""
    return conv_reference.max_pool_forward(np.asarray(x, dtype=np.float64), pool, stride)[0]


def avg_pool_forward(x: np.ndarray, pool: int = 2, stride: int | None = None) -> np.ndarray:
    """out[n, c, i, j] = (1 / pool^2) sum_{0 <= u, v < pool} x[n, c, S i + u, S j + v], sizes as for max pooling.
    In float64."""
    return conv_reference.avg_pool_forward(np.asarray(x, dtype=np.float64), pool, stride)[0]


# ---- what the known mistakes output ------------------------------------------------------------------------


def _ceil_padded(x: np.ndarray, pool: int, stride: int, fill: float) -> np.ndarray | None:
    """x extended at the bottom and the right with ``fill`` so that partial windows at the border become whole
    ones (ceil mode); None when no window is partial."""
    H, W = x.shape[2:]
    rows, cols = (-(-(size - pool) // stride) * stride + pool for size in (H, W))
    if (rows, cols) == (H, W):
        return None
    return np.pad(x, ((0, 0), (0, 0), (0, rows - H), (0, cols - W)), constant_values=fill)


def _stepping_mistakes(reference, x: np.ndarray, pool: int, stride: int | None) -> dict[str, np.ndarray]:
    """The mistakes of where the windows are, shared by both poolings."""
    S = pool if stride is None else stride
    right = reference(x, pool, S)
    OH, OW = right.shape[2:]
    every = reference(x, pool, 1)
    found = {"window_start": every[:, :, :OH, :OW], "stride_one": every}
    if S != pool:
        found["stride_as_pool"] = reference(x, pool, pool)
    return found


def max_pool_mistakes(x: np.ndarray, pool: int = 2, stride: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of the known max-pooling mistakes on one problem."""
    x = np.asarray(x, dtype=np.float64)
    S = pool if stride is None else stride
    right = max_pool_forward(x, pool, S)
    found = _stepping_mistakes(max_pool_forward, x, pool, stride) | {
        "across_channels": np.broadcast_to(right.max(axis=1, keepdims=True), right.shape).copy(),
        "across_channels_dropped": right.max(axis=1),
        "abs": max_pool_forward(np.abs(x), pool, S),
        "zero_init": np.maximum(right, 0.0),
    }
    padded = _ceil_padded(x, pool, S, -np.inf)
    if padded is not None and np.isfinite(ceil := max_pool_forward(padded, pool, S)).all():
        found["ceil_mode"] = ceil  # (a window wholly past the border would have no value: no such mistake then)
    return found


def avg_pool_mistakes(x: np.ndarray, pool: int = 2, stride: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of the known average-pooling mistakes on one problem."""
    x = np.asarray(x, dtype=np.float64)
    S = pool if stride is None else stride
    right = avg_pool_forward(x, pool, S)
    found = _stepping_mistakes(avg_pool_forward, x, pool, stride) | {
        "across_channels": np.broadcast_to(right.mean(axis=1, keepdims=True), right.shape).copy(),
        "across_channels_dropped": right.mean(axis=1),
        "divide_by_pool": right * pool,
        "no_division": right * pool**2,
    }
    padded = _ceil_padded(x, pool, S, 0.0)
    if padded is not None:
        with_zeros = avg_pool_forward(padded, pool, S)  # partial windows: sum / pool^2
        share = avg_pool_forward(_ceil_padded(np.ones_like(x), pool, S, 0.0), pool, S)  # count / pool^2
        if share.all():  # (a window wholly past the border would have no value: no such mistake then)
            found["ceil_mode"] = with_zeros / share  # sum / count
            found["ceil_mode_zeros"] = with_zeros
    return found


# ---- hidden cases -------------------------------------------------------------------------------------------

#: What each case needs of a pooling: its reference, mistakes, diagnoses and hint.
KINDS = {
    "max": (max_pool_forward, max_pool_mistakes, MAX_POOL_MISTAKES, MAX_POOL_HINT),
    "avg": (avg_pool_forward, avg_pool_mistakes, AVG_POOL_MISTAKES, AVG_POOL_HINT),
}


def _label(call: Call) -> str:
    x = call.args[0]
    given = [f"pool={call.args[1]}"] if len(call.args) > 1 else []
    given += [f"stride={call.args[2]}"] if len(call.args) > 2 else []
    given += [f"{key}={value}" for key, value in call.kwargs.items()]
    kind = "" if x.dtype == np.float64 else f", {x.dtype}"
    return f"x of shape {x.shape}{kind}, " + (", ".join(given) if given else "the defaults")


def _pool_case(kind: str, calls: list[Call], summary: str):
    """Each call's output against the reference, naming the known mistakes."""
    reference, mistakes, messages, hint = KINDS[kind]

    def judge(answers: Answers, context: Context) -> str:
        for i, call in enumerate(calls):
            named = dict(zip(("x", "pool", "stride"), call.args)) | call.kwargs
            x, pool, stride = named["x"], named.get("pool", 2), named.get("stride")
            label = _label(call)
            expected = reference(x, pool, stride)
            got = output_only(f"{context.name} on {label}", answers.result(i, label, arguments=("x",)))
            rtol, atol = tolerances(x, scale=float(np.abs(expected).max()))
            check_array(f"{context.name} on {label}", got, expected, rtol=rtol, atol=atol, hint=hint,
                        mistakes=mistakes_on(mistakes(x, pool, stride), messages))
        return summary

    return {"calls": calls}, judge


def _x(rng: np.random.Generator, shape: tuple, shift: float = -0.5, dtype: type = np.float64) -> np.ndarray:
    """Normal values shifted down, so that many windows hold only negative values."""
    return (rng.normal(size=shape) + shift).astype(dtype)


def _default_calls(rng: np.random.Generator) -> list[Call]:
    """The stride left at its default: pool 2 and 3, odd and non-square sizes, N = 1, C = 1 and 3, float32."""
    return [Call((_x(rng, (2, 3, 4, 4), -1.0),)), Call((_x(rng, (1, 1, 9, 9)), 3)),
            Call((_x(rng, (3, 2, 7, 5)),), {"pool": 2}), Call((_x(rng, (1, 3, 6, 9)),), {"pool": 3, "stride": None}),
            Call((_x(rng, (2, 3, 8, 6), dtype=np.float32),)), Call((_x(rng, (1, 1, 2, 3)),))]


def _stride_calls(rng: np.random.Generator) -> list[Call]:
    """Strides given: overlapping windows (stride < pool), stride > pool, dropped borders, float32, positional."""
    return [Call((_x(rng, (2, 3, 7, 8)),), {"pool": 3, "stride": 2}), Call((_x(rng, (2, 2, 5, 6)),), {"stride": 1}),
            Call((_x(rng, (1, 2, 8, 7)),), {"pool": 2, "stride": 3}), Call((_x(rng, (1, 1, 9, 6)),), {"pool": 3, "stride": 3}),
            Call((_x(rng, (3, 3, 9, 9), dtype=np.float32),), {"pool": 3, "stride": 2}), Call((_x(rng, (2, 1, 6, 5)), 2, 1))]


@case("w03_max_pool_forward")
def max_pool_forward_case(rng: np.random.Generator):
    """The default stride (= pool) with pool 2 and 3, odd and non-square images, N = 1, C = 1 and 3, values
    mostly negative, float32."""
    calls = _default_calls(rng)
    return _pool_case("max", calls, f"{len(calls)} batches with the default stride (pool 2 and 3, odd sizes, "
                      "negative values, float32) agree with the reference")


@case("w03_max_pool_strides")
def max_pool_strides_case(rng: np.random.Generator):
    """Strides smaller than, equal to and larger than the pool, dropped borders, float32, a positional call."""
    calls = _stride_calls(rng)
    return _pool_case("max", calls, f"{len(calls)} batches with strides below, equal to and above the pool agree "
                      "with the reference")


@case("w03_avg_pool_forward")
def avg_pool_forward_case(rng: np.random.Generator):
    """The default stride (= pool) with pool 2 and 3, odd and non-square images, N = 1, C = 1 and 3, float32."""
    calls = _default_calls(rng)
    return _pool_case("avg", calls, f"{len(calls)} batches with the default stride (pool 2 and 3, odd sizes, "
                      "float32) agree with the reference")


@case("w03_avg_pool_strides")
def avg_pool_strides_case(rng: np.random.Generator):
    """Strides smaller than, equal to and larger than the pool, dropped borders, float32, a positional call."""
    calls = _stride_calls(rng)
    return _pool_case("avg", calls, f"{len(calls)} batches with strides below, equal to and above the pool agree "
                      "with the reference")


# ---- fixtures of the visible checks ------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    made = {}
    for kind in KINDS:
        reference, mistakes, messages, _ = KINDS[kind]
        for suffix, seed, shape, pool, stride in [("", 41, (2, 3, 5, 7), 2, None), ("_strides", 42, (2, 2, 7, 8), 3, 2)]:
            x = _x(np.random.default_rng(seed), shape, -1.0 if kind == "max" else 0.0)
            made[f"w03_pool_{kind}{suffix}"] = (
                {"x": x, "pool": np.array(pool), "stride": np.array(pool if stride is None else stride),
                 "default": np.array(stride is None), "expected": reference(x, pool, stride)}
                | stored(mistakes(x, pool, stride), messages))
    return made
