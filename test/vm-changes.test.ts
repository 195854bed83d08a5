// Machine.changed (the trackChanges option): a flag per memory word, set by every store
// that changes the word's value. The debugger's memory searches skip intervals of the
// history by these flags, so a missed flag would be a wrong answer: both engines are held
// to an oracle that compares memory before and after every single instruction.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assemble } from "../src/asm/assembler.js";
import { compiledEngine } from "../src/vm/compile.js";
import { interpret } from "../src/vm/interp.js";
import { Machine } from "../src/vm/machine.js";
import { FUZZ_MEM_BYTES, FUZZ_STACK_BYTES, programArb, renderProgram } from "../tools/fuzz/engine-programs.js";

const ICOUNT_MAX = 3_000;
const OPTS = { memBytes: FUZZ_MEM_BYTES, stackBytes: FUZZ_STACK_BYTES };

/** The words whose value differs between two consecutive positions, over a whole run, stepping one instruction at a time. */
function oracle(image: ReturnType<typeof assemble>): { words: number[]; icount: number } {
  const m = new Machine(image, OPTS);
  const out = new Set<number>();
  let before = m.mem32.slice();
  while (m.icount < ICOUNT_MAX && interpret(m, m.icount + 1) === "continue") {
    for (let i = 0; i < before.length; i++) if (before[i] !== m.mem32[i]) out.add(i);
    before = m.mem32.slice();
  }
  // The instruction that halted or trapped may have stored first (none does, but compare anyway).
  for (let i = 0; i < before.length; i++) if (before[i] !== m.mem32[i]) out.add(i);
  return { words: [...out].sort((a, b) => a - b), icount: m.icount };
}

function flagged(m: Machine): number[] {
  const out: number[] = [];
  m.changed!.forEach((f, i) => f && out.push(i));
  return out;
}

describe("Machine.changed", () => {
  it("is flagged for exactly the words some instruction changed, by the interpreter and by the compiled engine run in slices", () => {
    let storing = 0;
    fc.assert(
      fc.property(programArb, fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }), (spec, slices) => {
        const image = assemble(renderProgram(spec), "changes.s");
        const want = oracle(image);
        if (want.words.length > 0) storing++;
        const mi = new Machine(image, { ...OPTS, trackChanges: true });
        interpret(mi, ICOUNT_MAX);
        expect(mi.icount).toBe(want.icount);
        expect(flagged(mi)).toEqual(want.words);
        const mc = new Machine(image, { ...OPTS, trackChanges: true });
        mc.engine = compiledEngine({ hotThreshold: 1 });
        for (let k = 0; mc.icount < ICOUNT_MAX; k++) {
          if (mc.run(Math.min(ICOUNT_MAX, mc.icount + slices[k % slices.length])) !== "continue") break;
        }
        expect(mc.icount).toBe(want.icount);
        expect(flagged(mc)).toEqual(want.words);
      }),
      { numRuns: 60, seed: 1414 },
    );
    // The generated programs do store (so the comparison above is not of empty sets).
    expect(storing).toBeGreaterThan(10);
  });

  it("counts a store of the value already there as no change, and flags an interrupt's push and a device's bytes only where they differ", () => {
    const image = assemble(
      `
.data
w: .word 5
.code
    LI r1, 5
    STW r1, [w]       ; the same value: no change
    LI r2, 0x105
    STB r2, [w]       ; low byte 0x05 again: no change
    STB r1, [w + 1]   ; 0 -> 5: a change
    HALT
`,
      "same.s",
    );
    for (const engine of [interpret, compiledEngine({ hotThreshold: 1 })]) {
      const m = new Machine(image, { ...OPTS, trackChanges: true });
      m.engine = engine;
      m.run(4);
      expect(flagged(m), "STW and STB of the same value").toEqual([]);
      m.run(5);
      expect(flagged(m)).toEqual([0]);
    }
    // Interrupt entry pushes pc: onto the same value (no change), then onto a zero (a change).
    const mi = new Machine(image, { ...OPTS, trackChanges: true });
    const top = FUZZ_MEM_BYTES / 4 - 1;
    mi.pc = 3;
    mi.mem32[top] = 3;
    mi.vectors[1] = 2;
    mi.ie = true;
    mi.interrupt(1);
    expect(flagged(mi)).toEqual([]);
    mi.ie = true;
    mi.interrupt(1);
    expect(mi.mem32[top - 1]).toBe(2);
    expect(flagged(mi)).toEqual([top - 1]);
    const m = new Machine(image, { ...OPTS, trackChanges: true });
    m.mem.set([1, 2, 3, 4, 5, 6, 7, 8], 64);
    m.storeBytes(64, new Uint8Array([1, 2, 3, 4, 5, 6, 9, 8]));
    expect(flagged(m)).toEqual([17]);
    expect(Array.from(m.mem.subarray(64, 72))).toEqual([1, 2, 3, 4, 5, 6, 9, 8]);
    // A machine without the option has no flags at all.
    expect(new Machine(image, OPTS).changed).toBeNull();
  });
});
