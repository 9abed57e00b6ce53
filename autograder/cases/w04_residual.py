"""Week 4, the residual block (residual_block_forward/backward): reference, known mistakes, hidden cases, fixtures.

The reference is built from :func:`autograder.cases.conv_reference.conv_forward_fast`/``conv_backward_fast``
(checked against loops, SciPy and JAX in ``tests/test_conv_reference.py``) and this week's spatial batch
normalisation reference (:mod:`autograder.cases.w04_batchnorm`), in float64 whatever the inputs' type. Each known
mistake is the block with one piece changed (:func:`block_forward` and :func:`block_backward` take the variant's
name). Every backward answer is compared with the reference and, on the small problems, with centred differences of
the reference block computed here (``autograder.gradcheck``); ``tests/test_w04_residual.py`` checks the reference
against ``jax.vjp``.
"""

from __future__ import annotations

import numpy as np

from autograder.cases.conv_reference import conv_backward_fast, conv_forward_fast
from autograder.cases.w04_batchnorm import FORWARD_MISTAKES as BN_FORWARD_MISTAKES
from autograder.cases.w04_batchnorm import forward_mistakes as bn_forward_mistakes
from autograder.cases.w04_batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward
from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w04_residual import PARAM_KEYS, RESIDUAL_BACKWARD_HINT, RESIDUAL_HINT, RUNNING_HINT
from dlfs.grading import Raised

FORWARD_MISTAKES = {
    "no_skip": "your block has no skip connection: add the input before the final ReLU, out = relu(x + bn2(conv2(h))).",
    "branch_relu": "you add x after the final ReLU (out = x + relu(bn2(conv2(h)))): add first, then apply the ReLU, "
                   "out = relu(x + bn2(conv2(h))), so the block's output is never negative.",
    "no_final_relu": "your output has no final ReLU: out = relu(x + bn2(conv2(h))).",
    "no_inner_relu": "your h has no ReLU: h = relu(bn1(conv1(x))) (without it the two convolutions and batch "
                     "normalisations collapse into one affine map).",
    "relu_before_bn": "your first half applies the ReLU before the batch normalisation: the order is conv1, bn1, ReLU, "
                      "h = relu(bn1(conv1(x))).",
    "one_bn_param": "both batch normalisations update bn_params[0]: bn2 has its own dict, bn_params[1].",
} | {name: "in one of the batch normalisations, " + BN_FORWARD_MISTAKES[name]
     for name in ("per_position", "no_transpose", "unbiased_running", "momentum_swapped")} | {
    "not_updated": "the running averages of this bn_param did not change in training: pass the dicts bn_params[0] "
                   "and bn_params[1] themselves to spatial_batchnorm_forward (not copies), which writes the updated "
                   "averages into them.",
}
TEST_MODE_MISTAKES = {
    "batch_stats": "in test mode your block normalises with the batch's statistics: pass bn_params[0] and "
                   "bn_params[1] themselves (their 'mode' is 'test') to spatial_batchnorm_forward, which then uses "
                   "their running averages.",
    "test_updates": "your test-mode call changed the running averages: in test mode they are only read.",
}
BACKWARD_MISTAKES = {
    "no_identity_grad": "your dx is missing the gradient of the identity path: out = relu(x + F(x)) reaches x twice, "
                        "so dx = dz + (the gradient through the branch), with dz = dout * (z > 0): gradients flow "
                        "through the skip connection too.",
    "identity_unmasked": "the identity's share of your dx skips the final ReLU's mask: it is dz = dout * (z > 0), "
                         "z = x + bn2(conv2(h)), like the branch's (add dz, not dout).",
    "no_final_mask": "your backward ignores the final ReLU: start from dz = dout * (z > 0), z = x + bn2(conv2(h)), "
                     "for both the branch and the identity.",
    "inner_mask_pre_bn": "the ReLU mask of h is taken before bn1: the ReLU acts on bn1's output, so the mask is "
                         "(bn1(conv1(x)) > 0).",
    "no_inner_mask": "your backward skips the ReLU of h: multiply the gradient reaching h by its mask "
                     "(bn1(conv1(x)) > 0) before bn1's backward.",
    "bn_no_mean_term": "your batch normalisation backward is missing the mean term: subtract mean(dx_hat) over "
                       "(N, H, W) (check spatial_batchnorm_backward's own test).",
    "bn_no_var_term": "your batch normalisation backward is missing the variance term: subtract x_hat * "
                      "mean(dx_hat * x_hat) over (N, H, W) (check spatial_batchnorm_backward's own test).",
    "grads_swapped": "your grads of the two halves are swapped: w1, b1, gamma1, beta1 belong to conv1 and bn1 (the "
                     "first half), w2, b2, gamma2, beta2 to conv2 and bn2.",
}


