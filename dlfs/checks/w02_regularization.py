"""Week 2, regularisation (inverted dropout, batch normalisation, the L2 penalty): the visible checks, the
probes of the hidden cases that drive two functions or a dict of state, and the rules any dropout mask must
follow (shared with the hidden cases: dropout may use any random generator, so it is judged by structure).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, probe, record

#: The two running statistics a batch-norm parameter dict carries.
RUNNING_STATS = ("running_mean", "running_var")

__all__ = ["dropout_forward", "dropout_backward", "batchnorm_forward", "batchnorm_backward", "l2_penalty"]

DROPOUT_MISTAKES = {
    "no_rescale": "dropout without rescaling: divide the kept units by 1 - p (inverted dropout), so that the "
                  "expected output equals x.",
    "keep_probability": "you use p as the probability of keeping a unit; here p is the probability of dropping it: "
                        "keep where rng.random(x.shape) >= p and divide by 1 - p.",
    "shared_mask": "every row has the same mask: draw one random number per entry, rng.random(x.shape).",
    "test_drops": "in test mode (train=False) dropout does nothing: return x itself, with no mask.",
    "test_scales": "in test mode (train=False) return x unchanged: inverted dropout already rescaled during "
                   "training, so no factor is needed at test time.",
    "seed": "the same seed gave two different masks: make the generator from the seed, "
            "rng = np.random.default_rng(seed), and draw the mask from it.",
}
DROPOUT_BACKWARD_MISTAKES = {
    "no_scale": "your dx is dout where the unit was kept: multiply by the same mask as the forward, which includes "
                "the factor 1 / (1 - p) (keep the scaled mask in the cache).",
    "new_mask": "your dx uses another mask than the forward's output: keep the forward's mask in the cache and "
                "multiply dout by it; never draw a new one in the backward pass.",
    "test_mask": "after a test-mode forward (train=False) the layer is the identity, so dx = dout.",
}
BATCHNORM_HINT = ("mu and var (ddof=0) over the batch, axis 0; x_hat = (x - mu) / np.sqrt(var + eps); "
                  "out = gamma * x_hat + beta.")
BATCHNORM_BACKWARD_HINT = ("with dx_hat = dout * gamma: dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) "
                           "/ sqrt(var + eps), means over the batch; dgamma = sum(dout * x_hat), dbeta = sum(dout).")
L2_HINT = "penalty = 0.5 * reg * (sum of every W's squared entries); grads = [reg * W for W in weights]."


def _shape(x: np.ndarray) -> str:
    return "x" + "×".join(map(str, x.shape))


# ---- dropout: the rules any mask must follow ---------------------------------------------------------------


def kept_fraction_bounds(p: float, size: int) -> tuple[float, float]:
    """Where the kept fraction of ``size`` independent units, each kept with probability 1 - p, lies
    (six standard deviations, plus one unit, either side of 1 - p)."""
    spread = 6 * math.sqrt(p * (1 - p) / size) + 1 / size
    return 1 - p - spread, 1 - p + spread


def check_dropout_train(name: str, x: np.ndarray, p: float, out: Any) -> np.ndarray:
    """Check a training-mode output: every entry 0 or x / (1 - p), about a fraction 1 - p kept, independent
    entries. Returns the mask out / x (x has no zero entry)."""
    if not isinstance(out, np.ndarray) or out.shape != x.shape:
        raise CheckFailed(f"{name}: out must be an array of x's shape {x.shape}; got "
                          f"{getattr(out, 'shape', type(out).__name__)}.")
    if not np.issubdtype(out.dtype, np.floating) or not np.all(np.isfinite(out)):
        raise CheckFailed(f"{name}: out must hold finite floating-point numbers; got dtype {out.dtype}.")
    rtol = 1e-5 if out.dtype == np.float32 or x.dtype == np.float32 else 1e-9
    ratio = out.astype(np.float64) / x.astype(np.float64)
    dropped = np.abs(ratio) <= rtol
    kept = np.abs(ratio - 1 / (1 - p)) <= rtol / (1 - p)
    if not np.all(dropped | kept):
        for scale, mistake in ((1.0, "no_rescale"), (1 / p if p else 0, "keep_probability")):
            if np.all(dropped | (np.abs(ratio - scale) <= rtol * scale)):
                raise CheckFailed(f"{name}: {DROPOUT_MISTAKES[mistake]}")
        where = tuple(int(i) for i in np.argwhere(~(dropped | kept))[0])
        raise CheckFailed(f"{name}: every entry must be 0 or x / (1 - p); at {list(where)} x = {x[where].item():.6g} "
                          f"and out = {out[where].item():.6g} (p = {p}).")
    if x.shape[0] > 1 and x[0].size >= 50 and 0 < p and np.all(kept == kept[:1]):  # rows of 50+: never by chance
        raise CheckFailed(f"{name}: {DROPOUT_MISTAKES['shared_mask']}")
    low, high = kept_fraction_bounds(p, x.size)
    fraction = float(kept.mean())
    if not low <= fraction <= high:
        if p != 0.5 and abs(fraction - p) <= (high - low) / 2:
            raise CheckFailed(f"{name}: {DROPOUT_MISTAKES['keep_probability']}")
        raise CheckFailed(f"{name}: {fraction:.4f} of the {x.size} units are kept with p = {p}; expected about "
                          f"1 - p = {1 - p:.4f} (between {low:.4f} and {high:.4f}).")
    return np.where(kept, 1 / (1 - p), 0.0)


def check_dropout_test(name: str, x: np.ndarray, p: float, out: Any) -> None:
    """Check a test-mode output: x unchanged."""
    if not isinstance(out, np.ndarray) or out.shape != x.shape:
        raise CheckFailed(f"{name}: out must be an array of x's shape {x.shape}; got "
                          f"{getattr(out, 'shape', type(out).__name__)}.")
    if np.allclose(out, x, rtol=1e-12, atol=0):
        return
    if np.any(out == 0):
        raise CheckFailed(f"{name}: {DROPOUT_MISTAKES['test_drops']}")
    raise CheckFailed(f"{name}: {DROPOUT_MISTAKES['test_scales']}")


def check_dropout_dx(name: str, dout: np.ndarray, mask: np.ndarray, dx: Any, train: bool) -> None:
    """dx must be dout times the forward's mask (dout itself after a test-mode forward)."""
    if not train:
        if isinstance(dx, np.ndarray) and dx.shape == dout.shape and not np.allclose(dx, dout) and np.any(dx == 0):
            raise CheckFailed(f"{name}: {DROPOUT_BACKWARD_MISTAKES['test_mask']}")
        check_array(name, dx, dout, rtol=1e-12, hint=DROPOUT_BACKWARD_MISTAKES["test_mask"])
        return
    if isinstance(dx, np.ndarray) and dx.shape == dout.shape and np.all(np.isfinite(dx)):
        if np.allclose(dx, dout * (mask != 0), rtol=1e-9) and not np.allclose(dx, dout * mask, rtol=1e-9):
            raise CheckFailed(f"{name}: {DROPOUT_BACKWARD_MISTAKES['no_scale']}")
        if not np.array_equal(dx == 0, mask == 0):
            raise CheckFailed(f"{name}: {DROPOUT_BACKWARD_MISTAKES['new_mask']}")
    check_array(name, dx, dout * mask, rtol=1e-7, atol=1e-12, hint="dx = dout * mask, the mask of the forward pass.")


