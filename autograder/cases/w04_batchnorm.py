"""Week 4, spatial batch normalisation (spatial_batchnorm_forward/backward): references, known mistakes, hidden
cases, fixtures.

Spatial batch normalisation is week 2's batch normalisation with one feature per channel: the N H W values of
channel c in the batch are its examples. The references below say exactly that (they move the channels last and
reshape to (N H W, C)) and compute in float64 whatever the inputs' type, so that float32 answers are compared
with exact values at float32 tolerances. Every backward answer is compared with the reference and, on the small
problems, with centred differences of the reference forward computed here (``autograder.gradcheck``);
``tests/test_w04_batchnorm.py`` checks both references against JAX.
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient_array
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w04_batchnorm import RUNNING_HINT, SPATIAL_BN_BACKWARD_HINT, SPATIAL_BN_HINT
from dlfs.grading import Raised

FORWARD_MISTAKES = {
    "per_position": "your statistics are per position (means over the batch axis only, as week 2's layer on "
                    "x.reshape(N, -1) would give): spatial batch normalisation shares them across the image, one mean "
                    "and one variance per channel over axis=(0, 2, 3).",
    "no_transpose": "you reshaped x to (N*H*W, C) without moving the channels last first: x.reshape(-1, C) mixes "
                    "channels and positions. Use x.transpose(0, 2, 3, 1).reshape(-1, C) (and transpose back), or "
                    "reduce over axis=(0, 2, 3) directly.",
    "per_image": "your statistics are per image and channel (means over H and W only): batch normalisation also "
                 "averages over the batch, axis=(0, 2, 3).",
    "ddof1": "your variance is the sample variance (ddof=1): batch normalisation divides by N*H*W, np.var's "
             "default ddof=0.",
    "eps_outside": "your epsilon is outside the square root: divide by np.sqrt(var + eps).",
    "no_gamma_beta": "your output is x_hat alone: scale and shift it per channel, out = gamma * x_hat + beta with "
                     "gamma and beta reshaped to (1, C, 1, 1).",
    "momentum_swapped": "your running averages have the momentum on the wrong side: running = momentum * running "
                        "+ (1 - momentum) * batch statistic (the old value keeps the weight momentum).",
    "unbiased_running": "your running variance is the unbiased one (ddof=1, as PyTorch keeps it): this course "
                        "keeps the same variance that normalises the batch (ddof=0).",
    "not_updated": "the running averages did not change in training: write the updated values into the dict, "
                   "bn_param['running_mean'] = ..., bn_param['running_var'] = ... (the caller passes the same dict "
                   "again).",
}
TEST_MODE_MISTAKES = {
    "batch_stats": "in test mode you normalise with the batch's statistics: use bn_param['running_mean'] and "
                   "bn_param['running_var'], so that an image's output does not depend on its batch.",
    "test_updates": "your test-mode call changed the running averages: in test mode only read them.",
}
BACKWARD_MISTAKES = {
    "no_mean_term": "your dx is missing the mean term: mu depends on every x of the channel, so subtract the mean "
                    "of dx_hat over (N, H, W), dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / "
                    "sqrt(var + eps).",
    "no_var_term": "your dx is missing the variance term: var depends on every x of the channel too, so subtract "
                   "x_hat * mean(dx_hat * x_hat) (means over axis=(0, 2, 3)).",
    "no_gamma": "your dx ignores gamma: the gradient reaching x_hat is dx_hat = dout * gamma (gamma reshaped to "
                "(1, C, 1, 1)).",
    "batch_axis_only": "the means in your dx run over the batch axis only: the statistics were taken over "
                       "(N, H, W), so are the means of the backward pass, axis=(0, 2, 3).",
    "count_n": "you divide by N where the means of the backward pass divide by N*H*W, the number of values "
               "behind each channel's statistics.",
    "dgamma_no_xhat": "your dgamma is the sum of dout: out = gamma * x_hat + beta, so dgamma = sum of dout * x_hat "
                      "over axis=(0, 2, 3).",
    "batch_sum_only": "your dgamma and dbeta are summed over the batch only: gamma and beta are shared by every "
                      "position of a channel, so sum over axis=(0, 2, 3), leaving shape (C,).",
    "dbeta_mean": "your dbeta is the mean of dout: beta adds to every output of its channel, so dbeta is their "
                  "sum, dout.sum(axis=(0, 2, 3)).",
}


# ---- references ----------------------------------------------------------------------------------------------


def _rows(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N H W, C): each channel a column, each (n, h, w) a row."""
    return np.moveaxis(np.asarray(a, dtype=np.float64), 1, -1).reshape(-1, a.shape[1])


