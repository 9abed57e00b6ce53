"""Week 5, the small transformer (transformer_forward/backward, train_reversal, train_char_lm): known mistakes,
hidden cases, fixtures.

The model is ``transformer_reference.transformer_forward``'s, imported here (never re-implemented): for token ids
idx (B, T), params in ``init_transformer``'s layout and n_heads,

    x = tok_emb[idx] + PE(T, D)
    per block l:  x = x + MHA_l(LN1_l(x), causal)          (pre-LN: the norm inside the branch)
                  x = x + relu(LN2_l(x) W1 + b1) W2 + b2
    logits = LN_f(x) W_out + b_out                            (B, T, V)

and ``transformer_backward`` returns the gradient of sum(logits * dlogits) for every parameter: each residual
y = x + f(x) sends dy both past and through its branch (dx = dy + f'(x)^T dy), tok_emb accumulates the gradient
of every position holding a token. The functions below only compute what the known MISTAKES output (a variant of
the model with one thing changed); ``tests/test_w05_transformer.py`` checks that with nothing changed they agree
with the reference, and that each mistake differs from it on the cases.

Training cases: the student's ``train_reversal`` / ``train_char_lm`` run in the kernel with the grader's settings
and return their parameters; the score (held-out token accuracy, validation loss per character) is computed here
with the reference forward pass in float64 on data drawn here. Nothing the kernel says about its own accuracy or
loss is used.
"""

from __future__ import annotations

import math
import time

import numpy as np

from autograder.cases.transformer_reference import (
    BLOCK_KEYS,
    embedding_backward,
    embedding_forward,
    init_transformer,
    layernorm_backward,
    layernorm_forward,
    multihead_attention_backward,
    multihead_attention_forward,
    n_blocks,
    positional_encoding,
    transformer_backward,
    transformer_forward,
)
from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w05_transformer import (
    BACKWARD_HINT,
    FORWARD_HINT,
    REVERSAL_VOCAB,
    TRAIN_HINT,
    heads_problem,
    layout_problem,
    losses_problem,
    order_of_backward,
)
from dlfs.grading import Raised, Unsupported

FORWARD_MISTAKES = {
    "no_positions": (
        "your logits match the model without positional encodings: add positional_encoding(T, D) to "
        "the token embeddings before the first block (attention alone cannot tell positions apart)."
    ),
    "scaled_embedding": (
        "your token embeddings are multiplied by sqrt(D) (as in Vaswani et al.): this model adds "
        "tok_emb[idx] and the positional encodings as they are."
    ),
    "not_causal": (
        "your logits match attention without the causal mask: call multihead_attention_forward with "
        "causal=True, or position t sees the tokens it must predict."
    ),
    "post_ln": (
        "your blocks normalise after the residual sum (post-LN, x = LN(x + f(x)), as in the original "
        "transformer): this model is pre-LN, x = x + f(LN(x)), with the norm inside each branch."
    ),
    "no_residual": (
        "your blocks have no residual connections: add each branch's output to its input, "
        "x = x + MHA(LN1(x)) and x = x + MLP(LN2(x))."
    ),
    "no_relu": "your MLP has no ReLU: relu(LN2(x) W1 + b1) W2 + b2.",
    "no_final_ln": "your logits skip the final layer norm: logits = LN_f(x) W_out + b_out with lnf_g and lnf_b.",
}
BACKWARD_MISTAKES = {
    "no_skip_grad_mlp": (
        "your gradient does not go past the MLP branch: a residual y = x + f(x) gives dx = dy + "
        "(the branch's dx), so after LN2's backward dx = dout + dm, the upstream gradient plus the "
        "branch's (and likewise around attention)."
    ),
    "no_skip_grad_attention": (
        "your gradient does not go past the attention branch: after LN1's backward, "
        "dx = dx + da, the gradient of the residual plus the branch's."
    ),
    "no_relu_mask": "your MLP's gradient passes the ReLU unmasked: multiply by (LN2(x) W1 + b1 > 0).",
    "no_final_ln_grad": (
        "your gradient skips the final layer norm's backward: pass dlogits W_out^T through "
        "layernorm_backward with LN_f's cache before the blocks."
    ),
    "embedding_overwrite": (
        "your tok_emb gradient keeps one position per repeated token: a token that occurs "
        "several times gets the SUM of their gradients (use your embedding_backward, np.add.at)."
    ),
    "bias_batch_only": (
        "your bias gradients are summed over the batch axis only (shape (T, ...)): a bias is shared "
        "by every position too, so sum over axes 0 and 1 (affine_backward does)."
    ),
}
FORWARD_FLAGS = {
    "no_positions": {"positions": False},
    "scaled_embedding": {"scaled_embedding": True},
    "not_causal": {"causal": False},
    "post_ln": {"post_ln": True},
    "no_residual": {"residual": False},
    "no_relu": {"relu": False},
    "no_final_ln": {"final_ln": False},
}
BACKWARD_FLAGS = {
    "no_skip_grad_mlp": {"skip_mlp": False},
    "no_skip_grad_attention": {"skip_attention": False},
    "no_relu_mask": {"relu_mask": False},
    "no_final_ln_grad": {"final_ln_grad": False},
    "embedding_overwrite": {"overwrite": True},
    "bias_batch_only": {"batch_bias": True},
}

