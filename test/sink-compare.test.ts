// Sinks that compare, not just drop (issue 16): the console sink, the virtual switch and
// the shared disk compare re-sent output with what they wrote at that position (within a
// named bound); bytes that differ are a divergence, refused, reported with epoch, host and
// offset, and counted. And each of them belongs to one cluster and refuses another's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DiskGeometry, DiskRequest } from "../src/devices/disk.js";
import { DISK_STATUS, DISK_WRITE } from "../src/devices/disk.js";
import { SinkState } from "../src/ft/sink.js";
import { createDiskImage, readDiskBlocks } from "../src/host/disk.js";
import { DiskClient } from "../src/host/diskclient.js";
import { DISK_COMPARE_BYTES_MAX, startDiskServer } from "../src/host/disksrv.js";
import { SINK_SERVICE, startSink } from "../src/host/sink.js";
import { SwitchServer } from "../src/host/switch-server.js";
import { SWITCH_SERVICE } from "../src/host/switch-link.js";
import { SWITCH_COMPARE_WINDOW_BYTES_PER_CONN, Switch } from "../src/net/switch.js";
import { WrittenWindow } from "../src/net/window.js";
import { CLOSE_REFUSED, connect, setLogger } from "../src/transport/channel.js";
import { startTestArbiter } from "./helpers.js";

setLogger(() => undefined);
const te = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), "ftvm-sink-compare-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the written window", () => {
  it("compares offered bytes with the stream's tail, across the ring's wrap, and counts what fell out of it", () => {
    const w = new WrittenWindow(8);
    w.append(te.encode("abcdef"));
    w.append(te.encode("ghijkl")); // 12 bytes written; "efghijkl" kept
    expect(w.start).toBe(4);
    expect(w.compare(4, te.encode("efghijkl"))).toEqual({ unchecked: 0 });
    expect(w.compare(10, te.encode("klmn"))).toEqual({ unchecked: 0 }); // past the end: nothing to compare there
    expect(w.compare(9, te.encode("jXl"))).toEqual({ mismatchAt: 10, wrote: "k".charCodeAt(0), got: "X".charCodeAt(0), unchecked: 0 });
    expect(w.compare(0, te.encode("abcdefgh"))).toEqual({ unchecked: 4 });
    expect(w.compare(2, te.encode("??ef"))).toEqual({ unchecked: 2 });
    // A chunk larger than the window keeps only its tail.
    w.append(te.encode("0123456789"));
    expect(w.compare(14, te.encode("23456789"))).toEqual({ unchecked: 0 });
  });
});

