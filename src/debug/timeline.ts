// The debugger's replay engine: one machine replaying a decoded log, able to stand at any
// *position* of the recorded history and to move to any other, forwards or backwards.
//
// Position N means: N instructions have retired and every asynchronous event (and mark)
// the log delivers at icount N has been delivered; instruction N is next. Synchronous
// inputs (TIME, RAND, HOSTID) logged at N belong to instruction N itself. Positions run
// from 0 to endIcount (the END mark, the last event of a cut-off log, or where replay
// diverged from the log).
//
// Going back restores the newest checkpoint at or before the target (snapshots.ts) and
// re-executes forward. Checkpoints are taken every intervalIcount instructions the first
// time replay passes there; pages are tracked with the machine's dirty flags, folded into
// the debugger's own bitmaps (`written`: since the checkpoint memory was last known to
// match; `digestDirty`: what memDigest must rehash), because memDigest clears them.
// The machine also flags every word whose value a store changes (Machine.changed); each
// new checkpoint keeps those flags of its interval as a summary (changes.ts) and clears
// them, and so do passing or restoring a checkpoint (their interval is summarized).
//
// Searches (continue, watchpoints, last-change, when, finish) watch execution through an
// Observer. To run at full speed between the instructions that matter, those get software
// breakpoints (probes.ts); when they are most instructions, the debugger single-steps.
import { SP } from "../../isa/table.js";
import { Bus } from "../devices/bus.js";
import type { EndMark, Event } from "../devices/events.js";
import { ASYNC_KINDS, EV, MARK_KINDS, SYNC_KINDS, kindName } from "../devices/events.js";
import { DivergenceError, ReplayEnv } from "../replay/replay.js";
import type { World } from "../replay/world.js";
import { compiledEngine } from "../vm/compile.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import { interpret } from "../vm/interp.js";
import { OutputLog } from "./outputlog.js";
import { PAGE_WORDS, packChanges } from "./changes.js";
import { Probes } from "./probes.js";
import { Machine, PAGE_BYTES, PAGE_SHIFT, type RunResult } from "../vm/machine.js";
import type { DebugLog } from "./log.js";
import type { Checkpoint, PageVersion } from "./snapshots.js";
import { SnapshotStore } from "./snapshots.js";
import { setCpuState } from "../vm/snapshot.js";

/** After this many probe hits in a run, the debugger considers single-stepping instead (see loop). */
const DENSE_SWITCH_HITS = 64;
/** Single-step when probes hit more often than once per this many instructions. */
const DENSE_INSTRUCTIONS_PER_HIT = 48;
/** Long runs hand control back this often, so a terminal can deliver Ctrl-C. */
export const YIELD_INTERVAL_ICOUNT = 1 << 22;

export class DebugError extends Error {}

/**
 * Watches execution during a run. Callbacks return true to stop: `before` at that
 * position (the instruction has not run), `after` at the next position (once its events
 * are delivered), `delivered` and `at` at that position.
 */
export interface Observer {
  /** Instructions to see: their addresses, or "all" to see every instruction (single-stepping). */
  readonly pcs: ReadonlySet<number> | "all";
  /** Position `icount`, about to execute the instruction at `pc`. */
  before?(icount: number, pc: number): boolean;
  /**
   * The instruction at `pc` that ran from position `icount` retired. Events due at
   * icount + 1 are not delivered yet; `eventsFollow` says whether there are any.
   */
  after?(icount: number, pc: number, eventsFollow: boolean): boolean;
  /** Events and marks were delivered at position `icount`; `entered` counts interrupts taken. */
  delivered?(icount: number, events: readonly Event[], entered: number): boolean;
  /** The next position after `icount` the observer wants to see through at() (Infinity: none). */
  nextIcount?(icount: number): number;
  at?(icount: number): boolean;
}

export type RunOutcome = "reached" | "stopped" | "end" | "interrupted";

export interface TimelineOptions {
  snapshotIntervalIcount?: number;
  snapshotBytesMax?: number;
  /** Use the reference interpreter instead of the compiled engine. */
  interpret?: boolean;
  /** Called every YIELD_INTERVAL_ICOUNT instructions of a long run (a terminal awaits a macrotask here). */
  yieldHook?: () => Promise<void>;
}

