"""The GAN models: Algorithm 1's steps, the D* theorem on a 1-D example, saving, resuming, devices, precision."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras import cli, data, errors, training
from gen_keras.models import gan as G
from gen_keras.models.wgan import WGAN
from tests.conftest import run_python
from tests.test_training import Interrupt, InterruptAt

ADAM = {"learning_rate": 2e-4, "beta_1": 0.5}


def mlp_gan(k=1, seed=0, **compile_kwargs):
    model = G.GAN(G.mlp_generator(), G.mlp_discriminator(), seed=seed)
    model.compile(keras.optimizers.Adam(**ADAM), keras.optimizers.Adam(**ADAM), k=k, **compile_kwargs)
    return model


def weights(model):
    return [w.numpy().copy() for w in model.weights]


def changed(before, model):
    return [not np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights)]


@pytest.fixture(scope="module")
def images(fashion_train):
    return fashion_train.as_float()[:384]


def test_one_train_step_updates_both_networks_and_d_k_times(images):
    model = mlp_gan(k=3)
    g_before, d_before = weights(model.generator), weights(model.discriminator)
    logs = model.train_step(tf.constant(images[:96]))  # 3 minibatches of 32
    assert int(model.d_optimizer.iterations) == 3 and int(model.g_optimizer.iterations) == 1
    assert all(changed(g_before, model.generator)) and all(changed(d_before, model.discriminator))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert 0 < float(logs["d_real"]) < 1 and 0 < float(logs["d_fake"]) < 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="k = 3 minibatches"):
        model.train_step(tf.constant(images[:97]))


def test_discriminator_approaches_d_star_with_the_generator_held_fixed():
    """Goodfellow et al.'s Proposition 1: for a fixed G, D*(x) = p_data(x) / (p_data(x) + p_g(x)).
    p_data = N(0, 1), p_g = N(1, 1) (G(z) = z + 1, not trainable), so D*(x) = σ(1/2 − x), and the
    discriminator's loss tends to −V(D*, G) = log 4 − 2 JSD(p_data ‖ p_g) = 1.1635 (numerical integral)."""
    keras.utils.set_random_seed(0)
    z = keras.Input((1,), name="z")
    shift = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones", trainable=False)
    generator = keras.Model(z, shift(z))
    x = keras.Input((1,))
    discriminator = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(16, activation="tanh")(x)))
    model = G.GAN(generator, discriminator, seed=0)
    model.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    grid = np.linspace(-2, 3, 101, dtype=np.float32)[:, None]
    d_star = 1 / (1 + np.exp(grid[:, 0] - 0.5))

    def error():
        return np.abs(np.asarray(tf.sigmoid(discriminator(grid)))[:, 0] - d_star)

    assert error().max() > 0.2  # an untrained D is far from D*
    samples = np.random.default_rng(0).normal(size=(16384, 1)).astype(np.float32)
    history = model.fit(tf.data.Dataset.from_tensor_slices(samples).batch(512), epochs=10, verbose=0)
    assert int(model.g_optimizer.iterations) == 0  # G held fixed
    # measured: max 0.022, mean 0.009 after 320 steps; loss 1.164
    assert error().max() < 0.05 and error().mean() < 0.02
    assert history.history["d_loss"][-1] == pytest.approx(1.1635, abs=0.02)


