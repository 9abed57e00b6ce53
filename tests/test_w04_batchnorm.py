"""Week 4, spatial batch normalisation (spatial_batchnorm_forward/backward): correct variants pass every hidden case,
the known mistakes fail with their diagnosis, the visible checks say the same, and the references agree with loops,
centred differences and JAX."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import w04_batchnorm as ref
from autograder.fixtures import FIXTURE_DIR
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import get_case
from dlfs.checks import week04 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_batchnorm, pytest.mark.autograder,
              pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")]


# ---- correct variants ----------------------------------------------------------------------------------------


def _settings(bn_param, C, dtype=np.float64):
    return (bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9),
            bn_param.get("running_mean", np.zeros(C, dtype)), bn_param.get("running_var", np.ones(C, dtype)))


def bn_channels_last(x, gamma, beta, bn_param):
    """Week 2's layer on x moved to (N*H*W, C), in x's floating type (float32 stays float32)."""
    N, C, H, W = x.shape
    eps, m, rm, rv = _settings(bn_param, C, x.dtype)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    if bn_param["mode"] == "train":
        mu, var = rows.mean(axis=0), rows.var(axis=0)
        bn_param["running_mean"], bn_param["running_var"] = m * rm + (1 - m) * mu, m * rv + (1 - m) * var
    else:
        mu, var = rm.astype(x.dtype), rv.astype(x.dtype)
    std = np.sqrt(var + eps)
    x_hat = (rows - mu) / std
    out = (gamma * x_hat + beta).reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, (x_hat, gamma, std, x.shape)


def bn_channels_last_backward(dout, cache):
    x_hat, gamma, std, (N, C, H, W) = cache
    d = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_hat = d * gamma
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), (d * x_hat).sum(axis=0), d.sum(axis=0)


def bn_loops(x, gamma, beta, bn_param):
    """Channel by channel, the statistics written out as Python sums over every (n, h, w), in float64."""
    N, C, H, W = x.shape
    eps, m, rm, rv = _settings(bn_param, C)
    rm, rv = np.array(rm, dtype=np.float64), np.array(rv, dtype=np.float64)
    out = np.empty(x.shape)
    M = N * H * W
    for c in range(C):
        values = [float(v) for v in x[:, c].ravel()]
        if bn_param["mode"] == "train":
            mu = sum(values) / M
            var = sum((v - mu) ** 2 for v in values) / M
            rm[c], rv[c] = m * rm[c] + (1 - m) * mu, m * rv[c] + (1 - m) * var
        else:
            mu, var = rm[c], rv[c]
        out[:, c] = gamma[c] * (x[:, c] - mu) / math.sqrt(var + eps) + beta[c]
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return out, (x.astype(np.float64), np.asarray(gamma, dtype=np.float64), eps)


def bn_graph_backward(dout, cache):
    """Node by node through x -> x - mu -> var -> std -> x_hat -> out, recomputed from x (the loop forward's cache)."""
    x, gamma, eps = cache
    axes = (0, 2, 3)
    M = x.size // x.shape[1]
    g = gamma.reshape(1, -1, 1, 1)
    mu = x.sum(axis=axes, keepdims=True) / M
    xmu = x - mu
    var = (xmu**2).sum(axis=axes, keepdims=True) / M
    std = np.sqrt(var + eps)
    x_hat = xmu / std
    dx_hat = dout * g
    dstd = -(dx_hat * xmu).sum(axis=axes, keepdims=True) / std**2
    dvar = dstd / (2 * std)
    dxmu = dx_hat / std + 2 * xmu * dvar / M
    dx = dxmu - dxmu.sum(axis=axes, keepdims=True) / M
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def bn_setdefault(x, gamma, beta, bn_param):
    """Week 2's style: the defaults written into bn_param with setdefault, axis=(0, 2, 3) with keepdims, float32 kept."""
    C = x.shape[1]
    eps = bn_param.setdefault("eps", 1e-5)
    m = bn_param.setdefault("momentum", 0.9)
    rm = bn_param.setdefault("running_mean", np.zeros(C, dtype=x.dtype))
    rv = bn_param.setdefault("running_var", np.ones(C, dtype=x.dtype))
    if bn_param["mode"] == "train":
        mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        bn_param["running_mean"] = m * rm + (1 - m) * mu
        bn_param["running_var"] = m * rv + (1 - m) * var
    else:
        mu, var = rm, rv
    inv = 1 / np.sqrt(var.astype(x.dtype) + eps)
    x_hat = (x - mu.astype(x.dtype)[None, :, None, None]) * inv[None, :, None, None]
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None], {"x_hat": x_hat, "gamma": gamma, "inv": inv}


