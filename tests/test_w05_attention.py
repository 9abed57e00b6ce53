"""Week 5 attention (softmax_backward, attention_forward/backward, multihead_attention_forward/backward): correct
variants pass every hidden case, the known mistakes fail with their diagnosis, the visible checks say the same, and
every named mistake differs from the reference on the cases. The shared references themselves are checked against
JAX in ``tests/test_transformer_reference.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import transformer_reference as tref
from autograder.cases import w05_attention as ref
from autograder.protocol import get_case, run_case
from dlfs.checks import week05 as visible

pytestmark = [pytest.mark.week05, pytest.mark.w05_attention, pytest.mark.autograder]

KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")


def stub(*args, **kwargs):
    raise NotImplementedError()


def rows_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- softmax_backward --------------------------------------------------------------------------------------------


def sb_jacobian(dp, p):
    """Row by row, the Jacobian diag(p) - p p^T built and multiplied, in float64."""
    flat_p, flat_dp = p.reshape(-1, p.shape[-1]), dp.reshape(-1, p.shape[-1])
    dx = np.empty(flat_p.shape)
    for i, (row, grad) in enumerate(zip(flat_p, flat_dp)):
        dx[i] = (np.diag(row) - np.outer(row, row)) @ grad
    return dx.reshape(p.shape)


def sb_einsum(dp, p):
    """p dp minus p times the row's dot product (einsum), float32 kept."""
    return p * dp - p * np.einsum("...i,...i->...", dp, p)[..., None]


def sb_diagonal(dp, p):
    return p * (1 - p) * dp


def sb_sign(dp, p):
    return p * (dp + np.sum(dp * p, axis=-1, keepdims=True))


def sb_first_term(dp, p):
    return p * dp


def sb_axis0(dp, p):
    return p * (dp - np.sum(dp * p, axis=0, keepdims=True))


def sb_axis1(dp, p):
    """axis=1: the last axis of a 2-D input, the wrong one of a 3-D or 4-D input."""
    return p * (dp - np.sum(dp * p, axis=1, keepdims=True))


def sb_in_place(dp, p):
    dp *= p
    dp -= p * dp.sum(axis=-1, keepdims=True)
    return dp


# ---- attention: correct variants ---------------------------------------------------------------------------------


def attention_einsum(q, k, v, causal=False):
    """einsum, -1e9 added to the future scores, float32 kept (math.sqrt)."""
    scores = np.einsum("...td,...sd->...ts", q, k) / math.sqrt(q.shape[-1])
    if causal:
        T = scores.shape[-1]
        scores = scores + np.triu(np.full((T, T), -1e9, dtype=scores.dtype), 1)
    p = rows_softmax(scores)
    return np.einsum("...ts,...sv->...tv", p, v), (q, k, v, p)


def attention_einsum_backward(dout, cache):
    q, k, v, p = cache
    dv = np.einsum("...ts,...tv->...sv", p, dout)
    dp = np.einsum("...tv,...sv->...ts", dout, v)
    ds = (p * dp - p * np.einsum("...ts,...ts->...t", p, dp)[..., None]) / math.sqrt(q.shape[-1])
    return np.einsum("...ts,...sd->...td", ds, k), np.einsum("...ts,...td->...sd", ds, q), dv


def attention_loops(q, k, v, causal=False):
    """One matrix of the leading axes at a time, each row's softmax written out with math.exp, in float64."""
    T, S, d = q.shape[-2], k.shape[-2], q.shape[-1]
    out, P = np.zeros(q.shape[:-2] + (T, v.shape[-1])), np.zeros(q.shape[:-2] + (T, S))
    for i in np.ndindex(q.shape[:-2]):
        for t in range(T):
            keys = range(t + 1) if causal else range(S)
            scores = [float(q[i][t] @ k[i][s]) / math.sqrt(d) for s in keys]
            top = max(scores)
            weights = [math.exp(a - top) for a in scores]
            for s, w in zip(keys, weights):
                P[i][t, s] = w / sum(weights)
            out[i][t] = P[i][t] @ v[i]
    return out, (q, k, v, P)


def attention_loops_backward(dout, cache):
    """Per matrix and row: the softmax's Jacobian built, dk accumulated with outer products."""
    q, k, v, P = cache
    dq, dk, dv = (np.zeros(a.shape) for a in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1])
    for i in np.ndindex(q.shape[:-2]):
        dv[i] = P[i].T @ dout[i]
        dP = dout[i] @ v[i].T
        for t, row in enumerate(P[i]):
            ds = (np.diag(row) - np.outer(row, row)) @ dP[t] * scale
            dq[i][t] = ds @ k[i]
            dk[i] += np.outer(ds, q[i][t])
    return dq, dk, dv


