"""Value heads: the training loss and the decoding of the value stream's per-token outputs.

- flow (default, eqs. 5-6): y_tau = tau*y + (1-tau)*eps, the stream predicts the velocity y - eps;
  inference integrates dy/dtau = f(y, tau) from tau=0 (noise) to 1 with explicit Euler steps.
- hlgauss (appendix F, eqs. F.8-F.10): K bins c_k=(k-1)/(K-1), Gaussian soft targets with
  sigma = 1/(K-1), values within 1e-6 of 0 or 1 snapped to a one-hot, soft cross-entropy, decoded
  as the expectation over bin centres.
- scalar: plain MSE regression of the value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_interpolate(y: torch.Tensor, eps: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y, eps (B, h); tau (B,) -> (y_tau, target velocity y - eps)."""
    t = tau.view(-1, *([1] * (y.ndim - 1)))
    return t * y + (1 - t) * eps, y - eps


def flow_loss(v_pred: torch.Tensor, y: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Eq. 5: mean over tokens of ||f - (y - eps)||^2."""
    return ((v_pred - (y - eps)) ** 2).mean()


def hl_centres(K: int, device=None) -> torch.Tensor:
    return torch.linspace(0.0, 1.0, K, device=device)


def hl_targets(v: torch.Tensor, K: int, sigma: float | None = None, snap: float = 1e-6) -> torch.Tensor:
    """Eq. F.8. v (...,) in [0,1] -> (..., K) target distribution."""
    sigma = 1.0 / (K - 1) if sigma is None else sigma
    c = hl_centres(K, v.device).to(torch.float32)
    v = v.to(torch.float32)
    logits = -((v.unsqueeze(-1) - c) ** 2) / (2 * sigma**2)
    p = torch.softmax(logits, dim=-1)
    lo = F.one_hot(torch.zeros_like(v, dtype=torch.long), K).to(p.dtype)
    hi = F.one_hot(torch.full_like(v, K - 1, dtype=torch.long), K).to(p.dtype)
    p = torch.where((v <= snap).unsqueeze(-1), lo, p)
    p = torch.where((v >= 1 - snap).unsqueeze(-1), hi, p)
    return p


def hl_loss(logits: torch.Tensor, v: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Eq. F.9: token-level soft cross-entropy. logits (..., K), v (...,)."""
    p = hl_targets(v, logits.shape[-1], sigma)
    return -(p * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def hl_decode(logits: torch.Tensor) -> torch.Tensor:
    """Eq. F.10: expectation of the softmax over the bin centres."""
    c = hl_centres(logits.shape[-1], logits.device)
    return (torch.softmax(logits.float(), dim=-1) * c).sum(-1)


def scalar_loss(pred: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return ((pred.float() - v.float()) ** 2).mean()


def head_out_dim(head: str, K: int) -> int:
    return K if head == "hlgauss" else 1
