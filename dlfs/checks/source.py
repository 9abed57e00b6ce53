"""Checks on a function's source code: "this version must contain no Python loop".

The syntax tree of the function is searched for ``for``/``while`` loops, comprehensions, generator
expressions, and the calls that hide a Python-level loop (``map``, ``filter``, ``np.vectorize``,
``np.apply_along_axis``, ``np.frompyfunc``, ``np.fromiter``). Vectorised NumPy code contains none.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable

from dlfs.checks import CheckFailed

_LOOP_NODES: dict[type, str] = {
    ast.For: "a `for` loop",
    ast.AsyncFor: "an `async for` loop",
    ast.While: "a `while` loop",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
}
_LOOPING_CALLS = {"map", "filter", "vectorize", "apply_along_axis", "frompyfunc", "fromiter"}


def function_tree(fn: Callable) -> ast.AST:
    """Parse the source of ``fn`` (a function defined with ``def`` in a file or notebook cell)."""
    name = getattr(fn, "__name__", repr(fn))
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError) as err:
        raise CheckFailed(
            f"Could not read the source code of {name}: define it with `def` in a notebook cell "
            "and run that cell again."
        ) from err
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError as err:
        raise CheckFailed(f"Could not parse the source code of {name}: {err}") from err


def loops_in(tree: ast.AST) -> list[str]:
    """Describe every Python-level loop in a syntax tree, e.g. ``"a `for` loop (line 3)"``."""
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if type(node) in _LOOP_NODES:
            found.append(f"{_LOOP_NODES[type(node)]} (line {line})")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _LOOPING_CALLS:
                found.append(f"a call to `{called}`, which loops in Python (line {line})")
    return found


def find_loops(fn: Callable) -> list[str]:
    """Describe every Python-level loop in ``fn``'s source."""
    return loops_in(function_tree(fn))


def no_loops_failure(name: str, loops: list[str]) -> CheckFailed:
    """The failure for a function that must not loop but does."""
    return CheckFailed(
        f"{name} must not contain a Python loop, but it has {', '.join(loops)}. "
        "Express the computation with whole-array operations (broadcasting, matrix products)."
    )


def check_no_loops(fn: Callable) -> None:
    """Fail with the list of loops when ``fn``'s source contains any."""
    loops = find_loops(fn)
    if loops:
        raise no_loops_failure(getattr(fn, "__name__", repr(fn)), loops)
