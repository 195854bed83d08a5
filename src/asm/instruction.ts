// Instruction operands: parsing them (register, memory operand or expression), checking
// them against the operand kinds an OpSpec lists, and encoding the two instruction words.
// Everything here is driven by the OpSpec, so a new table entry needs no code here.
import { ABSOLUTE_BIT, type OperandKind, type OpSpec, VECTOR_COUNT } from "../../isa/table.js";
import { AsmError, type SourceLine } from "./errors.js";
import { type Expr, parseExpr } from "./expr.js";
import { type Cursor, describe } from "./lexer.js";
import { REGISTER_EXPECTED, registerOf } from "./registers.js";

export type Operand =
  | { readonly k: "reg"; readonly reg: number; readonly text: string; readonly col: number }
  /** base undefined: absolute [expr]; offset undefined: [rB]. */
  | { readonly k: "mem"; readonly base: number | undefined; readonly offset: Expr | undefined; readonly col: number }
  | { readonly k: "expr"; readonly e: Expr; readonly col: number };

/** The signed and unsigned 32-bit readings together: what fits in an immediate word. */
export const WORD_MIN = -(2n ** 31n);
export const WORD_MAX = 2n ** 32n - 1n;

/** Parses the comma-separated operands up to the end of the line. */
export function parseOperands(cur: Cursor): Operand[] {
  const ops: Operand[] = [];
  if (cur.atEnd()) return ops;
  for (;;) {
    ops.push(parseOperand(cur));
    const t = cur.peek();
    if (t.kind === "eol") return ops;
    if (!cur.eat(",")) throw cur.error(t, `unexpected ${describe(t)} in operand (expected "," or end of line)`);
  }
}

function parseOperand(cur: Cursor): Operand {
  const t = cur.peek();
  if (t.kind === "eol" || (t.kind === "op" && t.text === ",")) throw cur.error(t, `expected an operand, found ${describe(t)}`);
  if (t.kind === "op" && t.text === "[") return parseMemory(cur);
  if (t.kind === "name") {
    const reg = registerOf(t.text);
    if (reg === "bad") throw cur.error(t, `unknown register "${t.text}" (expected ${REGISTER_EXPECTED})`);
    const after = cur.peek(1);
    if (reg !== undefined && (after.kind === "eol" || (after.kind === "op" && after.text === ","))) {
      cur.next();
      return { k: "reg", reg, text: t.text, col: t.col };
    }
    // "ADD r1 r2, r3": a register followed by another operand is a missing comma, not an expression.
    if (reg !== undefined && after.kind !== "op") throw cur.error(after, `expected "," after ${t.text}, found ${describe(after)}`);
  }
  return { k: "expr", e: parseExpr(cur), col: t.col };
}

/** [rB + expr], [rB - expr], [rB] or [expr]. */
function parseMemory(cur: Cursor): Operand {
  const open = cur.next();
  const t = cur.peek();
  let base: number | undefined;
  let offset: Expr | undefined;
  const reg = t.kind === "name" ? registerOf(t.text) : undefined;
  if (reg === "bad") throw cur.error(t, `unknown register "${t.text}" (expected ${REGISTER_EXPECTED})`);
  if (reg !== undefined) {
    cur.next();
    base = reg;
    const sign = cur.peek();
    // The offset is parsed with its sign as a unary operator, so [r1 - 4 + 2] means r1 - 2.
    if (sign.kind === "op" && (sign.text === "+" || sign.text === "-")) offset = parseExpr(cur);
    else if (!(sign.kind === "op" && sign.text === "]")) {
      throw cur.error(sign, `expected "+", "-" or "]" after the base register, found ${describe(sign)}`);
    }
  } else {
    offset = parseExpr(cur);
  }
  const close = cur.peek();
  if (!cur.eat("]")) {
    throw cur.error(close, `expected "]" to close the memory operand at column ${open.col}, found ${describe(close)}`);
  }
  return { k: "mem", base, offset, col: open.col };
}

/** How each operand kind is written in "ADD takes 3 operands (A, B, C)" (as in the ISA README). */
const KIND_SYNTAX: Readonly<Record<OperandKind, string>> = {
  rA: "A",
  rB: "B",
  rC: "C",
  imm: "imm",
  mem: "[B+imm]",
  label: "label",
  port: "port",
  vec: "vector",
};

/** What an operand of each kind must look like, for type errors. */
const KIND_EXPECTED: Readonly<Record<OperandKind, string>> = {
  rA: `a register (${REGISTER_EXPECTED})`,
  rB: `a register (${REGISTER_EXPECTED})`,
  rC: `a register (${REGISTER_EXPECTED})`,
  imm: "an immediate value (a constant expression)",
  mem: "a memory operand ([rB+imm], [rB-imm], [rB] or [address])",
  label: "a code address (a label or constant expression)",
  port: "a port number (a constant such as CON_OUT)",
  vec: `an interrupt vector number 0..${VECTOR_COUNT - 1}`,
};

