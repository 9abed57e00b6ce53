"""Week 3, architectures (count_params, receptive_field): known mistakes, hidden cases, fixtures.

The references are ``conv_reference.count_params`` and ``conv_reference.receptive_field``, on lists of layer
dicts in the format of ``conv_reference.LAYER_KEYS``:

    count_params:    conv  F C K^2 + F   (F C K^2 with "bias": False)
                     dense D M + M       (D M with "bias": False)
                     relu, flatten, maxpool, avgpool: 0;
    receptive_field: r_0 = 1, j_0 = 1; for each conv or pool with window k and stride s (a pool's stride
                     defaults to k, a conv's to 1):  r <- r + (k - 1) j,  j <- j s;
                     relu changes nothing; stop at the first flatten or dense.

A mistake is named when it gives the student's results on every architecture of the case (one architecture
alone can make two mistakes agree by chance).
"""

from __future__ import annotations

import json

import numpy as np

from autograder.cases.conv_reference import count_params, receptive_field
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed
from dlfs.checks.w03_architecture import CHANGED, COUNT_HINT, DEFAULTS_HINT, FIELD_HINT, describe, integer_problem
from dlfs.grading import Raised

COUNT_MISTAKES = {
    "conv_no_bias": ("your count leaves out the convolutions' biases: a conv layer has F (C K^2 + 1) parameters, one "
                     "bias per filter (none with \"bias\": False)."),
    "no_channels": ("your convolutions are counted without their input channels (F K^2 + F): each filter has one K x K "
                    "slice per input channel, F (C K^2 + 1) parameters in all."),
    "kernel_not_squared": "your convolutions count K weights per input channel; a filter's slice is K x K, so F (C K^2 + 1).",
    "dense_no_bias": "your count leaves out the dense layers' biases: a dense layer from D to M has D M + M parameters.",
    "dense_bias_in": "your dense layers have one bias per input (D M + D); there is one per output: D M + M.",
    "bias_flag_ignored": ("you count biases for layers with \"bias\": False: those have none (F C K^2 for a conv, D M "
                          "for a dense)."),
}
FIELD_MISTAKES = {
    "no_stride": ("your receptive field ignores the strides: after a layer of stride s neighbouring units are s times "
                  "further apart in the input, so multiply the jump j by s after each layer, and grow r by (k - 1) j."),
    "k_not_minus_one": "you grow r by k j per layer; a window of k units adds k - 1 of them to the field: r += (k - 1) j.",
    "multiplied": "you multiply r by the window size; the field grows by adding: r += (k - 1) j, then j *= s.",
    "after_flatten": ("you read the layers after the first flatten or dense: stop there (a unit after it sees the whole "
                      "image)."),
    "jump_first": ("you multiply the jump by the stride before growing r: a layer's window spans k units of its input, "
                   "which are j apart, so first r += (k - 1) j, then j *= s."),
    "pools_ignored": ("your receptive field skips the pooling layers: a pooling window of k widens the field like a "
                      "k x k convolution with the same stride."),
    "pool_stride_one": ("your pools without a \"stride\" key step by 1: a pool's stride defaults to its window, "
                        "layer.get(\"stride\", layer[\"k\"])."),
}


# ---- the known mistakes ----------------------------------------------------------------------------------


def _count(layers: list[dict], *, conv_bias: bool = True, channels: bool = True, squared: bool = True,
           dense_bias: bool = True, bias_in: bool = False, bias_flag: bool = True) -> int:
    """count_params with the known mistakes switched on by the keywords (all defaults: the reference)."""
    n = 0
    for layer in layers:
        with_bias = layer.get("bias", True) or not bias_flag
        if layer["type"] == "conv":
            weights = layer["out"] * (layer["in"] if channels else 1) * (layer["k"] ** 2 if squared else layer["k"])
            n += weights + (layer["out"] if conv_bias and with_bias else 0)
        elif layer["type"] == "dense":
            biases = layer["in"] if bias_in else layer["out"]
            n += layer["in"] * layer["out"] + (biases if dense_bias and with_bias else 0)
    return n


def count_mistakes(layers: list[dict]) -> dict[str, int]:
    return {"conv_no_bias": _count(layers, conv_bias=False), "no_channels": _count(layers, channels=False),
            "kernel_not_squared": _count(layers, squared=False), "dense_no_bias": _count(layers, dense_bias=False),
            "dense_bias_in": _count(layers, bias_in=True), "bias_flag_ignored": _count(layers, bias_flag=False)}


