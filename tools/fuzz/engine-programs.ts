// Random guest programs and run schedules for the engine differential test
// (test/vm-engines.test.ts) and its long-run command (`npm run fuzz`, tools/fuzz/engines.ts).
//
// Why the control flow is unstructured. The first generator of this kind produced only
// structured code: forward "if" branches over their body, counted loops whose back edge
// was a conditional branch at the bottom, dynamic jumps over a block. In such code a
// loop's last block always falls through to the instruction after it, which is also the
// only way out of the loop, so it never produced the shape behind issue 18's wrong answer:
// a loop whose last block ends in an unconditional jump back, followed by dead code, with
// a branch from inside the loop to a label past that dead code. This generator adds what
// compilers and hand-written assembly both produce:
// - loops in three shapes: bottom-tested (BNEZ back), top-tested (JMP back at the bottom),
//   and bottom-tested with an exit branch and an unconditional JMP back; each may be
//   followed by dead code before its exit label;
// - break and continue to any enclosing loop, conditional or not (an unconditional one
//   leaves the rest of its body dead);
// - gotos to labels anywhere in the same routine, forward and backward, conditional or
//   not, some guarded by a fuel register so that backward ones end;
// - dynamic jumps: JR over a block, a computed jump table, a RET to a pushed label, CALLR;
// - calls (CALL and CALLR) to later routines, so calls cannot recurse without bound;
// - device instructions (IN, OUT, TIME, RAND, HOSTID, EI, DI, WFI), disk requests, and
//   handlers for the timer, console, disk and network interrupts, which the run schedule
//   delivers at instruction counts that depend on random slice lengths;
// - traps of every kind, rarely, so that most programs run a while first.
//
// Registers: r0-r8 are free for generated code, r9 is scratch (divisors, conditions, jump
// tables), r10 points into the data area, r11 and r12 count loops (by nesting depth), r13
// is goto fuel, r14 holds addresses for JR, CALLR and RET, r15 is the stack pointer.
import fc from "fast-check";
import type { CompileOptions } from "../../src/vm/compile.js";

export type Cond = { op: string; a: number; b: number };

export type Stmt =
  | { k: "op"; text: string }
  | { k: "label" }
  | { k: "goto"; cond: Cond | null; fuel: boolean; to: number }
  | { k: "if"; cond: Cond; body: Stmt[] }
  | { k: "loop"; shape: "bottom" | "top" | "jmp"; n: number; body: Stmt[]; dead: Stmt[] }
  | { k: "exit"; cond: Cond | null; cont: boolean; up: number }
  | { k: "call"; f: number; viaReg: boolean }
  | { k: "jr"; body: Stmt[] }
  | { k: "jtab"; sel: number; to: number[] }
  | { k: "dynret"; to: number }
  | { k: "pushpop"; a: number; b: number; body: Stmt[] };

export interface ProgramSpec {
  main: Stmt[];
  funcs: Stmt[][];
  /** Bodies run by the interrupt handlers (timer, console, disk, network), before their fixed part. */
  handlers: Stmt[][];
  /** 0: the timer stays off. */
  timerPeriodUs: number;
  consoleIrq: boolean;
  diskIrq: boolean;
  netIrq: boolean;
  /** EI before the body. */
  startEi: boolean;
  fuel: number;
  end: string;
}

/** When what arrives from outside, counted in run steps (one step: one slice of the run loop). */
export interface Schedule {
  /** Seeds the fake world's clock and random bits. */
  seed: number;
  /** Slice lengths, used in turn: they decide at which icounts interrupts can be delivered. */
  slices: number[];
  /** Virtual microseconds the clock advances after each step, in turn. */
  clockSteps: number[];
  inputs: { at: number; bytes: number[] }[];
  /** The step at which console input ends (-1: never). */
  consoleEndAt: number;
  /** Disk requests completed after each step, in turn, picked in a seeded order. */
  diskCompletions: number[];
  /** Network connections: each opens at `at`, receives its chunks one per step, then closes. */
  conns: { at: number; chunks: number[][] }[];
  /** Stop the machine after every input (as tracing does); always so when a tracer runs. */
  stopAfterInput: boolean;
  /** Trace record interval in instructions; 0: no tracer. */
  traceInterval: number;
  /** Slice length of the replays. */
  replaySlice: number;
}

export interface EngineCase {
  program: ProgramSpec;
  schedule: Schedule;
  /** The compiled engine's shape for the threshold-1 run (the other run uses every default). */
  shape: CompileOptions;
}

