"""The three ways the Numba convolutions run -- over the whole batch (one column matrix,
one GEMM), image by image (an L2-sized column block and one GEMM per image), and
Winograd F(2×2, 3×3) for 3×3 stride-1 kernels -- agree with the NumPy reference
twin on every geometry, with and without bias, in float32 and float64, serial and
parallel.

``PER_IMAGE_PIXELS`` and ``WINOGRAD_MIN_CHANNELS`` pick the path by the output size
and the channel counts; the test forces each one.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from conv_checks import close, out_hw  # noqa: E402

from graphgrad.kernels import reference as ref  # noqa: E402
from graphgrad.kernels.numba_backend import conv as nbconv  # noqa: E402

# (N, C, H, W, Cout, kernel, stride, pads (t, b, l, r), dilation, groups)
GEOMETRIES = [
    (3, 4, 7, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 4, 9, 8, 4, (3, 2), (2, 1), (0, 0, 1, 1), (1, 2), 2),
    (2, 3, 12, 12, 5, (5, 5), (1, 1), (2, 2, 2, 2), (2, 1), 1),
    (2, 6, 5, 5, 6, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3),
    (2, 6, 5, 5, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (2, 3, 10, 9, 4, (3, 3), (2, 2), (1, 0, 1, 0), (1, 1), 1),   # negative after-pad
    (1, 2, 6, 7, 3, (2, 3), (1, 1), (0, 1, 2, 0), (2, 1), 1),    # asymmetric pads
    (2, 3, 9, 7, 2, (3, 3), (1, 1), (2, 0, 0, 1), (1, 1), 1),    # Winograd: odd sizes
    (2, 2, 8, 8, 3, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),    # Winograd: no padding
    (1, 3, 5, 6, 4, (3, 3), (1, 1), (2, 2, 2, 2), (1, 1), 1),    # Winograd: pad 2
]
PATHS = {"batched": (1 << 62, 1 << 62), "per-image": (0, 1 << 62), "winograd": (0, 1)}


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_per_image_and_batched_paths_match_the_reference(monkeypatch, dtype, geo, parallel):
    n, c, h, w_, o, k, stride, pads, dil, groups = geo
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((o, c // groups) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ho, wo = out_hw(h, w_, k, stride, pads, dil)
    g = rng.standard_normal((n, o, ho, wo)).astype(dtype)
    expected = {
        "y": ref.conv2d(x, w, b, stride, pads, dil, groups),
        "y0": ref.conv2d(x, w, None, stride, pads, dil, groups),
        "gx": ref.conv_transpose2d(g, w, stride, pads, dil, groups, (h, w_)),
        "gw": ref.conv2d_weight(x, g, stride, pads, dil, groups, k),
    }
    monkeypatch.setattr(nbconv, "PARALLEL_MIN_ELEMENTS", 0 if parallel else 1 << 62)
    for per_image, winograd in PATHS.values():
        monkeypatch.setattr(nbconv, "PER_IMAGE_PIXELS", per_image)
        monkeypatch.setattr(nbconv, "WINOGRAD_MIN_CHANNELS", winograd)
        got = {
            "y": nbconv.conv2d(x, w, b, stride, pads, dil, groups),
            "y0": nbconv.conv2d(x, w, None, stride, pads, dil, groups),
            "gx": nbconv.conv_transpose2d(g, w, stride, pads, dil, groups, (h, w_)),
            "gw": nbconv.conv2d_weight(x, g, stride, pads, dil, groups, k),
        }
        for key, value in expected.items():
            close(got[key], value, dtype)


@pytest.mark.parametrize("path", ["per-image", "winograd"])
def test_the_per_image_paths_do_not_reuse_results_as_scratch(monkeypatch, path):
    """A second call reuses the pooled scratch blocks; the first call's output is untouched."""
    per_image, winograd = PATHS[path]
    monkeypatch.setattr(nbconv, "PER_IMAGE_PIXELS", per_image)
    monkeypatch.setattr(nbconv, "WINOGRAD_MIN_CHANNELS", winograd)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    y1 = nbconv.conv2d(x, w, b, *geo)
    keep = y1.copy()
    g = nbconv.conv_transpose2d(y1, w, *geo, (20, 20))
    nbconv.conv2d(-x, w, b, *geo)
    np.testing.assert_array_equal(y1, keep)
    close(g, ref.conv_transpose2d(keep, w, *geo, (20, 20)), np.float32)
