// Restoring redundancy with real processes: `ftvm ft` starts a new backup after every
// failure, it joins the survivor by clone, and the primary can be killed again and again.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startArbiter } from "../src/arbiter/server.js";
import { freePort } from "../src/host/free-port.js";
import { describe, expect, it } from "vitest";
import { startTestArbiter, until } from "./helpers.js";
import { runClusterDetailed } from "../src/host/launcher.js";
import { setLogger } from "../src/transport/channel.js";
import { RunStream, counts } from "./support/run-stream.js";
import { ftvmArgs } from "./support/ftvm-args.js";
import { longTicker, tickNumbers } from "./support/long-ticker.js";
import { longPulse } from "./support/long-pulse.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// 60 s of output at pulse.s's pace: ten kills fit even where each re-pairing waits seconds
// for a standby to start (8 of 10 fitted in 20 s at load 12).
const PULSE_LINES = 120_000;

/** The launcher in-process; the checks read its event stream (the summary's text is for people). */
async function cluster(opts: Parameters<typeof runClusterDetailed>[0]) {
  const out: Buffer[] = [];
  let info = "";
  const stream = new RunStream();
  const r = await runClusterDetailed({ ...opts, write: (b) => out.push(Buffer.from(b)), info: (s) => (info += s), onEvent: stream.push });
  return { ...r, out: Buffer.concat(out).toString("latin1"), info, stream, counts: counts(stream.events) };
}

const seq = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");

