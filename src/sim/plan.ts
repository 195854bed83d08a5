// The fault model: from a seed, everything about one simulated run — the guest's size,
// the protocol's timings, every link's delay/loss/duplication/reordering/partitions,
// resets of the sink connections, arbiter outages, and which hosts crash and when.
// Every partition heals (no fault lasts forever), so a run whose surviving host is a
// member of the current epoch must finish.
import type { Role } from "../ft/node.js";
import type { GuestParams } from "./guest.js";
import type { LinkModel, Window } from "./net.js";
import { calmLink } from "./net.js";
import type { Prng } from "./prng.js";

export type HostId = "P" | "B";
export const HOSTS: readonly HostId[] = ["P", "B"];

export type CrashTrigger =
  /** At this simulated time (in the middle of whatever the host is doing: a step it is running never completes). */
  | { kind: "time"; atMs: number }
  /** The node's own --crash-at-icount (NodeConfig.crashAtIcount): it stops there, live or replaying, without flushing. */
  | { kind: "icount"; icount: number }
  /** When the node enters this role: at once (before carrying out the actions that came with it) or delayMs later. */
  | { kind: "role"; role: Role; delayMs: number }
  /** Just before carrying out its nth action of this kind (a crash between two actions of one step). */
  | { kind: "action"; action: "send" | "output" | "tas" | "cut"; nth: number };

export interface HostPlan {
  sliceIcount: number;
  /** Simulated cost of one guest instruction (µs). */
  usPerInstr: number;
  /** When this host crashes, does its peer see the connection close (the kernel sends a FIN/RST) or only silence (the machine died)? */
  closeOnCrash: boolean;
  crash: CrashTrigger[];
  /** Times at which its connection to the sink resets (it reconnects and re-sends what the sink has not acknowledged). */
  sinkResets: number[];
}

export interface Plan {
  seed: number;
  guest: GuestParams;
  heartbeatMs: number;
  timeoutMs: number;
  flushIntervalMs: number;
  /** The arbiter client's per-request timeout before it retries (ArbiterClient: 2000 ms). */
  tasTimeoutMs: number;
  tasRetryMs: number;
  /** Fixed simulated cost of one run() call (ms). */
  stepOverheadMs: number;
  memBytes: number;
  stackBytes: number;
  hosts: Record<HostId, HostPlan>;
  links: LinkModel[];
  /** Rough length of a fault-free run (ms): faults are placed within it. */
  expectedMs: number;
  capMs: number;
}

export interface PlanOverrides {
  /** No faults at all: calm links, no crashes, no resets (a baseline run). */
  calm?: boolean;
  /** Force the crash plan (instead of drawing one). */
  crashes?: Partial<Record<HostId, CrashTrigger[]>>;
}

