"""Tests of dlfs.numerics (relative error) and autograder.gradcheck (numerical gradients, trusted side only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.gradcheck import gradient_check, numerical_gradient, numerical_gradient_array
from dlfs.numerics import max_rel_error_location, rel_error

pytestmark = pytest.mark.library


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random float64 entries with |x| in [0.5, 2], so that gradients like 2x are never tiny."""
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# ----------------------------------------------------------------------------------------------------
# rel_error / max_rel_error_location
# ----------------------------------------------------------------------------------------------------


def test_rel_error_known_values():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(2.0 / 4.0)
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    # opposite signs are as far apart as possible
    assert rel_error(-1.0, 1.0) == 1.0
    # the eps floor: two tiny values count as (nearly) equal
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)
    assert rel_error(0.0, 0.0) == 0.0


def test_rel_error_returns_python_float_for_arrays_of_any_shape():
    x = np.arange(24, dtype=float).reshape(2, 3, 4) + 1
    err = rel_error(x, x * (1 + 1e-6))
    assert type(err) is float
    assert err == pytest.approx(1e-6 / (2 + 1e-6))


def test_rel_error_accepts_lists_and_ints():
    assert rel_error([1, 2, 3], [1, 2, 4]) == pytest.approx(1 / 7)


@pytest.mark.parametrize("shapes", [((3,), (1, 3)), ((3,), (3, 1)), ((), (3,)), ((2, 3), (3, 2))])
def test_rel_error_refuses_to_broadcast(shapes):
    a, b = np.ones(shapes[0]), np.ones(shapes[1])
    with pytest.raises(ValueError) as info:
        rel_error(a, b)
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)
    with pytest.raises(ValueError):
        max_rel_error_location(a, b)


def test_rel_error_nan_is_reported_not_hidden():
    err = rel_error(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert np.isnan(err)
    assert not err < 1e-7  # a check written as `err < tol` fails, as it should
    assert np.isnan(rel_error(np.inf, np.inf))


def test_rel_error_empty_arrays():
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError):
        max_rel_error_location(np.zeros(0), np.zeros(0))


def test_max_rel_error_location_finds_planted_error():
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, (6, 3))
    y = x * (1 + 1e-9 * rng.standard_normal(x.shape))
    y[4, 1] = x[4, 1] * 1.03
    err, idx = max_rel_error_location(x, y)
    assert idx == (4, 1)
    assert all(type(i) is int for i in idx)
    assert err == pytest.approx(0.03 / 2.03)
    assert err == rel_error(x, y)
    assert f"max relative error {err:.0e} at {list(idx)}" == "max relative error 1e-02 at [4, 1]"


def test_max_rel_error_location_scalar_and_3d_and_nan():
    assert max_rel_error_location(2.0, 2.0) == (0.0, ())
    x = np.ones((2, 3, 4))
    y = x.copy()
    y[1, 2, 0] = 2.0
    assert max_rel_error_location(x, y)[1] == (1, 2, 0)
    y[0, 1, 3] = np.nan
    err, idx = max_rel_error_location(x, y)
    assert np.isnan(err) and idx == (0, 1, 3)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=shapes)
def test_rel_error_properties(data, shape):
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    y = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    assert rel_error(x, x) == 0.0
    assert rel_error(x, y) == rel_error(y, x)
    assert 0.0 <= rel_error(x, y) <= 1.0
    err, idx = max_rel_error_location(x, y)
    assert err == rel_error(x, y)
    assert len(idx) == len(shape)
    assert rel_error(x[idx], y[idx]) == err


# ----------------------------------------------------------------------------------------------------
# numerical gradients
# ----------------------------------------------------------------------------------------------------


def test_gradient_of_sum_of_squares():
    x = away_from_zero(np.random.default_rng(1), (4, 5))
    before = x.tobytes()
    grad = numerical_gradient(lambda v: np.sum(v**2), x)
    assert grad.shape == x.shape and grad.dtype == np.float64
    assert rel_error(grad, 2 * x) < 1e-7
    assert x.tobytes() == before


def test_gradient_of_sum_of_sines():
    x = np.random.default_rng(2).uniform(-1.0, 1.0, size=(3, 7))  # cos(x) >= 0.54 here
    before = x.tobytes()
    assert rel_error(numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x)) < 1e-7
    assert x.tobytes() == before


