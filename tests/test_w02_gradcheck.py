"""Week 2 numerical gradients: the analytic references against JAX and autograder.gradcheck, the margins
between centred and one-sided differences, the hidden cases (correct variants pass, named mistakes fail)
and the visible checks."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w02_gradcheck as ref
from autograder.gradcheck import numerical_gradient, numerical_gradient_array
from dlfs.checks import week02 as visible
from dlfs.checks.w02_gradcheck import array_function, scalar_function

pytestmark = [pytest.mark.week02, pytest.mark.w02_gradcheck, pytest.mark.autograder]


# ---- the notebook's solution (a copy) -------------------------------------------------------------------


def eval_numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        f_plus = np.array(f(x), dtype=np.float64)
        x[ix] = old - h
        f_minus = np.array(f(x), dtype=np.float64)
        x[ix] = old
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


# ---- correct alternatives --------------------------------------------------------------------------------


def gradient_flat_loop(f, x, h=1e-5):
    """Through x.reshape(-1) (a view), with += h / -= 2h / += h: round-off in the restored x is accepted."""
    flat = x.reshape(-1)
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        flat[i] += h
        fp = f(x)
        flat[i] -= 2 * h
        fm = f(x)
        flat[i] += h
        grad[i] = (fp - fm) / (2 * h)
    return grad.reshape(x.shape)


def gradient_nditer(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        saved = float(x[ix])
        x[ix] = saved + h
        fp = float(f(x))
        x[ix] = saved - h
        fm = float(f(x))
        x[ix] = saved
        grad[ix] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


def gradient_copies(f, x, h=1e-5):
    """Never touches x: perturbs copies (x is trivially restored)."""
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[ix] += h
        minus[ix] -= h
        grad[ix] = (f(plus) - f(minus)) / (2 * h)
    return grad


def gradient_array_as_scalar(f, x, df, h=1e-5):
    """The array version through the scalar one: the gradient of sum(f(x) * df)."""
    return eval_numerical_gradient(lambda v: np.sum(f(v) * df), x, h)


def gradient_array_flat(f, x, df, h=1e-5):
    flat = x.reshape(-1)
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = np.array(f(x))
        flat[i] = old - h
        fm = np.array(f(x))
        flat[i] = old
        grad[i] = np.dot((fp - fm).ravel(), df.ravel()) / (2 * h)
    return grad.reshape(x.shape)


# ---- wrong ones ------------------------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def gradient_forward(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    base = f(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        grad[ix] = (f(x) - base) / h
        x[ix] = old
    return grad


def gradient_backward(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    base = f(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old - h
        grad[ix] = (base - f(x)) / h
        x[ix] = old
    return grad


def gradient_over_h(f, x, h=1e-5):
    return 2 * eval_numerical_gradient(f, x, h)


def gradient_not_restored(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        fp = f(x)
        x[ix] = old - h
        fm = f(x)
        grad[ix] = (fp - fm) / (2 * h)  # x[ix] stays at old - h
    return grad


def gradient_flat_copy(f, x, h=1e-5):
    """x.flatten() is a copy: perturbing it leaves f's input unchanged, so every difference is 0."""
    flat = x.flatten()
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad.reshape(x.shape)


def gradient_array_ignores_df(f, x, df, h=1e-5):
    return eval_numerical_gradient(lambda v: np.sum(f(v)), x, h)


def gradient_array_forward(f, x, df, h=1e-5):
    return gradient_forward(lambda v: np.sum(f(v) * df), x, h)


def gradient_array_over_h(f, x, df, h=1e-5):
    return 2 * eval_numerical_gradient_array(f, x, df, h)


def gradient_array_not_restored(f, x, df, h=1e-5):
    return gradient_not_restored(lambda v: np.sum(f(v) * df), x, h)


def gradient_array_changes_df(f, x, df, h=1e-5):
    df *= 1.0 + 0 * df  # writes into df (same values)...
    df[...] = df / 2     # ...then halves it
    return eval_numerical_gradient_array(f, x, 2 * df, h)


CORRECT = {
    "w02_numerical_gradient": [eval_numerical_gradient, gradient_flat_loop, gradient_nditer, gradient_copies,
                               numerical_gradient],
    "w02_numerical_gradient_array": [eval_numerical_gradient_array, gradient_array_as_scalar, gradient_array_flat,
                                     numerical_gradient_array],
}

