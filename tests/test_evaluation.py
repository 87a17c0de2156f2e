"""The sample-quality instrument (gen_keras.evaluation): the classifier's network, its shipped weights and card,
the cache of classifiers trained here, its input ranges, FID, KID, the floor, confident class shares and the
classes a model drops, and the score that holds them all."""

import ast
import os
import time

import numpy as np
import pytest

from gen_keras import evaluation
from gen_keras.divergences import polynomial_kernel
from tests.conftest import ROOT

SMALL = {"limit": 2048, "epochs": 1}  # 16 steps of 128: a few seconds, about 60% test accuracy


@pytest.fixture(scope="module")
def shipped():
    """The shipped Fashion-MNIST classifier (loads in a fraction of a second, trains nothing)."""
    return evaluation.load_classifier("fashion_mnist")


@pytest.fixture(scope="module")
def cached_classifier(tmp_path_factory):
    """A classifier trained on 2,048 images for one epoch into a fresh cache folder: (Classifier, cache_dir)."""
    cache_dir = tmp_path_factory.mktemp("classifier_cache")
    return evaluation.load_classifier("fashion_mnist", cache_dir=cache_dir, **SMALL), cache_dir


# --- the classifier ----------------------------------------------------------------------------------------


def test_architecture_is_the_instruments_network():
    import keras

    model = evaluation.build_classifier()
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

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = evaluation.build_classifier()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {l.compute_dtype for l in model.layers[1:]} == {"float32"}
    assert model.output.dtype == "float32"


def test_shipped_weights_load_without_training_and_match_their_card(monkeypatch, tmp_path, fashion_test):
    from gen_keras.evaluation import classifier as classifier_module

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped classifier must not be trained")

    monkeypatch.setattr(classifier_module, "train_classifier", no_training)
    monkeypatch.setenv("GEN_KERAS_CACHE", str(tmp_path / "cache"))
    loaded = evaluation.load_classifier("fashion_mnist")
    card = evaluation.classifier_card("fashion_mnist")
    path = evaluation.shipped_weights_path("fashion_mnist")
    assert loaded.shipped and loaded.source == "shipped"
    assert loaded.sha256 == card["sha256"] == evaluation.file_sha256(path)
    assert not (tmp_path / "cache").exists()  # nothing cached, nothing trained
    assert 200_000 < path.stat().st_size < 1_500_000 and card["parameters"] == 225_034
    assert card["training"]["seed"] == 0 and card["training"]["epochs"] == 3
    assert card["command"].startswith("python benchmarks/train_classifier.py")
    assert 0.85 < card["test_accuracy"] < 0.95 and 0 < card["floor"]["fid"] < 0.5
    # the card's accuracy is the weights' accuracy (on the first 1,000 test images, near the 10,000's)
    accuracy = np.mean(evaluation.predict_classes(loaded, fashion_test.as_float()) == fashion_test.labels)
    assert abs(accuracy - card["test_accuracy"]) < 0.03, accuracy


def test_shipped_weights_that_do_not_match_their_card_are_refused(monkeypatch):
    from gen_keras.errors import GenKerasError
    from gen_keras.evaluation import classifier as classifier_module

    card = dict(evaluation.classifier_card(), sha256="0" * 64)
    monkeypatch.setattr(classifier_module, "classifier_card", lambda dataset="fashion_mnist": card)
    with pytest.raises(GenKerasError, match="do not match their card"):
        evaluation.load_classifier("fashion_mnist")


def test_retrain_or_another_data_set_uses_a_classifier_trained_here(monkeypatch, tmp_path):
    from gen_keras.evaluation import classifier as classifier_module

    trained = []

    def fake_train(dataset, **settings):
        trained.append(dataset)
        return evaluation.build_classifier()

    monkeypatch.setattr(classifier_module, "train_classifier", fake_train)
    local = evaluation.load_classifier("fashion_mnist", retrain=True, cache_dir=tmp_path)
    digits = evaluation.load_classifier("mnist", cache_dir=tmp_path)
    assert trained == ["fashion_mnist", "mnist"]
    for classifier in (local, digits):
        assert not classifier.shipped and classifier.source.startswith("trained on this machine")
        assert classifier.sha256 != evaluation.classifier_card()["sha256"]
    assert evaluation.load_classifier("fashion_mnist", retrain=True, cache_dir=tmp_path).sha256 == local.sha256
    assert trained == ["fashion_mnist", "mnist"]  # the second time from the cache


