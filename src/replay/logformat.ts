// The log file format (.ftlog): a framed file (src/trace/framing.ts) whose header names
// the program and machine size and whose frames are batches of events, each event the
// tuple [lsn, icount, kind, data]. The same batches travel over the FT log channel.
//
// Version 2 adds the header's `epochs` (a log stitched from an FT run, ftvm ft --record:
// where history passed from one live host to the next); version 1 is still read.
//
// A log is read strictly (shapes in logshape.ts): the header's sizes must be ones a
// machine can have, every event's data the shape of its kind, lsns consecutive from 1,
// icounts never going back, and nothing after the END mark, not even a repeated frame.
// Anything else is a FormatError with the byte offset of the frame it is in.
import type { DiskGeometry } from "../devices/disk.js";
import { geometryProblem } from "../devices/disk.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import type { LogContext } from "./logshape.js";
import { eventDataProblem, logHeaderProblem } from "./logshape.js";
import type { FormatSpec } from "../trace/framing.js";
import { FormatError, FrameDecoder, encodeFileHeader, encodeFramePayload, packr } from "../trace/framing.js";

export const LOG_MAGIC = "FTVMLOG\0";
export const LOG_VERSION = 2;
/** A stitched log names at most this many epochs in its header. */
export const LOG_EPOCHS_MAX = 100_000;
/** A frame larger than this is refused as corrupt. */
export const LOG_FRAME_BYTES_MAX = 4 * 1024 * 1024;
/** A header larger than this is refused as corrupt (it holds the program image). */
export const LOG_HEADER_BYTES_MAX = 64 * 1024 * 1024;

export interface LogHeader {
  /** The encoded program image (.ftb bytes): a log replays without its source. */
  image: Uint8Array;
  memBytes: number;
  stackBytes: number;
  /** Recorded with the unsafe --unlogged-rand: RAND values are not in the log. */
  unloggedRand: boolean;
  /** Name of the program as given to record, for messages. */
  program: string;
  /** The disk's geometry when the guest had one (replay needs no image: reads are in the log). */
  disk?: DiskGeometry;
  /** An FT run's log (version 2): from which lsn (and icount) each epoch's live host logged history. */
  epochs?: { epoch: number; fromLsn: number; icount: number; host: string; liveIcount: number }[];
}

export const LOG_FORMAT: FormatSpec<LogHeader> = {
  what: "log",
  magic: LOG_MAGIC,
  version: LOG_VERSION,
  readsVersions: [1],
  headerBytesMax: LOG_HEADER_BYTES_MAX,
  frameBytesMax: LOG_FRAME_BYTES_MAX,
  checkHeader(h) {
    const problem = logHeaderProblem(h);
    if (problem) return problem;
    const x = h as LogHeader;
    if (x.disk !== undefined && x.disk !== null) {
      const problem = geometryProblem(x.disk);
      if (problem) return `has a bad disk geometry: ${problem}`;
    }
    if (x.epochs !== undefined) {
      const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
      if (!Array.isArray(x.epochs) || x.epochs.length > LOG_EPOCHS_MAX) return `has epochs that are not a list of at most ${LOG_EPOCHS_MAX}`;
      for (const [i, e] of x.epochs.entries())
        if (typeof e !== "object" || e === null || !ok(e.epoch) || !ok(e.fromLsn) || !ok(e.icount) || !ok(e.liveIcount) || typeof e.host !== "string")
          return `has epochs[${i}] that is not {epoch, fromLsn, icount, host, liveIcount}`;
    }
    x.image = new Uint8Array(x.image);
    return undefined;
  },
};

export function encodeLogHeader(h: LogHeader): Uint8Array {
  return encodeFileHeader(LOG_FORMAT, h);
}

export function encodeEvents(events: readonly Event[]): Uint8Array {
  return packr.pack(events.map((e) => [e.lsn, e.icount, e.kind, e.data]));
}

export function encodeLogFrame(events: readonly Event[]): Uint8Array {
  return encodeFramePayload(encodeEvents(events));
}

/**
 * Checks and converts a decoded batch; throws FormatError (at `offset`) when it is not a
 * list of well-formed events. Without a context (the FT log channel) a disk is allowed.
 */
