// Shared test helpers: assemble a snippet and boot it on a machine with devices and a
// deterministic live environment.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArbiterServer } from "../src/arbiter/server.js";
import { startArbiter } from "../src/arbiter/server.js";
import { assemble } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import type { Event } from "../src/devices/events.js";
import { LiveEnv, type LiveOptions } from "../src/replay/live.js";
import { fakeWorld } from "../src/replay/world.js";
import type { Image } from "../src/vm/image.js";
import { Machine, type MachineOptions } from "../src/vm/machine.js";

export interface Booted {
  image: Image;
  m: Machine;
  bus: Bus;
  env: LiveEnv;
  events: Event[];
  world: ReturnType<typeof fakeWorld>;
  /** Runs to halt/trap/wait (or maxIcount), pumping input between slices; returns console output. */
  runAll(maxIcount?: number): string;
}

export function asm(src: string, file = "test.s"): Image {
  return assemble(src, file);
}

export function boot(src: string | Image, opts: MachineOptions & { seed?: number; live?: LiveOptions } = {}): Booted {
  const image = typeof src === "string" ? asm(src) : src;
  const m = new Machine(image, opts);
  const events: Event[] = [];
  const world = fakeWorld(opts.seed ?? 1);
  const bus = new Bus(m, undefined as never);
  const env = new LiveEnv(bus, world, (e) => events.push(e), opts.live);
  bus.env = env;
  let out = "";
  return {
    image,
    m,
    bus,
    env,
    events,
    world,
    runAll(maxIcount = 10_000_000) {
      for (;;) {
        env.pump();
        const r = m.run(maxIcount);
        out += Buffer.from(bus.console.drainOutput()).toString("latin1");
        if (r !== "continue" || m.icount >= maxIcount) return out;
      }
    },
  };
}

/** Runs a snippet to completion and returns the machine (for register checks). */
export function exec(src: string, opts: MachineOptions = {}): Machine {
  const b = boot(src, opts);
  b.runAll();
  return b.m;
}

/**
 * An in-process arbiter whose state file lives in a fresh temporary directory (an arbiter
 * always keeps its state on disk); close() also removes the directory.
 */
export async function startTestArbiter(secret: string, cluster = "test-cluster"): Promise<ArbiterServer> {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-test-arbiter-"));
  const arb = await startArbiter({ secret, stateFile: join(dir, "state.json"), newClusterId: () => cluster });
  return {
    ...arb,
    async close() {
      await arb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Awaits a condition, polling; past `ms` (generous: the machine is shared and busy) it fails naming what it waited for. */
export async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
