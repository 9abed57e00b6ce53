"""Week 2, regularisation: inverted dropout, batch normalisation (train and test mode) and the L2 penalty.
References, known mistakes, hidden cases, fixtures.

Dropout may use any random generator, so its cases judge structure, not values: every training output is 0
or x / (1 - p), the kept fraction is within a binomial tolerance of 1 - p, the same seed gives the same mask,
the backward pass multiplies by that mask (read off the student's own output, out / x), test mode is the
identity. Batch normalisation and L2 are compared with the references here, and every backward pass also
with centred differences of the student's own forward pass (its outputs at inputs moved by +-h).
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_regularization import (
    BATCHNORM_BACKWARD_HINT,
    BATCHNORM_HINT,
    DROPOUT_MISTAKES,
    L2_HINT,
    check_dropout_dx,
    check_dropout_test,
    check_dropout_train,
)
from dlfs.grading import Call

BATCHNORM_MISTAKES = {
    "ddof1": "your variance is the sample variance (ddof=1): batch normalisation uses the batch's own variance, "
             "np.var's default ddof=0.",
    "eps_outside": "your epsilon is outside the square root: divide by np.sqrt(var + eps).",
    "no_gamma_beta": "your output is x_hat alone: scale and shift it, out = gamma * x_hat + beta.",
}
RUNNING_MISTAKES = {
    "momentum_swapped": "your running averages have the momentum on the wrong side: running = momentum * running "
                        "+ (1 - momentum) * batch statistic (the old value keeps the weight momentum).",
    "ddof1": "your running variance uses the sample variance (ddof=1); use the same batch variance as the "
             "normalisation (ddof=0).",
}
TEST_MODE_MISTAKES = {
    "batch_stats": "in test mode you normalise with the batch's statistics: use bn_param['running_mean'] and "
                   "bn_param['running_var'], so that an example's output does not depend on its batch.",
}
BATCHNORM_BACKWARD_MISTAKES = {
    "no_mean_term": "your dx is missing the mean term: mu depends on every x, so subtract the batch mean of "
                    "dx_hat, dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps).",
    "no_var_term": "your dx is missing the variance term: var depends on every x too, so subtract "
                   "x_hat * mean(dx_hat * x_hat) (means over the batch).",
    "no_gamma": "your dx ignores gamma: the gradient reaching x_hat is dx_hat = dout * gamma.",
    "dgamma_no_xhat": "your dgamma is the sum of dout: out = gamma * x_hat + beta, so dgamma = sum(dout * x_hat, axis=0).",
}
L2_MISTAKES = {
    "no_half": "your penalty is reg * sum(W**2): the penalty is 0.5 * reg * sum(W**2) (its gradient is then reg * W).",
    "double_grad": "your gradients are 2 * reg * W: the derivative of 0.5 * reg * W**2 is reg * W.",
    "no_reg": "your gradients are W itself: multiply by reg, grads = [reg * W for W in weights].",
}
H = 1e-5


# ---- references ------------------------------------------------------------------------------------


def dropout_forward(x: np.ndarray, p: float, train: bool = True, seed: int | None = None) -> tuple[np.ndarray, dict]:
    """Inverted dropout, p = probability of dropping: mask = (u >= p) / (1 - p) with u ~ U[0, 1) from
    np.random.default_rng(seed); out = x * mask in training, out = x at test time."""
    if not train:
        return x.copy(), {"mask": None}
    mask = (np.random.default_rng(seed).random(x.shape) >= p) / (1 - p)
    return x * mask, {"mask": mask}


def dropout_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    """dx = dout * mask (the forward's scaled mask); dout itself after a test-mode forward."""
    return dout.copy() if cache["mask"] is None else dout * cache["mask"]


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict) -> tuple[np.ndarray, tuple]:
    """Batch normalisation of x (N, D) per feature.

    train: mu = mean(x, 0), var = mean((x - mu)^2, 0), x_hat = (x - mu) / sqrt(var + eps), out = gamma x_hat + beta;
    running_mean/var <- momentum * running + (1 - momentum) * (mu, var), written into bn_param (zeros(D)/ones(D)
    when absent). test: x_hat from running_mean and running_var. eps = 1e-5, momentum = 0.9 by default.
    N = 1 in training gives var = 0 and x_hat = 0 (eps keeps it finite): out = beta.
    """
    x = np.asarray(x, dtype=np.float64)
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean", np.zeros(x.shape[1]))
    running_var = bn_param.get("running_var", np.ones(x.shape[1]))
    if bn_param["mode"] == "train":
        mu, var = x.mean(axis=0), x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, (x_hat, gamma, std)


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three paths to x (directly, through mu, through var) in one line, with dx_hat = dout * gamma:
    dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps), means over the batch;
    dgamma = sum(dout * x_hat, 0), dbeta = sum(dout, 0)."""
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def l2_penalty(weights: list[np.ndarray], reg: float) -> tuple[float, list[np.ndarray]]:
    """penalty = 0.5 reg sum_l ||W_l||_F^2; grads = [reg W_l]."""
    return 0.5 * reg * sum(float(np.sum(np.square(W, dtype=np.float64))) for W in weights), [reg * W for W in weights]


# ---- what the known mistakes output ------------------------------------------------------------------


def batchnorm_mistakes(x, gamma, beta, bn_param) -> dict[str, dict[str, np.ndarray]]:
    """Per output ("out", "running_mean", "running_var"), what the known forward mistakes give (train mode)."""
    x = np.asarray(x, dtype=np.float64)
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm, rv = bn_param.get("running_mean", np.zeros(x.shape[1])), bn_param.get("running_var", np.ones(x.shape[1]))
    mu, var = x.mean(axis=0), x.var(axis=0)
    out: dict[str, dict[str, np.ndarray]] = {"out": {}, "running_mean": {}, "running_var": {}}
    if x.shape[0] > 1:
        var1 = x.var(axis=0, ddof=1)
        out["out"]["ddof1"] = gamma * (x - mu) / np.sqrt(var1 + eps) + beta
        out["running_var"]["ddof1"] = momentum * rv + (1 - momentum) * var1
    out["out"]["eps_outside"] = gamma * (x - mu) / (np.sqrt(var) + eps) + beta
    out["out"]["no_gamma_beta"] = (x - mu) / np.sqrt(var + eps)
    out["running_mean"]["momentum_swapped"] = (1 - momentum) * rm + momentum * mu
    out["running_var"]["momentum_swapped"] = (1 - momentum) * rv + momentum * var
    return out


def batchnorm_backward_mistakes(x, gamma, beta, dout) -> dict[str, dict[str, np.ndarray]]:
    """Per part ("dx", "dgamma"), what the known backward mistakes give after a train-mode forward."""
    _, (x_hat, _, std) = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx_hat = dout * gamma
    return {
        "dx": {
            "no_mean_term": (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=0)) / std,
            "no_var_term": (dx_hat - dx_hat.mean(axis=0)) / std,
            "no_gamma": (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0)) / std,
        },
        "dgamma": {"dgamma_no_xhat": dout.sum(axis=0)},
    }


def l2_mistakes(weights, reg) -> dict[str, dict]:
    penalty, grads = l2_penalty(weights, reg)
    return {"penalty": {"no_half": np.float64(2 * penalty)},
            "grads": [{"double_grad": 2 * g, "no_reg": W} for g, W in zip(grads, weights)]}


# ---- helpers of the judges ---------------------------------------------------------------------------


def _nonzero(rng: np.random.Generator, shape: tuple, dtype=np.float64) -> np.ndarray:
    """Entries of size 0.1 to 2 with random signs (never 0, so out / x is defined)."""
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)).astype(dtype)


def _numeric(moved: list, dout: np.ndarray, shapes: list[tuple], name: str) -> list[np.ndarray]:
    """Centred differences of sum(out * dout), from the outputs at each entry moved by +H, then -H."""
    grads, k = [], 0
    for shape in shapes:
        grad = np.zeros(shape)
        for index in np.ndindex(shape):
            plus, minus = moved[k], moved[k + 1]
            k += 2
            for value in (plus, minus):
                if not (isinstance(value, np.ndarray) and value.shape == dout.shape):
                    raise CheckFailed(f"{name}: the forward pass on a slightly moved input returned "
                                      f"{getattr(value, 'type', type(value).__name__)}, not an array like dout.")
            grad[index] = np.sum((plus - minus) * dout) / (2 * H)
        grads.append(grad)
    return grads


# ---- hidden cases: dropout -------------------------------------------------------------------------


@case("w02_dropout_forward")
def dropout_forward_case(rng: np.random.Generator):
    """Training mode on 200×500 inputs with p = 0.3 and 0.8 (entries 0 or x/(1-p); kept fraction within six
    binomial standard deviations of 1 - p; rows with different masks), a 4-D and a float32 input, p = 0
    (identity), the same seed twice (the same output), and test mode (x unchanged)."""
    big = _nonzero(rng, (200, 500))
    four_d = _nonzero(rng, (3, 2, 4, 5))
    single = _nonzero(rng, (64, 50), np.float32)
    calls = [  # (x, p, train, seed, label)
        (big, 0.3, True, 11, "x of shape (200, 500), p = 0.3"),
        (big, 0.8, True, 12, "x of shape (200, 500), p = 0.8"),
        (four_d, 0.5, True, 13, "x of shape (3, 2, 4, 5), p = 0.5"),
        (single, 0.25, True, 14, "float32 x of shape (64, 50), p = 0.25"),
        (big[:20], 0.0, True, 15, "p = 0"),
        (big, 0.3, True, 11, "the same seed as the first call"),
        (big, 0.3, False, None, "train=False"),
        (four_d, 0.5, False, 16, "train=False, a 4-D x"),
    ]

    def judge(answers: Answers, context: Context) -> str:
        outs = []
        for i, (x, p, train, seed, label) in enumerate(calls):
            out = answers.parts(answers.result(i, label, ("x", "p")), "out", "cache")[0]
            name = f"{context.name} on {label}"
            if not train:
                check_dropout_test(name, x, p, out)
            elif p == 0:
                check_array(name, out, x, rtol=1e-12, hint="with p = 0 nothing is dropped and 1 - p = 1.")
            else:
                check_dropout_train(name, x, p, out)
            outs.append(out)
        if not np.array_equal(outs[0], outs[5]):
            raise CheckFailed(f"{context.name}: {DROPOUT_MISTAKES['seed']}")
        return "0 or x/(1-p) with about 1-p kept, for 3 values of p; p = 0, same seed and test mode are right"

    return {"calls": [Call((x, p), {"train": train, "seed": seed}) for x, p, train, seed, _ in calls]}, judge


@case("w02_dropout_backward")
def dropout_backward_case(rng: np.random.Generator):
    """dx = dout * mask, with the mask read off the student's own forward (out / x), on several shapes and p;
    dx = dout after a test-mode forward; and on a 3×4 input, dx against centred differences of the student's
    forward with the same seed (which also needs the same mask at every call).
    Called as check("w02_dropout_backward", dropout_forward, dropout_backward)."""
    runs = []
    for shape, p, train, h in [((3, 4), 0.5, True, H), ((50, 40), 0.3, True, 0.0), ((1, 7), 0.6, True, 0.0),
                               ((2, 3, 4), 0.2, True, 0.0), ((10, 6), 0.5, False, 0.0)]:
        runs.append({"x": _nonzero(rng, shape), "p": p, "seed": int(rng.integers(1000)), "train": train,
                     "dout": rng.normal(size=shape), "h": h})

    def judge(answers: Answers, context: Context) -> str:
        recorded = answers["runs"]
        for run, got in zip(runs, recorded, strict=True):
            label = f"x of shape {run['x'].shape}, p = {run['p']}{'' if run['train'] else ', train=False'}"
            out = Answers(None, "dropout_forward").value(got["out"], label)
            if got["dx"] is None:
                raise CheckFailed(f"dropout_forward on {label} must return a tuple (out, cache).")
            dx = Answers(None, "dropout_backward").value(got["dx"], label)
            name = f"dropout_backward on {label}"
            if run["train"]:
                mask = check_dropout_train(f"dropout_forward on {label}", run["x"], run["p"], out)
                check_dropout_dx(name, run["dout"], mask, dx, True)
            else:
                check_dropout_test(f"dropout_forward on {label}", run["x"], run["p"], out)
                check_dropout_dx(name, run["dout"], np.ones_like(run["x"]), dx, False)
            if run["h"]:
                [numeric] = _numeric(got["moved"], run["dout"], [run["x"].shape], name)
                check_array(f"{name}: dx against centred differences of your dropout_forward with the same seed",
                            dx, numeric, rtol=1e-6, atol=1e-8,
                            hint="with a fixed seed the forward must draw the same mask at every call "
                                 "(rng = np.random.default_rng(seed) inside the function).")
        return "dx = dout * mask on 4 shapes, dout after test mode, and the numerical gradient agrees"

    return {"runs": runs}, judge


# ---- hidden cases: batch normalisation -----------------------------------------------------------------


def _batch(rng: np.random.Generator, N: int, D: int, dtype=np.float64):
    x = (rng.normal(loc=rng.uniform(-3, 3, D), scale=rng.uniform(0.5, 3, D), size=(N, D))).astype(dtype)
    return x, rng.uniform(0.5, 2, D).astype(dtype), rng.normal(size=D).astype(dtype)


def _judge_forward_runs(runs: list[dict], summary: str):
    """Each call's output and the running statistics after it against the reference replayed on one bn_param
    per run (named mistakes for train mode, test mode and the running averages)."""

    def judge(answers: Answers, context: Context) -> str:
        recorded = answers["runs"]
        for run, calls in zip(runs, recorded, strict=True):
            param = dict(run["bn_param"])
            for (x, gamma, beta, mode), got, label in zip(run["calls"], calls, run["labels"], strict=False):
                name = f"{context.name} on {label}"
                for arg in got["changed"]:
                    raise CheckFailed(f"{name}: it changed its input `{arg}` in place; work on new arrays.")
                before = dict(param)
                param["mode"] = mode
                wrong = batchnorm_mistakes(x, gamma, beta, before) if mode == "train" else {
                    "out": {"batch_stats": batchnorm_forward(x, gamma, beta, {**before, "mode": "train"})[0]}}
                want, _ = batchnorm_forward(x, gamma, beta, param)
                out = answers.value(got["out"], label)
                single = x.dtype == np.float32
                rtol, atol = (1e-4, 1e-5) if single else (1e-7, 1e-10)
                check_array(name, out, want, rtol=rtol, atol=atol, hint=BATCHNORM_HINT,
                            mistakes=mistakes_on(wrong["out"], BATCHNORM_MISTAKES | TEST_MODE_MISTAKES))
                for key in ["running_mean", "running_var"]:
                    stat = got["running"][key]
                    if stat is None:
                        raise CheckFailed(f"{name}: bn_param has no {key!r} after the call; keep the running averages "
                                          "in bn_param (bn_param[key] = ...), the caller passes it back.")
                    what = "after a training batch" if mode == "train" else "after a test-mode call (unchanged)"
                    check_array(f"{name}: bn_param[{key!r}] {what}", stat, param[key], rtol=rtol, atol=1e-12,
                                mistakes=mistakes_on(wrong.get(key, {}), RUNNING_MISTAKES),
                                hint="running = momentum * running + (1 - momentum) * batch statistic in train mode; "
                                     "test mode only reads them.")
        return summary

    return {"runs": [{"bn_param": r["bn_param"], "calls": r["calls"]} for r in runs]}, judge


@case("w02_batchnorm_forward")
def batchnorm_forward_case(rng: np.random.Generator):
    """Train mode on (2, 3), (8, 5), (64, 10), N = 1 (var = 0: out = beta, finite thanks to eps) and float32
    (16, 6), each with a fresh bn_param: the default one ({"mode": "train"}: running averages from zeros/ones,
    momentum 0.9, eps 1e-5) or a given one (eps 1e-3, momentum 0.8, running averages already there)."""
    runs = []
    for N, D, given, dtype in [(2, 3, False, np.float64), (8, 5, True, np.float64), (64, 10, False, np.float64),
                               (1, 4, False, np.float64), (16, 6, True, np.float32), (5, 1, True, np.float64)]:
        x, gamma, beta = _batch(rng, N, D, dtype)
        param = {"mode": "train"}
        if given:
            param |= {"eps": 1e-3, "momentum": 0.8, "running_mean": rng.normal(size=D),
                      "running_var": rng.uniform(0.5, 2, D)}
        label = f"x of shape {(N, D)}{' (float32)' if dtype == np.float32 else ''}, " + (
            "a given bn_param" if given else "bn_param = {'mode': 'train'}")
        runs.append({"bn_param": param, "calls": [(x, gamma, beta, "train")], "labels": [label]})
    return _judge_forward_runs(runs, "train-mode outputs and running averages agree on 6 batches, N = 1 included")


@case("w02_batchnorm_test_mode")
def batchnorm_test_mode_case(rng: np.random.Generator):
    """Test mode on given running statistics (which it must not change), N = 1 included; then three training
    batches followed by a test batch on one bn_param, as in training."""
    D = 4
    given = {"mode": "test", "eps": 1e-5, "momentum": 0.9, "running_mean": rng.normal(size=D),
             "running_var": rng.uniform(0.5, 2, D)}
    runs = []
    for N in (6, 1):
        x, gamma, beta = _batch(rng, N, D)
        runs.append({"bn_param": dict(given), "calls": [(x, gamma, beta, "test")],
                     "labels": [f"{N} row{'s' if N > 1 else ''} in test mode with given running statistics"]})
    gamma, beta = _batch(rng, 1, 5)[1:]
    calls = [(_batch(rng, 10, 5)[0], gamma, beta, mode) for mode in ("train", "train", "train", "test")]
    runs.append({"bn_param": {"mode": "train"}, "calls": calls,
                 "labels": [f"training batch {k} of 3 (one bn_param)" for k in (1, 2, 3)] + ["the test batch after them"]})
    return _judge_forward_runs(runs, "test mode uses the running statistics and leaves them alone")


@case("w02_batchnorm_backward")
def batchnorm_backward_case(rng: np.random.Generator):
    """(dx, dgamma, dbeta) against the reference on (2, 3), (4, 3), (32, 10), N = 1 (dx = 0) and float32, with the
    known mistakes named; on (4, 3) and (2, 3) also against centred differences of the student's own forward
    (h = 1e-5, each entry of x, gamma and beta moved). Called as
    check("w02_batchnorm_backward", batchnorm_forward, batchnorm_backward)."""
    runs = []
    for N, D, h, dtype in [(4, 3, H, np.float64), (2, 3, H, np.float64), (32, 10, 0.0, np.float64),
                           (1, 5, 0.0, np.float64), (16, 4, 0.0, np.float32)]:
        x, gamma, beta = _batch(rng, N, D, dtype)
        runs.append({"x": x, "gamma": gamma, "beta": beta, "dout": rng.normal(size=(N, D)).astype(dtype), "h": h})

    def judge(answers: Answers, context: Context) -> str:
        for run, got in zip(runs, answers["runs"], strict=True):
            x, gamma, beta, dout = run["x"], run["gamma"], run["beta"], run["dout"]
            label = f"x of shape {x.shape}{' (float32)' if x.dtype == np.float32 else ''}"
            for arg in got["changed"]:
                raise CheckFailed(f"batchnorm_forward on {label} changed its input `{arg}` in place.")
            name = f"batchnorm_backward on {label}"
            grads = Answers(None, "batchnorm_backward").parts(
                Answers(None, "batchnorm_forward/backward").value(got["grads"], label), "dx", "dgamma", "dbeta")
            _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
            want = batchnorm_backward(dout.astype(np.float64), cache)
            wrong = batchnorm_backward_mistakes(x, gamma, beta, dout.astype(np.float64))
            rtol, atol = (1e-4, 1e-5) if x.dtype == np.float32 else (1e-6, 1e-9)
            for part, value, expected in zip(("dx", "dgamma", "dbeta"), grads, want):
                check_array(f"{name}: {part}", value, expected, rtol=rtol, atol=atol, hint=BATCHNORM_BACKWARD_HINT,
                            mistakes=mistakes_on(wrong.get(part, {}), BATCHNORM_BACKWARD_MISTAKES))
            if run["h"]:
                numeric = _numeric(got["moved"], dout, [x.shape, gamma.shape, beta.shape], name)
                for part, value, expected in zip(("dx", "dgamma", "dbeta"), grads, numeric):
                    check_array(f"{name}: {part} against centred differences of your batchnorm_forward", value,
                                expected, rtol=1e-5, atol=1e-7,
                                hint="your gradient agrees with the reference, so your forward pass is what "
                                     "differs: " + BATCHNORM_HINT)
        return "dx, dgamma, dbeta agree with the reference on 5 batches and with numerical gradients"

    return {"runs": runs}, judge


# ---- hidden case: L2 ---------------------------------------------------------------------------------


@case("w02_l2_penalty")
def l2_penalty_case(rng: np.random.Generator):
    """Penalty and gradients for one, two and three weight matrices, reg = 0, a float32 matrix; the weights are
    left alone."""
    calls = [
        ([rng.normal(size=(4, 3))], 0.1),
        ([rng.normal(size=(5, 4)), rng.normal(size=(4, 2))], 1e-3),
        ([rng.normal(size=(784, 16)), rng.normal(size=(16, 8)), rng.normal(size=(8, 10))], 0.5),
        ([rng.normal(size=(3, 3)), rng.normal(size=(3, 1))], 0.0),
        ([rng.normal(size=(6, 5)).astype(np.float32)], 0.2),
    ]

    def judge(answers: Answers, context: Context) -> str:
        for i, (weights, reg) in enumerate(calls):
            label = f"{len(weights)} matri{'ces' if len(weights) > 1 else 'x'}, reg = {reg}"
            if weights[0].dtype == np.float32:
                label += " (float32)"
            name = f"{context.name} on {label}"
            if answers["changed"][i]:
                raise CheckFailed(f"{name}: it changed weights[{answers['changed'][i][0]}] in place; return new arrays.")
            penalty, grads = answers.parts(answers.value(answers["results"][i], label), "penalty", "grads")
            want, want_grads = l2_penalty(weights, reg)
            wrong = l2_mistakes(weights, reg)
            rtol, atol = (1e-5, 1e-6) if weights[0].dtype == np.float32 else (1e-9, 1e-12)
            value = np.asarray(penalty) if isinstance(penalty, int | float | np.ndarray) else None
            if value is None or value.size != 1 or value.dtype.kind not in "iuf":
                raise CheckFailed(f"{name}: the penalty must be one number; got {type(penalty).__name__} "
                                  f"{getattr(penalty, 'shape', '')}.")
            check_array(f"{name}: penalty", value.reshape(()), np.float64(want),
                        rtol=rtol, atol=atol, hint=L2_HINT,
                        mistakes=mistakes_on(wrong["penalty"], L2_MISTAKES) if reg else [])
            if not isinstance(grads, list | tuple) or len(grads) != len(weights):
                raise CheckFailed(f"{name}: grads must be a list with one array per weight matrix ({len(weights)}).")
            for k, (got, expected) in enumerate(zip(grads, want_grads)):
                check_array(f"{name}: grads[{k}]", got, expected, rtol=rtol, atol=atol, hint=L2_HINT,
                            mistakes=mistakes_on(wrong["grads"][k], L2_MISTAKES) if reg else [])
        return "penalty and gradients agree for 1 to 3 matrices, reg = 0 and float32"

    return {"calls": calls}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(220)
    dropout = {"x": _nonzero(rng, (50, 200)), "p": np.array(0.3), "x_small": _nonzero(rng, (6, 8)),
               "dout_small": rng.normal(size=(6, 8))}

    x, gamma, beta = _batch(rng, 10, 4)
    param = {"mode": "train", "eps": 1e-5, "momentum": 0.9, "running_mean": rng.normal(size=4),
             "running_var": rng.uniform(0.5, 2, 4)}
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in param.items()}
    out, _ = batchnorm_forward(x, gamma, beta, param)
    wrong = batchnorm_mistakes(x, gamma, beta, before)
    x_test = _batch(rng, 6, 4)[0]
    test_out, _ = batchnorm_forward(x_test, gamma, beta, {**param, "mode": "test"})
    batch_stats_out, _ = batchnorm_forward(x_test, gamma, beta, {"mode": "train"})
    batchnorm = ({"x": x, "gamma": gamma, "beta": beta, "x_test": x_test, "eps": np.array(1e-5), "momentum": np.array(0.9),
                  "running_mean": before["running_mean"], "running_var": before["running_var"], "expected_out": out,
                  "expected_running_mean": param["running_mean"], "expected_running_var": param["running_var"],
                  "expected_test_out": test_out}
                 | stored(wrong["out"], BATCHNORM_MISTAKES, "_out")
                 | stored(wrong["running_mean"], RUNNING_MISTAKES, "_running_mean")
                 | stored(wrong["running_var"], RUNNING_MISTAKES, "_running_var")
                 | stored({"batch_stats": batch_stats_out}, TEST_MODE_MISTAKES, "_test"))
    # the same mistake name in two tables (ddof1) keeps one message: the out table's, which fits both
    batchnorm["message_ddof1"] = np.array(BATCHNORM_MISTAKES["ddof1"])

    x, gamma, beta = _batch(rng, 8, 5)
    dout = rng.normal(size=(8, 5))
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    wrong = batchnorm_backward_mistakes(x, gamma, beta, dout)
    backward = ({"x": x, "gamma": gamma, "beta": beta, "dout": dout, "expected_dx": dx, "expected_dgamma": dgamma,
                 "expected_dbeta": dbeta}
                | stored(wrong["dx"], BATCHNORM_BACKWARD_MISTAKES, "_dx")
                | stored(wrong["dgamma"], BATCHNORM_BACKWARD_MISTAKES, "_dgamma"))

    weights, reg = [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))], 0.05
    penalty, grads = l2_penalty(weights, reg)
    wrong = l2_mistakes(weights, reg)
    l2 = ({"W0": weights[0], "W1": weights[1], "reg": np.array(reg), "expected_penalty": np.float64(penalty),
           "expected_grad0": grads[0], "expected_grad1": grads[1]}
          | stored(wrong["penalty"], L2_MISTAKES, "_penalty")
          | stored(wrong["grads"][0], L2_MISTAKES, "_grad0") | stored(wrong["grads"][1], L2_MISTAKES, "_grad1"))
    return {"w02_dropout": dropout, "w02_batchnorm": batchnorm, "w02_batchnorm_backward": backward, "w02_l2_penalty": l2}