# ---- the reference and its variants ----------------------------------------------------------------------------


def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0.0)


def block_forward(x: np.ndarray, params: dict, bn_params: list, variant: str = ""):
    """The block with one piece changed by ``variant`` (a key of FORWARD_MISTAKES); "" is the reference (see
    :func:`residual_block_forward`). The bn_params dicts are updated as the variant would update them."""
    x = np.asarray(x, dtype=np.float64)
    p = {key: np.asarray(params[key], dtype=np.float64) for key in PARAM_KEYS}
    a1, conv1 = conv_forward_fast(x, p["w1"], p["b1"], 1, 1)
    first = _relu(a1) if variant == "relu_before_bn" else a1
    s1, bn1 = spatial_batchnorm_forward(first, p["gamma1"], p["beta1"], bn_params[0])
    h = s1 if variant in ("no_inner_relu", "relu_before_bn") else _relu(s1)
    a2, conv2 = conv_forward_fast(h, p["w2"], p["b2"], 1, 1)
    s2, bn2 = spatial_batchnorm_forward(a2, p["gamma2"], p["beta2"], bn_params[0 if variant == "one_bn_param" else 1])
    z = x + s2
    out = {"no_skip": _relu(s2), "branch_relu": x + _relu(s2), "no_final_relu": z}.get(variant, _relu(z))
    return out, (conv1, bn1, a1, s1, conv2, bn2, a2, z, p)


def residual_block_forward(x: np.ndarray, params: dict, bn_params: list):
    """The residual block of week 4, in float64:

        a1 = conv1(x) = conv(x; w1, b1),  s1 = bn1(a1) = BN(a1; gamma1, beta1, bn_params[0]),  h = relu(s1),
        a2 = conv2(h) = conv(h; w2, b2),  s2 = bn2(a2) = BN(a2; gamma2, beta2, bn_params[1]),
        z = x + s2,  out = relu(z),

    with every conv 3x3, stride 1, pad 1, C -> C channels (so s2 has x's shape) and BN the spatial batch
    normalisation (train or test by each bn_param's "mode"; the running averages are updated in the dicts).
    x: (N, C, H, W); params: w1, w2 (C, C, 3, 3), b1, b2, gamma1, gamma2, beta1, beta2 (C,). Returns (out, cache).
    """
    return block_forward(x, params, bn_params)


def _bn_backward(dout: np.ndarray, cache: tuple, drop: str = ""):
    """Spatial batch normalisation backward (reference), or without its mean or variance term."""
    if not drop:
        return spatial_batchnorm_backward(dout, cache)
    x_hat, gamma, std, _, shape = cache
    N, C, H, W = shape
    rows = np.moveaxis(dout, 1, -1).reshape(-1, C)
    dx_hat = rows * gamma
    dx_hat = dx_hat - (0 if drop == "mean" else dx_hat.mean(axis=0)) \
        - (0 if drop == "var" else x_hat * (dx_hat * x_hat).mean(axis=0))
    dx = np.moveaxis((dx_hat / std).reshape(N, H, W, C), -1, 1)
    return dx, (rows * x_hat).sum(axis=0), rows.sum(axis=0)


