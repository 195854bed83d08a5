// The seeded simulator of the FT protocol (src/sim): 1,000 seeds of primary, backup,
// arbiter and sink under delays, loss, duplication, reordering, partitions, sink resets,
// arbiter outages and crashes, with fresh backups cloned into a primary running alone
// (and crashes at every stage of the clone), log connections that drop (the backup
// reconnects and catches up), small log buffers and slow backups (sim-catchup.test.ts has
// their stories); the same seed replays the same run; and every
// check is shown to fire on a deliberately broken variant (a check that cannot fail is worthless).
import { afterEach, describe, expect, it, vi } from "vitest";
import { simCommand } from "../src/cli/sim.js";
import { makePlan } from "../src/sim/plan.js";
import { Prng } from "../src/sim/prng.js";
import type { Mutation, SimResult } from "../src/sim/sim.js";
import { MUTATIONS, simulate } from "../src/sim/sim.js";

const SEEDS = 1000;
const BLOCK = 250;

// The simulator found two protocol bugs, both fixed: a retried test-and-set whose
// granting answer was lost made the winner halt (the arbiter is now idempotent for its
// winner), and a lost tail of the log on a channel that never closed went unnoticed
// (heartbeats now carry the sent and received lsns). Seeds 37 and 97 reproduced them
// and are covered by the seed ranges below.
//
// A third, found by the clone seeds: a cloned backup refused as no member (its primary
// had failed before the pair's epoch) halted for good, though its primary's claim of that
// epoch, with the backup in it, was still being retried; once granted, the epoch's only
// survivor had halted. It now asks again for a while (seeds 117 and 314 showed it).
//
// With connection drops and catch-up (sim-catchup.test.ts), seeds 1487 and 8120 (outside
// the range below) show a finishing primary refusing its backup's resume: the backup halts,
// the primary crashes before its claim is granted, and nobody serves; seed 754 shows a
// finished backup halted by a refused resume, and throttling never sleeps when the
// primary's slices end in WFI. Reported against src/ft; expected failures there.
//
// About 30% of seeds run the disk guest on a shared disk instead of the console guest
// (sim-disk.test.ts has their story, and the bug they found).

function unexpectedFailure(r: SimResult): string | undefined {
  if (r.ok) return undefined;
  return `seed ${r.seed}: ${r.failures.join("\n    ")}\n  replay: ${r.replay}`;
}

/** Seeds (of the 1,000) that started, completed and saw a failed clone; `rated`: seeds without an arbiter restart, over which the rates are taken. */
const cloneTotals = { seeds: 0, rated: 0, completed: 0, failed: 0, started: 0, respawns: 0 };
/** Seeds (of the 1,000) that saw a connection drop, each outcome of a reconnect, a pause on a full log buffer, a throttle sleep. */
const catchUp = { seeds: 0, drops: 0, resumes: 0, resumesRefused: 0, reconnectsFailed: 0, bufferPauses: 0, throttleSleeps: 0 };

