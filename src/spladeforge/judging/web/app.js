// The judge page: one query's pooled passages at a time, each grade POSTed the moment it is given.
// Plain DOM, no framework: text is only ever inserted as text nodes, never as HTML.
"use strict";

const LABELS = { 0: "0 not relevant", 1: "1 partly relevant", 2: "2 relevant" };
const state = { session: null, view: null, current: 0, undo: [], saveState: new Map() };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const options = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) options.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("server unreachable");
  }
  let data = null;
  try { data = await response.json(); } catch (err) { /* not JSON: reported below */ }
  if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
  return data;
}

function setStatus(kind, text) {
  const el = $("status");
  el.className = `status ${kind}`;
  el.textContent = text;
}

function highlighted(text, spans) {
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of spans) {
    if (start > at) frag.append(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    frag.append(mark);
    at = end;
  }
  frag.append(document.createTextNode(text.slice(at)));
  return frag;
}

// --- the query list and progress -------------------------------------------------------------

async function loadSession() {
  state.session = await api("GET", "/api/session");
  const s = state.session;
  $("progress").textContent =
    `judged ${s.passages_judged} of ${s.passages_pooled} passages · ` +
    `${s.queries_complete} of ${s.queries.length} queries complete · judging as ${s.user}`;
  const list = $("queries");
  list.replaceChildren();
  for (const q of s.queries) {
    const li = document.createElement("li");
    li.dataset.queryId = q.id;
    li.classList.toggle("current", state.view !== null && state.view.id === q.id);
    li.classList.toggle("complete", q.pooled > 0 && q.judged === q.pooled);
    const text = document.createElement("span");
    text.textContent = q.text;
    li.append(text);
    if (q.new > 0) {
      const fresh = document.createElement("span");
      fresh.className = "fresh";
      fresh.textContent = `${q.new} new`;
      li.append(fresh);
    }
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${q.judged}/${q.pooled}`;
    li.append(count);
    li.addEventListener("click", () => openQuery(q.id));
    list.append(li);
  }
  $("empty").hidden = s.queries.length > 0;
}

// --- one query's passages --------------------------------------------------------------------

async function openQuery(qid, { keepPosition = false } = {}) {
  const view = await api("GET", `/api/queries/${encodeURIComponent(qid)}`);
  const sameQuery = state.view !== null && state.view.id === view.id;
  state.view = view;
  if (!(keepPosition && sameQuery)) {
    const firstOpen = view.passages.findIndex((p) => p.grade === null);
    state.current = firstOpen >= 0 ? firstOpen : 0;
  }
  history.replaceState(null, "", `#${view.id}`);
  $("query-text").textContent = view.text;
  const banner = $("new-banner");
  banner.hidden = view.new === 0;
  banner.textContent = view.new === 1 ? "1 new passage to judge" : `${view.new} new passages to judge`;
  renderPassages();
  for (const li of $("queries").children) li.classList.toggle("current", li.dataset.queryId === view.id);
  if (view.passages.length === 0) $("query-text").append(" (no system returned a passage for it)");
}

function renderPassages() {
  const list = $("passages");
  list.replaceChildren(...state.view.passages.map(renderPassage));
  focusCurrent(false);
}

function renderPassage(p, index) {
  const li = document.createElement("li");
  li.className = "passage";
  li.dataset.chunkId = p.chunk_id;
  if (p.grade !== null) li.classList.add(`grade-${p.grade}`);
  if (index === state.current) li.classList.add("current");
  const title = document.createElement("h3");
  title.append(highlighted(p.title || p.chunk_id, p.title ? p.title_highlights : []));
  if (p.new && p.grade === null) {
    const badge = document.createElement("span");
    badge.className = "new";
    badge.textContent = "new";
    title.append(badge);
  }
  const text = document.createElement("p");
  text.className = "text";
  text.append(highlighted(p.text, p.highlights));
  const grades = document.createElement("div");
  grades.className = "grades";
  for (const g of [0, 1, 2]) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.grade = String(g);
    button.textContent = LABELS[g];
    button.classList.toggle("chosen", p.grade === g);
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      state.current = index;
      grade(index, g);
    });
    grades.append(button);
  }
  const saved = state.saveState.get(`${state.view.id} ${p.chunk_id}`);
  const stateEl = document.createElement("span");
  stateEl.className = `state ${saved ? saved.kind : ""}`;
  stateEl.textContent = saved ? saved.text : "";
  grades.append(stateEl);
  li.append(title, text, grades);
  li.addEventListener("click", () => { state.current = index; focusCurrent(false); });
  return li;
}

