// Separate machines for real (issue 16, point 5): three etcd members, the primary and the
// backup each in a network namespace of its own, joined by veth pairs to a bridge; the
// sink runs in this test's namespace. Links are cut silently (tc netem loss 100%, or the
// link set down without tc) and one etcd member is partitioned away from the primary
// alone (a blackhole route in its namespace: the primary's requests reach it, its answers
// vanish). Checked: exactly one side serves (the cut-off primary never goes on alone, and
// halts once it learns the epoch moved on), and the sink's output is exact.
// Skips with the reason where namespaces cannot be made (not root, no iproute2) or no
// etcd is installed. Namespaces, links and the bridge are removed even when a test fails.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EtcdArbiter } from "../src/arbiter/etcd.js";
import { type LocalEtcd, etcdAvailable, startLocalEtcd } from "../src/host/etcd-local.js";
import { startSink } from "../src/host/sink.js";
import { setLogger } from "../src/transport/channel.js";
import { pulseSource } from "./support/programs.js";
import { type Lab, makeLab, netnsProblem } from "./netns.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const WHY_NOT = netnsProblem() ?? (etcdAvailable() ? undefined : "no etcd binary (apt-get install etcd-server)");
if (WHY_NOT) console.warn(`netns-e2e: skipped: ${WHY_NOT}`);
const DEADLINE_MS = 60_000;
const LINES = 8000;

interface Proc {
  p: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

async function until(what: string, test: () => boolean, info: () => string): Promise<void> {
  const start = Date.now();
  while (!test()) {
    if (Date.now() - start > DEADLINE_MS) throw new Error(`timed out waiting for ${what}\n${info()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(WHY_NOT !== undefined)("FT across network namespaces (separate machines) with etcd", () => {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-netns-e2e-"));
  let lab: Lab | undefined;
  let etcd: LocalEtcd | undefined;
  const procs: Proc[] = [];
  afterAll(async () => {
    for (const p of procs) p.p.kill("SIGKILL");
    await etcd?.stop();
    lab?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a primary cut off from everyone never goes on alone; its backup takes over through etcd; the output is exact", { timeout: 180_000 }, async () => {
    setLogger(() => undefined);
    lab = makeLab(["e1", "e2", "e3", "p", "b"]);
    const l = lab;
    const ip = (n: string) => l.machines.get(n)!.ip;
    etcd = await startLocalEtcd({
      members: 3,
      dir: join(dir, "etcd"),
      placement: (i) => ({ host: ip(`e${i + 1}`), clientPort: 2379, peerPort: 2380, command: l.exec(`e${i + 1}`) }),
    });
    const url = etcd.url("netns");
    const founder = new EtcdArbiter(url, undefined, () => "netns-test");
    const cluster = (await founder.state()).cluster;
    founder.close();

    const secret = "netns-secret";
    let text = "";
    const sink = await startSink(secret, { write: (b) => (text += Buffer.from(b).toString()) }, 0, cluster, l.bridgeIp);
    const info = () => procs.map((p, i) => `--- host ${i} stderr:\n${p.err}`).join("\n") + `\n--- sink: ${text.split("\n").length - 1} lines`;
    const start = (machine: string, args: string[]): Proc => {
      const p = spawn(l.exec(machine)[0], [...l.exec(machine).slice(1), process.execPath, ...ftvmArgs(), ...args], {
        cwd: ROOT,
        env: { ...process.env, FTVM_SECRET: secret },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const r: Proc = { p, out: "", err: "", exit: new Promise((res) => p.on("exit", (code) => res(code))) };
      p.stdout!.on("data", (d) => (r.out += d));
      p.stderr!.on("data", (d) => (r.err += d));
      procs.push(r);
      return r;
    };
    try {
      const program = join(dir, "pulse.s");
      writeFileSync(program, pulseSource(LINES));
      // Failure detection generous enough for a busy machine; a silent link is only ever found by it.
      const common = ["--arbiter", url, "--cluster", cluster, "--sink", sink.url, "--heartbeat-ms", "100", "--timeout-ms", "1500"];
      const primary = start("p", ["primary", program, "--listen", `${ip("p")}:0`, ...common]);
      await until("the primary to listen", () => /listening ws:\/\//.test(primary.out), info);
      const purl = /listening (ws:\/\/\S+)/.exec(primary.out)![1];
      const backup = start("b", ["backup", "--primary", purl, ...common]);
      await until("a paired primary's output", () => /backup of epoch 1/.test(backup.err) && text.split("\n").length > 500, info);

      // etcd member e1 stops answering the primary (only the primary); then the primary's
      // machine drops off the network entirely.
      l.blackhole("e1", "p");
      const how = l.cut("p");
      console.info(`netns-e2e: the primary's link cut by ${how}`);
      const cutAt = text.length;
      await until("the backup to go live through etcd", () => /went live at icount \d+ in epoch 2/.test(backup.err), info);
      await until("new output from the backup", () => text.length > cutAt + 1000, info);
      // The cut-off primary found its backup silent too, and could not reach etcd: it waits.
      expect(primary.err, info()).not.toMatch(/won epoch \d+ alone|went live/);
      // Its link comes back (e1 still deaf to it): it asks etcd, learns that epoch 2 is
      // taken, and halts without having served alone.
      l.heal("p");
      expect(await primary.exit, info()).toBe(3);
      expect(primary.err, info()).toMatch(/epoch 2 is already taken/);
      // It asked e1 first (the member that answered it last, before the cut): e1 never
      // answered it again, and e2 or e3 did instead.
      expect(primary.err, info()).toMatch(new RegExp(`etcd endpoint ${ip("e1").replace(/\./g, "\\.")}:2379 did not answer .*; ${l.subnet.replace(/\./g, "\\.")}\\.1[23]:2379 answered instead`));
      expect(primary.err, info()).not.toMatch(/won epoch \d+ alone|went live/);
      // The backup finishes the guest alone; the sink holds every line once, in order.
      expect(await backup.exit, info()).toBe(0);
      const lines = text.split("\n");
      expect(lines.pop()).toBe("");
      expect(lines.length, info()).toBe(LINES);
      expect(lines.findIndex((x, i) => x !== String(i + 1)), info()).toBe(-1);
      // No refusedStale check: output the primary released before the cut (its backup had
      // acknowledged it) and the sink had not yet confirmed is sent again when its link
      // heals, and the sink refuses it as epoch 1's. Whether any was in flight at the cut
      // is a race (1 of 3 runs under load); the exact text above shows nothing was lost
      // or doubled, and the primary's stderr that it never served alone.
      expect(sink.state).toMatchObject({ epoch: 2, cluster, divergences: 0 });
    } finally {
      await sink.close();
    }
  });
});

