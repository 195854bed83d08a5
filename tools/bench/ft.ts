// FT benchmarks: `npm run bench:ft`. Everything is measured in this run, on this machine:
//   1. throughput of a compute-bound guest under FT (primary + backup processes) vs the
//      same guest run plainly in a process of its own (`ftvm run`), best of N each;
//   2. log channel volume: bytes per second and per event;
//   3. the output rule's added latency (hold time of each output) next to the log
//      channel's round trip;
//   4. failover: from SIGKILL of the primary to the backup being live and to the first
//      output of the new primary, split into detection and replay.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClusterResult } from "../../src/host/launcher.js";
import { runClusterDetailed } from "../../src/host/launcher.js";
import { progress } from "../../src/host/progress.js";
import { childrenFromCompileCache, selfArgs } from "../../src/host/self.js";
import { setLogger } from "../../src/transport/channel.js";
import { wsPeerRttMs } from "./ws-peer.js";
import { LOAD_PROCS_DEFAULT, LOAD_SECONDS_MAX, startLoad } from "../load/load.js";
import { benchHelp } from "./help.js";
import { countTo, fibN } from "./guests.js";

benchHelp(import.meta.url, { takesArgs: false });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REPS = Number(process.env.FTVM_BENCH_REPS ?? 3);
const quiet = { write: () => undefined, info: () => undefined, quiet: true };
setLogger(() => undefined);

type Stat = { n: number; p50: number; p99: number } | undefined;

/** Runs `ftvm record prog` in its own process (like the FT hosts) and returns its guest MIPS. */
function plainMips(program: string): number {
  return plainRun(program).mips;
}

/** The same, with guest MIPS per second of the process's CPU time too. */
function plainRun(program: string): { mips: number; cpuMips: number } {
  const r = spawnSync(process.execPath, [...selfArgs(), "record", program, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT, encoding: "utf8" });
  const m = /halted at icount (\d+)/.exec(r.stderr);
  const c = /cpu (\d+(?:\.\d+)?) ms/.exec(r.stderr);
  if (!m || !c) throw new Error(`plain run of ${program} failed: ${r.stderr}`);
  return { mips: mipsOf(r.stderr, program), cpuMips: Number(m[1]) / Number(c[1]) / 1000 };
}

function mipsOf(stderr: string, program: string): number {
  const m = /halted at icount (\d+)/.exec(stderr);
  const t = /run (\d+(?:\.\d+)?) ms/.exec(stderr);
  if (!m || !t) throw new Error(`plain run of ${program} failed: ${stderr}`);
  return Number(m[1]) / Number(t[1]) / 1000;
}

/**
 * Two plain runs at the same time, each in its own process: the load FT puts on the
 * machine (a primary and a backup each execute the guest). Returns the slower one's MIPS,
 * as the primary under FT waits for nothing but shares the machine with its backup.
 */
async function pairedPlainMips(program: string): Promise<number> {
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const c = spawn(process.execPath, [...selfArgs(), "record", program, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("exit", () => {
        try {
          resolve(mipsOf(err, program));
        } catch (e) {
          reject(e);
        }
      });
    });
  const [a, b] = await Promise.all([one(), one()]);
  return Math.min(a, b);
}

async function ftRun(program: string, extra: Record<string, unknown> = {}) {
  const r = await runClusterDetailed({ program, ...quiet, ...extra });
  if (r.code !== 0 || !r.done) throw new Error(`ft run of ${program} failed:\n${r.summary}`);
  return r;
}

function fmt(x: number | undefined, digits = 2): string {
  return x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits);
}