def _image(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The inverse of :func:`_rows`."""
    N, C, H, W = shape
    return np.moveaxis(rows.reshape(N, H, W, C), -1, 1)


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict):
    """Batch normalisation of x (N, C, H, W) per channel, with the M = N H W values of a channel as its batch:

        mu_c = (1/M) sum_{n,h,w} x[n, c, h, w],   var_c = (1/M) sum_{n,h,w} (x[n, c, h, w] - mu_c)^2,
        x_hat = (x - mu_c) / sqrt(var_c + eps),    out = gamma_c x_hat + beta_c.

    train: running_mean/var <- momentum * running + (1 - momentum) * (mu, var), written into bn_param
    (zeros(C)/ones(C) when absent); test: mu, var are the running statistics. eps = 1e-5 and momentum = 0.9
    unless bn_param says otherwise. Computed in float64. Cache: (x_hat rows (M, C), gamma, std (C,), mode, shape).
    """
    shape = np.shape(x)
    rows = _rows(np.asarray(x))
    gamma, beta = (np.asarray(a, dtype=np.float64) for a in (gamma, beta))
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    C = shape[1]
    if bn_param["mode"] == "train":
        mu, var = rows.mean(axis=0), rows.var(axis=0)
        bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros(C)) + (1 - momentum) * mu
        bn_param["running_var"] = momentum * bn_param.get("running_var", np.ones(C)) + (1 - momentum) * var
    else:
        mu = np.asarray(bn_param["running_mean"], dtype=np.float64)
        var = np.asarray(bn_param["running_var"], dtype=np.float64)
    std = np.sqrt(var + eps)
    x_hat = (rows - mu) / std
    return _image(gamma * x_hat + beta, shape), (x_hat, gamma, std, bn_param["mode"], shape)


def spatial_batchnorm_backward(dout: np.ndarray, cache: tuple):
    """Gradients of :func:`spatial_batchnorm_forward`, in float64. With dx_hat = dout gamma_c and means over the M
    values of each channel (three paths to x in train mode: directly, through mu, through var):

        train: dx = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / sqrt(var + eps)
        test:  dx = dx_hat / sqrt(running_var + eps)            (mu and var are constants)
        dgamma_c = sum_{n,h,w} dout x_hat,   dbeta_c = sum_{n,h,w} dout.
    """
    x_hat, gamma, std, mode, shape = cache
    d = _rows(np.asarray(dout))
    dx_hat = d * gamma
    if mode == "train":
        dx_hat = dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)
    return _image(dx_hat / std, shape), (d * x_hat).sum(axis=0), d.sum(axis=0)


# ---- what the known mistakes output --------------------------------------------------------------------------


def _channel(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)[None, :, None, None]


def _normalised(x: np.ndarray, gamma, beta, mu, var, eps: float, *, outside: bool = False) -> np.ndarray:
    std = np.sqrt(var) + eps if outside else np.sqrt(var + eps)
    return _channel(gamma) * (x - mu) / std + _channel(beta)


def forward_mistakes(x, gamma, beta, bn_param: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per output ("out", "running_mean", "running_var"), what the known mistakes give in train mode, bn_param
    being the dict as it was before the call."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    M = N * H * W
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = np.asarray(bn_param.get("running_mean", np.zeros(C)), dtype=np.float64)
    rv = np.asarray(bn_param.get("running_var", np.ones(C)), dtype=np.float64)
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    found: dict[str, dict[str, np.ndarray]] = {"out": {}, "running_mean": {}, "running_var": {}}
    out = found["out"]
    pmu, pvar = x.mean(axis=0), x.var(axis=0)  # per position (C, H, W)
    out["per_position"] = _normalised(x, gamma, beta, pmu, pvar, eps)
    found["running_mean"]["per_position"] = m * rm[:, None, None] + (1 - m) * pmu
    found["running_var"]["per_position"] = m * rv[:, None, None] + (1 - m) * pvar
    mixed = x.reshape(-1, C)  # the channels not moved last
    xmu, xvar = mixed.mean(axis=0), mixed.var(axis=0)
    out["no_transpose"] = ((np.asarray(gamma, dtype=np.float64) * (mixed - xmu) / np.sqrt(xvar + eps)
                            + np.asarray(beta, dtype=np.float64)).reshape(x.shape))
    found["running_mean"]["no_transpose"] = m * rm + (1 - m) * xmu
    found["running_var"]["no_transpose"] = m * rv + (1 - m) * xvar
    out["per_image"] = _normalised(x, gamma, beta, x.mean(axis=(2, 3), keepdims=True),
                                   x.var(axis=(2, 3), keepdims=True), eps)
    if M > 1:
        unbiased = var * M / (M - 1)
        out["ddof1"] = _normalised(x, gamma, beta, mu, unbiased, eps)
        found["running_var"]["unbiased_running"] = m * rv + (1 - m) * unbiased.ravel()
    out["eps_outside"] = _normalised(x, gamma, beta, mu, var, eps, outside=True)
    out["no_gamma_beta"] = (x - mu) / np.sqrt(var + eps)
    found["running_mean"]["momentum_swapped"] = (1 - m) * rm + m * mu.ravel()
    found["running_var"]["momentum_swapped"] = (1 - m) * rv + m * var.ravel()
    found["running_mean"]["not_updated"] = rm
    found["running_var"]["not_updated"] = rv
    return found


def inference_mistakes(x, gamma, beta, bn_param: dict) -> dict[str, dict[str, np.ndarray]]:
    """What a test-mode call gives with the batch's statistics, and the running averages it would then store."""
    trained = dict(bn_param, mode="train")
    out = spatial_batchnorm_forward(x, gamma, beta, trained)[0]
    return {"out": {"batch_stats": out}, "running_mean": {"test_updates": trained["running_mean"]},
            "running_var": {"test_updates": trained["running_var"]}}


def backward_mistakes(x, gamma, beta, dout, eps: float = 1e-5) -> dict[str, dict[str, np.ndarray]]:
    """Per part ("dx", "dgamma", "dbeta"), what the known backward mistakes give after a train-mode forward."""
    x, dout = np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    N = x.shape[0]
    std = np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    x_hat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / std
    g = _channel(gamma)
    dx_hat = dout * g
    axes = (0, 2, 3)

    def mean(a, axis=axes):
        return a.mean(axis=axis, keepdims=True)

    return {
        "dx": {
            "no_mean_term": (dx_hat - x_hat * mean(dx_hat * x_hat)) / std,
            "no_var_term": (dx_hat - mean(dx_hat)) / std,
            "no_gamma": (dout - mean(dout) - x_hat * mean(dout * x_hat)) / std,
            "batch_axis_only": (dx_hat - mean(dx_hat, 0) - x_hat * mean(dx_hat * x_hat, 0)) / std,
            "count_n": (dx_hat - dx_hat.sum(axis=axes, keepdims=True) / N
                        - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True) / N) / std,
        },
        "dgamma": {"dgamma_no_xhat": dout.sum(axis=axes), "batch_sum_only": (dout * x_hat).sum(axis=0)},
        "dbeta": {"batch_sum_only": dout.sum(axis=0), "dbeta_mean": dout.mean(axis=axes)},
    }


