// The log's cadence when nothing waits for it (issue 11): a compute-bound primary closes
// a batch every FLUSH_INTERVAL_QUIET_MS_DEFAULT and marks it ackLazy, and its backup
// leaves those acknowledgements to its heartbeats (coalesced, not dropped: the primary's
// acknowledged position still advances); a batch that something waits for (held output)
// is acknowledged at once. In-memory, on a clock the test moves: nothing here is timed.
import { describe, expect, it } from "vitest";
import type { Action, Msg } from "../src/ft/node.js";
import { FLUSH_INTERVAL_QUIET_MS_DEFAULT, FtNode } from "../src/ft/node.js";
import { fakeWorld } from "../src/replay/world.js";
import { asm } from "./helpers.js";

/** Runs forever without output or input: only PROGRESS marks are logged. */
const SPIN = `
.code
main:
    LI r1, 0
spin:
    ADDI r1, r1, 1
    JMP spin
`;

/** Prints a character every few thousand instructions: output is held for the backup's acknowledgement. */
const CHATTY = `
.code
main:
    LI r2, 65
again:
    LI r1, 0
    LI r3, 3000
wait:
    ADDI r1, r1, 1
    BNE r1, r3, wait
    OUT CON_OUT, r2
    JMP again
`;

interface Seen {
  logs: { atMs: number; lazy: boolean; lastLsn: number }[];
  acks: number;
  heartbeatAcks: number;
  ackedLsnByHeartbeat: number;
  /** Heartbeats the primary sent (a quiet batch stands for one). */
  primaryHeartbeats: number;
  /** Slices after which the primary said it was quiet (FtNode.quiet: longer slices in the host), of all. */
  quietSlices: number;
  slices: number;
  primary: FtNode;
  backup: FtNode;
}

/** A primary and its backup for `ms` of simulated time, a slice every 0.5 ms, messages delivered at once. */
function runPair(src: string, ms: number): Seen {
  const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(3, 3, 20), sliceIcount: 2000 });
  const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(4, 4, 20), sliceIcount: 2000 });
  const seen: Seen = { logs: [], acks: 0, heartbeatAcks: 0, ackedLsnByHeartbeat: 0, primaryHeartbeats: 0, quietSlices: 0, slices: 0, primary: p, backup: b };
  const toB: Msg[] = [];
  const toP: Msg[] = [];
  let now = 0;
  const fromP = (acts: Action[]) => {
    for (const a of acts) {
      if (a.kind === "send") {
        if (a.msg.t === "log") {
          const events = a.msg.events as unknown[][];
          seen.logs.push({ atMs: now, lazy: a.msg.ackLazy === true, lastLsn: events[events.length - 1][0] as number });
        }
        if (a.msg.t === "hb") seen.primaryHeartbeats++;
        toB.push(a.msg);
      }
      if (a.kind === "output") p.onSinkAck(a.offset + a.bytes.length);
    }
  };
  const fromB = (acts: Action[]) => {
    for (const a of acts) if (a.kind === "send") toP.push(a.msg);
  };
  fromP(p.startPrimary({ program: "g", image: asm(src), epoch: 1, withBackup: true }, 0));
  b.startBackup(toB.shift()!, 0);
  for (; now < ms; now += 0.5) {
    fromP(p.run(now).actions);
    seen.slices++;
    if (p.quiet(now)) seen.quietSlices++;
    fromP(p.tick(now));
    while (toB.length) fromB(b.onPeerMessage(toB.shift()!, now));
    fromB(b.run(now).actions);
    fromB(b.tick(now));
    while (toP.length) {
      const m = toP.shift()!;
      if (m.t === "ack") seen.acks++;
      const before = p.plog!.ackedLsn;
      fromP(p.onPeerMessage(m, now));
      if (m.t === "hb" && p.plog!.ackedLsn > before) {
        seen.heartbeatAcks++;
        seen.ackedLsnByHeartbeat = p.plog!.ackedLsn;
      }
    }
  }
  return seen;
}

