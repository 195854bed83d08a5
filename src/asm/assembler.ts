// The assembler driver. It works in three steps:
//   1. read: lex and parse every line (following includes, expanding macros) into a flat
//      statement list, declaring every label and constant name as it goes;
//   2. layout: give each label its address (code: instruction index, data: byte offset);
//   3. emit: evaluate every expression (now that forward references are known) and encode.
// Errors are collected per statement, so one run reports many of them.
import { predefinedConstants } from "../../isa/ports.js";
import { BY_NAME, OPS, type OpSpec, WORDS_PER_INSTRUCTION } from "../../isa/table.js";
import { IMAGE_BYTES_MAX, IMAGE_HEADER_BYTES, type Image, type ImageSymbol } from "../vm/image.js";
import { AlreadyReported, AsmError, Diagnostics, nearest, type SourceLine } from "./errors.js";
import { evalExpr, type Expr, type NameExpr, namesIn, parseExpr } from "./expr.js";
import { findInclude, LIB_DIR, type ReadFile, readFileUtf8, SOURCE_BYTES_MAX, SOURCE_FILE_BYTES_MAX, SourceRefused, type SourceFile, sourceFile } from "./include.js";
import { checkOperands, checkRange, encodeInstruction, type EncodeEnv, type Operand, parseOperands, WORD_MAX, WORD_MIN } from "./instruction.js";
import { Cursor, describe, lexLine, type Token } from "./lexer.js";
import { ENDM_LINE, MACRO_DEPTH_MAX, MACRO_EXPANSION_LINES_MAX, MACRO_LINE, type MacroDef, parseMacroHeader, splitArguments, substitute } from "./macro.js";
import { registerOf } from "./registers.js";

export interface AssembleOptions {
  /**
   * Directories searched for `.include "name"` after the including file's own directory.
   * Default: the repository's programs/lib.
   */
  includeDirs?: string[];
  /** Reads an included file (throws when it does not exist). Default: node:fs, UTF-8. */
  readFile?: (path: string) => string;
}

/** The name that holds the first free data byte after the data section (rounded up to 4). */
export const DATA_END = "__data_end";

/** The largest .align: beyond this, padding is a mistake rather than a layout need. */
const ALIGN_MAX = 65536n;

type Section = "code" | "data";

interface Sym {
  readonly name: string;
  readonly kind: "code" | "data" | "const" | "builtin";
  /** Labels get it in layout, constants when first evaluated; builtins have it from the start. */
  value: bigint | undefined;
  readonly expr?: Expr;
  readonly src?: SourceLine;
  readonly col: number;
  /** Evaluation state of a constant: "busy" detects circular definitions. */
  state: "idle" | "busy" | "done" | "failed";
}

interface StmtBase {
  readonly src: SourceLine;
  readonly col: number;
  /** Code index or data offset, assigned in layout. */
  at: number;
}
type Stmt = StmtBase &
  (
    | { readonly k: "label"; readonly sym: Sym }
    | { readonly k: "instr"; readonly spec: OpSpec; readonly ops: readonly Operand[]; readonly lineRef: string }
    | { readonly k: "raw"; readonly words: readonly [Expr, Expr]; readonly lineRef: string }
    | { readonly k: "byte" | "word"; readonly items: readonly Expr[] }
    | { readonly k: "bytes"; readonly bytes: Uint8Array }
    | { readonly k: "zero" | "align"; readonly e: Expr; size: number }
  );

/** Where a line came from beyond its SourceLine: what includes and macro expansions need. */
interface LineCtx {
  /** The file the text belongs to (for a macro body line, the defining file). */
  readonly file: SourceFile;
  readonly depth: number;
  readonly notes: readonly string[];
  /** For lines from a macro expansion: "file:line" of the outermost invocation, recorded in Image.lines. */
  readonly lineRef: string | undefined;
}

type DirectiveHandler = (a: Assembler, cur: Cursor, t: Token, src: SourceLine, ctx: LineCtx) => MacroDef | void;

