// Test helpers for the debugger: record a guest into log bytes in-process with a
// deterministic world (timer, TIME, RAND, console input, a memory disk, scripted network
// input), and an oracle that replays a log with the project's own replay code
// (ReplayRunner), one instruction at a time, recording what the state was at every position.
import { assembleFile } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import type { DiskGeometry } from "../src/devices/disk.js";
import type { Event } from "../src/devices/events.js";
import { SYNC_KINDS } from "../src/devices/events.js";
import { LiveEnv } from "../src/replay/live.js";
import { encodeLogFrame, encodeLogHeader } from "../src/replay/logformat.js";
import { MemoryDisk } from "../src/replay/memdisk.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner } from "../src/replay/session.js";
import { QueueSource } from "../src/replay/source.js";
import type { NetInput, NetSource } from "../src/replay/world.js";
import { fakeWorld } from "../src/replay/world.js";
import type { DebugLog } from "../src/debug/log.js";
import { encodeImage, type Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { memDigest, regsDigest } from "../src/vm/digest.js";

export interface RecordOptions {
  maxIcount: number;
  seed?: number;
  /** Instructions per live slice (varies where asynchronous events land). */
  sliceIcount?: number;
  consoleInput?: string;
  disk?: DiskGeometry;
  /** Network input, released one item per live step once the guest has run `afterIcount`. */
  net?: NetInput[];
  unloggedRand?: boolean;
}

/** A NetSource that hands out a fixed script, one item at a time when allowed. */
class ScriptedNet implements NetSource {
  released = 0;
  constructor(readonly items: NetInput[]) {}
  ready(maxBytes: number): boolean {
    const e = this.items[0];
    return this.released > 0 && !!e && (!e.data.bytes || maxBytes >= 1);
  }
  take(maxBytes: number): NetInput | undefined {
    if (!this.ready(maxBytes)) return undefined;
    const e = this.items[0];
    if (e.data.bytes && e.data.bytes.length > maxBytes) {
      const head = { kind: e.kind, data: { conn: e.data.conn, bytes: e.data.bytes.subarray(0, maxBytes) } };
      e.data.bytes = e.data.bytes.subarray(maxBytes);
      return head;
    }
    this.released--;
    return this.items.shift();
  }
}

/** Runs `image` live against a deterministic world and returns the log file's bytes. */
export function recordBytes(image: Image, o: RecordOptions, program = "test"): Uint8Array {
  const m = new Machine(image);
  const world = fakeWorld(o.seed ?? 1, 7, 10);
  const disk = o.disk ? new MemoryDisk(o.disk) : undefined;
  const net = o.net ? new ScriptedNet(o.net.map((e) => ({ kind: e.kind, data: { ...e.data } }))) : undefined;
  const events: Event[] = [];
  const bus = new Bus(m, undefined as never, { disk: o.disk });
  const env = new LiveEnv(bus, { ...world, ...(disk ? { disk } : {}), ...(net ? { net } : {}) }, (e) => events.push(e), { unloggedRand: o.unloggedRand });
  bus.env = env;
  const runner = new LiveRunner(bus, env, { maxIcount: o.maxIcount, sliceIcount: o.sliceIcount ?? 5000 });
  if (o.consoleInput !== undefined) {
    env.postConsole(new TextEncoder().encode(o.consoleInput));
    env.endConsole();
  }
  let reason = "max-icount";
  for (let steps = 0; ; steps++) {
    const r = runner.step();
    bus.console.drainOutput();
    bus.nic.drainOutput();
    if (net && steps % 3 === 0) net.released++;
    if (disk && disk.inFlight > 0 && steps % 2 === 0) disk.completeSome(1, () => 0);
    if (r === "halted" || r === "trapped" || r === "max-icount") {
      reason = r;
      break;
    }
    if (r === "waiting" && !env.hasPending()) {
      if (disk && disk.inFlight > 0) disk.completeSome(1, () => 0);
      else if (net && net.items.length > 0) net.released++;
      else {
        const deadline = env.timerDeadline();
        if (deadline === undefined) {
          reason = "deadlock";
          break;
        }
        world.advance(Math.max(0, deadline - env.nowUs()));
      }
    }
  }
  runner.end(reason);
  const header = encodeLogHeader({ image: encodeImage(image), memBytes: m.memBytes, stackBytes: m.stackBytes, unloggedRand: !!o.unloggedRand, program, ...(o.disk ? { disk: o.disk } : {}) });
  const frames = [];
  for (let i = 0; i < events.length; i += 1000) frames.push(encodeLogFrame(events.slice(i, i + 1000)));
  const out = new Uint8Array(header.length + frames.reduce((n, f) => n + f.length, 0));
  out.set(header);
  let off = header.length;
  for (const f of frames) {
    out.set(f, off);
    off += f.length;
  }
  return out;
}

export function recordProgram(path: string, o: RecordOptions): Uint8Array {
  return recordBytes(assembleFile(path), o, path);
}

/** The state at one position, as the oracle sees it. */
export interface Seen {
  pc: number;
  regs: number[];
  digest: string;
}

/**
 * Replays `log` with the project's replay code to position `target` (and its events):
 * an independent "fresh replay" to compare the debugger with.
 */
export function freshReplay(log: DebugLog, target: number): Machine {
  const { m, runner, source } = replayRig(log);
  advanceTo(m, runner, source, target);
  return m;
}

function replayRig(log: DebugLog) {
  const h = log.header;
  const m = new Machine(log.image, { memBytes: h.memBytes, stackBytes: h.stackBytes });
  const bus = new Bus(m, undefined as never, { disk: h.disk ?? undefined });
  const source = new QueueSource();
  source.push(log.events);
  const env = new ReplayEnv(bus, source);
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { sliceIcount: 1 << 20 });
  return { m, bus, runner, source };
}

/** Runs to `target`, then delivers the asynchronous events and marks logged there. */
function advanceTo(m: Machine, runner: ReplayRunner, source: QueueSource, target: number, mid?: () => void): void {
  while (m.icount < target) {
    const r = runner.step(target, target);
    if (r !== "continue") throw new Error(`oracle: replay stopped (${r}) at icount ${m.icount} before ${target}`);
  }
  mid?.();
  for (let ev = source.peek(); ev && ev.icount === target && !SYNC_KINDS.has(ev.kind); ev = source.peek()) runner.step(target, target);
}

/**
 * Every position's value of `probe`, with the value between an instruction and the
 * events delivered after it: seq[2i] is position i's value; seq[2i-1] (i ≥ 1) the value
 * after instruction i-1 ran, before the events at i.
 */
export function valuesByPosition<T>(log: DebugLog, end: number, probe: (m: Machine) => T): T[] {
  const { m, runner, source } = replayRig(log);
  advanceTo(m, runner, source, 0);
  const seq: T[] = [probe(m)];
  for (let i = 1; i <= end; i++) {
    advanceTo(m, runner, source, i, () => seq.push(probe(m)));
    seq.push(probe(m));
  }
  return seq;
}

export function stateOf(m: Machine): string {
  return `${m.icount}/${m.pc}/${regsDigest(m)}/${memDigest(m)}`;
}
