"""Week 3, the pretrained CNN (cnn_forward): reference, known mistakes, hidden cases, fixtures.

For images x: (N, 1, H, W) with H and W multiples of 4 and params conv1_w (F1, 1, 3, 3), conv1_b (F1,),
conv2_w (F2, F1, 3, 3), conv2_b (F2,), dense_w (F2 H/4 W/4, 10), dense_b (10,):

    h1     = maxpool(relu(conv(x,  conv1_w, conv1_b)))         (N, F1, H/2, W/2)
    h2     = maxpool(relu(conv(h1, conv2_w, conv2_b)))         (N, F2, H/4, W/4)
    logits = flatten(h2) @ dense_w + dense_b                    (N, 10)

where conv is the course's convolution (a cross-correlation) with stride 1 and padding 1, relu(z) = max(z, 0),
maxpool the 2 x 2 max pooling with stride 2, and flatten the row-major (C, H, W) order of each image,
``h2.reshape(N, -1)``. The convolution and the pooling are those of ``conv_reference``; the reference runs in
float64 whatever the inputs' type.

The MNIST case runs the student's cnn_forward with the shipped weights (``data/week03_cnn_weights.npz``,
0.9928 on the test split) on all 10,000 test images, and judges the logits here against this reference on
the grader's own copy of the images and weights; the accuracy is computed here from those logits and the true
labels. A kernel that returns anything but the forward pass (the labels, probabilities, scaled logits) fails
the comparison of the logits, whatever its accuracy.
"""

from __future__ import annotations

import numpy as np

from autograder.cases.conv_reference import avg_pool_forward, conv_forward_fast, max_pool_forward
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w03_cnn import CNN_HINT, PARAM_KEYS, SHAPE_HINT, not_implemented, shape_trouble
from dlfs.data import load_mnist
from dlfs.grading import Raised
from dlfs.pretrained import load_week03_cnn

CNN_MISTAKES = {
    "no_relu": ("your logits match the network without its two ReLUs: apply np.maximum(h, 0) to the output of each "
                "convolution, before its pooling."),
    "no_relu1": "your logits match the network without the ReLU after the first convolution: add it before the first pooling.",
    "no_relu2": "your logits match the network without the ReLU after the second convolution: add it before the second pooling.",
    "flatten_hwc": ("your features are flattened in (H, W, C) order: dense_w expects the row-major (C, H, W) order of "
                    "each image's pooled maps, h.reshape(N, -1) on the (N, C, H, W) array, with no transpose."),
    "dense_no_bias": "your logits lack the dense layer's bias: add params['dense_b'] after the matrix product.",
    "avg_pool": "your logits match average pooling: this network uses max pooling (max_pool_forward, window 2, stride 2).",
    "softmax": ("you return probabilities (a softmax of the logits): return the logits themselves, the output of the "
                "dense layer."),
}
#: Float64 inputs are judged with FLOAT64_TOL, float32 ones with FLOAT32_TOL: (rtol, atol as a fraction of the
#: largest |logit|).
FLOAT64_TOL, FLOAT32_TOL = (1e-7, 1e-9), (1e-5, 1e-5)
#: The MNIST case: batch size of the probe's calls, tolerance, the accuracy bar (the weights give 0.9928).
MNIST_BATCH, MNIST_TOL, MNIST_MIN_ACCURACY = 500, (1e-4, 1e-5), 0.99


# ---- reference -----------------------------------------------------------------------------------------


