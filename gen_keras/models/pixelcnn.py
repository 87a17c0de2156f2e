"""PixelCNN: an explicit, tractable density p(x) = Π_i p(x_i | x_<i) over pixels in raster order.

Each pixel of a binary image is a Bernoulli variable whose logit is computed from the pixels above it and
to its left only, by masked convolutions (van den Oord et al., 2016, "Pixel Recurrent Neural Networks"):
    type A (first layer): the kernel sees the rows above and the pixels to the left, not the pixel itself;
    type B (later layers): the same plus the centre, i.e. the feature computed there from earlier pixels.
A plain stack of such k × k layers has a blind spot: pixels above and to the right of the centre, beyond
one column per layer, never reach it. Gated PixelCNN blocks (van den Oord et al., 2016, "Conditional Image
Generation with PixelCNN Decoders") split each layer into a vertical stack (every pixel of the rows
above, shifted down one row before it feeds the other stack) and a horizontal stack (the pixels to the
left in the same row), joined by gated activations tanh(W_f ∗ x) ⊙ σ(W_g ∗ x): no blind spot.

The exact log-likelihood in nats per image:
    log p(x) = Σ_i [x_i log σ(l_i) + (1 − x_i) log(1 − σ(l_i))] = −Σ_i [softplus(l_i) − x_i l_i].
Sampling is sequential: 784 passes of the network, one new pixel each, inside one `tf.while_loop`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gen_keras.losses import bernoulli_nll, per_replica_share

MASK_TYPES = ("A", "B", "vertical")
BINARIZATIONS = ("stochastic", "threshold")
FIRST_KERNEL_SIZE = 7  # the first layer's kernel (7 × 7 type A in the first PixelCNN, 7 × 7 / 1 × 7 when gated)


def causal_mask(kernel_size: tuple[int, int], mask_type: str) -> np.ndarray:
    """The 0/1 mask of a masked convolution's kernel, (kh, kw).

    Formula, centre (ch, cw) = (kh // 2, kw // 2):
        "A": 1 on rows < ch, and on row ch at columns < cw (the pixel itself excluded);
        "B": as "A", plus the centre;
        "vertical": 1 on rows ≤ ch, every column (a gated block's vertical stack, shifted down afterwards).

    Args:
        kernel_size: (kh, kw), odd sizes.
        mask_type: "A", "B" or "vertical".

    Returns:
        `np.ndarray` of float32, (kh, kw).

    Raises:
        ValueError: an unknown mask type or an even kernel size.
    """
    kh, kw = kernel_size
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"masked convolutions need odd kernel sizes, got {kernel_size}")
    ch, cw = kh // 2, kw // 2
    mask = np.zeros((kh, kw), np.float32)
    if mask_type == "vertical":
        mask[: ch + 1] = 1.0
        return mask
    mask[:ch] = 1.0
    mask[ch, : cw + (mask_type == "B")] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="gen_keras")
class MaskedConv2D(layers.Conv2D):
    """A "same"-padded Conv2D whose kernel is multiplied by a constant causal mask in every call.

    The mask is applied inside the computation (y = conv(x, W ⊙ M) + b), never written into the weights:
    an exported model reads its variables and changes none of them.

    Args:
        filters: output channels.
        kernel_size: an odd size, or (kh, kw).
        mask_type: "A", "B" or "vertical" (see `causal_mask`).
        **kwargs: `keras.layers.Conv2D` arguments (`activation`, `name`, …); padding is always "same".
    """

    def __init__(self, filters: int, kernel_size, mask_type: str = "B", **kwargs):
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.mask_type = mask_type
        self.mask = causal_mask(tuple(self.kernel_size), mask_type)[:, :, None, None]

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * ops.convert_to_tensor(self.mask, kernel.dtype))

    def get_config(self):
        config = super().get_config()
        config.pop("padding", None)
        return {**config, "mask_type": self.mask_type}


def _gate(x):
    """tanh(a) ⊙ σ(b) for x = [a, b] split along channels."""
    a, b = ops.split(x, 2, axis=-1)
    return ops.tanh(a) * ops.sigmoid(b)


def _shift_down(x):
    """Moves every row down by one (a zero row on top): the feature at row i then depends on rows < i.

    A plain slice, not `x[:, :-1]`: a slice's gradient is a pad, a strided slice's a `StridedSliceGrad`, the
    op with the most thread time in a profile of the training step (docs/results/performance.md)."""
    shape = ops.shape(x)
    return ops.slice(ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]]), [0, 0, 0, 0], shape)


@keras.saving.register_keras_serializable(package="gen_keras")
class GatedBlock(layers.Layer):
    """One gated PixelCNN layer: a vertical and a horizontal stack, with an optional class bias.

    Formula (∗ a masked convolution, ↓ a shift down by one row, h_y a per-class bias):
        v' = gate(V ∗ v + h_y),  h' = h + 1x1(gate(H ∗ h + 1x1(↓(V ∗ v)) + h_y))   (no residual when `first`)
    with gate([a, b]) = tanh(a) ⊙ σ(b). V is k × k with the "vertical" mask, H is 1 × k with mask "A" in
    the first block (the input pixel itself excluded) and "B" after.

    Args:
        filters: channels of both stacks.
        kernel_size: k, odd.
        first: the first block, reading the image (mask "A", no residual connection).
        num_classes: classes of the label the block is conditioned on; 0 for none.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, filters: int, kernel_size: int = 3, first: bool = False, num_classes: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.first, self.num_classes = filters, kernel_size, first, num_classes
        self.vertical = MaskedConv2D(2 * filters, kernel_size, "vertical", name="vertical")
        self.horizontal = MaskedConv2D(2 * filters, (1, kernel_size), "A" if first else "B", name="horizontal")
        self.vertical_to_horizontal = layers.Conv2D(2 * filters, 1, name="vertical_to_horizontal")
        self.horizontal_out = layers.Conv2D(filters, 1, name="horizontal_out")
        self.class_bias = (layers.Embedding(num_classes, 4 * filters, name="class_bias") if num_classes else None)

    def build(self, input_shape):
        v_shape, h_shape = input_shape[0], input_shape[1]
        self.vertical.build(v_shape)
        self.horizontal.build(h_shape)
        self.vertical_to_horizontal.build((*v_shape[:-1], 2 * self.filters))
        self.horizontal_out.build((*h_shape[:-1], self.filters))
        if self.class_bias is not None:
            self.class_bias.build((None,))
        self.built = True

    def call(self, inputs):
        v, h = inputs[0], inputs[1]
        v_features = self.vertical(v)
        h_features = self.horizontal(h) + self.vertical_to_horizontal(_shift_down(v_features))
        if self.class_bias is not None:
            bias = self.class_bias(ops.cast(inputs[2], "int32"))[:, None, None, :]
            v_bias, h_bias = ops.split(bias, 2, axis=-1)
            v_features, h_features = v_features + v_bias, h_features + h_bias
        v_out = _gate(v_features)
        h_out = self.horizontal_out(_gate(h_features))
        return v_out, (h_out if self.first else h + h_out)

    def compute_output_shape(self, input_shape):
        shape = (*input_shape[0][:-1], self.filters)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "first": self.first, "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="gen_keras")
class PixelCNN(keras.Model):
    """PixelCNN over binary images: one Bernoulli logit per pixel from the pixels before it in raster order.

    Calling it maps images (batch, H, W, 1) in {0, 1} (and, when conditional, labels (batch,)) to logits
    (batch, H, W, 1); the logit at (i, j) depends only on the pixels before (i, j). Trained on the negative
    log-likelihood, −log p(x) = Σ_i [softplus(l_i) − x_i l_i] nats per image.

    Args:
        blocks: gated blocks (or, with `gated=False`, masked k × k layers after the first).
        filters: channels of every layer.
        kernel_size: k of the blocks after the first (odd); the first reads the image with max(k, 7).
        gated: gated blocks with vertical and horizontal stacks (no blind spot); False: the plain stack of
            the first PixelCNN, a 7 × 7 type-A convolution then k × k type-B ones (it has a blind spot).
        num_classes: condition on a class label in 0 … num_classes − 1; 0: unconditional.
        image_shape: (H, W, 1).
        binarize: the training images' binarization, drawn in each training step: "stochastic" (a fresh
            x_b ~ Bernoulli(x) every step) or "threshold" (x ≥ 0.5); None: the images are binary already.
        seed: seeds the stochastic binarization; None for random draws.
        **kwargs: `keras.Model` arguments (`name`, …).

    Raises:
        ValueError: an unknown binarization, or an image with more than one channel.
    """

    def __init__(self, blocks: int = 5, filters: int = 32, kernel_size: int = 3, gated: bool = True,
                 num_classes: int = 0, image_shape=(28, 28, 1), binarize: str | None = "stochastic",
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if binarize not in (None, *BINARIZATIONS):
            raise ValueError(f"binarize must be one of {BINARIZATIONS} or None, got {binarize!r}")
        if tuple(image_shape)[-1] != 1:
            raise ValueError(f"PixelCNN models binary single-channel images; got image shape {tuple(image_shape)}")
        self.blocks, self.filters, self.kernel_size, self.gated = blocks, filters, kernel_size, gated
        self.num_classes, self.image_shape = num_classes, tuple(int(d) for d in image_shape)
        self.binarize, self.seed = binarize, seed
        self.binarize_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        if gated:
            # The first block reads the one-channel image: a wider kernel there is cheap and widens the view.
            self.stack = [GatedBlock(filters, max(kernel_size, FIRST_KERNEL_SIZE) if i == 0 else kernel_size,
                                     first=i == 0, num_classes=num_classes, name=f"gated_block_{i}")
                          for i in range(blocks)]
        else:
            self.stack = [MaskedConv2D(filters, 7, "A", activation="relu", name="masked_a")] + [
                MaskedConv2D(filters, kernel_size, "B", activation="relu", name=f"masked_b_{i}")
                for i in range(blocks)]
            self.class_bias = (layers.Embedding(num_classes, filters, name="class_bias") if num_classes else None)
        self.head = [layers.Conv2D(filters, 1, activation="relu", name="head_hidden"),
                     layers.Conv2D(1, 1, name="logits")]

    @property
    def conditional(self) -> bool:
        """Whether the model takes a class label beside the image."""
        return self.num_classes > 0

    def call(self, inputs, training=None):
        """Logits (batch, H, W, 1) of p(x_i = 1 | x_<i) for images (batch, H, W, 1) [, labels (batch,)]."""
        if self.conditional:
            x, labels = inputs[0], inputs[1]
        else:
            x, labels = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs), None
        x = ops.cast(x, self.compute_dtype)
        if self.gated:
            v = h = x
            for block in self.stack:
                v, h = block([v, h] if labels is None else [v, h, labels])
            features = h
        else:
            features = x
            for i, layer in enumerate(self.stack):
                features = layer(features)
                if i == 0 and labels is not None:
                    features = features + self.class_bias(ops.cast(labels, "int32"))[:, None, None, :]
        for layer in self.head:
            features = layer(features)
        return ops.cast(features, "float32")

    def build(self, input_shape=None):
        height, width, channels = self.image_shape
        shape = (None, height, width, channels)
        for layer in self.stack:
            layer.build([shape, shape] if self.gated else shape)
            shape = (None, height, width, self.filters)
        if not self.gated and self.class_bias is not None:
            self.class_bias.build((None,))
        for layer in self.head:
            layer.build(shape)
            shape = (None, height, width, layer.filters)
        self.built = True

    def _binarized(self, x):
        if self.binarize == "stochastic":  # x_b ~ Bernoulli(x), drawn anew each step
            return ops.cast(keras.random.uniform(ops.shape(x), seed=self.binarize_seed) < x, x.dtype)
        if self.binarize == "threshold":
            return ops.cast(x >= 0.5, x.dtype)
        return x

    def _step_inputs(self, data, binarize: bool):
        x, labels = (data[0], data[1]) if isinstance(data, (tuple, list)) else (data, None)
        if binarize:
            x = self._binarized(x)
        return x, (labels if self.conditional else None)

    def negative_log_likelihood(self, x, labels=None):
        """−log p(x) per image in nats: Σ over pixels of softplus(l) − x·l.

        Args:
            x: binary images (batch, H, W, 1) in {0, 1}.
            labels: int class labels (batch,), when conditional.

        Returns:
            float32 (batch,).
        """
        logits = self(x if labels is None else [x, labels], training=False)
        return bernoulli_nll(ops.cast(x, "float32"), logits)

    def log_prob(self, images, labels=None):
        """The exact log p(x) in nats per image (log p(x | y) when conditional).

        Args:
            images: binary images (batch, H, W, 1) in {0, 1}, float.
            labels: int class labels (batch,), required when conditional.

        Returns:
            float32 (batch,).
        """
        return -self.negative_log_likelihood(images, labels)

    def train_step(self, data):
        """One optimizer step on −log p(x) (nats per image) of a freshly binarized batch.

        Args:
            data: images, or (images, labels) (labels are used when conditional).

        Returns:
            The logged metrics: `loss`.
        """
        x, labels = self._step_inputs(data, binarize=True)
        with tf.GradientTape() as tape:
            loss = ops.mean(self.negative_log_likelihood(x, labels))
            scaled = self.optimizer.scale_loss(per_replica_share(loss))
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(loss, x)

    def test_step(self, data):
        """−log p(x) on a batch of validation images taken as given: binarize them once beforehand (with a
        fixed seed, `gen_keras.data.binarized`), so every evaluation scores the same bits."""
        x, labels = self._step_inputs(data, binarize=False)
        return self._record(ops.mean(self.negative_log_likelihood(x, labels)), x)

    def _record(self, loss, x):
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=ops.shape(x)[0])
        return {m.name: m.result() for m in self.metrics}

    def complete(self, images, start, seed, labels=None):
        """Draws the pixels from raster position `start` on, given those before it: one `tf.while_loop`.

        Each of the H·W − start iterations runs the network on the current canvas and draws pixel
        t ~ Bernoulli(σ(l_t)) with a stateless uniform seeded by (seed, t): the same seed gives the same
        images. Pixels before `start` are kept from `images` (start = 0: unconditional samples).

        Args:
            images: float32 (batch, H, W, 1); pixels before `start` are the given context.
            start: int32 scalar, the first raster position to draw, 0 … H·W.
            seed: int32 scalar.
            labels: int32 (batch,) when conditional.

        Returns:
            float32 (batch, H, W, 1) in {0, 1}.
        """
        height, width, _ = self.image_shape
        images = tf.convert_to_tensor(images, tf.float32)
        start = tf.cast(start, tf.int32)
        batch = tf.shape(images)[0]
        positions = tf.reshape(tf.range(height * width), (1, height, width, 1))
        canvas = images * tf.cast(positions < start, tf.float32)
        seed = tf.cast(seed, tf.int32)

        def body(t, canvas):
            logits = self(canvas if labels is None else [canvas, labels], training=False)
            logit = tf.reshape(logits, (batch, height * width))[:, t]
            u = tf.random.stateless_uniform(tf.shape(logit), seed=tf.stack([seed, t]))
            pixel = tf.cast(u < tf.sigmoid(logit), tf.float32)
            here = tf.cast(tf.equal(positions, t), tf.float32)
            return t + 1, canvas + here * pixel[:, None, None, None]

        _, canvas = tf.while_loop(lambda t, _: t < height * width, body, (start, canvas),
                                  shape_invariants=(start.shape, tf.TensorShape([None, height, width, 1])))
        return canvas

    def sample(self, num_samples, seed, labels=None):
        """`num_samples` images drawn pixel by pixel (see `complete`), in one compiled loop.

        Args:
            num_samples: int32 scalar, ≥ 1.
            seed: int32 scalar.
            labels: int32 (num_samples,) when conditional.

        Returns:
            float32 (num_samples, H, W, 1) in {0, 1}.
        """
        canvas = tf.zeros(tf.stack([tf.cast(num_samples, tf.int32), *self.image_shape]), tf.float32)
        return self.complete(canvas, 0, seed, labels)

    def get_config(self):
        return {**super().get_config(), "blocks": self.blocks, "filters": self.filters,
                "kernel_size": self.kernel_size, "gated": self.gated, "num_classes": self.num_classes,
                "image_shape": list(self.image_shape), "binarize": self.binarize, "seed": self.seed}


def build_pixelcnn(blocks: int = 5, filters: int = 32, *, kernel_size: int = 3, gated: bool = True,
                   num_classes: int = 0, image_shape=(28, 28, 1), binarize: str | None = "stochastic",
                   seed: int | None = None) -> PixelCNN:
    """A built `PixelCNN` (see its Args).

    Returns:
        The built `PixelCNN`.
    """
    model = PixelCNN(blocks, filters, kernel_size, gated, num_classes, image_shape, binarize, seed, name="pixelcnn")
    shape = (None, *model.image_shape)
    model.build([shape, (None,)] if num_classes else shape)  # the shapes of its inputs, as Keras saves them
    return model


def log_prob_in_batches(model: PixelCNN, images: np.ndarray, labels: np.ndarray | None = None,
                        batch_size: int = 500) -> np.ndarray:
    """The exact log p(x) in nats of every image, computed a batch at a time.

    Args:
        model: a `PixelCNN`.
        images: binary float32 images (N, H, W, 1) in {0, 1}.
        labels: int class labels (N,) when the model is conditional.
        batch_size: images per pass.

    Returns:
        `np.ndarray` of float64, (N,).
    """
    log_prob = tf.function(model.log_prob)
    parts = []
    for i in range(0, len(images), batch_size):
        x = tf.constant(images[i: i + batch_size], tf.float32)
        y = None if labels is None or not model.conditional else tf.constant(labels[i: i + batch_size], tf.int32)
        parts.append(log_prob(x, y).numpy())
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0,))


def causal_dependence(model: PixelCNN, row: int, column: int, seed: int = 0) -> np.ndarray:
    """Which input pixels the logit at (row, column) depends on: |∂ l_(row, column) / ∂ x| for a random x.

    Args:
        model: a `PixelCNN` (gated or plain; untrained is fine).
        row, column: the output pixel.
        seed: seeds the random binary input.

    Returns:
        `np.ndarray` of float32, (H, W): the absolute gradient at every input pixel.
    """
    rng = np.random.default_rng(seed)
    x = tf.constant((rng.random((1, *model.image_shape)) < 0.5).astype(np.float32))
    inputs = x if not model.conditional else [x, tf.zeros((1,), tf.int32)]
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = model(inputs, training=False)[0, row, column, 0]
    return np.abs(tape.gradient(logit, x).numpy()[0, :, :, 0])