export class Timeline {
  readonly machine: Machine;
  readonly bus: Bus;
  readonly env: ReplayEnv;
  readonly store: SnapshotStore;
  /** Index of the next event to consume. */
  cursor = 0;
  /** The last position of the history (shrinks if replay diverges). */
  endIcount: number;
  endReason: string;
  /** Set when replay left the log: where and why. */
  divergence: { icount: number; message: string } | undefined;
  /** The furthest position replay has reached. */
  maxReached = 0;
  /** Set by interrupt(); a run stops at its next yield and clears it. */
  private interruptRequested = false;
  readonly yieldHook: (() => Promise<void>) | undefined;

  private readonly pageCount: number;
  private readonly written: Uint8Array;
  private readonly digestDirty: Uint8Array;
  private readonly loaded: (PageVersion | undefined)[];
  /** The machine's change flags, one per word (Machine.changed). */
  private readonly changed: Uint8Array;
  /** While changeSpans runs: the words it watches, and whether one changed since it last looked. */
  private spanWords: readonly number[] | undefined;
  private spanHit = false;
  /** Change flags changeSpans took out of `changed` since the last checkpoint: the next checkpoint's summary includes them. */
  private readonly harvested = new Set<number>();
  /** Instructions from the last checkpoint to the next one to take (grows once the budget thins them). */
  private nextInterval: number;
  /** The checkpoint `written` is relative to (-1: none, e.g. after it was thinned away). */
  private syncedAt = -1;
  private readonly probes: Probes;
  /** Console output, for the `output` command. */
  private readonly outputLog = new OutputLog();

  constructor(
    readonly log: DebugLog,
    opts: TimelineOptions = {},
  ) {
    const h = log.header;
    const m = new Machine(log.image, { memBytes: h.memBytes, stackBytes: h.stackBytes, trackChanges: true });
    this.machine = m;
    const engine = opts.interpret ? interpret : compiledEngine();
    m.engine = engine;
    this.probes = new Probes(m, engine, !!opts.interpret);
    this.bus = new Bus(m, undefined as never, { disk: h.disk ?? undefined });
    // A log recorded with --unlogged-rand lacks RAND values. The debugger must see the same
    // values every time it re-executes an instruction, so they are a function of the icount.
    const world: World | undefined = h.unloggedRand ? { hostId: 0, nowUs: () => 0, random32: () => mixIcount(m.icount) } : undefined;
    const source = { peek: () => log.events[this.cursor], take: () => void this.cursor++ };
    this.env = new ReplayEnv(this.bus, source, { unloggedRand: h.unloggedRand, world });
    this.bus.env = this.env;
    this.endIcount = log.endIcount;
    this.endReason = log.endReason;
    this.yieldHook = opts.yieldHook;
    this.pageCount = m.memBytes >>> PAGE_SHIFT;
    this.store = new SnapshotStore(this.pageCount, PAGE_BYTES, { intervalIcount: opts.snapshotIntervalIcount, bytesMax: opts.snapshotBytesMax });
    this.nextInterval = this.store.intervalIcount;
    this.written = new Uint8Array(this.pageCount);
    this.digestDirty = new Uint8Array(this.pageCount).fill(1);
    this.loaded = new Array(this.pageCount).fill(undefined);
    this.changed = m.changed!;
    try {
      this.arrive(undefined);
    } catch (e) {
      this.diverge(e);
    }
    this.checkpointHere();
  }

  get icount(): number {
    return this.machine.icount;
  }

  /** Asks a running search or run to stop at its next yield point (Ctrl-C). */
  interrupt(): void {
    this.interruptRequested = true;
  }

  /** Moves to position `target` (0 ≤ target ≤ endIcount). */
  async goto(target: number): Promise<RunOutcome> {
    if (!Number.isSafeInteger(target) || target < 0) throw new DebugError(`icount ${target} is not a position (0 .. ${this.endIcount})`);
    if (target > this.endIcount) throw new DebugError(`icount ${target} is past the end of the history (${this.endIcount}: ${this.endReason})`);
    const here = this.machine.icount;
    if (target === here) return "reached";
    const cp = this.store.checkpoints[this.store.indexAtOrBefore(target)];
    if (target < here || cp.icount > here) this.restore(cp);
    return this.run(target);
  }

