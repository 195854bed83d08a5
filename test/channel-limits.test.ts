// Limits before authentication (issue 18, point 3), on one channel server in this
// process: a stranger may send UNAUTH_MESSAGE_BYTES_MAX bytes, has UNAUTH_DEADLINE_MS to
// prove the secret, shares UNAUTH_CONNS_MAX places with other strangers (a new one
// displaces the oldest), and junk is dropped at once; a refusal with a reason does not
// wait ws's 30 s for the peer's close frame. A real peer still gets in afterwards.
import { randomBytes } from "node:crypto";
import { connect as tcp, type Socket } from "node:net";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fuzzParams } from "./fuzz-params.js";
import type { Channel, Server } from "../src/transport/channel.js";
import { CLOSE_AUTH, CLOSE_REASON_BYTES_MAX, CLOSE_REFUSED, MESSAGE_BYTES_MAX, closeReason, UNAUTH_CONNS_MAX, UNAUTH_MESSAGE_BYTES_MAX, connect, decodeMessage, listen, setLogger } from "../src/transport/channel.js";

const SECRET = "test-secret";
const SERVICE = "test-service";
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

let logs: string[] = [];
let server: Server | undefined;
const sockets: Socket[] = [];

beforeEach(() => {
  logs = [];
  setLogger((l) => logs.push(l));
});
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  await server?.close();
  server = undefined;
});

/** A server that echoes every message back once authenticated. */
async function echoServer(limits?: { deadlineMs?: number; connsMax?: number }): Promise<Server> {
  server = await listen({ secret: SECRET, service: SERVICE, strangerLimits: limits, onChannel: (ch) => ch.on("message", (m) => ch.send(m)) });
  return server;
}

/** A raw TCP socket that upgrades by hand; resolves once the 101 arrived (with whatever followed it). */
function upgraded(port: number): Promise<{ s: Socket; rest: () => Buffer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = tcp(port, "127.0.0.1");
    sockets.push(s);
    let buf = Buffer.alloc(0);
    let open = false;
    const closed = new Promise<void>((r) => s.on("close", () => r()));
    s.on("error", () => undefined);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (!open && end >= 0) {
        if (!buf.subarray(0, 12).toString().startsWith("HTTP/1.1 101")) return reject(new Error(buf.toString()));
        open = true;
        buf = buf.subarray(end + 4);
        resolve({ s, rest: () => buf, closed });
      }
    });
    s.on("connect", () =>
      s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    void closed.then(() => reject(new Error("closed before the upgrade")));
  });
}

/** A masked binary frame (mask key 0) carrying `payload`. */
function frame(payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 65536 ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  return Buffer.concat([head, Buffer.alloc(4), Buffer.from(payload)]);
}

