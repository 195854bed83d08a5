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
  /** A detector fed heartbeats every hbMs from t=0 to untilMs, observed (ticked) every tickMs. */
  function steady(hbMs: number, untilMs: number, tickMs = hbMs): FailureDetector {
    const d = new FailureDetector({ timeoutMs: 300, heartbeatMs: 25 }, 0);
    for (let t = 0; t <= untilMs; t += Math.min(hbMs, tickMs)) {
      if (t % hbMs === 0) d.heard(t);
      else expect(d.suspect(t)).toBe(false);
    }
    return d;
  }

  it("suspects a peer that falls silent while this host runs, after the floor and not before", () => {
    const d = steady(25, 2000);
    // Ticks every 25 ms after the last beat at t=2000.
    let t = 2000;
    while (!d.suspect(t)) {
      t += 25;
      expect(t).toBeLessThan(4000);
    }
    expect(t - 2000).toBeGreaterThan(300);
    // A steady history: phi crosses soon after the floor (the acceptable pause plus five spreads).
    expect(t - 2000).toBeLessThanOrEqual(325);
    expect(d.describe(t)).toMatch(/nothing heard for \d+ ms while this host was running \(threshold 300 ms/);
  });

  it("does not count its own stall: a late tick after a long pause is not the peer's silence", () => {
    const d = steady(25, 2000);
    // This process was descheduled for 2 s: its next tick fires at t=4000 and the peer's
    // heartbeats are still unread in the socket buffer.
    expect(d.suspect(4000)).toBe(false);
    expect(d.silentMs(4000)).toBeLessThanOrEqual(50);
    d.heard(4001);
    expect(d.suspect(4025)).toBe(false);
    expect(d.ownStallMaxMs).toBeGreaterThan(1900);
    // But silence observed while awake still counts up to a suspicion.
    let t = 4001;
    while (!d.suspect(t)) t += 25;
    expect(t - 4001).toBeLessThan(400);
  });

  it("adapts: a peer whose beats arrive with a wide spread gets a longer threshold", () => {
    const calm = steady(25, 5000);
    const d = new FailureDetector({ timeoutMs: 300, heartbeatMs: 25 }, 0);
    // Beats alternately 5 ms and 150 ms apart (a loaded peer), observed every 5 ms.
    let t = 0;
    for (let i = 0; i < 200; i++) {
      const gap = i % 2 === 0 ? 5 : 150;
      for (let k = 5; k < gap; k += 5) expect(d.suspect(t + k)).toBe(false);
      t += gap;
      d.heard(t);
    }
    expect(d.thresholdMs()).toBeGreaterThan(calm.thresholdMs() + 100);
    expect(d.phi(200)).toBeLessThan(calm.phi(200));
  });

  it("refuses a non-positive timeout or heartbeat", () => {
    expect(() => new FailureDetector({ timeoutMs: 0, heartbeatMs: 25 }, 0)).toThrow(RangeError);
    expect(() => new FailureDetector({ timeoutMs: 100, heartbeatMs: Number.NaN }, 0)).toThrow(RangeError);
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
