// The run's precompiled copy of the sources (test/support/build-dist.ts), which the tests'
// processes start from: it is this checkout's code, files read relative to a module still
// resolve from it, and a source that does not compile stops the run with the file named.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DIST_PARENT, buildDist } from "./support/build-dist.js";
import { ftvmArgs, testDist } from "./support/ftvm-args.js";
import { ROOT } from "./support/guest-process.js";

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

const ftvm = (args: string[]) => spawnSync(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, encoding: "utf8", input: "", timeout: 120_000 });

describe("the tests' precompiled ftvm", () => {
  it("is what the tests start, built from this checkout's sources", () => {
    const dist = testDist();
    expect(dist, "FTVM_TEST_DIST (set by the globalSetup in test/vitest.config.ts)").toBeDefined();
    expect(ftvmArgs()).toEqual([join(dist!, "src/cli/main.js")]);
    // The same module, compiled: a constant that only this source file holds is in it.
    const source = readFileSync(join(ROOT, "src/host/self.ts"), "utf8");
    const compiled = readFileSync(join(dist!, "src/host/self.js"), "utf8");
    expect(source).toContain("FTVM_TEST_DIST");
    expect(compiled).toContain("FTVM_TEST_DIST");
    // The package is the checkout: its version, its programs by name.
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const v = ftvm(["--version"]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(version);
    const hello = ftvm(["run", "hello"]);
    expect(hello.status, hello.stderr).toBe(0);
    expect(hello.stdout).toBe("hello, world\n");
  });

  it("finds the files modules read relative to themselves (programs/redis.s from src/sim, the dashboard's pages)", () => {
    // Network seeds assemble programs/redis.s through a path relative to src/sim/netsim.ts.
    const r = ftvm(["sim", "--net", "--seeds", "2"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(join(testDist()!, "src/host/dashboard/index.html"), "utf8")).toBe(readFileSync(join(ROOT, "src/host/dashboard/index.html"), "utf8"));
  });

  it("a source that does not compile fails the build, naming the file", async () => {
    // A small tree of its own: src/ with one good and one broken module.
    mkdirSync(DIST_PARENT, { recursive: true });
    const root = mkdtempSync(join(DIST_PARENT, "broken-"));
    scratch.push(root);
    for (const d of ["src", "isa", "programs"]) mkdirSync(join(root, d));
    writeFileSync(join(root, "src", "good.ts"), "export const n: number = 1;\n");
    writeFileSync(join(root, "src", "bad.ts"), "export const n: number = ;\n");
    await expect(buildDist(join(root, "out"), root, [])).rejects.toThrow(/bad\.ts/);
    // And the good tree builds: the broken file was the reason.
    rmSync(join(root, "src", "bad.ts"));
    await buildDist(join(root, "out"), root, []);
    expect(readFileSync(join(root, "out", "src", "good.js"), "utf8")).toContain("n = 1");
  });
});
