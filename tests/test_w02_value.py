"""Week 2, the scalar autograd engine Value: the reference against JAX and centred differences, the hidden
cases on correct and wrong engines, and the visible check."""

from __future__ import annotations

import inspect
import math
import textwrap

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w02_value as ref
from dlfs.checks import CheckFailed
from dlfs.checks import w02_value as student_side

JAX_REASON = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week02, pytest.mark.w02_value, pytest.mark.autograder]


# ---- the notebook's solution (a copy: the suite proves it passes) --------------------------------------

class Value:
    """A scalar node of a computation graph: its value, its gradient, and how to pass the gradient on."""

    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None    # passes self.grad on to the children (set by the operation)
        self._prev = tuple(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only a number as the exponent"
        out = Value(self.data ** k, (self,), f'**{k}')
        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), 'exp')
        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), 'log')
        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), 'tanh')
        def _backward():
            self.grad += (1.0 - out.data ** 2) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), 'relu')
        def _backward():
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        if self.data >= 0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)
        out = Value(s, (self,), 'sigmoid')
        def _backward():
            self.grad += s * (1.0 - s) * out.grad
        out._backward = _backward
        return out

    # the rest is built from the operations above
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return other * self ** -1

    def backward(self):
        """Set self.grad = 1 and call every node's _backward in reverse topological order."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:                          # depth-first, with an explicit stack instead of recursion
            node, children_done = stack.pop()
            if children_done:
                order.append(node)            # every child is already in `order`
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev if child not in seen)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


# ---- correct alternatives ------------------------------------------------------------------------------


class ValueDispatch:
    """Another valid design: no closures; each node records its operation and backward() dispatches on it,
    with Kahn's algorithm (in-degrees) for the order."""

    def __init__(self, data, _children=(), _op=''):
        self.data, self.grad, self._prev, self._op, self.k = float(data), 0.0, tuple(_children), _op, None

    @staticmethod
    def _wrap(x):
        return x if isinstance(x, ValueDispatch) else ValueDispatch(x)

    def __add__(self, o):
        o = self._wrap(o)
        return ValueDispatch(self.data + o.data, (self, o), "+")

    def __mul__(self, o):
        o = self._wrap(o)
        return ValueDispatch(self.data * o.data, (self, o), "*")

    def __sub__(self, o):
        o = self._wrap(o)
        return ValueDispatch(self.data - o.data, (self, o), "-")

    def __truediv__(self, o):
        o = self._wrap(o)
        return ValueDispatch(self.data / o.data, (self, o), "/")

    def __radd__(self, o):
        return self._wrap(o) + self

    def __rmul__(self, o):
        return self._wrap(o) * self

    def __rsub__(self, o):
        return self._wrap(o) - self

    def __rtruediv__(self, o):
        return self._wrap(o) / self

    def __neg__(self):
        return ValueDispatch(-self.data, (self,), "neg")

    def __pow__(self, k):
        out = ValueDispatch(self.data ** k, (self,), "pow")
        out.k = k
        return out

    def _unary(self, f, op):
        return ValueDispatch(f(self.data), (self,), op)

    def exp(self):
        return self._unary(math.exp, "exp")

    def log(self):
        return self._unary(math.log, "log")

    def tanh(self):
        return self._unary(math.tanh, "tanh")

    def relu(self):
        return self._unary(lambda x: max(x, 0.0), "relu")

    def sigmoid(self):
        return self._unary(lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)), "sigmoid")

    def _local(self):
        c = self._prev
        a = c[0].data
        b = c[1].data if len(c) > 1 else None
        k = self.k
        rules = {"+": lambda: (1.0, 1.0), "*": lambda: (b, a), "-": lambda: (1.0, -1.0), "/": lambda: (1 / b, -a / b ** 2),
                 "neg": lambda: (-1.0,), "pow": lambda: (k * a ** (k - 1),), "exp": lambda: (self.data,),
                 "log": lambda: (1 / a,), "tanh": lambda: (1 - self.data ** 2,), "relu": lambda: (float(a > 0),),
                 "sigmoid": lambda: (self.data * (1 - self.data),)}
        return rules[self._op]()

    def backward(self):
        nodes, stack, users = {id(self): self}, [self], {}
        while stack:
            node = stack.pop()
            for child in node._prev:
                users[id(child)] = users.get(id(child), 0) + 1
                if id(child) not in nodes:
                    nodes[id(child)] = child
                    stack.append(child)
        self.grad, ready = 1.0, [self]
        while ready:
            node = ready.pop()
            if node._op:
                for child, d in zip(node._prev, node._local()):
                    child.grad += d * node.grad
                    users[id(child)] -= 1
                    if users[id(child)] == 0:
                        ready.append(child)


