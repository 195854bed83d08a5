// Bulk network bandwidth in the terms of the paper's Table 2 (netperf TCP_STREAM):
// `npm run bench:net`. "Receive" streams bytes into the guest (programs/netsink.s takes
// them and answers the count); "transmit" streams bytes out of it (programs/netsource.s
// sends what a client asks for). Each runs under FT (`ftvm ft --listen`: primary, backup
// and the virtual switch), plainly (`ftvm run --listen`, no backup), and against a native
// Node server speaking the same protocol (tools/bench/netpeer.ts: the physical reference),
// all in this run, with the same client (netpeer.ts, its own process). Under FT it also
// measures the log channel: bytes the primary wrote to its backup's connection during each
// transfer (events, heartbeats and framing, from the hosts' status lines), as Mbit/s over
// the transfer's time, and as a share of the data moved. And where the time goes: CPU
// seconds per GB moved on the server side (from /proc: the native server, the plain ftvm
// process, or FT's primary + backup + this process, which holds the switch) and the client.
//
// Environment: FTVM_BENCH_NET_BYTES (per transfer, default 200 MB), FTVM_BENCH_NET_RUNS
// (rounds of transfers, one per cell each; the median is shown; default 3), FTVM_BENCH_NET_STREAMS (connections
// side by side, default 1 as in netperf), FTVM_BENCH_NET_TIMEOUT_MS (the FT failure timeout,
// default 1000), FTVM_BENCH_NET_JSON=1 (print the results as JSON).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { runClusterDetailed } from "../../src/host/launcher.js";
import type { HostStatus } from "../../src/host/sink.js";
import { progress } from "../../src/host/progress.js";
import { childrenFromCompileCache, selfArgs } from "../../src/host/self.js";
import { setLogger } from "../../src/transport/channel.js";
import type { Transfer } from "./netpeer.js";
import { dieWithMe } from "./children.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PEER = fileURLToPath(new URL("./netpeer.ts", import.meta.url));
const BYTES = Number(process.env.FTVM_BENCH_NET_BYTES ?? 200_000_000);
/**
 * An untimed transfer of this many bytes each way through every server before the timed
 * rounds (FTVM_BENCH_NET_WARMUP_BYTES; 0 for none), so that no round pays V8's warm-up:
 * compiling the hosts' and the switch's code, and the guest's regions, which under FT
 * happens in three processes (see bench:redis's WARMUP_REQUESTS for what it cost there).
 */
const WARMUP_BYTES = Number(process.env.FTVM_BENCH_NET_WARMUP_BYTES ?? BYTES / 4);
const RUNS = Number(process.env.FTVM_BENCH_NET_RUNS ?? 3);
const STREAMS = Number(process.env.FTVM_BENCH_NET_STREAMS ?? 1);
const JSON_OUT = process.env.FTVM_BENCH_NET_JSON === "1";
/**
 * The FT failure timeout for this benchmark (the default is 150 ms): on this shared 2-core
 * machine a busy pair under full network load sometimes misses that and splits, and a
 * primary running alone logs nothing. Detection is not what is measured here.
 */
const TIMEOUT_MS = Number(process.env.FTVM_BENCH_NET_TIMEOUT_MS ?? 1000);
/** Idle time before reading a log count: hosts report every 250 ms, so this sees the latest. */
const SETTLE_MS = 700;
setLogger(() => undefined);

type Kind = "receive" | "transmit";
type Setup = "ft" | "plain" | "native";

export interface Cell {
  setup: Setup;
  kind: Kind;
  /** FT runs also say whether the pair stayed paired throughout (else the log count means little). */
  runs: (Transfer & { logBytes?: number; logMbitPerSec?: number; paired?: boolean; serverCpuMs?: number; ftCpuMs?: { primary: number; backup: number; launcher: number } })[];
}

