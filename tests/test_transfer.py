"""Transfer learning: exported encoders loaded both ways (.keras, SavedModel through TFSMLayer), fine-tuned
with Adam, batch norm through a training endpoint, class-balanced labels, and the recipe end to end."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras import inference, transfer
from gen_keras.serving import export
from tests.conftest import assert_signatures_describe_themselves, run_python

RECIPE = "recipes/transfer_learning.py"


@pytest.fixture(scope="module")
def tiny_exports(fashion_train, tmp_path_factory):
    """A lecture conv autoencoder and a VAE (4-d latent), each trained for a few steps, exported as the
    recipes export them: (root, {name: (in-memory encoder, version folder, feature output)})."""
    from gen_keras.models.autoencoders import conv_autoencoder
    from gen_keras.models.vae import build_vae

    keras.utils.set_random_seed(0)
    x = fashion_train.as_float()[:512]
    parts = conv_autoencoder("lecture")
    parts.autoencoder.compile(optimizer="adam", loss="mse")
    parts.autoencoder.fit(x, x, batch_size=128, epochs=1, verbose=0)
    vae = build_vae(4, seed=0)
    vae.compile(optimizer="adam")
    vae.fit(x, batch_size=128, epochs=1, verbose=0)
    root = tmp_path_factory.mktemp("encoders")
    ae_path = export.export_for_serving(parts.encoder, root, "conv_autoencoder", "encoder",
                                        inputs={"image": (28, 28, 1)}, outputs="code")
    vae_path = export.export_for_serving(vae.encoder, root, "vae", "encoder", inputs={"image": (28, 28, 1)},
                                         outputs=("mean", "log_var"))
    return root, {"conv_autoencoder": (parts.encoder, ae_path, "code"),
                  "vae": (keras.Model(vae.encoder.inputs[0], vae.encoder.outputs[0]), vae_path, "mean")}


def test_both_loaders_give_the_trained_encoders_features(tiny_exports, fashion_test):
    assert len(assert_signatures_describe_themselves(tiny_exports[0])) == 2
    x = fashion_test.as_float()[:200]
    for name, (model, path, output) in tiny_exports[1].items():
        want = model(x, training=False).numpy()
        assert np.std(want) > 1e-3, name  # not a constant: the comparison means something
        for how in ("keras", "savedmodel"):
            encoder = transfer.load_encoder(path, how, output)
            got = inference.predict_in_batches(encoder, fashion_test.images[:200])  # uint8 in, scaled to [0, 1]
            assert got.shape == want.shape, (name, how)
            assert np.max(np.abs(got - want)) <= 1e-5, (name, how)
    with pytest.raises(ValueError, match=r"outputs \['log_var', 'mean'\]"):
        transfer.load_encoder(tiny_exports[1]["vae"][1], "savedmodel")  # two outputs: which one?


@pytest.mark.parametrize("how", ["keras", "savedmodel"])
def test_fine_tuning_with_adam_changes_the_encoder(tiny_exports, fashion_train, how):
    """One Adam step through the whole classifier moves the loaded encoder's weights, and the encoder
    computes with the new weights (for the SavedModel: the graph reads the variables being trained)."""
    _, path, output = tiny_exports[1]["conv_autoencoder"]
    encoder = transfer.load_encoder(path, how, output)
    classifier = transfer.classifier_on_encoder(encoder, 10, trainable=True)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = fashion_train.as_float()[:64], fashion_train.labels[:64]
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    features_before = encoder(x[:8]).numpy()
    assert before, "the loaded encoder has no trainable weights"
    loss = classifier.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.trainable_weights)]
    assert all(changed), changed
    assert not np.allclose(encoder(x[:8]).numpy(), features_before)


def test_frozen_encoder_stays_put(tiny_exports, fashion_train):
    _, path, output = tiny_exports[1]["vae"]
    encoder = transfer.load_encoder(path, "savedmodel", output)
    classifier = transfer.classifier_on_encoder(encoder, 10, trainable=False)
    before = [w.numpy().copy() for w in encoder.weights]
    result = transfer.fit_classifier(classifier, fashion_train.images[:200], fashion_train.labels[:200],
                                     fashion_train.images[200:260], fashion_train.labels[200:260],
                                     learning_rate=1e-3, batch_size=32, max_steps=20, check_every=10)
    assert result.steps == 20 and result.best_step in (10, 20)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.weights))
    assert any(not np.array_equal(w.numpy(), 0) for w in classifier.get_layer("head").trainable_weights)


def test_plain_tfsmlayer_still_breaks_adam(tiny_exports):
    """Why FineTunableTFSMLayer exists (Keras 3.15.1, TF 2.21): the loaded weights are named '...:0' and
    Adam's slot names '<name>_momentum' are not valid scope names. If this fails, Keras fixed it and the
    subclass can go."""
    _, path, _ = tiny_exports[1]["conv_autoencoder"]
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    assert all(w.name.endswith(":0") for w in layer.weights)
    image = keras.Input((28, 28, 1))
    model = keras.Model(image, keras.layers.Dense(10)(layer(image)["code"]))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="not a valid scope name"):
        model.train_on_batch(np.zeros((2, 28, 28, 1), np.float32), np.zeros(2, np.int64))


def test_batch_norm_needs_the_training_endpoint(tmp_path, fashion_train):
    """An encoder with batch norm: without `serve_training`, a TFSMLayer in training mode still normalises
    by the moving averages and never updates them; with it, it matches Keras's training mode and moves them."""
    keras.utils.set_random_seed(1)
    image = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    h = keras.layers.BatchNormalization(name="bn")(h)
    model = keras.Model(image, keras.layers.Dense(5, name="code")(keras.layers.Flatten()(h)))
    plain = export.export_for_serving(model, tmp_path, "bn", "encoder", inputs={"image": (28, 28, 1)},
                                      outputs="code", save_keras=False)
    both = export.export_for_serving(model, tmp_path, "bn", "encoder", inputs={"image": (28, 28, 1)},
                                     outputs="code", save_keras=False, training_endpoint=True)
    assert list(tf.saved_model.load(str(plain)).signatures) == ["serving_default"]  # unchanged default
    assert sorted(tf.saved_model.load(str(both)).signatures) == ["serve_training", "serving_default"]
    x = fashion_train.as_float()[:32]
    want_inference = model(x, training=False).numpy()
    want_training = model(x, training=True).numpy()  # batch statistics (this call moves the model's averages)
    for path, endpoint in ((plain, None), (both, "serve_training")):
        layer = transfer.FineTunableTFSMLayer(str(path), call_endpoint="serving_default",
                                              call_training_endpoint=endpoint)
        moving = [w for w in layer.non_trainable_weights if "moving_mean" in w.name]
        assert len(moving) == 1
        start = moving[0].numpy().copy()
        out = layer(x, training=True)["code"].numpy()
        if endpoint is None:
            np.testing.assert_allclose(out, want_inference, atol=1e-5)
            np.testing.assert_array_equal(moving[0].numpy(), start)
        else:
            np.testing.assert_allclose(out, want_training, atol=1e-5)
            assert not np.allclose(moving[0].numpy(), start)


