// The simulator's arbiter restarts (src/sim, issue 16): the arbiter killed and restarted at
// every step of a failover — with its state the failover completes; without it (it loses
// its memory and founds a new cluster) nobody of the old cluster is granted by it and no
// output of the new cluster gets past the old sink; seeds with amnesia pass; and the two
// mutations that ignore the cluster id are caught.
import { describe, expect, it } from "vitest";
import { checkRun } from "../src/sim/checks.js";
import type { ArbiterRestart, Plan, PlanOverrides } from "../src/sim/plan.js";
import { STRANGER_ID, makePlan } from "../src/sim/plan.js";
import { Prng } from "../src/sim/prng.js";
import type { Mutation } from "../src/sim/sim.js";
import { RUN_CLUSTER, Simulation, simulate } from "../src/sim/sim.js";

/** Runs a seed as simulate() does, keeping the simulation (its facts and trace). */
function run(seed: number, plan: PlanOverrides, mutation?: Mutation) {
  const root = new Prng(seed);
  const p = makePlan(seed, root.fork("plan"), plan);
  const sim = new Simulation(p, root, { verbose: true, plan, mutation });
  sim.run();
  return { sim, facts: sim.facts, failures: checkRun(sim.facts), stats: sim.stats(), plan: p };
}

const time = (line: string) => Number(line.trim().split(" ")[0]);

describe("the arbiter killed and restarted at every step of a failover", () => {
  // A calm run in which P crashes at 60 ms: B detects it, drains, asks the arbiter for
  // epoch 2 (the request travels, is granted, the answer travels back), goes live, re-sends
  // output, and the sink writes epoch 2's first new bytes. Every event from the crash to
  // that write is a step: the arbiter dies just before it, just after it (the same instant,
  // once the step happened), and halfway to the next.
  const SEED = 7;
  const base: PlanOverrides = { calm: true, crashes: { P: [{ kind: "time", atMs: 60 }] }, arbiterRestarts: false };
  const clean = run(SEED, base);
  const crashAt = time(clean.sim.trace.find((l) => / P CRASH: /.test(l))!);
  const lastStep = time(clean.sim.trace.find((l) => /sink writes B's bytes .* \(epoch 2\)/.test(l))!);
  const events = [...new Set(clean.sim.trace.map(time).filter((t) => t >= crashAt && t <= lastStep))];
  const steps = [...new Set(events.flatMap((t, i) => [t, t + 0.0005, ...(i + 1 < events.length ? [(t + events[i + 1]) / 2] : [])]))];
  const downs = [clean.plan.tasTimeoutMs / 4, clean.plan.timeoutMs * 3];

  it("the failure-free failover these runs start from: B goes live in epoch 2 and the guest finishes", () => {
    expect(clean.failures).toEqual([]);
    expect(clean.stats).toMatchObject({ failovers: 1, finished: true });
    expect(clean.sim.trace.some((l) => / B asks the arbiter for epoch 2$/.test(l))).toBe(true);
    // Detection, drain, the request, the grant, its answer, going live, the re-sent output, the first new write.
    expect(clean.sim.trace.filter((l) => time(l) >= crashAt && time(l) <= lastStep).map((l) => l.slice(11))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^B cut: nothing heard/), "B asks the arbiter for epoch 2", expect.stringMatching(/^arbiter: request 1 from B for epoch 2: granted/), expect.stringMatching(/^B news: went live/)]),
    );
    expect(events.length).toBeGreaterThanOrEqual(8);
  });

  it("with its state: at every step the failover still completes, exactly once, and the guest finishes", () => {
    for (const at of steps)
      for (const downMs of downs) {
        const restart: ArbiterRestart = { atMs: at, downMs, amnesia: false };
        const r = run(SEED, { ...base, arbiterRestarts: [restart] });
        const what = `arbiter restarted at ${at} ms for ${downMs} ms`;
        expect(r.failures, what).toEqual([]);
        expect(r.stats.arbiterRestarts, what).toBe(1);
        expect(r.stats, what).toMatchObject({ failovers: 1, finished: true });
        expect(r.facts.grants.map((g) => `${g.cluster}/${g.epoch}/${g.holder}`), what).toEqual(["c1/1/P", "c1/2/B"]);
      }
  });

  it("without its state: at every step no host of the old cluster is granted by it, and the old sink takes nothing of the new cluster", () => {
    let strangersRefused = 0;
    let wentLiveBefore = 0;
    let halted = 0;
    for (const at of steps)
      for (const downMs of downs) {
        const r = run(SEED, { ...base, arbiterRestarts: [{ atMs: at, downMs, amnesia: true }], stranger: true });
        const what = `arbiter forgot at ${at} ms (down ${downMs} ms)`;
        expect(r.failures, what).toEqual([]);
        expect(r.stats.amnesias, what).toBe(1);
        // Grants of the old cluster all predate the amnesia; the new cluster's went to the stranger only.
        for (const g of r.facts.grants) {
          if (g.cluster === RUN_CLUSTER) expect(g.t, what).toBeLessThan(at);
          else expect(g.holder, what).toBe(STRANGER_ID);
        }
        // The sink wrote only the old cluster's output; the stranger's was refused for its cluster.
        for (const w of r.facts.sinkWrites) expect(r.facts.hosts[w.host].cluster, what).toBe(RUN_CLUSTER);
        for (const x of r.facts.sinkForeign) expect(x.kind, what).toBe("wrong-cluster");
        if (r.facts.sinkForeign.length > 0) strangersRefused++;
        // Either B won epoch 2 before the arbiter forgot, or it halted on meeting the forgetful one.
        const b = r.facts.hosts.B;
        if (r.facts.grants.some((g) => g.cluster === RUN_CLUSTER && g.epoch === 2)) wentLiveBefore++;
        else {
          expect(b.wrongCluster, what).toMatch(/the arbiter belongs to cluster c2, this one to cluster c1/);
          halted++;
        }
      }
    // Both outcomes happen, and the stranger's output reached the sink (and was refused) every time.
    expect(wentLiveBefore).toBeGreaterThan(0);
    expect(halted).toBeGreaterThan(0);
    expect(strangersRefused).toBe(steps.length * downs.length);
  });
});

