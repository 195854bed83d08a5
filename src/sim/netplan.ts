// The fault plan of a network seed (./netsim.ts), drawn from the seed alone: link delays,
// the host faults (a crash of the primary or the backup, the primary isolated from
// everything, a split between the two hosts), resets of the hosts' switch channels,
// short partitions of host-switch links, and the clients' scripts (with their own
// connection resets). Like ./plan.ts, a plan is data: the run only reads it.
import { type ClientPlan, makeClientPlan } from "./netclients.js";
import { type LinkModel, calmLink } from "./net.js";
import type { Prng } from "./prng.js";

/** Clients of one network seed at most (each takes a connection id or two of the switch's). */
export const NET_CLIENTS_MAX = 6;

export type HostFault =
  | { kind: "none" }
  /** The host's process dies at atMs; closeOnCrash: its kernel closes its connections (else its machine died). */
  | { kind: "crash"; host: "P" | "B"; atMs: number; closeOnCrash: boolean }
  /**
   * P is cut off from everything for lenMs: first its link to the switch (so output it
   * releases meanwhile waits in that link), leadMs later its log channel and the arbiter.
   * The backup wins the next epoch; what P sent the switch arrives after the new primary
   * announced itself: output of an older epoch, which the switch must refuse.
   */
  | { kind: "isolate"; atMs: number; leadMs: number; lenMs: number }
  /** P and B cannot hear each other for lenMs: both ask the arbiter; one goes on, the other halts. */
  | { kind: "split"; atMs: number; lenMs: number };

export interface NetPlan {
  seed: number;
  heartbeatMs: number;
  timeoutMs: number;
  sliceIcount: number;
  /** Simulated cost of one guest instruction (µs) and of one run() call (ms). */
  usPerInstr: { P: number; B: number; C: number };
  stepOverheadMs: number;
  /** How long the clients' scripts should take without faults (fault times scale with it). */
  expectedMs: number;
  /** The run stops here even if clients still wait (a stall is then reported). */
  capMs: number;
  links: LinkModel[];
  fault: HostFault;
  /** A host's channel to the switch drops at these times (the host connects again). */
  switchResets: { host: "P" | "B"; atMs: number }[];
  /**
   * Once a host goes on alone, a new backup C joins it delayMs later (a clone of the running
   * primary, as ftvm backup --join does); crashAfterMs: the host C joined dies that long
   * after C became its backup, so C goes live with the NIC state and kept output it was cloned with.
   */
  clone?: { delayMs: number; crashAfterMs?: number };
  clients: ClientPlan[];
}

