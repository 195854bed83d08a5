// Chooses the execution engine for a machine: the compiled engine (src/vm/compile.ts),
// which translates hot guest code to JavaScript and matches the reference interpreter
// exactly. Callers that want the reference interpreter (--interpret) skip attachEngine.
import { compiledEngine, type CompileOptions } from "../vm/compile.js";
import type { Machine } from "../vm/machine.js";

export function attachEngine(m: Machine, options?: CompileOptions): void {
  m.engine = compiledEngine(options);
}
