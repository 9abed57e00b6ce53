"""Week 4, the residual block (residual_block_forward/backward): correct variants pass every hidden case, the known
mistakes fail with their diagnosis, the visible checks say the same, and the reference agrees with centred
differences and JAX."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w04_residual as ref
from autograder.cases.conv_reference import conv_backward_naive, conv_forward_naive
from autograder.fixtures import FIXTURE_DIR
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import get_case, run_case
from dlfs.checks import week04 as visible
from dlfs.checks.w04_residual import PARAM_KEYS

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week04, pytest.mark.w04_residual, pytest.mark.autograder]


# ---- layers of the correct variants (written here, independent of the references) ----------------------------


def conv_einsum(x, w, b):
    """3x3 convolution, stride 1, pad 1, by one einsum over the strided windows; keeps float32."""
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    return np.einsum("nchwuv,fcuv->nfhw", windows, w) + b[:, None, None], (x, w)


def conv_einsum_backward(dout, cache):
    x, w = cache
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    dw = np.einsum("nchwuv,nfhw->fcuv", windows, dout)
    # dx: the full correlation of dout with the flipped kernel (stride 1, pad 1 -> pad 1 again)
    padded = sliding_window_view(np.pad(dout, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    dx = np.einsum("nfhwuv,fcuv->nchw", padded, w[:, :, ::-1, ::-1])
    return dx, dw, dout.sum(axis=(0, 2, 3))


def bn(x, gamma, beta, bn_param, *, swapped=False):
    """Spatial batch normalisation over axis=(0, 2, 3), float32 kept; the cache for :func:`bn_backward`."""
    C = x.shape[1]
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm, rv = bn_param.get("running_mean", np.zeros(C)), bn_param.get("running_var", np.ones(C))
    if bn_param["mode"] == "train":
        mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        keep, new = (1 - m, m) if swapped else (m, 1 - m)
        bn_param["running_mean"], bn_param["running_var"] = keep * rm + new * mu, keep * rv + new * var
    else:
        mu, var = rm.astype(x.dtype), rv.astype(x.dtype)
    std = np.sqrt(var + eps)
    x_hat = (x - mu[:, None, None]) / std[:, None, None]
    return gamma[:, None, None] * x_hat + beta[:, None, None], (x_hat, gamma, std)


def bn_backward(dout, cache, *, mean_term=True, var_term=True):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma[:, None, None]
    dx = dx_hat
    if mean_term:
        dx = dx - dx_hat.mean(axis=(0, 2, 3), keepdims=True)
    if var_term:
        dx = dx - x_hat * (dx_hat * x_hat).mean(axis=(0, 2, 3), keepdims=True)
    return dx / std[:, None, None], (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def block(x, params, bn_params, *, variant="", conv=conv_einsum):
    """The block as a student writes it, with one piece changed by ``variant``; the cache is a dict."""
    p = params
    a1, c1 = conv(x, p["w1"], p["b1"])
    pre = np.maximum(a1, 0) if variant == "relu_before_bn" else a1
    param1 = dict(bn_params[0]) if variant == "copies" else bn_params[0]
    param2 = dict(bn_params[1]) if variant == "copies" else bn_params[0 if variant == "one_bn_param" else 1]
    if variant == "always_train":
        param1, param2 = {"mode": "train"}, {"mode": "train"}
    s1, b1 = bn(pre, p["gamma1"], p["beta1"], param1, swapped=variant == "swapped")
    h = s1 if variant in ("no_inner_relu", "relu_before_bn") else np.maximum(s1, 0)
    a2, c2 = conv(h, p["w2"], p["b2"])
    s2, b2 = bn(a2, p["gamma2"], p["beta2"], param2, swapped=variant == "swapped")
    z = x + s2
    out = {"no_skip": np.maximum(s2, 0), "branch_relu": x + np.maximum(s2, 0), "no_final_relu": z}.get(
        variant, np.maximum(z, 0))
    if variant == "scales_w1":
        p["w1"] *= 1.0 + 1e-3
    return out, {"c1": c1, "b1": b1, "a1": a1, "s1": s1, "c2": c2, "b2": b2, "z": z}


def block_backward(dout, cache, *, variant="", conv_backward=conv_einsum_backward):
    c = cache
    terms = {"mean_term": variant != "bn_no_mean", "var_term": variant != "bn_no_var"}
    dz = dout if variant == "no_final_mask" else dout * (c["z"] > 0)
    da2, dgamma2, dbeta2 = bn_backward(dz, c["b2"], **terms)
    dh, dw2, db2 = conv_backward(da2, c["c2"])
    mask = {"pre_bn_mask": c["a1"] > 0, "no_inner_mask": 1.0}.get(variant, c["s1"] > 0)
    da1, dgamma1, dbeta1 = bn_backward(dh * mask, c["b1"], **terms)
    dx, dw1, db1 = conv_backward(da1, c["c1"])
    skip = {"no_identity": 0.0, "identity_unmasked": dout}.get(variant, dz)
    grads = {"w1": dw1, "b1": db1, "gamma1": dgamma1, "beta1": dbeta1, "w2": dw2, "b2": db2, "gamma2": dgamma2,
             "beta2": dbeta2}
    if variant == "swapped_halves":
        grads = {k: grads[k[:-1] + {"1": "2", "2": "1"}[k[-1]]] for k in grads}
    if variant == "d_keys":
        grads = {"d" + k: v for k, v in grads.items()}
    if variant == "in_place":
        dout *= c["z"] > 0
    return dx + skip, grads


def residual_einsum(x, params, bn_params):
    return block(x, params, bn_params)


def residual_einsum_backward(dout, cache):
    return block_backward(dout, cache)


def _naive(x, w, b):
    return conv_forward_naive(x, w, b, 1, 1)


def residual_naive_conv(x, params, bn_params):
    """The loops of conv_reference's naive convolution inside (float32 kept, as the naive one keeps it)."""
    return block(x, params, bn_params, conv=_naive)


