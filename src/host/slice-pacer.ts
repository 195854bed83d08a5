// Paces guest slices by time. A slice runs without a break: while it runs, this process
// reads no socket, so an acknowledgement, a log batch or a heartbeat waits for the slice
// to end. A fixed instruction count makes that wait depend on the guest: 200,000
// instructions of fib take under a millisecond, of count.s (an OUT every few
// instructions) several milliseconds, and a busy guest's output then waited that long
// at each end of its round trip. The pacer sizes each slice from the speed the last ones
// ran at, so a slice takes about SLICE_TARGET_MS (SLICE_TARGET_QUIET_MS when nothing waits)
// whatever the guest does.
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
 * How long a slice should take while something waits on this host's messages: held
 * output, a joiner, input not yet acknowledged, or a backup's replay. Half a millisecond:
 * the protocol's waits behind a slice (one at each end of a round trip) then add about a
 * millisecond to a busy guest's output, within issue 11's 2 ms; each slice costs a few
 * microseconds of bookkeeping, about 1% at this length.
 */
export const SLICE_TARGET_MS = 0.5;
/**
 * How long a slice should take on a primary that nothing waits on (FtNode.quiet: no
 * output held, no input or timer event logged since the last batch, no joiner). Then
 * no acknowledgement releases anything and no message needs an answer soon; the slice
 * only delays heartbeats (every 25 ms, judged against a 1 s floor) and the delivery of
 * the next input, which a plain run delivers up to 10 ms late (its yield interval). A
 * compute-bound primary at 0.5 ms slices (fib(41) on this machine: about 1 G
 * instructions per second, so the old 200,000-instruction cap, 5,000 slices a second)
 * spent 1.7% of its CPU in the per-slice bookkeeping of runLive and about as much in
 * the loop around it (perf, 2026-12-07); at 2 ms that share falls to a quarter.
 */
export const SLICE_TARGET_QUIET_MS = 2;
/**
 * The smallest slice: below this the per-slice bookkeeping (a few microseconds) would
 * cost more than 1% even of a slow guest (10 MIPS: 5,000 instructions take 0.5 ms).
 */
export const SLICE_ICOUNT_MIN = 5_000;
/** The largest slice while something waits: the old fixed size, which fast guests run in well under a millisecond. */
export const SLICE_ICOUNT_MAX = SLICE_ICOUNT_DEFAULT;
/**
 * The largest quiet slice: 2 ms of the fastest guests here (the compiled engine runs fib
 * at 1-1.5 G instructions per second on this machine), with room to spare.
 */
export const SLICE_ICOUNT_QUIET_MAX = 4_000_000;
/** The fastest speed the estimate believes (instructions per ms): a slice timed at (almost) zero cannot make the next one huge. */
const SPEED_PER_MS_MAX = 2_000_000;
/** The speed assumed before any slice was timed: 20,000 instructions take the target 0.5 ms at it. */
const SPEED_PER_MS_START = 40_000;
/**
 * A slice that ran fewer instructions than this (it waited, or stopped at an event)
 * says too little about the guest's speed: its time is mostly fixed costs.
 */
const SLICE_SAMPLE_ICOUNT_MIN = 500;
/** How much the speed estimate keeps per slice when slices run slower than it (a fifth lost per slice). */
const SPEED_DECAY_PER_SLICE = 0.8;

export class SlicePacer {
  /** Instructions per millisecond: the best recent speed (see the file's comment). */
  private speedPerMs = SPEED_PER_MS_START;

  /** Instructions for the next slice: one that takes about SLICE_TARGET_QUIET_MS when `quiet`, else SLICE_TARGET_MS. */
  sliceIcount(quiet = false): number {
    const targetMs = quiet ? SLICE_TARGET_QUIET_MS : SLICE_TARGET_MS;
    return Math.round(Math.max(SLICE_ICOUNT_MIN, Math.min(quiet ? SLICE_ICOUNT_QUIET_MAX : SLICE_ICOUNT_MAX, this.speedPerMs * targetMs)));
  }

  /** Learns from a slice that ran `icount` instructions in `elapsedMs` of wall time. */
  observe(icount: number, elapsedMs: number): void {
    if (icount < SLICE_SAMPLE_ICOUNT_MIN) return;
    const speed = elapsedMs > 0 ? icount / elapsedMs : Infinity;
    this.speedPerMs = Math.min(SPEED_PER_MS_MAX, Math.max(speed, this.speedPerMs * SPEED_DECAY_PER_SLICE));
  }
}
