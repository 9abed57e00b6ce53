"""Week 5, the small transformer (transformer_forward/backward, train_reversal, train_char_lm): correct variants pass
every hidden case (a student-style model on the reference layers, one written with loops, JAX's autodiff in float64
and float32, trainers in JAX), the known mistakes fail with their diagnosis, the visible checks say the same, and
what the trusted module adds (the mistakes' variants, the held-out tasks, the losses) agrees with independent
computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import transformer_reference as tr
from autograder.cases import w05_transformer as ref
from autograder.fixtures import FIXTURE_DIR
from autograder.protocol import get_case
from dlfs.checks import week05 as visible
from dlfs.nn import Adam, cross_entropy

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week05, pytest.mark.w05_transformer, pytest.mark.autograder]


def _jax():
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    return jax


def _n_blocks(params):
    n = 0
    while f"h{n}.W1" in params:
        n += 1
    return n


# ---- a student's model on the reference layers, with the known mistakes as switches ------------------------------


def student_forward(idx, params, n_heads, mistake=None):
    """The model as a student writes it from the layers of sections 4-6; ``mistake`` switches one thing."""
    x, emb = tr.embedding_forward(idx, params["tok_emb"])
    T, D = x.shape[1:]
    if mistake == "scaled_embedding":
        x = x * math.sqrt(D)
    if mistake != "no_positions":
        x = x + tr.positional_encoding(T, D)
    blocks = []
    for layer in range(_n_blocks(params)):
        p = {name: params[f"h{layer}.{name}"] for name in tr.BLOCK_KEYS}
        causal = mistake != "not_causal"
        if mistake == "post_ln":
            a, _ = tr.multihead_attention_forward(x, p, n_heads, causal)
            x, _ = tr.layernorm_forward(x + a, p["ln1_g"], p["ln1_b"])
            m = np.maximum(x @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
            x, _ = tr.layernorm_forward(x + m, p["ln2_g"], p["ln2_b"])
            continue
        h, ln1 = tr.layernorm_forward(x, p["ln1_g"], p["ln1_b"])
        a, att = tr.multihead_attention_forward(h, p, n_heads, causal)
        x = a if mistake == "no_residual" else x + a
        h, ln2 = tr.layernorm_forward(x, p["ln2_g"], p["ln2_b"])
        pre = h @ p["W1"] + p["b1"]
        act = pre if mistake == "no_relu" else np.maximum(pre, 0)
        m = act @ p["W2"] + p["b2"]
        x = m if mistake == "no_residual" else x + m
        blocks.append((p, ln1, att, ln2, h, pre, act))
    f, lnf = tr.layernorm_forward(x, params["lnf_g"], params["lnf_b"])
    if mistake == "no_final_ln":
        f = x
    return f @ params["W_out"] + params["b_out"], {"emb": emb, "blocks": blocks, "lnf": lnf, "f": f, "params": params, "idx": idx}


def make_backward(mistake=None):
    """transformer_backward as a student writes it, with one known mistake switched on."""

    def transformer_backward(dlogits, cache):
        params = cache["params"]

        def flat(a):
            return a.reshape(-1, a.shape[-1])

        def bias(d):
            return d.sum(axis=0) if mistake == "bias_batch_only" else flat(d).sum(axis=0)

        grads = {"W_out": flat(cache["f"]).T @ flat(dlogits), "b_out": bias(dlogits)}
        df = dlogits @ params["W_out"].T
        dx, grads["lnf_g"], grads["lnf_b"] = tr.layernorm_backward(df, cache["lnf"])
        if mistake == "no_final_ln_grad":
            dx = df
        for layer in reversed(range(len(cache["blocks"]))):
            p, ln1, att, ln2, h, pre, act = cache["blocks"][layer]
            g = {"W2": flat(act).T @ flat(dx), "b2": bias(dx)}
            dpre = dx @ p["W2"].T
            if mistake != "no_relu_mask":
                dpre = dpre * (pre > 0)
            g["W1"], g["b1"] = flat(h).T @ flat(dpre), bias(dpre)
            dh, g["ln2_g"], g["ln2_b"] = tr.layernorm_backward(dpre @ p["W1"].T, ln2)
            dx = dh if mistake in ("no_skip_grad", "no_skip_grad_mlp") else dx + dh
            da, g_att = tr.multihead_attention_backward(dx, att)
            g.update(g_att)
            dh, g["ln1_g"], g["ln1_b"] = tr.layernorm_backward(da, ln1)
            dx = dh if mistake in ("no_skip_grad", "no_skip_grad_attention") else dx + dh
            grads.update({f"h{layer}.{name}": value for name, value in g.items()})
        if mistake == "embedding_overwrite":
            dW = np.zeros(params["tok_emb"].shape)
            dW[cache["idx"].ravel()] += flat(dx)  # buffered: a repeated index keeps one position's gradient
            grads["tok_emb"] = dW
        else:
            grads["tok_emb"] = tr.embedding_backward(dx, cache["emb"])
        return grads

    transformer_backward.__name__ = "transformer_backward" + (f"_{mistake}" if mistake else "")
    return transformer_backward


student_backward = make_backward()


def forward_with(mistake):
    def transformer_forward(idx, params, n_heads):
        return student_forward(idx, params, n_heads, mistake)

    transformer_forward.__name__ = f"transformer_forward_{mistake}"
    return transformer_forward


# ---- correct alternatives: loops, JAX --------------------------------------------------------------------------


def loop_forward(idx, params, n_heads):
    """Written from the formulas with loops over sequences and heads (float64); the cache is what JAX needs."""
    p = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
    B, T = idx.shape
    V, D = p["tok_emb"].shape
    dh = D // n_heads

    def norm(v, g, b):
        out = np.empty_like(v)
        for i in np.ndindex(v.shape[:-1]):
            row = v[i]
            mu = sum(row) / D
            var = sum((r - mu) ** 2 for r in row) / D
            out[i] = g * (row - mu) / math.sqrt(var + 1e-5) + b
        return out

    pe = np.array(
        [
            [math.sin(t / 10000 ** (i / D)) if i % 2 == 0 else math.cos(t / 10000 ** ((i - 1) / D)) for i in range(D)]
            for t in range(T)
        ]
    )
    x = np.stack([p["tok_emb"][row] for row in idx]) + pe
    for layer in range(_n_blocks(p)):
        w = {name: p[f"h{layer}.{name}"] for name in tr.BLOCK_KEYS}
        h = norm(x, w["ln1_g"], w["ln1_b"])
        q, k, v = (h @ w["W" + c] + w["b" + c] for c in "qkv")
        heads = np.zeros_like(h)
        for b in range(B):
            for head in range(n_heads):
                cols = slice(head * dh, (head + 1) * dh)
                for t in range(T):
                    scores = np.array([q[b, t, cols] @ k[b, s, cols] / math.sqrt(dh) for s in range(t + 1)])
                    weights = np.exp(scores - scores.max())
                    heads[b, t, cols] = (weights / weights.sum()) @ v[b, : t + 1, cols]
        x = x + heads @ w["Wo"] + w["bo"]
        x = x + np.maximum(norm(x, w["ln2_g"], w["ln2_b"]) @ w["W1"] + w["b1"], 0) @ w["W2"] + w["b2"]
    return norm(x, p["lnf_g"], p["lnf_b"]) @ p["W_out"] + p["b_out"], (idx, params, n_heads)


def jax_logits(jnp, idx, params, n_heads):
    """The model in jax.numpy (einsum attention, a logsumexp softmax), in the dtype of params."""
    from jax.scipy.special import logsumexp

    E = params["tok_emb"]
    B, T = idx.shape
    D = E.shape[1]
    dtype = E.dtype
    t, i = np.arange(T)[:, None], np.arange(D)[None, :]
    angle = t * np.exp(-math.log(10000.0) * (i - i % 2) / D)
    x = E[idx] + jnp.asarray(np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), dtype=dtype)

    def norm(v, g, b):
        centred = v - v.mean(axis=-1, keepdims=True)
        return g * centred / jnp.sqrt((centred**2).mean(axis=-1, keepdims=True) + 1e-5) + b

    dh = D // n_heads
    visible_keys = np.tril(np.ones((T, T), dtype=bool))
    for layer in range(_n_blocks(params)):
        w = {name: params[f"h{layer}.{name}"] for name in tr.BLOCK_KEYS}
        h = norm(x, w["ln1_g"], w["ln1_b"])
        q, k, v = ((h @ w["W" + c] + w["b" + c]).reshape(B, T, n_heads, dh) for c in "qkv")
        scores = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(dh)
        scores = jnp.where(visible_keys, scores, -jnp.inf)
        weights = jnp.exp(scores - logsumexp(scores, axis=-1, keepdims=True))
        x = x + jnp.einsum("bhts,bshd->bthd", weights, v).reshape(B, T, D) @ w["Wo"] + w["bo"]
        x = x + jnp.maximum(norm(x, w["ln2_g"], w["ln2_b"]) @ w["W1"] + w["b1"], 0) @ w["W2"] + w["b2"]
    return norm(x, params["lnf_g"], params["lnf_b"]) @ params["W_out"] + params["b_out"]


_JITTED = {}


def _jitted(kind, n_heads):
    """jax.jit of the logits or of their vector-Jacobian product for n_heads (one compilation per shape)."""
    if (kind, n_heads) not in _JITTED:
        jax = _jax()
        jnp = jax.numpy
        if kind == "logits":
            fn = jax.jit(lambda idx, p: jax_logits(jnp, idx, p, n_heads))
        else:
            fn = jax.jit(jax.grad(lambda p, idx, w: (jax_logits(jnp, idx, p, n_heads) * w).sum()))
        _JITTED[kind, n_heads] = fn
    return _JITTED[kind, n_heads]


def jax_forward(idx, params, n_heads):
    """JAX's forward in the dtype of the params (float32 stays float32)."""
    return np.asarray(_jitted("logits", n_heads)(idx, dict(params))), (idx, params, n_heads)


