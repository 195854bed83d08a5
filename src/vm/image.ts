// The assembled program image and its byte format (.ftb files).
//
// Layout (little-endian):
//   0  magic "FTVB"            4 bytes
//   4  version                 u16 (IMAGE_VERSION)
//   6  reserved                u16 (0)
//   8  entry                   u32 code address where execution starts
//  12  instruction count       u32
//  16  data bytes              u32 initial data memory contents, loaded at address 0
//  20  debug bytes             u32 msgpack {symbols, lines}; 0 when absent
//  24  code                    instruction count * 2 * u32
//      data, then debug
import { OperatingError } from "../base/errors.js";
import { pack, unpack } from "msgpackr";
import { WORDS_PER_INSTRUCTION } from "../../isa/table.js";
import { checkDebug } from "./image-debug.js";

export const IMAGE_MAGIC = "FTVB";
export const IMAGE_VERSION = 1;
export const IMAGE_HEADER_BYTES = 24;
const HEADER_BYTES = IMAGE_HEADER_BYTES;
/** Refuse images whose header claims more than this, so a corrupt file cannot make us allocate gigabytes. */
export const IMAGE_BYTES_MAX = 256 * 1024 * 1024;

export interface ImageSymbol {
  name: string;
  value: number;
  section: "code" | "data" | "const";
}

export interface Image {
  /** Two words per instruction (see isa/table.ts). */
  code: Int32Array;
  /** Initial data memory contents, loaded at address 0. */
  data: Uint8Array;
  entry: number;
  symbols: ImageSymbol[];
  /** For each instruction, "file:line" of its source, when known (empty when not). */
  lines: string[];
}

export class ImageError extends OperatingError {}

export function instructionCount(img: Image): number {
  return img.code.length / WORDS_PER_INSTRUCTION;
}

export function encodeImage(img: Image): Uint8Array {
  const debug = img.symbols.length || img.lines.length ? pack({ symbols: img.symbols, lines: img.lines }) : new Uint8Array(0);
  const total = HEADER_BYTES + img.code.length * 4 + img.data.length + debug.length;
  // Readers refuse images past the limit: refuse to write one (the assembler keeps code and
  // data within it; only the debug section can still push an image over).
  if (total > IMAGE_BYTES_MAX) throw new ImageError(`the image would take ${total} bytes (code ${img.code.length * 4}, data ${img.data.length}, debug ${debug.length}), more than the ${IMAGE_BYTES_MAX}-byte limit`);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = IMAGE_MAGIC.charCodeAt(i);
  dv.setUint16(4, IMAGE_VERSION, true);
  dv.setUint32(8, img.entry, true);
  dv.setUint32(12, instructionCount(img), true);
  dv.setUint32(16, img.data.length, true);
  dv.setUint32(20, debug.length, true);
  let off = HEADER_BYTES;
  for (let i = 0; i < img.code.length; i++, off += 4) dv.setInt32(off, img.code[i], true);
  out.set(img.data, off);
  off += img.data.length;
  out.set(debug, off);
  return out;
}

export function decodeImage(bytes: Uint8Array, name = "image"): Image {
  if (bytes.length < HEADER_BYTES) throw new ImageError(`${name}: not an ftvm image (${bytes.length} bytes, header needs ${HEADER_BYTES})`);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== IMAGE_MAGIC) throw new ImageError(`${name}: not an ftvm image (magic "${magic}", expected "${IMAGE_MAGIC}")`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(4, true);
  if (version !== IMAGE_VERSION) throw new ImageError(`${name}: image version ${version}, this ftvm reads version ${IMAGE_VERSION}`);
  const entry = dv.getUint32(8, true);
  const count = dv.getUint32(12, true);
  const dataBytes = dv.getUint32(16, true);
  const debugBytes = dv.getUint32(20, true);
  const need = HEADER_BYTES + count * WORDS_PER_INSTRUCTION * 4 + dataBytes + debugBytes;
  if (need > IMAGE_BYTES_MAX) throw new ImageError(`${name}: header claims ${need} bytes, more than the ${IMAGE_BYTES_MAX}-byte limit`);
  if (bytes.length < need) throw new ImageError(`${name}: truncated: header needs ${need} bytes, file has ${bytes.length}`);
  if (bytes.length > need) throw new ImageError(`${name}: ${bytes.length - need} bytes at offset ${need} after the image's end (its header accounts for ${need})`);
  if (count > 0 && entry >= count) throw new ImageError(`${name}: entry ${entry} is outside the code (${count} instructions)`);
  const code = new Int32Array(count * WORDS_PER_INSTRUCTION);
  let off = HEADER_BYTES;
  for (let i = 0; i < code.length; i++, off += 4) code[i] = dv.getInt32(off, true);
  const data = bytes.slice(off, off + dataBytes);
  off += dataBytes;
  let symbols: ImageSymbol[] = [];
  let lines: string[] = [];
  if (debugBytes > 0) {
    let dbg: unknown;
    try {
      dbg = unpack(bytes.subarray(off, off + debugBytes));
    } catch (e) {
      throw new ImageError(`${name}: corrupt debug section at offset ${off}: ${(e as Error).message}`);
    }
    const checked = checkDebug(dbg, count);
    if (typeof checked === "string") throw new ImageError(`${name}: corrupt debug section at offset ${off}: ${checked}`);
    ({ symbols, lines } = checked);
  }
  return { code, data, entry, symbols, lines };
}
