"""Week 5, the transformer's small layers (layer norm, token embeddings, sinusoidal positions): the visible checks,
and the probe of the hidden backward cases, which run the student's forward to get a cache and hand it to the
student's backward.

Contracts: ``layernorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)`` with x (..., D) and gamma, beta (D,);
``layernorm_backward(dout, cache) -> (dx, dgamma, dbeta)``; ``embedding_forward(idx, W) -> (out, cache)`` with idx
integers of any shape and W (V, D), out idx.shape + (D,); ``embedding_backward(dout, cache) -> dW`` (V, D);
``positional_encoding(T, d) -> PE`` (T, d).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, probe, record

__all__ = ["layernorm_forward", "layernorm_backward", "embedding_forward", "embedding_backward", "positional_encoding"]

LAYERNORM_HINT = (
    "normalise each vector along the last axis: mean and variance (ddof=0) with axis=-1, keepdims=True; "
    "x_hat = (x - mean) / np.sqrt(var + eps) and out = gamma * x_hat + beta."
)
CONSTANT_HINT = (
    "a constant vector has variance 0: x - mean is 0 there, and dividing by np.sqrt(var + eps) (eps "
    "inside the root) gives x_hat = 0 and out = beta, where dividing by the bare standard deviation "
    "gives 0 / 0 = NaN."
)
LAYERNORM_BACKWARD_HINT = (
    "with g = dout * gamma and means along the last axis (axis=-1, keepdims=True): dx = (g - "
    "mean(g) - x_hat * mean(g * x_hat)) / np.sqrt(var + eps); dgamma = sum of dout * x_hat and "
    "dbeta = sum of dout over every leading axis, axis=tuple(range(dout.ndim - 1))."
)
EMBEDDING_HINT = (
    "out = W[idx]: integer-array indexing picks row idx[...] of W for every entry of idx, which gives the shape idx.shape + (D,)."
)
EMBEDDING_BACKWARD_HINT = (
    "start from zeros of W's shape (V, D) and add every row of dout into the row its index "
    "names: np.add.at(dW, idx, dout) also adds when an index repeats."
)
PE_HINT = (
    "PE[t, 2i] = sin(t / 10000**(2i / d)) and PE[t, 2i + 1] = cos(t / 10000**(2i / d)) for t = 0, ..., T - 1, "
    "in float64; for odd d the last column (index d - 1) is a sine."
)


# ---- the probe of the hidden backward cases --------------------------------------------------------------------


def forward_then_backward(backward: Callable, forward: Callable | None, problem: dict) -> dict:
    """Run ``forward(*args, **kwargs)``, then ``backward(dout, cache)`` on its cache; record the forward's ``out``
    and the backward's result (or what failed), and which arrays (the args, then ``dout``) either call changed."""
    args, kwargs, dout = list(problem["args"]), dict(problem.get("kwargs", {})), problem["dout"]
    arrays = [*args, dout]
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in arrays]
    if forward is None:
        entry: dict = {"forward": Raised("TypeError", "no forward function was passed to check(case, backward, forward)")}
    else:
        result = record(forward, *args, **kwargs)
        if isinstance(result, Raised):
            entry = {"forward": result}
        elif not (isinstance(result, tuple | list) and len(result) == 2):
            entry = {"not_pair": type(result).__name__}
        else:
            entry = {"out": result[0], "grads": record(backward, dout, result[1])}
    entry["changed"] = [
        i for i, (old, new) in enumerate(zip(before, arrays)) if old is not None and not np.array_equal(old, new, equal_nan=True)
    ]
    return entry


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w05_<layer>_backward...", backward, forward)``: each problem's forward output and gradients."""
    return {"problems": [forward_then_backward(backward, forward, p) for p in inputs["problems"]]}


for _case in ("w05_layernorm_backward", "w05_layernorm_param_grads", "w05_embedding_backward", "w05_embedding_backward_repeats"):
    probe(_case)(_backward_probe)


# ---- visible checks --------------------------------------------------------------------------------------------


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def tolerances(*arrays: np.ndarray, scale: float, gradient: bool = False) -> tuple[float, float]:
    """(rtol, atol) of an output or a gradient: float32 inputs get float32 tolerances; atol is relative to the largest
    expected value, so entries that cancel to about 0 are judged on the array's scale (also the hidden cases')."""
    scale = max(scale, 1.0)
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return (1e-4, 1e-4 * scale) if gradient else (1e-5, 1e-5 * scale)
    return (1e-6, 1e-9 * scale) if gradient else (1e-7, 1e-10 * scale)


def _forward_out(fn: Callable, name: str, arrays: dict, keys: tuple[str, ...], label: str) -> tuple:
    """Call a forward on stored arrays; check it returns a pair and leaves its inputs alone; return the pair."""
    args = [arrays[k].copy() for k in keys]
    out, cache = unpack(name, call(fn, *args), "out", "cache")
    for key, arg in zip(keys, args):
        check_unchanged(f"{name} on {label}", arrays[key], arg, key.rstrip("0123456789"))
    return out, cache


