"""Week 4, the residual block (residual_block_forward/backward): the visible checks and the probe of the hidden
cases, which drive the student's block on two fresh ``bn_params`` dicts per run (their running statistics are
state, recorded after every call) and, for the backward cases, hand the forward's cache to the student's backward.

The block's contract: ``residual_block_forward(x, params, bn_params) -> (out, cache)`` with x (N, C, H, W),
params the dict of PARAM_KEYS and bn_params a list of two bn_param dicts; ``residual_block_backward(dout, cache)
-> (dx, grads)`` with grads a dict of the same keys as params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.checks.w04_batchnorm import RUNNING_STATS, missing_forward, pair_of, run_entry, running_of
from dlfs.grading import probe, record

__all__ = ["residual_block_forward", "residual_block_backward"]

PARAM_KEYS = ("w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2")
RESIDUAL_HINT = ("h = relu(bn1(conv1(x))), out = relu(x + bn2(conv2(h))): both convolutions 3x3 with stride 1 and "
                 "pad 1 (conv_forward_fast), bn1 with params gamma1, beta1 and bn_params[0], bn2 with gamma2, beta2 "
                 "and bn_params[1] (spatial_batchnorm_forward).")
RESIDUAL_BACKWARD_HINT = ("dz = dout * (x + bn2(...) > 0); the branch gets dz through bn2, conv2, the ReLU mask of h, "
                          "bn1 and conv1; dx = dz + (the branch's gradient at x).")
RUNNING_HINT = ("each batch normalisation updates its own dict in train mode: bn1 bn_params[0], bn2 bn_params[1] "
                "(pass the dicts themselves to spatial_batchnorm_forward, not copies); test mode only reads them.")


def _same(a: Any, b: Any) -> bool:
    return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


# ---- the probe of the hidden cases -----------------------------------------------------------------------------


def drive(forward: Callable | None, backward: Callable | None, inputs: dict) -> dict:
    """Per run, forward calls on ONE fresh list of two bn_param dicts (both modes set before each call): out,
    whether it was the pair (out, cache), both dicts' running statistics after the call, the inputs changed in
    place; with ``dout``, the backward's result on the last call's cache and whether it changed dout."""
    if forward is None:
        forward = missing_forward
    runs = []
    for run in inputs["runs"]:
        bn_params = [{key: value.copy() if isinstance(value, np.ndarray) else value for key, value in p.items()}
                     for p in run["bn_params"]]
        calls, cache, usable = [], None, False
        for x, mode in run["calls"]:
            for bn_param in bn_params:
                bn_param["mode"] = mode
            given_x, params = x.copy(), {key: value.copy() for key, value in run["params"].items()}
            result = record(forward, given_x, params, bn_params)
            out, cache, usable = pair_of(result)
            changed = (["x"] if not _same(x, given_x) else []) + [
                f"params[{key!r}]" for key, value in run["params"].items() if not _same(value, params.get(key))]
            calls.append({"out": out, "pair": usable, "changed": changed,
                          "running": [running_of(p) for p in bn_params]})
            if not usable:
                break
        runs.append(run_entry(run, calls, cache, usable, backward))
    return {"runs": runs}


@probe("w04_residual_block_forward")
@probe("w04_residual_block_test_mode")
def _forward_probe(forward: Callable, *, inputs: dict) -> dict:
    """``check("w04_residual_block_<...>", residual_block_forward)``: the forward calls of every run."""
    return drive(forward, None, inputs)


@probe("w04_residual_block_backward")
@probe("w04_residual_block_param_grads")
def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_residual_block_<...>", residual_block_backward, residual_block_forward)``: the forward calls,
    then the backward on the last cache of each run."""
    return drive(forward, backward, inputs)


# ---- visible checks --------------------------------------------------------------------------------------------


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def _params(a: dict) -> dict:
    return {key: a[key].copy() for key in PARAM_KEYS}