describe("channel server: strangers get almost nothing", () => {
  it("a frame larger than the allowance is cut off after a few KiB, not buffered", async () => {
    const srv = await echoServer();
    const { s, closed } = await upgraded(srv.port);
    // Announce 15 MB, send 1 MB of it: the server must not wait for the rest.
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(15_000_000n);
    s.write(Buffer.concat([Buffer.from([0x82, 0xff]), len, Buffer.alloc(4)]));
    s.write(Buffer.alloc(1024 * 1024));
    await closed;
    expect(logs.join("\n")).toMatch(new RegExp(`refused 127\\.0\\.0\\.1:\\d+: sent more than ${UNAUTH_MESSAGE_BYTES_MAX} bytes before authenticating`));
  });

  it("silence is dropped at the deadline, HTTP that never finishes too, and raw junk at once", async () => {
    const srv = await echoServer({ deadlineMs: 300 });
    const silent = await upgraded(srv.port);
    const slow = tcp(srv.port, "127.0.0.1");
    sockets.push(slow);
    slow.on("error", () => undefined);
    slow.on("connect", () => slow.write("GET / HTTP/1.1\r\nHost: x\r\n"));
    const junk = tcp(srv.port, "127.0.0.1");
    sockets.push(junk);
    junk.on("error", () => undefined);
    junk.on("connect", () => junk.write(randomBytes(8192)));
    await Promise.all([silent.closed, new Promise((r) => slow.on("close", r)), new Promise((r) => junk.on("close", r))]);
    const all = logs.join("\n");
    expect(all.match(/no authentication within 300 ms/g)?.length).toBe(2);
    expect(all).toMatch(/not an HTTP upgrade request/);
  });

  it("a wrong secret is refused with its reason, and the socket closes without waiting for the peer's close frame", async () => {
    const srv = await echoServer();
    await expect(connect(srv.url, "wrong", SERVICE)).rejects.toThrow(/closed \(4401: authentication failed/);
    // By hand, as a peer that never answers the close frame: the server still lets go (not after ws's 30 s).
    const { s, rest, closed } = await upgraded(srv.port);
    await new Promise<void>((r) => {
      const check = () => (rest().length > 0 ? r() : setTimeout(check, 5));
      check();
    });
    s.write(frame(packr.pack({ t: "auth", nonce: "00", mac: "not-a-mac" })));
    await closed;
    expect(logs.join("\n")).toMatch(/authentication failed/);
    expect(CLOSE_AUTH).toBe(4401);
  }, 15_000);

  it("more strangers than UNAUTH_CONNS_MAX: the oldest are displaced, none is kept past the bound, and a real peer still gets in", async () => {
    const srv = await echoServer();
    const strangers = await Promise.all(Array.from({ length: UNAUTH_CONNS_MAX + 20 }, () => upgraded(srv.port).catch(() => undefined)));
    // Every stranger beyond the bound pushed an older one out (the oldest 20 are gone).
    await Promise.all(strangers.slice(0, 20).map((x) => x?.closed));
    expect(logs.join("\n")).toMatch(new RegExp(`displaced: more than ${UNAUTH_CONNS_MAX} connections are waiting to authenticate`));
    const ch = await connect(srv.url, SECRET, SERVICE);
    const echoed = new Promise((r) => ch.on("message", r));
    ch.send({ t: "ping", n: 1 });
    expect(await echoed).toEqual({ t: "ping", n: 1 });
    // Authenticated, a peer may send large messages.
    const big = new Uint8Array(UNAUTH_MESSAGE_BYTES_MAX * 64);
    const back = new Promise<unknown>((r) => ch.on("message", (m) => m.t === "big" && r(m)));
    ch.send({ t: "big", b: big });
    expect(((await back) as { b: Uint8Array }).b.length).toBe(big.length);
    expect(MESSAGE_BYTES_MAX).toBeGreaterThan(big.length);
    ch.close();
  });
});

describe("the channel's message parser", () => {
  it("random bytes and mutations of valid messages give a message or a reason, never an exception", () => {
    const valid = [packr.pack({ t: "auth", nonce: "ab", mac: "cd" }), packr.pack({ t: "log", events: [[1, 2, 3, null]] }), packr.pack({ t: "net-out", epoch: 2, chunks: [[0, 1, 0, new Uint8Array(5), 0]] })];
    const mutated = fc
      .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), fc.boolean())
      .map(([v, flips, cut, truncate]) => {
        const b = Buffer.from(v);
        for (const [i, x] of flips) b[i % b.length] = x;
        return truncate ? b.subarray(0, cut % (b.length + 1)) : b;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), mutated), fc.boolean(), (bytes, isBinary) => {
        const r = decodeMessage(bytes, isBinary);
        if (typeof r !== "string") expect(typeof r.t).toBe("string");
      }),
      fuzzParams(18, 3000),
    );
  });
});

describe("close reasons", () => {
  it("a reason longer than a close frame holds is cut to 123 bytes of UTF-8 at a character boundary, and closing does not throw", async () => {
    // 100 characters of 3 bytes each: 120 characters were cut before, 300 bytes, and ws threw.
    const long = "≥".repeat(100);
    expect(Buffer.byteLength(closeReason(long))).toBeLessThanOrEqual(CLOSE_REASON_BYTES_MAX);
    expect(closeReason(long)).toBe("≥".repeat(41));
    expect(closeReason("😀".repeat(40))).toBe("😀".repeat(30));
    expect(closeReason("short")).toBe("short");
    let serverSide: Channel | undefined;
    server = await listen({ secret: SECRET, service: SERVICE, onChannel: (ch) => (serverSide = ch) });
    const client = await connect(server.url, SECRET, SERVICE);
    const closed = new Promise<{ code: number; reason: string }>((r) => client.once("close", (code: number, reason: string) => r({ code, reason })));
    await new Promise((r) => setTimeout(r, 50));
    expect(() => serverSide!.refuse(CLOSE_REFUSED, long)).not.toThrow();
    const c = await closed;
    expect(c.code).toBe(CLOSE_REFUSED);
    expect(c.reason).toBe(closeReason(long));
    const client2 = await connect(server.url, SECRET, SERVICE);
    expect(() => client2.close(long)).not.toThrow();
  });
});
