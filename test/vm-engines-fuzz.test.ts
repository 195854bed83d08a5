// The compiled engine against the reference interpreter on thousands of random programs
// with unstructured control flow, calls, traps, device instructions and interrupts, run
// live with the compile threshold at 1 and at its default, compared after every run step,
// with logs replayed across engines (tools/fuzz/engine-check.ts says exactly what is
// compared). Fixed seeds: a failure here reproduces with the command in its report.
// `npm run fuzz` runs the same check for as long as you like.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compiledEngine } from "../src/vm/compile.js";
import type { Machine, RunResult } from "../src/vm/machine.js";
import { fuzzEngines } from "../tools/fuzz/engine-fuzz.js";
import { programArb, type Stmt } from "../tools/fuzz/engine-programs.js";

/** Cases per seed; three seeds make the few thousand the suite runs. */
const CASES_PER_SEED = 1000;

describe("compiled engine = reference interpreter on random programs", () => {
  it.each([18001, 18002, 18003])("seed %i: every run step, event, output, trace record and replay agree", (seed) => {
    const r = fuzzEngines({ cases: CASES_PER_SEED, seed });
    expect(r.failed, r.report).toBe(false);
    expect(r.cases).toBe(CASES_PER_SEED);
  }, 600_000);

  it("catches an engine that is wrong only rarely, and reports the shrunk program with a reproduction", () => {
    // Deliberately broken: after 1 in 50 slices that retire anything, one register bit flips.
    let slices = 0;
    const broken = (m: Machine) => {
      const inner = compiledEngine({ hotThreshold: 1 });
      m.engine = (mm: Machine, limit: number): RunResult => {
        const before = mm.icount;
        const r = inner(mm, limit);
        if (mm.icount > before && ++slices % 50 === 0) mm.regs[1] ^= 1 << 7;
        return r;
      };
    };
    const r = fuzzEngines({ cases: 300, seed: 7, onCompiledMachine: broken });
    expect(r.failed).toBe(true);
    expect(r.report).toMatch(/differ/);
    expect(r.report).toMatch(/reproduce: npm run fuzz -- --seed 7 --path \S+/);
    expect(r.report).toMatch(/---- the shrunk program ----\n\.data/);
  }, 600_000);

  it("generates the shape the first generator missed: a loop left past dead code after its JMP back", () => {
    // A loop whose last instruction jumps back unconditionally, dead code after it, and a
    // branch out of the loop from inside its body (issue 18).
    const shaped = (s: readonly Stmt[]): boolean =>
      s.some((x) => (x.k === "loop" && x.shape !== "bottom" && x.dead.length > 0 && x.body.some((y) => y.k === "exit" && !y.cont)) || ("body" in x && shaped(x.body)));
    const sample = fc.sample(programArb, { numRuns: 500, seed: 1 });
    const hits = sample.filter((p) => shaped(p.main) || p.funcs.some(shaped)).length;
    expect(hits).toBeGreaterThan(25);
  });
});
