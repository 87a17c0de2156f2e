"""Figures shared by several recipes of one family (or a recipe and a benchmark), one module per family.

A figure only one recipe draws lives in that recipe; the generic pieces (image grids, curves, scatters of
codes) in `gen_keras.plots`. Models never import these modules.
"""
