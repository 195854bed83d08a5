// The backup's side of a non-shared disk: an EventSource between the log queue and
// replay that performs the guest's disk requests on the backup's own image and holds each
// EV.DISK_DONE back until the backup's copy of that request has finished.
//
// Every request the device issues during replay is submitted to the local disk (before
// each peek). When the next event is a completion:
// - of a write: it is delivered once the local write has landed, so the backup's image
//   holds every write its guest saw complete (what a backup going live needs);
// - of a read that carries its data (no --backup-reads): delivered as logged; the backup
//   does not read;
// - of a read logged without data (--backup-reads: {slot, seq, status, crc}): the backup
//   read the blocks itself when the request was issued; the completion is delivered with
//   those bytes once the read finished, after checking them against the primary's CRC-32,
//   so an image that differs is a divergence at once, not a silent difference;
// - with status DISK_E_IO on the primary: delivered as logged (same status on both sides).
// Until the local request finishes, peek() returns nothing: replay waits as it waits for
// log, and the node stays synchronous (the shell wakes it when the local disk settles).
// A local failure after LOCAL_DISK_ATTEMPTS_MAX attempts, where the primary succeeded, is
// a divergence: the backup halts instead of going on with an image that differs.
import type { Bus } from "../devices/bus.js";
import type { DiskCompletion, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS, DISK_WRITE } from "../devices/disk.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import type { EventSource } from "../replay/replay.js";
import { DivergenceError } from "../replay/replay.js";
import type { QueueSource } from "../replay/source.js";
import { crc32 } from "../trace/crc32.js";
import type { LocalDisk } from "./localdisk.js";

/** A read completion logged without its data: the backup reads its own image (--backup-reads). */
export interface LoggedReadCompletion {
  slot: number;
  seq: number;
  status: number;
  /** CRC-32 of the bytes the primary read. */
  crc: number;
}

/** The primary's log entry for a completion: a read's bytes replaced by their CRC-32 when the backup reads for itself. */
export function withoutReadData(c: DiskCompletion): DiskCompletion | LoggedReadCompletion {
  if (!(c.data instanceof Uint8Array)) return c;
  return { slot: c.slot, seq: c.seq, status: c.status, crc: crc32(c.data) };
}

export class LocalReplaySource implements EventSource {
  /** The last peek found a completion whose local request has not finished. */
  blocked = false;
  private cached?: { lsn: number; ev: Event };

  constructor(
    private readonly inner: QueueSource,
    private readonly bus: Bus,
    readonly disk: LocalDisk,
    /** Reads are performed here too (the primary logs them without data). */
    readonly backupReads: boolean,
  ) {}

  /** Submits every request the device issued since the last call (writes, and reads with --backup-reads). */
  submitIssued(): void {
    if (!this.bus.disk.hasUnsubmitted()) return;
    for (const r of this.bus.disk.takeIssued()) if (r.op === DISK_WRITE || this.backupReads) this.disk.replaySubmit(r);
  }

  peek(): Event | undefined {
    this.submitIssued();
    this.blocked = false;
    const ev = this.inner.peek();
    if (!ev || ev.kind !== EV.DISK_DONE) return ev;
    if (this.cached?.lsn === ev.lsn) return this.cached.ev;
    const c = ev.data as DiskCompletion & { crc?: number };
    const req = c && typeof c === "object" ? this.request(c.seq) : undefined;
    // A completion of no request in flight here: let the device refuse it with its reason.
    if (!req) return ev;
    const readByBackup = req.op === DISK_READ && c.status === DISK_STATUS.OK && !(c.data instanceof Uint8Array);
    if (req.op === DISK_READ && !readByBackup) return ev;
    if (readByBackup && !this.backupReads) throw new DivergenceError(`expected the data of disk read ${c.seq} in the log, got a completion without it at icount ${ev.icount}`, ev.icount);
    const local = this.disk.result(c.seq);
    if (!local) {
      this.blocked = true;
      return undefined;
    }
    const where = `${req.op === DISK_READ ? "read" : "write"} ${c.seq} (blocks ${req.block}..${req.block + req.count - 1})`;
    if (c.status === DISK_STATUS.OK && local.status !== DISK_STATUS.OK)
      throw new DivergenceError(`the backup's own disk failed ${where} ${local.attempts} times (status ${local.status}) where the primary's succeeded, at icount ${ev.icount}: its image would differ`, ev.icount, undefined, "own-disk");
    let out = ev;
    if (readByBackup) {
      const got = crc32(local.data!);
      if (got !== c.crc) throw new DivergenceError(`expected disk ${where} to return data with CRC-32 ${hex(c.crc)}, the backup's own image gave ${hex(got)} at icount ${ev.icount}: the images differ`, ev.icount);
      out = { ...ev, data: { slot: c.slot, seq: c.seq, status: c.status, data: local.data } satisfies DiskCompletion };
    }
    this.cached = { lsn: ev.lsn, ev: out };
    return out;
  }

  take(): void {
    const ev = this.inner.peek();
    this.inner.take();
    if (ev?.kind === EV.DISK_DONE) {
      const seq = (ev.data as DiskCompletion | undefined)?.seq;
      if (typeof seq === "number") this.disk.forget(seq);
    }
    this.cached = undefined;
  }

  private request(seq: unknown): DiskRequest | undefined {
    return this.bus.disk.inFlight().find((r) => r.seq === seq);
  }
}

function hex(n: number | undefined): string {
  return n === undefined ? "(none)" : `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
