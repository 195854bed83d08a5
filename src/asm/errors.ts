// Assembler diagnostics: one AsmError per problem, formatted like a compiler message
// (file:line:col, the source line, a caret under the offending token), and one
// aggregate AsmError that assemble() throws when anything went wrong.
import { OperatingError } from "../base/errors.js";

/** One line as the lexer saw it, with where it came from, so any error can point into it. */
export interface SourceLine {
  /** The file as the user named it (or as the include search found it). */
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line: number;
  /** The text that was lexed: the source line itself, or a macro body line after substitution. */
  readonly text: string;
  /** Macro invocations that produced this line, innermost first; each becomes a "note:" line. */
  readonly notes?: readonly string[];
  /** Position in reading order (includes and expansions inline), so errors can be listed in source order. */
  readonly seq?: number;
}

/** Only this many errors are shown; the rest are counted, because later ones are often echoes of earlier ones. */
export const MAX_REPORTED_ERRORS = 20;

export class AsmError extends OperatingError {
  override readonly name = "AsmError";
  /** The individual problems: just [this] for a single diagnostic, all of them for the aggregate. */
  readonly errors: readonly AsmError[];
  /** Reading-order position of the line (see SourceLine.seq). */
  seq = 0;

  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
    readonly col: number,
    /** The bare description ("unknown register ..."), without location or source line. */
    readonly reason: string,
    errors?: readonly AsmError[],
  ) {
    super(message);
    this.errors = errors ?? [this];
  }

  /** A diagnostic for column `col` (1-based) of `src`. */
  static at(src: SourceLine, col: number, reason: string): AsmError {
    const e = new AsmError(formatDiagnostic(src, col, reason), src.file, src.line, col, reason);
    e.seq = src.seq ?? 0;
    return e;
  }

  /** A problem with a whole file rather than a place in it (it cannot be read, it is too large). */
  static whole(file: string, reason: string): AsmError {
    return new AsmError(`${file}: error: ${reason}`, file, 0, 0, reason);
  }

  /** The error assemble() throws: every collected message joined, located at the first one. */
  static combine(errors: readonly AsmError[], omitted: number): AsmError {
    const first = errors[0];
    let message = errors.map((e) => e.message).join("\n");
    if (omitted > 0) message += `\n(${omitted} more error${omitted === 1 ? "" : "s"} not shown)`;
    return new AsmError(message, first.file, first.line, first.col, first.reason, errors);
  }
}

/**
 * Thrown instead of an AsmError when the real problem was already reported (for example a
 * reference to a constant whose own definition failed), so one mistake yields one message.
 */
export class AlreadyReported extends Error {}

/**
 * Source lines longer than this are shown as a window around the column, so that an error
 * in a 100,000-character line is a readable message rather than 200 KB of it.
 */
export const DIAGNOSTIC_LINE_CHARS_MAX = 160;

export function formatDiagnostic(src: SourceLine, col: number, reason: string): string {
  let text = src.text;
  let at = col - 1;
  if (text.length > DIAGNOSTIC_LINE_CHARS_MAX) {
    const half = DIAGNOSTIC_LINE_CHARS_MAX >> 1;
    const from = Math.max(0, Math.min(at - half, text.length - DIAGNOSTIC_LINE_CHARS_MAX));
    const to = Math.min(text.length, from + DIAGNOSTIC_LINE_CHARS_MAX);
    const head = from > 0 ? "..." : "";
    text = head + text.slice(from, to) + (to < text.length ? "..." : "");
    at = at - from + head.length;
  }
  // The caret line copies tabs from the source line so the caret lines up in a terminal.
  const before = text.slice(0, at).replace(/[^\t]/g, " ");
  const pad = before + " ".repeat(Math.max(0, at - before.length));
  let out = `${src.file}:${src.line}:${col}: error: ${reason}\n    ${text}\n    ${pad}^`;
  for (const n of src.notes ?? []) out += `\n    note: ${n}`;
  return out;
}

/**
 * Collects diagnostics during one assembly. Later passes find problems on earlier lines, so
 * the list is sorted into source order before the first MAX_REPORTED_ERRORS are shown.
 */
export class Diagnostics {
  private readonly list: AsmError[] = [];
  /** A problem met twice (say, a constant evaluated in layout and again in emit) is reported once. */
  private readonly seen = new Set<string>();

  add(e: AsmError): void {
    if (this.seen.has(e.message)) return;
    this.seen.add(e.message);
    this.list.push(e);
  }

  /** Records whatever a statement threw: AsmErrors are kept, echoes dropped, anything else is a bug. */
  catch(e: unknown): void {
    if (e instanceof AsmError) this.add(e);
    else if (!(e instanceof AlreadyReported)) throw e;
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const sorted = [...this.list].sort((a, b) => a.seq - b.seq);
    throw AsmError.combine(sorted.slice(0, MAX_REPORTED_ERRORS), Math.max(0, sorted.length - MAX_REPORTED_ERRORS));
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(up + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo: one edit for
 * short words, two for longer ones. Ties go to the longer common prefix (HLT is HALT, not SLT),
 * then to the same length (PUSH3 is PUSH2, not PUSH), then to the earliest (table order).
 */
export function nearest(word: string, candidates: Iterable<string>, fold = (s: string) => s): string | undefined {
  const w = fold(word);
  const limit = w.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestKey = [limit + 1, 0, 0];
  for (const c of candidates) {
    if (Math.abs(c.length - w.length) > limit) continue;
    const f = fold(c);
    let prefix = 0;
    while (prefix < f.length && f[prefix] === w[prefix]) prefix++;
    const key = [editDistance(w, f), -prefix, f.length === w.length ? 0 : 1];
    if (key[0] <= limit && (key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2]))))) {
      best = c;
      bestKey = key;
    }
  }
  return best;
}