#: (V, D, blocks, heads, B, T, MLP width or None, float32) of the forward and backward cases.
MODELS = [
    (11, 16, 1, 2, 2, 5, None, False),
    (13, 16, 2, 2, 3, 7, None, False),
    (7, 12, 2, 3, 1, 6, None, False),
    (20, 32, 2, 4, 4, 16, None, False),
    (9, 8, 1, 1, 2, 9, 24, False),
]
EDGE_MODELS = [(6, 8, 2, 2, 3, 1, None, False), (5, 8, 1, 4, 1, 1, None, False), (11, 16, 2, 4, 2, 8, None, True)]
#: Tiny models whose gradients are also compared with centred differences of the reference forward.
TINY_MODELS = [(5, 4, 1, 2, 2, 3, 8, False), (4, 4, 2, 2, 2, 4, 6, False)]
TOL64, TOL32 = (1e-7, 1e-10), (1e-4, 1e-5)
GRAD64, GRAD32 = (1e-6, 1e-9), (2e-3, 2e-4)

#: The hidden reversal run (calibration in ``reversal_case``'s docstring).
REVERSAL_SETTINGS = {"steps": 800, "progress": False}
REVERSAL_HELD_OUT = 2_000
REVERSAL_MIN_ACCURACY = 0.95
SEP, N_DIGITS = 10, 8


# ---- what the known mistakes output ---------------------------------------------------------------------------


def _float64(params: dict) -> dict:
    return {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}


def _block(params: dict, layer: int) -> dict:
    return {name: params[f"h{layer}.{name}"] for name in BLOCK_KEYS}


def variant_logits(
    idx,
    params,
    n_heads,
    *,
    positions=True,
    scaled_embedding=False,
    causal=True,
    post_ln=False,
    residual=True,
    relu=True,
    final_ln=True,
) -> np.ndarray:
    """The logits of the model with one of its parts changed (the keywords), built from the reference layers."""
    p = _float64(params)
    x = embedding_forward(idx, p["tok_emb"])[0]
    D = x.shape[-1]
    if scaled_embedding:
        x = x * math.sqrt(D)
    if positions:
        x = x + positional_encoding(x.shape[1], D)

    def mlp(m, b):
        pre = m @ b["W1"] + b["b1"]
        return (np.maximum(pre, 0.0) if relu else pre) @ b["W2"] + b["b2"]

    for layer in range(n_blocks(p)):
        b = _block(p, layer)
        if post_ln:
            x = layernorm_forward(x + multihead_attention_forward(x, b, n_heads, causal)[0], b["ln1_g"], b["ln1_b"])[0]
            x = layernorm_forward(x + mlp(x, b), b["ln2_g"], b["ln2_b"])[0]
            continue
        a = multihead_attention_forward(layernorm_forward(x, b["ln1_g"], b["ln1_b"])[0], b, n_heads, causal)[0]
        x = x + a if residual else a
        m = mlp(layernorm_forward(x, b["ln2_g"], b["ln2_b"])[0], b)
        x = x + m if residual else m
    f = layernorm_forward(x, p["lnf_g"], p["lnf_b"])[0] if final_ln else x
    return f @ p["W_out"] + p["b_out"]


