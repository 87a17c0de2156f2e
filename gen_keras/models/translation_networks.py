"""Image-to-image translation's networks for 28×28 images.

`unet_generator` (Pix2Pix's encoder–decoder with skips, dropout as its noise), `patch_discriminator` (a
logit per patch) and `receptive_field` (the patch it sees), `resnet_generator` (CycleGAN's residual
translator), `super_resolution_generator` (residual blocks over bicubic upsampling) and the bicubic
baseline `bicubic_upsampler`. Images are float32 in [0, 1] outside the networks, like every image in
gen_keras; the networks work in [−1, 1] inside.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from gen_keras.models.translation_tasks import IMAGE_SHAPE


def bicubic_upsampler(scale: int, low_shape=(7, 7, 1)) -> keras.Model:
    """The baseline: bicubic interpolation to `scale` times the size, clipped to [0, 1].

    Args:
        scale: the factor.
        low_shape: (h, w, C) of the inputs.

    Returns:
        A `keras.Model` "bicubic": (batch, h, w, C) → (batch, scale·h, scale·w, C).
    """
    image = keras.Input(low_shape, name="image")
    up = layers.UpSampling2D(scale, interpolation="bicubic")(image)
    return keras.Model(image, layers.ReLU(max_value=1.0, name="upsampled")(up), name="bicubic")


def _from_unit_range(image):
    return layers.Rescaling(2.0, offset=-1.0)(image)


def _to_unit_range(x, name: str):
    return layers.Rescaling(0.5, offset=0.5, dtype="float32", name=name)(x)


def unet_generator(input_shape=IMAGE_SHAPE, filters: int = 32, dropout: float = 0.5, skips: bool = True,
                   output_channels: int = 1) -> keras.Model:
    """Pix2Pix's U-Net for 28×28: an encoder–decoder whose mirrored layers are joined by skip connections.

    28×28 (Conv 4×4, stride 1) → 14×14 (stride 2) → 7×7 (stride 2) → the 7×7 bottleneck → 14×14 ⊕ skip →
    28×28 ⊕ skip → the image; LeakyReLU(0.2) down, ReLU up, batch norm except on the first layer, dropout
    on the bottleneck and the first up layer as the generator's noise (Pix2Pix has no z; the paper keeps
    dropout at test time, here it is on in training only, so a served translation is deterministic).

    Args:
        input_shape: (28, 28, C) of the inputs.
        filters: channels of the first layer (doubled at 14×14 and 7×7).
        dropout: the dropout rate.
        skips: False for the plain encoder–decoder (the paper's ablation).
        output_channels: channels of the output image.

    Returns:
        A `keras.Model` "unet": `image` (batch, 28, 28, C) in [0, 1] → (batch, 28, 28, output_channels) in [0, 1].
    """
    image = keras.Input(input_shape, name="image")
    x = _from_unit_range(image)
    e1 = layers.LeakyReLU(0.2, name="down_28")(layers.Conv2D(filters, 4, padding="same")(x))
    x = layers.Conv2D(2 * filters, 4, strides=2, padding="same", use_bias=False, name="down_conv_14")(e1)
    e2 = layers.LeakyReLU(0.2, name="down_14")(layers.BatchNormalization()(x))
    x = layers.Conv2D(4 * filters, 4, strides=2, padding="same", use_bias=False)(e2)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    x = layers.Conv2D(4 * filters, 3, padding="same", use_bias=False)(x)
    x = layers.Dropout(dropout)(layers.ReLU()(layers.BatchNormalization()(x)))
    x = layers.Conv2DTranspose(2 * filters, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.Dropout(dropout)(layers.ReLU()(layers.BatchNormalization()(x)))
    if skips:
        x = layers.Concatenate(name="skip_14")([x, e2])
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    if skips:
        x = layers.Concatenate(name="skip_28")([x, e1])
    x = layers.Conv2D(output_channels, 3, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(image, _to_unit_range(x, "translated"), name="unet" if skips else "encoder_decoder")


def patch_discriminator(image_shape=IMAGE_SHAPE, filters: int = 64, conditional: bool = True,
                        batch_norm: bool = True, downsamplings: int = 1) -> keras.Model:
    """A PatchGAN for 28×28: one real/fake logit per 12×12 patch, on a 14×14 grid with stride 2.

    Conv(4×4, stride 2) → LeakyReLU → Conv(3×3) → batch norm → LeakyReLU → Conv(3×3) → logits, receptive
    field 4 + 2·2 + 2·2 = 12 pixels (Pix2Pix's 70×70 on 256×256 covers a quarter of the width; 12 of 28 is
    under half). Conditional (Pix2Pix): it sees the input and the output side by side, D(x, y). With
    `downsamplings=2` a second Conv(4×4, stride 2) with twice the channels comes first: a logit per 26×26
    patch on a 7×7 grid, nearly the whole image (a judge of outlines, not only of texture).

    Args:
        image_shape: (28, 28, C).
        filters: channels of the first layer.
        conditional: two inputs, `source` and `image`, joined along the channels; else `image` only.
        batch_norm: False for per-example losses that must not mix examples.
        downsamplings: stride-2 convolutions, 1 or 2.

    Returns:
        A `keras.Model` "patch_discriminator": [`source`,] `image` → `patch_logits` (batch, 28 / 2^downsamplings,
        28 / 2^downsamplings, 1) float32.

    Raises:
        ValueError: `downsamplings` is not 1 or 2.
    """
    if downsamplings not in (1, 2):
        raise ValueError(f"downsamplings must be 1 or 2, got {downsamplings}")
    image = keras.Input(image_shape, name="image")
    inputs = [image]
    x = _from_unit_range(image)
    if conditional:
        source = keras.Input(image_shape, name="source")
        inputs = [source, image]
        x = layers.Concatenate()([_from_unit_range(source), x])
    x = layers.LeakyReLU(0.2)(layers.Conv2D(filters, 4, strides=2, padding="same")(x))
    if downsamplings == 2:
        x = layers.LeakyReLU(0.2)(layers.Conv2D(2 * filters, 4, strides=2, padding="same")(x))
    x = layers.Conv2D(2 * filters, 3, padding="same", use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="patch_logits")(x)
    return keras.Model(inputs if conditional else image, logits, name="patch_discriminator")


def receptive_field(model: keras.Model) -> int:
    """The side of the input square one output unit sees, from the model's chain of convolutions and pools.

    Formula: r ← r + (k − 1)·j, j ← j·s over the layers in order (r = j = 1 at the input).

    Args:
        model: a functional model whose spatial layers form one chain (e.g. `patch_discriminator`).

    Returns:
        r in pixels.
    """
    r, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D, layers.AveragePooling2D)):
            kernel = layer.kernel_size if hasattr(layer, "kernel_size") else layer.pool_size
            r += (kernel[0] - 1) * jump
            jump *= layer.strides[0]
    return r


def _residual_block(x, filters: int, normalization):
    """x + Conv(norm(ReLU(norm(Conv(x))))): a block that starts as nearly the identity."""
    y = layers.Conv2D(filters, 3, padding="same")(x)
    y = layers.ReLU()(normalization()(y))
    y = normalization()(layers.Conv2D(filters, 3, padding="same")(y))
    return layers.Add()([x, y])


def resnet_generator(image_shape=IMAGE_SHAPE, filters: int = 32, blocks: int = 3, name: str = "generator"
                     ) -> keras.Model:
    """CycleGAN's translator, scaled to 28×28: Conv 7×7 → down to 14×14 → residual blocks → up to 28×28
    (a nearest-neighbour resize and a convolution, where the paper's transposed convolution leaves checkerboards).

    Instance normalisation (a `GroupNormalization` with one group per channel) as in the paper.

    Args:
        image_shape: (28, 28, C).
        filters: channels at 28×28 (doubled at 14×14).
        blocks: residual blocks at 14×14.
        name: the model's name ("G" or "F").

    Returns:
        A `keras.Model`: `image` (batch, 28, 28, C) in [0, 1] → (batch, 28, 28, C) in [0, 1].
    """
    def norm(channels):
        return lambda: layers.GroupNormalization(groups=channels, epsilon=1e-5)

    image = keras.Input(image_shape, name="image")
    x = _from_unit_range(image)
    x = layers.ReLU()(norm(filters)()(layers.Conv2D(filters, 7, padding="same")(x)))
    x = layers.Conv2D(2 * filters, 3, strides=2, padding="same")(x)
    x = layers.ReLU()(norm(2 * filters)()(x))
    for _ in range(blocks):
        x = _residual_block(x, 2 * filters, norm(2 * filters))
    x = layers.Conv2D(filters, 3, padding="same")(layers.UpSampling2D(2)(x))  # resize, then convolve: no checkerboard
    x = layers.ReLU()(norm(filters)()(x))
    x = layers.Conv2D(image_shape[-1], 7, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(image, _to_unit_range(x, "translated"), name=name)


def super_resolution_generator(scale: int = 4, filters: int = 64, blocks: int = 4, channels: int = 1,
                               high_size: int = 28) -> keras.Model:
    """SRGAN's generator, scaled down: residual blocks at the low resolution, ×2 resize-convolutions up, and
    the result added to the bicubic upsampling (the network learns what bicubic misses).

    Args:
        scale: 2 or 4 (a power of 2).
        filters: channels of every convolution.
        blocks: residual blocks at the low resolution.
        channels: image channels.
        high_size: the output's side (the input's is high_size / scale).

    Returns:
        A `keras.Model` "super_resolution": `image` (batch, high_size/scale, high_size/scale, C) in [0, 1] →
        (batch, high_size, high_size, C) in [0, 1].

    Raises:
        ValueError: `scale` is not a power of 2 dividing `high_size`.
    """
    steps = int(round(math.log2(scale))) if scale >= 2 else 0
    if scale < 2 or 2 ** steps != scale or high_size % scale:
        raise ValueError(f"scale must be a power of 2 (2, 4, …) dividing {high_size}, got {scale}")
    image = keras.Input((high_size // scale, high_size // scale, channels), name="image")
    upsampled = layers.UpSampling2D(scale, interpolation="bicubic")(image)
    x = layers.Conv2D(filters, 3, padding="same")(_from_unit_range(image))
    x = start = layers.PReLU(shared_axes=[1, 2])(x)
    for _ in range(blocks):
        x = _residual_block(x, filters, layers.BatchNormalization)
    x = layers.Add()([start, layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(x))])
    for _ in range(steps):  # resize, then convolve: no checkerboard
        x = layers.UpSampling2D(2)(x)
        x = layers.PReLU(shared_axes=[1, 2])(layers.Conv2D(filters, 3, padding="same")(x))
    residual = layers.Conv2D(channels, 3, padding="same", dtype="float32")(x)
    out = layers.Add()([upsampled, layers.Rescaling(0.5)(residual)])  # [−1, 1] residual in pixel units
    return keras.Model(image, layers.ReLU(max_value=1.0, dtype="float32", name="high_resolution")(out),
                       name="super_resolution")