# ---- wrong engines: the solution with one method replaced ------------------------------------------------
# Each is a fresh copy of the solution class (exec of its source), so that every node it makes, through
# `Value(...)` inside its methods, is of the variant's class.


def variant(name, **methods):
    namespace = {"math": math}
    exec(textwrap.dedent(inspect.getsource(Value)), namespace)
    cls = namespace["Value"]
    for key, method in methods.items():
        setattr(cls, key, method)
    cls.__name__ = cls.__qualname__ = name
    return cls


def _node(self, data, children, backward):
    out = type(self)(data, children)
    out._backward = lambda: backward(out)
    return out


def _assign_add(self, other):
    other = other if isinstance(other, type(self)) else type(self)(other)

    def rule(out):
        self.grad = out.grad
        other.grad = out.grad
    return _node(self, self.data + other.data, (self, other), rule)


def _assign_mul(self, other):
    other = other if isinstance(other, type(self)) else type(self)(other)

    def rule(out):
        self.grad = other.data * out.grad
        other.grad = self.data * out.grad
    return _node(self, self.data * other.data, (self, other), rule)


def _topological(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in node._prev)
    return order


def _breadth_first(self):
    self.grad, queue, seen = 1.0, [self], {self}
    while queue:
        node = queue.pop(0)
        node._backward()
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)


def _forward_order(self):
    self.grad = 1.0
    for node in _topological(self):
        node._backward()


def _no_seed(self):
    for node in reversed(_topological(self)):
        node._backward()


def _tanh_of_input(self):
    def rule(out):
        self.grad += (1.0 - self.data ** 2) * out.grad
    return _node(self, math.tanh(self.data), (self,), rule)


def _pow_wrong(self, k):
    def rule(out):
        self.grad += k * self.data ** k * out.grad
    return _node(self, self.data ** k, (self,), rule)


def _relu_at_zero(self):
    def rule(out):
        self.grad += (1.0 if self.data >= 0 else 0.0) * out.grad
    return _node(self, max(self.data, 0.0), (self,), rule)


def _unstable_sigmoid(self):
    s = 1.0 / (1.0 + math.exp(-self.data))

    def rule(out):
        self.grad += s * (1 - s) * out.grad
    return _node(self, s, (self,), rule)


def _tanh_by_exp(self):
    e = math.exp(2 * self.data)
    t = (e - 1) / (e + 1)

    def rule(out):
        self.grad += (1 - t ** 2) * out.grad
    return _node(self, t, (self,), rule)


def _recursive_backward(self):
    topo, visited = [], set()

    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)

    build(self)
    self.grad = 1.0
    for v in reversed(topo):
        v._backward()


ValueRecursiveTopo = variant("ValueRecursiveTopo", backward=_recursive_backward)  # right on small graphs only
ValueAssign = variant("ValueAssign", __add__=_assign_add, __mul__=_assign_mul)
ValueBreadthFirst = variant("ValueBreadthFirst", backward=_breadth_first)
ValueForwardOrder = variant("ValueForwardOrder", backward=_forward_order)
ValueNoSeed = variant("ValueNoSeed", backward=_no_seed)
ValueRsubFlipped = variant("ValueRsubFlipped", __rsub__=lambda self, other: self - other)
ValueRdivFlipped = variant("ValueRdivFlipped", __rtruediv__=lambda self, other: self / other)
ValueNoRadd = variant("ValueNoRadd", __radd__=None)
ValueTanhOfInput = variant("ValueTanhOfInput", tanh=_tanh_of_input)
ValuePowWrong = variant("ValuePowWrong", __pow__=_pow_wrong)
ValueReluAtZero = variant("ValueReluAtZero", relu=_relu_at_zero)
ValueUnstableSigmoid = variant("ValueUnstableSigmoid", sigmoid=_unstable_sigmoid)
ValueTanhByExp = variant("ValueTanhByExp", tanh=_tanh_by_exp)


