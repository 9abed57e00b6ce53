"""Plots used throughout the course: image grids, loss curves and 2-D decision boundaries.

Every function builds a new figure with ``matplotlib.pyplot`` (or draws into a given Axes), returns
the :class:`~matplotlib.figure.Figure`, and never calls ``plt.show()``; it works with any backend,
including the non-interactive ``Agg`` used by the tests and the autograder.  In a notebook, write
``fig = show_images(...)`` (or end the line with ``;``) so that the figure is not displayed twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

__all__ = ["show_images", "plot_losses", "plot_decision_boundary"]


# ----------------------------------------------------------------------------------------------------
# show_images
# ----------------------------------------------------------------------------------------------------


def _as_image_stack(images: ArrayLike) -> np.ndarray:
    """Bring images to shape (N, H, W) or (N, H, W, 3).

    A flattened batch (N, D) is reshaped to (N, s, s) with s = sqrt(D), which must be an integer.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        n, d = arr.shape
        side = math.isqrt(d)
        if side * side != d:
            raise ValueError(
                f"flattened images of length {d} are not square (sqrt({d}) is not an integer); "
                "pass them as (N, H, W) instead"
            )
        return arr.reshape(n, side, side)
    if arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3):
        return arr
    raise ValueError(f"images must have shape (N, H, W), (N, H*W) or (N, H, W, 3), got {arr.shape}")


def _grid_shape(n: int, ncols: int) -> tuple[int, int]:
    """Rows and columns of a grid of ``n`` cells at most ``ncols`` wide.

    (rows, cols) = (ceil(n / c), c) with c = min(n, ncols).
    """
    cols = max(1, min(n, ncols))
    return math.ceil(n / cols), cols