# ---- probes ------------------------------------------------------------------------------------------------


def _out(result: Any) -> Any:
    """The first value of a (out, cache) tuple; anything else (an exception, a wrong type) as it is."""
    return result[0] if isinstance(result, tuple) and len(result) == 2 else result


@probe("w02_dropout_backward")
def _dropout_backward(forward: Callable, backward: Callable, *, inputs: dict) -> dict:
    """Per run: the forward's out and the backward's dx on the same cache; with ``h``, also the forward's
    outputs (same seed) with each entry of x moved by +h and -h."""
    runs = []
    for run in inputs["runs"]:
        x, p, seed, train = run["x"], run["p"], run["seed"], run["train"]
        result = record(forward, x.copy(), p, train=train, seed=seed)
        dx = (record(backward, run["dout"].copy(), result[1]) if isinstance(result, tuple) and len(result) == 2
              else None)
        moved = []
        if run["h"]:
            for index in np.ndindex(x.shape):
                for sign in (1, -1):
                    shifted = x.copy()
                    shifted[index] += sign * run["h"]
                    moved.append(_out(record(forward, shifted, p, train=train, seed=seed)))
        runs.append({"out": _out(result), "dx": dx, "moved": moved})
    return {"runs": runs}


def _copies(values: list) -> list:
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


def _batchnorm_call(forward: Callable, x, gamma, beta, bn_param: dict) -> tuple[Any, Any, list[str]]:
    """One forward call: its result, the running statistics in bn_param afterwards, the arguments it changed."""
    args = _copies([x, gamma, beta])
    result = record(forward, *args, bn_param)
    changed = [name for name, before, after in zip(("x", "gamma", "beta"), (x, gamma, beta), args)
               if not np.array_equal(before, after)]
    running = {key: (bn_param[key].copy() if isinstance(bn_param.get(key), np.ndarray) else bn_param.get(key))
               for key in ("running_mean", "running_var")}
    return result, running, changed