def block_backward(dout: np.ndarray, cache: tuple, variant: str = "") -> tuple[np.ndarray, dict]:
    """The backward pass with one piece changed by ``variant`` (a key of BACKWARD_MISTAKES); "" is the reference
    (see :func:`residual_block_backward`)."""
    conv1, bn1, a1, s1, conv2, bn2, a2, z, _ = cache
    dout = np.asarray(dout, dtype=np.float64)
    drop = {"bn_no_mean_term": "mean", "bn_no_var_term": "var"}.get(variant, "")
    dz = dout if variant == "no_final_mask" else dout * (z > 0)
    da2, dgamma2, dbeta2 = _bn_backward(dz, bn2, drop)
    dh, dw2, db2 = conv_backward_fast(da2, conv2)
    mask = {"inner_mask_pre_bn": a1 > 0, "no_inner_mask": np.ones(a1.shape, dtype=bool)}.get(variant, s1 > 0)
    da1, dgamma1, dbeta1 = _bn_backward(dh * mask, bn1, drop)
    dx_branch, dw1, db1 = conv_backward_fast(da1, conv1)
    skip = {"no_identity_grad": 0.0, "identity_unmasked": dout}.get(variant, dz)
    grads = {"w1": dw1, "b1": db1, "gamma1": dgamma1, "beta1": dbeta1,
             "w2": dw2, "b2": db2, "gamma2": dgamma2, "beta2": dbeta2}
    if variant == "grads_swapped":
        grads = {key: grads[key[:-1] + ("2" if key.endswith("1") else "1")] for key in PARAM_KEYS}
    return dx_branch + skip, grads


def residual_block_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """Gradients of :func:`residual_block_forward` (a train-mode forward), in float64:

        dz = dout * [z > 0]                                 (the final ReLU)
        da2, dgamma2, dbeta2 = BN backward of dz            (the branch: s2 = bn2(a2))
        dh, dw2, db2 = conv backward of da2
        da1, dgamma1, dbeta1 = BN backward of dh * [s1 > 0]
        dx_branch, dw1, db1 = conv backward of da1
        dx = dz + dx_branch                                 (z = x + s2: the identity passes dz on unchanged)

    Returns (dx, grads), grads a dict with the keys of params. In train mode db1 = db2 = 0: the batch
    normalisation after each convolution removes any constant added to a channel.
    """
    return block_backward(dout, cache)


# ---- what the known mistakes output ----------------------------------------------------------------------------


def _fresh(bn_params: list) -> list[dict]:
    return [{key: value.copy() if isinstance(value, np.ndarray) else value for key, value in p.items()}
            for p in bn_params]


def forward_mistakes(x, params, bn_params: list) -> dict:
    """{"out": {name: out}, "running": [{key: {name: value}} for bn_params[0], bn_params[1]]} of the known mistakes,
    the bn_params being the dicts before the call (in either mode: the running averages' mistakes in train mode;
    test mode adds the batch's statistics and the averages such a call would store)."""
    found: dict = {"out": {}, "running": [{"running_mean": {}, "running_var": {}} for _ in range(2)]}
    train = bn_params[0]["mode"] == "train"
    for variant in ("no_skip", "branch_relu", "no_final_relu", "no_inner_relu", "relu_before_bn", "one_bn_param"):
        moved = _fresh(bn_params)
        out, _ = block_forward(x, params, moved, variant)
        if variant != "one_bn_param":
            found["out"][variant] = out
        elif train:
            for key in ("running_mean", "running_var"):
                found["running"][0][key][variant] = moved[0][key]
    if not train:
        moved = [dict(p, mode="train") for p in _fresh(bn_params)]
        found["out"]["batch_stats"], _ = block_forward(x, params, moved)
        for k in range(2):
            for key in ("running_mean", "running_var"):
                found["running"][k][key]["test_updates"] = moved[k][key]
        return found
    _, cache = block_forward(x, params, _fresh(bn_params))
    conv1, bn1, a1, s1, conv2, bn2, a2, z, p = cache
    for k, (a, n) in enumerate([(a1, "1"), (a2, "2")]):
        wrong = bn_forward_mistakes(a, p["gamma" + n], p["beta" + n], bn_params[k])
        for key in ("running_mean", "running_var"):
            found["running"][k][key] |= wrong[key]
    return found


