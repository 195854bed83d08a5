// The throttle's rules added for issue 11 (in-memory: clock readings are passed in, so
// nothing here is timed): a new backup's starting lag is tolerated while it shrinks, for
// a bounded time; a backup that is really slower is still throttled under a loaded
// machine's turns; a starved or cold start does not make the lag estimate jump.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Throttle } from "../src/ft/throttle.js";
import { fuzzParams } from "./fuzz-params.js";

/**
 * Steps of 0.25 ms. `running(now)` says whether each host has the CPU at that moment
 * (a loaded machine hands it out in turns); when running, each executes `rate`
 * instructions per ms. The primary closes a batch every 10 ms; the backup replays up to
 * the last batch; both are level at first and the backup starts `startGapMs` of the
 * primary's running time behind. Returns the throttle and the time the primary slept.
 */
function pair(o: {
  ms: number;
  primaryRate: number;
  /** Instructions per ms the backup replays while it has the CPU, or that as a function of the time (a cold start). */
  backupRate: number | ((now: number) => number);
  running: (now: number) => { primary: boolean; backup: boolean };
  startGap?: number;
  newBackup?: boolean;
  thresholdMs?: number;
  /** The backup says in every heartbeat that it has replayed all it received (the log reaches it slower than it replays). */
  alwaysIdle?: boolean;
  /** Before this time the backup says in every heartbeat that it is idle: no log has reached it yet. */
  saysIdleUntilMs?: number;
}) {
  const t = new Throttle(o.thresholdMs ?? 1000);
  // The backup starts startGap behind the first sample: at the primary's speed, that is
  // how far behind it is in time (a clone's samples begin at its snapshot instead).
  if (o.newBackup) t.newBackup((o.startGap ?? 0) / o.primaryRate);
  let primary = o.startGap ?? 0;
  let flushed = primary;
  let backup = 0;
  let sleepUntil = 0;
  let slept = 0;
  const levels: number[] = [];
  const lags: number[] = [];
  for (let now = 0; now < o.ms; now += 0.25) {
    const cpu = o.running(now);
    const backupRate = typeof o.backupRate === "number" ? o.backupRate : o.backupRate(now);
    if (cpu.backup) backup = Math.min(flushed, backup + backupRate * 0.25);
    // A heartbeat every 25 ms, from a backup that has the CPU (one that is not running sends none).
    if (cpu.backup && Number.isInteger(now / 25)) t.backupReport(o.alwaysIdle === true || now < (o.saysIdleUntilMs ?? 0) || backup >= flushed);
    // Every 100 ms, asleep or not.
    if (Number.isInteger(now / 100)) levels.push(t.level);
    if (now < sleepUntil) {
      slept += 0.25;
      continue;
    }
    if (!cpu.primary) continue;
    primary += o.primaryRate * 0.25;
    if (Number.isInteger(now / 10)) flushed = primary;
    t.sample(now, primary);
    const lag = t.lagMs(now, primary, backup);
    const sleep = t.sleepMs(now, lag);
    if (sleep > 0) sleepUntil = now + sleep;
    if (Number.isInteger(now / 100)) lags.push(lag);
  }
  return { t, slept, levels, lags, gap: primary - backup };
}

describe("throttle: a loaded machine's turns", () => {
  it("still slows a primary whose backup is really slower under the same load, keeping the lag bounded", () => {
    // The same turns; the backup replays at a third of the primary's speed.
    const r = pair({
      ms: 20_000,
      primaryRate: 100,
      backupRate: 33,
      running: (now) => ({ primary: now % 100 < 40, backup: (now + 50) % 100 < 40 }),
    });
    expect(r.t.levelMax).toBeGreaterThan(0.5);
    // Unthrottled, the gap would grow to two thirds of the primary's work: 530,000.
    expect(r.gap).toBeLessThan(200_000);
    expect(Math.max(...r.lags.slice(r.lags.length / 2))).toBeLessThan(3000);
  });
});

