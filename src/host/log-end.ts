// Where a log ends, read before replaying it, so `ftvm replay` can show how far it is
// in instructions (the only honest measure: a compute-bound run logs few events, so the
// bytes of the log read say little about the time left). It walks the frames' length
// prefixes without reading their payloads, then decodes the last frame alone: its last
// event's icount is where the run ended (the END mark, in a complete log).
//
// Only a display hint: on anything odd (a cut-off or corrupt log, too many frames to walk
// quickly) it answers undefined and the replay itself reports what is wrong.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { LOG_FRAME_BYTES_MAX, LOG_HEADER_BYTES_MAX } from "../replay/logformat.js";
import { packr } from "../trace/framing.js";

/** magic (8) | version u32 | header length u32 | header crc32 u32 (src/trace/framing.ts). */
const FILE_PREFIX_BYTES = 20;
/** payload length u32 | payload crc32 u32. */
const FRAME_PREFIX_BYTES = 8;
/** Walk at most this many frames (a read each; a log with more shows its bytes instead). */
export const LOG_END_FRAMES_WALKED_MAX = 200_000;

export function logEndIcount(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(FILE_PREFIX_BYTES);
    if (readSync(fd, prefix, 0, FILE_PREFIX_BYTES, 0) !== FILE_PREFIX_BYTES) return undefined;
    const headerBytes = prefix.readUInt32LE(12);
    if (headerBytes > LOG_HEADER_BYTES_MAX) return undefined;
    let at = FILE_PREFIX_BYTES + headerBytes;
    let last: { at: number; bytes: number } | undefined;
    const framePrefix = Buffer.alloc(FRAME_PREFIX_BYTES);
    for (let frames = 0; at + FRAME_PREFIX_BYTES <= size; frames++) {
      if (frames >= LOG_END_FRAMES_WALKED_MAX) return undefined;
      if (readSync(fd, framePrefix, 0, FRAME_PREFIX_BYTES, at) !== FRAME_PREFIX_BYTES) return undefined;
      const bytes = framePrefix.readUInt32LE(0);
      if (bytes > LOG_FRAME_BYTES_MAX || at + FRAME_PREFIX_BYTES + bytes > size) break;
      last = { at: at + FRAME_PREFIX_BYTES, bytes };
      at += FRAME_PREFIX_BYTES + bytes;
    }
    if (!last) return undefined;
    const payload = Buffer.alloc(last.bytes);
    if (readSync(fd, payload, 0, last.bytes, last.at) !== last.bytes) return undefined;
    const events: unknown = packr.unpack(payload);
    if (!Array.isArray(events) || events.length === 0) return undefined;
    const tail: unknown = events[events.length - 1];
    const icount = Array.isArray(tail) ? tail[1] : undefined;
    return Number.isSafeInteger(icount) && (icount as number) >= 0 ? (icount as number) : undefined;
  } catch {
    // A display hint only: the replay reads the same file strictly and says what is wrong.
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
