"""Week 5's trusted transformer references: softmax, attention, multi-head attention, layer norm, embeddings,
sinusoidal positions and a pre-LN decoder-only transformer, each forward with its backward.

Not a topic (no ``w`` prefix): it registers no case. The topic modules ``w05_*`` import from here, and
``tests/test_transformer_reference.py`` checks every backward against JAX. All arithmetic is float64.
Layers are pairs ``forward(...) -> (out, cache)``, ``backward(dout, cache) -> gradients`` (dx first).
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------------------------
# Softmax and attention
# ----------------------------------------------------------------------------------------------------------


def softmax(x):
    """p = exp(x - max x) / sum exp(x - max x) along the last axis (rows of -inf entries allowed, not all)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dp, p):
    """Vector-Jacobian product of the softmax along the last axis: J = diag(p) - p p^T, so dx = p * (dp - <dp, p>)."""
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))


def causal_mask(T):
    """(T, T) boolean, True where query t may NOT look at key s (s > t)."""
    return np.triu(np.ones((T, T), dtype=bool), k=1)


def attention_forward(q, k, v, causal=False):
    """Scaled dot-product attention on the last two axes, any leading (batch, head) axes.

    q (..., T, d), k (..., S, d), v (..., S, dv). scores = q k^T / sqrt(d); with causal (T == S) the scores
    of keys after the query (s > t) are set to -inf BEFORE the softmax; P = softmax(scores) over keys;
    out = P v, of shape (..., T, dv). Returns (out, cache).
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    if causal:
        T, S = scores.shape[-2:]
        if T != S:
            raise ValueError(f"a causal mask needs as many queries as keys, got {T} and {S}")
        scores = np.where(causal_mask(T), -np.inf, scores)
    p = softmax(scores)
    return p @ v, (q, k, v, p)


def attention_backward(dout, cache):
    """dV = P^T dO; dP = dO V^T; dS = softmax_backward(dP, P) (masked entries get 0, as P is 0 there);
    dQ = dS K / sqrt(d); dK = dS^T Q / sqrt(d). Returns (dq, dk, dv)."""
    q, k, v, p = cache
    d = q.shape[-1]
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = softmax_backward(dp, p) / np.sqrt(d)
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


MHA_KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")


def _split_heads(a, h):
    B, T, D = a.shape
    return a.reshape(B, T, h, D // h).transpose(0, 2, 1, 3)


def _merge_heads(a):
    B, h, T, dh = a.shape
    return a.transpose(0, 2, 1, 3).reshape(B, T, h * dh)


def multihead_attention_forward(x, params, n_heads, causal=False):
    """Multi-head self-attention: x (B, T, D); params Wq, Wk, Wv, Wo (D, D) and bq, bk, bv, bo (D,).

    q = x Wq + bq (likewise k, v); head i takes the columns i*dh:(i+1)*dh with dh = D / n_heads;
    each head attends on its own (scaled by sqrt(dh)); the heads' outputs are concatenated in head order
    and projected: out = concat W_o + b_o. Returns (out (B, T, D), cache).
    """
    x = np.asarray(x, dtype=np.float64)
    D = x.shape[-1]
    if n_heads < 1 or D % n_heads:
        raise ValueError(f"the model width {D} must be a multiple of n_heads={n_heads}")
    q = _split_heads(x @ params["Wq"] + params["bq"], n_heads)
    k = _split_heads(x @ params["Wk"] + params["bk"], n_heads)
    v = _split_heads(x @ params["Wv"] + params["bv"], n_heads)
    heads, att_cache = attention_forward(q, k, v, causal)
    concat = _merge_heads(heads)
    out = concat @ params["Wo"] + params["bo"]
    return out, (x, params, n_heads, att_cache, concat)


def multihead_attention_backward(dout, cache):
    """Returns (dx, grads) with grads a dict of the keys of params."""
    x, params, n_heads, att_cache, concat = cache
    D = x.shape[-1]
    rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
    grads = {"Wo": rows(concat).T @ rows(dout), "bo": rows(dout).sum(axis=0)}
    dheads = _split_heads(dout @ params["Wo"].T, n_heads)
    dq, dk, dv = attention_backward(dheads, att_cache)
    dx = np.zeros_like(x)
    for name, dh in (("q", dq), ("k", dk), ("v", dv)):
        dproj = _merge_heads(dh)
        grads["W" + name] = rows(x).T @ rows(dproj)
        grads["b" + name] = rows(dproj).sum(axis=0)
        dx += dproj @ params["W" + name].T
    assert dx.shape[-1] == D
    return dx, {key: grads[key] for key in MHA_KEYS}


# ----------------------------------------------------------------------------------------------------------
# Layer norm, embeddings, positions
# ----------------------------------------------------------------------------------------------------------


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Normalise every vector along the last axis: xhat = (x - mean) / sqrt(var + eps) (biased variance),
    out = gamma * xhat + beta, with gamma and beta of shape (D,). Returns (out, cache)."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * inv
    return gamma * xhat + beta, (xhat, inv, np.asarray(gamma, dtype=np.float64))


def layernorm_backward(dout, cache):
    """dx = inv * (g - mean(g) - xhat * mean(g * xhat)) with g = gamma * dout (means along the last axis);
    dgamma = sum of dout * xhat and dbeta = sum of dout over every leading axis. Returns (dx, dgamma, dbeta)."""
    xhat, inv, gamma = cache
    g = dout * gamma
    dx = inv * (g - g.mean(axis=-1, keepdims=True) - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
    lead = tuple(range(dout.ndim - 1))
    return dx, np.sum(dout * xhat, axis=lead), np.sum(dout, axis=lead)


def embedding_forward(idx, W):
    """out[...] = W[idx[...]]: idx integer array of any shape, W (V, D) -> out idx.shape + (D,)."""
    idx = np.asarray(idx)
    return np.asarray(W, dtype=np.float64)[idx], (idx, np.shape(W))


def embedding_backward(dout, cache):
    """dW[v] = sum of dout at every position where idx == v (repeated indices accumulate). Returns dW."""
    idx, shape = cache
    dW = np.zeros(shape)
    np.add.at(dW, idx.reshape(-1), dout.reshape(-1, shape[1]))
    return dW


def positional_encoding(T, d):
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)); shape (T, d), odd d allowed."""
    t = np.arange(T, dtype=np.float64)[:, None]
    pair = np.arange(d) // 2
    angle = t / 10000.0 ** (2.0 * pair / d)
    return np.where(np.arange(d) % 2 == 0, np.sin(angle), np.cos(angle))


