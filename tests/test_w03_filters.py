"""Week 3 single-channel filters: the two new references (Sobel gradients, the Gaussian kernel) against SciPy,
JAX and closed forms; the hidden tests pass correct variants and fail the known mistakes; the visible checks
name them. correlate2d and convolve2d are conv_reference's (tested in test_conv_reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests
from numpy.lib.stride_tricks import sliding_window_view

from autograder.cases import conv_reference
from autograder.cases import w03_filters as ref
from dlfs.checks import week03 as visible

pytestmark = [pytest.mark.week03, pytest.mark.w03_filters, pytest.mark.autograder]

signal = pytest.importorskip("scipy.signal", reason="scipy comes with jax (requirements-dev.txt)")
ndimage = pytest.importorskip("scipy.ndimage", reason="scipy comes with jax (requirements-dev.txt)")

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


# ---- correlate2d and convolve2d --------------------------------------------------------------------------


def correlate_loops(image, kernel):
    KH, KW = kernel.shape
    out = np.zeros((image.shape[0] - KH + 1, image.shape[1] - KW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out


def correlate_windows(image, kernel):
    """Vectorised; float32 inputs stay float32."""
    return np.einsum("ijuv,uv->ij", sliding_window_view(image, kernel.shape), kernel)


def correlate_by_offsets(image, kernel):
    """One loop over the kernel entries, each adding a shifted slice of the image."""
    KH, KW = kernel.shape
    OH, OW = image.shape[0] - KH + 1, image.shape[1] - KW + 1
    out = np.zeros((OH, OW), dtype=np.result_type(image, kernel, np.float32))
    for u in range(KH):
        for v in range(KW):
            out += kernel[u, v] * image[u:u + OH, v:v + OW]
    return out


def correlate_scipy(image, kernel):
    return signal.correlate2d(image, kernel, mode="valid")


def correlate_flipped(image, kernel):
    return correlate_loops(image, kernel[::-1, ::-1])


def correlate_short(image, kernel):
    KH, KW = kernel.shape
    out = np.zeros((image.shape[0] - KH, image.shape[1] - KW))
    for i in range(image.shape[0] - KH):
        for j in range(image.shape[1] - KW):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out


def correlate_transposed(image, kernel):
    return correlate_loops(image, kernel.T)


def correlate_keeps_integers(image, kernel):
    """Allocates the output with the image's dtype: an integer image truncates the results."""
    out = np.zeros((image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1), dtype=image.dtype)
    out[...] = correlate_loops(image, kernel)
    return out


def correlate_stub(image, kernel):
    raise NotImplementedError()


def convolve_flip(image, kernel):
    return correlate_loops(image, kernel[::-1, ::-1])


def convolve_rot90(image, kernel):
    return correlate_windows(image, np.rot90(kernel, 2))


def convolve_scipy(image, kernel):
    return signal.convolve2d(image, kernel, mode="valid")


def convolve_no_flip(image, kernel):
    return correlate_loops(image, kernel)


def convolve_rows_only(image, kernel):
    return correlate_loops(image, kernel[::-1])


def convolve_columns_only(image, kernel):
    return correlate_loops(image, kernel[:, ::-1])


def convolve_transposed(image, kernel):
    return correlate_loops(image, kernel.T)


def convolve_short(image, kernel):
    return correlate_short(image, kernel[::-1, ::-1])


def convolve_in_place(image, kernel):
    """Flips the caller's kernel in place: the result is right, the kernel is not."""
    kernel[:] = kernel[::-1, ::-1].copy()
    return correlate_loops(image, kernel)


def convolve_stub(image, kernel):
    raise NotImplementedError()


# ---- sobel_gradients -------------------------------------------------------------------------------------


def sobel_loops(image):
    padded = np.pad(image, 1)
    gx, gy = correlate_loops(padded, SOBEL_X), correlate_loops(padded, SOBEL_X.T)
    return gx, gy, np.sqrt(gx**2 + gy**2)


def sobel_separable(image):
    """A derivative (-1, 0, 1) along one axis times a blur (1, 2, 1) along the other; float32 stays float32."""
    padded = np.pad(image, 1).astype(np.result_type(image, np.float32))
    rows = padded[:-2] + 2 * padded[1:-1] + padded[2:]              # blur along axis 0
    cols = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]     # blur along axis 1
    gx = rows[:, 2:] - rows[:, :-2]
    gy = cols[2:] - cols[:-2]
    return gx, gy, np.hypot(gx, gy)