def test_cache_is_written_once_then_loaded_with_identical_predictions(cached_classifier, fashion_test):
    trained, cache_dir = cached_classifier
    path = evaluation.classifier_cache_path("fashion_mnist", cache_dir, **SMALL)
    assert path.exists() and "fashion_mnist" in path.name and "seed0" in path.name
    assert f"_v{evaluation.classifier.ARCHITECTURE_VERSION}" in path.name
    assert int(trained.model.optimizer.iterations) == 16  # with `limit`, the epochs as asked: no minimum of steps
    assert not [n for n in os.listdir(cache_dir) if n.endswith(".keras") and n != path.name]  # no temp files
    assert trained.sha256 == evaluation.file_sha256(path) and "trained on this machine" in trained.source
    written = path.stat().st_mtime_ns
    images = fashion_test.as_float()[:500]

    start = time.perf_counter()
    loaded = evaluation.load_classifier("fashion_mnist", cache_dir=cache_dir, **SMALL)
    load_seconds = time.perf_counter() - start
    assert path.stat().st_mtime_ns == written  # not trained and saved again
    assert loaded.model is not trained.model
    np.testing.assert_array_equal(evaluation.predict_classes(loaded, images), evaluation.predict_classes(trained, images))
    np.testing.assert_allclose(evaluation.features(loaded, images), evaluation.features(trained, images),
                               rtol=0, atol=1e-6)
    assert load_seconds < 3.0, load_seconds
    accuracy = np.mean(evaluation.predict_classes(loaded, images) == fashion_test.labels[:500])
    assert accuracy > 0.45, accuracy  # 16 steps of training already beat chance (10%) by far


def test_corrupt_cache_file_is_retrained_with_a_warning(tmp_path):
    from gen_keras.evaluation import classifier as classifier_module

    settings = {"limit": 256, "epochs": 1}
    path = evaluation.classifier_cache_path("fashion_mnist", tmp_path, **settings)
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.warns(UserWarning, match=r"classifier .* is unusable .*training it again"):
        classifier = evaluation.load_classifier("fashion_mnist", cache_dir=tmp_path, **settings)
    assert classifier.model.get_layer("features").units == 128
    reloaded, problem = classifier_module._load_checked(path)  # the bad file was replaced by a good one
    assert reloaded is not None, problem


def test_unwritable_cache_folder_says_what_to_do(tmp_path):
    from gen_keras.errors import GenKerasError

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(GenKerasError, match="GEN_KERAS_CACHE"):
        evaluation.load_classifier("fashion_mnist", cache_dir=blocker / "cache", limit=256, epochs=1)


def test_value_range_maps_tanh_images_and_rejects_a_wrong_range(shipped, fashion_test):
    from gen_keras.inference import to_unit_range

    images = fashion_test.as_float()[:200]
    tanh_images = images * 2.0 - 1.0
    np.testing.assert_allclose(to_unit_range(tanh_images, (-1, 1)), images, atol=1e-6)
    np.testing.assert_array_equal(evaluation.predict_classes(shipped, tanh_images, value_range=(-1, 1)),
                                  evaluation.predict_classes(shipped, images))
    with pytest.raises(ValueError, match=r"value_range=\(-1, 1\)"):
        evaluation.predict_classes(shipped, tanh_images)  # the default (0, 1) does not fit [-1, 1]
    # a small overshoot (a linear decoder's output) is clipped, not an error
    np.testing.assert_array_equal(to_unit_range(np.array([-0.02, 0.5, 1.03])), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(to_unit_range(np.array([0, 51, 255], np.uint8), (0, 255)), [0, 0.2, 1])


def test_features_are_the_128_relu_units(shipped, fashion_test):
    images = fashion_test.as_float()[:100]
    features = evaluation.features(shipped, images)
    assert features.shape == (100, 128) and features.dtype == np.float32 and features.min() >= 0
    np.testing.assert_allclose(features, np.asarray(evaluation.feature_extractor(shipped)(images)), atol=1e-5)
    probabilities = evaluation.class_probabilities(shipped, images)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), evaluation.predict_classes(shipped, images))


# --- FID, KID and the floor ------------------------------------------------------------------------------------


