// The disk device: every register and status, bounce-buffer semantics, the ordering rule
// for IO races, completions in any order recorded and replayed, snapshot with requests in
// flight, and the guest helpers in programs/lib/disk.s.
import fc from "fast-check";
import { pack, unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { PORT, VEC_DISK } from "../isa/ports.js";
import { assemble, LIB_DIR } from "../src/asm/index.js";
import { Bus, type DevicesState } from "../src/devices/bus.js";
import type { DiskGeometry } from "../src/devices/disk.js";
import { DISK_READ, DISK_REQUEST_BYTES_MAX, DISK_REQUESTS_MAX, DISK_STATUS, DISK_WRITE } from "../src/devices/disk.js";
import type { Event } from "../src/devices/events.js";
import { EV } from "../src/devices/events.js";
import { attachEngine } from "../src/host/engine.js";
import { LiveEnv } from "../src/replay/live.js";
import { LogDecoder, encodeLogHeader, type LogHeader } from "../src/replay/logformat.js";
import { MemoryDisk } from "../src/replay/memdisk.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner, traceDelivered } from "../src/replay/session.js";
import { QueueSource } from "../src/replay/source.js";
import { fakeWorld } from "../src/replay/world.js";
import { TraceDecoder, type TraceRecord } from "../src/trace/format.js";
import { Tracer } from "../src/trace/tracer.js";
import { memDigest, regsDigest } from "../src/vm/digest.js";
import { encodeImage, type Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { getMachineState, setMachineState, type MachineState } from "../src/vm/snapshot.js";

const GEO: DiskGeometry = { blocks: 64, blockBytes: 64 };
const MEM_BYTES = 64 * 1024;
const SPIN = "main: JMP main";

/** A machine with a disk on an in-memory back-end and a deterministic live environment. */
function rig(src: string | Image = SPIN, geometry: DiskGeometry = GEO) {
  const image = typeof src === "string" ? assemble(src, "disk.s", { includeDirs: [LIB_DIR] }) : src;
  const m = new Machine(image, { memBytes: MEM_BYTES, stackBytes: 4096 });
  const disk = new MemoryDisk(geometry);
  const events: Event[] = [];
  const bus = new Bus(m, undefined as never, { disk: geometry });
  const env = new LiveEnv(bus, { ...fakeWorld(1), disk }, (e) => events.push(e));
  bus.env = env;
  return { image, m, bus, env, disk, events };
}

/** Starts a request through the ports, as a guest would; returns DISK_START's value. */
function start(bus: Bus, op: number, block: number, count: number, addr: number, tag = 0): number {
  bus.out(PORT.DISK_OP, op);
  bus.out(PORT.DISK_BLOCK, block);
  bus.out(PORT.DISK_COUNT, count);
  bus.out(PORT.DISK_ADDR, addr);
  bus.out(PORT.DISK_TAG, tag);
  return bus.in(PORT.DISK_START);
}

/** Takes every waiting completion: [slot, status, tag] each. */
function takeAll(bus: Bus): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let s; (s = bus.in(PORT.DISK_DONE)) >= 0; ) out.push([s, bus.in(PORT.DISK_DONE_STATUS), bus.in(PORT.DISK_DONE_TAG)]);
  return out;
}

const fill = (n: number, v: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => v(i) & 255);

