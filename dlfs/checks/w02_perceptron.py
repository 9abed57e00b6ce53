"""Week 2, the perceptron: the visible check of class Perceptron, and the probes of its hidden cases (they
construct the class, fit it and record what it holds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes
from dlfs.grading import Raised, probe, record

__all__ = ["Perceptron"]

FIT_HINT = ("start from w = zeros(D), b = 0.0; visit the rows in order (no shuffling); when y_i * (w . x_i + b) <= 0 "
            "add lr * y_i * x_i to w and lr * y_i to b.")
PREDICT_HINT = "predict +1 where w . x + b >= 0 and -1 elsewhere, as integers."


def _attribute(model: Any, name: str, cls_name: str) -> Any:
    if not hasattr(model, name):
        raise CheckFailed(f"{cls_name}: after fit there is no attribute self.{name}; fit must set self.w, self.b and "
                          "self.errors_.")
    return getattr(model, name)


def Perceptron(cls: type) -> None:  # noqa: N802 (named after the class it checks)
    """Fit a stored 6-point problem (lr 0.5) and compare w, b, errors_ exactly; then predict with w, b set by
    hand, one point lying on the line."""
    a = fixture("w02_perceptron")
    name = getattr(cls, "__name__", "Perceptron")
    model = call(cls, lr=float(a["lr"]), max_epochs=int(a["max_epochs"]))
    X, y = a["X"].copy(), a["y"].copy()
    fitted = call(model.fit, X, y)
    if not (np.array_equal(X, a["X"]) and np.array_equal(y, a["y"])):
        raise CheckFailed(f"{name}.fit changed its input X or y in place; work on a copy.")
    if fitted is not model:
        raise CheckFailed(f"{name}.fit must end with `return self` (so that Perceptron().fit(X, y).predict(X) works).")
    check_array(f"{name}: w", _attribute(model, "w", name), a["expected_w"], rtol=1e-9, atol=1e-12, hint=FIT_HINT,
                mistakes=stored_mistakes(a, "_w"))
    b = np.asarray(_attribute(model, "b", name))
    b = b.astype(np.float64) if b.size == 1 and b.dtype.kind in "iu" else b
    check_array(f"{name}: b", b, a["expected_b"], rtol=1e-9, atol=1e-12, hint=FIT_HINT,
                mistakes=stored_mistakes(a, "_b"))
    check_array(f"{name}: errors_", np.asarray(_attribute(model, "errors_", name)), a["expected_errors"], rtol=0,
                atol=0.5, mistakes=stored_mistakes(a, "_errors"),
                hint="errors_[k] is the number of updates in epoch k; stop after an epoch without one.")
    model.w, model.b = a["predict_w"].copy(), float(a["predict_b"])
    got = call(model.predict, a["points"].copy())
    check_array(f"{name}.predict", got, a["expected_predict"], rtol=0, atol=0, hint=PREDICT_HINT,
                mistakes=stored_mistakes(a, "_predict"))
    passed(f"{name}: w = {np.round(a['expected_w'], 3).tolist()}, b = {float(a['expected_b'])} after "
           f"{len(a['expected_errors'])} epochs; predict gives +1 on the line")


# ---- probes of the hidden cases ----------------------------------------------------------------------


def _fit_run(cls: type, run: dict) -> dict:
    """Construct, fit, and record w, b, errors_ (each value, or what was raised reading it) and predictions."""
    out: dict[str, Any] = {"init": None, "fit": None, "returns_self": False, "changed": [],
                           "w": None, "b": None, "errors_": None, "predict": None}
    model = record(cls, lr=run["lr"], max_epochs=run["max_epochs"])
    if isinstance(model, Raised):
        return out | {"init": model}
    X, y = run["X"].copy(), run["y"].copy()
    fitted = record(model.fit, X, y)
    out["changed"] = [name for name, before, after in (("X", run["X"], X), ("y", run["y"], y))
                      if not np.array_equal(before, after)]
    if isinstance(fitted, Raised):
        return out | {"fit": fitted}
    out["returns_self"] = fitted is model
    for name in ("w", "b", "errors_"):
        out[name] = record(getattr, model, name)
    if run["points"] is not None:
        out["predict"] = record(model.predict, run["points"].copy())
    return out


def _fit_probe(cls: type, *args: Any, inputs: dict) -> dict:
    return {"runs": [_fit_run(cls, run) for run in inputs["runs"]]}


for _case in ("w02_perceptron_fit", "w02_perceptron_converges", "w02_perceptron_xor"):
    probe(_case)(_fit_probe)


@probe("w02_perceptron_predict")
def _predict_probe(cls: type, *args: Any, inputs: dict) -> dict:
    """For each setting: a fresh instance with w and b set by hand, then predict(X)."""
    results, changed = [], []
    for setting in inputs["settings"]:
        X = setting["X"].copy()
        model = record(cls)
        if isinstance(model, Raised):
            results.append(model)
        else:
            model.w, model.b = setting["w"].copy(), float(setting["b"])
            results.append(record(model.predict, X))
        changed.append(not np.array_equal(X, setting["X"]))
    return {"results": results, "changed": changed}
