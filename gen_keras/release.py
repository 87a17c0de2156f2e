"""The shipped models: each headline row's full default run, its exports in `pretrained/` and its card.

```
python -m gen_keras.release list                        # every row, and whether pretrained/ ships it
python -m gen_keras.release train vae --runs release    # the row's default command, timed, in a fresh process
python -m gen_keras.release ship vae --runs release     # its exports into pretrained/vae/<part>/1, its card
```

`pretrained/` has the layout of `saved_models/` (`<row>/<part>/<version>/saved_model.pb`) with a
`models.config` that serves all of it, so everything that reads an export root reads it too
(`python -m gen_keras.evaluate --all pretrained`, `transfer.latest_export("pretrained", "vae", "encoder")`, the
README's `docker run`). Beside each row's parts: `card.json` and `card.md` (the command, commit, seed,
machine, training, every number the run printed and the instrument's classifier hash, a small-subset check,
intended use and limits), and the run's `metrics.json` and `history.csv` as written.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gen_keras.errors import ReleaseError
from gen_keras.files import write_atomically

PRETRAINED = "pretrained"
CARD = "card.json"
RUN_RECORD = "run.json"
COMPOSED_PARTS = ("autoencoder", "*_autoencoder")  # encoder then decoder: their weights again, not shipped
# Parts that only train another part (a GAN's discriminator or critic, an AAE's code discriminator): not
# shipped. They have nothing to serve or score; fine-tuning a generator trains a new one with the recipe.
TRAINING_PARTS = ("*discriminator*", "*critic*")
# Parts shipped as a SavedModel alone (`keras.layers.TFSMLayer` reloads them), without the `.keras` copy that
# encoders, decoders and generators keep for `keras.saving.load_model`: the weights once, where one copy serves.
SAVEDMODEL_ONLY_PARTS = ("scorer*", "l1_only")  # and Pix2Pix's comparison U-Net, trained on the L1 loss alone
# samples (or test images) of a card's small-subset check, by kind of signature (a diffusion `sample` costs
# 50 network calls an image)
CHECK_SAMPLES = {"generator": 500, "sample": 32, "log_prob": 500, "anomaly": 500, "encoder": 500, "translate": 500}


@dataclasses.dataclass(frozen=True)
class Row:
    """One headline row: the command that trains it and what of its run ships.

    Attributes:
        script: the recipe, e.g. "recipes/vae.py".
        flags: the flags after it (none for a recipe's default run).
        parts: the exported parts that ship (None: every part the run exported but the composed
            autoencoders, `COMPOSED_PARTS`).
        use: what the shipped models are for, in a sentence.
        limits: what they are not, in a sentence.
        headline: the numbers the README and docs/results/overview.md quote from the run, as
            (key in metrics.json, dots for nesting; its format): each formatted value must appear in the
            docs' rows of this command.
        exports: whether the run exports models (False: a card and the run's numbers, nothing to serve).
        metrics: the file of the run's numbers in its `--out` folder (shipped as metrics.json).
        seconds: the key of its training seconds in that file.
        readme_only: headline keys the README's row quotes but docs/results/overview.md's does not.
        keras_copies: ship the `.keras` copies of its encoders, decoders and generators (False: SavedModels
            alone, reloaded by `keras.layers.TFSMLayer`, for a variant of a row that ships them and for networks
            that are only the lecture's comparison: a copy would double their size).
    """

    script: str
    flags: tuple[str, ...] = ()
    parts: tuple[str, ...] | None = None
    use: str = ""
    limits: str = ""
    headline: tuple[tuple[str, str], ...] = ()
    exports: bool = True
    metrics: str = "metrics.json"
    seconds: str = "train_seconds"
    readme_only: tuple[str, ...] = ()
    keras_copies: bool = True

    def quoted_in(self, key: str) -> tuple[str, ...]:
        """The pages whose rows of this command must quote the headline number `key` (`DOCS` unless
        `readme_only` names it)."""
        return ("README.md",) if key in self.readme_only else DOCS

    @property
    def command(self) -> str:
        """The command a user types, e.g. "python recipes/vae.py --latent-dim 16"."""
        return " ".join(["python", self.script, *self.flags])


_GAN_USE = "drawing Fashion-MNIST-like 28×28 images from z ~ N(0, I); a starting point for fine-tuning"
_GAN_LIMITS = ("trained on Fashion-MNIST's 60,000 training images only; the generator alone ships (its "
               "discriminator only trained it: fine-tuning trains a new one with the recipe)")
_AE_HEADLINE = (("test_mse", "{:.3g}"), ("pca_test_mse", "{:.3g}"), ("train_seconds", "{:,.0f} s"))
_GAN_HEADLINE = (("fid", "{:.2f}"), ("kid", "{:.3f}"), ("train_seconds", "{:,.0f} s"))
_AAE_HEADLINE = (*_GAN_HEADLINE, ("codes_vs_prior_p_value", "p = {:.2g}"))
# The AAE's variants: their encoder and decoder as SavedModels (the default row ships the `.keras` copies)
_AAE_VARIANT = {"headline": _AAE_HEADLINE, "parts": ("encoder", "decoder"), "keras_copies": False}
_VAE_HEADLINE = (("test_negative_elbo", "{:.1f}"), ("iwae_negative_log_likelihood", "{:.1f}"),
                 ("prior_samples_fid", "{:.2f}"), ("prior_samples_kid", "{:.3f}"), ("train_seconds", "{:,.0f} s"))
ROWS: dict[str, Row] = {
    "conv_autoencoder": Row("recipes/conv_autoencoder.py", use="the lecture's encoder (49-d codes) and decoder",
                            limits="the lecture's network as taught: most of its 49 code units are dead; for "
                                   "codes, prefer conv_autoencoder_improved",
                            headline=(*_AE_HEADLINE, ("dead_code_units", "{} of 49")), keras_copies=False),
    "conv_autoencoder_improved": Row("recipes/conv_autoencoder.py", ("--model", "improved"),
                                     use="a 49-d linear code of a 28×28 grey image, and its decoder",
                                     limits="Fashion-MNIST only; an autoencoder's codes have no prior to sample",
                                     headline=_AE_HEADLINE),
    "pca_vs_autoencoder": Row("recipes/pca_vs_autoencoder.py",
                              use="the deep 784-1000-500-250-2 autoencoder's 2-d codes, for plots",
                              limits="2-d codes lose detail (test MSE about twice the conv autoencoder's)",
                              headline=(("linear_mse_ratio_to_pca", "{:.5f}"), ("deep_test_mse", "{:.4f}"),
                                        ("pca2_test_mse", "{:.4f}"), ("deep_knn_accuracy", "{:.1%}"),
                                        ("pca2_knn_accuracy", "{:.1%}"), ("fid_deep_gaussian", "{:.2f}"),
                                        ("kid_deep_gaussian", "{:.3f}"), ("deep_train_seconds", "{:,.0f} s")),
                              seconds="deep_train_seconds", keras_copies=False,
                              readme_only=("linear_mse_ratio_to_pca", "deep_test_mse", "pca2_test_mse",
                                           "deep_knn_accuracy", "pca2_knn_accuracy")),
    "regularized_autoencoders": Row("recipes/regularized_autoencoders.py",
                                    use="the sparse, denoising and contractive autoencoders beside plain ones",
                                    limits="small dense networks for the lecture's comparisons",
                                    headline=(("sparse.rho_hat_mean", "{:.4f}"),
                                              ("denoising.corrupted_mse_ratio", "{:.2f} × plain"),
                                              ("contractive.jacobian_norm_ratio", "{:.2f} × plain"),
                                              ("contractive.mse_ratio_to_plain", "{:.2f} × its MSE"),
                                              ("total_seconds", "{:,.0f} s")),
                                    seconds="total_seconds", keras_copies=False),
    "anomaly_detection": Row("recipes/anomaly_detection.py",
                             use="a one-class anomaly scorer with its threshold (normal: class 0)",
                             limits="scores Fashion-MNIST-like 28×28 images; other data needs retraining",
                             headline=(("mean_auroc.AE path", "{:.3f}"), ("mean_auroc.PCA-32", "{:.3f}"),
                                       ("mean_auroc.DAE †", "{:.3f}"), ("mean_auroc.PCA-32 †", "{:.3f}"))),
    "vae": Row("recipes/vae.py", use="a 2-d latent VAE: the encoder's mean and variance, the decoder's images",
               limits="2-d codes: blurry samples (FID about 41); grey levels treated as Bernoulli targets",
               headline=_VAE_HEADLINE),
    "vae_latent16": Row("recipes/vae.py", ("--latent-dim", "16"), use="a 16-d latent VAE's encoder and decoder",
                        limits="grey levels treated as Bernoulli targets; its ELBO is not a density of grey images",
                        headline=_VAE_HEADLINE, keras_copies=False),
    "pixelcnn": Row("recipes/pixelcnn.py", use="exact log p(x) of binarized 28×28 images; pixel-by-pixel samples",
                    limits="binarized images only; sampling is slow (one network call a pixel)",
                    headline=(("test_nll_nats", "{:.2f}"), ("test_bits_per_dim", "{:.3f}"),
                              ("compare_nll_nats", "{:.2f}"), ("train_seconds", "{:,.0f} s")),
                    readme_only=("test_bits_per_dim", "compare_nll_nats")),
    "flows_moons": Row("recipes/flows.py", ("--data", "moons"), use="exact log p(x) and samples of two moons",
                       limits="2-d toy data; the first of the run's three seeds (seed 0)",
                       headline=(("held_out_nll_mean", "{:.3f}"), ("keras_io_held_out_nll", "{:.2f}"))),
    "flows_fashion_mnist": Row("recipes/flows.py", ("--data", "fashion_mnist"),
                               use="exact log p(x) of dequantized 28×28 images, samples at a temperature",
                               limits="samples are poor (no FID claimed); bits/dim above published RealNVP",
                               headline=(("test_bits_per_dim", "{:.3f}"), ("per_pixel_baseline_bits_per_dim", "{:.3f}"),
                                         ("steps", "{:,}"), ("train_seconds", "{:,.0f} s"))),
    "gan": Row("recipes/gan.py", use=_GAN_USE, limits=_GAN_LIMITS, headline=_GAN_HEADLINE),
    "dcgan": Row("recipes/dcgan.py", use=_GAN_USE, limits=_GAN_LIMITS, headline=_GAN_HEADLINE),
    "cgan": Row("recipes/cgan.py", use="drawing images of a chosen Fashion-MNIST class", limits=_GAN_LIMITS,
                headline=(*_GAN_HEADLINE, ("label_accuracy", "{:.0%}"))),
    "wgan": Row("recipes/wgan.py", use="the lecture's weight-clipped WGAN, beside WGAN-GP on the same networks",
                limits="weight clipping: slow to converge (FID about 60)", headline=_GAN_HEADLINE,
                keras_copies=False),
    "wgan_gp": Row("recipes/wgan.py", ("--gradient-penalty", "10"), use=_GAN_USE, limits=_GAN_LIMITS,
                   headline=_GAN_HEADLINE),
    "aae": Row("recipes/aae.py", use="2-d codes matching a ten-Gaussian mixture prior, and its decoder",
               limits="2-d codes: blurry samples", headline=_AAE_HEADLINE),
    "aae_adversarial_rate_1": Row("recipes/aae.py", ("--adversarial-rate", "1"),
                                  use="the AAE tuned for samples rather than for codes that match the prior",
                                  limits="its codes can be told from the prior", **_AAE_VARIANT),
    "aae_gaussian": Row("recipes/aae.py", ("--prior", "gaussian"), use="2-d codes matching N(0, I), and its decoder",
                        limits="2-d codes: blurry samples; N(0, I) leaves gaps between classes", **_AAE_VARIANT),
    "aae_supervised": Row("recipes/aae.py", ("--prior", "mixture", "--supervised"),
                          use="2-d codes whose mixture component is picked by the label, and its decoder",
                          limits="2-d codes: blurry samples", **_AAE_VARIANT),
    "aae_swiss_roll": Row("recipes/aae.py", ("--prior", "swiss_roll"),
                          use="2-d codes matching a swiss roll, and its decoder", limits="2-d codes: blurry samples",
                          **_AAE_VARIANT),
    "transfer_learning": Row("recipes/transfer_learning.py", ("--pretrain",), exports=False, seconds="seconds",
                             use="pre-trained encoders, frozen or fine-tuned, against training from scratch at "
                                 "100, 1,000 and 60,000 labels",
                             limits="its encoders are pre-trained briefly inside the run (3 epochs), not shipped",
                             # the conv autoencoder's encoder at 100 labels: fine-tuned, and the same network from
                             # scratch (`summary` is in the recipe's order: encoder, labels, frozen/fine-tuned/scratch)
                             headline=(("summary.1.mean", "{:.1%}"), ("summary.2.mean", "{:.1%}"),
                                       ("seconds", "{:,.0f} s")),
                             readme_only=("summary.1.mean", "summary.2.mean", "seconds")),
    "vae_ablation": Row("recipes/vae.py", ("--ablation", "--epochs", "5"), exports=False, metrics="ablation.json",
                        use="the ELBO's two terms apart: reconstruction alone, KL alone, both", limits="no model",
                        headline=(("KL only.val_loss", "{:.0e}"), ("reconstruction + KL.val_loss", "{:.1f}")),
                        seconds="none"),  # three trainings, each with its own time in the file
    "diffusion": Row("recipes/diffusion.py", use="DDIM sampling (`sample`) and one-step denoising (`denoise`)",
                     limits="about 0.5 s an image on a CPU at 50 steps",
                     headline=(("fid", "{:.2f}"), ("kid", "{:.3f}"), ("sweep_eta_1.50.fid", "{:.2f}"),
                               ("train_seconds", "{:,.0f} s"))),
    "pix2pix": Row("recipes/pix2pix.py", use="edge maps of 28×28 garments → garments",
                   limits="edges from a Sobel filter of Fashion-MNIST; other line drawings differ",
                   headline=(("pix2pix.fid", "{:.2f}"), ("l1_only.fid", "{:.2f}"), ("pix2pix.class_agreement", "{:.0%}"),
                             ("pix2pix.train_seconds", "{:,.0f} s")),
                   seconds="pix2pix.train_seconds"),
    "cyclegan": Row("recipes/cyclegan.py", use="sandals ↔ sneakers, 28×28",
                    limits="high heels stay heels: no sneaker has their shape",
                    headline=(("g_x_called_y", "{:.1%}"), ("f_y_called_x", "{:.1%}"), ("fid_g_x_vs_real_y", "{:.2f}"),
                              ("cycle_error_x", "{:.3f}"), ("cycle_error_y", "{:.3f}"), ("train_seconds", "{:,.0f} s"))),
    "super_resolution": Row("recipes/super_resolution.py", use="7×7 → 28×28 Fashion-MNIST upscaling",
                            limits="trained on 4× box-downsampled Fashion-MNIST only",
                            headline=(("srgan.fid", "{:.2f}"), ("content_only.fid", "{:.2f}"),
                                      ("bicubic.fid", "{:.2f}"), ("srgan.psnr", "{:.2f} dB"),
                                      ("content_only.psnr", "{:.2f}")),
                            seconds="srgan.train_seconds"),
    "transposed_convolution": Row("recipes/transposed_convolution.py", exports=False,
                                  use="transposed convolution as multiplication by Wᵀ, checked against Keras",
                                  limits="no training, no model",
                                  headline=(("max_abs_error.Wx_vs_Conv2D", "{:.1e}"),
                                            ("checkerboard.ratio.transposed", "{:.3f}"),
                                            ("checkerboard.ratio.resize_nearest_conv", "{:.3f}"))),
    "gan_theory": Row("recipes/gan_theory.py", exports=False,
                      use="the GAN's costs, D*, saturation and mode collapse on 1-D and 2-D toys",
                      limits="toy networks, not shipped",
                      headline=(("ring.covers.snapshots.5.modes_covered", "{} of 8"),
                                ("ring.collapses.snapshots.5.modes_covered", "{} of 8"),
                                ("bilinear.simultaneous_final_distance", "{:.2f}"))),
    "bayesian_linear_regression": Row("recipes/bayesian_linear_regression.py", exports=False,
                                      use="PRML Figures 3.7 and 3.8 in closed form", limits="no network",
                                      headline=(("log_evidence", "{:.2f} nats"),)),
    "divergences": Row("recipes/divergences.py", exports=False,
                       use="forward and reverse KL fits, the MMD test", limits="no network",
                       headline=(("kl_fits.forward.kl_pq", "{:.2f}"), ("kl_fits.reverse_global.kl_pq", "{:.2f}"),
                                 ("kl_fits.forward.kl_qp", "{:.2f}"), ("kl_fits.reverse_global.kl_qp", "{:.2f}"),
                                 ("mmd.2.p_value", "p = {:.3f}"))),
}


# --- Training ---------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine a run uses.

    Returns:
        {"cpu": its model name, "cores": …, "python": …, "tensorflow": …, "keras": …,
        "tensorflow-probability": …}.
    """
    import importlib.metadata as meta

    versions = {}
    for name in ("tensorflow", "keras", "tensorflow-probability"):
        try:
            versions[name] = meta.version(name)
        except meta.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(), **versions}


def train(row: str, runs: str | os.PathLike, *, root: str | os.PathLike = ".") -> Path:
    """Runs a row's default command in a fresh Python process, its output in `<runs>/<row>/`.

    The recipe writes its figures and metrics into `<runs>/<row>/run/` and its exports into
    `<runs>/<row>/exports/`; its console goes to `<runs>/<row>/log.txt`; `<runs>/<row>/run.json` records the
    command, the commit of `root` (and whether its tree had changes), the machine and the wall time.

    Args:
        row: a key of `ROWS`.
        runs: the folder that collects the rows' runs.
        root: the checkout whose recipes run.

    Returns:
        The row's run folder.

    Raises:
        ReleaseError: an unknown row, a folder already holding a run, or a run that exits with an error.
    """
    spec = _row(row)
    root, folder = Path(root).resolve(), Path(runs).resolve() / row
    if folder.exists() and any(folder.iterdir()):
        raise ReleaseError(f"{folder} already holds a run (or what a stopped one left, which a recipe would "
                           "resume); move it away to train again")
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(root / spec.script), *spec.flags, "--out", str(folder / "run"),
            *(["--export-dir", str(folder / "exports")] if spec.exports else [])]
    record = {"row": row, "command": spec.command, "argv": argv[1:], "commit": _git(root, "rev-parse", "HEAD"),
              "changed_files": _git(root, "status", "--porcelain", "--untracked-files=no").splitlines(),
              "seed": recipe_seed(argv[1:]), "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(f"{row}: {spec.command} (commit {record['commit'][:10]}), log in {folder / 'log.txt'}", flush=True)
    start = time.monotonic()
    with open(folder / "log.txt", "w") as log:
        path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
        code = subprocess.run(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT, check=False,
                              env={**os.environ, "PYTHONPATH": path}).returncode
    record.update(wall_seconds=round(time.monotonic() - start, 1), returncode=code,
                  finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_atomically(folder / RUN_RECORD, json.dumps(record, indent=2) + "\n")
    if code != 0:
        raise ReleaseError(f"{row}: the run exited with {code}; see {folder / 'log.txt'}")
    print(f"{row}: done in {record['wall_seconds']:.0f} s", flush=True)
    return folder


def _row(row: str) -> Row:
    if row not in ROWS:
        raise ReleaseError(f"unknown row {row!r}; the rows: {', '.join(ROWS)}")
    return ROWS[row]


# --- Shipping ---------------------------------------------------------------------------------------------


def run_exports(folder: str | os.PathLike) -> dict[str, Path]:
    """The exports a row's run wrote.

    Args:
        folder: the row's run folder (`<runs>/<row>`).

    Returns:
        {part: its newest version folder}, from `<folder>/exports/<recipe>/<part>/<version>`.

    Raises:
        ReleaseError: two recipes exported a part of the same name.
    """
    from gen_keras.serving.reader import export_folders

    found = {}
    for version in export_folders(Path(folder) / "exports"):
        part = version.parent.name
        if part in found:
            raise ReleaseError(f"{folder}: two exports of the part {part!r} ({found[part]}, {version})")
        found[part] = version
    return found


def rename_served_model(version_dir: str | os.PathLike, name: str) -> None:
    """Names a copied export `name` in its `signatures.json` and its warm-up requests (TF Serving's model name).

    Args:
        version_dir: the copied version folder.
        name: the model's name where it is served now, e.g. "vae_latent16_decoder".
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from gen_keras.serving.export import SIGNATURES_FILE
    from gen_keras.serving.signatures import WARMUP_FILE
    from gen_keras.serving.wire import read_tfrecords

    version_dir = Path(version_dir)
    described = json.loads((version_dir / SIGNATURES_FILE).read_text())
    described["model"] = name
    write_atomically(version_dir / SIGNATURES_FILE, json.dumps(described, indent=2) + "\n")
    warmup = version_dir / WARMUP_FILE
    if warmup.is_file():
        logs = []
        for record in read_tfrecords(warmup):
            log = prediction_log_pb2.PredictionLog.FromString(record)
            log.predict_log.request.model_spec.name = name
            logs.append(log.SerializeToString())
        with tf.io.TFRecordWriter(str(warmup)) as writer:
            for log in logs:
                writer.write(log)


def small_subset_check(version_dir: str | os.PathLike) -> list[dict]:
    """What `gen_keras.evaluate` measures on a few samples (or test images) of an export, seed 0.

    The numbers are deterministic (fixed seeds, the shipped classifier), so a copy of the export that answers
    differently is not the model the card describes. Each kind of signature gets `CHECK_SAMPLES[kind]`
    samples; a `sample` signature that records no score of its own (a PixelCNN's, drawn pixel by pixel) is
    not drawn.

    Args:
        version_dir: an export's version folder.

    Returns:
        One dict per scored signature (signature, kind, samples, seed and its numbers); [] when nothing in the
        export can be scored (a discriminator).
    """
    from gen_keras import evaluate
    from gen_keras.errors import CannotScore, EvaluationError
    from gen_keras.serving.reader import Export

    try:
        kinds = sorted({t.kind for t in Export(version_dir).targets() if t.kind != "sample" or t.record})
    except EvaluationError:
        return []
    keep = ("fid", "kid", "confident_share", "label_accuracy", "nll_nats", "auroc", "probe_accuracy", "psnr",
            "class_agreement", "reconstruction_mse")
    found = []
    for kind in kinds:
        try:
            result = evaluate.evaluate(version_dir, samples=CHECK_SAMPLES[kind], seed=0, only=kind)
        except (EvaluationError, CannotScore):
            continue
        found += [{"signature": row["signature"], "kind": row["kind"],  # (a density of points: its recorded points)
                   "samples": row.get("num_points", CHECK_SAMPLES[kind]), "seed": 0,
                   **{k: row[k] for k in keep if k in row}} for row in result["rows"]]
    return found


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def shipped_apart(part: str) -> bool:
    """Whether an exported part stays out of `pretrained/`: a composed autoencoder (its encoder's and decoder's
    weights again, `COMPOSED_PARTS`) or a part that only trained another (`TRAINING_PARTS`)."""
    return any(fnmatch.fnmatch(part, pattern) for pattern in (*COMPOSED_PARTS, *TRAINING_PARTS))


def ship(row: str, runs: str | os.PathLike, *, pretrained: str | os.PathLike = PRETRAINED) -> Path:
    """Copies a trained row's exports into `<pretrained>/<row>/<part>/1/` and writes its card.

    Args:
        row: a key of `ROWS`, trained by `train` into `<runs>/<row>/`.
        runs: the folder of the rows' runs.
        pretrained: the shipped models' root.

    Returns:
        The row's folder in `pretrained`.

    Raises:
        ReleaseError: an unknown row; no finished run, or one that records too little; a run from a
            checkout with changes; a run that exported nothing, two parts of one name, or numbers that
            lack a headline key. Nothing in `pretrained` changes then.
    """
    spec = _row(row)
    folder = Path(runs) / row
    try:
        record = json.loads((folder / RUN_RECORD).read_text())
    except (OSError, ValueError) as e:
        raise ReleaseError(f"{folder} holds no finished run ({e}); "
                           f"run `python -m gen_keras.release train {row}`") from e
    if record.get("returncode") != 0:
        raise ReleaseError(f"{row}: its run exited with {record.get('returncode')}; see {folder / 'log.txt'}")
    missing = [k for k in ("commit", "argv", "machine", "started", "wall_seconds") if not record.get(k)]
    if missing:
        raise ReleaseError(f"{folder / RUN_RECORD} does not record its {', '.join(missing)}; train it again")
    if record.get("changed_files"):
        raise ReleaseError(f"{row}: its run came from a checkout with uncommitted changes "
                           f"({', '.join(record['changed_files'][:3])}); train it again from a clean one")
    exports = {part: path for part, path in run_exports(folder).items()
               if (spec.parts is None or part in spec.parts)
               and not shipped_apart(part)} if spec.exports else {}
    if spec.exports and not exports:
        raise ReleaseError(f"{row}: its run exported nothing under {folder / 'exports'}")
    try:
        metrics = json.loads((folder / "run" / spec.metrics).read_text())
    except (OSError, ValueError) as e:
        raise ReleaseError(f"{row}: its run's numbers are not readable ({e})") from e
    numbers = headline(row, metrics)  # before anything is copied: a row whose numbers are missing fails here

    from gen_keras.serving.export import served_name, write_models_config

    # Built beside the served root (never inside it, where a server or the index would see it), then swapped
    # in: the row's old folder is renamed away first and put back if anything fails.
    root = Path(pretrained)
    root.mkdir(parents=True, exist_ok=True)
    target = root / row
    staging = root.parent / f".{root.name}-{row}-staging-{os.getpid()}"
    previous = root.parent / f".{root.name}-{row}-previous-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        parts = {}
        for part, version in sorted(exports.items()):
            destination = staging / part / "1"
            keras_copy_ignored = not spec.keras_copies or any(fnmatch.fnmatch(part, pattern)
                                                              for pattern in SAVEDMODEL_ONLY_PARTS)
            shutil.copytree(version, destination,
                            ignore=shutil.ignore_patterns("*.keras") if keras_copy_ignored else None)
            rename_served_model(destination, served_name(row, part))
            parts[part] = {"served_as": served_name(row, part), "path": f"{row}/{part}/1",
                           "keras_file": not keras_copy_ignored, "bytes": _size(destination)}
        for part in parts:  # once every part is in place: a decoder is checked through the encoder beside it
            parts[part]["check"] = small_subset_check(staging / part / "1")
        staging.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "run" / spec.metrics, staging / "metrics.json")
        if (folder / "run" / "history.csv").is_file():
            shutil.copy2(folder / "run" / "history.csv", staging / "history.csv")
        seed = record["seed"] if "seed" in record else recipe_seed(record["argv"])
        card = {"row": row, "command": spec.command, "use": spec.use, "limits": spec.limits,
                "commit": record["commit"], "seed": seed,
                "dataset": metrics.get("dataset", "fashion_mnist"), "machine": record["machine"],
                "trained": {"started": record["started"], "wall_seconds": record["wall_seconds"],
                            "train_seconds": _seconds(metrics, spec.seconds),
                            "epochs": _history_rows(staging / "history.csv")},
                "parts": parts, "metrics": "metrics.json", "headline": numbers,
                "classifier_sha256": _classifier_sha256(metrics, parts)}
        write_atomically(staging / CARD, json.dumps(card, indent=2) + "\n")
        write_atomically(staging / "card.md", card_markdown(card, metrics))
        if target.exists():
            os.rename(target, previous)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if previous.exists() and not target.exists():
            os.rename(previous, target)
        raise
    shutil.rmtree(previous, ignore_errors=True)
    write_models_config(root)
    write_index(root)
    print(f"{row}: shipped {', '.join(parts) or 'its card'} into {target} ({_size(target) / 1e6:.1f} MB)")
    return target


def prune(row: str, *, pretrained: str | os.PathLike = PRETRAINED) -> Path:
    """Drops from a shipped row the parts that no longer ship (`shipped_apart`, or outside the row's `parts`),
    and brings its card's use and limits up to the row's; its run, numbers and other parts stay as they are.

    The dropped folders are first moved out of the served root, then the card, `models.config` and the index
    are written, then the folders deleted: a server never sees a part its config no longer lists, and a
    prune that stops half-way is finished by the next.

    Args:
        row: a row of `ROWS` that `pretrained` ships.
        pretrained: the shipped models' root.

    Returns:
        The row's folder.

    Raises:
        ReleaseError: the row is unknown or not shipped.
    """
    spec = _row(row)
    root = Path(pretrained)
    target = root / row
    try:
        card = json.loads((target / CARD).read_text())
        metrics = json.loads((target / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise ReleaseError(f"{row}: not shipped, or its card is unreadable ({e})") from e

    def dropped_part(part: str) -> bool:
        return shipped_apart(part) or (spec.parts is not None and part not in spec.parts)

    on_disk = [p.name for p in sorted(target.iterdir()) if p.is_dir() and dropped_part(p.name)]
    dropped = sorted(set(on_disk) | {part for part in card["parts"] if dropped_part(part)})
    removed = root.parent / f".{root.name}-{row}-pruned-{os.getpid()}"
    removed.mkdir(parents=True, exist_ok=True)
    for part in on_disk:
        os.rename(target / part, removed / part)
    card["parts"] = {part: entry for part, entry in card["parts"].items() if part not in dropped}
    card["use"], card["limits"] = spec.use, spec.limits
    write_atomically(target / CARD, json.dumps(card, indent=2) + "\n")
    write_atomically(target / "card.md", card_markdown(card, metrics))
    from gen_keras.serving.export import write_models_config

    write_models_config(root)
    write_index(root)
    shutil.rmtree(removed)
    print(f"{row}: {'dropped ' + ', '.join(dropped) if dropped else 'nothing to drop'}; "
          f"{_size(target) / 1e6:.1f} MB")
    return target


def recipe_seed(argv: list[str]) -> int | None:
    """The `--seed` a recipe's own parser gives a command (imported without TensorFlow).

    Args:
        argv: the recipe's path and its flags.

    Returns:
        The seed, or None for a recipe without `--seed`.
    """
    import importlib.util

    script = Path(argv[0])
    module_spec = importlib.util.spec_from_file_location(f"_recipe_{script.stem}", script)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module.parse(argv[1:]), "seed", None)


def write_index(pretrained: str | os.PathLike = PRETRAINED) -> Path:
    """Writes the index of the shipped models: every shipped row, its models, size, wall time and headline
    numbers, and the rows not shipped yet.

    Args:
        pretrained: the shipped models' root.

    Returns:
        The path of `<pretrained>/README.md`.
    """
    root = Path(pretrained)
    shipped = {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob(f"*/{CARD}"))}
    total = sum(_size(root / row) for row in shipped)
    lines = ["# Shipped models", "",
             "Each folder is one full default run: its SavedModels in TF Serving's layout (`<row>/<part>/1/`, with",
             "warm-up requests, and for encoders, decoders and generators a `.keras` copy for",
             "`keras.saving.load_model`; scorers and the variants' models reload as `keras.layers.TFSMLayer`),",
             "its card (`card.md`, `card.json`), and the run's `metrics.json` and `history.csv`. `models.config`",
             "serves them all:", "",
             "```bash",
             'docker run --rm -p 8501:8501 --mount type=bind,source="$PWD/pretrained",target=/models \\',
             "  tensorflow/serving --model_config_file=/models/models.config",
             "python -m gen_keras.evaluate --all pretrained      # re-score every shipped model",
             "```", "",
             f"{len(shipped)} runs, {sum(len(c['parts']) for c in shipped.values())} models, {total / 1e6:.1f} MB. "
             "Written by `python -m gen_keras.release train ROW` and `ship ROW`, never by hand.", "",
             "| row | command | served as | size | wall time | headline (metrics.json) |", "|---|---|---|---|---|---|"]
    for row, card in shipped.items():
        numbers = ", ".join(f"{k} {v}" for k, v in card.get("headline", {}).items())
        served = ", ".join(p["served_as"] for p in card["parts"].values()) or "— (its numbers only)"
        lines.append(f"| [{row}]({row}/card.md) | `{card['command']}` | {served} | "
                     f"{_size(root / row) / 1e6:.1f} MB | {card['trained']['wall_seconds']:,.0f} s | {numbers} |")
    missing = [row for row in ROWS if row not in shipped]
    if missing:
        lines += ["", "Not shipped yet: " + ", ".join(f"`{ROWS[r].command}`" for r in missing) + "."]
    return write_atomically(root / "README.md", "\n".join(lines) + "\n")


def _seconds(metrics: dict, key: str) -> float | None:
    try:
        return metric(metrics, key)
    except ReleaseError:
        return None


def _history_rows(path: Path) -> int | None:
    if not path.is_file():
        return None
    return max(0, len(path.read_text().strip().splitlines()) - 1)


def _classifier_sha256(metrics: dict, parts: dict) -> str | None:
    found = metrics.get("classifier_sha256")
    if found:
        return found
    from gen_keras.evaluate import instrument

    return instrument("fashion_mnist").sha256 if any(p["check"] for p in parts.values()) else None


def card_markdown(card: dict, metrics: dict) -> str:
    """A card as a page a person reads.

    Args:
        card: the card (as `card.json` holds it).
        metrics: its run's metrics.json, read.

    Returns:
        Markdown: use, limits, how it was trained, the models and their checks, the run's single numbers.
    """
    trained, machine = card["trained"], card["machine"]
    lines = [f"# {card['row']}", "", card["use"] + ".", "", f"Limits: {card['limits']}.", "",
             "| | |", "|---|---|",
             f"| command | `{card['command']}` |",
             f"| commit | {card['commit']} |",
             f"| seed | {card['seed']} |",
             f"| data | {card['dataset']} |",
             f"| trained | {trained['started']}: {trained['wall_seconds']:,.0f} s wall (the whole command)"
             + (f", {trained['train_seconds']:,.0f} s of training" if trained.get("train_seconds") else "")
             + (f", {trained['epochs']} epochs" if trained.get("epochs") else "") + " |",
             f"| machine | {machine['cpu']}, {machine['cores']} cores; TensorFlow {machine.get('tensorflow')}, "
             f"Keras {machine.get('keras')} |",
             f"| instrument | the shipped Fashion-MNIST classifier, sha256 {card['classifier_sha256']} |",
             f"| headline | {', '.join(f'{k} {v}' for k, v in card['headline'].items()) or '—'} |", "",
             "## Models", "", "| served as | path | size | small-subset check (seed 0) |", "|---|---|---|---|"]
    for part in card["parts"].values():
        check = "; ".join(f"{c['signature']}: " + ", ".join(f"{k} {v:.4g}" for k, v in c.items()
                                                         if isinstance(v, float)) + f" on {c['samples']}"
                          for c in part["check"]) or "nothing to score"
        lines.append(f"| {part['served_as']} | {part['path']} | {part['bytes'] / 1e6:.1f} MB | {check} |")
    if not card["parts"]:
        lines.append("| — | — | — | this run trains no model to ship: its card keeps its numbers |")
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    lines += ["", "## The run's numbers", "", "The single numbers of [metrics.json](metrics.json) (lists and tables: "
              "the file itself):", "", "```json", json.dumps(scalars, indent=2), "```", ""]
    return "\n".join(lines)


# --- The docs quote the cards ----------------------------------------------------------------------------

DOCS = ("README.md", "docs/results/overview.md")


def metric(metrics: dict, key: str):
    """One number of a run.

    Args:
        metrics: a run's metrics.json, read.
        key: its key, dots for nesting ("a.b" is `metrics["a"]["b"]`, "a.2" is `metrics["a"][2]`).

    Returns:
        The number.

    Raises:
        ReleaseError: the key is missing or holds no number.
    """
    value = metrics
    for name in key.split("."):
        if isinstance(value, list) and name.isdigit() and int(name) < len(value):
            value = value[int(name)]
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            raise ReleaseError(f"the run's metrics have no {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReleaseError(f"the run's {key!r} is {value!r}, not a number")
    return value


def headline(row: str, metrics: dict) -> dict[str, str]:
    """A row's headline numbers as the docs write them.

    Args:
        row: a key of `ROWS`.
        metrics: its run's metrics.json, read.

    Returns:
        {metrics key: the formatted number}, e.g. {"test_negative_elbo": "258.5"}; minus signs as "−".

    Raises:
        ReleaseError: a headline key is missing or holds no number.
    """
    import re

    return {key: re.sub(r"(?<![\deE])-(?=\d)", "−", form.format(metric(metrics, key)))  # a sign, not an exponent's
            for key, form in _row(row).headline}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def docs_rows(text: str, command: str) -> list[str]:
    """The rows of a page's tables that quote a command.

    Args:
        text: a markdown page.
        command: a command, e.g. "python recipes/vae.py".

    Returns:
        The table rows whose second cell starts with the command in backticks (so a variant's row, with more
        flags inside the backticks, is not one of them).
    """
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            cells = _cells(line)
            if len(cells) > 1 and cells[1].startswith(f"`{command}`"):
                found.append(line)
    return found


def quotes(line: str, number: str) -> bool:
    """Whether `line` has `number` as a whole number: 258.5 is not quoted by 258.59, 1258.5 or −258.5.

    Args:
        line: a row of a markdown table.
        number: a formatted number.

    Returns:
        True when it is there.
    """
    import re

    return re.search(rf"(?<![\d.,\-−]){re.escape(number)}(?![\d]|[.,]\d)", line) is not None


def check_docs(root: str | os.PathLike = ".", pretrained: str | os.PathLike = PRETRAINED) -> list[str]:
    """Where the README or docs/results/overview.md quote a shipped row's command with other numbers than
    its card's (or do not quote it at all); [] when every headline number is its card's.

    Args:
        root: the checkout.
        pretrained: the shipped models' root, relative to `root`.

    Returns:
        One message per problem.
    """
    root = Path(root)
    problems = []
    texts = {name: (root / name).read_text(encoding="utf-8") for name in DOCS}
    for card_path in sorted((root / pretrained).glob(f"*/{CARD}")):
        card = json.loads(card_path.read_text())
        try:
            numbers = headline(card["row"], json.loads((card_path.parent / "metrics.json").read_text()))
        except (OSError, ValueError, ReleaseError) as e:
            problems.append(f"{card_path}: its headline cannot be read from its metrics.json ({e})")
            continue
        if numbers != card.get("headline"):
            problems.append(f"{card_path}: its headline {card.get('headline')} is not its metrics.json's {numbers}")
        quoted = 0
        for name, text in texts.items():
            for line in docs_rows(text, card["command"]):
                quoted += 1
                missing = [f"{key} {value}" for key, value in numbers.items()
                           if name in _row(card["row"]).quoted_in(key) and not quotes(line, value)]
                if missing:
                    problems.append(f"{name}: the row of `{card['command']}` does not quote its card's "
                                    f"{', '.join(missing)}")
        if numbers and not quoted:
            problems.append(f"no row of {' or '.join(DOCS)} quotes `{card['command']}` ({card['row']})")
    return problems


# --- The command ------------------------------------------------------------------------------------------


def parse(argv=None) -> argparse.Namespace:
    """The command line of `python -m gen_keras.release`."""
    parser = argparse.ArgumentParser(prog="python -m gen_keras.release",
                                     description="Trains the headline rows' default runs and ships their models "
                                                 "into pretrained/ with a card each.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="every row, its command and whether pretrained/ ships it")
    verbs.add_parser("check", help="say where the README or overview.md quote a number other than its card's")
    prune_verb = verbs.add_parser("prune", help="drop from shipped rows the parts that no longer ship (their "
                                                "discriminators, critics), keeping their runs' cards")
    prune_verb.add_argument("rows", nargs="+", metavar="ROW", help="row names (see `list`)")
    for verb, text in (("train", "run the rows' default commands, one after another"),
                       ("ship", "copy the rows' exports into pretrained/ and write their cards")):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("rows", nargs="+", metavar="ROW", help="row names (see `list`)")
        p.add_argument("--runs", default="runs/release", help="the folder of the rows' runs (default runs/release)")
        if verb == "train":
            p.add_argument("--root", default=".", help="the checkout whose recipes run (default: here; a clean "
                                                       "clone keeps the run apart from your edits)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """`python -m gen_keras.release`; returns the exit status (1 on a refused row or a docs mismatch)."""
    args = parse(argv)
    try:
        if args.verb == "list":
            for name, spec in ROWS.items():
                shipped = "shipped" if (Path(PRETRAINED) / name / CARD).is_file() else "not shipped"
                print(f"{name:28s} {shipped:12s} {spec.command}")
        elif args.verb == "check":
            problems = check_docs()
            print("\n".join(problems) or "every headline number is its card's")
            return 1 if problems else 0
        elif args.verb == "prune":
            for row in args.rows:
                _row(row)
            for row in args.rows:
                prune(row)
        else:
            for row in args.rows:
                _row(row)
            for row in args.rows:
                if args.verb == "train":
                    train(row, args.runs, root=args.root)
                else:
                    ship(row, args.runs)
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
