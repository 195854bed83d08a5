// A debugging session: the timeline, the program's symbols, the user's breakpoints, and
// the one entry point `execute(line)` that runs a command and returns its answer. The
// session is pure: the caller gives it the decoded log (and, optionally, a way to read
// source lines) and prints the answers.
import { REGISTER_COUNT } from "../../isa/table.js";
import { registerOf } from "../asm/registers.js";
import type { Answer, Place } from "./format.js";
import { placeOf, placeText, sourceText } from "./format.js";
import type { EvalEnv, Expr } from "./expr.js";
import { ExprError, evalExpr, parseExpr } from "./expr.js";
import type { DebugLog } from "./log.js";
import { Breakpoints } from "./breakpoints.js";
import { Symbols } from "./symbols.js";
import type { TimelineOptions } from "./timeline.js";
import { DebugError, Timeline } from "./timeline.js";
import type { Target } from "./watch.js";
import { WATCH_BYTES_MAX } from "./watch.js";
import { COMMANDS, findCommand, splitArgs } from "./commands.js";

/** Longest command line accepted, in characters. */
export const COMMAND_CHARS_MAX = 4000;

export interface SessionOptions extends TimelineOptions {
  /** Reads the text of a source line ("file:line"), for listings; undefined when unavailable. */
  readLine?: (ref: string) => string | undefined;
}

export class Session {
  readonly tl: Timeline;
  readonly sym: Symbols;
  readonly bps = new Breakpoints();
  readonly readLine: ((ref: string) => string | undefined) | undefined;
  /** Set by `quit`. */
  quit = false;
  /** What expressions read: the machine as it stands. */
  readonly env: EvalEnv;

  constructor(
    readonly log: DebugLog,
    opts: SessionOptions = {},
  ) {
    this.tl = new Timeline(log, opts);
    this.sym = new Symbols(log.image);
    this.readLine = opts.readLine;
    const m = this.tl.machine;
    this.env = {
      reg: (r) => m.regs[r],
      pc: () => m.pc,
      icount: () => m.icount,
      read: (addr, size) => {
        if (!Number.isSafeInteger(addr) || addr < 0 || addr + size > m.memBytes) throw new ExprError(`address ${addr} is outside memory [0, ${m.memBytes})`);
        return size === 1 ? m.mem[addr] : m.mem[addr] | (m.mem[addr + 1] << 8) | (m.mem[addr + 2] << 16) | (m.mem[addr + 3] << 24);
      },
    };
  }

  /** Runs one command line; errors in it become an answer with `error`, never an exception. */
  async execute(line: string): Promise<Answer & { ok: boolean }> {
    const text = line.trim();
    try {
      if (text.length > COMMAND_CHARS_MAX) throw new DebugError(`command of ${text.length} characters is longer than ${COMMAND_CHARS_MAX} (COMMAND_CHARS_MAX)`);
      if (text === "" || text.startsWith("#")) return { ok: true, data: {}, text: [] };
      const sp = text.search(/\s/);
      const name = sp < 0 ? text : text.slice(0, sp);
      const rest = sp < 0 ? "" : text.slice(sp + 1).trim();
      const cmd = findCommand(name);
      if (!cmd) throw new DebugError(`unknown command "${name}" (type help for the list)`);
      const answer = await cmd.run(this, cmd.rawArgs ? [rest] : splitArgs(rest), rest);
      return { ok: true, ...answer };
    } catch (e) {
      if (e instanceof DebugError || e instanceof ExprError || e instanceof RangeError) return { ok: false, data: { error: e.message }, text: [`error: ${e.message}`] };
      throw e;
    }
  }

  /** Names for tab completion: commands and program symbols. */
  completions(): string[] {
    return [...COMMANDS.flatMap((c) => [c.name, ...c.aliases]), ...this.sym.names()];
  }

  // --- helpers the commands share ---------------------------------------------------

  get machine() {
    return this.tl.machine;
  }

  here(): Place {
    return placeOf(this.sym, this.tl.icount, this.tl.machine.pc);
  }

  /** The current position as answer fields and lines (with the source text when readable). */
  position(): { data: Record<string, unknown>; text: string[] } {
    const p = this.here();
    const m = this.tl.machine;
    const text = [placeText(p), ...sourceText(p, this.readLine)];
    const state: Record<string, unknown> = {};
    if (m.trap) {
      state.trap = { kind: m.trap.kind, detail: m.trap.detail };
      text.push(`  the guest trapped here: ${m.trap.kind}: ${m.trap.detail}`);
    } else if (m.halted) {
      state.halted = true;
      text.push("  the guest has halted");
    } else if (m.waiting) {
      state.waiting = true;
      text.push("  the guest waits for an interrupt");
    }
    if (this.tl.icount === this.tl.endIcount) {
      state.atEnd = true;
      text.push(`  end of the history: ${this.tl.endReason}`);
    }
    return { data: { position: p, ...state }, text };
  }

