// The disk: a block device with asynchronous requests (DMA with bounce buffers). The guest
// describes a request in the parameter registers and starts it with IN DISK_START, which
// returns a slot or refuses the request with a negative status decided here, from guest
// state alone. Started requests are issued to the host (whoever drains takeIssued());
// each completes later as an EV.DISK_DONE event delivered at an instruction boundary the
// live side chooses and logs, and the guest takes completions in delivery order with
// IN DISK_DONE.
//
// Bounce buffers: a write copies its bytes out of guest memory when it starts, so what
// reaches the disk is what memory held at that instruction; a read's bytes travel in
// its completion event and land in guest memory only when that event is delivered. The
// guest never sees a half-done transfer, and replay needs no disk: the log holds every
// byte a read returned.
//
// Ordering rule for IO races: two requests conflict when their block ranges overlap and
// at least one is a write, or when both are reads whose memory ranges overlap. A request
// is issued to the host only when no earlier-started (lower seq) outstanding request
// conflicts with it; otherwise it waits in its slot and is issued when the last such
// request completes. Conflicting requests therefore reach the host one at a time, in
// start order, and complete in that order; which requests wait is a function of the
// sequence of starts and delivered completions, never of host timing.
//
// Re-issue: the device keeps every started request (with its write bytes) until the
// guest takes its completion. issued-but-not-completed requests are enough for a new
// host to issue them again (see setState and takeIssued).
import { CONSTANTS, VEC_DISK } from "../../isa/ports.js";
import type { Machine } from "../vm/machine.js";
import type { Device, DeviceState } from "./device.js";
import { DeviceStateError, checkVersion } from "./device.js";
import { EV } from "./events.js";

function constant(name: string): number {
  const c = CONSTANTS.find((x) => x.name === name);
  if (!c) throw new Error(`isa/ports.ts lacks the constant ${name}`);
  return c.value;
}

export const DISK_READ = constant("DISK_READ");
export const DISK_WRITE = constant("DISK_WRITE");
/** Requests outstanding at once (slots); a start beyond it is refused with DISK_E_FULL. */
export const DISK_REQUESTS_MAX = constant("DISK_REQUESTS_MAX");
/** The most bytes one request moves: bounds each bounce buffer (and each event's data). */
export const DISK_REQUEST_BYTES_MAX = constant("DISK_REQUEST_BYTES_MAX");
export const DISK_STATUS = {
  OK: constant("DISK_OK"),
  E_OP: constant("DISK_E_OP"),
  E_COUNT: constant("DISK_E_COUNT"),
  E_RANGE: constant("DISK_E_RANGE"),
  E_ADDR: constant("DISK_E_ADDR"),
  E_FULL: constant("DISK_E_FULL"),
  E_IO: constant("DISK_E_IO"),
} as const;

export const DISK_BLOCK_BYTES_MIN = 16;
export const DISK_BLOCK_BYTES_MAX = 65536;
/** Blocks are numbered by unsigned 32-bit registers; the top value is kept free for "none". */
export const DISK_BLOCKS_MAX = 0xffffffff;
/** An image larger than this is refused (1 TiB: far beyond any test, still exact in a double). */
export const DISK_BYTES_MAX = 2 ** 40;

export interface DiskGeometry {
  blocks: number;
  blockBytes: number;
}

/** No disk attached: every request is refused with DISK_E_RANGE. */
export const NO_DISK: DiskGeometry = { blocks: 0, blockBytes: 512 };

/** Why a geometry is unusable, or undefined when it is fine. */
export function geometryProblem(g: DiskGeometry): string | undefined {
  if (!g || !Number.isInteger(g.blockBytes) || g.blockBytes < DISK_BLOCK_BYTES_MIN || g.blockBytes > DISK_BLOCK_BYTES_MAX || (g.blockBytes & (g.blockBytes - 1)) !== 0)
    return `block size ${g?.blockBytes} must be a power of two from ${DISK_BLOCK_BYTES_MIN} to ${DISK_BLOCK_BYTES_MAX}`;
  if (!Number.isInteger(g.blocks) || g.blocks < 0 || g.blocks > DISK_BLOCKS_MAX) return `block count ${g.blocks} must be an integer from 0 to ${DISK_BLOCKS_MAX}`;
  if (g.blocks * g.blockBytes > DISK_BYTES_MAX) return `disk size ${g.blocks * g.blockBytes} bytes exceeds ${DISK_BYTES_MAX}`;
  return undefined;
}

/** A started request, as the host sees it: its identity (seq), what to do, and a write's bytes. */
export interface DiskRequest {
  /** Start order since boot: the request's identity across hosts (same on primary and backup). */
  readonly seq: number;
  readonly slot: number;
  readonly op: number;
  readonly block: number;
  readonly count: number;
  readonly addr: number;
  readonly tag: number;
  /** A write's bytes, copied from guest memory at start; undefined for a read. */
  readonly data: Uint8Array | undefined;
}

