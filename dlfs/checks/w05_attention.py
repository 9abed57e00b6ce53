"""Week 5, attention (softmax_backward, attention_forward/backward, multihead_attention_forward/backward): the
visible checks and the probe of the hidden cases, which call the student's forward on copies of the inputs and,
for the backward cases, hand the forward's cache to the student's backward.

The contracts: ``softmax_backward(dp, p) -> dx``; ``attention_forward(q, k, v, causal=False) -> (out, cache)``
with q (..., T, d), k (..., S, d), v (..., S, dv); ``attention_backward(dout, cache) -> (dq, dk, dv)``;
``multihead_attention_forward(x, params, n_heads, causal=False) -> (out, cache)`` with x (B, T, D) and params
the dict of MHA_KEYS; ``multihead_attention_backward(dout, cache) -> (dx, grads)``, grads a dict of those keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, expect, fixture, passed, stored_mistakes, unpack
from dlfs.grading import probe, record

__all__ = [
    "softmax_backward",
    "attention_forward",
    "attention_forward_causal",
    "attention_backward",
    "attention_backward_causal",
    "multihead_attention_forward",
    "multihead_attention_forward_causal",
    "multihead_attention_backward",
    "multihead_attention_param_grads",
]

MHA_KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")

SOFTMAX_BACKWARD_HINT = (
    "the softmax's Jacobian is diag(p) - p p^T, so dx = p * (dp - sum(dp * p)), the sum along the last axis with keepdims=True."
)
ATTENTION_HINT = (
    "scores = q @ np.swapaxes(k, -1, -2) / sqrt(d) with d = q.shape[-1]; p = softmax(scores) over the "
    "keys (the last axis); out = p @ v. Swap the last two axes of k (k.T would reverse the leading "
    "axes too)."
)
CAUSAL_HINT = (
    "with causal=True, set the scores of the keys after each query (s > t: np.triu(..., k=1)) to -inf, or "
    "-1e9, BEFORE the softmax, so that each query's weights sum to 1 over the keys s <= t; a query always "
    "sees itself."
)
ATTENTION_BACKWARD_HINT = (
    "dv = P^T dout; dP = dout V^T; dS = softmax_backward(dP, P) / sqrt(d); dq = dS k; dk = "
    "dS^T q, where ^T swaps the last two axes (np.swapaxes(a, -1, -2))."
)
MHA_HINT = (
    "q = x @ Wq + bq (k and v likewise); head i takes the columns i*dh:(i+1)*dh, dh = D // n_heads: reshape "
    "(B, T, D) to (B, T, n_heads, dh) and move the heads before T, (B, n_heads, T, dh); attention per head "
    "(scaled by sqrt(dh)); move the heads back, reshape to (B, T, D) and project, out = concat @ Wo + bo."
)
MHA_BACKWARD_HINT = (
    "backpropagate through the output projection, the heads' attention (attention_backward on "
    "(B, n_heads, T, dh)) and the three input projections: dx is the sum of the paths through q, k "
    "and v; each weight's gradient sums x^T d over B and T, each bias's sums d over B and T."
)


# ---- the probe of the hidden cases -----------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        return not (
            isinstance(after, np.ndarray) and after.shape == before.shape and np.array_equal(before, after, equal_nan=True)
        )
    return False


def changed_inputs(names: list[str], given: list, used: list) -> list[str]:
    """The names of the inputs a call changed in place (arrays, and the arrays of a dict such as params)."""
    found = []
    for name, before, after in zip(names, given, used):
        if isinstance(before, dict):
            after = after if isinstance(after, dict) else {}
            found += [f"{name}[{key!r}]" for key, value in before.items() if _changed(value, after.get(key))]
        elif _changed(before, after):
            found.append(name)
    return found


def missing_forward(*args: Any, **kwargs: Any) -> None:
    raise TypeError("no forward function was passed to check(...): check(case, backward, forward)")


def drive(forward: Callable | None, backward: Callable | None, inputs: dict) -> dict:
    """Per run: the forward on copies of the run's arguments (out, whether it returned the pair (out, cache), the
    inputs it changed); when the run sends ``dout`` and a backward is given, the backward's result on that cache
    and whether it changed dout."""
    forward = missing_forward if forward is None else forward
    runs = []
    for run in inputs["runs"]:
        args = [_copy(a) for a in run["args"]]
        result = record(forward, *args, **run["kwargs"])
        pair = isinstance(result, tuple) and len(result) == 2
        entry = {"out": result[0] if pair else result, "pair": pair, "changed": changed_inputs(run["names"], run["args"], args)}
        if pair and backward is not None and run.get("dout") is not None:
            dout = run["dout"].copy()
            entry["grads"] = record(backward, dout, result[1])
            entry["dout_changed"] = _changed(run["dout"], dout)
        runs.append(entry)
    return {"runs": runs}


@probe("w05_attention_forward")
@probe("w05_attention_forward_causal")
@probe("w05_multihead_attention_forward")
@probe("w05_multihead_attention_forward_causal")
def _forward_probe(forward: Callable, *, inputs: dict) -> dict:
    """``check("w05_<...>_forward", forward)``: the forward calls of every run."""
    return drive(forward, None, inputs)


@probe("w05_attention_backward")
@probe("w05_attention_backward_causal")
@probe("w05_multihead_attention_backward")
@probe("w05_multihead_attention_param_grads")
def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w05_<...>", backward, forward)``: the forward calls, then the backward on each run's cache."""
    return drive(forward, backward, inputs)


