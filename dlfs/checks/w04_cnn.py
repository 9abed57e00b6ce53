"""Week 4, the CNN trained from scratch: the visible checks of max_pool_forward_fast/backward_fast, init_cnn,
cnn_loss and train_cnn, and the probes of their hidden cases (they call the student's functions on the inputs
sent, or train on the MNIST images at the indices sent, and record what came back)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, Mistake, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.checks.w02_layers import forward_backward
from dlfs.grading import probe, record

#: The two running statistics a batch-norm parameter dict carries.
RUNNING_STATS = ("running_mean", "running_var")

__all__ = ["max_pool_forward_fast", "max_pool_backward_fast", "init_cnn", "cnn_loss", "train_cnn"]

PARAM_KEYS = ("w1", "gamma1", "beta1", "w2", "gamma2", "beta2", "w3", "b3", "w4", "b4")
MNIST_SHAPES = {"w1": (16, 1, 3, 3), "gamma1": (16,), "beta1": (16,), "w2": (32, 16, 3, 3), "gamma2": (32,),
                "beta2": (32,), "w3": (1568, 128), "b3": (128,), "w4": (128, 10), "b4": (10,)}

POOL_HINT = ("start from the slice of offset (0, 0) of every window, x[:, :, 0:S*OH:S, 0:S*OW:S], and take np.maximum "
             "with the slice of each other offset (u, v) of the pool x pool window.")
POOL_BACKWARD_HINT = ("for each offset (u, v) in row-major order, the windows whose maximum sits there and was not "
                      "taken by an earlier offset get their dout: dx[slice of (u, v)] += dout * winner.")
INIT_HINT = ("rng = np.random.default_rng(seed); w1 = rng.standard_normal((16, 1, 3, 3)) * sqrt(2 / 9), "
             "w2 = ... * sqrt(2 / (16 * 9)), w3 = ... * sqrt(2 / 1568), w4 = ... * sqrt(2 / 128); gamma ones, beta, "
             "b3 and b4 zeros.")
LOSS_HINT = ("for each of the two blocks: conv_forward_fast(h, w, zeros, 1, 1), spatial_batchnorm_forward with "
             "bn_params[l], np.maximum(., 0), max_pool_forward_fast(., 2, 2); then a = max(h.reshape(N, -1) @ w3 + b3, 0) "
             "and the scores a @ w4 + b4; each bn_param's mode is 'test' when y is None and 'train' otherwise.")
GRADS_HINT = ("run the layers backwards: dS = (softmax - onehot) / N through the two dense layers (the ReLU's mask "
              "between them), reshape to the pooled maps, then per block max_pool_backward_fast, the ReLU's mask, "
              "spatial_batchnorm_backward and conv_backward_fast.")
RUNNING_HINT = ("spatial_batchnorm_forward in mode 'train' writes running_mean and running_var into the dict it is "
                "given: pass bn_params[0] to the first batch norm and bn_params[1] to the second, and return them.")
TRAIN_HINT = ("each epoch: a fresh permutation of the rows, mini-batches of batch_size, cnn_loss(params, bn_params, "
              "X_batch, y_batch) and one Adam step per parameter; return params and the bn_params cnn_loss updated.")


def history_problem(history: Any, epochs: int, steps: int) -> str | None:
    """Why ``history`` is not one entry per mini-batch in 'loss' and one per epoch in 'train_acc' and 'val_acc'."""
    if not isinstance(history, dict) or not {"loss", "train_acc", "val_acc"} <= history.keys():
        return "history must be a dict with the keys 'loss', 'train_acc' and 'val_acc'."
    lengths = []
    for key in ("loss", "train_acc", "val_acc"):
        try:
            lengths.append(len(history[key]))
        except TypeError:
            return f"history[{key!r}] must be a list."
    if lengths != [steps, epochs, epochs]:
        return (f"history must hold {steps} losses (one per mini-batch) and {epochs} accuracies of each kind (one per "
                f"epoch); got {lengths[0]}, {lengths[1]} and {lengths[2]}.")
    return None


# ---- visible checks ----------------------------------------------------------------------------------------


def _pool_arrays(a: dict, tag: str) -> tuple[np.ndarray, int, int]:
    return a[f"x_{tag}"], int(a[f"pool_{tag}"]), int(a[f"stride_{tag}"])


def max_pool_forward_fast(fn: Callable) -> None:
    """Check the output on two stored inputs with ties: pool 2 (stride 2) and pool 3 with stride 2."""
    a = fixture("w04_cnn_max_pool")
    for tag in ("a", "b"):
        x, size, stride = _pool_arrays(a, tag)
        keep = x.copy()
        out, _ = unpack(fn.__name__, call(fn, x, size, stride), "out", "cache")
        check_unchanged(fn.__name__, keep, x, "x")
        check_array(f"{fn.__name__} on x of shape {x.shape}, pool={size}, stride={stride}", out, a[f"expected_out_{tag}"],
                    rtol=1e-12, mistakes=stored_mistakes(a, f"_out_{tag}"), hint=POOL_HINT)
    passed(f"{fn.__name__}: pool 2 and pool 3 (stride 2) on inputs with ties")


def max_pool_backward_fast(forward: Callable, backward: Callable) -> None:
    """Check dx after your forward on the same two stored inputs (ties: the first maximum; overlaps add up)."""
    a = fixture("w04_cnn_max_pool")
    for tag in ("a", "b"):
        x, size, stride = _pool_arrays(a, tag)
        _, cache = unpack(forward.__name__, call(forward, x, size, stride), "out", "cache")
        dout = a[f"dout_{tag}"]
        keep = dout.copy()
        dx = call(backward, dout, cache)
        check_unchanged(backward.__name__, keep, dout, "dout")
        check_array(f"{backward.__name__} on x of shape {x.shape}, pool={size}, stride={stride}", dx,
                    a[f"expected_dx_{tag}"], rtol=1e-12, mistakes=stored_mistakes(a, f"_dx_{tag}"), hint=POOL_BACKWARD_HINT)
    passed(f"{backward.__name__}: the gradient goes to the first maximum of each window, overlaps add up")


def init_cnn(fn: Callable) -> None:
    """Check keys, shapes, float64, gamma 1, beta 0 and the He scale of init_cnn(seed=0)."""
    a = fixture("w04_cnn_init")
    params = call(fn, seed=0)
    if not isinstance(params, dict) or sorted(params) != sorted(PARAM_KEYS):
        got = ", ".join(sorted(params)) if isinstance(params, dict) else f"a {type(params).__name__}"
        raise CheckFailed(f"{fn.__name__}(seed=0): expected a dict with the keys {', '.join(PARAM_KEYS)}; got {got}.")
    for key, shape in MNIST_SHAPES.items():
        value = np.asarray(params[key])
        if value.shape != shape:
            raise CheckFailed(f"{fn.__name__}: params[{key!r}] must have shape {shape}; got {value.shape}. Hint: {INIT_HINT}")
        if value.dtype != np.float64:
            raise CheckFailed(f"{fn.__name__}: params[{key!r}] has dtype {value.dtype}; make the params float64.")
    for key, fill in (("gamma1", 1), ("gamma2", 1), ("beta1", 0), ("beta2", 0), ("b3", 0), ("b4", 0)):
        if np.any(params[key] != fill):
            raise CheckFailed(f"{fn.__name__}: params[{key!r}] must start at {fill} everywhere.")
    for key, fan_in in zip(("w1", "w2", "w3", "w4"), a["fan_in"]):
        want, std = math.sqrt(2 / fan_in), float(np.std(params[key]))
        limit = 0.3 if key == "w1" else 0.15  # w1 has 144 entries only: its std wanders more
        if abs(std / want - 1) > limit:
            for name, other in (("kernel_only", math.sqrt(2 / 9)), ("xavier", math.sqrt(1 / fan_in)), ("small", 0.01),
                                ("unit", 1.0)):
                if abs(std / other - 1) <= 0.15 and (name != "kernel_only" or key == "w2"):
                    raise CheckFailed(f"{fn.__name__}: params[{key!r}]: {a[f'message_{name}']}")
            raise CheckFailed(f"{fn.__name__}: params[{key!r}] has std {std:.4f}, expected about {want:.4f} = "
                              f"sqrt(2 / {fan_in}). Hint: {INIT_HINT}")
    again = call(fn, seed=0)
    if not all(np.array_equal(params[k], again[k]) for k in PARAM_KEYS):
        raise CheckFailed(f"{fn.__name__}: two calls with seed=0 gave different weights: use "
                          "rng = np.random.default_rng(seed).")
    passed(f"{fn.__name__}: keys, shapes, float64 and the He scale of the MNIST network")


def _grad_mistakes(a: dict, key: str) -> list[Mistake]:
    found = []
    for k in a:
        if k.startswith("message_grad_"):
            name = k.removeprefix("message_grad_")
            if f"mistake_grad_{name}_d{key}" in a:
                found.append(Mistake(name, a[f"mistake_grad_{name}_d{key}"], str(a[k])))
    return found


def _bn_params(a: dict, mode: str) -> list[dict]:
    return [{"mode": mode, "running_mean": a[f"running_mean_{i}"].copy(), "running_var": a[f"running_var_{i}"].copy()}
            for i in (0, 1)]


def _unchanged(name: str, a: dict, x: np.ndarray, before: dict, params: dict) -> None:
    check_unchanged(name, a["x"], x, "X")
    for key in PARAM_KEYS:
        if key not in params:
            raise CheckFailed(f"{name} removed params[{key!r}]: read the params, do not change the dict.")
        check_unchanged(name, before[key], params[key], f"params[{key!r}]")


def cnn_loss(fn: Callable) -> None:
    """Check the scores (y=None), the loss, the running statistics and all 10 gradients of a stored small network
    (3 images of 8 x 12, F1 = 3, F2 = 4, 6 hidden units)."""
    a = fixture("w04_cnn_loss")
    params = {key: a[f"param_{key}"] for key in PARAM_KEYS}
    before = {key: value.copy() for key, value in params.items()}
    x = a["x"].copy()
    scores = call(fn, params, _bn_params(a, "train"), x)
    _unchanged(fn.__name__, a, x, before, params)
    check_array(f"{fn.__name__}: the scores (y=None)", scores, a["expected_scores"], rtol=1e-7, atol=1e-10,
                mistakes=stored_mistakes(a, "_scores"), hint=LOSS_HINT)
    bn_params = _bn_params(a, "test")
    loss, grads = unpack(fn.__name__, call(fn, params, bn_params, x, a["y"]), "loss", "grads")
    _unchanged(fn.__name__, a, x, before, params)
    if np.size(loss) != 1:
        raise CheckFailed(f"{fn.__name__}: the loss must be one number; got shape {np.shape(loss)}.")
    check_array(f"{fn.__name__}: the loss", np.float64(np.asarray(loss, dtype=float).reshape(())), a["expected_loss"],
                rtol=1e-7, atol=1e-10, mistakes=stored_mistakes(a, "_loss"), hint=LOSS_HINT)
    for layer, bn in enumerate(bn_params):
        for key in RUNNING_STATS:
            if key in bn and np.array_equal(bn[key], a[f"{key}_{layer}"]):
                raise CheckFailed(f"{fn.__name__}: bn_params[{layer}][{key!r}] did not change in training. "
                                  f"Hint: {RUNNING_HINT}")
            check_array(f"{fn.__name__}: bn_params[{layer}][{key!r}] after a training call", bn.get(key),
                        a[f"expected_{key}_{layer}"], rtol=1e-7, atol=1e-10, hint=RUNNING_HINT)
    if not isinstance(grads, dict) or set(grads) != set(PARAM_KEYS):
        got = ", ".join(sorted(grads)) if isinstance(grads, dict) else f"a {type(grads).__name__}"
        raise CheckFailed(f"{fn.__name__}: grads must be a dict with the keys {', '.join(PARAM_KEYS)}; got {got}.")
    for key in ("b4", "w4", "b3", "w3", "gamma2", "beta2", "w2", "gamma1", "beta1", "w1"):
        scale = float(np.abs(a[f"expected_d{key}"]).max())
        check_array(f"{fn.__name__}: grads[{key!r}]", grads[key], a[f"expected_d{key}"], rtol=1e-6, atol=1e-9 * scale,
                    mistakes=_grad_mistakes(a, key), hint=GRADS_HINT)
    passed(f"{fn.__name__}: scores, loss, running statistics and the 10 gradients of a small network match")


def train_cnn(fn: Callable) -> None:
    """Train on 1,000 MNIST images for two epochs (batch 32): what it returns, history's lengths, the running
    statistics moved, a loss that falls and a validation accuracy well above chance (300 other images)."""
    from dlfs.data import load_mnist

    a = fixture("w04_cnn_train")
    mnist = load_mnist(flatten=False)
    X, y = mnist.X_train[a["train"]][:, None], mnist.y_train[a["train"]]
    X_val, y_val = mnist.X_train[a["val"]][:, None], mnist.y_train[a["val"]]
    params, bn_params, history = unpack(fn.__name__, call(fn, X, y, X_val, y_val, epochs=2, batch_size=32,
                                                          learning_rate=2e-3, seed=0, progress=False),
                                        "params", "bn_params", "history")
    if not isinstance(params, dict) or sorted(params) != sorted(PARAM_KEYS):
        raise CheckFailed(f"{fn.__name__}: params must be a dict with the keys {', '.join(PARAM_KEYS)}.")
    problem = history_problem(history, 2, 2 * math.ceil(len(X) / 32))
    if problem:
        raise CheckFailed(f"{fn.__name__}: {problem}")
    if not (isinstance(bn_params, list | tuple) and len(bn_params) == 2 and all(isinstance(b, dict) for b in bn_params)):
        raise CheckFailed(f"{fn.__name__}: bn_params must be a list of two dicts, one per batch norm.")
    for layer, bn in enumerate(bn_params):
        mean, var = np.asarray(bn.get("running_mean", 0.0)), np.asarray(bn.get("running_var", 1.0))
        if np.allclose(mean, 0) and np.allclose(var, 1):
            raise CheckFailed(f"{fn.__name__}: bn_params[{layer}]'s running statistics never moved from zeros and "
                              f"ones. Hint: {RUNNING_HINT}")
    losses = np.asarray(history["loss"], dtype=float)
    if not np.all(np.isfinite(losses)) or losses[-5:].mean() > 0.6 * losses[:5].mean():
        raise CheckFailed(f"{fn.__name__}: the loss went from {losses[:5].mean():.3f} (first 5 batches) to "
                          f"{losses[-5:].mean():.3f} (last 5): it should fall by far more. Hint: {TRAIN_HINT}")
    val = float(history["val_acc"][-1])
    if not 0.6 <= val <= 1:
        raise CheckFailed(f"{fn.__name__}: validation accuracy {val:.3f} after two epochs on 1,000 images (computed by "
                          f"your train_cnn); expected about 0.8-0.9. Hint: {TRAIN_HINT}")
    passed(f"{fn.__name__}: loss {losses[:5].mean():.2f} -> {losses[-5:].mean():.2f}, validation accuracy {val:.3f} "
           "after two epochs on 1,000 images")


# ---- probes of the hidden cases ------------------------------------------------------------------------------


def _pool_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w04_max_pool_fast", max_pool_backward_fast, max_pool_forward_fast)``: each problem's answers."""
    return {"problems": [forward_backward(backward, forward, list(p["args"]), p["dout"]) for p in inputs["problems"]]}


