"""The week-5 trusted GAN references (``autograder/cases/gan_reference.py``) against JAX: every loss's value and
gradient against ``jax.grad`` of an independent formulation (``jax.nn.log_sigmoid``), the BCE at logits of +-1000,
spectral norm's sigma against the SVD, the functional MLP against ``jax.vjp`` and ``dlfs.nn.MLP``, ``adam_step``
against ``dlfs.nn.Adam``, and ``gan_train_step`` against a JAX re-implementation of the same step, chained."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.cases import gan_reference as gan
from dlfs.nn import MLP, Adam

pytestmark = [pytest.mark.week05, pytest.mark.w05_gan_losses, pytest.mark.autograder]

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


def _close(got, want, rtol=1e-10, atol=1e-12, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol, err_msg=what)


# ---- the losses ----------------------------------------------------------------------------------------------------


def _jax_losses(jax):
    """Each loss written with jax.nn.log_sigmoid (-log sigmoid(s) = -log_sigmoid(s), -log(1 - sigmoid(s)) =
    -log_sigmoid(-s)), not with the reference's softplus."""
    jnp, log_sigmoid = jax.numpy, jax.nn.log_sigmoid
    return {
        "bce": lambda s, y: jnp.mean(-y * log_sigmoid(s) - (1 - y) * log_sigmoid(-s)),
        "discriminator": lambda r, f: -jnp.mean(log_sigmoid(r)) - jnp.mean(log_sigmoid(-f)),
        "generator": lambda f: -jnp.mean(log_sigmoid(f)),
        "lsgan_discriminator": lambda r, f: jnp.mean((r - 1) ** 2) / 2 + jnp.mean(f**2) / 2,
        "lsgan_generator": lambda f: jnp.mean((f - 1) ** 2) / 2,
    }


SHAPES = [((1, 1), (1, 1)), ((8, 1), (8, 1)), ((5, 1), (3, 1)), ((6,), (4,)), ((3, 4), (2, 5))]


@pytest.mark.parametrize(("real_shape", "fake_shape"), SHAPES, ids=str)
def test_two_batch_losses_against_jax_grad(jax, real_shape, fake_shape):
    rng = np.random.default_rng(sum(real_shape) + 10 * sum(fake_shape))
    real, fake = 3.0 * rng.normal(size=real_shape), 3.0 * rng.normal(size=fake_shape)
    losses = _jax_losses(jax)
    for name, reference in (("discriminator", gan.discriminator_loss), ("lsgan_discriminator", gan.lsgan_discriminator_loss)):
        loss, d_real, d_fake = reference(real, fake)
        want, (g_real, g_fake) = jax.jit(jax.value_and_grad(losses[name], argnums=(0, 1)))(real, fake)
        assert isinstance(loss, float)
        _close(loss, want, what=f"{name} loss")
        _close(d_real, g_real, what=f"{name} d s_real")
        _close(d_fake, g_fake, what=f"{name} d s_fake")
        assert d_real.shape == real.shape and d_fake.shape == fake.shape


@pytest.mark.parametrize("shape", [(1, 1), (8, 1), (5,), (3, 4)], ids=str)
def test_one_batch_losses_against_jax_grad(jax, shape):
    rng = np.random.default_rng(sum(shape))
    fake = 3.0 * rng.normal(size=shape)
    losses = _jax_losses(jax)
    for name, reference in (("generator", gan.generator_loss), ("lsgan_generator", gan.lsgan_generator_loss)):
        loss, d_fake = reference(fake)
        want, grad = jax.jit(jax.value_and_grad(losses[name]))(fake)
        assert isinstance(loss, float) and d_fake.shape == shape
        _close(loss, want, what=f"{name} loss")
        _close(d_fake, grad, what=f"{name} d s_fake")


@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (3, 4), (7,)], ids=str)
@pytest.mark.parametrize("dloss", [1.0, 2.5, -0.5])
def test_bce_pair_against_jax_grad(jax, shape, dloss):
    rng = np.random.default_rng(sum(shape))
    s, y = 4.0 * rng.normal(size=shape), rng.uniform(size=shape)
    y[..., 0] = np.round(y[..., 0])  # hard labels next to soft ones
    bce = _jax_losses(jax)["bce"]
    loss, cache = gan.bce_with_logits_forward(s, y)
    want, grad = jax.jit(jax.value_and_grad(lambda a: dloss * bce(a, y)))(s)
    _close(dloss * loss, want)
    _close(gan.bce_with_logits_backward(dloss, cache), grad)


