// The debugger's expression language: a small, safe calculator over registers, memory and
// the program's symbols, parsed into a tree and evaluated by walking it (never eval).
//
//   literals    42  -7  0x1f  0b101  1_000  'a'  '\n'
//   names       r0..r15, sp, pc, icount, and any label or .const of the program
//   memory      [E] or word[E]: the 32-bit word at address E (signed); byte[E]: the byte (0..255)
//   operators   unary - ! ~; * / %; + -; << >> >>>; < <= > >=; == !=; &; ^; |; &&; ||
//
// Arithmetic is exact on JavaScript numbers (icount can exceed 32 bits); bitwise
// operators and shifts work on 32-bit integers. Comparisons and ! give 0 or 1.
import { REGISTER_COUNT } from "../../isa/table.js";
import { registerOf } from "../asm/registers.js";

/** Longest expression accepted, in characters. */
export const EXPR_CHARS_MAX = 1000;
/** Deepest nesting of operators and brackets accepted (bounds the evaluator's recursion). */
export const EXPR_NESTING_LEVELS_MAX = 64;

export class ExprError extends Error {}

export type Expr =
  | { t: "num"; v: number }
  | { t: "reg"; r: number }
  | { t: "pc" }
  | { t: "icount" }
  | { t: "mem"; size: 1 | 4; addr: Expr }
  | { t: "un"; op: string; x: Expr }
  | { t: "bin"; op: string; a: Expr; b: Expr };

/** What an expression reads from the machine. */
export interface EvalEnv {
  reg(r: number): number;
  pc(): number;
  icount(): number;
  /** Reads `size` bytes at `addr`; throws ExprError when outside memory. */
  read(addr: number, size: 1 | 4): number;
}

export interface Deps {
  regs: Set<number>;
  pc: boolean;
  icount: boolean;
  /** Memory it reads at fixed addresses, or "any" when an address depends on the state. */
  mem: { from: number; to: number }[] | "any";
}

const BINARY_LEVELS: readonly (readonly string[])[] = [["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<", "<=", ">", ">="], ["<<", ">>", ">>>"], ["+", "-"], ["*", "/", "%"]];
const OPERATORS = [">>>", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "&", "^", "|", "!", "~", "(", ")", "[", "]"];

interface Tok {
  k: "num" | "name" | "op" | "end";
  s: string;
  v?: number;
  at: number;
}

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*)/.exec(text.slice(i))!;
      const raw = m[1].replace(/_/g, "");
      const v = raw.length > 2 && /^0[bB]/.test(raw) ? parseInt(raw.slice(2), 2) : Number(raw);
      if (!Number.isSafeInteger(v)) throw new ExprError(`bad number "${m[1]}" at column ${start + 1}`);
      out.push({ k: "num", s: m[1], v, at: start });
      i += m[1].length;
      if (i < text.length && /[A-Za-z_.]/.test(text[i])) throw new ExprError(`bad number "${m[1]}${text[i]}" at column ${start + 1}`);
      continue;
    }
    if (c === "'") {
      const m = /^'(\\x[0-9a-fA-F]{2}|\\[ntr0\\'"]|[^\\'])'/.exec(text.slice(i));
      if (!m) throw new ExprError(`bad character literal at column ${start + 1} (write 'a', '\\n' or '\\x41')`);
      const body = m[1];
      const esc: Record<string, number> = { n: 10, t: 9, r: 13, "0": 0, "\\": 92, "'": 39, '"': 34 };
      const v = body[0] !== "\\" ? body.charCodeAt(0) : body[1] === "x" ? parseInt(body.slice(2), 16) : esc[body[1]];
      out.push({ k: "num", s: m[0], v, at: start });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_.]/.test(c)) {
      const m = /^[A-Za-z_.][A-Za-z0-9_.]*/.exec(text.slice(i))!;
      out.push({ k: "name", s: m[0], at: start });
      i += m[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new ExprError(`unexpected "${c}" at column ${start + 1}`);
    out.push({ k: "op", s: op, at: start });
    i += op.length;
  }
  out.push({ k: "end", s: "", at: text.length });
  return out;
}

/**
 * Parses an expression. `lookup` gives the value of a program symbol (a label or
 * constant), or undefined when there is none by that name.
 */
