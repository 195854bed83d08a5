// The network card: its registers and statuses, the connection-id rules it shares with
// the NetInbox, record → replay equality of network runs of the guest Redis server fed by
// a seeded fake back-end, snapshot → restore → continue, and the TCP server's limits.
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { pack, unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { assembleFile } from "../src/asm/assembler.js";
import { Bus, type DevicesState } from "../src/devices/bus.js";
import { EV, type Event } from "../src/devices/events.js";
import { NET_CONNS_MAX, NET_E, NET_REC, NET_RX_BYTES_MAX, NET_SEND_BYTES_MAX, NET_TX_BYTES_MAX, type NetChunk } from "../src/devices/nic.js";
import { NetServer } from "../src/host/netserver.js";
import { LiveEnv } from "../src/replay/live.js";
import { NetInbox } from "../src/net/inbox.js";
import { ReplayEnv } from "../src/replay/replay.js";
import { LiveRunner, ReplayRunner } from "../src/replay/session.js";
import { QueueSource } from "../src/replay/source.js";
import { fakeWorld } from "../src/replay/world.js";
import { attachEngine } from "../src/host/engine.js";
import type { Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { getMachineState, setMachineState, type MachineState } from "../src/vm/snapshot.js";
import { asm, boot } from "./helpers.js";

const te = new TextEncoder();
const td = new TextDecoder();
const REDIS = fileURLToPath(new URL("../programs/redis.s", import.meta.url));
const REDIS_MEM = 16 * 1024 * 1024;

function bare(memBytes = 128 * 1024) {
  const m = new Machine(asm("main: HALT"), { memBytes });
  const bus = new Bus(m, undefined as never);
  return { m, bus, nic: bus.nic };
}

describe("NIC device", () => {
  it("takes open, data (in pieces) and close records, and numbers what the guest sends per connection", () => {
    const { m, bus, nic } = bare();
    expect(nic.recv()).toBe(NET_REC.NONE);
    nic.conn = 3;
    nic.len = 1;
    expect(nic.send()).toBe(NET_E.BADCONN);
    expect(nic.close()).toBe(NET_E.BADCONN);

    bus.deliver(EV.NET_OPEN, { conn: 3 });
    bus.deliver(EV.NET_RX, { conn: 3, bytes: te.encode("abcdef") });
    expect(nic.recordsWaiting()).toBe(2);
    expect(nic.recv()).toBe(NET_REC.OPEN);
    expect(nic.rxConn).toBe(3);
    nic.addr = 200;
    nic.len = 4;
    expect(nic.recv()).toBe(NET_REC.DATA);
    expect([nic.rxConn, nic.rxLen]).toEqual([3, 4]);
    expect(td.decode(m.mem.subarray(200, 204))).toBe("abcd");
    expect(nic.recv()).toBe(NET_REC.DATA);
    expect(nic.rxLen).toBe(2);
    expect(td.decode(m.mem.subarray(200, 202))).toBe("ef");
    expect(nic.recv()).toBe(NET_REC.NONE);

    m.mem.set(te.encode("hello"), 100);
    nic.addr = 100;
    nic.len = 5;
    expect(nic.send()).toBe(5);
    expect(nic.send()).toBe(5);
    expect(nic.sent()).toBe(10);
    nic.len = NET_SEND_BYTES_MAX + 1;
    expect(nic.send()).toBe(NET_E.TOOBIG);
    nic.len = 0;
    expect(nic.send()).toBe(0);

    // The peer finishes; the guest may still answer (half-close), then closes.
    bus.deliver(EV.NET_CLOSE, { conn: 3 });
    expect(nic.recv()).toBe(NET_REC.CLOSE);
    nic.len = 2;
    expect(nic.send()).toBe(2);
    expect(nic.close()).toBe(0);
    expect(nic.close()).toBe(NET_E.BADCONN);
    expect(nic.send()).toBe(NET_E.BADCONN);

    const out = nic.drainOutput().map((c) => ({ ...c, bytes: td.decode(c.bytes) }));
    expect(out).toEqual([
      { conn: 3, generation: 1, offset: 0, bytes: "hello", close: false },
      { conn: 3, generation: 1, offset: 5, bytes: "hello", close: false },
      { conn: 3, generation: 1, offset: 10, bytes: "he", close: false },
      { conn: 3, generation: 1, offset: 12, bytes: "", close: true },
    ]);
    expect(nic.drainOutput()).toEqual([]);

    // The id is free again: a new connection gets a new generation and starts at offset 0.
    bus.deliver(EV.NET_OPEN, { conn: 3 });
    nic.len = 1;
    expect(nic.send()).toBe(1);
    expect(nic.drainOutput()[0]).toMatchObject({ conn: 3, generation: 2, offset: 0 });
  });

  it("drops what arrives after the guest closed, and frees the id silently on the host's confirmation", () => {
    const { bus, nic } = bare();
    bus.deliver(EV.NET_OPEN, { conn: 4 });
    expect(nic.recv()).toBe(NET_REC.OPEN);
    nic.conn = 4;
    expect(nic.close()).toBe(0);
    bus.deliver(EV.NET_RX, { conn: 4, bytes: te.encode("late") });
    expect(nic.droppedBytes).toBe(4);
    bus.deliver(EV.NET_CLOSE, { conn: 4 });
    expect(nic.recordsWaiting()).toBe(0);
    bus.deliver(EV.NET_OPEN, { conn: 4 });
    expect(nic.recv()).toBe(NET_REC.OPEN);

    // The peer finished and the guest closes before taking the records: they are dropped,
    // so the stale close can never be read as the close of the id's next connection.
    bus.deliver(EV.NET_RX, { conn: 4, bytes: te.encode("unread") });
    bus.deliver(EV.NET_CLOSE, { conn: 4 });
    bus.deliver(EV.NET_OPEN, { conn: 5 });
    expect(nic.close()).toBe(0);
    expect(nic.recordsWaiting()).toBe(1);
    expect(nic.rxBytesFree()).toBe(NET_RX_BYTES_MAX);
    bus.deliver(EV.NET_OPEN, { conn: 4 });
    expect(nic.recv()).toBe(NET_REC.OPEN);
    expect(nic.rxConn).toBe(5);
    expect(nic.recv()).toBe(NET_REC.OPEN);
    expect(nic.rxConn).toBe(4);
    expect(nic.generations[4]).toBe(3);
  });

  it("refuses inconsistent events with a clear error (a host bug or a corrupted log)", () => {
    const { bus } = bare();
    expect(() => bus.deliver(EV.NET_RX, { conn: 1, bytes: te.encode("x") })).toThrow(/not open/);
    expect(() => bus.deliver(EV.NET_CLOSE, { conn: 1 })).toThrow(/not open/);
    expect(() => bus.deliver(EV.NET_OPEN, { conn: NET_CONNS_MAX })).toThrow(/connection id/);
    expect(() => bus.deliver(EV.NET_OPEN, null)).toThrow(/connection id/);
    bus.deliver(EV.NET_OPEN, { conn: 1 });
    expect(() => bus.deliver(EV.NET_OPEN, { conn: 1 })).toThrow(/in use/);
    expect(() => bus.deliver(EV.NET_RX, { conn: 1, bytes: "x" })).toThrow(/bytes/);
    expect(() => bus.deliver(EV.NET_RX, { conn: 1, bytes: new Uint8Array(bus.nic.rxBytesFree() + 1) })).toThrow(/do not fit/);
  });

  it("traps on a buffer outside data memory without taking or sending anything", () => {
    const { m, bus, nic } = bare();
    bus.deliver(EV.NET_OPEN, { conn: 0 });
    nic.recv();
    nic.conn = 0;
    nic.addr = m.memBytes - 2;
    nic.len = 5;
    nic.send();
    expect(m.trap?.kind).toBe("memory-out-of-bounds");
    expect(m.trap?.detail).toMatch(/NET_SEND/);
    expect(nic.sent()).toBe(0);
    expect(nic.drainOutput()).toEqual([]);

    const b = bare();
    b.bus.deliver(EV.NET_OPEN, { conn: 0 });
    b.bus.deliver(EV.NET_RX, { conn: 0, bytes: te.encode("abc") });
    b.nic.recv();
    b.nic.addr = -1;
    b.nic.len = 3;
    b.nic.recv();
    expect(b.m.trap?.kind).toBe("memory-out-of-bounds");
    expect(b.nic.recordsWaiting()).toBe(1);
  });

  it("asks the machine to stop before the transmit buffer could overflow; undrained, it reports FULL", () => {
    const { m, bus, nic } = bare(1024 * 1024);
    bus.deliver(EV.NET_OPEN, { conn: 0 });
    nic.conn = 0;
    nic.addr = 0;
    nic.len = NET_SEND_BYTES_MAX;
    let sends = 0;
    while (!m.stopRequested) {
      expect(nic.send()).toBe(NET_SEND_BYTES_MAX);
      sends++;
    }
    // Every send before the stop fitted; one more would not, so the host drains at the stop.
    expect(sends).toBe(Math.floor(NET_TX_BYTES_MAX / NET_SEND_BYTES_MAX));
    expect(nic.send()).toBe(NET_E.FULL);
    nic.drainOutput();
    expect(nic.send()).toBe(NET_SEND_BYTES_MAX);
  });

  it("is reached through its ports", () => {
    const b = boot(`
main:
    IN r1, NET_CONNS
    IN r2, NET_RECV
    LI r3, 7
    OUT NET_CONN, r3
    IN r4, NET_SEND
    IN r5, NET_CONN
    LI r6, 1
    OUT NET_CTRL, r6
    IN r6, NET_CTRL
    LI r7, 0x40
    OUT NET_ADDR, r7
    IN r7, NET_ADDR
    LI r8, 9
    OUT NET_LEN, r8
    IN r8, NET_LEN
    IN r9, NET_STATUS
    IN r10, NET_CLOSE
    IN r11, NET_SENT
    HALT`);
    b.runAll();
    expect(Array.from(b.m.regs.subarray(1, 12))).toEqual([NET_CONNS_MAX, NET_REC.NONE, 7, NET_E.BADCONN, 7, 1, 0x40, 9, 0, NET_E.BADCONN, 0]);
  });
});

describe("NetInbox", () => {
  it("reuses an id only after the guest had its close and closed it; keeps each connection's order; takes turns", () => {
    const ib = new NetInbox(2, 100);
    expect(ib.open()).toBe(0);
    expect(ib.open()).toBe(1);
    expect(ib.open()).toBeUndefined();
    expect(ib.data(0, te.encode("aaaa"))).toBe(true);
    expect(ib.data(1, te.encode("b"))).toBe(true);
    expect(ib.data(0, new Uint8Array(97))).toBe(false); // over its bound: the caller disconnects
    ib.end(0);
    const kinds: string[] = [];
    for (let e; (e = ib.take(3)); ) kinds.push(`${e.kind}:${e.data.conn}:${e.data.bytes ? td.decode(e.data.bytes) : ""}`);
    expect(kinds).toEqual([`${EV.NET_OPEN}:0:`, `${EV.NET_OPEN}:1:`, `${EV.NET_RX}:0:aaa`, `${EV.NET_RX}:1:b`, `${EV.NET_RX}:0:a`, `${EV.NET_CLOSE}:0:`]);
    expect(ib.open()).toBeUndefined(); // 0 had its close, but the guest has not closed it
    ib.guestClosed(0);
    expect(ib.open()).toBe(0);
    // A guest close first: queued data is dropped, NET_CLOSE confirms, then the id is free.
    ib.data(1, te.encode("zz"));
    ib.guestClosed(1);
    expect(ib.ready(0)).toBe(true);
    expect(ib.take(0)).toMatchObject({ kind: EV.NET_OPEN, data: { conn: 0 } });
    expect(ib.take(0)).toMatchObject({ kind: EV.NET_CLOSE, data: { conn: 1 } });
    expect(ib.take(10)).toBeUndefined();
    expect(ib.open()).toBe(1);
  });
});

// ---- the guest Redis server under a seeded fake network ----

/** xorshift32: the fake back-end's only source of choices. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** Top-level RESP2 replies (simple, error, integer, bulk), each as its text without the final CRLF. */
function splitReplies(s: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < s.length; ) {
    let end = s.indexOf("\r\n", at);
    if (end < 0) throw new Error(`incomplete reply at ${at}: ${JSON.stringify(s.slice(at))}`);
    if (s[at] === "$" && s[at + 1] !== "-") end = s.indexOf("\r\n", end + 2 + Number(s.slice(at + 1, end)));
    out.push(s.slice(at, end));
    at = end + 2;
  }
  return out;
}

function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${te.encode(a).length}\r\n${a}\r\n`).join("")}`;
}