WRONG = [
    ("w02_numerical_gradient", gradient_forward, "FORWARD difference"),
    ("w02_numerical_gradient", gradient_backward, r"one-sided difference \(f\(x\) - f\(x - h\)\)"),
    ("w02_numerical_gradient", gradient_over_h, "twice the right one"),
    ("w02_numerical_gradient", gradient_not_restored, "x is not the same after the call"),
    ("w02_numerical_gradient", gradient_flat_copy, "values are wrong"),
    ("w02_numerical_gradient", stub, "not implemented yet"),
    ("w02_numerical_gradient_array", gradient_array_ignores_df, "as if df were all ones"),
    ("w02_numerical_gradient_array", gradient_array_forward, "FORWARD difference"),
    ("w02_numerical_gradient_array", gradient_array_over_h, "twice the right one"),
    ("w02_numerical_gradient_array", gradient_array_not_restored, "x is not the same after the call"),
    ("w02_numerical_gradient_array", gradient_array_changes_df, "changed its input `df`"),
    ("w02_numerical_gradient_array", stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w02_gradcheck", CORRECT, WRONG)


# ---- the analytic references against autograder.gradcheck and JAX; the margins ---------------------------

SCALAR_SHAPES = [(6,), (3, 4), (2, 3, 2), (1,)]
ARRAY_SHAPES = [((4,), (3,)), ((2, 3), (2, 2)), ((2, 2, 2), (5,)), ((1,), (2, 1))]


def _rel(got, want):
    """The largest error in units of the cases' tolerance (<= 1 passes)."""
    return float(np.max(np.abs(got - want) / (ref.ATOL + ref.RTOL * np.abs(want))))


def test_centred_differences_pass_and_one_sided_fail_with_margin():
    """Over 40 draws of every shape: the trusted centred differences stay within a fifth of the tolerance,
    forward and backward differences exceed it at least tenfold."""
    worst_centred, best_one_sided = 0.0, np.inf
    for seed in range(40):
        rng = np.random.default_rng(seed)
        for shape in SCALAR_SHAPES:
            p = ref.scalar_problem(rng, shape)
            want = ref.scalar_gradient(p["x"], p["A"], p["c"], p["B"])
            worst_centred = max(worst_centred, _rel(numerical_gradient(scalar_function(p["A"], p["c"], p["B"]),
                                                                       p["x"].copy()), want))
            wrong = ref.scalar_mistakes(p["x"], p["A"], p["c"], p["B"])
            best_one_sided = min(best_one_sided, _rel(wrong["forward_difference"], want),
                                 _rel(wrong["backward_difference"], want))
        for shape, out in ARRAY_SHAPES:
            p = ref.array_problem(rng, shape, out)
            want = ref.array_gradient(p["x"], p["A"], p["c"], p["Bm"], p["df"])
            got = numerical_gradient_array(array_function(p["A"], p["c"], p["Bm"], out), p["x"].copy(), p["df"])
            worst_centred = max(worst_centred, _rel(got, want))
            wrong = ref.array_mistakes(p["x"], p["A"], p["c"], p["Bm"], p["out_shape"], p["df"])
            best_one_sided = min(best_one_sided, _rel(wrong["forward_difference"], want),
                                 _rel(wrong["backward_difference"], want))
    assert worst_centred < 0.2
    assert best_one_sided > 10


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("shape", SCALAR_SHAPES, ids=str)
def test_scalar_gradient_against_jax(jax, shape):
    jnp = jax.numpy
    p = ref.scalar_problem(np.random.default_rng(7), shape)
    A, c, B = p["A"], p["c"], p["B"]

    def f(x):
        u = jnp.ravel(x)
        return jnp.sum(jnp.sin(A @ u) * c) + u @ B @ u

    assert float(f(p["x"])) == pytest.approx(scalar_function(A, c, B)(p["x"]), rel=1e-13)
    np.testing.assert_allclose(ref.scalar_gradient(p["x"], A, c, B), jax.grad(f)(p["x"]), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("shape", "out"), ARRAY_SHAPES, ids=str)
def test_array_gradient_against_jax(jax, shape, out):
    jnp = jax.numpy
    p = ref.array_problem(np.random.default_rng(8), shape, out)
    A, c, Bm = p["A"], p["c"], p["Bm"]

    def f(x):
        u = jnp.ravel(x)
        return jnp.reshape(jnp.sin(A @ u) * c + (Bm @ u) ** 2, out)

    value, vjp = jax.vjp(f, p["x"])
    np.testing.assert_allclose(array_function(A, c, Bm, out)(p["x"]), value, rtol=1e-13)
    np.testing.assert_allclose(ref.array_gradient(p["x"], A, c, Bm, p["df"]), vjp(p["df"])[0], rtol=1e-12, atol=1e-14)


def test_mistake_outputs_are_those_mistakes():
    p = ref.scalar_problem(np.random.default_rng(9), (3,))
    x = p["x"]
    f = scalar_function(p["A"], p["c"], p["B"])
    wrong = ref.scalar_mistakes(x, p["A"], p["c"], p["B"])
    np.testing.assert_allclose(wrong["forward_difference"], gradient_forward(f, x.copy()), rtol=1e-9)
    np.testing.assert_allclose(wrong["backward_difference"], gradient_backward(f, x.copy()), rtol=1e-9)
    a = ref.array_problem(np.random.default_rng(9), (2, 2), (3,))
    g = ref.array_mistakes(a["x"], a["A"], a["c"], a["Bm"], a["out_shape"], a["df"])
    np.testing.assert_allclose(g["ignores_df"], gradient_array_ignores_df(array_function(a["A"], a["c"], a["Bm"], (3,)),
                                                                           a["x"].copy(), a["df"]), rtol=1e-7)


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.eval_numerical_gradient, eval_numerical_gradient), (visible.eval_numerical_gradient, gradient_flat_loop),
    (visible.eval_numerical_gradient, gradient_copies),
    (visible.eval_numerical_gradient_array, eval_numerical_gradient_array),
    (visible.eval_numerical_gradient_array, gradient_array_as_scalar),
]

VISIBLE_WRONG = [
    (visible.eval_numerical_gradient, stub, "not implemented yet"),
    (visible.eval_numerical_gradient, gradient_forward, "FORWARD difference"),
    (visible.eval_numerical_gradient, gradient_over_h, "twice the right one"),
    (visible.eval_numerical_gradient, gradient_not_restored, "x is not the same"),
    (visible.eval_numerical_gradient_array, stub, "not implemented yet"),
    (visible.eval_numerical_gradient_array, gradient_array_ignores_df, "as if df were all ones"),
    (visible.eval_numerical_gradient_array, gradient_array_forward, "FORWARD difference"),
    (visible.eval_numerical_gradient_array, gradient_array_changes_df, "changed its input `df`"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
