// How the debugger's answers look: each is a JSON-ready record (for --json) and the same
// facts as text lines (for people). Helpers here describe a position and an event the
// same way in every command.
import type { Event } from "../devices/events.js";
import { EV, kindName } from "../devices/events.js";
import type { Symbols } from "./symbols.js";

export interface Answer {
  /** JSON-ready facts (numbers, strings, arrays and plain objects only). */
  data: Record<string, unknown>;
  /** The same for people, one entry per line. */
  text: string[];
}

/** Where execution stands: a position's pc described with its label, instruction and source line. */
export interface Place {
  icount: number;
  pc: number;
  label?: string;
  instruction: string;
  source?: string;
}

export function placeOf(sym: Symbols, icount: number, pc: number): Place {
  const p: Place = { icount, pc, instruction: sym.instruction(pc) };
  const label = sym.labelOf(pc);
  if (label) p.label = label;
  const source = sym.lineOf(pc);
  if (source) p.source = source;
  return p;
}

/** "icount 1234  pc 17 <loop+2>  LDB r2, [r1]  [count.s:45]" */
export function placeText(p: Place): string {
  return `icount ${p.icount}  ${codeText(p)}`;
}

/** "pc 17 <loop+2>  LDB r2, [r1]  [count.s:45]" */
export function codeText(p: Omit<Place, "icount">): string {
  return `pc ${p.pc}${p.label ? ` <${p.label}>` : ""}  ${p.instruction}${p.source ? `  [${p.source}]` : ""}`;
}

/** The source line's text under a place, when the caller can read the file ("   45 | LDB r2, [r1]"). */
export function sourceText(p: { source?: string }, readLine?: (ref: string) => string | undefined): string[] {
  if (!p.source || !readLine) return [];
  const text = readLine(p.source);
  if (text === undefined) return [];
  const line = p.source.slice(p.source.lastIndexOf(":") + 1);
  return [`  ${line.padStart(5)} | ${text}`];
}

/** An event as JSON: its kind by name, and a summary of its data (byte payloads by length). */
export function eventJson(e: Event): Record<string, unknown> {
  return { lsn: e.lsn, icount: e.icount, kind: kindName(e.kind), data: dataSummary(e) };
}

export function eventText(e: Event): string {
  const d = dataSummary(e);
  return `lsn ${e.lsn}  icount ${e.icount}  ${kindName(e.kind)}${d === null || d === undefined ? "" : `  ${typeof d === "object" ? JSON.stringify(d) : d}`}`;
}

function dataSummary(e: Event): unknown {
  const d = e.data as unknown;
  if (d instanceof Uint8Array) return e.kind === EV.CONSOLE_INPUT ? { bytes: d.length, text: printable(d) } : { bytes: d.length };
  if (d && typeof d === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d as Record<string, unknown>)) out[k] = v instanceof Uint8Array ? `${v.length} bytes` : v;
    return out;
  }
  return d;
}

function printable(b: Uint8Array): string {
  const s = Array.from(b.subarray(0, 40), (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : x === 10 ? "\\n" : ".")).join("");
  return b.length > 40 ? s + "…" : s;
}

export function hex(v: number, digits = 8): string {
  return "0x" + (v >>> 0).toString(16).padStart(digits, "0");
}