describe("seeds with amnesia", () => {
  it("every seed of 1..150 with the arbiter forgetting at a seeded point (and a stranger) passes every check", () => {
    const bad: string[] = [];
    let strangers = 0;
    let refused = 0;
    for (let s = 1; s <= 150; s++) {
      const p = makePlan(s, new Prng(s).fork("plan"));
      const atMs = ((s * 37) % 90) / 100 * p.expectedMs;
      const r = simulate(s, { plan: { arbiterRestarts: [{ atMs, downMs: p.timeoutMs, amnesia: true }] } });
      if (!r.ok) bad.push(`seed ${s}: ${r.failures.join("\n    ")}`);
      strangers += r.stats.strangers;
      if (r.stats.foreignRefused > 0) refused++;
    }
    expect(bad, bad.join("\n")).toEqual([]);
    // Strangers start in most console-guest runs, and their output is refused.
    expect(strangers).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(40);
  });

  it("the fault is drawn from its own stream: a seed without it runs as before, with it the rest of the plan is unchanged", () => {
    const strip = (p: Plan) => {
      const { arbiterRestarts: _r, stranger: _s, capMs: _c, hosts, ...rest } = p;
      const { [STRANGER_ID]: _x, ...others } = hosts;
      return { ...rest, hosts: others };
    };
    let withFault = 0;
    for (let s = 1; s <= 60; s++) {
      const a = makePlan(s, new Prng(s).fork("plan"));
      const b = makePlan(s, new Prng(s).fork("plan"), { arbiterRestarts: false });
      if (a.arbiterRestarts.length > 0) withFault++;
      expect(strip(a)).toEqual(strip(b));
    }
    expect(withFault).toBeGreaterThan(5);
  });
});

describe("mutations that ignore the cluster id are caught", () => {
  function firing(mutation: Mutation, check: string, max = 150): string {
    for (let s = 1; s <= max; s++) {
      const r = simulate(s, { mutation });
      const failure = r.failures.find((f) => f.startsWith(`${check}:`));
      if (!failure) continue;
      expect(r.replay).toBe(`npx ftvm sim --seed ${s} --mutation ${mutation}`);
      // Without the mutation the same seed passes: the break caused the failure.
      expect(simulate(s).failures).toEqual([]);
      return failure;
    }
    throw new Error(`mutation ${mutation} never made check ${check} fail in seeds 1..${max}`);
  }

  it("arbiter-forgets-cluster: a forgetful arbiter that keeps the old cluster id grants epoch 1 of the run's cluster twice", () => {
    expect(firing("arbiter-forgets-cluster", "one-releaser")).toMatch(/the arbiter granted epoch 1 2 times \(P at 0\.000 ms, X at/);
  });

  it("sink-ignores-cluster: a sink that takes any cluster's output lets the stranger's output past the cluster check", () => {
    expect(firing("sink-ignores-cluster", "cluster")).toMatch(/output of host X \(cluster c2\) reached the sink of cluster c1 and was (written|taken as \w+), not refused for its cluster/);
  });
});