describe("disk registers and statuses", () => {
  it("geometry, parameter registers and DISK_CTRL read back; no disk reads 0 blocks", () => {
    const { bus } = rig();
    expect(bus.in(PORT.DISK_BLOCKS)).toBe(64);
    expect(bus.in(PORT.DISK_BLOCK_BYTES)).toBe(64);
    bus.out(PORT.DISK_OP, 2);
    bus.out(PORT.DISK_BLOCK, 7);
    bus.out(PORT.DISK_COUNT, 3);
    bus.out(PORT.DISK_ADDR, 128);
    bus.out(PORT.DISK_TAG, -5);
    bus.out(PORT.DISK_CTRL, 3);
    expect([PORT.DISK_OP, PORT.DISK_BLOCK, PORT.DISK_COUNT, PORT.DISK_ADDR, PORT.DISK_TAG, PORT.DISK_CTRL].map((p) => bus.in(p))).toEqual([2, 7, 3, 128, -5, 1]);
    expect(bus.in(PORT.DISK_PENDING)).toBe(0);
    expect(bus.in(PORT.DISK_READY)).toBe(0);
    expect(bus.in(PORT.DISK_DONE)).toBe(-1);
    const none = new Bus(new Machine(assemble(SPIN, "x.s")), undefined as never);
    expect(none.in(PORT.DISK_BLOCKS)).toBe(0);
    expect(start(none, DISK_READ, 0, 1, 0)).toBe(DISK_STATUS.E_RANGE);
  });

  it("refuses bad requests with a deterministic status, in the documented order, occupying nothing", () => {
    const { bus, env, disk } = rig();
    expect(start(bus, 0, 0, 1, 0)).toBe(DISK_STATUS.E_OP);
    expect(start(bus, 3, 0, 1, 0)).toBe(DISK_STATUS.E_OP);
    expect(start(bus, DISK_READ, 0, 0, 0)).toBe(DISK_STATUS.E_COUNT);
    expect(start(bus, DISK_READ, 0, DISK_REQUEST_BYTES_MAX / 64 + 1, 0)).toBe(DISK_STATUS.E_COUNT);
    expect(start(bus, DISK_READ, 0, -1, 0)).toBe(DISK_STATUS.E_COUNT);
    expect(start(bus, DISK_READ, 63, 2, 0)).toBe(DISK_STATUS.E_RANGE);
    expect(start(bus, DISK_READ, -1, 1, 0)).toBe(DISK_STATUS.E_RANGE);
    expect(start(bus, DISK_WRITE, 0, 1, 2)).toBe(DISK_STATUS.E_ADDR);
    expect(start(bus, DISK_WRITE, 0, 1, MEM_BYTES - 60)).toBe(DISK_STATUS.E_ADDR);
    expect(start(bus, DISK_WRITE, 0, 1, -4)).toBe(DISK_STATUS.E_ADDR);
    // The checks go in order: an unknown op with a bad count is E_OP, a bad count out of range is E_COUNT.
    expect(start(bus, 9, 0, 0, 1)).toBe(DISK_STATUS.E_OP);
    expect(start(bus, DISK_READ, 99, 0, 1)).toBe(DISK_STATUS.E_COUNT);
    expect(start(bus, DISK_READ, 99, 1, 1)).toBe(DISK_STATUS.E_RANGE);
    expect(bus.in(PORT.DISK_PENDING)).toBe(0);
    env.submitDisk();
    expect(disk.submitted).toEqual([]);
    // The whole disk, the last block and the largest request are fine.
    expect(start(bus, DISK_READ, 0, 64, 0)).toBe(0);
    expect(start(bus, DISK_READ, 63, 1, MEM_BYTES - 64)).toBe(1);
    const big = rig(SPIN, { blocks: 4096, blockBytes: 64 });
    expect(start(big.bus, DISK_READ, 0, DISK_REQUEST_BYTES_MAX / 64 + 1, 0)).toBe(DISK_STATUS.E_COUNT);
    expect(start(big.bus, DISK_READ, 0, DISK_REQUEST_BYTES_MAX / 64, 0)).toBe(0);
  });

  it("slots: DISK_REQUESTS_MAX outstanding, then DISK_E_FULL; a slot frees when DISK_DONE takes it", () => {
    const { bus, env, disk } = rig();
    for (let i = 0; i < DISK_REQUESTS_MAX; i++) expect(start(bus, DISK_READ, i, 1, i * 64, 100 + i)).toBe(i);
    expect(start(bus, DISK_READ, 9, 1, 4096)).toBe(DISK_STATUS.E_FULL);
    expect(bus.in(PORT.DISK_PENDING)).toBe(DISK_REQUESTS_MAX);
    env.submitDisk();
    expect(env.diskRequestsInFlight).toBe(DISK_REQUESTS_MAX);
    disk.complete(5); // slot 5
    disk.complete(0); // slot 0
    expect(bus.in(PORT.DISK_READY)).toBe(0); // posted, not yet delivered
    expect(env.pump()).toBe(2);
    expect(bus.in(PORT.DISK_READY)).toBe(2);
    expect(bus.in(PORT.DISK_PENDING)).toBe(DISK_REQUESTS_MAX);
    // Taken in delivery order, with their tags; still full until taken.
    expect(start(bus, DISK_READ, 9, 1, 4096)).toBe(DISK_STATUS.E_FULL);
    expect(takeAll(bus)).toEqual([
      [5, DISK_STATUS.OK, 105],
      [0, DISK_STATUS.OK, 100],
    ]);
    expect(bus.in(PORT.DISK_PENDING)).toBe(DISK_REQUESTS_MAX - 2);
    expect(start(bus, DISK_READ, 9, 1, 4096, 7)).toBe(0); // the lowest free slot
    expect(bus.in(PORT.DISK_DONE_TAG)).toBe(100); // latched until the next DISK_DONE
  });

  it("a host I/O error completes with DISK_E_IO and leaves memory untouched", () => {
    const { m, bus, env, disk } = rig();
    disk.bytes.fill(0xee);
    m.mem.fill(0x11, 0, 64);
    expect(start(bus, DISK_READ, 0, 1, 0, 1)).toBe(0);
    env.submitDisk();
    disk.failSeqs.add(disk.submitted[0].seq);
    disk.complete(0);
    env.pump();
    expect(takeAll(bus)).toEqual([[0, DISK_STATUS.E_IO, 1]]);
    expect(m.mem.subarray(0, 64).every((b) => b === 0x11)).toBe(true);
  });

  it("a completion that matches no issued request is refused with a reason", () => {
    const { bus } = rig();
    expect(start(bus, DISK_READ, 0, 1, 0)).toBe(0);
    expect(() => bus.deliver(EV.DISK_DONE, { slot: 0, seq: 99, status: 0, data: new Uint8Array(64) })).toThrow(/completion of request 99 in slot 0, which holds request 1/);
    expect(() => bus.deliver(EV.DISK_DONE, { slot: 3, seq: 1, status: 0 })).toThrow(/slot 3, which holds nothing/);
    expect(() => bus.deliver(EV.DISK_DONE, { slot: 0, seq: 1, status: 0, data: new Uint8Array(10) })).toThrow(/completed with 10 bytes, expected 64/);
    expect(() => bus.deliver(EV.DISK_DONE, { slot: 0, seq: 1, status: -3 })).toThrow(/neither DISK_OK nor DISK_E_IO/);
    expect(() => bus.deliver(EV.DISK_DONE, 5)).toThrow(/must be \{slot, seq, status, data\?\}/);
  });

  it("a guest with a disk needs a back-end on the live side", () => {
    const m = new Machine(assemble(SPIN, "x.s"));
    const bus = new Bus(m, undefined as never, { disk: GEO });
    expect(() => new LiveEnv(bus, fakeWorld(), () => undefined)).toThrow(/no disk back-end/);
    expect(() => new Bus(m, undefined as never, { disk: { blocks: 4, blockBytes: 100 } })).toThrow(/power of two/);
  });
});

