"""What the instrument's classifier sees in images: its 128 features, class probabilities, predicted classes.

Images go in as float NHWC arrays whose pixel range the caller states with `value_range`: (0, 1) for data and
sigmoid outputs, (-1, 1) for tanh.
"""

from __future__ import annotations

import keras
import numpy as np

from gen_keras import inference
from gen_keras.evaluation.classifier import FEATURES_LAYER, Classifier
from gen_keras.inference import to_unit_range


def feature_extractor(classifier: Classifier) -> keras.Model:
    """A model sharing the classifier's layers that outputs its 128 features.

    Args:
        classifier: the instrument's classifier.

    Returns:
        A `keras.Model`: (batch, H, W, C) float32 in [0, 1] → (batch, 128), the Dense(128, relu) layer's output.
    """
    model = classifier.model
    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output, name="classifier_features")


def features(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
             batch_size: int = 500) -> np.ndarray:
    """The classifier's 128 features of each image (inference mode).

    Args:
        classifier: the instrument's classifier.
        images: (N, H, W, C) with pixels in `value_range`, e.g. (N, 28, 28, 1).
        value_range: the images' pixel range (see `gen_keras.inference.to_unit_range`).
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of float32, (N, 128).

    Raises:
        ValueError: pixels outside the stated range.
    """
    return inference.predict_in_batches(feature_extractor(classifier), to_unit_range(images, value_range),
                                        batch_size)


def class_probabilities(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                        batch_size: int = 500) -> np.ndarray:
    """The classifier's softmax over the classes for each image.

    Args:
        classifier: the instrument's classifier.
        images: (N, H, W, C) with pixels in `value_range`.
        value_range: the images' pixel range.
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of float64, (N, num_classes), rows summing to 1.

    Raises:
        ValueError: pixels outside the stated range.
    """
    return softmax(inference.predict_in_batches(classifier.model, to_unit_range(images, value_range), batch_size))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax of each row of logits, in float64 (the largest logit subtracted first).

    Args:
        logits: (N, K).

    Returns:
        (N, K) probabilities, rows summing to 1.
    """
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict_classes(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                    batch_size: int = 500) -> np.ndarray:
    """The most likely class of each image: the argmax of `class_probabilities`, which takes the same arguments.

    Returns:
        `np.ndarray` of int64, (N,).
    """
    probabilities = class_probabilities(classifier, images, value_range=value_range, batch_size=batch_size)
    return np.argmax(probabilities, axis=-1).astype(np.int64)
