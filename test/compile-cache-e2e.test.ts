// The `ftvm` executable of a checkout compiles its sources into node_modules/.cache/ftvm
// (src/host/compile-cache.mjs) and runs from there, hosts included. What must hold: the
// compiled tree runs the checkout as it is now (an edit is never hidden by an old tree),
// it finds the checkout's own files (package.json, programs/), and turning it off or
// being unable to build falls back to tsx with the same results.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "ftvm-compile-cache-"));
const pkg = join(tmp, "checkout");
const cache = join(pkg, "node_modules", ".cache", "ftvm");

function ftvm(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(pkg, "src/cli/ftvm.mjs"), ...args], { cwd: tmp, encoding: "utf8", timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const entries = () => (existsSync(cache) ? readdirSync(cache).sort() : []);

beforeAll(() => {
  // A checkout of its own (a copy of the sources and the programs it runs), with a
  // version of its own, and its own node_modules folder (links to this one's packages)
  // so that its cache is its own.
  for (const d of ["src", "isa", "programs"]) cpSync(join(ROOT, d), join(pkg, d), { recursive: true });
  const pj = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ ...pj, version: "9.8.7" }));
  mkdirSync(join(pkg, "node_modules"));
  for (const name of readdirSync(join(ROOT, "node_modules"))) if (name !== ".cache") symlinkSync(join(ROOT, "node_modules", name), join(pkg, "node_modules", name));
}, 60_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the compile cache of a checkout", () => {
  it("runs the checkout compiled, finding its own package.json and programs", () => {
    const v = ftvm(["--version"]);
    expect(v.code, v.err).toBe(0);
    expect(v.out.trim()).toBe("9.8.7");
    expect(entries()).toHaveLength(1);
    const entry = join(cache, entries()[0]);
    expect(existsSync(join(entry, ".complete"))).toBe(true);
    expect(existsSync(join(entry, "src/cli/main.js"))).toBe(true);
    // The dashboard's page is an asset the compiled server reads beside its module.
    expect(existsSync(join(entry, "src/host/dashboard/index.html"))).toBe(true);
    const r = ftvm(["run", "hello"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("hello, world\n");
    expect(entries()).toHaveLength(1);
  });

  it("an edited source is compiled again before it runs", () => {
    const before = entries();
    const main = join(pkg, "src/cli/main.ts");
    writeFileSync(main, readFileSync(main, "utf8") + '\nprocess.stderr.write("edited checkout\\n");\n');
    const r = ftvm(["run", "hello"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain("edited checkout");
    const after = entries();
    expect(after).toHaveLength(2);
    expect(after.filter((e) => !before.includes(e))).toHaveLength(1);
  });

  it("FTVM_COMPILE_CACHE=0 runs the sources through tsx: same output, no new tree", () => {
    const before = entries();
    const main = join(pkg, "src/cli/main.ts");
    writeFileSync(main, readFileSync(main, "utf8") + '\nprocess.stderr.write("edited twice\\n");\n');
    const r = ftvm(["run", "hello"], { FTVM_COMPILE_CACHE: "0" });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("hello, world\n");
    expect(r.err).toContain("edited twice");
    expect(entries()).toEqual(before);
  });

  it("a source that does not compile falls back to tsx, which reports it", () => {
    const bad = join(pkg, "src/cli/broken-on-purpose.ts");
    writeFileSync(bad, "export const x: = ;\n");
    const before = entries();
    const r = ftvm(["run", "hello"]);
    // Nothing imports the broken file: tsx runs the rest as before, and no tree is left half-built.
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("hello, world\n");
    expect(entries().filter((e) => !before.includes(e))).toEqual([]);
    rmSync(bad);
  });
});
