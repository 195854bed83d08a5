// Aligning the traces of FT hosts before they are compared. Two hosts of one run executed
// the same instructions only over part of their traces: a backup cloned from a running
// primary starts mid-run (its header's startIcount); a backup that went live (a CAUSE_LIVE
// mark at icount N) executes as a primary from N on, while the old primary's trace may go
// on past N with instructions that were never logged (it died before they reached the
// backup). So the records compared are those both hosts executed as one history: after
// the later start, and before the latest go-live inside that range (or, when neither
// went live there, before the earlier end). Traces of `record` and `replay` (no host in
// the header) are compared whole, as before: there a trace that stops early is news.
// A replay of a whole FT run's log (ftvm ft --record) is history itself, with a live mark
// wherever another host took over: a host's trace is compared with it over the part the
// host executed as history: from its start to where the next host took over after the
// host's own go-live (a dead primary's trace goes on past that with instructions that
// never reached its backup), or to the end.
import type { DiffOptions, DiffResult } from "./diff.js";
import { diffTraces } from "./diff.js";
import type { TraceHeader, TraceRecord } from "./format.js";
import { CAUSE_LIVE } from "./format.js";

export interface TraceExtent {
  /** Where the trace starts (records at or before it are skipped when it is not 0). */
  startIcount: number;
  /** The last record's icount (undefined: no records). */
  lastIcount?: number;
  records: number;
  /** Where the host went live, and in which epoch. */
  lives: { icount: number; epoch: number }[];
}

export function traceExtent(h: TraceHeader, records: Iterator<TraceRecord>): TraceExtent {
  const e: TraceExtent = { startIcount: h.startIcount ?? 0, records: 0, lives: [] };
  for (let r = records.next(); !r.done; r = records.next()) {
    e.records++;
    e.lastIcount = r.value.icount;
    if (r.value.cause === CAUSE_LIVE) e.lives.push({ icount: r.value.icount, epoch: r.value.epoch ?? 0 });
  }
  return e;
}

export interface Window {
  /** Records with icount > afterIcount (or all, when it is 0 and both traces start at 0). */
  afterIcount: number;
  fromStart: boolean;
  /** Records with icount < beforeIcount, or <= it when `inclusive`. */
  beforeIcount: number;
  inclusive: boolean;
  /** Why the window ends there. */
  end: { kind: "live"; which: "a" | "b"; epoch: number } | { kind: "end"; which: "a" | "b" | "both" };
}

/** The icounts both traces executed as one history; undefined when they share none. */
export function comparisonWindow(a: TraceExtent, b: TraceExtent): Window | undefined {
  if (a.lastIcount === undefined || b.lastIcount === undefined) return undefined;
  const after = Math.max(a.startIcount, b.startIcount);
  const fromStart = after === 0;
  const lastEnd = Math.min(a.lastIcount, b.lastIcount);
  if (lastEnd < after || (!fromStart && lastEnd === after)) return undefined;
  // The latest go-live within the shared range: from there one of them is the primary and
  // the other either ended (the old primary) or is its backup (and then a later go-live counts).
  const lives = [...a.lives.map((l) => ({ ...l, which: "a" as const })), ...b.lives.map((l) => ({ ...l, which: "b" as const }))].filter(
    (l) => l.icount > after || (fromStart && l.icount >= 0),
  );
  const live = lives.filter((l) => l.icount <= lastEnd || l.which === (a.lastIcount! < b.lastIcount! ? "b" : "a")).sort((x, y) => y.icount - x.icount)[0];
  if (live) return { afterIcount: after, fromStart, beforeIcount: live.icount, inclusive: false, end: { kind: "live", which: live.which, epoch: live.epoch } };
  // Neither went live: compare up to the earlier end. A trace cut by a SIGKILL may stop
  // between two records of one icount, so the last icount counts only when both end there.
  const same = a.lastIcount === b.lastIcount;
  return { afterIcount: after, fromStart, beforeIcount: lastEnd, inclusive: same, end: { kind: "end", which: same ? "both" : a.lastIcount < b.lastIcount ? "a" : "b" } };
}

