"""Normalizing flows: RealNVP (Dinh et al.) from TensorFlow Probability bijectors, with Keras networks inside.

A flow is an invertible map f from data x to a latent z with a simple density p_z = N(0, I), so the data's
density is exact (change of variables):
    log p(x) = log p_z(f(x)) + log |det ∂f(x)/∂xᵀ|
It is trained by maximum likelihood, encodes exactly (z = f(x)) and samples by the inverse (x = f⁻¹(z)).
RealNVP builds f from affine couplings: split x = (x_a, x_b), keep x_a and map
    y_b = x_b ⊙ exp(s(x_a)) + t(x_a),   log |det| = Σ s(x_a),
where s and t (one Keras network here) may be any function, as the Jacobian is triangular. Alternating
which half is kept (checkerboard and channel masks on images) lets every variable change.

TFP's bijectors take a Keras 3 network only through a plain function (`shift_and_log_scale_fn`), and the
`TransformedDistribution` built from them does not track the network's variables. So `RealNVPFlow` is a
Keras `Model` that owns the networks (`CouplingNet`) and activation normalisations (`ActNorm`), trains,
saves and reloads them as any Keras model, and builds the bijector chain from them on each call.

Images: pixel k ∈ {0, …, 255} is dequantized to v = k + u, u ~ U(0, 1), and mapped through
y = logit(α + (1 − 2α) v / 256) before the couplings; both maps' Jacobians are part of the chain, so
−log p(v) is an upper bound on −log P(k) in nats and `bits_per_dim` = −log p(v) / (D ln 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb, tfd = tfp.bijectors, tfp.distributions

register = keras.saving.register_keras_serializable(package="gen_keras")


def bits_per_dim(nll_nats: float | np.ndarray, num_dims: int) -> float | np.ndarray:
    """Converts a negative log-likelihood in nats per example to bits per dimension: nll / (D ln 2).

    Args:
        nll_nats: −log p(x) in nats, per example (or their mean).
        num_dims: D, the number of dimensions of one example (784 for a 28×28 image).

    Returns:
        The same quantity in bits per dimension.
    """
    return np.asarray(nll_nats) / (num_dims * math.log(2.0))


@register
class CouplingNet(keras.Model):
    """The shift t(x_a) and log-scale s(x_a) of one affine coupling, as one Keras network.

    Dense (vectors): `layers` Dense(units, relu) layers; convolutional (images): `layers` Conv2D(units, 3,
    relu) layers. A zero-initialised last layer makes every coupling start as the identity; the log-scale
    is bounded, s = c ⊙ tanh(raw), with a learned c per output.

    Args:
        input_shape: shape of x_a without the batch axis, e.g. (1,) or (14, 14, 2).
        output_units: the size (channels, for images) of x_b.
        units: width of the hidden layers (channels, for images).
        layers: number of hidden layers.
    """

    def __init__(self, input_shape: Sequence[int], output_units: int, units: int = 128, layers: int = 2,
                 **kwargs):
        super().__init__(**kwargs)
        self.in_shape = tuple(int(d) for d in input_shape)
        self.output_units, self.units, self.num_layers = int(output_units), int(units), int(layers)
        conv = len(self.in_shape) == 3
        dtype = self.dtype_policy  # the network's own (a flow keeps float32, see `RealNVPFlow`)
        if conv:
            self.hidden = [keras.layers.Conv2D(units, 3, padding="same", activation="relu", dtype=dtype)
                           for _ in range(layers)]
            self.head = keras.layers.Conv2D(2 * output_units, 3, padding="same", kernel_initializer="zeros",
                                            dtype=dtype)
        else:
            self.hidden = [keras.layers.Dense(units, activation="relu", dtype=dtype) for _ in range(layers)]
            self.head = keras.layers.Dense(2 * output_units, kernel_initializer="zeros", dtype=dtype)
        shape = (None, *self.in_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.head.build(shape)
        self.log_scale_factor = self.add_weight(shape=(self.output_units,), initializer="ones",
                                                name="log_scale_factor")
        self.built = True

    def build(self, input_shape=None):
        self.built = True

    def call(self, x_a):
        h = x_a
        for layer in self.hidden:
            h = layer(h)
        shift, raw = tf.split(self.head(h), 2, axis=-1)
        return shift, self.log_scale_factor * tf.tanh(raw)

    def get_config(self):
        return {**super().get_config(), "input_shape": self.in_shape, "output_units": self.output_units,
                "units": self.units, "layers": self.num_layers}


@register
class ActNorm(keras.layers.Layer):
    """Activation normalisation (Glow): z = (x + b) ⊙ exp(s), one b and s per channel (last axis).

    Starts as the identity; `RealNVPFlow.initialize` sets b and s so a batch of data leaves it with zero
    mean and unit variance per channel. log |det| = (number of positions) · Σ s.

    Args:
        channels: size of the last axis.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")
        self.log_scale = self.add_weight(shape=(self.channels,), initializer="zeros", name="log_scale")
        self.built = True

    def bijector(self) -> tfb.Bijector:
        """The map x → (x + b) ⊙ exp(s) as a TFP bijector (reading the current weights)."""
        return tfb.Chain([tfb.Scale(log_scale=tf.convert_to_tensor(self.log_scale)),
                          tfb.Shift(tf.convert_to_tensor(self.bias))], name="actnorm")

    def call(self, x):
        return (x + self.bias) * tf.exp(self.log_scale)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _squeeze(shape: Sequence[int]) -> tuple[tfb.Bijector, tuple[int, int, int]]:
    """Space-to-depth as bijectors: (H, W, C) → (H/2, W/2, 4C); channel index (2 dy + dx) C + c."""
    h, w, c = shape
    new = (h // 2, w // 2, 4 * c)
    chain = tfb.Chain([  # applied right to left
        tfb.Reshape(event_shape_out=new, event_shape_in=(h // 2, w // 2, 2, 2, c)),
        tfb.Transpose(perm=[0, 2, 1, 3, 4]),
        tfb.Reshape(event_shape_out=(h // 2, 2, w // 2, 2, c), event_shape_in=(h, w, c)),
    ], name="squeeze")
    return chain, new


def _coupling_orders(channels: int, checkerboard_of: int | None, count: int) -> list[list[int]]:
    """Channel orders putting the kept half first: alternating halves, or checkerboard sets after a squeeze
    of a `checkerboard_of`-channel image (pixels with dy = dx, then the others)."""
    if checkerboard_of:
        c = checkerboard_of
        a = [k for k in range(channels) if k // c in (0, 3)]
    else:
        a = list(range(channels // 2))
    b = [k for k in range(channels) if k not in a]
    return [a + b if i % 2 == 0 else b + a for i in range(count)]


@register
class RealNVPFlow(keras.Model):
    """RealNVP: affine couplings with activation normalisation, as a chain of TFP bijectors.

    `call(x)` returns log p(x) in nats per example (training: images dequantized with uniform noise;
    inference: at the bin's centre, k + ½). Vectors (`event_shape` of rank 1): `num_couplings` couplings
    alternating which half is kept (the first ⌊D/2⌋ or the rest). Images (rank 3, `pixel_levels` set): the
    dequantization and logit maps, then per scale a squeeze (H, W, C) → (H/2, W/2, 4C) and `num_couplings`
    couplings, checkerboard masks at the first scale and channel masks after.

    Args:
        event_shape: one example's shape, e.g. (2,) or (28, 28, 1).
        num_couplings: couplings per scale.
        units: width of each coupling network's hidden layers (channels, for images).
        layers: hidden layers per coupling network.
        scales: squeezes for images (0 for vectors).
        pixel_levels: 256 for 8-bit images (dequantize and logit-transform); None for real-valued vectors.
        alpha: the logit transform's margin α.
        seed: seed of the dequantization noise.
    """

    def __init__(self, event_shape: Sequence[int], num_couplings: int = 8, units: int = 128, layers: int = 2,
                 scales: int = 0, pixel_levels: int | None = None, alpha: float = 0.05, seed: int = 0,
                 **kwargs):
        # float32 whatever the global policy: TFP's bijectors take one dtype, and log-determinants summed
        # over 784 dimensions need float32's precision (--mixed-precision leaves the flow as it is)
        super().__init__(**{**kwargs, "dtype": "float32"})
        self.event_shape = tuple(int(d) for d in event_shape)
        self.num_couplings, self.units, self.num_layers = int(num_couplings), int(units), int(layers)
        self.scales, self.alpha, self.seed = int(scales), float(alpha), int(seed)
        self.pixel_levels = None if pixel_levels is None else int(pixel_levels)
        self.num_dims = int(np.prod(self.event_shape))
        images = len(self.event_shape) == 3
        if images and self.scales < 1:
            raise ValueError("image flows need at least one scale (squeeze)")
        if images and any(d % 2 ** self.scales for d in self.event_shape[:2]):
            raise ValueError(f"height and width {self.event_shape[:2]} must be divisible by 2^{self.scales}")
        self.nets, self.actnorms = [], []
        shape = self.event_shape
        stages = []
        if images:
            for s in range(self.scales):
                _, shape = _squeeze(shape)
                stages.append((shape, self.event_shape[-1] if s == 0 else None))
        else:
            stages.append((shape, None))
        self.z_shape = shape
        for shape, checkerboard_of in stages:
            channels = shape[-1]
            for order in _coupling_orders(channels, checkerboard_of, self.num_couplings):
                kept = len(order) // 2
                self.actnorms.append(ActNorm(channels, name=f"actnorm_{len(self.actnorms)}", dtype="float32"))
                self.nets.append(CouplingNet((*shape[:-1], kept), channels - kept, self.units, self.num_layers,
                                             name=f"coupling_{len(self.nets)}", dtype="float32"))
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True

    def build(self, input_shape=None):
        self.built = True

    # -- the bijector chain, data → z -------------------------------------------------------------------
    def steps(self) -> list[tuple[tfb.Bijector, ActNorm | None]]:
        """The flow's maps from data to z in order, each a TFP bijector (with its `ActNorm`, if it is one).

        Returns:
            [(bijector, actnorm or None), ...]: composing the bijectors' `forward`s in order gives z = f(x).
        """
        steps = []
        shape = self.event_shape
        if self.pixel_levels:  # v ∈ (0, L) → v / L → α + (1 − 2α) v / L → logit(·)
            steps += [(tfb.Scale(1.0 / self.pixel_levels), None), (tfb.Scale(1.0 - 2 * self.alpha), None),
                      (tfb.Shift(self.alpha), None), (tfb.Invert(tfb.Sigmoid(), name="logit"), None)]
        n = 0
        for s in range(max(self.scales, 1)):
            checkerboard_of = None
            if len(self.event_shape) == 3:
                squeeze, shape = _squeeze(shape)
                steps.append((squeeze, None))
                checkerboard_of = self.event_shape[-1] if s == 0 else None
            channels = shape[-1]
            for order in _coupling_orders(channels, checkerboard_of, self.num_couplings):
                actnorm, net = self.actnorms[n], self.nets[n]
                n += 1
                steps.append((actnorm.bijector(), actnorm))
                inverse_order = list(np.argsort(order))
                steps += [
                    (tfb.Permute(order, axis=-1), None),
                    (tfb.RealNVP(num_masked=len(order) // 2,
                                 shift_and_log_scale_fn=lambda x_a, output_units, net=net: net(x_a)), None),
                    (tfb.Permute(inverse_order, axis=-1), None),
                ]
        return steps

    def bijector(self) -> tfb.Bijector:
        """f: data → z as one `tfb.Chain` (its `forward` encodes, its `inverse` decodes)."""
        # Named: TFP's default names a chain after all its parts ("chain_of_permute_15_of_real_nvp_7_of_…"),
        # and every op's name repeats it, which made an exported graph ten times larger
        return tfb.Chain([b for b, _ in reversed(self.steps())], name="flow")

    def distribution(self) -> tfd.Distribution:
        """p(x): N(0, I) on z pushed through f⁻¹, a `tfd.TransformedDistribution` over v (images) or x."""
        base = tfd.Sample(tfd.Normal(0.0, 1.0), sample_shape=self.z_shape)
        return tfd.TransformedDistribution(base, tfb.Invert(self.bijector(), name="generate"), name="flow")

    # -- the data's units ----------------------------------------------------------------------------------
    def _to_flow_space(self, x, noise=None):
        """Images in [0, 1] (pixel k / (L − 1)) → v = k + u; u = `noise`, or ½ (the bin's centre)."""
        x = tf.convert_to_tensor(x, tf.float32)
        if not self.pixel_levels:
            return x
        k = tf.round(x * (self.pixel_levels - 1))
        return k + (0.5 if noise is None else noise)

    def _from_flow_space(self, v):
        if not self.pixel_levels:
            return v
        return tf.clip_by_value((v - 0.5) / (self.pixel_levels - 1), 0.0, 1.0)

    def log_prob(self, x, noise=None):
        """log p(x) in nats per example, every Jacobian included.

        Args:
            x: a batch of examples; images as floats in [0, 1] (k / 255).
            noise: images only: the dequantization u ∈ [0, 1) per pixel (same shape as x); None for ½.

        Returns:
            A (batch,) float32 tensor: log p(v) for images (v = k + u, an estimate of log P(k)), log p(x)
            for vectors.
        """
        return self.distribution().log_prob(self._to_flow_space(x, noise))

    def encode(self, x):
        """z = f(x), exactly (images at the bin's centre).

        Args:
            x: a batch of examples.

        Returns:
            z, shaped (batch, *z_shape).
        """
        return self.bijector().forward(self._to_flow_space(x))

    def decode(self, z):
        """x = f⁻¹(z) (images clipped to [0, 1]).

        Args:
            z: a batch of latents shaped (batch, *z_shape).

        Returns:
            The examples, shaped (batch, *event_shape).
        """
        return self._from_flow_space(self.bijector().inverse(tf.convert_to_tensor(z, tf.float32)))

    def sample(self, num_samples, seed=0, temperature: float = 1.0):
        """Draws x = f⁻¹(T ε), ε ~ N(0, I): temperature T < 1 trades variety for typical samples.

        Args:
            num_samples: how many.
            seed: an int (or int tensor): the same seed gives the same samples.
            temperature: T > 0, the standard deviation of z.

        Returns:
            (num_samples, *event_shape) examples.
        """
        seed = tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])
        z = tf.random.stateless_normal(tf.concat([[num_samples], self.z_shape], 0), seed=seed)
        return self.decode(z * tf.cast(temperature, tf.float32))

    def call(self, x, training=False):
        noise = None
        if training and self.pixel_levels:
            noise = keras.random.uniform(tf.shape(x), seed=self.noise)
        return self.log_prob(x, noise)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The training loss: −mean log p(x), in bits per dimension for images, in nats per example for vectors."""
        nll = -tf.reduce_mean(y_pred)
        if self.pixel_levels:
            nll = nll / (self.num_dims * math.log(2.0))
        return nll

    @property
    def loss_units(self) -> str:
        """The unit of `compute_loss`: "bits/dim" (images) or "nats" (per example)."""
        return "bits/dim" if self.pixel_levels else "nats"

    def initialize(self, x) -> None:
        """Data-dependent start (Glow): each `ActNorm` is set so this batch leaves it with zero mean and
        unit variance per channel, step by step through the chain.

        Args:
            x: a batch of training examples (a few hundred).
        """
        h = self._to_flow_space(x, tf.fill(tf.shape(x), 0.5) if self.pixel_levels else None)
        for bijector, actnorm in self.steps():
            if actnorm is not None:
                axes = list(range(len(h.shape) - 1))
                mean, var = tf.nn.moments(h, axes)
                actnorm.bias.assign(-mean)
                actnorm.log_scale.assign(-0.5 * tf.math.log(var + 1e-6))
                bijector = actnorm.bijector()
            h = bijector.forward(h)

    def get_config(self):
        return {**super().get_config(), "event_shape": self.event_shape, "num_couplings": self.num_couplings,
                "units": self.units, "layers": self.num_layers, "scales": self.scales,
                "pixel_levels": self.pixel_levels, "alpha": self.alpha, "seed": self.seed}


def moons_flow(num_couplings: int = 8, units: int = 128, seed: int = 0) -> RealNVPFlow:
    """keras-io's two-moons RealNVP: `num_couplings` couplings on 2-D points, each network 2 × Dense(units, relu).

    Args:
        num_couplings: affine couplings (alternating which coordinate is kept).
        units: width of the two hidden layers of each coupling network.
        seed: unused by vectors (no dequantization); kept in the config.

    Returns:
        A built `RealNVPFlow` over (2,).
    """
    return RealNVPFlow((2,), num_couplings=num_couplings, units=units, layers=2, seed=seed, name="moons_flow")


def image_flow(image_shape: Sequence[int] = (28, 28, 1), num_couplings: int = 4, units: int = 64,
               layers: int = 2, scales: int = 2, seed: int = 0) -> RealNVPFlow:
    """A multi-scale RealNVP for 8-bit images: dequantize, logit, then per scale a squeeze and couplings.

    Args:
        image_shape: (H, W, C), H and W divisible by 2^scales.
        num_couplings: couplings per scale (checkerboard masks at the first, channel masks after).
        units: channels of each coupling network's 3×3 convolutions.
        layers: convolutions per coupling network (before its zero-initialised head).
        scales: squeezes.
        seed: seed of the dequantization noise.

    Returns:
        A built `RealNVPFlow` over `image_shape`, pixel_levels 256.
    """
    return RealNVPFlow(image_shape, num_couplings=num_couplings, units=units, layers=layers, scales=scales,
                       pixel_levels=256, seed=seed, name="image_flow")
