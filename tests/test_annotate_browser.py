"""`value_labeling annotate` in a real browser: Debian's Chromium driven by Playwright (no browser
download). On a dataset written by lerobot's own writer and on a RoboSuite dataset served by the real
CLI: step frames, play, accept a proposal, drag a handle, split and undo, save, and read the row back."""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from robodata.annotations import ANNOTATIONS_FILE, read_annotations
from robodata.dataset import open_dataset, read_episode_frames
from testing.browser import CHROMIUM, launch_chromium
from testing.synthetic_bench import CAMERA
from value_labeling.annotate.app import RunningServer, create_app
from value_labeling.annotate.config import AnnotateConfig

ROOT = Path(__file__).resolve().parents[1]
WAIT_MS = 10_000  # each wait in the page; a whole test is capped at 60 s (pytest-timeout)
SERVER_START_S = 40  # the CLI subprocess imports torch and lerobot before it listens


@pytest.fixture(scope="module")
def browser():
    # A missing browser or driver fails the suite (never skips): scripts/install_system.sh installs
    # chromium, pyproject's [test] extra installs playwright.
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/install_system.sh)"
    with sync_playwright() as p:
        b = launch_chromium(p, timeout=WAIT_MS * 3)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser):
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.set_default_timeout(WAIT_MS)
    try:
        yield pg
    finally:
        pg.close()


def S(page, expr):
    return page.evaluate(f"() => annotator.S.{expr}")


def wait(page, expr):
    """Poll every 100 ms (not every animation frame) for at most WAIT_MS."""
    page.wait_for_function(expr, polling=100, timeout=WAIT_MS)


def wait_episode(page, ep, proposal=True):
    wait(
        page,
        f"() => annotator.S.ep === {ep} && document.getElementById('frame').dataset.frame === "
        f"String(annotator.S.frame)" + (" && annotator.S.proposal !== null" if proposal else ""),
    )


def shown_frame(page, expected):
    wait(page, f"() => document.getElementById('frame').dataset.frame === '{expected}'")
    return int(page.get_attribute("#frame", "data-frame"))


