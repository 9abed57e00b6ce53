"""Week 5, layer norm, token embeddings and sinusoidal positions: correct variants pass every hidden case, the known
mistakes fail with their diagnosis, the visible checks say the same, and what the trusted module adds (its centred
differences, the inputs of its cases through the references) agrees with JAX and with loops."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import transformer_reference as tr
from autograder.cases import w05_layers as ref
from autograder.protocol import get_case, run_case
from dlfs.checks import week05 as visible

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [
    pytest.mark.week05,
    pytest.mark.w05_layers,
    pytest.mark.autograder,
    pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning"),
]


def stub(*args, **kwargs):
    raise NotImplementedError()


# ---- layer norm: correct variants ------------------------------------------------------------------------------


def ln_loops(x, gamma, beta, eps=1e-5):
    """Vector by vector with Python sums, in float64; the cache keeps x (the graph backward recomputes from it)."""
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape[:-1]):
        values = [float(v) for v in x[index]]
        mu = sum(values) / len(values)
        std = math.sqrt(sum((v - mu) ** 2 for v in values) / len(values) + eps)
        out[index] = [float(g) * (v - mu) / std + float(b) for v, g, b in zip(values, gamma, beta)]
    return out, (x.astype(np.float64), np.asarray(gamma, dtype=np.float64), eps)


def ln_graph_backward(dout, cache):
    """Node by node through x -> x - mu -> var -> std -> x_hat -> out, recomputed from x."""
    x, gamma, eps = cache
    D = x.shape[-1]
    xmu = x - x.sum(axis=-1, keepdims=True) / D
    var = (xmu**2).sum(axis=-1, keepdims=True) / D
    std = np.sqrt(var + eps)
    dxhat = dout * gamma
    dstd = -(dxhat * xmu).sum(axis=-1, keepdims=True) / std**2
    dxmu = dxhat / std + 2 * xmu * (dstd / (2 * std)) / D
    dx = dxmu - dxmu.sum(axis=-1, keepdims=True) / D
    lead = tuple(range(x.ndim - 1))
    return dx, (dout * xmu / std).sum(axis=lead), dout.sum(axis=lead)


def ln_rows(x, gamma, beta, eps=1e-5):
    """On x.reshape(-1, D) with np.var, in x's type (float32 stays float32); a dict cache."""
    D = x.shape[-1]
    rows = x.reshape(-1, D)
    std = np.sqrt(rows.var(axis=1, keepdims=True) + eps)
    xhat = (rows - rows.mean(axis=1, keepdims=True)) / std
    return (gamma * xhat + beta).reshape(x.shape), {"xhat": xhat, "std": std, "gamma": gamma, "shape": x.shape}


def ln_rows_backward(dout, cache):
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    d = dout.reshape(xhat.shape)
    g = d * gamma
    dx = (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True)) / std
    return dx.reshape(cache["shape"]), (d * xhat).sum(axis=0), d.sum(axis=0)


def ln_moments(x, gamma, beta, eps=1e-5):
    """The variance as E[x^2] - E[x]^2 (in float64: fine at these offsets), an inverse std in the cache."""
    x = x.astype(np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    inv = 1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) - mu * mu + eps)
    xhat = (x - mu) * inv
    return gamma * xhat + beta, (xhat, inv, gamma)


def ln_backward(dout, cache):
    """The formula with sums over D, on an (x_hat, inv, gamma) cache."""
    xhat, inv, gamma = cache
    D = dout.shape[-1]
    lead = tuple(range(dout.ndim - 1))
    g = dout * gamma
    dx = (D * g - g.sum(axis=-1, keepdims=True) - xhat * (g * xhat).sum(axis=-1, keepdims=True)) * inv / D
    return dx, (dout * xhat).sum(axis=lead), dout.sum(axis=lead)


# ---- layer norm: wrong variants ----------------------------------------------------------------------------------


def _ln(x, gamma, beta, eps=1e-5, *, axis=-1, ddof=0, outside=False, affine=True, fixed_eps=None):
    eps = eps if fixed_eps is None else fixed_eps
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, ddof=ddof, keepdims=True)
    inv = 1 / (np.sqrt(var) + eps) if outside else 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    return (gamma * xhat + beta if affine else xhat), (xhat, inv, gamma)


def ln_batch_axis(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, axis=0)


def ln_leading_axes(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, axis=tuple(range(x.ndim - 1)))


def ln_whole_array(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, axis=None)


def ln_unbiased(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, ddof=1)


def ln_eps_outside(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, outside=True)


def ln_no_affine(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, affine=False)


def ln_fixed_eps(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, fixed_eps=1e-5)


def ln_no_eps(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps, fixed_eps=0.0)


def ln_out_only(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps)[0]