describe("bounce buffers", () => {
  it("a read lands in memory only when its completion is delivered, all at once", () => {
    const { m, bus, env, disk, events } = rig();
    disk.bytes.set(fill(128, (i) => i + 1), 64); // blocks 1 and 2
    m.mem.fill(0x77, 1024, 1024 + 128);
    expect(start(bus, DISK_READ, 1, 2, 1024, 9)).toBe(0);
    env.submitDisk();
    expect(m.mem.subarray(1024, 1024 + 128).every((b) => b === 0x77)).toBe(true);
    disk.complete(0); // the host finished: still not in guest memory
    expect(m.mem.subarray(1024, 1024 + 128).every((b) => b === 0x77)).toBe(true);
    expect(events).toHaveLength(0);
    env.pump();
    expect(m.mem.subarray(1024, 1024 + 128)).toEqual(fill(128, (i) => i + 1));
    // The log carries the bytes read (a replay needs no disk).
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: EV.DISK_DONE, icount: 0, data: { slot: 0, seq: 1, status: 0 } });
    expect((events[0].data as { data: Uint8Array }).data).toEqual(fill(128, (i) => i + 1));
  });

  it("a write's bytes are captured at DISK_START: later stores to the buffer do not reach the disk", () => {
    const { m, bus, env, disk, events } = rig();
    m.mem.set(fill(64, (i) => i * 3), 256);
    expect(start(bus, DISK_WRITE, 4, 1, 256)).toBe(0);
    m.mem.fill(0xaa, 256, 320); // the guest reuses its buffer at once
    env.submitDisk();
    expect(disk.submitted[0].data).toEqual(fill(64, (i) => i * 3));
    disk.complete(0);
    env.pump();
    expect(disk.bytes.subarray(4 * 64, 5 * 64)).toEqual(fill(64, (i) => i * 3));
    // A write's completion carries no bytes.
    expect((events[0].data as { data?: unknown }).data).toBeUndefined();
  });

  it("with DISK_CTRL bit 0 a completion raises VEC_DISK, and waits while interrupts are disabled", () => {
    const src = `
      .include "disk.s"
      .data
      got: .word 0
      .code
      main:
          SETVEC VEC_DISK, on_disk
          LI r1, 1
          OUT DISK_CTRL, r1
          LI r1, DISK_READ
          LI r2, 3
          LI r3, 1
          LI r4, 512
          LI r5, 42
          CALL disk_start
          MOV r9, r1
          LDW r8, [512]          ; before the completion: still zero
          LI r10, 200
      spin: ADDI r10, r10, -1    ; interrupts still disabled: the completion waits
          BNEZ r10, spin
          EI
          WFI
          HALT
      on_disk:
          IN r1, DISK_DONE
          IN r2, DISK_DONE_TAG
          STW r2, [got]
          LDW r7, [512]
          IRET`;
    const { m, bus, env, disk, events } = rig(src);
    disk.bytes.set([1, 2, 3, 4], 3 * 64);
    const runner = new LiveRunner(bus, env, { sliceIcount: 20 });
    runner.step(); // starts the read (and submits it)
    expect(disk.inFlight).toBe(1);
    disk.complete(0);
    for (let i = 0; i < 200 && !m.halted; i++) runner.step();
    expect(m.halted).toBe(true);
    expect(m.regs[9]).toBe(0);
    expect(m.regs[8]).toBe(0);
    expect(m.regs[7]).toBe(0x04030201);
    expect(m.mem[0]).toBe(42);
    // Delivered after EI's shadow, not during the spin with interrupts disabled.
    expect(events).toHaveLength(1);
    expect(events[0].icount).toBeGreaterThan(400);
    expect(VEC_DISK).toBe(2);
  });
});

