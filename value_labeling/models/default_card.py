"""The embedded default model's card (`default_wvm/MODEL_CARD.md`), written only from recorded files.

Every figure in the card comes from a file a script wrote: the checkpoint's own `build.json` (data, steps,
wall times: bench/build_default_model.py), `wvm.json` (architecture, training config) and `history.json`
(the logged schedule), the shipped baselines' `build.json`, the paper's reported numbers
(`value_labeling/bench/paper_results.json`) and the result JSONs under bench/results/ (bench scores,
ablations, probes). Nothing is typed in here; a section whose file is missing is left out, and a result
that names another checkpoint than the shipped one says so. `tests/test_model_card.py` checks that every
number of the committed card appears in those files and that the card is what this module writes from them.

Written by `python -m bench.build_default_model` after installing the weights (or with `--card-only`, from
the checkpoint and results already there) and by `python -m bench.robosuite_bench` once scored.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from robodata import atomic
from value_labeling.models.default import DEFAULT_DIR

#: bench/results/ of the source checkout the card is written in (the card is a repository file).
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
METRICS = (("hesitation_rmse", "Hesitation-RMSE"), ("retry_voc", "Retry-VOC"), ("expert_voc", "Expert-VOC"))


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _train_config(meta: dict) -> dict:
    """wvm.json's training config as one flat dict: older checkpoints store it flat, newer ones nested by
    concern (data / objective / optimizer / schedule); the training data list is `roots` either way."""
    flat: dict = {}
    for k, v in meta["train"].items():
        if isinstance(v, dict):
            flat.update({kk: vv for kk, vv in v.items() if kk not in flat})
        else:
            flat[k] = v
    flat["roots"] = flat.get("roots", flat.get("data", []))
    return flat


def _scores(d: dict) -> str:
    """'H / R / E' of a {metric: value} dict."""
    return " / ".join(_f(d.get(k)) for k, _ in METRICS)


def model_card_text(
    bench: dict | None = None,
    headline_md: str | None = None,
    probe: dict | None = None,
    results: Path | None = None,
    fingerprint: str | None = None,
) -> str:
    """The card's markdown. `bench` (bench/results/robosuite_bench.json) and `probe` (baseline_probe.json)
    are read from `results` when not passed; `headline_md`, the bench's headline tables
    (value_labeling.bench.headline.headline_markdown of `bench`: the bench layer, which this module may not
    import), comes from the caller; `fingerprint` is the shipped model's (computed when not passed)."""
    results = RESULTS if results is None else Path(results)
    if bench is None:
        bench = _json(results / "robosuite_bench.json")
    if probe is None:
        probe = _json(results / "baseline_probe.json")
    if fingerprint is None:  # the default model's, as `value_labeling bench` records it (no weights loaded)
        from value_labeling.wvm.inference import checkpoint_fingerprint

        fingerprint = checkpoint_fingerprint(DEFAULT_DIR, json.loads((DEFAULT_DIR / "wvm.json").read_text())["model"])
    lines = recipe_lines()
    lines += bench_lines(bench, fingerprint, probe)
    lines += experiment_lines(results, fingerprint)
    if headline_md:
        lines += baseline_lines(headline_md, probe, fingerprint)
    return "\n".join(lines) + "\n"


def write_model_card(
    bench: dict | None = None, headline_md: str | None = None, probe: dict | None = None, results: Path | None = None
) -> Path:
    """MODEL_CARD.md beside the shipped weights (see the module docstring for its sources)."""
    atomic.write_text(DEFAULT_DIR / "MODEL_CARD.md", model_card_text(bench, headline_md, probe, results))
    return DEFAULT_DIR / "MODEL_CARD.md"