/** Data memory of the generated machines: small, so digests and comparisons stay cheap. */
export const FUZZ_MEM_BYTES = 16384;
export const FUZZ_STACK_BYTES = 2048;
/** The disk the generated machines have: 16 blocks of 64 bytes. */
export const FUZZ_DISK = { blocks: 16, blockBytes: 64 } as const;

const IMMS = [0, 1, -1, 2, 3, 4, 31, 32, 33, 255, 0xffff, 12345, -77, 0x7fffffff, -0x80000000, 0x80000000, 0xfffffffc];
const dst = fc.integer({ min: 0, max: 8 });
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
/** Ports that are safe to read at any time (reading NET_CLOSE would close a connection). */
const IN_PORTS = [
  "CON_IN", "CON_STATUS", "CON_CTRL", "TIMER_PERIOD", "TIMER_TICKS", "CLOCK_HI", "DISK_BLOCKS", "DISK_PENDING",
  "DISK_READY", "DISK_DONE", "DISK_DONE_TAG", "NET_STATUS", "NET_RECV", "NET_RX_LEN", "NET_SENT", "MEM_SIZE", "STACK_BASE",
];
// Data area: `area` starts at 256; r10 = area + 256; memory is 16 KiB, the stack its top 2 KiB.
const inRange = fc.integer({ min: -64, max: 900 }).map((x) => x * 4);
const anyOffset = fc.oneof(fc.integer({ min: -520, max: 16200 }), fc.integer({ min: 16116, max: 16132 }));
const absolute = fc.constantFrom(0, 4, 1023, 16380, 16381, 16383, 16384, 100000, 0xfffffffc);
const cond: fc.Arbitrary<Cond> = fc.record({ op: fc.constantFrom(...CONDS), a: src, b: src });

/** Arithmetic, memory and the rare trap: what every routine may contain. */
const computeLeaf: fc.Arbitrary<Stmt> = fc.oneof(
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
  { arbitrary: op(fc.constantFrom("NOP", "SETVEC 5, main")), weight: 3 },
  { arbitrary: op(fc.tuple(src).map(([a]) => `PUSH ${r(a)}`)), weight: 1 }, // unbalanced: RET goes astray
  { arbitrary: op(fc.tuple(dst).map(([a]) => `POP ${r(a)}`)), weight: 1 },
  { arbitrary: op(fc.constantFrom(-4, 4, 8, -8, 2, -2000, 2000).map((k) => `ADDI r15, r15, ${k}`)), weight: 1 }, // stack traps
  {
    arbitrary: op(fc.constantFrom("HALT", ".invalid 0xfe, 0", ".invalid 0x05, 7", "JMP the_end", "LI r14, 99999\nJR r14", "LI r14, -1\nCALLR r14", "PUSH r3\nRET", "IN r1, 0x7f", "OUT 0x7f, r1")),
    weight: 1,
  },
);

/** Device instructions: inputs (logged), outputs, interrupt control, disk requests. */
const sysLeaf: fc.Arbitrary<Stmt> = fc.oneof(
  { arbitrary: op(fc.tuple(fc.constantFrom("TIME", "RAND", "HOSTID"), dst).map(([o, a]) => `${o} ${r(a)}`)), weight: 6 },
  { arbitrary: op(fc.tuple(dst, fc.constantFrom(...IN_PORTS)).map(([a, p]) => `IN ${r(a)}, ${p}`)), weight: 6 },
  { arbitrary: op(fc.tuple(src).map(([a]) => `ANDI r9, ${r(a)}, 63\nADDI r9, r9, 48\nOUT CON_OUT, r9`)), weight: 5 },
  { arbitrary: op(fc.tuple(src).map(([a]) => `ANDI r9, ${r(a)}, 1023\nADDI r9, r9, 25\nOUT TIMER_PERIOD, r9`)), weight: 1 },
  { arbitrary: op(fc.tuple(src).map(([a]) => `OUT CON_CTRL, ${r(a)}`)), weight: 1 },
  { arbitrary: op(fc.constantFrom("EI", "DI", "EI\nWFI", "DI\nADDI r1, r1, 1\nEI", "EI\nNOP\nDI")), weight: 6 },
  { arbitrary: op(fc.constant("WFI")), weight: 1 }, // traps when interrupts are disabled
  {
    arbitrary: op(
      fc.tuple(fc.constantFrom("DISK_READ", "DISK_WRITE", "7"), src, fc.integer({ min: 0, max: 20 }), fc.constantFrom(1, 2, 3), fc.integer({ min: 0, max: 60 }), dst).map(
        ([o, tag, block, count, slot, a]) =>
          [
            `LI r9, ${o}`, "OUT DISK_OP, r9", `LI r9, ${block}`, "OUT DISK_BLOCK, r9", `LI r9, ${count}`, "OUT DISK_COUNT, r9",
            `LI r9, area + ${slot * 64}`, "OUT DISK_ADDR, r9", `OUT DISK_TAG, ${r(tag)}`, `IN ${r(a)}, DISK_START`,
          ].join("\n"),
      ),
    ),
    weight: 2,
  },
  { arbitrary: op(fc.tuple(src).map(([a]) => `LI r9, 3\nOUT NET_CONN, r9\nLI r9, 8\nOUT NET_LEN, r9\nSTW ${r(a)}, [r10]\nIN r9, NET_SEND`)), weight: 1 },
);

