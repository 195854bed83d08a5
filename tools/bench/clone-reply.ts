// What a clone adds to client replies: `npm run bench:clone`. Starts `ftvm ft
// programs/redis.s --mem 16MiB --listen 127.0.0.1:0 --json` as a user would (its own
// process; the virtual switch lives in it), runs clients through the switch that time
// every request (resp-clients.ts), and per round: a baseline window with the pair formed
// and no clone, then kills the backup (SIGUSR2 to the launcher, as `ftvm crash backup`
// does) so that the launcher's standby joins the primary by clone. The worst reply and
// p99 in the clone window (the primary alone and copying, until the pair's epoch is
// granted and a tail after it) are compared with the baseline window's, whose worst is
// taken over stretches as long as the clone window (the floor: see floorOver); the
// primary's clone pause comes from the run's "clone" event. Quiet, then with the standard load
// (tools/load/load.ts) beside it; every round is printed, then the medians.
//
//   tsx tools/bench/clone-reply.ts [--rounds N] [--only quiet|load] [--load-procs N]
//                                  [--clients N] [--baseline-ms T] [--tail-ms T] [--timeline]
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dieWithMe } from "./children.js";
import { startRespClients, type RespClients, type TimedRequests } from "./resp-clients.js";
import { type Floor, floorOver, median, type WindowStats, windowStats } from "./reply-windows.js";
import { LOAD_PROCS_DEFAULT, LOAD_PROCS_MAX, startLoad } from "../load/load.js";
import { childrenFromCompileCache, selfArgs } from "../../src/host/self.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Rounds per series at most (each takes seconds to tens of seconds). */
const roundsMax = 20;
/** Client connections at most. */
const clientsMax = 200;
/** Window lengths accepted, in ms. */
const windowMsMax = 60_000;
/** How long one round may wait for the pair's epoch after the kill before it is given up. */
const roundWaitMsMax = 120_000;
/** How long the cluster may take to form its first pair and answer. */
const startWaitMsMax = 120_000;
/** How long the launcher may take to stop after SIGINT before it is killed. */
const stopWaitMsMax = 20_000;
/** Events and launcher lines kept per series at most (a series has a few thousand). */
const eventsKeptMax = 200_000;
/** The floor's windows (see floorOver) start this often in the baseline. */
const floorStepMs = 100;
/** Seconds the load's workers live at most (they are stopped at the series' end anyway). */
const loadSecondsMax = 1800;

interface Options {
  rounds: number;
  only?: "quiet" | "load";
  loadProcs: number;
  clients: number;
  baselineMs: number;
  tailMs: number;
  /** Print each round's events and reply gaps relative to the kill (to see where a stall falls). */
  timeline: boolean;
}