export function toEvents(raw: unknown, offset: number, ctx: LogContext = { disk: true }): Event[] {
  if (!Array.isArray(raw)) throw new FormatError(`corrupted log: batch at offset ${offset} is not a list of events`, offset);
  return raw.map((t: unknown, i) => {
    checkEvent(t, i, offset, ctx);
    const data = t[3] instanceof Uint8Array ? new Uint8Array(t[3]) : t[3];
    return { lsn: t[0], icount: t[1], kind: t[2], data };
  });
}

/**
 * The lsns of a decoded batch that toEvents would take (the same checks, the same
 * FormatError), without building its events: the first, and how many. Undefined when they
 * are not consecutive. For the backup's log front (src/ft/log-front.ts), which judges
 * every batch on the I/O thread before the node converts it: building the events there
 * only to read their lsns was most of the front's time.
 */
export function checkedLsns(raw: unknown, offset: number, ctx: LogContext = { disk: true }): { first: number; count: number } | undefined {
  if (!Array.isArray(raw)) throw new FormatError(`corrupted log: batch at offset ${offset} is not a list of events`, offset);
  let first = 0;
  for (let i = 0; i < raw.length; i++) {
    const t: unknown = raw[i];
    checkEvent(t, i, offset, ctx);
    if (i === 0) first = t[0];
    else if (t[0] !== first + i) return undefined;
  }
  return { first, count: raw.length };
}

/** Throws FormatError unless `t` is a well-formed event [lsn, icount, kind, data] (event `i` of the batch at `offset`). */
function checkEvent(t: unknown, i: number, offset: number, ctx: LogContext): asserts t is [number, number, number, unknown] {
  if (!Array.isArray(t) || t.length !== 4 || !Number.isSafeInteger(t[0]) || !Number.isSafeInteger(t[1]) || !Number.isInteger(t[2]) || t[0] < 1 || t[1] < 0)
    throw new FormatError(`corrupted log: event ${i} of the batch at offset ${offset} is not [lsn, icount, kind, data] (lsn from 1, icount from 0)`, offset);
  const problem = eventDataProblem(t[2], t[3], ctx);
  if (problem) throw new FormatError(`corrupted log: event ${i} (lsn ${t[0]}) of the batch at offset ${offset}: ${problem}`, offset);
}

/** Reads a log incrementally: push() chunks, then take batches. */
export class LogDecoder {
  private readonly frames = new FrameDecoder(LOG_FORMAT);
  private lastLsn = 0;
  private lastIcount = 0;
  /** Offset of the frame that held the END mark, once seen. */
  private endAt: number | undefined;

  push(chunk: Uint8Array): void {
    this.frames.push(chunk);
  }

  readHeader(): LogHeader | undefined {
    return this.frames.readHeader();
  }

  nextBatch(): Event[] | undefined {
    const f = this.frames.nextFrame();
    if (!f) return undefined;
    if (this.endAt !== undefined)
      throw new FormatError(`corrupted log: a frame at offset ${f.offset} follows the END mark (in the frame at offset ${this.endAt}); nothing may come after it`, f.offset);
    const h = this.frames.header!;
    const events = toEvents(f.value, f.offset, { disk: h.disk !== undefined && h.disk !== null });
    for (const [i, e] of events.entries()) {
      if (this.endAt !== undefined) throw new FormatError(`corrupted log: event ${i} (lsn ${e.lsn}) of the batch at offset ${f.offset} follows the END mark`, f.offset);
      if (e.lsn !== this.lastLsn + 1) throw new FormatError(`corrupted log: event ${i} of the batch at offset ${f.offset} has lsn ${e.lsn}, expected ${this.lastLsn + 1}`, f.offset);
      if (e.icount < this.lastIcount)
        throw new FormatError(`corrupted log: event ${i} (lsn ${e.lsn}) of the batch at offset ${f.offset} goes back to icount ${e.icount} from ${this.lastIcount}`, f.offset);
      this.lastLsn = e.lsn;
      this.lastIcount = e.icount;
      if (e.kind === EV.END) this.endAt = f.offset;
    }
    return events;
  }

  /** Call at end of input: throws when bytes of an incomplete header or frame remain (after END: any bytes). */
  finish(): void {
    if (this.endAt !== undefined && this.frames.pendingBytes > 0)
      throw new FormatError(`corrupted log: ${this.frames.pendingBytes} bytes at offset ${this.frames.offset} follow the END mark; nothing may come after it`, this.frames.offset);
    this.frames.finish();
  }

  /** True once the END mark was read. */
  get ended(): boolean {
    return this.endAt !== undefined;
  }

  get offset(): number {
    return this.frames.offset;
  }
}