const leaf = (sys: boolean): fc.Arbitrary<Stmt> => (sys ? fc.oneof({ arbitrary: computeLeaf, weight: 6 }, { arbitrary: sysLeaf, weight: 1 }) : computeLeaf);

/** Statements nested up to `depth` levels; `sys`: device instructions allowed; `jumps`: gotos, tables, exits. */
function stmts(depth: number, sys: boolean, jumps: boolean): fc.Arbitrary<Stmt[]> {
  const flat: fc.WeightedArbitrary<Stmt>[] = [{ arbitrary: leaf(sys), weight: 14 }];
  if (jumps)
    flat.push(
      { arbitrary: fc.constant<Stmt>({ k: "label" }), weight: 2 },
      { arbitrary: fc.record({ k: fc.constant("goto" as const), cond: fc.option(cond, { freq: 2, nil: null }), fuel: fc.boolean(), to: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ k: fc.constant("exit" as const), cond: fc.option(cond, { freq: 3, nil: null }), cont: fc.boolean(), up: fc.nat({ max: 2 }) }), weight: 2 },
      { arbitrary: fc.record({ k: fc.constant("jtab" as const), sel: src, to: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }) }), weight: 1 },
      { arbitrary: fc.record({ k: fc.constant("dynret" as const), to: fc.nat() }), weight: 1 },
    );
  flat.push({ arbitrary: fc.record({ k: fc.constant("call" as const), f: fc.nat(), viaReg: fc.boolean() }), weight: 2 });
  if (depth === 0) return fc.array(fc.oneof(...flat), { maxLength: 8 });
  const inner = stmts(depth - 1, sys, jumps);
  const stmt: fc.Arbitrary<Stmt> = fc.oneof(
    ...flat,
    { arbitrary: fc.record({ k: fc.constant("if" as const), cond, body: inner }), weight: 3 },
    {
      arbitrary: fc.record({
        k: fc.constant("loop" as const),
        shape: fc.constantFrom("bottom" as const, "top" as const, "jmp" as const),
        n: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 7, max: 40 })),
        body: inner,
        dead: jumps ? fc.array(leaf(false), { maxLength: 2 }) : fc.constant<Stmt[]>([]),
      }),
      weight: 4,
    },
    { arbitrary: fc.record({ k: fc.constant("jr" as const), body: inner }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant("pushpop" as const), a: src, b: dst, body: inner }), weight: 2 },
  );
  return fc.array(stmt, { maxLength: 6 });
}

export const programArb: fc.Arbitrary<ProgramSpec> = fc.record({
  main: stmts(3, true, true),
  funcs: fc.array(stmts(2, true, true), { maxLength: 3 }),
  handlers: fc.array(stmts(1, false, false), { minLength: 4, maxLength: 4 }),
  timerPeriodUs: fc.oneof(fc.constant(0), fc.integer({ min: 30, max: 3000 })),
  consoleIrq: fc.boolean(),
  diskIrq: fc.boolean(),
  netIrq: fc.boolean(),
  startEi: fc.boolean(),
  fuel: fc.integer({ min: 0, max: 200 }),
  end: fc.constantFrom("HALT", "HALT", "HALT", "", "JMP main", "EI\nWFI\nJMP main"),
});

