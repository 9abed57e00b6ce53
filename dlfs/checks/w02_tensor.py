"""Week 2, the array autograd engine ``Tensor``: the visible checks, and the probes of its hidden cases.

The programs are those of :mod:`dlfs.checks.w02_value` with array leaves and array operations
(``["matmul", 0, 1]``, ``["sum", 2, 1, False]`` for ``v2.sum(axis=1, keepdims=False)``,
``["log_softmax", 3, -1]``; a constant may be an array, always on the right of the operator). The probe
records every node's ``data`` and ``grad`` as arrays, so a gradient of the wrong shape is seen as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.checks.w02_value import diagnose, name, run_program
from dlfs.grading import probe

__all__ = ["Tensor", "tensor_mlp_grads"]

BROADCAST_HINT = ("when broadcasting stretched an operand (a (4,) bias added to (3, 4), a (3, 1) column times a "
                  "(1, 4) row), its gradient must be summed back to the operand's shape: sum over the leading "
                  "axes broadcasting added, and with keepdims=True over the axes where the operand has size 1.")
EXPAND_HINT = ("for sum/mean with an axis and keepdims=False, put the summed axis back into the upstream gradient "
               "(np.expand_dims(dout, axis)) before broadcasting it to the input's shape.")
MATMUL_HINT = "for C = A @ B: dA = dC @ B.T (shape of A) and dB = A.T @ dC (shape of B)."


def read_array(x: Any) -> np.ndarray:
    """A node's data or grad as a fresh array (a float stays a 0-d array)."""
    return np.array(x)


def encode(program: Sequence) -> str:
    """A program as JSON, array constants as {"array": nested lists} (for the fixtures)."""
    return json.dumps([[{"array": a.tolist()} if isinstance(a, np.ndarray) else a for a in ins] for ins in program])


def decode(text: str) -> list[list]:
    return [[np.array(a["array"], dtype=np.float64) if isinstance(a, dict) else a for a in ins]
            for ins in json.loads(text)]


def tensor_errors(run: dict, program: Sequence, n_leaves: int) -> str:
    """Name the errors a Tensor's backward raises when a gradient does not fit its node's shape."""
    error, ops = run["error"], {ins[0] for ins in program}
    if run["stage"] != "backward":
        return ""
    text = error.message.lower()
    if error.type in ("AttributeError", "TypeError") and "'float' object" in text:
        return (f"backward() raised {error.type} ({error.message}): a grad is a Python float; every grad is an array "
                "of its node's shape, and backward() must seed self.grad = np.ones_like(self.data).")
    if "matmul" in ops and error.type == "ValueError" and ("matmul" in text or "aligned" in text or "core dimension" in text):
        return f"backward() raised {error.type} ({error.message}) in a matrix product's gradient: {MATMUL_HINT}"
    if error.type == "ValueError" and "broadcast" in text:
        reduce_axis = any(ins[0] in ("sum", "mean") and ins[2] is not None and not ins[3] for ins in program)
        hint = EXPAND_HINT if reduce_axis and not _broadcasts(program) else BROADCAST_HINT
        return f"backward() raised {error.type} ({error.message}): a gradient does not fit its node's shape; {hint}"
    return ""


def _broadcasts(program: Sequence) -> bool:
    return any(ins[0] in ("add", "sub", "mul", "div", "addc", "subc", "mulc", "divc") for ins in program)


def grad_shapes(run: dict, program: Sequence, n_leaves: int) -> str:
    """Name a node whose grad does not have its data's shape (the first one backward() reached)."""
    for k in range(len(run["data"]) - 1, -1, -1):
        want, got = np.shape(run["data"][k]), np.shape(run["grads"][k])
        if want != got and k == len(run["data"]) - 1:
            return (f"the output's grad has shape {got} but its data has shape {want}: backward() must seed "
                    "self.grad = np.ones_like(self.data).")
        if want != got:
            where = f"{'the leaf ' if k < n_leaves else ''}{name(k, n_leaves)}"
            return (f"the grad of {where} has shape {got} but its data has shape {want}: the gradient was not summed "
                    f"back over the broadcast axes: {BROADCAST_HINT}")
    return ""


