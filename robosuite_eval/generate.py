"""`robosuite_eval generate`: scripted episodes -> a LeRobot v3.0 dataset (+ the bench's annotation table).

Pipeline. Worker processes simulate and render episodes and write each one, complete, to a temporary
`.npz` (written beside, then renamed). One writer in the main process appends finished episodes to the
dataset in episode order through lerobot's own `LeRobotDataset.create` / `add_frame` / `save_episode`.

Data safety. The dataset at `--out` only ever holds whole episodes: the writer appends to a staging copy
(`.<name>.work/staging` beside it), and every `COMMIT_EVERY` episodes and at the end it finalizes the
staging dataset, writes the annotation table and the generation record, and swaps it into place. A
killed run leaves `--out` at its last commit; rerunning the same command skips the episodes already in
the dataset and reuses the rendered `.npz` files of episodes that were simulated but not yet committed.

Generators: v2 (the default), human-paced with long segments (robosuite_eval/human_pace.py), and v1, the original
constant-speed scripts and the default until v2 replaced it (`--generator v1`). The generator is part of a
dataset's record, so a resume cannot mix them.

Embodiments: RoboSuite and AgileX (sim) (gym-aloha, bimanual, v2 only) go through the same pipeline; what
differs (state, action, cameras, control rate, the scene and the scripted episode) comes from
robosuite_eval/embodiments.py, and `resolve_config` fills in the task's defaults.

Every recorded trajectory ends in task success: a seed whose scripted run fails (rare) is retried with a
derived simulator seed (v2: also one whose drawn retraction is longer than the attempt it retraces), and the
seed actually used is stored in `meta/robosuite_eval.json`.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robodata import atomic
from robodata.annotations import write_annotations
from robodata.dataset import dataset_info
from robosuite_eval.config import GenerateConfig
from robosuite_eval.embodiments import embodiment_of, environment_state_names, get_task, resolve_tasks
from robosuite_eval.tasks import CAMERAS, TaskSpec
from runtime.priority import keep_normal_priority

RECORD_FILE = "meta/robosuite_eval.json"  # our generation record beside lerobot's metadata


def recorded_generator(root: Path) -> str | None:
    """Which generator wrote a dataset, from its generation record (records written before the field existed
    came from v1); None when the dataset has no record (not written by `robosuite_eval generate`)."""
    record = Path(root) / RECORD_FILE
    return json.loads(record.read_text()).get("generator", "v1") if record.is_file() else None


COMMIT_EVERY = 10
MAX_ATTEMPTS = 5  # derived seeds tried before giving up on an episode


def features(image_size: int, cameras=CAMERAS, task: TaskSpec | None = None) -> dict:
    """The dataset's features, declared once (LeRobot style); with `task`, also the objects' poses
    (observation.environment_state, privileged state for policies trained without cameras), and the state
    and action of the task's embodiment (RoboSuite without one)."""
    emb = embodiment_of(task)
    state_names, action_names = list(emb.state_names), list(emb.action_names)
    feats = {
        f"observation.images.{cam}": {
            "dtype": "video",
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channels"],
        }
        for cam in cameras
    }
    feats["observation.state"] = {"dtype": "float32", "shape": (len(state_names),), "names": state_names}
    if task is not None:
        names = environment_state_names(task)
        feats["observation.environment_state"] = {"dtype": "float32", "shape": (len(names),), "names": names}
    feats["action"] = {"dtype": "float32", "shape": (len(action_names),), "names": action_names}
    return feats


def parse_mix(mode: str, mix: str | None) -> tuple[int, int, int] | None:
    """--mix as (expert, hesitation, retry) weights; None unless --mode mixed."""
    if mode != "mixed":
        if mix is not None:
            raise ValueError(f"--mix is only for --mode mixed (got --mode {mode})")
        return None
    parts = (mix or "1:1:1").split(":")
    try:
        weights = tuple(int(p) for p in parts)
    except ValueError:
        weights = ()
    if len(weights) != 3 or min(weights) < 0 or sum(weights) == 0:
        raise ValueError(
            f"--mix {mix!r}: give three non-negative integers expert:hesitation:retry, e.g. 1:1:1 or 2:1:1"
        )
    return weights