# ---- inputs and the judges -----------------------------------------------------------------------------------


def make_batch(rng: np.random.Generator, shape: tuple, dtype=np.float64):
    """x of the given shape with a mean and a scale of its own per channel; gamma, beta (C,)."""
    C = shape[1]
    loc, scale = rng.uniform(-3, 3, C)[None, :, None, None], rng.uniform(0.5, 3, C)[None, :, None, None]
    x = loc + scale * rng.normal(size=shape)
    return x.astype(dtype), rng.uniform(0.5, 2, C).astype(dtype), rng.normal(size=C).astype(dtype)


def given_param(rng: np.random.Generator, C: int) -> dict:
    """A bn_param with settings and running averages of its own (not the defaults)."""
    return {"mode": "train", "eps": 1e-3, "momentum": 0.8, "running_mean": rng.normal(size=C),
            "running_var": rng.uniform(0.5, 2, C)}


def label_of(x: np.ndarray, extra: str = "") -> str:
    kind = f" ({x.dtype})" if x.dtype != np.float64 else ""
    return f"x of shape {x.shape}{kind}{', ' + extra if extra else ''}"


def tolerances(x: np.ndarray) -> tuple[float, float]:
    """(rtol, atol) of a forward output or a running average: float32 inputs get float32 tolerances."""
    return (1e-4, 1e-5) if x.dtype == np.float32 else (1e-7, 1e-10)


