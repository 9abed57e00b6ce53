"""Week 5, attention (softmax_backward, attention_forward/backward, multihead_attention_forward/backward): known
mistakes, hidden cases, fixtures. The references are the shared ``transformer_reference`` (float64):

    softmax_backward:  dx = p * (dp - sum_j dp_j p_j)                  (J = diag(p) - p p^T, along the last axis)
    attention:         S = q k^T / sqrt(d); causal: S[t, s] = -inf for s > t; P = softmax(S) over s; out = P v
    its backward:      dv = P^T dO; dS = softmax_backward(dO v^T, P) / sqrt(d); dq = dS k; dk = dS^T q
    multi-head:        q = x Wq + bq (k, v likewise), head i = columns i*dh:(i+1)*dh (dh = D / n_heads), attention
                       per head, heads concatenated in order, out = concat Wo + bo

The key bias's gradient is exactly 0 (a shift of every score of a row by q_t . bk is a shift the softmax ignores):
gradients are compared with an absolute tolerance relative to the scale of all the gradients of the call, never a
purely relative one. Every backward case also compares, on its small float64 problems, every gradient with centred
differences of the reference forward (``autograder.gradcheck``). ``tests/test_transformer_reference.py`` checks the
references against JAX.

Masking after the softmax and then renormalising each row is not a mistake: exp(S_ts) / Z_t rescaled by the sum over
s <= t is exactly the masked softmax (the tests pass it as a correct variant). Zeroing without renormalising is.
"""

from __future__ import annotations

import numpy as np

from autograder.cases import transformer_reference as ref
from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w05_attention import (
    ATTENTION_BACKWARD_HINT,
    ATTENTION_HINT,
    CAUSAL_HINT,
    MHA_BACKWARD_HINT,
    MHA_HINT,
    MHA_KEYS,
    SOFTMAX_BACKWARD_HINT,
)
from dlfs.grading import Call, Raised

SOFTMAX_BACKWARD_MISTAKES = {
    "diagonal": "your dx keeps only the diagonal of the softmax's Jacobian, p * (1 - p) * dp: every p_i depends on "
    "every input, so dx = p * (dp - sum(dp * p)) with the sum along the last axis.",
    "sign": "your dx adds the outer-product term: the Jacobian is diag(p) - p p^T, so dx = p * (dp - sum(dp * p)), with a minus.",
    "no_second_term": "your dx is p * dp, the Jacobian without its second term: subtract p * sum(dp * p) (the sum "
    "along the last axis), as every p_i depends on every input.",
    "wrong_axis": "your sum(dp * p) runs over the wrong axis: the softmax normalises along the last axis, so sum "
    "along axis=-1 with keepdims=True.",
    "wrong_axis_rows": "your sum(dp * p) runs over the wrong axis: the softmax normalises along the last axis, so "
    "sum along axis=-1 with keepdims=True.",
}
FORWARD_MISTAKES = {
    "no_scale": "your scores are not scaled: divide q k^T by sqrt(d), d = q.shape[-1], before the softmax.",
    "scale_by_d": "your scores are divided by d: divide by sqrt(d), d = q.shape[-1].",
    "query_axis": "your softmax runs over the queries (axis -2): each query's weights over the keys must sum to 1, "
    "so normalise along the last axis.",
    "no_mask": "your output is attention without the mask: with causal=True, the scores of keys after the query "
    "(s > t) must be -inf before the softmax.",
    "mask_after": "you masked after the softmax (the weights of future keys set to 0 without renormalising): mask "
    "the scores with -inf BEFORE the softmax, so that each row still sums to 1.",
    "mask_zero": "you set the masked scores to 0, but exp(0) = 1 still gives those keys weight: set them to -inf (or "
    "-1e9) before the softmax.",
    "wrong_triangle": "your mask hides the wrong triangle (the past, keeping the future): query t may see the keys "
    "s <= t, so mask s > t, np.triu(..., k=1).",
}
BACKWARD_MISTAKES = {
    "no_second_term": "your dq and dk use dS = P * dP, the softmax's Jacobian without its second term: dS = P * (dP "
    "- sum(dP * P)) (softmax_backward), the sum along the last axis.",
    "diagonal": "your dq and dk use only the diagonal of the softmax's Jacobian, P * (1 - P) * dP: use softmax_backward(dP, P).",
    "no_scale": "your dq and dk miss the 1/sqrt(d) of the forward's scaling: dS = softmax_backward(dP, P) / sqrt(d).",
    "dk_transposed": "your dk is transposed: dk = dS^T q, of the shape of k, (..., S, d).",
    "dk_no_transpose": "your dk is dS q: the scores are queries x keys, so dk = dS^T q (swap the last two axes of dS).",
    "dv_no_transpose": "your dv is P dout: dv = P^T dout (swap the last two axes of P), of the shape of v.",
}
MHA_FORWARD_MISTAKES = {
    "interleaved": "your heads take interleaved columns (a reshape to (B, T, dh, n_heads)): head i takes the "
    "contiguous columns i*dh:(i+1)*dh, reshape to (B, T, n_heads, dh).",
    "split_no_transpose": "you reshaped (B, T, D) straight to (B, n_heads, T, dh), which mixes positions and heads: "
    "reshape to (B, T, n_heads, dh), then swap axes 1 and 2 (and the reverse to merge).",
    "merge_no_transpose": "your heads are concatenated in the wrong order: (B, n_heads, T, dh) must go back to "
    "(B, T, n_heads, dh) (swap axes 1 and 2) before the reshape to (B, T, D).",
    "scale_model_width": "your scores are scaled by sqrt(D), the model width: each head attends with its own width, "
    "scale by sqrt(dh) = sqrt(D // n_heads) (attention_forward on the heads does it for you).",
    "heads_averaged": "your heads' projections are averaged: the concatenated heads go through Wo once, out = "
    "concat @ Wo + bo, which sums the heads' contributions.",
    "no_output_projection": "your output is the concatenated heads: project them, out = concat @ Wo + bo.",
    "no_mask": "your output is multi-head attention without the mask: pass causal on to attention_forward.",
}
MHA_BACKWARD_MISTAKES = {
    "dx_without_q": "your dx misses the path through the queries: x feeds q, k and v, so dx = dq Wq^T + dk Wk^T + dv "
    "Wv^T (each d merged back to (B, T, D)).",
    "dx_without_k": "your dx misses the path through the keys: x feeds q, k and v, so dx = dq Wq^T + dk Wk^T + dv "
    "Wv^T (each d merged back to (B, T, D)).",
    "dx_without_v": "your dx misses the path through the values: x feeds q, k and v, so dx = dq Wq^T + dk Wk^T + dv "
    "Wv^T (each d merged back to (B, T, D)).",
    "bias_batch_only": "this bias gradient is summed over the batch axis only: the bias is added at every position, "
    "so sum over B and T, leaving shape (D,).",
    "bias_mean": "this bias gradient is a mean: the bias is added at every position, so its gradient is the sum over B and T.",
    "weight_transposed": "this weight gradient is transposed: for a = x @ W, dW = x^T da (shape (D, D) as W), "
    "summed over B and T.",
    "weight_not_summed": "this weight gradient is one matrix per batch element: sum x^T da over B (and T), e.g. "
    "x.reshape(-1, D).T @ da.reshape(-1, D).",
}


