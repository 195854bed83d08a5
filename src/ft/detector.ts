// Failure detection that knows its own stalls and adapts to what it has seen. Readings
// of the clock are passed in, so the detector runs the same under the simulator.
//
// Two ideas, both needed on a busy machine:
//
// 1. Only silence this process was awake to observe counts. The shell calls suspect()
//    (through FtNode.tick) every heartbeat interval. If two such observations are further
//    apart than that, this process was not running for the rest (descheduled by a loaded
//    OS, a long GC, a long guest slice): the peer's messages may be sitting unread in our
//    socket buffer. So each observation counts at most one heartbeat interval of
//    silence; the rest is our own stall, not the peer's silence. In effect silence is
//    counted in our own ticks, which makes it fair on a machine that is slow for
//    everyone: when the OS hands out CPU sparingly, our ticks come late exactly as the
//    peer's heartbeats do (seen at load average 14 on 2 cores: both hosts of a healthy
//    pair saw "312 ms" of silence when gaps up to two intervals were counted in full).
//
// 2. The threshold adapts to the spread of arrivals (the phi accrual detector of
//    Hayashibara et al., 2004, in the form Akka and Cassandra use). Each heartbeat records
//    the awake time since the previous one (heartbeats, not every message: acks and log
//    batches come in bursts whose tiny gaps would hide how late beats can be); phi(t) =
//    -log10(P(silence > t)) under a normal
//    distribution with that history's mean (plus an acceptable pause) and standard
//    deviation (at least a floor). A peer on a jittery machine gets a longer rope; a
//    steady one a shorter one. A fixed floor (timeoutMs, `--timeout-ms`) keeps a very
//    regular history from making the detector twitchy.
//
// A refused or closed connection (a process that died: its kernel closes the socket) is
// not this detector's business: the node treats it at once (onPeerClosed), and that
// fast path is what makes a SIGKILLed primary fail over in tens of milliseconds.

/**
 * Defaults for a local cluster on a busy laptop or CI box. Heartbeats every 25 ms keep
 * the arrival history dense. The floor of 1000 ms of awake silence (counted in this
 * host's own ticks): on this 2-core machine at load average 13–19, a healthy pair still
 * split at a 300 ms floor about once in five minutes (one host starved while the other
 * ran), and at the old fixed 150 ms several times a minute (issue 11). A process that
 * dies is detected by its closed socket in tens of milliseconds whatever this floor is,
 * so SIGKILL failover does not pay it; only a partition or a hung host does, and a second
 * there is what the paper's few seconds are on a real network (raise --timeout-ms there).
 */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 25;
export const FAILURE_TIMEOUT_MS_DEFAULT = 1000;
/** Suspect at phi above this: P(a live peer is this silent) < 10^-8 under the model. Akka's default. */
export const PHI_THRESHOLD_DEFAULT = 8;
/** Arrivals remembered for the mean and spread. */
export const DETECTOR_HISTORY_SAMPLES = 200;

export interface DetectorOptions {
  /** The least awake silence ever suspected (ms). */
  timeoutMs: number;
  /** The peer's heartbeat interval (ms): sizes the acceptable pause, the spread floor and the awake gap. */
  heartbeatMs: number;
  phiThreshold?: number;
}

export class FailureDetector {
  readonly timeoutMs: number;
  private readonly phiThreshold: number;
  /** A gap between observations longer than this is our own stall beyond it (ms). */
  private readonly awakeGapMaxMs: number;
  /** Awake time since the last heartbeat (for the arrival history). */
  private sinceBeatAwakeMs = 0;
  /** Silence added to the mean before phi grows: a heartbeat or two late is normal (ms). */
  private readonly acceptablePauseMs: number;
  /** The spread never counts as smaller than this (ms): a regular history must not make phi jump at the first late beat. */
  private readonly stdDevMinMs: number;
  private lastObservedMs: number;
  /** Awake silence since the last arrival, as of lastObservedMs. */
  private silentAwakeMs = 0;
  /** Our own stalls seen (ms of gaps beyond awakeGapMaxMs), for the operator. */
  ownStallMs = 0;
  ownStallMaxMs = 0;
  private readonly samples = new Float64Array(DETECTOR_HISTORY_SAMPLES);
  private sampleCount = 0;
  private sampleNext = 0;
  private sum = 0;
  private sumSq = 0;

