"""Week 1 Kaggle part: the competition files, the submission checker, the visible checks and the hidden tests.

The hidden tests are fed deliberately wrong implementations (each a mistake students make) that they
must fail, with the diagnosis they must give, and correct alternatives that they must pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w01_kaggle as ref
from autograder.gradcheck import numerical_gradient
from autograder.protocol import get_case, run_case
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


def frame_to_arrays_drop(train, test):
    X_train = train.drop(columns="label").values.astype(np.float64)
    return X_train / 255, train.label.values.astype(np.int64), test.values.astype(np.float64) / 255


def frame_to_arrays_unscaled(train, test):
    return train.iloc[:, 1:].to_numpy(float), train["label"].to_numpy(), test.to_numpy(float)


def frame_to_arrays_with_label(train, test):
    return train.to_numpy() / 255.0, train["label"].to_numpy(), test.to_numpy() / 255.0


def frame_to_arrays_pops_label(train, test):
    y = train.pop("label").to_numpy()  # removes the column from the caller's frame
    return train.to_numpy() / 255.0, y, test.to_numpy() / 255.0


def frame_to_arrays_two_parts(train, test):
    return train.iloc[:, 1:].to_numpy() / 255.0, train.iloc[:, 0].to_numpy()


def loss_grad_with_softmax(W, b, X, y, reg):
    """A correct variant through probabilities (stable: log of the shifted softmax)."""
    s = X @ W + b
    s = s - s.max(1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))
    p = np.exp(log_p)
    n = len(y)
    p[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean() + 0.5 * reg * (W**2).sum(), X.T @ p / n + reg * W, p.mean(0)


def loss_grad_loop(W, b, X, y, reg):
    """A correct variant, one example at a time, the loss as a 0-d array."""
    loss, dW, db = np.array(0.0), np.zeros_like(W), np.zeros_like(b)
    for x, label in zip(X, y):
        s = x @ W + b
        log_p = s - s.max() - np.log(np.sum(np.exp(s - s.max())))
        p = np.exp(log_p)
        loss = loss - log_p[label] / len(y)
        p[label] -= 1
        dW += np.outer(x, p) / len(y)
        db += p / len(y)
    return loss + 0.5 * reg * np.sum(W * W), dW + reg * W, db


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
        if kind == "loss_no_reg":
            return loss - 0.5 * reg * (W**2).sum(), X.T @ d / n + reg * W, d.mean(0)
        if kind == "loss_per_example":
            return -np.log(p[np.arange(n), y]), X.T @ d / n + reg * W, d.mean(0)
        if kind == "scales_W_in_place":
            W *= 0.5
            return loss, X.T @ d / n + reg * W, d.mean(0)
        return loss, X.T @ d / n + reg * W, d.mean(0)
    loss_grad.__name__ = f"loss_grad_{kind}"
    return loss_grad


def loss_stub(W, b, X, y, reg):
    raise NotImplementedError()


def _trainer(mode):
    def train(X, y, num_classes, *, lr=0.5, epochs=10, batch_size=256, reg=1e-4, seed=0):
        rng = np.random.default_rng(seed)
        W, b, losses = 0.01 * rng.standard_normal((X.shape[1], num_classes)), np.zeros(num_classes), []
        if mode == "centres_X_in_place":
            X -= X.mean(axis=0)
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for start in range(0, len(y), batch_size):
                batch = order[start:start + batch_size] if mode != "first_batch_only" else order[:batch_size]
                loss, dW, db = ref.softmax_loss_grad(W, b, X[batch], y[batch], reg)
                sign = -1 if mode != "ascent" else 1
                W, b = W + sign * lr * dW, b + sign * lr * db
                losses.append(loss)
        if mode == "losses_every_10_steps":
            losses = losses[::10]
        return W, b, np.array(losses)
    train.__name__ = f"train_{mode}"
    return train


def train_float32(X, y, num_classes, *, lr=0.5, epochs=10, batch_size=256, reg=1e-4, seed=0):
    """A correct variant that works in single precision and keeps a list of Python floats."""
    X32 = X.astype(np.float32)
    rng = np.random.default_rng(seed)
    W, b, losses = np.zeros((X.shape[1], num_classes), np.float32), np.zeros(num_classes, np.float32), []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for batch in np.array_split(order, -(-len(y) // batch_size)):
            loss, dW, db = loss_grad_with_softmax(W, b, X32[batch], y[batch], np.float32(reg))
            W -= np.float32(lr) * dW
            b -= np.float32(lr) * db
            losses.append(float(loss))
    return W, b, losses


def write_ok(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels}).to_csv(path, index=False)


def write_by_hand(labels, path):
    with open(path, "w") as handle:
        handle.write("ImageId,Label\n")
        for i, label in enumerate(labels, start=1):
            handle.write(f"{i},{int(label)}\n")


def write_savetxt(labels, path):
    rows = np.column_stack([np.arange(1, len(labels) + 1), labels])
    np.savetxt(path, rows, fmt="%d", delimiter=",", header="ImageId,Label", comments="")


def write_with_index(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels}).to_csv(path)


def write_from_zero(labels, path):
    pd.DataFrame({"ImageId": np.arange(len(labels)), "Label": labels}).to_csv(path, index=False)


def write_float_labels(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": np.asarray(labels, float) + 0.5}).to_csv(path, index=False)


def write_sorted_labels(labels, path):
    labels.sort()  # sorts the caller's array in place
    write_ok(labels, path)


def write_reversed_labels(labels, path):
    write_ok(labels[::-1], path)


def write_nothing(labels, path):
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels})


CORRECT = {
    "w01_frame_to_arrays": [frame_to_arrays_iloc, frame_to_arrays_drop, ref.frame_to_arrays],
    "w01_softmax_loss_value": [loss_grad_with_softmax, loss_grad_loop, ref.softmax_loss_grad],
    "w01_softmax_loss_gradient": [loss_grad_with_softmax, loss_grad_loop, ref.softmax_loss_grad],
    "w01_train_softmax_regression": [_trainer("sgd"), train_float32],
    "w01_write_submission": [write_ok, write_by_hand, write_savetxt],
}

WRONG = [
    ("w01_frame_to_arrays", frame_to_arrays_unscaled, "not scaled"),
    ("w01_frame_to_arrays", frame_to_arrays_with_label, "still holds the label column"),
    ("w01_frame_to_arrays", frame_to_arrays_pops_label, "changed its input `train`"),
    ("w01_frame_to_arrays", frame_to_arrays_two_parts, r"must return a tuple \(X_train, y_train, X_test\)"),
    ("w01_softmax_loss_value", _wrong_loss("unstable"), "stably"),
    ("w01_softmax_loss_value", _wrong_loss("loss_sum"), "values are wrong"),
    ("w01_softmax_loss_value", _wrong_loss("loss_per_example"), "must be one number"),
    ("w01_softmax_loss_value", loss_stub, "not implemented"),
    ("w01_softmax_loss_gradient", _wrong_loss("no_mean"), "divide by N"),
    ("w01_softmax_loss_gradient", _wrong_loss("no_reg"), "missing the regularisation"),
    ("w01_softmax_loss_gradient", _wrong_loss("double_reg"), "2 reg W"),
    ("w01_softmax_loss_gradient", _wrong_loss("db_sum"), "db is the mean"),
    ("w01_softmax_loss_gradient", _wrong_loss("loss_sum"), "dW against the numerical gradient of your own loss"),
    ("w01_softmax_loss_gradient", _wrong_loss("loss_no_reg"), "agrees with the reference, so the loss .* is wrong"),
    ("w01_softmax_loss_gradient", _wrong_loss("scales_W_in_place"), "changed its input `W`"),
    ("w01_softmax_loss_gradient", loss_stub, "not implemented"),
    ("w01_train_softmax_regression", _trainer("ascent"), "did not fall"),
    ("w01_train_softmax_regression", _trainer("first_batch_only"), "test accuracy"),
    ("w01_train_softmax_regression", _trainer("losses_every_10_steps"), r"expected W \(784, 10\), b \(10,\) and 237 losses"),
    ("w01_train_softmax_regression", _trainer("centres_X_in_place"), "changed its input `X`"),
    ("w01_write_submission", write_with_index, "index=False"),
    ("w01_write_submission", write_from_zero, "ImageId must run"),
    ("w01_write_submission", write_float_labels, "integers"),
    ("w01_write_submission", write_sorted_labels, "changed its input `labels`"),
    ("w01_write_submission", write_reversed_labels, "differ from those given"),
    ("w01_write_submission", write_nothing, r"write_nothing \(1 label\) does not exist"),
]


test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w01_kaggle", CORRECT, WRONG, frozenset({"w01_kaggle_submission"})
)


def test_gradient_case_sends_few_calls_in_float64():
    """The numerical gradient needs 2 (D C + C) calls per problem: the shapes stay small."""
    inputs, _ = get_case("w01_softmax_loss_gradient").build()
    calls = inputs["calls"]
    assert len(calls) < 120
    assert all(arg.dtype == np.float64 for call in calls for arg in call.args[:3])
    W, W_moved = calls[0].args[0], calls[1].args[0]
    assert np.count_nonzero(W_moved != W) == 1 and np.abs(W_moved - W).max() == pytest.approx(ref.STEP)


def test_training_images_are_sent_as_pixels():
    """20,000 images as uint8 (15 MB), not as a float64 array (125 MB); the kernel divides by 255."""
    from dlfs.grading import Pixels

    inputs, _ = get_case("w01_train_softmax_regression").build()
    pixels = inputs["calls"][0].args[0]
    assert isinstance(pixels, Pixels) and pixels.pixels.dtype == np.uint8 and pixels.pixels.shape == (20_000, 784)


# ---- the submission file: the model that wrote it, its format, its accuracy -------------------------------


@pytest.fixture(scope="module")
def model():
    """W, b trained as the notebook does on 42,000 training images (5 epochs)."""
    mnist = load_mnist(normalize="unit", dtype=np.float64)
    return _trainer("sgd")(mnist.X_train[:42_000], mnist.y_train[:42_000], 10, lr=0.5, epochs=5, batch_size=256, reg=1e-4,
                           seed=0)[:2]


@pytest.fixture(scope="module")
def kaggle_test():
    """X_kaggle_test as the notebook makes it: test.csv's pixels / 255."""
    return load_mnist(normalize=None).X_test.astype(np.float64) / 255.0


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    """Work in a temporary folder, as the notebook does next to submission.csv."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _submit(labels, *model, writer=write_ok):
    writer(np.asarray(labels), "submission.csv")
    return run_case("w01_kaggle_submission", "submission.csv", *model)


def test_submission_of_the_models_predictions_passes(in_tmp, model, kaggle_test):
    W, b = model
    assert "held-out accuracy 0.9" in _submit((kaggle_test @ W + b).argmax(axis=1), W, b)


def test_submission_of_a_float32_model_passes(in_tmp, model, kaggle_test):
    """Computed in single precision by the student: a few ties may flip, within the allowance."""
    W, b = (part.astype(np.float32) for part in model)
    _submit((kaggle_test.astype(np.float32) @ W + b).argmax(axis=1), W, b)


def test_submission_of_the_public_test_labels_fails(in_tmp, model):
    with pytest.raises(CheckFailed, match=r"submission.csv is not the predictions of your model W, b: [\d,]+ of 10,000 labels "
                                          "differ"):
        _submit(answers(), *model)


def test_submission_allows_a_handful_of_ties(in_tmp, model, kaggle_test):
    W, b = model
    labels = (kaggle_test @ W + b).argmax(axis=1)
    labels[:ref.MAX_DISAGREEMENTS] = (labels[:ref.MAX_DISAGREEMENTS] + 1) % 10
    _submit(labels, W, b)
    labels[ref.MAX_DISAGREEMENTS] = (labels[ref.MAX_DISAGREEMENTS] + 1) % 10
    with pytest.raises(CheckFailed, match=f"{ref.MAX_DISAGREEMENTS + 1} of 10,000 labels differ"):
        _submit(labels, W, b)


def test_submission_format_is_checked_first(in_tmp, model, kaggle_test):
    W, b = model
    labels = (kaggle_test @ W + b).argmax(axis=1)
    with pytest.raises(CheckFailed, match=r"^submission.csv: the header must be exactly ImageId,Label.*index=False"):
        _submit(labels, W, b, writer=write_with_index)
    with pytest.raises(CheckFailed, match="submission.csv: the column Label must hold integers"):
        _submit(labels, W, b, writer=write_float_labels)
    with pytest.raises(CheckFailed, match="expected 10000 rows"):
        _submit(labels[:-1], W, b)
    (in_tmp / "submission.csv").unlink()
    with pytest.raises(CheckFailed, match="^submission.csv does not exist"):
        run_case("w01_kaggle_submission", "submission.csv", W, b)


def test_submission_needs_the_model(in_tmp, model, kaggle_test):
    W, b = model
    labels = (kaggle_test @ W + b).argmax(axis=1)
    with pytest.raises(CheckFailed, match=r'needs the model .* check\("w01_kaggle_submission", "submission.csv", W, b\)'):
        _submit(labels)
    with pytest.raises(CheckFailed, match=r"must be W \(784, 10\) and b \(10,\); got \(10, 784\)"):
        _submit(labels, W.T, b)


def test_submission_of_a_weak_model_fails_on_accuracy(in_tmp, model, kaggle_test):
    """Least squares on the training images: consistent predictions, about 86%."""
    mnist = load_mnist(normalize="unit", dtype=np.float64)
    A = np.column_stack([mnist.X_train[:20_000], np.ones(20_000)])
    solution = np.linalg.lstsq(A, np.eye(10)[mnist.y_train[:20_000]], rcond=None)[0]
    W, b = solution[:-1], solution[-1]
    with pytest.raises(CheckFailed, match=r"submission.csv: accuracy 0\.8\d+ on the held-out labels"):
        _submit((kaggle_test @ W + b).argmax(axis=1), W, b)


def test_least_squares_fitted_on_the_test_labels_stays_below_the_bar(in_tmp, kaggle_test):
    """A known limit: a model fitted to the public test labels is consistent with its file. Least squares
    on the test images reaches 0.8875, under the 0.90 bar (a softmax regression fitted there would pass)."""
    A = np.column_stack([kaggle_test, np.ones(len(kaggle_test))])
    solution = np.linalg.lstsq(A, np.eye(10)[answers()], rcond=None)[0]
    W, b = solution[:-1], solution[-1]
    labels = (kaggle_test @ W + b).argmax(axis=1)
    assert np.mean(labels == answers()) == pytest.approx(0.8875, abs=0.002)
    with pytest.raises(CheckFailed, match="accuracy 0.88"):
        _submit(labels, W, b)


# ---- the reference, and the visible checks ----------------------------------------------------------------


def test_reference_gradient_against_numerics():
    rng = np.random.default_rng(0)
    W, b, X, y = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(7, 5)), rng.integers(0, 3, 7)
    _, dW, db = ref.softmax_loss_grad(W, b, X, y, 0.3)
    np.testing.assert_allclose(dW, numerical_gradient(lambda w: ref.softmax_loss_grad(w, b, X, y, 0.3)[0], W.copy()),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(db, numerical_gradient(lambda v: ref.softmax_loss_grad(W, v, X, y, 0.3)[0], b.copy()),
                               rtol=1e-6, atol=1e-9)


def test_mistake_outputs_are_those_mistakes():
    rng = np.random.default_rng(1)
    W, b, X, y, reg = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(6, 4)), rng.integers(0, 3, 6), 0.5
    outputs = ref.softmax_loss_mistakes(W, b, X, y, reg)
    for kind in ("no_mean", "no_reg", "double_reg"):
        np.testing.assert_allclose(outputs[kind], _wrong_loss(kind)(W, b, X, y, reg)[1], rtol=1e-12)


VISIBLE_CORRECT = [
    (visible.frame_to_arrays, frame_to_arrays_iloc),
    (visible.frame_to_arrays, frame_to_arrays_drop),
    (visible.softmax_loss_grad, loss_grad_with_softmax),
    (visible.softmax_loss_grad, ref.softmax_loss_grad),
    (visible.train_softmax_regression, _trainer("sgd")),
    (visible.write_submission, write_by_hand),
]

VISIBLE_WRONG = [
    (visible.frame_to_arrays, frame_to_arrays_unscaled, "X_train: your pixels are not scaled"),
    (visible.frame_to_arrays, frame_to_arrays_with_label, "still holds the label column"),
    (visible.softmax_loss_grad, _wrong_loss("no_mean"), "dW: your dW matches the gradient of the .summed. loss"),
    (visible.softmax_loss_grad, _wrong_loss("no_reg"), "missing the regularisation"),
    (visible.softmax_loss_grad, _wrong_loss("double_reg"), "2 reg W"),
    (visible.softmax_loss_grad, _wrong_loss("db_sum"), "db is the mean"),
    (visible.softmax_loss_grad, _wrong_loss("loss_sum"), "loss: 1 of 1 values are wrong"),
    (visible.softmax_loss_grad, _wrong_loss("scales_W_in_place"), "changed its input `W`"),
    (visible.softmax_loss_grad, loss_stub, "not implemented"),
    (visible.train_softmax_regression, _trainer("ascent"), "did not fall"),
    (visible.write_submission, write_with_index, "index=False"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


def test_visible_submission_file_check(tmp_path):
    labels = answers().copy()
    labels[:1000] = (labels[:1000] + 1) % 10
    path = _write(tmp_path / "s.csv", pd.DataFrame({"ImageId": range(1, 10_001), "Label": labels}), index=False)
    assert visible.submission_file(str(path)) == pytest.approx(0.9)
    with pytest.raises(CheckFailed, match="does not exist"):
        visible.submission_file(str(tmp_path / "missing.csv"))
