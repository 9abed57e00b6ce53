"""Week 3 output sizes and padding: the hidden tests pass correct variants and fail the known mistakes; the
visible checks name them. The references are conv_reference's (tested in test_conv_reference.py); here they
are also compared with JAX's convolution output shapes and jnp.pad."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import conv_reference
from autograder.cases import w03_sizes as ref
from dlfs.checks import week03 as visible

pytestmark = [pytest.mark.week03, pytest.mark.w03_sizes, pytest.mark.autograder]


# ---- conv_output_size ------------------------------------------------------------------------------------


def _refuse(H, K, P, S, *, fits=lambda H, K, P: K <= H + 2 * P):
    if H < 1 or K < 1 or P < 0 or S < 1 or not fits(H, K, P):
        raise ValueError(f"impossible setting H={H}, K={K}, P={P}, S={S}")


def size_floor(H, K, P, S):
    _refuse(H, K, P, S)
    return math.floor((H + 2 * P - K) / S) + 1


def size_count(H, K, P, S):
    """Counts the window positions one by one."""
    _refuse(H, K, P, S)
    count, start = 0, 0
    while start + K <= H + 2 * P:
        count, start = count + 1, start + S
    return count


def size_numpy_int(H, K, P, S):
    _refuse(H, K, P, S)
    return np.int64(H + 2 * P - K) // S + 1


def size_no_plus_one(H, K, P, S):
    _refuse(H, K, P, S)
    return (H + 2 * P - K) // S


def size_p_not_doubled(H, K, P, S):
    _refuse(H, K, P, S)
    return (H + P - K) // S + 1


def size_ceil(H, K, P, S):
    _refuse(H, K, P, S)
    return math.ceil((H + 2 * P - K) / S) + 1


def size_true_division(H, K, P, S):
    _refuse(H, K, P, S)
    return (H + 2 * P - K) / S + 1


def size_float_floor(H, K, P, S):
    _refuse(H, K, P, S)
    return np.floor((H + 2 * P - K) / S) + 1


def size_no_checks(H, K, P, S):
    return (H + 2 * P - K) // S + 1 if S else 1


def size_zero_division(H, K, P, S):
    """Checks everything but the stride, so S = 0 divides by zero."""
    if H < 1 or K < 1 or P < 0 or K > H + 2 * P:
        raise ValueError("impossible setting")
    return (H + 2 * P - K) // S + 1


def size_kernel_vs_input(H, K, P, S):
    """Refuses K > H, forgetting the padding."""
    _refuse(H, K, P, S, fits=lambda H, K, P: K <= H)
    return (H + 2 * P - K) // S + 1


def size_refuses_equality(H, K, P, S):
    _refuse(H, K, P, S, fits=lambda H, K, P: K < H + 2 * P)
    return (H + 2 * P - K) // S + 1


def size_type_error(H, K, P, S):
    if H < 1 or K < 1 or P < 0 or S < 1 or K > H + 2 * P:
        raise TypeError("bad setting")
    return (H + 2 * P - K) // S + 1


def size_stub(H, K, P, S):
    raise NotImplementedError()


# ---- pad2d -----------------------------------------------------------------------------------------------


def pad_np(x, P):
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(P, P)] * 2)


def pad_loop(x, P):
    """Copies row by row of every leading index."""
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (H + 2 * P, W + 2 * P), dtype=x.dtype)
    for index in np.ndindex(x.shape[:-2]):
        for i in range(H):
            out[index + (P + i, slice(P, P + W))] = x[index + (i,)]
    return out


def pad_every_axis(x, P):
    return np.pad(x, P)


def pad_first_axes(x, P):
    return np.pad(x, [(P, P), (P, P)] + [(0, 0)] * (x.ndim - 2))


def pad_one_side(x, P):
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, P), (0, P)])


def pad_one_side_before(x, P):
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(P, 0), (P, 0)])


def pad_float64(x, P):
    out = np.zeros(x.shape[:-2] + (x.shape[-2] + 2 * P, x.shape[-1] + 2 * P))
    out[..., P:P + x.shape[-2], P:P + x.shape[-1]] = x
    return out


def pad_negative_slices(x, P):
    """x[..., P:-P, P:-P] is empty for P = 0: the copy fails to broadcast."""
    out = np.zeros(x.shape[:-2] + (x.shape[-2] + 2 * P, x.shape[-1] + 2 * P), dtype=x.dtype)
    out[..., P:-P, P:-P] = x
    return out


def pad_stub(x, P):
    raise NotImplementedError()


CORRECT = {
    "w03_conv_output_size": [size_floor, size_count, size_numpy_int, conv_reference.conv_output_size],
    "w03_conv_output_size_errors": [size_floor, size_count, size_numpy_int, conv_reference.conv_output_size],
    "w03_pad2d": [pad_np, pad_loop, conv_reference.pad2d],
}

WRONG = [
    ("w03_conv_output_size", size_no_plus_one, "one short"),
    ("w03_conv_output_size", size_p_not_doubled, "use H \\+ P"),
    ("w03_conv_output_size", size_ceil, "round up"),
    ("w03_conv_output_size", size_true_division, "fractions"),
    ("w03_conv_output_size", size_float_floor, r"size_float_floor\(28, 3, 1, 1\) returned 28\.0, a float"),
    ("w03_conv_output_size", size_kernel_vs_input, r"on H = 3, K = 5, P = 1, S = 1 raised ValueError"),
    ("w03_conv_output_size", size_stub, "not implemented yet"),
    ("w03_conv_output_size_errors", size_no_checks, r"size_no_checks\(0, 1, 0, 1\) must raise ValueError; it returned"),
    ("w03_conv_output_size_errors", size_zero_division, r"\(5, 3, 0, 0\) must raise ValueError, not ZeroDivisionError"),
    ("w03_conv_output_size_errors", size_kernel_vs_input, r"\(3, 5, 1, 1\) raised ValueError .*refuse only K > H \+ 2P"),
    ("w03_conv_output_size_errors", size_refuses_equality, r"\(3, 5, 1, 1\) raised ValueError .*setting is valid"),
    ("w03_conv_output_size_errors", size_type_error, "must raise ValueError, not TypeError"),
    ("w03_conv_output_size_errors", size_true_division, r"size_true_division\(3, 5, 1, 1\) returned 1\.0, a float"),
    ("w03_conv_output_size_errors", size_stub, "not implemented yet"),
    ("w03_pad2d", pad_every_axis, "padded every axis"),
    ("w03_pad2d", pad_first_axes, "padded the first two axes"),
    ("w03_pad2d", pad_one_side, r"one side only \(after"),
    ("w03_pad2d", pad_one_side_before, r"one side only \(before"),
    ("w03_pad2d", pad_float64, r"\(float32\), P = 1 returned float64: keep x's dtype"),
    ("w03_pad2d", pad_negative_slices, r"on x of shape \(5, 5\) \(float64\), P = 0 raised ValueError"),
    ("w03_pad2d", pad_stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w03_sizes", CORRECT, WRONG)


# ---- the references and the mistakes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); "
                                            "pip install -r requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize(("H", "W", "K", "P", "S"), [(28, 28, 3, 1, 1), (8, 9, 3, 0, 2), (7, 5, 2, 2, 3), (3, 4, 5, 1, 1),
                                                     (224, 224, 11, 2, 4)])
def test_conv_output_size_against_jax_shapes(jax, H, W, K, P, S):
    x, w = jax.numpy.zeros((1, 1, H, W)), jax.numpy.zeros((1, 1, K, K))
    out = jax.lax.conv_general_dilated(x, w, window_strides=(S, S), padding=[(P, P), (P, P)])
    assert out.shape[2:] == (conv_reference.conv_output_size(H, K, P, S), conv_reference.conv_output_size(W, K, P, S))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (2, 1, 4, 3)], ids=str)
def test_pad2d_against_jnp_pad(jax, shape):
    x = np.random.default_rng(0).normal(size=shape)
    theirs = jax.numpy.pad(x, [(0, 0)] * (len(shape) - 2) + [(2, 2), (2, 2)])
    np.testing.assert_array_equal(conv_reference.pad2d(x, 2), np.asarray(theirs))


def test_size_mistakes_are_those_mistakes():
    assert ref.conv_output_size_mistakes(28, 2, 1, 2) == {"no_plus_one": 14, "p_not_doubled": 14, "ceil": 15,
                                                          "true_division": 15.0}
    assert ref.conv_output_size_mistakes(8, 3, 0, 2) == {"no_plus_one": 2, "p_not_doubled": 3, "ceil": 4,
                                                         "true_division": 3.5}


def test_every_size_mistake_differs_from_the_reference_on_the_hidden_and_stored_settings():
    from autograder.protocol import get_case

    inputs, _ = get_case("w03_conv_output_size").build()
    rows = [tuple(c.args) for c in inputs["calls"]]
    stored = [tuple(int(v) for v in row) for row in ref.fixtures()["w03_sizes_conv_output_size"]["args"]]
    for settings in (rows, stored):
        right = np.array([conv_reference.conv_output_size(*row) for row in settings])
        for name, sizes in ref.size_mistakes(settings).items():
            assert not np.array_equal(sizes, right), name


def test_pad_mistakes_are_those_mistakes():
    x = np.ones((1, 2, 2, 3))
    mistakes = ref.pad2d_mistakes(x, 1)
    assert mistakes["every_axis"].shape == (3, 4, 4, 5) and mistakes["first_axes"].shape == (3, 4, 2, 3)
    assert mistakes["one_side"][0, 0, 0, 0] == 1 and mistakes["one_side"][0, 0, -1, -1] == 0
    assert mistakes["one_side_before"][0, 0, 0, 0] == 0 and mistakes["one_side_before"][0, 0, -1, -1] == 1


# ---- visible checks --------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.conv_output_size, size_stub, "not implemented yet"),
    (visible.conv_output_size, size_no_plus_one, "one short"),
    (visible.conv_output_size, size_p_not_doubled, "use H \\+ P"),
    (visible.conv_output_size, size_ceil, "round up"),
    (visible.conv_output_size, size_true_division, "fractions"),
    (visible.conv_output_size, size_float_floor, "a float"),
    (visible.conv_output_size, size_kernel_vs_input, r"size_kernel_vs_input raised ValueError"),
    (visible.conv_output_size, size_no_checks, r"\(4, 7, 1, 1\) must raise ValueError; it returned"),
    (visible.conv_output_size, size_zero_division, "not ZeroDivisionError"),
    (visible.conv_output_size, size_type_error, "not TypeError"),
    (visible.pad2d, pad_stub, "not implemented yet"),
    (visible.pad2d, pad_every_axis, "padded every axis"),
    (visible.pad2d, pad_first_axes, "first two axes"),
    (visible.pad2d, pad_one_side, "one side only"),
    (visible.pad2d, pad_one_side_before, "one side only"),
    (visible.pad2d, pad_float64, "returned float64 for a float32 image"),
]

VISIBLE_CORRECT = [(visible.conv_output_size, size_floor), (visible.conv_output_size, size_count),
                   (visible.conv_output_size, size_numpy_int), (visible.pad2d, pad_np), (visible.pad2d, pad_loop)]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
