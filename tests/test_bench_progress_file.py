"""`value_labeling bench --model progress:FILE`: precomputed values scored under the bench's protocol."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robodata.annotations import read_annotations
from robodata.resample import resample_indices
from value_labeling.cli import main
from value_labeling.models import load_value_model


def _progress_file(root, path, model_name="time", eval_fps=2.0):
    """What another stack would hand us: `model_name`'s predictions at the frames the bench samples,
    linearly interpolated to every native frame (as `curate label-values` does), in LeRobot's layout."""
    info = json.loads((root / "meta" / "info.json").read_text())
    model = load_value_model(model_name)
    cols = {k: [] for k in ("index", "episode_index", "frame_index", "progress_sparse")}
    start = 0
    for r in read_annotations(root):
        T = r["T"]
        idx = resample_indices(T, float(info["fps"]), eval_fps)
        pred = model.predict(np.zeros((len(idx), 4, 4, 3), np.uint8), eval_fps, "")
        cols["index"] += list(range(start, start + T))
        cols["episode_index"] += [r["episode_index"]] * T
        cols["frame_index"] += list(range(T))
        cols["progress_sparse"] += list(np.interp(np.arange(T), idx, pred))
        start += T
    table = pa.table(
        {k: pa.array(v, type=pa.float32() if k == "progress_sparse" else pa.int64()) for k, v in cols.items()}
    )
    pq.write_table(table, path)
    return table


def _scores(result, model):
    return {(t["episode_index"], t["metric"]): t["value"] for t in result["trajectories"] if t["model"] == model}


def test_progress_file_round_trip_scores_like_the_in_process_model(synthetic_bench, tmp_path):
    f = tmp_path / "other_model.parquet"
    _progress_file(synthetic_bench, f)
    out = tmp_path / "res.json"
    main(["bench", "--data", str(synthetic_bench), "--model", "time", "--model", f"progress:{f}", "--out", str(out)])
    res = json.loads(out.read_text())
    ours, theirs = _scores(res, "time"), _scores(res, "progress:other_model")
    assert len(ours) == 6 and ours.keys() == theirs.keys()
    for key in ours:
        assert theirs[key] == pytest.approx(ours[key], abs=1e-6), key
    # Reading one native frame off the sampled ones would change Hesitation-RMSE: the test can fail.
    assert any(m == "hesitation_rmse" for _, m in ours)
    assert res["models"]["progress:other_model"]["fingerprint"]


def test_sidecar_from_label_values_is_a_progress_file(dataset, tmp_path):
    from curate.cli import main as curate_main

    sidecar = tmp_path / "values.parquet"
    curate_main(["label-values", str(dataset), "--model", "time", "--address", "local", "--out", str(sidecar)])
    out = tmp_path / "res.json"
    main(["bench", "--data", str(dataset), "--model", f"progress:{sidecar}", "--out", str(out)])
    s = json.loads(out.read_text())["summary"]["progress:values"]
    # time labelled at the native rate: still rising everywhere, so the VOC floors of `time`.
    assert s["expert_voc"]["mean"]["Synthetic"] == pytest.approx(1.0)
    assert s["retry_voc"]["mean"]["Synthetic"] == pytest.approx(-1.0)


def _edit(table, fn):
    d = {k: table[k].to_numpy().copy() for k in table.column_names}
    d = fn(d)
    return pa.table({k: pa.array(v) for k, v in d.items()})


def _drop(d, mask):
    return {k: v[~mask] for k, v in d.items()}


def _set(d, ep, frame, value):
    d["progress_sparse"][(d["episode_index"] == ep) & (d["frame_index"] == frame)] = value
    return d


def _extra_frame(d, ep):
    last = np.flatnonzero(d["episode_index"] == ep)[-1]
    return {k: np.insert(v, last + 1, v[last] + (1 if k in ("index", "frame_index") else 0)) for k, v in d.items()}


@pytest.mark.parametrize(
    "name,edit,message",
    [
        (
            "missing_frame",
            lambda d: _drop(d, (d["episode_index"] == 2) & (d["frame_index"] == 7)),
            r"episode 2 has \d+ rows but \d+ frames.*frame 7 missing",
        ),
        ("long_episode", lambda d: _extra_frame(d, 3), r"episode 3 has \d+ rows but \d+ frames"),
        ("above_one", lambda d: _set(d, 1, 4, 1.5), r"episode 1 has 1 values outside \[0, 1\] \(frame 4: 1.5\)"),
        ("nan", lambda d: _set(d, 5, 0, np.nan), r"episode 5 has 1 NaN/inf values \(first at frame 0\)"),
        ("no_episode", lambda d: _drop(d, d["episode_index"] == 4), r"no rows for episode 4"),
        ("shifted_index", lambda d: {**d, "index": d["index"] + 3}, r"episode 0: frame 0 has index 3.*another dataset"),
    ],
)
def test_bad_progress_files_name_the_episode(synthetic_bench, tmp_path, capsys, name, edit, message):
    good = _progress_file(synthetic_bench, tmp_path / "good.parquet")
    f = tmp_path / f"{name}.parquet"
    pq.write_table(_edit(good, edit), f)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--data", str(synthetic_bench), "--model", f"progress:{f}", "--out", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert " bench: error: " in err and str(f) in err
    import re

    assert re.search(message, err), err


def test_one_file_per_dataset_and_column_choice(synthetic_bench, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(synthetic_bench, other)
    one = tmp_path / "one.parquet"
    table = _progress_file(synthetic_bench, one)
    with pytest.raises(ValueError, match="several datasets"):
        main(
            [
                "bench",
                "--data",
                str(synthetic_bench),
                "--data",
                str(other),
                "--model",
                f"progress:{one}",
                "--out",
                str(tmp_path / "r.json"),
                "--debug",
            ]
        )
    d = tmp_path / "per_dataset"
    d.mkdir()
    for root in (synthetic_bench, other):
        # progress_dense: a second head, chosen with #COLUMN
        pq.write_table(table.append_column("progress_dense", table["progress_sparse"]), d / f"{root.name}.parquet")
    out = tmp_path / "r.json"
    main(
        [
            "bench",
            "--data",
            str(synthetic_bench),
            "--data",
            str(other),
            "--model",
            f"progress:{d}#progress_dense",
            "--out",
            str(out),
        ]
    )
    res = json.loads(out.read_text())
    assert {t["model"] for t in res["trajectories"]} == {"progress:per_dataset#progress_dense"}
    assert len(res["trajectories"]) == 12
    with pytest.raises(ValueError, match="no column 'nope'"):
        main(["bench", "--data", str(synthetic_bench), "--model", f"progress:{one}#nope", "--out", str(out), "--debug"])
