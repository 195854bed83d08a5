// The lexer: one source line in, a token list out. Statements never span lines, so
// lexing line by line keeps columns exact and lets one bad line not disturb the rest.
import { AsmError, type SourceLine } from "./errors.js";

export type TokenKind = "name" | "num" | "str" | "op" | "eol";

export interface Token {
  readonly kind: TokenKind;
  /** The token's text as written (for "str", the whole literal including quotes). */
  readonly text: string;
  /** 1-based column of the first character, for diagnostics. */
  readonly col: number;
  /** 0-based index just past the token, so callers can slice the raw text (macro arguments). */
  readonly end: number;
  /** Value of a number or character literal. */
  readonly value?: bigint;
  /** Bytes of a string literal (UTF-8, with escapes applied). */
  readonly bytes?: Uint8Array;
}

/** Two-character operators first, so "<<" is not read as "<" "<". */
const OPERATORS2 = new Set(["<<", ">>"]);
const OPERATORS1 = new Set([",", "[", "]", "(", ")", "+", "-", "*", "/", "%", "&", "|", "^", "~", ":", "="]);

const ESCAPES: Readonly<Record<string, number>> = { n: 10, t: 9, r: 13, "0": 0, "\\": 92, '"': 34, "'": 39 };
const ESCAPES_EXPECTED = "\\n \\t \\r \\0 \\\\ \\\" \\' or \\xHH";

function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46; // A-Z a-z _ .
}
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function lexLine(src: SourceLine): Token[] {
  const text = src.text;
  const n = text.length;
  const out: Token[] = [];
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    if (c === 59 || c === 35) break; // ; or # starts a comment
    const start = i;
    if (isNameStart(c)) {
      i++;
      while (i < n && isNameChar(text.charCodeAt(i))) i++;
      out.push({ kind: "name", text: text.slice(start, i), col: start + 1, end: i });
    } else if (isDigit(c)) {
      out.push(lexNumber(src, start));
      i = out[out.length - 1].end;
    } else if (c === 34) {
      const t = lexString(src, start);
      out.push(t);
      i = t.end;
    } else if (c === 39) {
      const t = lexChar(src, start);
      out.push(t);
      i = t.end;
    } else {
      const two = text.slice(i, i + 2);
      if (OPERATORS2.has(two)) {
        out.push({ kind: "op", text: two, col: start + 1, end: i + 2 });
        i += 2;
      } else if (OPERATORS1.has(text[i])) {
        out.push({ kind: "op", text: text[i], col: start + 1, end: i + 1 });
        i++;
      } else if (c === 92) {
        throw AsmError.at(src, start + 1, `unexpected "\\" (\\@ and \\parameter are only meaningful inside a .macro body)`);
      } else {
        throw AsmError.at(src, start + 1, `unexpected character "${String.fromCodePoint(text.codePointAt(i)!)}"`);
      }
    }
  }
  out.push({ kind: "eol", text: "end of line", col: lineEndCol(text), end: n });
  return out;
}

/** Where "end of line" errors point: just after the last non-comment, non-blank character. */
function lineEndCol(text: string): number {
  let end = text.length;
  let quote = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote) {
      if (c === 92) i++;
      else if (c === quote) quote = 0;
    } else if (c === 34 || c === 39) quote = c;
    else if (c === 59 || c === 35) {
      end = i;
      break;
    }
  }
  while (end > 0 && /\s/.test(text[end - 1])) end--;
  return end + 1;
}

function lexNumber(src: SourceLine, start: number): Token {
  const text = src.text;
  let i = start;
  let digits: RegExp;
  let prefix = "";
  if (text[i] === "0" && (text[i + 1] === "x" || text[i + 1] === "X")) {
    prefix = "0x";
    digits = /[0-9a-fA-F]/;
    i += 2;
  } else if (text[i] === "0" && (text[i + 1] === "b" || text[i + 1] === "B")) {
    prefix = "0b";
    digits = /[01]/;
    i += 2;
  } else digits = /[0-9]/;
  const first = i;
  while (i < text.length && digits.test(text[i])) i++;
  // A literal running straight into letters ("12ab", "0x", "0b12") is a typo, not two tokens.
  let j = i;
  while (j < text.length && isNameChar(text.charCodeAt(j))) j++;
  if (i === first || j !== i) {
    const what = prefix === "0x" ? "hexadecimal" : prefix === "0b" ? "binary" : "decimal";
    throw AsmError.at(src, start + 1, `bad number "${text.slice(start, j)}" (expected ${what} digits)`);
  }
  const body = text.slice(first, i);
  const value = prefix === "0x" ? BigInt("0x" + body) : prefix === "0b" ? BigInt("0b" + body) : BigInt(body);
  return { kind: "num", text: text.slice(start, i), col: start + 1, end: i, value };
}