  /**
   * Runs forward from the current position to `limit` (clamped to the end), telling
   * `obs` what it asked for; stops early when it returns true.
   */
  async run(limit: number, obs?: Observer): Promise<RunOutcome> {
    this.interruptRequested = false;
    const all = obs?.pcs === "all";
    this.probes.set(obs && !all ? (obs.pcs as ReadonlySet<number>) : EMPTY_SET);
    try {
      return await this.loop(limit, obs, all);
    } finally {
      this.probes.set(EMPTY_SET);
    }
  }

  private async loop(limit: number, obs: Observer | undefined, all: boolean): Promise<RunOutcome> {
    const m = this.machine;
    let sinceYield = 0;
    // Dense mode single-steps with the interpreter, checking a mask of watched pcs: when
    // most instructions are watched that beats leaving the compiled engine at each one.
    let dense = all;
    let mask: Uint8Array | undefined;
    let probeHits = 0;
    let ran = 0;
    for (;;) {
      if (limit > this.endIcount) limit = this.endIcount;
      const here = m.icount;
      if (here >= limit) return here >= this.endIcount ? "end" : "reached";
      if (m.halted || m.trap || m.waiting) {
        const what = m.halted ? "halted" : m.trap ? `trapped (${m.trap.kind})` : "waits for an interrupt";
        const next = this.log.events[this.cursor];
        this.diverge(new DivergenceError(`the guest ${what} at icount ${here}, but the log goes on${next ? ` (${kindName(next.kind)} at icount ${next.icount})` : ""}`, here));
        return "end";
      }
      // Every position where something must happen (an event, a checkpoint, an icount the
      // observer asked for) is a target, so between targets no bookkeeping is needed.
      const target = Math.min(limit, this.nextStopIcount(), this.nextCheckpointIcount(here), obs?.nextIcount?.(here) ?? Infinity, here + YIELD_INTERVAL_ICOUNT);
      let stopAfter = false;
      let r: RunResult = "continue";
      try {
        if (dense) {
          const d = this.denseRun(target, obs!, all ? undefined : mask);
          if (d === "before") return "stopped";
          if (d === "after") stopAfter = true;
          else r = d;
        } else {
          r = m.run(target);
          if (r === "trapped" && this.probes.hit()) {
            probeHits++;
            m.trap = null;
            const at = m.icount;
            const pc = m.pc;
            // A probe. Events due here were delivered before the run (it would have stopped
            // short of them); observers ignore the position a run starts from themselves.
            if (obs?.before?.(at, pc)) return "stopped";
            r = this.stepOne();
            if (m.icount === at + 1 && obs?.after?.(at, pc, this.nextStopIcount() === m.icount)) stopAfter = true;
          }
        }
        this.drainOutput();
        if (m.icount > this.maxReached) this.maxReached = m.icount;
        if ((m.icount === target || r !== "continue") && this.arrive(obs)) stopAfter = true;
      } catch (e) {
        this.diverge(e);
        return "end";
      }
      if (stopAfter) return "stopped";
      ran += m.icount - here;
      if (!dense && obs && probeHits >= DENSE_SWITCH_HITS && ran < probeHits * DENSE_INSTRUCTIONS_PER_HIT) {
        mask = new Uint8Array(m.codeLength + 1);
        for (const pc of obs.pcs as ReadonlySet<number>) if (pc >= 0 && pc < m.codeLength) mask[pc] = 1;
        this.probes.set(EMPTY_SET);
        dense = true;
      }
      sinceYield += m.icount - here;
      if (sinceYield >= (dense ? YIELD_INTERVAL_ICOUNT >>> 4 : YIELD_INTERVAL_ICOUNT)) {
        sinceYield = 0;
        if (this.yieldHook) await this.yieldHook();
        if (this.interruptRequested) {
          this.interruptRequested = false;
          return "interrupted";
        }
      }
    }
  }