def variant_grads(
    idx,
    params,
    n_heads,
    dlogits,
    *,
    skip_mlp=True,
    skip_attention=True,
    relu_mask=True,
    final_ln_grad=True,
    overwrite=False,
    batch_bias=False,
) -> dict:
    """The gradients of the model with one step of the backward pass changed (the keywords)."""
    p = _float64(params)
    dlogits = np.asarray(dlogits, dtype=np.float64)
    x, emb = embedding_forward(idx, p["tok_emb"])
    x = x + positional_encoding(x.shape[1], x.shape[-1])
    caches = []
    for layer in range(n_blocks(p)):
        b = _block(p, layer)
        a, ln1 = layernorm_forward(x, b["ln1_g"], b["ln1_b"])
        a, mha = multihead_attention_forward(a, b, n_heads, causal=True)
        x = x + a
        m, ln2 = layernorm_forward(x, b["ln2_g"], b["ln2_b"])
        pre = m @ b["W1"] + b["b1"]
        hidden = np.maximum(pre, 0.0)
        x = x + hidden @ b["W2"] + b["b2"]
        caches.append((ln1, mha, ln2, m, pre, hidden, b))
    f, lnf = layernorm_forward(x, p["lnf_g"], p["lnf_b"])

    def rows(a):
        return a.reshape(-1, a.shape[-1])

    def bias(d):
        return d.sum(axis=0) if batch_bias else rows(d).sum(axis=0)

    grads = {"W_out": rows(f).T @ rows(dlogits), "b_out": bias(dlogits)}
    df = dlogits @ p["W_out"].T
    dx, grads["lnf_g"], grads["lnf_b"] = layernorm_backward(df, lnf)
    if not final_ln_grad:
        dx = df
    for layer in reversed(range(len(caches))):
        ln1, mha, ln2, m, pre, hidden, b = caches[layer]
        g = {"W2": rows(hidden).T @ rows(dx), "b2": bias(dx)}
        dpre = dx @ b["W2"].T
        if relu_mask:
            dpre = dpre * (pre > 0)
        g["W1"], g["b1"] = rows(m).T @ rows(dpre), bias(dpre)
        dm, g["ln2_g"], g["ln2_b"] = layernorm_backward(dpre @ b["W1"].T, ln2)
        dx = dx + dm if skip_mlp else dm
        da, g_mha = multihead_attention_backward(dx, mha)
        g.update(g_mha)
        dl1, g["ln1_g"], g["ln1_b"] = layernorm_backward(da, ln1)
        dx = dx + dl1 if skip_attention else dl1
        grads.update({f"h{layer}.{name}": value for name, value in g.items()})
    if overwrite:
        grads["tok_emb"] = np.zeros(p["tok_emb"].shape)
        grads["tok_emb"][np.asarray(idx).reshape(-1)] = rows(dx)  # the last position of a token wins
    else:
        grads["tok_emb"] = embedding_backward(dx, emb)
    return {key: grads[key] for key in p}


def forward_mistakes(idx, params, n_heads) -> dict[str, np.ndarray]:
    """The logits of each known forward mistake."""
    return {name: variant_logits(idx, params, n_heads, **flags) for name, flags in FORWARD_FLAGS.items()}


def backward_mistakes(idx, params, n_heads, dlogits) -> dict[str, dict[str, np.ndarray]]:
    """Per parameter, the gradient each known backward mistake gives."""
    found = {name: variant_grads(idx, params, n_heads, dlogits, **flags) for name, flags in BACKWARD_FLAGS.items()}
    return {key: {name: grads[key] for name, grads in found.items()} for key in params}


# ---- inputs ----------------------------------------------------------------------------------------------------


