// Chooses the execution engine for a machine: the compiled engine when it is available,
// else the reference interpreter.
import type { Machine } from "../vm/machine.js";

export function attachEngine(_m: Machine): void {
  // The compiled engine (src/vm/compile.ts) attaches here once it lands.
}