class ValueStub:
    def __init__(self, data, _children=(), _op=''):
        raise NotImplementedError()


CORRECT = {
    "w02_value_ops": [Value, ValueDispatch, ValueRecursiveTopo],
    "w02_value_reuse": [Value, ValueDispatch, ValueRecursiveTopo],
    "w02_value_deep": [Value, ValueDispatch],
    "w02_value_edges": [Value, ValueDispatch, ValueRecursiveTopo],
    "w02_value_regression": [Value, ValueDispatch, ValueRecursiveTopo],
}

WRONG = [
    ("w02_value_ops", ValueStub, "not implemented yet"),
    ("w02_value_ops", ValueRsubFlipped, r"`v8 = 2.0 - v7` is wrong.*__rsub__"),
    ("w02_value_ops", ValueRdivFlipped, r"`v14 = 2 / v13` is wrong.*__rtruediv__"),
    ("w02_value_ops", ValueNoRadd, r"`v5 = 1 \+ v4` raised TypeError.*__radd__"),
    ("w02_value_ops", ValueTanhOfInput, r"comes only from `v19 = v18.tanh\(\)`.*1 - tanh\(a\)\*\*2"),
    ("w02_value_ops", ValuePowWrong, r"v16 = v15 \*\* 2`.*k a\*\*\(k-1\)|rules of __mul__ and __pow__"),
    ("w02_value_ops", ValueNoSeed, r"must start from grad = 1"),
    ("w02_value_ops", ValueForwardOrder, r"\*reverse\* topological order"),
    ("w02_value_reuse", ValueAssign, r"`grad = \.\.\.` instead of `grad \+= \.\.\.`"),
    ("w02_value_reuse", ValueBreadthFirst, r"breadth-first"),
    ("w02_value_deep", ValueRecursiveTopo, r"recursion limit.*iterative topological sort"),
    ("w02_value_deep", ValueStub, "not implemented yet"),
    ("w02_value_edges", ValueReluAtZero, r"the leaf x0 is wrong.*relu"),
    ("w02_value_edges", ValueUnstableSigmoid, r"sigmoid\(\) overflowed.*exp\(x\) / \(1 \+ exp\(x\)\)"),
    ("w02_value_edges", ValueTanhByExp, r"tanh\(\) overflowed.*math.tanh"),
    ("w02_value_regression", ValueAssign, r"after step 1 the parameters.*\+="),
    ("w02_value_regression", ValueStub, "not implemented yet"),
    ("w02_value_regression", ValueNoRadd, r"raised TypeError"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_value", CORRECT, WRONG)


# ---- the reference against JAX and centred differences -----------------------------------------------------


def _programs():
    rng = np.random.default_rng(7)
    out = [ref.every_op_program(), ref.chain_program(200)]
    out += [ref.random_program(rng, n, 25) for n in (1, 2, 3, 4, 5)]
    out += [(leaves, program) for leaves, program, _ in ref.reuse_programs(rng)]
    return out


def test_reference_against_jax():
    jax = pytest.importorskip("jax", reason=JAX_REASON)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    ops = {
        "add": lambda a, b: a + b, "addc": lambda a, b: a + b, "radd": lambda a, b: a + b,
        "sub": lambda a, b: a - b, "subc": lambda a, b: a - b, "rsub": lambda a, b: a - b,
        "mul": lambda a, b: a * b, "mulc": lambda a, b: a * b, "rmul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "divc": lambda a, b: a / b, "rdiv": lambda a, b: a / b,
        "neg": lambda a: -a, "pow": lambda a, k: a ** k, "exp": jnp.exp, "log": jnp.log, "tanh": jnp.tanh,
        "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid,
    }

    for leaves, program in _programs():
        def run(x, program=program):
            values = list(x)
            for op, *args in program:
                nodes = student_side.OPS[op][0]
                values.append(ops[op](*[values[a] if i in nodes else a for i, a in enumerate(args)]))
            return values[-1]

        x = jnp.array(leaves)
        np.testing.assert_allclose(ref.forward(leaves, program)[-1], run(x), rtol=1e-12)
        np.testing.assert_allclose(ref.backward(leaves, program)[: len(leaves)], jax.grad(run)(x), rtol=1e-10, atol=1e-12)


def test_reference_against_centred_differences():
    for leaves, program in _programs():
        np.testing.assert_allclose(ref.backward(leaves, program)[: len(leaves)],
                                   ref.numerical_leaf_gradients(leaves, program), rtol=1e-6, atol=1e-8)


def test_reference_edges_by_hand():
    assert ref.backward([0.0], [["relu", 0]])[0] == 0.0
    assert ref.backward([800.0], [["tanh", 0]])[0] == 0.0
    assert ref.backward([-800.0], [["sigmoid", 0]])[0] == 0.0
    assert ref.backward([3.0], [["add", 0, 0]])[0] == 2.0
    assert ref.backward([3.0], [["mul", 0, 0]])[0] == 6.0
    assert ref.backward([3.0], [["mul", 0, 0]], assign=True)[0] == 3.0


def test_valid_orders_are_topological_and_mistake_orders_are_not():
    leaves, program, _ = ref.reuse_programs(np.random.default_rng(3))[3]
    right = ref.backward(leaves, program)
    for order in ("creation", "dfs", "dfs_reversed"):
        np.testing.assert_allclose(ref.backward(leaves, program, order), right, rtol=1e-12)
    assert set(ref.value_mistakes(leaves, program)) >= {"bfs", "forward_order", "assign_creation"}


def test_linear_regression_reference_by_finite_differences():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 2)), rng.normal(size=5)
    run = ref.linear_regression(X, y, 0.1, 1)
    w_b = run["params"][0]
    grad = -(w_b - 0.0) / 0.1  # one step from zeros: params = -lr * grad
    loss = lambda p: np.mean((X @ p[:2] + p[2] - y) ** 2)  # noqa: E731
    numeric = [(loss(np.eye(3)[i] * 1e-6) - loss(-np.eye(3)[i] * 1e-6)) / 2e-6 for i in range(3)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6)


