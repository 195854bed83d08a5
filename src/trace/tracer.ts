// Takes trace records from a running machine and hands encoded chunks to a sink (a file
// in src/host). The run loop asks nextIcount() so it can stop exactly at the next
// periodic record; records after events are taken when the loop reports them.
import { REGISTER_COUNT } from "../../isa/table.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import type { Machine } from "../vm/machine.js";
import type { TraceHeader, TraceRecord } from "./format.js";
import { CAUSE_LIVE, CAUSE_PERIODIC, TRACE_RECORDS_PER_FRAME, encodeTraceFrame, encodeTraceHeader } from "./format.js";

export const TRACE_INTERVAL_DEFAULT = 100_000;

export class Tracer {
  private pending: TraceRecord[] = [];
  private nextPeriodic: number;
  records = 0;

  constructor(
    private readonly machine: Machine,
    header: TraceHeader,
    private readonly sink: (chunk: Uint8Array) => void,
  ) {
    if (!(header.intervalIcount > 0)) throw new RangeError(`trace interval must be positive, got ${header.intervalIcount}`);
    this.interval = header.intervalIcount;
    this.nextPeriodic = (Math.floor(machine.icount / this.interval) + 1) * this.interval;
    sink(encodeTraceHeader(header));
  }

  private readonly interval: number;

  /** The run loop must not run past this icount without calling periodic(). */
  nextIcount(): number {
    return this.nextPeriodic;
  }

  /** Takes the periodic record when the machine stands exactly at its icount. */
  periodic(): void {
    const m = this.machine;
    if (m.icount >= this.nextPeriodic) {
      if (m.icount === this.nextPeriodic) this.record(CAUSE_PERIODIC, -1);
      this.nextPeriodic = (Math.floor(m.icount / this.interval) + 1) * this.interval;
    }
  }

  /** Records the state right after an event of `cause` (atPc: the instruction that read a synchronous input). */
  record(cause: number, atPc: number, epoch?: number): void {
    const m = this.machine;
    const r: TraceRecord = {
      icount: m.icount,
      pc: m.pc,
      cause,
      atPc,
      regs: Array.from(m.regs.subarray(0, REGISTER_COUNT)),
      regsDigest: regsDigest(m),
      memDigest: memDigest(m),
    };
    if (epoch !== undefined) r.epoch = epoch;
    this.pending.push(r);
    this.records++;
    if (this.pending.length >= TRACE_RECORDS_PER_FRAME) this.flush();
  }

  /** Marks where a backup went live in `epoch`: from here on this trace is a primary's. */
  liveMark(epoch: number): void {
    this.record(CAUSE_LIVE, -1, epoch);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.sink(encodeTraceFrame(this.pending));
    this.pending = [];
  }
}
