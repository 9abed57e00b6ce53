"""Week 2, the scalar autograd engine ``Value``: reference, known mistakes, hidden cases, fixtures.

A program (see :mod:`dlfs.checks.w02_value`) is a list of leaf values and of instructions, each making
one node from earlier ones. The reference evaluates it on floats and runs reverse mode on it:

    forward:  v_k = op_k(v_i, v_j or a constant), in the order written (a topological order);
    backward: g_out = 1; for k from the last node down, g_i += g_k * d op_k / d v_i for each input i,

so g_i = dL/dv_i, summed over every use of v_i (the multivariate chain rule). The local derivatives:
d(a+b) = (1, 1), d(a-b) = (1, -1), d(ab) = (b, a), d(a/b) = (1/b, -a/b^2), d(a^k)/da = k a^(k-1),
d exp(a) = exp(a), d log(a) = 1/a, d tanh(a) = 1 - tanh(a)^2, d relu(a) = [a > 0],
d sigmoid(a) = s(1 - s). The known mistakes are the same sweep done wrongly: ``=`` instead of ``+=``
(for several valid orders, since the survivor depends on the order), nodes visited breadth-first from
the output or in the forward order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np

from autograder.fixtures import stored
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed
from dlfs.checks.w02_value import OPS, diagnose, node_inputs
from dlfs.grading import Raised

VALUE_MISTAKES = {
    "assign": ("your gradients match `grad = ...` instead of `grad += ...` in a backward rule: a node used "
               "twice (here x + x, x * x or a node with two users) must add up the gradient of every use."),
    "bfs": ("your gradients match a backward pass that visits the nodes breadth-first from the output: a node "
            "passes its gradient on before all its users have added theirs; visit the nodes in reverse "
            "topological order instead."),
    "forward_order": ("your gradients match a backward pass that visits the nodes in topological order, not in "
                      "*reverse* topological order: reverse the list before calling each _backward."),
}
REGRESSION_HINT = ("the loss is a mean of squares over the examples; each weight is used by every example, so its "
                   "grad must add up (+=) all of their contributions.")

# ---- reference ---------------------------------------------------------------------------------------------


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), without overflow for |x| ~ 1e3."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


FORWARD: dict[str, Callable] = {
    "add": lambda a, b: a + b, "addc": lambda a, b: a + b, "radd": lambda a, b: a + b,
    "sub": lambda a, b: a - b, "subc": lambda a, b: a - b, "rsub": lambda a, b: a - b,
    "mul": lambda a, b: a * b, "mulc": lambda a, b: a * b, "rmul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "divc": lambda a, b: a / b, "rdiv": lambda a, b: a / b,
    "neg": lambda a: -a, "pow": lambda a, k: a ** k, "exp": math.exp, "log": math.log, "tanh": math.tanh,
    "relu": lambda a: a if a > 0 else 0.0, "sigmoid": sigmoid,
}


def local(op: str, args: Sequence[float], out: float) -> list[float]:
    """d out / d (each node argument), in the order of the node arguments."""
    a = args[0]
    b = args[1] if len(args) > 1 else None
    return {
        "add": lambda: [1.0, 1.0], "addc": lambda: [1.0], "radd": lambda: [1.0],
        "sub": lambda: [1.0, -1.0], "subc": lambda: [1.0], "rsub": lambda: [-1.0],
        "mul": lambda: [b, a], "mulc": lambda: [b], "rmul": lambda: [a],
        "div": lambda: [1.0 / b, -a / b ** 2], "divc": lambda: [1.0 / b], "rdiv": lambda: [-a / b ** 2],
        "neg": lambda: [-1.0], "pow": lambda: [b * a ** (b - 1)], "exp": lambda: [out], "log": lambda: [1.0 / a],
        "tanh": lambda: [1.0 - out ** 2], "relu": lambda: [1.0 if a > 0 else 0.0], "sigmoid": lambda: [out * (1.0 - out)],
    }[op]()


def forward(leaves: Sequence[float], program: Sequence) -> list[float]:
    """The value of every node: the leaves, then one per instruction."""
    values = [float(x) for x in leaves]
    for op, *args in program:
        nodes = OPS[op][0]
        values.append(float(FORWARD[op](*[values[a] if i in nodes else a for i, a in enumerate(args)])))
    return values


def orders(program: Sequence, n_leaves: int) -> dict[str, list[int]]:
    """Instruction nodes in several valid reverse topological orders, and two invalid ones.

    "creation": last made first; "dfs"/"dfs_reversed": micrograd's depth-first post-order (children in
    argument order, or reversed), reversed; "bfs": breadth-first from the output (invalid with fan-out);
    "forward": the order of creation (invalid).
    """
    n = n_leaves + len(program)
    inputs = {n_leaves + k: node_inputs(ins) for k, ins in enumerate(program)}

    def dfs(flip: bool) -> list[int]:
        post, seen, stack = [], set(), [(n - 1, False)]
        while stack:
            node, done = stack.pop()
            if done:
                post.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            children = inputs.get(node, [])
            for child in (children if flip else reversed(children)):
                if child not in seen:
                    stack.append((child, False))
        return [k for k in reversed(post) if k >= n_leaves]

    bfs, seen, queue = [], {n - 1}, [n - 1]
    while queue:
        node = queue.pop(0)
        if node >= n_leaves:
            bfs.append(node)
        for child in inputs.get(node, []):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return {"creation": list(range(n - 1, n_leaves - 1, -1)), "dfs": dfs(False), "dfs_reversed": dfs(True),
            "bfs": bfs, "forward": list(range(n_leaves, n))}


def backward(leaves: Sequence[float], program: Sequence, order: str = "creation", assign: bool = False,
             values: Sequence[float] | None = None) -> list[float]:
    """dL/d(every node) for L the last node, by one reverse sweep (or a known wrong one)."""
    values = forward(leaves, program) if values is None else values
    n_leaves = len(leaves)
    grads = [0.0] * len(values)
    grads[-1] = 1.0
    for k in orders(program, n_leaves)[order]:
        op, *args = program[k - n_leaves]
        nodes = node_inputs(program[k - n_leaves])
        derivs = local(op, [values[a] if i in OPS[op][0] else a for i, a in enumerate(args)], values[k])
        for i, d in zip(nodes, derivs):
            grads[i] = grads[k] * d if assign else grads[i] + grads[k] * d
    return grads


def value_mistakes(leaves: Sequence[float], program: Sequence) -> dict[str, np.ndarray]:
    """The leaf gradients of each known mistake (several orders for ``=`` instead of ``+=``), when they
    differ from the right ones."""
    n = len(leaves)
    right = np.array(backward(leaves, program)[:n])
    out = {}
    with np.errstate(all="ignore"):
        for order in ("creation", "dfs", "dfs_reversed"):
            out[f"assign_{order}"] = np.array(backward(leaves, program, order, assign=True)[:n])
        out["bfs"] = np.array(backward(leaves, program, "bfs")[:n])
        out["forward_order"] = np.array(backward(leaves, program, "forward")[:n])
    return {k: v for k, v in out.items() if not np.allclose(v, right, rtol=1e-6, atol=1e-9)}


def messages_for(outputs: dict) -> dict[str, str]:
    """Each mistake output's message (the ``assign_<order>`` variants share one)."""
    return {k: VALUE_MISTAKES[k.split("_", 1)[0] if k.startswith("assign") else k] for k in outputs}