def test_bce_at_logits_of_1000_is_exact_and_agrees_with_jax(jax):
    """-log sigmoid(-1000) = 1000 and -log sigmoid(1000) = e^-1000 ~ 0: exact values, no overflow, no warning."""
    s = np.array([-1000.0, -1000.0, 1000.0, 1000.0, -745.0, 745.0, -40.0, 40.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.5])
    per_entry = np.array([1000.0, 0.0, 0.0, 1000.0, 745.0, 745.0, 20.0 + np.log1p(np.exp(-40.0)), 20.0 + np.log1p(np.exp(-40.0))])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, cache = gan.bce_with_logits_forward(s, y)
        ds = gan.bce_with_logits_backward(1.0, cache)
        d_loss = gan.discriminator_loss(s[:4], s[4:])
        g_loss = gan.generator_loss(s)
    _close(loss, per_entry.mean(), rtol=1e-15)
    _close(ds, (np.array([0, 0, 1, 1, 0, 1, 1 / (1 + np.exp(40.0)), 1 / (1 + np.exp(-40.0))]) - y) / s.size, rtol=1e-14)
    # sigmoid(40) - 1 rounds to 0 in float64 (JAX's gradient keeps -e^-40 / n): an absolute error of 1e-18
    losses, tiny = _jax_losses(jax), 1e-17
    want, grad = jax.jit(jax.value_and_grad(losses["bce"]))(s, y)
    _close(loss, want, rtol=1e-14)
    _close(ds, grad, rtol=1e-14, atol=tiny)
    want, grads = jax.jit(jax.value_and_grad(losses["discriminator"], argnums=(0, 1)))(s[:4], s[4:])
    _close(d_loss[0], want, rtol=1e-14)
    for got, grad in zip(d_loss[1:], grads):
        _close(got, grad, rtol=1e-14, atol=tiny)
    want, grad = jax.jit(jax.value_and_grad(losses["generator"]))(s)
    _close(g_loss[0], want, rtol=1e-14)
    _close(g_loss[1], grad, rtol=1e-14, atol=tiny)


# ---- spectral norm -------------------------------------------------------------------------------------------------


def _jax_power_iteration(jnp, W, u, n_iters):
    M = jnp.reshape(W, (W.shape[0], -1))
    for _ in range(n_iters):
        v = M.T @ u
        v = v / jnp.sqrt(jnp.sum(v * v))
        u = M @ v
        u = u / jnp.sqrt(jnp.sum(u * u))
    return jnp.dot(u, M @ v), u


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (6, 1), (1, 4), (8, 3, 3, 3), (1, 2, 3, 3)], ids=str)
def test_spectral_norm_one_to_three_iterations_against_jax(jax, shape):
    rng = np.random.default_rng(sum(shape))
    W, u = rng.normal(size=shape), 2.0 * rng.normal(size=shape[0])
    for n_iters in (1, 2, 3):
        W_sn, sigma, u_new = gan.spectral_norm(W, u, n_iters)
        want_sigma, want_u = _jax_power_iteration(jax.numpy, W, u, n_iters)
        assert isinstance(sigma, float) and W_sn.shape == W.shape and u_new.shape == (shape[0],)
        _close(sigma, want_sigma, rtol=1e-12)
        _close(u_new, want_u, rtol=1e-10, atol=1e-13)
        _close(W_sn, W / want_sigma, rtol=1e-12)
        assert np.linalg.norm(u_new) == pytest.approx(1.0, rel=1e-14)
        assert sigma <= np.linalg.svd(W.reshape(shape[0], -1), compute_uv=False)[0] * (1 + 1e-14)  # |M v| <= sigma_max


@pytest.mark.parametrize("shape", [(8, 6), (6, 10), (16, 4, 3, 3), (10, 10)], ids=str)
def test_spectral_norm_converges_to_the_largest_singular_value(jax, shape):
    rng = np.random.default_rng(7 + sum(shape))
    W, u = rng.normal(size=shape), rng.normal(size=shape[0])
    M = W.reshape(shape[0], -1)
    values = np.linalg.svd(M, compute_uv=False)
    n_iters = int(np.ceil(np.log(1e-20) / (4 * np.log(values[1] / values[0])))) + 5  # error ~ (s2/s1)^(4 k)
    W_sn, sigma, u_new = gan.spectral_norm(W, u, n_iters)
    _close(sigma, values[0], rtol=1e-10)
    _close(sigma, jax.numpy.linalg.svd(M, compute_uv=False)[0], rtol=1e-10)
    _close(np.linalg.svd(W_sn.reshape(shape[0], -1), compute_uv=False)[0], 1.0, rtol=1e-10)
    left = np.linalg.svd(M)[0][:, 0]
    _close(abs(u_new @ left), 1.0, rtol=1e-8)


