// `npm start` as a newcomer runs it (issue 17, "Done means"): the demo under FT with its
// scripted SIGKILL of the primary exits 0, says the output stayed exact, and prints no
// stack trace, no error and no alarming refusal (a late backup turned away as the guest
// finishes is said plainly).
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;

describe("npm start", () => {
  it("runs the demo: exit 0, exact ticks, no trace and no error on either stream", async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn("npm", ["start", "--silent"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (b) => (out += b));
      p.stderr.on("data", (b) => (err += b));
      p.on("close", (code) => resolve({ code, out, err }));
    });
    const all = `${r.out}\n${r.err}`;
    expect(r.code, all).toBe(0);
    expect(r.out.trimEnd().split("\n").map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]))).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(r.err).toMatch(/the output stayed exact: ticks 1 to 150/);
    expect(all, "a stack trace").not.toMatch(/^\s+at .*(:\d+:\d+\)?|<anonymous>)$/m);
    expect(all).not.toMatch(/Error\b|ECONNREFUSED.*\n\s+at|refused \S+: cannot join/);
    expect(r.err).toMatch(/crashing the primary \(pid \d+, epoch 1\) with SIGKILL/);
  }, 120_000);
});
