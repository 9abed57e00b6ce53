"""Week 2, the array autograd engine ``Tensor``: reference, known mistakes, hidden cases, fixtures.

The programs of :mod:`autograder.cases.w02_value` on arrays. Reverse mode is the same sweep with
vector-Jacobian products in place of local derivatives; for an output Y of shape S the upstream gradient
G has shape S (ones for the output itself), and

    Y = A + B (broadcast):  dA = unbroadcast(G, A.shape), the sum of G over the axes broadcasting added
    Y = A * B:              dA = unbroadcast(G * B, A.shape)        Y = A / B: dB = unbroadcast(-G A / B^2, B.shape)
    Y = A @ B:              dA = G B^T, dB = A^T G
    Y = A.sum(axis, keepdims): dA = broadcast_to(expand_dims(G, axis) unless keepdims, A.shape)
    Y = A.mean(axis, ...):  the same divided by the number of entries averaged
    Y = exp(A): G Y;  Y = log(A): G / A;  Y = relu(A): G [A > 0]
    Y = log_softmax(A, axis): dA = G - softmax(A) * G.sum(axis, keepdims=True)

The known mistakes are that sweep done wrongly: ``=`` instead of ``+=``, the mean's gradient not divided
by the count, the summed axis not put back, matrix-product gradients transposed the wrong way, the
softmax term of log_softmax left out or not weighted by the upstream sum. Gradients not summed back over
broadcast axes show as a wrong shape (recorded by the probe) or a broadcasting error in backward().
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autograder.cases.w02_value import orders
from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w02_tensor import encode, grad_shapes, tensor_errors, tolerances
from dlfs.checks.w02_value import OPS, diagnose, node_inputs
from dlfs.grading import Call

TENSOR_MISTAKES = {
    "assign": ("your gradients match `grad = ...` instead of `grad += ...` in a backward rule: a tensor used "
               "twice (x * x, or a tensor with two users) must add up the gradient of every use."),
    "mean_no_divide": ("your gradients match a mean whose backward does not divide by the number of entries "
                       "averaged: d mean(x)/dx = 1/count for each entry."),
    "sum_no_expand": ("your gradients match a sum/mean backward that broadcasts the upstream gradient without putting "
                      "the summed axis back: with keepdims=False use np.expand_dims(dout, axis) first."),
    "matmul_transposed": ("your gradients match a matrix product whose backward has the transposes wrong: for "
                          "C = A @ B, dA = dC @ B.T and dB = A.T @ dC."),
    "log_softmax_no_softmax": ("your gradients match a log_softmax backward without the softmax term: "
                               "dx = dy - softmax(x) * dy.sum(axis, keepdims=True), not dy."),
    "log_softmax_no_sum": ("your gradients match a log_softmax backward that subtracts softmax(x) without weighting "
                           "it by the upstream sum: dx = dy - softmax(x) * dy.sum(axis, keepdims=True)."),
}
MLP_MISTAKES = {
    "no_mean": ("your result matches the *summed* loss over the batch: the loss is the mean, so divide by N "
                "(or use .mean())."),
}
MLP_HINT = "logits = relu(X @ W1 + b1) @ W2 + b2; loss = -(log_softmax(logits) * one_hot(y)).sum() / N."

# ---- reference ---------------------------------------------------------------------------------------------


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along ``axis``: stable for entries around ±1e3."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _args(program_ins: Sequence, values: list[np.ndarray]) -> list:
    op, *args = program_ins
    return [values[a] if i in OPS[op][0] else a for i, a in enumerate(args)]


def apply(op: str, args: list) -> np.ndarray:
    """The forward of one operation, in float64."""
    a = np.asarray(args[0], dtype=np.float64) if not isinstance(args[0], int | float) else float(args[0])
    b = args[1] if len(args) > 1 else None
    if op in ("add", "addc", "radd"):
        return np.asarray(a + b, dtype=np.float64)
    if op in ("sub", "subc", "rsub"):
        return np.asarray(a - b, dtype=np.float64)
    if op in ("mul", "mulc", "rmul"):
        return np.asarray(a * b, dtype=np.float64)
    if op in ("div", "divc", "rdiv"):
        return np.asarray(a / b, dtype=np.float64)
    if op == "neg":
        return -a
    if op == "matmul":
        return a @ b
    if op in ("sum", "mean"):
        return np.asarray(getattr(a, op)(axis=b, keepdims=bool(args[2])), dtype=np.float64)
    if op == "log_softmax":
        return log_softmax(a, axis=b)
    return {"exp": np.exp, "log": np.log, "relu": lambda x: np.maximum(x, 0.0)}[op](a)


def forward(leaves: Sequence[np.ndarray], program: Sequence) -> list[np.ndarray]:
    """Every node's value: the leaves (as float64), then one per instruction."""
    values = [np.asarray(x, dtype=np.float64) for x in leaves]
    for ins in program:
        values.append(apply(ins[0], _args(ins, values)))
    return values


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes broadcasting added to ``shape``."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def vjp(op: str, args: list, out: np.ndarray, g: np.ndarray, mistake: str = "") -> list[np.ndarray]:
    """The gradients sent to the node arguments of one operation, given the upstream ``g`` (or a known
    mistake's)."""
    nodes = OPS[op][0]
    x = [np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) else v for v in args]
    shape = [np.shape(x[i]) for i in nodes]
    if op in ("add", "addc", "radd", "sub", "subc", "rsub", "mul", "mulc", "rmul", "div", "divc", "rdiv"):
        a, b = x[0], x[1]
        kind = op.removeprefix("r")[:3]
        local = {"add": lambda: (g, g), "sub": lambda: (g, -g), "mul": lambda: (g * b, g * a),
                 "div": lambda: (g / b, -g * a / (np.asarray(b) ** 2))}[kind]()
        return [unbroadcast(np.broadcast_to(local[i], out.shape), np.shape(x[i])) for i in nodes]
    if op == "neg":
        return [-g]
    if op == "exp":
        return [g * out]
    if op == "log":
        return [g / x[0]]
    if op == "relu":
        return [g * (x[0] > 0)]
    if op == "matmul":
        a, b = x
        if mistake == "matmul_transposed":
            return [b.T @ g, g @ a.T]
        return [g @ b.T, a.T @ g]
    if op in ("sum", "mean"):
        a, axis, keepdims = x[0], x[1], bool(x[2])
        count = a.size // max(out.size, 1)
        if axis is not None and not keepdims and mistake != "sum_no_expand":
            g = np.expand_dims(g, axis)
        grad = np.broadcast_to(g, shape[0]).copy()
        return [grad / count if op == "mean" and mistake != "mean_no_divide" else grad]
    if op == "log_softmax":
        axis = x[1]
        soft = np.exp(out)
        if mistake == "log_softmax_no_softmax":
            return [g]
        if mistake == "log_softmax_no_sum":
            return [g - soft]
        return [g - soft * g.sum(axis=axis, keepdims=True)]
    raise KeyError(op)


