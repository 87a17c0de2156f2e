"""Arjovsky et al.'s Wasserstein GAN and Gulrajani et al.'s gradient penalty, on `models/gan.py`'s `GAN`:
the same game with a critic in place of the discriminator."""

from __future__ import annotations

import keras
import tensorflow as tf

from gen_keras import losses
from gen_keras.models.gan import GAN, SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class WGAN(GAN):
    """Arjovsky et al.'s Wasserstein GAN: a critic f (no sigmoid) estimates W(p_data, p_g).

    Formula: W(p_data, p_g) ≈ E f(x) − E f(G(z)) while f is 1-Lipschitz, enforced by weight clipping
    (`clip`) or, for WGAN-GP (Gulrajani et al.), a penalty λ E (‖∇f(x̂)‖ − 1)². `k` (n_critic) critic steps
    per generator step. Logs `wasserstein` (the estimate) beside `GAN`'s metrics; `d_real`, `d_fake` are
    mean f(x), mean f(G(z)).

    Args:
        generator: G, `z` (batch, latent_dim) → image (batch, 28, 28, 1) in [0, 1].
        discriminator: the critic f, image → score (batch, 1); without batch norm for WGAN-GP.
        latent_dim: the size of z; None: G's input size.
        seed: seeds the noise streams (and WGAN-GP's ε).
        **kwargs: `keras.Model` arguments.
    """

    METRICS = (*GAN.METRICS, "wasserstein")  # E f(x) − E f(G(z)), the critic's estimate of W

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clip = None
        self.gp_weight = 0.0

    def compile(self, d_optimizer=None, g_optimizer=None, k: int = 5, clip: float | None = 0.01,
                gp_weight: float = 0.0, **kwargs):
        """Sets the optimizers, n_critic and the Lipschitz constraint; defaults are the WGAN paper's.

        RMSProp 5e-5 for both, k = n_critic = 5, clip 0.01. For WGAN-GP pass `clip=None, gp_weight=10.`
        (λ; and Adam 1e-4, β = (0, 0.9), as Gulrajani et al. did).

        Args:
            d_optimizer: updates the critic; None: RMSprop(5e-5).
            g_optimizer: updates G; None: RMSprop(5e-5).
            k: critic steps per generator step.
            clip: c, every critic weight is clipped to [−c, c] after each update; None for no clipping.
            gp_weight: λ, the gradient penalty's weight; 0 for none.
            **kwargs: `GAN.compile` arguments (`generator_loss` is ignored; `gradient_penalty` is read as
                `gp_weight`, the name in older saved configs).

        Raises:
            ValueError: `clip` is not positive or None, or `gp_weight` < 0.
        """
        kwargs.pop("generator_loss", None)
        gp_weight = kwargs.pop("gradient_penalty", gp_weight)  # the name in configs saved before gp_weight
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be positive or None, got {clip}")
        if gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
        super().compile(d_optimizer=d_optimizer or keras.optimizers.RMSprop(5e-5),
                        g_optimizer=g_optimizer or keras.optimizers.RMSprop(5e-5), k=k, **kwargs)
        self.clip = None if clip is None else float(clip)
        self.gp_weight = float(gp_weight)

    def get_compile_config(self) -> dict:
        config = super().get_compile_config()
        config.pop("generator_loss", None)
        return {**config, "clip": self.clip, "gp_weight": self.gp_weight} if config else config

    def probability(self, out):
        """A critic's score as float32, not a probability: d_real = mean f(x)."""
        return tf.cast(out, tf.float32)  # a critic's score, not a probability: d_real = mean f(x)

    def discriminator_loss_per_example(self, real_out, fake_out, real, fake, condition):
        """The critic's loss per example: f(G(z)) − f(x) [+ λ (‖∇f(x̂)‖ − 1)²].

        Args:
            real_out: f(x) on the real minibatch.
            fake_out: f(G(z)) on the generated minibatch.
            real: the real minibatch, (m, 28, 28, 1).
            fake: the generated minibatch.
            condition: the labels, or None.

        Returns:
            float32 (m,).
        """
        per_example = losses.wasserstein_critic_loss(real_out, fake_out)
        if self.gp_weight:
            epsilon = self.uniform_noise(tf.shape(real)[0], "penalty_epsilon", self.d_optimizer.iterations)
            critic = lambda x: self.run_discriminator(x, condition, training=True)  # noqa: E731
            per_example += self.gp_weight * losses.gradient_penalty(critic, real, fake, epsilon)
        return per_example

    def discriminator_metrics(self, real_out, fake_out) -> dict:
        """Beside mean f(x) and mean f(G(z)): the critic's estimate of W, E f(x) − E f(G(z)).

        Args:
            real_out: f(x) on the real minibatch.
            fake_out: f(G(z)) on the generated minibatch.

        Returns:
            `{"d_real": …, "d_fake": …, "wasserstein": …}`, scalars.
        """
        scores = super().discriminator_metrics(real_out, fake_out)
        return {**scores, "wasserstein": scores["d_real"] - scores["d_fake"]}

    def generator_loss_per_example(self, fake_out):
        """The generator's loss per example: −f(G(z)).

        Args:
            fake_out: f(G(z)) on the generated minibatch.

        Returns:
            float32 (m,).
        """
        return losses.wasserstein_generator_loss(fake_out)

    def after_discriminator_update(self) -> None:
        """With weight clipping: w ← clip(w, −c, c) for every critic weight."""
        if self.clip is not None:  # w ← clip(w, −c, c)
            for weight in self.discriminator.trainable_variables:
                weight.assign(tf.clip_by_value(weight, -self.clip, self.clip))
