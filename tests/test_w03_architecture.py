"""Week 3 architectures (count_params, receptive_field): the architectures of the cases against independent counts
(the shipped weights, arrays of the layers' shapes) and against JAX (the support of a unit's gradient), the known
mistakes as written, the hidden cases against correct and wrong implementations, and the visible checks."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import conv_reference
from autograder.cases import w03_architecture as ref
from autograder.protocol import get_case
from dlfs.checks import CheckFailed
from dlfs.checks import week03 as visible

pytestmark = [pytest.mark.week03, pytest.mark.w03_architecture, pytest.mark.autograder]

NAMED = {"WEEK3_CNN": ref.WEEK3_CNN, "LENET": ref.LENET, "LENET_AVG": ref.LENET_AVG, "VGG_LIKE": ref.VGG_LIKE,
         "STRIDED": ref.STRIDED, "ALEXNET_STEM": ref.ALEXNET_STEM, "RESNET_STEM": ref.RESNET_STEM,
         "BOTTLENECK": ref.BOTTLENECK, "MLP": ref.MLP, "LINEAR": ref.LINEAR, "LINEAR_NO_BIAS": ref.LINEAR_NO_BIAS,
         "NO_PARAMETERS": ref.NO_PARAMETERS, "ONE_BY_ONE": ref.ONE_BY_ONE, "THREE_3X3": ref.THREE_3X3,
         "SEVEN_X7": ref.SEVEN_X7, "STRIDED_THEN_POOL": ref.STRIDED_THEN_POOL, "AFTER_FLATTEN": ref.AFTER_FLATTEN,
         "DENSE_FIRST": ref.DENSE_FIRST}


def _case_architectures() -> list[list[dict]]:
    found = []
    for case_id in ("w03_count_params_networks", "w03_count_params_edge_cases", "w03_receptive_field_networks",
                    "w03_receptive_field_edge_cases"):
        found += get_case(case_id).build()[0]["architectures"]
    return found


# ---- correct alternatives -----------------------------------------------------------------------------------


def count_params_shapes(layers):
    """Builds every parameter array's shape and adds up their sizes (math.prod)."""
    shapes = []
    for layer in layers:
        if layer["type"] == "conv":
            shapes.append((layer["out"], layer["in"], layer["k"], layer["k"]))
        elif layer["type"] == "dense":
            shapes.append((layer["in"], layer["out"]))
        if layer["type"] in ("conv", "dense") and layer.get("bias", True):
            shapes.append((layer["out"],))
    return sum(math.prod(shape) for shape in shapes)


def count_params_numpy(layers):
    """Returns an np.int64 (a sum of a NumPy array), with a dict of formulas per type."""
    formulas = {"conv": lambda L: L["out"] * L["in"] * L["k"] ** 2, "dense": lambda L: L["in"] * L["out"]}
    counts = [formulas[L["type"]](L) + (L["out"] if L.get("bias") is not False else 0)
              for L in layers if L["type"] in formulas]
    return np.array(counts, dtype=np.int64).sum() if counts else np.int64(0)


def receptive_field_backwards(layers):
    """The other recursion: from one unit of the last spatial layer down to the input, r <- (r - 1) s + k."""
    spatial = []
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        if layer["type"] != "relu":
            spatial.append((layer["k"], layer.get("stride", layer["k"] if "pool" in layer["type"] else 1)))
    r = 1
    for k, s in reversed(spatial):
        r = (r - 1) * s + k
    return r


def receptive_field_product(layers):
    """r = 1 + sum_l (k_l - 1) prod_{i < l} s_i, with NumPy (returns an np.int64)."""
    kernels, strides = [], []
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        if "k" in layer:
            kernels.append(layer["k"])
            strides.append(layer.get("stride", 1 if layer["type"] == "conv" else layer["k"]))
    if not kernels:
        return 1
    jumps = np.concatenate([[1], np.cumprod(strides)[:-1]])
    return 1 + np.sum((np.array(kernels) - 1) * jumps)