describe("ordering rule for IO races", () => {
  it("a write waits for an earlier overlapping write; the later write's bytes win", () => {
    const { m, bus, env, disk } = rig();
    m.mem.fill(1, 0, 128);
    m.mem.fill(2, 128, 256);
    expect(start(bus, DISK_WRITE, 10, 2, 0, 1)).toBe(0);
    expect(start(bus, DISK_WRITE, 11, 2, 128, 2)).toBe(1); // overlaps block 11
    expect(start(bus, DISK_WRITE, 20, 1, 0, 3)).toBe(2); // independent
    env.submitDisk();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 3]);
    expect(bus.disk.waiting().map((r) => r.tag)).toEqual([2]);
    disk.complete(1); // the independent one may finish first
    env.pump();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 3]);
    disk.complete(0);
    env.pump(); // delivers write 1, which issues write 2
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 3, 2]);
    disk.complete(0);
    env.pump();
    expect(takeAll(bus).map((t) => t[2])).toEqual([3, 1, 2]);
    expect(disk.bytes[10 * 64]).toBe(1);
    expect(disk.bytes[11 * 64]).toBe(2);
    expect(disk.bytes[12 * 64]).toBe(2);
  });

  it("a read after a write to the same block returns the written bytes; reads of one block run together", () => {
    const { m, bus, env, disk } = rig();
    m.mem.fill(9, 0, 64);
    expect(start(bus, DISK_WRITE, 5, 1, 0, 1)).toBe(0);
    expect(start(bus, DISK_READ, 5, 1, 1024, 2)).toBe(1);
    expect(start(bus, DISK_READ, 5, 1, 2048, 3)).toBe(2); // read-read: no conflict with each other
    env.submitDisk();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1]);
    disk.complete(0);
    env.pump();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 2, 3]);
    disk.completeSome(2, (n) => n - 1); // in reverse order
    env.pump();
    expect(m.mem.subarray(1024, 1088).every((b) => b === 9)).toBe(true);
    expect(m.mem.subarray(2048, 2112).every((b) => b === 9)).toBe(true);
    expect(takeAll(bus).map((t) => t[2])).toEqual([1, 3, 2]);
  });

  it("two reads into overlapping memory run one after the other, in start order: the later read's bytes stay", () => {
    const { m, bus, env, disk } = rig();
    disk.bytes.fill(0xa1, 0, 64);
    disk.bytes.fill(0xb2, 64 * 8, 64 * 9);
    expect(start(bus, DISK_READ, 0, 1, 4096, 1)).toBe(0);
    expect(start(bus, DISK_READ, 8, 1, 4096 + 32, 2)).toBe(1); // memory overlaps by 32 bytes
    env.submitDisk();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1]);
    disk.complete(0);
    env.pump();
    disk.complete(0);
    env.pump();
    expect(m.mem[4096]).toBe(0xa1);
    expect(m.mem[4096 + 32]).toBe(0xb2);
    expect(m.mem[4096 + 95]).toBe(0xb2);
  });

  it("a chain waits in start order: C conflicts only with B, which waits for A", () => {
    const { bus, env, disk } = rig();
    expect(start(bus, DISK_WRITE, 0, 2, 0, 1)).toBe(0); // A: blocks 0-1
    expect(start(bus, DISK_WRITE, 1, 2, 0, 2)).toBe(1); // B: blocks 1-2, after A
    expect(start(bus, DISK_READ, 2, 1, 0, 3)).toBe(2); // C: block 2, after B
    env.submitDisk();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1]);
    disk.complete(0);
    env.pump();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 2]);
    disk.complete(0);
    env.pump();
    expect(disk.submitted.map((r) => r.tag)).toEqual([1, 2, 3]);
  });
});

