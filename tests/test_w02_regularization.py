"""Week 2 regularisation (dropout, batch normalisation, L2): the references against independent computations
and JAX, the hidden cases against correct variants (the notebook's solution, loops, other RNGs, float32, the
step-by-step batchnorm backward) and the known mistakes, and the visible checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import w02_regularization as ref
from autograder.gradcheck import numerical_gradient_array
from dlfs.checks import week02 as visible
from dlfs.checks.w02_regularization import kept_fraction_bounds

pytestmark = [pytest.mark.week02, pytest.mark.w02_regularization, pytest.mark.autograder,
              pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")]


# ---- the notebook's solutions (copied from the fragment) -----------------------------------------------


def dropout_forward(x, p, train=True, seed=None):
    if not train:
        return x.copy(), None
    rng = np.random.default_rng(seed)
    mask = (rng.random(x.shape) >= p) / (1 - p)
    out = x * mask
    cache = mask
    return out, cache


def dropout_backward(dout, cache):
    mask = cache
    dx = dout.copy() if mask is None else dout * mask
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.setdefault("eps", 1e-5)
    momentum = bn_param.setdefault("momentum", 0.9)
    running_mean = bn_param.setdefault("running_mean", np.zeros(x.shape[1]))
    running_var = bn_param.setdefault("running_var", np.ones(x.shape[1]))
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, std)
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    return dx, dgamma, dbeta


def l2_penalty(weights, reg):
    penalty = 0.5 * reg * sum(np.sum(W * W) for W in weights)
    grads = [reg * W for W in weights]
    return penalty, grads


# ---- correct alternatives ------------------------------------------------------------------------------


def dropout_legacy_rng(x, p, train=True, seed=None):
    """Another generator (the legacy RandomState), a boolean mask and p in the cache, float32 kept."""
    if not train:
        return x, {"train": False}
    keep = np.random.RandomState(seed).rand(*x.shape) > p
    return np.where(keep, x / (1 - p), 0).astype(x.dtype), {"train": True, "keep": keep, "p": p}


def dropout_legacy_rng_backward(dout, cache):
    if not cache["train"]:
        return dout
    return np.where(cache["keep"], dout / (1 - cache["p"]), 0.0)


def dropout_loop(x, p, train=True, seed=None):
    if not train:
        return x.copy(), (None, train)
    rng = np.random.default_rng(seed)
    flat, mask = x.ravel(), np.zeros(x.size)
    for i in range(x.size):
        mask[i] = (rng.random() >= p) / (1 - p)
    return (flat * mask).reshape(x.shape), (mask.reshape(x.shape), train)


def dropout_loop_backward(dout, cache):
    mask, train = cache
    return dout * mask if train else dout


def batchnorm_loop(x, gamma, beta, bn_param):
    """Feature by feature, with the statistics written out as sums (and float32 kept float32)."""
    N, D = x.shape
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = np.array(bn_param.get("running_mean", np.zeros(D)), dtype=np.float64)
    rv = np.array(bn_param.get("running_var", np.ones(D)), dtype=np.float64)
    out = np.empty_like(x)
    for j in range(D):
        col = x[:, j]
        if bn_param["mode"] == "train":
            mu = sum(col) / N
            var = sum((c - mu) ** 2 for c in col) / N
            rm[j], rv[j] = m * rm[j] + (1 - m) * mu, m * rv[j] + (1 - m) * var
        else:
            mu, var = rm[j], rv[j]
        out[:, j] = gamma[j] * (col - mu) / math.sqrt(var + eps) + beta[j]
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return out, (x, gamma, eps)


def batchnorm_graph_backward(dout, cache):
    """Node by node through the graph x -> xmu -> sq -> var -> sqrtvar -> ivar -> xhat -> out (recomputes the
    forward from x, which the loop forward keeps in its cache)."""
    x, gamma, eps = cache
    N = x.shape[0]
    mu = x.sum(axis=0) / N
    xmu = x - mu
    sq = xmu**2
    var = sq.sum(axis=0) / N
    sqrtvar = np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar**2
    dvar = 0.5 * dsqrtvar / sqrtvar
    dsq = np.ones_like(sq) * dvar / N
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(axis=0)
    dx2 = np.ones_like(x) * dmu / N
    return dx1 + dx2, dgamma, dbeta


def batchnorm_paper_backward(dout, cache):
    """Ioffe and Szegedy's formulas with dvar and dmu written out (the forward of the notebook's solution)."""
    x_hat, gamma, std = cache
    N = dout.shape[0]
    xmu = x_hat * std
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xmu, axis=0) * -0.5 * std**-3
    dmu = np.sum(-dxhat / std, axis=0) + dvar * np.mean(-2 * xmu, axis=0)
    dx = dxhat / std + dvar * 2 * xmu / N + dmu / N
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


def l2_loop(weights, reg):
    penalty, grads = 0.0, []
    for W in weights:
        penalty += 0.5 * reg * np.linalg.norm(W.astype(np.float64).ravel()) ** 2
        grads.append(W * reg)
    return penalty, grads


def l2_einsum(weights, reg):
    return 0.5 * reg * sum(float(np.einsum("ij,ij->", W, W)) for W in weights), [np.multiply(reg, W) for W in weights]


# ---- wrong implementations -------------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def _with_mask(name, mask_fn, test=lambda x, p: (x.copy(), None)):
    def forward(x, p, train=True, seed=None):
        if not train:
            return test(x, p)
        mask = mask_fn(np.random.default_rng(seed), x, p)
        return x * mask, mask
    forward.__name__ = name
    return forward


dropout_no_rescale = _with_mask("dropout_no_rescale", lambda rng, x, p: (rng.random(x.shape) >= p) * 1.0)
dropout_keep_p = _with_mask("dropout_keep_p", lambda rng, x, p: (rng.random(x.shape) < p) / p)
dropout_keep_p_scaled = _with_mask("dropout_keep_p_scaled", lambda rng, x, p: (rng.random(x.shape) < p) / (1 - p))
dropout_shared_mask = _with_mask("dropout_shared_mask", lambda rng, x, p: (rng.random(x.shape[1:]) >= p) / (1 - p))
dropout_test_drops = _with_mask("dropout_test_drops", lambda rng, x, p: (rng.random(x.shape) >= p) / (1 - p),
                                test=lambda x, p: (x * (np.random.default_rng(0).random(x.shape) >= p), None))
dropout_test_scales = _with_mask("dropout_test_scales", lambda rng, x, p: (rng.random(x.shape) >= p) / (1 - p),
                                 test=lambda x, p: (x * (1 - p), None))
dropout_no_seed = _with_mask("dropout_no_seed", lambda rng, x, p: (np.random.random(x.shape) >= p) / (1 - p))


def dropout_in_place(x, p, train=True, seed=None):
    if not train:
        return x, None
    mask = (np.random.default_rng(seed).random(x.shape) >= p) / (1 - p)
    x *= mask
    return x, mask


def dropout_backward_no_scale(dout, cache):
    return dout if cache is None else dout * (cache != 0)


def dropout_backward_new_mask(dout, cache):
    if cache is None:
        return dout
    p = 1 - 1 / cache.max() if cache.max() > 0 else 0.5
    return dout * (np.random.default_rng(12345).random(dout.shape) >= p) / (1 - p)


def dropout_test_mask_forward(x, p, train=True, seed=None):
    """The test-mode forward returns x, but a cache with a mask, which the backward then applies."""
    mask = (np.random.default_rng(seed).random(x.shape) >= p) / (1 - p)
    return (x * mask if train else x.copy()), mask


def _bn(x, gamma, beta, bn_param, *, ddof=0, eps_outside=False, affine=True, swapped=False, test_batch=False,
        test_updates=False, store=True):
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = bn_param.get("running_mean", np.zeros(x.shape[1]))
    rv = bn_param.get("running_var", np.ones(x.shape[1]))
    train = bn_param["mode"] == "train"
    if train or test_batch:
        mu, var = x.mean(axis=0), x.var(axis=0, ddof=ddof)
    else:
        mu, var = rm, rv
    if train or test_updates:
        a, b = (1 - m, m) if swapped else (m, 1 - m)
        if store:
            bn_param["running_mean"], bn_param["running_var"] = a * rm + b * mu, a * rv + b * var
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return (gamma * x_hat + beta if affine else x_hat), (x_hat, gamma, std)


def batchnorm_ddof1(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, ddof=1)


def batchnorm_eps_outside(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, eps_outside=True)


def batchnorm_no_affine(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, affine=False)


def batchnorm_momentum_swapped(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, swapped=True)


def batchnorm_test_batch_stats(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, test_batch=True)


def batchnorm_test_updates(x, gamma, beta, bn_param):
    """Test mode normalises with the running statistics but then updates them with the test batch."""
    out = _bn(x, gamma, beta, dict(bn_param))
    _bn(x, gamma, beta, bn_param, test_updates=True, test_batch=True)
    return out


def batchnorm_not_stored(x, gamma, beta, bn_param):
    """Computes the running averages but never writes them into bn_param."""
    return _bn(x, gamma, beta, bn_param, store=False)


def batchnorm_in_place(x, gamma, beta, bn_param):
    out, cache = _bn(x.copy(), gamma, beta, bn_param)
    x -= x.mean(axis=0)
    return out, cache


def batchnorm_backward_no_mean(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    return (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=0)) / std, (dout * x_hat).sum(0), dout.sum(0)


def batchnorm_backward_no_var(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    return (dx_hat - dx_hat.mean(axis=0)) / std, (dout * x_hat).sum(0), dout.sum(0)


def batchnorm_backward_no_gamma(dout, cache):
    x_hat, gamma, std = cache
    return (dout - dout.mean(0) - x_hat * (dout * x_hat).mean(0)) / std, (dout * x_hat).sum(0), dout.sum(0)


def batchnorm_backward_dgamma_sum(dout, cache):
    dx, _, dbeta = batchnorm_backward(dout, cache)
    return dx, dout.sum(axis=0), dbeta


def l2_no_half(weights, reg):
    return reg * sum(np.sum(W**2) for W in weights), [reg * W for W in weights]


def l2_double_grad(weights, reg):
    return 0.5 * reg * sum(np.sum(W**2) for W in weights), [2 * reg * W for W in weights]


def l2_no_reg_grad(weights, reg):
    return 0.5 * reg * sum(np.sum(W**2) for W in weights), [W for W in weights]


def l2_in_place(weights, reg):
    penalty = 0.5 * reg * sum(np.sum(W**2) for W in weights)
    for W in weights:
        W *= reg
    return penalty, weights


def l2_norm_not_squared(weights, reg):
    return 0.5 * reg * sum(np.linalg.norm(W) for W in weights), [reg * W for W in weights]


CORRECT = {
    "w02_dropout_forward": [dropout_forward, dropout_legacy_rng, dropout_loop, ref.dropout_forward],
    "w02_dropout_backward": [Together(dropout_forward, dropout_backward),
                             Together(dropout_legacy_rng, dropout_legacy_rng_backward),
                             Together(dropout_loop, dropout_loop_backward),
                             Together(ref.dropout_forward, ref.dropout_backward)],
    "w02_batchnorm_forward": [batchnorm_forward, batchnorm_loop, ref.batchnorm_forward],
    "w02_batchnorm_test_mode": [batchnorm_forward, batchnorm_loop, ref.batchnorm_forward],
    "w02_batchnorm_backward": [Together(batchnorm_forward, batchnorm_backward),
                               Together(batchnorm_loop, batchnorm_graph_backward),
                               Together(batchnorm_forward, batchnorm_paper_backward),
                               Together(ref.batchnorm_forward, ref.batchnorm_backward)],
    "w02_l2_penalty": [l2_penalty, l2_loop, l2_einsum, ref.l2_penalty],
}

WRONG = [
    ("w02_dropout_forward", stub, "not implemented yet"),
    ("w02_dropout_forward", dropout_no_rescale, "without rescaling"),
    ("w02_dropout_forward", dropout_keep_p, "probability of keeping"),
    ("w02_dropout_forward", dropout_keep_p_scaled, "probability of keeping"),
    ("w02_dropout_forward", dropout_shared_mask, "every row has the same mask"),
    ("w02_dropout_forward", dropout_test_drops, r"train=False.*does nothing"),
    ("w02_dropout_forward", dropout_test_scales, r"train=False.*unchanged"),
    ("w02_dropout_forward", dropout_no_seed, "same seed gave two different masks"),
    ("w02_dropout_forward", dropout_in_place, "changed its input `x`"),
    ("w02_dropout_backward", Together(dropout_forward, stub), "dropout_backward is not implemented yet"),
    ("w02_dropout_backward", Together(stub, dropout_backward), "dropout_forward is not implemented yet"),
    ("w02_dropout_backward", Together(dropout_forward, dropout_backward_no_scale), r"1 / \(1 - p\)"),
    ("w02_dropout_backward", Together(dropout_forward, dropout_backward_new_mask), "another mask"),
    ("w02_dropout_backward", Together(dropout_test_mask_forward, dropout_backward), "dx = dout"),
    ("w02_dropout_backward", Together(dropout_no_seed, dropout_backward), "centred differences"),
    ("w02_batchnorm_forward", stub, "not implemented yet"),
    ("w02_batchnorm_forward", batchnorm_ddof1, "sample variance"),
    ("w02_batchnorm_forward", batchnorm_eps_outside, "outside the square root"),
    ("w02_batchnorm_forward", batchnorm_no_affine, "x_hat alone"),
    ("w02_batchnorm_forward", batchnorm_momentum_swapped, "momentum on the wrong side"),
    ("w02_batchnorm_forward", batchnorm_not_stored, "bn_param has no 'running_mean'"),
    ("w02_batchnorm_forward", batchnorm_in_place, "changed its input `x`"),
    ("w02_batchnorm_test_mode", batchnorm_test_batch_stats, "batch's statistics"),
    ("w02_batchnorm_test_mode", batchnorm_test_updates, r"after a test-mode call \(unchanged\)"),
    ("w02_batchnorm_test_mode", batchnorm_momentum_swapped, "momentum on the wrong side"),
    ("w02_batchnorm_test_mode", stub, "not implemented yet"),
    ("w02_batchnorm_backward", Together(batchnorm_forward, batchnorm_backward_no_mean), "missing the mean term"),
    ("w02_batchnorm_backward", Together(batchnorm_forward, batchnorm_backward_no_var), "missing the variance term"),
    ("w02_batchnorm_backward", Together(batchnorm_forward, batchnorm_backward_no_gamma), "ignores gamma"),
    ("w02_batchnorm_backward", Together(batchnorm_forward, batchnorm_backward_dgamma_sum), "dgamma is the sum of dout"),
    ("w02_batchnorm_backward", Together(batchnorm_forward, stub), "not implemented yet"),
    ("w02_batchnorm_backward", Together(batchnorm_eps_outside, batchnorm_backward), "dx: 12 of 12 values are wrong"),
    ("w02_l2_penalty", stub, "not implemented yet"),
    ("w02_l2_penalty", l2_no_half, r"reg \* sum\(W\*\*2\)"),
    ("w02_l2_penalty", l2_double_grad, "2 \\* reg \\* W"),
    ("w02_l2_penalty", l2_no_reg_grad, "multiply by reg"),
    ("w02_l2_penalty", l2_in_place, "in place"),
    ("w02_l2_penalty", l2_norm_not_squared, "values are wrong"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w02_regularization", CORRECT, WRONG)


# ---- the references against independent computations and JAX ---------------------------------------------


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_batchnorm(jnp, x, gamma, beta, eps=1e-5):
    mu = jnp.mean(x, axis=0)
    var = jnp.mean((x - mu) ** 2, axis=0)
    return gamma * (x - mu) / jnp.sqrt(var + eps) + beta


@pytest.mark.parametrize("shape", [(1, 3), (2, 3), (4, 5), (32, 10), (100, 1)])
def test_batchnorm_backward_against_jax_vjp(jax, shape):
    rng = np.random.default_rng(sum(shape))
    x, gamma, beta = ref._batch(rng, *shape)
    dout = rng.normal(size=shape)
    out, vjp = jax.vjp(lambda a, g, b: _jax_batchnorm(jax.numpy, a, g, b), x, gamma, beta)
    mine, cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(mine, np.asarray(out), rtol=1e-12, atol=1e-12)
    for got, want in zip(ref.batchnorm_backward(dout, cache), vjp(dout)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-9, atol=1e-11)


def test_dropout_and_l2_backward_against_jax(jax):
    rng = np.random.default_rng(5)
    x, dout = rng.normal(size=(6, 7)), rng.normal(size=(6, 7))
    out, cache = ref.dropout_forward(x, 0.4, seed=2)
    mask = cache["mask"]
    _, vjp = jax.vjp(lambda a: a * mask, x)
    np.testing.assert_allclose(ref.dropout_backward(dout, cache), np.asarray(vjp(dout)[0]), rtol=1e-14)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    jnp = jax.numpy
    value, grads = jax.value_and_grad(lambda ws: 0.5 * 0.3 * sum(jnp.sum(w**2) for w in ws))(weights)
    penalty, mine = ref.l2_penalty(weights, 0.3)
    assert penalty == pytest.approx(float(value), rel=1e-13)
    for got, want in zip(mine, grads):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-13)


def test_batchnorm_backward_against_numerical_gradient():
    rng = np.random.default_rng(9)
    x, gamma, beta = ref._batch(rng, 5, 3)
    dout = rng.normal(size=(5, 3))
    _, cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    forward = lambda a, g, b: ref.batchnorm_forward(a, g, b, {"mode": "train"})[0]  # noqa: E731
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda a: forward(a, gamma, beta), x, dout), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dgamma, numerical_gradient_array(lambda g: forward(x, g, beta), gamma, dout), rtol=1e-7)
    np.testing.assert_allclose(dbeta, numerical_gradient_array(lambda b: forward(x, gamma, b), beta, dout), rtol=1e-7)


def test_batchnorm_reference_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 10.0]])
    param = {"mode": "train"}
    out, _ = ref.batchnorm_forward(x, np.array([2.0, 1.0]), np.array([0.5, -1.0]), param)
    # feature 0: mean 2, var 1 -> x_hat = -+1/sqrt(1 + 1e-5); feature 1: constant -> x_hat = 0, out = beta
    np.testing.assert_allclose(out[:, 0], [0.5 - 2 / math.sqrt(1 + 1e-5), 0.5 + 2 / math.sqrt(1 + 1e-5)], rtol=1e-14)
    np.testing.assert_array_equal(out[:, 1], [-1.0, -1.0])
    np.testing.assert_allclose(param["running_mean"], [0.2, 1.0], rtol=1e-14)
    np.testing.assert_allclose(param["running_var"], [0.9 + 0.1, 0.9], rtol=1e-14)
    single, _ = ref.batchnorm_forward(x[:1], np.ones(2), np.array([3.0, 4.0]), {"mode": "train"})
    np.testing.assert_array_equal(single, [[3.0, 4.0]])  # N = 1: var 0, x_hat 0, out = beta


def test_dropout_reference_is_inverted_dropout():
    x = np.ones((400, 500))
    out, _ = ref.dropout_forward(x, 0.3, seed=1)
    assert set(np.unique(out).round(12)) == {0.0, round(1 / 0.7, 12)}
    assert abs(out.mean() - 1.0) < 0.01
    low, high = kept_fraction_bounds(0.3, x.size)
    assert low < np.mean(out > 0) < high
    np.testing.assert_array_equal(ref.dropout_forward(x, 0.3, train=False)[0], x)


def test_kept_fraction_bounds_hold_for_a_fair_generator():
    """Over 200 seeds the six-sigma band never rejects a correct mask (it would about 2 times in a billion)."""
    low, high = kept_fraction_bounds(0.3, 2000)
    fractions = [np.mean(np.random.default_rng(s).random(2000) >= 0.3) for s in range(200)]
    assert low < min(fractions) and max(fractions) < high


def test_l2_reference_by_hand():
    penalty, grads = ref.l2_penalty([np.array([[1.0, 2.0]]), np.array([[3.0]])], 0.1)
    assert penalty == pytest.approx(0.5 * 0.1 * (1 + 4 + 9))
    np.testing.assert_allclose(grads[0], [[0.1, 0.2]])
    np.testing.assert_allclose(grads[1], [[0.3]])


def test_batchnorm_backward_mistakes_differ_from_the_reference():
    rng = np.random.default_rng(4)
    x, gamma, beta = ref._batch(rng, 6, 3)
    dout = rng.normal(size=(6, 3))
    _, cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx = ref.batchnorm_backward(dout, cache)[0]
    for name, wrong in ref.batchnorm_backward_mistakes(x, gamma, beta, dout)["dx"].items():
        assert not np.allclose(wrong, dx, rtol=1e-6), name


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.dropout_forward, stub, "not implemented yet"),
    (visible.dropout_forward, dropout_no_rescale, "without rescaling"),
    (visible.dropout_forward, dropout_keep_p, "probability of keeping"),
    (visible.dropout_forward, dropout_shared_mask, "same mask"),
    (visible.dropout_forward, dropout_test_scales, "unchanged"),
    (visible.dropout_forward, dropout_no_seed, "same seed"),
    (visible.dropout_forward, dropout_in_place, "changed its input"),
    (visible.dropout_backward, Together(dropout_forward, dropout_backward_no_scale), r"1 / \(1 - p\)"),
    (visible.dropout_backward, Together(dropout_forward, dropout_backward_new_mask), "another mask"),
    (visible.dropout_backward, Together(dropout_forward, stub), "not implemented yet"),
    (visible.batchnorm_forward, batchnorm_ddof1, "sample variance"),
    (visible.batchnorm_forward, batchnorm_eps_outside, "outside the square root"),
    (visible.batchnorm_forward, batchnorm_momentum_swapped, "wrong side"),
    (visible.batchnorm_forward, batchnorm_test_batch_stats, "batch's statistics"),
    (visible.batchnorm_forward, stub, "not implemented yet"),
    (visible.batchnorm_backward, Together(batchnorm_forward, batchnorm_backward_no_mean), "mean term"),
    (visible.batchnorm_backward, Together(batchnorm_forward, batchnorm_backward_no_var), "variance term"),
    (visible.batchnorm_backward, Together(batchnorm_forward, batchnorm_backward_dgamma_sum), "dgamma"),
    (visible.l2_penalty, l2_no_half, r"0\.5 \* reg"),
    (visible.l2_penalty, l2_double_grad, r"2 \* reg \* W"),
    (visible.l2_penalty, l2_in_place, "in place"),
    (visible.l2_penalty, stub, "not implemented yet"),
]

VISIBLE_CORRECT = [
    (visible.dropout_forward, dropout_forward), (visible.dropout_forward, dropout_legacy_rng),
    (visible.dropout_backward, Together(dropout_forward, dropout_backward)),
    (visible.dropout_backward, Together(dropout_legacy_rng, dropout_legacy_rng_backward)),
    (visible.batchnorm_forward, batchnorm_forward), (visible.batchnorm_forward, batchnorm_loop),
    (visible.batchnorm_backward, Together(batchnorm_forward, batchnorm_backward)),
    (visible.batchnorm_backward, Together(batchnorm_loop, batchnorm_graph_backward)),
    (visible.l2_penalty, l2_penalty), (visible.l2_penalty, l2_loop),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