def recipe_lines() -> list[str]:
    """Architecture, data and training from the checkpoint's wvm.json, build.json and history.json."""
    b = json.loads((DEFAULT_DIR / "build.json").read_text())
    meta = json.loads((DEFAULT_DIR / "wvm.json").read_text())
    m, t = meta["model"], _train_config(meta)
    history = _json(DEFAULT_DIR / "history.json") or []
    size = sum(f.stat().st_size for f in DEFAULT_DIR.glob("*.safetensors")) / 2**20
    wall = b["wall_time_s"]
    head = {"flow": "flow-matching", "hlgauss": "HL-Gaussian", "scalar": "scalar regression"}.get(
        m.get("value_head", "flow"), m.get("value_head", "flow")
    )
    lr = t["lr"]
    # The warm-up as the log shows it: the first logged step at the peak learning rate.
    peak_step = next((h["step"] for h in history if math.isclose(h.get("lr", math.nan), lr, rel_tol=1e-9)), None)
    lines = [
        f"# Embedded default value model: {b['preset']} trained on RoboSuite",
        "",
        "The `default` value model of `curate label-values` and `value_labeling bench`. Rebuild from scratch with "
        "`make default-model` (bench/build_default_model.py); score with `python -m bench.robosuite_bench`. Every "
        "figure below comes from the checkpoint's build.json, wvm.json and history.json or a result file under "
        "bench/results/ (`tests/test_model_card.py` checks it).",
        "",
        "## Recipe",
        "",
        f"- Architecture: `{m['preset']}` ({m['num_layers']} joint layers, video DiT "
        f"{m['num_attention_heads']}x{m['attention_head_dim']} wide, value stream {m['value_dim']} wide, "
        f"{m['image_size'][0]}x{m['image_size'][1]} frames, chunk h = {m['chunk']} at {m['target_fps']:g} "
        f"fps); {head} value head, text by the packaged all-MiniLM-L6-v2 sentence encoder; weights {size:.1f} MiB "
        "(safetensors).",
        f"- Data: {b['data']['expert_demonstrations']}, camera `{b['data']['camera']}` "
        f"{b['data']['image_size']}x{b['data']['image_size']} (recorded in the checkpoint: labelling reads this camera "
        f"unless --camera says otherwise), {b['data']['fps']} fps; world-model pretraining also saw "
        f"{b['data']['world_model_extra']}. The bench's seeds were never trained on.",
    ]
    if b["data"].get("value_extra"):
        lines.append(f"- Labelled non-expert value data: {b['data']['value_extra']}.")
    lines.append(
        f"- VAE: `value_labeling pretrain-vae`, {b['vae_steps']} steps, {wall['pretrain_vae'] / 60:.1f} min."
        if b.get("vae_steps")
        else "- VAE: the preset's Wan VAE at random init (not trained; Wan2.2's own VAE is pretrained)."
    )
    lines += [
        f"- World model: `value_labeling pretrain-video`, {b['pretrain_video_steps']} steps, batch {b['batch_size']}, "
        f"{wall['pretrain_video'] / 60:.1f} min on this machine.",
        f"- WVM: `value_labeling train --video-model <world model>`, {b['train_steps']} steps, batch "
        f"{b['batch_size']}, the paper's optimizer (Table A.1) at peak lr {lr:g} (the paper's is for the 5B model)"
        + (f", warm-up to the peak by step {peak_step}" if peak_step is not None else "")
        + f", cosine to {t['min_lr_ratio']:g} of the peak, video loss weight lambda = "
        f"{t['video_loss_weight']:g}, prefix p = {t['prefix_p']:g}, rewind "
        f"{t['rewind_ratio']:g} / plateau {t['plateau_ratio']:g}; {wall['train'] / 60:.1f} min.",
        f"- Data generation took {wall['data'] / 60:.1f} min."
        if wall.get("data") is not None
        else "- Data generation: not timed (this build resumed with its data already generated by an earlier run).",
        f"- Machine: {b['machine']}.",
        "",
    ]
    return lines


def _mean(bench: dict, model: str, metric: str):
    """(mean, [lo, hi] or None) of a model's metric: the headline section when there, else the summary."""
    h = bench.get("headline", {}).get(model, {}).get(metric)
    if h is not None:
        return h.get("mean"), h.get("ci95")
    return bench.get("summary", {}).get(model, {}).get(metric, {}).get("mean", {}).get("RoboSuite"), None


