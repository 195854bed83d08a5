// The ftvm dashboard page: one plain ES module, no build step, no framework. It draws a
// run from its event stream (docs/events.md): live from the launcher's WebSocket, or, in
// a --report file, from the events embedded in the page. Everything shown is derived
// from events only, so the live page and the report of the same run agree.
//
// Bounds (the page stays responsive with a guest printing 10,000 lines/s for 30 minutes):
// plots keep at most PLOT_POINTS_MAX points per series (older points are merged in
// pairs, keeping each pair's maximum, so peaks survive); the console keeps the newest
// CONSOLE_LINES_MAX lines; the timeline keeps TIMELINE_MARKS_MAX marks and draws the
// newest TIMELINE_LANES_MAX hosts; the page redraws at most every RENDER_INTERVAL_MS.
/* global uPlot */

const PLOT_POINTS_MAX = 2000;
const CONSOLE_LINES_MAX = 2000;
const TIMELINE_MARKS_MAX = 5000;
const TIMELINE_LANES_MAX = 12;
const HOST_CARDS_MAX = 6;
const FAILOVERS_LISTED_MAX = 200;
const RENDER_INTERVAL_MS = 250;
const SCHEMA_VERSION = 1;

const ROLE_COLOURS = {
  primary: "#2f7d32",
  alone: "#e08a00",
  backup: "#1f6fb2",
  joining: "#7aa7d6",
  draining: "#8e44ad",
  electing: "#c0392b",
  finishing: "#66bb6a",
  starting: "#cfd8dc",
  dead: "#9e9e9e",
  finished: "#b0bec5",
  halted: "#795548",
};
const MARK_COLOURS = {
  kill: "#d32f2f",
  partition: "#6a1b9a",
  "drop-channel": "#ad1457",
  "slow-backup": "#ef6c00",
  detection: "#fbc02d",
  replay: "#8e44ad",
  tas: "#c0392b",
  live: "#2e7d32",
  clone: "#0277bd",
  alone: "#e08a00",
  refused: "#9e9e9e",
};

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === undefined || n === null ? "-" : Number(n).toLocaleString("en-US"));
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function emptyState() {
  return {
    run: undefined,
    lastT: 0,
    ended: false,
    /** host id -> card and lane data */
    hosts: new Map(),
    pidHost: new Map(),
    spawnT: new Map(),
    marks: [],
    marksDropped: 0,
    failovers: [],
    failoverCount: 0,
    protection: undefined,
    series: { t: [], lagI: [], lagMs: [], logBps: [], ips: [], held: [], throttle: [] },
    consoleLines: [""],
    consoleTotalLines: 0,
    consoleDroppedChars: 0,
    droppedEvents: 0,
    io: undefined,
    summary: undefined,
    slowOn: false,
    /** Faults that started and have not ended: key -> mark without its end. */
    open: new Map(),
  };
}

let S = emptyState();
let dirty = true;
/** Live mode: when the last event arrived (the clock runs on between events). */
let lastEventAt = performance.now();
const report = document.getElementById("ftvm-report");

// ---------------------------------------------------------------- applying events

function host(id, pid) {
  let h = S.hosts.get(id);
  if (!h) {
    const from = S.spawnT.get(pid);
    h = { id, pid, role: "starting", epoch: 0, icount: 0, firstT: from ?? S.lastT, segments: [], gone: undefined, status: undefined };
    if (from !== undefined) h.segments.push({ role: "starting", from, to: undefined });
    S.hosts.set(id, h);
  }
  if (pid !== undefined && !Number.isNaN(pid)) {
    h.pid = pid;
    S.pidHost.set(pid, id);
  }
  return h;
}

function setRole(h, role, t) {
  const last = h.segments.at(-1);
  if (last && last.to === undefined) {
    if (last.role === role) return;
    last.to = t;
  }
  h.segments.push({ role, from: t, to: undefined });
  h.role = role;
}

function mark(m) {
  S.marks.push(m);
  if (S.marks.length > TIMELINE_MARKS_MAX) {
    S.marks.shift();
    S.marksDropped++;
  }
}

