"""curate on bad input and interrupted commits; the advantage column agrees with policy_ft's reader."""

import json
import os
import shutil

import numpy as np
import pytest

from curate.cli import main as curate
from robodata.columns import MARKER, commit_columns, new_tree_path, old_tree_path
from robodata.dataset import open_dataset, read_column
from value_labeling.models import register_value_model
from value_labeling.models.reference import TimeModel


class _Half(TimeModel):
    name = "test-curate-half"

    def fingerprint(self):
        return "half-v1"

    def predict(self, frames, fps, instruction):
        return np.full(len(frames), 0.5)


class _NaNOnLong(TimeModel):
    """NaN for episodes longer than 70 frames: some episodes fail, the others label fine."""

    name = "test-curate-nan"

    def fingerprint(self):
        return "nan-v1"

    def predict(self, frames, fps, instruction):
        v = super().predict(frames, fps, instruction)
        return v * np.nan if len(frames) > 70 else v


for _cls in (_Half, _NaNOnLong):
    try:
        register_value_model(_cls.name)(_cls)
    except ValueError:  # registered already (module imported twice)
        pass


def _features(root):
    return json.loads((root / "meta" / "info.json").read_text())["features"]


def test_label_completes_a_commit_cut_between_the_fallback_renames(dataset):
    # A kill between `rename(root, old)` and `rename(new, root)` leaves nothing at the dataset path;
    # the next run must finish the swap (the new tree is complete) instead of calling it "not a dataset".
    ds = open_dataset(dataset)
    new = new_tree_path(dataset)
    shutil.copytree(dataset, new)
    commit_columns(new, {"earlier": np.ones(ds.meta.total_frames, np.float32)}, {"earlier": {"model": "x"}})
    (new / MARKER).write_text("complete\n")
    shutil.rmtree(new_tree_path(new), ignore_errors=True)
    os.rename(dataset, old_tree_path(dataset))
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert not new.exists() and not old_tree_path(dataset).exists()
    feats = _features(dataset)
    assert "earlier" in feats and "value" in feats  # the completed swap, then this run's column
    np.testing.assert_array_equal(read_column(dataset, "earlier"), 1.0)


def test_different_model_needs_overwrite(dataset, capsys):
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    before = read_column(dataset, "value")
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "test-curate-half", "--address", "local"])
    err = capsys.readouterr().err
    assert "--overwrite" in err and "time" in err
    np.testing.assert_array_equal(read_column(dataset, "value"), before)
    curate(["label-values", str(dataset), "--model", "test-curate-half", "--address", "local", "--overwrite"])
    np.testing.assert_array_equal(read_column(dataset, "value"), 0.5)
    prov = json.loads((dataset / "meta" / "value_labels.json").read_text())["value"]
    assert prov["model"] == "test-curate-half" and prov["fingerprint"] == "half-v1"


def test_nan_predictions_fail_those_episodes_only(dataset, capsys):
    lengths = [int(e["length"]) for e in open_dataset(dataset).meta.episodes]
    bad = [i for i, T in enumerate(lengths) if T > 70]
    assert 0 < len(bad) < len(lengths), lengths  # the fixture has both kinds
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "test-curate-nan", "--address", "local", "--retries", "0"])
    err = capsys.readouterr().err
    assert f"{len(bad)} of {len(lengths)} episodes failed" in err and "NaN" in err
    assert "value" not in _features(dataset)
    staged = sorted(int(p.stem.split("_")[1]) for p in (dataset / ".curate_staging" / "value").glob("episode_*.npy"))
    assert staged == [i for i in range(len(lengths)) if i not in bad]


def test_v21_dataset_names_the_converter(dataset, capsys):
    info = json.loads((dataset / "meta" / "info.json").read_text())
    info["codebase_version"] = "v2.1"
    (dataset / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert "convert_dataset_v21_to_v30" in capsys.readouterr().err


def test_read_only_dataset_suggests_sidecar(dataset, tmp_path, monkeypatch, capsys):
    # Tests run as root, where chmod does not stop writes; simulate a read-only mount instead.
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, **kw: (
            False if mode == os.W_OK and str(p).startswith(str(dataset)) else real_access(p, mode, **kw)
        ),
    )
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert "--out" in capsys.readouterr().err
    out = tmp_path / "side" / "values.parquet"
    curate(["label-values", str(dataset), "--model", "time", "--address", "local", "--out", str(out)])
    assert out.is_file() and "value" not in _features(dataset)


