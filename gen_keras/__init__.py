"""gen_keras: generative-model recipes for TensorFlow / Keras 3.

Importing the package imports no TensorFlow, so a recipe's `--help` and flag errors answer at once. Its
Keras classes (layers, models) are registered for `keras.saving.load_model` as soon as Keras is imported,
before or after `import gen_keras`: an exported `.keras` file loads in safe mode with no other import.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) hides a recipe's own output; a user who
# wants it sets TF_CPP_MIN_LOG_LEVEL before running.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"


def register_keras_objects() -> None:
    """Registers gen_keras's serializable Keras classes for `keras.saving.load_model`.

    Imports `gen_keras.models` (which imports every model module, and they import `gen_keras.layers`), so
    each class is registered under `gen_keras>Name`. Imports Keras and TensorFlow; calling it again is cheap.
    """
    importlib.import_module("gen_keras.models")


def _importing_gen_keras() -> bool:
    """Whether a gen_keras module is part-way through its own import (it then imports what it needs)."""
    return any(name.startswith("gen_keras.") and getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()))


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds `keras` as usual and registers gen_keras's classes once its import has finished (a lazy
    import: Keras costs seconds, `--help` none)."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            if not _importing_gen_keras():
                register_keras_objects()

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    if not _importing_gen_keras():
        register_keras_objects()
elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