/** Appends a plot point; past the bound, merges the oldest points in pairs (keeping maxima). */
function plotPoint(t, values) {
  const s = S.series;
  s.t.push(t);
  for (const k of Object.keys(values)) s[k].push(values[k]);
  if (s.t.length <= PLOT_POINTS_MAX) return;
  const merge = (a, max) => {
    const out = [];
    // A pair's maximum (a gap, null, only where both are gaps), or for times the first.
    const top = (p, q) => (p === null || p === undefined ? q : q === null || q === undefined ? p : Math.max(p, q));
    for (let i = 0; i < a.length; i += 2) out.push(i + 1 < a.length && max ? top(a[i], a[i + 1]) : a[i]);
    return out;
  };
  s.t = merge(s.t, false);
  for (const k of Object.keys(s)) if (k !== "t") s[k] = merge(s[k], true);
}

function addConsole(text) {
  if (!text) return;
  const parts = text.split("\n");
  S.consoleLines[S.consoleLines.length - 1] += parts[0];
  for (let i = 1; i < parts.length; i++) {
    S.consoleLines.push(parts[i]);
    S.consoleTotalLines++;
  }
  if (S.consoleLines.length > CONSOLE_LINES_MAX) S.consoleLines.splice(0, S.consoleLines.length - CONSOLE_LINES_MAX);
}

