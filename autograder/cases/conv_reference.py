"""Reference convolution and pooling, shared by weeks 3 and 4 (trusted side; never imported by ``dlfs``).

The name does not start with ``w``, so :mod:`autograder.protocol` does not take it for a topic module: it
registers no hidden case. The week modules import what they need from here.

Conventions (the course's layer contract, CS231n's letters):

- ``x: (N, C, H, W)``, ``w: (F, C, KH, KW)``, ``b: (F,)``, ``out: (N, F, OH, OW)``.
- ``forward(...) -> (out, cache)`` and ``backward(dout, cache) -> grads``, ``dx`` first, then the gradients
  of the forward's parameters in their order.
- The output size of a convolution or pooling along one axis is

      OH = floor((H + 2 P - K) / S) + 1,

  (:func:`conv_output_size`); rows and columns that do not fill a whole window at the end are dropped.
- "Convolution" in a layer means cross-correlation (no kernel flip), as in every deep-learning library:

      out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, S i + u, S j + v] w[f, c, u, v],

  where ``xp = pad2d(x, P)``. :func:`convolve2d` is the flipped one, for the lecture's comparison.
- Types: integer (and bool) inputs are computed in float64; floating inputs keep their type, so float32
  stays float32 and float64 stays float64 (mixed float32/float64 inputs give float64). The loops of the
  naive versions accumulate in float64 and cast at the end.

Strides, paddings and pooling sizes are one int for both spatial axes; kernels may be non-square
(``KH != KW``) and images non-square (``H != W``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "avg_pool_backward",
    "avg_pool_forward",
    "col2im",
    "conv_backward_fast",
    "conv_backward_naive",
    "conv_forward_fast",
    "conv_forward_naive",
    "conv_output_size",
    "convolve2d",
    "correlate2d",
    "count_params",
    "im2col",
    "max_pool_backward",
    "max_pool_forward",
    "pad2d",
    "receptive_field",
]


# ---- helpers -------------------------------------------------------------------------------------------


def _int(value: object, name: str) -> int:
    """``value`` as a Python int; bools, floats and other types are refused with a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The computing type: float32 only if every input is float32 (or narrower float), else float64."""
    dtype = np.result_type(*arrays, np.float32)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _as(a: object, dtype: np.dtype) -> np.ndarray:
    return np.asarray(a).astype(dtype, copy=False)


def _check_conv_inputs(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> None:
    if x.ndim != 4 or w.ndim != 4 or b.ndim != 1:
        raise ValueError(f"expected x (N, C, H, W), w (F, C, KH, KW), b (F,), got shapes {x.shape}, {w.shape}, "
                         f"{b.shape}")
    if x.shape[1] != w.shape[1] or w.shape[0] != b.shape[0]:
        raise ValueError(f"channels or filters disagree: x {x.shape}, w {w.shape}, b {b.shape} (x's C must be "
                         "w's C, w's F must be b's length)")


# ---- sizes and padding ----------------------------------------------------------------------------------


def conv_output_size(H: int, K: int, P: int, S: int) -> int:
    """Output length of a convolution or pooling along one axis of length ``H``.

        OH = floor((H + 2 P - K) / S) + 1

    with kernel size ``K`` >= 1, padding ``P`` >= 0 and stride ``S`` >= 1. When ``S`` does not divide
    ``H + 2P - K``, the last ``(H + 2P - K) mod S`` rows are never the start of a window's last row: they are
    dropped (as in PyTorch and JAX's 'VALID' padding after explicit padding).

    Raises
    ------
    ValueError
        For ``K < 1``, ``P < 0``, ``S < 1``, ``H < 1``, a kernel larger than the padded input
        (``K > H + 2P``), or arguments that are not integers.
    """
    H, K, P, S = (_int(v, n) for v, n in ((H, "H"), (K, "K"), (P, "P"), (S, "S")))
    if H < 1:
        raise ValueError(f"the input size H must be >= 1, got {H}")
    if K < 1:
        raise ValueError(f"the kernel size K must be >= 1, got {K}")
    if P < 0:
        raise ValueError(f"the padding P must be >= 0, got {P}")
    if S < 1:
        raise ValueError(f"the stride S must be >= 1, got {S}")
    if K > H + 2 * P:
        raise ValueError(f"the kernel (K = {K}) is larger than the padded input (H + 2P = {H} + 2*{P} = {H + 2 * P})")
    return (H + 2 * P - K) // S + 1


def pad2d(x: np.ndarray, P: int) -> np.ndarray:
    """Zero-pad the last two axes of ``x`` by ``P`` on each side: (..., H, W) -> (..., H + 2P, W + 2P).

        xp[..., i + P, j + P] = x[..., i, j],   xp = 0 elsewhere.

    Returns a new array of ``x``'s type (also for ``P = 0``).
    """
    P = _int(P, "P")
    if P < 0:
        raise ValueError(f"the padding P must be >= 0, got {P}")
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"pad2d pads the last two axes; x has shape {x.shape}")
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(P, P), (P, P)])


# ---- single-channel correlation and convolution ---------------------------------------------------------


def correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Valid' cross-correlation of a 2-D ``image`` (H, W) with a 2-D ``kernel`` (KH, KW), no flip:

        out[i, j] = sum_{u, v} image[i + u, j + v] kernel[u, v],   out: (H - KH + 1, W - KW + 1).

    This is what a convolutional layer computes (one channel, one filter, stride 1, no padding).
    """
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"image and kernel must be 2-D, got shapes {image.shape} and {kernel.shape}")
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1] or 0 in kernel.shape:
        raise ValueError(f"the kernel {kernel.shape} must be non-empty and fit in the image {image.shape}")
    dtype = _float_dtype(image, kernel)
    windows = sliding_window_view(_as(image, dtype), kernel.shape)  # (OH, OW, KH, KW), a view
    return np.tensordot(windows, _as(kernel, dtype), axes=([2, 3], [0, 1]))