export function* within(w: Window, records: Iterator<TraceRecord>): Generator<TraceRecord> {
  for (let r = records.next(); !r.done; r = records.next()) {
    const x = r.value;
    if (!w.fromStart && x.icount <= w.afterIcount) continue;
    if (x.icount > w.beforeIcount || (!w.inclusive && x.icount === w.beforeIcount)) return;
    // Live marks are where a trace's role changes, not state the other trace has.
    if (x.cause === CAUSE_LIVE) continue;
    yield x;
  }
}

/**
 * A host's trace against history (a replay of the run's log): the host's part of it.
 * `hostIs` says which of the pair is the host's trace.
 */
export function historyWindow(host: TraceExtent, history: TraceExtent, hostIs: "a" | "b"): Window | undefined {
  if (host.lastIcount === undefined || history.lastIcount === undefined) return undefined;
  const after = host.startIcount;
  const fromStart = after === 0;
  const own = host.lives[0]?.icount ?? after;
  const next = history.lives.find((l) => l.icount > own);
  const histIs = hostIs === "a" ? "b" : "a";
  if (next && next.icount <= host.lastIcount) return { afterIcount: after, fromStart, beforeIcount: next.icount, inclusive: false, end: { kind: "live", which: histIs, epoch: next.epoch } };
  const end = Math.min(host.lastIcount, history.lastIcount);
  const same = host.lastIcount === history.lastIcount;
  return { afterIcount: after, fromStart, beforeIcount: end, inclusive: same, end: { kind: "end", which: same ? "both" : host.lastIcount < history.lastIcount ? hostIs : histIs } };
}

/** Whether a trace was written by an FT host (and so is aligned before it is compared). */
export function isHostTrace(h: TraceHeader): boolean {
  return h.host !== undefined;
}

export interface AlignedDiff extends DiffResult {
  window?: Window;
}

/**
 * Compares two traces; FT hosts' traces over their shared window (see the top of this
 * file). `open` re-reads a trace from its start (the window needs a first pass).
 */
export function diffAligned(
  ha: TraceHeader,
  hb: TraceHeader,
  openA: () => Iterator<TraceRecord>,
  openB: () => Iterator<TraceRecord>,
  opts: DiffOptions = {},
): AlignedDiff {
  if (!isHostTrace(ha) && !isHostTrace(hb)) return diffTraces(ha, hb, openA(), openB(), opts);
  const nameA = opts.nameA ?? "first trace";
  const nameB = opts.nameB ?? "second trace";
  const ea = traceExtent(ha, openA());
  const eb = traceExtent(hb, openB());
  const w = isHostTrace(ha) && isHostTrace(hb) ? comparisonWindow(ea, eb) : isHostTrace(ha) ? historyWindow(ea, eb, "a") : historyWindow(eb, ea, "b");
  if (!w) return { identical: true, records: 0, report: [`no instructions in common: ${nameA} and ${nameB} executed different parts of the run`] };
  const res = diffTraces(ha, hb, within(w, openA()), within(w, openB()), opts);
  if (!res.identical) return { ...res, window: w };
  const from = w.fromStart ? "from the start" : `after icount ${w.afterIcount} (where the later trace starts)`;
  const who = (which: "a" | "b") => (which === "a" ? nameA : nameB);
  const through =
    w.end.kind === "live"
      ? `identical through icount ${w.beforeIcount}, where ${isHostTrace(w.end.which === "a" ? ha : hb) ? who(w.end.which) : "the next host"} went live (epoch ${w.end.epoch})`
      : w.end.which === "both"
        ? `identical through icount ${w.beforeIcount}, where both end`
        : `identical up to icount ${w.beforeIcount}, where ${who(w.end.which)} ends`;
  return { ...res, window: w, report: [`${through}: ${res.records} records compared, ${from}`] };
}
