// A client that does not read its replies, piece by piece (issue 18, point 2): the pure
// switch holds its input back and keeps telling hosts how far output was written after
// it is cut off; the plain run's inbox holds it back from the guest; ReplyBacklog slows,
// resumes and disconnects a real socket by its named limits.
import { once } from "node:events";
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import { ReplyBacklog } from "../src/host/reply-backlog.js";
import { Switch, type InputEvent } from "../src/net/switch.js";
import { NetInbox } from "../src/net/inbox.js";

const te = new TextEncoder();
const td = new TextDecoder();

function io() {
  const o = {
    written: new Map<number, string>(),
    destroyed: new Set<number>(),
    ended: new Set<number>(),
    logs: [] as string[],
    write: (c: number, b: Uint8Array) => o.written.set(c, (o.written.get(c) ?? "") + td.decode(b)),
    end: (c: number) => o.ended.add(c),
    destroy: (c: number) => o.destroyed.add(c),
    log: (l: string) => o.logs.push(l),
  };
  return o;
}

function show(evs: InputEvent[]): string[] {
  return evs.map(([k, c, b]) => (k === EV.NET_OPEN ? `open ${c}` : k === EV.NET_RX ? `rx ${c} ${td.decode(b)}` : `close ${c}`));
}

function open(sw: Switch): { conn: number; gen: number } {
  const r = sw.open();
  if ("refused" in r) throw new Error(r.refused);
  return r;
}

describe("virtual switch: a client that does not read", () => {
  it("while held, its input waits and every other client's is forwarded; released, it goes on in order", () => {
    const sw = new Switch(io());
    const a = open(sw);
    const b = open(sw);
    sw.live("P", 1, [], []);
    expect(show(sw.forward())).toEqual(["open 0", "open 1"]);
    sw.hold(a.conn, true);
    sw.data(a.conn, te.encode("GET x"));
    sw.data(b.conn, te.encode("PING"));
    expect(show(sw.forward())).toEqual(["rx 1 PING"]);
    expect(sw.isHeld(a.conn)).toBe(true);
    sw.hold(a.conn, false);
    expect(show(sw.forward())).toEqual(["rx 0 GET x"]);
  });

  it("cut off: its unforwarded input is dropped, NET_CLOSE follows, its later output is discarded but counted as written", () => {
    const o = io();
    const sw = new Switch(o);
    const a = open(sw);
    const b = open(sw);
    sw.live("P", 1, [], []);
    sw.data(a.conn, te.encode("GET 1"));
    sw.forward();
    sw.hold(a.conn, true);
    sw.data(a.conn, te.encode("GET 2"));
    expect(sw.takeWrittenChanged()).toBe(false);
    sw.disconnect(a.conn, "left too much unread", "peer:1");
    expect(o.destroyed.has(a.conn)).toBe(true);
    expect(o.logs).toEqual(["switch: peer:1 (connection 0) left too much unread; disconnected"]);
    expect(show(sw.forward())).toEqual(["close 0"]);
    // The guest answers the request it had: nothing reaches the socket, yet it counts as written.
    sw.output(1, [[a.conn, a.gen, 0, te.encode("reply"), 0]]);
    expect(o.written.get(a.conn)).toBeUndefined();
    expect(sw.stats.discardedBytes).toBe(5);
    expect(sw.stats.overflowDisconnects).toBe(1);
    expect(sw.takeWrittenChanged()).toBe(true);
    expect(sw.takeWrittenChanged()).toBe(false);
    expect(sw.writtenMarks()).toContainEqual([a.conn, a.gen, 5, 0]);
    // Others are untouched.
    sw.output(1, [[b.conn, b.gen, 0, te.encode("PONG"), 0]]);
    expect(o.written.get(b.conn)).toBe("PONG");
    expect(sw.takeWrittenChanged()).toBe(true);
  });

  it("a held connection the guest closes still gets the NET_CLOSE that frees its id", () => {
    const sw = new Switch(io());
    const a = open(sw);
    sw.live("P", 1, [], []);
    sw.forward();
    sw.hold(a.conn, true);
    sw.end(a.conn);
    sw.output(1, [[a.conn, a.gen, 0, new Uint8Array(0), 1]]);
    expect(show(sw.forward())).toEqual(["close 0"]);
    sw.ack("P", [[a.conn, a.gen, 1, 0, 1]]);
    expect(sw.connsInUse).toBe(0);
  });
});

