import numpy as np
import pytest

from curate.advantage_math import awr_weights, binary_weights, chunk_advantage, percentile_threshold


def test_chunk_advantage_hand_computed_at_episode_ends():
    values = np.array([0.0, 0.1, 0.3, 0.6, 1.0, 0.0, 0.5, 1.0])
    episodes = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    # H=3: tail = min(t+2, T-1) within the episode.
    expected = [0.3, 0.5, 0.7, 0.4, 0.0, 1.0, 0.5, 0.0]
    np.testing.assert_allclose(chunk_advantage(values, episodes, 3), expected, atol=1e-7)
    np.testing.assert_allclose(chunk_advantage(values, episodes, 1), 0.0)  # H=1: the chunk is one frame


def test_chunk_advantage_refuses_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        chunk_advantage(np.array([0.0, np.nan]), np.array([0, 0]), 2)
    with pytest.raises(ValueError, match="contiguous"):
        chunk_advantage(np.zeros(3), np.array([0, 1, 0]), 2)
    with pytest.raises(ValueError, match="chunk_length"):
        chunk_advantage(np.zeros(3), np.zeros(3), 0)


def test_binary_and_percentile_filters():
    delta = np.array([-0.2, 0.0, 0.05, 0.1, -0.01, 0.3, 0.2, 0.15, 0.02, 0.01])
    np.testing.assert_array_equal(binary_weights(delta), [0, 1, 1, 1, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(binary_weights(delta, kappa=0.1), [0, 0, 0, 1, 0, 1, 1, 1, 0, 0])
    # sorted: -0.2 -0.01 0 0.01 0.02 0.05 0.1 0.15 0.2 0.3; 30th percentile (linear): index 2.7 -> 0.007
    kappa = percentile_threshold(delta, keep=0.7)
    assert kappa == pytest.approx(0.0 + 0.7 * 0.01)
    assert binary_weights(delta, kappa).sum() == 7


def test_awr_hand_computed_with_clip():
    w = awr_weights(np.array([-0.1, 0.0, 0.05, 0.5, 1e4]), tau=10.0, clip=2.0)
    np.testing.assert_allclose(w, [np.exp(-1.0), 1.0, np.exp(0.5), 2.0, 2.0], rtol=1e-6)
    assert np.isfinite(w).all()