def _forward(x: np.ndarray, params: dict, *, relu: tuple[bool, bool] = (True, True), pool=max_pool_forward,
             order: str = "chw", dense_bias: bool = True, softmax: bool = False) -> np.ndarray:
    """The network of the module docstring in float64; the keywords make the known mistakes."""
    weights = {key: np.asarray(params[key], dtype=np.float64) for key in PARAM_KEYS}
    maps = np.asarray(x, dtype=np.float64)
    for layer, rectify in zip((1, 2), relu):
        maps = conv_forward_fast(maps, weights[f"conv{layer}_w"], weights[f"conv{layer}_b"], 1, 1)[0]
        if rectify:
            maps = np.maximum(maps, 0.0)
        maps = pool(maps, 2, 2)[0]
    if order == "hwc":
        maps = maps.transpose(0, 2, 3, 1)
    scores = maps.reshape(maps.shape[0], -1) @ weights["dense_w"]
    if dense_bias:
        scores = scores + weights["dense_b"]
    if softmax:
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores = shifted / shifted.sum(axis=1, keepdims=True)
    return scores


def cnn_forward(x: np.ndarray, params: dict) -> np.ndarray:
    """The logits (N, 10) of the network of the module docstring, in float64."""
    return _forward(x, params)


def cnn_mistakes(x: np.ndarray, params: dict) -> dict[str, np.ndarray]:
    """What each known mistake outputs on ``x`` (ReLU after the pooling is not one: max and ReLU commute)."""
    return {
        "no_relu": _forward(x, params, relu=(False, False)),
        "no_relu1": _forward(x, params, relu=(False, True)),
        "no_relu2": _forward(x, params, relu=(True, False)),
        "flatten_hwc": _forward(x, params, order="hwc"),
        "dense_no_bias": _forward(x, params, dense_bias=False),
        "avg_pool": _forward(x, params, pool=avg_pool_forward),
        "softmax": _forward(x, params, softmax=True),
    }


