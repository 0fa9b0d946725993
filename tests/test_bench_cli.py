import json
import subprocess
import sys

import pytest

from robodata.annotations import read_annotations, write_annotations
from value_labeling.cli import main


def test_time_reference_scores(synthetic_bench, tmp_path, capsys):
    out = tmp_path / "res.json"
    main(
        [
            "bench",
            "--data",
            str(synthetic_bench),
            "--model",
            "time",
            "--out",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
        ]
    )
    printed = capsys.readouterr().out
    assert "Hesitation-RMSE" in printed and "Retry-VOC" in printed and "Expert-VOC" in printed
    res = json.loads(out.read_text())
    s = res["summary"]["time"]
    # A sanity floor: the time model rises everywhere.
    assert s["expert_voc"]["mean"]["Synthetic"] == pytest.approx(1.0)
    assert s["retry_voc"]["mean"]["Synthetic"] == pytest.approx(-1.0)
    assert 0 < s["hesitation_rmse"]["mean"]["Synthetic"] < 0.5
    assert len(res["trajectories"]) == 6
    assert len(list((tmp_path / "plots").glob("*.png"))) == 6
    assert out.with_suffix(".md").read_text().startswith("| Hesitation-RMSE")


def test_annotation_round_trip_and_validation(tmp_path):
    rows = [
        {"episode_index": 0, "mode": "retry", "m": 6, "n": 9, "T": 20, "embodiment": "RoboSuite", "task": "lift"},
        {
            "episode_index": 1,
            "mode": "expert",
            "m": None,
            "n": None,
            "T": 12,
            "embodiment": "RoboSuite",
            "task": "lift",
        },
    ]
    write_annotations(tmp_path, rows)
    assert read_annotations(tmp_path) == rows
    with pytest.raises(ValueError, match="episode 3.*T=10, m=4, n=9"):
        write_annotations(tmp_path, [{**rows[0], "episode_index": 3, "T": 10, "m": 4, "n": 9}])
    assert read_annotations(tmp_path) == rows  # a refused write leaves the old table intact


def test_cli_bad_input_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from value_labeling.cli import main; main()",
            "bench",
            "--data",
            str(tmp_path),
            "--model",
            "time",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "is not a LeRobot dataset" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_model_lists_registered_names(synthetic_bench, tmp_path):
    from value_labeling.models import load_value_model

    with pytest.raises(ValueError, match="time"):
        load_value_model("no-such-model")


def test_v21_dataset_names_the_converter(tmp_path):
    from robodata.dataset import DatasetError, check_dataset_dir

    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1"}))
    with pytest.raises(DatasetError, match="convert_dataset_v21_to_v30"):
        check_dataset_dir(tmp_path)
