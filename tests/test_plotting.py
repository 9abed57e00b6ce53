"""Tests of dlfs.plotting: what the figures contain, not only that they are drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dlfs.plotting import plot_decision_boundary, plot_losses, show_images  # noqa: E402

pytestmark = pytest.mark.library


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    """Fail if any function calls plt.show()."""

    def forbidden(*args, **kwargs):
        raise AssertionError("plt.show() must not be called by the library")

    monkeypatch.setattr(plt, "show", forbidden)


def visible_axes(fig: Figure) -> list[plt.Axes]:
    return [ax for ax in fig.axes if ax.get_visible()]


# ----------------------------------------------------------------------------------------------------
# show_images
# ----------------------------------------------------------------------------------------------------


def test_show_images_grid_titles_and_hidden_cells():
    rng = np.random.default_rng(0)
    images = rng.random((10, 5, 7))
    fig = show_images(images, labels=list(range(10)), ncols=4, title="digits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    shown = visible_axes(fig)
    assert len(shown) == 10
    assert [ax.get_title() for ax in shown] == [str(i) for i in range(10)]
    assert all(not ax.axison for ax in shown)  # ticks and frame off
    # each visible cell shows its own image, in order, unchanged
    for k, ax in enumerate(shown):
        (im,) = ax.get_images()
        np.testing.assert_array_equal(im.get_array(), images[k])
    assert fig.get_suptitle() == "digits"


def test_show_images_reshapes_flattened_square_images():
    flat = np.arange(3 * 16, dtype=float).reshape(3, 16)
    fig = show_images(flat)
    shown = visible_axes(fig)
    assert len(shown) == 3 and len(fig.axes) == 3  # fewer images than ncols: one row of 3
    for k, ax in enumerate(shown):
        data = ax.get_images()[0].get_array()
        assert data.shape == (4, 4)
        np.testing.assert_array_equal(data, flat[k].reshape(4, 4))
        assert ax.get_title() == ""


def test_show_images_rgb_and_cmap():
    rgb = np.random.default_rng(1).random((2, 3, 3, 3))
    fig = show_images(rgb, ncols=8)
    assert [ax.get_images()[0].get_array().shape for ax in visible_axes(fig)] == [(3, 3, 3)] * 2
    fig2 = show_images(np.zeros((2, 3, 3)), cmap="viridis")
    assert visible_axes(fig2)[0].get_images()[0].get_cmap().name == "viridis"


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((3, 15)), {}, "square"),  # 15 is not a perfect square
        (np.zeros((2, 4, 4, 2)), {}, "shape"),
        (np.zeros(16), {}, "shape"),
        (np.zeros((0, 4, 4)), {}, "no images"),
        (np.zeros((3, 4, 4)), {"labels": [1, 2]}, "labels"),
        (np.zeros((3, 4, 4)), {"ncols": 0}, "ncols"),
    ],
)
def test_show_images_errors(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_images(images, **kwargs)


# ----------------------------------------------------------------------------------------------------
# plot_losses
# ----------------------------------------------------------------------------------------------------


def test_plot_losses_single_sequence():
    losses = [3.0, 2.0, 1.5, 1.2]
    fig = plot_losses(losses, title="T", xlabel="epoch", ylabel="L")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), losses)
    assert ax.get_legend() is None
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "epoch", "L")
    assert ax.get_yscale() == "linear"


def test_plot_losses_dict_has_legend_and_logy():
    history = {"train": np.linspace(2, 1, 20), "val": np.linspace(2.5, 1.5, 5)}
    fig = plot_losses(history, logy=True)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [len(line.get_ydata()) for line in lines] == [20, 5]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    assert ax.get_yscale() == "log"


def test_plot_losses_smoothing_adds_moving_average_line():
    rng = np.random.default_rng(2)
    train = 1 / np.arange(1, 31) + 0.1 * rng.random(30)
    val = np.array([1.0, 0.8, 0.7])  # shorter than the window: drawn raw only
    fig = plot_losses({"train": train, "val": val}, smooth=5)
    ax = fig.axes[0]
    raw, smoothed, val_line = ax.get_lines()
    assert len(raw.get_ydata()) == 30 and raw.get_alpha() == pytest.approx(0.3)
    assert len(smoothed.get_ydata()) == 30 - 5 + 1
    np.testing.assert_array_equal(smoothed.get_xdata(), np.arange(4, 30))
    expected = [train[t - 4 : t + 1].mean() for t in range(4, 30)]
    np.testing.assert_allclose(smoothed.get_ydata(), expected, rtol=1e-12)
    assert smoothed.get_color() == raw.get_color()
    assert len(val_line.get_ydata()) == 3 and val_line.get_alpha() is None
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]


@pytest.mark.parametrize("smooth", [0, 1])
def test_plot_losses_no_smoothing_for_window_0_or_1(smooth):
    fig = plot_losses([1.0, 2.0, 3.0], smooth=smooth)
    assert len(fig.axes[0].get_lines()) == 1


def test_plot_losses_errors():
    with pytest.raises(ValueError):
        plot_losses({})
    with pytest.raises(ValueError):
        plot_losses([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError):
        plot_losses([1.0, 2.0], smooth=-1)


# ----------------------------------------------------------------------------------------------------
# plot_decision_boundary
# ----------------------------------------------------------------------------------------------------


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 2))
    return X, (X[:, 0] > 0).astype(int)


def filled_regions(fig: Figure) -> ContourSet:
    (cs,) = [c for c in fig.axes[0].collections if isinstance(c, ContourSet)]
    return cs


def x_extent_of_each_class(cs: ContourSet) -> list[tuple[float, float]]:
    """(min x, max x) of the filled region of each class, in class order."""
    return [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in cs.get_paths()]


@pytest.mark.parametrize(
    "predict",
    [
        lambda P: P[:, 0] > 0,  # booleans
        lambda P: (P[:, 0] > 0).astype(int),  # integer labels
        lambda P: np.column_stack([-P[:, 0], P[:, 0]]),  # (M, 2) scores -> argmax
        lambda P: 1 / (1 + np.exp(-10 * P[:, 0])),  # (M,) probabilities -> > 0.5
        lambda P: (1 / (1 + np.exp(-10 * P[:, 0])))[:, None],  # (M, 1) probabilities
    ],
    ids=["bool", "int", "scores", "probabilities", "probabilities_column"],
)
def test_decision_boundary_matches_linear_rule(predict):
    X, y = blobs()
    resolution = 60
    fig = plot_decision_boundary(predict, X, y, resolution=resolution, padding=0.5, title="x0 > 0")
    ax = fig.axes[0]
    assert ax.get_title() == "x0 > 0"
    cs = filled_regions(fig)
    np.testing.assert_array_equal(cs.levels, [-0.5, 0.5, 1.5])  # one band per class
    (left_lo, left_hi), (right_lo, right_hi) = x_extent_of_each_class(cs)
    lo, hi = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
    spacing = (hi - lo) / (resolution - 1)
    # class 0 fills the left half up to the line x0 = 0, class 1 the right half from it
    assert left_lo == pytest.approx(lo) and right_hi == pytest.approx(hi)
    assert abs(left_hi) < spacing and abs(right_lo) < spacing
    # the grid covers the data with the padding
    assert ax.get_xlim() == pytest.approx((lo, hi))
    assert ax.get_ylim() == pytest.approx((X[:, 1].min() - 0.5, X[:, 1].max() + 0.5))


def test_decision_boundary_grid_and_points():
    X, y = blobs(1)
    seen = []

    def predict(P):
        seen.append(P.copy())
        return (P[:, 0] > 0).astype(int)

    fig = plot_decision_boundary(predict, X, y, resolution=30, padding=1.0)
    (P,) = seen  # predict is called once, on the whole grid
    assert P.shape == (30 * 30, 2)
    np.testing.assert_allclose(P.min(axis=0), X.min(axis=0) - 1)
    np.testing.assert_allclose(P.max(axis=0), X.max(axis=0) + 1)
    # the scattered points are X, coloured by class index with the colour map of the regions
    ax = fig.axes[0]
    (points,) = [c for c in ax.collections if not isinstance(c, ContourSet)]
    np.testing.assert_array_equal(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), y)
    assert points.get_cmap().colors == filled_regions(fig).get_cmap().colors


def test_decision_boundary_three_classes_with_arbitrary_labels():
    X, _ = blobs(2)
    y = np.where(X[:, 0] < -0.5, -1, np.where(X[:, 0] < 0.5, 3, 7))

    def predict(P):
        return np.where(P[:, 0] < -0.5, -1, np.where(P[:, 0] < 0.5, 3, 7))

    cs = filled_regions(plot_decision_boundary(predict, X, y, resolution=80))
    np.testing.assert_array_equal(cs.levels, [-0.5, 0.5, 1.5, 2.5])
    (_, hi0), (lo1, hi1), (lo2, _) = x_extent_of_each_class(cs)
    spacing = (X[:, 0].max() - X[:, 0].min() + 1) / 79
    assert abs(hi0 + 0.5) < spacing and abs(lo1 + 0.5) < spacing
    assert abs(hi1 - 0.5) < spacing and abs(lo2 - 0.5) < spacing


def test_decision_boundary_draws_into_given_axes():
    X, y = blobs()
    fig, (ax1, ax2) = plt.subplots(1, 2)
    out = plot_decision_boundary(lambda P: P[:, 0] > 0, X, y, ax=ax2, resolution=20)
    assert out is fig
    assert not ax1.collections and len(ax2.collections) == 2


@pytest.mark.parametrize(
    "X, y, predict, match",
    [
        (np.zeros((5, 3)), np.zeros(5), lambda P: P[:, 0] > 0, r"\(N, 2\)"),
        (np.zeros(10), np.zeros(5), lambda P: P[:, 0] > 0, r"\(N, 2\)"),
        (np.zeros((0, 2)), np.zeros(0), lambda P: P[:, 0] > 0, r"\(N, 2\)"),
        (np.zeros((5, 2)), np.zeros(4), lambda P: P[:, 0] > 0, "entries"),
        (np.zeros((5, 2)), np.zeros(5), lambda P: P[:10, 0] > 0, "shape"),
        (np.zeros((5, 2)), np.zeros(5), lambda P: 3.7 * P[:, 0] + 0.1, "probabilities"),  # logits
    ],
)
def test_decision_boundary_errors(X, y, predict, match):
    with pytest.raises(ValueError, match=match):
        plot_decision_boundary(predict, X, y, resolution=10)
