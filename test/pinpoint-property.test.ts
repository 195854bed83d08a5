// Issue 13 point 2, as a property: when two traces differ between events, re-executing
// from the last common record names the exact instruction. On random programs (loops,
// arithmetic, loads and stores, TIME and RAND reads, which are events), execution A is a
// live run and B a replay of A's log in which one instruction, at a random icount N,
// leaves a wrong result (a register bit or a stored byte flipped, as a faulty engine or
// host would). Whenever the traces differ, pinpoint() must name the instruction that
// retired at icount N, its pc (checked against an independent re-execution) and source
// line, and exactly the flipped register or byte as expected/got.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assemble } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import type { Event } from "../src/devices/events.js";
import { LiveEnv } from "../src/replay/live.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner } from "../src/replay/session.js";
import { fakeWorld } from "../src/replay/world.js";
import { diffTraces } from "../src/trace/diff.js";
import type { TraceHeader, TraceRecord } from "../src/trace/format.js";
import { TraceDecoder } from "../src/trace/format.js";
import { describePinpoint, pinpoint } from "../src/trace/pinpoint.js";
import { reexecute } from "../src/trace/reexec.js";
import { compiledEngine } from "../src/vm/compile.js";
import { Tracer } from "../src/trace/tracer.js";
import { memDigest, regsDigest } from "../src/vm/digest.js";
import type { Image } from "../src/vm/image.js";
import { interpret } from "../src/vm/interp.js";
import { Machine, PAGE_SHIFT, type RunResult } from "../src/vm/machine.js";
import { getMachineState, setMachineState } from "../src/vm/snapshot.js";

const MEM = { memBytes: 16384, stackBytes: 2048 };
const INTERVAL = 40;
const ICOUNT_MAX = 4000;
const DATA_WORDS = 16;

// ---- random programs -------------------------------------------------------------

type Stmt =
  | { k: "op"; op: string; a: number; b: number; c: number }
  | { k: "li"; a: number; imm: number }
  | { k: "st"; a: number; w: number }
  | { k: "ld"; a: number; w: number }
  | { k: "in"; op: "TIME" | "RAND"; a: number }
  | { k: "loop"; n: number; body: Stmt[] };

const reg = fc.integer({ min: 1, max: 6 });
const leaf: fc.Arbitrary<Stmt> = fc.oneof(
  fc.record({ k: fc.constant("op" as const), op: fc.constantFrom("ADD", "SUB", "MUL", "XOR", "AND", "OR", "SHL"), a: reg, b: reg, c: reg }),
  fc.record({ k: fc.constant("li" as const), a: reg, imm: fc.integer({ min: -100000, max: 100000 }) }),
  fc.record({ k: fc.constant("st" as const), a: reg, w: fc.integer({ min: 0, max: DATA_WORDS - 1 }) }),
  fc.record({ k: fc.constant("ld" as const), a: reg, w: fc.integer({ min: 0, max: DATA_WORDS - 1 }) }),
  fc.record({ k: fc.constant("in" as const), op: fc.constantFrom("TIME" as const, "RAND" as const), a: reg }),
);
const body = fc.array(leaf, { minLength: 1, maxLength: 8 });
const stmt: fc.Arbitrary<Stmt> = fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 1, arbitrary: fc.record({ k: fc.constant("loop" as const), n: fc.integer({ min: 2, max: 60 }), body }) });
const programArb = fc.array(stmt, { minLength: 3, maxLength: 25 });

/** Renders statements; loops count in r8 (r9 for a nested one is never needed: loops do not nest). */
function render(stmts: Stmt[]): string {
  const out = [".data", `data: .zero ${DATA_WORDS * 4}`, ".code", "main:"];
  let label = 0;
  const one = (s: Stmt) => {
    switch (s.k) {
      case "op": out.push(`    ${s.op} r${s.a}, r${s.b}, r${s.c}`); break;
      case "li": out.push(`    LI r${s.a}, ${s.imm}`); break;
      case "st": out.push(`    STW r${s.a}, [data + ${s.w * 4}]`); break;
      case "ld": out.push(`    LDW r${s.a}, [data + ${s.w * 4}]`); break;
      case "in": out.push(`    ${s.op} r${s.a}`); break;
      case "loop": {
        const l = `loop${label++}`;
        out.push(`    LI r8, ${s.n}`, `${l}:`);
        s.body.forEach(one);
        out.push(`    ADDI r8, r8, -1`, `    BNEZ r8, ${l}`);
        break;
      }
    }
  };
  // Twice around the whole program, so most programs run long enough for many records.
  out.push("    LI r7, 3", "again:");
  stmts.forEach(one);
  out.push("    ADDI r7, r7, -1", "    BNEZ r7, again", "    HALT");
  return out.join("\n") + "\n";
}

