"""Week 3, the pretrained CNN (cnn_forward): the visible checks, and the probes of its two hidden cases (they
call cnn_forward on the inputs sent, or on MNIST's test images in the order sent, and record what came back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, check_array, check_unchanged, fixture, passed, stored_mistakes
from dlfs.grading import Raised, probe, record

__all__ = ["cnn_forward", "cnn_forward_mnist"]

PARAM_KEYS = ("conv1_w", "conv1_b", "conv2_w", "conv2_b", "dense_w", "dense_b")
CNN_HINT = ("conv2d_forward(stride=1, pad=1), ReLU, max_pool_forward(2), the same again with conv2, then "
            "h.reshape(N, -1) @ params['dense_w'] + params['dense_b']; return the logits (no softmax).")
SHAPE_HINT = ("pad both convolutions by 1 (pad=1) so that only the two 2x2 poolings shrink the maps: the flattened "
              "features of each image then have F2 * (H/4) * (W/4) entries, the rows of params['dense_w']; flatten "
              "with h.reshape(len(h), -1), no sizes written in.")


def not_implemented(name: str) -> str:
    """The message for a NotImplementedError: the stub may be cnn_forward's or one of the functions it calls."""
    return (f"{name} is not implemented yet, or calls a function that is not (conv2d_forward, max_pool_forward): "
            "replace `raise NotImplementedError()` with your code.")


def shape_trouble(kind: str, message: str) -> bool:
    """Whether an exception reads like arrays of the wrong shapes meeting (a matmul or broadcast mismatch)."""
    words = ("mismatch", "align", "broadcast", "shape")
    return kind == "ValueError" and any(word in message for word in words)


def _forward(fn: Callable, x: np.ndarray, params: dict) -> Any:
    try:
        return fn(x, params)
    except NotImplementedError as err:
        raise CheckFailed(not_implemented(fn.__name__)) from err
    except Exception as err:
        tail = f" Hint: {SHAPE_HINT}" if shape_trouble(type(err).__name__, str(err)) else ""
        raise CheckFailed(f"{fn.__name__} raised {type(err).__name__}: {err}.{tail}") from err


def _stored_params(arrays: dict) -> dict[str, np.ndarray]:
    return {key: arrays[f"param_{key}"] for key in PARAM_KEYS}


def _same_params(name: str, before: dict, after: dict) -> None:
    for key in PARAM_KEYS:
        if key not in after:
            raise CheckFailed(f"{name} removed params[{key!r}]: read the weights, do not change the dict.")
        check_unchanged(name, before[key], np.asarray(after[key]), f"params[{key!r}]")


def cnn_forward(fn: Callable) -> None:
    """Check the logits of a small CNN (3 and 4 filters) on two stored 8 x 12 images."""
    a = fixture("w03_cnn_forward")
    x, params = a["x"], _stored_params(a)
    keep = fixture("w03_cnn_forward")
    logits = _forward(fn, x, params)
    check_unchanged(fn.__name__, keep["x"], x, "x")
    _same_params(fn.__name__, _stored_params(keep), params)
    scale = float(np.abs(a["expected"]).max())
    check_array(f"{fn.__name__} on x of shape {x.shape}", logits, a["expected"], rtol=1e-7, atol=1e-9 * scale,
                mistakes=stored_mistakes(a), hint=CNN_HINT)
    passed(f"{fn.__name__}: the logits of a two-convolution network on {x.shape[0]} images of {x.shape[2]}x{x.shape[3]}")


def cnn_forward_mnist(fn: Callable) -> None:
    """Run the shipped weights on every 50th MNIST test digit (200 images) and compare with the stored logits."""
    from dlfs.data import load_mnist
    from dlfs.pretrained import load_week03_cnn

    a = fixture("w03_cnn_forward_mnist")
    index = a["indices"]
    mnist = load_mnist("unit", flatten=False)
    logits = _forward(fn, mnist.X_test[index][:, None], load_week03_cnn())
    scale = float(np.abs(a["expected"]).max())
    check_array(f"{fn.__name__} on {len(index)} MNIST test digits with the shipped weights", logits, a["expected"],
                rtol=1e-4, atol=1e-5 * scale, mistakes=stored_mistakes(a), hint=CNN_HINT)
    right = float(np.mean(np.asarray(logits).argmax(axis=1) == mnist.y_test[index]))
    passed(f"{fn.__name__}: the shipped weights give the expected logits on {len(index)} test digits "
           f"({right:.1%} of them classified right)")


# ---- probes of the hidden cases ------------------------------------------------------------------------


def _call(fn: Callable, x: np.ndarray, params: dict) -> tuple[Any, list[str]]:
    """``fn(x, params)`` recorded, and the names of the inputs it changed in place."""
    x_before = x.copy()
    before = {key: np.array(value, copy=True) for key, value in params.items()}
    result = record(fn, x, params)
    changed = [] if np.array_equal(x_before, x) else ["x"]
    changed += [f"params[{key!r}]" for key, value in before.items()
                if key not in params or not np.array_equal(value, params[key])]
    return result, changed


@probe("w03_cnn_forward")
def _forward_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    """Each problem's ``cnn_forward(x, params)`` on fresh copies, with what it changed."""
    results, changed = [], []
    for problem in inputs["problems"]:
        params = {key: np.array(value, copy=True) for key, value in problem["params"].items()}
        result, names = _call(fn, np.array(problem["x"], copy=True), params)
        results.append(result)
        changed.append(names)
    return {"results": results, "changed": changed}


@probe("w03_cnn_mnist")
def _mnist_probe(fn: Callable, *args: Any, inputs: dict) -> dict:
    """MNIST's test images (float32 in [0, 1], as (N, 1, 28, 28)) in the order sent, through ``cnn_forward`` in
    batches of the size sent, with the weights sent; every batch's output recorded, up to the first exception."""
    from dlfs.data import load_mnist

    images = load_mnist("unit", flatten=False).X_test[inputs["order"]][:, None]
    size = int(inputs["batch_size"])
    batches, changed = [], []
    for start in range(0, len(images), size):
        params = {key: np.array(value, copy=True) for key, value in inputs["params"].items()}
        result, names = _call(fn, images[start:start + size], params)
        batches.append(result)
        changed.append(names)
        if isinstance(result, Raised):
            break
    return {"batches": batches, "changed": changed}
