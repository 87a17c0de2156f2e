"""The GAN lecture's networks: the MLP generator and discriminator of Goodfellow et al., DCGAN's (Radford et al.)
at 28×28 or at any square 4·2^k size (64×64×3: the paper's 4×4×1024 → 64×64×3 with 4×4 kernels, stride 2),
plain or conditional on a class, and a small generator of points for the 2-d mode-collapse pictures.
`models/gan.py` trains them.

Images outside the networks are float32 in [0, 1]; inside they work in [−1, 1] as the papers do: the
generator ends in tanh and a Rescaling to [0, 1], the discriminator starts with a Rescaling to [−1, 1].
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

IMAGE_SHAPE = (28, 28, 1)


def _to_unit_range(x):
    """tanh's [−1, 1] to the [0, 1] every image in gen_keras uses."""
    return layers.Rescaling(0.5, offset=0.5, dtype="float32")(x)


def _from_unit_range(image):
    """[0, 1] images to the [−1, 1] the networks work in."""
    return layers.Rescaling(2.0, offset=-1.0)(image)


def mlp_generator(latent_dim: int = 64, image_shape=IMAGE_SHAPE, units=(256, 512)) -> keras.Model:
    """Goodfellow et al.'s generator: fully connected ReLU layers, a tanh image rescaled to [0, 1] pixels.

    Args:
        latent_dim: the size of z.
        image_shape: (H, W, C) of the images.
        units: the hidden layers' widths.

    Returns:
        A `keras.Model` "generator": `z` (batch, latent_dim) → `image` (batch, H, W, C) float32 in [0, 1].
    """
    z = keras.Input((latent_dim,), name="z")
    x = z
    for n in units:
        x = layers.Dense(n, activation="relu")(x)
    x = layers.Dense(int(np.prod(image_shape)), activation="tanh", dtype="float32")(x)
    image = layers.Reshape(image_shape, name="image", dtype="float32")(_to_unit_range(x))
    return keras.Model(z, image, name="generator")


def mlp_discriminator(image_shape=IMAGE_SHAPE, units=(512, 256)) -> keras.Model:
    """Goodfellow et al.'s discriminator, fully connected LeakyReLU layers (the paper's maxout units replaced).

    Images are rescaled from [0, 1] to [−1, 1] first; one logit, D = σ(logit).

    Args:
        image_shape: (H, W, C) of the images.
        units: the hidden layers' widths.

    Returns:
        A `keras.Model` "discriminator": (batch, H, W, C) in [0, 1] → `logit` (batch, 1) float32.
    """
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten()(_from_unit_range(image))
    for n in units:
        x = layers.LeakyReLU(0.2)(layers.Dense(n)(x))
    logit = layers.Dense(1, name="logit", dtype="float32")(x)
    return keras.Model(image, logit, name="discriminator")


def point_generator(latent_dim: int = 16, output_dim: int = 2, units=(128, 128)) -> keras.Model:
    """A generator of points, not images, for the 2-D pictures of the game (the ring of Gaussians):
    fully connected ReLU layers and a linear output.

    Args:
        latent_dim: the size of z.
        output_dim: the points' dimension.
        units: the hidden layers' widths.

    Returns:
        A `keras.Model` "generator": `z` (batch, latent_dim) → `point` (batch, output_dim) float32.
    """
    z = keras.Input((latent_dim,), name="z")
    x = z
    for n in units:
        x = layers.Dense(n, activation="relu")(x)
    return keras.Model(z, layers.Dense(output_dim, name="point", dtype="float32")(x), name="generator")


def _label_input(num_classes: int):
    """An integer class label and its one-hot code (the cGAN's condition y)."""
    label = keras.Input((), dtype="int32", name="label")
    return label, layers.CategoryEncoding(num_classes, output_mode="one_hot")(label)


def dcgan_levels(image_shape) -> int:
    """How many stride-2 steps lie between a DCGAN's 4×4 feature map and an image of `image_shape`.

    Args:
        image_shape: (H, W, C), square, H = 4·2^k with k ≥ 1 (8, 16, 32, 64, 128, …).

    Returns:
        k, e.g. 4 for 64×64 (4 → 8 → 16 → 32 → 64).

    Raises:
        ValueError: the image is not square or its side is not 4·2^k.
    """
    height, width = image_shape[0], image_shape[1]
    k = int(round(np.log2(max(height, 1) / 4)))
    if height != width or k < 1 or 4 * 2 ** k != height:
        raise ValueError(f"the DCGAN networks take 28x28 images or square ones of side 4·2^k (8, 16, 32, 64, "
                         f"128, …); got {height}x{width}: use --image-size 32 or 64")
    return k