def backward_mistakes(x, params, bn_params: list, dout) -> dict:
    """{"dx": {name: dx}, key: {name: grads[key]} for each parameter} of the known backward mistakes."""
    _, cache = block_forward(x, params, _fresh(bn_params))
    found: dict = {"dx": {}} | {key: {} for key in PARAM_KEYS}
    for variant in BACKWARD_MISTAKES:
        dx, grads = block_backward(dout, cache, variant)
        found["dx"][variant] = dx
        for key in PARAM_KEYS:
            found[key][variant] = grads[key]
    return found


# ---- inputs ------------------------------------------------------------------------------------------------------


def make_block(rng: np.random.Generator, shape: tuple, dtype=np.float64) -> tuple[np.ndarray, dict]:
    """x (N, C, H, W) and the block's parameters: He-scaled 3x3 weights, small biases, gamma in [0.5, 1.5]."""
    C = shape[1]
    x = rng.normal(size=shape)
    params = {}
    for n in "12":
        params["w" + n] = rng.normal(size=(C, C, 3, 3)) * np.sqrt(2 / (9 * C))
        params["b" + n] = 0.1 * rng.normal(size=C)
        params["gamma" + n] = rng.uniform(0.5, 1.5, C)
        params["beta" + n] = 0.5 * rng.normal(size=C)
    return x.astype(dtype), {key: value.astype(dtype) for key, value in params.items()}


def given_bn_params(rng: np.random.Generator, C: int) -> list[dict]:
    return [{"mode": "train", "eps": 1e-3, "momentum": 0.8, "running_mean": rng.normal(size=C),
             "running_var": rng.uniform(0.5, 2, C)} for _ in range(2)]


def label_of(x: np.ndarray, extra: str = "") -> str:
    kind = f" ({x.dtype})" if x.dtype != np.float64 else ""
    return f"x of shape {x.shape}{kind}{', ' + extra if extra else ''}"


def _scaled(x: np.ndarray, want: np.ndarray, rtol64: float, atol64: float, rtol32: float) -> tuple[float, float]:
    scale = max(1.0, float(np.abs(want).max()))
    return (rtol32, rtol32 * scale) if x.dtype == np.float32 else (rtol64, atol64 * scale)


# ---- the judges --------------------------------------------------------------------------------------------------


def check_forward_call(fn: str, label: str, got: dict, x, params, before: list, after: list, prefix: str = "") -> None:
    """One recorded call of the block against the reference replayed from ``before`` (the two dicts before the
    call) to ``after`` (the reference's dicts after it): the pair, the inputs left alone, out, the running
    averages of both dicts."""
    name = f"{fn} on {label}"
    value = Answers(None, fn).value(got.get("out"), label)
    if not got.get("pair"):
        raise CheckFailed(f"{name}: it must return the pair (out, cache); got a {type(value).__name__}.")
    for argument in got["changed"]:
        raise CheckFailed(f"{name}: it changed its input `{argument}` in place; work on new arrays.")
    train = before[0]["mode"] == "train"
    wrong = forward_mistakes(x, params, before)
    messages = FORWARD_MISTAKES | TEST_MODE_MISTAKES
    want, _ = residual_block_forward(x, params, _fresh(before))
    rtol, atol = _scaled(x, want, 1e-7, 1e-10, 1e-4)
    check_array(f"{name}: out", value, want, rtol=rtol, atol=atol, mistakes=mistakes_on(wrong["out"], messages),
                hint=prefix + RESIDUAL_HINT)
    running = got["running"]
    for k in range(2):
        for key in ("running_mean", "running_var"):
            stat = running[k][key] if isinstance(running, list) and len(running) == 2 else None
            if stat is None:
                raise CheckFailed(f"{name}: bn_params[{k}] has no {key!r} after the call. Hint: {RUNNING_HINT}")
            what = "after a training batch" if train else "after a test-mode call (unchanged)"
            check_array(f"{name}: bn_params[{k}][{key!r}] {what}", stat, after[k][key], rtol=rtol,
                        atol=1e-12 + (atol if x.dtype == np.float32 else 0.0),
                        mistakes=mistakes_on(wrong["running"][k][key], messages), hint=prefix + RUNNING_HINT)


