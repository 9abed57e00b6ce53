"""Week 4, the CNN trained from scratch on MNIST (max_pool_forward_fast/backward_fast, init_cnn, cnn_loss,
train_cnn): reference, known mistakes, hidden cases, fixtures.

For images x: (N, C, H, W) with H and W multiples of 4 and params w1 (F1, C, 3, 3), gamma1, beta1 (F1,),
w2 (F2, F1, 3, 3), gamma2, beta2 (F2,), w3 (F2 H/4 W/4, M), b3 (M,), w4 (M, K), b4 (K,):

    a1     = maxpool(relu(bn1(conv(x,  w1))))        (N, F1, H/2, W/2)
    a2     = maxpool(relu(bn2(conv(a1, w2))))        (N, F2, H/4, W/4)
    a3     = relu(flatten(a2) @ w3 + b3)             (N, M)
    scores = a3 @ w4 + b4                            (N, K)
    loss   = mean_n -log softmax(scores)_{n, y_n}     (no regulariser)

conv is the convolution of ``conv_reference`` with stride 1, padding 1 and no bias (the batch norm right after
it subtracts every constant), maxpool the 2 x 2 max pooling with stride 2, flatten the row-major (C, H, W) order
of each image. bn is spatial batch normalisation per channel over (N, H, W), eps = 1e-5:
with labels (training) x_hat = (z - mu) / sqrt(var + eps) with the batch's mean and variance (ddof=0), and the
running statistics of bn_params[l] become 0.9 running + 0.1 batch statistic; without labels (y None, test mode)
mu and var are bn_params[l]'s running_mean and running_var. out = gamma x_hat + beta.

Backward, with dS = (softmax(S) - onehot(y)) / N: dw4 = a3^T dS, db4 = sum_n dS, dz3 = dS w4^T [z3 > 0],
dw3 = flat^T dz3, db3 = sum_n dz3, d flat = dz3 w3^T; the
pooling sends each window's gradient to its first maximum (``max_pool_backward``); the ReLU masks it where its
input was <= 0; bn: dx_hat = dout gamma, dz = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / sqrt(var + eps)
(means over N, H, W), dgamma = sum dout x_hat, dbeta = sum dout; conv: ``conv_backward_fast``.

init_cnn(seed) for MNIST: C = 1, F1 = 16, F2 = 32, M = 128, K = 10, w3 (1568, 128), w4 (128, 10); He
initialisation w ~ N(0, 2 / fan_in) with fan_in = C KH KW for a convolution and the number of rows for a dense
layer, gamma = 1, beta = 0, b3 = b4 = 0, float64.
"""

from __future__ import annotations

import math
import time

import numpy as np

from autograder.cases.conv_reference import (
    avg_pool_backward,
    avg_pool_forward,
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward,
    max_pool_forward,
)
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w04_cnn import (
    GRADS_HINT,
    INIT_HINT,
    LOSS_HINT,
    MNIST_SHAPES,
    PARAM_KEYS,
    POOL_BACKWARD_HINT,
    POOL_HINT,
    RUNNING_HINT,
    TRAIN_HINT,
    history_problem,
)
from dlfs.data import load_mnist
from dlfs.grading import Call, Raised

POOL_MISTAKES = {
    "avg": "your output is the average of each window: max pooling keeps its largest entry.",
    "stride_is_pool": "your windows move by pool, not by stride: the window (i, j) starts at (stride * i, stride * j).",
}
POOL_BACKWARD_MISTAKES = {
    "spread": ("pool backward spreading the gradient over the window: the whole gradient of a window goes to the "
               "entry that was its maximum, the others get 0."),
    "all_ties": ("every tied maximum of a window receives its gradient: only the FIRST maximum in row-major order "
                 "(as np.argmax of the flattened window) gets it."),
    "last_tie": ("your gradient goes to the LAST maximum of a tied window: the rule is the first one in row-major "
                 "order (as np.argmax of the flattened window)."),
    "overwrite": ("overlapping windows overwrite each other's gradient: when stride < pool an entry can be the maximum "
                  "of several windows and receives the SUM of their gradients (use +=)."),
}
INIT_MISTAKES = {
    "kernel_only": ("your convolution weights have std sqrt(2 / (KH * KW)): a filter sees C * KH * KW inputs, so He "
                    "initialisation is sqrt(2 / (C * KH * KW))."),
    "xavier": "your weights have std sqrt(1 / fan_in) (Xavier/LeCun); He initialisation for ReLU is sqrt(2 / fan_in).",
    "small": "your weights have std 0.01; He initialisation is sqrt(2 / fan_in).",
    "unit": "your weights have std 1; scale them by sqrt(2 / fan_in).",
}
SCORES_MISTAKES = {
    "batch_stats": ("without labels your batch norm uses the batch's statistics: set every bn_param's mode to 'test' "
                    "when y is None, so that the running statistics are used."),
    "no_relu": "your scores match the network without its ReLUs: apply np.maximum(h, 0) after each batch norm and "
               "after the first dense layer.",
    "no_hidden_relu": "your scores match a dense head without its ReLU: apply np.maximum(., 0) to features @ w3 + b3.",
    "flatten_hwc": ("your features are flattened in (H, W, C) order: flatten the (N, C, H, W) maps with "
                    "h.reshape(N, -1), no transpose."),
    "dense_no_bias": "your scores lack the last layer's bias: add params['b4'].",
    "softmax": "you return probabilities (a softmax of the scores) when y is None: return the scores themselves.",
}
LOSS_MISTAKES = {
    "running_stats": ("with labels your batch norm normalises with the running statistics: set every bn_param's mode "
                      "to 'train' when y is given, so that the batch's statistics are used (and the running ones "
                      "updated)."),
    "sum": "your loss is the SUM of the cross-entropies over the batch: take their mean (divide by N).",
    "no_relu": "your loss matches the network without its ReLUs: apply np.maximum(h, 0) after each batch norm and "
               "after the first dense layer.",
    "flatten_hwc": "your loss matches features flattened in (H, W, C) order: flatten with h.reshape(N, -1).",
}
RUNNING_MISTAKES = {
    "not_updated": ("the running statistics in bn_params did not change in training: pass bn_params[0] and "
                    "bn_params[1] themselves (not copies) to spatial_batchnorm_forward, in mode 'train'."),
    "momentum_swapped": ("your running averages have the momentum on the wrong side: running = 0.9 * running + "
                         "0.1 * batch statistic."),
}
GRADS_MISTAKES = {
    "no_mask": ("your gradients pass through the ReLUs of the convolution blocks unmasked: multiply by (h > 0), h the "
                "ReLU's input, between the pooling's backward and the batch norm's."),
    "no_hidden_mask": ("your gradients pass through the dense head's ReLU unmasked: multiply dS @ w4.T by "
                       "(features @ w3 + b3 > 0)."),
    "spread": ("your pooling backward spreads each window's gradient over the window: use your max_pool_backward_fast, "
               "which sends it to the maximum only."),
    "bn_no_mean": ("your gradients miss batch normalisation's mean and variance terms: use your "
                   "spatial_batchnorm_backward, dz = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std."),
    "sum": "your gradients are N times too large: the loss is the mean over the batch, so dS = (p - onehot) / N.",
}
TOL64, TOL32 = (1e-7, 1e-10), (1e-4, 1e-5)
EPS, MOMENTUM, H = 1e-5, 0.9, 1e-5