function fail(why: string): never {
  process.stderr.write(`bench:clone: ${why}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  // The baseline is longer than a clone window under load (2-8 s from running alone to 1 s
  // after the pair seen at load 10), so the floor can be taken at the clone window's length.
  const o: Options = { rounds: 3, loadProcs: LOAD_PROCS_DEFAULT, clients: 20, baselineMs: 8000, tailMs: 1000, timeline: false };
  const int = (name: string, v: string | undefined, lo: number, hi: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < lo || n > hi) fail(`--${name} needs an integer in ${lo}..${hi}, got "${v ?? ""}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--rounds") o.rounds = int("rounds", v, 1, roundsMax);
    else if (a === "--load-procs") o.loadProcs = int("load-procs", v, 1, LOAD_PROCS_MAX);
    else if (a === "--clients") o.clients = int("clients", v, 1, clientsMax);
    else if (a === "--baseline-ms") o.baselineMs = int("baseline-ms", v, 100, windowMsMax);
    else if (a === "--tail-ms") o.tailMs = int("tail-ms", v, 0, windowMsMax);
    else if (a === "--timeline") {
      o.timeline = true;
      continue;
    } else if (a === "--only") {
      if (v !== "quiet" && v !== "load") fail(`--only takes quiet or load, got "${v ?? ""}"`);
      o.only = v;
    } else fail(`unknown argument "${a}" (see the top of tools/bench/clone-reply.ts)`);
    i++;
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The launcher as a child process, its --json events read as they come (stamped with this process's clock). */
class Cluster {
  readonly proc: ChildProcess;
  port?: number;
  private waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (at: { ms: number; e: Record<string, unknown> }) => void }[] = [];
  /** Every event but status and io lines, with its arrival time (ms). */
  readonly events: { ms: number; e: Record<string, unknown> }[] = [];
  private portWaiter?: () => void;
  exited = false;

  constructor(extraArgs: string[]) {
    this.proc = dieWithMe(
      spawn(process.execPath, [...selfArgs(), "ft", "programs/redis.s", "--mem", "16MiB", "--listen", "127.0.0.1:0", "--json", ...extraArgs], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }),
    );
    this.proc.once("exit", () => (this.exited = true));
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (e.type === "io" || e.type === "console") return;
      // Status lines only of a primary that holds output or throttles (for --timeline).
      if (e.type === "status" && !(e.role === "primary" && (Number(e.throttle) > 0 || Number(e.heldOutputs) > 0))) return;
      const at = { ms: performance.now(), e };
      if (this.events.length < eventsKeptMax) this.events.push(at);
      for (const w of [...this.waiters])
        if (w.match(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(at);
        }
    });
    createInterface({ input: this.proc.stderr! }).on("line", (line) => {
      // Kept for --timeline: the hosts' own lines (which backup joins, the clone's stages).
      if (this.events.length < eventsKeptMax) this.events.push({ ms: performance.now(), e: { type: "stderr", text: line } });
      const m = /network clients connect to [^\s]*:(\d+)/.exec(line);
      if (m) {
        this.port = Number(m[1]);
        this.portWaiter?.();
      }
    });
  }

  /** The next event (arriving from now on) that `match` accepts, or undefined after `ms`. */
  next(match: (e: Record<string, unknown>) => boolean, ms: number): Promise<{ ms: number; e: Record<string, unknown> } | undefined> {
    return new Promise((resolve) => {
      const w = { match, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(undefined);
        }
      }, ms);
    });
  }

  async listening(ms: number): Promise<number> {
    if (this.port === undefined) await Promise.race([new Promise<void>((r) => (this.portWaiter = r)), sleep(ms)]);
    if (this.port === undefined) throw new Error(`the cluster named no listening port within ${ms} ms`);
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGINT");
    if ((await Promise.race([gone.then(() => true), sleep(stopWaitMsMax).then(() => false)])) === false) this.proc.kill("SIGKILL");
    await gone;
  }
}

interface Round {
  baseline: WindowStats;
  /** The baseline's worst reply in a window as long as this round's clone window (see floorOver): what the machine alone gives. */
  floor: Floor;
  /** Requests waiting at the kill or sent before the primary ran alone (the backup's failure, not the clone). */
  failure: WindowStats;
  /** Requests sent from the primary running alone until the pair's epoch is granted, plus the tail. */
  clone: WindowStats;
  killToAloneMs: number;
  aloneToPairedMs: number;
  pauseMs?: number;
  cloneMs?: number;
  sendWallMs?: number;
  cloneFailures: string[];
  /**
   * The primary's highest throttle level from the pair's epoch to the next kill (or the
   * end): a throttle that slows it after the tail would escape the clone window, and fall
   * in the next round's baseline.
   */
  throttleAfterMax: number;
}

