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

/** What a phase's requests would see at worst in a window of a given length, without the event under test. */
export interface Floor {
  /** The mean, over the windows of `lengthMs` that fit in the phase, of the worst reply in each (ms). */
  worstMs: number;
  /** How many windows (0: no request in any; then worstMs is NaN). */
  windows: number;
  /** The phase was shorter than `lengthMs`: worstMs is the whole phase's worst, a shorter stretch than asked. */
  short: boolean;
}

/**
 * The worst reply to expect in a window of `lengthMs` from the requests of phase `p`
 * (sent in it, answered within its bounds): the worst reply in each window of that length
 * starting every `stepMs` in the phase, averaged. On a busy machine the worst reply of a
 * stretch grows with its length (it holds more of the scheduler's long waits), so a
 * clone window is compared with this, taken at the clone window's own length, rather
 * than with the whole baseline's worst, whatever the two lengths.
 */
export function floorOver(r: TimedRequests, p: Phase, endMs: number, lengthMs: number, stepMs: number): Floor {
  if (!(lengthMs > 0) || !(stepMs > 0)) throw new RangeError(`floorOver: length ${lengthMs} and step ${stepMs} must be positive`);
  const span = p.sentToMs - p.sentFromMs;
  if (span <= lengthMs) {
    const w = windowStats(r, p, endMs);
    return { worstMs: w.max, windows: w.n > 0 ? 1 : 0, short: true };
  }
  // Requests of the phase, by send time, each with its reply time.
  const rFrom = p.repliedFromMs ?? -Infinity;
  const rTo = p.repliedToMs ?? Infinity;
  const sent: number[] = [];
  const took: number[] = [];
  const order: number[] = [];
  for (let i = 0; i < r.count; i++) {
    const s = r.sentMs[i];
    if (s < p.sentFromMs || s >= p.sentToMs) continue;
    const replied = Number.isNaN(r.repliedMs[i]) ? endMs : r.repliedMs[i];
    if (replied < rFrom || replied >= rTo) continue;
    order.push(order.length);
    sent.push(s);
    took.push(replied - s);
  }
  order.sort((a, b) => sent[a] - sent[b]);
  let sum = 0;
  let windows = 0;
  let lo = 0;
  for (let t = p.sentFromMs; t + lengthMs <= p.sentToMs; t += stepMs) {
    while (lo < order.length && sent[order[lo]] < t) lo++;
    let worst = -Infinity;
    for (let k = lo; k < order.length && sent[order[k]] < t + lengthMs; k++) worst = Math.max(worst, took[order[k]]);
    if (worst === -Infinity) continue;
    sum += worst;
    windows++;
  }
  return { worstMs: windows > 0 ? sum / windows : NaN, windows, short: false };
}