def convolve2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Valid' convolution in the mathematical sense: the kernel is flipped in both axes,

        out[i, j] = sum_{u, v} image[i + u, j + v] kernel[KH - 1 - u, KW - 1 - v]
                  = correlate2d(image, kernel[::-1, ::-1])[i, j]

    (equal to ``scipy.signal.convolve2d(image, kernel, mode='valid')``).
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}")
    return correlate2d(image, kernel[::-1, ::-1])


# ---- naive convolution: the ground truth ---------------------------------------------------------------


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
    """Convolutional layer forward with plain loops (slow; the ground truth for everything else).

        out[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, S i + u, S j + v] w[f, c, u, v],
        xp = pad2d(x, P),  OH = floor((H + 2P - KH) / S) + 1,  OW = floor((W + 2P - KW) / S) + 1.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> out: (N, F, OH, OW). Cache: (x, w, b, stride, pad).
    """
    x, w, b = (np.asarray(a) for a in (x, w, b))
    _check_conv_inputs(x, w, b)
    dtype = _float_dtype(x, w, b)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)
    xp = pad2d(x.astype(np.float64), pad)
    w64, b64 = w.astype(np.float64), b.astype(np.float64)
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(window * w64[f]) + b64[f]
    return out.astype(dtype), (x, w, b, stride, pad)