export const scheduleArb: fc.Arbitrary<Schedule> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  slices: fc.array(fc.oneof(fc.integer({ min: 1, max: 500 }), fc.constantFrom(1, 2, 3, 7, 1000, 5000, 100_000)), { minLength: 1, maxLength: 8 }),
  clockSteps: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 8 }),
  inputs: fc.array(fc.record({ at: fc.integer({ min: 0, max: 200 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 20 }) }), { maxLength: 6 }),
  consoleEndAt: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 300 })),
  diskCompletions: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 6 }),
  conns: fc.array(fc.record({ at: fc.integer({ min: 0, max: 200 }), chunks: fc.array(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), { maxLength: 4 }) }), { maxLength: 4 }),
  stopAfterInput: fc.boolean(),
  // Short intervals are rare: every record digests memory, which costs more than running.
  traceInterval: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: 100, max: 3000 }), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 99 }), weight: 1 }),
  replaySlice: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(100_000)),
});

/** The compiled engine's knobs for the threshold-1 run: defaults, and sizes small enough to split regions and blocks. */
export const shapeArb: fc.Arbitrary<CompileOptions> = fc.record({
  hotThreshold: fc.constant(1),
  chunkIcount: fc.constantFrom(5, 64, 100_000),
  regionInstructionsMax: fc.constantFrom(16, 100, 1200),
  blockInstructionsMax: fc.constantFrom(2, 5, 64),
});

export const engineCaseArb: fc.Arbitrary<EngineCase> = fc.record({ program: programArb, schedule: scheduleArb, shape: shapeArb });

interface LoopCtx {
  top: string;
  next: string;
  out: string;
}

