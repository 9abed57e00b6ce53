"""The visible-check framework: what the check cells of every assignment call.

A check either prints one line starting with a tick, or raises :class:`CheckFailed` (an
``AssertionError``, so nbgrader counts it as a failed test) with a message that says which function,
what was expected and what came back (shape, dtype, the largest error and where it is), and a hint.
When the output matches a *known mistake* for the task (squared distances instead of distances, a
transposed result, ...), the message names that mistake instead of printing numbers only.

The expected values come from fixtures stored with the library (``dlfs/fixtures/*.npz``), made by the
instructor's reference code; the reference code itself is not part of what students receive.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.numerics import max_rel_error_location

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures"


class CheckFailed(AssertionError):
    """A check found a wrong answer; the message says what is wrong and what to try.

    ``mistake`` is the name of the known mistake the answer matched, if any (counted in the class report).
    """

    def __init__(self, message: str = "", mistake: str | None = None) -> None:
        super().__init__(message)
        self.mistake = mistake


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: what it outputs on the check's inputs and what to tell the student."""

    name: str
    output: np.ndarray
    message: str


def passed(message: str) -> None:
    """Print the one-line pass message of a check."""
    print(f"\u2713 {message}")


@cache
def _fixture(name: str) -> dict[str, np.ndarray]:
    path = FIXTURE_DIR / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"The check fixture {path} is missing: the course library looks incomplete. "
            "Re-install it from the course repository (make lab)."
        )
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def fixture(name: str) -> dict[str, np.ndarray]:
    """The stored arrays of one check, as fresh copies (a student's code may write into its inputs)."""
    return {key: value.copy() for key, value in _fixture(name).items()}


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a student's function, turning a stub or a crash into a clear check failure."""
    name = getattr(fn, "__name__", repr(fn))
    qualified = getattr(fn, "__qualname__", "")
    if "." in qualified and "<" not in qualified:  # a method: Perceptron.fit, not fit
        name = qualified
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise CheckFailed(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code."
        ) from err
    except CheckFailed:
        raise
    except Exception as err:
        raise CheckFailed(
            f"{name} raised {type(err).__name__}: {err}. Run it by hand on a small input to see where."
        ) from err