def check_forward_call(fn: str, label: str, got: dict, x, gamma, beta, before: dict, after: dict,
                       prefix: str = "") -> None:
    """One recorded forward call of ``fn`` against the reference replayed from ``before`` (the dict before the
    call) to ``after`` (the reference's dict after it): the pair, the inputs left alone, out, the running
    averages."""
    name = f"{fn} on {label}"
    value = Answers(None, fn).value(got.get("out"), label)
    if not got.get("pair"):
        raise CheckFailed(f"{name}: it must return the pair (out, cache); got a {type(value).__name__}.")
    for argument in got["changed"]:
        raise CheckFailed(f"{name}: it changed its input `{argument}` in place; work on new arrays.")
    mode = before["mode"]
    wrong = forward_mistakes(x, gamma, beta, before) if mode == "train" else inference_mistakes(x, gamma, beta, before)
    messages = FORWARD_MISTAKES if mode == "train" else TEST_MODE_MISTAKES
    rtol, atol = tolerances(np.asarray(x))
    want = spatial_batchnorm_forward(x, gamma, beta, dict(before))[0]
    check_array(f"{name}: out", value, want, rtol=rtol, atol=atol * max(1.0, float(np.abs(want).max())),
                mistakes=mistakes_on(wrong["out"], messages), hint=prefix + SPATIAL_BN_HINT)
    for key in ("running_mean", "running_var"):
        stat = got["running"][key]
        if stat is None:
            raise CheckFailed(f"{name}: bn_param has no {key!r} after the call; keep the running averages in "
                              f"bn_param (bn_param[{key!r}] = ...), the caller passes the same dict again.")
        what = "after a training batch" if mode == "train" else "after a test-mode call (unchanged)"
        check_array(f"{name}: bn_param[{key!r}] {what}", stat, after[key], rtol=rtol, atol=1e-12 + atol,
                    mistakes=mistakes_on(wrong[key], messages), hint=prefix + RUNNING_HINT)


def judge_forward_runs(runs: list[dict], summary: str):
    """Each call's output and running averages against the reference replayed on one bn_param per run."""

    def judge(answers: Answers, context: Context) -> str:
        for run, got in zip(runs, answers["runs"], strict=True):
            param = {key: value for key, value in run["bn_param"].items()}
            for (x, gamma, beta, mode), call, label in zip(run["calls"], got["calls"], run["labels"], strict=False):
                before = dict(param, mode=mode)
                param = dict(before)
                spatial_batchnorm_forward(x, gamma, beta, param)
                check_forward_call(context.name, label, call, x, gamma, beta, before, param)
            if len(got["calls"]) < len(run["calls"]):
                raise CheckFailed(f"{context.name}: the answers stop before the last call of a run (was the hidden "
                                  "test cell changed?).")
        return summary

    return {"runs": [{"bn_param": r["bn_param"], "calls": r["calls"]} for r in runs]}, judge


@case("w04_spatial_batchnorm_forward")
def spatial_batchnorm_forward_case(rng: np.random.Generator):
    """Train mode, each batch with a fresh bn_param (the default {"mode": "train"}, or one with eps 1e-3, momentum
    0.8 and running averages already there): out and the running averages after the call, on (2, 3, 4, 5),
    (4, 2, 5, 3), N = 1 (1, 3, 6, 7), C = 1 (5, 1, 3, 3), H = W = 1 (6, 4, 1, 1: week 2's layer), N = H = W = 1
    (the variance is 0: out = beta), (16, 8, 10, 10), and float32 (8, 3, 7, 5)."""
    runs = []
    for shape, given, dtype in [((2, 3, 4, 5), False, np.float64), ((4, 2, 5, 3), True, np.float64),
                                ((1, 3, 6, 7), False, np.float64), ((5, 1, 3, 3), True, np.float64),
                                ((6, 4, 1, 1), False, np.float64), ((1, 2, 1, 1), True, np.float64),
                                ((16, 8, 10, 10), False, np.float64), ((8, 3, 7, 5), True, np.float32)]:
        x, gamma, beta = make_batch(rng, shape, dtype)
        param = given_param(rng, shape[1]) if given else {"mode": "train"}
        label = label_of(x, "a given bn_param" if given else "bn_param = {'mode': 'train'}")
        runs.append({"bn_param": param, "calls": [(x, gamma, beta, "train")], "labels": [label]})
    return judge_forward_runs(runs, f"train-mode outputs and running averages agree on {len(runs)} batches "
                              "(N = 1, C = 1, H = W = 1, float32 included)")


