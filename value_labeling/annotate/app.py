"""`value_labeling annotate DATASET/`: the annotation page's HTTP API (FastAPI) and its server (uvicorn).

Routes (JSON unless said):
  GET    /                                        the page (static/index.html; app.js, style.css under /static)
  GET    /api/info                                dataset, cameras, fps, proposal source
  GET    /api/episodes                            every episode with its status (todo/done)
  GET    /api/episodes/{ep}                       length, task, saved annotation
  GET    /api/episodes/{ep}/proposal[?refresh=1]  stage-1 segments and the value curve
  GET    /api/episodes/{ep}/frames/{i}[?camera=]  frame i as a JPEG (native frame index)
  PUT    /api/episodes/{ep}/annotation            {"mode", "m", "n"[, "T"]}: validate and save the row
  DELETE /api/episodes/{ep}/annotation            remove the row (the episode is to do again)

Safety: nothing is served from the filesystem but the package's own static files (Starlette's
StaticFiles refuses paths outside its directory) and frames decoded by integer index. On a loopback
bind, requests must name a loopback Host (a web page elsewhere cannot reach the API through DNS
rebinding), and writes must be `application/json` (which a cross-site form cannot send without a
CORS preflight this server never grants). Malformed requests get a 4xx with a one-line message.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Literal, Self

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.middleware.trustedhost import TrustedHostMiddleware

from robodata.dataset import DatasetError
from value_labeling.annotate.config import AnnotateConfig
from value_labeling.annotate.session import Session
from value_labeling.annotate.store import SaveBusy

STATIC_DIR = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    mode: Literal["expert", "hesitation", "retry"]
    m: int | None = None
    n: int | None = None
    T: int | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(cfg: AnnotateConfig, background: bool = True, session: Session | None = None) -> FastAPI:
    s = session or Session(cfg)
    app = FastAPI(title="value_labeling annotate", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.session = s
    if is_loopback(cfg.host):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts) or "malformed request"}, status_code=422)

    def episode_or_404(ep: int) -> int:
        if ep not in s.lengths:
            raise HTTPException(404, f"no episode {ep}: the dataset has episodes 0..{len(s.lengths) - 1}")
        return ep

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/info")
    def info():
        return {
            "dataset": str(s.root),
            "name": s.root.name,
            "fps": s.fps,
            "cameras": s.cameras,
            "camera": s.camera,
            "episodes": len(s.lengths),
            "propose": cfg.propose,
            "source": s.proposer.source,
            "embodiment": s.embodiment,
            "modes": ["hesitation", "retry", "expert"],
            "annotations_file": str(s.store.path),
        }

    @app.get("/api/episodes")
    def episodes():
        return s.episodes()

    @app.get("/api/episodes/{ep}")
    def episode(ep: int):
        return s.episode(episode_or_404(ep))

    @app.get("/api/episodes/{ep}/proposal")
    def proposal(ep: int, refresh: bool = False):
        return s.proposer.get(episode_or_404(ep), refresh=refresh).to_json()

    @app.get("/api/episodes/{ep}/frames/{i}")
    def frame(ep: int, i: int, camera: str | None = None):
        T = s.lengths[episode_or_404(ep)]
        if not 0 <= i < T:
            raise HTTPException(404, f"episode {ep} has frames 0..{T - 1}, not {i}")
        try:
            cam = s.camera_key(camera)
        except DatasetError as err:
            raise HTTPException(400, str(err)) from None
        try:
            jpeg = s.frames.frame(ep, cam, i)
        except DatasetError as err:  # the dataset's fault (a missing video file), not the request's
            raise HTTPException(500, str(err)) from None
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    @app.put("/api/episodes/{ep}/annotation")
    def save(ep: int, body: AnnotationIn, request: Request):
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the annotation as application/json")
        episode_or_404(ep)
        try:
            row = s.save(ep, body.mode, body.m, body.n, body.T)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None
        except SaveBusy as err:
            raise HTTPException(409, str(err)) from None
        return {"saved": row, "file": str(s.store.path)}

    @app.delete("/api/episodes/{ep}/annotation")
    def delete(ep: int):
        try:
            return {"deleted": s.store.delete(episode_or_404(ep))}
        except SaveBusy as err:
            raise HTTPException(409, str(err)) from None

    if background:
        todo = [e["episode_index"] for e in s.episodes() if e["status"] == "todo"]
        done = [ep for ep in s.lengths if ep not in set(todo)]
        s.proposer.start_background(todo + done)
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or one clear error (port in use, bad host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({err.strerror}); choose another --port or --host") from None
    sock.listen(128)
    return sock


class RunningServer:
    """uvicorn in a background thread (tests, scripts); `stop()` shuts it down."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            threading.Event().wait(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_annotate(cfg: AnnotateConfig) -> None:
    import uvicorn

    if not cfg.dataset.is_dir():
        raise FileNotFoundError(f"{cfg.dataset} is not a directory (give a LeRobot v3.0 dataset)")
    session = Session(cfg)
    sock = bind(cfg.host, cfg.port)
    app = create_app(cfg, session=session)
    port = sock.getsockname()[1]
    url = f"http://[{cfg.host.strip('[]')}]:{port}" if ":" in cfg.host else f"http://{cfg.host}:{port}"
    done = sum(e["status"] == "done" for e in session.episodes())
    print(
        f"annotate: {session.root} ({len(session.lengths)} episodes, {done} already annotated; "
        f"saves to {session.store.path})"
    )
    print(f"annotate: proposals: {session.proposer.source}")
    if cfg.propose == "vlm" and not os.environ.get(cfg.vlm_key_env):
        print(
            f"annotate: note: ${cfg.vlm_key_env} is not set; VLM requests go without an API key "
            f"(fine for a local server; name another variable with --vlm-key-env)",
            file=sys.stderr,
        )
    if is_loopback(cfg.host):
        print(
            f"annotate: open {url} (bound to loopback {cfg.host}: reachable from this machine only; "
            f"from another machine: ssh -L {port}:127.0.0.1:{port} THIS_HOST)"
        )
    else:
        print(
            f"annotate: WARNING: bound to {cfg.host}: anyone who can reach this machine on port "
            f"{port} can read the frames and edit the annotations (no authentication)",
            file=sys.stderr,
        )
        print(f"annotate: open {url}")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
