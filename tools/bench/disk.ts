// Disk benchmarks: `npm run bench:disk`. Disk-heavy guests run plainly (`ftvm record`,
// one process on its own image) and under FT with each disk mode, in interleaved rounds
// so a neighbour's load on this shared machine hits every mode alike; ratios are taken
// within a round and the median is printed. Reported per mode: the guest's run time,
// throughput against the plain run of the same round (over the whole run, and over the
// steady state: see below), and the log channel's volume (bytes actually sent to the
// backup, as Mbit/s over the primary's run and per logged event) — next to the VMware FT
// paper's figures for shared disks vs backup reads.
//
// The steady state. A whole run includes what a longer-running server pays once: the JIT
// compiling the host's code (V8's compiler threads took about 40% of a core in each FT
// host during the first half second), the spare backup starting beside the pair, the
// first writes of an empty image. The VMware FT paper measures servers in their steady
// state, and bench:redis and bench:net warm every server up before timing it; here each
// guest prints a marker line after a warm-up phase (diskmix: "diskmix: warm" after
// WARMUP_OPS operations, from its MARK_AFTER_OPS constant; kvlog: its first progress line,
// after WARMUP_RECORDS records), and the steady-state time is from the moment this process
// receives the marker to the moment it receives the final line, for the plain run and the
// FT runs alike. Under FT the two lines are output, held until the backup acknowledged the
// log through them: each arrives one log round trip (well under a millisecond on a quiet
// machine) after the guest printed it, both alike, against a steady phase of a second or
// more; the plain run's lines come through a pipe from its process.
//
//   FTVM_BENCH_REPS   rounds (default 3)
//   FTVM_BENCH_ONLY   run only the workloads whose name contains this (e.g. "diskmix 512")
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runClusterDetailed } from "../../src/host/launcher.js";
import { createDiskImage } from "../../src/host/disk.js";
import { progress } from "../../src/host/progress.js";
import { setLogger } from "../../src/transport/channel.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const REPS = Number(process.env.FTVM_BENCH_REPS ?? 3);
const ONLY = process.env.FTVM_BENCH_ONLY;
const quiet = { write: () => undefined, info: () => undefined, quiet: true };
setLogger(() => undefined);

interface Workload {
  name: string;
  what: string;
  program: string;
  blocks: number;
  blockBytes: number;
  /** The guest's line that ends its warm-up phase, and its last line. */
  marker: RegExp;
  end: RegExp;
}

type Mode = "plain" | "shared" | "non-shared" | "backup-reads";
const MODES: Mode[] = ["plain", "shared", "non-shared", "backup-reads"];

interface Sample {
  runMs: number;
  logBytes: number;
  /** From the marker line's arrival here to the last line's (see the top of this file). */
  steadyMs: number;
}

/**
 * The shortest steady phase that can be real: the guests' steady phases are 21,000 disk
 * requests or more, hundreds of milliseconds even plainly. Shorter means the marker and the
 * last line arrived together (output held back to the end) and the figure would mean nothing.
 * Not a share of the run: a warm-up can take most of a run (one FT shared-disk diskmix run
 * at load average 12: 11.8 s for the warm-up's 6,000 requests, 4.3 s for the steady
 * phase's 21,000; one at load 20-60: 165 s, then 3.9 s).
 */
const STEADY_MS_MIN = 50;

/** Timestamps the guest's marker and last line as its output arrives in this process. */
class LineClock {
  private text = "";
  private markAtMs: number | undefined;
  private endAtMs: number | undefined;
  constructor(private readonly w: Workload) {}

  push(b: Uint8Array | string): void {
    const now = performance.now();
    this.text += typeof b === "string" ? b : Buffer.from(b).toString("utf8");
    let nl: number;
    while ((nl = this.text.indexOf("\n")) >= 0) {
      const line = this.text.slice(0, nl);
      this.text = this.text.slice(nl + 1);
      if (this.markAtMs === undefined && this.w.marker.test(line)) this.markAtMs = now;
      else if (this.markAtMs !== undefined && this.w.end.test(line)) this.endAtMs = now;
    }
  }

  /** The steady phase's length; throws when the lines are missing or came too late to mean anything. */
  steadyMs(runMs: number, what: string): number {
    if (this.markAtMs === undefined || this.endAtMs === undefined) throw new Error(`${what}: the guest's marker or last line never arrived`);
    const ms = this.endAtMs - this.markAtMs;
    if (ms < STEADY_MS_MIN) throw new Error(`${what}: the steady phase took ${ms.toFixed(0)} ms of a ${runMs.toFixed(0)} ms run: its lines did not arrive as the guest printed them`);
    return ms;
  }
}

