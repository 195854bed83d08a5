// Real clients of the Redis guest under `ftvm ft` while the primary is SIGKILLed again and
// again: the clients' whole history (SET, GET, INCR on many keys, several connections)
// must be linearizable, and no client may see an error. The long version of this run is
// the issue-11 figure (tsx tools/load/redis-lin.ts); this one is short enough for CI.
import { describe, expect, it } from "vitest";
import { redisLinRun } from "../tools/load/redis-lin.js";

describe("redis.s under FT with repeated primary kills", () => {
  it("8 clients for 10 s, the primary killed every second: history linearizable, no client error", async () => {
    const r = await redisLinRun({ seconds: 10, clients: 8, everyMs: 1000, keys: 64, seed: 7 });
    expect(r.errors).toEqual([]);
    expect(r.verdict).toEqual({ linearizable: true });
    // Kills wait for a paired backup; on a busy machine the first pair can take seconds to form.
    expect(r.kills).toBeGreaterThanOrEqual(1);
    expect(r.failovers).toBe(r.kills);
    expect(r.replies).toBeGreaterThan(100);
    expect(r.summary).toMatch(/each byte exactly once/);
  }, 180_000);
});
