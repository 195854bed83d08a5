// The simulated host shell both simulations share (./sim.ts, the console and disk guests;
// ./netsim.ts, the network path): the event agenda and its run loop, the trace and its
// fingerprint, and for each host the loop src/host/ft-host.ts runs — call the node, check
// its invariants, carry out its actions through the one driver (src/ft/driver.ts), run a
// slice, tick, stop. Time is simulated: a run() slice costs time in proportion to the
// instructions it executed, inputs that arrive while a slice runs wait for it, and a crash
// inside a slice means its actions never happen.
//
// What differs between the simulations (the links to a sink, a disk or a switch, the
// facts the checks read, the planned faults) lives in the subclasses, which fill in the
// NodeIo and the few hooks below.
import type { NodeIo } from "../ft/driver.js";
import { carryOut } from "../ft/driver.js";
import { type HelloVerdict, answerHello, helloMsg } from "../ft/handshake.js";
import type { Action, FtNode, RunResult } from "../ft/node.js";
import { ProtocolError } from "../ft/node.js";
import { EXIT_DELAY_MS } from "../ft/shell-timing.js";
import { hashString } from "./prng.js";
import { EventQueue } from "./queue.js";

/** Trace lines kept with verbose (the fingerprint covers all of them either way). */
export const TRACE_LINES_MAX = 200_000;
/** An idle node that names no wake-up time runs again this much later (its ticks wake it sooner). */
const IDLE_WAKE_MS = 1000;

/** What the shell keeps of one simulated host between events. */
export abstract class ShellHost {
  abstract readonly node: FtNode;
  /** Simulated microseconds one guest instruction takes on this host. */
  abstract readonly usPerInstr: number;
  /** False once crashed or exited: no more inputs. */
  up = true;
  /** Halted or finished: exits EXIT_DELAY_MS later (as the real host does). */
  stopping = false;
  started = false;
  /** The end of the slice running now (inputs wait until then). */
  busyUntil = 0;
  inStep = false;
  stepPending = false;
  stepStartMs = 0;
  stepStartIcount = 0;
  runAt: number | undefined;
  runToken = 0;
  lastRole = "idle";

  constructor(
    readonly id: string,
    private readonly clock: { readonly now: number },
  ) {}

  /** The host's clock: inside a slice it advances with the instructions executed. */
  clockMs(): number {
    if (!this.inStep) return this.clock.now;
    return this.stepStartMs + ((this.node.machine.icount - this.stepStartIcount) * this.usPerInstr) / 1000;
  }
}

/** A slice a host just ran, as its shell's hooks see it. */
export interface Slice {
  roleBefore: string;
  icountBefore: number;
  executed: number;
  result: RunResult;
}

export interface ShellTiming {
  heartbeatMs: number;
  /** Simulated time every run() slice costs besides its instructions. */
  stepOverheadMs: number;
}

export abstract class HostShell<H extends ShellHost> {
  now = 0;
  readonly queue = new EventQueue();
  readonly trace: string[] = [];
  protected events = 0;
  /** The last time something was traced (events that find nothing to do do not count). */
  protected lastBusy = 0;
  private fp = 0x811c9dc5;
  private fp2 = 0x12345678;

  constructor(
    private readonly timing: ShellTiming,
    private readonly verbose: boolean,
    /** Whether a slice's trace line names the node's wake-up time (part of the fingerprint). */
    private readonly traceWake: boolean,
  ) {}

  // ---- what a simulation fills in ------------------------------------------------------

  /** The simulation's side of the one driver for host h. */
  protected abstract io(h: H): NodeIo;
  /** A node threw something other than an allowed ProtocolError: report it; the host dies. */
  protected abstract bug(h: H, what: string, e: unknown): void;
  /** Notes a role change (trace, triggers); true when the host crashed on it. */
  protected abstract roleChanged(h: H): boolean;
  /** The host's process exits (EXIT_DELAY_MS after it stopped): close its connections. */
  protected abstract exited(h: H, why: string): void;
  /** A slice ran (its actions not carried out yet): a note for the trace, or false when the host went down. */
  protected sliceRan(_h: H, _s: Slice): string | false {
    return "";
  }
  /** A slice's time is over, before its actions are carried out (requests made inside it leave now). */
  protected sliceEnds(_h: H): void {}
  /** A host's heartbeat timer fires (before the tick reaches the node). */
  protected ticked(_h: H): void {}
  /** The tick reached the node (it waits for a running slice). */
  protected tickDone(_h: H): void {}

  // ---- tracing ---------------------------------------------------------------------------

  protected log(text: string): void {
    this.lastBusy = this.now;
    const line = `${this.now.toFixed(3).padStart(10)} ${text}`;
    this.fp = hashString(line, this.fp);
    this.fp2 = hashString(line, this.fp2 ^ 0x9e3779b9);
    if (this.verbose && this.trace.length < TRACE_LINES_MAX) this.trace.push(line);
  }

  /** Hash of the whole event trace: the same seed must give the same fingerprint. */
  fingerprint(): string {
    return (this.fp >>> 0).toString(16).padStart(8, "0") + (this.fp2 >>> 0).toString(16).padStart(8, "0");
  }

  protected at(t: number, label: string, fire: () => void): void {
    this.queue.push(t, label, fire);
  }

  /**
   * Fires events in time order until none is left ("empty"), the next is past the cap
   * ("cap"; the cap may grow while the run goes on) or `done` says so ("done").
   */
  protected runEvents(capMs: () => number, done?: () => boolean): "empty" | "cap" | "done" {
    for (;;) {
      const e = this.queue.pop();
      if (!e) return "empty";
      if (e.at > capMs()) return "cap";
      this.now = e.at;
      this.events++;
      e.fire();
      if (done?.()) return "done";
    }
  }

