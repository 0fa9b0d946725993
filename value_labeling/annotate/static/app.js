// The annotation page: frames by index on a canvas (exact stepping), a frame-aligned timeline of the
// value curve, proposed and accepted segments, and the edits of paper appendix B (drag, split, merge,
// replay, undo). State lives in `S`; every change redraws from it. Drafts are kept per episode, so
// moving between episodes never loses an unsaved edit in this tab.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  info: null, episodes: [], ep: null, T: 0, fps: 10, frame: 0, camera: null,
  images: [], loaded: 0, proposal: null, accepted: [], selected: null, selectedProp: null,
  mode: "expert", undo: [], dirty: false, playing: false, playUntil: null, speed: 1,
  drafts: {}, drag: null, loadToken: 0, frameToken: 0,
};

// ------------------------------------------------------------------ HTTP
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new Error((data && data.detail) || `${method} ${path}: HTTP ${r.status}`);
  return data;
}

function status(text, kind) { const el = $("status"); el.textContent = text; el.className = kind || ""; }

// ------------------------------------------------------------------ episodes
async function loadEpisodes() {
  S.episodes = await api("GET", "/api/episodes");
  renderEpisodes();
}

function renderEpisodes() {
  const ol = $("episodes"), todoOnly = $("todo-only").checked;
  ol.innerHTML = "";
  let done = 0;
  for (const e of S.episodes) {
    if (e.status === "done") done++;
    if (todoOnly && e.status === "done" && e.episode_index !== S.ep) continue;
    const li = document.createElement("li");
    li.dataset.ep = e.episode_index;
    li.className = e.status + (e.problem ? " problem" : "") + (e.episode_index === S.ep ? " current" : "");
    const a = e.annotation;
    let st = e.status === "done" ? `✓ ${a.mode}${a.m !== null ? ` ${a.m}–${a.n}` : ""}` : "to do";
    if (e.problem) st = "to do: " + e.problem;
    else if (e.status !== "done" && e.proposed !== null) st += ` · ${e.proposed} proposed`;
    if (S.drafts[e.episode_index] && S.drafts[e.episode_index].dirty) st += " · unsaved";
    li.innerHTML = `<span>ep ${e.episode_index} <small>T=${e.T}</small></span><span class="st"></span>`;
    li.querySelector(".st").textContent = st;
    li.title = e.task;
    li.onclick = () => openEpisode(e.episode_index);
    ol.appendChild(li);
  }
  $("progress").textContent = `${done} / ${S.episodes.length} done`;
}

function stashDraft() {
  if (S.ep === null) return;
  S.drafts[S.ep] = { accepted: clone(S.accepted), mode: S.mode, undo: S.undo, dirty: S.dirty };
}

async function openEpisode(ep) {
  stop();
  // Leaving an edited episode saves it (when the bench's rules allow); otherwise it stays a draft.
  let note = null;
  if (S.ep !== null && S.ep !== ep && S.dirty) {
    note = (await save(true)) ? [`saved episode ${S.ep} on leaving it`, "ok"]
      : [`episode ${S.ep} is not saved (kept as a draft, marked unsaved in the list): ${S.lastError}`, "warn"];
  }
  stashDraft();
  const token = ++S.loadToken;
  const e = await api("GET", `/api/episodes/${ep}`);
  if (token !== S.loadToken) return;
  Object.assign(S, { ep, T: e.T, fps: e.fps, frame: 0, selected: null, selectedProp: null, proposal: null });
  const draft = S.drafts[ep];
  if (draft) {
    Object.assign(S, { accepted: clone(draft.accepted), mode: draft.mode, undo: draft.undo, dirty: draft.dirty });
  } else {
    const a = e.annotation;
    S.accepted = a && a.m !== null && a.m !== undefined ? [{ start: a.m, end: a.n }] : [];
    S.mode = a ? a.mode : null;  // chosen from the proposal below when there is no saved row
    S.undo = []; S.dirty = false;
  }
  $("ep-title").textContent = `episode ${ep} · T = ${e.T} frames · ${e.fps} fps`;
  $("ep-task").textContent = e.task ? `“${e.task}”` : "";
  status(e.problem ? `saved row rejected: ${e.problem}; annotate again` : (e.annotation ? "annotated (saved); edit and save again to change" : ""),
         e.problem ? "warn" : "");
  if (note) status(...note);
  loadFrames();
  renderEpisodes(); renderMode(); renderLists(); drawTimeline(); drawFrame();
  $("proposal-note").textContent = "computing proposals…";
  try {
    const p = await api("GET", `/api/episodes/${ep}/proposal`);
    if (token !== S.loadToken) return;
    S.proposal = p;
    if (S.mode === null) S.mode = suggestMode(p.segments);
    const ent = S.episodes.find((x) => x.episode_index === ep);
    if (ent) ent.proposed = p.segments.length;
    renderEpisodes();
  } catch (err) {
    if (token !== S.loadToken) return;
    S.proposal = { segments: [], values: null, warnings: [String(err.message)], source: "" };
    if (S.mode === null) S.mode = "expert";
  }
  renderMode(); renderLists(); drawTimeline();
}