def sobel_scipy(image):
    image = np.asarray(image, dtype=np.float64)
    gx, gy = ndimage.sobel(image, axis=1, mode="constant"), ndimage.sobel(image, axis=0, mode="constant")
    return [gx, gy, np.hypot(gx, gy)]


def sobel_swapped(image):
    gx, gy, magnitude = sobel_loops(image)
    return gy, gx, magnitude


def sobel_convolution(image):
    padded = np.pad(image, 1)
    gx, gy = convolve_flip(padded, SOBEL_X), convolve_flip(padded, SOBEL_X.T)
    return gx, gy, np.sqrt(gx**2 + gy**2)


def sobel_no_padding(image):
    gx, gy = correlate_loops(image, SOBEL_X), correlate_loops(image, SOBEL_X.T)
    return gx, gy, np.sqrt(gx**2 + gy**2)


def sobel_abs_sum(image):
    gx, gy, _ = sobel_loops(image)
    return gx, gy, np.abs(gx) + np.abs(gy)


def sobel_no_sqrt(image):
    gx, gy, _ = sobel_loops(image)
    return gx, gy, gx**2 + gy**2


def sobel_two_parts(image):
    return sobel_loops(image)[:2]


def sobel_stub(image):
    raise NotImplementedError()


# ---- gaussian_kernel -------------------------------------------------------------------------------------


def _refuse(size, sigma):
    if size < 1 or size % 2 == 0 or sigma <= 0:
        raise ValueError(f"size must be odd and >= 1 and sigma > 0; got {size}, {sigma}")


def gaussian_direct(size, sigma):
    _refuse(size, sigma)
    c = (size - 1) / 2
    K = np.array([[math.exp(-((u - c) ** 2 + (v - c) ** 2) / (2 * sigma**2)) for v in range(size)] for u in range(size)])
    return K / K.sum()


def gaussian_meshgrid(size, sigma):
    _refuse(size, sigma)
    r = size // 2
    u, v = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    K = np.exp(-(u**2 + v**2) / (2.0 * sigma * sigma))
    return K / np.sum(K)


def gaussian_outer(size, sigma):
    _refuse(size, sigma)
    g = signal.windows.gaussian(size, sigma)
    return np.outer(g, g) / g.sum() ** 2


def _bell(size, sigma, offsets=None, denominator=None):
    offsets = np.arange(size) - (size - 1) / 2 if offsets is None else offsets
    return np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2 if denominator is None else denominator))


def gaussian_not_normalised(size, sigma):
    _refuse(size, sigma)
    return _bell(size, sigma)


def gaussian_max_normalised(size, sigma):
    _refuse(size, sigma)
    K = _bell(size, sigma)
    return K / K.max()


def gaussian_sigma_as_variance(size, sigma):
    _refuse(size, sigma)
    K = _bell(size, sigma, denominator=2 * sigma)
    return K / K.sum()


def gaussian_corner(size, sigma):
    _refuse(size, sigma)
    K = _bell(size, sigma, offsets=np.arange(size))
    return K / K.sum()


def gaussian_centre_off(size, sigma):
    _refuse(size, sigma)
    K = _bell(size, sigma, offsets=np.arange(size) - size / 2)
    return K / K.sum()


def gaussian_analytic_norm(size, sigma):
    _refuse(size, sigma)
    return _bell(size, sigma) / (2 * np.pi * sigma**2)


def gaussian_one_d(size, sigma):
    _refuse(size, sigma)
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_size_as_radius(size, sigma):
    _refuse(size, sigma)
    K = _bell(size, sigma, offsets=np.arange(-size, size + 1))
    return K / K.sum()


def gaussian_no_checks(size, sigma):
    K = _bell(size, sigma)
    return K / K.sum()


def gaussian_even_only(size, sigma):
    """Refuses even sizes and bad sigmas, but lets negative odd sizes through (an empty kernel)."""
    if size % 2 == 0 or sigma <= 0:
        raise ValueError("bad size or sigma")
    return gaussian_no_checks(size, sigma)


def gaussian_sigma_unchecked(size, sigma):
    if size < 1 or size % 2 == 0:
        raise ValueError("bad size")
    with np.errstate(all="ignore"):
        return gaussian_no_checks(size, sigma)


def gaussian_asserts(size, sigma):
    assert size >= 1 and size % 2 == 1 and sigma > 0
    return gaussian_no_checks(size, sigma)