  // ---- calling the node ------------------------------------------------------------------

  /**
   * Calls into a node, checks its invariants and carries out the actions it returns. A
   * ProtocolError is the caller's business when it says so (the shell refuses the peer);
   * any other exception is a bug: it is reported and the host dies, as the real process would.
   */
  protected call(h: H, what: string, fn: () => Action[], protocolErrorsOk = false): void {
    let actions: Action[];
    try {
      actions = fn();
      // After every input: a broken invariant is a bug found here, with the state named.
      h.node.invariants();
    } catch (e) {
      if (e instanceof ProtocolError && protocolErrorsOk) throw e;
      this.bug(h, what, e);
      return;
    }
    if (this.roleChanged(h)) return;
    this.exec(h, actions);
  }

  protected exec(h: H, actions: Action[]): void {
    carryOut(actions, this.io(h));
  }

  /**
   * A joining or resuming backup's hello reaches host `src`'s shell (FtHost.listenForPeers):
   * the node's verdict, through the same handshake code as the real host; undefined when
   * the node threw (a bug: reported, and the host dies).
   */
  protected hearHello(src: H, from: string, cluster: string, resumeLsn: number | undefined, what: string): HelloVerdict | undefined {
    try {
      return answerHello(src.node, helloMsg(from, cluster, resumeLsn), { cluster, exiting: src.stopping }, this.now);
    } catch (e) {
      this.bug(src, what, e);
      return undefined;
    }
  }

  /** Runs an input for the host now, or when its current slice ends (inputs wait for a running slice). */
  protected input(h: H, label: string, fn: () => void): void {
    if (!h.up) return;
    if (this.now < h.busyUntil) {
      this.at(h.busyUntil, label, () => this.input(h, label, fn));
      return;
    }
    fn();
    this.poke(h);
  }

  // ---- the run loop (as FtHost.loop does) ------------------------------------------------

  protected scheduleRun(h: H, at: number): void {
    if (!h.up || h.stopping || h.stepPending) return;
    if (h.runAt !== undefined && h.runAt <= at) return;
    h.runAt = at;
    const token = ++h.runToken;
    this.at(at, `run ${h.id}`, () => {
      if (token !== h.runToken) return;
      h.runAt = undefined;
      this.step(h);
    });
  }

  /** The shell's poke(): something happened, run the loop again now. */
  protected poke(h: H): void {
    if (!h.started) return;
    this.scheduleRun(h, Math.max(this.now, h.busyUntil));
  }

  private step(h: H): void {
    if (!h.up || h.stopping) return;
    if (this.now < h.busyUntil) return this.scheduleRun(h, h.busyUntil);
    const node = h.node;
    const m = node.machine;
    const before = m.icount;
    const roleBefore = node.role;
    h.inStep = true;
    h.stepStartMs = this.now;
    h.stepStartIcount = before;
    let r: RunResult;
    try {
      r = node.run(this.now);
      node.invariants();
    } catch (e) {
      h.inStep = false;
      this.bug(h, "run", e);
      return;
    }
    h.inStep = false;
    const executed = m.icount - before;
    const end = this.now + this.timing.stepOverheadMs + (executed * h.usPerInstr) / 1000;
    h.busyUntil = end;
    const note = this.sliceRan(h, { roleBefore, icountBefore: before, executed, result: r });
    if (note === false) return; // crashed inside the slice: nothing of it left the host
    if (executed > 0 || r.actions.length > 0 || note) {
      const wake = this.traceWake && r.wakeAtMs !== undefined ? ` wake ${r.wakeAtMs.toFixed(3)}` : "";
      this.log(`${h.id} run ${roleBefore}: icount ${before} -> ${m.icount}${r.idle ? " idle" : ""}${wake}, ${r.actions.length} actions${note}`);
    }
    if (this.roleChanged(h)) return;
    h.stepPending = true;
    this.at(end, `step done ${h.id}`, () => {
      h.stepPending = false;
      if (!h.up) return; // crashed during the slice: its actions never happen
      this.sliceEnds(h);
      if (!h.up) return;
      this.exec(h, r.actions);
      if (!h.up || h.stopping) return;
      if (h.node.role === "finished") return this.stop(h, "guest finished");
      if (h.node.role === "halted") return this.stop(h, "halted");
      if (!r.idle) this.scheduleRun(h, this.now);
      else this.scheduleRun(h, r.wakeAtMs === undefined ? this.now + IDLE_WAKE_MS : Math.max(this.now, r.wakeAtMs));
    });
  }

  /** The node's heartbeat: every heartbeatMs while the host runs (a tick waits for a running slice). */
  protected startTicks(h: H): void {
    const tick = (at: number): void => {
      this.at(at, `tick ${h.id}`, () => {
        if (!h.up || h.stopping) return;
        tick(at + this.timing.heartbeatMs);
        this.ticked(h);
        this.input(h, `tick ${h.id} (late)`, () => {
          this.call(h, "tick", () => h.node.tick(this.now));
          this.tickDone(h);
        });
      });
    };
    tick(this.now + this.timing.heartbeatMs);
  }

  /** Halted or finished: the real host exits EXIT_DELAY_MS later, which closes its connections. */
  protected stop(h: H, why: string): void {
    if (h.stopping || !h.up) return;
    h.stopping = true;
    this.log(`${h.id} stops (${why})`);
    this.at(this.now + EXIT_DELAY_MS, `exit ${h.id}`, () => {
      if (!h.up) return;
      this.log(`${h.id} exits`);
      this.exited(h, why);
      h.up = false;
    });
  }
}

/** Why a hello's verdict is not the one the shell waited for. */
export function notAccepted(v: HelloVerdict): string {
  return v.kind === "refuse" ? v.reason : `unexpected verdict ${v.kind}`;
}