// ---- record → replay with completions in random orders ---------------------------------

const OPS = [
  // start a request (some are bad on purpose): op, block, count, address, tag
  "DI\nLI r1, %op\nLI r2, %blk\nLI r3, %cnt\nLI r4, %addr\nMOV r5, r13\nCALL disk_start\nADD r12, r12, r1\nEI",
  "DI\nLI r1, %op\nLI r2, %blk\nLI r3, %cnt\nLI r4, %addr\nMOV r5, r13\nCALL disk_start\nADD r12, r12, r1\nEI",
  "DI\nLI r1, %op\nLI r2, %blk\nLI r3, %cnt\nLI r4, %addr\nMOV r5, r13\nCALL disk_start\nADD r12, r12, r1\nEI",
  // the guest scribbles over its buffers (write data was captured at start)
  "LI r1, %addr & -4\nSTW r13, [r1]",
  // and reads them (a read's data lands only at delivery)
  "LI r1, %addr & -4\nLDW r2, [r1]\nADD r11, r11, r2",
  "IN r1, DISK_PENDING\nADD r11, r11, r1",
  "DI\nADDI r10, r10, 1\nEI",
  // sleep until a completion when some request is outstanding
  "DI\nIN r1, DISK_PENDING\nBEQZ r1, skip%u\nEI\nWFI\nskip%u: EI",
];

const gen = fc.record({
  iterations: fc.integer({ min: 1, max: 12 }),
  body: fc.array(
    fc.record({
      op: fc.integer({ min: 0, max: OPS.length - 1 }),
      rw: fc.constantFrom(DISK_READ, DISK_WRITE, DISK_WRITE, DISK_READ, 0),
      blk: fc.integer({ min: 0, max: 9 }),
      cnt: fc.constantFrom(1, 1, 2, 3, 0),
      addr: fc.constantFrom(1024, 1056, 1088, 1152, 1280, 1282, 2048),
    }),
    { minLength: 1, maxLength: 16 },
  ),
});

interface GenProgram {
  iterations: number;
  body: { op: number; rw: number; blk: number; cnt: number; addr: number }[];
}

function genSource(p: GenProgram): string {
  const body = p.body
    .map((x, i) =>
      OPS[x.op]
        .replace(/%op/g, String(x.rw))
        .replace(/%blk/g, String(x.blk))
        .replace(/%cnt/g, String(x.cnt))
        .replace(/%addr/g, String(x.addr))
        .replace(/%u/g, String(i)),
    )
    .join("\n");
  return `
.include "disk.s"
.code
main:
    SETVEC VEC_DISK, on_disk
    LI r1, 1
    OUT DISK_CTRL, r1
    LI r13, ${p.iterations}
    EI
loop:
${body}
    ADDI r13, r13, -1
    BNEZ r13, loop
drain:
    DI
    IN r1, DISK_PENDING
    BEQZ r1, done
    EI
    WFI
    JMP drain
done:
    HALT
on_disk:
    PUSH r1
    PUSH r2
next:
    IN r1, DISK_DONE
    BLT r1, r0, out
    IN r2, DISK_DONE_STATUS
    ADD r14, r14, r2
    IN r2, DISK_DONE_TAG
    MULI r14, r14, 31
    ADD r14, r14, r2
    LDW r2, [1024]
    XOR r14, r14, r2
    JMP next
out:
    POP r2
    POP r1
    IRET
`;
}

function decodeTrace(chunks: Uint8Array[]): TraceRecord[] {
  const d = new TraceDecoder();
  for (const c of chunks) d.push(c);
  d.readHeader();
  const out: TraceRecord[] = [];
  for (let b; (b = d.nextRecords()); ) out.push(...b);
  d.finish();
  return out;
}