def bn_setdefault_backward(dout, cache):
    x_hat, gamma, inv = cache["x_hat"], cache["gamma"], cache["inv"]
    M = dout.size // dout.shape[1]
    dbeta, dgamma = dout.sum(axis=(0, 2, 3)), (dout * x_hat).sum(axis=(0, 2, 3))
    dx = (gamma * inv)[None, :, None, None] * (dout - dbeta[None, :, None, None] / M
                                               - x_hat * dgamma[None, :, None, None] / M)
    return dx, dgamma, dbeta


# ---- wrong variants: each one plausible mistake, written as a student would ---------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def _bn(x, gamma, beta, bn_param, *, axes=(0, 2, 3), ddof=0, eps_outside=False, affine=True, swapped=False,
        running_ddof=0, store=True, test_batch=False, test_updates=False):
    """axis=(0, 2, 3)-style forward with one piece changed."""
    C = x.shape[1]
    eps, m, rm, rv = _settings(bn_param, C)
    train = bn_param["mode"] == "train"
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True, ddof=ddof)
    if train or test_updates:
        var_run = x.var(axis=axes, ddof=running_ddof) if running_ddof else var.squeeze(axis=axes)
        new = ((1 - m) * rm + m * mu.squeeze(axis=axes), (1 - m) * rv + m * var_run) if swapped else \
            (m * rm + (1 - m) * mu.squeeze(axis=axes), m * rv + (1 - m) * var_run)
        if store:
            bn_param["running_mean"], bn_param["running_var"] = new
    if not train and not test_batch:
        mu, var = rm[None, :, None, None], rv[None, :, None, None]
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    x_hat = (x - mu) / std
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None] if affine else x_hat
    return out, (x_hat, gamma, std)


def bn_per_position(x, gamma, beta, bn_param):
    """Week 2's layer on x.reshape(N, -1), with gamma and beta spread over the positions of their channel."""
    N, C, H, W = x.shape
    param = dict(bn_param, running_mean=bn_param.get("running_mean", np.zeros(C))[:, None, None] * np.ones((C, H, W)),
                 running_var=bn_param.get("running_var", np.ones(C))[:, None, None] * np.ones((C, H, W)))
    out, cache = bn_channels_last(x.reshape(N, -1)[:, :, None, None], np.repeat(gamma, H * W),
                                  np.repeat(beta, H * W), {k: v.ravel() if isinstance(v, np.ndarray) else v
                                                            for k, v in param.items()})
    return out.reshape(x.shape), cache


def bn_per_image(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, axes=(2, 3))


def bn_no_transpose(x, gamma, beta, bn_param):
    rows = x.reshape(-1, x.shape[1])
    out, cache = bn_channels_last(rows[:, :, None, None], gamma, beta, bn_param)
    return out.reshape(x.shape), cache


def bn_ddof1(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, ddof=1, running_ddof=1)


def bn_eps_outside(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, eps_outside=True)


def bn_no_affine(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, affine=False)


def bn_momentum_swapped(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, swapped=True)


def bn_unbiased_running(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, running_ddof=1)


def bn_not_stored(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, store=False)


def bn_updates_a_copy(x, gamma, beta, bn_param):
    """Writes the running averages into a copy of bn_param (with the defaults filled in the original)."""
    bn_param.setdefault("running_mean", np.zeros(x.shape[1]))
    bn_param.setdefault("running_var", np.ones(x.shape[1]))
    return _bn(x, gamma, beta, dict(bn_param))


def bn_test_batch_stats(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, test_batch=True)


def bn_test_updates(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param, test_updates=True)


def bn_out_only(x, gamma, beta, bn_param):
    return _bn(x, gamma, beta, bn_param)[0]


def bn_in_place(x, gamma, beta, bn_param):
    x -= x.mean(axis=(0, 2, 3), keepdims=True)
    return _bn(x, gamma, beta, bn_param)


def bn_float16(x, gamma, beta, bn_param):
    return bn_channels_last(x.astype(np.float16), gamma.astype(np.float16), beta.astype(np.float16), bn_param)


def _backward(dout, cache, *, mean_term=True, var_term=True, use_gamma=True, axes=(0, 2, 3), count_n=False,
              dgamma_xhat=True, param_axes=(0, 2, 3), dbeta_mean=False):
    x_hat, gamma, std = cache
    M = dout.shape[0] if count_n else math.prod(dout.shape[a] for a in axes)
    dx_hat = dout * gamma[None, :, None, None] if use_gamma else dout
    dx = dx_hat.copy()
    if mean_term:
        dx = dx - dx_hat.sum(axis=axes, keepdims=True) / M
    if var_term:
        dx = dx - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True) / M
    dgamma = (dout * x_hat if dgamma_xhat else dout).sum(axis=param_axes)
    dbeta = dout.mean(axis=param_axes) if dbeta_mean else dout.sum(axis=param_axes)
    return dx / std, dgamma, dbeta


