// FT end to end with real processes: an arbiter, a primary and a backup, each its own OS
// process, SIGKILLed at random moments; the output the sink delivers must be exactly the
// output of one execution. (The launcher runs in-process so the test sees its summary.)
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ArbiterClient } from "../src/arbiter/client.js";
import { startTestArbiter, until } from "./helpers.js";
import { runCluster } from "../src/host/launcher.js";
import { CLOSE_MALFORMED, CLOSE_REFUSED, setLogger } from "../src/transport/channel.js";
import { LOG_PROTOCOL_VERSION } from "../src/ft/protocol.js";
import { LOG_SERVICE } from "../src/host/ft-host.js";
import { RunStream, counts } from "./support/run-stream.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const COUNT = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join("");

/** The launcher in-process; the checks read its event stream (the summary's text is for people). */
async function cluster(opts: Parameters<typeof runCluster>[0]) {
  const out: Buffer[] = [];
  let info = "";
  const stream = new RunStream();
  const code = await runCluster({ ...opts, write: (b) => out.push(Buffer.from(b)), info: (s) => (info += s), onEvent: stream.push });
  return { code, out: Buffer.concat(out).toString("latin1"), info, stream, counts: counts(stream.events) };
}

/** A deterministic spread of crash points over count.s's 3.3M instructions (seeded, so a failure repeats). */
function crashPoints(n: number, seed: number): number[] {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => Math.floor(next() * 3_300_000));
}

const KILLS = Number(process.env.FTVM_E2E_KILLS ?? 20);

