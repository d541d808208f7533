"""The ``[data]`` section of a training config: arrays, splits, transforms and loaders.

Sources: ``"digits"`` (scikit-learn's bundled 8×8 handwritten digits, 1797
images, no download; ``layout = "images"`` gives NCHW arrays (N, 1, 8, 8),
``"flat"`` gives (N, 64)) and ``"npz"`` (a ``.npz`` file at ``path``, relative
to the config file, holding ``x`` and ``y`` or ready-made splits
``x_train``/``y_train``, ``x_val``/``y_val``, ``x_test``/``y_test``).

Without ready-made splits the samples are permuted with the run's seed and the
first ``test_fraction`` become the test set, the next ``val_fraction`` the
validation set. The transforms (``gg.transforms`` registry entries, applied in
order) are fitted on the training split only and shared by all loaders; the
trainer switches them to evaluation mode (no augmentation) for validation and
testing.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphgrad.config.parts import ConfigError, build_component, check_keys, positive_int
from graphgrad.data import ArrayDataset, DataLoader, HardExampleSampler, StratifiedSampler

DATA_KEYS = ("source", "path", "layout", "val_fraction", "test_fraction", "max_samples",
             "batch_size", "eval_batch_size", "sampler", "drop_last", "transforms")
SAMPLERS = ("random", "stratified", "hard_example")


@dataclass
class DataSplits:
    """Arrays of each split, the fitted transform and the three loaders (val/test may be None)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    transform: Any
    train_loader: DataLoader
    val_loader: DataLoader | None
    test_loader: DataLoader | None


def _digits_table() -> np.ndarray:
    """scikit-learn's bundled ``digits.csv.gz`` as a (1797, 65) array (64 pixels, then the label).

    Read straight from the installed package's data folder, as
    ``sklearn.datasets.load_digits`` reads it, without importing scikit-learn
    (its import, through SciPy, takes about a second: most of a short demo's
    start-up). Falls back to ``load_digits`` if that file is not where it was.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ConfigError(
            "[data] source = 'digits' needs scikit-learn, which is not installed; install "
            "the examples extra: python -m pip install -e \".[examples]\" in a graphgrad "
            "checkout, or pip install 'graphgrad[examples]' (or just pip install scikit-learn)")
    for folder in spec.submodule_search_locations or ():
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as table:
                return np.loadtxt(table, delimiter=",")
    from sklearn.datasets import load_digits as sk_load_digits
    digits = sk_load_digits()
    return np.column_stack([digits.data, digits.target])


def load_digits(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images scaled by nothing (pixel values 0..16)."""
    if layout not in ("images", "flat"):
        raise ConfigError(f"[data] layout must be 'images' (N, 1, 8, 8) or 'flat' (N, 64), got "
                          f"{layout!r}")
    table = _digits_table()
    pixels = table[:, :-1]
    x = pixels.reshape(-1, 1, 8, 8) if layout == "images" else pixels
    return x.astype(np.float32), table[:, -1].astype(np.int64)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ConfigError(f"[data] path: no file at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:
        raise ConfigError(f"[data] path: {str(path)!r} is not a readable .npz file ({exc})") \
            from exc
    if {"x", "y"} <= set(arrays) or {"x_train", "y_train"} <= set(arrays):
        return arrays
    raise ConfigError(f"[data] path: {str(path)!r} holds {sorted(arrays)}; it needs 'x' and 'y', "
                      "or 'x_train' and 'y_train' (and optionally x_val/y_val, x_test/y_test)")


def _fraction(table: dict, key: str, default: float) -> float:
    value = table.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ConfigError(f"[data] {key} must be a number in [0, 1), got {value!r}")
    return float(value)


def _positive_int(table: dict, key: str, default: int | None) -> int | None:
    value = table.get(key, default)
    return None if value is None else positive_int("data", key, value)


def split_arrays(table: dict, base_dir: Path, seed: int) -> dict[str, np.ndarray | None]:
    """Load the source and return ``{x_train, y_train, x_val, y_val, x_test, y_test}``."""
    source = table.get("source")
    if source == "digits":
        x, y = load_digits(table.get("layout", "images"))
        arrays = {"x": x, "y": y}
    elif source == "npz":
        if "path" not in table:
            raise ConfigError("[data] source = 'npz' needs path = 'file.npz'")
        arrays = _load_npz(base_dir / str(table["path"]))
    else:
        raise ConfigError(f"[data] source must be 'digits' or 'npz', got {source!r}")
    if "x" not in arrays:
        return {k: arrays.get(k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test",
                                           "y_test")}
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y):
        raise ConfigError(f"[data] x and y have different numbers of samples: {len(x)} and "
                          f"{len(y)}")
    order = np.random.default_rng(seed).permutation(len(x))
    limit = _positive_int(table, "max_samples", None)
    order = order[:limit] if limit else order
    n_test = int(round(_fraction(table, "test_fraction", 0.2) * len(order)))
    n_val = int(round(_fraction(table, "val_fraction", 0.1) * len(order)))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    if len(train) == 0:
        raise ConfigError("[data] no training samples are left after the validation and test "
                          "splits; lower val_fraction/test_fraction or raise max_samples")

    def pick(idx):
        return (x[idx], y[idx]) if len(idx) else (None, None)

    (xv, yv), (xt, yt) = pick(val), pick(test)
    return {"x_train": x[train], "y_train": y[train], "x_val": xv, "y_val": yv,
            "x_test": xt, "y_test": yt}


