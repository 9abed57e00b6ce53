"""Week 2, the losses (softmax cross-entropy, MSE, binary cross-entropy with logits): references, known
mistakes, hidden cases, fixtures.

Each loss returns ``(loss, grad)``: the mean loss as one number and its gradient with respect to the
scores. The references are checked against JAX and centred differences in ``tests/test_w02_losses.py``.
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import check_array
from dlfs.checks.w02_losses import BCE_HINT, MSE_HINT, SOFTMAX_CE_HINT, scalar_loss
from dlfs.grading import Call

SOFTMAX_CE_MISTAKES = {
    "sum_loss": "your loss is the SUM over the batch: return the mean over the N rows.",
    "no_mean": "your dlogits is N times too large: the loss is a mean over N rows, so divide (softmax - one_hot) by N.",
    "no_onehot": "your dlogits is softmax / N: subtract 1 at each row's correct class, (softmax - one_hot(y)) / N.",
    "sign": "your dlogits has the wrong sign: it is (softmax - one_hot(y)) / N, not (one_hot(y) - softmax) / N.",
}
MSE_MISTAKES = {
    "sum_loss": "your loss is the sum of squares: take the mean over ALL entries (divide by pred.size).",
    "over_n_loss": "your loss divides by N = pred.shape[0] only: take the mean over ALL entries (divide by pred.size).",
    "half_loss": "your loss is half the mean squared error: this course's mse_loss has no 1/2.",
    "no_two": "your dpred is missing the 2 of d(u**2)/du = 2u: dpred = 2 * (pred - target) / pred.size.",
    "over_n": "your dpred divides by N = pred.shape[0] only: the loss averages over ALL entries, so divide by pred.size.",
    "no_mean": "your dpred is 2 * (pred - target) without the 1/size of the mean: divide by pred.size.",
    "sign": "your dpred has the wrong sign: the derivative of (pred - target)**2 with respect to pred is 2 * (pred - target).",
}
BCE_MISTAKES = {
    "sum_loss": "your loss is the sum over the entries: return the mean.",
    "no_mean": "your dlogits is sigmoid(z) - y without the 1/size of the mean: divide by logits.size.",
    "sign": "your dlogits has the wrong sign: it is (sigmoid(z) - y) / size.",
}


# ---- references --------------------------------------------------------------------------------------


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the N rows of -log softmax(logits)[i, y_i], and its gradient.

    With m_i = max_k s_ik, log p_ik = s_ik - m_i - log sum_k exp(s_ik - m_i) (no overflow for any s):
    loss = -(1/N) sum_i log p_{i, y_i};  dlogits = (P - Y) / N, with Y the one-hot labels.
    """
    s = np.asarray(logits, dtype=np.float64)
    N = s.shape[0]
    shifted = s - s.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -log_p[rows, y].mean()
    d = np.exp(log_p)
    d[rows, y] -= 1.0
    return float(loss), d / N


