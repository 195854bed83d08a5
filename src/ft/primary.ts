// The primary's side of the log channel, as a pure state machine: events from the live
// environment are batched; each batch ends with a PROGRESS mark at the current icount, so
// the backup may execute that far; acknowledgements (highest lsn received) turn into the
// icount through which the backup could reproduce execution, which is what the output
// gate needs. Nothing here touches a socket or a clock.
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";

/** Unacknowledged log kept for the backup; beyond it the primary pauses execution (issue: bounded log buffer). */
export const LOG_BUFFER_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export { LOG_BATCH_BYTES_MAX, eventBytes } from "../replay/eventsize.js";
import { eventBytes } from "../replay/eventsize.js";

interface SentBatch {
  lastLsn: number;
  lastIcount: number;
  bytes: number;
}

/** Events whose source (the console-input server, the switch) keeps the input until the log holding it is acknowledged. */
const INPUT_KINDS: ReadonlySet<number> = new Set([EV.CONSOLE_INPUT, EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE]);

export class PrimaryLog {
  private pending: Event[] = [];
  /** Bytes of the events logged since the last batch (see LOG_BATCH_BYTES_MAX). */
  pendingBytes = 0;
  /** Input events (console input, network) logged since the last batch: their sources wait for them to be durable. */
  pendingInputEvents = 0;
  private sent: SentBatch[] = [];
  /** Events sent and not yet acknowledged: a backup that reconnects gets them again. */
  private unacked: Event[] = [];
  /** Highest lsn the backup acknowledged receiving. */
  ackedLsn = 0;
  /** The backup holds the log through this icount. */
  ackedIcount = 0;
  /** The backup's own report of how far it has executed. */
  backupIcount = 0;
  /** Log bytes sent and not yet acknowledged. */
  unackedBytes = 0;
  totalBytes = 0;
  totalEvents = 0;
  lastLsn = 0;
  /** The last lsn handed to the channel (heartbeats carry it so the backup notices a lost tail). */
  sentLsn = 0;
  private lastProgressIcount = -1;

  /** firstLsn: the next event's lsn (a log started for a cloned backup continues the numbering). */
  constructor(
    readonly bufferBytesMax = LOG_BUFFER_BYTES_MAX_DEFAULT,
    firstLsn = 1,
  ) {
    this.lastLsn = this.sentLsn = this.ackedLsn = firstLsn - 1;
  }

  /** Takes an event the live environment emitted (in lsn order). */
  add(e: Event): void {
    if (e.lsn !== this.lastLsn + 1) throw new Error(`primary log: lsn ${e.lsn} after ${this.lastLsn}`);
    this.lastLsn = e.lsn;
    this.pending.push(e);
    this.pendingBytes += eventBytes(e);
    if (INPUT_KINDS.has(e.kind)) this.pendingInputEvents++;
  }

  /** True when the unacknowledged log is at its bound: execution must pause. */
  full(): boolean {
    return this.unackedBytes + this.pendingBytes >= this.bufferBytesMax;
  }

  /**
   * Closes the current batch: appends a PROGRESS mark at `icount` (made by `mark`, so the
   * lsn comes from the environment) when execution moved since the last one, and returns
   * the events to send (undefined when there is nothing new).
   */
  takeBatch(icount: number, mark: () => void): Event[] | undefined {
    if (icount > this.lastProgressIcount) {
      mark();
      this.lastProgressIcount = icount;
    }
    if (this.pending.length === 0) return undefined;
    const batch = this.pending;
    const last = batch[batch.length - 1];
    this.sent.push({ lastLsn: last.lsn, lastIcount: last.icount, bytes: this.pendingBytes });
    this.sentLsn = last.lsn;
    this.unackedBytes += this.pendingBytes;
    this.totalBytes += this.pendingBytes;
    this.totalEvents += batch.length;
    for (const e of batch) this.unacked.push(e);
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingInputEvents = 0;
    return batch;
  }

  /** True when a batch was sent and not acknowledged yet. */
  get batchInFlight(): boolean {
    return this.sent.length > 0;
  }

  /** True when a batch closed now would carry something: unsent events, or progress past the last mark. */
  hasUnsent(icount: number): boolean {
    return this.pending.length > 0 || icount > this.lastProgressIcount;
  }

  /**
   * The icount through which the backup holds every event: ackedIcount, but short of the
   * first event it has not acknowledged. Events at one icount can span batches (a batch
   * ends with a PROGRESS mark at icount N; the next slice's pump delivers a completion at
   * N), so a write the device issues at that completion is not covered by ackedIcount N.
   */
  get heldIcount(): number {
    const next = this.unacked[0] ?? this.pending[0];
    return next ? Math.min(this.ackedIcount, next.icount - 1) : this.ackedIcount;
  }

  /** The backup received everything through `lsn` and has executed to `backupIcount`. */
  onAck(lsn: number, backupIcount: number): void {
    if (backupIcount > this.backupIcount) this.backupIcount = backupIcount;
    if (lsn <= this.ackedLsn) return;
    if (lsn > this.lastLsn) throw new AckError(`ack for lsn ${lsn}, but only ${this.lastLsn} were logged`);
    this.ackedLsn = lsn;
    let n = 0;
    while (n < this.sent.length && this.sent[n].lastLsn <= lsn) {
      this.ackedIcount = Math.max(this.ackedIcount, this.sent[n].lastIcount);
      this.unackedBytes -= this.sent[n].bytes;
      n++;
    }
    this.sent = this.sent.slice(n);
    let k = 0;
    while (k < this.unacked.length && this.unacked[k].lsn <= lsn) k++;
    if (k > 0) this.unacked = this.unacked.slice(k);
  }

  /**
   * The events after `lsn` that were sent (for a backup that reconnects having received
   * through `lsn`), or undefined when they are no longer all here.
   */
  resendAfter(lsn: number): Event[] | undefined {
    if (lsn > this.sentLsn) return undefined;
    if (lsn < this.ackedLsn) return undefined;
    return this.unacked.filter((e) => e.lsn > lsn);
  }
}

/** A peer acknowledged something impossible: refuse the message (an operating error, not a crash). */
export class AckError extends Error {}

