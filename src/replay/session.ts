// Run loops as pure steps: the live side (run, record, later the primary) and the replay
// side (replay, later the backup). Each step runs at most one slice of instructions and
// returns what happened; the host decides how to wait, where output goes and where the
// log is written. Tracing hooks in here so every caller traces the same way.
import type { Bus } from "../devices/bus.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import type { Tracer } from "../trace/tracer.js";
import type { RunResult } from "../vm/machine.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import type { LiveEnv } from "./live.js";
import type { ReplayEnv, ReplayStep, StepLimits } from "./replay.js";
import { replayStep } from "./replay.js";

/**
 * Instructions per slice. Large enough that per-slice work (pumping input, checking
 * the clock) is noise, small enough (about a millisecond) to stay responsive.
 */
export const SLICE_ICOUNT_DEFAULT = 200_000;

export type LiveStep = RunResult | "max-icount";

export class LiveRunner {
  constructor(
    readonly bus: Bus,
    readonly env: LiveEnv,
    private readonly opts: { maxIcount?: number; sliceIcount?: number; tracer?: Tracer } = {},
  ) {}

  /**
   * Sets the instructions of the next slices (a host paces slices by time: see
   * src/host/slice-pacer.ts). Where a slice ends does not change what is logged or
   * replayed: every input is logged at its icount, whatever the slice size.
   */
  setSliceIcount(n: number): void {
    this.opts.sliceIcount = n;
  }

  /** Runs on past maxIcount from now on (a scripted crash that was skipped). */
  clearMaxIcount(): void {
    this.opts.maxIcount = undefined;
  }

  step(): LiveStep {
    const m = this.bus.machine;
    const max = this.opts.maxIcount ?? Number.MAX_SAFE_INTEGER;
    if (m.icount >= max) return "max-icount";
    this.env.pump();
    let limit = Math.min(max, m.icount + (this.opts.sliceIcount ?? SLICE_ICOUNT_DEFAULT));
    const t = this.opts.tracer;
    if (t) limit = Math.min(limit, t.nextIcount());
    let r = m.run(limit);
    if (t) traceAfterRun(this.env, t);
    // The guest stopped right after EI with input pending: run the one instruction in
    // EI's shadow so the next pump can deliver (unless a trace record or the icount
    // limit falls on this boundary; then delivery waits for the next slice).
    if (r === "continue" && m.icount === m.eiShadowIcount && m.icount < max && (!t || t.nextIcount() > m.icount) && this.env.hasPending()) {
      r = m.run(m.icount + 1);
      if (t) traceAfterRun(this.env, t);
    }
    // Requests the guest started in this slice go to the disk back-end now, not at the
    // next pump: a guest about to wait for them must not wait on an idle host.
    this.env.submitDisk();
    if (r === "continue" && m.icount >= max) return "max-icount";
    return r;
  }

  /** Logs the END mark with the final state digests. */
  end(reason: string): void {
    const m = this.bus.machine;
    const trap = m.trap ? { kind: m.trap.kind, pc: m.trap.pc } : undefined;
    this.env.mark(EV.END, { reason, regs: regsDigest(m), mem: memDigest(m), ...(trap ? { trap } : {}) });
  }
}

/** The tracer's hook for live delivery of asynchronous events (pass as LiveOptions.onDelivered). */
export function traceDelivered(tracer: Tracer): (e: Event) => void {
  return (e) => tracer.record(e.kind, -1);
}

function traceAfterRun(env: { lastInput: { kind: number; pc: number } | undefined }, t: Tracer): void {
  if (env.lastInput) {
    t.record(env.lastInput.kind, env.lastInput.pc);
    env.lastInput = undefined;
  }
  t.periodic();
}

export class ReplayRunner {
  constructor(
    readonly bus: Bus,
    readonly env: ReplayEnv,
    private readonly opts: { sliceIcount?: number; tracer?: Tracer } = {},
  ) {}

  /** Sets the instructions of the next slices (see LiveRunner.setSliceIcount). */
  setSliceIcount(n: number): void {
    this.opts.sliceIcount = n;
  }

  /**
   * safeIcount: how far execution may go when no event is available; untilIcount: stop
   * there exactly (a snapshot point), even with events further on.
   */
  step(safeIcount: number, untilIcount = Number.MAX_SAFE_INTEGER): ReplayStep {
    const t = this.opts.tracer;
    const m = this.bus.machine;
    t?.periodic();
    let slice = Math.min(this.opts.sliceIcount ?? SLICE_ICOUNT_DEFAULT, untilIcount - m.icount);
    if (t) slice = Math.min(slice, t.nextIcount() - m.icount);
    const limits: StepLimits = {
      safeIcount: t ? Math.min(safeIcount, t.nextIcount()) : safeIcount,
      sliceIcount: Math.max(1, slice),
    };
    const r = replayStep(this.bus, this.env, limits, t ? (ev) => ev.kind !== EV.END && ev.kind !== EV.CHECK && t.record(ev.kind, -1) : undefined);
    if (t) traceAfterRun(this.env, t);
    // A tracer stop is not a reason to wait for more log.
    if (r === "needs-log" && t && m.icount < safeIcount && !m.waiting) return "continue";
    return r;
  }
}