describe("log cadence when nothing waits for an acknowledgement", () => {
  it("a compute-bound primary closes a batch every 20 ms, marked lazy; the backup's heartbeats acknowledge them", () => {
    const s = runPair(SPIN, 1000);
    expect(FLUSH_INTERVAL_QUIET_MS_DEFAULT).toBe(20);
    // One batch per 20 ms (the first one at once): about 50 in a second, not 100.
    expect(s.logs.length).toBeGreaterThanOrEqual(45);
    expect(s.logs.length).toBeLessThanOrEqual(55);
    for (let i = 2; i < s.logs.length; i++) expect(s.logs[i].atMs - s.logs[i - 1].atMs).toBeGreaterThanOrEqual(FLUSH_INTERVAL_QUIET_MS_DEFAULT);
    expect(s.logs.every((l) => l.lazy)).toBe(true);
    // No ack message: the heartbeats (every 25 ms) carried the acknowledgements, and the
    // primary's acknowledged position kept up with what it sent, to within a heartbeat.
    expect(s.acks).toBe(0);
    expect(s.heartbeatAcks).toBeGreaterThan(30);
    const sentByLastBeat = s.logs.filter((l) => l.atMs <= 1000 - 25).at(-1)!.lastLsn;
    expect(s.primary.plog!.ackedLsn).toBeGreaterThanOrEqual(sentByLastBeat);
    // The lazy batches stood for the primary's heartbeats (protocol version 6): at most the
    // one before the first lazy batch went out, not 40 in the second.
    expect(s.primaryHeartbeats).toBeLessThanOrEqual(1);
    // Nothing waited on it, so the host may run it in longer slices: quiet after the first
    // QUIET_AFTER_MS (and the pair's start), then throughout.
    expect(s.quietSlices).toBeGreaterThan(s.slices * 0.9);
    expect(s.backup.peerFailed).toBeUndefined();
  });

  it("a backup counts the primary's lazy batches as heartbeats: their spread lengthens its rope, and it suspects once they stop", () => {
    // The shortest floor, so that only the arrival history can lengthen the rope.
    const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 100, world: fakeWorld(3, 3, 20), sliceIcount: 2000 });
    const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 100, world: fakeWorld(4, 4, 20), sliceIcount: 2000 });
    const toB: Msg[] = [];
    let beats = 0;
    const fromP = (acts: Action[]) => {
      for (const a of acts) if (a.kind === "send") toB.push(a.msg);
    };
    fromP(p.startPrimary({ program: "g", image: asm(SPIN), epoch: 1, withBackup: true }, 0));
    b.startBackup(toB.shift()!, 0);
    const deliver = (now: number) => {
      for (const m of toB.splice(0)) {
        if (m.t === "hb") beats++;
        for (const a of b.onPeerMessage(m, now)) if (a.kind === "send") p.onPeerMessage(a.msg, now);
      }
    };
    let now = 0;
    // 3 s in which the primary's messages reach the backup in bursts every 90 ms (a busy
    // machine): the backup's history learns that arrivals scatter.
    for (; now < 3000; now += 0.5) {
      fromP(p.run(now).actions);
      fromP(p.tick(now));
      if (now % 90 === 0) deliver(now);
      b.run(now);
      for (const a of b.tick(now)) if (a.kind === "send") p.onPeerMessage(a.msg, now);
    }
    deliver(now);
    expect(beats).toBeLessThanOrEqual(1);
    expect(b.peerFailed).toBeUndefined();
    // Then 180 ms of silence, twice the usual burst gap: past the 100 ms floor and past
    // where a steady 25 ms history would suspect (about 115 ms), but within the rope this
    // history gives. Counted only as arrivals, not heartbeats, the batches would leave
    // the history at its prior and the backup would call the live primary dead here.
    const quietFrom = now;
    for (; now < quietFrom + 180; now += 0.5) {
      b.run(now);
      b.tick(now);
    }
    expect(b.peerFailed).toBeUndefined();
    // The primary stops for good (a hang: no close): the backup suspects it within a second.
    let suspectedAt: number | undefined;
    for (; now < quietFrom + 2000 && suspectedAt === undefined; now += 0.5) {
      b.run(now);
      b.tick(now);
      if (b.peerFailed) suspectedAt = now;
    }
    expect(suspectedAt).toBeDefined();
    expect(suspectedAt! - quietFrom).toBeLessThan(1000);
  });

  it("a batch that covers held output is not lazy, and is acknowledged at once", () => {
    const s = runPair(CHATTY, 300);
    const eager = s.logs.filter((l) => !l.lazy);
    expect(eager.length).toBeGreaterThan(20);
    expect(s.acks).toBeGreaterThanOrEqual(eager.length);
    // The output went out: acknowledged and released, nothing stuck behind a lazy batch.
    expect(s.primary.sinkDelivered).toBeGreaterThan(20);
    expect(s.primary.gate.heldCount).toBeLessThanOrEqual(1);
    // A guest that prints all the time is never quiet, though nothing is held for a moment
    // after each release: a longer slice would hold its next output longer.
    expect(s.quietSlices).toBe(0);
  });
});