const execFileP = promisify(execFile);
async function client(kind: Kind, port: number, bytes = BYTES): Promise<Transfer> {
  const { stdout } = await execFileP(process.execPath, ["--import", "tsx", PEER, kind, String(port), String(bytes), String(STREAMS)], { cwd: ROOT, encoding: "utf8", timeout: 600_000 }).catch(
    (e: { stdout?: string; message: string }) => ({ stdout: e.stdout || JSON.stringify({ error: e.message }) }),
  );
  const r = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Transfer & { error?: string };
  if (r.error) throw new Error(`${kind} on port ${port}: ${r.error}`);
  return r;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the FT primary's status lines say: its log count, how often the pair changed, the hosts' pids. */
interface FtWatch {
  logBytes: number;
  changes: number;
  pids: Map<string, number>;
}

/** CPU ms a process has used so far (Linux /proc; undefined elsewhere or once it is gone). */
function cpuMsOf(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS_PER_SEC; // utime, stime
  } catch {
    return undefined;
  }
}
/** /proc's unit for utime and stime (USER_HZ, 100 on Linux: `getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SEC = 100;

/** CPU ms used by the server side: the given processes, plus this one under FT (the switch). */
function serverCpuMs(pids: number[], withSelf: boolean): number | undefined {
  let ms = 0;
  for (const p of pids) {
    const c = cpuMsOf(p);
    if (c === undefined) return undefined;
    ms += c;
  }
  if (withSelf) {
    const u = process.cpuUsage();
    ms += (u.user + u.system) / 1000;
  }
  return ms;
}

/** CPU ms so far of the FT primary, the backup, and this process (the launcher: switch and sink). */
function ftCpu(ft: FtWatch): { primary: number; backup: number; launcher: number } | undefined {
  const [p, b] = [cpuMsOf(ft.pids.get("primary") ?? -1), cpuMsOf(ft.pids.get("backup") ?? -1)];
  const u = process.cpuUsage();
  return p === undefined || b === undefined ? undefined : { primary: p, backup: b, launcher: (u.user + u.system) / 1000 };
}

/** One transfer; under FT also the log the primary sent meanwhile. */
async function once(kind: Kind, port: number, pids: () => number[], ft?: FtWatch): Promise<Cell["runs"][number]> {
  if (ft) await sleep(SETTLE_MS);
  const [before, changes] = [ft?.logBytes ?? 0, ft?.changes ?? 0];
  const cpu0 = serverCpuMs(pids(), ft !== undefined);
  const ftCpu0 = ft && ftCpu(ft);
  const t = await client(kind, port);
  const cpu1 = serverCpuMs(pids(), ft !== undefined);
  const ftCpu1 = ft && ftCpu(ft);
  const cpu = cpu0 !== undefined && cpu1 !== undefined ? { serverCpuMs: cpu1 - cpu0 } : {};
  if (!ft) return { ...t, ...cpu };
  const split = ftCpu1 && ftCpu0 ? { ftCpuMs: { primary: ftCpu1.primary - ftCpu0.primary, backup: ftCpu1.backup - ftCpu0.backup, launcher: ftCpu1.launcher - ftCpu0.launcher } } : {};
  await sleep(SETTLE_MS);
  const log = ft.logBytes - before;
  return { ...t, ...cpu, ...split, logBytes: log, logMbitPerSec: (log * 8) / t.ms / 1000, paired: ft.changes === changes };
}