def random_model(
    rng: np.random.Generator,
    V: int,
    D: int,
    blocks: int,
    heads: int,
    B: int,
    T: int,
    width: int | None = None,
    single: bool = False,
    same_token: bool = False,
) -> dict:
    """A problem: token ids, params in the layout of init_transformer at the scale of a trained model (matrices
    N(0, 1/fan_in), gains 1 +- 0.2, biases and embeddings O(1), so that attention is far from uniform), dlogits."""
    params = init_transformer(rng, V, D, blocks, width)
    for key, value in params.items():
        if value.ndim == 2 and key != "tok_emb":
            params[key] = rng.normal(0.0, 1.0 / math.sqrt(value.shape[0]), value.shape)
        elif key == "tok_emb":
            params[key] = rng.normal(size=value.shape)
        elif key.endswith("_g"):
            params[key] = 1.0 + 0.2 * rng.normal(size=value.shape)
        else:
            params[key] = 0.2 * rng.normal(size=value.shape)
    idx = np.full((B, T), int(rng.integers(V))) if same_token else rng.integers(0, V, size=(B, T))
    dtype = np.float32 if single else np.float64
    return {
        "idx": idx,
        "params": {key: value.astype(dtype) for key, value in params.items()},
        "n_heads": heads,
        "dlogits": rng.normal(size=(B, T, V)).astype(dtype),
    }


def label_of(problem: dict) -> str:
    params = problem["params"]
    V, D = params["tok_emb"].shape
    single = ", float32" if params["tok_emb"].dtype == np.float32 else ""
    return (
        f"idx of shape {problem['idx'].shape}, V = {V}, D = {D}, {n_blocks(params)} block(s), "
        f"{problem['n_heads']} head(s){single}"
    )


# ---- the judges ------------------------------------------------------------------------------------------------


def _entry(answers: Answers, index: int) -> dict:
    entries = answers["problems"]
    if not isinstance(entries, list) or index >= len(entries) or not isinstance(entries[index], dict):
        raise CheckFailed(f"{answers.name}: the answers are incomplete (was the hidden test cell changed?).")
    return entries[index]


def check_logits(answers: Answers, entry: dict, problem: dict, name: str, prefix: str = "") -> None:
    """The forward's logits on ``problem`` against the reference, naming the known mistakes."""
    label = label_of(problem)
    if "forward" in entry:
        failure = entry["forward"]
        if isinstance(failure, Unsupported):
            raise CheckFailed(f"{name} must return the pair (logits, cache); got {failure.type} (on {label}).")
        if isinstance(failure, Raised) and prefix:
            what = (
                "is not implemented yet: write the forward first"
                if failure.type == "NotImplementedError"
                else f"raised {failure.type}: {failure.message} (on {label}); fix the forward first"
            )
            raise CheckFailed(f"{answers.name} is checked on the cache of your {name}, which {what}.")
        Answers(None, name).value(failure, label)
    for argument in entry.get("changed", []):
        raise CheckFailed(
            f"{name if argument != 'dlogits' else answers.name} changed its input `{argument}` in place "
            f"(on {label}); compute new arrays and leave the inputs as they are."
        )
    idx, params, n_heads = problem["idx"], problem["params"], problem["n_heads"]
    want = transformer_forward(idx, _float64(params), n_heads)[0]
    rtol, atol = TOL32 if params["tok_emb"].dtype == np.float32 else TOL64
    scale = max(1.0, float(np.abs(want).max()))
    title = f"{name} on {label}" + (f" (its cache is what {answers.name} gets: fix the forward first)" if prefix else "")
    check_array(
        title,
        entry.get("logits"),
        want,
        rtol=rtol,
        atol=atol * scale,
        mistakes=mistakes_on(forward_mistakes(idx, params, n_heads), FORWARD_MISTAKES),
        hint=prefix + FORWARD_HINT,
    )


