"""One MNIST training epoch of week 4's CNN: the notebook solution's own code against PyTorch CPU, side by side.

The network (week 4, section 6): conv 3x3 1->16 (no bias) - batch norm - ReLU - max pool 2 - conv 3x3 16->32 (no
bias) - batch norm - ReLU - max pool 2 - dense 1568->128 - ReLU - dense 128->10, softmax cross-entropy.

The NumPy side is the solution cells of week 4's source notebook, run as written: one epoch of its ``train_cnn``
(``conv_forward_fast``/``conv_backward_fast``, ``spatial_batchnorm_*``, ``max_pool_*_fast`` inside ``cnn_loss``,
its in-place Adam with the cosine schedule, ``shift_images``, and the two accuracies at the end of the epoch).
The PyTorch side is the same model (He-initialised, ``nn.BatchNorm2d`` with the same momentum and eps), the same
steps: ``shift_images`` of the notebook on the same batches, ``torch.optim.Adam`` with the cosine schedule, and the
same two accuracies in eval mode. Both train on the 60,000 float32 training images in batches of 64 (validation:
the first 1,000 test images, only for the end-of-epoch accuracy) with the same number of threads, and are timed in
alternation, ``--repeats`` times each, after a warm-up of a few batches each; the medians are compared.

Threads: OpenBLAS (NumPy) and OpenMP (PyTorch) both get ``--threads``. ``OMP_WAIT_POLICY=PASSIVE`` is set before
PyTorch loads, so that its idle OpenMP threads sleep instead of spinning on the cores while NumPy runs.

PyTorch is a benchmark-only dependency, never one of the course or its tests: ``pip install torch==2.13.0`` (a
CPU build). Run from the repository root, with the week assembled (or ``--source`` naming another notebook whose
solution cells define the same functions):

    python benchmarks/cnn_epoch.py [--repeats 3] [--threads 2] [--source PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "autograder" / "source" / "week04_conv_from_scratch" / "assignment.ipynb"
BATCH, LR, VAL = 64, 2e-3, 1_000


def solution_namespace(source: Path) -> dict:
    """What the solution cells of the notebook define (see ``benchmarks/solution_cells.py``)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from solution_cells import solution_namespace as namespace_of

    return namespace_of("week04_conv_from_scratch", ("train_cnn",), notebook=source)


def numpy_epoch(ns: dict, X, y, X_val, y_val) -> float:
    """Seconds for one epoch of the solution's train_cnn, float32 throughout."""
    start = time.perf_counter()
    params, _, history = ns["train_cnn"](X, y, X_val, y_val, epochs=1, batch_size=BATCH, learning_rate=LR, seed=0,
                                         progress=False)
    seconds = time.perf_counter() - start
    dtypes = {str(v.dtype) for v in params.values()}
    if dtypes != {"float32"}:
        sys.exit(f"the solution's layers turned float32 parameters into {dtypes}: the comparison would be unfair")
    numpy_epoch.accuracy = history["val_acc"][-1]
    return seconds


def torch_model():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16, eps=1e-5, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32, eps=1e-5, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
    for layer in model:
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


def torch_epoch(ns: dict, X, y, X_val, y_val) -> float:
    """Seconds for the same epoch in PyTorch: the notebook's shifts, Adam with the cosine schedule, the accuracies."""
    import numpy as np
    import torch
    from torch import nn

    model = torch_model()
    steps = math.ceil(len(X) / BATCH)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    model.train()
    order = rng.permutation(len(X))
    for first in range(0, len(X), BATCH):
        batch = order[first:first + BATCH]
        images = torch.from_numpy(np.ascontiguousarray(ns["shift_images"](X[batch], rng)))
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), torch.from_numpy(y[batch]))
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        for images, labels in ((X[:len(X_val)], y[:len(X_val)]), (X_val, y_val)):
            accuracy = float((model(torch.from_numpy(images)).argmax(1) == torch.from_numpy(labels)).float().mean())
    torch_epoch.accuracy = accuracy
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--source", type=Path, default=SOURCE, help="a notebook whose solution cells define train_cnn")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before NumPy and PyTorch load their BLAS
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from dlfs.data import load_mnist

    if not args.source.exists():
        sys.exit(f"{args.source} does not exist: assemble week 4 first, or pass --source")
    mnist = load_mnist(flatten=False)
    X, y = mnist.X_train[:, None], mnist.y_train
    X_val, y_val = mnist.X_test[:VAL, None], mnist.y_test[:VAL]
    ns = solution_namespace(args.source)
    numpy_epoch(ns, X[:640], y[:640], X_val[:100], y_val[:100])  # warm-up: caches, allocator, thread pools
    torch_epoch(ns, X[:640], y[:640], X_val[:100], y_val[:100])
    numpy_times, torch_times = [], []
    for _ in range(args.repeats):
        numpy_times.append(numpy_epoch(ns, X, y, X_val, y_val))
        torch_times.append(torch_epoch(ns, X, y, X_val, y_val))
    n, t = statistics.median(numpy_times), statistics.median(torch_times)
    print(f"one epoch, {len(X)} MNIST images, CNN conv16-BN-pool-conv32-BN-pool-128-10, batch {BATCH}, float32, Adam with "
          f"a cosine schedule, random shifts, {args.threads} thread{'s' if args.threads > 1 else ''}, median of {args.repeats}")
    print(f"  week 4 solution (NumPy {np.__version__}): {n:6.1f} s   {', '.join(f'{s:.1f}' for s in numpy_times)}   "
          f"(validation accuracy after the last epoch {numpy_epoch.accuracy:.4f})")
    print(f"  PyTorch {torch.__version__} CPU:        {t:6.1f} s   {', '.join(f'{s:.1f}' for s in torch_times)}   "
          f"(validation accuracy after the last epoch {torch_epoch.accuracy:.4f})")
    print(f"  ratio NumPy / PyTorch: {n / t:.2f} ({'no slower' if n <= t else 'slower'})")


if __name__ == "__main__":
    main()