def numerical_leaf_gradients(leaves: Sequence[float], program: Sequence, h: float = 1e-6) -> np.ndarray:
    """Centred differences of the reference program's output with respect to each leaf."""
    grads = []
    for i in range(len(leaves)):
        up, down = list(leaves), list(leaves)
        up[i] += h
        down[i] -= h
        grads.append((forward(up, program)[-1] - forward(down, program)[-1]) / (2 * h))
    return np.array(grads)


# ---- programs -------------------------------------------------------------------------------------------

ALL_OPS = ["add", "addc", "radd", "sub", "subc", "rsub", "mul", "mulc", "rmul", "div", "divc", "rdiv", "neg", "pow",
           "exp", "log", "tanh", "relu", "sigmoid"]


def _valid(op: str, args: list, values: list[float]) -> bool:
    """Whether an instruction stays in the functions' domains, away from kinks, with moderate values."""
    nodes = OPS[op][0]
    x = [values[a] if i in nodes else a for i, a in enumerate(args)]
    a = x[0] if 0 in nodes else x[1]
    if op in ("div", "rdiv") and abs(x[1]) < 0.3 or op == "divc" and abs(x[1]) < 0.3:
        return False
    if op == "log" and a < 0.2 or op == "exp" and abs(a) > 3 or op == "relu" and abs(a) < 0.05:
        return False
    if op == "pow" and (a < 0.2 if not float(x[1]).is_integer() else abs(a) < 0.2):
        return False
    try:
        out = FORWARD[op](*x)
    except (ValueError, ZeroDivisionError, OverflowError):
        return False
    return 1e-3 < abs(out) < 30.0 or op == "relu" and out == 0.0


