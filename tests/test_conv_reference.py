"""The reference convolution and pooling (``autograder/cases/conv_reference.py``) against independent
computations written here (explicit loops, brute-force counts, scipy), against JAX's convolution, pooling and
autodiff, against centred differences (``autograder.gradcheck``), and the fast versions against the naive ones."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.cases import conv_reference as ref
from autograder.gradcheck import numerical_gradient_array

pytestmark = [pytest.mark.autograder]

# (N, C, H, W, F, KH, KW, stride, pad): N = 1, C = 1 and 3, non-square images and kernels, stride 1, 2 and 3
# (one that does not divide H + 2P - K), pad 0, 1 and 2, a 1x1 kernel.
CONV_SHAPES = [
    (1, 1, 5, 5, 1, 3, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 3, 1, 1),
    (2, 3, 8, 5, 2, 3, 2, 2, 1),
    (1, 3, 6, 9, 3, 2, 4, 2, 2),
    (3, 1, 9, 7, 2, 5, 3, 1, 2),
    (2, 2, 7, 7, 3, 3, 3, 3, 0),
    (1, 3, 4, 4, 2, 1, 1, 1, 0),
    (2, 1, 6, 5, 2, 6, 5, 1, 0),
]
CONV_IDS = ["N{}C{}H{}W{}F{}K{}x{}S{}P{}".format(*s) for s in CONV_SHAPES]

# (N, C, H, W, pool, stride): non-overlapping, overlapping (stride < pool), dropped borders, non-square.
POOL_SHAPES = [(2, 3, 4, 4, 2, 2), (1, 1, 5, 7, 2, 2), (2, 2, 7, 6, 3, 2), (1, 3, 6, 5, 2, 1), (3, 1, 9, 8, 3, 3)]
POOL_IDS = ["N{}C{}H{}W{}k{}S{}".format(*s) for s in POOL_SHAPES]


def _conv_problem(shape, seed=0, dtype=np.float64):
    N, C, H, W, F, KH, KW, S, P = shape
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, KH, KW)), rng.normal(size=F)
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    dout = rng.normal(size=(N, F, OH, OW))
    return tuple(a.astype(dtype) for a in (x, w, b, dout)) + (S, P)


def _pool_problem(shape, seed=0):
    N, C, H, W, k, S = shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C, H, W))  # continuous: no ties
    dout = rng.normal(size=(N, C, (H - k) // S + 1, (W - k) // S + 1))
    return x, dout, k, S


# ---- output size and padding ----------------------------------------------------------------------------


@pytest.mark.parametrize("H", [1, 2, 5, 7, 28])
@pytest.mark.parametrize("K", [1, 2, 3, 5])
@pytest.mark.parametrize("P", [0, 1, 2])
@pytest.mark.parametrize("S", [1, 2, 3])
def test_conv_output_size_counts_the_window_positions(H, K, P, S):
    if K > H + 2 * P:
        with pytest.raises(ValueError, match="larger than the padded input"):
            ref.conv_output_size(H, K, P, S)
    else:  # brute force: the windows that start at 0, S, 2S, ... and end inside the padded input
        assert ref.conv_output_size(H, K, P, S) == sum(1 for start in range(0, H + 2 * P, S) if start + K <= H + 2 * P)


def test_conv_output_size_examples():
    assert ref.conv_output_size(28, 3, 1, 1) == 28
    assert ref.conv_output_size(28, 2, 0, 2) == 14
    assert ref.conv_output_size(7, 3, 0, 2) == 3
    assert ref.conv_output_size(8, 3, 0, 2) == 3  # (8 - 3) / 2 = 2.5: the last row is dropped
    assert ref.conv_output_size(224, 11, 2, 4) == 55  # AlexNet's first layer


@pytest.mark.parametrize(("args", "message"), [
    ((5, 6, 0, 1), "larger than the padded input"), ((3, 8, 2, 1), "larger than the padded input"),
    ((5, 3, 0, 0), "stride"), ((5, 3, 0, -1), "stride"), ((5, 3, -1, 1), "padding"), ((5, 0, 0, 1), "kernel size"),
    ((0, 1, 0, 1), "input size"), ((5.0, 3, 0, 1), "integer"), ((5, 3, 0, 1.5), "integer"), ((5, True, 0, 1), "integer"),
])
def test_conv_output_size_errors(args, message):
    with pytest.raises(ValueError, match=message):
        ref.conv_output_size(*args)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (2, 3, 4, 1)], ids=str)
@pytest.mark.parametrize("P", [0, 1, 2])
def test_pad2d(shape, P):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    expected = np.zeros(shape[:-2] + (shape[-2] + 2 * P, shape[-1] + 2 * P), dtype=np.float32)
    expected[..., P:P + shape[-2], P:P + shape[-1]] = x
    got = ref.pad2d(x, P)
    assert got.dtype == np.float32 and not np.shares_memory(got, x)
    np.testing.assert_array_equal(got, expected)


def test_pad2d_errors():
    with pytest.raises(ValueError, match="padding"):
        ref.pad2d(np.zeros((3, 3)), -1)
    with pytest.raises(ValueError, match="last two axes"):
        ref.pad2d(np.zeros(3), 1)


# ---- single-channel correlation and convolution ----------------------------------------------------------


def _correlate_loops(image, kernel):
    KH, KW = kernel.shape
    out = np.zeros((image.shape[0] - KH + 1, image.shape[1] - KW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for u in range(KH):
                for v in range(KW):
                    out[i, j] += image[i + u, j + v] * kernel[u, v]
    return out


@pytest.mark.parametrize(("image_shape", "kernel_shape"), [((5, 5), (3, 3)), ((6, 9), (2, 4)), ((4, 3), (4, 1)),
                                                           ((3, 3), (3, 3)), ((7, 5), (1, 1))], ids=str)
def test_correlate_and_convolve_against_loops_and_scipy(image_shape, kernel_shape):
    rng = np.random.default_rng(1)
    image, kernel = rng.normal(size=image_shape), rng.normal(size=kernel_shape)
    np.testing.assert_allclose(ref.correlate2d(image, kernel), _correlate_loops(image, kernel), rtol=1e-12, atol=1e-13)
    flipped = np.zeros(kernel.shape)
    for u in range(kernel.shape[0]):
        for v in range(kernel.shape[1]):
            flipped[u, v] = kernel[kernel.shape[0] - 1 - u, kernel.shape[1] - 1 - v]
    np.testing.assert_allclose(ref.convolve2d(image, kernel), _correlate_loops(image, flipped), rtol=1e-12, atol=1e-13)
    signal = pytest.importorskip("scipy.signal", reason="scipy comes with jax (requirements-dev.txt)")
    np.testing.assert_allclose(ref.convolve2d(image, kernel), signal.convolve2d(image, kernel, mode="valid"),
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ref.correlate2d(image, kernel), signal.correlate2d(image, kernel, mode="valid"),
                               rtol=1e-12, atol=1e-13)


def test_correlate_vs_convolve_on_an_asymmetric_kernel():
    image = np.zeros((5, 5))
    image[2, 2] = 1.0  # an impulse: correlation gives the flipped kernel, convolution the kernel itself
    kernel = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(ref.convolve2d(image, kernel), kernel)
    np.testing.assert_array_equal(ref.correlate2d(image, kernel), kernel[::-1, ::-1])


def test_correlate_keeps_float32_and_refuses_bad_shapes():
    image = np.ones((4, 4), dtype=np.float32)
    assert ref.correlate2d(image, np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    assert ref.correlate2d(np.ones((4, 4), dtype=int), np.ones((2, 2), dtype=int)).dtype == np.float64
    for kernel in (np.ones((5, 2)), np.ones((2, 2, 1)), np.ones((0, 2))):
        with pytest.raises(ValueError):
            ref.correlate2d(image, kernel)


# ---- naive convolution (ground truth) against loops, differences and JAX -----------------------------------


def test_conv_forward_naive_by_hand():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    out, _ = ref.conv_forward_naive(x, w, np.array([0.5]), stride=2, pad=0)
    np.testing.assert_array_equal(out, [[[[0 + 1 + 4 + 5 + 0.5, 2 + 3 + 6 + 7 + 0.5],
                                          [8 + 9 + 12 + 13 + 0.5, 10 + 11 + 14 + 15 + 0.5]]]])
    out, _ = ref.conv_forward_naive(x, w, np.zeros(1), stride=1, pad=1)
    assert out.shape == (1, 1, 5, 5) and out[0, 0, 0, 0] == 0.0 and out[0, 0, 4, 4] == 15.0


def test_conv_forward_naive_is_a_sum_of_single_channel_correlations():
    x, w, b, _, S, P = _conv_problem(CONV_SHAPES[1])
    out, _ = ref.conv_forward_naive(x, w, b, S, P)
    xp = ref.pad2d(x, P)
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            expected = sum(_correlate_loops(xp[n, c], w[f, c]) for c in range(x.shape[1])) + b[f]
            np.testing.assert_allclose(out[n, f], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [CONV_SHAPES[0], CONV_SHAPES[2], CONV_SHAPES[3], CONV_SHAPES[5]], ids=str)
def test_conv_backward_naive_against_centred_differences(shape):
    x, w, b, dout, S, P = _conv_problem(shape, seed=2)
    dx, dw, db = ref.conv_backward_naive(dout, ref.conv_forward_naive(x, w, b, S, P)[1])
    for got, arg in ((dx, x), (dw, w), (db, b)):
        def f(v, arg=arg):
            args = [v if a is arg else a for a in (x, w, b)]
            return ref.conv_forward_naive(*args, S, P)[0]
        np.testing.assert_allclose(got, numerical_gradient_array(f, arg, dout), rtol=1e-7, atol=1e-8)


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_conv(jax, S, P):
    def conv(x, w, b):
        out = jax.lax.conv_general_dilated(x, w, window_strides=(S, S), padding=[(P, P), (P, P)],
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]
    return conv


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_conv_naive_and_fast_against_jax(jax, shape):
    x, w, b, dout, S, P = _conv_problem(shape, seed=3)
    out, vjp = jax.vjp(_jax_conv(jax, S, P), x, w, b)
    expected = vjp(dout)
    for forward, backward in ((ref.conv_forward_naive, ref.conv_backward_naive),
                              (ref.conv_forward_fast, ref.conv_backward_fast)):
        mine, cache = forward(x, w, b, S, P)
        np.testing.assert_allclose(mine, out, rtol=1e-10, atol=1e-12)
        for got, theirs in zip(backward(dout, cache), expected, strict=True):
            assert got.shape == theirs.shape
            np.testing.assert_allclose(got, theirs, rtol=1e-10, atol=1e-12)


# ---- fast against naive ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_conv_fast_equals_naive(shape):
    x, w, b, dout, S, P = _conv_problem(shape, seed=4)
    naive, naive_cache = ref.conv_forward_naive(x, w, b, S, P)
    fast, fast_cache = ref.conv_forward_fast(x, w, b, S, P)
    assert fast.shape == naive.shape and fast.dtype == np.float64
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-10)
    for got, expected in zip(ref.conv_backward_fast(dout, fast_cache), ref.conv_backward_naive(dout, naive_cache),
                             strict=True):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [CONV_SHAPES[1], CONV_SHAPES[3]], ids=str)
def test_conv_keeps_float32(shape):
    x, w, b, dout, S, P = _conv_problem(shape, seed=5)
    x32, w32, b32, dout32 = (a.astype(np.float32) for a in (x, w, b, dout))
    exact_out, exact_cache = ref.conv_forward_naive(x32.astype(np.float64), w32, b32.astype(np.float64), S, P)
    exact_grads = ref.conv_backward_naive(dout32.astype(np.float64), exact_cache)
    for forward, backward in ((ref.conv_forward_naive, ref.conv_backward_naive),
                              (ref.conv_forward_fast, ref.conv_backward_fast)):
        out, cache = forward(x32, w32, b32, S, P)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, exact_out, rtol=1e-5, atol=1e-5)
        for got, expected in zip(backward(dout32, cache), exact_grads, strict=True):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_conv_backward_fast_against_centred_differences():
    x, w, b, dout, S, P = _conv_problem((2, 3, 6, 7, 2, 3, 2, 2, 1), seed=6)
    grads = ref.conv_backward_fast(dout, ref.conv_forward_fast(x, w, b, S, P)[1])
    for got, arg in zip(grads, (x, w, b), strict=True):
        def f(v, arg=arg):
            return ref.conv_forward_fast(*[v if a is arg else a for a in (x, w, b)], S, P)[0]
        np.testing.assert_allclose(got, numerical_gradient_array(f, arg, dout), rtol=1e-7, atol=1e-8)


def test_conv_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="channels or filters"):
        ref.conv_forward_fast(np.zeros((1, 2, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="channels or filters"):
        ref.conv_forward_naive(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="larger than the padded input"):
        ref.conv_forward_fast(np.zeros((1, 1, 2, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1))


# ---- im2col and col2im ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_im2col_against_loops_and_col2im_is_its_adjoint(shape):
    N, C, H, W, _, KH, KW, S, P = shape
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, C, H, W))
    OH, OW = ref.conv_output_size(H, KH, P, S), ref.conv_output_size(W, KW, P, S)
    xp = ref.pad2d(x, P)
    expected = np.zeros((N, C * KH * KW, OH * OW))
    scattered = np.zeros_like(xp)
    c_rand = rng.normal(size=expected.shape)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                expected[n, :, i * OW + j] = xp[n, :, i * S:i * S + KH, j * S:j * S + KW].ravel()
                scattered[n, :, i * S:i * S + KH, j * S:j * S + KW] += c_rand[n, :, i * OW + j].reshape(C, KH, KW)
    cols = ref.im2col(x, KH, KW, S, P)
    np.testing.assert_array_equal(cols, expected)
    back = ref.col2im(c_rand, x.shape, KH, KW, S, P)
    np.testing.assert_allclose(back, scattered[:, :, P:P + H, P:P + W], rtol=1e-12, atol=1e-13)
    # the adjoint identity <im2col(x), c> = <x, col2im(c)>
    np.testing.assert_allclose(np.vdot(cols, c_rand), np.vdot(x, back), rtol=1e-12)


def test_im2col_layout_matches_the_weights_and_keeps_float32():
    x = np.random.default_rng(8).normal(size=(2, 3, 5, 4)).astype(np.float32)
    w = np.random.default_rng(9).normal(size=(4, 3, 2, 3)).astype(np.float32)
    cols = ref.im2col(x, 2, 3, 1, 1)
    assert cols.shape == (2, 3 * 2 * 3, 6 * 4) and cols.dtype == np.float32
    assert ref.col2im(cols, x.shape, 2, 3, 1, 1).dtype == np.float32
    out = (w.reshape(4, -1) @ cols).reshape(2, 4, 6, 4)
    np.testing.assert_allclose(out, ref.conv_forward_naive(x, w, np.zeros(4, np.float32), 1, 1)[0], rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="cols must have shape"):
        ref.col2im(cols[:, :-1], x.shape, 2, 3, 1, 1)


def test_col2im_adds_overlaps():
    # 3x3 windows with stride 1 on a 4x4 image: the centre pixels belong to 4 windows, the corners to 1
    cols = np.ones((1, 9, 4))
    np.testing.assert_array_equal(ref.col2im(cols, (1, 1, 4, 4), 3, 3, 1, 0)[0, 0],
                                  [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


# ---- pooling ---------------------------------------------------------------------------------------------


def _pool_loops(x, k, S, reduce):
    N, C, H, W = x.shape
    OH, OW = (H - k) // S + 1, (W - k) // S + 1
    out = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = reduce(x[:, :, i * S:i * S + k, j * S:j * S + k], axis=(2, 3))
    return out


def _max_pool_backward_loops(x, dout, k, S):
    """The first maximum in row-major order of each window gets the window's gradient (np.argmax's choice)."""
    dx = np.zeros_like(x)
    N, C, OH, OW = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    u, v = np.unravel_index(np.argmax(x[n, c, i * S:i * S + k, j * S:j * S + k]), (k, k))
                    dx[n, c, i * S + u, j * S + v] += dout[n, c, i, j]
    return dx


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=POOL_IDS)
def test_pooling_against_loops(shape):
    x, dout, k, S = _pool_problem(shape, seed=10)
    out, cache = ref.max_pool_forward(x, k, S)
    np.testing.assert_array_equal(out, _pool_loops(x, k, S, np.max))
    # overlapping windows add up in another order: equal to rounding
    np.testing.assert_allclose(ref.max_pool_backward(dout, cache), _max_pool_backward_loops(x, dout, k, S),
                               rtol=1e-13, atol=1e-15)
    out, cache = ref.avg_pool_forward(x, k, S)
    np.testing.assert_allclose(out, _pool_loops(x, k, S, np.mean), rtol=1e-13, atol=1e-14)
    dx = ref.avg_pool_backward(dout, cache)
    expected = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            expected[:, :, i * S:i * S + k, j * S:j * S + k] += dout[:, :, i:i + 1, j:j + 1] / k**2
    np.testing.assert_allclose(dx, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=POOL_IDS)
def test_pooling_against_jax(jax, shape):
    jnp = jax.numpy
    x, dout, k, S = _pool_problem(shape, seed=11)

    def max_pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, k, k), (1, 1, S, S), "VALID")

    def avg_pool(x):
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 1, k, k), (1, 1, S, S), "VALID") / k**2

    for jax_fn, forward, backward in ((max_pool, ref.max_pool_forward, ref.max_pool_backward),
                                      (avg_pool, ref.avg_pool_forward, ref.avg_pool_backward)):
        out, vjp = jax.vjp(jax_fn, x)
        mine, cache = forward(x, k, S)
        np.testing.assert_allclose(mine, out, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(backward(dout, cache), vjp(dout)[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape", [POOL_SHAPES[0], POOL_SHAPES[2]], ids=str)
def test_pooling_against_centred_differences(shape):
    x, dout, k, S = _pool_problem(shape, seed=12)
    for forward, backward in ((ref.max_pool_forward, ref.max_pool_backward),
                              (ref.avg_pool_forward, ref.avg_pool_backward)):
        dx = backward(dout, forward(x, k, S)[1])
        numerical = numerical_gradient_array(lambda v, forward=forward: forward(v, k, S)[0], x, dout)
        np.testing.assert_allclose(dx, numerical, rtol=1e-7, atol=1e-8)


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0, 2.0, 2.0],
                    [3.0, 0.0, 2.0, 2.0],
                    [5.0, 5.0, 0.0, 7.0],
                    [5.0, 5.0, 7.0, 1.0]]]])
    out, cache = ref.max_pool_forward(x, 2, 2)
    np.testing.assert_array_equal(out, [[[[3, 2], [5, 7]]]])
    dx = ref.max_pool_backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 10, 20, 0],
                                         [0, 0, 0, 0],
                                         [30, 0, 0, 40],
                                         [0, 0, 0, 0]]]])
    # a constant image: every window's gradient goes to its top-left entry; overlapping windows add up
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    out, cache = ref.max_pool_forward(x, 2, 1)
    dx = ref.max_pool_backward(np.ones((1, 1, 2, 2), dtype=np.float32), cache)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # the total gradient is conserved whatever the ties
    x = np.random.default_rng(13).integers(0, 2, size=(2, 3, 6, 6)).astype(np.float64)
    dout = np.random.default_rng(14).normal(size=(2, 3, 3, 3))
    dx = ref.max_pool_backward(dout, ref.max_pool_forward(x, 2, 2)[1])
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), dout.sum(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_array_equal(dx, _max_pool_backward_loops(x, dout, 2, 2))


def test_pooling_defaults_dtypes_and_errors():
    x = np.random.default_rng(15).normal(size=(2, 2, 6, 6)).astype(np.float32)
    out, cache = ref.max_pool_forward(x)  # pool 2, stride 2
    assert out.shape == (2, 2, 3, 3) and out.dtype == np.float32
    assert ref.max_pool_backward(np.ones_like(out), cache).dtype == np.float32
    out, cache = ref.avg_pool_forward(x, 3)
    assert out.shape == (2, 2, 2, 2) and out.dtype == np.float32
    assert ref.avg_pool_backward(np.ones_like(out), cache).dtype == np.float32
    with pytest.raises(ValueError, match="larger than the padded input"):
        ref.max_pool_forward(x, 7)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ref.avg_pool_forward(x[0], 2)


# ---- parameter counts and receptive fields ---------------------------------------------------------------

WEEK03_CNN = [
    {"type": "conv", "in": 1, "out": 8, "k": 3, "stride": 1, "pad": 1}, {"type": "relu"},
    {"type": "maxpool", "k": 2, "stride": 2},
    {"type": "conv", "in": 8, "out": 16, "k": 3, "pad": 1}, {"type": "relu"}, {"type": "maxpool", "k": 2},
    {"type": "flatten"}, {"type": "dense", "in": 784, "out": 10},
]


def test_count_params():
    assert ref.count_params(WEEK03_CNN) == (8 * 9 + 8) + (16 * 8 * 9 + 16) + (784 * 10 + 10)
    assert ref.count_params([{"type": "conv", "in": 3, "out": 64, "k": 7, "bias": False}]) == 64 * 3 * 49
    assert ref.count_params([{"type": "dense", "in": 1568, "out": 10}]) == 15690
    assert ref.count_params([{"type": "relu"}, {"type": "flatten"}, {"type": "avgpool", "k": 2}]) == 0
    # against the arrays a network of that architecture holds
    arrays = [np.zeros((8, 1, 3, 3)), np.zeros(8), np.zeros((16, 8, 3, 3)), np.zeros(16), np.zeros((784, 10)),
              np.zeros(10)]
    assert ref.count_params(WEEK03_CNN) == sum(a.size for a in arrays)


def test_receptive_field_examples():
    assert ref.receptive_field([]) == 1
    assert ref.receptive_field(WEEK03_CNN) == 10
    assert ref.receptive_field(WEEK03_CNN[:3]) == 4
    assert ref.receptive_field([{"type": "conv", "in": 1, "out": 1, "k": 3}] * 3) == 7  # three 3x3 = one 7x7
    assert ref.receptive_field([{"type": "conv", "in": 3, "out": 96, "k": 11, "stride": 4},
                                {"type": "maxpool", "k": 3, "stride": 2}]) == 19


@pytest.mark.parametrize("layers", [
    WEEK03_CNN[:6],
    [{"type": "conv", "in": 1, "out": 2, "k": 5, "stride": 2}, {"type": "avgpool", "k": 3, "stride": 2},
     {"type": "conv", "in": 2, "out": 1, "k": 3}],
    [{"type": "conv", "in": 1, "out": 1, "k": 2, "pad": 2}, {"type": "maxpool", "k": 3, "stride": 1},
     {"type": "conv", "in": 1, "out": 2, "k": 3, "stride": 3}],
], ids=["week03", "strided", "overlapping"])
def test_receptive_field_is_the_support_of_a_units_gradient(layers):
    """Run the layers (every pool as average pooling, positive weights, no ReLU: no gradient cancels), send a
    gradient of 1 into one output unit, and measure the input pixels it reaches."""
    rng = np.random.default_rng(16)
    x = rng.uniform(0.5, 1.0, size=(1, 1, 40, 40))
    caches, h = [], x
    for layer in layers:
        if layer["type"] == "conv":
            w = rng.uniform(0.5, 1.0, size=(layer["out"], layer["in"], layer["k"], layer["k"]))
            h, cache = ref.conv_forward_fast(h, w, np.zeros(layer["out"]), layer.get("stride", 1), layer.get("pad", 0))
            caches.append((ref.conv_backward_fast, cache))
        elif layer["type"] in ("maxpool", "avgpool"):
            h, cache = ref.avg_pool_forward(h, layer["k"], layer.get("stride"))
            caches.append((ref.avg_pool_backward, cache))
    d = np.zeros_like(h)
    d[0, 0, h.shape[2] // 2, h.shape[3] // 2] = 1.0  # an interior unit: its field is not cut by the border
    for backward, cache in reversed(caches):
        d = backward(d, cache)
        d = d[0] if isinstance(d, tuple) else d
    rows, cols = np.nonzero(d[0, 0])
    assert rows.max() - rows.min() + 1 == ref.receptive_field(layers)
    assert cols.max() - cols.min() + 1 == ref.receptive_field(layers)


@pytest.mark.parametrize("layers", [
    [{"type": "softmax"}], [{"type": "conv", "in": 1, "out": 8}], [{"type": "dense", "in": 3, "out": 2, "k": 3}],
    [{"type": "conv", "in": 1, "out": 8, "k": 0}], [{"type": "conv", "in": 1, "out": 8, "k": 3, "pad": -1}],
    [{"type": "maxpool", "k": 2.0}], ["relu"],
], ids=str)
def test_architecture_format_errors(layers):
    with pytest.raises(ValueError, match="layer 0"):
        ref.count_params(layers)
    with pytest.raises(ValueError, match="layer 0"):
        ref.receptive_field(layers)
