// Macros: `.macro NAME p1, p2` ... `.endm` records the body lines verbatim; invoking
// `NAME a, b` substitutes `\p1` -> `a` (textually, before lexing) and `\@` -> a suffix unique
// to that expansion, then assembles the resulting lines as if they had been written there.
import { BY_NAME } from "../../isa/table.js";
import { AsmError, type SourceLine } from "./errors.js";
import type { SourceFile } from "./include.js";
import { type Cursor, describe, type Token } from "./lexer.js";
import { registerOf } from "./registers.js";

/** Invocations may nest this deep; deeper is almost certainly unbounded recursion. */
export const MACRO_DEPTH_MAX = 64;
/**
 * Lines all macro expansions of one program may produce together. The nesting bound alone
 * does not bound the total (a macro invoking itself twice doubles its output per level);
 * this does, at a size far beyond real programs yet assembled in seconds.
 */
export const MACRO_EXPANSION_LINES_MAX = 1 << 18;

export interface MacroDef {
  /** Upper-cased: macro names are case-insensitive, like mnemonics. */
  readonly name: string;
  readonly params: readonly string[];
  /** The defining file: body lines are reported there, and includes in the body resolve from it. */
  readonly file: SourceFile;
  readonly line: number;
  readonly body: { readonly text: string; readonly line: number }[];
}

/** A line that ends a macro body. */
export const ENDM_LINE = /^\s*\.endm\b/i;
/** A line that would start a macro definition (possibly after labels), which a body may not contain. */
export const MACRO_LINE = /^\s*(?:[A-Za-z_.][A-Za-z0-9_.]*\s*:\s*)*\.macro\b/i;

/** Parses the rest of a `.macro` line: the name and its parameter names. */
export function parseMacroHeader(cur: Cursor, isMacro: (name: string) => boolean): {
  name: string;
  params: string[];
} {
  const nameTok = cur.next();
  if (nameTok.kind !== "name") throw cur.error(nameTok, `expected a macro name after .macro, found ${describe(nameTok)}`);
  const name = nameTok.text.toUpperCase();
  if (nameTok.text.startsWith(".")) throw cur.error(nameTok, `macro name "${nameTok.text}" may not start with "." (that is reserved for directives)`);
  if (BY_NAME.has(name)) throw cur.error(nameTok, `macro name "${nameTok.text}" is already the instruction ${name}`);
  if (registerOf(nameTok.text) !== undefined) throw cur.error(nameTok, `macro name "${nameTok.text}" is a register name`);
  if (isMacro(name)) throw cur.error(nameTok, `macro ${name} is already defined`);
  const params: string[] = [];
  while (!cur.atEnd()) {
    if (params.length > 0 && !cur.eat(",")) {
      const t = cur.peek();
      throw cur.error(t, `expected "," between macro parameters, found ${describe(t)}`);
    }
    const p = cur.next();
    if (p.kind !== "name" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.text)) {
      throw cur.error(p, `expected a parameter name (letters, digits, _), found ${describe(p)}`);
    }
    if (params.includes(p.text)) throw cur.error(p, `duplicate macro parameter "${p.text}"`);
    params.push(p.text);
  }
  return { name, params };
}

/**
 * Splits an invocation's arguments at top-level commas (commas inside (), [] or literals do not
 * split) and returns each argument's raw text, so `\p` substitutes exactly what was written.
 */
export function splitArguments(tokens: readonly Token[], from: number, src: SourceLine): string[] {
  const args: string[] = [];
  let depth = 0;
  let first: Token | undefined;
  let last: Token | undefined;
  const finish = (at: Token) => {
    if (!first || !last) throw AsmError.at(src, at.col, `empty macro argument`);
    args.push(src.text.slice(first.col - 1, last.end));
    first = last = undefined;
  };
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === "eol") {
      if (args.length > 0 || first) finish(t);
      break;
    }
    if (t.kind === "op") {
      if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") depth--;
      else if (t.text === "," && depth <= 0) {
        finish(t);
        continue;
      }
    }
    first ??= t;
    last = t;
  }
  return args;
}

/**
 * The body line with parameters and `\@` substituted. A backslash followed by a name that is
 * not a parameter is left alone, so string escapes such as "\n" survive in macro bodies.
 */
export function substitute(text: string, def: MacroDef, args: readonly string[], unique: number): string {
  if (!text.includes("\\")) return text;
  return text.replace(/\\(@|[A-Za-z_][A-Za-z0-9_]*)/g, (whole, name: string) => {
    if (name === "@") return `__${unique}`;
    const i = def.params.indexOf(name);
    return i >= 0 ? args[i] : whole;
  });
}
