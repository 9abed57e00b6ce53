"""Week 3, single-channel filters (correlate2d, convolve2d, sobel_gradients, gaussian_kernel): references,
known mistakes, hidden cases, fixtures.

correlate2d and convolve2d are :mod:`conv_reference`'s; the two new references are here:

    gx = pad2d(image, 1) (x) SOBEL_X,  gy = pad2d(image, 1) (x) SOBEL_Y,  magnitude = sqrt(gx^2 + gy^2)
    K[u, v] = exp(-((u - c)^2 + (v - c)^2) / (2 sigma^2)) / Z,  c = (size - 1) / 2,  Z = the sum of the numerators

with (x) the 'valid' cross-correlation and SOBEL_Y = SOBEL_X^T.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from autograder.cases.conv_reference import convolve2d, correlate2d, pad2d
from autograder.cases.w03_sizes import require_value_error
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, expect, mistakes_on
from dlfs.checks import check_array
from dlfs.checks.w03_filters import CONVOLVE_HINT, CORRELATE_HINT, GAUSSIAN_HINT, SOBEL_HINT, SOBEL_PARTS
from dlfs.checks.w03_sizes import shown_call
from dlfs.grading import Call

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T

SHORT = ("your output is one row and one column short: a KH x KW kernel fits at H - KH + 1 rows and W - KW + 1 "
         "columns (range(H - KH + 1)), not H - KH.")
CORRELATE_MISTAKES = {
    "flipped": ("your output is the convolution (the kernel flipped on both axes): cross-correlation multiplies "
                "image[i + u, j + v] by kernel[u, v] as it is."),
    "short": SHORT,
    "transposed": ("your output is the correlation with the transposed kernel: kernel[u, v] goes with "
                   "image[i + u, j + v], u along the rows (axis 0) and v along the columns."),
}
CONVOLVE_MISTAKES = {
    "no_flip": "your output is the cross-correlation: a convolution flips the kernel on both axes first.",
    "rows_only": "you flipped the kernel upside down only (axis 0): flip both axes, kernel[::-1, ::-1].",
    "columns_only": "you flipped the kernel left to right only (axis 1): flip both axes, kernel[::-1, ::-1].",
    "transposed": ("you transposed the kernel (kernel.T) instead of flipping it: the flip reverses both axes, "
                   "kernel[::-1, ::-1], which is a 180-degree rotation, not a transpose."),
    "short": SHORT,
}
SOBEL_MISTAKES = {
    "swapped": "your gx and gy are swapped: gx comes from SOBEL_X (it responds to vertical edges), gy from SOBEL_Y.",
    "convolution": ("your gx and gy have the wrong sign: they are convolutions (the flipped Sobel kernel is -SOBEL_X); "
                    "use correlate2d, which does not flip."),
    "no_padding": ("your results are 2 rows and 2 columns smaller than the image: pad the image with one ring of zeros "
                   "(pad2d(image, 1)) before correlating, so they keep the image's shape."),
    "abs_sum": "your magnitude is |gx| + |gy|: the length of the gradient is sqrt(gx**2 + gy**2).",
    "no_sqrt": "your magnitude is gx**2 + gy**2: take the square root, sqrt(gx**2 + gy**2).",
}
GAUSSIAN_MISTAKES = {
    "not_normalised": ("your kernel's largest entry is 1: it is not normalised (or divided by its maximum); divide by "
                       "its sum, so that blurring keeps the image's brightness."),
    "sigma_as_variance": "your exponent divides by 2 sigma: divide by 2 sigma**2 (sigma is the standard deviation).",
    "corner": ("your kernel peaks in its corner: measure the distances from the centre, u - c and v - c with "
               "c = (size - 1) / 2."),
    "centre_off": "your kernel is centred at size / 2, half a pixel off: the centre of 0 .. size - 1 is (size - 1) / 2.",
    "analytic_norm": ("your kernel is divided by 2 pi sigma**2, the normalisation of the continuous Gaussian: on a "
                      "finite grid divide by the sum of the entries, so that they add up to exactly 1."),
    "one_d": "your kernel is 1-D: return the (size, size) 2-D kernel (the outer product of the 1-D one with itself).",
    "size_as_radius": ("your kernel has 2 size + 1 rows: size is the whole width (offsets -(size - 1)/2 .. (size - 1)/2), "
                       "not the radius."),
}
#: gaussian_kernel calls that must raise ValueError, and why.
BAD_GAUSSIANS = [
    ((4, 1.0), "an even size has no centre pixel"),
    ((-3, 1.0), "the size must be at least 1"),
    ((0, 1.0), "the size must be at least 1"),
    ((5, 0.0), "sigma = 0 divides by zero: sigma must be positive"),
    ((5, -1.5), "sigma must be positive"),
]
VALID_GAUSSIANS = [(1, 0.5), (3, 2)]


# ---- the new references --------------------------------------------------------------------------------


def sobel_gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gx, gy, magnitude) of a 2-D image, each of the image's shape, in float64:

        gx = correlate2d(pad2d(image, 1), SOBEL_X),  gy = correlate2d(pad2d(image, 1), SOBEL_Y),
        magnitude = sqrt(gx^2 + gy^2)   (np.hypot, which does not overflow).
    """
    zero_ringed = pad2d(np.asarray(image, dtype=np.float64), 1)
    along_x, along_y = correlate2d(zero_ringed, SOBEL_X), correlate2d(zero_ringed, SOBEL_Y)
    return along_x, along_y, np.hypot(along_x, along_y)


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """The (size, size) Gaussian kernel of standard deviation ``sigma``, normalised to sum 1, in float64:

        K[u, v] = g[u] g[v] / (sum g)^2,   g[u] = exp(-(u - c)^2 / (2 sigma^2)),   c = (size - 1) / 2,

    which is exp(-((u - c)^2 + (v - c)^2) / (2 sigma^2)) / Z (the exponential of a sum is the product).
    Raises ValueError for a size that is not an odd integer >= 1 or a sigma that is not > 0.
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 1, got {size!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    offsets = np.arange(int(size)) - (int(size) - 1) / 2
    g = np.exp(-(offsets**2) / (2.0 * float(sigma) ** 2))
    g /= g.sum()
    return np.outer(g, g)


# ---- what the known mistakes output --------------------------------------------------------------------


def _f64(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def correlate_mistakes(image: np.ndarray, kernel: np.ndarray) -> dict[str, np.ndarray]:
    image, kernel = _f64(image, kernel)
    found = {"flipped": convolve2d(image, kernel), "short": correlate2d(image, kernel)[:-1, :-1]}
    if kernel.shape[1] <= image.shape[0] and kernel.shape[0] <= image.shape[1]:
        found["transposed"] = correlate2d(image, kernel.T)
    return found


def convolve_mistakes(image: np.ndarray, kernel: np.ndarray) -> dict[str, np.ndarray]:
    image, kernel = _f64(image, kernel)
    found = {"no_flip": correlate2d(image, kernel), "rows_only": correlate2d(image, kernel[::-1]),
             "columns_only": correlate2d(image, kernel[:, ::-1]), "short": convolve2d(image, kernel)[:-1, :-1]}
    if kernel.shape[1] <= image.shape[0] and kernel.shape[0] <= image.shape[1]:
        found["transposed"] = correlate2d(image, kernel.T)
    return found


def sobel_mistakes(image: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per part (gx, gy, magnitude), what each known Sobel mistake outputs."""
    (image,) = _f64(image)
    gx, gy, magnitude = sobel_gradients(image)
    found = {"gx": {"swapped": gy, "convolution": -gx}, "gy": {"swapped": gx, "convolution": -gy},
             "magnitude": {"abs_sum": np.abs(gx) + np.abs(gy), "no_sqrt": gx**2 + gy**2}}
    if min(image.shape) >= 3:
        bare_x, bare_y = correlate2d(image, SOBEL_X), correlate2d(image, SOBEL_Y)
        found["gx"]["no_padding"], found["gy"]["no_padding"] = bare_x, bare_y
        found["magnitude"]["no_padding"] = np.hypot(bare_x, bare_y)
    return found