def tolerances(leaves: Sequence[np.ndarray]) -> dict[str, float]:
    """float64 leaves: tight; a float32 leaf: float32 tolerances."""
    if any(np.asarray(x).dtype == np.float32 for x in leaves):
        return {"rtol": 1e-5, "atol": 1e-6, "grad_rtol": 1e-4}
    return {"rtol": 1e-7, "atol": 1e-12, "grad_rtol": 1e-6}


@probe("w02_tensor_elementwise")
@probe("w02_tensor_broadcast")
@probe("w02_tensor_reductions")
@probe("w02_tensor_matmul")
@probe("w02_tensor_log_softmax")
def _programs(cls: type, *, inputs: dict) -> list[dict]:
    """Each program of the case run with the student's class, every data and grad read back as an array."""
    return [run_program(cls, leaves, program, read=read_array) for leaves, program in inputs["programs"]]


# ---- the visible checks ---------------------------------------------------------------------------------

PROGRAMS = {"x_times_x": "x * x", "elementwise_program": "an elementwise program", "broadcasting_program": "(3, 4) + (4,)",
            "reductions_program": "((x - x.mean(0, keepdims=True))**2).mean(1)", "matmul_program": "relu(X @ W1 + b1) @ W2",
            "log_softmax_program": "log_softmax(axis=-1)"}


def Tensor(cls: type) -> None:  # noqa: N802 (named after the class it checks)
    """Check a Tensor class on stored programs: elementwise operations, broadcasting, sum and mean over
    axes, matrix products and log_softmax; values, gradients and their shapes."""
    arrays = fixture("w02_tensor")
    who = getattr(cls, "__name__", "Tensor")
    for tag, label in PROGRAMS.items():
        n_leaves = int(arrays[f"leaves_{tag}"])
        leaves = [arrays[f"leaf_{tag}_{i}"] for i in range(n_leaves)]
        program = decode(str(arrays[f"program_{tag}"]))
        count = n_leaves + len(program)
        data = [arrays[f"data_{tag}_{k}"] for k in range(count)]
        grads = [arrays[f"grad_{tag}_{k}"] for k in range(count)]
        mistakes = [m for m in stored_mistakes(arrays, suffix=f"_{tag}")]
        mistakes = [type(m)(m.name, [arrays[f"mistake_{m.name}_{tag}_{i}"] for i in range(n_leaves)], m.message)
                    for m in mistakes]
        run = run_program(cls, leaves, program, read=read_array)
        diagnose(f"{who} on {label}", run, program, n_leaves, data, grads, mistakes=mistakes,
                 extra=tensor_errors, shapes=grad_shapes, **tolerances(leaves))
    passed(f"{who}: values, gradients and gradient shapes of every operation, with broadcasting, are right")


def tensor_mlp_grads(fn: Callable) -> None:
    """Check the loss and gradients of the stored two-layer MLP computed with Tensors."""
    a = fixture("w02_tensor_mlp")
    args = [a[k] for k in ("X", "y", "W1", "b1", "W2", "b2")]
    before = [x.copy() for x in args]
    parts = ("loss", "dW1", "db1", "dW2", "db2")
    result = unpack(fn.__name__, call(fn, *args), *parts)
    for key, old, new in zip(("X", "y", "W1", "b1", "W2", "b2"), before, args):
        if not np.array_equal(old, new):
            raise CheckFailed(f"{fn.__name__} changed its input `{key}` in place; work on new arrays.")
    for part, got in zip(parts, result):
        check_array(f"{fn.__name__}: {part}", np.asarray(got, dtype=float) if np.ndim(got) == 0 else got,
                    a[f"expected_{part}"], rtol=1e-6 if part != "loss" else 1e-7, atol=1e-12,
                    mistakes=stored_mistakes(a, suffix=f"_{part}"),
                    hint="loss = mean over the batch of -log_softmax(logits)[i, y_i]; backward() from it.")
    passed(f"{fn.__name__}: the loss and the four gradients equal the reference")
