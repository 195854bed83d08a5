// The lexer: one source line in, a token list out. Statements never span lines, so
// lexing line by line keeps columns exact and lets one bad line not disturb the rest.
import { AsmError, type SourceLine } from "./errors.js";

export type TokenKind = "name" | "num" | "str" | "op" | "eol";

/** A class rather than object literals so every token has one shape (the lexer is the hot path). */
export class Token {
  constructor(
    readonly kind: TokenKind,
    /** The token's text as written (for "str", the whole literal including quotes). */
    readonly text: string,
    /** 1-based column of the first character, for diagnostics. */
    readonly col: number,
    /** 0-based index just past the token, so callers can slice the raw text (macro arguments). */
    readonly end: number,
    /** Value of a number or character literal. */
    readonly value?: bigint,
    /** Bytes of a string literal (UTF-8, with escapes applied). */
    readonly bytes?: Uint8Array,
  ) {}
}

/** Single-character operator tokens, by character code ("<<" and ">>" are handled separately). */
const OPERATOR_CODES = new Set(Array.from(",[]()+-*/%&|^~:=", (c) => c.charCodeAt(0)));

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
      out.push(new Token("name", text.slice(start, i), start + 1, i));
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
    } else if ((c === 60 || c === 62) && text.charCodeAt(i + 1) === c) {
      out.push(new Token("op", c === 60 ? "<<" : ">>", start + 1, i + 2));
      i += 2;
    } else if (OPERATOR_CODES.has(c)) {
      out.push(new Token("op", text[i], start + 1, i + 1));
      i++;
    } else if (c === 92) {
      throw AsmError.at(src, start + 1, `unexpected "\\" (\\@ and \\parameter are only meaningful inside a .macro body)`);
    } else {
      throw AsmError.at(src, start + 1, `unexpected character "${String.fromCodePoint(text.codePointAt(i)!)}"`);
    }
  }
  // "End of line" errors point just past the last token: comments and trailing blanks do not count.
  const last = out.length > 0 ? out[out.length - 1].end : 0;
  out.push(new Token("eol", "end of line", last + 1, n));
  return out;
}

function isDigitOf(c: number, base: 2 | 10 | 16): boolean {
  if (base === 2) return c === 48 || c === 49;
  if (base === 10) return isDigit(c);
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function lexNumber(src: SourceLine, start: number): Token {
  const text = src.text;
  let i = start;
  let base: 2 | 10 | 16 = 10;
  const x = text.charCodeAt(i + 1) | 0x20; // lower-cased second character
  if (text.charCodeAt(i) === 48 && (x === 120 || x === 98)) {
    base = x === 120 ? 16 : 2;
    i += 2;
  }
  const first = i;
  while (i < text.length && isDigitOf(text.charCodeAt(i), base)) i++;
  // A literal running straight into letters ("12ab", "0x", "0b12") is a typo, not two tokens.
  let j = i;
  while (j < text.length && isNameChar(text.charCodeAt(j))) j++;
  if (i === first || j !== i) {
    const what = base === 16 ? "hexadecimal" : base === 2 ? "binary" : "decimal";
    throw AsmError.at(src, start + 1, `bad number "${text.slice(start, j)}" (expected ${what} digits)`);
  }
  const lit = text.slice(start, i);
  // BigInt() reads 0x and 0b prefixes itself; small decimals take the cheaper Number route.
  const value = base === 10 && i - first < 15 ? BigInt(Number(lit)) : BigInt(lit);
  return new Token("num", lit, start + 1, i, value);
}

/** Reads the escape at text[i] (a backslash); returns its character code and the index after it. */
function lexEscape(src: SourceLine, i: number): { code: number; next: number } {
  const text = src.text;
  const e = text[i + 1];
  if (e === "x") {
    const hex = text.slice(i + 2, i + 4);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw AsmError.at(src, i + 1, `bad escape "\\x${hex}" (\\x needs exactly two hex digits)`);
    return { code: parseInt(hex, 16), next: i + 4 };
  }
  if (e !== undefined && Object.hasOwn(ESCAPES, e)) return { code: ESCAPES[e], next: i + 2 };
  throw AsmError.at(src, i + 1, `unknown escape "\\${e ?? ""}" (expected ${ESCAPES_EXPECTED})`);
}

const utf8 = new TextEncoder();

function lexString(src: SourceLine, start: number): Token {
  const text = src.text;
  const bytes: number[] = [];
  let i = start + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\\") {
      // Every escape yields one byte: the named ones are ASCII and \xHH is a raw byte.
      const esc = lexEscape(src, i);
      bytes.push(esc.code);
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
  return new Token("str", text.slice(start, i + 1), start + 1, i + 1, undefined, Uint8Array.from(bytes));
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
  return new Token("num", text.slice(start, i + 1), start + 1, i + 1, BigInt(code));
}

/** A read position in one line's tokens, with helpers that produce located errors. */
export class Cursor {
  pos = 0;
  constructor(
    readonly tokens: readonly Token[],
    readonly src: SourceLine,
  ) {}

  /** The token `offset` ahead; past the end it is the final "eol" token. */
  peek(offset = 0): Token {
    return this.tokens[this.pos + offset] ?? this.tokens[this.tokens.length - 1];
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
