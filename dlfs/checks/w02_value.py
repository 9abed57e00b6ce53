"""Week 2, the scalar autograd engine ``Value``: the visible check, and the probes of its hidden cases.

A case sends a *program* as data: leaf values and a list of instructions such as ``["add", 0, 1]``
(node 0 + node 1), ``["rsub", 2.0, 3]`` (2.0 - node 3) or ``["tanh", 4]``. Nodes are numbered in the
order they are made: the leaves first, then one node per instruction. :func:`run_program` builds the
nodes with the student's class through Python's operators and methods, calls ``backward()`` on the last
node and returns every node's ``data`` and ``grad``, or what it raised and where. :func:`diagnose`
compares such a run with the expected one (the trusted side computes it; the visible check reads it
from a fixture) and names what is wrong: the first node whose value is off and its operation, a known
mistake, or the operation whose backward rule sends a wrong gradient to its input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, Mistake, fixture, passed, stored_mistakes
from dlfs.grading import Raised, probe

__all__ = ["Value"]

#: op: (positions of the node arguments, how the instruction is written in Python).
OPS: dict[str, tuple[tuple[int, ...], str]] = {
    "add": ((0, 1), "{0} + {1}"), "addc": ((0,), "{0} + {1}"), "radd": ((1,), "{0} + {1}"),
    "sub": ((0, 1), "{0} - {1}"), "subc": ((0,), "{0} - {1}"), "rsub": ((1,), "{0} - {1}"),
    "mul": ((0, 1), "{0} * {1}"), "mulc": ((0,), "{0} * {1}"), "rmul": ((1,), "{0} * {1}"),
    "div": ((0, 1), "{0} / {1}"), "divc": ((0,), "{0} / {1}"), "rdiv": ((1,), "{0} / {1}"),
    "neg": ((0,), "-{0}"), "pow": ((0,), "{0} ** {1}"),
    "exp": ((0,), "{0}.exp()"), "log": ((0,), "{0}.log()"), "tanh": ((0,), "{0}.tanh()"),
    "relu": ((0,), "{0}.relu()"), "sigmoid": ((0,), "{0}.sigmoid()"),
    # the array engine's operations (Tensor)
    "matmul": ((0, 1), "{0} @ {1}"), "sum": ((0,), "{0}.sum(axis={1}, keepdims={2})"),
    "mean": ((0,), "{0}.mean(axis={1}, keepdims={2})"), "log_softmax": ((0,), "{0}.log_softmax(axis={1})"),
}

#: What the forward of each operation must compute (the method that runs it).
FORWARD_HINTS = {
    "add": "__add__ returns a new node holding self.data + other.data",
    "addc": "__add__ must accept a plain number: wrap it, other = other if isinstance(other, Value) else Value(other)",
    "radd": "number + node calls __radd__(self, other): return self + other",
    "sub": "__sub__ is self + (-other)", "subc": "__sub__ must accept a plain number",
    "rsub": "number - node calls __rsub__(self, other), which must return other - self (not self - other)",
    "mul": "__mul__ returns a new node holding self.data * other.data", "mulc": "__mul__ must accept a plain number",
    "rmul": "number * node calls __rmul__: return self * other",
    "div": "__truediv__ is self * other**-1", "divc": "__truediv__ must accept a plain number",
    "rdiv": "number / node calls __rtruediv__(self, other), which must return other * self**-1 (not self / other)",
    "neg": "__neg__ is self * -1", "pow": "__pow__(self, k) holds self.data ** k for a number k",
    "exp": "exp() holds math.exp(self.data)", "log": "log() holds math.log(self.data)",
    "tanh": "tanh() holds math.tanh(self.data)", "relu": "relu() holds max(self.data, 0)",
    "sigmoid": "sigmoid() holds 1 / (1 + exp(-x)), computed as exp(x) / (1 + exp(x)) when x < 0",
    "matmul": "__matmul__ holds self.data @ other.data",
    "sum": "sum(axis, keepdims) holds self.data.sum(axis=axis, keepdims=keepdims)",
    "mean": "mean(axis, keepdims) holds self.data.mean(axis=axis, keepdims=keepdims)",
    "log_softmax": "log_softmax(axis) holds x - max - log(sum(exp(x - max))) along the axis",
}

#: The backward rule of each operation: d out / d input, times out.grad, added (+=) to the input's grad.
BACKWARD_HINTS = {
    "add": "d(a + b)/da = d(a + b)/db = 1", "addc": "d(a + c)/da = 1", "radd": "d(c + a)/da = 1",
    "sub": "d(a - b)/da = 1 and d(a - b)/db = -1 (if a - b is a + (-b), check __neg__ and __add__)",
    "subc": "d(a - c)/da = 1", "rsub": "d(c - a)/da = -1",
    "mul": "d(a b)/da = b and d(a b)/db = a", "mulc": "d(a c)/da = c", "rmul": "d(c a)/da = c",
    "div": "d(a/b)/da = 1/b and d(a/b)/db = -a/b**2 (if a / b is a * b**-1, check the rules of __mul__ and __pow__)",
    "divc": "d(a/c)/da = 1/c", "rdiv": "d(c/a)/da = -c/a**2 (if c / a is c * a**-1, check the rule of __pow__)",
    "neg": "d(-a)/da = -1", "pow": "d(a**k)/da = k a**(k-1)", "exp": "d exp(a)/da = exp(a)",
    "log": "d log(a)/da = 1/a", "tanh": "d tanh(a)/da = 1 - tanh(a)**2",
    "relu": "d relu(a)/da = 1 if a > 0 else 0 (0 at a = 0)", "sigmoid": "d sigmoid(a)/da = s (1 - s), s = sigmoid(a)",
    "matmul": "for C = A @ B: dA = dC @ B.T and dB = A.T @ dC",
    "sum": "the gradient of a sum is dout copied back to every summed entry (np.expand_dims over the "
           "summed axes first when keepdims=False)",
    "mean": "the gradient of a mean is dout copied back to every entry and divided by the number of entries averaged",
    "log_softmax": "for y = log_softmax(x): dx = dy - softmax(x) * dy.sum(axis, keepdims=True)",
}

VALUE_HINT = ("build the topological order iteratively (an explicit stack), then call each node's _backward "
              "in reverse, adding (+=) into the grads.")


def name(index: int, n_leaves: int) -> str:
    """How node ``index`` is called in messages: leaves ``x0, x1, ...``, the others ``v<index>``."""
    return f"x{index}" if index < n_leaves else f"v{index}"


def _shown(argument: Any) -> str:
    if isinstance(argument, np.ndarray):
        return f"array{argument.shape}" if argument.ndim else repr(float(argument))
    return repr(argument)


def written(program: Sequence, index: int, n_leaves: int) -> str:
    """Node ``index`` as Python: ``v7 = 2.0 - v3``."""
    op, *args = program[index - n_leaves]
    nodes, form = OPS[op]
    shown = [name(a, n_leaves) if i in nodes else _shown(a) for i, a in enumerate(args)]
    return f"{name(index, n_leaves)} = {form.format(*shown)}"


def node_inputs(instruction: Sequence) -> list[int]:
    """The node indices an instruction reads."""
    op, *args = instruction
    return [int(args[i]) for i in OPS[op][0]]


def apply(nodes: list, instruction: Sequence) -> Any:
    """Run one instruction with the student's nodes, through Python's operators and the methods."""
    op, *args = instruction
    a = [nodes[int(x)] if i in OPS[op][0] else x for i, x in enumerate(args)]
    if op in ("add", "addc", "radd"):
        return a[0] + a[1]
    if op in ("sub", "subc", "rsub"):
        return a[0] - a[1]
    if op in ("mul", "mulc", "rmul"):
        return a[0] * a[1]
    if op in ("div", "divc", "rdiv"):
        return a[0] / a[1]
    if op == "neg":
        return -a[0]
    if op == "pow":
        return a[0] ** a[1]
    if op == "matmul":
        return a[0] @ a[1]
    if op in ("sum", "mean"):
        return getattr(a[0], op)(axis=a[1], keepdims=bool(a[2]))
    if op == "log_softmax":
        return a[0].log_softmax(axis=a[1])
    return getattr(a[0], op)()


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


class default_recursion_limit:
    """Run with Python's default recursion budget (1000 frames) above the caller, whatever the notebook set."""

    def __enter__(self):
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(_stack_depth() + 1000)

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)


