"""Stage-1 proposals from a vision-language model (paper appendix B), over an OpenAI-compatible API.

The prompt is the paper's text (its line breaks as printed); frames are sampled at the evaluation rate, each preceded by
the text label `[frame=N]` with N its native frame index, so the model's start/end frames are native
indices. Choices the paper leaves open, made here: the `{fps}` in the prompt is the video's native rate
(the indices count native frames); `total {frames[-1][0]} frames` is, as in the paper's template, the
index of the last sampled frame; images are JPEG data URLs in one user message (the OpenAI chat
"image_url" format, which OpenAI-compatible servers accept), temperature 0.

Whatever comes back is validated: anything but the requested JSON object becomes an empty proposal
with a warning, never an exception, so one bad answer cannot stop an annotation session.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field

import numpy as np

PROMPT_HEAD = """Below are frames sampled from a {fps:.0f}fps robot manipulation video
(total {last} frames). Each frame is preceded by its frame
index label [frame=N]."""

PROMPT_TAIL = """The task is: "{task_description}".

Please analyze the full trajectory and identify segments where the
robot is NOT making forward progress toward completing the task.

A segment is "not forward progress" if during that time the task
state is stalled or regressing, for example:
- The robot is stuck, hesitating, or repeating a motion without advancing the task.
- The task state is going backwards (e.g. an object was dropped, knocked away, or released unnecessarily).
- The robot is performing motions that do not bring it closer to task completion.

Do NOT flag segments where the robot is actively and successfully
advancing toward the goal, even if the motion is slow.

Output a JSON object with the following format (NO extra text outside the JSON):
{{
  "non_progress_segments": [
    {{
      "start_frame": <int>,
      "end_frame": <int>,
      "description": "<brief description of why this segment is
        not forward progress>"
    }}
  ],
  "task_completed": <true or false>,
  "summary": "<one-sentence summary>"
}}

If the entire trajectory is efficient with no wasted time, return an empty non_progress_segments list."""


@dataclass
class VlmAnswer:
    segments: list[dict] = field(default_factory=list)  # {"start", "end", "kind": "vlm", "description"}
    warnings: list[str] = field(default_factory=list)
    summary: str | None = None
    task_completed: bool | None = None
    ok: bool = False  # a valid answer (worth caching); False: empty proposal because something failed


def chat_url(url: str) -> str:
    """A base URL (…/v1) or the full chat-completions URL."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


def build_messages(indices: np.ndarray, jpegs: list[bytes], fps: float, task: str) -> list[dict]:
    """One user message: the prompt's head, then `[frame=N]` + image per frame, then the rest."""
    content: list[dict] = [{"type": "text", "text": PROMPT_HEAD.format(fps=fps, last=int(indices[-1]))}]
    for i, jpg in zip(indices, jpegs):
        content.append({"type": "text", "text": f"[frame={int(i)}]"})
        content.append(
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpg).decode()}}
        )
    content.append({"type": "text", "text": PROMPT_TAIL.format(task_description=task)})
    return [{"role": "user", "content": content}]


def _as_frame(x) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return None


def parse_answer(text: str, T: int) -> VlmAnswer:
    """The model's reply text -> validated segments in [0, T-1] (native frames, inclusive)."""
    out = VlmAnswer()
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)  # a common wrapping; not required
    if fenced:
        body = fenced.group(1)
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as err:
        out.warnings.append(f"VLM answer is not JSON ({err.msg} at char {err.pos}): {text[:120]!r}")
        return out
    if not isinstance(obj, dict) or not isinstance(obj.get("non_progress_segments"), list):
        out.warnings.append(f"VLM answer lacks a 'non_progress_segments' list: {text[:120]!r}")
        return out
    for k, seg in enumerate(obj["non_progress_segments"]):
        if not isinstance(seg, dict):
            out.warnings.append(f"VLM segment {k} is not an object; dropped")
            continue
        a, b = _as_frame(seg.get("start_frame")), _as_frame(seg.get("end_frame"))
        if a is None or b is None or a > b:
            out.warnings.append(
                f"VLM segment {k} has no valid integer start_frame <= end_frame "
                f"({seg.get('start_frame')!r}, {seg.get('end_frame')!r}); dropped"
            )
            continue
        if b < 0 or a > T - 1:
            out.warnings.append(f"VLM segment {k} [{a}, {b}] lies outside the episode's frames [0, {T - 1}]; dropped")
            continue
        if a < 0 or b > T - 1:
            out.warnings.append(f"VLM segment {k} [{a}, {b}] clipped to the episode's frames [0, {T - 1}]")
            a, b = max(a, 0), min(b, T - 1)
        desc = seg.get("description")
        out.segments.append({"start": a, "end": b, "kind": "vlm", "description": str(desc) if desc is not None else ""})
    out.summary = str(obj["summary"]) if obj.get("summary") is not None else None
    out.task_completed = obj.get("task_completed") if isinstance(obj.get("task_completed"), bool) else None
    out.ok = True
    return out


def _reply_text(payload) -> str | None:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", "output_text")]
        return "".join(texts) if texts else None
    return None


def ask_vlm(
    url: str,
    model: str,
    api_key: str | None,
    indices: np.ndarray,
    jpegs: list[bytes],
    fps: float,
    task: str,
    T: int,
    timeout: float = 180.0,
) -> VlmAnswer:
    """Send one trajectory; any failure (network, HTTP error, malformed reply) -> empty VlmAnswer + warning."""
    import httpx

    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = {"model": model, "messages": build_messages(indices, jpegs, fps, task), "temperature": 0}
    try:
        resp = httpx.post(chat_url(url), json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as err:
        return VlmAnswer(warnings=[f"VLM request to {chat_url(url)} failed: {type(err).__name__}: {err}"])
    if resp.status_code != 200:
        return VlmAnswer(
            warnings=[f"VLM endpoint {chat_url(url)} answered HTTP {resp.status_code}: {resp.text[:200]!r}"]
        )
    try:
        payload = resp.json()
    except ValueError:
        return VlmAnswer(warnings=[f"VLM endpoint {chat_url(url)} did not answer JSON: {resp.text[:120]!r}"])
    text = _reply_text(payload)
    if text is None:
        return VlmAnswer(
            warnings=[
                (
                    f"VLM endpoint {chat_url(url)} answered without choices[0].message.content: "
                    f"{json.dumps(payload)[:200]}"
                )
            ]
        )
    return parse_answer(text, T)