describe("restoring redundancy by cloning (real processes)", () => {
  it("kills the primary 10 times in a row; a new backup joins by clone each time; the output is exactly 1..120000", async () => {
    const r = await cluster({ program: longPulse(PULSE_LINES), crashPrimaryEveryMs: 400 });
    expect(r.code, r.info).toBe(0);
    expect(r.out === seq(PULSE_LINES), "output is not exactly 1..120000").toBe(true);
    expect(r.failovers.length, r.info).toBeGreaterThanOrEqual(10);
    // Every kill waits for a paired backup: the first pair started together, every later
    // one was a clone.
    expect(r.clones.length).toBeGreaterThanOrEqual(r.failovers.length - 1);
    for (const c of r.clones) {
      expect(c.pauseMs).toBeDefined();
      expect(c.memBytes).toBe(1024 * 1024);
    }
    // The summary's "redundancy restored N times" is the count of clone events.
    expect(r.counts.clones).toBe(r.clones.length);
    expect(r.counts.clones, r.info).toBeGreaterThan(0);
  }, 300_000);

  it("a backup killed mid-run is replaced: the new one joins by clone and the primary keeps going", async () => {
    const r = await cluster({ program: longTicker(400), crashBackupAfterMs: 800 });
    expect(r.code, r.info).toBe(0);
    expect(tickNumbers(r.out, 400)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    // The pair the kill found: epoch 1, or epoch 2 when the first backup came after its
    // primary stopped waiting (--wait-backup-ms; a busy machine) and joined by clone. The
    // backup failed; the primary won the next epoch alone, and the new backup's clone
    // formed the one after.
    const kill = r.stream.all("fault").filter((f) => f.fault === "kill");
    expect(kill, r.info).toHaveLength(1);
    const e = kill[0].epoch!;
    expect([1, 2], r.info).toContain(e);
    expect(r.stream.all("alone").map((a) => a.epoch), r.info).toEqual([e + 1]);
    expect(r.stream.all("clone").map((c) => c.epoch), r.info).toEqual(e === 1 ? [3] : [2, 4]);
    expect(r.counts.maxEpoch, r.info).toBe(e + 2);
  }, 60_000);

  it("a primary that starts without its first backup (gone before it joined) gets one by clone", async () => {
    // On a loaded machine the first backup can take longer to start than the primary waits
    // for it (--wait-backup-ms, 10 s). Here the primary waits 1 ms and the first backup is
    // killed as it starts: nothing but the primary's start alone asks for another backup.
    let killed = false;
    const out: Buffer[] = [];
    let info = "";
    const stream = new RunStream();
    const r = await runClusterDetailed({
      program: longTicker(300),
      waitBackupMs: 1,
      write: (b) => out.push(Buffer.from(b)),
      info: (s) => (info += s),
      onEvent: (e) => {
        stream.push(e);
        if (!killed && e.type === "spawn" && e.role === "backup" && e.pid !== undefined) {
          killed = true;
          process.kill(e.pid, "SIGKILL");
        }
      },
    });
    expect(killed).toBe(true);
    expect(r.code, info).toBe(0);
    expect(tickNumbers(Buffer.concat(out).toString("latin1"), 300)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // The primary ran alone from the start; a new backup joined it by clone.
    expect(r.clones.length, info).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it("catch-up: a dropped log channel is reconnected; no failover, output exact", async () => {
    const r = await cluster({ program: "programs/ticker.s", dropChannelAfterMs: 1200 });
    expect(r.code, r.info).toBe(0);
    expect(tickNumbers(r.out)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    // The backup said it reconnected (its news), and nobody was elected: the pair's epoch
    // throughout (1, or 2 when the first backup came after its primary stopped waiting,
    // --wait-backup-ms on a busy machine, and joined by clone).
    const drop = r.stream.all("fault").filter((f) => f.fault === "drop-channel");
    expect(drop, r.info).toHaveLength(1);
    expect([1, 2], r.info).toContain(drop[0].epoch);
    expect(r.stream.all("news").filter((n) => n.event === "resumed" && n.role === "backup"), r.info).toHaveLength(1);
    expect(r.counts.failovers + r.counts.alone, r.info).toBe(0);
    expect(r.counts.maxEpoch, r.info).toBe(drop[0].epoch);
  }, 60_000);

  it("a first backup that comes after its primary stopped waiting, before the first epoch is granted, joins by clone", async () => {
    // On a busy machine the first backup can take longer to start than its primary waits
    // (--wait-backup-ms). Here the primary waits 0 ms and its arbiter is not there yet, so
    // it sits between the two (it stopped waiting, it has no epoch) when the backup's hello
    // comes. That backup used to be refused ("join it by clone") and died having loaded
    // everything; it is now answered once the epoch is granted, with a clone.
    setLogger(() => undefined);
    const secret = "late-secret";
    const dir = mkdtempSync(join(tmpdir(), "ftvm-late-backup-"));
    const port = await freePort("127.0.0.1");
    const arbUrl = `ws://127.0.0.1:${port}`;
    const env = { ...process.env, FTVM_SECRET: secret };
    const common = ["--arbiter", arbUrl, "--cluster", "late-cluster"];
    const procs = [] as ReturnType<typeof spawn>[];
    let arb: Awaited<ReturnType<typeof startArbiter>> | undefined;
    try {
      const primary = spawn(process.execPath, [...ftvmArgs(), "primary", longPulse(200_000), "--wait-backup-ms", "0", ...common], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      procs.push(primary);
      let primaryErr = "";
      primary.stderr!.on("data", (d) => (primaryErr += d));
      const url = await new Promise<string>((resolve) => primary.stdout!.on("data", (d: Buffer) => /listening (\S+)/.exec(d.toString()) && resolve(/listening (\S+)/.exec(d.toString())![1])));
      await until("the primary asking for its first epoch", () => /arbiter unreachable/.test(primaryErr), 90_000);
      const backup = spawn(process.execPath, [...ftvmArgs(), "backup", "--primary", url, ...common], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
      procs.push(backup);
      let backupErr = "";
      let backupExit: number | null | undefined;
      backup.stderr!.on("data", (d) => (backupErr += d));
      backup.on("exit", (code) => (backupExit = code));
      // Its hello has reached the primary: held (said so), or, as before, refused (the backup exits).
      await until("the backup's hello at the primary", () => /came after this primary stopped waiting/.test(primaryErr) || backupExit !== undefined, 90_000);
      arb = await startArbiter({ secret, stateFile: join(dir, "state.json"), host: "127.0.0.1", port, newClusterId: () => "late-cluster" });
      const a = arb;
      await until("the pair's epoch with two members", () => a.state().members.length >= 2 || backupExit !== undefined, 90_000);
      expect(backupExit, `${backupErr}\n${primaryErr}`).toBeUndefined();
      // Epoch 1 for the primary alone, epoch 2 for the pair the clone formed.
      expect(a.state()).toMatchObject({ epoch: 2 });
      expect(a.state().members).toHaveLength(2);
      expect(primaryErr).toMatch(/joins: cloning/);
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      await arb?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("ftvm backup --join: a joiner refused by a primary that already has its backup gets the reason", async () => {
    setLogger(() => undefined);
    const secret = "join-secret";
    const arb = await startTestArbiter(secret);
    const env = { ...process.env, FTVM_SECRET: secret };
    const procs = [] as ReturnType<typeof spawn>[];
    try {
      const primary = spawn(process.execPath, [...ftvmArgs(), "primary", "programs/pulse.s", "--arbiter", arb.url], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      procs.push(primary);
      const url = await new Promise<string>((resolve) => primary.stdout!.on("data", (d: Buffer) => /listening (\S+)/.exec(d.toString()) && resolve(/listening (\S+)/.exec(d.toString())![1])));
      const backup = spawn(process.execPath, [...ftvmArgs(), "backup", "--primary", url, "--arbiter", arb.url], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
      procs.push(backup);
      // Wait until the pair holds an epoch with two members (the backup's start-up takes
      // seconds on a busy machine): epoch 1, or epoch 2 when the backup came after the
      // primary stopped waiting for it (--wait-backup-ms) and joined by clone.
      await until("the pair's epoch with two members", () => arb.state().members.length >= 2, 90_000);
      const pairEpoch = arb.state().epoch;
      expect([1, 2]).toContain(pairEpoch);
      expect(arb.state().members).toHaveLength(2);
      const joiner = spawn(process.execPath, [...ftvmArgs(), "backup", "--join", url, "--arbiter", arb.url], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
      procs.push(joiner);
      let err = "";
      joiner.stderr!.on("data", (d) => (err += d));
      const code = await new Promise((r) => joiner.on("exit", r));
      expect(code).not.toBe(0);
      expect(err).toMatch(/cannot join: this host is primary, not a primary running alone/);
      // The pair is untouched.
      expect(arb.state().epoch).toBe(pairEpoch);
    } finally {
      for (const p of procs) p.kill("SIGKILL");
      await arb.close();
    }
  }, 60_000);
});