def bn_backward(dout, cache):
    return _backward(dout, cache)


def bn_backward_no_mean(dout, cache):
    return _backward(dout, cache, mean_term=False)


def bn_backward_no_var(dout, cache):
    return _backward(dout, cache, var_term=False)


def bn_backward_no_gamma(dout, cache):
    return _backward(dout, cache, use_gamma=False)


def bn_backward_batch_axis(dout, cache):
    return _backward(dout, cache, axes=(0,))


def bn_backward_count_n(dout, cache):
    return _backward(dout, cache, count_n=True)


def bn_backward_dgamma_sum(dout, cache):
    return _backward(dout, cache, dgamma_xhat=False)


def bn_backward_batch_sums(dout, cache):
    return _backward(dout, cache, param_axes=(0,))


def bn_backward_dbeta_mean(dout, cache):
    return _backward(dout, cache, dbeta_mean=True)


def bn_backward_dx_only(dout, cache):
    return _backward(dout, cache)[0]


def bn_backward_in_place(dout, cache):
    dout *= cache[1][None, :, None, None]
    return _backward(dout / cache[1][None, :, None, None], cache)


# ---- the hidden cases --------------------------------------------------------------------------------------------

FORWARDS = [bn_channels_last, bn_loops, bn_setdefault, ref.spatial_batchnorm_forward, _bn]
BACKWARDS = [Together(bn_channels_last_backward, bn_channels_last), Together(bn_graph_backward, bn_loops),
             Together(bn_setdefault_backward, bn_setdefault), Together(bn_backward, _bn),
             Together(ref.spatial_batchnorm_backward, ref.spatial_batchnorm_forward)]
CORRECT = {"w04_spatial_batchnorm_forward": FORWARDS, "w04_spatial_batchnorm_test_mode": FORWARDS,
           "w04_spatial_batchnorm_backward": BACKWARDS, "w04_spatial_batchnorm_param_grads": BACKWARDS}

WRONG = [
    ("w04_spatial_batchnorm_forward", stub, "is not implemented yet"),
    ("w04_spatial_batchnorm_forward", bn_per_position, "statistics are per position"),
    ("w04_spatial_batchnorm_forward", bn_no_transpose, "without moving the channels last"),
    ("w04_spatial_batchnorm_forward", bn_per_image, "per image and channel"),
    ("w04_spatial_batchnorm_forward", bn_ddof1, r"sample variance \(ddof=1\)"),
    ("w04_spatial_batchnorm_forward", bn_eps_outside, "outside the square root"),
    ("w04_spatial_batchnorm_forward", bn_no_affine, "x_hat alone"),
    ("w04_spatial_batchnorm_forward", bn_momentum_swapped, "momentum on the wrong side"),
    ("w04_spatial_batchnorm_forward", bn_unbiased_running, "as PyTorch keeps it"),
    ("w04_spatial_batchnorm_forward", bn_not_stored, "bn_param has no 'running_mean'"),
    ("w04_spatial_batchnorm_forward", bn_updates_a_copy, "did not change in training"),
    ("w04_spatial_batchnorm_forward", bn_out_only, r"must return the pair \(out, cache\)"),
    ("w04_spatial_batchnorm_forward", bn_in_place, "changed its input `x` in place"),
    ("w04_spatial_batchnorm_forward", bn_float16, "values are wrong; max relative error"),
    ("w04_spatial_batchnorm_test_mode", stub, "is not implemented yet"),
    ("w04_spatial_batchnorm_test_mode", bn_test_batch_stats, "batch's statistics"),
    ("w04_spatial_batchnorm_test_mode", bn_test_updates, "test-mode call changed the running averages"),
    ("w04_spatial_batchnorm_test_mode", bn_momentum_swapped, "momentum on the wrong side"),
    ("w04_spatial_batchnorm_backward", Together(stub, _bn), "spatial_batchnorm_backward is not implemented yet"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward, stub), "forward, which is not implemented yet"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward, bn_eps_outside), "fix the forward first.*outside the"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_no_mean, _bn), "missing the mean term"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_no_var, _bn), "missing the variance term"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_no_gamma, _bn), "ignores gamma"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_batch_axis, _bn), "over the batch axis only"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_count_n, _bn), "divide by N where"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_dx_only, _bn), r"must return a tuple \(dx, dgamma"),
    ("w04_spatial_batchnorm_backward", Together(bn_backward_in_place, _bn), "changed its input `dout`"),
    ("w04_spatial_batchnorm_param_grads", Together(bn_backward_dgamma_sum, _bn), "dgamma is the sum of dout"),
    ("w04_spatial_batchnorm_param_grads", Together(bn_backward_batch_sums, _bn), "summed over the batch only"),
    ("w04_spatial_batchnorm_param_grads", Together(bn_backward_dbeta_mean, _bn), "dbeta is the mean of dout"),
    ("w04_spatial_batchnorm_param_grads", Together(stub, _bn), "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w04_batchnorm", CORRECT, WRONG)


