// Compute-bound FT/plain with each process on a CPU of its own (Linux, taskset from
// util-linux): `npx tsx tools/bench/compute-pinned.ts [--rounds N] [--fib N] [--primary-cpu 0|1|alt]`.
//
// Why: on the 2-vCPU machines these sessions run on, the two vCPUs do not run at the same
// speed, and which one is slower changes over minutes: fib(39) under `ftvm record` took
// 2,037-2,113 ms pinned to CPU 0 and 1,499-1,525 ms pinned to CPU 1, back to back
// (2026-12-07 05:55 UTC, load 2). Unpinned, which CPU each process lands on decides a
// run's speed, and bench:compute's pairs scatter by ±30% (FT/plain x2 0.67-1.32 in one run).
// Pinned, a round compares like with like:
//   - plain x2: `ftvm record` pinned to CPU 0 and another pinned to CPU 1, at once;
//   - FT: the launcher (in this process), the arbiter and the standby where the OS puts
//     them; the primary pinned to --primary-cpu and the first backup to the other CPU
//     (`taskset -a -p` on every thread, at spawn and again 0.2, 0.6 and 1.5 s later, for
//     threads started meanwhile).
// Each round prints FT's run time and its ratio to the plain run on the primary's CPU;
// the median of the rounds is the figure. With the primary on the slower CPU the backup
// keeps up without the throttle; with it on the faster one the throttle holds the primary
// to what the backup can replay, and FT runs at the slower CPU's speed, as the plain x2
// figure of bench:compute assumes. So each round prints two ratios: FT against plain on the
// primary's CPU (the stricter), and against plain x2 (the slower of the two plain runs).
//   --rounds N        rounds (default 5)
//   --fib N           fib(N) (30-42, default 39: 1.5 G instructions)
//   --primary-cpu C   0, 1, or alt (alternate by round; default 0)
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runClusterDetailed } from "../../src/host/launcher.js";
import { childrenFromCompileCache, selfArgs } from "../../src/host/self.js";
import { setLogger } from "../../src/transport/channel.js";
import { dieWithMe } from "./children.js";
import { fibN } from "./guests.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** When the hosts' threads are pinned again after spawn (ms): Node starts some threads after its main one. */
const REPIN_AFTER_MS = [200, 600, 1500];

function usage(why: string): never {
  process.stderr.write(`tools/bench/compute-pinned.ts: ${why} (--rounds 1-100, --fib 30-42, --primary-cpu 0|1|alt; --help)\n`);
  process.exit(2);
}
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : (process.argv[i + 1] ?? usage(`--${name} needs a value`));
}
const int = (name: string, dflt: number, min: number, max: number) => {
  const s = arg(name);
  const v = s === undefined ? dflt : Number(s);
  if (!Number.isSafeInteger(v) || v < min || v > max) usage(`--${name} must be an integer in ${min}..${max}, got ${s}`);
  return v;
};
const ROUNDS = int("rounds", 5, 1, 100);
const FIB_N = int("fib", 39, 30, 42);
const PRIMARY_CPU = arg("primary-cpu") ?? "0";
if (!["0", "1", "alt"].includes(PRIMARY_CPU)) usage(`--primary-cpu must be 0, 1 or alt, got ${PRIMARY_CPU}`);
try {
  execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
} catch {
  usage("needs taskset (util-linux) and a Linux kernel");
}
setLogger(() => undefined);


/** One `ftvm record` pinned to `cpu`: its run time (its own report). */
function plainRun(program: string, cpu: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = dieWithMe(spawn("taskset", ["-c", String(cpu), process.execPath, ...selfArgs(), "record", program, "-o", "/dev/null", "--no-stdin"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] }));
    let err = "";
    c.stderr!.on("data", (d) => (err += d));
    c.on("exit", () => {
      const m = /halted at icount \d+ \(run (\d+(?:\.\d+)?) ms/.exec(err);
      if (!m) return reject(new Error(`plain run failed: ${err}`));
      resolve(Number(m[1]));
    });
  });
}

function pin(pid: number, cpu: number): void {
  try {
    execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
  } catch {
    // The process is gone (a short run): nothing to pin.
  }
}

async function main(): Promise<void> {
  await childrenFromCompileCache();
  const program = fibN(FIB_N);
  console.log(`compute-pinned: fib(${FIB_N}), ${ROUNDS} rounds, primary on CPU ${PRIMARY_CPU}, backup on the other`);
  const ratios: number[] = [];
  const ratiosX2: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const pc = PRIMARY_CPU === "alt" ? i % 2 : Number(PRIMARY_CPU);
    const [ms0, ms1] = await Promise.all([plainRun(program, 0), plainRun(program, 1)]);
    let backupPinned = false;
    const timers: NodeJS.Timeout[] = [];
    const onEvent = (e: { type: string; pid?: number; role?: string }) => {
      if (e.type !== "spawn" || e.pid === undefined) return;
      let cpu: number | undefined;
      if (e.role === "primary") cpu = pc;
      else if (e.role === "backup" && !backupPinned) {
        cpu = 1 - pc;
        backupPinned = true;
      }
      if (cpu === undefined) return;
      const [pid, c] = [e.pid, cpu];
      pin(pid, c);
      for (const ms of REPIN_AFTER_MS) timers.push(setTimeout(() => pin(pid, c), ms));
    };
    const r = await runClusterDetailed({ program, write: () => undefined, info: () => undefined, quiet: true, onEvent });
    for (const t of timers) clearTimeout(t);
    if (r.code !== 0 || !r.done) throw new Error(`ft run failed:\n${r.summary}`);
    const ftMs = Number(r.done.runMs);
    const same = pc === 0 ? ms0 : ms1;
    ratios.push(same / ftMs);
    ratiosX2.push(Math.max(ms0, ms1) / ftMs);
    // The primary's loop: how many slices and yields it took, and its CPU time against its
    // wall time (below 1 when other work shared its CPU).
    const loop = (r.done.loop ?? {}) as Record<string, number>;
    const loopNote = `${loop.runs ?? "?"} slices, ${loop.yields ?? "?"} yields, cpu/wall ${(Number(r.done.cpuMs) / ftMs).toFixed(2)}`;
    console.log(
      `round ${String(i + 1).padStart(2)}: plain on CPU 0 ${ms0.toFixed(0)} ms, on CPU 1 ${ms1.toFixed(0)} ms; FT (primary on CPU ${pc}) ${ftMs.toFixed(0)} ms (${loopNote}), throttle max ${Number(r.done.throttleMax).toFixed(2)}; FT / plain on the primary's CPU ${(same / ftMs).toFixed(3)}, FT / plain x2 ${(Math.max(ms0, ms1) / ftMs).toFixed(3)}`,
    );
  }
  const summary = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return `${med.toFixed(3)} (${s[0].toFixed(3)}-${s[s.length - 1].toFixed(3)})`;
  };
  console.log(`median FT / plain on the primary's CPU: ${summary(ratios)}; issue 11's target >= 0.97`);
  // FT needs both CPUs, and when the backup's is the slower one the throttle holds the
  // primary to the backup's replay speed (after a second of lag): then the run is bounded
  // by the slower CPU, which is what bench:compute's peer (plain x2, the slower of two
  // plain runs at once) measures. Both figures are printed; the first is the stricter.
  console.log(`median FT / plain x2 (the slower of the two pinned plain runs): ${summary(ratiosX2)}`);
}

await main();
