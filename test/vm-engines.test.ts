// The compiled engine (src/vm/compile.ts) against the reference interpreter (src/vm/interp.ts):
// generated programs run under both with the same slice limits must be in exactly the
// same state after every slice (registers, pc, icount, interrupt state, trap with its
// detail, dirty pages, memory digest); slices must stop at exactly their limit; sys
// instructions, interrupts and stop requests must behave identically under a live
// environment, and a log recorded with one engine must replay with the other.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assemble } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import { CONSOLE_OUT_BYTES_MAX } from "../src/devices/console.js";
import type { Event } from "../src/devices/events.js";
import { attachEngine } from "../src/host/engine.js";
import { LiveEnv } from "../src/replay/live.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner } from "../src/replay/session.js";
import { QueueSource } from "../src/replay/source.js";
import { fakeWorld } from "../src/replay/world.js";
import { type CompileOptions, compiledEngine } from "../src/vm/compile.js";
import { memDigest } from "../src/vm/digest.js";
import type { Image } from "../src/vm/image.js";
import { Machine, type MachineOptions, type RunResult } from "../src/vm/machine.js";

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

// ---- generated programs ----------------------------------------------------------------
// Registers: r0-r9 are free for the generated code (r9 also holds divisors), r10 points into the data area, r11-r13
// count loops (by nesting depth), r14 holds addresses for JR/CALLR, r15 is the stack pointer.

type Stmt =
  | { k: "op"; text: string }
  | { k: "if"; cond: string; a: number; b: number; body: Stmt[] }
  | { k: "loop"; n: number; body: Stmt[] }
  | { k: "call"; f: number; viaReg: boolean }
  | { k: "jr"; body: Stmt[] }
  | { k: "pushpop"; a: number; b: number; body: Stmt[] };

const IMMS = [0, 1, -1, 2, 3, 4, 31, 32, 33, 255, 0xffff, 12345, -77, 0x7fffffff, -0x80000000, 0x80000000, 0xfffffffc];
const dst = fc.integer({ min: 0, max: 9 });
const src = fc.integer({ min: 0, max: 15 });
const imm = fc.oneof(fc.constantFrom(...IMMS), fc.integer({ min: -1000, max: 1000 }), fc.integer());
const r = (i: number) => `r${i}`;
const mem = (base: string, off: number) => (off < 0 ? `[${base} - ${-off}]` : `[${base} + ${off}]`);
const op = (text: fc.Arbitrary<string>) => text.map((t): Stmt => ({ k: "op", text: t }));

const R3 = ["ADD", "SUB", "MUL", "AND", "OR", "XOR", "SHL", "SHR", "SAR", "SLT", "SLTU"];
const DIVS = ["DIV", "DIVU", "REM", "REMU"];
const RI = ["ADDI", "MULI", "ANDI", "ORI", "XORI", "SHLI", "SHRI", "SARI", "SLTI", "SLTIU"];
const CONDS = ["BEQ", "BNE", "BLT", "BGE", "BLTU", "BGEU", "BEQZ", "BNEZ"];
const MEMOPS = ["LDW", "LDB", "STW", "STB"];
// Data area: `area` starts at 256; r10 = area + 256, memory is 16 KiB, the stack its top 2 KiB.
const inRange = fc.integer({ min: -64, max: 900 }).map((x) => x * 4);
const anyOffset = fc.oneof(fc.integer({ min: -520, max: 16200 }), fc.integer({ min: 16116, max: 16132 }));
const absolute = fc.constantFrom(0, 4, 1023, 16380, 16381, 16383, 16384, 100000, 0xfffffffc);