/**
 * Reads the escape at text[i] (a backslash). Returns the character code, whether it is a raw
 * byte (\xHH: emitted as is, never UTF-8 encoded), and the index after the escape.
 */
function lexEscape(src: SourceLine, i: number): { code: number; raw: boolean; next: number } {
  const text = src.text;
  const e = text[i + 1];
  if (e === "x") {
    const hex = text.slice(i + 2, i + 4);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw AsmError.at(src, i + 1, `bad escape "\\x${hex}" (\\x needs exactly two hex digits)`);
    return { code: parseInt(hex, 16), raw: true, next: i + 4 };
  }
  if (e !== undefined && e in ESCAPES) return { code: ESCAPES[e], raw: false, next: i + 2 };
  throw AsmError.at(src, i + 1, `unknown escape "\\${e ?? ""}" (expected ${ESCAPES_EXPECTED})`);
}

const utf8 = new TextEncoder();

function lexString(src: SourceLine, start: number): Token {
  const text = src.text;
  const bytes: number[] = [];
  let i = start + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\\") {
      const esc = lexEscape(src, i);
      if (esc.raw || esc.code < 0x80) bytes.push(esc.code);
      else bytes.push(...utf8.encode(String.fromCharCode(esc.code)));
      i = esc.next;
    } else {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      if (cp < 0x80) bytes.push(cp);
      else bytes.push(...utf8.encode(ch));
      i += ch.length;
    }
  }
  if (i >= text.length) throw AsmError.at(src, start + 1, `unterminated string literal (missing closing ")`);
  return { kind: "str", text: text.slice(start, i + 1), col: start + 1, end: i + 1, bytes: Uint8Array.from(bytes) };
}

function lexChar(src: SourceLine, start: number): Token {
  const text = src.text;
  let i = start + 1;
  let code: number | undefined;
  let count = 0;
  while (i < text.length && text[i] !== "'") {
    if (text[i] === "\\") {
      const esc = lexEscape(src, i);
      code = esc.code;
      i = esc.next;
    } else {
      code = text.codePointAt(i)!;
      i += code > 0xffff ? 2 : 1;
    }
    count++;
  }
  if (i >= text.length) throw AsmError.at(src, start + 1, `unterminated character literal (missing closing ')`);
  if (count !== 1 || code === undefined) {
    throw AsmError.at(src, start + 1, `character literal must hold exactly one character, got ${count}`);
  }
  return { kind: "num", text: text.slice(start, i + 1), col: start + 1, end: i + 1, value: BigInt(code) };
}

/** A read position in one line's tokens, with helpers that produce located errors. */
export class Cursor {
  pos = 0;
  constructor(
    readonly tokens: readonly Token[],
    readonly src: SourceLine,
  ) {}

  peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
  }
  next(): Token {
    const t = this.tokens[this.pos];
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }
  atEnd(): boolean {
    return this.peek().kind === "eol";
  }
  /** True (and consumes it) when the next token is the operator `op`. */
  eat(op: string): boolean {
    const t = this.peek();
    if (t.kind === "op" && t.text === op) {
      this.pos++;
      return true;
    }
    return false;
  }
  error(t: Token, reason: string): AsmError {
    return AsmError.at(this.src, t.col, reason);
  }
  /** Fails unless the statement is complete, naming what it was (`after` e.g. ".code"). */
  expectEnd(after: string): void {
    const t = this.peek();
    if (t.kind !== "eol") throw this.error(t, `unexpected ${describe(t)} after ${after} (expected end of line)`);
  }
}

/** How a token is named in messages. */
export function describe(t: Token): string {
  switch (t.kind) {
    case "eol":
      return "end of line";
    case "str":
      return "string literal";
    case "num":
      return `number ${t.text}`;
    default:
      return `"${t.text}"`;
  }
}