# ---- what the known mistakes output ---------------------------------------------------------------------------


def _f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def softmax_backward_mistakes(dp, p) -> dict[str, np.ndarray]:
    dp, p = _f64(dp, p)
    total = np.sum(dp * p, axis=-1, keepdims=True)
    found = {
        "diagonal": p * (1 - p) * dp,
        "sign": p * (dp + total),
        "no_second_term": p * dp,
        "wrong_axis": p * (dp - np.sum(dp * p, axis=0, keepdims=True)),
    }
    if p.ndim > 2:  # the rows axis of (..., T, S)
        found["wrong_axis_rows"] = p * (dp - np.sum(dp * p, axis=-2, keepdims=True))
    return found


def attend(q, k, v, causal=False, *, scale=None, mask="before", axis=-1):
    """Attention with one piece changed: ``scale`` of the scores (1/sqrt(d) when None); ``mask`` "before" (-inf,
    the right one), "after" (weights of future keys zeroed after the softmax), "zero" (scores set to 0), "past"
    (the wrong triangle: keys s < t hidden); the softmax along ``axis``."""
    q, k, v = _f64(q, k, v)
    scores = q @ np.swapaxes(k, -1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)
    T, S = scores.shape[-2:]
    future = np.triu(np.ones((T, S), dtype=bool), k=1)
    if causal and mask == "before":
        scores = np.where(future, -np.inf, scores)
    elif causal and mask == "zero":
        scores = np.where(future, 0.0, scores)
    elif causal and mask == "past":
        scores = np.where(np.tril(np.ones((T, S), dtype=bool), k=-1), -np.inf, scores)
    weights = np.exp(scores - scores.max(axis=axis, keepdims=True))
    weights = weights / weights.sum(axis=axis, keepdims=True)
    if causal and mask == "after":
        weights = np.where(future, 0.0, weights)
    return weights @ v


def attention_forward_mistakes(q, k, v, causal=False) -> dict[str, np.ndarray]:
    d = np.shape(q)[-1]
    found = {
        "no_scale": attend(q, k, v, causal, scale=1.0),
        "scale_by_d": attend(q, k, v, causal, scale=1.0 / d),
        "query_axis": attend(q, k, v, causal, axis=-2),
    }
    if causal:
        found |= {
            "no_mask": attend(q, k, v),
            "mask_after": attend(q, k, v, True, mask="after"),
            "mask_zero": attend(q, k, v, True, mask="zero"),
            "wrong_triangle": attend(q, k, v, True, mask="past"),
        }
    return found