#: The bounded MNIST run of the hidden training case (see ``train_cnn_mnist`` for the calibration).
MNIST_TRAIN, MNIST_VAL = 10_000, 1_000
MNIST_SETTINGS = {"epochs": 2, "batch_size": 64, "learning_rate": 2e-3}
MNIST_MIN_ACCURACY = 0.95
SCORE_BATCH = 500


# ---- reference -------------------------------------------------------------------------------------------


def _bn_forward(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn: dict, batch: bool):
    """Spatial batch norm in float64; returns (out, cache, (running_mean, running_var) after the call)."""
    C = z.shape[1]
    eps = float(bn.get("eps", EPS))
    old_mean = np.asarray(bn.get("running_mean", np.zeros(C)), dtype=np.float64)
    old_var = np.asarray(bn.get("running_var", np.ones(C)), dtype=np.float64)
    if batch:
        mu, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
        momentum = float(bn.get("momentum", MOMENTUM))
        running = (momentum * old_mean + (1 - momentum) * mu, momentum * old_var + (1 - momentum) * var)
    else:
        mu, var, running = old_mean, old_var, (old_mean, old_var)
    std = np.sqrt(var + eps).reshape(1, C, 1, 1)
    x_hat = (z - mu.reshape(1, C, 1, 1)) / std
    return gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1), (x_hat, gamma, std), running


