"""Numbers that judge a model through its inputs and outputs only: reconstruction errors and the PCA
baseline, importance-weighted likelihoods, nearest-neighbour accuracy of codes, AUROC.

The sample-quality instrument (FID, KID, class shares on the fixed classifier) is `gen_keras.evaluation`."""

from __future__ import annotations

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over every pixel of every image.

    Args:
        a: images, any shape, e.g. (N, 28, 28, 1).
        b: images of the same shape.

    Returns:
        mean((a − b)²), computed in float64.
    """
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))



def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, the mean over images of each image's PSNR.

    Formula: PSNR = 10 log₁₀(peak² / MSE), MSE over one image's pixels (an exact copy is capped at 100 dB).

    Args:
        a: images (N, H, W, C) in [0, peak].
        b: images of the same shape.
        peak: the largest pixel value.

    Returns:
        The mean PSNR in dB.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    per_image = np.mean((a - b).reshape(len(a), -1) ** 2, axis=1)
    return float(np.mean(np.minimum(10.0 * np.log10(peak ** 2 / np.maximum(per_image, 1e-30)), 100.0)))


def pca_reconstruction_mse(train: np.ndarray, test: np.ndarray, components: int) -> float:
    """Test MSE of the best rank-k linear reconstruction fitted on `train` (PCA with k components).

    Formula: x̂ = μ + W Wᵀ (x − μ), W the top-k eigenvectors of the training covariance; MSE = mean((x̂ − x)²).

    Args:
        train: training images, (N, H, W, C) (any shape with N first), float in [0, 1].
        test: test images, (M, H, W, C).
        components: k, the number of principal components (e.g. 49, the autoencoder's code size).

    Returns:
        The mean squared error over every pixel of the test images.
    """
    x = train.reshape(len(train), -1).astype(np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    eigvals, eigvecs = np.linalg.eigh(cov)
    w = eigvecs[:, np.argsort(eigvals)[::-1][:components]]
    t = test.reshape(len(test), -1).astype(np.float64) - mean
    recon = t @ w @ w.T
    return float(np.mean((recon - t) ** 2))


def dead_units(codes: np.ndarray) -> int:
    """Code units that are exactly zero for every input (dead ReLUs).

    Args:
        codes: (N, code_dim), an encoder's codes of N inputs.

    Returns:
        The number of dead units.
    """
    return int(np.sum(np.all(codes == 0, axis=0)))


def log_mean_exp(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """log (1/K) Σ_k exp(v_k) along `axis`, without overflow (the largest value is factored out).

    Args:
        values: log-values, e.g. log importance weights (K, N).
        axis: the axis averaged over.

    Returns:
        float64 array with `axis` removed.
    """
    values = np.asarray(values, np.float64)
    peak = values.max(axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.exp(values - peak).mean(axis=axis))


def importance_weighted_estimates(log_weights, images: np.ndarray, num_samples: int = 100,
                                  batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-image ELBO estimate and IWAE estimate of log p(x), in nats (Burda et al.).

    Formula: log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), z_k ~ q(z|x), k = 1 … K;
    ELBO ≈ mean_k log w_k; IWAE_K = log (1/K) Σ_k w_k ≤ log p(x), rising with K.

    Args:
        log_weights: `log_weights(x, K)` returns log w, (K, batch), for a batch x of images.
        images: (N, H, W, C).
        num_samples: K.
        batch_size: images per call; default 10,000 // K (at least 1).

    Returns:
        (elbo, iwae), each float64 (N,).
    """
    batch_size = batch_size or max(1, 10_000 // num_samples)
    elbo, iwae = [], []
    for i in range(0, len(images), batch_size):
        lw = np.asarray(log_weights(images[i:i + batch_size], num_samples), np.float64)
        elbo.append(lw.mean(axis=0))
        iwae.append(log_mean_exp(lw, axis=0))
    return np.concatenate(elbo), np.concatenate(iwae)


def knn_predict(reference: np.ndarray, reference_labels: np.ndarray, queries: np.ndarray, k: int = 5, *,
                batch_size: int = 256) -> np.ndarray:
    """Labels of `queries` by a vote of their k nearest `reference` points (Euclidean distance).

    Distances are computed a batch of queries at a time, ‖q − r‖² = ‖q‖² + ‖r‖² − 2 q·r, so memory stays
    at batch_size × len(reference) numbers. The class with most votes wins; a tie goes to the tied class
    whose member is nearest.

    Args:
        reference: (N, d) points with known labels (e.g. training codes).
        reference_labels: (N,) integer labels ≥ 0.
        queries: (M, d) points to label.
        k: neighbours that vote, 1 ≤ k ≤ N.
        batch_size: queries per distance matrix.

    Returns:
        int64 (M,), the predicted labels.
    """
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    labels = np.asarray(reference_labels, np.int64).ravel()
    queries = np.asarray(queries, np.float64).reshape(len(queries), -1)
    if len(labels) != len(ref):
        raise ValueError(f"{len(ref)} reference points but {len(labels)} labels")
    if not 1 <= k <= len(ref):
        raise ValueError(f"k must be between 1 and the {len(ref)} reference points, got {k}")
    num_classes = int(labels.max()) + 1
    ref_sq = np.sum(ref ** 2, axis=1)
    predictions = []
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size]
        d2 = np.sum(q ** 2, axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        nearest = nearest[rows, np.argsort(d2[rows, nearest], axis=1, kind="stable")]  # nearest first
        votes = np.zeros((len(q), num_classes), np.int64)
        first_rank = np.full((len(q), num_classes), k, np.int64)
        for rank in range(k - 1, -1, -1):
            cls = labels[nearest[:, rank]]
            votes[rows[:, 0], cls] += 1
            first_rank[rows[:, 0], cls] = rank
        predictions.append(np.argmax(votes * (k + 1) - first_rank, axis=1))
    return np.concatenate(predictions) if predictions else np.zeros(0, np.int64)


def knn_accuracy(reference: np.ndarray, reference_labels: np.ndarray, queries: np.ndarray,
                 query_labels: np.ndarray, k: int = 5, *, batch_size: int = 256) -> float:
    """Share of `queries` whose k-nearest-neighbour vote (`knn_predict`) among `reference` gives their label.

    How well a code space keeps classes apart, e.g. test codes against training codes.

    Args:
        reference: (N, d) points with known labels.
        reference_labels: (N,) integer labels ≥ 0.
        queries: (M, d) points to label.
        query_labels: (M,) their true labels.
        k: neighbours that vote, 1 ≤ k ≤ N.
        batch_size: queries per distance matrix.

    Returns:
        The accuracy in [0, 1].

    Raises:
        ValueError: as `knn_predict`.
    """
    predicted = knn_predict(reference, reference_labels, queries, k, batch_size=batch_size)
    return float(np.mean(predicted == np.asarray(query_labels, np.int64).ravel()))


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Edges of the cells around sorted grid coordinates: midpoints between neighbours, and half the
    neighbouring spacing beyond the first and last."""
    c = np.sort(np.asarray(centres, np.float64))
    if len(c) < 2:
        raise ValueError("a grid axis needs at least 2 values")
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def occupied_grid_cells(codes: np.ndarray, x_values: np.ndarray, y_values: np.ndarray) -> float:
    """Share of the points of a 2-D grid (every pair of `x_values` × `y_values`) whose cell holds at least
    one of `codes`: the grid points a decoder is asked to decode where the data are, not in a gap.

    Each grid point's cell reaches halfway to its neighbours (half a spacing beyond the outer points), so
    the cells tile the grid's box; codes outside it count for no cell.

    Args:
        codes: (N, 2) points, e.g. test-set codes.
        x_values, y_values: the grid's coordinates on each axis (any order, each at least 2).

    Returns:
        A share in [0, 1].
    """
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must be (N, 2), got shape {codes.shape}")
    counts, _, _ = np.histogram2d(codes[:, 0], codes[:, 1], bins=[_cell_edges(x_values), _cell_edges(y_values)])
    return float(np.mean(counts > 0))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """The ranks of `values`, 1 for the smallest, ties given the mean of the ranks they share.

    Formula: a run of k equal values occupying sorted places p+1 … p+k gets rank p + (k + 1)/2 each.

    Args:
        values: (N,) numbers.

    Returns:
        (N,) float64 ranks in 1 … N, e.g. [3.5, 1, 3.5, 2] for [7, 1, 7, 4].
    """
    values = np.asarray(values, np.float64).ravel()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first sorted place of each run
    ends = np.r_[starts[1:], len(values)]  # one past its last
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + 1 + ends) / 2, ends - starts)  # the mean of ranks starts+1 … ends
    return ranks


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative.

    Formula: AUROC = (1 / (n₊ n₋)) Σ_{i ∈ +} Σ_{j ∈ −} [s_i > s_j] + ½ [s_i = s_j], computed from the ranks
    (Mann–Whitney U): (Σ_{i ∈ +} rank_i − n₊ (n₊ + 1) / 2) / (n₊ n₋), ties given their mean rank.

    Args:
        scores: (N,) higher = more likely positive (e.g. an anomaly score).
        positives: (N,) booleans, True for a positive (e.g. "not the training class").

    Returns:
        The AUROC in [0, 1]: 1 when every positive scores above every negative, 0.5 for a coin.

    Raises:
        ValueError: the shapes differ, or one of the two groups is empty.
    """
    scores, positives = np.asarray(scores, np.float64).ravel(), np.asarray(positives, bool).ravel()
    if scores.shape != positives.shape:
        raise ValueError(f"scores {scores.shape} and positives {positives.shape} differ in length")
    n_pos = int(positives.sum())
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the ROC needs both positives and negatives")
    ranks = average_ranks(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def threshold_at_false_positive_rate(negative_scores: np.ndarray, rate: float) -> float:
    """The score above which a share `rate` of the negatives (normal images) lies: flag x when score(x) > t.

    Formula: t = the (1 − rate) quantile of the negatives' scores (linear interpolation).

    Args:
        negative_scores: (N,) scores of normal examples, e.g. held-out images of the training class.
        rate: the false-positive rate wanted, 0 < rate < 1.

    Returns:
        The threshold t.

    Raises:
        ValueError: `rate` outside (0, 1), or no scores.
    """
    negative_scores = np.asarray(negative_scores, np.float64).ravel()
    if not 0 < rate < 1:
        raise ValueError(f"the false-positive rate must be between 0 and 1, got {rate}")
    if negative_scores.size == 0:
        raise ValueError("no scores to set a threshold from")
    return float(np.quantile(negative_scores, 1 - rate))


def per_pixel_bits_per_dim(train_images: np.ndarray, test_images: np.ndarray, pseudo_count: float = 1.0) -> float:
    """The test NLL of the independent per-pixel baseline, in bits per dimension: each pixel position gets its
    own categorical distribution over the 256 levels, fitted to the training images (counts + `pseudo_count`),
    and p(x) = Π_i P_i(x_i). A flow that models no dependence between pixels can do no better.

    Args:
        train_images: uint8 images (N, ...), levels 0 … 255.
        test_images: uint8 images (M, ...) of the same shape.
        pseudo_count: added to every count (Laplace smoothing), so no test level has probability 0.

    Returns:
        −(1/(M D)) Σ log₂ P_i(x_i) over the test images' M · D pixels.
    """
    train = np.asarray(train_images).reshape(len(train_images), -1).astype(np.int64)
    test = np.asarray(test_images).reshape(len(test_images), -1).astype(np.int64)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train and test images differ in size: {train.shape[1]} vs {test.shape[1]} pixels")
    dims = train.shape[1]
    counts = np.full((dims, 256), float(pseudo_count))
    np.add.at(counts, (np.broadcast_to(np.arange(dims), train.shape), train), 1.0)
    log_p = np.log2(counts) - np.log2(counts.sum(1, keepdims=True))
    return float(-log_p[np.arange(dims)[None, :], test].mean())


def mode_coverage(samples: np.ndarray, centres: np.ndarray, std: float, *, within: float = 3.0,
                  min_share: float = 0.01) -> dict:
    """How many modes of a Gaussian mixture a generator's samples cover, and how many samples are good.

    Formula: a sample is high quality when its distance to the nearest mode is at most `within` · std
    (3σ, as in VEEGAN and the unrolled-GAN papers); a mode is covered when at least `min_share` of all
    samples are high-quality samples of it. Samples far from every mode (noise, or points between modes)
    cover nothing, so a spread-out cloud does not look like coverage.

    Args:
        samples: (N, D) generated points, N ≥ 1.
        centres: (K, D) the mixture's means.
        std: the mixture's per-coordinate standard deviation σ.
        within: a sample is high quality within this many σ of a mode.
        min_share: the share of all samples a mode needs to count as covered.

    Returns:
        `{"modes_covered": int, "high_quality_share": float, "mode_shares": list of K floats}`: the share
        of all samples that are high-quality samples of each mode.
    """
    samples, centres = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    if samples.ndim != 2 or len(samples) == 0 or centres.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples (N, D) and centres (K, D) must share D, got {samples.shape} and {centres.shape}")
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
    nearest, good = distances.argmin(1), distances.min(1) <= within * std
    shares = np.bincount(nearest[good], minlength=len(centres)) / len(samples)
    return {"modes_covered": int(np.sum(shares >= min_share)), "high_quality_share": float(good.mean()),
            "mode_shares": [float(s) for s in shares]}
