// Searching the history with observers. Backward: the history is re-executed interval by
// interval, newest first, each interval from its checkpoint with a fresh observer; the
// first interval where the observer found something has the answer (its latest find).
// Forward: execution runs on from the current position. Both can skip whole intervals in
// which the checkpoints show no write to the memory pages that matter.
import type { Observer, RunOutcome, Timeline } from "./timeline.js";

export interface IntervalScan {
  observer: Observer;
  /** The latest position the observer found in the interval (undefined: none). */
  best(): number | undefined;
}

/** Spans a memory search first runs at full speed, to look closely only at those that wrote its pages. */
export const REFINE_SPAN_ICOUNT = 16_384;

/**
 * Finds the latest position before `from` that the observers made by `make` report,
 * scanning intervals back to `floor` (positions below it are not needed). When the
 * observers only watch memory in `pages`, intervals the checkpoints show untouched are
 * skipped, and the others are first run at full speed to find the spans that wrote
 * those pages; only those spans are then run with the observer (between them the
 * memory, so what the observer tracks, does not change). Leaves the machine somewhere
 * in the history: the caller moves it.
 */
export async function scanBackward(
  tl: Timeline,
  from: number,
  floor: number,
  make: (lo: number, hi: number) => IntervalScan,
  pages?: readonly number[],
): Promise<number | undefined | "interrupted"> {
  const cps = tl.store.checkpoints;
  const skip = pages ? noWritesTo(tl, pages) : undefined;
  // Once an interval turns out to write the pages nearly everywhere, finding the spans
  // first costs more than it saves: later intervals are run with the observer directly.
  let refine = !!pages;
  let hi = from;
  while (hi > floor && hi > 0) {
    const loIndex = tl.store.indexAtOrBefore(hi - 1);
    const lo = cps[loIndex].icount;
    const whole = cps[loIndex + 1]?.icount === hi;
    if (!(whole && skip?.(loIndex + 1))) {
      if ((await tl.goto(lo)) === "interrupted") return "interrupted";
      let spans: number[] | undefined;
      if (pages && refine) {
        const found = await tl.dirtySpans(hi, pages, REFINE_SPAN_ICOUNT);
        if (found === "interrupted" || (await tl.goto(lo)) === "interrupted") return "interrupted";
        spans = found;
        if (found.length * REFINE_SPAN_ICOUNT * 2 > hi - lo) refine = false;
      }
      const scan = make(lo, hi);
      if (spans === undefined) {
        if ((await tl.run(hi, scan.observer)) === "interrupted") return "interrupted";
      } else {
        for (const s of spans) {
          if ((await tl.run(s)) === "interrupted" || (await tl.run(Math.min(hi, s + REFINE_SPAN_ICOUNT), scan.observer)) === "interrupted") return "interrupted";
        }
      }
      const best = scan.best();
      if (best !== undefined) return best;
    }
    hi = lo;
  }
  return undefined;
}

/** A forward memory search checks this many instructions for writes to its pages at a time. */
export const REFINE_CHUNK_ICOUNT = 64 * REFINE_SPAN_ICOUNT;

/**
 * Runs forward from the current position to `to` with `obs`. When the observer only
 * watches memory in `pages`, whole intervals the checkpoints show untouched are jumped
 * over, and the rest is run at full speed in chunks first: only spans that wrote the
 * pages are then re-run (from a checkpoint) with the observer.
 */
export async function scanForward(tl: Timeline, to: number, obs: Observer, pages?: readonly number[]): Promise<RunOutcome> {
  if (!pages) return tl.run(to, obs);
  const cps = tl.store.checkpoints;
  const skip = noWritesTo(tl, pages);
  let refine = true;
  for (;;) {
    const here = tl.icount;
    if (here >= Math.min(to, tl.endIcount)) return here >= tl.endIcount ? "end" : "reached";
    const i = tl.store.indexAtOrBefore(here);
    const next = cps[i + 1];
    if (cps[i].icount === here && next && next.icount <= to && skip(i + 1)) {
      if ((await tl.goto(next.icount)) === "interrupted") return "interrupted";
      continue;
    }
    const stop = Math.min(to, next ? next.icount : here + REFINE_CHUNK_ICOUNT);
    if (!refine) {
      const r = await tl.run(stop, obs);
      if (r !== "reached") return r;
      continue;
    }
    const spans = await tl.dirtySpans(stop, pages, REFINE_SPAN_ICOUNT);
    if (spans === "interrupted") return "interrupted";
    const reached = tl.icount;
    // Pages written nearly everywhere: the observer may as well watch every instruction.
    if (spans.length * REFINE_SPAN_ICOUNT * 2 > stop - here) refine = false;
    if (spans.length > 0) {
      if ((await tl.goto(spans[0])) === "interrupted") return "interrupted";
      for (const s of spans) {
        if ((await tl.run(s)) === "interrupted") return "interrupted";
        const r = await tl.run(Math.min(reached, s + REFINE_SPAN_ICOUNT), obs);
        if (r === "stopped" || r === "interrupted") return r;
      }
      if ((await tl.run(reached)) === "interrupted") return "interrupted";
    }
  }
}

/** A skip test for memory that lives in `pages`: the interval ending at checkpoint i wrote none of them. */
export function noWritesTo(tl: Timeline, pages: readonly number[]): (i: number) => boolean {
  return (i) => {
    const owned = tl.store.checkpoints[i].pages;
    return !pages.some((p) => owned.has(p));
  };
}
