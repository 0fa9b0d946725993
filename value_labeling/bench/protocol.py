"""The evaluation protocol: score one prediction made on a trajectory resampled to the evaluation rate.

Paper section 5.1 / appendix D: every trajectory is downsampled (`robodata.resample`) to a common evaluation frame rate
(2 fps; 3 fps for AgileX and ARX) before the value model sees it; ground truth is the native-rate
curve evaluated at the sampled frames. The annotated segment [m, n] (native frames) becomes the set
of sampled frames whose native index lies in [m, n].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robodata.ground_truth import progress_curve
from value_labeling.bench.metrics import expert_voc, hesitation_rmse, retry_voc

METRIC_OF_MODE = {"expert": "expert_voc", "hesitation": "hesitation_rmse", "retry": "retry_voc"}


def segment_positions(indices: np.ndarray, m: int, n: int) -> tuple[int, int] | None:
    """First and last sampled position whose native index lies in [m, n]; None if none does."""
    inside = np.flatnonzero((indices >= m) & (indices <= n))
    if len(inside) == 0:
        return None
    return int(inside[0]), int(inside[-1])


@dataclass(frozen=True)
class TrajectoryScore:
    metric: str  # "expert_voc" | "hesitation_rmse" | "retry_voc"
    value: float  # NaN when ill-defined (too few sampled frames in the segment, constant prediction)
    indices: np.ndarray  # sampled native frame indices
    gt: np.ndarray  # ground truth at the sampled frames


def score_trajectory(
    pred: np.ndarray, mode: str, T: int, indices: np.ndarray, m: int | None, n: int | None
) -> TrajectoryScore:
    """Score a prediction made on the sampled frames `indices` of a trajectory of T native frames."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != indices.shape:
        raise ValueError(f"model returned {pred.shape[0] if pred.ndim else 0} values for {len(indices)} frames")
    gt = progress_curve(mode, T, m, n)[indices]
    metric = METRIC_OF_MODE[mode]
    if mode == "expert":
        return TrajectoryScore(metric, expert_voc(pred), indices, gt)
    seg = segment_positions(indices, m, n)
    if seg is None:
        return TrajectoryScore(metric, float("nan"), indices, gt)
    a, b = seg
    value = hesitation_rmse(pred, gt, a, b) if mode == "hesitation" else retry_voc(pred, gt, a, b)
    return TrajectoryScore(metric, value, indices, gt)
