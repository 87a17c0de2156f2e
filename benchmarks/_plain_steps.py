"""The keras.io examples' training steps, written plainly for the recipes' own networks: the reference each
gen_keras step is timed against in `step_efficiency.py`.

Each class is what a keras.io example does (GradientTape, `apply_gradients`, `Mean` trackers), nothing more:
no per-replica loss scaling, no seeded noise streams, no loss scaling for mixed precision, no extra metrics.
The autoencoder needs no class: keras.io compiles the network with a loss and calls `fit`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf


class _Tracked(keras.Model):
    def __init__(self, *names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = [keras.metrics.Mean(name=n) for n in names]

    @property
    def metrics(self):
        return self.trackers

    def _log(self, *values):
        for tracker, value in zip(self.trackers, values):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}


class PlainVAE(_Tracked):
    """keras.io "Variational AutoEncoder": sample z = μ + σ ε, loss = Σ BCE + KL."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__("loss", **kwargs)
        self.encoder, self.decoder = encoder, decoder

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            logits = self.decoder(z)
            reconstruction = tf.reduce_mean(tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=data, logits=logits), axis=(1, 2, 3)))
            kl = tf.reduce_mean(tf.reduce_sum(-0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var)), axis=1))
            loss = reconstruction + kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._log(loss)


class PlainDCGAN(_Tracked):
    """keras.io "DCGAN to generate face images": D on fakes and reals in one batch, then G."""

    def __init__(self, generator, discriminator, latent_dim, **kwargs):
        super().__init__("d_loss", "g_loss", **kwargs)
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        z = tf.random.normal((batch_size, self.latent_dim))
        generated = self.generator(z)
        combined = tf.concat([generated, real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = tf.random.normal((batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.zeros((batch_size, 1)), self.discriminator(self.generator(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return self._log(d_loss, g_loss)


class PlainWGANGP(_Tracked):
    """keras.io "WGAN-GP overriding Model.train_step": `d_steps` critic steps with the gradient penalty, then
    one generator step; each critic step on its own slice of the batch (keras.io reuses one batch), so the
    work equals the recipe's, whose batch holds k minibatches."""

    def __init__(self, generator, critic, latent_dim, d_steps=5, gp_weight=10.0, **kwargs):
        super().__init__("d_loss", "g_loss", **kwargs)
        self.generator, self.critic = generator, critic
        self.latent_dim, self.d_steps, self.gp_weight = latent_dim, d_steps, gp_weight

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def gradient_penalty(self, real, fake):
        alpha = tf.random.uniform((tf.shape(real)[0], 1, 1, 1))
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(interpolated)
            pred = self.critic(interpolated)
        grads = tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        minibatches = tf.split(real_images, self.d_steps)
        m = tf.shape(minibatches[0])[0]
        for real in minibatches:
            z = tf.random.normal((m, self.latent_dim))
            with tf.GradientTape() as tape:
                fake = self.generator(z)
                d_cost = tf.reduce_mean(self.critic(fake)) - tf.reduce_mean(self.critic(real))
                d_loss = d_cost + self.gp_weight * self.gradient_penalty(real, fake)
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        z = tf.random.normal((m, self.latent_dim))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(self.critic(self.generator(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return self._log(d_loss, g_loss)


class PlainPixelCNN(_Tracked):
    """keras.io "PixelCNN": the masked network's logits against binary pixels, Σ BCE per image (keras.io
    binarizes the data once beforehand; feed binary images)."""

    def __init__(self, network, **kwargs):
        super().__init__("loss", **kwargs)
        self.network = network

    def train_step(self, data):
        with tf.GradientTape() as tape:
            logits = self.network(data, training=True)
            loss = tf.reduce_mean(tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=data, logits=logits), axis=(1, 2, 3)))
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        return self._log(loss)


class PlainFlow(_Tracked):
    """keras.io "Density estimation using Real NVP": loss = −mean log p(x) (here in bits/dim, with the
    uniform dequantization noise the image flow takes)."""

    def __init__(self, flow, **kwargs):
        super().__init__("loss", **kwargs)
        self.flow = flow

    def train_step(self, data):
        with tf.GradientTape() as tape:
            log_prob = self.flow.log_prob(data, tf.random.uniform(tf.shape(data)))
            loss = -tf.reduce_mean(log_prob) / (self.flow.num_dims * math.log(2.0))
        grads = tape.gradient(loss, self.flow.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.flow.trainable_variables))
        return self._log(loss)


class PlainDiffusion(_Tracked):
    """keras.io "Denoising Diffusion Implicit Models": noise a batch at random times, regress the network's
    target (here the recipe's v with its min-SNR weights), then update the moving average."""

    def __init__(self, network, ema_network, alpha_bars: np.ndarray, weights: np.ndarray, ema=0.999, **kwargs):
        super().__init__("loss", **kwargs)
        self.network, self.ema_network, self.ema = network, ema_network, ema
        self.alpha_bars = tf.constant(alpha_bars, tf.float32)
        self.loss_weights = tf.constant(weights, tf.float32)

    def train_step(self, images):
        x0 = images * 2.0 - 1.0
        batch = tf.shape(x0)[0]
        t = tf.random.uniform((batch,), 0, self.alpha_bars.shape[0], dtype=tf.int32)
        noise = tf.random.normal(tf.shape(x0))
        a = tf.reshape(tf.gather(self.alpha_bars, t), (-1, 1, 1, 1))
        noisy = tf.sqrt(a) * x0 + tf.sqrt(1.0 - a) * noise
        target = tf.sqrt(a) * noise - tf.sqrt(1.0 - a) * x0
        with tf.GradientTape() as tape:
            out = self.network([noisy, tf.cast(t, tf.float32)], training=True)
            loss = tf.reduce_mean(tf.gather(self.loss_weights, t) * tf.reduce_mean(tf.square(target - out), axis=[1, 2, 3]))
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
            ema_weight.assign(self.ema * ema_weight + (1 - self.ema) * weight)
        return self._log(loss)
