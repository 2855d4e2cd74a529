// Freeway's dashboard: plain JavaScript, no dependencies, nothing fetched but this edge.
// The key lives in sessionStorage and goes only in Authorization headers and the
// WebSocket's first message, never in a URL. Every text from the API is set with
// textContent (model ids and provider errors come from outside).
"use strict";

const KEY = "freeway.key";
const SVG = "http://www.w3.org/2000/svg";
const MINUTES = 60;
const FEED_ROWS = 200;
const $ = (id) => document.getElementById(id);

const state = { catalogue: [], changes: [], socket: null, timers: [], retry: 500 };

// ---- API -------------------------------------------------------------------------------

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const message = (body.error && body.error.message) || resp.statusText;
    const failure = new Error(message);
    failure.status = resp.status;
    throw failure;
  }
  return body;
}

// ---- little DOM helpers ----------------------------------------------------------------

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function rows(tbody, items, fill) {
  tbody.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    fill(tr, item);
    tbody.appendChild(tr);
  }
}

const usd = (v) => (v === null || v === undefined ? "unknown" : "$" + Number(v).toFixed(v && Math.abs(v) < 0.01 ? 6 : 2));
const count = (v) => Number(v || 0).toLocaleString("en");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
const ms = (v) => (v === null || v === undefined ? "–" : Math.round(v) + " ms");

// ---- sign-in and views -----------------------------------------------------------------

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    await api("/v1/usage/summary");
  } catch (failure) {
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent =
      failure.status === 401 ? "That key is not known." :
      failure.status === 403 ? "That key may not read everyone's usage: use an admin or viewer key." :
      "Sign-in failed: " + failure.message;
    return;
  }
  $("sign-in").hidden = true;
  $("tabs").hidden = false;
  $("sign-out").hidden = false;
  show("overview");
  connect();
  refresh();
  state.timers.push(setInterval(refresh, 10000));
}

function signOut() {
  sessionStorage.removeItem(KEY);
  state.timers.forEach(clearInterval);
  state.timers = [];
  if (state.socket) state.socket.close(1000, "signed out");
  location.reload();
}

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.view === view);
  }
}

function refresh() {
  loadOverview().catch(noted("overview-note"));
  loadCatalogue().catch(noted("catalogue-count"));
  loadProviders().catch(noted("providers-note"));
}

const noted = (id) => (failure) => { $(id).textContent = "Could not load: " + failure.message; };

// ---- overview: per-minute charts from /v1/usage/timeseries -------------------------------

async function loadOverview() {
  const now = Date.now();
  const start = Math.floor(now / 60000) * 60000 - (MINUTES - 1) * 60000;
  const since = new Date(start).toISOString().replace(/\.\d+Z$/, "Z");
  const reply = await api("/v1/usage/timeseries?granularity=minute&since=" + since);
  const buckets = Array.from({ length: MINUTES }, () => ({ requests: 0, tokens: 0, cost: 0, saving: 0 }));
  const totals = { requests: 0, tokens: 0, cost: 0, saving: 0 };
  for (const series of reply.series) {
    for (const point of series.points) {
      const i = Math.floor((Date.parse(point.start) - start) / 60000);
      if (i < 0 || i >= MINUTES) continue;
      const b = buckets[i];
      b.requests += point.requests;
      b.tokens += point.prompt_tokens + point.completion_tokens;
      b.cost += point.cost_usd;
      b.saving += point.saving_usd;
    }
  }
  for (const b of buckets) for (const k in totals) totals[k] += b[k];
  $("total-requests").textContent = count(totals.requests);
  $("total-tokens").textContent = count(totals.tokens);
  $("total-cost").textContent = usd(totals.cost);
  $("total-saving").textContent = usd(totals.saving);
  for (const k of ["requests", "tokens", "cost", "saving"]) {
    chart($("chart-" + k), buckets.map((b) => b[k]), start);
  }
  $("overview-note").textContent = "Updated " + new Date().toLocaleTimeString() + " (every 10 s).";
}

