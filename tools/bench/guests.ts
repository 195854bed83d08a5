// Variants of the bundled programs the benchmarks run, written to a temporary directory
// (their .include falls back to programs/lib): programs/fib.s with another N,
// programs/count.s counting further, and programs/ticker.s ticking longer. Each checks the constant it replaces is still there.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function variant(program: string, constant: RegExp, replacement: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-"));
  const src = readFileSync(join(ROOT, "programs", program), "utf8");
  if (!constant.test(src)) throw new Error(`programs/${program} no longer has ${constant.source}: update the benchmark`);
  writeFileSync(join(dir, name), src.replace(constant, replacement));
  return join(dir, name);
}

/** programs/fib.s computing fib(n) instead of fib(35). */
export function fibN(n: number): string {
  return variant("fib.s", /^\.const N, 35$/m, `.const N, ${n}`, `fib${n}.s`);
}

/** programs/count.s counting to `last` instead of 100,000. */
export function countTo(last: number): string {
  return variant("count.s", /^\.const LAST 100000$/m, `.const LAST ${last}`, `count${last}.s`);
}

/** programs/ticker.s printing `ticks` lines (one every 20 ms) instead of 150. */
export function tickerFor(ticks: number): string {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-bench-"));
  const src = readFileSync(join(ROOT, "programs", "ticker.s"), "utf8");
  if (!/^\.const TICKS 150$/m.test(src) || !/" of 150 at "/.test(src)) throw new Error("programs/ticker.s no longer has .const TICKS 150 and \" of 150 at \": update the benchmark");
  const path = join(dir, `ticker${ticks}.s`);
  writeFileSync(path, src.replace(/^\.const TICKS 150$/m, `.const TICKS ${ticks}`).replace(/" of 150 at "/, `" of ${ticks} at "`));
  return path;
}
