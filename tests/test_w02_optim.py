"""Week 2 update rules: the references against a hand-computed example, the hidden cases against correct
variants (the notebook's solution, loops, float32, in-place state, other equivalent forms) and the known
mistakes, and the visible checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, notebook_solutions, visible_tests

from autograder.cases import w02_optim as ref
from dlfs.checks import week02 as visible

pytestmark = [pytest.mark.week02, pytest.mark.w02_optim, pytest.mark.autograder]


# ---- the notebook's solutions, taken from the source notebook -------------------------------------------

_solution = notebook_solutions("week02_backprop")
sgd = _solution["sgd"]
sgd_momentum = _solution["sgd_momentum"]
rmsprop = _solution["rmsprop"]
adam = _solution["adam"]

# ---- correct alternatives ------------------------------------------------------------------------------


def _cfg(config, **defaults):
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def sgd_loop(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2)
    out = np.empty_like(w)
    for i in np.ndindex(w.shape):
        out[i] = w[i] - config["learning_rate"] * dw[i]
    return out, config


def sgd_float32_copy(w, dw, config=None):
    """Keeps the dtype of w: a copy updated in place."""
    config = _cfg(config, learning_rate=1e-2)
    next_w = w.copy()
    next_w -= config["learning_rate"] * dw
    return next_w, config


def momentum_negated_velocity(w, dw, config=None):
    """Stores the velocity with the opposite sign: v = mu v + lr dw; next_w = w - v (the same steps from None,
    but config['velocity'] is not the spec's, and a velocity handed in is read with the wrong sign)."""
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    return w - v, config


def momentum_in_place_state(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = config.setdefault("velocity", np.zeros_like(w))
    v *= config["momentum"]
    v -= config["learning_rate"] * dw
    return w + v, config


def momentum_loop(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = np.array(config.get("velocity", np.zeros(w.shape)), dtype=np.float64)
    out = np.empty(w.shape)
    for i in np.ndindex(w.shape):
        v[i] = config["momentum"] * v[i] - config["learning_rate"] * dw[i]
        out[i] = w[i] + v[i]
    config["velocity"] = v
    return out, config


def rmsprop_loop(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = np.array(config.get("cache", np.zeros(w.shape)), dtype=np.float64)
    out = np.empty(w.shape)
    for i in np.ndindex(w.shape):
        cache[i] = config["decay_rate"] * cache[i] + (1 - config["decay_rate"]) * dw[i] ** 2
        out[i] = w[i] - config["learning_rate"] * dw[i] / (math.sqrt(cache[i]) + config["epsilon"])
    config["cache"] = cache
    return out, config


def rmsprop_float32_in_place_state(w, dw, config=None):
    """The fast form: state updated in place, Python-float constants (float32 stays float32)."""
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config.setdefault("cache", np.zeros_like(w))
    cache *= config["decay_rate"]
    cache += (1 - config["decay_rate"]) * dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam_rescaled(w, dw, config=None):
    """The paper's rewrite: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), eps_t = eps sqrt(1 - b2^t) (exactly equal)."""
    config = _cfg(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    config["t"] = config.get("t", 0) + 1
    t, b1, b2 = config["t"], config["beta1"], config["beta2"]
    config["m"] = b1 * config.get("m", 0.0) + (1 - b1) * dw
    config["v"] = b2 * config.get("v", 0.0) + (1 - b2) * dw * dw
    correction = math.sqrt(1 - b2**t)
    lr_t = config["learning_rate"] * correction / (1 - b1**t)
    return w - lr_t * config["m"] / (np.sqrt(config["v"]) + config["epsilon"] * correction), config


def adam_loop(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    t = config.get("t", 0) + 1
    m = np.array(config.get("m", np.zeros(w.shape)), dtype=np.float64)
    v = np.array(config.get("v", np.zeros(w.shape)), dtype=np.float64)
    out = np.empty(w.shape)
    for i in np.ndindex(w.shape):
        m[i] = config["beta1"] * m[i] + (1 - config["beta1"]) * dw[i]
        v[i] = config["beta2"] * v[i] + (1 - config["beta2"]) * dw[i] ** 2
        m_hat, v_hat = m[i] / (1 - config["beta1"] ** t), v[i] / (1 - config["beta2"] ** t)
        out[i] = w[i] - config["learning_rate"] * m_hat / (math.sqrt(v_hat) + config["epsilon"])
    config.update(t=t, m=m, v=v)
    return out, config


def adam_float32_in_place_state(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    config["t"] = t = config.get("t", 0) + 1
    m = config.setdefault("m", np.zeros_like(w))
    v = config.setdefault("v", np.zeros_like(w))
    m *= config["beta1"]
    m += (1 - config["beta1"]) * dw
    v *= config["beta2"]
    v += (1 - config["beta2"]) * dw * dw
    step = (m / (1 - config["beta1"] ** t)) / (np.sqrt(v / (1 - config["beta2"] ** t)) + config["epsilon"])
    return w - config["learning_rate"] * step, config


# ---- wrong implementations -------------------------------------------------------------------------------


def stub(w, dw, config=None):
    raise NotImplementedError()


def sgd_ascent(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2)
    return w + config["learning_rate"] * dw, config


def sgd_in_place(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_overwrites_lr(w, dw, config=None):
    config = {} if config is None else config
    config["learning_rate"] = 1e-2
    return w - config["learning_rate"] * dw, config


def sgd_no_config(w, dw, config=None):
    return w - 1e-2 * dw


def momentum_uphill(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def momentum_old_velocity(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = config.get("velocity", np.zeros_like(w))
    next_w = w + v
    config["velocity"] = config["momentum"] * v - config["learning_rate"] * dw
    return next_w, config


def momentum_dampened(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    mu = config["momentum"]
    v = mu * config.get("velocity", np.zeros_like(w)) - (1 - mu) * config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def momentum_reset(w, dw, config=None):
    """The velocity is started again at every call (assigned, not setdefault)."""
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    config["velocity"] = np.zeros_like(w)
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def momentum_fresh_dict(w, dw, config=None):
    """Builds a new config at every call, so nothing the caller passes back is used."""
    config = {"learning_rate": 1e-2, "momentum": 0.9, "velocity": np.zeros_like(w)}
    config["velocity"] = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    return w + config["velocity"], config


def momentum_not_stored(w, dw, config=None):
    """Reads the velocity but never writes the new one back."""
    config = _cfg(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    return w + v, config


def momentum_wrong_key(w, dw, config=None):
    next_w, config = sgd_momentum(w, dw, config)
    config["v"] = config.pop("velocity")
    return next_w, config


def rmsprop_no_one_minus(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def rmsprop_eps_inside(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / np.sqrt(cache + config["epsilon"]), config


def rmsprop_no_sqrt(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (cache + config["epsilon"]), config


def rmsprop_no_eps(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / np.sqrt(cache), config


def rmsprop_reset(w, dw, config=None):
    config = _cfg(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def _adam(w, dw, config, *, correct=True, late=False, inside=False):
    config = _cfg(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    b1, b2, t = config["beta1"], config["beta2"], config.get("t", 0)
    if not late:
        t += 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw**2
    m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
    scale = np.sqrt(v_hat + config["epsilon"]) if inside else np.sqrt(v_hat) + config["epsilon"]
    config.update(t=t + 1 if late else t, m=m, v=v)
    return w - config["learning_rate"] * m_hat / scale, config


def adam_no_bias_correction(w, dw, config=None):
    return _adam(w, dw, config, correct=False)


def adam_t_late(w, dw, config=None):
    return _adam(w, dw, config, late=True)


def adam_eps_inside(w, dw, config=None):
    return _adam(w, dw, config, inside=True)


def adam_reset(w, dw, config=None):
    """Computes the step on a copy of the config: the new state is never written back."""
    config = _cfg(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    next_w, _ = _adam(w, dw, dict(config))
    return next_w, config


def adam_t_not_stored(w, dw, config=None):
    next_w, config = adam(w, dw, config)
    config["t"] = 1
    return next_w, config


def adam_in_place(w, dw, config=None):
    next_w, config = adam(w, dw, config)
    w[...] = next_w
    return w, config


CORRECT = {
    "w02_sgd_default": [sgd, sgd_loop, sgd_float32_copy, ref.sgd],
    "w02_sgd_config": [sgd, sgd_loop, sgd_float32_copy],
    "w02_sgd_momentum_default": [sgd_momentum, momentum_in_place_state, momentum_loop, ref.sgd_momentum],
    "w02_sgd_momentum_config": [sgd_momentum, momentum_in_place_state, momentum_loop],
    "w02_rmsprop_default": [rmsprop, rmsprop_loop, rmsprop_float32_in_place_state, ref.rmsprop],
    "w02_rmsprop_config": [rmsprop, rmsprop_loop, rmsprop_float32_in_place_state],
    "w02_adam_default": [adam, adam_rescaled, adam_loop, adam_float32_in_place_state, ref.adam],
    "w02_adam_config": [adam, adam_rescaled, adam_loop, adam_float32_in_place_state],
}

WRONG = [
    ("w02_sgd_default", stub, "not implemented yet"),
    ("w02_sgd_default", sgd_ascent, "uphill"),
    ("w02_sgd_default", sgd_in_place, "changed its input `w` in place"),
    ("w02_sgd_default", sgd_no_config, r"must return a tuple \(next_w, config\)"),
    ("w02_sgd_config", sgd_overwrites_lr, "default hyperparameters"),
    ("w02_sgd_config", sgd_ascent, "uphill"),
    ("w02_sgd_momentum_default", momentum_uphill, "uphill"),
    ("w02_sgd_momentum_default", momentum_old_velocity, "velocity of the previous step"),
    ("w02_sgd_momentum_default", momentum_dampened, r"\(1 - momentum\)"),
    ("w02_sgd_momentum_default", momentum_reset, "does not carry over"),
    ("w02_sgd_momentum_default", momentum_fresh_dict, "does not carry over"),
    ("w02_sgd_momentum_default", momentum_wrong_key, "does not carry over"),
    ("w02_sgd_momentum_default", momentum_negated_velocity, "opposite sign"),
    ("w02_sgd_momentum_config", momentum_negated_velocity, "opposite sign"),
    ("w02_sgd_momentum_config", momentum_reset, "does not carry over"),
    ("w02_sgd_momentum_config", momentum_not_stored, "does not carry over"),
    ("w02_sgd_momentum_config", momentum_fresh_dict, "values are wrong"),
    ("w02_sgd_momentum_config", momentum_old_velocity, "velocity of the previous step"),
    ("w02_rmsprop_default", rmsprop_no_one_minus, r"not \(1 - decay_rate\)"),
    ("w02_rmsprop_default", rmsprop_eps_inside, "inside the square root"),
    ("w02_rmsprop_default", rmsprop_no_sqrt, "square root"),
    ("w02_rmsprop_default", rmsprop_no_eps, "NaN"),
    ("w02_rmsprop_default", rmsprop_reset, "does not carry over"),
    ("w02_rmsprop_config", rmsprop_eps_inside, "inside the square root"),
    ("w02_rmsprop_config", rmsprop_no_one_minus, r"not \(1 - decay_rate\)"),
    ("w02_adam_default", adam_no_bias_correction, "without the bias correction"),
    ("w02_adam_default", adam_t_late, "increment t after using it"),
    ("w02_adam_default", adam_eps_inside, "inside the square root"),
    ("w02_adam_default", adam_reset, "does not carry over"),
    ("w02_adam_default", adam_t_not_stored, "values are wrong"),
    ("w02_adam_default", adam_in_place, "changed its input `w` in place"),
    ("w02_adam_default", stub, "not implemented yet"),
    ("w02_adam_config", adam_t_late, "before it is incremented"),
    ("w02_adam_config", adam_no_bias_correction, "without the bias correction"),
    ("w02_adam_config", adam_eps_inside, "inside the square root"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_optim", CORRECT, WRONG)


# ---- the references against a hand-computed two-step example -------------------------------------------

W0, G1, G2 = [1.0, -2.0], [0.5, 1.0], [-1.0, 0.5]


def _two_steps(rule):
    w1, config = rule(np.array(W0), np.array(G1), None)
    w2, config = rule(w1, np.array(G2), config)
    return w1, w2, config


def test_sgd_and_momentum_by_hand():
    w1, w2, _ = _two_steps(ref.sgd)
    np.testing.assert_allclose(w1, [0.995, -2.01], rtol=1e-14)
    np.testing.assert_allclose(w2, [1.005, -2.015], rtol=1e-14)
    w1, w2, config = _two_steps(ref.sgd_momentum)
    # v1 = -0.01 g1 = [-0.005, -0.01]; v2 = 0.9 v1 - 0.01 g2 = [0.0055, -0.014]
    np.testing.assert_allclose(w1, [0.995, -2.01], rtol=1e-14)
    np.testing.assert_allclose(config["velocity"], [0.0055, -0.014], rtol=1e-12)
    np.testing.assert_allclose(w2, [1.0005, -2.024], rtol=1e-12)


def test_rmsprop_by_hand():
    w1, w2, config = _two_steps(ref.rmsprop)
    for i in range(2):
        s1 = 0.01 * G1[i] ** 2
        x1 = W0[i] - 0.01 * G1[i] / (math.sqrt(s1) + 1e-8)
        s2 = 0.99 * s1 + 0.01 * G2[i] ** 2
        x2 = x1 - 0.01 * G2[i] / (math.sqrt(s2) + 1e-8)
        assert w1[i] == pytest.approx(x1, rel=1e-13) and w2[i] == pytest.approx(x2, rel=1e-13)
        assert config["cache"][i] == pytest.approx(s2, rel=1e-13)
    # the first step moves every coordinate by lr / sqrt(1 - rho) = 0.1
    np.testing.assert_allclose(w1, [0.9, -2.1], rtol=1e-7)


def test_adam_by_hand():
    w1, w2, config = _two_steps(ref.adam)
    # step 1 (t = 1): m_hat = g1, v_hat = g1^2, so each coordinate moves by lr against the sign of g1
    np.testing.assert_allclose(w1, [0.999, -2.001], rtol=1e-10)
    m = [0.9 * 0.1 * a + 0.1 * b for a, b in zip(G1, G2)]  # [-0.055, 0.14]
    v = [0.999 * 0.001 * a * a + 0.001 * b * b for a, b in zip(G1, G2)]  # [0.00124975, 0.001249]
    np.testing.assert_allclose(m, [-0.055, 0.14], rtol=1e-13)
    np.testing.assert_allclose(v, [0.00124975, 0.001249], rtol=1e-13)
    expected = [w1[i] - 0.001 * (m[i] / 0.19) / (math.sqrt(v[i] / 0.001999) + 1e-8) for i in range(2)]
    np.testing.assert_allclose(w2, expected, rtol=1e-13)
    np.testing.assert_allclose(w2, [0.999366, -2.001932], atol=1e-6)
    assert config["t"] == 2


def test_mistake_rules_differ_from_the_reference_on_the_cases():
    """Every named mistake is told apart from the right answer on the fixture runs (otherwise naming it is moot)."""
    for rule, arrays in ref.fixtures().items():
        want_b = arrays["expected_b"]
        for key in arrays:
            if key.startswith("mistake_") and key.endswith("_b"):
                got = arrays[key]
                assert not np.allclose(got, want_b, rtol=1e-7, atol=1e-12, equal_nan=False), (rule, key)


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.sgd, stub, "not implemented yet"),
    (visible.sgd, sgd_ascent, "uphill"),
    (visible.sgd, sgd_in_place, "changed its input `w` in place"),
    (visible.sgd, sgd_overwrites_lr, "default hyperparameters"),
    (visible.sgd_momentum, momentum_uphill, "uphill"),
    (visible.sgd_momentum, momentum_reset, "does not carry over"),
    (visible.sgd_momentum, momentum_old_velocity, "previous step"),
    (visible.sgd_momentum, momentum_negated_velocity, "opposite sign"),
    (visible.rmsprop, rmsprop_eps_inside, "inside the square root"),
    (visible.rmsprop, rmsprop_no_one_minus, r"\(1 - decay_rate\)"),
    (visible.rmsprop, rmsprop_reset, "does not carry over"),
    (visible.adam, adam_no_bias_correction, "bias correction"),
    (visible.adam, adam_t_late, "increment t after using it"),
    (visible.adam, adam_eps_inside, "inside the square root"),
    (visible.adam, adam_reset, "does not carry over"),
    (visible.adam, stub, "not implemented yet"),
]

VISIBLE_CORRECT = [
    (visible.sgd, sgd), (visible.sgd, sgd_loop), (visible.sgd_momentum, sgd_momentum),
    (visible.sgd_momentum, momentum_in_place_state), (visible.rmsprop, rmsprop), (visible.rmsprop, rmsprop_loop),
    (visible.adam, adam), (visible.adam, adam_rescaled), (visible.adam, adam_float32_in_place_state),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