describe("FT with real processes", () => {
  const points = crashPoints(KILLS, 2026);
  it.each(points.map((p, i) => [i + 1, p]))(
    "SIGKILL of the primary #%i at icount %i: count.s output stays exactly 1..100000",
    async (_i, at) => {
      const r = await cluster({ program: "programs/count.s", crashPrimaryAtIcount: at });
      expect(r.counts.failovers, r.info).toBe(1);
      expect(r.code).toBe(0);
      expect(r.out.length).toBe(COUNT.length);
      expect(r.out === COUNT).toBe(true);
    },
  );

  it("SIGKILL of the primary at a random moment in time (from outside, while it prints)", async () => {
    const r = await cluster({ program: "programs/ticker.s", crashPrimaryAfterMs: 1200 });
    expect(r.code, r.info).toBe(0);
    expect(r.counts.failovers, r.info).toBe(1);
    const ticks = r.out.trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it("SIGKILL of the backup: the primary goes on alone, output exact", async () => {
    // ticker.s runs for 3 s, so the backup dies while the primary still runs (count.s can
    // finish, every byte acknowledged, before its backup has replayed far: then the primary
    // needs no election at all). No respawned backup, so the epochs show the one election.
    const r = await cluster({ program: "programs/ticker.s", crashBackupAfterMs: 1200, respawn: false });
    expect(r.code, r.info).toBe(0);
    // The backup failed; the primary won the epoch after the pair's and went on alone. (The
    // pair's is 1, or 2 when the first backup came after its primary stopped waiting,
    // --wait-backup-ms on a busy machine, and joined by clone.)
    const kill = r.stream.all("fault").filter((f) => f.fault === "kill");
    expect(kill, r.info).toHaveLength(1);
    expect([1, 2], r.info).toContain(kill[0].epoch);
    expect(r.stream.all("alone").map((a) => a.epoch), r.info).toEqual([kill[0].epoch! + 1]);
    expect(r.counts.failovers).toBe(0);
    const ticks = r.out.trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it("SIGKILL of the backup of count.s: output exact whether or not the primary needed an election", async () => {
    const r = await cluster({ program: "programs/count.s", crashBackupAtIcount: 1_000_000 });
    expect(r.code).toBe(0);
    expect(r.out === COUNT).toBe(true);
  });

  it("a partition between primary and backup: exactly one side goes on, output exact", async () => {
    // Without a respawned backup, so the epochs show exactly one election.
    const r = await cluster({ program: "programs/ticker.s", partitionAfterMs: 1500, respawn: false });
    expect(r.code, r.info).toBe(0);
    const ticks = r.out.trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    // One of them won the next epoch (the backup going live, or the primary going on
    // alone); the other halted on losing the test-and-set: one election, no epoch after it.
    const cut = r.stream.all("fault").filter((f) => f.fault === "partition");
    expect(cut, r.info).toHaveLength(1);
    expect(r.counts.failovers + r.counts.alone, r.info).toBe(1);
    // The epoch after the pair's: the pair's is 1, or 2 when the first backup came after its
    // primary stopped waiting (--wait-backup-ms, on a busy machine) and joined by clone.
    expect([1, 2], r.info).toContain(cut[0].epoch);
    expect(r.counts.maxEpoch, r.info).toBe(cut[0].epoch! + 1);
  });

  it("both hosts dead: nobody serves; a fresh or stale host is refused by the arbiter", async () => {
    setLogger(() => undefined);
    const secret = "test-secret";
    const arb = await startTestArbiter(secret);
    try {
      // A primary that runs alone claims epoch 1, then is killed.
      const first = spawn(process.execPath, [...ftvmArgs(), "primary", "programs/ticker.s", "--arbiter", arb.url, "--wait-backup-ms", "0"], {
        cwd: ROOT,
        env: { ...process.env, FTVM_SECRET: secret },
        stdio: ["ignore", "ignore", "pipe"],
      });
      // Its start-up takes seconds on a busy machine: wait for its claim, not a fixed time.
      await until("the lone primary's claim of epoch 1", () => arb.state().epoch >= 1, 90_000);
      expect(arb.state().epoch).toBe(1);
      first.kill("SIGKILL");
      // A fresh host (new identity, no state) tries to start the program again.
      const fresh = spawn(process.execPath, [...ftvmArgs(), "primary", "programs/ticker.s", "--arbiter", arb.url, "--wait-backup-ms", "0"], {
        cwd: ROOT,
        env: { ...process.env, FTVM_SECRET: secret },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      let out = "";
      fresh.stderr!.on("data", (d) => (err += d));
      fresh.stdout!.on("data", (d) => (out += d));
      const code = await new Promise((r) => fresh.on("exit", r));
      expect(code).toBe(3);
      expect(err).toMatch(/the arbiter refused epoch 2: host \S+ was not a member of epoch 1/);
      expect(out).not.toMatch(/tick/); // it never produced output
      // A stale claim (an epoch already taken) is refused too.
      const c = new ArbiterClient(arb.url, secret);
      const r = await c.testAndSet({ epoch: 1, host: "old", members: ["old"] });
      c.close();
      expect(r).toMatchObject({ granted: false, reason: expect.stringMatching(/epoch 1 is already taken/) });
    } finally {
      await arb.close();
    }
  });

  it("an unauthenticated peer is refused with a reason and the arbiter keeps serving", async () => {
    const logs: string[] = [];
    setLogger((l) => logs.push(l));
    const arb = await startTestArbiter("right");
    try {
      const bad = new ArbiterClient(arb.url, "wrong");
      await expect(bad.state()).rejects.toThrow(/authentication failed|closed \(4401/);
      const good = new ArbiterClient(arb.url, "right");
      expect((await good.state()).epoch).toBe(0);
      good.close();
      expect(logs.join("\n")).toMatch(/refused .*authentication failed/);
    } finally {
      await arb.close();
    }
  });
});

describe("the log channel refuses bad peers and keeps serving", () => {
  it("a wrong secret and a malformed hello are refused with reasons; the primary goes on", async () => {
    setLogger(() => undefined);
    const { connect } = await import("../src/transport/channel.js");
    const secret = "s3cret";
    const arb = await startTestArbiter(secret);
    const primary = spawn(process.execPath, [...ftvmArgs(), "primary", "programs/ticker.s", "--arbiter", arb.url, "--wait-backup-ms", "1500"], {
      cwd: ROOT,
      env: { ...process.env, FTVM_SECRET: secret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      let err = "";
      primary.stderr!.on("data", (d) => (err += d));
      const url = await new Promise<string>((resolve) =>
        primary.stdout!.on("data", (d) => {
          out += d;
          const m = /listening (ws:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        }),
      );
      await expect(connect(url, "not-the-secret", LOG_SERVICE)).rejects.toThrow(/4401|authentication failed/);
      const ch = await connect(url, secret, LOG_SERVICE);
      const closed = new Promise<[number, string]>((r) => ch.on("close", (c, reason) => r([c, reason])));
      ch.send({ t: "hello", v: LOG_PROTOCOL_VERSION }); // no host: malformed
      expect(await closed).toEqual([CLOSE_MALFORMED, expect.stringMatching(/"hello": host must be a string, got nothing/)]);
      // A peer of another protocol version is refused, both versions named.
      const old = await connect(url, secret, LOG_SERVICE);
      const oldClosed = new Promise<[number, string]>((r) => old.on("close", (c, reason) => r([c, reason])));
      old.send({ t: "hello", v: LOG_PROTOCOL_VERSION - 1, host: "h", cluster: "local" });
      expect(await oldClosed).toEqual([CLOSE_REFUSED, `the peer speaks log protocol version ${LOG_PROTOCOL_VERSION - 1}, this host speaks version ${LOG_PROTOCOL_VERSION}`]);
      // The primary keeps serving: with no backup it runs alone and prints its ticks.
      // Its log lines are what is tested here: a refusal the operator sees, with its reason.
      await until("the primary's first tick", () => /tick 1 of 150/.test(out), 90_000);
      expect(err).toMatch(/refused .*authentication failed/);
      expect(err).toMatch(/refused .*host must be a string/);
    } finally {
      primary.kill("SIGKILL");
      await arb.close();
    }
  });
});
