"""Week 2, the multilayer perceptron (init_mlp, mlp_loss, train_mlp): reference, known mistakes, hidden
cases, fixtures.

A network of sizes [D, H_1, ..., H_{L-1}, C] has L affine layers; with A_0 = X (N, D),

    Z_l = A_{l-1} W_l + b_l,   A_l = max(Z_l, 0)  (l < L),   S = Z_L  (N, C, the scores),
    loss = mean_n -log softmax(S)_{n, y_n} + 0.5 reg sum_l ||W_l||^2   (the biases are not regularised).

Backward: dS = (softmax(S) - onehot(y)) / N; for l = L..1: dW_l = A_{l-1}^T dZ_l + reg W_l, db_l = sum_n dZ_l,
dA_{l-1} = dZ_l W_l^T, and dZ_{l-1} = dA_{l-1} * [Z_{l-1} > 0].

He initialisation: W_l ~ N(0, 2 / fan_in) of shape (fan_in, fan_out) = (sizes[l-1], sizes[l]), b_l = 0.

Training (train_mlp): Adam on every parameter, mini-batches of a fresh permutation each epoch, validation
accuracy after each epoch, early stopping with ``patience`` keeping the best-validation-accuracy params.
"""

from __future__ import annotations

import math
import time

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs import toy
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_mlp import GRADS_HINT, INIT_HINT, LOSS_HINT
from dlfs.data import load_mnist
from dlfs.grading import Call

LOSS_MISTAKES = {
    "reg_biases": ("your loss regularises the biases too: the penalty 0.5 * reg * sum ||W||^2 is over the weights "
                   "W1, W2, ... only."),
    "no_half": "your penalty is reg * sum ||W||^2; it is 0.5 * reg * sum ||W||^2 (use your l2_penalty).",
    "relu_on_scores": ("your scores went through a ReLU after the last affine layer: the last layer is affine only, "
                       "its scores go straight into the softmax."),
    "no_relu": "your scores match a network without ReLUs: apply relu_forward after every affine layer but the last.",
}
GRADS_MISTAKES = {
    "no_reg_grad": "your dW lacks the regulariser's gradient: add reg * W (the grads l2_penalty returns) to each dW.",
    "reg_biases": "your db includes reg * b: the biases are not regularised, so db has no reg term.",
    "double_reg": "your dW has 2 * reg * W: the gradient of 0.5 * reg * ||W||^2 is reg * W.",
    "no_relu_mask": ("your gradients pass through the ReLUs unmasked: the backward of a ReLU zeroes the gradient "
                     "where its input was <= 0 (use relu_backward with the cache of that layer)."),
}
INIT_MISTAKES = {
    "xavier": "your weights have std sqrt(1 / fan_in) (Xavier/LeCun); He initialisation for ReLU is sqrt(2 / fan_in).",
    "fan_out": "your weights have std sqrt(2 / fan_out); He initialisation uses the layer's input size: sqrt(2 / fan_in).",
    "small": "your weights have std 0.01; He initialisation is sqrt(2 / fan_in) (about 0.05 for 784 inputs).",
    "unit": "your weights have std 1; scale them by sqrt(2 / fan_in).",
}
TRAIN_HINT = ("each epoch: a fresh permutation of the rows, mini-batches of batch_size, mlp_loss and one adam step "
              "per parameter (each with its own config dict).")

#: The bounded MNIST run of the hidden case (see ``train_mlp_mnist`` for the calibration).
MNIST_TRAIN, MNIST_VAL, MNIST_SIZES = 12_000, 2_000, [784, 128, 10]
MNIST_SETTINGS = {"epochs": 6, "batch_size": 128, "learning_rate": 2e-3, "reg": 1e-4, "patience": 3}
MNIST_MIN_ACCURACY = 0.93
#: The early-stopping case: XOR points, validation labels flipped, runs of 1..STOP_EPOCHS epochs.
STOP_EPOCHS, STOP_PATIENCE, STOP_LONG = 8, 2, 20
STOP_SETTINGS = {"batch_size": 40, "learning_rate": 0.003, "reg": 0.0}


