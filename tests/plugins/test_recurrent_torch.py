"""RNN/LSTM/GRU and their cells against PyTorch 2.13, with the weights loaded through
``graphgrad.interop.load_torch_state_dict``: outputs, final states, the input gradient
and every parameter gradient, to 1e-10 in float64 and 1e-5 in float32."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.interop import load_torch_state_dict

torch = pytest.importorskip("torch")

TOL = {"float64": 1e-10, "float32": 1e-5}
TORCH_DTYPE = {"float64": torch.float64, "float32": torch.float32}


def _pair(kind, dtype, **kw):
    """(torch module, graphgrad module with the torch weights loaded)."""
    torch.manual_seed(0)
    tkw = dict(kw)
    if kind in ("RNN", "RNNCell") and "nonlinearity" in kw:
        tkw["nonlinearity"] = kw["nonlinearity"]
    tm = getattr(torch.nn, kind)(**tkw).to(TORCH_DTYPE[dtype])
    gm = getattr(gg.layers, kind)(**kw, dtype=dtype)
    load_torch_state_dict(gm, tm.state_dict())
    return tm, gm


def _close(got, want, dtype, what):
    want = want.detach().numpy() if hasattr(want, "detach") else want
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=TOL[dtype] * scale,
                               err_msg=what)


def _flat(x):
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _flat(item)]
    return [x]


def _compare(tm, gm, inputs, dtype):
    """Forward both on the same data; the loss Σ w·out over every output; compare all grads."""
    rng = np.random.default_rng(1)
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    g_in = [gg.tensor(a, requires_grad=True) for a in inputs]
    t_out, g_out = _flat(tm(*t_in)), _flat(gm(*g_in))
    assert len(t_out) == len(g_out)
    weights = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in t_out]
    for k, (t, g) in enumerate(zip(t_out, g_out, strict=True)):
        assert tuple(g.shape) == tuple(t.shape), (k, g.shape, t.shape)
        _close(g.data, t, dtype, f"output {k}")
    sum(((t * torch.tensor(w)).sum() for t, w in zip(t_out, weights, strict=True))).backward()
    sum(((g * w).sum() for g, w in zip(g_out, weights, strict=True))).backward()
    for k, (t, g) in enumerate(zip(t_in, g_in, strict=True)):
        _close(g.grad.data, t.grad, dtype, f"gradient of input {k}")
    t_params = dict(tm.named_parameters())
    g_params = dict(gm.named_parameters())
    assert sorted(t_params) == sorted(g_params)
    for name, p in g_params.items():
        _close(p.grad.data, t_params[name].grad, dtype, f"gradient of {name}")


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


SEQ_CASES = [
    dict(num_layers=1, bidirectional=False),
    dict(num_layers=2, bidirectional=False),
    dict(num_layers=1, bidirectional=True),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, bidirectional=True, bias=False),
    dict(num_layers=2, dropout=0.0, batch_first=False),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", SEQ_CASES,
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_sequence_layers_match_torch(kind, case, dtype):
    case = {"batch_first": True, **case}
    tm, gm = _pair(kind, dtype, input_size=3, hidden_size=4, **case)
    shape = (2, 5, 3) if case["batch_first"] else (5, 2, 3)
    _compare(tm, gm, [_data(shape, dtype)], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_sequence_layers_with_initial_states_match_torch(kind, dtype):
    tm, gm = _pair(kind, dtype, input_size=3, hidden_size=4, num_layers=2,
                   bidirectional=True, batch_first=True)
    x, h0, c0 = _data((2, 6, 3), dtype), _data((4, 2, 4), dtype, 2), _data((4, 2, 4), dtype, 3)
    rng = np.random.default_rng(5)
    t_x, t_h, t_c = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    g_x, g_h, g_c = (gg.tensor(a, requires_grad=True) for a in (x, h0, c0))
    t_out = _flat(tm(t_x, (t_h, t_c) if kind == "LSTM" else t_h))
    g_out = _flat(gm(g_x, (g_h, g_c) if kind == "LSTM" else g_h))
    ws = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in t_out]
    for t, g in zip(t_out, g_out, strict=True):
        _close(g.data, t, dtype, "output")
    sum((t * torch.tensor(w)).sum() for t, w in zip(t_out, ws, strict=True)).backward()
    sum((g * w).sum() for g, w in zip(g_out, ws, strict=True)).backward()
    pairs = [(g_x, t_x), (g_h, t_h)] + ([(g_c, t_c)] if kind == "LSTM" else [])
    for g, t in pairs:
        _close(g.grad.data, t.grad, dtype, "state gradient")
    tp = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        _close(p.grad.data, tp[name].grad, dtype, name)


def test_unbatched_input_and_relu_rnn_match_torch():
    tm, gm = _pair("RNN", "float64", input_size=3, hidden_size=4, nonlinearity="relu",
                   num_layers=2)
    _compare(tm, gm, [_data((5, 3), "float64")], "float64")
    tm, gm = _pair("LSTM", "float64", input_size=3, hidden_size=4, bidirectional=True)
    _compare(tm, gm, [_data((5, 3), "float64")], "float64")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch(kind, dtype):
    tm, gm = _pair(kind, dtype, input_size=3, hidden_size=4)
    x, h = _data((2, 3), dtype), _data((2, 4), dtype, 1)
    if kind == "LSTMCell":
        c = _data((2, 4), dtype, 2)
        t_in = [torch.tensor(a, requires_grad=True) for a in (x, h, c)]
        g_in = [gg.tensor(a, requires_grad=True) for a in (x, h, c)]
        t_out, g_out = tm(t_in[0], (t_in[1], t_in[2])), gm(g_in[0], (g_in[1], g_in[2]))
    else:
        t_in = [torch.tensor(a, requires_grad=True) for a in (x, h)]
        g_in = [gg.tensor(a, requires_grad=True) for a in (x, h)]
        t_out, g_out = tm(*t_in), gm(*g_in)
    t_out, g_out = _flat(t_out), _flat(g_out)
    for t, g in zip(t_out, g_out, strict=True):
        _close(g.data, t, dtype, "output")
    sum((t * (k + 1.5)).sum() for k, t in enumerate(t_out)).backward()
    sum((g * (k + 1.5)).sum() for k, g in enumerate(g_out)).backward()
    for t, g in zip(t_in, g_in, strict=True):
        _close(g.grad.data, t.grad, dtype, "input gradient")
    tp = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        _close(p.grad.data, tp[name].grad, dtype, name)


def test_cells_default_to_zero_state_and_take_unbatched_input():
    tm, gm = _pair("LSTMCell", "float64", input_size=3, hidden_size=4)
    x = _data((3,), "float64")
    (th, tc), (gh, gc) = tm(torch.tensor(x)), gm(gg.tensor(x))
    _close(gh.data, th, "float64", "h")
    _close(gc.data, tc, "float64", "c")
    tm, gm = _pair("GRUCell", "float64", input_size=3, hidden_size=4)
    _close(gm(gg.tensor(x)).data, tm(torch.tensor(x)), "float64", "h")


def test_torch_names_and_shapes():
    tm = torch.nn.LSTM(3, 4, 2, bidirectional=True)
    gm = gg.layers.LSTM(3, 4, 2, bidirectional=True)
    assert {k: tuple(v.shape) for k, v in tm.state_dict().items()} == {
        k: v.shape for k, v in gm.state_dict().items()}
    gm = gg.layers.GRUCell(3, 5, bias=False)
    assert {k: v.shape for k, v in gm.state_dict().items()} == {
        "weight_ih": (15, 3), "weight_hh": (15, 5)}


def test_dropout_between_layers_in_training_only():
    gm = gg.layers.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0, dtype="float64")
    x = gg.tensor(_data((2, 5, 3), "float64"))
    a, b = gm(x)[0].data, gm(x)[0].data
    assert not np.allclose(a, b)  # a fresh mask each call
    gm.eval()
    np.testing.assert_array_equal(gm(x)[0].data, gm(x)[0].data)
    tm = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True).double().eval()
    load_torch_state_dict(gm, tm.state_dict())
    _close(gm(x)[0].data, tm(torch.tensor(x.data))[0], "float64", "eval output")


def test_bad_input_names_the_layer_and_the_shapes():
    gm = gg.layers.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU: expected input \(N, T, I\).*input_size = 3"):
        gm(gg.tensor(np.zeros((2, 5, 4))))
    with pytest.raises(ValueError, match=r"GRU: h0 must have shape \(1, 2, 4\)"):
        gm(gg.tensor(np.zeros((2, 5, 3), np.float32)), gg.tensor(np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h0, c0\)"):
        gg.layers.LSTM(3, 4)(gg.tensor(np.zeros((2, 5, 3), np.float32)),
                             gg.tensor(np.zeros((1, 2, 4), np.float32)))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        gg.layers.RNN(3, 4, nonlinearity="sigmoid")
