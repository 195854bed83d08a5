// Variants of the bundled programs the benchmarks run, written to a temporary directory
// (their .include falls back to programs/lib): programs/fib.s with another N, and
// programs/count.s counting further. Each checks the constant it replaces is still there.
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
