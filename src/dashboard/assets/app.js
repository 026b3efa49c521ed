// porthole dashboard. Everything shown comes from the JSON endpoints and is
// written with textContent / createElement only: text from other users
// (process names, command lines) never becomes markup.
"use strict";

const PAGE = 50;
const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

// The view lives in the hash so every view has a stable URL:
// #view=listeners&port=5432&process=postgres&scope=exposed&offset=50
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return {
    view: params.get("view") || "listeners",
    port: params.get("port") || "",
    process: params.get("process") || "",
    scope: params.get("scope") || "",
    offset: Math.max(0, parseInt(params.get("offset") || "0", 10) || 0),
  };
}

function writeHash(state) {
  const params = new URLSearchParams();
  params.set("view", state.view);
  for (const key of ["port", "process", "scope"]) {
    if (state[key]) params.set(key, state[key]);
  }
  if (state.offset) params.set("offset", String(state.offset));
  const hash = "#" + params.toString();
  if (location.hash !== hash) location.hash = hash;
  else render();
}

async function getJson(path, params) {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(path + (query ? "?" + query : ""), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// Control and bidi characters in other users' text are shown escaped, as
// porthole's terminal output shows them (\x1b, \u202e): a right-to-left
// override in a process name would otherwise reorder what follows it.
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const NAMED = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
function visible(text) {
  return String(text).replace(HIDDEN, (c) => {
    if (NAMED[c]) return NAMED[c];
    const code = c.charCodeAt(0);
    return code < 0x80
      ? "\\x" + code.toString(16).padStart(2, "0")
      : "\\u" + code.toString(16).padStart(4, "0");
  });
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = visible(text);
  if (className) node.className = className;
  return node;
}

function tag(text, kind) {
  return el("span", text, "tag " + (kind || text));
}

// Times arrive as RFC 3339 UTC text (`2026-11-28T08:12:01.000000Z`).
function time(text) {
  if (text === null || text === undefined) return "";
  return text.replace("T", " ").slice(0, 19) + " UTC";
}

// `127.0.0.1:80`, `[::1]:80`.
function endpoint(address, port) {
  return (address.includes(":") ? `[${address}]` : address) + ":" + port;
}

function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function processes(list) {
  if (!list || list.length === 0) return el("span", "unknown", "muted");
  const box = el("div");
  for (const p of list) {
    const line = el("div");
    line.append(el("strong", p.name), el("span", " pid " + p.pid, "muted"));
    if (p.user) line.append(el("span", " " + p.user, "muted"));
    if (p.unit) line.append(" ", tag(p.unit, "unit"));
    if (p.container) line.append(" ", tag("container " + p.container.slice(0, 12), "container"));
    // Long command lines are cut on the page; the whole line is the
    // tooltip (an attribute value, never markup).
    const command = el("div", p.cmdline.length > 160 ? p.cmdline.slice(0, 160) + "…" : p.cmdline, "cmd");
    command.setAttribute("title", visible(p.cmdline));
    box.append(line, command);
  }
  return box;
}

// How `porthole history` names a client program: its pid alone, or how
// many processes ran it and their pids (up to 4, else the lowest and the
// highest).
function processCount(count, pids) {
  if (!count || !pids || pids.length === 0) return "";
  if (count === 1 && pids.length === 1) return ` (pid ${pids[0]})`;
  const listed = pids.length <= 4 ? pids.join(", ") : `${pids[0]}–${pids[pids.length - 1]}`;
  return ` (${count} processes, ${pids.length === 1 ? "pid" : "pids"} ${listed})`;
}

function table(headers, rows) {
  const t = el("table");
  const head = el("thead");
  const tr = el("tr");
  for (const h of headers) tr.append(el("th", h));
  head.append(tr);
  const body = el("tbody");
  for (const cells of rows) {
    const row = el("tr");
    cells.forEach((cell, i) => {
      const td = el("td");
      td.setAttribute("data-label", headers[i]);
      if (typeof cell === "number") td.className = "number";
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell === null || cell === undefined ? "" : visible(cell);
      row.append(td);
    });
    body.append(row);
  }
  t.append(head, body);
  return t;
}

function setPager(page) {
  const state = readHash();
  document.getElementById("position").textContent = page
    ? (page.total === 0 ? "nothing" : `${page.offset + 1}–${Math.min(page.offset + page.items.length, page.total)} of ${page.total}`)
    : "";
  const previous = document.getElementById("previous");
  const next = document.getElementById("next");
  previous.disabled = !page || state.offset === 0;
  next.disabled = !page || page.offset + page.limit >= page.total;
}

function filterParams(state) {
  const params = { offset: state.offset, limit: PAGE };
  for (const key of ["port", "process", "scope"]) if (state[key]) params[key] = state[key];
  return params;
}

async function listenersView(state, view) {
  const page = await getJson("/api/listeners", filterParams(state));
  view.append(el("h2", "Listeners now"));
  view.append(table(
    ["Port", "Address", "Scope", "Firewall", "Process", "Since", "Open", "Findings"],
    page.items.map((l) => {
      const scope = el("div");
      scope.append(tag(l.protocol, "proto"), tag(l.scope, l.exposed ? "exposed" : l.scope));
      if (l.reachable) scope.append(tag("reachable", "exposed"));
      const findings = el("div");
      for (const f of l.findings) {
        const item = el("div");
        item.append(tag(f.severity), el("strong", f.rule), el("div", f.evidence, "muted"), el("div", f.fix, "fix"));
        findings.append(item);
      }
      if (l.findings.length === 0) findings.append(el("span", "none", "muted"));
      return [l.local_port, l.local_address, scope, l.exposed ? l.firewall : "n/a", processes(l.processes),
        (l.since_recorded ? "" : "≈ ") + time(l.since), l.open_connections, findings];
    }),
  ));
  return page;
}

async function connectionsView(state, view) {
  const page = await getJson("/api/connections", filterParams(state));
  view.append(el("h2", "Last hour, per listener"));
  view.append(table(
    ["Port", "Connections", "Client processes", "Bytes in", "Bytes out", "Open", "Busiest clients"],
    page.items.map((p) => {
      const clients = el("div");
      for (const c of p.clients.slice(0, 5)) {
        const line = el("div");
        const name = el("strong", c.process ? c.process.name : "unknown");
        // A program's processes share their command line: the tooltip.
        if (c.process) name.setAttribute("title", visible(c.process.cmdline));
        line.append(name,
          el("span", processCount(c.process_count, c.pids), "muted"),
          el("span", ` ${c.connections}× to ${endpoint(c.server_address, c.server_port)}, ${bytes(c.bytes_client_to_server + c.bytes_server_to_client)}`, "muted"));
        clients.append(line);
      }
      return [p.server_port, p.connections, p.distinct_clients, bytes(p.bytes_client_to_server), bytes(p.bytes_server_to_client), p.open, clients];
    }),
  ));
  const open = await getJson("/api/open", { ...filterParams(state), offset: 0 });
  view.append(el("h2", `Open now (${open.total})`));
  view.append(table(
    ["Server", "Client", "Client process", "Server process", "Bytes in", "Bytes out"],
    open.items.map((c) => [endpoint(c.server_address, c.server_port), endpoint(c.client_address, c.client_port), processes(c.client_processes), processes(c.server_processes), bytes(c.bytes_client_to_server), bytes(c.bytes_server_to_client)]),
  ));
  return page;
}

function drawTimeline(timeline) {
  const width = 900, row = 22, top = 24;
  const lanes = [];
  for (const span of timeline.spans) {
    const key = (span.process_name || "unknown") + " " + (span.pid || "") + " " + span.local_address;
    let lane = lanes.findIndex((l) => l.key === key);
    if (lane < 0) { lanes.push({ key, label: key }); lane = lanes.length - 1; }
    span.lane = lane;
  }
  const height = top + Math.max(1, lanes.length) * row + 8;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "timeline");
  svg.setAttribute("role", "img");
  const span = timeline.until_us - timeline.since_us;
  const x = (t) => 180 + ((t - timeline.since_us) / span) * (width - 190);
  for (let h = 0; h <= 4; h++) {
    const t = timeline.since_us + (span * h) / 4;
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", x(t)); line.setAttribute("x2", x(t));
    line.setAttribute("y1", 14); line.setAttribute("y2", height);
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", Math.min(x(t), width - 60)); label.setAttribute("y", 11);
    label.textContent = new Date(t / 1000).toISOString().slice(11, 16);
    svg.append(line, label);
  }
  lanes.forEach((lane, i) => {
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", 4); label.setAttribute("y", top + i * row + 14);
    label.textContent = visible(lane.label).slice(0, 28);
    svg.append(label);
  });
  for (const s of timeline.spans) {
    const rect = document.createElementNS(SVG, "rect");
    const start = x(s.started_at_us), end = x(s.ended_at_us === null ? timeline.until_us : s.ended_at_us);
    rect.setAttribute("x", start); rect.setAttribute("y", top + s.lane * row + 3);
    rect.setAttribute("width", Math.max(2, end - start)); rect.setAttribute("height", row - 6);
    const title = document.createElementNS(SVG, "title");
    title.textContent = visible(`${s.process_name || "unknown"} (pid ${s.pid || "?"}) on ${s.local_address}: ${time(s.started_at)} – ${s.ended_at === null ? "now" : time(s.ended_at)}`);
    rect.append(title);
    svg.append(rect);
  }
  return svg;
}

async function timelineView(state, view) {
  if (!state.port) {
    view.append(el("h2", "Timeline"), el("p", "Enter a port above to see who held it over the last day.", "muted"));
    return null;
  }
  const timeline = await getJson("/api/timeline", { port: state.port });
  view.append(el("h2", `Who held ${timeline.local_port} over the last day`));
  if (timeline.spans.length === 0) view.append(el("p", "Nobody listened on this port in the window.", "muted"));
  else view.append(drawTimeline(timeline));
  view.append(table(
    ["Process", "Address", "From", "Until"],
    timeline.spans.map((s) => [`${s.process_name || "unknown"} (pid ${s.pid || "?"})`, s.local_address, time(s.started_at), s.ended_at === null ? "now" : time(s.ended_at)]),
  ));
  return null;
}

async function changesView(state, view) {
  const page = await getJson("/api/changes", filterParams(state));
  view.append(el("h2", "Changes (last day)"));
  view.append(table(
    ["When", "Change", "Port", "Address", "Process"],
    page.items.map((c) => {
      const kind = el("div");
      kind.append(tag(c.kind, c.kind === "exposed" || c.kind === "new-client" ? "exposed" : "change"));
      if (c.service) kind.append(el("span", " " + c.service, "muted"));
      if (c.connections) kind.append(el("span", ` ${c.connections} connection(s)`, "muted"));
      if (c.process_count > 1) kind.append(el("span", processCount(c.process_count, c.pids), "muted"));
      return [time(c.at), kind, c.local_port, c.local_address, processes(c.processes)];
    }),
  ));
  return page;
}

const VIEWS = { listeners: listenersView, connections: connectionsView, timeline: timelineView, changes: changesView };

let rendering = false;
async function render() {
  if (rendering) return;
  rendering = true;
  const state = readHash();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === state.view);
    const params = new URLSearchParams(location.hash.slice(1));
    params.set("view", link.dataset.view);
    params.delete("offset");
    link.setAttribute("href", "#" + params.toString());
  }
  const form = document.getElementById("filters");
  for (const key of ["port", "process", "scope"]) {
    if (document.activeElement !== form.elements[key]) form.elements[key].value = state[key];
  }
  const view = el("section");
  view.id = "view";
  try {
    const page = await (VIEWS[state.view] || listenersView)(state, view);
    setPager(page);
  } catch (error) {
    view.append(el("p", "Could not load: " + error.message, "error"));
    setPager(null);
  }
  document.getElementById("view").replaceWith(view);
  try {
    const health = await getJson("/api/health", {});
    const parts = [];
    if (health.capture_mode) parts.push("recorder: " + health.capture_mode);
    parts.push(health.listeners + " listeners");
    if (health.store_note) parts.push(health.store_note);
    if (health.firewall) parts.push(health.firewall);
    document.getElementById("health").textContent = parts.join(" · ");
  } catch (error) {
    document.getElementById("health").textContent = "health unavailable: " + error.message;
  }
  rendering = false;
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const state = readHash();
    state.port = form.elements.port.value.trim();
    state.process = form.elements.process.value.trim();
    state.scope = form.elements.scope.value;
    state.offset = 0;
    writeHash(state);
  });
  document.getElementById("previous").addEventListener("click", () => {
    const state = readHash();
    state.offset = Math.max(0, state.offset - PAGE);
    writeHash(state);
  });
  document.getElementById("next").addEventListener("click", () => {
    const state = readHash();
    state.offset += PAGE;
    writeHash(state);
  });
  window.addEventListener("hashchange", render);
  render();
  setInterval(render, REFRESH_MS);
});
