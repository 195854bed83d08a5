// The trace file format (.trace): a framed file (framing.ts) whose frames are batches of
// trace records. A record is the machine state at one instruction boundary: after an
// event (cause = the event kind) or every `intervalIcount` instructions (cause 0).
//
// Version 2 (FT traces) adds to version 1, which is still read: header fields saying which
// host wrote the trace, in which epoch and from which icount (a backup cloned from a
// running primary starts mid-run), and a mark record (cause CAUSE_LIVE, with the epoch as
// an eighth field) where a backup went live: from there on it executes as a primary.
//
// Read strictly: after the checksums, every header field and every record field must
// have its shape and range (16 registers of 32 bits, digests of 16 hex digits, icounts
// that never go back), or the reader refuses with the byte offset: a record whose fields
// are garbage must not compare as equal to anything.
import { REGISTER_COUNT } from "../../isa/table.js";
import { EV } from "../devices/events.js";
import type { FormatSpec } from "./framing.js";
import { FormatError, FrameDecoder, encodeFileHeader, encodeFramePayload, packr } from "./framing.js";

export const TRACE_MAGIC = "FTVMTRC\0";
export const TRACE_VERSION = 2;
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
  /** FT hosts: the host's identity, the epoch it started in, and the icount its trace starts at (0, or a clone's). */
  host?: string;
  epoch?: number;
  startIcount?: number;
}

export const CAUSE_PERIODIC = 0;
/** A backup went live here (the record's state is where it took over); not an event kind. */
export const CAUSE_LIVE = 64;

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
  /** CAUSE_LIVE only: the epoch the host went live in. */
  epoch?: number;
}

export const TRACE_FORMAT: FormatSpec<TraceHeader> = {
  what: "trace",
  magic: TRACE_MAGIC,
  version: TRACE_VERSION,
  readsVersions: [1],
  headerBytesMax: 64 * 1024 * 1024,
  frameBytesMax: TRACE_FRAME_BYTES_MAX,
  checkHeader(h) {
    const x = h as TraceHeader;
    if (typeof x !== "object" || x === null || Array.isArray(x)) return "should be a map";
    if (!(x.image instanceof Uint8Array)) return "lacks the program image";
    if (!Number.isSafeInteger(x.intervalIcount) || x.intervalIcount < 1) return `has intervalIcount ${String(x.intervalIcount)}, expected a positive integer`;
    if (typeof x.program !== "string" || typeof x.role !== "string") return "lacks the program's name or the role";
    if (x.host !== undefined && typeof x.host !== "string") return "has a host that is not a string";
    if (x.epoch !== undefined && !isInt(x.epoch, 0, Number.MAX_SAFE_INTEGER)) return `has epoch ${String(x.epoch)}, expected a non-negative integer`;
    if (x.startIcount !== undefined && !isInt(x.startIcount, 0, Number.MAX_SAFE_INTEGER)) return `has startIcount ${String(x.startIcount)}, expected a non-negative integer`;
    x.image = new Uint8Array(x.image);
    return undefined;
  },
};

export function encodeTraceHeader(h: TraceHeader): Uint8Array {
  return encodeFileHeader(TRACE_FORMAT, h);
}

export function encodeTraceFrame(records: readonly TraceRecord[]): Uint8Array {
  return encodeFramePayload(
    packr.pack(records.map((r) => (r.cause === CAUSE_LIVE ? [r.icount, r.pc, r.cause, r.atPc, r.regs, r.regsDigest, r.memDigest, r.epoch ?? 0] : [r.icount, r.pc, r.cause, r.atPc, r.regs, r.regsDigest, r.memDigest]))),
  );
}

const CAUSES: ReadonlySet<number> = new Set([CAUSE_PERIODIC, CAUSE_LIVE, ...Object.values(EV)]);
const DIGEST = /^[0-9a-f]{16}$/;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const U32_MAX = 0xffffffff;

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
}

/** Why a decoded record tuple is not a trace record, or undefined. */
export function traceRecordProblem(t: unknown): string | undefined {
  if (!Array.isArray(t) || !(t.length === 7 || (t.length === 8 && t[2] === CAUSE_LIVE))) return "is not [icount, pc, cause, atPc, regs, regsDigest, memDigest] (with the epoch after a live mark)";
  const [icount, pc, cause, atPc, regs, rd, md, epoch] = t as unknown[];
  if (cause === CAUSE_LIVE && !isInt(epoch, 0, Number.MAX_SAFE_INTEGER)) return `is a live mark with epoch ${String(epoch)}, expected a non-negative integer`;
  if (!isInt(icount, 0, Number.MAX_SAFE_INTEGER)) return `has icount ${String(icount)}, expected a non-negative integer`;
  if (!isInt(pc, 0, U32_MAX)) return `has pc ${String(pc)}, expected a code address`;
  if (typeof cause !== "number" || !CAUSES.has(cause)) return `has cause ${String(cause)}, expected 0 (periodic) or an event kind`;
  if (!isInt(atPc, -1, U32_MAX)) return `has atPc ${String(atPc)}, expected -1 or a code address`;
  if (!Array.isArray(regs) || regs.length !== REGISTER_COUNT || !regs.every((r) => isInt(r, INT32_MIN, INT32_MAX)))
    return `has registers ${Array.isArray(regs) ? `(a list of ${regs.length})` : String(regs)}, expected ${REGISTER_COUNT} 32-bit integers`;
  if (typeof rd !== "string" || !DIGEST.test(rd) || typeof md !== "string" || !DIGEST.test(md)) return "has digests that are not 16 hex digits";
  return undefined;
}

/** Reads a trace incrementally. */
export class TraceDecoder {
  private readonly frames = new FrameDecoder(TRACE_FORMAT);
  private lastIcount = 0;

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
      const problem = traceRecordProblem(t);
      if (problem) throw new FormatError(`corrupted trace: record ${i} of the frame at offset ${f.offset} ${problem}`, f.offset);
      const r = t as [number, number, number, number, number[], string, string, number?];
      if (r[0] < this.lastIcount) throw new FormatError(`corrupted trace: record ${i} of the frame at offset ${f.offset} goes back to icount ${r[0]} from ${this.lastIcount}`, f.offset);
      this.lastIcount = r[0];
      const rec: TraceRecord = { icount: r[0], pc: r[1], cause: r[2], atPc: r[3], regs: r[4], regsDigest: r[5], memDigest: r[6] };
      if (r[2] === CAUSE_LIVE) rec.epoch = r[7];
      return rec;
    });
  }

  finish(): void {
    this.frames.finish();
  }
}