// Weighted so that programs usually run a while (about 4% of instructions may trap).
const leaf: fc.Arbitrary<Stmt> = fc.oneof(
  { arbitrary: op(fc.tuple(fc.constantFrom(...R3), dst, src, src).map(([o, a, b, c]) => `${o} ${r(a)}, ${r(b)}, ${r(c)}`)), weight: 50 },
  { arbitrary: op(fc.tuple(fc.constantFrom(...DIVS), dst, src, src).map(([o, a, b, c]) => `ORI r9, ${r(c)}, 1\n${o} ${r(a)}, ${r(b)}, r9`)), weight: 8 },
  { arbitrary: op(fc.tuple(fc.constantFrom(...DIVS), dst, src, src).map(([o, a, b, c]) => `${o} ${r(a)}, ${r(b)}, ${r(c)}`)), weight: 1 }, // may divide by zero
  { arbitrary: op(fc.tuple(fc.constantFrom(...RI), dst, src, imm).map(([o, a, b, i]) => `${o} ${r(a)}, ${r(b)}, ${i}`)), weight: 40 },
  { arbitrary: op(fc.tuple(dst, imm).map(([a, i]) => `LI ${r(a)}, ${i}`)), weight: 15 },
  { arbitrary: op(fc.tuple(dst, src).map(([a, b]) => `MOV ${r(a)}, ${r(b)}`)), weight: 8 },
  { arbitrary: op(fc.tuple(fc.constantFrom(...MEMOPS), dst, inRange).map(([o, a, off]) => `${o} ${r(a)}, ${mem("r10", off)}`)), weight: 40 },
  { arbitrary: op(fc.tuple(fc.constantFrom(...MEMOPS), dst, anyOffset).map(([o, a, off]) => `${o} ${r(a)}, ${mem("r10", off)}`)), weight: 2 }, // misaligned or out of range
  { arbitrary: op(fc.tuple(fc.constantFrom(...MEMOPS), dst, src, fc.integer({ min: -8, max: 8 })).map(([o, a, b, off]) => `${o} ${r(a)}, ${mem(r(b), off)}`)), weight: 1 },
  { arbitrary: op(fc.tuple(fc.constantFrom(...MEMOPS), dst, absolute).map(([o, a, addr]) => `${o} ${r(a)}, [${addr}]`)), weight: 1 },
  { arbitrary: op(fc.tuple(dst).map(([a]) => `ICOUNT ${r(a)}`)), weight: 4 },
  { arbitrary: op(fc.constantFrom("NOP", "DI", "SETVEC 3, main")), weight: 4 },
  { arbitrary: op(fc.tuple(src).map(([a]) => `PUSH ${r(a)}`)), weight: 1 }, // unbalanced: RET goes astray
  { arbitrary: op(fc.tuple(dst).map(([a]) => `POP ${r(a)}`)), weight: 1 },
  { arbitrary: op(fc.constantFrom(-4, 4, 8, -8, 2, -2000, 2000).map((k) => `ADDI r15, r15, ${k}`)), weight: 1 }, // stack traps
  { arbitrary: op(fc.constantFrom("HALT", ".invalid 0xfe, 0", ".invalid 0x05, 7", "JMP the_end", "LI r14, 99999\nJR r14", "LI r14, -1\nCALLR r14", "PUSH r3\nRET")), weight: 1 },
);

function stmts(depth: number): fc.Arbitrary<Stmt[]> {
  if (depth === 0) return fc.array(leaf, { maxLength: 8 });
  const inner = stmts(depth - 1);
  const stmt: fc.Arbitrary<Stmt> = fc.oneof(
    { arbitrary: leaf, weight: 12 },
    { arbitrary: fc.record({ k: fc.constant("if" as const), cond: fc.constantFrom(...CONDS), a: src, b: src, body: inner }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant("loop" as const), n: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 7, max: 40 })), body: inner }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant("call" as const), f: fc.nat(), viaReg: fc.boolean() }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant("jr" as const), body: inner }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant("pushpop" as const), a: src, b: dst, body: inner }), weight: 2 },
  );
  return fc.array(stmt, { maxLength: 6 });
}

const programArb = fc
  .record({
    main: stmts(3),
    funcs: fc.array(stmts(2), { maxLength: 3 }),
    end: fc.constantFrom("HALT", "HALT", "HALT", "", "JMP main"),
  })
  .map(render);

