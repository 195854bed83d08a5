// FT with a shared disk, without processes: the disk gate (the output rule for writes), the
// disk server (fencing by epoch, reads, bad requests, re-sent requests), and the pure FtNode
// running programs/kvlog.s on a shared in-memory disk whose requests complete in a seeded
// random order: the backup's state equals the primary's, and failovers and clones with
// requests in flight leave the very image a failure-free run leaves.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testAndSet } from "../src/arbiter/core.js";
import type { DiskGeometry, DiskRequest } from "../src/devices/disk.js";
import { DISK_READ, DISK_REQUEST_BYTES_MAX, DISK_REQUESTS_MAX, DISK_STATUS, DISK_WRITE } from "../src/devices/disk.js";
import { LOG_BATCH_BYTES_MAX } from "../src/ft/primary.js";
import { DiskGate } from "../src/ft/diskgate.js";
import { FtNode } from "../src/ft/node.js";
import { DISK_IMAGE_HEADER_BYTES, createDiskImage, readDiskBlocks } from "../src/host/disk.js";
import { DiskClient } from "../src/host/diskclient.js";
import { DISK_SERVER_PENDING_PER_CONNECTION_MAX, DISK_SERVICE, startDiskServer } from "../src/host/disksrv.js";
import { checkKvImage } from "../src/cli/kvcheck.js";
import { loadProgram } from "../src/host/program.js";
import { MemoryDisk } from "../src/replay/memdisk.js";
import type { DiskBackend } from "../src/replay/world.js";
import { fakeWorld } from "../src/replay/world.js";
import { LOG_PROTOCOL_VERSION } from "../src/ft/protocol.js";
import { TestCluster } from "./support/cluster.js";
import { CLOSE_MALFORMED, connect, setLogger } from "../src/transport/channel.js";
import { memDigest, regsDigest } from "../src/vm/digest.js";
import { encodeImage } from "../src/vm/image.js";

