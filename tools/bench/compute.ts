// Compute-bound FT/plain, measured so that drift cancels: `npm run bench:compute`.
//
//   tsx tools/bench/compute.ts [--pairs N] [--fib N] [--order ft-first|plain-first|alternate]
//
// Each pair is three runs of fib(N) (fib(39): 1.5 G instructions, a few seconds):
//   - plain alone: `ftvm record` in a process of its own;
//   - plain x2: two such processes at once, the CPU load an FT pair puts on the machine
//     (a primary and a backup each execute the guest); the slower one's rate counts;
//   - FT: a primary and a backup (`ftvm ft`'s launcher, in this process).
// The order within a pair alternates (FT last, then FT first, ...), so a neighbour's load
// that grows or shrinks over the run hits both sides of a ratio alike, and the ratios are
// taken within each pair. The median of the pairs is the figure.
//
// CPU: "cpu/instr" compares CPU time per instruction, the FT primary's (from its own
// report) against the plain process's, so what the protocol costs the primary's CPU shows
// apart from what a busy machine costs its wall time. "cluster CPU" is all the CPU the FT
// run's processes used (primary, backup, standby, arbiter: this process's reaped children,
// /proc/self/stat, plus the launcher in this process) over twice the plain process's.
//
// Per FT run it prints what explains a slow one: the throttle's largest level, the
// backup's largest lag, and the primary's wall time split into guest slices, time asleep
// (idle waits and the throttle) and everything else (the primary's report, see
// src/host/loop-stats.ts).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runClusterDetailed } from "../../src/host/launcher.js";
import { childrenFromCompileCache, selfArgs } from "../../src/host/self.js";
import { setLogger } from "../../src/transport/channel.js";
import { dieWithMe } from "./children.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** At least this many pairs (the A/B/A/B, five each), at most PAIRS_MAX. */
const PAIRS_MIN = 5;
const PAIRS_MAX = 100;
/** fib(N) for N in this range: below, start-up dominates; above, a pair takes minutes. */
const FIB_N_MIN = 30;
const FIB_N_MAX = 42;
/** Children reaped after the launcher returns (the standby backup gets SIGTERM then) are counted after this pause. */
const REAP_WAIT_MS = 500;
/** How often the FT hosts' CPU times are read (/proc/PID/stat) while they run: the last reading before each exits counts. */
const CPU_POLL_MS = 50;

setLogger(() => undefined);

function usage(why: string): never {
  process.stderr.write(`ftvm bench:compute: ${why}\nusage: tsx tools/bench/compute.ts [--pairs N (${PAIRS_MIN}-${PAIRS_MAX})] [--fib N (${FIB_N_MIN}-${FIB_N_MAX})] [--order alternate|ft-first|plain-first]\n`);
  process.exit(2);
}

function intArg(name: string, dflt: number, min: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < min || v > max) usage(`--${name} must be an integer in ${min}..${max}, got ${process.argv[i + 1] ?? "nothing"}`);
  return v;
}

const PAIRS = intArg("pairs", PAIRS_MIN, PAIRS_MIN, PAIRS_MAX);
const FIB_N = intArg("fib", 39, FIB_N_MIN, FIB_N_MAX);
/** Diagnosis only: run FT without the standby backup the launcher keeps ready (its start-up costs CPU beside the pair). */
const NO_SPARE = process.argv.includes("--no-spare");
const ORDER = (() => {
  const i = process.argv.indexOf("--order");
  const v = i < 0 ? "alternate" : process.argv[i + 1];
  if (v !== "alternate" && v !== "ft-first" && v !== "plain-first") usage(`--order must be alternate, ft-first or plain-first, got ${v ?? "nothing"}`);
  return v;
})();

/** programs/fib.s with another N, in a temporary directory (its .include falls back to programs/lib). */
function fibProgram(n: number): string {
  const src = readFileSync(join(ROOT, "programs/fib.s"), "utf8");
  if (!/^\.const N, 35$/m.test(src)) throw new Error("programs/fib.s no longer says .const N, 35: update the benchmark");
  const path = join(mkdtempSync(join(tmpdir(), "ftvm-compute-")), `fib${n}.s`);
  writeFileSync(path, src.replace(/^\.const N, 35$/m, `.const N, ${n}`));
  return path;
}

/** CPU ms of this process's reaped children (Linux: /proc/self/stat cutime + cstime), undefined elsewhere. */
function childrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command's closing parenthesis: state is field 3, cutime 16, cstime 17.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[13]) + Number(f[14])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}
/** CPU ms of process `pid` so far (Linux), undefined once it is gone. */
function pidCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_S = 100;

