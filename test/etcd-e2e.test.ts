// FT over a real 3-member etcd cluster on loopback (issue 16): the etcd arbiter's
// test-and-set under races and after etcd loses its data, then `ftvm ft --arbiter etcd://`
// with etcd members killed during failovers (one: FT carries on; two: quorum lost, nobody
// goes live or alone and no output is released until members are restarted). One etcd
// cluster serves the whole file (start-up takes seconds); every test uses its own key
// prefix and begins with all three members healthy. Skipped, with a message, where no
// `etcd` binary is installed (Debian: etcd-server; .ci/run installs it).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WrongClusterError } from "../src/arbiter/client.js";
import { EtcdArbiter } from "../src/arbiter/etcd.js";
import { type LocalEtcd, etcdAvailable, startLocalEtcd } from "../src/host/etcd-local.js";
import { runClusterDetailed } from "../src/host/launcher.js";
import type { HostStatus } from "../src/host/sink.js";
import { setLogger } from "../src/transport/channel.js";
import { pulseSource } from "./support/programs.js";

const HAVE_ETCD = etcdAvailable();
if (!HAVE_ETCD) console.warn("etcd-e2e: no etcd binary on PATH (apt-get install etcd-server): the etcd tests are skipped");
/** Generous: the machine running the tests is busy. */
const DEADLINE_MS = 60_000;
/** How long the tests keep etcd without a quorum: long enough that a host acting alone would show. */
const QUORUM_LOST_MS = 1500;

const dir = mkdtempSync(join(tmpdir(), "ftvm-etcd-e2e-"));
let etcd: LocalEtcd | undefined;

/** pulse.s with `lines` lines (ten per 5 ms tick): output that must be exactly 1..lines. */
function pulse(lines: number): string {
  const file = join(dir, `pulse-${lines}.s`);
  writeFileSync(file, pulseSource(lines));
  return file;
}

