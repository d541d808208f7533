"""Data pipeline: datasets, the mini-batch loader, samplers and transform bases.

The concrete transforms (standardize, pca_whiten, random_flip, ...) are plugins,
found in the ``gg.transforms`` registry.
"""

from graphgrad.data.dataset import ArrayDataset, StreamDataset
from graphgrad.data.loader import DataLoader
from graphgrad.data.samplers import (
    HardExampleSampler,
    RandomSampler,
    SequentialSampler,
    StratifiedSampler,
)
from graphgrad.data.transform import BatchTransform, RandomTransform, Transform

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
    "BatchTransform",
]
