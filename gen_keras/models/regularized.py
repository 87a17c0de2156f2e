"""Regularized autoencoders (sparse, denoising, contractive) on one network, and the undercomplete
autoencoder used to score anomalies.

`regularized_autoencoder` builds the lecture's one-hidden-layer autoencoder, x → h = σ(W x + b) →
x̂ = σ(W′ h + b′) (or a decoder with a hidden layer of its own), with one of the penalties of
`gen_keras.regularizers` (or none): built the same way with `penalty="none"`, the comparison isolates the
penalty.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from gen_keras.layers import TiedDense
from gen_keras.models.autoencoders import IMAGE_SHAPE, AutoencoderParts
from gen_keras.regularizers import ContractiveDense, Corruption, KLSparsity

PENALTIES = ("none", "sparse", "denoising", "contractive")


def regularized_autoencoder(hidden_units: int = 1000, *, penalty: str = "none", rho: float = 0.05,
                            beta: float = 3.0, noise: str = "masking", noise_level: float = 0.3,
                            lam: float = 0.1, decoder_units: int = 0, tied_weights: bool = False,
                            image_shape=IMAGE_SHAPE, seed: int | None = None) -> AutoencoderParts:
    """One sigmoid hidden layer, over-complete allowed, with one penalty.

    Encoder h = σ(W x + b) (the layer "hidden", Keras kernel W of shape (pixels, units)); decoder
    x̂ = σ(W′ h + b′) (the layer "filters", whose kernel rows are the images each unit adds), or with
    `decoder_units` > 0, x̂ = σ(W″ relu(W′ h + b′) + b″): a decoder that can undo a contraction of the codes
    nonlinearly (the penalties act on the encoder only). With `tied_weights`, W′ = Wᵀ: x̂ = σ(Wᵀ h + b′), one
    `TiedDense` layer "tied" in both directions. The penalty:

    - "sparse": β Σ_j KL(ρ ‖ ρ̂_j) on the hidden layer (`KLSparsity`);
    - "denoising": the autoencoder corrupts its input in training (`Corruption`: masking with probability
      ν, or x + σ ε) and is trained to return the clean image;
    - "contractive": λ ‖J_f(x)‖²_F of the hidden layer, in closed form (`ContractiveDense`);
    - "none": the plain autoencoder.

    Only the training model (`autoencoder`) carries the penalty; the encoder and decoder are plain
    inference models. Every layer computes in float32.

    Args:
        hidden_units: the hidden layer's width (1,000 for an over-complete code of a 784-pixel image).
        penalty: one of `PENALTIES`.
        rho: ρ, the sparse target activation, 0 < ρ < 1.
        beta: β ≥ 0, the sparse penalty's weight.
        noise: "masking" or "gaussian", the denoising corruption.
        noise_level: ν in (0, 1) for masking, σ > 0 for Gaussian noise.
        lam: λ ≥ 0, the contractive penalty's weight.
        decoder_units: the width of a ReLU hidden layer in the decoder; 0: none (x̂ = σ(W′ h + b′)).
        tied_weights: decode with the encoder's W transposed, x̂ = σ(Wᵀ h + b′) (not with the contractive
            penalty's own layer, nor with a decoder hidden layer).
        image_shape: the images' shape.
        seed: seed of the corruption's random draws.

    Returns:
        `AutoencoderParts`: encoder `image` → `code` (hidden_units,) in (0, 1), decoder `code` → `image`,
        and the autoencoder composing them (with the corruption in front for "denoising").

    Raises:
        ValueError: an unknown penalty, or a parameter outside its range.
    """
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty '{penalty}': use one of {PENALTIES}")
    if decoder_units < 0:
        raise ValueError(f"decoder_units must be ≥ 0 (0: no hidden layer in the decoder), got {decoder_units}")
    if tied_weights and (penalty == "contractive" or decoder_units):
        raise ValueError("tied weights need the one-layer sigmoid decoder x̂ = σ(Wᵀ h + b′): not with the "
                         "contractive penalty's layer or a decoder hidden layer")
    f32 = {"dtype": "float32"}
    pixels = int(np.prod(image_shape))
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten(**f32)(image)
    tied = TiedDense(hidden_units, pixels, name="tied", **f32) if tied_weights else None
    if tied is not None:
        h = tied(x)
    elif penalty == "contractive":
        h = ContractiveDense(hidden_units, lam=lam, name="hidden", **f32)(x)
    else:
        h = layers.Dense(hidden_units, activation="sigmoid", name="hidden", **f32)(x)
    if penalty == "sparse":
        h = KLSparsity(rho, beta, name="sparsity", **f32)(h)
    code = layers.Identity(name="code", **f32)(h)
    encoder = keras.Model(image, code, name=f"{penalty}_encoder")

    code_in = keras.Input((hidden_units,), name="code")
    y = code_in
    if decoder_units:
        y = layers.Dense(decoder_units, activation="relu", name="decoder_hidden", **f32)(y)
    if tied is not None:
        y = tied(y, transpose=True)
    else:
        y = layers.Dense(pixels, activation="sigmoid", name="pixels" if decoder_units else "filters", **f32)(y)
    out = layers.Reshape(image_shape, name="image", **f32)(y)
    decoder = keras.Model(code_in, out, name=f"{penalty}_decoder")

    image_in = keras.Input(image_shape, name="image")
    x_in = Corruption(noise, noise_level, seed=seed, name="corruption", **f32)(image_in) \
        if penalty == "denoising" else image_in
    autoencoder = keras.Model(image_in, chained(encoder, decoder, x_in), name=f"{penalty}_autoencoder")
    return AutoencoderParts(encoder, decoder, autoencoder)


def chained(encoder: keras.Model, decoder: keras.Model, inputs):
    """decoder(encoder(inputs)) as graph nodes; with tied weights (one `TiedDense` layer "tied" in both) the two
    models' layers are called one after the other in one flat graph instead, because a layer shared by two
    nested models does not reload from a `.keras` file.

    Args:
        encoder: a `regularized_autoencoder`'s encoder.
        decoder: its decoder.
        inputs: a Keras tensor of images.

    Returns:
        The reconstruction's Keras tensor.
    """
    names = {layer.name for layer in decoder.layers}
    if "tied" not in names:
        return decoder(encoder(inputs))
    y = inputs
    for transpose, model in ((False, encoder), (True, decoder)):
        for layer in model.layers[1:]:
            if layer.name == "tied":  # the one shared weight matrix: W in the encoder, Wᵀ in the decoder
                y = layer(y, transpose=transpose)
            else:  # weightless (flatten, the sparsity penalty, reshape): a copy, so no name is used twice
                y = layer.__class__.from_config({**layer.get_config(), "name": None})(y)
    return y


def hidden_kernel(encoder: keras.Model) -> np.ndarray:
    """W of a `regularized_autoencoder`'s encoder, (pixels, units): h = σ(W x + b)."""
    names = {layer.name for layer in encoder.layers}
    return np.asarray(encoder.get_layer("tied" if "tied" in names else "hidden").kernel)


