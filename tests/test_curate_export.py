"""`curate export` read back by the consumers themselves: lerobot's RABCWeights, a static weighter's
`index, weight` table, openpi's keep-list loop; per-episode stats read back through LeRobot."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.advantage_math import chunk_advantage
from curate.cli import main
from robodata.annotations import read_annotations
from robodata.columns import commit_columns
from robodata.dataset import frame_table, read_column
from robodata.ground_truth import progress_curve


def _label(root, falling_episode=None):
    """Write the ground-truth progress (plateaus, falls) as the value column through curate's writer.
    `falling_episode` gets a value that only falls (every Δ <= 0: a filter with κ > 0 drops it all)."""
    frames = frame_table(root)
    values = np.empty(len(frames["index"]), dtype=np.float32)
    for r in read_annotations(root):
        curve = progress_curve(r["mode"], r["T"], r["m"], r["n"])
        if r["episode_index"] == falling_episode:
            curve = 1.0 - np.arange(r["T"]) / (r["T"] - 1)
        sel = frames["episode_index"] == r["episode_index"]
        values[frames["index"][sel]] = curve[frames["frame_index"][sel]]
    commit_columns(root, {"value": values}, {"value": {"model": "ground-truth"}})
    return values, frames


def _delta_by_hand(values, frames, H):
    """Eq. E.4 written out per episode: V(min(t+H-1, T-1)) - V(t)."""
    out = np.empty(len(values))
    for ep in np.unique(frames["episode_index"]):
        idx = np.sort(frames["index"][frames["episode_index"] == ep])
        T = len(idx)
        for t in range(T):
            out[idx[t]] = values[idx[min(t + H - 1, T - 1)]] - values[idx[t]]
    return out


def test_lerobot_progress_loads_in_rabcweights_with_our_deltas(dataset, tmp_path):
    import torch
    from lerobot.utils.rabc import RABCWeights

    values, frames = _label(dataset)
    out = tmp_path / "progress.parquet"
    main(["export", str(dataset), "--format", "lerobot-progress", "--out", str(out), "--dense-column", "value"])
    table = pq.read_table(out)
    assert table.column_names == ["index", "episode_index", "frame_index", "progress_sparse", "progress_dense"]
    np.testing.assert_array_equal(table["index"].to_numpy(), np.arange(len(values)))
    np.testing.assert_array_equal(table["progress_sparse"].to_numpy(), values)

    C = 10  # lerobot-train's chunk_size: RA-BC's Δ = p[min(t + C, T-1)] - p[t] is ours for H = C + 1
    rabc = RABCWeights(out, chunk_size=C, device=torch.device("cpu"))
    theirs = np.array([rabc._compute_delta(i) for i in range(len(values))])
    ours = chunk_advantage(values, frames["episode_index"], C + 1)
    np.testing.assert_allclose(theirs, ours, atol=1e-6)
    np.testing.assert_allclose(ours, _delta_by_hand(values, frames, C + 1), atol=1e-6)
    # Same C, H = C: Δ differ on every frame where the value moves in the chunk's last step.
    assert np.abs(theirs - chunk_advantage(values, frames["episode_index"], C)).max() > 1e-3
    assert (theirs < 0).any()  # the retry episodes' falls reach lerobot as negative progress

    weights, stats = rabc.compute_batch_weights({"index": torch.arange(len(values))})
    assert weights.shape == (len(values),) and stats["num_zero_weight"] == int((ours < 0).sum())
    dense = RABCWeights(out, chunk_size=C, head_mode="dense", device=torch.device("cpu"))
    assert dense._compute_delta(5) == pytest.approx(theirs[5])


@pytest.mark.parametrize("weighting", ["binary", "percentile", "awr"])
def test_weights_file_matches_the_formulas(dataset, tmp_path, weighting):
    values, frames = _label(dataset)
    out = tmp_path / f"{weighting}.parquet"
    main(
        [
            "export",
            str(dataset),
            "--format",
            "weights",
            "--out",
            str(out),
            "--weighting",
            weighting,
            "-H",
            "5",
            "--tau",
            "4",
            "--clip",
            "1.5",
            "--percentile",
            "60",
        ]
    )
    table = pq.read_table(out)
    assert table.column_names == ["index", "weight"]
    np.testing.assert_array_equal(table["index"].to_numpy(), np.arange(len(values)))
    w = table["weight"].to_numpy()
    d = _delta_by_hand(values, frames, 5)
    if weighting == "binary":
        expected = (d >= -1e-7).astype(float)  # float32 values: a plateau's Δ is 0 up to rounding
    elif weighting == "percentile":
        expected = (d >= np.quantile(d, 0.4) - 1e-7).astype(float)
        assert abs(w.mean() - 0.6) < 0.1  # ties at the threshold (plateaus) keep a few more
    else:
        expected = np.minimum(np.exp(4 * d), 1.5)
    np.testing.assert_allclose(w, expected, atol=1e-5)
    meta = json.loads(table.schema.metadata[b"wvm_export"])
    assert meta["weighting"] == weighting and meta["chunk_length"] == 5


def test_keep_ranges_read_like_openpi_and_dropped_episodes(dataset, tmp_path):
    values, frames = _label(dataset, falling_episode=1)
    out = tmp_path / "keep.json"
    main(["export", str(dataset), "--format", "keep-ranges", "--out", str(out), "-H", "5", "--kappa", "0.001"])
    filter_dict = json.loads(out.read_text())
    kept = set()
    for episode_key, ranges in filter_dict.items():  # openpi's droid_rlds_dataset loop
        for start, end in ranges:
            for t in range(start, end):
                kept.add((int(episode_key), t))
    d = _delta_by_hand(values, frames, 5)
    expected = {
        (int(e), int(f))
        for e, f, i in zip(frames["episode_index"], frames["frame_index"], frames["index"])
        if d[i] >= 0.001
    }
    assert kept == expected
    assert filter_dict["1"] == []
    assert json.loads((tmp_path / "keep.dropped_episodes.json").read_text()) == [1]
    assert not list(tmp_path.glob(".*.tmp"))  # written beside, renamed into place


def test_export_bad_input_is_one_line(dataset, tmp_path, capsys):
    tmp_path = tmp_path / "out"

    def error(*args):
        with pytest.raises(SystemExit) as exc:
            main(["export", str(dataset), *args])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        return err

    assert "curate label-values" in error("--format", "weights", "--out", str(tmp_path / "w.parquet"), "-H", "5")
    _label(dataset)
    assert "--chunk-length" in error("--format", "weights", "--out", str(tmp_path / "w.parquet"))
    assert ".json" in error("--format", "keep-ranges", "--out", str(tmp_path / "k.parquet"), "-H", "5")
    assert "binary or percentile" in error(
        "--format", "keep-ranges", "--out", str(tmp_path / "k.json"), "-H", "5", "--weighting", "awr"
    )
    assert "keeps no frame" in error(
        "--format", "weights", "--out", str(tmp_path / "w.parquet"), "-H", "5", "--weighting", "binary", "--kappa", "2"
    )
    assert not tmp_path.exists() or not list(tmp_path.iterdir())  # nothing written, not even a temp file


def test_per_episode_stats_read_back_through_lerobot(dataset, tmp_path):
    from lerobot.datasets.dataset_tools import _load_episode_with_stats, delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    _label(dataset)
    main(["advantages", str(dataset), "-H", "5"])
    ds = LeRobotDataset(repo_id="local/ds", root=dataset)
    value = np.asarray(ds.hf_dataset["value"], dtype=np.float64)
    advantage = np.asarray(ds.hf_dataset["advantage"], dtype=np.float64)
    for ep in range(ds.meta.total_episodes):
        row = _load_episode_with_stats(ds, ep)  # lerobot's own reader of meta/episodes stats
        a, b = ds.meta.episodes[ep]["dataset_from_index"], ds.meta.episodes[ep]["dataset_to_index"]
        for name, col in (("value", value), ("advantage", advantage)):
            x = col[a:b]
            assert list(row[f"stats/{name}/count"]) == [b - a]
            for stat, ref in (
                ("min", x.min()),
                ("max", x.max()),
                ("mean", x.mean()),
                ("std", x.std()),
                ("q50", np.quantile(x, 0.5)),
                ("q99", np.quantile(x, 0.99)),
            ):
                np.testing.assert_allclose(row[f"stats/{name}/{stat}"], [ref], atol=1e-6, err_msg=f"{name} {stat}")

    # LeRobot's dataset editing rebuilds meta/stats.json from these columns: the value column keeps its stats.
    edited = delete_episodes(ds, [0, 3], output_dir=tmp_path / "edited", repo_id="local/edited")
    rest = np.asarray(edited.hf_dataset["value"], dtype=np.float64)
    assert len(rest) == len(value) - ds.meta.episodes[0]["length"] - ds.meta.episodes[3]["length"]
    stats = edited.meta.stats["value"]
    np.testing.assert_allclose(stats["mean"], [rest.mean()], atol=1e-6)
    np.testing.assert_allclose(stats["std"], [rest.std()], atol=1e-6)
    np.testing.assert_allclose([stats["min"][0], stats["max"][0]], [rest.min(), rest.max()], atol=1e-6)
    assert int(stats["count"][0]) == len(rest)
    np.testing.assert_allclose(read_column(dataset, "value"), value, atol=0)
