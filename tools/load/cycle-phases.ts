// Splits the kill -> failover -> clone cycle of a run with repeated primary kills into its
// phases, from the launcher's --json event stream (docs/events.md), e.g. the one
// `tools/load/redis-lin.ts --events FILE` writes. Issue 11 asks for a kill every 300 ms;
// a kill is only carried out while a paired backup exists, so the kill rate is bounded by
// the time one whole cycle takes, and this says where that time goes:
//
//   kill->live      SIGKILL of the primary to the backup live (the failover event's fromKillMs)
//   live->order     the backup live to the launcher's join order to the next backup
//   order->request  the join order to the primary receiving the join request (the joiner's
//                   start-up or wake-up, connect and hello: the clone event's fromSpawnMs - cloneMs)
//   request->paired the join request to "paired" (the clone itself: cloneMs)
//   paired->kill    "paired" to the next kill (the launcher's scheduling of the next kill)
//
//   tsx tools/load/cycle-phases.ts FILE.jsonl [FILE2.jsonl ...]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

type Ev = Record<string, unknown> & { t: number; type: string };

export interface Cycle {
  killAtMs: number;
  killToLiveMs?: number;
  detectionMs?: number;
  replayMs?: number;
  tasMs?: number;
  liveToOrderMs?: number;
  /** True when the join order went to a standby already started, false for a fresh process. */
  standby?: boolean;
  /** The standby had not yet said where it listens (the launcher says "still starting"). */
  standbyStarting?: boolean;
  orderToRequestMs?: number;
  requestToPairedMs?: number;
  pairedToKillMs?: number;
}

export interface Phases {
  cycles: Cycle[];
  kills: number;
  /** From the first pair to the last event (ms): the time the cycles had. */
  spanMs: number;
}

/** Reads the cycles out of one run's events, in order. */
export function cyclePhases(events: Ev[]): Phases {
  const cycles: Cycle[] = [];
  let cur: Cycle | undefined;
  let lastPairedAtMs: number | undefined;
  let firstPairAtMs: number | undefined;
  let lastT = 0;
  for (const e of events) {
    lastT = e.t;
    if (e.type === "protection" && e.protected === true && firstPairAtMs === undefined) firstPairAtMs = e.t;
    if (e.type === "fault" && e.fault === "kill" && e.target === "primary") {
      cur = { killAtMs: e.t, ...(lastPairedAtMs !== undefined ? { pairedToKillMs: e.t - lastPairedAtMs } : {}) };
      cycles.push(cur);
      continue;
    }
    if (!cur) continue;
    if (e.type === "failover" && cur.killToLiveMs === undefined) {
      cur.killToLiveMs = e.t - cur.killAtMs;
      cur.detectionMs = e.detectionMs as number;
      cur.replayMs = e.replayMs as number;
      cur.tasMs = e.tasMs as number;
    }
    if (e.type === "log" && cur.killToLiveMs !== undefined && cur.liveToOrderMs === undefined) {
      const text = String(e.text);
      const standby = /^the standby backup \(pid \d+(, still starting)?\) joins the primary/.test(text);
      const fresh = /^starting a new backup \(pid \d+\) to join the primary/.test(text);
      if (standby || fresh) {
        cur.liveToOrderMs = e.t - cur.killAtMs - cur.killToLiveMs;
        cur.standby = standby;
        cur.standbyStarting = /, still starting\)/.test(text);
      }
    }
    if (e.type === "clone") {
      lastPairedAtMs = e.t;
      const cloneMs = e.cloneMs as number;
      cur.requestToPairedMs = cloneMs;
      if (typeof e.fromSpawnMs === "number") cur.orderToRequestMs = e.fromSpawnMs - cloneMs;
    }
  }
  return { cycles, kills: cycles.length, spanMs: firstPairAtMs === undefined ? 0 : lastT - firstPairAtMs };
}

const PHASES = ["killToLiveMs", "liveToOrderMs", "orderToRequestMs", "requestToPairedMs", "pairedToKillMs"] as const;
const DETAIL = ["detectionMs", "replayMs", "tasMs"] as const;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** One line per phase: median, 90th percentile, max, and the share of the cycles' summed time. */
export function formatPhases(runs: Phases[]): string {
  const cycles = runs.flatMap((r) => r.cycles);
  const lines: string[] = [];
  const kills = runs.map((r) => r.kills);
  lines.push(`runs ${runs.length}, kills per run ${kills.join(", ")}; cycles ${cycles.length}`);
  const total = PHASES.reduce((n, p) => n + cycles.reduce((m, c) => m + (c[p] ?? 0), 0), 0);
  for (const p of [...PHASES, ...DETAIL]) {
    const xs = cycles.map((c) => c[p]).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
    if (xs.length === 0) continue;
    const sum = xs.reduce((a, b) => a + b, 0);
    const share = (PHASES as readonly string[]).includes(p) ? `  ${((100 * sum) / total).toFixed(0)}% of the cycles' time` : "";
    lines.push(`${p.padEnd(18)} n ${String(xs.length).padStart(3)}  median ${quantile(xs, 0.5).toFixed(0).padStart(5)}  p90 ${quantile(xs, 0.9).toFixed(0).padStart(5)}  max ${Math.max(...xs).toFixed(0).padStart(5)}${share}`);
  }
  const standby = cycles.filter((c) => c.standby === true).length;
  const fresh = cycles.filter((c) => c.standby === false).length;
  const starting = cycles.filter((c) => c.standbyStarting === true).length;
  lines.push(`join orders to a standby ${standby} (${starting} of them still starting), to a freshly started backup ${fresh}`);
  return lines.join("\n");
}

export function readEvents(file: string): Ev[] {
  const out: Ev[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Ev);
    } catch {
      // A line cut short when the run was stopped: the rest of the file still counts.
    }
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = process.argv.slice(2);
  if (files.length === 0 || files.includes("--help")) {
    process.stdout.write("usage: tsx tools/load/cycle-phases.ts FILE.jsonl [FILE2.jsonl ...]\n");
    process.exit(files.length === 0 ? 2 : 0);
  }
  process.stdout.write(formatPhases(files.map((f) => cyclePhases(readEvents(f)))) + "\n");
}