def decoder_filters(decoder: keras.Model) -> np.ndarray:
    """The rows of W′ of a `regularized_autoencoder`'s one-layer decoder, (units, pixels): unit j adds W′_j to
    the decoder's pre-activation, the classic picture of what each hidden unit has learned.

    Raises:
        ValueError: the decoder has a hidden layer, so no row of a kernel is an image a code unit adds.
    """
    names = {layer.name for layer in decoder.layers}
    if "tied" in names:  # x̂ = σ(Wᵀ h + b′): unit j adds row j of Wᵀ, column j of W
        return np.asarray(decoder.get_layer("tied").kernel).T
    if "filters" not in names:
        raise ValueError("this decoder has a hidden layer: its code units add no single image (use decoder_units=0)")
    return np.asarray(decoder.get_layer("filters").kernel)


# One-class anomaly detection (recipes/anomaly_detection.py): an undercomplete autoencoder trained on one
# class; an image it reconstructs badly is flagged: "if x̂ deviates too much from x, x is an anomaly".

ANOMALY_HIDDEN = (512, 256)


def undercomplete_autoencoder(code_dim: int = 32, *, hidden: tuple[int, ...] = ANOMALY_HIDDEN,
                              noise: str | None = None, noise_level: float = 0.3, image_shape=IMAGE_SHAPE,
                              seed: int | None = None) -> AutoencoderParts:
    """A dense undercomplete autoencoder, optionally denoising, for one-class anomaly scores.

    Encoder: Flatten → Dense(`hidden`, ReLU) → a linear `code_dim`-d code; decoder: the mirror image with
    a sigmoid output. With `noise`, the training model corrupts its input first (`Corruption`).

    Args:
        code_dim: the code's size, well below the pixels (e.g. 32).
        hidden: the encoder's hidden widths, input side first.
        noise: None for the plain autoencoder, or "masking" / "gaussian" for a denoising one.
        noise_level: ν or σ of the corruption.
        image_shape: the images' shape.
        seed: seed of the corruption's draws.

    Returns:
        `AutoencoderParts`: encoder `image` → `code`, decoder `code` → `image`, the autoencoder composing
        them (with the corruption in front when `noise` is given).
    """
    f32 = {"dtype": "float32"}
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten(**f32)(image)
    for width in hidden:
        x = layers.Dense(width, activation="relu", **f32)(x)
    code = layers.Dense(code_dim, name="code", **f32)(x)
    encoder = keras.Model(image, code, name="encoder")
    code_in = keras.Input((code_dim,), name="code")
    y = code_in
    for width in reversed(hidden):
        y = layers.Dense(width, activation="relu", **f32)(y)
    y = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", **f32)(y)
    decoder = keras.Model(code_in, layers.Reshape(image_shape, name="image", **f32)(y), name="decoder")
    image_in = keras.Input(image_shape, name="image")
    x_in = Corruption(noise, noise_level, seed=seed, name="corruption", **f32)(image_in) if noise else image_in
    return AutoencoderParts(encoder, decoder, keras.Model(image_in, decoder(encoder(x_in)), name="autoencoder"))