export function makePlan(seed: number, rng: Prng, o: PlanOverrides = {}): Plan {
  const guest: GuestParams = { lines: rng.int(120, 260), periodUs: rng.pick([2000, 5000, 10000]), waitEvery: rng.pick([2, 4, 8]) };
  const heartbeatMs = rng.pick([20, 25, 25, 30]);
  const timeoutMs = rng.pick([100, 150, 150, 200]);
  const hostPlan = (): HostPlan => ({
    sliceIcount: rng.pick([500, 1000, 2000, 5000]),
    usPerInstr: rng.pick([0.2, 0.5, 1, 2]),
    closeOnCrash: rng.chance(0.5),
    crash: [],
    sinkResets: [],
  });
  const hosts: Record<HostId, HostPlan> = { P: hostPlan(), B: hostPlan() };
  const instrs = guest.lines * 420;
  const expectedMs = Math.round(instrs * hosts.P.usPerInstr / 1000 + (guest.lines / guest.waitEvery) * guest.periodUs / 1000 + 20);
  const plan: Plan = {
    seed,
    guest,
    heartbeatMs,
    timeoutMs,
    flushIntervalMs: rng.pick([1, 2, 2, 5]),
    tasTimeoutMs: rng.pick([200, 500, 2000]),
    tasRetryMs: 100,
    stepOverheadMs: 0.005,
    memBytes: 64 * 1024,
    stackBytes: 4 * 1024,
    hosts,
    links: [],
    expectedMs,
    capMs: 0,
  };
  const t = () => rng.range(0, expectedMs * 1.2);
  const calm = o.calm === true;

  // ---- the log channel (primary <-> backup) ------------------------------------------
  // Mostly TCP-like (ordered, reliable, partitions that either hold or drop traffic);
  // sometimes a chaotic link that loses, duplicates and reorders (the node treats any of
  // that as a broken channel: a gap in the log is refused and the channel cut).
  const chaos = !calm && rng.chance(0.25);
  const pb = calmLink("P>B", rng.range(0.05, 1), rng.range(0, 1));
  const bp = calmLink("B>P", pb.delayMs, pb.jitterMs);
  if (chaos) {
    for (const l of [pb, bp]) {
      l.fifo = rng.chance(0.5);
      l.loss = rng.pick([0, 0.001, 0.005, 0.02]);
      l.dup = rng.pick([0, 0.001, 0.01, 0.05]);
      l.reorder = rng.pick([0, 0.01, 0.05]);
      l.reorderMs = rng.range(0.5, 5);
    }
  }
  if (!calm && rng.chance(0.4)) {
    const n = rng.int(1, 3);
    for (let i = 0; i < n; i++) {
      const w = window(rng, t(), timeoutMs);
      const dir = rng.weighted([[3, "both"], [1, "P>B"], [1, "B>P"]] as const);
      if (dir !== "B>P") pb.partitions.push(w);
      if (dir !== "P>B") bp.partitions.push(w);
    }
    pb.partitionMode = bp.partitionMode = rng.chance(0.6) ? "drop" : "hold";
  }
  plan.links.push(pb, bp);

  // ---- the arbiter (request/response; an unanswered request is retried) -------------
  const arbiterLoss = !calm && rng.chance(0.15) ? rng.pick([0.05, 0.2, 0.4]) : 0;
  const arbiterOutage = !calm && rng.chance(0.3);
  for (const h of HOSTS) {
    const req = calmLink(`${h}>A`, rng.range(0.1, 3), rng.range(0, 2));
    const res = calmLink(`A>${h}`, req.delayMs, req.jitterMs);
    for (const l of [req, res]) {
      l.loss = arbiterLoss;
      l.fifo = !rng.chance(0.3);
      l.partitionMode = rng.chance(0.5) ? "drop" : "hold";
    }
    if (arbiterOutage && rng.chance(0.7)) {
      const w = window(rng, t(), timeoutMs);
      req.partitions.push(w);
      if (rng.chance(0.7)) res.partitions.push(w);
    }
    plan.links.push(req, res);
  }

  // ---- the console sink (TCP: ordered, reliable while up; a partition delays) -------
  for (const h of HOSTS) {
    const out = calmLink(`${h}>S`, rng.range(0.05, 2), rng.range(0, 1));
    const ack = calmLink(`S>${h}`, out.delayMs, out.jitterMs);
    if (!calm && rng.chance(0.3)) {
      const w = window(rng, t(), timeoutMs);
      out.partitions.push(w);
      if (rng.chance(0.5)) ack.partitions.push({ ...w });
    }
    plan.links.push(out, ack);
    if (!calm && rng.chance(0.2)) {
      const n = rng.int(1, 2);
      for (let i = 0; i < n; i++) hosts[h].sinkResets.push(t());
    }
  }

  // ---- crashes ---------------------------------------------------------------------
  if (o.crashes) {
    for (const h of HOSTS) hosts[h].crash = o.crashes[h] ?? [];
  } else if (!calm) {
    const kind = rng.weighted([
      [25, "none"],
      [20, "P"],
      [15, "B"],
      [10, "both"],
      [30, "failover"],
    ] as const);
    if (kind === "P" || kind === "both") hosts.P.crash.push(crashTrigger(rng, t(), instrs));
    if (kind === "B" || kind === "both") hosts.B.crash.push(crashTrigger(rng, t(), instrs));
    if (kind === "failover") {
      // Hit the handover itself: one host fails (or the pair is split), then the other
      // crashes while draining, electing, just after going live, or while finishing.
      const first = rng.pick(HOSTS);
      const second: HostId = first === "P" ? "B" : "P";
      if (rng.chance(0.7)) hosts[first].crash.push(rng.chance(0.5) ? { kind: "time", atMs: t() } : { kind: "icount", icount: rng.int(0, instrs) });
      const roles: Role[] = second === "B" ? ["draining", "electing", "alone", "finishing"] : ["electing", "alone", "finishing"];
      hosts[second].crash.push({ kind: "role", role: rng.pick(roles), delayMs: rng.chance(0.5) ? 0 : rng.range(0, 2 * timeoutMs) });
      if (rng.chance(0.3)) hosts[second].crash.push({ kind: "action", action: rng.pick(["output", "tas", "send"] as const), nth: rng.int(1, 30) });
    }
  }
  const lastFault = Math.max(
    expectedMs,
    ...plan.links.flatMap((l) => l.partitions.map((w) => w.to)),
    ...HOSTS.flatMap((h) => hosts[h].sinkResets),
  );
  // Room for every failover and for 30 arbiter attempts: a run still going at the cap is stuck.
  plan.capMs = Math.ceil(lastFault + 20 * timeoutMs + 30 * (plan.tasTimeoutMs + plan.tasRetryMs) + 5000);
  return plan;
}

