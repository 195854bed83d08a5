// Junk at every channel port of a running pair (issue 18, point 3), with real processes:
// an arbiter, a virtual switch, a primary and its backup, each its own process; while
// the pair runs a guest, tools/flood.ts (its own process, without the secret) sends at
// all four ports at once 15 MB frames before authenticating, more silent connections
// than a server keeps, random bytes instead of HTTP, random bytes instead of frames and
// HTTP that never finishes. Every junk socket must be closed by the server, no process
// may spend memory on it, and the pair must stay paired with the guest's output exact.
//
// The failure timeout is raised to 2 s: this test is about what strangers cost, not
// about how a 150 ms detector fares on a loaded 2-core machine (issue 11's business).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { FloodKindResult } from "../tools/flood.js";
import { FLOOD_KINDS } from "../tools/flood.js";
import { ArbiterClient } from "../src/arbiter/client.js";
import type { ArbiterState } from "../src/arbiter/core.js";
import { ftvmArgs, toolArgs } from "./support/ftvm-args.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECRET = "flood-test-secret";
const TICKS = 750;
const dir = mkdtempSync(join(tmpdir(), "ftvm-flood-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first stdout line matching /^listening (ws:\S+)/. */
  url: Promise<string>;
}

function start(args: string[]): Proc {
  // --exit-with-parent and a stdin pipe: if this test's process dies (vitest ends a test
  // file that overran its timeout so), its cluster follows instead of running on as orphans
  // (an arbiter and a switch never stop by themselves).
  const child = spawn(process.execPath, [...ftvmArgs(), ...args, "--exit-with-parent"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, FTVM_SECRET: SECRET } });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /^listening (ws:\S+)/m.exec(out);
      if (m) {
        clearInterval(t);
        resolve(m[1]);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(t);
      reject(new Error(`ftvm ${args[0]} exited (${code}): ${err}`));
    });
  });
  return { child, out: () => out, err: () => err, exited, url };
}

/**
 * The hosts here are separate processes without the launcher's event stream: the pair is
 * read from the arbiter's state (the facts the launcher acts on too), asked every 50 ms
 * until `cond` holds or a generous deadline passes.
 */
