"""Week 2 MLP (init_mlp, mlp_loss, train_mlp): the reference against JAX and finite differences, the hidden
cases against correct and wrong implementations, and the visible checks."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hidden_suite import hidden_tests, notebook_solutions, visible_tests

from autograder.cases import w02_mlp as ref
from autograder.gradcheck import numerical_gradient
from dlfs.checks import week02 as visible

pytestmark = [pytest.mark.week02, pytest.mark.w02_mlp, pytest.mark.autograder]


# ---- an Adam of the SPEC, for the trainers written in this file ---------------------------------------


def adam(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    m_hat = config["m"] / (1 - config["beta1"] ** config["t"])
    v_hat = config["v"] / (1 - config["beta2"] ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


# ---- the notebook's solutions, taken from the source notebook -------------------------------------------

_solution = notebook_solutions("week02_backprop")
init_mlp = _solution["init_mlp"]
mlp_loss = _solution["mlp_loss"]
train_mlp = _solution["train_mlp"]

# ---- correct alternatives ------------------------------------------------------------------------------


def init_mlp_normal(sizes, seed=0):
    """rng.normal with a scale, built with a comprehension; the std as a Python float."""
    rng = np.random.default_rng(seed)
    shapes = list(zip(sizes[:-1], sizes[1:]))
    params = {f"W{layer}": rng.normal(0.0, math.sqrt(2 / i), size=(i, o)) for layer, (i, o) in enumerate(shapes, 1)}
    return params | {f"b{layer}": np.zeros(o) for layer, (_, o) in enumerate(shapes, 1)}


def mlp_loss_unrolled(params, X, y=None, reg=0.0):
    """No layer functions: the forward keeps every activation in lists, the backward walks them; one-hot labels."""
    L = len(params) // 2
    acts, pre = [X.reshape(len(X), -1)], []
    for layer in range(1, L + 1):
        z = acts[-1] @ params[f"W{layer}"] + params[f"b{layer}"]
        pre.append(z)
        acts.append(z if layer == L else np.where(z > 0, z, 0.0))
    scores = acts[-1]
    if y is None:
        return scores
    onehot = np.eye(scores.shape[1])[y]
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(onehot * (z - np.log(np.exp(z).sum(axis=1, keepdims=True))), axis=1))
    loss += reg / 2 * sum(np.sum(params[f"W{layer}"] ** 2) for layer in range(1, L + 1))
    d = (p - onehot) / len(X)
    grads = {}
    for layer in range(L, 0, -1):
        grads[f"W{layer}"] = acts[layer - 1].T @ d + reg * params[f"W{layer}"]
        grads[f"b{layer}"] = d.sum(axis=0)
        if layer > 1:
            d = (d @ params[f"W{layer}"].T) * (pre[layer - 2] > 0)
    return float(loss), grads


def train_mlp_reference(X_train, y_train, X_val, y_val, sizes, **kwargs):
    return ref.train_mlp(X_train, y_train, X_val, y_val, sizes, **kwargs)


def train_mlp_ties_reset(X_train, y_train, X_val, y_val, sizes, *, epochs=10, batch_size=128, learning_rate=1e-3,
                         reg=0.0, patience=3, seed=0, progress=True):
    """Counts an equal validation accuracy as a new best (>=), and shuffles with rng.shuffle of an index array."""
    params = {k: v.astype(X_train.dtype) for k, v in init_mlp(sizes, seed).items()}
    configs = {k: {"learning_rate": learning_rate} for k in params}
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "val_acc": []}
    best, best_params, bad = -1.0, None, 0
    idx = np.arange(len(X_train))
    for _ in range(epochs):
        rng.shuffle(idx)
        for start in range(0, len(idx), batch_size):
            b = idx[start:start + batch_size]
            loss, grads = mlp_loss(params, X_train[b], y_train[b], reg)
            params = {k: adam(params[k], grads[k], configs[k])[0] for k in params}
            history["loss"].append(loss)
        history["train_acc"].append(np.mean(mlp_loss(params, X_train).argmax(1) == y_train))
        acc = np.mean(mlp_loss(params, X_val).argmax(1) == y_val)
        history["val_acc"].append(acc)
        if acc >= best:
            best, best_params, bad = acc, dict(params), 0
        else:
            bad += 1
            if bad == patience:
                break
    return best_params, history


# ---- wrong implementations -------------------------------------------------------------------------------


def init_variant(name, scale=None, transpose=False, bias=0.0, rng_kind="seeded", dtype=np.float64):
    def fn(sizes, seed=0):
        rng = {"seeded": np.random.default_rng(seed), "fixed": np.random.default_rng(0),
               "global": np.random}[rng_kind]
        params = {}
        for layer in range(1, len(sizes)):
            fan_in, fan_out = sizes[layer - 1], sizes[layer]
            std = (scale or (lambda i, o: np.sqrt(2 / i)))(fan_in, fan_out)
            shape = (fan_out, fan_in) if transpose else (fan_in, fan_out)
            params[f"W{layer}"] = (rng.standard_normal(shape) * std).astype(dtype)
            params[f"b{layer}"] = np.full(fan_out, bias, dtype=dtype)
        return params

    fn.__name__ = name
    return fn


init_xavier = init_variant("init_xavier", scale=lambda i, o: np.sqrt(1 / i))
init_fan_out = init_variant("init_fan_out", scale=lambda i, o: np.sqrt(2 / o))
init_small = init_variant("init_small", scale=lambda i, o: 0.01)
init_transposed = init_variant("init_transposed", transpose=True)
init_bias_ones = init_variant("init_bias_ones", bias=1.0)
init_global_rng = init_variant("init_global_rng", rng_kind="global")
init_ignores_seed = init_variant("init_ignores_seed", rng_kind="fixed")
init_float32 = init_variant("init_float32", dtype=np.float32)


def loss_variant(name, **mistake):
    def fn(params, X, y=None, reg=0.0):
        return ref.mlp_loss(params, X, y, reg, **mistake)

    fn.__name__ = name
    return fn


loss_reg_biases = loss_variant("loss_reg_biases", reg_biases=True)
loss_no_half = loss_variant("loss_no_half", reg_factor=2.0)
loss_relu_on_scores = loss_variant("loss_relu_on_scores", relu_last=True)
loss_no_relu = loss_variant("loss_no_relu", relu_hidden=False)
loss_no_reg_grad = loss_variant("loss_no_reg_grad", grad_reg_factor=0.0)
loss_double_reg = loss_variant("loss_double_reg", grad_reg_factor=2.0)
loss_no_relu_mask = loss_variant("loss_no_relu_mask", mask=False)


def loss_no_penalty_in_loss(params, X, y=None, reg=0.0):
    """Right gradients, but the returned loss forgets the penalty."""
    out = ref.mlp_loss(params, X, y, reg)
    if y is None:
        return out
    return ref.mlp_loss(params, X, y, 0.0)[0], out[1]


def loss_stub(params, X, y=None, reg=0.0):
    raise NotImplementedError()


def init_stub(sizes, seed=0):
    raise NotImplementedError()


def train_returns_initial(X_train, y_train, X_val, y_val, sizes, **kwargs):
    params = {k: v.astype(X_train.dtype) for k, v in init_mlp(sizes, kwargs.get("seed", 0)).items()}
    return params, {"loss": [], "train_acc": [0.1], "val_acc": [0.99]}  # and it claims 99%


def train_wrong_keys(X_train, y_train, X_val, y_val, sizes, **kwargs):
    params, history = train_returns_initial(X_train, y_train, X_val, y_val, sizes, **kwargs)
    return {k.lower(): v for k, v in params.items()}, history


def train_returns_last(X_train, y_train, X_val, y_val, sizes, **kwargs):
    return ref.train_mlp(X_train, y_train, X_val, y_val, sizes, keep="last", **kwargs)


def train_aliased_best(X_train, y_train, X_val, y_val, sizes, *, epochs=10, batch_size=128, learning_rate=1e-3,
                       reg=0.0, patience=3, seed=0, progress=True):
    """Keeps `best_params = params`: the same dict, updated by every later step."""
    params = {k: v.astype(X_train.dtype) for k, v in init_mlp(sizes, seed).items()}
    configs = {k: {"learning_rate": learning_rate} for k in params}
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "val_acc": []}
    best, best_params, waited = -1.0, None, 0
    for _ in range(epochs):
        order = rng.permutation(len(X_train))
        for start in range(0, len(order), batch_size):
            b = order[start:start + batch_size]
            loss, grads = mlp_loss(params, X_train[b], y_train[b], reg)
            for k in params:
                params[k], configs[k] = adam(params[k], grads[k], configs[k])
            history["loss"].append(loss)
        history["train_acc"].append(0.0)
        history["val_acc"].append(float(np.mean(mlp_loss(params, X_val).argmax(1) == y_val)))
        if history["val_acc"][-1] > best:
            best, best_params, waited = history["val_acc"][-1], params, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return best_params, history


def train_never_stops(X_train, y_train, X_val, y_val, sizes, **kwargs):
    return ref.train_mlp(X_train, y_train, X_val, y_val, sizes, **(kwargs | {"patience": 10**6}))


def train_impatient(X_train, y_train, X_val, y_val, sizes, **kwargs):
    """Stops one epoch too early (waits patience - 1 epochs)."""
    return ref.train_mlp(X_train, y_train, X_val, y_val, sizes, **(kwargs | {"patience": kwargs["patience"] - 1}))


def train_stub(X_train, y_train, X_val, y_val, sizes, **kwargs):
    raise NotImplementedError()


CORRECT = {
    "w02_init_mlp": [init_mlp, init_mlp_normal, ref.init_mlp],
    "w02_mlp_loss_values": [mlp_loss, mlp_loss_unrolled, ref.mlp_loss],
    "w02_mlp_loss_grads": [mlp_loss, mlp_loss_unrolled, ref.mlp_loss],
    "w02_train_mlp_mnist": [train_mlp],
    "w02_train_mlp_early_stopping": [train_mlp, train_mlp_reference, train_mlp_ties_reset],
}

WRONG = [
    ("w02_init_mlp", init_xavier, "sqrt\\(1 / fan_in\\)"),
    ("w02_init_mlp", init_fan_out, "sqrt\\(2 / fan_out\\)"),
    ("w02_init_mlp", init_small, "std 0.01"),
    ("w02_init_mlp", init_transposed, "transposed"),
    ("w02_init_mlp", init_bias_ones, "must start at zero"),
    ("w02_init_mlp", init_global_rng, "gave different weights"),
    ("w02_init_mlp", init_ignores_seed, "gave the same weights"),
    ("w02_init_mlp", init_float32, "make the params float64"),
    ("w02_init_mlp", init_stub, "not implemented yet"),
    ("w02_mlp_loss_values", loss_reg_biases, "regularises the biases"),
    ("w02_mlp_loss_values", loss_no_half, "0.5 \\* reg"),
    ("w02_mlp_loss_values", loss_relu_on_scores, "ReLU after the last affine"),
    ("w02_mlp_loss_values", loss_no_relu, "without ReLUs"),
    ("w02_mlp_loss_values", loss_no_penalty_in_loss, "the loss: .* values are wrong"),
    ("w02_mlp_loss_values", loss_stub, "not implemented yet"),
    ("w02_mlp_loss_grads", loss_no_reg_grad, "lacks the regulariser's gradient"),
    ("w02_mlp_loss_grads", loss_reg_biases, "db includes reg \\* b"),
    ("w02_mlp_loss_grads", loss_double_reg, "2 \\* reg \\* W"),
    ("w02_mlp_loss_grads", loss_no_relu_mask, "unmasked"),
    ("w02_mlp_loss_grads", loss_no_penalty_in_loss, "numerical gradient of your own loss"),
    ("w02_mlp_loss_grads", loss_stub, "not implemented yet"),
    ("w02_train_mlp_mnist", train_returns_initial, "look untrained"),
    ("w02_train_mlp_mnist", train_wrong_keys, "exactly the keys W1, b1, W2, b2"),
    ("w02_train_mlp_early_stopping", train_returns_last, "not the last"),
    ("w02_train_mlp_early_stopping", train_aliased_best, "not the last"),
    ("w02_train_mlp_early_stopping", train_never_stops, "ran all 20 epochs"),
    ("w02_train_mlp_early_stopping", train_impatient, "stop only after 2 epochs without improvement"),
    ("w02_train_mlp_early_stopping", train_stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_mlp", CORRECT, WRONG)


# ---- the reference ---------------------------------------------------------------------------------------


def _problem(seed, sizes, N):
    rng = np.random.default_rng(seed)
    params, X, y = ref._net(rng, sizes, N)
    return params, X, y


@pytest.mark.parametrize(("sizes", "N", "reg"), [([7, 5, 4, 3], 1, 0.0), ([7, 5, 4, 3], 6, 0.3), ([6, 8, 3], 5, 0.1),
                                                 ([5, 4, 4, 4, 2], 4, 0.2), ([3, 2], 7, 1.0)])
def test_reference_against_jax(sizes, N, reg):
    jax = pytest.importorskip(
        "jax", reason="jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    params, X, y = _problem(len(sizes) * 10 + N, sizes, N)
    L = len(sizes) - 1

    def loss_fn(p):
        a = jnp.asarray(X)
        for layer in range(1, L + 1):
            a = a @ p[f"W{layer}"] + p[f"b{layer}"]
            if layer < L:
                a = jax.nn.relu(a)
        logp = jax.nn.log_softmax(a, axis=1)
        return -jnp.mean(logp[jnp.arange(N), y]) + 0.5 * reg * sum(jnp.sum(p[f"W{layer}"] ** 2) for layer in range(1, L + 1))

    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    loss, grads = ref.mlp_loss(params, X, y, reg)
    np.testing.assert_allclose(loss, float(loss_fn(jparams)), rtol=1e-12)
    jgrads = jax.grad(loss_fn)(jparams)
    for key in params:
        np.testing.assert_allclose(grads[key], np.asarray(jgrads[key]), rtol=1e-10, atol=1e-13)


def test_reference_against_finite_differences():
    params, X, y = _problem(3, [7, 5, 4, 3], 6)
    _, grads = ref.mlp_loss(params, X, y, 0.2)
    for key in params:
        numeric = numerical_gradient(lambda _: ref.mlp_loss(params, X, y, 0.2)[0], params[key])
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-9)


def test_reference_init_has_the_he_scale():
    params = ref.init_mlp([784, 256, 128, 10], seed=1)
    for layer, fan_in in enumerate([784, 256, 128], start=1):
        assert abs(params[f"W{layer}"].std() / math.sqrt(2 / fan_in) - 1) < 0.05
        assert not params[f"b{layer}"].any()


def test_mistake_outputs_differ_from_the_reference():
    params, X, y = _problem(4, [7, 5, 4, 3], 6)
    loss, grads = ref.mlp_loss(params, X, y, 0.3)
    for name, value in ref.loss_mistakes(params, X, y, 0.3).items():
        assert abs(value - loss) > 1e-6, name
    for key, outputs in ref.grads_mistakes(params, X, y, 0.3).items():
        for name, value in outputs.items():
            if not (name == "reg_biases" and key.startswith("W")) and not (name == "no_relu_mask" and key == "W3") \
                    and not (key.startswith("b") and name in ("no_reg_grad", "double_reg")) \
                    and not (key == "b3" and name == "no_relu_mask"):
                assert not np.allclose(value, grads[key]), (key, name)


def test_mnist_case_is_bounded():
    """The reference trainer's run of the hidden MNIST case: well under a minute, well above the bar."""
    from dlfs.data import load_mnist

    inputs, _ = ref.train_mlp_mnist(np.random.default_rng(0))
    mnist = load_mnist()
    start = time.perf_counter()
    params, _ = ref.train_mlp(mnist.X_train[inputs["train"]], mnist.y_train[inputs["train"]],
                              mnist.X_train[inputs["val"]], mnist.y_train[inputs["val"]], ref.MNIST_SIZES,
                              **inputs["settings"])
    assert time.perf_counter() - start < 20
    assert ref.accuracy(params, mnist.X_test, mnist.y_test) > ref.MNIST_MIN_ACCURACY + 0.01