describe("FT simulator: 1,000 seeds", () => {
  for (let from = 1; from <= SEEDS; from += BLOCK) {
    const to = Math.min(SEEDS, from + BLOCK - 1);
    it(`seeds ${from}..${to}: no failures, and the faults happen`, { timeout: 300_000 }, () => {
      const bad: string[] = [];
      const t: Record<string, number> = {};
      const diskRuns = { runs: 0, finished: 0 };
      // Seeds whose arbiter restarts (sim-arbiter.test.ts tells their story) pass every check
      // like the rest, but are left out of the finishing and clone rates: an arbiter that
      // loses its memory ends its cluster at the next change of epoch (by design), and an
      // outage moves every later failure.
      let rated = 0;
      let ratedFinished = 0;
      for (let s = from; s <= to; s++) {
        const r = simulate(s);
        const arbiterFault = r.stats.arbiterRestarts + r.stats.amnesias > 0;
        cloneTotals.seeds++;
        if (r.stats.respawns > 0) cloneTotals.respawns++;
        if (!arbiterFault) {
          rated++;
          if (r.stats.finished) ratedFinished++;
          if (r.stats.disk) {
            diskRuns.runs++;
            if (r.stats.finished) diskRuns.finished++;
          }
          cloneTotals.rated++;
          if (r.stats.clonesCompleted > 0) cloneTotals.completed++;
          if (r.stats.clonesFailed > 0) cloneTotals.failed++;
          if (r.stats.clonesStarted > 0) cloneTotals.started++;
        }
        catchUp.seeds++;
        for (const k of ["drops", "resumes", "resumesRefused", "reconnectsFailed", "bufferPauses", "throttleSleeps"] as const) if (r.stats[k] > 0) catchUp[k]++;
        for (const [k, v] of Object.entries(r.stats)) if (typeof v === "number" || typeof v === "boolean") t[k] = (t[k] ?? 0) + Number(v);
        const u = unexpectedFailure(r);
        if (u) bad.push(u);
      }
      expect(bad, `failing seeds:\n${bad.join("\n")}`).toEqual([]);
      // A simulator whose faults never happen checks nothing: failovers, lone primaries,
      // crashes, halts (lost elections), elections, lost messages, re-sent output the
      // sink drops, and backup states compared with the primary's must all be common.
      const n = to - from + 1;
      // Disk runs crash more (mid-I/O too) and finish less often than console runs.
      expect(rated).toBeGreaterThan(n * 0.7);
      expect(diskRuns.runs).toBeGreaterThan(rated * 0.2);
      expect(diskRuns.runs).toBeLessThan(rated * 0.4);
      expect(ratedFinished - diskRuns.finished).toBeGreaterThan((rated - diskRuns.runs) * 0.6);
      expect(diskRuns.finished).toBeGreaterThan(diskRuns.runs * 0.35);
      expect(t.failovers).toBeGreaterThan(n * 0.2);
      expect(t.aloneWins).toBeGreaterThan(n * 0.1);
      expect(t.crashes).toBeGreaterThan(n * 0.4);
      expect(t.halts).toBeGreaterThan(n * 0.1);
      expect(t.elections).toBeGreaterThan(n * 0.5);
      expect(t.lost).toBeGreaterThan(0);
      expect(t.duplicateBytes).toBeGreaterThan(0);
      expect(t.tracePoints).toBeGreaterThan(n * 20);
    });
  }

  it("clones are common: over 25% of seeds complete one, over 5% see one fail", () => {
    expect(cloneTotals.seeds).toBe(SEEDS);
    // Measured: 307 of 1,000 seeds before arbiter restarts were drawn and before the failure
    // detector stopped counting its own stalls (issue 11): fewer short partitions now end
    // in a failover, and fewer clones follow.
    expect(cloneTotals.completed).toBeGreaterThan(cloneTotals.rated * 0.25);
    expect(cloneTotals.failed).toBeGreaterThan(cloneTotals.rated * 0.05);
    expect(cloneTotals.started).toBeGreaterThan(cloneTotals.completed);
  });

  it("catch-up, full buffers and throttling are common: resumes in over 10% of seeds, refused resumes, pauses and throttle sleeps in some", () => {
    expect(catchUp.seeds).toBe(SEEDS);
    // Log connections drop (a planned fault) and close for other reasons (a refused peer,
    // an exit); each time a paired backup reconnects, with one of three outcomes.
    expect(catchUp.drops).toBeGreaterThan(SEEDS * 0.1);
    expect(catchUp.resumes).toBeGreaterThan(SEEDS * 0.1);
    expect(catchUp.reconnectsFailed).toBeGreaterThan(SEEDS * 0.1);
    // Rare since a finishing primary takes its backup back too: a primary that already gave up on it.
    expect(catchUp.resumesRefused).toBeGreaterThan(0);
    // Small log buffers fill up during partitions; slow backups make the primary throttle.
    expect(catchUp.bufferPauses).toBeGreaterThan(SEEDS * 0.02);
    expect(catchUp.throttleSleeps).toBeGreaterThan(SEEDS * 0.03);
  });
});

