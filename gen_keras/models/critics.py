"""A discriminator or critic trained against a fixed generator: the GAN lectures' 1-D pictures.

With the generator's distribution p_g held fixed, the inner problem of the GAN game can be solved on its
own and compared with its closed form:

- cross-entropy: max_D E_data log D(x) + E_g log(1 − D(x)) has the optimum D*(x) = p_data / (p_data + p_g)
  (Goodfellow et al. 2014, Prop. 1);
- Wasserstein: max over 1-Lipschitz f of E_data f(x) − E_g f(x) is W₁(p_data, p_g); WGAN-GP keeps f near
  1-Lipschitz with λ (‖∇f(x̂)‖ − 1)² at points between the two samples.

`SampleCritic` is a Keras model trained by `fit` on batches `(real, fake)` of the two samples.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gen_keras import losses

OBJECTIVES = ("cross_entropy", "wasserstein_gp", "wasserstein_one_sided_gp")


@keras.saving.register_keras_serializable(package="gen_keras")
class SampleCritic(keras.Model):
    """A discriminator (logits, D = σ(l)) or a WGAN-GP critic (scores f) between two fixed samples.

    Args:
        network: x (batch, d) → one logit or score per point, (batch, 1).
        objective: "cross_entropy" (the GAN discriminator), "wasserstein_gp" (the WGAN-GP critic, penalty
            λ (‖∇f(x̂)‖ − 1)²) or "wasserstein_one_sided_gp" (penalty λ max(0, ‖∇f(x̂)‖ − 1)²).
        gp_weight: λ of the gradient penalty (Wasserstein only).
        seed: seed of the interpolation points ε of the penalty.
    """

    def __init__(self, network: keras.Model, objective: str = "cross_entropy", gp_weight: float = 10.0,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.network = network
        self.objective = objective
        self.gp_weight = float(gp_weight)
        self.seed = int(seed)
        self._seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.network(x, training=training)

    def objective_loss(self, real, fake):
        """The loss minimised, averaged over the batch.

        cross_entropy: −log D(x) − log(1 − D(x̃)); wasserstein_gp: f(x̃) − f(x) + λ (‖∇f(x̂)‖ − 1)²
        (one-sided: λ max(0, ‖∇f(x̂)‖ − 1)²).
        """
        real_out, fake_out = self(real, training=True), self(fake, training=True)
        if self.objective == "cross_entropy":
            return tf.reduce_mean(losses.discriminator_loss(real_out, fake_out))
        epsilon = keras.random.uniform(tf.shape(real)[:1], seed=self._seed_generator)
        penalty = losses.gradient_penalty(lambda x: self(x, training=True), real, fake, epsilon=epsilon,
                                          one_sided=self.objective == "wasserstein_one_sided_gp")
        return tf.reduce_mean(losses.wasserstein_critic_loss(real_out, fake_out) + self.gp_weight * penalty)

    def train_step(self, data):
        real, fake, _ = keras.utils.unpack_x_y_sample_weight(data)  # batches (real, fake)
        with tf.GradientTape() as tape:
            loss = self.objective_loss(real, fake)
        grads = tape.gradient(loss, self.network.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "objective": self.objective, "gp_weight": self.gp_weight, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def mlp_critic(input_dim: int = 1, units: tuple[int, ...] = (64, 64), activation: str = "tanh",
               name: str = "critic") -> keras.Model:
    """A small MLP x (batch, input_dim) → (batch, 1) logit or score, for the 1-D pictures.

    Args:
        input_dim: the data's dimension.
        units: hidden widths.
        activation: hidden activation (tanh: a smooth D(x) to compare with the formula).
        name: the model's name.

    Returns:
        An uncompiled `keras.Model`.
    """
    x = inputs = keras.Input((input_dim,), name="x")
    for i, width in enumerate(units):
        x = keras.layers.Dense(width, activation=activation, name=f"hidden_{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="score")(x), name=name)


def input_gradients(network: keras.Model, x) -> tf.Tensor:
    """d out / dx of a 1-output network at each point, (batch, d); for the discriminator's slopes.

    Args:
        network: x (batch, d) → (batch, 1).
        x: points, (batch, d).

    Returns:
        float32 (batch, d).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(network(x, training=False))
    return tape.gradient(out, x)
