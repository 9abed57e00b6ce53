"""Week 5, the transformer's small layers (layernorm_forward/backward, embedding_forward/backward,
positional_encoding): known mistakes, hidden cases, fixtures.

The references are :mod:`autograder.cases.transformer_reference`'s (checked against JAX in
``tests/test_transformer_reference.py``), computed in float64 whatever the inputs' type, so that float32 answers
are compared with exact values at float32 tolerances:

    layer norm, over the last axis of x (..., D):  mu = mean(x), var = mean((x - mu)^2) (biased),
        x_hat = (x - mu) / sqrt(var + eps),  out = gamma x_hat + beta;
        with g = dout gamma:  dx = (g - mean(g) - x_hat mean(g x_hat)) / sqrt(var + eps),
        dgamma = sum over every leading axis of dout x_hat,  dbeta = sum over every leading axis of dout;
    embedding:  out[...] = W[idx[...]],  dW[v] = sum of dout[...] over every position where idx == v;
    positions:  PE[t, 2i] = sin(t / 10000^(2i/d)),  PE[t, 2i+1] = cos(t / 10000^(2i/d)),  t = 0 .. T-1.

The backward cases run the student's own forward first (the cache is theirs, through the probe in
``dlfs/checks/w05_layers.py``), compare its output with the reference, then every gradient with the reference
backward and, on the small problems, with centred differences of the reference forward (``autograder.gradcheck``).
Each known mistake is what one plausible wrong implementation outputs; ``tests/test_w05_layers.py`` feeds those
implementations to every case, and the correct alternatives (loops, one-hot products, other valid formulas,
float32) that must pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from autograder.cases.transformer_reference import (
    embedding_backward,
    embedding_forward,
    layernorm_backward,
    layernorm_forward,
    positional_encoding,
)
from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w05_layers import (
    CONSTANT_HINT,
    EMBEDDING_BACKWARD_HINT,
    EMBEDDING_HINT,
    LAYERNORM_BACKWARD_HINT,
    LAYERNORM_HINT,
    PE_HINT,
    tolerances,
)
from dlfs.grading import Call, Raised

LAYERNORM_FORWARD_MISTAKES = {
    "batch_axis": "your statistics are taken over the batch axis (axis=0), as batch normalisation does: layer norm "
    "normalises each vector on its own, with one mean and one variance along the last axis "
    "(axis=-1, keepdims=True).",
    "leading_axes": "your statistics are taken over every leading axis (one mean per feature, batch normalisation "
    "over B and T): layer norm takes one mean and one variance per vector, along the last axis "
    "(axis=-1, keepdims=True).",
    "whole_array": "you normalised with the mean and the variance of the whole array: take one mean and one "
    "variance per vector, along the last axis (axis=-1, keepdims=True).",
    "unbiased": "your variance is the sample variance (ddof=1): layer norm divides by D, np.var's default (ddof=0).",
    "eps_outside": "your epsilon is outside the square root: divide by np.sqrt(var + eps), not np.sqrt(var) + eps.",
    "no_affine": "your output is x_hat alone: scale and shift it, out = gamma * x_hat + beta.",
    "eps_ignored": "your output ignores the eps argument (it matches eps = 1e-5 where the call passed another "
    "value): use the eps you are given.",
}
LAYERNORM_BACKWARD_MISTAKES = {
    "no_mean_term": "your layer norm backward is missing a term, the mean term: the mean depends on every entry of "
    "the vector, so subtract mean(g) along the last axis, dx = (g - mean(g) - x_hat * mean(g * "
    "x_hat)) / sqrt(var + eps) with g = dout * gamma.",
    "no_var_term": "your layer norm backward is missing a term, the variance term: the variance depends on every "
    "entry of the vector too, so subtract x_hat * mean(g * x_hat) along the last axis, with g = "
    "dout * gamma.",
    "no_terms": "your dx is dout * gamma / sqrt(var + eps), as if the mean and the variance were constants: both "
    "depend on x, subtract mean(g) and x_hat * mean(g * x_hat) along the last axis (g = dout * gamma).",
    "no_gamma": "your dx ignores gamma: the gradient reaching x_hat is g = dout * gamma.",
    "no_inv": "your dx is not divided by sqrt(var + eps): x_hat = (x - mean) / sqrt(var + eps), so its gradient "
    "carries that factor.",
    "backward_batch_axis": "the means in your dx run over the batch axis (axis=0), as in batch norm's backward: layer "
    "norm's statistics are per vector, so the means run along the last axis (axis=-1, "
    "keepdims=True).",
    "dgamma_no_xhat": "your dgamma is the sum of dout: out = gamma * x_hat + beta, so dgamma is the sum of "
    "dout * x_hat over every leading axis.",
    "axis0_only": "your dgamma and dbeta are summed over axis 0 only (shape (T, D) for x of shape (B, T, D)): gamma "
    "and beta are shared by every vector, so sum over every leading axis, axis=tuple(range(dout.ndim "
    "- 1)), leaving shape (D,).",
    "dbeta_mean": "your dbeta is the mean of dout: beta is added to every vector, so dbeta is the sum of dout over "
    "every leading axis.",
}
EMBEDDING_FORWARD_MISTAKES = {
    "transposed": "your out indexes the columns of W (W[:, idx]): the table W (V, D) has one row per token, so "
    "out = W[idx], of shape idx.shape + (D,).",
    "flattened": "your out is flattened to (number of indices, D): keep idx's shape, out = W[idx] has shape idx.shape + (D,).",
}
EMBEDDING_BACKWARD_MISTAKES = {
    "overwrite": "embedding backward overwriting repeated indices: dW[idx] = dout (and dW[idx] += dout, which NumPy "
    "buffers the same way) keeps one row of dout per token and loses the others; accumulate every "
    "occurrence with np.add.at(dW, idx, dout).",
    "rows_from_idx": "your dW has idx.max() + 1 rows: it must have W's shape (V, D), with zero rows for the tokens "
    "idx does not use; keep W's shape (or V) in the cache.",
    "transposed": "your dW is transposed: it has W's shape (V, D), one row per token.",
    "dout_returned": "your dW has the shape of dout: the gradient is with respect to the table W (V, D); add each "
    "row of dout into the row of its token in an array of zeros of W's shape.",
}
PE_MISTAKES = {
    "swapped": "your sines and cosines are swapped: the even columns 2i hold sin(t / 10000**(2i/d)), the odd "
    "columns 2i + 1 the cosine.",
    "half_exponent": "your frequencies use the exponent i/d with i the pair index: it is 2i/d (pair i fills columns "
    "2i and 2i + 1), 10000**(2i / d).",
    "column_exponent": "your frequencies use the column index j in 10000**(j / d): both columns of a pair (2i, "
    "2i + 1) share the frequency of 10000**(2i / d), so column j uses 2 * (j // 2).",
    "column_doubled": "your frequencies use 10000**(2j / d) with j the column index: the i of 2i/d is the pair index, "
    "and column j belongs to pair j // 2.",
    "halves": "your encoding puts all the sines first and then all the cosines: the columns interleave, the sine in "
    "column 2i and the cosine in column 2i + 1 (PE[:, 0::2] and PE[:, 1::2]).",
    "base_1000": "your encoding uses the base 1000: the wavelengths grow as 10000**(2i/d).",
    "from_one": "your positions start at 1: the first row is position t = 0 (sin 0 = 0, cos 0 = 1).",
    "transposed": "your PE is transposed: its shape is (T, d), one row per position.",
    "odd_short": "your PE has d - 1 columns for odd d: the last column (index d - 1, even) is the sine of pair "
    "(d - 1) / 2, so there are ceil(d / 2) sines and floor(d / 2) cosines.",
    "odd_long": "your PE has d + 1 columns for odd d: it has d columns, and the last one (index d - 1, even) is a "
    "sine without a cosine partner.",
}


# ---- what the known mistakes output -------------------------------------------------------------------------


def _normalise(x: np.ndarray, axis, eps: float, ddof: int = 0, outside: bool = False) -> np.ndarray:
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, ddof=ddof, keepdims=True)
    return (x - mu) / (np.sqrt(var) + eps if outside else np.sqrt(var + eps))


def layernorm_forward_mistakes(x, gamma, beta, eps: float = 1e-5) -> dict[str, np.ndarray]:
    """What the known layer-norm forward mistakes output on (x, gamma, beta, eps)."""
    x, gamma, beta = (np.asarray(a, dtype=np.float64) for a in (x, gamma, beta))
    found = {
        "batch_axis": gamma * _normalise(x, 0, eps) + beta,
        "whole_array": gamma * _normalise(x, None, eps) + beta,
        "eps_outside": gamma * _normalise(x, -1, eps, outside=True) + beta,
        "no_affine": _normalise(x, -1, eps),
    }
    if x.ndim > 2:
        found["leading_axes"] = gamma * _normalise(x, tuple(range(x.ndim - 1)), eps) + beta
    if x.shape[-1] > 1:
        found["unbiased"] = gamma * _normalise(x, -1, eps, ddof=1) + beta
    if eps != 1e-5:
        found["eps_ignored"] = gamma * _normalise(x, -1, 1e-5) + beta
    return found


def layernorm_backward_mistakes(x, gamma, beta, dout, eps: float = 1e-5) -> dict[str, dict[str, np.ndarray]]:
    """Per part ("dx", "dgamma", "dbeta"), what the known layer-norm backward mistakes give."""
    x, gamma, dout = (np.asarray(a, dtype=np.float64) for a in (x, gamma, dout))
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv
    g = dout * gamma
    lead = tuple(range(x.ndim - 1))

    def mean(a, axis=-1):
        return a.mean(axis=axis, keepdims=True)

    return {
        "dx": {
            "no_mean_term": inv * (g - xhat * mean(g * xhat)),
            "no_var_term": inv * (g - mean(g)),
            "no_terms": inv * g,
            "no_gamma": inv * (dout - mean(dout) - xhat * mean(dout * xhat)),
            "no_inv": g - mean(g) - xhat * mean(g * xhat),
            "backward_batch_axis": inv * (g - mean(g, 0) - xhat * mean(g * xhat, 0)),
        },
        "dgamma": {"dgamma_no_xhat": dout.sum(axis=lead), "axis0_only": (dout * xhat).sum(axis=0)},
        "dbeta": {"axis0_only": dout.sum(axis=0), "dbeta_mean": dout.mean(axis=lead)},
    }


def embedding_forward_mistakes(idx, W) -> dict[str, np.ndarray]:
    """What the known embedding forward mistakes output (the transposed table only where W[:, idx] exists)."""
    idx, W = np.asarray(idx), np.asarray(W, dtype=np.float64)
    found = {"flattened": W[idx.reshape(-1)]} if idx.ndim != 1 else {}
    if idx.size and idx.max() < W.shape[1]:
        found["transposed"] = W[:, idx]
    return found


def embedding_backward_mistakes(idx, W, dout) -> dict[str, np.ndarray]:
    """What the known embedding backward mistakes output."""
    idx, dout = np.asarray(idx), np.asarray(dout, dtype=np.float64)
    right = embedding_backward(dout, (idx, np.shape(W)))
    overwritten = np.zeros(np.shape(W))
    overwritten[idx] = dout
    return {"overwrite": overwritten, "rows_from_idx": right[: idx.max() + 1], "transposed": right.T, "dout_returned": dout}


def _pe(
    T: int,
    d: int,
    *,
    columns: int | None = None,
    base: float = 10000.0,
    rate: str = "pair",
    swap: bool = False,
    halves: bool = False,
    start: int = 0,
) -> np.ndarray:
    """A sinusoidal encoding with one piece changed: ``rate`` "pair" (2i/d, right), "half" (i/d), "column" (j/d),
    "doubled" (2j/d); ``columns`` other than d; sines and cosines ``swap``ped; the ``halves`` layout."""
    columns = d if columns is None else columns
    t = np.arange(start, start + T, dtype=np.float64)[:, None]
    j = np.arange(columns)
    if halves:
        sines = (columns + 1) // 2
        pair = np.where(j < sines, j, j - sines)
        even = j < sines
    else:
        pair, even = j // 2, j % 2 == 0
    exponent = {"pair": 2.0 * pair, "half": 1.0 * pair, "column": 1.0 * j, "doubled": 2.0 * j}[rate] / d
    angle = t / base**exponent
    return np.where(even != swap, np.sin(angle), np.cos(angle))


def positional_encoding_mistakes(T: int, d: int) -> dict[str, np.ndarray]:
    """What the known positional-encoding mistakes output for (T, d)."""
    found = {
        "swapped": _pe(T, d, swap=True),
        "half_exponent": _pe(T, d, rate="half"),
        "column_exponent": _pe(T, d, rate="column"),
        "column_doubled": _pe(T, d, rate="doubled"),
        "halves": _pe(T, d, halves=True),
        "base_1000": _pe(T, d, base=1000.0),
        "from_one": _pe(T, d, start=1),
        "transposed": positional_encoding(T, d).T,
    }
    if d % 2:
        found["odd_short"] = _pe(T, d, columns=d - 1)
        found["odd_long"] = _pe(T, d, columns=d + 1)
    return found


# ---- inputs ---------------------------------------------------------------------------------------------------


def make_layernorm(rng: np.random.Generator, shape: tuple, dtype=np.float64, spread: float | None = None):
    """x of the given shape with an offset and a spread of its own per vector (``spread`` fixes the latter);
    gamma, beta (D,)."""
    lead, D = shape[:-1], shape[-1]
    loc = rng.uniform(-3, 3, (*lead, 1))
    scale = rng.uniform(0.5, 3, (*lead, 1)) if spread is None else spread
    x = loc + scale * rng.normal(size=shape)
    return x.astype(dtype), rng.uniform(0.5, 2, D).astype(dtype), rng.normal(size=D).astype(dtype)


def dtype_note(*arrays: np.ndarray) -> str:
    return ", float32" if any(np.asarray(a).dtype == np.float32 for a in arrays) else ""


# ---- hidden cases: layer norm forward ---------------------------------------------------------------------------


def _layernorm_forward_case(problems: list[tuple], summary: str):
    """problems: (x, gamma, beta, eps or None (the default), label, hint); out against the reference."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (x, gamma, beta, eps, label, hint) in enumerate(problems):
            value = answers.result(i, label, arguments=("x", "gamma", "beta"))
            out = answers.value(answers.parts(value, "out", "cache")[0], label)
            given = 1e-5 if eps is None else eps
            want = layernorm_forward(x, gamma, beta, given)[0]
            rtol, atol = tolerances(x, scale=float(np.abs(want).max()))
            check_array(
                f"{context.name} on {label}",
                out,
                want,
                rtol=rtol,
                atol=atol,
                hint=hint,
                mistakes=mistakes_on(layernorm_forward_mistakes(x, gamma, beta, given), LAYERNORM_FORWARD_MISTAKES),
            )
        return summary

    calls = [Call((x, gamma, beta), {} if eps is None else {"eps": eps}) for x, gamma, beta, eps, *_ in problems]
    return {"calls": calls}, judge


