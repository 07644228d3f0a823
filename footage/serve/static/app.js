// footage's page: it talks only to the public API (/api/v1), as any media tool would.
// Every state is a URL, so it can be bookmarked, shared and reloaded, and back and forward work:
//   /                          the start page: the library, recently indexed videos, marks
//   /?view=library             every video, by path
//   /?video=ID                 a video and its events, as a filmstrip
//   /?q=WORDS&mode=...         a search; /?like=SEGMENT more like a moment; /?picture=ID like a kept picture
//   ...&found_by=&length=&path=&since=&until=&video=   the filters a search is narrowed by
// Text from the library (names, captions, what is said) is only ever set as text, never as HTML.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const state = { cursor: null, hits: [], keep: false, hit: null, marks: new Map(), names: new Map(), jobs: new Set(),
  paints: [] };  // paints: each card's ✓/✗, drawn again when the marks arrive
const FILTERS = ["found_by", "length", "path", "since", "until", "video"];
const LABELS = { visual: "picture", speech: "said", subtitles: "subtitles", "on-screen": "on screen",
  keyword: "exact words", seen: "look" };
const LENGTHS = { "0-60": "under 1 min", "60-600": "1-10 min", "600-3600": "10-60 min", "3600-": "over 1 h" };

// A token given once as ?token=... is kept for this tab and sent as a bearer header.
const start = new URLSearchParams(location.search);
if (start.has("token")) {
  sessionStorage.setItem("footage-token", start.get("token"));
  start.delete("token");
  history.replaceState(null, "", `/?${start}`);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem("footage-token");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  } catch { throw new ApiError(0, "the footage server does not answer: is footage serve still running?"); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { askToken(); throw new ApiError(401, "this server needs its token"); }
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail
      : Array.isArray(body.detail) ? body.detail.map((d) => `${d.where}: ${d.why}`).join("; ") : body.title;
    throw new ApiError(response.status, detail || response.statusText);
  }
  return body;
}

function hms(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function say(text) { $("#status").textContent = text; }

// Control characters in names and subtitles are shown as escapes, as the CLI shows them.
function clean(text) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function baseName(path) { return clean(path.split("/").pop()); }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node[k] = v;
  }
  node.append(...children);
  return node;
}

function params() { return new URLSearchParams(location.search); }

function go(values, replace = false) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  history[replace ? "replaceState" : "pushState"](null, "", p.toString() ? `/?${p}` : "/");
  run();
}

// --- which page -----------------------------------------------------------------------------------------

function show(...ids) {
  for (const id of ["token", "source", "filter-box", "chips", "results", "more", "library", "video-page"]) {
    $(`#${id}`).hidden = !ids.includes(id);
  }
}

async function run() {
  const p = params();
  $("#q").value = p.get("q") || "";
  $("#mode").value = p.get("mode") || "all";
  state.cursor = null; state.hits = []; state.paints = [];
  $("#results").replaceChildren();
  const bad = badLink(p);
  if (bad) { show(); say(bad); return; }
  if (p.get("q") || p.get("like") || p.get("picture")) return search(p);
  if (p.get("video")) return videoPage(p.get("video"));
  return libraryPage(p.get("view") === "library");
}

// A deep link whose values cannot be right is explained before anything is asked of the server.
function badLink(p) {
  for (const name of ["like", "video"]) {
    if (p.has(name) && !/^\d{1,18}$/.test(p.get(name))) {
      return `This link is broken: ${name}=${clean(p.get(name))} should be a number (a ${name === "like" ? "moment" : "video"}'s id).`;
    }
  }
  if (p.has("picture") && !/^[0-9a-f]{16}$/.test(p.get("picture"))) {
    return `This link is broken: picture=${clean(p.get("picture"))} is not a kept picture's id (16 hex digits).`;
  }
  if (p.has("length") && !(p.get("length") in LENGTHS)) return `This link is broken: length=${clean(p.get("length"))} is not a length this page offers.`;
  for (const name of ["since", "until"]) {
    if (p.get(name) && !/^\d{4}-\d{2}-\d{2}$/.test(p.get(name))) return `This link is broken: ${name}=${clean(p.get(name))} is not a date (YYYY-MM-DD).`;
  }
  if (p.has("mode") && !["all", "visual", "speech", "text"].includes(p.get("mode"))) return `This link is broken: mode=${clean(p.get("mode"))} is not a search mode.`;
  return null;
}