def _forward(fn: Callable, a: dict, x: np.ndarray, bn_params: list, label: str) -> tuple[Any, Any]:
    """Call the block on stored arrays; check the pair and that it left x and params alone."""
    name = _name(fn, "residual_block_forward")
    given_x, params = x.copy(), _params(a)
    out, cache = unpack(name, call(fn, given_x, params, bn_params), "out", "cache")
    for argument, before, after in [("x", x, given_x)] + [(f"params[{k!r}]", a[k], params.get(k)) for k in PARAM_KEYS]:
        if not _same(before, after):
            raise CheckFailed(f"{name} changed its input `{argument}` in place ({label}); work on new arrays.")
    return out, cache


def residual_block_forward(fn: Callable) -> None:
    """Check ``residual_block_forward`` on a stored block with x of shape (2, 3, 5, 4): the train-mode output, the
    running averages of both bn_params, then the test-mode output with them."""
    a = fixture("w04_residual_forward")
    name = _name(fn, "residual_block_forward")
    bn_params = [{"mode": "train"}, {"mode": "train"}]
    out, _ = _forward(fn, a, a["x"], bn_params, "train mode")
    check_array(f"{name} in train mode", out, a["expected_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_out"), hint=RESIDUAL_HINT)
    for k, bn_param in enumerate(bn_params):
        for key in RUNNING_STATS:
            if not isinstance(bn_param.get(key), np.ndarray):
                raise CheckFailed(f"{name}: bn_params[{k}][{key!r}] is {type(bn_param.get(key)).__name__} after a "
                                  f"training batch. Hint: {RUNNING_HINT}")
            check_array(f"{name}: bn_params[{k}][{key!r}] after one training batch", bn_param[key],
                        a[f"expected_{key}{k}"], rtol=1e-7, atol=1e-12, mistakes=stored_mistakes(a, f"_{key}{k}"),
                        hint=RUNNING_HINT)
    for bn_param in bn_params:
        bn_param["mode"] = "test"
    out, _ = _forward(fn, a, a["x_test"], bn_params, "test mode")
    check_array(f"{name} in test mode", out, a["expected_test_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_test"), hint="in test mode both batch normalisations use their "
                "running averages: " + RESIDUAL_HINT)
    passed(f"{name}: train-mode output, the running averages of both bn_params and the test-mode output match")


def residual_block_backward(backward: Callable, forward: Callable) -> None:
    """Check dx and the gradients of the 8 parameters on a stored block with x of shape (2, 3, 4, 4) after a
    train-mode forward. Call as ``checks.residual_block_backward(residual_block_backward, residual_block_forward)``."""
    a = fixture("w04_residual_backward")
    name = _name(backward, "residual_block_backward")
    out, cache = _forward(forward, a, a["x"], [{"mode": "train"}, {"mode": "train"}], "train mode")
    check_array(f"{_name(forward, 'residual_block_forward')} (whose cache the backward uses)", out, a["expected_out"],
                rtol=1e-7, atol=1e-10, hint="fix the forward first: " + RESIDUAL_HINT)
    dout = a["dout"].copy()
    dx, grads = unpack(name, call(backward, dout, cache), "dx", "grads")
    if not np.array_equal(dout, a["dout"]):
        raise CheckFailed(f"{name} changed its input `dout` in place; work on new arrays.")
    check_array(f"{name}: dx", dx, a["expected_dx"], rtol=1e-6, atol=1e-10, mistakes=stored_mistakes(a, "_dx"),
                hint=RESIDUAL_BACKWARD_HINT)
    if not isinstance(grads, dict) or set(PARAM_KEYS) - set(grads):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise CheckFailed(f"{name}: grads must be a dict with the keys of params, {list(PARAM_KEYS)}; got {got}.")
    for key in PARAM_KEYS:
        check_array(f"{name}: grads[{key!r}]", grads[key], a[f"expected_d{key}"], rtol=1e-6, atol=1e-10,
                    mistakes=stored_mistakes(a, f"_d{key}"), hint=RESIDUAL_BACKWARD_HINT)
    passed(f"{name}: dx and the gradients of {', '.join(PARAM_KEYS)} match")
