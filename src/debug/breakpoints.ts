// Breakpoints and watchpoints: what the user asked to stop at, and the observers that
// find those stops while execution runs forward (to stop) or re-runs an interval while
// searching backward (to collect the latest hit).
//
// Breakpoints on a code address (a label, file:line, *pc) stop at a position whose next
// instruction is there; on an icount or an event kind they stop at known positions (an
// event's position is its icount: an asynchronous one has been delivered there, a
// synchronous one is about to be read). Watchpoints stop where the value changed: going
// forward at the position after the change (the new value shows), going backward at the
// position before it (the instruction that changes it is next), as gdb and rr do.
import type { Event } from "../devices/events.js";
import { ASYNC_KINDS, EV, MARK_KINDS } from "../devices/events.js";
import type { Expr } from "./expr.js";
import { evalExpr } from "./expr.js";
import { firstEventAt } from "./log.js";
import type { Observer } from "./timeline.js";
import type { Change, Target } from "./watch.js";
import { ChangeObserver, combine } from "./watch.js";
import type { Machine } from "../vm/machine.js";
import type { EvalEnv } from "./expr.js";

/** At most this many breakpoints and watchpoints together. */
export const BREAKPOINTS_MAX = 256;

export type Breakpoint =
  | { id: number; kind: "pc"; spec: string; pcs: number[]; cond?: { text: string; expr: Expr } }
  | { id: number; kind: "icount"; spec: string; icount: number }
  | { id: number; kind: "event"; spec: string; kinds: ReadonlySet<number> };

export interface Watchpoint {
  id: number;
  spec: string;
  target: Target;
}

export interface Hit {
  id: number;
  /** "breakpoint" or "watchpoint". */
  what: "breakpoint" | "watchpoint";
  /** The position it stops at going backward (a watchpoint's change: the position before it). */
  pos: number;
  change?: Change;
}

/** Event kinds a breakpoint can name: every kind by its log name, and a few groups. */
export const EVENT_GROUPS: Readonly<Record<string, readonly number[]>> = {
  timer: [EV.TIMER],
  console: [EV.CONSOLE_INPUT],
  disk: [EV.DISK_DONE],
  "net-open": [EV.NET_OPEN],
  "net-rx": [EV.NET_RX],
  "net-close": [EV.NET_CLOSE],
  net: [EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE],
  network: [EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE],
  time: [EV.TIME],
  rand: [EV.RAND],
  hostid: [EV.HOSTID],
  input: [...ASYNC_KINDS],
  check: [EV.CHECK],
  any: Object.values(EV).filter((k) => !MARK_KINDS.has(k)),
};

/** The kinds an event name stands for, or undefined when it names none. */
export function eventKinds(name: string): number[] | undefined {
  const lower = name.toLowerCase();
  if (EVENT_GROUPS[lower]) return [...EVENT_GROUPS[lower]];
  const k = (EV as Record<string, number>)[name.toUpperCase()];
  return k === undefined ? undefined : [k];
}

export class Breakpoints {
  readonly breakpoints: Breakpoint[] = [];
  readonly watchpoints: Watchpoint[] = [];
  private nextId = 1;

  get count(): number {
    return this.breakpoints.length + this.watchpoints.length;
  }

  addBreakpoint(b: DistributiveOmit<Breakpoint, "id">): Breakpoint {
    this.checkRoom();
    const bp = { ...b, id: this.nextId++ } as Breakpoint;
    this.breakpoints.push(bp);
    return bp;
  }

  addWatchpoint(w: Omit<Watchpoint, "id">): Watchpoint {
    this.checkRoom();
    const wp = { ...w, id: this.nextId++ };
    this.watchpoints.push(wp);
    return wp;
  }

  private checkRoom(): void {
    if (this.count >= BREAKPOINTS_MAX) throw new RangeError(`at most ${BREAKPOINTS_MAX} breakpoints and watchpoints (BREAKPOINTS_MAX); delete some first`);
  }

