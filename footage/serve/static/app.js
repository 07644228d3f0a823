// footage's page: it talks only to the public API (/api/v1), as any media tool would.
// The search lives in the URL (?q=...&mode=..., ?like=SEGMENT, ?view=library), so it can be bookmarked.
// Text from the library (names, captions, what is said) is only ever set as text, never as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { cursor: null, hits: [], groups: new Map(), query: "", keep: false, hit: null };

// A token given once as ?token=... is kept for this tab and sent as a bearer header.
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  sessionStorage.setItem("footage-token", params.get("token"));
  params.delete("token");
  history.replaceState(null, "", `/?${params}`);
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem("footage-token");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail && typeof body.detail === "string" ? body.detail : body.title || response.statusText);
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

// --- search ---------------------------------------------------------------------------------------------

function searchUrl(cursor) {
  const p = new URLSearchParams(location.search);
  const q = new URLSearchParams({ limit: "24" });
  if (p.get("like")) q.set("like", p.get("like"));
  else { q.set("q", p.get("q") || ""); q.set("mode", p.get("mode") || "all"); }
  for (const name of ["path", "per_video"]) if (p.get(name)) q.set(name, p.get(name));
  if (cursor) q.set("cursor", cursor);
  return `/api/v1/search?${q}`;
}

async function run() {
  const p = new URLSearchParams(location.search);
  $("#q").value = p.get("q") || "";
  $("#mode").value = p.get("mode") || "all";
  const library = p.get("view") === "library";
  $("#library").hidden = !library;
  $("#results").hidden = library;
  $("#more").hidden = true;
  if (library) return showLibrary();
  reset();
  if (!p.get("q") && !p.get("like")) { say("Type what you are looking for, then Enter."); return; }
  state.query = p.get("q") || "";
  say(p.get("like") ? "Finding moments like this one…" : "Searching…");
  try {
    show(await api(searchUrl(null)), p.get("like") ? "like this moment" : `for “${state.query}”`);
  } catch (e) { say(`Search failed: ${e.message}`); }
}

function reset() {
  state.cursor = null; state.hits = []; state.groups = new Map();
  $("#results").replaceChildren();
}

function show(page, what) {
  const started = state.hits.length;
  for (const hit of page.hits) addCard(hit);
  state.cursor = page.next_cursor;
  $("#more").hidden = !state.cursor;
  say(state.hits.length ? `${state.hits.length} moments ${what}` : `No moments ${what}.`);
  if (!started && state.hits.length) document.querySelector(".card").focus({ preventScroll: true });
}

async function more() {
  if (!state.cursor) return;
  $("#more").hidden = true;
  try { show(await api(searchUrl(state.cursor)), "so far"); } catch (e) { say(e.message); }
}

function group(hit) {
  if (!state.groups.has(hit.path)) {
    const section = document.createElement("section");
    section.className = "group";
    const title = document.createElement("h2");
    title.textContent = baseName(hit.path);
    const where = document.createElement("small");
    where.textContent = clean(hit.path) + (hit.offline ? " (offline)" : "");
    where.title = clean(hit.path);
    title.append(where);
    if (hit.more) {  // the API shows a few moments per video: the rest are one click away
      const all = document.createElement("button");
      all.className = "all";
      all.textContent = `${hit.more} more from this video`;
      all.addEventListener("click", () => go({ q: state.query, mode: $("#mode").value, path: hit.path, per_video: 0 }));
      title.append(all);
    }
    const cards = document.createElement("div");
    cards.className = "cards";
    section.append(title, cards);
    $("#results").append(section);
    state.groups.set(hit.path, cards);
  }
  return state.groups.get(hit.path);
}