def test_labelled_subsets_are_class_balanced_and_seeded(fashion_train):
    labels = fashion_train.labels
    idx = transfer.balanced_indices(labels, 100, seed=3)
    assert len(set(idx.tolist())) == 100 and np.all(np.bincount(labels[idx], minlength=10) == 10)
    np.testing.assert_array_equal(idx, transfer.balanced_indices(labels, 100, seed=3))
    assert set(idx.tolist()) != set(transfer.balanced_indices(labels, 100, seed=4).tolist())
    counts = np.bincount(labels[transfer.balanced_indices(labels, 105, seed=0)], minlength=10)
    assert counts.sum() == 105 and counts.max() - counts.min() == 1
    # a class too small for its share gives all it has; the others make up the rest
    skewed = np.array([0] * 3 + [1] * 50 + [2] * 50)
    counts = np.bincount(skewed[transfer.balanced_indices(skewed, 30, seed=0)], minlength=3)
    assert counts.tolist() == [3, 14, 13] or counts.tolist() == [3, 13, 14]
    train, val = transfer.labelled_split(labels, 100, seed=3)
    assert len(train) == 80 and len(val) == 20 and not set(train) & set(val)
    assert sorted([*train, *val]) == sorted(idx.tolist())
    assert np.all(np.bincount(labels[val], minlength=10) == 2)
    subset = transfer.labelled_subset(fashion_train, 50, seed=0)
    assert len(subset) == 50 and np.all(np.bincount(subset.labels, minlength=10) == 5)


