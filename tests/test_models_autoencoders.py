"""The lecture's network exactly, and the improved one's contract."""

import numpy as np
import pytest

from gen_keras.models.autoencoders import CODE_DIM, conv_autoencoder

LECTURE_SHAPES = {  # each layer's output shape (batch axis left out), as the lecture's summary prints them
    "encoder": [(28, 28, 1), (26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64), (576,), (49,)],
    "decoder": [(49,), (7, 7, 1), (14, 14, 64), (14, 14, 64), (28, 28, 64), (28, 28, 64), (28, 28, 32),
                (28, 28, 1)],
}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_lecture_network_matches_the_lecture_summary():
    parts = conv_autoencoder("lecture")
    assert parts.autoencoder.count_params() == 140_850
    assert _count(parts.autoencoder.trainable_weights) == 140_594
    assert _count(parts.autoencoder.non_trainable_weights) == 256  # the two batch norms' moving stats
    for model in (parts.encoder, parts.decoder):
        shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
        assert shapes == LECTURE_SHAPES[model.name]
    kinds = [type(layer).__name__ for layer in parts.encoder.layers[1:] + parts.decoder.layers[1:]]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense",
                     "Reshape", "Conv2DTranspose", "BatchNormalization", "Conv2DTranspose",
                     "BatchNormalization", "Conv2DTranspose", "Conv2D"]
    assert parts.encoder.layers[-1].activation.__name__ == "relu"  # the lecture's ReLU code


@pytest.mark.parametrize("variant", ["lecture", "improved"])
def test_parts_compose_and_share_weights(variant):
    parts = conv_autoencoder(variant)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    code = parts.encoder(x)
    assert code.shape == (3, CODE_DIM)
    np.testing.assert_allclose(parts.decoder(code), parts.autoencoder(x), atol=1e-6)


def test_improved_code_is_linear_and_output_in_unit_range():
    parts = conv_autoencoder("improved")
    assert parts.encoder.layers[-1].activation.__name__ == "linear"
    y = np.asarray(parts.decoder(np.random.default_rng(0).normal(size=(4, CODE_DIM)) * 10))
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown autoencoder"):
        conv_autoencoder("huge")