interface Client {
  id: number | undefined;
  /** Bytes still to send, in the fragments they will go in. */
  pieces: Uint8Array[];
  ended: boolean;
  replies: string;
  expectReplies: number;
}

let redisImage: Image | undefined;
function redis(): Image {
  return (redisImage ??= assembleFile(REDIS));
}

/**
 * Runs redis.s live with a NetInbox driven by a seeded schedule: clients connect, send
 * commands cut into random fragments, and finish, interleaved at random; slices are random
 * too. Returns the log, every drained output chunk and each client's replies.
 */
function liveRun(seed: number, clients = 12) {
  const rand = rng(seed);
  const m = new Machine(redis(), { memBytes: REDIS_MEM });
  attachEngine(m);
  const events: Event[] = [];
  const inbox = new NetInbox();
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, { ...fakeWorld(seed), net: inbox }, (e) => events.push(e));
  bus.env = env;
  const output: NetChunk[] = [];
  const cs: Client[] = [];
  for (let k = 0; k < clients; k++) {
    let text = "";
    let n = 0;
    for (let j = 0; j < 1 + rand(6); j++, n++) {
      const pick = rand(5);
      text += pick === 0 ? resp("INCR", "shared") : pick === 1 ? resp("SET", `k${k}`, `v${j}`) : pick === 2 ? resp("GET", `k${k}`) : pick === 3 ? "PING\r\n" : resp("INCRBY", "shared", "10");
    }
    const bytes = te.encode(text);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = 1 + rand(Math.min(40, bytes.length - at));
      pieces.push(bytes.subarray(at, at + len));
      at += len;
    }
    cs.push({ id: undefined, pieces, ended: false, replies: "", expectReplies: n });
  }
  const byId = new Map<number, Client>();
  const runner = new LiveRunner(bus, env, { sliceIcount: 50 + rand(5000) });
  for (let guard = 0; guard < 100_000; guard++) {
    // One random action of the outside world per step.
    const waiting = cs.filter((c) => c.id === undefined);
    const active = cs.filter((c) => c.id !== undefined && !c.ended);
    const r = rand(3);
    if (waiting.length > 0 && (r === 0 || active.length === 0)) {
      const c = waiting[rand(waiting.length)];
      const id = inbox.open();
      if (id !== undefined) {
        c.id = id;
        byId.set(id, c);
      }
    } else if (active.length > 0) {
      const c = active[rand(active.length)];
      // The peer may finish right after its last bytes: the guest still answers (half-close).
      if (c.pieces.length > 0) inbox.data(c.id!, c.pieces.shift()!);
      else {
        c.ended = true;
        inbox.end(c.id!);
      }
    }
    const res = runner.step();
    expect(res === "continue" || res === "waiting").toBe(true);
    for (const ch of bus.nic.drainOutput()) {
      output.push(ch);
      const c = byId.get(ch.conn)!;
      c.replies += td.decode(ch.bytes);
      if (ch.close) {
        inbox.guestClosed(ch.conn);
        byId.delete(ch.conn);
      }
    }
    if (cs.every((c) => c.ended) && byId.size === 0) break;
  }
  expect(byId.size).toBe(0);
  runner.end("done");
  return { events, output, cs, m, bus };
}