def layernorm_forward(fn: Callable) -> None:
    """Check ``layernorm_forward(x, gamma, beta)`` on a stored (2, 3, 5) batch whose vector x[1, 2] is constant
    (variance 0), then a (4, 6) one."""
    a = fixture("w05_layernorm_forward")
    name = _name(fn, "layernorm_forward")
    for suffix, what in (("3", "x of shape (2, 3, 5) with a constant vector x[1, 2]"), ("2", "x of shape (4, 6)")):
        out, _ = _forward_out(fn, name, a, (f"x{suffix}", f"gamma{suffix}", f"beta{suffix}"), what)
        expected = a[f"expected_out{suffix}"]
        rtol, atol = tolerances(a[f"x{suffix}"], scale=float(np.abs(expected).max()))
        check_array(
            f"{name} on {what}",
            out,
            expected,
            rtol=rtol,
            atol=atol,
            mistakes=stored_mistakes(a, f"_{suffix}"),
            hint=CONSTANT_HINT if suffix == "3" else LAYERNORM_HINT,
        )
    passed(f"{name}: each vector of the last axis normalised, on (2, 3, 5) with a constant vector and on (4, 6)")


def layernorm_backward(backward: Callable, forward: Callable) -> None:
    """Check dx, dgamma and dbeta on a stored x of shape (2, 3, 4). Call as
    ``checks.layernorm_backward(layernorm_backward, layernorm_forward)``."""
    a = fixture("w05_layernorm_backward")
    name, forward_name = _name(backward, "layernorm_backward"), _name(forward, "layernorm_forward")
    out, cache = _forward_out(forward, forward_name, a, ("x", "gamma", "beta"), "x of shape (2, 3, 4)")
    check_array(
        f"{forward_name} (whose cache the backward uses)",
        out,
        a["expected_out"],
        rtol=1e-7,
        atol=1e-10,
        hint="fix the forward first: " + LAYERNORM_HINT,
    )
    dout = a["dout"].copy()
    grads = unpack(name, call(backward, dout, cache), "dx", "dgamma", "dbeta")
    check_unchanged(name, a["dout"], dout, "dout")
    for part, got in zip(("dx", "dgamma", "dbeta"), grads):
        expected = a[f"expected_{part}"]
        rtol, atol = tolerances(a["x"], scale=float(np.abs(expected).max()), gradient=True)
        check_array(
            f"{name}: {part}",
            got,
            expected,
            rtol=rtol,
            atol=atol,
            mistakes=stored_mistakes(a, f"_{part}"),
            hint=LAYERNORM_BACKWARD_HINT,
        )
    passed(f"{name}: dx, dgamma and dbeta match on x of shape {a['x'].shape}")


def embedding_forward(fn: Callable) -> None:
    """Check ``embedding_forward(idx, W)`` on stored indices of shape (5,) and (2, 5), with repeats."""
    a = fixture("w05_embedding_forward")
    name = _name(fn, "embedding_forward")
    for suffix in ("1", "2"):
        what = f"idx of shape {a[f'idx{suffix}'].shape} and W of shape {a['W'].shape}"
        out, _ = _forward_out(fn, name, a, (f"idx{suffix}", "W"), what)
        check_array(
            f"{name} on {what}", out, a[f"expected_out{suffix}"], mistakes=stored_mistakes(a, f"_{suffix}"), hint=EMBEDDING_HINT
        )
    passed(f"{name}: one row of W per index, out of shape idx.shape + (D,)")


def embedding_backward(backward: Callable, forward: Callable) -> None:
    """Check dW on stored indices of shape (2, 5) in which some tokens repeat and the last token of the vocabulary
    is unused. Call as ``checks.embedding_backward(embedding_backward, embedding_forward)``."""
    a = fixture("w05_embedding_backward")
    name, forward_name = _name(backward, "embedding_backward"), _name(forward, "embedding_forward")
    what = f"idx of shape {a['idx'].shape} and W of shape {a['W'].shape}"
    _, cache = _forward_out(forward, forward_name, a, ("idx", "W"), what)
    dout = a["dout"].copy()
    dW = call(backward, dout, cache)
    check_unchanged(name, a["dout"], dout, "dout")
    check_array(
        f"{name} on {what} (tokens {sorted(set(a['repeated'].tolist()))} repeat)",
        dW,
        a["expected_dW"],
        rtol=1e-7,
        atol=1e-12,
        mistakes=stored_mistakes(a),
        hint=EMBEDDING_BACKWARD_HINT,
    )
    passed(f"{name}: repeated tokens accumulate their gradients, unused tokens get zero rows")


def positional_encoding(fn: Callable) -> None:
    """Check ``positional_encoding(T, d)`` for (T, d) = (12, 8) and (5, 7) (odd d)."""
    a = fixture("w05_positional_encoding")
    name = _name(fn, "positional_encoding")
    for suffix in ("even", "odd"):
        T, d = (int(v) for v in a[f"size_{suffix}"])
        PE = call(fn, T, d)
        if isinstance(PE, np.ndarray) and PE.dtype == np.float32:
            raise CheckFailed(
                f"{name}({T}, {d}) returned float32: compute in float64 (np.arange gives integers, and "
                "dividing them gives float64)."
            )
        check_array(
            f"{name}({T}, {d})",
            PE,
            a[f"expected_{suffix}"],
            rtol=1e-7,
            atol=1e-10,
            mistakes=stored_mistakes(a, f"_{suffix}"),
            hint=PE_HINT,
        )
    passed(f"{name}: sines in the even columns, cosines in the odd ones, odd d included")
