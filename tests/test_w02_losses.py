"""Week 2 losses (softmax cross-entropy, MSE, BCE with logits): the references against JAX and centred
differences, the hidden cases (correct variants pass, named mistakes fail) and the visible checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w02_losses as ref
from autograder.gradcheck import numerical_gradient
from dlfs.checks import week02 as visible

pytestmark = [pytest.mark.week02, pytest.mark.w02_losses, pytest.mark.autograder]


# ---- the notebook's solution (a copy) -------------------------------------------------------------------


def softmax_cross_entropy(logits, y):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(N), y] -= 1
    dlogits /= N
    return loss, dlogits


def mse_loss(pred, target):
    diff = pred - target
    loss = np.mean(diff**2)
    dpred = 2 * diff / diff.size
    return loss, dpred


def binary_cross_entropy_with_logits(logits, y):
    loss = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits))))
    e = np.exp(-np.abs(logits))
    sig = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    dlogits = (sig - y) / logits.size
    return loss, dlogits


# ---- correct alternatives --------------------------------------------------------------------------------


def softmax_ce_loop(logits, y):
    N, C = logits.shape
    loss, d = 0.0, np.zeros(logits.shape)
    for i in range(N):
        row = logits[i].astype(np.float64)
        m = row.max()
        total = sum(math.exp(v - m) for v in row)
        loss += m + math.log(total) - row[y[i]]
        for k in range(C):
            d[i, k] = math.exp(row[k] - m) / total - (k == y[i])
    return loss / N, d / N


def softmax_ce_probs(logits, y):
    """Probabilities first, then -log of the right one (fine once the max is subtracted: p_y >= e^-800 > 0 ...
    except for a confident wrong answer, so take the log of the shifted form instead)."""
    N = len(y)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    s = logits - logits.max(axis=1, keepdims=True)
    loss = np.mean(np.log(e.sum(axis=1)) - s[np.arange(N), y])
    onehot = np.eye(logits.shape[1])[y]
    return float(loss), (p - onehot) / N


def mse_loop(pred, target):
    flat_p, flat_t = pred.ravel(), target.ravel()
    total = 0.0
    grad = np.zeros(flat_p.shape)
    for i in range(flat_p.size):
        total += (float(flat_p[i]) - float(flat_t[i])) ** 2
        grad[i] = 2 * (float(flat_p[i]) - float(flat_t[i])) / flat_p.size
    return total / flat_p.size, grad.reshape(pred.shape)


def mse_float32_keeps_dtype(pred, target):
    diff = pred - target
    return np.float32(np.mean(diff * diff)), (2 / diff.size) * diff


def bce_logaddexp(logits, y):
    """-y log sigma(z) - (1 - y) log sigma(-z) = y logaddexp(0, -z) + (1 - y) logaddexp(0, z)."""
    loss = np.mean(y * np.logaddexp(0, -logits) + (1 - y) * np.logaddexp(0, logits))
    sig = 0.5 * (1 + np.tanh(logits / 2))
    return loss, (sig - y) / logits.size


def bce_loop(logits, y):
    flat_z, flat_y = logits.ravel(), y.ravel()
    total, grad = 0.0, np.zeros(flat_z.shape)
    for i, (z, t) in enumerate(zip(flat_z.astype(float), flat_y.astype(float))):
        total += max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))
        sig = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
        grad[i] = (sig - t) / flat_z.size
    return total / flat_z.size, grad.reshape(logits.shape)


# ---- wrong ones ------------------------------------------------------------------------------------------


def stub(*args):
    raise NotImplementedError()


def softmax_ce_no_shift(logits, y):
    N = len(y)
    e = np.exp(logits)
    p = e / e.sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(N), y] -= 1
    return -np.mean(np.log(p[np.arange(N), y])), d / N


def softmax_ce_sum(logits, y):
    loss, d = softmax_cross_entropy(logits, y)
    return loss * len(y), d


def softmax_ce_no_mean(logits, y):
    loss, d = softmax_cross_entropy(logits, y)
    return loss, d * len(y)


def softmax_ce_no_onehot(logits, y):
    loss, d = softmax_cross_entropy(logits, y)
    return loss, np.exp(logits - logits.max(1, keepdims=True)) / np.exp(logits - logits.max(1, keepdims=True)).sum(
        1, keepdims=True) / len(y)


def softmax_ce_sign(logits, y):
    loss, d = softmax_cross_entropy(logits, y)
    return loss, -d


def softmax_ce_in_place(logits, y):
    logits -= logits.max(axis=1, keepdims=True)
    return softmax_cross_entropy(logits, y)


def softmax_ce_array_loss(logits, y):
    loss, d = softmax_cross_entropy(logits, y)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(y)), y], d


def mse_no_two(pred, target):
    return np.mean((pred - target) ** 2), (pred - target) / pred.size


def mse_over_n(pred, target):
    return np.sum((pred - target) ** 2) / len(pred), 2 * (pred - target) / len(pred)


def mse_grad_over_n(pred, target):
    return np.mean((pred - target) ** 2), 2 * (pred - target) / len(pred)


def mse_sum(pred, target):
    return np.sum((pred - target) ** 2), 2 * (pred - target) / pred.size


def mse_half(pred, target):
    return 0.5 * np.mean((pred - target) ** 2), (pred - target) / pred.size


def mse_sign(pred, target):
    return np.mean((pred - target) ** 2), 2 * (target - pred) / pred.size


def bce_naive(logits, y):
    with np.errstate(all="ignore"):
        p = 1 / (1 + np.exp(-logits))
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss, (p - y) / logits.size


def bce_clipped(logits, y):
    with np.errstate(all="ignore"):
        p = np.clip(1 / (1 + np.exp(-logits)), 1e-7, 1 - 1e-7)
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss, (p - y) / logits.size


def bce_no_mean(logits, y):
    loss, d = binary_cross_entropy_with_logits(logits, y)
    return loss, d * logits.size


def bce_sum(logits, y):
    loss, d = binary_cross_entropy_with_logits(logits, y)
    return loss * logits.size, d


def bce_sign(logits, y):
    loss, d = binary_cross_entropy_with_logits(logits, y)
    return loss, -d


def bce_unstable_grad(logits, y):
    loss, _ = binary_cross_entropy_with_logits(logits, y)
    with np.errstate(all="ignore"):
        e = np.exp(logits)
        sig = e / (1 + e)
    return loss, (sig - y) / logits.size


CORRECT = {
    "w02_softmax_ce_loss": [softmax_cross_entropy, softmax_ce_loop, softmax_ce_probs, ref.softmax_cross_entropy],
    "w02_softmax_ce_grad": [softmax_cross_entropy, softmax_ce_loop, softmax_ce_probs],
    "w02_softmax_ce_stable": [softmax_cross_entropy, softmax_ce_loop, softmax_ce_probs],
    "w02_mse_loss": [mse_loss, mse_loop, mse_float32_keeps_dtype, ref.mse_loss],
    "w02_bce_logits": [binary_cross_entropy_with_logits, bce_logaddexp, bce_loop, ref.binary_cross_entropy_with_logits],
    "w02_bce_logits_stable": [binary_cross_entropy_with_logits, bce_logaddexp, bce_loop],
}

WRONG = [
    ("w02_softmax_ce_loss", softmax_ce_sum, "loss is the SUM"),
    ("w02_softmax_ce_loss", softmax_ce_array_loss, "must be one number"),
    ("w02_softmax_ce_loss", softmax_ce_in_place, "changed its input `logits`"),
    ("w02_softmax_ce_loss", stub, "not implemented yet"),
    ("w02_softmax_ce_grad", softmax_ce_no_mean, "N times too large"),
    ("w02_softmax_ce_grad", softmax_ce_no_onehot, "subtract 1 at each row's correct class"),
    ("w02_softmax_ce_grad", softmax_ce_sign, "wrong sign"),
    ("w02_softmax_ce_stable", softmax_ce_no_shift, "(inf|nan|NaN).*max subtracted"),
    ("w02_mse_loss", mse_no_two, "missing the 2"),
    ("w02_mse_loss", mse_over_n, "divides by N = pred.shape\\[0\\] only"),
    ("w02_mse_loss", mse_grad_over_n, "dpred divides by N"),
    ("w02_mse_loss", mse_sum, "sum of squares"),
    ("w02_mse_loss", mse_half, "half the mean"),
    ("w02_mse_loss", mse_sign, "wrong sign"),
    ("w02_mse_loss", stub, "not implemented yet"),
    ("w02_bce_logits", bce_no_mean, "without the 1/size"),
    ("w02_bce_logits", bce_sum, "sum over the entries"),
    ("w02_bce_logits", bce_sign, "wrong sign"),
    ("w02_bce_logits", stub, "not implemented yet"),
    ("w02_bce_logits_stable", bce_naive, "(inf|nan|NaN).*never log\\(sigmoid"),
    ("w02_bce_logits_stable", bce_clipped, "loss: .*values are wrong.*never log\\(sigmoid"),
    ("w02_bce_logits_stable", bce_unstable_grad, "dlogits: the result contains NaN"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_losses", CORRECT, WRONG)


def test_naive_bce_passes_moderate_logits():
    """The naive form is right away from saturation: only the stable case catches it."""
    from autograder.protocol import run_case

    run_case("w02_bce_logits", bce_naive)


# ---- the references against centred differences, closed forms and JAX ------------------------------------


@pytest.mark.parametrize(("N", "C"), [(1, 3), (4, 2), (6, 5)])
def test_softmax_ce_against_definition_and_centred_differences(N, C):
    rng = np.random.default_rng(N * C)
    logits, y = rng.normal(size=(N, C)), rng.integers(0, C, N)
    loss, d = ref.softmax_cross_entropy(logits, y)
    direct = np.mean([-math.log(math.exp(logits[i, y[i]]) / sum(math.exp(v) for v in logits[i])) for i in range(N)])
    assert loss == pytest.approx(direct, rel=1e-13)
    np.testing.assert_allclose(d, numerical_gradient(lambda s: ref.softmax_cross_entropy(s, y)[0], logits),
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)], ids=str)
def test_mse_and_bce_against_centred_differences(shape):
    rng = np.random.default_rng(len(shape))
    pred, target, t = rng.normal(size=shape), rng.normal(size=shape), rng.uniform(size=shape)
    np.testing.assert_allclose(ref.mse_loss(pred, target)[1],
                               numerical_gradient(lambda p: ref.mse_loss(p, target)[0], pred), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ref.binary_cross_entropy_with_logits(pred, t)[1],
                               numerical_gradient(lambda z: ref.binary_cross_entropy_with_logits(z, t)[0], pred),
                               rtol=1e-7, atol=1e-10)
    direct = -np.mean(t * np.log(1 / (1 + np.exp(-pred))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-pred))))
    assert ref.binary_cross_entropy_with_logits(pred, t)[0] == pytest.approx(direct, rel=1e-12)


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize(("N", "C", "shift"), [(1, 3, 0.0), (5, 2, 0.0), (16, 10, 0.0), (4, 6, 1000.0)])
def test_softmax_ce_against_jax(jax, N, C, shift):
    jnp = jax.numpy
    rng = np.random.default_rng(N + C)
    logits, y = 3 * rng.normal(size=(N, C)) + shift, rng.integers(0, C, N)
    logits[0] *= 1 + shift / 10  # spread by hundreds when shifted

    def loss(s):
        return -jnp.mean(jax.nn.log_softmax(s, axis=1)[jnp.arange(N), y])

    value, grad = jax.value_and_grad(loss)(logits)
    mine, d = ref.softmax_cross_entropy(logits, y)
    assert mine == pytest.approx(float(value), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(d, grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("shape", [(1,), (6,), (3, 4), (2, 3, 4)], ids=str)
def test_mse_and_bce_against_jax(jax, shape):
    jnp = jax.numpy
    rng = np.random.default_rng(sum(shape))
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    value, grad = jax.value_and_grad(lambda p: jnp.mean((p - target) ** 2))(pred)
    mine, d = ref.mse_loss(pred, target)
    assert mine == pytest.approx(float(value), rel=1e-13)
    np.testing.assert_allclose(d, grad, rtol=1e-12, atol=1e-16)
    z = 300 * rng.normal(size=shape)
    z.flat[0] = 1000.0
    t = rng.uniform(size=shape)
    bce = jax.value_and_grad(lambda s: jnp.mean(-t * jax.nn.log_sigmoid(s) - (1 - t) * jax.nn.log_sigmoid(-s)))
    value, grad = bce(z)
    mine, d = ref.binary_cross_entropy_with_logits(z, t)
    assert mine == pytest.approx(float(value), rel=1e-12)
    np.testing.assert_allclose(d, grad, rtol=1e-10, atol=1e-16)


def test_mistake_outputs_are_those_mistakes():
    pred, target = np.arange(6.0).reshape(3, 2), np.zeros((3, 2))
    wrong = ref.mse_mistakes(pred, target)
    np.testing.assert_allclose(wrong["grad"]["over_n"], 2 * pred / 3)
    np.testing.assert_allclose(wrong["grad"]["no_two"], pred / 6)
    assert wrong["loss"]["over_n_loss"] == pytest.approx(np.sum(pred**2) / 3)
    logits, y = np.zeros((2, 2)), np.array([0, 1])
    np.testing.assert_allclose(ref.softmax_ce_mistakes(logits, y)["grad"]["no_onehot"], np.full((2, 2), 0.25))


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.softmax_cross_entropy, softmax_cross_entropy), (visible.softmax_cross_entropy, softmax_ce_loop),
    (visible.mse_loss, mse_loss), (visible.mse_loss, mse_loop),
    (visible.binary_cross_entropy_with_logits, binary_cross_entropy_with_logits),
    (visible.binary_cross_entropy_with_logits, bce_logaddexp),
]

VISIBLE_WRONG = [
    (visible.softmax_cross_entropy, stub, "not implemented yet"),
    (visible.softmax_cross_entropy, softmax_ce_no_shift, "(inf|nan|NaN).*max subtracted"),
    (visible.softmax_cross_entropy, softmax_ce_sum, "SUM"),
    (visible.softmax_cross_entropy, softmax_ce_no_mean, "N times too large"),
    (visible.softmax_cross_entropy, softmax_ce_in_place, "changed its input `logits`"),
    (visible.mse_loss, mse_no_two, "missing the 2"),
    (visible.mse_loss, mse_grad_over_n, "divides by N"),
    (visible.mse_loss, mse_sum, "sum of squares"),
    (visible.binary_cross_entropy_with_logits, bce_naive, "(inf|nan|NaN).*never log\\(sigmoid"),
    (visible.binary_cross_entropy_with_logits, bce_no_mean, "without the 1/size"),
    (visible.binary_cross_entropy_with_logits, stub, "not implemented yet"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
