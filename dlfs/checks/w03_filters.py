"""Week 3, single-channel filters (correlate2d, convolve2d, sobel_gradients, gaussian_kernel): the visible
checks. Their hidden cases need only calls."""

from __future__ import annotations

from collections.abc import Callable

from dlfs.checks import call, check_array, check_unchanged, expect, fixture, passed, stored_mistakes, unpack
from dlfs.checks.w03_sizes import must_raise

__all__ = ["correlate2d", "convolve2d", "sobel_gradients", "gaussian_kernel"]

CORRELATE_HINT = ("out[i, j] = sum over u, v of image[i + u, j + v] * kernel[u, v], for 0 <= i <= H - KH and "
                  "0 <= j <= W - KW; the kernel is not flipped, and the result is a float array.")
CONVOLVE_HINT = "a convolution is the cross-correlation with the kernel flipped on both axes, kernel[::-1, ::-1]."
SOBEL_HINT = ("pad the image with one ring of zeros (pad2d(image, 1)), correlate it with SOBEL_X for gx and SOBEL_Y "
              "for gy, and take magnitude = sqrt(gx**2 + gy**2).")
GAUSSIAN_HINT = ("K[u, v] = exp(-((u - c)**2 + (v - c)**2) / (2 sigma**2)) with the centre c = (size - 1) / 2, "
                 "then divide by K.sum().")
SOBEL_PARTS = ("gx", "gy", "magnitude")


def correlate2d(fn: Callable) -> None:
    """Check the 'valid' cross-correlation of a stored non-square image with a non-square kernel."""
    a = fixture("w03_filters_correlate2d")
    expect(fn, (a["image"], a["kernel"]), a["expected"], mistakes=stored_mistakes(a), rtol=1e-7, atol=1e-12,
           label=f"an image {a['image'].shape} and a kernel {a['kernel'].shape}", hint=CORRELATE_HINT)
    passed(f"{fn.__name__}: output {a['expected'].shape} = (H - KH + 1, W - KW + 1), kernel not flipped")


def convolve2d(fn: Callable) -> None:
    """Check the 'valid' convolution of a stored image with an asymmetric, non-square kernel."""
    a = fixture("w03_filters_convolve2d")
    expect(fn, (a["image"], a["kernel"]), a["expected"], mistakes=stored_mistakes(a), rtol=1e-7, atol=1e-12,
           label=f"an image {a['image'].shape} and a kernel {a['kernel'].shape}", hint=CONVOLVE_HINT)
    passed(f"{fn.__name__}: the kernel is flipped on both axes before the correlation")


def sobel_gradients(fn: Callable) -> None:
    """Check gx, gy and the gradient magnitude of a stored image holding a bright rectangle."""
    a = fixture("w03_filters_sobel")
    image = a["image"].copy()
    result = unpack(fn.__name__, call(fn, image), *SOBEL_PARTS)
    check_unchanged(fn.__name__, a["image"], image, "image")
    for part, got in zip(SOBEL_PARTS, result):
        check_array(f"{fn.__name__}: {part}", got, a[f"expected_{part}"], rtol=1e-7, atol=1e-12,
                    mistakes=stored_mistakes(a, suffix=f"_{part}"), hint=SOBEL_HINT)
    passed(f"{fn.__name__}: gx, gy and the magnitude have the image's shape {image.shape} and the right values")


def gaussian_kernel(fn: Callable) -> None:
    """Check a stored 5 x 5 kernel and the 1 x 1 one, and that even sizes, sizes below 1 and sigma <= 0 raise
    ValueError."""
    a = fixture("w03_filters_gaussian")
    for size, sigma, key in ((int(a["size"]), float(a["sigma"]), "expected"), (1, 0.7, "expected_one")):
        expect(fn, (size, sigma), a[key], mistakes=stored_mistakes(a) if key == "expected" else (), rtol=1e-7,
               atol=1e-15, label=f"size {size}, sigma {sigma}", hint=GAUSSIAN_HINT)
    for size, sigma, why in zip(a["error_size"], a["error_sigma"], a["error_why"]):
        must_raise(fn, (int(size), float(sigma)), str(why))
    passed(f"{fn.__name__}: centred, sums to 1, sigma is the standard deviation; bad sizes and sigmas raise ValueError")
