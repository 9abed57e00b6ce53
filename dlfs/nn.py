"""Week 5's given building blocks: dense layers, activations, a small MLP, Adam and a token cross-entropy.

Week 5 is about what is new (GAN losses, attention, layer norm, embeddings); the pieces you wrote in week 2
are handed to you here so that the week's notebook can train whole models. Every layer is a pair, as in the
rest of the course: ``forward(x, ...) -> (out, cache)`` and ``backward(dout, cache) -> gradients`` (``dx``
first). Arrays of any leading shape are accepted where a layer acts on the last axis only.

Typical use::

    from dlfs.nn import MLP, Adam

    rng = np.random.default_rng(0)
    D = MLP([2, 128, 128, 1], rng=rng)          # leaky-ReLU hidden layers, a linear output (a logit)
    opt = Adam(D.params, lr=2e-4, betas=(0.5, 0.999))
    s = D.forward(x)                            # (N, 1); the caches are kept inside D
    dx = D.backward(ds)                         # fills D.grads (same keys as D.params), returns d x
    opt.step(D.grads)                           # updates D.params in place
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "MLP",
    "Adam",
    "affine_backward",
    "affine_forward",
    "cross_entropy",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "tanh_backward",
    "tanh_forward",
]


def affine_forward(x, W, b):
    """out = x W + b on the last axis: x (..., D), W (D, M), b (M,) -> out (..., M)."""
    return x @ W + b, (x, W)


def affine_backward(dout, cache):
    """Gradients of out = x W + b: dx = dout W^T, dW = sum over rows of x^T dout, db = sum of dout."""
    x, W = cache
    x2 = x.reshape(-1, x.shape[-1])
    d2 = dout.reshape(-1, dout.shape[-1])
    return dout @ W.T, x2.T @ d2, d2.sum(axis=0)


def relu_forward(x):
    """max(x, 0) elementwise."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dout where x > 0, else 0."""
    return dout * (cache > 0)


def leaky_relu_forward(x, slope=0.2):
    """x where x > 0, else slope * x."""
    return np.where(x > 0, x, slope * x), (x, slope)


def leaky_relu_backward(dout, cache):
    """dout where x > 0, else slope * dout."""
    x, slope = cache
    return np.where(x > 0, dout, slope * dout)


def tanh_forward(x):
    """tanh(x) elementwise; the cache is the output."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """d tanh(x)/dx = 1 - tanh(x)^2."""
    return dout * (1 - cache**2)


_ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
}


class MLP:
    """A stack of dense layers: ``sizes = [D_in, H_1, ..., D_out]``.

    Hidden layers use ``activation`` ("leaky_relu" with slope 0.2, "relu" or "tanh"); the last layer is linear
    unless ``output`` names an activation (a generator for images in [-1, 1] uses ``output="tanh"``).
    Parameters live in ``self.params`` as ``W0, b0, W1, b1, ...`` (W_i of shape (sizes[i], sizes[i+1])),
    initialised with He scaling from ``rng``, or taken from ``params`` (copied) when given.
    ``forward`` keeps the caches of its last call; ``backward`` uses them, fills ``self.grads`` and returns dx.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        rng: np.random.Generator | None = None,
        activation: str = "leaky_relu",
        output: str | None = None,
        params: Mapping[str, np.ndarray] | None = None,
    ):
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {list(sizes)}")
        for name in (activation, output):
            if name is not None and name not in _ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}")
        self.sizes = [int(s) for s in sizes]
        self.activation, self.output = activation, output
        if params is None:
            rng = np.random.default_rng() if rng is None else rng
            params = {}
            for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
                params[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
                params[f"b{i}"] = np.zeros(fan_out)
        self.params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            if self.params[f"W{i}"].shape != (fan_in, fan_out) or self.params[f"b{i}"].shape != (fan_out,):
                raise ValueError(f"layer {i}: W{i} and b{i} must have shapes {(fan_in, fan_out)} and {(fan_out,)}")
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._caches: list | None = None

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _activation_of(self, i):
        return self.activation if i < self.n_layers - 1 else self.output

    def forward(self, x):
        """The network's output for x (..., D_in); remembers what backward needs."""
        caches = []
        for i in range(self.n_layers):
            x, cache = affine_forward(x, self.params[f"W{i}"], self.params[f"b{i}"])
            act_cache = None
            name = self._activation_of(i)
            if name is not None:
                x, act_cache = _ACTIVATIONS[name][0](x)
            caches.append((cache, act_cache))
        self._caches = caches
        return x

    def backward(self, dout):
        """Backpropagate dout (the gradient of the loss w.r.t. the last forward's output): fill grads, return dx."""
        if self._caches is None:
            raise RuntimeError("call forward before backward")
        for i in reversed(range(self.n_layers)):
            cache, act_cache = self._caches[i]
            name = self._activation_of(i)
            if name is not None:
                dout = _ACTIVATIONS[name][1](dout, act_cache)
            dout, self.grads[f"W{i}"], self.grads[f"b{i}"] = affine_backward(dout, cache)
        return dout


class Adam:
    """Adam (Kingma and Ba, 2015) on a dict of parameter arrays, updated in place.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr * m_hat / (sqrt(v_hat) + eps),
    with m_hat = m / (1 - b1^t) and v_hat = v / (1 - b2^t) at step t = 1, 2, ...
    """

    def __init__(self, params: Mapping[str, np.ndarray], lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = params
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        missing = self.params.keys() - grads.keys()
        if missing:
            raise KeyError(f"no gradient for {sorted(missing)}")
        self.t += 1
        b1, b2 = self.betas
        for key, p in self.params.items():
            g = grads[key]
            self.m[key] = b1 * self.m[key] + (1 - b1) * g
            self.v[key] = b2 * self.v[key] + (1 - b2) * g * g
            m_hat = self.m[key] / (1 - b1**self.t)
            v_hat = self.v[key] / (1 - b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def cross_entropy(logits, targets, ignore_index=-1):
    """Mean softmax cross-entropy over positions, and its gradient with respect to the logits.

    logits (..., V), targets (...) integer class ids; positions whose target is ``ignore_index`` count
    neither in the loss nor in the mean. loss = -mean over counted positions of log softmax(logits)[target];
    dlogits = (softmax(logits) - onehot(target)) / n_counted at counted positions, 0 elsewhere.
    Returns (loss, dlogits).
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {logits.shape} and targets {targets.shape} do not match")
    flat = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1)
    keep = t != ignore_index
    n = int(keep.sum())
    if n == 0:
        raise ValueError("every target is ignore_index: nothing to average")
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.flatnonzero(keep)
    loss = -log_p[rows, t[rows]].sum() / n
    dflat = np.exp(log_p)
    dflat[rows, t[rows]] -= 1
    dflat[~keep] = 0
    return float(loss), (dflat / n).reshape(logits.shape)
