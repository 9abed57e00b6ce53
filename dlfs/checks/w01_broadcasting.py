"""Visible checks of week 1's broadcasting drills: softmax, standardize, one_hot."""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import CheckFailed, call, expect, fixture, passed, stored_mistakes

SOFTMAX_MISTAKES = {
    "columns": (
        "your columns sum to 1, not your rows: each row holds one example's scores, so normalise "
        "over axis=1 (with keepdims=True so the sums broadcast back)."
    ),
}
SOFTMAX_HINT = "subtract each row's maximum before np.exp: exp(1000) overflows to inf, and inf/inf is NaN."

STANDARDIZE_MISTAKES = {
    "sample_std": (
        "your result matches standardisation with the *sample* standard deviation (ddof=1); use the "
        "population standard deviation, np.std's default (ddof=0)."
    ),
    "rows": "you standardised each row; standardise each column (a feature) over the rows, axis=0.",
}
STANDARDIZE_HINT = "a constant column has standard deviation 0: divide by (std + eps)."

ONE_HOT_MISTAKES = {
    "transposed": "your result is transposed: one row per label, one column per class, shape (N, num_classes).",
    "shifted": "your ones are one column to the left: label c goes in column c (labels start at 0).",
}


def softmax(fn: Callable) -> None:
    """Check a row-wise softmax on stored scores, one row of which is around 1000."""
    arrays = fixture("w01_softmax")
    expect(fn, (arrays["scores"],), arrays["expected"], messages=SOFTMAX_MISTAKES,
           mistake_outputs=stored_mistakes(arrays, SOFTMAX_MISTAKES), rtol=1e-7, atol=1e-12, hint=SOFTMAX_HINT)
    passed(f"{fn.__name__}: every row is a probability distribution, also for scores around 1000")


def standardize(fn: Callable) -> None:
    """Check column-wise standardisation on stored data with a constant column."""
    arrays = fixture("w01_standardize")
    expect(fn, (arrays["X"],), arrays["expected"], messages=STANDARDIZE_MISTAKES,
           mistake_outputs=stored_mistakes(arrays, STANDARDIZE_MISTAKES), rtol=1e-7, atol=1e-9,
           hint=STANDARDIZE_HINT)
    passed(f"{fn.__name__}: columns have mean 0 and std 1 (the constant column gives 0, not NaN)")


def one_hot(fn: Callable) -> None:
    """Check one-hot encoding on stored labels, and that an out-of-range label is refused."""
    arrays = fixture("w01_one_hot")
    num_classes = int(arrays["num_classes"])
    expect(fn, (arrays["labels"], num_classes), arrays["expected"], messages=ONE_HOT_MISTAKES,
           mistake_outputs=stored_mistakes(arrays, ONE_HOT_MISTAKES))
    try:
        fn(arrays["labels"], int(arrays["labels"].max()))
    except ValueError:
        pass
    except Exception as err:
        raise CheckFailed(f"{fn.__name__}: a label >= num_classes must raise ValueError, not {type(err).__name__}.") from err
    else:
        raise CheckFailed(f"{fn.__name__}: a label >= num_classes must raise ValueError; nothing was raised.")
    call(fn, arrays["labels"][:0], num_classes)
    passed(f"{fn.__name__}: one 1 per row in the label's column; out-of-range labels raise ValueError")