def gaussian_mistakes(size: int, sigma: float) -> dict[str, np.ndarray]:
    """What each known gaussian_kernel mistake outputs for (size, sigma)."""
    centred = np.arange(size) - (size - 1) / 2

    def bell(offsets: np.ndarray, denominator: float) -> np.ndarray:
        return np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / denominator)

    peak_one = bell(centred, 2 * sigma**2)
    variance, corner, shifted = bell(centred, 2 * sigma), bell(np.arange(size), 2 * sigma**2), bell(centred - 0.5, 2 * sigma**2)
    line = np.exp(-(centred**2) / (2 * sigma**2))
    wide = bell(np.arange(-size, size + 1), 2 * sigma**2)
    return {"not_normalised": peak_one, "sigma_as_variance": variance / variance.sum(), "corner": corner / corner.sum(),
            "centre_off": shifted / shifted.sum(), "analytic_norm": peak_one / (2 * math.pi * sigma**2),
            "one_d": line / line.sum(), "size_as_radius": wide / wide.sum()}


# ---- hidden cases ----------------------------------------------------------------------------------------


def _tolerances(*arrays: np.ndarray, scale: float) -> tuple[float, float]:
    """float32 tolerances when any input is float32, else float64 ones; ``scale``: the size of the values."""
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return 1e-5, 1e-5 * scale
    return 1e-7, 1e-12 * scale