@keras.saving.register_keras_serializable(package="gen_keras")
class SquaredDistance(keras.layers.Layer):
    """‖a − b‖², summed over every axis but the batch: one number per example.

    Input: `[a, b]`, the same shape (batch, …). Output: (batch,) float32.
    """

    def call(self, inputs):
        a, b = (keras.ops.cast(t, "float32") for t in inputs)
        diff = keras.ops.reshape(a - b, (keras.ops.shape(a)[0], -1))
        return keras.ops.sum(keras.ops.square(diff), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)


def reconstruction_scorer(autoencoder: keras.Model, features: keras.Model | None = None,
                          name: str = "scorer") -> keras.Model:
    """image → anomaly score ‖φ(x) − φ(x̂)‖², x̂ the autoencoder's reconstruction.

    φ is the identity (the squared reconstruction error in pixels) or a feature model, e.g. a classifier's
    penultimate layer (the error measured in its feature space).

    Args:
        autoencoder: image → x̂ (used in inference mode: no corruption).
        features: φ, image → features; None for the pixels themselves.
        name: the model's name.

    Returns:
        A `keras.Model` `image` (batch, H, W, C) → `score` (batch,) float32.
    """
    image = keras.Input(autoencoder.input_shape[1:], name="image")
    recon = autoencoder(image)
    pair = [image, recon] if features is None else [features(image), features(recon)]
    return keras.Model(image, SquaredDistance(name="score")(pair), name=name)


def pathway_model(encoder: keras.Model) -> keras.Model:
    """image → [x, h_1(x), …, h_L(x)] flattened and concatenated: the input and every Dense layer's output
    along the encoder's path, for comparing x and x̂ layer by layer.

    Args:
        encoder: a functional encoder (e.g. `undercomplete_autoencoder(...).encoder`) of Flatten and Dense layers.

    Returns:
        A `keras.Model` `image` (batch, H, W, C) → (batch, pixels + Σ_l units_l) float32.
    """
    outputs = [layer.output for layer in encoder.layers if isinstance(layer, (layers.Flatten, layers.Dense))]
    return keras.Model(encoder.input, layers.Concatenate(name="pathway", dtype="float32")(outputs),
                       name="pathway")


