"""Value-weighted behaviour cloning: per-sample weights from the chunk advantage, and the weighted loss.

Paper, appendix E: for a sample anchored at frame t with chunk length H, the advantage proxy is
    Δ = V(min(t + H - 1, T - 1)) - V(t)                                        (E.4)
and the weighted-BC objective over a batch of per-sample losses ℓ_i with weights w_i is
    L = Σ w_i ℓ_i / (Σ w_i + ε),  ε = 1e-6                                     (E.5)
with w_i = 1[Δ_i ≥ κ] (filtered BC, E.6; κ = 0 "binary", κ = the training set's 30th percentile of Δ
"percentile") or w_i = min(exp(τ Δ_i), δ) (AWR, E.7) renormalised per batch to mean 1.

The formulas for Δ and the raw weights live in `curate.advantage_math` (one implementation for the whole
toolkit); this module only turns them into a per-frame weight table for the training set and applies
E.5 per batch. A zero weight contributes exactly nothing: 0 * ℓ_i is 0 for any finite ℓ_i, and the
denominator counts only the kept samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

EPS = 1e-6
SCHEMES = ("none", "binary", "percentile", "awr")


def weighted_bc_loss(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. E.5: sum(w * l) / (sum(w) + 1e-6) over per-sample losses (B,) and weights (B,)."""
    if losses.ndim != 1 or weights.shape != losses.shape:
        raise ValueError(
            f"expected per-sample losses (B,) and weights (B,), got {tuple(losses.shape)} and {tuple(weights.shape)}"
        )
    weights = weights.to(dtype=losses.dtype, device=losses.device)
    return (weights * losses).sum() / (weights.sum() + EPS)


def renormalise_mean_one(weights: torch.Tensor) -> torch.Tensor:
    """AWR's per-batch renormalisation so that (1/B) Σ w_i = 1 (keeps the gradient scale of plain BC)."""
    total = weights.sum()
    if total <= 0:
        return weights
    return weights * (weights.numel() / total)


@dataclass(frozen=True)
class WeightTable:
    """Raw per-frame weights for a dataset, indexed by LeRobot's global frame `index`.

    raw: (N,) float32 raw weight of the sample anchored at each frame (before per-batch renormalisation)
    clipped: (N,) bool, AWR weights that hit the clip ceiling δ
    delta: (N,) float32 chunk advantage Δ (E.4)
    kappa: the threshold used by a filtered scheme (None for awr / none)
    """

    scheme: str
    raw: np.ndarray
    clipped: np.ndarray
    delta: np.ndarray
    kappa: float | None = None

    def lookup(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw weights, clipped flags) for a batch of global frame indices."""
        idx = index.detach().cpu().numpy().astype(np.int64).reshape(-1)
        return torch.from_numpy(self.raw[idx]), torch.from_numpy(self.clipped[idx])

    def batch_weights(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The weights E.5 uses for this batch, and the statistics to log."""
        raw, clipped = self.lookup(index)
        stats = {
            "weight_raw_mean": float(raw.mean()),
            "weight_frac_zero": float((raw == 0).float().mean()),
            "weight_frac_clipped": float(clipped.float().mean()),
        }
        weights = renormalise_mean_one(raw) if self.scheme == "awr" else raw
        return weights, stats

    def summary(self) -> dict[str, float | None]:
        """JSON-safe statistics (κ is null for schemes without a threshold: NaN is not JSON)."""
        return {
            "frames": int(self.raw.size),
            "kept_fraction": float((self.raw > 0).mean()),
            "raw_mean": float(self.raw.mean()),
            "clipped_fraction": float(self.clipped.mean()),
            "delta_mean": float(self.delta.mean()),
            "kappa": None if self.kappa is None else float(self.kappa),
        }


def make_weight_table(
    delta: np.ndarray,
    scheme: str,
    *,
    tau: float = 10.0,
    clip: float = 2.0,
    kappa: float = 0.0,
    keep_percent: float = 70.0,
) -> WeightTable:
    """Raw weights of every training sample from its chunk advantage Δ.

    `percentile` computes κ once over the whole training set (not per batch), as the paper does.
    Raises ValueError when the scheme keeps no sample at all (training would be a no-op).
    """
    from curate.advantage_math import awr_weights, binary_weights, percentile_threshold

    delta = np.asarray(delta, dtype=np.float32).reshape(-1)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown weighting {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if not np.all(np.isfinite(delta)):
        raise ValueError("the chunk advantage has NaN/inf entries: re-run `curate label-values` on the dataset")
    clipped = np.zeros(delta.shape, dtype=bool)
    used_kappa: float | None = None
    if scheme == "none":
        raw = np.ones_like(delta)
    elif scheme == "binary":
        used_kappa = float(kappa)
        raw = np.asarray(binary_weights(delta, kappa=used_kappa), dtype=np.float32)
    elif scheme == "percentile":
        if not 0 < keep_percent <= 100:
            raise ValueError(f"--percentile must be in (0, 100], got {keep_percent}")
        used_kappa = float(percentile_threshold(delta, keep=keep_percent / 100.0))
        raw = np.asarray(binary_weights(delta, kappa=used_kappa), dtype=np.float32)
    else:
        if tau <= 0 or clip <= 0:
            raise ValueError(f"AWR needs tau > 0 and clip > 0, got tau={tau}, clip={clip}")
        raw, clipped = awr_weights(delta, tau=tau, clip=clip, return_clipped=True)
    if not np.any(raw > 0):
        raise ValueError(
            f"weighting {scheme!r} gives every one of the {delta.size} training samples weight 0 "
            f"(kappa={used_kappa}); nothing would be learned. Check the value labels or lower the threshold."
        )
    return WeightTable(scheme=scheme, raw=raw.astype(np.float32), clipped=clipped, delta=delta, kappa=used_kappa)