/** A seeded generator for completion choices (xorshift32). */
function prng(seed: number): (n: number) => number {
  // Small seeds are spread over all 32 bits first: xorshift's first outputs echo the seed.
  let s = Math.imul(seed ^ (seed >>> 16), 0x45d9f3b) >>> 0 || 1;
  s = Math.imul(s ^ (s >>> 16), 0x45d9f3b) >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

interface Timing {
  seed: number;
  slices: number[];
  burst: number[];
}

/** Runs live, completing requests in a seeded random order between slices; returns the log and trace. */
function recordDisk(image: Image, t: Timing, compiled: boolean, diskImage?: Uint8Array) {
  const m = new Machine(image, { memBytes: MEM_BYTES, stackBytes: 4096 });
  if (compiled) attachEngine(m);
  const disk = new MemoryDisk(GEO, diskImage);
  const events: Event[] = [];
  const chunks: Uint8Array[] = [];
  const tracer = new Tracer(m, { image: encodeImage(image), intervalIcount: 29, program: "gen", role: "record" }, (c) => chunks.push(c));
  const bus = new Bus(m, undefined as never, { disk: GEO });
  const env = new LiveEnv(bus, { ...fakeWorld(t.seed), disk }, (e) => events.push(e), { stopAfterInput: true, onDelivered: traceDelivered(tracer) });
  bus.env = env;
  const pick = prng(t.seed);
  let r: string = "continue";
  for (let step = 0; step < 200_000; step++) {
    disk.completeSome(t.burst[step % t.burst.length], pick);
    const runner = new LiveRunner(bus, env, { sliceIcount: t.slices[step % t.slices.length], tracer, maxIcount: 50_000 });
    r = runner.step();
    if (r === "halted" || r === "trapped" || r === "max-icount") {
      runner.end(r);
      break;
    }
    // A waiting guest with nothing in flight and nothing queued would wait forever.
    if (r === "waiting" && disk.inFlight === 0 && !env.hasPending()) throw new Error(`deadlock at icount ${m.icount}`);
    if (r === "waiting" && disk.inFlight > 0 && !env.hasPending()) disk.completeSome(1, pick);
  }
  tracer.flush();
  return { m, bus, events, disk, trace: decodeTrace(chunks), result: r };
}

function replayDisk(image: Image, events: Event[], slice: number, compiled: boolean, from?: { machine: MachineState; devices: DevicesState; lsn: number }, stopAt?: number) {
  const m = new Machine(image, { memBytes: MEM_BYTES, stackBytes: 4096 });
  if (compiled) attachEngine(m);
  const bus = new Bus(m, undefined as never, { disk: GEO });
  if (from) {
    setMachineState(m, from.machine);
    bus.setState(from.devices);
  }
  const chunks: Uint8Array[] = [];
  const tracer = new Tracer(m, { image: encodeImage(image), intervalIcount: 29, program: "gen", role: "replay" }, (c) => chunks.push(c));
  const src = new QueueSource();
  src.push(events.filter((e) => e.lsn > (from?.lsn ?? 0)));
  const env = new ReplayEnv(bus, src, { stopAfterInput: true });
  env.lastLsn = from?.lsn ?? 0;
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { sliceIcount: slice, tracer });
  for (let guard = 0; guard < 1_000_000 && (stopAt === undefined || m.icount < stopAt); guard++) {
    const r = runner.step(m.icount, stopAt);
    if (r === "end") break;
    if (r === "needs-log") throw new Error(`replay stalled at icount ${m.icount}`);
  }
  tracer.flush();
  return { m, bus, env, trace: decodeTrace(chunks) };
}

const timing = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  slices: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 }),
  burst: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 6 }),
});

