// Bundled guest programs made shorter or longer for a test, from their one source in
// programs/ (no test keeps its own copy of a guest).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const PULSE = fileURLToPath(new URL("../../programs/pulse.s", import.meta.url));

/** programs/pulse.s printing `lines` lines (ten per 5 ms tick) instead of 40000. */
export function pulseSource(lines: number): string {
  const src = readFileSync(PULSE, "utf8");
  const out = src.replace(/^\.const LINES \d+$/m, `.const LINES ${lines}`);
  if (out === src && lines !== 40000) throw new Error("programs/pulse.s no longer has `.const LINES N`");
  return out;
}
