// The machine's arrays keep a stable V8 map whatever the rest of the process does to plain
// typed arrays (src/vm/machine.ts, GuestBytes/GuestWords): the compiled guest code holds
// them as constants and relies on it to leave out a map check at every access. Checked in a
// child process started with --allow-natives-syntax: code optimized with an array as a
// constant must survive a transition of a plain Uint8Array (and Int32Array), as code
// holding a plain Uint8Array does not.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("the machine's arrays and V8's map stability", () => {
  it("code optimized with them survives a transition of plain typed arrays", () => {
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", "test/support/guest-maps-child.ts"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const { before, after } = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<"before" | "after", Record<string, boolean>>;
    // The probes were optimized to begin with (the dirty flags' probe may not be: V8's choice).
    expect(before).toMatchObject({ plain: true, mem: true, mem32: true, regs: true });
    // The comparison that makes the check able to fail: code holding a plain Uint8Array is gone.
    expect(after.plain).toBe(false);
    expect(after).toMatchObject({ mem: true, mem32: true, regs: true, dirty: before.dirty });
  });
});
