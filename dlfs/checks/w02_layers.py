"""Week 2, the layers (affine, ReLU, sigmoid, tanh): the visible checks, and the probe of the hidden
backward cases, which run the student's forward to get a cache and hand it to the student's backward.

The contract of every layer: ``forward(...) -> (out, cache)``, ``backward(dout, cache) -> grads``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, Unsupported, probe, record

__all__ = ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "sigmoid_forward",
           "sigmoid_backward", "tanh_forward", "tanh_backward"]

AFFINE_HINT = "flatten each example with x.reshape(x.shape[0], -1), then out = x_flat @ w + b."
AFFINE_BACKWARD_HINT = ("dx = dout @ w.T reshaped to x's shape, dw = x_flat.T @ dout, db = dout.sum(axis=0).")
RELU_HINT = "out = max(x, 0) elementwise; the gradient passes where x > 0 and is 0 where x <= 0."
SIGMOID_HINT = ("exp(-x) overflows for x around -1000: use 1 / (1 + exp(-x)) where x >= 0 and "
                "exp(x) / (1 + exp(x)) where x < 0 (np.where, each branch on its own entries), or 0.5 * (1 + tanh(x / 2)).")
SIGMOID_BACKWARD_HINT = "sigmoid'(x) = out * (1 - out), with out the forward's output: dx = dout * out * (1 - out)."
TANH_BACKWARD_HINT = "tanh'(x) = 1 - out**2, with out the forward's output: dx = dout * (1 - out**2)."

#: The forward each backward needs for its cache, by the name the notebook gives it.
FORWARD_OF = {"affine_backward": "affine_forward", "relu_backward": "relu_forward",
              "sigmoid_backward": "sigmoid_forward", "tanh_backward": "tanh_forward"}


# ---- the probe of the hidden backward cases ----------------------------------------------------------


def forward_backward(backward: Callable, forward: Callable | None, args: list, dout: np.ndarray) -> dict:
    """Run ``forward(*args)`` then ``backward(dout, cache)`` and record what came back, which arguments
    either of them changed in place (their positions; ``dout`` is the last), and the forward's failure."""
    before = [np.array(a, copy=True) for a in (*args, dout)]
    if forward is None:
        entry: dict = {"forward": Raised("TypeError", "no forward function was passed to check(...)")}
    else:
        result = record(forward, *args)
        if isinstance(result, Raised):
            entry = {"forward": result}
        elif not (isinstance(result, tuple) and len(result) == 2):
            entry = {"forward": Unsupported(f"a {type(result).__name__} instead of the pair (out, cache)")}
        else:
            entry = {"out": result[0], "grads": record(backward, dout, result[1])}
    entry["changed"] = [i for i, (old, new) in enumerate(zip(before, (*args, dout))) if _changed(old, new)]
    return entry


def _changed(old: np.ndarray, new: object) -> bool:
    """Whether an argument differs from its copy taken before the call (numbers compared with NaN equal to
    NaN; other arguments, such as None or a dict, by equality)."""
    if old.dtype.kind in "biufc":
        return not np.array_equal(old, new, equal_nan=True)
    return not np.array_equal(old, np.array(new, copy=True))


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w02_<layer>_backward", <layer>_backward, <layer>_forward)``: each problem's gradients."""
    return {"problems": [forward_backward(backward, forward, list(p["args"]), p["dout"]) for p in inputs["problems"]]}


for _case in ("w02_affine_backward", "w02_relu_backward", "w02_sigmoid_backward", "w02_tanh_backward"):
    probe(_case)(_backward_probe)


# ---- visible checks ----------------------------------------------------------------------------------


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", "your function")


def _forward(fn: Callable, fixture_name: str, arguments: tuple[str, ...], hint: str, atol: float) -> np.ndarray:
    """Call a forward on the stored inputs; check it returns (out, cache), leaves its inputs alone and
    that out matches; return out."""
    a = fixture(fixture_name)
    name = _name(fn)
    args = [a[k] for k in arguments]
    out, _ = unpack(name, call(fn, *args), "out", "cache")
    fresh = fixture(fixture_name)
    for k, arg in zip(arguments, args):
        check_unchanged(name, fresh[k], arg, k)
    check_array(f"{name}: out", out, a["expected_out"], rtol=1e-7, atol=atol,
                mistakes=stored_mistakes(a, suffix="_out"), hint=hint)
    return out