def canvas_pixels(page) -> np.ndarray:
    data = page.evaluate("""() => { const c = document.getElementById('frame');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
    w, h = page.evaluate("() => [document.getElementById('frame').width, document.getElementById('frame').height]")
    return np.asarray(data, dtype=float).reshape(h, w, 4)[..., :3]


def timeline_point(page, frame: float, lane: str, which="start"):
    """Page coordinates of `frame` on the timeline, in the lane ('acc', 'prop' or 'axis')."""
    box = page.locator("#timeline").bounding_box()
    tl = page.evaluate("() => annotator.TL")
    x = page.evaluate(f"() => annotator.frameToX({frame}, '{which}')")
    y = {"acc": tl["accTop"] + tl["accH"] / 2, "prop": tl["propTop"] + tl["propH"] / 2, "axis": tl["axisTop"] + 8}[lane]
    return box["x"] + x, box["y"] + y


@pytest.mark.timeout(60, func_only=True)
def test_page_on_a_lerobot_written_dataset(page, dataset, tmp_path):
    from test_annotate import first, write_truth_column

    truth = {r["episode_index"]: r for r in read_annotations(dataset)}
    (dataset / ANNOTATIONS_FILE).unlink()
    write_truth_column(dataset, truth)  # a value column: the page shows its curve and its stall/fall proposals
    h = first(truth, "hesitation")
    T = truth[h]["T"]
    native = read_episode_frames(open_dataset(dataset), h, CAMERA)
    with RunningServer(create_app(AnnotateConfig(dataset=dataset, propose="values"), background=False)) as server:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        wait_episode(page, 0)  # the first episode to do opens by itself
        assert page.locator("#episodes li").count() == len(truth)
        assert page.locator("#episodes li.todo").count() == len(truth)  # every episode listed, all to do
        page.click(f'#episodes li[data-ep="{h}"]')
        wait_episode(page, h)
        wait(page, f"() => annotator.S.loaded === {T}")
        assert len(S(page, "proposal.values")) == T and S(page, "mode") == "hesitation"  # suggested by the stall

        # Frame-accurate stepping: → ×3, Shift+→, ←; the canvas shows exactly that frame's pixels.
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        assert shown_frame(page, 3) == 3
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("ArrowLeft")
        assert shown_frame(page, 12) == 12 and "frame 12 / " in page.inner_text("#frame-label")
        shown = canvas_pixels(page)
        err = np.array([np.abs(shown - f).mean() for f in native])
        differ = [j for j in range(T) if np.abs(native[j].astype(float) - native[12]).mean() > 1]
        assert err[12] < 3 and err[12] < err[differ].min()  # frame 12, not a neighbour that looks different
        # Play / pause.
        page.keyboard.press(" ")
        wait(page, "() => annotator.S.frame >= 15")
        page.keyboard.press(" ")
        assert S(page, "playing") is False

        # Accept the proposal under… (the stall), then drag its end handle two frames right.
        page.keyboard.press("a")
        (prop,) = S(page, "proposal.segments")
        assert S(page, "accepted") == [{"start": prop["start"], "end": prop["end"]}]
        a, b = prop["start"], prop["end"]
        page.mouse.move(*timeline_point(page, b, "acc", "end"))
        page.mouse.down()
        page.mouse.move(*timeline_point(page, b + 2, "acc", "end"), steps=6)
        page.mouse.up()
        assert S(page, "accepted") == [{"start": a, "end": b + 2}]
        assert shown_frame(page, b + 2) == b + 2  # the boundary frame is shown while dragging

        # Click the axis to seek, split there, merge back, undo the merge and the split.
        page.mouse.click(*timeline_point(page, a + 4.5, "axis"))
        assert S(page, "frame") == a + 4
        page.keyboard.press("s")
        assert S(page, "accepted") == [{"start": a, "end": a + 3}, {"start": a + 4, "end": b + 2}]
        page.keyboard.press("m")
        assert S(page, "accepted") == [{"start": a, "end": b + 2}]
        page.keyboard.press("z")
        page.keyboard.press("z")
        assert S(page, "accepted") == [{"start": a, "end": b + 2}]  # undone twice: back before the split
        page.keyboard.press("z")
        assert S(page, "accepted") == [{"start": a, "end": b}]  # and the drag

        # Replay the segment: it plays from its start and stops at its end.
        page.keyboard.press("r")
        wait(page, f"() => !annotator.S.playing && annotator.S.frame === {b}")

        page.keyboard.press("1")
        page.keyboard.press("Enter")
        wait(page, "() => document.getElementById('status').className === 'ok'")
        assert f"saved episode {h}" in page.inner_text("#status")
        assert page.locator(f'#episodes li[data-ep="{h}"].done').count() == 1
        page.screenshot(path=str(tmp_path / "annotate_page.png"))

        # Leaving an edited episode saves it: accept the retry episode's fall, then open another episode.
        r = first(truth, "retry")
        page.click(f'#episodes li[data-ep="{r}"]')
        wait_episode(page, r)
        page.keyboard.press("a")
        (fall,) = S(page, "accepted")
        assert S(page, "mode") == "retry"
        page.click('#episodes li[data-ep="0"]')
        wait_episode(page, 0)
        assert f"saved episode {r} on leaving it" in page.inner_text("#status")
        assert errors == []
    rows = {x["episode_index"]: x for x in read_annotations(dataset)}
    assert rows[h] == {
        "episode_index": h,
        "mode": "hesitation",
        "m": a,
        "n": b,
        "T": T,
        "embodiment": "Synthetic",
        "task": "slide the square to the goal",
    }
    assert (rows[r]["mode"], rows[r]["m"], rows[r]["n"]) == ("retry", fall["start"], fall["end"]) and len(rows) == 2
    assert (tmp_path / "annotate_page.png").stat().st_size > 20_000


@pytest.fixture(scope="module")
def robosuite_ds(tmp_path_factory):
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate

    out = tmp_path_factory.mktemp("rs") / "lift_hes"
    run_generate(GenerateConfig(out=out, task="lift", mode="hesitation", episodes=1, seed=0, image_size=32, workers=0))
    return out


@pytest.mark.timeout(60, func_only=True)
def test_page_on_a_robosuite_dataset_served_by_the_cli(page, robosuite_ds):
    (before,) = read_annotations(robosuite_ds)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "value_labeling.cli",
            "annotate",
            str(robosuite_ds),
            "--port",
            "0",
            "--propose",
            "none",
            "--camera",
            "agentview",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        # A reader thread drains the server's output (a full pipe would block it) into a queue.
        out, lines, url = queue.Queue(), [], None
        threading.Thread(target=lambda: [out.put(x) for x in proc.stdout], daemon=True).start()
        deadline = time.monotonic() + SERVER_START_S
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                lines.append(out.get(timeout=1))
            except queue.Empty:
                continue
            found = re.search(r"open (http://127\.0\.0\.1:\d+) \(bound to loopback", lines[-1])
            url = found.group(1) if found else None
        assert url, "".join(lines)
        assert any("1 already annotated" in x for x in lines) and any(
            "reachable from this machine only" in x for x in lines
        )

        page.goto(url)
        wait_episode(page, 0)
        m, n, T = before["m"], before["n"], before["T"]
        assert S(page, "mode") == "hesitation" and S(page, "accepted") == [{"start": m, "end": n}]  # resumed
        assert page.evaluate("() => document.getElementById('frame').width") == 32
        # Switch to the wrist camera: frames reload from that camera's video.
        page.select_option("#camera", "observation.images.robot0_eye_in_hand")
        wait(page, f"() => annotator.S.loaded === {T}")
        # Move the segment's start one frame earlier with the keyboard: seek to m - 1, press [.
        page.mouse.click(*timeline_point(page, m - 1 + 0.5, "axis"))
        assert S(page, "frame") == m - 1
        page.keyboard.press("[")
        assert S(page, "accepted") == [{"start": m - 1, "end": n}]
        page.keyboard.press("Enter")
        wait(page, "() => document.getElementById('status').className === 'ok'")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (after,) = read_annotations(robosuite_ds)
    assert after == {**before, "m": m - 1}  # embodiment "RoboSuite" and task "lift" kept
