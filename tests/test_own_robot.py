"""Your own robot (README): annotate a few episodes of a non-RoboSuite LeRobot dataset, train the WVM and a
baseline on them (`--episodes annotated|expert|all`), label, flag and filter; the dataset is written by
lerobot's own writer (testing/synthetic_bench: a square sliding to a goal, robot type "MyArm")."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from robodata.annotations import read_annotations, write_annotations
from value_labeling.cli import main as value_labeling

TINY = ["--preset", "wvm-tiny", "--image-size", "32", "32", "--batch-size", "2", "--warmup-steps", "1"]


@pytest.fixture()
def my_robot(synthetic_bench, tmp_path):
    """The synthetic bench (2 expert, 2 hesitation, 2 retry) with only 3 episodes annotated, as after a few
    saves in `value_labeling annotate`: experts 0 and 1, hesitation 2 (the table the page writes)."""
    root = tmp_path / "my_robot"
    shutil.copytree(synthetic_bench, root)
    write_annotations(root, [r for r in read_annotations(root) if r["episode_index"] in (0, 1, 2)])
    return root


def test_episode_sets_select_from_the_annotation_table(my_robot, tmp_path):
    from value_labeling.wvm.windows import load_trajectories

    def sources(episodes):
        return [t.source.split(":")[1] for t in load_trajectories([my_robot], None, 2.0, (16, 16), episodes=episodes)]

    assert sources("all") == ["0", "1", "2", "3", "4", "5"]  # 3-5 unannotated: labelled as experts
    assert sources("annotated") == ["0", "1", "2"]
    assert sources("expert") == ["0", "1"]
    trajs = load_trajectories([my_robot], None, 2.0, (16, 16), episodes="annotated")
    assert np.ptp(trajs[2].values[trajs[2].values > 0]) < 1  # the hesitation's curve, not t/(T-1) ...
    assert len(np.unique(np.round(trajs[2].values, 6))) < len(trajs[2].values)  # ... it holds a plateau
    bare = tmp_path / "bare"
    shutil.copytree(my_robot, bare)
    (bare / "meta" / "suboptimal_annotations.parquet").unlink()
    with pytest.raises(ValueError, match="value_labeling annotate"):
        load_trajectories([bare], None, 2.0, (16, 16), episodes="expert")


def test_own_robot_end_to_end(my_robot, tmp_path, capsys):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from curate.cli import main as curate
    from robodata.columns import read_provenance
    from value_labeling.wvm.checkpoint import resolve

    wvm, frame = tmp_path / "my_wvm", tmp_path / "my_frame"
    value_labeling(["train", "--data", str(my_robot), "--episodes", "annotated", "--out", str(wvm), "--steps", "2"]
                   + TINY)  # fmt: skip
    meta = json.loads((resolve(wvm) / "wvm.json").read_text())
    assert meta["train"]["data"]["episodes"] == "annotated" and meta["train"]["domain"]["frames"]["episodes"] == 3
    assert meta["train"]["domain"]["robot_types"] == ["Synthetic"]
    value_labeling(["train-baseline", "--data", str(my_robot), "--episodes", "expert", "--out", str(frame)]
                   + ["--steps", "2", "--batch-size", "4", "--width", "8", "--image-size", "32", "32"])  # fmt: skip
    from value_labeling.baselines.model import resolve as resolve_baseline

    assert json.loads((resolve_baseline(frame) / "baseline.json").read_text())["train"]["data_size"]["episodes"] == 2
    capsys.readouterr()

    curate(["label-values", str(my_robot), "--model", str(wvm), "--address", "local"])
    curate(["label-values", str(my_robot), "--model", str(frame), "--column", "value_frame", "--address", "local"])
    assert "is unlike the data" not in capsys.readouterr().err  # its own data: no out-of-domain line
    prov = read_provenance(my_robot)
    assert prov["value"]["domain_warning"] is None and prov["value_frame"]["domain_warning"] is None
    curate(["flag", str(my_robot), "--out", str(tmp_path / "segments.csv")])
    assert (tmp_path / "segments.csv").is_file()
    clean = tmp_path / "clean"
    curate(["filter", str(my_robot), "--out", str(clean), "--drop-worst", "20"])
    ds = LeRobotDataset("local/clean", root=clean)
    assert 0 < ds.meta.total_episodes < 6 and "value" in ds.meta.features
