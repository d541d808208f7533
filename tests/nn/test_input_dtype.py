"""float64 data into a float32 model: one warning naming the first layer (issue 12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg


def _model():
    return gg.Sequential(gg.layers.Linear(3, 4, rng=0), gg.layers.ReLU(),
                         gg.layers.Linear(4, 2, rng=1))


def test_float64_input_to_a_float32_model_warns_once_naming_the_layer():
    model = _model()
    x64 = np.ones((2, 3))
    with pytest.warns(UserWarning, match=r"Sequential: float64 input to a float32 model; its "
                                         r"first layer '0' \(Linear\).*x.astype\('float32'\)"):
        out = model(gg.tensor(x64))
    assert out.dtype == np.float64  # what the warning is about: NumPy promotes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(gg.tensor(x64))  # once per model
        model(x64.astype(np.float32))
        _model()(gg.tensor(x64.astype(np.float32)))  # float32 data: no warning
        double = _model().double()
        assert double(gg.tensor(x64)).dtype == np.float64  # a float64 model: no warning
    with pytest.warns(UserWarning, match="float64 input"):
        _model()(x64)  # a plain ndarray too (a new model warns again)


def test_layers_inside_a_model_do_not_warn_again():
    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(gg.tensor(np.ones((2, 3))))
    assert len([w for w in caught if "float64 input" in str(w.message)]) == 1