setLogger(() => undefined);
const dir = mkdtempSync(join(tmpdir(), "ftvm-ftdisk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const req = (seq: number, op: number, block: number, data?: Uint8Array): DiskRequest => ({ seq, slot: seq % 8, op, block, count: 1, addr: 0, tag: seq, data });

describe("disk gate: the output rule for writes", () => {
  function setup() {
    const sent: { seq: number; epoch: number | undefined }[] = [];
    const backend: DiskBackend = { submit: (r, _done, epoch) => sent.push({ seq: r.seq, epoch }) };
    const s = { icount: 0, epoch: 3 };
    const gate = new DiskGate(backend, () => s.icount, () => s.epoch);
    return { sent, s, gate };
  }

  it("sends reads at once, holds writes until the backup acknowledged their icount, in order", () => {
    const { sent, s, gate } = setup();
    s.icount = 100;
    gate.submit(req(1, DISK_WRITE, 5, new Uint8Array(16)), () => undefined);
    gate.submit(req(2, DISK_READ, 9), () => undefined);
    s.icount = 200;
    gate.submit(req(3, DISK_WRITE, 6, new Uint8Array(16)), () => undefined);
    expect(sent.map((x) => x.seq)).toEqual([2]);
    expect(gate.heldCount).toBe(2);
    expect(gate.release(99)).toBe(0);
    expect(gate.release(150)).toBe(1);
    expect(sent.map((x) => x.seq)).toEqual([2, 1]);
    expect(gate.release(199)).toBe(0);
    expect(gate.release(200)).toBe(1);
    expect(sent.map((x) => x.seq)).toEqual([2, 1, 3]);
    expect(gate.heldCount).toBe(0);
    expect(gate.writesReleased).toBe(2);
  });

  it("writes one acknowledgement releases go to the back-end together, between one cork() and its uncork()", () => {
    const calls: string[] = [];
    const backend: DiskBackend = {
      submit: (r) => calls.push(`submit ${r.seq}`),
      cork: () => calls.push("cork"),
      uncork: () => calls.push("uncork"),
    };
    const s = { icount: 0 };
    const gate = new DiskGate(backend, () => s.icount, () => 1);
    for (let seq = 1; seq <= 4; seq++) {
      s.icount = seq * 10;
      gate.submit(req(seq, DISK_WRITE, seq, new Uint8Array(16)), () => undefined);
    }
    expect(gate.release(30)).toBe(3);
    expect(gate.release(30)).toBe(0);
    expect(gate.releaseAll()).toBe(1);
    expect(calls).toEqual(["cork", "submit 1", "submit 2", "submit 3", "uncork", "cork", "submit 4", "uncork"]);
  });

  it("releases everything when the node is alone; released writes carry the epoch of their release", () => {
    const { sent, s, gate } = setup();
    s.icount = 10;
    gate.submit(req(1, DISK_WRITE, 1, new Uint8Array(16)), () => undefined);
    gate.submit(req(2, DISK_WRITE, 2, new Uint8Array(16)), () => undefined);
    // The backup failed and this node won epoch 4 alone.
    s.epoch = 4;
    expect(gate.releaseAll()).toBe(2);
    gate.submit(req(3, DISK_READ, 3), () => undefined);
    expect(sent).toEqual([
      { seq: 1, epoch: 4 },
      { seq: 2, epoch: 4 },
      { seq: 3, epoch: 4 },
    ]);
  });
});

describe("disk server", () => {
  const G: DiskGeometry = { blocks: 64, blockBytes: 64 };
  const fill = (b: number) => new Uint8Array(G.blockBytes).fill(b);

  async function server(name: string) {
    const path = join(dir, name);
    createDiskImage(path, G);
    const s = await startDiskServer("s3cret", path);
    return { path, s };
  }

  const submit = (c: DiskClient, r: DiskRequest, epoch: number) =>
    new Promise<{ status: number; data?: Uint8Array }>((resolve) => c.submit(r, (status, data) => resolve({ status, data }), epoch));

  it("gives the geometry, performs reads and writes, and refuses a write from an older epoch with a reason", async () => {
    const { path, s } = await server("fence.img");
    const fenced: string[] = [];
    const c = await DiskClient.open(s.url, "s3cret", { onFenced: (r) => fenced.push(r) });
    expect(c.geometry).toEqual(G);
    expect(await submit(c, req(1, DISK_WRITE, 3, fill(7)), 2)).toEqual({ status: DISK_STATUS.OK });
    // A deposed primary of epoch 1: its write is refused (and never completed), its read is served.
    const old = await DiskClient.open(s.url, "s3cret", { onFenced: (r) => fenced.push(r) });
    let completed = false;
    old.submit(req(2, DISK_WRITE, 3, fill(9)), () => (completed = true), 1);
    const read = await submit(old, req(3, DISK_READ, 3), 1);
    expect(read.status).toBe(DISK_STATUS.OK);
    expect(read.data).toEqual(fill(7));
    expect(completed).toBe(false);
    expect(fenced).toEqual(["write from epoch 1, the disk has seen epoch 2"]);
    expect(s.stats).toMatchObject({ writes: 1, reads: 1, refusedStale: 1, epoch: 2 });
    expect(readDiskBlocks(path, G, 3, 1)).toEqual(fill(7));
    c.close();
    old.close();
    await s.close();
  });

  it("a host that holds a newer epoch than its refused write re-sends it in that epoch; a host behind the server is fenced", async () => {
    const { path, s } = await server("renew.img");
    const fenced: string[] = [];
    let epoch = 2;
    const c = await DiskClient.open(s.url, "s3cret", { onFenced: (r) => fenced.push(r), currentEpoch: () => epoch });
    const other = await DiskClient.open(s.url, "s3cret");
    // The server has seen epoch 3 (this host's pair epoch, say) before a write this host released in epoch 2.
    await submit(other, req(1, DISK_READ, 0), 3);
    epoch = 3;
    expect(await submit(c, req(2, DISK_WRITE, 4, fill(4)), 2)).toEqual({ status: DISK_STATUS.OK });
    expect(c.renewed).toBe(1);
    expect(readDiskBlocks(path, G, 4, 1)).toEqual(fill(4));
    // Epoch 4 went to someone else: this host (still at 3) is fenced.
    await submit(other, req(3, DISK_READ, 0), 4);
    c.submit(req(4, DISK_WRITE, 5, fill(5)), () => fenced.push("completed?!"), 3);
    for (let i = 0; i < 100 && fenced.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(fenced).toEqual(["write from epoch 3, the disk has seen epoch 4"]);
    expect(readDiskBlocks(path, G, 5, 1)).toEqual(new Uint8Array(G.blockBytes));
    c.close();
    other.close();
    await s.close();
  });

  it("refuses a malformed request with a reason and keeps serving others", async () => {
    const { s } = await server("bad.img");
    const bad = await connect(s.url, "s3cret", DISK_SERVICE);
    const closed = new Promise<[number, string]>((r) => bad.on("close", (code, reason) => r([code, reason])));
    bad.send({ t: "hello" });
    bad.send({ t: "req", id: "x", epoch: 1, op: DISK_WRITE, block: 63, count: 2, data: new Uint8Array(128) });
    const [code, reason] = await closed;
    expect(code).toBe(CLOSE_MALFORMED);
    expect(reason).toMatch(/beyond the disk's 64/);
    const c = await DiskClient.open(s.url, "s3cret");
    expect(await submit(c, req(1, DISK_WRITE, 0, fill(1)), 1)).toEqual({ status: DISK_STATUS.OK });
    c.close();
    await s.close();
  });

  it("with readImage, reads go to the image directly and see every write the server performed; only writes reach the server", async () => {
    const { path, s } = await server("direct.img");
    const c = await DiskClient.open(s.url, "s3cret", { readImage: path });
    for (let i = 1; i <= 3; i++) {
      expect(await submit(c, req(2 * i, DISK_WRITE, 5, fill(i)), 1)).toEqual({ status: DISK_STATUS.OK });
      // The read is issued after the write's completion, as the device orders them.
      const r = await submit(c, req(2 * i + 1, DISK_READ, 5), 1);
      expect(r).toEqual({ status: DISK_STATUS.OK, data: fill(i) });
    }
    expect(c.directReads).toBe(3);
    expect(s.stats).toMatchObject({ reads: 0, writes: 3 });
    c.close();
    await s.close();
  });

  it("refuses a read image that is not the server's (another geometry), saying why", async () => {
    const { s } = await server("served.img");
    const other = join(dir, "other.img");
    createDiskImage(other, { blocks: 32, blockBytes: 64 });
    await expect(DiskClient.open(s.url, "s3cret", { readImage: other })).rejects.toThrow(/other\.img has 32 blocks of 64 bytes, but the disk server at .* serves 64 of 64: not the same image/);
    await expect(DiskClient.open(s.url, "s3cret", { readImage: join(dir, "missing.img") })).rejects.toThrow(/--disk-read-image .*missing\.img: /);
    await s.close();
  });

  it("answers a flood of overlapping writes on one connection, every one, performed in arrival order", async () => {
    // The server performs each request as it arrives (FileDisk.perform), so no queue forms
    // and the per-connection bound (DISK_SERVER_PENDING_PER_CONNECTION_MAX) is never reached:
    // more writes than it to one block are all answered, and the block holds the last.
    const { path, s } = await server("flood.img");
    const ch = await connect(s.url, "s3cret", DISK_SERVICE);
    const n = DISK_SERVER_PENDING_PER_CONNECTION_MAX + 8;
    const answered: string[] = [];
    const all = new Promise<void>((r) =>
      ch.on("message", (m) => {
        if (m.t === "done" && m.status === DISK_STATUS.OK) answered.push(m.id as string);
        if (answered.length === n) r();
      }),
    );
    for (let i = 0; i < n; i++) ch.send({ t: "req", id: `w${i}`, epoch: 1, op: DISK_WRITE, block: 0, count: 1, data: fill(i) });
    await all;
    expect(answered).toEqual(Array.from({ length: n }, (_, i) => `w${i}`));
    expect(s.stats.writes).toBe(n);
    expect(readDiskBlocks(path, G, 0, 1)).toEqual(fill(n - 1));
    ch.close("done");
    await s.close();
  });

  it("the client re-sends unanswered requests after the connection drops; each completes once", async () => {
    const { path, s } = await server("resend.img");
    const c = await DiskClient.open(s.url, "s3cret");
    const done: number[] = [];
    const all = Promise.all([1, 2, 3].map((i) => new Promise<void>((r) => c.submit(req(i, DISK_WRITE, 10 + i, fill(i)), (st) => (done.push(st), r()), 1))));
    (c as unknown as { ch: { terminate(): void } }).ch.terminate();
    await all;
    expect(done).toEqual([DISK_STATUS.OK, DISK_STATUS.OK, DISK_STATUS.OK]);
    expect(c.resent + s.stats.writes).toBeGreaterThanOrEqual(3);
    for (const i of [1, 2, 3]) expect(readDiskBlocks(path, G, 10 + i, 1)).toEqual(fill(i));
    c.close();
    await s.close();
  });
});

// ---- the pure node with a shared disk ----------------------------------------------

const KVLOG = loadProgram("programs/kvlog.s");
const KV_GEOMETRY: DiskGeometry = { blocks: 201, blockBytes: 512 };
const RECORDS = KV_GEOMETRY.blocks - 1;
/** run() calls per node per round at most (a busy node is called again, as the host's loop does). */
const RUNS_PER_ROUND_MAX = 20;

/** A shared disk in memory: fences writes by epoch like the disk server, completes requests when the cluster says. */
class SharedDisk {
  readonly mem: MemoryDisk;
  epoch = 0;
  refused = 0;
  /** (host, seq, op) of every request that reached the disk. */
  readonly arrivals: { host: string; seq: number; op: number; epoch: number }[] = [];

  constructor(g: DiskGeometry) {
    this.mem = new MemoryDisk(g);
  }

  backendFor(host: string): DiskBackend {
    return {
      submit: (r, done, epoch = 0) => {
        this.arrivals.push({ host, seq: r.seq, op: r.op, epoch });
        if (r.op === DISK_WRITE && epoch < this.epoch) {
          this.refused++;
          return;
        }
        this.epoch = Math.max(this.epoch, epoch);
        this.mem.submit(r, done);
      },
    };
  }
}

/** The shared tests' cluster (test/support/cluster.ts) with a shared disk, and the log's read data counted. */
class Cluster extends TestCluster {
  disk: SharedDisk;
  /** Requests the disk completes per round (default: a random 0..2). */
  completePerRound?: number;
  /** The most read-data bytes one log message from a primary carried. */
  logMessageBytesMax = 0;
  logReadBytes = 0;

  constructor(seed: number, g: DiskGeometry = KV_GEOMETRY, flushIntervalMs?: number) {
    const disk = new SharedDisk(g);
    super({
      seed,
      runsPerRound: RUNS_PER_ROUND_MAX,
      nodeConfig: (id) => ({ sliceIcount: 2000, disk: disk.backendFor(id), flushIntervalMs }),
      afterRound: (c) => disk.mem.completeSome(this.completePerRound ?? c.rand(3), (k) => c.rand(k)),
    });
    this.disk = disk;
    this.onSend = (_from, m) => {
      if (m.t !== "log") return;
      let bytes = 0;
      for (const e of m.events as unknown[][]) {
        const d = e[3] as { data?: unknown } | null;
        if (d && typeof d === "object" && d.data instanceof Uint8Array) bytes += d.data.length;
      }
      this.logMessageBytesMax = Math.max(this.logMessageBytesMax, bytes);
      this.logReadBytes += bytes;
    };
  }

  /** The shared image, checked by ftvm disk check's checker. */
  check(name: string) {
    const path = join(dir, name);
    createDiskImage(path, KV_GEOMETRY);
    const fd = openSync(path, "r+");
    writeSync(fd, this.disk.mem.bytes, 0, this.disk.mem.bytes.length, DISK_IMAGE_HEADER_BYTES);
    closeSync(fd);
    return checkKvImage(path);
  }
}

function startPair(c: Cluster, beforeStart?: (p: FtNode) => void, image = KVLOG, disk = KV_GEOMETRY): { p: FtNode; b: FtNode } {
  const p = c.add("p", 11);
  beforeStart?.(p);
  const b = c.add("b", 22);
  c.startPrimary("p", { program: "guest", image, disk }, "b");
  return { p, b };
}

function runToEnd(c: Cluster, rounds = 20000): void {
  c.runToEnd(rounds);
}

const EXPECTED = (() => {
  const lines = [`kvlog: 0 records in the log, appending ${RECORDS}`];
  for (let k = 100; k <= RECORDS; k += 100) lines.push(`kvlog: ${k} records on disk`);
  lines.push(`kvlog: appended ${RECORDS} records; the log holds ${RECORDS}`);
  return lines.join("\n") + "\n";
})();

/** The image a failure-free run leaves (kvlog writes the same bytes whatever the completion order). */
const reference = (() => {
  const c = new Cluster(1);
  startPair(c);
  for (let i = 0; i < 20000 && !c.finished(); i++) c.round();
  return c;
})();
/** Rounds a failure-free run takes: crash points are spread over it. */
const RUN_ROUNDS = reference.nowMs;
const at = (f: number) => Math.floor(f * RUN_ROUNDS);

describe("the pure node with a shared disk", () => {
  it("record → replay under FT: the backup ends in the primary's state, having never touched the disk", () => {
    for (const seed of [1, 7, 99]) {
      const c = seed === 1 ? reference : new Cluster(seed);
      if (seed !== 1) {
        startPair(c);
        runToEnd(c);
      }
      // Let the backup replay to the end of the log.
      for (let i = 0; i < 200; i++) c.round();
      const p = c.nodes.get("p")!;
      const b = c.nodes.get("b")!;
      expect(c.text()).toBe(EXPECTED);
      expect(b.machine.icount).toBe(p.machine.icount);
      expect(regsDigest(b.machine)).toBe(regsDigest(p.machine));
      expect(memDigest(b.machine)).toBe(memDigest(p.machine));
      expect(c.disk.arrivals.every((a) => a.host === "p" && a.epoch === 1)).toBe(true);
      const r = c.check(`ref-${seed}.img`);
      expect(r.problems).toEqual([]);
      expect(r.committed).toBe(RECORDS);
      expect(Buffer.from(c.disk.mem.bytes).equals(Buffer.from(reference.disk.mem.bytes))).toBe(true);
    }
  });

  it("writes reach the disk only once the backup holds the log through the instruction that started them", () => {
    const c = new Cluster(5);
    const startedAt = new Map<number, number>();
    const ackedAtArrival: [number, number][] = [];
    const { p } = startPair(c, (p) => {
      const backend = p.cfg.disk!;
      p.setDiskBackend({
        submit: (r, done, epoch) => {
          if (r.op === DISK_WRITE) ackedAtArrival.push([r.seq, p.plog!.ackedIcount]);
          backend.submit(r, done, epoch);
        },
      });
    });
    // Note the icount at which each request starts on the primary.
    const d = p.bus.disk;
    const start = d.start.bind(d);
    d.start = () => {
      const slot = start();
      if (slot >= 0) startedAt.set([...d.inFlight(), ...d.waiting()].find((r) => r.slot === slot)!.seq, p.machine.icount);
      return slot;
    };
    runToEnd(c);
    expect(c.text()).toBe(EXPECTED);
    expect(ackedAtArrival.length).toBeGreaterThan(RECORDS);
    for (const [seq, acked] of ackedAtArrival) expect(acked).toBeGreaterThanOrEqual(startedAt.get(seq)!);
  });
});

describe("log batches carry read data", () => {
  // Seven 64 KiB reads in flight at a time, 40 times over, taken by polling (no WFI, so no
  // batch closes for waiting), with the flush interval out of the way: only the byte bound
  // closes batches. Without it the whole run's 17.5 MiB would go in one message, past the
  // channel's 16 MiB bound.
  const READS = `
    .include "disk.s"
    .code
    main:
        LI r7, 40
    round:
        LI r8, 0
        LI r4, 0x10000
    start_next:
        LI r1, DISK_READ
        MULI r2, r8, 128
        LI r3, 128
        MOV r5, r8
        CALL disk_start
        BLT r1, r0, fail
        ADDI r4, r4, 0x10000
        ADDI r8, r8, 1
        SLTIU r9, r8, 7
        BNEZ r9, start_next
    poll:
        IN r1, DISK_DONE
        IN r2, DISK_PENDING
        BNEZ r2, poll
        ADDI r7, r7, -1
        BNEZ r7, round
        LDW r1, [0x60000]
        CALL print_uint
        HALT
    fail:
        HALT
    .include "printnum.s"
  `;

  it("a batch closes once its read data passes LOG_BATCH_BYTES_MAX; the backup still ends in the primary's state", () => {
    const path = join(dir, "reads.s");
    writeFileSync(path, READS);
    const g: DiskGeometry = { blocks: 1024, blockBytes: 512 };
    const c = new Cluster(3, g, 1e9);
    c.disk.mem.bytes.fill(3);
    c.completePerRound = 7;
    startPair(c, undefined, loadProgram(path), g);
    runToEnd(c);
    for (let i = 0; i < 200; i++) c.round();
    const p = c.nodes.get("p")!;
    const b = c.nodes.get("b")!;
    expect(c.text()).toBe(String(0x03030303));
    expect(c.logReadBytes).toBe(40 * 7 * 65536);
    expect(c.logMessageBytesMax).toBeGreaterThanOrEqual(LOG_BATCH_BYTES_MAX);
    // The bound plus what one step can add (every slot's read).
    expect(c.logMessageBytesMax).toBeLessThanOrEqual(LOG_BATCH_BYTES_MAX + DISK_REQUESTS_MAX * DISK_REQUEST_BYTES_MAX);
    expect(b.machine.icount).toBe(p.machine.icount);
    expect(memDigest(b.machine)).toBe(memDigest(p.machine));
  });
});

describe("failover and clone with disk I/O in flight", () => {
  it.each([
    [1, 0.03],
    [2, 0.2],
    [3, 0.45],
    [4, 0.7],
    [5, 0.9],
  ])("primary crash #%i at %f of the run: re-issued requests complete once; the image equals a failure-free run's", (seed, f) => {
    const c = new Cluster(seed * 31);
    startPair(c);
    for (let i = 0; i < at(f); i++) c.round();
    // Crash only with requests outstanding on the primary's device.
    for (let i = 0; i < 200 && c.nodes.get("p")!.bus.disk.pending() === 0; i++) c.round();
    expect(c.nodes.get("p")!.bus.disk.pending()).toBeGreaterThan(0);
    c.crash("p");
    runToEnd(c);
    expect(c.news.some((n) => n.host === "b" && n.data.event === "live")).toBe(true);
    expect(c.text()).toBe(EXPECTED);
    const r = c.check(`crash-${seed}.img`);
    expect(r.problems).toEqual([]);
    expect(r.committed).toBe(RECORDS);
    expect(Buffer.from(c.disk.mem.bytes).equals(Buffer.from(reference.disk.mem.bytes))).toBe(true);
    // The new primary writes in epoch 2; nothing of the old epoch arrived after it.
    const firstNew = c.disk.arrivals.findIndex((a) => a.host === "b");
    expect(c.disk.arrivals.slice(firstNew).every((a) => a.host === "b" && a.epoch === 2)).toBe(true);
  });

  it("re-issues on go-live the requests the old primary started and the log did not complete", () => {
    let reissued = 0;
    for (const [seed, f] of [
      [6, 0.1],
      [7, 0.5],
      [8, 0.8],
    ]) {
      const c = new Cluster(seed);
      startPair(c);
      for (let i = 0; i < at(f); i++) c.round();
      c.crash("p");
      const live = () => c.news.some((n) => n.host === "b" && n.data.event === "live");
      for (let i = 0; i < 2000 && !live(); i++) c.round();
      expect(live()).toBe(true);
      const b = c.nodes.get("b")!;
      const old = new Set(c.disk.arrivals.filter((a) => a.host === "p").map((a) => a.seq));
      runToEnd(c);
      reissued += c.disk.arrivals.filter((a) => a.host === "b" && old.has(a.seq)).length;
      expect(b.role).toBe("finished");
      expect(c.text()).toBe(EXPECTED);
    }
    expect(reissued).toBeGreaterThan(0);
  });

  it("clone with disk I/O in flight: a new backup joins a lone primary, which then crashes", () => {
    const c = new Cluster(77);
    const p = c.add("p", 11);
    c.startPrimary("p", { program: "kvlog", image: KVLOG, disk: KV_GEOMETRY });
    for (let i = 0; i < at(0.3) || p.bus.disk.pending() === 0; i++) c.round();
    c.join("p", "j", 33);
    let clonedWithPending = -1;
    for (let i = 0; i < 200 && !c.news.some((n) => n.host === "j" && n.data.event === "paired-backup"); i++) {
      c.round();
      if (clonedWithPending < 0 && c.news.some((n) => n.data.event === "clone")) clonedWithPending = p.bus.disk.pending();
    }
    expect(c.news.some((n) => n.host === "j" && n.data.event === "paired-backup")).toBe(true);
    for (let i = 0; i < at(0.1); i++) c.round();
    expect(clonedWithPending).toBeGreaterThan(0);
    c.crash("p");
    runToEnd(c);
    expect(c.news.some((n) => n.host === "j" && n.data.event === "live")).toBe(true);
    expect(c.text()).toBe(EXPECTED);
    const r = c.check("clone.img");
    expect(r.problems).toEqual([]);
    expect(Buffer.from(c.disk.mem.bytes).equals(Buffer.from(reference.disk.mem.bytes))).toBe(true);
  });

  it("a primary whose backup failed holds its writes while electing: released in the new epoch if it wins, never if it loses", () => {
    for (const wins of [true, false]) {
      const c = new Cluster(wins ? 9 : 10);
      const { p } = startPair(c);
      for (let i = 0; i < at(0.3); i++) c.round();
      c.deferTas = [];
      c.crash("b");
      // Acknowledgements b sent before it died still arrive (over TCP they would come before
      // the close) and may release writes they cover: let them land first.
      c.round();
      // Writes after that wait for acknowledgements that never come, until the failure detector fires.
      const before = c.disk.arrivals.length;
      for (let i = 0; i < 1000 && p.role !== "electing"; i++) c.round();
      for (let i = 0; i < 30; i++) c.round();
      expect(p.role).toBe("electing");
      // The guest went on (its reads were served), but no write left the primary.
      expect(p.status(0).heldWrites).toBeGreaterThan(0);
      expect(c.disk.arrivals.slice(before).filter((a) => a.op === DISK_WRITE)).toEqual([]);
      const pending = c.deferTas.splice(0);
      c.deferTas = undefined;
      if (!wins) c.arbiter = testAndSet(c.arbiter, { epoch: 2, host: "b", members: ["b"] }).state;
      for (const t of pending) c.answerTas(t.id, t.req);
      const writes = c.disk.arrivals.slice(before).filter((a) => a.op === DISK_WRITE);
      if (wins) {
        expect(p.role).toBe("alone");
        expect(writes.length).toBeGreaterThan(0);
        expect(writes.every((w) => w.epoch === 2)).toBe(true);
        runToEnd(c);
        expect(c.text()).toBe(EXPECTED);
        expect(Buffer.from(c.disk.mem.bytes).equals(Buffer.from(reference.disk.mem.bytes))).toBe(true);
      } else {
        expect(p.role).toBe("halted");
        expect(writes).toEqual([]);
      }
    }
  });

  it("a backup without a disk back-end refuses a primary with a disk at once", () => {
    const b = new FtNode({ id: "b", heartbeatMs: 25, timeoutMs: 150, world: fakeWorld(1, 1, 20) });
    expect(() => b.startBackup({ t: "start", v: LOG_PROTOCOL_VERSION, program: "kvlog", epoch: 1, image: encodeImage(KVLOG), memBytes: 65536, stackBytes: 4096, disk: KV_GEOMETRY }, 0)).toThrow(/no disk back-end/);
  });
});
