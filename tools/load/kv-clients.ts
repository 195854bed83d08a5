// Real network clients for programs/redis.s (under `ftvm ft`, `ftvm run` or anything that
// speaks the same RESP subset): each connection issues SET, GET and INCR on its own
// schedule, one request at a time, and records what it saw as a history for the
// linearizability checker (src/sim/linearizable.ts). Used by tools/load/redis-lin.ts (the
// figure of issue 11: kills every 300 ms under load) and by an e2e test.
import { performance } from "node:perf_hooks";
import { createClient } from "redis";
import type { HistoryEntry, KvOp, KvResult } from "../../src/sim/linearizable.js";

export interface KvLoadOptions {
  port: number;
  clients: number;
  /** Keys are split between counters (INCR, GET) and registers (SET, GET); more keys keep each key's history short for the checker. */
  keys: number;
  durationMs: number;
  /** Seeds the clients' choices (the run itself is not deterministic: the network and the OS decide timings). */
  seed: number;
}

export interface KvLoadResult {
  history: HistoryEntry[];
  /** Error replies and broken connections, per client, in order. */
  errors: string[];
  /** Replies received in all. */
  replies: number;
  /** The longest time (ms) in which no client received any reply: an outage shows here. */
  maxSilenceMs: number;
}

/** xorshift32, seeded per client. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

export async function runKvClients(o: KvLoadOptions): Promise<KvLoadResult> {
  const history: HistoryEntry[] = [];
  const errors: string[] = [];
  const replyTimes: number[] = [];
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const counters = Math.max(1, Math.floor(o.keys / 2));
  const registers = Math.max(1, o.keys - counters);
  await Promise.all(
    Array.from({ length: o.clients }, async (_, client) => {
      const pick = rng(o.seed * 7919 + client + 1);
      const c = createClient({ socket: { host: "127.0.0.1", port: o.port, reconnectStrategy: false } });
      let broken: string | undefined;
      c.on("error", (e: Error) => (broken ??= e.message));
      await c.connect();
      for (let n = 0; now() < o.durationMs && broken === undefined; n++) {
        const roll = pick(10);
        const op: KvOp =
          roll < 4
            ? { kind: "incr", key: `c${pick(counters)}` }
            : roll < 7
              ? { kind: "set", key: `r${pick(registers)}`, value: `v${client}-${n}` }
              : { kind: "get", key: pick(2) === 0 ? `c${pick(counters)}` : `r${pick(registers)}` };
        const entry: HistoryEntry = { client, op, invokeMs: now() };
        history.push(entry);
        try {
          let result: KvResult;
          if (op.kind === "incr") result = { int: BigInt(await c.incr(op.key)) };
          else if (op.kind === "set") {
            const r = await c.set(op.key, op.value);
            result = r === "OK" ? { ok: true } : { error: `SET answered ${String(r)}` };
          } else result = { value: await c.get(op.key) };
          entry.returnMs = now();
          entry.result = result;
          replyTimes.push(entry.returnMs);
          if ("error" in result) errors.push(`client ${client}: ${result.error}`);
        } catch (e) {
          // No reply we can trust: the outcome stays unknown for the checker.
          errors.push(`client ${client}: ${(e as Error).message}`);
          break;
        }
      }
      if (broken !== undefined) errors.push(`client ${client}: connection: ${broken}`);
      if (c.isOpen) await c.quit().catch(() => undefined);
    }),
  );
  replyTimes.sort((a, b) => a - b);
  let maxSilenceMs = replyTimes.length ? replyTimes[0] : o.durationMs;
  for (let i = 1; i < replyTimes.length; i++) maxSilenceMs = Math.max(maxSilenceMs, replyTimes[i] - replyTimes[i - 1]);
  return { history, errors, replies: replyTimes.length, maxSilenceMs };
}