def attention_renormalised(q, k, v, causal=False):
    """Masks AFTER the softmax and renormalises each row: exactly the weights of masking the scores."""
    p = rows_softmax(q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]))
    if causal:
        p = np.tril(p)
        p = p / p.sum(axis=-1, keepdims=True)
    return p @ v, (q, k, v, p)


def attention_light(q, k, v, causal=False):
    """Keeps only the inputs and the flag in the cache (a dict); the backward recomputes P."""
    out, _ = attention_einsum(q, k, v, causal)
    return out, {"q": q, "k": k, "v": v, "causal": causal}


def attention_light_backward(dout, cache):
    _, full = attention_einsum(cache["q"], cache["k"], cache["v"], cache["causal"])
    return attention_einsum_backward(dout, full)


# ---- attention: wrong variants, as a student would write them ----------------------------------------------------


def _attention(q, k, v, causal=False, *, divide=None, mask="inf", axis=-1):
    scores = q @ np.swapaxes(k, -1, -2) / (math.sqrt(q.shape[-1]) if divide is None else divide)
    T = scores.shape[-1]
    above = np.triu(np.ones((T, T)), 1).astype(bool)
    if causal and mask == "inf":
        scores[..., above] = -np.inf
    if causal and mask == "zero":
        scores = scores * np.tril(np.ones((T, T)))
    if causal and mask == "past":
        scores[..., np.tril(np.ones((T, T)), -1).astype(bool)] = -np.inf
    if causal and mask == "diagonal_too":
        scores[..., np.triu(np.ones((T, T))).astype(bool)] = -np.inf
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    if causal and mask == "after":
        p = p * np.tril(np.ones((T, T)))
    return p @ v, (q, k, v, p)


def attention_no_scale(q, k, v, causal=False):
    return _attention(q, k, v, causal, divide=1.0)


def attention_by_d(q, k, v, causal=False):
    return _attention(q, k, v, causal, divide=q.shape[-1])


def attention_query_axis(q, k, v, causal=False):
    return _attention(q, k, v, causal, axis=-2)


def attention_k_dot_t(q, k, v, causal=False):
    p = rows_softmax(q @ k.T / math.sqrt(q.shape[-1]))
    return p @ v, (q, k, v, p)


def attention_unstable(q, k, v, causal=False):
    e = np.exp(q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]))
    p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, (q, k, v, p)


def attention_scales_q_in_place(q, k, v, causal=False):
    q /= math.sqrt(q.shape[-1])
    p = rows_softmax(q @ np.swapaxes(k, -1, -2))
    return p @ v, (q, k, v, p)


def attention_out_only(q, k, v, causal=False):
    return attention_einsum(q, k, v, causal)[0]


def attention_ignores_causal(q, k, v, causal=False):
    return _attention(q, k, v, False)


def attention_mask_after(q, k, v, causal=False):
    return _attention(q, k, v, causal, mask="after")


def attention_mask_zero(q, k, v, causal=False):
    return _attention(q, k, v, causal, mask="zero")


def attention_mask_past(q, k, v, causal=False):
    return _attention(q, k, v, causal, mask="past")


def attention_mask_diagonal(q, k, v, causal=False):
    """Masks s >= t: the first query sees no key at all (a row of -inf gives NaN)."""
    return _attention(q, k, v, causal, mask="diagonal_too")


def _backward(dout, cache, *, jacobian="full", scale=True, dk="right", dv="right"):
    q, k, v, p = cache
    dp = dout @ np.swapaxes(v, -1, -2)
    if jacobian == "full":
        ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    elif jacobian == "first":
        ds = p * dp
    else:
        ds = p * (1 - p) * dp
    if scale:
        ds = ds / math.sqrt(q.shape[-1])
    if dk == "right":
        grad_k = np.swapaxes(ds, -1, -2) @ q
    else:
        grad_k = np.swapaxes(q, -1, -2) @ ds if dk == "transposed" else ds @ q
    grad_v = np.swapaxes(p, -1, -2) @ dout if dv == "right" else p @ dout
    return ds @ k, grad_k, grad_v


def backward_first_term(dout, cache):
    return _backward(dout, cache, jacobian="first")


def backward_diagonal(dout, cache):
    return _backward(dout, cache, jacobian="diagonal")


def backward_no_scale(dout, cache):
    return _backward(dout, cache, scale=False)


def backward_dk_transposed(dout, cache):
    return _backward(dout, cache, dk="transposed")


def backward_dk_plain(dout, cache):
    return _backward(dout, cache, dk="plain")


def backward_dv_plain(dout, cache):
    return _backward(dout, cache, dv="plain")


def backward_two_parts(dout, cache):
    return _backward(dout, cache)[:2]


