"""One-class anomaly detection: the AUROC and the threshold by hand, the whitened path score against its
Mahalanobis formula, the scorers saved and loaded, recipes/anomaly_detection.py end to end (--quick) with
its scorer served through TensorFlow's C API loader, and bad flags."""

import json

import numpy as np
import pytest

from tests.conftest import run_python, run_recipe_quick

RECIPE = "recipes/anomaly_detection.py"
PNG = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def test_roc_auc_is_the_share_of_positive_negative_pairs_in_order():
    from gen_keras.metrics import roc_auc

    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.5, 0.8, 0.1])
    positives = np.array([1, 1, 0, 1, 0, 1, 0], bool)
    # pairs (positive, negative) counted by hand: 1 for s₊ > s₋, ½ for a tie
    pairs = [(a > b) + 0.5 * (a == b) for a in scores[positives] for b in scores[~positives]]
    assert roc_auc(scores, positives) == pytest.approx(np.mean(pairs)) == pytest.approx(9 / 12)
    assert roc_auc(-scores, positives) == pytest.approx(1 - 9 / 12)
    assert roc_auc([1.0, 2.0], [False, True]) == 1.0
    with pytest.raises(ValueError, match="both positives and negatives"):
        roc_auc([1.0, 2.0], [True, True])


def test_ranks_share_their_mean_among_ties_and_the_auroc_counts_a_tie_as_half():
    from gen_keras.metrics import average_ranks, roc_auc

    # sorted: 1 (rank 1), 4 (rank 2), 7 7 (places 3 and 4: 3.5 each), 9 9 9 (places 5, 6, 7: 6 each)
    np.testing.assert_array_equal(average_ranks([7, 1, 9, 7, 4, 9, 9]), [3.5, 1, 6, 3.5, 2, 6, 6])
    np.testing.assert_array_equal(average_ranks([2.0, 2.0, 2.0]), [2, 2, 2])
    # positives score 9, 7, 4; negatives 7, 1, 9, 9. Pairs by hand: 9 beats 7 and 1, ties 9 and 9 (3);
    # 7 ties 7, beats 1 (1.5); 4 beats 1 (1): 5.5 of 12
    scores = [9, 7, 4, 7, 1, 9, 9]
    positives = [True, True, True, False, False, False, False]
    assert roc_auc(scores, positives) == pytest.approx(5.5 / 12)
    assert roc_auc([5.0] * 4, [True, False, True, False]) == 0.5  # all tied: a coin


def test_threshold_flags_the_chosen_share_of_normal_scores():
    from gen_keras.metrics import threshold_at_false_positive_rate

    normal = RNG.normal(size=10_000)
    t = threshold_at_false_positive_rate(normal, 0.05)
    assert np.mean(normal > t) == pytest.approx(0.05, abs=0.001)
    assert t == pytest.approx(1.645, abs=0.05)  # the standard normal's 95% quantile
    with pytest.raises(ValueError, match="between 0 and 1"):
        threshold_at_false_positive_rate(normal, 1.0)


def test_whitened_norm_is_the_mahalanobis_distance_and_the_scorers_save_and_load(tmp_path):
    import keras

    from gen_keras.models.regularized import (WhitenedSquaredNorm, pathway_model, pathway_scorer,
                                              reconstruction_scorer, undercomplete_autoencoder)

    vectors = RNG.normal(size=(500, 4)) @ RNG.normal(size=(4, 4)) + 3.0
    mean, projection = WhitenedSquaredNorm.fit(vectors)
    d = RNG.normal(size=(6, 4))
    inverse = np.linalg.inv(np.cov(vectors, rowvar=False, bias=True))
    mahalanobis = np.einsum("ij,jk,ik->i", d - vectors.mean(0), inverse, d - vectors.mean(0))
    np.testing.assert_allclose((((d - mean) @ projection) ** 2).sum(1), mahalanobis, rtol=1e-4)

    keras.utils.set_random_seed(0)
    parts = undercomplete_autoencoder(8, hidden=(32,))
    x = RNG.uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    recon = np.asarray(parts.autoencoder(x))
    path = pathway_model(parts.encoder)
    assert path.output_shape == (None, 784 + 32 + 8)
    pixels = reconstruction_scorer(parts.autoencoder)
    np.testing.assert_allclose(pixels(x), ((x - recon) ** 2).reshape(5, -1).sum(1), rtol=1e-5)
    diffs = np.asarray(path(x)) - np.asarray(path(recon))
    mean, projection = WhitenedSquaredNorm.fit(RNG.normal(size=(100, diffs.shape[1])))
    scorer = pathway_scorer(parts.autoencoder, parts.encoder, mean, projection)
    expected = (((diffs - mean) @ projection) ** 2).sum(1)
    np.testing.assert_allclose(scorer(x), expected, rtol=1e-4)
    for model in (pixels, scorer):
        model.save(tmp_path / "scorer.keras")
        np.testing.assert_allclose(keras.saving.load_model(tmp_path / "scorer.keras")(x), model(x), rtol=1e-5)