async function series(o: Options, loaded: boolean): Promise<{ rounds: (Round | string)[]; errors: string[] }> {
  const load = loaded ? startLoad(o.loadProcs, loadSecondsMax) : undefined;
  const cluster = new Cluster([]);
  let clients: RespClients | undefined;
  const rounds: (Round | string)[] = [];
  const marks: { start: number; kill: number; alone: number; paired: number; end: number; r: Omit<Round, "baseline" | "floor" | "failure" | "clone" | "throttleAfterMax"> }[] = [];
  try {
    const paired = cluster.next((e) => e.type === "protection" && e.protected === true, startWaitMsMax);
    const port = await cluster.listening(startWaitMsMax);
    if (!(await paired)) throw new Error(`no pair formed within ${startWaitMsMax} ms`);
    clients = await startRespClients("127.0.0.1", port, o.clients);
    // A second of warm-up: connections made, the guest's code compiled.
    await sleep(1000);
    for (let i = 0; i < o.rounds; i++) {
      const start = performance.now();
      await sleep(o.baselineMs);
      const alone = cluster.next((e) => e.type === "alone", roundWaitMsMax);
      const pairedEv = cluster.next((e) => e.type === "clone", roundWaitMsMax);
      const failures: string[] = [];
      const fromEvent = cluster.events.length;
      const kill = performance.now();
      cluster.proc.kill("SIGUSR2");
      const a = await alone;
      const p = await pairedEv;
      for (const x of cluster.events.slice(fromEvent)) if (x.e.type === "clone-failed") failures.push(String(x.e.reason));
      if (!a || !p) {
        rounds.push(`round ${i + 1}: ${!a ? "the primary never ran alone after the kill" : "no pair formed again"} within ${roundWaitMsMax} ms${failures.length ? `; clones failed: ${failures.join("; ")}` : ""}`);
        break;
      }
      await sleep(o.tailMs);
      const c = p.e;
      marks.push({
        start,
        kill,
        alone: a.ms,
        paired: p.ms,
        end: p.ms + o.tailMs,
        r: {
          killToAloneMs: a.ms - kill,
          aloneToPairedMs: p.ms - a.ms,
          pauseMs: typeof c.pauseMs === "number" ? c.pauseMs : undefined,
          cloneMs: typeof c.cloneMs === "number" ? c.cloneMs : undefined,
          sendWallMs: typeof c.sendWallMs === "number" ? c.sendWallMs : undefined,
          cloneFailures: failures,
        },
      });
    }
  } catch (e) {
    rounds.push(`stopped: ${(e as Error).message}`);
  } finally {
    const stoppedAt = performance.now();
    const timed: TimedRequests | undefined = clients?.stop();
    await cluster.stop();
    await load?.stop();
    if (timed && o.timeline) for (const m of marks) printTimeline(cluster, timed, m.start, m.kill, m.end);
    if (timed)
      rounds.unshift(
        ...marks.map((m, i) => ({
          ...m.r,
          throttleAfterMax: throttleMax(cluster, m.paired, marks[i + 1]?.kill ?? stoppedAt),
          // Baseline: sent and answered before the kill. Failure: waiting at the kill, or
          // sent before the primary ran alone. Clone: sent from then on, to the tail's end.
          baseline: windowStats(timed, { sentFromMs: m.start, sentToMs: m.kill, repliedToMs: m.kill }, stoppedAt),
          floor: floorOver(timed, { sentFromMs: m.start, sentToMs: m.kill, repliedToMs: m.kill }, stoppedAt, m.end - m.alone, floorStepMs),
          failure: windowStats(timed, { sentFromMs: m.start, sentToMs: m.alone, repliedFromMs: m.kill }, stoppedAt),
          clone: windowStats(timed, { sentFromMs: m.alone, sentToMs: m.end }, stoppedAt),
        })),
      );
  }
  return { rounds, errors: clients?.errors ?? [] };
}

/** The highest throttle level in the primary's status lines from `fromMs` to `toMs` (0: none throttled). */
function throttleMax(cluster: Cluster, fromMs: number, toMs: number): number {
  let max = 0;
  for (const x of cluster.events) if (x.ms >= fromMs && x.ms < toMs && x.e.type === "status") max = Math.max(max, Number(x.e.throttle) || 0);
  return max;
}

/** Reply gaps of at least this long (no client got any reply) are listed by --timeline. */
const timelineGapMsMin = 40;

function printTimeline(cluster: Cluster, t: TimedRequests, start: number, kill: number, end: number): void {
  console.log(`timeline (ms from the kill):`);
  for (const x of cluster.events) if (x.ms >= kill && x.ms <= end && x.e.type !== "log") console.log(`  ${(x.ms - kill).toFixed(1).padStart(8)}  ${x.e.type}${x.e.event ? ` ${String(x.e.event)}` : ""}${x.e.text ? `: ${String(x.e.text)}` : ""}${x.e.type === "clone" || x.e.type === "status" ? ` ${JSON.stringify(x.e)}` : ""}`);
  const replies: number[] = [];
  for (let i = 0; i < t.count; i++) if (t.repliedMs[i] >= start && t.repliedMs[i] <= end) replies.push(t.repliedMs[i]);
  replies.sort((a, b) => a - b);
  const slow: number[] = [];
  for (let i = 0; i < t.count; i++) if (t.sentMs[i] >= start && t.sentMs[i] <= end) slow.push(i);
  slow.sort((a, b) => (t.repliedMs[b] - t.sentMs[b] || Infinity) - (t.repliedMs[a] - t.sentMs[a] || Infinity));
  for (const i of slow.slice(0, 5)) console.log(`  ${(t.sentMs[i] - kill).toFixed(1).padStart(8)}  client ${t.client[i]} sent a request answered ${(t.repliedMs[i] - t.sentMs[i]).toFixed(1)} ms later`);
  for (let i = 1; i < replies.length; i++) if (replies[i] - replies[i - 1] >= timelineGapMsMin) console.log(`  ${(replies[i - 1] - kill).toFixed(1).padStart(8)}  no reply for ${(replies[i] - replies[i - 1]).toFixed(1)} ms`);
}

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(1));