function apply(e) {
  if (e.v !== SCHEMA_VERSION) return;
  S.lastT = Math.max(S.lastT, e.t);
  dirty = true;
  switch (e.type) {
    case "run":
      S.run = e;
      break;
    case "spawn":
      S.spawnT.set(e.pid, e.t);
      break;
    case "status": {
      const h = host(e.host, e.pid);
      h.status = e;
      h.epoch = e.epoch;
      h.icount = e.icount;
      if (!h.gone) setRole(h, e.role, e.t);
      if (e.role === "primary" || e.role === "alone")
        plotPoint(e.t / 1000, {
          lagI: e.role === "primary" ? (e.lagIcount ?? 0) : null,
          lagMs: e.role === "primary" ? (e.lagMs ?? 0) : null,
          // A figure the host did not report is a gap in the plot, not a zero.
          logBps: e.logBytesPerSec ?? null,
          ips: e.icountPerSec ?? null,
          held: e.heldOutputs ?? null,
          throttle: e.throttle === undefined ? null : Math.round(e.throttle * 100),
        });
      break;
    }
    case "role": {
      const h = host(e.host, e.pid);
      h.epoch = e.epoch;
      setRole(h, e.role, e.t);
      if (e.role === "dead" || e.role === "finished") h.gone = h.gone ?? e.role;
      break;
    }
    case "exit": {
      const id = S.pidHost.get(e.pid);
      if (id) {
        const h = S.hosts.get(id);
        h.gone = e.kind === "killed" ? "killed (SIGKILL)" : e.code === 0 ? "exited" : `exited (code ${e.code})`;
        setRole(h, e.kind === "other" && e.code === 0 ? "finished" : "dead", e.t);
      }
      break;
    }
    case "fault": {
      const lane = e.pid !== undefined ? S.pidHost.get(e.pid) : undefined;
      if (e.on !== undefined) {
        // A fault with a start and an end (a slowed backup, a simulated partition): a bar,
        // drawn up to now while it lasts.
        const key = `${e.fault} ${e.link ?? ""}`;
        if (e.fault === "slow-backup") S.slowOn = e.on;
        if (e.on) {
          const what = e.fault === "slow-backup" ? `backup (pid ${e.pid}) slowed down` : `log channel ${e.link ?? ""} partitioned`;
          S.open.set(key, { kind: e.fault, lane: e.fault === "slow-backup" ? lane : undefined, t0: e.t, title: `${what} from ${secs(e.t)} (by the ${e.by})` });
        } else {
          const o = S.open.get(key);
          if (o) mark({ ...o, t: e.t, title: `${o.title} for ${secs(e.t - o.t0)}` });
          S.open.delete(key);
        }
        break;
      }
      const what = e.fault === "kill" ? `SIGKILL of the ${e.target}${e.pid ? ` (pid ${e.pid})` : ""}` : e.fault === "partition" ? "log channel partitioned" : "log channel dropped";
      mark({ kind: e.fault, lane: e.target === "arbiter" || e.target === "channel" ? undefined : lane, t: e.t, title: `${what}, by the ${e.by}${e.epoch ? ` in epoch ${e.epoch}` : ""} at ${secs(e.t)}` });
      break;
    }
    case "fault-refused":
      mark({ kind: "refused", lane: undefined, t: e.t, title: `${e.fault} of the ${e.target} not done: ${e.reason}` });
      break;
    case "failover": {
      host(e.host, e.pid);
      // The go-live's phases, back from the event: silence until suspicion, replay, test-and-set.
      const tasFrom = e.t - e.tasMs;
      const replayFrom = tasFrom - e.replayMs;
      const detectFrom = replayFrom - e.detectionMs;
      const head = `failover to ${e.host} (pid ${e.pid}), epoch ${e.epoch}, at icount ${fmt(e.icount)}`;
      const text = `detection ${e.detectionMs} ms, replay ${e.replayMs} ms, test-and-set ${e.tasMs} ms` + (e.fromKillMs !== undefined ? `; live ${e.fromKillMs} ms after the kill` : "");
      mark({ kind: "detection", lane: e.host, t0: detectFrom, t: replayFrom, title: `${head}: detection ${e.detectionMs} ms of silence` });
      mark({ kind: "replay", lane: e.host, t0: replayFrom, t: tasFrom, title: `${head}: replay of the received log ${e.replayMs} ms` });
      mark({ kind: "tas", lane: e.host, t0: tasFrom, t: e.t, title: `${head}: test-and-set ${e.tasMs} ms` });
      mark({ kind: "live", lane: e.host, t: e.t, title: `${head}: went live; ${text}`, failover: true });
      S.failoverCount++;
      S.failovers.push({ t: e.t, head, text });
      if (S.failovers.length > FAILOVERS_LISTED_MAX) S.failovers.shift();
      break;
    }
    case "alone":
      host(e.host, e.pid);
      mark({ kind: "alone", lane: e.host, t: e.t, title: `the backup failed: ${e.host} won epoch ${e.epoch} alone` });
      break;
    case "clone":
      host(e.host, e.pid);
      mark({
        kind: "clone",
        lane: e.host,
        t0: e.t - e.cloneMs,
        t: e.t,
        title: `clone: a new backup joined in epoch ${e.epoch} at icount ${fmt(e.icount)}; join to paired ${e.cloneMs} ms` + (e.pauseMs !== undefined ? `, primary paused ${e.pauseMs.toFixed(1)} ms` : "") + `, ${fmt(e.memBytes)} bytes of memory`,
      });
      break;
    case "protection":
      S.protection = { protected: e.protected, since: e.t, unprotectedMs: e.unprotectedMs };
      break;
    case "console":
      addConsole(e.text);
      break;
    case "io":
      S.io = e;
      break;
    case "end":
      S.ended = true;
      break;
    case "summary":
      S.summary = e;
      S.ended = true;
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- drawing

function nowT() {
  if (report || S.ended) return S.lastT;
  return S.lastT + (performance.now() - lastEventAt);
}

function renderHeader() {
  $("program").textContent = S.run ? `${S.run.source === "sim" ? "sim" : "ft"} ${S.run.program}${S.run.seed !== undefined ? ` --seed ${S.run.seed}` : ""}` : "";
  const t = nowT();
  $("clock").textContent = `${secs(t)}${S.ended ? " (finished)" : ""}`;
  const p = S.protection;
  const el = $("protection");
  if (!p) {
    el.className = "protection unknown";
    el.textContent = "starting";
  } else {
    const unprotected = p.unprotectedMs + (p.protected ? 0 : Math.max(0, t - p.since));
    el.className = `protection ${p.protected ? "protected" : "unprotected"}`;
    el.textContent = `${p.protected ? "Protected" : "Not protected"} · unprotected ${secs(unprotected)} in all`;
  }
  $("slow").textContent = S.slowOn ? "Back to full speed" : "Slow the backup";
  $("slow").classList.toggle("on", S.slowOn);
}

function renderHosts() {
  const all = [...S.hosts.values()];
  const live = all.filter((h) => !h.gone);
  const gone = all.filter((h) => h.gone).slice(-(HOST_CARDS_MAX - Math.min(live.length, HOST_CARDS_MAX)));
  const cards = [...live, ...gone].slice(0, Math.max(HOST_CARDS_MAX, live.length));
  $("hosts").innerHTML = cards
    .map((h) => {
      const s = h.status ?? {};
      const lag = h.role === "primary" && s.lagIcount !== undefined ? `<dt>lag</dt><dd>${fmt(s.lagIcount)} instr / ${(s.lagMs ?? 0).toFixed(1)} ms</dd>` : "";
      return (
        `<div class="card role-${esc(h.gone ? "dead" : h.role)}${h.gone ? " gone" : ""}" data-host="${esc(h.id)}" data-role="${esc(h.role)}" data-pid="${h.pid}">` +
        `<h3><span class="role">${esc(h.gone ? "gone" : h.role)}</span> · pid ${h.pid}</h3>` +
        `<dl><dt>host</dt><dd>${esc(h.id)}</dd><dt>epoch</dt><dd>${h.epoch}</dd><dt>icount</dt><dd>${fmt(h.icount)}</dd>` +
        `<dt>state</dt><dd>${esc(h.gone ?? "running")}</dd>${lag}</dl></div>`
      );
    })
    .join("");
}

function renderTimeline() {
  const el = $("timeline");
  const width = Math.max(400, el.clientWidth || 900);
  // At least a second of axis for a real run; a simulated one may last a few ms.
  const T = Math.max(nowT(), S.run?.source === "sim" ? 1 : 1000);
  const labelW = 150;
  const laneH = 22;
  const hosts = [...S.hosts.values()].slice(-TIMELINE_LANES_MAX);
  const hidden = S.hosts.size - hosts.length;
  const lanes = ["cluster", ...hosts.map((h) => h.id)];
  const laneY = new Map(lanes.map((id, i) => [id, 18 + i * laneH]));
  const x = (t) => labelW + (Math.max(0, Math.min(t, T)) / T) * (width - labelW - 10);
  const out = [];
  // Axis: about 8 ticks.
  const step = niceStep(T / 8);
  const digits = Math.max(0, -Math.floor(Math.log10(step / 1000)));
  for (let i = 0, t = 0; t <= T; t = ++i * step) out.push(`<text class="axis" x="${x(t)}" y="11" text-anchor="middle">${(t / 1000).toFixed(digits)} s</text><line x1="${x(t)}" x2="${x(t)}" y1="14" y2="${18 + lanes.length * laneH}" stroke="#eceff1"/>`);
  out.push(`<text class="lane-label" x="4" y="${laneY.get("cluster") + 14}">cluster / log channel</text>`);
  for (const h of hosts) {
    const y = laneY.get(h.id);
    out.push(`<text class="lane-label" x="4" y="${y + 14}">${esc(`pid ${h.pid} ${h.gone ? "(gone)" : h.role}`)}</text>`);
    for (const seg of h.segments) {
      const to = seg.to ?? (h.gone ? seg.from : T);
      const x0 = x(seg.from);
      const w = Math.max(1, x(to) - x0);
      const title = `${h.id}: ${seg.role} from ${secs(seg.from)}${seg.to !== undefined ? ` to ${secs(seg.to)} (${secs(seg.to - seg.from)})` : " on"}`;
      out.push(`<rect class="seg" data-role="${esc(seg.role)}" x="${x0}" y="${y + 4}" width="${w}" height="${laneH - 8}" fill="${ROLE_COLOURS[seg.role] ?? "#bdbdbd"}" opacity="0.75"><title>${esc(title)}</title></rect>`);
    }
  }
  const open = [...S.open.values()].map((o) => ({ ...o, t: T, title: `${o.title}, still on` }));
  for (const m of [...S.marks, ...open]) {
    const y = laneY.get(m.lane ?? "cluster") ?? laneY.get("cluster");
    const colour = MARK_COLOURS[m.kind] ?? "#000";
    const attrs = `class="mark" data-kind="${esc(m.kind)}"${m.failover ? ' data-failover="1"' : ""}`;
    if (m.t0 !== undefined && m.t - m.t0 > 0) {
      const x0 = x(m.t0);
      out.push(`<rect ${attrs} x="${x0}" y="${y + 1}" width="${Math.max(2, x(m.t) - x0)}" height="5" fill="${colour}"><title>${esc(m.title)}</title></rect>`);
    } else {
      const cx = x(m.t);
      out.push(`<path ${attrs} d="M${cx - 5},${y} L${cx + 5},${y} L${cx},${y + 9} Z" fill="${colour}" stroke="#fff" stroke-width="0.5"><title>${esc(m.title)}</title></path>`);
    }
  }
  const height = 22 + lanes.length * laneH;
  el.innerHTML = `<svg viewBox="0 0 ${width} ${height}" height="${height}" xmlns="http://www.w3.org/2000/svg">${out.join("")}</svg>` + (hidden > 0 ? `<div class="axis">${hidden} earlier hosts not drawn (the newest ${TIMELINE_LANES_MAX} are)</div>` : "");
  $("failovers").innerHTML = S.failovers
    .slice()
    .reverse()
    .map((f) => `<li class="failover">${secs(f.t)}: ${esc(f.head)}: ${esc(f.text)}</li>`)
    .join("");
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function renderLegend() {
  const roles = ["primary", "alone", "backup", "joining", "draining", "dead"].map((r) => `<span><i style="background:${ROLE_COLOURS[r]}"></i>${r}</span>`);
  const marks = [
    ["kill", "kill"],
    ["partition", "partition"],
    ["drop-channel", "drop"],
    ["slow-backup", "slowed"],
    ["detection", "detection"],
    ["replay", "replay"],
    ["tas", "test-and-set"],
    ["live", "go-live"],
    ["clone", "clone"],
  ].map(([k, label]) => `<span><i style="background:${MARK_COLOURS[k]}"></i>${label}</span>`);
  $("legend").innerHTML = [...roles, ...marks].join("");
}

const plots = {};
function makePlots() {
  if (typeof uPlot === "undefined") return;
  const width = (id) => Math.max(300, $(id).clientWidth || 420);
  const axis = (label, scale, side) => ({ label, scale, side, size: side === 3 ? 80 : 50, grid: { show: side !== 1 } });
  const x = { label: "s since the start", size: 40 };
  const mk = (id, series, axes) => {
    plots[id] = new uPlot({ width: width(id), height: 180, scales: { x: { time: false } }, legend: { live: true }, series: [{ label: "s" }, ...series], axes: [x, ...axes] }, [[], ...series.map(() => [])], $(id));
  };
  mk("plot-lag", [{ label: "lag (instructions)", stroke: "#1f6fb2", scale: "i" }, { label: "lag (ms)", stroke: "#c0392b", scale: "ms" }], [axis("instructions", "i", 3), axis("ms", "ms", 1)]);
  mk("plot-log", [{ label: "log bytes/s", stroke: "#6a1b9a", scale: "b" }], [axis("bytes/s", "b", 3)]);
  mk("plot-ips", [{ label: "instructions/s", stroke: "#2f7d32", scale: "n" }], [axis("instr/s", "n", 3)]);
  mk("plot-held", [{ label: "held outputs", stroke: "#e08a00", scale: "h" }, { label: "throttle %", stroke: "#d32f2f", scale: "pct" }], [axis("held", "h", 3), axis("%", "pct", 1)]);
}

function renderPlots() {
  const s = S.series;
  const data = { "plot-lag": [s.t, s.lagI, s.lagMs], "plot-log": [s.t, s.logBps], "plot-ips": [s.t, s.ips], "plot-held": [s.t, s.held, s.throttle] };
  for (const [id, d] of Object.entries(data)) plots[id]?.setData(d);
}

function renderConsole() {
  const el = $("console");
  const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
  el.textContent = S.consoleLines.join("\n");
  if (atBottom) el.scrollTop = el.scrollHeight;
  $("console-count").textContent =
    `${fmt(S.consoleTotalLines)} lines received` + (S.consoleDroppedChars > 0 ? `; ${fmt(S.consoleDroppedChars)} characters not shown (the page fell behind or the history's bound)` : "") + `; the newest ${fmt(CONSOLE_LINES_MAX)} kept`;
  $("console-count").dataset.lines = String(S.consoleTotalLines);
}

function renderIo() {
  const io = S.io;
  if (!io) return;
  $("io-panel").hidden = false;
  const parts = [];
  if (io.netClients !== undefined) parts.push(`network clients connected: ${fmt(io.netClients)} (${fmt(io.netClientsEver)} so far); ${fmt(io.netBytesIn)} bytes in, ${fmt(io.netBytesOut)} bytes out`);
  if (io.diskReads !== undefined) parts.push(`disk requests in flight: ${fmt(io.diskPending)}; writes held for the backup's acknowledgement: ${fmt(io.heldWrites)}; ${fmt(io.diskReads)} reads and ${fmt(io.diskWrites)} writes performed`);
  $("io").textContent = parts.join(" · ");
}

/** How long full redraws take (the page's own measure of its responsiveness). */
const renderStats = { count: 0, totalMs: 0, maxMs: 0 };

function render() {
  renderHeader();
  if (!dirty) return;
  dirty = false;
  const t0 = performance.now();
  renderAll();
  const ms = performance.now() - t0;
  renderStats.count++;
  renderStats.totalMs += ms;
  renderStats.maxMs = Math.max(renderStats.maxMs, ms);
}

function renderAll() {
  renderHosts();
  renderTimeline();
  renderPlots();
  renderConsole();
  renderIo();
  if (S.summary) {
    $("summary-panel").hidden = false;
    $("summary").textContent = S.summary.text;
  }
  $("bounds").textContent =
    `Bounds: ${PLOT_POINTS_MAX} points per plot (older points merged, keeping maxima), ${CONSOLE_LINES_MAX} console lines, ${TIMELINE_MARKS_MAX} timeline marks (${S.marksDropped} dropped), ` +
    `${TIMELINE_LANES_MAX} host lanes, ${FAILOVERS_LISTED_MAX} failovers listed (${S.failoverCount} in all); events the launcher's history dropped: ${S.droppedEvents}.`;
}

// ---------------------------------------------------------------- feeding

function applyHistory(m) {
  S = emptyState();
  S.droppedEvents = m.droppedEvents ?? 0;
  S.consoleDroppedChars = m.droppedConsoleChars ?? 0;
  for (const e of m.events) apply(e);
  lastEventAt = performance.now();
  dirty = true;
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/events${location.search}`);
  let nextId = 1;
  $("conn").textContent = "connecting…";
  ws.onopen = () => ($("conn").textContent = "live");
  ws.onclose = () => ($("conn").textContent = S.ended ? "the run ended" : "disconnected from the launcher");
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.kind === "history") applyHistory(m);
    else if (m.kind === "events") {
      for (const e of m.events) apply(e);
      addConsole(m.console);
      S.consoleDroppedChars += m.consoleDropped ?? 0;
      lastEventAt = performance.now();
      dirty = true;
    } else if (m.kind === "action") {
      const r = $("action-result");
      r.className = m.error ? "" : "ok";
      r.textContent = m.error ? `${m.action}: not done: ${m.error}` : `${m.action}: done`;
    }
  };
  for (const b of document.querySelectorAll("#actions button")) {
    b.addEventListener("click", () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      let action = b.dataset.action;
      if (action === "slow-backup") action = S.slowOn ? "slow-backup-off" : "slow-backup-on";
      ws.send(JSON.stringify({ action, id: nextId++ }));
    });
  }
}

renderLegend();
makePlots();
if (report) {
  applyHistory(JSON.parse(report.textContent));
  $("actions").hidden = true;
  $("conn").textContent = "report of a finished run";
  render();
} else {
  connect();
  setInterval(render, RENDER_INTERVAL_MS);
}
window.addEventListener("resize", () => {
  for (const [id, p] of Object.entries(plots)) p.setSize({ width: Math.max(300, $(id).clientWidth), height: 180 });
  dirty = true;
  render();
});

// For tests and the curious (devtools): the page's state and its bounds.
window.ftvmDashboard = { state: () => S, renderStats, bounds: { PLOT_POINTS_MAX, CONSOLE_LINES_MAX, TIMELINE_MARKS_MAX, TIMELINE_LANES_MAX, RENDER_INTERVAL_MS } };