def jax_backward(dlogits, cache):
    """The gradient of sum(logits * dlogits) by jax.grad, whatever forward made the cache (idx, params, n_heads)."""
    idx, params, n_heads = cache
    grads = _jitted("grad", n_heads)(dict(params), idx, dlogits)
    return {key: np.asarray(value) for key, value in grads.items()}


# ---- wrong variants: plausible mistakes, written as a student would -----------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def forward_logits_only(idx, params, n_heads):
    return student_forward(idx, params, n_heads)[0]


def forward_in_place(idx, params, n_heads):
    params["tok_emb"][0] = 0.0  # "padding token": a write into the caller's table
    return student_forward(idx, params, n_heads)


def forward_float16(idx, params, n_heads):
    logits, cache = student_forward(idx, params, n_heads)
    return logits.astype(np.float16), cache


def backward_missing_key(dlogits, cache):
    grads = student_backward(dlogits, cache)
    del grads["lnf_b"]
    return grads


def backward_in_place(dlogits, cache):
    grads = student_backward(dlogits, cache)
    dlogits *= 2
    return grads


def backward_list(dlogits, cache):
    return list(student_backward(dlogits, cache).values())


# ---- trainers --------------------------------------------------------------------------------------------------


def _numpy_train(batches, vocab_size, seed, steps, d_model, n_layers, n_heads, lr, warmup):
    """The notebook's recipe with the student-style model on the reference layers (float64) and dlfs.nn.Adam."""
    rng = np.random.default_rng(seed)
    params = tr.init_transformer(rng, vocab_size, d_model, n_layers)
    optimizer = Adam(params, lr=lr)
    history = {"loss": []}
    for t in range(1, steps + 1):
        x, y = batches(rng)
        logits, cache = student_forward(x, params, n_heads)
        loss, dlogits = cross_entropy(logits, y)
        optimizer.lr = lr * min(1.0, t / warmup) * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        optimizer.step(student_backward(dlogits, cache))
        history["loss"].append(loss)
    return params, n_heads, history


