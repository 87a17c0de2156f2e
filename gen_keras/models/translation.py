"""Image-to-image translation: Pix2Pix, CycleGAN and super-resolution as Keras models whose `train_step`
plays their game.

- `ImageTranslator`: a paired translator G: x → y trained on target images y whose inputs x are made from
  them by a fixed layer (`SobelEdges` for edges → garment, `AveragePooling2D` for low-res → high-res).
  Its generator loss is content + adversarial: Pix2Pix (Isola et al. 2017) is L1 with weight λ = 100 plus
  the conditional GAN on (x, y) pairs judged by a PatchGAN; SRGAN (Ledig et al. 2017) is a pixel MSE plus
  a small adversarial weight on y alone; adversarial weight 0 is the same network trained on the content
  loss alone (the papers' baselines).
- `CycleGAN` (Zhu et al. 2017): G: X → Y and F: Y → X, two least-squares discriminators, the cycle loss
  and the identity loss, on unpaired images.

Networks for 28×28 images: `unet_generator` (encoder–decoder with skips, dropout as its noise),
`patch_discriminator` (a logit per patch), `resnet_generator` (CycleGAN's residual translator),
`super_resolution_generator` (residual blocks over bicubic upsampling). Images are float32 in [0, 1]
outside the networks, like every image in gen_keras; the networks work in [−1, 1] inside.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gen_keras.models.gan import SERIALIZATION_PACKAGE, global_batch_mean
from gen_keras.models.saving import serialized_parts, with_deserialized_parts

IMAGE_SHAPE = (28, 28, 1)


# --- checks and the paired tasks' inputs ----------------------------------------------------------------

def check_images(images, shape=IMAGE_SHAPE, name: str = "images") -> np.ndarray:
    """The images as float32, after checking their shape and pixel range.

    Args:
        images: an array (N, H, W, C) with pixels in [0, 1].
        shape: the expected (H, W, C).
        name: what the images are, for the message.

    Returns:
        `np.ndarray` float32 (N, H, W, C).

    Raises:
        ValueError: another shape, pixels outside [0, 1] (e.g. bytes 0 … 255 or tanh's [−1, 1]), or NaN.
    """
    x = np.asarray(images, np.float32)
    expected = "(batch, " + ", ".join(str(d) for d in shape) + ")"
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must be {expected} arrays, got shape {tuple(x.shape)}")
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} hold NaN or infinite pixels")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(f"{name} must have pixels in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; "
                         "divide bytes by 255, map tanh outputs with (x + 1) / 2")
    return x


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SobelEdges(keras.layers.Layer):
    """The edges of an image, as Pix2Pix's edges → shoes task draws them: the Sobel gradient's magnitude.

    Formula: e = min(1, √(g_x² + g_y²) / scale), g_x, g_y the 3×3 Sobel responses (edges padded by reflection).

    Args:
        scale: the gradient magnitude drawn white (1); the Sobel response of a 0 → 1 step is 4.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, scale: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, images):
        gradients = tf.image.sobel_edges(tf.cast(images, tf.float32))  # (batch, H, W, C, [g_y, g_x])
        magnitude = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=-1) + 1e-12)
        return tf.minimum(magnitude / self.scale, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def low_resolution(scale: int) -> keras.layers.Layer:
    """The low-resolution image of a high-resolution one: the mean of each scale × scale block.

    Args:
        scale: the factor, e.g. 4 (28×28 → 7×7).

    Returns:
        An `AveragePooling2D(scale)` layer.
    """
    return layers.AveragePooling2D(scale, name=f"average_{scale}x{scale}")


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


# --- networks --------------------------------------------------------------------------------------------

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
                        batch_norm: bool = True) -> keras.Model:
    """A PatchGAN for 28×28: one real/fake logit per 12×12 patch, on a 14×14 grid with stride 2.

    Conv(4×4, stride 2) → LeakyReLU → Conv(3×3) → batch norm → LeakyReLU → Conv(3×3) → logits, receptive
    field 4 + 2·2 + 2·2 = 12 pixels (Pix2Pix's 70×70 on 256×256 covers a quarter of the width; 12 of 28 is
    under half). Conditional (Pix2Pix): it sees the input and the output side by side, D(x, y).

    Args:
        image_shape: (28, 28, C).
        filters: channels of the first layer.
        conditional: two inputs, `source` and `image`, joined along the channels; else `image` only.
        batch_norm: False for per-example losses that must not mix examples.

    Returns:
        A `keras.Model` "patch_discriminator": [`source`,] `image` → `patch_logits` (batch, 14, 14, 1) float32.
    """
    image = keras.Input(image_shape, name="image")
    inputs = [image]
    x = _from_unit_range(image)
    if conditional:
        source = keras.Input(image_shape, name="source")
        inputs = [source, image]
        x = layers.Concatenate()([_from_unit_range(source), x])
    x = layers.LeakyReLU(0.2)(layers.Conv2D(filters, 4, strides=2, padding="same")(x))
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


