"""AdamW and the Noam schedule (plugins/adamw.py) against torch 2.13 and closed forms."""

import numpy as np
import pytest
from graphgrad_plugins.adamw import AdamW, Noam

import graphgrad as gg


def _loss(ws, x):
    h = gg.tanh(x @ ws[0])
    return ((h @ ws[1]) ** 2).mean()


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2, 0.3])
def test_matches_torch_adamw_over_50_steps(amsgrad, weight_decay):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    init = [rng.standard_normal((4, 5)), rng.standard_normal((5, 2))]
    x = rng.standard_normal((8, 4))
    ws = [gg.tensor(w.copy(), requires_grad=True) for w in init]
    tws = [torch.tensor(w.copy(), requires_grad=True) for w in init]
    opt = AdamW(ws, lr=0.05, betas=(0.8, 0.99), weight_decay=weight_decay, amsgrad=amsgrad)
    topt = torch.optim.AdamW(tws, lr=0.05, betas=(0.8, 0.99), weight_decay=weight_decay,
                             amsgrad=amsgrad)
    gx, tx = gg.tensor(x), torch.tensor(x)
    for _ in range(50):
        opt.zero_grad()
        _loss(ws, gx).backward()
        opt.step()
        topt.zero_grad()
        (torch.tanh(tx @ tws[0]) @ tws[1]).pow(2).mean().backward()
        topt.step()
    for w, tw in zip(ws, tws):
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    state, tstate = opt.state[ws[0]], topt.state[tws[0]]
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        np.testing.assert_allclose(state[key], tstate[key].numpy(), rtol=1e-10, atol=1e-14)
    assert state["step"] == 50


def test_one_step_closed_form_and_defaults():
    # notes: p=1, lr=.1, wd=.5, g=2 -> p*(1-.05) - .1*sign = .85
    p = gg.tensor(np.array([1.0]), requires_grad=True)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    (2 * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.data, [0.85], rtol=1e-7)
    g = AdamW([p]).param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"], g["amsgrad"]) == (
        1e-3, (0.9, 0.999), 1e-8, 1e-2, False)


def test_registered_and_bad_arguments():
    assert gg.optimizers["adamw"] is AdamW
    assert gg.schedules["noam"] is Noam
    assert gg.layers["layer_norm"].__name__ == "LayerNorm"
    p = gg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="AdamW: betas"):
        AdamW([p], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="AdamW: weight_decay"):
        AdamW([p], weight_decay=-1)


def test_noam_closed_form_and_peak():
    p = gg.tensor(np.ones(2), requires_grad=True)
    opt = AdamW([p], lr=1.0)
    sched = Noam(opt, d_model=64, warmup_steps=10)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    s = np.arange(1, 31)
    expected = 64 ** -0.5 * np.minimum(s ** -0.5, s * 10 ** -1.5)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert int(np.argmax(lrs)) == 9
    with pytest.raises(ValueError, match="Noam: warmup_steps"):
        Noam(opt, d_model=64, warmup_steps=0)
