"""The instrument on your own images: a classifier trained on a labelled folder's classes at the model's
shape, a plain refusal for unlabelled data, and a judge that then scores nothing."""

import re

import numpy as np
import pytest
from PIL import Image

from gen_keras import data, evaluation
from gen_keras.errors import CannotScore


def _folder(root, classes, n=24, size=20):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 60, (size, size, 3)) + 190 * (np.arange(3) == c % 3)  # one bright channel
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_labelled_folder_trains_a_classifier_at_the_models_shape(tmp_path, capsys):
    root = _folder(tmp_path / "labelled", ("red", "green", "blue"))
    classifier = evaluation.load_classifier(f"folder:{root}", image_size=16, epochs=2, cache_dir=tmp_path / "cache")
    # a small folder trains as many steps as Fashion-MNIST's classifier, not as many epochs
    assert int(classifier.model.optimizer.iterations) == evaluation.classifier.MIN_STEPS
    assert re.search(r"test accuracy \d+\.\d% on \d+ held-out images \(always guessing the largest class: "
                     r"\d+\.\d%\)", capsys.readouterr().out)
    assert classifier.model.input_shape == (None, 16, 16, 3) and classifier.num_classes == 3
    assert classifier.image_size == 16 and "trained on this machine" in classifier.source
    assert "_16px" in classifier.source
    test = classifier.load_split("test")
    assert test.images.shape[1:] == (16, 16, 3)
    predicted = evaluation.predict_classes(classifier, test.as_float())
    assert np.mean(predicted == test.labels) > 0.9  # one bright channel per class: easy to learn
    scored = evaluation.score(test.as_float(), classifier=classifier)  # the real test images against themselves
    assert scored["fid"] < 1e-3 and scored["num_samples"] == len(test)


def test_unlabelled_or_single_class_data_cannot_be_scored(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(10):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(CannotScore, match="no labels.*Inception's weights are a download"):
        evaluation.load_classifier(f"folder:{flat}", cache_dir=tmp_path / "cache")
    one = _folder(tmp_path / "one", ("only",), n=10, size=8)
    classifier, why = evaluation.classifier_for(f"folder:{one}")
    assert classifier is None and "all of one class (only)" in why
    assert "cannot score" in capsys.readouterr().out


def test_shipped_classifier_serves_fashion_mnist_at_its_own_shape():
    assert evaluation.load_classifier("fashion_mnist", image_size=28, channels=1).shipped


def test_judge_without_a_classifier_measures_nothing_and_says_why():
    test = data.ImageArrays(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64), "folder:flat")
    judge = evaluation.Judge(lambda z: np.zeros((len(z), 8, 8, 3), np.float32), np.zeros((16, 2), np.float32),
                             classifier=None, test=test, not_scored="its images have no labels")
    assert judge.callback() is None  # more latents than test images is no error: nothing is compared
    assert judge.evaluate() == {"scored": False, "not_scored": "its images have no labels"}
