// The NIC under FT, in process: a primary and a backup FtNode running programs/redis.s,
// messages routed by hand. Network output waits for the backup's acknowledgement (the
// output rule); a backup that goes live re-sends what its replay produced, numbered
// exactly as the primary numbered it; input durability follows the acknowledged log.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { assembleFile } from "../src/asm/assembler.js";
import { EV } from "../src/devices/events.js";
import type { NetChunk } from "../src/devices/nic.js";
import type { Action, Msg } from "../src/ft/node.js";
import { FtNode } from "../src/ft/node.js";
import { attachEngine } from "../src/host/engine.js";
import { NetQueue } from "../src/net/queue.js";
import { fakeWorld } from "../src/replay/world.js";

const te = new TextEncoder();
const td = new TextDecoder();
const REDIS = fileURLToPath(new URL("../programs/redis.s", import.meta.url));
const MEM = 16 * 1024 * 1024;

function netOut(actions: Action[]): NetChunk[] {
  return actions.flatMap((a) => (a.kind === "net-out" ? a.chunks : []));
}
const text = (cs: NetChunk[]) => cs.map((c) => td.decode(c.bytes)).join("");

describe("the NIC under FT (in-process primary and backup)", () => {
  it("holds replies until the backup acknowledged them; a backup going live re-sends its replies with the same numbering", () => {
    const image = assembleFile(REDIS);
    const queue = new NetQueue();
    const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 10_000, world: { ...fakeWorld(3, 3, 20), net: queue }, sliceIcount: 20_000, attachEngine });
    const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(4, 4, 20), sliceIcount: 20_000, attachEngine });
    const toB: Msg[] = [];
    const toP: Msg[] = [];
    const released: NetChunk[] = [];
    const route = (acts: Action[], to: Msg[]) => {
      for (const a of acts) if (a.kind === "send") to.push(a.msg);
      released.push(...netOut(acts));
    };
    let now = 0;
    route(p.startPrimary({ program: "redis.s", image, memBytes: MEM, epoch: 1, withBackup: true }, now), toB);
    b.startBackup(toB.shift()!, now);

    // A client connects and sends PING; the primary answers, but holds the answer.
    queue.push(EV.NET_OPEN, 0);
    queue.push(EV.NET_RX, 0, te.encode("PING\r\n"));
    for (let i = 0; i < 200 && p.net.heldCount === 0; i++) route(p.run(++now).actions, toB);
    expect(p.net.heldCount).toBeGreaterThan(0);
    expect(released).toEqual([]);
    // Input is not durable before the backup acknowledges it either.
    expect(p.net.durableThrough(p.plog!.ackedLsn)).toEqual([]);

    // The backup receives the log and acknowledges it: the reply goes out.
    while (toB.length) route(b.onPeerMessage(toB.shift()!, now), toP);
    while (toP.length) route(p.onPeerMessage(toP.shift()!, now), toB);
    for (let i = 0; i < 20 && released.length === 0; i++) {
      route(p.run(++now).actions, toB);
      while (toB.length) route(b.onPeerMessage(toB.shift()!, now), toP);
      while (toP.length) route(p.onPeerMessage(toP.shift()!, now), toB);
    }
    expect(text(released)).toBe("+PONG\r\n");
    expect(released[0]).toMatchObject({ conn: 0, generation: 1, offset: 0 });
    expect(p.net.durableThrough(p.plog!.ackedLsn)).toContainEqual([0, 1, 1, 6, 0]);

    // Two INCRs; the primary releases the replies, then dies before they reach the switch.
    queue.push(EV.NET_RX, 0, te.encode("INCR n\r\nINCR n\r\n"));
    const before = released.length;
    for (let i = 0; i < 200 && p.net.heldCount === 0; i++) route(p.run(++now).actions, toB);
    expect(p.net.heldCount).toBeGreaterThan(0);
    // The backup's heartbeat acknowledges only the log it has: nothing newer is released.
    now += 100;
    for (const a of b.tick(now)) if (a.kind === "send") route(p.onPeerMessage(a.msg, now), toB);
    expect(released.length).toBe(before);
    expect(p.net.heldCount).toBeGreaterThan(0);
    for (let i = 0; i < 200 && text(released.slice(before)) !== ":1\r\n:2\r\n"; i++) {
      route(p.run(++now).actions, toB);
      while (toB.length) route(b.onPeerMessage(toB.shift()!, now), toP);
      while (toP.length) route(p.onPeerMessage(toP.shift()!, now), toB);
    }
    const lost = released.slice(before);
    expect(text(lost)).toBe(":1\r\n:2\r\n");
    // The backup replays what it received (its NIC is drained after every step), then goes live.
    for (let i = 0; i < 200; i++) if (b.run(++now).idle) break;
    expect(b.onPeerClosed("primary gone", now)).toEqual([{ kind: "reconnect", lsn: expect.any(Number) }]);
    b.onReconnectFailed("connection refused", now);
    const acts: Action[] = [];
    for (let i = 0; i < 5 && !acts.some((a) => a.kind === "tas"); i++) acts.push(...b.run(++now).actions);
    const tas = acts.find((a) => a.kind === "tas")!;
    expect(tas).toMatchObject({ req: { epoch: 2 } });
    const live = b.onTasResult({ granted: true, state: { cluster: "local", epoch: 2, members: ["B"], holder: "B" } }, now);
    const resent = live.filter((a) => a.kind === "net-out");
    expect(resent.every((a) => a.kind === "net-out" && a.epoch === 2)).toBe(true);
    // Everything the switch had not confirmed goes again, numbered as the primary numbered it.
    const again = netOut(resent);
    expect(text(again)).toContain(":1\r\n:2\r\n");
    const last = again.at(-1)!;
    const lastLost = lost.at(-1)!;
    expect([last.conn, last.generation, last.offset + last.bytes.length]).toEqual([lastLost.conn, lastLost.generation, lastLost.offset + lastLost.bytes.length]);
    // Once the switch reports bytes written, a backup forgets them.
    b.net.keep(again);
    b.net.trim([[0, 1, last.offset + last.bytes.length, 0]]);
    expect(b.net.keptBytes).toBe(0);
  }, 30_000);
});
