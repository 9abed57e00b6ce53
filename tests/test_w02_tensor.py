"""Week 2, the array autograd engine Tensor: the reference against JAX and centred differences, the hidden
cases on correct and wrong engines, and the visible checks."""

from __future__ import annotations

import inspect
import textwrap

import numpy as np
import pytest
from hidden_suite import hidden_tests, visible_tests

from autograder.cases import w02_tensor as ref
from autograder.gradcheck import numerical_gradient
from dlfs.checks import w02_tensor as student_side

JAX_REASON = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week02, pytest.mark.w02_tensor, pytest.mark.autograder]


# ---- the notebook's solution (a copy: the suite proves it passes) --------------------------------------

def unbroadcast(grad, shape):
    """Sum grad over the axes that broadcasting added to an operand of the given shape."""
    while grad.ndim > len(shape):                      # leading axes broadcasting prepended
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):                # axes of size 1 that were stretched
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    """An array node of a computation graph: float64 data, a gradient of the same shape, a backward rule."""

    def __init__(self, data, _children=(), _op=''):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def __repr__(self):
        return f"Tensor(shape={self.data.shape}, op={self._op!r})"

    @staticmethod
    def wrap(x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def __add__(self, other):
        other = Tensor.wrap(other)
        out = Tensor(self.data + other.data, (self, other), '+')
        def _backward():
            self.grad += unbroadcast(out.grad, self.data.shape)
            other.grad += unbroadcast(out.grad, other.data.shape)
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Tensor.wrap(other)
        out = Tensor(self.data * other.data, (self, other), '*')
        def _backward():
            self.grad += unbroadcast(out.grad * other.data, self.data.shape)
            other.grad += unbroadcast(out.grad * self.data, other.data.shape)
        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = Tensor.wrap(other)
        out = Tensor(self.data / other.data, (self, other), '/')
        def _backward():
            self.grad += unbroadcast(out.grad / other.data, self.data.shape)
            other.grad += unbroadcast(-out.grad * self.data / other.data ** 2, other.data.shape)
        out._backward = _backward
        return out

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other), '@')
        def _backward():
            self.grad += out.grad @ other.data.T
            other.grad += self.data.T @ out.grad
        out._backward = _backward
        return out

    def sum(self, axis=None, keepdims=False):
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), 'sum')
        def _backward():
            grad = out.grad
            if axis is not None and not keepdims:
                grad = np.expand_dims(grad, axis)      # put the summed axis back
            self.grad += np.broadcast_to(grad, self.data.shape)
        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims=False):
        count = self.data.size // max(np.size(self.data.sum(axis=axis)), 1)
        return self.sum(axis=axis, keepdims=keepdims) / count

    def exp(self):
        out = Tensor(np.exp(self.data), (self,), 'exp')
        def _backward():
            self.grad += out.grad * out.data
        out._backward = _backward
        return out

    def log(self):
        out = Tensor(np.log(self.data), (self,), 'log')
        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0.0), (self,), 'relu')
        def _backward():
            self.grad += out.grad * (self.data > 0)
        out._backward = _backward
        return out

    def log_softmax(self, axis=-1):
        shifted = self.data - self.data.max(axis=axis, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        out = Tensor(logp, (self,), 'log_softmax')
        def _backward():
            softmax = np.exp(out.data)
            self.grad += out.grad - softmax * out.grad.sum(axis=axis, keepdims=True)
        out._backward = _backward
        return out

    # built from the operations above
    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Tensor.wrap(other))

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return Tensor.wrap(other) + (-self)

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return Tensor.wrap(other) / self

    def backward(self):
        """Seed grad with ones and call every node's _backward in reverse topological order."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev if child not in seen)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            node._backward()


def tensor_mlp_grads(X, y, W1, b1, W2, b2):
    """Mean softmax cross-entropy of relu(X @ W1 + b1) @ W2 + b2, and its gradients, with Tensors.

    X (N, D), y (N,) ints, W1 (D, H), b1 (H,), W2 (H, C), b2 (C,) -> (loss, dW1, db1, dW2, db2).
    """
    W1_t, b1_t, W2_t, b2_t = Tensor(W1), Tensor(b1), Tensor(W2), Tensor(b2)
    logits = (Tensor(X) @ W1_t + b1_t).relu() @ W2_t + b2_t
    N, C = logits.data.shape
    one_hot = np.zeros((N, C))
    one_hot[np.arange(N), y] = 1.0
    loss = -(logits.log_softmax(axis=1) * one_hot).sum() / N
    loss.backward()
    return float(loss.data), W1_t.grad, b1_t.grad, W2_t.grad, b2_t.grad


# ---- variants: a fresh copy of the solution with methods replaced -----------------------------------------


def variant(name, **methods):
    namespace = {"np": np}
    exec(textwrap.dedent(inspect.getsource(unbroadcast)) + "\n" + textwrap.dedent(inspect.getsource(Tensor)), namespace)
    cls = namespace["Tensor"]
    for key, method in methods.items():
        setattr(cls, key, method)
    cls.__name__ = cls.__qualname__ = name
    return cls


def _node(self, data, children, rule):
    out = type(self)(data, children)
    out._backward = lambda: rule(out)
    return out


def _keep_float32_init(self, data, _children=(), _op=''):
    data = np.asarray(data)
    self.data = data if data.dtype in (np.float32, np.float64) else data.astype(np.float64)
    self.grad = np.zeros_like(self.data)
    self._backward, self._prev, self._op = (lambda: None), tuple(_children), _op


def _sum_axes_unbroadcast_add(self, other):
    """Another valid unbroadcast: one np.sum over a tuple of axes, then a reshape."""
    other = other if isinstance(other, type(self)) else type(self)(other)

    def back(g, shape):
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
        return g.sum(axis=axes).reshape(shape)

    def rule(out):
        self.grad += back(out.grad, self.data.shape)
        other.grad += back(out.grad, other.data.shape)
    return _node(self, self.data + other.data, (self, other), rule)


def _mean_direct(self, axis=None, keepdims=False):
    value = self.data.mean(axis=axis, keepdims=keepdims)
    count = self.data.size / np.size(value)

    def rule(out):
        g = out.grad if axis is None or keepdims else np.expand_dims(out.grad, axis)
        self.grad += np.broadcast_to(g, self.data.shape) / count
    return _node(self, value, (self,), rule)


def _no_unbroadcast_add(self, other):
    other = other if isinstance(other, type(self)) else type(self)(other)

    def rule(out):
        self.grad += out.grad
        other.grad += out.grad
    return _node(self, self.data + other.data, (self, other), rule)


def _rebinding_mul(self, other):
    """`grad = grad + ...` without unbroadcasting: the grad silently takes the broadcast shape."""
    other = other if isinstance(other, type(self)) else type(self)(other)

    def rule(out):
        self.grad = self.grad + out.grad * other.data
        other.grad = other.grad + out.grad * self.data
    return _node(self, self.data * other.data, (self, other), rule)


def _assign_mul(self, other):
    other = other if isinstance(other, type(self)) else type(self)(other)

    def rule(out):
        if self.data.shape == out.data.shape:
            self.grad = out.grad * other.data
        if other.data.shape == out.data.shape:
            other.grad = out.grad * self.data
    return _node(self, self.data * other.data, (self, other), rule)


def _matmul_no_transpose(self, other):
    def rule(out):
        self.grad += out.grad @ other.data
        other.grad += self.data @ out.grad
    return _node(self, self.data @ other.data, (self, other), rule)


def _matmul_swapped(self, other):
    def rule(out):
        self.grad += other.data.T @ out.grad
        other.grad += out.grad @ self.data.T
    return _node(self, self.data @ other.data, (self, other), rule)


def _mean_no_divide(self, axis=None, keepdims=False):
    out = self.sum(axis=axis, keepdims=keepdims)
    out.data = out.data / (self.data.size // max(out.data.size, 1))
    return out


def _sum_no_expand(self, axis=None, keepdims=False):
    def rule(out):
        self.grad += np.broadcast_to(out.grad, self.data.shape)
    return _node(self, self.data.sum(axis=axis, keepdims=keepdims), (self,), rule)


def _log_softmax_no_softmax(self, axis=-1):
    shifted = self.data - self.data.max(axis=axis, keepdims=True)

    def rule(out):
        self.grad += out.grad
    return _node(self, shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)), (self,), rule)


def _log_softmax_unstable(self, axis=-1):
    logp = self.data - np.log(np.exp(self.data).sum(axis=axis, keepdims=True))

    def rule(out):
        self.grad += out.grad - np.exp(out.data) * out.grad.sum(axis=axis, keepdims=True)
    return _node(self, logp, (self,), rule)


def _seed_scalar(self):
    order, seen, stack = [], set(), [(self, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in node._prev)
    self.grad = 1.0
    for node in reversed(order):
        node._backward()


def _stub(self, *args, **kwargs):
    raise NotImplementedError()


TensorFloat32 = variant("TensorFloat32", __init__=_keep_float32_init)
TensorTupleAxes = variant("TensorTupleAxes", __add__=_sum_axes_unbroadcast_add, mean=_mean_direct)
TensorNoUnbroadcast = variant("TensorNoUnbroadcast", __add__=_no_unbroadcast_add)
TensorRebinding = variant("TensorRebinding", __mul__=_rebinding_mul)
TensorAssign = variant("TensorAssign", __mul__=_assign_mul)
TensorMatmulNoTranspose = variant("TensorMatmulNoTranspose", __matmul__=_matmul_no_transpose)
TensorMatmulSwapped = variant("TensorMatmulSwapped", __matmul__=_matmul_swapped)
TensorMeanNoDivide = variant("TensorMeanNoDivide", mean=_mean_no_divide)
TensorSumNoExpand = variant("TensorSumNoExpand", sum=_sum_no_expand)
TensorLogSoftmaxNoSoftmax = variant("TensorLogSoftmaxNoSoftmax", log_softmax=_log_softmax_no_softmax)
TensorLogSoftmaxUnstable = variant("TensorLogSoftmaxUnstable", log_softmax=_log_softmax_unstable)
TensorSeedScalar = variant("TensorSeedScalar", backward=_seed_scalar)
TensorStub = variant("TensorStub", __init__=_stub)


def mlp_summed(X, y, W1, b1, W2, b2):
    """The summed loss instead of the mean."""
    loss, *grads = tensor_mlp_grads(X, y, W1, b1, W2, b2)
    return loss * X.shape[0], *(g * X.shape[0] for g in grads)


def mlp_by_hand(X, y, W1, b1, W2, b2):
    """A correct alternative without Tensor: the layers by hand."""
    return ref.mlp_loss_grads(X, y, W1, b1, W2, b2)


def mlp_float32(X, y, W1, b1, W2, b2):
    """Computes in float32 and hands back float32 arrays: fails the float64 tolerances (documented)."""
    loss, *grads = tensor_mlp_grads(*(a.astype(np.float32) if a.dtype.kind == "f" else a for a in (X, y, W1, b1, W2, b2)))
    return loss, *(g.astype(np.float32) for g in grads)


def mlp_stub(X, y, W1, b1, W2, b2):
    raise NotImplementedError()


def mlp_in_place(X, y, W1, b1, W2, b2):
    out = tensor_mlp_grads(X, y, W1, b1, W2, b2)
    W1 -= 0.1 * out[1]
    return out


CORRECT = {
    "w02_tensor_elementwise": [Tensor, TensorFloat32, TensorTupleAxes],
    "w02_tensor_broadcast": [Tensor, TensorFloat32, TensorTupleAxes],
    "w02_tensor_reductions": [Tensor, TensorFloat32, TensorTupleAxes],
    "w02_tensor_matmul": [Tensor, TensorFloat32, TensorTupleAxes],
    "w02_tensor_log_softmax": [Tensor, TensorFloat32, TensorTupleAxes],
    "w02_tensor_mlp": [tensor_mlp_grads, mlp_by_hand],
}

WRONG = [
    ("w02_tensor_elementwise", TensorStub, "not implemented yet"),
    ("w02_tensor_elementwise", TensorAssign, r"`grad = \.\.\.` instead of `grad \+= \.\.\.`"),
    ("w02_tensor_elementwise", TensorSeedScalar, r"np.ones_like"),
    ("w02_tensor_broadcast", TensorNoUnbroadcast, r"summed back to the operand's shape"),
    ("w02_tensor_broadcast", TensorRebinding, r"has shape \(3, 4\) but its data has shape .*summed back"),
    ("w02_tensor_broadcast", TensorStub, "not implemented yet"),
    ("w02_tensor_reductions", TensorMeanNoDivide, r"does not divide by the number of entries"),
    ("w02_tensor_reductions", TensorSumNoExpand, r"putting the summed axis back|np.expand_dims"),
    ("w02_tensor_reductions", TensorSeedScalar, r"np.ones_like"),
    ("w02_tensor_matmul", TensorMatmulNoTranspose, r"dA = dC @ B.T"),
    ("w02_tensor_matmul", TensorMatmulSwapped, r"dA = dC @ B.T"),
    ("w02_tensor_matmul", TensorStub, "not implemented yet"),
    ("w02_tensor_log_softmax", TensorLogSoftmaxNoSoftmax, r"without the softmax term"),
    ("w02_tensor_log_softmax", TensorLogSoftmaxUnstable, r"log_softmax\(axis=-1\)` is wrong.*max"),
    ("w02_tensor_mlp", mlp_summed, r"\*summed\* loss"),
    ("w02_tensor_mlp", mlp_stub, "not implemented yet"),
    ("w02_tensor_mlp", mlp_in_place, "changed its input `W1`"),
    ("w02_tensor_mlp", mlp_float32, r"values are wrong"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w02_tensor", CORRECT, WRONG)


# ---- the reference against JAX and centred differences -----------------------------------------------------


def _programs():
    rng = np.random.default_rng(11)
    out = []
    for make in (ref.elementwise_programs, ref.broadcast_programs, ref.reduction_programs, ref.matmul_programs,
                 ref.log_softmax_programs):
        out += [(leaves, program) for leaves, program, _ in make(rng)]
    return out


def test_reference_against_jax():
    jax = pytest.importorskip("jax", reason=JAX_REASON)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def apply(op, a):
        b = a[1] if len(a) > 1 else None
        kind = op.removeprefix("r")[:3] if op not in ("relu",) else op
        if kind in ("add", "sub", "mul", "div"):
            return {"add": a[0] + b, "sub": a[0] - b, "mul": a[0] * b, "div": a[0] / b}[kind]
        if op in ("sum", "mean"):
            return getattr(jnp, op)(a[0], axis=b, keepdims=bool(a[2]))
        return {"neg": lambda: -a[0], "exp": lambda: jnp.exp(a[0]), "log": lambda: jnp.log(a[0]),
                "relu": lambda: jax.nn.relu(a[0]), "matmul": lambda: a[0] @ b,
                "log_softmax": lambda: jax.nn.log_softmax(a[0], axis=b)}[op]()

    for leaves, program in _programs():
        def run(*xs, program=program):
            values = list(xs)
            for op, *args in program:
                nodes = student_side.OPS[op][0] if hasattr(student_side, "OPS") else ref.OPS[op][0]
                values.append(apply(op, [values[a] if i in nodes else a for i, a in enumerate(args)]))
            return jnp.sum(values[-1])

        xs = [jnp.asarray(np.asarray(x, dtype=np.float64)) for x in leaves]
        want = jax.grad(run, argnums=tuple(range(len(xs))))(*xs)
        got = ref.backward(leaves, program)[: len(leaves)]
        np.testing.assert_allclose(ref.forward(leaves, program)[-1].sum(), run(*xs), rtol=1e-12)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_mlp_reference_against_jax():
    jax = pytest.importorskip("jax", reason=JAX_REASON)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    for dims in [(1, 3, 4, 2), (8, 5, 6, 3), (16, 4, 10, 5)]:
        X, y, *params = ref.mlp_problem(np.random.default_rng(5), *dims)

        def loss(W1, b1, W2, b2):
            logits = jax.nn.relu(X @ W1 + b1) @ W2 + b2
            return -jnp.mean(jax.nn.log_softmax(logits, axis=1)[jnp.arange(len(y)), y])

        want = jax.grad(loss, argnums=(0, 1, 2, 3))(*params)
        got = ref.mlp_loss_grads(X, y, *params)
        np.testing.assert_allclose(got[0], loss(*params), rtol=1e-12)
        for g, w in zip(got[1:], want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)


def test_reference_against_centred_differences():
    for leaves, program in _programs()[::3]:
        leaves = [np.asarray(x, dtype=np.float64).copy() for x in leaves]
        grads = ref.backward(leaves, program)
        for i, x in enumerate(leaves):
            numeric = numerical_gradient(lambda _: ref.forward(leaves, program)[-1].sum(), x)
            np.testing.assert_allclose(grads[i], numeric, rtol=1e-5, atol=1e-7)


def test_unbroadcast_and_mistake_outputs():
    g = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(ref.unbroadcast(g, (4,)), g.sum(0))
    np.testing.assert_array_equal(ref.unbroadcast(g, (3, 1)), g.sum(1, keepdims=True))
    np.testing.assert_array_equal(ref.unbroadcast(g, (1,)), [g.sum()])
    x = np.random.default_rng(0).normal(size=(4, 4))
    program = [["mean", 0, 1, False], ["mulc", 1, np.arange(4.0)]]
    wrong = ref.tensor_mistakes([x], program)
    assert {"mean_no_divide", "sum_no_expand"} <= set(wrong)
    np.testing.assert_allclose(wrong["mean_no_divide"][0], 4 * ref.backward([x], program)[0])


# ---- the visible checks ------------------------------------------------------------------------------------

VISIBLE_WRONG = [
    (student_side.Tensor, TensorStub, "not implemented yet"),
    (student_side.Tensor, TensorAssign, r"`grad = \.\.\.` instead of `grad \+= \.\.\.`"),
    (student_side.Tensor, TensorNoUnbroadcast, r"summed back to the operand's shape"),
    (student_side.Tensor, TensorRebinding, r"has shape .* but its data has shape"),
    (student_side.Tensor, TensorMeanNoDivide, r"does not divide"),
    (student_side.Tensor, TensorMatmulSwapped, r"dA = dC @ B.T"),
    (student_side.Tensor, TensorLogSoftmaxNoSoftmax, r"softmax term"),
    (student_side.tensor_mlp_grads, mlp_stub, "not implemented yet"),
    (student_side.tensor_mlp_grads, mlp_summed, r"\*summed\* loss"),
    (student_side.tensor_mlp_grads, mlp_in_place, "changed its input `W1`"),
]

VISIBLE_CORRECT = [
    (student_side.Tensor, Tensor), (student_side.Tensor, TensorFloat32), (student_side.Tensor, TensorTupleAxes),
    (student_side.tensor_mlp_grads, tensor_mlp_grads),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