def _scalar(x: Any) -> float:
    return float(x)


def run_program(cls: type, leaves: Sequence, program: Sequence, read: Callable[[Any], Any] = _scalar) -> dict:
    """Build the program's nodes with ``cls``, call ``backward()`` on the last one, read every node back.

    Returns ``{"data": [...], "grads": [...], "error": Raised | None, "stage": ..., "at": node index}``;
    ``data`` holds the nodes made before anything raised, ``grads`` is empty unless backward() returned.
    ``stage`` is where it raised: "leaf" (the constructor), "forward", "backward", "data" or "grad" (reading).
    """
    nodes: list = []
    out: dict[str, Any] = {"data": [], "grads": [], "error": None, "stage": "", "at": -1}
    stage = "leaf"
    try:
        with default_recursion_limit():
            for i, x in enumerate(leaves):
                out["at"] = i
                nodes.append(cls(x))
            stage = "forward"
            for k, instruction in enumerate(program):
                out["at"] = len(leaves) + k
                nodes.append(apply(nodes, instruction))
            stage = "data"
            out["data"] = [read(node.data) for node in nodes]
            stage, out["at"] = "backward", len(nodes) - 1
            nodes[-1].backward()
            stage = "grad"
            out["grads"] = [read(node.grad) for node in nodes]
    except Exception as err:  # recorded as data; the judge says what it means
        out["error"], out["stage"] = Raised(type(err).__name__, str(err)[:500]), stage
    return out


