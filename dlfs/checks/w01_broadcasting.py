"""Week 1, the broadcasting drills (softmax, standardize, one_hot): the visible checks. Their hidden cases
need only calls (the default probe)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, expect, fixture, passed, stored_mistakes

__all__ = ["softmax", "standardize", "one_hot"]

SOFTMAX_HINT = "subtract each row's maximum before np.exp: exp(1000) overflows to inf, and inf/inf is NaN."
STANDARDIZE_HINT = "a constant column has standard deviation 0: divide by (std + eps)."


def softmax(fn: Callable) -> None:
    """Check a row-wise softmax on stored scores, one row of which is around 1000."""
    arrays = fixture("w01_softmax")
    expect(fn, (arrays["scores"],), arrays["expected"], mistakes=stored_mistakes(arrays), rtol=1e-7, atol=1e-12,
           hint=SOFTMAX_HINT)
    passed(f"{fn.__name__}: every row is a probability distribution, also for scores around 1000")


def standardize(fn: Callable) -> None:
    """Check column-wise standardisation on stored data with a constant column."""
    arrays = fixture("w01_standardize")
    expect(fn, (arrays["X"],), arrays["expected"], mistakes=stored_mistakes(arrays), rtol=1e-7, atol=1e-9,
           hint=STANDARDIZE_HINT)
    passed(f"{fn.__name__}: columns have mean 0 and std 1 (the constant column gives 0, not NaN)")


def _value_error(fn: Callable, labels: np.ndarray, num_classes: int, why: str) -> ValueError:
    """The ValueError ``fn(labels, num_classes)`` must raise; a failure naming ``why`` otherwise."""
    shown = f"{fn.__name__}({labels.tolist()}, {num_classes})"
    try:
        fn(labels, num_classes)
    except ValueError as err:
        return err
    except NotImplementedError as err:
        raise CheckFailed(f"{fn.__name__} is not implemented yet: replace `raise NotImplementedError()` "
                          "with your code.") from err
    except Exception as err:
        raise CheckFailed(f"{shown} must raise ValueError, not {type(err).__name__} ({err}): {why}.") from err
    raise CheckFailed(f"{shown} must raise ValueError; nothing was raised: {why}.")


def one_hot(fn: Callable) -> None:
    """Check one-hot encoding on stored labels, and that out-of-range and float labels are refused with
    ValueError (the latter with a message that says what to do)."""
    arrays = fixture("w01_one_hot")
    labels, num_classes = arrays["labels"], int(arrays["num_classes"])
    expect(fn, (labels, num_classes), arrays["expected"], mistakes=stored_mistakes(arrays))
    top = int(labels.max())
    _value_error(fn, labels.copy(), top, f"the label {top} is outside [0, {top})")
    advice = 'e.g. "labels must be integers: cast with `.astype(int)`"'
    err = _value_error(fn, labels.astype(np.float64), num_classes,
                       f"the labels are floats, not integers; refuse them ({advice}) instead of casting them silently")
    if "int" not in str(err).lower():
        raise CheckFailed(f"{fn.__name__}: the ValueError for float labels must tell the caller what to do ({advice}); "
                          f"yours says {str(err)!r}.")
    call(fn, labels[:0].copy(), num_classes)
    passed(f"{fn.__name__}: one 1 per row in the label's column; out-of-range and float labels raise ValueError")
