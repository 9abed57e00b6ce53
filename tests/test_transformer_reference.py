"""The shared transformer references (``autograder/cases/transformer_reference.py``) against JAX: every forward
against a JAX implementation written here from the formulas (per-head column slices and loops where the reference
reshapes), every backward against ``jax.vjp`` / ``jax.grad`` of it, positional encodings against the formula written
with ``math``, and the whole pre-LN transformer (1 and 2 layers, 1 and 2 heads) against ``jax.grad``. JAX runs jitted: a few times
faster than its eager mode on these small problems."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.cases import transformer_reference as ref

pytestmark = [pytest.mark.week05, pytest.mark.w05_attention, pytest.mark.autograder]

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"
KEYS = ref.MHA_KEYS


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


def _close(got, want, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def value_and_vjp(jax, fn, args, cotangent):
    """fn(*args) and the vector-Jacobian product of ``cotangent`` with respect to every argument, in one jit."""

    def both(*primals):
        out, vjp = jax.vjp(fn, *primals)
        return out, vjp(cotangent)

    return jax.jit(both)(*args)


# ---- JAX implementations, written from the formulas ----------------------------------------------------------


def jax_attention(jnp, q, k, v, causal):
    scores = jnp.einsum("...td,...sd->...ts", q, k) / math.sqrt(q.shape[-1])
    if causal:
        T, S = scores.shape[-2:]
        visible = jnp.arange(S)[None, :] <= jnp.arange(T)[:, None]
        scores = jnp.where(visible, scores, -jnp.inf)
    return jnp.einsum("...ts,...sv->...tv", jax_softmax(jnp, scores), v)


def jax_softmax(jnp, x):
    """exp(x - logsumexp(x)) along the last axis (not the reference's max shift)."""
    from jax.scipy.special import logsumexp

    return jnp.exp(x - logsumexp(x, axis=-1, keepdims=True))


def jax_mha(jnp, x, params, n_heads, causal):
    """Head i on the columns i*dh:(i+1)*dh, one head at a time, concatenated with jnp.concatenate."""
    dh = x.shape[-1] // n_heads
    q, k, v = (x @ params["W" + n] + params["b" + n] for n in "qkv")
    heads = [
        jax_attention(jnp, q[..., i * dh : (i + 1) * dh], k[..., i * dh : (i + 1) * dh], v[..., i * dh : (i + 1) * dh], causal)
        for i in range(n_heads)
    ]
    return jnp.concatenate(heads, axis=-1) @ params["Wo"] + params["bo"]


def jax_layernorm(jnp, x, gamma, beta, eps=1e-5):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


def positional_table(T, d):
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)), entry by entry with math."""
    table = np.zeros((T, d))
    for t in range(T):
        for j in range(d):
            angle = t / 10000 ** (2 * (j // 2) / d)
            table[t, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table


def jax_transformer(jnp, params, idx, n_heads):
    B, T = idx.shape
    x = params["tok_emb"][idx] + positional_table(T, params["tok_emb"].shape[1])
    layer = 0
    while f"h{layer}.Wq" in params:
        p = {key.split(".", 1)[1]: value for key, value in params.items() if key.startswith(f"h{layer}.")}
        x = x + jax_mha(jnp, jax_layernorm(jnp, x, p["ln1_g"], p["ln1_b"]), p, n_heads, True)
        hidden = jnp.maximum(jax_layernorm(jnp, x, p["ln2_g"], p["ln2_b"]) @ p["W1"] + p["b1"], 0.0)
        x = x + hidden @ p["W2"] + p["b2"]
        layer += 1
    return jax_layernorm(jnp, x, params["lnf_g"], params["lnf_b"]) @ params["W_out"] + params["b_out"]


# ---- softmax and attention -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 4), (5, 3), (2, 3, 6), (2, 2, 4, 4), (4, 1)], ids=str)
def test_softmax_and_its_backward(jax, shape):
    rng = np.random.default_rng(sum(shape))
    x, dp = 3 * rng.normal(size=shape), rng.normal(size=shape)
    p, (dx,) = value_and_vjp(jax, lambda a: jax_softmax(jax.numpy, a), (x,), dp)
    _close(ref.softmax(x), p, rtol=1e-13)
    _close(ref.softmax_backward(dp, ref.softmax(x)), dx)


def test_softmax_is_stable_and_takes_minus_infinity():
    x = np.array([[1000.0, 999.0, -np.inf], [-1000.0, -1001.0, -1002.0]])
    with np.errstate(all="raise"):
        p = ref.softmax(x)
    e = math.exp(-1)
    _close(p[0], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-14)
    _close(p[1], np.array([1, e, e * e]) / (1 + e + e * e), rtol=1e-14)
    np.testing.assert_array_equal(ref.causal_mask(3), [[False, True, True], [False, False, True], [False, False, False]])


ATTENTION_SHAPES = [
    ((1, 3, 4), 5, 2),
    ((2, 4, 3), 4, 3),
    ((2, 3, 5, 4), 6, 3),
    ((2, 2, 4, 4), 4, 5),
    ((3, 1, 4), 1, 2),
    ((2, 1, 6), 7, 5),
]


@pytest.mark.parametrize(("q_shape", "S", "dv"), ATTENTION_SHAPES, ids=str)
@pytest.mark.parametrize("causal", [False, True], ids=["plain", "causal"])
def test_attention_against_jax(jax, q_shape, S, dv, causal):
    if causal and q_shape[-2] != S:
        with pytest.raises(ValueError, match="as many queries as keys"):
            ref.attention_forward(
                np.zeros(q_shape), np.zeros((*q_shape[:-2], S, q_shape[-1])), np.zeros((*q_shape[:-2], S, dv)), causal=True
            )
        return
    rng = np.random.default_rng(len(q_shape) + S + dv)
    q, k, v = rng.normal(size=q_shape), rng.normal(size=(*q_shape[:-2], S, q_shape[-1])), rng.normal(size=(*q_shape[:-2], S, dv))
    dout = rng.normal(size=(*q_shape[:-1], dv))
    out, grads = value_and_vjp(jax, lambda a, b, c: jax_attention(jax.numpy, a, b, c, causal), (q, k, v), dout)
    mine, cache = ref.attention_forward(q, k, v, causal)
    _close(mine, out)
    for got, want in zip(ref.attention_backward(dout, cache), grads):
        _close(got, want, rtol=1e-9, atol=1e-12)


def test_causal_attention_ignores_the_future():
    """Changing the keys and values after position t changes nothing at positions up to t."""
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 3))
    k2, v2 = k.copy(), v.copy()
    k2[:, 4:], v2[:, 4:] = rng.normal(size=(2, 2, 4)), rng.normal(size=(2, 2, 3))
    _close(ref.attention_forward(q, k, v, True)[0][:, :4], ref.attention_forward(q, k2, v2, True)[0][:, :4], rtol=1e-14)


# ---- multi-head attention --------------------------------------------------------------------------------------


def _mha_problem(rng, shape):
    D = shape[-1]
    params = {key: rng.normal(size=(D, D)) / math.sqrt(D) if key[0] == "W" else rng.normal(size=D) for key in KEYS}
    return rng.normal(size=shape), params, rng.normal(size=shape)


@pytest.mark.parametrize(("shape", "n_heads"), [((2, 3, 4), 1), ((1, 5, 6), 2), ((3, 4, 8), 4), ((2, 1, 8), 2)], ids=str)
@pytest.mark.parametrize("causal", [False, True], ids=["plain", "causal"])
def test_multihead_attention_against_jax(jax, shape, n_heads, causal):
    rng = np.random.default_rng(shape[1] * 10 + n_heads)
    x, params, dout = _mha_problem(rng, shape)
    out, (want_dx, want_grads) = value_and_vjp(jax, lambda a, p: jax_mha(jax.numpy, a, p, n_heads, causal), (x, params), dout)
    mine, cache = ref.multihead_attention_forward(x, params, n_heads, causal)
    _close(mine, out)
    dx, grads = ref.multihead_attention_backward(dout, cache)
    _close(dx, want_dx, rtol=1e-9)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    assert list(grads) == list(KEYS)
    for key in KEYS:  # the key bias's gradient is 0 (shift invariance): an absolute tolerance on the scale of all
        _close(grads[key], want_grads[key], rtol=1e-9, atol=1e-12 * scale)
    assert np.max(np.abs(grads["bk"])) < 1e-12 * scale


def test_multihead_attention_refuses_a_width_that_heads_do_not_divide():
    x, params, _ = _mha_problem(np.random.default_rng(0), (1, 2, 6))
    for n_heads in (4, 0):
        with pytest.raises(ValueError, match="multiple of n_heads"):
            ref.multihead_attention_forward(x, params, n_heads)


# ---- layer norm, embeddings, positions ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 6), (1, 1, 3)], ids=str)
def test_layernorm_against_jax(jax, shape):
    rng = np.random.default_rng(sum(shape))
    x, gamma, beta = 2 + 3 * rng.normal(size=shape), rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    dout = rng.normal(size=shape)
    out, grads = value_and_vjp(jax, lambda a, g, b: jax_layernorm(jax.numpy, a, g, b), (x, gamma, beta), dout)
    mine, cache = ref.layernorm_forward(x, gamma, beta)
    _close(mine, out)
    for got, want in zip(ref.layernorm_backward(dout, cache), grads):
        _close(got, want, rtol=1e-9)


@pytest.mark.parametrize("idx_shape", [(7,), (2, 5), (1, 1)], ids=str)
def test_embedding_against_jax(jax, idx_shape):
    rng = np.random.default_rng(len(idx_shape))
    W = rng.normal(size=(4, 3))
    idx = rng.integers(0, 4, size=idx_shape)
    idx.flat[0] = idx.flat[-1]  # a repeated index (when there are two positions)
    dout = rng.normal(size=(*idx_shape, 3))
    out, (dW,) = value_and_vjp(jax, lambda w: w[idx], (W,), dout)
    mine, cache = ref.embedding_forward(idx, W)
    _close(mine, out, rtol=0, atol=0)
    _close(ref.embedding_backward(dout, cache), dW, rtol=1e-14)


@pytest.mark.parametrize(("T", "d"), [(1, 1), (5, 4), (7, 5), (50, 16)], ids=str)
def test_positional_encoding_against_the_formula(T, d):
    _close(ref.positional_encoding(T, d), positional_table(T, d), rtol=1e-12, atol=1e-14)


# ---- the whole transformer -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_layers", "n_heads", "B", "T"), [(1, 1, 2, 5), (1, 2, 1, 4), (2, 2, 2, 5), (2, 1, 1, 1)], ids=lambda v: str(v)
)
def test_transformer_against_jax_grad(jax, n_layers, n_heads, B, T):
    """Random parameters (the init perturbed, so that layer norms and biases matter), every gradient against
    jax.grad of sum(logits * dlogits)."""
    rng = np.random.default_rng(10 * n_layers + n_heads)
    V, D = 7, 8
    params = ref.init_transformer(rng, V, D, n_layers, d_hidden=12)
    params = {key: value + 0.3 * rng.normal(size=value.shape) for key, value in params.items()}
    idx = rng.integers(0, V, size=(B, T))
    dlogits = rng.normal(size=(B, T, V))

    def loss(p):  # sum(logits * dlogits): its gradient is what transformer_backward(dlogits) returns
        logits = jax_transformer(jax.numpy, p, idx, n_heads)
        return (logits * dlogits).sum(), logits

    want, want_logits = jax.jit(jax.grad(loss, has_aux=True))(params)
    logits, cache = ref.transformer_forward(idx, params, n_heads)
    _close(logits, want_logits)
    grads = ref.transformer_backward(dlogits, cache)
    assert set(grads) == set(params)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    for key in params:
        np.testing.assert_allclose(grads[key], np.asarray(want[key]), rtol=1e-8, atol=1e-11 * scale, err_msg=key)


def test_init_transformer_layout():
    params = ref.init_transformer(np.random.default_rng(0), 11, 16, 2)
    assert ref.n_blocks(params) == 2
    expected = {"tok_emb": (11, 16), "lnf_g": (16,), "lnf_b": (16,), "W_out": (16, 11), "b_out": (11,)}
    for layer in range(2):
        expected |= {f"h{layer}.{name}": (16, 16) for name in ("Wq", "Wk", "Wv", "Wo")}
        expected |= {f"h{layer}.{name}": (16,) for name in ("bq", "bk", "bv", "bo", "ln1_g", "ln1_b", "ln2_g", "ln2_b", "b2")}
        expected |= {f"h{layer}.W1": (16, 64), f"h{layer}.b1": (64,), f"h{layer}.W2": (64, 16)}
    assert {key: value.shape for key, value in params.items()} == expected
    np.testing.assert_array_equal(params["h1.ln2_g"], 1.0)
    np.testing.assert_array_equal(params["h0.bq"], 0.0)
    logits, _ = ref.transformer_forward(np.zeros((1, 3), dtype=int), params, 4)
    assert logits.shape == (1, 3, 11)
