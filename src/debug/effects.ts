// Which instructions of a program may change a given register or memory range: the
// instructions a watchpoint, `last-change` or `when` must look at. The answer may include
// instructions that turn out not to change anything (they are checked after running),
// but must never miss one: test/debug.test.ts executes every opcode to hold it to that.
// Changes made when an event is delivered (an interrupt pushing pc, a disk read landing)
// are seen at the delivery, not here.
import { PORT } from "../../isa/ports.js";
import { ABSOLUTE_BIT, OP, SP, WORDS_PER_INSTRUCTION } from "../../isa/table.js";
import type { Image } from "../vm/image.js";
import { instructionCount } from "../vm/image.js";

/** Opcodes whose field A names the register they write. */
const WRITES_A: ReadonlySet<number> = new Set(
  ["MOV", "LI", "ADD", "SUB", "MUL", "DIV", "DIVU", "REM", "REMU", "AND", "OR", "XOR", "SHL", "SHR", "SAR", "SLT", "SLTU"]
    .concat(["ADDI", "MULI", "ANDI", "ORI", "XORI", "SHLI", "SHRI", "SARI", "SLTI", "SLTIU"])
    .concat(["LDW", "LDB", "POP", "IN", "TIME", "RAND", "HOSTID", "ICOUNT"])
    .map((n) => OP[n]),
);
/** Opcodes that move the stack pointer. */
const MOVES_SP: ReadonlySet<number> = new Set(["CALL", "CALLR", "RET", "PUSH", "POP", "IRET"].map((n) => OP[n]));
const CALLS: ReadonlySet<number> = new Set([OP.CALL, OP.CALLR]);

export interface Decoded {
  op: number;
  a: number;
  b: number;
  absolute: boolean;
  imm: number;
}

/** The instruction at `pc` as the image holds it (not as a patched machine shows it). */
export function decodeAt(image: Image, pc: number): Decoded {
  const w0 = image.code[pc * WORDS_PER_INSTRUCTION];
  return { op: w0 & 0xff, a: (w0 >>> 8) & 15, b: (w0 >>> 12) & 15, absolute: (w0 & ABSOLUTE_BIT) !== 0, imm: image.code[pc * WORDS_PER_INSTRUCTION + 1] };
}

/** Instructions that may write register `reg`. */
export function registerWriters(image: Image, reg: number): Set<number> {
  const out = new Set<number>();
  for (let pc = 0; pc < instructionCount(image); pc++) {
    const d = decodeAt(image, pc);
    if ((WRITES_A.has(d.op) && d.a === reg) || (reg === SP && MOVES_SP.has(d.op))) out.add(pc);
  }
  return out;
}

export interface ByteRange {
  /** First byte. */
  from: number;
  /** One past the last byte. */
  to: number;
}

/**
 * Instructions that may write memory in any of `ranges` ("any": anywhere). A store with
 * an absolute address is included only when it can touch a range; stack pushes only when
 * a range overlaps the stack region (anything else traps before writing).
 */
export function memoryWriters(image: Image, ranges: readonly ByteRange[] | "any", stack: ByteRange): Set<number> {
  const hits = (from: number, to: number) => ranges === "any" || ranges.some((r) => r.from < to && from < r.to);
  const stackHit = hits(stack.from, stack.to);
  const out = new Set<number>();
  for (let pc = 0; pc < instructionCount(image); pc++) {
    const d = decodeAt(image, pc);
    switch (d.op) {
      case OP.STW:
      case OP.STB: {
        const size = d.op === OP.STW ? 4 : 1;
        const addr = d.imm >>> 0;
        if (!d.absolute || hits(addr, addr + size)) out.add(pc);
        break;
      }
      case OP.PUSH:
      case OP.CALL:
      case OP.CALLR:
        if (stackHit) out.add(pc);
        break;
      case OP.IN:
        // NET_RECV copies a received record into memory; no other port writes memory.
        if (d.imm >>> 0 === PORT.NET_RECV) out.add(pc);
        break;
    }
  }
  return out;
}

export interface FrameOps {
  calls: Set<number>;
  returns: Set<number>;
}

/** CALL/CALLR instructions, and RET/IRET instructions: what `finish` and `reverse-finish` count. */
export function frameOps(image: Image): FrameOps {
  const calls = new Set<number>();
  const returns = new Set<number>();
  for (let pc = 0; pc < instructionCount(image); pc++) {
    const op = decodeAt(image, pc).op;
    if (CALLS.has(op)) calls.add(pc);
    else if (op === OP.RET || op === OP.IRET) returns.add(pc);
  }
  return { calls, returns };
}

export function isCall(image: Image, pc: number): boolean {
  return pc >= 0 && pc < instructionCount(image) && CALLS.has(decodeAt(image, pc).op);
}

export function isReturn(image: Image, pc: number): boolean {
  return pc >= 0 && pc < instructionCount(image) && decodeAt(image, pc).op === OP.RET;
}