export function makeNetPlan(seed: number, rng: Prng): NetPlan {
  const heartbeatMs = rng.pick([5, 10, 20]);
  const timeoutMs = heartbeatMs * rng.int(4, 8);
  const expectedMs = rng.range(150, 400);
  const links: LinkModel[] = [];
  const link = (name: string, delayMs: number, jitterMs: number): LinkModel => {
    const m = calmLink(name, delayMs, jitterMs);
    links.push(m);
    return m;
  };
  const pair = (a: string, b: string, delayMs: number, jitterMs: number): [LinkModel, LinkModel] => [link(`${a}>${b}`, delayMs, jitterMs), link(`${b}>${a}`, delayMs, jitterMs)];
  const hostDelay = rng.range(0.05, 0.5);
  const [pb, bp] = pair("P", "B", hostDelay, rng.range(0, 0.4));
  const [psw, swp] = pair("P", "SW", rng.range(0.05, 0.5), rng.range(0, 0.5));
  const [bsw, swb] = pair("B", "SW", rng.range(0.05, 0.5), rng.range(0, 0.5));
  const [pa, ap] = pair("P", "A", rng.range(0.1, 1), rng.range(0, 1));
  pair("B", "A", rng.range(0.1, 1), rng.range(0, 1));
  // The links of a joining backup (used only if one joins).
  pair("C", "P", hostDelay, rng.range(0, 0.4));
  pair("C", "B", hostDelay, rng.range(0, 0.4));
  pair("C", "SW", rng.range(0.05, 0.5), rng.range(0, 0.5));
  pair("C", "A", rng.range(0.1, 1), rng.range(0, 1));
  const nClients = rng.int(2, NET_CLIENTS_MAX);
  const clients: ClientPlan[] = [];
  for (let i = 0; i < nClients; i++) {
    pair(`c${i}`, "SW", rng.range(0.02, 0.6), rng.range(0, 0.8));
    clients.push(makeClientPlan(rng.fork(`client ${i}`), i, rng.int(15, 50), expectedMs));
  }

  const at = () => rng.range(0.05, 0.6) * expectedMs;
  const fault: HostFault = rng.weighted<HostFault>([
    [30, { kind: "crash", host: "P", atMs: at(), closeOnCrash: rng.chance(0.7) }],
    [15, { kind: "crash", host: "B", atMs: at(), closeOnCrash: rng.chance(0.7) }],
    [20, { kind: "isolate", atMs: at(), leadMs: rng.range(0, 5), lenMs: timeoutMs * rng.range(2, 5) }],
    [10, { kind: "split", atMs: at(), lenMs: timeoutMs * rng.range(1.5, 4) }],
    [25, { kind: "none" }],
  ]);
  if (fault.kind === "isolate") {
    cut(psw, fault.atMs, fault.lenMs + fault.leadMs);
    cut(swp, fault.atMs, fault.lenMs + fault.leadMs);
    for (const m of [pb, bp, pa, ap]) cut(m, fault.atMs + fault.leadMs, fault.lenMs);
  } else if (fault.kind === "split") for (const m of [pb, bp]) cut(m, fault.atMs, fault.lenMs);

  // Short partitions of a host's switch link (TCP holds what is sent meanwhile).
  for (const m of [psw, swp, bsw, swb]) if (rng.chance(0.15)) cut(m, at(), rng.range(1, 3) * heartbeatMs);
  const switchResets: NetPlan["switchResets"] = [];
  for (const host of ["P", "B"] as const) if (rng.chance(0.2)) switchResets.push({ host, atMs: at() });

  const clone = rng.chance(0.6) ? { delayMs: rng.range(1, 40), ...(rng.chance(0.5) ? { crashAfterMs: rng.range(0, 60) } : {}) } : undefined;

  return {
    seed,
    heartbeatMs,
    timeoutMs,
    sliceIcount: rng.pick([2000, 5000, 20_000]),
    usPerInstr: { P: rng.range(0.005, 0.03), B: rng.range(0.005, 0.03), C: rng.range(0.005, 0.03) },
    stepOverheadMs: 0.01,
    expectedMs,
    capMs: 20_000,
    links,
    fault,
    switchResets,
    ...(clone ? { clone } : {}),
    clients,
  };
}

function cut(m: LinkModel, from: number, lenMs: number): void {
  m.partitions.push({ from, to: from + lenMs });
}

export function describeNetPlan(p: NetPlan): string {
  const f = p.fault;
  const fault =
    f.kind === "none"
      ? "no host fault"
      : f.kind === "crash"
        ? `${f.host} crashes at ${f.atMs.toFixed(1)} ms${f.closeOnCrash ? "" : " (machine dead: no close seen)"}`
        : f.kind === "isolate"
          ? `P isolated at ${f.atMs.toFixed(1)} ms for ${f.lenMs.toFixed(1)} ms (switch link ${f.leadMs.toFixed(1)} ms first)`
          : `P and B split at ${f.atMs.toFixed(1)} ms for ${f.lenMs.toFixed(1)} ms`;
  const resets = p.switchResets.map((r) => `${r.host}'s switch channel resets at ${r.atMs.toFixed(1)} ms`);
  const clientResets = p.clients.reduce((n, c) => n + c.resets.length, 0);
  const clone = p.clone ? [`a backup joins ${p.clone.delayMs.toFixed(1)} ms after one goes alone${p.clone.crashAfterMs !== undefined ? `, its primary crashes ${p.clone.crashAfterMs.toFixed(1)} ms after pairing` : ""}`] : [];
  return [`heartbeat ${p.heartbeatMs} ms, timeout ${p.timeoutMs} ms, slice ${p.sliceIcount}`, fault, ...resets, ...clone, `${p.clients.length} clients, ${p.clients.reduce((n, c) => n + c.ops.length, 0)} ops, ${clientResets} client resets`].join("; ");
}