@pytest.mark.slow
def test_quick_run_prints_the_table_and_exports_a_scorer_served_by_the_c_api(tmp_path):
    import keras

    from gen_keras import data
    from gen_keras.errors import CApiError
    from gen_keras.serving import export
    from gen_keras.serving.capi import SavedModelSession

    result = run_recipe_quick(RECIPE, tmp_path, "--classes", "1,7", "--export-class", "7", "--limit", "1024",
                              "--epochs", "2")
    assert "| 7 Sneaker |" in result.stdout and "| **mean** |" in result.stdout
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    names = {"PCA-32", "PCA-32 †", "AE", "DAE", "AE path", "DAE path", "AE †", "DAE †"}
    assert set(m["auroc"]) == names and all(set(v) == {"1", "7"} for v in m["auroc"].values())
    assert all(0 <= a <= 1 for v in m["auroc"].values() for a in v.values())
    assert m["auroc"]["PCA-32"]["1"] > 0.9  # trousers are easy for PCA, even on 1,024 images
    assert "†" not in m["best_one_class_autoencoder_score"]
    for name in ("most_and_least_anomalous.png", "score_histograms.png", "auroc_per_class.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG, name

    version = tmp_path / "sm" / "anomaly_detection" / "scorer_class_7" / "1"
    meta = export.read_export_metadata(version)["metadata"]
    # the export is the one-class detector: the best score that needs no all-label classifier, trained on class 7 only
    assert meta["class"] == 7 and meta["score"] == m["export"]["score"] == m["best_one_class_autoencoder_score"]
    assert meta["one_class"] is True and "†" not in meta["score"]
    assert meta["trained_on"].startswith("the ") and "training images of class 7 (Sneaker) only" in meta["trained_on"]
    assert "classifier" not in {layer.name for layer in keras.saving.load_model(
        version / "scorer_class_7.keras").layers}
    assert meta["threshold"] == pytest.approx(m["export"]["threshold"]) and meta["false_positive_rate"] == 0.05
    test = data.load_images("fashion_mnist", "test", limit=64)
    x = test.as_float()
    keras_scorer = keras.saving.load_model(version / "scorer_class_7.keras")
    with SavedModelSession(version) as session:
        scores = session.run({"image": x}, "score")["score"]
        assert scores.shape == (64,) and np.all(scores >= 0)
        np.testing.assert_allclose(scores, np.asarray(keras_scorer(x)), rtol=1e-4, atol=1e-4)
        with pytest.raises(CApiError, match=r"pixels must be in \[0, 1\]"):
            session.run({"image": x * 255}, "score")


@pytest.mark.parametrize("flags, message", [
    (["--classes", "12"], "--classes: unknown class 12"),
    (["--classes", "shirt"], "--classes: unknown class 'shirt'"),
    (["--false-positive-rate", "1.5"], "--false-positive-rate: must be between 0 and 1"),
    (["--noise-level", "0"], "--noise-level: must be positive"),
    (["--classes", "0,1", "--export-class", "3"], "--export-class: class 3 is not among --classes"),
])
def test_bad_flags_exit_2_with_one_line(flags, message):
    result = run_python([RECIPE, *flags], timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.stderr