# ---- reference -------------------------------------------------------------------------------------


def layers(params: dict) -> int:
    return sum(1 for key in params if key.startswith("W"))


def init_mlp(sizes: list[int], seed: int = 0) -> dict[str, np.ndarray]:
    """He initialisation: W_l ~ N(0, 2 / sizes[l-1]) of shape (sizes[l-1], sizes[l]), b_l = 0, float64."""
    rng = np.random.default_rng(seed)
    initial = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        initial[f"W{layer}"] = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        initial[f"b{layer}"] = np.zeros(fan_out)
    return initial


def _softmax_ce(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = scores.shape[0]
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    return float(-log_probs[np.arange(N), y].mean()), dscores / N


def mlp_loss(params: dict, X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0, *,
             relu_hidden: bool = True, relu_last: bool = False, mask: bool = True, reg_biases: bool = False,
             reg_factor: float = 1.0, grad_reg_factor: float = 1.0):
    """Scores (y None) or (loss, grads) of the network above; the keywords make the known mistakes."""
    L = layers(params)
    A = np.asarray(X).reshape(len(X), -1)
    dtype = np.result_type(A, params["W1"])
    A = A.astype(dtype)
    cache = []
    for layer in range(1, L + 1):
        Z = A @ params[f"W{layer}"] + params[f"b{layer}"]
        cache.append((A, Z))
        last = layer == L
        A = np.maximum(Z, 0) if (relu_last if last else relu_hidden) else Z
    scores = A
    if y is None:
        return scores
    data_loss, dA = _softmax_ce(scores, y)
    names = [f"W{layer}" for layer in range(1, L + 1)] + ([f"b{layer}" for layer in range(1, L + 1)] if reg_biases else [])
    loss = data_loss + 0.5 * reg * reg_factor * sum(float(np.sum(params[k] ** 2)) for k in names)
    gradients = {}
    for layer in range(L, 0, -1):
        A_prev, Z = cache[layer - 1]
        last = layer == L
        if (relu_last if last else relu_hidden) and mask:
            dA = dA * (Z > 0)
        gradients[f"W{layer}"] = A_prev.T @ dA + grad_reg_factor * reg * params[f"W{layer}"]
        gradients[f"b{layer}"] = dA.sum(axis=0) + (grad_reg_factor * reg * params[f"b{layer}"] if reg_biases else 0)
        dA = dA @ params[f"W{layer}"].T
    return loss, gradients


def loss_mistakes(params, X, y, reg) -> dict[str, np.ndarray]:
    """The loss of each known mistake."""
    return {"reg_biases": np.float64(mlp_loss(params, X, y, reg, reg_biases=True)[0]),
            "no_half": np.float64(mlp_loss(params, X, y, reg, reg_factor=2.0)[0]),
            "relu_on_scores": np.float64(mlp_loss(params, X, y, reg, relu_last=True)[0]),
            "no_relu": np.float64(mlp_loss(params, X, y, reg, relu_hidden=False)[0])}


def scores_mistakes(params, X) -> dict[str, np.ndarray]:
    return {"relu_on_scores": mlp_loss(params, X, relu_last=True), "no_relu": mlp_loss(params, X, relu_hidden=False)}


def grads_mistakes(params, X, y, reg) -> dict[str, dict[str, np.ndarray]]:
    """Per parameter name, what each known gradient mistake gives."""
    variants = {"no_reg_grad": mlp_loss(params, X, y, reg, grad_reg_factor=0.0)[1],
                "reg_biases": mlp_loss(params, X, y, reg, reg_biases=True)[1],
                "double_reg": mlp_loss(params, X, y, reg, grad_reg_factor=2.0)[1],
                "no_relu_mask": mlp_loss(params, X, y, reg, mask=False)[1]}
    return {key: {name: grads[key] for name, grads in variants.items()} for key in variants["no_reg_grad"]}


def predict(params: dict, X: np.ndarray) -> np.ndarray:
    """Class predictions argmax of the scores, computed in float64 by the reference forward pass."""
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    return mlp_loss(p64, np.asarray(X, dtype=np.float64)).argmax(axis=1)


def accuracy(params: dict, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(params, X) == y))


