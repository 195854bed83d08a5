// programs/ticker.s made to tick longer (20 ms a tick), in a temporary directory (its
// .include falls back to programs/lib): a guest that outlives what a test does to it on a
// loaded machine. ticker.s's 150 ticks (3 s) ended, under load, before a new backup had
// joined or before a kill due some time after the pair formed was carried out.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const TICKER = fileURLToPath(new URL("../../programs/ticker.s", import.meta.url));

/** The path of a ticker.s that ticks `ticks` times and prints "tick N of TICKS". */
export function longTicker(ticks: number, dir = mkdtempSync(join(tmpdir(), "ftvm-ticker-"))): string {
  const src = readFileSync(TICKER, "utf8");
  if (!src.includes(".const TICKS 150") || !src.includes('" of 150 at "')) throw new Error("programs/ticker.s changed: update test/support/long-ticker.ts");
  const path = join(dir, `ticker-${ticks}.s`);
  writeFileSync(path, src.replace(".const TICKS 150", `.const TICKS ${ticks}`).replace('" of 150 at "', `" of ${ticks} at "`));
  return path;
}

/** The tick numbers a ticker of `ticks` ticks printed, in order (NaN for any other line). */
export const tickNumbers = (out: string, ticks = 150): number[] => out.trimEnd().split("\n").map((l) => Number(new RegExp(`^tick (\\d+) of ${ticks}`).exec(l)?.[1]));
