// The machine's arrays keep a stable V8 map whatever the rest of the process does to plain
// typed arrays (src/vm/machine.ts, GuestBytes/GuestWords): the compiled guest code relies on
// it to leave out a map check at every access. Checked with V8's own view of the maps, in a
// child process started with --allow-natives-syntax.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("the machine's arrays and V8's map stability", () => {
  it("stay stable after a plain Uint8Array's map was transitioned", () => {
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", "test/support/guest-maps-child.ts"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const stable = new Map<string, boolean>();
    // Each array follows a marker string; its map's printout starts at "type: JS_TYPED_ARRAY_TYPE".
    for (const part of r.stdout.split('[String]: "ARRAY ').slice(1)) {
      const name = part.slice(0, part.indexOf('"'));
      const map = part.slice(part.indexOf("type: JS_TYPED_ARRAY_TYPE"));
      stable.set(name, /^ - stable_map$/m.test(map));
    }
    // The comparison that makes the check able to fail: a plain Uint8Array's map is unstable now.
    expect(stable.get("plain")).toBe(false);
    expect(Object.fromEntries(stable)).toEqual({ plain: false, mem: true, mem32: true, dirty: true, regs: true });
  });
});