def _shape_label(x: np.ndarray, extra: str = "") -> str:
    return f"x of shape {x.shape}{dtype_note(x)}{', ' + extra if extra else ''}"


@case("w05_layernorm_forward")
def layernorm_forward_case(rng: np.random.Generator):
    """2-D and 3-D inputs, each vector with an offset and a spread of its own: (4, 8), N = 1 (1, 6), (2, 5, 8),
    B = T = 1 (1, 1, 16), (3, 7, 4), (16, 32); the default eps."""
    problems = []
    for shape in [(4, 8), (1, 6), (2, 5, 8), (1, 1, 16), (3, 7, 4), (16, 32)]:
        x, gamma, beta = make_layernorm(rng, shape)
        problems.append((x, gamma, beta, None, _shape_label(x), LAYERNORM_HINT))
    return _layernorm_forward_case(
        problems, f"out agrees with the reference on {len(problems)} inputs, 2-D and 3-D (N = 1, B = T = 1 included)"
    )


@case("w05_layernorm_forward_edge")
def layernorm_forward_edge_case(rng: np.random.Generator):
    """A constant row (variance 0: eps keeps x_hat at 0), constant vectors in a 3-D input, D = 1, vectors of small
    spread (std 0.01: eps matters), eps = 0.1 passed as a keyword, and float32 inputs (2-D and 3-D)."""
    x, gamma, beta = make_layernorm(rng, (5, 6))
    x[2] = 1.7
    problems = [(x, gamma, beta, None, _shape_label(x, "row 2 constant (variance 0)"), CONSTANT_HINT)]
    x, gamma, beta = make_layernorm(rng, (2, 3, 4))
    x[1, 2], x[0, 0] = -0.3, 0.0
    problems.append((x, gamma, beta, None, _shape_label(x, "x[1, 2] and x[0, 0] constant"), CONSTANT_HINT))
    x, gamma, beta = make_layernorm(rng, (3, 1))
    problems.append((x, gamma, beta, None, _shape_label(x, "D = 1 (every vector constant)"), CONSTANT_HINT))
    x, gamma, beta = make_layernorm(rng, (3, 8), spread=0.01)
    problems.append((x, gamma, beta, None, _shape_label(x, "vectors of spread 0.01 (var ~ 1e-4, eps matters)"), LAYERNORM_HINT))
    x, gamma, beta = make_layernorm(rng, (4, 5), spread=0.3)
    problems.append((x, gamma, beta, 0.1, _shape_label(x, "eps=0.1"), "use the eps argument: np.sqrt(var + eps)."))
    for shape in [(6, 16), (2, 4, 8)]:
        x, gamma, beta = make_layernorm(rng, shape, np.float32)
        problems.append((x, gamma, beta, None, _shape_label(x), LAYERNORM_HINT))
    return _layernorm_forward_case(
        problems, "constant vectors give beta (not NaN), D = 1, a given eps and float32 inputs agree with the reference"
    )