def test_keras_file_keeps_both_optimizers_and_the_generator(images, tmp_path):
    model = mlp_gan(k=2, generator_loss="minimax")
    model.fit(tf.data.Dataset.from_tensor_slices(images[:256]).batch(64), epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations) == 8 and int(model.g_optimizer.iterations) == 4  # 4 batches, k = 2
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")  # safe mode, no custom_objects
    assert type(loaded) is G.GAN and (loaded.k, loaded.generator_loss) == (2, "minimax")
    for name in ("d_optimizer", "g_optimizer"):
        mine, theirs = getattr(model, name), getattr(loaded, name)
        assert type(theirs) is keras.optimizers.Adam and theirs.get_config() == mine.get_config()
        assert [v.path for v in theirs.variables] == [v.path for v in mine.variables]
        for a, b in zip(mine.variables, theirs.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(loaded.d_optimizer.iterations) == 8 and int(loaded.g_optimizer.iterations) == 4
    z = np.random.default_rng(1).normal(size=(5, model.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(loaded.generator(z), model.generator(z))
    np.testing.assert_array_equal(loaded(z), model.generator(z))


def test_resume_restores_both_optimizers(fashion_train, tmp_path):
    """Interrupted after 1 of 2 epochs and resumed, the run ends exactly where an uninterrupted one does:
    both Adam states (moments, step counts) and the noise stream come back from the backup."""
    train = data.ImageArrays(fashion_train.images[:256], fashion_train.labels[:256], "fashion_mnist")

    def run(out, callbacks=None):
        args = cli.parse_args(cli.recipe_parser("t", epochs=2), ["--out", str(out), "--seed", "2",
                                                                 "--batch-size", "64"], "t")
        setup = training.setup(args)
        with setup.strategy.scope():
            model = mlp_gan(k=2, seed=2)
        history = training.fit(model, train, None, setup, 2, targets=None, monitor=None, callbacks=callbacks,
                               verbose=0)
        return model, history

    whole, whole_history = run(tmp_path / "whole")
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", [InterruptAt(1)])
    resumed, history = run(tmp_path / "cut")
    assert history["g_loss"] == pytest.approx(whole_history["g_loss"]) and len(history["g_loss"]) == 2
    assert int(resumed.d_optimizer.iterations) == 2 * 4 * 2  # 2 epochs × 4 steps × k
    for name in ("d_optimizer", "g_optimizer"):
        for a, b in zip(getattr(whole, name).variables, getattr(resumed, name).variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not (tmp_path / "whole" / "checkpoints").exists()  # monitor=None: no best checkpoint, no folder
    header, *rows = (tmp_path / "cut" / "history.csv").read_text().splitlines()  # no empty val_* columns
    assert "val_" not in header and len(rows) == 2 and "g_loss" in header.split(",")


def test_nan_stops_a_gan_naming_the_loss(fashion_train, tmp_path):
    train = data.ImageArrays(fashion_train.images[:256], fashion_train.labels[:256], "fashion_mnist")
    args = cli.parse_args(cli.recipe_parser("t", epochs=1), ["--out", str(tmp_path), "--batch-size", "64"], "t")
    setup = training.setup(args)
    model = G.GAN(G.mlp_generator(), G.mlp_discriminator())
    model.compile(keras.optimizers.SGD(1e12), keras.optimizers.SGD(1e12))  # must blow up
    with pytest.raises(errors.TrainingDiverged, match=r"training [dg]_loss became (nan|inf) in epoch 1, step \d"):
        training.fit(model, train, None, setup, 3, targets=None, monitor=None, verbose=0)


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from gen_keras import cli, data, training
from gen_keras.models import gan as G
from gen_keras.models.wgan import WGAN

results = {}
for strategy in ("default", "mirrored"):
    for name in ("gan", "wgan"):
        args = cli.parse_args(cli.recipe_parser("t", epochs=2), ["--strategy", strategy, "--batch-size", "64",
                              "--seed", "1", "--out", sys.argv[1] + "/" + strategy + name], "t")
        run = training.setup(args)
        with run.strategy.scope():
            # SGD: its step is proportional to the gradient, so a loss not divided by the global batch (twice
            # the gradient over two replicas) changes the curves; Adam would hide it.
            opts = keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05)
            if name == "gan":
                model = G.GAN(G.mlp_generator(), G.mlp_discriminator(), seed=1)
                model.compile(*opts, k=2, **run.compile_options())
            else:  # the critic's weights clipped in every replica after each of its steps
                model = WGAN(G.mlp_generator(), G.mlp_discriminator(), seed=1)
                model.compile(*opts, k=2, clip=0.01, **run.compile_options())
        history = training.fit(model, data.load_images(limit=256), None, run, 2, targets=None, monitor=None,
                               verbose=0)
        results[strategy + name] = {"replicas": run.strategy.num_replicas_in_sync, **history}
print(json.dumps(results))
"""


@pytest.mark.slow
def test_mirrored_over_two_cpus_logs_what_one_device_logs(tmp_path):
    """Losses are scaled by the global batch and logged unscaled; noise and minibatches are the same; for a
    GAN and a weight-clipped WGAN, trained with SGD so that a wrongly scaled gradient shows."""
    result = run_python(["-c", MIRRORED, str(tmp_path)], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    for name, keys in (("gan", ("d_loss", "g_loss", "d_real", "d_fake")), ("wgan", ("d_loss", "g_loss", "wasserstein"))):
        assert runs["default" + name]["replicas"] == 1 and runs["mirrored" + name]["replicas"] == 2
        for key in keys:
            np.testing.assert_allclose(runs["mirrored" + name][key], runs["default" + name][key], rtol=1e-5,
                                       atol=1e-6, err_msg=f"{name} {key}")


@pytest.mark.parametrize("policy, optimizer", [("mixed_bfloat16", "Adam"), ("mixed_float16", "LossScaleOptimizer")])
def test_mixed_precision_trains_with_float32_weights_and_outputs(policy, optimizer, images, tmp_path):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = G.GAN(G.dcgan_generator(), G.dcgan_discriminator())
        model.compile(keras.optimizers.Adam(**ADAM), keras.optimizers.Adam(**ADAM))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert type(model.d_optimizer).__name__ == optimizer and type(model.g_optimizer).__name__ == optimizer
    assert model.generator.layers[1].compute_dtype == policy.split("_")[1]
    assert all(w.dtype == "float32" for w in model.weights)
    before = weights(model)
    logs = model.train_step(tf.constant(images[:32]))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert sum(changed(before, model)) > len(before) // 2
    out = model.generator(np.zeros((2, 64), np.float32), training=False)
    assert out.dtype == "float32" and out.shape == (2, 28, 28, 1)
    model.save(tmp_path / "mixed.keras")
    assert type(keras.saving.load_model(tmp_path / "mixed.keras").g_optimizer).__name__ == optimizer


def test_wgan_clips_the_critic_and_gradient_penalty_trains(images, tmp_path):
    clipped = WGAN(G.mlp_generator(), G.mlp_discriminator())
    clipped.compile(k=2, clip=0.01)  # RMSProp 5e-5, as in the paper
    assert type(clipped.d_optimizer) is keras.optimizers.RMSprop
    logs = clipped.train_step(tf.constant(images[:64]))
    assert int(clipped.d_optimizer.iterations) == 2 and int(clipped.g_optimizer.iterations) == 1
    assert max(float(tf.reduce_max(tf.abs(w))) for w in clipped.discriminator.trainable_weights) <= 0.01
    assert float(logs["wasserstein"]) == pytest.approx(float(logs["d_real"]) - float(logs["d_fake"]), abs=1e-3)

    gp = WGAN(G.dcgan_generator(), G.dcgan_discriminator(batch_norm=False))
    gp.compile(keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9), keras.optimizers.Adam(1e-4, 0.0, 0.9),
               k=2, clip=None, gp_weight=10.0)
    logs = gp.train_step(tf.constant(images[:64]))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["d_loss"]) > -float(logs["wasserstein"])  # the penalty is added, and positive
    gp.save(tmp_path / "wgan.keras")
    loaded = keras.saving.load_model(tmp_path / "wgan.keras")
    assert (loaded.k, loaded.clip, loaded.gp_weight) == (2, None, 10.0)


def test_builders():
    generator, discriminator = G.dcgan_generator(), G.dcgan_discriminator()
    assert generator.count_params() == 558_849  # the plain DCGAN: a 0.56 M-parameter generator
    kinds = [type(l).__name__ for l in discriminator.layers]
    assert kinds.index("BatchNormalization") > kinds.index("Conv2D") + 1  # none on the input layer
    assert generator.layers[-3].activation.__name__ == "tanh"  # then the Rescaling to [0, 1]; no batch norm
    assert [type(l).__name__ for l in generator.layers[-4:]] == ["ReLU", "Conv2DTranspose", "Rescaling", "Identity"]
    z = np.random.default_rng(0).normal(size=(8, 64)).astype(np.float32) * 100  # saturate the tanh
    for gen in (generator, G.mlp_generator()):
        out = np.asarray(gen(z, training=False))
        assert out.shape == (8, 28, 28, 1) and out.min() >= 0.0 and out.max() <= 1.0
    assert discriminator(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 1)


def test_conditional_gan_step_and_reload(images, fashion_train, tmp_path):
    model = G.ConditionalGAN(G.dcgan_generator(num_classes=10), G.dcgan_discriminator(num_classes=10))
    model.compile(keras.optimizers.Adam(**ADAM), keras.optimizers.Adam(**ADAM), k=2)
    assert [t.name for t in model.generator.inputs] == ["z", "label"]
    before = weights(model)
    logs = model.train_step((tf.constant(images[:64]), tf.constant(fashion_train.labels[:64])))
    assert int(model.d_optimizer.iterations) == 2 and int(model.g_optimizer.iterations) == 1
    assert all(np.isfinite(float(v)) for v in logs.values()) and sum(changed(before, model)) > len(before) // 2
    z = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    y = np.array([0, 5, 9], np.int32)
    model.save(tmp_path / "cgan.keras")
    loaded = keras.saving.load_model(tmp_path / "cgan.keras")
    assert type(loaded) is G.ConditionalGAN and loaded.num_classes == 10
    np.testing.assert_array_equal(loaded([z, y]), model.generator([z, y]))
    # the label matters: the same z with another class is another image
    assert np.abs(np.asarray(model.generator([z, y + 1])) - np.asarray(model.generator([z, y]))).max() > 1e-4


def test_adversarial_autoencoder_two_phases_and_reload(images, tmp_path):
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    model = AdversarialAutoencoder(*aae_networks(2), seed=0)
    model.compile(*(keras.optimizers.Adam(**ADAM) for _ in range(3)))
    encoder_before, decoder_before = weights(model.encoder), weights(model.decoder)
    d_before = weights(model.discriminator)
    logs = model.train_step(tf.constant(images[:64]))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "reconstruction"}
    assert [int(o.iterations) for o in (model.ae_optimizer, model.d_optimizer, model.g_optimizer)] == [1, 1, 1]
    assert all(changed(encoder_before, model.encoder)) and all(changed(decoder_before, model.decoder))
    assert all(changed(d_before, model.discriminator))
    model.save(tmp_path / "aae.keras")
    loaded = keras.saving.load_model(tmp_path / "aae.keras")
    assert type(loaded) is AdversarialAutoencoder and loaded.latent_dim == 2
    for a, b in zip(model.ae_optimizer.variables, loaded.ae_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(loaded(images[:3]), model(images[:3]))


def test_aae_with_a_bernoulli_decoder_and_a_conv_encoder_logs_the_cross_entropy_and_reloads(images, tmp_path):
    """reconstruction_loss="bce": the logged reconstruction is the mean binary cross-entropy of the batch
    before the step (not its squared error); the choice and the convolutional encoder survive saving; an
    unknown loss or encoder is refused."""
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    networks = aae_networks(2, units=32, encoder="conv")
    assert [type(layer).__name__ for layer in networks[0].layers].count("Conv2D") == 2
    model = AdversarialAutoencoder(*networks, reconstruction_loss="bce", seed=0)
    model.compile(*(keras.optimizers.Adam(**ADAM) for _ in range(3)))
    x = images[:64]
    before = np.clip(np.asarray(model(x)), 1e-7, 1 - 1e-7)
    bce = float(np.mean(-(x * np.log(before) + (1 - x) * np.log(1 - before))))
    logs = model.train_step(tf.constant(x))
    assert float(logs["reconstruction"]) == pytest.approx(bce, rel=1e-3)
    assert abs(bce - float(np.mean((x - before) ** 2))) > 0.1
    model.save(tmp_path / "aae.keras")
    loaded = keras.saving.load_model(tmp_path / "aae.keras")
    assert loaded.reconstruction_loss == "bce"
    np.testing.assert_array_equal(loaded.encoder(x[:3]), model.encoder(x[:3]))
    with pytest.raises(ValueError, match="reconstruction_loss must be one of"):
        AdversarialAutoencoder(*aae_networks(2, units=8), reconstruction_loss="l1")
    with pytest.raises(ValueError, match="encoder must be one of"):
        aae_networks(2, units=8, encoder="resnet")


def test_aae_priors_from_noise():
    """mixture: ⌊uK⌋ (or the label) picks the petal at angle 2πk/K, radius 3 ± 0.5; swiss_roll: the position
    v runs from the centre outwards; gaussian: the noise itself; the 2-d priors refuse other sizes."""
    from gen_keras.models.aae import nearest_component, prior_from_noise, sample_prior

    rng = np.random.default_rng(0)
    normal, uniform = rng.standard_normal((4000, 2)), rng.random(4000)
    np.testing.assert_array_equal(prior_from_noise("gaussian", normal, uniform).numpy(), normal.astype(np.float32))
    z = prior_from_noise("mixture", normal, uniform).numpy()
    k = np.floor(uniform * 10)
    angle = np.mod(np.arctan2(z[:, 1], z[:, 0]), 2 * np.pi)
    assert np.abs(np.angle(np.exp(1j * (angle - 2 * np.pi * k / 10)))).max() < 0.3  # each point by its petal
    assert abs(np.linalg.norm(z, axis=1).mean() - 3.0) < 0.05
    labels = np.arange(4000) % 10
    z = prior_from_noise("mixture", normal, uniform, labels).numpy()
    angle = np.mod(np.arctan2(z[:, 1], z[:, 0]), 2 * np.pi)
    assert np.abs(np.angle(np.exp(1j * (angle - 2 * np.pi * labels / 10)))).max() < 0.3
    roll = prior_from_noise("swiss_roll", np.zeros((5, 2)), np.linspace(0, 1, 5)).numpy()
    assert np.all(np.diff(np.linalg.norm(roll, axis=1)) > 0) and np.linalg.norm(roll[-1]) == pytest.approx(3.0)
    supervised = prior_from_noise("swiss_roll", np.zeros((10, 2)), np.zeros(10), np.arange(10)).numpy()
    assert np.all(np.diff(np.linalg.norm(supervised, axis=1)) > 0)  # class k sits further out than class k − 1
    assert sample_prior("mixture", 7, 2, seed=3).shape == (7, 2)
    np.testing.assert_array_equal(sample_prior("swiss_roll", 7, 2, seed=3), sample_prior("swiss_roll", 7, 2, seed=3))
    with pytest.raises(ValueError, match="is 2-d"):
        prior_from_noise("mixture", np.zeros((3, 4)), np.zeros(3))
    # nearest_component inverts the label's choice of petal (angles near 0 and 2π both go to component 0)
    np.testing.assert_array_equal(nearest_component(z), labels)
    np.testing.assert_array_equal(nearest_component(np.array([[3.0, -0.01], [3.0, 0.01], [-3.0, 0.0]])), [0, 0, 5])


def test_supervised_aae_step_feeds_the_label_to_the_discriminator_and_reloads(images, tmp_path):
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    model = AdversarialAutoencoder(*aae_networks(2, units=32, num_classes=10), prior="mixture", supervised=True,
                                   seed=0)
    model.compile(*(keras.optimizers.Adam(**ADAM) for _ in range(3)))
    d_before = weights(model.discriminator)
    labels = tf.constant(np.arange(64) % 10, tf.int32)
    logs = model.train_step((tf.constant(images[:64]), labels))
    assert np.isfinite(float(logs["d_loss"])) and all(changed(d_before, model.discriminator))
    codes = model.encoder(images[:4])
    # the discriminator's verdict on one code depends on the label it is shown with
    assert np.abs(np.asarray(model.discriminator([codes, labels[:4]]))
                  - np.asarray(model.discriminator([codes, labels[:4] + 1]))).max() > 1e-5
    model.save(tmp_path / "aae.keras")
    loaded = keras.saving.load_model(tmp_path / "aae.keras")
    assert (loaded.prior, loaded.supervised, loaded.num_classes) == ("mixture", True, 10)
    with pytest.raises(ValueError, match="needs a prior with a part per class"):
        AdversarialAutoencoder(*aae_networks(2, units=8, num_classes=10), supervised=True)



def test_aae_with_a_gaussian_posterior_draws_codes_in_training_only_and_reloads(images, tmp_path):
    """q(z|x) = N(μ(x), σ²(x)): the encoder draws z = μ + σ ε in training and returns μ in inference (the
    served encoder is deterministic); the model trains and reloads with it."""
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    encoder, decoder, discriminator = aae_networks(2, units=32, posterior="gaussian", seed=0)
    x = images[:8]
    mean = np.asarray(keras.Model(encoder.input, encoder.get_layer("mean").output)(x))
    np.testing.assert_allclose(encoder(x), mean, atol=1e-6)
    np.testing.assert_allclose(encoder(x), encoder(x))
    drawn = np.asarray(encoder(x, training=True))
    assert np.abs(drawn - mean).max() > 1e-3 and np.abs(drawn - np.asarray(encoder(x, training=True))).max() > 1e-3
    model = AdversarialAutoencoder(encoder, decoder, discriminator, prior="mixture", seed=0)
    model.compile(*(keras.optimizers.Adam(**ADAM) for _ in range(3)))
    logs = model.train_step(tf.constant(images[:64]))
    assert np.isfinite(float(logs["reconstruction"])) and np.isfinite(float(logs["g_loss"]))
    model.save(tmp_path / "aae.keras")
    loaded = keras.saving.load_model(tmp_path / "aae.keras")
    np.testing.assert_allclose(loaded.encoder(x), model.encoder(x), atol=1e-6)
    with pytest.raises(ValueError, match="posterior must be one of"):
        aae_networks(2, units=8, posterior="laplace")
