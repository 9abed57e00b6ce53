"""Week 1 Kaggle part: the competition files, the submission checker, and the hidden tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hidden_suite import hidden_tests, name_of

from autograder.hidden import check
from autograder.reference import w01_softmax_regression as ref
from dlfs._gradcheck import numerical_gradient
from dlfs.checks import CheckFailed
from dlfs.checks import week01 as visible
from dlfs.data import load_mnist
from dlfs.kaggle import SubmissionError, answers, check_submission, digit_recognizer, score_submission

pytestmark = [pytest.mark.week01, pytest.mark.w01_kaggle, pytest.mark.autograder]


# ---- the competition files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return digit_recognizer(tmp_path_factory.mktemp("kaggle"))


def test_files_have_kaggles_format(competition):
    train, test = pd.read_csv(competition.train), pd.read_csv(competition.test)
    sample = pd.read_csv(competition.sample_submission)
    assert train.shape == (42_000, 785) and list(train.columns[:3]) == ["label", "pixel0", "pixel1"]
    assert test.shape == (10_000, 784) and test.columns[-1] == "pixel783"
    assert list(sample.columns) == ["ImageId", "Label"] and sample["ImageId"].tolist() == list(range(1, 10_001))
    mnist = load_mnist(normalize=None)
    np.testing.assert_array_equal(test.to_numpy(), mnist.X_test)
    assert set(train["label"]) == set(range(10))
    # every training row is an MNIST training image with its label
    first = train.iloc[0]
    matches = np.flatnonzero((mnist.X_train == first.iloc[1:].to_numpy()).all(axis=1))
    assert len(matches) >= 1 and mnist.y_train[matches[0]] == first["label"]


def test_files_are_reused_and_not_rewritten(competition):
    before = competition.train.stat().st_mtime_ns
    assert digit_recognizer(competition.folder).train.stat().st_mtime_ns == before
    assert not list(competition.folder.glob("*.part"))


def _write(path, frame, **kwargs):
    frame.to_csv(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: pd.DataFrame({"ImageId": range(1, 6), "Label": [1] * 5}), None),
        (lambda: pd.DataFrame({"Id": range(1, 6), "Label": [1] * 5}), "header must be exactly ImageId,Label"),
        (lambda: pd.DataFrame({"ImageId": range(1, 5), "Label": [1] * 4}), "expected 5 rows"),
        (lambda: pd.DataFrame({"ImageId": range(0, 5), "Label": [1] * 5}), "ImageId must run 1, 2"),
        (lambda: pd.DataFrame({"ImageId": range(1, 6), "Label": [1.0, 2, 3, 4, 5.5]}), "must hold integers"),
        (lambda: pd.DataFrame({"ImageId": range(1, 6), "Label": [1, 2, 3, 4, 10]}), "digits 0..9"),
    ],
)
def test_check_submission_says_what_is_wrong(tmp_path, make, message):
    path = _write(tmp_path / "s.csv", make(), index=False)
    if message is None:
        assert len(check_submission(path, n_rows=5)) == 5
    else:
        with pytest.raises(SubmissionError, match=message):
            check_submission(path, n_rows=5)


def test_check_submission_spots_a_written_index_and_a_missing_file(tmp_path):
    path = _write(tmp_path / "s.csv", pd.DataFrame({"ImageId": range(1, 6), "Label": [1] * 5}))
    with pytest.raises(SubmissionError, match="index=False"):
        check_submission(path, n_rows=5)
    with pytest.raises(SubmissionError, match="does not exist"):
        check_submission(tmp_path / "nope.csv")


def test_score_submission_is_the_accuracy(tmp_path):
    labels = answers().copy()
    labels[:1000] = (labels[:1000] + 1) % 10
    path = _write(tmp_path / "s.csv", pd.DataFrame({"ImageId": range(1, 10_001), "Label": labels}), index=False)
    assert score_submission(path) == pytest.approx(0.9)


# ---- correct and wrong implementations ----------------------------------------------------------------


def frame_to_arrays_iloc(train, test):
    return train.iloc[:, 1:].to_numpy() / 255.0, train.iloc[:, 0].to_numpy(), test.to_numpy() / 255.0


def frame_to_arrays_unscaled(train, test):
    return train.iloc[:, 1:].to_numpy(float), train["label"].to_numpy(), test.to_numpy(float)


def frame_to_arrays_with_label(train, test):
    return train.to_numpy() / 255.0, train["label"].to_numpy(), test.to_numpy() / 255.0


def loss_grad_with_softmax(W, b, X, y, reg):
    """A correct variant through probabilities (stable: log of the shifted softmax)."""
    s = X @ W + b
    s = s - s.max(1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))
    p = np.exp(log_p)
    n = len(y)
    p[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean() + 0.5 * reg * (W**2).sum(), X.T @ p / n + reg * W, p.mean(0)


def _wrong_loss(kind):
    def loss_grad(W, b, X, y, reg):
        n = len(y)
        s = X @ W + b
        if kind == "unstable":
            p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
            loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * reg * (W**2).sum()
        else:
            loss, _, _ = ref.softmax_loss_grad(W, b, X, y, reg)
            s = s - s.max(1, keepdims=True)
            p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
        d = p.copy()
        d[np.arange(n), y] -= 1
        if kind == "no_mean":
            return loss, X.T @ d + reg * W, d.sum(0)
        if kind == "no_reg":
            return loss, X.T @ d / n, d.mean(0)
        if kind == "double_reg":
            return loss, X.T @ d / n + 2 * reg * W, d.mean(0)
        if kind == "db_sum":
            return loss, X.T @ d / n + reg * W, d.sum(0)
        if kind == "loss_sum":
            return loss * n, X.T @ d / n + reg * W, d.mean(0)
        return loss, X.T @ d / n + reg * W, d.mean(0)
    loss_grad.__name__ = f"loss_grad_{kind}"
    return loss_grad


def _trainer(mode):
    def train(X, y, num_classes, *, lr=0.5, epochs=10, batch_size=256, reg=1e-4, seed=0):
        rng = np.random.default_rng(seed)
        W, b, losses = 0.01 * rng.standard_normal((X.shape[1], num_classes)), np.zeros(num_classes), []
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for start in range(0, len(y), batch_size):
                batch = order[start:start + batch_size] if mode != "first_batch_only" else order[:batch_size]
                loss, dW, db = ref.softmax_loss_grad(W, b, X[batch], y[batch], reg)
                sign = -1 if mode != "ascent" else 1
                W, b = W + sign * lr * dW, b + sign * lr * db
                losses.append(loss)
        return W, b, np.array(losses)
    train.__name__ = f"train_{mode}"
    return train


def write_ok(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels}).to_csv(path, index=False)


def write_with_index(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels}).to_csv(path)


def write_from_zero(labels, path):
    pd.DataFrame({"ImageId": np.arange(len(labels)), "Label": labels}).to_csv(path, index=False)


def write_float_labels(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": np.asarray(labels, float) + 0.5}).to_csv(path, index=False)


CORRECT = {
    "w01_frame_to_arrays": [frame_to_arrays_iloc, ref.frame_to_arrays],
    "w01_softmax_loss_value": [loss_grad_with_softmax, ref.softmax_loss_grad],
    "w01_softmax_loss_gradient": [loss_grad_with_softmax, ref.softmax_loss_grad],
    "w01_train_softmax_regression": [_trainer("sgd")],
    "w01_write_submission": [write_ok],
}

WRONG = [
    ("w01_frame_to_arrays", frame_to_arrays_unscaled, "not scaled"),
    ("w01_frame_to_arrays", frame_to_arrays_with_label, "still holds the label column"),
    ("w01_softmax_loss_value", _wrong_loss("unstable"), "stably"),
    ("w01_softmax_loss_value", _wrong_loss("loss_sum"), "values are wrong"),
    ("w01_softmax_loss_gradient", _wrong_loss("no_mean"), "divide by N"),
    ("w01_softmax_loss_gradient", _wrong_loss("no_reg"), "missing the regularisation"),
    ("w01_softmax_loss_gradient", _wrong_loss("double_reg"), "2 reg W"),
    ("w01_softmax_loss_gradient", _wrong_loss("db_sum"), "db is the mean"),
    ("w01_train_softmax_regression", _trainer("ascent"), "did not fall"),
    ("w01_train_softmax_regression", _trainer("first_batch_only"), "test accuracy"),
    ("w01_write_submission", write_with_index, "index=False"),
    ("w01_write_submission", write_from_zero, "ImageId must run"),
    ("w01_write_submission", write_float_labels, "integers"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w01_kaggle", CORRECT, WRONG, frozenset({"w01_kaggle_submission"})
)



def test_submission_case_checks_format_and_accuracy(tmp_path):
    good = _write(tmp_path / "good.csv", pd.DataFrame({"ImageId": range(1, 10_001), "Label": answers()}), index=False)
    check("w01_kaggle_submission", str(good))
    poor = answers().copy()
    poor[:1500] = (poor[:1500] + 1) % 10
    bad = _write(tmp_path / "poor.csv", pd.DataFrame({"ImageId": range(1, 10_001), "Label": poor}), index=False)
    with pytest.raises(AssertionError, match="accuracy 0.8500"):
        check("w01_kaggle_submission", str(bad))
    with pytest.raises(AssertionError, match="does not exist"):
        check("w01_kaggle_submission", str(tmp_path / "missing.csv"))


def test_reference_gradient_against_numerics():
    rng = np.random.default_rng(0)
    W, b, X, y = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(7, 5)), rng.integers(0, 3, 7)
    _, dW, db = ref.softmax_loss_grad(W, b, X, y, 0.3)
    np.testing.assert_allclose(dW, numerical_gradient(lambda w: ref.softmax_loss_grad(w, b, X, y, 0.3)[0], W.copy()),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, numerical_gradient(lambda v: ref.softmax_loss_grad(W, v, X, y, 0.3)[0], b.copy()),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("check_fn", "fn", "message"),
    [
        (visible.frame_to_arrays, frame_to_arrays_unscaled, "not scaled"),
        (visible.softmax_loss_grad, _wrong_loss("no_mean"), "divide by N"),
        (visible.train_softmax_regression, _trainer("ascent"), "did not fall"),
        (visible.write_submission, write_with_index, "index=False"),
    ],
    ids=name_of,
)
def test_visible_checks_name_the_mistake(check_fn, fn, message):
    with np.errstate(all="ignore"), pytest.raises(CheckFailed, match=message):
        check_fn(fn)