export function parseExpr(text: string, lookup: (name: string) => number | undefined): Expr {
  if (text.length > EXPR_CHARS_MAX) throw new ExprError(`expression of ${text.length} characters is longer than ${EXPR_CHARS_MAX} (EXPR_CHARS_MAX)`);
  if (text.trim() === "") throw new ExprError("expected an expression");
  const toks = tokenize(text);
  let i = 0;
  let depth = 0;
  const peek = () => toks[i];
  const expect = (s: string) => {
    const t = toks[i];
    if (t.k !== "op" || t.s !== s) throw new ExprError(`expected "${s}" at column ${t.at + 1}, got ${describe(t)}`);
    i++;
  };
  const enter = () => {
    if (++depth > EXPR_NESTING_LEVELS_MAX) throw new ExprError(`expression nests deeper than ${EXPR_NESTING_LEVELS_MAX} levels (EXPR_NESTING_LEVELS_MAX)`);
  };
  function binary(level: number): Expr {
    if (level === BINARY_LEVELS.length) return unary();
    let a = binary(level + 1);
    for (;;) {
      const t = peek();
      if (t.k !== "op" || !BINARY_LEVELS[level].includes(t.s)) break;
      i++;
      a = { t: "bin", op: t.s, a, b: binary(level + 1) };
    }
    return a;
  }
  function unary(): Expr {
    const t = peek();
    if (t.k === "op" && (t.s === "-" || t.s === "!" || t.s === "~" || t.s === "+")) {
      i++;
      enter();
      const x = unary();
      depth--;
      return t.s === "+" ? x : { t: "un", op: t.s, x };
    }
    return primary();
  }
  function bracket(size: 1 | 4): Expr {
    expect("[");
    enter();
    const addr = binary(0);
    depth--;
    expect("]");
    return { t: "mem", size, addr };
  }
  function primary(): Expr {
    const t = peek();
    if (t.k === "num") {
      i++;
      return { t: "num", v: t.v! };
    }
    if (t.k === "op" && t.s === "(") {
      i++;
      enter();
      const x = binary(0);
      depth--;
      expect(")");
      return x;
    }
    if (t.k === "op" && t.s === "[") return bracket(4);
    if (t.k === "name") {
      i++;
      const lower = t.s.toLowerCase();
      if ((lower === "byte" || lower === "word") && peek().k === "op" && peek().s === "[") return bracket(lower === "byte" ? 1 : 4);
      const r = registerOf(t.s);
      if (r === "bad") throw new ExprError(`unknown register "${t.s}" at column ${t.at + 1} (r0..r${REGISTER_COUNT - 1} or sp)`);
      if (r !== undefined) return { t: "reg", r };
      if (lower === "pc") return { t: "pc" };
      if (lower === "icount") return { t: "icount" };
      const v = lookup(t.s);
      if (v === undefined) throw new ExprError(`unknown name "${t.s}" at column ${t.at + 1} (not a register, pc, icount, label or constant)`);
      return { t: "num", v };
    }
    throw new ExprError(`expected a value at column ${t.at + 1}, got ${describe(t)}`);
  }
  const e = binary(0);
  if (peek().k !== "end") throw new ExprError(`unexpected ${describe(peek())} at column ${peek().at + 1}`);
  return e;
}

function describe(t: Tok): string {
  return t.k === "end" ? "the end of the expression" : `"${t.s}"`;
}

export function evalExpr(e: Expr, env: EvalEnv): number {
  switch (e.t) {
    case "num":
      return e.v;
    case "reg":
      return env.reg(e.r);
    case "pc":
      return env.pc();
    case "icount":
      return env.icount();
    case "mem":
      return env.read(evalExpr(e.addr, env), e.size);
    case "un": {
      const x = evalExpr(e.x, env);
      return e.op === "-" ? -x : e.op === "!" ? (x === 0 ? 1 : 0) : ~x;
    }
    case "bin": {
      if (e.op === "&&") return evalExpr(e.a, env) !== 0 && evalExpr(e.b, env) !== 0 ? 1 : 0;
      if (e.op === "||") return evalExpr(e.a, env) !== 0 || evalExpr(e.b, env) !== 0 ? 1 : 0;
      const a = evalExpr(e.a, env);
      const b = evalExpr(e.b, env);
      switch (e.op) {
        case "+": return a + b;
        case "-": return a - b;
        case "*": return a * b;
        case "/":
          if (b === 0) throw new ExprError("division by zero");
          return Math.trunc(a / b);
        case "%":
          if (b === 0) throw new ExprError("remainder by zero");
          return a % b;
        case "<<": return a << b;
        case ">>": return a >> b;
        case ">>>": return a >>> b;
        case "<": return a < b ? 1 : 0;
        case "<=": return a <= b ? 1 : 0;
        case ">": return a > b ? 1 : 0;
        case ">=": return a >= b ? 1 : 0;
        case "==": return a === b ? 1 : 0;
        case "!=": return a !== b ? 1 : 0;
        case "&": return a & b;
        case "^": return a ^ b;
        case "|": return a | b;
      }
    }
  }
  throw new Error(`expr: unknown node ${JSON.stringify(e)}`);
}

/** True when `e` reads nothing from the machine (its value is fixed). */
function constant(e: Expr): boolean {
  switch (e.t) {
    case "num":
      return true;
    case "un":
      return constant(e.x);
    case "bin":
      return constant(e.a) && constant(e.b);
    default:
      return false;
  }
}

const NO_ENV: EvalEnv = {
  reg: () => 0,
  pc: () => 0,
  icount: () => 0,
  read: () => 0,
};

export function exprDeps(e: Expr): Deps {
  const d: Deps = { regs: new Set(), pc: false, icount: false, mem: [] };
  const walk = (x: Expr): void => {
    switch (x.t) {
      case "reg":
        d.regs.add(x.r);
        return;
      case "pc":
        d.pc = true;
        return;
      case "icount":
        d.icount = true;
        return;
      case "mem":
        walk(x.addr);
        if (d.mem === "any") return;
        if (constant(x.addr)) {
          let from: number;
          try {
            from = evalExpr(x.addr, NO_ENV);
          } catch {
            return; // e.g. [1/0]: it can only fail, whatever the state
          }
          d.mem.push({ from, to: from + x.size });
        } else d.mem = "any";
        return;
      case "un":
        walk(x.x);
        return;
      case "bin":
        walk(x.a);
        walk(x.b);
        return;
    }
  };
  walk(e);
  return d;
}
