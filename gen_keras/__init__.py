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
    """Imports the modules that define gen_keras's serializable Keras classes (`gen_keras.models` imports
    every model module, and they import `gen_keras.layers`), which registers them under `gen_keras>Name`.
    Imports Keras and TensorFlow."""
    importlib.import_module("gen_keras.models")


def _importing_gen_keras(done: str = "") -> bool:
    """Whether a gen_keras module (other than `done`, which has just run) is part-way through its import."""
    return any(name.startswith("gen_keras.") and name != done
               and getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()))


class _RegisterOnceKerasIsImported(importlib.abc.MetaPathFinder):
    """Registers gen_keras's Keras classes once Keras has been imported and no gen_keras module is still
    part-way through its own import (registering then could meet it half-made): at the end of Keras's
    import, or else at the end of the outermost gen_keras import that was under way. A lazy import: Keras
    costs seconds, `--help` none. Removes itself when done."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith("gen_keras."):
            return None
        sys.meta_path.remove(self)  # find the real spec with the other finders
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            self.register_when_ready(done=name)

        spec.loader.exec_module = exec_then_register
        return spec

    def register_when_ready(self, done: str = "") -> None:
        if self in sys.meta_path and "keras" in sys.modules and not _importing_gen_keras(done):
            sys.meta_path.remove(self)
            register_keras_objects()


if "keras" in sys.modules:
    if not _importing_gen_keras():
        register_keras_objects()
elif not any(isinstance(f, _RegisterOnceKerasIsImported) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnceKerasIsImported())