async function until(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
  const start = Date.now();
  while (!(await test())) {
    if (Date.now() - start > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * SIGKILLs the host that last reported `role` in the newest epoch. The tests kill hosts
 * themselves rather than through the launcher: the launcher asks the arbiter before a kill,
 * and etcd cannot answer while it elects a leader or has no quorum, which is the point here.
 */
function killHost(statuses: HostStatus[], role: "primary" | "backup"): number {
  // Each host by its latest report: a primary once reported itself as a backup.
  const latest = new Map(statuses.map((x) => [x.pid, x]));
  const s = [...latest.values()].filter((x) => x.role === role).sort((a, b) => b.epoch - a.epoch)[0];
  if (!s) throw new Error(`no ${role} has reported yet`);
  process.kill(s.pid, "SIGKILL");
  return s.pid;
}

function expectLines(out: string, n: number, info: string): void {
  const lines = out.split("\n");
  expect(lines.pop(), info).toBe("");
  expect(lines.length, info).toBe(n);
  const wrong = lines.findIndex((l, i) => l !== String(i + 1));
  expect(wrong, `first wrong line ${wrong}: ${JSON.stringify(lines[wrong])}\n${info}`).toBe(-1);
}

describe.skipIf(!HAVE_ETCD)("the etcd arbiter on a real 3-member etcd cluster", () => {
  beforeAll(async () => {
    setLogger(() => undefined);
    etcd = await startLocalEtcd({ members: 3, dir: join(dir, "etcd") });
  });
  afterAll(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const e = etcd!;
    for (let i = 0; i < e.members.length; i++) {
      e.resume(i);
      await e.restart(i);
    }
    await until("all members healthy", async () => (await Promise.all(e.members.map((_, i) => e.healthy(i)))).every(Boolean));
  });

  it("grants each epoch once under racing claims, founds the cluster once, and refuses an etcd that lost its keys", async () => {
    const e = etcd!;
    for (let round = 0; round < 4; round++) {
      const url = e.url(`race/${round}`);
      // Two clients of no cluster yet: both try to found it, one id stands.
      const a = new EtcdArbiter(url, undefined, () => `a${round}`);
      const b = new EtcdArbiter(url, undefined, () => `b${round}`);
      try {
        const [sa, sb] = await Promise.all([a.state(), b.state()]);
        expect(sa.cluster).toBe(sb.cluster);
        expect([`a${round}`, `b${round}`]).toContain(sa.cluster);
        // Both claim epoch 1 at once: exactly one transaction wins.
        const [ra, rb] = await Promise.all([a.testAndSet({ epoch: 1, host: "pa", members: ["pa", "x"] }), b.testAndSet({ epoch: 1, host: "pb", members: ["pb", "x"] })]);
        expect([ra.granted, rb.granted].filter(Boolean)).toHaveLength(1);
        const winner = ra.granted ? "pa" : "pb";
        expect((await a.state()).holder).toBe(winner);
        // The winner's retry (its answer lost) wins again; the loser's retry is refused.
        expect((await a.testAndSet({ epoch: 1, host: winner, members: [winner, "x"] })).granted).toBe(true);
        const loser = winner === "pa" ? "pb" : "pa";
        const again = await b.testAndSet({ epoch: 1, host: loser, members: [loser, "x"] });
        expect(again).toMatchObject({ granted: false, reason: expect.stringMatching(/epoch 1 is already taken/) });
        // Epoch 2 goes to a member of epoch 1 only.
        expect((await b.testAndSet({ epoch: 2, host: "stranger", members: ["stranger"] })).granted).toBe(false);
        expect((await b.testAndSet({ epoch: 2, host: "x", members: ["x"] })).granted).toBe(true);
      } finally {
        a.close();
        b.close();
      }
    }
    // etcd loses the keys (wiped, restored from an old backup, a wrong prefix): a client of
    // the cluster never founds a new one there, and is refused for good.
    const url = e.url("wiped");
    const first = new EtcdArbiter(url, undefined, () => "before");
    const { Etcd3 } = await import("etcd3");
    const raw = new Etcd3({ hosts: e.endpoints.split(",").map((h) => `http://${h}`) });
    try {
      expect((await first.testAndSet({ epoch: 1, host: "p", members: ["p", "b"] })).granted).toBe(true);
      await raw.delete().prefix("wiped/");
      const err = await first.statePatiently().catch((x: Error) => x);
      expect(err).toBeInstanceOf(WrongClusterError);
      expect((err as Error).message).toMatch(/holds no cluster under "wiped\/".*cluster before can never be granted/);
      // A newcomer founds a new cluster; the old client refuses it by its id.
      const fresh = new EtcdArbiter(url, undefined, () => "after");
      expect(await fresh.state()).toMatchObject({ cluster: "after", epoch: 0 });
      fresh.close();
      await expect(first.testAndSetPatiently({ epoch: 2, host: "b", members: ["b"] })).rejects.toThrow(/belongs to cluster after, this one to cluster before/);
    } finally {
      first.close();
      raw.close();
    }
  });

  it("ftvm ft over etcd: an etcd member killed during two failovers; FT carries on, the output exact", { timeout: 180_000 }, async () => {
    const e = etcd!;
    const lines = 24_000;
    let out = "";
    let info = "";
    const statuses: HostStatus[] = [];
    let steps: Promise<void> | undefined;
    let killedLeader: number | undefined;
    const primaryAt = (epoch: number) => statuses.some((s) => s.role === "primary" && s.epoch >= epoch);
    const r = await runClusterDetailed({
      program: pulse(lines),
      arbiter: e.url("kill-one"),
      heartbeatMs: 100,
      timeoutMs: 5000,
      quiet: true,
      write: (b) => (out += Buffer.from(b).toString()),
      info: (s) => (info += s),
      onStatus: (s) => {
        statuses.push(s);
        if (steps || s.role !== "primary" || out.length < 2000) return;
        steps = (async () => {
          // The primary dies, and at once etcd's leader: the backup's test-and-set for
          // epoch 2 meets an election and is granted by the two members left.
          const leader = await e.leader();
          killHost(statuses, "primary");
          killedLeader = leader ?? 0;
          await e.kill(killedLeader);
          // A new backup joins by clone (epoch 3, granted by two members); the primary dies again.
          await until("a new pair (epoch 3)", () => primaryAt(3) && statuses.some((s) => s.role === "backup" && s.epoch >= 3));
          killHost(statuses, "primary");
          await until("the second failover (epoch 4)", () => statuses.some((x) => x.epoch >= 4));
          await e.restart(killedLeader);
        })().catch((err: Error) => {
          throw new Error(`${err.message}\n${info}`);
        });
      },
    });
    await steps;
    expect(steps, info).toBeDefined();
    expect(r.code, info).toBe(0);
    expectLines(out, lines, info);
    expect(r.failovers, info).toHaveLength(2);
    expect(r.divergences).toEqual({ sink: 0, disk: 0, switch: 0 });
    expect(await e.healthy(killedLeader!)).toBe(true);
  });

  it("two etcd members killed: no host goes live or alone and no output is released until the quorum returns", { timeout: 180_000 }, async () => {
    const e = etcd!;
    const lines = 24_000;
    let out = "";
    let info = "";
    const statuses: { at: number; s: HostStatus }[] = [];
    const outages: { from: number; to: number; epoch: number; linesAtStart?: number; linesAtEnd?: number }[] = [];
    let steps: Promise<void> | undefined;
    const maxEpoch = () => Math.max(0, ...statuses.map((x) => x.s.epoch));
    const count = () => out.split("\n").length - 1;
    const loseQuorum = async (): Promise<{ from: number; to: number; epoch: number }> => {
      await Promise.all([e.kill(1), e.kill(2)]);
      return { from: Date.now(), to: 0, epoch: maxEpoch() };
    };
    const r = await runClusterDetailed({
      program: pulse(lines),
      arbiter: e.url("kill-two"),
      heartbeatMs: 100,
      timeoutMs: 5000,
      quiet: true,
      write: (b) => (out += Buffer.from(b).toString()),
      info: (s) => (info += s),
      onStatus: (s) => {
        statuses.push({ at: Date.now(), s });
        if (steps || s.role !== "primary" || out.length < 2000) return;
        steps = (async () => {
          // 1. The quorum goes, then the primary: its backup must not go live.
          const o1 = await loseQuorum();
          killHost(statuses.map((x) => x.s), "primary");
          await new Promise((res) => setTimeout(res, QUORUM_LOST_MS));
          o1.to = Date.now();
          outages.push(o1);
          await Promise.all([e.restart(1, false), e.restart(2, false)]);
          // 2. A new backup joins (epoch 3); the quorum goes again, then the backup: the
          //    primary must neither go on alone nor release output its backup never acknowledged.
          await until("a new pair (epoch 3)", () => ["primary", "backup"].every((role) => statuses.some((x) => x.s.role === role && x.s.epoch >= 3)));
          const o2 = { ...(await loseQuorum()), linesAtStart: 0, linesAtEnd: 0 };
          killHost(statuses.map((x) => x.s), "backup");
          // Output acknowledged before the kill may still reach the sink; then nothing.
          await new Promise((res) => setTimeout(res, 300));
          o2.linesAtStart = count();
          await new Promise((res) => setTimeout(res, QUORUM_LOST_MS));
          o2.linesAtEnd = count();
          o2.to = Date.now();
          outages.push(o2);
          await Promise.all([e.restart(1), e.restart(2)]);
        })().catch((err: Error) => {
          throw new Error(`${err.message}\n${info}`);
        });
      },
    });
    await steps;
    expect(steps, info).toBeDefined();
    expect(outages, info).toHaveLength(2);
    // While etcd had no quorum no host reported an epoch newer than the one before.
    for (const o of outages) {
      const during = statuses.filter((x) => x.at > o.from && x.at < o.to);
      expect(during.length, info).toBeGreaterThan(0);
      expect(Math.max(...during.map((x) => x.s.epoch)), info).toBe(o.epoch);
    }
    // The first outage: the backup went live only after the quorum returned.
    expect(r.failovers.length, info).toBeGreaterThanOrEqual(1);
    expect(r.failovers[0].liveMs!, info).toBeGreaterThanOrEqual(QUORUM_LOST_MS);
    // The second: the primary, without its backup and without etcd, released nothing.
    expect(outages[1].linesAtEnd, info).toBe(outages[1].linesAtStart);
    expect(outages[1].linesAtEnd!, info).toBeLessThan(lines);
    // FT resumed once the quorum returned: the guest finished, every line exactly once.
    expect(r.code, info).toBe(0);
    expectLines(out, lines, info);
    expect(r.divergences).toEqual({ sink: 0, disk: 0, switch: 0 });
    expect(info).toMatch(/backup failed; the primary won epoch \d+ and went on alone/);
  });
});
