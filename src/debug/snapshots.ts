// Checkpoints of a replay, so the debugger can go back in time by restoring the nearest
// earlier checkpoint and re-executing forward from it.
//
// A checkpoint holds the small state (registers, flags, devices, the log position) in
// full, but of memory only the pages written since the previous checkpoint: each such
// page is a *version* owned by the checkpoint. The memory at checkpoint c is, page by
// page, the newest version owned by a checkpoint at or before c. The first checkpoint
// (icount 0) owns a version of every page, so every page always has one; all-zero pages
// are stored as null and cost nothing.
//
// Each checkpoint also holds a summary of the words the interval ending there changed
// (changes.ts), so memory searches skip intervals; it is counted in the budget, and
// merged into the next checkpoint's when its checkpoint is removed.
//
// The store is bounded by snapshotBytesMax. When a new checkpoint pushes it over, it
// thins: it removes the checkpoint whose removal leaves the smallest gap between its
// neighbours (so spacing grows evenly, far from the current position first), handing the
// removed checkpoint's page versions to the next checkpoint where that one has none of
// its own (the next checkpoint's memory is unchanged) and freeing the rest.
import type { DevicesState } from "../devices/bus.js";
import type { ChangeSummary } from "./changes.js";
import { mergeChanges, summaryBytes } from "./changes.js";
import type { Trap } from "../vm/trap.js";

/** Instructions between checkpoints: a reverse step re-executes at most this many (until thinning). */
export const SNAPSHOT_INTERVAL_ICOUNT_DEFAULT = 250_000;
/**
 * The default budget for all checkpoints together. Guest memory is 1 MiB by default, so
 * even a guest that rewrites all of it between checkpoints keeps about 250 of them (a
 * reverse step then re-executes under 1% of a 25-million-instruction run); typical guests
 * write a few pages per interval and keep thousands. It is small next to a developer
 * machine's memory and stays outside the V8 heap (page copies are typed arrays).
 */
export const SNAPSHOT_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
/** What a checkpoint costs besides its pages: registers, vectors, bookkeeping. */
const CHECKPOINT_FIXED_BYTES = 512;

/** One stored copy of a page; `bytes` null means all zero. Immutable once made. */
export interface PageVersion {
  /** The icount of the checkpoint that owns it. */
  owner: number;
  readonly bytes: Uint8Array | null;
}

export interface CpuState {
  regs: Int32Array;
  pc: number;
  ie: boolean;
  eiShadowIcount: number;
  waiting: boolean;
  halted: boolean;
  trap: Trap | null;
  vectors: Int32Array;
}

export interface Checkpoint {
  icount: number;
  cpu: CpuState;
  devices: DevicesState;
  /** Replay position: index of the next event, the last lsn consumed, the last virtual time seen. */
  cursor: number;
  lastLsn: number;
  lastUs: number;
  /** Page versions this checkpoint owns: the pages written since the previous checkpoint. */
  pages: Map<number, PageVersion>;
  /** The words whose value changed since the previous checkpoint (changes.ts); null: none. */
  changes: ChangeSummary | null;
  /** Bytes counted for everything but the pages. */
  fixedBytes: number;
}

export interface SnapshotOptions {
  intervalIcount?: number;
  bytesMax?: number;
}

export class SnapshotStore {
  readonly intervalIcount: number;
  readonly bytesMax: number;
  /** In icount order; checkpoints[0] is at icount 0 and is never removed. */
  readonly checkpoints: Checkpoint[] = [];
  /** Per page, its versions in owner order. */
  private readonly history: PageVersion[][];
  /** Bytes held now (pages + fixed parts). */
  bytes = 0;
  /** The most bytes ever held right after a checkpoint was added and the budget enforced. */
  peakBytes = 0;
  /** Checkpoints removed to stay within the budget. */
  removed = 0;