def residual_naive_conv_backward(dout, cache):
    return block_backward(dout, cache, conv_backward=conv_backward_naive)


def residual_float64(x, params, bn_params):
    """Everything cast to float64 first (float32 in, float64 out)."""
    return block(x.astype(np.float64), {k: v.astype(np.float64) for k, v in params.items()}, bn_params)


def residual_recompute(x, params, bn_params):
    """A cache of the inputs only: the backward recomputes the forward, with the statistics of this batch."""
    out, _ = block(x, params, bn_params)
    return out, (x.copy(), {k: v.copy() for k, v in params.items()})


def residual_recompute_backward(dout, cache):
    x, params = cache
    _, full = block(x, params, [{"mode": "train"}, {"mode": "train"}])
    return block_backward(dout, full)


# ---- wrong variants --------------------------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def _forward_variant(name):
    def forward(x, params, bn_params):
        return block(x, params, bn_params, variant=name)
    forward.__name__ = f"residual_{name}"
    return forward


def _backward_variant(name):
    def backward(dout, cache):
        return block_backward(dout, cache, variant=name)
    backward.__name__ = f"residual_backward_{name}"
    return backward


def residual_out_only(x, params, bn_params):
    return block(x, params, bn_params)[0]


def residual_backward_dx_only(dout, cache):
    return block_backward(dout, cache)[0]


F = {name: _forward_variant(name) for name in ("no_skip", "branch_relu", "no_final_relu", "no_inner_relu",
                                               "relu_before_bn", "one_bn_param", "copies", "always_train", "swapped",
                                               "scales_w1")}
B = {name: _backward_variant(name) for name in ("no_identity", "identity_unmasked", "no_final_mask", "pre_bn_mask",
                                                "no_inner_mask", "bn_no_mean", "bn_no_var", "swapped_halves",
                                                "d_keys", "in_place")}


# ---- the hidden cases -----------------------------------------------------------------------------------------

FORWARDS = [residual_einsum, residual_naive_conv, residual_float64, residual_recompute, ref.residual_block_forward]
BACKWARDS = [Together(residual_einsum_backward, residual_einsum),
             Together(residual_naive_conv_backward, residual_naive_conv),
             Together(residual_einsum_backward, residual_float64),
             Together(residual_recompute_backward, residual_recompute),
             Together(ref.residual_block_backward, ref.residual_block_forward)]
CORRECT = {"w04_residual_block_forward": FORWARDS, "w04_residual_block_test_mode": FORWARDS,
           "w04_residual_block_backward": BACKWARDS, "w04_residual_block_param_grads": BACKWARDS}