  /** Deletes by id; returns false when there is none. */
  delete(id: number): boolean {
    for (const list of [this.breakpoints, this.watchpoints] as { id: number }[][]) {
      const i = list.findIndex((b) => b.id === id);
      if (i >= 0) {
        list.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  clear(): void {
    this.breakpoints.length = 0;
    this.watchpoints.length = 0;
  }

  /** True when a search must re-execute code to find hits (not only known positions). */
  get needsExecution(): boolean {
    return this.watchpoints.length > 0 || this.breakpoints.some((b) => b.kind === "pc");
  }

  /** True when every hit that needs execution is a memory watchpoint (so intervals without writes to them can be skipped). */
  get memoryOnly(): boolean {
    return !this.breakpoints.some((b) => b.kind === "pc") && this.watchpoints.every((w) => w.target.kind === "mem");
  }

  /** The first known-position stop after `icount` (Infinity when none). */
  nextKnown(events: readonly Event[], icount: number, end: number): number {
    let best = Infinity;
    for (const b of this.breakpoints) {
      if (b.kind === "icount" && b.icount > icount && b.icount <= end) best = Math.min(best, b.icount);
      if (b.kind === "event") {
        for (let i = firstEventAt(events, icount + 1); i < events.length && events[i].icount < best && events[i].icount <= end; i++) {
          if (b.kinds.has(events[i].kind)) {
            best = events[i].icount;
            break;
          }
        }
      }
    }
    return best;
  }

  /** The last known-position stop before `icount` (-1 when none). */
  prevKnown(events: readonly Event[], icount: number): number {
    let best = -1;
    for (const b of this.breakpoints) {
      if (b.kind === "icount" && b.icount < icount) best = Math.max(best, b.icount);
      if (b.kind === "event") {
        for (let i = firstEventAt(events, icount) - 1; i >= 0 && events[i].icount > best; i--) {
          if (b.kinds.has(events[i].kind)) {
            best = events[i].icount;
            break;
          }
        }
      }
    }
    return best;
  }

  /** Breakpoints that hold at position `icount` with the machine standing there. */
  hitsAt(events: readonly Event[], icount: number, m: Machine, env: EvalEnv): Hit[] {
    const out: Hit[] = [];
    for (const b of this.breakpoints) {
      let hit = false;
      if (b.kind === "icount") hit = b.icount === icount;
      else if (b.kind === "pc") hit = b.pcs.includes(m.pc) && condHolds(b, env);
      else for (let i = firstEventAt(events, icount); i < events.length && events[i].icount === icount; i++) if (b.kinds.has(events[i].kind)) hit = true;
      if (hit) out.push({ id: b.id, what: "breakpoint", pos: icount });
    }
    return out;
  }

  /**
   * An observer for the breakpoints on code addresses and the watchpoints. Forward: it
   * stops at the first hit after position `start`. Backward ("collect"): it never stops
   * and keeps the hits at the latest position.
   */
  observer(m: Machine, env: EvalEnv, start: number, mode: "forward" | "collect"): { observer: Observer; hits: Hit[]; best(): number | undefined } {
    const hits: Hit[] = [];
    let best: number | undefined;
    const record = (h: Hit): boolean => {
      if (mode === "forward") {
        hits.push(h);
        return true;
      }
      if (best === undefined || h.pos > best) {
        hits.length = 0;
        best = h.pos;
      }
      if (h.pos === best) hits.push(h);
      return false;
    };
    const pcBps = this.breakpoints.filter((b): b is Extract<Breakpoint, { kind: "pc" }> => b.kind === "pc");
    const pcs = new Set<number>();
    for (const b of pcBps) for (const pc of b.pcs) pcs.add(pc);
    const parts: Observer[] = [
      {
        pcs,
        before: (icount, pc) => {
          if (!pcs.has(pc) || (mode === "forward" && icount === start)) return false;
          let stop = false;
          for (const b of pcBps) if (b.pcs.includes(pc) && condHolds(b, env) && record({ id: b.id, what: "breakpoint", pos: icount })) stop = true;
          return stop;
        },
      },
    ];
    for (const w of this.watchpoints) parts.push(new ChangeObserver(m, w.target, (c) => record({ id: w.id, what: "watchpoint", pos: c.from, change: c })));
    return { observer: combine(parts), hits, best: () => best };
  }
}

/** A condition that cannot be evaluated here (say, memory out of range) counts as false. */
function condHolds(b: Extract<Breakpoint, { kind: "pc" }>, env: EvalEnv): boolean {
  if (!b.cond) return true;
  try {
    return evalExpr(b.cond.expr, env) !== 0;
  } catch {
    return false;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