/** Renders a program spec as assembly source. */
export function renderProgram(p: ProgramSpec): string {
  let serial = 0;
  const fresh = (what: string) => `${what}${serial++}`;
  const out: string[] = [];

  /** Renders one routine (main, a function or a handler); `fn` is its index among functions (-1 elsewhere). */
  const routine = (body: Stmt[], fn: number, inFunc: boolean, name: string) => {
    // Goto targets are the routine's label statements, numbered in source order.
    const labels: string[] = [];
    const collect = (s: Stmt[]) => {
      for (const x of s) {
        if (x.k === "label") labels.push(`${name}_g${labels.length}`);
        if ("body" in x) collect(x.body);
        if (x.k === "loop") collect(x.dead);
      }
    };
    collect(body);
    let nextLabel = 0;
    const target = (i: number) => (labels.length ? labels[i % labels.length] : undefined);
    const branch = (c: Cond, to: string) => (c.op === "BEQZ" || c.op === "BNEZ" ? `${c.op} ${r(c.a)}, ${to}` : `${c.op} ${r(c.a)}, ${r(c.b)}, ${to}`);

    const emit = (s: Stmt[], depth: number, loops: LoopCtx[]) => {
      for (const x of s) {
        switch (x.k) {
          case "op":
            out.push(x.text);
            break;
          case "label":
            out.push(`${labels[nextLabel++]}:`);
            break;
          case "goto": {
            const to = target(x.to);
            if (!to) break;
            if (x.fuel) out.push("ADDI r13, r13, -1", "SLTI r9, r13, 0", `BEQZ r9, ${to}`); // taken while fuel lasts
            else out.push(x.cond ? branch(x.cond, to) : `JMP ${to}`);
            break;
          }
          case "if": {
            const l = fresh("skip");
            out.push(branch(x.cond, l));
            emit(x.body, depth, loops);
            out.push(`${l}:`);
            break;
          }
          case "loop": {
            if (depth >= 2) {
              emit(x.body, depth, loops); // no counter register left: the body runs once
              break;
            }
            const c = r(11 + depth);
            const l = { top: fresh("top"), next: fresh("next"), out: fresh("out") };
            if (inFunc) out.push(`PUSH ${c}`);
            out.push(`LI ${c}, ${x.n}`, `${l.top}:`);
            if (x.shape === "top") out.push(`BEQZ ${c}, ${l.out}`, `ADDI ${c}, ${c}, -1`);
            emit(x.body, depth + 1, [...loops, l]);
            out.push(`${l.next}:`);
            if (x.shape === "top") out.push(`JMP ${l.top}`);
            else if (x.shape === "bottom") out.push(`ADDI ${c}, ${c}, -1`, `BNEZ ${c}, ${l.top}`);
            else out.push(`ADDI ${c}, ${c}, -1`, `BEQZ ${c}, ${l.out}`, `JMP ${l.top}`);
            // Code after an unconditional jump back is dead unless a goto lands in it.
            if (x.shape !== "bottom") emit(x.dead, depth, loops);
            out.push(`${l.out}:`);
            if (inFunc) out.push(`POP ${c}`);
            break;
          }
          case "exit": {
            if (loops.length === 0) break;
            const l = loops[loops.length - 1 - (x.up % loops.length)];
            const to = x.cont ? l.next : l.out;
            out.push(x.cond ? branch(x.cond, to) : `JMP ${to}`);
            break;
          }
          case "call": {
            // Functions only call later ones, so calls cannot recurse.
            const first = fn + 1;
            const count = p.funcs.length - first;
            if (count <= 0) break;
            const f = `f${first + (x.f % count)}`;
            out.push(x.viaReg ? `LI r14, ${f}\nCALLR r14` : `CALL ${f}`);
            break;
          }
          case "jr": {
            const l = fresh("over");
            out.push(`LI r14, ${l}`, "JR r14");
            emit(x.body, depth, loops);
            out.push(`${l}:`);
            break;
          }
          case "jtab": {
            if (!labels.length) break;
            const t = fresh("tab");
            out.push(`ANDI r14, ${r(x.sel)}, 3`, `LI r9, ${t}`, "ADD r14, r14, r9", "JR r14", `${t}:`, ...x.to.map((i) => `JMP ${target(i)}`));
            break;
          }
          case "dynret": {
            const to = target(x.to);
            if (to) out.push(`LI r14, ${to}`, "PUSH r14", "RET");
            break;
          }
          case "pushpop":
            out.push(`PUSH ${r(x.a)}`);
            emit(x.body, depth, loops);
            out.push(`POP ${r(x.b)}`);
            break;
        }
      }
    };
    emit(body, 0, []);
  };

  out.push(
    ".data",
    "pad: .zero 256",
    "area: .zero 4096",
    "buf: .zero 64",
    "ring: .zero 64",
    ".code",
    "main:",
    "LI r10, area + 256",
    `LI r13, ${p.fuel}`,
    "SETVEC VEC_TIMER, on_tick",
    "SETVEC VEC_CONSOLE, on_input",
    "SETVEC VEC_DISK, on_disk",
    "SETVEC VEC_NET, on_net",
    "LI r1, ring",
    "OUT NET_ADDR, r1",
    "LI r1, 16",
    "OUT NET_LEN, r1",
    `LI r1, ${p.timerPeriodUs}`,
    "OUT TIMER_PERIOD, r1",
    `LI r1, ${p.consoleIrq ? 1 : 0}`,
    "OUT CON_CTRL, r1",
    `LI r1, ${p.diskIrq ? 1 : 0}`,
    "OUT DISK_CTRL, r1",
    `LI r1, ${p.netIrq ? 1 : 0}`,
    "OUT NET_CTRL, r1",
  );
  if (p.startEi) out.push("EI");
  routine(p.main, -1, false, "main");
  out.push(p.end);
  p.funcs.forEach((f, i) => {
    out.push(`f${i}:`);
    routine(f, i, true, `f${i}`);
    out.push("RET");
  });
  // Handlers save what their fixed part uses; their random part may clobber r0-r8 (both
  // engines must agree on whatever that does to the interrupted code).
  const handler = (name: string, body: Stmt[], fixed: string[]) => {
    out.push(`${name}:`, "PUSH r1", "PUSH r9");
    routine(body, 1_000, true, name);
    out.push(...fixed, "POP r9", "POP r1", "IRET");
  };
  handler("on_tick", p.handlers[0], ["IN r1, TIMER_TICKS", "STW r1, [buf]", "TIME r1", "STW r1, [buf + 4]"]);
  handler("on_input", p.handlers[1], [
    "on_input_rx:", "IN r1, CON_IN", "ADDI r9, r1, 1", "BEQZ r9, on_input_done", "OUT CON_OUT, r1", "LDW r9, [buf + 8]", "ADDI r9, r9, 1",
    "STW r9, [buf + 8]", "JMP on_input_rx", "on_input_done:",
  ]);
  handler("on_disk", p.handlers[2], [
    "on_disk_next:", "IN r1, DISK_DONE", "ADDI r9, r1, 1", "BEQZ r9, on_disk_done", "IN r9, DISK_DONE_STATUS", "STW r9, [buf + 12]",
    "IN r9, DISK_DONE_TAG", "STW r9, [buf + 16]", "JMP on_disk_next", "on_disk_done:",
  ]);
  handler("on_net", p.handlers[3], [
    "on_net_next:", "IN r1, NET_RECV", "BEQZ r1, on_net_done", "IN r9, NET_RX_CONN", "STW r9, [buf + 20]", "IN r9, NET_RX_LEN",
    "STW r9, [buf + 24]", "JMP on_net_next", "on_net_done:",
  ]);
  out.push("the_end:");
  return out.join("\n");
}
