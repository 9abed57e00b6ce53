"""Week 5, the small transformer (transformer_forward/backward, train_reversal, train_char_lm): the visible checks,
and the probes of the hidden cases, which call the student's functions on copies of the inputs sent and record
what came back (the logits, the gradients, the trained parameters), which arguments they changed, and nothing else.

The contract: ``transformer_forward(idx, params, n_heads) -> (logits, cache)`` with idx (B, T) token ids and params
the flat dict of ``init_transformer``; ``transformer_backward(dlogits, cache) -> grads``, a dict with every key of
params; ``train_reversal(seed, steps, ..., progress) -> (params, n_heads, history)``;
``train_char_lm(ids, vocab_size, seed, steps, context, batch_size, ..., progress) -> (params, n_heads, history)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, Unsupported, probe, record

__all__ = ["transformer_forward", "transformer_backward", "train_reversal", "train_char_lm"]

#: The names of one block's parameters, "h{l}.<name>", in the order the backward pass reaches them.
BLOCK_ORDER = ("W2", "b2", "W1", "b1", "ln2_g", "ln2_b", "Wo", "bo", "Wv", "bv", "Wk", "bk", "Wq", "bq", "ln1_g", "ln1_b")
REVERSAL_VOCAB = 11

FORWARD_HINT = (
    "x = embedding_forward(idx, tok_emb) + positional_encoding(T, D); per block x = x + MHA(LN1(x), "
    "causal=True), then x = x + relu(LN2(x) W1 + b1) W2 + b2; logits = LN_f(x) W_out + b_out. If your "
    "layers' checks above pass, look at the order of these steps."
)
BACKWARD_HINT = (
    "run the steps backwards: affine_backward of the output layer, layernorm_backward of LN_f, then per "
    "block (last first) the MLP branch, LN2, attention, LN1, adding the gradient that goes past each "
    "branch (dx = dout + branch's dx), and embedding_backward for tok_emb."
)
TRAIN_HINT = (
    "each step: a fresh batch, transformer_forward, cross_entropy (targets -1 are ignored), "
    "transformer_backward and one Adam step on every parameter; return (params, n_heads, history)."
)


def order_of_backward(params: dict) -> list[str]:
    """params' keys in the order a backward pass computes them: output layer, final norm, blocks from the last."""
    blocks = count_blocks(params)
    keys = ["W_out", "b_out", "lnf_g", "lnf_b"]
    for layer in reversed(range(blocks)):
        keys += [f"h{layer}.{name}" for name in BLOCK_ORDER]
    return keys + ["tok_emb"]


def count_blocks(params: dict) -> int:
    """How many consecutive blocks h0, h1, ... params holds."""
    layer = 0
    while f"h{layer}.W1" in params:
        layer += 1
    return layer


def layout_problem(params: Any, vocab_size: int | None = None) -> str | None:
    """Why ``params`` is not a transformer in init_transformer's layout (keys, shapes, finite numbers), or None."""
    if not isinstance(params, dict) or not all(isinstance(key, str) for key in params):
        return f"params must be a dict keyed by parameter names; got a {type(params).__name__}."
    if "tok_emb" not in params or np.ndim(params["tok_emb"]) != 2:
        return "params must hold 'tok_emb', the (V, D) token embedding table."
    V, D = np.shape(params["tok_emb"])
    if vocab_size is not None and V != vocab_size:
        return f"params['tok_emb'] has {V} rows; the vocabulary has {vocab_size} tokens."
    blocks = count_blocks(params)
    if blocks == 0:
        return "params holds no block: expected keys 'h0.ln1_g', 'h0.Wq', ..., 'h0.W2' (see init_transformer)."
    H = np.shape(params["h0.W1"])[-1] if np.ndim(params["h0.W1"]) == 2 else -1
    shapes = {"tok_emb": (V, D), "lnf_g": (D,), "lnf_b": (D,), "W_out": (D, V), "b_out": (V,)}
    for layer in range(blocks):
        for name in BLOCK_ORDER:
            shape = {"W1": (D, H), "b1": (H,), "W2": (H, D)}.get(name, (D, D) if name[0] == "W" else (D,))
            shapes[f"h{layer}.{name}"] = shape
    missing = [key for key in shapes if key not in params]
    if missing:
        return f"params lacks {', '.join(repr(k) for k in missing[:4])}{' ...' if len(missing) > 4 else ''}."
    extra = sorted(set(params) - set(shapes))
    if extra:
        return f"params holds keys that are not parameters of the model: {', '.join(repr(k) for k in extra[:4])}."
    for key, shape in shapes.items():
        value = np.asarray(params[key])
        if value.shape != shape:
            return f"params[{key!r}] has shape {value.shape}; expected {shape} (D = {D}, V = {V}, MLP width {H})."
        if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
            return f"params[{key!r}] must hold finite numbers (dtype {value.dtype})."
    return None