// Why a search or page failed, in words that say what to do.
function explain(e, p) {
  if (e.status === 401) return "This server needs its token: paste it above.";
  if (e.status === 404 && p.get("like")) return `The moment this link starts from (${p.get("like")}) is no longer in the library: it was indexed again or removed. ${e.message}.`;
  if (e.status === 404 && p.get("picture")) return "The picture this link searches with is not kept in this library.";
  if (e.status === 404 && p.get("video")) return `Video ${clean(p.get("video"))} is not in the library (removed, or a link from another library).`;
  if (e.status === 400 || e.status === 422) return `This search cannot be run: ${e.message}.`;
  return `Search failed: ${e.message}`;
}

// --- search ---------------------------------------------------------------------------------------------

function searchUrl(p, cursor) {
  const q = new URLSearchParams({ limit: "24" });
  if (p.get("like")) q.set("like", p.get("like"));
  else if (p.get("picture")) q.set("picture", p.get("picture"));
  else { q.set("q", p.get("q")); q.set("mode", p.get("mode") || "all"); }
  for (const name of ["found_by", "path", "since", "until", "video"]) if (p.get(name)) q.set(name, p.get(name));
  if (p.get("length")) {
    const [low, high] = p.get("length").split("-");
    if (Number(low)) q.set("min_length", low);
    if (high) q.set("max_length", String(Number(high) - 0.001));
  }
  if (cursor) q.set("cursor", cursor);
  return `/api/v1/search?${q}`;
}

function what(p) {
  if (p.get("like")) return "like this moment";
  if (p.get("picture")) return "like the picture";
  return `for “${clean(p.get("q"))}”`;
}

async function search(p) {
  show("source", "filter-box", "chips", "results", "more");
  $("#filter-box").open = innerWidth > 640 || FILTERS.some((f) => f !== "video" && p.get(f));  // a phone opens them
  $("#more").hidden = true;
  $("#source").replaceChildren();
  $("#source").hidden = !(p.get("like") || p.get("picture"));
  chips(p);
  say(p.get("like") ? "Finding moments like this one…" : p.get("picture") ? "Finding moments like the picture…" : "Searching…");
  document.title = `${p.get("q") || "moments"} – footage`;
  if (p.get("like")) sourceMoment(p.get("like"));
  if (p.get("picture")) sourcePicture(p.get("picture"));
  try {
    const page = await api(searchUrl(p, null));
    if (params().toString() !== p.toString()) return;  // the person moved on meanwhile
    facets(p, page.facets);
    addPage(page, p);
  } catch (e) { say(explain(e, p)); }
}

function addPage(page, p) {
  const first = !state.hits.length;
  for (const hit of page.hits) $("#results").append(card(hit, p));
  state.cursor = page.next_cursor;
  $("#more").hidden = !state.cursor;
  const narrowed = FILTERS.some((f) => p.get(f));
  say(state.hits.length ? `${state.hits.length}${state.cursor ? "+" : ""} moments ${what(p)}`
    : `No moments match ${p.get("q") ? `“${clean(p.get("q"))}”` : what(p)}${narrowed ? " with these filters" : ""}.`);
  if (first && state.hits.length) $(".card").focus({ preventScroll: true });
}

async function more() {
  if (!state.cursor) return;
  const p = params();
  $("#more").hidden = true;
  try { addPage(await api(searchUrl(p, state.cursor)), p); } catch (e) { say(explain(e, p)); }
}

function facets(p, counts) {
  const found = field("found_by"), folder = field("path");
  found.replaceChildren(el("option", { value: "", text: "anything" }));
  for (const [channel, n] of Object.entries(counts?.found_by || {})) {
    found.append(el("option", { value: channel, text: `${LABELS[channel] || channel} (${n})` }));
  }
  const lengths = counts?.length || {};
  for (const option of field("length").options) {
    if (option.value) option.textContent = `${LENGTHS[option.value]}${lengths[LENGTHS[option.value]] ? ` (${lengths[LENGTHS[option.value]]})` : ""}`;
  }
  folder.replaceChildren(el("option", { value: "", text: "anywhere" }));
  for (const [path, n] of Object.entries(counts?.folder || {})) folder.append(el("option", { value: path, text: `${clean(path)} (${n})` }));
  for (const name of ["found_by", "path"]) {  // a filter in use stays selectable though it has no count now
    const value = p.get(name);
    if (value && ![...field(name).options].some((o) => o.value === value)) {
      field(name).append(el("option", { value, text: name === "found_by" ? LABELS[value] || value : clean(value) }));
    }
  }
  for (const name of ["found_by", "length", "path", "since", "until"]) field(name).value = p.get(name) || "";
}

