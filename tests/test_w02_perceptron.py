"""Week 2 perceptron: the reference against a hand-worked trace, the hidden cases against correct and wrong
classes, and the visible check."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w02_perceptron as ref
from autograder.protocol import run_case
from dlfs.checks import week02 as visible

pytestmark = [pytest.mark.week02, pytest.mark.w02_perceptron, pytest.mark.autograder]


# ---- correct classes ---------------------------------------------------------------------------------


class Perceptron:
    """The notebook's solution (a copy)."""

    def __init__(self, lr=1.0, max_epochs=100):
        self.lr = lr
        self.max_epochs = max_epochs

    def fit(self, X, y):
        self.w = np.zeros(X.shape[1])
        self.b = 0.0
        self.errors_ = []
        for epoch in range(self.max_epochs):
            mistakes = 0
            for x_i, t in zip(X, y):
                if t * (x_i @ self.w + self.b) <= 0:
                    self.w = self.w + self.lr * t * x_i
                    self.b = self.b + self.lr * t
                    mistakes += 1
            self.errors_.append(mistakes)
            if mistakes == 0:
                break
        return self

    def predict(self, X):
        return np.where(X @ self.w + self.b >= 0, 1, -1)


class PerceptronLoops:
    """Scalar loops over the features, in-place updates, a while loop over epochs, errors_ as an array."""

    def __init__(self, lr=1.0, max_epochs=100):
        self.lr, self.max_epochs = lr, max_epochs

    def fit(self, X, y):
        n, d = X.shape
        self.w, self.b, errors = np.zeros(d), 0.0, []
        epoch = 0
        while epoch < self.max_epochs:
            count = 0
            for i in range(n):
                score = self.b
                for j in range(d):
                    score += self.w[j] * X[i, j]
                if y[i] * score <= 0:
                    for j in range(d):
                        self.w[j] += self.lr * y[i] * X[i, j]
                    self.b += self.lr * y[i]
                    count += 1
            errors.append(count)
            epoch += 1
            if count == 0:
                break
        self.errors_ = np.array(errors)
        return self

    def predict(self, X):
        return np.array([1 if x @ self.w + self.b >= 0 else -1 for x in X])


class PerceptronAugmented:
    """The lecture's form: w~ = (w, b) on x~ = (x, 1); predict returns floats +-1.0."""

    def __init__(self, lr=1.0, max_epochs=100):
        self.lr, self.max_epochs = lr, max_epochs

    def fit(self, X, y):
        Xa = np.hstack([X, np.ones((len(X), 1))])
        wa = np.zeros(Xa.shape[1])
        self.errors_ = []
        for _ in range(self.max_epochs):
            mistakes = 0
            for xa, t in zip(Xa, y):
                if t * (wa @ xa) <= 0:
                    wa += self.lr * t * xa
                    mistakes += 1
            self.errors_.append(mistakes)
            if not mistakes:
                break
        self.w, self.b = wa[:-1].copy(), float(wa[-1])
        return self

    def predict(self, X):
        return np.where(X @ self.w + self.b < 0, -1.0, 1.0)


# ---- wrong classes -------------------------------------------------------------------------------------


