"""Denoising diffusion (Ho et al., 2020) with DDIM sampling (Song et al., 2021), as a Keras model.

The forward process adds Gaussian noise in T small steps, q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I),
whose t-step marginal has a closed form,
    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I),   ᾱ_t = Π_{s ≤ t} (1 − β_s),
so a training step draws t ~ U{1, …, T}, ε ~ N(0, I), forms x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε in one go and
regresses the noise: L = E ‖ε − ε_θ(x_t, t)‖² (the ELBO's terms with the weights dropped), or with
min-SNR-γ weights w_t = min(SNR_t, γ)/SNR_t (`loss_weights`); the network may output v = √ᾱ_t ε − √(1 − ᾱ_t) x_0
instead of ε (`prediction="velocity"`), from which ε_θ = √(1 − ᾱ_t) x_t + √ᾱ_t v_θ.

Sampling runs the chain backwards. DDIM's step from t to an earlier s (η = 0: deterministic, any subset of
the T steps; η = 1 with every step: DDPM's ancestral sampler) is
    x̂_0 = clip((x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t, −1, 1),   ε̃ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t),
    x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̃ + σ z,   σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s).
Every sampler here is one `tf.while_loop`, so a served model runs it in one call.

Images outside the model are float32 in [0, 1], as everywhere in gen_keras; the chain works in [−1, 1].
Time steps are 0-based in code: index i is the paper's t = i + 1.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gen_keras.models.saving import serialized_parts, with_deserialized_parts

IMAGE_SHAPE = (28, 28, 1)
SCHEDULES = ("cosine", "linear")
PREDICTIONS = ("epsilon", "velocity")
SERIALIZATION_PACKAGE = "gen_keras"

# The random streams of a training step and of sampling, each from its own stateless seed (`noise_seed`).
NOISE_STREAMS = {"time": 0, "epsilon": 1, "initial": 2, "step": 3}


def noise_seed(seed, stream: str, counter=0) -> tf.Tensor:
    """The stateless seed of one random draw: (16·seed + the stream's number, counter), int64 (2,).

    The draws of a training step and of every sampler take their seed from here: the same (seed, stream,
    counter), the same numbers, on any device and in any order.

    Args:
        seed: the model's or the chain's seed (scalar int).
        stream: a key of `NOISE_STREAMS`.
        counter: which draw of that stream (an optimizer step, a sampling step, …).

    Returns:
        The seed pair for `tf.random.stateless_*`.
    """
    return tf.stack([tf.cast(seed, tf.int64) * 16 + NOISE_STREAMS[stream], tf.cast(counter, tf.int64)])


def chain_seed(x_T) -> tf.Tensor:
    """The seed of a reverse chain's step noise z, read from its start x_T: the bits of x_T's first value.

    So the chain is a function of x_T alone: the same x_T gives the same images for any η, whichever sampler
    runs it (`Diffusion.sample`, `Diffusion.denoise_from`, `Sampler`), and batches that start differently get
    different z.

    Args:
        x_T: the chain's start, float32 (batch, H, W, C).

    Returns:
        int32 scalar.
    """
    return tf.bitcast(tf.cast(x_T, tf.float32)[0, 0, 0, 0], tf.int32)


def noise_schedule(name: str = "cosine", steps: int = 1000) -> np.ndarray:
    """β_1 … β_T of a named schedule.

    cosine (Nichol & Dhariwal, 2021): ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008,
    β_t = min(1 − ᾱ_t/ᾱ_{t−1}, 0.999); linear (Ho et al.): β from 1e-4 to 0.02 (scaled by 1000/T).

    Args:
        name: "cosine" or "linear".
        steps: T.

    Returns:
        float64 (T,) betas in (0, 1).

    Raises:
        ValueError: an unknown name, or steps < 1.
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if name == "linear":
        scale = 1000.0 / steps
        return np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps, dtype=np.float64)
    s = 0.008
    t = np.arange(steps + 1, dtype=np.float64) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 1e-8, 0.999)