const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-disk-"));

/** A program of programs/ with .const lines replaced (its .include falls back to programs/lib). */
function variant(program: string, name: string, consts: Record<string, number>): string {
  let src = readFileSync(join(ROOT, program), "utf8");
  for (const [k, v] of Object.entries(consts)) {
    const re = new RegExp(`^\\.const ${k} \\d+`, "m");
    if (!re.test(src)) throw new Error(`${program} no longer has .const ${k}: update the benchmark`);
    src = src.replace(re, `.const ${k} ${v}`);
  }
  const path = join(dir, `${name}.s`);
  writeFileSync(path, src);
  return path;
}

// Sizes: the warm-up takes a quarter to a third of a second in a plain run on a quiet
// machine and the steady phase about a second (plain), so that `npm run bench:disk`
// (3 rounds, 12 runs per round) stays within a few minutes on a quiet machine.
/** diskmix: operations before the marker, and in all (then its final pass reads every block once more). */
const WARMUP_OPS = 5000;
const MIX_OPS = 25_000;
/** kvlog: records before its first progress line (the marker), and in all. */
const WARMUP_RECORDS = 5000;
const KV_RECORDS = 25_000;

const MIX_END = /^diskmix: \d+ blocks; /;
const workloads: Workload[] = [
  {
    name: "diskmix 512 B",
    what: `random reads (75%) and writes of 512-byte blocks, one request at a time: 1024 writes, ${MIX_OPS} operations, 1024 reads`,
    program: variant("programs/diskmix.s", "diskmix512", { OPS: MIX_OPS, MARK_AFTER_OPS: WARMUP_OPS }),
    blocks: 1024,
    blockBytes: 512,
    marker: /^diskmix: warm$/,
    end: MIX_END,
  },
  {
    name: "diskmix 4 KiB",
    what: "the same with 4096-byte blocks (more read data per request)",
    program: variant("programs/diskmix.s", "diskmix4k", { OPS: MIX_OPS, MARK_AFTER_OPS: WARMUP_OPS }),
    blocks: 1024,
    blockBytes: 4096,
    marker: /^diskmix: warm$/,
    end: MIX_END,
  },
  {
    name: "kvlog",
    what: `append-only log, ${KV_RECORDS} checksummed records, up to 7 writes in flight`,
    program: variant("programs/kvlog.s", "kvlog", { RECORDS_PER_RUN: KV_RECORDS, PROGRESS_EVERY: WARMUP_RECORDS }),
    blocks: KV_RECORDS + 1,
    blockBytes: 512,
    marker: new RegExp(`^kvlog: ${WARMUP_RECORDS} records on disk$`),
    end: /^kvlog: appended \d+ records/,
  },
];

/** A fresh image for one run (kvlog appends to what it finds, so every run starts empty). */
function freshImage(w: Workload, tag: string): string {
  const path = join(dir, `${tag}.img`);
  createDiskImage(path, { blocks: w.blocks, blockBytes: w.blockBytes });
  return path;
}

async function plainRun(w: Workload): Promise<Sample & { events: number }> {
  const img = freshImage(w, "plain");
  const clock = new LineClock(w);
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "record", w.program, "--disk", img, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => clock.push(b));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const m = /recorded (\d+) events .* \(run (\d+(?:\.\d+)?) ms/.exec(stderr);
  if (status !== 0 || !m) throw new Error(`plain run of ${w.program} failed:\n${stderr}`);
  const runMs = Number(m[2]);
  return { runMs, logBytes: 0, events: Number(m[1]), steadyMs: clock.steadyMs(runMs, `plain run of ${w.name}`) };
}

async function ftRun(w: Workload, mode: Exclude<Mode, "plain">): Promise<Sample> {
  const img = freshImage(w, mode);
  const clock = new LineClock(w);
  const r = await runClusterDetailed({
    program: w.program,
    disk: img,
    ...(mode === "shared" ? {} : { diskMode: "non-shared" as const }),
    ...(mode === "backup-reads" ? { backupReads: true } : {}),
    ...quiet,
    write: (b) => clock.push(b),
  });
  if (r.code !== 0 || !r.done) throw new Error(`ft run of ${w.program} (${mode}) failed:\n${r.summary}`);
  const runMs = Number(r.done.runMs);
  return { runMs, logBytes: Number(r.done.logWireBytes), steadyMs: clock.steadyMs(runMs, `FT run of ${w.name} (${mode})`) };
}

