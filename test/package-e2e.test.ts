// Runs from anywhere (issue 17): the package as npm packs it, installed into an empty
// directory and run from another one, with no checkout in sight. The tarball is made by
// `npm pack` and unpacked into <tmp>/node_modules/ftvm, where its prepack script builds
// the precompiled JavaScript (as `npm pack` would have); its dependencies are linked from
// this checkout's node_modules, because `npm install --offline` of the tarball needs the
// registry for them (this machine's npm cache does not hold them).
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlFile, readControl } from "../src/host/control.js";
import { type RunEvent, parseEventLine } from "../src/host/run-events.js";
import { counts } from "./support/run-stream.js";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "ftvm-package-"));
const inst = join(tmp, "inst");
const elsewhere = join(tmp, "elsewhere");
const pkgDir = join(inst, "node_modules", "ftvm");
const bin = join(inst, "node_modules", ".bin", "ftvm");
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** The events of a finished `ftvm ft --json` run, from its stdout. */
const eventsOf = (out: string): RunEvent[] => out.trimEnd().split("\n").map(parseEventLine);
/** The guest's console output carried by the events. */
const consoleOf = (events: RunEvent[]) => events.flatMap((e) => (e.type === "console" ? [e.text] : [])).join("");

function ftvm(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: elsewhere, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  mkdirSync(elsewhere, { recursive: true });
  mkdirSync(join(inst, "node_modules", ".bin"), { recursive: true });
  writeFileSync(join(inst, "package.json"), JSON.stringify({ name: "empty", version: "1.0.0", private: true }));
  // --ignore-scripts: the build runs below, inside the unpacked copy, so two test runs never share a dist/ in the checkout.
  const name = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" }).trim().split("\n").at(-1)!;
  mkdirSync(pkgDir, { recursive: true });
  execFileSync("tar", ["-xzf", join(tmp, name), "-C", pkgDir, "--strip-components=1"]);
  symlinkSync(realpathSync(join(ROOT, "node_modules")), join(pkgDir, "node_modules"));
  execFileSync("npm", ["run", "--silent", "prepack"], { cwd: pkgDir, stdio: "ignore" });
  symlinkSync("../ftvm/src/cli/ftvm.mjs", bin);
}, 300_000);

const running: ChildProcess[] = [];
afterAll(() => {
  for (const p of running) if (p.exitCode === null) p.kill("SIGKILL");
});

describe("the packed package, installed into an empty directory, run from another", () => {
  it("holds what it needs and not the checkout's tests; runs precompiled", () => {
    expect(existsSync(join(pkgDir, "programs", "hello.s"))).toBe(true);
    expect(existsSync(join(pkgDir, "test"))).toBe(false);
    expect(existsSync(join(pkgDir, "dist", "src", "cli", "main.js"))).toBe(true);
  });

  it("ftvm --version", () => {
    const r = ftvm(["--version"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe(version);
  });

  it("ftvm run hello (a bundled program by name)", () => {
    const r = ftvm(["run", "hello"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("hello, world\n");
  });

  it("ftvm ft with a crash of the primary: the ticks stay exact", () => {
    // --json: the packed build's event stream carries the ticks and the failover.
    const r = ftvm(["ft", "ticker", "--crash-primary-after-ms", "500", "--quiet", "--json"]);
    expect(r.code, r.err).toBe(0);
    const events = eventsOf(r.out);
    const ticks = consoleOf(events).trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(counts(events).failovers, r.err).toBe(1);
  });

  it("ftvm crash primary from another directory reaches the cluster through its control endpoint", async () => {
    // A guest that runs long enough to be crashed by hand: 1000 ticks of 20 ms.
    const long = join(elsewhere, "long.s");
    writeFileSync(long, readFileSync(join(ROOT, "programs", "ticker.s"), "utf8").replace(".const TICKS 150", ".const TICKS 1000").replace('" of 150 at "', '" of 1000 at "'));
    const launcher = spawn(process.execPath, [bin, "ft", long, "--json"], { cwd: elsewhere, stdio: ["ignore", "pipe", "pipe"] });
    running.push(launcher);
    let out = "";
    let err = "";
    launcher.stdout.on("data", (d) => (out += d));
    launcher.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => launcher.on("exit", r));
    // Wait until the control file shows a pair (the arbiter granted an epoch to a primary and its backup).
    const file = controlFile(launcher.pid!);
    for (;;) {
      const c = readControl(file);
      const roles = c?.hosts.map((h) => h.role) ?? [];
      if (roles.includes("primary") && roles.includes("backup")) break;
      if (launcher.exitCode !== null) throw new Error(`the cluster ended before it paired: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(err).toMatch(new RegExp(`^ftvm ft: cluster [0-9a-f]+, control ${file.replace(/[.]/g, "\\.")}`, "m"));
    // The hosts' progress reaches the control file too (it was written at role changes only,
    // so ps showed icount 0 for a primary that had run for minutes).
    const deadline = Date.now() + 60_000;
    while (!(readControl(file)?.hosts.find((h) => h.role === "primary")?.icount ?? 0)) {
      if (launcher.exitCode !== null || Date.now() > deadline) throw new Error(`the control file never showed the primary's progress: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ps = ftvm(["ps"]);
    expect(ps.out).toMatch(new RegExp(`launcher pid ${launcher.pid}`));
    expect(ps.out).toMatch(/ {2}primary +pid \d+ +epoch 1 +icount [1-9][\d,]*/);
    const crash = ftvm(["crash", "primary", "--cluster", String(launcher.pid)]);
    expect(crash.code, crash.err).toBe(0);
    expect(crash.err).toMatch(/asked the launcher of cluster [0-9a-f]+ \(launcher pid \d+\) to crash the primary/);
    expect(await exited).toBe(0);
    const events = eventsOf(out);
    // The user's kill of the pair's primary, carried out by the launcher, and one failover.
    expect(events.filter((e) => e.type === "fault"), err).toMatchObject([{ fault: "kill", target: "primary", by: "user", epoch: 1 }]);
    expect(counts(events).failovers, err).toBe(1);
    const ticks = consoleOf(events).trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 1000/.exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(existsSync(file), "the control file is removed at the end").toBe(false);
  });
});