describe("throttle: a new backup's starting lag", () => {
  it("is tolerated while it shrinks: a backup that starts 1.5 s behind and is starved for 300 ms gets its primary no sleep", () => {
    // A clone's backup starts as far behind as the copy took (1.5 s of the primary's
    // work here), is starved of CPU while it restores, then replays at 1.5 times its
    // primary's speed. Its first windows measure almost no progress: the old throttle
    // read a huge lag from them and nearly stopped the guest (level 0.95).
    const r = pair({
      ms: 8000,
      primaryRate: 100,
      backupRate: 150,
      startGap: 150_000,
      newBackup: true,
      running: (now) => ({ primary: true, backup: now >= 300 }),
    });
    expect(r.t.levelMax).toBe(0);
    expect(r.slept).toBe(0);
    // It did catch up: the gap is within one batch.
    expect(r.gap).toBeLessThanOrEqual(100 * 10);
  });

  it("is tolerated while it shrinks even when the backup says it has replayed all it received", () => {
    // A catching-up backup that replays faster than the log reaches it reports "idle"
    // between batches: that must not count as caught up (under load, with its rate not yet
    // known, it once ended the tolerance at once, and the throttle then went by the rate
    // of its starved first windows). Its rate here comes from the windows in which it
    // "kept up" (the primary's speed, below its own), so its lag reads longer than it is.
    const r = pair({
      ms: 8000,
      primaryRate: 100,
      backupRate: 150,
      startGap: 150_000,
      newBackup: true,
      alwaysIdle: true,
      running: (now) => ({ primary: true, backup: now >= 300 }),
    });
    expect(r.t.levelMax).toBe(0);
    expect(r.gap).toBeLessThanOrEqual(100 * 10);
  });

  it("counts CATCH_UP_MS_MAX from when the backup begins to replay, not from the clone: a copy that took 15 s does not use it up", () => {
    // Under load 20 a join took 16-40 s from the clone to the pair; the tolerance had run
    // out before the backup replayed its first instruction.
    const r = pair({
      ms: 25_000,
      primaryRate: 100,
      backupRate: 400,
      startGap: 150_000,
      newBackup: true,
      running: (now) => ({ primary: true, backup: now >= 15_000 }),
    });
    expect(r.t.levelMax).toBe(0);
    expect(r.gap).toBeLessThanOrEqual(100 * 10);
  });

  it("is not tolerated once it stops shrinking: a new backup no faster than its primary is throttled as any other", () => {
    const r = pair({
      ms: 12_000,
      primaryRate: 100,
      backupRate: 100,
      startGap: 300_000,
      newBackup: true,
      running: () => ({ primary: true, backup: true }),
    });
    // 3 s behind and not gaining: the throttle slows the primary until the lag is near the threshold.
    expect(r.t.levelMax).toBeGreaterThan(0.3);
    expect(r.gap).toBeLessThan(200_000);
  });

  it("survives one check at which the backup was kept off the CPU: it gains overall", () => {
    // Under the standard load a joined backup went up to 980 ms without running at all;
    // a check that fell in such a stretch found its gap grown, the tolerance ended about
    // 1 s after the pair formed, and the throttle, going by the rate of the backup's
    // starved windows, stopped the primary. Here the backup starts 6 s behind, gets the
    // CPU in turns (30 ms of every 50: 1.8 times its primary's speed on average, and no
    // rate window sees it run throughout), and none at all from 1.1 s to 2.2 s: the check
    // at about 2 s finds its gap grown, the one at 3 s shrunk again.
    const turns = (now: number) => now % 50 < 30;
    const r = pair({
      ms: 12_000,
      primaryRate: 100,
      backupRate: 300,
      startGap: 600_000,
      newBackup: true,
      running: (now) => ({ primary: true, backup: (now < 1100 || now >= 2200) && turns(now) }),
    });
    expect(r.t.levelMax).toBe(0);
    expect(r.slept).toBe(0);
    // Caught up: within what the primary runs while the backup waits for its next turn (20 ms) and a batch (10 ms).
    expect(r.gap).toBeLessThanOrEqual(100 * 30);
  });

  it("forgives one check without gain, not two: a backup no faster than its primary is throttled from the third second on", () => {
    const r = pair({
      ms: 6000,
      primaryRate: 100,
      backupRate: 100,
      startGap: 300_000,
      newBackup: true,
      running: () => ({ primary: true, backup: true }),
    });
    const perSecond = 10; // levels are sampled every 100 ms
    // Checks at about 1 s (no new low: forgiven) and 2 s (the second miss: the tolerance ends).
    expect(Math.max(...r.levels.slice(0, 2 * perSecond))).toBe(0);
    expect(Math.max(...r.levels.slice(3 * perSecond))).toBeGreaterThan(0.3);
  });

  it("is tolerated for at most CATCH_UP_MS_MAX (10 s), even while it shrinks", () => {
    // Gaining slowly (5% faster than its primary): 30 s behind, it would need 600 s to
    // catch up; after the 10 s of tolerance, it is throttled.
    const r = pair({
      ms: 14_000,
      primaryRate: 100,
      backupRate: 105,
      startGap: 3_000_000,
      newBackup: true,
      running: () => ({ primary: true, backup: true }),
    });
    const perSecond = 10; // levels are sampled every 100 ms
    expect(Math.max(...r.levels.slice(0, 9 * perSecond))).toBe(0);
    expect(Math.max(...r.levels.slice(11 * perSecond))).toBeGreaterThan(0.3);
  });
});

