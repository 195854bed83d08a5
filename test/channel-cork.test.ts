// Channel.cork / uncork (src/transport/channel.ts): an FT host corks its channels while it
// carries out one batch of its node's actions, so the messages of the batch leave in one
// socket write. Nothing sent while corked may be lost or reordered, nesting must hold the
// writes until the outermost uncork, and a closed channel must take both calls quietly.
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Channel, Msg } from "../src/transport/channel.js";
import { connect, listen } from "../src/transport/channel.js";
import { until } from "./helpers.js";

const SECRET = "s";
const SERVICE = "cork-test";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function pair(): Promise<{ client: Channel; got: Msg[] }> {
  const got: Msg[] = [];
  const srv = await listen({ secret: SECRET, service: SERVICE, log: () => undefined, onChannel: (ch) => ch.on("message", (m) => got.push(m)) });
  open.push(srv);
  const client = await connect(srv.url, SECRET, SERVICE, { log: () => undefined });
  open.push({ close: () => client.close() });
  return { client, got };
}

const socketOf = (ch: Channel) => (ch.ws as unknown as { _socket: Socket })._socket;

describe("a corked channel", () => {
  it("holds its writes until the outermost uncork, then delivers every message in order", async () => {
    const { client, got } = await pair();
    client.cork();
    client.send({ t: "a", n: 1 });
    client.cork();
    client.send({ t: "b", n: 2, bytes: new Uint8Array(70_000).fill(7) });
    client.uncork();
    // Still corked once: nothing has reached the socket's file descriptor yet.
    expect(socketOf(client).writableCorked).toBe(1);
    client.send({ t: "c", n: 3 });
    client.uncork();
    expect(socketOf(client).writableCorked).toBe(0);
    await until("the three messages", () => got.length === 3);
    expect(got.map((m) => [m.t, m.n])).toEqual([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    expect((got[1].bytes as Uint8Array).length).toBe(70_000);
  });

  it("takes cork and uncork after it closed without an error", async () => {
    const { client } = await pair();
    client.terminate();
    expect(() => {
      client.cork();
      client.send({ t: "late" });
      client.uncork();
    }).not.toThrow();
  });
});