  /**
   * Single-steps to `target` with the interpreter, showing the observer the instructions
   * `mask` marks (all of them without a mask). Returns "before" or "after" when it asked
   * to stop, else how the last instruction ended.
   */
  private denseRun(target: number, obs: Observer, mask: Uint8Array | undefined): "before" | "after" | RunResult {
    const m = this.machine;
    let r: RunResult = "continue";
    let n = 0;
    while (m.icount < target) {
      const ic = m.icount;
      const pc = m.pc;
      const watched = mask === undefined || mask[pc] === 1;
      if (watched && obs.before?.(ic, pc)) return "before";
      r = interpret(m, ic + 1);
      if (watched && m.icount === ic + 1 && obs.after?.(ic, pc, this.nextStopIcount() === m.icount)) return "after";
      if (r !== "continue") return r;
      // The console stops the machine when its buffer fills; stepping must drain it too.
      if ((++n & 4095) === 0) this.drainOutput();
    }
    return r;
  }

  /** Executes the one instruction at pc, its real opcode restored if a probe covers it. */
  stepOne(): RunResult {
    return this.probes.stepOne();
  }

  /** The icount of the next event replay must stop for (Infinity when none). */
  private nextStopIcount(): number {
    const i = this.log.nextStop[Math.min(this.cursor, this.log.events.length)];
    const ev = this.log.events[i];
    return ev ? ev.icount : Infinity;
  }

  private nextCheckpointIcount(here: number): number {
    const last = this.store.last;
    const fresh = last && this.syncedAt === last.icount ? last.icount + this.nextInterval : Infinity;
    return Math.min(this.store.nextAfter(here), fresh > here ? fresh : Infinity);
  }

  /**
   * Handles the current icount as a position: delivers the events and marks logged here,
   * takes or passes a checkpoint, and reports to the observer. Returns true to stop.
   */
  private arrive(obs: Observer | undefined): boolean {
    const m = this.machine;
    const q = m.icount;
    const events = this.log.events;
    let delivered: Event[] | undefined;
    let entered = 0;
    while (this.cursor < events.length) {
      const ev = events[this.cursor];
      if (ev.icount > q) break;
      if (ev.icount < q) {
        if (SYNC_KINDS.has(ev.kind))
          throw new DivergenceError(`expected the instruction at icount ${ev.icount} to read ${kindName(ev.kind)}, got an instruction that read nothing`, ev.icount);
        throw new DivergenceError(`expected ${kindName(ev.kind)} at icount ${ev.icount}, but execution is already at icount ${q}`, q);
      }
      if (SYNC_KINDS.has(ev.kind)) break;
      if (ASYNC_KINDS.has(ev.kind)) {
        if (!this.bus.canDeliver(ev.kind))
          throw new DivergenceError(`expected ${kindName(ev.kind)} deliverable at icount ${q}, got interrupts disabled or a stopped guest`, q);
        this.env.consume(ev);
        if (ev.kind === EV.TIMER && typeof ev.data === "number") this.env.lastUs = Math.max(this.env.lastUs, ev.data);
        const sp = m.regs[SP];
        try {
          this.bus.deliver(ev.kind, ev.data);
        } catch (e) {
          if (e instanceof DivergenceError) throw e;
          throw new DivergenceError(`${kindName(ev.kind)} (lsn ${ev.lsn}) at icount ${q} does not fit the guest's devices: ${(e as Error).message}`, q);
        }
        if (m.regs[SP] !== sp) entered++;
      } else if (ev.kind === EV.PROGRESS) {
        this.env.consume(ev);
      } else if (MARK_KINDS.has(ev.kind)) {
        this.checkMark(ev);
        this.env.consume(ev);
      } else {
        throw new DivergenceError(`unknown event ${kindName(ev.kind)} (lsn ${ev.lsn}) at icount ${q}`, q);
      }
      (delivered ??= []).push(ev);
    }
    if (q > this.maxReached) this.maxReached = q;
    const last = this.store.last;
    if (this.store.at(q)) this.passCheckpoint(q);
    else if (last && this.syncedAt === last.icount && q === this.syncedAt + this.nextInterval) this.checkpointHere();
    let stop = false;
    if (delivered && obs?.delivered?.(q, delivered, entered)) stop = true;
    if (obs?.at && obs.nextIcount && obs.nextIcount(q - 1) === q && obs.at(q)) stop = true;
    return stop;
  }