def attention_backward_mistakes(q, k, v, dout, causal=False) -> dict[str, dict[str, np.ndarray]]:
    """Per part ("dq", "dk", "dv"), what the known backward mistakes give after a right forward."""
    q, k, v, dout = _f64(q, k, v, dout)
    _, (_, _, _, p) = ref.attention_forward(q, k, v, causal)
    dq, dk, dv = ref.attention_backward(dout, (q, k, v, p))
    scale = q.shape[-1] ** -0.5
    dp = dout @ np.swapaxes(v, -1, -2)
    found: dict[str, dict[str, np.ndarray]] = {"dq": {}, "dk": {}, "dv": {}}
    for name, ds in (("no_second_term", p * dp), ("diagonal", p * (1 - p) * dp)):
        found["dq"][name], found["dk"][name] = ds * scale @ k, np.swapaxes(ds * scale, -1, -2) @ q
    found["dq"]["no_scale"], found["dk"]["no_scale"] = dq / scale, dk / scale
    found["dk"]["dk_transposed"] = np.swapaxes(dk, -1, -2)
    if q.shape[-2] == k.shape[-2]:
        found["dk"]["dk_no_transpose"] = ref.softmax_backward(dp, p) * scale @ q
        found["dv"]["dv_no_transpose"] = p @ dout
    return found