describe("throttle: a starved or cold start", () => {
  // As in bench:compute (2 of 8 pairs at load 2): the backup was silent in its first
  // window, its next one held only its first slice (20,000 instructions in 50 ms, a
  // thousandth of its speed), and the next ones ran at full speed. The rate taken from
  // that one window put the lag at 50-92 s in a 3.5 s run, and the throttle at 0.2.
  // Scaled down here: a primary at 400 instructions per ms, a backup that is silent for
  // its first 700 ms (a process that starts under load) and then, from 0.25 ms before a
  // window closes, replays at 400 too: it stays 700 ms behind, below the threshold.
  it("does not read a huge lag from the window in which the backup started replaying", () => {
    const r = pair({
      ms: 3000,
      primaryRate: 400,
      backupRate: 400,
      running: (now) => ({ primary: true, backup: now >= 699.75 }),
    });
    // Its lag was 700 ms when it began, and it never grew.
    expect(r.t.lagMsMax).toBeGreaterThan(650);
    expect(r.t.lagMsMax).toBeLessThan(800);
    expect(r.t.levelMax).toBe(0);
    expect(r.slept).toBe(0);
  });

  it("does not throttle a backup that replays at a hundredth of its speed for its first 200 ms (cold), then at full speed", () => {
    const r = pair({
      ms: 3000,
      primaryRate: 400,
      backupRate: (now) => (now < 400 ? 4 : 400),
      running: (now) => ({ primary: true, backup: now >= 200 }),
    });
    // 400 ms behind at most (the time the pair existed when the backup warmed up), below
    // half the threshold: nothing to throttle.
    expect(r.t.lagMsMax).toBeLessThan(450);
    expect(r.t.levelMax).toBe(0);
    expect(r.slept).toBe(0);
  });

  /** A backup that replays nothing for its first 300 ms and then a third of its primary's speed, for good, is throttled within about a second. */
  function throttledWithinASecond(r: ReturnType<typeof pair>) {
    const perSecond = 10; // levels are sampled every 100 ms
    expect(Math.max(...r.levels.slice(0, perSecond + 1))).toBeGreaterThan(0);
    expect(Math.max(...r.levels.slice(r.levels.length / 2))).toBeGreaterThan(0.5);
    // Unthrottled, the gap would reach two thirds of the primary's work: 1,300,000.
    expect(r.gap).toBeLessThan(300_000);
    expect(Math.max(...r.lags.slice(r.lags.length / 2))).toBeLessThan(3000);
  }

  it("still throttles, within about a second, a backup that starts late and is really slower", () => {
    throttledWithinASecond(pair({ ms: 20_000, primaryRate: 100, backupRate: 33, running: (now) => ({ primary: true, backup: now >= 300 }) }));
  });

  it("still throttles, within about a second, a slow backup whose first heartbeats said idle (no log had reached it)", () => {
    // Those heartbeats do not say it kept up with its primary: it replayed nothing. Taken
    // as "kept up", they credited it with the primary's speed for the 2 s of rate windows
    // kept, and the throttle began only 1.4 s after the pair formed.
    throttledWithinASecond(
      pair({ ms: 20_000, primaryRate: 100, backupRate: (now) => (now < 300 ? 0 : 33), saysIdleUntilMs: 300, running: () => ({ primary: true, backup: true }) }),
    );
  });

  it("never estimates a lag longer than the time since the samples began plus the declared starting lag", () => {
    // Any run, made of stretches in which the same thing happens at every step: the
    // primary runs some instructions (or none: it waits), the backup replays a share of
    // its gap (often none or almost none: starved, or cold, which is where a rate
    // measured too low comes from), and it may say it is idle. Whatever the backup's rate
    // is measured at, its lag in time cannot exceed how long the pair has existed plus
    // how far behind it started.
    const stretch = fc.record({
      steps: fc.integer({ min: 1, max: 60 }),
      dtMs: fc.double({ min: 0.05, max: 80, noNaN: true }),
      primaryInstructions: fc.integer({ min: 0, max: 500_000 }),
      backupShare: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.001, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      idle: fc.option(fc.boolean()),
    });
    const startLag = fc.option(fc.record({ ms: fc.double({ min: 0, max: 5000, noNaN: true }), instructions: fc.integer({ min: 0, max: 10_000_000 }) }));
    fc.assert(
      fc.property(startLag, fc.array(stretch, { minLength: 1, maxLength: 12 }), (start, stretches) => {
        const t = new Throttle(1000);
        if (start !== null) t.newBackup(start.ms);
        // Without a declared starting lag the backup starts level with the primary.
        let primary = start?.instructions ?? 0;
        let backup = 0;
        let now = 1000;
        let firstSampleMs: number | undefined;
        for (const s of stretches)
          for (let i = 0; i < s.steps; i++) {
            now += s.dtMs;
            primary += s.primaryInstructions;
            t.sample(now, primary);
            firstSampleMs ??= now;
            backup += Math.floor((primary - backup) * s.backupShare);
            if (s.idle !== null) t.backupReport(s.idle);
            const lag = t.lagMs(now, primary, backup);
            const boundMs = now - firstSampleMs + (start?.ms ?? 0);
            // Plain checks, not expect(): they run up to 720 times per case.
            if (!(lag >= 0 && lag <= boundMs + 1e-9)) throw new Error(`lag ${lag} ms at ${now - firstSampleMs} ms into the pair, bound ${boundMs} ms`);
            t.sleepMs(now, lag);
            if (!(t.level >= 0 && t.level <= 0.95)) throw new Error(`throttle level ${t.level}`);
          }
      }),
      fuzzParams(11_001, 300),
    );
  });
});
