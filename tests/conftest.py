"""Shared fixtures. Tests never download: GEN_KERAS_NO_DOWNLOAD=1 turns a missing data set into an error."""

import os
import sys
from pathlib import Path

import pytest

os.environ["GEN_KERAS_NO_DOWNLOAD"] = "1"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fashion_train():
    """The first 2,048 Fashion-MNIST training images, from whichever offline copy is found."""
    from gen_keras import data

    return data.load_images("fashion_mnist", "train", limit=2048)


@pytest.fixture(scope="session")
def fashion_test():
    from gen_keras import data

    return data.load_images("fashion_mnist", "test", limit=1000)


def run_python(args, timeout=300, env=None, cwd=ROOT):
    """Runs `python args...` in a fresh process and returns the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def load_recipe(name: str):
    """Imports `recipes/<name>.py` as a module (its `parse`, `export`, … without running `main`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_recipe_quick(recipe: str, tmp: Path, *flags: str, timeout: int = 300):
    """Runs `python <recipe> --quick` with its outputs in `tmp/out` and exports in `tmp/sm`; fails the test
    with the recipe's stderr if it does not exit 0."""
    result = run_python([recipe, "--quick", "--out", str(tmp / "out"), "--export-dir", str(tmp / "sm"), *flags],
                        timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def lecture_parts():
    """The lecture's conv autoencoder (untrained) with non-trivial batch-norm statistics, which exports must carry."""
    import keras
    import numpy as np

    from gen_keras.models.autoencoders import conv_autoencoder

    rng = np.random.default_rng(0)
    parts = conv_autoencoder("lecture")
    parts.autoencoder(np.zeros((1, 28, 28, 1), np.float32))
    for layer in parts.decoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=64).astype(np.float32) * 0.1)
            layer.moving_variance.assign(rng.uniform(0.01, 2.0, size=64).astype(np.float32))
    return parts


@pytest.fixture(scope="session")
def conv_autoencoder_exports(lecture_parts, tmp_path_factory):
    """(export root, {part: version folder}) for the encoder, decoder and autoencoder, as the recipe exports them."""
    from gen_keras.serving import export

    root = tmp_path_factory.mktemp("saved_models")
    specs = {"encoder": ({"image": (28, 28, 1)}, "code"), "decoder": ({"code": (49,)}, "image"),
             "autoencoder": ({"image": (28, 28, 1)}, "image")}
    paths = {part: export.export_for_serving(getattr(lecture_parts, part), root, "conv_autoencoder", part,
                                             inputs=inputs, outputs=outputs)
             for part, (inputs, outputs) in specs.items()}
    return root, paths


RELOAD_SCRIPT = """
import sys
from pathlib import Path

import gen_keras  # the only gen_keras import: it must be enough for load_model to find the classes
import keras
import numpy as np

for root in sys.argv[1:]:
    for path in sorted(Path(root).rglob("*.keras")):
        model = keras.saving.load_model(path)  # safe mode
        batch = [np.zeros([2, *t.shape[1:]], t.dtype) for t in model.inputs]
        out = model(batch if len(batch) > 1 else batch[0], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        assert all(np.all(np.isfinite(np.asarray(o))) for o in out), path
        print(path.relative_to(root).as_posix())
"""


def assert_keras_files_reload(*export_roots: Path) -> list[str]:
    """Loads every `.keras` file under the export roots with `keras.saving.load_model` (safe mode) in a
    fresh process whose only gen_keras import is `import gen_keras`, and runs each model on a batch.
    Returns the files loaded; fails the test if any file does not load."""
    expected = sorted(p.relative_to(root).as_posix() for root in export_roots for p in Path(root).rglob("*.keras"))
    assert expected, f"no .keras files under {export_roots}"
    result = run_python(["-c", RELOAD_SCRIPT, *map(str, export_roots)], timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(result.stdout.split()) == expected
    return expected


def assert_signatures_describe_themselves(root: Path) -> list[Path]:
    """Checks every SavedModel under `root`: each signature input has a known rank, only its first size (the
    batch) unknown (a scalar has rank 0), and `signatures.json` beside it gives the same shapes, dtypes and
    defaults as the SavedModel's own SignatureDefs. Returns the version folders checked."""
    import json

    import numpy as np

    from gen_keras.serving.signatures import DTYPES
    from gen_keras.serving.wire import parse_signatures
    from tensorflow.core.protobuf import saved_model_pb2

    versions = sorted(p.parent for p in Path(root).rglob("saved_model.pb"))
    assert versions, f"no SavedModel under {root}"
    for version in versions:
        saved_model = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
        signatures = {k: s for k, s in parse_signatures(saved_model.meta_graphs[0].SerializeToString()).items()
                      if not k.startswith("__")}
        documented = json.loads((version / "signatures.json").read_text())["signatures"]
        assert set(documented) <= set(signatures), version
        for key, signature in signatures.items():
            for name, info in signature.inputs.items():
                where = f"{version} {key}/{name}: shape {info.shape}"
                assert info.shape is not None, where
                assert all(d >= 0 for d in info.shape[1:]), where
                assert not info.shape or info.shape[0] == -1, where
            if key in documented:
                inputs = documented[key]["inputs"]
                assert set(inputs) == set(signature.inputs), (version, key)
                for name, info in signature.inputs.items():
                    assert inputs[name]["shape"] == [None if d == -1 else d for d in info.shape], (version, key, name)
                    assert np.dtype(inputs[name]["dtype"]) == np.dtype(DTYPES[info.dtype]), (version, key, name)
                    assert ("default" in inputs[name]) == (name in signature.defaults), (version, key, name)
                    if name in signature.defaults:
                        assert inputs[name]["default"] == signature.defaults[name].tolist(), (version, key, name)
        assert "serving_default" in signatures, version
    return versions
