// Runs one generated case (tools/fuzz/engine-programs.ts) on the reference interpreter and
// on the compiled engine, and throws EngineMismatch at the first difference.
//
// Each case runs live, as `ftvm run`/`record` do (Machine + Bus + LiveEnv + LiveRunner with
// a fake world, a memory disk and a scheduled network), three times side by side: with the
// interpreter, with the compiled engine at hot threshold 1 (every block compiled at once,
// in the case's region and block shape) and with the compiled engine's defaults (code
// starts interpreted and switches to compiled regions mid-run). After every step of the
// run loop the three must agree on the step's result, the machine (registers, pc, icount,
// interrupt state, trap with its detail, vectors, dirty pages) and every byte of memory;
// at the end on the events logged, console and network output, every trace record and
// every device's state. Then the interpreter's log is replayed with the compiled engine
// and the compiled engine's log with the interpreter, each checked against the
// recording's trace records and final state.
//
// The runs go in lockstep so that memory can be compared byte for byte after every step:
// hashing it instead (as traces do) cost more than everything else together.
import { assemble } from "../../src/asm/assembler.js";
import { Bus } from "../../src/devices/bus.js";
import type { Event } from "../../src/devices/events.js";
import { EV } from "../../src/devices/events.js";
import { attachEngine } from "../../src/host/engine.js";
import { LiveEnv } from "../../src/replay/live.js";
import { MemoryDisk } from "../../src/replay/memdisk.js";
import { ReplayEnv } from "../../src/replay/replay.js";
import { LiveRunner, ReplayRunner, traceDelivered } from "../../src/replay/session.js";
import { QueueSource } from "../../src/replay/source.js";
import { fakeWorld, type NetInput, type NetSource } from "../../src/replay/world.js";
import { TraceDecoder, type TraceRecord } from "../../src/trace/format.js";
import { Tracer } from "../../src/trace/tracer.js";
import type { CompileOptions } from "../../src/vm/compile.js";
import { memDigest } from "../../src/vm/digest.js";
import type { Image } from "../../src/vm/image.js";
import { Machine } from "../../src/vm/machine.js";
import { type EngineCase, FUZZ_DISK, FUZZ_MEM_BYTES, FUZZ_STACK_BYTES, renderProgram, type Schedule } from "./engine-programs.js";

export type Engine = CompileOptions | "interpret";

/** The first difference between two engines on one case. */
export class EngineMismatch extends Error {}

export interface CheckOptions {
  /** Each run stops here (the guest may also halt, trap or go idle first). */
  maxIcount?: number;
  /** Called with each machine given a compiled engine (tests install deliberately broken engines with it). */
  onCompiledMachine?: (m: Machine) => void;
}

/**
 * Instructions per run in CI: enough for every loop to get hot (the default threshold
 * compiles a block on its 4th visit) and for interrupts to arrive, small enough for
 * thousands of cases in a minute. `npm run fuzz` runs longer ones (FUZZ_LONG_ICOUNT_MAX).
 */
export const FUZZ_ICOUNT_MAX_DEFAULT = 3_000;
/** Instructions per run for `npm run fuzz`: deeper states at about three times the cost per case. */
export const FUZZ_LONG_ICOUNT_MAX = 20_000;
/** Run-loop steps per run (slices of one instruction would otherwise make long cases slow). */
const RUN_STEPS_MAX = 2_000;
/** Consecutive steps a guest may wait for an interrupt before the run counts as idle and ends. */
const IDLE_STEPS_MAX = 64;
/** Replay steps before a replay that has not reached its END mark counts as stuck. */
const REPLAY_STEPS_MAX = 1_000_000;

/** The machine's state except memory contents (compared byte for byte separately), as one string. */
function machineState(m: Machine): string {
  const t = m.trap;
  return (
    `pc ${m.pc} icount ${m.icount} regs ${m.regs.join(",")} ie ${m.ie} shadow ${m.eiShadowIcount} waiting ${m.waiting} halted ${m.halted} ` +
    `stop ${m.stopRequested} vectors ${m.vectors.join(",")} dirty ${m.dirty.join("")}` +
    (t ? ` trap ${t.kind} at pc ${t.pc} icount ${t.icount}: ${t.detail}` : "")
  );
}

