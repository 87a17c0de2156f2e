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

Here: the losses (content, PatchGAN, least-squares, cycle) and the two trainable models. Their networks are
in `gen_keras.models.translation_networks`; the tasks' inputs (`SobelEdges`, `low_resolution`), the image
checks and CycleGAN's unpaired examples in `gen_keras.models.translation_tasks`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gen_keras.models.gan import SERIALIZATION_PACKAGE, global_batch_mean
from gen_keras.models.saving import serialized_parts, with_deserialized_parts

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
