// Keeping the pair together: the bounded log buffer (the primary pauses, nothing is
// dropped) and throttling (a primary slows down while its backup trails, and speeds up
// again as it catches up).
import { describe, expect, it } from "vitest";
import type { Msg } from "../src/ft/node.js";
import { FtNode } from "../src/ft/node.js";
import { Throttle } from "../src/ft/throttle.js";
import { fakeWorld } from "../src/replay/world.js";
import { guestImage } from "../src/sim/guest.js";

describe("bounded log buffer", () => {
  it("pauses the primary while the unacknowledged log is full, resumes on acks, drops nothing", () => {
    const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(3, 3, 20), sliceIcount: 500, logBufferBytesMax: 4096 });
    const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(4, 4, 20), sliceIcount: 500 });
    const toB: Msg[] = [];
    const toP: Msg[] = [];
    const route = (acts: ReturnType<FtNode["run"]>["actions"], to: Msg[]) => {
      for (const a of acts) if (a.kind === "send") to.push(a.msg);
    };
    route(p.startPrimary({ program: "g", image: guestImage({ lines: 400, periodUs: 100, waitEvery: 1 }), epoch: 1, withBackup: true }, 0), toB);
    b.startBackup(toB.shift()!, 0);
    // Run the primary with the backup's acknowledgements withheld: it must stop at the bound.
    let now = 0;
    let paused = 0;
    for (let i = 0; i < 2000; i++) {
      const r = p.run(++now);
      route(r.actions, toB);
      if (r.idle && p.plog!.full()) paused++;
    }
    expect(paused).toBeGreaterThan(100);
    const stuckAt = p.machine.icount;
    expect(p.plog!.unackedBytes).toBeGreaterThanOrEqual(4096 - 200);
    expect(p.plog!.unackedBytes).toBeLessThan(4096 * 2);
    for (let i = 0; i < 50; i++) route(p.run(++now).actions, toB);
    expect(p.machine.icount).toBe(stuckAt);
    // Now let the backup receive, replay and acknowledge: the primary goes on, to the end.
    for (let i = 0; i < 100_000 && p.role !== "finished"; i++) {
      now++;
      while (toB.length) route(b.onPeerMessage(toB.shift()!, now), toP);
      route(b.run(now).actions, toP);
      while (toP.length) {
        const acts = p.onPeerMessage(toP.shift()!, now);
        route(acts, toB);
        for (const a of acts) if (a.kind === "output") p.onSinkAck(a.offset + a.bytes.length);
      }
      const r = p.run(now);
      route(r.actions, toB);
      for (const a of r.actions) if (a.kind === "output") p.onSinkAck(a.offset + a.bytes.length);
    }
    expect(p.role).toBe("finished");
    // Nothing was dropped: the backup replayed every event the primary logged, in order.
    while (toB.length) route(b.onPeerMessage(toB.shift()!, now), toP);
    for (let i = 0; i < 1_000_000 && b.role === "backup" && b.machine.icount < p.machine.icount; i++) b.run(now);
    expect(b.machine.icount).toBe(p.machine.icount);
  });
});

describe("throttling", () => {
  /** A primary at 100 instructions/ms and a backup at `backupPerMs`; returns lag (ms) over time and the throttle levels. */
  function simulate(backupPerMs: number, ms: number, thresholdMs: number) {
    const t = new Throttle(thresholdMs);
    let primary = 0;
    let backup = 0;
    let sleepUntil = 0;
    const lags: number[] = [];
    const levels: number[] = [];
    for (let now = 0; now < ms; now += 0.25) {
      backup = Math.min(primary, backup + backupPerMs * 0.25);
      if (now < sleepUntil) continue;
      primary += 100 * 0.25;
      t.sample(now, primary);
      const lag = t.lagMs(now, primary, backup);
      const sleep = t.sleepMs(now, lag);
      if (sleep > 0) sleepUntil = now + sleep;
      if (Number.isInteger(now / 100)) {
        lags.push(lag);
        levels.push(t.level);
      }
    }
    return { lags, levels, t };
  }

  it("leaves a primary alone while its backup keeps up", () => {
    const { t, lags } = simulate(100, 5000, 1000);
    expect(t.levelMax).toBe(0);
    expect(Math.max(...lags)).toBeLessThan(5);
  });

  it("slows the primary gradually when the backup runs at a third of its speed, keeping the lag bounded", () => {
    const { lags, levels } = simulate(33, 20_000, 1000);
    // Without throttling the lag would reach two thirds of the run: 13 s.
    expect(Math.max(...lags)).toBeLessThan(3000);
    // In the second half it has settled near the threshold, throttled to about the backup's speed.
    const late = lags.slice(lags.length / 2);
    expect(Math.max(...late)).toBeLessThan(2500);
    expect(Math.max(...levels.slice(levels.length / 2))).toBeGreaterThan(0.5);
    // The level rose step by step, never in one jump.
    for (let i = 1; i < levels.length; i++) expect(levels[i] - levels[i - 1]).toBeLessThanOrEqual(0.2 + 1e-9);
  });

  it("does not throttle for a backup that keeps up but was starved of CPU for a while", () => {
    // A primary at 100 instructions/ms closes a batch every 10 ms; its backup replays at
    // 110/ms up to the last batch, so it waits for log a little of the time, and says in
    // heartbeats every 25 ms whether it had replayed everything. From 1 s to 1.7 s another
    // process takes the backup's CPU: it falls 700 ms behind and catches up only slowly
    // afterwards. The windows in which it "had work throughout" now include the starved
    // ones; a rate averaged over them fell near zero and put the primary to sleep.
    const t = new Throttle(1000);
    let primary = 0;
    let flushed = 0;
    let backup = 0;
    let sleepUntil = 0;
    let slept = 0;
    for (let now = 0; now < 5000; now += 0.25) {
      const starved = now >= 1000 && now < 1700;
      if (!starved) backup = Math.min(flushed, backup + 110 * 0.25);
      if (Number.isInteger(now / 25)) t.backupReport(backup >= flushed);
      if (now < sleepUntil) {
        slept += 0.25;
        continue;
      }
      primary += 100 * 0.25;
      if (Number.isInteger(now / 10)) flushed = primary;
      t.sample(now, primary);
      const sleep = t.sleepMs(now, t.lagMs(now, primary, backup));
      if (sleep > 0) sleepUntil = now + sleep;
    }
    // About 700 ms behind at most, below the 1 s threshold: no reason to slow the primary.
    expect(t.lagMsMax).toBeGreaterThan(500);
    expect(t.lagMsMax).toBeLessThan(900);
    expect(t.levelMax).toBe(0);
    expect(slept).toBe(0);
  });

  it("speeds up again when the backup catches up", () => {
    const t = new Throttle(1000);
    // Two seconds far behind, then level.
    for (let now = 0; now < 2000; now += 1) {
      t.sample(now, now * 100);
      t.sleepMs(now, 3000);
    }
    expect(t.level).toBeGreaterThan(0.8);
    for (let now = 2000; now < 4000; now += 1) {
      t.sample(now, now * 100);
      t.sleepMs(now, 0);
    }
    expect(t.level).toBe(0);
  });

  it("measures lag in time: how long ago the primary stood where the backup stands", () => {
    const t = new Throttle();
    for (let now = 0; now <= 1000; now += 1) t.sample(now, now * 10);
    expect(t.lagMs(1000, 10_000, 10_000)).toBe(0);
    expect(t.lagMs(1000, 10_000, 7_000)).toBe(300);
    expect(t.lagMs(1000, 10_000, 0)).toBe(1000);
  });
});
