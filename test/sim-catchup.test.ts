// The seeded simulator (src/sim) on three protocol features (issue 6): log connections
// that drop while both hosts live (the backup reconnects and resumes, is refused by a live
// primary and steps aside, or finds the primary gone and fails over), bounded log buffers
// (the primary pauses while its unacknowledged log is at the bound), and slow backups (the
// primary throttles so the backup's lag stays bounded). The checks of every run (output
// rule, one releaser, the sink's stream, replay traces, liveness) hold throughout; the
// 1,000-seed runs in sim.test.ts count how often each of these happens.
import { describe, expect, it } from "vitest";
import { makePlan } from "../src/sim/plan.js";
import { Prng } from "../src/sim/prng.js";
import type { SimResult } from "../src/sim/sim.js";
import { simulate } from "../src/sim/sim.js";

function unexpectedFailure(r: SimResult): string | undefined {
  if (r.ok) return undefined;
  return `seed ${r.seed}: ${r.failures.join("\n    ")}\n  replay: ${r.replay}`;
}

describe("FT simulator: connection drops and catch-up", () => {
  /**
   * Verbose runs of the first seeds: which stories their traces tell. Console-guest runs
   * only (the disk guest logs too little to fill a small log buffer; the seed sweeps in
   * sim.test.ts and sim-disk.test.ts run drops and catch-up with the disk too).
   */
  const CONSOLE = { disk: false };
  const runs = Array.from({ length: 200 }, (_, i) => simulate(i + 1, { verbose: true, plan: CONSOLE }));
  const seedsWith = (re: RegExp) => runs.filter((r) => r.trace.some((l) => re.test(l))).map((r) => r.seed);

  it("they all pass", () => {
    const bad = runs.map(unexpectedFailure).filter((u) => u !== undefined);
    expect(bad, bad.join("\n")).toEqual([]);
  });

  it("a dropped connection closes on both sides; the primary holds output, the backup reconnects", () => {
    expect(seedsWith(/ the log connection [B-EP]-[B-EP] drops$/).length).toBeGreaterThan(20);
    expect(seedsWith(/ [B-EP] sees the log channel close \(connection dropped\)$/).length).toBeGreaterThan(20);
    expect(seedsWith(/ news: the log channel closed \(connection dropped\); holding output while the backup may reconnect/).length).toBeGreaterThan(20);
    expect(seedsWith(/ [B-E] reconnects to [B-EP] \(resume from lsn \d+\)$/).length).toBeGreaterThan(40);
  });

  it("each outcome of a reconnect happens: resumed (with the missed log re-sent), refused (the arbiter decides), failed (it fails over)", () => {
    // Resumed: the primary re-sends what the backup missed; the backup acknowledges and goes on.
    expect(seedsWith(/ accepts [B-E]'s resume from lsn \d+$/).length).toBeGreaterThan(20);
    expect(seedsWith(/ news: the backup reconnected at lsn \d+; re-sent [1-9]\d* events$/).length).toBeGreaterThan(10);
    expect(seedsWith(/ [B-E] news: reconnected to the primary at lsn \d+$/).length).toBeGreaterThan(20);
    // Refused by a live primary that gave up on it: the backup lets the arbiter decide (it
    // loses when the primary already won an epoch without it; a new clone replaces it).
    expect(seedsWith(/ [B-E] cut: the primary refused to resume \(cannot resume: /).length).toBeGreaterThan(0);
    // Failed: the primary's process is gone (its machine refuses the connection at once) or nothing answers.
    expect(seedsWith(/ [B-E] reconnect failed \(connect ECONNREFUSED/).length).toBeGreaterThan(20);
    // Nothing answers (a dead machine, a partition): the backup's failure detector gives up
    // on the primary, in awake time, and the reconnect's connection is dropped then.
    expect(seedsWith(/ [B-E] reconnect failed \(the failure detector gave up on the primary first\)$/).length).toBeGreaterThan(0);
    expect(seedsWith(/ [B-E] cut: the log channel closed and reconnecting failed/).length).toBeGreaterThan(20);
  });

  it("a backup that resumed later takes over in some seed, and every check holds there", () => {
    const taken = runs.filter((r) => {
      const i = r.trace.findIndex((l) => / B resumed with P$/.test(l));
      return i >= 0 && r.trace.slice(i).some((l) => / B news: went live at icount/.test(l));
    });
    expect(taken.length).toBeGreaterThan(0);
    for (const r of taken) expect(unexpectedFailure(r)).toBeUndefined();
  });

  it("a small log buffer fills up (a partition, a reconnect) and the primary pauses until acknowledgements free space", () => {
    expect(seedsWith(/; paused: log buffer full \(\d+ bytes\)/).length).toBeGreaterThan(5);
    expect(seedsWith(/; resumes after a [\d.]+ ms pause/).length).toBeGreaterThan(3);
    // Nothing is dropped meanwhile: the checks above (sink stream, replay traces) hold in all of them.
  });

  it("catch-up runs replay exactly: same fingerprint, failures and stats, verbose or not", () => {
    const picks = [
      ...runs.filter((r) => r.stats.resumes > 0 && r.stats.reconnectsFailed > 0).slice(0, 2),
      ...runs.filter((r) => r.stats.resumesRefused > 0).slice(0, 1),
      ...runs.filter((r) => r.stats.bufferPauses > 0).slice(0, 1),
      ...runs.filter((r) => r.stats.throttleSleeps > 0).slice(0, 1),
    ];
    expect(picks.length).toBe(5);
    for (const v of picks) {
      const a = simulate(v.seed, { plan: CONSOLE });
      expect(a.fingerprint).toBe(v.fingerprint);
      expect(a.failures).toEqual(v.failures);
      expect(a.stats).toEqual(v.stats);
    }
  });

  it("plan overrides: drops forced on or off; a calm plan has none of the three", () => {
    for (const s of [3, 4]) {
      expect(makePlan(s, new Prng(s).fork("plan"), { drops: true }).drops.length).toBeGreaterThan(0);
      const off = simulate(s, { plan: { drops: false } });
      expect(off.stats.drops).toBe(0);
      expect(unexpectedFailure(off)).toBeUndefined();
      const calm = makePlan(s, new Prng(s).fork("plan"), { calm: true });
      expect(calm.drops).toEqual([]);
      expect(calm.logBufferBytesMax).toBeUndefined();
      expect(calm.slowBackup).toBe(false);
    }
  });
});

// ---- throttling ------------------------------------------------------------------------

/** src/ft/throttle.ts: the level moves every ADJUST_INTERVAL_MS by at most ADJUST_STEP, up to THROTTLE_MAX. */
const ADJUST_INTERVAL_MS = 100;
const ADJUST_STEP = 0.2;
const THROTTLE_MAX = 0.95;

/**
 * The lag a primary `ratio` times faster than its backup adds while the throttle climbs
 * from level 0 to where the primary runs no faster than the backup: one adjust interval
 * per step, each adding (ratio * (1 - level) - 1) ms of lag per ms. That is the overshoot
 * when throttling starts, and the worst case again later: once the backup has caught up
 * (lag under half the threshold) the level steps down, and a climb back may start from 0.
 */
function rampMs(ratio: number): number {
  let ms = 0;
  for (let level = 0; ratio * (1 - level) > 1 && level <= THROTTLE_MAX; level = Math.min(THROTTLE_MAX + 1e-9, level + ADJUST_STEP)) ms += (ratio * (1 - level) - 1) * ADJUST_INTERVAL_MS;
  return ms;
}

describe("FT simulator: a slow backup and throttling", () => {
  const SEEDS = 40;
  /** Calm plans (no faults) with a fast primary and a backup 4 or 8 times slower, lag threshold 20-100 ms. */
  const o = { calm: true, slowBackup: true };
  const runs = Array.from({ length: SEEDS }, (_, i) => {
    const seed = i + 1;
    const plan = makePlan(seed, new Prng(seed).fork("plan"), o);
    return { seed, plan, r: simulate(seed, { plan: o }), ratio: plan.hosts.B.usPerInstr / plan.hosts.P.usPerInstr };
  });

  it("the runs pass and the primary throttles in most of them", () => {
    for (const { r } of runs) expect(unexpectedFailure(r)).toBeUndefined();
    for (const { plan } of runs) expect(plan.lagThresholdMs).toBeLessThanOrEqual(100);
    expect(runs.filter(({ r }) => r.stats.throttleSleeps > 0).length).toBeGreaterThan(SEEDS * 0.5);
  });

  it("once throttling has acted, the backup's lag stays under twice the threshold plus one ramp of the throttle", () => {
    // Measured (seeds 1..300): without throttling the lag grows to seconds (a backup 8x
    // slower trails by 2-3 s at the end of a 1 s guest). With it, after the first
    // overshoot drains, the lag saws between 0 and a few hundred ms: about 300 ms at 4x,
    // up to 1 s at 8x, whatever the threshold (the throttle moves 0.2 per 100 ms, so its
    // band is set by its steps, not by the threshold). The bound is that of the design:
    // 2x the threshold (where the target speed reaches zero) plus the lag one climb from
    // level 0 can add (720 ms at 4x, 1900 ms at 8x).
    const settled = runs.filter(({ r }) => r.stats.lagSettledMs > 0);
    expect(settled.length).toBeGreaterThan(SEEDS * 0.4);
    for (const { seed, plan, r, ratio } of settled) {
      const bound = 2 * plan.lagThresholdMs! + rampMs(ratio);
      expect(r.stats.lagMsMaxSettled, `seed ${seed} (ratio ${ratio}, threshold ${plan.lagThresholdMs} ms)`).toBeLessThanOrEqual(bound);
    }
    // And throttling is what bounds it: the settled lag is far below the overshoot.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    expect(median(settled.map(({ r }) => r.stats.lagMsMaxSettled))).toBeLessThan(median(settled.map(({ r }) => r.stats.lagMsMax)) / 3);
  });

  it("the primary spends most of such a run asleep, and the run takes as long as the backup needs", () => {
    // Runs whose backup needs at least half of the run for its own work: in the others the
    // guest mostly waits, and a short burst may pass a small threshold once (seed 31: the
    // backup busy 20% of the run, throttled 20%), with nothing to sleep through after it.
    const busy = runs.filter(({ r, plan }) => r.stats.lagSettledMs > 0 && (r.stats.instructions / 2) * plan.hosts.B.usPerInstr / 1000 > r.stats.endMs * 0.5);
    expect(busy.length).toBeGreaterThan(SEEDS * 0.4);
    for (const { seed, r, plan } of busy) {
      // A quarter at least: the shortest runs (seed 16: 0.7 s, settled after 0.2 s) spend
      // their first part climbing the throttle; unthrottled, a primary would sleep none.
      expect(r.stats.throttledMs, `seed ${seed}`).toBeGreaterThan(r.stats.endMs * 0.25);
      const backupMs = (r.stats.instructions / 2) * plan.hosts.B.usPerInstr / 1000;
      expect(r.stats.endMs, `seed ${seed}`).toBeGreaterThan(backupMs * 0.8);
    }
  });

  // Found by the simulator, fixed: FtNode.runLive dropped the throttle's sleep when a slice
  // ended with the guest waiting (WFI), so a guest whose bursts end in WFI within one slice
  // was never slowed down (a 1 µs/instr primary with 2000-instruction slices, a backup 8x
  // slower, a 20 ms threshold: level 0.95, no sleep, the backup 3.3 s behind).
  it("a primary whose slices end waiting (WFI) is throttled too", () => {
    const r = simulate(10, { plan: o });
    expect(r.stats.throttleSleeps).toBeGreaterThan(0);
    expect(r.stats.lagMsMax).toBeLessThan(2 * 20 + rampMs(8));
  });
});

// ---- src/ft bugs the simulator found, now fixed ---------------------------------------------

describe("FT simulator: src/ft bugs it found (fixed)", () => {
  // Seed 1487 (npx ftvm sim --seed 1487 --verbose): the P-B connection drops at 56.9 ms;
  // P holds output and waits; B's hello {resume: 398} is held by a B>P partition until
  // 112.5 ms; meanwhile P's guest halted (role finishing, 60.8 ms). acceptResume refuses any
  // role but "primary" ("this host is finishing, not a primary waiting for its backup"),
  // so B, told that a live primary went on without it, halts (onResumeRefused) - though P
  // had not asked the arbiter for anything. P's detector fires at 150 ms, its claim of
  // epoch 2 is lost in a P>A partition, and P crashes at 156.8 ms: epoch 1's members are a
  // crashed P and a halted B that held the whole log. Liveness fails. A finishing primary
  // should take its backup back (it holds the log), and a refused backup should halt only
  // when the primary has won an epoch without it (else fail over and let the arbiter decide).
  // Both now hold.
  it("seed 1487: a finishing primary takes its backup back; a refused backup lets the arbiter decide", () => {
    expect(simulate(1487).failures).toEqual([]);
  });

  // Seed 754 (npx ftvm sim --seed 754 --verbose): B received the primary's bye; the
  // connection drops at 44.8 ms (P finished, not yet exited); B's onPeerClosed still asks to reconnect,
  // B finishes its replay (role finished), and the refusal that comes back ("this host is
  // finished") halts the finished node: exit code 3, "a new backup must be cloned". After
  // bye a closed channel is the primary's normal exit: no reconnect, and a finished node
  // should ignore onResumeRefused / onReconnectFailed.
  it("seed 754: a backup that saw bye does not reconnect, and is not halted", () => {
    const r = simulate(754, { verbose: true });
    expect(r.trace.some((l) => / B role finished -> halted/.test(l))).toBe(false);
  });
});
