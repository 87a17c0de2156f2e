"""`python -m gen_keras.evaluate`: every signature kind scored from a tiny export, compared with its record,
and clear errors for paths that are not exports or hold nothing to score."""

import json
import math

import numpy as np
import pytest

SAMPLES = 300


@pytest.fixture(scope="module")
def tiny_exports(tmp_path_factory):
    """One tiny export of each kind the command scores, with the numbers a recipe would record."""
    import keras
    import tensorflow as tf

    from gen_keras import evaluate as ev
    from gen_keras import data, metrics
    from gen_keras.serving import export

    root = tmp_path_factory.mktemp("evaluate_exports")
    paths = {}

    # A generator z (8) → image, untrained; its record is what the recipe would have measured on z from seed 5.
    keras.utils.set_random_seed(0)
    z = keras.Input((8,), name="z")
    image = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(z))
    generator = keras.Model(z, image)
    latents = np.random.default_rng(5).standard_normal((SAMPLES, 8)).astype(np.float32)
    scores = ev.sample_scores(generator.predict(latents, verbose=0), "fashion_mnist")
    record = {"fid": scores["fid"], "kid": scores["kid"], "num_samples": SAMPLES, "seed": 5}
    paths["generator"] = export.export_for_serving(generator, root, "tiny", "generator", inputs={"z": (8,)},
                                                   outputs="image", metadata={"evaluation": {"serving_default": record}})
    paths["generator_wrong"] = export.export_for_serving(
        generator, root, "tiny", "generator_wrong", inputs={"z": (8,)}, outputs="image",
        metadata={"evaluation": {"serving_default": {**record, "fid": 2 * record["fid"] + 10}}})
    paths["generator_other_classifier"] = export.export_for_serving(
        generator, root, "tiny", "generator_other_classifier", inputs={"z": (8,)}, outputs="image",
        metadata={"evaluation": {"serving_default": {**record, "fid": 2 * record["fid"] + 10,
                                                     "classifier_sha256": "0" * 64}}})

    # A model with `sample` (uniform noise images) and `log_prob` (independent Bernoulli(0.3) pixels).
    def sample(num_samples, seed, temperature=1.0):  # the default is written into the signature
        return {"image": temperature * tf.random.stateless_uniform([num_samples, 28, 28, 1], tf.stack([seed, 0]))}

    def log_prob(image):
        flat = tf.reshape(image, [tf.shape(image)[0], -1])
        return {"log_prob": tf.reduce_sum(flat * math.log(0.3) + (1 - flat) * math.log(0.7), axis=1)}

    # What the recipe would record of `sample`: batches of max_samples (100), batch i drawn with seed i.
    drawn = tf.concat([sample(100, tf.constant(i))["image"] for i in range(SAMPLES // 100)], 0).numpy()
    sample_record = {**ev.sample_scores(drawn, "fashion_mnist"), "seed": 0, "inputs": {"temperature": 1.0}}
    holder = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    paths["likelihood"] = export.export_signatures(
        holder, root, "tiny", "likelihood",
        {"log_prob": export.Endpoint(log_prob, {"image": tf.TensorSpec([None, 28, 28, 1], tf.float32)}),
         "sample": export.Endpoint(sample, {"num_samples": tf.TensorSpec([], tf.int32),
                                            "seed": tf.TensorSpec([], tf.int32),
                                            "temperature": tf.TensorSpec([], tf.float32)})},
        metadata={"max_samples": 100, "evaluation": {
            "log_prob": {"prepare": "binarize", "binarize": "stochastic", "seed": 3},
            "sample": {k: sample_record[k] for k in ("fid", "kid", "num_samples", "seed", "inputs")}}})

    # An anomaly scorer (mean brightness) of class 1 and an encoder (4 × 4 average pooling → 16 numbers).
    test = data.load_images("fashion_mnist", "test", SAMPLES)
    image_in = keras.Input((28, 28, 1), name="image")
    brightness = keras.Model(image_in, keras.layers.GlobalAveragePooling2D()(image_in))
    auroc = metrics.roc_auc(test.as_float().mean(axis=(1, 2, 3)), test.labels != 1)
    paths["scorer"] = export.export_signatures(
        brightness, root, "tiny", "scorer",
        {"score": export.Endpoint(lambda image: {"score": tf.reduce_mean(image, axis=[1, 2, 3])},
                                  {"image": tf.TensorSpec([None, 28, 28, 1], tf.float32)})},
        metadata={"class": 1, "test_auroc": auroc})
    pooled = keras.layers.Flatten()(keras.layers.AveragePooling2D(7)(image_in))
    paths["encoder"] = export.export_for_serving(keras.Model(image_in, pooled), root, "tiny", "encoder",
                                                 inputs={"image": (28, 28, 1)}, outputs="code")
    # A decoder beside the encoder (16 numbers → image): a plain autoencoder's, its codes following no prior.
    keras.utils.set_random_seed(1)
    code_in = keras.Input((16,), name="code")
    decoded = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(code_in))
    paths["decoder"] = export.export_for_serving(keras.Model(code_in, decoded), root, "tiny", "decoder",
                                                 inputs={"code": (16,)}, outputs="image")
    # A discriminator: image → logit, nothing this command scores.
    logit = keras.layers.Dense(1)(keras.layers.Flatten()(image_in))
    paths["discriminator"] = export.export_for_serving(keras.Model(image_in, logit), root, "tiny", "discriminator",
                                                       inputs={"image": (28, 28, 1)}, outputs="logit")
    return root, paths, test


def test_generator_rescored_as_recorded(tiny_exports):
    from gen_keras import evaluate as ev

    _, paths, _ = tiny_exports
    result = ev.evaluate(paths["generator"])
    (row,) = result["rows"]
    assert row["kind"] == "generator" and row["num_samples"] == SAMPLES and row["seed"] == 5
    assert row["comparable"] and ev.check(row, 0.05) == []
    assert row["fid"] == pytest.approx(row["recorded"]["fid"], rel=1e-3)
    assert len(result["classifier_sha256"]) == 64


def test_a_number_off_its_record_fails_the_command(tiny_exports, capsys, tmp_path, monkeypatch):
    from gen_keras import evaluate as ev
    from gen_keras import evaluation

    _, paths, _ = tiny_exports
    monkeypatch.setenv("GEN_KERAS_CACHE", str(tmp_path))  # an empty cache stays empty: the shipped weights score
    assert ev.main([str(paths["generator"])]) == 0
    printed = capsys.readouterr().out
    assert "matches its record" in printed and "classifier shipped" in printed
    assert evaluation.classifier_card()["sha256"] in printed and not any(tmp_path.iterdir())
    assert ev.main([str(paths["generator_wrong"])]) == 1
    assert "differs from the recorded" in capsys.readouterr().err
    # Another sample count is a different measurement: reported, not compared.
    assert ev.main([str(paths["generator_wrong"]), "--samples", "200", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"][0]["num_samples"] == 200 and not printed["rows"][0]["comparable"]
    assert "200 samples where" in printed["rows"][0]["not_compared"]
    # A record made with another classifier's features: a different instrument, reported, not compared.
    assert ev.main([str(paths["generator_other_classifier"])]) == 0
    assert "not compared with its record: a classifier other than the recorded one (sha256 000000000000…)" in (
        capsys.readouterr().out)


def test_sample_and_log_prob_signatures(tiny_exports):
    from gen_keras import data
    from gen_keras import evaluate as ev

    _, paths, test = tiny_exports
    result = ev.evaluate(paths["likelihood"], samples=SAMPLES)
    rows = {row["kind"]: row for row in result["rows"]}
    assert set(rows) == {"sample", "log_prob"}
    assert rows["sample"]["num_samples"] == SAMPLES and rows["sample"]["fid"] > 50  # uniform noise is far off
    assert rows["sample"]["comparable"] and ev.check(rows["sample"], 0.05) == []  # the recorded draws again
    # `temperature` was left out above (its default, 1, filled in); set, it changes the samples, and the row
    # is then another measurement than the recorded one
    (dimmer,) = ev.evaluate(paths["likelihood"], samples=SAMPLES, only="sample", knobs={"temperature": 0.2})["rows"]
    assert abs(dimmer["fid"] - rows["sample"]["fid"]) > 1 and not dimmer["comparable"]
    bits = data.binarized_splits([test], "stochastic", seed=3)[0].as_float().reshape(SAMPLES, -1)
    expected = -np.mean(np.sum(bits * math.log(0.3) + (1 - bits) * math.log(0.7), axis=1))
    assert rows["log_prob"]["nll_nats"] == pytest.approx(expected, rel=1e-5)
    assert rows["log_prob"]["bits_per_dim"] == pytest.approx(expected / (784 * math.log(2)), rel=1e-5)


def test_anomaly_scorer_and_encoder(tiny_exports):
    from gen_keras import evaluate as ev

    _, paths, _ = tiny_exports
    (row,) = ev.evaluate(paths["scorer"], samples=SAMPLES)["rows"]
    assert row["kind"] == "anomaly" and row["class"] == 1
    assert row["auroc"] == pytest.approx(row["recorded"]["auroc"], abs=1e-6)
    (row,) = ev.evaluate(paths["encoder"], samples=1000)["rows"]
    assert row["kind"] == "encoder" and row["code_dim"] == 16
    assert 0.45 < row["probe_accuracy"] <= 1.0  # 16 pooled pixels: far above chance (0.1)


def test_a_plain_decoder_is_scored_through_the_encoder_beside_it(tiny_exports, tmp_path):
    import shutil

    import keras

    from gen_keras import evaluate as ev
    from gen_keras.errors import EvaluationError

    _, paths, test = tiny_exports
    (row,) = ev.evaluate(paths["decoder"], samples=SAMPLES)["rows"]
    assert row["kind"] == "reconstruction" and row["num_images"] == SAMPLES
    assert row["encoder"] == str(paths["encoder"])
    encoder = keras.layers.TFSMLayer(str(paths["encoder"]), call_endpoint="serving_default")
    decoder = keras.layers.TFSMLayer(str(paths["decoder"]), call_endpoint="serving_default")
    images = test.as_float()
    decoded = decoder(encoder(images)["code"])["image"].numpy()
    assert row["reconstruction_mse"] == pytest.approx(float(np.mean((decoded - images) ** 2)), rel=1e-5)
    assert 0.01 < row["reconstruction_mse"] < 0.5  # an untrained decoder: far from its images, and measured
    alone = tmp_path / "alone" / "decoder" / "1"  # no encoder beside it: its codes cannot be drawn
    shutil.copytree(paths["decoder"], alone)
    with pytest.raises(EvaluationError, match="nothing to score"):
        ev.evaluate(alone)
    # an encoder beside it whose codes are another size: not its encoder, said so
    from gen_keras.serving import export

    image = keras.Input((28, 28, 1), name="image")
    other = keras.Model(image, keras.layers.Flatten()(keras.layers.AveragePooling2D(14)(image)))  # 4 numbers
    export.export_for_serving(other, tmp_path, "alone", "encoder", inputs={"image": (28, 28, 1)}, outputs="code")
    with pytest.raises(EvaluationError, match="makes 4-d codes where the decoder takes 16"):
        ev.evaluate(alone)


def test_unscorable_paths_are_clear_errors(tiny_exports, tmp_path, capsys):
    from gen_keras import evaluate as ev
    from gen_keras.errors import EvaluationError

    root, paths, _ = tiny_exports
    with pytest.raises(EvaluationError, match="nothing to score"):
        ev.evaluate(paths["discriminator"])
    with pytest.raises(EvaluationError, match="does not exist"):
        ev.evaluate(tmp_path / "missing")
    with pytest.raises(EvaluationError, match="no saved_model.pb"):
        ev.evaluate(tmp_path)
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(EvaluationError, match="does not load"):
        ev.evaluate(broken)
    (tmp_path / "notes.txt").write_text("hello")
    assert ev.main([str(tmp_path / "notes.txt")]) == 2
    assert "neither a SavedModel folder nor a .keras file" in capsys.readouterr().err
    # A part folder means its newest version.
    assert ev.resolve(paths["generator"].parent) == paths["generator"]


def test_keras_files_are_scored_like_their_savedmodels(tiny_exports, tmp_path):
    import keras

    from gen_keras import evaluate as ev
    from gen_keras.errors import EvaluationError

    _, paths, _ = tiny_exports
    (row,) = ev.evaluate(paths["generator"] / "generator.keras")["rows"]
    assert row["kind"] == "generator" and row["fid"] == pytest.approx(row["recorded"]["fid"], rel=1e-3)
    with pytest.raises(EvaluationError, match="nothing to score"):  # a discriminator's logit is not a code
        ev.evaluate(paths["discriminator"] / "discriminator.keras")

    @keras.saving.register_keras_serializable(package="test_evaluate")
    class Doubler(keras.Model):
        def call(self, x):
            return 2 * x

    doubler = Doubler()
    doubler(np.zeros((1, 4), np.float32))
    doubler.save(tmp_path / "doubler.keras")
    with pytest.raises(EvaluationError, match="subclassed model"):
        ev.evaluate(tmp_path / "doubler.keras")


def test_all_scores_every_export_under_a_root(tiny_exports, capsys):
    from gen_keras import evaluate as ev

    root, paths, _ = tiny_exports
    found = ev.export_folders(root)
    assert set(found) == set(paths.values())
    assert ev.main(["--all", str(root), "--samples", "100", "--only", "generator", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {r["path"] for r in printed} == {str(paths[name]) for name in (
        "generator", "generator_wrong", "generator_other_classifier", "decoder")}


def test_signatures_are_told_apart_by_their_shapes():
    """What `evaluate` scores, from declared shapes alone; a flow's `encode` of 2-d points is no image encoder
    (a probe on it once crashed unpacking an image shape)."""
    from gen_keras.serving.reader import classify

    f32 = "float32"
    assert classify({"image": (f32, [None, 28, 28, 1])}, {"code": (f32, [None, 49])}) == "encoder"
    assert classify({"x": (f32, [None, 2])}, {"z": (f32, [None, 2])}, "encode") is None
    assert classify({"image": (f32, [None, 28, 28, 1])}, {"logit": (f32, [None, 1])}) is None
    assert classify({"z": (f32, [None, 64])}, {"image": (f32, [None, 28, 28, 1])}) == "generator"
    assert classify({"x": (f32, [None, 2])}, {"log_prob": (f32, [None])}, "log_prob") == "log_prob"  # of points
    # a translator is told by its signature's name: an autoencoder's image → image is not one
    low, full = (f32, [None, 7, 7, 1]), (f32, [None, 28, 28, 1])
    assert classify({"image": low}, {"image": full}, "translate") == "translate"
    assert classify({"image": full}, {"image": full}, "serving_default") is None


def test_prior_codes_are_drawn_as_the_recipes_draw_them():
    from gen_keras import evaluate as ev
    from gen_keras.errors import EvaluationError
    from gen_keras.models.aae import sample_prior

    np.testing.assert_array_equal(ev.prior_codes({"prior": "normal"}, 5, 3, seed=4),
                                  np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32))
    # An adversarial autoencoder's mixture, label-picked in the supervised variant: the classes in turn.
    np.testing.assert_array_equal(ev.prior_codes({"prior": "mixture"}, 50, 2, seed=1),
                                  sample_prior("mixture", 50, 2, 1))
    supervised = ev.prior_codes({"prior": "mixture", "supervised": True, "num_classes": 10}, 50, 2, seed=1)
    np.testing.assert_array_equal(supervised, sample_prior("mixture", 50, 2, 1, np.arange(50) % 10, 10))
    assert not np.array_equal(supervised, sample_prior("mixture", 50, 2, 1))
    # A Gaussian fitted to codes: its mean and covariance, and the first draws do not depend on the count.
    fitted = {"prior": "gaussian_fit", "mean": [5.0, -3.0], "covariance": [[4.0, 1.0], [1.0, 1.0]]}
    z = ev.prior_codes(fitted, 20_000, 2, seed=0)
    np.testing.assert_allclose(z.mean(axis=0), [5.0, -3.0], atol=0.05)
    np.testing.assert_allclose(np.cov(z, rowvar=False), fitted["covariance"], atol=0.1)
    np.testing.assert_array_equal(ev.prior_codes(fitted, 10, 2, seed=0), z[:10])
    for record in ({}, {"prior": "gaussian_fit"}, {"prior": "laplace"}):
        with pytest.raises(EvaluationError, match="cannot be sampled"):
            ev.prior_codes(record, 4, 2, seed=0)