def _with_interval(v, ci) -> str:
    """'v [lo, hi]', or v alone where there is no interval."""
    return _f(v) + (f" [{_f(ci[0])}, {_f(ci[1])}]" if ci else "")


def _cell(bench: dict, model: str, metric: str) -> str:
    """'mean [lo, hi]' of a model's metric, or the mean alone where the file has no interval."""
    return _with_interval(*_mean(bench, model, metric))


def _default_name(bench: dict, fingerprint: str) -> tuple[str | None, bool]:
    """(the bench's name for the default model, whether it is this very checkpoint)."""
    for name, info in bench.get("models", {}).items():
        if info.get("spec") == "default" or name.endswith("default"):
            return name, info.get("fingerprint") == fingerprint
    return None, False


def bench_lines(bench: dict | None, fingerprint: str, probe: dict | None = None) -> list[str]:
    from value_labeling.paper import paper_results, paper_value

    lines = ["## RoboSuite Suboptimal-Value-Bench", ""]
    if bench is None:
        return lines + ["Not scored yet: run `python -m bench.robosuite_bench`.", ""]
    name, same = _default_name(bench, fingerprint)
    sizes = bench["bench_sizes"]
    tasks = len({r.get("task") for r in bench.get("trajectories", [])} - {None})
    lines += [
        (f"{tasks} tasks x " if tasks else "Per task: ")
        + f"{sizes['hesitation']} hesitation + {sizes['retry']} retry + {sizes['expert']} expert "
        "trajectories (bench/results/robosuite_bench.md)"
        + ("" if same else f"; note: `{name}` there is another checkpoint than the one shipped here")
        + ". Mean [bootstrap 95% interval over trajectories] where the file has one:",
        "",
        "| metric | this model | time reference | paper's WVM (reported) |",
        "|---|---|---|---|",
    ]
    for k, title in METRICS:
        cells = [_cell(bench, model, k) for model in (name, "time")]
        paper, row = paper_value(k, "RoboSuite"), paper_results()["embodiment_rows"]["RoboSuite"].get(k)
        lines.append(f"| {title} | {cells[0]} | {cells[1]} | {'/' if paper is None else f'{paper:g} ({row} row)'} |")
    seg = bench.get("segments") or {}
    if seg:
        lines += [
            "",
            "Segments: "
            + "; ".join(
                f"{mode}: median {d.get('median_scored_frames')} scored frames inside [m, n], mean trajectory "
                f"{_f(d.get('mean_T_seconds'), 1)} s, mean segment {_f(d.get('mean_segment_seconds'), 1)} s"
                for mode, d in seg.items()
                if d.get("median_scored_frames") is not None  # expert trajectories have no segment
            )
            + " (bench/results/robosuite_bench.json `segments`).",
        ]
    t = target_verdicts(bench, name, probe, fingerprint)
    where = "the targets in robosuite_bench.json" if bench.get("targets") else "the paper's reported numbers"
    lines += ["", f"Mean [95% interval] against {where}: " + "; ".join(t["headline"]) + "."]
    lines += [line for extra in ("below_time", "ending") if t[extra] for line in ("", t[extra] + ".")]
    return lines + [""]


def probed_name(probe: dict | None, fingerprint: str | None) -> str | None:
    """The name baseline_probe.json gives the checkpoint `fingerprint` (None: the probe never scored it)."""
    models = (probe or {}).get("models") or {}
    return next((n for n, m in models.items() if fingerprint and m.get("fingerprint") == fingerprint), None)


def _meets(x, op: str, target: float) -> bool:
    return x is not None and (x <= target if op == "<=" else x >= target)