  private checkMark(ev: Event): void {
    const m = this.machine;
    const mark = ev.data as EndMark;
    const regs = regsDigest(m);
    if (mark.regs !== regs) throw new DivergenceError(`expected register digest ${mark.regs}, got ${regs} at icount ${ev.icount}`, ev.icount);
    const mem = this.memDigest();
    if (mark.mem !== mem) throw new DivergenceError(`expected memory digest ${mark.mem}, got ${mem} at icount ${ev.icount}`, ev.icount);
    if (ev.kind === EV.END && mark.trap) {
      if (!m.trap) this.stepOne();
      if (m.trap?.kind !== mark.trap.kind || m.trap.pc !== mark.trap.pc)
        throw new DivergenceError(`expected trap ${mark.trap.kind} at pc ${mark.trap.pc}, got ${m.trap ? `trap ${m.trap.kind} at pc ${m.trap.pc}` : "no trap"} at icount ${ev.icount}`, ev.icount);
    }
  }

  private diverge(e: unknown): void {
    if (!(e instanceof DivergenceError)) throw e;
    const at = this.machine.icount;
    if (at <= this.endIcount) {
      this.endIcount = at;
      this.endReason = `replay diverged from the log: ${e.message}`;
      this.divergence = { icount: at, message: e.message };
    }
  }

  /** The memory digest (as in marks and traces), without losing the dirty pages snapshots need. */
  memDigest(): string {
    const m = this.machine;
    this.fold();
    m.dirty.set(this.digestDirty);
    const d = memDigest(m);
    this.digestDirty.fill(0);
    return d;
  }

  /** Moves the machine's dirty flags into the debugger's own bitmaps. */
  private fold(): void {
    const d = this.machine.dirty;
    const w = this.written;
    const g = this.digestDirty;
    for (let p = 0; p < d.length; p++) {
      if (d[p]) {
        w[p] = 1;
        g[p] = 1;
        d[p] = 0;
      }
    }
  }

  /**
   * Runs from the current position to `hi` at full speed, in spans of `spanIcount`
   * instructions, and returns the start of every span in which the value of one of
   * `words` (word indices) changed, by an instruction or an event. A search for changes
   * of memory then only needs to look closely at those spans (for a search within a word,
   * a span may turn out to have changed only other bytes of it).
   */
  async changeSpans(hi: number, words: readonly number[], spanIcount: number): Promise<number[] | "interrupted"> {
    const out: number[] = [];
    this.spanWords = words;
    this.harvest();
    this.spanHit = false;
    try {
      while (this.machine.icount < hi) {
        const start = this.machine.icount;
        const r = await this.run(Math.min(hi, start + spanIcount));
        if (r === "interrupted") return "interrupted";
        this.harvest();
        if (this.spanHit) out.push(start);
        this.spanHit = false;
        if (r === "end") break;
      }
      return out;
    } finally {
      this.spanWords = undefined;
    }
  }

  /**
   * For changeSpans: notes whether a watched word changed since it last looked, and takes
   * those flags out of `changed` (keeping them for the next checkpoint's summary). Runs
   * before anything clears the flags, so a span that passes a checkpoint misses nothing.
   */
  private harvest(): void {
    const words = this.spanWords;
    if (!words) return;
    const chg = this.changed;
    // A word outside memory (an expression may name one) reads undefined: never changed.
    for (const w of words) {
      if (chg[w]) {
        chg[w] = 0;
        this.spanHit = true;
        this.harvested.add(w);
      }
    }
  }

  /** Clears the change flags of page `p` (its interval is summarized, or being discarded). */
  private clearChanges(p: number): void {
    this.changed.fill(0, p * PAGE_WORDS, (p + 1) * PAGE_WORDS);
  }