function field(name) { return $(`#filters [name="${name}"]`); }  // a form's elements.length is a count

function chips(p) {
  const box = $("#chips");
  box.replaceChildren();
  for (const name of FILTERS) {
    const value = p.get(name);
    if (!value) continue;
    const shown = name === "video" ? `only ${state.names.get(value) || `video ${value}`}`
      : name === "found_by" ? `found by ${LABELS[value] || value}` : name === "length" ? LENGTHS[value]
        : name === "path" ? `under ${clean(value)}` : `${name === "since" ? "from" : "to"} ${value}`;
    const clear = el("button", { type: "button", class: "chip", text: `${shown} ×`, title: "Clear this filter" });
    clear.setAttribute("aria-label", `Clear filter: ${shown}`);
    clear.addEventListener("click", () => { const next = params(); next.delete(name); next.delete("cursor"); go(Object.fromEntries(next)); });
    box.append(clear);
  }
}

function sourceMoment(id) {
  api(`/api/v1/segments/${id}`).then((hit) => {
    if (params().get("like") !== id) return;
    const head = el("h2", { text: "More like this moment" });
    const c = card(hit, new URLSearchParams(), true);
    $("#source").replaceChildren(head, c);
  }).catch(() => {});
}

function sourcePicture(id) {
  api(`/api/v1/pictures/${id}`).then((kept) => {
    if (params().get("picture") !== id) return;
    const img = el("img", { class: "picture-shown", alt: "The picture searched with", src: kept.url });
    $("#source").replaceChildren(el("h2", { text: "Moments like this picture" }), img);
  }).catch(() => {});
}

function relevanceWord(r) { return r >= 0.66 ? "close match" : r >= 0.33 ? "good match" : "loose match"; }

function card(hit, p, source = false) {
  const node = $("#card").content.firstElementChild.cloneNode(true);
  const index = state.hits.length;
  if (!source) { node.dataset.index = index; state.hits.push(hit); }
  const thumb = $(".thumb", node);
  if (hit.thumbnail_url) thumb.src = hit.thumbnail_url; else thumb.remove();
  $(".length", node).textContent = hms(hit.end - hit.start);
  if (hit.duration) {
    const where = $(".where span", node);
    where.style.left = `${Math.min(100, (100 * hit.start) / hit.duration)}%`;
    where.style.width = `${Math.max(1.5, (100 * (hit.end - hit.start)) / hit.duration)}%`;
  } else $(".where", node).remove();
  const video = $(".video", node);
  video.textContent = baseName(hit.path) + (hit.offline ? " (offline)" : "");
  video.title = clean(hit.path);
  if (hit.video_id !== null) {
    video.href = `/?video=${hit.video_id}`;
    state.names.set(String(hit.video_id), baseName(hit.path));
    video.addEventListener("click", (event) => { event.preventDefault(); event.stopPropagation(); go({ video: hit.video_id }); });
  }
  if (hit.offline) node.classList.add("offline");
  $(".range", node).textContent = `${hms(hit.start)} – ${hms(hit.end)}${hit.duration ? ` of ${hms(hit.duration)}` : ""}`;
  $(".caption", node).textContent = clean(hit.caption || "");
  if (hit.transcript) {
    $(".tag", node).textContent = LABELS[hit.words_from] || "said";
    highlight($(".words .text", node), clean(hit.transcript), p.get("q") || "");
  } else $(".words", node).remove();
  if (typeof hit.relevance === "number" && !source) {
    $(".relevance .bar span", node).style.width = `${Math.round(100 * hit.relevance)}%`;
    $(".relevance .word", node).textContent = relevanceWord(hit.relevance);
    $(".relevance", node).title = `relevance ${Math.round(100 * hit.relevance)}%`;
  } else $(".relevance", node).remove();
  for (const channel of source ? [] : hit.channels) $(".channels", node).append(el("span", { text: LABELS[channel] || channel }));
  const clip = $(".clip", node);
  if (hit.clip_url) clip.href = hit.clip_url; else clip.remove();
  clip.addEventListener("click", (event) => event.stopPropagation());
  const like = $(".like", node);
  if (hit.segment_id === null || source) like.remove();
  else like.addEventListener("click", (event) => { event.stopPropagation(); go({ like: hit.segment_id }); });
  if (p.get("q") && hit.video_id !== null) marking(node, hit, p.get("q")); else $(".marks", node).remove();
  const all = $(".all", node);
  if (hit.more && hit.video_id !== null && !p.get("video")) {
    all.hidden = false;
    all.textContent = `${hit.more} more from this video`;
    all.addEventListener("click", (event) => {
      event.stopPropagation();
      go({ ...Object.fromEntries(params()), video: hit.video_id });
    });
  }
  node.setAttribute("aria-label", `${baseName(hit.path)}, ${hms(hit.start)} to ${hms(hit.end)}: ${clean(hit.caption || "")}`);
  node.addEventListener("click", () => play(hit));
  return node;
}

