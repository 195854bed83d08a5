// Snapshot (machine + devices) → restore → continue gives the same trace as a run that
// never stopped; the state survives encoding (as cloning will send it); bad states are
// refused with a reason.
import { pack, unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { Bus, type DevicesState } from "../src/devices/bus.js";
import type { Event } from "../src/devices/events.js";
import { LiveEnv } from "../src/replay/live.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner } from "../src/replay/session.js";
import { QueueSource } from "../src/replay/source.js";
import { fakeWorld } from "../src/replay/world.js";
import { TraceDecoder, type TraceRecord } from "../src/trace/format.js";
import { Tracer } from "../src/trace/tracer.js";
import { encodeImage, type Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { getMachineState, setMachineState, type MachineState } from "../src/vm/snapshot.js";
import { asm } from "./helpers.js";

const PROGRAM = `
.data
count: .word 0
buf: .zero 64
.code
main:
    SETVEC VEC_TIMER, tick
    SETVEC VEC_CONSOLE, rx
    LI r1, 300
    OUT TIMER_PERIOD, r1
    LI r1, 1
    OUT CON_CTRL, r1
    EI
    LI r5, 3000
loop:
    RAND r2
    ANDI r3, r2, 60
    STW r2, [r3+buf]
    ADDI r5, r5, -1
    BNEZ r5, loop
    HALT
tick:
    PUSH r1
    LDW r1, [count]
    ADDI r1, r1, 1
    STW r1, [count]
    POP r1
    IRET
rx:
    PUSH r1
rx_more:
    IN r1, CON_IN
    SLTI r4, r1, 0
    BEQZ r4, rx_more
    POP r1
    IRET
`;

function decode(chunks: Uint8Array[]): TraceRecord[] {
  const d = new TraceDecoder();
  for (const c of chunks) d.push(c);
  d.readHeader();
  const out: TraceRecord[] = [];
  for (let b; (b = d.nextRecords()); ) out.push(...b);
  return out;
}

function recordRun(image: Image): Event[] {
  const m = new Machine(image);
  const events: Event[] = [];
  const world = fakeWorld(3, 1, 7);
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, world, (e) => events.push(e));
  bus.env = env;
  const runner = new LiveRunner(bus, env, { sliceIcount: 97 });
  for (let i = 0; ; i++) {
    if (i % 13 === 0) env.postConsole(new Uint8Array([i & 255, 1, 2]));
    const r = runner.step();
    if (r === "halted") break;
  }
  runner.end("halted");
  return events;
}

/** Replays `events` from a given machine/devices state (or from boot) to the end, tracing. */
function replayFrom(image: Image, events: Event[], from?: { machine: MachineState; devices: DevicesState; lsn: number }, stopAt?: number) {
  const m = new Machine(image);
  const bus = new Bus(m, undefined as never);
  if (from) {
    setMachineState(m, from.machine);
    bus.setState(from.devices);
  }
  const chunks: Uint8Array[] = [];
  const tracer = new Tracer(m, { image: encodeImage(image), intervalIcount: 50, program: "p", role: "replay" }, (c) => chunks.push(c));
  const src = new QueueSource();
  src.push(events.filter((e) => e.lsn > (from?.lsn ?? 0)));
  const env = new ReplayEnv(bus, src, { stopAfterInput: true });
  env.lastLsn = from?.lsn ?? 0;
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { tracer, sliceIcount: 41 });
  while (stopAt === undefined || m.icount < stopAt) {
    const r = runner.step(m.icount, stopAt);
    if (r === "end") break;
    expect(r).not.toBe("needs-log");
  }
  tracer.flush();
  return { m, bus, env, trace: decode(chunks) };
}

describe("snapshot", () => {
  it("save → restore → continue gives the same trace as an uninterrupted run", () => {
    const image = asm(PROGRAM);
    const events = recordRun(image);
    const whole = replayFrom(image, events);
    expect(whole.m.halted).toBe(true);
    for (const at of [1, 500, 4321, 9000]) {
      const first = replayFrom(image, events, undefined, at);
      expect(first.m.icount).toBe(at);
      // Encode and decode, as a clone sent over the network would be.
      const saved = unpack(pack({ machine: getMachineState(first.m), devices: first.bus.getState(), lsn: first.env.lastLsn }));
      const rest = replayFrom(image, events, saved);
      expect(rest.m.halted).toBe(true);
      // The two halves together are exactly the uninterrupted trace.
      expect([...first.trace, ...rest.trace]).toEqual(whole.trace);
      expect(rest.trace.length).toBeGreaterThan(10);
    }
  });

  it("refuses a state of another version or another program, with a reason", () => {
    const a = new Machine(asm("main: HALT"));
    const b = new Machine(asm("main: NOP\nHALT"));
    const s = getMachineState(a);
    expect(() => setMachineState(b, s)).toThrow(/another program/);
    expect(() => setMachineState(a, { ...s, version: 99 })).toThrow(/version 99, expected 1/);
    const bus = new Bus(a, undefined as never);
    const d = bus.getState();
    expect(() => bus.setState({ ...d, timer: { ...d.timer, version: 7 } })).toThrow(/timer state version 7, expected 1/);
  });
});

