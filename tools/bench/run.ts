// `npm run bench`: compute benchmarks of ftvm against lua5.4.
//
// Each benchmark is a guest program (programs/*.s) and the same algorithm in Lua
// (tools/bench/lua/*.lua) with the same parameters and the same output. ftvm runs
// in-process the way `ftvm run` does (Machine + Bus + LiveEnv with the real world, the
// LiveRunner's slices), once with the compiled engine and once with the reference
// interpreter; lua5.4 runs as a child process, timed around the spawn (its startup is
// measured separately with an empty script and printed, not subtracted). Every engine's
// output must equal Lua's. Each measurement is the best of several repetitions.
//
// Then the record overhead: the same compute-bound program through runLive (the code
// behind `ftvm run` / `ftvm record`), plain vs recording a log to a temporary file.
//
// Environment: BENCH_REPS (default 5), BENCH_ONLY=name[,name] to run some benchmarks.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleFile } from "../../src/asm/assembler.js";
import { Bus } from "../../src/devices/bus.js";
import { attachEngine } from "../../src/host/engine.js";
import { runLive } from "../../src/host/live.js";
import { progress } from "../../src/host/progress.js";
import { realWorld } from "../../src/host/world.js";
import { LiveEnv } from "../../src/replay/live.js";
import { LiveRunner } from "../../src/replay/session.js";
import type { Image } from "../../src/vm/image.js";
import { Machine } from "../../src/vm/machine.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const LUA = "lua5.4";
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5) | 0);
/** The reference interpreter is slow: fewer repetitions keep the whole bench short. */
const INTERP_REPS = Math.max(1, Math.min(REPS, 2));
const RECORD_REPS = Math.max(9, REPS);

interface Bench {
  name: string;
  program: string;
  lua: string;
}

const BENCHES: Bench[] = ["sieve", "fib", "checksum"].map((name) => ({
  name,
  program: join(ROOT, "programs", `${name}.s`),
  lua: join(ROOT, "tools", "bench", "lua", `${name}.lua`),
}));

interface Run {
  ms: number;
  icount: number;
  output: string;
}

function checkLua(): void {
  const r = spawnSync(LUA, ["-v"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    process.stderr.write(`bench: ${LUA} is not installed; install it with: sudo apt-get install -y lua5.4\n`);
    process.exit(2);
  }
}

/** One run of the guest to completion, in-process, as `ftvm run` runs it. */
function runFtvm(image: Image, compiled: boolean): Run {
  const t0 = performance.now();
  const m = new Machine(image);
  if (compiled) attachEngine(m);
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, realWorld(1), () => undefined);
  bus.env = env;
  const runner = new LiveRunner(bus, env);
  const out: Buffer[] = [];
  for (;;) {
    const r = runner.step();
    const bytes = bus.console.drainOutput();
    if (bytes.length > 0) out.push(Buffer.from(bytes));
    if (r === "halted") break;
    if (r !== "continue") throw new Error(`bench: guest stopped with "${r}" at icount ${m.icount}${m.trap ? `: ${m.trap.kind} ${m.trap.detail}` : ""}`);
  }
  const ms = performance.now() - t0;
  return { ms, icount: m.icount, output: Buffer.concat(out).toString("latin1") };
}

function runLua(script: string): Run {
  const t0 = performance.now();
  const r = spawnSync(LUA, [script], { encoding: "latin1" });
  const ms = performance.now() - t0;
  if (r.error || r.status !== 0) throw new Error(`bench: ${LUA} ${script} failed: ${r.error?.message ?? r.stderr}`);
  return { ms, icount: 0, output: r.stdout };
}

function best(reps: number, f: () => Run): Run {
  let b: Run | undefined;
  for (let i = 0; i < reps; i++) {
    const r = f();
    if (b && r.output !== b.output) throw new Error("bench: output differs between repetitions");
    if (!b || r.ms < b.ms) b = r;
  }
  return b!;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")).join("\n");
}

const fmtMs = (ms: number) => ms.toFixed(ms < 100 ? 1 : 0);
const fmtMips = (icount: number, ms: number) => (icount / ms / 1000).toFixed(0);
const fmtRatio = (x: number) => x.toFixed(2);

