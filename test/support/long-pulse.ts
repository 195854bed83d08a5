// programs/pulse.s made to print longer (ten lines per 5 ms tick), in a temporary directory
// (its .include falls back to programs/lib): a guest that outlives ten kills on a loaded
// machine, where each re-pairing waits for a standby to start (seconds at load 10+).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PULSE = fileURLToPath(new URL("../../programs/pulse.s", import.meta.url));

/** The path of a pulse.s that prints 1..`lines`, one number a line. */
export function longPulse(lines: number, dir = mkdtempSync(join(tmpdir(), "ftvm-pulse-"))): string {
  const src = readFileSync(PULSE, "utf8");
  if (!/^\.const LINES 40000$/m.test(src)) throw new Error("programs/pulse.s no longer says .const LINES 40000: update test/support/long-pulse.ts");
  const path = join(dir, `pulse-${lines}.s`);
  writeFileSync(path, src.replace(/^\.const LINES 40000$/m, `.const LINES ${lines}`));
  return path;
}