def episode_modes(mode: str, weights: tuple[int, int, int] | None, episodes: int) -> list[str]:
    """Each episode's mode. Mixed: a smooth weighted round-robin (episode i takes the mode furthest behind
    its share of i+1 episodes; ties in expert, hesitation, retry order), so every prefix is balanced."""
    if weights is None:
        return [mode] * episodes
    modes, total, counts, out = ("expert", "hesitation", "retry"), sum(weights), [0, 0, 0], []
    for i in range(episodes):
        k = max(range(3), key=lambda j: (weights[j] * (i + 1) / total - counts[j], -j))
        counts[k] += 1
        out.append(modes[k])
    return out


def attempt_seed(seed: int, attempt: int) -> int:
    return seed if attempt == 0 else seed + 1_000_003 * attempt


# ------------------------------------------------------------------------------- workers

_ENV: dict = {}


def _worker_env(task: TaskSpec, size: int):
    if (task.name, size) not in _ENV:
        from robosuite_eval.embodiments import make_env

        _ENV.clear()
        _ENV[(task.name, size)] = make_env(task, render_size=size)
    return _ENV[(task.name, size)]


def simulate_to_npz(job: tuple) -> str:
    """Simulate + render one episode (retrying derived seeds on failure); returns the npz path."""
    task_name, mode, episode, seed, fps, size, path, cameras, generator = job
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from robosuite_eval.embodiments import simulate

    path = Path(path)
    if path.is_file():
        return str(path)
    task = get_task(task_name)
    env = _worker_env(task, size)
    for attempt in range(MAX_ATTEMPTS):
        s = attempt_seed(seed, attempt)
        res = simulate(env, task, mode, s, fps, size, cameras, generator)
        if res.success and (mode == "expert" or res.m is not None):
            break
    else:
        raise RuntimeError(
            f"{task_name} {mode} episode {episode}: the scripted oracle failed on {MAX_ATTEMPTS} seeds from {seed}"
        )
    info = res.info() | {"episode_index": episode, "mode": mode, "requested_seed": seed, "attempt": attempt}
    with atomic.replace_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            states=res.states,
            env_states=res.env_states,
            actions=res.actions,
            info=json.dumps(info),
            **{f"img_{cam}": res.images[cam] for cam in res.images},
        )
    return str(path)


# ------------------------------------------------------------------------------- the dataset


def resolve_config(cfg: GenerateConfig, task) -> GenerateConfig:
    """`cfg` with the task's embodiment defaults filled in (cameras, image size, embodiment, generator);
    a camera or generator the embodiment lacks fails here, before any work."""
    emb = embodiment_of(task)
    cameras = emb.cameras if cfg.cameras is None else tuple(cfg.cameras)
    bad = [c for c in cameras if c not in emb.cameras]
    if bad:
        raise ValueError(f"--cameras {' '.join(bad)}: {emb.name} has {', '.join(emb.cameras)}; pick among those")
    generator = cfg.generator or emb.generators[0]
    if generator not in emb.generators:
        raise ValueError(f"--generator {generator}: {emb.name} has {', '.join(emb.generators)}; pass one of those")
    emb.check_fps(cfg.fps)
    return dataclasses.replace(
        cfg,
        cameras=cameras,
        image_size=emb.image_size if cfg.image_size is None else cfg.image_size,
        embodiment=cfg.embodiment or emb.name,
        generator=generator,
    )


def _record(cfg: GenerateConfig, task: TaskSpec) -> dict:
    return {
        "format": "robosuite_eval/v1",
        "task": task.name,
        "env": task.env_name,
        "mode": cfg.mode,
        "fps": cfg.fps,
        "image_size": cfg.image_size,
        "seed": cfg.seed,
        "embodiment": cfg.embodiment,
        "instruction": task.instruction,
        "cameras": list(cfg.cameras),
        "environment_state": environment_state_names(task),
        "mix": ":".join(map(str, w)) if (w := parse_mix(cfg.mode, cfg.mix)) else None,
        "generator": cfg.generator,
    }


