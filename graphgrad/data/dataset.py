"""Datasets: a fixed set of arrays, or a stream whose data changes over time.

* :class:`ArrayDataset` is *map-style*: ``len(ds)`` and ``ds[i]``; the loader
  visits it in a (shuffled) order of indices.
* :class:`StreamDataset` is *iterable*: it has no indices, only "the next
  sample"; the loader consumes it in mini-batches as the samples arrive, which
  is how SGD trains on a dynamically changing dataset.

A sample is always a tuple of arrays (features first, then e.g. labels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np


class ArrayDataset:
    """Samples are rows of arrays sharing their first dimension (like PyTorch's
    ``TensorDataset``): ``ds[i] = (a_1[i], ..., a_k[i])``.

    ``ds[idx]`` with a slice or an integer array returns the batched rows
    ``(a_1[idx], ..., a_k[idx])`` in one step (the DataLoader uses this).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array, e.g. ArrayDataset(x, y)")
        arrays = tuple(np.asarray(a) for a in arrays)
        for a in arrays:
            if a.ndim == 0:
                raise ValueError(
                    "ArrayDataset: every array needs a first (sample) dimension, got a 0-d array"
                )
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) > 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(
                f"ArrayDataset: arrays must share their first dimension (number of samples), got "
                f"shapes {shapes}"
            )
        self.arrays = arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"ArrayDataset({shapes})"


def _as_sample(item: Any) -> tuple[np.ndarray, ...]:
    fields = item if isinstance(item, tuple) else (item,)
    return tuple(np.asarray(f) for f in fields)


class StreamDataset:
    """An iterable dataset whose content changes over time.

    ``source`` is one of

    * an iterator (e.g. a generator object): it is *shared by all passes*; each
      pass continues where the previous one stopped, so every sample is seen
      once, in order of arrival, however many epochs the trainer runs;
    * a zero-argument callable returning an iterable (e.g. a generator function,
      or a ``poll()`` that returns the samples that arrived since the last call):
      it is called at the start of every pass, so each epoch sees the data as
      it is *now*;
    * any other iterable (e.g. a list): re-iterated from the start every pass.

    Items are single samples ``(x, y)`` (or a bare ``x``); with ``chunks=True``
    they are chunks ``(X, Y)`` of arrays sharing their first dimension, which
    are split into samples.

    ``max_size`` bounds one pass to that many samples (an epoch of an endless
    stream); what is not consumed stays for the next pass (for a shared
    iterator, also the rest of a split chunk). Without it a pass ends when the
    source runs dry.

    ``window`` sets the loader's shuffling for the stream: with
    ``DataLoader(shuffle=True)`` the arriving samples go through a buffer of the
    ``window`` most recent samples and each arrival evicts a uniformly chosen
    buffered sample into the batch (the buffer is flushed in random order at
    the end of the pass). This breaks up correlation between consecutive
    samples while the data still flows; ``window=None`` or ``shuffle=False``
    keeps the order of arrival.
    """

    def __init__(
        self,
        source: Iterable | Callable[[], Iterable],
        *,
        chunks: bool = False,
        max_size: int | None = None,
        window: int | None = None,
    ):
        if not (callable(source) or isinstance(source, Iterable)):
            raise TypeError(
                "StreamDataset: source must be an iterable, an iterator/generator, or a "
                f"zero-argument callable returning an iterable; got {type(source).__name__}"
            )
        for label, value in (("max_size", max_size), ("window", window)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(
                    f"StreamDataset: {label} must be a positive int or None, got {value!r}"
                )
        self.source = source
        self.chunks = bool(chunks)
        self.max_size = max_size
        self.window = window
        shared = isinstance(source, Iterator)
        self._shared = self._flatten(source) if shared else None

    def _flatten(self, items: Iterable) -> Iterator[tuple[np.ndarray, ...]]:
        """Turn source items (samples or chunks) into single samples."""
        for item in items:
            fields = _as_sample(item)
            if not self.chunks:
                yield fields
                continue
            if fields[0].ndim == 0 or len({f.shape[:1] for f in fields}) != 1:
                shapes = ", ".join(str(f.shape) for f in fields)
                raise ValueError(
                    "StreamDataset(chunks=True): a chunk's arrays must share their first "
                    f"dimension, got shapes {shapes}"
                )
            for i in range(fields[0].shape[0]):
                yield tuple(f[i] for f in fields)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        """One pass over the stream: at most ``max_size`` samples."""
        if self._shared is not None:
            samples = self._shared
        else:
            samples = self._flatten(self.source() if callable(self.source) else self.source)
        return islice(samples, self.max_size)

    def __repr__(self) -> str:
        return (
            f"StreamDataset(source={type(self.source).__name__}, chunks={self.chunks}, "
            f"max_size={self.max_size}, window={self.window})"
        )