def heads_problem(n_heads: Any, D: int) -> str | None:
    """Why n_heads is not a usable number of heads for width D, or None."""
    if isinstance(n_heads, np.ndarray) and n_heads.ndim == 0:
        n_heads = n_heads.item()
    if isinstance(n_heads, bool) or not isinstance(n_heads, int | np.integer):
        return f"n_heads must be an int; got a {type(n_heads).__name__}."
    if n_heads < 1 or D % n_heads:
        return f"n_heads = {n_heads} does not divide the model width D = {D}."
    return None


def losses_problem(history: Any, steps: int) -> str | None:
    """Why history is not a dict whose 'loss' holds one finite number per step, or None."""
    if not isinstance(history, dict) or "loss" not in history:
        return "history must be a dict with a 'loss' list (one loss per step)."
    try:
        losses = np.asarray(history["loss"], dtype=float)
    except (TypeError, ValueError):
        return "history['loss'] must be a list of numbers."
    if losses.shape != (steps,):
        return f"history['loss'] must hold one loss per step: {steps} numbers; got shape {losses.shape}."
    if not np.all(np.isfinite(losses)):
        return "history['loss'] holds NaN or inf: the training diverged (learning rate too large?)."
    return None


# ---- the probes of the hidden cases ------------------------------------------------------------------------


def run_model(forward: Callable | None, backward: Callable | None, problem: dict) -> dict:
    """forward(idx, params, n_heads) on copies, then backward(dlogits, cache) when asked: the logits, the grads, the
    arguments changed in place (by name), or the forward's failure under "forward"."""
    idx = np.array(problem["idx"], copy=True)
    params = {key: np.array(value, copy=True) for key, value in problem["params"].items()}
    if forward is None:
        return {"forward": Raised("TypeError", "no forward function was passed to check(...)"), "changed": []}
    result = record(forward, idx, params, problem["n_heads"])
    entry: dict = {}
    if isinstance(result, Raised):
        entry["forward"] = result
    elif not (isinstance(result, tuple) and len(result) == 2):
        entry["forward"] = Unsupported(f"a {type(result).__name__} instead of the pair (logits, cache)")
    else:
        entry["logits"] = result[0]
        if backward is not None:
            dlogits = np.array(problem["dlogits"], copy=True)
            entry["grads"] = record(backward, dlogits, result[1])
            entry["dlogits_changed"] = not np.array_equal(dlogits, problem["dlogits"])
    changed = [] if np.array_equal(idx, problem["idx"]) else ["idx"]
    changed += [
        f"params[{key!r}]"
        for key, value in problem["params"].items()
        if key not in params or not np.array_equal(np.asarray(params[key]), value)
    ]
    entry["changed"] = changed
    return entry


def _forward_probe(forward: Callable, *args: Any, inputs: dict) -> dict:
    """``check("w05_transformer_forward<...>", transformer_forward)``: each problem's logits."""
    return {"problems": [run_model(forward, None, problem) for problem in inputs["problems"]]}


def _backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w05_transformer_backward<...>", transformer_backward, transformer_forward)``: logits and grads."""
    return {"problems": [run_model(forward, backward, problem) for problem in inputs["problems"]]}


for _case in ("w05_transformer_forward", "w05_transformer_forward_edge"):
    probe(_case)(_forward_probe)
for _case in ("w05_transformer_backward", "w05_transformer_backward_edge"):
    probe(_case)(_backward_probe)


@probe("w05_reversal")
def _reversal_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    """train_reversal(**settings): what it returned (params, n_heads, history)."""
    return {"result": record(fn, **inputs["settings"])}


@probe("w05_char_lm")
def _char_lm_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    """train_char_lm on the training split of the shipped text (loaded here), with the settings sent."""
    from dlfs.text import load_shakespeare

    corpus = load_shakespeare()
    return {"result": record(fn, corpus.train_ids, corpus.vocab_size, **inputs["settings"])}


# ---- visible checks ----------------------------------------------------------------------------------------


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def _stored_model(a: dict) -> tuple[np.ndarray, dict, int]:
    params = {key.removeprefix("param_"): value for key, value in a.items() if key.startswith("param_")}
    return a["idx"], params, int(a["n_heads"])


def _call_forward(forward: Callable, a: dict, what: str) -> tuple[Any, Any]:
    """The stored model through ``forward``; fails if it changed idx or params or did not return a pair."""
    idx, params, n_heads = _stored_model(a)
    keep = {key: value.copy() for key, value in params.items()}
    name = _name(forward, "transformer_forward")
    logits, cache = unpack(name, call(forward, idx, params, n_heads), "logits", "cache")
    if not np.array_equal(idx, a["idx"]):
        raise CheckFailed(f"{name} changed its input `idx` in place; work on new arrays.")
    for key, value in keep.items():
        if key not in params or not np.array_equal(np.asarray(params[key]), value):
            raise CheckFailed(f"{name} changed params[{key!r}] in place: read the parameters, never write them.")
    check_array(
        f"{name}{what}",
        logits,
        a["expected_logits"],
        rtol=1e-7,
        atol=1e-10,
        mistakes=stored_mistakes(a, "_logits"),
        hint=FORWARD_HINT,
    )
    return logits, cache


