"""Week 4, the CNN trained from scratch (max_pool_forward_fast/backward_fast, init_cnn, cnn_loss, train_cnn): the
reference against JAX and finite differences, the hidden cases against correct and wrong implementations, the
visible checks, and the time of the bounded MNIST case."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, notebook_solutions, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import conv_reference
from autograder.cases import w04_cnn as ref
from autograder.gradcheck import numerical_gradient
from autograder.protocol import get_case, run_case
from dlfs.checks import week04 as visible
from dlfs.checks.w04_cnn import PARAM_KEYS

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_cnn, pytest.mark.autograder]


def _notebook() -> dict:
    """The source notebook's solution cells, once the week is assembled (else nothing)."""
    from autograder.course import NOTEBOOK, SOURCE_DIR

    if not (SOURCE_DIR / "week04_conv_from_scratch" / NOTEBOOK).exists():
        return {}
    return notebook_solutions("week04_conv_from_scratch")


SOLUTION = _notebook()


def _solution(*names: str) -> list:
    """The notebook's functions as one correct variant (a Together for several), or none before assembly."""
    if not all(name in SOLUTION for name in names):
        return []
    return [SOLUTION[names[0]]] if len(names) == 1 else [Together(*(SOLUTION[n] for n in names))]


# ---- correct variants: pooling ------------------------------------------------------------------------------