def _jax_train(batches, vocab_size, seed, steps, d_model, n_layers, n_heads, lr, warmup):
    """The same recipe in JAX, float32, one jitted step (forward, loss, gradient and Adam)."""
    jax = _jax()
    jnp = jax.numpy
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in tr.init_transformer(rng, vocab_size, d_model, n_layers).items()}
    state = ({k: jnp.zeros_like(v) for k, v in params.items()}, {k: jnp.zeros_like(v) for k, v in params.items()})

    def loss_fn(p, x, y):
        logits = jax_logits(jnp, x, p, n_heads)
        log_p = jax.nn.log_softmax(logits, axis=-1)
        keep = y >= 0
        picked = jnp.take_along_axis(log_p, jnp.maximum(y, 0)[..., None], axis=-1)[..., 0]
        return -(picked * keep).sum() / keep.sum()

    @jax.jit
    def step(p, state, x, y, t, rate):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        m = {k: 0.9 * state[0][k] + 0.1 * g[k] for k in p}
        v = {k: 0.999 * state[1][k] + 0.001 * g[k] ** 2 for k in p}
        new = {k: p[k] - rate * (m[k] / (1 - 0.9**t)) / (jnp.sqrt(v[k] / (1 - 0.999**t)) + 1e-8) for k in p}
        return new, (m, v), loss

    history = {"loss": []}
    for t in range(1, steps + 1):
        x, y = batches(rng)
        rate = lr * min(1.0, t / warmup) * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        params, state, loss = step(params, state, x, y, float(t), rate)
        history["loss"].append(float(loss))
    return {k: np.asarray(v) for k, v in params.items()}, n_heads, history


