// The command table: names, aliases, usage and the function behind each, and how a
// command line is split into arguments. `help` is generated from this table, so the
// reference (docs/debug.md) and the debugger cannot disagree on what exists.
import type { Answer } from "./format.js";
import type { Session } from "./session.js";
import { DebugError } from "./timeline.js";
import * as motion from "./motion.js";
import * as questions from "./questions.js";
import * as views from "./views.js";
import * as stops from "./stops.js";

export interface Command {
  name: string;
  aliases: string[];
  usage: string;
  summary: string;
  /** The whole rest of the line is one argument (an expression). */
  rawArgs?: boolean;
  run(s: Session, args: string[], rest: string): Promise<Answer> | Answer;
}

export const COMMANDS: Command[] = [
  { name: "step", aliases: ["s", "si", "stepi"], usage: "step [N]", summary: "execute N instructions (default 1)", run: motion.step },
  { name: "next", aliases: ["n", "ni", "nexti"], usage: "next", summary: "execute one instruction, running a CALL through to its return", run: motion.next },
  { name: "continue", aliases: ["c", "cont"], usage: "continue", summary: "run forward to the next breakpoint or watchpoint, or the end", run: motion.cont },
  { name: "finish", aliases: ["fin"], usage: "finish", summary: "run until the current function (or interrupt handler) returns", run: motion.finish },
  { name: "reverse-step", aliases: ["rs", "rsi", "reverse-stepi"], usage: "reverse-step [N]", summary: "go back N instructions (default 1)", run: motion.reverseStep },
  { name: "reverse-next", aliases: ["rn", "reverse-nexti"], usage: "reverse-next", summary: "go back one instruction, stepping back over a whole CALL", run: motion.reverseNext },
  { name: "reverse-continue", aliases: ["rc"], usage: "reverse-continue", summary: "run backward to the previous breakpoint or watchpoint, or the start", run: motion.reverseCont },
  { name: "reverse-finish", aliases: ["rf"], usage: "reverse-finish", summary: "go back to the CALL (or interrupt) that entered the current function", run: motion.reverseFinish },
  { name: "goto", aliases: ["g", "jump"], usage: "goto ICOUNT", summary: "go to a position, forward or backward (start and end work too)", run: motion.gotoCmd },
  {
    name: "break",
    aliases: ["b"],
    usage: "break LABEL[+N] | FILE:LINE | *PC | @ICOUNT | event KIND   [if EXPR]",
    summary: "stop at a code location, an icount or an event kind (timer, console, disk, net, net-rx, rand, time, …)",
    run: stops.breakCmd,
  },
  { name: "watch", aliases: ["w"], usage: "watch rN | ADDR [LEN]", summary: "stop where a register or memory range changes (both directions)", run: stops.watchCmd },
  { name: "delete", aliases: ["d"], usage: "delete [ID...]", summary: "delete breakpoints and watchpoints (all without IDs)", run: stops.deleteCmd },
  { name: "info", aliases: ["i"], usage: "info breakpoints | snapshots | log", summary: "list breakpoints and watchpoints, snapshot use, or the log's header", run: views.info },
  { name: "regs", aliases: ["registers", "r"], usage: "regs", summary: "registers, pc, flags", run: views.regs },
  { name: "mem", aliases: ["x"], usage: "mem ADDR [LEN]", summary: "memory as hex and text (LEN default 64)", run: views.mem },
  { name: "print", aliases: ["p"], usage: "print EXPR", summary: "evaluate an expression here", rawArgs: true, run: views.print },
  { name: "disasm", aliases: ["list", "l"], usage: "disasm [LOCATION] [N]", summary: "instructions with their source lines around pc (or a location)", run: views.disasm },
  { name: "where", aliases: ["bt", "backtrace"], usage: "where", summary: "the position: icount, pc, label, source line and the log events around it", run: views.where },
  { name: "events", aliases: ["ev"], usage: "events [N]", summary: "the N log events before and after here (default 5)", run: views.events },
  { name: "output", aliases: ["out"], usage: "output [N]", summary: "the last N bytes of console output the guest produced up to here", run: views.output },
  { name: "last-change", aliases: ["lc"], usage: "last-change rN | ADDR [LEN]", summary: "when it last changed before here: icount, instruction, old and new value", run: questions.lastChange },
  { name: "history", aliases: ["hist"], usage: "history rN | ADDR [LEN]   [from ICOUNT] [to ICOUNT]", summary: "every change in a range of icounts (default: from 0 to here)", run: questions.history },
  { name: "when", aliases: [], usage: "when [-r] EXPR", summary: "the next (-r: last) icount at which EXPR becomes true", rawArgs: true, run: questions.when },
  { name: "reverse-when", aliases: ["rw"], usage: "reverse-when EXPR", summary: "when -r EXPR", rawArgs: true, run: questions.reverseWhen },
  { name: "help", aliases: ["h", "?"], usage: "help [COMMAND]", summary: "this list, or one command's usage", run: help },
  { name: "quit", aliases: ["q", "exit"], usage: "quit", summary: "leave the debugger", run: (s) => ((s.quit = true), { data: {}, text: [] }) },
];

const BY_NAME = new Map<string, Command>(COMMANDS.flatMap((c) => [[c.name, c] as const, ...c.aliases.map((a) => [a, c] as const)]));

export function findCommand(name: string): Command | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Splits arguments at spaces outside brackets, parentheses and character literals, so `[r1 + 4]` and `' '` stay one argument. */
export function splitArgs(rest: string): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (quoted && c === "\\") {
      cur += c + (rest[i + 1] ?? "");
      i++;
      continue;
    }
    if (quoted) {
      if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth = Math.max(0, depth - 1);
    if (!quoted && (c === " " || c === "\t") && depth === 0) {
      if (cur) out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

/** Splits a script (--eval text or a -x file) into command lines: at newlines and at ';' outside character literals. */
export function splitScript(text: string): string[] {
  const lines: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") {
      cur += c + (text[i + 1] ?? "");
      i++;
      continue;
    }
    if (quoted) {
      if (c === "'" || c === "\n") quoted = false; // a literal never spans lines
    } else if (c === "'") quoted = true;
    if (!quoted && (c === ";" || c === "\n" || c === "\r")) {
      lines.push(cur);
      cur = "";
    } else cur += c;
  }
  lines.push(cur);
  return lines.map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

function help(_s: Session, args: string[]): Answer {
  if (args.length > 0) {
    const c = findCommand(args[0]);
    if (!c) throw new DebugError(`unknown command "${args[0]}" (type help for the list)`);
    return { data: { name: c.name, aliases: c.aliases, usage: c.usage, summary: c.summary }, text: [`usage: ${c.usage}${c.aliases.length ? `   (also: ${c.aliases.join(", ")})` : ""}`, `  ${c.summary}`] };
  }
  const text = COMMANDS.map((c) => `  ${c.usage.padEnd(36)} ${c.summary}`);
  text.push(
    "",
    "Expressions: r0..r15 sp pc icount, labels and constants, [ADDR] (word) byte[ADDR], 0x1f 'a',",
    "  + - * / % << >> >>> & | ^ ~ ! == != < <= > >= && || ( ). Write arguments without spaces or in brackets.",
  );
  return { data: { commands: COMMANDS.map((c) => ({ name: c.name, aliases: c.aliases, usage: c.usage, summary: c.summary })) }, text };
}
