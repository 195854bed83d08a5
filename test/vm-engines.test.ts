// The compiled engine (src/vm/compile.ts) against the reference interpreter (src/vm/interp.ts)
// on hand-written programs: slices must stop at exactly their limit, traps must match with
// their detail, device output must stop where the interpreter stops, and the program of
// issue 18 (a loop that breaks out past dead code) must give the interpreter's answer on
// every path (the engines in-process, ftvm run, ftvm record → replay --interpret). Random
// programs run on both engines in test/vm-engines-fuzz.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BY_OP, OPS } from "../isa/table.js";
import { assemble } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import { CONSOLE_OUT_BYTES_MAX } from "../src/devices/console.js";
import { attachEngine } from "../src/host/engine.js";
import { LiveEnv } from "../src/replay/live.js";
import { LiveRunner } from "../src/replay/session.js";
import { fakeWorld } from "../src/replay/world.js";
import { type CompileOptions, compiledEngine } from "../src/vm/compile.js";
import { isConditional } from "../src/vm/compile-gen.js";
import { memDigest } from "../src/vm/digest.js";
import type { Image } from "../src/vm/image.js";
import { Machine, type MachineOptions, type RunResult } from "../src/vm/machine.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const MEM: MachineOptions = { memBytes: 16384, stackBytes: 2048 };

/** Everything observable about a machine (the dirty flags before the digest clears them). */
function state(m: Machine) {
  const dirty = Array.from(m.dirty);
  return {
    regs: Array.from(m.regs),
    pc: m.pc,
    icount: m.icount,
    ie: m.ie,
    eiShadowIcount: m.eiShadowIcount,
    waiting: m.waiting,
    halted: m.halted,
    trap: m.trap,
    vectors: Array.from(m.vectors),
    stopRequested: m.stopRequested,
    dirty,
    mem: memDigest(m),
  };
}

function compiled(image: Image, opts: CompileOptions = {}, mopts: MachineOptions = MEM): Machine {
  const m = new Machine(image, mopts);
  m.engine = compiledEngine(opts);
  return m;
}

/** Runs both engines slice by slice, comparing after each; returns the interpreter's machine. */
function runBoth(image: Image, slices: readonly number[], opts: CompileOptions, cap = 20_000, maxSlices = 3000): Machine {
  const a = new Machine(image, MEM);
  const b = compiled(image, opts);
  for (let i = 0; i < maxSlices; i++) {
    const limit = Math.min(cap, a.icount + slices[i % slices.length]);
    const ra = a.run(limit);
    const rb = b.run(limit);
    expect(rb).toBe(ra);
    if (ra === "continue") expect(a.icount).toBe(limit);
    expect(state(b)).toEqual(state(a));
    if (ra !== "continue" || a.icount >= cap) break;
  }
  return a;
}

