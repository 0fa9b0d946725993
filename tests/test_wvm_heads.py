"""Value-head losses and decoders against hand-computed values (eqs. 5, F.8-F.10)."""

import math

import pytest
import torch

from value_labeling.wvm import heads


def test_flow_interpolation_and_loss_by_hand():
    y = torch.tensor([[0.2, 0.8]])
    eps = torch.tensor([[1.0, -1.0]])
    tau = torch.tensor([0.25])
    y_tau, target = heads.flow_interpolate(y, eps, tau)
    # y_tau = tau*y + (1-tau)*eps
    assert torch.allclose(y_tau, torch.tensor([[0.25 * 0.2 + 0.75, 0.25 * 0.8 - 0.75]]))
    assert torch.allclose(target, torch.tensor([[-0.8, 1.8]]))
    v_pred = torch.tensor([[0.0, 1.0]])
    # mean((0 - -0.8)^2, (1 - 1.8)^2) = (0.64 + 0.64) / 2
    assert heads.flow_loss(v_pred, y, eps).item() == pytest.approx(0.64)
    # One Euler step with the exact velocity from tau=0 lands on y.
    y0, _ = heads.flow_interpolate(y, eps, torch.tensor([0.0]))
    assert torch.allclose(y0 + target, y)


def test_hl_targets_match_eq_f8():
    K = 51
    v = torch.tensor([0.5])
    p = heads.hl_targets(v, K)[0]
    c = torch.arange(K) / (K - 1)
    sigma = 1 / (K - 1)
    w = torch.exp(-((0.5 - c) ** 2) / (2 * sigma**2))
    assert torch.allclose(p, w / w.sum(), atol=1e-6)
    assert p.argmax().item() == 25 and p.sum().item() == pytest.approx(1.0)
    # Neighbouring bins one sigma away get exp(-1/2) of the peak.
    assert (p[24] / p[25]).item() == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_hl_endpoint_snapping():
    K = 51
    p = heads.hl_targets(torch.tensor([0.0, 1e-7, 1.0, 1 - 1e-7, 2e-6]), K)
    assert p[0, 0] == 1 and p[0, 1:].sum() == 0
    assert p[1, 0] == 1
    assert p[2, -1] == 1 and p[2, :-1].sum() == 0
    assert p[3, -1] == 1
    assert p[4, 0] < 1  # beyond the 1e-6 snap radius: a soft target


def test_hl_loss_and_decode():
    K = 5
    # Logits equal to log of the target -> loss equals the target entropy.
    v = torch.tensor([0.3])
    p = heads.hl_targets(v, K)
    logits = torch.log(p.clamp_min(1e-30))
    ent = -(p * torch.log(p.clamp_min(1e-30))).sum()
    assert heads.hl_loss(logits, v).item() == pytest.approx(ent.item(), rel=1e-4)
    # Decoding: expectation over centres [0, .25, .5, .75, 1].
    z = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.2]]))
    assert heads.hl_decode(z).item() == pytest.approx(0.2 * 0.25 + 0.3 * 0.5 + 0.2 * 0.75 + 0.2 * 1.0)
    # Uniform logits decode to 0.5; a one-hot target decodes (through its log) to its value.
    assert heads.hl_decode(torch.zeros(1, 51)).item() == pytest.approx(0.5)


def test_scalar_loss():
    assert heads.scalar_loss(torch.tensor([0.1, 0.5]), torch.tensor([0.3, 0.5])).item() == pytest.approx(0.02)