def backward(leaves: Sequence[np.ndarray], program: Sequence, order: str = "creation", assign: bool = False,
             mistake: str = "", values: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The gradient of sum(last node) with respect to every node (or a known mistake's)."""
    values = forward(leaves, program) if values is None else values
    n_leaves = len(leaves)
    grads = [np.zeros_like(v) for v in values]
    grads[-1] = np.ones_like(values[-1])
    for k in orders(program, n_leaves)[order]:
        ins = program[k - n_leaves]
        for i, d in zip(node_inputs(ins), vjp(ins[0], _args(ins, values), values[k], grads[k], mistake)):
            grads[i] = d if assign else grads[i] + d
    return grads


def tensor_mistakes(leaves: Sequence[np.ndarray], program: Sequence) -> dict[str, list[np.ndarray]]:
    """The leaf gradients of each known mistake that runs without error and differs from the right ones."""
    n = len(leaves)
    right = backward(leaves, program)[:n]
    out = {}
    variants = [(f"assign_{order}", {"order": order, "assign": True}) for order in ("creation", "dfs", "dfs_reversed")]
    variants += [(m, {"mistake": m}) for m in TENSOR_MISTAKES if m != "assign"]
    with np.errstate(all="ignore"):
        for key, kwargs in variants:
            try:
                grads = backward(leaves, program, **kwargs)[:n]
            except ValueError:
                continue
            if any(g.shape != r.shape or not np.allclose(g, r, rtol=1e-6, atol=1e-9) for g, r in zip(grads, right)):
                out[key] = grads
    return out


def messages_for(outputs: dict) -> dict[str, str]:
    return {k: TENSOR_MISTAKES["assign" if k.startswith("assign") else k] for k in outputs}


# ---- programs ---------------------------------------------------------------------------------------------

UNARY = ("neg", "exp", "log", "relu")


def _valid(ins: list, values: list[np.ndarray]) -> bool:
    op = ins[0]
    x = _args(ins, values)
    nodes = OPS[op][0]
    a = np.asarray(x[nodes[0]] if op not in ("rsub", "radd", "rmul", "rdiv") else x[1], dtype=float)
    if op in ("div", "divc") and np.min(np.abs(x[1])) < 0.3 or op == "rdiv" and np.min(np.abs(a)) < 0.3:
        return False
    if op == "log" and a.min() < 0.2 or op == "exp" and np.abs(a).max() > 3 or op == "relu" and np.abs(a).min() < 0.05:
        return False
    try:
        with np.errstate(all="raise"):
            out = apply(op, x)
    except (ValueError, FloatingPointError):
        return False
    return bool(np.all(np.abs(out) < 30.0))


def random_program(rng: np.random.Generator, shapes: Sequence[tuple], n_ops: int, ops: Sequence[str],
                   dtype=np.float64, constants: Sequence = ()) -> tuple[list[np.ndarray], list[list]]:
    """Leaves of the given shapes in ±[0.5, 2]; ``n_ops`` valid instructions over nodes whose shapes
    broadcast together, with numbers (and ``constants`` arrays) as constants; then each node nothing
    used summed, and the sums added into the output."""
    leaves = [(rng.choice([-1, 1], s) * rng.uniform(0.5, 2.0, s)).astype(dtype) for s in shapes]
    values, program = forward(leaves, []), []
    attempts = 0
    while len(program) < n_ops and attempts < 5000:
        attempts += 1
        op = str(rng.choice(list(ops)))
        n = len(values)
        i, j = int(rng.integers(max(0, n - 6), n)), int(rng.integers(0, n))
        const = [float(rng.choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.0, 3.0])), *constants]
        c = const[int(rng.integers(len(const)))]
        nodes = OPS[op][0]
        if op in UNARY:
            ins = [op, i]
        elif nodes == (0, 1):
            ins = [op, i, j]
        elif nodes == (0,):
            ins = [op, i, c]
        else:
            ins = [op, float(c) if isinstance(c, np.ndarray) else c, i]  # an array never on the left
        if _valid(ins, values):
            program.append(ins)
            values.append(apply(op, _args(ins, values)))
    used = {i for ins in program for i in node_inputs(ins)}
    loose = [k for k in range(len(values)) if k not in used and k >= len(leaves)]
    total = None
    for k in loose:
        program.append(["sum", k, None, False])
        node = len(leaves) + len(program) - 1
        if total is not None:
            program.append(["add", total, node])
            node = len(leaves) + len(program) - 1
        total = node
    return leaves, program