describe("FT simulator: cloning a new backup into a running primary", () => {
  /** Verbose runs of the first seeds: which clone stories their traces tell. */
  const runs = Array.from({ length: 200 }, (_, i) => simulate(i + 1, { verbose: true }));
  const seedsWith = (re: RegExp) => runs.filter((r) => r.trace.some((l) => re.test(l))).map((r) => r.seed);

  it("every stage of a clone happens, and fails, in some seed", () => {
    // A respawned backup connects to the host running alone, which accepts and clones.
    expect(seedsWith(/ [C-E] starts: joins [BCDEP]$/).length).toBeGreaterThan(40);
    expect(seedsWith(/ accepts [C-E]: cloning$/).length).toBeGreaterThan(40);
    expect(seedsWith(/ [C-E] news: restored the clone at icount \d+/).length).toBeGreaterThan(30);
    expect(seedsWith(/ news: redundancy restored: [C-E] joined/).length).toBeGreaterThan(30);
    expect(seedsWith(/ [C-E] news: paired with the primary in epoch/).length).toBeGreaterThan(30);
    // Failures: the joiner dies before the pair's claim (the primary stays alone in its epoch) ...
    expect(seedsWith(/ news: the clone to [C-E] failed .*still alone in epoch/).length).toBeGreaterThan(3);
    // ... the primary dies before the pair was granted (the joiner may not serve) ...
    expect(seedsWith(/ [C-E] news: halting: lost the test-and-set for epoch \d+ \(host [C-E] was not a member/).length).toBeGreaterThan(1);
    // ... the pair was granted but "paired" never arrived: the joiner learns it from the refused claim and claims the next epoch.
    expect(seedsWith(/ [C-E] news: the primary had paired with this host in epoch \d+; claiming the next/).length).toBeGreaterThan(0);
    // ... and crash triggers at each stage of the clone fired.
    for (const stage of ["clone", "clone-mem", "restored", "granted"]) expect(seedsWith(new RegExp(`CRASH: crash (on|[\\d.]+ ms after) clone stage ${stage}`)).length).toBeGreaterThan(0);
    expect(seedsWith(/ [C-E] CRASH: crash on entering joining/).length).toBeGreaterThan(0);
  });

  it("a cloned backup fails over, and so on down a chain (P -> B -> C live)", () => {
    expect(seedsWith(/ [C-E] news: went live at icount \d+ in epoch \d+/).length).toBeGreaterThan(5);
    const chains = runs.filter((r) => r.trace.some((l) => / B news: went live/.test(l)) && r.trace.some((l) => / [C-E] news: went live/.test(l)));
    expect(chains.length).toBeGreaterThan(0);
    for (const r of chains) expect(unexpectedFailure(r)).toBeUndefined();
  });

  it("a cloned backup's trace is compared with its primary's from the snapshot on", () => {
    const cloned = runs.filter((r) => r.stats.clonesCompleted > 0 && r.ok);
    expect(cloned.length).toBeGreaterThan(30);
    // The restored state (checked against the primary's at S) and later replay points.
    expect(cloned.reduce((n, r) => n + r.stats.cloneTracePoints, 0)).toBeGreaterThan(cloned.length * 10);
  });

  it("a clone run replays exactly: same fingerprint, failures and stats, verbose or not", () => {
    const picks = runs.filter((r) => r.stats.clonesCompleted > 0 && r.stats.clonesFailed > 0).slice(0, 3);
    expect(picks.length).toBe(3);
    for (const v of picks) {
      const a = simulate(v.seed);
      expect(a.fingerprint).toBe(v.fingerprint);
      expect(a.failures).toEqual(v.failures);
      expect(a.stats).toEqual(v.stats);
      expect(simulate(v.seed).fingerprint).toBe(a.fingerprint);
    }
  });

  it("without respawns no host beyond P and B starts", () => {
    for (const s of [5, 6, 17]) {
      const r = simulate(s, { plan: { respawn: false }, verbose: true });
      expect(r.stats.respawns + r.stats.clonesStarted).toBe(0);
      expect(r.trace.some((l) => / [C-E] /.test(l))).toBe(false);
      expect(unexpectedFailure(r)).toBeUndefined();
    }
  });
});

describe("FT simulator: determinism", () => {
  it("the same seed gives the same run (fingerprint of the whole event trace), verbose or not", () => {
    for (const s of [1, 2, 19, 97, 500]) {
      const a = simulate(s);
      const b = simulate(s, { verbose: true });
      expect(b.fingerprint).toBe(a.fingerprint);
      expect(b.failures).toEqual(a.failures);
      expect(b.stats).toEqual(a.stats);
      expect(b.trace.length).toBeGreaterThan(100);
    }
  });

  it("different seeds give different runs and plans", () => {
    const prints = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => simulate(s).fingerprint));
    expect(prints.size).toBe(8);
    expect(JSON.stringify(makePlan(1, new Prng(1).fork("plan")))).not.toBe(JSON.stringify(makePlan(2, new Prng(2).fork("plan"))));
  });

  it("the PRNG is seeded and spread", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(new Set(xs).size).toBe(1000);
    const r = new Prng(7);
    const ints = Array.from({ length: 10000 }, () => r.int(0, 9));
    for (let d = 0; d <= 9; d++) expect(ints.filter((x) => x === d).length).toBeGreaterThan(850);
    expect(new Prng(1).fork("x").next()).not.toBe(new Prng(1).fork("y").next());
  });

  it("a failing seed names the one-line command that replays it", () => {
    const r = simulate(37);
    expect(r.replay).toBe("npx ftvm sim --seed 37");
    expect(simulate(3, { mutation: "self-ack" }).replay).toBe("npx ftvm sim --seed 3 --mutation self-ack");
  });

  it("a calm run (no faults) finishes with the complete output and compares the backup's trace all along", () => {
    for (const s of [1, 2, 3]) {
      const r = simulate(s, { plan: { calm: true } });
      expect(r.failures).toEqual([]);
      expect(r.stats.finished).toBe(true);
      expect(r.stats.failovers + r.stats.crashes + r.stats.halts + r.stats.lost).toBe(0);
      expect(r.stats.sinkBytes).toBe(r.stats.outputBytes);
      expect(r.stats.tracePoints).toBeGreaterThan(20);
    }
  });
});