async function recordOverhead(image: Image, program: string): Promise<{ plainMs: number; recordMs: number; logBytes: number; icount: number }> {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-"));
  try {
    let plainMs = Infinity, recordMs = Infinity, logBytes = 0, icount = 0;
    const sink = () => undefined;
    const plain = async () => {
      const t0 = performance.now();
      const p = await runLive({ program, image, output: sink });
      plainMs = Math.min(plainMs, performance.now() - t0);
      if (p.reason !== "halted") throw new Error(`bench: plain run ended with ${p.reason}`);
    };
    const recording = async () => {
      const t0 = performance.now();
      const r = await runLive({ program, image, output: sink, logPath: join(dir, "run.ftlog") });
      recordMs = Math.min(recordMs, performance.now() - t0);
      if (r.reason !== "halted") throw new Error(`bench: recording run ended with ${r.reason}`);
      logBytes = r.logBytes;
      icount = r.icount;
    };
    // Interleaved in alternating order, so drifting machine load hits both alike.
    const bar = progress("record overhead", RECORD_REPS, "rounds");
    bar.update(0);
    for (let i = 0; i < RECORD_REPS; i++) {
      if (i % 2 === 0) {
        await plain();
        await recording();
      } else {
        await recording();
        await plain();
      }
      bar.update(i + 1);
    }
    bar.clear();
    return { plainMs, recordMs, logBytes, icount };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  checkLua();
  const only = process.env.BENCH_ONLY?.split(",");
  const benches = only ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES;
  const luaVersion = spawnSync(LUA, ["-v"], { encoding: "utf8" }).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-"));
  const empty = join(dir, "empty.lua");
  writeFileSync(empty, "");
  const luaStartup = best(5, () => runLua(empty)).ms;
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`ftvm compute benchmarks (node ${process.version}, ${luaVersion}; best of ${REPS}, interpreter best of ${INTERP_REPS})\n`);
  process.stdout.write(`lua5.4 times include its process startup (${fmtMs(luaStartup)} ms for an empty script; not subtracted)\n\n`);

  const rows = [["benchmark", "guest instr", "ftvm ms", "guest MIPS", "--interpret ms", "interp MIPS", "lua5.4 ms", "lua/ftvm", "lua/interp"]];
  let worst = Infinity;
  let failed = false;
  const images = new Map<string, Image>();
  // On a terminal: benchmark k of n and the time left (each runs several repetitions of three engines).
  const bar = progress("benchmarks", benches.length, "benchmarks");
  bar.update(0);
  let benchesDone = 0;
  for (const b of benches) {
    const image = assembleFile(b.program);
    images.set(b.name, image);
    const lua = best(REPS, () => runLua(b.lua));
    const fast = best(REPS, () => runFtvm(image, true));
    const slow = best(INTERP_REPS, () => runFtvm(image, false));
    bar.update(++benchesDone);
    for (const [what, r] of [["compiled engine", fast], ["interpreter", slow]] as const) {
      if (r.output !== lua.output) {
        bar.clear();
        failed = true;
        process.stdout.write(`${b.name}: ${what} output ${JSON.stringify(r.output)} differs from lua5.4's ${JSON.stringify(lua.output)}\n`);
      }
    }
    if (fast.icount !== slow.icount) {
      bar.clear();
      failed = true;
      process.stdout.write(`${b.name}: compiled engine retired ${fast.icount} instructions, interpreter ${slow.icount}\n`);
    }
    const ratio = lua.ms / fast.ms;
    worst = Math.min(worst, ratio);
    rows.push([
      b.name,
      String(fast.icount),
      fmtMs(fast.ms),
      fmtMips(fast.icount, fast.ms),
      fmtMs(slow.ms),
      fmtMips(slow.icount, slow.ms),
      fmtMs(lua.ms),
      fmtRatio(ratio),
      fmtRatio(lua.ms / slow.ms),
    ]);
  }
  bar.clear();
  process.stdout.write(table(rows) + "\n");
  process.stdout.write("(lua/ftvm above 1: ftvm is faster; outputs of all engines checked equal to lua5.4's)\n\n");

  const recName = images.has("sieve") ? "sieve" : benches[0].name;
  const rec = await recordOverhead(images.get(recName)!, `programs/${recName}.s`);
  const recRatio = rec.plainMs / rec.recordMs;
  process.stdout.write(
    `record overhead (${recName} through runLive, best of ${RECORD_REPS}): plain ${fmtMs(rec.plainMs)} ms, recording ${fmtMs(rec.recordMs)} ms ` +
      `(${rec.logBytes} log bytes); throughput record/plain: ${fmtRatio(recRatio)} (target >= 0.97)\n`,
  );
  if (failed) {
    process.stdout.write("bench: outputs differ (see above)\n");
    process.exitCode = 1;
  }
  process.stdout.write(`worst ratio vs lua5.4: ${fmtRatio(worst)}\n`);
}

await main();