/** A partition window: mostly shorter than the failure timeout (a hiccup), sometimes far longer (a real split). */
function window(rng: Prng, from: number, timeoutMs: number): Window {
  const len = rng.chance(0.5) ? rng.range(1, timeoutMs * 0.8) : rng.range(timeoutMs, timeoutMs * 8);
  return { from, to: from + len };
}

function crashTrigger(rng: Prng, at: number, instrs: number): CrashTrigger {
  return rng.weighted<CrashTrigger>([
    [5, { kind: "time", atMs: at }],
    [3, { kind: "icount", icount: rng.int(0, instrs) }],
    [1, { kind: "action", action: rng.pick(["output", "send"] as const), nth: rng.int(1, 100) }],
  ]);
}

/** One line describing a plan's faults (for the verbose report). */
export function describePlan(p: Plan): string {
  const parts: string[] = [
    `guest ${p.guest.lines} lines (timer ${p.guest.periodUs} µs, wait every ${p.guest.waitEvery})`,
    `hb ${p.heartbeatMs} ms, timeout ${p.timeoutMs} ms, tas timeout ${p.tasTimeoutMs} ms`,
  ];
  for (const h of HOSTS) {
    const hp = p.hosts[h];
    const crash = hp.crash.map((c) =>
      c.kind === "time" ? `at ${c.atMs.toFixed(1)} ms` : c.kind === "icount" ? `at icount ${c.icount}` : c.kind === "role" ? `on ${c.role}+${c.delayMs.toFixed(1)} ms` : `before ${c.action} #${c.nth}`,
    );
    parts.push(
      `${h}: slice ${hp.sliceIcount}, ${hp.usPerInstr} µs/instr${crash.length ? `, crash ${crash.join(" or ")} (${hp.closeOnCrash ? "peer sees a close" : "silent"})` : ""}${hp.sinkResets.length ? `, sink resets at ${hp.sinkResets.map((x) => x.toFixed(1)).join(", ")} ms` : ""}`,
    );
  }
  for (const l of p.links) {
    const f: string[] = [];
    if (!l.fifo) f.push("unordered");
    if (l.loss) f.push(`loss ${l.loss}`);
    if (l.dup) f.push(`dup ${l.dup}`);
    if (l.reorder) f.push(`reorder ${l.reorder}`);
    if (l.partitions.length) f.push(`partitions (${l.partitionMode}) ${l.partitions.map((w) => `${w.from.toFixed(1)}-${w.to.toFixed(1)}`).join(", ")} ms`);
    if (f.length) parts.push(`${l.name}: ${f.join(", ")}`);
  }
  return parts.join("; ");
}