# ---- wrong implementations -------------------------------------------------------------------------------


def count_variant(name, **mistake):
    def fn(layers):
        return ref._count(layers, **mistake)

    fn.__name__ = name
    return fn


def field_variant(name, **mistake):
    def fn(layers):
        return ref._field(layers, **mistake)

    fn.__name__ = name
    return fn


def count_conv_no_bias(layers):
    total = 0
    for layer in layers:
        if layer["type"] == "conv":
            total += layer["out"] * layer["in"] * layer["k"] ** 2
        elif layer["type"] == "dense":
            total += (layer["in"] + (1 if layer.get("bias", True) else 0)) * layer["out"]
    return total


def count_no_channels(layers):
    return sum(L["out"] * (L["k"] ** 2 + (1 if L.get("bias", True) else 0)) if L["type"] == "conv" else
               L["out"] * (L["in"] + (1 if L.get("bias", True) else 0)) if L["type"] == "dense" else 0 for L in layers)


def count_dense_no_bias(layers):
    return sum(L["out"] * (L["in"] * L["k"] ** 2 + (1 if L.get("bias", True) else 0)) if L["type"] == "conv" else
               L["in"] * L["out"] if L["type"] == "dense" else 0 for L in layers)


def count_ignores_bias_flag(layers):
    return sum(L["out"] * (L["in"] * L["k"] ** 2 + 1) if L["type"] == "conv" else
               (L["in"] + 1) * L["out"] if L["type"] == "dense" else 0 for L in layers)


def count_float(layers):
    return float(conv_reference.count_params(layers)) / 1.0


def count_setdefault(layers):
    for layer in layers:
        if layer["type"] in ("conv", "dense"):
            layer.setdefault("bias", True)
    return conv_reference.count_params(layers)


def count_bias_key(layers):
    return sum(L["out"] * (L["in"] * L["k"] ** 2 + L["bias"]) if L["type"] == "conv" else
               L["out"] * (L["in"] + L["bias"]) if L["type"] == "dense" else 0 for L in layers)


def count_week3_only(layers):
    return 20490


def count_stub(layers):
    raise NotImplementedError()


def count_none(layers):
    total = conv_reference.count_params(layers)  # noqa: F841 - computed, not returned


def field_no_stride(layers):
    r = 1
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        r += layer.get("k", 1) - 1
    return r


def field_jump_first(layers):
    r, j = 1, 1
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        if "k" in layer:
            j *= layer.get("stride", 1 if layer["type"] == "conv" else layer["k"])
            r += (layer["k"] - 1) * j
    return r


def field_all_layers(layers):
    """Does not stop at the flatten: dense and flatten have no "k", so only later spatial layers change it."""
    r, j = 1, 1
    for layer in layers:
        if "k" in layer:
            r += (layer["k"] - 1) * j
            j *= layer.get("stride", 1 if layer["type"] == "conv" else layer["k"])
    return r


def field_pool_stride_one(layers):
    r, j = 1, 1
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        if "k" in layer:
            r += (layer["k"] - 1) * j
            j *= layer.get("stride", 1)
    return r


def field_stride_key(layers):
    r, j = 1, 1
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        if "k" in layer:
            r += (layer["k"] - 1) * j
            j *= layer["stride"]
    return r


def field_setdefault(layers):
    for layer in layers:
        if layer["type"] in ("maxpool", "avgpool"):
            layer.setdefault("stride", layer["k"])
    return conv_reference.receptive_field(layers)


def field_float(layers):
    return conv_reference.receptive_field(layers) * 1.0


def field_stub(layers):
    raise NotImplementedError()


CORRECT = {
    "w03_count_params_networks": [conv_reference.count_params, count_params_shapes, count_params_numpy],
    "w03_count_params_edge_cases": [conv_reference.count_params, count_params_shapes, count_params_numpy],
    "w03_receptive_field_networks": [conv_reference.receptive_field, receptive_field_backwards,
                                     receptive_field_product],
    "w03_receptive_field_edge_cases": [conv_reference.receptive_field, receptive_field_backwards,
                                       receptive_field_product],
}