def elementwise_programs(rng: np.random.Generator) -> list[tuple[list, list, str]]:
    ops = ["add", "sub", "mul", "div", "addc", "radd", "subc", "rsub", "mulc", "rmul", "divc", "rdiv", "neg", "exp",
           "log", "relu"]
    x = rng.uniform(0.5, 2.0, (2, 3))
    out = [([x], [["mul", 0, 0], ["add", 1, 0], ["sum", 2, None, False]], "x * x + x")]
    for shape, n_ops in [((1, 1), 10), ((1, 4), 14), ((3, 4), 20), ((5,), 20)]:
        out.append((*random_program(rng, [shape, shape], n_ops, ops), f"two leaves of shape {shape}"))
    out.append((*random_program(rng, [(2, 3), (2, 3)], 14, ops, dtype=np.float32), "float32 leaves of shape (2, 3)"))
    return out


def broadcast_programs(rng: np.random.Generator) -> list[tuple[list, list, str]]:
    """(3, 4) with (4,), (3, 1) times (1, 4), a (1,) leaf, numbers and array constants; one output an array."""
    leaf = lambda *s: rng.choice([-1, 1], s) * rng.uniform(0.5, 2.0, s)  # noqa: E731
    X, b, col, row = leaf(3, 4), leaf(4), leaf(3, 1), leaf(1, 4)
    out = [
        ([X, b], [["add", 0, 1], ["relu", 2], ["mul", 3, 1], ["sum", 4, None, False]], "(3, 4) + (4,)"),
        ([col, row], [["mul", 0, 1], ["mulc", 2, leaf(3, 4)], ["sum", 3, None, False]], "(3, 1) * (1, 4)"),
        ([X, col], [["div", 0, 1], ["sub", 2, 1], ["mulc", 3, leaf(3, 4)]], "(3, 4) / (3, 1), an array output"),
        ([b], [["addc", 0, leaf(3, 4)], ["mulc", 1, leaf(2, 3, 4)], ["sum", 2, None, False]],
         "(4,) + a (3, 4) array, times a (2, 3, 4) array"),
        ([leaf(1), X], [["mul", 1, 0], ["rsub", 2.0, 2], ["sum", 3, None, False]], "a (1,) leaf times (3, 4)"),
    ]
    shapes = [(3, 4), (4,), (3, 1), (1, 4), (1,)]
    out.append((*random_program(rng, shapes, 24, ["add", "sub", "mul", "div", "exp", "relu", "mulc", "addc"],
                                constants=[leaf(4), leaf(3, 1)]), "a random program over (3, 4), (4,), (3, 1), (1, 4), (1,)"))
    return out


