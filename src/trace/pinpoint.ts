// The exact instruction (issue 13 point 2). A trace says that two executions agreed at
// record k and differ at record k+1, up to 100,000 instructions later. Re-executing both
// from the state at record k, one instruction at a time in lockstep, names the first
// instruction after which their states differ: its icount and pc, the registers
// expected/got, and the memory that differs as address ranges with their bytes.
//
// The caller builds the two machines, both standing at the last common record's state,
// each with its own way of executing (an engine, the environment answering its inputs).
// Memory is compared only on the pages either machine stored to since the last compare
// (the dirty flags the engines set, taken through the digests' page cache so the memory
// digest stays right), so a step costs in proportion to what it wrote.
// Pure: no clocks, no I/O.
import { REGISTER_COUNT } from "../../isa/table.js";
import { refreshPageHashes } from "../vm/digest.js";
import type { Machine } from "../vm/machine.js";
import { PAGE_BYTES } from "../vm/machine.js";

/** At most this many differing memory ranges are reported (the rest are counted). */
export const PINPOINT_RANGES_MAX = 8;
/** Bytes shown per range (longer ranges are cut, with their length said). */
export const PINPOINT_RANGE_BYTES_MAX = 16;
/** Differing bytes closer than this are reported as one range. */
const RANGE_GAP_BYTES = 8;

export interface MemRange {
  addr: number;
  length: number;
  expected: Uint8Array;
  got: Uint8Array;
}

export interface Pinpoint {
  /** True when an instruction was found after which the states differ. */
  found: boolean;
  /** The icount once the divergent instruction retired (it ran at icount - 1). */
  icount: number;
  /** The divergent instruction. */
  pc: number;
  /** An execution error that stopped one side at this instruction (e.g. it read an input the log does not have). */
  error?: { side: "a" | "b"; message: string };
  pcAfter?: { expected: number; got: number };
  regs: { r: number; expected: number; got: number }[];
  flags: string[];
  memory: MemRange[];
  /** Differing ranges beyond PINPOINT_RANGES_MAX. */
  moreRanges: number;
  /** Instructions re-executed. */
  steps: number;
}

/**
 * Steps a and b one instruction at a time until their states differ or untilIcount is
 * reached (or both stop: halted, trapped or waiting for an interrupt).
 */
export function pinpoint(a: Machine, b: Machine, untilIcount: number): Pinpoint {
  if (a.icount !== b.icount) throw new RangeError(`pinpoint: the machines stand at icount ${a.icount} and ${b.icount}`);
  // Whatever was written before the common point is equal (the caller checked the digests).
  // The dirty flags are taken through the digests' page cache, which must see every store.
  refreshPageHashes(a);
  refreshPageHashes(b);
  let steps = 0;
  while (a.icount < untilIcount) {
    const pc = a.pc;
    const before = a.icount;
    const ea = stepOne(a);
    const eb = stepOne(b);
    steps++;
    if (ea !== undefined || eb !== undefined) {
      const p = compare(a, b, before + 1, pc, steps);
      p.found = true;
      p.error = ea !== undefined ? { side: "a", message: ea } : { side: "b", message: eb! };
      return p;
    }
    const p = compare(a, b, a.icount, pc, steps);
    if (p.found) return p;
    // Both stopped alike (halted, trapped, waiting): nothing more to execute here.
    if (a.icount === before) break;
  }
  return { found: false, icount: a.icount, pc: a.pc, regs: [], flags: [], memory: [], moreRanges: 0, steps };
}

