"""Attention and a transformer training step: the week 5 solution's NumPy code against PyTorch CPU, side by side.

1. Scaled dot-product attention, forward + backward (dq, dk, dv), B = 32 sequences of T = 64 positions, d = 64,
   without and with the causal mask, in float32 and float64. The NumPy side is the solution's
   ``attention_forward``/``attention_backward``; the PyTorch side is ``torch.nn.functional.scaled_dot_product_attention``
   (what a PyTorch user calls) with autograd's backward, on the same arrays.
2. One training step of the week's tiny transformer (pre-LN, causal multi-head attention, ReLU MLP, sinusoidal
   positions, untied output layer; the character model's shape by default): the solution's
   ``transformer_forward`` + ``dlfs.nn.cross_entropy`` + ``transformer_backward`` + ``dlfs.nn.Adam`` against the same
   network written with PyTorch operations on the same parameters (``F.layer_norm``, ``F.linear``,
   ``scaled_dot_product_attention``, ``F.cross_entropy``, ``torch.optim.Adam``). Both start from equal parameters
   and the script checks that losses and gradients agree before it times anything.

Each pair is timed in alternation, after a warm-up, ``--repeats`` times, and the medians compared. Both use
``--threads`` threads, set before either library loads. PyTorch is a benchmark-only dependency (``pip install
torch==2.13.0``, a CPU build), never one of the course or its tests. Run from the repository root:

    python benchmarks/attention.py [--repeats 15] [--threads 2] [--fragment FILE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEEK = "week05_gans_transformers"
NEEDED = ("attention_forward", "attention_backward", "transformer_forward", "transformer_backward", "init_transformer")
B, T, D_HEAD = 32, 64, 64


def solution_namespace(fragments: list[Path]) -> dict:
    """The functions the solution cells define (see ``benchmarks/solution_cells.py``)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from solution_cells import solution_namespace as namespace_of

    return namespace_of(WEEK, NEEDED, fragments)


def timed_pairs(first, second, repeats: int) -> tuple[float, float]:
    """Median seconds of first() and second(), called in alternation after two warm-up calls each."""
    for _ in range(2):
        first()
        second()
    a, b = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        first()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        second()
        b.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def largest_difference(ours, theirs) -> float:
    """Largest |a - b| relative to the largest |b| of its pair, worst pair. A pair whose reference is far smaller
    than the others' (the key bias's gradient is 0 up to round-off) is measured against a thousandth of the largest."""
    import numpy as np

    theirs = [t.detach().numpy() if hasattr(t, "detach") else np.asarray(t) for t in theirs]
    floor = 1e-3 * max(float(np.abs(t).max()) for t in theirs)
    worst = 0.0
    for a, t in zip(ours, theirs):
        worst = max(worst, float(np.abs(np.asarray(a) - t).max() / max(float(np.abs(t).max()), floor, 1e-30)))
    return worst


def attention_rows(ns: dict, repeats: int) -> list[tuple]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    rows = []
    for dtype, torch_dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        for causal in (False, True):
            rng = np.random.default_rng(0)
            q, k, v, dout = (rng.normal(size=(B, T, D_HEAD)).astype(dtype) for _ in range(4))
            tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
            tdout = torch.from_numpy(dout)

            def numpy_pass():
                out, cache = ns["attention_forward"](q, k, v, causal=causal)
                return (out, *ns["attention_backward"](dout, cache))

            def torch_pass():
                tq.grad = tk.grad = tv.grad = None
                out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
                out.backward(tdout)
                return out

            ours = numpy_pass()
            theirs = torch_pass()
            agree = largest_difference(ours, (theirs, tq.grad, tk.grad, tv.grad))
            types = {str(a.dtype) for a in ours}
            if types != {np.dtype(dtype).name}:
                sys.exit(f"the solution turned {np.dtype(dtype).name} inputs into {types}: the comparison would be unfair")
            mine, torch_time = timed_pairs(numpy_pass, torch_pass, repeats)
            rows.append((np.dtype(dtype).name, "causal" if causal else "full", mine, torch_time, agree))
    return rows


