"""Week 3, output sizes and padding (conv_output_size, pad2d): known mistakes, hidden cases, fixtures.

The references are :func:`conv_reference.conv_output_size` and :func:`conv_reference.pad2d`:

    O = floor((H + 2P - K) / S) + 1,     ValueError for H < 1, K < 1, P < 0, S < 1 or K > H + 2P;
    xp[..., i + P, j + P] = x[..., i, j] (zeros elsewhere), only the last two axes padded, x's dtype kept.
"""

from __future__ import annotations

import numpy as np

from autograder.cases.conv_reference import conv_output_size, pad2d
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, expect, mistakes_on
from dlfs.checks import CheckFailed
from dlfs.checks.w03_sizes import PAD_HINT, check_sizes, shown_call
from dlfs.grading import Call, Raised

SIZE_MISTAKES = {
    "no_plus_one": "your sizes are one short: the window at position 0 counts too, so add 1 after the division.",
    "p_not_doubled": ("your sizes use H + P: P rows of zeros go on EACH side, so the padded length is H + 2P."),
    "ceil": ("your sizes round up when S does not divide H + 2P - K: a window that does not fit entirely is "
             "dropped, so round down (integer division //)."),
    "true_division": ("your sizes are fractions such as 3.5: use integer division // (it rounds down), not /, "
                      "and return an int."),
}
PAD_MISTAKES = {
    "every_axis": ("you padded every axis (np.pad(x, P) pads the batch and channel axes too): pad only the last "
                   "two axes, with (0, 0) for each leading axis."),
    "first_axes": "you padded the first two axes: pad the LAST two (height and width), whatever x.ndim is.",
    "one_side": "you padded one side only (after the data): P zeros go before AND after, on both axes.",
    "one_side_before": "you padded one side only (before the data): P zeros go before AND after, on both axes.",
}
#: Settings ``conv_output_size`` must refuse, with the reason shown when it does not.
BAD_SIZES = [
    ((0, 1, 0, 1), "H = 0: an input needs at least one row"),
    ((5, 0, 0, 1), "K = 0: a kernel needs at least one entry"),
    ((6, 3, -1, 1), "P = -1: the padding cannot be negative"),
    ((5, 3, 0, 0), "S = 0: the window must move (check S before dividing by it)"),
    ((7, 3, 1, -2), "S = -2: the stride must be at least 1"),
    ((5, 6, 0, 1), "K = 6 > H + 2P = 5: the kernel does not fit in the input"),
    ((3, 8, 2, 1), "K = 8 > H + 2P = 7: the kernel does not fit in the padded input"),
]
#: Edge settings that are valid, with what they show.
EDGE_SIZES = [
    ((3, 5, 1, 1), "the kernel (K = 5) fits in the padded input (H + 2P = 3 + 2 = 5), once: refuse only K > H + 2P, "
                   "the padding included"),
    ((4, 4, 0, 3), "K = H: one window, whatever the stride"),
    ((1, 1, 0, 1), "a 1 x 1 kernel on one pixel"),
]


def conv_output_size_mistakes(H: int, K: int, P: int, S: int) -> dict[str, float]:
    """What each known mistake returns for (H, K, P, S)."""
    span = H + 2 * P - K
    return {"no_plus_one": span // S, "p_not_doubled": (H + P - K) // S + 1, "ceil": -(-span // S) + 1,
            "true_division": span / S + 1}


def size_mistakes(rows: list[tuple[int, int, int, int]]) -> dict[str, np.ndarray]:
    """The known mistakes' sizes over a list of (H, K, P, S), one vector per mistake."""
    each = [conv_output_size_mistakes(*row) for row in rows]
    return {name: np.array([sizes[name] for sizes in each]) for name in SIZE_MISTAKES}


def pad2d_mistakes(x: np.ndarray, P: int) -> dict[str, np.ndarray]:
    """What each known padding mistake outputs for ``x`` and ``P``."""
    x = np.asarray(x)
    lead = [(0, 0)] * (x.ndim - 2)
    return {"every_axis": np.pad(x, P), "first_axes": np.pad(x, [(P, P), (P, P)] + lead),
            "one_side": np.pad(x, lead + [(0, P), (0, P)]), "one_side_before": np.pad(x, lead + [(P, 0), (P, 0)])}


# ---- hidden cases --------------------------------------------------------------------------------------


def require_value_error(answers: Answers, index: int, shown: str, why: str) -> None:
    """Fail unless call ``index`` raised ValueError; ``shown`` is the call as the student would write it."""
    got = answers["results"][index]
    if isinstance(got, Raised) and got.type == "NotImplementedError":
        answers.value(got)  # fails: "not implemented yet"
    if isinstance(got, Raised) and got.type == "ValueError":
        return
    if isinstance(got, Raised):
        other = f", not {got.type}" + (f" ({got.message})" if got.message else "")
    else:
        other = f"; it returned {f'an array of shape {got.shape}' if isinstance(got, np.ndarray) else repr(got)}"
    raise CheckFailed(f"{shown} must raise ValueError{other}: {why}.")


def _label(row: tuple[int, int, int, int]) -> str:
    return "H = {}, K = {}, P = {}, S = {}".format(*row)