# --- losses ------------------------------------------------------------------------------------------------

def per_example_mean(t):
    """The mean over every axis but the batch: (batch, …) → (batch,) float32."""
    t = tf.cast(t, tf.float32)
    return tf.reduce_mean(tf.reshape(t, [tf.shape(t)[0], -1]), axis=-1)


def l1_distance(a, b):
    """The mean absolute pixel difference of each pair, (batch,): ‖a − b‖₁ / pixels."""
    return per_example_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def squared_distance(a, b):
    """The mean squared pixel difference of each pair, (batch,): ‖a − b‖² / pixels."""
    return per_example_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


CONTENT_LOSSES = {"l1": l1_distance, "mse": squared_distance}


def patch_discriminator_loss(real_logits, fake_logits):
    """Cross-entropy of real = 1 and fake = 0, averaged over the patches, per example.

    Formula: mean over patches of −log D(x, y) − log(1 − D(x, G(x))), D = σ(l).
    """
    return per_example_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))


def patch_generator_loss(fake_logits):
    """The non-saturating generator loss averaged over the patches, per example: mean −log D(x, G(x))."""
    return per_example_mean(tf.nn.softplus(-fake_logits))


def least_squares_discriminator_loss(real_scores, fake_scores):
    """LSGAN's discriminator loss (Mao et al. 2017), per example: mean over patches of (D(y) − 1)² + D(G(x))².

    CycleGAN halves it when updating D, which slows D relative to G.
    """
    return per_example_mean(tf.square(real_scores - 1.0) + tf.square(fake_scores))


def least_squares_generator_loss(fake_scores):
    """LSGAN's generator loss, per example: mean over patches of (D(G(x)) − 1)²."""
    return per_example_mean(tf.square(fake_scores - 1.0))


def cycle_loss(x, y, g, f):
    """CycleGAN's cycle consistency, per example: ‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁ (pixel means).

    Args:
        x: images of X, (batch, H, W, C).
        y: images of Y, the same shape.
        g: G: X → Y, a callable.
        f: F: Y → X, a callable.

    Returns:
        float32 (batch,): zero when F and G are each other's inverse.
    """
    return l1_distance(f(g(x)), x) + l1_distance(g(f(y)), y)


# --- the trainable models ----------------------------------------------------------------------------------

