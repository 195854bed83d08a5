// What the debugger can watch (a register or a memory range), its value, and the
// observers that see it change and that combine several observers into one.
import { SP } from "../../isa/table.js";
import type { Event } from "../devices/events.js";
import type { Machine } from "../vm/machine.js";
import type { ByteRange } from "./effects.js";
import { memoryWriters, registerWriters } from "./effects.js";
import type { Observer } from "./timeline.js";

/** The longest memory range one watchpoint, last-change or history covers. */
export const WATCH_BYTES_MAX = 4096;

/** A register, or `len` bytes of memory at `addr`; `spec` is how the user wrote it (for messages). */
export type Target = ({ kind: "reg"; reg: number } | { kind: "mem"; addr: number; len: number }) & { spec?: string };

/** A register's value (signed 32-bit), or a copy of the memory bytes. */
export type Value = number | Uint8Array;

export function targetName(t: Target): string {
  if (t.kind === "reg") return t.reg === SP ? "sp" : `r${t.reg}`;
  const where = t.len === 4 ? `0x${t.addr.toString(16)}` : `0x${t.addr.toString(16)}..+${t.len}`;
  return t.spec && !/^(0x[0-9a-f]+|\d+)$/i.test(t.spec) ? `${t.spec} (${where})` : where;
}

export function readTarget(m: Machine, t: Target): Value {
  return t.kind === "reg" ? m.regs[t.reg] : m.mem.slice(t.addr, t.addr + t.len);
}

export function sameValue(a: Value, b: Value): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A value as JSON: a number for registers, single bytes and 4-byte words (little-endian, signed); else hex bytes. */
export function valueJson(v: Value): number | string {
  if (typeof v === "number") return v;
  if (v.length === 1) return v[0];
  if (v.length === 4) return v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24);
  return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A value for people: hex and decimal for numbers, hex bytes for longer ranges. */
export function valueText(v: Value): string {
  const j = valueJson(v);
  if (typeof j === "string") return j.replace(/(..)(?!$)/g, "$1 ");
  return `0x${(j >>> 0).toString(16).padStart(typeof v === "number" || v.length === 4 ? 8 : 2, "0")} (${j})`;
}

/** The instructions that may change a target (see effects.ts). */
export function writersOf(m: Machine, t: Target): Set<number> {
  if (t.kind === "reg") return registerWriters(m.image, t.reg);
  return memoryWriters(m.image, [{ from: t.addr, to: t.addr + t.len }], { from: m.stackBase, to: m.memBytes });
}

/** The memory words (indices of 4-byte words, ascending) a target covers (none for registers). */
export function wordsOf(t: Target | ByteRange[]): number[] {
  const ranges = Array.isArray(t) ? t : t.kind === "mem" ? [{ from: t.addr, to: t.addr + t.len }] : [];
  const out = new Set<number>();
  for (const r of ranges) for (let w = r.from >>> 2; w <= (r.to - 1) >>> 2; w++) out.add(w);
  return [...out].sort((a, b) => a - b);
}

/** One change of a watched value. */
export interface Change {
  /** The position before the change: executing from here changes the value. */
  from: number;
  /** The position where the new value is first seen (from + 1). */
  to: number;
  /** What changed it: the instruction at `pc` (run from position `from`), or events delivered at `to`. */
  cause: "instruction" | "event";
  pc?: number;
  events?: readonly Event[];
  old: Value;
  value: Value;
}

/**
 * Sees every change of a target. onChange returns true to stop the run (at the position
 * where the new value is seen).
 */
export class ChangeObserver implements Observer {
  readonly pcs: ReadonlySet<number>;
  private last: Value;

  constructor(
    private readonly m: Machine,
    readonly target: Target,
    private readonly onChange: (c: Change) => boolean,
  ) {
    this.pcs = writersOf(m, target);
    this.last = readTarget(m, target);
  }

  /** True when the target still holds `last` (compared in place: this runs after every watched instruction). */
  private unchanged(): boolean {
    const t = this.target;
    if (t.kind === "reg") return this.m.regs[t.reg] === this.last;
    const mem = this.m.mem;
    const last = this.last as Uint8Array;
    for (let i = 0; i < t.len; i++) if (mem[t.addr + i] !== last[i]) return false;
    return true;
  }

  after(icount: number, pc: number): boolean {
    if (this.unchanged()) return false;
    const v = readTarget(this.m, this.target);
    const c: Change = { from: icount, to: icount + 1, cause: "instruction", pc, old: this.last, value: v };
    this.last = v;
    return this.onChange(c);
  }

  delivered(icount: number, events: readonly Event[]): boolean {
    if (this.unchanged()) return false;
    const v = readTarget(this.m, this.target);
    const c: Change = { from: icount - 1, to: icount, cause: "event", events, old: this.last, value: v };
    this.last = v;
    return this.onChange(c);
  }
}

/** Several observers as one: every callback reaches every part (each keeps its own state). */
export function combine(parts: readonly Observer[]): Observer {
  const all = parts.some((p) => p.pcs === "all");
  const pcs = new Set<number>();
  if (!all) for (const p of parts) for (const pc of p.pcs as ReadonlySet<number>) pcs.add(pc);
  const any = (f: (p: Observer) => boolean | undefined) => {
    let stop = false;
    for (const p of parts) if (f(p)) stop = true;
    return stop;
  };
  return {
    pcs: all ? "all" : pcs,
    before: (i, pc) => any((p) => p.before?.(i, pc)),
    after: (i, pc, follow) => any((p) => p.after?.(i, pc, follow)),
    delivered: (i, evs, entered) => any((p) => p.delivered?.(i, evs, entered)),
    nextIcount: (i) => Math.min(Infinity, ...parts.map((p) => p.nextIcount?.(i) ?? Infinity)),
    at: (i) => any((p) => (p.nextIcount?.(i - 1) === i ? p.at?.(i) : false)),
  };
}
