// The backup's live divergence check (issue 13 point 4). The primary takes a 32-bit state
// digest (vm/digest.ts stateWord: registers, pc, icount, interrupt flags and vectors, and
// at the marks all memory) at the moment it logs each event, the progress marks included, and sends the
// digests beside the events (LogMsg.sd). The backup takes the same digest at the moment it
// consumes each event, before the event has any effect, and stops at the first event
// whose icount or digest differs: from there the backup would produce other output than
// its primary, so it must not go live on that state.
//
// Why this digest: a full memory digest per event costs time in proportion to the memory
// (1 MiB by default: 256 pages to fold), far too slow for guests that log an event every
// few hundred instructions. Even an incremental one (rehash only the pages stored to since
// the last digest, keep a running sum of page hashes) was measured at 6-12 µs per event on
// a guest that reads TIME every 107 instructions and stores to one page in between: a
// 4 KiB page is rehashed whole, 20-80 times the cost of the event itself. So the digest
// at every event covers registers, pc, icount, the interrupt flags and the vectors (a few
// dozen words: nearly free), and the digest at every progress mark and at the END mark
// covers all memory as well, incrementally (vm/digest.ts stateWord, refreshPageHashes).
// A wrong result almost always flows through a register, and is caught at the very next
// event; a difference that stays in memory is caught at the next progress mark, which the
// primary logs with every batch, so at most one batch later. The choice depends only on
// the event's kind, so primary and backup (a clone joining mid-run too) always agree on
// what a digest covers. The page hashes are shared with the trace's memory digest, so
// the two never steal each other's dirty flags.
//
// Pure: no clocks, no I/O.
import type { Event } from "../devices/events.js";
import { EV, kindName } from "../devices/events.js";
import { DivergenceError } from "../replay/replay.js";
import { stateWord } from "../vm/digest.js";
import type { Machine } from "../vm/machine.js";

/** An event as the primary logged it, with its state digest (sent as LogMsg.sd). */
export type DigestedEvent = Event & { sd?: number };

/** The primary's side: the digest of the state at the event the live environment is logging. */
export function digestAtLog(m: Machine, e: Event): DigestedEvent {
  const d = e as DigestedEvent;
  d.sd = stateWord(m, withMemory(e.kind));
  return d;
}

/** Which digests cover memory too: those at the marks (see the top of this file). */
export function withMemory(kind: number): boolean {
  return kind === EV.PROGRESS || kind === EV.END;
}

/** The digests of a batch, in the order of its events (what LogMsg.sd carries). */
export function batchDigests(events: readonly DigestedEvent[]): number[] {
  return events.map((e) => e.sd ?? 0);
}

/** What the backup found: the first event whose digest differs, and the last that agreed. */
export interface StateMismatch {
  lsn: number;
  kind: number;
  icount: number;
  expected: number;
  got: number;
  /** The last event whose digest agreed (undefined: none since this host started checking). */
  agreed?: { lsn: number; icount: number; kind: number };
}

export class StateDivergence extends DivergenceError {
  constructor(
    message: string,
    icount: number,
    readonly mismatch: StateMismatch,
  ) {
    super(message, icount);
  }
}

/**
 * The backup's side. note() takes the digests of the events it received (in lsn order);
 * verify() runs as each event is consumed (ReplayOptions.onConsume) and throws a
 * StateDivergence at the first difference. Events without a noted digest (a log file, or
 * events from before this host started checking) pass unchecked.
 */
export class StateCheck {
  private readonly lsns: number[] = [];
  private readonly digests: number[] = [];
  private head = 0;
  /** Events checked and found equal. */
  checked = 0;
  private agreed: StateMismatch["agreed"];

  constructor(private readonly machine: Machine) {}

  /** The digests of events lsn..: one per fresh event, in order. */
  note(events: readonly Event[], digests: readonly number[] | undefined): void {
    if (!digests) return;
    for (let i = 0; i < events.length; i++) {
      this.lsns.push(events[i].lsn);
      this.digests.push(digests[i]);
    }
  }

  verify(ev: Event): void {
    // Drop digests of events already behind (a restored clone's queue may start earlier).
    while (this.head < this.lsns.length && this.lsns[this.head] < ev.lsn) this.head++;
    if (this.head >= this.lsns.length || this.lsns[this.head] !== ev.lsn) { return; }
    const expected = this.digests[this.head++];
    // Compact now and then so the arrays stay as long as the events in flight.
    if (this.head > 4096 && this.head * 2 > this.lsns.length) {
      this.lsns.splice(0, this.head);
      this.digests.splice(0, this.head);
      this.head = 0;
    }
    const m = this.machine;
    const got = stateWord(m, withMemory(ev.kind));
    if (got === expected && m.icount === ev.icount) {
      this.checked++;
      this.agreed = { lsn: ev.lsn, icount: ev.icount, kind: ev.kind };
      return;
    }
    const mm: StateMismatch = { lsn: ev.lsn, kind: ev.kind, icount: ev.icount, expected, got, ...(this.agreed ? { agreed: this.agreed } : {}) };
    throw new StateDivergence(describeMismatch(mm, m.icount), m.icount, mm);
  }
}

const hex8 = (x: number) => (x >>> 0).toString(16).padStart(8, "0");

export function describeMismatch(mm: StateMismatch, atIcount: number): string {
  const where = atIcount === mm.icount ? `icount ${mm.icount}` : `icount ${atIcount} (the primary logged it at icount ${mm.icount})`;
  const since = mm.agreed ? `; the state agreed at ${kindName(mm.agreed.kind)} lsn ${mm.agreed.lsn}, icount ${mm.agreed.icount}` : "";
  return `state digest at ${kindName(mm.kind)} lsn ${mm.lsn}, ${where}: expected ${hex8(mm.expected)}, got ${hex8(mm.got)}${since}`;
}
