"""graphgrad.interop: PyTorch state dicts in and out, per layer, with strict errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.interop import load_torch_state_dict, torch_state_dict


def _gg_cnn():
    L = gg.layers
    return gg.Sequential(L.Conv2d(2, 3, 3, padding=1), L.BatchNorm2d(3), L.Flatten(),
                         L.Linear(3 * 4 * 4, 5))


def test_numpy_state_dict_loads_without_torch_linear_transposed():
    model = gg.Sequential(gg.layers.Linear(3, 2), gg.layers.Embedding(4, 3))
    rng = np.random.default_rng(0)
    sd = {"0.weight": rng.standard_normal((2, 3)), "0.bias": rng.standard_normal(2),
          "1.weight": rng.standard_normal((4, 3))}
    load_torch_state_dict(model, sd)
    np.testing.assert_allclose(model[0].weight.data, sd["0.weight"].T, rtol=1e-6)
    np.testing.assert_allclose(model[1].weight.data, sd["1.weight"], rtol=1e-6)
    back = torch_state_dict(model)
    assert set(back) == set(sd) and back["0.weight"].shape == (2, 3)
    np.testing.assert_allclose(back["0.weight"], sd["0.weight"], rtol=1e-6)


def test_errors_name_every_unpartnered_key_and_every_shape():
    model = gg.Sequential(gg.layers.Linear(3, 2), gg.layers.Linear(2, 2))
    sd = {"0.weight": np.zeros((2, 4)), "0.bias": np.zeros(2), "1.weight": np.zeros((2, 2)),
          "2.weight": np.zeros(1), "extra": np.zeros(1)}
    with pytest.raises(ValueError) as err:
        load_torch_state_dict(model, sd)
    text = str(err.value)
    assert "missing keys" in text and "'1.bias'" in text
    assert "unexpected keys" in text and "'2.weight'" in text and "'extra'" in text
    assert "0.weight (2, 4) -> graphgrad 0.weight needs (3, 2), got (4, 2)" in text
    before = model.state_dict()  # nothing was loaded
    with pytest.raises(ValueError):
        load_torch_state_dict(model, sd)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # strict=False loads the matching keys, but a shape mismatch is still an error
    del sd["0.weight"]
    missing, unexpected = load_torch_state_dict(model, sd, strict=False)
    assert missing == ["0.weight", "1.bias"] and unexpected == ["2.weight", "extra"]
    np.testing.assert_array_equal(model[1].weight.data, 0)


def test_a_layer_can_declare_its_own_mapping():
    class Packed(gg.Module):
        """q and k kept apart here, packed as one (2E, E) matrix in the PyTorch twin."""

        def __init__(self):
            super().__init__()
            self.q = gg.Parameter(np.zeros((2, 2)))
            self.k = gg.Parameter(np.zeros((2, 2)))

        def torch_state_mapping(self):
            return [(("in_proj",), ("q", "k"),
                     lambda w: (w[:2].T, w[2:].T),
                     lambda q, k: (np.concatenate([q.T, k.T]),))]

    model = gg.Sequential({"attn": Packed()})
    w = np.arange(8.0).reshape(4, 2)
    load_torch_state_dict(model, {"attn.in_proj": w})
    np.testing.assert_array_equal(model["attn"].q.data, w[:2].T)
    np.testing.assert_array_equal(model["attn"].k.data, w[2:].T)
    np.testing.assert_array_equal(torch_state_dict(model)["attn.in_proj"], w)


torch = pytest.importorskip("torch")


def _torch_cnn():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5))


def test_conv_batchnorm_linear_from_torch_match_and_round_trip():
    torch.manual_seed(0)
    tm = _torch_cnn().double()
    tm.train()
    tm(torch.randn(8, 2, 4, 4, dtype=torch.float64))  # non-trivial running statistics
    tm.eval()
    gm = _gg_cnn().double().eval()
    load_torch_state_dict(gm, tm.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    np.testing.assert_allclose(gm(gg.tensor(x)).data, tm(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)
    back = torch_state_dict(gm)
    assert set(back) == set(tm.state_dict())
    tm2 = _torch_cnn().double()
    tm2.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()}, strict=True)
    for k, v in tm.state_dict().items():
        assert torch.equal(tm2.state_dict()[k], v), k


def test_lstm_model_round_trip_through_torch():
    class Tagger(gg.Module):
        def __init__(self):
            super().__init__()
            self.emb = gg.layers.Embedding(10, 4)
            self.lstm = gg.layers.LSTM(4, 5, num_layers=2, bidirectional=True)
            self.out = gg.layers.Linear(10, 3)

        def forward(self, idx):
            return self.out(self.lstm(self.emb(idx))[0])

    class TorchTagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.lstm = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True)
            self.out = torch.nn.Linear(10, 3)

        def forward(self, idx):
            return self.out(self.lstm(self.emb(idx))[0])

    torch.manual_seed(0)
    tm = TorchTagger()
    gm = Tagger()
    load_torch_state_dict(gm, tm.state_dict())
    idx = np.random.default_rng(0).integers(0, 10, (2, 7))
    np.testing.assert_allclose(gm(idx).data, tm(torch.tensor(idx)).detach().numpy(), atol=1e-5)
    back = torch_state_dict(gm)
    tm2 = TorchTagger()
    tm2.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})
    for k, v in tm.state_dict().items():
        assert torch.equal(tm2.state_dict()[k], v), k


def test_tied_weights_appear_under_both_keys():
    lin = gg.layers.Linear(3, 3)
    model = gg.Sequential(lin, lin)
    sd = torch_state_dict(model)
    assert set(sd) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    t = torch.nn.Linear(3, 3)
    tied = torch.nn.Sequential(t, t)
    load_torch_state_dict(model, tied.state_dict())
    np.testing.assert_allclose(lin.weight.data, t.weight.detach().numpy().T)