def _field(layers: list[dict], *, strides: bool = True, minus_one: bool = True, multiply: bool = False,
           stop: bool = True, jump_first: bool = False, pools: bool = True, pool_default: bool = True) -> int:
    """receptive_field with the known mistakes switched on by the keywords (all defaults: the reference)."""
    r, j = 1, 1
    for layer in layers:
        kind = layer["type"]
        if kind in ("flatten", "dense") and stop:
            break
        if kind == "conv" or (pools and kind in ("maxpool", "avgpool")):
            step = layer.get("stride", layer["k"] if kind != "conv" and pool_default else 1) if strides else 1
            if jump_first:
                j *= step
            if multiply:
                r *= layer["k"]
            else:
                r += (layer["k"] - 1 if minus_one else layer["k"]) * j
            if not jump_first:
                j *= step
    return r


def field_mistakes(layers: list[dict]) -> dict[str, int]:
    return {"no_stride": _field(layers, strides=False), "k_not_minus_one": _field(layers, minus_one=False),
            "multiplied": _field(layers, multiply=True), "after_flatten": _field(layers, stop=False),
            "jump_first": _field(layers, jump_first=True), "pools_ignored": _field(layers, pools=False),
            "pool_stride_one": _field(layers, pool_default=False)}


# ---- architectures -----------------------------------------------------------------------------------------


def conv(C: int, F: int, k: int, **options) -> dict:
    return {"type": "conv", "in": C, "out": F, "k": k} | options


def dense(D: int, M: int, **options) -> dict:
    return {"type": "dense", "in": D, "out": M} | options


def pool(k: int, kind: str = "maxpool", **options) -> dict:
    return {"type": kind, "k": k} | options


RELU, FLATTEN = {"type": "relu"}, {"type": "flatten"}

#: The week-3 CNN of the MNIST section (its second pool leaves the stride to its default).
WEEK3_CNN = [conv(1, 16, 3, stride=1, pad=1), RELU, pool(2, stride=2), conv(16, 32, 3, pad=1), RELU, pool(2), FLATTEN,
             dense(1568, 10)]
#: LeNet-5 with ReLU and max pooling (lecture, section 9): 61,706 parameters, receptive field 16.
LENET = [conv(1, 6, 5, pad=2), RELU, pool(2, stride=2), conv(6, 16, 5), RELU, pool(2, stride=2), FLATTEN,
         dense(400, 120), RELU, dense(120, 84), RELU, dense(84, 10)]
#: LeNet-5 as published: 32 x 32 inputs, average pooling ("subsampling").
LENET_AVG = [conv(1, 6, 5), RELU, pool(2, "avgpool", stride=2), conv(6, 16, 5), RELU, pool(2, "avgpool"), FLATTEN,
             dense(400, 120), RELU, dense(120, 84), RELU, dense(84, 10)]
#: A VGG-like stack of 3x3 convolutions for 32 x 32 colour images; its pools leave the stride to its default.
VGG_LIKE = [conv(3, 64, 3, pad=1), RELU, conv(64, 64, 3, pad=1), RELU, pool(2),
            conv(64, 128, 3, pad=1), RELU, conv(128, 128, 3, pad=1), RELU, pool(2),
            conv(128, 256, 3, pad=1), RELU, conv(256, 256, 3, pad=1), RELU, conv(256, 256, 3, pad=1), RELU, pool(2),
            FLATTEN, dense(4096, 256), RELU, dense(256, 10)]
#: All-convolutional: strided convolutions instead of pools.
STRIDED = [conv(1, 16, 3, stride=2, pad=1), RELU, conv(16, 32, 3, stride=2, pad=1), RELU,
           conv(32, 64, 3, stride=2, pad=1), RELU, FLATTEN, dense(1024, 10)]
#: AlexNet's first layers: an 11x11 stride-4 convolution and overlapping 3x3 pools of stride 2.
ALEXNET_STEM = [conv(3, 96, 11, stride=4), RELU, pool(3, stride=2), conv(96, 256, 5, pad=2), RELU, pool(3, stride=2)]
#: A ResNet-like stem: convolutions without biases (a batch norm would follow each).
RESNET_STEM = [conv(3, 64, 7, stride=2, pad=3, bias=False), RELU, pool(3, stride=2, kind="maxpool"),
               conv(64, 64, 3, pad=1, bias=False), RELU, conv(64, 64, 3, pad=1, bias=False), RELU]