def test_probe_enforces_the_default_recursion_budget():
    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        leaves, program = ref.chain_program(3000)
        run = student_side.run_program(ValueRecursiveTopo, leaves, program)
        assert run["error"].type == "RecursionError"
        assert sys.getrecursionlimit() == 100_000
    finally:
        sys.setrecursionlimit(old)


# ---- the visible check ------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (student_side.Value, ValueStub, "not implemented yet"),
    (student_side.Value, ValueAssign, r"`grad = \.\.\.` instead of `grad \+= \.\.\.`"),
    (student_side.Value, ValueRecursiveTopo, r"recursion limit"),
    (student_side.Value, ValueRsubFlipped, r"__rsub__"),
    (student_side.Value, ValueTanhOfInput, r"tanh"),
    (student_side.Value, ValueBreadthFirst, r"breadth-first"),
]

VISIBLE_CORRECT = [(student_side.Value, cls) for cls in (Value, ValueDispatch)]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


@pytest.mark.parametrize("run", [
    {"data": [], "grads": [], "error": None, "stage": "", "at": -1},
    {"data": "x", "grads": [], "error": None, "stage": "", "at": -1},
    {"data": [1.0], "grads": [2.0], "error": None, "stage": "", "at": 99},
    [1, 2],
], ids=["empty", "text", "bad index", "a list"])
def test_diagnose_refuses_malformed_runs(run):
    leaves, program = [1.0], [["add", 0, 0]]
    with pytest.raises(CheckFailed, match="not a program run|expected 2 nodes"):
        student_side.diagnose("Value", run, program, 1, ref.forward(leaves, program), ref.backward(leaves, program))
