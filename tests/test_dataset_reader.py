import numpy as np
import pytest

from robodata.dataset import DatasetError, open_dataset, read_episode, read_episode_frames, resolve_camera


def test_image_feature_dataset_round_trip(tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    feats = {
        "observation.images.cam": {"dtype": "image", "shape": (16, 16, 3), "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (1,), "names": ["a"]},
    }
    ds = LeRobotDataset.create("local/img", fps=10, features=feats, root=tmp_path / "img", use_videos=False)
    frames = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    for f in frames:
        ds.add_frame({"observation.images.cam": f, "action": np.zeros(1, np.float32), "task": "t"})
    ds.save_episode()
    ds.finalize()
    ds = open_dataset(tmp_path / "img")
    out = read_episode_frames(ds, 0, resolve_camera(ds, "cam"), np.array([0, 3]))
    np.testing.assert_array_equal(out, frames[[0, 3]])  # PNG images are lossless


def test_video_frames_decode_close_to_what_was_written(synthetic_bench):
    from robodata.ground_truth import progress_curve
    from testing.synthetic_bench import render_frame

    ds = open_dataset(synthetic_bench)
    ep = read_episode(ds, 0)
    assert ep.frames.dtype == np.uint8 and ep.frames.shape[1:] == (32, 32, 3) and ep.fps == 10
    curve = progress_curve("expert", len(ep.frames))
    expected = np.stack([render_frame(p, 32) for p in curve])
    assert np.abs(ep.frames.astype(int) - expected).mean() < 12  # lossy AV1, same picture


def test_wrong_camera_lists_valid_keys(synthetic_bench):
    ds = open_dataset(synthetic_bench)
    with pytest.raises(DatasetError, match="observation.images.front"):
        resolve_camera(ds, "wrist")


def test_model_camera_is_used_unless_a_camera_is_named(tmp_path, capsys):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    img = {"dtype": "image", "shape": (8, 8, 3), "names": ["height", "width", "channels"]}
    feats = {
        "observation.images.agentview": img,
        "observation.images.wrist": img,
        "action": {"dtype": "float32", "shape": (1,), "names": ["a"]},
    }
    ds = LeRobotDataset.create("local/two", fps=10, features=feats, root=tmp_path / "two", use_videos=False)
    for _ in range(2):
        ds.add_frame(
            {
                "observation.images.agentview": np.zeros((8, 8, 3), np.uint8),
                "observation.images.wrist": np.zeros((8, 8, 3), np.uint8),
                "action": np.zeros(1, np.float32),
                "task": "t",
            }
        )
    ds.save_episode()
    ds.finalize()
    ds = open_dataset(tmp_path / "two")
    assert resolve_camera(ds, None) == "observation.images.agentview"  # no hint: the first camera
    assert resolve_camera(ds, None, "wrist") == "observation.images.wrist"  # the model's training camera
    assert resolve_camera(ds, None, "observation.images.wrist") == "observation.images.wrist"
    assert resolve_camera(ds, "agentview", "wrist") == "observation.images.agentview"  # the user's choice wins
    capsys.readouterr()
    assert resolve_camera(ds, None, "robot0_eye_in_hand") == "observation.images.agentview"
    assert "trained on camera 'robot0_eye_in_hand'" in capsys.readouterr().err  # said, not silent
