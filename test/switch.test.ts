// The virtual switch as a pure state machine (src/net/switch.ts), the node's side of the
// NIC under FT (src/ft/netgate.ts) and the primary's input queue (src/net/queue.ts).
import { describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import { CONN, NET_CONNS_MAX, type NetChunk } from "../src/devices/nic.js";
import { NetGate } from "../src/ft/netgate.js";
import { NET_QUEUE_BYTES_MAX, NetQueue } from "../src/net/queue.js";
import { Bus } from "../src/devices/bus.js";
import { nicReport } from "../src/ft/netgate.js";
import { Machine } from "../src/vm/machine.js";
import { asm } from "./helpers.js";
import { SWITCH_INFLIGHT_BYTES_MAX, SWITCH_PAUSE_BYTES, Switch, type InputEvent } from "../src/net/switch.js";

const te = new TextEncoder();
const td = new TextDecoder();

function fakeIo() {
  const io = {
    written: new Map<number, string>(),
    ended: new Set<number>(),
    destroyed: new Set<number>(),
    logs: [] as string[],
    write(c: number, b: Uint8Array) {
      io.written.set(c, (io.written.get(c) ?? "") + td.decode(b));
    },
    end(c: number) {
      io.ended.add(c);
    },
    destroy(c: number) {
      io.destroyed.add(c);
    },
    log(l: string) {
      io.logs.push(l);
    },
  };
  return io;
}

/** Forwarded events as readable strings: "open 0", "rx 0 abc", "close 0". */
function show(evs: InputEvent[]): string[] {
  return evs.map(([k, c, b]) => (k === EV.NET_OPEN ? `open ${c}` : k === EV.NET_RX ? `rx ${c} ${td.decode(b)}` : `close ${c}`));
}

function opened(sw: Switch): { conn: number; gen: number } {
  const r = sw.open();
  if ("refused" in r) throw new Error(r.refused);
  return r;
}

describe("virtual switch: input", () => {
  it("holds input without a primary, forwards it with stream order to the live primary, and forgets what is durable", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const { conn, gen } = opened(sw);
    expect([conn, gen]).toEqual([0, 1]);
    sw.data(conn, te.encode("PING\r\n"));
    expect(sw.forward()).toEqual([]); // no primary yet: held
    expect(sw.live("A", 1, [], [])).toEqual({ ok: true, redelivered: 0 });
    expect(show(sw.forward())).toEqual(["open 0", "rx 0 PING\r\n"]);
    expect(sw.forward()).toEqual([]); // nothing twice
    sw.data(conn, te.encode("abc"));
    expect(show(sw.forward())).toEqual(["rx 0 abc"]);
    expect(sw.retainedBytes(conn)).toBe(9);
    sw.ack("B", [[conn, gen, 1, 9, 0]]); // not the primary: ignored
    expect(sw.retainedBytes(conn)).toBe(9);
    sw.ack("A", [[conn, gen, 1, 6, 0]]);
    expect(sw.retainedBytes(conn)).toBe(3);
  });

  it("after a failover re-delivers, per connection, exactly what the new primary's guest had not received", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    const b = opened(sw);
    const c = opened(sw);
    sw.live("A", 1, [], []);
    sw.data(a.conn, te.encode("abcdef"));
    sw.data(b.conn, te.encode("xyz"));
    sw.end(b.conn);
    sw.data(c.conn, te.encode("late"));
    expect(show(sw.forward())).toEqual(["open 0", "rx 0 abcdef", "open 1", "rx 1 xyz", "close 1", "open 2", "rx 2 late"]);
    sw.ack("A", [[a.conn, a.gen, 1, 3, 0]]);
    sw.hostGone("A");
    sw.data(a.conn, te.encode("gh"));
    expect(sw.forward()).toEqual([]); // between primaries: held
    // The new primary's guest got "abcd" on 0, all of 1 but not its close, and never saw 2 open.
    // It went live: what its guest has is durable (it serves alone).
    const r = sw.live(
      "B",
      2,
      [
        [a.conn, a.gen, CONN.OPEN, 4],
        [b.conn, b.gen, CONN.OPEN, 3],
      ],
      [
        [a.conn, a.gen, 1, 4, 0],
        [b.conn, b.gen, 1, 3, 0],
      ],
    );
    expect(r).toEqual({ ok: true, redelivered: 2 + 0 + 4 });
    expect(show(sw.forward()).sort()).toEqual(["close 1", "open 2", "rx 0 efgh", "rx 2 late"]);
    expect(sw.stats.redeliveredBytes).toBe(6);
    // A report beyond what the switch holds is a logged inconsistency, never a crash.
    sw.hostGone("B");
    expect(sw.live("C", 3, [[a.conn, a.gen, CONN.OPEN, 999]], [[a.conn, a.gen, 1, 999, 0]]).ok).toBe(true);
    expect(io.logs.some((l) => /received 999 bytes/.test(l))).toBe(true);
  });

  it("a paired primary announcing itself again after a channel reset keeps what its backup lacks (sim --net --seed 2462)", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("P", 1, [], []);
    sw.data(a.conn, te.encode("0123456789"));
    sw.forward();
    // P's guest got all 10 bytes; its backup acknowledged the log through the first 6.
    sw.ack("P", [[a.conn, a.gen, 1, 6, 0]]);
    sw.hostGone("P");
    // P's new channel: the switch takes it as a new primary; it forgets only the durable 6.
    expect(sw.live("P", 1, [[a.conn, a.gen, CONN.OPEN, 10]], [[a.conn, a.gen, 1, 6, 0]]).ok).toBe(true);
    expect(sw.retainedBytes(a.conn)).toBe(4);
    // The backup wins the next epoch with the 6 bytes it has: it gets the other 4 again.
    sw.hostGone("P");
    expect(sw.live("B", 2, [[a.conn, a.gen, CONN.OPEN, 6]], [[a.conn, a.gen, 1, 6, 0]])).toEqual({ ok: true, redelivered: 4 });
    expect(show(sw.forward())).toEqual(["rx 0 6789"]);
    expect(io.logs.some((l) => /resuming from the nearest/.test(l))).toBe(false);
  });

  it("the same host announcing a later epoch (a backup paired) changes nothing it was forwarded", () => {
    const sw = new Switch(fakeIo());
    const a = opened(sw);
    sw.live("A", 1, [], []);
    sw.data(a.conn, te.encode("abc"));
    expect(show(sw.forward())).toEqual(["open 0", "rx 0 abc"]);
    expect(sw.live("A", 2, [], [])).toEqual({ ok: true, redelivered: 0 });
    expect(sw.forward()).toEqual([]);
    expect(sw.epoch).toBe(2);
  });

  it("bounds: pauses a client at SWITCH_PAUSE_BYTES, disconnects one past its limit with a log line, limits what is in flight, refuses when ids run out", () => {
    const io = fakeIo();
    const sw = new Switch(io, 2, 2 * SWITCH_PAUSE_BYTES, 1000);
    const a = opened(sw);
    expect(sw.data(a.conn, new Uint8Array(SWITCH_PAUSE_BYTES - 1))).toBe("ok");
    expect(sw.data(a.conn, new Uint8Array(1))).toBe("pause");
    expect(sw.data(a.conn, new Uint8Array(SWITCH_PAUSE_BYTES + 1))).toBe("overflow");
    expect(io.destroyed.has(a.conn)).toBe(true);
    expect(io.logs.join("\n")).toMatch(/sent more than 2097152 bytes the primary has not made durable; disconnected/);
    expect(sw.stats.overflowDisconnects).toBe(1);
    sw.live("A", 1, [], []);
    const evs = sw.forward();
    expect(evs.filter((e) => e[0] === EV.NET_RX).reduce((n, e) => n + e[2]!.length, 0)).toBe(1000); // the in-flight window
    sw.ack("A", [[a.conn, a.gen, 1, 1000, 0]]);
    expect(sw.forward().reduce((n, e) => n + (e[2]?.length ?? 0), 0)).toBe(1000);
    expect(sw.resumable(a.conn)).toBe(false);
    opened(sw);
    expect(sw.open()).toEqual({ refused: "all 2 connection ids are in use" });
    expect(sw.stats.refusedClients).toBe(1);
  });

  it("the default in-flight window of every connection at once fits the primary's input queue", () => {
    // The primary refuses (and reconnects) a switch that forwards more than its queue holds:
    // a correct switch must never get there, even with every connection's window full.
    const sw = new Switch(fakeIo());
    const conns = Array.from({ length: NET_CONNS_MAX }, () => opened(sw));
    for (const c of conns) sw.data(c.conn, new Uint8Array(SWITCH_PAUSE_BYTES));
    sw.live("A", 1, [], []);
    const q = new NetQueue();
    for (let evs = sw.forward(); evs.length > 0; evs = sw.forward()) for (const e of evs) expect(q.push(e[0], e[1], e[2])).toBe(true);
    expect(q.queuedBytes).toBe(NET_CONNS_MAX * SWITCH_INFLIGHT_BYTES_MAX);
    expect(q.queuedBytes).toBeLessThanOrEqual(NET_QUEUE_BYTES_MAX);
  });

  it("refuses clients and drops every connection once nobody can serve", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("A", 1, [], []);
    sw.serviceLost("no host is left");
    expect(io.destroyed.has(a.conn)).toBe(true);
    expect(sw.open()).toEqual({ refused: "no host is left" });
    expect(sw.forward()).toEqual([]);
    expect(sw.live("B", 2, [], []).ok).toBe(false);
  });
});