def test_advantage_column_agrees_with_policy_ft_reader(dataset):
    from policy_ft.data import chunk_deltas

    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    curate(["advantages", str(dataset), "--chunk-length", "10"])
    written = read_column(dataset, "advantage")
    np.testing.assert_allclose(chunk_deltas(dataset, 10), written, atol=1e-7)
    np.testing.assert_allclose(chunk_deltas(dataset, 10, advantage_column="advantage"), written, atol=1e-7)
    # And the hand-computed end of episode 0: the last H-1 frames look at the final frame.
    T0 = int(open_dataset(dataset).meta.episodes[0]["length"])
    assert written[T0 - 1] == 0.0 and written[T0 - 5] == pytest.approx(4 / (T0 - 1), abs=1e-6)


def test_policy_ft_missing_column_hint_is_a_valid_command(dataset):
    from policy_ft.data import chunk_deltas

    with pytest.raises(ValueError, match=rf"`curate label-values {dataset}`"):
        chunk_deltas(dataset, 10)


def test_a_second_writer_is_refused_while_one_holds_the_dataset(dataset, capsys):
    from robodata.columns import writer_lock

    with writer_lock(dataset):
        for argv in (
            ["label-values", str(dataset), "--model", "time", "--address", "local"],
            ["advantages", str(dataset), "-H", "10"],
        ):
            with pytest.raises(SystemExit):
                curate(argv)
            assert "another curate command is writing" in capsys.readouterr().err
    assert "value" not in _features(dataset)
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])  # released: runs
    assert "value" in _features(dataset)


def test_episode_rows_groups_a_shuffled_frame_table_in_time_order():
    import time

    from robodata.dataset import episode_rows

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, size=200)
    ep = np.repeat(np.arange(200), lengths)
    fi = np.concatenate([np.arange(n) for n in lengths])
    perm = rng.permutation(len(ep))
    frames = {"index": perm.argsort(), "episode_index": ep[perm], "frame_index": fi[perm]}
    rows = episode_rows(frames)
    assert sorted(rows) == list(range(200))
    for e, r in rows.items():
        np.testing.assert_array_equal(frames["frame_index"][r], np.arange(lengths[e]))
        assert set(r) == set(np.flatnonzero(frames["episode_index"] == e))  # the per-episode mask it replaces
    # One sort for all episodes: 2M frames / 20k episodes (a mask per episode: ~4e10 comparisons).
    big = {"episode_index": np.repeat(np.arange(20_000), 100), "frame_index": np.tile(np.arange(100), 20_000)}
    t0 = time.perf_counter()
    assert len(episode_rows(big)) == 20_000
    assert time.perf_counter() - t0 < 10.0


def test_staging_directory_is_listed_once_per_run(dataset, monkeypatch):
    from curate.label_values import Staging

    calls = []
    real = Staging.done
    monkeypatch.setattr(Staging, "done", lambda self: calls.append(1) or real(self))
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert len(calls) == 1  # was once per episode: quadratic in the number of episodes


def test_flag_rule_is_linear_on_a_long_finished_tail():
    import time

    from value_labeling.segments import find_segments

    v = np.r_[np.linspace(0, 1, 100), np.ones(20_000)]  # a task done early, then a long wait
    t0 = time.perf_counter()
    assert find_segments(v, fps=10.0) == []  # waiting after success is not a stall
    assert time.perf_counter() - t0 < 5.0  # was ~2e8 Python steps (every frame rescanned the tail)
    # A real stall before the end is still found.
    w = np.r_[np.linspace(0, 0.4, 40), np.full(30, 0.4), np.linspace(0.4, 1, 40), np.ones(5000)]
    ((start, end, kind, size),) = find_segments(w, fps=10.0)
    assert kind == "stall" and abs(start - 40) <= 2 and abs(end - 69) <= 2  # the plateau, +-tolerance


