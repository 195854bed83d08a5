// `ftvm sim --seed S --json`: a simulated run as the run's event stream (docs/events.md).
// The stream must carry what the simulator counted: its failovers (with the go-live's
// times), its crashes, and the guest's output exactly as the sink wrote it.
import { describe, expect, it } from "vitest";
import { simulateWithEvents } from "../src/cli/sim-events.js";
import { type RunEvent, parseEventLine } from "../src/host/run-events.js";
import { simulate } from "../src/sim/sim.js";

const SEEDS = 15;

describe("sim --json", () => {
  it(`over ${SEEDS} seeds: failovers and crashes in the stream are the simulator's, every line parses, observing changes nothing`, () => {
    let failovers = 0;
    let partitions = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const lines: string[] = [];
      const { result } = simulateWithEvents(seed, {}, (r) => [`seed ${r.seed}`], (e) => lines.push(JSON.stringify(e)));
      const events: RunEvent[] = lines.map(parseEventLine);
      expect(events[0].type).toBe("run");
      expect(events.at(-1)!.type).toBe("summary");
      const fo = events.filter((e): e is Extract<RunEvent, { type: "failover" }> => e.type === "failover");
      expect(fo.length, `seed ${seed}`).toBe(result.stats.failovers);
      expect(events.filter((e) => e.type === "fault" && e.fault === "kill").length, `seed ${seed}`).toBe(result.stats.crashes);
      for (const f of fo) {
        expect(f.detectionMs + f.replayMs + f.tasMs).toBeGreaterThan(0);
        // The new primary's lane shows it: a role event into "alone" at the failover.
        expect(events.some((e) => e.type === "role" && e.host === f.host && e.role === "alone" && e.t === f.t)).toBe(true);
      }
      failovers += fo.length;
      // The plan's log-channel partitions: each begins before it ends, on the same link.
      const open = new Set<string>();
      for (const e of events) {
        if (e.type !== "fault" || e.fault !== "partition") continue;
        if (e.on) {
          partitions++;
          open.add(e.link!);
        } else expect(open.delete(e.link!), `seed ${seed}: ${e.link} ends before it began`).toBe(true);
      }
      // The console text is the sink's bytes.
      const text = events.flatMap((e) => (e.type === "console" ? [e.text] : [])).join("");
      expect(Buffer.byteLength(text), `seed ${seed}`).toBe(result.stats.sinkBytes);
      // Observing is read-only: the same run as without the hook.
      if (seed <= 5) expect(result.fingerprint).toBe(simulate(seed).fingerprint);
    }
    expect(failovers).toBeGreaterThan(SEEDS * 0.2);
    expect(partitions).toBeGreaterThan(0);
  });
});