def test_a_wrong_backward_passes_the_other_part():
    """Partial credit: a dx without its mean term still earns the dgamma/dbeta point, and a wrong dbeta the dx points."""
    from autograder.protocol import run_case

    run_case("w04_spatial_batchnorm_param_grads", bn_backward_no_mean, _bn)
    run_case("w04_spatial_batchnorm_backward", bn_backward_dbeta_mean, _bn)


# ---- the references -----------------------------------------------------------------------------------------------

SHAPES = [(1, 1, 1, 2), (2, 3, 4, 5), (1, 2, 3, 4), (5, 1, 2, 3), (6, 4, 1, 1), (3, 2, 7, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_against_loops(shape):
    rng = np.random.default_rng(1)
    x, gamma, beta = ref.make_batch(rng, shape)
    for given in (False, True):
        mine = ref.given_param(rng, shape[1]) if given else {"mode": "train"}
        theirs = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in mine.items()}
        out, _ = ref.spatial_batchnorm_forward(x, gamma, beta, mine)
        np.testing.assert_allclose(out, bn_loops(x, gamma, beta, theirs)[0], rtol=1e-12, atol=1e-12)
        for key in ("running_mean", "running_var"):
            np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-13)
        mine["mode"] = theirs["mode"] = "test"
        np.testing.assert_allclose(ref.spatial_batchnorm_forward(x, gamma, beta, mine)[0],
                                   bn_loops(x, gamma, beta, theirs)[0], rtol=1e-12, atol=1e-12)


def _jax_bn(jnp, x, gamma, beta, mu=None, var=None, eps=1e-5):
    if mu is None:
        mu = jnp.mean(x, axis=(0, 2, 3), keepdims=True)
        var = jnp.mean((x - mu) ** 2, axis=(0, 2, 3), keepdims=True)
    else:
        mu, var = mu[None, :, None, None], var[None, :, None, None]
    return gamma[None, :, None, None] * (x - mu) / jnp.sqrt(var + eps) + beta[None, :, None, None]


@pytest.mark.parametrize("shape", SHAPES + [(8, 5, 6, 7)], ids=str)
@pytest.mark.parametrize("mode", ["train", "test"])
def test_reference_against_jax_vjp(shape, mode):
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(sum(shape))
    x, gamma, beta = ref.make_batch(rng, shape)
    dout = rng.normal(size=shape)
    param = ref.given_param(rng, shape[1]) | {"mode": mode, "eps": 1e-5}
    stats = (None, None) if mode == "train" else (param["running_mean"], param["running_var"])
    out, vjp = jax.vjp(lambda a, g, b: _jax_bn(jax.numpy, a, g, b, *stats), x, gamma, beta)
    mine, cache = ref.spatial_batchnorm_forward(x, gamma, beta, dict(param))
    np.testing.assert_allclose(mine, np.asarray(out), rtol=1e-12, atol=1e-12)
    for got, want in zip(ref.spatial_batchnorm_backward(dout, cache), vjp(dout)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-9, atol=1e-11)


def test_reference_backward_against_centred_differences():
    rng = np.random.default_rng(9)
    x, gamma, beta = ref.make_batch(rng, (3, 2, 3, 4))
    dout = rng.normal(size=x.shape)
    _, cache = ref.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for got, numeric in zip(ref.spatial_batchnorm_backward(dout, cache), ref.numeric_grads(x, gamma, beta, dout)):
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)
    forward = lambda a: ref.spatial_batchnorm_forward(a, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    np.testing.assert_allclose(ref.numeric_grads(x, gamma, beta, dout)[0],
                               numerical_gradient_array(forward, x.copy(), dout), rtol=1e-12)


def test_reference_by_hand():
    """One channel of values 1, 3 (mean 2, var 1) and one constant channel (var 0: out = beta); float32 input gives
    float64 output; the running averages start from zeros and ones."""
    x = np.array([[[[1.0]], [[5.0]]], [[[3.0]], [[5.0]]]])  # (2, 2, 1, 1)
    param = {"mode": "train"}
    out, _ = ref.spatial_batchnorm_forward(x.astype(np.float32), np.array([2.0, 1.0]), np.array([0.5, -1.0]), param)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.5 - 2 / math.sqrt(1 + 1e-5), 0.5 + 2 / math.sqrt(1 + 1e-5)])
    np.testing.assert_array_equal(out[:, 1, 0, 0], [-1.0, -1.0])
    np.testing.assert_allclose(param["running_mean"], [0.2, 0.5], rtol=1e-14)
    np.testing.assert_allclose(param["running_var"], [1.0, 0.9], rtol=1e-14)


