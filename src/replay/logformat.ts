// The log file format (.ftlog): a framed file (src/trace/framing.ts) whose header names
// the program and machine size and whose frames are batches of events, each event the
// tuple [lsn, icount, kind, data]. The same batches travel over the FT log channel.
import type { DiskGeometry } from "../devices/disk.js";
import { geometryProblem } from "../devices/disk.js";
import type { Event } from "../devices/events.js";
import type { FormatSpec } from "../trace/framing.js";
import { FormatError, FrameDecoder, encodeFileHeader, encodeFramePayload, packr } from "../trace/framing.js";

export const LOG_MAGIC = "FTVMLOG\0";
export const LOG_VERSION = 1;
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
}

export const LOG_FORMAT: FormatSpec<LogHeader> = {
  what: "log",
  magic: LOG_MAGIC,
  version: LOG_VERSION,
  headerBytesMax: LOG_HEADER_BYTES_MAX,
  frameBytesMax: LOG_FRAME_BYTES_MAX,
  checkHeader(h) {
    const x = h as LogHeader;
    if (!x || !(x.image instanceof Uint8Array) || !Number.isInteger(x.memBytes) || !Number.isInteger(x.stackBytes)) return "lacks image, memBytes or stackBytes";
    if (x.disk !== undefined && x.disk !== null) {
      const problem = geometryProblem(x.disk);
      if (problem) return `has a bad disk geometry: ${problem}`;
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

/** Checks and converts a decoded batch; throws FormatError (at `offset`) when it is not a list of events. */
export function toEvents(raw: unknown, offset: number): Event[] {
  if (!Array.isArray(raw)) throw new FormatError(`corrupted log: batch at offset ${offset} is not a list of events`, offset);
  return raw.map((t, i) => {
    if (!Array.isArray(t) || t.length !== 4 || !Number.isSafeInteger(t[0]) || !Number.isSafeInteger(t[1]) || !Number.isInteger(t[2]) || t[1] < 0)
      throw new FormatError(`corrupted log: event ${i} of the batch at offset ${offset} is not [lsn, icount, kind, data]`, offset);
    const data = t[3] instanceof Uint8Array ? new Uint8Array(t[3]) : t[3];
    return { lsn: t[0], icount: t[1], kind: t[2], data };
  });
}


/** Reads a log incrementally: push() chunks, then take batches. */
export class LogDecoder {
  private readonly frames = new FrameDecoder(LOG_FORMAT);

  push(chunk: Uint8Array): void {
    this.frames.push(chunk);
  }

  readHeader(): LogHeader | undefined {
    return this.frames.readHeader();
  }

  nextBatch(): Event[] | undefined {
    const f = this.frames.nextFrame();
    return f ? toEvents(f.value, f.offset) : undefined;
  }

  finish(): void {
    this.frames.finish();
  }

  get offset(): number {
    return this.frames.offset;
  }
}
