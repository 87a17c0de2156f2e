"""The VAE's math: closed-form KL, the reparameterized sampler, the ELBO's units, IWAE, serialization."""

import json
import math

import numpy as np
import pytest

from tests.conftest import run_python

import tensorflow as tf
import keras

from gen_keras import data
from gen_keras.layers import GaussianSampler
from gen_keras.losses import bernoulli_nll, gaussian_kl, gaussian_nll
from gen_keras.models.vae import VAE, build_vae, elbo_terms, iwae_estimates, vae_decoder, vae_encoder


def _tfd():
    import tensorflow_probability as tfp

    return tfp.distributions


def test_closed_form_kl_matches_tfp_and_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 3)).astype(np.float32)
    log_var = rng.normal(scale=0.7, size=(5, 3)).astype(np.float32)
    ours = np.asarray(gaussian_kl(mean, log_var))
    tfd = _tfd()
    q = tfd.MultivariateNormalDiag(mean, np.exp(0.5 * log_var))
    p = tfd.MultivariateNormalDiag(np.zeros(3, np.float32), np.ones(3, np.float32))
    np.testing.assert_allclose(ours, tfd.kl_divergence(q, p).numpy(), rtol=1e-5, atol=1e-6)
    z = q.sample(200_000, seed=1)  # KL = E_q[log q(z) − log p(z)]
    monte_carlo = tf.reduce_mean(q.log_prob(z) - p.log_prob(z), axis=0).numpy()
    np.testing.assert_allclose(ours, monte_carlo, rtol=0.03, atol=0.02)
    assert np.all(ours > 0) and float(gaussian_kl(np.zeros((1, 3)), np.zeros((1, 3)))[0]) == 0.0


def test_sampler_draws_have_the_requested_mean_and_variance():
    mean = np.tile(np.array([[-2.0, 0.5, 3.0]], np.float32), (100_000, 1))
    log_var = np.tile(np.log(np.array([[0.25, 1.0, 4.0]], np.float32)), (100_000, 1))
    z = GaussianSampler(seed=3)([mean, log_var]).numpy()
    np.testing.assert_allclose(z.mean(axis=0), [-2.0, 0.5, 3.0], atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), [0.25, 1.0, 4.0], rtol=0.03)
    again = GaussianSampler(seed=3)([mean[:5], log_var[:5]]).numpy()
    np.testing.assert_array_equal(again, GaussianSampler(seed=3)([mean[:5], log_var[:5]]).numpy())


def test_gradients_flow_through_the_sampler_to_mean_and_sigma():
    mean = tf.Variable(np.array([[0.3, -0.2]], np.float32))
    log_var = tf.Variable(np.array([[0.1, -0.4]], np.float32))
    sampler = GaussianSampler(beta=0.0, seed=0)
    with tf.GradientTape() as tape:
        z = sampler([mean, log_var])
        loss = tf.reduce_sum(z ** 2)
    g_mean, g_log_var = tape.gradient(loss, [mean, log_var])
    # z = μ + σε: ∂L/∂μ = 2z, ∂L/∂log σ² = 2z · ε · σ/2 = z (z − μ)
    np.testing.assert_allclose(g_mean.numpy(), 2 * z.numpy(), rtol=1e-5)
    np.testing.assert_allclose(g_log_var.numpy(), z.numpy() * (z.numpy() - mean.numpy()), rtol=1e-4, atol=1e-6)


def test_sampler_adds_beta_times_the_kl_per_image_as_a_loss():
    mean, log_var = np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32)
    sampler = GaussianSampler(beta=2.5)
    x_mean, x_log_var = keras.Input((2,)), keras.Input((2,))
    model = keras.Model([x_mean, x_log_var], sampler([x_mean, x_log_var]))
    model([mean, log_var])
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(2.5 * 1.0)  # KL = ½ Σ μ² = 1 per image, mean over images


def test_negative_log_likelihoods_are_summed_over_pixels():
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    # Bernoulli with logits 0: −log p = 784 log 2 per image, whatever x is
    np.testing.assert_allclose(bernoulli_nll(x, np.zeros_like(x)), 784 * math.log(2.0), rtol=1e-6)
    tfd = _tfd()
    mu, log_s = np.full_like(x, 0.4), np.full_like(x, -1.0)
    expected = -tfd.Normal(mu, np.exp(log_s)).log_prob(x).numpy().reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(gaussian_nll(x, mu, log_s), expected, rtol=1e-5)


