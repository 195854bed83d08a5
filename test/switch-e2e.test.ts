// End to end, with real processes: `ftvm ft programs/redis.s --listen PORT` (arbiter,
// primary, backup, and the virtual switch in the launcher) serving real node-redis
// clients while hosts are SIGKILLed. What clients must never notice: a connection error,
// a reply value given twice, an increment lost, a SET forgotten.
import { connect } from "node:net";
import { createClient } from "redis";
import { describe, expect, it } from "vitest";

import type { RunEvent } from "../src/host/run-events.js";
import { type FtProcess, counts, isFailover, isPaired, isRole, spawnFt } from "./support/run-stream.js";

type Cluster = FtProcess & { port: number };

/** The longest a client load waits for what a test needs to happen under it (failovers). */
const LOAD_MS_MAX = 60_000;

/**
 * ftvm ft of redis.s behind the virtual switch (--json: the test follows its events),
 * clients on the port the launcher's `listening` event names, once the guest is ready.
 */
async function startCluster(extra: string[]): Promise<Cluster> {
  const ft = spawnFt("programs/redis.s", ["--listen", "127.0.0.1:0", "--mem", "16MiB", ...extra]);
  const port = await ft.port();
  await ft.waitFor("redis.s to say it is ready", () => ft.stream.console().includes("redis.s: ready"));
  return Object.assign(ft, { port });
}

interface Load {
  /** Per counter, every reply value seen (all clients). */
  values: Map<string, number[]>;
  /** Per client and counter, its replies in order. */
  perClient: Map<string, number>[];
  errors: string[];
  lastSet?: string;
}

/** `clients` node-redis clients INCR `counters` shared counters for `ms`; client 0 also SETs a key now and then. */
/**
 * Clients increment counters for at least `ms`, and on until `until()` holds (at most
 * LOAD_MS_MAX): a test that needs failovers under load waits for them rather than
 * betting on how many fit in a fixed time on a busy machine.
 */
async function incrLoad(port: number, clients: number, counters: number, ms: number, until: (load: Load) => boolean = () => true): Promise<Load> {
  const load: Load = { values: new Map(), perClient: [], errors: [] };
  const t0 = Date.now();
  // `until` sees every step (a test may act on the load's progress), not only the last ones.
  const going = () => {
    const done = until(load);
    return Date.now() - t0 < ms || (!done && Date.now() - t0 < LOAD_MS_MAX);
  };
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const last = new Map<string, number>();
      load.perClient.push(last);
      const c = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false } });
      c.on("error", (e: Error) => load.errors.push(`client ${i}: ${e.message}`));
      await c.connect();
      for (let n = 0; going(); n++) {
        const key = `counter:${(i + n) % counters}`;
        if (i === 0 && n % 20 === 0) {
          const v = `value-${n}`;
          expect(await c.set("last", v)).toBe("OK");
          load.lastSet = v;
        }
        const v = await c.incr(key);
        // One sequence of increments: a client's later increment sees a larger value.
        const prev = last.get(key);
        if (prev !== undefined && v <= prev) load.errors.push(`client ${i}: ${key} went from ${prev} to ${v}`);
        last.set(key, v);
        load.values.set(key, [...(load.values.get(key) ?? []), v]);
      }
      await c.quit();
    }),
  );
  return load;
}

async function checkLoad(port: number, load: Load): Promise<void> {
  expect(load.errors).toEqual([]);
  const c = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false } });
  const errors: string[] = [];
  c.on("error", (e: Error) => errors.push(e.message));
  await c.connect();
  let total = 0;
  for (const [key, vs] of load.values) {
    // Every reply value is unique, and the final value is the number of successful increments.
    expect(new Set(vs).size).toBe(vs.length);
    expect(Number(await c.get(key))).toBe(vs.length);
    expect(Math.max(...vs)).toBe(vs.length);
    total += vs.length;
  }
  expect(total).toBeGreaterThan(500);
  expect(await c.get("last")).toBe(load.lastSet);
  await c.quit();
  expect(errors).toEqual([]);
}

