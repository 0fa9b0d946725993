"""`value_labeling annotate`: the HTTP API through the ASGI test client, on real LeRobot v3.0 files
written by lerobot's own writer (the synthetic bench), and the `vlm` proposals against a local
OpenAI-format server."""

import io
import json
import threading

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from robodata.annotations import ANNOTATIONS_FILE, read_annotations
from robodata.columns import commit_columns, lock_path
from robodata.dataset import frame_table, open_dataset, read_episode_frames
from robodata.ground_truth import progress_curve
from robodata.resample import resample_indices
from testing.synthetic_bench import CAMERA
from value_labeling.annotate.app import RunningServer, create_app
from value_labeling.annotate.config import AnnotateConfig
from value_labeling.annotate.proposals import VLM_CACHE_FILE
from value_labeling.annotate.vlm import PROMPT_TAIL
from value_labeling.cli import main as value_labeling
from value_labeling.models import available_models, register_value_model


@pytest.fixture(scope="module")
def truth(synthetic_bench):
    """The synthetic bench's own annotation rows (episode 0 expert, 1-2 hesitation, 3-4 retry, ...)."""
    return {r["episode_index"]: r for r in read_annotations(synthetic_bench)}


def first(truth, mode):
    return min(ep for ep, r in truth.items() if r["mode"] == mode)


@pytest.fixture()
def unannotated(dataset):
    """A writable copy of the synthetic bench without its table: every episode is to do."""
    (dataset / ANNOTATIONS_FILE).unlink()
    return dataset


def client(root, **kw) -> TestClient:
    cfg = AnnotateConfig(dataset=root, **{"propose": "none", **kw})
    return TestClient(create_app(cfg, background=False), base_url="http://127.0.0.1")


def write_truth_column(root, truth_rows, name="value"):
    """The bench's ground-truth curves as a per-frame value column (what a perfect value model writes)."""
    frames = frame_table(root)
    values = np.zeros(len(frames["index"]), np.float32)
    for ep, r in truth_rows.items():
        sel = frames["episode_index"] == ep
        values[frames["index"][sel]] = progress_curve(r["mode"], r["T"], r["m"], r["n"])[frames["frame_index"][sel]]
    commit_columns(root, {name: values}, {name: {"model": "ground truth"}})


