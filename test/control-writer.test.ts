// The launcher's control file is kept current off its event loop (see ControlWriter):
// the first write is there at once, later ones land in order with the newest content,
// and removal waits for a write under way so no late rename brings the file back.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Control, ControlWriter } from "../src/host/control.js";

const control = (icount: number): Control => ({ launcherPid: process.pid, program: "p.s", startedAtMs: 0, hosts: [{ role: "primary", pid: process.pid, epoch: 1, icount }] });
const icountIn = (path: string) => (JSON.parse(readFileSync(path, "utf8")) as Control).hosts[0].icount;

describe("ControlWriter", () => {
  it("writes the first control at once and the newest of later ones in the background", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "ftvm-control-")), "c.json");
    const w = new ControlWriter(path);
    w.write(control(1));
    // Synchronous: `ftvm crash` may read it as soon as the launcher names it.
    expect(icountIn(path)).toBe(1);
    for (let i = 2; i <= 50; i++) w.write(control(i));
    // Not yet: later writes never block the caller.
    expect(icountIn(path)).toBe(1);
    for (let t = 0; t < 200 && icountIn(path) !== 50; t++) await new Promise((r) => setTimeout(r, 10));
    expect(icountIn(path)).toBe(50);
    await w.remove();
    expect(existsSync(path)).toBe(false);
  });

  it("removes the file for good even with a write under way", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "ftvm-control-")), "c.json");
    const w = new ControlWriter(path);
    w.write(control(1));
    w.write(control(2));
    await w.remove();
    w.write(control(3));
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(path)).toBe(false);
    expect(existsSync(path + ".tmp")).toBe(false);
  });
});
