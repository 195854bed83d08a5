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

/**
 * The hashes of every page, kept per machine and refreshed from Machine.dirty. Two
 * checks share them (trace and mark digests, and the FT backup's per-event state
 * check), so whichever runs first clears the dirty flags for both without either
 * missing a store. `sum` is the sum (mod 2^32) of the first hash of every page, kept up
 * to date as pages are rehashed: a digest of all memory in O(1) once the dirty pages
 * are hashed.
 */
interface PageHashes {
  hashes: Uint32Array;
  sum: number;
}

const pageHashes = new WeakMap<Machine, PageHashes>();
const pair = new Uint32Array(2);

/** Both hashes of one page in one pass: the same values as hashWords with seeds p and p ^ 0x5bd1e995. */
function hashPage(words: Int32Array, from: number, to: number, p: number): void {
  let h1 = p | 0;
  let h2 = (p ^ 0x5bd1e995) | 0;
  for (let i = from; i < to; i++) {
    const w = words[i];
    h1 = Math.imul(h1 ^ w, 0x01000193) + 0x7feb352d;
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 ^ w, 0x01000193) + 0x7feb352d;
    h2 = (h2 << 13) | (h2 >>> 19);
  }
  pair[0] = fmix(h1 ^ (to - from));
  pair[1] = fmix(h2 ^ (to - from));
}

/** Rehashes the pages stored to since the last refresh and clears their dirty flags. */
export function refreshPageHashes(m: Machine): PageHashes {
  const pages = m.dirty.length;
  let ph = pageHashes.get(m);
  if (!ph) {
    ph = { hashes: new Uint32Array(pages * 2), sum: 0 };
    pageHashes.set(m, ph);
    m.dirty.fill(1);
  }
  const hashes = ph.hashes;
  const dirty = m.dirty;
  const wordsPerPage = PAGE_BYTES / 4;
  let sum = ph.sum;
  for (let p = 0; p < pages; p++) {
    if (!dirty[p]) continue;
    hashPage(m.mem32, p * wordsPerPage, (p + 1) * wordsPerPage, p);
    sum = (sum - hashes[p * 2] + pair[0]) >>> 0;
    hashes[p * 2] = pair[0];
    hashes[p * 2 + 1] = pair[1];
    dirty[p] = 0;
  }
  ph.sum = sum;
  return ph;
}

/** Digest of all data memory (and the interrupt vectors): 16 hex digits. */
export function memDigest(m: Machine): string {
  const hashes = refreshPageHashes(m).hashes;
  const all = new Int32Array(hashes.buffer, hashes.byteOffset, hashes.length);
  const h1 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 1));
  const h2 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 2));
  return hex8(h1) + hex8(h2);
}

/**
 * A 32-bit digest of the machine state, cheap enough to take at every logged event:
 * r0..r15, pc, icount, the interrupt flags and the vectors, and, when `withMemory`, all
 * memory as the running sum of page hashes (its cost is the pages stored to since the
 * last refresh; see refreshPageHashes). Not the same value as regsDigest/memDigest:
 * those are 64-bit and for files.
 */
export function stateWord(m: Machine, withMemory: boolean): number {
  const mem = withMemory ? refreshPageHashes(m).sum : 0;
  // A loop, not set(subarray): no allocation at every event.
  const regs = m.regs;
  for (let r = 0; r < REGISTER_COUNT; r++) regScratch[r] = regs[r];
  regScratch[REGISTER_COUNT] = m.pc;
  regScratch[REGISTER_COUNT + 1] = m.icount % 0x100000000;
  regScratch[REGISTER_COUNT + 2] = Math.floor(m.icount / 0x100000000);
  regScratch[REGISTER_COUNT + 3] = (m.ie ? 1 : 0) | (m.waiting ? 2 : 0) | (m.halted ? 4 : 0) | (m.icount === m.eiShadowIcount ? 8 : 0);
  regScratch[REGISTER_COUNT + 4] = mem;
  const h = hashWords(regScratch, 0, regScratch.length, hashWords(m.vectors, 0, m.vectors.length, 3));
  regScratch[REGISTER_COUNT + 4] = 0;
  return h;
}