def target_verdicts(bench: dict, name: str | None, probe: dict | None, fingerprint: str | None) -> dict:
    """Issue 13's targets for the model the bench calls `name`, each met or missed with its interval, in the
    words the card and the README's bench block both print: {"headline": [one per metric], "below_time": text
    or None, "ending": text or None (from the baseline probe, when it scored the checkpoint `fingerprint`)}.
    Without recorded targets the paper's reported numbers are the bar."""
    from value_labeling.paper import paper_value

    targets = bench.get("targets") or {
        k: ["<=" if k == "hesitation_rmse" else ">=", paper_value(k, "RoboSuite")]
        for k, _ in METRICS
        if paper_value(k, "RoboSuite") is not None
    }
    headline = []
    for k, title in METRICS:
        if k not in targets:
            continue
        op, tgt = targets[k]
        v, ci = _mean(bench, name, k)
        ok = _meets(v, op, tgt)
        # the verdict is the mean's; an interval on both sides of the target says the bench cannot tell
        straddles = bool(ci) and _meets(ci[0], op, tgt) != _meets(ci[1], op, tgt)
        headline.append(
            f"{title} {_with_interval(v, ci)} {'meets' if ok else 'misses'} {op} {tgt:g}"
            + (" (at the mean; the interval straddles the target)" if straddles else "")
        )
    below = ending = None
    bt = (bench.get("below_time") or {}).get(name)
    if bt:
        below = (
            f"Hesitation-RMSE at least 30% below `time`'s ({bt['rule']}, paired over {bt['n_pairs']} "
            f"trajectories): {bt['mean']:+.3f} [{bt['ci95'][0]:+.3f}, {bt['ci95'][1]:+.3f}], "
            f"{'met' if bt['met'] else 'missed'}"
        )
    mine = probed_name(probe, fingerprint)
    e = probe["features"][mine].get("end_within_005") if mine is not None else None
    if e:
        ending = (
            f"Successful episodes end within 0.05 of 1 (every bench trajectory ends in success; "
            f"bench/results/baseline_probe.json `end_within_005`): {e['mean']:.3f} of {e['n']} trajectories "
            f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}], {'met' if e['mean'] >= 1 - 1e-9 else 'missed'} "
            "(the target asks it of every one)"
        )
    return {"headline": headline, "below_time": below, "ending": ending}