def ln_in_place(x, gamma, beta, eps=1e-5):
    x -= x.mean(axis=-1, keepdims=True)
    return _ln(x, gamma, beta, eps)


def _ln_backward(
    dout,
    cache,
    *,
    mean_term=True,
    var_term=True,
    use_gamma=True,
    use_inv=True,
    axis=-1,
    dgamma_xhat=True,
    param_axes=None,
    dbeta_mean=False,
):
    xhat, inv, gamma = cache
    g = dout * gamma if use_gamma else dout
    dx = g.copy()
    if mean_term:
        dx = dx - g.mean(axis=axis, keepdims=True)
    if var_term:
        dx = dx - xhat * (g * xhat).mean(axis=axis, keepdims=True)
    lead = tuple(range(dout.ndim - 1)) if param_axes is None else param_axes
    dgamma = (dout * xhat if dgamma_xhat else dout).sum(axis=lead)
    dbeta = dout.mean(axis=lead) if dbeta_mean else dout.sum(axis=lead)
    return dx * inv if use_inv else dx, dgamma, dbeta


def lnb_no_mean(dout, cache):
    return _ln_backward(dout, cache, mean_term=False)


def lnb_no_var(dout, cache):
    return _ln_backward(dout, cache, var_term=False)


def lnb_no_terms(dout, cache):
    return _ln_backward(dout, cache, mean_term=False, var_term=False)


def lnb_no_gamma(dout, cache):
    return _ln_backward(dout, cache, use_gamma=False)


def lnb_no_inv(dout, cache):
    return _ln_backward(dout, cache, use_inv=False)


def lnb_batch_axis(dout, cache):
    return _ln_backward(dout, cache, axis=0)


def lnb_dgamma_sum(dout, cache):
    return _ln_backward(dout, cache, dgamma_xhat=False)


def lnb_axis0(dout, cache):
    return _ln_backward(dout, cache, param_axes=0)


def lnb_dbeta_mean(dout, cache):
    return _ln_backward(dout, cache, dbeta_mean=True)


def lnb_dx_only(dout, cache):
    return _ln_backward(dout, cache)[0]


def lnb_in_place(dout, cache):
    dout *= cache[2]
    return _ln_backward(dout / cache[2], cache)


def _ln_right(x, gamma, beta, eps=1e-5):
    return _ln(x, gamma, beta, eps)


def _lnb_right(dout, cache):
    return _ln_backward(dout, cache)


# ---- embeddings: correct and wrong variants -------------------------------------------------------------------------


def emb_onehot(idx, W):
    """One-hot rows times the table (exact: every sum adds zeros); the cache keeps the one-hot rows."""
    onehot = (idx[..., None] == np.arange(W.shape[0])).astype(W.dtype)
    return onehot @ W, onehot


def emb_onehot_backward(dout, cache):
    V = cache.shape[-1]
    return cache.reshape(-1, V).T @ dout.reshape(-1, dout.shape[-1])


def emb_take(idx, W):
    return np.take(W, idx, axis=0), (idx, W)


def emb_loop_backward(dout, cache):
    idx, W = cache
    dW = np.zeros(W.shape)
    for position, token in np.ndenumerate(idx):
        dW[token] += dout[position]
    return dW


def emb_bincount_backward(dout, cache):
    idx, W = cache
    flat, rows = idx.reshape(-1), dout.reshape(-1, W.shape[1])
    return np.stack([np.bincount(flat, weights=rows[:, j], minlength=W.shape[0]) for j in range(W.shape[1])], axis=1)


def emb_index(idx, W):
    return W[idx], (idx, W.shape)


def emb_add_at_backward(dout, cache):
    idx, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dW, idx, dout)
    return dW


def emb_transposed(idx, W):
    return W[:, idx], (idx, W.shape)


def emb_flattened(idx, W):
    return W[idx.reshape(-1)], (idx, W.shape)


def emb_out_only(idx, W):
    return W[idx]


def emb_overwrite_backward(dout, cache):
    idx, shape = cache
    dW = np.zeros(shape)
    dW[idx] = dout
    return dW


def emb_plus_equals_backward(dout, cache):
    idx, shape = cache
    dW = np.zeros(shape)
    dW[idx] += dout
    return dW


def emb_rows_from_idx_backward(dout, cache):
    idx, _ = cache
    dW = np.zeros((idx.max() + 1, dout.shape[-1]))
    np.add.at(dW, idx, dout)
    return dW


def emb_transposed_backward(dout, cache):
    return emb_add_at_backward(dout, cache).T


def emb_dout_backward(dout, cache):
    return dout


def emb_mean_backward(dout, cache):
    """Repeats averaged instead of summed."""
    idx, shape = cache
    dW = emb_add_at_backward(dout, cache)
    counts = np.bincount(idx.reshape(-1), minlength=shape[0])
    return dW / np.maximum(counts, 1)[:, None]


