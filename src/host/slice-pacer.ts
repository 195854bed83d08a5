// Paces guest slices by time. A slice runs without a break: while it runs, this process
// reads no socket, so an acknowledgement, a log batch or a heartbeat waits for the slice
// to end. A fixed instruction count makes that wait depend on the guest: 200,000
// instructions of fib take under a millisecond, of count.s (an OUT every few
// instructions) several milliseconds, and a busy guest's output then waited that long
// at each end of its round trip. The pacer sizes each slice from the speed the last ones
// ran at, so a slice takes about SLICE_TARGET_MS whatever the guest does.
//
// Speed is measured in wall time, which the loop reads anyway (CPU time would be a
// getrusage system call twice per slice). A slice the OS preempted on a busy machine
// looks slow but is not, so the estimate is the best recent speed, decaying slowly:
// preemption never makes a slice look faster, and a guest that really slows down is
// followed within a few slices.
//
// Where a slice ends changes nothing that is logged or replayed (every input is logged
// at its icount), so pacing by the wall clock in the shell keeps the core deterministic.

import { SLICE_ICOUNT_DEFAULT } from "../replay/session.js";

/**
 * How long a slice should take. Half a millisecond: the protocol's waits behind a
 * slice (one at each end of a round trip) then add about a millisecond to a busy
 * guest's output, within issue 11's 2 ms; each slice costs a few microseconds of
 * bookkeeping, about 1% at this length.
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
/** How much the speed estimate keeps per slice when slices run slower than it (a fifth lost per slice). */
const SPEED_DECAY_PER_SLICE = 0.8;

export class SlicePacer {
  /** Instructions per millisecond: the best recent speed (see the file's comment). */
  private speedPerMs = SLICE_ICOUNT_MAX / 10 / SLICE_TARGET_MS;

  /** Instructions for the next slice. */
  get sliceIcount(): number {
    return Math.round(Math.max(SLICE_ICOUNT_MIN, Math.min(SLICE_ICOUNT_MAX, this.speedPerMs * SLICE_TARGET_MS)));
  }

  /** Learns from a slice that ran `icount` instructions in `elapsedMs` of wall time. */
  observe(icount: number, elapsedMs: number): void {
    if (icount < SLICE_SAMPLE_ICOUNT_MIN) return;
    const speed = elapsedMs > 0 ? icount / elapsedMs : Infinity;
    // Capped so one slice timed at (almost) zero cannot make the next one huge.
    this.speedPerMs = Math.min(SLICE_ICOUNT_MAX / SLICE_TARGET_MS, Math.max(speed, this.speedPerMs * SPEED_DECAY_PER_SLICE));
  }
}