def experiment_lines(results: Path, fingerprint: str) -> list[str]:
    """What was tried around the recipe, each item from its result file; items whose file is absent are left out."""
    meta = json.loads((DEFAULT_DIR / "wvm.json").read_text())
    t = _train_config(meta)
    b = json.loads((DEFAULT_DIR / "build.json").read_text())
    items = []
    abl = _json(results / "wvm_ablations.json")
    abl_av = _json(results / "wvm_ablations_agentview.json")
    for path in sorted(results.glob("robosuite_bench_v1*.json")):  # earlier benches (v1 generator)
        v1 = json.loads(path.read_text())
        name, same = _default_name(v1, fingerprint)
        sz = v1["bench_sizes"]
        cams = {r["model"]: r.get("camera", "").rsplit(".", 1)[-1] for r in v1.get("trajectories", [])}
        others = [
            f"`{o}` (camera `{cams.get(o)}`) {_scores({k: _mean(v1, o, k)[0] for k, _ in METRICS})}"
            for o in v1.get("models", {})
            if o not in (name, "time")
        ]
        items.append(
            f"- Earlier bench, {sz['hesitation']} hesitation + {sz['retry']} retry + {sz['expert']} expert per task "
            f"({path.with_suffix('.md').name}), H-RMSE / Retry-VOC / Expert-VOC: "
            f"{'this model' if same else f'`{name}` (another checkpoint)'} "
            f"{_scores({k: _mean(v1, name, k)[0] for k, _ in METRICS})}, `time` "
            f"{_scores({k: _mean(v1, 'time', k)[0] for k, _ in METRICS})}"
            + ("; " + "; ".join(others) if others else "")
            + "."
        )
    for path in sorted(results.glob("robosuite_bench_previous*.json")):  # earlier checkpoints on today's bench
        items.append(previous_item(path, fingerprint))
    for d, f in ((abl, "wvm_ablations"), (abl_av, "wvm_ablations_agentview")):
        if d is None:
            continue
        cam = d.get("camera") or (re.search(r"--camera (\S+)", d["command"]) or [None, "the script's default"])[1]
        rows = d["rows"]
        lines = [
            f"- Ablations ({f}.md): camera `{cam}`, {d['steps']} steps each, peak lr {d['lr']:g}, same bench of "
            f"{d['bench_sizes']['hesitation']} + {d['bench_sizes']['retry']} + {d['bench_sizes']['expert']} per task; "
            "paired difference from the row `default` +- its standard error:",
            "",
            "  | row | Hesitation-RMSE | Retry-VOC | Expert-VOC |",
            "  |---|---|---|---|",
        ]
        for row, r in rows.items():
            cells = []
            for k, _ in METRICS:
                diff, se = (r.get("paired", {}).get(k) or [None, None])[:2]
                paired = "" if row == "default" or diff is None else f" ({diff:+.3f} +- {se:.3f})"
                cells.append(_f(r["scores"].get(k)) + paired)
            lines.append(f"  | {row} | " + " | ".join(cells) + " |")
        best = max(rows, key=lambda r: rows[r]["scores"].get("retry_voc") or -math.inf)
        lines += [
            "",
            f"  Best Retry-VOC: `{best}` ({_f(rows[best]['scores'].get('retry_voc'))}).",
        ]
        items.append("\n".join(lines))
    rp = _json(results / "retreat_probe.json")
    if rp is not None:
        fps = rp.get("models", {})
        lines = [
            f"- Retreat probe (retreat_probe.md, {rp['trajectories']} expert trajectories at {rp['fps']:g} fps): VOC "
            "against the falling ground truth when an expert video is played fully reversed, or retraced backwards "
            "from its middle (+1 = the values fall with it)"
            + (", mean [bootstrap 95% interval over trajectories]" if rp.get("ci95") else "")
            + (
                ""
                if fps
                else "; the file records no fingerprints, so `default` is the default when the probe ran, "
                "not necessarily this checkpoint"
            )
            + ":",
            "",
            "  | model | Expert-VOC (forward) | reversed | retraced from the middle |",
            "  |---|---|---|---|",
        ]
        for model, r in rp["summary"].items():
            label = "this model" if fps.get(model, {}).get("fingerprint") == fingerprint else f"`{model}`"
            ci = rp.get("ci95", {}).get(model, {})
            cells = [_with_interval(r.get(k), ci.get(k)) for k in ("expert_voc", "reversed", "long_retreat")]
            lines.append(f"  | {label} | " + " | ".join(cells) + " |")
        items.append("\n".join(lines))
    if not items:
        return []
    experts_only = all(str(p).endswith("_expert") for p in t["roots"])
    return [
        "## What was tried (bench/results/)",
        "",
        *items,
        "",
        f"The shipped recipe: {meta['model'].get('value_head', 'flow')} head, prefix p = {t['prefix_p']:g}, "
        + ("expert demonstrations only as value data" if experts_only else "expert and labelled non-expert value data")
        + f", {b['train_steps']} steps. Untested here: larger frames (this model reads "
        f"{meta['model']['image_size'][0]}x{meta['model']['image_size'][1]}) and much longer training.",
        "",
    ]


def previous_item(path: Path, fingerprint: str) -> str:
    """One 'What was tried' item: models scored on the current bench before this build (a results file of
    `python -m bench.robosuite_bench --name robosuite_bench_previous... --note ...`), each with its intervals,
    and the shipped model's row of the current bench beside them when that file has it."""
    prev = json.loads(path.read_text())
    cur = _json(path.parent / "robosuite_bench.json") or {}
    name, same = _default_name(cur, fingerprint)

    def scores(bench: dict, model: str) -> str:
        return " / ".join(_cell(bench, model, k) for k, _ in METRICS)

    rows = [f"`{m}` {scores(prev, m)}" for m in prev.get("models", {}) if m != "time"]
    if name and same and cur.get("generator") == prev.get("generator"):
        rows.append(f"this model {scores(cur, name)}")
    sz = prev["bench_sizes"]
    return (
        f"- Same bench ({sz['hesitation']} hesitation + {sz['retry']} retry + {sz['expert']} expert per task, "
        f"generator {prev.get('generator', 'v1')}), models scored before this build ({path.with_suffix('.md').name})"
        + (f": {prev['note'].rstrip('.')}" if prev.get("note") else "")
        + ". H-RMSE / Retry-VOC / Expert-VOC, mean [95% interval]: before, "
        + "; ".join(rows)
        + "."
    )