def backward_in_place(dout, cache):
    """Right values, but dout doubled in place on the way."""
    dout *= 2.0
    return tuple(g / 2.0 for g in _backward(dout, cache))


def light_backward_unmasked(dout, cache):
    """Recomputes P in the backward, forgetting the mask."""
    _, full = attention_einsum(cache["q"], cache["k"], cache["v"])
    return attention_einsum_backward(dout, full)


# ---- multi-head attention: correct variants ----------------------------------------------------------------------


def mha_heads(x, params, n_heads, causal=False):
    """A Python loop over the heads, each a slice of columns; np.concatenate to merge."""
    B, T, D = x.shape
    if D % n_heads:
        raise ValueError(f"D = {D} is not a multiple of n_heads = {n_heads}")
    dh = D // n_heads
    q, k, v = (x @ params["W" + n] + params["b" + n] for n in "qkv")
    outs, caches = [], []
    for i in range(n_heads):
        cols = slice(i * dh, (i + 1) * dh)
        out, cache = attention_einsum(q[..., cols], k[..., cols], v[..., cols], causal)
        outs.append(out)
        caches.append(cache)
    concat = np.concatenate(outs, axis=-1)
    return concat @ params["Wo"] + params["bo"], (x, params, dh, caches, concat)


def _mha_heads_backward(dout, cache, *, drop="", bias="sum", weight="sum"):
    x, params, dh, caches, concat = cache
    D = x.shape[-1]

    def weight_grad(inputs, d):
        if weight == "per_batch":
            return np.swapaxes(inputs, 1, 2) @ d
        dW = inputs.reshape(-1, D).T @ d.reshape(-1, D)
        return dW.T if weight == "transposed" else dW

    def bias_grad(d):
        return {"sum": d.sum(axis=(0, 1)), "batch": d.sum(axis=0), "mean": d.mean(axis=(0, 1))}[bias]

    grads = {"Wo": weight_grad(concat, dout), "bo": bias_grad(dout)}
    dconcat = dout @ params["Wo"].T
    parts = [attention_einsum_backward(dconcat[..., i * dh : (i + 1) * dh], c) for i, c in enumerate(caches)]
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for j, name in enumerate("qkv"):
        d = np.concatenate([part[j] for part in parts], axis=-1)
        grads["W" + name], grads["b" + name] = weight_grad(x, d), bias_grad(d)
        if name != drop:
            dx = dx + d @ params["W" + name].T
    return dx, grads


def mha_heads_backward(dout, cache):
    return _mha_heads_backward(dout, cache)