/** EV.DISK_DONE's data: which request completed, how, and for a read the bytes it returned. */
export interface DiskCompletion {
  slot: number;
  seq: number;
  status: number;
  data?: Uint8Array;
}

type SlotState = "waiting" | "issued" | "done";

interface Slot {
  req: DiskRequest;
  state: SlotState;
  status: number;
}

const STATE_VERSION = 1;

export class Disk implements Device {
  readonly name = "disk";
  readonly kinds = [EV.DISK_DONE];
  readonly geometry: DiskGeometry;
  /** DISK_CTRL: bit 0 raises VEC_DISK at each completion. */
  ctrl = 0;
  /** The parameter registers of the next request. */
  op = 0;
  block = 0;
  count = 0;
  addr = 0;
  tag = 0;
  /** Status and tag of the request DISK_DONE last took. */
  doneStatus = 0;
  doneTag = 0;
  private nextSeq = 1;
  private readonly slots: (Slot | undefined)[] = new Array(DISK_REQUESTS_MAX).fill(undefined);
  /** Completed slots in delivery order, waiting for DISK_DONE. */
  private ready: number[] = [];
  /**
   * Issued requests the host has not taken yet (host-side bookkeeping, not guest state):
   * the live environment drains it and submits each request to its back-end.
   */
  private unsubmitted: DiskRequest[] = [];

  constructor(
    private readonly machine: Machine,
    geometry: DiskGeometry = NO_DISK,
  ) {
    const problem = geometryProblem(geometry);
    if (problem) throw new RangeError(`disk: ${problem}`);
    this.geometry = { blocks: geometry.blocks, blockBytes: geometry.blockBytes };
  }

  /** IN DISK_START: validates the request the registers describe and starts it. */
  start(): number {
    const { blocks, blockBytes } = this.geometry;
    const op = this.op;
    if (op !== DISK_READ && op !== DISK_WRITE) return DISK_STATUS.E_OP;
    const count = this.count >>> 0;
    if (count === 0 || count * blockBytes > DISK_REQUEST_BYTES_MAX) return DISK_STATUS.E_COUNT;
    const block = this.block >>> 0;
    if (block + count > blocks) return DISK_STATUS.E_RANGE;
    const addr = this.addr >>> 0;
    const bytes = count * blockBytes;
    if (addr % 4 !== 0 || addr + bytes > this.machine.memBytes) return DISK_STATUS.E_ADDR;
    const slot = this.slots.indexOf(undefined);
    if (slot < 0) return DISK_STATUS.E_FULL;
    const data = op === DISK_WRITE ? this.machine.mem.slice(addr, addr + bytes) : undefined;
    const req: DiskRequest = { seq: this.nextSeq++, slot, op, block, count, addr, tag: this.tag, data };
    const s: Slot = { req, state: "waiting", status: 0 };
    this.slots[slot] = s;
    if (!this.blocked(s)) this.issue(s);
    return slot;
  }

  /** IN DISK_DONE: takes the oldest completion, freeing its slot; -1 when none is ready. */
  takeDone(): number {
    const slot = this.ready.shift();
    if (slot === undefined) return -1;
    const s = this.slots[slot]!;
    this.doneStatus = s.status;
    this.doneTag = s.req.tag;
    this.slots[slot] = undefined;
    return slot;
  }

  /** DISK_PENDING: slots in use. */
  pending(): number {
    let n = 0;
    for (const s of this.slots) if (s) n++;
    return n;
  }

  /** DISK_READY: completions waiting for DISK_DONE. */
  readyCount(): number {
    return this.ready.length;
  }

  /** Issued requests the host has not taken yet, in issue order; taking them empties the list. */
  takeIssued(): DiskRequest[] {
    const out = this.unsubmitted;
    this.unsubmitted = [];
    return out;
  }

  hasUnsubmitted(): boolean {
    return this.unsubmitted.length > 0;
  }

  /** Requests issued to the host and not yet completed (what a new primary must issue again). */
  inFlight(): DiskRequest[] {
    return this.live("issued");
  }

  /** Requests waiting behind a conflicting earlier one. */
  waiting(): DiskRequest[] {
    return this.live("waiting");
  }

  raisesInterrupt(): boolean {
    return (this.ctrl & 1) !== 0;
  }

