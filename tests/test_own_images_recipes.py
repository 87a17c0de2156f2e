"""Your own images through the recipes: a folder of colour PNGs in, exports of that shape out (C API)."""

import json
import shutil

import pytest

from tests.conftest import assert_signatures_describe_themselves, run_python

pytestmark = pytest.mark.slow  # recipes' quick runs in subprocesses, exports through the C API


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Emoji glyphs at 64×64: labelled (a subfolder per Unicode block group) and the same images flat."""
    from gen_keras import emoji

    root = tmp_path_factory.mktemp("own_images")
    counts = emoji.render_emoji(root / "labelled", 64, limit=400)
    assert len(counts) >= 2
    flat = root / "flat"
    flat.mkdir()
    for png in (root / "labelled").glob("*/*.png"):
        shutil.copy(png, flat / f"{png.parent.name}_{png.name}")
    return root / "labelled", flat, {"GEN_KERAS_CACHE": str(root / "cache")}


def served_shape(version_dir, signature="serving_default", feeds=None):
    """The `image` output's shape when the C API loader runs the export (a fresh process, no TensorFlow)."""
    script = ("import sys, json, numpy as np\n"
              "from gen_keras.serving.capi import SavedModelSession\n"
              "with SavedModelSession(sys.argv[1]) as s:\n"
              "    sig = s.signatures[sys.argv[2]]\n"
              "    feeds = {k: np.asarray(v, dtype=np.dtype(d)) for k, (v, d) in json.loads(sys.argv[3]).items()}\n"
              "    print(list(s.run(feeds, sys.argv[2])['image'].shape))\n")
    result = run_python(["-c", script, str(version_dir), signature, json.dumps(feeds)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def test_dcgan_on_an_unlabelled_64_pixel_folder_exports_a_64x64x3_generator(folders, tmp_path):
    _, flat, env = folders
    result = run_python(["recipes/dcgan.py", "--quick", "--dataset", f"folder:{flat}", "--filters", "8",
                         "--latent-dim", "16", "--batch-size", "32", "--out", str(tmp_path / "out"),
                         "--export-dir", str(tmp_path / "sm")], timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cannot score samples of folder:" in result.stdout and "no labels" in result.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["scored"] is False and "fid" not in metrics
    assert (tmp_path / "out" / "samples.png").exists()
    z = [[0.1] * 16] * 3
    assert served_shape(tmp_path / "sm" / "dcgan" / "generator" / "1", feeds={"z": (z, "float32")}) == (3, 64, 64, 3)
    assert_signatures_describe_themselves(tmp_path / "sm")
    documented = {part: json.loads((tmp_path / "sm" / "dcgan" / part / "1" / "signatures.json").read_text())
                  ["signatures"]["serving_default"] for part in ("generator", "discriminator")}
    assert documented["generator"]["outputs"]["image"]["shape"] == [None, 64, 64, 3]
    assert documented["discriminator"]["inputs"]["image"]["shape"] == [None, 64, 64, 3]


@pytest.mark.parametrize("recipe, part, feeds, flags", [
    ("conv_autoencoder", "decoder", {"code": ([[0.0] * 49] * 2, "float32")}, ()),
    ("vae", "decoder", {"z": ([[0.0] * 2] * 2, "float32")}, ("--decoder", "conv")),
    ("diffusion", "diffusion", None, ("--sampling-steps", "2", "--fid-steps", "2")),
])
def test_32_pixel_colour_recipes_export_that_shape(folders, tmp_path, recipe, part, feeds, flags):
    labelled, _, env = folders
    result = run_python([f"recipes/{recipe}.py", "--quick", "--dataset", f"folder:{labelled}", "--image-size", "32",
                         "--out", str(tmp_path / "out"), "--export-dir", str(tmp_path / "sm"), *flags],
                        timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(32, 32, 3)" in result.stdout  # the data as the networks see them
    version = tmp_path / "sm" / recipe / part / "1"
    if recipe == "diffusion":
        sample = {"num_samples": (2, "int32"), "seed": (0, "int32"), "steps": (2, "int32")}
        assert served_shape(version, "sample", sample) == (2, 32, 32, 3)
    else:
        assert served_shape(version, feeds=feeds) == (2, 32, 32, 3)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    if recipe == "vae":  # labelled data: the instrument trained its classifier on the folder's classes
        assert metrics["prior_samples_fid"] >= 0 and "trained on this machine" in metrics["classifier"]


def test_bad_folders_stop_the_recipes_with_a_reason(folders, tmp_path):
    _, flat, env = folders
    conditional = run_python(["recipes/cgan.py", "--quick", "--dataset", f"folder:{flat}", "--out",
                              str(tmp_path / "out")], timeout=300, env=env)
    assert conditional.returncode == 1 and "two or more classes" in conditional.stderr
    assert "Traceback" not in conditional.stderr
    missing = run_python(["recipes/conv_autoencoder.py", "--quick", "--dataset", f"folder:{tmp_path / 'nothing'}",
                          "--out", str(tmp_path / "out2")], timeout=300, env=env)
    assert missing.returncode == 1 and "no folder at" in missing.stderr and "Traceback" not in missing.stderr
    odd = run_python(["recipes/dcgan.py", "--quick", "--dataset", f"folder:{flat}", "--image-size", "48",
                      "--out", str(tmp_path / "out3")], timeout=300, env=env)
    assert odd.returncode == 1 and "--image-size 32 or 64" in odd.stderr
    grey_only = run_python(["recipes/pixelcnn.py", "--quick", "--dataset", f"folder:{flat}",
                            "--out", str(tmp_path / "out4")], timeout=300, env=env)
    assert grey_only.returncode == 1 and "--image-size 28 --channels 1" in grey_only.stderr