describe("compiled engine = reference interpreter", () => {
  it("stops exactly at every limit of a looping program", () => {
    const image = assemble(
      `
.data
buf: .zero 64
.code
main:
    LI r2, 4
outer:
    LI r3, 3
inner:
    ADD r1, r1, r3
    STW r1, [buf + 4]
    CALL f
    LDB r5, [buf + 4]
    ADDI r3, r3, -1
    BNEZ r3, inner
    ADDI r2, r2, -1
    BNEZ r2, outer
    HALT
f:
    PUSH r1
    ICOUNT r4
    MUL r1, r4, r4
    POP r1
    RET
`,
      "loop.s",
    );
    const ref = new Machine(image, MEM);
    expect(ref.run(1e9)).toBe("halted");
    const total = ref.icount;
    for (const opts of [{ hotThreshold: 1 }, {}, { hotThreshold: 1, blockInstructionsMax: 2 }] as CompileOptions[]) {
      // One fresh machine per limit.
      for (let limit = 0; limit <= total + 1; limit++) {
        const a = new Machine(image, MEM);
        const b = compiled(image, opts);
        const ra = a.run(limit);
        expect(b.run(limit)).toBe(ra);
        expect(state(b)).toEqual(state(a));
        if (limit < total) expect(b.icount).toBe(limit);
      }
      // One machine stepping one instruction at a time, then in growing slices.
      for (const step of [1, 2, 5, 11]) {
        const a = new Machine(image, MEM);
        const b = compiled(image, opts);
        let ra: RunResult;
        do {
          const limit = a.icount + step;
          ra = a.run(limit);
          expect(b.run(limit)).toBe(ra);
          expect(state(b)).toEqual(state(a));
        } while (ra === "continue");
      }
    }
  });

  it("stops exactly inside long straight-line blocks and hot loops", () => {
    const body = Array.from({ length: 150 }, (_, i) => `ADDI r${(i % 9) + 1}, r${((i + 3) % 9) + 1}, ${i}`).join("\n");
    const image = assemble(`main:\nLI r12, 200\nloop:\n${body}\nADDI r12, r12, -1\nBNEZ r12, loop\nHALT`, "long.s");
    for (const slices of [[1], [149], [150], [151], [152], [997], [100_000], [3, 1000, 7]]) runBoth(image, slices, {}, 40_000, 100_000);
  });

  const TRAPS: [string, string][] = [
    ["division-by-zero", "LI r1, 5\nDIV r2, r1, r0"],
    ["division-by-zero", "LI r1, 5\nLI r3, 9\nREMU r2, r1, r0"],
    ["memory-out-of-bounds", "LI r1, 16384\nLDW r2, [r1]"],
    ["memory-out-of-bounds", "LI r1, -1\nSTB r2, [r1]"],
    ["memory-out-of-bounds", "LDB r2, [16384]"],
    ["misaligned-access", "LI r1, 6\nSTW r2, [r1]"],
    ["misaligned-access", "LDW r2, [2]"],
    ["stack-overflow", "loop:\nPUSH r1\nJMP loop"],
    ["stack-overflow", "f:\nCALL f"],
    ["stack-underflow", "POP r1"],
    ["stack-underflow", "RET"],
    ["misaligned-access", "ADDI r15, r15, -2\nPUSH r1"],
    ["pc-out-of-code", "LI r1, 1000\nJR r1"],
    ["pc-out-of-code", "LI r1, 1000\nCALLR r1"],
    ["pc-out-of-code", "LI r1, 1000\nPUSH r1\nRET"],
    ["pc-out-of-code", "NOP"],
    ["pc-out-of-code", "JMP end\nend:"],
    ["invalid-opcode", ".invalid 0xfe, 0"],
    ["wfi-with-interrupts-disabled", "WFI"],
  ];
  it.each(TRAPS)("traps with %s exactly like the interpreter: %s", (kind, body) => {
    const image = assemble(`main:\nLI r5, 3\nloop0:\nADDI r5, r5, -1\nBNEZ r5, loop0\n${body}`, "trap.s");
    for (const opts of [{ hotThreshold: 1 }, {}] as CompileOptions[]) {
      const a = runBoth(image, [100_000], opts);
      expect(a.trap?.kind).toBe(kind);
    }
  });
});

// ---- device output under a live environment --------------------------------------------

/** Runs live (as `ftvm run` does) with the given engine; returns the output and the per-step trail. */
function live(image: Image, engine: CompileOptions | "interpret", sliceIcount: number, maxIcount: number) {
  const m = new Machine(image);
  if (engine !== "interpret") attachEngine(m, engine);
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, fakeWorld(1, 9, 3), () => undefined);
  bus.env = env;
  const runner = new LiveRunner(bus, env, { sliceIcount, maxIcount });
  const trail: string[] = [];
  let out = "";
  for (let step = 0; step < 10_000; step++) {
    const r = runner.step();
    out += Buffer.from(bus.console.drainOutput()).toString("latin1");
    trail.push(`${r}@${m.icount}:${m.pc}`);
    if (r === "halted" || r === "trapped" || r === "max-icount") break;
  }
  return { m, out, trail };
}

describe("compiled engine with devices", () => {
  it("stops where a full console output buffer asks it to", () => {
    const image = assemble(
      `
main:
    LI r1, ${CONSOLE_OUT_BYTES_MAX * 2 + 100}
loop:
    ANDI r2, r1, 63
    ADDI r2, r2, 48
    OUT CON_OUT, r2
    ADDI r1, r1, -1
    BNEZ r1, loop
    HALT
`,
      "out.s",
    );
    const a = live(image, "interpret", 1_000_000, 10_000_000);
    const b = live(image, {}, 1_000_000, 10_000_000);
    expect(a.trail.length).toBeGreaterThan(2);
    expect(b.trail).toEqual(a.trail);
    expect(b.out).toBe(a.out);
    expect(state(b.m)).toEqual(state(a.m));
  });
});

