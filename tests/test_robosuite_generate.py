"""`robosuite_eval generate`: a real LeRobot v3.0 dataset with labels, resume, and clear errors."""

import json
import shutil

import numpy as np
import pytest

from robodata.annotations import read_annotations  # noqa: E402
from robodata.dataset import open_dataset, read_episode  # noqa: E402
from robosuite_eval.cli import main  # noqa: E402
from robosuite_eval.config import GenerateConfig  # noqa: E402
from robosuite_eval.generate import RECORD_FILE, run_generate  # noqa: E402


def _states(root):
    ds = open_dataset(root)
    return np.stack([np.asarray(ds.hf_dataset[i]["observation.state"]) for i in range(len(ds.hf_dataset))])


@pytest.fixture(scope="module")
def hesitation_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "lift_hes"
    run_generate(GenerateConfig(out=out, task="lift", mode="hesitation", episodes=2, seed=0, image_size=32, workers=0))
    return out


def test_dataset_holds_labelled_episodes_in_lerobot_format(hesitation_ds):
    ds = open_dataset(hesitation_ds)
    assert ds.meta.total_episodes == 2 and ds.fps == 10
    assert set(ds.meta.video_keys) == {"observation.images.agentview", "observation.images.robot0_eye_in_hand"}
    assert ds.meta.features["observation.state"]["shape"] == (9,) and ds.meta.features["action"]["shape"] == (7,)
    rows = read_annotations(hesitation_ds)
    record = json.loads((hesitation_ds / RECORD_FILE).read_text())
    for row, info in zip(rows, record["episodes"]):
        ep = read_episode(ds, row["episode_index"], "robot0_eye_in_hand")
        assert (row["mode"], row["embodiment"], row["task"]) == ("hesitation", "RoboSuite", "lift")
        assert row["T"] == len(ep.frames) == info["T"] and (row["m"], row["n"]) == (info["m"], info["n"])
        assert ep.task == "lift the red cube" and ep.frames.shape[1:] == (32, 32, 3)
        # right way up: the wrist camera sees its own fingers at the bottom of the picture, table above
        first = ep.frames[0].astype(float).mean(axis=(1, 2))
        assert first[-4:].mean() < first[:4].mean() - 40


def test_rerun_appends_missing_episodes_and_recovers_from_a_killed_swap(hesitation_ds, tmp_path):
    out = tmp_path / "lift_hes"
    shutil.copytree(hesitation_ds, out)
    before = _states(out)
    # a run killed between the two renames of a commit: the dataset sits in .work/previous, plus junk staging
    work = tmp_path / ".lift_hes.work"
    (work / "staging").mkdir(parents=True)
    (work / "staging" / "half_episode.parquet").write_bytes(b"partial")
    out.rename(work / "previous")
    main(
        [
            "generate",
            "--out",
            str(out),
            "--task",
            "lift",
            "--mode",
            "hesitation",
            "--episodes",
            "3",
            "--image-size",
            "32",
            "--workers",
            "1",
        ]
    )
    ds = open_dataset(out)
    assert ds.meta.total_episodes == 3 and not work.exists()
    np.testing.assert_array_equal(_states(out)[: len(before)], before)  # finished episodes untouched
    assert [r["episode_index"] for r in read_annotations(out)] == [0, 1, 2]
    # a second rerun has nothing to do
    main(
        [
            "generate",
            "--out",
            str(out),
            "--task",
            "lift",
            "--mode",
            "hesitation",
            "--episodes",
            "3",
            "--image-size",
            "32",
        ]
    )
    assert open_dataset(out).meta.total_episodes == 3


@pytest.mark.parametrize(
    "args,message",
    [
        (["--task", "lift_the_moon"], "unknown task"),
        (["--episodes", "0"], "--episodes must be positive"),
        (["--mode", "retry"], "mode: dataset has 'hesitation'"),
        (["--image-size", "64"], "image_size"),
    ],
)
def test_bad_input_fails_before_any_work(hesitation_ds, tmp_path, capsys, args, message):
    out = tmp_path / "copy"
    shutil.copytree(hesitation_ds, out)
    with pytest.raises(SystemExit) as err:
        main(["generate", "--out", str(out), "--episodes", "3", "--image-size", "32", *args])
    assert err.value.code == 2 and message in capsys.readouterr().err
    assert open_dataset(out).meta.total_episodes == 2


def test_out_dir_with_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        main(["generate", "--out", str(tmp_path), "--episodes", "1"])
    assert "not a LeRobot dataset" in capsys.readouterr().err and (tmp_path / "notes.txt").read_text() == "mine"


def test_mixed_mode_pattern_and_bad_mix():
    from robosuite_eval.generate import episode_modes, parse_mix

    assert episode_modes("mixed", parse_mix("mixed", None), 4) == ["expert", "hesitation", "retry", "expert"]
    # 2:1:1: every prefix keeps the proportions as closely as whole episodes allow
    assert episode_modes("mixed", parse_mix("mixed", "2:1:1"), 8) == ["expert", "hesitation", "retry", "expert"] * 2
    assert episode_modes("mixed", parse_mix("mixed", "0:1:1"), 3) == ["hesitation", "retry", "hesitation"]
    assert episode_modes("retry", parse_mix("retry", None), 2) == ["retry", "retry"]
    for mode, mix, message in (
        ("mixed", "1:1", "three non-negative integers"),
        ("mixed", "0:0:0", "three"),
        ("mixed", "a:b:c", "three"),
        ("retry", "1:1:1", "only for --mode mixed"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_mix(mode, mix)


def test_generate_outside_make_is_quiet_and_leaves_no_empty_images_folder(tmp_path):
    """Run as a user would after `source .venv/bin/activate` (no SVT_LOG from the Makefile): no encoder chatter,
    each robosuite warning once, no nested `Map:` bars, and a dataset of videos without an empty images/."""
    import os
    import subprocess
    import sys
    from collections import Counter
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"} | {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "lift"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "robosuite_eval.cli",
            "generate",
            "--out",
            str(out),
            "--episodes",
            "1",
            "--image-size",
            "32",
            "--workers",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    text = res.stdout + res.stderr
    assert "Svt[info]" not in text
    assert "Map:" not in text
    # robosuite's own handler writes "[robosuite WARNING] msg (file:line)", the root logger "WARNING:robosuite_logs:msg"
    warnings = Counter(
        line.split("WARNING", 1)[1].replace(":robosuite_logs:", "").split(" (")[0].strip(" :]")
        for line in text.splitlines()
        if "robosuite" in line and "WARNING" in line
    )
    assert warnings and max(warnings.values()) == 1, warnings
    assert open_dataset(out).meta.total_episodes == 1 and not (out / "images").exists()
