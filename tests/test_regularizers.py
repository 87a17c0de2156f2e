"""The sparse, denoising and contractive penalties against their formulas: the KL by hand, the Jacobian norm
against `tf.GradientTape.batch_jacobian` and a linear map's, the closed form against autodiff, the
corruption's statistics, and the network of each penalty saved and loaded."""

import numpy as np
import pytest

RNG = np.random.default_rng(0)


def test_sparse_kl_by_hand_and_the_layer_adds_beta_times_it_in_training_only():
    import keras

    from gen_keras.regularizers import KLSparsity, sparse_kl

    rho, rho_hat = 0.1, np.array([0.1, 0.2, 0.05, 0.5])
    # KL(0.1 ‖ 0.2) = 0.1 ln(0.1/0.2) + 0.9 ln(0.9/0.8) = −0.0693147 + 0.1060047; the first unit is on target
    by_hand = sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)) for r in rho_hat)
    assert by_hand == pytest.approx(0.0 + 0.0366900 + 0.0206542 + 0.3680642, rel=1e-5)
    assert float(sparse_kl(rho, rho_hat)) == pytest.approx(by_hand, rel=1e-5)
    assert float(sparse_kl(rho, np.full(7, rho))) == pytest.approx(0.0, abs=1e-6)

    hidden = RNG.uniform(0.01, 0.99, size=(32, 6)).astype(np.float32)
    layer = KLSparsity(rho=0.05, beta=3.0)
    np.testing.assert_array_equal(layer(hidden, training=True), hidden)  # passes its input through
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(3.0 * float(sparse_kl(0.05, hidden.mean(0))), rel=1e-5)
    quiet = KLSparsity(rho=0.05, beta=3.0)
    quiet(hidden, training=False)
    assert not quiet.losses
    restored = KLSparsity.from_config(layer.get_config())
    assert (restored.rho, restored.beta) == (0.05, 3.0)
    for bad in ({"rho": 0.0}, {"rho": 1.0}, {"beta": -1.0}):
        with pytest.raises(ValueError, match="rho|beta"):
            KLSparsity(**bad)
    assert keras.saving.get_registered_name(KLSparsity) == "gen_keras>KLSparsity"


def test_jacobian_norm_matches_batch_jacobian_and_a_linear_maps_frobenius_norm():
    import tensorflow as tf

    from gen_keras.regularizers import jacobian_norm_sq, jacobian_norms

    w = RNG.normal(size=(5, 3)).astype(np.float32)
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    # f(x) = x W: J = Wᵀ for every x, ‖J‖²_F = Σ W²
    np.testing.assert_allclose(jacobian_norm_sq(lambda v: v @ w, x), np.full(4, (w ** 2).sum()), rtol=1e-5)

    def f(v):  # a non-linear map whose examples do not interact
        return tf.tanh(v @ w) * tf.reduce_sum(v, axis=1, keepdims=True)

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = f(xt)
    jac = tape.batch_jacobian(y, xt).numpy()  # (4, 3, 5)
    np.testing.assert_allclose(jacobian_norm_sq(f, x), (jac ** 2).sum(axis=(1, 2)), rtol=1e-5)
    # finite differences, for one example and one input
    eps = 1e-2
    step = np.zeros_like(x)
    step[0, 2] = eps
    numeric = (f(x + step).numpy()[0] - f(x - step).numpy()[0]) / (2 * eps)
    np.testing.assert_allclose(jac[0, :, 2], numeric, rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(jacobian_norms(f, x, batch_size=3), np.sqrt((jac ** 2).sum(axis=(1, 2))), rtol=1e-5)


def test_sigmoid_closed_form_equals_autodiff_and_the_contractive_layer_adds_lambda_times_it():
    import keras

    from gen_keras.regularizers import ContractiveDense, jacobian_norm_sq, sigmoid_jacobian_norm_sq

    keras.utils.set_random_seed(1)
    layer = ContractiveDense(7, lam=0.5)
    x = RNG.uniform(0, 1, size=(6, 20)).astype(np.float32)
    h = layer(x, training=True)
    np.testing.assert_allclose(h, 1 / (1 + np.exp(-(x @ np.asarray(layer.kernel) + np.asarray(layer.bias)))),
                               rtol=1e-5)
    closed = np.asarray(sigmoid_jacobian_norm_sq(h, layer.kernel))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == pytest.approx(0.5 * closed.mean(), rel=1e-5)
    np.testing.assert_allclose(closed, np.asarray(jacobian_norm_sq(lambda v: layer(v, training=False), x)), rtol=1e-4)
    assert not layer.losses  # a call in inference mode adds none
    restored = ContractiveDense.from_config(layer.get_config())
    assert restored.lam == 0.5 and restored.units == 7
    with pytest.raises(ValueError, match="lambda"):
        ContractiveDense(3, lam=-0.1)


def test_corruption_masks_with_probability_nu_or_adds_sigma_noise_in_training_only():
    from gen_keras.regularizers import Corruption, corrupt

    x = np.full((200, 28, 28, 1), 0.5, np.float32)
    masked = np.asarray(corrupt(x, "masking", 0.3, seed=0))
    assert set(np.unique(masked)) == {0.0, 0.5}
    assert np.mean(masked == 0) == pytest.approx(0.3, abs=0.01)  # 156,800 pixels: σ of the share ≈ 0.001
    noisy = np.asarray(corrupt(x, "gaussian", 0.2, seed=0)) - x
    assert noisy.mean() == pytest.approx(0.0, abs=0.005) and noisy.std() == pytest.approx(0.2, rel=0.02)
    layer = Corruption("masking", 0.5, seed=3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert np.mean(np.asarray(layer(x, training=True)) == 0) == pytest.approx(0.5, abs=0.01)
    for kind, level in (("masking", 1.0), ("masking", 0.0), ("gaussian", 0.0), ("salt", 0.1)):
        with pytest.raises(ValueError, match="between 0 and 1|positive|unknown noise"):
            corrupt(x, kind, level)


@pytest.mark.parametrize("penalty", ["none", "sparse", "denoising", "contractive"])
def test_each_penalty_on_the_same_network_saves_and_loads(penalty, tmp_path):
    """The same layers and weights count whatever the penalty; only the training model carries it."""
    import keras

    from gen_keras.models.regularized import decoder_filters, regularized_autoencoder

    parts = regularized_autoencoder(30, penalty=penalty, seed=0)
    assert parts.encoder.count_params() == 784 * 30 + 30 and parts.decoder.count_params() == 30 * 784 + 784
    assert decoder_filters(parts.decoder).shape == (30, 784)
    x = RNG.uniform(0, 1, size=(3, 28, 28, 1)).astype(np.float32)
    path = tmp_path / "ae.keras"
    parts.autoencoder.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x, training=False), parts.autoencoder(x, training=False), atol=1e-6)
    with pytest.raises(ValueError, match="unknown penalty"):
        regularized_autoencoder(30, penalty="l1")
    if penalty == "contractive":  # a decoder with a hidden layer: h → relu(W′h + b′) → σ(W″ · + b″); no filters
        deep = regularized_autoencoder(30, penalty=penalty, decoder_units=16, seed=0)
        assert deep.decoder.count_params() == 30 * 16 + 16 + 16 * 784 + 784
        assert deep.autoencoder(x).shape == x.shape
        with pytest.raises(ValueError, match="has a hidden layer"):
            decoder_filters(deep.decoder)


