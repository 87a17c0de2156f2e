"""The image-to-image translation figures (`recipes/pix2pix.py`, `cyclegan.py`, `super_resolution.py`):
rows of inputs, each method's outputs and the targets, and the training curves of the translators."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from gen_keras import plots


def translation_rows(inputs: np.ndarray, outputs: Mapping[str, np.ndarray], targets: np.ndarray | None,
                     path: str | os.PathLike, title: str, *, count: int = 10,
                     input_title: str = "input", target_title: str = "target") -> str:
    """Input / output(s) / target rows for the same `count` held-out images, and saves the PNG.

    Args:
        inputs: (N, h, w, C) inputs in [0, 1] (drawn at their own resolution, each in its own cell).
        outputs: method name → (N, H, W, C) outputs in [0, 1], one row each, in order.
        targets: (N, H, W, C) targets in [0, 1], or None (unpaired data has none).
        path: the PNG to write.
        title: the figure's title.
        count: images per row.
        input_title: the inputs' row title.
        target_title: the targets' row title.

    Returns:
        `path` as a string.
    """
    rows = [np.asarray(inputs[:count]), *(np.asarray(o[:count]) for o in outputs.values())]
    names = [input_title, *outputs]
    if targets is not None:
        rows.append(np.asarray(targets[:count]))
        names.append(target_title)
    return plots.image_rows(rows, names, path, title)


def loss_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], keys: Sequence[str],
                path: str | os.PathLike, title: str) -> str:
    """The per-epoch losses of one or more translators, one line per (translator, key) present.

    Args:
        histories: translator name → its per-epoch history (`training.fit`'s return).
        keys: the history keys to draw, e.g. ("content", "g_adversarial").
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    series = {}
    for name, history in histories.items():
        for key, values in plots.per_epoch(history, keys).items():
            series[f"{name}: {key}"] = values
    return plots.curves(series, path, xlabel="epoch", ylabel="loss (log scale)", title=title, log_y=True)