def _with(backward):
    return Together(backward, residual_einsum)


WRONG = [
    ("w04_residual_block_forward", stub, "is not implemented yet"),
    ("w04_residual_block_forward", F["no_skip"], "no skip connection"),
    ("w04_residual_block_forward", F["branch_relu"], "add x after the final ReLU"),
    ("w04_residual_block_forward", F["no_final_relu"], "no final ReLU"),
    ("w04_residual_block_forward", F["no_inner_relu"], "your h has no ReLU"),
    ("w04_residual_block_forward", F["relu_before_bn"], "ReLU before the batch normalisation"),
    ("w04_residual_block_forward", F["one_bn_param"], r"both batch normalisations update bn_params\[0\]"),
    ("w04_residual_block_forward", F["copies"], "not copies"),
    ("w04_residual_block_forward", F["always_train"], "not copies"),
    ("w04_residual_block_forward", F["swapped"], "in one of the batch normalisations, your running averages have the "
                                                 "momentum on the wrong side"),
    ("w04_residual_block_forward", F["scales_w1"], r"changed its input `params\['w1'\]` in place"),
    ("w04_residual_block_forward", residual_out_only, r"must return the pair \(out, cache\)"),
    ("w04_residual_block_test_mode", F["always_train"], "batch's statistics"),
    ("w04_residual_block_test_mode", F["branch_relu"], "add x after the final ReLU"),
    ("w04_residual_block_test_mode", stub, "not implemented yet"),
    ("w04_residual_block_backward", _with(stub), "residual_block_backward is not implemented yet"),
    ("w04_residual_block_backward", Together(residual_einsum_backward, stub), "forward, which is not implemented yet"),
    ("w04_residual_block_backward", Together(residual_einsum_backward, F["no_final_relu"]),
     "fix the forward first.*no final ReLU"),
    ("w04_residual_block_backward", _with(B["no_identity"]), "gradients flow through the skip connection"),
    ("w04_residual_block_backward", _with(B["identity_unmasked"]), "skips the final ReLU's mask"),
    ("w04_residual_block_backward", _with(B["no_final_mask"]), "ignores the final ReLU"),
    ("w04_residual_block_backward", _with(B["pre_bn_mask"]), "mask of h is taken before bn1"),
    ("w04_residual_block_backward", _with(B["no_inner_mask"]), "skips the ReLU of h"),
    ("w04_residual_block_backward", _with(B["bn_no_mean"]), "missing the mean term"),
    ("w04_residual_block_backward", _with(B["bn_no_var"]), "missing the variance term"),
    ("w04_residual_block_backward", _with(B["in_place"]), "changed its input `dout`"),
    ("w04_residual_block_backward", _with(residual_backward_dx_only), r"must return a tuple \(dx, grads\)"),
    ("w04_residual_block_param_grads", _with(B["swapped_halves"]), "grads of the two halves are swapped"),
    ("w04_residual_block_param_grads", _with(B["no_final_mask"]), "ignores the final ReLU"),
    ("w04_residual_block_param_grads", _with(B["pre_bn_mask"]), "mask of h is taken before bn1"),
    ("w04_residual_block_param_grads", _with(B["bn_no_mean"]), "missing the mean term"),
    ("w04_residual_block_param_grads", _with(B["d_keys"]), "grads must be a dict with the keys of params"),
    ("w04_residual_block_param_grads", _with(stub), "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w04_residual", CORRECT, WRONG)


def test_partial_credit_between_dx_and_the_parameters():
    """A dx without the identity still earns the parameter points; swapped parameter grads still earn the dx points."""
    run_case("w04_residual_block_param_grads", B["no_identity"], residual_einsum)
    run_case("w04_residual_block_backward", B["swapped_halves"], residual_einsum)


# ---- the reference -----------------------------------------------------------------------------------------------

SHAPES = [(1, 1, 3, 3), (2, 3, 5, 4), (1, 4, 6, 6), (3, 2, 4, 7)]


def _jax_block(jax, x, params):
    jnp = jax.numpy

    def conv(a, w, b):
        out = jax.lax.conv_general_dilated(a, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def norm(a, gamma, beta):
        mu = jnp.mean(a, axis=(0, 2, 3), keepdims=True)
        var = jnp.mean((a - mu) ** 2, axis=(0, 2, 3), keepdims=True)
        return gamma[None, :, None, None] * (a - mu) / jnp.sqrt(var + 1e-5) + beta[None, :, None, None], mu, var

    s1, mu1, var1 = norm(conv(x, params["w1"], params["b1"]), params["gamma1"], params["beta1"])
    s2, mu2, var2 = norm(conv(jnp.maximum(s1, 0), params["w2"], params["b2"]), params["gamma2"], params["beta2"])
    return jnp.maximum(x + s2, 0), (mu1, var1, mu2, var2)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_against_jax_vjp(shape):
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(sum(shape))
    x, params = ref.make_block(rng, shape)
    dout = rng.normal(size=shape)
    out, stats = _jax_block(jax, x, params)
    _, vjp = jax.vjp(lambda a, p: _jax_block(jax, a, p)[0], x, params)
    bn_params = [{"mode": "train"}, {"mode": "train"}]
    mine, cache = ref.residual_block_forward(x, params, bn_params)
    np.testing.assert_allclose(mine, np.asarray(out), rtol=1e-11, atol=1e-11)
    for k, (mu, var) in enumerate([stats[:2], stats[2:]]):
        np.testing.assert_allclose(bn_params[k]["running_mean"], 0.1 * np.asarray(mu).ravel(), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(bn_params[k]["running_var"], 0.9 + 0.1 * np.asarray(var).ravel(), rtol=1e-11)
    dx, grads = ref.residual_block_backward(dout, cache)
    want_dx, want = vjp(dout)
    np.testing.assert_allclose(dx, np.asarray(want_dx), rtol=1e-9, atol=1e-11)
    for key in PARAM_KEYS:
        np.testing.assert_allclose(grads[key], np.asarray(want[key]), rtol=1e-9, atol=1e-11, err_msg=key)


def test_reference_test_mode_against_jax():
    """In test mode each batch normalisation is the affine map of its running statistics."""
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    x, params = ref.make_block(rng, (2, 3, 4, 5))
    bn_params = [dict(p, mode="test") for p in ref.given_bn_params(rng, 3)]

    def conv(a, w, b):
        return jax.lax.conv_general_dilated(a, w, (1, 1), [(1, 1), (1, 1)],
                                            dimension_numbers=("NCHW", "OIHW", "NCHW")) + b[None, :, None, None]

    def norm(a, n, k):
        p = bn_params[k]
        scale = params["gamma" + n] / jnp.sqrt(p["running_var"] + p["eps"])
        return (a - p["running_mean"][None, :, None, None]) * scale[None, :, None, None] \
            + params["beta" + n][None, :, None, None]

    h = jnp.maximum(norm(conv(x, params["w1"], params["b1"]), "1", 0), 0)
    want = jnp.maximum(x + norm(conv(h, params["w2"], params["b2"]), "2", 1), 0)
    before = [dict(p) for p in bn_params]
    got, _ = ref.residual_block_forward(x, params, bn_params)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-11, atol=1e-12)
    for old, new in zip(before, bn_params):
        np.testing.assert_array_equal(old["running_mean"], new["running_mean"])


def test_reference_backward_against_centred_differences():
    rng = np.random.default_rng(11)
    x, params = ref.make_block(rng, (2, 2, 3, 4))
    dout = rng.normal(size=x.shape)
    _, cache = ref.residual_block_forward(x, params, [{"mode": "train"}, {"mode": "train"}])
    dx, grads = ref.residual_block_backward(dout, cache)
    numeric = ref.numeric_grads(x, params, dout, ("dx", *PARAM_KEYS))
    np.testing.assert_allclose(dx, numeric["dx"], rtol=1e-6, atol=1e-8)
    for key in PARAM_KEYS:
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-6, atol=1e-8, err_msg=key)
    forward = lambda a: ref.residual_block_forward(a, params, [{"mode": "train"}, {"mode": "train"}])[0]  # noqa: E731
    np.testing.assert_allclose(numeric["dx"], numerical_gradient_array(forward, x.copy(), dout), rtol=1e-12)


def test_the_conv_biases_get_no_gradient_in_training():
    rng = np.random.default_rng(12)
    x, params = ref.make_block(rng, (3, 4, 5, 5))
    _, cache = ref.residual_block_forward(x, params, [{"mode": "train"}, {"mode": "train"}])
    _, grads = ref.residual_block_backward(rng.normal(size=x.shape), cache)
    assert np.abs(grads["b1"]).max() < 1e-12 and np.abs(grads["b2"]).max() < 1e-12


def test_mistakes_differ_from_the_reference_on_the_cases():
    """Every named mistake can be told from the right answer on at least one hidden block."""
    named = set()
    for case in ("w04_residual_block_forward", "w04_residual_block_test_mode"):
        inputs, _ = get_case(case).build()
        for run in inputs["runs"]:
            state = ref._fresh(run["bn_params"])
            for x, mode in run["calls"]:
                before = [dict(p, mode=mode) for p in state]
                state = ref._fresh(before)
                right, _ = ref.residual_block_forward(x, run["params"], state)
                wrong = ref.forward_mistakes(x, run["params"], before)
                named |= {n for n, o in wrong["out"].items() if not np.allclose(o, right)}
                for k in range(2):
                    for key, outputs in wrong["running"][k].items():
                        named |= {n for n, o in outputs.items()
                                  if o.shape != state[k][key].shape or not np.allclose(o, state[k][key])}
    assert named == set(ref.FORWARD_MISTAKES) | set(ref.TEST_MODE_MISTAKES)
    named = set()
    inputs, _ = get_case("w04_residual_block_backward").build()
    for run in inputs["runs"]:
        x, _ = run["calls"][0]
        _, cache = ref.residual_block_forward(x, run["params"], ref._fresh(run["bn_params"]))
        dx, grads = ref.residual_block_backward(run["dout"], cache)
        grads["dx"] = dx
        for part, outputs in ref.backward_mistakes(x, run["params"], run["bn_params"], run["dout"]).items():
            named |= {n for n, o in outputs.items() if not np.allclose(o, grads[part])}
    assert named == set(ref.BACKWARD_MISTAKES)


def test_fixtures_are_up_to_date():
    for name, arrays in ref.fixtures().items():
        with np.load(FIXTURE_DIR / f"{name}.npz", allow_pickle=False) as stored:
            assert set(stored.files) == set(arrays), name
            for key, value in arrays.items():
                np.testing.assert_array_equal(stored[key], value, err_msg=f"{name}[{key}]")


# ---- visible checks ----------------------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.residual_block_forward, fn) for fn in FORWARDS[:4]]
VISIBLE_CORRECT += [(visible.residual_block_backward, fns) for fns in BACKWARDS[:4]]
VISIBLE_WRONG = [
    (visible.residual_block_forward, stub, "not implemented yet"),
    (visible.residual_block_forward, F["no_skip"], "no skip connection"),
    (visible.residual_block_forward, F["branch_relu"], "add x after the final ReLU"),
    (visible.residual_block_forward, F["no_final_relu"], "no final ReLU"),
    (visible.residual_block_forward, F["relu_before_bn"], "ReLU before the batch normalisation"),
    (visible.residual_block_forward, F["one_bn_param"], r"update bn_params\[0\]"),
    (visible.residual_block_forward, F["copies"], "not copies"),
    (visible.residual_block_forward, F["swapped"], "momentum on the wrong side"),
    (visible.residual_block_forward, F["scales_w1"], r"changed its input `params\['w1'\]`"),
    (visible.residual_block_backward, _with(B["no_identity"]), "gradients flow through the skip connection"),
    (visible.residual_block_backward, _with(B["identity_unmasked"]), "skips the final ReLU's mask"),
    (visible.residual_block_backward, _with(B["pre_bn_mask"]), "before bn1"),
    (visible.residual_block_backward, _with(B["bn_no_mean"]), "mean term"),
    (visible.residual_block_backward, _with(B["swapped_halves"]), "swapped"),
    (visible.residual_block_backward, _with(B["d_keys"]), "keys of params"),
    (visible.residual_block_backward, _with(B["in_place"]), "changed its input `dout`"),
    (visible.residual_block_backward, _with(stub), "not implemented yet"),
    (visible.residual_block_backward, Together(residual_einsum_backward, stub), "not implemented yet"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
