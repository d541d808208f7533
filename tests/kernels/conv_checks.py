"""What the convolution-path tests share: tolerances, the output size, the comparison."""

from __future__ import annotations

import numpy as np

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def out_hw(h, w_, k, stride, pads, dil):
    """(Ho, Wo) of a convolution, written out from the definition (not the kernels' helper)."""
    return ((h + pads[0] + pads[1] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1,
            (w_ + pads[2] + pads[3] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1)


def close(a, b, dtype):
    """a equals b in shape and dtype, and in value to TOL[dtype] (relative to b's scale)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * max(np.abs(b).max(), 1))