function chart(svg, values, start) {
  svg.replaceChildren();
  const width = 600, height = 160, left = 44, bottom = 18, top = 8;
  const most = Math.max(...values, 0);
  const scale = most > 0 ? (height - bottom - top) / most : 0;
  const step = (width - left) / values.length;
  const add = (name, attrs, text) => {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  add("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis" });
  add("text", { x: left - 4, y: top + 8, "text-anchor": "end" }, shortNumber(most));
  add("text", { x: left - 4, y: height - bottom, "text-anchor": "end" }, "0");
  values.forEach((v, i) => {
    if (v <= 0) return;
    const h = Math.max(v * scale, 1);
    const bar = add("rect", { x: left + i * step + 1, y: height - bottom - h, width: Math.max(step - 2, 1), height: h, class: "bar" });
    const title = document.createElementNS(SVG, "title");
    title.textContent = new Date(start + i * 60000).toLocaleTimeString() + ": " + v;
    bar.appendChild(title);
  });
  for (const i of [0, 15, 30, 45, values.length - 1]) {
    const label = new Date(start + i * 60000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const anchor = i === values.length - 1 ? "end" : "start";
    const x = anchor === "end" ? left + (i + 1) * step : left + i * step;
    add("text", { x, y: height - 4, "text-anchor": anchor }, label);
  }
  svg.dataset.total = String(values.reduce((a, b) => a + b, 0));
}

function shortNumber(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return v < 1 && v > 0 ? v.toFixed(4) : String(Math.round(v));
}

// ---- free catalogue: /v1/catalog, /v1/catalog/changes ------------------------------------

async function loadCatalogue() {
  const [catalogue, changes] = await Promise.all([api("/v1/catalog"), latestChanges()]);
  state.catalogue = catalogue.data;
  state.changes = changes;
  const select = $("provider-filter");
  const chosen = select.value;
  const providers = [...new Set(state.catalogue.map((m) => m.provider))].sort();
  select.replaceChildren(new Option("every provider", ""), ...providers.map((p) => new Option(p, p)));
  select.value = chosen;
  renderCatalogue();
}

async function latestChanges() {
  // The newest changes: ask from the start, page forward, keep the last 200.
  let since = 0, kept = [];
  for (let page = 0; page < 20; page++) {
    const reply = await api("/v1/catalog/changes?limit=1000&since=" + since);
    kept = kept.concat(reply.data).slice(-200);
    if (!reply.more || reply.data.length === 0) break;
    since = reply.data[reply.data.length - 1].version;
  }
  return kept.reverse();
}

function renderCatalogue() {
  const words = $("search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const provider = $("provider-filter").value;
  const freeOnly = $("free-only").checked;
  const shown = state.catalogue.filter((m) =>
    (!freeOnly || m.is_free) && (!provider || m.provider === provider) &&
    words.every((w) => (m.id + " " + (m.display_name || "")).toLowerCase().includes(w)));
  $("catalogue-count").textContent = shown.length + " of " + state.catalogue.length + " models";
  rows($("models"), shown.slice(0, 500), (tr, m) => {
    cell(tr, m.id);
    cell(tr, m.provider);
    cell(tr, m.context_window ? count(m.context_window) : "unknown");
    cell(tr, m.free_reason || (m.is_free ? "free" : "paid"));
    cell(tr, m.input_price_per_mtok);
    cell(tr, m.output_price_per_mtok);
  });
  rows($("changes"), state.changes.slice(0, 100), (tr, c) => {
    cell(tr, when(c.at));
    cell(tr, c.version);
    cell(tr, c.type);
    cell(tr, c.model_id);
    cell(tr, describeFields(c), "wrap");
  });
  const alerts = state.changes.filter((c) => alertOf(c));
  const list = $("alerts");
  list.replaceChildren();
  for (const c of alerts.slice(0, 50)) {
    const li = document.createElement("li");
    li.textContent = when(c.at) + " — " + c.model_id + ": " + alertOf(c);
    list.appendChild(li);
  }
  if (!alerts.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "No model went paid or disappeared.";
    list.appendChild(li);
  }
}

function alertOf(c) {
  if (c.type === "removed") return "disappeared" + (c.old && c.old.is_free ? " (it was free)" : "");
  if (c.type === "changed" && c.old && c.new && c.old.is_free && !c.new.is_free) return "went from free to paid";
  return "";
}

function describeFields(c) {
  if (c.type !== "changed" || !c.old || !c.new) return c.type === "added" ? "new model" : "";
  return (c.changed_fields || []).map((f) => {
    const key = Object.keys(c.new).find((k) => k === f || k.startsWith(f)) || f;
    return f + ": " + JSON.stringify(c.old[key]) + " → " + JSON.stringify(c.new[key]);
  }).join("; ");
}

// ---- providers: /v1/providers, then the `providers` topic --------------------------------

async function loadProviders() {
  const reply = await api("/v1/providers");
  renderProviders(reply.data);
}

function renderProviders(providers) {
  rows($("provider-rows"), providers, (tr, p) => {
    cell(tr, p.name);
    cell(tr, p.healthy ? "up" : "down", p.healthy ? "ok" : "down");
    cell(tr, when(p.last_success));
    cell(tr, when(p.next_poll));
    cell(tr, p.model_count);
    cell(tr, p.free_count);
    cell(tr, p.last_error, "wrap");
  });
}

function renderHealth(picture) {
  renderProviders(picture.providers);
  // Most used first: the burn-down a reader looks for is at the top.
  const left = (m) => (m.breaker !== "closed" ? -1 : m.quota ? m.quota.remaining : 2);
  const models = picture.models
    .filter((m) => m.quota || m.latency_ms > 0 || m.breaker !== "closed")
    .sort((a, b) => left(a) - left(b) || a.model_id.localeCompare(b.model_id));
  rows($("quota-rows"), models, (tr, m) => {
    cell(tr, m.model_id);
    cell(tr, m.breaker + (m.retry_in_s > 0 ? " (" + m.retry_in_s + " s)" : ""), m.breaker === "closed" ? "ok" : "down");
    cell(tr, m.latency_ms ? ms(m.latency_ms) : "–");
    const quota = tr.appendChild(document.createElement("td"));
    if (m.quota) {
      const meter = quota.appendChild(document.createElement("span"));
      meter.className = "meter";
      const fill = meter.appendChild(document.createElement("span"));
      fill.style.width = Math.round(m.quota.remaining * 100) + "%";
      if (m.quota.remaining < 0.2) fill.className = "low";
      quota.appendChild(document.createTextNode(Math.round(m.quota.remaining * 100) + "%"));
      cell(tr, ofLimit(m.quota.used.requests_per_day, m.quota.limits.requests_per_day));
      cell(tr, ofLimit(m.quota.used.tokens_per_day, m.quota.limits.tokens_per_day));
    } else {
      quota.textContent = "no stated limit";
      cell(tr, null);
      cell(tr, null);
    }
  });
  const problems = [picture.catalog_error && "catalog: " + picture.catalog_error, picture.router_error && "router: " + picture.router_error].filter(Boolean);
  $("providers-note").textContent = problems.length ? problems.join("; ") : "Live: updated when something changes.";
}

const ofLimit = (used, limit) => count(used) + (limit ? " / " + count(limit) : "");

// ---- the WebSocket: live requests, provider health, catalogue changes --------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/v1/ws");
  state.socket = socket;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "auth", token: sessionStorage.getItem(KEY) }));
  });
  socket.addEventListener("message", (message) => onFrame(socket, JSON.parse(message.data)));
  socket.addEventListener("close", (closed) => {
    setLiveState("closed (" + closed.code + (closed.reason ? ": " + closed.reason : "") + ")", false);
    if (closed.code === 4401 || closed.code === 4403 || !sessionStorage.getItem(KEY)) return;
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 10000);
  });
}

