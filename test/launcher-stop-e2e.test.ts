// The launcher of `ftvm ft` stops its cluster when it is told to from outside: SIGTERM to
// itself, or the end of the process that started it (a benchmark stopped by `timeout`
// used to leave an `ftvm ft --listen` cluster serving for an hour). Either way no host,
// arbiter or launcher is left running, and the launcher says why it stopped.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RunStream, isPaired, spawnFt } from "./support/run-stream.js";
import { ftvmArgs } from "./support/ftvm-args.js";
import { ROOT } from "./support/guest-process.js";
import { parseEventLine } from "../src/host/run-events.js";

/** How long the launcher and its processes may take to go once told (generous: the machine is busy). */
const GONE_DEADLINE_MS = 60_000;

const dir = mkdtempSync(join(tmpdir(), "ftvm-launcher-stop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether a process is gone: no such pid, or a zombie nobody has reaped yet (it runs no more). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/** Resolves once every pid is gone; past the deadline, fails naming those still running. */
async function untilGone(pids: number[], what: string): Promise<void> {
  const t0 = Date.now();
  while (pids.some((p) => !gone(p))) {
    if (Date.now() - t0 > GONE_DEADLINE_MS) throw new Error(`timed out after ${GONE_DEADLINE_MS} ms waiting for ${what} to end; still running: ${pids.filter((p) => !gone(p)).join(", ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The processes the launcher started (the arbiter, the hosts, a standby backup), from its events. */
const spawned = (s: RunStream) => s.all("spawn").map((e) => e.pid);

// The parent: starts the launcher of a network server (netecho.s, which never ends by
// itself) with its events and its stderr in files, then just waits until the test
// SIGTERMs it (it has no handler, so it dies at once, as a benchmark killed by `timeout`
// does). Files, not pipes: the launcher must notice its parent's end by itself, not
// because a write to a pipe the parent held failed.
const PARENT = `
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const [ftvmArgs, root, outFile, errFile] = process.argv.slice(1);
const l = spawn(process.execPath, [...JSON.parse(ftvmArgs), "ft", "programs/netecho.s", "--listen", "127.0.0.1:0", "--json", "--no-stdin"], { cwd: root, stdio: ["ignore", fs.openSync(outFile, "w"), fs.openSync(errFile, "w")] });
process.stdout.write("launcher " + l.pid + "\\n");
setInterval(() => undefined, 1000);
`;

/** Feeds the complete lines a process writes to `path` into `stream` as events, every 50 ms, until stopped. */
function follow(path: string, stream: RunStream): () => void {
  let used = 0;
  const read = () => {
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return;
    }
    const end = text.lastIndexOf("\n") + 1;
    for (const line of text.slice(used, end).split("\n")) if (line) stream.push(parseEventLine(line));
    used = Math.max(used, end);
  };
  const t = setInterval(read, 50);
  return () => {
    clearInterval(t);
    read();
  };
}

describe("the launcher stops its cluster when told from outside", () => {
  it("its parent dies (SIGTERM, as from timeout): launcher, arbiter and hosts are all gone, and it said why", async () => {
    const outFile = join(dir, "launcher-events.jsonl");
    const errFile = join(dir, "launcher-stderr.txt");
    const parent: ChildProcess = spawn(process.execPath, ["-e", PARENT, JSON.stringify(ftvmArgs()), ROOT, outFile, errFile], { stdio: ["ignore", "pipe", "inherit"] });
    let parentOut = "";
    parent.stdout!.setEncoding("utf8").on("data", (d: string) => (parentOut += d));
    const stream = new RunStream();
    const stopFollowing = follow(outFile, stream);
    let launcher: number | undefined;
    try {
      await stream.waitFor("the pair", isPaired, undefined, () => `--- the launcher's stderr:\n${safeRead(errFile)}`);
      launcher = Number(/^launcher (\d+)$/m.exec(parentOut)?.[1]);
      expect(launcher, parentOut).toBeGreaterThan(0);
      const pids = spawned(stream);
      expect(pids.length).toBeGreaterThanOrEqual(3); // the arbiter, the primary, the backup
      parent.kill("SIGTERM");
      await untilGone([launcher, ...pids], "the orphaned launcher and its processes");
      stopFollowing();
      // It stopped because its parent was gone and said so; a clean stop, not a crash: its
      // stream ends with the summary, with the exit status of a hang-up.
      expect(stream.logs(), safeRead(errFile)).toContain("the process that started this launcher is gone: stopping the cluster");
      expect(stream.all("end")[0]?.outcome).toBe("interrupted");
      expect(stream.events.at(-1), safeRead(errFile)).toMatchObject({ type: "summary", code: 129 });
      expect(readFileSync(errFile, "utf8"), "a stack trace").not.toMatch(/^\s+at .*(:\d+:\d+\)?|<anonymous>)$/m);
    } finally {
      stopFollowing();
      if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
      if (launcher !== undefined && !gone(launcher)) process.kill(launcher, "SIGKILL");
    }
  }, 180_000);

  it("SIGTERM to the launcher itself: exit 143 after a clean stop (its summary on the stream), nothing left running", async () => {
    const ft = spawnFt("programs/netecho.s", ["--listen", "127.0.0.1:0", "--no-stdin"]);
    try {
      await ft.waitFor("the pair", isPaired);
      const pids = spawned(ft.stream);
      ft.child.kill("SIGTERM");
      expect(await ft.exited, ft.stderr()).toBe(143);
      await untilGone(pids, "the launcher's processes");
      const end = ft.stream.all("end")[0];
      expect(end?.outcome, ft.stream.recent()).toBe("interrupted");
      expect(ft.stream.events.at(-1)).toMatchObject({ type: "summary", code: 143 });
      expect(ft.stream.logs()).toContain("SIGTERM: stopping the cluster");
    } finally {
      if (ft.child.exitCode === null && ft.child.signalCode === null) ft.child.kill("SIGKILL");
    }
  }, 180_000);
});

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(-2000);
  } catch {
    return "(nothing yet)";
  }
}