def alpha_bars(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = Π_{s ≤ t} (1 − β_s), each t.

    Args:
        betas: (T,) β_t.

    Returns:
        float64 (T,), falling from near 1 to near 0.
    """
    return np.cumprod(1.0 - np.asarray(betas, np.float64))


def loss_weights(alpha_bar: np.ndarray, prediction: str = "epsilon", min_snr_gamma: float | None = None) -> np.ndarray:
    """Per-step weights of the regression loss.

    Formula: SNR_t = ᾱ_t/(1 − ᾱ_t); min-SNR-γ (Hang et al., 2023) weighs the ε loss by min(SNR_t, γ)/SNR_t
    and the v loss by min(SNR_t, γ)/(SNR_t + 1): both are the x_0 error's weight min(SNR_t, γ), so the
    nearly clean steps, easy and many, stop dominating the gradient. None: 1 at every step.

    Args:
        alpha_bar: (T,) ᾱ_t.
        prediction: what the network predicts, "epsilon" or "velocity".
        min_snr_gamma: γ > 0, or None for the unweighted loss.

    Returns:
        float64 (T,) weights in (0, 1].

    Raises:
        ValueError: an unknown prediction, or γ ≤ 0.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    alpha_bar = np.asarray(alpha_bar, np.float64)
    if min_snr_gamma is None:
        return np.ones_like(alpha_bar)
    if not min_snr_gamma > 0:
        raise ValueError(f"min_snr_gamma must be positive, got {min_snr_gamma}")
    snr = alpha_bar / (1.0 - alpha_bar)
    return np.minimum(snr, min_snr_gamma) / (snr if prediction == "epsilon" else snr + 1.0)


def sampling_timesteps(steps, total: int):
    """The DDIM sub-sequence τ of `steps` time-step indices out of `total`, evenly spaced, ending at T − 1.

    Args:
        steps: how many network evaluations (a scalar tensor or int, 1 … total).
        total: T.

    Returns:
        int32 (steps,), increasing: ⌊(i + 1)·T/steps⌋ − 1 for i = 0 … steps − 1 (every index when steps = T;
        the chain starts at the last, x_T's).
    """
    steps = tf.cast(steps, tf.int64)
    return tf.cast((tf.range(steps) + 1) * total // steps - 1, tf.int32)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SinusoidalEmbedding(layers.Layer):
    """The transformer's position encoding of the time step: [sin(t ω_k), cos(t ω_k)], ω_k = P^(−k/(d/2)).

    Args:
        dim: the embedding's size (even).
        max_period: P, the slowest frequency's period.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0, **kwargs):
        super().__init__(**kwargs)
        if dim % 2:
            raise ValueError(f"dim must be even, got {dim}")
        self.dim, self.max_period = int(dim), float(max_period)

    def call(self, t):
        half = self.dim // 2
        frequencies = tf.exp(-math.log(self.max_period) * tf.range(half, dtype=tf.float32) / half)
        angles = tf.cast(tf.reshape(t, [-1, 1]), tf.float32) * frequencies[None, :]
        return tf.cast(tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def _groups(width: int) -> int:
    return math.gcd(width, 8)


def _residual_block(x, time_embedding, width: int, name: str):
    """GroupNorm → swish → conv → + Dense(time) → GroupNorm → swish → conv, plus the (1×1-projected) input."""
    skip = x if x.shape[-1] == width else layers.Conv2D(width, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(_groups(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    t = layers.Dense(width, name=f"{name}_time")(time_embedding)
    h = layers.Add()([h, layers.Reshape((1, 1, width))(t)])
    h = layers.GroupNormalization(_groups(width), name=f"{name}_norm2")(h)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_out")([h, skip])


def _attention_block(x, name: str, heads: int = 4):
    """Self-attention over the H·W positions, with a residual connection."""
    height, width, channels = x.shape[1:]
    h = layers.GroupNormalization(_groups(channels), name=f"{name}_norm")(x)
    h = layers.Reshape((height * width, channels))(h)
    h = layers.MultiHeadAttention(heads, channels // heads, name=f"{name}_mha")(h, h)
    h = layers.Reshape((height, width, channels))(h)
    return layers.Add(name=f"{name}_out")([x, h])


def build_unet(image_shape=IMAGE_SHAPE, widths=(32, 64, 128), blocks: int = 1, attention: bool = True,
               name: str = "unet") -> keras.Model:
    """The noise predictor ε_θ(x_t, t): a small U-Net sized for a CPU.

    Each resolution has `blocks` residual blocks (which add the time embedding) going down and as many,
    after concatenating the skip, going up; between resolutions a stride-2 convolution down and a
    nearest-neighbour upsampling + convolution up; self-attention at the coarsest resolution (7×7 for 28×28).

    Args:
        image_shape: (H, W, C) of x_t, H and W divisible by 2^(len(widths) − 1).
        widths: channels at each resolution, finest first.
        blocks: residual blocks per resolution on each side.
        attention: self-attention in the middle.
        name: the model's name.

    Returns:
        A functional `keras.Model`, inputs `[x_t (batch, H, W, C), t (batch,)]` (t: 0-based step index, float),
        output ε̂ (batch, H, W, C), float32.

    Raises:
        ValueError: the image's size cannot be halved len(widths) − 1 times.
    """
    height, width_px, channels = image_shape
    factor = 2 ** (len(widths) - 1)
    if height % factor or width_px % factor:
        raise ValueError(f"a {height}x{width_px} image cannot be halved {len(widths) - 1} times; use fewer widths")
    x_in = keras.Input(image_shape, name="x_t")
    t_in = keras.Input((), name="t")
    embedding_dim = 4 * widths[0]
    temb = SinusoidalEmbedding(widths[0], name="time_sinusoid")(t_in)
    temb = layers.Dense(embedding_dim, activation="swish", name="time_dense1")(temb)
    temb = layers.Dense(embedding_dim, name="time_dense2")(temb)

    h = layers.Conv2D(widths[0], 3, padding="same", name="stem")(x_in)
    skips = []
    for level, w in enumerate(widths):  # down: 28 → 14 → 7
        for b in range(blocks):
            h = _residual_block(h, temb, w, f"down{level}_{b}")
        skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(w, 3, strides=2, padding="same", name=f"down{level}_stride")(h)
    h = _residual_block(h, temb, widths[-1], "middle_0")
    if attention:
        h = _attention_block(h, "middle_attention")
    h = _residual_block(h, temb, widths[-1], "middle_1")
    for level in reversed(range(len(widths))):  # up: 7 → 14 → 28, each level joined with its skip
        h = layers.Concatenate()([h, skips[level]])
        for b in range(blocks):
            h = _residual_block(h, temb, widths[level], f"up{level}_{b}")
        if level > 0:
            h = layers.UpSampling2D(2, interpolation="nearest")(h)
            h = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"up{level}_conv")(h)
    h = layers.GroupNormalization(_groups(widths[0]), name="out_norm")(h)
    h = layers.Activation("swish")(h)
    eps = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="epsilon")(h)
    return keras.Model([x_in, t_in], eps, name=name)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class Diffusion(keras.Model):
    """A DDPM: the noise predictor, its exponential moving average, the schedule, and the samplers.

    Formula: L = E_{t, x_0, ε} w_t ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖², w_t = 1 unless min-SNR-γ weighted
    (`loss_weights`). With `prediction="velocity"` the network predicts v = √ᾱ_t ε − √(1 − ᾱ_t) x_0
    (Salimans & Ho, 2022) instead, and ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v̂.

    `fit` on images in [0, 1] (labels, if any, are ignored) logs `loss`. After each optimizer step the
    moving average θ_EMA ← d θ_EMA + (1 − d) θ is updated; samplers use it (`ema=True`).

    Args:
        network: ε_θ, `[x_t, t] → ε̂` (`build_unet`).
        ema_network: a copy of `network` holding the moving average; None: cloned from `network`.
        schedule: "cosine" or "linear".
        timesteps: T.
        ema_decay: d.
        seed: seeds the training noise, drawn statelessly from (seed, optimizer step).
        prediction: the network's target, "epsilon" (ε, Ho et al.) or "velocity" (v).
        min_snr_gamma: weigh the loss by min-SNR-γ (`loss_weights`); None: unweighted.
        **kwargs: `keras.Model` arguments.
    """

    PARTS = ("network", "ema_network")

    def __init__(self, network: keras.Model, ema_network: keras.Model | None = None, schedule: str = "cosine",
                 timesteps: int = 1000, ema_decay: float = 0.999, seed: int = 0, prediction: str = "epsilon",
                 min_snr_gamma: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), got {ema_decay}")
        self.network = network
        if ema_network is None:
            ema_network = keras.models.clone_model(network)
            ema_network.set_weights(network.get_weights())
        ema_network.trainable = False
        self.ema_network = ema_network
        self.schedule, self.timesteps = schedule, int(timesteps)
        self.ema_decay, self.seed = float(ema_decay), int(seed)
        betas = noise_schedule(schedule, self.timesteps)
        weights = loss_weights(alpha_bars(betas), prediction, min_snr_gamma)  # checks both
        self.prediction = prediction
        self.min_snr_gamma = None if min_snr_gamma is None else float(min_snr_gamma)
        self.image_shape = tuple(network.inputs[0].shape[1:])
        # Constants, not weights: the schedule follows from the config.
        self._betas = tf.constant(betas, tf.float32)
        self._alpha_bars = tf.constant(alpha_bars(betas), tf.float32)
        self._loss_weights = tf.constant(weights, tf.float32)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.build()

    def build(self, input_shape=None):
        self.built = True  # the networks are functional, built when they were made

    def get_config(self) -> dict:
        return {**super().get_config(), "schedule": self.schedule, "timesteps": self.timesteps,
                "ema_decay": self.ema_decay, "seed": self.seed, "prediction": self.prediction,
                "min_snr_gamma": self.min_snr_gamma, **serialized_parts(self, self.PARTS)}

    @classmethod
    def from_config(cls, config):
        return cls(**with_deserialized_parts(config, cls.PARTS))

    @property
    def metrics(self):
        return [self.loss_tracker]

    @property
    def generator_steps(self):
        """Optimizer steps so far (None before compile): the x axis on which it is compared with the GANs."""
        return None if self.optimizer is None else self.optimizer.iterations

    @property
    def betas(self) -> tf.Tensor:
        """β_t, (T,) float32."""
        return self._betas

    @property
    def alpha_bars(self) -> tf.Tensor:
        """ᾱ_t, (T,) float32."""
        return self._alpha_bars

    def call(self, inputs, training: bool = False):
        """The network's raw output (ε̂, or v̂ when `prediction="velocity"`) with the trained weights:
        `inputs` = [x_t in [−1, 1] (batch, H, W, C), t (batch,)]."""
        return self.network(inputs, training=training)

    def _scales(self, t):
        """(√ᾱ_t, √(1 − ᾱ_t)), each shaped (batch, 1, 1, 1)."""
        a = tf.reshape(tf.gather(self._alpha_bars, t), [-1, 1, 1, 1])
        return tf.sqrt(a), tf.sqrt(1.0 - a)

    # --- the forward process ------------------------------------------------------------------------
    def diffuse(self, x0, t, noise):
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, a draw from q(x_t | x_0) in one step.

        Args:
            x0: clean images in [−1, 1], (batch, H, W, C).
            t: 0-based step indices, int (batch,).
            noise: ε, the shape of x0.

        Returns:
            x_t, float32.
        """
        a = tf.reshape(tf.gather(self._alpha_bars, t), [-1, 1, 1, 1])
        return tf.sqrt(a) * x0 + tf.sqrt(1.0 - a) * noise

    def _training_noise(self, batch, stream: str):
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        seed = noise_seed(self.seed, stream,
                          tf.cast(self.optimizer.iterations, tf.int64) * 1024 + tf.cast(replica, tf.int64))
        if stream == "time":
            return tf.random.stateless_uniform([batch], seed, 0, self.timesteps, dtype=tf.int32)
        return tf.random.stateless_normal(tf.concat([[batch], self.image_shape], 0), seed)

    def train_step(self, data):
        """One step on the noise-regression loss, then the moving average.

        Args:
            data: a batch of images in [0, 1] (or (images, labels); the labels are ignored).

        Returns:
            `{"loss": the running mean of the (weighted) squared error per pixel}`.
        """
        x = data[0] if isinstance(data, (tuple, list)) else data
        x0 = tf.cast(x, tf.float32) * 2.0 - 1.0
        batch = tf.shape(x0)[0]
        t = self._training_noise(batch, "time")  # t ~ U{1, …, T} (0-based)
        noise = self._training_noise(batch, "epsilon")  # ε ~ N(0, I)
        x_t = self.diffuse(x0, t, noise)
        if self.prediction == "epsilon":
            target = noise
        else:  # v = √ᾱ_t ε − √(1 − ᾱ_t) x_0
            root_a, root_1ma = self._scales(t)
            target = root_a * noise - root_1ma * x0
        with tf.GradientTape() as tape:
            out = self.network([x_t, tf.cast(t, tf.float32)], training=True)
            per_example = tf.gather(self._loss_weights, t) * tf.reduce_mean(
                tf.square(target - tf.cast(out, tf.float32)), axis=[1, 2, 3])
            loss = tf.nn.compute_average_loss(per_example)
            scaled = self.optimizer.scale_loss(loss)
        weights = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        self.update_ema()
        self.loss_tracker.update_state(tf.reduce_mean(per_example))
        return {"loss": self.loss_tracker.result()}

    def update_ema(self) -> None:
        """θ_EMA ← d θ_EMA + (1 − d) θ, with d = min(ema_decay, (1 + n)/(10 + n)) after n steps (a warm-up,
        so the first steps' random weights fade quickly)."""
        n = tf.cast(self.optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + n) / (10.0 + n))
        for ema, weight in zip(self.ema_network.weights, self.network.weights):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(weight, ema.dtype))

    def test_step(self, data):
        """‖ε − ε̂‖² per pixel on a held-out batch (unweighted, whatever the network predicts, so runs compare),
        t and ε from a fixed seed, the moving-average weights."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        x0 = tf.cast(x, tf.float32) * 2.0 - 1.0
        batch = tf.shape(x0)[0]
        t = tf.random.stateless_uniform([batch], [self.seed, 7], 0, self.timesteps, dtype=tf.int32)
        noise = tf.random.stateless_normal(tf.shape(x0), [self.seed, 8])
        eps = self.predict_noise(self.diffuse(x0, t, noise), t)
        self.loss_tracker.update_state(tf.reduce_mean(tf.square(noise - eps)))
        return {"loss": self.loss_tracker.result()}

    # --- the reverse process ------------------------------------------------------------------------
    def predict_noise(self, x_t, t, ema: bool = True):
        """ε_θ(x_t, t) in inference mode.

        Args:
            x_t: noisy images in [−1, 1], (batch, H, W, C).
            t: 0-based step indices (batch,) or a scalar for all.
            ema: use the moving average's weights.

        Returns:
            ε̂, float32, the shape of x_t.
        """
        x_t = tf.convert_to_tensor(x_t, tf.float32)
        t = tf.broadcast_to(t, tf.shape(x_t)[:1])
        network = self.ema_network if ema else self.network
        out = tf.cast(network([x_t, tf.cast(t, tf.float32)], training=False), tf.float32)
        if self.prediction == "epsilon":
            return out
        root_a, root_1ma = self._scales(tf.cast(t, tf.int32))
        return root_1ma * x_t + root_a * out  # ε = √(1 − ᾱ_t) x_t + √ᾱ_t v

    def ddim_step(self, x_t, t, t_prev, eps, eta=0.0, noise=None):
        """One DDIM step, x_t → x_{t_prev}, from the noise ε̂ predicted at (x_t, t) (Song et al., eq. 12).

            x̂_0 = clip((x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t, −1, 1),   ε̃ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t),
            x_{t_prev} = √ᾱ_{t_prev} x̂_0 + √(1 − ᾱ_{t_prev} − σ²) ε̃ + σ z,
            σ = η √((1 − ᾱ_{t_prev})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t_prev}).

        ε̃ is the noise the clipped x̂_0 implies (equal to ε̂ unless the clip moved x̂_0), so the step stays on
        the line from x̂_0 through x_t. With t_prev = −1 the step goes to x_0 (ᾱ = 1): it returns x̂_0.

        Args:
            x_t: (batch, H, W, C), in the chain's [−1, 1] scale.
            t: the current 0-based index (scalar int).
            t_prev: the next, earlier index (scalar int; −1 for x_0).
            eps: ε̂, the network's noise at (x_t, t), the shape of x_t.
            eta: η: 0 deterministic (DDIM); 1 with every step: DDPM's ancestral step (σ² = β̃_t).
            noise: z ~ N(0, I), the shape of x_t (used when η > 0).

        Returns:
            x_{t_prev}.
        """
        a_t = tf.gather(self._alpha_bars, t)
        a_prev = tf.where(t_prev >= 0, tf.gather(self._alpha_bars, tf.maximum(t_prev, 0)), 1.0)
        x0 = tf.clip_by_value((x_t - tf.sqrt(1.0 - a_t) * eps) / tf.sqrt(a_t), -1.0, 1.0)
        eps = (x_t - tf.sqrt(a_t) * x0) / tf.sqrt(1.0 - a_t)  # ε̃: unchanged unless the clip moved x̂_0
        sigma = tf.cast(eta, tf.float32) * tf.sqrt((1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev))
        x_prev = tf.sqrt(a_prev) * x0 + tf.sqrt(tf.maximum(1.0 - a_prev - sigma ** 2, 0.0)) * eps
        if noise is not None:
            x_prev += sigma * noise
        return x_prev

    def denoise_from(self, x_T, steps, eta=0.0, ema: bool = True, snapshots: int = 0):
        """Runs the reverse chain from x_T: `steps` DDIM steps down the sub-sequence τ, in one `tf.while_loop`.

        Step i (i = 0 … S − 1) goes from t = τ_{S−i} to t_prev = τ_{S−i−1} (−1, x_0, after the last): ε̂ from
        the network, z from the chain's seed (`chain_seed(x_T)`, counter i), then `ddim_step`.

        Args:
            x_T: the start, N(0, I) noise (batch, H, W, C).
            steps: S, network evaluations (scalar int, 1 … T), on the evenly spaced `sampling_timesteps`.
            eta: η (0: deterministic DDIM; 1 and steps = T: DDPM).
            ema: use the moving average's weights.
            snapshots: also return x at this many evenly spaced points along the chain (0: none; at most
                `steps`).

        Returns:
            Images in [0, 1], float32, the shape of x_T; with `snapshots`, also (snapshots, batch, H, W, C)
            of the chain's x mapped to [0, 1] (the last is the result).
        """
        x_T = tf.cast(x_T, tf.float32)
        taus = sampling_timesteps(steps, self.timesteps)  # τ_1 < … < τ_S
        previous = tf.concat([[-1], taus[:-1]], 0)  # previous[k]: where the step from taus[k] lands
        n = tf.shape(taus)[0]
        seed = chain_seed(x_T)

        def step(i, x):
            t, t_prev = taus[n - 1 - i], previous[n - 1 - i]
            z = tf.random.stateless_normal(tf.shape(x), noise_seed(seed, "step", i))
            return self.ddim_step(x, t, t_prev, self.predict_noise(x, t, ema), eta, z)

        keep = max(int(snapshots), 1)
        if snapshots:
            tf.debugging.assert_less_equal(keep, n, message="snapshots must not exceed steps")
        history = tf.TensorArray(tf.float32, size=keep)
        # Snapshot k (of `keep`) is taken after step ⌈(k + 1)·n/keep⌉ − 1.
        marks = tf.cast(tf.math.ceil(tf.cast(tf.range(1, keep + 1) * n, tf.float32) / keep), tf.int32) - 1

        def body(i, x, history, saved):
            x = step(i, x)
            take = tf.logical_and(saved < keep, tf.equal(i, tf.gather(marks, tf.minimum(saved, keep - 1))))
            history = tf.cond(take, lambda: history.write(saved, (x + 1.0) / 2.0), lambda: history)
            return i + 1, x, history, saved + tf.cast(take, tf.int32)

        _, x, history, _ = tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), x_T, history, tf.constant(0)))
        images = tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0)
        if snapshots:
            return images, history.stack()
        return images

    def initial_noise(self, num_samples, seed):
        """x_T ~ N(0, I) for `num_samples` images from `seed` (the same seed, the same noise)."""
        shape = tf.concat([tf.reshape(tf.cast(num_samples, tf.int32), [1]), self.image_shape], 0)
        return tf.random.stateless_normal(shape, noise_seed(seed, "initial"))

    def sample(self, num_samples, seed, steps, eta=0.0):
        """`num_samples` images from `seed` with `steps` network evaluations (DDIM; η = 1, steps = T: DDPM):
        the chain from x_T = `initial_noise(num_samples, seed)`, so `Sampler` given that x_T draws the same.

        Returns:
            float32 (num_samples, H, W, C) in [0, 1].
        """
        return self.denoise_from(self.initial_noise(num_samples, seed), steps, eta)


def build_diffusion(widths=(32, 64, 128), blocks: int = 1, attention: bool = True, schedule: str = "cosine",
                    timesteps: int = 1000, ema_decay: float = 0.999, seed: int = 0,
                    image_shape=IMAGE_SHAPE, prediction: str = "epsilon",
                    min_snr_gamma: float | None = None) -> Diffusion:
    """A `Diffusion` model around a fresh `build_unet`.

    Args:
        widths: the U-Net's channels per resolution.
        blocks: residual blocks per resolution on each side.
        attention: self-attention at the coarsest resolution.
        schedule: "cosine" or "linear".
        timesteps: T.
        ema_decay: the moving average's decay.
        seed: seeds the weights' initialisation and the training noise.
        image_shape: (H, W, C).
        prediction: "epsilon" or "velocity".
        min_snr_gamma: γ of the min-SNR-γ loss weights, or None.

    Returns:
        The `Diffusion` model.
    """
    keras.utils.set_random_seed(seed)
    return Diffusion(build_unet(image_shape, widths, blocks, attention), schedule=schedule, timesteps=timesteps,
                     ema_decay=ema_decay, seed=seed, prediction=prediction, min_snr_gamma=min_snr_gamma)


class Sampler:
    """x_T → x_0 with a fixed number of DDIM steps, compiled once: the "generator" a GAN's judge calls.

    With η = 0 the reverse chain is a deterministic map of x_T, so fixed x_T play the part of a GAN's fixed z:
    the same noise every epoch shows how the same samples improve. With η > 0 the steps' noise z is seeded
    from x_T itself (`chain_seed`), as in every sampler here, so the same x_T still gives the same image and
    batches of different x_T get different z. `steps` and `eta` may change between calls (no retracing: they
    are tensor inputs of the compiled loop).

    Args:
        model: the `Diffusion` model.
        steps: network evaluations per sample.
        eta: η (0: deterministic DDIM).
        ema: use the moving average's weights.
    """

    def __init__(self, model: Diffusion, steps: int = 50, eta: float = 0.0, ema: bool = True):
        self.model, self.steps, self.eta, self.ema = model, int(steps), float(eta), ema
        self._run = tf.function(lambda x_T, steps, eta: model.denoise_from(x_T, steps, eta, ema=ema),
                                input_signature=[tf.TensorSpec([None, *model.image_shape], tf.float32),
                                                 tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])

    def __call__(self, x_T) -> tf.Tensor:
        """Images in [0, 1] from noise x_T (batch, H, W, C)."""
        return self._run(tf.convert_to_tensor(x_T, tf.float32), tf.constant(self.steps), tf.constant(self.eta))
