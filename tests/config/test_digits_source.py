"""[data] source = 'digits': scikit-learn's bundled file, read without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from graphgrad.config import ConfigError
from graphgrad.config.data import load_digits

sklearn_datasets = pytest.importorskip("sklearn.datasets")


@pytest.mark.parametrize("layout", ["images", "flat"])
def test_digits_equal_scikit_learns_load_digits(layout):
    reference = sklearn_datasets.load_digits()
    x, y = load_digits(layout)
    expected = reference.images[:, None] if layout == "images" else reference.data
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    np.testing.assert_array_equal(y, reference.target)


def test_loading_the_digits_does_not_import_scikit_learn():
    code = ("import sys; from graphgrad.config.data import load_digits; "
            "x, y = load_digits('flat'); print(x.shape, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.split() == ["(1797,", "64)", "False"], out


def test_a_bad_layout_is_named():
    with pytest.raises(ConfigError, match="layout must be 'images'"):
        load_digits("nhwc")