def emb_in_place_backward(dout, cache):
    dout *= 2
    return emb_add_at_backward(dout / 2, cache)


# ---- positional encodings ------------------------------------------------------------------------------------------


def pe_loops(T, d):
    PE = np.zeros((T, d))
    for t in range(T):
        for j in range(d):
            angle = t / 10000 ** (2 * (j // 2) / d)
            PE[t, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return PE


def pe_exp_log(T, d):
    div = np.exp(np.arange(0, d, 2) * (-math.log(10000.0) / d))
    angles = np.arange(T)[:, None] * div
    PE = np.zeros((T, d))
    PE[:, 0::2] = np.sin(angles)
    PE[:, 1::2] = np.cos(angles)[:, : d // 2]
    return PE


def pe_stacked(T, d):
    """Sine and cosine stacked on a new last axis, reshaped to interleave, cut to d columns."""
    angles = np.arange(T)[:, None] / np.power(10000.0, np.arange((d + 1) // 2) * 2 / d)
    return np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(T, -1)[:, :d]


def pe_odd_fails(T, d):
    """Right for even d; for odd d the cosine columns are one fewer than the frequencies (a broadcasting error)."""
    angles = np.arange(T)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    PE = np.zeros((T, d))
    PE[:, 0::2] = np.sin(angles)
    PE[:, 1::2] = np.cos(angles)
    return PE


def _pe_wrong(T, d, **kwargs):
    return ref._pe(T, d, **kwargs)


def pe_swapped(T, d):
    return _pe_wrong(T, d, swap=True)


def pe_half_exponent(T, d):
    return _pe_wrong(T, d, rate="half")


def pe_column_exponent(T, d):
    return np.where(
        np.arange(d) % 2 == 0,
        np.sin(np.arange(T)[:, None] / 10000 ** (np.arange(d) / d)),
        np.cos(np.arange(T)[:, None] / 10000 ** (np.arange(d) / d)),
    )


def pe_column_doubled(T, d):
    return _pe_wrong(T, d, rate="doubled")


def pe_halves(T, d):
    angles = np.arange(T)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    return np.concatenate([np.sin(angles), np.cos(angles)[:, : d // 2]], axis=1)


def pe_base_1000(T, d):
    return _pe_wrong(T, d, base=1000.0)


def pe_from_one(T, d):
    return pe_exp_log(T + 1, d)[1:]


def pe_transposed(T, d):
    return pe_exp_log(T, d).T


def pe_odd_short(T, d):
    """d // 2 frequencies, each a sine and a cosine: right for even d, one column short for odd d."""
    angles = np.arange(T)[:, None] / 10000 ** (2 * np.arange(d // 2) / d)
    return np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(T, -1)


def pe_odd_long(T, d):
    angles = np.arange(T)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    return np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(T, -1)


def pe_float32(T, d):
    return pe_exp_log(T, d).astype(np.float32)


# ---- the hidden cases --------------------------------------------------------------------------------------------

LN_FORWARDS = [ln_loops, ln_rows, ln_moments, tr.layernorm_forward, _ln_right]
LN_BACKWARDS = [
    Together(ln_graph_backward, ln_loops),
    Together(ln_rows_backward, ln_rows),
    Together(ln_backward, ln_moments),
    Together(ln_backward, _ln_right),
    Together(tr.layernorm_backward, tr.layernorm_forward),
]
EMB_FORWARDS = [emb_index, emb_onehot, emb_take, tr.embedding_forward]
EMB_BACKWARDS = [
    Together(emb_add_at_backward, emb_index),
    Together(emb_onehot_backward, emb_onehot),
    Together(emb_loop_backward, emb_take),
    Together(emb_bincount_backward, emb_take),
    Together(tr.embedding_backward, tr.embedding_forward),
]
PES = [pe_loops, pe_exp_log, pe_stacked, tr.positional_encoding]

CORRECT = {
    "w05_layernorm_forward": LN_FORWARDS,
    "w05_layernorm_forward_edge": LN_FORWARDS,
    "w05_layernorm_backward": LN_BACKWARDS,
    "w05_layernorm_param_grads": LN_BACKWARDS,
    "w05_embedding_forward": EMB_FORWARDS,
    # no token repeats in this case: overwriting rows is right there, and earns its point
    "w05_embedding_backward": [
        *EMB_BACKWARDS,
        Together(emb_overwrite_backward, emb_index),
        Together(emb_plus_equals_backward, emb_index),
    ],
    "w05_embedding_backward_repeats": EMB_BACKWARDS,
    "w05_positional_encoding": [*PES, pe_odd_fails],  # right for even d
    "w05_positional_encoding_edge": PES,
}

WRONG = [
    ("w05_layernorm_forward", stub, "is not implemented yet"),
    ("w05_layernorm_forward", ln_batch_axis, r"over the batch axis \(axis=0\), as batch normalisation"),
    ("w05_layernorm_forward", ln_leading_axes, "batch normalisation"),
    ("w05_layernorm_forward", ln_whole_array, "mean and the variance of the whole array"),
    ("w05_layernorm_forward", ln_unbiased, r"sample variance \(ddof=1\)"),
    ("w05_layernorm_forward", ln_eps_outside, "epsilon is outside the square root"),
    ("w05_layernorm_forward", ln_no_affine, "x_hat alone"),
    ("w05_layernorm_forward", ln_out_only, r"must return a tuple \(out, cache\)"),
    ("w05_layernorm_forward", ln_in_place, "changed its input `x` in place"),
    ("w05_layernorm_forward_edge", stub, "is not implemented yet"),
    ("w05_layernorm_forward_edge", ln_no_eps, "row 2 constant.*a constant vector has variance 0"),
    ("w05_layernorm_forward_edge", ln_eps_outside, "epsilon is outside the square root"),
    ("w05_layernorm_forward_edge", ln_fixed_eps, "ignores the eps argument"),
    ("w05_layernorm_forward_edge", ln_unbiased, "sample variance"),
    ("w05_layernorm_forward_edge", ln_batch_axis, "batch axis"),
    ("w05_layernorm_backward", Together(stub, _ln_right), "^stub is not implemented yet"),
    ("w05_layernorm_backward", Together(_lnb_right, stub), "forward, which is not implemented yet"),
    ("w05_layernorm_backward", Together(_lnb_right, ln_eps_outside), "fix the forward first.*epsilon is outside"),
    ("w05_layernorm_backward", Together(_lnb_right, ln_out_only), r"must return the pair \(out, cache\)"),
    ("w05_layernorm_backward", Together(_lnb_right, ln_in_place), "changed `x` in place"),
    ("w05_layernorm_backward", Together(lnb_no_mean, _ln_right), "missing a term, the mean term"),
    ("w05_layernorm_backward", Together(lnb_no_var, _ln_right), "missing a term, the variance term"),
    ("w05_layernorm_backward", Together(lnb_no_terms, _ln_right), "as if the mean and the variance were constants"),
    ("w05_layernorm_backward", Together(lnb_no_gamma, _ln_right), "ignores gamma"),
    ("w05_layernorm_backward", Together(lnb_no_inv, _ln_right), r"not divided by sqrt\(var \+ eps\)"),
    ("w05_layernorm_backward", Together(lnb_batch_axis, _ln_right), r"means in your dx run over the batch axis"),
    ("w05_layernorm_backward", Together(lnb_dx_only, _ln_right), r"must return a tuple \(dx, dgamma, dbeta\)"),
    ("w05_layernorm_backward", Together(lnb_in_place, _ln_right), "changed `dout` in place"),
    ("w05_layernorm_param_grads", Together(stub, _ln_right), "not implemented yet"),
    ("w05_layernorm_param_grads", Together(lnb_dgamma_sum, _ln_right), "dgamma is the sum of dout"),
    ("w05_layernorm_param_grads", Together(lnb_axis0, _ln_right), "summed over axis 0 only"),
    ("w05_layernorm_param_grads", Together(lnb_dbeta_mean, _ln_right), "dbeta is the mean of dout"),
    ("w05_embedding_forward", stub, "is not implemented yet"),
    ("w05_embedding_forward", emb_transposed, r"indexes the columns of W|raised IndexError"),
    ("w05_embedding_forward", emb_flattened, "flattened"),
    ("w05_embedding_forward", emb_out_only, r"must return a tuple \(out, cache\)"),
    ("w05_embedding_backward", Together(stub, emb_index), "^stub is not implemented yet"),
    ("w05_embedding_backward", Together(emb_add_at_backward, stub), "forward, which is not implemented yet"),
    ("w05_embedding_backward", Together(emb_add_at_backward, emb_flattened), "fix the forward first.*flattened"),
    ("w05_embedding_backward", Together(emb_rows_from_idx_backward, emb_index), r"idx.max\(\) \+ 1 rows"),
    ("w05_embedding_backward", Together(emb_transposed_backward, emb_index), "dW is transposed"),
    ("w05_embedding_backward", Together(emb_dout_backward, emb_index), "shape of dout"),
    ("w05_embedding_backward", Together(emb_in_place_backward, emb_index), "changed `dout` in place"),
    ("w05_embedding_backward_repeats", Together(stub, emb_index), "not implemented yet"),
    (
        "w05_embedding_backward_repeats",
        Together(emb_overwrite_backward, emb_index),
        "embedding backward overwriting repeated indices",
    ),
    (
        "w05_embedding_backward_repeats",
        Together(emb_plus_equals_backward, emb_index),
        "embedding backward overwriting repeated indices",
    ),
    ("w05_embedding_backward_repeats", Together(emb_rows_from_idx_backward, emb_index), r"idx.max\(\) \+ 1 rows"),
    ("w05_embedding_backward_repeats", Together(emb_mean_backward, emb_index), "values are wrong"),
    ("w05_embedding_backward_repeats", Together(emb_add_at_backward, emb_out_only), r"must return the pair"),
    ("w05_positional_encoding", stub, "is not implemented yet"),
    ("w05_positional_encoding", pe_swapped, "sines and cosines are swapped"),
    ("w05_positional_encoding", pe_half_exponent, "exponent i/d with i the pair index"),
    ("w05_positional_encoding", pe_column_exponent, r"column index j in 10000\*\*\(j / d\)"),
    ("w05_positional_encoding", pe_column_doubled, r"10000\*\*\(2j / d\) with j the column index"),
    ("w05_positional_encoding", pe_halves, "all the sines first"),
    ("w05_positional_encoding", pe_base_1000, "base 1000"),
    ("w05_positional_encoding", pe_from_one, "positions start at 1"),
    ("w05_positional_encoding", pe_transposed, "PE is transposed"),
    ("w05_positional_encoding", pe_float32, "returned float32"),
    ("w05_positional_encoding_edge", stub, "is not implemented yet"),
    ("w05_positional_encoding_edge", pe_odd_fails, r"\(10, 7\) raised ValueError: .* only 3 cosine columns"),
    ("w05_positional_encoding_edge", pe_odd_short, "d - 1 columns for odd d"),
    ("w05_positional_encoding_edge", pe_odd_long, r"d \+ 1 columns for odd d"),
    ("w05_positional_encoding_edge", pe_halves, "all the sines first"),
    ("w05_positional_encoding_edge", pe_swapped, "swapped"),
    ("w05_positional_encoding_edge", pe_from_one, "positions start at 1"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w05_layers", CORRECT, WRONG)


def test_a_wrong_backward_keeps_the_points_of_the_other_part():
    """Partial credit: a dx without its mean term still earns the dgamma/dbeta point, a wrong dbeta the dx points."""
    run_case("w05_layernorm_param_grads", lnb_no_mean, _ln_right)
    run_case("w05_layernorm_backward", lnb_dbeta_mean, _ln_right)


# ---- what the trusted module adds, against JAX and loops ----------------------------------------------------------


def _backward_problems(case_id: str) -> list[dict]:
    """The problems the case sends, rebuilt from its seed (the judge's own copies, with labels)."""
    if case_id.startswith("w05_layernorm"):
        return ref.layernorm_problems(np.random.default_rng(_seed(case_id)))
    inputs, _ = get_case(case_id).build()
    return [dict(p, numeric=True, numeric_of=ref.embedding_numeric) for p in inputs["problems"]]


def _seed(case_id: str) -> int:
    import zlib

    return zlib.crc32(case_id.encode())


def _jax_layernorm(jnp, x, gamma, beta, eps):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return gamma * (x - mu) / jnp.sqrt(var + eps) + beta


@pytest.mark.parametrize("case_id", ["w05_layernorm_backward", "w05_layernorm_param_grads"])
def test_layernorm_problems_against_loops(case_id):
    """On every problem the case sends (a constant row, eps = 0.1 and float32 included) the reference's out and
    gradients equal the loops' forward and the node-by-node backward (the judge rebuilds the same problems)."""
    inputs, _ = get_case(case_id).build()
    problems = _backward_problems(case_id)
    assert [p["dout"].tolist() for p in problems] == [p["dout"].tolist() for p in inputs["problems"]]
    for problem in problems:
        x, gamma, beta = problem["args"]
        eps = problem["kwargs"].get("eps", 1e-5)
        out, cache = ln_loops(x, gamma, beta, eps)
        expected = ref._layernorm_expected(problem)
        np.testing.assert_allclose(expected["out"], out, rtol=1e-12, atol=1e-12)
        grads = ln_graph_backward(np.asarray(problem["dout"], dtype=np.float64), cache)
        for part, got in zip(("dx", "dgamma", "dbeta"), grads):
            np.testing.assert_allclose(expected[part], got, rtol=1e-9, atol=1e-9, err_msg=f"{part}, {problem['label']}")


@pytest.mark.parametrize("case_id", ["w05_embedding_backward", "w05_embedding_backward_repeats"])
def test_embedding_problems_against_loops(case_id):
    for problem in _backward_problems(case_id):
        idx, W = problem["args"]
        expected = ref._embedding_expected(problem)
        rows = np.array([W[i] for i in idx.reshape(-1)]).reshape(*idx.shape, W.shape[1])
        np.testing.assert_array_equal(expected["out"], rows)
        np.testing.assert_allclose(expected["dW"], emb_loop_backward(problem["dout"], (idx, W)), rtol=1e-12, atol=1e-12)


def test_the_judges_centred_differences_against_jax():
    """The judge's own centred differences (layernorm_numeric, embedding_numeric) on the problems it uses them for
    equal jax.vjp's gradients of the layer."""
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    @functools.partial(jax.jit, static_argnums=4)
    def layernorm_vjp(x, gamma, beta, dout, eps):
        def forward(a, g, b):
            mu = jnp.mean(a, axis=-1, keepdims=True)
            return g * (a - mu) / jnp.sqrt(jnp.mean((a - mu) ** 2, axis=-1, keepdims=True) + eps) + b

        return jax.vjp(forward, x, gamma, beta)[1](dout)

    checked = 0
    for problem in _backward_problems("w05_layernorm_backward"):
        if problem["numeric"]:
            x, gamma, beta = (np.asarray(a, dtype=np.float64) for a in problem["args"])
            want = layernorm_vjp(
                x, gamma, beta, np.asarray(problem["dout"], dtype=np.float64), problem["kwargs"].get("eps", 1e-5)
            )
            for (part, numeric), exact in zip(ref.layernorm_numeric(problem).items(), want):
                np.testing.assert_allclose(numeric, np.asarray(exact), rtol=1e-6, atol=1e-8, err_msg=part)
            checked += 1
    assert checked == 4

    @jax.jit
    def embedding_vjp(idx, W, dout):
        return jax.vjp(lambda w: jnp.take(w, idx, axis=0), W)[1](dout)[0]

    for case_id in ("w05_embedding_backward", "w05_embedding_backward_repeats"):
        for problem in _backward_problems(case_id)[:2]:  # the two the judge compares with centred differences
            idx, W = problem["args"]
            want = embedding_vjp(idx, np.asarray(W, dtype=np.float64), np.asarray(problem["dout"], dtype=np.float64))
            np.testing.assert_allclose(ref.embedding_numeric(problem)["dW"], np.asarray(want), rtol=1e-7, atol=1e-9)


def test_positional_encoding_against_the_formula_written_out():
    for T, d in [(10, 16), (3, 2), (10, 7), (20, 1), (1, 5), (2048, 12)]:
        np.testing.assert_allclose(tr.positional_encoding(T, d), pe_loops(T, d), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(tr.positional_encoding(1, 5), [[0, 1, 0, 1, 0]])


def test_the_dot_product_of_two_positions_depends_on_the_offset_only():
    """The notebook's figure: PE[t] . PE[t + k] = sum_i cos(omega_i k) for even d (and not for odd d)."""
    pe = tr.positional_encoding(120, 64)
    omegas = 10000.0 ** (-np.arange(0, 64, 2) / 64)
    for k in (0, 1, 7, 40):
        np.testing.assert_allclose(np.einsum("td,td->t", pe[: 120 - k], pe[k:]), np.cos(omegas * k).sum(), atol=1e-9)
    odd = tr.positional_encoding(50, 1)  # one sine, sin(t) sin(t + 3): no cosine partner to cancel t
    assert np.ptp(np.einsum("td,td->t", odd[:-3], odd[3:])) > 0.9


def test_mistake_formulas_are_the_wrong_implementations():
    """Each named mistake's output is what the wrong implementation of this module returns (on one input)."""
    rng = np.random.default_rng(3)
    x, gamma, beta = ref.make_layernorm(rng, (2, 3, 4))
    forward = ref.layernorm_forward_mistakes(x, gamma, beta, 0.1)
    for name, fn in [
        ("batch_axis", ln_batch_axis),
        ("leading_axes", ln_leading_axes),
        ("whole_array", ln_whole_array),
        ("unbiased", ln_unbiased),
        ("eps_outside", ln_eps_outside),
        ("no_affine", ln_no_affine),
        ("eps_ignored", ln_fixed_eps),
    ]:
        np.testing.assert_allclose(forward[name], fn(x, gamma, beta, 0.1)[0], rtol=1e-12, err_msg=name)
    dout = rng.normal(size=x.shape)
    backward = ref.layernorm_backward_mistakes(x, gamma, beta, dout, 0.1)
    cache = _ln_right(x, gamma, beta, 0.1)[1]
    for part, name, fn in [
        (0, "no_mean_term", lnb_no_mean),
        (0, "no_var_term", lnb_no_var),
        (0, "no_terms", lnb_no_terms),
        (0, "no_gamma", lnb_no_gamma),
        (0, "no_inv", lnb_no_inv),
        (0, "backward_batch_axis", lnb_batch_axis),
        (1, "dgamma_no_xhat", lnb_dgamma_sum),
        (1, "axis0_only", lnb_axis0),
        (2, "axis0_only", lnb_axis0),
        (2, "dbeta_mean", lnb_dbeta_mean),
    ]:
        key = ("dx", "dgamma", "dbeta")[part]
        np.testing.assert_allclose(backward[key][name], fn(dout, cache)[part], rtol=1e-12, err_msg=name)
    idx, W = np.array([[0, 2, 2], [1, 0, 2]]), rng.normal(size=(5, 4))
    dout = rng.normal(size=(2, 3, 4))
    wrong = ref.embedding_backward_mistakes(idx, W, dout)
    for name, fn in [
        ("overwrite", emb_overwrite_backward),
        ("rows_from_idx", emb_rows_from_idx_backward),
        ("transposed", emb_transposed_backward),
        ("dout_returned", emb_dout_backward),
    ]:
        np.testing.assert_array_equal(wrong[name], fn(dout, (idx, W.shape)), err_msg=name)
    np.testing.assert_array_equal(ref.embedding_forward_mistakes(idx, W)["transposed"], W[:, idx])
    for T, d in [(6, 8), (4, 7)]:
        wrong = ref.positional_encoding_mistakes(T, d)
        for name, fn in [
            ("swapped", pe_swapped),
            ("column_exponent", pe_column_exponent),
            ("halves", pe_halves),
            ("from_one", pe_from_one),
            ("transposed", pe_transposed),
        ]:
            np.testing.assert_allclose(wrong[name], fn(T, d), rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(wrong["half_exponent"][:, 2], np.sin(np.arange(T) / 10000 ** (1 / d)))
        np.testing.assert_allclose(wrong["base_1000"][:, 3], np.cos(np.arange(T) / 1000 ** (2 / d)))
        np.testing.assert_allclose(wrong["column_doubled"][:, 3], np.cos(np.arange(T) / 10000 ** (6 / d)))
    np.testing.assert_allclose(wrong["odd_short"], pe_odd_short(4, 7), atol=1e-14)
    np.testing.assert_allclose(wrong["odd_long"], pe_odd_long(4, 7), atol=1e-14)


def test_every_mistake_can_be_told_from_the_right_answer_on_a_case():
    """Each named mistake differs from the reference on at least one problem a hidden case sends."""
    named: set[str] = set()

    def differ(outputs: dict, right: np.ndarray) -> set[str]:
        return {n for n, o in outputs.items() if o.shape != right.shape or not np.allclose(o, right, atol=1e-9)}

    for case_id in ("w05_layernorm_forward", "w05_layernorm_forward_edge"):
        for call in get_case(case_id).build()[0]["calls"]:
            x, gamma, beta = call.args
            eps = call.kwargs.get("eps", 1e-5)
            named |= differ(ref.layernorm_forward_mistakes(x, gamma, beta, eps), tr.layernorm_forward(x, gamma, beta, eps)[0])
    assert named == set(ref.LAYERNORM_FORWARD_MISTAKES)
    named = set()
    for problem in _backward_problems("w05_layernorm_backward"):
        want, wrong = ref._layernorm_expected(problem), ref._layernorm_mistakes(problem)
        for part in ("dx", "dgamma", "dbeta"):
            named |= differ(wrong[part], want[part])
    assert named == set(ref.LAYERNORM_BACKWARD_MISTAKES)
    named = set()
    for call in get_case("w05_embedding_forward").build()[0]["calls"]:
        named |= differ(ref.embedding_forward_mistakes(*call.args), tr.embedding_forward(*call.args)[0])
    assert named == set(ref.EMBEDDING_FORWARD_MISTAKES)
    distinct = set()
    for problem in _backward_problems("w05_embedding_backward"):
        distinct |= differ(ref._embedding_mistakes(problem)["dW"], ref._embedding_expected(problem)["dW"])
    assert "overwrite" not in distinct and {"rows_from_idx", "transposed", "dout_returned"} <= distinct
    named = set()
    for problem in _backward_problems("w05_embedding_backward_repeats"):
        idx = problem["args"][0]
        assert len(np.unique(idx)) < idx.size, "every problem of the repeats case has a repeated token"
        named |= differ(ref._embedding_mistakes(problem)["dW"], ref._embedding_expected(problem)["dW"])
    assert named == set(ref.EMBEDDING_BACKWARD_MISTAKES)
    named = set()
    for case_id in ("w05_positional_encoding", "w05_positional_encoding_edge"):
        for call in get_case(case_id).build()[0]["calls"]:
            named |= differ(ref.positional_encoding_mistakes(*call.args), tr.positional_encoding(*call.args))
    assert named == set(ref.PE_MISTAKES)


# ---- visible checks -----------------------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.layernorm_forward, fn) for fn in LN_FORWARDS]
VISIBLE_CORRECT += [(visible.layernorm_backward, fns) for fns in LN_BACKWARDS]
VISIBLE_CORRECT += [(visible.embedding_forward, fn) for fn in EMB_FORWARDS]
VISIBLE_CORRECT += [(visible.embedding_backward, fns) for fns in EMB_BACKWARDS]
VISIBLE_CORRECT += [(visible.positional_encoding, fn) for fn in PES]

VISIBLE_WRONG = [
    (visible.layernorm_forward, stub, "not implemented yet"),
    (visible.layernorm_forward, ln_batch_axis, "batch axis"),
    (visible.layernorm_forward, ln_whole_array, "whole array"),
    (visible.layernorm_forward, ln_unbiased, "sample variance"),
    (visible.layernorm_forward, ln_eps_outside, "outside the square root"),
    (visible.layernorm_forward, ln_no_affine, "x_hat alone"),
    (visible.layernorm_forward, ln_no_eps, "constant vector has variance 0"),
    (visible.layernorm_forward, ln_out_only, r"must return a tuple \(out, cache\)"),
    (visible.layernorm_forward, ln_in_place, "changed its input `x`"),
    (visible.layernorm_backward, Together(stub, _ln_right), "not implemented yet"),
    (visible.layernorm_backward, Together(_lnb_right, stub), "not implemented yet"),
    (visible.layernorm_backward, Together(_lnb_right, ln_eps_outside), "fix the forward first"),
    (visible.layernorm_backward, Together(lnb_no_mean, _ln_right), "missing a term, the mean term"),
    (visible.layernorm_backward, Together(lnb_no_var, _ln_right), "missing a term, the variance term"),
    (visible.layernorm_backward, Together(lnb_no_terms, _ln_right), "were constants"),
    (visible.layernorm_backward, Together(lnb_no_gamma, _ln_right), "ignores gamma"),
    (visible.layernorm_backward, Together(lnb_no_inv, _ln_right), "not divided by"),
    (visible.layernorm_backward, Together(lnb_batch_axis, _ln_right), "batch axis"),
    (visible.layernorm_backward, Together(lnb_dgamma_sum, _ln_right), "dgamma is the sum of dout"),
    (visible.layernorm_backward, Together(lnb_axis0, _ln_right), "axis 0 only"),
    (visible.layernorm_backward, Together(lnb_dbeta_mean, _ln_right), "mean of dout"),
    (visible.layernorm_backward, Together(lnb_in_place, _ln_right), "changed its input `dout`"),
    (visible.embedding_forward, stub, "not implemented yet"),
    (visible.embedding_forward, emb_transposed, "columns of W"),
    (visible.embedding_forward, emb_flattened, "flattened"),
    (visible.embedding_forward, emb_out_only, r"must return a tuple \(out, cache\)"),
    (visible.embedding_backward, Together(stub, emb_index), "not implemented yet"),
    (visible.embedding_backward, Together(emb_add_at_backward, stub), "not implemented yet"),
    (visible.embedding_backward, Together(emb_overwrite_backward, emb_index), "overwriting repeated indices"),
    (visible.embedding_backward, Together(emb_plus_equals_backward, emb_index), "overwriting repeated indices"),
    (visible.embedding_backward, Together(emb_rows_from_idx_backward, emb_index), r"idx.max\(\) \+ 1 rows"),
    (visible.embedding_backward, Together(emb_transposed_backward, emb_index), "transposed"),
    (visible.embedding_backward, Together(emb_dout_backward, emb_index), "shape of dout"),
    (visible.embedding_backward, Together(emb_mean_backward, emb_index), "values are wrong"),
    (visible.embedding_backward, Together(emb_in_place_backward, emb_index), "changed its input `dout`"),
    (visible.positional_encoding, stub, "not implemented yet"),
    (visible.positional_encoding, pe_swapped, "swapped"),
    (visible.positional_encoding, pe_half_exponent, "pair index"),
    (visible.positional_encoding, pe_column_exponent, "column index j"),
    (visible.positional_encoding, pe_column_doubled, "2j / d"),
    (visible.positional_encoding, pe_halves, "all the sines first"),
    (visible.positional_encoding, pe_base_1000, "base 1000"),
    (visible.positional_encoding, pe_from_one, "start at 1"),
    (visible.positional_encoding, pe_transposed, "transposed"),
    (visible.positional_encoding, pe_odd_fails, r"raised ValueError"),
    (visible.positional_encoding, pe_odd_short, "d - 1 columns"),
    (visible.positional_encoding, pe_odd_long, r"d \+ 1 columns"),
    (visible.positional_encoding, pe_float32, "float32"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
