"""Data pipeline: datasets, the mini-batch loader, samplers and transform bases.

The concrete transforms (standardize, pca_whiten, random_flip, ...) are plugins,
found in the ``gg.transforms`` registry.
"""

from .dataset import ArrayDataset, StreamDataset
from .loader import DataLoader
from .samplers import HardExampleSampler, RandomSampler, SequentialSampler, StratifiedSampler
from .transform import RandomTransform, Transform

__all__ = [
    "ArrayDataset",
    "StreamDataset",
    "DataLoader",
    "RandomSampler",
    "SequentialSampler",
    "StratifiedSampler",
    "HardExampleSampler",
    "Transform",
    "RandomTransform",
]
