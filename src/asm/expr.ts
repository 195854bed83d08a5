// Constant expressions: parsed once into a small tree (so forward references can be
// evaluated in the second pass) and evaluated on mathematical integers (BigInt). Values are
// range-checked only where they are used, so `0xFFFFFFFF`, `-1` and `1 << 31` all mean what
// they say, and `-1 & 0xFF` is 255 rather than a 32-bit accident.
import { AsmError, type SourceLine } from "./errors.js";
import { type Cursor, describe, type Token } from "./lexer.js";
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

/**
 * Parentheses and unary operators may nest this deep in one expression. The parser
 * recurses once per level, so without a bound a line of 3,000 "(" or 100,000 "-" would
 * overflow the stack; deeper than this is never a real program.
 */
export const EXPR_NESTING_MAX = 256;

/** Parses an expression starting at the cursor; stops before the first token that cannot continue it. */
export function parseExpr(cur: Cursor): Expr {
  return parseBinary(cur, 1, 0);
}

/**
 * Precedence climbing. Recursion here is bounded: the right operand of an operator only
 * recurses for strictly tighter operators (at most one level per precedence), and
 * parentheses and unary operators count against EXPR_NESTING_MAX. A long chain of
 * equal-precedence operators (a 100,000-term sum) is a loop, building a left-deep tree
 * that evalExpr walks without recursion.
 */
function parseBinary(cur: Cursor, minPrec: number, nesting: number): Expr {
  let left = parseUnary(cur, nesting);
  for (;;) {
    const t = cur.peek();
    const op = t.kind === "op" ? binaryOp(t.text) : undefined;
    if (!op || PRECEDENCE[op] < minPrec) return left;
    cur.next();
    // Left-associative: the right operand may only contain tighter-binding operators.
    const right = parseBinary(cur, PRECEDENCE[op] + 1, nesting);
    left = { k: "bin", op, l: left, r: right, col: t.col };
  }
}

function parseUnary(cur: Cursor, nesting: number): Expr {
  const t = cur.peek();
  if (t.kind === "op" && (t.text === "-" || t.text === "~" || t.text === "+")) {
    tooDeep(cur, t, nesting);
    cur.next();
    return { k: "un", op: t.text, e: parseUnary(cur, nesting + 1), col: t.col };
  }
  return parsePrimary(cur, nesting);
}

function tooDeep(cur: Cursor, t: Token, nesting: number): void {
  if (nesting >= EXPR_NESTING_MAX) throw cur.error(t, `expression nested more than ${EXPR_NESTING_MAX} levels deep (parentheses and unary operators)`);
}

function parsePrimary(cur: Cursor, nesting: number): Expr {
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
    tooDeep(cur, t, nesting);
    const e = parseBinary(cur, 1, nesting + 1);
    const close = cur.peek();
    if (!cur.eat(")")) throw cur.error(close, `expected ")" to close the "(" at column ${t.col}, found ${describe(close)}`);
    return e;
  }
  throw cur.error(t, `expected an expression (a number, name or "("), found ${describe(t)}`);
}

/** Looks a name up; throws an AsmError (or AlreadyReported) when it has no value here. */
export type Resolver = (node: NameExpr, src: SourceLine) => bigint;

/** Intermediate results beyond this are certainly mistakes; the bound keeps BigInts small. */
const LIMIT = 1n << 64n;

/** A name node of an expression. */
export type NameExpr = Extract<Expr, { k: "name" }>;

/** The names an expression refers to, left to right (without recursion: trees may be deep). */
export function namesIn(e: Expr): NameExpr[] {
  const out: NameExpr[] = [];
  const stack: Expr[] = [e];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.k === "name") out.push(n);
    else if (n.k === "un") stack.push(n.e);
    else if (n.k === "bin") stack.push(n.r, n.l);
  }
  return out;
}

/**
 * Evaluates an expression tree without recursion (a 100,000-term sum is a tree that deep):
 * a post-order walk with an explicit stack, left operands before right ones, so errors
 * come in the order a reader expects.
 */
export function evalExpr(e: Expr, resolve: Resolver, src: SourceLine): bigint {
  if (e.k === "num") return e.v;
  const nodes: Expr[] = [e];
  /** Parallel to nodes: the operands of this node are already on `values`. */
  const expanded: boolean[] = [false];
  const values: bigint[] = [];
  while (nodes.length > 0) {
    const top = nodes.length - 1;
    const n = nodes[top];
    if (n.k === "num" || n.k === "name") {
      nodes.pop();
      expanded.pop();
      values.push(n.k === "num" ? n.v : resolve(n, src));
      continue;
    }
    if (!expanded[top]) {
      expanded[top] = true;
      if (n.k === "un") {
        nodes.push(n.e);
        expanded.push(false);
      } else {
        nodes.push(n.r, n.l);
        expanded.push(false, false);
      }
      continue;
    }
    nodes.pop();
    expanded.pop();
    if (n.k === "un") {
      const v = values.pop()!;
      values.push(n.op === "-" ? -v : n.op === "~" ? ~v : v);
    } else {
      const r = values.pop()!;
      const l = values.pop()!;
      values.push(binary(n, l, r, src));
    }
  }
  return values[0];
}

function binary(e: Extract<Expr, { k: "bin" }>, l: bigint, r: bigint, src: SourceLine): bigint {
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
