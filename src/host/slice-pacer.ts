// Paces guest slices by time. A slice runs without a break: while it runs, this process
// reads no socket, so an acknowledgement, a log batch or a heartbeat waits for the slice
// to end. A fixed instruction count makes that wait depend on the guest: 200,000
// instructions of fib take under a millisecond, of count.s (an OUT every few
// instructions) 10–60 ms, and the busy guest's output then waited tens of
// milliseconds for its acknowledgement. The pacer sizes each slice from the speed the
// last ones ran at, so a slice takes about SLICE_TARGET_MS whatever the guest does. The
// speed is measured in CPU time: a slice the OS preempted on a busy machine ran no
// slower, and shrinking the next one would only add per-slice costs.
//
// Where a slice ends changes nothing that is logged or replayed (every input is logged
// at its icount), so pacing by the wall clock in the shell keeps the core deterministic.

import { SLICE_ICOUNT_DEFAULT } from "../replay/session.js";

/**
 * How long a slice should take. Half a millisecond: the protocol's waits behind a
 * slice (one at each end of a round trip) then add about a millisecond to a busy
 * guest's output, within issue 11's 2 ms; each slice costs a few microseconds of
 * bookkeeping, under 1% at this length.
 */
export const SLICE_TARGET_MS = 0.5;
/**
 * The smallest slice: below this the per-slice bookkeeping (a few microseconds) would
 * cost more than 1% even of a slow guest (10 MIPS: 5,000 instructions take 0.5 ms).
 */
export const SLICE_ICOUNT_MIN = 5_000;
/** The largest slice: the old fixed size, which fast guests run in well under a millisecond. */
export const SLICE_ICOUNT_MAX = SLICE_ICOUNT_DEFAULT;
/**
 * A slice that ran fewer instructions than this (it waited, or stopped at an event)
 * says too little about the guest's speed: its time is mostly fixed costs.
 */
const SLICE_SAMPLE_ICOUNT_MIN = 500;
/** How much the next slice may grow over the last one, so one fast slice does not overshoot. */
const SLICE_GROWTH_MAX = 2;

export class SlicePacer {
  private icount = SLICE_ICOUNT_MAX / 10;

  /** Instructions for the next slice. */
  get sliceIcount(): number {
    return this.icount;
  }

  /** Learns from a slice that ran `icount` instructions in `elapsedMs` of CPU time. */
  observe(icount: number, elapsedMs: number): void {
    if (icount < SLICE_SAMPLE_ICOUNT_MIN) return;
    const fit = elapsedMs > 0 ? (icount * SLICE_TARGET_MS) / elapsedMs : SLICE_ICOUNT_MAX;
    // Shrink at once (a slow slice already held the protocol up), grow gradually.
    const next = Math.min(fit, this.icount * SLICE_GROWTH_MAX);
    this.icount = Math.round(Math.max(SLICE_ICOUNT_MIN, Math.min(SLICE_ICOUNT_MAX, next)));
  }
}