def check_grads(answers: Answers, entry: dict, problem: dict, numeric: bool) -> None:
    """Every gradient against the reference's (named mistakes), in the order the backward pass makes them; with
    ``numeric``, also against centred differences (h = 1e-5) of the reference forward."""
    label = label_of(problem)
    if entry.get("dlogits_changed"):
        raise CheckFailed(f"{answers.name} changed its input `dlogits` in place (on {label}); work on new arrays.")
    grads = answers.value(entry.get("grads"), label)
    idx, params, n_heads, dlogits = problem["idx"], problem["params"], problem["n_heads"], problem["dlogits"]
    if not isinstance(grads, dict):
        raise CheckFailed(
            f"{answers.name} must return a dict of gradients keyed like params; got a {type(grads).__name__} (on {label})."
        )
    missing = [key for key in params if key not in grads]
    if missing:
        raise CheckFailed(
            f"{answers.name}: grads lacks {', '.join(repr(k) for k in missing[:4])} (on {label}): "
            "return a gradient for every key of params."
        )
    p64 = _float64(params)
    want = transformer_backward(np.asarray(dlogits, dtype=np.float64), transformer_forward(idx, p64, n_heads)[1])
    wrong = backward_mistakes(idx, params, n_heads, dlogits)
    rtol, atol = GRAD32 if params["tok_emb"].dtype == np.float32 else GRAD64
    scale = max(float(np.abs(value).max()) for value in want.values())  # dbk is 0: judged relative to the others
    for key in order_of_backward(params):
        check_array(
            f"{answers.name} on {label}: grads[{key!r}]",
            grads[key],
            want[key],
            rtol=rtol,
            atol=atol * scale,
            mistakes=mistakes_on(wrong[key], BACKWARD_MISTAKES),
            hint=BACKWARD_HINT,
        )
    if numeric:
        for key in order_of_backward(params):
            check_array(
                f"{answers.name} on {label}: grads[{key!r}] against centred differences of the forward pass",
                grads[key],
                numeric_grad(problem, key),
                rtol=1e-5,
                atol=1e-8 * scale,
                hint=BACKWARD_HINT,
            )


def numeric_grad(problem: dict, key: str) -> np.ndarray:
    """Centred differences (h = 1e-5) of sum(logits * dlogits) of the reference forward with respect to params[key]."""
    params = _float64(problem["params"])
    params = {k: v.copy() for k, v in params.items()}
    idx, n_heads = problem["idx"], problem["n_heads"]
    return numerical_gradient_array(
        lambda _: transformer_forward(idx, params, n_heads)[0], params[key], np.asarray(problem["dlogits"], dtype=np.float64)
    )