function highlight(element, text, query) {
  const words = query.toLowerCase().match(/\p{L}[\p{L}\p{N}']+/gu) || [];
  if (!words.length) { element.textContent = text; return; }
  const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "giu");
  for (const part of text.split(pattern)) {
    if (words.includes(part.toLowerCase())) element.append(el("mark", { text: part }));
    else element.append(document.createTextNode(part));
  }
}

// --- marks: right or wrong, kept in the library, learnt from -------------------------------------------

function markKey(query, hit) { return `${query}\n${hit.video_id}\n${hit.start}\n${hit.end}`; }

function marking(node, hit, query) {
  const right = $(".right", node), wrong = $(".wrong", node);
  const paint = () => {
    const mark = state.marks.get(markKey(query, hit));
    right.setAttribute("aria-pressed", String(!!mark && mark.right));
    wrong.setAttribute("aria-pressed", String(!!mark && !mark.right));
  };
  const press = async (event, value) => {
    event.stopPropagation();
    const key = markKey(query, hit), mark = state.marks.get(key);
    try {
      if (mark && mark.right === value) {  // pressed again: the mark is taken back
        await api(`/api/v1/feedback/${mark.id}`, { method: "DELETE" });
        state.marks.delete(key);
        say("Mark taken back.");
      } else {
        const body = { query, video_id: hit.video_id, start: hit.start, end: hit.end, right: value, segment_id: hit.segment_id };
        const saved = await api("/api/v1/feedback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        state.marks.set(key, saved);
        say(`Marked ${value ? "right" : "wrong"}: footage learns from your marks when you ask it to (Library page).`);
      }
    } catch (e) { say(`The mark was not kept: ${e.message}`); }
    paint();
  };
  right.addEventListener("click", (event) => press(event, true));
  wrong.addEventListener("click", (event) => press(event, false));
  state.paints.push(paint);
  paint();
}

async function loadMarks() {
  try {
    const { marks } = await api("/api/v1/feedback");
    state.marks = new Map(marks.map((m) => [markKey(m.query, m), m]));
    for (const paint of state.paints) paint();
    return marks;
  } catch { return []; }
}

async function learn() {
  const button = $("#learn-button");
  button.disabled = true;
  $("#learn-result").textContent = "Learning from your marks…";
  try {
    const report = await api("/api/v1/train", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ from_feedback: true }) });
    $("#learn-result").textContent = report.summary;
  } catch (e) { $("#learn-result").textContent = `Nothing learnt: ${e.message}`; }
  button.disabled = false;
}

// --- player ---------------------------------------------------------------------------------------------

async function play(hit) {
  state.hit = hit; state.keep = false;
  const video = $("#video");
  $("#player-title").textContent = clean(hit.path);
  $("#player-range").textContent = `${hms(hit.start)} – ${hms(hit.end)}`;
  $("#download").href = hit.clip_url || "#";
  $("#download").hidden = !hit.clip_url;
  $("#timeline").replaceChildren();
  if (!$("#player").open) $("#player").showModal();
  if (!hit.play_url) { $("#player-range").textContent = "This video's file is not there (offline): it cannot be played."; return; }
  video.src = hit.play_url;  // the #t=START,END fragment: the browser starts there and stops at the end
  video.play().catch(() => {});
  if (hit.video_id !== null) timeline(hit);
}