def torch_transformer_loss(params: dict, idx, targets, n_heads: int):
    """The week's transformer in PyTorch operations, reading the same parameter names as transformer_forward."""
    import math

    import torch
    import torch.nn.functional as F

    n_batch, n_pos = idx.shape
    width = params["tok_emb"].shape[1]
    position = torch.arange(n_pos, dtype=params["tok_emb"].dtype)[:, None]
    pair = torch.arange(width) // 2
    angle = position / 10000.0 ** (2.0 * pair / width)
    pe = torch.where(torch.arange(width) % 2 == 0, torch.sin(angle), torch.cos(angle))
    x = params["tok_emb"][idx] + pe
    layers = len({key.split(".")[0] for key in params if key.startswith("h") and "." in key})
    for layer in range(layers):
        p = {name.split(".", 1)[1]: value for name, value in params.items() if name.startswith(f"h{layer}.")}
        a = F.layer_norm(x, (width,), p["ln1_g"], p["ln1_b"], eps=1e-5)

        def heads(t):
            return t.reshape(n_batch, n_pos, n_heads, width // n_heads).transpose(1, 2)

        q, k, v = (heads(a @ p[f"W{n}"] + p[f"b{n}"]) for n in "qkv")
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / math.sqrt(width // n_heads))
        x = x + att.transpose(1, 2).reshape(n_batch, n_pos, width) @ p["Wo"] + p["bo"]
        m = F.layer_norm(x, (width,), p["ln2_g"], p["ln2_b"], eps=1e-5)
        x = x + torch.relu(m @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    f = F.layer_norm(x, (width,), params["lnf_g"], params["lnf_b"], eps=1e-5)
    logits = f @ params["W_out"] + params["b_out"]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def step_rows(ns: dict, args) -> list[tuple]:
    import numpy as np
    import torch

    from dlfs.nn import Adam, cross_entropy

    rows = []
    for dtype, torch_dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        rng = np.random.default_rng(0)
        params = {
            key: value.astype(dtype)
            for key, value in ns["init_transformer"](rng, args.vocab, args.width, args.layers).items()
        }
        idx = rng.integers(0, args.vocab, size=(args.batch, args.context))
        targets = rng.integers(0, args.vocab, size=(args.batch, args.context))
        tparams = {key: torch.tensor(value, requires_grad=True) for key, value in params.items()}
        tidx, ttargets = torch.from_numpy(idx), torch.from_numpy(targets)

        logits, cache = ns["transformer_forward"](idx, params, args.heads)
        loss, dlogits = cross_entropy(logits, targets)
        grads = ns["transformer_backward"](dlogits, cache)
        tloss = torch_transformer_loss(tparams, tidx, ttargets, args.heads)
        tloss.backward()
        keys = sorted(params)
        agree = max(
            abs(loss - tloss.item()) / abs(tloss.item()),
            largest_difference([grads[k] for k in keys], [tparams[k].grad for k in keys]),
        )
        types = {str(g.dtype) for g in grads.values()} | {str(logits.dtype)}
        if types != {np.dtype(dtype).name}:
            sys.exit(f"the solution turned {np.dtype(dtype).name} parameters into {types}: the comparison would be unfair")

        optimiser = Adam(params, lr=1e-3)
        torch_optimiser = torch.optim.Adam(tparams.values(), lr=1e-3, eps=1e-8)

        def numpy_step():
            logits, cache = ns["transformer_forward"](idx, params, args.heads)
            _, dlogits = cross_entropy(logits, targets)
            optimiser.step(ns["transformer_backward"](dlogits, cache))

        def torch_step():
            torch_optimiser.zero_grad(set_to_none=True)
            torch_transformer_loss(tparams, tidx, ttargets, args.heads).backward()
            torch_optimiser.step()

        mine, theirs = timed_pairs(numpy_step, torch_step, args.repeats)
        rows.append((np.dtype(dtype).name, mine, theirs, agree))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fragment", type=Path, action="append", default=[],
                        help="a fragment file holding solution cells (repeat for several), instead of the notebook")
    parser.add_argument("--vocab", type=int, default=73, help="transformer step: vocabulary (73: the Shakespeare text)")
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
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
    attention = attention_rows(ns, args.repeats)
    steps = step_rows(ns, args)

    print(f"NumPy {np.__version__} (week 5 solution)   PyTorch {torch.__version__} CPU   {args.threads} thread"
          f"{'s' * (args.threads > 1)}, medians of {args.repeats} alternated runs")
    if load > 0.5:
        print(f"  note: the load average was {load:.1f} at the start (other processes on {os.cpu_count()} cores): "
              "the figures are noisy")
    print(f"attention forward + backward, B = {B}, T = {T}, d = {D_HEAD} (PyTorch: scaled_dot_product_attention)")
    print(f"  {'dtype':8s} {'mask':7s} {'solution':>10s} {'PyTorch':>10s} {'ratio':>6s}   largest relative difference")
    for name, mask, mine, theirs, agree in attention:
        print(f"  {name:8s} {mask:7s} {mine * 1e3:7.2f} ms {theirs * 1e3:7.2f} ms {mine / theirs:6.2f}   {agree:.1e}")
    print(f"transformer training step (forward, cross-entropy, backward, Adam): {args.layers} layers, width "
          f"{args.width}, {args.heads} heads, context {args.context}, batch {args.batch}, vocabulary {args.vocab}")
    print(f"  {'dtype':8s} {'solution':>10s} {'PyTorch':>10s} {'ratio':>6s}   largest relative difference (loss, grads)")
    for name, mine, theirs, agree in steps:
        print(f"  {name:8s} {mine * 1e3:7.1f} ms {theirs * 1e3:7.1f} ms {mine / theirs:6.2f}   {agree:.1e}")
    print("  (ratio = solution / PyTorch: below 1 the NumPy code is faster)")


if __name__ == "__main__":
    main()