def _sizes_judge(rows: list[tuple[int, int, int, int]], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        got = [answers.result(i, _label(row)) for i, row in enumerate(rows)]
        expected = np.array([conv_output_size(*row) for row in rows])
        check_sizes(context.name, rows, got, expected, mistakes_on(size_mistakes(rows), SIZE_MISTAKES))
        return summary

    return {"calls": [Call(row) for row in rows]}, judge


@case("w03_conv_output_size")
def conv_output_size_values(rng: np.random.Generator):
    """Classic settings (same padding, stride 2, AlexNet's first layer, strides that drop a border, K = H + 2P)
    and 12 random ones with H up to 64, K up to 7, P up to 3 and S up to 4: ints equal to the reference."""
    rows = [(28, 3, 1, 1), (28, 2, 0, 2), (7, 3, 0, 2), (8, 3, 0, 2), (5, 5, 0, 1), (3, 5, 1, 1), (224, 11, 2, 4),
            (1, 1, 0, 1), (10, 1, 0, 3), (32, 5, 2, 3), (6, 3, 2, 4)]
    while len(rows) < 23:
        H, K, P, S = (int(v) for v in (rng.integers(1, 65), rng.integers(1, 8), rng.integers(0, 4), rng.integers(1, 5)))
        if K <= H + 2 * P:
            rows.append((H, K, P, S))
    return _sizes_judge(rows, f"{len(rows)} settings agree with the reference (ints, borders dropped by the stride)")


@case("w03_conv_output_size_errors")
def conv_output_size_errors(rng: np.random.Generator):
    """H < 1, K < 1, P < 0, S = 0, S < 0 and a kernel larger than the padded input each raise ValueError;
    a kernel larger than H that fits in H + 2P, K = H and a single pixel do not, and give the right size."""
    calls = [Call(row) for row, _ in BAD_SIZES + EDGE_SIZES]

    def judge(answers: Answers, context: Context) -> str:
        for i, (row, why) in enumerate(BAD_SIZES):
            require_value_error(answers, i, shown_call(context.name, row), why)
        got = []
        for i, (row, why) in enumerate(EDGE_SIZES, start=len(BAD_SIZES)):
            value = answers["results"][i]
            if isinstance(value, Raised) and value.type != "NotImplementedError":
                raise CheckFailed(f"{shown_call(context.name, row)} raised {value.type} ({value.message}), but the "
                                  f"setting is valid: {why}.")
            got.append(answers.result(i, _label(row)))
        rows = [row for row, _ in EDGE_SIZES]
        check_sizes(context.name, rows, got, np.array([conv_output_size(*row) for row in rows]))
        return "H < 1, K < 1, P < 0, S < 1 and kernels larger than the padded input raise ValueError; edge cases pass"

    return {"calls": calls}, judge


@case("w03_pad2d")
def pad2d_case(rng: np.random.Generator):
    """2-D, 3-D and 4-D inputs (N = 1 included), P = 0 to 3, non-square images, float32 kept float32: the
    whole padded arrays against the reference; x left unchanged."""
    problems = [((3, 4), 1), ((2, 3, 4, 5), 1), ((5, 5), 0), ((2, 3, 5), 2), ((1, 1, 6, 4), 3), ((3, 2, 4, 3), 2),
                ((2, 2, 3, 3), 1, np.float32), ((7, 2), 2, np.float32)]
    calls = []
    for shape, P, *dtype in problems:
        x = rng.normal(size=shape).astype(dtype[0] if dtype else np.float64)
        calls.append(Call((x, P)))

    def judge(answers: Answers, context: Context) -> str:
        for i, c in enumerate(calls):
            x, P = c.args
            label = f"x of shape {x.shape} ({x.dtype}), P = {P}"
            expect(answers, i, pad2d(x, P), label=label, rtol=0.0, hint=PAD_HINT, arguments=("x", "P"),
                   mistakes=mistakes_on(pad2d_mistakes(x, P), PAD_MISTAKES))
            dtype = np.asarray(answers.result(i)).dtype
            if dtype != x.dtype:
                raise CheckFailed(f"{context.name} on {label} returned {dtype}: keep x's dtype (np.zeros(..., "
                                  "dtype=x.dtype) or np.pad).")
        return "2-D, 3-D and 4-D inputs, P = 0 to 3, float32 kept: only the last two axes padded"

    return {"calls": calls}, judge


# ---- fixtures of the visible checks --------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rows = [(28, 5, 2, 1), (28, 2, 0, 2), (9, 3, 0, 2), (10, 3, 0, 3), (6, 3, 1, 2), (4, 6, 1, 1), (13, 4, 1, 3)]
    errors = [((4, 7, 1, 1), "K = 7 > H + 2P = 6: the kernel does not fit in the padded input"),
              ((5, 3, 0, 0), "S = 0: the stride must be at least 1"), ((5, 2, -2, 1), "P = -2: padding cannot be negative"),
              ((5, 0, 1, 1), "K = 0: a kernel needs at least one entry"), ((0, 1, 1, 1), "H = 0: an input needs a row")]
    sizes = {"args": np.array(rows), "expected": np.array([conv_output_size(*row) for row in rows]),
             "error_args": np.array([row for row, _ in errors]), "error_why": np.array([why for _, why in errors])}
    rng = np.random.default_rng(31)
    x, image32 = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 5)).astype(np.float32)
    padding = {"x": x, "P": np.array(2), "expected": pad2d(x, 2), "image32": image32, "P32": np.array(1),
               "expected32": pad2d(image32, 1)}
    return {
        "w03_sizes_conv_output_size": sizes | stored(size_mistakes(rows), SIZE_MISTAKES),
        "w03_sizes_pad2d": padding | stored(pad2d_mistakes(x, 2), PAD_MISTAKES),
    }