function highlight(element, text, query) {
  const words = query.toLowerCase().match(/\p{L}[\p{L}\p{N}']+/gu) || [];
  if (!words.length) { element.textContent = text; return; }
  const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "giu");
  for (const part of text.split(pattern)) {
    if (words.includes(part.toLowerCase())) {
      const mark = document.createElement("mark");
      mark.textContent = part;
      element.append(mark);
    } else element.append(document.createTextNode(part));
  }
}

function addCard(hit) {
  const card = $("#card").content.firstElementChild.cloneNode(true);
  card.dataset.index = state.hits.length;
  state.hits.push(hit);
  const thumb = card.querySelector(".thumb");
  if (hit.thumbnail_url) thumb.src = hit.thumbnail_url; else thumb.remove();
  card.querySelector(".range").textContent = `${hms(hit.start)} – ${hms(hit.end)}`;
  card.querySelector(".caption").textContent = clean(hit.caption || "");
  if (hit.transcript) highlight(card.querySelector(".said"), clean(hit.transcript), state.query);
  for (const channel of hit.channels) {
    const chip = document.createElement("span");
    chip.textContent = channel;
    card.querySelector(".channels").append(chip);
  }
  card.querySelector(".score").textContent = hit.score.toFixed(3);
  const clip = card.querySelector(".clip");
  if (hit.clip_url) clip.href = hit.clip_url; else clip.remove();
  card.querySelector(".like").addEventListener("click", (event) => {
    event.stopPropagation();
    go({ like: hit.segment_id });
  });
  clip.addEventListener("click", (event) => event.stopPropagation());
  card.addEventListener("click", () => play(hit));
  group(hit).append(card);
}

function go(values) {
  history.pushState(null, "", `/?${new URLSearchParams(values)}`);
  run();
}

// --- player ---------------------------------------------------------------------------------------------

async function play(hit) {
  state.hit = hit; state.keep = false;
  const video = $("#video");
  $("#player-title").textContent = clean(hit.path);
  $("#player-range").textContent = `${hms(hit.start)} – ${hms(hit.end)}`;
  $("#download").href = hit.clip_url || "#";
  $("#timeline").replaceChildren();
  if (!$("#player").open) $("#player").showModal();
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
    const part = document.createElement("button");
    part.type = "button";
    part.textContent = clean(event.caption);
    part.title = `${hms(event.start)} – ${hms(event.end)}  ${clean(event.caption)}`;
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
  const focused = document.querySelector(`.card[data-index="${state.hits.indexOf(state.hit)}"]`);
  if (focused) focused.focus();
  state.hit = null;
}

// --- picture search -------------------------------------------------------------------------------------

async function searchPicture(file) {
  if (!file || !file.type.startsWith("image/")) { say("That is not a picture."); return; }
  history.pushState(null, "", "/");
  $("#library").hidden = true; $("#results").hidden = false;
  reset(); state.query = "";
  say("Finding moments that look like the picture…");
  const form = new FormData();
  form.append("image", file);
  form.append("limit", "24");
  try { show(await api("/api/v1/search", { method: "POST", body: form }), "like the picture"); }
  catch (e) { say(`Search failed: ${e.message}`); }
  $("#more").hidden = true;  // a picture's page is one page
}

// --- library --------------------------------------------------------------------------------------------

let videoOffset = 0;

async function showLibrary() {
  say("");
  try {
    const stats = await api("/api/v1/stats");
    const rows = [
      ["library", stats.library + (stats.read_only ? " (read-only)" : "")],
      ["videos", `${stats.videos}${stats.offline.length ? `, ${stats.offline.length} offline` : ""}`],
      ["indexed", `${hms(stats.seconds)} (${(stats.seconds / 3600).toFixed(2)} h)`],
      ["segments", String(stats.segments)],
      ["partial", String(stats.partial.length)],
      ["failed", String(stats.failed)],
    ];
    $("#summary").replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = v;
      return [dt, dd];
    }));
    $("#failures").replaceChildren(...stats.failures.map(([path, why]) => {
      const li = document.createElement("li");
      li.textContent = clean(`${path}: ${why}`);
      return li;
    }));
    if (stats.job) watchJob(stats.job);
  } catch (e) { say(`The library cannot be read: ${e.message}`); return; }
  videoOffset = 0;
  $("#videos tbody").replaceChildren();
  moreVideos();
}

async function moreVideos() {
  const page = await api(`/api/v1/videos?offset=${videoOffset}&limit=200`);
  for (const v of page.videos) {
    const tr = document.createElement("tr");
    const state = v.status === "failed" ? `failed: ${v.error}` : v.offline ? "offline" : v.warning || "indexed";
    for (const [text, cls] of [[clean(v.path), ""], [v.duration ? hms(v.duration) : "", "num"], [String(v.segments), "num"], [state, ""]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    $("#videos tbody").append(tr);
  }
  videoOffset = page.next_offset || 0;
  $("#more-videos").hidden = page.next_offset === null;
}

async function watchJob(id) {
  $("#job").hidden = false;
  const job = await api(`/api/v1/jobs/${id}`);
  const p = job.progress;
  $("#job-bar").max = p && p.files_total ? p.files_total : 1;
  $("#job-bar").value = p ? p.files_done : 0;
  $("#job-text").textContent = p ? `indexing ${p.files_done}/${p.files_total} files, ${hms(p.video_seconds)} of video${p.current ? ": " + baseName(p.current) : ""}` : "starting…";
  if (job.state === "running") setTimeout(() => watchJob(id), 1000);
  else { $("#job-text").textContent = `index job ${job.state}${job.error ? ": " + job.error : ""}`; }
}

// --- keys and wiring ------------------------------------------------------------------------------------

function moveFocus(key) {
  const cards = [...document.querySelectorAll(".card")];
  const at = cards.indexOf(document.activeElement);
  if (at < 0) { if (cards.length) cards[0].focus(); return; }
  const columns = Math.max(1, Math.round(cards[at].parentElement.clientWidth / cards[at].offsetWidth));
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
    play(state.hits[Number(document.activeElement.dataset.index)]);
  }
});

$("#search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("#q").value.trim();
  if (q) go({ q, mode: $("#mode").value });
});
$("#mode").addEventListener("change", () => { if ($("#q").value.trim()) $("#search").requestSubmit(); });
$("#more").addEventListener("click", more);
$("#more-videos").addEventListener("click", moreVideos);
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

run();
