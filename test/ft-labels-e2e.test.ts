// The launcher relays its hosts' log lines labelled with each host's role now, from the
// same source as the status block (its last status or news): after a failover the host
// that went live is no longer called "backup". A guest that idles forever keeps the run
// going until a new backup has joined by clone, whatever the machine's load; then Ctrl-C.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunEvent } from "../src/host/run-events.js";
import { spawnFt } from "./support/run-stream.js";

const dir = mkdtempSync(join(tmpdir(), "ftvm-labels-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FOREVER = `
main:
    SETVEC VEC_TIMER, on_tick
    LI r1, 10000
    OUT TIMER_PERIOD, r1
idle:
    EI
    WFI
    JMP idle
on_tick:
    IRET
`;

describe("ftvm ft: relayed log lines", () => {
  it("after a failover, the live host's lines carry its current role", async () => {
    const prog = join(dir, "forever.s");
    writeFileSync(prog, FOREVER);
    const ft = spawnFt(prog, ["--crash-primary-after-ms", "300"]);
    // Until redundancy is restored after the failover (a clone after it): then stop the run.
    const failover = await ft.waitFor<Extract<RunEvent, { type: "failover" }>>("the failover", (e) => e.type === "failover");
    await ft.waitFor("a clone after the failover", (e) => e.type === "clone" && e.t >= failover.t);
    await ft.stop();

    // The log lines' labels are what this test is about: their text is checked.
    const logs = ft.stream.logs();
    const mine = logs.filter((l) => l.includes(`(pid ${failover.pid}): `));
    // It started as the backup and said so under that name (the backup of epoch 1, or a
    // backup that joined by clone when the first one failed: a busy machine can do that).
    expect(mine.some((l) => new RegExp(`^backup \\(pid ${failover.pid}\\): (backup of epoch|joining the primary of epoch) \\d+`).test(l)), mine.join("\n")).toBe(true);
    // Restoring redundancy happens only after the launcher heard it went live: by then it is the primary.
    const restored = mine.filter((l) => /redundancy restored/.test(l));
    expect(restored.length, mine.join("\n")).toBeGreaterThan(0);
    for (const l of restored) expect(l).toMatch(new RegExp(`^primary \\(pid ${failover.pid}\\): `));
    const joins = mine.filter((l) => /joins: cloning/.test(l));
    expect(joins.length, mine.join("\n")).toBeGreaterThan(0);
    for (const l of joins) expect(l).toMatch(new RegExp(`^(alone|primary) \\(pid ${failover.pid}\\): `));
  }, 90_000);
});
