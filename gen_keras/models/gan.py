"""GANs as Keras models whose `train_step` plays the game, so `fit` trains them with every callback.

`GAN` is Goodfellow et al.'s Algorithm 1: per generator step, k discriminator steps, each on its own
minibatch of m real images (the batch `fit` hands over holds k·m) and m fresh noise vectors; then one
generator step on m fresh noise vectors. `models/wgan.py`'s `WGAN` swaps the discriminator for a critic
(weight clipping or a gradient penalty), `ConditionalGAN` shows both players the class; `models/aae.py` builds the adversarial
autoencoder on the same base. The networks they train (the MLP GAN of Goodfellow et al., DCGAN of Radford
et al., plain or conditional) are built in `models/gan_networks.py` and importable from here too.

Images outside the networks are float32 in [0, 1], like every image in gen_keras; inside, the networks
work in [−1, 1] as the papers do: the generator ends in tanh and a Rescaling to [0, 1], the discriminator
starts with a Rescaling to [−1, 1] (affine maps, so the game is exactly the papers').
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gen_keras import losses
from gen_keras.models.gan_networks import (IMAGE_SHAPE, dcgan_discriminator, dcgan_generator,  # noqa: F401
                                          dcgan_levels, mlp_discriminator, mlp_generator, point_generator)
from gen_keras.models.saving import serialized_parts, with_deserialized_parts

SERIALIZATION_PACKAGE = "gen_keras"


# The random streams of a training step, each drawn from its own stateless seed (seed·16 + stream, step).
NOISE_STREAMS = {
    "discriminator_z": 0,  # z for the fakes of each discriminator step
    "generator_z": 1,  # z for the generator step
    "penalty_epsilon": 2,  # WGAN-GP's interpolation weights ε ~ U(0, 1)
    "prior_position": 3,  # an AAE prior's component or position along the roll, u ~ U(0, 1)
}


def _noise_slice(stream: str, seed: int, counter, local_batch, tail, uniform: bool = False):
    """This replica's slice of noise drawn for the whole global batch from the stateless seed
    (seed, stream, counter): 1 device and R replicas see the same draws, and a resumed run (whose
    optimizer step counters are restored) the same as an uninterrupted one."""
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    stateless_seed = tf.stack([tf.constant(seed * 16 + NOISE_STREAMS[stream], tf.int64), tf.cast(counter, tf.int64)])
    shape = tf.concat([[local_batch * replicas], tf.constant(tail, tf.int32)], axis=0)
    if uniform:
        full = tf.random.stateless_uniform(shape, stateless_seed)
    else:
        full = tf.random.stateless_normal(shape, stateless_seed)
    start = tf.cast(replica, tf.int32) * local_batch
    return full[start:start + local_batch]


def _strided_split(batch, k: int) -> list:
    """[x_j, x_{j+k}, x_{j+2k}, ...] for j < k (k Nones for no batch)."""
    if batch is None:
        return [None] * k
    tf.debugging.assert_equal(tf.shape(batch)[0] % k, 0,
                              message=f"the batch must hold k = {k} minibatches of equal size")
    grouped = tf.reshape(batch, tf.concat([[-1, k], tf.shape(batch)[1:]], axis=0))
    return [grouped[:, j] for j in range(k)]


def global_batch_mean(per_example):
    """The batch mean of a per-example loss under `tf.distribute`: Σ loss / global batch on each replica.

    The replicas' gradients are summed, so each replica's share divided by the global batch gives the mean.

    Args:
        per_example: this replica's per-example losses, (local batch,).

    Returns:
        A scalar (`tf.nn.compute_average_loss`).
    """
    return tf.nn.compute_average_loss(per_example)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class GAN(keras.Model):
    """Goodfellow et al.'s GAN as a Keras model whose `train_step` plays the game (Algorithm 1).

    Formula: min_G max_D  E_x log D(x) + E_z log(1 − D(G(z))).

    G maps z (batch, latent_dim) to images in [0, 1], D maps images to the logit of "real", (batch, 1).
    Calling the model calls G. `fit` logs `d_loss`, `g_loss`, mean D(x) `d_real` and mean D(G(z)) `d_fake`
    (each 1/2 at the game's equilibrium). Batches are images (labels, if any, are ignored); each holds
    k minibatches, one per discriminator step.

    Args:
        generator: G, `z` (batch, latent_dim) → image (batch, 28, 28, 1) in [0, 1].
        discriminator: D, image → logit (batch, 1).
        latent_dim: the size of z; None: G's input size.
        seed: seeds the noise streams (`NOISE_STREAMS`), drawn statelessly per optimizer step.
        **kwargs: `keras.Model` arguments (`name`, …).
    """

    # What `fit` logs: the two losses, mean D(x) and mean D(G(z)) (each 1/2 at the game's equilibrium).
    METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
    PARTS = ("generator", "discriminator")  # the sub-models its config holds

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int | None = None,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.seed = int(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.METRICS}
        self.k = 1
        self.d_optimizer = self.g_optimizer = None

    # --- the model ---------------------------------------------------------------------------------
    def build(self, input_shape=None):
        self.built = True  # G and D are functional models, built when they were made

    def call(self, inputs, training: bool = False):
        """G(z): (batch, latent_dim) → images (batch, 28, 28, 1) in [0, 1]."""
        return self.generator(inputs, training=training)

    def get_config(self) -> dict:
        return {**super().get_config(), "latent_dim": self.latent_dim, "seed": self.seed,
                **serialized_parts(self, self.PARTS)}

    @classmethod
    def from_config(cls, config):
        return cls(**with_deserialized_parts(config, cls.PARTS))

    # --- compile: two optimizers, kept in the compile config -----------------------------------------
    def compile(self, d_optimizer="adam", g_optimizer="adam", k: int = 1,
                generator_loss: str = "non_saturating", **kwargs):
        """Sets both optimizers and the game's options.

        Args:
            d_optimizer: updates D (an optimizer or its name); wrapped in a `LossScaleOptimizer` under mixed_float16.
            g_optimizer: updates G.
            k: discriminator steps per generator step (≥ 1); each batch from `fit` must hold k minibatches.
            generator_loss: "non_saturating" (−log D(G(z))) or "minimax" (log(1 − D(G(z)))).
            **kwargs: `keras.Model.compile` arguments (`steps_per_execution`, `jit_compile`, `run_eagerly`).

        Raises:
            ValueError: an unknown `generator_loss`, or k < 1.
        """
        if generator_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {sorted(losses.GENERATOR_LOSSES)}, "
                             f"got {generator_loss!r}")
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not self.built:  # on a latent batch: under a strategy Keras would build it on an image batch
            self.build((None, self.latent_dim))
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = self._loss_scaled(keras.optimizers.get(d_optimizer))
        self.g_optimizer = self._loss_scaled(keras.optimizers.get(g_optimizer))
        self.k = int(k)
        self.generator_loss = generator_loss
        self.build_optimizers()

    def _loss_scaled(self, optimizer):
        """float16 needs loss scaling (bfloat16 has float32's range and does not)."""
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
                optimizer, keras.optimizers.LossScaleOptimizer):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def build_optimizers(self) -> None:
        """Creates both optimizers' slots now (in the strategy scope).

        Keras pre-builds only `self.optimizer`, and a resumed run loads saved slots only into built optimizers.
        """
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self) -> dict:
        if self.d_optimizer is None:
            return {}
        return {"d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
                "k": self.k, "generator_loss": self.generator_loss,
                "steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile,
                "run_eagerly": self.run_eagerly}

    def compile_from_config(self, config: dict) -> None:
        config = dict(config)
        for name in ("d_optimizer", "g_optimizer"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        self.compile(**config)

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def generator_steps(self):
        """G's updates so far (None before compile): the x axis on which runs are compared."""
        return None if self.g_optimizer is None else self.g_optimizer.iterations

    # --- Algorithm 1: k discriminator steps, then one generator step ----------------------------------
    def train_step(self, data):
        """Algorithm 1 on one batch: k discriminator steps, each on its own minibatch, then one generator step.

        Minibatch j holds examples j, j + k, j + 2k, … of the batch, so R replicas (each holding a block of the
        batch) together use the same minibatches as one device.

        Args:
            data: a batch of k·m images (or (images, labels) for `ConditionalGAN`).

        Returns:
            The logged metrics (`METRICS`).
        """
        real, condition = self.unpack(data)
        # The batch holds k minibatches of m real examples, one per discriminator step: minibatch j is
        # examples j, j + k, j + 2k, ..., so R replicas (each holding a block of the batch) together use
        # the same minibatches as one device.
        reals, conditions = _strided_split(real, self.k), _strided_split(condition, self.k)
        m = tf.shape(reals[0])[0]
        for j in range(self.k):  # for k steps: z ~ p_z, x ~ p_data; ascend ∇_θd [log D(x) + log(1 − D(G(z)))]
            z = self.latent_noise(m, "discriminator_z", self.d_optimizer.iterations)
            fake = self.run_generator(z, conditions[j], training=True)
            self.discriminator_step(reals[j], tf.stop_gradient(fake), conditions[j])
        # then once: z ~ p_z; descend ∇_θg log(1 − D(G(z))) (or ascend log D(G(z)))
        z = self.latent_noise(m, "generator_z", self.g_optimizer.iterations)
        self.generator_step(lambda: self.run_generator(z, conditions[-1], training=True), conditions[-1])
        return {m_.name: m_.result() for m_ in self.metrics}

    def discriminator_step(self, real, fake, condition=None):
        """One gradient step of D on a real and a generated minibatch.

        Args:
            real: real images, (m, 28, 28, 1) (for an AAE: prior samples z).
            fake: generated images, the same shape, gradient-stopped.
            condition: the labels (m,) for a conditional GAN; None otherwise.

        Returns:
            This replica's mean loss, a scalar (also logged as `d_loss`).
        """
        with tf.GradientTape() as tape:
            real_out = self.run_discriminator(real, condition, training=True)
            fake_out = self.run_discriminator(fake, condition, training=True)
            per_example = self.discriminator_loss_per_example(real_out, fake_out, real, fake, condition)
            loss = global_batch_mean(per_example)
            scaled = self.d_optimizer.scale_loss(loss)
        weights = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        self.after_discriminator_update()
        mean = tf.reduce_mean(per_example)  # this replica's mean, unscaled: what the log shows
        self.trackers["d_loss"].update_state(mean)
        for name, value in self.discriminator_metrics(real_out, fake_out).items():
            self.trackers[name].update_state(value)
        return mean

    def generator_step(self, make_fake, condition=None):
        """One gradient step of G (D fixed) on `make_fake()`, computed inside the tape.

        Args:
            make_fake: a callable returning generated images (m, 28, 28, 1), called inside the gradient tape.
            condition: the labels (m,) for a conditional GAN; None otherwise.

        Returns:
            This replica's mean loss, a scalar (also logged as `g_loss`).
        """
        with tf.GradientTape() as tape:
            fake_out = self.run_discriminator(make_fake(), condition, training=True)
            per_example = self.generator_loss_per_example(fake_out)
            scaled = self.g_optimizer.scale_loss(global_batch_mean(per_example))
        weights = self.generator.trainable_variables
        if weights:  # a generator held fixed (no trainable weights) takes no step
            self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        mean = tf.reduce_mean(per_example)
        self.trackers["g_loss"].update_state(mean)
        return mean

    # --- the pieces a conditional GAN or an adversarial autoencoder replaces --------------------------
    def unpack(self, data):
        """Splits a batch into (real images, condition); an unconditional GAN ignores labels.

        Args:
            data: images, or a tuple/list whose first entry is the images.

        Returns:
            (images, None).
        """
        if isinstance(data, (tuple, list)):
            data = data[0]
        return data, None

    def run_generator(self, z, condition=None, training: bool = True):
        """G(z): images (batch, 28, 28, 1) in [0, 1] (a conditional GAN passes the class too).

        Args:
            z: (batch, latent_dim).
            condition: the labels (batch,) for a conditional GAN; ignored here.
            training: the networks' mode (batch norm).

        Returns:
            The generated images.
        """
        return self.generator(z, training=training)

    def run_discriminator(self, x, condition=None, training: bool = True):
        """D(x): logits of "real", (batch, 1) (a critic's scores for a WGAN).

        Args:
            x: images, (batch, 28, 28, 1) in [0, 1].
            condition: the labels (batch,) for a conditional GAN; ignored here.
            training: the networks' mode (batch norm).

        Returns:
            The logits.
        """
        return self.discriminator(x, training=training)

    def discriminator_loss_per_example(self, real_out, fake_out, real, fake, condition):
        """Per-example loss of D: −log D(x) − log(1 − D(G(z))).

        Args:
            real_out: D's logits on the real minibatch.
            fake_out: D's logits on the generated minibatch.
            real: the real minibatch (used by WGAN-GP's penalty).
            fake: the generated minibatch (used by WGAN-GP's penalty).
            condition: the labels, or None.

        Returns:
            float32 (m,).
        """
        return losses.discriminator_loss(real_out, fake_out)

    def generator_loss_per_example(self, fake_out):
        """Per-example loss of G: log(1 − D(G(z))) (minimax) or −log D(G(z)) (non-saturating).

        Args:
            fake_out: D's logits on the generated minibatch.

        Returns:
            float32 (m,).
        """
        return losses.GENERATOR_LOSSES[self.generator_loss](fake_out)

    def probability(self, out):
        """What d_real/d_fake report: D = σ(logit), float32."""
        return tf.sigmoid(tf.cast(out, tf.float32))

    def discriminator_metrics(self, real_out, fake_out) -> dict:
        """What a discriminator step logs beside its loss: mean D(x) and mean D(G(z)).

        Args:
            real_out: D's outputs on the real minibatch.
            fake_out: D's outputs on the generated minibatch.

        Returns:
            `{"d_real": scalar, "d_fake": scalar}`.
        """
        return {"d_real": tf.reduce_mean(self.probability(real_out)),
                "d_fake": tf.reduce_mean(self.probability(fake_out))}

    def after_discriminator_update(self) -> None:
        """Runs after each D update (WGAN clips the critic's weights here); does nothing for a GAN."""

    def latent_noise(self, local_batch, stream: str, counter):
        """z ~ N(0, I) from the named stream (`NOISE_STREAMS`), this replica's slice of a global draw.

        The draw is stateless, seeded by (seed·16 + stream, counter), so one device and R replicas see the same
        noise, and a resumed run (whose optimizer step counters are restored) the same as an uninterrupted one.

        Args:
            local_batch: this replica's batch size m.
            stream: a key of `NOISE_STREAMS`.
            counter: the step counter the draw is keyed on (an optimizer's `iterations`).

        Returns:
            float32 (m, latent_dim).
        """
        return _noise_slice(stream, self.seed, counter, local_batch, [self.latent_dim])

    def uniform_noise(self, local_batch, stream: str, counter):
        """u ~ U(0, 1), one per example, from the named stream, as `latent_noise` draws (stateless, the same
        on one device and on R replicas).

        Args:
            local_batch: this replica's batch size m.
            stream: a key of `NOISE_STREAMS`.
            counter: the step counter the draw is keyed on.

        Returns:
            float32 (m,).
        """
        return _noise_slice(stream, self.seed, counter, local_batch, [], uniform=True)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class ConditionalGAN(GAN):
    """Mirza and Osindero's conditional GAN: G(z, y) and D(x, y) both see the class y.

    Formula: min_G max_D E_{x,y} log D(x, y) + E_{z,y} log(1 − D(G(z, y), y)).

    Batches are (images, labels); generated images get the labels of the real minibatch they are judged
    beside. Calling it: G([z, y]).

    Args:
        generator: G, [`z` (batch, latent_dim), `label` (batch,) int32] → image (batch, 28, 28, 1) in [0, 1].
        discriminator: D, [image, `label`] → logit (batch, 1).
        num_classes: the number of classes.
        **kwargs: `GAN` arguments (`latent_dim`, `seed`, `name`, …).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, num_classes: int = 10, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.num_classes = int(num_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}

    def unpack(self, data):
        """Splits a batch into (images, int32 labels)."""
        images, labels = data
        return images, tf.cast(labels, tf.int32)

    def run_generator(self, z, condition=None, training: bool = True):
        """G(z, y): [z (batch, latent_dim), labels (batch,)] → images (batch, 28, 28, 1) in [0, 1]."""
        return self.generator([z, condition], training=training)

    def run_discriminator(self, x, condition=None, training: bool = True):
        """D(x, y): [images, labels (batch,)] → logits (batch, 1)."""
        return self.discriminator([x, condition], training=training)


# --- networks ----------------------------------------------------------------------------------------