def _gaussian_samples(mean, std, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    return mean + std * rng.standard_normal((n, len(mean)))


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_shift_and_scale():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 32)) @ rng.normal(size=(32, 32))  # correlated features
    assert evaluation.frechet_distance(features, features) < 1e-8
    shifts = [evaluation.frechet_distance(features, features + s) for s in (0.1, 0.5, 1.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    assert np.isclose(shifts[2], 32 * 1.0 ** 2)  # a pure shift adds only ‖Δμ‖²
    scales = [evaluation.frechet_distance(features, features * s) for s in (1.1, 1.5, 2.0)]
    assert 0 < scales[0] < scales[1] < scales[2]
    # scaling by s: Tr(Σ + s²Σ − 2sΣ) + ‖(1 − s)μ‖² = (1 − s)² (Tr Σ + ‖μ‖²)
    mean, cov = evaluation.feature_statistics(features)
    assert np.isclose(scales[2], np.trace(cov) + mean @ mean, rtol=1e-9)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mean_a, var_a = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 4.0, 0.25, 2.0])
    mean_b, var_b = np.array([1.0, 1.0, 0.0, 0.5]), np.array([2.0, 1.0, 1.0, 2.0])
    # diagonal covariances: ‖Δμ‖² + Σᵢ (√aᵢ − √bᵢ)²
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    exact = evaluation.frechet_distance_from_statistics(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert np.isclose(exact, expected, rtol=1e-12)
    sampled = evaluation.frechet_distance(_gaussian_samples(mean_a, np.sqrt(var_a)),
                                       _gaussian_samples(mean_b, np.sqrt(var_b), seed=1))
    assert abs(sampled - expected) < 0.05 * expected, (sampled, expected)


def test_frechet_distance_matches_the_closed_form_for_a_rotated_covariance():
    # Σa = R diag(a) Rᵀ and Σb = R diag(b) Rᵀ commute, so (ΣaΣb)^½ = R diag(√(ab)) Rᵀ
    rotation, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(6, 6)))
    a, b = np.array([1.0, 2.0, 3.0, 0.5, 0.1, 4.0]), np.array([2.0, 2.0, 1.0, 0.5, 1.0, 0.0])
    cov_a, cov_b = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert np.isclose(evaluation.frechet_distance_from_statistics(np.zeros(6), cov_a, np.zeros(6), cov_b), expected)


def test_frechet_distance_is_symmetric_and_survives_rank_deficient_features():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 20))
    b = rng.normal(size=(400, 20)) * 1.5 + 0.2
    a[:, :5] = 0.0  # dead units: a singular covariance
    b[:, 10:] = b[:, :10] @ rng.normal(size=(10, 10))  # rank 10 of 20
    ab, ba = evaluation.frechet_distance(a, b), evaluation.frechet_distance(b, a)
    assert np.isfinite(ab) and ab > 0
    # The two orders differ only by round-off, which the square root magnifies on the zero eigenvalues of
    # √Σa Σb √Σa: each is computed to within n·ε·‖M‖ and its root to within √(n·ε·‖M‖); n of them, twice.
    n, eps = a.shape[1], np.finfo(np.float64).eps
    norm_m = np.linalg.norm(np.cov(a, rowvar=False), 2) * np.linalg.norm(np.cov(b, rowvar=False), 2)
    assert abs(ab - ba) <= 2 * n * np.sqrt(n * eps * norm_m)
    with pytest.raises(ValueError, match="different sizes"):
        evaluation.frechet_distance(a, b[:, :10])
    with pytest.raises(ValueError, match="samples"):
        evaluation.frechet_distance(a[:1], b[:1])