def baseline_lines(headline_md: str, probe: dict | None = None, fingerprint: str | None = None) -> list[str]:
    """The card's comparison with the learned baselines (issue 21), around the bench's headline tables."""
    from value_labeling.baselines import SHIPPED

    lines = [
        "## Beside learned baselines",
        "",
        "Small CNNs trained on this model's data (the same datasets, seeds, camera and labels) by "
        "`python -m bench.build_baselines` (`value_labeling train-baseline`), scored beside it in "
        "bench/results/robosuite_bench.json:",
        "",
    ]
    for name, d in SHIPPED.items():
        if (d / "build.json").is_file():
            b = json.loads((d / "build.json").read_text())
            m = (_json(d / "baseline.json") or {}).get("model", {})
            seen = (
                f"the last {m['context']} frames at {m['context_fps']:g} fps"
                if m.get("context") not in (None, 1)
                else "one frame"
            )
            extra = f" + {b['data']['value_extra']}" if b["data"].get("value_extra") else ""
            lines.append(
                f"- `{name}` ({seen}, plus a task embedding): {b['data']['expert_demonstrations']}{extra}, "
                f"{b['steps']} steps, batch {b['batch_size']}, {b['wall_time_s']['train'] / 60:.1f} min on "
                f"{b['machine']}."
            )
    lines += [
        "",
        headline_md,
        "",
        "The default stays this WVM: it is the method this toolkit implements. A baseline that wins a metric "
        "shows where the WVM recipe at this scale falls short.",
    ]
    if probe is not None:
        lines += [
            "",
            f"Why, from the value curves (bench/results/baseline_probe.md, `{probe['command']}`):",
            "",
            probe["table_md"],
        ]
        lines += probe_reading(probe, fingerprint)
    return lines


#: Probe features a reading names, what the ground truth is, and what a gap on each one costs.
PROBE_READING = (
    ("end_drop_frac", "ends with a drop of more than 0.05 (share of trajectories; ground truth 0)", "Expert-VOC"),
    ("end_value", "last value (ground truth 1)", "Expert-VOC and `curate flag`'s falls"),
    ("stall_climb", "rise across a hesitation (ground truth 0)", "Hesitation-RMSE"),
    ("retreat_step", "change across a retraction (ground truth below 0)", "Retry-VOC"),
)


def probe_reading(probe: dict, fingerprint: str | None) -> list[str]:
    """Where the shipped model's curves differ from each learned baseline's beyond both 95% intervals, in
    words, from baseline_probe.json (nothing when the probe did not score this checkpoint)."""
    mine = probed_name(probe, fingerprint)
    if mine is None:
        return ["", "(The probe file scored another checkpoint than this one; rerun `python -m bench.baseline_probe`.)"]
    f = probe["features"]
    out = ["", "Read from that table (a difference counts where the two 95% intervals do not overlap):", ""]
    for key, what, metric in PROBE_READING:
        a = f[mine][key]
        parts = []
        for other in (n for n in f if n.startswith("baseline-")):
            b = f[other][key]
            if a["ci95"][1] < b["ci95"][0] or b["ci95"][1] < a["ci95"][0]:
                parts.append(f"`{other}` {b['mean']:+.3f}")
        if parts:
            out.append(f"- {what}: this model {a['mean']:+.3f}, against {', '.join(parts)}; it shows in {metric}.")
    if len(out) == 3:
        out.append("- no feature differs beyond both intervals from a learned baseline's.")
    return out