COUNT_WRONG = [
    (count_conv_no_bias, "leaves out the convolutions' biases"),
    (count_no_channels, "without their input channels"),
    (count_variant("count_kernel_not_squared", squared=False), "K weights per input channel"),
    (count_dense_no_bias, "leaves out the dense layers' biases"),
    (count_variant("count_dense_bias_in", bias_in=True), "one bias per input"),
    (count_ignores_bias_flag, "you count biases for layers with \"bias\": False"),
    (count_float, "returned a float \\((20490|0)\\.0\\)"),
    (count_setdefault, "changed its input `layers` in place .*setdefault"),
    (count_bias_key, "raised KeyError: 'bias'. Hint: the optional keys may be missing"),
    (count_week3_only, r"on (LeNet-5|no layers) \(.*\): expected (61706|0), got 20490"),
    (count_stub, "not implemented yet"),
    (count_none, "returned None"),
]
FIELD_WRONG = [
    (field_no_stride, "ignores the strides"),
    (field_variant("field_k_not_minus_one", minus_one=False), "you grow r by k j per layer"),
    (field_variant("field_multiplied", multiply=True), "you multiply r by the window size"),
    (field_jump_first, "you multiply the jump by the stride before growing r"),
    (field_variant("field_pools_ignored", pools=False), "skips the pooling layers"),
    (field_pool_stride_one, "your pools without a \"stride\" key step by 1"),
    (field_stride_key, "raised KeyError: 'stride'. Hint: the optional keys"),
    (field_setdefault, "changed its input `layers` in place"),
    (field_float, "returned a float"),
    (field_stub, "not implemented yet"),
]
WRONG = ([(case_id, fn, message) for case_id in ("w03_count_params_networks", "w03_count_params_edge_cases")
          for fn, message in COUNT_WRONG]
         + [(case_id, fn, message) for case_id in ("w03_receptive_field_networks", "w03_receptive_field_edge_cases")
            for fn, message in FIELD_WRONG]
         + [("w03_receptive_field_edge_cases", field_all_layers, "you read the layers after the first flatten or dense"),
            ("w03_receptive_field_edge_cases", field_variant("field_after_flatten", stop=False), "after the first flatten")])

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests(
    "w03_architecture", CORRECT, WRONG)


def test_after_flatten_passes_the_networks_case_and_fails_the_edge_cases():
    """The mistake only shows on a list with spatial layers after a flatten or dense: the edge cases hold two."""
    from autograder.protocol import run_case

    run_case("w03_receptive_field_networks", field_all_layers)
    with pytest.raises(CheckFailed, match="after the first flatten or dense"):
        run_case("w03_receptive_field_edge_cases", field_all_layers)


# ---- the references and the architectures against independent computations ----------------------------------


def test_the_week3_cnn_counts_the_shipped_weights():
    from dlfs.pretrained import load_week03_cnn

    assert conv_reference.count_params(ref.WEEK3_CNN) == sum(a.size for a in load_week03_cnn().values()) == 20_490


def test_lenet_and_the_lecture_agree():
    assert conv_reference.count_params(ref.LENET) == 61_706  # the lecture's figure, section 7.2
    assert conv_reference.receptive_field(ref.LENET) == 16  # the lecture's walk-through, section 9
    assert conv_reference.count_params(ref.THREE_3X3[:1] * 3) == 3 * (4 * 1 * 9 + 4)


@pytest.mark.parametrize("layers", _case_architectures(), ids=lambda layers: str(len(layers)))
def test_every_case_architecture_counts_as_arrays_of_its_shapes(layers):
    arrays = []
    for layer in layers:
        if layer["type"] == "conv":
            arrays.append(np.zeros((layer["out"], layer["in"], layer["k"], layer["k"]), dtype=np.uint8))
        elif layer["type"] == "dense":
            arrays.append(np.zeros((layer["in"], layer["out"]), dtype=np.uint8))
        if layer["type"] in ("conv", "dense") and layer.get("bias", True):
            arrays.append(np.zeros(layer["out"], dtype=np.uint8))
    assert conv_reference.count_params(layers) == sum(a.size for a in arrays)


