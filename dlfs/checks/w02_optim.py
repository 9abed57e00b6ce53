"""Week 2, the update rules (sgd, sgd_momentum, rmsprop, adam): the visible checks and the probe of the
hidden cases, which runs several steps of a rule, feeding the returned config back each time.

Every rule has the API ``update(w, dw, config=None) -> (next_w, config)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes
from dlfs.grading import Raised, probe, record

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]

#: The state each rule keeps in its config (arrays, and Adam's step count t).
STATE = {"sgd": (), "sgd_momentum": ("velocity",), "rmsprop": ("cache",), "adam": ("m", "v", "t")}
HINTS = {
    "sgd": "next_w = w - learning_rate * dw.",
    "sgd_momentum": "v = momentum * v - learning_rate * dw, then next_w = w + v; keep v in config['velocity'].",
    "rmsprop": "cache = decay_rate * cache + (1 - decay_rate) * dw**2, then "
               "next_w = w - learning_rate * dw / (np.sqrt(cache) + epsilon).",
    "adam": "t += 1 first; m and v are moving averages of dw and dw**2; divide them by (1 - beta1**t) and "
            "(1 - beta2**t); next_w = w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon).",
}
IN_PLACE = ("changed its input `w` in place (w -= ... or w[...] = ...): compute a new array, "
            "next_w = w - ..., and return it; the caller may still need the old w.")
VELOCITY_SIGN = ("your velocity has the opposite sign: config['velocity'] holds v with v = momentum * v - "
                 "learning_rate * dw and next_w = w + v (a caller may hand in a velocity, which is read with that sign).")
NOT_FINITE_ADAM = ("your first step from t = 0 is not finite: if you increment t after using it, 1 - beta1**0 = 0 "
                   "divides by zero; do t += 1 before the bias correction.")


def run_steps(step: Callable[..., Any], fn: Callable, w: np.ndarray, dws: list, config: dict | None) -> dict:
    """``len(dws)`` steps of the rule ``fn`` from ``w`` and ``config``, each on copies of w and dw, with the
    returned next_w and config fed back. ``step`` calls the rule (``record`` in the probe, ``call`` in a
    visible check). Returns the next_w of every step, which inputs each step changed, the final config and
    the first malformed or raised result (``problem``), if any."""
    next_ws, changed, problem = [], [], None
    w = np.array(w)
    for dw in dws:
        w_in, dw_in = w.copy(), np.array(dw)
        result = step(fn, w_in, dw_in, config)
        changed.append([name for name, before, after in (("w", w, w_in), ("dw", dw, dw_in))
                        if not np.array_equal(before, after, equal_nan=True)])
        if isinstance(result, Raised) or not (isinstance(result, tuple) and len(result) == 2):
            problem = result
            break
        next_w, config = result
        next_ws.append(next_w)
        if not isinstance(next_w, np.ndarray):
            break
        w = next_w.copy()
    return {"next_w": next_ws, "changed": changed, "config": config, "problem": problem}


def _probe(fn: Callable, *, inputs: dict) -> dict:
    """Every run of the case: ``{"runs": [run_steps(...) per run]}``; no verdict here."""
    return {"runs": [run_steps(record, fn, run["w"], list(run["dws"]), run["config"]) for run in inputs["runs"]]}


for _rule in STATE:
    for _kind in ("default", "config"):
        probe(f"w02_{_rule}_{_kind}")(_probe)


# ---- the visible checks --------------------------------------------------------------------------------


def _config_from(arrays: dict[str, np.ndarray], prefix: str) -> dict | None:
    """The config stored under ``<prefix><key>`` (0-d arrays back to numbers); None when there is none."""
    keys = [k for k in arrays if k.startswith(prefix)]
    if not keys:
        return None
    return {k.removeprefix(prefix): (arrays[k].item() if arrays[k].ndim == 0 else arrays[k]) for k in keys}


def _check_rule(rule: str, fn: Callable) -> None:
    a = fixture(f"w02_{rule}")
    name = fn.__name__
    for run, label in (("a", "the default config (None)"), ("b", "a given config")):
        done = run_steps(call, fn, a[f"w_{run}"], list(a[f"dws_{run}"]), _config_from(a, f"config_{run}_"))
        if done["problem"] is not None:
            raise CheckFailed(f"{name} must return a tuple (next_w, config); got {type(done['problem']).__name__}.")
        for step, changed in enumerate(done["changed"], 1):
            if "w" in changed:
                raise CheckFailed(f"{name}: {IN_PLACE}")
            if "dw" in changed:
                raise CheckFailed(f"{name} changed its input `dw` in place at step {step}; leave dw alone.")
        got = np.stack([np.asarray(w, dtype=float) for w in done["next_w"]])
        if rule == "adam" and run == "a" and not np.all(np.isfinite(got[0])):
            raise CheckFailed(f"{name}: {NOT_FINITE_ADAM}")
        check_array(f"{name} from {label}: next_w of {len(got)} steps", got, a[f"expected_{run}"], rtol=1e-7,
                    atol=1e-12, mistakes=stored_mistakes(a, f"_{run}"), hint=HINTS[rule])
        config = done["config"]
        if not isinstance(config, dict):
            raise CheckFailed(f"{name} must return its config dict as the second value; got {type(config).__name__}.")
        for key in STATE[rule]:
            if key not in config:
                raise CheckFailed(f"{name}: the returned config has no {key!r}; keep the state under that name.")
            want = a[f"state_{run}_{key}"]
            if key == "velocity" and np.shape(config[key]) == want.shape and np.allclose(
                    np.asarray(config[key], dtype=float), -want, rtol=1e-7, atol=1e-12):
                raise CheckFailed(f"{name}: {VELOCITY_SIGN}")
            check_array(f"{name} from {label}: config[{key!r}] after {len(got)} steps", config[key], want,
                        rtol=1e-7, atol=1e-12, hint=HINTS[rule])
    passed(f"{name}: {len(got)} steps from the default config and from a given one match, state included")


def sgd(fn: Callable) -> None:
    """Check vanilla SGD over stored steps, from the default config and from a given learning rate."""
    _check_rule("sgd", fn)


def sgd_momentum(fn: Callable) -> None:
    """Check SGD with momentum over stored steps: next_w and the velocity kept in the config."""
    _check_rule("sgd_momentum", fn)


def rmsprop(fn: Callable) -> None:
    """Check RMSProp over stored steps (gradients from 1 down to 1e-6, one exactly 0): next_w and cache."""
    _check_rule("rmsprop", fn)


def adam(fn: Callable) -> None:
    """Check Adam over stored steps, from t = 0 and from a given state with t = 3: next_w, m, v and t."""
    _check_rule("adam", fn)