@case("w04_spatial_batchnorm_test_mode")
def spatial_batchnorm_test_mode_case(rng: np.random.Generator):
    """Test mode with given running statistics, which it must leave alone, on (3, 4, 5, 5) and N = 1 (1, 4, 3, 2);
    then three training batches of shape (4, 3, 4, 4) followed by a test batch, on one bn_param."""
    C = 4
    given = dict(given_param(rng, C), mode="test", eps=1e-5, momentum=0.9)
    runs = []
    for shape in [(3, C, 5, 5), (1, C, 3, 2)]:
        x, gamma, beta = make_batch(rng, shape)
        runs.append({"bn_param": dict(given), "calls": [(x, gamma, beta, "test")],
                     "labels": [label_of(x, "test mode with given running statistics")]})
    _, gamma, beta = make_batch(rng, (1, 3, 1, 1))
    calls = [(make_batch(rng, (4, 3, 4, 4))[0], gamma, beta, mode) for mode in ("train", "train", "train", "test")]
    runs.append({"bn_param": {"mode": "train"}, "calls": calls,
                 "labels": [f"training batch {k} of 3 (one bn_param)" for k in (1, 2, 3)] + ["the test batch after them"]})
    return judge_forward_runs(runs, "test mode uses the running statistics and leaves them alone, also after "
                              "three training batches")


def _backward_runs(rng: np.random.Generator) -> list[dict]:
    """(shape, numeric, dtype): numeric ones are also compared with centred differences."""
    runs = []
    for shape, numeric, dtype in [((2, 3, 4, 5), True, np.float64), ((1, 2, 3, 4), True, np.float64),
                                  ((3, 1, 2, 3), True, np.float64), ((6, 4, 1, 1), False, np.float64),
                                  ((8, 5, 6, 7), False, np.float64), ((4, 3, 5, 5), False, np.float32)]:
        x, gamma, beta = make_batch(rng, shape, dtype)
        runs.append({"bn_param": {"mode": "train"}, "calls": [(x, gamma, beta, "train")],
                     "dout": rng.normal(size=shape).astype(dtype), "numeric": numeric})
    return runs