/** Every directive and its handler; the keys are also the candidates for "did you mean". */
const DIRECTIVES: Readonly<Record<string, DirectiveHandler>> = {
  ".code": (a, cur, t) => a.setSection(cur, t, "code"),
  ".data": (a, cur, t) => a.setSection(cur, t, "data"),
  ".const": (a, cur) => {
    const name = cur.next();
    cur.eat(",");
    a.defineConst(name, cur);
  },
  ".byte": (a, cur, t, src) => a.dataList(cur, t, src, "byte"),
  ".word": (a, cur, t, src) => a.dataList(cur, t, src, "word"),
  ".string": (a, cur, t, src) => a.dataString(cur, t, src, false),
  ".asciz": (a, cur, t, src) => a.dataString(cur, t, src, true),
  ".zero": (a, cur, t, src) => a.dataSized(cur, t, src, "zero"),
  ".align": (a, cur, t, src) => a.dataSized(cur, t, src, "align"),
  ".entry": (a, cur, t, src) => a.setEntry(cur, src),
  ".include": (a, cur, t, src, ctx) => a.include(cur, src, ctx),
  ".macro": (a, cur, t, src, ctx) => a.startMacro(cur, t, src, ctx),
  ".endm": (a, cur, t) => {
    throw cur.error(t, `.endm without a matching .macro`);
  },
  ".invalid": (a, cur, t, src, ctx) => a.rawInstruction(cur, t, src, ctx),
};

class Assembler implements EncodeEnv {
  private readonly diags = new Diagnostics();
  private readonly macros = new Map<string, MacroDef>();
  private readonly symbols = new Map<string, Sym>();
  /** Labels and constants the program defines, in definition order, for Image.symbols. */
  private readonly userSyms: Sym[] = [];
  private readonly stmts: Stmt[] = [];
  private section: Section = "code";
  private entry: { e: Expr; src: SourceLine; col: number } | undefined;
  /** Files being read right now (to detect include cycles) and all files read (include-once). */
  private readonly includeStack: SourceFile[] = [];
  private readonly included = new Set<string>();
  private expansions = 0;
  /** Lines produced by macro expansion so far (bounded by MACRO_EXPANSION_LINES_MAX). */
  private expandedLines = 0;
  /** Bytes of source read so far, the main file included (bounded by SOURCE_BYTES_MAX). */
  private sourceBytes = 0;
  /**
   * Set when a limit on the whole assembly was hit (macro expansion, image size): reading
   * and layout stop there, and the one error that says why is the result.
   */
  private stopped = false;
  /** Counts lines in reading order, for SourceLine.seq. */
  private seq = 0;
  private phase: "read" | "layout" | "emit" = "read";
  private codeCount = 0;
  private dataSize = 0;

  constructor(
    private readonly includeDirs: readonly string[],
    private readonly read: ReadFile,
  ) {
    for (const [name, value] of predefinedConstants()) this.builtin(name, BigInt(value));
    this.builtin(DATA_END, undefined);
  }

  private builtin(name: string, value: bigint | undefined): void {
    this.symbols.set(name, { name, kind: "builtin", value, col: 0, state: "done" });
  }

  assemble(text: string, file: string): Image {
    const main = sourceFile(file, file);
    const over = this.countSource(text);
    if (over) throw AsmError.whole(file, over);
    this.included.add(main.key);
    this.includeStack.push(main);
    this.readFile(text, main);
    if (!this.stopped) this.layout();
    // Emitting allocates the image: not when layout found it too large.
    if (this.stopped) this.diags.throwIfAny();
    const img = this.emit();
    this.diags.throwIfAny();
    return img;
  }