def adam(w, dw, config):
    """Adam (in place on the state; returns the new w)."""
    config["t"] += 1
    b1, b2 = 0.9, 0.999
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw
    m_hat = config["m"] / (1 - b1 ** config["t"])
    v_hat = config["v"] / (1 - b2 ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + 1e-8)


def train_mlp(X_train, y_train, X_val, y_val, sizes, *, epochs=10, batch_size=128, learning_rate=1e-3, reg=0.0,
              patience=3, seed=0, progress=False, keep="best"):
    """The reference trainer (calibration and tests); ``keep="last"`` returns the last epoch's params."""
    params = {k: v.astype(X_train.dtype) for k, v in init_mlp(sizes, seed).items()}
    configs = {k: {"learning_rate": learning_rate, "m": np.zeros_like(v), "v": np.zeros_like(v), "t": 0}
               for k, v in params.items()}
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "val_acc": []}
    best, best_params, waited = -1.0, None, 0
    for _ in range(epochs):
        order = rng.permutation(len(X_train))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = mlp_loss(params, X_train[batch], y_train[batch], reg)
            for k in params:
                params[k] = adam(params[k], grads[k], configs[k])
            history["loss"].append(loss)
        history["train_acc"].append(float(np.mean(mlp_loss(params, X_train).argmax(1) == y_train)))
        history["val_acc"].append(float(np.mean(mlp_loss(params, X_val).argmax(1) == y_val)))
        if history["val_acc"][-1] > best:
            best, best_params, waited = history["val_acc"][-1], {k: v.copy() for k, v in params.items()}, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return (params if keep == "last" else best_params), history


# ---- hidden cases: init_mlp ------------------------------------------------------------------------


def _params(answers: Answers, value, sizes: list[int], label: str) -> dict[str, np.ndarray]:
    """A returned params dict checked for its keys, shapes and finiteness, as float64 arrays."""
    value = answers.value(value, label)
    L = len(sizes) - 1
    keys = [f"{p}{layer}" for layer in range(1, L + 1) for p in "Wb"]
    if not isinstance(value, dict):
        raise CheckFailed(f"{answers.name} ({label}): params must be a dict with keys {', '.join(keys)}; "
                          f"got a {type(value).__name__}.")
    if sorted(value) != sorted(keys):
        raise CheckFailed(f"{answers.name} ({label}): params must have exactly the keys {', '.join(keys)} for sizes "
                          f"{sizes}; got {', '.join(sorted(value)) or 'none'}.")
    out = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        for key, shape in ((f"W{layer}", (fan_in, fan_out)), (f"b{layer}", (fan_out,))):
            array = np.asarray(value[key])
            if array.shape != shape:
                transposed = " (transposed: W_l has shape (fan_in, fan_out) = (sizes[l-1], sizes[l]))" \
                    if array.shape == shape[::-1] else ""
                raise CheckFailed(f"{answers.name} ({label}): {key} must have shape {shape}; got {array.shape}"
                                  f"{transposed}.")
            if array.dtype.kind not in "fiu":
                raise CheckFailed(f"{answers.name} ({label}): {key} must be an array of numbers; got dtype {array.dtype}.")
            if not np.all(np.isfinite(array)):
                raise CheckFailed(f"{answers.name} ({label}): {key} contains NaN or inf.")
            out[key] = array.astype(np.float64)
    return out