# ---- visible checks ------------------------------------------------------------------------------------------


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def _forward(fn: Callable, args: tuple, names: tuple, default: str, **kwargs: Any) -> tuple[Any, Any]:
    """Call a forward on copies of stored inputs; check the pair (out, cache) and that the inputs were left alone."""
    name = _name(fn, default)
    used = [_copy(a) for a in args]
    out, cache = unpack(name, call(fn, *used, **kwargs), "out", "cache")
    for argument in changed_inputs(list(names), list(args), used):
        raise CheckFailed(f"{name} changed its input `{argument}` in place; work on new arrays.")
    return out, cache


def softmax_backward(fn: Callable) -> None:
    """Check ``softmax_backward(dp, p)`` on stored (2, 3, 5) arrays, p a softmax of random scores."""
    a = fixture("w05_softmax_backward")
    expect(fn, (a["dp"], a["p"]), a["expected"], mistakes=stored_mistakes(a), rtol=1e-7, atol=1e-12, hint=SOFTMAX_BACKWARD_HINT)
    passed(f"{_name(fn, 'softmax_backward')}: dx matches on arrays of shape {a['p'].shape}")


def _attention_forward(fn: Callable, key: str, causal: bool, hint: str) -> None:
    a = fixture(key)
    name = _name(fn, "attention_forward")
    kwargs = {"causal": True} if causal else {}
    out, _ = _forward(fn, (a["q"], a["k"], a["v"]), ("q", "k", "v"), "attention_forward", **kwargs)
    check_array(
        name + (" with causal=True" if causal else ""),
        out,
        a["expected"],
        rtol=1e-7,
        atol=1e-10,
        mistakes=stored_mistakes(a),
        hint=hint,
    )
    shapes = f"q {a['q'].shape}, k {a['k'].shape}, v {a['v'].shape}"
    passed(f"{name}: out matches{' with the causal mask' if causal else ''} on {shapes}")


def attention_forward(fn: Callable) -> None:
    """Check ``attention_forward(q, k, v)`` on stored q (2, 3, 4), k (2, 5, 4), v (2, 5, 6) (T != S, d != dv)."""
    _attention_forward(fn, "w05_attention_forward", False, ATTENTION_HINT)


def attention_forward_causal(fn: Callable) -> None:
    """Check ``attention_forward(q, k, v, causal=True)`` on stored q, k (2, 5, 4) and v (2, 5, 3)."""
    _attention_forward(fn, "w05_attention_forward_causal", True, CAUSAL_HINT)


def _attention_backward(backward: Callable, forward: Callable, key: str, causal: bool) -> None:
    a = fixture(key)
    name, fname = _name(backward, "attention_backward"), _name(forward, "attention_forward")
    kwargs = {"causal": True} if causal else {}
    out, cache = _forward(forward, (a["q"], a["k"], a["v"]), ("q", "k", "v"), "attention_forward", **kwargs)
    check_array(
        f"{fname} (whose cache the backward uses)",
        out,
        a["expected_out"],
        rtol=1e-7,
        atol=1e-10,
        hint="fix the forward first: " + (CAUSAL_HINT if causal else ATTENTION_HINT),
    )
    dout = a["dout"].copy()
    grads = unpack(name, call(backward, dout, cache), "dq", "dk", "dv")
    if not np.array_equal(dout, a["dout"]):
        raise CheckFailed(f"{name} changed its input `dout` in place; work on new arrays.")
    for part, got in zip(("dq", "dk", "dv"), tuple(grads)):
        check_array(
            f"{name}: {part}",
            got,
            a[f"expected_{part}"],
            rtol=1e-6,
            atol=1e-10,
            mistakes=stored_mistakes(a, f"_{part}"),
            hint=ATTENTION_BACKWARD_HINT,
        )
    shapes = f"q {a['q'].shape}, k {a['k'].shape}, v {a['v'].shape}"
    passed(f"{name}: dq, dk and dv match{' with the causal mask' if causal else ''} on {shapes}")


def attention_backward(backward: Callable, forward: Callable) -> None:
    """Check dq, dk, dv on stored q (2, 3, 4), k (2, 5, 4), v (2, 5, 6). Call as
    ``checks.attention_backward(attention_backward, attention_forward)``."""
    _attention_backward(backward, forward, "w05_attention_backward", False)


def attention_backward_causal(backward: Callable, forward: Callable) -> None:
    """Check dq, dk, dv after a causal forward on stored q, k (2, 5, 4), v (2, 5, 3). Call as
    ``checks.attention_backward_causal(attention_backward, attention_forward)``."""
    _attention_backward(backward, forward, "w05_attention_backward_causal", True)


