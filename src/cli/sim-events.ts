// A simulated run as the run's event stream (docs/events.md): `ftvm sim --seed S --json`
// prints it, `--report` draws it with the dashboard's page. The simulator's observations
// (src/sim/sim.ts, SimObservation) are mapped to the events the launcher of `ftvm ft`
// emits for the same happenings, on the simulated clock, so one page and one reader
// serve both.
import type { SimObservation, SimOptions, SimResult } from "../sim/sim.js";
import { simulate } from "../sim/sim.js";
import { describePlan, makePlan } from "../sim/plan.js";
import { Prng } from "../sim/prng.js";
import { type RunEvent, type RunEventBody, RunEvents, failoverEvent } from "../host/run-events.js";
import { RunTally } from "../host/run-summary.js";

/** Simulated times are fractional ms; events carry them to the microsecond. */
const round = (t: number) => Math.round(t * 1000) / 1000;

/** Runs one seed, recording its events; `lines` are the text lines `ftvm sim --seed` prints. */
export function simulateWithEvents(seed: number, opts: SimOptions, summaryLines: (r: SimResult) => string[], onEvent?: (e: RunEvent) => void): { result: SimResult; events: RunEvents } {
  let now = 0;
  const events = new RunEvents(0, () => now);
  const tally = new RunTally();
  events.subscribe((e) => tally.add(e));
  if (onEvent) events.subscribe(onEvent);
  // The log channel's planned partitions (P>B, B>P: windows on the run's clock) become
  // fault events as simulated time passes them: the same plan simulate() draws from the
  // seed (checked against its description below).
  const plan = makePlan(seed, new Prng(seed).fork("plan"), opts.plan);
  const cuts = partitionBoundaries(plan.links);
  const emit = (t: number, body: RunEventBody) => {
    while (cuts.length > 0 && cuts[0].t <= t) {
      const c = cuts.shift()!;
      now = c.t;
      events.emit({ type: "fault", fault: "partition", target: "channel", by: "script", link: c.link, on: c.on }, round(c.t));
    }
    now = t;
    events.emit(body, round(t));
  };
  const pids = new Map<string, number>();
  const roles = new Map<string, string>();
  const lastTick = new Map<string, { t: number; icount: number }>();
  const icounts = new Map<string, { role: string; epoch: number; icount: number }>();
  const decoder = new TextDecoder();
  const crashes: { host: string; role?: string; t: number }[] = [];
  let protectedNow: boolean | undefined;
  const pidOf = (host: string, t: number): number => {
    let pid = pids.get(host);
    if (pid === undefined) {
      // A simulated host has no process: its number in order of appearance stands in.
      pid = pids.size + 1;
      pids.set(host, pid);
      emit(t, { type: "spawn", pid, role: host === "P" ? "primary" : "backup", joiner: host !== "P" && host !== "B" });
    }
    return pid;
  };
  const role = (t: number, host: string, r: string, epoch: number) => {
    const from = roles.get(host);
    if (from === r) return;
    roles.set(host, r);
    emit(t, { type: "role", host, pid: pidOf(host, t), role: r, ...(from !== undefined ? { from } : {}), epoch });
  };
  const protect = (t: number, p: boolean) => {
    if (protectedNow === p) return;
    protectedNow = p;
    emit(t, { type: "protection", protected: p, unprotectedMs: round(tally.unprotectedNowMs(t)) });
  };

  const observe = (t: number, o: SimObservation) => {
    switch (o.kind) {
      case "role":
        role(t, o.host, o.role, o.epoch);
        break;
      case "tick": {
        const pid = pidOf(o.host, t);
        icounts.set(o.host, { role: o.role, epoch: o.epoch, icount: o.icount });
        const prev = lastTick.get(o.host);
        lastTick.set(o.host, { t, icount: o.icount });
        const backup = o.role === "primary" ? [...icounts.values()].find((x) => x.role === "backup" && x.epoch === o.epoch) : undefined;
        emit(t, {
          type: "status",
          host: o.host,
          pid,
          role: o.role,
          epoch: o.epoch,
          icount: o.icount,
          ...(prev && t > prev.t ? { icountPerSec: Math.round(((o.icount - prev.icount) * 1000) / (t - prev.t)) } : {}),
          ...(backup ? { lagIcount: Math.max(0, o.icount - backup.icount) } : {}),
        });
        break;
      }
      case "news": {
        const d = o.data;
        const pid = pidOf(o.host, t);
        const epoch = Number(d.epoch);
        emit(t, { type: "news", host: o.host, pid, event: String(d.event), ...(typeof d.role === "string" ? { role: d.role } : {}), epoch, text: o.text });
        if (typeof d.role === "string") role(t, o.host, d.role, epoch);
        const ev = d.event;
        if (ev === "live") {
          const k = crashes.filter((c) => c.role === "primary" && c.t <= t).at(-1);
          emit(t, failoverEvent(o.host, pid, epoch, d, k ? round(t - k.t) : undefined));
        }
        if (ev === "alone") emit(t, { type: "alone", host: o.host, pid, epoch });
        if (ev === "paired") emit(t, { type: "clone", host: o.host, pid, epoch, icount: Number(d.icount), memBytes: Number(d.memBytes), cloneMs: Number(d.cloneMs) });
        if (ev === "clone-failed") emit(t, { type: "clone-failed", host: o.host, pid, reason: o.text });
        if ((ev === "start" && d.role === "primary") || ev === "paired") protect(t, true);
        if ((ev === "start" && d.role === "alone") || ev === "live" || ev === "alone") protect(t, false);
        break;
      }
      case "crash": {
        const pid = pidOf(o.host, t);
        const r = roles.get(o.host);
        crashes.push({ host: o.host, role: r, t });
        const target = r === "primary" || r === "alone" ? "primary" : "backup";
        emit(t, { type: "fault", fault: "kill", target, by: "script", pid });
        emit(t, { type: "log", text: `${o.host} crashed: ${o.why}` });
        emit(t, { type: "exit", pid, role: target, code: null, signal: "SIGKILL", kind: "killed" });
        role(t, o.host, "dead", Number(icounts.get(o.host)?.epoch ?? 0));
        break;
      }
      case "drop":
        emit(t, { type: "fault", fault: "drop-channel", target: "channel", by: "script" });
        break;
      case "sink":
        emit(t, { type: "console", text: decoder.decode(o.bytes, { stream: true }) });
        break;
    }
  };

  emit(0, { type: "run", source: "sim", program: "sim-guest.s", startedAt: new Date(0).toISOString(), seed, options: { seed, ...(opts.mutation ? { mutation: opts.mutation } : {}), ...(opts.plan ? { plan: opts.plan } : {}) } });
  const result = simulate(seed, { ...opts, observe });
  if (describePlan(plan) !== result.plan) throw new Error(`sim: seed ${seed}: the plan drawn for the events differs from the run's`);
  const endMs = Math.max(result.stats.endMs, now);
  const code = result.ok ? 0 : 1;
  emit(endMs, { type: "end", code, outcome: result.stats.finished ? "halted" : "no-host", elapsedMs: round(endMs), arbiterRestarts: result.stats.arbiterRestarts });
  emit(endMs, { type: "summary", code, text: summaryLines(result).join("\n") + "\n", failovers: result.stats.failovers, clones: result.stats.clonesCompleted, kills: result.stats.crashes, unprotectedMs: round(tally.unprotectedMs) });
  return { result, events };
}

/** Where the log channel's partitions begin and end, in time order (a window cut both ways is one partition). */
function partitionBoundaries(links: { name: string; partitions: { from: number; to: number }[]; partitionMode: string }[]): { t: number; on: boolean; link: string }[] {
  const windows = new Map<string, { from: number; to: number; names: string[]; mode: string }>();
  for (const l of links) {
    if (l.name !== "P>B" && l.name !== "B>P") continue;
    for (const w of l.partitions) {
      const key = `${w.from}-${w.to}`;
      const e = windows.get(key) ?? { from: w.from, to: w.to, names: [], mode: l.partitionMode };
      e.names.push(l.name);
      windows.set(key, e);
    }
  }
  const out: { t: number; on: boolean; link: string }[] = [];
  for (const w of windows.values()) {
    const link = `${w.names.join(" and ")} (${w.mode})`;
    out.push({ t: w.from, on: true, link }, { t: w.to, on: false, link });
  }
  return out.sort((a, b) => a.t - b.t || Number(a.on) - Number(b.on));
}
