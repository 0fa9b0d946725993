"""What a newcomer met (issue 18): help texts that tell the truth, JSON that is JSON, exact interval ends,
a flag table with one quantity per column, a tiny ACT that is tiny, π0.5 smoke tests offline on RoboSuite-shaped
data, bad arguments refused before the heavy imports, and `make demo` talking from its first second."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_rollout_help_names_the_files_it_writes(capsys):
    from robosuite_eval.cli import main

    with pytest.raises(SystemExit):
        main(["rollout", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "rollout.json" in text and "trial_000.mp4" in text
    assert "results.json" not in text and "videos/" not in text


def test_train_help_shows_the_presets_defaults_not_none(capsys):
    from policy_ft.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "robosuite 5000, agilex 10000" in text  # --steps
    assert "robosuite 10, agilex 50" in text  # --chunk-length
    assert "(default: None)" not in text.split("--steps", 1)[1].split("--lr", 1)[0]


def test_wilson_interval_ends_are_exact_at_zero_and_all_successes():
    from robosuite_eval.rollout import wilson_interval

    for n in range(1, 101):  # the closed form leaves 5.55e-17 at n = 3, 6, 7, ... and 1 - 1e-16 at n = 10, ...
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
    assert 0.0 < wilson_interval(1, 3)[0]


def test_weights_summary_is_strict_json():
    from policy_ft.weighting import make_weight_table

    delta = np.linspace(-0.2, 0.3, 50).astype(np.float32)
    for scheme in ("awr", "binary", "percentile", "none"):
        summary = make_weight_table(delta, scheme).summary()
        json.dumps(summary, allow_nan=False)  # raises on NaN
    assert make_weight_table(delta, "awr").summary()["kappa"] is None
    assert make_weight_table(delta, "binary", kappa=0.0).summary()["kappa"] == 0.0


def test_git_ignores_the_default_output_folders():
    for path in ("rollouts/rollout.json", "curate_report/advantages.png"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path


def test_flag_table_keeps_frames_and_value_drops_apart(dataset, tmp_path, capsys):
    import polars as pl

    from curate.cli import main as curate
    from robodata.annotations import read_annotations
    from robodata.columns import commit_columns
    from robodata.ground_truth import progress_curve

    ann = read_annotations(dataset)
    gt = np.concatenate([progress_curve(a["mode"], a["T"], a["m"], a["n"]) for a in ann]).astype(np.float32)
    commit_columns(dataset, {"value": gt}, {"value": {"model": "ground-truth"}})
    curate(["flag", str(dataset), "--out", str(tmp_path / "flags.csv")])
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[-3:] == ["frames", "value", "drop"] and "size" not in header
    df = pl.read_csv(tmp_path / "flags.csv")
    assert set(df.columns) == {"episode_index", "mode", "start", "end", "kind", "frames", "value_drop"}
    modes = {a["episode_index"]: a["mode"] for a in ann}
    assert all(modes[e] == m for e, m in zip(df["episode_index"], df["mode"]))  # each row says its episode's mode
    assert (df["frames"] == df["end"] - df["start"] + 1).all()
    stalls, falls = df.filter(pl.col("kind") == "stall"), df.filter(pl.col("kind") == "fall")
    assert len(stalls) == 2 and len(falls) == 2
    assert stalls["value_drop"].is_null().all() and (falls["value_drop"] >= 0.05).all()


def test_tiny_act_is_tiny_and_reloads(tmp_path):
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.modeling_act import ACTPolicy

    from policy_ft.policies import make_config, policy_class

    cfg = make_config("act", chunk_length=10, size="tiny")
    cfg.input_features = {
        "observation.images.agentview": PolicyFeature(FeatureType.VISUAL, (3, 64, 64)),
        "observation.state": PolicyFeature(FeatureType.STATE, (9,)),
    }
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (7,))}
    policy = policy_class("act")(cfg)
    n_params = sum(p.numel() for p in policy.parameters())
    assert n_params < 100_000, n_params  # resnet18 alone was 11.2M
    policy.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").stat().st_size < 1_000_000
    loaded = ACTPolicy.from_pretrained(str(tmp_path))
    for k, v in policy.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    batch = {"observation.images.agentview": torch.rand(2, 3, 64, 64), "observation.state": torch.zeros(2, 9)}
    assert loaded.eval().predict_action_chunk(batch).shape == (2, 10, 7)


def _cli(args: list[str], code: str = "from policy_ft.cli import main") -> subprocess.CompletedProcess:
    """Run a CLI in a fresh interpreter and report which heavy modules it imported."""
    script = (
        f"import sys\n{code}\ntry:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "print('HEAVY', sorted(m for m in ('torch', 'lerobot', 'ray', 'robosuite') if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=300)


def test_bad_train_arguments_fail_before_torch_is_imported(tmp_path):
    bad_path = _cli(["train", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert bad_path.returncode == 2 and "HEAVY []" in bad_path.stdout
    assert bad_path.stderr.count("\n") == 1 and "is not a LeRobot dataset" in bad_path.stderr
    assert not (tmp_path / "o").exists()


def test_pi05_without_tokenizer_names_the_offline_choices_fast(tmp_path):
    from testing.synthetic_policy import make_value_dataset

    make_value_dataset(tmp_path / "ds", episodes=1, length=4, image_size=16)
    res = _cli(
        ["train", "--dataset", str(tmp_path / "ds"), "--out", str(tmp_path / "o"), "--policy", "pi05", "--size", "tiny"]
    )
    assert res.returncode == 2 and "HEAVY []" in res.stdout and res.stderr.count("\n") == 1
    assert "policy_ft make-tokenizer --out DIR" in res.stderr and "--pretrained" in res.stderr
    (tmp_path / "empty").mkdir()
    res = _cli(
        [
            "train",
            "--dataset",
            str(tmp_path / "ds"),
            "--out",
            str(tmp_path / "o"),
            "--policy",
            "pi05",
            "--size",
            "tiny",
            "--tokenizer",
            str(tmp_path / "empty"),
        ]
    )
    assert res.returncode == 2 and "holds no tokenizer.json" in res.stderr and "make-tokenizer" in res.stderr


def test_tiny_pi05_trains_offline_on_robosuite_shaped_data(tmp_path):
    """RoboSuite's 9-d state and 7-d action against the tiny variant's max dims of 8, with `make-tokenizer`."""
    from policy_ft.cli import main
    from policy_ft.config import TrainConfig
    from policy_ft.train import Trainer
    from testing.synthetic_policy import make_value_dataset

    make_value_dataset(
        tmp_path / "ds", episodes=2, length=12, image_size=16, state_dim=9, action_dim=7, task="lift the red cube"
    )
    main(["make-tokenizer", "--out", str(tmp_path / "tok"), "--dataset", str(tmp_path / "ds")])
    vocab = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["model"]["vocab"]
    assert {"red", "cube", "Task", "255"} <= set(vocab) and len(vocab) <= 1024
    trainer = Trainer(
        TrainConfig(
            dataset=tmp_path / "ds",
            out=tmp_path / "o",
            policy="pi05",
            size="tiny",
            steps=2,
            batch_size=4,
            tokenizer=tmp_path / "tok",
            chunk_length=4,
        )
    )
    assert trainer.policy_cfg.max_state_dim == 9 and trainer.policy_cfg.max_action_dim == 8
    result = trainer.run()
    assert result["steps"] == 2 and np.isfinite(result["last"]["loss"])


def test_demo_prints_progress_from_its_first_second(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(tmp_path / "demo")],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        t0 = time.perf_counter()
        first = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        second = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert first.startswith("[demo") and "RoboSuite lift" in first and str(tmp_path / "demo") in first
    assert "loading the libraries" in second
    assert elapsed < 20, elapsed  # interpreter start only: nothing heavy is imported before it


def test_readme_cites_the_paper_not_a_path_outside_the_repository():
    text = (ROOT / "README.md").read_text()
    assert "World Value Models for Robotic Manipulation" in text
    assert "shared/reference" not in text and "wvm_paper.txt" not in text
