// Searching the history with observers. Backward: the history is re-executed interval by
// interval, newest first, each interval from its checkpoint with a fresh observer; the
// first interval where the observer found something has the answer (its latest find).
// Forward: execution runs on from the current position. Both skip whole intervals whose
// checkpoint's change summary (changes.ts) shows that none of the memory words that
// matter changed, and look closely only at the spans of an interval that changed them.
import { changedAny } from "./changes.js";
import type { Observer, RunOutcome, Timeline } from "./timeline.js";

export interface IntervalScan {
  observer: Observer;
  /** The latest position the observer found in the interval (undefined: none). */
  best(): number | undefined;
}

/** Spans a memory search first runs at full speed, to look closely only at those that changed its words. */
export const REFINE_SPAN_ICOUNT = 16_384;

/**
 * Finds the latest position before `from` that the observers made by `make` report,
 * scanning intervals back to `floor` (positions below it are not needed). When the
 * observers only watch memory in `words` (word indices), intervals whose summaries show
 * none of them changed are skipped; the others are run at full speed to find the spans
 * that changed them, and the observer looks at the last such span first (a word flagged
 * there did change in it, so that is where the latest change is unless the change was
 * to bytes of the word the observer does not watch), then, if it found nothing there,
 * at all of them. Between those spans the words, so what the observer tracks, hold
 * their values. Leaves the machine somewhere in the history: the caller moves it.
 */
export async function scanBackward(
  tl: Timeline,
  from: number,
  floor: number,
  make: (lo: number, hi: number) => IntervalScan,
  words?: readonly number[],
): Promise<number | undefined | "interrupted"> {
  const cps = tl.store.checkpoints;
  let hi = from;
  while (hi > floor && hi > 0) {
    const loIndex = tl.store.indexAtOrBefore(hi - 1);
    const lo = cps[loIndex].icount;
    const whole = cps[loIndex + 1]?.icount === hi;
    if (!(words && whole && !changedAny(cps[loIndex + 1].changes, words))) {
      if ((await tl.goto(lo)) === "interrupted") return "interrupted";
      if (!words) {
        const scan = make(lo, hi);
        if ((await tl.run(hi, scan.observer)) === "interrupted") return "interrupted";
        const best = scan.best();
        if (best !== undefined) return best;
      } else {
        const spans = await tl.changeSpans(hi, words, REFINE_SPAN_ICOUNT);
        if (spans === "interrupted") return "interrupted";
        const tries = spans.length > 1 ? [spans.slice(-1), spans] : spans.length === 1 ? [spans] : [];
        for (const t of tries) {
          if ((await tl.goto(t[0])) === "interrupted") return "interrupted";
          const scan = make(lo, hi);
          for (const s of t) {
            if ((await tl.run(s)) === "interrupted" || (await tl.run(Math.min(hi, s + REFINE_SPAN_ICOUNT), scan.observer)) === "interrupted") return "interrupted";
          }
          const best = scan.best();
          if (best !== undefined) return best;
        }
      }
    }
    hi = lo;
  }
  return undefined;
}

/** A forward memory search checks this many instructions for changes of its words at a time. */
export const REFINE_CHUNK_ICOUNT = 64 * REFINE_SPAN_ICOUNT;

/**
 * Runs forward from the current position to `to` with `obs`. When the observer only
 * watches memory in `words`, whole intervals whose summaries show none of them changed
 * are jumped over, and the rest is run at full speed in chunks first: only spans that
 * changed the words are then re-run (from a checkpoint) with the observer.
 */
export async function scanForward(tl: Timeline, to: number, obs: Observer, words?: readonly number[]): Promise<RunOutcome> {
  if (!words) return tl.run(to, obs);
  const cps = tl.store.checkpoints;
  let refine = true;
  for (;;) {
    const here = tl.icount;
    if (here >= Math.min(to, tl.endIcount)) return here >= tl.endIcount ? "end" : "reached";
    const i = tl.store.indexAtOrBefore(here);
    const next = cps[i + 1];
    if (cps[i].icount === here && next && next.icount <= to && !changedAny(next.changes, words)) {
      if ((await tl.goto(next.icount)) === "interrupted") return "interrupted";
      continue;
    }
    const stop = Math.min(to, next ? next.icount : here + REFINE_CHUNK_ICOUNT);
    if (!refine) {
      const r = await tl.run(stop, obs);
      if (r !== "reached") return r;
      continue;
    }
    const spans = await tl.changeSpans(stop, words, REFINE_SPAN_ICOUNT);
    if (spans === "interrupted") return "interrupted";
    const reached = tl.icount;
    // Words changed nearly everywhere: the observer may as well watch every instruction.
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