def _backward(backward: Callable, forward: Callable, fixture_name: str, arguments: tuple[str, ...],
              grads: tuple[str, ...], hint: str) -> None:
    """Run the stored forward-backward pass and compare each gradient with the stored one."""
    a = fixture(fixture_name)
    name = _name(backward)
    args = [a[k] for k in arguments]
    dout = a["dout"]
    out, cache = unpack(_name(forward), call(forward, *args), "out", "cache")
    result = call(backward, dout, cache)
    got = unpack(name, result, *grads) if len(grads) > 1 else (result,)
    fresh = fixture(fixture_name)
    for k, arg in zip((*arguments, "dout"), (*args, dout)):
        check_unchanged(name, fresh[k], arg, k)
    for part, value in zip(grads, got):
        check_array(f"{name}: {part}", value, a[f"expected_{part}"], rtol=1e-6, atol=1e-10,
                    mistakes=stored_mistakes(a, suffix=f"_{part}"), hint=hint)


def affine_forward(fn: Callable) -> None:
    """Check ``affine_forward(x, w, b)`` on a stored x of shape (3, 2, 2, 2): out = x_flat @ w + b."""
    _forward(fn, "w02_layers_affine", ("x", "w", "b"), AFFINE_HINT, 1e-12)
    passed(f"{_name(fn)}: out matches for x of shape (3, 2, 2, 2), flattened to (3, 8)")


def affine_backward(backward: Callable, forward: Callable) -> None:
    """Check ``affine_backward(dout, cache)``, the cache made by ``forward``, on the stored example."""
    _backward(backward, forward, "w02_layers_affine", ("x", "w", "b"), ("dx", "dw", "db"), AFFINE_BACKWARD_HINT)
    passed(f"{_name(backward)}: dx (in x's shape), dw and db match the stored gradients")


def relu_forward(fn: Callable) -> None:
    """Check ``relu_forward(x)`` on stored values, some of them exactly 0."""
    _forward(fn, "w02_layers_relu", ("x",), RELU_HINT, 0.0)
    passed(f"{_name(fn)}: out matches")


def relu_backward(backward: Callable, forward: Callable) -> None:
    """Check ``relu_backward(dout, cache)`` on stored values, some of them exactly 0 (gradient 0 there)."""
    _backward(backward, forward, "w02_layers_relu", ("x",), ("dx",), RELU_HINT)
    passed(f"{_name(backward)}: dx matches, 0 where x <= 0")


def sigmoid_forward(fn: Callable) -> None:
    """Check ``sigmoid_forward(x)`` on stored values including -1000 and +1000 (no NaN, no overflow)."""
    out = _forward(fn, "w02_layers_sigmoid", ("x",), SIGMOID_HINT, 1e-14)
    if not np.all(np.isfinite(out)):
        raise CheckFailed(f"{_name(fn)}: the output is not finite. Hint: {SIGMOID_HINT}")
    passed(f"{_name(fn)}: out matches, also at x = -1000 and +1000")


def sigmoid_backward(backward: Callable, forward: Callable) -> None:
    """Check ``sigmoid_backward(dout, cache)`` on the stored example."""
    _backward(backward, forward, "w02_layers_sigmoid", ("x",), ("dx",), SIGMOID_BACKWARD_HINT)
    passed(f"{_name(backward)}: dx matches")


def tanh_forward(fn: Callable) -> None:
    """Check ``tanh_forward(x)`` on stored values."""
    _forward(fn, "w02_layers_tanh", ("x",), "out = np.tanh(x).", 1e-14)
    passed(f"{_name(fn)}: out matches")


def tanh_backward(backward: Callable, forward: Callable) -> None:
    """Check ``tanh_backward(dout, cache)`` on the stored example."""
    _backward(backward, forward, "w02_layers_tanh", ("x",), ("dx",), TANH_BACKWARD_HINT)
    passed(f"{_name(backward)}: dx matches")
