import math

import numpy as np
import pytest

from robodata.ground_truth import progress_curve
from robodata.resample import resample_indices
from value_labeling.bench.metrics import average_ranks, expert_voc, hesitation_rmse, retry_voc, value_order_correlation
from value_labeling.bench.protocol import score_trajectory
from value_labeling.bench.tables import nanmean, summarize


def test_voc_identity_and_reversed():
    assert value_order_correlation(np.array([0.1, 0.2, 0.5, 0.9])) == pytest.approx(1.0)
    assert value_order_correlation(np.array([0.9, 0.5, 0.2, 0.1])) == pytest.approx(-1.0)


def test_average_ranks_for_ties():
    np.testing.assert_allclose(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [2.5, 0, 2.5, 1])


def test_voc_with_ties_hand_computed():
    # pred ranks [0, 1.5, 1.5, 3] vs time [0, 1, 2, 3]: centred a=[-1.5,0,0,1.5], b=[-1.5,-.5,.5,1.5]
    # rho = (2.25 + 2.25) / sqrt(4.5 * 5) = 4.5 / sqrt(22.5)
    assert value_order_correlation(np.array([0.0, 0.5, 0.5, 1.0])) == pytest.approx(4.5 / math.sqrt(22.5))


def test_voc_constant_is_nan():
    assert math.isnan(value_order_correlation(np.full(5, 0.3)))
    assert math.isnan(value_order_correlation(np.arange(4.0), np.ones(4)))
    assert math.isnan(expert_voc(np.array([0.5])))


def test_hesitation_rmse_hand_computed():
    gt = progress_curve("hesitation", 11, 3, 6)  # plateau 3/7 on frames 3..6
    pred = gt.copy()
    pred[3:7] = [3 / 7, 3 / 7 + 0.1, 3 / 7 - 0.1, 3 / 7]
    pred[0] = 0.9  # outside the window: ignored
    assert hesitation_rmse(pred, gt, 3, 6) == pytest.approx(math.sqrt(0.02 / 4))


def test_retry_voc_signs():
    gt = progress_curve("retry", 20, 6, 9)
    assert retry_voc(gt, gt, 6, 9) == pytest.approx(1.0)
    assert retry_voc(np.arange(20) / 19, gt, 6, 9) == pytest.approx(-1.0)


def test_resample_indices():
    np.testing.assert_array_equal(resample_indices(21, 10, 2), [0, 5, 10, 15, 20])
    np.testing.assert_array_equal(resample_indices(23, 10, 2), [0, 5, 10, 15, 20])
    np.testing.assert_array_equal(resample_indices(7, 15, 3), [0, 5])
    np.testing.assert_array_equal(resample_indices(4, 2, 2), [0, 1, 2, 3])


def test_segment_scored_on_sampled_frames():
    # T=41 at 10 fps, 2 fps sampling -> native frames 0,5,...,40; hesitation [12, 27] holds 15, 20, 25.
    idx = resample_indices(41, 10, 2)
    gt_native = progress_curve("hesitation", 41, 12, 27)
    pred = gt_native[idx].copy()
    pred[4] += 0.3  # native frame 20, inside the segment
    s = score_trajectory(pred, "hesitation", 41, idx, 12, 27)
    assert s.metric == "hesitation_rmse" and s.value == pytest.approx(math.sqrt(0.09 / 3))


def test_average_row_is_mean_of_embodiment_rows():
    recs = [
        {"model": "x", "metric": "hesitation_rmse", "embodiment": e, "value": v}
        for e, vals in {"AgileX": [0.06, 0.08], "ARX": [0.05], "RoboSuite": [0.04, 0.04, 0.04]}.items()
        for v in vals
    ]
    means = summarize(recs)["x"]["hesitation_rmse"]["mean"]
    assert means["AgileX"] == pytest.approx(0.07)
    assert means["Average"] == pytest.approx((0.07 + 0.05 + 0.04) / 3)  # not the mean over trajectories
    assert math.isnan(nanmean([float("nan")]))
