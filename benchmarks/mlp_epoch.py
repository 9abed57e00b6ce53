"""One MNIST epoch of a 784-256-128-10 MLP: the week 2 solution's own layers against PyTorch CPU, side by side.

The NumPy side is the code of the solution cells of week 2's source notebook, run as written (its
``mlp_loss`` built from ``affine_*``, ``relu_*``, ``softmax_cross_entropy`` and ``l2_penalty``, stepped by its
``adam``); the PyTorch side is the same model (He-initialised ``nn.Linear`` layers, ReLU, cross-entropy,
``torch.optim.Adam`` with the same hyper-parameters). Both train on the same 60,000 float32 images in the same
shuffled batches of 128, with the same number of threads. The two are timed in alternation, ``--repeats``
times each, and the medians compared.

PyTorch is a benchmark-only dependency, never one of the course or its tests:
``pip install torch==2.13.0`` (a CPU build). Run from the repository root:

    python benchmarks/mlp_epoch.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = [784, 256, 128, 10]
BATCH, LR = 128, 1e-3


def solution_namespace() -> dict:
    """The functions the solution cells of week 2 define (see ``benchmarks/solution_cells.py``)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from solution_cells import solution_namespace as namespace_of

    return namespace_of("week02_backprop", ("init_mlp", "mlp_loss", "adam"))


def numpy_epoch(ns: dict, X, y, order) -> float:
    """Seconds for one epoch of the solution's mlp_loss + adam, float32 throughout."""
    import numpy as np

    params = {k: v.astype(np.float32) for k, v in ns["init_mlp"](SIZES, seed=0).items()}
    configs = {k: {"learning_rate": LR} for k in params}
    start = time.perf_counter()
    for i in range(0, len(order), BATCH):
        batch = order[i:i + BATCH]
        _, grads = ns["mlp_loss"](params, X[batch], y[batch])
        for k in params:
            params[k], configs[k] = ns["adam"](params[k], grads[k], configs[k])
    seconds = time.perf_counter() - start
    dtypes = {str(v.dtype) for v in params.values()}
    if dtypes != {"float32"}:
        sys.exit(f"the solution's layers turned float32 parameters into {dtypes}: the comparison would be unfair")
    return seconds


def torch_epoch(X, y, order) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    X, y, order = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(order)
    start = time.perf_counter()
    for i in range(0, len(order), BATCH):
        batch = order[i:i + BATCH]
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[batch]), y[batch])
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before NumPy and PyTorch load their BLAS
    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from dlfs.data import load_mnist

    mnist = load_mnist(dtype=np.float32)
    X, y = mnist.X_train, mnist.y_train
    order = np.random.default_rng(0).permutation(len(X))
    ns = solution_namespace()
    numpy_times, torch_times = [], []
    for _ in range(args.repeats):
        numpy_times.append(numpy_epoch(ns, X, y, order))
        torch_times.append(torch_epoch(X, y, order))
    n, t = statistics.median(numpy_times), statistics.median(torch_times)
    print(f"one epoch, {len(X)} images, MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, Adam, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"  week 2 solution (NumPy {np.__version__}): {n:.2f} s   {', '.join(f'{s:.2f}' for s in numpy_times)}")
    print(f"  PyTorch {torch.__version__} CPU:        {t:.2f} s   {', '.join(f'{s:.2f}' for s in torch_times)}")
    print(f"  ratio NumPy / PyTorch: {n / t:.2f} ({'no slower' if n <= t else 'slower'})")


if __name__ == "__main__":
    main()