def build_transform(specs, seed: int, x_train: np.ndarray):
    """``Compose`` of the ``[[data.transforms]]`` entries, fitted on ``x_train`` (or None)."""
    if not specs:
        return None
    if not isinstance(specs, list):
        raise ConfigError("[data] transforms must be a list of tables, e.g. "
                          "transforms = [{ type = 'standardize' }]")
    from graphgrad.registry import Registry

    members = [build_component("transforms", spec, f"data.transforms[{i}]",
                               defaults={"seed": seed + 10 + i})  # no fresh OS entropy
               for i, spec in enumerate(specs)]
    compose = Registry("transforms").get("compose")
    try:
        return compose(members).fit(x_train)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ConfigError(f"[data] transforms: fitting on the training data of shape "
                          f"{x_train.shape} failed: {exc}") from exc


def build_sampler(spec, y_train: np.ndarray, batch_size: int, seed: int):
    """None (the loader shuffles), a StratifiedSampler or a HardExampleSampler."""
    if spec is None or spec == "random":
        return None
    kind, options = spec, {}
    if isinstance(spec, dict):
        kind, options = spec.get("type"), {k: v for k, v in spec.items() if k != "type"}
    if kind == "stratified":
        check_keys("data.sampler", options, ("drop_last",))
        return StratifiedSampler(y_train, batch_size, seed=seed, **options)
    if kind == "hard_example":
        check_keys("data.sampler", options, ("num_samples", "floor", "cap", "power"))
        return HardExampleSampler(len(y_train), seed=seed, **options)
    raise ConfigError(f"[data] sampler must be one of {list(SAMPLERS)} (or a table with "
                      f"type = ...), got {spec!r}")


def build_data(table: dict, base_dir: Path, seed: int) -> DataSplits:
    """Everything the ``[data]`` section describes."""
    check_keys("data", table, DATA_KEYS)
    arrays = split_arrays(table, base_dir, seed)
    if arrays["x_train"] is None or arrays["y_train"] is None:
        raise ConfigError("[data] the source has no training split")
    transform = build_transform(table.get("transforms"), seed, arrays["x_train"])
    batch_size = _positive_int(table, "batch_size", 32)
    eval_batch = _positive_int(table, "eval_batch_size", 512)
    sampler = build_sampler(table.get("sampler"), arrays["y_train"], batch_size, seed + 2)
    train = DataLoader(ArrayDataset(arrays["x_train"], arrays["y_train"]), batch_size=batch_size,
                       sampler=sampler, drop_last=bool(table.get("drop_last", False)),
                       seed=seed + 1, transform=transform)

    def evaluation(x, y):
        if x is None:
            return None
        return DataLoader(ArrayDataset(x, y), batch_size=eval_batch, shuffle=False,
                          transform=transform)

    return DataSplits(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"],
                      arrays["x_test"], arrays["y_test"], transform, train,
                      evaluation(arrays["x_val"], arrays["y_val"]),
                      evaluation(arrays["x_test"], arrays["y_test"]))