function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface PlainRun {
  icount: number;
  runMs: number;
  /** CPU ms of its run loop (its own report), and of the whole process (start-up included; reaped children). */
  cpuMs: number;
  processCpuMs?: number;
}

/** One `ftvm record` in its own process: its icount, run time and CPU time (its own report). */
function plainRun(program: string): Promise<PlainRun> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs();
    const c = dieWithMe(spawn(process.execPath, [...selfArgs(), "record", program, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] }));
    let err = "";
    c.stderr!.on("data", (d) => (err += d));
    c.on("exit", () => {
      const m = /halted at icount (\d+) \(run (\d+(?:\.\d+)?) ms, cpu (\d+(?:\.\d+)?) ms\)/.exec(err);
      if (!m) return reject(new Error(`plain run of ${program} failed: ${err}`));
      const cpu1 = childrenCpuMs();
      resolve({ icount: Number(m[1]), runMs: Number(m[2]), cpuMs: Number(m[3]), processCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 });
    });
  });
}

interface FtRun {
  icount: number;
  runMs: number;
  cpuMs: number;
  clusterCpuMs?: number;
  /** CPU ms per process of the run, by role ("backup" the pair's, "standby" the spare), read while they ran. */
  hostCpuMs: Record<string, number>;
  throttleMax: number;
  lagMsMax: number;
  loop?: Record<string, number>;
}

async function ftRun(program: string): Promise<FtRun> {
  const cpu0 = childrenCpuMs();
  const own0 = ownCpuMs();
  const pids = new Map<number, string>();
  const hostCpuMs: Record<string, number> = {};
  const poll = setInterval(() => {
    for (const [pid, role] of pids) {
      const ms = pidCpuMs(pid);
      if (ms !== undefined) hostCpuMs[role] = ms;
    }
  }, CPU_POLL_MS);
  const onEvent = (e: { type: string; pid?: number; role?: string }) => {
    if (e.type !== "spawn" || e.pid === undefined || e.role === undefined) return;
    const seen = [...pids.values()];
    pids.set(e.pid, e.role === "backup" && seen.includes("backup") ? "standby" : e.role);
  };
  const r = await runClusterDetailed({ program, write: () => undefined, info: () => undefined, quiet: true, onEvent, ...(NO_SPARE ? { spare: false } : {}) });
  clearInterval(poll);
  if (r.code !== 0 || !r.done) throw new Error(`ft run of ${program} failed:\n${r.summary}`);
  await new Promise((res) => setTimeout(res, REAP_WAIT_MS));
  const cpu1 = childrenCpuMs();
  const d = r.done;
  return {
    icount: Number(d.icount),
    runMs: Number(d.runMs),
    cpuMs: Number(d.cpuMs),
    clusterCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 + ownCpuMs() - own0,
    hostCpuMs,
    throttleMax: Number(d.throttleMax),
    lagMsMax: Number(d.lagMsMax),
    loop: d.loop as Record<string, number> | undefined,
  };
}

const mips = (icount: number, ms: number) => icount / ms / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(2));
const f0 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(0));

interface Pair {
  ftFirst: boolean;
  alone: PlainRun;
  /** The slower of the two plain runs at once, and the CPU per instruction of both. */
  paired: PlainRun;
  pairedCpuPerInstr: number;
  ft: FtRun;
}

