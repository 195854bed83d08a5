// Which memory words an interval of the history changed. Replay runs on a machine that
// flags every word a store changes (Machine.changed); when the debugger takes a
// checkpoint it packs the flags of the interval that ends there into a summary, one bit
// per word of each page that changed. A memory search (last-change, history, when,
// watchpoints) then skips every interval whose summary shows none of its words changed.
//
// This is exact where a comparison of the values at an interval's two ends is not: a
// word that changes and changes back within an interval has its flag set all the same.
// The flags count value changes, not writes, so a word that is stored to constantly but
// keeps its value (or whose neighbours on the page are written) costs no re-execution.
import { PAGE_SHIFT } from "../vm/machine.js";

/** Words per page, and 32-bit bitmap words per page in a summary. */
export const PAGE_WORDS = 1 << (PAGE_SHIFT - 2);
const PAGE_BITMAP_WORDS = PAGE_WORDS / 32;
/** What a summary costs besides its bitmaps (the two arrays' headers), for the snapshot budget. */
const SUMMARY_FIXED_BYTES = 128;

/** The pages (sorted) that had a changed word, each with a bitmap of which ones. */
export interface ChangeSummary {
  readonly pages: Int32Array;
  /** PAGE_BITMAP_WORDS 32-bit words per page, in the order of `pages`. */
  readonly bits: Uint32Array;
}

export function summaryBytes(s: ChangeSummary | null): number {
  return s ? SUMMARY_FIXED_BYTES + s.pages.byteLength + s.bits.byteLength : 0;
}

/**
 * Packs the change flags `chg` (one byte per word) of `pages` (ascending), plus the words
 * in `extra` (flags already taken out of `chg`, see Timeline.harvest), into a summary;
 * null when nothing changed. Does not clear the flags.
 */
export function packChanges(chg: Uint8Array, pages: readonly number[], extra: ReadonlySet<number>): ChangeSummary | null {
  const flags32 = new Uint32Array(chg.buffer, chg.byteOffset, chg.length >>> 2);
  const extraPages = new Set<number>();
  for (const w of extra) extraPages.add(Math.floor(w / PAGE_WORDS));
  const all = [...new Set([...pages, ...extraPages])].sort((a, b) => a - b);
  const kept: number[] = [];
  const maps: Uint32Array[] = [];
  for (const p of all) {
    // Most written pages of a busy guest change some word; a quick 4-words-at-a-time test skips the others.
    const base = p * PAGE_WORDS;
    let any = extraPages.has(p);
    for (let i = base >>> 2, end = (base + PAGE_WORDS) >>> 2; !any && i < end; i++) if (flags32[i] !== 0) any = true;
    if (!any) continue;
    const map = new Uint32Array(PAGE_BITMAP_WORDS);
    for (let i = 0; i < PAGE_WORDS; i++) if (chg[base + i] !== 0 || extra.has(base + i)) map[i >>> 5] |= 1 << (i & 31);
    kept.push(p);
    maps.push(map);
  }
  if (kept.length === 0) return null;
  const bits = new Uint32Array(kept.length * PAGE_BITMAP_WORDS);
  maps.forEach((m, i) => bits.set(m, i * PAGE_BITMAP_WORDS));
  return { pages: Int32Array.from(kept), bits };
}

/** The summary of two adjacent intervals taken as one (the union of their changes). */
export function mergeChanges(a: ChangeSummary | null, b: ChangeSummary | null): ChangeSummary | null {
  if (!a) return b;
  if (!b) return a;
  const pages: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.pages.length || j < b.pages.length) {
    const pa = i < a.pages.length ? a.pages[i] : Infinity;
    const pb = j < b.pages.length ? b.pages[j] : Infinity;
    pages.push(Math.min(pa, pb));
    if (pa <= pb) i++;
    if (pb <= pa) j++;
  }
  const bits = new Uint32Array(pages.length * PAGE_BITMAP_WORDS);
  for (const s of [a, b]) {
    let k = 0;
    for (let n = 0; n < s.pages.length; n++) {
      while (pages[k] !== s.pages[n]) k++;
      for (let x = 0; x < PAGE_BITMAP_WORDS; x++) bits[k * PAGE_BITMAP_WORDS + x] |= s.bits[n * PAGE_BITMAP_WORDS + x];
    }
  }
  return { pages: Int32Array.from(pages), bits };
}

/** Whether the summary shows a change of any of `words` (word indices). */
export function changedAny(s: ChangeSummary | null, words: readonly number[]): boolean {
  if (!s) return false;
  let lastPage = -1;
  let at = -1;
  for (const w of words) {
    const p = Math.floor(w / PAGE_WORDS);
    if (p !== lastPage) {
      lastPage = p;
      at = indexOf(s.pages, p);
    }
    if (at < 0) continue;
    const i = w - p * PAGE_WORDS;
    if ((s.bits[at * PAGE_BITMAP_WORDS + (i >>> 5)] >>> (i & 31)) & 1) return true;
  }
  return false;
}

function indexOf(sorted: Int32Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === x ? lo : -1;
}
