// A framed, checksummed, streamable file format shared by logs (.ftlog) and traces (.trace):
//
//   magic (8 bytes) | version u32 | header length u32 | header crc32 u32 | header (msgpack)
//   then frames:  payload length u32 | payload crc32 u32 | payload (msgpack)
//
// All integers little-endian. Writers produce byte chunks and readers take byte chunks;
// opening files happens in src/host. Every error names the byte offset where the file
// stopped making sense, so a truncated or corrupted file never replays silently wrong.
import { OperatingError } from "../base/errors.js";
import { Packr } from "msgpackr";
import { crc32 } from "./crc32.js";

const PREFIX_BYTES = 8 + 4 + 4 + 4;
const FRAME_PREFIX_BYTES = 8;

export class FormatError extends OperatingError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface FormatSpec<H> {
  /** What the file is called in messages ("log", "trace"). */
  what: string;
  /** Exactly 8 characters. */
  magic: string;
  version: number;
  /** Older versions this reader still reads (a later version only adds to them). */
  readsVersions?: readonly number[];
  headerBytesMax: number;
  frameBytesMax: number;
  /** Checks a decoded header; returns a complaint or undefined when it is fine. */
  checkHeader(h: unknown): string | undefined;
}

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeFileHeader<H>(spec: FormatSpec<H>, header: H): Uint8Array {
  const body = packr.pack(header);
  const out = new Uint8Array(PREFIX_BYTES + body.length);
  for (let i = 0; i < 8; i++) out[i] = spec.magic.charCodeAt(i);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, spec.version, true);
  dv.setUint32(12, body.length, true);
  dv.setUint32(16, crc32(body), true);
  out.set(body, PREFIX_BYTES);
  return out;
}

export function encodeFramePayload(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_PREFIX_BYTES + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length, true);
  dv.setUint32(4, crc32(body), true);
  out.set(body, FRAME_PREFIX_BYTES);
  return out;
}

/** Parses a framed file incrementally: push() chunks as they are read, take frames as they complete. */
export class FrameDecoder<H> {
  private buf: Uint8Array = new Uint8Array(0);
  /** File offset of buf[0]. */
  private base = 0;
  header: H | undefined;

  constructor(private readonly spec: FormatSpec<H>) {}

  push(chunk: Uint8Array): void {
    if (this.buf.length === 0) this.buf = chunk;
    else {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf);
      b.set(chunk, this.buf.length);
      this.buf = b;
    }
  }

  /** The header, once enough bytes have arrived (undefined until then). */
  readHeader(): H | undefined {
    if (this.header) return this.header;
    const s = this.spec;
    if (this.buf.length < PREFIX_BYTES) return undefined;
    const magic = String.fromCharCode(...this.buf.subarray(0, 8));
    if (magic !== s.magic) throw new FormatError(`not an ftvm ${s.what}: magic ${JSON.stringify(magic)} at offset 0, expected ${JSON.stringify(s.magic)}`, 0);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const version = dv.getUint32(8, true);
    if (version !== s.version && !s.readsVersions?.includes(version)) throw new FormatError(`${s.what} version ${version} at offset 8, this ftvm reads version ${s.version}`, 8);
    const len = dv.getUint32(12, true);
    if (len > s.headerBytesMax) throw new FormatError(`corrupted ${s.what}: header length ${len} at offset 12 exceeds ${s.headerBytesMax}`, 12);
    if (this.buf.length < PREFIX_BYTES + len) return undefined;
    const body = this.buf.subarray(PREFIX_BYTES, PREFIX_BYTES + len);
    if (crc32(body) !== dv.getUint32(16, true)) throw new FormatError(`corrupted ${s.what}: header checksum mismatch (header at offset ${PREFIX_BYTES})`, PREFIX_BYTES);
    let h: unknown;
    try {
      h = packr.unpack(body);
    } catch (e) {
      throw new FormatError(`corrupted ${s.what}: undecodable header at offset ${PREFIX_BYTES}: ${(e as Error).message}`, PREFIX_BYTES);
    }
    const complaint = s.checkHeader(h);
    if (complaint) throw new FormatError(`corrupted ${s.what}: header at offset ${PREFIX_BYTES} ${complaint}`, PREFIX_BYTES);
    this.header = h as H;
    this.advance(PREFIX_BYTES + len);
    return this.header;
  }

  /** The next complete frame as {offset, value}, or undefined when more bytes are needed. */
  nextFrame(): { offset: number; value: unknown } | undefined {
    if (!this.header && !this.readHeader()) return undefined;
    if (this.buf.length < FRAME_PREFIX_BYTES) return undefined;
    const s = this.spec;
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const len = dv.getUint32(0, true);
    if (len > s.frameBytesMax) throw new FormatError(`corrupted ${s.what}: frame at offset ${this.base} claims ${len} bytes (limit ${s.frameBytesMax})`, this.base);
    if (this.buf.length < FRAME_PREFIX_BYTES + len) return undefined;
    const body = this.buf.subarray(FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + len);
    if (crc32(body) !== dv.getUint32(4, true)) throw new FormatError(`corrupted ${s.what}: checksum mismatch in the frame at offset ${this.base}`, this.base);
    let value: unknown;
    try {
      value = packr.unpack(body);
    } catch (e) {
      throw new FormatError(`corrupted ${s.what}: undecodable frame at offset ${this.base}: ${(e as Error).message}`, this.base);
    }
    const offset = this.base;
    this.advance(FRAME_PREFIX_BYTES + len);
    return { offset, value };
  }

  /** Call at end of input: throws when bytes of an incomplete header or frame remain. */
  finish(): void {
    const s = this.spec;
    const end = this.base + this.buf.length;
    if (!this.header) throw new FormatError(`truncated ${s.what}: the file ends at offset ${end} inside the header`, end);
    if (this.buf.length > 0)
      throw new FormatError(`truncated ${s.what}: ${this.buf.length} bytes of an incomplete frame at offset ${this.base} (the file ends at ${end})`, this.base);
  }

  /** File offset of the first byte not yet consumed. */
  get offset(): number {
    return this.base;
  }

  /** Bytes pushed but not yet consumed by a header or a complete frame. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  private advance(n: number): void {
    this.buf = this.buf.subarray(n);
    this.base += n;
  }
}