// ---- executions ------------------------------------------------------------------

type Fault = { icount: number; reg?: number; byte?: number; bit: number };

/**
 * The reference interpreter, except that the instruction that retires at fault.icount
 * leaves one bit flipped (once). A call that reaches it returns there, as a stop would.
 */
function faultyEngine(fault: Fault): (m: Machine, limit: number) => RunResult {
  let done = false;
  return (m, limit) => {
    if (done || m.icount >= fault.icount) return interpret(m, limit);
    const r = interpret(m, Math.min(limit, fault.icount));
    if (m.icount === fault.icount) flip(m);
    return r;
  };
  function flip(m: Machine) {
    done = true;
    if (fault.reg !== undefined) m.regs[fault.reg] ^= 1 << fault.bit;
    else {
      m.mem[fault.byte!] ^= 1 << fault.bit;
      m.dirty[fault.byte! >>> PAGE_SHIFT] = 1;
    }
  }
}

function decode(chunks: Uint8Array[]): { header: TraceHeader; records: TraceRecord[] } {
  const d = new TraceDecoder();
  for (const c of chunks) d.push(c);
  const header = d.readHeader()!;
  const records: TraceRecord[] = [];
  for (let b = d.nextRecords(); b; b = d.nextRecords()) records.push(...b);
  return { header, records };
}

function header(_image: Image): TraceHeader {
  // Both traces are of the same program; the image bytes only serve disassembly in the CLI.
  return { image: new Uint8Array(0), intervalIcount: INTERVAL, program: "p.s", role: "record" };
}

/** A: a live run, its log and its trace. */
function recordRun(image: Image, seed: number) {
  const m = new Machine(image, MEM);
  const bus = new Bus(m, undefined as never);
  const events: Event[] = [];
  const env = new LiveEnv(bus, fakeWorld(seed, 5, 3), (e) => events.push(e), { stopAfterInput: true });
  bus.env = env;
  const chunks: Uint8Array[] = [];
  const tracer = new Tracer(m, header(image), (c) => chunks.push(c));
  const runner = new LiveRunner(bus, env, { maxIcount: ICOUNT_MAX, sliceIcount: 1000, tracer });
  for (let r = runner.step(); r === "continue"; r = runner.step());
  runner.end(m.halted ? "halted" : "max-icount");
  tracer.flush();
  return { events, trace: decode(chunks) };
}

/** A replay of `events`; with a fault, B. Stops at a replay divergence (its trace then just ends). */
function replayMachine(image: Image, events: readonly Event[], engine?: Machine["engine"]) {
  const m = new Machine(image, MEM);
  if (engine) m.engine = engine;
  const bus = new Bus(m, undefined as never);
  let i = 0;
  const env = new ReplayEnv(bus, { peek: () => events[i], take: () => void i++ }, { stopAfterInput: true });
  bus.env = env;
  return { m, bus, env, position: () => i };
}

function replayRun(image: Image, events: readonly Event[], engine?: Machine["engine"]) {
  const r = replayMachine(image, events, engine);
  const chunks: Uint8Array[] = [];
  const tracer = new Tracer(r.m, header(image), (c) => chunks.push(c));
  const runner = new ReplayRunner(r.bus, r.env, { sliceIcount: 1000, tracer });
  const last = events[events.length - 1].icount;
  try {
    for (let s = runner.step(last); s === "continue"; s = runner.step(last));
  } catch {
    // a divergence from the log: the trace ends here
  }
  tracer.flush();
  return decode(chunks);
}

/** The reference re-execution of A's log up to record `index` (its state, checked by digest), as a restorable state. */
function stateAtRecord(image: Image, events: readonly Event[], index: number, rec: TraceRecord) {
  const r = replayMachine(image, events);
  const tracer = new Tracer(r.m, header(image), () => undefined);
  const runner = new ReplayRunner(r.bus, r.env, { sliceIcount: 1000, tracer });
  const last = events[events.length - 1].icount;
  while (tracer.records < index + 1) runner.step(last);
  expect(r.m.icount).toBe(rec.icount);
  expect([regsDigest(r.m), memDigest(r.m)]).toEqual([rec.regsDigest, rec.memDigest]);
  return { state: getMachineState(r.m), position: r.position() };
}

function side(image: Image, events: readonly Event[], from: { state: ReturnType<typeof getMachineState>; position: number }, engine?: Machine["engine"]) {
  const rest = events.slice(from.position);
  const r = replayMachine(image, rest, engine);
  setMachineState(r.m, from.state);
  return r.m;
}

// ---- the property ----------------------------------------------------------------