def _init_std(answers: Answers, params: dict, sizes: list[int], label: str) -> None:
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        if np.any(b != 0):
            raise CheckFailed(f"{answers.name} ({label}): b{layer} must start at zero; {int(np.sum(b != 0))} entries are not.")
        if W.size < 1000:
            continue
        want = math.sqrt(2.0 / fan_in)
        std, mean = float(W.std()), float(W.mean())
        if abs(std / want - 1) > 0.15:
            for name, other in (("xavier", math.sqrt(1.0 / fan_in)), ("fan_out", math.sqrt(2.0 / fan_out)),
                                ("small", 0.01), ("unit", 1.0)):
                if abs(std / other - 1) <= 0.15:
                    raise CheckFailed(f"{answers.name} ({label}): W{layer} {INIT_MISTAKES[name]}")
            raise CheckFailed(f"{answers.name} ({label}): W{layer} has std {std:.4f}; He initialisation gives "
                              f"sqrt(2 / {fan_in}) = {want:.4f}. Hint: {INIT_HINT}")
        if abs(mean) > 5 * want / math.sqrt(W.size):
            raise CheckFailed(f"{answers.name} ({label}): W{layer} has mean {mean:.4f}; its entries must have mean 0 "
                              f"(a normal distribution centred at 0). Hint: {INIT_HINT}")


@case("w02_init_mlp")
def init_mlp_case(rng: np.random.Generator):
    """Keys, shapes and dtype for [7, 5, 4, 3] and [784, 256, 128, 10]; zero biases; the std of every weight
    matrix with >= 1000 entries within 15% of sqrt(2 / fan_in) and its mean within 5 standard errors of 0
    (the seeded draw of an N(0, 2 / fan_in) matrix of 1,280 entries is within 15% with probability
    1 - 1e-10); the same seed gives the same params, another seed others."""
    seed = int(rng.integers(1, 1000))
    big, small = [784, 256, 128, 10], [7, 5, 4, 3]
    calls = [Call((big,), {"seed": seed}), Call((big,), {"seed": seed}), Call((big,), {"seed": seed + 1}),
             Call((small,), {"seed": 0}), Call(([3, 2],), {"seed": 0})]

    def judge(answers: Answers, context: Context) -> str:
        got = [_params(answers, answers.result(i), sizes, f"sizes {sizes}, seed {call.kwargs['seed']}")
               for i, (call, sizes) in enumerate(zip(calls, [big, big, big, small, [3, 2]]))]
        for i in (0, 3, 4):
            raw = answers.result(i)
            for key, value in raw.items():
                if np.asarray(value).dtype != np.float64:
                    raise CheckFailed(f"{context.name}: {key} has dtype {np.asarray(value).dtype}; make the params float64 "
                                      "(the caller casts them when it wants float32).")
        _init_std(answers, got[0], big, f"sizes {big}")
        _init_std(answers, got[2], big, f"sizes {big}, another seed")
        if any(not np.array_equal(got[0][k], got[1][k]) for k in got[0]):
            raise CheckFailed(f"{context.name}: two calls with seed={seed} gave different weights: draw them from "
                              "rng = np.random.default_rng(seed), not from the global np.random state.")
        if all(np.array_equal(got[0][k], got[2][k]) for k in got[0] if k.startswith("W")):
            raise CheckFailed(f"{context.name}: seeds {seed} and {seed + 1} gave the same weights: use the seed argument.")
        return "keys, shapes, zero biases, He scale, and the seed is used"

    return {"calls": calls}, judge


# ---- hidden cases: mlp_loss ------------------------------------------------------------------------


def _net(rng: np.random.Generator, sizes: list[int], N: int, dtype=np.float64):
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        params[f"W{layer}"] = (rng.normal(size=(fan_in, fan_out)) / math.sqrt(fan_in)).astype(dtype)
        params[f"b{layer}"] = (0.5 * rng.normal(size=fan_out)).astype(dtype)
    return params, rng.normal(size=(N, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], N)


def _loss_and_grads(answers: Answers, index: int, label: str) -> tuple[float, dict]:
    value = answers.result(index, label)
    loss, grads = answers.parts(value, "loss", "grads")
    loss = np.asarray(loss)
    if loss.dtype.kind not in "iuf" or loss.size != 1:
        raise CheckFailed(f"{answers.name} ({label}): the loss must be one number; got {loss.shape} of dtype {loss.dtype}.")
    if not isinstance(grads, dict):
        raise CheckFailed(f"{answers.name} ({label}): grads must be a dict with the keys of params; got "
                          f"a {type(grads).__name__}.")
    return float(loss.reshape(())), grads