async function main(): Promise<void> {
  // Every process (plain runs, hosts, arbiter, standby) starts from the compiled sources,
  // as under the ftvm executable: the standby's start-up through tsx landed in the first
  // second of every pair and counted against the figures below.
  await childrenFromCompileCache();
  console.log(`ftvm FT benchmarks (${REPS} repetitions; best or median as stated)\n`);

  // 1. Throughput. fib(39) runs 1.5 billion instructions (about 1.6 s plain): long enough
  // that start-up and the last acknowledgement are noise. Plain, paired-plain and FT runs
  // are interleaved round by round, and the ratios are taken within each round, so a
  // neighbour's load on this shared machine hits both sides of a ratio alike.
  const program = fibN(39);
  const rounds: { plain: number; paired: number; ft: number; plainCpu: number; ftCpu: number }[] = [];
  let ftDone: Record<string, unknown> = {};
  // On a terminal: round k of n and the time left (each section takes minutes).
  const bar1 = progress("1. throughput", Math.max(REPS, 5), "rounds");
  bar1.update(0);
  for (let i = 0; i < Math.max(REPS, 5); i++) {
    const p = plainRun(program);
    const paired = await pairedPlainMips(program);
    const r = await ftRun(program);
    const ft = Number(r.done!.icount) / Number(r.done!.runMs) / 1000;
    const ftCpu = Number(r.done!.icount) / Number(r.done!.cpuMs) / 1000;
    rounds.push({ plain: p.mips, paired, ft, plainCpu: p.cpuMips, ftCpu });
    ftDone = r.done!;
    bar1.update(i + 1);
  }
  bar1.clear();
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
  const vsPlain = rounds.map((r) => r.ft / r.plain);
  const vsPaired = rounds.map((r) => r.ft / r.paired);
  console.log(`1. compute-bound throughput (fib(39), 1.5G instructions), median of ${rounds.length} interleaved rounds`);
  console.log(`   plain, alone on the machine                  ${fmt(mid(rounds.map((r) => r.plain)), 0)} MIPS`);
  console.log(`   plain, two guests at once (FT's CPU load)    ${fmt(mid(rounds.map((r) => r.paired)), 0)} MIPS`);
  console.log(`   FT (primary + backup processes)              ${fmt(mid(rounds.map((r) => r.ft)), 0)} MIPS`);
  console.log(`   FT / plain alone                             ${fmt(mid(vsPlain))}   (rounds ${range(vsPlain)}; target >= 0.97; VMware FT: 0.94-0.99)`);
  console.log(`   FT / plain under the same load               ${fmt(mid(vsPaired))}   (rounds ${range(vsPaired)}; the protocol's own cost)`);
  const vsCpu = rounds.map((r) => r.ftCpu / r.plainCpu);
  console.log(`   instructions per CPU second, FT primary / plain  ${fmt(mid(vsCpu))}   (rounds ${range(vsCpu)}; what the protocol costs the primary's CPU)\n`);

  // 2. Log volume, on a guest that takes many inputs (TIME and RAND on every line) and on the compute-bound one.
  const t = await ftRun("programs/timeread.s");
  const rows = [
    ["fib(39)", ftDone],
    ["programs/timeread.s", t.done!],
  ] as const;
  console.log("2. log channel volume");
  for (const [name, d] of rows) {
    const bytes = Number(d.logBytes);
    const events = Number(d.logEvents);
    console.log(`   ${name.padEnd(22)} ${events} events, ${bytes} bytes: ${fmt(bytes / events, 1)} bytes/event, ${fmt(bytes / Number(d.runMs), 1)} kB/s`);
  }
  console.log();

  // 3. Output latency vs the log channel round trip.
  const med = (xs: Stat[], k: "p50" | "p99") => {
    const v = xs.filter(Boolean).map((x) => x![k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  // ticker.s prints one line every 20 ms (150 outputs, hosts otherwise idle): the output
  // rule's cost in steady state. count.s prints 588 kB in ~0.1 s right after start-up,
  // while both hosts compile guest code: the cost under load. Counting to 1,000,000 (6.9 MB,
  // about a second) is a busy guest in steady state: most of its outputs come after warm-up.
  const countLong = countTo(1_000_000);
  for (const prog of ["programs/ticker.s", "programs/count.s", countLong]) {
    const lat: Stat[] = [];
    const rtt: Stat[] = [];
    const bar = progress(`3. output latency (${prog === countLong ? "count.s to 1,000,000" : prog})`, REPS, "runs");
    bar.update(0);
    for (let i = 0; i < REPS; i++) {
      const r = await ftRun(prog);
      lat.push(r.done!.outputLatencyMs as Stat);
      rtt.push(r.done!.logRttMs as Stat);
      bar.update(i + 1);
    }
    bar.clear();
    const label = prog === countLong ? "count.s to 1,000,000" : prog;
    console.log(`3. output rule: added latency of console output (${label}), median of runs`);
    console.log(`   held until acknowledged            p50 ${fmt(med(lat, "p50"))} ms, p99 ${fmt(med(lat, "p99"))} ms`);
    console.log(`   log channel round trip             p50 ${fmt(med(rtt, "p50"))} ms, p99 ${fmt(med(rtt, "p99"))} ms`);
    if (prog === "programs/ticker.s") {
      // The peer, measured now: a bare WebSocket round trip between two sleeping processes.
      const peer = await wsPeerRttMs(150, 20, ROOT);
      console.log(`   bare WebSocket round trip (peer)   p50 ${fmt(peer.p50)} ms, p99 ${fmt(peer.p99)} ms; ftvm's log round trip / peer: p50 ${fmt(med(rtt, "p50") / peer.p50, 1)}x`);
    }
    console.log();
  }

  // 4. Failover, SIGKILL from outside while the guest prints: on the machine as it is, and
  // with the standard load beside it (tools/load: LOAD_PROCS_DEFAULT busy processes), the
  // column issue 11 asks for. The load runs only while its rows are measured.
  type Fo = { liveMs?: number; firstOutputMs?: number; silentMs: number; replayMs: number; electMs: number };
  const failovers = async (what: string): Promise<Fo[]> => {
    const fo: Fo[] = [];
    const bar4 = progress(`4. failover${what}`, Math.max(REPS, 5), "runs");
    bar4.update(0);
    for (let i = 0; i < Math.max(REPS, 5); i++) {
      // ticker.s prints every 20 ms for 3 s, so the kill always lands mid-run; the first
      // output after go-live waits for the next tick (up to 20 ms of the figure below).
      const r = await ftRun("programs/ticker.s", { crashPrimaryAfterMs: 1000 + 97 * i });
      if (r.failovers.length === 1) fo.push(r.failovers[0]);
      bar4.update(i + 1);
    }
    bar4.clear();
    return fo;
  };
  const quietFo = await failovers("");
  const load = startLoad(LOAD_PROCS_DEFAULT, LOAD_SECONDS_MAX);
  let loadedFo: Fo[];
  try {
    loadedFo = await failovers(" under load");
  } finally {
    await load.stop();
  }
  const median = (fo: Fo[], k: keyof Fo) => {
    const v = fo.map((f) => f[k]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const both = (k: keyof Fo) => `${fmt(median(quietFo, k), 0).padStart(5)} ms   ${fmt(median(loadedFo, k), 0).padStart(5)} ms`;
  console.log(`4. failover after SIGKILL of the primary (programs/ticker.s, default settings), median of ${quietFo.length} / ${loadedFo.length}`);
  console.log(`                                       as is    with ${LOAD_PROCS_DEFAULT} busy processes beside`);
  console.log(`   kill → backup live                 ${both("liveMs")}`);
  console.log(`   kill → first output of new primary ${both("firstOutputMs")}   (targets <= 300 ms quiet, <= 1 s under load)`);
  console.log(`   silence before detection           ${both("silentMs")}`);
  console.log(`   replay                             ${both("replayMs")}`);
  console.log(`   test-and-set                       ${both("electMs")}`);
  console.log();

  // 5. Cloning: the backup is killed at 1 s; the launcher starts a new one, which joins by clone.
  console.log(`5. restoring redundancy by clone (programs/ticker.s, backup killed at 1 s), median of ${REPS}`);
  console.log("   guest memory   primary pause   memory streamed (wall / sending)   join request → paired   new process → paired");
  for (const mem of ["1MiB", "16MiB", "64MiB"]) {
    const cs: ClusterResult["clones"] = [];
    const bar = progress(`5. clone of ${mem}`, REPS, "runs");
    bar.update(0);
    for (let i = 0; i < REPS; i++) {
      const r = await ftRun("programs/ticker.s", { mem, crashBackupAfterMs: 1000 });
      if (r.clones.length === 1) cs.push(r.clones[0]);
      bar.update(i + 1);
    }
    bar.clear();
    const m = (k: keyof ClusterResult["clones"][number]) => {
      const v = cs.map((c) => c[k]).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    console.log(
      `   ${mem.padEnd(14)} ${fmt(m("pauseMs"), 1).padStart(8)} ms     ${fmt(m("sendWallMs"), 0).padStart(6)} / ${fmt(m("sendMs"), 0).padStart(3)} ms` +
        `                ${fmt(m("cloneMs"), 0).padStart(6)} ms              ${fmt(m("fromSpawnMs"), 0).padStart(6)} ms`,
    );
  }
  console.log("   (targets: pause <= 20 ms and redundancy within 2 s at 16 MiB; VMware FT VMotion: pause under 1 s)");
  console.log();

  // 6. A backup slowed on purpose: the primary throttles itself so the lag stays near the
  // threshold (1 s), and a failover's replay is bounded by that lag.
  const fib41 = fibN(41);
  const bar6 = progress("6. slow backup", 3, "runs");
  bar6.update(0);
  const plain41 = plainMips(fib41);
  bar6.update(1);
  const slow = await ftRun(fib41, { backupSlowdown: "2", respawn: false });
  bar6.update(2);
  const slowMips = Number(slow.done!.icount) / Number(slow.done!.runMs) / 1000;
  const killed = await runClusterDetailed({ program: fib41, ...quiet, backupSlowdown: "2", respawn: false, crashPrimaryAfterMs: 6000 });
  bar6.clear();
  const f = killed.failovers[0];
  console.log("6. a backup replaying 2x slower (--backup-slowdown 2, fib(41), lag threshold 1000 ms)");
  console.log(`   plain ${fmt(plain41, 0)} MIPS; FT with the slow backup ${fmt(slowMips, 0)} MIPS (${fmt(slowMips / plain41)} of plain: the pair runs at the backup's pace)`);
  console.log(`   largest lag ${fmt(Number(slow.done!.lagMsMax), 0)} ms; throttle up to ${fmt(Number(slow.done!.throttleMax) * 100, 0)}% of the time asleep`);
  console.log(
    `   primary killed at 6 s: backup live after ${fmt(f?.liveMs, 0)} ms (replay ${fmt(f?.replayMs, 0)} ms of it), exit ${killed.code}` + (killed.code === 0 ? ", output exact" : ""),
  );
}

await main();