def gaussian_refuses_small(size, sigma):
    """Refuses sigma < 1, and size 1 too."""
    if size < 3 or size % 2 == 0 or sigma < 1:
        raise ValueError("bad size or sigma")
    return gaussian_no_checks(size, sigma)


def gaussian_stub(size, sigma):
    raise NotImplementedError()


CORRECT = {
    "w03_correlate2d": [correlate_loops, correlate_windows, correlate_by_offsets, correlate_scipy, conv_reference.correlate2d],
    "w03_convolve2d": [convolve_flip, convolve_rot90, convolve_scipy, conv_reference.convolve2d],
    "w03_sobel_gradients": [sobel_loops, sobel_separable, sobel_scipy, ref.sobel_gradients],
    "w03_gaussian_kernel": [gaussian_direct, gaussian_meshgrid, gaussian_outer, ref.gaussian_kernel],
    "w03_gaussian_kernel_errors": [gaussian_direct, gaussian_meshgrid, gaussian_outer, ref.gaussian_kernel],
}

WRONG = [
    ("w03_correlate2d", correlate_flipped, "your output is the convolution"),
    ("w03_correlate2d", correlate_short, "one row and one column short"),
    ("w03_correlate2d", correlate_transposed, "transposed kernel"),
    ("w03_correlate2d", correlate_keeps_integers, r"on an image \(8, 7\) \(int64\) .*expected a floating-point array"),
    ("w03_correlate2d", correlate_stub, "not implemented yet"),
    ("w03_convolve2d", convolve_no_flip, "your output is the cross-correlation"),
    ("w03_convolve2d", convolve_rows_only, "upside down only"),
    ("w03_convolve2d", convolve_columns_only, "left to right only"),
    ("w03_convolve2d", convolve_transposed, r"transposed the kernel \(kernel.T\)"),
    ("w03_convolve2d", convolve_short, "one row and one column short"),
    ("w03_convolve2d", convolve_in_place, "changed its input `kernel` in place"),
    ("w03_convolve2d", convolve_stub, "not implemented yet"),
    ("w03_sobel_gradients", sobel_swapped, r": gx: your gx and gy are swapped"),
    ("w03_sobel_gradients", sobel_convolution, "wrong sign: they are convolutions"),
    ("w03_sobel_gradients", sobel_no_padding, "2 rows and 2 columns smaller"),
    ("w03_sobel_gradients", sobel_abs_sum, r"magnitude: your magnitude is \|gx\| \+ \|gy\|"),
    ("w03_sobel_gradients", sobel_no_sqrt, "take the square root"),
    ("w03_sobel_gradients", sobel_two_parts, r"must return a tuple \(gx, gy, magnitude\); got a tuple of 2"),
    ("w03_sobel_gradients", sobel_stub, "not implemented yet"),
    ("w03_gaussian_kernel", gaussian_not_normalised, "largest entry is 1"),
    ("w03_gaussian_kernel", gaussian_max_normalised, "largest entry is 1"),
    ("w03_gaussian_kernel", gaussian_sigma_as_variance, r"on size 5, sigma 0.8: your exponent divides by 2 sigma"),
    ("w03_gaussian_kernel", gaussian_corner, "peaks in its corner"),
    ("w03_gaussian_kernel", gaussian_centre_off, "half a pixel off"),
    ("w03_gaussian_kernel", gaussian_analytic_norm, "2 pi sigma"),
    ("w03_gaussian_kernel", gaussian_one_d, "your kernel is 1-D"),
    ("w03_gaussian_kernel", gaussian_size_as_radius, "2 size \\+ 1 rows"),
    ("w03_gaussian_kernel", gaussian_stub, "not implemented yet"),
    ("w03_gaussian_kernel_errors", gaussian_no_checks, r"gaussian_no_checks\(4, 1.0\) must raise ValueError; it returned an "
                                                       r"array of shape \(4, 4\): an even size"),
    ("w03_gaussian_kernel_errors", gaussian_even_only, r"\(-3, 1.0\) must raise ValueError; it returned an array of shape"),
    ("w03_gaussian_kernel_errors", gaussian_sigma_unchecked, r"\(5, 0.0\) must raise ValueError; it returned"),
    ("w03_gaussian_kernel_errors", gaussian_asserts, "must raise ValueError, not AssertionError"),
    ("w03_gaussian_kernel_errors", gaussian_refuses_small, r"on size 1, sigma 0.5 \(a valid setting\) raised ValueError"),
    ("w03_gaussian_kernel_errors", gaussian_stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w03_filters", CORRECT, WRONG)


# ---- the new references against SciPy, JAX and closed forms ----------------------------------------------

IMAGE_SHAPES = [(7, 9), (28, 28), (5, 3), (2, 3), (1, 4), (1, 1)]


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=str)
def test_sobel_against_scipy_ndimage(shape):
    image = np.random.default_rng(1).normal(size=shape)
    gx, gy, magnitude = ref.sobel_gradients(image)
    np.testing.assert_allclose(gx, ndimage.sobel(image, axis=1, mode="constant"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, ndimage.sobel(image, axis=0, mode="constant"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(magnitude, np.sqrt(gx**2 + gy**2), rtol=1e-14)
    assert gx.shape == gy.shape == magnitude.shape == shape


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=str)
def test_sobel_against_jax_convolution(jax, shape):
    image = np.random.default_rng(2).normal(size=shape)
    kernels = np.stack([SOBEL_X, SOBEL_X.T])[:, None]  # (2, 1, 3, 3): gx and gy as two filters
    out = jax.lax.conv_general_dilated(image[None, None], kernels, window_strides=(1, 1), padding=[(1, 1), (1, 1)])
    gx, gy, magnitude = ref.sobel_gradients(image)
    np.testing.assert_allclose(gx, np.asarray(out[0, 0]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, np.asarray(out[0, 1]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(magnitude, np.asarray(jax.numpy.hypot(out[0, 0], out[0, 1])), rtol=1e-12, atol=1e-12)


def test_sobel_by_hand_on_a_vertical_edge():
    image = np.zeros((5, 6))
    image[:, 3:] = 1.0  # dark left, bright right: an edge between columns 2 and 3
    gx, gy, magnitude = ref.sobel_gradients(image)
    np.testing.assert_array_equal(gx[1:-1], [[0, 0, 4, 4, 0, -4]] * 3)  # -4: the zero padding on the right
    np.testing.assert_array_equal(gy[1:-1, :3], 0.0)
    np.testing.assert_array_equal(gx[0], [0, 0, 3, 3, 0, -3])  # the top row sees one row of zeros above
    assert magnitude[2, 2] == 4.0 and ref.sobel_gradients(np.zeros((3, 3)))[2].max() == 0.0


def test_sobel_keeps_the_image_and_computes_integers_in_float64():
    image = np.arange(12).reshape(3, 4)
    before = image.copy()
    gx, gy, magnitude = ref.sobel_gradients(image)
    np.testing.assert_array_equal(image, before)
    assert gx.dtype == gy.dtype == magnitude.dtype == np.float64


@pytest.mark.parametrize(("size", "sigma"), [(1, 1.0), (3, 1.0), (5, 0.8), (7, 2.5), (11, 3.0), (3, 10.0), (9, 0.3)])
def test_gaussian_against_scipy(size, sigma):
    K = ref.gaussian_kernel(size, sigma)
    assert K.shape == (size, size) and K.dtype == np.float64
    assert math.isclose(K.sum(), 1.0, rel_tol=1e-14)
    np.testing.assert_allclose(K, K.T, rtol=1e-15)
    g = signal.windows.gaussian(size, sigma)  # exp(-n^2 / (2 sigma^2)), n centred, not normalised
    np.testing.assert_allclose(K, np.outer(g, g) / g.sum() ** 2, rtol=1e-13, atol=1e-300)
    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0  # the blur of an impulse is the (normalised, truncated) kernel
    blurred = ndimage.gaussian_filter(impulse, sigma, mode="constant", radius=size // 2)
    np.testing.assert_allclose(K, blurred, rtol=1e-12, atol=1e-300)


def test_gaussian_closed_form_3x3():
    a, b = math.exp(-0.5), math.exp(-1.0)  # one step from the centre, one diagonal step (sigma = 1)
    Z = 1 + 4 * a + 4 * b
    np.testing.assert_allclose(ref.gaussian_kernel(3, 1.0), np.array([[b, a, b], [a, 1, a], [b, a, b]]) / Z, rtol=1e-15)
    np.testing.assert_array_equal(ref.gaussian_kernel(1, 0.2), [[1.0]])


@pytest.mark.parametrize(("size", "sigma"), [(4, 1.0), (0, 1.0), (-3, 1.0), (5, 0.0), (5, -1.0), (3.0, 1.0), (True, 1.0)])
def test_gaussian_refuses_bad_settings(size, sigma):
    with pytest.raises(ValueError):
        ref.gaussian_kernel(size, sigma)


def test_mistake_outputs_are_those_mistakes():
    g = ref.gaussian_mistakes(5, 1.5)
    assert g["not_normalised"].max() == 1.0 and g["one_d"].shape == (5,) and g["size_as_radius"].shape == (11, 11)
    assert np.unravel_index(g["corner"].argmax(), (5, 5)) == (0, 0)
    np.testing.assert_allclose(g["sigma_as_variance"], ref.gaussian_kernel(5, math.sqrt(1.5)), rtol=1e-13)
    image = np.random.default_rng(3).normal(size=(6, 7))
    s = ref.sobel_mistakes(image)
    np.testing.assert_allclose(s["gx"]["convolution"], signal.convolve2d(np.pad(image, 1), SOBEL_X, mode="valid"), atol=1e-12)
    assert s["gx"]["no_padding"].shape == (4, 5) and "no_padding" not in ref.sobel_mistakes(image[:2])["gx"]
    kernel = np.random.default_rng(4).normal(size=(2, 3))
    c = ref.convolve_mistakes(image, kernel)
    np.testing.assert_allclose(c["no_flip"], signal.correlate2d(image, kernel, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(c["rows_only"], signal.convolve2d(image, kernel[:, ::-1], mode="valid"), atol=1e-12)
    np.testing.assert_allclose(ref.correlate_mistakes(image, kernel)["flipped"], signal.convolve2d(image, kernel, mode="valid"),
                               atol=1e-12)


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.correlate2d, correlate_stub, "not implemented yet"),
    (visible.correlate2d, correlate_flipped, "your output is the convolution"),
    (visible.correlate2d, correlate_short, "one row and one column short"),
    (visible.correlate2d, correlate_transposed, "transposed kernel"),
    (visible.convolve2d, convolve_stub, "not implemented yet"),
    (visible.convolve2d, convolve_no_flip, "your output is the cross-correlation"),
    (visible.convolve2d, convolve_rows_only, "upside down only"),
    (visible.convolve2d, convolve_columns_only, "left to right only"),
    (visible.convolve2d, convolve_transposed, "transposed the kernel"),
    (visible.convolve2d, convolve_in_place, "changed its input `argument 2` in place"),
    (visible.sobel_gradients, sobel_stub, "not implemented yet"),
    (visible.sobel_gradients, sobel_swapped, "swapped"),
    (visible.sobel_gradients, sobel_convolution, "wrong sign"),
    (visible.sobel_gradients, sobel_no_padding, "2 rows and 2 columns smaller"),
    (visible.sobel_gradients, sobel_abs_sum, r"\|gx\| \+ \|gy\|"),
    (visible.sobel_gradients, sobel_no_sqrt, "take the square root"),
    (visible.sobel_gradients, sobel_two_parts, "must return a tuple"),
    (visible.gaussian_kernel, gaussian_stub, "not implemented yet"),
    (visible.gaussian_kernel, gaussian_not_normalised, "largest entry is 1"),
    (visible.gaussian_kernel, gaussian_sigma_as_variance, "divides by 2 sigma"),
    (visible.gaussian_kernel, gaussian_corner, "corner"),
    (visible.gaussian_kernel, gaussian_centre_off, "half a pixel off"),
    (visible.gaussian_kernel, gaussian_analytic_norm, "2 pi sigma"),
    (visible.gaussian_kernel, gaussian_one_d, "1-D"),
    (visible.gaussian_kernel, gaussian_size_as_radius, "2 size \\+ 1 rows"),
    (visible.gaussian_kernel, gaussian_no_checks, r"gaussian_no_checks\(6, 1.0\) must raise ValueError; it returned an"),
    (visible.gaussian_kernel, gaussian_even_only, r"\(-1, 1.0\) must raise ValueError"),
    (visible.gaussian_kernel, gaussian_asserts, "not AssertionError"),
    (visible.gaussian_kernel, gaussian_refuses_small, "raised ValueError"),
]

VISIBLE_CORRECT = [
    (visible.correlate2d, correlate_loops), (visible.correlate2d, correlate_windows),
    (visible.correlate2d, correlate_by_offsets), (visible.convolve2d, convolve_flip), (visible.convolve2d, convolve_rot90),
    (visible.sobel_gradients, sobel_loops), (visible.sobel_gradients, sobel_separable),
    (visible.gaussian_kernel, gaussian_direct), (visible.gaussian_kernel, gaussian_meshgrid),
    (visible.gaussian_kernel, gaussian_outer),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
