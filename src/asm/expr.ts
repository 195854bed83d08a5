// Constant expressions: parsed once into a small tree (so forward references can be
// evaluated in the second pass) and evaluated on mathematical integers (BigInt). Values are
// range-checked only where they are used, so `0xFFFFFFFF`, `-1` and `1 << 31` all mean what
// they say, and `-1 & 0xFF` is 255 rather than a 32-bit accident.
import { AsmError, type SourceLine } from "./errors.js";
import { type Cursor, describe } from "./lexer.js";
import { REGISTER_EXPECTED, registerOf } from "./registers.js";

export type BinaryOp = "*" | "/" | "%" | "+" | "-" | "<<" | ">>" | "&" | "|" | "^";
export type UnaryOp = "-" | "~" | "+";

export type Expr =
  | { readonly k: "num"; readonly v: bigint; readonly col: number }
  | { readonly k: "name"; readonly name: string; readonly col: number }
  | { readonly k: "un"; readonly op: UnaryOp; readonly e: Expr; readonly col: number }
  | { readonly k: "bin"; readonly op: BinaryOp; readonly l: Expr; readonly r: Expr; readonly col: number };

/** Binding strength of each binary operator, as in C (higher binds tighter). */
const PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  "|": 1,
  "^": 2,
  "&": 3,
  "<<": 4,
  ">>": 4,
  "+": 5,
  "-": 5,
  "*": 6,
  "/": 6,
  "%": 6,
};

function binaryOp(text: string): BinaryOp | undefined {
  return Object.hasOwn(PRECEDENCE, text) ? (text as BinaryOp) : undefined;
}

/** Parses an expression starting at the cursor; stops before the first token that cannot continue it. */
export function parseExpr(cur: Cursor, minPrec = 1): Expr {
  let left = parseUnary(cur);
  for (;;) {
    const t = cur.peek();
    const op = t.kind === "op" ? binaryOp(t.text) : undefined;
    if (!op || PRECEDENCE[op] < minPrec) return left;
    cur.next();
    // Left-associative: the right operand may only contain tighter-binding operators.
    const right = parseExpr(cur, PRECEDENCE[op] + 1);
    left = { k: "bin", op, l: left, r: right, col: t.col };
  }
}

function parseUnary(cur: Cursor): Expr {
  const t = cur.peek();
  if (t.kind === "op" && (t.text === "-" || t.text === "~" || t.text === "+")) {
    cur.next();
    return { k: "un", op: t.text, e: parseUnary(cur), col: t.col };
  }
  return parsePrimary(cur);
}

function parsePrimary(cur: Cursor): Expr {
  const t = cur.next();
  if (t.kind === "num") return { k: "num", v: t.value!, col: t.col };
  if (t.kind === "name") {
    const reg = registerOf(t.text);
    if (reg === "bad") throw cur.error(t, `unknown register "${t.text}" (expected ${REGISTER_EXPECTED})`);
    if (reg !== undefined) {
      throw cur.error(t, `register ${t.text} cannot be used in an expression (expected a constant, label or number)`);
    }
    return { k: "name", name: t.text, col: t.col };
  }
  if (t.kind === "op" && t.text === "(") {
    const e = parseExpr(cur);
    const close = cur.peek();
    if (!cur.eat(")")) throw cur.error(close, `expected ")" to close the "(" at column ${t.col}, found ${describe(close)}`);
    return e;
  }
  throw cur.error(t, `expected an expression (a number, name or "("), found ${describe(t)}`);
}

/** Looks a name up; throws an AsmError (or AlreadyReported) when it has no value here. */
export type Resolver = (node: Extract<Expr, { k: "name" }>, src: SourceLine) => bigint;

/** Intermediate results beyond this are certainly mistakes; the bound keeps BigInts small. */
const LIMIT = 1n << 64n;

export function evalExpr(e: Expr, resolve: Resolver, src: SourceLine): bigint {
  switch (e.k) {
    case "num":
      return e.v;
    case "name":
      return resolve(e, src);
    case "un": {
      const v = evalExpr(e.e, resolve, src);
      return e.op === "-" ? -v : e.op === "~" ? ~v : v;
    }
    case "bin": {
      const l = evalExpr(e.l, resolve, src);
      const r = evalExpr(e.r, resolve, src);
      let v: bigint;
      switch (e.op) {
        case "+": v = l + r; break;
        case "-": v = l - r; break;
        case "*": v = l * r; break;
        // BigInt division truncates toward zero and % takes the dividend's sign, as in C.
        case "/":
        case "%":
          if (r === 0n) throw AsmError.at(src, e.col, `division by zero in expression`);
          v = e.op === "/" ? l / r : l % r;
          break;
        case "<<":
        case ">>":
          if (r < 0n || r > 63n) throw AsmError.at(src, e.col, `shift count ${r} out of range (expected 0..63)`);
          // >> is arithmetic (floor), so it agrees with the unsigned reading for non-negative values.
          v = e.op === "<<" ? l << r : l >> r;
          break;
        case "&": v = l & r; break;
        case "|": v = l | r; break;
        case "^": v = l ^ r; break;
      }
      if (v > LIMIT || v < -LIMIT) throw AsmError.at(src, e.col, `expression value overflows 64 bits`);
      return v;
    }
  }
}