@case("w02_mlp_loss_values")
def mlp_loss_values(rng: np.random.Generator):
    """Scores (y=None) and the loss against the reference: sizes [7, 5, 4, 3] with N=1 and N=6, reg 0 and
    0.3; one hidden layer [6, 8, 3]; three hidden layers [5, 4, 4, 4, 2]; float32 params and inputs."""
    problems = []
    for sizes, N, reg, dtype in (([7, 5, 4, 3], 1, 0.0, np.float64), ([7, 5, 4, 3], 6, 0.0, np.float64),
                                 ([7, 5, 4, 3], 6, 0.3, np.float64), ([7, 5, 4, 3], 1, 0.3, np.float64),
                                 ([6, 8, 3], 5, 0.1, np.float64), ([5, 4, 4, 4, 2], 4, 0.2, np.float64),
                                 ([10, 16, 4], 8, 0.05, np.float32)):
        params, X, y = _net(rng, sizes, N, dtype)
        problems.append((params, X, y, reg, f"sizes {sizes}, N={N}, reg={reg}" + (", float32" if dtype == np.float32 else "")))
    calls = []
    for params, X, y, reg, _ in problems:
        calls += [Call((params, X)), Call((params, X, y), {"reg": reg})]

    def judge(answers: Answers, context: Context) -> str:
        for i, (params, X, y, reg, label) in enumerate(problems):
            single = X.dtype == np.float32
            rtol, atol = (2e-4, 1e-5) if single else (1e-7, 1e-10)
            p64 = {k: v.astype(np.float64) for k, v in params.items()}
            X64 = X.astype(np.float64)
            check_array(f"{context.name} ({label}): the scores (y=None)", answers.result(2 * i, label),
                        mlp_loss(p64, X64), rtol=rtol, atol=atol, hint=LOSS_HINT,
                        mistakes=mistakes_on(scores_mistakes(p64, X64), LOSS_MISTAKES))
            loss, _ = _loss_and_grads(answers, 2 * i + 1, label)
            check_array(f"{context.name} ({label}): the loss", np.float64(loss), np.float64(mlp_loss(p64, X64, y, reg)[0]),
                        rtol=rtol, atol=atol, hint=LOSS_HINT,
                        mistakes=mistakes_on(loss_mistakes(p64, X64, y, reg), LOSS_MISTAKES))
        return f"scores and loss agree with the reference on {len(problems)} networks, float32 included"

    return {"calls": calls}, judge


STEP = 1e-5


