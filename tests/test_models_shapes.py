"""Networks built from the data's shape: colour, 32×32 and 64×64, and the paper's 64×64 DCGAN layer by layer."""

import numpy as np
import pytest
from keras import layers

from gen_keras.models.autoencoders import conv_autoencoder
from gen_keras.models.unet import build_unet
from gen_keras.models.gan import dcgan_discriminator, dcgan_generator
from gen_keras.models.vae import build_vae


def _weights(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_dcgan_generator_at_64_is_the_papers_layer_list():
    # Radford et al., Figure 1: a 100-d z projected and reshaped to 4×4×1024, then four 4×4 stride-2
    # transposed convolutions 512, 256, 128 and 3 channels, batch norm on every hidden layer.
    g = dcgan_generator(100, 128, image_shape=(64, 64, 3))
    assert g.output_shape == (None, 64, 64, 3)
    dense, = _weights(g, layers.Dense)
    assert dense.count_params() == 100 * 4 * 4 * 1024  # no bias: batch norm follows
    convs = _weights(g, layers.Conv2DTranspose)
    assert [c.output.shape[1:] for c in convs] == [(8, 8, 512), (16, 16, 256), (32, 32, 128), (64, 64, 3)]
    assert [c.kernel.shape[:2] for c in convs] == [(4, 4)] * 4 and all(c.strides == (2, 2) for c in convs)
    assert [c.count_params() for c in convs] == [4 * 4 * 1024 * 512, 4 * 4 * 512 * 256, 4 * 4 * 256 * 128,
                                                 4 * 4 * 128 * 3 + 3]
    norms = _weights(g, layers.BatchNormalization)
    assert [n.count_params() for n in norms] == [4 * c for c in (1024, 512, 256, 128)]  # γ, β, mean, variance
    assert g.count_params() == 12_662_275


def test_dcgan_discriminator_at_64_mirrors_the_generator():
    d = dcgan_discriminator((64, 64, 3))
    convs = _weights(d, layers.Conv2D)
    assert [c.output.shape[1:] for c in convs] == [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512)]
    assert len(_weights(d, layers.BatchNormalization)) == 3  # none on the input layer
    assert d.output_shape == (None, 1)
    critic = dcgan_discriminator((64, 64, 3), batch_norm=False)
    assert not _weights(critic, layers.BatchNormalization)


def test_dcgan_at_28_is_unchanged_and_other_sizes_are_refused():
    assert dcgan_generator().count_params() == 558_849
    assert dcgan_generator(image_shape=(28, 28, 3)).output_shape == (None, 28, 28, 3)
    with pytest.raises(ValueError, match="4·2\\^k"):
        dcgan_generator(image_shape=(48, 48, 3))


def test_conditional_dcgan_at_32_in_colour():
    g = dcgan_generator(16, 32, num_classes=6, image_shape=(32, 32, 3))
    d = dcgan_discriminator((32, 32, 3), 16, num_classes=6)
    z = np.zeros((2, 16), np.float32)
    label = np.array([0, 5], np.int32)
    images = g([z, label])
    assert images.shape == (2, 32, 32, 3) and d([np.asarray(images), label]).shape == (2, 1)


@pytest.mark.parametrize("variant", ["lecture", "improved"])
@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 3)])
def test_conv_autoencoder_follows_the_shape(variant, shape):
    parts = conv_autoencoder(variant, image_shape=shape)
    x = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    assert parts.autoencoder(x).shape == (2, *shape)
    assert parts.encoder(x).shape == (2, 49) and parts.decoder.output_shape == (None, *shape)


def test_lecture_autoencoder_at_28_keeps_the_lectures_reshape():
    parts = conv_autoencoder("lecture")
    assert not any(layer.name == "code_to_map" for layer in parts.decoder.layers)
    assert any(layer.name == "code_to_map" for layer in conv_autoencoder("lecture", image_shape=(32, 32, 3))
               .decoder.layers)


@pytest.mark.parametrize("likelihood, channels", [("bernoulli", 3), ("gaussian", 6)])
def test_vae_follows_the_shape(likelihood, channels):
    vae = build_vae(8, likelihood, decoder="conv", image_shape=(32, 32, 3))
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    assert vae.encoder(x)[0].shape == (2, 8)
    assert vae.decoder(np.zeros((2, 8), np.float32)).shape == (2, 32, 32, channels)


def test_unet_at_32_in_colour():
    net = build_unet((32, 32, 3), widths=(16, 32, 64))
    x = np.zeros((2, 32, 32, 3), np.float32)
    assert net([x, np.array([0.0, 10.0], np.float32)]).shape == (2, 32, 32, 3)
    attention = [layer for layer in net.layers if isinstance(layer, layers.MultiHeadAttention)]
    assert len(attention) == 1  # at 8×8, the coarsest level