# ---- hidden cases: backward passes (the probe runs the student's forward, then the backward) ---------------------


def backward_case(
    problems: list[dict],
    expected_of: Callable[[dict], dict],
    mistakes_of: Callable[[dict], dict],
    messages: dict[str, str],
    forward_messages: dict[str, str],
    parts: Sequence[str],
    all_parts: Sequence[str],
    hint: str,
    forward_name: str,
    forward_hint: str,
    arguments: Sequence[str],
    summary: str,
):
    """Each problem's forward output, then its gradients ``parts`` (of the backward's ``all_parts``) against the
    reference and, for problems marked ``numeric``, against centred differences of the reference forward.

    ``problems`` are dicts {"args", "kwargs", "dout", "label", "numeric", "numeric_of"} (the probe gets the first
    three); ``expected_of`` gives {"out": ..., <part>: ...} (float64), ``mistakes_of`` {"out": {mistake: output},
    <part>: {mistake: output}}, and ``numeric_of`` {part: centred differences}.
    """
    sent = [{k: p[k] for k in ("args", "kwargs", "dout")} for p in problems]

    def judge(answers: Answers, context: Context) -> str:
        entries = answers["problems"]
        if not (isinstance(entries, list) and len(entries) == len(problems) and all(isinstance(e, dict) for e in entries)):
            raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
        for entry, problem in zip(entries, problems):
            where = problem["label"]
            if "forward" in entry:
                failure = entry["forward"]
                if isinstance(failure, Raised) and failure.type == "NotImplementedError":
                    raise CheckFailed(
                        f"{context.name} is checked on the cache of your {forward_name}, which is not "
                        "implemented yet: write the forward first."
                    )
                what = f"raised {failure.type}: {failure.message}" if isinstance(failure, Raised) else f"returned {failure}"
                raise CheckFailed(
                    f"{context.name} is checked on the cache of your {forward_name}, which {what} "
                    f"(on {where}); fix the forward first."
                )
            if "not_pair" in entry:
                raise CheckFailed(
                    f"{forward_name} must return the pair (out, cache), whose cache {context.name} "
                    f"gets; it returned a {entry['not_pair']} (on {where})."
                )
            names = (*arguments, "dout")
            for position in entry.get("changed", []):
                if not isinstance(position, int) or not 0 <= position < len(names):
                    raise CheckFailed(f"{context.name}: the answers are malformed (was the hidden test cell changed?).")
                who = context.name if names[position] == "dout" else f"{forward_name} or {context.name}"
                raise CheckFailed(f"{who} changed `{names[position]}` in place (on {where}); work on a copy or on new arrays.")
            want, wrong = expected_of(problem), mistakes_of(problem)
            arrays = [a for a in (*problem["args"], problem["dout"]) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
            out = Answers(None, forward_name).value(entry.get("out"), where)
            rtol, atol = tolerances(*arrays, scale=float(np.abs(want["out"]).max(initial=0.0)))
            check_array(
                f"{forward_name} on {where} (its cache is what {context.name} gets: fix the forward first)",
                out,
                want["out"],
                rtol=rtol,
                atol=atol,
                hint=forward_hint,
                mistakes=mistakes_on(wrong.get("out", {}), forward_messages),
            )
            result = answers.value(entry.get("grads"), where)
            got = dict(zip(all_parts, answers.parts(result, *all_parts) if len(all_parts) > 1 else (result,)))
            numeric = problem["numeric_of"](problem) if problem.get("numeric") else {}
            for part in parts:
                scale = float(np.abs(want[part]).max(initial=0.0))
                rtol, atol = tolerances(*arrays, scale=scale, gradient=True)
                check_array(
                    f"{context.name} on {where}: {part}",
                    got[part],
                    want[part],
                    rtol=rtol,
                    atol=atol,
                    hint=hint,
                    mistakes=mistakes_on(wrong.get(part, {}), messages),
                )
                if part in numeric:
                    check_array(
                        f"{context.name} on {where}: {part} against centred differences of the layer",
                        got[part],
                        numeric[part],
                        rtol=1e-5,
                        atol=1e-7 * max(scale, 1.0),
                        hint=hint,
                    )
        return summary

    return {"problems": sent}, judge


def _layernorm_eps(problem: dict) -> float:
    return problem["kwargs"].get("eps", 1e-5)


def _layernorm_expected(problem: dict) -> dict:
    x, gamma, beta = problem["args"]
    out, cache = layernorm_forward(x, gamma, beta, _layernorm_eps(problem))
    dx, dgamma, dbeta = layernorm_backward(np.asarray(problem["dout"], dtype=np.float64), cache)
    return {"out": out, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _layernorm_mistakes(problem: dict) -> dict:
    x, gamma, beta = problem["args"]
    eps = _layernorm_eps(problem)
    return layernorm_backward_mistakes(x, gamma, beta, problem["dout"], eps) | {
        "out": layernorm_forward_mistakes(x, gamma, beta, eps)
    }


def layernorm_numeric(problem: dict) -> dict:
    """Centred differences (h = 1e-5) of sum(out * dout) for the reference forward, per argument."""
    x, gamma, beta = (np.array(a, dtype=np.float64) for a in problem["args"])
    dout, eps = np.asarray(problem["dout"], dtype=np.float64), _layernorm_eps(problem)

    def out(a, g, b):
        return layernorm_forward(a, g, b, eps)[0]

    return {
        "dx": numerical_gradient_array(lambda a: out(a, gamma, beta), x, dout),
        "dgamma": numerical_gradient_array(lambda g: out(x, g, beta), gamma, dout),
        "dbeta": numerical_gradient_array(lambda b: out(x, gamma, b), beta, dout),
    }


def layernorm_problems(rng: np.random.Generator) -> list[dict]:
    """2-D and 3-D problems; the small ones (numeric) are also compared with centred differences."""
    problems = []
    for shape, numeric, dtype, extra in [
        ((2, 5), True, np.float64, ""),
        ((1, 4), True, np.float64, ""),
        ((2, 3, 4), True, np.float64, ""),
        ((4, 16), False, np.float64, ""),
        ((2, 6, 8), False, np.float64, ""),
        ((3, 6), False, np.float64, "constant"),
        ((3, 5), True, np.float64, "eps"),
        ((5, 8), False, np.float32, ""),
        ((2, 3, 6), False, np.float32, ""),
    ]:
        x, gamma, beta = make_layernorm(rng, shape, dtype)
        kwargs, note = {}, ""
        if extra == "constant":
            x[1], note = 2.5, "row 1 constant (variance 0)"
        elif extra == "eps":
            kwargs, note = {"eps": 0.1}, "eps=0.1"
        problems.append(
            {
                "args": [x, gamma, beta],
                "kwargs": kwargs,
                "dout": rng.normal(size=shape).astype(dtype),
                "label": _shape_label(x, note),
                "numeric": numeric,
                "numeric_of": layernorm_numeric,
            }
        )
    return problems


def _layernorm_backward_case(rng: np.random.Generator, parts: tuple[str, ...], summary: str):
    return backward_case(
        layernorm_problems(rng),
        _layernorm_expected,
        _layernorm_mistakes,
        LAYERNORM_BACKWARD_MISTAKES,
        LAYERNORM_FORWARD_MISTAKES,
        parts,
        ("dx", "dgamma", "dbeta"),
        LAYERNORM_BACKWARD_HINT,
        "layernorm_forward",
        "fix the forward first: " + LAYERNORM_HINT,
        ("x", "gamma", "beta"),
        summary,
    )


@case("w05_layernorm_backward")
def layernorm_backward_case(rng: np.random.Generator):
    """dx after the student's forward, against the reference (named mistakes) on (2, 5), N = 1 (1, 4), (2, 3, 4),
    (4, 16), (2, 6, 8), a constant row (3, 6), eps = 0.1 (3, 5) and float32 (5, 8) and (2, 3, 6); against centred
    differences of the layer on the four small ones. Called as
    check("w05_layernorm_backward", layernorm_backward, layernorm_forward)."""
    return _layernorm_backward_case(
        rng,
        ("dx",),
        "dx agrees with the reference and with centred differences on 9 "
        "inputs (2-D and 3-D, N = 1, a constant row, a given eps, float32)",
    )


@case("w05_layernorm_param_grads")
def layernorm_param_grads_case(rng: np.random.Generator):
    """dgamma and dbeta (shape (D,), summed over every leading axis) on the inputs of the dx case, against the
    reference and centred differences. Called as
    check("w05_layernorm_param_grads", layernorm_backward, layernorm_forward)."""
    return _layernorm_backward_case(
        rng,
        ("dgamma", "dbeta"),
        "dgamma and dbeta agree with the reference and with centred differences on 9 inputs (2-D and 3-D)",
    )


# ---- hidden cases: embeddings -----------------------------------------------------------------------------------


def _idx_label(idx: np.ndarray, W: np.ndarray, extra: str = "") -> str:
    kind = f" ({idx.dtype})" if idx.dtype != np.int64 else ""
    return f"idx of shape {idx.shape}{kind}, W of shape {W.shape}{dtype_note(W)}{', ' + extra if extra else ''}"


@case("w05_embedding_forward")
def embedding_forward_case(rng: np.random.Generator):
    """idx 1-D, 2-D and 3-D with repeated tokens, a single index (1,) and (1, 1), V = 1, int32 indices and a
    float32 table; out must be W's rows (exactly)."""
    problems = []
    for shape, V, D, idx_dtype, dtype in [
        ((5,), 6, 8, np.int64, np.float64),
        ((3, 5), 7, 6, np.int64, np.float64),
        ((1,), 5, 3, np.int64, np.float64),
        ((1, 1), 6, 2, np.int64, np.float64),
        ((4,), 1, 3, np.int64, np.float64),
        ((2, 2, 3), 5, 4, np.int64, np.float64),
        ((2, 6), 9, 8, np.int32, np.float64),
        ((2, 4), 9, 8, np.int64, np.float32),
    ]:
        idx = rng.integers(0, V, size=shape).astype(idx_dtype)
        if idx.size > 1:
            idx.flat[-1] = idx.flat[0]  # a repeat in every problem with more than one index
        problems.append((idx, rng.normal(size=(V, D)).astype(dtype)))

    def judge(answers: Answers, context: Context) -> str:
        for i, (idx, W) in enumerate(problems):
            label = _idx_label(idx, W, "V = 1" if len(W) == 1 else "")
            value = answers.result(i, label, arguments=("idx", "W"))
            out = answers.value(answers.parts(value, "out", "cache")[0], label)
            want = embedding_forward(idx, W)[0]
            rtol, atol = tolerances(W, scale=float(np.abs(want).max()))
            check_array(
                f"{context.name} on {label}",
                out,
                want,
                rtol=rtol,
                atol=atol,
                hint=EMBEDDING_HINT,
                mistakes=mistakes_on(embedding_forward_mistakes(idx, W), EMBEDDING_FORWARD_MISTAKES),
            )
        return f"out agrees with the reference on {len(problems)} index arrays (1-D, 2-D, 3-D, V = 1, float32)"

    return {"calls": [Call((idx, W)) for idx, W in problems]}, judge


def _embedding_expected(problem: dict) -> dict:
    idx, W = problem["args"]
    out, cache = embedding_forward(idx, W)
    return {"out": out, "dW": embedding_backward(np.asarray(problem["dout"], dtype=np.float64), cache)}


def _embedding_mistakes(problem: dict) -> dict:
    idx, W = problem["args"]
    return {"out": embedding_forward_mistakes(idx, W), "dW": embedding_backward_mistakes(idx, W, problem["dout"])}


def embedding_numeric(problem: dict) -> dict:
    """Centred differences of sum(out * dout) for the reference forward, with respect to W."""
    idx, W = problem["args"]
    dout = np.asarray(problem["dout"], dtype=np.float64)
    return {"dW": numerical_gradient_array(lambda w: embedding_forward(idx, w)[0], np.array(W, dtype=np.float64), dout)}


def embedding_problem(
    idx: np.ndarray, V: int, D: int, rng: np.random.Generator, note: str, numeric: bool = False, dtype=np.float64
) -> dict:
    W = rng.normal(size=(V, D)).astype(dtype)
    return {
        "args": [idx, W],
        "kwargs": {},
        "dout": rng.normal(size=(*idx.shape, D)).astype(dtype),
        "label": _idx_label(idx, W, note),
        "numeric": numeric,
        "numeric_of": embedding_numeric,
    }


def _embedding_backward_case(problems: list[dict], summary: str):
    return backward_case(
        problems,
        _embedding_expected,
        _embedding_mistakes,
        EMBEDDING_BACKWARD_MISTAKES,
        EMBEDDING_FORWARD_MISTAKES,
        ("dW",),
        ("dW",),
        EMBEDDING_BACKWARD_HINT,
        "embedding_forward",
        "fix the forward first: " + EMBEDDING_HINT,
        ("idx", "W"),
        summary,
    )


@case("w05_embedding_backward")
def embedding_backward_case(rng: np.random.Generator):
    """Distinct tokens only (where overwriting, dW[idx] = dout, is right too): 1-D and 2-D idx, unused rows of W
    (zero gradient; the last token never occurs), every token once (a permutation), V = 1 with one index, int32
    indices with float32 arrays. Called as
    check("w05_embedding_backward", embedding_backward, embedding_forward)."""
    problems = [
        embedding_problem(rng.permutation(7)[:5], 8, 3, rng, "distinct tokens", numeric=True),
        embedding_problem(rng.permutation(9)[:6].reshape(2, 3), 10, 4, rng, "distinct tokens", numeric=True),
        embedding_problem(rng.permutation(6), 6, 5, rng, "each token once"),
        embedding_problem(np.zeros(1, dtype=np.int64), 1, 5, rng, "V = 1"),
        embedding_problem(
            rng.permutation(39)[:12].reshape(3, 4).astype(np.int32), 40, 6, rng, "distinct tokens", dtype=np.float32
        ),
    ]
    return _embedding_backward_case(
        problems,
        "dW agrees with the reference and with centred differences when no token repeats (1-D and 2-D idx, V = 1, float32)",
    )


def _with_repeats(rng: np.random.Generator, shape: tuple, V: int) -> np.ndarray:
    """Indices in [0, V - 1) (the last token unused) in which the first token appears three times."""
    idx = rng.integers(0, V - 1, size=shape) if V > 1 else np.zeros(shape, dtype=np.int64)
    flat = idx.reshape(-1)
    flat[[len(flat) // 2, len(flat) - 1]] = flat[0]
    return idx


@case("w05_embedding_backward_repeats")
def embedding_backward_repeats_case(rng: np.random.Generator):
    """Repeated tokens, whose gradients must add up: 1-D (12,), 2-D (4, 6) and 3-D (2, 2, 3) idx, V = 1 (every
    index the same), a batch of (3, 8) from a vocabulary of 50, float32; the last token of each vocabulary is unused.
    Called as check("w05_embedding_backward_repeats", embedding_backward, embedding_forward)."""
    problems = [
        embedding_problem(_with_repeats(rng, (12,), 5), 5, 3, rng, "repeated tokens", numeric=True),
        embedding_problem(_with_repeats(rng, (4, 6), 7), 7, 4, rng, "repeated tokens", numeric=True),
        embedding_problem(_with_repeats(rng, (2, 2, 3), 6), 6, 2, rng, "repeated tokens"),
        embedding_problem(np.zeros((2, 3), dtype=np.int64), 1, 4, rng, "V = 1, every index 0"),
        embedding_problem(_with_repeats(rng, (3, 8), 50), 50, 16, rng, "repeated tokens", dtype=np.float32),
    ]
    return _embedding_backward_case(
        problems, "dW accumulates repeated tokens (1-D, 2-D and 3-D idx, V = 1, float32) and agrees with centred differences"
    )


# ---- hidden cases: positional encodings -------------------------------------------------------------------------


def _positional_case(sizes: list[tuple[int, int]], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        for i, (T, d) in enumerate(sizes):
            raised = answers["results"][i]
            if d % 2 and isinstance(raised, Raised) and raised.type != "NotImplementedError":
                raise CheckFailed(
                    f"{context.name}({T}, {d}) raised {raised.type}: {raised.message}. For odd d there are "
                    f"{(d + 1) // 2} sine columns (0, 2, ..., {d - 1}) but only {d // 2} cosine columns: PE[:, 1::2] "
                    "takes the angles of the first d // 2 frequencies."
                )
            got = answers.result(i, f"T={T}, d={d}", arguments=("T", "d"))
            if isinstance(got, np.ndarray) and got.dtype == np.float32:
                raise CheckFailed(
                    f"{context.name}({T}, {d}) returned float32: compute in float64 (np.arange gives "
                    "integers, and dividing them gives float64)."
                )
            check_array(
                f"{context.name}({T}, {d})",
                got,
                positional_encoding(T, d),
                rtol=1e-7,
                atol=1e-10,
                hint=PE_HINT,
                mistakes=mistakes_on(positional_encoding_mistakes(T, d), PE_MISTAKES),
            )
        return summary

    return {"calls": [Call((T, d)) for T, d in sizes]}, judge


@case("w05_positional_encoding")
def positional_encoding_case(rng: np.random.Generator):
    """Even d: (T, d) = (10, 16), (50, 64), (7, 4), (128, 32), (3, 2)."""
    sizes = [(10, 16), (50, 64), (7, 4), (128, 32), (3, 2)]
    return _positional_case(sizes, f"PE agrees with the reference for {len(sizes)} sizes with even d")


@case("w05_positional_encoding_edge")
def positional_encoding_edge_case(rng: np.random.Generator):
    """Odd d (the last column a sine): (10, 7), (6, 3), (20, 1); T = 1: (1, 8), (1, 5); and a long sequence
    (2048, 12)."""
    sizes = [(10, 7), (6, 3), (20, 1), (1, 8), (1, 5), (2048, 12)]
    return _positional_case(sizes, "PE agrees with the reference for odd d (d = 1 included), T = 1 and T = 2048")


# ---- fixtures of the visible checks ----------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(505)
    forward: dict[str, np.ndarray] = {}
    for suffix, shape in (("2", (4, 6)), ("3", (2, 3, 5))):
        x, gamma, beta = make_layernorm(rng, shape)
        if suffix == "3":
            x[1, 2] = 0.8
        forward |= {
            f"x{suffix}": x,
            f"gamma{suffix}": gamma,
            f"beta{suffix}": beta,
            f"expected_out{suffix}": layernorm_forward(x, gamma, beta)[0],
        }
        forward |= stored(layernorm_forward_mistakes(x, gamma, beta), LAYERNORM_FORWARD_MISTAKES, f"_{suffix}")

    x, gamma, beta = make_layernorm(rng, (2, 3, 4))
    dout = rng.normal(size=np.shape(x))
    out, cache = layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    wrong = layernorm_backward_mistakes(x, gamma, beta, dout)
    backward = (
        {
            "x": x,
            "gamma": gamma,
            "beta": beta,
            "dout": dout,
            "expected_out": out,
            "expected_dx": dx,
            "expected_dgamma": dgamma,
            "expected_dbeta": dbeta,
        }
        | stored(wrong["dx"], LAYERNORM_BACKWARD_MISTAKES, "_dx")
        | stored(wrong["dgamma"], LAYERNORM_BACKWARD_MISTAKES, "_dgamma")
        | stored(wrong["dbeta"], LAYERNORM_BACKWARD_MISTAKES, "_dbeta")
    )

    W = rng.normal(size=(6, 7))  # D > V, so that the transposed lookup W[:, idx] runs (and is named)
    idx1, idx2 = np.array([3, 0, 3, 5, 1]), np.array([[2, 0, 2, 1, 3], [3, 3, 0, 2, 1]])
    embedding = {"W": W}
    for suffix, idx in (("1", idx1), ("2", idx2)):
        embedding |= {f"idx{suffix}": idx, f"expected_out{suffix}": embedding_forward(idx, W)[0]}
        embedding |= stored(embedding_forward_mistakes(idx, W), EMBEDDING_FORWARD_MISTAKES, f"_{suffix}")

    idx = np.array([[4, 1, 1, 0, 2], [2, 3, 1, 0, 4]])  # tokens 0, 1, 2 and 4 repeat; token 5 is unused
    W = rng.normal(size=(6, 3))
    dout = rng.normal(size=(*idx.shape, 3))
    values, counts = np.unique(idx, return_counts=True)
    embedding_grad = {
        "idx": idx,
        "W": W,
        "dout": dout,
        "repeated": values[counts > 1],
        "expected_dW": embedding_backward(dout, embedding_forward(idx, W)[1]),
    } | stored(embedding_backward_mistakes(idx, W, dout), EMBEDDING_BACKWARD_MISTAKES)

    positions: dict[str, np.ndarray] = {}
    for suffix, (T, d) in (("even", (12, 8)), ("odd", (5, 7))):
        positions |= {f"size_{suffix}": np.array([T, d]), f"expected_{suffix}": positional_encoding(T, d)}
        positions |= stored(positional_encoding_mistakes(T, d), PE_MISTAKES, f"_{suffix}")

    return {
        "w05_layernorm_forward": forward,
        "w05_layernorm_backward": backward,
        "w05_embedding_forward": embedding,
        "w05_embedding_backward": embedding_grad,
        "w05_positional_encoding": positions,
    }