def random_program(rng: np.random.Generator, n_leaves: int, n_ops: int, ops: Sequence[str] = ALL_OPS,
                   first: Sequence[str] = ()) -> tuple[list[float], list[list]]:
    """Leaves in ±[0.5, 2], then ``n_ops`` valid instructions (``first`` ones forced), then the nodes no
    instruction used summed into the output, so that every node reaches it."""
    leaves = [float(v) for v in rng.choice([-1, 1], n_leaves) * rng.uniform(0.5, 2.0, n_leaves)]
    values, program = list(leaves), []
    wanted = list(first)
    while len(program) < n_ops:
        op = wanted[0] if wanted else str(rng.choice(list(ops)))
        n = len(values)
        recent = lambda: int(rng.integers(max(0, n - 6), n))  # noqa: E731 (mostly the newest nodes: deep graphs)
        const = float(rng.choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.0, 3.0]))
        args = {"pow": [recent(), float(rng.choice([2, 3, -1, 0.5, 1.5, -2]))]}.get(op)
        if args is None:
            nodes = OPS[op][0]
            args = [recent() if i in nodes else const for i in range(2 if op not in (
                "neg", "exp", "log", "tanh", "relu", "sigmoid") else 1)]
            if nodes == (1,):
                args = [const, args[1]]
        if _valid(op, args, values):
            program.append([op, *args])
            values.append(forward(leaves, program)[-1])
            if wanted:
                wanted.pop(0)
    used = {i for ins in program for i in node_inputs(ins)}
    loose = [k for k in range(n_leaves, len(values) - 1) if k not in used]
    for k in loose:
        program.append(["add", len(leaves) + len(program) - 1, k])
    return leaves, program


def every_op_program() -> tuple[list[float], list[list]]:
    """Every operation once, with plain ints and floats on either side: x0 = 1.5, x1 = -0.8, x2 = 2.0."""
    program = [
        ["add", 0, 1], ["addc", 3, 2.0], ["radd", 1, 4], ["sub", 5, 2], ["subc", 6, 0.5], ["rsub", 2.0, 7],
        ["mul", 8, 0], ["mulc", 9, -1.5], ["rmul", 3, 10], ["div", 11, 2], ["divc", 12, 4], ["rdiv", 2, 13],
        ["neg", 14], ["pow", 15, 2], ["pow", 2, 1.5], ["div", 17, 16], ["tanh", 18], ["subc", 19, 0.2],
        ["relu", 20], ["sigmoid", 21], ["exp", 22], ["add", 23, 1], ["log", 24], ["mul", 25, 0],
    ]
    return [1.5, -0.8, 2.0], program


def reuse_programs(rng: np.random.Generator) -> list[tuple[list[float], list[list], str]]:
    """x + x, x * x, a node with three users, and a random program full of fan-out."""
    a, b = float(rng.uniform(0.5, 2.0)), float(rng.uniform(-2.0, -0.5))
    three = [["mul", 0, 1], ["tanh", 2], ["add", 3, 2], ["mul", 4, 2], ["add", 5, 0]]  # v2 has 3 users, x0 2
    fan = random_program(rng, 3, 18, ops=["add", "mul", "sub", "tanh", "mulc", "sigmoid"])
    return [([a], [["add", 0, 0]], "x + x"), ([a], [["mul", 0, 0]], "x * x"),
            ([a, b], three, "a node with three users"), (fan[0], fan[1], "a random graph with fan-out")]


def chain_program(length: int = 3000) -> tuple[list[float], list[list]]:
    """x0 = 0.3, then ``length`` instructions alternating * 1.0005 and + 0.001: a chain as deep as it is long."""
    program = [["mulc", k, 1.0005] if k % 2 else ["addc", k, 0.001] for k in range(length)]
    return [0.3], program


