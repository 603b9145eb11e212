"""Plots shared by the chapters: training curves, heat-maps, 2-D maps of vectors.

Every function draws on ``ax`` (a new figure if None) and returns the Axes, so a notebook
can put several plots side by side with ``plt.subplots``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values, over fewer at the start (same length).

    >>> moving_average([1.0, 3.0, 5.0, 7.0], 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    v = _to_numpy(values)
    sums = np.cumsum(np.concatenate([[0.0], v]))
    counts = np.minimum(np.arange(1, len(v) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(v) + 1) - counts]) / counts


def plot_curves(curves: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
                xlabel: str = "step", ylabel: str = "loss", title: str | None = None,
                ax=None, logy: bool = False, smooth: int = 1):
    """One line per entry of ``curves``: values (x = 0, 1, ...) or an ``(xs, ys)`` pair.

    ``smooth > 1`` draws a trailing moving average of up to that many points over a faint
    raw line; the first points average what exists so far, so the curve starts at the first
    step instead of ``smooth - 1`` steps late.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict of name -> values or (xs, ys)")
    ax = _axes(ax)
    for name, c in curves.items():
        if isinstance(c, tuple) and len(c) == 2:
            xs, ys = _to_numpy(c[0]), _to_numpy(c[1])
        else:
            ys = _to_numpy(c)
            xs = np.arange(len(ys))
        if smooth > 1 and len(ys) > 1:
            (line,) = ax.plot(xs, ys, alpha=0.25)
            ax.plot(xs, moving_average(ys, smooth), label=name, color=line.get_color())
        else:
            ax.plot(xs, ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_heatmap(matrix, xlabels: Sequence[str] | None = None,
                 ylabels: Sequence[str] | None = None, title: str | None = None, ax=None,
                 cmap: str = "viridis", colorbar: bool = True, annotate: bool = False,
                 fmt: str = "{:.2f}"):
    """A matrix as an image (attention weights, co-occurrence counts, confusion matrices).

    Rows are ``ylabels`` (e.g. queries), columns ``xlabels`` (e.g. keys).
    """
    m = _to_numpy(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    ax = _axes(ax, figsize=(max(4, 0.35 * m.shape[1] + 2), max(3, 0.35 * m.shape[0] + 1.5)))
    im = ax.imshow(m, cmap=cmap, aspect="auto")
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), labels=list(xlabels), rotation=90)
    else:  # rows and columns are whole positions: no 0.5 ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), labels=list(ylabels))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if annotate:
        mid = (np.nanmax(m) + np.nanmin(m)) / 2
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < mid else "black")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE"}


def plot_embedding_2d(vectors, labels: Sequence[str], groups: Sequence[str] | None = None,
                      method: str = "pca", ax=None, seed: int = 0):
    """Project vectors to 2-D (PCA, or t-SNE via scikit-learn) and label each point.

    ``groups`` colours points by a category (e.g. "countries", "numbers").
    """
    x = _to_numpy(vectors)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"vectors must be (n, d) with n = len(labels) = {len(labels)}, "
                         f"got shape {x.shape}")
    if method == "pca":
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, perplexity=min(30, max(2, len(x) // 3)), random_state=seed,
                  init="pca").fit_transform(x)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    ax = _axes(ax, figsize=(7, 6))
    if groups is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=15)
    else:
        for g in dict.fromkeys(groups):
            sel = np.array([gg == g for gg in groups])
            ax.scatter(xy[sel, 0], xy[sel, 1], s=15, label=str(g))
        ax.legend(fontsize=8)
    for (px, py), label in zip(xy, labels, strict=True):
        ax.annotate(label, (px, py), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"{_METHOD_NAMES[method]} projection")
    return ax