@case("w02_mlp_loss_grads")
def mlp_loss_grads(rng: np.random.Generator):
    """grads against the reference (naming the known mistakes) on [7, 5, 4, 3] (N=1 and 6, reg 0 and 0.2),
    [6, 8, 3] and [5, 4, 4, 4, 2]; and for [7, 5, 4, 3], N=6, reg=0.2 against the centred differences
    (h = 1e-5) of the student's OWN loss: the kernel returns the loss at each parameter moved by +-h."""
    problems = []
    for sizes, N, reg in (([7, 5, 4, 3], 6, 0.2), ([7, 5, 4, 3], 1, 0.0), ([7, 5, 4, 3], 6, 0.0), ([6, 8, 3], 5, 0.1),
                          ([5, 4, 4, 4, 2], 4, 0.3)):
        params, X, y = _net(rng, sizes, N)
        problems.append((params, X, y, reg, f"sizes {sizes}, N={N}, reg={reg}"))
    calls = [Call((params, X, y), {"reg": reg}) for params, X, y, reg, _ in problems]
    params, X, y, reg, _ = problems[0]
    steps = []
    for key in params:
        for index in np.ndindex(params[key].shape):
            moved = []
            for sign in (1, -1):
                p = {k: v.copy() for k, v in params.items()}
                p[key][index] += sign * STEP
                moved.append(p[key][index])
                calls.append(Call((p, X, y), {"reg": reg}))
            steps.append((key, index, moved[0] - moved[1]))

    def judge(answers: Answers, context: Context) -> str:
        for i, (params, X, y, reg, label) in enumerate(problems):
            _, grads = _loss_and_grads(answers, i, label)
            _, want = mlp_loss(params, X, y, reg)
            wrong = grads_mistakes(params, X, y, reg)
            for key in want:
                if key not in grads:
                    raise CheckFailed(f"{context.name} ({label}): grads has no {key!r}; it needs one entry per parameter "
                                      f"({', '.join(want)}).")
                check_array(f"{context.name} ({label}): grads[{key!r}]", grads[key], want[key], rtol=1e-6, atol=1e-10,
                            hint=GRADS_HINT, mistakes=mistakes_on(wrong[key], GRADS_MISTAKES))
        params, X, y, reg, label = problems[0]
        _, grads = _loss_and_grads(answers, 0, label)
        numeric = {k: np.zeros_like(v) for k, v in params.items()}
        for k, (key, index, step) in enumerate(steps):
            plus, _ = _loss_and_grads(answers, len(problems) + 2 * k, f"{label}, {key} moved by +h")
            minus, _ = _loss_and_grads(answers, len(problems) + 2 * k + 1, f"{label}, {key} moved by -h")
            numeric[key][index] = (plus - minus) / step
        for key in params:
            check_array(f"{context.name} ({label}): grads[{key!r}] against the numerical gradient of your own loss",
                        grads[key], numeric[key], rtol=1e-5, atol=1e-8,
                        hint="your grads agree with the reference, so the loss you return is not the one they are the "
                             "gradient of: 0.5 * reg * sum ||W||^2 over the weights only, plus the mean cross-entropy.")
        return "grads agree with the reference on 5 networks and with numerical gradients of your loss"

    return {"calls": calls}, judge


# ---- hidden cases: train_mlp -----------------------------------------------------------------------


def _train_result(answers: Answers, value, label: str) -> tuple:
    value = answers.value(value, label)
    params, history = answers.parts(value, "params", "history")
    if not (isinstance(history, dict) and {"loss", "train_acc", "val_acc"} <= set(history)):
        raise CheckFailed(f"{answers.name} ({label}): history must be a dict with the keys 'loss', 'train_acc' and "
                          "'val_acc'.")
    return params, history


@case("w02_train_mlp_mnist")
def train_mlp_mnist(rng: np.random.Generator):
    """A bounded MNIST run: train_mlp on 12,000 seeded training images (2,000 more for validation) for 6 epochs
    (784-128-10, batch 128, learning rate 2e-3, reg 1e-4, patience 3, progress=False). The kernel loads the
    images itself (dlfs.data.load_mnist, float32 in [0, 1]) at the indices sent, and returns the params; here
    they are checked for keys and shapes and scored with the reference forward pass (float64) on the 10,000
    images of MNIST's test split. Nothing the kernel says about accuracy is used.

    Calibration (python -m autograder.cases.w02_mlp: the reference trainer, float32, one BLAS thread, 2 cores
    shared with other jobs), seeds 0-5 of the indices and the trainer: test accuracy 0.9548, 0.9530, 0.9489,
    0.9524, 0.9497, 0.9500 (min 0.9489, mean 0.9515), 1.1-1.2 s per run. The bar, 0.93, is about 2 points
    under the lowest; an untrained network scores about 0.10, a linear model about 0.92.
    """
    picked = rng.permutation(60_000)[:MNIST_TRAIN + MNIST_VAL]
    train_idx, val_idx = np.sort(picked[:MNIST_TRAIN]), np.sort(picked[MNIST_TRAIN:])
    settings = MNIST_SETTINGS | {"seed": int(rng.integers(1000)), "progress": False}
    inputs = {"train": train_idx, "val": val_idx, "sizes": MNIST_SIZES, "settings": settings}

    def judge(answers: Answers, context: Context) -> str:
        label = f"{MNIST_TRAIN:,} MNIST images, {settings['epochs']} epochs"
        params, history = _train_result(answers, answers["result"], label)
        params = _params(answers, params, MNIST_SIZES, label)
        mnist = load_mnist(dtype=np.float64)
        score = accuracy(params, mnist.X_test, mnist.y_test)
        if score < 0.2:
            raise CheckFailed(f"{context.name}: test accuracy {score:.3f}, about chance: the params you return look "
                              f"untrained (return the trained or best params, not the initial ones). Hint: {TRAIN_HINT}")
        if score < MNIST_MIN_ACCURACY:
            raise CheckFailed(f"{context.name}: test accuracy {score:.4f} after {label}; at least {MNIST_MIN_ACCURACY} is "
                              f"expected (the reference reaches about 0.95). Hint: {TRAIN_HINT}")
        return f"test accuracy {score:.4f} on MNIST's 10,000 test images after {label}"

    return inputs, judge