def _split(a, h, layout="contiguous"):
    B, T, D = a.shape
    if layout == "interleaved":
        return a.reshape(B, T, D // h, h).transpose(0, 3, 1, 2)
    if layout == "no_transpose":
        return a.reshape(B, h, T, D // h)
    return a.reshape(B, T, h, D // h).transpose(0, 2, 1, 3)


def _merge(a, layout="contiguous"):
    B, h, T, dh = a.shape
    if layout == "interleaved":
        return a.transpose(0, 2, 3, 1).reshape(B, T, h * dh)
    if layout == "no_transpose":
        return a.reshape(B, T, h * dh)
    return a.transpose(0, 2, 1, 3).reshape(B, T, h * dh)


def mha(x, params, n_heads, causal=False, *, split="contiguous", merge="contiguous", width=False, combine="sum"):
    """Multi-head attention with one piece changed: the layouts of the split and of the merge, the scores scaled by
    sqrt(D) (``width``), the heads' projections averaged ("mean") or not projected at all ("none")."""
    (x,) = _f64(x)
    p = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
    D = x.shape[-1]
    q, k, v = (_split(x @ p[f"W{n}"] + p[f"b{n}"], n_heads, split) for n in "qkv")
    if width:  # attention_forward divides by sqrt(dh); this makes it sqrt(D)
        q = q * np.sqrt((D // n_heads) / D)
    heads, _ = ref.attention_forward(q, k, v, causal)
    concat = _merge(heads, merge)
    if combine == "none":
        return concat
    return concat @ p["Wo"] / (n_heads if combine == "mean" else 1) + p["bo"]


def mha_forward_mistakes(x, params, n_heads, causal=False) -> dict[str, np.ndarray]:
    found = {
        "interleaved": mha(x, params, n_heads, causal, split="interleaved", merge="interleaved"),
        "split_no_transpose": mha(x, params, n_heads, causal, split="no_transpose", merge="no_transpose"),
        "merge_no_transpose": mha(x, params, n_heads, causal, merge="no_transpose"),
        "scale_model_width": mha(x, params, n_heads, causal, width=True),
        "heads_averaged": mha(x, params, n_heads, causal, combine="mean"),
        "no_output_projection": mha(x, params, n_heads, causal, combine="none"),
    }
    if causal:
        found["no_mask"] = mha(x, params, n_heads)
    return found


def mha_backward_mistakes(x, params, n_heads, dout, causal=False) -> dict[str, dict[str, np.ndarray]]:
    """Per part ("dx" and each key of params), what the known backward mistakes give after a right forward."""
    x, dout = _f64(x, dout)
    p = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
    _, cache = ref.multihead_attention_forward(x, p, n_heads, causal)
    dx, grads = ref.multihead_attention_backward(dout, cache)
    *_, att_cache, concat = cache
    found: dict[str, dict[str, np.ndarray]] = {"dx": {}}
    d = {"o": dout}
    for name, dh in zip("qkv", ref.attention_backward(_split(dout @ p["Wo"].T, n_heads), att_cache)):
        d[name] = _merge(dh)
        found["dx"][f"dx_without_{name}"] = dx - d[name] @ p[f"W{name}"].T
    for name in "qkvo":
        inputs = concat if name == "o" else x
        found[f"b{name}"] = {"bias_batch_only": d[name].sum(axis=0), "bias_mean": d[name].mean(axis=(0, 1))}
        found[f"W{name}"] = {"weight_transposed": grads[f"W{name}"].T, "weight_not_summed": np.swapaxes(inputs, 1, 2) @ d[name]}
    return found


# ---- inputs, tolerances and the judges ------------------------------------------------------------------------


def qkv(rng, q_shape, S, dv, dtype=np.float64, size=1.0):
    """q of q_shape (..., T, d), k (..., S, d) and v (..., S, dv), normal entries times ``size``."""
    lead, d = q_shape[:-2], q_shape[-1]
    return tuple((size * rng.normal(size=shape)).astype(dtype) for shape in (q_shape, (*lead, S, d), (*lead, S, dv)))


def mha_params(rng, D, dtype=np.float64):
    """Weights normal / sqrt(D), biases normal / 2 (the key bias too: its gradient is 0 all the same)."""
    return {
        key: (rng.normal(size=(D, D)) / np.sqrt(D) if key[0] == "W" else 0.5 * rng.normal(size=D)).astype(dtype)
        for key in MHA_KEYS
    }


def single(*arrays) -> bool:
    """Whether any of the arrays is float32 (then float32 tolerances apply)."""
    return any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in arrays)


def label_of(shapes: str, causal: bool, is_single: bool, extra: str = "") -> str:
    return shapes + (", causal" if causal else "") + (" (float32)" if is_single else "") + (f", {extra}" if extra else "")


def forward_tolerances(is_single: bool, want: np.ndarray) -> tuple[float, float]:
    scale = max([1.0] + [float(np.max(np.abs(want)))] * bool(np.size(want)))
    return (1e-4, 1e-5 * scale) if is_single else (1e-7, 1e-10 * scale)


def grads_scale(*arrays: np.ndarray) -> float:
    return max([1.0] + [float(np.max(np.abs(a))) for a in arrays if np.size(a)])


def backward_tolerances(is_single: bool, scale: float) -> tuple[float, float]:
    return (1e-3, 1e-4 * scale) if is_single else (1e-6, 1e-9 * scale)


def check_forward_entry(
    name: str,
    label: str,
    entry: dict,
    want: np.ndarray,
    wrong: dict,
    messages: dict,
    hint: str,
    is_single: bool,
    prefix: str = "",
) -> None:
    """One recorded forward call: the pair (out, cache), the inputs left alone, out against ``want``."""
    out = Answers(None, name).value(entry.get("out"), label)
    if not entry.get("pair"):
        raise CheckFailed(f"{name} on {label}: it must return the pair (out, cache); got a {type(out).__name__}.")
    for argument in entry.get("changed", []):
        raise CheckFailed(f"{name} on {label}: it changed its input `{argument}` in place; work on new arrays.")
    rtol, atol = forward_tolerances(is_single, want)
    check_array(f"{name} on {label}", out, want, rtol=rtol, atol=atol, mistakes=mistakes_on(wrong, messages), hint=prefix + hint)


def forward_failure(backward: str, forward: str, entry: dict, label: str) -> None:
    """Fail, naming the forward, when the forward raised (the backward is checked on its cache)."""
    failure = entry.get("out")
    if isinstance(failure, Raised):
        what = (
            "is not implemented yet: write the forward first"
            if failure.type == "NotImplementedError"
            else f"raised {failure.type}: {failure.message} (on {label}); fix the forward first"
        )
        raise CheckFailed(f"{backward} is checked on the cache of your {forward}, which {what}.")


def backward_result(backward: str, entry: dict, label: str, parts: tuple[str, ...]) -> tuple:
    """The backward's tuple result for one run; fails if it raised, changed dout or is not a tuple of ``parts``."""
    if entry.get("dout_changed"):
        raise CheckFailed(f"{backward} changed its input `dout` in place (on {label}); work on new arrays.")
    if "grads" not in entry:
        raise CheckFailed(f"{backward}: the answers hold no gradients for {label} (was the hidden test cell changed?).")
    checker = Answers(None, backward)
    return checker.parts(checker.value(entry["grads"], label), *parts)


def runs_of(runs: list[dict]) -> dict:
    """The inputs the probe needs: per run the forward's arguments, their names, kwargs and dout."""
    return {"runs": [{k: r[k] for k in ("args", "names", "kwargs", "dout") if k in r} for r in runs]}


def attention_run(q, k, v, causal=False, dout=None, numeric=False) -> dict:
    run = {
        "args": [q, k, v],
        "names": ["q", "k", "v"],
        "kwargs": {"causal": True} if causal else {},
        "causal": causal,
        "numeric": numeric,
        "label": label_of(f"q {q.shape}, k {k.shape}, v {v.shape}", causal, single(q, k, v)),
    }
    if dout is not None:
        run["dout"] = dout
    return run


def judge_attention_forward(runs: list[dict], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        for run, entry in zip(runs, answers["runs"], strict=True):
            q, k, v = run["args"]
            want, _ = ref.attention_forward(q, k, v, run["causal"])
            hint = CAUSAL_HINT if run["causal"] else ATTENTION_HINT
            if float(np.max(np.abs(q))) * float(np.max(np.abs(k))) > 100:
                hint += (
                    " Scores this large overflow exp unless the softmax subtracts each row's maximum: use the notebook's softmax."
                )
            check_forward_entry(
                context.name,
                run["label"],
                entry,
                want,
                attention_forward_mistakes(q, k, v, run["causal"]),
                FORWARD_MISTAKES,
                hint,
                single(q, k, v),
            )
        return summary

    return runs_of(runs), judge


def numeric_attention(q, k, v, dout, causal) -> dict[str, np.ndarray]:
    """Centred differences (h = 1e-5) of sum(out * dout) for the reference attention, w.r.t. q, k and v."""
    q, k, v, dout = (np.array(a, dtype=np.float64) for a in (q, k, v, dout))
    return {
        "dq": numerical_gradient_array(lambda a: ref.attention_forward(a, k, v, causal)[0], q, dout),
        "dk": numerical_gradient_array(lambda a: ref.attention_forward(q, a, v, causal)[0], k, dout),
        "dv": numerical_gradient_array(lambda a: ref.attention_forward(q, k, a, causal)[0], v, dout),
    }


def judge_attention_backward(runs: list[dict], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        forward, backward = "attention_forward", context.name
        for run, entry in zip(runs, answers["runs"], strict=True):  # every forward first: their caches are used
            q, k, v = run["args"]
            forward_failure(backward, forward, entry, run["label"])
            check_forward_entry(
                forward,
                f"{run['label']} (its cache is what {backward} gets: fix the forward first)",
                entry,
                ref.attention_forward(q, k, v, run["causal"])[0],
                attention_forward_mistakes(q, k, v, run["causal"]),
                FORWARD_MISTAKES,
                CAUSAL_HINT if run["causal"] else ATTENTION_HINT,
                single(q, k, v),
                prefix="fix the forward first: ",
            )
        for run, entry in zip(runs, answers["runs"], strict=True):
            q, k, v = run["args"]
            causal, label = run["causal"], run["label"]
            _, cache = ref.attention_forward(q, k, v, causal)
            grads = backward_result(backward, entry, label, ("dq", "dk", "dv"))
            dout = np.asarray(run["dout"], dtype=np.float64)
            want = dict(zip(("dq", "dk", "dv"), ref.attention_backward(dout, cache)))
            wrong = attention_backward_mistakes(q, k, v, dout, causal)
            scale = grads_scale(*want.values())
            rtol, atol = backward_tolerances(single(q, k, v, run["dout"]), scale)
            numeric = numeric_attention(q, k, v, dout, causal) if run["numeric"] else {}
            for part, got in zip(("dq", "dk", "dv"), grads):
                check_array(
                    f"{backward} on {label}: {part}",
                    got,
                    want[part],
                    rtol=rtol,
                    atol=atol,
                    mistakes=mistakes_on(wrong[part], BACKWARD_MISTAKES),
                    hint=ATTENTION_BACKWARD_HINT,
                )
                if part in numeric:
                    check_array(
                        f"{backward} on {label}: {part} against centred differences of the attention",
                        got,
                        numeric[part],
                        rtol=1e-5,
                        atol=1e-7 * scale,
                        hint=ATTENTION_BACKWARD_HINT,
                    )
        return summary

    return runs_of(runs), judge


# ---- hidden cases: softmax_backward and attention ---------------------------------------------------------------


@case("w05_softmax_backward")
def softmax_backward_case(rng: np.random.Generator):
    """dx against the reference on (5, 3), (1, 4), (2, 3, 6), a causal (2, 2, 4, 4) (zeros in p), one class (4, 1)
    (dx = 0), peaked rows (8, 10) and float32 (6, 7); the inputs must be left alone. (With one row, a sum over axis 0
    gives the diagonal mistake's output: the first input has several rows, so that each mistake is named right.)"""
    calls = []
    for shape, dtype, extra in [
        ((5, 3), np.float64, ""),
        ((1, 4), np.float64, ""),
        ((2, 3, 6), np.float64, ""),
        ((2, 2, 4, 4), np.float64, "masked"),
        ((4, 1), np.float64, ""),
        ((8, 10), np.float64, "peaked"),
        ((6, 7), np.float32, ""),
    ]:
        scores = rng.normal(size=shape) * (8.0 if extra == "peaked" else 1.0)
        if extra == "masked":
            scores = np.where(ref.causal_mask(shape[-1]), -np.inf, scores)
        calls.append((rng.normal(size=shape).astype(dtype), ref.softmax(scores).astype(dtype), extra))

    def judge(answers: Answers, context: Context) -> str:
        for i, (dp, p, extra) in enumerate(calls):
            label = label_of(
                f"dp and p of shape {p.shape}",
                False,
                single(dp, p),
                {"masked": "p with zeros (masked keys)", "peaked": "peaked rows"}.get(extra, ""),
            )
            want = ref.softmax_backward(*_f64(dp, p))
            scale = grads_scale(want, dp)
            rtol, atol = (1e-3, 1e-4 * scale) if single(dp, p) else (1e-7, 1e-12 * scale)
            check_array(
                f"{context.name} on {label}",
                answers.result(i, label, ("dp", "p")),
                want,
                rtol=rtol,
                atol=atol,
                mistakes=mistakes_on(softmax_backward_mistakes(dp, p), SOFTMAX_BACKWARD_MISTAKES),
                hint=SOFTMAX_BACKWARD_HINT,
            )
        return f"dx agrees with the reference on {len(calls)} inputs (2-D to 4-D, zeros in p, one class, float32)"

    return {"calls": [Call((dp, p)) for dp, p, _ in calls]}, judge


@case("w05_attention_forward")
def attention_forward_case(rng: np.random.Generator):
    """Non-causal attention against the reference: B = 1 with T != S and d != dv, B = 3, 4-D (B, H, T, d), T = 1,
    S = 1, scores of size ~1000 (a stable softmax) and float32; the inputs must be left alone."""
    runs = [
        attention_run(*qkv(rng, (1, 3, 4), 5, 2)),
        attention_run(*qkv(rng, (3, 4, 8), 4, 8)),
        attention_run(*qkv(rng, (2, 3, 5, 4), 6, 3)),
        attention_run(*qkv(rng, (2, 1, 6), 7, 5)),
        attention_run(*qkv(rng, (2, 3, 4), 1, 4)),
        attention_run(*qkv(rng, (2, 3, 4), 5, 3, size=25.0)),
        attention_run(*qkv(rng, (4, 6, 16), 9, 8, np.float32)),
    ]
    return judge_attention_forward(
        runs, f"out agrees with the reference on {len(runs)} inputs (B = 1, 4-D, T != S, T = 1, S = 1, large scores, float32)"
    )


@case("w05_attention_forward_causal")
def attention_forward_causal_case(rng: np.random.Generator):
    """Causal attention (T == S) against the reference: B = 1, B = 3, 4-D, T = 1 and float32."""
    runs = [
        attention_run(*qkv(rng, (1, 5, 4), 5, 3), True),
        attention_run(*qkv(rng, (3, 6, 8), 6, 8), True),
        attention_run(*qkv(rng, (2, 2, 4, 4), 4, 5), True),
        attention_run(*qkv(rng, (2, 1, 4), 1, 4), True),
        attention_run(*qkv(rng, (4, 8, 16), 8, 16, np.float32), True),
    ]
    return judge_attention_forward(
        runs, f"the causal output agrees with the reference on {len(runs)} inputs (B = 1, 4-D, T = 1, float32)"
    )


def _backward_runs(rng, specs, causal) -> list[dict]:
    runs = []
    for q_shape, S, dv, dtype, numeric in specs:
        q, k, v = qkv(rng, q_shape, S, dv, dtype)
        dout = rng.normal(size=(*q_shape[:-1], dv)).astype(dtype)
        runs.append(attention_run(q, k, v, causal, dout, numeric))
    return runs


@case("w05_attention_backward")
def attention_backward_case(rng: np.random.Generator):
    """dq, dk, dv after a non-causal forward, against the reference (named mistakes) on B = 1 with T != S, T == S,
    4-D, T = 1, (4, 16, 8) and float32, and against centred differences on the first three. Called as
    check("w05_attention_backward", attention_backward, attention_forward)."""
    specs = [
        ((1, 2, 3), 4, 2, np.float64, True),
        ((2, 3, 4), 3, 4, np.float64, True),
        ((2, 2, 3, 4), 5, 3, np.float64, True),
        ((2, 1, 4), 6, 4, np.float64, False),
        ((4, 16, 8), 12, 8, np.float64, False),
        ((3, 8, 16), 10, 16, np.float32, False),
    ]
    return judge_attention_backward(
        _backward_runs(rng, specs, False),
        "dq, dk and dv agree with the reference and with centred differences on 6 inputs (B = 1, 4-D, T != S, T = 1, float32)",
    )


@case("w05_attention_backward_causal")
def attention_backward_causal_case(rng: np.random.Generator):
    """dq, dk, dv after a causal forward on B = 1, 4-D, (3, 8, 8), T = 1 and float32, against the reference and,
    on the first two, centred differences. Called as
    check("w05_attention_backward_causal", attention_backward, attention_forward)."""
    specs = [
        ((1, 4, 3), 4, 3, np.float64, True),
        ((2, 2, 5, 4), 5, 3, np.float64, True),
        ((3, 8, 8), 8, 8, np.float64, False),
        ((2, 1, 4), 1, 4, np.float64, False),
        ((2, 6, 8), 6, 8, np.float32, False),
    ]
    return judge_attention_backward(
        _backward_runs(rng, specs, True),
        "the causal dq, dk and dv agree with the reference and with centred differences on 5 inputs (B = 1, 4-D, T = 1, float32)",
    )


# ---- hidden cases: multi-head attention --------------------------------------------------------------------------


def mha_run(rng, shape, n_heads, causal=False, dtype=np.float64, numeric=False, backward=False) -> dict:
    x = rng.normal(size=shape).astype(dtype)
    params = mha_params(rng, shape[-1], dtype)
    run = {
        "args": [x, params, n_heads],
        "names": ["x", "params", "n_heads"],
        "kwargs": {"causal": True} if causal else {},
        "causal": causal,
        "numeric": numeric,
        "label": label_of(f"x {shape}, n_heads={n_heads}", causal, dtype == np.float32),
    }
    if backward:
        run["dout"] = rng.normal(size=shape).astype(dtype)
    return run


def judge_mha_forward(runs: list[dict], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        for run, entry in zip(runs, answers["runs"], strict=True):
            x, params, n_heads = run["args"]
            D = x.shape[-1]
            if D % n_heads:
                got = entry.get("out")
                if isinstance(got, Raised) and got.type == "NotImplementedError":
                    Answers(None, context.name).value(got)
                if not (isinstance(got, Raised) and got.type == "ValueError"):
                    other = f", not {got.type} ({got.message})" if isinstance(got, Raised) else "; nothing was raised"
                    raise CheckFailed(
                        f"{context.name}(x, params, n_heads={n_heads}) with D = {D} must raise "
                        f"ValueError{other}: {D} columns cannot be split into {n_heads} heads of equal "
                        "width; check D % n_heads first."
                    )
                continue
            want, _ = ref.multihead_attention_forward(x, params, n_heads, run["causal"])
            hint = (CAUSAL_HINT + " " if run["causal"] else "") + MHA_HINT
            check_forward_entry(
                context.name,
                run["label"],
                entry,
                want,
                mha_forward_mistakes(x, params, n_heads, run["causal"]),
                MHA_FORWARD_MISTAKES,
                hint,
                single(x, *params.values()),
            )
        return summary

    return runs_of(runs), judge


@case("w05_multihead_attention_forward")
def multihead_attention_forward_case(rng: np.random.Generator):
    """Non-causal multi-head attention against the reference with 1, 2 and 4 heads, B = 1, T = 1 and float32; the
    inputs (x and every array of params) must be left alone; D = 6 with 4 heads must raise ValueError."""
    runs = [
        mha_run(rng, (2, 3, 4), 1),
        mha_run(rng, (1, 5, 6), 2),
        mha_run(rng, (3, 4, 8), 4),
        mha_run(rng, (2, 1, 8), 2),
        mha_run(rng, (2, 6, 16), 4, dtype=np.float32),
        mha_run(rng, (2, 3, 6), 4),
    ]
    return judge_mha_forward(
        runs,
        "out agrees with the reference with 1, 2 and 4 heads (B = 1, T = 1, float32), and D % n_heads != 0 raises ValueError",
    )


@case("w05_multihead_attention_forward_causal")
def multihead_attention_forward_causal_case(rng: np.random.Generator):
    """Causal multi-head attention against the reference with 1, 2 and 4 heads, B = 1, T = 1 and float32."""
    runs = [
        mha_run(rng, (2, 4, 4), 1, True),
        mha_run(rng, (1, 5, 6), 2, True),
        mha_run(rng, (2, 6, 8), 4, True),
        mha_run(rng, (3, 1, 8), 2, True),
        mha_run(rng, (2, 7, 16), 4, True, np.float32),
    ]
    return judge_mha_forward(runs, "the causal output agrees with the reference with 1, 2 and 4 heads (B = 1, T = 1, float32)")


def numeric_mha(x, params, n_heads, dout, causal) -> dict[str, np.ndarray]:
    """Centred differences (h = 1e-5) of sum(out * dout) for the reference multi-head attention, w.r.t. x and every
    parameter."""
    x, dout = (np.array(a, dtype=np.float64) for a in (x, dout))
    p = {key: np.array(value, dtype=np.float64) for key, value in params.items()}

    def out(inputs, weights):
        return ref.multihead_attention_forward(inputs, weights, n_heads, causal)[0]

    found = {"dx": numerical_gradient_array(lambda a: out(a, p), x, dout)}
    for key in MHA_KEYS:
        found[key] = numerical_gradient_array(lambda a, key=key: out(x, p | {key: a}), p[key].copy(), dout)
    return found


def judge_mha_backward(runs: list[dict], parts: tuple[str, ...], summary: str):
    """The named parts ("dx" and/or keys of params) against the reference (named mistakes) and, for the runs marked
    numeric, centred differences; the forward's output is checked first (its cache is what the backward gets)."""

    def judge(answers: Answers, context: Context) -> str:
        forward, backward = "multihead_attention_forward", context.name
        for run, entry in zip(runs, answers["runs"], strict=True):  # every forward first: their caches are used
            x, params, n_heads = run["args"]
            forward_failure(backward, forward, entry, run["label"])
            check_forward_entry(
                forward,
                f"{run['label']} (its cache is what {backward} gets: fix the forward first)",
                entry,
                ref.multihead_attention_forward(x, params, n_heads, run["causal"])[0],
                mha_forward_mistakes(x, params, n_heads, run["causal"]),
                MHA_FORWARD_MISTAKES,
                MHA_HINT,
                single(x, *params.values()),
                prefix="fix the forward first: ",
            )
        for run, entry in zip(runs, answers["runs"], strict=True):
            x, params, n_heads = run["args"]
            causal, label = run["causal"], run["label"]
            _, cache = ref.multihead_attention_forward(x, params, n_heads, causal)
            dx, grads = backward_result(backward, entry, label, ("dx", "grads"))
            dout = np.asarray(run["dout"], dtype=np.float64)
            want_dx, want_grads = ref.multihead_attention_backward(dout, cache)
            want, got = {"dx": want_dx} | want_grads, {"dx": dx}
            if parts != ("dx",):
                if not isinstance(grads, dict) or set(grads) != set(MHA_KEYS):
                    keys = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
                    raise CheckFailed(
                        f"{backward} on {label} must return (dx, grads) with grads a dict of the keys "
                        f"{list(MHA_KEYS)}; got {keys}."
                    )
                got |= grads
            wrong = mha_backward_mistakes(x, params, n_heads, dout, causal)
            scale = grads_scale(*want.values())
            rtol, atol = backward_tolerances(single(x, run["dout"], *params.values()), scale)
            numeric = numeric_mha(x, params, n_heads, dout, causal) if run["numeric"] else {}
            for part in parts:
                what = part if part == "dx" else f"grads[{part!r}]"
                hint = MHA_BACKWARD_HINT + (
                    " grads['bk'] is 0: the softmax ignores a shift common to a row of scores." if part == "bk" else ""
                )
                check_array(
                    f"{backward} on {label}: {what}",
                    got[part],
                    want[part],
                    rtol=rtol,
                    atol=atol,
                    mistakes=mistakes_on(wrong.get(part, {}), MHA_BACKWARD_MISTAKES),
                    hint=hint,
                )
                if part in numeric:
                    check_array(
                        f"{backward} on {label}: {what} against centred differences of multi-head attention",
                        got[part],
                        numeric[part],
                        rtol=1e-5,
                        atol=1e-7 * scale,
                        hint=hint,
                    )
        return summary

    return runs_of(runs), judge


def _mha_backward_runs(rng) -> list[dict]:
    return [
        mha_run(rng, (1, 3, 4), 1, numeric=True, backward=True),
        mha_run(rng, (2, 3, 4), 2, True, numeric=True, backward=True),
        mha_run(rng, (2, 4, 8), 4, numeric=True, backward=True),
        mha_run(rng, (3, 1, 4), 2, True, backward=True),
        mha_run(rng, (4, 10, 16), 4, True, backward=True),
        mha_run(rng, (2, 5, 8), 2, True, np.float32, backward=True),
    ]


@case("w05_multihead_attention_backward")
def multihead_attention_backward_case(rng: np.random.Generator):
    """dx after causal and non-causal forwards with 1, 2 and 4 heads (B = 1, T = 1, float32), against the reference
    (named mistakes) and, on the first three, centred differences. Called as
    check("w05_multihead_attention_backward", multihead_attention_backward, multihead_attention_forward)."""
    return judge_mha_backward(
        _mha_backward_runs(rng),
        ("dx",),
        "dx agrees with the reference and with centred differences with 1, 2 and 4 heads, causal or not (B = 1, T = 1, float32)",
    )


@case("w05_multihead_attention_param_grads")
def multihead_attention_param_grads_case(rng: np.random.Generator):
    """The eight parameter gradients on the problems of the dx case, against the reference (named mistakes; grads['bk']
    is 0, judged with an absolute tolerance on the scale of all the gradients) and centred differences. Called as
    check("w05_multihead_attention_param_grads", multihead_attention_backward, multihead_attention_forward)."""
    return judge_mha_backward(
        _mha_backward_runs(rng),
        MHA_KEYS,
        "the gradients of Wq, bq, Wk, bk, Wv, bv, Wo and bo agree with the reference and with centred differences",
    )


# ---- fixtures of the visible checks ------------------------------------------------------------------------------


def _attention_fixture(rng, q_shape, S, dv, causal, backward) -> dict[str, np.ndarray]:
    q, k, v = qkv(rng, q_shape, S, dv)
    out, cache = ref.attention_forward(q, k, v, causal)
    arrays = {"q": q, "k": k, "v": v}
    if not backward:
        return arrays | {"expected": out} | stored(attention_forward_mistakes(q, k, v, causal), FORWARD_MISTAKES)
    dout = rng.normal(size=out.shape)
    arrays |= {"dout": dout, "expected_out": out}
    wrong = attention_backward_mistakes(q, k, v, dout, causal)
    for part, grad in zip(("dq", "dk", "dv"), ref.attention_backward(dout, cache)):
        arrays |= {f"expected_{part}": grad} | stored(wrong[part], BACKWARD_MISTAKES, f"_{part}")
    return arrays


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(550)
    dp, p = rng.normal(size=(2, 3, 5)), ref.softmax(rng.normal(size=(2, 3, 5)))
    found = {
        "w05_softmax_backward": {"dp": dp, "p": p, "expected": ref.softmax_backward(dp, p)}
        | stored(softmax_backward_mistakes(dp, p), SOFTMAX_BACKWARD_MISTAKES)
    }
    found["w05_attention_forward"] = _attention_fixture(rng, (2, 3, 4), 5, 6, False, False)
    found["w05_attention_forward_causal"] = _attention_fixture(rng, (2, 5, 4), 5, 3, True, False)
    found["w05_attention_backward"] = _attention_fixture(rng, (2, 3, 4), 5, 6, False, True)
    found["w05_attention_backward_causal"] = _attention_fixture(rng, (2, 5, 4), 5, 3, True, True)
    for name, shape, n_heads, causal in (
        ("w05_multihead_forward", (2, 3, 8), 2, False),
        ("w05_multihead_forward_causal", (2, 5, 8), 4, True),
    ):
        x, params = rng.normal(size=shape), mha_params(rng, shape[-1])
        out, _ = ref.multihead_attention_forward(x, params, n_heads, causal)
        found[name] = (
            {"x": x, "n_heads": np.array(n_heads), "expected": out}
            | params
            | stored(mha_forward_mistakes(x, params, n_heads, causal), MHA_FORWARD_MISTAKES)
        )
    x, params, n_heads = rng.normal(size=(2, 4, 8)), mha_params(rng, 8), 2
    dout = rng.normal(size=np.shape(x))
    out, cache = ref.multihead_attention_forward(x, params, n_heads, True)
    dx, grads = ref.multihead_attention_backward(dout, cache)
    wrong = mha_backward_mistakes(x, params, n_heads, dout, True)
    arrays = {"x": x, "n_heads": np.array(n_heads), "dout": dout, "expected_out": out, "expected_dx": dx} | params
    arrays |= stored(wrong["dx"], MHA_BACKWARD_MISTAKES, "_dx")
    for key in MHA_KEYS:
        arrays |= {f"expected_{key}": grads[key]} | stored(wrong[key], MHA_BACKWARD_MISTAKES, f"_{key}")
    found["w05_multihead_backward"] = arrays
    return found