function render(p: { main: Stmt[]; funcs: Stmt[][]; end: string }): string {
  let labels = 0;
  const out: string[] = [];
  const emit = (s: Stmt[], fn: number, depth: number, inFunc: boolean) => {
    for (const x of s) {
      switch (x.k) {
        case "op":
          out.push(x.text);
          break;
        case "if": {
          const l = `skip${labels++}`;
          out.push(x.cond === "BEQZ" || x.cond === "BNEZ" ? `${x.cond} ${r(x.a)}, ${l}` : `${x.cond} ${r(x.a)}, ${r(x.b)}, ${l}`);
          emit(x.body, fn, depth, inFunc);
          out.push(`${l}:`);
          break;
        }
        case "loop": {
          if (depth >= 3) break;
          const c = r(13 - depth);
          const l = `loop${labels++}`;
          if (inFunc) out.push(`PUSH ${c}`);
          out.push(`LI ${c}, ${x.n}`, `${l}:`);
          emit(x.body, fn, depth + 1, inFunc);
          out.push(`ADDI ${c}, ${c}, -1`, `BNEZ ${c}, ${l}`);
          if (inFunc) out.push(`POP ${c}`);
          break;
        }
        case "call": {
          // Functions only call later ones, so calls cannot recurse forever.
          const first = fn + 1;
          const count = p.funcs.length - first;
          if (count <= 0) break;
          const f = `f${first + (x.f % count)}`;
          out.push(x.viaReg ? `LI r14, ${f}\nCALLR r14` : `CALL ${f}`);
          break;
        }
        case "jr": {
          const l = `over${labels++}`;
          out.push(`LI r14, ${l}`, `JR r14`);
          emit(x.body, fn, depth, inFunc);
          out.push(`${l}:`);
          break;
        }
        case "pushpop":
          out.push(`PUSH ${r(x.a)}`);
          emit(x.body, fn, depth, inFunc);
          out.push(`POP ${r(x.b)}`);
          break;
      }
    }
  };
  out.push(".data", "pad: .zero 256", "area: .zero 4096", ".code", "main:", "LI r10, area + 256");
  emit(p.main, -1, 0, false);
  out.push(p.end);
  p.funcs.forEach((f, i) => {
    out.push(`f${i}:`);
    emit(f, i, 0, true);
    out.push("RET");
  });
  out.push("the_end:");
  return out.join("\n");
}

const sliceArb = fc.array(fc.oneof(fc.constantFrom(1, 2, 3, 7, 13, 100, 1000, 5000), fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 6 });
const optsArb: fc.Arbitrary<CompileOptions> = fc.record({
  hotThreshold: fc.constantFrom(1, 2, 4),
  chunkIcount: fc.constantFrom(5, 64, 100_000),
  regionInstructionsMax: fc.constantFrom(16, 100, 1200),
  blockInstructionsMax: fc.constantFrom(2, 5, 64),
});