def test_workers_zero_labels_in_process_without_ray(dataset, monkeypatch):
    from curate import workers

    def no_ray(*a, **k):
        raise AssertionError("--workers 0 must not start Ray")

    monkeypatch.setattr(workers, "RaySession", no_ray)
    curate(["label-values", str(dataset), "--model", "time", "--workers", "0"])
    T0 = int(open_dataset(dataset).meta.episodes[0]["length"])
    np.testing.assert_allclose(read_column(dataset, "value")[:T0], np.arange(T0) / (T0 - 1), atol=1e-6)


def test_turning_points_of_a_retreat_are_not_stalls():
    from robodata.ground_truth import progress_curve
    from value_labeling.segments import find_segments

    # A retry: forward, back 10 frames, forward. With a short minimum stall the smoothed peak and
    # valley look flat for ~0.5 s; they belong to the fall, not to a hesitation.
    curve = progress_curve("retry", 70, 21, 34)
    segs = find_segments(curve, fps=10.0, stall_seconds=0.5)
    assert [k for _, _, k, _ in segs] == ["fall"]
    ((start, end, _, drop),) = segs
    assert abs(start - 21) <= 1 and abs(end - 34) <= 1 and drop > 0.1
    # A hesitation of the same length is still a stall.
    assert [k for _, _, k, _ in find_segments(progress_curve("hesitation", 70, 21, 28), 10.0, stall_seconds=0.5)] == [
        "stall"
    ]


def test_report_writes_plots_and_hand_checkable_summary(dataset, tmp_path):
    from PIL import Image

    from robodata.annotations import read_annotations
    from robodata.ground_truth import progress_curve

    ann = read_annotations(dataset)
    gt = np.concatenate([progress_curve(a["mode"], a["T"], a["m"], a["n"]) for a in ann]).astype(np.float32)
    commit_columns(dataset, {"value": gt}, {"value": {"model": "ground-truth"}})
    out = tmp_path / "report"
    curate(["report", str(dataset), "--out", str(out), "--chunk-length", "1"])
    for name in ("value_curves.png", "advantages.png"):
        with Image.open(out / name) as im:
            assert im.size[0] > 300 and im.size[1] > 200
    s = json.loads((out / "summary.json").read_text())
    assert s["frames"] == len(gt) and s["episodes"] == len(ann)
    assert s["segments"] == {"stall": 2, "fall": 2}
    # H = 1: Delta = V(t) - V(t) = 0 for every frame, so every filter keeps everything and every AWR
    # weight is exp(0) = 1 -> equal weights, effective sample size (sum w)^2 / (N sum w^2) = 1.
    assert s["delta_mean"] == 0.0 and s["kappa_top"] == 0.0
    kept = list(s["kept"].values())
    assert kept[0] == 1.0 and kept[1] == 1.0 and kept[2] == pytest.approx(1.0)
    # H = 2 by hand from the same curves: Delta_t = V(t+1) - V(t) (0 at each episode's last frame).
    curate(["report", str(dataset), "--out", str(out), "--chunk-length", "2"])
    s = json.loads((out / "summary.json").read_text())
    eps = np.concatenate([np.full(a["T"], i) for i, a in enumerate(ann)])
    d = np.where(np.r_[eps[1:] == eps[:-1], False], np.r_[gt[1:], 0] - gt, 0.0)
    w = np.minimum(np.exp(10 * d), 2.0)
    assert list(s["kept"].values())[2] == pytest.approx(w.sum() ** 2 / (len(w) * (w**2).sum()), rel=1e-5)


def test_failed_ray_start_leaves_no_temp_dir_or_env_change(monkeypatch):
    import glob

    import ray

    from curate.workers import RaySession

    def broken_init(*a, **k):
        raise RuntimeError("simulated: the head node did not come up")

    monkeypatch.setattr(ray, "init", broken_init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # never stop a Ray another test may be using
    before = set(glob.glob("/tmp/curate-ray-*"))
    auth = os.environ.get("RAY_AUTH_MODE")
    with pytest.raises(RuntimeError, match="simulated"):
        with RaySession("auto"):
            pass
    assert set(glob.glob("/tmp/curate-ray-*")) == before
    assert os.environ.get("RAY_AUTH_MODE") == auth