function replayRun(events: Event[], opts: { snapshotAt?: number } = {}) {
  const make = () => {
    const m = new Machine(redis(), { memBytes: REDIS_MEM });
    attachEngine(m);
    const bus = new Bus(m, undefined as never);
    return { m, bus };
  };
  let { m, bus } = make();
  const src = new QueueSource();
  src.push(events);
  let env = new ReplayEnv(bus, src);
  bus.env = env;
  let runner = new ReplayRunner(bus, env, { sliceIcount: 777 });
  const output: NetChunk[] = [];
  let snapped = opts.snapshotAt === undefined;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const r = runner.step(m.icount, snapped ? undefined : opts.snapshotAt);
    if (!snapped && m.icount === opts.snapshotAt) {
      // Snapshot without draining (pending output is part of the state), through msgpack as
      // a clone would send it, into a brand-new machine that continues from there.
      const wire = pack({ machine: getMachineState(m), devices: bus.getState(), lsn: env.lastLsn });
      const s = unpack(wire) as { machine: MachineState; devices: DevicesState; lsn: number };
      ({ m, bus } = make());
      setMachineState(m, s.machine);
      bus.setState(s.devices);
      env = new ReplayEnv(bus, src);
      env.lastLsn = s.lsn;
      bus.env = env;
      runner = new ReplayRunner(bus, env, { sliceIcount: 777 });
      snapped = true;
    }
    output.push(...bus.nic.drainOutput());
    if (r === "end") return { output, m };
    if (r === "needs-log") throw new Error(`replay stalled at icount ${m.icount}`);
  }
  throw new Error("replay did not end");
}

