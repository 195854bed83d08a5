// The trace file format (.trace): a framed file (framing.ts) whose frames are batches of
// trace records. A record is the machine state at one instruction boundary: after an
// event (cause = the event kind) or every `intervalIcount` instructions (cause 0).
import type { FormatSpec } from "./framing.js";
import { FormatError, FrameDecoder, encodeFileHeader, encodeFramePayload, packr } from "./framing.js";

export const TRACE_MAGIC = "FTVMTRC\0";
export const TRACE_VERSION = 1;
export const TRACE_FRAME_BYTES_MAX = 4 * 1024 * 1024;
/** Records per frame: large enough to amortize the frame overhead, small enough to stream. */
export const TRACE_RECORDS_PER_FRAME = 512;

export interface TraceHeader {
  /** The encoded program image, so `trace diff` can disassemble without the source. */
  image: Uint8Array;
  intervalIcount: number;
  program: string;
  /** "record", "replay", "run", "primary", "backup". */
  role: string;
}

export const CAUSE_PERIODIC = 0;

export interface TraceRecord {
  icount: number;
  /** The next instruction to execute. */
  pc: number;
  /** 0 for a periodic record, else the event kind that happened just before (see devices/events.ts). */
  cause: number;
  /** For a synchronous input: the pc of the instruction that read it; -1 otherwise. */
  atPc: number;
  /** r0..r15. */
  regs: number[];
  regsDigest: string;
  memDigest: string;
}

export const TRACE_FORMAT: FormatSpec<TraceHeader> = {
  what: "trace",
  magic: TRACE_MAGIC,
  version: TRACE_VERSION,
  headerBytesMax: 64 * 1024 * 1024,
  frameBytesMax: TRACE_FRAME_BYTES_MAX,
  checkHeader(h) {
    const x = h as TraceHeader;
    if (!x || !(x.image instanceof Uint8Array) || !Number.isInteger(x.intervalIcount)) return "lacks image or intervalIcount";
    x.image = new Uint8Array(x.image);
    return undefined;
  },
};

export function encodeTraceHeader(h: TraceHeader): Uint8Array {
  return encodeFileHeader(TRACE_FORMAT, h);
}

export function encodeTraceFrame(records: readonly TraceRecord[]): Uint8Array {
  return encodeFramePayload(packr.pack(records.map((r) => [r.icount, r.pc, r.cause, r.atPc, r.regs, r.regsDigest, r.memDigest])));
}

/** Reads a trace incrementally. */
export class TraceDecoder {
  private readonly frames = new FrameDecoder(TRACE_FORMAT);

  push(chunk: Uint8Array): void {
    this.frames.push(chunk);
  }

  readHeader(): TraceHeader | undefined {
    return this.frames.readHeader();
  }

  nextRecords(): TraceRecord[] | undefined {
    const f = this.frames.nextFrame();
    if (!f) return undefined;
    if (!Array.isArray(f.value)) throw new FormatError(`corrupted trace: frame at offset ${f.offset} is not a list of records`, f.offset);
    return f.value.map((t: unknown, i: number) => {
      if (!Array.isArray(t) || t.length !== 7 || !Array.isArray(t[4]))
        throw new FormatError(`corrupted trace: record ${i} of the frame at offset ${f.offset} is malformed`, f.offset);
      return { icount: t[0], pc: t[1], cause: t[2], atPc: t[3], regs: t[4], regsDigest: t[5], memDigest: t[6] };
    });
  }

  finish(): void {
    this.frames.finish();
  }
}