def _reversal_batches(rng, n=64):
    digits = rng.integers(0, 10, size=(n, 8))
    x = np.concatenate([digits, np.full((n, 1), 10), digits[:, :0:-1]], axis=1)
    y = np.concatenate([np.full((n, 8), -1), digits[:, ::-1]], axis=1)
    return x, y


def numpy_train_reversal(seed=0, steps=800, progress=True):
    return _numpy_train(_reversal_batches, 11, seed, steps, 64, 1, 4, 1e-2, 50)


def jax_train_reversal(seed=0, steps=800, progress=True):
    return _jax_train(_reversal_batches, 11, seed, steps, 64, 1, 4, 1e-2, 50)


def _char_batches(ids, context, batch_size):
    def draw(rng):
        starts = rng.integers(0, len(ids) - context, size=batch_size)
        windows = np.stack([ids[s : s + context + 1] for s in starts])
        return windows[:, :-1], windows[:, 1:]

    return draw


def numpy_train_char_lm(ids, vocab_size, seed=0, steps=700, context=64, batch_size=32, progress=True):
    return _numpy_train(_char_batches(ids, context, batch_size), vocab_size, seed, steps, 64, 2, 4, 5e-3, 100)


def jax_train_char_lm(ids, vocab_size, seed=0, steps=700, context=64, batch_size=32, progress=True):
    return _jax_train(_char_batches(ids, context, batch_size), vocab_size, seed, steps, 64, 2, 4, 5e-3, 100)


def untrained_reversal(seed=0, steps=800, progress=True):
    return tr.init_transformer(np.random.default_rng(seed), 11, 64, 1), 4, {"loss": [2.4] * steps}


def reversal_missing_key(seed=0, steps=800, progress=True):
    params, n_heads, history = untrained_reversal(seed, steps)
    del params["lnf_g"]
    return params, n_heads, history


def reversal_bad_heads(seed=0, steps=800, progress=True):
    params, _, history = untrained_reversal(seed, steps)
    return params, 3, history


def reversal_fixed_steps(seed=0, steps=800, progress=True):
    params, n_heads, _ = untrained_reversal(seed, steps)
    return params, n_heads, {"loss": [2.4] * 50}


def reversal_nan(seed=0, steps=800, progress=True):
    params, n_heads, history = untrained_reversal(seed, steps)
    params["h0.W1"][0, 0] = np.nan
    return params, n_heads, history


def untrained_char_lm(ids, vocab_size, seed=0, steps=700, context=64, batch_size=32, progress=True):
    return tr.init_transformer(np.random.default_rng(seed), vocab_size, 64, 2), 4, {"loss": [4.3] * steps}


def char_lm_wrong_vocab(ids, vocab_size, seed=0, steps=700, context=64, batch_size=32, progress=True):
    return tr.init_transformer(np.random.default_rng(seed), 65, 64, 2), 4, {"loss": [4.3] * steps}


# ---- the hidden cases ------------------------------------------------------------------------------------------

FORWARDS = [student_forward, loop_forward, tr.transformer_forward]
BACKWARDS = [Together(student_backward, student_forward), Together(tr.transformer_backward, tr.transformer_forward)]
#: JAX in the params' dtype: float32 weights are computed in float32 throughout (the edge cases have some).
JAX_BACKWARDS = [Together(jax_backward, jax_forward), Together(jax_backward, loop_forward)]
CORRECT = {
    "w05_transformer_forward": FORWARDS,
    "w05_transformer_forward_edge": FORWARDS + [jax_forward],
    "w05_transformer_backward": BACKWARDS,
    "w05_transformer_backward_edge": BACKWARDS + JAX_BACKWARDS,
    "w05_reversal": [jax_train_reversal, numpy_train_reversal],
    "w05_char_lm": [jax_train_char_lm],
}

