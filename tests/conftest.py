"""Shared fixtures. Tests never download: GEN_KERAS_NO_DOWNLOAD=1 turns a missing data set into an error."""

import os
import sys
from pathlib import Path

os.environ["GEN_KERAS_NO_DOWNLOAD"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


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