@probe("w02_batchnorm_forward")
@probe("w02_batchnorm_test_mode")
def _batchnorm_forward(forward: Callable, *, inputs: dict) -> dict:
    """Per run, calls on ONE bn_param dict (its mode set before each call): out, running stats after it."""
    runs = []
    for run in inputs["runs"]:
        bn_param, calls = dict(run["bn_param"]), []
        for x, gamma, beta, mode in run["calls"]:
            bn_param["mode"] = mode
            result, running, changed = _batchnorm_call(forward, x, gamma, beta, bn_param)
            calls.append({"out": _out(result), "running": running, "changed": changed})
            if isinstance(result, Raised):
                break
        runs.append(calls)
    return {"runs": runs}


@probe("w02_batchnorm_backward")
def _batchnorm_backward(forward: Callable, backward: Callable, *, inputs: dict) -> dict:
    """Per run: the backward's (dx, dgamma, dbeta) after a train-mode forward; with ``h``, the forward's outputs
    (each with a fresh bn_param) with each entry of x, gamma, beta moved by +h and -h."""
    runs = []
    for run in inputs["runs"]:
        x, gamma, beta = run["x"], run["gamma"], run["beta"]
        result, _, changed = _batchnorm_call(forward, x, gamma, beta, {"mode": "train"})
        grads = (record(backward, run["dout"].copy(), result[1]) if isinstance(result, tuple) and len(result) == 2
                 else result)
        moved = []
        if run["h"]:
            for which in range(3):
                for index in np.ndindex(run[("x", "gamma", "beta")[which]].shape):
                    for sign in (1, -1):
                        args = _copies([x, gamma, beta])
                        args[which][index] += sign * run["h"]
                        moved.append(_out(record(forward, *args, {"mode": "train"})))
        runs.append({"grads": grads, "changed": changed, "moved": moved})
    return {"runs": runs}


@probe("w02_l2_penalty")
def _l2_penalty(fn: Callable, *, inputs: dict) -> dict:
    """Per call: the result, and which of the weights it changed."""
    results, changed = [], []
    for weights, reg in inputs["calls"]:
        given = _copies(list(weights))
        results.append(record(fn, given, reg))
        changed.append([i for i, (a, b) in enumerate(zip(weights, given)) if not np.array_equal(a, b)])
    return {"results": results, "changed": changed}


# ---- the visible checks --------------------------------------------------------------------------------------


def dropout_forward(fn: Callable) -> None:
    """Check inverted dropout on a stored 50×200 input: entries 0 or x/(1-p), about 1-p kept, the same mask for
    the same seed, the identity for p = 0 and in test mode."""
    a = fixture("w02_dropout")
    x, p = a["x"], float(a["p"])
    name = f"{fn.__name__} on x of shape {x.shape}, p = {p}"
    out = unpack(fn.__name__, call(fn, x.copy(), p, train=True, seed=0), "out", "cache")[0]
    given = x.copy()
    again = unpack(fn.__name__, call(fn, given, p, train=True, seed=0), "out", "cache")[0]
    if not np.array_equal(x, given):
        raise CheckFailed(f"{fn.__name__} changed its input `x` in place; return a new array.")
    check_dropout_train(name, x, p, out)
    if not np.array_equal(out, again):
        raise CheckFailed(f"{name}: {DROPOUT_MISTAKES['seed']}")
    check_dropout_test(f"{name}, train=False", x, p, unpack(fn.__name__, call(fn, x, p, train=False), "out", "cache")[0])
    check_array(f"{fn.__name__} with p = 0", unpack(fn.__name__, call(fn, x, 0.0, train=True, seed=1), "out", "cache")[0],
                x, rtol=1e-12, hint="with p = 0 nothing is dropped and 1 - p = 1.")
    passed(f"{fn.__name__}: entries 0 or x/(1-p), kept fraction close to 1-p, same seed same mask, identity at test time")


def dropout_backward(forward: Callable, backward: Callable) -> None:
    """Check that dropout_backward multiplies dout by the forward's mask (stored input, p = 0.4), and passes
    dout through after a test-mode forward. Call as ``checks.dropout_backward(dropout_forward, dropout_backward)``."""
    a = fixture("w02_dropout")
    x, dout = a["x_small"], a["dout_small"]
    name = backward.__name__
    for train in (True, False):
        out, cache = unpack(forward.__name__, call(forward, x, 0.4, train=train, seed=3), "out", "cache")
        dx = call(backward, dout.copy(), cache)
        if train:
            check_dropout_dx(name, dout, check_dropout_train(forward.__name__, x, 0.4, out), dx, True)
        else:
            check_dropout_dx(f"{name} after train=False", dout, np.ones_like(x), dx, False)
    passed(f"{name}: dx = dout * mask with the forward's mask, dx = dout after a test-mode forward")