def _windows(x, pool, stride):
    """(N, C, OH, OW, pool * pool): the flattened windows, a copy."""
    view = sliding_window_view(x, (pool, pool), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, OH, OW = view.shape[:4]
    return view.reshape(N, C, OH, OW, pool * pool)


def pool_argmax_forward(x, pool=2, stride=None):
    """np.argmax over the flattened windows (its first maximum is the tie rule); the index kept for backward."""
    stride = pool if stride is None else stride
    windows = _windows(x, pool, stride)
    best = windows.argmax(axis=-1)
    return np.take_along_axis(windows, best[..., None], axis=-1)[..., 0], (x.shape, best, pool, stride)


def pool_argmax_backward(dout, cache):
    """np.add.at scatters every window's gradient to its argmax (add.at adds repeated indices)."""
    shape, best, pool, stride = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    n, c, i, j = np.indices(best.shape)
    u, v = np.divmod(best, pool)
    np.add.at(dx, (n, c, stride * i + u, stride * j + v), dout)
    return dx


def pool_loops_forward(x, pool=2, stride=None):
    stride = pool if stride is None else stride
    N, C, H, W = x.shape
    OH, OW = (H - pool) // stride + 1, (W - pool) // stride + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        out[n, c, i, j] = x[n, c, stride * i:stride * i + pool, stride * j:stride * j + pool].max()
    return out, (x, pool, stride)


def pool_loops_backward(dout, cache):
    x, pool, stride = cache
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for n, c, i, j in np.ndindex(*dout.shape):
        window = x[n, c, stride * i:stride * i + pool, stride * j:stride * j + pool]
        u, v = divmod(int(np.argmax(window)), pool)
        dx[n, c, stride * i + u, stride * j + v] += dout[n, c, i, j]
    return dx


# ---- correct variants: init_cnn ---------------------------------------------------------------------------------


def init_normal(seed=0):
    """rng.normal with a scale, the dense layers first."""
    rng = np.random.default_rng(seed)
    params = {"w3": rng.normal(0, math.sqrt(2 / 1568), size=(1568, 128)), "w4": rng.normal(0, math.sqrt(2 / 128), size=(128, 10))}
    params["w2"] = rng.normal(0, math.sqrt(2 / 144), size=(32, 16, 3, 3))
    params["w1"] = rng.normal(0, math.sqrt(2 / 9), size=(16, 1, 3, 3))
    return params | {"gamma1": np.ones(16), "beta1": np.zeros(16), "gamma2": np.ones(32), "beta2": np.zeros(32),
                     "b3": np.zeros(128), "b4": np.zeros(10)}


# ---- correct variants: cnn_loss ----------------------------------------------------------------------------------


def _bn_rows(z, gamma, beta, bn, train):
    """Batch norm on the (N H W, C) rows of z, week 2's layer; running statistics updated in bn when training."""
    N, C, H, W = z.shape
    rows = z.transpose(0, 2, 3, 1).reshape(-1, C)
    if train:
        mu, var = rows.mean(axis=0), rows.var(axis=0)
        bn["running_mean"] = 0.9 * bn.get("running_mean", np.zeros(C)) + 0.1 * mu
        bn["running_var"] = 0.9 * bn.get("running_var", np.ones(C)) + 0.1 * var
    else:
        mu, var = bn["running_mean"].astype(z.dtype), bn["running_var"].astype(z.dtype)
    inv = 1 / np.sqrt(var + z.dtype.type(1e-5))
    x_hat = (rows - mu) * inv
    return (x_hat * gamma + beta).reshape(N, H, W, C).transpose(0, 3, 1, 2), (x_hat, gamma, inv)


def _bn_rows_backward(dout, cache):
    x_hat, gamma, inv = cache
    N, C, H, W = dout.shape
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    d_hat = rows * gamma
    dz = inv * (d_hat - d_hat.mean(axis=0) - x_hat * (d_hat * x_hat).mean(axis=0))
    return dz.reshape(N, H, W, C).transpose(0, 3, 1, 2), (rows * x_hat).sum(axis=0), rows.sum(axis=0)


def cnn_loss_pool_first(params, bn_params, X, y=None):
    """Another valid order: max pooling before the ReLU (they commute), batch norm on (N H W, C) rows, the
    pooling by argmax of windows, the loss through log-sum-exp; float32 stays float32."""
    train = y is not None
    h, caches = X, []
    for i in (1, 2):
        w = params[f"w{i}"]
        z, conv_cache = conv_reference.conv_forward_fast(h, w, np.zeros(len(w), dtype=w.dtype), 1, 1)
        n, bn_cache = _bn_rows(z, params[f"gamma{i}"], params[f"beta{i}"], bn_params[i - 1], train)
        pooled, pool_cache = pool_argmax_forward(n, 2, 2)
        h = np.maximum(pooled, 0)
        caches.append((conv_cache, bn_cache, pool_cache, pooled))
    flat = h.reshape(len(X), -1)
    pre = flat @ params["w3"] + params["b3"]
    hidden = pre * (pre > 0)
    scores = hidden @ params["w4"] + params["b4"]
    if not train:
        return scores
    top = scores.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
    loss = float(np.mean(lse - scores[np.arange(len(y)), y]))
    p = np.exp(scores - lse[:, None])
    d = (p - np.eye(scores.shape[1], dtype=p.dtype)[y]) / len(y)
    grads = {"w4": hidden.T @ d, "b4": d.sum(axis=0)}
    d = (d @ params["w4"].T) * (pre > 0)
    grads["w3"], grads["b3"] = flat.T @ d, d.sum(axis=0)
    d = (d @ params["w3"].T).reshape(h.shape)
    for i in (2, 1):
        conv_cache, bn_cache, pool_cache, pooled = caches[i - 1]
        d = pool_argmax_backward(d * (pooled > 0), pool_cache)
        d, grads[f"gamma{i}"], grads[f"beta{i}"] = _bn_rows_backward(d, bn_cache)
        d, grads[f"w{i}"], _ = conv_reference.conv_backward_fast(d, conv_cache)
    return loss, grads


def _write_running(bn_params, running):
    for bn, (mean, var) in zip(bn_params, running):
        bn["running_mean"], bn["running_var"] = mean, var


def loss_variant(name, update="right", **mistake):
    """The reference with a known mistake; ``update`` says what becomes of the running statistics."""
    def fn(params, bn_params, X, y=None):
        out = ref.network(params, bn_params, X, y, **mistake)
        if y is None:
            return out["scores"]
        if update == "right":
            _write_running(bn_params, out["running"])
        elif update == "swapped":
            stats = ref.batch_stats(params, bn_params, X)
            _write_running(bn_params, [(0.1 * bn["running_mean"] + 0.9 * mu, 0.1 * bn["running_var"] + 0.9 * var)
                                       for bn, (mu, var) in zip(bn_params, stats)])
        return out["loss"], out["grads"]

    fn.__name__ = name
    return fn


cnn_loss_reference = loss_variant("cnn_loss_reference")


# ---- correct variants: train_cnn ---------------------------------------------------------------------------------


def train_cnn_plain(X_train, y_train, X_val, y_val, *, epochs=5, batch_size=64, learning_rate=2e-3, seed=0,
                    progress=True):
    """No augmentation, a constant learning rate, a textbook Adam that makes new arrays, rng.shuffle of an index
    array, and the pool-first cnn_loss above."""
    rng = np.random.default_rng(seed)
    params = {k: v.astype(X_train.dtype) for k, v in init_normal(seed).items()}
    bn_params = [{}, {}]
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    history = {"loss": [], "train_acc": [], "val_acc": []}
    index, t = np.arange(len(X_train)), 0

    def accuracy(X, y):
        return float(np.mean(np.concatenate([cnn_loss_pool_first(params, bn_params, X[i:i + 256]).argmax(1)
                                             for i in range(0, len(X), 256)]) == y))

    for _ in range(epochs):
        rng.shuffle(index)
        for start in range(0, len(index), batch_size):
            batch = index[start:start + batch_size]
            loss, grads = cnn_loss_pool_first(params, bn_params, X_train[batch], y_train[batch])
            t += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                m_hat, v_hat = m[k] / (1 - 0.9 ** t), v[k] / (1 - 0.999 ** t)
                params[k] = params[k] - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
            history["loss"].append(loss)
        history["train_acc"].append(accuracy(X_train[:len(X_val)], y_train[:len(X_val)]))
        history["val_acc"].append(accuracy(X_val, y_val))
    return params, bn_params, history


# ---- wrong implementations ------------------------------------------------------------------------------------


def pool_avg_forward(x, pool=2, stride=None):
    return conv_reference.avg_pool_forward(x, pool, stride)


def pool_avg_backward(dout, cache):
    return conv_reference.avg_pool_backward(dout, cache)


def pool_backward_variant(name):
    """The right forward (the argmax one), and the backward of a known mistake, from the trusted side."""
    def fn(dout, cache):
        shape, best, pool, stride = cache
        return ref.pool_backward_mistakes(fn.x, pool, stride, dout)[name].astype(dout.dtype)

    def forward(x, pool=2, stride=None):
        fn.x = x
        return pool_argmax_forward(x, pool, stride)

    fn.__name__ = f"pool_{name}"
    forward.__name__ = "pool_argmax_forward"
    return Together(fn, forward)


def pool_stride_is_pool(x, pool=2, stride=None):
    """Windows moved by pool whatever the stride."""
    return pool_argmax_forward(x, pool, pool)


def pool_stub(x, pool=2, stride=None):
    raise NotImplementedError()


def pool_backward_stub(dout, cache):
    raise NotImplementedError()


def pool_in_place_forward(x, pool=2, stride=None):
    """Clips the input in place first."""
    np.minimum(x, 2, out=x)
    return pool_argmax_forward(x, pool, stride)


def init_variant(name, scale=None, dtype=np.float64, rng_kind="seeded", drop=None, gamma=1.0):
    def fn(seed=0):
        rng = {"seeded": np.random.default_rng(seed), "fixed": np.random.default_rng(0), "global": np.random}[rng_kind]
        params = {}
        for key, shape, fan_in in (("w1", (16, 1, 3, 3), 9), ("w2", (32, 16, 3, 3), 144), ("w3", (1568, 128), 1568),
                                   ("w4", (128, 10), 128)):
            std = (scale or (lambda key, fan_in: math.sqrt(2 / fan_in)))(key, fan_in)
            params[key] = (rng.standard_normal(shape) * std).astype(dtype)
        for key, size in (("gamma1", 16), ("gamma2", 32)):
            params[key] = np.full(size, gamma, dtype=dtype)
        for key, size in (("beta1", 16), ("beta2", 32), ("b3", 128), ("b4", 10)):
            params[key] = np.zeros(size, dtype=dtype)
        return {k: v for k, v in params.items() if k != drop}

    fn.__name__ = name
    return fn


init_xavier = init_variant("init_xavier", scale=lambda key, fan_in: math.sqrt(1 / fan_in))
init_kernel_only = init_variant("init_kernel_only", scale=lambda key, fan_in: math.sqrt(2 / (9 if key[1] in "12" else fan_in)))
init_small = init_variant("init_small", scale=lambda key, fan_in: 0.01)
init_float32 = init_variant("init_float32", dtype=np.float32)
init_global_rng = init_variant("init_global_rng", rng_kind="global")
init_ignores_seed = init_variant("init_ignores_seed", rng_kind="fixed")
init_no_b4 = init_variant("init_no_b4", drop="b4")
init_gamma_zero = init_variant("init_gamma_zero", gamma=0.0)


def init_stub(seed=0):
    raise NotImplementedError()


loss_no_relu = loss_variant("loss_no_relu", relu=False)
loss_no_hidden_relu = loss_variant("loss_no_hidden_relu", hidden_relu=False)
loss_flatten_hwc = loss_variant("loss_flatten_hwc", order="hwc")
loss_dense_no_bias = loss_variant("loss_dense_no_bias", dense_bias=False)
loss_softmax = loss_variant("loss_softmax", softmax=True)
loss_sum = loss_variant("loss_sum", mean=False)
loss_copies_bn = loss_variant("loss_copies_bn", update="none")
loss_momentum_swapped = loss_variant("loss_momentum_swapped", update="swapped")
grads_no_mask = loss_variant("grads_no_mask", mask=False)
grads_no_hidden_mask = loss_variant("grads_no_hidden_mask", hidden_mask=False)
grads_spread = loss_variant("grads_spread", pool_grad="spread")
grads_bn_no_mean = loss_variant("grads_bn_no_mean", bn_grad="simple")


def loss_always_test_mode(params, bn_params, X, y=None):
    """Never switches batch norm to training: the running statistics normalise the training batches too."""
    out = ref.network(params, bn_params, X, y, batch_stats=False)
    return out["scores"] if y is None else (out["loss"], out["grads"])


def loss_ignores_mode(params, bn_params, X, y=None):
    """Leaves the mode the dicts arrive with (the given lines deleted)."""
    train = all(bn.get("mode", "train") == "train" for bn in bn_params)
    out = ref.network(params, bn_params, X, y, batch_stats=train)
    if y is None:
        return out["scores"]
    _write_running(bn_params, out["running"]) if train else None
    return out["loss"], out["grads"]


def loss_doubled(params, bn_params, X, y=None):
    """Right gradients, the loss returned twice too large."""
    out = cnn_loss_reference(params, bn_params, X, y)
    return out if y is None else (2 * out[0], out[1])


def loss_centres_X(params, bn_params, X, y=None):
    X -= 0.5
    return cnn_loss_reference(params, bn_params, X, y)


def loss_stub(params, bn_params, X, y=None):
    raise NotImplementedError()


def _initial(X_train, seed):
    params = {k: v.astype(X_train.dtype) for k, v in init_normal(seed).items()}
    return params


def train_returns_initial(X_train, y_train, X_val, y_val, *, epochs=5, batch_size=64, learning_rate=2e-3, seed=0,
                          progress=True):
    """The initial params, running statistics of one batch, a history that claims success."""
    params, bn_params = _initial(X_train, seed), [{}, {}]
    cnn_loss_pool_first(params, bn_params, X_train[:batch_size], y_train[:batch_size])
    steps = epochs * math.ceil(len(X_train) / batch_size)
    return params, bn_params, {"loss": [0.01] * steps, "train_acc": [0.99] * epochs, "val_acc": [0.99] * epochs}


def train_fresh_bn(X_train, y_train, X_val, y_val, **settings):
    """Returns the params with bn_params whose running statistics are still zeros and ones."""
    params, _, history = train_returns_initial(X_train, y_train, X_val, y_val, **settings)
    return params, [{"running_mean": np.zeros(C), "running_var": np.ones(C)} for C in (16, 32)], history


def train_empty_bn(X_train, y_train, X_val, y_val, **settings):
    params, _, history = train_returns_initial(X_train, y_train, X_val, y_val, **settings)
    return params, [{}, {}], history


def train_wrong_keys(X_train, y_train, X_val, y_val, **settings):
    params, bn_params, history = train_returns_initial(X_train, y_train, X_val, y_val, **settings)
    return {k.upper(): v for k, v in params.items()}, bn_params, history


def train_transposed_w3(X_train, y_train, X_val, y_val, **settings):
    params, bn_params, history = train_returns_initial(X_train, y_train, X_val, y_val, **settings)
    return params | {"w3": params["w3"].T}, bn_params, history


def train_loss_per_epoch(X_train, y_train, X_val, y_val, **settings):
    params, bn_params, history = train_returns_initial(X_train, y_train, X_val, y_val, **settings)
    return params, bn_params, history | {"loss": history["loss"][:settings.get("epochs", 5)]}


def train_stub(X_train, y_train, X_val, y_val, **settings):
    raise NotImplementedError()


CORRECT = {
    "w04_max_pool_fast": [Together(pool_argmax_backward, pool_argmax_forward), Together(pool_loops_backward, pool_loops_forward),
                          *_solution("max_pool_backward_fast", "max_pool_forward_fast")],
    "w04_init_cnn": [init_normal, ref.init_cnn, *_solution("init_cnn")],
    "w04_cnn_loss_values": [cnn_loss_reference, cnn_loss_pool_first, *_solution("cnn_loss")],
    "w04_cnn_loss_grads": [cnn_loss_reference, cnn_loss_pool_first, *_solution("cnn_loss")],
    "w04_train_cnn_mnist": [train_cnn_plain],
}

NOT_IMPLEMENTED = "not implemented yet"
WRONG = [
    ("w04_max_pool_fast", Together(pool_avg_backward, pool_avg_forward), "the average of each window"),
    ("w04_max_pool_fast", Together(pool_argmax_backward, pool_stride_is_pool), "move by pool, not by stride"),
    ("w04_max_pool_fast", pool_backward_variant("spread"), "spreading the gradient over the window"),
    ("w04_max_pool_fast", pool_backward_variant("all_ties"), "every tied maximum"),
    ("w04_max_pool_fast", pool_backward_variant("last_tie"), "LAST maximum"),
    ("w04_max_pool_fast", pool_backward_variant("overwrite"), "overwrite each other's gradient"),
    ("w04_max_pool_fast", Together(pool_argmax_backward, pool_stub), "max_pool_forward_fast is not implemented yet"),
    ("w04_max_pool_fast", Together(pool_backward_stub, pool_argmax_forward), NOT_IMPLEMENTED),
    ("w04_max_pool_fast", Together(pool_argmax_backward, pool_in_place_forward), "changed its input `x`"),
    ("w04_init_cnn", init_xavier, "Xavier"),
    ("w04_init_cnn", init_kernel_only, r"sqrt\(2 / \(C \* KH \* KW\)\)"),
    ("w04_init_cnn", init_small, "std 0.01"),
    ("w04_init_cnn", init_float32, "make the params float64"),
    ("w04_init_cnn", init_global_rng, "gave different weights"),
    ("w04_init_cnn", init_ignores_seed, "gave the same weights"),
    ("w04_init_cnn", init_no_b4, "exactly the keys"),
    ("w04_init_cnn", init_gamma_zero, r"params\['gamma1'\] must start at 1"),
    ("w04_init_cnn", init_stub, NOT_IMPLEMENTED),
    ("w04_cnn_loss_values", loss_no_relu, "without its ReLUs"),
    ("w04_cnn_loss_values", loss_no_hidden_relu, "dense head without its ReLU"),
    ("w04_cnn_loss_values", loss_flatten_hwc, r"\(H, W, C\) order"),
    ("w04_cnn_loss_values", loss_dense_no_bias, "last layer's bias"),
    ("w04_cnn_loss_values", loss_softmax, "you return probabilities"),
    ("w04_cnn_loss_values", loss_ignores_mode, "set every bn_param's mode to 'test'"),
    ("w04_cnn_loss_values", loss_always_test_mode, "normalises with the running statistics"),
    ("w04_cnn_loss_values", loss_sum, "SUM of the cross-entropies"),
    ("w04_cnn_loss_values", loss_copies_bn, "did not change in training"),
    ("w04_cnn_loss_values", loss_momentum_swapped, "momentum on the wrong side"),
    ("w04_cnn_loss_values", loss_centres_X, "changed its input `X`"),
    ("w04_cnn_loss_values", loss_stub, NOT_IMPLEMENTED),
    ("w04_cnn_loss_grads", grads_no_mask, "convolution blocks unmasked"),
    ("w04_cnn_loss_grads", grads_no_hidden_mask, "dense head's ReLU unmasked"),
    ("w04_cnn_loss_grads", grads_spread, "spreads each window's gradient"),
    ("w04_cnn_loss_grads", grads_bn_no_mean, "mean and variance terms"),
    ("w04_cnn_loss_grads", loss_sum, "N times too large"),
    ("w04_cnn_loss_grads", loss_doubled, "centred difference of your own loss"),
    ("w04_cnn_loss_grads", loss_stub, NOT_IMPLEMENTED),
    ("w04_train_cnn_mnist", train_returns_initial, "look untrained"),
    ("w04_train_cnn_mnist", train_fresh_bn, "running statistics in bn_params did not change"),
    ("w04_train_cnn_mnist", train_empty_bn, r"bn_params\[0\]\['running_mean'\] must be 16 finite numbers"),
    ("w04_train_cnn_mnist", train_wrong_keys, "exactly the keys"),
    ("w04_train_cnn_mnist", train_transposed_w3, r"params\['w3'\] must have shape \(1568, 128\)"),
    ("w04_train_cnn_mnist", train_loss_per_epoch, "one per mini-batch"),
    ("w04_train_cnn_mnist", train_stub, NOT_IMPLEMENTED),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w04_cnn", CORRECT, WRONG)


# ---- the reference against JAX and finite differences -------------------------------------------------------------


def _jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_network(jax, params, bn_params, x, y=None):
    """Scores (y None, running statistics), or (loss, the batch statistics of both batch norms)."""
    jnp, lax = jax.numpy, jax.lax
    h = jnp.asarray(x, dtype=jnp.float64)
    stats = []
    for i in (1, 2):
        z = lax.conv_general_dilated(h, params[f"w{i}"], (1, 1), [(1, 1), (1, 1)])
        if y is None:
            mu, var = jnp.asarray(bn_params[i - 1]["running_mean"]), jnp.asarray(bn_params[i - 1]["running_var"])
        else:
            mu, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
        stats.append((mu, var))
        z_hat = (z - mu[None, :, None, None]) / jnp.sqrt(var + 1e-5)[None, :, None, None]
        n = params[f"gamma{i}"][None, :, None, None] * z_hat + params[f"beta{i}"][None, :, None, None]
        h = lax.reduce_window(jax.nn.relu(n), -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    hidden = jax.nn.relu(h.reshape(h.shape[0], -1) @ params["w3"] + params["b3"])
    scores = hidden @ params["w4"] + params["b4"]
    if y is None:
        return scores
    log_p = jax.nn.log_softmax(scores, axis=1)
    return -jnp.mean(log_p[jnp.arange(len(y)), y]), stats


SHAPES = [(4, 8, 8, 3, 4, 6), (1, 8, 12, 2, 3, 5), (3, 12, 8, 4, 2, 7), (2, 28, 28, 16, 32, 128), (6, 4, 4, 1, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_against_jax(shape):
    jax = _jax()
    problem = ref.random_problem(np.random.default_rng(sum(shape)), *shape)
    params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
    jparams = {k: jax.numpy.asarray(v) for k, v in params.items()}
    np.testing.assert_allclose(ref.cnn_scores(params, bn_params, x), np.asarray(_jax_network(jax, jparams, bn_params, x)),
                               rtol=1e-10, atol=1e-12)
    (loss, stats), grads = jax.value_and_grad(lambda p: _jax_network(jax, p, bn_params, x, y), has_aux=True)(jparams)
    out = ref.network(params, bn_params, x, y)
    np.testing.assert_allclose(out["loss"], float(loss), rtol=1e-12)
    for key in PARAM_KEYS:
        scale = float(np.abs(grads[key]).max())
        np.testing.assert_allclose(out["grads"][key], np.asarray(grads[key]), rtol=1e-9, atol=1e-12 * scale, err_msg=key)
    for bn, (mean, var), (mu, sigma2) in zip(bn_params, out["running"], stats):
        np.testing.assert_allclose(mean, 0.9 * bn["running_mean"] + 0.1 * np.asarray(mu), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(var, 0.9 * bn["running_var"] + 0.1 * np.asarray(sigma2), rtol=1e-12)


def test_reference_against_finite_differences():
    problem = ref.random_problem(np.random.default_rng(5), 3, 8, 8, 2, 3, 4)
    params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
    _, grads = ref.cnn_loss(params, bn_params, x, y)
    for key in PARAM_KEYS:
        numeric = numerical_gradient(lambda _: ref.cnn_loss(params, bn_params, x, y)[0], params[key])
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-9, err_msg=key)


def test_the_reference_keeps_its_inputs():
    problem = ref.random_problem(np.random.default_rng(6), 2, 8, 8, 2, 3, 4)
    before = {k: v.copy() for k, v in problem["params"].items()}
    bn_before = [{k: v.copy() for k, v in bn.items()} for bn in problem["bn_params"]]
    ref.network(problem["params"], problem["bn_params"], problem["x"], problem["y"])
    assert all(np.array_equal(before[k], problem["params"][k]) for k in before)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(bn_before, problem["bn_params"]) for k in a)


def test_the_test_file_variants_agree_with_the_reference():
    """The alternatives above are correct where it matters: float32 included, and for random problems."""
    for shape in SHAPES[:4]:
        problem = ref.random_problem(np.random.default_rng(sum(shape) + 1), *shape)
        params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
        np.testing.assert_allclose(cnn_loss_pool_first(params, [dict(b) for b in bn_params], x),
                                   ref.cnn_scores(params, bn_params, x), rtol=1e-10, atol=1e-12)
        bn = [dict(b) for b in bn_params]
        loss, grads = cnn_loss_pool_first(params, bn, x, y)
        out = ref.network(params, bn_params, x, y)
        np.testing.assert_allclose(loss, out["loss"], rtol=1e-12)
        for key in PARAM_KEYS:
            np.testing.assert_allclose(grads[key], out["grads"][key], rtol=1e-8, atol=1e-12, err_msg=key)
    x = np.random.default_rng(2).integers(0, 3, size=(2, 3, 7, 9)).astype(np.float32)
    for pool, stride in ((2, 2), (3, 2), (2, 1), (2, 3)):
        want, cache = conv_reference.max_pool_forward(x, pool, stride)
        dout = np.random.default_rng(3).normal(size=want.shape).astype(np.float32)
        for forward, backward in ((pool_argmax_forward, pool_argmax_backward), (pool_loops_forward, pool_loops_backward)):
            out, mine = forward(x, pool, stride)
            np.testing.assert_array_equal(out, want)
            np.testing.assert_allclose(backward(dout, mine), conv_reference.max_pool_backward(dout, cache), rtol=1e-6)


# ---- the mistakes the cases name are what they say, and tell apart ------------------------------------------------


def _differs(out, right) -> bool:
    return np.shape(out) != np.shape(right) or np.abs(out - right).max() > 1e-4 * float(np.abs(right).max())


def test_every_named_mistake_of_cnn_loss_shows_in_its_case():
    """Each known mistake changes what the case compares on at least one of its problems (where it does not, as
    the sum of a single image's loss or an unmasked ReLU whose windows all have a positive maximum, the student's
    answer is right there); the hidden-case tests above show that the judges then name it."""
    for case_id, families in (("w04_cnn_loss_values", ("scores", "loss")), ("w04_cnn_loss_grads", ("grads",))):
        inputs, _ = get_case(case_id).build()
        problems = list({id(c["problem"]): c["problem"] for c in inputs["calls"]}.values())[:5]
        seen = set()
        for problem in problems:
            params, bn_params, x, y = problem["params"], problem["bn_params"], problem["x"], problem["y"]
            right = ref.network(params, bn_params, x, y)
            if "scores" in families:
                want = ref.cnn_scores(params, bn_params, x)
                seen |= {("scores", n) for n, o in ref.scores_mistakes(params, bn_params, x).items() if _differs(o, want)}
                seen |= {("loss", n) for n, o in ref.loss_mistakes(params, bn_params, x, y).items()
                         if _differs(o, right["loss"])}
            else:
                for key, outputs in ref.grads_mistakes(params, bn_params, x, y).items():
                    seen |= {("grads", n) for n, o in outputs.items() if _differs(o, right["grads"][key])}
        expected = {(f, n) for f, names in (("scores", ref.SCORES_MISTAKES), ("loss", ref.LOSS_MISTAKES),
                                            ("grads", ref.GRADS_MISTAKES)) if f in families for n in names}
        assert seen == expected


def test_the_pool_mistakes_differ_where_the_case_tests_them():
    inputs, _ = get_case("w04_max_pool_fast").build()
    caught = set()
    for problem in inputs["problems"]:
        x, pool, stride, dout = problem["args"][0], problem["pool"], problem["stride"], problem["dout"]
        right = conv_reference.max_pool_backward(dout, conv_reference.max_pool_forward(x, pool, stride)[1])
        for name, out in ref.pool_backward_mistakes(x, pool, stride, dout).items():
            if not np.allclose(out, right):
                caught.add(name)
    assert caught == set(ref.POOL_BACKWARD_MISTAKES)


def test_the_numerical_part_of_the_grads_case_passes_the_reference():
    """The kinks of ReLU and max pooling lie farther than h from the case's inputs: the reference passes."""
    assert "centred differences" in run_case("w04_cnn_loss_grads", cnn_loss_reference)


# ---- the MNIST case: what it sends, its time ------------------------------------------------------------------------


def test_the_mnist_case_sends_data_only():
    inputs, _ = get_case("w04_train_cnn_mnist").build()
    assert sorted(inputs) == ["settings", "train", "val"]
    assert len(inputs["train"]) == ref.MNIST_TRAIN and len(inputs["val"]) == ref.MNIST_VAL
    assert not set(inputs["train"]) & set(inputs["val"])
    assert inputs["settings"]["progress"] is False


def test_the_mnist_case_runs_well_under_two_minutes(capsys):
    """With the notebook's train_cnn once assembled (else the plain one above), one BLAS thread (conftest)."""
    fn = SOLUTION.get("train_cnn", train_cnn_plain)
    start = time.perf_counter()
    message = run_case("w04_train_cnn_mnist", fn)
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nw04_train_cnn_mnist with {fn.__module__}.{fn.__name__}: {seconds:.1f} s; {message}")
    accuracy = float(message.split("test accuracy ")[1].split()[0])
    assert accuracy > ref.MNIST_MIN_ACCURACY + 0.01
    assert seconds < 100


# ---- visible checks ----------------------------------------------------------------------------------------------


def _visible_pool_backward(name):
    together = pool_backward_variant(name)
    backward, forward = together.targets
    return Together(forward, backward)


test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(
    [(visible.max_pool_forward_fast, pool_argmax_forward), (visible.max_pool_forward_fast, pool_loops_forward),
     (visible.max_pool_backward_fast, Together(pool_argmax_forward, pool_argmax_backward)),
     (visible.max_pool_backward_fast, Together(pool_loops_forward, pool_loops_backward)),
     (visible.init_cnn, init_normal), (visible.init_cnn, ref.init_cnn),
     (visible.cnn_loss, cnn_loss_reference), (visible.cnn_loss, cnn_loss_pool_first),
     (visible.train_cnn, train_cnn_plain)]
    + [(getattr(visible, name), fn) for name, fn in (
        ("max_pool_forward_fast", SOLUTION.get("max_pool_forward_fast")), ("init_cnn", SOLUTION.get("init_cnn")),
        ("cnn_loss", SOLUTION.get("cnn_loss")), ("train_cnn", SOLUTION.get("train_cnn"))) if fn is not None],
    [(visible.max_pool_forward_fast, pool_avg_forward, "the average of each window"),
     (visible.max_pool_forward_fast, pool_stride_is_pool, "move by pool, not by stride"),
     (visible.max_pool_forward_fast, pool_stub, NOT_IMPLEMENTED),
     (visible.max_pool_forward_fast, pool_in_place_forward, "changed its input `x`"),
     (visible.max_pool_backward_fast, _visible_pool_backward("spread"), "spreading the gradient"),
     (visible.max_pool_backward_fast, _visible_pool_backward("all_ties"), "every tied maximum"),
     (visible.max_pool_backward_fast, _visible_pool_backward("last_tie"), "LAST maximum"),
     (visible.max_pool_backward_fast, _visible_pool_backward("overwrite"), "overwrite"),
     (visible.max_pool_backward_fast, Together(pool_argmax_forward, pool_backward_stub), NOT_IMPLEMENTED),
     (visible.init_cnn, init_xavier, "Xavier"), (visible.init_cnn, init_kernel_only, "C \\* KH \\* KW"),
     (visible.init_cnn, init_small, "std 0.01"), (visible.init_cnn, init_float32, "float64"),
     (visible.init_cnn, init_global_rng, "different weights"), (visible.init_cnn, init_no_b4, "the keys"),
     (visible.init_cnn, init_stub, NOT_IMPLEMENTED),
     (visible.cnn_loss, loss_no_relu, "without its ReLUs"), (visible.cnn_loss, loss_no_hidden_relu, "dense head"),
     (visible.cnn_loss, loss_flatten_hwc, r"\(H, W, C\) order"), (visible.cnn_loss, loss_dense_no_bias, "bias"),
     (visible.cnn_loss, loss_softmax, "probabilities"), (visible.cnn_loss, loss_ignores_mode, "mode to 'test'"),
     (visible.cnn_loss, loss_always_test_mode, "running statistics"), (visible.cnn_loss, loss_sum, "SUM"),
     (visible.cnn_loss, loss_copies_bn, "did not change in training"),
     (visible.cnn_loss, loss_momentum_swapped, "values are wrong"),
     (visible.cnn_loss, grads_no_mask, "convolution blocks unmasked"),
     (visible.cnn_loss, grads_no_hidden_mask, "dense head's ReLU"), (visible.cnn_loss, grads_spread, "spreads"),
     (visible.cnn_loss, grads_bn_no_mean, "mean and variance terms"),
     (visible.cnn_loss, loss_centres_X, "changed its input `X`"), (visible.cnn_loss, loss_stub, NOT_IMPLEMENTED),
     (visible.train_cnn, train_returns_initial, "should fall"), (visible.train_cnn, train_fresh_bn, "never moved"),
     (visible.train_cnn, train_wrong_keys, "the keys"), (visible.train_cnn, train_loss_per_epoch, "one per mini-batch"),
     (visible.train_cnn, train_stub, NOT_IMPLEMENTED)],
)