describe("plain run inbox: a held connection", () => {
  it("gives the guest nothing of it until released, others go on, and a guest close is not held", () => {
    const inbox = new NetInbox(4);
    const a = inbox.open()!;
    const b = inbox.open()!;
    expect(inbox.take(100)?.kind).toBe(EV.NET_OPEN);
    expect(inbox.take(100)?.kind).toBe(EV.NET_OPEN);
    inbox.hold(a, true);
    inbox.data(a, te.encode("GET"));
    inbox.data(b, te.encode("PING"));
    expect(inbox.take(100)?.data).toEqual({ conn: b, bytes: te.encode("PING") });
    expect(inbox.ready(100)).toBe(false);
    inbox.hold(a, false);
    expect(inbox.take(100)?.data).toEqual({ conn: a, bytes: te.encode("GET") });
    inbox.hold(a, true);
    inbox.data(a, te.encode("more"));
    inbox.guestClosed(a);
    expect(inbox.take(100)).toEqual({ kind: EV.NET_CLOSE, data: { conn: a } });
    expect(inbox.connsInUse).toBe(1);
  });
});

describe("ReplyBacklog on a real socket", () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A connected pair: the server side (written to) and the client (paused: it reads nothing until told). */
  async function pair(): Promise<{ srv: Socket; cli: Socket }> {
    server = createServer();
    const accepted = once(server, "connection") as Promise<[Socket]>;
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const cli = connect((server.address() as { port: number }).port, "127.0.0.1");
    cli.pause();
    const [srv] = await accepted;
    sockets.push(srv, cli);
    return { srv, cli };
  }

  it("slows a client past the pause bound and lets it go on once it has read everything", async () => {
    const { srv, cli } = await pair();
    const seen: string[] = [];
    const bl = new ReplyBacklog(srv, { slowed: () => seen.push("slowed"), resumed: () => seen.push("resumed"), disconnect: (w) => seen.push(w) }, { pauseBytes: 64 * 1024, bytesMax: 1 << 30, stallMs: 600_000 });
    const chunk = new Uint8Array(64 * 1024);
    // The kernel takes a few MB before Node buffers anything: write until the bound is met.
    for (let i = 0; i < 4096 && !bl.slow; i++) bl.write(chunk);
    expect(seen).toEqual(["slowed"]);
    cli.resume();
    await new Promise<void>((r) => srv.once("drain", () => setImmediate(r)));
    expect(seen).toEqual(["slowed", "resumed"]);
    expect(bl.slow).toBe(false);
  });

  it("disconnects past the hard bound, and a slowed client that reads nothing after the stall time", async () => {
    const hard = await pair();
    const why: string[] = [];
    const bl = new ReplyBacklog(hard.srv, { slowed: () => undefined, resumed: () => undefined, disconnect: (w) => why.push(w) }, { pauseBytes: 1, bytesMax: 256 * 1024, stallMs: 600_000 });
    const chunk = new Uint8Array(64 * 1024);
    for (let i = 0; i < 4096 && why.length === 0; i++) bl.write(chunk);
    expect(why).toEqual([`left more than ${256 * 1024} bytes of replies unread`]);

    const stall = await pair();
    const stalled = new Promise<string>((resolve) => {
      const b = new ReplyBacklog(stall.srv, { slowed: () => undefined, resumed: () => undefined, disconnect: resolve }, { pauseBytes: 64 * 1024, bytesMax: 1 << 30, stallMs: 200 });
      for (let i = 0; i < 4096 && !b.slow; i++) b.write(chunk);
    });
    expect(await stalled).toMatch(/^read none of its \d+ bytes of waiting replies for 200 ms$/);
  });

  it("a connection the guest closed while replies wait unread is not kept open for a reader that never comes", async () => {
    const { srv } = await pair();
    const chunk = new Uint8Array(64 * 1024);
    const gone = new Promise<string>((resolve) => {
      const b = new ReplyBacklog(srv, { slowed: () => undefined, resumed: () => undefined, disconnect: resolve }, { pauseBytes: 1 << 30, bytesMax: 1 << 30, stallMs: 200 });
      // Fill the kernel's buffers until Node holds some of it, then the guest closes.
      for (let i = 0; i < 4096 && srv.writableLength === 0; i++) b.write(chunk);
      b.end();
    });
    expect(await gone).toMatch(/^read none of its \d+ bytes of waiting replies for 200 ms$/);
  });
});