def flipped_xor(seed: int) -> tuple[np.ndarray, ...]:
    """200 XOR training points, and 200 other XOR points whose labels are flipped: the better a network fits
    the training set, the worse it does on this validation set, so validation accuracy peaks early."""
    X, y = toy.xor(200, noise=0.2, seed=seed)
    X_val, y_val = toy.xor(200, noise=0.2, seed=seed + 1)
    return X, y, X_val, 1 - y_val


@case("w02_train_mlp_early_stopping")
def train_mlp_early_stopping(rng: np.random.Generator):
    """Early stopping on two problems whose validation labels are flipped XOR labels (validation accuracy falls
    as training succeeds). For each, the kernel trains [2, 16, 2] with one seed for 1, 2, ..., 8 epochs
    (patience 8: no stop) and once for 20 epochs with patience 2. Here, with the reference forward pass: the
    validation accuracy of the returned params must not fall as the epochs grow (the best so far is kept, not
    the last); the patience-2 run must stop early (fewer than 20 entries in history['val_acc']), not before two
    epochs past the best of the epochs it ran, and return params at least as good on validation as those.

    A trainer returning the last epoch's params passes a problem only when validation accuracy never falls
    within 8 epochs: 1 seed in 40 with the reference's initialisation, so two problems catch it but for ~1/1600.
    """
    seed = int(rng.integers(1000))
    problems = []
    for data_seed in (seed, seed + 500):
        X, y, X_val, y_val = flipped_xor(data_seed)
        runs = [STOP_SETTINGS | {"epochs": k, "patience": STOP_EPOCHS, "seed": data_seed, "progress": False}
                for k in range(1, STOP_EPOCHS + 1)]
        runs.append(STOP_SETTINGS | {"epochs": STOP_LONG, "patience": STOP_PATIENCE, "seed": data_seed,
                                     "progress": False})
        problems.append({"X_train": X, "y_train": y, "X_val": X_val, "y_val": y_val, "sizes": [2, 16, 2], "runs": runs})

    def judge(answers: Answers, context: Context) -> str:
        summary = []
        for problem, results in zip(problems, answers["results"]):
            summary.append(_judge_stopping(answers, context, problem, results))
        return "; ".join(summary)

    return {"problems": problems}, judge


