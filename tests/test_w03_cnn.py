"""Week 3, the pretrained CNN (cnn_forward): the reference against explicit loops and JAX, the known mistakes, the
hidden cases against correct and wrong (and hostile) implementations, the MNIST case's time, and the visible
checks."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import w03_cnn as ref
from autograder.protocol import get_case, run_case
from dlfs.checks import week03 as visible
from dlfs.data import load_mnist
from dlfs.pretrained import load_week03_cnn

pytestmark = [pytest.mark.week03, pytest.mark.w03_cnn, pytest.mark.autograder]


# ---- layers written here: sliding windows (vectorised) and loops ------------------------------------------


def conv_windows(x, w, b, pad=1):
    """Cross-correlation by a strided view and one tensordot; float32 stays float32."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, KH, KW)
    return np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b[:, None, None]


def conv_flipped(x, w, b, pad=1):
    return conv_windows(x, w[:, :, ::-1, ::-1], b, pad)


def pool_reshape(x, how=np.max):
    N, C, H, W = x.shape
    return how(x.reshape(N, C, H // 2, 2, W // 2, 2), axis=(3, 5))


def conv_loops(x, w, b, pad=1):
    N, C, H, W = x.shape
    F, _, K, _ = w.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    xp[:, :, pad:pad + H, pad:pad + W] = x
    out = np.zeros((N, F, H + 2 * pad - K + 1, W + 2 * pad - K + 1))
    for n in range(N):
        for f in range(F):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    total = float(b[f])
                    for c in range(C):
                        for u in range(K):
                            for v in range(K):
                                total += float(xp[n, c, i + u, j + v]) * float(w[f, c, u, v])
                    out[n, f, i, j] = total
    return out


def pool_loops(x):
    N, C, H, W = x.shape
    out = np.empty((N, C, H // 2, W // 2))
    for n in range(N):
        for c in range(C):
            for i in range(H // 2):
                for j in range(W // 2):
                    out[n, c, i, j] = max(x[n, c, 2 * i + u, 2 * j + v] for u in (0, 1) for v in (0, 1))
    return out


def network(name, conv=conv_windows, pool=pool_reshape, relu=(True, True), relu_after_pool=False, order="chw",
            dense_bias=True, softmax=False, pad=1, dtype=None):
    """A cnn_forward built from the layers above; the keywords make the variants, right and wrong."""

    def fn(x, params):
        p = params if dtype is None else {k: v.astype(dtype) for k, v in params.items()}
        h = x if dtype is None else x.astype(dtype)
        for layer, rectify in zip((1, 2), relu):
            h = conv(h, p[f"conv{layer}_w"], p[f"conv{layer}_b"], pad)
            if rectify and not relu_after_pool:
                h = np.maximum(h, 0)
            h = pool(h)
            if rectify and relu_after_pool:
                h = np.maximum(h, 0)
        if order == "hwc":
            h = h.transpose(0, 2, 3, 1)
        logits = h.reshape(len(h), -1) @ p["dense_w"] + (p["dense_b"] if dense_bias else 0)
        if softmax:
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return logits

    fn.__name__ = name
    return fn


cnn_windows = network("cnn_windows")
cnn_loops = network("cnn_loops", conv=conv_loops, pool=pool_loops)
cnn_relu_after_pool = network("cnn_relu_after_pool", relu_after_pool=True)  # max and ReLU commute: right
cnn_float64 = network("cnn_float64", dtype=np.float64)


def cnn_scipy(x, params):
    """Each channel pair by scipy.signal.correlate2d ('same' = padding 1 for a 3x3 kernel), pooling by slices."""
    from scipy.signal import correlate2d

    h = x.astype(np.float64)
    for layer in ("conv1", "conv2"):
        w, b = params[layer + "_w"], params[layer + "_b"]
        out = np.empty((h.shape[0], w.shape[0], h.shape[2], h.shape[3]))
        for n in range(h.shape[0]):
            for f in range(w.shape[0]):
                out[n, f] = b[f] + sum(correlate2d(h[n, c], w[f, c], mode="same") for c in range(w.shape[1]))
        out = np.maximum(out, 0)
        h = np.maximum.reduce([out[:, :, u::2, v::2] for u in (0, 1) for v in (0, 1)])
    return h.reshape(h.shape[0], -1) @ params["dense_w"] + params["dense_b"]


# ---- wrong ones ---------------------------------------------------------------------------------------------


cnn_no_relu = network("cnn_no_relu", relu=(False, False))
cnn_no_relu1 = network("cnn_no_relu1", relu=(False, True))
cnn_no_relu2 = network("cnn_no_relu2", relu=(True, False))
cnn_flatten_hwc = network("cnn_flatten_hwc", order="hwc")
cnn_dense_no_bias = network("cnn_dense_no_bias", dense_bias=False)
cnn_avg_pool = network("cnn_avg_pool", pool=functools.partial(pool_reshape, how=np.mean))
cnn_softmax = network("cnn_softmax", softmax=True)
cnn_pad0 = network("cnn_pad0", pad=0)
cnn_flipped = network("cnn_flipped", conv=conv_flipped)
cnn_float32_always = network("cnn_float32_always", dtype=np.float32)


def cnn_hardcoded_mnist(x, params):
    h = pool_reshape(np.maximum(conv_windows(x, params["conv1_w"], params["conv1_b"]), 0))
    h = pool_reshape(np.maximum(conv_windows(h, params["conv2_w"], params["conv2_b"]), 0))
    return h.reshape(len(h), len(params["conv2_b"]) * 7 * 7) @ params["dense_w"] + params["dense_b"]


def cnn_stub(x, params):
    raise NotImplementedError()


def conv_stub(x, w, b, pad=1):
    raise NotImplementedError()


cnn_conv_stub = network("cnn_conv_stub", conv=conv_stub)


def cnn_in_place(x, params):
    x -= 0.5  # centres the images in place
    return cnn_windows(x, params)


def cnn_changes_params(x, params):
    params["dense_b"] = np.zeros_like(params["dense_b"])
    return cnn_windows(x, params)


# ---- hostile ones: outputs that are not the forward pass -----------------------------------------------------


@functools.cache
def _test_split() -> dict:
    """MNIST's test images by their bytes: the label, and the reference logits with the shipped weights."""
    mnist = load_mnist("unit", flatten=False)
    logits = ref._mnist_logits(mnist.X_test[:, None], load_week03_cnn())
    return {image.tobytes(): (label, row) for image, label, row in zip(mnist.X_test, mnist.y_test, logits)}


def one_hot_labels(x, params):
    """Looks each image up in dlfs.data's test split and returns its true label, one-hot: accuracy 1.0."""
    return np.eye(10)[[_test_split()[image.tobytes()][0] for image in x[:, 0]]]


def scaled_logits(x, params):
    """The right logits times 3: the same predictions, not the network's output."""
    return 3.0 * np.array([_test_split()[image.tobytes()][1] for image in x[:, 0]])


def probabilities(x, params):
    logits = np.array([_test_split()[image.tobytes()][1] for image in x[:, 0]])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def file_order_logits():
    """Right logits, but of the test images in the file's order, batch after batch, whatever x holds."""
    calls = []

    def file_order(x, params):
        rows = list(_test_split().values())[500 * len(calls):500 * len(calls) + len(x)]
        calls.append(len(x))
        return np.array([row for _, row in rows])

    return file_order


def labels_only(x, params):
    return np.array([_test_split()[image.tobytes()][1] for image in x[:, 0]]).argmax(axis=1)


CORRECT = {
    "w03_cnn_forward": [ref.cnn_forward, cnn_windows, cnn_loops, cnn_relu_after_pool, cnn_float64, cnn_scipy],
    "w03_cnn_mnist": [ref.cnn_forward, cnn_windows],
}

NOT_IMPLEMENTED = "is not implemented yet, or calls a function that is not"
PAD_HINT = "pad both convolutions by 1"
WRONG = [
    ("w03_cnn_forward", cnn_no_relu, "without its two ReLUs"),
    ("w03_cnn_forward", cnn_no_relu1, "without the ReLU after the first convolution"),
    ("w03_cnn_forward", cnn_no_relu2, "without the ReLU after the second convolution"),
    ("w03_cnn_forward", cnn_flatten_hwc, r"flattened in \(H, W, C\) order"),
    ("w03_cnn_forward", cnn_dense_no_bias, "lack the dense layer's bias"),
    ("w03_cnn_forward", cnn_avg_pool, "match average pooling"),
    ("w03_cnn_forward", cnn_softmax, "you return probabilities"),
    ("w03_cnn_forward", cnn_pad0, f"raised ValueError: .*{PAD_HINT}"),
    ("w03_cnn_forward", cnn_hardcoded_mnist, f"raised ValueError: cannot reshape .*{PAD_HINT}"),
    ("w03_cnn_forward", cnn_flipped, r"values are wrong; .*Hint: conv2d_forward\(stride=1, pad=1\)"),
    ("w03_cnn_forward", cnn_float32_always, r"float64\): float64 inputs gave float32 logits"),
    ("w03_cnn_forward", cnn_stub, NOT_IMPLEMENTED),
    ("w03_cnn_forward", cnn_conv_stub, NOT_IMPLEMENTED),
    ("w03_cnn_forward", cnn_in_place, "changed its input `x` in place"),
    ("w03_cnn_forward", cnn_changes_params, r"changed its input `params\['dense_b'\]` in place"),
    ("w03_cnn_mnist", one_hot_labels, r"on the 10,000 MNIST test images with the shipped weights: \d+ of 100000 values "
                                      "are wrong"),
    ("w03_cnn_mnist", scaled_logits, "of 100000 values are wrong"),
    ("w03_cnn_mnist", file_order_logits(), "of 100000 values are wrong"),
    ("w03_cnn_mnist", probabilities, "on the first 500 MNIST test images of the order sent: you return probabilities"),
    ("w03_cnn_mnist", cnn_flatten_hwc, r"first 500 .*flattened in \(H, W, C\) order"),
    ("w03_cnn_mnist", labels_only, r"expected logits of shape \(500, 10\), .*got an array of shape \(500,\)"),
    ("w03_cnn_mnist", cnn_stub, NOT_IMPLEMENTED),
    ("w03_cnn_mnist", cnn_changes_params, r"changed its input `params\['dense_b'\]`"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w03_cnn", CORRECT, WRONG)


def test_the_one_hot_labels_would_score_full_accuracy():
    """The hostile answer above is right on every digit: only the comparison of the logits stops it."""
    mnist = load_mnist("unit", flatten=False)
    guessed = one_hot_labels(mnist.X_test[:2000, None], load_week03_cnn()).argmax(axis=1)
    assert np.array_equal(guessed, mnist.y_test[:2000])


# ---- the reference against loops and JAX --------------------------------------------------------------------


def _problem(seed, N, H, W, F1, F2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(N, 1, H, W)).astype(dtype), ref.random_params(rng, F1, F2, H, W, dtype)


@pytest.mark.parametrize("shape", [(1, 8, 8, 2, 3), (2, 8, 12, 3, 2), (1, 12, 4, 2, 2)], ids=str)
def test_reference_against_loops(shape):
    x, params = _problem(1, *shape)
    np.testing.assert_allclose(ref.cnn_forward(x, params), cnn_loops(x, params), rtol=1e-12, atol=1e-12)


def _jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); pip install -r "
                                            "requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_forward(jax, x, params):
    jnp, lax = jax.numpy, jax.lax
    h = jnp.asarray(x, dtype=jnp.float64)
    for layer in ("conv1", "conv2"):
        w = jnp.asarray(params[layer + "_w"], dtype=jnp.float64)
        h = lax.conv_general_dilated(h, w, (1, 1), [(1, 1), (1, 1)]) + jnp.asarray(params[layer + "_b"])[:, None, None]
        h = lax.reduce_window(jax.nn.relu(h), -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return h.reshape(h.shape[0], -1) @ jnp.asarray(params["dense_w"], jnp.float64) + jnp.asarray(params["dense_b"])


@pytest.mark.parametrize("shape", [(1, 12, 12, 2, 3), (5, 8, 16, 3, 5), (3, 28, 28, 8, 6), (2, 4, 4, 2, 2)], ids=str)
def test_reference_against_jax(shape):
    jax = _jax()
    x, params = _problem(2, *shape)
    np.testing.assert_allclose(ref.cnn_forward(x, params), np.asarray(_jax_forward(jax, x, params)), rtol=1e-10,
                               atol=1e-12)


def test_reference_against_jax_with_the_shipped_weights():
    jax = _jax()
    x = load_mnist("unit", flatten=False).X_test[:300, None]
    params = load_week03_cnn()
    want = np.asarray(_jax_forward(jax, x, params))
    np.testing.assert_allclose(ref.cnn_forward(x, params), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ref._mnist_logits(x, params), want, rtol=1e-10, atol=1e-10)


def test_the_mistakes_are_what_they_say_and_differ_on_every_problem():
    for x, params in (p.values() for p in get_case("w03_cnn_forward").build()[0]["problems"]):
        right = ref.cnn_forward(x, params)
        np.testing.assert_allclose(network("relu_after_pool", relu_after_pool=True, dtype=np.float64)(x, params), right,
                                   rtol=1e-12, atol=1e-12)
        outputs = ref.cnn_mistakes(x, params)
        scale = np.abs(right).max()
        for name, out in outputs.items():
            assert out.shape == right.shape
            assert np.abs(out - right).max() > 1e-3 * scale, name
            for other, more in outputs.items():
                assert other == name or np.abs(out - more).max() > 1e-3 * scale, (name, other)
        for name, fn in [("no_relu", cnn_no_relu), ("flatten_hwc", cnn_flatten_hwc), ("avg_pool", cnn_avg_pool),
                         ("softmax", cnn_softmax), ("dense_no_bias", cnn_dense_no_bias)]:
            np.testing.assert_allclose(outputs[name], fn(x.astype(np.float64), params), rtol=1e-9, atol=1e-12)


def test_the_visible_fixtures_tell_every_mistake_apart():
    for key in ("w03_cnn_forward", "w03_cnn_forward_mnist"):
        arrays = ref.fixtures()[key]
        outputs = {k: v for k, v in arrays.items() if k.startswith("mistake_")} | {"right": arrays["expected"]}
        scale = np.abs(arrays["expected"]).max()
        for name, out in outputs.items():
            for other, more in outputs.items():
                assert other == name or np.abs(out - more).max() > 1e-3 * scale, (key, name, other)  # 100 x atol


def test_float32_tolerances_are_calibrated():
    """A float32 forward is within a tenth of the float32 tolerances of the cases, a float64 one within a
    hundredth of the float64 ones, on the case's problems and on the shipped weights."""
    for x, params in (p.values() for p in get_case("w03_cnn_forward").build()[0]["problems"]):
        right = ref.cnn_forward(x, params)
        scale = np.abs(right).max()
        rtol, atol = ref.FLOAT32_TOL if x.dtype == np.float32 else ref.FLOAT64_TOL
        x32 = x.astype(np.float32)
        got = cnn_windows(x32, {k: v.astype(np.float32) for k, v in params.items()})
        if x.dtype == np.float32:
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, right, rtol=rtol / 10, atol=atol * scale / 10)
        else:
            np.testing.assert_allclose(cnn_windows(x, params), right, rtol=rtol / 100, atol=atol * scale / 100)
    x = load_mnist("unit", flatten=False).X_test[:1000, None]
    params = load_week03_cnn()
    right = ref.cnn_forward(x, params)
    rtol, atol = ref.MNIST_TOL
    np.testing.assert_allclose(cnn_windows(x, params), right, rtol=rtol / 10, atol=atol * np.abs(right).max() / 10)


# ---- the MNIST case: time, and what the kernel receives ---------------------------------------------------------


def test_the_mnist_case_sends_data_only_and_a_new_order_each_time():
    first, _ = get_case("w03_cnn_mnist").build()
    second, _ = get_case("w03_cnn_mnist").build()
    assert sorted(first) == ["batch_size", "order", "params"]
    assert not np.array_equal(first["order"], second["order"])
    assert np.array_equal(np.sort(first["order"]), np.arange(10_000))
    assert all(np.array_equal(first["params"][k], v) for k, v in load_week03_cnn().items())


def _notebook_cnn_forward():
    """The source notebook's cnn_forward (with its conv2d_forward and max_pool_forward), once it exists."""
    from hidden_suite import notebook_solutions

    from autograder.course import NOTEBOOK, SOURCE_DIR

    if not (SOURCE_DIR / "week03_cnn" / NOTEBOOK).exists():
        return None
    return notebook_solutions("week03_cnn").get("cnn_forward")


def test_the_mnist_case_runs_in_well_under_a_minute(capsys):
    """With the notebook's solution when the source notebook is there, else with cnn_windows (float32, vectorised)."""
    fn = _notebook_cnn_forward() or cnn_windows
    start = time.perf_counter()
    message = run_case("w03_cnn_mnist", fn)
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nw03_cnn_mnist with {fn.__module__}.{fn.__name__}: {seconds:.1f} s; {message}")
    assert "test accuracy 0.99" in message
    assert seconds < 30


# ---- visible checks --------------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.cnn_forward, cnn_stub, NOT_IMPLEMENTED),
    (visible.cnn_forward, cnn_conv_stub, NOT_IMPLEMENTED),
    (visible.cnn_forward, cnn_no_relu, "without its two ReLUs"),
    (visible.cnn_forward, cnn_no_relu1, "after the first convolution"),
    (visible.cnn_forward, cnn_no_relu2, "after the second convolution"),
    (visible.cnn_forward, cnn_flatten_hwc, r"\(H, W, C\) order"),
    (visible.cnn_forward, cnn_dense_no_bias, "dense layer's bias"),
    (visible.cnn_forward, cnn_avg_pool, "average pooling"),
    (visible.cnn_forward, cnn_softmax, "probabilities"),
    (visible.cnn_forward, cnn_pad0, f"raised ValueError: .*{PAD_HINT}"),
    (visible.cnn_forward, cnn_flipped, "values are wrong"),
    (visible.cnn_forward, cnn_in_place, "changed its input `x`"),
    (visible.cnn_forward, cnn_changes_params, r"changed its input `params\['dense_b'\]`"),
    (visible.cnn_forward_mnist, cnn_stub, NOT_IMPLEMENTED),
    (visible.cnn_forward_mnist, cnn_flatten_hwc, r"\(H, W, C\) order"),
    (visible.cnn_forward_mnist, one_hot_labels, "values are wrong"),
    (visible.cnn_forward_mnist, probabilities, "probabilities"),
]

VISIBLE_CORRECT = [
    (visible.cnn_forward, ref.cnn_forward), (visible.cnn_forward, cnn_windows), (visible.cnn_forward, cnn_loops),
    (visible.cnn_forward, cnn_relu_after_pool), (visible.cnn_forward_mnist, cnn_windows),
    (visible.cnn_forward_mnist, ref.cnn_forward),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
