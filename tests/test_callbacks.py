"""The sample-watching callbacks (the grid, and the instrument's `SampleQuality`), run inside `model.fit` of a
real (tiny) generator."""

import csv

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small_classifier():
    """The shipped classifier: loaded, not trained."""
    from gen_keras import evaluation

    return evaluation.load_classifier("fashion_mnist")


def _tiny_generator(latent_dim=8):
    """z → Dense(784, tanh) → 28×28×1 images in [-1, 1], compiled to regress onto fixed targets."""
    import keras

    z = keras.Input((latent_dim,))
    image = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="tanh")(z))
    model = keras.Model(z, image)
    model.compile(optimizer="adam", loss="mse")
    return model


def test_sample_quality_and_grid_write_their_keys_and_files_during_fit(small_classifier, fashion_train, tmp_path):
    import keras

    from gen_keras.callbacks import SampleGrid
    from gen_keras.evaluation import Reference, SampleQuality

    generator = _tiny_generator()
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(300, 8)).astype("float32")
    targets = fashion_train.as_float()[:256] * 2 - 1
    generate = lambda z: generator(z, training=False)  # noqa: E731
    quality = SampleQuality(generate, small_classifier, latents, num_samples=200, value_range=(-1, 1),
                            every=1, fid_every=2, fid_at_end=True,
                            reference=Reference(np.random.default_rng(1).normal(size=(100, 128))))
    grid = SampleGrid(generate, tmp_path / "samples" / "epoch_{epoch:02d}.png", latents[:10], value_range=(-1, 1))
    history_path = tmp_path / "history.csv"
    history = generator.fit(rng.normal(size=(256, 8)).astype("float32"), targets, epochs=3, batch_size=64,
                            verbose=0, callbacks=[quality, grid, keras.callbacks.CSVLogger(str(history_path))])

    for key in ("sample_entropy", "max_class_share", "confident_share"):
        values = history.history[key]
        assert len(values) == 3 and all(np.isfinite(values))
    assert all(0.0 <= e <= np.log(10) + 1e-9 for e in history.history["sample_entropy"])
    assert all(0.1 - 1e-9 <= s <= 1.0 for s in history.history["max_class_share"])
    fids = history.history["fid"]  # epoch 2 (every 2nd) and epoch 3 (the last); NaN at epoch 1
    assert np.isnan(fids[0]) and np.isfinite(fids[1]) and np.isfinite(fids[2]) and fids[2] > 0
    assert quality.last_fid == fids[2] and quality.last_histogram.sum() == 200
    with open(history_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {"sample_entropy", "max_class_share", "fid"} <= set(rows[0])
    assert float(rows[2]["fid"]) == pytest.approx(fids[2])
    assert [p.rsplit("/", 1)[-1] for p in grid.paths] == ["epoch_01.png", "epoch_02.png", "epoch_03.png"]
    assert all((tmp_path / "samples" / f"epoch_0{e}.png").stat().st_size > 1000 for e in (1, 2, 3))


def test_sample_quality_sees_diversity_collapse_and_a_perfect_generator(small_classifier, fashion_test):
    """A "generator" that returns real test images by index: all 500 of them give FID 0 against their own
    features and the classifier's own histogram; one image repeated is total mode collapse."""
    from gen_keras import evaluation
    from gen_keras.evaluation import SampleQuality

    images = fashion_test.as_float()[:500]
    reference = evaluation.Reference(evaluation.features(small_classifier, images))
    show = lambda indices: images[indices]  # noqa: E731
    diverse = SampleQuality(show, small_classifier, np.arange(500), num_samples=500, reference=reference)
    logs = diverse.measure_diversity()
    expected = evaluation.class_histogram(evaluation.predict_classes(small_classifier, images), 10)
    np.testing.assert_array_equal(diverse.last_histogram, expected)
    assert logs["sample_entropy"] == pytest.approx(evaluation.class_entropy(expected))
    assert logs["sample_entropy"] > 2.0  # real images spread over the ten classes
    assert diverse.measure_fid() < 1e-6

    assert 0.3 < logs["confident_share"] < 1.0 and logs["confident_max_class_share"] < 0.3

    sure = int(np.argmax(evaluation.class_probabilities(small_classifier, images).max(axis=1)))
    collapsed = SampleQuality(show, small_classifier, np.full(500, sure), reference=reference)
    logs = collapsed.measure_diversity()  # one recognisable image 500 times: collapse, seen by both measures
    assert logs == {"sample_entropy": 0.0, "max_class_share": 1.0, "confident_share": 1.0,
                    "confident_max_class_share": 1.0}
    assert collapsed.measure_fid() > 10 * diverse.measure_fid() + 1.0


def test_a_batch_of_noise_is_not_one_mode(small_classifier):
    """Uniform noise: argmax puts most of it in one class (max_class_share > 0.5, what read as collapse in
    earlier GAN runs), but the classifier is sure of almost none of it, so the confident measures see no mode."""
    from gen_keras.evaluation import SampleQuality

    noise = np.random.default_rng(0).uniform(size=(500, 28, 28, 1)).astype(np.float32)
    logs = SampleQuality(lambda i: noise[i], small_classifier, np.arange(500), num_samples=500).measure_diversity()
    assert logs["max_class_share"] > 0.5
    assert logs["confident_share"] < 0.05  # fewer than 25 of 500 samples count towards any class


def test_latent_tuples_are_batched_together():
    from gen_keras.inference import sample_in_batches

    z, labels = np.arange(1200.0).reshape(600, 2), np.arange(600)
    out = sample_in_batches(lambda zl: zl[0][:, :1] + zl[1][:, None], (z, labels), count=550, batch_size=100)
    np.testing.assert_array_equal(out[:, 0], z[:550, 0] + labels[:550])
