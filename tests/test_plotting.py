"""Plots: the smoothed curve starts at the first step, heat-maps have whole-number ticks,
projection titles name the method properly, bad input is refused."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lm_course.plotting import (  # noqa: E402
    moving_average,
    plot_curves,
    plot_embedding_2d,
    plot_heatmap,
)


def test_moving_average_is_trailing_and_starts_at_the_first_value():
    values = np.array([4.0, 0.0, 2.0, 8.0, 6.0, 1.0])
    got = moving_average(values, 3)
    want = [4.0, 2.0, 2.0, 10 / 3, 16 / 3, 5.0]
    np.testing.assert_allclose(got, want)
    np.testing.assert_array_equal(moving_average(values, 1), values)
    np.testing.assert_allclose(moving_average(values, 100), np.cumsum(values) / np.arange(1, 7))
    assert values.tolist() == [4.0, 0.0, 2.0, 8.0, 6.0, 1.0]  # input unchanged


@pytest.mark.parametrize("window", [0, -2, 1.5, True, "3"])
def test_moving_average_rejects_bad_windows(window):
    with pytest.raises(ValueError, match=f"window must be an int >= 1, got {window!r}"):
        moving_average([1.0, 2.0], window)


def test_smoothed_curve_covers_every_step():
    fig, ax = plt.subplots()
    ys = np.linspace(5.0, 1.0, 50) + np.sin(np.arange(50))
    plot_curves({"loss": (np.arange(10, 60), ys)}, ax=ax, smooth=20)
    raw, smooth = ax.get_lines()
    assert smooth.get_label() == "loss" and raw.get_label().startswith("_")
    np.testing.assert_array_equal(smooth.get_xdata(), np.arange(10, 60))  # from the first step
    assert smooth.get_ydata()[0] == pytest.approx(ys[0])
    assert smooth.get_ydata()[-1] == pytest.approx(ys[-20:].mean())
    plt.close(fig)


def test_heatmap_ticks_are_whole_positions():
    fig, ax = plt.subplots()
    plot_heatmap(np.eye(3), ax=ax, colorbar=False)
    fig.canvas.draw()
    for ticks in (ax.get_xticks(), ax.get_yticks()):
        inside = [t for t in ticks if -0.5 <= t <= 2.5]
        assert inside and all(float(t).is_integer() for t in inside), ticks
    plt.close(fig)


@pytest.mark.parametrize("method, title", [("pca", "PCA projection"),
                                           ("tsne", "t-SNE projection")])
def test_projection_title_names_the_method(method, title):
    x = np.random.default_rng(0).normal(size=(12, 5))
    ax = plot_embedding_2d(x, [f"w{i}" for i in range(12)], method=method)
    assert ax.get_title() == title
    plt.close(ax.figure)
