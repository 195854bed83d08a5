// Non-shared disks: each FT host has its own image, and both apply the same writes. This
// is the host's own disk as the pure FtNode sees it: a wrapper around the DiskBackend the
// shell gives (a FileDisk on the host's image, a MemoryDisk in tests), with what the node
// needs on top: counts of requests in flight, writes held while the image is copied for a
// clone, the backup's own results by request seq, bounded retries, and whole-range reads
// and writes for streaming the image to a new backup. No I/O of its own.
//
// Why a live host's own writes need no output rule. On a shared disk a write is output:
// the disk outlives the primary, so a write the backup cannot reproduce would leave an
// image no surviving execution explains. A host's own image is part of its own state
// instead, like its memory: if the primary dies, its image dies with it (the launcher
// keeps the image of the host that finishes), and the backup's image holds exactly the
// writes of the execution it replays. So the primary performs writes at once (VMware FT
// does the same with non-shared disks), and the backup performs each write when replay
// issues it and delivers the write's completion only once its own copy has landed: then,
// whenever the backup goes live, its image holds every write its guest saw complete, and
// the requests its guest saw start but not complete are re-issued by the new primary
// (a repeated write puts the same bytes on the same blocks; the device's ordering rule
// keeps any conflicting later request from being issued before the earlier completes).
import type { DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS, DISK_WRITE } from "../devices/disk.js";
import type { DiskBackend } from "../replay/world.js";

/**
 * Attempts a backup makes at one request on its own disk before it gives up: a failed
 * attempt is repeated at once (a real disk error is usually permanent; this covers a
 * transient one). After the last, the request's completion is a divergence (see
 * localreplay.ts): the backup halts rather than go on with an image that differs.
 */
export const LOCAL_DISK_ATTEMPTS_MAX = 3;

export interface LocalResult {
  status: number;
  data?: Uint8Array;
  attempts: number;
}

type Done = (status: number, data?: Uint8Array) => void;

export class LocalDisk implements DiskBackend {
  private inFlightCount = 0;
  private holding = false;
  private held: { req: DiskRequest; done: Done }[] = [];
  /** Backup: the outcome of each request performed for replay, by seq, until its completion is replayed. */
  private readonly results = new Map<number, LocalResult>();
  /** Backup: requests performed for replay so far (for tests and the status line). */
  replayed = 0;

  constructor(readonly backend: DiskBackend) {}

  /** Requests (and image ranges) submitted to the back-end and not finished. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  get heldCount(): number {
    return this.held.length;
  }

  // ---- live --------------------------------------------------------------------------

  /** A live host's request: performed at once, unless writes are held for a clone. */
  submit(req: DiskRequest, done: Done): void {
    if (this.holding && req.op === DISK_WRITE) this.held.push({ req, done });
    else this.send(req, done);
  }

  /** Holds new writes (the image is being copied); reads still go through. */
  hold(): void {
    this.holding = true;
  }

  /** Stops holding and performs the held writes in submission order. */
  releaseHeld(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const h of held) this.send(h.req, h.done);
  }

  // ---- backup ------------------------------------------------------------------------

  /** Performs a request replay issued; its result waits in result(seq). Retries up to LOCAL_DISK_ATTEMPTS_MAX. */
  replaySubmit(req: DiskRequest, attempt = 1): void {
    if (attempt === 1) this.replayed++;
    const perform = this.backend.perform;
    if (perform) {
      // A back-end that can perform at once does so. Replay cannot deliver this request's
      // completion before its result is here, so performing it asynchronously bought
      // nothing but waits: each request cost a hand-over to the I/O thread and back, and
      // a backup that replays one disk request after another slept through each of them,
      // fell behind, and made the throttle slow its primary down (see docs/guide.md,
      // "Disk speed and log bandwidth").
      let r = perform.call(this.backend, req);
      let n = 1;
      while (r.status !== DISK_STATUS.OK && n < LOCAL_DISK_ATTEMPTS_MAX) {
        r = perform.call(this.backend, req);
        n++;
      }
      this.results.set(req.seq, { status: r.status, data: r.data, attempts: n });
      return;
    }
    this.send(req, (status, data) => {
      if (status !== DISK_STATUS.OK && attempt < LOCAL_DISK_ATTEMPTS_MAX) return this.replaySubmit(req, attempt + 1);
      this.results.set(req.seq, { status, data, attempts: attempt });
    });
  }

  result(seq: number): LocalResult | undefined {
    return this.results.get(seq);
  }

  forget(seq: number): void {
    this.results.delete(seq);
  }

  /** Drops every result (a backup going live re-issues the requests still outstanding). */
  forgetAll(): void {
    this.results.clear();
  }

  // ---- whole ranges (cloning the image) ------------------------------------------------

  /** Reads `count` blocks from `block` (any count: this is the image, not a guest request). */
  readRange(block: number, count: number, done: Done): void {
    this.send({ seq: 0, slot: -1, op: DISK_READ, block, count, addr: 0, tag: 0, data: undefined }, done);
  }

  writeRange(block: number, data: Uint8Array, count: number, done: Done): void {
    this.send({ seq: 0, slot: -1, op: DISK_WRITE, block, count, addr: 0, tag: 0, data }, done);
  }

  private send(req: DiskRequest, done: Done): void {
    this.inFlightCount++;
    this.backend.submit(req, (status, data) => {
      this.inFlightCount--;
      done(status, data);
    });
  }
}
