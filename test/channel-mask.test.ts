// Channel clients send WebSocket frames with a zero masking key (src/transport/channel.ts,
// zeroMask): the payload crosses the wire as it is, so neither side makes a pass over it.
// Seen from a TCP relay between client and server: a client message's bytes appear
// verbatim in the stream (a random key would scramble them), and the server still gets
// the message intact.
import { type Server as TcpServer, type Socket, connect as tcpConnect, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Channel, Msg, Server } from "../src/transport/channel.js";
import { connect, listen } from "../src/transport/channel.js";
import { until } from "./helpers.js";

const SECRET = "s";
const SERVICE = "mask-test";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** A TCP relay to `port` that records what the client side sends. */
async function relay(port: number): Promise<{ port: number; sent: Buffer[]; close(): Promise<void> }> {
  const sent: Buffer[] = [];
  const sockets: Socket[] = [];
  const srv: TcpServer = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (d: Buffer) => {
      sent.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => client.write(d));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    sent,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

describe("channel framing", () => {
  it("a client's frames carry its payload unmasked on the wire, and the server receives it intact", async () => {
    const got: Msg[] = [];
    let accepted: Channel | undefined;
    const srv: Server = await listen({
      secret: SECRET,
      service: SERVICE,
      log: () => undefined,
      onChannel: (ch) => {
        accepted = ch;
        ch.on("message", (m) => got.push(m));
      },
    });
    open.push(srv);
    const r = await relay(srv.port);
    open.push(r);
    const ch = await connect(`ws://127.0.0.1:${r.port}`, SECRET, SERVICE);
    open.push(ch);
    // 4 KiB of a pattern that cannot occur by chance in masked bytes.
    const payload = new Uint8Array(4096);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    ch.send({ t: "data", bytes: payload });
    await until("the server to receive the message", () => got.length > 0);
    expect(accepted).toBeDefined();
    expect(Buffer.from(got[0].bytes as Uint8Array).equals(Buffer.from(payload))).toBe(true);
    expect(Buffer.concat(r.sent).includes(Buffer.from(payload))).toBe(true);
  });
});
