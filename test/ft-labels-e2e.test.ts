// The launcher relays its hosts' log lines labelled with each host's role now, from the
// same source as the status block (its last status or news): after a failover the host
// that went live is no longer called "backup". A guest that idles forever keeps the run
// going until a new backup has joined by clone, whatever the machine's load; then Ctrl-C.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { type RunEvent, parseEventLine } from "../src/host/run-events.js";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "src/cli/main.ts");
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
    const p = spawn(process.execPath, ["--import", "tsx", MAIN, "ft", prog, "--crash-primary-after-ms", "300", "--json"], { cwd: ROOT });
    let err = "";
    p.stderr.on("data", (b) => (err += b));
    const events: RunEvent[] = [];
    const exited = new Promise<number | null>((r) => p.on("exit", (code) => r(code)));
    // Until redundancy is restored after the failover (the "clone" event): then stop the run.
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: p.stdout }).on("line", (line) => {
        const e = parseEventLine(line);
        events.push(e);
        if (e.type === "clone" && events.some((x) => x.type === "failover")) {
          p.kill("SIGINT");
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`ftvm ft exited (${code}) before a clone:\n${err}`)));
    });
    await exited;

    const failover = events.find((e): e is Extract<RunEvent, { type: "failover" }> => e.type === "failover")!;
    const logs = events.flatMap((e) => (e.type === "log" ? [e.text] : []));
    const mine = logs.filter((l) => l.includes(`(pid ${failover.pid}): `));
    // It started as the backup and said so under that name.
    expect(mine.some((l) => l.startsWith(`backup (pid ${failover.pid}): backup of epoch 1`)), mine.join("\n")).toBe(true);
    // Restoring redundancy happens only after the launcher heard it went live: by then it is the primary.
    const restored = mine.filter((l) => /redundancy restored/.test(l));
    expect(restored.length, mine.join("\n")).toBeGreaterThan(0);
    for (const l of restored) expect(l).toMatch(new RegExp(`^primary \\(pid ${failover.pid}\\): `));
    const joins = mine.filter((l) => /joins: cloning/.test(l));
    expect(joins.length, mine.join("\n")).toBeGreaterThan(0);
    for (const l of joins) expect(l).toMatch(new RegExp(`^(alone|primary) \\(pid ${failover.pid}\\): `));
  }, 90_000);
});
