// The replay environment: answers the guest's nondeterministic questions from the log,
// and delivers asynchronous events at exactly the logged icount. At every event it checks
// that execution is in step (kind and icount, and the state digest where a mark carries
// one) and fails at once with "expected X, got Y at icount N".
import type { Bus } from "../devices/bus.js";
import type { DeviceEnv, EndMark, Event } from "../devices/events.js";
import { ASYNC_KINDS, EV, MARK_KINDS, SYNC_KINDS, kindName } from "../devices/events.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import type { World } from "./world.js";

export class DivergenceError extends Error {
  constructor(
    message: string,
    readonly icount: number,
    /** The instruction that read an input the log does not have there (when that is the divergence). */
    readonly pc?: number,
    /** "own-disk": the backup's own disk failed where the primary's worked (a planned fault in tests, not a bug of replay). */
    readonly cause: "state" | "own-disk" = "state",
  ) {
    super(message);
  }
}

/** Where replayed events come from: a log file being read, or a backup's receive queue. */
export interface EventSource {
  /** The next event, or undefined when none is available (yet). */
  peek(): Event | undefined;
  /** Consumes the event peek() returned. */
  take(): void;
}

export interface ReplayOptions {
  /** The log was recorded with --unlogged-rand: RAND reads `world` instead of the log. */
  unloggedRand?: boolean;
  world?: World;
  /** Stop the machine after every input so a tracer can record the state right after it. */
  stopAfterInput?: boolean;
  /**
   * Called as each event is consumed, before it has any effect (a synchronous input
   * inside the instruction that reads it, an asynchronous one before delivery, a mark at
   * its icount): where the FT backup compares its state with the primary's (ft/state-check.ts).
   */
  onConsume?: (ev: Event) => void;
}

export class ReplayEnv implements DeviceEnv {
  /** The lsn of the last event consumed. */
  lastLsn = 0;
  /** The last virtual time the guest saw (TIME or TIMER), so a live successor never goes back. */
  lastUs = 0;

  constructor(
    private readonly bus: Bus,
    readonly source: EventSource,
    private readonly opts: ReplayOptions = {},
  ) {
    if (opts.unloggedRand && !opts.world) throw new Error("replay: unloggedRand needs a world to read from");
  }

  /** The last synchronous input and the pc of the instruction that read it (for tracers; they clear it). */
  lastInput: { kind: number; pc: number } | undefined;

  input(kind: number): number {
    const m = this.bus.machine;
    if (this.opts.stopAfterInput) {
      this.lastInput = { kind, pc: m.pc };
      m.stopRequested = true;
    }
    if (kind === EV.RAND && this.opts.unloggedRand) return this.opts.world!.random32() >>> 0;
    const ev = this.source.peek();
    if (!ev) throw new DivergenceError(`expected a logged ${kindName(kind)} at icount ${m.icount}, got the end of the log`, m.icount);
    if (ev.kind !== kind || ev.icount !== m.icount)
      throw new DivergenceError(`expected ${kindName(ev.kind)} at icount ${ev.icount}, got ${kindName(kind)} at icount ${m.icount} (pc ${m.pc})`, m.icount, m.pc);
    this.consume(ev);
    if (kind === EV.TIME) this.lastUs = Math.max(this.lastUs, ev.data as number);
    return ev.data as number;
  }

  interruptsEnabled(): void {}

  consume(ev: Event): void {
    if (ev.lsn !== this.lastLsn + 1 && this.lastLsn !== 0)
      throw new DivergenceError(`expected lsn ${this.lastLsn + 1}, got lsn ${ev.lsn} at icount ${ev.icount}`, ev.icount);
    this.opts.onConsume?.(ev);
    this.source.take();
    this.lastLsn = ev.lsn;
  }
}

export type ReplayStep =
  /** Made progress; call again. */
  | "continue"
  /** No event is available and execution reached the allowed limit: wait for more log. */
  | "needs-log"
  /** The guest halted or trapped (the log should end with an END mark next). */
  | "halted"
  | "trapped"
  /** The END mark was reached and matched. */
  | "end";

export interface StepLimits {
  /** Execution may not pass this icount when no event is available (a progress mark, or the current icount for a file). */
  safeIcount: number;
  /** The most instructions one call runs, so the caller can show progress and stay responsive. */
  sliceIcount: number;
}

/**
 * Advances replay by one event or one slice of instructions. Pure and synchronous: the
 * caller owns reading the log and waiting. onEvent sees each asynchronous event and mark
 * after it took effect (synchronous inputs are reported through env.lastInput).
 */