# ----------------------------------------------------------------------------------------------------------
# A pre-LN decoder-only transformer
# ----------------------------------------------------------------------------------------------------------

BLOCK_KEYS = ("ln1_g", "ln1_b", *MHA_KEYS, "ln2_g", "ln2_b", "W1", "b1", "W2", "b2")


def n_blocks(params):
    """How many blocks the parameter dict holds (keys h0.*, h1.*, ...)."""
    return len({key.split(".")[0] for key in params if key.startswith("h") and "." in key})


def transformer_forward(idx, params, n_heads):
    """Logits (B, T, V) of a pre-LN decoder-only transformer for token ids idx (B, T).

    x = tok_emb[idx] + PE(T, D); per block l (keys "h{l}.<name>"):
        x = x + MHA(LN1(x), causal);  x = x + relu(LN2(x) W1 + b1) W2 + b2;
    then logits = LN_f(x) W_out + b_out (keys lnf_g, lnf_b, W_out (D, V), b_out (V,)). Returns (logits, cache).
    """
    idx = np.asarray(idx)
    T = idx.shape[1]
    x, emb_cache = embedding_forward(idx, params["tok_emb"])
    x = x + positional_encoding(T, x.shape[-1])
    caches = []
    for layer in range(n_blocks(params)):
        p = {name: params[f"h{layer}.{name}"] for name in BLOCK_KEYS}
        a, ln1 = layernorm_forward(x, p["ln1_g"], p["ln1_b"])
        a, mha = multihead_attention_forward(a, p, n_heads, causal=True)
        x = x + a
        m, ln2 = layernorm_forward(x, p["ln2_g"], p["ln2_b"])
        pre = m @ p["W1"] + p["b1"]
        hidden = np.maximum(pre, 0.0)
        x = x + hidden @ p["W2"] + p["b2"]
        caches.append((ln1, mha, ln2, m, pre, hidden, p))
    f, lnf = layernorm_forward(x, params["lnf_g"], params["lnf_b"])
    logits = f @ params["W_out"] + params["b_out"]
    return logits, (emb_cache, caches, lnf, f, params)


def transformer_backward(dlogits, cache):
    """Gradients of every parameter (a dict with the keys of params) from dlogits (B, T, V)."""
    emb_cache, caches, lnf, f, params = cache
    rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
    grads = {"W_out": rows(f).T @ rows(dlogits), "b_out": rows(dlogits).sum(axis=0)}
    dx, grads["lnf_g"], grads["lnf_b"] = layernorm_backward(dlogits @ params["W_out"].T, lnf)
    for layer in reversed(range(len(caches))):
        ln1, mha, ln2, m, pre, hidden, p = caches[layer]
        g = {"W2": rows(hidden).T @ rows(dx), "b2": rows(dx).sum(axis=0)}
        dpre = (dx @ p["W2"].T) * (pre > 0)
        g["W1"], g["b1"] = rows(m).T @ rows(dpre), rows(dpre).sum(axis=0)
        dm, g["ln2_g"], g["ln2_b"] = layernorm_backward(dpre @ p["W1"].T, ln2)
        dx = dx + dm
        da, g_mha = multihead_attention_backward(dx, mha)
        g.update(g_mha)
        dln1, g["ln1_g"], g["ln1_b"] = layernorm_backward(da, ln1)
        dx = dx + dln1
        for name in BLOCK_KEYS:
            grads[f"h{layer}.{name}"] = g[name]
    grads["tok_emb"] = embedding_backward(dx, emb_cache)
    return {key: grads[key] for key in params}


def init_transformer(rng, vocab_size, d_model, n_layers, d_hidden=None):
    """Random parameters in the layout transformer_forward reads: N(0, 0.02) matrices (as GPT-2), gains 1, biases 0."""
    D = d_model
    H = 4 * D if d_hidden is None else d_hidden
    matrices = {"Wq": (D, D), "Wk": (D, D), "Wv": (D, D), "Wo": (D, D), "W1": (D, H), "W2": (H, D)}
    params = {"tok_emb": rng.normal(0, 0.02, (vocab_size, D))}
    for layer in range(n_layers):
        for name in BLOCK_KEYS:
            if name in matrices:
                value = rng.normal(0, 0.02, matrices[name])
            elif name.endswith("_g"):
                value = np.ones(D)
            else:
                value = np.zeros(H if name == "b1" else D)
            params[f"h{layer}.{name}"] = value
    params.update(lnf_g=np.ones(D), lnf_b=np.zeros(D), W_out=rng.normal(0, 0.02, (D, vocab_size)))
    params["b_out"] = np.zeros(vocab_size)
    return dict(params)