def test_gradient_of_matrix_product_with_upstream_gradient():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 4))
    W = rng.standard_normal((4, 3))
    dout = rng.standard_normal((5, 3))
    before = W.tobytes()
    grad = numerical_gradient(lambda w: np.sum((X @ w) * dout), W)
    assert rel_error(grad, X.T @ dout) < 1e-7
    # the same through the array version: d/dW sum((X @ W) * dout)
    assert rel_error(numerical_gradient_array(lambda w: X @ w, W, dout), X.T @ dout) < 1e-7
    # and with respect to the input: d/dX sum((X @ W) * dout) = dout @ W.T
    X_copy = X.copy()
    assert rel_error(numerical_gradient_array(lambda x: x @ W, X_copy, dout), dout @ W.T) < 1e-7
    assert W.tobytes() == before and np.array_equal(X_copy, X)


def test_gradient_array_of_elementwise_layer():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 1.0, size=(3, 4))
    dout = away_from_zero(rng, (3, 4))
    grad = numerical_gradient_array(np.tanh, x, dout)
    assert rel_error(grad, dout * (1 - np.tanh(x) ** 2)) < 1e-7


def test_gradient_array_copies_outputs_that_are_views_of_x():
    # identity returns x itself: without a copy, f(x+h) would be overwritten by f(x-h), giving 0
    x = np.linspace(-1.0, 1.0, 6)
    dout = np.arange(1.0, 7.0)
    assert rel_error(numerical_gradient_array(lambda v: v, x, dout), dout) < 1e-9


def test_gradient_array_checks_dout_shape():
    with pytest.raises(ValueError, match="dout"):
        numerical_gradient_array(lambda v: 2 * v, np.ones(3), np.ones(4))


def test_gradient_check_convenience():
    x = away_from_zero(np.random.default_rng(5), (3, 3))
    f = lambda v: np.sum(v**3)  # noqa: E731
    assert gradient_check(f, x, 3 * x**2) < 1e-7
    assert gradient_check(f, x, 3 * x**2 + 1e-3) > 1e-5  # a wrong gradient is caught
    with pytest.raises(ValueError):
        gradient_check(f, x, np.ones(9))


def test_gradient_of_non_contiguous_view_and_0d():
    base = away_from_zero(np.random.default_rng(6), (4, 6))
    before = base.tobytes()
    view = base[:, ::2].T  # shape (3, 4), not contiguous
    assert rel_error(numerical_gradient(lambda v: np.sum(v**2), view), 2 * view) < 1e-7
    assert base.tobytes() == before
    x0 = np.array(0.7)
    assert rel_error(numerical_gradient(lambda v: float(v) ** 3, x0), 3 * 0.7**2) < 1e-7
    assert float(x0) == 0.7


def test_gradient_restores_special_values_bitwise():
    x = np.array([-0.0, 1e-300, 1 / 3, -123.456])
    before = x.tobytes()
    numerical_gradient(lambda v: np.sum(v**2), x)
    numerical_gradient_array(lambda v: v * 2, x, np.ones(4))
    assert x.tobytes() == before


def test_x_is_restored_even_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 4:  # while x[1] is perturbed
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, [1.0, 2.0, 3.0])
    assert calls[2][1] == 2.0 + 1e-5  # f really saw the perturbed entry, in place


@pytest.mark.parametrize("bad", [np.arange(4), np.array([1, 2], dtype=np.int8), np.array([True, False])])
def test_integer_input_is_a_type_error(bad):
    with pytest.raises(TypeError, match="float"):
        numerical_gradient(lambda v: np.sum(v), bad)
    with pytest.raises(TypeError, match="float"):
        numerical_gradient_array(lambda v: v, bad, np.ones(bad.shape))


def test_non_array_and_bad_step_and_non_scalar_f():
    with pytest.raises(TypeError):
        numerical_gradient(lambda v: np.sum(v), [1.0, 2.0])
    with pytest.raises(ValueError):
        numerical_gradient(lambda v: np.sum(v), np.ones(2), h=0.0)
    with pytest.raises(ValueError, match="numerical_gradient_array"):
        numerical_gradient(lambda v: v * 2, np.ones(2))


def test_numerical_gradients_do_not_ship_in_dlfs():
    """Week 2 asks students to write them: the student library holds no numerical-gradient code."""
    import importlib.util

    import dlfs
    import dlfs.numerics

    for name in ("numerical_gradient", "numerical_gradient_array", "gradient_check"):
        assert not hasattr(dlfs, name)
        assert not hasattr(dlfs.numerics, name)
    assert importlib.util.find_spec("dlfs._gradcheck") is None
