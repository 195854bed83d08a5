// The README's commands are run, not just read: every fenced block marked ```sh runnable
// is extracted and run in order by bash, in a fresh directory inside the checkout (so
// `npx ftvm` finds this package), and must succeed. The README stays under 10 KB.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;
const README = join(ROOT, "README.md");

/** The ```sh runnable blocks of a markdown text, in order. */
export function runnableBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh runnable\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

describe("README.md", () => {
  it("is under 10 KB and keeps the two commands exactly", () => {
    expect(statSync(README).size).toBeLessThan(10 * 1024);
    const text = readFileSync(README, "utf8");
    expect(text).toContain("npm install && npm start");
    expect(text).toContain("npm install && npm test");
  });

  it("finds runnable blocks (and only marked ones)", () => {
    expect(runnableBlocks("```sh runnable\necho a\n```\n```\necho b\n```\n```sh runnable\necho c\n```\n")).toEqual(["echo a\n", "echo c\n"]);
  });

  it("its runnable blocks run and succeed", { timeout: 300_000 }, () => {
    const blocks = runnableBlocks(readFileSync(README, "utf8"));
    expect(blocks.length).toBeGreaterThan(0);
    mkdirSync(join(ROOT, "tmp"), { recursive: true });
    const dir = mkdtempSync(join(ROOT, "tmp", "readme-"));
    try {
      const script = `set -euo pipefail\nshopt -s expand_aliases\n${blocks.join("\n")}`;
      const r = spawnSync("bash", ["-c", script], { cwd: dir, encoding: "utf8", timeout: 280_000 });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain("hello, world");
      expect(r.stdout).toMatch(/^identical \(\d+ records\)$/m);
      expect(r.stdout).toMatch(/^150$/m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