def check_existing(out: Path, record: dict) -> int:
    """Episodes already in `out` (0 if new); errors if `out` holds anything else."""
    if not out.exists():
        return 0
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory for the dataset")
    if not any(out.iterdir()):
        return 0
    info, rec_path = dataset_info(out), out / RECORD_FILE
    if info is None:
        raise ValueError(f"--out {out} is not empty and is not a LeRobot dataset; choose a new or empty directory")
    if info.get("codebase_version") != "v3.0":
        raise ValueError(
            f"--out {out} holds a LeRobot {info.get('codebase_version')} dataset, not v3.0; choose another directory"
        )
    if not rec_path.is_file():
        raise ValueError(
            f"--out {out} holds a LeRobot dataset that robosuite_eval did not generate; choose another directory"
        )
    old = json.loads(rec_path.read_text())
    keys = ["format", "task", "mode", "mix", "fps", "image_size", "seed", "embodiment", "cameras", "environment_state"]
    keys.append("generator")
    old.setdefault("cameras", list(CAMERAS))  # records written before these keys existed
    old.setdefault("generator", "v1")
    diff = {k: (old.get(k), record[k]) for k in keys if old.get(k) != record[k]}
    if diff:
        detail = ", ".join(f"{k}: dataset has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
        hint = ""
        if "generator" in diff:  # most likely a v1 dataset made before v2 became the default
            hint = f" (add --generator {old['generator']} to resume it; the default is v2)"
        raise ValueError(
            f"--out {out} holds another dataset ({detail}); use a new --out or the same settings to resume{hint}"
        )
    return int(info["total_episodes"])


def _recover(out: Path, work: Path) -> None:
    """Undo what a run killed mid-swap or mid-append left behind: the previous dataset comes back if
    a swap was cut between its two renames; a partial append is dropped (its npz files remain)."""
    atomic.recover_dir(out, work / "staging", work / "previous", marker=None)


def _swap_in(staging: Path, out: Path, work: Path) -> None:
    atomic.fsync_tree(staging)
    atomic.swap_in(staging, out, work / "previous")
    _recover(out, work)  # removes the previous tree


def _open_staging(out: Path, staging: Path, cfg: GenerateConfig, task: TaskSpec):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets.utils.logging import disable_progress_bar
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    disable_progress_bar()  # lerobot's per-episode `Map:` bars would nest inside ours

    repo_id = f"robosuite_eval/{out.name}"
    robot_type = embodiment_of(task).robot_type
    if dataset_info(out) is not None:
        shutil.copytree(out, staging)
        return LeRobotDataset(repo_id, root=staging)
    return LeRobotDataset.create(
        repo_id,
        fps=cfg.fps,
        features=features(cfg.image_size, cfg.cameras, task),
        root=staging,
        robot_type=robot_type,
        use_videos=True,
    )


def _append(ds, npz: Path, instruction: str, cameras=CAMERAS) -> dict:
    with np.load(npz) as z:
        info = json.loads(str(z["info"]))
        imgs = {cam: z[f"img_{cam}"] for cam in cameras}
        states, env_states, actions = z["states"], z["env_states"], z["actions"]
    for t in range(len(states)):
        frame = {f"observation.images.{cam}": imgs[cam][t] for cam in cameras}
        frame["observation.state"] = states[t]
        frame["observation.environment_state"] = env_states[t]
        frame["action"] = actions[t]
        frame["task"] = instruction
        ds.add_frame(frame)
    ds.save_episode(parallel_encoding=False)
    return info


def _commit(ds, staging: Path, out: Path, work: Path, record: dict, infos: list[dict]) -> None:
    ds.finalize()
    # lerobot stages frames as images under images/ while it encodes the videos and leaves the emptied
    # folder behind; a dataset of videos carries no such folder.
    images = staging / "images"
    if images.is_dir() and not any(p.is_file() for p in images.rglob("*")):
        shutil.rmtree(images)
    # Expert datasets carry the table too (m, n null): the bench then reads their embodiment and task
    # name from it instead of guessing from lerobot's robot_type and the instruction.
    rows = [
        {
            "episode_index": i["episode_index"],
            "mode": i.get("mode", record["mode"]),
            "m": i.get("m"),
            "n": i.get("n"),
            "T": i["T"],
            "embodiment": record["embodiment"],
            "task": record["task"],
        }
        for i in infos
    ]
    write_annotations(staging, rows)
    rec = dict(record, episodes=infos)
    atomic.write_json(staging / RECORD_FILE, rec, indent=1)
    _swap_in(staging, out, work)


def generate_task(cfg: GenerateConfig, task: TaskSpec, out: Path) -> Path:
    cfg = resolve_config(cfg, task)
    record = _record(cfg, task)
    out = out.resolve()
    work = out.parent / f".{out.name}.work"
    if work.exists():
        _recover(out, work)
    done = check_existing(out, record)
    if done >= cfg.episodes:
        print(f"{out}: already holds {done} episodes (asked {cfg.episodes}); nothing to do")
        return out
    infos: list[dict] = json.loads((out / RECORD_FILE).read_text())["episodes"] if done else []
    (work / "episodes").mkdir(parents=True, exist_ok=True)
    modes = episode_modes(cfg.mode, parse_mix(cfg.mode, cfg.mix), cfg.episodes)
    jobs = [
        (
            task.name,
            modes[i],
            i,
            cfg.seed + i,
            cfg.fps,
            cfg.image_size,
            str(work / "episodes" / f"ep_{i:06d}.npz"),
            tuple(cfg.cameras),
            cfg.generator,
        )
        for i in range(done, cfg.episodes)
    ]
    staging = work / "staging"
    ds = _open_staging(out, staging, cfg, task)
    bar = tqdm(total=cfg.episodes, initial=done, desc=f"{task.name} {cfg.mode}", unit="ep")
    pending: list[Path] = []

    def results():
        if cfg.workers <= 0:
            yield from map(simulate_to_npz, jobs)
            return
        with worker_pool(min(cfg.workers, len(jobs))) as pool:
            yield from pool.imap(simulate_to_npz, jobs)

    for path in results():
        path = Path(path)
        infos.append(_append(ds, path, task.instruction, cfg.cameras))
        pending.append(path)
        bar.update(1)
        last = len(infos) == cfg.episodes
        if len(pending) >= COMMIT_EVERY or last:
            _commit(ds, staging, out, work, record, infos)
            for p in pending:
                p.unlink(missing_ok=True)
            pending = []
            if not last:
                ds = _open_staging(out, staging, cfg, task)
    bar.close()
    shutil.rmtree(work, ignore_errors=True)
    return out


def worker_pool(n: int):
    """Generation workers, spawned (EGL contexts and torch threads do not survive fork), each keeping its own
    threads at normal priority: a worker spawned while the encoder had raised this process's main thread
    inherits SCHED_FIFO 99, which nothing inside the worker would undo."""
    return mp.get_context("spawn").Pool(n, initializer=keep_normal_priority, maxtasksperchild=50)


def run_generate(cfg: GenerateConfig) -> list[Path]:
    keep_normal_priority()  # the video encoder raises threads to real-time priority; workers would inherit it
    if cfg.episodes <= 0:
        raise ValueError(f"--episodes must be positive, got {cfg.episodes}")
    if cfg.image_size is not None and cfg.image_size < 16:
        raise ValueError(f"--image-size {cfg.image_size} is too small (at least 16)")
    from robosuite_eval.episode import MODES

    if cfg.mode not in (*MODES, "mixed"):
        raise ValueError(f"unknown mode {cfg.mode!r}; choose one of {MODES} or mixed")
    parse_mix(cfg.mode, cfg.mix)
    tasks = resolve_tasks(cfg.task)
    for task in tasks:  # every task's settings checked before the first one runs
        resolve_config(cfg, task)
    outs = []
    for task in tasks:
        many = cfg.task.lower() in ("all", "agilex_all")
        out = Path(cfg.out) / f"{task.name}_{cfg.mode}" if many else Path(cfg.out)
        outs.append(generate_task(cfg, task, out))
        print(f"wrote {out}")
    return outs