describe("record → replay of network runs (redis.s, seeded fake back-end)", () => {
  const flat = (chunks: NetChunk[]) => chunks.map((c) => [c.conn, c.generation, c.offset, td.decode(c.bytes), c.close]);

  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: every client is answered, INCR replies are unique, and replay transmits the same bytes`, () => {
      const run = liveRun(seed);
      // Each client got one reply per command, in order, and the shared counter never repeated.
      const counters: number[] = [];
      for (const c of run.cs) {
        const replies = splitReplies(c.replies);
        expect(replies.length).toBe(c.expectReplies);
        for (const r of replies) if (r.startsWith(":")) counters.push(Number(r.slice(1)));
        expect(replies.filter((r) => r.startsWith("-"))).toEqual([]);
      }
      expect(new Set(counters).size).toBe(counters.length);
      expect(run.events.some((e) => e.kind === EV.NET_RX)).toBe(true);
      const kinds = new Set(run.events.map((e) => e.kind));
      expect([EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE].every((k) => kinds.has(k))).toBe(true);

      const rep = replayRun(run.events);
      expect(flat(rep.output)).toEqual(flat(run.output));
      expect(rep.m.icount).toBe(run.m.icount);
    });
  }

  it("snapshot → restore → continue in the middle of a network run transmits the same bytes", () => {
    const run = liveRun(7);
    const mid = run.events.filter((e) => e.kind === EV.NET_RX)[5].icount + 3;
    const whole = replayRun(run.events);
    const resumed = replayRun(run.events, { snapshotAt: mid });
    expect(flat(resumed.output)).toEqual(flat(whole.output));
    expect(resumed.m.icount).toBe(whole.m.icount);
  });
});

describe("TCP server limits", () => {
  it("refuses a connection beyond its connection ids, with a log line", async () => {
    const logs: string[] = [];
    const net = await NetServer.listen({ port: 0, log: (l) => logs.push(l), connsMax: 2 });
    try {
      const { port } = net.address();
      // One at a time, so the server has accepted each before the next arrives.
      const socks = [];
      for (let i = 0; i < 2; i++) {
        socks.push(connect(port, "127.0.0.1").on("error", () => undefined));
        for (let t = 0; t < 200 && net.inbox.connsInUse <= i; t++) await new Promise((r) => setTimeout(r, 5));
      }
      expect(net.inbox.connsInUse).toBe(2);
      const third = connect(port, "127.0.0.1").on("error", () => undefined);
      socks.push(third);
      await new Promise<void>((r) => third.on("close", () => r()));
      expect(socks[0].destroyed || socks[1].destroyed).toBe(false);
      expect(logs.join("\n")).toMatch(/refused 127\.0\.0\.1:\d+: all 2 connection ids are in use/);
      for (const s of socks) s.destroy();
    } finally {
      await net.close();
    }
  });

  it("disconnects a client that overflows its input bound, with a log line, and keeps serving others", async () => {
    const logs: string[] = [];
    const net = await NetServer.listen({ port: 0, log: (l) => logs.push(l), connBytesMax: 1000, pauseBytes: 1 << 20 });
    try {
      const { port } = net.address();
      const hog = connect(port, "127.0.0.1");
      const closed = new Promise<void>((resolve) => hog.on("close", () => resolve()));
      hog.on("error", () => undefined);
      hog.on("connect", () => hog.write(new Uint8Array(64 * 1024)));
      await closed;
      expect(logs.join("\n")).toMatch(/sent more than 1000 bytes the guest has not read; disconnected/);
      // The guest sees an ordinary open and close (the unread bytes are dropped).
      const seen: number[] = [];
      for (let e; (e = net.inbox.take(1 << 20)); ) seen.push(e.kind);
      expect(seen).toEqual([EV.NET_OPEN, EV.NET_CLOSE]);

      const ok = connect(port, "127.0.0.1");
      ok.on("error", () => undefined);
      await new Promise<void>((resolve) => ok.on("connect", () => resolve()));
      ok.write("PING\r\n");
      const got: string[] = [];
      for (let i = 0; i < 200 && got.length < 2; i++) {
        const e = net.inbox.take(100);
        if (e) got.push(e.kind === EV.NET_RX ? td.decode(e.data.bytes!) : String(e.kind));
        else await new Promise((r) => setTimeout(r, 10));
      }
      expect(got).toEqual([String(EV.NET_OPEN), "PING\r\n"]);
      ok.destroy();
    } finally {
      await net.close();
    }
  });
});
