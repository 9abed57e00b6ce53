"""Week 2, the perceptron (class Perceptron): reference, known mistakes, hidden cases, fixtures.

The rule, with labels t in {-1, +1}: start from w = 0 (D,), b = 0; visit the rows in order, and whenever

    t_i (w . x_i + b) <= 0          (a score of exactly 0 is a mistake)

update w <- w + lr t_i x_i, b <- b + lr t_i. An epoch is one pass; ``errors_`` holds the mistakes of each
epoch; training stops after an epoch without a mistake or after ``max_epochs`` epochs. ``predict`` returns
+1 where w . x + b >= 0, else -1. Everything is deterministic, so the weights after ``fit`` are compared
exactly (integer-valued data and lr in {1, 0.5} make every score exact, ties included).
"""

from __future__ import annotations

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs import toy
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_perceptron import FIT_HINT, PREDICT_HINT
from dlfs.grading import Raised

TIES = "a score of exactly 0 is a mistake for both labels: update when y_i * (w . x_i + b) <= 0."
PERCEPTRON_MISTAKES = {
    "strict": ("your weights match the test y_i * (w . x_i + b) < 0: starting from w = 0 every score is 0, so "
               "nothing is ever updated. Use <= 0 (a score of exactly 0 counts as a mistake)."),
    "no_bias": "your b is never updated: on a mistake add lr * y_i to b as well as lr * y_i * x_i to w.",
    "predict_test": ("your weights match deciding mistakes with the prediction (ties predicted +1), so a positive "
                     f"example with score exactly 0 is not updated; {TIES}"),
    "zero_one_rule": ("your weights match deciding mistakes with 0/1 labels (score > 0 means class 1), so a negative "
                      f"example with score exactly 0 is not updated; {TIES}"),
    "ignores_lr": "your weights are the ones for lr = 1: multiply every update by the learning rate lr.",
}
ERRORS_MISTAKES = {
    "no_stop": ("your errors_ runs on to max_epochs with zeros: stop after the first epoch without a mistake "
                "(append that epoch's 0, then break)."),
    "cumulative": "your errors_ holds running totals: record the number of mistakes of each epoch on its own.",
}
PREDICT_MISTAKES = {
    "sign": "your predict gives 0 where w . x + b == 0 (np.sign does): predict +1 there (np.where(s >= 0, 1, -1)).",
    "ties_negative": "your predict gives -1 where w . x + b == 0: the rule is +1 where w . x + b >= 0.",
    "zero_one": "your predict returns labels 0/1: the perceptron's labels are -1 and +1.",
}


# ---- reference -------------------------------------------------------------------------------------


def _is_mistake(rule: str, t: float, s: float) -> bool:
    if rule == "strict":
        return t * s < 0
    if rule == "predict_test":
        return (1 if s >= 0 else -1) != t
    if rule == "zero_one_rule":
        return (1 if s > 0 else -1) != t
    return t * s <= 0


def fit(X: np.ndarray, y: np.ndarray, lr: float = 1.0, max_epochs: int = 100, *, rule: str = "margin",
        bias: bool = True, use_lr: bool = True) -> tuple[np.ndarray, float, list[int]]:
    """(w, b, errors_) of the perceptron rule above; the keywords make the known mistakes."""
    X = np.asarray(X, dtype=np.float64)
    step = lr if use_lr else 1.0
    w, b, errors = np.zeros(X.shape[1]), 0.0, []
    for _ in range(max_epochs):
        mistakes = 0
        for x_i, t in zip(X, y):
            if _is_mistake(rule, float(t), float(x_i @ w + b)):
                w = w + step * t * x_i
                b = b + step * t if bias else b
                mistakes += 1
        errors.append(mistakes)
        if mistakes == 0:
            break
    return w, float(b), errors


def as_scalar(value):
    """A bias stored as an int, a float or a one-element array, as np.float64 (anything else unchanged)."""
    array = np.asarray(value)
    return np.float64(array.reshape(())) if array.size == 1 and array.dtype.kind in "iuf" else value