class SquareTracker:
    """A value model that reads the synthetic bench's video: progress is where the bright square is."""

    name, target_fps = "annotate-test-square", None

    def fingerprint(self):
        return "square-v1"

    def predict(self, frames, fps, instruction):
        size = frames.shape[2]
        s = max(2, size // 6)
        bright = frames[..., 0].astype(float) > 150  # the square is (240, 200, 40), the goal grey
        cols = np.array([np.flatnonzero(b.any(axis=0))[0] if b.any() else 0 for b in bright])
        return np.clip(cols / (size - 2 * s - 2), 0, 1)


if SquareTracker.name not in available_models():
    register_value_model(SquareTracker.name)(SquareTracker)


# ------------------------------------------------------------------------------ list, frames, propose


def test_lists_every_episode_as_todo_then_serves_exact_frames(unannotated, truth):
    c = client(unannotated)
    info = c.get("/api/info").json()
    assert info["cameras"] == [CAMERA] and info["fps"] == 10 and info["embodiment"] == "Synthetic"
    eps = c.get("/api/episodes").json()
    assert [e["episode_index"] for e in eps] == sorted(truth)
    assert all(e["status"] == "todo" and e["annotation"] is None for e in eps)
    assert [e["T"] for e in eps] == [truth[ep]["T"] for ep in sorted(truth)]
    assert c.get("/api/episodes/1").json()["task"] == "slide the square to the goal"

    ds = open_dataset(unannotated)
    ep = first(truth, "hesitation")
    T = truth[ep]["T"]
    native = read_episode_frames(ds, ep, CAMERA)
    for i in (0, 5, truth[ep]["m"] - 3, T - 1):
        r = c.get(f"/api/episodes/{ep}/frames/{i}", params={"camera": "front"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"), dtype=float)
        err = np.abs(img - native[i]).mean()
        others = [
            np.abs(img - native[j]).mean() for j in range(T) if np.abs(native[j].astype(float) - native[i]).mean() > 5
        ]
        assert err < 3 and min(others) > 2 * err  # frame i, not a neighbour (JPEG error is small)


def test_values_proposals_from_the_value_column_find_the_annotated_segments(unannotated, truth):
    write_truth_column(unannotated, truth)
    c = client(unannotated, propose="values")
    assert c.get("/api/info").json()["source"] == "values: column 'value'"
    for ep, r in truth.items():
        p = c.get(f"/api/episodes/{ep}/proposal").json()
        np.testing.assert_allclose(p["values"], progress_curve(r["mode"], r["T"], r["m"], r["n"]), atol=1e-4)
        if r["mode"] == "expert":
            assert p["segments"] == []
            continue
        (seg,) = p["segments"]
        assert seg["kind"] == {"hesitation": "stall", "retry": "fall"}[r["mode"]]
        # smoothing moves the ends by at most half the 0.5 s window (3 frames at 10 fps)
        assert abs(seg["start"] - r["m"]) <= 3 and abs(seg["end"] - r["n"]) <= 3


def test_values_proposals_from_a_model_when_there_is_no_column(unannotated, truth):
    c = client(unannotated, propose="values", model=SquareTracker.name)
    assert "model annotate-test-square" in c.get("/api/info").json()["source"]
    for ep in (first(truth, "hesitation"), first(truth, "retry")):
        r = truth[ep]
        p = c.get(f"/api/episodes/{ep}/proposal").json()
        assert len(p["values"]) == r["T"] and p["warnings"] == []
        (seg,) = p["segments"]
        assert seg["kind"] == {"hesitation": "stall", "retry": "fall"}[r["mode"]]
        assert abs(seg["start"] - r["m"]) <= 4 and abs(seg["end"] - r["n"]) <= 4


def test_no_proposals_still_lists_and_serves_every_episode(unannotated, truth):
    c = client(unannotated, propose="none")
    for ep in truth:
        p = c.get(f"/api/episodes/{ep}/proposal").json()
        assert p["segments"] == [] and p["values"] is None and p["source"] == "none"
        assert c.get(f"/api/episodes/{ep}/frames/0").status_code == 200


# ------------------------------------------------------------------------------ save and resume


def test_save_writes_a_valid_row_and_a_reopened_session_resumes(unannotated, truth):
    c = client(unannotated)
    h, T = first(truth, "hesitation"), truth[first(truth, "hesitation")]["T"]
    r = c.put(f"/api/episodes/{h}/annotation", json={"mode": "hesitation", "m": 20, "n": 31, "T": T})
    assert r.status_code == 200, r.text
    assert r.json()["saved"] == {
        "episode_index": h,
        "mode": "hesitation",
        "m": 20,
        "n": 31,
        "T": T,
        "embodiment": "Synthetic",
        "task": "slide the square to the goal",
    }
    assert c.put("/api/episodes/0/annotation", json={"mode": "expert"}).status_code == 200
    table = pq.read_table(unannotated / ANNOTATIONS_FILE)
    assert table.column_names == ["episode_index", "mode", "m", "n", "T", "embodiment", "task"]
    assert table.to_pylist()[0] == {
        "episode_index": 0,
        "mode": "expert",
        "m": None,
        "n": None,
        "T": truth[0]["T"],
        "embodiment": "Synthetic",
        "task": "slide the square to the goal",
    }
    assert not list((unannotated / "meta").glob("*.tmp*"))
    # Reopen (a new server on the same directory): both episodes done, the rest to do.
    c2 = client(unannotated)
    status = {e["episode_index"]: e["status"] for e in c2.get("/api/episodes").json()}
    assert status == {ep: "done" if ep in (0, h) else "todo" for ep in truth}
    assert c2.get(f"/api/episodes/{h}").json()["annotation"]["m"] == 20
    # Re-saving replaces the row; deleting makes the episode to do again.
    assert c2.put(f"/api/episodes/{h}/annotation", json={"mode": "retry", "m": 22, "n": 25}).status_code == 200
    assert {r["episode_index"]: r["mode"] for r in read_annotations(unannotated)} == {0: "expert", h: "retry"}
    assert c2.delete(f"/api/episodes/{h}/annotation").json() == {"deleted": True}
    assert [r["episode_index"] for r in read_annotations(unannotated)] == [0]


def test_resaving_an_annotated_bench_keeps_its_embodiment_and_task_names(dataset, truth):
    c = client(dataset)
    assert all(e["status"] == "done" for e in c.get("/api/episodes").json())
    ep = first(truth, "retry")
    r = truth[ep]
    assert (
        c.put(f"/api/episodes/{ep}/annotation", json={"mode": r["mode"], "m": r["m"] + 1, "n": r["n"]}).status_code
        == 200
    )
    rows = {x["episode_index"]: x for x in read_annotations(dataset)}
    assert rows == {**truth, ep: {**r, "m": r["m"] + 1}}


def test_a_saved_row_whose_T_disagrees_with_the_dataset_is_to_do_again(unannotated, truth):
    from robodata.annotations import write_annotations

    T0 = truth[0]["T"]
    write_annotations(
        unannotated,
        [{"episode_index": 0, "mode": "expert", "m": None, "n": None, "T": T0 + 5, "embodiment": "X", "task": "t"}],
    )
    c = client(unannotated)
    e0 = c.get("/api/episodes").json()[0]
    assert e0["status"] == "todo" and e0["problem"] == f"saved T={T0 + 5} but the episode has {T0} frames"
    assert c.put("/api/episodes/0/annotation", json={"mode": "expert"}).status_code == 200
    assert read_annotations(unannotated)[0]["T"] == T0
    assert c.get("/api/episodes").json()[0]["status"] == "done"


@pytest.mark.parametrize(
    "body,code,message",
    [
        ({"mode": "hesitation", "m": 30, "n": 20}, 400, "need 0 < m < n < T-1"),
        ({"mode": "hesitation", "m": 0, "n": 20}, 400, "need 0 < m < n < T-1"),
        ({"mode": "retry", "m": 5, "n": "T-1"}, 400, "need 0 < m < n < T-1"),
        ({"mode": "hesitation", "m": 5, "n": 10, "T": 7}, 400, "does not match the dataset"),
        ({"mode": "expert", "m": 5, "n": 10}, 400, "an expert trajectory has no segment"),
        ({"mode": "retry", "m": 1, "n": "T/2+2"}, 400, "T-2x <= 0"),
        ({"mode": "stall", "m": 5, "n": 10}, 422, "body.mode"),
        ({"mode": "hesitation", "m": "5", "n": 10}, 422, "body.m"),
        ({"mode": "hesitation", "m": True, "n": 10}, 422, "body.m"),
        ({"mode": "expert", "comment": "x"}, 422, "body.comment"),
        ({}, 422, "body.mode"),
    ],
)
def test_bad_annotations_are_refused_with_a_message_and_nothing_is_written(unannotated, truth, body, code, message):
    c = client(unannotated)
    ep = first(truth, "hesitation")
    T = truth[ep]["T"]
    body = {
        k: {"T-1": T - 1, "T/2+2": T // 2 + 2}.get(v, v) if isinstance(v, str) and v.startswith("T") else v
        for k, v in body.items()
    }
    r = c.put(f"/api/episodes/{ep}/annotation", json=body)
    assert r.status_code == code and message in r.json()["detail"], r.text
    assert not (unannotated / ANNOTATIONS_FILE).exists()


def test_malformed_requests_get_4xx(unannotated, truth):
    c = client(unannotated)
    T = truth[1]["T"]
    cases = [
        (c.get("/api/episodes/99"), 404, "no episode 99"),
        (c.get("/api/episodes/x/frames/0"), 422, "path.ep"),
        (c.get(f"/api/episodes/1/frames/{T}"), 404, f"frames 0..{T - 1}"),
        (c.get("/api/episodes/1/frames/-1"), 404, "frames 0.."),
        (c.get("/api/episodes/1/frames/0", params={"camera": "wrist"}), 400, "valid camera keys"),
        (c.put("/api/episodes/99/annotation", json={"mode": "expert"}), 404, "no episode 99"),
        (
            c.put("/api/episodes/1/annotation", content=b"{not json", headers={"content-type": "application/json"}),
            422,
            "",
        ),
        (
            c.put("/api/episodes/1/annotation", content=b'{"mode": "expert"}', headers={"content-type": "text/plain"}),
            422,
            "",
        ),
        (c.get("/api/episodes/1/proposal", params={"refresh": "maybe"}), 422, "query.refresh"),
    ]
    for r, code, message in cases:
        assert r.status_code == code and message in r.json()["detail"], (r.request.url, r.text)
    assert not (unannotated / ANNOTATIONS_FILE).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../meta/info.json",
        "/static/%2e%2e/%2e%2e/meta/info.json",
        "/static/..%2f..%2fmeta%2finfo.json",
        "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/meta/info.json",
        "/api/episodes/1/frames/..%2f..%2fmeta%2finfo.json",
        "/api/episodes/..%2fmeta/frames/0",
        "/api/episodes/1/frames/0?camera=..%2F..%2Fmeta%2Finfo.json",
        "/data/chunk-000/file-000.parquet",
    ],
)
def test_only_the_page_and_decoded_frames_are_served(unannotated, path):
    c = client(unannotated)
    r = c.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert b"codebase_version" not in r.content and b"root:" not in r.content
    assert c.get("/static/app.js").status_code == 200 and c.get("/").status_code == 200


def test_loopback_server_refuses_foreign_host_headers(unannotated):
    c = client(unannotated)
    assert c.get("/api/info", headers={"host": "attacker.example:8080"}).status_code == 400
    assert c.get("/api/info", headers={"host": "localhost:8080"}).status_code == 200


# ------------------------------------------------------------------------------ concurrent saves


def test_concurrent_saves_from_two_tabs_and_two_servers_never_lose_or_tear_a_row(unannotated, truth):
    tabs = [client(unannotated), client(unannotated)]  # two servers (two Session objects) ...
    tabs.append(TestClient(tabs[0].app, base_url="http://127.0.0.1"))  # ... and a second tab of the first
    eps = [ep for ep, r in truth.items() if r["mode"] != "expert"]
    errors = []

    def worker(k):
        try:
            for rep in range(8):
                for ep in eps[k :: len(tabs)] or eps[:1]:
                    r = truth[ep]
                    res = tabs[k].put(
                        f"/api/episodes/{ep}/annotation", json={"mode": r["mode"], "m": r["m"], "n": r["n"] + rep % 2}
                    )
                    assert res.status_code == 200, res.text
                    tabs[k].app.state.session.store.rows()  # readable and valid at every moment (one open per read)
        except Exception as err:  # noqa: BLE001  (reported below)
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(tabs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = {r["episode_index"]: r for r in read_annotations(unannotated)}
    assert sorted(rows) == sorted(eps)
    assert all((rows[ep]["m"], rows[ep]["n"]) == (truth[ep]["m"], truth[ep]["n"] + 1) for ep in eps)


def test_a_save_while_another_process_holds_the_lock_is_refused_and_the_table_kept(unannotated):
    import fcntl

    app = create_app(AnnotateConfig(dataset=unannotated, propose="none"), background=False)
    app.state.session.store.lock_wait_s = 0.2
    c = TestClient(app, base_url="http://127.0.0.1")
    assert c.put("/api/episodes/0/annotation", json={"mode": "expert"}).status_code == 200
    before = (unannotated / ANNOTATIONS_FILE).read_bytes()
    with open(lock_path(unannotated), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = c.put("/api/episodes/1/annotation", json={"mode": "expert"})
    assert r.status_code == 409 and "save again" in r.json()["detail"]
    assert (unannotated / ANNOTATIONS_FILE).read_bytes() == before


# ------------------------------------------------------------------------------ CLI errors


@pytest.mark.parametrize(
    "args,message",
    [
        (["{missing}"], "is not a directory"),
        (["{ds}", "--propose", "vlm"], "--propose vlm needs --vlm-url"),
        (["{ds}", "--camera", "wrist"], "valid camera keys"),
        (["{ds}", "--propose", "values", "--model", "no-such-model"], "unknown value model 'no-such-model'"),
        (["{ds}", "--propose", "none"], None),
    ],
)
def test_cli_bad_input_is_one_line(unannotated, tmp_path, capsys, monkeypatch, args, message):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # do not block serving
    args = [a.format(missing=tmp_path / "nope", ds=unannotated) for a in args]
    if message is None:
        value_labeling(["annotate", *args, "--port", "0"])
        out = capsys.readouterr().out
        assert "bound to loopback 127.0.0.1: reachable from this machine only" in out
        return
    with pytest.raises(SystemExit) as err:
        value_labeling(["annotate", *args, "--port", "0"])
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_the_proposal_rule_defaults_are_curate_flags():
    import dataclasses

    from curate.config import FlagConfig

    names = ("stall_seconds", "stall_tolerance", "fall_min_drop", "smooth_seconds")
    ours = {f.name: f.default for f in dataclasses.fields(AnnotateConfig) if f.name in names}
    assert ours == {f.name: f.default for f in dataclasses.fields(FlagConfig) if f.name in names} and len(ours) == 4


# ------------------------------------------------------------------------------ vlm proposals


class FakeVlm:
    """An OpenAI-format chat endpoint on 127.0.0.1 whose answer the test chooses."""

    def __init__(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse
        from starlette.routing import Route

        self.requests, self.answer = [], None

        async def chat(request):
            self.requests.append({"body": await request.json(), "auth": request.headers.get("authorization")})
            kind, content = self.answer
            if kind == "http500":
                return PlainTextResponse("upstream overloaded", status_code=500)
            if kind == "raw":
                return PlainTextResponse(content)
            return JSONResponse(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                }
            )

        self.server = RunningServer(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]))
        self.url = self.server.url + "/v1"


@pytest.fixture(scope="module")
def fake_vlm():
    vlm = FakeVlm()
    yield vlm
    vlm.server.stop()


def vlm_client(root, fake, **kw):
    return client(root, propose="vlm", vlm_url=fake.url, vlm_model="test-vlm", vlm_key_env="ANNOTATE_TEST_KEY", **kw)


def test_vlm_request_carries_the_papers_prompt_frames_and_task_and_a_good_answer_is_used(
    unannotated, truth, fake_vlm, monkeypatch
):
    monkeypatch.setenv("ANNOTATE_TEST_KEY", "sk-test")
    h = first(truth, "hesitation")
    T, m, n = truth[h]["T"], truth[h]["m"], truth[h]["n"]
    fake_vlm.answer = (
        "json",
        json.dumps(
            {
                "non_progress_segments": [
                    {"start_frame": m, "end_frame": n, "description": "the square waits"},
                    {"start_frame": T - 3, "end_frame": T + 5, "description": "past the end"},
                ],
                "task_completed": True,
                "summary": "slides, waits, arrives",
            }
        ),
    )
    fake_vlm.requests.clear()
    c = vlm_client(unannotated, fake_vlm)
    p = c.get(f"/api/episodes/{h}/proposal").json()
    assert p["segments"] == [
        {"start": m, "end": n, "kind": "vlm", "description": "the square waits"},
        {"start": T - 3, "end": T - 1, "kind": "vlm", "description": "past the end"},
    ]
    assert p["summary"] == "slides, waits, arrives" and "clipped" in p["warnings"][0]

    (req,) = fake_vlm.requests
    assert req["auth"] == "Bearer sk-test" and req["body"]["model"] == "test-vlm"
    parts = req["body"]["messages"][0]["content"]
    idx = resample_indices(T, 10, 2)  # the bench's evaluation rate for this embodiment
    assert parts[0]["text"].startswith(
        f"Below are frames sampled from a 10fps robot manipulation video\n(total {idx[-1]} frames)."
    )
    labels = [p["text"] for p in parts[1:-1] if p["type"] == "text"]
    images = [p["image_url"]["url"] for p in parts[1:-1] if p["type"] == "image_url"]
    assert labels == [f"[frame={i}]" for i in idx] and len(images) == len(idx)
    assert all(parts[2 + 2 * k]["type"] == "image_url" for k in range(len(idx)))  # each image follows its label
    assert all(u.startswith("data:image/jpeg;base64,") for u in images)
    assert parts[-1]["text"] == PROMPT_TAIL.format(task_description="slide the square to the goal")
    assert 'The task is: "slide the square to the goal".' in parts[-1]["text"]
    assert "Do NOT flag segments where the robot is actively and successfully" in parts[-1]["text"]
    assert '"non_progress_segments": [' in parts[-1]["text"]

    # A valid answer is cached beside the dataset: a reopened session does not ask again.
    assert (unannotated / VLM_CACHE_FILE).is_file()
    fake_vlm.requests.clear()
    assert vlm_client(unannotated, fake_vlm).get(f"/api/episodes/{h}/proposal").json()["segments"] == p["segments"]
    assert fake_vlm.requests == []


@pytest.mark.parametrize(
    "answer,warning",
    [
        (("json", "Sure! The robot hesitates from frame 20 to 30."), "not JSON"),
        (("json", json.dumps({"segments": [[20, 30]]})), "lacks a 'non_progress_segments' list"),
        (("json", json.dumps({"non_progress_segments": "frames 20-30"})), "lacks a 'non_progress_segments' list"),
        (("json", json.dumps([1, 2])), "lacks a 'non_progress_segments' list"),
        (("raw", "<html>gateway</html>"), "did not answer JSON"),
        (("http500", None), "HTTP 500"),
    ],
)
def test_bad_vlm_answers_become_empty_proposals_with_a_warning(unannotated, fake_vlm, answer, warning):
    fake_vlm.answer = answer
    c = vlm_client(unannotated, fake_vlm)
    r = c.get("/api/episodes/2/proposal")
    assert r.status_code == 200
    p = r.json()
    assert p["segments"] == [] and warning in p["warnings"][0]
    assert not (unannotated / VLM_CACHE_FILE).exists()  # failures are not cached ...
    assert c.get("/api/episodes/2/frames/0").status_code == 200  # the session goes on
    fake_vlm.answer = ("json", json.dumps({"non_progress_segments": [], "task_completed": True, "summary": "ok"}))
    assert c.get("/api/episodes/2/proposal").json()["warnings"]  # within a session the answer stands ...
    again = c.get("/api/episodes/2/proposal", params={"refresh": "true"}).json()  # ... until asked again
    assert again["segments"] == [] and again["warnings"] == [] and (unannotated / VLM_CACHE_FILE).is_file()


def test_vlm_segments_that_break_the_format_are_dropped_one_by_one(unannotated, fake_vlm):
    fake_vlm.answer = (
        "json",
        "```json\n"
        + json.dumps(
            {
                "non_progress_segments": [
                    {"start_frame": 30, "end_frame": 20},
                    {"start_frame": "ten", "end_frame": 12},
                    "oops",
                    {"start_frame": 500, "end_frame": 600},
                    {"start_frame": 10.0, "end_frame": 14, "description": None},
                ]
            }
        )
        + "\n```",
    )
    p = vlm_client(unannotated, fake_vlm).get("/api/episodes/0/proposal").json()
    assert p["segments"] == [{"start": 10, "end": 14, "kind": "vlm", "description": ""}]
    assert len(p["warnings"]) == 4


def test_an_unreachable_vlm_is_a_warning_not_a_crash(unannotated):
    with RunningServer(create_app(AnnotateConfig(dataset=unannotated, propose="none"), background=False)) as s:
        dead = s.url  # a port that answers now, then is closed below
    c = client(unannotated, propose="vlm", vlm_url=dead + "/v1", vlm_model="m", vlm_timeout=5)
    p = c.get("/api/episodes/0/proposal").json()
    assert p["segments"] == [] and "request to" in p["warnings"][0] and "failed" in p["warnings"][0]
