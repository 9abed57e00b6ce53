"""Train the small CNN whose weights week 3 ships, from the reference layers, and write data/week03_cnn_weights.npz.

    conv(1 -> 16, 3x3, pad 1) - ReLU - maxpool 2 - conv(16 -> 32, 3x3, pad 1) - ReLU - maxpool 2 - flatten
    - dense(32*7*7 = 1568 -> 10)

on the 60,000 MNIST training images (``load_mnist("unit")``: pixels / 255, no other normalisation), float32,
mini-batches of 64, each image moved by a random translation of up to ``--shift`` = 2 pixels in each direction
(zeros shifted in, drawn anew for every batch), Adam (written below, updating in place) with a cosine
learning-rate schedule, a fixed number of epochs chosen in advance (the test split is only reported, never used
to choose anything), He initialisation, one seed for everything. Prints per epoch the training loss and
accuracy, the test accuracy and the time; at the end the test accuracy of the weights read back from the file,
the seed, the wall time and the file's SHA-256.

The layers are the trusted references of ``autograder/cases/conv_reference.py`` (the im2col versions);
dense, ReLU and the softmax cross-entropy are written here.

The weight file holds float32 arrays under the keys ``conv1_w`` (16, 1, 3, 3), ``conv1_b`` (16,),
``conv2_w`` (32, 16, 3, 3), ``conv2_b`` (32,), ``dense_w`` (1568, 10), ``dense_b`` (10,). A forward pass is
``out = x_flat @ dense_w + dense_b`` on the (N, 32, 7, 7) feature maps flattened in row-major (C, H, W)
order, with x of shape (N, 1, 28, 28) in [0, 1]. It is written as an uncompressed zip with fixed time
stamps, so the same weights always give the same bytes (``np.savez`` stamps the current time).

Usage::

    nice -n 10 .venv/bin/python scripts/train_week03_cnn.py                 # the run documented in data/README.md
    .venv/bin/python scripts/train_week03_cnn.py --epochs 1 --out /tmp/w.npz  # measure one epoch
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from autograder.cases.conv_reference import (  # noqa: E402
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward,
    max_pool_forward,
    pad2d,
)
from dlfs.data import load_mnist  # noqa: E402

SHAPES = {
    "conv1_w": (16, 1, 3, 3), "conv1_b": (16,),
    "conv2_w": (32, 16, 3, 3), "conv2_b": (32,),
    "dense_w": (32 * 7 * 7, 10), "dense_b": (10,),
}


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-normal weights (std sqrt(2 / fan_in)), zero biases, float32."""
    params = {}
    for name, shape in SHAPES.items():
        if name.endswith("_b"):
            params[name] = np.zeros(shape, dtype=np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if name.startswith("conv") else shape[0]
            params[name] = (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)
    return params


def forward(params: dict[str, np.ndarray], x: np.ndarray):
    """Logits (N, 10) and the caches for backward."""
    h1, c1 = conv_forward_fast(x, params["conv1_w"], params["conv1_b"], 1, 1)
    r1 = np.maximum(h1, 0)
    p1, q1 = max_pool_forward(r1, 2, 2)
    h2, c2 = conv_forward_fast(p1, params["conv2_w"], params["conv2_b"], 1, 1)
    r2 = np.maximum(h2, 0)
    p2, q2 = max_pool_forward(r2, 2, 2)
    flat = p2.reshape(len(x), -1)
    logits = flat @ params["dense_w"] + params["dense_b"]
    return logits, (c1, h1, q1, c2, h2, q2, flat, p2.shape)


def loss_and_grads(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy, its gradients, and the number of correct predictions."""
    logits, (c1, h1, q1, c2, h2, q2, flat, p2_shape) = forward(params, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(x)
    loss = -float(log_probs[np.arange(n), y].mean())
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1
    dlogits /= n
    grads = {"dense_w": flat.T @ dlogits, "dense_b": dlogits.sum(axis=0)}
    d = (dlogits @ params["dense_w"].T).reshape(p2_shape)
    d = max_pool_backward(d, q2)
    d *= h2 > 0
    d, grads["conv2_w"], grads["conv2_b"] = conv_backward_fast(d, c2)
    d = max_pool_backward(d, q1)
    d *= h1 > 0
    _, grads["conv1_w"], grads["conv1_b"] = conv_backward_fast(d, c1)
    return loss, grads, int((logits.argmax(axis=1) == y).sum())


class Adam:
    """Adam with bias correction, updating the parameters in place (Kingma and Ba 2015):

        m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
        w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(self, params, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params, grads, lr: float) -> None:
        self.t += 1
        step = lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)  # a Python float: no upcast
        for k, p in params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= step * m / (np.sqrt(v) + self.eps)


def shifted(X: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by its own random whole-pixel offset in [-shift, shift]^2, zeros shifted in."""
    if shift == 0:
        return X
    windows = sliding_window_view(pad2d(X, shift), X.shape[2:], axis=(2, 3))  # (B, 1, 2s+1, 2s+1, 28, 28)
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(X)))
    return windows[np.arange(len(X)), :, dy, dx]


def accuracy(params, X: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    correct = sum(int((forward(params, X[i:i + batch])[0].argmax(axis=1) == y[i:i + batch]).sum())
                  for i in range(0, len(X), batch))
    return correct / len(X)


def write_weights(path: Path, params: dict[str, np.ndarray]) -> str:
    """Write an .npz (a zip of .npy files, readable by np.load) with fixed time stamps; return its SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in SHAPES:
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(params[name], dtype=np.float32),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".npz.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay to 0)")
    parser.add_argument("--shift", type=int, default=2, help="random translations of up to this many pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "week03_cnn_weights.npz")
    args = parser.parse_args()

    start = time.perf_counter()
    mnist = load_mnist("unit", flatten=False)
    X_train, y_train = mnist.X_train[:, None], mnist.y_train  # (60000, 1, 28, 28) float32
    X_test, y_test = mnist.X_test[:, None], mnist.y_test
    rng = np.random.default_rng(args.seed)
    params = init_params(rng)
    adam = Adam(params)
    steps_per_epoch = math.ceil(len(X_train) / args.batch)
    total_steps = args.epochs * steps_per_epoch
    print(f"seed {args.seed}, {args.epochs} epochs of {steps_per_epoch} batches of {args.batch}, peak lr {args.lr}, "
          f"random shifts up to {args.shift} px, "
          f"{sum(p.size for p in params.values())} parameters", flush=True)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(X_train))
        loss_sum, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            loss, grads, hits = loss_and_grads(params, shifted(X_train[idx], args.shift, rng), y_train[idx])
            t = adam.t / total_steps
            adam.step(params, grads, args.lr * 0.5 * (1 + math.cos(math.pi * t)))
            loss_sum += loss * len(idx)
            correct += hits
        train_time = time.perf_counter() - t0
        test_acc = accuracy(params, X_test, y_test)
        print(f"epoch {epoch:2d}/{args.epochs}: train loss {loss_sum / len(X_train):.4f}, train acc "
              f"{correct / len(X_train):.4f}, test acc {test_acc:.4f}, {train_time:.1f} s training "
              f"+ {time.perf_counter() - t0 - train_time:.1f} s test", flush=True)

    digest = write_weights(args.out, params)
    with np.load(args.out, allow_pickle=False) as stored:
        reloaded = {k: stored[k] for k in stored.files}
    assert {k: v.shape for k, v in reloaded.items()} == SHAPES and all(v.dtype == np.float32 for v in reloaded.values())
    final = accuracy(reloaded, X_test, y_test)
    print(f"wrote {args.out}")
    print(f"test accuracy {final:.4f} ({round(final * len(X_test))}/{len(X_test)}), seed {args.seed}, "
          f"wall time {time.perf_counter() - start:.0f} s")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