def test_class_histogram_entropy_and_largest_share():
    labels = np.repeat(np.arange(10), 7)
    histogram = evaluation.class_histogram(labels, 10)
    np.testing.assert_array_equal(histogram, np.full(10, 7))
    assert np.isclose(evaluation.class_entropy(histogram), np.log(10))  # nats
    assert np.isclose(evaluation.max_class_share(histogram), 0.1)
    collapsed = evaluation.class_histogram(np.full(50, 8), 10)
    assert collapsed[8] == 50 and collapsed.sum() == 50
    assert evaluation.class_entropy(collapsed) == 0.0 and evaluation.max_class_share(collapsed) == 1.0
    two = evaluation.class_histogram([0, 0, 0, 1], 3)
    assert np.isclose(evaluation.class_entropy(two), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert np.isclose(evaluation.class_entropy(two / two.sum()), evaluation.class_entropy(two))  # shares work too
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        evaluation.class_histogram([0, 10], 10)


def test_kid_by_explicit_sums():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = np.array([[0.5, 0.5], [2.0, -1.0], [0.0, 0.0]])
    d, m = 2, 3

    def k(a, b):
        return (float(a @ b) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    expected = xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)
    kid = evaluation.kernel_inception_distance(x, y, subset_size=3, num_subsets=1)
    assert kid.mean == pytest.approx(expected, rel=1e-12) and kid.std == 0.0
    # subsets as big as the sets: every subset is the whole set, so no spread
    many = evaluation.kernel_inception_distance(x, y, subset_size=1000, num_subsets=7)
    assert many.mean == pytest.approx(expected, rel=1e-12) and many.std == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(polynomial_kernel(x, y)[2, 1], k(x[2], y[1]))


def test_kid_over_subsets_is_unbiased_and_sees_a_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same = evaluation.kernel_inception_distance(a, b, subset_size=200, num_subsets=20, seed=0)
    moved = evaluation.kernel_inception_distance(a, b + 0.3, subset_size=200, num_subsets=20, seed=0)
    assert abs(same.mean) < 3 * same.std and same.std > 0
    assert moved.mean > 10 * same.std and moved.mean > 0.2  # a shift of 0.3 in each of the 16 features
    assert evaluation.kernel_inception_distance(a, b, subset_size=200, num_subsets=20, seed=0) == same


@pytest.mark.parametrize("call, message", [
    (lambda: evaluation.kernel_inception_distance(np.ones((5, 2)), np.ones((1, 2))), "at least 2 points"),
    (lambda: evaluation.kernel_inception_distance(np.ones((5, 2)), np.ones((5, 8))), "different feature sizes"),
    (lambda: evaluation.kernel_inception_distance(np.ones((5, 2)), np.ones((5, 2)), subset_size=1), "≥ 2"),
    (lambda: evaluation.kernel_inception_distance(np.ones((5, 2)), np.ones((5, 2)), num_subsets=0), "≥ 1"),
    (lambda: evaluation.confident_class_shares(np.ones(5)), "samples, classes"),
    (lambda: evaluation.confident_class_shares(np.ones((5, 2)) / 2, threshold=0), "\\(0, 1\\]"),
])
def test_bad_inputs_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fid_and_kid_of_real_images_sit_on_the_floor_and_grow_with_a_distortion(shipped, fashion_train, fashion_test):
    train, test = fashion_train.as_float()[:500], fashion_test.as_float()[:500]
    reference = evaluation.Reference(evaluation.features(shipped, test))
    same = evaluation.score(test, classifier=shipped, reference=reference, floor=False)
    real = evaluation.score(train, classifier=shipped, reference=reference)
    dimmed = evaluation.score(train * 0.5, classifier=shipped, reference=reference, floor=False)
    assert same["fid"] < 1e-6
    assert 0 < real["fid"] < dimmed["fid"], (real["fid"], dimmed["fid"])
    # the floor is the same 500 training images against the same 500 test images
    assert real["fid_real_floor"] == pytest.approx(real["fid"], rel=1e-6)
    assert evaluation.real_floor(shipped, 500)["fid"] == pytest.approx(real["fid"], rel=1e-6)
    # KID: two draws of one distribution within its spread of 0; the dimmed images far off
    assert abs(real["kid"]) < 3 * real["kid_std"], (real["kid"], real["kid_std"])
    assert dimmed["kid"] > 10 * max(real["kid_std"], dimmed["kid_std"])
    # the same images stated as [-1, 1] give the same FID
    tanh = evaluation.score(train * 2 - 1, classifier=shipped, reference=reference, value_range=(-1, 1), floor=False)
    assert tanh["fid"] == pytest.approx(real["fid"], rel=1e-4)


# --- which classes -----------------------------------------------------------------------------------------------


def test_confident_shares_count_only_sure_predictions():
    sure = np.eye(4)[[0, 0, 1, 2]] * 0.97 + 0.01  # top probability 0.98
    unsure = np.full((4, 4), 0.25)
    result = evaluation.confident_class_shares(np.concatenate([sure, unsure]), threshold=0.9)
    assert result.confident == 0.5
    np.testing.assert_allclose(result.shares, [0.5, 0.25, 0.25, 0.0])
    np.testing.assert_array_equal(result.counts, [2, 1, 1, 0])
    none = evaluation.confident_class_shares(unsure)
    assert none.confident == 0.0 and none.shares.sum() == 0.0
    assert evaluation.dropped_classes(result.shares) == [3]  # 0 < 1/4 of the uniform 1/4
    # against real shares: class 3 is rare in real data too, class 2 at a quarter of its real share is dropped
    assert evaluation.dropped_classes([0.5, 0.3, 0.19, 0.01], real_shares=[0.2, 0.2, 0.8, 0.01]) == [2]
    assert evaluation.dropped_classes(none.shares) == [0, 1, 2, 3]


def test_uniform_noise_is_not_one_class(shipped):
    noise = np.random.default_rng(0).uniform(size=(500, 28, 28, 1)).astype(np.float32)
    scored = evaluation.score(noise, classifier=shipped, floor=False)
    # argmax alone puts most of the noise in one or two classes, which would read as mode collapse ...
    assert scored["max_class_share"] > 0.5
    # ... but the classifier is sure of hardly any of it: no class gets a confident share, all are missing
    assert scored["confident_share"] < 0.05
    assert sum(scored["class_shares"]) == 0 or max(scored["class_shares"]) < 1.0
    assert len(scored["dropped_classes"]) >= 8


def test_score_names_the_classes_a_model_drops(shipped):
    from gen_keras import data

    test = data.load_images("fashion_mnist", "test", 3000)
    without_coats = test.as_float()[test.labels != 4][:2000]
    reference = evaluation.reference_features(shipped, 2000)
    scored = evaluation.score(without_coats, classifier=shipped, reference=reference, floor=False)
    assert scored["dropped_classes"] == [4], scored["class_shares"]
    everything = evaluation.score(test.as_float()[2000:3000], classifier=shipped, floor=False)
    assert everything["dropped_classes"] == []  # real images drop nothing, shirts included
    expected = {"fid", "kid", "kid_std", "num_samples", "confident_share", "confidence_threshold", "class_shares",
                "real_class_shares", "dropped_classes", "sample_entropy", "max_class_share", "class_histogram",
                "classifier_sha256", "classifier"}
    assert expected <= set(scored) and scored["num_samples"] == 2000
    assert scored["classifier_sha256"] == evaluation.classifier_card()["sha256"] and scored["classifier"] == "shipped"


def test_score_refuses_more_samples_than_real_images_and_scores_a_sampler(shipped, fashion_test):
    from gen_keras.errors import GenKerasError

    images = fashion_test.as_float()
    reference = evaluation.Reference(evaluation.features(shipped, images[:100]))
    with pytest.raises(GenKerasError, match="more than the 100 real test images"):
        evaluation.score(images[:200], classifier=shipped, reference=reference)
    calls = []

    def sample(count, seed):
        calls.append((count, seed))
        return images[seed * 40:seed * 40 + count]

    scored = evaluation.score_sampler(sample, 100, seed=0, batch_size=40, classifier=shipped, reference=reference,
                                      floor=False)
    assert calls == [(40, 0), (40, 1), (20, 2)] and scored["num_samples"] == 100
    assert scored["fid"] < 1e-6  # the sampler returned the reference images themselves


# --- where it sits ------------------------------------------------------------------------------------------------


def _imports_between_modules() -> dict[str, set[str]]:
    """Module → the gen_keras modules it imports anywhere (top level or inside functions)."""
    package = ROOT / "gen_keras"
    modules = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {}
    for module, path in modules.items():
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from a.b import c`: the module a.b.c when c is one, else a name in a.b
                names += [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names]
        edges[module] = {owner(n) for n in names if n.startswith("gen_keras")} - {None, module}
    return edges


def _a_circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle of any length (a → b → … → a), a package and its own submodules aside; None."""
    related = lambda a, b: a.startswith(b + ".") or b.startswith(a + ".")  # noqa: E731
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for other in sorted(n for n in edges.get(module, ()) if not related(module, n)):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_circle_in_the_library():
    """Not even lazily inside a function, of any length: a package and its own submodules aside."""
    edges = _imports_between_modules()
    assert "gen_keras.evaluation.classifier" in edges  # the walk saw the package
    assert _a_circle(edges) is None, " → ".join(_a_circle(edges))
    assert _a_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check sees three
    assert "gen_keras.evaluation" not in edges["gen_keras.metrics"]
    assert not any(m.startswith("gen_keras.evaluation") for m in edges["gen_keras.cli"])



def test_the_flags_default_sample_counts_are_the_instruments():
    from gen_keras import cli, evaluation

    assert (cli.FID_SAMPLES, cli.QUICK_FID_SAMPLES) == (evaluation.FID_SAMPLES, evaluation.QUICK_FID_SAMPLES)
