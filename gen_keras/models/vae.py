"""The variational autoencoder (Kingma & Welling), as the lectures derive it.

Encoder q_φ(z|x) = N(μ(x), diag σ²(x)); z = μ + σ ⊙ ε drawn by `GaussianSampler`, which also adds
KL(q_φ(z|x) ‖ N(0, I)); decoder p_θ(x|z), Bernoulli (logits) or Gaussian (mean and learned per-pixel σ).
The loss is the negative ELBO in nats per image:
    −ELBO(x) = E_q[−log p_θ(x|z)] + KL(q_φ(z|x) ‖ p(z))
with the reconstruction term summed over pixels (averaging it over pixels while summing the KL is the
classic mistake: it weights the KL 784 times too much).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gen_keras.layers import (GaussianSampler, LikelihoodMean, PixelLogScale, SoftplusLogScale, _tfd,
                              gaussian_posterior)
from gen_keras.models.saving import serialized_parts, with_deserialized_parts
from gen_keras.losses import bernoulli_nll, gaussian_kl, gaussian_nll, per_replica_share

# bernoulli: logits; gaussian: μ and one learned σ per pixel, shared by all z; gaussian_z: μ(z) and σ(z).
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_z")


def vae_encoder(latent_dim: int = 2, image_shape=(28, 28, 1), units: int = 256,
                filters: tuple[int, int] = (32, 64)) -> keras.Model:
    """The encoder x → (μ, log σ²) of q_φ(z|x) = N(μ, diag σ²): stride-2 convolutions, a dense layer, two linear heads.

    Conv2D(f, 3, stride 2, "same", relu) per entry of `filters` → Flatten → Dense(units, relu) (left out
    when `units` is 0) → Dense(latent_dim) twice.

    Args:
        latent_dim: the size of z.
        image_shape: (H, W, C) of the input.
        units: the dense layer's width; 0 for none.
        filters: the convolutions' channels.

    Returns:
        A `keras.Model` "encoder": (batch, 28, 28, 1) float32 in [0, 1] → [`mean` (batch, latent_dim),
        `log_var` (batch, latent_dim)].
    """
    x = keras.Input(image_shape, name="image")
    h = x
    for f in filters:
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    if units:
        h = layers.Dense(units, activation="relu")(h)
    mean = layers.Dense(latent_dim, name="mean")(h)
    log_var = layers.Dense(latent_dim, name="log_var")(h)
    return keras.Model(x, [mean, log_var], name="encoder")


def vae_decoder(latent_dim: int = 2, likelihood: str = "bernoulli", image_shape=(28, 28, 1),
                units: int = 256, filters: tuple[int, ...] = (64, 32), dense: tuple[int, ...] = ()) -> keras.Model:
    """The decoder z → the parameters of p_θ(x|z): Bernoulli logits, or Gaussian [μ, log σ] stacked on the channels.

    Convolutional (a dense layer of `units`, a dense layer to (H/4)·(W/4)·filters[0], then one stride-2
    transposed convolution per entry of `filters` and a last one to C channels), or, with `dense` set, a
    multilayer perceptron with those hidden widths. A Gaussian decoder ends its mean in a sigmoid and
    appends a learned per-pixel log σ (`PixelLogScale`).

    Args:
        latent_dim: the size of z.
        likelihood: "bernoulli", "gaussian" (a learned σ per pixel, shared by all z) or "gaussian_z"
            (σ(z) from a second head: the lectures' N(μ(z), σ(z)²I)).
        image_shape: (H, W, C) of the output; H and W divisible by 4 for the convolutional decoder.
        units: the convolutional decoder's first dense layer; 0 for none.
        filters: the transposed convolutions' channels (two entries give ×4 up-sampling).
        dense: hidden widths of an MLP decoder, e.g. (256, 512); empty for the convolutional one.

    Returns:
        A `keras.Model` "decoder": `z` (batch, latent_dim) → (batch, H, W, C) logits (Bernoulli) or
        (batch, H, W, 2C) [μ in [0, 1], log σ] (Gaussian).

    Raises:
        ValueError: an unknown likelihood.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    z = keras.Input((latent_dim,), name="z")
    channels = image_shape[-1]
    if dense:
        h = z
        for width in dense:
            h = layers.Dense(width, activation="relu")(h)

        def head(activation, name):
            return layers.Reshape(image_shape, name=name)(
                layers.Dense(int(np.prod(image_shape)), activation=activation)(h))
    else:
        h_side, w_side = image_shape[0] // 4, image_shape[1] // 4
        h = layers.Dense(units, activation="relu")(z) if units else z
        h = layers.Dense(h_side * w_side * filters[0], activation="relu")(h)
        h = layers.Reshape((h_side, w_side, filters[0]))(h)
        for f in filters:
            h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(h)

        def head(activation, name):
            return layers.Conv2DTranspose(channels, 3, padding="same", activation=activation, name=name)(h)
    if likelihood == "bernoulli":
        out = head(None, "logits")
    elif likelihood == "gaussian":  # μ(z), and σ per pixel, learned but the same for every z
        out = PixelLogScale(name="mean_and_log_scale")(head("sigmoid", "mean"))
    else:  # μ(z) and σ(z): N(μ(z), diag σ(z)²), both heads on the same features
        log_scale = SoftplusLogScale(name="log_scale")(head(None, "raw_scale"))
        out = layers.Concatenate(name="mean_and_log_scale")([head("sigmoid", "mean"), log_scale])
    return keras.Model(z, out, name="decoder")


@keras.saving.register_keras_serializable(package="gen_keras")
class VAE(keras.Model):
    """The variational autoencoder, trained on the negative ELBO in nats per image.

    Calling it maps x (batch, H, W, C) to the parameters of p_θ(x|z) with z ~ q_φ(z|x) drawn by a
    `GaussianSampler` (the forward pass is stochastic). The loss:
        loss = w · E_q[−log p_θ(x|z)] + β · KL(q_φ(z|x) ‖ N(0, I)),
    logged as `reconstruction` (w · E[−log p(x|z)]) and `kl` (β · KL) beside `loss`, their sum.

    Args:
        encoder: x → [μ, log σ²] (`vae_encoder`).
        decoder: z → the likelihood's parameters (`vae_decoder`).
        likelihood: "bernoulli" (decoder outputs logits) or "gaussian" (decoder outputs [μ, log σ]).
        beta: β, the KL term's weight (1 for the VAE; 0 in the lectures' ablation).
        reconstruction_weight: w, the reconstruction term's weight (1 for the VAE; 0 in the ablation).
        binarize: binarize the training images in every step: "stochastic" (or True: a fresh draw
            x_b ~ Bernoulli(x) every step) or "threshold" (x ≥ 0.5); None or False: train on x as given.
        seed: seeds the sampler's draws (and, with seed + 1, the binarization); None for random ones.
        **kwargs: `keras.Model` arguments (`name`, …).

    Raises:
        ValueError: an unknown likelihood.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, likelihood: str = "bernoulli",
                 beta: float = 1.0, reconstruction_weight: float = 1.0, binarize: bool | str | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.encoder, self.decoder = encoder, decoder
        self.likelihood = likelihood
        self.beta, self.reconstruction_weight = float(beta), float(reconstruction_weight)
        binarize = "stochastic" if binarize is True else (binarize or None)
        if binarize not in (None, "stochastic", "threshold"):
            raise ValueError(f"binarize must be 'stochastic', 'threshold' or None, got {binarize!r}")
        self.binarize, self.seed = binarize, seed
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.sampler = GaussianSampler(beta=beta, seed=seed, name="sampler")
        self.binarize_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def call(self, x, training=None):
        """The decoder's output for z ~ q_φ(z|x): (batch, H, W, C) images → logits or [μ, log σ] (see `vae_decoder`)."""
        mean, log_var = self.encoder(x, training=training)
        z = self.sampler([mean, log_var], training=training)
        return self.decoder(z, training=training)

    def negative_log_likelihood(self, x, params):
        """−log p_θ(x|z) per image, summed over pixels, from the decoder's output.

        Args:
            x: images, (batch, H, W, C) in [0, 1].
            params: the decoder's output: logits (batch, H, W, C) or [μ, log σ] (batch, H, W, 2C).

        Returns:
            float32 (batch,), nats.
        """
        if self.likelihood == "bernoulli":
            return bernoulli_nll(x, params)
        c = params.shape[-1] // 2
        return gaussian_nll(x, params[..., :c], params[..., c:])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The negative ELBO per image, in nats: loss = w · E_q[−log p_θ(x|z)] + β · KL(q_φ(z|x) ‖ p(z)).

        The KL term is the sampling layer's regularizer (it adds β · KL when it draws z), so it is read
        from that layer; the reconstruction term is computed here from the decoder's output.

        Args:
            x: the input images, (batch, H, W, C).
            y: the target images (None: `x`).
            y_pred: the decoder's output for `x`.
            sample_weight: unused.
            training: unused.

        Returns:
            The scalar loss, divided by the number of replicas under `tf.distribute` (`per_replica_share`).
        """
        target = x if y is None else y
        reconstruction = self.reconstruction_weight * ops.mean(self.negative_log_likelihood(target, y_pred))
        beta_kl = self.sampler_kl()
        batch = ops.shape(target)[0]
        self.reconstruction_tracker.update_state(reconstruction, sample_weight=batch)
        self.kl_tracker.update_state(beta_kl, sample_weight=batch)
        return per_replica_share(reconstruction + beta_kl)

    def sampler_kl(self):
        """β · KL(q_φ(z|x) ‖ N(0, I)), mean over the batch, as the sampling layer added it in this forward pass.

        Returns:
            A float32 scalar (0 when β = 0).
        """
        kl = self.sampler.losses
        return ops.sum([ops.cast(term, "float32") for term in kl]) if kl else ops.zeros(())

    def train_step(self, data):
        """One optimizer step on a batch; with `binarize`, x_b ~ Bernoulli(x) (or x ≥ 0.5) is made first, as
        input and target.

        Args:
            data: a batch of images, or (images, targets).

        Returns:
            The logged metrics: `loss`, `reconstruction`, `kl`.
        """
        if self.binarize:  # x_b ~ Bernoulli(x), drawn anew each step (or x ≥ 0.5); input and target alike
            x = data[0] if isinstance(data, (tuple, list)) else data
            if self.binarize == "threshold":
                x = ops.cast(x >= 0.5, x.dtype)
            else:
                x = ops.cast(keras.random.uniform(ops.shape(x), seed=self.binarize_seed) < x, x.dtype)
            data = (x, x)
        return super().train_step(data)

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.decoder.build((None, self.latent_dim))
        self.built = True

    def generator(self) -> keras.Model:
        """A new model z → E[x|z] sharing the decoder's weights: the image a served decoder returns.

        Returns:
            A `keras.Model` "generator": `z` (batch, latent_dim) → `image` (batch, H, W, C) float32 in [0, 1].
        """
        z = keras.Input((self.latent_dim,), name="z")
        image = LikelihoodMean(self.likelihood, name="image")(self.decoder(z))
        return keras.Model(z, image, name="generator")

    def importance_log_weights(self, x, num_samples: int):
        """Log importance weights of K draws z_k ~ q_φ(z|x) per image.

        Formula: log w_k = log p_θ(x|z_k) + log p(z_k) − log q_φ(z_k|x). mean_k log w_k estimates the ELBO;
        log (1/K) Σ_k w_k is the IWAE bound, which rises to log p(x) with K.

        Args:
            x: images, (batch, H, W, C).
            num_samples: K.

        Returns:
            float32 (K, batch), nats.
        """
        tfd = _tfd()
        mean, log_var = self.encoder(x, training=False)
        q = gaussian_posterior(mean, log_var)
        z = q.sample(num_samples, seed=tf.cast(self.sampler.seed_generator.next(), tf.int32))  # (K, B, d)
        log_q = ops.sum(q.log_prob(z), axis=-1)
        log_prior = ops.sum(tfd.Normal(0.0, 1.0).log_prob(z), axis=-1)
        return self.log_likelihood_at(x, z) + log_prior - log_q

    def prior_log_weights(self, x, num_samples: int):
        """log p_θ(x|z_k) for K draws z_k ~ p(z) = N(0, I) per image: the naive Monte Carlo estimate of
        p(x) = E_{p(z)}[p(x|z)] is (1/K) Σ_k p(x|z_k), which needs astronomically many draws because
        almost every z from the prior explains x badly (the recognition model q(z|x) fixes that).

        Args:
            x: images, (batch, H, W, C).
            num_samples: K.

        Returns:
            float32 (K, batch), nats.
        """
        batch = ops.shape(x)[0]
        z = keras.random.normal((num_samples, batch, self.latent_dim), seed=self.sampler.seed_generator)
        return self.log_likelihood_at(x, z)

    def log_likelihood_at(self, x, z):
        """log p_θ(x|z) for every code in z, (K, batch, latent_dim), and its image in x, (batch, H, W, C).

        Returns:
            float32 (K, batch), nats.
        """
        num_samples, batch = ops.shape(z)[0], ops.shape(x)[0]
        params = self.decoder(ops.reshape(z, (-1, self.latent_dim)), training=False)
        x_rep = ops.reshape(ops.broadcast_to(x[None], (num_samples, *ops.shape(x))), (-1, *x.shape[1:]))
        return -ops.reshape(self.negative_log_likelihood(x_rep, params), (num_samples, batch))

    def get_config(self):
        return {**super().get_config(), **serialized_parts(self, ("encoder", "decoder")),
                "likelihood": self.likelihood, "beta": self.beta,
                "reconstruction_weight": self.reconstruction_weight, "binarize": self.binarize,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**with_deserialized_parts(config, ("encoder", "decoder")))


def iwae_estimates(vae: VAE, images: np.ndarray, num_samples: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (ELBO estimate, IWAE estimate of log p(x)) in nats, from K = `num_samples` draws of q.

    Args:
        vae: a trained `VAE`.
        images: (N, H, W, C) float32 in [0, 1] (as the model was trained on).
        num_samples: K.

    Returns:
        (elbo, iwae), each float64 (N,); see `gen_keras.metrics.importance_weighted_estimates`.
    """
    from gen_keras.metrics import importance_weighted_estimates

    log_weights = tf.function(vae.importance_log_weights, reduce_retracing=True)
    return importance_weighted_estimates(lambda x, k: log_weights(tf.constant(x), k).numpy(), images, num_samples)


def marginal_likelihood_by_samples(vae: VAE, images: np.ndarray, counts=(1, 10, 100, 1000, 5000),
                                   batch_size: int | None = None) -> dict[str, list[float]]:
    """Two Monte Carlo estimates of log p(x) against the number of samples K, on the same images.

    Naive, from the prior: log (1/K) Σ_k p(x|z_k), z_k ~ p(z). Importance sampling with the recognition
    model: log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x) (the IWAE bound). Both estimate log p(x)
    from below on average; the naive one approaches it only for an enormous K. Each K uses the first K of
    the same max(counts) draws.

    Args:
        vae: a trained `VAE`.
        images: (N, H, W, C) float32 in [0, 1].
        counts: the K values, ascending.
        batch_size: images per call; default 10,000 // max(counts) (at least 1).

    Returns:
        `{"samples": counts, "prior": [...], "importance": [...]}`: mean over the images, nats per image.
    """
    from gen_keras.metrics import log_mean_exp

    k_max = int(max(counts))
    batch_size = batch_size or max(1, 10_000 // k_max)
    curves = {"samples": [int(k) for k in counts]}
    for name, method in (("prior", vae.prior_log_weights), ("importance", vae.importance_log_weights)):
        log_weights = tf.function(method, reduce_retracing=True)
        rows = np.concatenate([np.asarray(log_weights(tf.constant(images[i:i + batch_size]), k_max), np.float64)
                               for i in range(0, len(images), batch_size)], axis=1)  # (K, N)
        curves[name] = [float(np.mean(log_mean_exp(rows[:k], axis=0))) for k in curves["samples"]]
    return curves


def sample_observations(vae: VAE, z: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The decoder's means E[x|z] and draws x ~ p_θ(x|z) for the same codes.

    Bernoulli: x_i ~ Bernoulli(sigmoid(logit_i)); Gaussian: x = μ + σ ⊙ ε, clipped to [0, 1] to be shown.

    Args:
        vae: a trained `VAE`.
        z: codes, (n, latent_dim) float32.
        seed: the draws' seed.

    Returns:
        (means, samples), each (n, H, W, C) float32 in [0, 1].
    """
    params = np.asarray(vae.decoder(z, training=False), np.float32)
    rng = np.random.default_rng(seed)
    if vae.likelihood == "bernoulli":
        means = 1.0 / (1.0 + np.exp(-params))
        return means, (rng.random(means.shape) < means).astype(np.float32)
    c = params.shape[-1] // 2
    means, scales = params[..., :c], np.exp(params[..., c:])
    draws = means + scales * rng.standard_normal(means.shape).astype(np.float32)
    return np.clip(means, 0.0, 1.0), np.clip(draws, 0.0, 1.0)


def elbo_terms(vae: VAE, images: np.ndarray, batch_size: int = 500) -> dict[str, float]:
    """The data's −ELBO = E_q[−log p(x|z)] + KL(q(z|x) ‖ N(0, I)) in nats per image, both weights 1.

    Whatever β and reconstruction weight the model trained with; one z = μ + σ ⊙ ε per image, closed-form KL.

    Args:
        vae: a trained `VAE`.
        images: (N, H, W, C) float32 in [0, 1].
        batch_size: images per forward pass.

    Returns:
        `{"negative_elbo": …, "reconstruction": …, "kl": …}`, means over the N images.
    """
    reconstruction, kl = [], []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        mean, log_var = vae.encoder(x, training=False)
        eps = keras.random.normal(ops.shape(mean), seed=vae.sampler.seed_generator)
        params = vae.decoder(mean + ops.exp(0.5 * log_var) * eps, training=False)  # z = μ + σ ⊙ ε
        reconstruction.append(np.asarray(vae.negative_log_likelihood(x, params)))
        kl.append(np.asarray(gaussian_kl(mean, log_var)))
    rec, kl_ = float(np.concatenate(reconstruction).mean()), float(np.concatenate(kl).mean())
    return {"negative_elbo": rec + kl_, "reconstruction": rec, "kl": kl_}


DECODERS = ("dense", "conv")


def build_vae(latent_dim: int = 2, likelihood: str = "bernoulli", *, decoder: str = "dense", beta: float = 1.0,
              reconstruction_weight: float = 1.0, binarize: bool | str | None = None, seed: int | None = None,
              image_shape=(28, 28, 1)) -> VAE:
    """The recipe's VAE, built: a convolutional encoder and a dense or convolutional decoder.

    The encoder has Dense(256) before the heads; the decoder is either `dense` (256 → 512 → pixels) or
    `conv` (Dense(256) → 7·7·64 → two stride-2 transposed convolutions, the keras.io example's decoder with
    a wider dense layer). The choice of default: see docs/results/vae.md.

    Args:
        latent_dim: the size of z.
        likelihood: "bernoulli" or "gaussian".
        decoder: "dense" or "conv".
        beta: β, the KL term's weight.
        reconstruction_weight: w, the reconstruction term's weight.
        binarize: "stochastic" (dynamically binarized training images), "threshold" or None (see `VAE`).
        seed: seeds the sampler (and the binarization).
        image_shape: (H, W, C) of the images.

    Returns:
        A built, uncompiled `VAE`: (batch, 28, 28, 1) → (batch, 28, 28, 1) logits (Bernoulli) or
        (batch, 28, 28, 2) (Gaussian).

    Raises:
        ValueError: an unknown decoder or likelihood.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    dec = (vae_decoder(latent_dim, likelihood, image_shape, dense=(256, 512)) if decoder == "dense"
           else vae_decoder(latent_dim, likelihood, image_shape, units=256))
    vae = VAE(vae_encoder(latent_dim, image_shape, units=256), dec, likelihood, beta=beta,
              reconstruction_weight=reconstruction_weight, binarize=binarize, seed=seed)
    vae.build((None, *image_shape))
    return vae