def conv_backward_naive(dout: np.ndarray, cache: tuple):
    """Convolutional layer backward with plain loops. Returns (dx, dw, db).

    Each output entry out[n, f, i, j] used the window xp[n, :, S i : S i + KH, S j : S j + KW] and w[f], so

        dxp[n, :, S i + u, S j + v] += w[f, :, u, v] dout[n, f, i, j]     (overlapping windows add up),
        dw[f]                       += xp[n, :, window] dout[n, f, i, j],
        db[f]                        = sum_{n, i, j} dout[n, f, i, j],

    and dx is dxp without its padding border.
    """
    x, w, b, stride, pad = cache
    dtype = _float_dtype(x, w, b, np.asarray(dout))
    dout = np.asarray(dout, dtype=np.float64)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, OH, OW = dout.shape
    xp = pad2d(x.astype(np.float64), pad)
    w64 = w.astype(np.float64)
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    rows, cols = slice(i * stride, i * stride + KH), slice(j * stride, j * stride + KW)
                    dxp[n, :, rows, cols] += w64[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx.astype(dtype), dw.astype(dtype), db.astype(dtype)


# ---- im2col / col2im ------------------------------------------------------------------------------------


def im2col(x: np.ndarray, KH: int, KW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every KH x KW window of the padded ``x`` into a column: (N, C, H, W) -> (N, C KH KW, OH OW).

        cols[n, (c KH + u) KW + v, i OW + j] = xp[n, c, S i + u, S j + v],   xp = pad2d(x, P),

    so the row index runs over (c, u, v) in the order of ``w.reshape(F, -1)`` and the column index over the
    output positions in row-major order; a convolution is then ``w.reshape(F, -1) @ cols`` per image. Built
    from a strided view (``sliding_window_view``) and one copy, with no loop over positions. Keeps x's type.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)
    windows = sliding_window_view(pad2d(x, pad), (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    # windows: (N, C, OH, OW, KH, KW), a view; the transpose + reshape makes the one copy
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW)


def col2im(cols: np.ndarray, x_shape: Sequence[int], KH: int, KW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: scatter the columns back into an image, ADDING where windows overlap.

        xp[n, c, S i + u, S j + v] += cols[n, (c KH + u) KW + v, i OW + j]   for all (c, u, v, i, j),
        x = xp without its padding border,

    so that <im2col(x), cols> = <x, col2im(cols)> for all x and cols. This is dx of a convolution given
    dcols. One loop over the KH KW kernel offsets, each a strided slice over all positions. Keeps cols' type.
    """
    cols = np.asarray(cols)
    N, C, H, W = (int(s) for s in x_shape)
    OH, OW = conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)
    if cols.shape != (N, C * KH * KW, OH * OW):
        raise ValueError(f"cols must have shape {(N, C * KH * KW, OH * OW)} for x of shape {tuple(x_shape)}, "
                         f"got {cols.shape}")
    blocks = cols.reshape(N, C, KH, KW, OH, OW)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride] += blocks[:, :, u, v]
    return xp[:, :, pad:pad + H, pad:pad + W].copy() if pad else xp


# ---- fast convolution -----------------------------------------------------------------------------------


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
    """Convolutional layer forward by im2col and one batched matrix product; same result as the naive one.

        cols = im2col(x)                                  (N, C KH KW, OH OW)
        out  = w.reshape(F, C KH KW) @ cols + b[:, None]  (N, F, OH OW) -> (N, F, OH, OW)

    Cache: (x.shape, w, cols, stride, pad). float32 inputs stay float32.
    """
    x, w, b = (np.asarray(a) for a in (x, w, b))
    _check_conv_inputs(x, w, b)
    dtype = _float_dtype(x, w, b)
    x, w, b = _as(x, dtype), _as(w, dtype), _as(b, dtype)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, pad, stride), conv_output_size(W, KW, pad, stride)
    cols = im2col(x, KH, KW, stride, pad)
    out = np.matmul(w.reshape(F, -1), cols)  # (F, CKK) @ (N, CKK, L) -> (N, F, L)
    out += b[:, None]
    return out.reshape(N, F, OH, OW), (x.shape, w, cols, stride, pad)


def conv_backward_fast(dout: np.ndarray, cache: tuple):
    """Convolutional layer backward on the im2col columns. Returns (dx, dw, db).

    With dout reshaped to (N, F, OH OW):

        db    = sum over n and positions of dout                     (F,)
        dw    = sum_n dout[n] @ cols[n]^T, reshaped to w's shape     (F, C, KH, KW)
        dcols = w.reshape(F, -1)^T @ dout                            (N, C KH KW, OH OW)
        dx    = col2im(dcols)                                        (N, C, H, W)
    """
    x_shape, w, cols, stride, pad = cache
    dtype = cols.dtype
    dout = _as(dout, dtype)
    N, F = dout.shape[:2]
    d = dout.reshape(N, F, -1)
    db = d.sum(axis=(0, 2))
    dw = np.matmul(d, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = np.matmul(w.reshape(F, -1).T, d)
    return col2im(dcols, x_shape, w.shape[2], w.shape[3], stride, pad), dw, db


# ---- pooling --------------------------------------------------------------------------------------------


def _pool_setup(x: np.ndarray, pool: int, stride: int | None):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    pool = _int(pool, "pool")
    stride = pool if stride is None else _int(stride, "stride")
    OH, OW = conv_output_size(x.shape[2], pool, 0, stride), conv_output_size(x.shape[3], pool, 0, stride)
    return x.astype(_float_dtype(x), copy=False), pool, stride, OH, OW


def _window(a: np.ndarray, u: int, v: int, stride: int, OH: int, OW: int) -> tuple:
    """The index of offset (u, v) of every window: a strided slice of shape (N, C, OH, OW)."""
    return (slice(None), slice(None), slice(u, u + stride * OH, stride), slice(v, v + stride * OW, stride))


def max_pool_forward(x: np.ndarray, pool: int = 2, stride: int | None = None):
    """Max pooling over ``pool x pool`` windows with step ``stride`` (default: ``pool``), no padding.

        out[n, c, i, j] = max_{0 <= u, v < pool} x[n, c, S i + u, S j + v],
        OH = floor((H - pool) / S) + 1,  OW = floor((W - pool) / S) + 1.

    x: (N, C, H, W) -> out: (N, C, OH, OW). Computed as an elementwise np.maximum of the pool^2 strided
    slices (no loop over positions). Cache: (x, out, pool, stride).
    """
    x, pool, stride, OH, OW = _pool_setup(x, pool, stride)
    out = x[_window(x, 0, 0, stride, OH, OW)].copy()
    for u in range(pool):
        for v in range(pool):
            if u or v:
                np.maximum(out, x[_window(x, u, v, stride, OH, OW)], out=out)
    return out, (x, out, pool, stride)


def max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Max pooling backward: each window's gradient goes to the entry that was its maximum.

        dx[n, c, S i + u*, S j + v*] += dout[n, c, i, j],   (u*, v*) = the window's argmax.

    Tie rule: when several entries of a window equal its maximum, the whole gradient goes to the FIRST of
    them in row-major order within the window (smallest u, then smallest v), as ``np.argmax`` on the
    flattened window would pick; the others get 0. (The maximum is not differentiable at a tie; any
    convex combination is a valid subgradient, this one is the course's.) When windows overlap
    (stride < pool), an entry that is the maximum of several windows receives the sum of their gradients.
    """
    x, out, pool, stride = cache
    dout = _as(dout, x.dtype)
    N, C, OH, OW = out.shape
    dx = np.zeros_like(x)
    taken = np.zeros(out.shape, dtype=bool)  # windows whose gradient has already been routed
    for u in range(pool):
        for v in range(pool):
            index = _window(x, u, v, stride, OH, OW)
            winner = (x[index] == out) & ~taken
            dx[index] += dout * winner
            taken |= winner
    return dx


def avg_pool_forward(x: np.ndarray, pool: int = 2, stride: int | None = None):
    """Average pooling over ``pool x pool`` windows with step ``stride`` (default: ``pool``), no padding.

        out[n, c, i, j] = (1 / pool^2) sum_{0 <= u, v < pool} x[n, c, S i + u, S j + v].

    x: (N, C, H, W) -> out: (N, C, OH, OW), sizes as in :func:`max_pool_forward`. Cache: (x.shape, pool, stride).
    """
    x, pool, stride, OH, OW = _pool_setup(x, pool, stride)
    out = np.zeros((x.shape[0], x.shape[1], OH, OW), dtype=x.dtype)
    for u in range(pool):
        for v in range(pool):
            out += x[_window(x, u, v, stride, OH, OW)]
    out /= pool * pool
    return out, (x.shape, x.dtype, pool, stride)


def avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Average pooling backward: every entry of a window gets an equal share of its gradient,

        dx[n, c, S i + u, S j + v] += dout[n, c, i, j] / pool^2   for all 0 <= u, v < pool

    (overlapping windows add up; entries in no window, at the dropped border, get 0).
    """
    x_shape, dtype, pool, stride = cache
    dout = _as(dout, dtype)
    OH, OW = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dtype)
    share = dout / (pool * pool)
    for u in range(pool):
        for v in range(pool):
            dx[_window(dx, u, v, stride, OH, OW)] += share
    return dx


# ---- architectures: parameter counts and receptive fields ----------------------------------------------

LAYER_KEYS = {
    "conv": ({"in", "out", "k"}, {"stride", "pad", "bias"}),
    "dense": ({"in", "out"}, {"bias"}),
    "maxpool": ({"k"}, {"stride"}),
    "avgpool": ({"k"}, {"stride"}),
    "relu": (set(), set()),
    "flatten": (set(), set()),
}
"""The architecture format: a list of dicts, each with a ``"type"`` and that type's keys.

``{"type": "conv", "in": C, "out": F, "k": K, "stride": 1, "pad": 0, "bias": True}``: a K x K convolution
(square kernel; ``stride``, ``pad`` and ``bias`` optional with these defaults);
``{"type": "dense", "in": D, "out": M, "bias": True}``: an affine layer;
``{"type": "maxpool" | "avgpool", "k": K, "stride": K}``: pooling (``stride`` defaults to ``k``);
``{"type": "relu"}``, ``{"type": "flatten"}``: no parameters, no change of the receptive field.
Example, the week-3 CNN on 28 x 28 MNIST images::

    [{"type": "conv", "in": 1, "out": 8, "k": 3, "stride": 1, "pad": 1}, {"type": "relu"},
     {"type": "maxpool", "k": 2, "stride": 2}, {"type": "flatten"}, {"type": "dense", "in": 1568, "out": 10}]
"""


def _checked(layers: Sequence[dict]) -> list[dict]:
    """Each layer with its defaults filled in; ValueError naming the layer for anything malformed."""
    checked = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("type") not in LAYER_KEYS:
            raise ValueError(f"layer {index} must be a dict whose 'type' is one of {sorted(LAYER_KEYS)}, got {layer!r}")
        required, optional = LAYER_KEYS[layer["type"]]
        keys = set(layer) - {"type"}
        if not required <= keys or not keys <= required | optional:
            raise ValueError(f"layer {index} ({layer['type']}) needs the keys {sorted(required)} and may have "
                             f"{sorted(optional)}, got {sorted(keys)}")
        filled = dict(layer)
        if layer["type"] in ("maxpool", "avgpool"):
            filled.setdefault("stride", layer["k"])
        elif layer["type"] == "conv":
            filled.setdefault("stride", 1)
            filled.setdefault("pad", 0)
        for key in ("in", "out", "k", "stride"):
            if key in filled and _int(filled[key], f"layer {index}'s {key!r}") < 1:
                raise ValueError(f"layer {index}'s {key!r} must be >= 1, got {filled[key]}")
        if "pad" in filled and _int(filled["pad"], f"layer {index}'s 'pad'") < 0:
            raise ValueError(f"layer {index}'s 'pad' must be >= 0, got {filled['pad']}")
        checked.append(filled)
    return checked


def count_params(layers: Sequence[dict]) -> int:
    """Number of trainable parameters of an architecture in the format of :data:`LAYER_KEYS`.

        conv:  F C K^2 + F   (the weights w (F, C, K, K), plus one bias per filter; + 0 with bias=False)
        dense: D M + M       (w (D, M), b (M,))
        relu, flatten, maxpool, avgpool: 0

    Parameter sharing is why the conv count does not depend on the image size.
    """
    n_params = 0
    for layer in _checked(layers):
        bias = layer["out"] if layer.get("bias", True) and "out" in layer else 0
        if layer["type"] == "conv":
            n_params += layer["out"] * layer["in"] * layer["k"] ** 2 + bias
        elif layer["type"] == "dense":
            n_params += layer["in"] * layer["out"] + bias
    return n_params


def receptive_field(layers: Sequence[dict]) -> int:
    """Side of the receptive field, in input pixels, of one unit after the spatial layers of ``layers``.

    Reading the layers in order up to the first ``flatten`` or ``dense`` (after which a unit sees the whole
    image), with r_0 = 1 and the jump (distance in input pixels between neighbouring units) j_0 = 1,

        conv or pool with kernel k and stride s:  r <- r + (k - 1) j,   j <- j s
        relu:                                      unchanged.

    Padding moves the field but does not change its size. Example: conv 3 (stride 1), pool 2, conv 3, pool 2
    gives r = 1 + 2 + 1 + 4 + 2 = 10.
    """
    r, jump = 1, 1
    for layer in _checked(layers):
        if layer["type"] in ("flatten", "dense"):
            break
        if layer["type"] in ("conv", "maxpool", "avgpool"):
            r += (layer["k"] - 1) * jump
            jump *= layer["stride"]
    return r
