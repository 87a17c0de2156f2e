"""gen_keras: generative-model recipes for TensorFlow / Keras 3. Importing the package imports no TensorFlow."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) hides a recipe's own output; a user who
# wants it sets TF_CPP_MIN_LOG_LEVEL before running.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"