describe("virtual switch: input without copies", () => {
  it("forwards a piece that one client read holds as a view of that read, and a piece spanning reads as a copy, both byte-exact", () => {
    const sw = new Switch(fakeIo());
    const { conn } = opened(sw);
    sw.live("A", 1, [], []);
    sw.forward(); // the open
    const read1 = te.encode("hello ");
    const read2 = te.encode("world");
    sw.data(conn, read1);
    const [[, , one]] = sw.forward();
    // Within one read: the same memory (no pass over the bytes), the same bytes.
    expect(one!.buffer).toBe(read1.buffer);
    expect(td.decode(one)).toBe("hello ");
    // A re-delivery from the middle of two reads (a new primary that got 3 bytes) copies.
    sw.data(conn, read2);
    sw.hostGone("A");
    sw.live("B", 2, [[conn, 1, CONN.OPEN, 3]], []);
    const evs = sw.forward().filter(([k]) => k === EV.NET_RX);
    expect(evs.map(([, , b]) => td.decode(b))).toEqual(["lo world"]);
    expect(evs[0][2]!.buffer).not.toBe(read1.buffer);
    expect(evs[0][2]!.buffer).not.toBe(read2.buffer);
  });
});

describe("virtual switch: output", () => {
  it("writes each byte once: drops what a new primary re-sends, writes only the new part of an overlap, drops a gap", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("A", 1, [], []);
    expect(sw.output(1, [[a.conn, a.gen, 0, te.encode("hello"), 0]])).toBe(true);
    expect(sw.output(2, [[a.conn, a.gen, 0, te.encode("hello"), 0]])).toBe(true);
    expect(sw.output(2, [[a.conn, a.gen, 3, te.encode("lo world"), 0]])).toBe(true);
    expect(io.written.get(a.conn)).toBe("hello world");
    expect(sw.stats.duplicateChunks).toBe(2);
    expect(sw.stats.duplicateBytes).toBe(5 + 2);
    sw.output(2, [[a.conn, a.gen, 20, te.encode("gap"), 0]]);
    sw.output(2, [[a.conn, a.gen, "x" as never, te.encode("bad"), 0], "junk" as never]);
    expect(io.written.get(a.conn)).toBe("hello world");
    expect(io.logs.some((l) => /offset 20, but only 11 bytes were written/.test(l))).toBe(true);
    expect(io.logs.filter((l) => /malformed output chunk/.test(l))).toHaveLength(2);
    expect(sw.stats.bytesOut).toBe(11);
  });

  it("fencing: refuses output and announcements from an epoch older than the newest it has seen", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("A", 1, [], []);
    sw.live("B", 3, [], []);
    expect(sw.output(2, [[a.conn, a.gen, 0, te.encode("stale"), 0]])).toBe(false);
    expect(io.written.get(a.conn)).toBeUndefined();
    expect(sw.live("A", 2, [], [])).toEqual({ ok: false, reason: "epoch 2 is older than the switch's epoch 3" });
    expect(sw.stats.staleRefused).toBe(2);
    expect(sw.primary).toBe("B");
  });

  it("reuses an id only after the guest closed it and its NET_CLOSE is durable; late output of the old connection is a duplicate", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("A", 1, [], []);
    sw.data(a.conn, te.encode("GET k\r\n"));
    expect(show(sw.forward())).toEqual(["open 0", "rx 0 GET k\r\n"]);
    sw.data(a.conn, te.encode("unread"));
    sw.output(1, [
      [a.conn, a.gen, 0, te.encode("$-1\r\n"), 0],
      [a.conn, a.gen, 5, new Uint8Array(0), 1],
    ]);
    expect(io.ended.has(a.conn)).toBe(true);
    // The guest closed: input it was not given is dropped, and the NIC is told the peer is done.
    expect(show(sw.forward())).toEqual(["close 0"]);
    expect(opened(sw).conn).toBe(1); // 0 is not free until that close is durable
    sw.ack("A", [[a.conn, a.gen, 1, 7, 1]]);
    expect(sw.connsInUse).toBe(1);
    expect(opened(sw)).toEqual({ conn: 0, gen: 2 });
    const before = sw.stats.duplicateChunks;
    sw.output(1, [[0, 1, 0, te.encode("$-1\r\n"), 0]]);
    expect(sw.stats.duplicateChunks).toBe(before + 1);
    expect(sw.writtenMarks()).toContainEqual([0, 2, 0, 0]);
  });

  it("a new primary that reports a connection closed on both sides frees it once the close chunk arrives", () => {
    const io = fakeIo();
    const sw = new Switch(io);
    const a = opened(sw);
    sw.live("A", 1, [], []);
    sw.end(a.conn);
    sw.forward();
    sw.live("B", 2, [[a.conn, a.gen, CONN.FREE, 0]], [[a.conn, a.gen, 1, 0, 1]]);
    expect(sw.forward()).toEqual([]); // its close reached the guest already
    expect(sw.connsInUse).toBe(1);
    sw.output(2, [[a.conn, a.gen, 0, te.encode("bye"), 1]]);
    expect(io.written.get(a.conn)).toBe("bye");
    expect(sw.connsInUse).toBe(0);
  });
});

