"""Week 4, naive max pooling (max_pool_forward_naive, max_pool_backward_naive): references, known mistakes,
hidden cases, fixtures.

The references are :func:`autograder.cases.conv_reference.max_pool_forward` and ``max_pool_backward`` (checked
against loops and JAX in ``tests/test_conv_reference.py``), computed in float64. The backward routes each window's
gradient to the window's maximum, the FIRST one in row-major order within the window on a tie (what ``np.argmax``
of the flattened window picks), and adds where windows overlap; away from ties it equals centred differences of
the forward (``tests/test_w04_pool_naive.py`` proves it on every tie-free hidden problem, and against
``jax.vjp``). The backward cases run the student's forward first, through the probe in
``dlfs/checks/w04_pool_naive.py``, and are judged by :func:`autograder.cases.w04_conv_naive.backward_case`.
"""

from __future__ import annotations

import numpy as np

from autograder.cases import conv_reference
from autograder.cases.w04_conv_naive import backward_case, dtype_note
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import check_array
from dlfs.checks.w04_conv_naive import tolerances
from dlfs.checks.w04_pool_naive import MAX_POOL_BACKWARD_HINT, MAX_POOL_FORWARD_HINT
from dlfs.grading import Call

MAX_POOL_FORWARD_MISTAKES = {
    "zero_init": "your maxima never go below 0, as if the running maximum started at 0: start from the window's "
                 "first entry (or -inf), or take window.max(); a window of negative values has a negative maximum.",
    "across_channels": "your maximum is taken across the channels too: pool each channel of each image on its own, "
                       "over the two spatial axes only.",
    "one_short": "your out is one row and one column short: there are OH = (H - pool) // stride + 1 rows (mind the "
                 "+ 1) and OW likewise; loop with range(OH).",
    "window_start": "your windows start at (i, j) instead of (S*i, S*j): with stride S, window (i, j) covers rows "
                    "S*i to S*i + pool - 1 and columns S*j to S*j + pool - 1.",
    "stride_one": "your windows step by 1 (they overlap): the stride defaults to the window size, "
                  "`stride = pool if stride is None else stride`.",
    "stride_as_pool": "your windows step by `pool` although a different `stride` was given: use the stride argument "
                      "when it is not None.",
}
MAX_POOL_BACKWARD_MISTAKES = {
    "spread": "your dx spreads each window's gradient over the whole window (dout / pool**2 to every entry, the "
              "average-pool backward): max pooling routes all of dout[n, c, i, j] to the entry that was the "
              "window's maximum and nothing to the others.",
    "all_ties": "your dx gives the full gradient to every entry that ties for a window's maximum: the course's rule "
                "gives it to the FIRST maximum in row-major order only, k = np.argmax(window) on the window, "
                "u, v = divmod(k, pool).",
    "last_tie": "your dx gives a tied window's gradient to its LAST maximum: the rule is the FIRST one in row-major "
                "order (np.argmax returns it; a running comparison must use > rather than >=).",
    "overwrite": "your dx keeps only one window's gradient where overlapping windows share their maximum: add with "
                 "`+=` instead of assigning with `=`, an entry that wins several windows receives the sum.",
    "zeros": "your dx is 0 everywhere: compare each window of x with its maximum (not with dout) to find the "
             "winner, and add dout[n, c, i, j] there.",
    "mask_only": "your dx is the mask of the winners without dout: add the upstream gradient dout[n, c, i, j] to the "
                 "winner, not 1.",
    "times_out": "your dx carries the forward's maxima instead of the upstream gradient: add dout[n, c, i, j] to the "
                 "winner, not out[n, c, i, j].",
    "channel_argmax": "your dx sends the gradient of every window to the maximum of the whole channel: take the "
                      "argmax of the window x[n, c, S*i:S*i + pool, S*j:S*j + pool] only.",
    "no_offset": "your dx puts each gradient at the winner's position inside the window, (u, v), not in x: add the "
                 "window's start, dx[n, c, S*i + u, S*j + v].",
    "argmax_transposed": "your dx swaps the winner's row and column: k = np.argmax(window) on a pool x pool window "
                         "gives u, v = divmod(k, pool) (row first), or np.unravel_index(k, window.shape).",
}


# ---- references ------------------------------------------------------------------------------------------