describe("ftvm ft --listen: redis.s behind the virtual switch", () => {
  it("the primary SIGKILLed every 1.5 s (new backups join by clone): 10 clients never notice", async () => {
    const cl = await startCluster(["--crash-primary-every-ms", "1500"]);
    try {
      const load = await incrLoad(cl.port, 10, 3, 5000, () => cl.stream.all("failover").length >= 2);
      await checkLoad(cl.port, load);
    } finally {
      await cl.stop();
    }
    expect(counts(cl.stream.events).failovers, cl.stream.recent()).toBeGreaterThanOrEqual(2);
    // The switch's own counters at the end: every client served, none refused, nothing diverged.
    const end = cl.stream.all("end")[0];
    expect(end?.net).toMatchObject({ clients: 11, refusedClients: 0, diverged: 0 });
    // After a failover the switch forwards input to the new primary (a log line: the switch has no event of its own).
    expect(cl.stream.logs().some((l) => /switch: forwarding input to \S+, primary of epoch [2-9]/.test(l))).toBe(true);
  }, 120_000);

  it("the backup SIGKILLed: the primary goes on alone, clients never notice", async () => {
    const cl = await startCluster([]);
    let pairEpoch = 0;
    try {
      // The pair's epoch: 1, or 2 when the first backup came after its primary stopped
      // waiting (--wait-backup-ms, on a busy machine) and joined by clone.
      const backup = await cl.waitFor<Extract<RunEvent, { type: "role" }>>("the paired backup", (e) => isRole("backup")(e) && e.type === "role" && e.epoch >= 1);
      pairEpoch = backup.epoch;
      // Clients are served while the backup dies under them: the kill comes once they have
      // made some progress (counted, not timed), and the load goes on until the primary is
      // alone and has served as many again.
      let killed = false;
      const load = await incrLoad(cl.port, 8, 2, 0, (now) => {
        const served = [...now.values.values()].reduce((n, v) => n + v.length, 0);
        if (!killed && served >= 300) {
          killed = true;
          process.kill(backup.pid, "SIGKILL");
        }
        return killed && cl.stream.all("alone").length > 0 && served >= 600;
      });
      await checkLoad(cl.port, load);
    } finally {
      await cl.stop();
    }
    const alone = cl.stream.all("alone");
    expect([1, 2], cl.stream.recent()).toContain(pairEpoch);
    expect(alone.map((a) => a.epoch), cl.stream.recent()).toEqual([pairEpoch + 1]);
    expect(counts(cl.stream.events).failovers).toBe(0);
  }, 120_000);

  it("pipelines of 400 INCRs and 24 KiB values (the guest's request limit is 32 KiB) cross failovers intact and in order", async () => {
    const cl = await startCluster(["--crash-primary-every-ms", "1000"]);
    const c = createClient({ socket: { host: "127.0.0.1", port: cl.port, reconnectStrategy: false } });
    const errors: Error[] = [];
    c.on("error", (e: Error) => errors.push(e));
    try {
      await c.connect();
      const t0 = Date.now();
      let expected = 0;
      // Rounds go on until two have run after a failover (so pipelines cross one), however
      // long the first kill takes on a busy machine (it waits for a paired backup).
      let roundsAfterFailover = 0;
      for (let round = 0; roundsAfterFailover < 2 && Date.now() - t0 < LOAD_MS_MAX; round++) {
        if (cl.stream.all("failover").length > 0) roundsAfterFailover++;
        // Issued together, node-redis sends them as one pipeline; replies come back in order.
        const replies = await Promise.all(Array.from({ length: 400 }, () => c.incr("p")));
        expect(replies).toEqual(Array.from({ length: 400 }, (_, i) => expected + i + 1));
        expected += 400;
        const big = String(round % 10).repeat(24 * 1024);
        expect(await c.set(`big${round % 3}`, big)).toBe("OK");
        expect(await c.get(`big${round % 3}`)).toBe(big);
      }
      expect(Number(await c.get("p"))).toBe(expected);
      await c.quit();
    } finally {
      await cl.stop();
    }
    expect(errors).toEqual([]);
    expect(counts(cl.stream.events).failovers, cl.stream.recent()).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it("both hosts killed in turn before a new backup is there: the switch refuses clients rather than serve stale state", async () => {
    const cl = await startCluster(["--no-respawn"]);
    const c = createClient({ socket: { host: "127.0.0.1", port: cl.port, reconnectStrategy: false } });
    const errors: Error[] = [];
    c.on("error", (e: Error) => errors.push(e));
    await c.connect();
    expect(await c.incr("n")).toBe(1);
    // Kill the primary once its backup has started replaying (before, the backup has no state to go live with).
    await cl.waitFor("the backup of epoch 1", isRole("backup"));
    await cl.waitFor("the pair", isPaired);
    const primary = await cl.waitFor<Extract<RunEvent, { type: "role" }>>("the primary of epoch 1", (e) => e.type === "role" && e.role === "primary" && e.epoch === 1);
    process.kill(primary.pid, "SIGKILL");
    // The backup takes over alone; the client keeps its connection and its counter.
    expect(await c.incr("n")).toBe(2);
    const live = await cl.waitFor<Extract<RunEvent, { type: "failover" }>>("the backup to go live", isFailover);
    const n = Number(await c.incr("n"));
    process.kill(live.pid, "SIGKILL");
    const code = await cl.exited;
    expect(code).not.toBe(0);
    expect(n).toBe(3);
    // The run ended because no host was left (the switch then refuses clients: checked below).
    expect(cl.stream.all("end")[0]?.outcome, cl.stream.recent()).toBe("no-host");
    expect(errors.length + (c.isOpen ? 0 : 1)).toBeGreaterThan(0);
    // Nobody listens any more: a new client cannot get an answer from a stale copy.
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(cl.port, "127.0.0.1");
      s.on("error", () => resolve(true));
      s.on("data", () => resolve(false));
      s.on("close", () => resolve(true));
      s.write("PING\r\n");
    });
    expect(refused).toBe(true);
  }, 60_000);
});