probe("w04_max_pool_fast")(_pool_probe)


def _loss_call(fn: Callable, spec: dict) -> dict:
    """One call of cnn_loss on fresh copies; the result, the bn_params after it, and what it changed."""
    problem = spec["problem"]
    params = {key: np.array(value, copy=True) for key, value in problem["params"].items()}
    keep = {key: value.copy() for key, value in params.items()}
    bn_params = [{"mode": spec["mode"]} | {key: np.array(value, copy=True) for key, value in bn.items()}
                 for bn in problem["bn_params"]]
    x = np.array(problem["x"], copy=True)
    args = (params, bn_params, x, np.array(problem["y"], copy=True)) if spec["labels"] else (params, bn_params, x)
    result = record(fn, *args)
    changed = [] if np.array_equal(x, problem["x"]) else ["X"]
    changed += [f"params[{key!r}]" for key, value in keep.items()
                if key not in params or not np.array_equal(value, params[key])]
    return {"result": result, "bn_params": bn_params, "changed": changed}


def _loss_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    return {"results": [_loss_call(fn, spec) for spec in inputs["calls"]]}


probe("w04_cnn_loss_values")(_loss_probe)
probe("w04_cnn_loss_grads")(_loss_probe)


@probe("w04_train_cnn_mnist")
def _mnist_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    """Load MNIST's training images (float32 in [0, 1], as (N, 1, 28, 28)), take the rows sent, and train."""
    from dlfs.data import load_mnist

    mnist = load_mnist(flatten=False)
    train, val = inputs["train"], inputs["val"]
    result = record(fn, mnist.X_train[train][:, None], mnist.y_train[train], mnist.X_train[val][:, None],
                    mnist.y_train[val], **inputs["settings"])
    return {"result": result}