describe("record → replay with the disk", () => {
  it("gives the identical trace and final state for generated disk programs and any completion order", () => {
    const initial = fill(GEO.blocks * GEO.blockBytes, (i) => (i * 7) ^ (i >> 6));
    fc.assert(
      fc.property(gen, timing, fc.integer({ min: 1, max: 500 }), fc.boolean(), fc.boolean(), (p, t, replaySlice, recC, repC) => {
        const image = assemble(genSource(p), "gen.s", { includeDirs: [LIB_DIR] });
        const rec = recordDisk(image, t, recC, initial);
        expect(rec.result).toBe("halted");
        expect(rec.bus.disk.pending()).toBe(0);
        const rep = replayDisk(image, rec.events, replaySlice, repC);
        expect(rep.trace).toEqual(rec.trace);
        expect(regsDigest(rep.m)).toBe(regsDigest(rec.m));
        expect(memDigest(rep.m)).toBe(memDigest(rec.m));
        expect(rep.bus.getState()).toEqual(rec.bus.getState());
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it("with the ordering rule, final memory and disk do not depend on the order the host completes requests in", () => {
    // Every request starts before any completion is delivered (interrupts stay disabled),
    // so only the completion order varies: writes and reads to one block, reads into one
    // buffer. Without the rule, the two writes to block 3 could land in either order.
    const src = `
      .include "disk.s"
      .code
      main:
          SETVEC VEC_DISK, on_disk
          LI r1, 1
          OUT DISK_CTRL, r1
          LI r7, 1024
      fillbuf:
          STW r7, [r7]
          ADDI r7, r7, 4
          SLTI r1, r7, 1536
          BNEZ r1, fillbuf
          ${[
            [DISK_WRITE, 2, 2, 1024],
            [DISK_WRITE, 10, 1, 1024],
            [DISK_READ, 3, 1, 1280],
            [DISK_READ, 12, 1, 1472],
            [DISK_WRITE, 3, 1, 1088],
            [DISK_WRITE, 13, 2, 1100],
            [DISK_READ, 2, 2, 1280],
            [DISK_WRITE, 3, 2, 1152],
            [DISK_READ, 4, 1, 1312],
            [DISK_WRITE, 4, 1, 1216],
            [DISK_READ, 3, 1, 1400],
          ]
            .map(([op, b, c, a], i) => `LI r1, ${op}\nLI r2, ${b}\nLI r3, ${c}\nLI r4, ${a}\nLI r5, ${i}\nCALL disk_start`)
            .join("\n")}
      drain:
          DI
          IN r1, DISK_PENDING
          BEQZ r1, done
          EI
          WFI
          JMP drain
      done:
          HALT
      on_disk:
          IN r1, DISK_DONE
          BGE r1, r0, on_disk
          IRET`;
    const image = assemble(src, "order.s", { includeDirs: [LIB_DIR] });
    const outcomes = new Set<string>();
    const orders = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const rec = recordDisk(image, { seed, slices: [1 + (seed % 7), 13], burst: [0, 0, 0, seed % 3] }, false, fill(4096, (i) => i * 5));
      expect(rec.result).toBe("halted");
      outcomes.add(`${Buffer.from(rec.m.mem.subarray(1024, 1536)).toString("hex")}/${Buffer.from(rec.disk.bytes).toString("hex")}`);
      orders.add(rec.events.filter((e) => e.kind === EV.DISK_DONE).map((e) => (e.data as { seq: number }).seq).join(","));
    }
    expect(orders.size).toBeGreaterThan(10); // the host really completed them in many orders
    expect(outcomes.size).toBe(1);
  });
});

describe("disk snapshot", () => {
  it("save → restore → continue with requests in flight gives the same trace; write bytes travel in the state", () => {
    const p = {
      iterations: 8,
      body: [
        { op: 0, rw: DISK_WRITE, blk: 1, cnt: 2, addr: 1024 },
        { op: 3, rw: 0, blk: 0, cnt: 0, addr: 1024 },
        { op: 1, rw: DISK_READ, blk: 2, cnt: 1, addr: 1152 },
        { op: 2, rw: DISK_WRITE, blk: 5, cnt: 1, addr: 1280 },
        { op: 4, rw: 0, blk: 0, cnt: 0, addr: 1152 },
        { op: 0, rw: DISK_READ, blk: 1, cnt: 1, addr: 1152 },
      ],
    };
    const image = assemble(genSource(p), "gen.s", { includeDirs: [LIB_DIR] });
    const rec = recordDisk(image, { seed: 5, slices: [7, 3, 50], burst: [0, 1, 0, 2] }, false, fill(4096, (i) => i));
    expect(rec.result).toBe("halted");
    const whole = replayDisk(image, rec.events, 37, false);
    let withWritesInFlight = 0;
    for (const e of rec.events.filter((x) => x.kind === EV.DISK_DONE)) {
      const at = e.icount; // just before a completion: its request is in flight
      const first = replayDisk(image, rec.events, 37, false, undefined, at);
      expect(first.m.icount).toBe(at);
      const inFlight = first.bus.disk.inFlight();
      expect(inFlight.length).toBeGreaterThan(0);
      if (inFlight.some((r) => r.op === DISK_WRITE)) withWritesInFlight++;
      // Encode and decode, as a clone sent over the network would be.
      const saved = unpack(pack({ machine: getMachineState(first.m), devices: first.bus.getState(), lsn: first.env.lastLsn }));
      const rest = replayDisk(image, rec.events, 41, false, saved);
      expect(rest.m.halted).toBe(true);
      expect([...first.trace, ...rest.trace]).toEqual(whole.trace);
      // A restored device lists every in-flight request for its new host to issue again, write bytes included.
      const b = new Bus(new Machine(image, { memBytes: MEM_BYTES, stackBytes: 4096 }), undefined as never, { disk: GEO });
      b.setState(saved.devices);
      expect(b.disk.takeIssued()).toEqual(inFlight);
    }
    expect(withWritesInFlight).toBeGreaterThan(0);
  });

  it("a new live host re-issues the requests in flight from device state alone, and the run completes", () => {
    const p = { iterations: 4, body: [{ op: 0, rw: DISK_WRITE, blk: 1, cnt: 1, addr: 1024 }, { op: 1, rw: DISK_READ, blk: 2, cnt: 1, addr: 1152 }] };
    const image = assemble(genSource(p), "gen.s", { includeDirs: [LIB_DIR] });
    const a = rig(image);
    const runner = new LiveRunner(a.bus, a.env, { sliceIcount: 1000 });
    runner.step(); // runs until the guest waits with requests in flight
    expect(a.bus.disk.inFlight().length).toBeGreaterThan(0);
    const saved = unpack(pack({ machine: getMachineState(a.m), devices: a.bus.getState() }));
    // The old host's back-end is gone; a new one takes over from the state.
    const b = rig(image);
    setMachineState(b.m, saved.machine);
    b.bus.setState(saved.devices);
    const r2 = new LiveRunner(b.bus, b.env, { sliceIcount: 1000 });
    for (let i = 0; i < 1000 && !b.m.halted; i++) {
      b.disk.completeSome(8, () => 0);
      r2.step();
    }
    expect(b.m.halted).toBe(true);
    expect(b.disk.submitted[0].seq).toBe(a.bus.disk.inFlight()[0].seq);
    expect(b.disk.bytes.subarray(64, 128)).toEqual(a.disk.submitted.find((r) => r.op === DISK_WRITE)!.data);
  });

  it("refuses a state for another disk geometry", () => {
    const a = new Bus(new Machine(assemble(SPIN, "x.s")), undefined as never, { disk: GEO });
    const b = new Bus(new Machine(assemble(SPIN, "x.s")), undefined as never, { disk: { blocks: 32, blockBytes: 64 } });
    expect(() => b.setState(a.getState())).toThrow(/disk state is for 64 blocks of 64 bytes, this disk has 32 of 64/);
    expect(start(a, DISK_WRITE, 0, 1, 0)).toBe(0);
    const d = a.getState();
    const slot = (d.disk.slots as { state: string; data: unknown }[])[0];
    expect(() => a.setState({ ...d, disk: { ...d.disk, slots: [{ ...slot, data: null }] } })).toThrow(/slot 0 with a write without its bytes/);
    expect(() => a.setState({ ...d, disk: { ...d.disk, slots: [{ ...slot, state: "lost" }] } })).toThrow(/slot 0 in an unknown state lost/);
    expect(() => a.setState({ ...d, disk: { ...d.disk, version: 9 } })).toThrow(/disk state version 9, expected 1/);
  });

  it("a log header carries the disk geometry; a bad one is refused as corrupt", () => {
    const h = { image: new Uint8Array(8), memBytes: 4096, stackBytes: 64, unloggedRand: false, program: "p" };
    const read = (x: object) => {
      const dec = new LogDecoder();
      dec.push(encodeLogHeader(x as LogHeader));
      return dec.readHeader();
    };
    expect(read({ ...h, disk: GEO })!.disk).toEqual(GEO);
    expect(read(h)!.disk).toBeUndefined();
    expect(() => read({ ...h, disk: { blocks: 4, blockBytes: 3 } })).toThrow(/bad disk geometry: block size 3 must be a power of two/);
  });
});

describe("programs/lib/disk.s", () => {
  it("disk_cksum is FNV-1a over words, and keeps the register convention", () => {
    const src = `
      .include "disk.s"
      .data
      w: .word 1, 2, 0xdeadbeef
      .code
      main:
          LI r7, 77
          LI r14, 1414
          LI r1, w
          LI r2, 3
          CALL disk_cksum
          HALT`;
    const { m } = rig(src);
    m.run(1000);
    let h = 0x811c9dc5;
    for (const x of [1, 2, 0xdeadbeef]) h = Math.imul(h ^ x, 0x01000193);
    expect(m.regs[1] >>> 0).toBe(h >>> 0);
    expect(m.regs[7]).toBe(77);
    expect(m.regs[14]).toBe(1414);
  });
});
