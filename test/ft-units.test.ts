// The pure FT pieces: output gate, primary log batching and acks, failure detector,
// sink fencing and de-duplication, and the arbiter's test-and-set with epochs.
import { describe, expect, it } from "vitest";
import { initialState, testAndSet } from "../src/arbiter/core.js";
import { EV } from "../src/devices/events.js";
import { FailureDetector } from "../src/ft/detector.js";
import { OutputGate } from "../src/ft/gate.js";
import { AckError, PrimaryLog } from "../src/ft/primary.js";
import { SinkState } from "../src/ft/sink.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("output gate", () => {
  it("holds output until the backup acknowledged its icount, in order", () => {
    const g = new OutputGate();
    g.hold({ icount: 10, offset: 0, bytes: bytes("ab") });
    g.hold({ icount: 20, offset: 2, bytes: bytes("cd") });
    expect(g.release(9)).toEqual([]);
    expect(g.release(15).map((o) => o.offset)).toEqual([0]);
    expect(g.heldCount).toBe(1);
    expect(g.release(20).map((o) => o.offset)).toEqual([2]);
    expect(g.releasedOffset).toBe(4);
  });
  it("refuses output that does not continue the stream (a programmer error)", () => {
    const g = new OutputGate();
    g.hold({ icount: 1, offset: 0, bytes: bytes("a") });
    expect(() => g.hold({ icount: 2, offset: 5, bytes: bytes("b") })).toThrow(/offset 5, expected 1/);
  });
  it("reports full at its bound so the primary pauses instead of dropping", () => {
    const g = new OutputGate(4);
    g.hold({ icount: 1, offset: 0, bytes: bytes("abcd") });
    expect(g.full()).toBe(true);
    g.releaseAll();
    expect(g.full()).toBe(false);
  });
});

describe("primary log", () => {
  const ev = (lsn: number, icount: number, kind: number = EV.TIME) => ({ lsn, icount, kind, data: 1 });
  it("closes batches with a progress mark and maps acks to icounts", () => {
    const log = new PrimaryLog();
    let lsn = 0;
    const mark = (icount: number) => () => log.add(ev(++lsn, icount, EV.PROGRESS));
    log.add(ev(++lsn, 5));
    const b1 = log.takeBatch(100, mark(100))!;
    expect(b1.map((e) => e.kind)).toEqual([EV.TIME, EV.PROGRESS]);
    log.add(ev(++lsn, 150));
    const b2 = log.takeBatch(200, mark(200))!;
    expect(log.takeBatch(200, mark(200))).toBeUndefined(); // nothing new, no new mark
    log.onAck(b1[1].lsn, 90);
    expect(log.ackedIcount).toBe(100);
    expect(log.backupIcount).toBe(90);
    log.onAck(b2[1].lsn, 180);
    expect(log.ackedIcount).toBe(200);
    expect(log.unackedBytes).toBe(0);
    expect(() => log.onAck(99, 0)).toThrow(AckError);
  });
});

describe("failure detector", () => {
  it("suspects a peer silent for longer than the timeout, and not before", () => {
    const d = new FailureDetector(150, 1000);
    expect(d.suspect(1150)).toBe(false);
    expect(d.suspect(1151)).toBe(true);
    d.heard(1140);
    expect(d.suspect(1200)).toBe(false);
  });
});

describe("sink", () => {
  it("writes each byte once, drops re-sent bytes, refuses older epochs and gaps", () => {
    const s = new SinkState();
    expect(s.accept({ epoch: 1, offset: 0, bytes: bytes("hello") })).toMatchObject({ kind: "write" });
    // A new primary re-sends from offset 3: only "lo" is old, " world" is new.
    const v = s.accept({ epoch: 2, offset: 3, bytes: bytes("lo world") });
    expect(v.kind).toBe("write");
    expect(new TextDecoder().decode((v as { bytes: Uint8Array }).bytes)).toBe(" world");
    expect(s.accept({ epoch: 2, offset: 0, bytes: bytes("hello") })).toMatchObject({ kind: "duplicate" });
    expect(s.accept({ epoch: 1, offset: 11, bytes: bytes("!") })).toMatchObject({ kind: "stale" });
    expect(s.accept({ epoch: 2, offset: 20, bytes: bytes("?") })).toMatchObject({ kind: "gap" });
    expect(s.delivered).toBe(11);
  });
});

describe("arbiter test-and-set", () => {
  it("grants each epoch once, only to a member of the previous epoch", () => {
    let s = initialState();
    let r = testAndSet(s, { epoch: 1, host: "p", members: ["p", "b"] });
    expect(r.result.granted).toBe(true);
    s = r.state;
    // Both members race for epoch 2: exactly one wins.
    const b = testAndSet(s, { epoch: 2, host: "b", members: ["b"] });
    expect(b.result.granted).toBe(true);
    const p = testAndSet(b.state, { epoch: 2, host: "p", members: ["p"] });
    expect(p.result).toMatchObject({ granted: false, reason: expect.stringMatching(/already taken/) });
    s = b.state;
    // A fresh host, or the old primary (not a member of epoch 2), may not claim epoch 3.
    expect(testAndSet(s, { epoch: 3, host: "fresh", members: ["fresh"] }).result).toMatchObject({ granted: false, reason: expect.stringMatching(/not a member of epoch 2/) });
    expect(testAndSet(s, { epoch: 3, host: "p", members: ["p"] }).result.granted).toBe(false);
    expect(testAndSet(s, { epoch: 5, host: "b", members: ["b"] }).result).toMatchObject({ granted: false, reason: expect.stringMatching(/not the next epoch/) });
    r = testAndSet(s, { epoch: 3, host: "b", members: ["b", "c"] });
    expect(r.result.granted).toBe(true);
  });

  it("is idempotent for its winner: a retried request whose answer was lost wins again", () => {
    const s = testAndSet(initialState(), { epoch: 1, host: "p", members: ["p", "b"] }).state;
    const won = testAndSet(s, { epoch: 2, host: "b", members: ["b"] });
    expect(testAndSet(won.state, { epoch: 2, host: "b", members: ["b"] }).result.granted).toBe(true);
    expect(testAndSet(won.state, { epoch: 2, host: "p", members: ["p"] }).result.granted).toBe(false);
  });
});