describe("FT simulator: every check fires on a broken variant", () => {
  /** The first seed (up to `max`) where the mutation makes `check` fail; that seed must pass unbroken. */
  function firing(mutation: Mutation, check: string, max = 80): { seed: number; failure: string } {
    for (let s = 1; s <= max; s++) {
      const r = simulate(s, { mutation });
      const failure = r.failures.find((f) => f.startsWith(`${check}:`));
      if (!failure) continue;
      expect(r.ok).toBe(false);
      expect(r.replay).toBe(`npx ftvm sim --seed ${s} --mutation ${mutation}`);
      // Without the mutation the same seed is fine: the break caused the failure.
      const clean = simulate(s);
      expect(unexpectedFailure(clean)).toBeUndefined();
      expect(clean.failures.some((f) => f.startsWith(`${check}:`))).toBe(false);
      return { seed: s, failure };
    }
    throw new Error(`mutation ${mutation} never made check ${check} fail in seeds 1..${max}`);
  }

  it("one-releaser: an arbiter that grants every request lets two hosts release output in one epoch", () => {
    expect(firing("arbiter-grants-all", "one-releaser").failure).toMatch(/epoch \d+ .*(2 hosts|2 times)/);
  });

  it("output-rule: a primary that acknowledges its own log releases output its backup does not have", () => {
    expect(firing("self-ack", "output-rule").failure).toMatch(/but its backup B had received the log only through icount/);
  });

  it("acked-output: ... and when it crashes, output the sink accepted disappears from the final execution", () => {
    expect(firing("self-ack", "acked-output").failure).toMatch(/acknowledged output was lost/);
  });

  it("sink-stream: a sink without de-duplication writes re-sent bytes twice", () => {
    expect(firing("sink-no-dedup", "sink-stream").failure).toMatch(/duplicate|differs/);
  });

  it("sink-stream: output lost on the way to the sink is a gap the sink refuses", () => {
    expect(firing("sink-loses-output", "sink-stream").failure).toMatch(/as a gap/);
  });

  it("replay-trace: one RAND value changed on the wire makes the backup's execution differ", () => {
    expect(firing("corrupt-log", "replay-trace").failure).toMatch(/replay/);
  });

  it("liveness: an arbiter that never answers leaves the guest unfinished", () => {
    expect(firing("arbiter-silent", "liveness").failure).toMatch(/unfinished/);
  });

  it("exception: a node that throws an ordinary Error is reported (and its host dies)", () => {
    expect(firing("node-throws", "exception").failure).toMatch(/threw in tick: deliberate bug/);
  });

  it("replay-trace: one register changed in a clone's snapshot on the wire makes the restored state differ from the primary's", () => {
    expect(firing("corrupt-clone", "replay-trace").failure).toMatch(/host [C-E] restored its clone at icount \d+ in state .*, but host [BCDEP] took the snapshot/);
  });

  it("liveness, not safety: a log front that acknowledges every batch unchecked makes its backup halt rather than go live without that log", () => {
    // Without the take-over rule (FtNode.frontAckedLsn) such a front broke the output
    // stream: seed 27 ended "the sink's stream differs from the final execution".
    expect(firing("front-unchecked", "liveness").failure).toMatch(/acknowledged the log through lsn \d+ but holds it only through \d+: it cannot take over/);
    // No safety check fails in those seeds: at most the run stops (or the node's own check
    // of the front, an InvariantError, reports it as a bug).
    for (let s = 1; s <= 80; s++) {
      const broken = simulate(s, { mutation: "front-unchecked" }).failures.find((f) => !f.startsWith("liveness:") && !f.startsWith("exception:"));
      expect(broken, `seed ${s}`).toBeUndefined();
    }
  });

  it("every mutation is covered above (the disk ones in sim-disk.test.ts, the cluster ones in sim-arbiter.test.ts)", () => {
    expect([...MUTATIONS].sort()).toEqual([
      "arbiter-forgets-cluster",
      "arbiter-grants-all",
      "arbiter-silent",
      "backup-early-done",
      "clone-no-hold",
      "corrupt-backup-image",
      "corrupt-clone",
      "corrupt-log",
      "disk-early-write",
      "disk-unfenced",
      "front-unchecked",
      "node-throws",
      "self-ack",
      "sink-ignores-cluster",
      "sink-loses-output",
      "sink-no-dedup",
    ]);
  });
});