# ---- the diagnosis, shared by the visible check and the hidden cases ---------------------------------------


def _close(got: Any, want: Any, rtol: float, atol: float) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype == object or not np.issubdtype(got.dtype, np.number):
        return False
    return bool(np.all(np.isfinite(got)) and np.allclose(got, want, rtol=rtol, atol=atol))


def _error_message(who: str, run: dict, program: Sequence, n_leaves: int, extra: Callable | None) -> str:
    error: Raised = run["error"]
    at, stage = run["at"], run["stage"]
    if error.type == "NotImplementedError":
        return f"{who} is not implemented yet: replace `raise NotImplementedError()` with your code."
    said = f"{error.type}: {error.message}"
    if error.type == "RecursionError":
        return (f"{who}: backward() hit Python's recursion limit on a graph of {len(program) + n_leaves} nodes "
                f"({said}): a recursive topological sort needs one stack frame per node; use an iterative "
                "topological sort (an explicit stack of nodes to visit).")
    if extra is not None:
        named = extra(run, program, n_leaves)
        if named:
            return f"{who}: {named}"
    if stage == "leaf":
        return f"{who}: making a leaf raised {said}; __init__(self, data, _children=(), _op='') must accept a number."
    if stage == "forward":
        op = program[at - n_leaves][0]
        return (f"{who}: `{written(program, at, n_leaves)}` raised {said}. Hint: {FORWARD_HINTS[op]}.")
    if stage == "data":
        return f"{who}: reading `.data` raised {said}; store the value as a float (arrays for Tensor)."
    if stage == "backward":
        return f"{who}: backward() raised {said}. Run the program by hand on a small graph to see where."
    return f"{who}: reading `.grad` after backward() raised {said}; every node needs a .grad, 0 at creation."


def diagnose(who: str, run: dict, program: Sequence, n_leaves: int, want_data: Sequence, want_grads: Sequence, *,
             mistakes: Sequence[Mistake] = (), rtol: float = 1e-7, atol: float = 1e-12, grad_rtol: float = 1e-6,
             grad_atol: float | None = None, extra: Callable | None = None, shapes: Callable | None = None) -> None:
    """Raise CheckFailed with the diagnosis unless ``run`` has the right values and leaf gradients.

    ``mistakes`` hold the leaf gradients a known mistake gives. ``extra(run, program, n_leaves)`` may name
    an error; ``shapes(run, program, n_leaves)`` may name wrong gradient shapes (the array engine).
    """
    if not isinstance(run, dict) or not {"data", "grads", "error", "stage", "at"} <= set(run):
        raise CheckFailed(f"{who}: the answers are not a program run (was the hidden test cell changed?).")
    if not (isinstance(run["data"], list) and isinstance(run["grads"], list) and isinstance(run["at"], int)
            and 0 <= run["at"] < len(want_data) or run["at"] == -1):
        raise CheckFailed(f"{who}: the answers are not a program run (was the hidden test cell changed?).")
    data, grads = list(run["data"]), list(run["grads"])
    if len(data) > len(want_data) or run["error"] is None and (len(data), len(grads)) != (len(want_data), len(want_data)):
        raise CheckFailed(f"{who}: expected {len(want_data)} nodes, got {len(data)} (was the hidden test cell changed?).")
    for k, want in enumerate(want_data[: len(data)]):
        if not _close(data[k], want, rtol, atol):
            what = "the leaf" if k < n_leaves else f"`{written(program, k, n_leaves)}`"
            op = None if k < n_leaves else program[k - n_leaves][0]
            hint = FORWARD_HINTS[op] if op else "Value(x).data must be x"
            shown = np.asarray(data[k])
            got = f"{shown.item()!r}" if shown.size == 1 else f"shape {shown.shape}"
            wanted = np.asarray(want)
            exp = f"{wanted.item()!r}" if wanted.size == 1 else f"shape {wanted.shape}"
            if shown.shape == wanted.shape and shown.size > 1 and np.issubdtype(shown.dtype, np.number):
                got, exp = f"max error {np.max(np.abs(shown - wanted)):.3g}", "the reference"
            raise CheckFailed(f"{who}: the value of {what} is wrong: got {got}, expected {exp}. Hint: {hint}.")
    if run["error"] is not None:
        raise CheckFailed(_error_message(who, run, program, n_leaves, extra))
    if shapes is not None:
        named = shapes(run, program, n_leaves)
        if named:
            raise CheckFailed(f"{who}: {named}")
    scale = max([float(np.max(np.abs(g))) for g in want_grads if np.size(g)] + [1.0])
    gatol = 1e-9 * scale if grad_atol is None else grad_atol
    ok = [_close(g, w, grad_rtol, gatol) for g, w in zip(grads, want_grads)]
    if all(ok[:n_leaves]):
        return
    for mistake in mistakes:
        if len(mistake.output) == n_leaves and all(_close(g, m, grad_rtol, gatol) for g, m in zip(grads, mistake.output)):
            raise CheckFailed(f"{who}: {mistake.message}")
    wrong = max(k for k, good in enumerate(ok) if not good)
    if wrong == len(want_grads) - 1:
        raise CheckFailed(f"{who}: after backward() the output's own grad is {_brief(grads[wrong])}; backward() "
                          "must start from grad = 1 (ones for an array).")
    users = [k + n_leaves for k, ins in enumerate(program) if wrong in node_inputs(ins)]
    where = f"{'the leaf ' if wrong < n_leaves else ''}{name(wrong, n_leaves)}"
    if len(users) == 1:
        op = program[users[0] - n_leaves][0]
        raise CheckFailed(f"{who}: the gradient of {where} is wrong ({_brief(grads[wrong])}, expected "
                          f"{_brief(want_grads[wrong])}); it comes only from `{written(program, users[0], n_leaves)}`, "
                          f"whose gradient is right: check its backward rule, {BACKWARD_HINTS[op]}.")
    uses = "; ".join(f"`{written(program, u, n_leaves)}`" for u in users)
    raise CheckFailed(f"{who}: the gradient of {where} is wrong ({_brief(grads[wrong])}, expected "
                      f"{_brief(want_grads[wrong])}); it is used {len(users)} times ({uses}): its grad must be the "
                      "sum (+=) of what every use sends back, with each backward rule right. Hint: " + VALUE_HINT)


