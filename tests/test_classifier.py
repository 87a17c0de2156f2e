"""The feature classifier: its exact architecture, its cache, its input ranges and the FID it feeds."""

import os
import time

import numpy as np
import pytest

SMALL = {"limit": 2048, "epochs": 1}  # 16 steps of 128: a few seconds, about 60% test accuracy


@pytest.fixture(scope="session")
def cached_classifier(tmp_path_factory):
    """A classifier trained on 2,048 images for one epoch into a fresh cache folder: (model, cache_dir)."""
    from gen_keras import classifier

    cache_dir = tmp_path_factory.mktemp("classifier_cache")
    return classifier.load_or_train_classifier("fashion_mnist", cache_dir, **SMALL), cache_dir


def test_architecture_is_the_issues_network():
    import keras

    from gen_keras import classifier

    model = classifier.build_classifier()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                     "Dense", "Dropout", "Dense"]
    conv1, conv2 = model.layers[1], model.layers[3]
    assert (conv1.filters, conv1.kernel_size, conv1.activation) == (32, (3, 3), keras.activations.relu)
    assert (conv2.filters, conv2.kernel_size, conv2.activation) == (64, (3, 3), keras.activations.relu)
    assert [l.pool_size for l in (model.layers[2], model.layers[4])] == [(2, 2), (2, 2)]
    features = model.get_layer("features")
    assert features is model.layers[6]
    assert (features.units, features.activation) == (128, keras.activations.relu)
    assert model.layers[7].rate == 0.3
    assert model.layers[8].units == 10 and model.layers[8].activation == keras.activations.linear
    # 3·3·1·32+32 + 3·3·32·64+64 + (5·5·64)·128+128 + 128·10+10
    assert model.count_params() == 320 + 18_496 + 204_928 + 1_290 == 225_034
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)


def test_stays_float32_under_a_mixed_precision_policy():
    import keras

    from gen_keras import classifier

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = classifier.build_classifier()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {l.compute_dtype for l in model.layers[1:]} == {"float32"}
    assert model.output.dtype == "float32"


def test_cache_is_written_once_then_loaded_with_identical_predictions(cached_classifier, fashion_test):
    from gen_keras import classifier

    trained, cache_dir = cached_classifier
    path = classifier.classifier_cache_path("fashion_mnist", cache_dir, **SMALL)
    assert path.exists() and "fashion_mnist" in path.name and "seed0" in path.name and "_v1" in path.name
    assert not [n for n in os.listdir(cache_dir) if n.endswith(".keras") and n != path.name]  # no temp files
    written = path.stat().st_mtime_ns
    images = fashion_test.as_float()[:500]

    start = time.perf_counter()
    loaded = classifier.load_or_train_classifier("fashion_mnist", cache_dir, **SMALL)
    load_seconds = time.perf_counter() - start
    assert path.stat().st_mtime_ns == written  # not trained and saved again
    assert loaded is not trained
    np.testing.assert_array_equal(classifier.predict_classes(loaded, images),
                                  classifier.predict_classes(trained, images))
    np.testing.assert_allclose(classifier.extract_features(loaded, images),
                               classifier.extract_features(trained, images), rtol=0, atol=1e-6)
    assert load_seconds < 3.0, load_seconds
    # 16 steps of training already beat chance (10%) by far
    accuracy = np.mean(classifier.predict_classes(loaded, images) == fashion_test.labels[:500])
    assert accuracy > 0.45, accuracy


def test_corrupt_cache_file_is_retrained_with_a_warning(tmp_path):
    from gen_keras import classifier

    settings = {"limit": 256, "epochs": 1}
    path = classifier.classifier_cache_path("fashion_mnist", tmp_path, **settings)
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.warns(UserWarning, match=r"classifier .* is unusable .*training it again"):
        model = classifier.load_or_train_classifier("fashion_mnist", tmp_path, **settings)
    assert model.get_layer("features").units == 128
    reloaded, problem = classifier._load_checked(path)  # the bad file was replaced by a good one
    assert reloaded is not None, problem


def test_unwritable_cache_folder_says_what_to_do(tmp_path):
    from gen_keras import classifier
    from gen_keras.errors import GenKerasError

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(GenKerasError, match="GEN_KERAS_CACHE"):
        classifier.load_or_train_classifier("fashion_mnist", blocker / "cache", limit=256, epochs=1)


def test_value_range_maps_tanh_images_and_rejects_a_wrong_range(cached_classifier, fashion_test):
    from gen_keras import classifier

    model, _ = cached_classifier
    images = fashion_test.as_float()[:200]
    tanh_images = images * 2.0 - 1.0
    np.testing.assert_allclose(classifier.to_unit_range(tanh_images, (-1, 1)), images, atol=1e-6)
    np.testing.assert_array_equal(classifier.predict_classes(model, tanh_images, value_range=(-1, 1)),
                                  classifier.predict_classes(model, images))
    with pytest.raises(ValueError, match=r"value_range=\(-1, 1\)"):
        classifier.predict_classes(model, tanh_images)  # the default (0, 1) does not fit [-1, 1]
    # a small overshoot (a linear decoder's output) is clipped, not an error
    np.testing.assert_array_equal(classifier.to_unit_range(np.array([-0.02, 0.5, 1.03])), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(classifier.to_unit_range(np.array([0, 51, 255], np.uint8), (0, 255)), [0, 0.2, 1])


def test_features_are_the_128_relu_units(cached_classifier, fashion_test):
    from gen_keras import classifier

    model, _ = cached_classifier
    images = fashion_test.as_float()[:100]
    features = classifier.extract_features(model, images)
    assert features.shape == (100, 128) and features.dtype == np.float32 and features.min() >= 0
    np.testing.assert_allclose(features, np.asarray(classifier.feature_extractor(model)(images)), atol=1e-5)


def test_fid_of_real_images_is_small_and_grows_with_a_distortion(cached_classifier, fashion_train, fashion_test):
    from gen_keras import metrics

    model, _ = cached_classifier
    train, test = fashion_train.as_float()[:500], fashion_test.as_float()[:500]
    same = metrics.fid(test, test, model)
    real = metrics.fid(train, test, model)
    assert metrics.real_fid_floor(model, num_images=500) == pytest.approx(real, rel=1e-6)  # the same 500 + 500
    dimmed = metrics.fid(train * 0.5, test, model)
    assert same < 1e-6
    assert 0 < real < dimmed, (real, dimmed)
    # the same images stated as [-1, 1] give the same FID
    assert np.isclose(metrics.fid(train * 2 - 1, test, model, value_range_a=(-1, 1)), real, rtol=1e-4)