@keras.saving.register_keras_serializable(package="gen_keras")
class WhitenedSquaredNorm(keras.layers.Layer):
    """s(d) = ‖(d − μ) P‖², a squared Mahalanobis norm with fixed (non-trainable) μ and P.

    With P = V_r Σ_r⁻¹ √N from the SVD of the centred training vectors D − μ = U Σ Vᵀ (`fit`, keeping the
    r directions whose singular value is at least `tolerance` × the largest), s is the Mahalanobis distance
    of d from the training vectors in their span. Used on the differences between x and x̂ along the
    encoder's path (RAPP's normalized aggregation, Kim et al. 2020).

    Args:
        dim: the vectors' size.
        rank: r, the kept directions.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, dim: int, rank: int, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.rank = int(dim), int(rank)
        self.mean = self.add_weight(shape=(self.dim,), initializer="zeros", trainable=False, name="mean")
        self.projection = self.add_weight(shape=(self.dim, self.rank), initializer="zeros", trainable=False,
                                          name="projection")

    @staticmethod
    def fit(vectors: np.ndarray, tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """μ and P = V_r Σ_r⁻¹ √N of the rows of `vectors` (N, dim): afterwards the training rows have an
        identity covariance along the r kept directions.

        Args:
            vectors: (N, dim) training vectors.
            tolerance: keep the singular values ≥ tolerance × the largest.

        Returns:
            (μ (dim,), P (dim, r)), float32.
        """
        vectors = np.asarray(vectors, np.float64)
        mean = vectors.mean(axis=0)
        _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
        keep = s >= tolerance * s[0]
        return mean.astype(np.float32), (vt[keep].T / s[keep] * np.sqrt(len(vectors))).astype(np.float32)

    def call(self, d):
        return keras.ops.sum(keras.ops.square(keras.ops.matmul(keras.ops.cast(d, "float32") - self.mean,
                                                               self.projection)), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "rank": self.rank}


def _along_path(encoder: keras.Model, x):
    """Runs x through the encoder's own layers; returns (code, [x flattened, h_1, …, h_L])."""
    path, h = [], x
    for layer in encoder.layers[1:]:
        h = layer(h)
        if isinstance(layer, (layers.Flatten, layers.Dense)):
            path.append(h)
    return h, path


def pathway_scorer(autoencoder: keras.Model, encoder: keras.Model, mean: np.ndarray, projection: np.ndarray,
                   name: str = "scorer") -> keras.Model:
    """image → s(x) = ‖(d(x) − μ) P‖², d(x) = path(x) − path(x̂): the reconstruction's differences from the
    image at the input and at every encoder layer, whitened on the training class (`WhitenedSquaredNorm`).

    The model is one flat graph of the encoder's and decoder's layers (the encoder's run twice, on x and
    on x̂), so it saves and loads as a `.keras` file.

    Args:
        autoencoder: an `undercomplete_autoencoder`'s autoencoder (its decoder is the layer "decoder").
        encoder: its encoder (Flatten and Dense layers).
        mean: μ from `WhitenedSquaredNorm.fit` on the training images' d(x).
        projection: P from the same.
        name: the model's name.

    Returns:
        A `keras.Model` `image` → `score` (batch,) float32.
    """
    decoder = autoencoder.get_layer("decoder")
    image = keras.Input(autoencoder.input_shape[1:], name="x")  # "image" names the decoder's last layer
    code, path_x = _along_path(encoder, image)
    recon = code
    for layer in decoder.layers[1:]:
        recon = layer(recon)
    _, path_recon = _along_path(encoder, recon)
    diff = layers.Subtract(dtype="float32")([layers.Concatenate(dtype="float32")(path_x),
                                             layers.Concatenate(dtype="float32")(path_recon)])
    norm = WhitenedSquaredNorm(*projection.shape, name="score")
    score = norm(diff)
    norm.mean.assign(mean)
    norm.projection.assign(projection)
    return keras.Model(image, score, name=name)
