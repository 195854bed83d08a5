// The output gate: the output rule in one place. Console output produced at icount N
// is held until the backup has acknowledged the log through N; the primary keeps
// executing meanwhile. Output carries its stream offset (Console.drainedBytes), so a
// sink can drop bytes a new primary sends again after failover.

export interface HeldOutput {
  /** The guest had executed this many instructions when the output was produced. */
  icount: number;
  /** Stream offset of bytes[0] since boot. */
  offset: number;
  bytes: Uint8Array;
  /** When the host produced it (host clock, for latency measurement only). */
  atMs?: number;
}

/** Output held but not released; beyond it the primary must pause execution (never drop). */
export const HELD_OUTPUT_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;

export class OutputGate {
  private held: HeldOutput[] = [];
  heldBytes = 0;
  /** Offset up to which output has been released (everything below went to the sink). */
  releasedOffset = 0;
  releasedChunks = 0;

  constructor(readonly heldBytesMax = HELD_OUTPUT_BYTES_MAX_DEFAULT) {}

  get heldCount(): number {
    return this.held.length;
  }

  /** True when the primary should pause until acknowledgements free space. */
  full(): boolean {
    return this.heldBytes >= this.heldBytesMax;
  }

  /** A backup going live starts its gate where the output it re-sent ends. */
  startAt(offset: number): void {
    if (this.held.length > 0) throw new Error("gate: startAt with output held");
    this.releasedOffset = offset;
  }

  hold(out: HeldOutput): void {
    if (out.bytes.length === 0) return;
    const last = this.held.at(-1);
    const end = last ? last.offset + last.bytes.length : this.releasedOffset;
    if (out.offset !== end) throw new Error(`gate: output at offset ${out.offset}, expected ${end}`);
    this.held.push(out);
    this.heldBytes += out.bytes.length;
  }

  /** Releases every held output produced at or before `ackedIcount`, in order. */
  release(ackedIcount: number): HeldOutput[] {
    let n = 0;
    while (n < this.held.length && this.held[n].icount <= ackedIcount) n++;
    return this.take(n);
  }

  /** Releases everything (no backup to wait for). */
  releaseAll(): HeldOutput[] {
    return this.take(this.held.length);
  }

  private take(n: number): HeldOutput[] {
    if (n === 0) return [];
    const out = this.held.slice(0, n);
    this.held = this.held.slice(n);
    for (const o of out) {
      this.heldBytes -= o.bytes.length;
      this.releasedOffset = o.offset + o.bytes.length;
    }
    this.releasedChunks += n;
    return out;
  }
}