def _params(a: dict) -> dict:
    return {key: a[key] for key in MHA_KEYS}


def _mha_forward(fn: Callable, key: str, causal: bool) -> str:
    """Check a stored multi-head forward; return the pass message."""
    a = fixture(key)
    name = _name(fn, "multihead_attention_forward")
    n_heads = int(a["n_heads"])
    kwargs = {"causal": True} if causal else {}
    out, _ = _forward(fn, (a["x"], _params(a), n_heads), ("x", "params", "n_heads"), name, **kwargs)
    check_array(
        f"{name} with n_heads={n_heads}" + (", causal=True" if causal else ""),
        out,
        a["expected"],
        rtol=1e-7,
        atol=1e-10,
        mistakes=stored_mistakes(a),
        hint=(CAUSAL_HINT + " ") * causal + MHA_HINT,
    )
    return f"{name}: out matches on x of shape {a['x'].shape} with {n_heads} heads" + (" and the causal mask" * causal)


def multihead_attention_forward(fn: Callable) -> None:
    """Check ``multihead_attention_forward(x, params, 2)`` on a stored x (2, 3, 8), then that 3 heads for D = 8
    raise ValueError."""
    message = _mha_forward(fn, "w05_multihead_forward", False)
    a = fixture("w05_multihead_forward")
    name = _name(fn, "multihead_attention_forward")
    try:
        fn(a["x"], _params(a), 3)
    except ValueError:
        pass
    except Exception as err:
        raise CheckFailed(
            f"{name}(x, params, n_heads=3) with D = 8 must raise ValueError (8 columns cannot be split "
            f"into 3 heads), not {type(err).__name__} ({err})."
        ) from err
    else:
        raise CheckFailed(
            f"{name}(x, params, n_heads=3) with D = 8 must raise ValueError: 8 columns cannot be split "
            "into 3 heads of equal width; check D % n_heads first."
        )
    passed(message + "; n_heads=3 for D = 8 raises ValueError")


def multihead_attention_forward_causal(fn: Callable) -> None:
    """Check ``multihead_attention_forward(x, params, 4, causal=True)`` on a stored x (2, 5, 8)."""
    passed(_mha_forward(fn, "w05_multihead_forward_causal", True))


def _mha_backward(backward: Callable, forward: Callable) -> tuple[dict, Any, Any]:
    a = fixture("w05_multihead_backward")
    name, fname = _name(backward, "multihead_attention_backward"), _name(forward, "multihead_attention_forward")
    n_heads = int(a["n_heads"])
    out, cache = _forward(forward, (a["x"], _params(a), n_heads), ("x", "params", "n_heads"), fname, causal=True)
    check_array(
        f"{fname} (whose cache the backward uses)",
        out,
        a["expected_out"],
        rtol=1e-7,
        atol=1e-10,
        hint="fix the forward first: " + MHA_HINT,
    )
    dout = a["dout"].copy()
    dx, grads = unpack(name, call(backward, dout, cache), "dx", "grads")
    if not np.array_equal(dout, a["dout"]):
        raise CheckFailed(f"{name} changed its input `dout` in place; work on new arrays.")
    return a, dx, grads


def multihead_attention_backward(backward: Callable, forward: Callable) -> None:
    """Check dx after a causal forward with 2 heads on a stored x (2, 4, 8). Call as
    ``checks.multihead_attention_backward(multihead_attention_backward, multihead_attention_forward)``."""
    a, dx, _ = _mha_backward(backward, forward)
    name = _name(backward, "multihead_attention_backward")
    check_array(
        f"{name}: dx", dx, a["expected_dx"], rtol=1e-6, atol=1e-10, mistakes=stored_mistakes(a, "_dx"), hint=MHA_BACKWARD_HINT
    )
    passed(f"{name}: dx matches on x of shape {a['x'].shape} with {int(a['n_heads'])} heads")


def multihead_attention_param_grads(backward: Callable, forward: Callable) -> None:
    """Check the parameter gradients (a dict with the keys of params) on the stored problem of
    ``multihead_attention_backward``; the key bias's gradient is 0 (the softmax ignores a shift common to a row)."""
    a, _, grads = _mha_backward(backward, forward)
    name = _name(backward, "multihead_attention_backward")
    if not isinstance(grads, dict) or sorted(grads) != sorted(MHA_KEYS):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise CheckFailed(f"{name} must return (dx, grads) with grads a dict of the keys {list(MHA_KEYS)}; got {got}.")
    scale = max(float(np.max(np.abs(a[f"expected_{key}"]))) for key in MHA_KEYS)
    for key in MHA_KEYS:
        check_array(
            f"{name}: grads[{key!r}]",
            grads[key],
            a[f"expected_{key}"],
            rtol=1e-6,
            atol=1e-10 * scale,
            mistakes=stored_mistakes(a, f"_{key}"),
            hint=MHA_BACKWARD_HINT,
        )
    passed(
        f"{name}: the gradients of all 8 parameters match (grads['bk'] is 0: a shift common to a row of scores "
        "does not change the softmax)"
    )