async function timeline(hit) {
  let detail;
  try { detail = await api(`/api/v1/videos/${hit.video_id}`); } catch { return; }
  if (state.hit !== hit) return;
  const strip = $("#timeline");
  const total = detail.duration || (detail.timeline.length ? detail.timeline[detail.timeline.length - 1].end : 1);
  for (const event of detail.timeline) {
    const part = el("button", { type: "button", text: clean(event.caption), title: `${hms(event.start)} – ${hms(event.end)}  ${clean(event.caption)}` });
    part.style.flexGrow = String(Math.max(event.end - event.start, total / 200));
    part.dataset.start = event.start; part.dataset.end = event.end;
    if (event.start < hit.end && hit.start < event.end) part.classList.add("hit");
    part.addEventListener("click", () => { state.keep = true; $("#video").currentTime = event.start; $("#video").play(); });
    strip.append(part);
  }
}

function onTime() {
  const video = $("#video"), hit = state.hit;
  if (!hit) return;
  if (!state.keep && video.currentTime >= hit.end + 0.25) video.pause();
  for (const part of $("#timeline").children) {
    part.classList.toggle("now", part.dataset.start <= video.currentTime && video.currentTime < part.dataset.end);
  }
}

function closePlayer() {
  const video = $("#video");
  video.pause();
  video.removeAttribute("src");
  video.load();
  if ($("#player").open) $("#player").close();
  const index = state.hits.indexOf(state.hit);
  const focused = index >= 0 ? $(`.card[data-index="${index}"]`) : null;
  if (focused) focused.focus();
  state.hit = null;
}

// --- picture search -------------------------------------------------------------------------------------

async function searchPicture(file) {
  if (!file || !file.type.startsWith("image/")) { say("That is not a picture."); return; }
  say("Keeping the picture…");
  const form = new FormData();
  form.append("image", file);
  try {
    const kept = await api("/api/v1/pictures", { method: "POST", body: form });
    go({ picture: kept.id });
  } catch (e) {
    if (e.status !== 403) { say(`The picture cannot be searched with: ${e.message}`); return; }
    // a read-only library keeps no picture: searched once, with no URL of its own
    history.pushState(null, "", "/");
    show("results");
    state.hits = []; state.cursor = null;
    $("#results").replaceChildren();
    form.append("limit", "24");
    try { addPage(await api("/api/v1/search", { method: "POST", body: form }), new URLSearchParams({ picture: "once" })); say(`${state.hits.length} moments like the picture (the library is read-only: this search has no link of its own)`); }
    catch (e2) { say(`The picture cannot be searched with: ${e2.message}`); }
  }
}

// --- library and videos ---------------------------------------------------------------------------------

let videoOffset = 0;

async function libraryPage(all, keepJob = false) {
  show("library");
  if (!keepJob) { say(""); $("#job").hidden = true; }
  document.title = "footage";
  $("#videos-title").textContent = all ? "Videos" : "Recently indexed";
  let stats;
  try { stats = await api("/api/v1/stats"); } catch (e) { say(e.status === 401 ? explain(e, params()) : `The library cannot be read: ${e.message}`); show(...(e.status === 401 ? ["token"] : [])); return; }
  const parts = [`${stats.videos} videos, ${hms(stats.seconds)} indexed, ${stats.segments} segments`];
  if (stats.offline.length) parts.push(`${stats.offline.length} offline`);
  if (stats.failed) parts.push(`${stats.failed} could not be read`);
  if (stats.partial.length) parts.push(`${stats.partial.length} read in part`);
  $("#summary").textContent = parts.join(" · ") + (stats.read_only ? " (read-only)" : "");
  if (!stats.videos) $("#summary").textContent = "The library is empty: index a folder with footage index FOLDER (or POST /api/v1/jobs/index).";
  $("#failures-title").hidden = !stats.failures.length;
  $("#failures").replaceChildren(...stats.failures.map(([path, why]) => el("li", { text: clean(`${path}: ${why}`) })));
  if (stats.job) watchJob(stats.job); else if (!state.watching) $("#job").hidden = true;
  pollJobs();
  const marks = await loadMarks();
  const right = marks.filter((m) => m.right).length;
  $("#learn").hidden = !marks.length;
  $("#marks-text").textContent = `${right} marked right, ${marks.length - right} wrong. footage can learn from them: it keeps what it learns only if it finds your right moments better.`;
  videoOffset = 0;
  $("#videos").replaceChildren();
  moreVideos(all);
}

