// Disk benchmarks: `npm run bench:disk`. Disk-heavy guests run plainly (`ftvm record`,
// one process on its own image) and under FT with each disk mode, in interleaved rounds
// so a neighbour's load on this shared machine hits every mode alike; ratios are taken
// within a round and the median is printed. Reported per mode: the guest's run time,
// throughput against the plain run of the same round, and the log channel's volume
// (bytes actually sent to the backup, as Mbit/s over the primary's run and per logged
// event) — next to the VMware FT paper's figures for shared disks vs backup reads.
//
//   FTVM_BENCH_REPS   rounds (default 3)
import { spawnSync } from "node:child_process";
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
const quiet = { write: () => undefined, info: () => undefined, quiet: true };
setLogger(() => undefined);

interface Workload {
  name: string;
  what: string;
  program: string;
  blocks: number;
  blockBytes: number;
}

type Mode = "plain" | "shared" | "non-shared" | "backup-reads";
const MODES: Mode[] = ["plain", "shared", "non-shared", "backup-reads"];

interface Sample {
  runMs: number;
  logBytes: number;
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

const workloads: Workload[] = [
  {
    name: "diskmix 512 B",
    what: "random reads (75%) and writes of 512-byte blocks, one request at a time",
    program: "programs/diskmix.s",
    blocks: 1024,
    blockBytes: 512,
    // 1024 initial writes, then 4000 operations, then 1024 final reads (the program prints the counts).
  },
  {
    name: "diskmix 4 KiB",
    what: "the same with 4096-byte blocks (more read data per request)",
    program: variant("programs/diskmix.s", "diskmix4k", { OPS: 4000 }),
    blocks: 1024,
    blockBytes: 4096,
  },
  {
    name: "kvlog",
    what: "append-only log, 5000 checksummed records, up to 7 writes in flight",
    program: variant("programs/kvlog.s", "kvlog5k", { RECORDS_PER_RUN: 5000 }),
    blocks: 5001,
    blockBytes: 512,
  },
];

/** A fresh image for one run (kvlog appends to what it finds, so every run starts empty). */
function freshImage(w: Workload, tag: string): string {
  const path = join(dir, `${tag}.img`);
  createDiskImage(path, { blocks: w.blocks, blockBytes: w.blockBytes });
  return path;
}

function plainRun(w: Workload): Sample & { events: number } {
  const img = freshImage(w, "plain");
  const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, "record", w.program, "--disk", img, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT, encoding: "utf8" });
  const m = /recorded (\d+) events .* \(run (\d+(?:\.\d+)?) ms/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`plain run of ${w.program} failed:\n${r.stderr}`);
  return { runMs: Number(m[2]), logBytes: 0, events: Number(m[1]) };
}

async function ftRun(w: Workload, mode: Exclude<Mode, "plain">): Promise<Sample> {
  const img = freshImage(w, mode);
  const r = await runClusterDetailed({
    program: w.program,
    disk: img,
    ...(mode === "shared" ? {} : { diskMode: "non-shared" as const }),
    ...(mode === "backup-reads" ? { backupReads: true } : {}),
    ...quiet,
  });
  if (r.code !== 0 || !r.done) throw new Error(`ft run of ${w.program} (${mode}) failed:\n${r.summary}`);
  return { runMs: Number(r.done.runMs), logBytes: Number(r.done.logWireBytes) };
}

const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const mbit = (s: Sample) => (s.logBytes * 8) / (s.runMs / 1000) / 1e6;

async function main(): Promise<void> {
  console.log(`ftvm disk benchmarks: ${REPS} interleaved rounds per workload, medians (this machine: ${process.arch}, Node ${process.version})\n`);
  const table: string[] = [];
  for (const w of workloads) {
    const rounds: Record<Mode, Sample>[] = [];
    // The plain run's logged events: for these guests nearly all are disk completions.
    let events = 0;
    // On a terminal: round k of n and the time left.
    const bar = progress(w.name, REPS, "rounds");
    bar.update(0);
    for (let i = 0; i < REPS; i++) {
      const p = plainRun(w);
      events = p.events;
      const round = { plain: p } as unknown as Record<Mode, Sample>;
      for (const mode of MODES.slice(1) as Exclude<Mode, "plain">[]) round[mode] = await ftRun(w, mode);
      rounds.push(round);
      bar.update(i + 1);
    }
    bar.clear();
    console.log(`${w.name}: ${w.what} (${events} logged events, nearly all disk completions)`);
    console.log("   mode                           run ms   vs plain   log Mbit/s   log bytes/event");
    for (const mode of MODES) {
      const runMs = mid(rounds.map((r) => r[mode].runMs));
      const ratio = mid(rounds.map((r) => r.plain.runMs / r[mode].runMs));
      const rate = mid(rounds.map((r) => mbit(r[mode])));
      const perReq = mid(rounds.map((r) => r[mode].logBytes / events));
      const label = mode === "plain" ? "plain (no backup)" : mode === "backup-reads" ? "FT non-shared, --backup-reads" : `FT ${mode}`;
      console.log(`   ${label.padEnd(30)} ${fmt(runMs, 0).padStart(6)}   ${mode === "plain" ? "       -" : fmt(ratio).padStart(8)}   ${mode === "plain" ? "         -" : fmt(rate).padStart(10)}   ${mode === "plain" ? "-" : fmt(perReq, 1)}`);
    }
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
