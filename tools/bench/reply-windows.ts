// Reply latencies of the requests that belong to a phase of a run, from requests timed one
// by one (see resp-clients.ts). A phase is given by when its requests were sent and when
// they were answered, so that phases can split a run without sharing a request: a request
// sent just before a fault and stalled by it belongs to the fault, not to the quiet time
// before it.
import type { TimedRequests } from "./resp-clients.js";

export interface WindowStats {
  /** Requests in the window. */
  n: number;
  /** Reply times (ms): the median, the 99th percentile and the worst. */
  p50: number;
  p99: number;
  max: number;
  /** Requests in the window still unanswered when the clients stopped (their time counts up to `endMs`). */
  unanswered: number;
}

export interface Phase {
  /** Requests sent in [sentFromMs, sentToMs) ... */
  sentFromMs: number;
  sentToMs: number;
  /** ... and answered in [repliedFromMs, repliedToMs) (unanswered ones count as answered at `endMs`). */
  repliedFromMs?: number;
  repliedToMs?: number;
}

/** The reply times of the requests in phase `p`; unanswered requests count as waiting until `endMs`. */
export function windowStats(r: TimedRequests, p: Phase, endMs: number): WindowStats {
  const xs: number[] = [];
  let unanswered = 0;
  const rFrom = p.repliedFromMs ?? -Infinity;
  const rTo = p.repliedToMs ?? Infinity;
  for (let i = 0; i < r.count; i++) {
    const sent = r.sentMs[i];
    if (sent < p.sentFromMs || sent >= p.sentToMs) continue;
    const open = Number.isNaN(r.repliedMs[i]);
    const replied = open ? endMs : r.repliedMs[i];
    if (replied < rFrom || replied >= rTo) continue;
    if (open) unanswered++;
    xs.push(replied - sent);
  }
  if (xs.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, unanswered };
  xs.sort((a, b) => a - b);
  const q = (f: number) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))];
  return { n: xs.length, p50: q(0.5), p99: q(0.99), max: xs[xs.length - 1], unanswered };
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