describe("compiled engine = reference interpreter", () => {
  it("agrees on generated programs after every slice", () => {
    fc.assert(
      fc.property(programArb, sliceArb, optsArb, (source, slices, opts) => {
        runBoth(assemble(source, "gen.s"), slices, opts);
      }),
      { numRuns: 400 },
    );
  }, 300_000);

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

// ---- sys instructions, interrupts and stop requests under a live environment ----------

const SYS_BODY = [
  "ADD r%a, r%b, r%c",
  "MULI r%a, r%b, %i",
  "ADDI r%a, r%b, %i",
  "TIME r%a",
  "RAND r%a",
  "HOSTID r%a",
  "ICOUNT r%a",
  "IN r%a, TIMER_TICKS",
  "IN r%a, CON_STATUS",
  "IN r%a, CLOCK_HI",
  "ANDI r%a, r%b, 127\nADDI r%a, r%a, 32\nOUT CON_OUT, r%a",
  "ANDI r9, r%a, 252\nSTW r%b, [r9 + buf]",
  "ANDI r9, r%a, 255\nLDB r%b, [r9 + buf]",
  "DI\nADDI r%a, r%a, 1\nEI",
  "EI",
  "WFI",
  "CALL sub",
  "LI r9, 3\nspin%n:\nADDI r9, r9, -1\nBNEZ r9, spin%n",
];

const sysProgram = fc.record({
  period: fc.integer({ min: 30, max: 2000 }),
  iterations: fc.integer({ min: 1, max: 40 }),
  consoleIrq: fc.boolean(),
  body: fc.array(
    fc.record({ op: fc.integer({ min: 0, max: SYS_BODY.length - 1 }), a: fc.integer({ min: 1, max: 8 }), b: fc.integer({ min: 1, max: 8 }), c: fc.integer({ min: 1, max: 8 }), i: fc.integer({ min: -100, max: 100 }) }),
    { minLength: 1, maxLength: 20 },
  ),
});

function sysSource(p: typeof sysProgram extends fc.Arbitrary<infer T> ? T : never): string {
  const body = p.body
    .map((x, n) => SYS_BODY[x.op].replace(/%a/g, String(x.a)).replace(/%b/g, String(x.b)).replace(/%c/g, String(x.c)).replace(/%i/g, String(x.i)).replace(/%n/g, String(n)))
    .join("\n");
  return `
.data
buf: .zero 256
ring: .zero 64
.code
main:
    SETVEC VEC_TIMER, on_tick
    SETVEC VEC_CONSOLE, on_input
    LI r1, ${p.period}
    OUT TIMER_PERIOD, r1
    LI r1, ${p.consoleIrq ? 1 : 0}
    OUT CON_CTRL, r1
    LI r13, ${p.iterations}
    EI
loop:
${body}
    ADDI r13, r13, -1
    BNEZ r13, loop
    HALT
sub:
    PUSH r1
    RAND r1
    STW r1, [buf + 12]
    POP r1
    RET
on_tick:
    PUSH r1
    TIME r1
    STW r1, [buf + 4]
    LDW r1, [buf]
    ADDI r1, r1, 1
    STW r1, [buf]
    POP r1
    IRET
on_input:
    PUSH r1
    PUSH r2
rx:
    IN r1, CON_IN
    BLT r1, r0, rx_done
    LDW r2, [buf + 8]
    ANDI r2, r2, 63
    STB r1, [r2 + ring]
    ADDI r2, r2, 1
    STW r2, [buf + 8]
    OUT CON_OUT, r1
    JMP rx
rx_done:
    POP r2
    POP r1
    IRET
`;
}

interface Timing {
  seed: number;
  slices: number[];
  clockSteps: number[];
  inputs: { at: number; bytes: number[] }[];
  stopAfterInput: boolean;
}

/** Runs live (as `ftvm record` does) with the given engine; returns the log, output and the per-step trail. */
function live(image: Image, t: Timing, engine: CompileOptions | "interpret", maxIcount = 20_000) {
  const m = new Machine(image);
  if (engine !== "interpret") attachEngine(m, engine);
  const events: Event[] = [];
  const world = fakeWorld(t.seed, 9, 3);
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, world, (e) => events.push(e), { stopAfterInput: t.stopAfterInput });
  bus.env = env;
  const inputs = [...t.inputs].sort((x, y) => x.at - y.at);
  const trail: string[] = [];
  let out = "";
  for (let step = 0; step < 50_000; step++) {
    while (inputs.length && inputs[0].at <= step) env.postConsole(new Uint8Array(inputs.shift()!.bytes));
    if (step === 250) env.endConsole();
    const runner = new LiveRunner(bus, env, { sliceIcount: t.slices[step % t.slices.length], maxIcount });
    const r = runner.step();
    out += Buffer.from(bus.console.drainOutput()).toString("latin1");
    trail.push(`${r}@${m.icount}:${m.pc}`);
    world.advance(t.clockSteps[step % t.clockSteps.length]);
    if (r === "halted" || r === "trapped" || r === "max-icount") {
      runner.end(r);
      break;
    }
  }
  return { m, events, out, trail };
}

function replay(image: Image, events: Event[], slice: number, engine: CompileOptions | "interpret") {
  const m = new Machine(image);
  if (engine !== "interpret") attachEngine(m, engine);
  const q = new QueueSource();
  q.push(events);
  const bus = new Bus(m, undefined as never);
  const env = new ReplayEnv(bus, q);
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { sliceIcount: slice });
  for (let guard = 0; guard < 1_000_000; guard++) {
    const r = runner.step(m.icount);
    if (r === "end") break;
    if (r === "needs-log") throw new Error(`replay stalled at icount ${m.icount}`);
  }
  return m;
}

const timingArb: fc.Arbitrary<Timing> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  slices: fc.array(fc.oneof(fc.integer({ min: 1, max: 500 }), fc.constantFrom(1, 2, 100_000)), { minLength: 1, maxLength: 8 }),
  clockSteps: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 8 }),
  inputs: fc.array(fc.record({ at: fc.integer({ min: 0, max: 200 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 20 }) }), { maxLength: 6 }),
  stopAfterInput: fc.boolean(),
});

describe("compiled engine with devices", () => {
  it("runs live exactly like the interpreter: same events, output, stops and state", () => {
    fc.assert(
      fc.property(sysProgram, timingArb, optsArb, fc.integer({ min: 1, max: 1000 }), (p, timing, opts, replaySlice) => {
        const image = assemble(sysSource(p), "sys.s");
        const a = live(image, timing, "interpret");
        const b = live(image, timing, opts);
        expect(b.trail).toEqual(a.trail);
        expect(b.events).toEqual(a.events);
        expect(b.out).toBe(a.out);
        expect(state(b.m)).toEqual(state(a.m));
        // A log recorded by one engine replays with the other.
        if (!timing.stopAfterInput) {
          expect(state(replay(image, a.events, replaySlice, opts))).toEqual(state(a.m));
          expect(state(replay(image, b.events, replaySlice, "interpret"))).toEqual(state(b.m));
        }
      }),
      { numRuns: 150 },
    );
  }, 300_000);

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
    const t: Timing = { seed: 1, slices: [1_000_000], clockSteps: [1], inputs: [], stopAfterInput: false };
    const a = live(image, t, "interpret", 10_000_000);
    const b = live(image, t, {}, 10_000_000);
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
