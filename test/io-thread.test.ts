// The backup's I/O thread (src/host/io-thread.ts, io-worker.ts): its log front
// acknowledges the primary's log while the host's thread is busy (the point of it), holds
// back while the host's thread decides, and its figure is final once the channel closes.
// A real connection on loopback; the "primary" is a transport server in this process.
import { afterAll, describe, expect, it } from "vitest";
import { type Channel, listen } from "../src/transport/channel.js";
import { ioThread } from "../src/host/io-thread.js";

const SECRET = "io-thread-test-secret";
const SERVICE = "ftvm-log/2";
const batch = (first: number, last: number) => ({ t: "log", events: Array.from({ length: last - first + 1 }, (_, i) => [first + i, (first + i) * 10, 2, 1]) });

/** Waits (event loop running) until `ok()`, for at most `ms`. */
async function until(ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  expect(ok()).toBe(true);
}

/** Spins this thread (no event loop turns) until `ok()` or `ms` pass; true when ok. */
function spinUntil(ok: () => boolean, ms: number): boolean {
  const end = Date.now() + ms;
  while (Date.now() < end) if (ok()) return true;
  return ok();
}

describe("the backup's I/O thread", () => {
  const servers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  /** A primary's side (a plain channel that records the acknowledgements it gets) and a backup's side on the I/O thread, connected. */
  async function pair() {
    let primarySide: Channel | undefined;
    const acks: number[] = [];
    let gotChannel!: () => void;
    const accepted = new Promise<void>((r) => (gotChannel = r));
    const srv = await listen({
      host: "127.0.0.1",
      port: 0,
      secret: SECRET,
      service: SERVICE,
      onChannel: (ch) => {
        primarySide = ch;
        ch.on("message", (m) => {
          if (m.t === "ack") acks.push(m.lsn as number);
        });
        gotChannel();
      },
    });
    servers.push(srv);
    const backupSide = await ioThread().connect(srv.url, SECRET, SERVICE, { queueEventsMax: 1 << 20 });
    await accepted;
    const infos: ({ seq: number; front?: { lsn: number; acked: boolean } } | undefined)[] = [];
    backupSide.on("message", (_m, info) => infos.push(info));
    return { primarySide: primarySide!, acks, backupSide, infos };
  }

  it("acknowledges log batches while the host's thread is busy, holds back while held, and reports a final figure at close", async () => {
    const { primarySide, acks, backupSide, infos } = await pair();

    // Unarmed: the first batch is passed on unacknowledged (the node acknowledges it itself).
    primarySide.send(batch(1, 3));
    await until(() => infos.length === 1);
    expect(infos).toEqual([{ seq: 1 }]);
    expect(backupSide.frontFigures.early).toBe(0);
    // The node took message 1 and acknowledged lsn 3: that arms the front.
    backupSide.taken = 1;
    backupSide.send({ t: "ack", lsn: 3, icount: 30 });
    await until(() => acks.includes(3));

    // The host's thread is busy from here (no event loop turn): batches 4..5 and 6..9 arrive
    // and are acknowledged on the I/O thread all the same.
    primarySide.send(batch(4, 5));
    primarySide.send(batch(6, 9));
    const acked = spinUntil(() => backupSide.frontFigures.early >= 2, 10_000);
    expect(acked).toBe(true);
    expect(backupSide.ackedMax).toBe(9);
    await until(() => acks.includes(9) && infos.length === 3);
    expect(infos.slice(1)).toEqual([
      { seq: 2, front: { lsn: 5, acked: true } },
      { seq: 3, front: { lsn: 9, acked: true } },
    ]);

    // Held: a batch is passed on with the lsn the node must reach, but not acknowledged.
    backupSide.hold();
    primarySide.send(batch(10, 10));
    // Spinning here, so the batch is received on the I/O thread while this thread holds.
    expect(spinUntil(() => backupSide.frontFigures.batches === 4, 10_000)).toBe(true);
    expect(backupSide.frontFigures.early).toBe(2);
    backupSide.release();
    await until(() => infos.length === 4);
    expect(infos.at(-1)).toEqual({ seq: 4, front: { lsn: 10, acked: false } });
    primarySide.send(batch(11, 12));
    await until(() => backupSide.ackedMax === 12);

    // Closed from this side: nothing more is acknowledged, whatever arrives.
    let closed = false;
    backupSide.on("close", () => (closed = true));
    backupSide.terminate();
    expect(closed).toBe(true);
    primarySide.send(batch(13, 13));
    await new Promise((r) => setTimeout(r, 200));
    expect(backupSide.ackedMax).toBe(12);
    expect(backupSide.frontFigures.early).toBe(3);
  });

  it("passes on a log batch whose payloads came as raw frames (framing 2) with its bytes, and small batches as bytes too", async () => {
    const { primarySide, backupSide } = await pair();
    const got: { t: string; events?: unknown[][] }[] = [];
    backupSide.on("message", (m) => got.push(m as { t: string; events?: unknown[][] }));
    // 70,000 bytes: past RAW_PAYLOAD_MIN_BYTES, so it follows its message as a frame of its
    // own; the I/O thread then cannot hand over the message's frame to be decoded again.
    const big = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
    primarySide.send({ t: "log", events: [[1, 10, 2, { conn: 0, bytes: big }], [2, 20, 2, { conn: 0, bytes: new Uint8Array([9, 8, 7]) }]] });
    primarySide.send({ t: "log", events: [[3, 30, 2, { conn: 1, bytes: new Uint8Array([1, 2]) }]] });
    await until(() => got.length === 2);
    const first = got[0].events!;
    const bigGot = (first[0][3] as { bytes: Uint8Array }).bytes;
    expect(bigGot).toBeInstanceOf(Uint8Array);
    expect(bigGot.length).toBe(70_000);
    expect(bigGot[69_999]).toBe((69_999 * 7) & 0xff);
    expect([...(first[1][3] as { bytes: Uint8Array }).bytes]).toEqual([9, 8, 7]);
    expect([...(got[1].events![0][3] as { bytes: Uint8Array }).bytes]).toEqual([1, 2]);
    backupSide.terminate();
  });

  it("hands the node what the front acknowledged before a partition instead of dropping it", async () => {
    const { primarySide, acks, backupSide, infos } = await pair();
    // Armed at lsn 0 (the node has taken nothing and says so); the primary sees that ack once the front has it.
    backupSide.send({ t: "ack", lsn: 0, icount: 0 });
    await until(() => acks.includes(0));

    // The host's thread is busy: the I/O thread acknowledges batch 1..3 and posts it, and
    // the batch waits in the port when the partition falls (SIGUSR2 in a host).
    primarySide.send(batch(1, 3));
    expect(spinUntil(() => backupSide.frontFigures.early === 1, 10_000)).toBe(true);
    expect(backupSide.ackedMax).toBe(3);
    backupSide.partitioned = true;
    // Acknowledged, so the node has it: taken at the partition, not dropped behind it.
    expect(infos).toEqual([{ seq: 1, front: { lsn: 3, acked: true } }]);

    // Handed over once: a later hold (the tick's) does not deliver it again.
    backupSide.hold();
    backupSide.release();
    await new Promise<void>((r) => setImmediate(r));
    backupSide.terminate();
    expect(infos).toHaveLength(1);
  });
});