export function operandSummary(spec: OpSpec): string {
  const n = spec.operands.length;
  if (n === 0) return `${spec.name} takes no operands`;
  return `${spec.name} takes ${n} operand${n === 1 ? "" : "s"} (${spec.operands.map((k) => KIND_SYNTAX[k]).join(", ")})`;
}

/** Checks operand count and shape (register / memory / expression) right after parsing. */
export function checkOperands(spec: OpSpec, ops: readonly Operand[], mnemonicCol: number, src: SourceLine): void {
  const want = spec.operands.length;
  if (ops.length !== want) {
    // Point at the first surplus operand, or at the mnemonic when operands are missing.
    const col = ops.length > want ? ops[want].col : mnemonicCol;
    throw AsmError.at(src, col, `${operandSummary(spec)}, got ${ops.length}`);
  }
  spec.operands.forEach((kind, i) => {
    const op = ops[i];
    const wantShape = kind === "rA" || kind === "rB" || kind === "rC" ? "reg" : kind === "mem" ? "mem" : "expr";
    if (op.k !== wantShape) {
      const got = op.k === "reg" ? `register ${op.text}` : op.k === "mem" ? "a memory operand" : "an expression";
      throw AsmError.at(src, op.col, `operand ${i + 1} of ${spec.name} must be ${KIND_EXPECTED[kind]}, got ${got}`);
    }
  });
}

/** What encoding needs from the assembler: expression values, and what a bare name denotes. */
export interface EncodeEnv {
  value(e: Expr, src: SourceLine): bigint;
  sectionOf(name: string): "code" | "data" | "const" | undefined;
}

export function checkRange(v: bigint, lo: bigint, hi: bigint, what: string, src: SourceLine, col: number): number {
  if (v < lo || v > hi) throw AsmError.at(src, col, `value ${v} out of range for ${what} (expected ${lo}..${hi})`);
  return Number(v);
}

/** Encodes an instruction whose operands passed checkOperands; writes words at code[at], code[at+1]. */
export function encodeInstruction(
  spec: OpSpec,
  ops: readonly Operand[],
  env: EncodeEnv,
  src: SourceLine,
  code: Int32Array,
  at: number,
): void {
  let w0 = spec.op;
  let imm = 0;
  spec.operands.forEach((kind, i) => {
    const op = ops[i];
    switch (kind) {
      case "rA":
      case "rB":
      case "rC":
        if (op.k === "reg") w0 |= op.reg << (kind === "rA" ? 8 : kind === "rB" ? 12 : 16);
        break;
      case "imm":
        if (op.k === "expr") imm = checkRange(env.value(op.e, src), WORD_MIN, WORD_MAX, "an immediate", src, op.col);
        break;
      case "label":
        if (op.k === "expr") {
          refuseSection(op.e, "data", `${spec.name} needs a code address`, env, src);
          imm = checkRange(env.value(op.e, src), 0n, WORD_MAX, "a code address", src, op.col);
        }
        break;
      case "port":
        if (op.k === "expr") imm = checkRange(env.value(op.e, src), 0n, WORD_MAX, "a port number", src, op.col);
        break;
      case "vec":
        if (op.k === "expr") {
          w0 |= checkRange(env.value(op.e, src), 0n, BigInt(VECTOR_COUNT - 1), "an interrupt vector", src, op.col) << 8;
        }
        break;
      case "mem":
        if (op.k !== "mem") break;
        if (op.offset) refuseSection(op.offset, "code", "memory operands need a data address", env, src);
        if (op.base === undefined) {
          w0 |= ABSOLUTE_BIT;
          imm = checkRange(env.value(op.offset!, src), 0n, WORD_MAX, "an absolute address", src, op.col + 1);
        } else {
          w0 |= op.base << 12;
          if (op.offset) imm = checkRange(env.value(op.offset, src), WORD_MIN, WORD_MAX, "a memory offset", src, op.col);
        }
        break;
    }
  });
  code[at] = w0;
  code[at + 1] = imm;
}

/** Catches the classic slip of jumping to a data label (or loading from a code label). */
function refuseSection(e: Expr, bad: "code" | "data", need: string, env: EncodeEnv, src: SourceLine): void {
  if (e.k === "name" && env.sectionOf(e.name) === bad) {
    throw AsmError.at(src, e.col, `"${e.name}" is a ${bad} label; ${need}`);
  }
}
