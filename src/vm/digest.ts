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
 * missing a store.
 *
 * Two kinds of page hash, because the two checks want different things. The state
 * check (stateWord) folds all memory at every progress mark of the FT log, so its page
 * hash runs after every batch on both hosts, over every page stored to since the last
 * one: with the serial hash of hashWords (one multiply-rotate chain, about 2-3 µs per
 * 4 KiB page) it was 17% of an FT primary's CPU and 23% of its backup's under a Redis
 * benchmark (perf, 2026-12-06). `fast` is a hash of four independent chains over the
 * words in turn (2-3 times faster: the chains run side by side in the CPU), and `sum`
 * the sum (mod 2^32) of every page's fast hash, kept up to date as pages are rehashed:
 * a digest of all memory in O(1) once the dirty pages are hashed. `hashes` (two 32-bit
 * hashes per page, for the 64-bit memDigest of traces and END marks, whose values files
 * keep and compare) are brought up to date only when memDigest asks, from `stale`.
 */
interface PageHashes {
  fast: Uint32Array;
  sum: number;
  hashes: Uint32Array;
  /** Pages whose `hashes` are out of date (stored to since memDigest last ran). */
  stale: Uint8Array;
  /**
   * Machine.dirty read four flags at a time: a 16 MiB guest has 4,096 pages, and the
   * state check scans them all at every progress mark to find the few stored to.
   */
  dirty4: Int32Array;
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

/**
 * The state check's page hash: four multiply-rotate chains (hashWords' step), each over
 * every fourth word, finalized and combined with distinct odd multipliers so that equal
 * chains in different lanes do not cancel. `to - from` must be a multiple of 4 (a page is).
 */
export function hashPageFast(words: Int32Array, from: number, to: number, p: number): number {
  let a = p | 0;
  let b = (p ^ 0x5bd1e995) | 0;
  let c = (p ^ 0x27d4eb2f) | 0;
  let d = (p ^ 0x165667b1) | 0;
  for (let i = from; i < to; i += 4) {
    a = Math.imul(a ^ words[i], 0x01000193) + 0x7feb352d;
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b ^ words[i + 1], 0x01000193) + 0x7feb352d;
    b = (b << 13) | (b >>> 19);
    c = Math.imul(c ^ words[i + 2], 0x01000193) + 0x7feb352d;
    c = (c << 13) | (c >>> 19);
    d = Math.imul(d ^ words[i + 3], 0x01000193) + 0x7feb352d;
    d = (d << 13) | (d >>> 19);
  }
  return fmix(fmix(a) ^ Math.imul(fmix(b), 3) ^ Math.imul(fmix(c), 5) ^ Math.imul(fmix(d), 7) ^ (to - from));
}

/** Rehashes (fast) the pages stored to since the last refresh, marks their `hashes` stale and clears their dirty flags. */
export function refreshPageHashes(m: Machine): PageHashes {
  const pages = m.dirty.length;
  let ph = pageHashes.get(m);
  if (!ph) {
    const d = m.dirty;
    ph = { fast: new Uint32Array(pages), sum: 0, hashes: new Uint32Array(pages * 2), stale: new Uint8Array(pages), dirty4: new Int32Array(d.buffer, d.byteOffset, d.byteOffset % 4 === 0 ? pages >>> 2 : 0) };
    pageHashes.set(m, ph);
    m.dirty.fill(1);
  }
  const dirty4 = ph.dirty4;
  let sum = ph.sum;
  for (let q = 0; q < dirty4.length; q++) {
    if (dirty4[q] === 0) continue;
    for (let p = q * 4; p < q * 4 + 4; p++) sum = rehashIfDirty(m, ph, p, sum);
  }
  for (let p = dirty4.length * 4; p < pages; p++) sum = rehashIfDirty(m, ph, p, sum);
  ph.sum = sum;
  return ph;
}

/** Rehashes page p (fast) when it was stored to: returns the running sum updated. */
function rehashIfDirty(m: Machine, ph: PageHashes, p: number, sum: number): number {
  if (!m.dirty[p]) return sum;
  const wordsPerPage = PAGE_BYTES / 4;
  const h = hashPageFast(m.mem32, p * wordsPerPage, (p + 1) * wordsPerPage, p);
  const s = (sum - ph.fast[p] + h) >>> 0;
  ph.fast[p] = h;
  ph.stale[p] = 1;
  m.dirty[p] = 0;
  return s;
}

/** Digest of all data memory (and the interrupt vectors): 16 hex digits. */
export function memDigest(m: Machine): string {
  const ph = refreshPageHashes(m);
  const { hashes, stale } = ph;
  const wordsPerPage = PAGE_BYTES / 4;
  for (let p = 0; p < stale.length; p++) {
    if (!stale[p]) continue;
    hashPage(m.mem32, p * wordsPerPage, (p + 1) * wordsPerPage, p);
    hashes[p * 2] = pair[0];
    hashes[p * 2 + 1] = pair[1];
    stale[p] = 0;
  }
  const all = new Int32Array(hashes.buffer, hashes.byteOffset, hashes.length);
  const h1 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 1));
  const h2 = hashWords(all, 0, all.length, hashWords(m.vectors, 0, m.vectors.length, 2));
  return hex8(h1) + hex8(h2);
}

/**
 * A 32-bit digest of the machine state, cheap enough to take at every logged event:
 * r0..r15, pc, icount, the interrupt flags and the vectors, and, when `withMemory`, all
 * memory as the running sum of the fast page hashes (its cost is the pages stored to since
 * the last refresh; see refreshPageHashes). Not the same value as regsDigest/memDigest:
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
