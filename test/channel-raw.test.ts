// Raw payloads on a channel (src/transport/channel.ts, framing version 2): bytes fields of
// at least RAW_PAYLOAD_MIN_BYTES travel as WebSocket frames of their own after their
// message. The receiver must get the message exactly as sent (bytes in place, nothing
// extra), the sender's message must not change (the primary keeps its log batches), a
// simulated partition must drop whole messages without taking a raw frame for a message,
// and a peer that sends markers and frames that do not match is refused.
import { Packr } from "msgpackr";
import { WebSocket } from "ws";
import { mac, nonce } from "../src/transport/auth.js";
import { afterEach, describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import type { Channel, Msg } from "../src/transport/channel.js";
import { CHANNEL_FRAMING_VERSION, CLOSE_MALFORMED, CLOSE_REFUSED, RAW_PAYLOAD_MIN_BYTES, connect, listen } from "../src/transport/channel.js";
import { until } from "./helpers.js";

const SECRET = "s";
const SERVICE = "raw-test";
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function pair(): Promise<{ client: Channel; server: () => Channel | undefined; got: Msg[]; closes: [number, string][] }> {
  const got: Msg[] = [];
  const closes: [number, string][] = [];
  let server: Channel | undefined;
  const srv = await listen({
    secret: SECRET,
    service: SERVICE,
    log: () => undefined,
    onChannel: (ch) => {
      server = ch;
      ch.on("message", (m) => got.push(m));
      ch.on("close", (code, reason) => closes.push([code, reason]));
    },
  });
  open.push(srv);
  const client = await connect(srv.url, SECRET, SERVICE, { log: () => undefined });
  open.push({ close: () => client.close() });
  return { client, server: () => server, got, closes };
}

const pattern = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

/** A log batch as the primary sends it: network input events, large and small. */
function batch(sizes: number[]): Msg {
  return { t: "log", events: sizes.map((n, i) => [i + 1, 100 * i, EV.NET_RX, { conn: i % 3, bytes: pattern(n, i) }]), sd: sizes.map((_, i) => i) };
}

describe("raw payloads on a channel", () => {
  it("delivers messages with large bytes fields exactly as sent, in order with the others, and leaves the sent message as it was", async () => {
    const { client, got } = await pair();
    const big = RAW_PAYLOAD_MIN_BYTES;
    const sent: Msg[] = [
      batch([big, 10, 3 * big + 5, 70_000]),
      { t: "hb", icount: 5 },
      { t: "in", events: [[EV.NET_RX, 4, pattern(65_536, 9)], [EV.NET_OPEN, 5], [EV.NET_RX, 5, pattern(100, 1)]] },
      { t: "clone-mem", index: 3, bytes: pattern(big - 1, 2) },
      { t: "clone-mem", index: 4, bytes: pattern(1 << 20, 3) },
    ];
    // Compared as base64 text: vitest's deep equality walks a 1 MiB array element by element.
    const packed = (m: Msg) => Buffer.from(packr.pack(m)).toString("base64");
    const before = sent.map(packed);
    for (const m of sent) client.send(m);
    // The caller's messages are untouched: no marker took a bytes field's place.
    expect(sent.map(packed)).toEqual(before);
    await until("every message", () => got.length === sent.length);
    expect(got.map(packed)).toEqual(before);
    for (const m of got) expect(Object.keys(m).some((k) => k.startsWith("\u0000"))).toBe(false);
  });

  it("counts raw frames off during a simulated partition, so none is taken for a message once it heals", async () => {
    const { client, server, got, closes } = await pair();
    await until("the server's channel", () => server() !== undefined);
    const ch = server()!;
    client.send({ t: "a" });
    await until("the first message", () => got.length === 1);
    // The partition starts with a raw message half received: its frames still arrive.
    ch.partitioned = true;
    client.send(batch([RAW_PAYLOAD_MIN_BYTES, RAW_PAYLOAD_MIN_BYTES * 2]));
    client.send({ t: "dropped" });
    await new Promise((r) => setTimeout(r, 100));
    ch.partitioned = false;
    client.send(batch([RAW_PAYLOAD_MIN_BYTES]));
    client.send({ t: "b" });
    await until("the messages after the partition", () => got.length === 3);
    expect(got.map((m) => m.t)).toEqual(["a", "log", "b"]);
    expect(new Uint8Array(((got[1].events as unknown[][])[0][3] as { bytes: Uint8Array }).bytes)).toEqual(pattern(RAW_PAYLOAD_MIN_BYTES, 0));
    expect(closes).toEqual([]);
  });

  it("refuses a peer whose raw frames do not match the message's markers", async () => {
    const { client, server, got, closes } = await pair();
    await until("the server's channel", () => server() !== undefined);
    // Two frames announced, one marker in the message: malformed.
    client.ws.send(packr.pack({ t: "log", events: [[1, 2, EV.NET_RX, { conn: 0, bytes: { "\u0000raw": 0 } }]], "\u0000raw": 2 }));
    client.ws.send(pattern(10, 0));
    client.ws.send(pattern(10, 1));
    await until("the refusal", () => closes.length === 1);
    expect(closes[0][0]).toBe(CLOSE_MALFORMED);
    expect(closes[0][1]).toMatch(/raw payloads, not all of them in the message/);
    expect(got).toEqual([]);
  });

  it("refuses a client of the older framing (no framing in its auth), naming both versions", async () => {
    const { client } = await pair();
    // A client that answers the challenge correctly, as an ftvm before framing 2 did.
    const ws = new WebSocket(client.peer, { perMessageDeflate: false });
    const closed = new Promise<[number, string]>((r) => ws.on("close", (code, reason) => r([code, reason.toString()])));
    const mine = nonce();
    ws.on("message", (data: Buffer) => {
      const m = packr.unpack(data) as { t: string; nonce: string; framing?: number };
      if (m.t !== "challenge") return;
      expect(m.framing).toBe(CHANNEL_FRAMING_VERSION);
      ws.send(packr.pack({ t: "auth", nonce: mine, mac: mac(SECRET, "client", SERVICE, m.nonce, mine) }));
    });
    const [code, reason] = await closed;
    expect(code).toBe(CLOSE_REFUSED);
    expect(reason).toMatch(/channel framing 1 \(an older ftvm\), this server 2/);
  });
});
