"""Week 2, the update rules sgd, sgd_momentum, rmsprop and adam: references, known mistakes, hidden cases,
fixtures.

Every rule is ``update(w, dw, config=None) -> (next_w, config)``: hyperparameters and state live in
``config`` (defaults filled with ``setdefault``), which the caller passes back at the next step. A case
runs K steps of the student's rule in the kernel (``dlfs.checks.w02_optim.run_steps``) and replays the
reference here on the same gradients; the whole trajectory (K, *w.shape) and the final state are compared.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_optim import HINTS, IN_PLACE, NOT_FINITE_ADAM, STATE, VELOCITY_SIGN

RESET = ("your state does not carry over from one step to the next: keep it in config (config['{key}'] = ...) "
         "and return that same config; fill it with config.setdefault(...) so that the state passed back in is kept.")
IGNORED = ("your steps match the default hyperparameters, not the ones in the given config: read them with "
           "config.setdefault('learning_rate', ...), which keeps a value that is already there.")

SGD_MISTAKES = {
    "ascent": "your step goes uphill: next_w = w - learning_rate * dw (minus: against the gradient).",
    "ignored_config": IGNORED,
}
SGD_MOMENTUM_MISTAKES = {
    "ascent": "your steps go uphill: with v = momentum * v - learning_rate * dw the update is next_w = w + v "
              "(or, with v = momentum * v + learning_rate * dw, next_w = w - v); one sign is flipped.",
    "old_velocity": "you move w with the velocity of the previous step: update v first, v = momentum * v - "
                    "learning_rate * dw, then next_w = w + v.",
    "dampened": "your velocity adds (1 - momentum) * learning_rate * dw: plain momentum adds learning_rate * dw "
                "(v = momentum * v - learning_rate * dw).",
    "velocity_sign": VELOCITY_SIGN,
    "reset": RESET.format(key="velocity"),
    "not_stored": RESET.format(key="velocity"),
    "ignored_config": IGNORED,
}
RMSPROP_MISTAKES = {
    "no_one_minus": "your cache adds dw**2, not (1 - decay_rate) * dw**2: cache = decay_rate * cache + "
                    "(1 - decay_rate) * dw**2.",
    "eps_inside": "your epsilon is inside the square root: divide by (np.sqrt(cache) + epsilon).",
    "no_sqrt": "you divide by the cache itself: divide by its square root, np.sqrt(cache) + epsilon.",
    "reset": RESET.format(key="cache"),
    "not_stored": RESET.format(key="cache"),
    "ignored_config": IGNORED,
}
ADAM_MISTAKES = {
    "no_bias_correction": "your steps match Adam without the bias correction: divide m by (1 - beta1**t) and v by "
                          "(1 - beta2**t) before the update.",
    "t_late": "your bias correction uses the step count before it is incremented: do t += 1 first, then use t in "
              "1 - beta1**t and 1 - beta2**t.",
    "eps_inside": "your epsilon is inside the square root: divide by (np.sqrt(v_hat) + epsilon).",
    "reset": RESET.format(key="m"),
    "not_stored": RESET.format(key="m"),
    "ignored_config": IGNORED,
}
MISTAKES = {"sgd": SGD_MISTAKES, "sgd_momentum": SGD_MOMENTUM_MISTAKES, "rmsprop": RMSPROP_MISTAKES, "adam": ADAM_MISTAKES}
DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}


# ---- references ------------------------------------------------------------------------------------


def _config(config: dict | None, rule: str) -> dict:
    config = {} if config is None else config
    for key, value in DEFAULTS[rule].items():
        config.setdefault(key, value)
    return config


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Vanilla SGD: next_w = w - lr dw (lr = config["learning_rate"], default 1e-2)."""
    config = _config(config, "sgd")
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """SGD with momentum: v = mu v - lr dw, next_w = w + v (mu = 0.9, lr = 1e-2, v starts at zeros)."""
    config = _config(config, "sgd_momentum")
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """RMSProp: s = rho s + (1 - rho) dw^2, next_w = w - lr dw / (sqrt(s) + eps)
    (rho = decay_rate 0.99, lr = 1e-2, eps = 1e-8, s = config["cache"] starts at zeros)."""
    config = _config(config, "rmsprop")
    rho = config["decay_rate"]
    cache = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Adam: t += 1; m = b1 m + (1 - b1) dw; v = b2 v + (1 - b2) dw^2; m_hat = m / (1 - b1^t);
    v_hat = v / (1 - b2^t); next_w = w - lr m_hat / (sqrt(v_hat) + eps)
    (lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8; m, v start at zeros, t at 0)."""
    config = _config(config, "adam")
    b1, b2 = config["beta1"], config["beta2"]
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw**2
    config.update(t=t, m=m, v=v)
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


REFERENCES: dict[str, Callable] = {"sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}


def trajectory(rule: Callable, w: np.ndarray, dws: list, config: dict | None = None, *,
               reset: bool = False) -> tuple[np.ndarray, dict]:
    """The next_w of every step (K, *w.shape) and the final config of ``rule`` run in float64 over ``dws``,
    feeding next_w and config back; ``reset``: every step starts again from the initial config."""
    start = copy.deepcopy(config)
    config, w = copy.deepcopy(config), np.asarray(w, dtype=np.float64)
    out = []
    for dw in dws:
        if reset:
            config = copy.deepcopy(start)
        w, config = rule(w, np.asarray(dw, dtype=np.float64), config)
        out.append(w)
    return np.stack(out), config


# ---- what the known mistakes output ------------------------------------------------------------------


def _sgd_ascent(w, dw, config=None):
    config = _config(config, "sgd")
    return w + config["learning_rate"] * dw, config


def _momentum(variant: str) -> Callable:
    def rule(w, dw, config=None):
        config = _config(config, "sgd_momentum")
        mu, lr = config["momentum"], config["learning_rate"]
        old = config.get("velocity", np.zeros_like(w))
        new = mu * old - (1 - mu if variant == "dampened" else 1) * lr * dw
        config["velocity"] = new
        if variant == "ascent":
            return w - new, config
        if variant == "velocity_sign":  # v = mu v + lr dw, next_w = w - v, reading a given velocity with that sign
            config["velocity"] = mu * old + lr * dw
            return w - config["velocity"], config
        return w + (old if variant == "old_velocity" else new), config
    return rule


def _rmsprop(variant: str) -> Callable:
    def rule(w, dw, config=None):
        config = _config(config, "rmsprop")
        rho, eps = config["decay_rate"], config["epsilon"]
        cache = rho * config.get("cache", np.zeros_like(w)) + (1 if variant == "no_one_minus" else 1 - rho) * dw**2
        config["cache"] = cache
        scale = {"eps_inside": np.sqrt(cache + eps), "no_sqrt": cache + eps}.get(variant, np.sqrt(cache) + eps)
        return w - config["learning_rate"] * dw / scale, config
    return rule


def _adam(variant: str) -> Callable:
    def rule(w, dw, config=None):
        config = _config(config, "adam")
        b1, b2, eps = config["beta1"], config["beta2"], config["epsilon"]
        t_before = config.get("t", 0)
        t = t_before + 1
        m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
        v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw**2
        config.update(t=t, m=m, v=v)
        used = t_before if variant == "t_late" else t
        with np.errstate(all="ignore"):
            m_hat, v_hat = (m, v) if variant == "no_bias_correction" else (m / (1 - b1**used), v / (1 - b2**used))
            scale = np.sqrt(v_hat + eps) if variant == "eps_inside" else np.sqrt(v_hat) + eps
            return w - config["learning_rate"] * m_hat / scale, config
    return rule


MISTAKE_RULES: dict[str, dict[str, Callable]] = {
    "sgd": {"ascent": _sgd_ascent},
    "sgd_momentum": {name: _momentum(name) for name in ("ascent", "old_velocity", "dampened", "velocity_sign")},
    "rmsprop": {name: _rmsprop(name) for name in ("no_one_minus", "eps_inside", "no_sqrt")},
    "adam": {name: _adam(name) for name in ("no_bias_correction", "t_late", "eps_inside")},
}


def _with_defaults(rule: str, config: dict | None) -> dict | None:
    """The config with its hyperparameters replaced by the defaults (its state kept)."""
    return None if config is None else {**config, **DEFAULTS[rule]}


def mistake_trajectories(rule: str, w: np.ndarray, dws: list, config: dict | None) -> dict[str, np.ndarray]:
    """The next_w trajectory (K, *w.shape) of each known mistake of ``rule`` on this run."""
    out = {name: trajectory(fn, w, dws, config)[0] for name, fn in MISTAKE_RULES[rule].items()}
    if rule != "sgd":
        hyper = None if config is None else {k: v for k, v in config.items() if k in DEFAULTS[rule]}
        out["reset"] = trajectory(REFERENCES[rule], w, dws, hyper, reset=True)[0]  # state from zeros every step
        if config is not None and any(key in config for key in STATE[rule]):
            out["not_stored"] = trajectory(REFERENCES[rule], w, dws, config, reset=True)[0]  # given state every step
    if config is not None and any(config.get(k, v) != v for k, v in DEFAULTS[rule].items()):
        out["ignored_config"] = trajectory(REFERENCES[rule], w, dws, _with_defaults(rule, config))[0]
    return out


# ---- hidden cases ------------------------------------------------------------------------------------


def _gradients(rng: np.random.Generator, shape: tuple, steps: int, dtype=np.float64) -> list[np.ndarray]:
    """``steps`` gradients whose entries span 1 down to 1e-6 (so epsilon's place matters), one exactly 0."""
    scales = 10.0 ** -rng.integers(0, 7, size=shape)
    dws = [(rng.normal(size=shape) * scales).astype(dtype) for _ in range(steps)]
    dws[0].flat[0] = 0.0
    return dws


def _run(rng: np.random.Generator, shape: tuple, steps: int, config: dict | None, dtype=np.float64) -> dict:
    label = f"w of shape {shape}{' (float32)' if dtype == np.float32 else ''}, " + (
        "config=None" if config is None else f"the config {{{', '.join(sorted(config))}}}")
    return {"w": rng.normal(size=shape).astype(dtype), "dws": _gradients(rng, shape, steps, dtype),
            "config": config, "label": label}


def given_config(rule: str, rng: np.random.Generator, shape: tuple) -> dict:
    """A config with non-default hyperparameters and a state as if some steps had been taken."""
    return {
        "sgd": lambda: {"learning_rate": 0.05},
        "sgd_momentum": lambda: {"learning_rate": 0.05, "momentum": 0.8, "velocity": 0.1 * rng.normal(size=shape)},
        "rmsprop": lambda: {"learning_rate": 0.02, "decay_rate": 0.9, "epsilon": 1e-6,
                            "cache": 1e-4 * rng.random(size=shape)},
        "adam": lambda: {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6,
                         "m": 0.01 * rng.normal(size=shape), "v": 1e-4 * rng.random(size=shape), "t": 5},
    }[rule]()


def judge_runs(rule: str, runs: list[dict], summary: str):
    """The judge of one case: for every run, no input changed, a (next_w, config) tuple at every step, the
    whole trajectory against the reference's replay (named mistakes first), then the final state."""

    def judge(answers: Answers, context: Context) -> str:
        recorded = answers["runs"]
        if not isinstance(recorded, list) or len(recorded) != len(runs):
            raise CheckFailed(f"{context.name}: the answers hold the wrong number of runs (was the hidden test changed?).")
        for run, got in zip(runs, recorded):
            name = f"{context.name} on {run['label']}"
            problem = got["problem"]
            if problem is not None:
                answers.value(problem, run["label"])
                raise CheckFailed(f"{name}: it must return a tuple (next_w, config); got {type(problem).__name__}.")
            for step, changed in enumerate(got["changed"], 1):
                if "w" in changed:
                    raise CheckFailed(name + ": " + IN_PLACE)
                if "dw" in changed:
                    raise CheckFailed(f"{name} changed its input `dw` in place at step {step}: leave dw alone.")
            steps = len(run["dws"])
            next_ws = [answers.value(w, run["label"]) for w in got["next_w"]]
            if len(next_ws) != steps or not all(isinstance(w, np.ndarray) and w.shape == run["w"].shape for w in next_ws):
                shapes = [np.shape(w) if isinstance(w, np.ndarray) else type(w).__name__ for w in next_ws]
                raise CheckFailed(f"{name}: next_w must be an array of w's shape {run['w'].shape} at each of the {steps} "
                                  f"steps; got {shapes}.")
            stack = np.stack(next_ws)
            if not np.issubdtype(stack.dtype, np.floating):
                raise CheckFailed(f"{name}: next_w has dtype {stack.dtype}; return floating-point arrays.")
            if rule == "adam" and run["config"] is None and not np.all(np.isfinite(stack[0])):
                raise CheckFailed(name + ": " + NOT_FINITE_ADAM)
            want, state = trajectory(REFERENCES[rule], run["w"], run["dws"], run["config"])
            single = run["w"].dtype == np.float32
            rtol, atol = (2e-5, 1e-6) if single else (1e-7, 1e-12)
            check_array(f"{name}: next_w of {steps} steps", stack, want, rtol=rtol, atol=atol, hint=HINTS[rule],
                        mistakes=mistakes_on(mistake_trajectories(rule, run["w"], run["dws"], run["config"]), MISTAKES[rule]))
            check_state(rule, name, got["config"], state, rtol, atol)
        return summary

    return {"runs": runs}, judge


def check_state(rule: str, name: str, config, state: dict, rtol: float, atol: float) -> None:
    """The final config holds the reference's state under the spec's names (a velocity of the opposite sign
    is named: the caller may hand in a velocity, which is read with the spec's sign)."""
    if not isinstance(config, dict):
        raise CheckFailed(f"{name}: the second value returned must be the config dict; got {type(config).__name__}.")
    for key in STATE[rule]:
        if key not in config:
            raise CheckFailed(f"{name}: the returned config has no {key!r}; keep the state under that name, the "
                              "caller passes the config back at the next step.")
        if key == "t":
            t = np.asarray(config["t"]) if isinstance(config["t"], int | float | np.ndarray) else None
            if t is None or t.size != 1 or t.dtype.kind not in "iuf" or t.item() != state["t"]:
                raise CheckFailed(f"{name}: config['t'] is {config['t']!r} after the steps; expected {state['t']} "
                                  "(one more per step).")
            continue
        got = config[key]
        if key == "velocity" and isinstance(got, np.ndarray) and got.shape == state[key].shape and np.allclose(
                got, -state[key], rtol=rtol, atol=atol) and np.any(state[key]):
            raise CheckFailed(name + ": " + VELOCITY_SIGN)
        check_array(f"{name}: config[{key!r}] after the steps", got, state[key], rtol=rtol, atol=atol, hint=HINTS[rule])


def _default_case(rule: str):
    def make(rng: np.random.Generator):
        """From config=None: 1-D, 2-D and one-row w, a single entry, and float32 w, 4 steps each."""
        runs = [_run(rng, shape, 4, None) for shape in ((6,), (3, 5), (1, 4), (1,))]
        runs.append(_run(rng, (4, 3), 4, None, np.float32))
        return judge_runs(rule, runs, "4 steps from config=None agree with the reference on 5 shapes, float32 included")
    make.__name__ = f"{rule}_default"
    return make


def _config_case(rule: str):
    def make(rng: np.random.Generator):
        """From a given config (other hyperparameters, state as after some steps), 5 steps; and from a config
        holding only a learning rate (the rest from the defaults)."""
        runs = [_run(rng, (3, 4), 5, given_config(rule, rng, (3, 4))),
                _run(rng, (5,), 3, {"learning_rate": 0.03 if rule != "adam" else 0.003})]
        return judge_runs(rule, runs, "5 steps from a given config and 3 from a learning rate alone agree, state included")
    make.__name__ = f"{rule}_config"
    return make


for _rule in REFERENCES:
    case(f"w02_{_rule}_default")(_default_case(_rule))
    case(f"w02_{_rule}_config")(_config_case(_rule))


# ---- fixtures of the visible checks --------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    """Per rule: run a (3 steps from None) and run b (3 steps from a given config), with the expected next_w
    trajectories, final states and the known mistakes' trajectories."""
    out = {}
    for number, rule in enumerate(REFERENCES):
        rng = np.random.default_rng(200 + number)
        arrays: dict[str, np.ndarray] = {}
        for run, config in (("a", None), ("b", given_config(rule, rng, (3, 4)))):
            if rule == "adam" and config is not None:
                config["t"] = 3
            w, dws = rng.normal(size=(3, 4)), _gradients(rng, (3, 4), 3)
            want, state = trajectory(REFERENCES[rule], w, dws, config)
            arrays |= {f"w_{run}": w, f"dws_{run}": np.stack(dws), f"expected_{run}": want}
            arrays |= {f"config_{run}_{k}": np.asarray(v) for k, v in (config or {}).items()}
            arrays |= {f"state_{run}_{k}": np.asarray(state[k]) for k in STATE[rule]}
            arrays |= stored(mistake_trajectories(rule, w, dws, config), MISTAKES[rule], f"_{run}")
        out[f"w02_{rule}"] = arrays
    return out
