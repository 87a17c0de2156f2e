"""gen_keras: generative-model recipes for TensorFlow / Keras 3. Importing the package imports no TensorFlow."""

__version__ = "0.1.0"
