"""`value_labeling bench`: run value models over bench datasets and print Tables 1-3 style results."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robodata import atomic
from robodata.annotations import all_expert_rows, read_annotations
from robodata.dataset import episode_length, episode_task, open_dataset, read_episode_frames, resolve_camera
from robodata.ground_truth import progress_curve
from robodata.resample import resample_indices
from value_labeling.bench.config import BenchConfig
from value_labeling.bench.headline import headline, headline_markdown
from value_labeling.bench.protocol import score_trajectory
from value_labeling.bench.tables import markdown_tables, summarize
from value_labeling.domain import domain_warning
from value_labeling.models import default_model_name, load_value_model, model_camera


def bench_episodes(root: Path, ds) -> list[dict]:
    """Annotation rows for every episode: the table if present, else all-expert from the dataset."""
    rows = read_annotations(root)
    if rows is None:
        return all_expert_rows(ds, root)
    for r in rows:
        if not 0 <= r["episode_index"] < ds.meta.total_episodes:
            raise ValueError(
                f"{root}: annotation for episode {r['episode_index']}, but the dataset has "
                f"{ds.meta.total_episodes} episodes"
            )
        T = episode_length(ds, r["episode_index"])
        if r["T"] != T:
            raise ValueError(
                f"{root}: episode {r['episode_index']} is annotated with T={r['T']} but has {T} frames; "
                "annotations must be in native frames"
            )
    return rows


# Written into the JSON: strict JSON has no NaN, so an undefined number is null, and a reader is told why.
NULL_MEANS = (
    "null = undefined: a trajectory's score is ill-defined (VOC of a constant prediction or of fewer than 2 "
    "sampled frames, a segment no sampled frame falls in), or a mean / interval has no defined score (n_scored 0)"
)


def run_bench(cfg: BenchConfig) -> dict:
    specs = list(cfg.model) or [default_model_name() or "time"]
    if not cfg.model:
        print(f"no --model given: scoring {specs[0]!r}", file=sys.stderr)
    models = [load_value_model(m) for m in specs]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names)]
    # Paired differences (same trajectories, shared difficulty cancels) against --reference or the first model.
    reference = cfg.reference if cfg.reference is not None else (names[0] if len(names) > 1 else None)
    if reference is not None and reference not in names:
        raise ValueError(f"--reference {reference!r} is not one of the scored models ({', '.join(names)}); name one")
    datasets = []
    for root in cfg.data:
        ds = open_dataset(root)
        rows = bench_episodes(Path(root), ds)
        if cfg.max_episodes is not None:
            rows = rows[: cfg.max_episodes]
        # Each model reads its own training camera unless --camera names one (dataset.resolve_camera).
        cams = [resolve_camera(ds, cfg.camera, model_camera(m)) for m in models]
        for m, cam in zip(models, cams):  # one line per model when this dataset is unlike its training data
            if (line := domain_warning(m, ds, cam, str(root))) is not None:
                print(line, file=sys.stderr)
        datasets.append((Path(root), ds, cams, rows))
    total = sum(len(rows) for *_, rows in datasets)

    records: list[dict] = []
    t0 = time.perf_counter()
    with tqdm(total=total, desc="bench", unit="traj") as bar:
        for root, ds, cams, rows in datasets:
            native_fps = float(ds.meta.fps)
            for r in rows:
                fps = cfg.embodiment_fps.get(r["embodiment"], cfg.eval_fps)
                idx = resample_indices(r["T"], native_fps, fps)
                # A model with `values_at` (precomputed values, progress:FILE) is read at the sampled frames.
                videos = {
                    cam: read_episode_frames(ds, r["episode_index"], cam, idx)
                    for cam in dict.fromkeys(c for c, m in zip(cams, models) if not hasattr(m, "values_at"))
                }
                instruction = episode_task(ds, r["episode_index"]) or r["task"]
                preds = {}
                for name, model, cam in zip(names, models, cams):
                    if hasattr(model, "values_at"):
                        pred = np.asarray(model.values_at(ds, r["episode_index"], idx), dtype=np.float64)
                    else:
                        pred = np.asarray(
                            model.predict(videos[cam], min(fps, native_fps), instruction), dtype=np.float64
                        )
                    score = score_trajectory(pred, r["mode"], r["T"], idx, r["m"], r["n"])
                    preds[name] = pred
                    records.append(
                        {
                            "dataset": str(root),
                            "episode_index": r["episode_index"],
                            "embodiment": r["embodiment"],
                            "task": r["task"],
                            "mode": r["mode"],
                            "m": r["m"],
                            "n": r["n"],
                            "T": r["T"],
                            "model": name,
                            "camera": cam,
                            "metric": score.metric,
                            "value": score.value,
                        }
                    )
                if cfg.plots is not None:
                    from value_labeling.bench.plots import plot_trajectory

                    plot_trajectory(
                        Path(cfg.plots) / f"{root.name}_ep{r['episode_index']:06d}_{r['mode']}.png",
                        f"{root.name} ep {r['episode_index']} ({r['task']}, {r['mode']}) @ {fps:g} fps",
                        native_fps,
                        r["T"],
                        r["mode"],
                        r["m"],
                        r["n"],
                        idx,
                        progress_curve(r["mode"], r["T"], r["m"], r["n"]),
                        preds,
                    )
                bar.update(1)

    summary = summarize(records)
    tables = markdown_tables(summary)
    head = headline(records, reference)
    md = f"{tables}\n\n## Headline: n scored and 95% intervals\n\n{headline_markdown(head)}\n"
    print(md)
    result = {
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "models": {name: {"spec": spec, "fingerprint": m.fingerprint()} for name, spec, m in zip(names, specs, models)},
        "wall_time_s": time.perf_counter() - t0,
        "null": NULL_MEANS,
        "summary": summary,
        **head,
        "trajectories": records,
    }
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_strict_json(out, result)
    atomic.write_text(out.with_suffix(".md"), md)
    print(f"\nwrote {out} and {out.with_suffix('.md')}" + (f"; plots in {cfg.plots}" if cfg.plots else ""))
    return atomic.strict(result)


def run_models(_cfg) -> None:
    from value_labeling.models import available_models

    for name in available_models():
        print(name)