@pytest.mark.parametrize("penalty", ["none", "sparse", "denoising"])
def test_tied_weights_decode_with_the_encoders_kernel_transposed(penalty, tmp_path):
    """x̂ = σ(Wᵀ h + b′) with h = σ(W x + b): one W (784 × 30) and two biases, shared by encoder and decoder;
    the decoder's filters are W's columns; it saves and loads."""
    import keras

    from gen_keras.models.regularized import chained, decoder_filters, hidden_kernel, regularized_autoencoder

    parts = regularized_autoencoder(30, penalty=penalty, tied_weights=True, seed=0)
    assert parts.autoencoder.count_params() == 784 * 30 + 30 + 784
    x = RNG.uniform(0, 1, size=(3, 28, 28, 1)).astype(np.float32)
    tied = parts.encoder.get_layer("tied")
    w, b, b_prime = (np.asarray(v) for v in (tied.kernel, tied.bias, tied.transposed_bias))
    tied.kernel.assign(RNG.normal(0, 0.1, size=w.shape).astype(np.float32))  # a kernel that is not its init
    w = np.asarray(tied.kernel)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = sigmoid(x.reshape(3, -1) @ w + b)
    np.testing.assert_allclose(parts.encoder(x), h, atol=1e-5)
    np.testing.assert_allclose(np.asarray(parts.decoder(h)).reshape(3, -1), sigmoid(h @ w.T + b_prime), atol=1e-5)
    if penalty != "denoising":  # the denoising autoencoder corrupts its input only in training
        np.testing.assert_allclose(parts.autoencoder(x), parts.decoder(parts.encoder(x)), atol=1e-6)
    np.testing.assert_array_equal(decoder_filters(parts.decoder), w.T)
    np.testing.assert_array_equal(hidden_kernel(parts.encoder), w)
    parts.autoencoder.save(tmp_path / "tied.keras")
    loaded = keras.saving.load_model(tmp_path / "tied.keras")
    np.testing.assert_allclose(loaded(x, training=False), parts.autoencoder(x, training=False), atol=1e-6)
    image = keras.Input((28, 28, 1), name="image")  # the served autoencoder (no corruption), as the recipe builds it
    served = keras.Model(image, chained(parts.encoder, parts.decoder, image))
    served.save(tmp_path / "served.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "served.keras")(x), parts.decoder(parts.encoder(x)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="tied weights need the one-layer"):
        regularized_autoencoder(30, penalty="contractive", tied_weights=True)


def test_summed_cross_entropy_by_hand():
    from gen_keras.regularizers import sum_binary_cross_entropy

    x = np.array([[0.0, 1.0, 0.25]], np.float32)
    x_hat = np.array([[0.1, 0.8, 0.5]], np.float32)
    want = -np.sum(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))
    np.testing.assert_allclose(np.asarray(sum_binary_cross_entropy(x, x_hat)), [want], rtol=1e-5)
