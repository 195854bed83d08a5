// FT on a busy machine: the standard load (tools/load: busy processes on every core)
// runs beside the cluster while the demo and a scripted crash run. This is the case
// users meet on a laptop or a CI box; before issue 11 the demo passed 1 run in 6 here
// (the scripted kill hit the primary before its backup had joined, and a fixed 150 ms
// silence timeout split healthy pairs). The launcher runs in-process so the test reads
// its summary; the hosts are real processes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCluster } from "../src/host/launcher.js";
import { type Load, startLoad } from "../tools/load/load.js";
import { RunStream, counts } from "./support/run-stream.js";

const COUNT = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join("");
/** The load of the acceptance criteria: 3 busy processes beside the cluster on a 2-core machine. */
const LOAD_PROCS = Number(process.env.FTVM_LOAD_PROCS ?? 3);

async function cluster(opts: Parameters<typeof runCluster>[0]) {
  const out: Buffer[] = [];
  let info = "";
  const stream = new RunStream();
  const code = await runCluster({ ...opts, write: (b) => out.push(Buffer.from(b)), info: (s) => (info += s), onEvent: stream.push });
  return { code, out: Buffer.concat(out).toString("latin1"), info, stream, counts: counts(stream.events) };
}

function ticks(out: string): number[] {
  return out
    .trimEnd()
    .split("\n")
    .map((l) => Number(/^tick (\d+) of 150/.exec(l)?.[1]));
}

describe(`FT with ${LOAD_PROCS} busy processes beside it`, () => {
  let load: Load;
  beforeAll(() => {
    // Stops by itself after 10 minutes should afterAll never run.
    load = startLoad(LOAD_PROCS, 600);
  });
  afterAll(async () => {
    await load.stop();
  });

  it("the demo (ticker.s, primary SIGKILLed 1.5 s after the pair formed) and a count.s crash run side by side stay exact", async () => {
    const [demo, count] = await Promise.all([
      cluster({ program: "programs/ticker.s", crashPrimaryAfterMs: 1500 }),
      cluster({ program: "programs/count.s", crashPrimaryAtIcount: 1_500_000 }),
    ]);
    expect(demo.code, demo.info).toBe(0);
    expect(ticks(demo.out), demo.info).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(demo.counts.failovers, demo.info).toBe(1);
    // One host failure, the injected kill; none on its own (a false suspicion, a lost test-and-set).
    expect(demo.counts.kills, demo.info).toBe(1);
    expect(demo.stream.all("exit").filter((e) => e.kind === "failed"), demo.info).toEqual([]);
    expect(count.code, count.info).toBe(0);
    expect(count.out === COUNT, `count.s output: ${count.out.length} bytes, expected ${COUNT.length}\n${count.info}`).toBe(true);
    expect(count.counts.failovers, count.info).toBe(1);
    // Three busy processes of its own beside two clusters, and whatever else the machine
    // runs: 6 s alone, over 60 s once in a run with two test files at a time at load 10-20.
  }, 180_000);
});