def _judge_stopping(answers: Answers, context: Context, problem: dict, results: list) -> str:
    X_val, y_val, sizes = problem["X_val"], problem["y_val"], problem["sizes"]
    scores = []
    for k in range(1, STOP_EPOCHS + 1):
        params, _ = _train_result(answers, results[k - 1], f"epochs={k}")
        scores.append(accuracy(_params(answers, params, sizes, f"epochs={k}"), X_val, y_val))
        if k > 1 and scores[-1] < max(scores[:-1]):
            raise CheckFailed(
                f"{context.name}: trained for {k} epochs it returns params with validation accuracy {scores[-1]:.3f} "
                f"(computed here), less than the {max(scores[:-1]):.3f} of a shorter run with the same seed: return "
                "the params of the best epoch, not the last. Keep a copy ({k: v.copy() for k, v in params.items()}) "
                "whenever the validation accuracy improves.")
    label = f"epochs={STOP_LONG}, patience={STOP_PATIENCE}"
    params, history = _train_result(answers, results[STOP_EPOCHS], label)
    ran = len(history["val_acc"])
    if ran >= STOP_LONG:
        raise CheckFailed(f"{context.name}: with patience={STOP_PATIENCE} training ran all {STOP_LONG} epochs although "
                          "the validation accuracy stopped improving: stop after `patience` epochs without a new best.")
    seen = min(ran, STOP_EPOCHS)
    best_epoch = 1 + scores.index(scores[seen - 1])
    if ran <= STOP_EPOCHS and ran < best_epoch + STOP_PATIENCE:
        raise CheckFailed(f"{context.name}: with patience={STOP_PATIENCE} training stopped after {ran} epochs, but the "
                          f"best validation accuracy came at epoch {best_epoch}: stop only after {STOP_PATIENCE} epochs "
                          "without improvement.")
    got = accuracy(_params(answers, params, sizes, label), X_val, y_val)
    if got < scores[seen - 1]:
        raise CheckFailed(f"{context.name}: with patience={STOP_PATIENCE} the returned params have validation accuracy "
                          f"{got:.3f}, below the best of the epochs it ran ({scores[seen - 1]:.3f}): return the best "
                          "epoch's params.")
    return f"best validation accuracy {scores[seen - 1]:.3f} kept, stopped after {ran} epochs"


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(21)
    params, X, y = _net(rng, [6, 5, 4, 3], 4)
    reg = 0.25
    loss, grads = mlp_loss(params, X, y, reg)
    arrays = {"X": X, "y": y, "reg": np.array(reg), "expected_scores": mlp_loss(params, X),
              "expected_loss": np.array(loss)}
    arrays |= {f"param_{k}": v for k, v in params.items()} | {f"expected_d{k}": v for k, v in grads.items()}
    arrays |= stored(scores_mistakes(params, X), LOSS_MISTAKES, suffix="_scores")
    arrays |= stored(loss_mistakes(params, X, y, reg), LOSS_MISTAKES, suffix="_loss")
    for key, outputs in grads_mistakes(params, X, y, reg).items():
        arrays |= {f"mistake_{name}_d{key}": out for name, out in outputs.items()}
    arrays |= {f"message_grad_{name}": np.array(text) for name, text in GRADS_MISTAKES.items()}
    sizes = np.array([300, 200, 100, 10])
    init = {"sizes": sizes, "expected_std": np.sqrt(2.0 / sizes[:-1])}
    init |= {f"message_{name}": np.array(text) for name, text in INIT_MISTAKES.items()}
    Xm, ym = toy.two_moons(300, noise=0.15, seed=5)
    Xf, yf, Xfv, yfv = flipped_xor(7)
    train = {"X": Xm, "y": ym, "X_val": toy.two_moons(100, noise=0.15, seed=6)[0],
             "y_val": toy.two_moons(100, noise=0.15, seed=6)[1], "Xf": Xf, "yf": yf, "Xf_val": Xfv, "yf_val": yfv}
    return {"w02_mlp_loss": arrays, "w02_init_mlp": init, "w02_train_mlp": train}


if __name__ == "__main__":  # calibration of the MNIST case: python -m autograder.cases.w02_mlp
    mnist = load_mnist()
    test = load_mnist(dtype=np.float64)
    for seed in range(6):
        inputs, _ = train_mlp_mnist(np.random.default_rng(seed))
        s = inputs["settings"] | {"seed": seed}
        start = time.perf_counter()
        params, history = train_mlp(mnist.X_train[inputs["train"]], mnist.y_train[inputs["train"]],
                                    mnist.X_train[inputs["val"]], mnist.y_train[inputs["val"]], MNIST_SIZES, **s)
        took = time.perf_counter() - start
        print(f"seed {seed}: test accuracy {accuracy(params, test.X_test, test.y_test):.4f}, {took:.1f} s, "
              f"val {history['val_acc']}")