def test_mistakes_differ_from_the_reference_on_the_cases():
    """Every named mistake can be told from the right answer on at least one hidden batch."""
    named = set()
    for case in ("w04_spatial_batchnorm_forward", "w04_spatial_batchnorm_test_mode"):
        inputs, _ = get_case(case).build()
        for run in inputs["runs"]:
            param = dict(run["bn_param"])
            for x, gamma, beta, mode in run["calls"]:
                before = dict(param, mode=mode)
                param = dict(before)
                right, _ = ref.spatial_batchnorm_forward(x, gamma, beta, param)
                wrong = (ref.forward_mistakes if mode == "train" else ref.inference_mistakes)(x, gamma, beta, before)
                for key, outputs in wrong.items():
                    want = right if key == "out" else param[key]
                    named |= {n for n, o in outputs.items() if o.shape != want.shape or not np.allclose(o, want)}
    assert named == set(ref.FORWARD_MISTAKES) | set(ref.TEST_MODE_MISTAKES)
    named = set()
    inputs, _ = get_case("w04_spatial_batchnorm_backward").build()
    for run in inputs["runs"]:
        x, gamma, beta, _ = run["calls"][0]
        right = dict(zip(("dx", "dgamma", "dbeta"), ref.spatial_batchnorm_backward(
            run["dout"], ref.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[1])))
        for part, outputs in ref.backward_mistakes(x, gamma, beta, run["dout"]).items():
            named |= {n for n, o in outputs.items() if o.shape != right[part].shape or not np.allclose(o, right[part])}
    assert named == set(ref.BACKWARD_MISTAKES)


def test_fixtures_are_up_to_date():
    for name, arrays in ref.fixtures().items():
        with np.load(FIXTURE_DIR / f"{name}.npz", allow_pickle=False) as stored:
            assert set(stored.files) == set(arrays), name
            for key, value in arrays.items():
                np.testing.assert_array_equal(stored[key], value, err_msg=f"{name}[{key}]")


# ---- visible checks -----------------------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.spatial_batchnorm_forward, fn) for fn in (bn_channels_last, bn_loops, bn_setdefault, _bn)]
VISIBLE_CORRECT += [(visible.spatial_batchnorm_backward, fns) for fns in BACKWARDS[:4]]
VISIBLE_WRONG = [
    (visible.spatial_batchnorm_forward, stub, "not implemented yet"),
    (visible.spatial_batchnorm_forward, bn_per_position, "per position"),
    (visible.spatial_batchnorm_forward, bn_no_transpose, "without moving the channels last"),
    (visible.spatial_batchnorm_forward, bn_per_image, "per image and channel"),
    (visible.spatial_batchnorm_forward, bn_ddof1, "sample variance"),
    (visible.spatial_batchnorm_forward, bn_eps_outside, "outside the square root"),
    (visible.spatial_batchnorm_forward, bn_momentum_swapped, "wrong side"),
    (visible.spatial_batchnorm_forward, bn_unbiased_running, "as PyTorch keeps it"),
    (visible.spatial_batchnorm_forward, bn_updates_a_copy, "did not change in training"),
    (visible.spatial_batchnorm_forward, bn_test_batch_stats, "batch's statistics"),
    (visible.spatial_batchnorm_forward, bn_in_place, "changed its input `x`"),
    (visible.spatial_batchnorm_forward, bn_out_only, r"must return a tuple \(out, cache\)"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_no_mean, _bn), "mean term"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_no_var, _bn), "variance term"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_batch_axis, _bn), "batch axis only"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_count_n, _bn), "divide by N"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_batch_sums, _bn), "summed over the batch only"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_dbeta_mean, _bn), "mean of dout"),
    (visible.spatial_batchnorm_backward, Together(bn_backward_in_place, _bn), "changed its input `dout`"),
    (visible.spatial_batchnorm_backward, Together(stub, _bn), "not implemented yet"),
    (visible.spatial_batchnorm_backward, Together(bn_backward, stub), "not implemented yet"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
