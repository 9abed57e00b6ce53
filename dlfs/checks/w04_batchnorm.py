"""Week 4, spatial batch normalisation (spatial_batchnorm_forward/backward): the visible checks and the probe of
the hidden cases, which drive the student's forward on one ``bn_param`` dict per run (its running statistics are
state) and, for the backward cases, hand the forward's cache to the student's backward.

The layer's contract: ``spatial_batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache)`` with x (N, C, H, W)
and gamma, beta (C,); ``spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import probe, record

#: The two running statistics a batch-norm parameter dict carries.
RUNNING_STATS = ("running_mean", "running_var")

__all__ = ["spatial_batchnorm_forward", "spatial_batchnorm_backward"]

SPATIAL_BN_HINT = ("per channel c, mu and var (ddof=0) over the N*H*W values x[:, c, :, :] (axis=(0, 2, 3)); "
                   "x_hat = (x - mu) / sqrt(var + eps), out = gamma * x_hat + beta, with mu, var, gamma, beta "
                   "reshaped to (1, C, 1, 1) to broadcast.")
SPATIAL_BN_BACKWARD_HINT = ("with dx_hat = dout * gamma and means over (N, H, W), axis=(0, 2, 3): dx = (dx_hat - "
                            "mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps); dgamma = sum of "
                            "dout * x_hat and dbeta = sum of dout over axis=(0, 2, 3).")
RUNNING_HINT = ("in train mode, running = momentum * running + (1 - momentum) * batch statistic, written into "
                "bn_param; test mode only reads them.")
ARGUMENTS = ("x", "gamma", "beta")


# ---- the probe of the hidden cases ---------------------------------------------------------------------------


def _fresh(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def running_of(bn_param: Any) -> dict:
    """Copies of bn_param's running statistics (None where a key is missing)."""
    if not isinstance(bn_param, dict):
        return {"running_mean": None, "running_var": None}
    return {key: _fresh(bn_param.get(key)) for key in RUNNING_STATS}


def pair_of(result: Any) -> tuple[Any, Any, bool]:
    """(out, cache, is_pair) of a forward's result; a non-pair is passed on as out, for the judge to name."""
    if isinstance(result, tuple) and len(result) == 2:
        return result[0], result[1], True
    return result, None, False


def drive(forward: Callable | None, backward: Callable | None, inputs: dict) -> dict:
    """Per run, forward calls on ONE fresh bn_param dict (its mode set before each call): out, whether it was the
    pair (out, cache), the running statistics after the call, the arguments changed in place; with ``dout``,
    the backward's result on the last call's cache and whether it changed dout."""
    if forward is None:
        forward = missing_forward
    runs = []
    for run in inputs["runs"]:
        bn_param = {key: _fresh(value) for key, value in run["bn_param"].items()}
        calls, cache, usable = [], None, False
        for x, gamma, beta, mode in run["calls"]:
            bn_param["mode"] = mode
            args = [np.array(a, copy=True) for a in (x, gamma, beta)]
            result = record(forward, *args, bn_param)
            out, cache, usable = pair_of(result)
            changed = [name for name, before, after in zip(ARGUMENTS, (x, gamma, beta), args)
                       if not np.array_equal(before, after, equal_nan=True)]
            calls.append({"out": out, "pair": usable, "running": running_of(bn_param), "changed": changed})
            if not usable:
                break
        runs.append(run_entry(run, calls, cache, usable, backward))
    return {"runs": runs}


def run_entry(run: dict, calls: list, cache: Any, usable: bool, backward: Callable | None) -> dict:
    """A run's answers: its forward calls and, when the run sends ``dout`` and the last forward returned a pair,
    the backward's result on that cache and whether the backward changed dout."""
    entry: dict = {"calls": calls}
    if run.get("dout") is not None and usable and backward is not None:
        dout = run["dout"].copy()
        entry["grads"] = record(backward, dout, cache)
        entry["dout_changed"] = not np.array_equal(dout, run["dout"], equal_nan=True)
    return entry


def missing_forward(*args: Any) -> None:
    raise TypeError("no forward function was passed to check(...): check(case, backward, forward)")


@probe("w04_spatial_batchnorm_forward")
@probe("w04_spatial_batchnorm_test_mode")
def _forward_probe(forward: Callable, *, inputs: dict) -> dict:
    """``check("w04_spatial_batchnorm_<...>", spatial_batchnorm_forward)``: the forward calls of every run."""
    return drive(forward, None, inputs)