function focusCurrent(scroll = true) {
  const items = $("passages").children;
  for (let i = 0; i < items.length; i++) items[i].classList.toggle("current", i === state.current);
  const el = items[state.current];
  if (el && scroll) el.scrollIntoView({ block: "nearest" });
}

// --- grading, saved at once ------------------------------------------------------------------

async function save(qid, chunkId, value) {
  const key = `${qid} ${chunkId}`;
  state.saveState.set(key, { kind: "saving", text: "saving…" });
  setStatus("saving", "saving…");
  if (state.view && state.view.id === qid) renderPassages();
  try {
    await api("POST", "/api/grades", { query_id: qid, chunk_id: chunkId, grade: value });
    state.saveState.set(key, { kind: "saved", text: value === null ? "grade removed" : "saved" });
    setStatus("saved", "all grades saved");
    return true;
  } catch (err) {
    state.saveState.set(key, { kind: "failed", text: `not saved: ${err.message}` });
    setStatus("failed", `not saved: ${err.message}`);
    return false;
  }
}

async function grade(index, value) {
  const view = state.view;
  const p = view.passages[index];
  const previous = p.grade;
  p.grade = value;
  if (await save(view.id, p.chunk_id, value)) {
    state.undo.push({ qid: view.id, chunkId: p.chunk_id, previous });
    if (state.view === view && index === state.current && index + 1 < view.passages.length) state.current = index + 1;
  } else {
    p.grade = previous;
  }
  if (state.view === view) renderPassages();
  await refresh(view.id);
}

async function undo() {
  const last = state.undo.pop();
  if (!last) { setStatus("", "nothing to undo"); return; }
  if (!(await save(last.qid, last.chunkId, last.previous))) { state.undo.push(last); }
  if (state.view.id !== last.qid) {
    await openQuery(last.qid);
  }
  const index = state.view.passages.findIndex((p) => p.chunk_id === last.chunkId);
  if (index >= 0) state.current = index;
  await refresh(last.qid);
}

async function refresh(qid) {
  try {
    await loadSession();
    if (state.view && state.view.id === qid) await openQuery(qid, { keepPosition: true });
  } catch (err) {
    // A failed save already says so; otherwise the grade is saved but the page is stale.
    if (!$("status").classList.contains("failed")) setStatus("failed", `cannot reload the page's data: ${err.message}`);
  }
  focusCurrent();
}

function moveQuery(step) {
  const ids = state.session.queries.map((q) => q.id);
  const at = ids.indexOf(state.view ? state.view.id : "");
  const next = ids[at + step];
  if (next) openQuery(next);
}

// --- keys and the query box ------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea")) return;
  const view = state.view;
  const n = view ? view.passages.length : 0;
  if (["0", "1", "2"].includes(event.key) && n > 0) {
    grade(state.current, Number(event.key));
  } else if ((event.key === "j" || event.key === "ArrowDown") && n > 0) {
    state.current = Math.min(n - 1, state.current + 1);
    focusCurrent();
  } else if ((event.key === "k" || event.key === "ArrowUp") && n > 0) {
    state.current = Math.max(0, state.current - 1);
    focusCurrent();
  } else if (event.key === "n") {
    moveQuery(1);
  } else if (event.key === "p") {
    moveQuery(-1);
  } else if (event.key === "u") {
    undo();
  } else {
    return;
  }
  event.preventDefault();
});

$("add-query").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("new-query");
  const text = input.value.trim();
  if (!text) return;
  try {
    setStatus("saving", "pooling the query…");
    const { id } = await api("POST", "/api/queries", { text });
    input.value = "";
    input.blur();
    setStatus("saved", "query added");
    await loadSession();
    await openQuery(id);
  } catch (err) {
    setStatus("failed", `query not added: ${err.message}`);
  }
});

(async function start() {
  try {
    await loadSession();
    const wanted = location.hash.slice(1);
    const ids = state.session.queries.map((q) => q.id);
    if (ids.length > 0) await openQuery(ids.includes(wanted) ? wanted : ids[0]);
    else $("query-text").textContent = "No queries yet";
  } catch (err) {
    setStatus("failed", `cannot load: ${err.message}`);
  }
})();