  constructor(
    readonly pageCount: number,
    readonly pageBytes: number,
    opts: SnapshotOptions = {},
  ) {
    this.intervalIcount = opts.intervalIcount ?? SNAPSHOT_INTERVAL_ICOUNT_DEFAULT;
    this.bytesMax = opts.bytesMax ?? SNAPSHOT_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.intervalIcount) || this.intervalIcount < 1) throw new RangeError(`snapshot interval must be a positive integer, got ${this.intervalIcount}`);
    if (!(this.bytesMax >= 0)) throw new RangeError(`snapshot budget must be a non-negative number of bytes, got ${this.bytesMax}`);
    this.history = Array.from({ length: pageCount }, () => []);
  }

  get last(): Checkpoint | undefined {
    return this.checkpoints[this.checkpoints.length - 1];
  }

  /** Index of the newest checkpoint at or before `icount` (-1 when none). */
  indexAtOrBefore(icount: number): number {
    const cps = this.checkpoints;
    let lo = 0;
    let hi = cps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cps[mid].icount <= icount) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The checkpoint exactly at `icount`, if there is one. */
  at(icount: number): Checkpoint | undefined {
    const i = this.indexAtOrBefore(icount);
    return i >= 0 && this.checkpoints[i].icount === icount ? this.checkpoints[i] : undefined;
  }

  /** The icount of the first checkpoint after `icount` (Infinity when none). */
  nextAfter(icount: number): number {
    const i = this.indexAtOrBefore(icount) + 1;
    return i < this.checkpoints.length ? this.checkpoints[i].icount : Infinity;
  }

  /** The version of `page` in the memory of the checkpoint at `icount` (which must exist). */
  versionAt(page: number, icount: number): PageVersion {
    const h = this.history[page];
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (h[mid].owner <= icount) lo = mid + 1;
      else hi = mid;
    }
    return h[lo - 1];
  }

  /** How many versions a page has (1 means it never changed after the first checkpoint). */
  versions(page: number): number {
    return this.history[page].length;
  }

  /**
   * Adds a checkpoint after the last one, owning `pages` (page index → copy, null for all
   * zero), then thins to the budget, sparing the checkpoint nearest before `protectIcount`.
   * Returns the versions made, by page (the caller's memory now matches them).
   */
  add(cp: Omit<Checkpoint, "pages" | "fixedBytes">, pages: Iterable<[number, Uint8Array | null]>, protectIcount: number): Map<number, PageVersion> {
    const last = this.last;
    if (last && cp.icount <= last.icount) throw new Error(`snapshots: checkpoint at icount ${cp.icount} is not after the last one (${last.icount})`);
    if (!last && cp.icount !== 0) throw new Error(`snapshots: the first checkpoint must be at icount 0, got ${cp.icount}`);
    const made = new Map<number, PageVersion>();
    for (const [p, bytes] of pages) {
      const v: PageVersion = { owner: cp.icount, bytes };
      made.set(p, v);
      this.history[p].push(v);
      this.bytes += bytes ? bytes.length : 0;
    }
    const fixedBytes = CHECKPOINT_FIXED_BYTES + estimateBytes(cp.devices);
    this.checkpoints.push({ ...cp, pages: made, fixedBytes });
    this.bytes += fixedBytes + summaryBytes(cp.changes);
    this.enforce(protectIcount);
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    return made;
  }

  /**
   * Instructions from the last checkpoint to the next one to take: the configured
   * interval, or once the budget has forced thinning, the smallest gap left between
   * checkpoints (taking them closer would only copy pages the next thinning drops).
   */
  creationInterval(): number {
    if (this.removed === 0) return this.intervalIcount;
    const cps = this.checkpoints;
    let gap = Infinity;
    for (let i = 1; i < cps.length; i++) gap = Math.min(gap, cps[i].icount - cps[i - 1].icount);
    return Math.max(this.intervalIcount, gap === Infinity ? this.intervalIcount : gap);
  }

  /** Removes checkpoints until the store fits its budget (or only the first is left). */
  enforce(protectIcount: number): void {
    while (this.bytes > this.bytesMax && this.checkpoints.length > 1) {
      const victim = this.pickVictim(protectIcount);
      this.removeAt(victim);
    }
  }

  private pickVictim(protectIcount: number): number {
    const cps = this.checkpoints;
    const protect = this.indexAtOrBefore(protectIcount);
    let best = -1;
    let bestGap = Infinity;
    let bestDistance = -1;
    // The last checkpoint goes only when nothing else can: replay extends the history from it.
    for (let i = 1; i < cps.length - 1; i++) {
      if (i === protect) continue;
      const gap = cps[i + 1].icount - cps[i - 1].icount;
      const distance = Math.abs(cps[i].icount - protectIcount);
      if (gap < bestGap || (gap === bestGap && distance > bestDistance)) {
        best = i;
        bestGap = gap;
        bestDistance = distance;
      }
    }
    if (best < 0) best = cps.length - 1 !== protect || cps.length === 2 ? cps.length - 1 : cps.length - 2;
    return best;
  }

  private removeAt(i: number): void {
    if (i <= 0) throw new Error("snapshots: the first checkpoint is never removed");
    const cps = this.checkpoints;
    const c = cps[i];
    const next = cps[i + 1];
    for (const [p, v] of c.pages) {
      if (next && !next.pages.has(p)) {
        // The next checkpoint's memory holds this very version: it becomes its owner.
        v.owner = next.icount;
        next.pages.set(p, v);
      } else {
        const h = this.history[p];
        h.splice(h.indexOf(v), 1);
        this.bytes -= v.bytes ? v.bytes.length : 0;
      }
    }
    this.bytes -= c.fixedBytes + summaryBytes(c.changes);
    if (next) {
      // The next interval now starts where the removed one did: it changed what either did.
      this.bytes -= summaryBytes(next.changes);
      next.changes = mergeChanges(c.changes, next.changes);
      this.bytes += summaryBytes(next.changes);
    }
    cps.splice(i, 1);
    this.removed++;
  }
}

/** A rough byte count of a plain value (typed arrays by length, other leaves at 8 bytes). */
export function estimateBytes(x: unknown): number {
  if (x === null || x === undefined) return 8;
  if (ArrayBuffer.isView(x)) return x.byteLength + 16;
  if (typeof x === "string") return 16 + x.length * 2;
  if (typeof x !== "object") return 8;
  let n = 16;
  for (const v of Array.isArray(x) ? x : Object.values(x as object)) n += estimateBytes(v);
  return n;
}