describe("the NIC under FT: the node's gate and the primary's queue", () => {
  const chunk = (conn: number, generation: number, offset: number, s: string, close = false): NetChunk => ({ conn, generation, offset, bytes: te.encode(s), close });

  it("holds output until the log is acknowledged through its icount", () => {
    const g = new NetGate();
    g.hold([chunk(0, 1, 0, "a")], 10);
    g.hold([chunk(0, 1, 1, "b")], 20);
    expect(g.release(9)).toEqual([]);
    expect(g.release(15).map((c) => td.decode(c.bytes))).toEqual(["a"]);
    expect(g.heldCount).toBe(1);
    expect(g.release(Number.MAX_SAFE_INTEGER).map((c) => td.decode(c.bytes))).toEqual(["b"]);
    expect(g.heldBytes).toBe(0);
  });

  it("a backup keeps replayed output until the switch wrote it, including a close and older generations", () => {
    const g = new NetGate();
    g.keep([chunk(0, 1, 0, "abc"), chunk(0, 1, 3, "", true), chunk(1, 2, 0, "xy"), chunk(1, 2, 2, "z")]);
    g.trim([
      [0, 1, 3, 0],
      [1, 2, 2, 0],
    ]);
    expect(g.takeKept().map((c) => [c.conn, td.decode(c.bytes), c.close])).toEqual([
      [0, "", true],
      [1, "z", false],
    ]);
    g.keep([chunk(0, 1, 3, "", true), chunk(1, 2, 2, "z")]);
    g.trim([
      [0, 1, 3, 1],
      [1, 3, 0, 0],
    ]);
    expect(g.keptBytes).toBe(0);
    expect(g.takeKept()).toEqual([]);
  });

  it("reports input durable per connection as the log is acknowledged", () => {
    const g = new NetGate();
    const gens = [0, 4];
    const nic = { generations: gens } as never;
    g.noteLogged({ lsn: 5, icount: 1, kind: EV.NET_OPEN, data: { conn: 0 } }, nic);
    gens[0] = 1; // the NIC applies the open after it is logged
    g.noteLogged({ lsn: 6, icount: 2, kind: EV.NET_RX, data: { conn: 0, bytes: te.encode("abc") } }, nic);
    g.noteLogged({ lsn: 7, icount: 3, kind: EV.NET_RX, data: { conn: 1, bytes: te.encode("de") } }, nic);
    g.noteLogged({ lsn: 8, icount: 3, kind: EV.TIMER, data: 0 }, nic);
    expect(g.durableThrough(4)).toEqual([]);
    expect(g.durableThrough(6)).toEqual([[0, 1, 1, 3, 0]]);
    expect(g.durableThrough(6)).toEqual([]);
    expect(g.durableThrough(100)).toEqual([[1, 4, 0, 2, 0]]);
  });

  it("the NIC counts received bytes per connection (dropped ones too), restarts at an open, and keeps the count in its state", () => {
    const bus = new Bus(new Machine(asm("main: HALT"), { memBytes: 128 * 1024 }), undefined as never);
    const nic = bus.nic;
    nic.apply(EV.NET_OPEN, { conn: 3 });
    nic.apply(EV.NET_RX, { conn: 3, bytes: te.encode("hello") });
    expect(nic.receivedBytes[3]).toBe(5);
    expect(nicReport(nic)).toEqual([[3, 1, CONN.OPEN, 5]]);
    const copy = new Bus(new Machine(asm("main: HALT"), { memBytes: 128 * 1024 }), undefined as never);
    copy.setState(bus.getState());
    expect(copy.nic.receivedBytes[3]).toBe(5);
    nic.conn = 3;
    expect(nic.close()).toBe(0);
    nic.apply(EV.NET_RX, { conn: 3, bytes: te.encode("late") });
    expect(nic.receivedBytes[3]).toBe(9);
    nic.apply(EV.NET_CLOSE, { conn: 3 });
    nic.apply(EV.NET_OPEN, { conn: 3 });
    expect(nicReport(nic)).toEqual([[3, 2, CONN.OPEN, 0]]);
  });

  it("the primary's queue gives connections fair turns and splits data to what fits", () => {
    const q = new NetQueue();
    expect(q.push(EV.NET_OPEN, 0)).toBe(true);
    q.push(EV.NET_RX, 0, te.encode("abcdef"));
    q.push(EV.NET_OPEN, 1);
    q.push(EV.NET_RX, 1, te.encode("xy"));
    expect(q.push(99, 0)).toBe(false);
    const taken: string[] = [];
    for (let e = q.take(4); e; e = q.take(4)) taken.push(e.kind === EV.NET_RX ? `${e.data.conn}:${td.decode(e.data.bytes)}` : `${e.kind}:${e.data.conn}`);
    expect(taken).toEqual([`${EV.NET_OPEN}:0`, `${EV.NET_OPEN}:1`, "0:abcd", "1:xy", "0:ef"]);
    expect(q.ready(0)).toBe(false);
    expect(q.queuedBytes).toBe(0);
  });
});
