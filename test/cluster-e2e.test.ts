// Issue 16, with real processes: an arbiter restarted WITHOUT its state while a pair serves
// epoch 1 used to grant epoch 1 again to a fresh primary, and the sink appended the fresh
// execution's output to the old one's. Now the forgetful arbiter founds a new cluster: the
// fresh primary (which learns that cluster) is refused by the old sink, and the old backup
// refuses the arbiter when its primary dies. And `ftvm ft` restarts a killed arbiter with
// its state file: a failover during which the arbiter dies still completes.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readArbiterState } from "../src/arbiter/server.js";
import { runClusterDetailed } from "../src/host/launcher.js";
import { startSink } from "../src/host/sink.js";
import { CLOSE_REFUSED, connect, setLogger } from "../src/transport/channel.js";
import { helloMsg } from "../src/ft/handshake.js";
import { LOG_SERVICE } from "../src/host/ft-host.js";
import type { RunEvent } from "../src/host/run-events.js";
import { RunStream, counts, isPaired } from "./support/run-stream.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ftvm-cluster-e2e-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Generous: the machine running the tests is busy. */
const DEADLINE_MS = 60_000;

interface Proc {
  p: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

function ftvm(args: string[], env: Record<string, string>): Proc {
  const p = spawn(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const r: Proc = { p, out: "", err: "", exit: new Promise((res) => p.on("exit", (code) => res(code))) };
  p.stdout!.on("data", (d) => (r.out += d));
  p.stderr!.on("data", (d) => (r.err += d));
  return r;
}

/** Resolves once `test()` holds (checked on every event of `p` and every 50 ms), or fails after the deadline. */
async function until(what: string, test: () => boolean): Promise<void> {
  const start = Date.now();
  while (!test()) {
    if (Date.now() - start > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("an arbiter restarted without its state (real processes)", () => {
  it("cannot grant epoch 1 twice to one cluster: the fresh primary is refused by the sink, the old backup refuses the arbiter", { timeout: 180_000 }, async () => {
    setLogger(() => undefined);
    const secret = "e2e-secret";
    const env = { FTVM_SECRET: secret };
    const procs: Proc[] = [];
    const start = (args: string[]) => {
      const p = ftvm(args, env);
      procs.push(p);
      return p;
    };
    let text = "";
    const sink = await startSink(secret, { write: (b) => (text += Buffer.from(b).toString()) });
    try {
      const a1 = start(["arbiter", "--state", join(dir, "a.json"), "--listen", "127.0.0.1:0"]);
      await until("the arbiter", () => /listening ws:\/\//.test(a1.out));
      const url = /listening (ws:\/\/\S+)/.exec(a1.out)![1];
      const c1 = /^cluster (\S+) epoch 0$/m.exec(a1.out)![1];
      sink.state.cluster = c1;
      // Generous failure detection: a busy machine must not split the pair by itself (a kill closes the connection: detected at once).
      const patient = ["--heartbeat-ms", "100", "--timeout-ms", "5000"];
      const primary = start(["primary", "programs/pulse.s", "--arbiter", url, "--sink", sink.url, "--cluster", c1, "--listen", "127.0.0.1:0", ...patient]);
      await until("the primary to listen", () => /listening ws:\/\//.test(primary.out));
      const purl = /listening (ws:\/\/\S+)/.exec(primary.out)![1];
      // A backup of another cluster is refused by the primary, naming both clusters.
      const foreign = await connect(purl, secret, LOG_SERVICE);
      const refused = new Promise<[number, string]>((r) => foreign.on("close", (c, why) => r([c, why])));
      foreign.send(helloMsg("stranger", "elsewhere"));
      expect(await refused).toEqual([CLOSE_REFUSED, `backup stranger belongs to cluster elsewhere, this one to cluster ${c1}`]);
      const backup = start(["backup", "--primary", purl, "--arbiter", url, "--sink", sink.url, "--cluster", c1, ...patient]);
      await until("a hundred lines", () => /^100$/m.test(text));
      expect(readArbiterState(join(dir, "a.json"))).toMatchObject({ cluster: c1, epoch: 1 });

      // The arbiter dies and comes back on the same address WITHOUT its state.
      a1.p.kill("SIGKILL");
      await a1.exit;
      const a2 = start(["arbiter", "--state", join(dir, "b.json"), "--listen", url.replace("ws://", "")]);
      await until("the forgetful arbiter", () => /listening ws:\/\//.test(a2.out));
      const c2 = /^cluster (\S+) epoch 0$/m.exec(a2.out)![1];
      expect(c2).not.toBe(c1);

      // A fresh primary, started as a user would (no --cluster): it learns the new cluster,
      // gets its epoch 1 — and the old sink refuses it, naming both clusters.
      const fresh = start(["primary", "programs/pulse.s", "--arbiter", url, "--sink", sink.url, "--wait-backup-ms", "0"]);
      expect(await fresh.exit).toBe(3);
      expect(fresh.err).toMatch(new RegExp(`cluster ${c2} \\(learned from the arbiter, at epoch 0\\)`));
      expect(fresh.err).toMatch(new RegExp(`halting: the console sink refused this host: host \\S+ belongs to cluster ${c2}, this sink to cluster ${c1}`));
      // (It may have claimed epoch 1 of the new cluster before the sink's refusal reached it: harmless there.)
      const forgetful = readArbiterState(join(dir, "b.json"))!;
      expect(forgetful.cluster).toBe(c2);
      expect(forgetful.epoch).toBeLessThanOrEqual(1);
      expect(sink.state.refusedCluster).toBe(1);

      // The old primary dies: its backup asks the forgetful arbiter and refuses it.
      primary.p.kill("SIGKILL");
      expect(await backup.exit).toBe(3);
      expect(backup.err).toMatch(new RegExp(`halting: the arbiter at ${url} belongs to cluster ${c2}, this one to cluster ${c1}`));
      // Nobody of the old cluster was granted anything by it.
      expect(readArbiterState(join(dir, "b.json"))).toEqual(forgetful);

      // The sink holds one execution's output: 1..n once each, in order, all in epoch 1 of c1.
      // (pulse.s prints the same numbers in every execution: only the cluster id tells the
      // fresh primary's output from the old one's, as in the issue.)
      const lines = text.split("\n");
      const partial = lines.pop()!; // the primary died wherever it was: perhaps mid-line
      expect(lines.length).toBeGreaterThanOrEqual(100);
      expect(lines).toEqual(Array.from({ length: lines.length }, (_, i) => String(i + 1)));
      expect(String(lines.length + 1).startsWith(partial)).toBe(true);
      expect(sink.state).toMatchObject({ epoch: 1, cluster: c1, divergences: 0 });
    } finally {
      for (const p of procs) p.p.kill("SIGKILL");
      await sink.close();
    }
  });
});

describe("ftvm ft restarts a killed arbiter with its state", () => {
  // The kills are timed by the run's events, not by the clock: the first once the pair has
  // formed and the primary has run a while, the second as soon as the first victim's exit
  // is seen (on a busy machine the processes take a while to start, and a fixed delay
  // between the kills would fall anywhere in the failover).
  for (const [what, order] of [
    ["the arbiter dies, then the primary", ["arbiter", "primary"]],
    ["the primary dies, then the arbiter as the backup detects it and asks for the epoch", ["primary", "arbiter"]],
  ] as const)
    it(`${what}: the failover completes, every tick exactly once`, { timeout: 180_000 }, async () => {
      let out = "";
      let info = "";
      let crash: ((role: "primary" | "backup" | "arbiter") => void) | undefined;
      let fired = false;
      let second = false;
      const stream = new RunStream();
      const onEvent = (e: RunEvent) => {
        stream.push(e);
        if (!crash) return;
        if (!fired && e.type === "status" && e.role === "primary" && e.icount >= 5000 && stream.events.some(isPaired)) {
          fired = true;
          crash(order[0]);
        } else if (fired && !second && e.type === "exit" && e.role === order[0] && e.kind === "killed") {
          second = true;
          crash(order[1]);
        }
      };
      const r = await runClusterDetailed({
        program: "programs/ticker.s",
        respawn: false,
        // A kill closes the connection (detected at once); a long timeout keeps a busy machine from splitting the pair by itself.
        heartbeatMs: 100,
        timeoutMs: 5000,
        quiet: true,
        write: (b) => (out += Buffer.from(b).toString()),
        info: (s) => (info += s),
        onControl: (c) => (crash = c.crash),
        onEvent,
      });
      expect(fired && second, info).toBe(true);
      expect(r.code, info).toBe(0);
      const ticks = out.trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
      expect(ticks).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(r.arbiterRestarts, info).toBe(1);
      expect(r.failovers, info).toHaveLength(1);
      expect(r.divergences).toEqual({ sink: 0, disk: 0, switch: 0 });
      const n = counts(stream.events);
      // One failover, to the epoch after the pair's (1, or 2 when the first backup came after
      // its primary stopped waiting, --wait-backup-ms on a busy machine, and joined by clone).
      const kill = stream.all("fault").find((f) => f.fault === "kill" && f.target === "primary");
      expect([1, 2], info).toContain(kill?.epoch);
      expect([n.maxEpoch, n.failovers], info).toEqual([kill!.epoch! + 1, 1]);
      expect(stream.all("arbiter-restart").map((e) => e.count), info).toEqual([1]);
      expect(stream.all("end")[0]).toMatchObject({ cluster: r.cluster, arbiterRestarts: 1 });
    });
});