  apply(_kind: number, raw: unknown): number {
    const c = raw as DiskCompletion;
    if (!c || typeof c !== "object" || !Number.isInteger(c.slot) || !Number.isInteger(c.seq) || !Number.isInteger(c.status))
      throw new Error("disk: a completion event's data must be {slot, seq, status, data?}");
    const s = c.slot >= 0 && c.slot < DISK_REQUESTS_MAX ? this.slots[c.slot] : undefined;
    if (!s || s.req.seq !== c.seq || s.state !== "issued")
      throw new Error(`disk: completion of request ${c.seq} in slot ${c.slot}, which holds ${s ? `request ${s.req.seq} (${s.state})` : "nothing"}`);
    if (c.status !== DISK_STATUS.OK && c.status !== DISK_STATUS.E_IO) throw new Error(`disk: completion status ${c.status} is neither DISK_OK nor DISK_E_IO`);
    const r = s.req;
    if (r.op === DISK_READ && c.status === DISK_STATUS.OK) {
      const bytes = r.count * this.geometry.blockBytes;
      if (!(c.data instanceof Uint8Array) || c.data.length !== bytes)
        throw new Error(`disk: read ${r.seq} completed with ${c.data instanceof Uint8Array ? c.data.length : "no"} bytes, expected ${bytes}`);
      // The bounce buffer lands: this boundary is the only moment the guest's memory changes.
      this.machine.storeBytes(r.addr, c.data);
    }
    s.state = "done";
    s.status = c.status;
    this.ready.push(c.slot);
    this.unsubmitted = this.unsubmitted.filter((u) => u !== r);
    // The completion may unblock requests that waited for it; issue them in start order.
    for (const w of this.byStartOrder()) if (w.state === "waiting" && !this.blocked(w)) this.issue(w);
    return this.ctrl & 1 ? VEC_DISK : -1;
  }

  getState(): DeviceState {
    const slots = [];
    for (const s of this.slots)
      if (s) slots.push({ ...s.req, state: s.state, status: s.status, data: s.req.data ? s.req.data.slice() : null });
    return {
      version: STATE_VERSION,
      blocks: this.geometry.blocks,
      blockBytes: this.geometry.blockBytes,
      ctrl: this.ctrl,
      regs: [this.op, this.block, this.count, this.addr, this.tag],
      done: [this.doneStatus, this.doneTag],
      nextSeq: this.nextSeq,
      slots,
      ready: [...this.ready],
    };
  }

  /**
   * Restores guest-visible state. The host-side list of unsubmitted requests becomes every
   * issued, uncompleted request: a restored device has a new host (a clone, a new primary),
   * which must issue them again.
   */
  setState(st: DeviceState): void {
    checkVersion(this.name, st, STATE_VERSION);
    if (st.blocks !== this.geometry.blocks || st.blockBytes !== this.geometry.blockBytes)
      throw new DeviceStateError(`disk state is for ${st.blocks} blocks of ${st.blockBytes} bytes, this disk has ${this.geometry.blocks} of ${this.geometry.blockBytes}`);
    const regs = st.regs as number[];
    const done = st.done as number[];
    [this.op, this.block, this.count, this.addr, this.tag] = regs;
    [this.doneStatus, this.doneTag] = done;
    this.ctrl = st.ctrl as number;
    this.nextSeq = st.nextSeq as number;
    this.slots.fill(undefined);
    for (const x of st.slots as (DiskRequest & { state: SlotState; status: number; data: Uint8Array | null })[]) {
      if (!(x.slot >= 0 && x.slot < DISK_REQUESTS_MAX) || this.slots[x.slot]) throw new DeviceStateError(`disk state has a bad or repeated slot ${x.slot}`);
      if (x.state !== "waiting" && x.state !== "issued" && x.state !== "done") throw new DeviceStateError(`disk state has slot ${x.slot} in an unknown state ${String(x.state)}`);
      if ((x.op === DISK_WRITE) !== !!x.data) throw new DeviceStateError(`disk state has slot ${x.slot} with ${x.data ? "bytes for a read" : "a write without its bytes"}`);
      const data = x.data ? new Uint8Array(x.data) : undefined;
      const req: DiskRequest = { seq: x.seq, slot: x.slot, op: x.op, block: x.block, count: x.count, addr: x.addr, tag: x.tag, data };
      this.slots[x.slot] = { req, state: x.state, status: x.status };
    }
    this.ready = [...(st.ready as number[])];
    this.unsubmitted = this.live("issued");
  }

  private live(state: SlotState): DiskRequest[] {
    return this.byStartOrder()
      .filter((s) => s.state === state)
      .map((s) => s.req);
  }

  private byStartOrder(): Slot[] {
    return (this.slots.filter((s) => s) as Slot[]).sort((a, b) => a.req.seq - b.req.seq);
  }

  private issue(s: Slot): void {
    s.state = "issued";
    this.unsubmitted.push(s.req);
  }

  /** True when an earlier-started request that has not completed conflicts with s. */
  private blocked(s: Slot): boolean {
    for (const o of this.slots) if (o && o !== s && o.state !== "done" && o.req.seq < s.req.seq && this.conflict(o.req, s.req)) return true;
    return false;
  }

  private conflict(a: DiskRequest, b: DiskRequest): boolean {
    const blocks = a.block < b.block + b.count && b.block < a.block + a.count;
    if (blocks && (a.op === DISK_WRITE || b.op === DISK_WRITE)) return true;
    if (a.op !== DISK_READ || b.op !== DISK_READ) return false;
    const bs = this.geometry.blockBytes;
    return a.addr < b.addr + b.count * bs && b.addr < a.addr + a.count * bs;
  }
}