/** A child process serving on `port`; resolves once `ready` sees its line on stdout. */
async function serve(args: string[], ready: RegExp): Promise<ChildProcess> {
  const p = dieWithMe(spawn(args[0], args.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
  await new Promise<void>((resolve, reject) => {
    const lines = [createInterface({ input: p.stdout! }), createInterface({ input: p.stderr! })];
    for (const l of lines) l.on("line", (s) => ready.test(s) && resolve());
    p.once("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code}) before serving`)));
  });
  return p;
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await gone;
}

/** Cluster log lines that mean the pair did not simply run side by side. */
const NOTABLE = /reconnect|peer failed|went live|alone|killed|refus|overflow|lost/i;

const GUEST: Record<Kind, string> = { receive: "programs/netsink.s", transmit: "programs/netsource.s" };

/**
 * Every server runs for the whole benchmark (idle ones cost little), and the transfers go
 * round by round, each round one of every cell: the load of this shared machine drifts,
 * and interleaving gives every setup the same share of it.
 */
export async function runNetBench(notable: string[] = []): Promise<Cell[]> {
  const procs: ChildProcess[] = [];
  const clusters: Promise<unknown>[] = [];
  const targets: { setup: Setup; kind: Kind; port: number; pids: () => number[]; ft?: FtWatch }[] = [];
  let stopping = false;
  // The plain servers and the FT hosts start from the compiled sources (the compile cache;
  // under the tests, their precompiled copy), not each through tsx.
  await childrenFromCompileCache();
  try {
    // The physical reference: the same client against a native sink and source.
    const [sinkPort, sourcePort] = [await freePort(), await freePort()];
    const nat = await serve([process.execPath, "--import", "tsx", PEER, "serve", String(sinkPort), String(sourcePort)], /^listening \d+ \d+$/);
    procs.push(nat);
    const natPids = () => [nat.pid!];
    targets.push({ setup: "native", kind: "receive", port: sinkPort, pids: natPids }, { setup: "native", kind: "transmit", port: sourcePort, pids: natPids });

    // Plain: the guest alone in `ftvm run --listen` (no backup, no switch).
    for (const kind of ["receive", "transmit"] as const) {
      const port = await freePort();
      const p = await serve([process.execPath, ...selfArgs(), "run", GUEST[kind], "--listen", `127.0.0.1:${port}`, "--no-stdin"], /listening on/);
      procs.push(p);
      targets.push({ setup: "plain", kind, port, pids: () => [p.pid!] });
    }

    // FT: arbiter, primary and backup processes; the switch in this process (as the launcher).
    for (const kind of ["receive", "transmit"] as const) {
      const port = await freePort();
      const ft: FtWatch = { logBytes: 0, changes: 0, pids: new Map() };
      let host = "";
      let ready: () => void = () => undefined;
      const paired = new Promise<void>((r) => (ready = r));
      const onStatus = (s: HostStatus) => {
        // "primary" is with a backup; "alone" without (the backup failed), and a new host is a failover.
        if (s.role === "alone" || (s.role === "primary" && host !== "" && s.host !== host)) ft.changes++;
        if (s.role === "primary" || s.role === "backup") ft.pids.set(s.role, s.pid);
        if (s.role !== "primary") return;
        host = s.host;
        ft.logBytes = s.logChannelBytes ?? 0;
        ready();
      };
      // The hosts' log lines: a reconnect or failover during a transfer would explain odd figures.
      const info = (l: string) => {
        if (!stopping && NOTABLE.test(l)) notable.push(`${kind}: ${l.trim()}`);
      };
      clusters.push(runClusterDetailed({ program: GUEST[kind], listen: `127.0.0.1:${port}`, write: () => undefined, info, onStatus, timeoutMs: TIMEOUT_MS }));
      await paired;
      targets.push({ setup: "ft", kind, port, ft, pids: () => [...ft.pids.values()] });
    }

    if (WARMUP_BYTES > 0) for (const t of targets) await client(t.kind, t.port, WARMUP_BYTES);
    const cells: Cell[] = targets.map((t) => ({ setup: t.setup, kind: t.kind, runs: [] }));
    // On a terminal: transfers done of all rounds', and the time left.
    const bar = progress("transfers", RUNS * targets.length, "transfers");
    bar.update(0);
    for (let round = 0; round < RUNS; round++)
      for (const [i, t] of targets.entries()) {
        cells[i].runs.push(await once(t.kind, t.port, t.pids, t.ft));
        bar.update(round * targets.length + i + 1);
      }
    bar.clear();
    return cells;
  } finally {
    // Both clusters stop on the launcher's Ctrl-C.
    stopping = true;
    if (clusters.length > 0) process.emit("SIGINT");
    await Promise.all(clusters);
    await Promise.all(procs.map(stop));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function report(cells: Cell[]): void {
  const get = (setup: Setup, kind: Kind) => cells.find((c) => c.setup === setup && c.kind === kind)!;
  const mbit = (c: Cell) => median(c.runs.map((r) => r.mbitPerSec));
  const spread = (c: Cell) => {
    const xs = c.runs.map((r) => r.mbitPerSec);
    return `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
  };
  console.log(`bulk transfers of ${(BYTES / 1e6).toFixed(0)} MB, ${STREAMS} stream(s), median of ${RUNS} (min-max), Mbit/s; every server warmed up first by an untimed ${(WARMUP_BYTES / 1e6).toFixed(0)} MB each way\n`);
  console.log(`   ${"".padEnd(12)}${"native".padEnd(20)}${"plain".padEnd(20)}${"FT".padEnd(20)}${"FT/plain".padEnd(10)}${"FT/native".padEnd(11)}FT log Mbit/s (log/data)`);
  for (const kind of ["receive", "transmit"] as const) {
    const [n, p, f] = [get("native", kind), get("plain", kind), get("ft", kind)];
    const log = median(f.runs.map((r) => r.logMbitPerSec ?? 0));
    const perByte = median(f.runs.map((r) => (r.logBytes ?? 0) / r.bytes));
    console.log(
      `   ${kind.padEnd(12)}${`${mbit(n).toFixed(0)} (${spread(n)})`.padEnd(20)}${`${mbit(p).toFixed(0)} (${spread(p)})`.padEnd(20)}${`${mbit(f).toFixed(0)} (${spread(f)})`.padEnd(20)}` +
        `${(mbit(f) / mbit(p)).toFixed(2).padEnd(10)}${(mbit(f) / mbit(n)).toFixed(2).padEnd(11)}${log.toFixed(log < 10 ? 2 : 0)} (${perByte.toFixed(perByte < 0.1 ? 4 : 2)})`,
    );
  }
  // Where the time goes on 2 cores: CPU seconds per GB moved, server side / client.
  const perGb = (c: Cell, f: (r: Cell["runs"][number]) => number | undefined) => {
    const xs = c.runs.map((r) => f(r)).filter((x): x is number => x !== undefined);
    return xs.length ? (median(xs) / 1000 / (c.runs[0].bytes / 1e9)).toFixed(1) : "-";
  };
  console.log(`\nCPU s per GB moved, server side / client (server side: native the Node server; plain the ftvm run process; FT primary + backup + switch)`);
  for (const kind of ["receive", "transmit"] as const) {
    const row = (["native", "plain", "ft"] as const).map((setup) => {
      const c = get(setup, kind);
      return `${perGb(c, (r) => r.serverCpuMs)} / ${perGb(c, (r) => r.clientCpuMs)}`.padEnd(20);
    });
    const f = get("ft", kind).runs.filter((r) => r.ftCpuMs);
    const part = (k: "primary" | "backup" | "launcher") => (f.length ? (median(f.map((r) => r.ftCpuMs![k])) / 1000 / (f[0].bytes / 1e9)).toFixed(1) : "-");
    console.log(`   ${kind.padEnd(12)}${row.join("")}FT: primary ${part("primary")}, backup ${part("backup")}, switch ${part("launcher")}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const notable: string[] = [];
  const cells = await runNetBench(notable);
  const bad = cells.flatMap((c) => c.runs.filter((r) => r.counted !== r.bytes).map((r) => `${c.setup} ${c.kind}: sent ${r.bytes}, counted ${r.counted}`));
  for (const c of cells) for (const r of c.runs) if (r.paired === false) notable.push(`${c.kind}: the pair changed during a transfer (its log count is not a pair's)`);
  if (JSON_OUT) console.log(JSON.stringify({ bytes: BYTES, streams: STREAMS, cells, notable }));
  else {
    report(cells);
    console.log(notable.length ? `\nFT cluster events during the run:\n${notable.join("\n")}` : "\nFT clusters: no reconnect, failover or refusal during the run");
  }
  if (bad.length > 0) {
    console.error(`byte counts disagree:\n${bad.join("\n")}`);
    process.exitCode = 1;
  }
}
