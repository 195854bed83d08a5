// The console sink's rules, pure: outputs arrive as {epoch, offset, bytes}; the sink
// writes each byte of the guest's output stream exactly once, in order. It refuses
// output from an epoch older than one it has seen (fencing: a deposed primary cannot
// write) and drops bytes it already wrote (a new primary re-sends what its predecessor
// may have released). A gap (bytes missing before the offset) is refused, not papered over.

export interface OutputChunk {
  epoch: number;
  offset: number;
  bytes: Uint8Array;
}

export type SinkVerdict =
  | { kind: "write"; bytes: Uint8Array; duplicateBytes: number }
  | { kind: "duplicate"; duplicateBytes: number }
  | { kind: "stale"; reason: string }
  | { kind: "gap"; reason: string };

export class SinkState {
  epoch = 0;
  /** Bytes of the stream written so far (the next expected offset). */
  delivered = 0;
  chunksAccepted = 0;
  chunksDuplicate = 0;
  duplicateBytes = 0;
  refusedStale = 0;

  accept(c: OutputChunk): SinkVerdict {
    if (c.epoch < this.epoch) {
      this.refusedStale++;
      return { kind: "stale", reason: `output from epoch ${c.epoch}, the sink is at epoch ${this.epoch}` };
    }
    if (c.offset > this.delivered) return { kind: "gap", reason: `output at offset ${c.offset}, but only ${this.delivered} bytes were delivered` };
    this.epoch = c.epoch;
    const end = c.offset + c.bytes.length;
    if (end <= this.delivered) {
      this.chunksDuplicate++;
      this.duplicateBytes += c.bytes.length;
      return { kind: "duplicate", duplicateBytes: c.bytes.length };
    }
    const skip = this.delivered - c.offset;
    this.delivered = end;
    this.chunksAccepted++;
    if (skip > 0) {
      this.chunksDuplicate++;
      this.duplicateBytes += skip;
    }
    return { kind: "write", bytes: c.bytes.subarray(skip), duplicateBytes: skip };
  }
}