  /** Counts a file's text against the source limits; returns why it is refused, if it is. */
  private countSource(text: string): string | undefined {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > SOURCE_FILE_BYTES_MAX) return `it has ${bytes} bytes, more than the ${SOURCE_FILE_BYTES_MAX}-byte limit for a source file`;
    this.sourceBytes += bytes;
    if (this.sourceBytes > SOURCE_BYTES_MAX) return `the program's source files would exceed ${SOURCE_BYTES_MAX} bytes together`;
    return undefined;
  }

  // ---- step 1: reading ------------------------------------------------------------------

  private readFile(text: string, file: SourceFile): void {
    const ctx: LineCtx = { file, depth: 0, notes: [], lineRef: undefined };
    // A byte order mark is an editor artefact, not a character of the first line.
    const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r?\n/);
    let open: { def: MacroDef; src: SourceLine; col: number } | undefined;
    for (let i = 0; i < lines.length && !this.stopped; i++) {
      const src: SourceLine = { file: file.display, line: i + 1, text: lines[i], seq: this.seq++ };
      if (open) {
        // Body lines are stored unlexed: they may hold \param and \@, which only make sense after substitution.
        if (ENDM_LINE.test(src.text)) {
          this.macros.set(open.def.name, open.def);
          open = undefined;
        } else if (MACRO_LINE.test(src.text)) {
          const col = src.text.search(/\.macro/i) + 1;
          this.diags.add(
            AsmError.at(src, col, `macro definitions cannot be nested (is the .endm of ${open.def.name}, defined at line ${open.src.line}, missing?)`),
          );
        } else open.def.body.push({ text: src.text, line: src.line });
        continue;
      }
      const started = this.line(src, ctx);
      if (started) open = { def: started, src, col: 1 };
    }
    if (open) {
      const col = open.src.text.search(/\.macro/i) + 1;
      this.diags.add(AsmError.at(open.src, col, `unterminated .macro ${open.def.name} (missing .endm)`));
    }
  }

  /** Handles one line; returns the macro whose definition it opens, if it is a .macro line. */
  private line(src: SourceLine, ctx: LineCtx): MacroDef | void {
    if (this.stopped) return;
    try {
      const tokens = lexLine(src);
      const cur = new Cursor(tokens, src);
      while (cur.peek().kind === "name" && cur.peek(1).kind === "op" && cur.peek(1).text === ":") {
        const t = cur.next();
        cur.next();
        this.defineLabel(t, src);
      }
      if (cur.atEnd()) return;
      const head = cur.peek();
      if (head.kind !== "name") throw cur.error(head, `expected an instruction, directive or label, found ${describe(head)}`);
      const after = cur.peek(1);
      if (after.kind === "op" && after.text === "=") {
        cur.next();
        cur.next();
        return this.defineConst(head, cur);
      }
      if (head.text.startsWith(".")) return this.directive(cur, src, ctx);
      const upper = head.text.toUpperCase();
      const macro = this.macros.get(upper);
      if (macro) return this.expand(macro, cur, src, ctx);
      const spec = BY_NAME.get(upper);
      if (!spec) {
        const guess = nearest(upper, [...OPS.map((s) => s.name), ...this.macros.keys()]);
        const hint = guess ? `did you mean ${guess}?` : "expected an instruction, a directive or a macro";
        throw cur.error(head, `unknown mnemonic "${head.text}" (${hint})`);
      }
      if (this.section !== "code") throw cur.error(head, `instruction ${spec.name} in the .data section (add .code before it)`);
      cur.next();
      const ops = parseOperands(cur);
      checkOperands(spec, ops, head.col, src);
      this.stmts.push({ k: "instr", spec, ops, src, col: head.col, at: 0, lineRef: ctx.lineRef ?? `${src.file}:${src.line}` });
    } catch (e) {
      this.diags.catch(e);
    }
  }

  private directive(cur: Cursor, src: SourceLine, ctx: LineCtx): MacroDef | void {
    const t = cur.next();
    const name = t.text.toLowerCase();
    const handler = Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name] : undefined;
    if (!handler) {
      const guess = nearest(name, Object.keys(DIRECTIVES));
      const hint = guess ? `did you mean ${guess}?` : `expected one of ${Object.keys(DIRECTIVES).join(" ")}`;
      throw cur.error(t, `unknown directive "${t.text}" (${hint})`);
    }
    return handler(this, cur, t, src, ctx);
  }

  /** Checks that a new label or constant name is usable; reports and returns undefined when not. */
  private declare(t: Token, src: SourceLine, kind: Sym["kind"], expr?: Expr): Sym | undefined {
    const what = kind === "const" ? "constant" : "label";
    try {
      if (t.kind !== "name") throw AsmError.at(src, t.col, `expected a ${what} name, found ${describe(t)}`);
      if (registerOf(t.text) !== undefined) {
        throw AsmError.at(src, t.col, `"${t.text}" is a register name and cannot be a ${what}`);
      }
      const old = this.symbols.get(t.text);
      if (old) {
        const first = old.src ? `first defined at ${old.src.file}:${old.src.line}:${old.col}` : "it is predefined by the assembler";
        throw AsmError.at(src, t.col, `duplicate ${what} "${t.text}" (${first})`);
      }
    } catch (e) {
      this.diags.catch(e);
      return undefined;
    }
    const sym: Sym = { name: t.text, kind, value: undefined, expr, src, col: t.col, state: "idle" };
    this.symbols.set(sym.name, sym);
    this.userSyms.push(sym);
    return sym;
  }

  private defineLabel(t: Token, src: SourceLine): void {
    const sym = this.declare(t, src, this.section);
    if (sym) this.stmts.push({ k: "label", sym, src, col: t.col, at: 0 });
  }

  defineConst(name: Token, cur: Cursor): void {
    if (name.kind !== "name") throw cur.error(name, `expected a constant name, found ${describe(name)}`);
    const e = parseExpr(cur);
    cur.expectEnd("the constant's value");
    this.declare(name, cur.src, "const", e);
  }

  setSection(cur: Cursor, t: Token, s: Section): void {
    cur.expectEnd(t.text);
    this.section = s;
  }

  private needSection(t: Token, src: SourceLine, want: Section): void {
    if (this.section === want) return;
    const what = want === "data" ? "a data directive" : "only allowed in code";
    throw AsmError.at(src, t.col, `${t.text} is ${what}; it is not allowed in the .${this.section} section (add .${want} before it)`);
  }

  dataList(cur: Cursor, t: Token, src: SourceLine, k: "byte" | "word"): void {
    this.needSection(t, src, "data");
    const items = [parseExpr(cur)];
    while (cur.eat(",")) items.push(parseExpr(cur));
    cur.expectEnd(`the values of ${t.text}`);
    this.stmts.push({ k, items, src, col: t.col, at: 0 });
  }

  dataString(cur: Cursor, t: Token, src: SourceLine, nulTerminated: boolean): void {
    this.needSection(t, src, "data");
    const s = cur.next();
    if (s.kind !== "str") throw cur.error(s, `expected a string literal after ${t.text}, found ${describe(s)}`);
    cur.expectEnd(`the string of ${t.text}`);
    let bytes = s.bytes!;
    if (nulTerminated) {
      bytes = new Uint8Array(bytes.length + 1);
      bytes.set(s.bytes!);
    }
    this.stmts.push({ k: "bytes", bytes, src, col: t.col, at: 0 });
  }

  dataSized(cur: Cursor, t: Token, src: SourceLine, k: "zero" | "align"): void {
    this.needSection(t, src, "data");
    const e = parseExpr(cur);
    cur.expectEnd(`the argument of ${t.text}`);
    this.stmts.push({ k, e, size: 0, src, col: t.col, at: 0 });
  }

  rawInstruction(cur: Cursor, t: Token, src: SourceLine, ctx: LineCtx): void {
    this.needSection(t, src, "code");
    const w0 = parseExpr(cur);
    const comma = cur.peek();
    if (!cur.eat(",")) throw cur.error(comma, `.invalid takes two words (word0, word1), found ${describe(comma)}`);
    const w1 = parseExpr(cur);
    cur.expectEnd(".invalid word0, word1");
    this.stmts.push({ k: "raw", words: [w0, w1], src, col: t.col, at: 0, lineRef: ctx.lineRef ?? `${src.file}:${src.line}` });
  }

  setEntry(cur: Cursor, src: SourceLine): void {
    const col = cur.peek().col;
    const e = parseExpr(cur);
    cur.expectEnd(".entry");
    if (this.entry) {
      throw AsmError.at(src, col, `duplicate .entry (the first is at ${this.entry.src.file}:${this.entry.src.line})`);
    }
    this.entry = { e, src, col };
  }

  include(cur: Cursor, src: SourceLine, ctx: LineCtx): void {
    const s = cur.next();
    if (s.kind !== "str") throw cur.error(s, `expected a file name in quotes after .include, found ${describe(s)}`);
    cur.expectEnd(".include");
    const name = new TextDecoder().decode(s.bytes);
    if (name === "") throw cur.error(s, `empty file name in .include`);
    const found = findInclude(name, ctx.file, this.includeDirs, this.read);
    if ("searched" in found) {
      throw cur.error(s, `cannot find include file "${name}" (searched ${found.searched.join(", ")})`);
    }
    if ("refused" in found) throw cur.error(s, `cannot include ${found.display}: ${found.refused}`);
    const f = found.file;
    const open = this.includeStack.findIndex((x) => x.key === f.key);
    if (open >= 0) {
      const chain = [...this.includeStack.slice(open), f].map((x) => x.display).join(" -> ");
      throw cur.error(s, `include cycle: ${chain}`);
    }
    // Include-once (like #pragma once): a file that was already read completely is skipped
    // silently, so library files may include what they need without guards.
    if (this.included.has(f.key)) return;
    this.included.add(f.key);
    const over = this.countSource(found.text);
    if (over) throw cur.error(s, `cannot include ${f.display}: ${over}`);
    this.includeStack.push(f);
    try {
      this.readFile(found.text, f);
    } finally {
      this.includeStack.pop();
    }
  }

  startMacro(cur: Cursor, t: Token, src: SourceLine, ctx: LineCtx): MacroDef {
    if (ctx.depth > 0) throw cur.error(t, `macro definitions are not allowed inside a macro body`);
    const { name, params } = parseMacroHeader(cur, (n) => this.macros.has(n));
    return { name, params, file: ctx.file, line: src.line, body: [] };
  }

  private expand(def: MacroDef, cur: Cursor, src: SourceLine, ctx: LineCtx): void {
    const head = cur.next();
    if (ctx.depth >= MACRO_DEPTH_MAX) {
      // Runaway recursion: stop reading rather than report it again at every other branch.
      this.stopped = true;
      throw cur.error(head, `macro ${def.name} nested more than ${MACRO_DEPTH_MAX} levels deep (does it invoke itself?)`);
    }
    const args = splitArguments(cur.tokens, cur.pos, src);
    if (args.length !== def.params.length) {
      const n = def.params.length;
      const list = n ? ` (${def.params.join(", ")})` : "";
      throw cur.error(head, `macro ${def.name} takes ${n} argument${n === 1 ? "" : "s"}${list}, got ${args.length}`);
    }
    // The nesting bound does not bound the total: a macro invoking itself twice doubles
    // its output at every level. The whole program's expansions share one bound.
    if (this.expandedLines + def.body.length > MACRO_EXPANSION_LINES_MAX) {
      this.stopped = true;
      throw cur.error(
        head,
        `macro expansion stopped: expanding ${def.name} here would take the program past ${MACRO_EXPANSION_LINES_MAX} lines produced by macros (does a macro invoke itself?)`,
      );
    }
    this.expandedLines += def.body.length;
    const unique = ++this.expansions;
    const notes = [`in expansion of macro ${def.name} at ${src.file}:${src.line}:${head.col}`, ...ctx.notes];
    const inner: LineCtx = { file: def.file, depth: ctx.depth + 1, notes, lineRef: ctx.lineRef ?? `${src.file}:${src.line}` };
    for (const b of def.body) {
      const text = substitute(b.text, def, args, unique);
      this.line({ file: def.file.display, line: b.line, text, notes, seq: this.seq++ }, inner);
    }
  }

  // ---- step 2: layout -------------------------------------------------------------------

  private layout(): void {
    this.phase = "layout";
    let code = 0;
    let data = 0;
    for (const s of this.stmts) {
      switch (s.k) {
        case "label":
          s.sym.value = BigInt(s.sym.kind === "code" ? code : data);
          break;
        case "instr":
        case "raw":
          s.at = code++;
          break;
        case "byte":
        case "word":
          s.at = data;
          data += s.items.length * (s.k === "word" ? 4 : 1);
          break;
        case "bytes":
          s.at = data;
          data += s.bytes.length;
          break;
        case "zero":
        case "align":
          s.at = data;
          try {
            s.size = this.sizeOf(s, data);
          } catch (e) {
            this.diags.catch(e);
          }
          data += s.size;
          break;
      }
      // The image must stay within IMAGE_BYTES_MAX, the limit every reader of images
      // checks: refused here, at the statement that crosses it, before anything is allocated.
      const total = IMAGE_HEADER_BYTES + code * WORDS_PER_INSTRUCTION * 4 + data;
      if (total > IMAGE_BYTES_MAX) {
        const what = s.k === "instr" || s.k === "raw" ? "this instruction" : `this ${s.k === "bytes" ? "string" : `.${s.k}`}`;
        this.diags.add(
          AsmError.at(
            s.src,
            s.col,
            `${what} takes the image past its ${IMAGE_BYTES_MAX}-byte limit: ${code} instructions (${code * WORDS_PER_INSTRUCTION * 4} bytes) and ${data} data bytes make ${total} bytes with the header`,
          ),
        );
        this.stopped = true;
        return;
      }
    }
    this.codeCount = code;
    this.dataSize = data;
    this.symbols.get(DATA_END)!.value = BigInt((data + 3) & ~3);
  }

  private sizeOf(s: Stmt & { k: "zero" | "align" }, data: number): number {
    const v = this.value(s.e, s.src);
    if (s.k === "zero") return checkRange(v, 0n, BigInt(IMAGE_BYTES_MAX), "a .zero size", s.src, s.e.col);
    if (v < 1n || v > ALIGN_MAX || (v & (v - 1n)) !== 0n) {
      throw AsmError.at(s.src, s.e.col, `.align needs a power of two 1..${ALIGN_MAX}, got ${v}`);
    }
    const n = Number(v);
    return (n - (data % n)) % n;
  }

  // ---- step 3: emit ---------------------------------------------------------------------

  private emit(): Image {
    this.phase = "emit";
    // Every constant is evaluated once, in order, so errors in unused ones are reported too.
    for (const sym of this.userSyms) {
      if (sym.kind !== "const") continue;
      try {
        this.constValue(sym, sym.col, sym.src!);
      } catch (e) {
        this.diags.catch(e);
      }
    }
    const code = new Int32Array(this.codeCount * WORDS_PER_INSTRUCTION);
    const data = new Uint8Array(this.dataSize);
    const dv = new DataView(data.buffer);
    const lines = new Array<string>(this.codeCount);
    for (const s of this.stmts) {
      try {
        switch (s.k) {
          case "instr":
            lines[s.at] = s.lineRef;
            encodeInstruction(s.spec, s.ops, this, s.src, code, s.at * WORDS_PER_INSTRUCTION);
            break;
          case "raw":
            lines[s.at] = s.lineRef;
            s.words.forEach((e, i) => {
              code[s.at * WORDS_PER_INSTRUCTION + i] = checkRange(this.value(e, s.src), WORD_MIN, WORD_MAX, "an instruction word", s.src, e.col);
            });
            break;
          case "byte":
            s.items.forEach((e, i) => {
              data[s.at + i] = checkRange(this.value(e, s.src), -128n, 255n, ".byte", s.src, e.col) & 0xff;
            });
            break;
          case "word":
            s.items.forEach((e, i) => {
              dv.setUint32(s.at + 4 * i, checkRange(this.value(e, s.src), WORD_MIN, WORD_MAX, ".word", s.src, e.col) >>> 0, true);
            });
            break;
          case "bytes":
            data.set(s.bytes, s.at);
            break;
        }
      } catch (e) {
        this.diags.catch(e);
      }
    }
    return { code, data, entry: this.entryPoint(), symbols: this.imageSymbols(), lines };
  }

  private entryPoint(): number {
    if (!this.entry) {
      const main = this.symbols.get("main");
      return main?.kind === "code" && main.value !== undefined ? Number(main.value) : 0;
    }
    const { e, src, col } = this.entry;
    try {
      if (e.k === "name" && this.sectionOf(e.name) === "data") throw AsmError.at(src, e.col, `"${e.name}" is a data label; .entry needs a code address`);
      const v = this.value(e, src);
      const n = this.codeCount;
      const last = BigInt(Math.max(0, n - 1));
      if (v < 0n || v > last) {
        throw AsmError.at(src, col, `entry point ${v} is outside the code (expected 0..${last}; the program has ${n} instruction${n === 1 ? "" : "s"})`);
      }
      return Number(v);
    } catch (err) {
      this.diags.catch(err);
      return 0;
    }
  }

  private imageSymbols(): ImageSymbol[] {
    const out: ImageSymbol[] = [];
    for (const s of this.userSyms) {
      if (s.value === undefined || s.kind === "builtin") continue;
      out.push({ name: s.name, value: Number(s.value), section: s.kind });
    }
    return out;
  }

  // ---- names and values -----------------------------------------------------------------

  value(e: Expr, src: SourceLine): bigint {
    return e.k === "num" ? e.v : evalExpr(e, this.resolve, src);
  }

  sectionOf(name: string): "code" | "data" | "const" | undefined {
    const s = this.symbols.get(name);
    return s ? (s.kind === "builtin" ? "const" : s.kind) : undefined;
  }

  private readonly resolve = (node: { name: string; col: number }, src: SourceLine): bigint => {
    const sym = this.symbols.get(node.name);
    if (!sym) {
      const guess = nearest(node.name, this.symbols.keys(), (s) => s.toLowerCase());
      throw AsmError.at(src, node.col, `undefined name "${node.name}"${guess ? ` (did you mean ${guess}?)` : ""}`);
    }
    if (sym.kind === "const") return this.constValue(sym, node.col, src);
    if (sym.value === undefined) {
      // Only in layout: a .zero/.align size may use labels defined above it, not below.
      if (sym.kind === "builtin") {
        throw AsmError.at(src, node.col, `${sym.name} is not known until the whole data section is laid out`);
      }
      const at = sym.src ? ` (at ${sym.src.file}:${sym.src.line})` : "";
      throw AsmError.at(src, node.col, `"${sym.name}" is defined further down${at}; a .zero or .align size must be known where it appears`);
    }
    return sym.value;
  };

  /**
   * The value of a constant, evaluating first (without recursion: a chain of 10,000
   * constants each defined by the next must not overflow the stack) every constant it
   * depends on. A depth-first walk over the dependencies with an explicit stack; every
   * constant on the stack is "busy", so meeting one again is a circular definition.
   */
  private constValue(sym: Sym, refCol: number, refSrc: SourceLine): bigint {
    switch (sym.state) {
      case "done":
        return sym.value!;
      case "failed":
        throw new AlreadyReported();
      case "busy":
        throw AsmError.at(refSrc, refCol, `circular definition: "${sym.name}" depends on itself`);
      case "idle":
        break;
    }
    const stack: { sym: Sym; deps: NameExpr[]; next: number }[] = [];
    const enter = (s: Sym) => {
      s.state = "busy";
      stack.push({ sym: s, deps: namesIn(s.expr!), next: 0 });
    };
    enter(sym);
    try {
      while (stack.length > 0) {
        const f = stack[stack.length - 1];
        if (f.next < f.deps.length) {
          const ref = f.deps[f.next++];
          const dep = this.symbols.get(ref.name);
          if (dep?.kind !== "const" || dep.state === "done") continue; // evalExpr resolves (or reports) it
          if (dep.state === "failed") throw new AlreadyReported();
          if (dep.state === "busy") throw AsmError.at(f.sym.src!, ref.col, `circular definition: "${dep.name}" depends on itself`);
          enter(dep);
          continue;
        }
        // Every constant this one names has its value now.
        f.sym.value = evalExpr(f.sym.expr!, this.resolve, f.sym.src!);
        f.sym.state = "done";
        stack.pop();
      }
      return sym.value!;
    } catch (e) {
      // During layout a constant may fail only because later labels are not placed yet; retry it in emit.
      for (const f of stack) f.sym.state = this.phase === "emit" ? "failed" : "idle";
      throw e;
    }
  }
}

/** Assembles `source`; `file` names it in messages and locates its includes. Throws AsmError listing every problem. */
export function assemble(source: string, file: string, opts: AssembleOptions = {}): Image {
  const a = new Assembler(opts.includeDirs ?? [LIB_DIR], opts.readFile ?? readFileUtf8);
  return a.assemble(source, file);
}

/** Reads and assembles a source file (UTF-8). */
export function assembleFile(path: string, opts: AssembleOptions = {}): Image {
  let text: string;
  try {
    text = (opts.readFile ?? readFileUtf8)(path);
  } catch (e) {
    if (e instanceof SourceRefused) throw AsmError.whole(path, `cannot assemble it: ${e.message}`);
    throw e;
  }
  return assemble(text, path, opts);
}