function suggestMode(segs) {
  if (!segs.length) return "expert";
  return segs[0].kind === "fall" ? "retry" : "hesitation";
}

// ------------------------------------------------------------------ frames
function frameUrl(i) {
  return `/api/episodes/${S.ep}/frames/${i}?camera=${encodeURIComponent(S.camera)}`;
}

function loadFrames() {
  const token = ++S.frameToken;  // a newer episode or camera cancels this load
  S.images = new Array(S.T); S.loaded = 0;
  let next = 0;
  const pump = () => {  // a few requests in flight, in frame order
    if (token !== S.frameToken || next >= S.T) return;
    const i = next++;
    const img = new Image();
    img.onload = () => {
      if (token !== S.frameToken) return;
      S.loaded++;
      $("loading").textContent = S.loaded < S.T ? `frames ${S.loaded}/${S.T}` : "";
      if (i === S.frame) drawFrame();
      pump();
    };
    img.onerror = () => { if (token === S.frameToken) { status(`frame ${i} failed to load`, "error"); pump(); } };
    img.src = frameUrl(i);
    S.images[i] = img;
  };
  for (let k = 0; k < 6; k++) pump();
}

function drawFrame() {
  const c = $("frame"), img = S.images[S.frame];
  $("frame-label").textContent = S.T ? `frame ${S.frame} / ${S.T - 1} · ${(S.frame / S.fps).toFixed(2)} s` : "frame –";
  if (!img || !img.complete || !img.naturalWidth) return;
  if (c.width !== img.naturalWidth || c.height !== img.naturalHeight) { c.width = img.naturalWidth; c.height = img.naturalHeight; }
  c.getContext("2d").drawImage(img, 0, 0);
  c.dataset.frame = String(S.frame);  // the frame actually on screen (tests read it)
}

function seek(f) {
  S.frame = Math.max(0, Math.min(S.T - 1, Math.round(f)));
  drawFrame(); drawTimeline();
}

// ------------------------------------------------------------------ playback
let lastTick = 0, carry = 0;
function play(until) {
  if (!S.T) return;
  if (until === undefined && S.frame >= S.T - 1) S.frame = 0;
  S.playing = true; S.playUntil = until === undefined ? null : until;
  lastTick = performance.now(); carry = 0;
  $("b-play").textContent = "❚❚ pause";
  requestAnimationFrame(tick);
}
function stop() { S.playing = false; S.playUntil = null; $("b-play").textContent = "▶ play"; }
function tick(now) {
  if (!S.playing) return;
  carry += (now - lastTick) / 1000 * S.fps * S.speed; lastTick = now;
  const end = S.playUntil === null ? S.T - 1 : S.playUntil, before = S.frame;
  while (carry >= 1 && S.frame < end) {
    const img = S.images[S.frame + 1];
    if (!img || !img.complete) { carry = 0; break; }  // wait for the next frame rather than skip it
    S.frame++; carry -= 1;
  }
  if (S.frame !== before) { drawFrame(); drawTimeline(); }  // draw only what changed
  if (S.frame >= end) { stop(); return; }
  requestAnimationFrame(tick);
}