@probe("w04_spatial_batchnorm_backward")
@probe("w04_spatial_batchnorm_param_grads")
def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_spatial_batchnorm_<...>", spatial_batchnorm_backward, spatial_batchnorm_forward)``: the forward
    calls, then the backward on the last cache of each run."""
    return drive(forward, backward, inputs)


# ---- visible checks ------------------------------------------------------------------------------------------


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def _forward(fn: Callable, a: dict, x: np.ndarray, bn_param: dict, label: str) -> np.ndarray:
    """Call the forward on stored arrays; check the pair and that it left x, gamma and beta alone."""
    name = _name(fn, "spatial_batchnorm_forward")
    args = [x.copy(), a["gamma"].copy(), a["beta"].copy()]
    out, _ = unpack(name, call(fn, *args, bn_param), "out", "cache")
    for argument, before, after in zip(ARGUMENTS, (x, a["gamma"], a["beta"]), args):
        if not np.array_equal(before, after):
            raise CheckFailed(f"{name} changed its input `{argument}` in place ({label}); work on new arrays.")
    return out


def spatial_batchnorm_forward(fn: Callable) -> None:
    """Check ``spatial_batchnorm_forward`` on a stored batch of shape (4, 3, 5, 6): the train-mode output, the
    running averages it writes into bn_param, then the test-mode output with those averages."""
    a = fixture("w04_batchnorm_forward")
    name = _name(fn, "spatial_batchnorm_forward")
    bn_param = {"mode": "train", "eps": float(a["eps"]), "momentum": float(a["momentum"]),
                "running_mean": a["running_mean"].copy(), "running_var": a["running_var"].copy()}
    out = _forward(fn, a, a["x"], bn_param, "train mode")
    check_array(f"{name} in train mode", out, a["expected_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_out"), hint=SPATIAL_BN_HINT)
    for key in RUNNING_STATS:
        if not isinstance(bn_param.get(key), np.ndarray):
            raise CheckFailed(f"{name}: bn_param[{key!r}] is {type(bn_param.get(key)).__name__} after a training "
                              "batch; write the updated running averages into the dict, bn_param[key] = ...")
        check_array(f"{name}: bn_param[{key!r}] after one training batch", bn_param[key], a[f"expected_{key}"],
                    rtol=1e-7, atol=1e-12, mistakes=stored_mistakes(a, f"_{key}"), hint=RUNNING_HINT)
    bn_param["mode"] = "test"
    out = _forward(fn, a, a["x_test"], bn_param, "test mode")
    check_array(f"{name} in test mode", out, a["expected_test_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_test"),
                hint="in test mode normalise with bn_param's running_mean and running_var, not the batch's statistics.")
    passed(f"{name}: train-mode output, running averages and test-mode output match on x of shape {a['x'].shape}")


def spatial_batchnorm_backward(backward: Callable, forward: Callable) -> None:
    """Check dx, dgamma and dbeta on a stored batch of shape (3, 2, 4, 5) after a train-mode forward. Call as
    ``checks.spatial_batchnorm_backward(spatial_batchnorm_backward, spatial_batchnorm_forward)``."""
    a = fixture("w04_batchnorm_backward")
    name = _name(backward, "spatial_batchnorm_backward")
    out, cache = unpack(_name(forward, "spatial_batchnorm_forward"),
                        call(forward, a["x"], a["gamma"], a["beta"], {"mode": "train"}), "out", "cache")
    check_array(f"{_name(forward, 'spatial_batchnorm_forward')} (whose cache the backward uses)", out,
                a["expected_out"], rtol=1e-7, atol=1e-10, hint="fix the forward first: " + SPATIAL_BN_HINT)
    dout = a["dout"].copy()
    grads = unpack(name, call(backward, dout, cache), "dx", "dgamma", "dbeta")
    if not np.array_equal(dout, a["dout"]):
        raise CheckFailed(f"{name} changed its input `dout` in place; work on new arrays.")
    for part, got in zip(("dx", "dgamma", "dbeta"), grads):
        check_array(f"{name}: {part}", got, a[f"expected_{part}"], rtol=1e-6, atol=1e-10,
                    mistakes=stored_mistakes(a, f"_{part}"), hint=SPATIAL_BN_BACKWARD_HINT)
    passed(f"{name}: dx, dgamma and dbeta match on x of shape {a['x'].shape}")
