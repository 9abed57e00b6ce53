"""Week 2 layers (affine, ReLU, sigmoid, tanh): the references against JAX and centred differences, the
hidden cases (correct variants pass, named mistakes fail with their diagnosis) and the visible checks."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import w02_layers as ref
from autograder.gradcheck import numerical_gradient_array
from dlfs.checks import week02 as visible

pytestmark = [pytest.mark.week02, pytest.mark.w02_layers, pytest.mark.autograder]


# ---- the notebook's solution (a copy) -------------------------------------------------------------------


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(x, 0)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    x = cache
    dx = dout * (x > 0)
    return dx


def sigmoid_forward(x):
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    cache = out
    return out, cache


def sigmoid_backward(dout, cache):
    out = cache
    dx = dout * out * (1 - out)
    return dx


def tanh_forward(x):
    out = np.tanh(x)
    cache = out
    return out, cache


def tanh_backward(dout, cache):
    out = cache
    dx = dout * (1 - out**2)
    return dx


# ---- correct alternatives --------------------------------------------------------------------------------


def affine_forward_loop(x, w, b):
    out = np.zeros((x.shape[0], w.shape[1]), dtype=x.dtype)
    for n in range(x.shape[0]):
        out[n] = x[n].ravel() @ w + b
    return out, {"x": x, "w": w}


def affine_backward_loop(dout, cache):
    x, w = cache["x"], cache["w"]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for n in range(x.shape[0]):
        dx[n] = (w @ dout[n]).reshape(x.shape[1:])
        dw += np.outer(x[n].ravel(), dout[n])
    return dx, dw, dout.sum(axis=0)


def affine_forward_einsum(x, w, b):
    return np.einsum("nd,dm->nm", x.reshape(len(x), -1), w) + b[None, :], (x.shape, x.reshape(len(x), -1), w)


def affine_backward_einsum(dout, cache):
    shape, flat, w = cache
    return np.einsum("nm,dm->nd", dout, w).reshape(shape), np.einsum("nd,nm->dm", flat, dout), np.ones(len(dout)) @ dout


def relu_forward_mask(x):
    mask = x > 0
    return x * mask, mask


def relu_backward_mask(dout, mask):
    return np.where(mask, dout, 0)


def relu_forward_out(x):
    out = x.copy()
    out[out < 0] = 0
    return out, out


def relu_backward_out(dout, out):
    dx = dout.copy()
    dx[out <= 0] = 0
    return dx


def relu_backward_loop(dout, x):
    dx = np.zeros_like(dout)
    for i in np.ndindex(x.shape):
        if x[i] > 0:
            dx[i] = dout[i]
    return dx


def sigmoid_forward_tanh(x):
    out = 0.5 * (1 + np.tanh(x / 2))
    return out, x


def sigmoid_backward_from_x(dout, x):
    s = 0.5 * (1 + np.tanh(x / 2))
    return dout * s * (1 - s)


def sigmoid_forward_naive(x):
    """1 / (1 + exp(-x)) overflows to inf for x ~ -1000 (a warning) but the value, 0, is right."""
    with np.errstate(over="ignore"):
        out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_forward_loop(x):
    import math
    out = np.empty(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        out[i] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return out, out


def tanh_forward_exp(x):
    """1 - 2 / (exp(2x) + 1): exp overflows to inf for large x, and 2 / inf = 0 gives the right 1."""
    with np.errstate(over="ignore"):
        out = 1 - 2 / (np.exp(2 * x) + 1)
    return out, x


def tanh_backward_from_x(dout, x):
    return dout / np.cosh(x) ** 2


# ---- wrong ones ------------------------------------------------------------------------------------------


def stub(*args):
    raise NotImplementedError()


def affine_forward_no_bias(x, w, b):
    return x.reshape(x.shape[0], -1) @ w, (x, w, b)


def affine_forward_no_reshape(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward_dx_flat(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.reshape(len(x), -1).T @ dout, dout.sum(0)


def affine_backward_db_mean(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw, dout.mean(0)


def affine_backward_dw_transposed(dout, cache):
    x, w, b = cache
    dx, _, db = affine_backward(dout, cache)
    return dx, dout.T @ x.reshape(len(x), -1), db


def affine_backward_dx_no_transpose(dout, cache):
    x, w, b = cache
    _, dw, db = affine_backward(dout, cache)
    return (dout @ w).reshape(x.shape), dw, db


def relu_forward_negative(x):
    return np.minimum(x, 0), x


def relu_backward_no_mask(dout, cache):
    return dout.copy()


def relu_backward_ge_zero(dout, x):
    return dout * (x >= 0)


def relu_backward_mask_only(dout, x):
    return (x > 0).astype(float)


def relu_backward_dout_mask(dout, x):
    return dout * (dout > 0)


def relu_backward_in_place(dout, x):
    dout[x <= 0] = 0
    return dout


def sigmoid_forward_unstable(x):
    with np.errstate(all="ignore"):
        e = np.exp(x)
        out = e / (1 + e)
    return out, out


def sigmoid_forward_sign(x):
    out = 1 / (1 + np.exp(x))
    return out, out


def sigmoid_forward_cache_x(x):
    return sigmoid_forward(x)[0], x


def sigmoid_backward_uses_x(dout, x):
    return dout * x * (1 - x)


def sigmoid_backward_no_dout(dout, out):
    return out * (1 - out)


def tanh_forward_cache_x(x):
    return np.tanh(x), x


def tanh_backward_uses_x(dout, x):
    return dout * (1 - x**2)


def tanh_backward_no_square(dout, out):
    return dout * (1 - out)


def tanh_backward_no_dout(dout, out):
    return 1 - out**2


def forward_not_a_pair(x):
    return np.tanh(x)


CORRECT = {
    "w02_affine_forward": [affine_forward, affine_forward_loop, affine_forward_einsum],
    "w02_relu_forward": [relu_forward, relu_forward_mask, relu_forward_out, ref.relu_forward],
    "w02_sigmoid_forward": [sigmoid_forward, sigmoid_forward_tanh, sigmoid_forward_naive, sigmoid_forward_loop,
                            ref.sigmoid_forward],
    "w02_sigmoid_stable": [sigmoid_forward, sigmoid_forward_tanh, sigmoid_forward_naive, sigmoid_forward_loop],
    "w02_tanh_forward": [tanh_forward, tanh_forward_exp, ref.tanh_forward],
}

WRONG = [
    ("w02_affine_forward", affine_forward_no_bias, "without the bias"),
    ("w02_affine_forward", affine_forward_no_reshape, "raised ValueError"),
    ("w02_affine_forward", stub, "not implemented yet"),
    ("w02_relu_forward", relu_forward_negative, "keeps the negative part"),
    ("w02_relu_forward", stub, "not implemented yet"),
    ("w02_sigmoid_forward", sigmoid_forward_sign, r"sigmoid\(-x\)"),
    ("w02_sigmoid_forward", stub, "not implemented yet"),
    ("w02_sigmoid_stable", sigmoid_forward_unstable, "NaN.*exp\\(-x\\) overflows"),
    ("w02_tanh_forward", lambda x: (np.tanh(x) * 1.001, None), "values are wrong"),
    ("w02_tanh_forward", forward_not_a_pair, r"must return a tuple \(out, cache\)"),
]

# ---- the backward cases: run with (backward, forward) ----------------------------------------------------

BACKWARD_CORRECT = [
    ("w02_affine_backward", affine_backward, affine_forward),
    ("w02_affine_backward", affine_backward_loop, affine_forward_loop),
    ("w02_affine_backward", affine_backward_einsum, affine_forward_einsum),
    ("w02_relu_backward", relu_backward, relu_forward),
    ("w02_relu_backward", relu_backward_mask, relu_forward_mask),
    ("w02_relu_backward", relu_backward_out, relu_forward_out),
    ("w02_relu_backward", relu_backward_loop, relu_forward),
    ("w02_sigmoid_backward", sigmoid_backward, sigmoid_forward),
    ("w02_sigmoid_backward", sigmoid_backward_from_x, sigmoid_forward_tanh),
    ("w02_sigmoid_backward", sigmoid_backward, sigmoid_forward_naive),
    ("w02_tanh_backward", tanh_backward, tanh_forward),
    ("w02_tanh_backward", tanh_backward_from_x, tanh_forward_exp),
]

BACKWARD_WRONG = [
    ("w02_affine_backward", affine_backward_dx_flat, affine_forward, "flattened shape"),
    ("w02_affine_backward", affine_backward_db_mean, affine_forward, "db is the mean"),
    ("w02_affine_backward", affine_backward_dw_transposed, affine_forward, "dw is transposed"),
    ("w02_affine_backward", affine_backward_dx_no_transpose, affine_forward, "uses w instead of w.T"),
    ("w02_affine_backward", stub, affine_forward, "^stub is not implemented yet"),
    ("w02_affine_backward", affine_backward, stub, "cache of your affine_forward, which is not implemented yet"),
    ("w02_relu_backward", relu_backward_no_mask, relu_forward, "dx is dout everywhere"),
    ("w02_relu_backward", relu_backward_ge_zero, relu_forward, "exactly 0"),
    ("w02_relu_backward", relu_backward_mask_only, relu_forward, "without dout"),
    ("w02_relu_backward", relu_backward_dout_mask, relu_forward, "sign of dout"),
    ("w02_relu_backward", relu_backward_in_place, relu_forward, "changed `dout` in place"),
    ("w02_relu_backward", relu_backward, forward_not_a_pair, "instead of the pair"),
    ("w02_sigmoid_backward", sigmoid_backward_uses_x, sigmoid_forward_cache_x, r"dout \* x \* \(1 - x\)"),
    ("w02_sigmoid_backward", sigmoid_backward_no_dout, sigmoid_forward, "without dout"),
    ("w02_sigmoid_backward", stub, sigmoid_forward, "not implemented yet"),
    ("w02_tanh_backward", tanh_backward_uses_x, tanh_forward_cache_x, r"1 - x\*\*2"),
    ("w02_tanh_backward", tanh_backward_no_square, tanh_forward, "square the output"),
    ("w02_tanh_backward", tanh_backward_no_dout, tanh_forward, "without dout"),
]


for _case, _backward, _forward in BACKWARD_CORRECT:
    CORRECT.setdefault(_case, []).append(Together(_backward, _forward))
WRONG += [(case, Together(backward, forward), message) for case, backward, forward, message in BACKWARD_WRONG]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_layers", CORRECT, WRONG)


# ---- the references against centred differences and against JAX -----------------------------------------

SHAPES = [(1, 4), (3, 5), (2, 3, 4)]


def _layer(name):
    """(forward of x only, reference backward) for an elementwise layer."""
    return {
        "relu": (lambda x: ref.relu_forward(x)[0], lambda d, x: ref.relu_backward(d, x)),
        "sigmoid": (lambda x: ref.sigmoid_forward(x)[0], lambda d, x: ref.sigmoid_backward(d, ref.sigmoid(x))),
        "tanh": (lambda x: ref.tanh_forward(x)[0], lambda d, x: ref.tanh_backward(d, np.tanh(x))),
    }[name]


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_elementwise_backward_equals_centred_differences(name, shape):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    x[np.abs(x) < 1e-3] = 0.5  # away from ReLU's kink
    dout = rng.normal(size=shape)
    forward, backward = _layer(name)
    numeric = numerical_gradient_array(forward, x, dout)
    np.testing.assert_allclose(backward(dout, x), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("x_shape", "M"), [((1, 4), 3), ((3, 2, 3, 2), 5), ((4, 6), 1)], ids=str)
def test_affine_backward_equals_centred_differences(x_shape, M):
    rng = np.random.default_rng(2)
    x, w, b = ref._affine_problem(rng, x_shape, M)
    dout = rng.normal(size=(x_shape[0], M))
    dx, dw, db = ref.affine_backward(dout, ref.affine_forward(x, w, b)[1])
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: ref.affine_forward(v, w, b)[0], x, dout),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dw, numerical_gradient_array(lambda v: ref.affine_forward(x, v, b)[0], w, dout),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(db, numerical_gradient_array(lambda v: ref.affine_forward(x, w, v)[0], b, dout),
                               rtol=1e-7, atol=1e-9)
    assert dx.shape == x.shape


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize(("x_shape", "M"), [((1, 4), 3), ((3, 2, 3, 2), 5), ((6, 4), 4), ((4, 6), 1)], ids=str)
def test_affine_reference_against_jax(jax, x_shape, M):
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    x, w, b = ref._affine_problem(rng, x_shape, M)
    dout = rng.normal(size=(x_shape[0], M))
    out, vjp = jax.vjp(lambda x, w, b: jnp.reshape(x, (x.shape[0], -1)) @ w + b, x, w, b)
    np.testing.assert_allclose(ref.affine_forward(x, w, b)[0], out, rtol=1e-12, atol=1e-14)
    for mine, theirs in zip(ref.affine_backward(dout, ref.affine_forward(x, w, b)[1]), vjp(dout)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", SHAPES + [(7,)], ids=str)
def test_elementwise_references_against_jax(jax, name, shape):
    jnp = jax.numpy
    rng = np.random.default_rng(4)
    x = 3 * rng.normal(size=shape)
    x.flat[::4] = 0.0  # jax.nn.relu's gradient at 0 is 0, the course's rule
    dout = rng.normal(size=shape)
    fn = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[name]
    forward, backward = _layer(name)
    out, vjp = jax.vjp(fn, x)
    np.testing.assert_allclose(forward(x), out, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(backward(dout, x), vjp(dout)[0], rtol=1e-12, atol=1e-15)


def test_sigmoid_reference_is_stable(jax):
    x = np.array([-1000.0, -745.0, -700.0, -40.0, 0.0, 40.0, 700.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        got = ref.sigmoid(x)
    np.testing.assert_allclose(got, jax.nn.sigmoid(x), rtol=1e-13, atol=1e-320)
    assert got[0] == 0.0 and got[-1] == 1.0 and got[2] > 0


def test_mistake_outputs_are_those_mistakes():
    x = np.array([[-1.0, 0.0, 2.0]])
    dout = np.array([[3.0, 4.0, 5.0]])
    wrong = ref.relu_backward_mistakes(x, dout)
    np.testing.assert_array_equal(wrong["ge_zero"], [[0, 4, 5]])
    np.testing.assert_array_equal(ref.relu_backward(dout, x), [[0, 0, 5]])
    x, w, b = ref._affine_problem(np.random.default_rng(0), (2, 3, 2), 4)
    dout = np.ones((2, 4))
    affine = ref.affine_backward_mistakes(x, w, b, dout)
    assert affine["dx"]["dx_flat"].shape == (2, 6) and affine["dw"]["dw_transposed"].shape == (4, 6)
    np.testing.assert_allclose(affine["db"]["db_mean"], [1, 1, 1, 1])


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.affine_forward, affine_forward), (visible.affine_forward, affine_forward_loop),
    (visible.affine_backward, Together(affine_backward, affine_forward)),
    (visible.affine_backward, Together(affine_backward_loop, affine_forward_loop)),
    (visible.relu_forward, relu_forward), (visible.relu_forward, relu_forward_mask),
    (visible.relu_backward, Together(relu_backward, relu_forward)),
    (visible.relu_backward, Together(relu_backward_out, relu_forward_out)),
    (visible.sigmoid_forward, sigmoid_forward), (visible.sigmoid_forward, sigmoid_forward_tanh),
    (visible.sigmoid_backward, Together(sigmoid_backward, sigmoid_forward)),
    (visible.sigmoid_backward, Together(sigmoid_backward_from_x, sigmoid_forward_tanh)),
    (visible.tanh_forward, tanh_forward), (visible.tanh_backward, Together(tanh_backward, tanh_forward)),
    (visible.tanh_backward, Together(tanh_backward_from_x, tanh_forward_exp)),
]

VISIBLE_WRONG = [
    (visible.affine_forward, stub, "not implemented yet"),
    (visible.affine_forward, affine_forward_no_bias, "without the bias"),
    (visible.affine_backward, Together(affine_backward_dx_flat, affine_forward), "flattened shape"),
    (visible.affine_backward, Together(affine_backward_db_mean, affine_forward), "db is the mean"),
    (visible.affine_backward, Together(affine_backward_dw_transposed, affine_forward), "dw is transposed"),
    (visible.affine_backward, Together(stub, affine_forward), "not implemented yet"),
    (visible.relu_forward, relu_forward_negative, "negative part"),
    (visible.relu_backward, Together(relu_backward_ge_zero, relu_forward), "exactly 0"),
    (visible.relu_backward, Together(relu_backward_no_mask, relu_forward), "dout everywhere"),
    (visible.relu_backward, Together(relu_backward_in_place, relu_forward), "changed its input `dout`"),
    (visible.sigmoid_forward, sigmoid_forward_unstable, "NaN"),
    (visible.sigmoid_forward, sigmoid_forward_sign, r"sigmoid\(-x\)"),
    (visible.sigmoid_backward, Together(sigmoid_backward_uses_x, sigmoid_forward_cache_x), r"dout \* x \* \(1 - x\)"),
    (visible.tanh_backward, Together(tanh_backward_uses_x, tanh_forward_cache_x), r"1 - x\*\*2"),
    (visible.tanh_backward, Together(tanh_backward_no_square, tanh_forward), "square the output"),
    (visible.tanh_forward, stub, "not implemented yet"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
