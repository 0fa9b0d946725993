"""What a value model was trained on, and one line when it is applied to data unlike it.

A value model trained on one camera of one robot in one scene reads anything else as *something*: the
shipped default labels every frame of another scene 0.75-0.98 and a user could not tell those values
are meaningless. So training records its data (`training_domain`, stored in the checkpoint's train
config under "domain"; the shipped models, trained before this existed, carry `training_domain.json`
beside their weights, computed the same way from a regenerated subset of their training data), and
`curate label-values`, `value_labeling bench` and `curate flag` compare each dataset with it
(`domain_warning`): camera key, camera resolution, robot type / embodiment, native fps, and the frames
themselves.

Frame statistics. Each frame is summarised by 54 numbers (`frame_features`): a 4x4x3 thumbnail
(colour and layout) and per-channel contrast and texture. The record keeps those of up to 512 training
frames, spread evenly over the training episodes (base64 uint16, ~70 KB), and a scale per number (its
standard deviation over the training frames, floored). A frame's distance is the scaled RMS difference
to its nearest training frame (`nearest`): nearest, not to a mean, because the training set is several
tasks and a whole episode of viewpoints, and a new frame need only look like one of them. A dataset's
distance is the median over 8 frames of each of up to 8 evenly spaced episodes, so one odd frame or
episode does not decide. Threshold: twice the 95th percentile of the training frames' own distance to
the other training episodes (leave one episode out: what an unseen episode of the same data scores),
at least 0.25. For the shipped models (bench/shipped_domain.py writes the numbers into
`models/default_wvm/training_domain.json`) that is 0.80: held-out v2 bench episodes score 0.04-0.26,
while the other RoboSuite camera (agentview) scores 1.87, solid colours 2.0-2.2, noise 1.6, the test
suite's sliding-square scene 1.1 and training frames upside down 2.0.

Resolution: frames are resized to the model's input, so a larger frame of a training shape (e.g. 128x128
for a model trained on 64x64) is only downscaled to what the model saw and is not flagged; a frame of
another aspect ratio (squashed) or smaller than the training frames (upscaled) is. A checkpoint without
a record gets only the checks its config allows (the training camera); nothing is ever an error.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np

FORMAT = "wvm-training-domain-v1"
FILE = "training_domain.json"  # beside a checkpoint whose config predates the record
FRAMES_PER_EPISODE = 8  # frames read per checked episode
EPISODES_CHECKED = 8
MAX_TRAINING_FRAMES = 512  # frames kept in the record (spread evenly over the training episodes)
STAT_SIZE = 32  # frames -> 32x32 (texture) -> 4x4 thumbnail (8x8 block means)
THUMB = 4
FLOORS = (0.02, 0.005)  # least scale of a thumbnail entry, of a texture statistic (fractions of full scale)
FACTOR = 2.0  # threshold = FACTOR x the 95th percentile of the training frames' leave-one-episode-out distance
MIN_THRESHOLD = 0.25
ASPECT_TOLERANCE = 0.05


def frame_features(frames: np.ndarray, input_size=None) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 54) per-frame features in [0, 1]: a 4x4x3 thumbnail (colour and layout: the
    wrist camera always shows the gripper fingers in the same place) and, per channel, the pixel standard
    deviation and the mean absolute difference of neighbouring pixels (contrast and texture: a solid colour
    has none, noise far too much), all at 32x32. `input_size`: the model's input size; frames are first
    resized to it (what the model sees), so training frames (already at that size) and native frames at
    check time give the same numbers."""
    from value_labeling.frames import resize_frames

    x = np.asarray(frames)
    if input_size is not None:
        x = resize_frames(x, tuple(input_size))
    x = resize_frames(x, (STAT_SIZE, STAT_SIZE)).astype(np.float64) / 255.0  # (N, 32, 32, 3)
    b = STAT_SIZE // THUMB
    thumb = x.reshape(len(x), THUMB, b, THUMB, b, 3).mean((2, 4)).reshape(len(x), -1)  # (N, 48)
    grad = np.abs(np.diff(x, axis=1)).mean((1, 2)) + np.abs(np.diff(x, axis=2)).mean((1, 2))  # (N, 3)
    return np.concatenate([thumb, x.std((1, 2)), grad], 1)


def evenly(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64)) if n > 0 else np.zeros(0, np.int64)


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.round(np.clip(a, 0, 1) * 65535).astype("<u2").tobytes()).decode()