def test_spectral_norm_refuses_zero_iterations():
    with pytest.raises(ValueError, match="n_iters"):
        gan.spectral_norm(np.eye(3), np.ones(3), 0)


# ---- the functional MLP and Adam -----------------------------------------------------------------------------------


def _params(rng, sizes):
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / a), (a, b))
        params[f"b{i}"] = 0.1 * rng.normal(size=b)
    return params


def _jax_mlp(jax, params, x, output=None):
    n = len(params) // 2
    h = x
    for i in range(n):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        if i < n - 1:
            h = jax.nn.leaky_relu(a, negative_slope=0.2)
        else:
            h = jax.numpy.tanh(a) if output == "tanh" else a
    return h


MLPS = [([3, 5, 2], 4, None), ([2, 16, 16, 1], 1, None), ([4, 8, 8, 8, 3], 7, "tanh"), ([6, 1], 3, "tanh")]


@pytest.mark.parametrize(("sizes", "batch", "output"), MLPS, ids=str)
def test_mlp_forward_and_backward_against_jax_vjp(jax, sizes, batch, output):
    rng = np.random.default_rng(len(sizes) + batch)
    params, x = _params(rng, sizes), rng.normal(size=(batch, sizes[0]))
    dout = rng.normal(size=(batch, sizes[-1]))
    out, cache = gan.mlp_forward(params, x, output)

    def forward_and_vjp(p, a, d):
        value, vjp = jax.vjp(lambda p_, a_: _jax_mlp(jax, p_, a_, output), p, a)
        return value, vjp(d)

    want, (want_grads, want_dx) = jax.jit(forward_and_vjp)(params, x, dout)
    _close(out, want)
    dx, grads = gan.mlp_backward(dout, cache, params)
    _close(dx, want_dx, what="dx")
    assert set(grads) == set(params)
    for key in params:
        _close(grads[key], want_grads[key], what=key)
    # and the same numbers as the MLP the students are given
    mlp = MLP(sizes, params=params, output=output)
    _close(mlp.forward(x), out, rtol=1e-14)
    _close(mlp.backward(dout), dx, rtol=1e-13, atol=1e-15)
    for key in params:
        _close(mlp.grads[key], grads[key], rtol=1e-13, atol=1e-15, what=key)


def test_adam_step_matches_dlfs_adam_over_several_steps():
    rng = np.random.default_rng(11)
    params = {"W0": rng.normal(size=(3, 4)), "b0": rng.normal(size=4)}
    given = {k: v.copy() for k, v in params.items()}
    opt = Adam(given, lr=2e-3, betas=(0.5, 0.999))
    state = gan.adam_state(params)
    for _ in range(6):
        grads = {k: rng.normal(size=v.shape) * 10.0 ** rng.integers(-6, 2) for k, v in params.items()}
        before = {k: v.copy() for k, v in params.items()}
        params, state = gan.adam_step(params, grads, state, 2e-3)
        opt.step(grads)
        for key in params:
            _close(given[key], params[key], rtol=1e-14, atol=1e-16, what=key)
            assert not np.array_equal(before[key], params[key])
    t, m, v = state
    assert t == opt.t == 6
    for key in params:
        _close(m[key], opt.m[key], rtol=1e-15, atol=0.0)
        _close(v[key], opt.v[key], rtol=1e-15, atol=0.0)


def test_adam_step_leaves_its_inputs_alone():
    rng = np.random.default_rng(12)
    params, grads = {"w": rng.normal(size=3)}, {"w": rng.normal(size=3)}
    state = gan.adam_state(params)
    copies = {"w": params["w"].copy()}, {"w": grads["w"].copy()}, {"w": state[1]["w"].copy()}
    gan.adam_step(params, grads, state, 0.1)
    for before, after in zip(copies, (params, grads, state[1])):
        np.testing.assert_array_equal(before["w"], after["w"])


# ---- one GAN training step -----------------------------------------------------------------------------------------


def _jax_adam(jnp, params, grads, state, lr, b1=0.5, b2=0.999, eps=1e-8):
    t, m, v = state
    t += 1
    m = {k: b1 * m[k] + (1 - b1) * grads[k] for k in params}
    v = {k: b2 * v[k] + (1 - b2) * grads[k] ** 2 for k in params}
    new = {k: params[k] - lr * (m[k] / (1 - b1**t)) / (jnp.sqrt(v[k] / (1 - b2**t)) + eps) for k in params}
    return new, (t, m, v)