async function moreVideos(all) {
  let page;
  try { page = await api(`/api/v1/videos?offset=${videoOffset}&limit=48&order=${all ? "path" : "recent"}`); } catch (e) { say(e.message); return; }
  for (const v of page.videos) $("#videos").append(videoTile(v));
  videoOffset = page.next_offset || 0;
  $("#more-videos").hidden = page.next_offset === null || !all && videoOffset >= 48;
  if (!all && page.next_offset !== null) {
    $("#more-videos").hidden = false;
    $("#more-videos").textContent = "All videos";
  } else $("#more-videos").textContent = "More videos";
}

function videoTile(v) {
  const stateText = v.status === "failed" ? `could not be read: ${v.error}` : v.offline ? "offline" : v.warning || "";
  const tile = el("a", { class: `tile${v.status === "failed" ? " failed" : ""}${v.offline ? " offline" : ""}`, href: `/?video=${v.id}` });
  const frame = el("div", { class: "frame" });
  if (v.thumbnail_url) frame.append(el("img", { class: "thumb", src: v.thumbnail_url, alt: "", loading: "lazy" }));
  if (v.duration) frame.append(el("span", { class: "length", text: hms(v.duration) }));
  tile.append(frame, el("span", { class: "name", text: baseName(v.path) }), el("span", { class: "dim", text: clean(v.path) }));
  if (stateText) tile.append(el("span", { class: "badge", text: clean(stateText) }));
  tile.addEventListener("click", (event) => { event.preventDefault(); go({ video: v.id }); });
  state.names.set(String(v.id), baseName(v.path));
  return tile;
}

async function videoPage(id) {
  show("video-page");
  say("Reading the video's events…");
  $("#video-title").textContent = "";
  $("#video-meta").textContent = "";
  $("#filmstrip").replaceChildren();
  let v;
  try { v = await api(`/api/v1/videos/${id}`); } catch (e) { say(explain(e, params())); return; }
  if (params().get("video") !== id) return;
  say("");
  state.names.set(String(v.id), baseName(v.path));
  document.title = `${baseName(v.path)} – footage`;
  $("#video-title").textContent = baseName(v.path);
  const facts = [clean(v.path), v.duration ? hms(v.duration) : null, v.width ? `${v.width}x${v.height}` : null, v.codec,
    v.offline ? "offline: its file is not there" : null, v.status === "failed" ? `could not be read: ${v.error}` : v.warning].filter(Boolean);
  $("#video-meta").textContent = `${facts.join(" · ")}. A search from here looks in this video only.`;
  const whole = $("#play-video");
  whole.hidden = !v.media_url;
  whole.onclick = () => {
    play({ path: v.path, start: 0, end: v.duration || 0, video_id: v.id, play_url: v.media_url, clip_url: null });
    state.keep = true;
  };
  if (!v.timeline.length) { say(v.status === "failed" ? "This video could not be read, so it has no events." : "No events: the video has no segments."); return; }
  for (const event of v.timeline) {
    const hit = { path: v.path, start: event.start, end: event.end, caption: event.caption, thumbnail_url: event.thumbnail_url,
      duration: v.duration, video_id: v.id, segment_id: event.segment, channels: [], offline: v.offline, more: 0,
      play_url: v.media_url ? `${v.media_url.split("#")[0]}#t=${event.start.toFixed(2)},${event.end.toFixed(2)}` : null, clip_url: null };
    $("#filmstrip").append(card(hit, new URLSearchParams({ video: id })));
  }
  say(`${v.timeline.length} events`);
}

// An index job started elsewhere (another tab, a media tool) shows up within seconds while the library is shown,
// a quick one too: any job the page has not seen yet is followed to its end.
async function pollJobs() {
  clearTimeout(state.poll);
  let jobs;
  try { jobs = await api("/api/v1/jobs"); } catch { return; }
  const fresh = jobs.filter((j) => !state.jobs.has(j.id));
  if (state.jobs.size || state.jobsRead) for (const j of fresh) watchJob(j.id);
  for (const j of jobs) state.jobs.add(j.id);
  state.jobsRead = true;
  state.poll = setTimeout(() => { if (!$("#library").hidden) pollJobs(); }, 2000);
}

