// Launch paths of `ftvm ft` that broke without a test: --interpret reached the arbiter
// (which refused it); an arbiter that died during the launch made the launcher crash with
// an internal error (a ReferenceError) instead of failing the launch with the reason;
// --trace-dir under /proc spun forever (Node's recursive mkdir loops there); --record to a
// path that cannot be written ran the whole guest and only then said so, exiting 0.
import { spawnSync } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { makeDirs } from "../src/host/files.js";
import { runClusterDetailed } from "../src/host/launcher.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FTVM = fileURLToPath(new URL("../src/cli/ftvm.mjs", import.meta.url));
const quiet = { quiet: true, info: () => undefined };

describe("launching ftvm ft", () => {
  it("--interpret runs the hosts on the reference interpreter (the arbiter is not given the flag)", async () => {
    let out = "";
    const r = await runClusterDetailed({ program: "programs/hello.s", interpret: true, ...quiet, write: (b) => (out += Buffer.from(b).toString()) });
    expect(r.code, r.summary).toBe(0);
    expect(out).toBe("hello, world\n");
  }, 60_000);

  it("an arbiter that cannot start fails the launch with its reason (exit 3, not an internal error)", () => {
    // A Node flag that does not exist: the arbiter, the first process started, exits at once.
    const r = spawnSync(process.execPath, [FTVM, "ft", "hello"], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, FTVM_HOST_NODE_ARGS: "--no-such-node-flag" } });
    expect(r.stderr).toMatch(/ftvm: the arbiter could not start: .*bad option: --no-such-node-flag/);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(3);
  }, 60_000);

  it("--trace-dir that cannot be made, and --record that cannot be written, are refused at the launch (exit 2)", async () => {
    const run = (extra: Record<string, unknown>) => runClusterDetailed({ program: "programs/hello.s", ...quiet, write: () => undefined, ...extra });
    await expect(run({ traceDir: "/proc/ftvm-no-such-dir" })).rejects.toMatchObject({ message: expect.stringMatching(/^--trace-dir \/proc\/ftvm-no-such-dir: ENOENT/), exitCode: 2 });
    await expect(run({ record: "/proc/ftvm-no-such.ftlog" })).rejects.toMatchObject({ message: "--record /proc/ftvm-no-such.ftlog: ENOENT", exitCode: 2 });
  }, 60_000);

  it("makeDirs makes missing levels, accepts an existing directory, and throws under /proc", () => {
    const base = mkdtempSync(join(tmpdir(), "ftvm-makedirs-"));
    makeDirs(join(base, "a", "b", "c"));
    expect(statSync(join(base, "a", "b", "c")).isDirectory()).toBe(true);
    makeDirs(join(base, "a", "b"));
    expect(() => makeDirs("/proc/ftvm-no-such/dir")).toThrow(/ENOENT/);
  });
});
