// The guest's console output as the debugger keeps it for `output`: the stream's newest
// bytes, in the chunks they were drained in, so keeping up costs no copying of what is
// already kept. Each byte has its stream offset (the console's drainedBytes numbering),
// so output re-produced while replay passes the same place again is recognized and
// not kept twice.

/** Console output kept (the newest bytes; older ones are dropped). */
export const CONSOLE_LOG_BYTES_MAX = 4 * 1024 * 1024;

export class OutputLog {
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Stream offset of the first byte kept, and one past the last. */
  private base = 0;
  private end = 0;

  constructor(private readonly bytesMax = CONSOLE_LOG_BYTES_MAX) {}

  /** Adds `bytes` found at stream offset `from`; bytes already kept are skipped. */
  add(from: number, bytes: Uint8Array): void {
    const to = from + bytes.length;
    if (to <= this.end) return;
    const fresh = bytes.slice(Math.max(0, this.end - from));
    this.chunks.push(fresh);
    this.end = to;
    while (this.end - this.base > this.bytesMax && this.head < this.chunks.length) {
      const c = this.chunks[this.head];
      const excess = this.end - this.base - this.bytesMax;
      if (c.length <= excess) {
        this.base += c.length;
        this.head++;
      } else {
        this.chunks[this.head] = c.subarray(excess);
        this.base += excess;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** The kept bytes of stream offsets [from, to), clamped to what is kept; and where they start. */
  slice(from: number, to: number): { bytes: Uint8Array; from: number } {
    const start = Math.max(from, this.base);
    const stop = Math.min(to, this.end);
    const out = new Uint8Array(Math.max(0, stop - start));
    let at = this.base;
    for (let i = this.head; i < this.chunks.length && at < stop; i++) {
      const c = this.chunks[i];
      const lo = Math.max(start, at);
      const hi = Math.min(stop, at + c.length);
      if (lo < hi) out.set(c.subarray(lo - at, hi - at), lo - start);
      at += c.length;
    }
    return { bytes: out, from: start };
  }
}