def reduction_programs(rng: np.random.Generator) -> list[tuple[list, list, str]]:
    """sum and mean over axis None, 0, 1, -1, with and without keepdims; square inputs (where forgetting
    to put the axis back does not raise); a non-uniform upstream gradient; array outputs."""
    leaf = lambda *s: rng.normal(size=s)  # noqa: E731
    out = []
    for op in ("sum", "mean"):
        for axis, keepdims in [(None, False), (0, False), (1, False), (-1, True), (0, True), (None, True)]:
            x = leaf(4, 4) if axis is not None and not keepdims else leaf(3, 5)
            reduced = apply(op, [x, axis, keepdims])
            weights = leaf(*reduced.shape) if reduced.shape else 2.5
            out.append(([x], [[op, 0, axis, keepdims], ["mulc", 1, weights]],
                        f"x{x.shape}.{op}(axis={axis}, keepdims={keepdims})"))
    out.append(([leaf(1, 5)], [["mean", 0, 1, False], ["mulc", 1, leaf(1)]], "x(1, 5).mean(axis=1), N=1"))
    x = leaf(3, 4)
    out.append(([x], [["mean", 0, 0, True], ["sub", 0, 1], ["mul", 2, 2], ["mean", 3, 1, False], ["mulc", 4, leaf(3)]],
                "centred squares: ((x - x.mean(0, keepdims=True))**2).mean(1)"))
    return out


def matmul_programs(rng: np.random.Generator) -> list[tuple[list, list, str]]:
    leaf = lambda *s: rng.normal(size=s)  # noqa: E731
    out = []
    for n, k, m in [(2, 3, 4), (3, 3, 3), (1, 5, 1), (4, 2, 3)]:
        out.append(([leaf(n, k), leaf(k, m)], [["matmul", 0, 1], ["mulc", 2, leaf(n, m)], ["sum", 3, None, False]],
                    f"({n}, {k}) @ ({k}, {m})"))
    X, W1, b1, W2 = leaf(5, 3), leaf(3, 4), leaf(4), leaf(4, 2)
    program = [["matmul", 0, 1], ["add", 4, 2], ["relu", 5], ["matmul", 6, 3], ["mulc", 7, leaf(5, 2)], ["sum", 8, None, False]]
    out.append(([X, W1, b1, W2], program, "relu(X @ W1 + b1) @ W2"))
    return out


def log_softmax_programs(rng: np.random.Generator) -> list[tuple[list, list, str]]:
    leaf = lambda *s: 3.0 * rng.normal(size=s)  # noqa: E731
    out = []
    for shape, axis in [((4, 5), -1), ((4, 5), 1), ((4, 5), 0), ((1, 3), -1), ((6,), 0)]:
        x = leaf(*shape)
        out.append(([x], [["log_softmax", 0, axis], ["mulc", 1, rng.normal(size=shape)], ["sum", 2, None, False]],
                    f"log_softmax(axis={axis}) of shape {shape}"))
    big = leaf(3, 4)
    big[0] += 800.0
    big[1] -= 800.0
    out.append(([big], [["log_softmax", 0, -1], ["mulc", 1, rng.normal(size=(3, 4))], ["sum", 2, None, False]],
                "rows around +800 and -800"))
    return out