def dcgan_generator(latent_dim: int = 64, filters: int = 128, num_classes: int = 0,
                    image_shape=IMAGE_SHAPE) -> keras.Model:
    """Radford et al.'s DCGAN generator: z projected to a small feature map, stride-2 transposed convolutions up.

    28×28 (the lectures' Fashion-MNIST size): z → Dense → 7×7×filters → ConvT(filters/2, 4, /2) → 14×14 →
    ConvT(C, 4, /2) → 28×28; 558,849 parameters at the defaults. Side 4·2^k (the paper's layout, e.g. 64):
    z → Dense → 4×4×(filters·2^(k−1)) → k − 1 transposed convolutions (4×4, stride 2), each halving the
    channels down to `filters` → ConvT(C, 4, /2); at 64×64×3 with filters 128 that is the paper's
    4×4×1024 → 8×8×512 → 16×16×256 → 32×32×128 → 64×64×3. Batch norm and ReLU between, tanh at the end
    (no batch norm on the output), rescaled to [0, 1]. With `num_classes`, a conditional generator
    G(z, y): the one-hot label y is joined to z.

    Args:
        latent_dim: the size of z.
        filters: channels of the 7×7 layer at 28×28 (halved at 14×14); of the last hidden layer otherwise.
        num_classes: > 0 for a conditional generator with a `label` input; 0 for none.
        image_shape: (H, W, C) of the images: (28, 28, C) or square of side 4·2^k.

    Returns:
        A `keras.Model` "generator": `z` (batch, latent_dim) [and `label` (batch,) int32] → `image`
        (batch, H, W, C) float32 in [0, 1].

    Raises:
        ValueError: an image shape neither 28×28 nor square of side 4·2^k.
    """
    channels = image_shape[-1]
    if tuple(image_shape[:2]) == (28, 28):
        start, widths = 7, [filters, filters // 2]
    else:
        k = dcgan_levels(image_shape)
        start, widths = 4, [filters * 2 ** (k - 1 - i) for i in range(k)]
    z = keras.Input((latent_dim,), name="z")
    inputs, x = [z], z
    if num_classes:
        label, one_hot = _label_input(num_classes)
        inputs, x = [z, label], layers.Concatenate()([z, one_hot])
    x = layers.Dense(start * start * widths[0], use_bias=False)(x)
    if start == 7:  # the lectures' 28×28 network: batch norm per unit of the projection, then the reshape
        x = layers.Reshape((start, start, widths[0]))(layers.ReLU()(layers.BatchNormalization()(x)))
    else:  # the paper's: the projection reshaped to 4×4×channels, then batch norm per channel
        x = layers.ReLU()(layers.BatchNormalization()(layers.Reshape((start, start, widths[0]))(x)))
    for width in widths[1:]:
        x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", dtype="float32")(x)
    image = layers.Identity(name="image", dtype="float32")(_to_unit_range(x))
    return keras.Model(inputs if num_classes else z, image, name="generator")


def dcgan_discriminator(image_shape=IMAGE_SHAPE, filters: int = 64, batch_norm: bool = True,
                        num_classes: int = 0) -> keras.Model:
    """Radford et al.'s DCGAN discriminator: stride-2 convolutions (no pooling), LeakyReLU(0.2), one logit.

    Conv2D(filters, 4, stride 2) → LeakyReLU → Conv2D(2·filters, 4, stride 2) → batch norm → LeakyReLU →
    Dense(1): 28×28 → 14×14 → 7×7; no batch norm on the input layer. At side 4·2^k the generator mirrored:
    k convolutions doubling the channels from `filters` down to 4×4 (64×64: 64, 128, 256, 512 channels at
    32, 16, 8, 4 pixels), then Dense(1). With `num_classes`, a conditional D(x, y): the one-hot label
    joins the image as constant channels.

    Args:
        image_shape: (H, W, C) of the images: (28, 28, C) or square of side 4·2^k.
        filters: channels of the first convolution.
        batch_norm: False for a WGAN-GP critic (the penalty is per example).
        num_classes: > 0 for a conditional discriminator with a `label` input; 0 for none.

    Returns:
        A `keras.Model` "discriminator": `image` (batch, H, W, C) in [0, 1] [and `label` (batch,) int32] →
        `logit` (batch, 1) float32.
    """
    image = keras.Input(image_shape, name="image")
    x = _from_unit_range(image)
    if num_classes:
        label, one_hot = _label_input(num_classes)
        maps = layers.UpSampling2D(image_shape[:2])(layers.Reshape((1, 1, num_classes))(one_hot))
        x = layers.Concatenate()([x, maps])
    levels = 2 if tuple(image_shape[:2]) == (28, 28) else dcgan_levels(image_shape)
    x = layers.Conv2D(filters, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    for level in range(1, levels):
        x = layers.Conv2D(filters * 2 ** level, 4, strides=2, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    logit = layers.Dense(1, name="logit", dtype="float32")(layers.Flatten()(x))
    return keras.Model([image, label] if num_classes else image, logit, name="discriminator")