  /** Takes a checkpoint at the current position, owning every page written since the last one. */
  private checkpointHere(): void {
    const m = this.machine;
    this.fold();
    this.harvest();
    const pages: [number, Uint8Array | null][] = [];
    const w = this.written;
    const writtenPages: number[] = [];
    for (let p = 0; p < this.pageCount; p++) if (w[p]) writtenPages.push(p);
    // Only written pages can hold change flags (every store that sets one marks its page).
    const changes = packChanges(this.changed, writtenPages, this.harvested);
    this.harvested.clear();
    for (const p of writtenPages) {
      const start = p << PAGE_SHIFT;
      pages.push([p, isZero(m.mem32, start >>> 2, (start + PAGE_BYTES) >>> 2) ? null : m.mem.slice(start, start + PAGE_BYTES)]);
      w[p] = 0;
      this.clearChanges(p);
    }
    const made = this.store.add(
      {
        icount: m.icount,
        cpu: {
          regs: m.regs.slice(),
          pc: m.pc,
          ie: m.ie,
          eiShadowIcount: m.eiShadowIcount,
          waiting: m.waiting,
          halted: m.halted,
          trap: m.trap ? { ...m.trap } : null,
          vectors: m.vectors.slice(),
        },
        devices: this.bus.getState(),
        cursor: this.cursor,
        lastLsn: this.env.lastLsn,
        lastUs: this.env.lastUs,
        changes,
      },
      pages,
      m.icount,
    );
    for (const [p, v] of made) this.loaded[p] = v;
    this.nextInterval = this.store.creationInterval();
    // If the budget removed the new checkpoint itself, later ones cannot be made from here.
    this.syncedAt = this.store.last!.icount === m.icount ? m.icount : -1;
  }

  /** Forward replay reached an existing checkpoint: memory now equals its pages. */
  private passCheckpoint(q: number): void {
    this.fold();
    this.harvest();
    this.harvested.clear();
    const w = this.written;
    for (let p = 0; p < this.pageCount; p++) {
      if (!w[p]) continue;
      this.loaded[p] = this.store.versionAt(p, q);
      w[p] = 0;
      this.clearChanges(p);
    }
    this.syncedAt = q;
  }

  /** Puts the machine, devices and replay position in the state of checkpoint `cp`. */
  private restore(cp: Checkpoint): void {
    const m = this.machine;
    this.fold();
    this.harvested.clear();
    const w = this.written;
    for (let p = 0; p < this.pageCount; p++) {
      const v = this.store.versions(p) === 1 ? this.store.versionAt(p, 0) : this.store.versionAt(p, cp.icount);
      if (w[p]) this.clearChanges(p);
      if (!w[p] && this.loaded[p] === v) continue;
      const start = p << PAGE_SHIFT;
      if (v.bytes) m.mem.set(v.bytes, start);
      else m.mem.fill(0, start, start + PAGE_BYTES);
      this.loaded[p] = v;
      this.digestDirty[p] = 1;
      w[p] = 0;
    }
    setCpuState(m, cp.cpu, cp.icount);
    this.bus.setState(cp.devices);
    // Requests the disk issued are host bookkeeping; replay has no host to take them.
    this.bus.disk.takeIssued();
    this.bus.nic.drainOutput();
    this.cursor = cp.cursor;
    this.env.lastLsn = cp.lastLsn;
    this.env.lastUs = cp.lastUs;
    this.syncedAt = cp.icount;
  }

  /** Keeps console output for `output`; network output has nowhere to go in replay. */
  private drainOutput(): void {
    const c = this.bus.console;
    const from = c.drainedBytes;
    const out = c.drainOutput();
    this.bus.nic.drainOutput();
    if (out.length > 0) this.outputLog.add(from, out);
  }

  /** Console output up to the current position: the last `maxBytes` bytes, and the stream offset they start at. */
  output(maxBytes: number): { bytes: Uint8Array; from: number; total: number; dropped: boolean } {
    this.drainOutput();
    const total = this.bus.console.drainedBytes;
    const want = Math.max(0, total - maxBytes);
    const { bytes, from } = this.outputLog.slice(want, total);
    return { bytes, from, total, dropped: from > want };
  }
}

const EMPTY_SET: ReadonlySet<number> = new Set();

function isZero(words: Int32Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (words[i] !== 0) return false;
  return true;
}

/** A fixed 32-bit mix of the icount (splitmix-style), standing in for unlogged RAND values. */
function mixIcount(icount: number): number {
  let h = (icount ^ Math.floor(icount / 0x100000000)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