  constructor(o: DetectorOptions, nowMs: number) {
    if (!(o.timeoutMs > 0)) throw new RangeError(`failure timeout must be positive, got ${o.timeoutMs}`);
    if (!(o.heartbeatMs > 0)) throw new RangeError(`heartbeat interval must be positive, got ${o.heartbeatMs}`);
    this.timeoutMs = o.timeoutMs;
    this.phiThreshold = o.phiThreshold ?? PHI_THRESHOLD_DEFAULT;
    this.awakeGapMaxMs = o.heartbeatMs;
    // With a steady history (beats one interval apart) these put phi's crossing near 2
    // intervals + 2.5 intervals of spread (about 115 ms at 25 ms beats), below any sensible
    // floor: the floor rules for a steady peer, and phi only lengthens the rope for one
    // whose beats have scattered.
    this.acceptablePauseMs = o.heartbeatMs;
    this.stdDevMinMs = o.heartbeatMs / 2;
    this.lastObservedMs = nowMs;
    // A prior of one heartbeat interval, so the first seconds are judged like later ones.
    this.addSample(o.heartbeatMs);
  }

  /** This process is awake at nowMs: silence since the last observation counts, up to awakeGapMaxMs. */
  private observe(nowMs: number): void {
    const gapMs = nowMs - this.lastObservedMs;
    if (!(gapMs > 0)) return;
    this.lastObservedMs = nowMs;
    if (gapMs > this.awakeGapMaxMs) {
      const stallMs = gapMs - this.awakeGapMaxMs;
      this.ownStallMs += stallMs;
      if (stallMs > this.ownStallMaxMs) this.ownStallMaxMs = stallMs;
      this.silentAwakeMs += this.awakeGapMaxMs;
      this.sinceBeatAwakeMs += this.awakeGapMaxMs;
    } else {
      this.silentAwakeMs += gapMs;
      this.sinceBeatAwakeMs += gapMs;
    }
  }

  /** Something arrived from the peer; `heartbeat` when it was a heartbeat (those make the arrival history). */
  heard(nowMs: number, heartbeat = true): void {
    this.observe(nowMs);
    this.silentAwakeMs = 0;
    if (!heartbeat) return;
    this.addSample(this.sinceBeatAwakeMs);
    this.sinceBeatAwakeMs = 0;
  }

  private addSample(x: number): void {
    if (this.sampleCount === DETECTOR_HISTORY_SAMPLES) {
      const old = this.samples[this.sampleNext];
      this.sum -= old;
      this.sumSq -= old * old;
    } else this.sampleCount++;
    this.samples[this.sampleNext] = x;
    this.sampleNext = (this.sampleNext + 1) % DETECTOR_HISTORY_SAMPLES;
    this.sum += x;
    this.sumSq += x * x;
  }

  /** Awake silence since the peer was last heard (ms). */
  silentMs(nowMs: number): number {
    this.observe(nowMs);
    return this.silentAwakeMs;
  }

  private meanMs(): number {
    return this.sum / this.sampleCount;
  }

  private stdDevMs(): number {
    const mean = this.meanMs();
    const variance = Math.max(0, this.sumSq / this.sampleCount - mean * mean);
    return Math.max(this.stdDevMinMs, Math.sqrt(variance));
  }

  /** -log10 of the probability that a live peer stays silent this long, under the history's model. */
  phi(silentMs: number): number {
    const mean = this.meanMs() + this.acceptablePauseMs;
    const y = (silentMs - mean) / this.stdDevMs();
    // The logistic approximation of the normal CDF (Bowling et al. 2009), as in Akka.
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    return silentMs > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  }

  /** The awake silence after which the peer is suspected now (ms): the floor, or where phi crosses its threshold. */
  thresholdMs(): number {
    // phi is increasing in the silence: bisect for its crossing (a few dozen steps, only when asked).
    let lo = 0;
    let hi = this.meanMs() + this.acceptablePauseMs + 64 * this.stdDevMs();
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (this.phi(mid) > this.phiThreshold) hi = mid;
      else lo = mid;
    }
    return Math.max(this.timeoutMs, hi);
  }

  suspect(nowMs: number): boolean {
    const s = this.silentMs(nowMs);
    return s > this.timeoutMs && this.phi(s) > this.phiThreshold;
  }

  /** Why the peer is suspected, for the operator. */
  describe(nowMs: number): string {
    const s = this.silentMs(nowMs);
    const stalls = this.ownStallMs > 0 ? `; this host's own stalls, not counted: ${Math.round(this.ownStallMs)} ms, longest ${Math.round(this.ownStallMaxMs)} ms` : "";
    return `nothing heard for ${Math.round(s)} ms while this host was running (threshold ${Math.round(this.thresholdMs())} ms, phi ${this.phi(s).toFixed(1)}${stalls})`;
  }
}
