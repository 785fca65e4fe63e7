"""Plots of a training run, drawn the way physicists read them (PNG files).

matplotlib is imported lazily (extra ``pgjets[plot]``) with the ``Agg``
backend, so plotting works on headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from .._checks import require


def _pyplot():
    mpl = require("matplotlib", "plot", "plots")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    from .._atomic import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path,
    title: str = "",
    signal_name: str = "signal",
) -> Path:
    r"""Background rejection :math:`1/\varepsilon_B` (log scale) against :math:`\varepsilon_S`.

    Args:
        curves: ``{label: (eps_b, eps_s)}``, e.g. from :func:`pgjets.train.metrics.roc_curve`.
        path: Output PNG path.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, (fpr, tpr) in curves.items():
        fpr = np.asarray(fpr)
        tpr = np.asarray(tpr)
        keep = fpr > 0
        ax.plot(tpr[keep], 1.0 / fpr[keep], label=label)
    ax.plot(np.linspace(0.01, 1, 100), 1 / np.linspace(0.01, 1, 100), "k:", lw=0.8, label="random")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(rf"$\varepsilon_S$ ({signal_name} efficiency)")
    ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_history(history: Sequence[Mapping[str, float]], path, keys: Optional[Sequence[str]] = None) -> Path:
    """Loss (and metric) curves per epoch from a trainer history list."""
    plt = _pyplot()
    if not history:
        raise ValueError("history is empty: nothing to plot")
    keys = keys or [k for k in history[0] if "loss" in k]
    epochs = [h.get("epoch", i) for i, h in enumerate(history)]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k in keys:
        ax.plot(epochs, [h.get(k, np.nan) for h in history], marker="o", label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_confusion_matrix(matrix: np.ndarray, path, class_names: Optional[Sequence[str]] = None) -> Path:
    """Row-normalised confusion matrix (true class per row) with counts annotated."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = m.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(1.2 * k + 2, 1.2 * k + 1.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


__all__ = ["plot_roc", "plot_history", "plot_confusion_matrix"]