const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const mbit = (s: Sample) => (s.logBytes * 8) / (s.runMs / 1000) / 1e6;

async function main(): Promise<void> {
  console.log(`ftvm disk benchmarks: ${REPS} interleaved rounds per workload, medians (this machine: ${process.arch}, Node ${process.version})`);
  console.log("vs plain: throughput against the plain run of the same round, over the whole run and over the steady state (from the guest's warm-up marker line to its last line)\n");
  const table: string[] = [];
  const chosen = workloads.filter((w) => ONLY === undefined || w.name.includes(ONLY));
  if (chosen.length === 0) throw new Error(`FTVM_BENCH_ONLY=${ONLY} names no workload (${workloads.map((w) => w.name).join(", ")})`);
  for (const w of chosen) {
    const rounds: Record<Mode, Sample>[] = [];
    // The plain run's logged events: for these guests nearly all are disk completions.
    let events = 0;
    // On a terminal: round k of n and the time left.
    const bar = progress(w.name, REPS, "rounds");
    bar.update(0);
    for (let i = 0; i < REPS; i++) {
      const p = await plainRun(w);
      events = p.events;
      const round = { plain: p } as unknown as Record<Mode, Sample>;
      for (const mode of MODES.slice(1) as Exclude<Mode, "plain">[]) round[mode] = await ftRun(w, mode);
      rounds.push(round);
      bar.update(i + 1);
    }
    bar.clear();
    console.log(`${w.name}: ${w.what} (${events} logged events, nearly all disk completions)`);
    console.log("   mode                           run ms   vs plain   steady ms   vs plain   log Mbit/s   log bytes/event");
    for (const mode of MODES) {
      const runMs = mid(rounds.map((r) => r[mode].runMs));
      const ratio = mid(rounds.map((r) => r.plain.runMs / r[mode].runMs));
      const steadyMs = mid(rounds.map((r) => r[mode].steadyMs));
      const steadyRatio = mid(rounds.map((r) => r.plain.steadyMs / r[mode].steadyMs));
      const rate = mid(rounds.map((r) => mbit(r[mode])));
      const perReq = mid(rounds.map((r) => r[mode].logBytes / events));
      const label = mode === "plain" ? "plain (no backup)" : mode === "backup-reads" ? "FT non-shared, --backup-reads" : `FT ${mode}`;
      const plain = mode === "plain";
      console.log(
        `   ${label.padEnd(30)} ${fmt(runMs, 0).padStart(6)}   ${plain ? "       -" : fmt(ratio).padStart(8)}   ${fmt(steadyMs, 0).padStart(9)}   ${plain ? "       -" : fmt(steadyRatio).padStart(8)}   ${plain ? "         -" : fmt(rate).padStart(10)}   ${plain ? "-" : fmt(perReq, 1)}`,
      );
    }
    console.log(`   per round (shared, non-shared, backup reads), whole run / steady: ${rounds.map((r) => MODES.slice(1).map((m) => `${fmt(r.plain.runMs / r[m].runMs)}/${fmt(r.plain.steadyMs / r[m].steadyMs)}`).join(" ")).join("; ")}`);
    const cut = mid(rounds.map((r) => 1 - r["backup-reads"].logBytes / r["non-shared"].logBytes));
    const cost = mid(rounds.map((r) => r["non-shared"].runMs / r["backup-reads"].runMs));
    // A guest that reads nothing (kvlog) logs a little more with --backup-reads at times: say "larger", not "-25% smaller".
    const change = cut >= 0 ? `${fmt(100 * cut, 0)}% smaller` : `${fmt(-100 * cut, 0)}% larger`;
    console.log(`   backup reads: log ${change}; throughput ${fmt(cost)} of non-shared without them`);
    console.log();
    table.push(`| ${w.name} | ${fmt(mid(rounds.map((r) => mbit(r["non-shared"]))))} → ${fmt(mid(rounds.map((r) => mbit(r["backup-reads"]))))} Mbit/s (${cut >= 0 ? "−" : "+"}${fmt(100 * Math.abs(cut), 0)}%) | ${fmt(cost)} |`);
  }
  console.log("Next to the VMware FT paper (log bandwidth without → with backup reads; throughput with / without):");
  console.log("| workload | log bandwidth | throughput |");
  console.log("|---|---|---|");
  console.log("| paper: Oracle Swingbench | 12 → 3 Mbit/s (−75%) | 0.96 |");
  console.log("| paper: MS-SQL DVD Store | 18 → 8 Mbit/s (−56%) | 0.99 |");
  for (const row of table) console.log(row);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