// ------------------------------------------------------------------ segment edits
const clone = (x) => JSON.parse(JSON.stringify(x));
function pushUndo() { S.undo.push({ accepted: clone(S.accepted), mode: S.mode, selected: S.selected }); S.dirty = true; }
function undo() {
  const u = S.undo.pop();
  if (!u) { status("nothing to undo", "warn"); return; }
  Object.assign(S, { accepted: u.accepted, mode: u.mode, selected: u.selected });
  S.dirty = true; changed();
}
function changed() { renderMode(); renderLists(); drawTimeline(); stashDraft(); renderEpisodes(); }
function sortAccepted() {
  const sel = S.selected !== null ? S.accepted[S.selected] : null;
  S.accepted.sort((a, b) => a.start - b.start);
  S.selected = sel ? S.accepted.indexOf(sel) : null;
}
function segAt(f) { return S.accepted.findIndex((s) => s.start <= f && f <= s.end); }
function current() {
  if (S.selected !== null && S.accepted[S.selected]) return S.selected;
  const k = segAt(S.frame);
  return k >= 0 ? k : (S.accepted.length === 1 ? 0 : null);
}

function setBound(which) {
  const f = S.frame, k = current();
  pushUndo();
  if (k === null) {  // no segment yet: start one a second long on the chosen side
    const w = Math.max(1, Math.round(S.fps));
    const seg = which === "start" ? { start: f, end: Math.min(S.T - 1, f + w) } : { start: Math.max(0, f - w), end: f };
    if (seg.start >= seg.end) { S.undo.pop(); status("a segment needs at least two frames", "warn"); return; }
    S.accepted.push(seg); S.selected = S.accepted.length - 1;
  } else {
    const s = S.accepted[k];
    if (which === "start") { if (f >= s.end) { S.undo.pop(); status(`start must be before the end (${s.end})`, "warn"); return; } s.start = f; }
    else { if (f <= s.start) { S.undo.pop(); status(`end must be after the start (${s.start})`, "warn"); return; } s.end = f; }
    S.selected = k;
  }
  if (S.mode === "expert") S.mode = "hesitation";
  sortAccepted(); changed();
}

function acceptProposal() {
  const segs = S.proposal ? S.proposal.segments : [];
  let k = S.selectedProp;
  if (k === null) k = segs.findIndex((s) => s.start <= S.frame && S.frame <= s.end);
  if (k === null || k < 0) k = segs.length ? 0 : -1;
  if (k < 0) { status("no proposed segment to accept", "warn"); return; }
  const p = segs[k];
  let seg = { start: p.start, end: Math.max(p.end, Math.min(S.T - 1, p.start + 1)) };
  if (seg.start >= seg.end) { status("proposal is a single frame; drag its end", "warn"); seg = { start: Math.max(0, p.start - 1), end: p.start }; }
  pushUndo();
  S.accepted.push(seg); sortAccepted(); S.selected = S.accepted.indexOf(seg);
  if (S.mode === "expert") S.mode = p.kind === "fall" ? "retry" : "hesitation";
  changed();
}

function split() {
  const k = current();
  if (k === null) { status("select a segment to split", "warn"); return; }
  const s = S.accepted[k], f = S.frame;
  if (!(f - 1 > s.start && f < s.end)) { status(`move the playhead inside ${s.start + 2}..${s.end - 1} to split [${s.start}, ${s.end}]`, "warn"); return; }
  pushUndo();
  S.accepted.splice(k, 1, { start: s.start, end: f - 1 }, { start: f, end: s.end });
  S.selected = k; changed();
}

function merge() {
  const k = current();
  if (k === null || S.accepted.length < 2) { status("need two segments to merge", "warn"); return; }
  const j = k + 1 < S.accepted.length ? k + 1 : k - 1, a = Math.min(k, j);
  pushUndo();
  const s = { start: Math.min(S.accepted[k].start, S.accepted[j].start), end: Math.max(S.accepted[k].end, S.accepted[j].end) };
  S.accepted.splice(a, 2, s); S.selected = a; changed();
}