function report(title: string, s: { rounds: (Round | string)[]; errors: string[] }): void {
  console.log(`\n${title}`);
  console.log(
    "  round  baseline p99 / worst    floor   kill->alone worst   clone p99 / worst   added worst   (vs baseline worst)   pause   alone->paired   clone-sent   throttle after   (ms; requests in windows)",
  );
  // Added worst: the clone window's worst reply less the floor, the worst the baseline gave
  // in windows as long as the clone window (the machine's own share; see floorOver). A
  // floor marked * came from a baseline shorter than the clone window (--baseline-ms).
  const added = (r: Round) => r.clone.max - r.floor.worstMs;
  const ok: Round[] = [];
  s.rounds.forEach((r, i) => {
    if (typeof r === "string") return console.log(`  ${r}`);
    ok.push(r);
    console.log(
      `  ${String(i + 1).padStart(5)}  ${`${f1(r.baseline.p99)} / ${f1(r.baseline.max)}`.padStart(19)}   ${`${f1(r.floor.worstMs)}${r.floor.short ? "*" : ""}`.padStart(6)}   ${f1(r.failure.max).padStart(17)}   ${`${f1(r.clone.p99)} / ${f1(r.clone.max)}`.padStart(17)}   ${f1(added(r)).padStart(11)}   ${f1(r.clone.max - r.baseline.max).padStart(19)}   ${f1(r.pauseMs).padStart(5)}   ${f1(r.aloneToPairedMs).padStart(13)}   ${f1(r.sendWallMs).padStart(10)}   ${r.throttleAfterMax.toFixed(2).padStart(14)}   (${r.baseline.n}; ${r.failure.n}; ${r.clone.n}${r.clone.unanswered ? `, ${r.clone.unanswered} unanswered` : ""})` +
        (r.cloneFailures.length ? `  clones failed first: ${r.cloneFailures.join("; ")}` : ""),
    );
  });
  if (ok.length > 0) {
    const m = (f: (r: Round) => number | undefined) => f1(median(ok.map((r) => f(r) ?? NaN)));
    console.log(
      `  median ${`${m((r) => r.baseline.p99)} / ${m((r) => r.baseline.max)}`.padStart(19)}   ${m((r) => r.floor.worstMs).padStart(6)}   ${m((r) => r.failure.max).padStart(17)}   ${`${m((r) => r.clone.p99)} / ${m((r) => r.clone.max)}`.padStart(17)}   ${m(added).padStart(11)}   ${m((r) => r.clone.max - r.baseline.max).padStart(19)}   ${m((r) => r.pauseMs).padStart(5)}   ${m((r) => r.aloneToPairedMs).padStart(13)}   ${m((r) => r.sendWallMs).padStart(10)}`,
    );
  }
  if (s.errors.length > 0) console.log(`  client errors (${s.errors.length}): ${s.errors.slice(0, 5).join("; ")}`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  // The launcher and every host it starts (the backups that join by clone among them) run
  // from the compiled sources, as under the ftvm executable: through tsx each start took
  // about 0.5 s of CPU more, inside the clone window, beside the primary.
  await childrenFromCompileCache();
  console.log(
    `bench:clone: programs/redis.s, --mem 16MiB, ${o.clients} clients (one request at a time each), ${o.rounds} rounds: ${o.baselineMs} ms baseline, then the backup killed and a standby cloned; the clone window holds the requests sent from the primary running alone to ${o.tailMs} ms after the pair's epoch`,
  );
  if (o.only !== "load") report("quiet", await series(o, false));
  if (o.only !== "quiet") report(`under load: ${o.loadProcs} busy processes beside the cluster (tools/load/load.ts)`, await series(o, true));
}

await main();