/** The machine, a digest of its memory and every device's state (device state is too big to take per step). */
function fullState(m: Machine, bus: Bus): string {
  const devices = JSON.stringify(bus.getState(), (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
  return `${machineState(m)} mem ${memDigest(m)} devices ${devices}`;
}

/** A NetSource that releases each scheduled connection's open, data and close one step at a time. */
class ScheduledNet implements NetSource {
  private readonly queue: NetInput[] = [];
  private readonly plan: { at: number; input: NetInput }[] = [];

  constructor(conns: Schedule["conns"]) {
    conns.forEach((c, conn) => {
      this.plan.push({ at: c.at, input: { kind: EV.NET_OPEN, data: { conn } } });
      // A real source never delivers empty data.
      c.chunks.forEach((bytes, i) => bytes.length > 0 && this.plan.push({ at: c.at + 1 + i, input: { kind: EV.NET_RX, data: { conn, bytes: new Uint8Array(bytes) } } }));
      this.plan.push({ at: c.at + 1 + c.chunks.length, input: { kind: EV.NET_CLOSE, data: { conn } } });
    });
    // A stable sort: one connection's inputs stay in order.
    this.plan.sort((x, y) => x.at - y.at);
  }

  release(step: number): void {
    while (this.plan.length && this.plan[0].at <= step) this.queue.push(this.plan.shift()!.input);
  }

  // As the real inbox (src/net/inbox.ts): data never fits when maxBytes is 0.
  ready(maxBytes: number): boolean {
    return this.queue.length > 0 && (maxBytes > 0 || this.queue[0].kind !== EV.NET_RX);
  }

  take(maxBytes: number): NetInput | undefined {
    const e = this.queue[0];
    if (!e || !this.ready(maxBytes)) return undefined;
    const bytes = e.data.bytes;
    if (bytes && bytes.length > maxBytes) {
      this.queue[0] = { kind: e.kind, data: { conn: e.data.conn, bytes: bytes.subarray(maxBytes) } };
      return { kind: e.kind, data: { conn: e.data.conn, bytes: bytes.slice(0, maxBytes) } };
    }
    this.queue.shift();
    return e;
  }
}

function decodeTrace(chunks: readonly Uint8Array[]): TraceRecord[] {
  const d = new TraceDecoder();
  for (const c of chunks) d.push(c);
  d.readHeader();
  const out: TraceRecord[] = [];
  for (let rs = d.nextRecords(); rs; rs = d.nextRecords()) out.push(...rs);
  return out;
}

function newTracer(m: Machine, s: Schedule, role: string, chunks: Uint8Array[]): Tracer | undefined {
  if (s.traceInterval <= 0) return undefined;
  return new Tracer(m, { image: new Uint8Array(0), intervalIcount: s.traceInterval, program: "fuzz.s", role }, (c) => chunks.push(c));
}

/**
 * One live run of a case with one engine, advanced one run-loop step at a time so that
 * several engines can be compared after every step.
 */
export class LiveRig {
  readonly m: Machine;
  readonly bus: Bus;
  readonly events: Event[] = [];
  console = "";
  net = "";
  /** Why the run ended (the END mark's reason); undefined while it goes on. */
  ended: string | undefined;
  private last = "";
  private readonly env: LiveEnv;
  private readonly world: ReturnType<typeof fakeWorld>;
  private readonly disk = new MemoryDisk(FUZZ_DISK);
  private readonly netSource: ScheduledNet;
  private readonly tracer: Tracer | undefined;
  private readonly traceChunks: Uint8Array[] = [];
  private readonly inputs: Schedule["inputs"];
  private readonly memBytes: Buffer;
  private pick: number;
  private idle = 0;
  private stepNo = 0;
  private finalState: string | undefined;

  constructor(
    image: Image,
    private readonly s: Schedule,
    engine: Engine,
    private readonly maxIcount: number,
    onCompiledMachine?: (m: Machine) => void,
  ) {
    const m = new Machine(image, { memBytes: FUZZ_MEM_BYTES, stackBytes: FUZZ_STACK_BYTES });
    if (engine !== "interpret") {
      attachEngine(m, engine);
      onCompiledMachine?.(m);
    }
    this.m = m;
    this.memBytes = Buffer.from(m.mem.buffer, m.mem.byteOffset, m.mem.byteLength);
    this.netSource = new ScheduledNet(s.conns);
    this.world = fakeWorld(s.seed, 9, 3);
    this.bus = new Bus(m, undefined as never, { disk: FUZZ_DISK });
    this.tracer = newTracer(m, s, "record", this.traceChunks);
    this.env = new LiveEnv(this.bus, { ...this.world, disk: this.disk, net: this.netSource }, (e) => this.events.push(e), {
      stopAfterInput: s.stopAfterInput || !!this.tracer,
      onDelivered: this.tracer ? traceDelivered(this.tracer) : undefined,
    });
    this.bus.env = this.env;
    this.inputs = [...s.inputs].sort((x, y) => x.at - y.at);
    this.pick = s.seed >>> 0 || 1;
  }

  /** One step of the run loop: outside input arrives, one slice runs, output is drained. */
  step(): void {
    const { s, env, bus } = this;
    const step = this.stepNo++;
    // Input scheduled after the end of input is dropped (the host has closed its side).
    while (this.inputs.length && this.inputs[0].at <= step) {
      const bytes = new Uint8Array(this.inputs.shift()!.bytes);
      if (s.consoleEndAt < 0 || step < s.consoleEndAt) env.postConsole(bytes);
    }
    if (step === s.consoleEndAt) env.endConsole();
    this.netSource.release(step);
    // Disk completions in a seeded order (xorshift32), the same for every engine.
    this.disk.completeSome(s.diskCompletions[step % s.diskCompletions.length], (n) => {
      this.pick ^= this.pick << 13;
      this.pick ^= this.pick >>> 17;
      this.pick ^= this.pick << 5;
      return (this.pick >>> 0) % n;
    });
    // A runner holds nothing but its options: a new one per step varies the slice length.
    const runner = new LiveRunner(bus, env, { maxIcount: this.maxIcount, tracer: this.tracer, sliceIcount: s.slices[step % s.slices.length] });
    const r = runner.step();
    this.last = r;
    this.console += Buffer.from(bus.console.drainOutput()).toString("latin1");
    for (const ch of bus.nic.drainOutput()) this.net += `${ch.conn}@${ch.offset}:${Buffer.from(ch.bytes).toString("hex")}${ch.close ? "!" : ""} `;
    this.world.advance(s.clockSteps[step % s.clockSteps.length]);
    this.idle = r === "waiting" ? this.idle + 1 : 0;
    const end = r === "halted" || r === "trapped" || r === "max-icount" ? r : this.idle >= IDLE_STEPS_MAX ? "idle" : step + 1 >= RUN_STEPS_MAX ? "steps" : undefined;
    if (end) {
      runner.end(end);
      this.ended = end;
      this.tracer?.flush();
    }
  }

  /** The step's result and the machine state after it, memory contents excluded. */
  state(): string {
    return `${this.last} ${machineState(this.m)}`;
  }

  /** The first byte at which this machine's memory differs from `o`'s, or -1. */
  memoryDiff(o: LiveRig): number {
    if (this.memBytes.equals(o.memBytes)) return -1;
    let i = 0;
    while (this.memBytes[i] === o.memBytes[i]) i++;
    return i;
  }

  trace(): TraceRecord[] {
    return decodeTrace(this.traceChunks);
  }

  /** The state at the end of the run (taken once: the memory digest clears the dirty flags). */
  final(): string {
    this.finalState ??= fullState(this.m, this.bus);
    return this.finalState;
  }
}

export interface ReplayResult {
  trace: TraceRecord[];
  final: string;
}

/** Replays a log with `engine`, as `ftvm replay` does (with a tracer when the schedule has one). */
export function runReplay(image: Image, s: Schedule, events: readonly Event[], engine: Engine, onCompiledMachine?: (m: Machine) => void): ReplayResult {
  const m = new Machine(image, { memBytes: FUZZ_MEM_BYTES, stackBytes: FUZZ_STACK_BYTES });
  if (engine !== "interpret") {
    attachEngine(m, engine);
    onCompiledMachine?.(m);
  }
  const q = new QueueSource();
  q.push(events);
  const bus = new Bus(m, undefined as never, { disk: FUZZ_DISK });
  const traceChunks: Uint8Array[] = [];
  const tracer = newTracer(m, s, "replay", traceChunks);
  const env = new ReplayEnv(bus, q, { stopAfterInput: !!tracer });
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { sliceIcount: s.replaySlice, tracer });
  for (let steps = 0; ; steps++) {
    if (steps >= REPLAY_STEPS_MAX) throw new EngineMismatch(`replay with ${engineName(engine)} is stuck at icount ${m.icount}`);
    const r = runner.step(m.icount);
    bus.console.drainOutput();
    bus.nic.drainOutput();
    if (r === "end") break;
    if (r === "needs-log") throw new EngineMismatch(`replay with ${engineName(engine)} stalled at icount ${m.icount} before the END mark`);
  }
  tracer?.flush();
  return { trace: decodeTrace(traceChunks), final: fullState(m, bus) };
}

export function engineName(e: Engine): string {
  return e === "interpret" ? "the interpreter" : `the compiled engine ${JSON.stringify(e)}`;
}

function same(what: string, a: string, b: string, nameA: string, nameB: string): void {
  if (a !== b) throw new EngineMismatch(`${what} differ:\n  ${nameA}: ${a}\n  ${nameB}: ${b}`);
}

function sameList(what: string, a: readonly string[], b: readonly string[], nameA: string, nameB: string): void {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) throw new EngineMismatch(`${what} differ at #${i}${i > 0 ? ` (after ${a[i - 1]})` : ""}:\n  ${nameA}: ${a[i]}\n  ${nameB}: ${b[i]}`);
  if (a.length !== b.length) throw new EngineMismatch(`${what}: ${nameA} has ${a.length}, ${nameB} has ${b.length} (first extra: ${a[n] ?? b[n]})`);
}