def random_params(rng: np.random.Generator, F1: int, F2: int, H: int, W: int, dtype=np.float64) -> dict:
    """Small random weights of the network for H x W images: He-scaled, biases of both signs (so every ReLU
    cuts), every 2 x 2 window with distinct values."""
    D = F2 * (H // 4) * (W // 4)
    params = {"conv1_w": rng.normal(size=(F1, 1, 3, 3)) * np.sqrt(2 / 9), "conv1_b": 0.3 * rng.normal(size=F1),
              "conv2_w": rng.normal(size=(F2, F1, 3, 3)) * np.sqrt(2 / (9 * F1)), "conv2_b": 0.3 * rng.normal(size=F2),
              "dense_w": rng.normal(size=(D, 10)) / np.sqrt(D), "dense_b": rng.normal(size=10)}
    return {key: value.astype(dtype) for key, value in params.items()}


# ---- hidden cases --------------------------------------------------------------------------------------


def _value(answers: Answers, value, label: str):
    """A recorded result, with the messages of this network for a stub and for shapes that do not meet."""
    if isinstance(value, Raised):
        if value.type == "NotImplementedError":
            raise CheckFailed(not_implemented(answers.name))
        if shape_trouble(value.type, value.message):
            raise CheckFailed(f"{answers.name} on {label} raised {value.type}: {value.message}. Hint: {SHAPE_HINT}")
    return answers.value(value, label)


def _array(answers: Answers, value, label: str):
    """Lists and tuples as arrays (check_array's way), or a failure when they are ragged."""
    if isinstance(value, list | tuple):
        try:
            return np.asarray(value)
        except ValueError as err:
            raise CheckFailed(f"{answers.name} on {label} returned a {type(value).__name__} of rows of different "
                              f"lengths; return the logits as one array of shape (N, 10). Hint: {CNN_HINT}") from err
    return value


def _unchanged(answers: Answers, names, label: str) -> None:
    if not isinstance(names, list):
        raise CheckFailed(f"{answers.name}: the answers are incomplete (was the hidden test cell changed?).")
    if names:
        raise CheckFailed(f"{answers.name} on {label} changed its input `{names[0]}` in place; compute new arrays "
                          "and leave x and params as they are.")


#: (N, H, W, F1, F2, dtype) of the problems of the cnn_forward case.
FORWARD_PROBLEMS = [
    (1, 12, 12, 2, 3, np.float64),
    (5, 12, 12, 4, 8, np.float64),
    (5, 8, 16, 3, 5, np.float64),
    (1, 28, 28, 8, 6, np.float64),
    (5, 28, 28, 5, 2, np.float32),
    (1, 8, 16, 6, 4, np.float32),
]


@case("w03_cnn_forward")
def cnn_forward_case(rng: np.random.Generator):
    """Random small networks (F1, F2 from 2 to 8) on images of 12x12, 8x16 and 28x28 with pixels in [0, 1],
    N = 1 and 5, float64 and float32: the whole logits array against the reference, naming the known mistakes;
    x and params must be left unchanged."""
    problems = []
    for N, H, W, F1, F2, dtype in FORWARD_PROBLEMS:
        x = rng.uniform(size=(N, 1, H, W)).astype(dtype)
        problems.append({"x": x, "params": random_params(rng, F1, F2, H, W, dtype)})

    def judge(answers: Answers, context: Context) -> str:
        results, changed = answers["results"], answers["changed"]
        if not isinstance(results, list) or len(results) != len(problems) or len(changed) != len(problems):
            raise CheckFailed(f"{context.name}: the answers are incomplete (was the hidden test cell changed?).")
        for problem, result, names in zip(problems, results, changed):
            x, params = problem["x"], problem["params"]
            label = f"x of shape {x.shape}, F1={len(params['conv1_b'])}, F2={len(params['conv2_b'])}, {x.dtype}"
            got = _array(answers, _value(answers, result, label), label)
            _unchanged(answers, names, label)
            if x.dtype == np.float64 and isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.itemsize < 8:
                raise CheckFailed(f"{context.name} ({label}): float64 inputs gave {got.dtype} logits; keep the inputs' "
                                  "type (no cast to float32), so that float64 inputs give float64 results.")
            want = cnn_forward(x, params)
            rtol, atol = FLOAT32_TOL if x.dtype == np.float32 else FLOAT64_TOL
            check_array(f"{context.name} ({label})", got, want, rtol=rtol, atol=atol * float(np.abs(want).max()),
                        mistakes=mistakes_on(cnn_mistakes(x, params), CNN_MISTAKES), hint=CNN_HINT)
        return f"the logits agree with the reference on {len(problems)} networks, 8x16 images and float32 included"

    return {"problems": problems}, judge


def _mnist_logits(images: np.ndarray, params: dict) -> np.ndarray:
    """The reference logits of (N, 1, 28, 28) images, in batches (im2col of 10,000 images at once is 2 GB)."""
    return np.concatenate([cnn_forward(images[start:start + MNIST_BATCH], params)
                           for start in range(0, len(images), MNIST_BATCH)])


@case("w03_cnn_mnist", fresh=True)
def cnn_mnist_case(rng: np.random.Generator):
    """The 10,000 MNIST test images through the student's cnn_forward with the shipped weights.

    Sent: the weights (float32, loaded and checksummed here), a new permutation of the test indices at every
    grading and the batch size (500). The kernel loads the images itself (load_mnist("unit", flatten=False),
    float32 in [0, 1]), takes them in the order sent as (N, 1, 28, 28), calls cnn_forward(x, params) per batch and
    returns each batch's output. Judged here: every batch (500, 10), numeric, finite, inputs unchanged; the
    10,000 x 10 logits equal to the reference's on the grader's own copy of the images and weights within rtol
    1e-4 and atol 1e-5 x max |logit| (a float32 forward is off by 4e-7 x max |logit| at most, about 30 times
    less; naming the known mistake on the first batch when they differ); then the accuracy of their argmax
    against the true labels at least 0.99 (the weights give 0.9928).

    Time (2 cores shared with other jobs, one BLAS thread), measured with the notebook's solution (float32, its
    conv2d_forward a loop over the 9 kernel offsets): the probe 4-5 s in the kernel, the judge 3 s here (the
    float64 reference in batches of 500, 2.5 s), plus about 1.3 s the first time MNIST is decoded and the weights
    loaded: 7-9.5 s for the whole case; tests/test_w03_cnn.py times it again (under 30 s required).
    """
    params = load_week03_cnn()
    order = rng.permutation(10_000)
    inputs = {"params": params, "order": order, "batch_size": MNIST_BATCH}
    starts = list(range(0, len(order), MNIST_BATCH))

    def judge(answers: Answers, context: Context) -> str:
        batches, changed = answers["batches"], answers["changed"]
        if not isinstance(batches, list) or not isinstance(changed, list) or len(changed) != len(batches):
            raise CheckFailed(f"{context.name}: the answers are incomplete (was the hidden test cell changed?).")
        parts = []
        for k, start in enumerate(starts):
            label = f"MNIST test images {start} to {start + MNIST_BATCH - 1} of the order sent"
            if k >= len(batches):
                raise CheckFailed(f"{context.name}: no answer for the {label} (was the hidden test cell changed?).")
            got = _array(answers, _value(answers, batches[k], label), label)
            _unchanged(answers, changed[k], label)
            if not isinstance(got, np.ndarray) or got.dtype.kind not in "fiu" or got.shape != (MNIST_BATCH, 10):
                what = (f"an array of shape {got.shape} and dtype {got.dtype}" if isinstance(got, np.ndarray)
                        else f"a {type(got).__name__}")
                raise CheckFailed(f"{context.name} on {label}: expected logits of shape ({MNIST_BATCH}, 10), one row of "
                                  f"10 class scores per image; got {what}. Hint: {CNN_HINT}")
            parts.append(got)
        logits = np.concatenate(parts)
        images = load_mnist("unit", flatten=False)
        x = images.X_test[order][:, None]
        want = _mnist_logits(x, params)
        rtol, atol = MNIST_TOL[0], MNIST_TOL[1] * float(np.abs(want).max())
        name = f"{context.name} on the 10,000 MNIST test images with the shipped weights"
        try:
            check_array(name, logits, want, rtol=rtol, atol=atol, hint=CNN_HINT)
        except CheckFailed as wrong:  # a known mistake? Its outputs on the first batch only (cheap)
            got = logits[:MNIST_BATCH].astype(np.float64)
            for mistake in mistakes_on(cnn_mistakes(x[:MNIST_BATCH], params), CNN_MISTAKES):
                if np.allclose(got, mistake.output, rtol=rtol, atol=atol):
                    raise CheckFailed(f"{context.name} on the first {MNIST_BATCH} MNIST test images of the order sent: "
                                      f"{mistake.message}") from wrong
            raise
        accuracy = float(np.mean(logits.argmax(axis=1) == images.y_test[order]))
        if not accuracy >= MNIST_MIN_ACCURACY:
            raise CheckFailed(f"{context.name}: test accuracy {accuracy:.4f} from your logits; at least "
                              f"{MNIST_MIN_ACCURACY} is expected with the shipped weights.")
        return f"the logits of the 10,000 MNIST test images agree with the reference; test accuracy {accuracy:.4f}"

    return inputs, judge


# ---- fixtures of the visible checks --------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(37)  # a seed whose mistakes all differ by more than 10% of the largest logit
    x = rng.uniform(size=(2, 1, 8, 12))
    params = random_params(rng, 3, 4, 8, 12)
    small = {"x": x, "expected": cnn_forward(x, params)} | {f"param_{key}": value for key, value in params.items()}
    small |= stored(cnn_mistakes(x, params), CNN_MISTAKES)
    indices = np.arange(0, 10_000, 50)
    digits = load_mnist("unit", flatten=False).X_test[indices][:, None]
    weights = load_week03_cnn()
    mnist = {"indices": indices, "expected": cnn_forward(digits, weights)}
    mnist |= stored(cnn_mistakes(digits, weights), CNN_MISTAKES)
    return {"w03_cnn_forward": small, "w03_cnn_forward_mnist": mnist}
