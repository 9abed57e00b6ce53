"""A convolution layer's forward + backward: the week 4 solution's im2col code against PyTorch CPU, side by side.

The layer is the first convolution of a CNN on MNIST: 64 images of 28 x 28 with 16 channels, 32 filters of 3 x 3,
stride 1, padding 1, in float32 and in float64. The NumPy side is the code of the solution cells of week 4's source
notebook, run as written (``im2col``, ``col2im``, ``conv_forward_fast``, ``conv_backward_fast``, and the naive loops
``conv_forward_naive``/``conv_backward_naive`` for the fast/naive ratio); ``--fragment`` reads the same cells from
fragment files in the percent format instead (before the notebook is assembled). The PyTorch side is
``torch.nn.functional.conv2d`` with autograd's backward, the gradients of x, w and b, on the same arrays.

Both run in one process with the memory setting every notebook of the course gets from ``import dlfs``: glibc's
malloc keeps freed blocks for the next pass instead of faulting them in again (:mod:`dlfs.memory`; PyTorch's
allocator sits on the same malloc). ``DLFS_MALLOC=glibc`` keeps glibc's defaults for both, to compare.

The two are timed in alternation, each warmed up first, ``--repeats`` times, and the medians compared. Both use
``--threads`` threads (OpenBLAS for NumPy, OpenMP for PyTorch; the variables are set before either library
loads), and ``OMP_WAIT_POLICY=PASSIVE`` makes PyTorch's idle OpenMP threads sleep instead of spinning against
OpenBLAS's. The solution's parts are timed in the same loop: im2col alone, the rest of the forward (the matrix
product and the bias), col2im alone, and the rest of the backward (two matrix products and db).

PyTorch is a benchmark-only dependency, never one of the course or its tests: ``pip install torch==2.13.0`` (a
CPU build). Run from the repository root:

    python benchmarks/conv_layer.py [--repeats 15] [--threads 2] [--fragment FILE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEEDED = ("im2col", "col2im", "conv_forward_fast", "conv_backward_fast", "conv_forward_naive", "conv_backward_naive")
N, C, H, W, F, K, STRIDE, PAD = 64, 16, 28, 28, 32, 3, 1, 1
NAIVE_IMAGES = 2


def solution_namespace(fragments: list[Path]) -> dict:
    """The functions the solution cells define (see ``benchmarks/solution_cells.py``)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from solution_cells import solution_namespace as namespace_of

    return namespace_of("week04_conv_from_scratch", NEEDED, fragments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fragment", type=Path, action="append", default=[],
                        help="a fragment file holding solution cells (repeat for several), instead of the notebook")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before NumPy and PyTorch load their thread pools
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    ns = solution_namespace(args.fragment)
    rows = []
    for dtype, torch_dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(N, C, H, W)).astype(dtype)
        w = (rng.normal(size=(F, C, K, K)) / np.sqrt(C * K * K)).astype(dtype)
        b = rng.normal(size=F).astype(dtype)
        dout = rng.normal(size=(N, F, H, W)).astype(dtype)
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tdout = torch.from_numpy(dout)
        dcols = rng.normal(size=(N, C * K * K, H * W)).astype(dtype)
        times: dict[str, list[float]] = {k: [] for k in ("numpy", "torch", "im2col", "forward", "col2im", "backward",
                                                          "torch forward", "torch backward")}

        def numpy_pass(record: bool):
            start = time.perf_counter()
            out, cache = ns["conv_forward_fast"](x, w, b, stride=STRIDE, pad=PAD)
            middle = time.perf_counter()
            grads = ns["conv_backward_fast"](dout, cache)
            end = time.perf_counter()
            if record:
                times["numpy"].append(end - start)
                times["forward"].append(middle - start)
                times["backward"].append(end - middle)
            return out, grads

        def torch_pass(record: bool):
            tx.grad = tw.grad = tb.grad = None
            start = time.perf_counter()
            out = torch.nn.functional.conv2d(tx, tw, tb, stride=STRIDE, padding=PAD)
            middle = time.perf_counter()
            out.backward(tdout)
            end = time.perf_counter()
            if record:
                times["torch"].append(end - start)
                times["torch forward"].append(middle - start)
                times["torch backward"].append(end - middle)
            return out

        def parts():
            start = time.perf_counter()
            ns["im2col"](x, K, K, STRIDE, PAD)
            middle = time.perf_counter()
            ns["col2im"](dcols, x.shape, K, K, STRIDE, PAD)
            times["im2col"].append(middle - start)
            times["col2im"].append(time.perf_counter() - middle)

        out, grads = numpy_pass(False)
        reference = torch_pass(False)
        agree = max(float(np.abs(a - t.detach().numpy()).max() / max(np.abs(t.detach().numpy()).max(), 1.0))
                    for a, t in zip((out, *grads), (reference, tx.grad, tw.grad, tb.grad)))
        types = {str(a.dtype) for a in (out, *grads)}
        if types != {np.dtype(dtype).name}:
            sys.exit(f"the solution turned {np.dtype(dtype).name} inputs into {types}: the comparison would be unfair")
        for _ in range(2):  # warm-up
            numpy_pass(False)
            torch_pass(False)
            parts()
        for _ in range(args.repeats):
            numpy_pass(True)
            torch_pass(True)
            parts()
        median = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        rows.append((np.dtype(dtype).name, median, agree))
    naive = _naive_ratio(ns, np, rows[0][1]["numpy"])

    print(f"convolution {K}x{K}, {C} -> {F} channels, {N} images of {H} x {W}, stride {STRIDE}, pad {PAD}: forward + "
          f"backward, {args.threads} thread{'s' * (args.threads > 1)}, median of {args.repeats} alternated runs")
    if load > 0.5:
        print(f"  note: the load average was {load:.1f} at the start (other processes on {os.cpu_count()} cores): the "
              "figures are noisy, and with\n  more threads than idle cores OpenBLAS waits for descheduled threads at "
              "every call of the batched products,\n  which can make the NumPy side many times slower")
    print(f"  NumPy {np.__version__} (week 4 solution, im2col)   PyTorch {torch.__version__} CPU (conv2d + autograd)")
    from dlfs import memory

    print("  malloc, both sides: " + ("freed memory kept (dlfs.memory)" if memory.applied else
                                      f"glibc's defaults ({memory.OPT_OUT}={os.environ.get(memory.OPT_OUT, '')!r})"))
    print(f"  {'dtype':8s} {'solution':>10s} {'PyTorch':>10s} {'ratio':>7s}   goal")
    for name, median, _ in rows:
        goal = "<= 1.5" if name == "float32" else "< 1 (ahead)"
        ratio = median["numpy"] / median["torch"]
        print(f"  {name:8s} {median['numpy']:8.1f} ms {median['torch']:7.1f} ms {ratio:7.2f}   {goal}: "
              f"{'met' if ratio <= (1.5 if name == 'float32' else 1.0) else 'NOT met'}")
    print("  per part, median ms:")
    print(f"  {'dtype':8s} {'im2col':>7s} {'fwd rest':>9s} {'col2im':>7s} {'bwd rest':>9s}   {'torch fwd':>9s} "
          f"{'torch bwd':>9s}   largest relative difference to PyTorch")
    for name, m, agree in rows:
        print(f"  {name:8s} {m['im2col']:7.1f} {m['forward'] - m['im2col']:9.1f} {m['col2im']:7.1f} "
              f"{m['backward'] - m['col2im']:9.1f}   {m['torch forward']:9.1f} {m['torch backward']:9.1f}   {agree:.1e}")
    print("  (fwd rest = the forward's matrix product and bias; bwd rest = dw's and dcols' matrix products and db)")
    print(f"  fast / naive loops (float32; the loops on {NAIVE_IMAGES} images, scaled to {N}): {naive:.0f}x")


def _naive_ratio(ns: dict, np, fast_ms: float) -> float:
    """How many times faster the fast pass is than the solution's naive loops (timed on a few images, scaled)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(NAIVE_IMAGES, C, H, W)).astype(np.float32)
    w = (rng.normal(size=(F, C, K, K)) / np.sqrt(C * K * K)).astype(np.float32)
    b = rng.normal(size=F).astype(np.float32)
    dout = rng.normal(size=(NAIVE_IMAGES, F, H, W)).astype(np.float32)
    start = time.perf_counter()
    _, cache = ns["conv_forward_naive"](x, w, b, stride=STRIDE, pad=PAD)
    ns["conv_backward_naive"](dout, cache)
    return (time.perf_counter() - start) * N / NAIVE_IMAGES * 1e3 / fast_ms


if __name__ == "__main__":
    main()
