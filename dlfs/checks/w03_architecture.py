"""Week 3, architectures (count_params, receptive_field): the visible checks, and the probe of the hidden cases
(each architecture passed as a list of layer dicts; the result recorded, and whether the list was changed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, fixture, passed, stored_mistakes
from dlfs.grading import probe, record

__all__ = ["count_params", "receptive_field"]

COUNT_HINT = ("conv: F * C * K**2 weights + F biases (no biases with \"bias\": False); dense: D * M + M (likewise); "
              "relu, flatten and the pools: 0.")
FIELD_HINT = ("start from r = 1, j = 1; for each conv or pool (window k, stride s): r += (k - 1) * j, then j *= s; stop "
              "at the first flatten or dense.")
DEFAULTS_HINT = ("the optional keys may be missing: read them with layer.get(key, default) (conv: stride 1, pad 0, "
                 "bias True; dense: bias True; pools: stride = k).")
CHANGED = ("changed its input `layers` in place (a setdefault or an assignment into a layer dict?): read the "
           "optional keys with layer.get(key, default) and leave the dicts as they are.")


def describe(layers: list[dict]) -> str:
    """A short text of an architecture: ``conv 1->16 k3 p1, relu, maxpool k2 s2, flatten, dense 1568->10``."""
    parts = []
    for layer in layers:
        kind = layer.get("type", "?")
        text = kind
        if kind in ("conv", "dense"):
            text += f" {layer.get('in')}->{layer.get('out')}"
        if "k" in layer:
            text += f" k{layer['k']}"
        text += "".join(f" {key[0]}{layer[key]}" for key in ("stride", "pad") if key in layer)
        if layer.get("bias", True) is False:
            text += " no bias"
        parts.append(text)
    return ", ".join(parts) or "no layers"


def integer_problem(value: Any) -> str | None:
    """What is wrong with a result that must be one integer (None: nothing). A 0-d integer array (an np.int64
    after the exchange) is an integer."""
    if value is None:
        return "returned None: did you forget the `return` statement?"
    scalar = isinstance(value, int | float | np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0)
    kind = np.asarray(value).dtype.kind if scalar else ""
    shown = np.asarray(value).item() if kind in ("b", "f") else value
    if kind == "b":
        return f"returned a boolean ({shown!r}); return an int."
    if kind == "f":
        return (f"returned a float ({shown!r}); the answer is a whole number: keep to integer arithmetic (no `/`, "
                "no math.pow) or return int(...).")
    if kind not in ("i", "u"):
        return f"returned a {type(value).__name__}; return one int."
    return None


def _results(fn: Callable, a: dict) -> tuple[list[dict], list[int]]:
    architectures = json.loads(str(a["layers"]))
    got = []
    for label, layers in zip(a["names"], architectures):
        before = copy.deepcopy(layers)
        try:
            value = call(fn, layers)
        except CheckFailed as err:
            if isinstance(err.__cause__, KeyError):  # an optional key read with layer[key]
                raise CheckFailed(f"{err} Hint: {DEFAULTS_HINT}") from err.__cause__
            raise
        if not _unchanged(layers, before):
            raise CheckFailed(f"{fn.__name__} on {label} {CHANGED}")
        problem = integer_problem(value)
        if problem:
            raise CheckFailed(f"{fn.__name__} on {label} {problem}")
        got.append(int(value))
    return architectures, got


def _compare(fn: Callable, a: dict, hint: str) -> list[int]:
    architectures, got = _results(fn, a)
    want = [int(v) for v in a["expected"]]
    if got != want:
        for mistake in stored_mistakes(a):
            if [int(v) for v in mistake.output] == got:
                raise CheckFailed(f"{fn.__name__}: {mistake.message}")
        i = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        raise CheckFailed(f"{fn.__name__} on {a['names'][i]} ({describe(architectures[i])}): expected {want[i]}, got "
                          f"{got[i]}. Hint: {hint}")
    return got


def count_params(fn: Callable) -> None:
    """Check the parameter counts of stored architectures (the week-3 CNN, LeNet-5, biases switched off, ...)."""
    got = _compare(fn, fixture("w03_count_params"), COUNT_HINT)
    passed(f"{fn.__name__}: {len(got)} architectures counted right, from {min(got):,} to {max(got):,} parameters")


def receptive_field(fn: Callable) -> None:
    """Check the receptive fields of stored architectures (strides, pools, layers after a flatten, ...)."""
    got = _compare(fn, fixture("w03_receptive_field"), FIELD_HINT)
    passed(f"{fn.__name__}: {len(got)} receptive fields right, from {min(got)} to {max(got)} pixels")


# ---- the probe of the hidden cases -----------------------------------------------------------------------


def _unchanged(layers: Any, before: Any) -> bool:
    try:
        return bool(layers == before)
    except Exception:  # a layer holding an array compares elementwise: that is a change
        return False


def _layer_calls(fn: Callable, *args: Any, inputs: dict) -> dict:
    """``fn(layers)`` for each architecture sent: its result (or exception), and [0] when the list was changed."""
    results, changed = [], []
    for layers in inputs["architectures"]:
        before = copy.deepcopy(layers)
        results.append(record(fn, layers))
        changed.append([] if _unchanged(layers, before) else [0])
    return {"results": results, "changed": changed}


for _case in ("w03_count_params_networks", "w03_count_params_edge_cases", "w03_receptive_field_networks",
              "w03_receptive_field_edge_cases"):
    probe(_case)(_layer_calls)