class _TwoPlayers(keras.Model):
    """Two optimizers (generator side, discriminator side) kept in the compile config, and logged means."""

    def __init__(self, metric_names=(), **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
        self.g_optimizer = self.d_optimizer = None
        self.built = True  # the parts are functional models, built when they were made

    def build(self, input_shape=None):
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, g_optimizer="adam", d_optimizer="adam", **kwargs):
        """Sets both optimizers.

        Args:
            g_optimizer: updates the generator(s).
            d_optimizer: updates the discriminator(s) (unused without an adversary).
            **kwargs: `keras.Model.compile` arguments (`steps_per_execution`, `jit_compile`, `run_eagerly`).
        """
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = self._loss_scaled(keras.optimizers.get(g_optimizer))
        self.d_optimizer = self._loss_scaled(keras.optimizers.get(d_optimizer))
        self.g_optimizer.build(self.generator_variables())
        if self.discriminator_variables():
            self.d_optimizer.build(self.discriminator_variables())

    def get_compile_config(self) -> dict:
        if self.g_optimizer is None:
            return {}
        return {"g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile}

    def compile_from_config(self, config: dict) -> None:
        config = dict(config)
        for name in ("g_optimizer", "d_optimizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        self.compile(**config)

    def _loss_scaled(self, optimizer):
        """float16 needs loss scaling (bfloat16 has float32's range and does not)."""
        if self.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def _step(self, optimizer, loss_fn, weights):
        """One gradient step on `weights` of the scalar `loss_fn()` (loss-scaled under mixed_float16)."""
        with tf.GradientTape() as tape:
            scaled = optimizer.scale_loss(loss_fn())
        optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))

    def _log(self, values: dict) -> dict:
        for name, value in values.items():
            self.trackers[name].update_state(tf.reduce_mean(value))
        return {m.name: m.result() for m in self.metrics}


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class ImageTranslator(_TwoPlayers):
    """A paired translator G: x → y, trained on target images y whose inputs x = source(y) it makes itself.

    Formula (Pix2Pix): G* = arg min_G max_D L_cGAN(G, D) + λ E‖y − G(x)‖₁,
    L_cGAN = E log D(x, y) + E log(1 − D(x, G(x))); SRGAN: ‖y − G(x)‖² + w · (−log D(G(x))).
    `adversarial_weight` = 0 trains G on the content loss alone (no discriminator needed).

    `fit` logs `content` (the content loss) and, with an adversary, `g_adversarial` (−log D(·, G(x)), patch
    mean), `d_loss`, `d_real` and `d_fake` (mean D over patches).

    Args:
        generator: G, x → y in [0, 1].
        source: the layer making x from y (`SobelEdges()`, `low_resolution(4)`).
        discriminator: D, a logit per patch (or one); None when `adversarial_weight` is 0.
        conditional: D sees (x, y) (Pix2Pix) rather than y alone (SRGAN).
        content_loss: "l1" (Pix2Pix) or "mse" (SRGAN's pixel loss).
        content_weight: λ, the content loss's weight.
        adversarial_weight: the adversarial loss's weight.
        **kwargs: `keras.Model` arguments.

    Raises:
        ValueError: an unknown content loss, negative weights, or an adversarial weight without a discriminator.
    """

    ADVERSARIAL_METRICS = ("g_adversarial", "d_loss", "d_real", "d_fake")

    def __init__(self, generator: keras.Model, source: keras.layers.Layer, discriminator: keras.Model | None = None,
                 conditional: bool = True, content_loss: str = "l1", content_weight: float = 100.0,
                 adversarial_weight: float = 1.0, **kwargs):
        super().__init__(("content", *(self.ADVERSARIAL_METRICS if adversarial_weight > 0 else ())), **kwargs)
        if content_loss not in CONTENT_LOSSES:
            raise ValueError(f"content_loss must be one of {sorted(CONTENT_LOSSES)}, got {content_loss!r}")
        if content_weight < 0 or adversarial_weight < 0:
            raise ValueError("the loss weights must be 0 or more")
        if adversarial_weight > 0 and discriminator is None:
            raise ValueError("an adversarial weight above 0 needs a discriminator")
        self.generator, self.source, self.discriminator = generator, source, discriminator
        self.conditional = bool(conditional)
        self.content_loss = content_loss
        self.content_weight, self.adversarial_weight = float(content_weight), float(adversarial_weight)

    def call(self, inputs, training: bool = False):
        """G(x): the translation of inputs x."""
        return self.generator(inputs, training=training)

    def get_config(self) -> dict:
        parts = ("generator", "source") + (("discriminator",) if self.discriminator is not None else ())
        return {**super().get_config(), "conditional": self.conditional, "content_loss": self.content_loss,
                "content_weight": self.content_weight, "adversarial_weight": self.adversarial_weight,
                **serialized_parts(self, parts)}

    @classmethod
    def from_config(cls, config):
        parts = ("generator", "source") + (("discriminator",) if config.get("discriminator") else ())
        return cls(**with_deserialized_parts(config, parts))

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables if self.adversarial_weight > 0 else []

    def judge(self, x, y, training: bool = True):
        """D's logits for the images y translated from x: D(x, y) or D(y)."""
        return self.discriminator([x, y] if self.conditional else y, training=training)

    def losses_on(self, y, training: bool = True) -> dict:
        """Every loss of one step, per example, without updating anything (for tests and watching).

        Args:
            y: target images (batch, H, W, C) in [0, 1].
            training: the networks' mode.

        Returns:
            `{"content", "g_adversarial", "d_loss"}`, each float32 (batch,) (the adversarial ones 0 without D).
        """
        y = tf.convert_to_tensor(y, tf.float32)
        x = self.source(y)
        fake = self.generator(x, training=training)
        values = {"content": CONTENT_LOSSES[self.content_loss](y, fake)}
        if self.adversarial_weight > 0:
            real_logits, fake_logits = self.judge(x, y, training), self.judge(x, fake, training)
            values["g_adversarial"] = patch_generator_loss(fake_logits)
            values["d_loss"] = patch_discriminator_loss(real_logits, fake_logits)
        else:
            values["g_adversarial"] = values["d_loss"] = tf.zeros_like(values["content"])
        return values

    def train_step(self, data):
        """One step on a batch of targets y: D ascends its log-likelihood, then G descends content + adversarial.

        Args:
            data: target images (batch, H, W, C) in [0, 1] (or a tuple whose first entry they are).

        Returns:
            The logged metrics.
        """
        y = data[0] if isinstance(data, (tuple, list)) else data
        x = tf.stop_gradient(self.source(y))
        logs = {}
        if self.adversarial_weight > 0:  # max_D E log D(x, y) + E log(1 − D(x, G(x)))
            fake = tf.stop_gradient(self.generator(x, training=True))
            real_logits = fake_logits = None

            def d_loss():
                nonlocal real_logits, fake_logits
                real_logits, fake_logits = self.judge(x, y), self.judge(x, fake)
                return global_batch_mean(patch_discriminator_loss(real_logits, fake_logits))

            self._step(self.d_optimizer, d_loss, self.discriminator.trainable_variables)
            logs.update(d_loss=patch_discriminator_loss(real_logits, fake_logits),
                        d_real=tf.sigmoid(real_logits), d_fake=tf.sigmoid(fake_logits))
        content = adversarial = None

        def g_loss():  # min_G  λ·content(y, G(x)) + w·(−log D(x, G(x)))
            nonlocal content, adversarial
            fake = self.generator(x, training=True)
            content = CONTENT_LOSSES[self.content_loss](y, fake)
            total = self.content_weight * content
            if self.adversarial_weight > 0:
                adversarial = patch_generator_loss(self.judge(x, fake))
                total += self.adversarial_weight * adversarial
            return global_batch_mean(total)

        self._step(self.g_optimizer, g_loss, self.generator.trainable_variables)
        logs["content"] = content
        if adversarial is not None:
            logs["g_adversarial"] = adversarial
        return self._log(logs)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class CycleGAN(_TwoPlayers):
    """Zhu et al.'s CycleGAN: G: X → Y and F: Y → X learnt from unpaired images of the two domains.

    Formula: L = L_LSGAN(G, D_Y) + L_LSGAN(F, D_X) + λ (‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁)
    + λ_id (‖G(y) − y‖₁ + ‖F(x) − x‖₁), with λ = 10 and λ_id = λ / 2 as in the paper.

    Batches hold an image of X in channel 0 and an unrelated image of Y in channel 1 (`stack_domains`);
    no loss joins the two images of an example, so the pairing is arbitrary. `fit` logs `g_adversarial`
    and `f_adversarial` ((D(·) − 1)²), `cycle`, `identity`, `d_x_loss`, `d_y_loss`.

    Args:
        g: G, X → Y, (batch, 28, 28, 1) → the same, in [0, 1].
        f: F, Y → X.
        d_x: D_X, a score per patch for images of X.
        d_y: D_Y, for images of Y.
        cycle_weight: λ.
        identity_weight: λ_id (the paper's 0.5 λ).
        **kwargs: `keras.Model` arguments.
    """

    METRICS = ("g_adversarial", "f_adversarial", "cycle", "identity", "d_x_loss", "d_y_loss")
    PARTS = ("g", "f", "d_x", "d_y")

    def __init__(self, g: keras.Model, f: keras.Model, d_x: keras.Model, d_y: keras.Model,
                 cycle_weight: float = 10.0, identity_weight: float = 5.0, **kwargs):
        super().__init__(self.METRICS, **kwargs)
        self.g, self.f, self.d_x, self.d_y = g, f, d_x, d_y
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)

    def call(self, inputs, training: bool = False):
        """G(x): images of X translated to Y."""
        return self.g(inputs, training=training)

    def get_config(self) -> dict:
        return {**super().get_config(), "cycle_weight": self.cycle_weight,
                "identity_weight": self.identity_weight, **serialized_parts(self, self.PARTS)}

    @classmethod
    def from_config(cls, config):
        return cls(**with_deserialized_parts(config, cls.PARTS))

    def generator_variables(self):
        return self.g.trainable_variables + self.f.trainable_variables

    def discriminator_variables(self):
        return self.d_x.trainable_variables + self.d_y.trainable_variables

    def losses_on(self, data, training: bool = True) -> dict:
        """Every generator-side loss of one step on a batch, per example, without updating anything.

        Args:
            data: (batch, 28, 28, 2): x in channel 0, y in channel 1.
            training: the networks' mode.

        Returns:
            `generator_losses`' dict.
        """
        data = tf.convert_to_tensor(data, tf.float32)
        return self.generator_losses(data[..., :1], data[..., 1:], training)

    def generator_losses(self, x, y, training: bool = True) -> dict:
        """G's and F's losses, per example (batch,).

        Returns:
            `{"g_adversarial", "f_adversarial", "cycle", "identity", "total"}`.
        """
        fake_y, fake_x = self.g(x, training=training), self.f(y, training=training)
        values = {
            "g_adversarial": least_squares_generator_loss(self.d_y(fake_y, training=training)),
            "f_adversarial": least_squares_generator_loss(self.d_x(fake_x, training=training)),
            # λ(‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁), from the translations just made
            "cycle": l1_distance(self.f(fake_y, training=training), x) + l1_distance(self.g(fake_x, training=training), y),
            # ‖G(y) − y‖₁ + ‖F(x) − x‖₁: a translator handed its own target domain leaves it alone
            "identity": l1_distance(self.g(y, training=training), y) + l1_distance(self.f(x, training=training), x),
        }
        values["total"] = (values["g_adversarial"] + values["f_adversarial"] + self.cycle_weight * values["cycle"]
                           + self.identity_weight * values["identity"])
        return values

    def train_step(self, data):
        """One step: G and F descend the full objective, then D_X and D_Y their least-squares losses (halved).

        Args:
            data: (batch, 28, 28, 2): x in channel 0, y in channel 1.

        Returns:
            The logged metrics.
        """
        data = data[0] if isinstance(data, (tuple, list)) else data
        x, y = data[..., :1], data[..., 1:]
        values = {}

        def g_loss():
            values.update(self.generator_losses(x, y))
            return global_batch_mean(values.pop("total"))

        self._step(self.g_optimizer, g_loss, self.generator_variables())
        fake_y = tf.stop_gradient(self.g(x, training=True))
        fake_x = tf.stop_gradient(self.f(y, training=True))

        def d_loss():  # ½[(D_Y(y) − 1)² + D_Y(G(x))²] + ½[(D_X(x) − 1)² + D_X(F(y))²]
            values["d_y_loss"] = least_squares_discriminator_loss(self.d_y(y, training=True), self.d_y(fake_y, training=True))
            values["d_x_loss"] = least_squares_discriminator_loss(self.d_x(x, training=True), self.d_x(fake_x, training=True))
            return global_batch_mean(0.5 * (values["d_y_loss"] + values["d_x_loss"]))

        self._step(self.d_optimizer, d_loss, self.discriminator_variables())
        return self._log(values)


def stack_domains(x_images: np.ndarray, y_images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unpaired training examples: each image of X beside a randomly drawn image of Y, as two channels.

    Args:
        x_images: (N_x, H, W, 1) images of X.
        y_images: (N_y, H, W, 1) images of Y.
        seed: the draw's seed.

    Returns:
        (max(N_x, N_y), H, W, 2) of the inputs' dtype: each domain in its own random order, the smaller
        one's images each used once before any repeats.
    """
    n = max(len(x_images), len(y_images))
    rng = np.random.default_rng(seed)

    def draw(images):
        order = np.concatenate([rng.permutation(len(images)) for _ in range(-(-n // len(images)))])[:n]
        return images[order] if len(images) < n else images[rng.permutation(n)]

    return np.concatenate([draw(x_images), draw(y_images)], axis=-1)