def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """loss = (1/S) sum (pred - target)^2 over all S = pred.size entries; dpred = 2 (pred - target) / S."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def binary_cross_entropy_with_logits(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of -[y log sigma(z) + (1 - y) log(1 - sigma(z))] over all S entries, and its gradient.

    Stable form: -log sigma(z) = log(1 + e^-z), so each term is max(z, 0) - z y + log(1 + e^-|z|) (the
    exponent is never positive); dlogits = (sigma(z) - y) / S.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    loss = np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z))))
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return float(loss), (sig - y) / z.size


# ---- what the known mistakes output --------------------------------------------------------------------


def softmax_ce_mistakes(logits, y) -> dict[str, dict]:
    loss, d = softmax_cross_entropy(logits, y)
    N = len(y)
    onehot = np.zeros_like(d)
    onehot[np.arange(N), y] = 1.0
    return {"loss": {"sum_loss": np.float64(loss * N)},
            "grad": {"no_mean": d * N, "no_onehot": d + onehot / N, "sign": -d}}


def mse_mistakes(pred, target) -> dict[str, dict]:
    loss, d = mse_loss(pred, target)
    size, N = np.size(pred), np.shape(pred)[0] if np.ndim(pred) else 1
    return {"loss": {"sum_loss": np.float64(loss * size), "over_n_loss": np.float64(loss * size / N),
                     "half_loss": np.float64(loss / 2)},
            "grad": {"no_two": d / 2, "over_n": d * size / N, "no_mean": d * size, "sign": -d}}


def bce_mistakes(logits, y) -> dict[str, dict]:
    loss, d = binary_cross_entropy_with_logits(logits, y)
    size = np.size(logits)
    return {"loss": {"sum_loss": np.float64(loss * size)}, "grad": {"no_mean": d * size, "sign": -d}}


# ---- hidden cases ---------------------------------------------------------------------------------------


def _loss_case(problems: list[tuple], reference, mistakes, messages, grad: str, hint: str, arguments: tuple,
               summary: str, parts: tuple[str, ...] = ("loss", "grad")):
    """Each problem's loss (one finite number) and gradient against the reference; ``parts`` says which
    of the two the case grades (both are returned in any case). float32 inputs get float32 tolerances."""

    def judge(answers: Answers, context: Context) -> str:
        for i, args in enumerate(problems):
            scores = args[0]
            label = f"{arguments[0]} of shape {scores.shape}" + (", float32" if scores.dtype == np.float32 else "")
            loss, dscores = answers.parts(answers.result(i, label, arguments), "loss", grad)
            want_loss, want_grad = reference(*args)
            wrong = mistakes(*args)
            f32 = scores.dtype == np.float32
            if "loss" in parts:
                got = scalar_loss(f"{context.name} on {label}", answers.value(loss, label), hint)
                check_array(f"{context.name} on {label}: loss", got, np.float64(want_loss), rtol=1e-5 if f32 else 1e-7,
                            mistakes=mistakes_on(wrong["loss"], messages), hint=hint)
            if "grad" in parts:
                check_array(f"{context.name} on {label}: {grad}", answers.value(dscores, label), want_grad,
                            rtol=1e-4 if f32 else 1e-6, atol=1e-7 if f32 else 1e-12,
                            mistakes=mistakes_on(wrong["grad"], messages), hint=hint)
        return summary

    return {"calls": [Call(args) for args in problems]}, judge


def _classification(rng, N: int, C: int, scale: float = 2.0, dtype=np.float64):
    return (scale * rng.normal(size=(N, C))).astype(dtype), rng.integers(0, C, N)


CE_SHAPES = [(5, 4), (1, 3), (16, 10), (64, 10), (7, 2)]


@case("w02_softmax_ce_loss")
def softmax_ce_loss_case(rng: np.random.Generator):
    """The loss (one number, the mean) against the reference for N = 1 to 64, C = 2 to 10."""
    problems = [_classification(rng, N, C) for N, C in CE_SHAPES]
    return _loss_case(problems, softmax_cross_entropy, softmax_ce_mistakes, SOFTMAX_CE_MISTAKES, "dlogits",
                      SOFTMAX_CE_HINT, ("logits", "y"), f"the loss agrees with the reference on {len(problems)} shapes",
                      parts=("loss",))


@case("w02_softmax_ce_grad")
def softmax_ce_grad_case(rng: np.random.Generator):
    """dlogits against the reference (= centred differences of the loss) for N = 1 to 64, C = 2 to 10."""
    problems = [_classification(rng, N, C) for N, C in CE_SHAPES]
    return _loss_case(problems, softmax_cross_entropy, softmax_ce_mistakes, SOFTMAX_CE_MISTAKES, "dlogits",
                      SOFTMAX_CE_HINT, ("logits", "y"), f"dlogits agrees with the reference on {len(problems)} shapes",
                      parts=("grad",))


@case("w02_softmax_ce_stable")
def softmax_ce_stable_case(rng: np.random.Generator):
    """Rows around +1000 and -1000 and rows spread by 300 (exp overflows without the max shift), and float32
    logits: loss and dlogits finite and right."""
    logits, y = _classification(rng, 6, 5, scale=1.0)
    logits[0] += 1000.0
    logits[1] -= 1000.0
    logits[2] *= 300.0
    logits[3, y[3]] += 800.0  # a confident right answer: loss ~ 0
    logits[4, (y[4] + 1) % 5] += 800.0  # a confident wrong answer: loss ~ 800
    problems = [(logits, y), _classification(rng, 8, 4, scale=5.0, dtype=np.float32)]
    return _loss_case(problems, softmax_cross_entropy, softmax_ce_mistakes, SOFTMAX_CE_MISTAKES, "dlogits",
                      SOFTMAX_CE_HINT, ("logits", "y"), "loss and dlogits are right for logits around +-1000 and in float32")


@case("w02_mse_loss")
def mse_loss_case(rng: np.random.Generator):
    """Loss and dpred against the reference for pred of shape (4, 3), (5,), (2, 3, 4), (1, 1) and float32."""
    shapes = [(4, 3), (5,), (2, 3, 4), (1, 1)]
    problems = [(rng.normal(size=s), rng.normal(size=s)) for s in shapes]
    problems.append(tuple(rng.normal(size=(6, 2)).astype(np.float32) for _ in range(2)))
    return _loss_case(problems, mse_loss, mse_mistakes, MSE_MISTAKES, "dpred", MSE_HINT, ("pred", "target"),
                      "loss and dpred agree with the reference on 1-D to 3-D predictions, float32 included")


def _binary(rng, shape, scale=2.0, soft=False, dtype=np.float64):
    z = (scale * rng.normal(size=shape)).astype(dtype)
    y = rng.uniform(size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
    return z, y.astype(dtype)


@case("w02_bce_logits")
def bce_logits_case(rng: np.random.Generator):
    """Loss and dlogits against the reference for logits of shape (3, 4), (5,), (4, 1), (1,), with hard and
    soft (in [0, 1]) labels."""
    problems = [_binary(rng, (3, 4)), _binary(rng, (5,), soft=True), _binary(rng, (4, 1)), _binary(rng, (1,)),
                _binary(rng, (2, 3), soft=True)]
    return _loss_case(problems, binary_cross_entropy_with_logits, bce_mistakes, BCE_MISTAKES, "dlogits", BCE_HINT,
                      ("logits", "y"), "loss and dlogits agree with the reference on 5 shapes, hard and soft labels")


@case("w02_bce_logits_stable")
def bce_logits_stable_case(rng: np.random.Generator):
    """Logits of +-1000, +-745, +-40 with labels right and wrong (log(sigmoid) is -inf there), and float32."""
    z = np.array([-1000.0, -1000.0, 1000.0, 1000.0, -745.0, 745.0, -40.0, 40.0, 0.0, 3.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5])
    mixed, labels = _binary(rng, (4, 5), scale=400.0)
    problems = [(z, y), (mixed, labels), _binary(rng, (3, 4), scale=300.0, dtype=np.float32)]
    return _loss_case(problems, binary_cross_entropy_with_logits, bce_mistakes, BCE_MISTAKES, "dlogits", BCE_HINT,
                      ("logits", "y"), "loss and dlogits are right for logits of +-1000, float32 included")


# ---- fixtures of the visible checks ----------------------------------------------------------------------


def _fixture(args: dict, reference, mistakes, messages: dict[str, str]) -> dict[str, np.ndarray]:
    values = list(args.values())
    loss, grad = reference(*values)
    wrong = mistakes(*values)
    return (args | {"expected_loss": np.float64(loss), "expected_grad": grad}
            | stored(wrong["loss"], messages, "_loss") | stored(wrong["grad"], messages, "_grad"))


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2020)
    logits, y = _classification(rng, 5, 4)
    logits[1] += 1000.0
    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    z, t = _binary(rng, (2, 4))
    z[0, 0], z[1, 1], t[0, 0], t[1, 1] = -1000.0, 1000.0, 1.0, 0.0
    return {
        "w02_losses_softmax_ce": _fixture({"logits": logits, "y": y}, softmax_cross_entropy, softmax_ce_mistakes,
                                           SOFTMAX_CE_MISTAKES),
        "w02_losses_mse": _fixture({"pred": pred, "target": target}, mse_loss, mse_mistakes, MSE_MISTAKES),
        "w02_losses_bce": _fixture({"logits": z, "y": t}, binary_cross_entropy_with_logits, bce_mistakes,
                                   BCE_MISTAKES),
    }
