"""Week 3, sizes and padding (conv_output_size, pad2d): the visible checks. Their hidden cases need only calls.

:func:`check_sizes` is shared with the hidden case: it turns the sizes returned for a list of (H, K, P, S)
into a verdict on the type (an int), a named mistake, or the first wrong call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlfs.checks import CheckFailed, Mistake, call, expect, fixture, passed, stored_mistakes

__all__ = ["conv_output_size", "pad2d"]

SIZE_HINT = "O = floor((H + 2P - K) / S) + 1, with integer division //."
PAD_HINT = "make zeros of shape (..., H + 2P, W + 2P) with x's dtype and copy x into the middle, [..., P:P + H, P:P + W]."
STUB = "is not implemented yet: replace `raise NotImplementedError()` with your code."


def _plain(value: object) -> object:
    """A NumPy scalar (as stored in a fixture) as the Python number it holds."""
    return value.item() if isinstance(value, np.generic) else value


def shown_call(name: str, args: Sequence) -> str:
    """How a call reads in a message: ``conv_output_size(28, 3, 1, 1)``, ``gaussian_kernel(5, 1.5)``."""
    return f"{name}({', '.join(repr(_plain(v)) for v in args)})"


def check_sizes(name: str, rows: Sequence[Sequence[int]], got: Sequence, expected: np.ndarray,
                mistakes: Sequence[Mistake] = ()) -> None:
    """Fail unless ``got[i]`` is the int ``expected[i]`` for every row (H, K, P, S); name a known mistake
    when the returned sizes, all together, are what it gives."""
    got = [value[()] if isinstance(value, np.ndarray) and value.shape == () else value for value in got]  # via the exchange
    for row, value in zip(rows, got):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            what = "None: did you forget the `return` statement?" if value is None else f"a {type(value).__name__}"
            raise CheckFailed(f"{shown_call(name, row)} returned {what}; expected an int (a number of positions).")
    values = np.array([float(v) for v in got])
    right = np.array_equal(values, np.asarray(expected, dtype=float))
    fractional = [(row, v) for row, v in zip(rows, got) if isinstance(v, float | np.floating)]
    if not right or fractional:
        for mistake in mistakes:
            if np.shape(mistake.output) == values.shape and np.allclose(values, mistake.output, rtol=0.0, atol=1e-9):
                raise CheckFailed(f"{name}: {mistake.message}")
    if fractional:
        row, value = fractional[0]
        raise CheckFailed(f"{shown_call(name, row)} returned {_plain(value)!r}, a float; an output size counts window "
                          "positions, so return an int: compute it with integer division //.")
    for row, value, want in zip(rows, got, np.asarray(expected)):
        if value != want:
            raise CheckFailed(f"{shown_call(name, row)} returned {_plain(value)!r}, expected {int(want)}. Hint: {SIZE_HINT}")


def must_raise(fn: Callable, args: Sequence, why: str) -> None:
    """Fail unless ``fn(*args)`` raises ValueError, saying ``why`` it must."""
    args = [_plain(v) for v in args]
    shown = shown_call(fn.__name__, args)
    try:
        value = fn(*args)
    except ValueError:
        return
    except NotImplementedError as err:
        raise CheckFailed(f"{fn.__name__} {STUB}") from err
    except Exception as err:
        said = f" ({err})" if str(err) else ""
        raise CheckFailed(f"{shown} must raise ValueError, not {type(err).__name__}{said}: {why}.") from err
    shape = f"an array of shape {np.shape(value)}" if isinstance(value, np.ndarray) else repr(value)
    raise CheckFailed(f"{shown} must raise ValueError; it returned {shape}: {why}.")


def conv_output_size(fn: Callable) -> None:
    """Check output sizes on a stored table of (H, K, P, S), and that impossible settings raise ValueError."""
    a = fixture("w03_sizes_conv_output_size")
    rows = [tuple(int(v) for v in row) for row in a["args"]]
    got = [call(fn, *row) for row in rows]
    check_sizes(fn.__name__, rows, got, a["expected"], stored_mistakes(a))
    for row, why in zip(a["error_args"], a["error_why"]):
        must_raise(fn, row, str(why))
    passed(f"{fn.__name__}: {len(rows)} sizes right (strides that drop a border included); impossible settings "
           "raise ValueError")


def pad2d(fn: Callable) -> None:
    """Check padding on a stored 4-D batch (only the last two axes grow) and a float32 image (its type is kept)."""
    a = fixture("w03_sizes_pad2d")
    expect(fn, (a["x"], int(a["P"])), a["expected"], mistakes=stored_mistakes(a), label=f"x of shape {a['x'].shape}",
           rtol=0.0, hint=PAD_HINT)
    got, _ = expect(fn, (a["image32"], int(a["P32"])), a["expected32"], label="a float32 image", rtol=0.0, hint=PAD_HINT)
    if np.asarray(got).dtype != np.float32:
        raise CheckFailed(f"{fn.__name__} returned {np.asarray(got).dtype} for a float32 image; keep x's dtype "
                          "(np.zeros(..., dtype=x.dtype)).")
    passed(f"{fn.__name__}: zeros around the last two axes only, any number of leading axes, x's dtype kept")
