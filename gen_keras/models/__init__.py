"""The lectures' networks. Models import Keras (and TFP) only: no data, training, export or plotting."""
