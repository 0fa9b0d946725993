"""bench/robosuite_bench.py's segment statistics and durations: hand-computed on a small result."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.robosuite_bench import markdown, readme_rows, segment_stats
from value_labeling.bench.headline import headline


def _traj(ds, ep, mode, T, m, n, task="lift", model="time", metric=None, value=0.5):
    return {
        "dataset": ds,
        "episode_index": ep,
        "embodiment": "RoboSuite",
        "task": task,
        "mode": mode,
        "m": m,
        "n": n,
        "T": T,
        "model": model,
        "camera": "observation.images.robot0_eye_in_hand",
        "metric": metric or {"hesitation": "hesitation_rmse", "retry": "retry_voc", "expert": "expert_voc"}[mode],
        "value": value,
    }


def test_segment_stats_count_the_2fps_frames_inside_each_segment(tmp_path):
    roots = []
    for name in ("lift_hesitation", "lift_retry", "lift_expert"):
        (tmp_path / name / "meta").mkdir(parents=True)
        (tmp_path / name / "meta" / "info.json").write_text(json.dumps({"fps": 10}))
        roots.append(tmp_path / name)
    h, r, e = (str(x) for x in roots)
    # episode 0 of the hesitation set moves 5 mm per frame except inside its label [20, 40] and for 7 steps
    # (frames 100 -> 107) outside it: its longest unlabelled stillness is 0.7 s
    x = np.cumsum(np.full(200, 0.005))
    x[20:41] = x[20]
    x[100:108] = x[100]
    x[108:] -= x[108] - x[100] - 0.005
    states = np.zeros((200, 9))
    states[:, 0] = x
    (roots[0] / "data" / "chunk-000").mkdir(parents=True)
    pd.DataFrame({"episode_index": 0, "observation.state": list(states)}).to_parquet(
        roots[0] / "data" / "chunk-000" / "file-000.parquet"
    )
    trajs = [
        # 2 fps samples of a 10 fps trajectory: frames 0, 5, 10, ...
        _traj(h, 0, "hesitation", 200, 20, 40),  # 20, 25, 30, 35, 40: 5 scored, 2.0 s
        _traj(h, 1, "hesitation", 160, 21, 60),  # 25 .. 60: 8 scored, 3.9 s
        _traj(h, 1, "hesitation", 160, 21, 60, model="default", value=0.1),  # a second model: counted once
        _traj(r, 0, "retry", 180, 31, 46),  # 35, 40, 45: 3 scored, 1.5 s
        _traj(e, 0, "expert", 100, None, None),
    ]
    result = {"config": {"eval_fps": 2.0}, "trajectories": trajs}
    seg, dur = segment_stats(result, roots)
    assert seg["hesitation"] == {
        "n": 2,
        "mean_T_seconds": pytest.approx(18.0),
        "median_scored_frames": 6.5,
        "min_scored_frames": 5,
        "mean_segment_seconds": pytest.approx(2.95),
        "min_segment_seconds": pytest.approx(2.0),
        "longest_unlabelled_still_seconds": {"max": pytest.approx(0.7), "median": pytest.approx(0.7)},
    }
    assert seg["retry"]["median_scored_frames"] == 3 and seg["retry"]["mean_segment_seconds"] == pytest.approx(1.5)
    assert seg["expert"] == {"n": 1, "mean_T_seconds": 10.0, "median_scored_frames": None, "mean_segment_seconds": None}
    # hesitation + retry durations beside Table B.3's lift: 14.0 min / 50 = 16.8 s
    assert dur["lift"]["n"] == 3 and dur["lift"]["mean_T_seconds"] == pytest.approx((20 + 16 + 18) / 3)
    assert dur["lift"]["table_b3_seconds"] == pytest.approx(16.8)
    assert dur["lift"]["ratio"] == pytest.approx(18 / 16.8)

    # the markdown and the README rows show them
    result |= {
        "models": {"time": {}},
        "summary": {"time": {}},
        "bench_sizes": {"hesitation": 2, "retry": 1, "expert": 1},
    }
    result |= {"segments": seg, "durations": dur, "generator": "v2"}
    result |= headline(trajs, None)
    md = markdown(result, result["bench_sizes"], "python -m bench.robosuite_bench")
    assert "| hesitation | 2 | 18.0 | 2.95 | 2.00 | 6.5 | 5 | 0.7 / 0.7 |" in md
    assert "| lift | 3 | 18.0 | 16.8 | 1.07 |" in md and "generator v2" in md
    rows = readme_rows(result, "python -m bench.robosuite_bench")
    assert "(generator v2)" in rows and "hesitation 18.0 s with segments of 3.0 s (6.5 scored frames, median)" in rows


def test_score_cache_rescores_a_dataset_regenerated_under_the_same_name(tmp_path):
    """A bench dataset regenerated with other episodes (same name, same count) is scored again: its cached
    records belong to the old episodes."""
    import shutil

    from bench import dataset_fingerprint
    from bench.robosuite_bench import score_cached
    from testing.synthetic_bench import make_synthetic_bench

    root = tmp_path / "lift_retry"
    make_synthetic_bench(root, 1, 1, 1, seed=0)
    cache, out = tmp_path / "scores", tmp_path / "res.json"
    first = score_cached(["time"], [root], out, cache)
    fp0 = dataset_fingerprint(root)
    assert fp0 == dataset_fingerprint(root) and len(fp0) == 12
    assert [p.name for p in cache.rglob("*.json")] == [f"lift_retry_3_{fp0}.json"]
    again = score_cached(["time"], [root], out, cache)  # unchanged data: read from the cache
    assert again["trajectories"] == first["trajectories"]
    # an entry written when the same weights were scored under another spec (a checkpoint path, say) is
    # reported under this spec's name, never the other's
    (entry,) = cache.rglob("*.json")
    rec = json.loads(entry.read_text())
    rec["models"] = {"wvm:some_path": {**rec["models"]["time"], "spec": "/some/path"}}
    rec["trajectories"] = [{**t, "model": "wvm:some_path"} for t in rec["trajectories"]]
    entry.write_text(json.dumps(rec))
    renamed = score_cached(["time"], [root], out, cache)
    assert renamed["trajectories"] == first["trajectories"] and renamed["models"]["time"]["spec"] == "time"
    assert set(renamed["models"]) == {"time"}

    shutil.rmtree(root)
    make_synthetic_bench(root, 1, 1, 1, seed=1)  # other episodes, same name and count
    fp1 = dataset_fingerprint(root)
    assert fp1 != fp0
    second = score_cached(["time"], [root], out, cache)
    assert sorted(p.name for p in cache.rglob("*.json")) == sorted(
        [f"lift_retry_3_{fp0}.json", f"lift_retry_3_{fp1}.json"]
    )
    T = {r["episode_index"]: r["T"] for r in second["trajectories"]}
    ann = pd.read_parquet(root / "meta" / "suboptimal_annotations.parquet")
    assert T == dict(zip(ann["episode_index"], ann["T"]))  # the new episodes' lengths, not the old ones'


def test_below_time_check_pairs_trajectories_against_0_7_of_time():
    from bench.robosuite_bench import below_time_check

    rows = [
        _traj("d", 0, "hesitation", 50, 10, 30, model="m", value=0.05),
        _traj("d", 1, "hesitation", 50, 10, 30, model="m", value=0.10),
        _traj("d", 2, "hesitation", 50, 10, 30, model="m", value=float("nan")),  # ill-defined: not paired
        _traj("d", 0, "hesitation", 50, 10, 30, model="time", value=0.10),
        _traj("d", 1, "hesitation", 50, 10, 30, model="time", value=0.20),
        _traj("d", 2, "hesitation", 50, 10, 30, model="time", value=0.20),
    ]
    c = below_time_check(rows, "m")
    # per trajectory: 0.05 - 0.07 = -0.02 and 0.10 - 0.14 = -0.04 -> mean -0.03, met
    assert c["n_pairs"] == 2 and round(c["mean"], 6) == -0.03 and c["met"]
    assert -0.04 - 1e-9 <= c["ci95"][0] <= c["ci95"][1] <= -0.02 + 1e-9
    assert below_time_check(rows, "absent") is None