def judge_forward_runs(runs: list[dict], summary: str):
    """Each call's output and both dicts' running averages against the reference replayed on one list per run."""

    def judge(answers: Answers, context: Context) -> str:
        for run, got in zip(runs, answers["runs"], strict=True):
            state = _fresh(run["bn_params"])
            for (x, mode), call, label in zip(run["calls"], got["calls"], run["labels"], strict=False):
                before = [dict(p, mode=mode) for p in state]
                state = _fresh(before)
                residual_block_forward(x, run["params"], state)
                check_forward_call(context.name, label, call, x, run["params"], before, state)
            if len(got["calls"]) < len(run["calls"]):
                raise CheckFailed(f"{context.name}: the answers stop before the last call of a run (was the hidden "
                                  "test cell changed?).")
        return summary

    return {"runs": [{k: r[k] for k in ("params", "bn_params", "calls")} for r in runs]}, judge


@case("w04_residual_block_forward")
def residual_block_forward_case(rng: np.random.Generator):
    """Train mode, each block with fresh bn_params (the defaults [{"mode": "train"}] * 2, or dicts with eps 1e-3,
    momentum 0.8 and running averages already there): out and both dicts' running averages after the call, on
    (2, 3, 5, 4), N = 1 (1, 4, 6, 6), C = 1 (3, 1, 4, 5), (2, 2, 7, 3), (4, 8, 8, 8) and float32 (4, 3, 6, 6)."""
    runs = []
    for shape, given, dtype in [((2, 3, 5, 4), False, np.float64), ((1, 4, 6, 6), True, np.float64),
                                ((3, 1, 4, 5), False, np.float64), ((2, 2, 7, 3), True, np.float64),
                                ((4, 8, 8, 8), False, np.float64), ((4, 3, 6, 6), True, np.float32)]:
        x, params = make_block(rng, shape, dtype)
        bn_params = given_bn_params(rng, shape[1]) if given else [{"mode": "train"}, {"mode": "train"}]
        runs.append({"params": params, "bn_params": bn_params, "calls": [(x, "train")],
                     "labels": [label_of(x, "given bn_params" if given else "bn_params = [{'mode': 'train'}] * 2")]})
    return judge_forward_runs(runs, f"train-mode outputs and both running averages agree on {len(runs)} blocks "
                              "(N = 1, C = 1, non-square, float32 included)")


@case("w04_residual_block_test_mode")
def residual_block_test_mode_case(rng: np.random.Generator):
    """Test mode with given running statistics, which it must leave alone, on (2, 3, 4, 4) and N = 1 (1, 3, 5, 3);
    then two training batches of shape (3, 2, 5, 5) followed by a test batch, on one list of bn_params."""
    runs = []
    for shape in [(2, 3, 4, 4), (1, 3, 5, 3)]:
        x, params = make_block(rng, shape)
        bn_params = [dict(p, mode="test", eps=1e-5, momentum=0.9) for p in given_bn_params(rng, 3)]
        runs.append({"params": params, "bn_params": bn_params, "calls": [(x, "test")],
                     "labels": [label_of(x, "test mode with given running statistics")]})
    x, params = make_block(rng, (3, 2, 5, 5))
    calls = [(x, "train"), (make_block(rng, (3, 2, 5, 5))[0], "train"), (make_block(rng, (3, 2, 5, 5))[0], "test")]
    runs.append({"params": params, "bn_params": [{"mode": "train"}, {"mode": "train"}], "calls": calls,
                 "labels": ["training batch 1 of 2 (one list of bn_params)", "training batch 2 of 2",
                            "the test batch after them"]})
    return judge_forward_runs(runs, "test mode uses both running statistics and leaves them alone, also after two "
                              "training batches")


