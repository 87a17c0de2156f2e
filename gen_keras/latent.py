"""Latent arithmetic that means something: an attribute direction from labelled codes, applied to codes it was
not computed from, and judged by the instrument.

The lectures' "man with glasses − man + woman": a direction in the latent space that carries one attribute.
With class labels as the attribute, the direction from class A to class T is the difference of the classes'
mean codes, d = mean{z : y = T} − mean{z : y = A}. Added to held-out codes of class A, z′ = z + s·d, it
should turn each image into class T while keeping what is particular to it; the share of the decoded z′
that the instrument's classifier confidently calls T says whether it does (beside the same share before the
shift, the baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from gen_keras.evaluation.classes import CONFIDENCE
from gen_keras.evaluation.classifier import Classifier
from gen_keras.evaluation.predictions import class_probabilities


def attribute_direction(codes: np.ndarray, labels: np.ndarray, source: int, target: int) -> np.ndarray:
    """d = mean code of class `target` − mean code of class `source`.

    Args:
        codes: (N, d) codes (e.g. a VAE's μ(x), or a GAN's z of labelled samples).
        labels: (N,) their classes.
        source: the class A the direction starts from.
        target: the class T it points to.

    Returns:
        float64 (d,) direction.

    Raises:
        ValueError: a class has no code, or the shapes disagree.
    """
    codes, labels = np.asarray(codes, np.float64), np.asarray(labels).ravel()
    if codes.ndim != 2 or len(codes) != len(labels):
        raise ValueError(f"codes (N, d) and labels (N,) must match, got {codes.shape} and {labels.shape}")
    for name, c in (("source", source), ("target", target)):
        if not np.any(labels == c):
            raise ValueError(f"no code of the {name} class {c}: the direction needs labelled codes of both classes")
    return codes[labels == target].mean(axis=0) - codes[labels == source].mean(axis=0)


def confident_share_of(probabilities: np.ndarray, target: int, confidence: float = CONFIDENCE) -> float:
    """The share of all samples the classifier calls `target` with a softmax maximum of at least `confidence`.

    Args:
        probabilities: (N, K) softmax rows.
        target: the class.
        confidence: the least top probability that counts.

    Returns:
        A share in [0, 1]; unrecognisable samples count against it.
    """
    p = np.asarray(probabilities, np.float64)
    return float(np.mean((p.argmax(axis=1) == target) & (p.max(axis=1) >= confidence))) if len(p) else 0.0


class AttributeTransfer(NamedTuple):
    """What `attribute_transfer` measured.

    Args:
        direction: d, (latent_dim,), from the codes of the first part.
        held_out: indices (into the codes) of the source-class codes it was applied to.
        before: the decoded held-out codes, (n, H, W, C).
        after: the decoded shifted codes z + s·d, (n, H, W, C).
        target_share: the share of `after` the classifier confidently calls the target class.
        target_share_before: the same share of `before` (the baseline).
        source_share_after: the share of `after` still confidently called the source class.
    """

    direction: np.ndarray
    held_out: np.ndarray
    before: np.ndarray
    after: np.ndarray
    target_share: float
    target_share_before: float
    source_share_after: float


def attribute_transfer(codes: np.ndarray, labels: np.ndarray, decode: Callable[[np.ndarray], np.ndarray],
                       classifier: Classifier, *, source: int, target: int, strength: float = 1.0,
                       held_out_fraction: float = 0.5, value_range: tuple[float, float] = (0.0, 1.0),
                       confidence: float = CONFIDENCE) -> AttributeTransfer:
    """Computes the source → target direction on the first part of the codes and applies it to the rest of the
    source class's codes, then asks the instrument what the decoded images are.

    Args:
        codes: (N, d) labelled codes, e.g. the test images' μ(x).
        labels: (N,) their classes.
        decode: codes (n, d) float32 → images (n, H, W, C) in `value_range`.
        classifier: the instrument's classifier (`gen_keras.evaluation.load_classifier`).
        source: the class A whose held-out codes are shifted.
        target: the class T the shift points to.
        strength: s in z + s·d.
        held_out_fraction: the last this share of the codes is held out; the direction uses the rest.
        value_range: the decoded images' pixel range.
        confidence: the least softmax maximum a prediction needs to count.

    Returns:
        An `AttributeTransfer`.

    Raises:
        ValueError: no held-out code of the source class, or `held_out_fraction` outside (0, 1).
    """
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must lie in (0, 1), got {held_out_fraction}")
    codes, labels = np.asarray(codes, np.float64), np.asarray(labels).ravel()
    cut = len(codes) - int(round(len(codes) * held_out_fraction))
    direction = attribute_direction(codes[:cut], labels[:cut], source, target)
    held_out = cut + np.flatnonzero(labels[cut:] == source)
    if not len(held_out):
        raise ValueError(f"no held-out code of class {source} to apply the direction to")
    before = np.asarray(decode(codes[held_out].astype(np.float32)))
    after = np.asarray(decode((codes[held_out] + strength * direction).astype(np.float32)))
    p_before = class_probabilities(classifier, before, value_range=value_range)
    p_after = class_probabilities(classifier, after, value_range=value_range)
    return AttributeTransfer(direction, held_out, before, after, confident_share_of(p_after, target, confidence),
                             confident_share_of(p_before, target, confidence),
                             confident_share_of(p_after, source, confidence))
