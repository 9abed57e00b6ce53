"""Week 2, the multilayer perceptron: the visible checks of init_mlp, mlp_loss and train_mlp, and the probes of
the two training cases (they load or receive the data, call train_mlp, and record what it returned)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, Mistake, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import probe, record

__all__ = ["init_mlp", "mlp_loss", "train_mlp"]

INIT_HINT = ("for layer l: W_l = rng.standard_normal((sizes[l-1], sizes[l])) * sqrt(2 / sizes[l-1]) and "
             "b_l = zeros(sizes[l]), with rng = np.random.default_rng(seed).")
LOSS_HINT = ("affine, then ReLU, for every layer but the last, which is affine only; the loss is your "
             "softmax_cross_entropy of the scores plus your l2_penalty of [W1, W2, ...] (not the biases).")
GRADS_HINT = ("run the layers' backward functions in reverse order: softmax_cross_entropy's dscores into the last "
              "affine_backward, then relu_backward and affine_backward down to layer 1; add reg * W to each dW.")


def _keys(sizes) -> list[str]:
    return [f"{p}{layer}" for layer in range(1, len(sizes)) for p in "Wb"]


def init_mlp(fn) -> None:
    """Check keys, shapes, zero biases and the He scale sqrt(2 / fan_in) of init_mlp([300, 200, 100, 10])."""
    a = fixture("w02_init_mlp")
    sizes = [int(s) for s in a["sizes"]]
    params = call(fn, sizes, seed=0)
    if not isinstance(params, dict) or sorted(params) != sorted(_keys(sizes)):
        got = ", ".join(sorted(params)) if isinstance(params, dict) else f"a {type(params).__name__}"
        raise CheckFailed(f"{fn.__name__}({sizes}): expected a dict with keys {', '.join(_keys(sizes))}; got {got}.")
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W, b = np.asarray(params[f"W{layer}"]), np.asarray(params[f"b{layer}"])
        if W.shape != (fan_in, fan_out) or b.shape != (fan_out,):
            raise CheckFailed(f"{fn.__name__}: W{layer} must be {(fan_in, fan_out)} and b{layer} {(fan_out,)}; got {W.shape} "
                              f"and {b.shape}. Hint: {INIT_HINT}")
        if W.dtype != np.float64:
            raise CheckFailed(f"{fn.__name__}: W{layer} has dtype {W.dtype}; make the params float64.")
        if np.any(b != 0):
            raise CheckFailed(f"{fn.__name__}: b{layer} must start at zero.")
        want, std = float(a["expected_std"][layer - 1]), float(W.std())
        if abs(std / want - 1) > 0.15:
            for name, other in (("xavier", math.sqrt(1 / fan_in)), ("fan_out", math.sqrt(2 / fan_out)),
                                ("small", 0.01), ("unit", 1.0)):
                if abs(std / other - 1) <= 0.15:
                    raise CheckFailed(f"{fn.__name__}: W{layer} {a[f'message_{name}']}")
            raise CheckFailed(f"{fn.__name__}: W{layer} has std {std:.4f}, expected about {want:.4f} = sqrt(2 / {fan_in}). "
                              f"Hint: {INIT_HINT}")
    again = call(fn, sizes, seed=0)
    if not all(np.array_equal(params[k], again[k]) for k in params):
        raise CheckFailed(f"{fn.__name__}: two calls with seed=0 gave different weights: use "
                          "rng = np.random.default_rng(seed).")
    passed(f"{fn.__name__}: shapes, zero biases and He scale for sizes {sizes}")


def _grad_mistakes(a: dict, key: str) -> list[Mistake]:
    return [Mistake(k.removeprefix("message_grad_"), a[f"mistake_{k.removeprefix('message_grad_')}_d{key}"], str(a[k]))
            for k in a if k.startswith("message_grad_") and f"mistake_{k.removeprefix('message_grad_')}_d{key}" in a]


def mlp_loss(fn) -> None:
    """Check the scores, the loss and every gradient on a stored [6, 5, 4, 3] network with reg=0.25."""
    a = fixture("w02_mlp_loss")
    params = {k.removeprefix("param_"): v for k, v in a.items() if k.startswith("param_")}
    before = {k: v.copy() for k, v in params.items()}
    scores = call(fn, params, a["X"].copy())
    check_array(f"{fn.__name__}: the scores (y=None)", scores, a["expected_scores"], rtol=1e-7, atol=1e-10,
                hint=LOSS_HINT, mistakes=stored_mistakes(a, "_scores"))
    loss, grads = unpack(fn.__name__, call(fn, params, a["X"].copy(), a["y"].copy(), reg=float(a["reg"])),
                         "loss", "grads")
    if any(not np.array_equal(before[k], params[k]) for k in params):
        raise CheckFailed(f"{fn.__name__} changed the params in place; compute new arrays.")
    if np.size(loss) != 1:
        raise CheckFailed(f"{fn.__name__}: the loss must be one number; got shape {np.shape(loss)}.")
    check_array(f"{fn.__name__}: the loss", np.float64(np.asarray(loss, dtype=float).reshape(())), a["expected_loss"],
                rtol=1e-7, atol=1e-10, hint=LOSS_HINT, mistakes=stored_mistakes(a, "_loss"))
    if not isinstance(grads, dict) or sorted(grads) != sorted(params):
        got = ", ".join(sorted(grads)) if isinstance(grads, dict) else f"a {type(grads).__name__}"
        raise CheckFailed(f"{fn.__name__}: grads must be a dict with the keys {', '.join(sorted(params))}; got {got}.")
    for key in ["W3", "b3", "W2", "b2", "W1", "b1"]:
        check_array(f"{fn.__name__}: grads[{key!r}]", grads[key], a[f"expected_d{key}"], rtol=1e-6, atol=1e-10,
                    hint=GRADS_HINT, mistakes=_grad_mistakes(a, key))
    passed(f"{fn.__name__}: scores, loss and the 6 gradients of a 3-layer network match")


def train_mlp(fn) -> None:
    """Train [2, 32, 2] on two moons (40 epochs): history's shape and a fitted training set; then early stopping
    on XOR whose validation labels are flipped (the best epoch is the first few)."""
    a = fixture("w02_train_mlp")
    X, y = a["X"].copy(), a["y"].copy()
    params, history = unpack(fn.__name__, call(fn, X, y, a["X_val"].copy(), a["y_val"].copy(), [2, 32, 2], epochs=40,
                                               batch_size=32, learning_rate=0.01, patience=40, progress=False),
                             "params", "history")
    if not isinstance(params, dict) or sorted(params) != ["W1", "W2", "b1", "b2"]:
        raise CheckFailed(f"{fn.__name__}: params must be a dict with keys W1, b1, W2, b2 for sizes [2, 32, 2].")
    if not isinstance(history, dict) or not {"loss", "train_acc", "val_acc"} <= set(history):
        raise CheckFailed(f"{fn.__name__}: history must be a dict with keys 'loss', 'train_acc', 'val_acc'.")
    steps = 40 * math.ceil(len(X) / 32)
    if len(history["loss"]) != steps or len(history["val_acc"]) != 40 or len(history["train_acc"]) != 40:
        raise CheckFailed(f"{fn.__name__}: expected {steps} losses (one per mini-batch) and 40 accuracies of each kind "
                          f"(one per epoch); got {len(history['loss'])}, {len(history['train_acc'])}, "
                          f"{len(history['val_acc'])}.")
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0)
    fitted = float(np.mean((hidden @ params["W2"] + params["b2"]).argmax(1) == y))
    if fitted < 0.95:
        raise CheckFailed(f"{fn.__name__}: training accuracy {fitted:.2f} on two moons after 40 epochs; expected at "
                          "least 0.95. Is every parameter updated by adam, each with its own config?")
    runs = []
    for epochs in range(1, 9):
        p, _ = unpack(fn.__name__, call(fn, a["Xf"].copy(), a["yf"].copy(), a["Xf_val"].copy(), a["yf_val"].copy(),
                                        [2, 16, 2], epochs=epochs, batch_size=40, learning_rate=0.003, patience=10,
                                        seed=3, progress=False),
                      "params", "history")
        h = np.maximum(a["Xf_val"] @ p["W1"] + p["b1"], 0)
        runs.append(float(np.mean((h @ p["W2"] + p["b2"]).argmax(1) == a["yf_val"])))
        if len(runs) > 1 and runs[-1] < max(runs[:-1]):
            raise CheckFailed(f"{fn.__name__}: trained for {epochs} epochs it returns params with validation accuracy "
                              f"{runs[-1]:.3f}, below the {max(runs[:-1]):.3f} of a shorter run with the same seed: "
                              "return a copy of the best epoch's params, not the last ones.")
    passed(f"{fn.__name__}: training accuracy {fitted:.2f} on two moons; early stopping keeps the best epoch")


# ---- probes of the hidden cases ----------------------------------------------------------------------


@probe("w02_train_mlp_mnist")
def _mnist_probe(fn, *args: Any, inputs: dict) -> dict:
    """Load MNIST's training images (float32 in [0, 1]), take the rows sent, and train."""
    from dlfs.data import load_mnist

    mnist = load_mnist()
    train, val = inputs["train"], inputs["val"]
    result = record(fn, mnist.X_train[train], mnist.y_train[train], mnist.X_train[val], mnist.y_train[val],
                    list(inputs["sizes"]), **inputs["settings"])
    return {"result": result}


@probe("w02_train_mlp_early_stopping")
def _early_stopping_probe(fn, *args: Any, inputs: dict) -> dict:
    """Each problem trained once per settings dict sent; every result recorded."""
    results = []
    for problem in inputs["problems"]:
        data = [problem[k] for k in ("X_train", "y_train", "X_val", "y_val")]
        results.append([record(fn, *[d.copy() for d in data], list(problem["sizes"]), **run) for run in problem["runs"]])
    return {"results": results}
