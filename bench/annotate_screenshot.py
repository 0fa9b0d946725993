"""The README's picture of `value_labeling annotate`: bench/results/annotate_page.png (+ .md).

A session as a user would run it on their own recordings: a RoboSuite Lift dataset with hesitations
(`robosuite_eval generate --generator v1`, 128x128, its annotation table removed so every episode is to do), stage-1
proposals from the embedded default value model (`--propose values`; the dataset has no value column),
then stage 2 in headless Chromium: episode 0 saved, episode 1 opened, its proposal accepted. The .md
beside the PNG lists, per episode, the proposed segments against the generator's own [m, n] (which the
page does not see), so the picture's claims can be checked.

    nice -n 10 .venv/bin/python -m bench.annotate_screenshot [--work /tmp/annotate_shot] [--episodes 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from testing.browser import launch_chromium

RESULTS = Path(__file__).parent / "results"


def iou(a0, a1, b0, b1) -> float:
    inter = max(0, min(a1, b1) - max(a0, b0) + 1)
    return inter / (max(a1, b1) - min(a0, b0) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/annotate_shot"))
    ap.add_argument("--episodes", type=int, default=4)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from robodata.annotations import ANNOTATIONS_FILE, read_annotations
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate
    from value_labeling.annotate.app import RunningServer, create_app
    from value_labeling.annotate.config import AnnotateConfig

    src = args.work / "lift_hesitation"
    run_generate(
        GenerateConfig(
            out=src,
            task="lift",
            mode="hesitation",
            episodes=args.episodes,
            seed=0,
            image_size=128,
            workers=0,
            generator="v1",  # the committed picture's data (made when v1 was the default)
        )
    )  # resumes: a rerun generates nothing
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

    # Stage 2 as a user does it, with the mouse and keys: episode 0 marked with [ and ] and saved; then
    # the first episode with a proposal: accepted (A) and its handles dragged to the generator's [m, n].
    shown = next((ep for ep, pr in proposals.items() if ep > 0 and pr.segments), 1)
    with RunningServer(app) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 980})
        page.goto(server.url)

        def at(frame: float, lane: str, which: str = "start"):
            box, tl = page.locator("#timeline").bounding_box(), page.evaluate("() => annotator.TL")
            x = page.evaluate(f"() => annotator.frameToX({frame}, '{which}')")
            return box["x"] + x, box["y"] + (tl["axisTop"] + 8 if lane == "axis" else tl["accTop"] + tl["accH"] / 2)

        def open_episode(ep: int):
            page.click(f'#episodes li[data-ep="{ep}"]')
            page.wait_for_function(
                f"() => annotator.S.ep === {ep} && annotator.S.proposal !== null && "
                f"annotator.S.loaded === {truth[ep]['T']}"
            )

        open_episode(0)
        page.mouse.click(*at(truth[0]["m"] + 0.5, "axis"))
        page.keyboard.press("[")
        page.mouse.click(*at(truth[0]["n"] + 0.5, "axis"))
        page.keyboard.press("]")
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('status').className === 'ok'")
        open_episode(shown)
        r = truth[shown]
        if proposals[shown].segments:
            page.keyboard.press("a")
            (seg,) = page.evaluate("() => annotator.S.accepted")
            for which, src, dst in (("start", seg["start"], r["m"]), ("end", seg["end"], r["n"])):
                page.mouse.move(*at(src, "acc", which))
                page.mouse.down()
                page.mouse.move(*at(dst, "acc", which), steps=8)
                page.mouse.up()
        else:
            page.mouse.click(*at(r["m"] + 0.5, "axis"))
            page.keyboard.press("[")
            page.mouse.click(*at(r["n"] + 0.5, "axis"))
            page.keyboard.press("]")
        page.keyboard.press("1")
        page.mouse.click(*at(r["m"] + 0.5, "axis"))
        accepted = page.evaluate("() => annotator.S.accepted")
        page.wait_for_timeout(300)
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "annotate_page.png"
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}; episode {shown} shown with accepted {accepted}")

    command = f"    nice -n 10 .venv/bin/python -m bench.annotate_screenshot --episodes {args.episodes}"
    about = (
        f"Dataset: `robosuite_eval generate --task lift --mode hesitation --episodes {args.episodes} --seed 0 "
        f"--image-size 128 --generator v1`, annotation table removed. Proposals: {session.proposer.source} (default rule of "
        "`curate flag`). The page shows the agentview camera; the model reads its training camera. "
        "Truth is the generator's own stall [m, n], which the page does not see. In the picture, episode 0 "
        f"was marked with `[`/`]` and saved; episode {shown} shows its proposal accepted with `A` and both "
        "handles dragged with the mouse to the generator's [m, n] (the script stands in for the annotator)."
    )
    lines = [
        "# `value_labeling annotate`: the page and its stage-1 proposals",
        "",
        command,
        "",
        about,
        "",
        "| episode | T | truth [m, n] | proposed segments | best IoU with truth |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for ep, prop in proposals.items():
        r = truth[ep]
        segs = ", ".join(f"{s['kind']} [{s['start']}, {s['end']}]" for s in prop.segments) or "none"
        best = max((iou(s["start"], s["end"], r["m"], r["n"]) for s in prop.segments), default=0.0)
        rows.append({"episode": ep, "T": r["T"], "m": r["m"], "n": r["n"], "proposed": prop.segments, "best_iou": best})
        lines.append(f"| {ep} | {r['T']} | [{r['m']}, {r['n']}] | {segs} | {best:.2f} |")
    found = sum(x["best_iou"] >= 0.2 for x in rows)
    found_line = (
        f"Stalls found (IoU >= 0.2, `curate flag`'s matching rule): {found} of {len(rows)} episodes "
        f"(n = {len(rows)}: an illustration of the page, not a benchmark; `bench/flag_segments.py` scores "
        "the rule)."
    )
    lines += ["", found_line, "", "![page](annotate_page.png)", ""]
    (RESULTS / "annotate_page.md").write_text("\n".join(lines))
    (RESULTS / "annotate_page.json").write_text(
        json.dumps(
            {"command": " ".join(sys.argv), "shown_episode": shown, "accepted": accepted, "rows": rows}, indent=1
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