describe("a divergence between events is pinpointed to the exact instruction", () => {
  it("on random programs, with a wrong register or stored byte at a random icount", () => {
    let pinpointed = 0;
    fc.assert(
      fc.property(programArb, fc.integer({ min: 1, max: 1 << 30 }), fc.integer({ min: 1, max: ICOUNT_MAX - 1 }), fc.boolean(), fc.integer({ min: 0, max: 31 }), (prog, seed, at, inReg, bit) => {
        const src = render(prog);
        const image = assemble(src, "p.s");
        const a = recordRun(image, seed);
        const lastRec = a.trace.records[a.trace.records.length - 1];
        fc.pre(lastRec !== undefined && at < lastRec.icount);
        const dataAddr = image.symbols.find((s) => s.name === "data")?.value ?? 0;
        const fault: Fault = inReg ? { icount: at, reg: 1 + (bit % 6), bit } : { icount: at, byte: dataAddr + (bit % (DATA_WORDS * 4)), bit: bit % 8 };
        const b = replayRun(image, a.events, faultyEngine(fault));
        const d = diffTraces(a.trace.header, b.header, a.trace.records[Symbol.iterator](), b.records[Symbol.iterator]());
        // Only a difference in a record (not a trace that ends early at a replay divergence) is this property's case.
        fc.pre(!d.identical && d.records <= b.records.length && d.records <= a.trace.records.length);
        const k = d.records - 2; // the last common record (index), -1: none
        fc.pre(k >= 0);
        const rec = a.trace.records[k];
        const next = a.trace.records[k + 1];
        expect(rec.icount).toBeLessThan(at);
        const from = stateAtRecord(image, a.events, k, rec);
        const p = pinpoint(side(image, a.events, from), side(image, a.events, from, faultyEngine(fault)), Math.max(next.icount, b.records[k + 1].icount));
        expect(p.found).toBe(true);
        expect(p.icount).toBe(at);
        // The pc of the instruction that retired at icount `at`, by an independent re-execution.
        const ref = replayMachine(image, a.events);
        const refRunner = new ReplayRunner(ref.bus, ref.env, { sliceIcount: 1 });
        while (ref.m.icount < at - 1) refRunner.step(at - 1, at - 1);
        expect(p.pc).toBe(ref.m.pc);
        expect(image.lines[p.pc]).toMatch(/^p\.s:\d+$/);
        const text = describePinpoint(p, (pc) => `[${image.lines[pc]}]`).join("\n");
        expect(text).toContain(`icount ${at - 1} -> ${at}, pc ${p.pc}: [${image.lines[p.pc]}]`);
        if (fault.reg !== undefined) {
          expect(p.regs).toEqual([{ r: fault.reg, expected: expect.any(Number), got: expect.any(Number) }]);
          expect((p.regs[0].expected ^ p.regs[0].got) >>> 0).toBe((1 << fault.bit) >>> 0);
          expect(p.memory).toEqual([]);
        } else {
          expect(p.regs).toEqual([]);
          expect(p.memory).toHaveLength(1);
          expect(p.memory[0]).toMatchObject({ addr: fault.byte, length: 1 });
          expect(p.memory[0].expected[0] ^ p.memory[0].got[0]).toBe(1 << fault.bit);
        }
        pinpointed++;
      }),
      { seed: 1313, numRuns: 100 },
    );
    // The property must not hold vacuously: most cases really pinpoint something.
    expect(pinpointed).toBeGreaterThan(30);
  });
});

describe("trace diff --log's re-execution (trace/reexec.ts)", () => {
  it("says which trace the program and the log reproduce when the two engines agree", () => {
    const image = assemble(render([{ k: "loop", n: 50, body: [{ k: "op", op: "ADD", a: 1, b: 1, c: 2 }, { k: "li", a: 2, imm: 7 }, { k: "st", a: 1, w: 3 }] }, { k: "in", op: "TIME", a: 3 }]), "p.s");
    const a = recordRun(image, 9);
    const b = replayRun(image, a.events, faultyEngine({ icount: 100, reg: 1, bit: 4 }));
    const d = diffTraces(a.trace.header, b.header, a.trace.records[Symbol.iterator](), b.records[Symbol.iterator]());
    expect(d.identical).toBe(false);
    const r = reexecute({
      image,
      ...MEM,
      events: a.events,
      intervalIcount: INTERVAL,
      prev: d.at!.prev!,
      nextA: d.at!.a,
      nextB: d.at!.b,
      compiled: () => compiledEngine({ hotThreshold: 1 }),
      disasm: (pc) => `[${image.lines[pc]}]`,
    });
    expect(r.pinpoint?.found).toBe(false);
    expect(r.lines.join("\n")).toMatch(
      new RegExp(`re-executed ${d.at!.a.icount - d.at!.prev!.icount} instructions from icount ${d.at!.prev!.icount} .* every result agrees[^\\n]*\\n  the program and the log reproduce the first trace's record at icount ${d.at!.a.icount}: the second trace's host executed differently`),
    );
  });
});
