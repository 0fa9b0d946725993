import numpy as np
import pytest

from robodata.ground_truth import control_values, progress_curve


def test_expert_is_linear_in_time():
    np.testing.assert_allclose(progress_curve("expert", 5), [0, 0.25, 0.5, 0.75, 1.0])


def test_hesitation_plateau_hand_computed():
    # T=11, m=3, n=6: x=3, v_m = v_n = 3 / (11 - 1 - 3) = 3/7.
    v = progress_curve("hesitation", 11, 3, 6)
    assert control_values("hesitation", 11, 3, 6) == (3 / 7, 3 / 7)
    np.testing.assert_allclose(v[3:7], 3 / 7)
    np.testing.assert_allclose(v[:4], np.arange(4) / 7)  # slope 1/(T-1-x) before the plateau
    np.testing.assert_allclose(v[6:], 3 / 7 + np.arange(5) / 7)  # same slope after it
    assert v[0] == 0 and v[-1] == 1


def test_retry_v_shape_hand_computed():
    # T=20, m=6, n=9: x=3, T-2x=14, v_m = 6/14, v_n = 3/14.
    v = progress_curve("retry", 20, 6, 9)
    np.testing.assert_allclose([v[6], v[9]], [6 / 14, 3 / 14])
    np.testing.assert_allclose(v[6:10], [6 / 14, 5 / 14, 4 / 14, 3 / 14])  # backwards at the forward rate
    np.testing.assert_allclose(np.diff(v[:7]), 1 / 14)
    assert v[0] == 0 and v[-1] == 1


def test_retry_long_retraction_clamps_to_zero():
    # n > 2m: m=3, n=8, x=5, T=20 -> (m - x)/(T-2x) < 0 is clamped to 0.
    v = progress_curve("retry", 20, 3, 8)
    assert control_values("retry", 20, 3, 8) == (3 / 10, 0.0)
    assert v[8] == 0.0 and v.min() == 0.0
    np.testing.assert_allclose(v[3:9], np.linspace(0.3, 0.0, 6))
    assert v[0] == 0 and v[-1] == 1


@pytest.mark.parametrize("mode,T,m,n", [("hesitation", 30, 5, 12), ("retry", 40, 10, 16), ("expert", 7, None, None)])
def test_every_curve_starts_at_0_and_ends_at_1(mode, T, m, n):
    v = progress_curve(mode, T, m, n)
    assert v.shape == (T,) and v[0] == 0.0 and v[-1] == 1.0 and v.min() >= 0 and v.max() <= 1


@pytest.mark.parametrize(
    "mode,T,m,n",
    [
        ("hesitation", 10, 0, 4),
        ("hesitation", 10, 4, 4),
        ("retry", 10, 3, 9),
        ("retry", 10, 5, 3),
        ("hesitation", 10, None, 4),
        ("dance", 10, 2, 4),
    ],
)
def test_invalid_annotations_name_the_values(mode, T, m, n):
    with pytest.raises(ValueError) as err:
        progress_curve(mode, T, m, n)
    assert f"T={T}" in str(err.value) and f"m={m}" in str(err.value) and f"n={n}" in str(err.value)
