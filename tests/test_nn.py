"""Tests for dlfs.nn, week 5's given layers: gradients against centred differences, Adam against its formula."""

from __future__ import annotations

import numpy as np
import pytest

from dlfs import nn

pytestmark = pytest.mark.library


def rel_error(a, b):
    """Largest difference relative to the largest entry: entries near 0 do not inflate it."""
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def numerical(f, a, h=1e-6):
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + h
        up = f()
        a[i] = keep - h
        down = f()
        a[i] = keep
        grad[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)])
def test_affine_backward_matches_centred_differences_for_any_leading_shape(shape):
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=shape), rng.normal(size=(3, 2)), rng.normal(size=2)
    dout = rng.normal(size=shape[:-1] + (2,))
    out, cache = nn.affine_forward(x, W, b)
    assert out.shape == shape[:-1] + (2,)
    dx, dW, db = nn.affine_backward(dout, cache)
    loss = lambda: np.sum(nn.affine_forward(x, W, b)[0] * dout)  # noqa: E731
    for grad, array in ((dx, x), (dW, W), (db, b)):
        assert rel_error(grad, numerical(loss, array)) < 1e-8


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh"])
def test_activation_backward_matches_centred_differences(name):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)) + 0.01  # away from the kink at 0
    dout = rng.normal(size=x.shape)
    forward, backward = getattr(nn, f"{name}_forward"), getattr(nn, f"{name}_backward")
    dx = backward(dout, forward(x)[1])
    assert rel_error(dx, numerical(lambda: np.sum(forward(x)[0] * dout), x)) < 1e-8


def test_mlp_backward_fills_every_gradient_and_returns_dx():
    rng = np.random.default_rng(2)
    mlp = nn.MLP([3, 6, 5, 2], rng=rng, output="tanh")
    x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    mlp.forward(x)
    dx = mlp.backward(dout)
    loss = lambda: np.sum(mlp.forward(x) * dout)  # noqa: E731
    assert rel_error(dx, numerical(loss, x)) < 1e-8
    for key, value in mlp.params.items():
        assert rel_error(mlp.grads[key], numerical(loss, value)) < 1e-8, key


def test_mlp_copies_given_params_checks_shapes_and_needs_forward_first():
    params = {"W0": np.ones((2, 3)), "b0": np.zeros(3), "W1": np.ones((3, 1)), "b1": np.zeros(1)}
    mlp = nn.MLP([2, 3, 1], params=params)
    mlp.params["W0"][0, 0] = 5.0
    assert params["W0"][0, 0] == 1.0
    with pytest.raises(RuntimeError, match="forward before backward"):
        mlp.backward(np.ones((1, 1)))
    with pytest.raises(ValueError, match="layer 1"):
        nn.MLP([2, 3, 2], params=params)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 1], activation="gelu")


def test_adam_follows_its_formula_with_bias_correction():
    p = {"w": np.array([1.0, -2.0])}
    opt = nn.Adam(p, lr=0.1, betas=(0.5, 0.9), eps=0.0)
    g1, g2 = np.array([0.2, -0.4]), np.array([1.0, 0.0])
    opt.step({"w": g1})
    # step 1: m_hat = g, v_hat = g^2, so every entry moves by lr * sign(g)
    np.testing.assert_allclose(p["w"], [0.9, -1.9])
    opt.step({"w": g2})
    m = 0.5 * (0.5 * g1) + 0.5 * g2
    v = 0.9 * (0.1 * g1**2) + 0.1 * g2**2
    expected = np.array([0.9, -1.9]) - 0.1 * (m / 0.75) / np.sqrt(v / 0.19)
    np.testing.assert_allclose(p["w"], expected)
    with pytest.raises(KeyError, match="no gradient"):
        opt.step({})


def test_cross_entropy_ignores_positions_and_matches_centred_differences():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 4, 5)) * 3
    targets = rng.integers(0, 5, size=(2, 4))
    targets[0, :2] = -1
    loss, dlogits = nn.cross_entropy(logits, targets)
    kept = targets != -1
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[kept, targets[kept]])))
    assert np.all(dlogits[~kept] == 0)
    assert rel_error(dlogits, numerical(lambda: nn.cross_entropy(logits, targets)[0], logits)) < 1e-7
    with pytest.raises(ValueError, match="nothing to average"):
        nn.cross_entropy(logits, np.full((2, 4), -1))
    assert np.isfinite(nn.cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))[0])
