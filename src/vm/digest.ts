// Digests of machine state for traces and divergence checks. They are fast, not
// cryptographic: their job is to notice that two executions differ, cheaply enough to
// take at every event. Memory digests reuse the hash of every page no store touched
// since the last digest (Machine.dirty), so a digest costs time in proportion to the
// pages written, not to the memory size.
import { REGISTER_COUNT } from "../../isa/table.js";
import type { Machine } from "./machine.js";
import { PAGE_BYTES } from "./machine.js";

/** Murmur3's finalizer: spreads every input bit over the whole word. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes 32-bit words words[from..to) into one 32-bit value, starting from seed. */
export function hashWords(words: Int32Array, from: number, to: number, seed: number): number {
  let h = seed | 0;
  for (let i = from; i < to; i++) {
    h = Math.imul(h ^ words[i], 0x01000193) + 0x7feb352d;
    h = (h << 13) | (h >>> 19);
  }
  return fmix(h ^ (to - from));
}

function hex8(x: number): string {
  return (x >>> 0).toString(16).padStart(8, "0");
}

const regScratch = new Int32Array(REGISTER_COUNT + 5);

/** Digest of r0..r15, pc, icount, and the interrupt flags: 16 hex digits. */
export function regsDigest(m: Machine): string {
  regScratch.set(m.regs.subarray(0, REGISTER_COUNT));
  regScratch[REGISTER_COUNT] = m.pc;
  regScratch[REGISTER_COUNT + 1] = m.icount % 0x100000000;
  regScratch[REGISTER_COUNT + 2] = Math.floor(m.icount / 0x100000000);
  regScratch[REGISTER_COUNT + 3] = (m.ie ? 1 : 0) | (m.waiting ? 2 : 0) | (m.halted ? 4 : 0) | (m.icount === m.eiShadowIcount ? 8 : 0);
  regScratch[REGISTER_COUNT + 4] = 0;
  return hex8(hashWords(regScratch, 0, regScratch.length, 0x9e3779b9)) + hex8(hashWords(regScratch, 0, regScratch.length, 0x85ebca77));
}

const pageHashes = new WeakMap<Machine, Uint32Array>();

/** Digest of all data memory (and the interrupt vectors): 16 hex digits. */
export function memDigest(m: Machine): string {
  const pages = m.dirty.length;
  let hashes = pageHashes.get(m);
  if (!hashes) {
    hashes = new Uint32Array(pages * 2);
    pageHashes.set(m, hashes);
    m.dirty.fill(1);
  }
  const wordsPerPage = PAGE_BYTES / 4;
  for (let p = 0; p < pages; p++) {
    if (!m.dirty[p]) continue;
    hashes[p * 2] = hashWords(m.mem32, p * wordsPerPage, (p + 1) * wordsPerPage, p);
    hashes[p * 2 + 1] = hashWords(m.mem32, p * wordsPerPage, (p + 1) * wordsPerPage, p ^ 0x5bd1e995);
    m.dirty[p] = 0;
  }
  const all = new Int32Array(hashes.buffer, hashes.byteOffset, hashes.length);
  const h1 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 1));
  const h2 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 2));
  return hex8(h1) + hex8(h2);
}
