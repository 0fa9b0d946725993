"""A noise-free proxy of what each value source gives the weighting: on the downstream training data, how well
its chunk advantage Δ (eq. E.4, H = 10) separates chunks inside an annotated [m, n] (a stall or a retraction)
from progress chunks, and what each filter keeps of each kind. It tells "the values are wrong" apart from
"policy learning is noisy": no policy is trained and nothing is rolled out.

    python -m bench.downstream.separation [--work /work/wvmdata/downstream_v3] [--tasks lift ...]

Chunks: the window [t, t + H - 1] of a frame t. Inside: the window lies within [m, n] (ground-truth Δ is 0 in
a stall and negative in a retraction). Progress: the window does not reach into (m, n) (t + H - 1 <= m or
t >= n). Windows straddling a boundary, or running past the episode's end, are neither and are counted
apart. AUROC of -Δ for "inside" (0.5 is chance, 1 perfect; ties count half), with a percentile bootstrap 95% interval over episodes (2,000 draws,
seeded). Filters as the arms apply them: fbc_binary Δ >= 0, strict Δ > 1e-6, fbc_top70 Δ >= the 30th
percentile of Δ over the task's training set; AWR's mean weight min(exp(10 Δ), 2) per kind.
Results: bench/results/chunk_separation.{json,md}.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench import write_results_json
from bench.downstream import arms, data

RESULTS = Path(__file__).resolve().parents[1] / "results"
SOURCES = ("default", "frame", "temporal", "time", "gt")
N_BOOT = 2000


@dataclass(frozen=True)
class SeparationConfig:
    work: Path = Path("/work/wvmdata/downstream_v3")
    tasks: tuple[str, ...] = ("lift", "pickplace_can", "pickplace_bread")
    out: Path = RESULTS / "chunk_separation"


def chunk_kinds(T: int, m: int | None, n: int | None, H: int) -> np.ndarray:
    """(T,) per anchor frame: 1 inside [m, n], 0 progress, -1 neither (straddling a boundary, or a window that
    runs past the episode's end: its Δ spans fewer than H frames, 0 at the last frame)."""
    t = np.arange(T)
    end = t + H - 1
    kind = np.zeros(T, dtype=np.int8)
    if m is not None and n is not None:
        kind[:] = -1
        kind[(t >= m) & (end <= n)] = 1
        kind[(end <= m) | (t >= n)] = 0
    kind[end > T - 1] = -1
    return kind


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(tie), by ranks (Mann-Whitney U)."""
    from scipy.stats import rankdata

    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def episode_chunks(roots: list[Path], column: str) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Per episode: (Δ (T,), kind (T,), mode)."""
    from policy_ft.data import chunk_deltas
    from robodata.annotations import read_annotations

    out = []
    for root in roots:
        delta = chunk_deltas(root, arms.H, column)
        rows = sorted(read_annotations(root), key=lambda r: r["episode_index"])
        start = 0
        for r in rows:
            T = int(r["T"])
            out.append((delta[start : start + T], chunk_kinds(T, r.get("m"), r.get("n"), arms.H), r["mode"]))
            start += T
        if start != delta.size:
            raise ValueError(f"{root}: the annotation table covers {start} frames, the dataset {delta.size}")
    return out


def separate(episodes: list, kappa_top70: float, seed: int = 0) -> dict:
    d = np.concatenate([e[0] for e in episodes])
    k = np.concatenate([e[1] for e in episodes])
    inside, prog = k == 1, k == 0
    keep = {"fbc_binary": d >= 0, "strict": d > 1e-6, "fbc_top70": d >= kappa_top70}
    w = np.minimum(np.exp(arms.TAU * d), arms.CLIP)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(N_BOOT):
        pick = rng.integers(0, len(episodes), len(episodes))
        db = np.concatenate([episodes[i][0] for i in pick])
        kb = np.concatenate([episodes[i][1] for i in pick])
        m = kb >= 0
        boots.append(auroc(-db[m], kb[m] == 1))
    boots = np.array([b for b in boots if np.isfinite(b)])
    sel = k >= 0
    return {
        "auroc": auroc(-d[sel], k[sel] == 1),
        "auroc_ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots.size else None,
        "episodes": len(episodes),
        "chunks_inside": int(inside.sum()),
        "chunks_progress": int(prog.sum()),
        "chunks_neither": int((k == -1).sum()),
        "kept_inside": {f: float(v[inside].mean()) for f, v in keep.items()},
        "kept_progress": {f: float(v[prog].mean()) for f, v in keep.items()},
        "awr_weight_inside": float(w[inside].mean()),
        "awr_weight_progress": float(w[prog].mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    cfg = tyro.cli(SeparationConfig, args=argv)
    command = "python -m bench.downstream.separation " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": command, "H": arms.H, "tasks": {}}
    for task in cfg.tasks:
        roots = [data.dataset_dir(cfg.work, task, n) for n in data.SUBOPTIMAL]
        if not all((r / "meta" / "info.json").is_file() for r in roots):
            continue
        result["tasks"][task] = {}
        for src in SOURCES:
            eps = episode_chunks(roots, data.VALUE_SOURCES[src])
            kappa = float(np.quantile(np.concatenate([e[0] for e in eps]), 0.3))
            result["tasks"][task][src] = {
                mode: separate([e for e in eps if e[2] == mode], kappa) for mode in data.SUBOPTIMAL
            } | {"kappa_top70": kappa}
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    write_results_json(cfg.out.with_suffix(".json"), result)
    write_markdown(result, cfg.out.with_suffix(".md"))
    return result


def write_markdown(result: dict, path: Path) -> None:
    lines = [
        "# Chunk separation: does each value source's Δ tell stalls and retractions from progress?",
        "",
        f"Command: `{result['command']}`",
        "",
        "Chunks:" + __doc__.split("Chunks:")[1].split("Results:")[0].rstrip().replace("\n", " "),
        "",
        "| task | mode | values | AUROC [95%] | inside / progress / neither chunks | kept inside: binary, strict, top70 | kept progress: binary, strict, top70 | AWR weight inside / progress |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, per in result["tasks"].items():
        for mode in data.SUBOPTIMAL:
            for src in SOURCES:
                r = per[src][mode]
                ci = r["auroc_ci95"]
                kin = ", ".join(f"{r['kept_inside'][f]:.2f}" for f in ("fbc_binary", "strict", "fbc_top70"))
                kpr = ", ".join(f"{r['kept_progress'][f]:.2f}" for f in ("fbc_binary", "strict", "fbc_top70"))
                lines.append(
                    f"| {task} | {mode} | {src} | {r['auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | "
                    f"{r['chunks_inside']} / {r['chunks_progress']} / {r['chunks_neither']} ({r['episodes']} episodes) | "
                    f"{kin} | {kpr} | {r['awr_weight_inside']:.2f} / {r['awr_weight_progress']:.2f} |"
                )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
