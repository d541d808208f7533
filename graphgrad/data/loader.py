"""DataLoader: mini-batches of Tensors from a dataset, a new order every epoch.

Each ``iter(loader)`` is one epoch. For a map-style dataset (``len`` and
``ds[i]``) the order of indices comes from

* the ``sampler`` if one is given (``shuffle`` is then not used); an index
  sampler's indices are grouped into batches of ``batch_size``, a batch sampler
  (``yields_batches = True``, e.g. ``StratifiedSampler``) gives whole batches
  and the loader's ``batch_size``/``drop_last`` are not used;
* else a uniform random permutation drawn from the loader's generator
  (``shuffle=True``) or ``0..n-1`` (``shuffle=False``).

For an iterable dataset (e.g. ``StreamDataset``) the samples are batched in
order of arrival, through a shuffle buffer of ``dataset.window`` samples when
``shuffle=True``.

All randomness lives in generators that advance from one epoch to the next, so
no ``set_epoch`` call is needed: with ``seed`` the whole sequence of epochs
repeats, and ``state_dict()`` (the loader's, sampler's and random transforms'
generator states, JSON-able; in the middle of an epoch also that epoch's order
and position) resumes it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from graphgrad.autograd.tensor import tensor
from graphgrad.data.dataset import ArrayDataset
from graphgrad.random import SeedLike, generator_state, make_rng, restore_generator


def to_tensor(array: np.ndarray):
    """Wrap one batch field as a ``graphgrad.Tensor``; an ndarray keeps its dtype
    (float64 stays float64, integer labels stay integer); no gradient is required."""
    return tensor(array)


def collate(samples: list[tuple]) -> tuple[np.ndarray, ...]:
    """Stack a list of samples ``(x_i, y_i, ...)`` into ``(X, Y, ...)`` with
    ``X[i] = x_i`` along a new first axis."""
    width = {len(s) for s in samples}
    if len(width) != 1:
        raise ValueError(f"DataLoader: samples have different numbers of fields: {sorted(width)}")
    return tuple(np.stack([np.asarray(s[k]) for s in samples]) for k in range(width.pop()))


def _is_map_style(dataset: Any) -> bool:
    return hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")


def _check_positive(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"DataLoader: {label} must be a positive int, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches of ``graphgrad.Tensor``.

    Every batch is a tuple with one Tensor per dataset field, built with
    :func:`to_tensor`; ``transform`` (a callable on the feature ndarray, e.g. a
    fitted ``standardize`` or a ``compose``) is applied to the first field of
    each batch before wrapping; a batch transform (``takes_labels``, such as
    ``mixup`` or ``cutmix``) is called with the first two, ``(x, y)``, and
    returns both. After each batch of a map-style dataset,
    ``loader.batch_indices`` holds the dataset indices of its samples (for
    ``HardExampleSampler.update``); it is None for streams.

    ``len(loader)`` is the number of batches per epoch: ``ceil(n / batch_size)``
    (``floor`` with ``drop_last``) for map-style datasets, the sampler's length
    for a batch sampler, and for a stream ``max_size`` in place of ``n`` (a
    stream without ``max_size`` has no length). With ``drop_last`` the short
    last batch of a stream's pass is dropped; its samples are consumed.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 32,
        shuffle: bool = True,
        sampler: Iterable | None = None,
        drop_last: bool = False,
        seed: SeedLike = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.map_style = _is_map_style(dataset)
        if not self.map_style and not isinstance(dataset, Iterable):
            raise TypeError(
                "DataLoader: dataset must be map-style (len and [i], e.g. ArrayDataset) or "
                f"iterable (e.g. StreamDataset), got {type(dataset).__name__}"
            )
        if sampler is not None and not self.map_style:
            raise ValueError(
                "DataLoader: a sampler chooses indices, but an iterable/stream dataset has none; "
                "drop the sampler (use StreamDataset(window=...) with shuffle=True to shuffle "
                "a stream)"
            )
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataLoader: transform must be callable, got {type(transform).__name__}"
            )
        self.dataset = dataset
        self.batch_size = _check_positive(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.rng = make_rng(seed)
        self.batch_indices: np.ndarray | None = None
        # [index batches, batches handed out] while an epoch of a map-style dataset
        # runs; a mid-epoch state_dict keeps them, so the epoch can be finished later
        self._epoch: list | None = None
        self._resume: tuple[list[np.ndarray], int] | None = None

    @property
    def batch_sampler(self) -> bool:
        """True when the sampler yields whole batches."""
        return bool(getattr(self.sampler, "yields_batches", False))

    def __len__(self) -> int:
        if self.batch_sampler:
            return len(self.sampler)
        if self.map_style:
            n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        else:
            n = getattr(self.dataset, "max_size", None)
            if n is None:
                raise TypeError(
                    "DataLoader: a stream without max_size has no length; give "
                    "StreamDataset(max_size=...) to fix the number of samples per epoch"
                )
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    # -- one epoch --------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple]:
        """Start an epoch: the order is drawn now, so the generators advance on
        ``iter()`` even before the first batch is taken."""
        if not self.map_style:
            return self._stream_batches(self._stream_samples())
        if self._resume is not None:  # finish the epoch a mid-epoch state_dict was taken in
            (batches, start), self._resume = self._resume, None
            return self._map_batches(batches, start)
        return self._map_batches(self._index_batches())

    def _index_batches(self) -> list[np.ndarray]:
        if self.batch_sampler:
            return [np.asarray(b, dtype=np.int64) for b in self.sampler]
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        elif self.shuffle:
            order = self.rng.permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _map_batches(self, index_batches: list[np.ndarray], start: int = 0) -> Iterator[tuple]:
        epoch = self._epoch = [index_batches, start]
        for k in range(start, len(index_batches)):
            idx = index_batches[k]
            if isinstance(self.dataset, ArrayDataset):
                fields = self.dataset[idx]
            else:
                fields = collate([self.dataset[int(i)] for i in idx])
            self.batch_indices = idx
            batch = self._finish(fields)
            epoch[1] = k + 1
            yield batch
        if self._epoch is epoch:
            self._epoch = None

    def _stream_samples(self) -> Iterator[tuple]:
        samples = iter(self.dataset)
        window = getattr(self.dataset, "window", None)
        if not self.shuffle or window is None:
            return samples
        return _shuffle_buffer(samples, window, self.rng)

    def _stream_batches(self, samples: Iterator[tuple]) -> Iterator[tuple]:
        self.batch_indices = None
        batch: list[tuple] = []
        for sample in samples:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self._finish(collate(batch))
                batch = []
        if batch and not self.drop_last:
            yield self._finish(collate(batch))

    def _finish(self, fields: tuple[np.ndarray, ...]) -> tuple:
        fields = tuple(np.asarray(f) for f in fields)
        if self.transform is not None and getattr(self.transform, "takes_labels", False):
            if len(fields) < 2:
                raise ValueError(f"DataLoader: the transform {self.transform!r} mixes labels "
                                 "(a batch transform), but the dataset yields features only; "
                                 "give the dataset its labels (ArrayDataset(x, y))")
            x, y = self.transform(fields[0], fields[1])
            fields = (np.asarray(x), np.asarray(y), *fields[2:])
        elif self.transform is not None:
            fields = (np.asarray(self.transform(fields[0])), *fields[1:])
        return tuple(to_tensor(f) for f in fields)

    # -- exact resume -----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Generator states of the loader, its sampler and its transform (plain
        JSON-able data). Loading it into a loader built the same way makes the
        following batches equal to an uninterrupted run.  Taken in the middle of
        an epoch (between two batches of a map-style dataset) it also holds that
        epoch's index batches and how many were handed out, so the next
        ``iter()`` finishes the epoch instead of starting a new one.  A stream's
        position is not included: it lives in the stream's source."""
        state: dict[str, Any] = {"rng": generator_state(self.rng)}
        if self._epoch is not None and self._epoch[1] < len(self._epoch[0]):
            batches, position = self._epoch
            state["epoch"] = {"batches": [b.tolist() for b in batches], "position": position}
        if hasattr(self.sampler, "state_dict"):
            state["sampler"] = self.sampler.state_dict()
        if hasattr(self.transform, "rng_state"):
            state["transform_rng"] = self.transform.rng_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        expected = {
            "sampler": hasattr(self.sampler, "load_state_dict"),
            "transform_rng": hasattr(self.transform, "set_rng_state"),
        }
        for key, present in expected.items():
            if (key in state) != present:
                saved = "has" if key in state else "lacks"
                mine = "lacks" if key in state else "has"
                raise ValueError(
                    f"DataLoader.load_state_dict: the saved state {saved} {key!r} but this loader "
                    f"{mine} one; build the loader with the same sampler and transform as the "
                    "saved one"
                )
        epoch = state.get("epoch")
        self._resume = None if epoch is None else (
            [np.asarray(b, dtype=np.int64) for b in epoch["batches"]], int(epoch["position"]))
        self._epoch = None
        restore_generator(self.rng, state["rng"])
        if "sampler" in state:
            self.sampler.load_state_dict(state["sampler"])
        if "transform_rng" in state:
            self.transform.set_rng_state(state["transform_rng"])


def _shuffle_buffer(
    samples: Iterator[tuple], window: int, rng: np.random.Generator
) -> Iterator[tuple]:
    """Locally shuffle a stream: fill a buffer of ``window`` samples; for each
    further arrival emit a uniformly chosen buffered sample and put the arrival
    in its place; at the end emit the buffer in random order."""
    buffer: list[tuple] = []
    for sample in samples:
        if len(buffer) < window:
            buffer.append(sample)
            continue
        j = int(rng.integers(window))
        yield buffer[j]
        buffer[j] = sample
    for j in rng.permutation(len(buffer)):
        yield buffer[j]