function del() {
  const k = current();
  if (k === null) { status("select a segment to delete", "warn"); return; }
  pushUndo(); S.accepted.splice(k, 1); S.selected = null; changed();
}

function replay() {
  let seg = null;
  if (S.selected !== null && S.accepted[S.selected]) seg = S.accepted[S.selected];
  else if (S.selectedProp !== null && S.proposal) seg = S.proposal.segments[S.selectedProp];
  else if (current() !== null) seg = S.accepted[current()];
  if (!seg) { status("select a segment to replay", "warn"); return; }
  S.frame = seg.start; drawFrame(); play(seg.end);
}

function setMode(m) { if (m === S.mode) return; pushUndo(); S.mode = m; changed(); }

async function save(leaving) {
  if (S.ep === null) return false;
  const fail = (msg) => { S.lastError = msg; if (!leaving) status(`not saved: ${msg}`, "error"); return false; };
  let body;
  if (S.mode === "expert") {
    if (S.accepted.length) return fail("an expert trajectory has no segment: delete the segments or choose hesitation/retry");
    body = { mode: "expert", m: null, n: null, T: S.T };
  } else {
    if (S.accepted.length !== 1) {
      return fail(`the bench takes one [m, n] per ${S.mode} trajectory: ${S.accepted.length ? "merge or delete segments" : "mark one"} (have ${S.accepted.length})`);
    }
    body = { mode: S.mode, m: S.accepted[0].start, n: S.accepted[0].end, T: S.T };
  }
  try {
    const r = await api("PUT", `/api/episodes/${S.ep}/annotation`, body);
    S.dirty = false; stashDraft();
    const ent = S.episodes.find((x) => x.episode_index === S.ep);
    if (ent) { ent.status = "done"; ent.annotation = r.saved; ent.problem = null; }
    const a = r.saved;
    status(`saved episode ${a.episode_index}: ${a.mode}${a.m !== null ? ` m=${a.m} n=${a.n}` : ""} (T=${a.T}) → ${r.file}`, "ok");
    renderEpisodes();
    return true;
  } catch (err) {
    return fail(err.message);
  }
}

function gotoEpisode(delta, todo) {
  const eps = S.episodes.map((e) => e.episode_index), i = eps.indexOf(S.ep);
  for (let k = 1; k <= eps.length; k++) {
    const j = (i + delta * k + eps.length * k) % eps.length;
    if (!todo || S.episodes[j].status !== "done") { openEpisode(eps[j]); return; }
  }
  status("every episode is done", "ok");
}

// ------------------------------------------------------------------ rendering
function renderMode() {
  for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === S.mode;
}

function renderLists() {
  const ul = $("accepted"); ul.innerHTML = "";
  S.accepted.forEach((s, k) => {
    const li = document.createElement("li");
    li.textContent = `[${s.start}, ${s.end}] · ${s.end - s.start + 1} frames · ${((s.end - s.start + 1) / S.fps).toFixed(1)} s`;
    li.className = k === S.selected ? "sel" : "";
    li.onclick = () => { S.selected = k; S.selectedProp = null; seek(s.start); renderLists(); };
    ul.appendChild(li);
  });
  if (!S.accepted.length) ul.innerHTML = `<li>none${S.mode === "expert" ? " (expert)" : ""}</li>`;
  const pl = $("proposed"); pl.innerHTML = "";
  const p = S.proposal;
  if (!p) return;
  $("proposal-note").textContent = `${p.source}${p.summary ? " · " + p.summary : ""}`;
  p.segments.forEach((s, k) => {
    const li = document.createElement("li");
    li.textContent = `[${s.start}, ${s.end}] ${s.kind}: ${s.description || ""}`;
    li.className = k === S.selectedProp ? "sel" : "";
    li.onclick = () => { S.selectedProp = k; S.selected = null; seek(s.start); renderLists(); };
    pl.appendChild(li);
  });
  if (!p.segments.length) pl.innerHTML = "<li>none proposed: watch the whole trajectory</li>";
  if (p.warnings && p.warnings.length) {
    const w = document.createElement("li"); w.style.color = "#b45309";
    w.textContent = "warning: " + p.warnings.join("; "); pl.appendChild(w);
    const again = document.createElement("button");  // a failed VLM answer is not cached: ask once more
    again.id = "b-repropose"; again.textContent = "propose again";
    again.onclick = async () => {
      again.disabled = true; const ep = S.ep;
      try {
        const q = await api("GET", `/api/episodes/${ep}/proposal?refresh=true`);
        if (S.ep === ep) { S.proposal = q; renderLists(); drawTimeline(); }
      } catch (err) { status(`proposal failed: ${err.message}`, "error"); again.disabled = false; }
    };
    pl.appendChild(again);
  }
}