def _zero_decoder_vae(beta=1.0):
    vae = build_vae(2, seed=0, beta=beta)
    last = [layer for layer in vae.decoder.layers if layer.weights][-1]
    for w in last.weights:
        w.assign(np.zeros(w.shape, np.float32))
    return vae


@pytest.fixture(scope="module")
def zero_decoder_vae():
    """A VAE whose decoder outputs logits 0 for every z: its reconstruction term is exactly 784 log 2."""
    return _zero_decoder_vae()


def test_elbo_terms_weigh_the_kl_once_whatever_beta_trained(fashion_train):
    """With β = 4 the training loss is reconstruction + 4 KL, but the reported −ELBO counts the KL once."""
    vae = _zero_decoder_vae(beta=4.0)
    vae.compile(optimizer=keras.optimizers.Adam(0.0))
    x = fashion_train.as_float()[:256]
    loss = vae.evaluate(x, batch_size=128, return_dict=True, verbose=0)
    terms = elbo_terms(vae, x, batch_size=100)
    mean, log_var = vae.encoder(x)
    assert terms["kl"] == pytest.approx(float(np.mean(gaussian_kl(mean, log_var))), rel=1e-5)
    assert terms["reconstruction"] == pytest.approx(784 * math.log(2.0), rel=1e-5)
    assert terms["negative_elbo"] == pytest.approx(terms["reconstruction"] + terms["kl"], rel=1e-6)
    assert loss["loss"] == pytest.approx(terms["reconstruction"] + 4.0 * terms["kl"], rel=1e-5)


def test_the_loss_is_nats_per_image_and_equals_reconstruction_plus_kl(zero_decoder_vae, fashion_train):
    """Catches the classic mistake: a reconstruction averaged over pixels would be log 2 = 0.69 here."""
    vae = zero_decoder_vae
    vae.compile(optimizer=keras.optimizers.Adam(0.0))
    x = fashion_train.as_float()[:256]
    scores = vae.evaluate(x, batch_size=128, return_dict=True, verbose=0)
    assert scores["reconstruction"] == pytest.approx(784 * math.log(2.0), rel=1e-5)
    assert scores["kl"] > 0
    assert scores["loss"] == pytest.approx(scores["reconstruction"] + scores["kl"], rel=1e-5)


def test_training_lowers_the_elbo_and_logs_both_terms(trained_vae):
    vae, history, _ = trained_vae
    assert set(history) >= {"loss", "reconstruction", "kl"}
    for loss, rec, kl in zip(history["loss"], history["reconstruction"], history["kl"]):
        assert loss == pytest.approx(rec + kl, rel=1e-4)
    assert history["loss"][-1] < 0.75 * 784 * math.log(2.0)  # measured ~330 after 3 epochs of 2,048 images
    assert history["kl"][-1] > 1.0  # the code carries information