def transformer_forward(fn: Callable) -> None:
    """Check the logits of a stored 2-block, 2-head model (V = 7, D = 8) on 2 sequences of 5 tokens."""
    a = fixture("w05_transformer")
    _call_forward(fn, a, f" on idx of shape {a['idx'].shape}, 2 blocks, 2 heads")
    passed(f"{_name(fn, 'transformer_forward')}: the logits of a 2-block, 2-head model match")


def transformer_backward(backward: Callable, forward: Callable) -> None:
    """Check all the gradients of the stored model after your forward. Call as
    ``checks.transformer_backward(transformer_backward, transformer_forward)``."""
    a = fixture("w05_transformer")
    name = _name(backward, "transformer_backward")
    _, cache = _call_forward(forward, a, " (whose cache the backward uses: fix the forward first)")
    dlogits = a["dlogits"].copy()
    grads = call(backward, dlogits, cache)
    if not np.array_equal(dlogits, a["dlogits"]):
        raise CheckFailed(f"{name} changed its input `dlogits` in place; work on new arrays.")
    _, params, _ = _stored_model(a)
    if not isinstance(grads, dict):
        raise CheckFailed(f"{name} must return a dict of gradients keyed like params; got a {type(grads).__name__}.")
    missing = [name for name in params if name not in grads]
    if missing:
        raise CheckFailed(
            f"{name}: grads lacks {', '.join(repr(k) for k in missing[:4])}: return a gradient for "
            "every key of params (the same keys, the same shapes)."
        )
    scale = max(float(np.abs(a[f"expected_d{key}"]).max()) for key in params)
    for key in order_of_backward(params):
        check_array(
            f"{name}: grads[{key!r}]",
            grads[key],
            a[f"expected_d{key}"],
            rtol=1e-6,
            atol=1e-9 * scale,
            mistakes=stored_mistakes(a, f"_d{key}"),
            hint=BACKWARD_HINT,
        )
    passed(f"{name}: the {len(params)} gradients of a 2-block, 2-head model match")


def _trained(name: str, result: Any, vocab_size: int, steps: int) -> tuple[dict, int, np.ndarray]:
    params, n_heads, history = unpack(name, result, "params", "n_heads", "history")
    problem = layout_problem(params, vocab_size) or heads_problem(n_heads, np.shape(params["tok_emb"])[1])
    problem = problem or losses_problem(history, steps)
    if problem:
        raise CheckFailed(f"{name}: {problem}")
    return params, int(n_heads), np.asarray(history["loss"], dtype=float)


def train_reversal(fn: Callable) -> None:
    """Train for 100 steps (seed 0): what it returns, one loss per step, and a loss that falls from ln 11 = 2.40 to
    about ln 10 = 2.30 (every answer is a digit: the first thing a model learns; the reversal itself takes a few
    hundred steps more, which the hidden test's run scores)."""
    name = _name(fn, "train_reversal")
    steps = 100
    _, _, losses = _trained(name, call(fn, seed=0, steps=steps, progress=False), REVERSAL_VOCAB, steps)
    first, last = losses[:10].mean(), losses[-10:].mean()
    if last > min(first - 0.03, math.log(REVERSAL_VOCAB) - 0.05):
        raise CheckFailed(
            f"{name}: the loss went from {first:.3f} (first 10 steps) to {last:.3f} (last 10) in "
            f"{steps} steps; it should fall below ln 11 - 0.05 = {math.log(REVERSAL_VOCAB) - 0.05:.3f} "
            f"(ln 10 = 2.303 once the model only names digits). Hint: {TRAIN_HINT}"
        )
    passed(f"{name}: loss {first:.2f} -> {last:.2f} in {steps} steps")


def train_char_lm(fn: Callable) -> None:
    """Train for 40 steps (seed 0, windows of 32 characters, batches of 16) on the first 100,000 characters of the
    text: what it returns, one loss per step, and a loss that falls from ln 73 = 4.29 towards the 3.3 of character
    frequencies."""
    from dlfs.text import load_shakespeare

    corpus = load_shakespeare()
    name = _name(fn, "train_char_lm")
    steps = 40
    result = call(
        fn, corpus.train_ids[:100_000], corpus.vocab_size, seed=0, steps=steps, context=32, batch_size=16, progress=False
    )
    _, _, losses = _trained(name, result, corpus.vocab_size, steps)
    first, last = losses[:5].mean(), losses[-5:].mean()
    if last > min(first - 0.5, math.log(corpus.vocab_size) - 0.5):
        raise CheckFailed(
            f"{name}: the loss went from {first:.3f} (first 5 steps) to {last:.3f} (last 5) in {steps} "
            f"steps; it should fall by well over 0.5. Hint: {TRAIN_HINT}"
        )
    passed(f"{name}: loss {first:.2f} -> {last:.2f} in {steps} steps")