#: A bottleneck: 1x1 convolutions around a 3x3 one.
BOTTLENECK = [conv(64, 16, 1, bias=False), RELU, conv(16, 16, 3, pad=1), RELU, conv(16, 64, 1, bias=True)]
MLP = [FLATTEN, dense(784, 256), RELU, dense(256, 10)]
LINEAR_NO_BIAS = [FLATTEN, dense(784, 10, bias=False)]
LINEAR = [FLATTEN, dense(784, 10, bias=True)]
NO_PARAMETERS = [RELU, pool(2), pool(3, "avgpool", stride=1), FLATTEN]
ONE_BY_ONE = [conv(3, 8, 1), RELU, conv(8, 8, 1, stride=1), RELU]
THREE_3X3 = [conv(1, 4, 3), RELU, conv(4, 4, 3), RELU, conv(4, 4, 3)]
SEVEN_X7 = [conv(1, 4, 7)]
STRIDED_THEN_POOL = [conv(1, 4, 3, stride=2), RELU, pool(2)]
#: Layers after the first flatten or dense are not read: a unit there already sees the whole image.
AFTER_FLATTEN = [conv(1, 4, 3), pool(2), FLATTEN, pool(2), conv(4, 4, 3)]
DENSE_FIRST = [dense(16, 16), conv(1, 2, 3), pool(2)]


def _random_network(rng: np.random.Generator) -> list[dict]:
    """Two or three conv blocks (window 1, 3, 5 or 7, stride 1 or 2, with or without bias, optional keys left out
    at random), each maybe followed by a max or average pool (window 2 or 3, stride given or not), then one or
    two dense layers."""
    layers, channels = [], int(rng.choice([1, 3]))
    for _ in range(int(rng.integers(2, 4))):
        out = int(rng.integers(4, 65))
        options = {}
        if rng.random() < 0.6:
            options["stride"] = int(rng.choice([1, 2]))
        if rng.random() < 0.5:
            options["pad"] = int(rng.integers(0, 3))
        if rng.random() < 0.6:
            options["bias"] = bool(rng.random() < 0.5)
        layers += [conv(channels, out, int(rng.choice([1, 3, 5, 7])), **options), RELU]
        channels = out
        if rng.random() < 0.7:
            extra = {"stride": int(rng.integers(1, 4))} if rng.random() < 0.5 else {}
            layers.append(pool(int(rng.choice([2, 3])), str(rng.choice(["maxpool", "avgpool"])), **extra))
    hidden = int(rng.integers(10, 200))
    layers += [FLATTEN, dense(channels * int(rng.integers(1, 50)), hidden, bias=bool(rng.random() < 0.7))]
    if rng.random() < 0.5:
        layers += [RELU, dense(hidden, 10)]
    return layers


# ---- hidden cases --------------------------------------------------------------------------------------


def _results(answers: Answers, architectures: list[tuple[str, list[dict]]]) -> list[int]:
    """Each architecture's result as an int; fails on an exception, a changed list or a non-integer."""
    results, changed = answers["results"], answers["changed"]
    if not isinstance(results, list) or len(results) != len(architectures) or len(changed) != len(architectures):
        raise CheckFailed(f"{answers.name}: the answers are incomplete (was the hidden test cell changed?).")
    found = []
    for value, names, (label, _) in zip(results, changed, architectures):
        if isinstance(value, Raised) and value.type == "KeyError":
            raise CheckFailed(f"{answers.name} on {label} raised KeyError: {value.message}. Hint: {DEFAULTS_HINT}")
        value = answers.value(value, label)
        if names:
            raise CheckFailed(f"{answers.name} on {label} {CHANGED}")
        problem = integer_problem(value)
        if problem:
            raise CheckFailed(f"{answers.name} on {label} {problem}")
        found.append(int(value))
    return found


def _layers_case(architectures: list[tuple[str, list[dict]]], reference, mistakes, messages: dict[str, str],
                 hint: str, summary: str):
    """Inputs and judge: every architecture's result equal to the reference's; a known mistake named when it
    gives the student's result on all of them."""

    def judge(answers: Answers, context: Context) -> str:
        got = _results(answers, architectures)
        want = [reference(layers) for _, layers in architectures]
        if got == want:
            return summary
        outputs = [mistakes(layers) for _, layers in architectures]
        for mistake in mistakes_on({name: np.array([out[name] for out in outputs]) for name in messages}, messages):
            if np.array_equal(mistake.output, got):
                raise CheckFailed(f"{context.name}: {mistake.message}")
        first = next(k for k in range(len(got)) if got[k] != want[k])
        label, layers = architectures[first]
        raise CheckFailed(f"{context.name} on {label} ({describe(layers)}): expected {want[first]}, got {got[first]}. "
                          f"Hint: {hint}")

    return {"architectures": [layers for _, layers in architectures]}, judge


@case("w03_count_params_networks")
def count_params_networks(rng: np.random.Generator):
    """The week-3 CNN, LeNet-5 (max and average pooling), a VGG-like stack, an all-convolutional net, a ResNet-like
    stem without biases, an MLP, and two random networks: each count equal to the reference's."""
    architectures = [("the week-3 CNN", WEEK3_CNN), ("LeNet-5", LENET), ("LeNet-5 with average pooling", LENET_AVG),
                     ("a VGG-like network", VGG_LIKE), ("an all-convolutional network", STRIDED),
                     ("a ResNet-like stem", RESNET_STEM), ("an MLP", MLP)]
    architectures += [(f"a random network ({i})", _random_network(rng)) for i in (1, 2)]
    return _layers_case(architectures, count_params, count_mistakes, COUNT_MISTAKES, COUNT_HINT,
                        f"{len(architectures)} architectures counted right, from an MLP to a VGG-like network")