@pytest.fixture(scope="module")
def trained_vae(fashion_train):
    keras.utils.set_random_seed(0)
    vae = build_vae(2, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = fashion_train.as_float()
    history = vae.fit(x, batch_size=128, epochs=3, verbose=0, shuffle=False).history
    return vae, history, x


def test_iwae_bound_is_above_the_elbo_and_rises_with_k(trained_vae, fashion_test):
    vae, _, _ = trained_vae
    x = fashion_test.as_float()[:300]
    elbo = -vae.evaluate(x, batch_size=100, return_dict=True, verbose=0)["loss"]  # closed-form KL
    estimates = {k: iwae_estimates(vae, x, k)[1].mean() for k in (1, 10, 100)}
    # K = 1 is an unbiased ELBO estimate; the bound tightens towards log p(x) as K grows
    assert abs(estimates[1] - elbo) < 3.0
    assert estimates[1] < estimates[10] < estimates[100]
    assert elbo < estimates[100]


def test_dynamic_binarization_feeds_binary_images(fashion_train):
    """A Gaussian decoder predicting μ = 0.5 everywhere: grey 0.5 inputs cost (x − μ)² = 0 per pixel,
    their binarized draws (0 or 1) cost 0.25 per pixel, so the first step's loss tells which it saw."""
    losses = {}
    for binarize in (False, True):
        keras.utils.set_random_seed(0)
        vae = VAE(vae_encoder(2), vae_decoder(2, "gaussian"), "gaussian", binarize=binarize, seed=0)
        vae.build((None, 28, 28, 1))
        for w in vae.decoder.get_layer(index=-2).weights:  # the sigmoid mean layer: μ = σ(0) = 0.5
            w.assign(np.zeros(w.shape, np.float32))
        vae.compile(optimizer=keras.optimizers.Adam(0.0))
        losses[binarize] = vae.train_on_batch(np.full((64, 28, 28, 1), 0.5, np.float32), return_dict=True)
    sigma2 = 0.1 ** 2  # PixelLogScale starts at σ = 0.1
    gap = losses[True]["reconstruction"] - losses[False]["reconstruction"]
    assert gap == pytest.approx(784 * 0.25 / (2 * sigma2), rel=0.05)
    bits = data.binarized(fashion_train, seed=0)
    assert set(np.unique(bits.images)) <= {0, 255}
    assert abs(bits.images.mean() - fashion_train.images.mean()) < 1.0


def test_keras_file_reloads_without_safe_mode_and_keeps_everything(trained_vae, tmp_path):
    vae, _, x = trained_vae
    path = tmp_path / "vae.keras"
    vae.save(path)
    again = keras.saving.load_model(path)  # safe_mode stays on
    assert isinstance(again, VAE) and isinstance(again.sampler, GaussianSampler)
    assert again.likelihood == "bernoulli" and again.beta == 1.0 and again.latent_dim == 2
    for a, b in zip(vae.encoder(x[:16]), again.encoder(x[:16])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    z = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    np.testing.assert_allclose(vae.generator()(z), again.generator()(z), atol=1e-6)
    assert int(again.optimizer.iterations) == int(vae.optimizer.iterations) == 48  # 3 epochs of 16 steps
    for a, b in zip(vae.optimizer.variables, again.optimizer.variables):  # Adam's moments came back
        np.testing.assert_allclose(a, b)


MIRRORED = """
import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from gen_keras import data
from gen_keras.models.vae import build_vae
x = data.load_images(limit=512).as_float()
out = {}
for name, strategy in (("one", tf.distribute.get_strategy()), ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            vae = build_vae(2, seed=0, reconstruction_weight=weight)
            vae.compile(optimizer=keras.optimizers.Adam(1e-3))
        ds = tf.data.Dataset.from_tensor_slices(x).batch(64)
        h = vae.fit(ds, epochs=2, verbose=0).history
        out[f"{name}_{weight}"] = {k: [float(v) for v in h[k]] for k in ("loss", "kl")}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_mirrored_over_two_cpus_counts_the_kl_once():
    """Keras scales compiled losses per replica but not `add_loss` terms; the VAE scales both. With the
    reconstruction weight 0 the loss (the KL alone) is deterministic: its curve must match one device's."""
    result = run_python(["-c", MIRRORED], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    for a, b in zip(runs["one_0.0"]["loss"], runs["two_0.0"]["loss"]):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
    # with the reconstruction term the two draw different ε, so only closeness is expected
    for a, b in zip(runs["one_1.0"]["loss"], runs["two_1.0"]["loss"]):
        assert a == pytest.approx(b, rel=0.05)


def test_naive_estimate_draws_z_from_the_prior(trained_vae, fashion_test):
    """prior_log_weights are log p(x|z_k) with z_k ~ N(0, I): their mean matches the same average over an
    independent numpy draw from N(0, I), within Monte Carlo error."""
    vae, _, _ = trained_vae
    x = fashion_test.as_float()[:4]
    k = 2000
    mine = np.asarray(vae.prior_log_weights(tf.constant(x), k), np.float64)  # (K, 4)
    z = np.random.default_rng(1).standard_normal((k, 4, 2)).astype(np.float32)
    reference = np.asarray(vae.log_likelihood_at(tf.constant(x), tf.constant(z)), np.float64)
    assert mine.shape == reference.shape == (k, 4)
    error = 4 * np.sqrt(mine.var(axis=0) / k + reference.var(axis=0) / k)
    assert np.all(np.abs(mine.mean(axis=0) - reference.mean(axis=0)) < error)


def test_log_mean_exp_is_exact_and_does_not_overflow():
    from gen_keras.metrics import log_mean_exp

    v = np.log(np.array([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(log_mean_exp(v, axis=0), np.log([2.0, 4.0]))
    assert log_mean_exp(np.array([1000.0, 1000.0])) == pytest.approx(1000.0)
    assert log_mean_exp(np.array([-1000.0, -1000.0 - np.log(3.0)])) == pytest.approx(-1000.0 + np.log(2 / 3))


def test_marginal_likelihood_estimates_by_samples(trained_vae, fashion_test):
    from gen_keras.models.vae import marginal_likelihood_by_samples

    vae, _, _ = trained_vae
    curves = marginal_likelihood_by_samples(vae, fashion_test.as_float()[:6], (1, 10, 200))
    assert curves["samples"] == [1, 10, 200] and len(curves["prior"]) == len(curves["importance"]) == 3
    # nested draws: log-mean-exp over more of them moves towards log p(x); importance sampling gets there
    # with far fewer samples than draws from the prior
    assert curves["importance"][0] < curves["importance"][2] and curves["prior"][0] < curves["prior"][2]
    assert curves["prior"][0] < curves["importance"][0]


def test_gaussian_decoder_with_sigma_of_z():
    """N(μ(z), σ(z)²I): σ is computed from z (two codes, two σ's), the NLL is −Σ log N(x | μ, σ) over pixels,
    and the decoder reloads from its .keras config."""
    tfd = pytest.importorskip("tensorflow_probability").distributions
    keras.utils.set_random_seed(3)
    decoder = vae_decoder(2, "gaussian_z", dense=(16,))
    z = np.array([[0.0, 0.0], [3.0, -3.0]], np.float32)
    params = np.asarray(decoder(z))
    assert params.shape == (2, 28, 28, 2)
    mean, log_scale = params[..., :1], params[..., 1:]
    assert np.all(np.exp(log_scale) > 0.01) and np.abs(log_scale[0] - log_scale[1]).max() > 1e-4
    vae = VAE(vae_encoder(2), decoder, likelihood="gaussian_z")
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    want = -tfd.Normal(mean, np.exp(log_scale)).log_prob(x).numpy().reshape(2, -1).sum(axis=1)
    np.testing.assert_allclose(np.asarray(vae.negative_log_likelihood(x, params)), want, rtol=1e-5)
    reloaded = keras.models.model_from_json(decoder.to_json())
    reloaded.set_weights(decoder.get_weights())
    np.testing.assert_allclose(np.asarray(reloaded(z)), params, atol=1e-6)


def test_sampled_observations_are_draws_around_the_mean(trained_vae):
    from gen_keras.models.vae import sample_observations

    vae, _, _ = trained_vae
    z = np.zeros((500, 2), np.float32)
    means, draws = sample_observations(vae, z, seed=0)
    assert set(np.unique(draws)) <= {0.0, 1.0}  # Bernoulli pixels
    assert np.abs(draws.mean(axis=0) - means[0]).max() < 0.1  # 500 draws of one z average to its mean


@pytest.mark.slow
def test_keras_classes_register_whichever_gen_keras_module_comes_first():
    """A user who imports one gen_keras module that imports Keras (not gen_keras.models) can still load any
    export: the classes are registered when that outermost import ends."""
    script = ("import sys\n"
              "first = sys.argv[1]\n"
              "__import__(first)\n"
              "import keras\n"
              "names = ('VAE', 'WGAN', 'AdversarialAutoencoder', 'LikelihoodMean', 'GaussianSampler')\n"
              "missing = [n for n in names if keras.saving.get_registered_object('gen_keras>' + n) is None]\n"
              "print(first, missing)\n"
              "assert not missing\n")
    for first in ("gen_keras.layers", "gen_keras.inference"):
        result = run_python(["-c", script, first], timeout=120, cwd="/")
        assert result.returncode == 0, result.stdout + result.stderr[-2000:]