export function replayStep(bus: Bus, env: ReplayEnv, limits: StepLimits, onEvent?: (ev: Event) => void): ReplayStep {
  const m = bus.machine;
  const ev = env.source.peek();
  const target = ev ? ev.icount : limits.safeIcount;
  if (m.icount < target) {
    const r = m.run(Math.min(target, m.icount + limits.sliceIcount));
    // The event at the target is handled by the next call, so a caller (a tracer) sees
    // the boundary before the event exactly as the live side did.
    if (r === "continue" || m.icount === target) return "continue";
  }
  if (!ev) return m.halted ? "halted" : m.trap ? "trapped" : "needs-log";
  if (m.icount < ev.icount) divergeOnStop(ev, m.icount, m.halted ? "halted" : m.trap ? `trapped (${m.trap.kind})` : "waits for an interrupt");
  if (m.icount > ev.icount)
    throw new DivergenceError(`expected ${kindName(ev.kind)} at icount ${ev.icount}, but execution is already at icount ${m.icount}`, m.icount);
  // Here m.icount === ev.icount.
  if (SYNC_KINDS.has(ev.kind)) {
    // The next instruction must read exactly this input.
    if (m.halted || m.trap || m.waiting) divergeOnStop(ev, m.icount, m.halted ? "halted" : m.trap ? "trapped" : "waits for an interrupt");
    const pc = m.pc;
    m.run(m.icount + 1);
    if (env.source.peek() === ev)
      throw new DivergenceError(`expected the instruction at icount ${ev.icount} (pc ${pc}) to read ${kindName(ev.kind)}, got an instruction that read nothing`, ev.icount);
    return m.trap ? "trapped" : m.halted ? "halted" : "continue";
  }
  if (ASYNC_KINDS.has(ev.kind)) {
    if (!bus.canDeliver(ev.kind))
      throw new DivergenceError(`expected ${kindName(ev.kind)} deliverable at icount ${ev.icount}, got interrupts disabled or a stopped guest`, ev.icount);
    env.consume(ev);
    if (ev.kind === EV.TIMER && typeof ev.data === "number") env.lastUs = Math.max(env.lastUs, ev.data);
    try {
      bus.deliver(ev.kind, ev.data);
    } catch (e) {
      // A well-formed event the guest's devices cannot take here (data for a connection
      // that is not open, a completion for a request never issued): the log and this
      // execution disagree, which is a divergence, not a crash.
      if (e instanceof DivergenceError) throw e;
      throw new DivergenceError(`${kindName(ev.kind)} (lsn ${ev.lsn}) cannot be delivered at icount ${ev.icount}: ${(e as Error).message}`, ev.icount);
    }
    onEvent?.(ev);
    return m.trap ? "trapped" : "continue";
  }
  if (ev.kind === EV.PROGRESS) {
    env.consume(ev);
    return "continue";
  }
  if (MARK_KINDS.has(ev.kind)) {
    const mark = ev.data as EndMark;
    const regs = regsDigest(m);
    if (mark.regs !== regs) throw new DivergenceError(`expected register digest ${mark.regs}, got ${regs} at icount ${ev.icount}`, ev.icount);
    const mem = memDigest(m);
    if (mark.mem !== mem) throw new DivergenceError(`expected memory digest ${mark.mem}, got ${mem} at icount ${ev.icount}`, ev.icount);
    if (ev.kind === EV.END && mark.trap) {
      if (!m.trap) m.run(m.icount + 1);
      if (m.trap?.kind !== mark.trap.kind || m.trap.pc !== mark.trap.pc)
        throw new DivergenceError(
          `expected trap ${mark.trap.kind} at pc ${mark.trap.pc}, got ${m.trap ? `trap ${m.trap.kind} at pc ${m.trap.pc}` : "no trap"} at icount ${ev.icount}`,
          ev.icount,
        );
    }
    env.consume(ev);
    onEvent?.(ev);
    return ev.kind === EV.END ? "end" : "continue";
  }
  throw new DivergenceError(`unknown event ${kindName(ev.kind)} (lsn ${ev.lsn}) at icount ${ev.icount}`, ev.icount);
}

function divergeOnStop(ev: Event, icount: number, what: string): never {
  throw new DivergenceError(`expected ${kindName(ev.kind)} at icount ${ev.icount}, got a guest that ${what} at icount ${icount}`, icount);
}