# ---- hidden cases --------------------------------------------------------------------------------------


def _programs_case(programs: list[tuple[list[float], list[list], str]], summary: str, *, fd: bool = False,
                   extra: Callable | None = None):
    """Judge each program's run: values, then leaf gradients (the reference, the known mistakes, and
    with ``fd`` also centred differences of the reference program)."""

    def judge(answers: Answers, context: Context) -> str:
        runs = answers.tree
        if not isinstance(runs, list) or len(runs) != len(programs):
            raise CheckFailed(f"{context.name}: the answers hold no runs of the programs (was the hidden test cell changed?).")
        for run, (leaves, program, label) in zip(runs, programs):
            values = forward(leaves, program)
            grads = backward(leaves, program, values=values)
            wrong = value_mistakes(leaves, program)
            diagnose(f"{context.name} on {label}", run, program, len(leaves), values, grads,
                     mistakes=mistakes_on(wrong, messages_for(wrong)), extra=extra)
            if fd:
                numeric = numerical_leaf_gradients(leaves, program)
                got = np.asarray(run["grads"][: len(leaves)], dtype=float)
                if not np.allclose(got, numeric, rtol=1e-5, atol=1e-7):
                    raise CheckFailed(f"{context.name} on {label}: the leaf gradients differ from centred differences "
                                      f"of the program ({got} vs {numeric}).")
        return summary

    return {"programs": [(leaves, program) for leaves, program, _ in programs]}, judge


@case("w02_value_ops")
def value_ops(rng: np.random.Generator):
    """Every operation once (numbers on either side), then three random programs of 25 instructions over
    every operation: values, and leaf gradients against the reference and centred differences."""
    programs = [(*every_op_program(), "a program using every operation")]
    for i, (n_leaves, n_ops) in enumerate([(1, 12), (3, 25), (4, 25)]):
        programs.append((*random_program(rng, n_leaves, n_ops), f"random program {i + 1}"))
    return _programs_case(programs, "every operation, and random programs, agree with the reference", fd=True)


@case("w02_value_reuse")
def value_reuse(rng: np.random.Generator):
    """Nodes used more than once: x + x, x * x, a node with three users, a random graph with fan-out."""
    return _programs_case(reuse_programs(rng), "gradients add up over every use of a node")


@case("w02_value_deep")
def value_deep(rng: np.random.Generator):
    """A chain of 3,000 nodes, run with Python's default recursion budget: a recursive topological sort
    fails, an iterative one passes; the gradient is 1.0005^1500."""
    leaves, program = chain_program(3000)
    return _programs_case([(leaves, program, "a chain of 3,001 nodes")], "backward() works on a 3,001-node chain")


def _overflow(run: dict, program: Sequence, n_leaves: int) -> str:
    error = run["error"]
    at = run["at"]
    if error.type in ("OverflowError", "ZeroDivisionError") and run["stage"] == "forward" and at >= n_leaves:
        op = program[at - n_leaves][0]
        if op in ("sigmoid", "tanh"):
            how = ("exp(x) / (1 + exp(x)) when x < 0 and 1 / (1 + exp(-x)) otherwise" if op == "sigmoid"
                   else "math.tanh(x)")
            return (f"{op}() overflowed ({error.type}: {error.message}) on a large input: exp(800) does not fit "
                    f"in a float; compute it as {how}.")
    return ""


@case("w02_value_edges")
def value_edges(rng: np.random.Generator):
    """relu at exactly 0 and below (gradient 0), tanh and sigmoid saturated at ±800 (gradient 0, no
    overflow, no NaN), log and exp, and a negative base to an integer power."""
    programs = [
        ([0.0, -1.5, 2.5], [["relu", 0], ["relu", 1], ["relu", 2], ["add", 3, 4], ["add", 6, 5]], "relu at 0, -1.5, 2.5"),
        ([800.0, -800.0], [["tanh", 0], ["tanh", 1], ["sub", 2, 3]], "tanh at ±800"),
        ([800.0, -800.0], [["sigmoid", 0], ["sigmoid", 1], ["add", 2, 3]], "sigmoid at ±800"),
        ([0.25, -3.0], [["log", 0], ["exp", 1], ["mul", 2, 3], ["exp", 0], ["add", 4, 5]], "log and exp"),
        ([-1.5], [["pow", 0, 3], ["pow", 0, -2], ["add", 1, 2]], "a negative base to the powers 3 and -2"),
    ]
    return _programs_case(programs, "relu at 0, saturated tanh and sigmoid, log, exp and negative bases", extra=_overflow)