def _bn_backward(dout: np.ndarray, cache: tuple, full: bool = True):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma.reshape(1, -1, 1, 1)
    if full:
        axes = (0, 2, 3)
        dz = (dx_hat - dx_hat.mean(axis=axes, keepdims=True)
              - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True)) / std
    else:
        dz = dx_hat / std
    return dz, (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def network(params: dict, bn_params: list, x: np.ndarray, y: np.ndarray | None = None, *, relu: bool = True,
            hidden_relu: bool = True, order: str = "chw", batch_stats: bool | None = None, dense_bias: bool = True,
            softmax: bool = False, mean: bool = True, mask: bool = True, hidden_mask: bool = True,
            pool_grad: str = "max", bn_grad: str = "full") -> dict:
    """The network of the module docstring in float64: {"scores"} without labels, else {"loss", "grads",
    "running"} (running: [(running_mean, running_var)] of both batch norms after the call). bn_params is only
    read. The keywords make the known mistakes (``batch_stats`` overrides the mode the labels choose)."""
    p = {key: np.asarray(params[key], dtype=np.float64) for key in PARAM_KEYS}
    batch = (y is not None) if batch_stats is None else batch_stats
    h = np.asarray(x, dtype=np.float64)
    caches, running = [], []
    for layer in (1, 2):
        w = p[f"w{layer}"]
        z, conv_cache = conv_forward_fast(h, w, np.zeros(len(w)), 1, 1)
        n, bn_cache, stats = _bn_forward(z, p[f"gamma{layer}"], p[f"beta{layer}"], bn_params[layer - 1], batch)
        r = np.maximum(n, 0.0) if relu else n
        h, pool_cache = max_pool_forward(r, 2, 2)
        caches.append((conv_cache, bn_cache, n, pool_cache))
        running.append(stats)
    N = len(h)
    flat = (h.transpose(0, 2, 3, 1) if order == "hwc" else h).reshape(N, -1)
    z3 = flat @ p["w3"] + p["b3"]
    a3 = np.maximum(z3, 0.0) if relu and hidden_relu else z3
    scores = a3 @ p["w4"] + (p["b4"] if dense_bias else 0.0)
    if y is None:
        if softmax:
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = e / e.sum(axis=1, keepdims=True)
        return {"scores": scores}
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -log_probs[rows, y].sum() / (N if mean else 1)
    ds = np.exp(log_probs)
    ds[rows, y] -= 1
    if mean:
        ds /= N
    grads = {"w4": a3.T @ ds, "b4": ds.sum(axis=0)}
    dz3 = ds @ p["w4"].T
    if relu and hidden_relu and hidden_mask:
        dz3 = dz3 * (z3 > 0)
    grads["w3"], grads["b3"] = flat.T @ dz3, dz3.sum(axis=0)
    d = dz3 @ p["w3"].T
    d = (d.reshape(N, h.shape[2], h.shape[3], h.shape[1]).transpose(0, 3, 1, 2) if order == "hwc"
         else d.reshape(h.shape))
    for layer in (2, 1):
        conv_cache, bn_cache, n, pool_cache = caches[layer - 1]
        if pool_grad == "spread":
            d = avg_pool_backward(d, (n.shape, np.float64, 2, 2))
        else:
            d = max_pool_backward(d, pool_cache)
        if relu and mask:
            d = d * (n > 0)
        d, grads[f"gamma{layer}"], grads[f"beta{layer}"] = _bn_backward(d, bn_cache, bn_grad == "full")
        d, grads[f"w{layer}"], _ = conv_backward_fast(d, conv_cache)
    return {"loss": np.float64(loss), "grads": grads, "running": running}


def cnn_scores(params: dict, bn_params: list, x: np.ndarray) -> np.ndarray:
    """Test-mode scores (the running statistics of bn_params), in float64."""
    return network(params, bn_params, x)["scores"]


def cnn_loss(params: dict, bn_params: list, x: np.ndarray, y: np.ndarray) -> tuple[np.float64, dict]:
    """Training-mode loss and grads (batch statistics), in float64."""
    out = network(params, bn_params, x, y)
    return out["loss"], out["grads"]


def scores_mistakes(params, bn_params, x) -> dict[str, np.ndarray]:
    variants = {"batch_stats": {"batch_stats": True}, "no_relu": {"relu": False},
                "no_hidden_relu": {"hidden_relu": False}, "flatten_hwc": {"order": "hwc"},
                "dense_no_bias": {"dense_bias": False}, "softmax": {"softmax": True}}
    return {name: network(params, bn_params, x, **kw)["scores"] for name, kw in variants.items()}


def loss_mistakes(params, bn_params, x, y) -> dict[str, np.ndarray]:
    variants = {"running_stats": {"batch_stats": False}, "sum": {"mean": False}, "no_relu": {"relu": False},
                "flatten_hwc": {"order": "hwc"}}
    return {name: network(params, bn_params, x, y, **kw)["loss"] for name, kw in variants.items()}


def running_mistakes(bn_params, x_stats: list) -> dict[str, list]:
    """Per batch norm, what the known mistakes leave as (running_mean, running_var); x_stats: the batch (mu, var)."""
    out = {"not_updated": [], "momentum_swapped": []}
    for bn, (mu, var) in zip(bn_params, x_stats):
        old_mean, old_var = np.asarray(bn["running_mean"], np.float64), np.asarray(bn["running_var"], np.float64)
        out["not_updated"].append((old_mean, old_var))
        out["momentum_swapped"].append((0.1 * old_mean + 0.9 * mu, 0.1 * old_var + 0.9 * var))
    return out


def grads_mistakes(params, bn_params, x, y) -> dict[str, dict[str, np.ndarray]]:
    """Per parameter name, what each known gradient mistake gives."""
    variants = {"no_mask": {"mask": False}, "no_hidden_mask": {"hidden_mask": False},
                "spread": {"pool_grad": "spread"}, "bn_no_mean": {"bn_grad": "simple"}, "sum": {"mean": False}}
    grads = {name: network(params, bn_params, x, y, **kw)["grads"] for name, kw in variants.items()}
    return {key: {name: g[key] for name, g in grads.items()} for key in PARAM_KEYS}


def init_cnn(seed: int = 0, C: int = 1, F1: int = 16, F2: int = 32, D: int = 1568, M: int = 128, K: int = 10) -> dict:
    """He-initialised params of the module docstring, float64 (the sizes default to MNIST's)."""
    rng = np.random.default_rng(seed)
    return {"w1": rng.normal(0.0, math.sqrt(2 / (9 * C)), (F1, C, 3, 3)), "gamma1": np.ones(F1), "beta1": np.zeros(F1),
            "w2": rng.normal(0.0, math.sqrt(2 / (9 * F1)), (F2, F1, 3, 3)), "gamma2": np.ones(F2),
            "beta2": np.zeros(F2), "w3": rng.normal(0.0, math.sqrt(2 / D), (D, M)), "b3": np.zeros(M),
            "w4": rng.normal(0.0, math.sqrt(2 / M), (M, K)), "b4": np.zeros(K)}


def batch_stats(params: dict, bn_params: list, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batch (mean, variance) each batch norm sees in training on x."""
    before = [{k: v for k, v in bn.items() if k != "running_mean" and k != "running_var"} for bn in bn_params]
    for bn in before:
        bn["momentum"] = 0.0
    return network(params, before, x, np.zeros(len(x), dtype=np.int64))["running"]


def pool_mistakes(x, pool, stride) -> dict[str, np.ndarray]:
    """What each known mistake of the pooling forward returns."""
    out = {"avg": avg_pool_forward(x, pool, stride)[0]}
    if stride != pool:
        out["stride_is_pool"] = max_pool_forward(x, pool, pool)[0]
    return out


def pool_backward_mistakes(x, pool, stride, dout) -> dict[str, np.ndarray]:
    """What each known mistake of the pooling backward returns."""
    x = np.asarray(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    out, _ = max_pool_forward(x, pool, stride)
    OH, OW = out.shape[2:]
    offsets = [(u, v) for u in range(pool) for v in range(pool)]
    results = {"spread": avg_pool_backward(dout, (x.shape, np.float64, pool, stride))}
    for name, order, add in (("all_ties", offsets, True), ("last_tie", offsets[::-1], True),
                             ("overwrite", offsets, False)):
        dx = np.zeros_like(x)
        taken = np.zeros(out.shape, dtype=bool)
        for u, v in order:
            index = (slice(None), slice(None), slice(u, u + stride * OH, stride), slice(v, v + stride * OW, stride))
            hit = x[index] == out
            if name != "all_ties":
                hit &= ~taken
                taken |= hit
            if add:
                dx[index] += dout * hit
            else:
                dx[index] = np.where(hit, dout, dx[index])
        results[name] = dx
    return results


# ---- hidden cases: the fast max pooling ------------------------------------------------------------------


#: (shape, pool, stride, kind, dtype): the problems of the pooling case; kind "ties" draws integers in 0..3.
POOL_PROBLEMS = [
    ((2, 3, 8, 8), 2, None, "ties", np.float64),
    ((1, 1, 7, 9), 3, 2, "ties", np.float64),
    ((3, 2, 6, 5), 2, 1, "ties", np.float64),
    ((2, 2, 9, 9), 3, 3, "normal", np.float64),
    ((2, 3, 10, 11), 2, 3, "normal", np.float64),
    ((1, 2, 5, 5), 2, 1, "constant", np.float64),
    ((8, 16, 28, 28), 2, None, "relu", np.float32),
    ((2, 3, 7, 8), 3, 2, "ties", np.float32),
]


def _pool_input(rng: np.random.Generator, shape, kind: str, dtype) -> np.ndarray:
    if kind == "ties":
        return rng.integers(0, 4, size=shape).astype(dtype)
    if kind == "constant":
        x = rng.normal(size=shape)
        x[:, :, 1:4, 1:4] = 0.5
        return x.astype(dtype)
    x = rng.normal(size=shape)
    return (np.maximum(x, 0) if kind == "relu" else x).astype(dtype)


@case("w04_max_pool_fast")
def max_pool_fast_case(rng: np.random.Generator):
    """max_pool_forward_fast and max_pool_backward_fast (the student's forward makes the cache) against
    ``max_pool_forward``/``max_pool_backward`` of conv_reference: pool 2 and 3 with stride = pool, < pool and
    > pool, odd and non-square sizes, N = 1, inputs with ties (integers 0..3, a constant patch, ReLU zeros), a
    batch of MNIST's shape in float32. Ties: the first maximum in row-major order gets the gradient;
    overlapping windows add."""
    problems = []
    for shape, pool, stride, kind, dtype in POOL_PROBLEMS:
        x = _pool_input(rng, shape, kind, dtype)
        args = [x, pool] if stride is None else [x, pool, stride]
        real = pool if stride is None else stride
        OH, OW = (shape[2] - pool) // real + 1, (shape[3] - pool) // real + 1
        dout = rng.normal(size=(shape[0], shape[1], OH, OW)).astype(dtype)
        problems.append({"args": args, "dout": dout, "pool": pool, "stride": real})

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not isinstance(entries, list) or len(entries) != len(problems):
            raise CheckFailed(f"{context.name}: the answers are incomplete (was the hidden test cell changed?).")
        for problem, entry in zip(problems, entries):
            x, pool, stride, dout = problem["args"][0], problem["pool"], problem["stride"], problem["dout"]
            label = f"x of shape {x.shape}, pool={pool}, stride={stride}, {x.dtype}"
            if "forward" in entry:
                forward = entry["forward"]
                if isinstance(forward, Raised) and forward.type == "NotImplementedError":
                    raise CheckFailed("max_pool_forward_fast is not implemented yet: replace `raise "
                                      "NotImplementedError()` with your code (the backward needs its cache).")
                answers.value(forward, f"{label} (max_pool_forward_fast)")
            if entry["changed"]:
                what = "dout" if entry["changed"][0] == len(problem["args"]) else "x"
                raise CheckFailed(f"{context.name} on {label} changed its input `{what}` in place; work on new arrays.")
            single = x.dtype == np.float32
            rtol, atol = TOL32 if single else TOL64
            check_array(f"max_pool_forward_fast on {label}", entry["out"], max_pool_forward(x, pool, stride)[0],
                        rtol=rtol, atol=atol, hint=POOL_HINT, mistakes=mistakes_on(pool_mistakes(x, pool, stride),
                                                                                    POOL_MISTAKES))
            dx = answers.value(entry["grads"], label)
            want = max_pool_backward(dout, max_pool_forward(x, pool, stride)[1])
            check_array(f"{context.name} on {label}", dx, want, rtol=rtol, atol=atol, hint=POOL_BACKWARD_HINT,
                        mistakes=mistakes_on(pool_backward_mistakes(x, pool, stride, dout), POOL_BACKWARD_MISTAKES))
        return f"outputs and gradients agree with the reference on {len(problems)} inputs, ties and overlaps included"

    return {"problems": problems}, judge


# ---- hidden cases: init_cnn ---------------------------------------------------------------------------------


def _params(answers: Answers, value, label: str, shapes: dict = MNIST_SHAPES) -> dict[str, np.ndarray]:
    """A returned params dict checked for its keys, shapes and finiteness, as float64 arrays."""
    value = answers.value(value, label)
    if not isinstance(value, dict):
        raise CheckFailed(f"{answers.name} ({label}): params must be a dict with the keys {', '.join(PARAM_KEYS)}; got "
                          f"a {type(value).__name__}.")
    if sorted(value) != sorted(PARAM_KEYS):
        raise CheckFailed(f"{answers.name} ({label}): params must have exactly the keys {', '.join(PARAM_KEYS)}; got "
                          f"{', '.join(sorted(value)) or 'none'}.")
    out = {}
    for key in PARAM_KEYS:
        array = np.asarray(value[key])
        if array.shape != shapes[key]:
            raise CheckFailed(f"{answers.name} ({label}): params[{key!r}] must have shape {shapes[key]}; got "
                              f"{array.shape}.")
        if array.dtype.kind not in "fiu":
            raise CheckFailed(f"{answers.name} ({label}): params[{key!r}] must hold numbers; got dtype {array.dtype}.")
        if not np.all(np.isfinite(array)):
            raise CheckFailed(f"{answers.name} ({label}): params[{key!r}] contains NaN or inf.")
        out[key] = array.astype(np.float64)
    return out


INIT_SEEDS = 3
INIT_FAN_IN = {"w1": 9, "w2": 144, "w3": 1568, "w4": 128}


@case("w04_init_cnn")
def init_cnn_case(rng: np.random.Generator):
    """Three seeds: keys, shapes (w1 (16, 1, 3, 3), w2 (32, 16, 3, 3), w3 (1568, 128), w4 (128, 10)), float64,
    gamma = 1, beta = b3 = b4 = 0; the std of each weight array, pooled over the three seeds, within 15% of He's
    sqrt(2 / fan_in) (fan_in 9, 144, 1568, 128; w1's 432 pooled entries have a relative standard error of 3.4%, so
    a correct draw fails with probability < 1e-5) and its mean within 5 standard errors of 0; the same seed gives
    the same params, another seed others."""
    seed = int(rng.integers(1, 1000))
    seeds = [seed + k for k in range(INIT_SEEDS)]
    calls = [Call((), {"seed": s}) for s in seeds] + [Call((), {"seed": seed})]

    def judge(answers: Answers, context: Context) -> str:
        got = [_params(answers, answers.result(i), f"seed {call.kwargs['seed']}") for i, call in enumerate(calls)]
        for i in range(len(calls)):
            for key, value in answers.result(i).items():
                if np.asarray(value).dtype != np.float64:
                    raise CheckFailed(f"{context.name}: params[{key!r}] has dtype {np.asarray(value).dtype}; make the "
                                      "params float64 (train_cnn casts them to the data's type).")
        for key, fill in (("gamma1", 1.0), ("gamma2", 1.0), ("beta1", 0.0), ("beta2", 0.0), ("b3", 0.0), ("b4", 0.0)):
            if np.any(got[0][key] != fill):
                raise CheckFailed(f"{context.name}: params[{key!r}] must start at {fill:g} everywhere. Hint: {INIT_HINT}")
        for key, fan_in in INIT_FAN_IN.items():
            pooled = np.concatenate([g[key].ravel() for g in got[:INIT_SEEDS]])
            want, std, mean = math.sqrt(2 / fan_in), float(pooled.std()), float(pooled.mean())
            if abs(std / want - 1) > 0.15:
                for name, other in (("kernel_only", math.sqrt(2 / 9)), ("xavier", math.sqrt(1 / fan_in)),
                                    ("small", 0.01), ("unit", 1.0)):
                    if (key == "w2" or name != "kernel_only") and abs(std / other - 1) <= 0.15:
                        raise CheckFailed(f"{context.name}: params[{key!r}]: {INIT_MISTAKES[name]}")
                raise CheckFailed(f"{context.name}: params[{key!r}] has std {std:.4f}; He initialisation gives "
                                  f"sqrt(2 / {fan_in}) = {want:.4f}. Hint: {INIT_HINT}")
            if abs(mean) > 5 * want / math.sqrt(pooled.size):
                raise CheckFailed(f"{context.name}: params[{key!r}] has mean {mean:.4f}; draw it from a normal "
                                  f"distribution centred at 0. Hint: {INIT_HINT}")
        if any(not np.array_equal(got[0][k], got[-1][k]) for k in PARAM_KEYS):
            raise CheckFailed(f"{context.name}: two calls with seed={seed} gave different weights: draw them from "
                              "rng = np.random.default_rng(seed), not from the global np.random state.")
        if np.array_equal(got[0]["w1"], got[1]["w1"]):
            raise CheckFailed(f"{context.name}: seeds {seeds[0]} and {seeds[1]} gave the same weights: use the seed.")
        return "keys, shapes, float64, gamma 1, beta 0, He scale, and the seed is used"

    return {"calls": calls}, judge


# ---- hidden cases: cnn_loss -------------------------------------------------------------------------------


def random_problem(rng: np.random.Generator, N: int, H: int, W: int, F1: int, F2: int, M: int,
                   dtype=np.float64) -> dict:
    """A small network with random weights (He scale, gamma around 1, beta around 0), running statistics of
    the right scale, images in [0, 1] and labels."""
    D = F2 * (H // 4) * (W // 4)
    params = init_cnn(int(rng.integers(1 << 30)), 1, F1, F2, D, M, 10)
    for key in ("gamma1", "gamma2"):
        params[key] = 1 + 0.3 * rng.normal(size=params[key].shape)
    for key in ("beta1", "beta2", "b3", "b4"):
        params[key] = 0.3 * rng.normal(size=params[key].shape)
    x = rng.uniform(size=(N, 1, H, W))
    bn_params = [{"running_mean": 0.3 * rng.normal(size=F), "running_var": rng.uniform(0.5, 2.0, size=F)}
                 for F in (F1, F2)]
    return {"params": {k: v.astype(dtype) for k, v in params.items()}, "bn_params": bn_params,
            "x": x.astype(dtype), "y": rng.integers(0, 10, size=N)}


#: (N, H, W, F1, F2, M, dtype) of the cnn_loss problems.
LOSS_PROBLEMS = [
    (4, 8, 8, 3, 4, 6, np.float64),
    (1, 8, 12, 2, 3, 5, np.float64),
    (3, 12, 8, 4, 2, 7, np.float64),
    (2, 28, 28, 16, 32, 128, np.float64),
    (5, 16, 16, 4, 6, 8, np.float32),
]


def _label(problem: dict) -> str:
    x, params = problem["x"], problem["params"]
    return (f"x of shape {x.shape}, F1={len(params['gamma1'])}, F2={len(params['gamma2'])}, M={len(params['b3'])}"
            + (", float32" if x.dtype == np.float32 else ""))


def _entry(answers: Answers, entries, index: int, label: str) -> dict:
    if not isinstance(entries, list) or index >= len(entries) or not isinstance(entries[index], dict):
        raise CheckFailed(f"{answers.name}: the answers are incomplete (was the hidden test cell changed?).")
    entry = entries[index]
    if entry.get("changed"):
        raise CheckFailed(f"{answers.name} on {label} changed its input `{entry['changed'][0]}` in place; compute new "
                          "arrays and leave params and X as they are.")
    return entry


def _loss_and_grads(answers: Answers, value, label: str) -> tuple[float, dict]:
    loss, grads = answers.parts(answers.value(value, label), "loss", "grads")
    loss = np.asarray(loss)
    if loss.dtype.kind not in "iuf" or loss.size != 1:
        raise CheckFailed(f"{answers.name} ({label}): the loss must be one number; got shape {loss.shape}, dtype "
                          f"{loss.dtype}.")
    if not isinstance(grads, dict) or sorted(grads) != sorted(PARAM_KEYS):
        keys = ", ".join(sorted(grads)) if isinstance(grads, dict) else f"a {type(grads).__name__}"
        raise CheckFailed(f"{answers.name} ({label}): grads must be a dict with the keys of params "
                          f"({', '.join(PARAM_KEYS)}); got {keys}.")
    return float(loss.reshape(())), grads


def _running(answers: Answers, bn_after, problem: dict, label: str) -> None:
    """The running statistics after a training call, against the reference and the known mistakes."""
    bn_params, x = problem["bn_params"], problem["x"]
    if not isinstance(bn_after, list) or len(bn_after) != 2 or not all(isinstance(b, dict) for b in bn_after):
        raise CheckFailed(f"{answers.name} ({label}): bn_params must stay a list of two dicts; it became "
                          f"{type(bn_after).__name__}.")
    want = network(problem["params"], bn_params, x, problem["y"])["running"]
    wrong = running_mistakes(bn_params, batch_stats(problem["params"], bn_params, x))
    rtol, atol = TOL32 if x.dtype == np.float32 else TOL64
    for layer, (bn, (mean, var)) in enumerate(zip(bn_after, want), start=1):
        for key, expected, part in (("running_mean", mean, 0), ("running_var", var, 1)):
            if key not in bn:
                raise CheckFailed(f"{answers.name} ({label}): bn_params[{layer - 1}] has no {key!r} after training. "
                                  f"Hint: {RUNNING_HINT}")
            named = [m for m in mistakes_on({k: v[layer - 1][part] for k, v in wrong.items()}, RUNNING_MISTAKES)]
            check_array(f"{answers.name} ({label}): bn_params[{layer - 1}][{key!r}] after a training call", bn[key],
                        expected, rtol=rtol, atol=atol, mistakes=named, hint=RUNNING_HINT)


@case("w04_cnn_loss_values")
def cnn_loss_values(rng: np.random.Generator):
    """Scores without labels (test mode: the running statistics sent; the dicts arrive with mode 'train', which
    cnn_loss must set to 'test'), then the loss and the running statistics after a call with labels (the dicts
    arrive with mode 'test'), on five networks: 8x8, 8x12 (N = 1), 12x8 and 28x28 images (F1 = 16, F2 = 32),
    and one in float32; params and X must be left unchanged."""
    problems = [random_problem(rng, *shape) for shape in LOSS_PROBLEMS]

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["results"]
        for i, problem in enumerate(problems):
            label = _label(problem)
            params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
            rtol, atol = TOL32 if x.dtype == np.float32 else TOL64
            scores = answers.value(_entry(answers, entries, 2 * i, label)["result"], label)
            check_array(f"{context.name} ({label}): the scores (y=None)", scores, cnn_scores(params, bn_params, x),
                        rtol=rtol, atol=atol, hint=LOSS_HINT,
                        mistakes=mistakes_on(scores_mistakes(params, bn_params, x), SCORES_MISTAKES))
            entry = _entry(answers, entries, 2 * i + 1, label)
            loss, _ = _loss_and_grads(answers, entry["result"], label)
            check_array(f"{context.name} ({label}): the loss", np.float64(loss), cnn_loss(params, bn_params, x, y)[0],
                        rtol=rtol, atol=atol, hint=LOSS_HINT,
                        mistakes=mistakes_on(loss_mistakes(params, bn_params, x, y), LOSS_MISTAKES))
            _running(answers, entry["bn_params"], problem, label)
        return f"scores, loss and running statistics agree with the reference on {len(problems)} networks"

    calls = []
    for problem in problems:
        calls.append({"problem": problem, "labels": False, "mode": "train"})
        calls.append({"problem": problem, "labels": True, "mode": "test"})
    return {"calls": calls}, judge


#: Entries of each parameter checked against centred differences of the student's own loss.
NUMERIC_ENTRIES = 3


@case("w04_cnn_loss_grads")
def cnn_loss_grads(rng: np.random.Generator):
    """grads against the reference (naming the known mistakes) on the five networks of w04_cnn_loss_values
    (another draw); and on the first (8x8 images, N = 4, F1 = 3, F2 = 4, M = 6) against centred differences
    (h = 1e-5) of the student's OWN loss at 3 random entries of each of the 10 parameters (the kernel returns the
    loss at each moved params; tests/test_w04_cnn.py shows the reference passes this on the case's inputs)."""
    problems = [random_problem(rng, *shape) for shape in LOSS_PROBLEMS]
    calls = [{"problem": problem, "labels": True, "mode": "train"} for problem in problems]
    first = problems[0]
    steps = []
    for key in PARAM_KEYS:
        value = first["params"][key]
        for flat in rng.choice(value.size, size=min(NUMERIC_ENTRIES, value.size), replace=False):
            index = np.unravel_index(int(flat), value.shape)
            moved = []
            for sign in (1, -1):
                params = {k: v.copy() for k, v in first["params"].items()}
                params[key][index] += sign * H
                moved.append(params[key][index])
                calls.append({"problem": first | {"params": params}, "labels": True, "mode": "train"})
            steps.append((key, index, moved[0] - moved[1]))

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["results"]
        for i, problem in enumerate(problems):
            label = _label(problem)
            _, grads = _loss_and_grads(answers, _entry(answers, entries, i, label)["result"], label)
            params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
            _, want = cnn_loss(params, bn_params, x, y)
            wrong = grads_mistakes(params, bn_params, x, y)
            single = x.dtype == np.float32
            for key in PARAM_KEYS:
                scale = float(np.abs(want[key]).max())
                rtol, atol = (1e-3, 1e-4 * scale) if single else (1e-6, 1e-9 * scale)
                check_array(f"{context.name} ({label}): grads[{key!r}]", grads[key], want[key], rtol=rtol, atol=atol,
                            hint=GRADS_HINT, mistakes=mistakes_on(wrong[key], GRADS_MISTAKES))
        label = _label(first)
        _, grads = _loss_and_grads(answers, _entry(answers, entries, 0, label)["result"], label)
        for k, (key, index, step) in enumerate(steps):
            plus, _ = _loss_and_grads(answers, _entry(answers, entries, len(problems) + 2 * k, label)["result"], label)
            minus, _ = _loss_and_grads(answers, _entry(answers, entries, len(problems) + 2 * k + 1, label)["result"],
                                       label)
            numeric, analytic = (plus - minus) / step, float(np.asarray(grads[key], dtype=np.float64)[index])
            if abs(numeric - analytic) > 1e-5 * max(abs(numeric), abs(analytic)) + 1e-8:
                raise CheckFailed(f"{context.name} ({label}): grads[{key!r}][{', '.join(map(str, index))}] is "
                                  f"{analytic:.8g}, but the centred difference of your own loss there is {numeric:.8g}: "
                                  "your grads agree with the reference, so the loss you return is not the one they are "
                                  "the gradient of (the mean cross-entropy of the scores).")
        return (f"grads agree with the reference on {len(problems)} networks and with centred differences of your "
                "loss")

    return {"calls": calls}, judge


# ---- hidden cases: train_cnn --------------------------------------------------------------------------------


def _trained(answers: Answers, value, label: str) -> tuple[dict, list, dict]:
    """The (params, bn_params, history) a training run returned, checked for structure."""
    params, bn_params, history = answers.parts(answers.value(value, label), "params", "bn_params", "history")
    params = _params(answers, params, label)
    if not isinstance(bn_params, list | tuple) or len(bn_params) != 2 or not all(isinstance(b, dict) for b in bn_params):
        raise CheckFailed(f"{answers.name} ({label}): bn_params must be a list of two dicts (one per batch norm), "
                          "holding 'running_mean' and 'running_var'.")
    checked = []
    for layer, (bn, C) in enumerate(zip(bn_params, (16, 32)), start=1):
        entry = {}
        for key in ("running_mean", "running_var"):
            array = np.asarray(bn.get(key)) if key in bn else None
            if array is None or array.shape != (C,) or array.dtype.kind not in "fiu" or not np.all(np.isfinite(array)):
                raise CheckFailed(f"{answers.name} ({label}): bn_params[{layer - 1}][{key!r}] must be {C} finite numbers "
                                  f"(one per channel of batch norm {layer}). Hint: {RUNNING_HINT}")
            entry[key] = array.astype(np.float64)
        eps = bn.get("eps", EPS)
        entry["eps"] = float(eps) if isinstance(eps, int | float) and 0 < eps < 1 else EPS
        checked.append(entry)
    return params, checked, history


def mnist_accuracy(params: dict, bn_params: list, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the reference's test-mode forward pass (float64) on (N, 1, 28, 28) images, in batches."""
    right = 0
    for start in range(0, len(images), SCORE_BATCH):
        scores = cnn_scores(params, bn_params, images[start:start + SCORE_BATCH])
        right += int(np.sum(scores.argmax(axis=1) == labels[start:start + SCORE_BATCH]))
    return right / len(images)


@case("w04_train_cnn_mnist")
def train_cnn_mnist(rng: np.random.Generator):
    """A bounded MNIST run: train_cnn on 10,000 seeded training images (1,000 more for validation) for 2 epochs,
    batch 64, learning rate 2e-3, progress=False. The kernel loads the images itself (dlfs.data.load_mnist,
    float32 in [0, 1], as (N, 1, 28, 28)) at the indices sent and returns (params, bn_params, history); here the
    params are checked for keys and shapes, the running statistics for shape and for having moved from their
    start (zeros and ones), history for its keys and lengths, and the network is scored with the reference
    forward pass (float64, batch norm in test mode with the returned running statistics) on the 10,000 images of
    MNIST's test split. Nothing the kernel says about accuracy is used.

    Calibration (python -m autograder.cases.w04_cnn NOTEBOOK: the notebook's solution with the layers of its
    sections 3 and 4, float32, one BLAS thread, 2 cores shared with other jobs), seeds 0-5 of the indices and the
    trainer: test accuracy 0.9711, 0.9756, 0.9741, 0.9726, 0.9710, 0.9753 (min 0.9710, mean 0.9733), 9-13 s of
    training and 5 s of judging per run. A plainer correct trainer (constant learning rate, no random shifts, a
    textbook Adam) gives 0.9652, 0.9741, 0.9652, 0.9700, 0.9703, 0.9646 (min 0.9646). The bar, 0.95, is 1.5 points
    under the lowest of all twelve; untrained params score about 0.10.
    """
    picked = rng.permutation(60_000)[:MNIST_TRAIN + MNIST_VAL]
    train_idx, val_idx = np.sort(picked[:MNIST_TRAIN]), np.sort(picked[MNIST_TRAIN:])
    settings = MNIST_SETTINGS | {"seed": int(rng.integers(1000)), "progress": False}
    inputs = {"train": train_idx, "val": val_idx, "settings": settings}

    def judge(answers: Answers, context: Context) -> str:
        label = f"{MNIST_TRAIN:,} MNIST images, {settings['epochs']} epochs"
        params, bn_params, history = _trained(answers, answers["result"], label)
        steps = settings["epochs"] * math.ceil(MNIST_TRAIN / settings["batch_size"])
        problem = history_problem(history, settings["epochs"], steps)
        if problem:
            raise CheckFailed(f"{context.name} ({label}): {problem}")
        start = init_cnn(0)
        if all(np.allclose(bn["running_mean"], 0) and np.allclose(bn["running_var"], 1) for bn in bn_params):
            raise CheckFailed(f"{context.name} ({label}): {RUNNING_MISTAKES['not_updated']}")
        mnist = load_mnist(flatten=False, dtype=np.float64)
        score = mnist_accuracy(params, bn_params, mnist.X_test[:, None], mnist.y_test)
        if score < 0.2:
            unchanged = all(np.allclose(params[k], start[k]) for k in ("gamma1", "beta1", "b3", "b4"))
            raise CheckFailed(f"{context.name}: test accuracy {score:.3f}, about chance: the params you return look "
                              f"{'untrained' if unchanged else 'broken'} (return the trained params and the bn_params "
                              f"the training updated). Hint: {TRAIN_HINT}")
        if score < MNIST_MIN_ACCURACY:
            raise CheckFailed(f"{context.name}: test accuracy {score:.4f} after {label}; at least {MNIST_MIN_ACCURACY} is "
                              f"expected (the reference reaches about 0.97). Hint: {TRAIN_HINT}")
        return f"test accuracy {score:.4f} on MNIST's 10,000 test images after {label}"

    return inputs, judge


# ---- fixtures of the visible checks -------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(44)
    pool = {}
    for tag, shape, size, stride in (("a", (2, 2, 6, 7), 2, 2), ("b", (1, 2, 7, 7), 3, 2)):
        x = rng.integers(0, 4, size=shape).astype(np.float64)
        out, cache = max_pool_forward(x, size, stride)
        dout = rng.normal(size=out.shape)
        pool |= {f"x_{tag}": x, f"dout_{tag}": dout, f"pool_{tag}": np.array(size), f"stride_{tag}": np.array(stride),
                 f"expected_out_{tag}": out, f"expected_dx_{tag}": max_pool_backward(dout, cache)}
        pool |= stored(pool_mistakes(x, size, stride), POOL_MISTAKES, suffix=f"_out_{tag}")
        pool |= stored(pool_backward_mistakes(x, size, stride, dout), POOL_BACKWARD_MISTAKES, suffix=f"_dx_{tag}")
    problem = random_problem(rng, 3, 8, 12, 3, 4, 6)
    params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
    loss, grads = cnn_loss(params, bn_params, x, y)
    running = network(params, bn_params, x, y)["running"]
    arrays = {"x": x, "y": y, "expected_scores": cnn_scores(params, bn_params, x), "expected_loss": loss}
    arrays |= {f"param_{k}": v for k, v in params.items()} | {f"expected_d{k}": v for k, v in grads.items()}
    for layer, (bn, (mean, var)) in enumerate(zip(bn_params, running)):
        arrays |= {f"running_mean_{layer}": bn["running_mean"], f"running_var_{layer}": bn["running_var"],
                   f"expected_running_mean_{layer}": mean, f"expected_running_var_{layer}": var}
    arrays |= stored(scores_mistakes(params, bn_params, x), SCORES_MISTAKES, suffix="_scores")
    arrays |= stored(loss_mistakes(params, bn_params, x, y), LOSS_MISTAKES, suffix="_loss")
    for key, outputs in grads_mistakes(params, bn_params, x, y).items():
        arrays |= {f"mistake_grad_{name}_d{key}": out for name, out in outputs.items()}
    arrays |= {f"message_grad_{name}": np.array(text) for name, text in GRADS_MISTAKES.items()}
    init = {f"message_{name}": np.array(text) for name, text in INIT_MISTAKES.items()}
    init["fan_in"] = np.array(list(INIT_FAN_IN.values()))
    train = {"train": np.arange(0, 60_000, 50)[:1000], "val": np.arange(25, 60_000, 100)[:300]}
    return {"w04_cnn_max_pool": pool, "w04_cnn_init": init, "w04_cnn_loss": arrays, "w04_cnn_train": train}


def _notebook_train_cnn(path):
    """train_cnn as the solution cells of a source notebook define it (run after the notebook's imports)."""
    import ast

    import nbformat

    from autograder.protocol import _python_only

    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    namespace: dict = {"__name__": "w04_calibration"}
    for cell in cells:
        imports = [n for n in ast.parse(_python_only(cell.source)).body if isinstance(n, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=imports, type_ignores=[]), "<imports>", "exec"), namespace)
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(compile(_python_only(cell.source), "<solution>", "exec"), namespace)
    return namespace["train_cnn"]


if __name__ == "__main__":  # calibration of the MNIST case: python -m autograder.cases.w04_cnn [NOTEBOOK [SEEDS]]
    import sys

    from autograder.course import NOTEBOOK, SOURCE_DIR

    source = sys.argv[1] if len(sys.argv) > 1 else SOURCE_DIR / "week04_conv_from_scratch" / NOTEBOOK
    train = _notebook_train_cnn(source)
    mnist = load_mnist(flatten=False)
    test = load_mnist(flatten=False, dtype=np.float64)
    for seed in range(int(sys.argv[2]) if len(sys.argv) > 2 else 6):
        inputs, _ = train_cnn_mnist(np.random.default_rng(seed))
        started = time.perf_counter()
        params, bn_params, history = train(mnist.X_train[inputs["train"]][:, None], mnist.y_train[inputs["train"]],
                                           mnist.X_train[inputs["val"]][:, None], mnist.y_train[inputs["val"]],
                                           **inputs["settings"])
        took = time.perf_counter() - started
        score = mnist_accuracy(params, bn_params, test.X_test[:, None], test.y_test)
        judging = time.perf_counter() - started - took
        print(f"seed {seed}: test accuracy {score:.4f}, training {took:.1f} s, judging {judging:.1f} s, "
              f"validation {history['val_acc']}", flush=True)