def _fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _matches(got: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> bool:
    return got.shape == candidate.shape and bool(
        np.all(np.isfinite(got)) and np.allclose(got, candidate, rtol=rtol, atol=atol)
    )


def _named_mistake(
    name: str, got: np.ndarray, mistakes: Sequence[Mistake], rtol: float, atol: float
) -> CheckFailed | None:
    for mistake in mistakes:
        if _matches(got, np.asarray(mistake.output), rtol, atol):
            return CheckFailed(f"{name}: {mistake.message}", mistake=mistake.name)
    return None


def check_array(
    name: str,
    got: Any,
    expected: np.ndarray,
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    mistakes: Sequence[Mistake] = (),
    hint: str = "",
) -> float:
    """Compare a student's output with the expected array; return the max relative error on a pass.

    Passes when every element satisfies ``|got - expected| <= atol + rtol * |expected|``. Otherwise
    raises :class:`CheckFailed`, naming a known mistake when the output matches one, else reporting
    the shape, dtype or the largest error and its index.
    """
    expected = np.asarray(expected)
    tail = f" Hint: {hint}" if hint else ""
    if got is None:
        raise CheckFailed(f"{name} returned None: did you forget the `return` statement?")
    if not isinstance(got, np.ndarray | np.generic | float | int | list | tuple):
        raise CheckFailed(f"{name} returned a {type(got).__name__}; expected a NumPy array.{tail}")
    try:
        got = np.asarray(got)
    except ValueError:  # ragged: e.g. the pair (out, cache) where the output alone was expected
        what = f"a {type(got).__name__} of {len(got)} items"
        raise CheckFailed(f"{name} returned {what} that is not one array; expected a single array of shape "
                          f"{expected.shape} (return the output only, not a pair like (out, cache)).{tail}") from None
    if got.dtype == object or not np.issubdtype(got.dtype, np.number):
        raise CheckFailed(f"{name} returned an array of dtype {got.dtype}; expected numbers.{tail}")
    if got.shape != expected.shape:
        named = _named_mistake(name, got, mistakes, rtol, atol)
        if named:
            raise named
        raise CheckFailed(f"{name}: expected shape {expected.shape}, got {got.shape}.{tail}")
    if np.issubdtype(expected.dtype, np.floating) and not np.issubdtype(got.dtype, np.floating):
        raise CheckFailed(
            f"{name}: expected a floating-point array, got dtype {got.dtype} "
            f"(integer results lose the fractional part).{tail}"
        )
    if got.size == 0:
        return 0.0
    bad = ~np.isfinite(got)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(
            f"{name}: the result contains {'NaN' if np.isnan(got[where]) else 'inf'} "
            f"(first at {_fmt_index(where)}, {int(bad.sum())} in all).{tail}"
        )
    error, where = max_rel_error_location(got.astype(np.float64), expected.astype(np.float64))
    close = np.abs(got.astype(np.float64) - expected) <= atol + rtol * np.abs(expected)
    if not close.all():
        named = _named_mistake(name, got, mistakes, rtol, atol)
        if named:
            raise named
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        raise CheckFailed(
            f"{name}: {int((~close).sum())} of {close.size} values are wrong; max relative error "
            f"{error:.2e} at {_fmt_index(where)}. At {_fmt_index(first)} expected {expected[first].item()!r}, "
            f"got {got[first].item()!r}.{tail}"
        )
    return error


def unpack(name: str, result: Any, *parts: str) -> tuple:
    """The parts of a function's tuple result, or a failure naming what the function must return."""
    if not (isinstance(result, tuple) and len(result) == len(parts)):
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else f"a {type(result).__name__}"
        raise CheckFailed(f"{name} must return a tuple ({', '.join(parts)}); got {got}.")
    return result


def check_unchanged(name: str, before: np.ndarray, after: np.ndarray, argument: str) -> None:
    """Fail when a function wrote into an argument it should only read."""
    if not np.array_equal(before, after):
        raise CheckFailed(
            f"{name} changed its input `{argument}` in place; work on a copy or on new arrays."
        )


def stored_mistakes(arrays: dict[str, np.ndarray], suffix: str = "") -> list[Mistake]:
    """The known mistakes a fixture stores: each ``mistake_<name><suffix>`` output with its diagnosis,
    ``message_<name>`` (the instructor's reference code made both; students receive only the arrays)."""
    found = []
    for key in arrays:
        if key.startswith("message_"):
            name = key.removeprefix("message_")
            if f"mistake_{name}{suffix}" in arrays:
                found.append(Mistake(name, arrays[f"mistake_{name}{suffix}"], str(arrays[key])))
    return found


def expect(
    fn: Callable[..., Any],
    args: Sequence[Any],
    expected: np.ndarray,
    *,
    mistakes: Sequence[Mistake] = (),
    label: str = "",
    rtol: float = 1e-7,
    atol: float = 0.0,
    hint: str = "",
) -> tuple[Any, float]:
    """Call ``fn(*args)``, check it left its array arguments alone, and compare its output.

    ``mistakes`` are the known wrong answers with what they output on ``args``. Returns (output, max
    relative error).
    """
    name = getattr(fn, "__name__", "your function") + (f" on {label}" if label else "")
    before = [arg.copy() if isinstance(arg, np.ndarray) else None for arg in args]
    got = call(fn, *args)
    for position, (old, arg) in enumerate(zip(before, args)):
        if old is not None:
            check_unchanged(name, old, arg, f"argument {position + 1}")
    return got, check_array(name, got, expected, rtol=rtol, atol=atol, mistakes=mistakes, hint=hint)


@cache
def _week(number: int) -> ModuleType:
    """The visible checks of one week: every public name of the modules ``dlfs/checks/w<NN>_*.py``."""
    week = ModuleType(f"dlfs.checks.week{number:02d}", f"The visible checks of week {number}.")
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith(f"w{number:02d}_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for name in getattr(module, "__all__", ()):
                if hasattr(week, name):
                    raise ImportError(f"two week-{number} check modules define {name!r}")
                setattr(week, name, getattr(module, name))
    return week


def __getattr__(name: str) -> ModuleType:
    """``from dlfs.checks import week01 as checks``: the week's checks, found by module name."""
    if re.fullmatch(r"week\d\d", name):
        return _week(int(name[4:]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckFailed",
    "Mistake",
    "call",
    "check_array",
    "check_unchanged",
    "expect",
    "stored_mistakes",
    "unpack",
    "fixture",
    "passed",
]