const eventText = (e: Event) => JSON.stringify(e, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
const recordText = (t: TraceRecord) => JSON.stringify(t);

/** Runs one case on every engine configuration; throws EngineMismatch at the first difference. */
export function checkEngineCase(c: EngineCase, o: CheckOptions = {}): void {
  const maxIcount = o.maxIcount ?? FUZZ_ICOUNT_MAX_DEFAULT;
  const image = assemble(renderProgram(c.program), "fuzz.s");
  const s = c.schedule;
  const eager: Engine = { ...c.shape, hotThreshold: 1 };
  const lazy: Engine = {};
  const ref = new LiveRig(image, s, "interpret", maxIcount);
  const others = [eager, lazy].map((e) => ({ engine: e, name: engineName(e), rig: new LiveRig(image, s, e, maxIcount, o.onCompiledMachine) }));
  for (let step = 0; ref.ended === undefined; step++) {
    ref.step();
    const want = ref.state();
    for (const o of others) {
      o.rig.step();
      same(`states after run step ${step}`, want, o.rig.state(), "the interpreter", o.name);
      const at = ref.memoryDiff(o.rig);
      if (at >= 0) throw new EngineMismatch(`memory differs after run step ${step} at byte ${at}: the interpreter ${ref.m.mem[at]}, ${o.name} ${o.rig.m.mem[at]} (${want})`);
    }
  }
  const refTrace = ref.trace().map(recordText);
  for (const o of others) {
    same("end of the run", ref.ended, String(o.rig.ended), "the interpreter", o.name);
    sameList("logged events", ref.events.map(eventText), o.rig.events.map(eventText), "the interpreter", o.name);
    same("console output", ref.console, o.rig.console, "the interpreter", o.name);
    same("network output", ref.net, o.rig.net, "the interpreter", o.name);
    sameList("trace records", refTrace, o.rig.trace().map(recordText), "the interpreter", o.name);
    same("final states", ref.final(), o.rig.final(), "the interpreter", o.name);
  }
  // A log recorded with one engine replays with the other, through the same trace records to the same state.
  const replays: [LiveRig, Engine, Engine][] = [
    [ref, "interpret", eager],
    [others[1].rig, lazy, "interpret"],
  ];
  for (const [rec, recordedWith, replayWith] of replays) {
    const rep = runReplay(image, s, rec.events, replayWith, o.onCompiledMachine);
    const a = `recorded with ${engineName(recordedWith)}`;
    const b = `replayed with ${engineName(replayWith)}`;
    sameList("trace records", rec.trace().map(recordText), rep.trace.map(recordText), a, b);
    same("final states", rec.final(), rep.final, a, b);
  }
}