# ---- hidden cases ------------------------------------------------------------------------------------------


def _programs_case(programs: list[tuple[list, list, str]], summary: str):
    def judge(answers: Answers, context: Context) -> str:
        runs = answers.tree
        if not isinstance(runs, list) or len(runs) != len(programs):
            raise CheckFailed(f"{context.name}: the answers hold no runs of the programs (was the hidden test cell changed?).")
        for run, (leaves, program, label) in zip(runs, programs):
            values = forward(leaves, program)
            grads = backward(leaves, program, values=values)
            wrong = tensor_mistakes(leaves, program)
            diagnose(f"{context.name} on {label}", run, program, len(leaves), values, grads,
                     mistakes=mistakes_on(wrong, messages_for(wrong)), extra=tensor_errors, shapes=grad_shapes,
                     **tolerances(leaves))
        return summary

    return {"programs": [(leaves, program) for leaves, program, _ in programs]}, judge


@case("w02_tensor_elementwise")
def tensor_elementwise(rng: np.random.Generator):
    """+ - * / (numbers on either side), unary -, exp, log, relu on same-shape leaves from (1, 1) to (3, 4),
    float32 leaves, and x * x + x; backward from a sum."""
    return _programs_case(elementwise_programs(rng), "elementwise operations agree with the reference")


@case("w02_tensor_broadcast")
def tensor_broadcast(rng: np.random.Generator):
    """Broadcasting: (3, 4) + (4,), (3, 1) * (1, 4), (3, 4) / (3, 1), array constants, a (1,) leaf, and a
    random program over five shapes; each leaf's grad must have the leaf's shape."""
    return _programs_case(broadcast_programs(rng), "gradients are summed back over the broadcast axes")


@case("w02_tensor_reductions")
def tensor_reductions(rng: np.random.Generator):
    """sum and mean with axis None, 0, 1, -1 and keepdims, a non-uniform upstream gradient, N=1, and a
    variance-like program; backward seeded with ones on array outputs."""
    return _programs_case(reduction_programs(rng), "sum and mean over every axis agree with the reference")


@case("w02_tensor_matmul")
def tensor_matmul(rng: np.random.Generator):
    """A @ B for (2,3)@(3,4), square, (1,5)@(5,1), (4,2)@(2,3), and relu(X @ W1 + b1) @ W2."""
    return _programs_case(matmul_programs(rng), "matrix products and a two-layer network agree with the reference")


@case("w02_tensor_log_softmax")
def tensor_log_softmax(rng: np.random.Generator):
    """log_softmax over axis -1, 1 and 0, N=1, a 1-D input, and rows around ±800 (stable), with a
    non-uniform upstream gradient."""
    return _programs_case(log_softmax_programs(rng), "log_softmax and its gradient agree with the reference")


def mlp_loss_grads(X, y, W1, b1, W2, b2) -> tuple:
    """Mean softmax cross-entropy of relu(X W1 + b1) W2 + b2, and its gradients, by hand:
    dS = (softmax - onehot)/N; dW2 = H^T dS; db2 = sum dS; dH = dS W2^T [A > 0]; dW1 = X^T dH; db1 = sum dH."""
    N = X.shape[0]
    A = X @ W1 + b1
    H = np.maximum(A, 0.0)
    S = H @ W2 + b2
    logp = log_softmax(S, axis=1)
    loss = -logp[np.arange(N), y].mean()
    dS = np.exp(logp)
    dS[np.arange(N), y] -= 1.0
    dS /= N
    dA = (dS @ W2.T) * (A > 0)
    return float(loss), X.T @ dA, dA.sum(0), H.T @ dS, dS.sum(0)