@pytest.mark.parametrize("layers", _case_architectures(), ids=lambda layers: str(len(layers)))
def test_the_mistake_variants_with_no_mistake_are_the_reference(layers):
    assert ref._count(layers) == conv_reference.count_params(layers)
    assert ref._field(layers) == conv_reference.receptive_field(layers)


def test_the_mistakes_give_what_their_names_say():
    counts = ref.count_mistakes(ref.WEEK3_CNN)
    assert counts["conv_no_bias"] == 20_490 - 16 - 32
    assert counts["no_channels"] == (16 * 9 + 16) + (32 * 9 + 32) + 15_690
    assert counts["kernel_not_squared"] == (16 * 3 + 16) + (32 * 16 * 3 + 32) + 15_690
    assert counts["dense_no_bias"] == 20_490 - 10
    assert counts["dense_bias_in"] == 20_490 - 10 + 1568
    assert ref.count_mistakes(ref.LINEAR_NO_BIAS)["bias_flag_ignored"] == 7850
    fields = ref.field_mistakes(ref.WEEK3_CNN)  # conv 3, pool 2 (s 2), conv 3, pool 2: r = 10
    assert fields == {"no_stride": 1 + 2 + 1 + 2 + 1, "k_not_minus_one": 1 + 3 + 2 + 3 * 2 + 2 * 2,
                      "multiplied": 3 * 2 * 3 * 2, "after_flatten": 10, "jump_first": 1 + 2 + 1 * 2 + 2 * 2 + 1 * 4,
                      "pools_ignored": 1 + 2 + 2, "pool_stride_one": 10}
    assert ref.field_mistakes(ref.VGG_LIKE)["pool_stride_one"] == 18  # seven 3x3 convs and three pools of stride 1
    assert ref.field_mistakes(ref.AFTER_FLATTEN)["after_flatten"] == 14


def _spatial(layers: list[dict]) -> list[dict]:
    """The layers up to the first flatten or dense, one channel everywhere (a field does not depend on them)."""
    out = []
    for layer in layers:
        if layer["type"] in ("flatten", "dense"):
            break
        out.append(layer | ({"in": 1, "out": 1} if layer["type"] == "conv" else {}))
    return out


@pytest.mark.parametrize("name", ["WEEK3_CNN", "LENET", "LENET_AVG", "VGG_LIKE", "STRIDED", "ALEXNET_STEM",
                                  "RESNET_STEM", "THREE_3X3", "STRIDED_THEN_POOL", "NO_PARAMETERS"])