describe("ftvm sim (the command)", () => {
  let out = "";
  afterEach(() => vi.restoreAllMocks());
  function capture(): void {
    out = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  }

  it("--seeds N prints how many ran and failed, exit 0 when none did", async () => {
    capture();
    const code = await simCommand.run(["--seeds", "5", "--start", "1"]);
    expect(out).toContain("sim: 5 seeds ran, 0 failed");
    // One network seed per NET_SEEDS_SHARE console seeds, rounded up.
    expect(out).toContain("sim: 1 network seeds ran, 0 failed");
    expect(code).toBe(0);
  });

  it("--seeds N --console-only runs no network seeds", async () => {
    capture();
    const code = await simCommand.run(["--seeds", "2", "--start", "1", "--console-only"]);
    expect(out).toContain("sim: 2 seeds ran, 0 failed");
    expect(out).not.toContain("network seeds");
    expect(code).toBe(0);
  });

  it("a failing seed prints its first failure and the replay command, exit 1", async () => {
    capture();
    // No seed fails on the real protocol any more, so break it on purpose.
    const code = await simCommand.run(["--seeds", "2", "--start", "1", "--mutation", "self-ack"]);
    expect(out).toContain("seed 1: output-rule:");
    expect(out).toContain("  replay: npx ftvm sim --seed 1 --mutation self-ack\n");
    expect(out).toContain("sim: 2 seeds ran, 1 failed");
    expect(code).toBe(1);
  });

  it("--seed S --verbose prints the event trace, the plan and the fingerprint", async () => {
    capture();
    const code = await simCommand.run(["--seed", "5", "--verbose"]);
    expect(out).toMatch(/P role idle -> primary \(epoch 1\)/);
    expect(out).toContain(`fingerprint: ${simulate(5).fingerprint}`);
    expect(out).toContain("sim: 1 seeds ran, 0 failed");
    expect(code).toBe(0);
  });

  it("refuses bad arguments", async () => {
    await expect(Promise.resolve().then(() => simCommand.run([]))).rejects.toThrow(/--seeds N or --seed S/);
    await expect(Promise.resolve().then(() => simCommand.run(["--seed", "1", "--seeds", "2"]))).rejects.toThrow(/either/);
    await expect(Promise.resolve().then(() => simCommand.run(["--seed", "x"]))).rejects.toThrow(/non-negative integer/);
    await expect(Promise.resolve().then(() => simCommand.run(["--seed", "1", "--mutation", "nope"]))).rejects.toThrow(/--mutation.*Allowed choices are/);
  });
});