describe("console sink: comparison", () => {
  it("drops re-sent bytes that match, refuses and counts re-sent bytes that differ, with epoch and offset", () => {
    const s = new SinkState("c1");
    expect(s.accept({ cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("tick 1 at 100\n") })).toMatchObject({ kind: "write" });
    // A new primary re-sends the same bytes (and more): the old part is dropped, the new written.
    expect(s.accept({ cluster: "c1", epoch: 2, offset: 0, bytes: te.encode("tick 1 at 100\ntick 2 at 200\n") })).toMatchObject({ kind: "write", duplicateBytes: 14 });
    // Different bytes at a written offset: two executions in one stream.
    const v = s.accept({ cluster: "c1", epoch: 2, offset: 14, bytes: te.encode("tick 2 at 999\ntick 3 at 300\n") });
    expect(v).toEqual({ kind: "diverged", offset: 24, reason: `output of epoch 2 at offset 24 differs from what the sink wrote there (wrote 0x32 ("2"), got 0x39 ("9")): a divergence` });
    expect(s.divergences).toBe(1);
    // Nothing of the refused chunk was written: the stream goes on from where it was.
    expect(s.delivered).toBe(28);
    expect(s.accept({ cluster: "c1", epoch: 2, offset: 28, bytes: te.encode("tick 3\n") })).toMatchObject({ kind: "write" });
  });

  it("re-sent bytes older than its window are dropped unchecked and counted", () => {
    const s = new SinkState("c1", 4);
    s.accept({ cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("abcdefgh") });
    expect(s.accept({ cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("XXXXefgh") })).toMatchObject({ kind: "duplicate" });
    expect(s.uncheckedBytes).toBe(4);
    expect(s.accept({ cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("XXXXefgX") })).toMatchObject({ kind: "diverged", offset: 7 });
  });

  it("refuses output of another cluster, or without one, naming both clusters; one without a cluster takes the first it sees", () => {
    const s = new SinkState("c1");
    expect(s.accept({ cluster: "c2", epoch: 9, offset: 0, bytes: te.encode("x") })).toEqual({ kind: "wrong-cluster", reason: "output of cluster c2, the sink belongs to cluster c1" });
    expect(s.accept({ epoch: 1, offset: 0, bytes: te.encode("x") })).toMatchObject({ kind: "wrong-cluster", reason: expect.stringMatching(/\(none given\)/) });
    expect(s.refusedCluster).toBe(2);
    expect(s.epoch).toBe(0);
    const t = new SinkState();
    t.accept({ cluster: "c7", epoch: 1, offset: 0, bytes: te.encode("x") });
    expect(t.cluster).toBe("c7");
  });

  it("the sink server: a host of another cluster is refused at hello with a reason naming both; a diverging host is told", async () => {
    const secret = "s";
    let written = "";
    const diverged: string[] = [];
    const sink = await startSink(secret, { write: (b) => (written += Buffer.from(b).toString()), diverged: (host, epoch, offset, reason) => diverged.push(`${host} ${epoch} ${offset} ${reason}`) }, 0, "c1");
    try {
      const stranger = await connect(sink.url, secret, SINK_SERVICE);
      const told = new Promise<Record<string, unknown>>((r) => stranger.on("message", (m) => r(m)));
      const closed = new Promise<[number, string]>((r) => stranger.on("close", (c, why) => r([c, why])));
      stranger.send({ t: "hello", host: "x", cluster: "c2" });
      expect(await told).toEqual({ t: "wrong-cluster", reason: "host x belongs to cluster c2, this sink to cluster c1", cluster: "c1" });
      expect((await closed)[0]).toBe(CLOSE_REFUSED);

      const h = await connect(sink.url, secret, SINK_SERVICE);
      const answers: Record<string, unknown>[] = [];
      h.on("message", (m) => answers.push(m));
      h.send({ t: "hello", host: "p", cluster: "c1" });
      h.send({ t: "out", cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("hello") });
      h.send({ t: "out", cluster: "c1", epoch: 1, offset: 0, bytes: te.encode("help") });
      for (let i = 0; i < 200 && answers.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(answers[0]).toEqual({ t: "out-ack", delivered: 5 });
      expect(answers[1]).toMatchObject({ t: "out-refused", diverged: true, delivered: 5, reason: expect.stringMatching(/offset 3 differs/) });
      expect(diverged).toEqual([expect.stringMatching(/^p 1 3 output of epoch 1 at offset 3 differs/)]);
      expect(written).toBe("hello");
      expect(sink.state).toMatchObject({ divergences: 1, refusedCluster: 1 });
      h.close();
    } finally {
      await sink.close();
    }
  });
});

describe("virtual switch: comparison", () => {
  function io() {
    const o = { written: "", logs: [] as string[] };
    return { o, io: { write: (_c: number, b: Uint8Array) => (o.written += Buffer.from(b).toString()), end: () => undefined, destroy: () => undefined, log: (l: string) => o.logs.push(l) } };
  }

  it("drops re-sent bytes that match and refuses (and counts) re-sent bytes that differ", () => {
    const { o, io: x } = io();
    const sw = new Switch(x);
    const c = sw.open();
    if ("refused" in c) throw new Error(c.refused);
    sw.live("A", 1, [], []);
    sw.output(1, [[c.conn, c.gen, 0, te.encode("+OK\r\n"), 0]]);
    sw.output(2, [[c.conn, c.gen, 0, te.encode("+OK\r\n:1\r\n"), 0]]);
    expect(o.written).toBe("+OK\r\n:1\r\n");
    sw.output(2, [[c.conn, c.gen, 5, te.encode(":2\r\n"), 0]]);
    expect(o.written).toBe("+OK\r\n:1\r\n");
    expect(sw.stats.diverged).toBe(1);
    expect(sw.lastDivergence).toBe(`output of epoch 2 for connection ${c.conn} at offset 6 differs from what the switch wrote there (wrote 0x31 ("1"), got 0x32 ("2")): a divergence`);
    expect(o.logs.some((l) => /refused output of epoch 2 .* a divergence/.test(l))).toBe(true);
    expect(SWITCH_COMPARE_WINDOW_BYTES_PER_CONN).toBeGreaterThan(0);
  });

  it("the switch server refuses announcements and output of another cluster, naming both", async () => {
    const logs: string[] = [];
    const srv = await SwitchServer.start({ secret: "s", port: 0, cluster: "c1", log: (l) => logs.push(l) });
    try {
      const ch = await connect(srv.url, "s", SWITCH_SERVICE);
      const got: Record<string, unknown>[] = [];
      ch.on("message", (m) => got.push(m));
      ch.send({ t: "live", host: "x", cluster: "c2", epoch: 1, nic: [], durable: [] });
      ch.send({ t: "net-out", cluster: "c2", epoch: 1, chunks: [] });
      for (let i = 0; i < 200 && got.filter((m) => m.t === "wrong-cluster").length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got.filter((m) => m.t === "wrong-cluster").map((m) => m.reason)).toEqual([
        "host x belongs to cluster c2, this switch to cluster c1",
        "an unannounced host belongs to cluster c2, this switch to cluster c1",
      ]);
      expect(srv.sw.primary).toBeUndefined();
      expect(srv.refusedCluster).toBe(2);
      ch.close();
    } finally {
      await srv.close();
    }
  });
});

describe("virtual switch: an arbiter of another cluster", () => {
  it("is refused: no host is taken as primary on its word", async () => {
    const arb = await startTestArbiter("s", "c9");
    const logs: string[] = [];
    const srv = await SwitchServer.start({ secret: "s", port: 0, cluster: "c1", arbiterUrl: arb.url, log: (l) => logs.push(l) });
    try {
      const ch = await connect(srv.url, "s", SWITCH_SERVICE);
      const got = new Promise<Record<string, unknown>>((r) => ch.on("message", (m) => r(m)));
      ch.send({ t: "live", host: "p", cluster: "c1", epoch: 1, nic: [], durable: [] });
      expect(await got).toEqual({ t: "live-refused", reason: expect.stringMatching(/the arbiter at ws:\S+ belongs to cluster c9, this one to cluster c1/) });
      expect(srv.sw.primary).toBeUndefined();
      ch.close();
    } finally {
      await srv.close();
      await arb.close();
    }
  });
});

describe("shared disk: comparison and cluster", () => {
  const G: DiskGeometry = { blocks: 16, blockBytes: 64 };
  const fill = (b: number, n = 1) => new Uint8Array(G.blockBytes * n).fill(b);
  const req = (seq: number, block: number, data: Uint8Array): DiskRequest => ({ seq, slot: 0, op: DISK_WRITE, block, count: data.length / G.blockBytes, addr: 0, tag: seq, data });
  const submit = (c: DiskClient, r: DiskRequest, epoch: number) => new Promise<number>((resolve) => c.submit(r, (status) => resolve(status), epoch));

  it("a re-issued write (same seq) with the same bytes is performed; with other bytes or blocks it is refused as a divergence and counted", async () => {
    const path = join(dir, "cmp.img");
    createDiskImage(path, G);
    const s = await startDiskServer("s", path, 0, "c1");
    const fenced: string[] = [];
    try {
      const old = await DiskClient.open(s.url, "s", { cluster: "c1", host: "p" });
      expect(await submit(old, req(7, 3, fill(1)), 1)).toBe(DISK_STATUS.OK);
      // The new primary re-issues request 7 after the failover: the same write, performed again.
      const next = await DiskClient.open(s.url, "s", { cluster: "c1", host: "b", onFenced: (r) => fenced.push(r) });
      expect(await submit(next, req(7, 3, fill(1)), 2)).toBe(DISK_STATUS.OK);
      // Request 7 with other bytes, or on other blocks: another execution.
      next.submit(req(7, 3, fill(2)), () => fenced.push("completed?!"), 2);
      next.submit(req(7, 4, fill(1)), () => fenced.push("completed?!"), 2);
      for (let i = 0; i < 200 && fenced.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(fenced).toEqual([
        "write of request 7 from host b in epoch 2 diverges: other bytes at block 3 (byte 0) for that request: a divergence",
        "write of request 7 from host b in epoch 2 diverges: blocks 4..4, but it wrote blocks 3..3 for that request: a divergence",
      ]);
      expect(readDiskBlocks(path, G, 3, 2)).toEqual(new Uint8Array([...fill(1), ...new Uint8Array(G.blockBytes)]));
      expect(s.stats).toMatchObject({ writes: 2, diverged: 2 });
      expect(DISK_COMPARE_BYTES_MAX).toBeGreaterThan(0);
      old.close();
      next.close();
    } finally {
      await s.close();
    }
  });

  it("refuses a host of another cluster at once (no retrying), naming both clusters", async () => {
    const path = join(dir, "cl.img");
    createDiskImage(path, G);
    const s = await startDiskServer("s", path, 0, "c1");
    try {
      await expect(DiskClient.open(s.url, "s", { cluster: "c2", host: "x" })).rejects.toThrow(/refused this host: host x belongs to cluster c2, this disk server to cluster c1/);
      expect(s.stats.refusedCluster).toBe(1);
    } finally {
      await s.close();
    }
  });
});