def _brief(x: Any) -> str:
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        return f"a {x.dtype} array"
    if x.size == 1:
        return f"{x.item():.6g}" if x.ndim == 0 else f"[{x.item():.6g}] of shape {x.shape}"
    return f"an array of shape {x.shape}"


# ---- probes ---------------------------------------------------------------------------------------------


@probe("w02_value_ops")
@probe("w02_value_reuse")
@probe("w02_value_deep")
@probe("w02_value_edges")
def _programs(cls: type, *, inputs: dict) -> list[dict]:
    """Each program of the case run with the student's class."""
    return [run_program(cls, leaves, program) for leaves, program in inputs["programs"]]


def train_linear_regression(cls: type, X: Sequence, y: Sequence, lr: float, steps: int) -> dict:
    """``steps`` of gradient descent on the mean squared error of x·w + b, gradients from the student's class.

    Each step builds a fresh graph from plain floats: loss = sum((sum_j w_j x_ij + b - y_i)**2) / N.
    Returns the loss of each step and the parameters [w..., b] after it.
    """
    X, y = [list(map(float, row)) for row in X], [float(v) for v in y]
    w, b = [0.0] * len(X[0]), 0.0
    losses, params = [], []
    for _ in range(int(steps)):
        wv, bv = [cls(v) for v in w], cls(b)
        loss = sum((sum(wj * xj for wj, xj in zip(wv, row)) + bv - yi) ** 2 for row, yi in zip(X, y)) / len(y)
        loss.backward()
        losses.append(float(loss.data))
        w = [float(wj.data) - lr * float(wj.grad) for wj in wv]
        b = float(bv.data) - lr * float(bv.grad)
        params.append(w + [b])
    return {"losses": losses, "params": params}


@probe("w02_value_regression")
def _regression(cls: type, *, inputs: dict) -> Any:
    from dlfs.grading import record

    with default_recursion_limit():
        return record(train_linear_regression, cls, inputs["X"], inputs["y"], inputs["lr"], inputs["steps"])


# ---- the visible check ------------------------------------------------------------------------------------


def Value(cls: type) -> None:  # noqa: N802 (named after the class it checks)
    """Check a Value class on stored programs: every operation, a reused node, a chain of 3,000 nodes."""
    arrays = fixture("w02_value")
    who = getattr(cls, "__name__", "Value")
    labels = {"x_plus_x": "x + x", "x_times_x": "x * x", "reused_nodes": "a program with reused nodes",
              "every_operation": "a program using every operation", "chain": "a chain of 3,001 nodes"}
    for tag, label in labels.items():
        key = f"program_{tag}"
        leaves, program = json.loads(str(arrays[key]))
        run = run_program(cls, leaves, program)
        diagnose(f"{who} on {label}", run, program, len(leaves), arrays[f"data_{tag}"],
                 arrays[f"grads_{tag}"], mistakes=stored_mistakes(arrays, suffix=f"_{tag}"))
    passed(f"{who}: values and gradients of every operation, a reused node and a 3,000-node chain are right")
