// A reader that goes away is not a bug of ftvm's. `ftvm ft prog.s 2>&1 | head -1` closes
// the launcher's stderr after one line, and a test runner that dies leaves its hosts
// writing into pipes nobody reads: the next log line fails with EPIPE. Unhandled, that
// error ended the process as "internal error (a bug in ftvm)", exit 70 (every exit 70 the
// FT end-to-end loops under load caught was one of these). Now the process stops quietly
// with 0, as it already did when its stdout's reader went away.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs ftvm, closes its stderr's read end after the first bytes, and resolves with its exit code. */
function closeStderrAfterFirstLine(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; firstLine: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let firstLine = "";
    p.stdout.resume();
    p.stderr.once("data", (d: Buffer) => {
      firstLine = d.toString().split("\n")[0];
      p.stderr.destroy();
    });
    p.on("exit", (code, signal) => resolve({ code, signal, firstLine }));
  });
}

describe("a closed stderr", () => {
  it("stops the ftvm ft launcher quietly (exit 0), not as an internal error (exit 70)", async () => {
    // The launcher says at once that it starts the arbiter, and writes more lines (the
    // hosts', and at the latest its summary) afterwards: one of them meets the closed pipe.
    const r = await closeStderrAfterFirstLine(["ft", "programs/ticker.s", "--no-stdin"]);
    expect(r.firstLine).toMatch(/starting the arbiter/);
    expect(r.signal).toBe(null);
    expect(r.code).toBe(0);
  }, 60_000);
});