function onFrame(socket, frame) {
  if (frame.type === "ready") {
    state.retry = 500;
    $("who").textContent = "signed in as " + frame.key_id + " (" + frame.role + ")";
    socket.send(JSON.stringify({ type: "subscribe", topics: ["requests", "providers", "catalog"] }));
  } else if (frame.type === "status" && frame.topic === "requests") {
    setLiveState(frame.state, frame.state === "live");
  } else if (frame.type === "event" && frame.topic === "requests") {
    addRequest(frame.data);
  } else if (frame.type === "event" && frame.topic === "providers") {
    renderHealth(frame.data);
  } else if (frame.type === "event" && frame.topic === "catalog" && frame.data.kind !== "snapshot") {
    loadCatalogue().catch(noted("catalogue-count"));
  }
}

function setLiveState(text, live) {
  const badge = $("live-state");
  badge.textContent = text;
  badge.classList.toggle("live", live);
}

function addRequest(r) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  tr.dataset.requestId = r.request_id;
  cell(tr, new Date(r.time).toLocaleTimeString());
  cell(tr, r.model);
  cell(tr, r.provider);
  cell(tr, r.strategy);
  cell(tr, r.status, r.status === "ok" ? "ok" : "down");
  cell(tr, ms(r.latency_ms));
  cell(tr, ms(r.ttft_ms));
  cell(tr, count(r.prompt_tokens + r.completion_tokens));
  cell(tr, usd(r.cost_usd));
  cell(tr, usd(r.saving_usd));
  cell(tr, r.key_id);
  const feed = $("feed");
  feed.insertBefore(tr, feed.firstChild);
  while (feed.children.length > FEED_ROWS) feed.removeChild(feed.lastChild);
}

// ---- wiring ----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("key").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  for (const id of ["search", "provider-filter", "free-only"]) {
    $(id).addEventListener("input", renderCatalogue);
  }
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
});
