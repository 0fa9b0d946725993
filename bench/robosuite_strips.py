"""PNG strips of one generated hesitation and one retry trajectory, so a person can see the behaviour.

    .venv/bin/python -m bench.robosuite_strips [--task lift] [--seed 0]

Each figure: agentview frames sampled across the episode (the labelled span [m, n] framed in red),
the wrist view below, and the bench's ground-truth progress curve with the hand's distance to the
grasp target, both against recorded frames. Writes bench/results/robosuite_strip_<mode>.png.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robodata.ground_truth import progress_curve  # noqa: E402
from robosuite_eval.episode import plan_injection, run_episode  # noqa: E402
from robosuite_eval.tasks import get_task, make_env  # noqa: E402

OUT = Path(__file__).parent / "results"


def strip(task_name: str, mode: str, seed: int, size: int = 128, n_cols: int = 12) -> Path:
    task = get_task(task_name)
    env = make_env(task, render=size)
    res = run_episode(env, task, seed, plan_injection(env, task, mode, seed), render_size=size)
    env.close()
    assert res.success and res.m is not None, "the generated trajectory must succeed and carry a label"
    m, n, T = res.m, res.n, res.T
    # columns: a few before, the span's ends and inside, a few after
    idx = sorted(
        set(np.linspace(0, m - 1, 3).astype(int))
        | set(np.linspace(m, n, 5).astype(int))
        | set(np.linspace(n + 1, T - 1, n_cols - 8).astype(int))
    )
    fig = plt.figure(figsize=(1.3 * len(idx), 5.2))
    gs = fig.add_gridspec(3, len(idx), height_ratios=[1, 1, 1.3])
    for j, t in enumerate(idx):
        for row, cam in enumerate(("agentview", "robot0_eye_in_hand")):
            ax = fig.add_subplot(gs[row, j])
            ax.imshow(res.images[cam][t])
            ax.set_xticks([]), ax.set_yticks([])
            inside = m <= t <= n
            for s in ax.spines.values():
                s.set_edgecolor("red" if inside else "0.7")
                s.set_linewidth(3 if inside else 1)
            if row == 0:
                ax.set_title(f"{t}", fontsize=9, color="red" if inside else "black")
    ax = fig.add_subplot(gs[2, :])
    t = np.arange(T)
    ax.plot(t, progress_curve(mode, T, m, n), label="ground-truth progress (eq. B.2/B.3)")
    d = np.linalg.norm(res.eef_pos - res.target_pos, axis=1)
    ax.plot(t, d / d.max(), label="hand-to-grasp-target distance (normalised)", alpha=0.8)
    ax.axvspan(m, n, color="red", alpha=0.15, label=f"{mode} [m, n] = [{m}, {n}]")
    ax.set_xlabel(f"recorded frame (10 fps), T = {T}")
    ax.set_xlim(0, T - 1)
    ax.legend(fontsize=8, loc="upper left")
    inj = res.injection
    extra = f", style {inj.style}" if mode == "hesitation" else f", miss offset {100 * inj.offset:.1f} cm"
    fig.suptitle(f"RoboSuite {task.env_name}, {mode}, seed {seed}{extra}: frames (top: agentview, middle: wrist)")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"robosuite_strip_{mode}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path} ({task.name} seed {seed}: m={m}, n={n}, T={T})")
    return path


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="lift")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    for mode in ("hesitation", "retry"):
        strip(a.task, mode, a.seed)
