// The console sink's rules, pure: outputs arrive as {cluster, epoch, offset, bytes}; the
// sink writes each byte of the guest's output stream exactly once, in order. It refuses
// output of another cluster (an execution whose epochs another arbiter granted), output
// from an epoch older than one it has seen (fencing: a deposed primary cannot write), and
// a gap (bytes missing before the offset). Bytes it already wrote (a new primary re-sends
// what its predecessor may have released) are compared with what it wrote there, over
// the last SINK_COMPARE_WINDOW_BYTES of the stream: the same bytes are dropped as
// duplicates; different bytes are a divergence — two executions in one stream — and the
// chunk is refused and counted, never appended.
import { WrittenWindow, showByte } from "../net/window.js";

/** The stream's tail the sink keeps to compare re-sent output with (older re-sent bytes are counted as unchecked). */
export const SINK_COMPARE_WINDOW_BYTES = 1024 * 1024;

export interface OutputChunk {
  epoch: number;
  offset: number;
  bytes: Uint8Array;
  /** The sender's cluster (real hosts always send it; see SinkState.cluster). */
  cluster?: string;
}

export type SinkVerdict =
  | { kind: "write"; bytes: Uint8Array; duplicateBytes: number }
  | { kind: "duplicate"; duplicateBytes: number }
  | { kind: "stale"; reason: string }
  | { kind: "gap"; reason: string }
  | { kind: "diverged"; reason: string; offset: number }
  | { kind: "wrong-cluster"; reason: string };

export class SinkState {
  epoch = 0;
  /** Bytes of the stream written so far (the next expected offset). */
  delivered = 0;
  chunksAccepted = 0;
  chunksDuplicate = 0;
  duplicateBytes = 0;
  refusedStale = 0;
  /** Re-sent chunks whose bytes differed from what the sink had written (refused). */
  divergences = 0;
  /** Chunks refused because they came from another cluster. */
  refusedCluster = 0;
  /** Re-sent bytes too old for the window: dropped without a comparison. */
  uncheckedBytes = 0;
  private readonly written: WrittenWindow;

  /**
   * `cluster`: the sink's cluster. Unset, the sink takes the first cluster an output
   * carries; until then (in-process tests) output without one is accepted. Once set,
   * output without a cluster or of another is refused.
   */
  constructor(
    public cluster?: string,
    windowBytes = SINK_COMPARE_WINDOW_BYTES,
  ) {
    this.written = new WrittenWindow(windowBytes);
  }

  accept(c: OutputChunk): SinkVerdict {
    if (c.cluster !== undefined && this.cluster === undefined) this.cluster = c.cluster;
    if (this.cluster !== undefined && c.cluster !== this.cluster) {
      this.refusedCluster++;
      return { kind: "wrong-cluster", reason: `output of cluster ${c.cluster ?? "(none given)"}, the sink belongs to cluster ${this.cluster}` };
    }
    if (c.epoch < this.epoch) {
      this.refusedStale++;
      return { kind: "stale", reason: `output from epoch ${c.epoch}, the sink is at epoch ${this.epoch}` };
    }
    if (c.offset > this.delivered) return { kind: "gap", reason: `output at offset ${c.offset}, but only ${this.delivered} bytes were delivered` };
    const cmp = this.written.compare(c.offset, c.bytes);
    if (cmp.mismatchAt !== undefined) {
      this.divergences++;
      return {
        kind: "diverged",
        offset: cmp.mismatchAt,
        reason: `output of epoch ${c.epoch} at offset ${cmp.mismatchAt} differs from what the sink wrote there (wrote ${showByte(cmp.wrote)}, got ${showByte(cmp.got)}): a divergence`,
      };
    }
    this.uncheckedBytes += cmp.unchecked;
    this.epoch = c.epoch;
    const end = c.offset + c.bytes.length;
    if (end <= this.delivered) {
      this.chunksDuplicate++;
      this.duplicateBytes += c.bytes.length;
      return { kind: "duplicate", duplicateBytes: c.bytes.length };
    }
    const skip = this.delivered - c.offset;
    const fresh = c.bytes.subarray(skip);
    this.written.append(fresh);
    this.delivered = end;
    this.chunksAccepted++;
    if (skip > 0) {
      this.chunksDuplicate++;
      this.duplicateBytes += skip;
    }
    return { kind: "write", bytes: fresh, duplicateBytes: skip };
  }
}