function stepOne(m: Machine): string | undefined {
  if (m.halted || m.trap || m.waiting) return undefined;
  try {
    m.run(m.icount + 1);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function compare(a: Machine, b: Machine, icount: number, pc: number, steps: number): Pinpoint {
  const p: Pinpoint = { found: false, icount, pc, regs: [], flags: [], memory: [], moreRanges: 0, steps };
  if (a.pc !== b.pc) p.pcAfter = { expected: a.pc, got: b.pc };
  for (let r = 0; r < REGISTER_COUNT; r++) if (a.regs[r] !== b.regs[r]) p.regs.push({ r, expected: a.regs[r], got: b.regs[r] });
  if (a.icount !== b.icount) p.flags.push(`icount: expected ${a.icount}, got ${b.icount}`);
  if (a.ie !== b.ie) p.flags.push(`interrupts enabled: expected ${a.ie}, got ${b.ie}`);
  if (a.waiting !== b.waiting) p.flags.push(`waiting for an interrupt: expected ${a.waiting}, got ${b.waiting}`);
  if (a.halted !== b.halted) p.flags.push(`halted: expected ${a.halted}, got ${b.halted}`);
  if ((a.trap?.kind ?? "") !== (b.trap?.kind ?? "")) p.flags.push(`trap: expected ${a.trap?.kind ?? "none"}, got ${b.trap?.kind ?? "none"}`);
  for (let v = 0; v < a.vectors.length; v++) if (a.vectors[v] !== b.vectors[v]) p.flags.push(`vector ${v}: expected ${a.vectors[v]}, got ${b.vectors[v]}`);
  diffMemory(a, b, p);
  p.found = p.pcAfter !== undefined || p.regs.length > 0 || p.flags.length > 0 || p.memory.length > 0;
  return p;
}

/** Compares the pages either machine wrote since the last compare, and clears their flags. */
function diffMemory(a: Machine, b: Machine, p: Pinpoint): void {
  let open: { start: number; end: number } | undefined;
  const close = () => {
    if (!open) return;
    if (p.memory.length >= PINPOINT_RANGES_MAX) p.moreRanges++;
    else {
      const length = open.end - open.start;
      const shown = Math.min(length, PINPOINT_RANGE_BYTES_MAX);
      p.memory.push({ addr: open.start, length, expected: a.mem.slice(open.start, open.start + shown), got: b.mem.slice(open.start, open.start + shown) });
    }
    open = undefined;
  };
  for (let pg = 0; pg < a.dirty.length; pg++) {
    if (!a.dirty[pg] && !b.dirty[pg]) {
      close();
      continue;
    }
    for (let i = pg * PAGE_BYTES; i < (pg + 1) * PAGE_BYTES; i++) {
      if (a.mem[i] === b.mem[i]) continue;
      if (open && i - open.end <= RANGE_GAP_BYTES) open.end = i + 1;
      else {
        close();
        open = { start: i, end: i + 1 };
      }
    }
  }
  close();
  refreshPageHashes(a);
  refreshPageHashes(b);
}

const hex = (x: number) => "0x" + (x >>> 0).toString(16).padStart(8, "0");
const bytesHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

/** The report's lines; `disasm` names an instruction (with its source line) by pc. */
export function describePinpoint(p: Pinpoint, disasm: (pc: number) => string, names = { a: "expected", b: "got" }): string[] {
  if (!p.found) return [`  re-executed ${p.steps} instructions from the last common record: no instruction's result differs (the difference came with an input or event, not from executing)`];
  const out = [`  the first instruction whose result differs: icount ${p.icount - 1} -> ${p.icount}, pc ${p.pc}: ${disasm(p.pc)}  (found by re-executing ${p.steps} instructions)`];
  if (p.error) out.push(`  ${p.error.side === "a" ? names.a : names.b} stops there: ${p.error.message}`);
  if (p.pcAfter) out.push(`  next pc: expected ${p.pcAfter.expected}, got ${p.pcAfter.got}`);
  for (const r of p.regs) out.push(`  r${r.r}: expected ${hex(r.expected)} (${r.expected}), got ${hex(r.got)} (${r.got})`);
  for (const f of p.flags) out.push(`  ${f}`);
  for (const m of p.memory)
    out.push(`  memory ${hex(m.addr)}..${hex(m.addr + m.length - 1)} (${m.length} byte${m.length === 1 ? "" : "s"}): expected ${bytesHex(m.expected)}, got ${bytesHex(m.got)}${m.length > m.expected.length ? " ..." : ""}`);
  if (p.moreRanges > 0) out.push(`  and ${p.moreRanges} more differing memory ranges`);
  return out;
}