def predict(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """+1 where X w + b >= 0, else -1 (int64)."""
    return np.where(np.asarray(X, dtype=np.float64) @ w + b >= 0, 1, -1).astype(np.int64)


def fit_mistakes(X, y, lr, max_epochs) -> dict[str, dict]:
    """What each known mistake gives for w, b (keyed by part) and errors_."""
    variants = {"strict": fit(X, y, lr, max_epochs, rule="strict"),
                "no_bias": fit(X, y, lr, max_epochs, bias=False),
                "predict_test": fit(X, y, lr, max_epochs, rule="predict_test"),
                "zero_one_rule": fit(X, y, lr, max_epochs, rule="zero_one_rule"),
                "ignores_lr": fit(X, y, lr, max_epochs, use_lr=False)}
    _, _, errors = fit(X, y, lr, max_epochs)
    return {
        "w": {name: v[0] for name, v in variants.items()},
        "b": {name: np.float64(v[1]) for name, v in variants.items() if name != "no_bias"},
        "errors": {"no_stop": np.array(errors + [0] * (max_epochs - len(errors))),
                   "cumulative": np.cumsum(errors)},
    }


def predict_mistakes(w, b, X) -> dict[str, np.ndarray]:
    s = np.asarray(X, dtype=np.float64) @ w + b
    return {"sign": np.sign(s), "ties_negative": np.where(s > 0, 1, -1), "zero_one": (s >= 0).astype(np.int64)}


# ---- data ------------------------------------------------------------------------------------------


def separable(rng: np.random.Generator, n: int, d: int, margin: float = 0.5, integers: bool = False):
    """n points in d dimensions on both sides of a random hyperplane, at least ``margin`` away from it."""
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    X = np.empty((0, d))
    while len(X) < n:
        cand = np.round(rng.uniform(-4, 4, size=(4 * n, d))) if integers else rng.normal(size=(4 * n, d)) * 2
        X = np.vstack([X, cand[np.abs(cand @ u + 0.3) >= margin]])
    X = X[:n]
    return X, np.where(X @ u + 0.3 > 0, 1, -1).astype(np.int64)


def xor_pm(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``dlfs.toy.xor`` (noise 0.25) with the labels mapped to -1 (same signs) and +1 (different signs)."""
    X, y = toy.xor(n, noise=0.25, seed=seed)
    return X, 2 * y - 1


# ---- hidden cases ----------------------------------------------------------------------------------


def _run(answers: Answers, i: int, label: str) -> dict:
    """Run ``i``'s record, failing on a crash, a missing attribute, or a changed input."""
    run = answers["runs"][i]
    answers.value(run["init"], f"construction with lr and max_epochs ({label})")
    answers.value(run["fit"], f"fit ({label})")
    if run["changed"]:
        raise CheckFailed(f"{answers.name}.fit ({label}) changed its input `{run['changed'][0]}` in place; work on a copy.")
    for name in ("w", "b", "errors_"):
        value = run[name]
        if isinstance(value, Raised) and value.type == "AttributeError":
            raise CheckFailed(f"{answers.name}: after fit there is no attribute self.{name}; fit must set self.w, "
                              "self.b and self.errors_.")
        answers.value(value, f"self.{name} ({label})")
    return run


def _check_fit(answers: Answers, run: dict, X, y, lr, max_epochs, label: str) -> None:
    name = f"{answers.name} ({label})"
    w, b, errors = fit(X, y, lr, max_epochs)
    wrong = fit_mistakes(X, y, lr, max_epochs)
    check_array(f"{name}: w", run["w"], w, rtol=1e-9, atol=1e-12, hint=FIT_HINT,
                mistakes=mistakes_on(wrong["w"], PERCEPTRON_MISTAKES))
    check_array(f"{name}: b", as_scalar(run["b"]), np.float64(b), rtol=1e-9, atol=1e-12, hint=FIT_HINT,
                mistakes=mistakes_on(wrong["b"], PERCEPTRON_MISTAKES))
    check_array(f"{name}: errors_", np.asarray(run["errors_"]), np.array(errors), atol=0.5, rtol=0,
                mistakes=mistakes_on(wrong["errors"], ERRORS_MISTAKES),
                hint="errors_[k] is the number of updates in epoch k; stop after an epoch without one.")


def _inputs(problems: list[tuple], points: list) -> dict:
    return {"runs": [{"X": X, "y": y, "lr": lr, "max_epochs": m, "points": p}
                     for (X, y, lr, m, _), p in zip(problems, points)]}


@case("w02_perceptron_fit")
def perceptron_fit(rng: np.random.Generator):
    """Exact w, b and errors_ after fit: a hand-made set with exact ties (lr 0.5), a single point, 30 integer
    points in 3-D (lr 0.5) and 40 float points in 5-D; fit returns self and leaves X, y alone."""
    tiny = (np.array([[-1.0, -1.0], [1.0, -1.0], [2.0, -1.0], [0.0, 1.0], [2.0, 1.0], [1.0, 1.0]]),
            np.array([1, -1, -1, 1, -1, 1]), 0.5, 20, "a hand-made set of 6 points with ties, lr=0.5")
    single = (np.array([[2.0, 1.0]]), np.array([-1]), 1.0, 10, "a single point")
    ints = (*separable(rng, 30, 3, margin=0.6, integers=True), 0.5, 100, "30 integer points in 3-D, lr=0.5")
    floats = (*separable(rng, 40, 5, margin=0.3), 0.1, 200, "40 points in 5-D, lr=0.1")
    problems = [tiny, single, ints, floats]

    def judge(answers: Answers, context: Context) -> str:
        for i, (X, y, lr, max_epochs, label) in enumerate(problems):
            run = _run(answers, i, label)
            if not run["returns_self"]:
                raise CheckFailed(f"{context.name}.fit must end with `return self` (so that "
                                  "Perceptron().fit(X, y).predict(X) works).")
            _check_fit(answers, run, X, y, lr, max_epochs, label)
        return "w, b and errors_ match the perceptron rule exactly on 4 data sets"

    return _inputs(problems, [None] * len(problems)), judge


@case("w02_perceptron_converges")
def perceptron_converges(rng: np.random.Generator):
    """On 200 separable points in 4-D (margin 0.2) fit ends with an epoch without mistakes, and both the
    returned w, b (predicted here) and the student's predict classify every training point correctly."""
    X, y = separable(rng, 200, 4, margin=0.2)
    problems = [(X, y, 1.0, 1000, "200 separable points in 4-D")]

    def judge(answers: Answers, context: Context) -> str:
        run = _run(answers, 0, problems[0][4])
        w = np.asarray(run["w"], dtype=np.float64)
        if w.shape != (4,):
            raise CheckFailed(f"{context.name}: self.w must have shape (D,) = (4,); got {w.shape}.")
        if not np.any(w):
            raise CheckFailed(f"{context.name}: self.w is still all zeros after fit: {PERCEPTRON_MISTAKES['strict']}")
        b = as_scalar(run["b"])
        if not isinstance(b, np.float64):
            raise CheckFailed(f"{context.name}: self.b must be one number; got {np.shape(run['b'])}.")
        wrong = int(np.sum(predict(w, b, X) != y))
        if wrong:
            raise CheckFailed(f"{context.name}: after fit on separable data, your w and b misclassify {wrong} of "
                              f"{len(y)} training points: {FIT_HINT}")
        errors = np.asarray(run["errors_"]).reshape(-1)
        if errors.size == 0 or errors[-1] != 0:
            raise CheckFailed(f"{context.name}: on separable data the last entry of errors_ must be 0 (training stops "
                              f"after an epoch without mistakes); got {errors.tolist()[-5:]} at the end.")
        got = answers.value(run["predict"], "predict on the training points")
        check_array(f"{context.name}.predict on the training points", got, y, rtol=0, atol=0, hint=PREDICT_HINT,
                    mistakes=mistakes_on(predict_mistakes(w, b, X), PREDICT_MISTAKES))
        return f"converged in {errors.size} epochs; every training point right"

    return _inputs(problems, [X]), judge


@case("w02_perceptron_predict")
def perceptron_predict(rng: np.random.Generator):
    """predict with w and b set by hand: +1 where w . x + b >= 0 (points exactly on the line included), -1
    elsewhere, for 2-D and 3-D weights and a single point."""
    w2, b2 = np.array([1.0, -2.0]), 0.5
    on_line = np.array([[1.5, 1.0], [-0.5, 0.0], [3.5, 2.0]])
    X2 = np.vstack([on_line, np.round(rng.uniform(-3, 3, size=(9, 2)) * 4) / 4])
    w3, b3 = np.round(rng.normal(size=3) * 4) / 4, -1.0
    X3 = np.round(rng.uniform(-3, 3, size=(20, 3)) * 2) / 2
    settings = [(w2, b2, X2, "2-D weights with 3 points on the line"), (w3, b3, X3, "3-D weights"),
                (w2, b2, on_line[:1], "a single point on the line")]

    def judge(answers: Answers, context: Context) -> str:
        for i, (w, b, X, label) in enumerate(settings):
            got = answers.value(answers["results"][i], label)
            if answers["changed"][i]:
                raise CheckFailed(f"{context.name}.predict ({label}) changed its input X in place.")
            check_array(f"{context.name}.predict ({label})", got, predict(w, b, X), rtol=0, atol=0, hint=PREDICT_HINT,
                        mistakes=mistakes_on(predict_mistakes(w, b, X), PREDICT_MISTAKES))
        return "+1 on and above the line, -1 below, for every point"

    return {"settings": [{"w": w, "b": b, "X": X} for w, b, X, _ in settings]}, judge


@case("w02_perceptron_xor")
def perceptron_xor(rng: np.random.Generator):
    """On 40 XOR points (dlfs.toy.xor) no epoch is free of mistakes: fit runs all max_epochs (15) epochs,
    errors_ has 15 entries, and w, b, errors_ are the rule's after 15 epochs."""
    X, y = xor_pm(40, seed=int(rng.integers(1000)))
    problems = [(X, y, 1.0, 15, "40 XOR points, max_epochs=15")]

    def judge(answers: Answers, context: Context) -> str:
        run = _run(answers, 0, problems[0][4])
        errors = np.asarray(run["errors_"]).reshape(-1)
        if errors.size < 15:
            raise CheckFailed(f"{context.name}: on XOR fit stopped after {errors.size} epochs although no line is free "
                              "of mistakes: stop only after an epoch with 0 mistakes, or after max_epochs.")
        if errors.size > 15:
            raise CheckFailed(f"{context.name}: fit ran {errors.size} epochs with max_epochs=15: stop after max_epochs.")
        _check_fit(answers, run, *problems[0])
        return "no line separates XOR: mistakes in every one of the 15 epochs, as the rule predicts"

    return _inputs(problems, [None]), judge


# ---- fixtures of the visible checks ----------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    X = np.array([[-1.0, 1.0], [2.0, 1.0], [-2.0, -2.0], [2.0, -1.0], [0.0, 2.0], [1.0, 2.0]])
    y = np.array([1, -1, 1, 1, -1, -1])
    lr, max_epochs = 0.5, 20
    w, b, errors = fit(X, y, lr, max_epochs)
    wrong = fit_mistakes(X, y, lr, max_epochs)
    points = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, -2.0], [2.0, 2.0], [-3.0, 1.0]])
    pw, pb = np.array([1.0, 1.0]), 0.0  # the first point lies on the line
    return {"w02_perceptron": {
        "X": X, "y": y, "lr": np.array(lr), "max_epochs": np.array(max_epochs), "expected_w": w,
        "expected_b": np.array(b), "expected_errors": np.array(errors),
        "predict_w": pw, "predict_b": np.array(pb), "points": points, "expected_predict": predict(pw, pb, points),
    } | stored(wrong["w"], PERCEPTRON_MISTAKES, suffix="_w") | stored(wrong["b"], PERCEPTRON_MISTAKES, suffix="_b")
      | stored(wrong["errors"], ERRORS_MISTAKES, suffix="_errors")
      | stored(predict_mistakes(pw, pb, points), PREDICT_MISTAKES, suffix="_predict")}
