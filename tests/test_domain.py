"""The out-of-domain warning: training records what a model learned from (camera, resolution, fps, robot,
frame statistics); `value_labeling bench`, `curate label-values` and `curate flag` print one line when a
dataset is unlike it, and nothing on the data it knows. Datasets are written by lerobot's own writer
(LeRobotDataset.create / add_frame / save_episode) or by robosuite_eval generate (the bench's data)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from value_labeling.cli import main as value_labeling
from value_labeling.domain import FLOORS, _resolution_ok, frame_features, frame_record, nearest

WRIST = "observation.images.robot0_eye_in_hand"


def write_lerobot(root, frames_of, episodes=2, T=40, size=(64, 64), fps=10, robot_type="panda", camera=WRIST):
    """A LeRobot v3.0 dataset through lerobot's own writer; frames_of(ep, t) -> (H, W, 3) uint8."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        camera: {"dtype": "video", "shape": (*size, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (1,), "names": ["x"]},
        "action": {"dtype": "float32", "shape": (1,), "names": ["dx"]},
    }
    ds = LeRobotDataset.create(f"local/{root.name}", fps=fps, features=features, root=root, robot_type=robot_type)
    for ep in range(episodes):
        for t in range(T):
            x = np.array([t / (T - 1)], np.float32)
            ds.add_frame({camera: frames_of(ep, t), "observation.state": x, "action": x, "task": "lift the cube"})
        ds.save_episode()
    ds.finalize()
    return root


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "is unlike the data" in line]