def variant(name, *, rule="<=", bias=True, use_lr=True, stop=True, cumulative=False, shuffle=False,
            predict_rule=">=", returns_self=True, in_place=False, stop_on_stall=False):
    """A perceptron class with one known mistake switched on."""

    class Variant(Perceptron):
        def fit(self, X, y):
            self.w, self.b, self.errors_ = np.zeros(X.shape[1]), 0.0, []
            total, order, previous = 0, np.arange(len(X)), None
            if in_place:
                X *= 1.0 + 0 * X  # harmless value, but writes into X ...
                X[0] = X[0][::-1]  # ... and this changes it
            for _ in range(self.max_epochs):
                if shuffle:
                    order = np.random.default_rng(0).permutation(len(X))
                mistakes = 0
                for i in order:
                    s, t = X[i] @ self.w + self.b, y[i]
                    wrong = {"<=": t * s <= 0, "<": t * s < 0, "predict": (1 if s >= 0 else -1) != t,
                             "01": (1 if s > 0 else -1) != t}[rule]
                    if wrong:
                        step = self.lr if use_lr else 1.0
                        self.w = self.w + step * t * X[i]
                        self.b += step * t if bias else 0.0
                        mistakes += 1
                total += mistakes
                self.errors_.append(total if cumulative else mistakes)
                if stop_on_stall and previous is not None and mistakes >= previous:
                    break
                previous = mistakes
                if mistakes == 0 and stop:
                    break
            return self if returns_self else None

        def predict(self, X):
            s = X @ self.w + self.b
            return {">=": np.where(s >= 0, 1, -1), "sign": np.sign(s), ">": np.where(s > 0, 1, -1),
                    "01": (s >= 0).astype(int)}[predict_rule]

    Variant.__name__ = Variant.__qualname__ = name
    return Variant


Strict = variant("Strict", rule="<")
NoBias = variant("NoBias", bias=False)
PredictTest = variant("PredictTest", rule="predict")
ZeroOneRule = variant("ZeroOneRule", rule="01")
IgnoresLr = variant("IgnoresLr", use_lr=False)
NoStop = variant("NoStop", stop=False)
Cumulative = variant("Cumulative", cumulative=True)
Shuffled = variant("Shuffled", shuffle=True)
SignPredict = variant("SignPredict", predict_rule="sign")
TiesNegative = variant("TiesNegative", predict_rule=">")
ZeroOnePredict = variant("ZeroOnePredict", predict_rule="01")
NoReturnSelf = variant("NoReturnSelf", returns_self=False)
InPlace = variant("InPlace", in_place=True)
StopsOnStall = variant("StopsOnStall", stop_on_stall=True)


class NoErrorsAttribute(Perceptron):
    def fit(self, X, y):
        super().fit(X, y)
        del self.errors_
        return self


class Stub:
    def __init__(self, lr=1.0, max_epochs=100):
        pass

    def fit(self, X, y):
        raise NotImplementedError()

    def predict(self, X):
        raise NotImplementedError()


CORRECT = {case: [Perceptron, PerceptronLoops, PerceptronAugmented]
           for case in ("w02_perceptron_fit", "w02_perceptron_converges", "w02_perceptron_predict", "w02_perceptron_xor")}

WRONG = [
    ("w02_perceptron_fit", Strict, "< 0: starting from w = 0"),
    ("w02_perceptron_fit", NoBias, "b is never updated"),
    ("w02_perceptron_fit", PredictTest, "deciding mistakes with the prediction"),
    ("w02_perceptron_fit", ZeroOneRule, "0/1 labels"),
    ("w02_perceptron_fit", IgnoresLr, "multiply every update by the learning rate"),
    ("w02_perceptron_fit", NoStop, "runs on to max_epochs with zeros"),
    ("w02_perceptron_fit", Cumulative, "running totals"),
    ("w02_perceptron_fit", Shuffled, "no shuffling"),
    ("w02_perceptron_fit", NoReturnSelf, "return self"),
    ("w02_perceptron_fit", InPlace, "changed its input `X`"),
    ("w02_perceptron_fit", NoErrorsAttribute, "no attribute self.errors_"),
    ("w02_perceptron_fit", Stub, "not implemented yet"),
    ("w02_perceptron_converges", Strict, "still all zeros"),
    ("w02_perceptron_converges", ZeroOnePredict, "labels 0/1"),
    ("w02_perceptron_converges", Stub, "not implemented yet"),
    ("w02_perceptron_predict", SignPredict, "np.sign"),
    ("w02_perceptron_predict", TiesNegative, "gives -1 where w . x \\+ b == 0"),
    ("w02_perceptron_predict", ZeroOnePredict, "labels 0/1"),
    ("w02_perceptron_predict", Stub, "not implemented yet"),
    ("w02_perceptron_xor", StopsOnStall, "stopped after \\d+ epochs although no line"),
    ("w02_perceptron_xor", Strict, "stopped after 1 epochs"),
    ("w02_perceptron_xor", NoBias, "b is never updated"),
    ("w02_perceptron_xor", Stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_perceptron", CORRECT, WRONG)


# ---- the reference ---------------------------------------------------------------------------------------


def test_reference_follows_a_hand_worked_trace():
    """Two points, lr 1: epoch 1 updates on both (scores 0 and -1+... worked out by hand), epoch 2 none."""
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1, -1])
    # epoch 1: x1 score 0 -> mistake, w=(1,0), b=1; x2 score 0+1=1, t=-1 -> mistake, w=(1,-1), b=0
    # epoch 2: x1 score 1 -> right; x2 score -1 -> right. Stop.
    w, b, errors = ref.fit(X, y, 1.0, 10)
    np.testing.assert_array_equal(w, [1.0, -1.0])
    assert b == 0.0 and errors == [2, 0]
    np.testing.assert_array_equal(ref.predict(w, b, np.array([[1.0, 1.0], [0.0, 1.0]])), [1, -1])


