// The real host's link to the real switch server over sockets: a paired primary whose
// switch channel resets announces itself again, and the switch must keep the input its
// backup has not acknowledged (the bug `ftvm sim --net --seed 2462` found, here with the
// code real processes run: SwitchLink, SwitchServer, NetGate, Switch).
import { type Socket, connect as tcpConnect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import type { Nic } from "../src/devices/nic.js";
import { CONN } from "../src/devices/nic.js";
import { NetGate } from "../src/ft/netgate.js";
import type { FtNode } from "../src/ft/node.js";
import { SWITCH_SERVICE, SwitchLink } from "../src/host/switch-link.js";
import { SwitchServer } from "../src/host/switch-server.js";
import { connect, setLogger } from "../src/transport/channel.js";
import { until } from "./helpers.js";

setLogger(() => undefined);

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("SwitchLink against SwitchServer", () => {
  it("a paired primary's channel reset makes no unacknowledged input durable at the switch", async () => {
    const logs: string[] = [];
    const srv = await SwitchServer.start({ secret: "s", port: 0, cluster: "c1", log: (l) => logs.push(l) });
    cleanup.push(() => srv.close());
    // The node as the link sees it: a primary of epoch 1 with a backup (plog), its guest's NIC and its NetGate.
    const nic = { generations: [0], states: [CONN.FREE], receivedBytes: [0] };
    const gate = new NetGate();
    const node = { role: "primary", epoch: 1, plog: { ackedLsn: 0 }, bus: { nic }, net: gate };
    const link = new SwitchLink(srv.url, "s", "p", () => node as unknown as FtNode, () => undefined, () => "c1");
    cleanup.push(() => link.close());
    await link.connect();
    await until("the switch to take p", () => srv.sw.primary === "p");

    const { host, port } = srv.address();
    const client: Socket = tcpConnect(port, host);
    cleanup.push(() => client.destroy());
    await new Promise<void>((r) => client.once("connect", () => r()));
    client.write("0123456789");
    await until("the input to reach the primary's queue", () => link.queue.queuedBytes === 10);
    // The guest got the open and the 10 bytes (lsn 1 and 2); the backup acknowledged only the open.
    gate.noteLogged({ lsn: 1, icount: 0, kind: EV.NET_OPEN, data: { conn: 0 } }, nic as unknown as Nic);
    Object.assign(nic, { generations: [1], states: [CONN.OPEN], receivedBytes: [10] });
    gate.noteLogged({ lsn: 2, icount: 1, kind: EV.NET_RX, data: { conn: 0, bytes: new Uint8Array(10) } }, nic as unknown as Nic);
    node.plog.ackedLsn = 1;
    link.sync();
    expect(srv.sw.retainedBytes(0)).toBe(10);

    // The channel resets; the link connects again and announces p afresh: to the switch a new primary.
    const announcedBefore = logs.filter((l) => /forwarding input to p/.test(l)).length;
    (link as unknown as { ch: { terminate(): void } }).ch.terminate();
    await until("p to be announced again", () => logs.filter((l) => /forwarding input to p/.test(l)).length > announcedBefore);
    // The backup has none of the 10 bytes: the switch keeps them all (before the fix it kept none).
    expect(srv.sw.retainedBytes(0)).toBe(10);
    // Once the backup acknowledges them, they are durable and the switch forgets them.
    node.plog.ackedLsn = 2;
    link.sync();
    await until("the switch to forget the acknowledged input", () => srv.sw.retainedBytes(0) === 0);
  });

  it("the primary announcing itself on a new channel before the switch saw the old one close gets its input again", async () => {
    const srv = await SwitchServer.start({ secret: "s", port: 0, cluster: "c1", log: () => undefined });
    cleanup.push(() => srv.close());
    const rx = (got: Record<string, unknown>[]) =>
      got.flatMap((m) => (m.t === "in" ? (m.events as [number, number, Uint8Array?][]) : [])).filter((e) => e[0] === EV.NET_RX).reduce((n, e) => n + (e[2]?.length ?? 0), 0);
    const a = await connect(srv.url, "s", SWITCH_SERVICE);
    cleanup.push(() => a.close());
    const gotA: Record<string, unknown>[] = [];
    a.on("message", (m) => gotA.push(m));
    a.send({ t: "live", host: "p", cluster: "c1", epoch: 1, nic: [], durable: [] });
    await until("the switch to take p", () => srv.sw.primary === "p");
    const { host, port } = srv.address();
    const client: Socket = tcpConnect(port, host);
    cleanup.push(() => client.destroy());
    await new Promise<void>((r) => client.once("connect", () => r()));
    client.write("hello");
    await until("the input to reach p on its first channel", () => rx(gotA) === 5);
    // p's side reset (its queue with "hello" is gone) and it announces itself on a new
    // channel; the switch has not seen the first one close.
    const b = await connect(srv.url, "s", SWITCH_SERVICE);
    cleanup.push(() => b.close());
    const gotB: Record<string, unknown>[] = [];
    b.on("message", (m) => gotB.push(m));
    b.send({ t: "live", host: "p", cluster: "c1", epoch: 1, nic: [[0, 1, CONN.OPEN, 0]], durable: [[0, 1, 1, 0, 0]] });
    await until("the input to reach p again on its new channel", () => rx(gotB) === 5);
    expect(srv.sw.stats.redeliveredBytes).toBe(5);
    // The old channel closing late changes nothing: p stays the primary.
    a.close();
    client.write("!");
    await until("new input to reach p on its new channel", () => rx(gotB) === 6);
    expect(srv.sw.primary).toBe("p");
  });
});