def test_receptive_fields_are_the_support_of_a_units_gradient_in_jax(name):
    """Each layer run with JAX (positive weights, every pool as an average so no gradient is lost, no ReLU); the
    gradient of one interior unit of the last layer with respect to the input is nonzero on its receptive field."""
    jax = pytest.importorskip("jax", reason="jax is a test-only dependency (requirements-dev.txt); pip install -r "
                                            "requirements-dev.txt")
    jax.config.update("jax_enable_x64", True)
    jnp, lax = jax.numpy, jax.lax
    layers = _spatial(NAMED[name])
    expected = conv_reference.receptive_field(NAMED[name])
    size = 4 * expected + 32

    def network(x):
        h = x
        for layer in layers:
            if layer["type"] == "conv":
                k, pad = layer["k"], layer.get("pad", 0)
                h = lax.conv_general_dilated(h, jnp.ones((1, 1, k, k)), (layer.get("stride", 1),) * 2,
                                             [(pad, pad), (pad, pad)])
            elif layer["type"] in ("maxpool", "avgpool"):
                k, s = layer["k"], layer.get("stride", layer["k"])
                h = lax.reduce_window(h, 0.0, lax.add, (1, 1, k, k), (1, 1, s, s), "VALID") / (k * k)
        return h[0, 0, h.shape[2] // 2, h.shape[3] // 2]

    grad = np.asarray(jax.grad(network)(jnp.ones((1, 1, size, size))))[0, 0]
    rows, cols = np.nonzero(grad)
    assert rows.max() - rows.min() + 1 == expected
    assert cols.max() - cols.min() + 1 == expected


def test_random_networks_are_well_formed_and_vary():
    rng = np.random.default_rng(0)
    networks = [ref._random_network(rng) for _ in range(50)]
    for layers in networks:
        conv_reference.count_params(layers)  # the format's checks pass
    assert len({conv_reference.count_params(layers) for layers in networks}) > 40
    assert len({conv_reference.receptive_field(layers) for layers in networks}) > 10
    assert any(layer.get("bias") is False for layers in networks for layer in layers)
    assert any(layer["type"] == "avgpool" and "stride" not in layer for layers in networks for layer in layers)


# ---- visible checks ----------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (visible.count_params, count_stub, "count_stub is not implemented yet"),
    (visible.count_params, count_conv_no_bias, "leaves out the convolutions' biases"),
    (visible.count_params, count_no_channels, "without their input channels"),
    (visible.count_params, count_variant("count_kernel_not_squared", squared=False), "K weights per input channel"),
    (visible.count_params, count_dense_no_bias, "leaves out the dense layers' biases"),
    (visible.count_params, count_variant("count_dense_bias_in", bias_in=True), "one bias per input"),
    (visible.count_params, count_ignores_bias_flag, "\"bias\": False"),
    (visible.count_params, count_float, "returned a float"),
    (visible.count_params, count_setdefault, "changed its input `layers` in place"),
    (visible.count_params, count_bias_key, "raised KeyError: 'bias'. .*Hint: the optional keys may be missing"),
    (visible.count_params, count_week3_only, r"on LeNet-5 \(conv 1->6 k5 p2, .*\): expected 61706, got 20490"),
    (visible.receptive_field, field_stub, "not implemented yet"),
    (visible.receptive_field, field_no_stride, "ignores the strides"),
    (visible.receptive_field, field_variant("field_k_not_minus_one", minus_one=False), "r by k j"),
    (visible.receptive_field, field_variant("field_multiplied", multiply=True), "multiply r by the window size"),
    (visible.receptive_field, field_all_layers, "after the first flatten or dense"),
    (visible.receptive_field, field_jump_first, "before growing r"),
    (visible.receptive_field, field_variant("field_pools_ignored", pools=False), "skips the pooling layers"),
    (visible.receptive_field, field_pool_stride_one, "step by 1"),
    (visible.receptive_field, field_setdefault, "changed its input `layers`"),
    (visible.receptive_field, field_float, "returned a float"),
    (visible.receptive_field, field_stride_key, "raised KeyError: 'stride'. .*Hint: the optional keys"),
]

VISIBLE_CORRECT = [
    (visible.count_params, conv_reference.count_params), (visible.count_params, count_params_shapes),
    (visible.count_params, count_params_numpy), (visible.receptive_field, conv_reference.receptive_field),
    (visible.receptive_field, receptive_field_backwards), (visible.receptive_field, receptive_field_product),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


def test_the_probe_reports_a_changed_list_and_survives_odd_changes():
    from dlfs.checks.w03_architecture import _layer_calls

    def puts_an_array(layers):
        for layer in layers:
            if "k" in layer:
                layer["k"] = np.array([layer["k"]] * 2)
        return 0

    architectures = [copy.deepcopy(ref.WEEK3_CNN), []]
    answers = _layer_calls(puts_an_array, inputs={"architectures": architectures})
    assert answers["changed"] == [[0], []]
    assert _layer_calls(conv_reference.count_params, inputs={"architectures": [ref.LENET]})["changed"] == [[]]