def _pairs(rng: np.random.Generator, shapes: list[tuple]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(image, kernel, label) for (image shape, kernel shape[, kind]); kind float32, or int for an integer image."""
    found = []
    for image_shape, kernel_shape, *kind in shapes:
        image, kernel = rng.normal(size=image_shape), rng.normal(size=kernel_shape)
        if kind == ["float32"]:
            image, kernel = image.astype(np.float32), kernel.astype(np.float32)
        elif kind == ["int"]:
            image = rng.integers(0, 10, size=image_shape)
        found.append((image, kernel, f"an image {image_shape} ({image.dtype}) and a kernel {kernel_shape}"))
    return found


def _filter_case(pairs, reference, mistakes_of, messages, hint: str, summary: str):
    def judge(answers: Answers, context: Context) -> str:
        for i, (image, kernel, label) in enumerate(pairs):
            want = reference(*_f64(image, kernel))
            rtol, atol = _tolerances(image, kernel, scale=max(1.0, float(np.abs(want).max())))
            expect(answers, i, want, label=label, rtol=rtol, atol=atol, hint=hint, arguments=("image", "kernel"),
                   mistakes=mistakes_on(mistakes_of(image, kernel), messages))
        return summary

    return {"calls": [Call((image, kernel)) for image, kernel, _ in pairs]}, judge


@case("w03_correlate2d")
def correlate2d_case(rng: np.random.Generator):
    """Square and non-square images and kernels, a kernel as tall as the image, as large as the image (one
    output), 1 x 1, a one-row image, float32, an integer image: whole outputs against the reference."""
    pairs = _pairs(rng, [((5, 5), (3, 3)), ((6, 9), (2, 4)), ((4, 3), (4, 1)), ((3, 3), (3, 3)), ((7, 5), (1, 1)),
                         ((1, 6), (1, 3)), ((12, 10), (5, 3), "float32"), ((8, 7), (3, 3), "int")])
    return _filter_case(pairs, correlate2d, correlate_mistakes, CORRELATE_MISTAKES, CORRELATE_HINT,
                        f"{len(pairs)} image and kernel shapes agree with the reference (float32 and integers included)")


@case("w03_convolve2d")
def convolve2d_case(rng: np.random.Generator):
    """Asymmetric kernels, square and non-square, one as large as the image, a 1 x 1, float32: whole outputs
    against the reference (= scipy.signal.convolve2d(..., mode='valid'))."""
    pairs = _pairs(rng, [((6, 6), (3, 3)), ((5, 9), (3, 2)), ((8, 4), (2, 4)), ((4, 4), (4, 4)), ((6, 5), (1, 1)),
                         ((10, 12), (3, 5), "float32"), ((7, 6), (2, 2), "int")])
    return _filter_case(pairs, convolve2d, convolve_mistakes, CONVOLVE_MISTAKES, CONVOLVE_HINT,
                        f"{len(pairs)} image and kernel shapes agree with the reference: the kernel is flipped")


@case("w03_sobel_gradients")
def sobel_gradients_case(rng: np.random.Generator):
    """A noisy bright rectangle, random non-square images, tiny ones (2 x 3, one row), a float32 28 x 28 and
    an integer image: gx, gy and the magnitude against the reference, each of the image's shape."""
    rectangle = np.zeros((8, 10))
    rectangle[2:6, 3:8] = 1.0
    images = [rectangle + 0.05 * rng.normal(size=rectangle.shape), rng.normal(size=(9, 5)), rng.normal(size=(2, 3)),
              rng.normal(size=(1, 4)), rng.uniform(0, 1, size=(28, 28)).astype(np.float32),
              rng.integers(0, 10, size=(6, 6)), rng.normal(size=(5, 12))]

    def judge(answers: Answers, context: Context) -> str:
        for i, image in enumerate(images):
            label = f"an image {image.shape} ({image.dtype})"
            got = answers.parts(answers.result(i, label, ("image",)), *SOBEL_PARTS)
            wrong = sobel_mistakes(image)
            for part, value, want in zip(SOBEL_PARTS, got, sobel_gradients(image)):
                rtol, atol = _tolerances(image, scale=max(1.0, float(np.abs(want).max())))
                check_array(f"{context.name} on {label}: {part}", value, want, rtol=rtol, atol=atol, hint=SOBEL_HINT,
                            mistakes=mistakes_on(wrong[part], SOBEL_MISTAKES))
        return f"gx, gy and the magnitude of {len(images)} images agree with the reference"

    return {"calls": [Call((image,)) for image in images]}, judge


@case("w03_gaussian_kernel")
def gaussian_kernel_case(rng: np.random.Generator):
    """Sizes 1 to 11 with sigma from 0.8 to 10 (an int sigma included): whole kernels against the reference."""
    settings = [(3, 1.0), (5, 0.8), (7, 2.5), (1, 1.0), (9, 1.5), (3, 10.0), (5, 2), (11, 3.0)]

    def judge(answers: Answers, context: Context) -> str:
        for i, (size, sigma) in enumerate(settings):
            expect(answers, i, gaussian_kernel(size, sigma), label=f"size {size}, sigma {sigma}", rtol=1e-7, atol=1e-15,
                   hint=GAUSSIAN_HINT, mistakes=mistakes_on(gaussian_mistakes(size, sigma), GAUSSIAN_MISTAKES),
                   arguments=("size", "sigma"))
        return f"{len(settings)} kernels agree with the reference (centred, sum 1, sigma the standard deviation)"

    return {"calls": [Call(setting) for setting in settings]}, judge


@case("w03_gaussian_kernel_errors")
def gaussian_kernel_errors(rng: np.random.Generator):
    """An even size, sizes -3 and 0, sigma 0 and sigma < 0 each raise ValueError; size 1 and an int sigma do not."""

    def judge(answers: Answers, context: Context) -> str:
        for i, (args, why) in enumerate(BAD_GAUSSIANS):
            require_value_error(answers, i, shown_call(context.name, args), why)
        for i, args in enumerate(VALID_GAUSSIANS, start=len(BAD_GAUSSIANS)):
            expect(answers, i, gaussian_kernel(*args), label=f"size {args[0]}, sigma {args[1]} (a valid setting)",
                   rtol=1e-7, atol=1e-15, hint=GAUSSIAN_HINT)
        return "even sizes, sizes below 1 and sigma <= 0 raise ValueError; size 1 gives [[1.0]]"

    return {"calls": [Call(args) for args, _ in BAD_GAUSSIANS] + [Call(args) for args in VALID_GAUSSIANS]}, judge


# ---- fixtures of the visible checks ----------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(32)
    image, kernel = rng.normal(size=(6, 8)), rng.normal(size=(3, 2))
    correlation = {"image": image, "kernel": kernel, "expected": correlate2d(image, kernel)}
    image2, kernel2 = rng.normal(size=(7, 5)), rng.normal(size=(2, 3))
    convolution = {"image": image2, "kernel": kernel2, "expected": convolve2d(image2, kernel2)}
    rectangle = np.zeros((7, 9))
    rectangle[2:5, 3:7] = 1.0
    rectangle += 0.1 * rng.normal(size=rectangle.shape)
    sobel = {"image": rectangle} | {f"expected_{part}": out for part, out in zip(SOBEL_PARTS, sobel_gradients(rectangle))}
    for part, outputs in sobel_mistakes(rectangle).items():
        sobel |= stored(outputs, SOBEL_MISTAKES, suffix=f"_{part}")
    size, sigma = 5, 1.5
    gaussian = {"size": np.array(size), "sigma": np.array(sigma), "expected": gaussian_kernel(size, sigma),
                "expected_one": gaussian_kernel(1, 0.7), "error_size": np.array([6, -1, 3, 3]),
                "error_sigma": np.array([1.0, 1.0, 0.0, -2.0]),
                "error_why": np.array(["an even size has no centre pixel", "the size must be at least 1",
                                       "sigma must be positive", "sigma must be positive"])}
    return {
        "w03_filters_correlate2d": correlation | stored(correlate_mistakes(image, kernel), CORRELATE_MISTAKES),
        "w03_filters_convolve2d": convolution | stored(convolve_mistakes(image2, kernel2), CONVOLVE_MISTAKES),
        "w03_filters_sobel": sobel,
        "w03_filters_gaussian": gaussian | stored(gaussian_mistakes(size, sigma), GAUSSIAN_MISTAKES),
    }
