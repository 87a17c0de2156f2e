"""The sample-quality instrument: one fixed classifier, and the numbers every generative recipe is judged by.

The classifier is a small Fashion-MNIST network whose weights ship with the package
(`gen_keras/assets/fashion_mnist_classifier.weights.h5`, with its card beside it: test accuracy, the
real-vs-real floor, the file's sha256 and the command that trained it), so every machine scores samples
with the same weights: Conv2D(32,3,relu) → MaxPool(2) → Conv2D(64,3,relu) → MaxPool(2) → Flatten →
Dense(128,relu) (the layer named "features") → Dropout(0.3) → Dense(10) (logits); Adam 1e-3, batch 128,
3 epochs, seed 0. Another data set, or `retrain=True`, trains one with the same recipe on this machine
(once, cached), and the scores say so.

On its 128 features:
- FID: the Fréchet distance between Gaussians fitted to the two feature sets;
- KID: the unbiased MMD² with the cubic kernel k(x, y) = (xᵀy / d + 1)³, mean and spread over subsets
  (Bińkowski et al., 2018);
- the floor: both, for as many real training images against the test images (a perfect generator's score);
and on its softmax, class shares among the *confident* predictions (max probability ≥ 0.9) and the classes
a model drops (a share below a quarter of the real test images' share of that class).

`score(images)` returns all of it in one dict; `SampleQuality` measures it during training; `Judge` holds a
generator's fixed inputs and the test features for both. Images go in as float NHWC arrays whose pixel
range the caller states with `value_range`: (0, 1) for data and sigmoid outputs, (-1, 1) for tanh outputs.
"""

from gen_keras.evaluation.classes import (CONFIDENCE, DROPPED_FRACTION, ConfidentShares, class_entropy,
                                          class_histogram, confident_class_shares, dropped_classes,
                                          max_class_share)
from gen_keras.evaluation.classifier import (ASSETS, DEFAULT_EPOCHS, DEFAULT_SEED, FEATURE_DIM, Classifier,
                                             build_classifier, classifier_cache_path, classifier_card,
                                             file_sha256, load_classifier, shipped_weights_path,
                                             train_classifier, write_shipped_classifier)
from gen_keras.evaluation.distances import (KID, feature_statistics, frechet_distance,
                                            frechet_distance_from_statistics, kernel_inception_distance)
from gen_keras.evaluation.predictions import class_probabilities, feature_extractor, features, predict_classes
from gen_keras.evaluation.scoring import (FID_SAMPLES, QUICK_FID_SAMPLES, Reference, classifier_for, export_record, kid_subset_size, real_floor,
                                          reference_features, score,
                                          score_sampler, summary_line)
from gen_keras.evaluation.watch import Judge, SampleQuality

__all__ = [
    "ASSETS", "CONFIDENCE", "DEFAULT_EPOCHS", "DEFAULT_SEED", "DROPPED_FRACTION", "FEATURE_DIM", "FID_SAMPLES",
    "KID", "QUICK_FID_SAMPLES", "Classifier", "ConfidentShares", "Judge", "Reference", "SampleQuality",
    "build_classifier", "class_entropy", "class_histogram", "class_probabilities", "classifier_cache_path",
    "classifier_card", "classifier_for", "confident_class_shares", "dropped_classes", "export_record",
    "feature_extractor", "feature_statistics",
    "features", "file_sha256", "frechet_distance", "frechet_distance_from_statistics", "kernel_inception_distance",
    "kid_subset_size", "load_classifier", "max_class_share", "predict_classes", "real_floor", "reference_features",
    "score", "score_sampler", "shipped_weights_path", "summary_line", "train_classifier",
    "write_shipped_classifier",
]