async function untilArbiter(arbiter: ArbiterClient, what: string, cond: (s: ArbiterState) => boolean, ms = 90_000): Promise<ArbiterState> {
  const t0 = Date.now();
  let last: ArbiterState | string = "no answer yet";
  for (;;) {
    try {
      last = await arbiter.state();
      if (cond(last)) return last;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}; the arbiter's last answer: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Peak resident memory of processes, watched while they live: a host whose guest finishes
 * before the flood does is gone by the time the flood ends (seen in CI with the machine
 * busy: ENOENT on /proc/PID/status), so its high-water mark is read every POLL_MS until
 * then, and once more at stop() for those still running.
 */
function watchPeakRss(pids: number[]): { stop(): Map<number, number> } {
  const POLL_MS = 50;
  const peak = new Map<number, number>();
  const read = () => {
    for (const pid of pids) {
      try {
        peak.set(pid, Math.max(peak.get(pid) ?? 0, peakRss(pid)));
      } catch {
        // Exited: its last reading stands.
      }
    }
  };
  read();
  const timer = setInterval(read, POLL_MS);
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

/** Peak resident memory of a process, in bytes (Linux /proc). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) * 1024;
}

/** The hosts run with the default failure detector: a flood must not split a pair that runs it (issue 18.3). */
const HOST_ARGS: string[] = [];
/**
 * The primary waits this long for its backup before it runs alone. The default (10 s) was
 * too short beside other tests and load (load average 17 on 2 cores): the backup's process
 * had not connected yet, the primary went on alone in epoch 1, the backup joined by clone
 * in epoch 2, and the test waited for an epoch-1 pair that could never come.
 */
const WAIT_BACKUP_MS = 90_000;
/** Twenty 15 MB frames per port, buffered, would take 300 MB; a host runs in about 100 MB. */
const PEAK_RSS_BYTES_MAX = 200 * 1024 * 1024;

describe("a flood of junk at every port of a running pair", () => {
  it.skipIf(!existsSync("/proc/self/status"))("is refused cheaply: every junk socket closed, no memory spent, the pair stays paired and its output exact", async () => {
    const prog = join(dir, "longticker.s");
    writeFileSync(
      prog,
      readFileSync(join(ROOT, "programs/ticker.s"), "utf8")
        .replace(".const TICKS 150", `.const TICKS ${TICKS}`)
        .replace('" of 150 at "', `" of ${TICKS} at "`)
        .replace('.include "printnum.s"', `.include "${join(ROOT, "programs/lib/printnum.s")}"`),
    );
    const procs: Proc[] = [];
    let facts: ArbiterClient | undefined;
    try {
      const arbiter = start(["arbiter", "--listen", "127.0.0.1:0", "--state", join(dir, "arbiter-state.json")]);
      procs.push(arbiter);
      const arbiterUrl = await arbiter.url;
      const sw = start(["switch", "--listen", "127.0.0.1:0", "--hosts", "127.0.0.1:0", "--arbiter", arbiterUrl]);
      procs.push(sw);
      const switchUrl = await sw.url;
      const primary = start(["primary", prog, "--arbiter", arbiterUrl, "--switch", switchUrl, "--wait-backup-ms", String(WAIT_BACKUP_MS), ...HOST_ARGS]);
      procs.push(primary);
      const primaryUrl = await primary.url;
      const backup = start(["backup", "--primary", primaryUrl, "--arbiter", arbiterUrl, "--switch", switchUrl, ...HOST_ARGS]);
      procs.push(backup);
      const backupUrl = await backup.url;
      facts = new ArbiterClient(arbiterUrl, SECRET);
      await untilArbiter(facts, "the pair (epoch 1 with two members)", (st) => st.epoch === 1 && st.members.length === 2);

      const rss = watchPeakRss(procs.map((p) => p.child.pid!));
      const flooder = spawn(process.execPath, [...toolArgs("tools/flood.ts"), arbiterUrl, switchUrl, primaryUrl, backupUrl], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
      let floodOut = "";
      flooder.stdout!.on("data", (d) => (floodOut += d));
      const floodCode = await new Promise<number | null>((r) => flooder.on("exit", r));
      expect(floodCode).toBe(0);
      const result = JSON.parse(floodOut) as Record<string, FloodKindResult>;
      // Every kind of junk went to all four ports, and the servers closed every socket.
      for (const [kind, [, n]] of Object.entries(FLOOD_KINDS)) expect(result[kind], kind).toEqual({ sockets: 4 * n, closed: 4 * n, closeMsMax: result[kind].closeMsMax });
      // No process kept the big frames (or anything else) in memory.
      const peaks = rss.stop();
      for (const p of procs) {
        const peak = peaks.get(p.child.pid!);
        expect(peak, `${p.child.spawnargs.slice(3, 4).join()}: no reading`).toBeGreaterThan(0);
        expect(peak, p.child.spawnargs.slice(3, 4).join()).toBeLessThan(PEAK_RSS_BYTES_MAX);
      }

      // With the host's stderr, so a failure says why (one run here ended 70, an internal error, unseen).
      expect(await primary.exited, primary.err()).toBe(0);
      expect(await backup.exited, backup.err()).toBe(0);
      // Paired throughout: no host suspected the other, nobody claimed a second epoch.
      expect(await facts.state()).toMatchObject({ epoch: 1 });
      expect((await facts.state()).members).toHaveLength(2);

      const ticks = primary
        .out()
        .split("\n")
        .filter((l) => l.startsWith("tick "))
        .map((l) => Number(new RegExp(`^tick (\\d+) of ${TICKS} at \\d+ us$`).exec(l)?.[1]));
      expect(ticks).toEqual(Array.from({ length: TICKS }, (_, i) => i + 1));
      // The refusals were logged, with their reasons, and without a line per junk socket.
      const refusals = [primary, backup, arbiter, sw].map((p) => p.err().split("\n").filter((l) => l.includes("refused")).length);
      for (const n of refusals) expect(n).toBeGreaterThan(0);
      for (const n of refusals) expect(n).toBeLessThan(Object.values(FLOOD_KINDS).reduce((s, [, k]) => s + k, 0));
    } finally {
      facts?.close();
      for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
  }, 120_000);
});