def _unpack(s: str, dim: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<u2").astype(np.float64).reshape(-1, dim) / 65535


def nearest(query: np.ndarray, frames_record: dict, exclude: np.ndarray | None = None) -> np.ndarray:
    """(N, 54) features -> (N,) distance of each to its nearest training frame: the root mean square of the
    scaled differences, thumbnail and texture averaged separately and then together (so the 6 texture
    numbers weigh as much as the 48 thumbnail ones). `exclude`: (N, M) mask of training frames to skip."""
    train = _unpack(frames_record["features"], query.shape[1])  # (M, 54)
    scale = np.asarray(frames_record["scale"], dtype=np.float64)
    n_thumb = THUMB * THUMB * 3
    out = []
    for s in range(0, len(query), 64):  # 64 x M x 54 at a time: a few MB
        z2 = ((query[s : s + 64, None, :] - train[None]) / scale) ** 2  # (n, M, 54)
        d = np.sqrt((z2[..., :n_thumb].mean(-1) + z2[..., n_thumb:].mean(-1)) / 2)  # (n, M)
        if exclude is not None:
            d = np.where(exclude[s : s + 64], np.inf, d)
        out.append(d.min(1))
    return np.concatenate(out) if out else np.zeros(0)


def frame_record(features: list[np.ndarray]) -> dict:
    """Per-episode (n_i, 54) training features -> the record's frame statistics: the features of up to 512
    training frames, the per-feature scale, and the threshold from their leave-one-episode-out distances."""
    k = max(1, MAX_TRAINING_FRAMES // max(1, len(features)))
    kept = [f[evenly(len(f), k)] for f in features if len(f)]
    allf = np.concatenate(kept)  # (M, 54)
    episode = np.concatenate([np.full(len(f), i) for i, f in enumerate(kept)])
    n_thumb = THUMB * THUMB * 3
    floor = np.r_[np.full(n_thumb, FLOORS[0]), np.full(allf.shape[1] - n_thumb, FLOORS[1])]
    rec = {
        "episodes": len(kept),
        "frames": int(len(allf)),
        "scale": np.maximum(allf.std(0), floor).round(5).tolist(),
        "features": _pack(allf),
    }
    rec["pixel_mean"] = allf[:, :n_thumb].reshape(len(allf), -1, 3).mean((0, 1)).round(4).tolist()  # RGB
    if len(kept) > 1:  # each training frame against the other episodes' frames
        loo = nearest(_unpack(rec["features"], allf.shape[1]), rec, episode[:, None] == episode[None, :])
        stats = {"median": float(np.median(loo)), "p95": float(np.percentile(loo, 95)), "max": float(loo.max())}
        rec["leave_one_episode_out"] = {k: round(v, 4) for k, v in stats.items()}
        rec["threshold"] = round(max(MIN_THRESHOLD, FACTOR * stats["p95"]), 4)
    else:  # one episode: nothing to calibrate on
        rec["threshold"] = 1.0
    return rec


def _dataset_facts(root: Path, camera: str | None) -> dict:
    """Camera key, native resolution, fps, robot type and annotated embodiments of one dataset."""
    from robodata.annotations import read_annotations
    from robodata.dataset import open_dataset, resolve_camera

    ds = open_dataset(root)
    cam = resolve_camera(ds, camera)
    return _facts(ds, cam, read_annotations(root))


def _facts(ds, cam: str, annotations: list[dict] | None) -> dict:
    feat = ds.meta.features[cam]
    shape, names = list(feat["shape"]), list(feat.get("names") or [])
    if "height" in names and "width" in names:
        h, w = shape[names.index("height")], shape[names.index("width")]
    else:  # lerobot's own layout: (H, W, C)
        h, w = shape[0], shape[1]
    return {
        "camera": cam,
        "resolution": [int(h), int(w)],
        "fps": float(ds.meta.fps),
        "robot_type": ds.meta.robot_type or None,
        "embodiments": sorted({r["embodiment"] for r in annotations or [] if r.get("embodiment")}),
    }


def training_domain(roots, camera: str | None, trajs, input_size) -> dict:
    """The record `value_labeling train` / `train-baseline` store: what each dataset is, and the frame
    statistics of the loaded training episodes (`trajs`: wvm/windows.EpisodeData, frames at `input_size`)."""
    facts = [_dataset_facts(Path(r), camera) for r in roots]
    k = max(FRAMES_PER_EPISODE, MAX_TRAINING_FRAMES // max(1, len(trajs)))
    feats = [frame_features(t.frames[evenly(len(t.frames), k)]) for t in trajs if len(t.frames)]
    return {"format": FORMAT, **_merge(facts), "input_size": list(input_size), "frames": frame_record(feats)}


def _merge(facts: list[dict]) -> dict:
    def uniq(xs):
        out = []
        for x in xs:
            if x is not None and x not in out:
                out.append(x)
        return out

    return {
        "cameras": uniq(f["camera"] for f in facts),
        "resolutions": uniq(f["resolution"] for f in facts),
        "fps": uniq(f["fps"] for f in facts),
        "robot_types": uniq(f["robot_type"] for f in facts),
        "embodiments": uniq(e for f in facts for e in f["embodiments"]),
    }


def model_domain(directory: Path, train_cfg: dict | None) -> dict | None:
    """A checkpoint's record: its train config's "domain", else training_domain.json beside it, else None
    (an unreadable file counts as absent: the check must never stop a labelling run)."""
    rec = (train_cfg or {}).get("domain")
    if isinstance(rec, dict):
        return rec
    f = Path(directory) / FILE
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("format") == FORMAT else None


def dataset_check(ds, camera: str, record: dict | None, trained_camera: str | None) -> dict:
    """-> {"differs": [what differs, in words], "distance": float | None}; reads up to 8 x 8 frames."""
    from robodata.annotations import read_annotations
    from robodata.dataset import episode_length, read_episode_frames

    differs: list[str] = []
    facts = _facts(ds, camera, read_annotations(ds.root))
    short = camera.split(".")[-1]
    cams = (record or {}).get("cameras") or ([trained_camera] if trained_camera else [])
    if cams and not any(short == c.split(".")[-1] for c in cams):
        differs.append(f"camera {short} (trained on {', '.join(c.split('.')[-1] for c in cams)})")
    if record is None:
        return {"differs": differs, "distance": None}
    h, w = facts["resolution"]
    res = record.get("resolutions") or []
    if res and not any(_resolution_ok((h, w), r) for r in res):
        differs.append(f"{h}x{w} frames (trained on {', '.join(f'{a}x{b}' for a, b in res)})")
    fps = record.get("fps") or []
    if fps and not any(abs(facts["fps"] - f) <= 0.01 * f for f in fps):
        differs.append(f"{facts['fps']:g} fps (trained on {', '.join(f'{f:g}' for f in fps)})")
    robots = record.get("robot_types") or []
    if robots and facts["robot_type"] and facts["robot_type"] not in robots:
        differs.append(f"robot type {facts['robot_type']} (trained on {', '.join(robots)})")
    embs = record.get("embodiments") or []
    other = [e for e in facts["embodiments"] if e not in embs]
    if embs and other:
        differs.append(f"embodiment {', '.join(other)} (trained on {', '.join(embs)})")
    dist = None
    frames_rec = record.get("frames")
    if frames_rec and ds.meta.total_episodes:
        feats = [
            frame_features(
                read_episode_frames(ds, int(ep), camera, evenly(T, FRAMES_PER_EPISODE)), record.get("input_size")
            )
            for ep in evenly(ds.meta.total_episodes, EPISODES_CHECKED)
            if (T := episode_length(ds, int(ep))) > 0
        ]
        if feats:
            q = np.concatenate(feats)
            dist, limit = float(np.median(nearest(q, frames_rec))), float(frames_rec["threshold"])
            if dist > limit:
                m = q[:, : THUMB * THUMB * 3].reshape(len(q), -1, 3).mean((0, 1))
                differs.append(
                    f"frames unlike its training frames (distance {dist:.2f} to the nearest training frame, "
                    f"in-domain below {limit:.2f}; mean RGB {'/'.join(f'{v:.2f}' for v in m)} vs "
                    f"{'/'.join(f'{v:.2f}' for v in frames_rec['pixel_mean'])})"
                )
    return {"differs": differs, "distance": dist}


def _resolution_ok(hw: tuple[int, int], trained) -> bool:
    """Same size, or larger with the same aspect ratio (only downscaled to what the model saw)."""
    (h, w), (th, tw) = hw, trained
    if (h, w) == (th, tw):
        return True
    same_aspect = abs(math.log((h / w) / (th / tw))) <= ASPECT_TOLERANCE
    return same_aspect and h >= th and w >= tw


def domain_warning(model, ds, camera: str, where: str) -> str | None:
    """One line when `model` is applied to dataset `ds` (read through `camera`) unlike its training data,
    else None. Models without a record or a training camera (the `time` reference, precomputed values,
    a user's own model) are not checked. Never raises: a failed check is reported as such, once."""
    record = getattr(model, "training_domain", None)
    trained_camera = getattr(model, "camera", None)
    if record is None and trained_camera is None:
        return None
    try:
        found = dataset_check(ds, camera, record, trained_camera)
    except Exception as err:  # noqa: BLE001 (a check must not stop a run; say it could not be made)
        return f"warning: could not compare {where} with {model.name}'s training data ({type(err).__name__}: {err})"
    if not found["differs"]:
        return None
    return (
        f"warning: {where} is unlike the data {model.name} was trained on: {'; '.join(found['differs'])}; "
        "its values here may be meaningless: train a model on your own data "
        "(`value_labeling train` or `value_labeling train-baseline`, README: Your own robot)"
    )
