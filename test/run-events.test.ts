// The event bus's bounds and the stream's version check (run-events.ts).
import { describe, expect, it } from "vitest";
import { RUN_EVENTS_SCHEMA_VERSION, RunEvents, consoleKeptCharsMax, eventsKeptMax, parseEventLine, statusKeptMax } from "../src/host/run-events.js";

describe("run events", () => {
  it("stamps version and time; listeners see events in order", () => {
    let now = 1000;
    const bus = new RunEvents(1000, () => now);
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.v}:${e.t}:${e.type}`));
    bus.emit({ type: "log", text: "a" });
    now = 1250;
    bus.emit({ type: "protection", protected: true, unprotectedMs: 0 });
    expect(seen).toEqual([`${RUN_EVENTS_SCHEMA_VERSION}:0:log`, `${RUN_EVENTS_SCHEMA_VERSION}:250:protection`]);
  });

  it("keeps a bounded history: status thinned, console cut to its newest text, other events capped with the header kept", () => {
    let now = 0;
    const bus = new RunEvents(0, () => now);
    bus.emit({ type: "run", source: "ft", program: "p", startedAt: "x", options: {} });
    const statuses = statusKeptMax * 3;
    for (let i = 0; i < statuses; i++) {
      now = i;
      bus.emit({ type: "status", host: "h", pid: 1, role: "primary", epoch: 1, icount: i });
    }
    for (let i = 0; i < eventsKeptMax + 10; i++) bus.emit({ type: "log", text: String(i) });
    const line = "x".repeat(1023) + "\n";
    for (let i = 0; i < (consoleKeptCharsMax / 1024) * 2; i++) bus.emit({ type: "console", text: line });
    bus.emit({ type: "console", text: "last\n" });
    const h = bus.history();
    const st = h.events.filter((e) => e.type === "status");
    expect(st.length).toBeLessThanOrEqual(statusKeptMax);
    expect(st.length).toBeGreaterThan(statusKeptMax / 4);
    // Thinned evenly over the whole run, not only the newest.
    expect(st[0].t).toBe(0);
    expect(st.at(-1)!.t).toBeGreaterThan(statuses * 0.9);
    expect(h.events[0].type).toBe("run");
    expect(h.events.filter((e) => e.type === "log")).toHaveLength(eventsKeptMax - 1);
    expect(h.droppedEvents).toBe(11);
    const con = h.events.filter((e) => e.type === "console");
    expect(con).toHaveLength(1);
    const text = (con[0] as { text: string }).text;
    expect(text.length).toBe(consoleKeptCharsMax);
    expect(text.endsWith("last\n")).toBe(true);
    expect(h.droppedConsoleChars).toBe(1024 * (consoleKeptCharsMax / 1024) * 2 + 5 - consoleKeptCharsMax);
  });

  it("keeps exactly the newest console text whatever the chunk sizes, also when history is read between chunks", () => {
    // A model: all text ever emitted; the bus must keep its last consoleKeptCharsMax characters.
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const bus = new RunEvents(0, () => 0);
    let all = "";
    const check = () => {
      const h = bus.history();
      const con = h.events.filter((e) => e.type === "console") as { text: string }[];
      const want = all.slice(-consoleKeptCharsMax);
      expect(con.map((c) => c.text)).toEqual(want.length > 0 ? [want] : []);
      expect(h.droppedConsoleChars).toBe(all.length - want.length);
    };
    check();
    for (let i = 0; i < 3000; i++) {
      // Mostly small chunks (many of them, as a chatty guest gives), now and then a large one.
      const len = rnd(10) === 0 ? rnd(100_000) : rnd(200);
      const text = String.fromCharCode(97 + (i % 26)).repeat(len) + String(i);
      all += text;
      bus.emit({ type: "console", text });
      if (rnd(300) === 0) check();
    }
    check();
  });

  it("a reader refuses lines that are not events of its version", () => {
    expect(parseEventLine(`{"v":${RUN_EVENTS_SCHEMA_VERSION},"t":1,"type":"log","text":"x"}`).type).toBe("log");
    expect(() => parseEventLine("nope")).toThrow(/not JSON/);
    expect(() => parseEventLine(`{"v":99,"t":1,"type":"log"}`)).toThrow(/schema version 99/);
    expect(() => parseEventLine(`{"v":1}`)).toThrow(/not a run event/);
  });
});

describe("the summary from the events", () => {
  it("says which scripted faults the run ended before carrying out (a user's refused key is not one)", async () => {
    const { RunTally, formatSummary } = await import("../src/host/run-summary.js");
    const t = new RunTally();
    const ev = (e: Record<string, unknown>) => t.add({ v: RUN_EVENTS_SCHEMA_VERSION, t: 0, ...e } as never);
    ev({ type: "run", source: "ft", program: "p.s", startedAt: "x", options: {} });
    ev({ type: "fault-refused", fault: "kill", target: "primary", reason: "only one live host", by: "user" });
    ev({ type: "fault-refused", fault: "kill", target: "primary", reason: "the run ended first", by: "script" });
    ev({ type: "end", code: 0, outcome: "halted", icount: 10, elapsedMs: 100, sink: { epoch: 1, delivered: 0, chunksAccepted: 0, chunksDuplicate: 0, duplicateBytes: 0, refusedStale: 0, divergences: 0, refusedCluster: 0, uncheckedBytes: 0 }, cluster: "c", arbiterRestarts: 0 });
    const lines = formatSummary(t).split("\n").filter((l) => l.includes("scripted fault"));
    expect(lines).toEqual(["    scripted fault not carried out: kill of the primary: the run ended first"]);
  });
});
