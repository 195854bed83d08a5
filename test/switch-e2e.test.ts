// End to end, with real processes: `ftvm ft programs/redis.s --listen PORT` (arbiter,
// primary, backup, and the virtual switch in the launcher) serving real node-redis
// clients while hosts are SIGKILLed. What clients must never notice: a connection error,
// a reply value given twice, an increment lost, a SET forgotten.
import { connect } from "node:net";
import { createClient } from "redis";
import { describe, expect, it } from "vitest";

import { type GuestProcess, startGuestProcess } from "./support/guest-process.js";

type Cluster = GuestProcess;

/** The longest a client load waits for what a test needs to happen under it (failovers). */
const LOAD_MS_MAX = 40_000;

/** ftvm ft of redis.s behind the virtual switch, clients on a port read back from the launcher. */
function startCluster(extra: string[]): Promise<Cluster> {
  return startGuestProcess("ft", "programs/redis.s", ["--mem", "16MiB", ...extra]);
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
async function incrLoad(port: number, clients: number, counters: number, ms: number, until: () => boolean = () => true): Promise<Load> {
  const load: Load = { values: new Map(), perClient: [], errors: [] };
  const t0 = Date.now();
  const going = () => Date.now() - t0 < ms || (!until() && Date.now() - t0 < LOAD_MS_MAX);
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
}

describe("ftvm ft --listen: redis.s behind the virtual switch", () => {
  it("the primary SIGKILLed every 1.5 s (new backups join by clone): 10 clients never notice", async () => {
    const cl = await startCluster(["--crash-primary-every-ms", "1500"]);
    try {
      const load = await incrLoad(cl.port, 10, 3, 5000, () => (cl.stderr().match(/went live at icount/g) ?? []).length >= 2);
      await checkLoad(cl.port, load);
    } finally {
      await cl.stop();
    }
    const err = cl.stderr();
    const failovers = Number(/failovers: (\d+)/.exec(err)?.[1]);
    expect(failovers).toBeGreaterThanOrEqual(2);
    expect(err).toMatch(/network: 11 clients \(0 refused\); [\d,]+ bytes in, [\d,]+ bytes out, each byte exactly once/);
    expect(err).toMatch(/switch: forwarding input to \S+, primary of epoch [2-9]/);
  }, 90_000);

  it("the backup SIGKILLed: the primary goes on alone, clients never notice", async () => {
    const cl = await startCluster([]);
    try {
      while (!/backup \(pid \d+\): backup of epoch 1/.test(cl.stderr())) await new Promise((r) => setTimeout(r, 20));
      const pid = Number(/backup \(pid (\d+)\): backup of epoch 1/.exec(cl.stderr())![1]);
      const kill = setTimeout(() => process.kill(pid, "SIGKILL"), 1200);
      const load = await incrLoad(cl.port, 8, 2, 3000);
      clearTimeout(kill);
      await checkLoad(cl.port, load);
    } finally {
      await cl.stop();
    }
    const err = cl.stderr();
    expect(err).toMatch(/backup failed; the primary won epoch 2 and went on alone/);
    expect(err).toMatch(/failovers: 0/);
  }, 60_000);

  it("pipelines of 400 INCRs and 24 KiB values (the guest's request limit is 32 KiB) cross failovers intact and in order", async () => {
    const cl = await startCluster(["--crash-primary-every-ms", "1000"]);
    const c = createClient({ socket: { host: "127.0.0.1", port: cl.port, reconnectStrategy: false } });
    const errors: Error[] = [];
    c.on("error", (e: Error) => errors.push(e));
    try {
      await c.connect();
      const t0 = Date.now();
      let expected = 0;
      for (let round = 0; Date.now() - t0 < 3500; round++) {
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
    expect(Number(/failovers: (\d+)/.exec(cl.stderr())?.[1])).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("both hosts killed in turn before a new backup is there: the switch refuses clients rather than serve stale state", async () => {
    const cl = await startCluster(["--no-respawn"]);
    const c = createClient({ socket: { host: "127.0.0.1", port: cl.port, reconnectStrategy: false } });
    const errors: Error[] = [];
    c.on("error", (e: Error) => errors.push(e));
    await c.connect();
    expect(await c.incr("n")).toBe(1);
    // Kill the primary once its backup has started replaying (before, the backup has no state to go live with).
    while (!/backup \(pid \d+\): backup of epoch 1/.test(cl.stderr())) await new Promise((r) => setTimeout(r, 20));
    process.kill(Number(/primary \(pid (\d+)\): primary of epoch 1 with a backup/.exec(cl.stderr())![1]), "SIGKILL");
    // The backup takes over alone; the client keeps its connection and its counter.
    expect(await c.incr("n")).toBe(2);
    while (!/went live/.test(cl.stderr())) await new Promise((r) => setTimeout(r, 20));
    const n = Number(await c.incr("n"));
    const pid = Number(/\w+ \(pid (\d+)\): went live/.exec(cl.stderr())![1]);
    process.kill(pid, "SIGKILL");
    const code = await cl.exited;
    expect(code).not.toBe(0);
    expect(n).toBe(3);
    expect(cl.stderr()).toMatch(/switch: refusing clients: no host is left to run the guest/);
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