def mlp_problem(rng: np.random.Generator, N: int, D: int, H: int, C: int) -> tuple:
    return (rng.normal(size=(N, D)), rng.integers(0, C, N), rng.normal(size=(D, H)) / np.sqrt(D), 0.1 * rng.normal(size=H),
            rng.normal(size=(H, C)) / np.sqrt(H), 0.1 * rng.normal(size=C))


def mlp_mistakes(args: tuple) -> dict[str, dict[str, np.ndarray]]:
    """Per part: the summed loss (no 1/N)."""
    N = args[0].shape[0]
    right = mlp_loss_grads(*args)
    return {part: {"no_mean": np.asarray(value) * N} for part, value in zip(("loss", "dW1", "db1", "dW2", "db2"), right)}


@case("w02_tensor_mlp")
def tensor_mlp(rng: np.random.Generator):
    """tensor_mlp_grads(X, y, W1, b1, W2, b2) -> (loss, dW1, db1, dW2, db2) built with Tensors, against
    the hand-derived gradients, for N=1, 8 and 16."""
    problems = [mlp_problem(rng, *dims) for dims in [(1, 3, 4, 2), (8, 5, 6, 3), (16, 4, 10, 5)]]

    def judge(answers: Answers, context: Context) -> str:
        parts = ["loss", "dW1", "db1", "dW2", "db2"]
        for i, args in enumerate(problems):
            label = f"N={args[0].shape[0]}"
            result = answers.parts(answers.result(i, label, ("X", "y", "W1", "b1", "W2", "b2")), *parts)
            wrong = mlp_mistakes(args)
            for part, got, want in zip(parts, result, mlp_loss_grads(*args)):
                check_array(f"{context.name} on {label}: {part}", np.asarray(got, dtype=float) if np.ndim(got) == 0 else got,
                            np.asarray(want), rtol=1e-7 if part == "loss" else 1e-6, atol=1e-12,
                            mistakes=mistakes_on(wrong[part], MLP_MISTAKES), hint=MLP_HINT)
        return "the loss and gradients of a two-layer MLP agree with the hand-derived ones"

    return {"calls": [Call(args) for args in problems]}, judge


# ---- fixtures ----------------------------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    """One program of each kind for the visible check, and one MLP problem."""
    rng = np.random.default_rng(2025)
    x = rng.uniform(0.5, 2.0, (2, 3))
    chosen = {
        "x_times_x": ([x], [["mul", 0, 0], ["sum", 1, None, False]]),
        "elementwise_program": elementwise_programs(rng)[3][:2],
        "broadcasting_program": broadcast_programs(rng)[0][:2],
        "reductions_program": reduction_programs(rng)[-1][:2],
        "matmul_program": matmul_programs(rng)[-1][:2],
        "log_softmax_program": log_softmax_programs(rng)[0][:2],
    }
    programs: dict[str, np.ndarray] = {}
    for tag, (leaves, program) in chosen.items():
        values, grads = forward(leaves, program), backward(leaves, program)
        programs[f"program_{tag}"] = np.array(encode(program))
        programs[f"leaves_{tag}"] = np.array(len(leaves))
        programs |= {f"leaf_{tag}_{i}": np.asarray(v) for i, v in enumerate(leaves)}
        programs |= {f"data_{tag}_{k}": v for k, v in enumerate(values)}
        programs |= {f"grad_{tag}_{k}": g for k, g in enumerate(grads)}
        wrong = tensor_mistakes(leaves, program)
        for key, outputs in wrong.items():
            programs[f"mistake_{key}_{tag}"] = np.array(0.0)  # a marker: stored_mistakes finds it, the arrays follow
            programs |= {f"mistake_{key}_{tag}_{i}": g for i, g in enumerate(outputs)}
        programs |= {f"message_{key}": np.array(message) for key, message in messages_for(wrong).items()}
    args = mlp_problem(np.random.default_rng(2026), 6, 4, 5, 3)
    mlp = dict(zip(("X", "y", "W1", "b1", "W2", "b2"), args))
    mlp |= {f"expected_{part}": np.asarray(v) for part, v in zip(("loss", "dW1", "db1", "dW2", "db2"), mlp_loss_grads(*args))}
    for part, outputs in mlp_mistakes(args).items():
        mlp |= stored(outputs, MLP_MISTAKES, suffix=f"_{part}")
    return {"w02_tensor": programs, "w02_tensor_mlp": mlp}
