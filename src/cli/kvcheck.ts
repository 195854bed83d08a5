// `ftvm disk check`: verifies an image written by programs/kvlog.s. Its layout is defined
// there: block 0 a header (magic, version, block size, committed count C, checksum),
// record i in block 1 + i (magic, i, key, value length, value words, checksum in the
// last word). An image is good when the header is intact (or block 0 is empty), every
// record below C is valid, and the valid records form a prefix: past the prefix, a valid
// record may only appear within KVLOG_WINDOW records of its end: kvlog starts record i
// only when i < committed + KVLOG_WINDOW, so the writes in flight when a run stopped (or
// was killed) all lie within that window of the first one missing, never further on.
import { DISK_REQUESTS_MAX } from "../devices/disk.js";
import type { DiskGeometry } from "../devices/disk.js";
import { readDiskBlocks, readDiskGeometry } from "../host/disk.js";

export const KVLOG_MAGIC = 0x474c564b;
export const KVLOG_RECORD_MAGIC = 0x4352564b;
export const KVLOG_VERSION = 1;
/** Record writes kvlog keeps in flight at most (WINDOW in programs/kvlog.s). */
export const KVLOG_WINDOW = DISK_REQUESTS_MAX - 1;
/** Blocks read at a time while scanning. */
const SCAN_BLOCKS = 256;

/** programs/lib/disk.s disk_cksum: FNV-1a over 32-bit words. */
export function kvChecksum(words: Uint32Array | Int32Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h >>> 0;
}

export interface KvCheckResult {
  geometry: DiskGeometry;
  /** Block 0 held no header (a fresh image). */
  empty: boolean;
  /** The committed count the header carries. */
  committed: number;
  /** Records 0..prefix-1 are all valid. */
  prefix: number;
  /** Valid records after the prefix, within the in-flight window. */
  stray: number[];
  /** What is wrong; empty when the image is good. */
  problems: string[];
}

function words(block: Uint8Array): Uint32Array {
  return new Uint32Array(block.buffer, block.byteOffset, block.byteLength / 4);
}

/** True when block `b` (words w) holds a valid record number `i`. */
function validRecord(w: Uint32Array, i: number): boolean {
  const n = w.length;
  return w[0] === KVLOG_RECORD_MAGIC && w[1] === i && w[3] === (n - 5) * 4 && w[n - 1] === kvChecksum(w, 0, n - 1);
}

export function checkKvImage(path: string): KvCheckResult {
  const g = readDiskGeometry(path);
  const r: KvCheckResult = { geometry: g, empty: false, committed: 0, prefix: 0, stray: [], problems: [] };
  if (g.blockBytes < 64) {
    r.problems.push(`block size ${g.blockBytes} is below kvlog's 64`);
    return r;
  }
  const h = words(readDiskBlocks(path, g, 0, 1));
  if (h.every((x) => x === 0)) r.empty = true;
  else if (h[0] !== KVLOG_MAGIC || h[1] !== KVLOG_VERSION || h[2] !== g.blockBytes || h[4] !== kvChecksum(h, 0, 4)) {
    r.problems.push("block 0 is not a valid kvlog header");
    return r;
  } else r.committed = h[3];
  const records = g.blocks - 1;
  let prefixEnded = false;
  const holes: number[] = [];
  for (let at = 0; at < records; at += SCAN_BLOCKS) {
    const n = Math.min(SCAN_BLOCKS, records - at);
    const bytes = readDiskBlocks(path, g, 1 + at, n);
    for (let k = 0; k < n; k++) {
      const i = at + k;
      const ok = validRecord(words(bytes.subarray(k * g.blockBytes, (k + 1) * g.blockBytes)), i);
      if (!prefixEnded && ok) r.prefix = i + 1;
      else if (!ok) prefixEnded = true;
      else if (i < r.prefix + KVLOG_WINDOW) r.stray.push(i);
      else holes.push(i);
    }
  }
  if (r.committed > r.prefix) r.problems.push(`the header commits ${r.committed} records but only ${r.prefix} form a valid prefix (record ${r.prefix} is missing or corrupt)`);
  if (holes.length > 0)
    r.problems.push(`${holes.length} valid records lie too far past record ${r.prefix}, which is not valid, to have been in flight with it (record ${holes[0]} is the first): a hole in the log`);
  return r;
}