def numeric_grads(x, gamma, beta, dout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred differences (h = 1e-5) of sum(out * dout) for the reference forward in train mode."""
    x, gamma, beta = (np.array(a, dtype=np.float64) for a in (x, gamma, beta))

    def out(a, g, b):
        return spatial_batchnorm_forward(a, g, b, {"mode": "train"})[0]

    return (numerical_gradient_array(lambda a: out(a, gamma, beta), x, dout),
            numerical_gradient_array(lambda g: out(x, g, beta), gamma, dout),
            numerical_gradient_array(lambda b: out(x, gamma, b), beta, dout))


def judge_backward_runs(runs: list[dict], parts: tuple[str, ...], summary: str):
    """The named parts of (dx, dgamma, dbeta) against the reference (named mistakes) and, for the runs marked
    numeric, against centred differences; the forward's output is checked first (its cache is what the backward
    gets)."""

    def judge(answers: Answers, context: Context) -> str:
        forward, backward = "spatial_batchnorm_forward", "spatial_batchnorm_backward"
        for run, got in zip(runs, answers["runs"], strict=True):
            (x, gamma, beta, _), dout = run["calls"][0], run["dout"]
            label = label_of(x)
            first = got["calls"][0] if got["calls"] else {}
            failure = first.get("out")
            if isinstance(failure, Raised):
                what = ("is not implemented yet: write the forward first" if failure.type == "NotImplementedError"
                        else f"raised {failure.type}: {failure.message} (on {label}); fix the forward first")
                raise CheckFailed(f"{backward} is checked on the cache of your {forward}, which {what}.")
            after = {"mode": "train"}
            spatial_batchnorm_forward(x, gamma, beta, after)
            called = f"{label} (its cache is what {backward} gets: fix the forward first)"
            check_forward_call(forward, called, first, x, gamma, beta, {"mode": "train"}, after, prefix="fix the forward first: ")
            if got.get("dout_changed"):
                raise CheckFailed(f"{backward} changed its input `dout` in place (on {label}); work on new arrays.")
            grads = Answers(None, backward).parts(Answers(None, backward).value(got.get("grads"), label),
                                                  "dx", "dgamma", "dbeta")
            dout64 = dout.astype(np.float64)
            want = dict(zip(("dx", "dgamma", "dbeta"),
                            spatial_batchnorm_backward(dout64, spatial_batchnorm_forward(x, gamma, beta,
                                                                                         {"mode": "train"})[1])))
            wrong = backward_mistakes(x, gamma, beta, dout64)
            single = x.dtype == np.float32
            numeric = dict(zip(("dx", "dgamma", "dbeta"), numeric_grads(x, gamma, beta, dout64))) if run["numeric"] \
                else {}
            for part, value in zip(("dx", "dgamma", "dbeta"), grads):
                if part not in parts:
                    continue
                scale = max(1.0, float(np.abs(want[part]).max()))
                rtol, atol = (1e-4, 1e-4 * scale) if single else (1e-6, 1e-9 * scale)
                check_array(f"{backward} on {label}: {part}", value, want[part], rtol=rtol, atol=atol,
                            mistakes=mistakes_on(wrong[part], BACKWARD_MISTAKES), hint=SPATIAL_BN_BACKWARD_HINT)
                if part in numeric:
                    check_array(f"{backward} on {label}: {part} against centred differences of the layer", value,
                                numeric[part], rtol=1e-5, atol=1e-7 * scale, hint=SPATIAL_BN_BACKWARD_HINT)
        return summary

    return {"runs": [{k: r[k] for k in ("bn_param", "calls", "dout")} for r in runs]}, judge


@case("w04_spatial_batchnorm_backward")
def spatial_batchnorm_backward_case(rng: np.random.Generator):
    """dx after a train-mode forward, against the reference (named mistakes) on (2, 3, 4, 5), N = 1 (1, 2, 3, 4),
    C = 1 (3, 1, 2, 3), H = W = 1 (6, 4, 1, 1), (8, 5, 6, 7) and float32 (4, 3, 5, 5), and against centred
    differences of the layer on the first three. Called as
    check("w04_spatial_batchnorm_backward", spatial_batchnorm_backward, spatial_batchnorm_forward)."""
    return judge_backward_runs(_backward_runs(rng), ("dx",), "dx agrees with the reference and with centred "
                               "differences on 6 batches (N = 1, C = 1, H = W = 1, float32 included)")


@case("w04_spatial_batchnorm_param_grads")
def spatial_batchnorm_param_grads_case(rng: np.random.Generator):
    """dgamma and dbeta (shape (C,)) on the batches of the dx case, against the reference and centred
    differences. Called as check("w04_spatial_batchnorm_param_grads", spatial_batchnorm_backward,
    spatial_batchnorm_forward)."""
    return judge_backward_runs(_backward_runs(rng), ("dgamma", "dbeta"), "dgamma and dbeta agree with the "
                               "reference and with centred differences on 6 batches")


# ---- fixtures of the visible checks ----------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(440)
    x, gamma, beta = make_batch(rng, (4, 3, 5, 6))
    param = dict(given_param(rng, 3), eps=1e-5, momentum=0.9)
    before = dict(param)
    out, _ = spatial_batchnorm_forward(x, gamma, beta, param)
    wrong = forward_mistakes(x, gamma, beta, before)
    x_test = make_batch(rng, (2, 3, 5, 6))[0]
    tested = dict(param, mode="test")
    test_out, _ = spatial_batchnorm_forward(x_test, gamma, beta, tested)
    forward = ({"x": x, "gamma": gamma, "beta": beta, "x_test": x_test, "eps": np.array(param["eps"]),
                "momentum": np.array(param["momentum"]), "running_mean": before["running_mean"],
                "running_var": before["running_var"], "expected_out": out,
                "expected_running_mean": param["running_mean"], "expected_running_var": param["running_var"],
                "expected_test_out": test_out}
               | stored(wrong["out"], FORWARD_MISTAKES, "_out")
               | stored(wrong["running_mean"], FORWARD_MISTAKES, "_running_mean")
               | stored(wrong["running_var"], FORWARD_MISTAKES, "_running_var")
               | stored(inference_mistakes(x_test, gamma, beta, tested)["out"], TEST_MODE_MISTAKES, "_test"))

    x, gamma, beta = make_batch(rng, (3, 2, 4, 5))
    dout = rng.standard_normal(x.shape)
    out, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    wrong = backward_mistakes(x, gamma, beta, dout)
    backward = ({"x": x, "gamma": gamma, "beta": beta, "dout": dout, "expected_out": out, "expected_dx": dx,
                 "expected_dgamma": dgamma, "expected_dbeta": dbeta}
                | stored(wrong["dx"], BACKWARD_MISTAKES, "_dx") | stored(wrong["dgamma"], BACKWARD_MISTAKES, "_dgamma")
                | stored(wrong["dbeta"], BACKWARD_MISTAKES, "_dbeta"))
    return {"w04_batchnorm_forward": forward, "w04_batchnorm_backward": backward}
