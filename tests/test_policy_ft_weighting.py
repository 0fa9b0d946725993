"""Eq. E.5 and the per-scheme weights against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from policy_ft.weighting import make_weight_table, renormalise_mean_one, weighted_bc_loss


def test_weighted_bc_loss_formula():
    losses = torch.tensor([1.0, 2.0, 4.0])
    weights = torch.tensor([0.5, 0.0, 2.0])
    expected = (0.5 * 1 + 0 * 2 + 2 * 4) / (2.5 + 1e-6)
    assert weighted_bc_loss(losses, weights).item() == pytest.approx(expected, rel=1e-7)
    # all-ones weights: the plain mean (up to eps)
    assert weighted_bc_loss(losses, torch.ones(3)).item() == pytest.approx(7 / 3, rel=1e-6)
    # all-zero weights: exactly zero loss, no NaN
    assert weighted_bc_loss(losses, torch.zeros(3)).item() == 0.0
    with pytest.raises(ValueError, match="per-sample"):
        weighted_bc_loss(torch.ones(3, 2), torch.ones(3))


def test_renormalise_mean_one():
    w = torch.tensor([1.0, 2.0, 1.0, 0.0])
    out = renormalise_mean_one(w)
    assert torch.allclose(out, torch.tensor([1.0, 2.0, 1.0, 0.0]) * 4 / 4)
    w = torch.tensor([0.5, 1.5])
    assert torch.allclose(renormalise_mean_one(w), torch.tensor([0.5, 1.5]))
    w = torch.tensor([2.0, 2.0, 1.0])
    assert torch.allclose(renormalise_mean_one(w), torch.tensor([1.2, 1.2, 0.6]))
    assert float(renormalise_mean_one(w).mean()) == pytest.approx(1.0)


DELTA = np.array([-0.2, -0.01, 0.0, 0.01, 0.03, 0.1, 0.5], dtype=np.float32)


def test_binary_weights_by_hand():
    t = make_weight_table(DELTA, "binary", kappa=0.0)
    assert t.raw.tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert t.kappa == 0.0


def test_percentile_threshold_is_over_the_training_set():
    delta = np.arange(10, dtype=np.float32) / 100  # 0.00 .. 0.09
    t = make_weight_table(delta, "percentile", keep_percent=70)
    # top 70% of 10 samples: the 7 largest (0.03..0.09) survive
    assert t.raw.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert 0.02 < t.kappa <= 0.03


def test_awr_weights_by_hand():
    t = make_weight_table(DELTA, "awr", tau=10.0, clip=2.0)
    expected = np.minimum(np.exp(10.0 * DELTA.astype(np.float64)), 2.0)
    np.testing.assert_allclose(t.raw, expected, rtol=1e-6)
    assert t.clipped.tolist() == [False, False, False, False, False, True, True]  # e^1, e^5 hit the ceiling
    w, stats = t.batch_weights(torch.tensor([0, 5, 6]))
    raw = np.array([math.exp(-2.0), 2.0, 2.0])
    np.testing.assert_allclose(w.numpy(), raw * 3 / raw.sum(), rtol=1e-6)  # renormalised to mean 1
    assert stats["weight_raw_mean"] == pytest.approx(raw.mean(), rel=1e-6)
    assert stats["weight_frac_clipped"] == pytest.approx(2 / 3)
    assert stats["weight_frac_zero"] == 0.0


def test_none_is_plain_bc():
    t = make_weight_table(DELTA, "none")
    w, stats = t.batch_weights(torch.tensor([0, 1, 2]))
    assert w.tolist() == [1.0, 1.0, 1.0] and stats["weight_frac_zero"] == 0.0


def test_all_zero_weights_refused():
    with pytest.raises(ValueError, match="weight 0"):
        make_weight_table(np.array([-0.3, -0.1], dtype=np.float32), "binary")
    with pytest.raises(ValueError, match="unknown weighting"):
        make_weight_table(DELTA, "softmax")
    with pytest.raises(ValueError, match="NaN"):
        make_weight_table(np.array([np.nan, 0.1], dtype=np.float32), "awr")


def test_zero_weight_gives_exactly_the_gradient_of_the_kept_sample():
    """Weights [1, 0]: the gradient equals that of sample 1 alone (a zero weight contributes nothing)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x, y = torch.randn(2, 5), torch.randn(2, 3)
    y[1] = 1e6  # a huge loss on the dropped sample must not leak into the gradient

    def grads(inputs, targets, weights):
        model.zero_grad()
        per_sample = ((model(inputs) - targets) ** 2).mean(dim=1)
        weighted_bc_loss(per_sample, weights).backward()
        return [p.grad.clone() for p in model.parameters()]

    both = grads(x, y, torch.tensor([1.0, 0.0]))
    alone = grads(x[:1], y[:1], torch.tensor([1.0]))
    for a, b in zip(both, alone):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
