// The linearizability checker (src/sim/linearizable.ts) against histories that are and
// are not linearizable: hand-made ones for each way a replicated store can go wrong
// across a failover (a lost write, an increment applied twice, a read from the past),
// and generated ones that are linearizable by construction.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkLinearizable, type HistoryEntry, type KvOp, type KvResult } from "../src/sim/linearizable.js";

const set = (client: number, key: string, value: string, invokeMs: number, returnMs?: number): HistoryEntry => ({ client, op: { kind: "set", key, value }, invokeMs, returnMs, result: returnMs === undefined ? undefined : { ok: true } });
const get = (client: number, key: string, value: string | null, invokeMs: number, returnMs: number): HistoryEntry => ({ client, op: { kind: "get", key }, invokeMs, returnMs, result: { value } });
const incr = (client: number, key: string, n: bigint | undefined, invokeMs: number, returnMs?: number): HistoryEntry => ({ client, op: { kind: "incr", key }, invokeMs, returnMs, result: n === undefined ? undefined : { int: n } });

describe("linearizability of SET/GET/INCR histories", () => {
  it("accepts sequential and properly overlapping histories", () => {
    expect(checkLinearizable([set(1, "a", "1", 0, 1), get(2, "a", "1", 2, 3)])).toEqual({ linearizable: true });
    // A read overlapping a write may see either value.
    expect(checkLinearizable([set(1, "a", "1", 0, 10), get(2, "a", null, 1, 2)]).linearizable).toBe(true);
    expect(checkLinearizable([set(1, "a", "1", 0, 10), get(2, "a", "1", 1, 2)]).linearizable).toBe(true);
    // Two overlapping increments: 1 and 2 in either order.
    expect(checkLinearizable([incr(1, "c", 2n, 0, 5), incr(2, "c", 1n, 1, 6)]).linearizable).toBe(true);
    // Keys are independent.
    expect(checkLinearizable([set(1, "a", "x", 0, 1), set(1, "b", "y", 2, 3), get(2, "a", "x", 4, 5), get(2, "b", "y", 4, 5)]).linearizable).toBe(true);
  });

  it("refuses a read of a value older than a completed write (a lost write)", () => {
    const v = checkLinearizable([set(1, "a", "1", 0, 1), get(2, "a", null, 2, 3)]);
    expect(v).toMatchObject({ linearizable: false, key: "a" });
    expect((v as { why: string }).why).toMatch(/client 2 GET \[2, 3\] -> nil/);
  });

  it("refuses an increment applied twice or lost (a re-executed request after failover)", () => {
    expect(checkLinearizable([incr(1, "c", 1n, 0, 5), incr(2, "c", 1n, 1, 6)]).linearizable).toBe(false);
    expect(checkLinearizable([incr(1, "c", 1n, 0, 1), get(1, "c", "2", 2, 3)]).linearizable).toBe(false);
  });

  it("refuses reads that go back in time", () => {
    expect(checkLinearizable([incr(1, "c", 1n, 0, 1), incr(1, "c", 2n, 2, 3), get(2, "c", "2", 4, 5), get(3, "c", "1", 6, 7)]).linearizable).toBe(false);
  });

  it("an operation without a reply may or may not have taken effect, but only once and only after it was sent", () => {
    expect(checkLinearizable([incr(1, "c", undefined, 0), get(2, "c", "1", 5, 6)]).linearizable).toBe(true);
    expect(checkLinearizable([incr(1, "c", undefined, 0), get(2, "c", null, 5, 6)]).linearizable).toBe(true);
    expect(checkLinearizable([incr(1, "c", undefined, 0), get(2, "c", null, 5, 6), get(2, "c", "1", 7, 8)]).linearizable).toBe(true);
    expect(checkLinearizable([incr(1, "c", undefined, 0), get(2, "c", "2", 5, 6)]).linearizable).toBe(false);
    expect(checkLinearizable([get(2, "c", "1", 0, 1), incr(1, "c", undefined, 5)]).linearizable).toBe(false);
  });

  it("INCR of a value that is no integer is an error and changes nothing", () => {
    const h: HistoryEntry[] = [set(1, "s", "x", 0, 1), { client: 1, op: { kind: "incr", key: "s" }, invokeMs: 2, returnMs: 3, result: { error: "value is not an integer or out of range" } }, get(1, "s", "x", 4, 5)];
    expect(checkLinearizable(h).linearizable).toBe(true);
  });

  it("a history made from a real sequential run, with intervals around each point, is linearizable; one reply changed to a value nobody wrote is not", () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.constantFrom("a", "b"), value: fc.constantFrom("0", "7", "x") }),
      fc.record({ kind: fc.constant("get" as const), key: fc.constantFrom("a", "b") }),
      fc.record({ kind: fc.constant("incr" as const), key: fc.constantFrom("a", "b") }),
    );
    let refused = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(opArb, fc.nat(30), fc.nat(30), fc.nat(3)), { minLength: 1, maxLength: 24 }), (steps) => {
        // Execute in order on a model; each op takes effect at time 100*i, inside [invoke, return].
        const store = new Map<string, string>();
        const h: HistoryEntry[] = steps.map(([op, before, after, client], i) => {
          const at = 100 * i;
          let result: KvResult;
          if (op.kind === "set") {
            store.set(op.key, op.value);
            result = { ok: true };
          } else if (op.kind === "get") result = { value: store.get(op.key) ?? null };
          else {
            const cur = store.get(op.key) ?? "0";
            if (!/^-?\d+$/.test(cur)) result = { error: "not an integer" };
            else {
              const next = BigInt(cur) + 1n;
              store.set(op.key, next.toString());
              result = { int: next };
            }
          }
          return { client, op: op as KvOp, invokeMs: at - before * 5, returnMs: at + after * 5, result };
        });
        expect(checkLinearizable(h).linearizable).toBe(true);
        // A wrong reply to the last GET or INCR (no overlap can explain a value nobody wrote).
        const last = [...h].reverse().find((e) => e.op.kind !== "set" && e.result !== undefined && !("error" in e.result));
        if (last) {
          last.result = last.op.kind === "get" ? { value: "never-written" } : { int: 1_000_000n };
          const v = checkLinearizable(h);
          expect(v.linearizable).toBe(false);
          refused++;
        }
      }),
      { seed: 42, numRuns: 300 },
    );
    expect(refused).toBeGreaterThan(100);
  });
});