def test_features_nearest_and_threshold_by_hand():
    # Two training episodes of solid grey, 0.2 and 0.4: thumbnail 0.2 / 0.4, no contrast, no texture.
    eps = [np.full((4, 64, 64, 3), round(255 * g), np.uint8) for g in (0.2, 0.4)]
    feats = [frame_features(e) for e in eps]
    np.testing.assert_allclose(feats[0][:, :48], 0.2) and np.testing.assert_allclose(feats[0][:, 48:], 0)
    rec = frame_record(feats)
    # scale: the thumbnail's std over the 8 frames is 0.1; texture's 0, floored to 0.005.
    np.testing.assert_allclose(rec["scale"], [0.1] * 48 + [FLOORS[1]] * 6, atol=1e-5)
    # Leave one episode out: each frame's nearest other-episode frame is 0.2 away = 2 scales in each of the
    # 48 thumbnail numbers, 0 in texture: sqrt((4 + 0) / 2) = 1.414; the threshold is twice that.
    assert rec["leave_one_episode_out"]["p95"] == pytest.approx(2**0.5, rel=1e-3)
    assert rec["threshold"] == pytest.approx(2 * 2**0.5, rel=1e-3)
    # Solid 230/255 (0.902): nearest is the 0.4 episode, 5.02 scales away: sqrt((5.02^2 + 0) / 2) = 3.55.
    q = frame_features(np.full((2, 64, 64, 3), 230, np.uint8))
    np.testing.assert_allclose(nearest(q, rec), (230 / 255 - 0.4) / 0.1 / 2**0.5, rtol=1e-4)
    # Noise has no thumbnail difference from 0.5 grey to speak of, but texture far beyond the floor.
    noise = frame_features(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    assert nearest(noise, rec).min() > 10


def test_resolution_rule():
    assert _resolution_ok((64, 64), (64, 64)) and _resolution_ok((128, 128), (64, 64))  # only downscaled
    assert not _resolution_ok((32, 32), (64, 64))  # upscaled
    assert not _resolution_ok((96, 160), (64, 64))  # squashed


def test_learned_baseline_records_its_data_and_warns_only_off_it(synthetic_bench, tmp_path, capsys):
    run = tmp_path / "run"
    value_labeling(
        ["train-baseline", "--data", str(synthetic_bench), "--out", str(run), "--steps", "2", "--batch-size", "4"]
        + ["--width", "8", "--image-size", "32", "32"]
    )
    from value_labeling.models import load_value_model

    rec = load_value_model(str(run)).training_domain
    assert rec["cameras"] == ["observation.images.front"] and rec["resolutions"] == [[32, 32]]
    assert rec["fps"] == [10.0] and rec["robot_types"] == ["Synthetic"] and rec["embodiments"] == ["Synthetic"]
    assert rec["frames"]["episodes"] == 6 and rec["input_size"] == [32, 32] and rec["frames"]["threshold"] > 0
    capsys.readouterr()

    # Its own data: nothing.
    value_labeling(["bench", "--data", str(synthetic_bench), "--model", str(run), "--out", str(tmp_path / "a.json")])
    assert _warnings(capsys.readouterr().err) == []
    # Same camera name, same size, fps and robot, but noise instead of the sliding square: one line, on the frames.
    rng = np.random.default_rng(0)
    noise = write_lerobot(
        tmp_path / "noise",
        lambda ep, t: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        size=(32, 32),
        robot_type="Synthetic",
        camera="observation.images.front",
    )
    value_labeling(["bench", "--data", str(noise), "--model", str(run), "--out", str(tmp_path / "b.json")])
    (line,) = _warnings(capsys.readouterr().err)
    assert "frames unlike its training frames" in line and "value_labeling train-baseline" in line
    assert "fps" not in line.split("distance")[0] and "robot type" not in line


@pytest.fixture(scope="module")
def robosuite_bench(tmp_path_factory):
    """A v2 bench episode as bench/robosuite_bench.py makes them: robosuite_eval generate, 64x64, the wrist
    camera, seed 0."""
    from robosuite_eval.cli import main as robosuite_eval

    out = tmp_path_factory.mktemp("rs") / "lift_expert"
    robosuite_eval(["generate", "--task", "lift", "--mode", "expert", "--episodes", "1", "--seed", "0", "--image-size",
                    "64", "--generator", "v2", "--cameras", "robot0_eye_in_hand", "--workers", "0", "--out", str(out)])  # fmt: skip
    return out


def test_default_model_is_quiet_on_the_bench_and_warns_on_other_frames(robosuite_bench, tmp_path, capsys):
    from curate.cli import main as curate
    from robodata.columns import read_provenance
    from value_labeling.models.default import DEFAULT_DIR

    rec = json.loads((DEFAULT_DIR / "training_domain.json").read_text())
    assert rec["command"].startswith("python -m bench.shipped_domain") and rec["cameras"] == [WRIST]

    capsys.readouterr()
    value_labeling(["bench", "--data", str(robosuite_bench), "--model", "default", "--model", "baseline-frame"]
                   + ["--out", str(tmp_path / "rs.json")])  # fmt: skip
    assert _warnings(capsys.readouterr().err) == []  # the bench's own data: no warning

    # The training camera's name and size, lerobot-written, another scene (the synthetic sliding square).
    from testing.synthetic_bench import make_synthetic_bench

    other = make_synthetic_bench(tmp_path / "other", 1, 1, 1, size=64, embodiment="RoboSuite", camera=WRIST)
    value_labeling(["bench", "--data", str(other), "--model", "default", "--model", "baseline-temporal"]
                   + ["--out", str(tmp_path / "o.json")])  # fmt: skip
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 2 and all("frames unlike its training frames" in x for x in lines)  # one per model

    # A solid-colour video under the training camera's name: label-values says it once and records it,
    # flag repeats it from the provenance.
    solid = write_lerobot(tmp_path / "solid", lambda ep, t: np.full((64, 64, 3), (40, 120, 60), np.uint8))
    curate(["label-values", str(solid), "--address", "local"])
    (line,) = _warnings(capsys.readouterr().err)
    assert "frames unlike its training frames" in line and "value_labeling train" in line
    assert read_provenance(solid)["value"]["domain_warning"] == line
    curate(["flag", str(solid)])
    assert _warnings(capsys.readouterr().err) == [line]

    # The bench's data labelled: nothing said, nothing recorded.
    quiet = tmp_path / "quiet"
    shutil.copytree(robosuite_bench, quiet)
    curate(["label-values", str(quiet), "--address", "local"])
    curate(["flag", str(quiet)])
    assert _warnings(capsys.readouterr().err) == []
    assert read_provenance(quiet)["value"]["domain_warning"] is None


def test_resolution_fps_and_robot_differ_without_frame_stats(tmp_path, capsys):
    """A checkpoint record without frame statistics still checks what it knows; 96x160 at 30 fps on another
    robot names all three."""
    from types import SimpleNamespace

    from robodata.dataset import open_dataset
    from value_labeling.domain import domain_warning

    rec = {"cameras": [WRIST], "resolutions": [[64, 64]], "fps": [10.0], "robot_types": ["panda"]}
    model = SimpleNamespace(name="m", camera="robot0_eye_in_hand", training_domain=rec)
    ds = open_dataset(write_lerobot(tmp_path / "d", lambda e, t: np.zeros((96, 160, 3), np.uint8), 1, 10,
                                    size=(96, 160), fps=30, robot_type="so100"))  # fmt: skip
    line = domain_warning(model, ds, WRIST, "D")
    assert "96x160 frames (trained on 64x64)" in line and "30 fps (trained on 10)" in line
    assert "robot type so100 (trained on panda)" in line and "frames unlike" not in line
    # No record at all: only the training camera is known, and it matches.
    assert domain_warning(SimpleNamespace(name="m", camera="robot0_eye_in_hand"), ds, WRIST, "D") is None
    line = domain_warning(SimpleNamespace(name="m", camera="agentview"), ds, WRIST, "D")
    assert "camera robot0_eye_in_hand (trained on agentview)" in line