describe("compiled engine costs", () => {
  it("attaches cheaply to a big program and keeps each generated function bounded", () => {
    const lines = ["main:", "LI r12, 3", "top:"];
    for (let i = 0; i < 10_000; i++) lines.push(i % 50 === 49 ? `BEQ r1, r2, t${i}\nt${i}:` : `ADDI r${(i % 9) + 1}, r${((i + 1) % 9) + 1}, ${i}`);
    lines.push("ADDI r12, r12, -1", "BNEZ r12, top", "HALT");
    const image = assemble(lines.join("\n"), "big.s");
    const sizes: number[] = [];
    const m = new Machine(image);
    const t0 = performance.now();
    attachEngine(m, { hotThreshold: 1, onCompile: (i) => sizes.push(i.instructions) });
    expect(m.run(1)).toBe("continue");
    const attachMs = performance.now() - t0;
    expect(attachMs).toBeLessThan(250); // typically a few ms; generous for loaded CI machines
    expect(m.run(1e9)).toBe("halted");
    const ref = new Machine(image);
    ref.run(1e9);
    expect(state(m)).toEqual(state(ref));
    expect(sizes.length).toBeGreaterThan(1);
    for (const s of sizes) expect(s).toBeLessThanOrEqual(1200);
  });
});

// ---- issue 18: a loop left by a branch past dead code ------------------------------------

/**
 * The program of issue 18: the ADDI r7 is dead code (the BNEZ before it is always taken),
 * so r7 stays 0. The compiled engine used to compile the branch to `far` as "leave the
 * loop" and land on the instruction after the loop's JMP, the dead ADDI: 996.
 */
const ISSUE_18 = `
.include "printnum.s"
main:  LI r8, 1000
       LI r6, top
top:   ADDI r8, r8, -1
       BEQZ r8, done
       LI r3, 1
       BNEZ r3, far        ; always taken
       JMP top
       ADDI r7, r7, 1      ; dead
far:   NOP
       JR r6
done:  MOV r1, r7          ; print r7 and HALT
       CALL print_uint
       HALT
`;

describe("issue 18: the compiled engine skips dead code after a loop", () => {
  it("prints 0 on both engines, whatever the threshold and shape", () => {
    const image = assemble(ISSUE_18, "issue18.s");
    for (const opts of [{}, { hotThreshold: 1 }, { hotThreshold: 1, blockInstructionsMax: 2 }, { hotThreshold: 2, chunkIcount: 64 }] as CompileOptions[]) {
      const a = live(image, "interpret", 200_000, 1_000_000);
      const b = live(image, opts, 200_000, 1_000_000);
      expect(a.out).toBe("0");
      expect(b.out, JSON.stringify(opts)).toBe("0");
      expect(state(b.m)).toEqual(state(a.m));
      // And after every single instruction.
      runBoth(image, [1, 7, 3], opts, 1e9, 1e9);
    }
  });

  it("ftvm run and ftvm run --interpret both print 0; a default-engine log replays with --interpret", () => {
    const root = new URL("..", import.meta.url).pathname;
    const dir = mkdtempSync(join(tmpdir(), "ftvm-issue18-"));
    const prog = join(dir, "issue18.s");
    const log = join(dir, "issue18.ftlog");
    writeFileSync(prog, ISSUE_18);
    const ftvm = (args: string[]) => spawnSync(process.execPath, [...ftvmArgs(), ...args], { cwd: root, encoding: "utf8", input: "", timeout: 60_000 });
    for (const args of [["run", prog], ["run", "--interpret", prog]]) {
      const r = ftvm(args);
      expect(r.stderr, args.join(" ")).toBe("");
      expect(r.status, args.join(" ")).toBe(0);
      expect(r.stdout, args.join(" ")).toBe("0");
    }
    // The interpreter halts at icount 6017 (1000 passes of 6 instructions, and the end).
    const rec = ftvm(["record", prog, "-o", log]);
    expect(rec.status, rec.stderr).toBe(0);
    expect(rec.stdout).toBe("0");
    expect(rec.stderr).toMatch(/halted at icount 6017 /);
    const rep = ftvm(["replay", "--interpret", log]);
    expect(rep.status, rep.stderr).toBe(0);
    expect(rep.stdout).toBe("0");
  }, 120_000);
});

describe("the compiled engine's control-flow facts come from the ISA table", () => {
  it("isConditional holds for exactly the opcodes isa/table.ts marks conditional, each a block-ending branch with a target", () => {
    const marked = OPS.filter((s) => s.conditional);
    expect(marked.map((s) => s.name)).toEqual(["BEQ", "BNE", "BLT", "BGE", "BLTU", "BGEU", "BEQZ", "BNEZ"]);
    for (const s of marked) expect([s.ends, s.target]).toEqual([true, true]);
    for (let op = 0; op < 256; op++) expect(isConditional(op), `opcode ${op}`).toBe(BY_OP[op]?.conditional === true);
  });
});
