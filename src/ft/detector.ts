// Failure detection: a peer is suspected when nothing (heartbeat, log batch or
// acknowledgement) has been heard from it for `timeoutMs`. Readings of the clock are
// passed in, so the detector runs the same under the simulator.

/**
 * Defaults for a local cluster. Loopback round trips take well under a millisecond and
 * Node's event loop rarely stalls more than a few tens of milliseconds (a major GC), so
 * a 150 ms timeout with a heartbeat every 25 ms (six missed beats) avoids false alarms
 * while keeping failover well under the 300 ms target. The paper's few seconds suit a
 * real network; raise both with --heartbeat-ms/--timeout-ms there.
 */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 25;
export const FAILURE_TIMEOUT_MS_DEFAULT = 150;

export class FailureDetector {
  private lastHeardMs: number;

  constructor(
    readonly timeoutMs: number,
    nowMs: number,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`failure timeout must be positive, got ${timeoutMs}`);
    this.lastHeardMs = nowMs;
  }

  heard(nowMs: number): void {
    if (nowMs > this.lastHeardMs) this.lastHeardMs = nowMs;
  }

  silentMs(nowMs: number): number {
    return nowMs - this.lastHeardMs;
  }

  suspect(nowMs: number): boolean {
    return this.silentMs(nowMs) > this.timeoutMs;
  }
}