def max_pool_forward(x: np.ndarray, pool: int = 2, stride: int | None = None) -> np.ndarray:
    """out[n, c, i, j] = max_{0 <= u, v < pool} x[n, c, S i + u, S j + v], S = stride (pool when None), no padding:
    x (N, C, H, W) -> out (N, C, OH, OW), OH = (H - pool) // S + 1, OW likewise. In float64."""
    return conv_reference.max_pool_forward(np.asarray(x, dtype=np.float64), pool, stride)[0]


def max_pool_backward(x: np.ndarray, pool: int, stride: int | None, dout: np.ndarray) -> np.ndarray:
    """dx of max pooling at x for the upstream gradient dout (N, C, OH, OW), in float64:

        dx[n, c, S i + u*, S j + v*] += dout[n, c, i, j],   (u*, v*) = the window's first maximum (row-major),

    0 elsewhere; overlapping windows add.
    """
    cache = conv_reference.max_pool_forward(np.asarray(x, dtype=np.float64), pool, stride)[1]
    return conv_reference.max_pool_backward(np.asarray(dout, dtype=np.float64), cache)


# ---- what the known mistakes output ----------------------------------------------------------------------


def max_pool_forward_mistakes(x, pool: int = 2, stride: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of the known forward mistakes on one problem."""
    x = np.asarray(x, dtype=np.float64)
    S = pool if stride is None else stride
    right = max_pool_forward(x, pool, S)
    OH, OW = right.shape[2:]
    found = {"zero_init": np.maximum(right, 0.0)}
    if x.shape[1] > 1:
        found["across_channels"] = np.broadcast_to(right.max(axis=1, keepdims=True), right.shape).copy()
    if OH > 1 and OW > 1:
        found["one_short"] = right[:, :, :-1, :-1]
    if S != 1:
        every = max_pool_forward(x, pool, 1)
        found["window_start"] = every[:, :, :OH, :OW]
        if stride is None:
            found["stride_one"] = every
    if S != pool:
        found["stride_as_pool"] = max_pool_forward(x, pool, pool)
    return found


def _routed(x: np.ndarray, pool: int, S: int, values: np.ndarray, *, last: bool = False, assign: bool = False,
            offset: bool = True, transposed: bool = False) -> np.ndarray:
    """A max-pool backward written with a loop over the windows, each ``values[:, :, i, j]`` sent to one entry of
    each window: its first maximum (its last with ``last``), placed with ``=`` instead of ``+=`` (``assign``),
    without the window's start (``offset=False``) or with its row and column swapped (``transposed``)."""
    N, C = x.shape[:2]
    OH, OW = values.shape[2:]
    images, channels = np.indices((N, C))
    dx = np.zeros(x.shape)
    for i in range(OH):
        for j in range(OW):
            flat = x[:, :, S * i:S * i + pool, S * j:S * j + pool].reshape(N, C, -1)
            k = flat.shape[2] - 1 - flat[:, :, ::-1].argmax(axis=2) if last else flat.argmax(axis=2)
            u, v = np.divmod(k, pool)
            if transposed:
                u, v = v, u
            rows, cols = (S * i + u, S * j + v) if offset else (u, v)
            if assign:
                dx[images, channels, rows, cols] = values[:, :, i, j]
            else:
                dx[images, channels, rows, cols] += values[:, :, i, j]
    return dx


def max_pool_backward_mistakes(x, pool: int, stride: int | None, dout) -> dict[str, np.ndarray]:
    """Outputs of the known backward mistakes on one problem."""
    x, dout = np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    S = pool if stride is None else stride
    out = max_pool_forward(x, pool, S)
    OH, OW = out.shape[2:]
    ties = np.zeros(x.shape)
    for u in range(pool):
        for v in range(pool):
            ties[:, :, u:u + S * OH:S, v:v + S * OW:S] += dout * (x[:, :, u:u + S * OH:S, v:v + S * OW:S] == out)
    channel = np.zeros(x.shape)
    for n, c in np.ndindex(*x.shape[:2]):
        channel[n, c][np.unravel_index(np.argmax(x[n, c]), x.shape[2:])] = dout[n, c].sum()
    found = {
        "spread": conv_reference.avg_pool_backward(dout, (x.shape, np.float64, pool, S)),
        "all_ties": ties,
        "last_tie": _routed(x, pool, S, dout, last=True),
        "zeros": np.zeros(x.shape),
        "mask_only": _routed(x, pool, S, np.ones_like(dout)),
        "times_out": _routed(x, pool, S, out),
        "channel_argmax": channel,
        "no_offset": _routed(x, pool, S, dout, offset=False),
    }
    if S < pool:
        found["overwrite"] = _routed(x, pool, S, dout, assign=True)
    if pool > 1:
        found["argmax_transposed"] = _routed(x, pool, S, dout, transposed=True)
    return found


# ---- hidden cases ---------------------------------------------------------------------------------------


def settings_label(x: np.ndarray, settings: dict) -> str:
    given = ", ".join(f"{k}={v}" for k, v in settings.items()) or "the defaults"
    return f"x of shape {x.shape}, {given}" + dtype_note(x)


def _shifted(rng: np.random.Generator, shape: tuple, dtype: type = np.float64) -> np.ndarray:
    """Normal values shifted down, so that many windows hold only negative values (no ties)."""
    return (rng.normal(size=shape) - 0.5).astype(dtype)


def _integers(rng: np.random.Generator, shape: tuple, high: int, dtype: type = np.float64) -> np.ndarray:
    """Whole numbers 0 to high - 1 as floats: many windows have tied maxima."""
    return rng.integers(0, high, size=shape).astype(dtype)


@case("w04_max_pool_forward_naive")
def max_pool_forward_naive_case(rng: np.random.Generator):
    """Pool 2 and 3; the default stride, strides below and above the pool; odd and non-square sizes (dropped
    borders); N = 1, C = 1 and 3; mostly negative values; ties; float32; a positional call."""
    calls = [Call((_shifted(rng, (2, 3, 4, 4)),)), Call((_shifted(rng, (1, 1, 9, 9)), 3)),
             Call((_shifted(rng, (3, 2, 7, 5)),), {"pool": 2}), Call((_shifted(rng, (2, 3, 7, 8)),), {"pool": 3, "stride": 2}),
             Call((_shifted(rng, (1, 2, 8, 7)),), {"pool": 2, "stride": 3}),
             Call((_shifted(rng, (2, 3, 8, 6), np.float32),)), Call((_integers(rng, (2, 2, 6, 6), 3),), {"stride": 1}),
             Call((_shifted(rng, (2, 1, 6, 5)), 2, 1))]

    def judge(answers: Answers, context: Context) -> str:
        for i, call in enumerate(calls):
            given = dict(zip(("pool", "stride"), call.args[1:])) | call.kwargs
            x, pool, stride = call.args[0], given.get("pool", 2), given.get("stride")
            label = settings_label(x, given)
            result = answers.parts(answers.result(i, label, arguments=("x",)), "out", "cache")
            out = answers.value(result[0], label)
            expected = max_pool_forward(x, pool, stride)
            rtol, atol = tolerances(x, scale=float(np.abs(expected).max()))
            check_array(f"{context.name} on {label}: out", out, expected, rtol=rtol, atol=atol,
                        hint=MAX_POOL_FORWARD_HINT,
                        mistakes=mistakes_on(max_pool_forward_mistakes(x, pool, stride), MAX_POOL_FORWARD_MISTAKES))
        return (f"out agrees with the reference on {len(calls)} batches (pool 2 and 3, strides below, equal to and "
                "above the pool, odd sizes, ties, float32)")

    return {"calls": calls}, judge


def _pool_problems(rng: np.random.Generator, batches: list[tuple[np.ndarray, dict]]) -> list[dict]:
    found = []
    for x, settings in batches:
        out = max_pool_forward(x, settings.get("pool", 2), settings.get("stride"))
        found.append({"args": [x], "kwargs": settings, "dout": rng.normal(size=out.shape).astype(x.dtype)})
    return found


def _settings(sent: dict) -> tuple:
    return sent["args"][0], sent["kwargs"].get("pool", 2), sent["kwargs"].get("stride")


def _pool_backward_case(problems: list[dict], summary: str):
    return backward_case(problems, lambda p: (max_pool_backward(*_settings(p), p["dout"]),),
                         lambda p: {"dx": max_pool_backward_mistakes(*_settings(p), p["dout"])},
                         MAX_POOL_BACKWARD_MISTAKES, ("dx",), MAX_POOL_BACKWARD_HINT, "max_pool_forward_naive", ("x",),
                         lambda p: settings_label(p["args"][0], p["kwargs"]), summary)


@case("w04_max_pool_backward_naive")
def max_pool_backward_naive_case(rng: np.random.Generator):
    """Windows side by side (the default stride): pool 2 and 3, odd sizes (the dropped border gets 0), N = 1,
    C = 1 and 3, float32; values without ties."""
    problems = _pool_problems(rng, [(_shifted(rng, (2, 3, 4, 4)), {}), (_shifted(rng, (1, 1, 9, 9)), {"pool": 3}),
                                    (_shifted(rng, (3, 2, 7, 5)), {"pool": 2}),
                                    (_shifted(rng, (1, 3, 6, 9)), {"pool": 3, "stride": None}),
                                    (_shifted(rng, (2, 3, 8, 6), np.float32), {})])
    return _pool_backward_case(problems, f"dx agrees with the reference (= centred differences) on {len(problems)} "
                               "batches with windows side by side (pool 2 and 3, odd sizes, float32)")


@case("w04_max_pool_backward_naive_overlap")
def max_pool_backward_naive_overlap_case(rng: np.random.Generator):
    """Strides below the pool (overlapping windows: an entry that wins several windows gets the sum of their
    gradients) and above it (entries in no window get 0), float32; values without ties."""
    problems = _pool_problems(rng, [(_shifted(rng, (2, 3, 7, 8)), {"pool": 3, "stride": 2}),
                                    (_shifted(rng, (2, 2, 5, 6)), {"stride": 1}),
                                    (_shifted(rng, (1, 2, 8, 7)), {"pool": 2, "stride": 3}),
                                    (_shifted(rng, (1, 1, 9, 6)), {"pool": 3, "stride": 1}),
                                    (_shifted(rng, (2, 3, 9, 9), np.float32), {"pool": 3, "stride": 2})])
    return _pool_backward_case(problems, f"dx agrees with the reference (= centred differences) on {len(problems)} "
                               "batches with overlapping and spaced windows, float32 included")


def _tied_batches(rng: np.random.Generator) -> list[tuple[np.ndarray, dict]]:
    constant = _shifted(rng, (2, 1, 6, 8))
    constant[:, :, :4, :4] = 0.5  # whole windows of one value
    return [(_integers(rng, (2, 3, 6, 6), 3), {}), (_integers(rng, (1, 2, 7, 7), 2), {"pool": 3, "stride": 2}),
            (constant, {"pool": 2, "stride": 1}), (np.maximum(rng.normal(size=(2, 2, 6, 6)), 0.0), {}),
            (_integers(rng, (1, 3, 5, 7), 4, np.float32), {"pool": 3, "stride": 1})]


@case("w04_max_pool_backward_naive_ties")
def max_pool_backward_naive_ties_case(rng: np.random.Generator):
    """Windows with tied maxima: whole numbers 0 to 3, a constant region, ReLU outputs (ties among zeros), with
    windows side by side and overlapping, float32: the whole gradient goes to the first maximum (row-major)."""
    problems = _pool_problems(rng, _tied_batches(rng))
    return _pool_backward_case(problems, f"dx agrees with the reference on {len(problems)} batches with tied maxima "
                               "(the first maximum of a window gets its gradient), overlapping windows included")


# ---- fixtures of the visible checks ------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(406)
    x = _shifted(rng, (2, 3, 5, 7)) - 0.5
    made = {"w04_pool_naive_forward": {"x": x, "expected_out": max_pool_forward(x)}
            | stored(max_pool_forward_mistakes(x), MAX_POOL_FORWARD_MISTAKES, "_out")}
    for name, seed, x_of, settings in [
        ("w04_pool_naive_backward", 407, lambda r: _shifted(r, (2, 2, 6, 7)), {}),
        ("w04_pool_naive_backward_overlap", 408, lambda r: _shifted(r, (2, 2, 7, 8)), {"pool": 3, "stride": 2}),
        ("w04_pool_naive_backward_ties", 409, lambda r: _integers(r, (1, 2, 6, 6), 3), {"pool": 2, "stride": 1}),
    ]:
        rng = np.random.default_rng(seed)
        x = x_of(rng)
        pool, stride = settings.get("pool", 2), settings.get("stride")
        dout = rng.normal(size=max_pool_forward(x, pool, stride).shape)
        made[name] = ({"x": x, "dout": dout, "expected_dx": max_pool_backward(x, pool, stride, dout)}
                      | {k: np.array(v) for k, v in settings.items()}
                      | stored(max_pool_backward_mistakes(x, pool, stride, dout), MAX_POOL_BACKWARD_MISTAKES, "_dx"))
    return made
