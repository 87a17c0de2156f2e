"""Saving models made of models: a composite's config holds its parts (encoder, generator, …) serialized."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras


def serialized_parts(model: keras.Model, names: Sequence[str]) -> dict:
    """`{name: serialized sub-model}` for a composite's `get_config`.

    Args:
        model: the composite (a VAE, a GAN, …).
        names: the attributes holding its parts, e.g. `("encoder", "decoder")`.

    Returns:
        A dict to merge into the config.
    """
    return {name: keras.saving.serialize_keras_object(getattr(model, name)) for name in names}


def with_deserialized_parts(config: Mapping, names: Sequence[str]) -> dict:
    """A copy of a composite's config whose parts are Keras models again, for `cls(**config)` in
    `from_config`.

    Args:
        config: the saved config.
        names: the keys holding serialized parts.

    Returns:
        The config with each part deserialized.
    """
    config = dict(config)
    for name in names:
        config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
