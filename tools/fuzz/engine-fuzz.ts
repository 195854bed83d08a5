// Runs many generated cases through the engine check (tools/fuzz/engine-check.ts) with
// fast-check, and on failure reports the shrunk case as a reader needs it: the seed and
// path that reproduce it, the mismatch, and the program as assembly source. Shared by the
// test suite (test/vm-engines-fuzz.test.ts) and `npm run fuzz` (tools/fuzz/engines.ts).
import fc from "fast-check";
import { type CheckOptions, checkEngineCase } from "./engine-check.js";
import { type EngineCase, engineCaseArb, renderProgram } from "./engine-programs.js";

export interface FuzzOptions extends CheckOptions {
  cases: number;
  seed: number;
  /** Replays exactly the case a failure report named (with its seed). */
  path?: string;
  /** Called after each passing case. */
  onCase?: (passed: number) => void;
}

export interface FuzzResult {
  failed: boolean;
  /** Cases run (including the failing one). */
  cases: number;
  /** For a failure: everything needed to understand and reproduce it. */
  report: string;
}

export function fuzzEngines(o: FuzzOptions): FuzzResult {
  let passed = 0;
  const details = fc.check(
    fc.property(engineCaseArb, (c) => {
      checkEngineCase(c, o);
      o.onCase?.(++passed);
    }),
    { numRuns: o.cases, seed: o.seed, ...(o.path ? { path: o.path } : {}) },
  );
  if (!details.failed) return { failed: false, cases: details.numRuns, report: "" };
  const c = details.counterexample?.[0] as EngineCase | undefined;
  const err = details.errorInstance;
  const report = [
    `engine mismatch after ${details.numRuns} cases (${details.numShrinks} shrinks)`,
    `seed ${details.seed}, path ${details.counterexamplePath}`,
    `reproduce: npm run fuzz -- --seed ${details.seed} --path ${details.counterexamplePath}${o.maxIcount ? ` --max-icount ${o.maxIcount}` : ""}`,
    "",
    err instanceof Error ? err.message : String(err),
    "",
    ...(c
      ? ["---- the shrunk program ----", renderProgram(c.program), "---- its schedule, and the threshold-1 engine's shape ----", JSON.stringify(c.schedule), JSON.stringify(c.shape)]
      : []),
  ].join("\n");
  return { failed: true, cases: details.numRuns, report };
}