def mha_fused(x, params, n_heads, causal=False):
    """One (D, 3D) projection for q, k and v; the heads as a leading axis; float32 kept."""
    B, T, D = x.shape
    if n_heads <= 0 or D % n_heads:
        raise ValueError("n_heads must divide D")
    W = np.concatenate([params["Wq"], params["Wk"], params["Wv"]], axis=1)
    b = np.concatenate([params["bq"], params["bk"], params["bv"]])
    qkv = (x @ W + b).reshape(B, T, 3, n_heads, D // n_heads).transpose(2, 0, 3, 1, 4)
    heads, att = attention_einsum(qkv[0], qkv[1], qkv[2], causal)
    concat = heads.transpose(0, 2, 1, 3).reshape(B, T, D)
    return concat @ params["Wo"] + params["bo"], (x, params, n_heads, att, concat, W)


def mha_fused_backward(dout, cache):
    """The exact zero of the key bias written as such (np.zeros): bk's gradient is 0 by shift invariance."""
    x, params, n_heads, att, concat, W = cache
    B, T, D = x.shape
    rows = dout.reshape(-1, D)
    dheads = (dout @ params["Wo"].T).reshape(B, T, n_heads, -1).transpose(0, 2, 1, 3)
    dqkv = np.stack(attention_einsum_backward(dheads, att)).transpose(1, 3, 0, 2, 4).reshape(-1, 3 * D)
    dW = x.reshape(-1, D).T @ dqkv
    db = dqkv.sum(axis=0)
    grads = {"Wo": concat.reshape(-1, D).T @ rows, "bo": rows.sum(axis=0)}
    for j, name in enumerate("qkv"):
        grads["W" + name], grads["b" + name] = dW[:, j * D : (j + 1) * D], db[j * D : (j + 1) * D]
    grads["bk"] = np.zeros(D, dtype=db.dtype)
    return (dqkv @ W.T).reshape(B, T, D), grads


# ---- multi-head attention: wrong variants ------------------------------------------------------------------------


def _mha(x, params, n_heads, causal=False, *, split="right", merge="right", divide_by_D=False, combine="project"):
    B, T, D = x.shape
    if D % n_heads:
        raise ValueError("D % n_heads != 0")
    dh = D // n_heads
    shapes = {
        "right": ((B, T, n_heads, dh), (0, 2, 1, 3)),
        "interleaved": ((B, T, dh, n_heads), (0, 3, 1, 2)),
        "no_transpose": ((B, n_heads, T, dh), (0, 1, 2, 3)),
    }
    shape, axes = shapes[split]
    q, k, v = ((x @ params["W" + n] + params["b" + n]).reshape(shape).transpose(axes) for n in "qkv")
    if divide_by_D:
        q = q * math.sqrt(dh) / math.sqrt(D)
    heads, cache = attention_einsum(q, k, v, causal)
    if merge == "right":
        concat = heads.transpose(0, 2, 1, 3).reshape(B, T, D)
    elif merge == "interleaved":
        concat = heads.transpose(0, 2, 3, 1).reshape(B, T, D)
    else:
        concat = heads.reshape(B, T, D)
    if combine == "none":
        return concat, cache
    return concat @ params["Wo"] / (n_heads if combine == "mean" else 1) + params["bo"], cache


def mha_interleaved(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, split="interleaved", merge="interleaved")


def mha_split_no_transpose(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, split="no_transpose", merge="no_transpose")


def mha_merge_no_transpose(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, merge="no_transpose")


def mha_scaled_by_D(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, divide_by_D=True)


def mha_heads_averaged(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, combine="mean")


def mha_no_projection(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads, causal, combine="none")


def mha_ignores_causal(x, params, n_heads, causal=False):
    return _mha(x, params, n_heads)


def mha_array_split(x, params, n_heads, causal=False):
    """np.array_split cuts unequal heads without complaint when n_heads does not divide D."""
    q, k, v = (x @ params["W" + n] + params["b" + n] for n in "qkv")
    outs = [attention_einsum(a, b, c, causal)[0] for a, b, c in zip(*(np.array_split(m, n_heads, axis=-1) for m in (q, k, v)))]
    return np.concatenate(outs, axis=-1) @ params["Wo"] + params["bo"], None


def mha_type_error(x, params, n_heads, causal=False):
    if x.shape[-1] % n_heads:
        raise TypeError("bad n_heads")
    return mha_heads(x, params, n_heads, causal)


def mha_folds_scale_in_place(x, params, n_heads, causal=False):
    """Folds the scale 1/sqrt(dh) into Wq and bq in place (and then scales again: the inputs changed first)."""
    params["Wq"] *= (x.shape[-1] // n_heads) ** -0.5
    params["bq"] *= (x.shape[-1] // n_heads) ** -0.5
    return _mha(x, params, n_heads, causal)


def mha_backward_without_q(dout, cache):
    return _mha_heads_backward(dout, cache, drop="q")


def mha_backward_without_k(dout, cache):
    return _mha_heads_backward(dout, cache, drop="k")


def mha_backward_without_v(dout, cache):
    return _mha_heads_backward(dout, cache, drop="v")


def mha_backward_bias_batch(dout, cache):
    return _mha_heads_backward(dout, cache, bias="batch")


def mha_backward_bias_mean(dout, cache):
    return _mha_heads_backward(dout, cache, bias="mean")


def mha_backward_weight_transposed(dout, cache):
    return _mha_heads_backward(dout, cache, weight="transposed")


def mha_backward_weight_per_batch(dout, cache):
    return _mha_heads_backward(dout, cache, weight="per_batch")


def mha_backward_omits_bk(dout, cache):
    dx, grads = mha_heads_backward(dout, cache)
    del grads["bk"]
    return dx, grads


def mha_backward_dx_only(dout, cache):
    return mha_heads_backward(dout, cache)[0]


def mha_backward_in_place(dout, cache):
    """Right values, but dout doubled in place on the way."""
    dout *= 2.0
    dx, grads = mha_heads_backward(dout, cache)
    return dx / 2.0, {key: g / 2.0 for key, g in grads.items()}


REF_PAIR = Together(tref.attention_backward, tref.attention_forward)
EINSUM_PAIR = Together(attention_einsum_backward, attention_einsum)
LOOP_PAIR = Together(attention_loops_backward, attention_loops)
LIGHT_PAIR = Together(attention_light_backward, attention_light)
RENORMALISED_PAIR = Together(attention_einsum_backward, attention_renormalised)
MHA_PAIR = Together(mha_heads_backward, mha_heads)
FUSED_PAIR = Together(mha_fused_backward, mha_fused)
MHA_REF_PAIR = Together(tref.multihead_attention_backward, tref.multihead_attention_forward)

CORRECT = {
    "w05_softmax_backward": [sb_jacobian, sb_einsum, tref.softmax_backward],
    "w05_attention_forward": [attention_einsum, attention_loops, attention_renormalised, tref.attention_forward],
    "w05_attention_forward_causal": [attention_einsum, attention_loops, attention_renormalised, attention_light],
    "w05_attention_backward": [REF_PAIR, EINSUM_PAIR, LOOP_PAIR, LIGHT_PAIR],
    "w05_attention_backward_causal": [REF_PAIR, EINSUM_PAIR, LOOP_PAIR, LIGHT_PAIR, RENORMALISED_PAIR],
    "w05_multihead_attention_forward": [mha_heads, mha_fused, tref.multihead_attention_forward],
    "w05_multihead_attention_forward_causal": [mha_heads, mha_fused, tref.multihead_attention_forward],
    "w05_multihead_attention_backward": [MHA_PAIR, FUSED_PAIR, MHA_REF_PAIR],
    "w05_multihead_attention_param_grads": [MHA_PAIR, FUSED_PAIR, MHA_REF_PAIR],
}

NOT_IMPLEMENTED = "not implemented yet"
FORWARD_FIRST = "which is not implemented yet: write the forward first"


def _pair(backward, forward=attention_einsum):
    return Together(backward, forward)


WRONG = [
    ("w05_softmax_backward", sb_diagonal, "only the diagonal"),
    ("w05_softmax_backward", sb_sign, "adds the outer-product term"),
    ("w05_softmax_backward", sb_first_term, r"your dx is p \* dp"),
    ("w05_softmax_backward", sb_axis0, "runs over the wrong axis"),
    ("w05_softmax_backward", sb_axis1, "runs over the wrong axis"),
    ("w05_softmax_backward", sb_in_place, "changed its input `dp` in place"),
    ("w05_softmax_backward", stub, NOT_IMPLEMENTED),
    ("w05_attention_forward", attention_no_scale, "not scaled"),
    ("w05_attention_forward", attention_by_d, "divided by d"),
    ("w05_attention_forward", attention_query_axis, "over the queries"),
    ("w05_attention_forward", attention_k_dot_t, "raised ValueError"),
    ("w05_attention_forward", attention_unstable, "NaN.*subtracts each row's maximum"),
    ("w05_attention_forward", attention_scales_q_in_place, "changed its input `q` in place"),
    ("w05_attention_forward", attention_out_only, r"must return the pair \(out, cache\)"),
    ("w05_attention_forward", stub, NOT_IMPLEMENTED),
    ("w05_attention_forward_causal", attention_ignores_causal, "attention without the mask"),
    ("w05_attention_forward_causal", attention_mask_after, "masked after the softmax"),
    ("w05_attention_forward_causal", attention_mask_zero, "masked scores to 0"),
    ("w05_attention_forward_causal", attention_mask_past, "wrong triangle"),
    ("w05_attention_forward_causal", attention_mask_diagonal, "NaN.*a query always sees itself"),
    ("w05_attention_forward_causal", attention_no_scale, "not scaled"),
    ("w05_attention_forward_causal", stub, NOT_IMPLEMENTED),
    ("w05_attention_backward", _pair(backward_first_term), "without its second term"),
    ("w05_attention_backward", _pair(backward_diagonal), "only the diagonal"),
    ("w05_attention_backward", _pair(backward_no_scale), r"miss the 1/sqrt\(d\)"),
    ("w05_attention_backward", _pair(backward_dk_transposed), "your dk is transposed"),
    ("w05_attention_backward", _pair(backward_dk_plain), "raised ValueError"),
    ("w05_attention_backward", _pair(backward_dv_plain), "raised ValueError"),
    ("w05_attention_backward", _pair(backward_two_parts), r"must return a tuple \(dq, dk, dv\)"),
    ("w05_attention_backward", _pair(backward_in_place), "changed its input `dout` in place"),
    ("w05_attention_backward", _pair(stub), NOT_IMPLEMENTED),
    ("w05_attention_backward", _pair(attention_einsum_backward, stub), FORWARD_FIRST),
    ("w05_attention_backward", _pair(attention_einsum_backward, attention_no_scale), "fix the forward first"),
    ("w05_attention_backward_causal", _pair(backward_dk_plain), "your dk is dS q"),
    ("w05_attention_backward_causal", _pair(backward_dv_plain), "your dv is P dout"),
    ("w05_attention_backward_causal", _pair(backward_first_term), "without its second term"),
    ("w05_attention_backward_causal", _pair(light_backward_unmasked, attention_light), "values are wrong"),
    (
        "w05_attention_backward_causal",
        _pair(attention_einsum_backward, attention_mask_after),
        "fix the forward first.*masked after the softmax",
    ),
    ("w05_attention_backward_causal", _pair(stub), NOT_IMPLEMENTED),
    ("w05_multihead_attention_forward", mha_interleaved, "interleaved columns"),
    ("w05_multihead_attention_forward", mha_split_no_transpose, r"straight to \(B, n_heads, T, dh\)"),
    ("w05_multihead_attention_forward", mha_merge_no_transpose, "concatenated in the wrong order"),
    ("w05_multihead_attention_forward", mha_scaled_by_D, r"scaled by sqrt\(D\)"),
    ("w05_multihead_attention_forward", mha_heads_averaged, "averaged"),
    ("w05_multihead_attention_forward", mha_no_projection, "concatenated heads: project them"),
    ("w05_multihead_attention_forward", mha_array_split, "must raise ValueError; nothing was raised"),
    ("w05_multihead_attention_forward", mha_type_error, "must raise ValueError, not TypeError"),
    ("w05_multihead_attention_forward", mha_folds_scale_in_place, r"changed its input `params\['Wq'\]` in place"),
    ("w05_multihead_attention_forward", stub, NOT_IMPLEMENTED),
    ("w05_multihead_attention_forward_causal", mha_ignores_causal, "without the mask"),
    ("w05_multihead_attention_forward_causal", mha_interleaved, "interleaved columns"),
    ("w05_multihead_attention_forward_causal", stub, NOT_IMPLEMENTED),
    ("w05_multihead_attention_backward", _pair(mha_backward_without_q, mha_heads), "path through the queries"),
    ("w05_multihead_attention_backward", _pair(mha_backward_without_k, mha_heads), "path through the keys"),
    ("w05_multihead_attention_backward", _pair(mha_backward_without_v, mha_heads), "path through the values"),
    ("w05_multihead_attention_backward", _pair(mha_backward_dx_only, mha_heads), r"must return a tuple \(dx, grads\)"),
    ("w05_multihead_attention_backward", _pair(mha_backward_in_place, mha_heads), "changed its input `dout`"),
    ("w05_multihead_attention_backward", _pair(mha_heads_backward, mha_interleaved), "fix the forward first.*interleaved"),
    ("w05_multihead_attention_backward", _pair(stub, mha_heads), NOT_IMPLEMENTED),
    ("w05_multihead_attention_backward", _pair(mha_heads_backward, stub), FORWARD_FIRST),
    ("w05_multihead_attention_param_grads", _pair(mha_backward_bias_batch, mha_heads), "over the batch axis only"),
    ("w05_multihead_attention_param_grads", _pair(mha_backward_bias_mean, mha_heads), "bias gradient is a mean"),
    (
        "w05_multihead_attention_param_grads",
        _pair(mha_backward_weight_transposed, mha_heads),
        r"grads\['Wq'\]: this weight gradient is transposed",
    ),
    ("w05_multihead_attention_param_grads", _pair(mha_backward_weight_per_batch, mha_heads), "one matrix per batch"),
    (
        "w05_multihead_attention_param_grads",
        _pair(mha_backward_omits_bk, mha_heads),
        r"grads a dict of the keys .*got \['Wk', 'Wo'",
    ),
    ("w05_multihead_attention_param_grads", _pair(stub, mha_heads), NOT_IMPLEMENTED),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w05_attention", CORRECT, WRONG)


def test_partial_credit_between_dx_and_the_parameter_gradients():
    """A backward with wrong bias gradients still earns the dx points; one without the key path the grads point."""
    run_case("w05_multihead_attention_backward", mha_backward_bias_batch, mha_heads)
    run_case("w05_multihead_attention_param_grads", mha_backward_without_k, mha_heads)


def test_float32_answers_stay_float32_and_pass():
    """The float32 runs accept float32 answers (einsum variants keep the type: math.sqrt, not np.sqrt)."""
    q = np.ones((1, 2, 4), dtype=np.float32)
    assert attention_einsum(q, q, q, True)[0].dtype == np.float32
    x = np.ones((1, 2, 4), dtype=np.float32)
    params = {key: np.ones((4, 4) if key[0] == "W" else 4, dtype=np.float32) for key in KEYS}
    assert mha_fused(x, params, 2, True)[0].dtype == np.float32


# ---- the mistakes and the mistake helpers ------------------------------------------------------------------------


def test_helpers_without_a_change_are_the_reference():
    """attend and mha, the helpers that make the mistakes' outputs, give the reference when nothing is changed, so each
    mistake differs from the reference by the one piece it names."""
    rng = np.random.default_rng(3)
    q, k, v = ref.qkv(rng, (2, 3, 5, 4), 5, 3)
    for causal in (False, True):
        np.testing.assert_allclose(ref.attend(q, k, v, causal), tref.attention_forward(q, k, v, causal)[0], rtol=1e-13)
    x, params = rng.normal(size=(2, 5, 8)), ref.mha_params(rng, 8)
    for n_heads in (1, 2, 4):
        for causal in (False, True):
            np.testing.assert_allclose(
                ref.mha(x, params, n_heads, causal), tref.multihead_attention_forward(x, params, n_heads, causal)[0], rtol=1e-13
            )


def test_masking_after_the_softmax_and_renormalising_is_right():
    """Why the renormalised variant is accepted: the rows rescaled after zeroing are the masked softmax exactly."""
    rng = np.random.default_rng(4)
    q, k, v = ref.qkv(rng, (3, 6, 4), 6, 5)
    np.testing.assert_allclose(attention_renormalised(q, k, v, True)[0], tref.attention_forward(q, k, v, True)[0], rtol=1e-12)
    zeroed = ref.attend(q, k, v, True, mask="after") @ np.eye(5)
    assert not np.allclose(zeroed, tref.attention_forward(q, k, v, True)[0])


def test_key_bias_gradient_is_zero():
    """grads['bk'] of the reference is round-off (shift invariance), while the other gradients are of order 1."""
    rng = np.random.default_rng(5)
    x, params = rng.normal(size=(3, 5, 8)), ref.mha_params(rng, 8)
    _, cache = tref.multihead_attention_forward(x, params, 2, True)
    _, grads = tref.multihead_attention_backward(rng.normal(size=x.shape), cache)
    assert np.max(np.abs(grads["bk"])) < 1e-13 * max(np.max(np.abs(g)) for g in grads.values())
    assert np.max(np.abs(grads["bq"])) > 1e-3


def _parts_differ(outputs: dict, right: np.ndarray) -> set[str]:
    return {name for name, out in outputs.items() if out.shape != right.shape or not np.allclose(out, right)}


def test_every_named_mistake_differs_from_the_reference_on_its_cases():
    """Each named mistake can be told from the right answer on at least one input of the cases that name it."""
    named: set[str] = set()
    inputs, _ = get_case("w05_softmax_backward").build()
    for call in inputs["calls"]:
        dp, p = call.args
        named |= _parts_differ(ref.softmax_backward_mistakes(dp, p), tref.softmax_backward(*ref._f64(dp, p)))
    assert named == set(ref.SOFTMAX_BACKWARD_MISTAKES)

    named = set()
    for case in ("w05_attention_forward", "w05_attention_forward_causal"):
        for run in get_case(case).build()[0]["runs"]:
            q, k, v = run["args"]
            causal = bool(run["kwargs"].get("causal"))
            named |= _parts_differ(ref.attention_forward_mistakes(q, k, v, causal), tref.attention_forward(q, k, v, causal)[0])
    assert named == set(ref.FORWARD_MISTAKES)

    named = set()
    for case in ("w05_attention_backward", "w05_attention_backward_causal"):
        for run in get_case(case).build()[0]["runs"]:
            q, k, v = run["args"]
            causal = bool(run["kwargs"].get("causal"))
            _, cache = tref.attention_forward(q, k, v, causal)
            right = dict(zip(("dq", "dk", "dv"), tref.attention_backward(np.asarray(run["dout"], float), cache)))
            for part, outputs in ref.attention_backward_mistakes(q, k, v, run["dout"], causal).items():
                named |= _parts_differ(outputs, right[part])
    assert named == set(ref.BACKWARD_MISTAKES)

    named = set()
    for case in ("w05_multihead_attention_forward", "w05_multihead_attention_forward_causal"):
        for run in get_case(case).build()[0]["runs"]:
            x, params, n_heads = run["args"]
            if x.shape[-1] % n_heads:
                continue
            causal = bool(run["kwargs"].get("causal"))
            named |= _parts_differ(
                ref.mha_forward_mistakes(x, params, n_heads, causal),
                tref.multihead_attention_forward(x, params, n_heads, causal)[0],
            )
    assert named == set(ref.MHA_FORWARD_MISTAKES)

    named = set()
    for run in get_case("w05_multihead_attention_backward").build()[0]["runs"]:
        x, params, n_heads = run["args"]
        causal = bool(run["kwargs"].get("causal"))
        _, cache = tref.multihead_attention_forward(x, params, n_heads, causal)
        dx, grads = tref.multihead_attention_backward(np.asarray(run["dout"], float), cache)
        right = {"dx": dx} | grads
        for part, outputs in ref.mha_backward_mistakes(x, params, n_heads, run["dout"], causal).items():
            named |= _parts_differ(outputs, right[part])
    assert named == set(ref.MHA_BACKWARD_MISTAKES)


# ---- visible checks ----------------------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.softmax_backward, sb_jacobian),
    (visible.softmax_backward, sb_einsum),
    (visible.attention_forward, attention_einsum),
    (visible.attention_forward, attention_loops),
    (visible.attention_forward_causal, attention_renormalised),
    (visible.attention_forward_causal, attention_loops),
    (visible.attention_backward, EINSUM_PAIR),
    (visible.attention_backward, LOOP_PAIR),
    (visible.attention_backward, LIGHT_PAIR),
    (visible.attention_backward_causal, EINSUM_PAIR),
    (visible.attention_backward_causal, LIGHT_PAIR),
    (visible.multihead_attention_forward, mha_heads),
    (visible.multihead_attention_forward, mha_fused),
    (visible.multihead_attention_forward_causal, mha_heads),
    (visible.multihead_attention_backward, MHA_PAIR),
    (visible.multihead_attention_backward, FUSED_PAIR),
    (visible.multihead_attention_param_grads, MHA_PAIR),
    (visible.multihead_attention_param_grads, FUSED_PAIR),
]

VISIBLE_WRONG = [
    (visible.softmax_backward, sb_diagonal, "only the diagonal"),
    (visible.softmax_backward, sb_first_term, r"p \* dp"),
    (visible.softmax_backward, sb_axis1, "wrong axis"),
    (visible.softmax_backward, sb_in_place, "changed its input"),
    (visible.softmax_backward, stub, NOT_IMPLEMENTED),
    (visible.attention_forward, attention_no_scale, "not scaled"),
    (visible.attention_forward, attention_query_axis, "over the queries"),
    (visible.attention_forward, attention_scales_q_in_place, "changed its input `q`"),
    (visible.attention_forward, attention_out_only, r"must return a tuple \(out, cache\)"),
    (visible.attention_forward, stub, NOT_IMPLEMENTED),
    (visible.attention_forward_causal, attention_ignores_causal, "without the mask"),
    (visible.attention_forward_causal, attention_mask_after, "masked after the softmax"),
    (visible.attention_forward_causal, attention_mask_zero, "masked scores to 0"),
    (visible.attention_forward_causal, attention_mask_past, "wrong triangle"),
    (visible.attention_forward_causal, attention_mask_diagonal, "NaN"),
    (visible.attention_backward, _pair(backward_first_term), "without its second term"),
    (visible.attention_backward, _pair(backward_no_scale), r"1/sqrt\(d\)"),
    (visible.attention_backward, _pair(backward_dk_transposed), "transposed"),
    (visible.attention_backward, _pair(backward_in_place), "changed its input `dout`"),
    (visible.attention_backward, _pair(stub), NOT_IMPLEMENTED),
    (visible.attention_backward, _pair(attention_einsum_backward, stub), NOT_IMPLEMENTED),
    (visible.attention_backward_causal, _pair(backward_dk_plain), "your dk is dS q"),
    (visible.attention_backward_causal, _pair(backward_dv_plain), "your dv is P dout"),
    (visible.attention_backward_causal, _pair(light_backward_unmasked, attention_light), "values are wrong"),
    (visible.multihead_attention_forward, mha_interleaved, "interleaved"),
    (visible.multihead_attention_forward, mha_merge_no_transpose, "wrong order"),
    (visible.multihead_attention_forward, mha_split_no_transpose, "mixes positions and heads"),
    (visible.multihead_attention_forward, mha_scaled_by_D, r"sqrt\(D\)"),
    (visible.multihead_attention_forward, mha_heads_averaged, "averaged"),
    (visible.multihead_attention_forward, mha_no_projection, "project them"),
    (visible.multihead_attention_forward, mha_array_split, "must raise ValueError: 8 columns"),
    (visible.multihead_attention_forward, mha_type_error, "not TypeError"),
    (visible.multihead_attention_forward, mha_folds_scale_in_place, r"changed its input `params\['Wq'\]`"),
    (visible.multihead_attention_forward, stub, NOT_IMPLEMENTED),
    (visible.multihead_attention_forward_causal, mha_ignores_causal, "without the mask"),
    (visible.multihead_attention_backward, _pair(mha_backward_without_v, mha_heads), "through the values"),
    (visible.multihead_attention_backward, _pair(mha_backward_without_q, mha_heads), "through the queries"),
    (visible.multihead_attention_backward, _pair(mha_backward_in_place, mha_heads), "changed its input `dout`"),
    (visible.multihead_attention_backward, _pair(stub, mha_heads), NOT_IMPLEMENTED),
    (visible.multihead_attention_param_grads, _pair(mha_backward_bias_batch, mha_heads), "batch axis only"),
    (visible.multihead_attention_param_grads, _pair(mha_backward_bias_mean, mha_heads), "is a mean"),
    (visible.multihead_attention_param_grads, _pair(mha_backward_weight_transposed, mha_heads), "transposed"),
    (visible.multihead_attention_param_grads, _pair(mha_backward_weight_per_batch, mha_heads), "per batch element"),
    (visible.multihead_attention_param_grads, _pair(mha_backward_omits_bk, mha_heads), "a dict of the keys"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
