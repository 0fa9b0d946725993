"""The README's picture of `value_labeling annotate`: bench/results/annotate_page.png (+ .md).

A session as a user would run it on their own recordings: a RoboSuite Lift dataset with hesitations
(`robosuite_eval generate`, 128x128, its annotation table removed so every episode is to do), stage-1
proposals from the embedded default value model (`--propose values`; the dataset has no value column),
then stage 2 in headless Chromium: episode 0 saved, episode 1 opened, its proposal accepted. The .md
beside the PNG lists, per episode, the proposed segments against the generator's own [m, n] (which the
page does not see), so the picture's claims can be checked.

    nice -n 10 .venv/bin/python bench/annotate_screenshot.py [--work /tmp/annotate_shot] [--episodes 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def iou(a0, a1, b0, b1) -> float:
    inter = max(0, min(a1, b1) - max(a0, b0) + 1)
    return inter / (max(a1, b1) - min(a0, b0) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/annotate_shot"))
    ap.add_argument("--episodes", type=int, default=4)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate
    from value_labeling.annotate.app import RunningServer, create_app
    from value_labeling.annotate.config import AnnotateConfig
    from value_labeling.bench.annotations import ANNOTATIONS_FILE, read_annotations

    src = args.work / "lift_hesitation"
    run_generate(GenerateConfig(out=src, task="lift", mode="hesitation", episodes=args.episodes, seed=0,
                                image_size=128, workers=0))  # resumes: a rerun generates nothing
    truth = {r["episode_index"]: r for r in read_annotations(src)}
    ds = args.work / "session"
    if ds.exists():
        shutil.rmtree(ds)
    shutil.copytree(src, ds)
    (ds / ANNOTATIONS_FILE).unlink()

    cfg = AnnotateConfig(dataset=ds, propose="values", camera="agentview")
    app = create_app(cfg, background=False)
    session = app.state.session
    t0 = time.time()
    proposals = {ep: session.proposer.get(ep) for ep in sorted(truth)}
    print(f"proposals for {len(proposals)} episodes in {time.time() - t0:.1f} s ({session.proposer.source})")

    with RunningServer(app) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 940})
        page.goto(server.url)
        page.wait_for_function("() => annotator.S.ep === 0 && annotator.S.proposal !== null")
        r0 = truth[0]
        page.evaluate(f"() => {{ annotator.S.accepted = [{{start: {r0['m']}, end: {r0['n']}}}]; }}")
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('status').className === 'ok'")
        page.click('#episodes li[data-ep="1"]')
        page.wait_for_function(f"() => annotator.S.ep === 1 && annotator.S.proposal !== null && "
                               f"annotator.S.loaded === {truth[1]['T']}")
        page.keyboard.press("a")
        segs = page.evaluate("() => annotator.S.accepted")
        if segs:  # playhead a few frames into the accepted segment, as while checking its start
            for _ in range(segs[0]["start"] + 3):
                page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "annotate_page.png"
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}")

    lines = ["# `value_labeling annotate`: the page and its stage-1 proposals", "",
             "    nice -n 10 .venv/bin/python bench/annotate_screenshot.py --episodes " f"{args.episodes}", "",
             f"Dataset: `robosuite_eval generate --task lift --mode hesitation --episodes {args.episodes} --seed 0 "
             f"--image-size 128`, annotation table removed. Proposals: {session.proposer.source} (default rule of "
             "`curate flag`). The page shows the agentview camera; the model reads its training camera. "
             "Truth is the generator's own stall [m, n], which the page does not see.", "",
             "| episode | T | truth [m, n] | proposed segments | best IoU with truth |", "|---|---|---|---|---|"]
    rows = []
    for ep, prop in proposals.items():
        r = truth[ep]
        segs = ", ".join(f"{s['kind']} [{s['start']}, {s['end']}]" for s in prop.segments) or "none"
        best = max((iou(s["start"], s["end"], r["m"], r["n"]) for s in prop.segments), default=0.0)
        rows.append({"episode": ep, "T": r["T"], "m": r["m"], "n": r["n"], "proposed": prop.segments, "best_iou": best})
        lines.append(f"| {ep} | {r['T']} | [{r['m']}, {r['n']}] | {segs} | {best:.2f} |")
    found = sum(x["best_iou"] >= 0.2 for x in rows)
    lines += ["", f"Stalls found (IoU >= 0.2, `curate flag`'s matching rule): {found} of {len(rows)} episodes "
              f"(n = {len(rows)}: an illustration of the page, not a benchmark; `bench/flag_segments.py` scores "
              "the rule).", "", "![page](annotate_page.png)", ""]
    (RESULTS / "annotate_page.md").write_text("\n".join(lines))
    (RESULTS / "annotate_page.json").write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
