// A channel's logger and partition switch are given to it (issue 12, point 7): two servers
// in one process log apart, and a partition cuts only the channels given that switch.
import { afterEach, describe, expect, it } from "vitest";
import type { Channel, ChannelFaults, Msg, Server } from "../src/transport/channel.js";
import { connect, listen } from "../src/transport/channel.js";
import { until } from "./helpers.js";

const SECRET = "s";
const SERVICE = "options-test";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function server(lines: string[], faults?: ChannelFaults): Promise<{ srv: Server; accepted: Channel[] }> {
  const accepted: Channel[] = [];
  const srv = await listen({ secret: SECRET, service: SERVICE, log: (l) => lines.push(l), faults, onChannel: (ch) => accepted.push(ch) });
  open.push(srv);
  return { srv, accepted };
}

describe("channel options", () => {
  it("each server logs its refusals to its own logger", async () => {
    const a: string[] = [];
    const b: string[] = [];
    const sa = await server(a);
    await server(b);
    await expect(connect(sa.srv.url, "wrong", SERVICE)).rejects.toThrow();
    await until("server a to log the refusal", () => a.length > 0);
    expect(a.join("\n")).toMatch(/authentication failed/);
    expect(b).toEqual([]);
  });

  it("a partition cuts the channels given that switch and no other", async () => {
    const faults: ChannelFaults = { partitioned: false };
    const { srv, accepted } = await server([], faults);
    const c1 = await connect(srv.url, SECRET, SERVICE);
    const c2 = await connect(srv.url, SECRET, SERVICE, { faults: { partitioned: false } });
    open.push(c1, c2);
    await until("both channels to be accepted", () => accepted.length === 2);
    const got: Msg[][] = [[], []];
    const raw = [0, 0];
    accepted.forEach((ch, i) => {
      ch.on("message", (m) => got[i].push(m));
      ch.ws.on("message", () => raw[i]++);
    });
    const heard: Msg[] = [];
    c1.on("message", (m) => heard.push(m));
    // The server's side of both channels shares `faults`: cut, what arrives is dropped and nothing is sent.
    faults.partitioned = true;
    expect(accepted.every((ch) => ch.partitioned)).toBe(true);
    c1.send({ t: "x" });
    c2.send({ t: "x" });
    accepted[0].send({ t: "x" });
    await until("the messages sent into the partition to arrive", () => raw[0] === 1 && raw[1] === 1);
    expect(got).toEqual([[], []]);
    expect(accepted[0].bytesOut).toBe(0);
    // The client's side is its own: not cut. Healed, the next messages get through both ways.
    expect(c1.partitioned || c2.partitioned).toBe(false);
    faults.partitioned = false;
    c1.send({ t: "y" });
    c2.send({ t: "y" });
    accepted[0].send({ t: "y" });
    await until("the messages after the partition", () => got.every((g) => g.length > 0) && heard.length > 0);
    expect(got.flat().map((m) => m.t)).toEqual(["y", "y"]);
    expect(heard.map((m) => m.t)).toEqual(["y"]);
  });
});