def show_images(
    images: ArrayLike,
    labels: Sequence[object] | None = None,
    *,
    ncols: int = 8,
    cmap: str = "gray",
    title: str | None = None,
    size: float = 1.2,
) -> Figure:
    """A grid of images, optionally titled with their labels.

    The N images fill a grid of ceil(N / c) rows by c = min(N, ncols) columns, row by row; cells
    beyond N are hidden.  Each cell is ``size`` inches square.  Grey images use ``cmap`` and are
    scaled per image (imshow's default); RGB images are shown as they are (floats in [0, 1] or
    integers in [0, 255]).

    Parameters
    ----------
    images:
        (N, H, W), (N, H*W) with H*W a perfect square (reshaped to (N, H, H)), or (N, H, W, 3).
    labels:
        Optional, one per image; shown as the title of its cell.
    ncols, cmap, title, size:
        Maximum columns, colour map for grey images, figure title, inches per cell.

    Raises
    ------
    ValueError
        For any other shape, a non-square flattened length, no images, ``ncols < 1``, or a number
        of labels different from N.
    """
    stack = _as_image_stack(images)
    n = stack.shape[0]
    if n == 0:
        raise ValueError("show_images: no images to show")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} images")

    nrows, cols = _grid_shape(n, ncols)
    label_room = 0.25 if labels is not None else 0.0
    title_room = 0.4 if title is not None else 0.0
    fig, axes = plt.subplots(
        nrows, cols, figsize=(size * cols, (size + label_room) * nrows + title_room), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        ax.imshow(stack[k], cmap=cmap if stack.ndim == 3 else None)
        ax.set_axis_off()
        if labels is not None:
            ax.set_title(str(labels[k]), fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------------
# plot_losses
# ----------------------------------------------------------------------------------------------------


def _moving_average(values: ArrayLike, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (only complete windows).

    .. math::

        m_t = \\frac{1}{w} \\sum_{k=t-w+1}^{t} v_k, \\qquad t = w-1, \\dots, n-1

    so the result has n - w + 1 entries; m_t belongs at step t (the end of its window).
    """
    v = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if window > v.size:
        return np.empty(0)
    return np.convolve(v, np.ones(window) / window, mode="valid")


def _as_curves(history: Mapping[str, Sequence[float]] | Sequence[float]) -> dict[str, np.ndarray]:
    """A dict name -> 1-D float array from a dict of sequences or a single sequence (named "")."""
    items = history.items() if isinstance(history, Mapping) else [("", history)]
    curves = {}
    for name, values in items:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"curve {name!r} must be a 1-D sequence of numbers, got shape {arr.shape}")
        curves[str(name)] = arr
    if not curves:
        raise ValueError("plot_losses: the history is empty")
    return curves


def plot_losses(
    history: Mapping[str, Sequence[float]] | Sequence[float],
    *,
    title: str = "Training",
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = False,
    smooth: int = 0,
) -> Figure:
    """Loss (or any metric) curves against the step index 0, 1, ..., n-1.

    With ``smooth = w > 1`` each curve is drawn raw but faded (alpha 0.3), and its trailing moving
    average m_t = (v_{t-w+1} + ... + v_t) / w is drawn over it, at steps w-1, ..., n-1, in the same
    colour; a curve shorter than w is drawn raw only.  So the Axes holds one line per curve, plus
    one per smoothed curve, in the order raw, smoothed, raw, smoothed, ...

    Parameters
    ----------
    history:
        A sequence of numbers, or a dict name -> sequence such as ``{"train": [...], "val": [...]}``
        (the curves may have different lengths).
    title, xlabel, ylabel:
        Labels of the Axes.
    logy:
        Logarithmic y axis.
    smooth:
        Window of the moving average; 0 or 1 means no smoothing.

    Returns
    -------
    Figure
        One Axes; a legend with the curve names when there are several curves.

    Raises
    ------
    ValueError
        For an empty dict, a curve that is not 1-D, or ``smooth < 0``.
    """
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}")
    curves = _as_curves(history)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        steps = np.arange(values.size)
        smoothed = _moving_average(values, smooth) if smooth > 1 else np.empty(0)
        if smoothed.size:
            (raw,) = ax.plot(steps, values, alpha=0.3, label=f"_{name} (raw)")
            ax.plot(steps[smooth - 1 :], smoothed, color=raw.get_color(), label=name)
        else:
            ax.plot(steps, values, label=name)
    if len(curves) > 1:
        ax.legend()
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------------
# plot_decision_boundary
# ----------------------------------------------------------------------------------------------------


def _grid(X: np.ndarray, resolution: int, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """A ``resolution`` x ``resolution`` mesh over [min X_j - padding, max X_j + padding] for j = 0, 1."""
    lo = X.min(axis=0) - padding
    hi = X.max(axis=0) + padding
    return np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))


def _predictions_to_labels(out: ArrayLike, m: int) -> np.ndarray:
    """Class labels from what a ``predict`` function returned for m points.

    * (m,) integers or booleans: the labels themselves;
    * (m, K) scores with K > 1: argmax_k out[i, k];
    * (m,) or (m, 1) floats in [0, 1]: probabilities of class 1, label = [p > 0.5]
      (floats that are all whole numbers are taken as labels).

    Raises ValueError for another shape, or for non-integral floats outside [0, 1] (such as raw
    logits, for which 0.5 would be the wrong threshold).
    """
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] > 1:
        arr = np.argmax(arr, axis=1)
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (m,):
        raise ValueError(
            f"predict returned shape {np.shape(out)} for {m} points; expected ({m},) or ({m}, K)"
        )
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(
            "predict returned floats outside [0, 1] that are not class labels; return labels, "
            "(M, K) scores, or probabilities (e.g. apply a sigmoid to logits)"
        )
    return (arr > 0.5).astype(np.int64)


def _class_cmap(n_classes: int) -> Colormap:
    """A qualitative colour map with one colour per class (tab10, or viridis beyond 10 classes)."""
    if n_classes <= 10:
        return ListedColormap(matplotlib.colormaps["tab10"].colors[: max(n_classes, 1)])
    return matplotlib.colormaps["viridis"].resampled(n_classes)


def plot_decision_boundary(
    predict: Callable[[np.ndarray], ArrayLike],
    X: ArrayLike,
    y: ArrayLike,
    *,
    resolution: int = 200,
    padding: float = 0.5,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Regions of the plane assigned to each class by ``predict``, with the data points on top.

    ``predict`` is called once on the M = resolution^2 points of a regular grid covering
    [min X_j - padding, max X_j + padding] in both coordinates, and its output is turned into labels
    (see ``_predictions_to_labels``: labels, argmax of (M, K) scores, or probabilities > 0.5).
    The classes present in the predictions and in ``y`` are numbered c = 0, 1, ... in sorted order,
    the regions are a filled contour of c with levels c +- 1/2, and the points are coloured by the
    index of their ``y`` in the same colour map, so a region and the points of its class share a
    colour.

    Parameters
    ----------
    predict:
        Maps an (M, 2) float64 array to (M,) labels, (M, K) scores, or (M,) probabilities.
    X, y:
        (N, 2) points and their N labels.
    resolution, padding:
        Grid points per axis, and margin around the data.
    ax:
        Axes to draw into (its Figure is returned); a new 5 x 5 inch figure otherwise.
    title:
        Title of the Axes.

    Raises
    ------
    ValueError
        If X is not (N, 2) with N >= 1, y does not have N entries, resolution < 2, or predict
        returns something of the wrong shape.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (N, 2) with N >= 1, got {X.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} points")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")

    xx, yy = _grid(X, resolution, padding)
    grid_points = np.column_stack([xx.ravel(), yy.ravel()])
    Z = _predictions_to_labels(predict(grid_points), grid_points.shape[0]).reshape(xx.shape)

    classes = np.unique(np.concatenate([np.unique(Z), np.unique(y)]))
    k = classes.size
    cmap = _class_cmap(k)
    z_index = np.searchsorted(classes, Z)
    y_index = np.searchsorted(classes, y)

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    ax.contourf(xx, yy, z_index, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y_index, cmap=cmap, vmin=-0.5, vmax=k - 0.5, edgecolors="k", s=20)
    ax.set_xlim(xx[0, 0], xx[0, -1])
    ax.set_ylim(yy[0, 0], yy[-1, 0])
    if title is not None:
        ax.set_title(title)
    return fig