// Timeline geometry (CSS pixels): frame f occupies [x0(f), x0(f+1)).
const TL = { left: 70, right: 12, curveTop: 8, curveH: 58, propTop: 74, propH: 18, accTop: 98, accH: 24, axisTop: 128 };
function tlWidth() { return $("timeline").clientWidth - TL.left - TL.right; }
function x0(f) { return TL.left + (f / S.T) * tlWidth(); }
function xc(f) { return x0(f + 0.5); }
function frameAtX(x) { return Math.max(0, Math.min(S.T - 1, Math.floor(((x - TL.left) / tlWidth()) * S.T))); }

function drawTimeline() {
  const c = $("timeline"), dpr = window.devicePixelRatio || 1, W = c.clientWidth, H = c.clientHeight;
  if (c.width !== Math.round(W * dpr)) { c.width = Math.round(W * dpr); c.height = Math.round(H * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, W, H);
  if (!S.T) return;
  g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7280"; g.textBaseline = "middle";
  g.fillText("value", 6, TL.curveTop + TL.curveH / 2);
  g.fillText("proposed", 6, TL.propTop + TL.propH / 2);
  g.fillText("accepted", 6, TL.accTop + TL.accH / 2);
  // value curve, 0..1
  g.strokeStyle = "#e5e7eb"; g.lineWidth = 1;
  for (const v of [0, 0.5, 1]) { const y = TL.curveTop + (1 - v) * TL.curveH; g.beginPath(); g.moveTo(TL.left, y); g.lineTo(W - TL.right, y); g.stroke(); }
  g.fillStyle = "#9ca3af"; g.textAlign = "right";
  for (const v of [0, 1]) g.fillText(String(v), TL.left - 4, TL.curveTop + (1 - v) * TL.curveH);
  g.textAlign = "left";
  const vals = S.proposal && S.proposal.values;
  if (vals && vals.length === S.T) {
    g.strokeStyle = "#059669"; g.lineWidth = 1.5; g.beginPath();
    vals.forEach((v, f) => { const x = xc(f), y = TL.curveTop + (1 - v) * TL.curveH; f ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  } else {
    g.fillStyle = "#9ca3af"; g.fillText(S.proposal ? "no value curve (label the dataset with curate label-values, or --propose values)" : "…", TL.left + 6, TL.curveTop + TL.curveH / 2);
  }
  // proposed segments
  const props = S.proposal ? S.proposal.segments : [];
  props.forEach((s, k) => {
    g.fillStyle = k === S.selectedProp ? "rgba(245,158,11,0.95)" : "rgba(245,158,11,0.6)";
    g.fillRect(x0(s.start), TL.propTop, Math.max(2, x0(s.end + 1) - x0(s.start)), TL.propH);
    // shade the curve area too, so the proposal is read against the values
    g.fillStyle = "rgba(245,158,11,0.10)";
    g.fillRect(x0(s.start), TL.curveTop, x0(s.end + 1) - x0(s.start), TL.curveH);
  });
  // accepted segments with drag handles
  S.accepted.forEach((s, k) => {
    const a = x0(s.start), b = x0(s.end + 1);
    g.fillStyle = k === S.selected ? "rgba(37,99,235,0.85)" : "rgba(37,99,235,0.55)";
    g.fillRect(a, TL.accTop, Math.max(2, b - a), TL.accH);
    g.fillStyle = "#1e3a8a";
    g.fillRect(a - 3, TL.accTop - 3, 6, TL.accH + 6);
    g.fillRect(b - 3, TL.accTop - 3, 6, TL.accH + 6);
  });
  // frame axis
  g.fillStyle = "#6b7280"; g.strokeStyle = "#9ca3af"; g.textAlign = "center";
  const step = niceStep(S.T, tlWidth());
  for (let f = 0; f < S.T; f += step) {
    const x = xc(f); g.beginPath(); g.moveTo(x, TL.axisTop); g.lineTo(x, TL.axisTop + 4); g.stroke();
    g.fillText(String(f), x, TL.axisTop + 12);
  }
  g.textAlign = "left"; g.fillText("frame", 6, TL.axisTop + 12);
  // playhead
  g.strokeStyle = "#dc2626"; g.lineWidth = 2; const x = xc(S.frame);
  g.beginPath(); g.moveTo(x, 2); g.lineTo(x, TL.axisTop + 2); g.stroke();
}

function niceStep(T, px) {
  const want = T / Math.max(1, px / 60);
  for (const s of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]) if (s >= want) return s;
  return 10000;
}

// Which handle or segment is under the pointer (CSS pixels inside the timeline).
function hit(x, y) {
  if (y >= TL.accTop - 6 && y <= TL.accTop + TL.accH + 6) {
    for (let k = 0; k < S.accepted.length; k++) {
      const s = S.accepted[k];
      if (Math.abs(x - x0(s.start)) <= 7) return { kind: "handle", k, end: "start" };
      if (Math.abs(x - x0(s.end + 1)) <= 7) return { kind: "handle", k, end: "end" };
    }
    const k = segAt(frameAtX(x));
    if (k >= 0) return { kind: "accepted", k };
  }
  if (y >= TL.propTop && y <= TL.propTop + TL.propH && S.proposal) {
    const f = frameAtX(x), k = S.proposal.segments.findIndex((s) => s.start <= f && f <= s.end);
    if (k >= 0) return { kind: "proposed", k };
  }
  return { kind: "seek" };
}

function setupTimeline() {
  const c = $("timeline");
  const pos = (ev) => { const r = c.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
  c.addEventListener("pointerdown", (ev) => {
    if (!S.T) return;
    stop();
    const [x, y] = pos(ev), h = hit(x, y);
    c.setPointerCapture(ev.pointerId);
    if (h.kind === "handle") {
      pushUndo(); S.selected = h.k; S.selectedProp = null; S.drag = { k: h.k, end: h.end, seg: S.accepted[h.k] };
    } else if (h.kind === "accepted") {
      S.selected = h.k; S.selectedProp = null; seek(frameAtX(x)); renderLists();
    } else if (h.kind === "proposed") {
      S.selectedProp = h.k; S.selected = null; seek(S.proposal.segments[h.k].start); renderLists();
    } else {
      S.drag = { scrub: true }; seek(frameAtX(x));
    }
    drawTimeline();
  });
  c.addEventListener("pointermove", (ev) => {
    const [x, y] = pos(ev);
    if (!S.drag) { const h = hit(x, y); c.style.cursor = h.kind === "handle" ? "ew-resize" : "crosshair"; return; }
    if (S.drag.scrub) { seek(frameAtX(x)); return; }
    const s = S.drag.seg;
    if (S.drag.end === "start") s.start = Math.min(s.end - 1, Math.max(0, Math.round((x - TL.left) / tlWidth() * S.T)));
    else s.end = Math.max(s.start + 1, Math.min(S.T - 1, Math.round((x - TL.left) / tlWidth() * S.T) - 1));
    seek(S.drag.end === "start" ? s.start : s.end);  // show the boundary frame while dragging
    renderLists();
  });
  const up = () => { if (S.drag && !S.drag.scrub) { sortAccepted(); changed(); } S.drag = null; };
  c.addEventListener("pointerup", up);
  c.addEventListener("pointercancel", up);
  window.addEventListener("resize", drawTimeline);
}

// ------------------------------------------------------------------ keyboard and buttons
function setupKeys() {
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement && ev.target.type !== "radio" && ev.target.type !== "checkbox") return;
    if (ev.target instanceof HTMLSelectElement) return;
    const k = ev.key, big = ev.shiftKey ? 10 : 1;
    const handled = () => { ev.preventDefault(); ev.stopPropagation(); };
    if (k === "ArrowRight") { stop(); seek(S.frame + big); handled(); }
    else if (k === "ArrowLeft") { stop(); seek(S.frame - big); handled(); }
    else if (k === " ") { S.playing ? stop() : play(); handled(); }
    else if (k === "Home") { stop(); seek(0); handled(); }
    else if (k === "End") { stop(); seek(S.T - 1); handled(); }
    else if (k === "[") { setBound("start"); handled(); }
    else if (k === "]") { setBound("end"); handled(); }
    else if ((k === "z" || k === "Z") && !ev.altKey) { undo(); handled(); }
    else if (ev.ctrlKey || ev.metaKey) { if (k === "s") { save(); handled(); } }
    else if (k === "a" || k === "A") { acceptProposal(); handled(); }
    else if (k === "s" || k === "S") { split(); handled(); }
    else if (k === "m" || k === "M") { merge(); handled(); }
    else if (k === "Delete" || k === "Backspace") { del(); handled(); }
    else if (k === "r" || k === "R") { replay(); handled(); }
    else if (k === "1") { setMode("hesitation"); handled(); }
    else if (k === "2") { setMode("retry"); handled(); }
    else if (k === "3") { setMode("expert"); handled(); }
    else if (k === "Enter") { save(); handled(); }
    else if (k === "n" || k === "N") { gotoEpisode(1, true); handled(); }
    else if (k === "p" || k === "P") { gotoEpisode(-1, false); handled(); }
  });
  const on = (id, f) => $(id).addEventListener("click", (ev) => { ev.currentTarget.blur(); f(); });
  on("b-back10", () => { stop(); seek(S.frame - 10); });
  on("b-back", () => { stop(); seek(S.frame - 1); });
  on("b-play", () => (S.playing ? stop() : play()));
  on("b-fwd", () => { stop(); seek(S.frame + 1); });
  on("b-fwd10", () => { stop(); seek(S.frame + 10); });
  on("b-start", () => setBound("start"));
  on("b-end", () => setBound("end"));
  on("b-accept", acceptProposal);
  on("b-split", split);
  on("b-merge", merge);
  on("b-delete", del);
  on("b-replay", replay);
  on("b-undo", undo);
  on("b-save", save);
  on("b-next", () => gotoEpisode(1, true));
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", () => { setMode(r.value); r.blur(); });
  $("speed").addEventListener("change", (ev) => { S.speed = parseFloat(ev.target.value); ev.target.blur(); });
  $("camera").addEventListener("change", (ev) => { S.camera = ev.target.value; ev.target.blur(); loadFrames(); drawFrame(); });
  $("todo-only").addEventListener("change", renderEpisodes);
  window.addEventListener("beforeunload", (ev) => {
    stashDraft();
    if (Object.values(S.drafts).some((d) => d.dirty)) { ev.preventDefault(); ev.returnValue = ""; }
  });
}

async function main() {
  setupTimeline(); setupKeys();
  try {
    S.info = await api("GET", "/api/info");
  } catch (err) { status(`cannot reach the server: ${err.message}`, "error"); return; }
  S.camera = S.info.camera;
  $("dataset-name").textContent = `${S.info.name} · ${S.info.episodes} episodes · ${S.info.embodiment}`;
  $("source").textContent = `proposals: ${S.info.source}`;
  const sel = $("camera");
  for (const k of S.info.cameras) { const o = document.createElement("option"); o.value = k; o.textContent = k.replace("observation.images.", ""); sel.appendChild(o); }
  sel.value = S.camera;
  await loadEpisodes();
  if (!S.episodes.length) { status("the dataset has no episodes", "warn"); return; }
  const first = S.episodes.find((e) => e.status !== "done") || S.episodes[0];
  await openEpisode(first.episode_index);
}

// For tests and the curious: the live state and the timeline's geometry.
window.annotator = { S, frameToX: (f, which) => x0(which === "end" ? f + 1 : f), TL, openEpisode, ready: main() };