  expr(text: string): Expr {
    return parseExpr(text, (name) => this.sym.lookup(name));
  }

  /** Evaluates an expression at the current position. */
  value(text: string): number {
    return evalExpr(this.expr(text), this.env);
  }

  /** A non-negative integer argument: a number (100000, 1_000_000, 1e6, 2M) or an expression (loop+2). */
  count(text: string | undefined, what: string, dflt?: number): number {
    if (text === undefined || text === "") {
      if (dflt === undefined) throw new DebugError(`expected ${what}`);
      return dflt;
    }
    // Counts read like the command line's: 1_000_000, 1e6 and 2M work, besides expressions.
    const n = /^(\d[\d_]*(?:\.\d+)?(?:e\d+)?)([kKmMgG]?)$/.exec(text);
    const v = n ? Number(n[1].replace(/_/g, "")) * { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[n[2]]! : this.value(text);
    if (!Number.isSafeInteger(v) || v < 0) throw new DebugError(`${what} must be a non-negative integer, got ${text} (= ${v})`);
    return v;
  }

  /** An icount argument within the history. */
  icountArg(text: string | undefined, what = "an icount"): number {
    const v = this.count(text, what);
    if (v > this.tl.endIcount) throw new DebugError(`icount ${v} is past the end of the history (${this.tl.endIcount}: ${this.tl.endReason})`);
    return v;
  }

  /** A register (rN, sp) or a memory range (ADDR [LEN], LEN defaulting to 4). */
  target(args: string[], usage: string): Target {
    if (args.length === 0) throw new DebugError(`expected a register or an address: ${usage}`);
    const r = registerOf(args[0]);
    if (r === "bad") throw new DebugError(`unknown register "${args[0]}" (r0..r${REGISTER_COUNT - 1} or sp)`);
    if (r !== undefined) {
      if (args.length > 1) throw new DebugError(`a register takes no length: ${usage}`);
      return { kind: "reg", reg: r };
    }
    if (args.length > 2) throw new DebugError(`too many arguments: ${usage}`);
    const addr = this.value(args[0]);
    const len = args.length > 1 ? this.value(args[1]) : 4;
    const memBytes = this.tl.machine.memBytes;
    if (!Number.isSafeInteger(len) || len < 1 || len > WATCH_BYTES_MAX) throw new DebugError(`length must be 1..${WATCH_BYTES_MAX} bytes (WATCH_BYTES_MAX), got ${len}`);
    if (!Number.isSafeInteger(addr) || addr < 0 || addr + len > memBytes) throw new DebugError(`address range ${addr}..+${len} is outside memory [0, ${memBytes})`);
    return { kind: "mem", addr, len, spec: args[0] };
  }

  /**
   * Code addresses a location names: LABEL or LABEL+N, FILE:LINE, *PC or `pc N`.
   * Returns the pcs and a canonical description.
   */
  codeLocation(args: string[]): { pcs: number[]; spec: string } {
    const sym = this.sym;
    if (args[0] === "pc" || args[0]?.startsWith("*")) {
      const text = args[0] === "pc" ? args[1] : args[0].slice(1);
      const pc = this.count(text, "a code address");
      if (pc >= sym.codeCount) throw new DebugError(`pc ${pc} is outside the code (${sym.codeCount} instructions)`);
      return { pcs: [pc], spec: `*${pc}` };
    }
    const loc = args[0];
    if (loc === undefined) throw new DebugError("expected a location: LABEL, FILE:LINE, *PC");
    const fl = /^(.+):(\d+)$/.exec(loc);
    if (fl) {
      const pcs = sym.pcsOfLine(fl[1], Number(fl[2]));
      if (pcs.length === 0) {
        const files = sym.files();
        throw new DebugError(`no code at ${loc} (the program's source files: ${files.length ? files.join(", ") : "none recorded"})`);
      }
      return { pcs, spec: loc };
    }
    if (/^\d+$/.test(loc)) throw new DebugError(`"${loc}" is ambiguous: write *${loc} for pc ${loc}, @${loc} for icount ${loc}, or FILE:${loc} for a source line`);
    const lm = /^([A-Za-z_.][A-Za-z0-9_.]*)(?:\+(\d+))?$/.exec(loc);
    const base = lm ? sym.codeLabel(lm[1]) : undefined;
    if (base === undefined) throw new DebugError(`no code label "${lm ? lm[1] : loc}" (a location is LABEL, LABEL+N, FILE:LINE or *PC)`);
    const pc = base + (lm![2] ? Number(lm![2]) : 0);
    if (pc >= sym.codeCount) throw new DebugError(`${loc} = pc ${pc} is outside the code (${sym.codeCount} instructions)`);
    return { pcs: [pc], spec: loc };
  }
}

export { DebugError };