def _bn_param(a: dict, prefix: str) -> dict:
    return {"mode": "train", "eps": float(a[f"{prefix}eps"]), "momentum": float(a[f"{prefix}momentum"]),
            "running_mean": a[f"{prefix}running_mean"].copy(), "running_var": a[f"{prefix}running_var"].copy()}


def batchnorm_forward(fn: Callable) -> None:
    """Check batch normalisation on a stored batch: the training output, the running averages it updates,
    then the test-mode output with those running averages."""
    a = fixture("w02_batchnorm")
    x, gamma, beta = a["x"], a["gamma"], a["beta"]
    bn_param = _bn_param(a, "")
    name = fn.__name__
    out = unpack(name, call(fn, x, gamma, beta, bn_param), "out", "cache")[0]
    for arg, stored in (("x", a["x"]), ("gamma", a["gamma"]), ("beta", a["beta"])):
        if not np.array_equal({"x": x, "gamma": gamma, "beta": beta}[arg], stored):
            raise CheckFailed(f"{name} changed its input `{arg}` in place; return new arrays.")
    check_array(f"{name} in train mode", out, a["expected_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_out"), hint=BATCHNORM_HINT)
    for key in RUNNING_STATS:
        check_array(f"{name}: bn_param[{key!r}] after one training batch", bn_param.get(key), a[f"expected_{key}"],
                    rtol=1e-7, atol=1e-12, mistakes=stored_mistakes(a, f"_{key}"),
                    hint="running = momentum * running + (1 - momentum) * batch statistic, updated in bn_param.")
    bn_param["mode"] = "test"
    out = unpack(name, call(fn, a["x_test"], gamma, beta, bn_param), "out", "cache")[0]
    check_array(f"{name} in test mode", out, a["expected_test_out"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_test"), hint="in test mode normalise with bn_param's running_mean and "
                "running_var, not with the batch's statistics.")
    passed(f"{name}: train-mode output, running averages and test-mode output match")


def batchnorm_backward(forward: Callable, backward: Callable) -> None:
    """Check dx, dgamma, dbeta on a stored batch after a train-mode forward. Call as
    ``checks.batchnorm_backward(batchnorm_forward, batchnorm_backward)``."""
    a = fixture("w02_batchnorm_backward")
    cache = unpack(forward.__name__, call(forward, a["x"], a["gamma"], a["beta"], {"mode": "train"}), "out", "cache")[1]
    name = backward.__name__
    grads = unpack(name, call(backward, a["dout"].copy(), cache), "dx", "dgamma", "dbeta")
    for part, got in zip(("dx", "dgamma", "dbeta"), grads):
        check_array(f"{name}: {part}", got, a[f"expected_{part}"], rtol=1e-6, atol=1e-10,
                    mistakes=stored_mistakes(a, f"_{part}"), hint=BATCHNORM_BACKWARD_HINT)
    passed(f"{name}: dx, dgamma and dbeta match")


def l2_penalty(fn: Callable) -> None:
    """Check the L2 penalty and its gradients on two stored weight matrices."""
    a = fixture("w02_l2_penalty")
    weights, reg = [a["W0"].copy(), a["W1"].copy()], float(a["reg"])
    name = fn.__name__
    penalty, grads = unpack(name, call(fn, weights, reg), "penalty", "grads")
    if not (np.array_equal(weights[0], a["W0"]) and np.array_equal(weights[1], a["W1"])):
        raise CheckFailed(f"{name} changed the weights in place; return new gradient arrays.")
    check_array(f"{name}: penalty", penalty, a["expected_penalty"], rtol=1e-10, mistakes=stored_mistakes(a, "_penalty"),
                hint=L2_HINT)
    if not isinstance(grads, list | tuple) or len(grads) != 2:
        raise CheckFailed(f"{name}: grads must be a list with one array per weight matrix (2 here).")
    for i, got in enumerate(grads):
        check_array(f"{name}: grads[{i}]", got, a[f"expected_grad{i}"], rtol=1e-10,
                    mistakes=stored_mistakes(a, f"_grad{i}"), hint=L2_HINT)
    passed(f"{name}: penalty and gradients match")