# ---- visible checks ----------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.init_mlp, init_mlp), (visible.init_mlp, init_mlp_normal),
                   (visible.mlp_loss, mlp_loss), (visible.mlp_loss, mlp_loss_unrolled),
                   (visible.train_mlp, train_mlp), (visible.train_mlp, train_mlp_reference)]

VISIBLE_WRONG = [
    (visible.init_mlp, init_xavier, "sqrt\\(1 / fan_in\\)"), (visible.init_mlp, init_fan_out, "fan_out"),
    (visible.init_mlp, init_small, "std 0.01"), (visible.init_mlp, init_transposed, "must be \\(300, 200\\)"),
    (visible.init_mlp, init_bias_ones, "start at zero"), (visible.init_mlp, init_global_rng, "different weights"),
    (visible.init_mlp, init_stub, "not implemented yet"),
    (visible.mlp_loss, loss_relu_on_scores, "ReLU after the last affine"), (visible.mlp_loss, loss_no_relu, "without ReLUs"),
    (visible.mlp_loss, loss_reg_biases, "regularises the biases"), (visible.mlp_loss, loss_no_half, "0.5 \\* reg"),
    (visible.mlp_loss, loss_no_reg_grad, "lacks the regulariser's gradient"),
    (visible.mlp_loss, loss_double_reg, "2 \\* reg \\* W"), (visible.mlp_loss, loss_no_relu_mask, "unmasked"),
    (visible.mlp_loss, loss_stub, "not implemented yet"),
    (visible.train_mlp, train_returns_initial, "expected .* losses"),
    (visible.train_mlp, train_returns_last, "not the last"), (visible.train_mlp, train_stub, "not implemented yet"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