def linear_regression(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> dict[str, np.ndarray]:
    """Gradient descent from zeros on mean((X w + b - y)^2): dw = 2 X^T r / N, db = 2 mean(r), r = X w + b - y.
    Returns the loss before each step and [w, b] after it."""
    w, b = np.zeros(X.shape[1]), 0.0
    losses, params = [], []
    for _ in range(steps):
        r = X @ w + b - y
        losses.append(np.mean(r ** 2))
        w, b = w - lr * 2 * X.T @ r / len(y), b - lr * 2 * r.mean()
        params.append(np.append(w, b))
    return {"losses": np.array(losses), "params": np.array(params)}


@case("w02_value_regression")
def value_regression(rng: np.random.Generator):
    """Linear regression (N=12, D=2) trained with the student's Value for 30 steps (learning rate 0.1);
    the loss of each step and the parameters after it against the same steps in NumPy."""
    X = rng.normal(size=(12, 2))
    y = X @ np.array([1.5, -2.0]) + 0.5 + 0.1 * rng.normal(size=12)
    lr, steps = 0.1, 30
    want = linear_regression(X, y, lr, steps)

    def judge(answers: Answers, context: Context) -> str:
        who = f"{context.name} training a linear regression"
        got = answers.tree
        if isinstance(got, Raised):
            if got.type == "RecursionError":
                raise CheckFailed(f"{who}: backward() hit the recursion limit; use an iterative topological sort.")
            answers.value(got, "a linear regression")
        if not isinstance(got, dict) or set(got) != {"losses", "params"}:
            raise CheckFailed(f"{who}: the answers hold no training run (was the hidden test cell changed?).")
        try:
            losses = np.asarray(got["losses"], dtype=float)
            params = np.asarray(got["params"], dtype=float)
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"{who}: the answers hold no numbers ({err}); was the hidden test cell changed?") from err
        if losses.shape != want["losses"].shape or params.shape != want["params"].shape:
            raise CheckFailed(f"{who}: the run stopped early (was the hidden test cell changed?).")
        if not np.allclose(losses[:1], want["losses"][:1], rtol=1e-9):
            raise CheckFailed(f"{who}: the first loss is {losses[0]:.6g}, expected {want['losses'][0]:.6g}: "
                              "the forward pass (sum of products, minus y, squared, over N) is wrong.")
        bad = ~np.isclose(params, want["params"], rtol=1e-7, atol=1e-10).all(axis=1)
        if bad.any():
            step = int(np.argmax(bad))
            raise CheckFailed(f"{who}: after step {step + 1} the parameters are {np.round(params[step], 6).tolist()}, "
                              f"expected {np.round(want['params'][step], 6).tolist()}. Hint: {REGRESSION_HINT}")
        return f"30 steps of gradient descent agree (final loss {losses[-1]:.4f})"

    return {"X": X, "y": y, "lr": lr, "steps": steps}, judge


# ---- fixtures -----------------------------------------------------------------------------------------


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    """The visible check's programs: every operation, a node with three users, a 3,000-node chain."""
    rng = np.random.default_rng(2024)
    a, b = float(rng.uniform(0.5, 2.0)), float(rng.uniform(-2.0, -0.5))
    reuse = [["mul", 0, 0], ["mul", 2, 1], ["tanh", 3], ["add", 4, 3], ["mul", 5, 3], ["add", 6, 0]]
    programs = {"x_plus_x": ([a], [["add", 0, 0]]), "x_times_x": ([a], [["mul", 0, 0]]), "reused_nodes": ([a, b], reuse),
                "every_operation": every_op_program(), "chain": chain_program(3000)}
    out: dict[str, np.ndarray] = {}
    for tag, (leaves, program) in programs.items():
        out[f"program_{tag}"] = np.array(json.dumps([leaves, program]))
        out[f"data_{tag}"] = np.array(forward(leaves, program))
        out[f"grads_{tag}"] = np.array(backward(leaves, program))
        wrong = value_mistakes(leaves, program)
        out |= stored(wrong, messages_for(wrong), suffix=f"_{tag}")
    return {"w02_value": out}
