// The output rule for disk writes on a shared disk: the disk back-end a live FT node
// gives its LiveEnv. Reads go to the real back-end at once: they are inputs, and the
// bytes they return travel in the log with their completion event, so the backup never
// needs the disk. Writes are outputs: each is held with the icount at which it was
// submitted until the backup has acknowledged the log through that icount (the node
// releases them where it releases console output), at once when the node runs alone,
// and never while it is electing. Released writes carry the node's epoch, so the disk
// server refuses writes from a deposed primary.
//
// Why this is safe. A write reaches the disk only when the backup holds the log through
// an icount at or past the instruction that started it (the submit icount is never
// earlier than the start). If the primary dies, the backup replays to that point, so its
// device holds the very same request (same seq, same bytes copied from the same memory):
// either the log also holds the request's completion, which the backup replays, or the
// request is issued-but-not-completed there and the new primary issues it again on going
// live. A write performed twice puts the same bytes on the same blocks, and the device's
// ordering rule never issues a conflicting later request before the earlier one's
// completion was delivered, so a repeat cannot overwrite newer data. Conversely a write
// the backup cannot reproduce (started past the acknowledged log) never left this gate:
// the disk only ever holds writes of the one execution that survives. Reads need no
// such care: a read that conflicts with a held write is not even issued by the device
// until that write has completed (and so was released and performed).
import type { DiskRequest } from "../devices/disk.js";
import { DISK_READ } from "../devices/disk.js";
import type { DiskBackend } from "../replay/world.js";

interface HeldWrite {
  icount: number;
  req: DiskRequest;
  done: (status: number, data?: Uint8Array) => void;
}

export class DiskGate implements DiskBackend {
  private held: HeldWrite[] = [];
  /** Counts for the status line and tests. */
  readsSubmitted = 0;
  writesReleased = 0;

  constructor(
    private readonly backend: DiskBackend,
    /** The guest's icount now (a request is submitted at or after the instruction that started it). */
    private readonly icount: () => number,
    /** The node's epoch now: released writes carry the epoch of their release. */
    private readonly epoch: () => number,
  ) {}

  get heldCount(): number {
    return this.held.length;
  }

  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void): void {
    if (req.op === DISK_READ) {
      this.readsSubmitted++;
      this.backend.submit(req, done, this.epoch());
      return;
    }
    this.held.push({ icount: this.icount(), req, done });
  }

  /** Releases every held write submitted at or before `ackedIcount`, in submission order; returns how many. */
  release(ackedIcount: number): number {
    let n = 0;
    while (n < this.held.length && this.held[n].icount <= ackedIcount) n++;
    return this.take(n);
  }

  /** Releases every held write (no backup to wait for). */
  releaseAll(): number {
    return this.take(this.held.length);
  }

  private take(n: number): number {
    if (n === 0) return 0;
    const out = this.held.slice(0, n);
    this.held = this.held.slice(n);
    const epoch = this.epoch();
    // An acknowledgement often releases several writes (kvlog keeps 7 in flight): they
    // leave together, so the disk server reads, performs and answers them in one go.
    this.backend.cork?.();
    try {
      for (const w of out) this.backend.submit(w.req, w.done, epoch);
    } finally {
      this.backend.uncork?.();
    }
    this.writesReleased += n;
    return n;
  }
}
