"""The training-data record of the shipped models (default WVM, baseline-frame, baseline-temporal).

    .venv/bin/python -m bench.shipped_domain [--work /tmp/wvm_domain] [--experts 2] [--sub 1]

Their checkpoints predate `value_labeling/domain.py`, so their config has no record of what they were
trained on. All three trained on the same datasets (bench/build_default_model.py, recipe v2): RoboSuite
v2 episodes, 64x64, 10 fps, wrist camera robot0_eye_in_hand; experts at seeds 100000+, hesitation and
retry at 200000+ (episode i uses seed + i). This regenerates a small subset of exactly those episodes
(the first `--experts` expert and `--sub` hesitation and retry episodes of each task, same generator and
seeds; only the wrist camera is rendered, which does not change the simulation), computes the record
with the code `value_labeling train` runs (`domain.training_domain` over `load_trajectories`), and
writes it as `training_domain.json` into each shipped model folder, with this command at the top. It
also writes the calibration the threshold rests on: the distance of held-out v2 bench expert episodes
(seeds 0+, the bench's), of the other RoboSuite camera (agentview, one Lift episode) and of synthetic
videos (solid colour, noise, the test suite's sliding square, training frames upside down).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.default_recipe import IMAGE_SIZE, TASKS, TRAIN_SEED, TRAIN_SUB_SEED
from robodata import atomic
from testing.synthetic_bench import render_frame
from value_labeling.baselines import SHIPPED
from value_labeling.domain import evenly, frame_features, nearest, training_domain
from value_labeling.models.default import DEFAULT_DIR

CAMERA = "robot0_eye_in_hand"
ROOT = Path(__file__).resolve().parents[1]


def generate(out: Path, mode: str, episodes: int, seed: int, camera: str = CAMERA, tasks=()) -> list[Path]:
    """`robosuite_eval generate --task all` (or the `tasks`) as the build ran it (v2, 64x64), one camera;
    a rerun resumes."""
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    for task in tasks or ["all"]:
        cmd = [sys.executable, "-m", "robosuite_eval.cli", "generate", "--task", task, "--mode", mode]
        cmd += ["--episodes", str(episodes), "--seed", str(seed), "--image-size", str(IMAGE_SIZE)]
        cmd += ["--generator", "v2", "--cameras", camera, "--workers", "1"]
        cmd += ["--out", str(out if task == "all" else out / f"{task}_{mode}")]
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return [out / f"{t}_{mode}" for t in (tasks or TASKS)]


def dataset_distances(roots: list[Path], camera: str, record: dict) -> dict:
    """Median distance (as `domain_warning` computes it) of each dataset, read through `camera`."""
    from robodata.dataset import episode_length, open_dataset, read_episode_frames, resolve_camera
    from value_labeling.domain import EPISODES_CHECKED, FRAMES_PER_EPISODE

    out = {}
    for r in roots:
        ds = open_dataset(r)
        cam = resolve_camera(ds, camera)
        feats = [
            frame_features(
                read_episode_frames(ds, int(ep), cam, evenly(episode_length(ds, int(ep)), FRAMES_PER_EPISODE)),
                record["input_size"],
            )
            for ep in evenly(ds.meta.total_episodes, EPISODES_CHECKED)
        ]
        out[r.name] = round(float(np.median(nearest(np.concatenate(feats), record["frames"]))), 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/wvm_domain"))
    p.add_argument("--experts", type=int, default=2, help="expert episodes per task (seeds 100000+)")
    p.add_argument("--sub", type=int, default=1, help="hesitation and retry episodes per task (seeds 200000+)")
    p.add_argument(
        "--heldout", type=int, default=1, help="v2 bench expert episodes per task (seeds 0+) to calibrate on"
    )
    a = p.parse_args()
    from value_labeling.wvm.windows import load_trajectories

    train = generate(a.work / "train", "expert", a.experts, TRAIN_SEED)
    train += generate(a.work / "train", "hesitation", a.sub, TRAIN_SUB_SEED)
    train += generate(a.work / "train", "retry", a.sub, TRAIN_SUB_SEED)
    trajs = load_trajectories(train, CAMERA, 2.0, (IMAGE_SIZE, IMAGE_SIZE))
    record = training_domain(train, CAMERA, trajs, (IMAGE_SIZE, IMAGE_SIZE))

    bench = generate(a.work / "bench", "expert", a.heldout, 0)
    agentview = generate(a.work / "agentview", "expert", 1, 0, camera="agentview", tasks=("lift",))
    rng = np.random.default_rng(0)
    size = (IMAGE_SIZE, IMAGE_SIZE, 3)
    synthetic = {
        "solid grey": np.full((8, *size), 128, np.uint8),
        "solid blue": np.broadcast_to(np.array([30, 60, 200], np.uint8), (8, *size)).copy(),
        "uniform noise": rng.integers(0, 256, (8, *size), dtype=np.uint8),
        "sliding square (testing/synthetic_bench)": np.stack(
            [render_frame(x, IMAGE_SIZE) for x in np.linspace(0, 1, 8)]
        ),
        "a training episode upside down": np.ascontiguousarray(
            trajs[0].frames[evenly(len(trajs[0].frames), 8)][:, ::-1]
        ),
    }
    record["calibration"] = {
        "threshold": record["frames"]["threshold"],
        "training_frames_leave_one_episode_out": record["frames"]["leave_one_episode_out"],
        "heldout_v2_bench_seed0 (no warning expected)": dataset_distances(bench, CAMERA, record),
        "agentview frames, other scene (warning expected)": dataset_distances(agentview, "agentview", record),
        "synthetic videos (warning expected)": {
            k: round(float(np.median(nearest(frame_features(v, record["input_size"]), record["frames"]))), 3)
            for k, v in synthetic.items()
        },
    }
    cmd = ("python -m bench.shipped_domain " + " ".join(sys.argv[1:])).strip()
    doc = {
        "command": cmd,
        "how": (
            f"The shipped models' checkpoints predate the training-data record, so it was computed from a "
            f"regenerated subset of their training data: the first {a.experts} expert (seeds {TRAIN_SEED}+) and "
            f"{a.sub} hesitation and {a.sub} retry (seeds {TRAIN_SUB_SEED}+) episodes of each of the 6 tasks, "
            f"robosuite_eval generate --generator v2 --image-size {IMAGE_SIZE} --cameras {CAMERA}, as "
            "bench/build_default_model.py (recipe v2) generated them, read by value_labeling.domain."
            "training_domain exactly as `value_labeling train` records it."
        ),
        **record,
    }
    for d in [DEFAULT_DIR, *SHIPPED.values()]:
        atomic.write_strict_json(d / "training_domain.json", doc)
        print(f"wrote {d / 'training_domain.json'}")
    print(record["calibration"])


if __name__ == "__main__":
    main()