WRONG = [
    ("w05_transformer_forward", stub, "is not implemented yet"),
    ("w05_transformer_forward", forward_logits_only, r"must return the pair \(logits, cache\)"),
    ("w05_transformer_forward", forward_in_place, r"changed its input `params\['tok_emb'\]` in place"),
    ("w05_transformer_forward_edge", forward_float16, "values are wrong; max relative error"),
    ("w05_transformer_forward_edge", stub, "is not implemented yet"),
    ("w05_transformer_forward_edge", forward_with("no_positions"), "without positional encodings"),
]
WRONG += [
    ("w05_transformer_forward", forward_with(name), message)
    for name, message in [
        ("no_positions", "without positional encodings"),
        ("scaled_embedding", r"multiplied by sqrt\(D\)"),
        ("not_causal", "without the causal mask"),
        ("post_ln", r"post-LN"),
        ("no_residual", "no residual connections"),
        ("no_relu", "MLP has no ReLU"),
        ("no_final_ln", "skip the final layer norm"),
    ]
]
WRONG += [
    ("w05_transformer_backward", Together(make_backward(name), student_forward), message)
    for name, message in [
        ("no_skip_grad", "does not go past the MLP branch"),
        ("no_skip_grad_mlp", "does not go past the MLP branch"),
        ("no_skip_grad_attention", "does not go past the attention branch"),
        ("no_relu_mask", "ReLU unmasked"),
        ("no_final_ln_grad", "skips the final layer norm's backward"),
        ("embedding_overwrite", "keeps one position per repeated token"),
        ("bias_batch_only", "batch axis only"),
    ]
]
WRONG += [
    ("w05_transformer_backward", Together(stub, student_forward), "stub is not implemented yet"),
    ("w05_transformer_backward", Together(student_backward, stub), "forward, which is not implemented yet"),
    ("w05_transformer_backward", Together(student_backward, forward_with("not_causal")), "fix the forward first.*causal mask"),
    ("w05_transformer_backward", Together(backward_missing_key, student_forward), "grads lacks 'lnf_b'"),
    ("w05_transformer_backward", Together(backward_in_place, student_forward), "changed its input `dlogits`"),
    ("w05_transformer_backward", Together(backward_list, student_forward), "must return a dict"),
    (
        "w05_transformer_backward_edge",
        Together(make_backward("embedding_overwrite"), student_forward),
        "keeps one position per repeated token",
    ),
    ("w05_transformer_backward_edge", Together(stub, student_forward), "not implemented yet"),
    ("w05_reversal", stub, "stub is not implemented yet"),
    ("w05_reversal", untrained_reversal, r"accuracy 0\.\d+ \(chance level"),
    ("w05_reversal", reversal_missing_key, "params lacks 'lnf_g'"),
    ("w05_reversal", reversal_bad_heads, "does not divide the model width D = 64"),
    ("w05_reversal", reversal_fixed_steps, "one loss per step: 800 numbers"),
    ("w05_reversal", reversal_nan, r"params\['h0.W1'\] must hold finite numbers"),
    ("w05_char_lm", stub, "stub is not implemented yet"),
    ("w05_char_lm", untrained_char_lm, "no better than the bigram model"),
    ("w05_char_lm", char_lm_wrong_vocab, "has 65 rows; the vocabulary has 73"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w05_transformer", CORRECT, WRONG)


# ---- what the trusted module adds --------------------------------------------------------------------------------


def _problem(seed=3, spec=(9, 8, 2, 2, 3, 6, None, False)):
    return ref.random_model(np.random.default_rng(seed), *spec)


def test_variants_without_a_mistake_are_the_reference():
    for spec in ref.MODELS + ref.TINY_MODELS:
        p = _problem(spec=spec)
        logits, cache = tr.transformer_forward(p["idx"], p["params"], p["n_heads"])
        np.testing.assert_allclose(ref.variant_logits(p["idx"], p["params"], p["n_heads"]), logits, rtol=1e-12, atol=1e-12)
        want = tr.transformer_backward(p["dlogits"], cache)
        got = ref.variant_grads(p["idx"], p["params"], p["n_heads"], p["dlogits"])
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_student_style_variants_are_the_trusted_mistakes():
    """The mistakes as a student writes them (this file) give what the judge names (the trusted variants)."""
    p = _problem()
    idx, params, n_heads, dlogits = p["idx"], p["params"], p["n_heads"], p["dlogits"]
    for name, want in ref.forward_mistakes(idx, params, n_heads).items():
        np.testing.assert_allclose(student_forward(idx, params, n_heads, name)[0], want, rtol=1e-10, atol=1e-12)
    wrong = ref.backward_mistakes(idx, params, n_heads, dlogits)
    for name in ref.BACKWARD_MISTAKES:
        got = make_backward(name)(dlogits, student_forward(idx, params, n_heads)[1])
        for key in params:
            np.testing.assert_allclose(got[key], wrong[key][name], rtol=1e-10, atol=1e-12, err_msg=f"{name} {key}")


def test_mistakes_differ_from_the_reference_on_the_cases():
    named_forward, named_backward = set(), set()
    for case_id in ("w05_transformer_forward", "w05_transformer_forward_edge"):
        for p in get_case(case_id).build()[0]["problems"]:
            want = tr.transformer_forward(p["idx"], ref._float64(p["params"]), p["n_heads"])[0]
            named_forward |= {
                name
                for name, out in ref.forward_mistakes(p["idx"], p["params"], p["n_heads"]).items()
                if not np.allclose(out, want, rtol=1e-4, atol=1e-5)
            }
    for case_id in ("w05_transformer_backward", "w05_transformer_backward_edge"):
        for p in get_case(case_id).build()[0]["problems"]:
            p64 = ref._float64(p["params"])
            want = tr.transformer_backward(
                p["dlogits"].astype(np.float64), tr.transformer_forward(p["idx"], p64, p["n_heads"])[1]
            )
            for key, outputs in ref.backward_mistakes(p["idx"], p["params"], p["n_heads"], p["dlogits"]).items():
                named_backward |= {
                    name
                    for name, out in outputs.items()
                    if out.shape != want[key].shape or not np.allclose(out, want[key], rtol=1e-3)
                }
    assert named_forward == set(ref.FORWARD_MISTAKES)
    assert named_backward == set(ref.BACKWARD_MISTAKES)
    # the edge case's repeated token is what tells the embedding overwrite apart
    edge = get_case("w05_transformer_backward_edge").build()[0]["problems"][-1]
    assert len(np.unique(edge["idx"])) == 1 and edge["idx"].size == 18


def test_the_fixture_can_name_every_mistake():
    with np.load(FIXTURE_DIR / "w05_transformer.npz", allow_pickle=False) as stored:
        keys = set(stored.files)
    for name in ref.FORWARD_MISTAKES:
        assert f"mistake_{name}_logits" in keys, name
    for name in ref.BACKWARD_MISTAKES:
        assert any(k.startswith(f"mistake_{name}_d") for k in keys), name


def test_numeric_gradient_agrees_with_the_reference():
    p = ref.random_model(np.random.default_rng(1), *ref.TINY_MODELS[1])
    want = tr.transformer_backward(p["dlogits"], tr.transformer_forward(p["idx"], p["params"], p["n_heads"])[1])
    for key in ("tok_emb", "h1.Wq", "h0.W1", "lnf_g", "b_out"):
        np.testing.assert_allclose(ref.numeric_grad(p, key), want[key], rtol=1e-6, atol=1e-9)


def test_reversal_tasks_are_the_task():
    """digits, SEP, the reversed digits but the last; the answers are the reversed digits (teacher forcing)."""
    inputs, answers = ref.reversal_tasks(np.random.default_rng(0), 500)
    assert inputs.shape == (500, 16) and answers.shape == (500, 8)
    for row, answer in zip(inputs, answers):
        digits = list(row[:8])
        assert row[8] == 10 and list(answer) == digits[::-1] and list(row[9:]) == digits[::-1][:7]
    assert set(np.unique(inputs[:, :8])) == set(range(10))
    x, y = _reversal_batches(np.random.default_rng(0), 500)
    np.testing.assert_array_equal(x, inputs)
    np.testing.assert_array_equal(y[:, 8:], answers)


def test_reversal_accuracy_counts_tokens():
    inputs, answers = ref.reversal_tasks(np.random.default_rng(1), 20)
    params = tr.init_transformer(np.random.default_rng(0), 11, 8, 1)
    params["b_out"][:] = 0
    params["b_out"][3] = 50.0  # always predicts 3
    assert ref.reversal_accuracy(params, 2, inputs, answers) == pytest.approx(np.mean(answers == 3))


def test_bigram_baseline_and_char_loss():
    from dlfs.text import load_shakespeare

    corpus = load_shakespeare()
    counts = np.ones((corpus.vocab_size,) * 2)
    np.add.at(counts, (corpus.train_ids[:-1], corpus.train_ids[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    assert -np.mean(np.log(p[corpus.val_ids[:-1], corpus.val_ids[1:]])) == pytest.approx(ref.BIGRAM_LOSS, abs=1e-4)
    inputs, targets = ref.char_windows(np.random.default_rng(0), corpus.val_ids, 5, 12)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    params = ref.random_model(np.random.default_rng(2), corpus.vocab_size, 8, 1, 2, 1, 1)["params"]
    logits = tr.transformer_forward(inputs, params, 2)[0]
    assert ref.char_loss(params, 2, inputs, targets, batch=2) == pytest.approx(cross_entropy(logits, targets)[0], rel=1e-12)


# ---- visible checks ----------------------------------------------------------------------------------------------


def train_reversal_untrained(seed=0, steps=100, progress=True):
    return untrained_reversal(seed, steps)


def train_reversal_short_history(seed=0, steps=100, progress=True):
    params, n_heads, history = numpy_train_reversal(seed, steps)
    return params, n_heads, {"loss": history["loss"][::2]}


def train_char_lm_untrained(ids, vocab_size, seed=0, steps=40, context=32, batch_size=16, progress=True):
    return untrained_char_lm(ids, vocab_size, seed, steps)


VISIBLE_CORRECT = [(visible.transformer_forward, fn) for fn in (student_forward, loop_forward, jax_forward)]
VISIBLE_CORRECT += [(visible.transformer_backward, fns) for fns in BACKWARDS + JAX_BACKWARDS]
VISIBLE_CORRECT += [(visible.train_reversal, numpy_train_reversal), (visible.train_char_lm, numpy_train_char_lm)]
VISIBLE_WRONG = [
    (visible.transformer_forward, forward_with(name), message)
    for name, message in [
        ("no_positions", "without positional encodings"),
        ("not_causal", "causal mask"),
        ("post_ln", "post-LN"),
        ("no_residual", "no residual"),
        ("scaled_embedding", "sqrt"),
        ("no_relu", "no ReLU"),
        ("no_final_ln", "final layer norm"),
    ]
]
VISIBLE_WRONG += [
    (visible.transformer_backward, Together(make_backward(name), student_forward), message)
    for name, message in [
        ("no_skip_grad", "past the MLP branch"),
        ("no_skip_grad_mlp", "MLP branch"),
        ("no_skip_grad_attention", "attention branch"),
        ("no_relu_mask", "unmasked"),
        ("no_final_ln_grad", "final layer norm"),
        ("embedding_overwrite", "repeated token"),
        ("bias_batch_only", "batch axis"),
    ]
]
VISIBLE_WRONG += [
    (visible.transformer_forward, stub, "not implemented yet"),
    (visible.transformer_forward, forward_logits_only, r"must return a tuple \(logits, cache\)"),
    (visible.transformer_forward, forward_in_place, "changed params"),
    (visible.transformer_backward, Together(stub, student_forward), "not implemented yet"),
    (visible.transformer_backward, Together(student_backward, stub), "not implemented yet"),
    (visible.transformer_backward, Together(student_backward, forward_with("no_positions")), "fix the forward first"),
    (visible.transformer_backward, Together(backward_missing_key, student_forward), "grads lacks 'lnf_b'"),
    (visible.transformer_backward, Together(backward_in_place, student_forward), "changed its input `dlogits`"),
    (visible.transformer_backward, Together(backward_list, student_forward), "must return a dict"),
    (visible.train_reversal, stub, "not implemented yet"),
    (visible.train_reversal, train_reversal_untrained, "should fall below"),
    (visible.train_reversal, train_reversal_short_history, "one loss per step: 100 numbers"),
    (visible.train_char_lm, stub, "not implemented yet"),
    (visible.train_char_lm, train_char_lm_untrained, "should fall by well over 0.5"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