async function main(): Promise<void> {
  // Every process (plain runs, hosts, arbiter, standby) starts from the compiled sources,
  // as under the ftvm executable: through tsx the standby's and the arbiter's start-up
  // (about 0.5 s of CPU each) competed with the pair and counted against FT.
  await childrenFromCompileCache();
  const program = fibProgram(FIB_N);
  console.log(`ftvm bench:compute: fib(${FIB_N}), ${PAIRS} pairs, order ${ORDER}${NO_SPARE ? ", FT without the standby backup" : ""}; each pair: plain alone, plain x2 (FT's CPU load), FT`);
  console.log("                  MIPS                    FT /          CPU/instr, plain x2 /        FT primary's wall ms          process CPU s");
  console.log("pair order        alone  x2     FT       x2   alone     primary  backup   throttle lag ms  slices asleep  other    plain  prim  back  stby  arb");
  const pairs: Pair[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const ftFirst = ORDER === "ft-first" || (ORDER === "alternate" && i % 2 === 1);
    let ft: FtRun | undefined;
    if (ftFirst) ft = await ftRun(program);
    const [a, b] = await Promise.all([plainRun(program), plainRun(program)]);
    const paired = a.runMs > b.runMs ? a : b;
    const pairedCpuPerInstr = (a.cpuMs + b.cpuMs) / (a.icount + b.icount);
    const alone = await plainRun(program);
    if (!ftFirst) ft = await ftRun(program);
    const p: Pair = { ftFirst, alone, paired, pairedCpuPerInstr, ft: ft! };
    pairs.push(p);
    const ftM = mips(p.ft.icount, p.ft.runMs);
    const l = p.ft.loop;
    const h = p.ft.hostCpuMs;
    const s1 = (ms: number | undefined) => (ms === undefined ? "-" : (ms / 1000).toFixed(1));
    console.log(
      `${String(i + 1).padStart(4)} ${(ftFirst ? "FT first" : "FT last").padEnd(10)}` +
        `${f0(mips(alone.icount, alone.runMs)).padStart(6)} ${f0(mips(paired.icount, paired.runMs)).padStart(4)} ${f0(ftM).padStart(6)}` +
        `   ${f2(ftM / mips(paired.icount, paired.runMs)).padStart(5)}  ${f2(ftM / mips(alone.icount, alone.runMs)).padStart(5)}` +
        `     ${f2(pairedCpuPerInstr / (p.ft.cpuMs / p.ft.icount)).padStart(5)}   ${f2(h.backup === undefined ? undefined : pairedCpuPerInstr / (h.backup / p.ft.icount)).padStart(5)}` +
        `     ${f2(p.ft.throttleMax).padStart(5)}  ${f0(p.ft.lagMsMax).padStart(5)}` +
        (l ? `  ${f0(l.sliceMs).padStart(6)} ${f0(l.asleepMs).padStart(6)} ${f0(p.ft.runMs - l.sliceMs - l.asleepMs).padStart(6)}` : "  -      -      -   ") +
        `    ${s1(alone.processCpuMs).padStart(5)} ${s1(h.primary).padStart(5)} ${s1(h.backup).padStart(5)} ${s1(h.standby).padStart(5)} ${s1(h.arbiter).padStart(4)}`,
    );
  }
  const col = (f: (p: Pair) => number) => pairs.map(f);
  const ftMips = (p: Pair) => mips(p.ft.icount, p.ft.runMs);
  const vsPaired = col((p) => ftMips(p) / mips(p.paired.icount, p.paired.runMs));
  const vsAlone = col((p) => ftMips(p) / mips(p.alone.icount, p.alone.runMs));
  const cpu = col((p) => p.pairedCpuPerInstr / (p.ft.cpuMs / p.ft.icount));
  const cpuAlone = col((p) => p.alone.cpuMs / p.alone.icount / (p.ft.cpuMs / p.ft.icount));
  const withCluster = pairs.filter((p) => p.ft.clusterCpuMs !== undefined && p.alone.processCpuMs !== undefined);
  const cluster = withCluster.map((p) => p.ft.clusterCpuMs! / (2 * p.alone.processCpuMs!));
  const range = (xs: number[]) => `${f2(Math.min(...xs))}-${f2(Math.max(...xs))}`;
  console.log();
  console.log(`median of ${pairs.length} pairs (range):`);
  console.log(`  FT / plain with the same CPU load (plain x2)   ${f2(median(vsPaired))}   (${range(vsPaired)}; target >= 0.97)`);
  console.log(`  FT / plain alone                               ${f2(median(vsAlone))}   (${range(vsAlone)})`);
  console.log(`  CPU per instruction, plain x2 / FT primary     ${f2(median(cpu))}   (${range(cpu)}; 1.00: the protocol costs the primary no CPU)`);
  console.log(`  CPU per instruction, plain alone / FT primary  ${f2(median(cpuAlone))}   (${range(cpuAlone)})`);
  if (cluster.length) console.log(`  CPU of the FT run's processes / 2 plain ones   ${f2(median(cluster))}   (${range(cluster)}; primary, backup, standby, arbiter, launcher; start-up included)`);
  console.log(`  MIPS: plain alone ${f0(median(col((p) => mips(p.alone.icount, p.alone.runMs))))}, plain x2 ${f0(median(col((p) => mips(p.paired.icount, p.paired.runMs))))}, FT ${f0(median(col(ftMips)))}`);
}

await main();
