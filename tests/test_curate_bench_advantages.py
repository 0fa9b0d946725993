"""bench/advantages.py on a small workload: our eq. E.4 deltas equal lerobot 0.4.4 RABCWeights' deltas."""

import numpy as np

from bench import advantages


def test_synthetic_progress_has_exact_size_and_valid_values():
    values, ep = advantages.synthetic_progress(10_003, 17, seed=3)
    assert values.shape == ep.shape == (10_003,)
    assert np.all((values >= 0) & (values <= 1)) and np.all(np.diff(ep) >= 0)
    assert len(np.unique(ep)) == 17 and np.bincount(ep).min() >= 2


def test_deltas_agree_with_lerobot_rabc_weights():
    res = advantages.bench_vs_rabc(frames=6_000, episodes=12, rabc_batch=256, repeats=1)
    # RABCWeights with chunk_size = H - 1 computes progress[min(t + H - 1, end - 1)] - progress[t]: eq. E.4.
    assert res["max_abs_delta_difference"] == 0.0
    assert res["lerobot_total_seconds"] > 0 and res["ours_total_seconds"] > 0