def test_reference_converges_on_separable_data_and_not_on_xor():
    rng = np.random.default_rng(0)
    for d in (2, 3, 6):
        X, y = ref.separable(rng, 100, d, margin=0.2)
        w, b, errors = ref.fit(X, y, 1.0, 1000)
        assert errors[-1] == 0 and np.all(ref.predict(w, b, X) == y)
    X, y = ref.xor_pm(40, seed=3)
    w, b, errors = ref.fit(X, y, 1.0, 30)
    assert len(errors) == 30 and min(errors) > 0 and np.mean(ref.predict(w, b, X) == y) < 1


def test_every_mistake_is_distinct_on_the_hand_made_sets():
    """On the hidden tiny set and on the fixture every named mistake gives its own w (else naming is ambiguous)."""
    a = ref.fixtures()["w02_perceptron"]
    tiny = (np.array([[-1.0, -1.0], [1.0, -1.0], [2.0, -1.0], [0.0, 1.0], [2.0, 1.0], [1.0, 1.0]]),
            np.array([1, -1, -1, 1, -1, 1]))
    for X, y in ((a["X"], a["y"]), tiny):
        right = ref.fit(X, y, 0.5, 20)
        outputs = [np.append(right[0], right[1])] + [np.append(*ref.fit(X, y, 0.5, 20, **kw)[:2]) for kw in
                                                     (dict(rule="strict"), dict(bias=False), dict(rule="predict_test"),
                                                      dict(rule="zero_one_rule"), dict(use_lr=False))]
        for i in range(len(outputs)):
            for j in range(i):
                assert not np.allclose(outputs[i], outputs[j]), (i, j)


# ---- visible check ------------------------------------------------------------------------------------

VISIBLE_CORRECT = [(visible.Perceptron, cls) for cls in (Perceptron, PerceptronLoops, PerceptronAugmented)]

VISIBLE_WRONG = [
    (visible.Perceptron, cls, message) for cls, message in [
        (Strict, "< 0"), (NoBias, "b is never updated"), (PredictTest, "with the prediction"),
        (ZeroOneRule, "0/1 labels"), (IgnoresLr, "learning rate"), (NoStop, "runs on to max_epochs"),
        (Cumulative, "running totals"), (SignPredict, "np.sign"), (TiesNegative, "gives -1 where"),
        (ZeroOnePredict, "labels 0/1"), (NoReturnSelf, "return self"), (InPlace, "changed its input"),
        (NoErrorsAttribute, "no attribute self.errors_"), (Stub, "not implemented yet"),
    ]
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


def test_hidden_fit_case_passes_the_reference_wrapped_as_a_class():
    class FromReference(Perceptron):
        def fit(self, X, y):
            self.w, self.b, self.errors_ = ref.fit(X, y, self.lr, self.max_epochs)
            return self

    assert "exactly" in run_case("w02_perceptron_fit", FromReference)