def _jax_gan_step(jax, lr_g, lr_d, g_output, lsgan):
    """The step written with jax.grad, compiled: D's loss on D(x_real) and D(stop_gradient(G(z))) with two
    forwards, one Adam step on D; then G's loss through the UPDATED D (same z), one Adam step on G."""
    return jax.jit(
        lambda G, D, x_real, z, g_state, d_state: _jax_gan_step_body(
            jax, G, D, x_real, z, g_state, d_state, lr_g, lr_d, g_output, lsgan
        )
    )


def _jax_gan_step_body(jax, G, D, x_real, z, g_state, d_state, lr_g, lr_d, g_output, lsgan):
    jnp, log_sigmoid = jax.numpy, jax.nn.log_sigmoid

    def d_objective(Dp):
        fake = jax.lax.stop_gradient(_jax_mlp(jax, G, z, g_output))
        real_s, fake_s = _jax_mlp(jax, Dp, x_real), _jax_mlp(jax, Dp, fake)
        if lsgan:
            return jnp.mean((real_s - 1) ** 2) / 2 + jnp.mean(fake_s**2) / 2
        return -jnp.mean(log_sigmoid(real_s)) - jnp.mean(log_sigmoid(-fake_s))

    d_loss, d_grads = jax.value_and_grad(d_objective)(D)
    D_new, d_state = _jax_adam(jnp, D, d_grads, d_state, lr_d)

    def g_objective(Gp):
        s = _jax_mlp(jax, D_new, _jax_mlp(jax, Gp, z, g_output))
        return jnp.mean((s - 1) ** 2) / 2 if lsgan else -jnp.mean(log_sigmoid(s))

    g_loss, g_grads = jax.value_and_grad(g_objective)(G)
    G_new, g_state = _jax_adam(jnp, G, g_grads, g_state, lr_g)
    return d_loss, g_loss, G_new, D_new, g_state, d_state


STEPS = [
    ([3, 16, 2], [2, 16, 1], 8, 8, None, False),
    ([4, 8, 8, 2], [2, 12, 12, 1], 5, 7, None, True),
    ([2, 10, 6], [6, 10, 1], 1, 3, "tanh", False),
    ([5, 8, 4], [4, 6, 6, 1], 6, 1, "tanh", True),
]


@pytest.mark.parametrize(("g_sizes", "d_sizes", "n_real", "n_fake", "g_output", "lsgan"), STEPS, ids=str)
def test_gan_train_step_against_jax_over_three_steps(jax, g_sizes, d_sizes, n_real, n_fake, g_output, lsgan):
    rng = np.random.default_rng(sum(g_sizes) + sum(d_sizes) + n_real)
    G, D = _params(rng, g_sizes), _params(rng, d_sizes)
    states = {"ours": (G, D, gan.adam_state(G), gan.adam_state(D)), "jax": (G, D, gan.adam_state(G), gan.adam_state(D))}
    jax_step = _jax_gan_step(jax, 2e-3, 1e-3, g_output, lsgan)
    for step in range(3):
        x_real, z = rng.normal(size=(n_real, d_sizes[0])), rng.normal(size=(n_fake, g_sizes[0]))
        G1, D1, gs, ds = states["ours"]
        d_loss, g_loss, G1, D1, gs, ds = gan.gan_train_step(G1, D1, x_real, z, gs, ds, 2e-3, 1e-3, g_output, lsgan)
        states["ours"] = (G1, D1, gs, ds)
        G2, D2, gs2, ds2 = states["jax"]
        want = jax_step(G2, D2, x_real, z, gs2, ds2)
        states["jax"] = want[2:]
        _close(d_loss, want[0], what=f"step {step}: d_loss")
        _close(g_loss, want[1], what=f"step {step}: g_loss")
        for label, ours, theirs in (("G", G1, want[2]), ("D", D1, want[3])):
            assert set(ours) == set(theirs)
            for key in ours:
                _close(ours[key], theirs[key], rtol=1e-9, atol=1e-12, what=f"step {step}: {label}.{key}")
        assert gs[0] == ds[0] == int(want[4][0]) == step + 1


def test_gan_train_step_leaves_its_inputs_alone_and_updates_both_players():
    rng = np.random.default_rng(13)
    G, D = _params(rng, [3, 8, 2]), _params(rng, [2, 8, 1])
    x_real, z = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    copies = [{k: v.copy() for k, v in p.items()} for p in (G, D)]
    *_, G_new, D_new, _, _ = gan.gan_train_step(G, D, x_real, z, gan.adam_state(G), gan.adam_state(D), 1e-3, 1e-3)
    for before, after, new in zip(copies, (G, D), (G_new, D_new)):
        for key in before:
            np.testing.assert_array_equal(before[key], after[key])
            assert not np.array_equal(before[key], new[key]), key