def test_missing_encoder_says_which_recipe_to_run(tmp_path, fashion_train):
    with pytest.raises(transfer.EncoderNotFound, match="no exported vae encoder in .*Run this"):
        transfer.latest_export(tmp_path, "vae", "encoder", hint="Run this.")
    result = run_python([RECIPE, "--quick", "--encoder-dir", str(tmp_path), "--out", str(tmp_path / "out")],
                        timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "python recipes/conv_autoencoder.py" in result.stderr and "--pretrain" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_recipe_pretrains_and_writes_table_json_and_plot(tmp_path):
    """--pretrain on a few hundred images, one label count, one seed (--quick), the encoders fine-tuned
    through TFSMLayer: the whole path, exports included (the averaging over seeds is test_summary_and_table's)."""
    out = tmp_path / "out"
    result = run_python([RECIPE, "--quick", "--pretrain", "--limit", "400", "--label-counts", "50", "--max-steps", "20",
                         "--load", "savedmodel", "--encoder-dir", str(tmp_path / "sm"), "--out", str(out)], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("conv_autoencoder", "vae"):
        assert (tmp_path / "sm" / name / "encoder" / "1" / "encoder.keras").exists()
    assert len(assert_signatures_describe_themselves(tmp_path / "sm")) == 2
    m = json.loads((out / "metrics.json").read_text())
    assert m["label_counts"] == [50] and m["seeds"] == 1 and m["max_steps"] == 20 and m["load"] == "savedmodel"
    assert len(m["runs"]) == 2 * 3  # encoders × methods
    assert all(r["steps"] == 20 and r["train"] == 40 and r["validation"] == 10 for r in m["runs"])
    assert all(0 <= r["test_accuracy"] <= 1 and r["train"] + r["validation"] == r["labels"] for r in m["runs"])
    assert all(v <= 1e-5 for v in m["feature_max_abs_difference"].values())
    table = (out / "results.md").read_text()
    for row in ("| conv autoencoder | frozen + head |", "| VAE | fine-tuned |", "| VAE | from scratch |"):
        assert row in table
    assert "| 50 labels |" in table and " ± 0.0 |" in table
    assert table.split("\n\n")[1].strip() in result.stdout
    assert (out / "accuracy_vs_labels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_and_table():
    records = [{"encoder": "VAE", "method": "fine-tuned", "labels": n, "test_accuracy": a}
               for n, a in ((100, 0.60), (100, 0.64), (60000, 0.9))]
    summary = transfer.summarize(records)
    assert summary[("VAE", "fine-tuned", 100)]["mean"] == pytest.approx(0.62)
    assert summary[("VAE", "fine-tuned", 100)]["std"] == pytest.approx(np.std([0.60, 0.64], ddof=1))
    assert summary[("VAE", "fine-tuned", 60000)] == {"mean": 0.9, "std": 0.0, "n": 1}
    table = transfer.markdown_table(summary, [100, 1000, 60000], {60000: "all (60,000)"})
    assert table.splitlines() == ["| encoder | method | 100 labels | 1,000 labels | all (60,000) |",
                                  "|---|---|---|---|---|",
                                  "| VAE | fine-tuned | 62.0 ± 2.8 |  | 90.0 ± 0.0 |"]
