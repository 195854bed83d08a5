// The tail of an output stream as it was written, so that a re-sent chunk can be compared
// with what is already out there instead of being dropped unseen. A new primary re-sends
// output its predecessor may have released; if its bytes differ, two executions are
// talking through one stream (a host of another cluster, or replay that went astray),
// and the receiver must refuse it rather than append the new execution's output to the
// old one's. Only the last `capacityBytes` are kept (the bound each receiver names):
// re-sent bytes older than that are counted as unchecked, not compared.

export interface WindowComparison {
  /** Stream offset of the first byte that differs from what was written, if any. */
  mismatchAt?: number;
  /** The bytes written there and offered again (at mismatchAt). */
  wrote?: number;
  got?: number;
  /** Bytes of the chunk that lie before the window (written too long ago to compare). */
  unchecked: number;
}

export class WrittenWindow {
  /** Grows up to capacityBytes, then is used as a ring: stream offset x sits at x % capacityBytes. */
  private buf = new Uint8Array(0);
  /** The stream offset one past the last byte written. */
  end = 0;

  constructor(readonly capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 1) throw new RangeError(`a written window needs a positive capacity, got ${capacityBytes}`);
  }

  /** The oldest stream offset still held. */
  get start(): number {
    return Math.max(0, this.end - this.capacityBytes);
  }

  /** Appends bytes written at the stream's end. */
  append(bytes: Uint8Array): void {
    const cap = this.capacityBytes;
    if (this.buf.length < cap && this.end + bytes.length > this.buf.length) {
      // Until the ring is full every offset is its own index (end <= buf.length < cap).
      const grown = new Uint8Array(Math.min(cap, Math.max(2 * this.buf.length, this.end + bytes.length, 4096)));
      grown.set(this.buf.subarray(0, this.end));
      this.buf = grown;
    }
    // Only the last `cap` bytes of a huge chunk can be kept.
    const from = Math.max(0, bytes.length - cap);
    for (let i = from; i < bytes.length; ) {
      const at = (this.end + i) % cap;
      const n = Math.min(bytes.length - i, cap - at);
      this.buf.set(bytes.subarray(i, i + n), at);
      i += n;
    }
    this.end += bytes.length;
  }

  /** Compares `bytes`, offered at stream `offset`, with what was written at the offsets below end. */
  compare(offset: number, bytes: Uint8Array): WindowComparison {
    const upto = Math.min(this.end, offset + bytes.length);
    const from = Math.max(offset, this.start);
    const unchecked = Math.max(0, Math.min(upto, this.start) - offset);
    for (let x = from; x < upto; x++) {
      const wrote = this.buf[x % this.capacityBytes];
      const got = bytes[x - offset];
      if (wrote !== got) return { mismatchAt: x, wrote, got, unchecked };
    }
    return { unchecked };
  }
}

/** "byte 0x41 ('A')" for a divergence report. */
export function showByte(b: number | undefined): string {
  if (b === undefined) return "nothing";
  return `0x${b.toString(16).padStart(2, "0")}${b >= 32 && b < 127 ? ` (${JSON.stringify(String.fromCharCode(b))})` : ""}`;
}
