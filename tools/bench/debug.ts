// Debugger benchmarks: `npx tsx tools/bench/debug.ts`. Records a few guests (`ftvm record`
// in-process, the real world), opens each log in a debug session as `ftvm debug --eval`
// would, and times what a user waits for: the first replay to the end (which takes the
// checkpoints), reverse-step at random positions, goto to random positions, and
// last-change of single words. Prints the snapshot memory held against its budget, and
// the machine's load average before and after (other work on the machine slows it).
//
//   FTVM_BENCH_DEBUG   comma-separated workloads (default: all): count, pulse, sieve1g
//   FTVM_BENCH_SAMPLES reverse-steps and gotos timed per workload (default 40)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeDebugLog } from "../../src/debug/log.js";
import { Session } from "../../src/debug/session.js";
import { runLive } from "../../src/host/live.js";
import { loadProgram } from "../../src/host/program.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SAMPLES = Number(process.env.FTVM_BENCH_SAMPLES ?? 40);
const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-debug-"));

interface Workload {
  name: string;
  what: string;
  program: () => string;
  /** Words to ask last-change about, from the end: [expression, what it is]. */
  words: [string, string][];
}

/** A program of programs/ with .const lines replaced (its .include falls back to programs/lib). */
function variant(program: string, name: string, consts: Record<string, number>): string {
  let src = readFileSync(join(ROOT, program), "utf8");
  for (const [k, v] of Object.entries(consts)) {
    const re = new RegExp(`^\\.const ${k},? \\d+`, "m");
    if (!re.test(src)) throw new Error(`${program} no longer has .const ${k}: update the benchmark`);
    src = src.replace(re, `.const ${k} ${v}`);
  }
  const path = join(dir, `${name}.s`);
  writeFileSync(path, src);
  return path;
}

const WORKLOADS: Workload[] = [
  { name: "count", what: "programs/count.s: 100000 lines of output, no events", program: () => "programs/count.s", words: [["number", "the leading digit's word (changes 5 times)"]] },
  {
    name: "pulse",
    what: "programs/pulse.s with 4000 lines: timer interrupts every 5 ms, WFI between",
    program: () => variant("programs/pulse.s", "pulse", { LINES: 4000 }),
    words: [["ticks", "the tick counter the handler writes"]],
  },
  {
    name: "sieve1g",
    what: "programs/sieve.s with K = 100: over a billion instructions, 800 KB of flags rewritten each pass",
    program: () => variant("programs/sieve.s", "sieve", { K: 100 }),
    words: [
      ["msg_below", "a message word never written, on a page written every pass"],
      ["flags", "stored every pass, but with the values it got in the first pass"],
      ["flags+400000", "cleared and set again in every pass"],
    ],
  },
];

function stats(xs: number[]): { median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)], max: s[s.length - 1] };
}

/** A fixed pseudo-random sequence, so every run times the same positions. */
function positions(n: number, end: number, seed: number): number[] {
  let x = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(1 + Math.floor((x / 2 ** 32) * (end - 1)));
  }
  return out;
}

async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await f();
  return [performance.now() - t, r];
}

async function bench(w: Workload): Promise<void> {
  const program = w.program();
  const logPath = join(dir, `${w.name}.ftlog`);
  const rec = await runLive({ program, image: loadProgram(program), logPath, output: () => undefined });
  const bytes = new Uint8Array(readFileSync(logPath));
  const log = decodeDebugLog(bytes, logPath);
  const s = new Session(log);
  const end = log.endIcount;
  const [firstMs] = await time(() => s.tl.goto(end));
  const rs: number[] = [];
  for (const p of positions(SAMPLES, end, 7)) {
    await s.tl.goto(p);
    const [ms, r] = await time(() => s.execute("reverse-step"));
    if (!r.ok) throw new Error(`reverse-step at ${p}: ${r.text.join(" ")}`);
    rs.push(ms);
  }
  const gs: number[] = [];
  for (const p of positions(SAMPLES, end, 11)) {
    const [ms, r] = await time(() => s.execute(`goto ${p}`));
    if (!r.ok) throw new Error(`goto ${p}: ${r.text.join(" ")}`);
    gs.push(ms);
  }
  const lcs: string[] = [];
  for (const [word, what] of w.words) {
    await s.tl.goto(end);
    const [lcMs, lc] = await time(() => s.execute(`last-change ${word}`));
    if (!lc.ok) throw new Error(`last-change ${word}: ${lc.text.join(" ")}`);
    lcs.push(`  last-change ${word} from the end (${what}): ${lcMs.toFixed(0)} ms → ${lc.text[0].slice(0, 110)}`);
  }
  const st = s.tl.store;
  const r = stats(rs);
  const g = stats(gs);
  const mib = (b: number) => (b / 1048576).toFixed(1);
  console.log(`\n${w.name}: ${w.what}`);
  console.log(`  recorded ${rec.icount} instructions, ${rec.events} events (${rec.logBytes} log bytes) in ${rec.runMs.toFixed(0)} ms`);
  console.log(`  first replay to the end: ${firstMs.toFixed(0)} ms (${(end / 1e3 / firstMs).toFixed(0)} MIPS), taking ${st.checkpoints.length + st.removed} checkpoints (every ${st.intervalIcount} instructions until the budget thins them)`);
  console.log(`  reverse-step (${SAMPLES} random positions): median ${r.median.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`);
  console.log(`  goto (${SAMPLES} random positions):         median ${g.median.toFixed(2)} ms, p90 ${g.p90.toFixed(2)} ms, max ${g.max.toFixed(2)} ms`);
  for (const line of lcs) console.log(line);
  console.log(`  snapshots: ${st.checkpoints.length} kept, ${st.removed} thinned; ${mib(st.bytes)} MiB held, peak ${mib(st.peakBytes)} MiB, budget ${mib(st.bytesMax)} MiB`);
}

const chosen = (process.env.FTVM_BENCH_DEBUG ?? WORKLOADS.map((w) => w.name).join(",")).split(",");
const load = () => loadavg().map((x) => x.toFixed(2)).join(", ");
try {
  console.log(`load average before: ${load()}`);
  for (const w of WORKLOADS.filter((x) => chosen.includes(x.name))) await bench(w);
  console.log(`\nload average after: ${load()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