async function watchJob(id) {
  if (state.watching && state.watching !== id) return;
  state.watching = id;
  $("#job").hidden = false;
  let job;
  try { job = await api(`/api/v1/jobs/${id}`); } catch { $("#job").hidden = true; state.watching = null; return; }
  const p = job.progress;
  $("#job-bar").max = p && p.files_total ? p.files_total : 1;
  $("#job-bar").value = p ? p.files_done : 0;
  $("#job-text").textContent = p ? `indexing ${p.files_done}/${p.files_total} files, ${hms(p.video_seconds)} of video${p.current ? ": " + baseName(p.current) : ""}` : "starting…";
  if (job.state === "running") { setTimeout(() => { state.watching = null; if (!$("#library").hidden) watchJob(id); }, 1000); return; }
  const report = job.report ? `: ${job.report.indexed?.length ?? 0} indexed, ${job.report.failed?.length ?? 0} failed` : "";
  $("#job-text").textContent = `index job ${job.state}${job.error ? ": " + job.error : report}`;
  $("#job-bar").value = $("#job-bar").max;
  state.watching = null;
  if (!$("#library").hidden && job.state === "done") libraryPage(params().get("view") === "library", true);
}

function askToken() {
  show("token");
  $("#token-value").focus();
}

// --- keys and wiring ------------------------------------------------------------------------------------

function moveFocus(key) {
  const cards = [...document.querySelectorAll("#results .card, #filmstrip .card")];
  const at = cards.indexOf(document.activeElement);
  if (at < 0) { if (cards.length) cards[0].focus(); return; }
  const top = cards[at].offsetTop;
  const columns = Math.max(1, cards.filter((c) => c.offsetTop === top).length);
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[key];
  const next = cards[Math.min(cards.length - 1, Math.max(0, at + step))];
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "Escape" && $("#player").open) { event.preventDefault(); closePlayer(); return; }
  if (event.key === "/" && !typing) { event.preventDefault(); $("#q").focus(); $("#q").select(); return; }
  if (typing || $("#player").open) return;
  if (event.key.startsWith("Arrow")) { event.preventDefault(); moveFocus(event.key); }
  else if (event.key === "Enter" && document.activeElement.classList.contains("card")) {
    event.preventDefault();  // else the same Enter presses the player's first button, which closes it
    document.activeElement.click();
  }
});

$("#search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("#q").value.trim();
  if (!q) return;
  const keep = Object.fromEntries([...params()].filter(([k]) => FILTERS.includes(k)));  // filters stay on
  go({ q, mode: $("#mode").value, ...keep });
});
$("#filters").addEventListener("change", () => {
  const next = Object.fromEntries([...params()].filter(([k]) => !FILTERS.includes(k) || k === "video"));
  for (const name of ["found_by", "length", "path", "since", "until"]) next[name] = field(name).value;
  go(next);
});
$("#filters").addEventListener("submit", (event) => event.preventDefault());
$("#token").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("footage-token", $("#token-value").value.trim());
  run();
  loadMarks();
});
$("#mode").addEventListener("change", () => { if ($("#q").value.trim()) $("#search").requestSubmit(); });
$("#more").addEventListener("click", more);
$("#more-videos").addEventListener("click", () => {
  if (params().get("view") !== "library") go({ view: "library" }); else moreVideos(true);
});
$("#learn-button").addEventListener("click", learn);
$("#image").addEventListener("change", () => searchPicture($("#image").files[0]));
$("#close").addEventListener("click", closePlayer);
$("#player").addEventListener("cancel", (event) => { event.preventDefault(); closePlayer(); });
$("#keep").addEventListener("click", () => { state.keep = true; $("#video").play(); });
$("#video").addEventListener("timeupdate", onTime);
$("#library-link").addEventListener("click", (event) => { event.preventDefault(); go({ view: "library" }); });
$("#home").addEventListener("click", (event) => { event.preventDefault(); go({}); });
window.addEventListener("popstate", run);
new IntersectionObserver((seen) => { if (seen.some((e) => e.isIntersecting)) more(); }).observe($("#more"));

let dragging = 0;
document.addEventListener("dragenter", (event) => { event.preventDefault(); dragging++; $("#drop").hidden = false; });
document.addEventListener("dragleave", () => { if (--dragging <= 0) { dragging = 0; $("#drop").hidden = true; } });
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault(); dragging = 0; $("#drop").hidden = true;
  searchPicture(event.dataTransfer.files[0]);
});

run();  // at once: a person may type before the marks arrive, which then paint the cards' ✓/✗
loadMarks();