def _forward_case(problems: list[dict], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        for i, problem in enumerate(problems):
            check_logits(answers, _entry(answers, i), problem, context.name)
        return summary

    return {"problems": problems}, judge


def _backward_case(problems: list[dict], numeric: int, summary: str):
    """``numeric``: how many of the last problems are also checked against centred differences."""

    def judge(answers: Answers, context: Context) -> str:
        for i, problem in enumerate(problems):
            entry = _entry(answers, i)
            check_logits(answers, entry, problem, "transformer_forward", prefix="fix the forward first: ")
            check_grads(answers, entry, problem, numeric=i >= len(problems) - numeric)
        return summary

    return {"problems": problems}, judge


@case("w05_transformer_forward")
def transformer_forward_case(rng: np.random.Generator):
    """Logits against the reference on five models: 1 block with 2 heads, 2 blocks with 2 and 3 heads (B = 1, an
    odd head width), a 2-block 4-head model of width 32 on 4 x 16 tokens, and one head with an MLP of width 3 D;
    random weights at a trained model's scale. idx and params must be left unchanged."""
    problems = [random_model(rng, *spec) for spec in MODELS]
    return _forward_case(problems, f"logits agree with the reference on {len(problems)} models")


@case("w05_transformer_forward_edge")
def transformer_forward_edge_case(rng: np.random.Generator):
    """T = 1 (3 sequences of one token, 2 blocks), B = T = 1 with 4 heads of width 2, and float32 weights (judged
    at float32 tolerances)."""
    problems = [random_model(rng, *spec) for spec in EDGE_MODELS]
    return _forward_case(problems, "T = 1, a single token and float32 weights agree with the reference")


@case("w05_transformer_backward")
def transformer_backward_case(rng: np.random.Generator):
    """Every gradient against the reference (naming the known mistakes) after the student's own forward, on the five
    models of the forward case (another draw) and two tiny ones (D = 4, 1 and 2 blocks), whose gradients are also
    compared with centred differences of the reference forward. Called as
    check("w05_transformer_backward", transformer_backward, transformer_forward)."""
    problems = [random_model(rng, *spec) for spec in MODELS + TINY_MODELS]
    return _backward_case(
        problems,
        len(TINY_MODELS),
        f"all gradients agree with the reference on {len(problems)} models and with centred differences on the two tiny ones",
    )


@case("w05_transformer_backward_edge")
def transformer_backward_edge_case(rng: np.random.Generator):
    """T = 1, B = T = 1, float32 weights, and 3 x 6 positions all holding the same token (tok_emb's row gets the sum
    of 18 gradients)."""
    problems = [random_model(rng, *spec) for spec in EDGE_MODELS]
    problems.append(random_model(rng, 7, 8, 1, 2, 3, 6, None, False, same_token=True))
    return _backward_case(problems, 0, "T = 1, a single token, float32 and a repeated token agree with the reference")


# ---- training cases --------------------------------------------------------------------------------------------


def reversal_tasks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n held-out reversal tasks (the notebook's reversal_batch, written independently): inputs (n, 2L) and the
    reversed digits (n, L), the targets of positions L .. 2L-1."""
    digits = rng.integers(0, SEP, size=(n, N_DIGITS))
    mirrored = np.flip(digits, axis=1)
    inputs = np.hstack([digits, np.full((n, 1), SEP, dtype=digits.dtype), mirrored[:, : N_DIGITS - 1]])
    return inputs, mirrored


def trained_model(answers: Answers, label: str, vocab_size: int, steps: int) -> tuple[dict, int]:
    """The (params, n_heads, history) a training run returned: layout, heads and history checked, params in float64."""
    params, n_heads, history = answers.parts(answers.value(answers["result"], label), "params", "n_heads", "history")
    problem = layout_problem(params, vocab_size)
    if problem is None:
        problem = heads_problem(n_heads, np.shape(params["tok_emb"])[1]) or losses_problem(history, steps)
    if problem:
        raise CheckFailed(f"{answers.name} ({label}): {problem}")
    heads = int(np.asarray(n_heads).item())
    return _float64(params), heads


def predict(params: dict, n_heads: int, inputs: np.ndarray, batch: int = 500) -> np.ndarray:
    """Logits of the reference forward (float64), ``batch`` sequences at a time."""
    return np.concatenate([transformer_forward(inputs[i : i + batch], params, n_heads)[0] for i in range(0, len(inputs), batch)])


def reversal_accuracy(params: dict, n_heads: int, inputs: np.ndarray, answers: np.ndarray) -> float:
    """Token accuracy of the argmax at positions L .. 2L-1 (teacher forcing) against the reversed digits."""
    predicted = predict(params, n_heads, inputs)[:, N_DIGITS:].argmax(axis=-1)
    return float(np.mean(predicted == answers))


@case("w05_reversal")
def reversal_case(rng: np.random.Generator):
    """train_reversal(seed, steps=800, progress=False) in the kernel; the returned params are checked for
    init_transformer's layout (V = 11), n_heads for dividing D, history['loss'] for one finite loss per step; the
    model is then scored here with the reference forward (float64) on 2,000 reversal tasks drawn here: the token
    accuracy of the 8 predictions after the separator must reach 0.95 (chance is 0.10).

    Calibration (``python -m autograder.cases.w05_transformer reversal``: the notebook's solution, 1 block, 4 heads,
    D = 64, float32, Adam at 1e-2 with 50 warm-up steps and a cosine decay; one BLAS thread, 2 cores shared with
    other jobs): the case's rng 0-4 (training seeds 850, 473, 837, 811, 726) and its own fixed draw (seed 177) give
    accuracy 1.0000 six times, in 9-20 s of training (8-10 s of CPU) and under 1 s of judging. The run is all or
    nothing: the batch accuracy climbs from 0.5 to 0.99 within 20-60 steps once attention finds the mirror position,
    which happened by step 181-362 in 10 seeds of 800-step runs; at 400 steps (the cosine decay halves the learning
    rate by step 200) two seeds of five stayed at 0.68 and 0.72, hence 800. A correct trainer in JAX (float32) and
    one on the reference layers (float64) pass too (tests/test_w05_transformer.py); the untrained model scores
    about 0.10.
    """
    settings = {"seed": int(rng.integers(1000))} | REVERSAL_SETTINGS
    inputs, targets = reversal_tasks(rng, REVERSAL_HELD_OUT)

    def judge(answers: Answers, context: Context) -> str:
        label = f"{settings['steps']} steps, seed {settings['seed']}"
        params, n_heads = trained_model(answers, label, REVERSAL_VOCAB, settings["steps"])
        score = reversal_accuracy(params, n_heads, inputs, targets)
        if score < REVERSAL_MIN_ACCURACY:
            chance = " (chance level: the model learned nothing)" if score < 0.2 else ""
            raise CheckFailed(
                f"{context.name}: held-out token accuracy {score:.4f}{chance} after {label}; at least "
                f"{REVERSAL_MIN_ACCURACY} is expected (the notebook's recipe reaches 1.0). Hint: "
                f"{TRAIN_HINT}"
            )
        return f"held-out token accuracy {score:.4f} on {REVERSAL_HELD_OUT:,} new sequences after {label}"

    return {"settings": settings}, judge


#: The hidden character-model run (calibration in ``char_lm_case``'s docstring).
CHAR_SETTINGS = {"steps": 700, "context": 64, "batch_size": 32, "progress": False}
CHAR_WINDOWS = 512
CHAR_MAX_LOSS = 2.40
#: The validation loss (nats per character) of the add-one bigram model of the training split (computed in the
#: notebook; ``tests/test_w05_transformer.py`` recomputes it).
BIGRAM_LOSS = 2.5312


def char_windows(rng: np.random.Generator, ids: np.ndarray, n: int, context: int) -> tuple[np.ndarray, np.ndarray]:
    """n windows of context + 1 consecutive ids at random places: the inputs and, shifted by one, the targets."""
    first = rng.integers(0, ids.size - context, size=n)
    rows = np.stack([ids[start : start + context + 1] for start in first])
    return rows[:, :context], rows[:, 1:]


def char_loss(params: dict, n_heads: int, inputs: np.ndarray, targets: np.ndarray, batch: int = 128) -> float:
    """Mean cross-entropy (nats) of the reference forward's next-character distributions at every position."""
    total = 0.0
    for i in range(0, len(inputs), batch):
        logits = transformer_forward(inputs[i : i + batch], params, n_heads)[0]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        total -= np.take_along_axis(log_p, targets[i : i + batch, :, None], axis=-1).sum()
    return float(total / targets.size)


@case("w05_char_lm")
def char_lm_case(rng: np.random.Generator):
    """train_char_lm(train_ids, 73, seed, steps=700, context=64, batch_size=32, progress=False) in the kernel (the
    kernel loads the text itself with dlfs.text.load_shakespeare); the returned params are checked for the layout
    (V = 73), n_heads and history['loss'] (one per step); the validation loss is then computed here with the
    reference forward (float64) on 512 windows of 64 characters of the validation split drawn here (32,768
    predictions), and must be at most 2.40 nats per character, 0.13 below the bigram model's 2.53.

    Calibration (``python -m autograder.cases.w05_transformer char_lm``: the notebook's solution, 2 blocks, width 64,
    4 heads, float32, Adam at 5e-3 with 100 warm-up steps and a cosine decay; one BLAS thread, 2 cores shared with
    other jobs): the case's rng 0-5 (training seeds 850, 473, 837, 811, 726, 670) give 2.221, 2.181, 2.171, 2.172,
    2.235 and 2.242 nats per character, and the case's own fixed draw (seed 835) 2.261, in 30-62 s of training (about
    31 s of CPU) and 0.7-1.6 s of judging; the bar is 0.14 above the worst. At a learning rate of 1e-2 one seed of
    three stalled at 2.53 (the bigram's level) for 700 steps, hence 5e-3. The untrained model
    scores 4.29 (ln 73).
    """
    from dlfs.text import load_shakespeare

    settings = {"seed": int(rng.integers(1000))} | CHAR_SETTINGS
    corpus = load_shakespeare()
    inputs, targets = char_windows(rng, corpus.val_ids, CHAR_WINDOWS, settings["context"])

    def judge(answers: Answers, context: Context) -> str:
        label = f"{settings['steps']} steps, seed {settings['seed']}"
        params, n_heads = trained_model(answers, label, corpus.vocab_size, settings["steps"])
        loss = char_loss(params, n_heads, inputs, targets)
        if loss > CHAR_MAX_LOSS:
            worse = " (no better than the bigram model)" if loss >= BIGRAM_LOSS else ""
            raise CheckFailed(
                f"{context.name}: validation loss {loss:.3f} nats per character{worse} after {label}; "
                f"at most {CHAR_MAX_LOSS} is expected (the bigram model: {BIGRAM_LOSS:.2f}; the "
                f"notebook's recipe reaches about 2.2). Hint: {TRAIN_HINT}"
            )
        return (
            f"validation loss {loss:.3f} nats ({loss / math.log(2):.3f} bits) per character after {label} "
            f"(bigram: {BIGRAM_LOSS:.3f})"
        )

    return {"settings": settings}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(55)
    problem = random_model(rng, 7, 8, 2, 2, 2, 5, 16)
    idx, params, n_heads, dlogits = problem["idx"], problem["params"], problem["n_heads"], problem["dlogits"]
    logits, cache = transformer_forward(idx, params, n_heads)
    grads = transformer_backward(dlogits, cache)
    arrays = {"idx": idx, "n_heads": np.array(n_heads), "dlogits": dlogits, "expected_logits": logits}
    arrays |= {f"param_{key}": value for key, value in params.items()}
    arrays |= {f"expected_d{key}": value for key, value in grads.items()}
    arrays |= stored(forward_mistakes(idx, params, n_heads), FORWARD_MISTAKES, suffix="_logits")
    for key, outputs in backward_mistakes(idx, params, n_heads, dlogits).items():
        differ = {
            name: out
            for name, out in outputs.items()
            if out.shape != grads[key].shape or not np.allclose(out, grads[key], rtol=1e-6, atol=1e-9)
        }
        arrays |= stored(differ, BACKWARD_MISTAKES, suffix=f"_d{key}")
    return {"w05_transformer": arrays}


# ---- calibration of the training cases -------------------------------------------------------------------------


def calibrate(kind: str, train, seeds: int, first: int = 0) -> None:
    """Run the hidden training case ``kind`` ("reversal" or "char_lm") with ``train`` on the inputs its case draws
    from np.random.default_rng(first .. first + seeds - 1); print the score, the training and the judging time."""
    from dlfs.text import load_shakespeare

    corpus = load_shakespeare()
    for seed in range(first, first + seeds):
        make = reversal_case if kind == "reversal" else char_lm_case
        inputs, _ = make(np.random.default_rng(seed))
        settings = inputs["settings"]
        t_start = time.perf_counter()
        if kind == "reversal":
            params, n_heads, _ = train(**settings)
        else:
            params, n_heads, _ = train(corpus.train_ids, corpus.vocab_size, **settings)
        took = time.perf_counter() - t_start
        rng = np.random.default_rng(seed)  # the held-out data of the case, drawn again after its settings
        rng.integers(1000)
        if kind == "reversal":
            score = reversal_accuracy(_float64(params), int(n_heads), *reversal_tasks(rng, REVERSAL_HELD_OUT))
        else:
            score = char_loss(
                _float64(params), int(n_heads), *char_windows(rng, corpus.val_ids, CHAR_WINDOWS, settings["context"])
            )
        print(
            f"{kind} rng {seed} (seed {settings['seed']}): {score:.4f}, training {took:.1f} s, judging "
            f"{time.perf_counter() - t_start - took:.1f} s",
            flush=True,
        )


def _notebook_solutions(path) -> dict:
    """What the solution cells of a source notebook define, run after the notebook's imports."""
    import ast

    import nbformat

    from autograder.protocol import _python_only

    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    namespace: dict = {"__name__": "w05_calibration"}
    for cell in cells:
        imports = [n for n in ast.parse(_python_only(cell.source)).body if isinstance(n, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=imports, type_ignores=[]), "<imports>", "exec"), namespace)
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(compile(_python_only(cell.source), "<solution>", "exec"), namespace)
    return namespace


if __name__ == "__main__":  # python -m autograder.cases.w05_transformer {reversal|char_lm} [SEEDS [NOTEBOOK]]
    import sys

    from autograder.course import NOTEBOOK, SOURCE_DIR

    which = sys.argv[1] if len(sys.argv) > 1 else "reversal"
    source = sys.argv[3] if len(sys.argv) > 3 else SOURCE_DIR / "week05_gans_transformers" / NOTEBOOK
    solutions = _notebook_solutions(source)
    calibrate(
        which,
        solutions["train_reversal" if which == "reversal" else "train_char_lm"],
        int(sys.argv[2]) if len(sys.argv) > 2 else (5 if which == "reversal" else 3),
    )