def _backward_runs(rng: np.random.Generator) -> list[dict]:
    runs = []
    for shape, numeric, dtype in [((2, 3, 5, 4), True, np.float64), ((1, 4, 6, 6), True, np.float64),
                                  ((3, 1, 4, 5), True, np.float64), ((2, 2, 7, 3), True, np.float64),
                                  ((4, 8, 8, 8), False, np.float64), ((4, 3, 6, 6), False, np.float32)]:
        x, params = make_block(rng, shape, dtype)
        runs.append({"params": params, "bn_params": [{"mode": "train"}, {"mode": "train"}], "calls": [(x, "train")],
                     "dout": rng.normal(size=shape).astype(dtype), "numeric": numeric})
    return runs


def numeric_grads(x, params, dout, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Centred differences (h = 1e-5) of sum(out * dout) for the reference block in train mode, with respect to x
    ("dx" in keys) and the parameters named in keys."""
    x = np.array(x, dtype=np.float64)
    p = {key: np.array(value, dtype=np.float64) for key, value in params.items()}

    def out(_: np.ndarray) -> np.ndarray:  # x and p are moved in place by numerical_gradient_array
        return residual_block_forward(x, p, [{"mode": "train"}, {"mode": "train"}])[0]

    return {key: numerical_gradient_array(out, x if key == "dx" else p[key], dout) for key in keys}


def judge_backward_runs(runs: list[dict], parts: tuple[str, ...], summary: str):
    """The named parts ("dx" or parameter keys) against the reference (named mistakes) and, for the runs marked
    numeric, against centred differences; the forward's output is checked first (its cache is what the backward
    gets)."""

    def judge(answers: Answers, context: Context) -> str:
        forward, backward = "residual_block_forward", "residual_block_backward"
        for run, got in zip(runs, answers["runs"], strict=True):
            (x, _), dout, params = run["calls"][0], run["dout"], run["params"]
            label = label_of(x)
            first = got["calls"][0] if got["calls"] else {}
            failure = first.get("out")
            if isinstance(failure, Raised):
                what = ("is not implemented yet: write the forward first" if failure.type == "NotImplementedError"
                        else f"raised {failure.type}: {failure.message} (on {label}); fix the forward first")
                raise CheckFailed(f"{backward} is checked on the cache of your {forward}, which {what}.")
            before = [{"mode": "train"}, {"mode": "train"}]
            after = _fresh(before)
            _, cache = residual_block_forward(x, params, after)
            called = f"{label} (its cache is what {backward} gets: fix the forward first)"
            check_forward_call(forward, called, first, x, params, before, after, prefix="fix the forward first: ")
            if got.get("dout_changed"):
                raise CheckFailed(f"{backward} changed its input `dout` in place (on {label}); work on new arrays.")
            dx, grads = Answers(None, backward).parts(Answers(None, backward).value(got.get("grads"), label),
                                                      "dx", "grads")
            dout64 = dout.astype(np.float64)
            want_dx, want = residual_block_backward(dout64, cache)
            want["dx"] = want_dx
            wrong = backward_mistakes(x, params, before, dout64)
            if parts != ("dx",) and not (isinstance(grads, dict) and set(PARAM_KEYS) <= set(grads)):
                keys = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
                raise CheckFailed(f"{backward} on {label}: grads must be a dict with the keys of params, "
                                  f"{list(PARAM_KEYS)}; got {keys}.")
            numeric = numeric_grads(x, params, dout64, parts) if run["numeric"] else {}
            for part in parts:
                value = dx if part == "dx" else grads[part]
                what = "dx" if part == "dx" else f"grads[{part!r}]"
                rtol, atol = _scaled(x, want[part], 1e-6, 1e-9, 1e-4)
                check_array(f"{backward} on {label}: {what}", value, want[part], rtol=rtol, atol=atol,
                            mistakes=mistakes_on(wrong[part], BACKWARD_MISTAKES), hint=RESIDUAL_BACKWARD_HINT)
                if part in numeric:
                    scale = max(1.0, float(np.abs(want[part]).max()))
                    check_array(f"{backward} on {label}: {what} against centred differences of the block", value,
                                numeric[part], rtol=1e-5, atol=1e-7 * scale, hint=RESIDUAL_BACKWARD_HINT)
        return summary

    return {"runs": [{k: r[k] for k in ("params", "bn_params", "calls", "dout")} for r in runs]}, judge


@case("w04_residual_block_backward")
def residual_block_backward_case(rng: np.random.Generator):
    """dx after a train-mode forward (the identity's gradient included) against the reference, with the known
    mistakes named, on (2, 3, 5, 4), N = 1 (1, 4, 6, 6), C = 1 (3, 1, 4, 5), (2, 2, 7, 3), (4, 8, 8, 8) and float32
    (4, 3, 6, 6), and against centred differences of the block on the first four. Called as
    check("w04_residual_block_backward", residual_block_backward, residual_block_forward)."""
    return judge_backward_runs(_backward_runs(rng), ("dx",), "dx (skip connection included) agrees with the "
                               "reference and with centred differences on 6 blocks")


@case("w04_residual_block_param_grads")
def residual_block_param_grads_case(rng: np.random.Generator):
    """grads of w1, b1, gamma1, beta1, w2, b2, gamma2, beta2 on the blocks of the dx case, against the reference and
    centred differences. Called as check("w04_residual_block_param_grads", residual_block_backward,
    residual_block_forward)."""
    return judge_backward_runs(_backward_runs(rng), PARAM_KEYS, "the gradients of all 8 parameters agree with the "
                               "reference and with centred differences on 6 blocks")


# ---- fixtures of the visible checks ----------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(450)
    x, params = make_block(rng, (2, 3, 5, 4))
    before = [{"mode": "train"}, {"mode": "train"}]
    state = _fresh(before)
    out, _ = residual_block_forward(x, params, state)
    wrong = forward_mistakes(x, params, before)
    x_test = make_block(rng, (3, 3, 5, 4))[0]
    tested = [dict(p, mode="test") for p in state]
    test_out, _ = residual_block_forward(x_test, params, _fresh(tested))
    forward = ({"x": x, "x_test": x_test, "expected_out": out, "expected_test_out": test_out} | params
               | {f"expected_{key}{k}": state[k][key] for k in range(2) for key in ("running_mean", "running_var")}
               | stored(wrong["out"], FORWARD_MISTAKES, "_out")
               | stored(forward_mistakes(x_test, params, tested)["out"], FORWARD_MISTAKES | TEST_MODE_MISTAKES, "_test"))
    for k in range(2):
        for key in ("running_mean", "running_var"):
            forward |= stored(wrong["running"][k][key], FORWARD_MISTAKES, f"_{key}{k}")

    x, params = make_block(rng, (2, 3, 4, 4))
    dout = rng.standard_normal(x.shape)
    out, cache = residual_block_forward(x, params, _fresh(before))
    dx, grads = residual_block_backward(dout, cache)
    wrong = backward_mistakes(x, params, before, dout)
    backward = ({"x": x, "dout": dout, "expected_out": out, "expected_dx": dx} | params
                | {f"expected_d{key}": grads[key] for key in PARAM_KEYS} | stored(wrong["dx"], BACKWARD_MISTAKES, "_dx"))
    for key in PARAM_KEYS:
        backward |= stored(wrong[key], BACKWARD_MISTAKES, f"_d{key}")
    return {"w04_residual_forward": forward, "w04_residual_backward": backward}
