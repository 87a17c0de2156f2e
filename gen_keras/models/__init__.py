"""The lectures' networks. Models import Keras (and TFP) only: no data, training, export or plotting.

Importing this package imports every model module, so each serializable class is registered for
`keras.saving.load_model` whichever model a user imports first.
"""

from gen_keras.models import saving, autoencoders, vae, gan, wgan, aae, regularized  # noqa: F401  (in dependency order)
from gen_keras.models import pixelcnn  # noqa: F401
from gen_keras.models import flows  # noqa: F401
from gen_keras.models import translation_tasks, translation_networks, translation  # noqa: F401  (in dependency order)