@case("w03_count_params_edge_cases")
def count_params_edge_cases(rng: np.random.Generator):
    """No layers (0), layers without parameters (0), 1x1 convolutions, "bias": False on a conv and on a dense,
    "bias": True written out, AlexNet's first layers (11x11 and 5x5 kernels)."""
    architectures = [("no layers", []), ("relu, pools and flatten only", NO_PARAMETERS),
                     ("a bottleneck of 1x1 convolutions", BOTTLENECK), ("1x1 convolutions", ONE_BY_ONE),
                     ("a linear classifier without bias", LINEAR_NO_BIAS), ("a linear classifier", LINEAR),
                     ("AlexNet's first layers", ALEXNET_STEM)]
    return _layers_case(architectures, count_params, count_mistakes, COUNT_MISTAKES, COUNT_HINT,
                        "no layers, parameter-free layers, 1x1 convolutions and layers without biases counted right")


@case("w03_receptive_field_networks")
def receptive_field_networks(rng: np.random.Generator):
    """The week-3 CNN, LeNet-5 (max and average pooling), a VGG-like stack (pools with their default stride), an
    all-convolutional net, AlexNet's first layers (overlapping pools), a ResNet-like stem, two random networks."""
    architectures = [("the week-3 CNN", WEEK3_CNN), ("LeNet-5", LENET), ("LeNet-5 with average pooling", LENET_AVG),
                     ("a VGG-like network", VGG_LIKE), ("an all-convolutional network", STRIDED),
                     ("AlexNet's first layers", ALEXNET_STEM), ("a ResNet-like stem", RESNET_STEM)]
    architectures += [(f"a random network ({i})", _random_network(rng)) for i in (1, 2)]
    return _layers_case(architectures, receptive_field, field_mistakes, FIELD_MISTAKES, FIELD_HINT,
                        f"{len(architectures)} receptive fields right, strides and overlapping pools included")


@case("w03_receptive_field_edge_cases")
def receptive_field_edge_cases(rng: np.random.Generator):
    """No layers (1), an MLP (1), 1x1 convolutions (1), pools only, three 3x3 convolutions (7) and one 7x7 (7),
    a strided convolution before a pool, layers after a flatten and after a dense (not read)."""
    architectures = [("no layers", []), ("an MLP", MLP), ("1x1 convolutions", ONE_BY_ONE),
                     ("relu, pools and flatten only", NO_PARAMETERS), ("three 3x3 convolutions", THREE_3X3),
                     ("one 7x7 convolution", SEVEN_X7), ("a strided convolution, then a pool", STRIDED_THEN_POOL),
                     ("layers after a flatten", AFTER_FLATTEN),
                     ("layers after a dense", DENSE_FIRST)]
    return _layers_case(architectures, receptive_field, field_mistakes, FIELD_MISTAKES, FIELD_HINT,
                        "no layers, 1x1 convolutions, pools only, and the layers after a flatten or dense left out")


# ---- fixtures of the visible checks ----------------------------------------------------------------------


def _fixture(architectures: list[tuple[str, list[dict]]], reference, mistakes, messages) -> dict[str, np.ndarray]:
    outputs = [mistakes(layers) for _, layers in architectures]
    arrays = {"names": np.array([label for label, _ in architectures]),
              "layers": np.array(json.dumps([layers for _, layers in architectures])),
              "expected": np.array([reference(layers) for _, layers in architectures], dtype=np.int64)}
    return arrays | stored({name: np.array([out[name] for out in outputs], dtype=np.int64) for name in messages}, messages)


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    counted = [("the week-3 CNN", WEEK3_CNN), ("LeNet-5", LENET), ("a ResNet-like stem", RESNET_STEM),
               ("a linear classifier without bias", LINEAR_NO_BIAS), ("no layers", [])]
    fields = [("the week-3 CNN", WEEK3_CNN), ("LeNet-5", LENET), ("a VGG-like network", VGG_LIKE),
              ("an all-convolutional network", STRIDED), ("three 3x3 convolutions", THREE_3X3),
              ("layers after a flatten", AFTER_FLATTEN), ("no layers", [])]
    return {"w03_count_params": _fixture(counted, count_params, count_mistakes, COUNT_MISTAKES),
            "w03_receptive_field": _fixture(fields, receptive_field, field_mistakes, FIELD_MISTAKES)}
