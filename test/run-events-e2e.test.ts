// The run's event stream (`ftvm ft --json`, docs/events.md) end to end: a real cluster
// whose primary is SIGKILLed; every line of stdout is an event of the documented
// version, and the stream carries what the printed summary says: reduced again by a
// reader's own RunTally, it gives the very text the launcher printed.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RUN_EVENTS_SCHEMA_VERSION, type RunEvent, parseEventLine } from "../src/host/run-events.js";
import { RunTally, formatSummary } from "../src/host/run-summary.js";
import { ftvmArgs } from "./support/ftvm-args.js";
import { longTicker, tickNumbers } from "./support/long-ticker.js";

const ROOT = new URL("..", import.meta.url).pathname;

function ftvm(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT });
    let out = "";
    let err = "";
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (err += b));
    p.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("ftvm ft --json", () => {
  it("a crash run: every line parses, and the events carry what the summary says", async () => {
    // 400 ticks (8 s): under load the pair formed late enough that ticker.s's 3 s ended
    // before the kill, due 800 ms after it, was carried out.
    const r = await ftvm(["ft", longTicker(400), "--crash-primary-after-ms", "800", "--json"]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    const events: RunEvent[] = lines.map(parseEventLine);
    expect(events.every((e) => e.v === RUN_EVENTS_SCHEMA_VERSION)).toBe(true);
    expect(events[0].type).toBe("run");
    expect(events.at(-1)!.type).toBe("summary");
    // Times never go back.
    for (let i = 1; i < events.length; i++) expect(events[i].t).toBeGreaterThanOrEqual(events[i - 1].t);

    // The guest's output is in the stream, exactly once: ticks 1..400.
    const text = events.flatMap((e) => (e.type === "console" ? [e.text] : [])).join("");
    expect(tickNumbers(text, 400)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));

    // Reduced again by a reader: the same summary text, which is what stderr shows.
    const tally = new RunTally();
    for (const e of events) tally.add(e);
    const summary = events.at(-1) as Extract<RunEvent, { type: "summary" }>;
    expect(formatSummary(tally)).toBe(summary.text);
    expect(r.err).toContain(summary.text);

    // The failover: one, after the one kill, with the times the summary prints.
    const kills = events.filter((e) => e.type === "fault" && e.fault === "kill");
    const failovers = events.filter((e): e is Extract<RunEvent, { type: "failover" }> => e.type === "failover");
    expect(kills).toHaveLength(1);
    expect(failovers).toHaveLength(1);
    expect(summary.failovers).toBe(1);
    const f = failovers[0];
    expect(f.t).toBeGreaterThan(kills[0].t);
    expect(f.fromKillMs).toBe(f.t - kills[0].t);
    expect(summary.text).toContain(`detection ${f.detectionMs} ms of silence, replay ${f.replayMs} ms, test-and-set ${f.tasMs} ms`);
    expect(summary.text).toContain(`the backup was live after ${f.fromKillMs} ms`);
    expect(summary.text).toMatch(/epochs: \d+; failovers: 1;/);

    // Roles: the killed primary ends dead, the backup became the live primary.
    const roles = events.filter((e): e is Extract<RunEvent, { type: "role" }> => e.type === "role");
    const mine = roles.filter((e) => e.host === f.host).map((e) => e.role);
    expect(mine.indexOf("backup"), mine.join(" ")).toBeGreaterThanOrEqual(0);
    expect(mine.findIndex((x) => x === "alone" || x === "primary"), mine.join(" ")).toBeGreaterThan(mine.indexOf("backup"));
    expect(roles.some((e) => e.pid === (kills[0] as { pid?: number }).pid && e.role === "dead")).toBe(true);
    // Status lines carry the hosts' progress.
    expect(events.some((e) => e.type === "status" && e.icount > 0)).toBe(true);
  }, 90_000);

  it("bad view options are one-line usage errors (exit 2)", async () => {
    const a = await ftvm(["ft", "programs/ticker.s", "--ui-host", "0.0.0.0"]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--ui-host goes with --ui/);
    const b = await ftvm(["ft", "programs/ticker.s", "--report", "/nonexistent-dir/r.html"]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^ftvm: --report \/nonexistent-dir\/r.html: ENOENT/m);
    expect(b.err).not.toMatch(/at .*\.ts:\d+/);
  }, 60_000);
});
