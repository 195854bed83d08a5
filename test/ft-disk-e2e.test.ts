// FT with a shared disk, end to end with real processes: `ftvm ft programs/kvlog.s --disk
// IMAGE` (an arbiter, a primary and a backup as OS processes; the disk server and the sink
// in the launcher), the primary SIGKILLed at seeded moments while record writes are in
// flight. Each run must end with exit status 0, the guest's output exact, and an image the
// kvlog checker accepts holding every record (the new primary re-issues the requests the
// old one had started). The launcher runs in-process so the test sees its summary.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runClusterDetailed } from "../src/host/launcher.js";
import { RunStream, counts } from "./support/run-stream.js";
import { GATE_DEADLINE_MS, gatedKvlog, openGateAfter } from "./support/gated-kvlog.js";
import { createDiskImage } from "../src/host/disk.js";
import { checkKvImage } from "../src/cli/kvcheck.js";

const dir = mkdtempSync(join(tmpdir(), "ftvm-ftdisk-e2e-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** kvlog's console output for a run that appends `n` records to a log of `base`. */
function expected(base: number, n = 1000): string {
  const lines = [`kvlog: ${base} records in the log, appending ${n}`];
  for (let k = 100; k <= n; k += 100) lines.push(`kvlog: ${base + k} records on disk`);
  lines.push(`kvlog: appended ${n} records; the log holds ${base + n}`);
  return lines.join("\n") + "\n";
}

/** `gateAfterFailovers`: the program is a gated kvlog (test/support/gated-kvlog.ts), whose console byte goes in once this many failovers were seen. */
async function cluster(image: string, opts: { crashPrimaryAtIcount?: number; crashPrimaryEveryMs?: number; program?: string; gateAfterFailovers?: number } = {}) {
  const { gateAfterFailovers, ...rest } = opts;
  const out: Buffer[] = [];
  let info = "";
  const stream = new RunStream();
  const input = gateAfterFailovers === undefined ? undefined : new PassThrough();
  const gate = input && openGateAfter(stream, input, gateAfterFailovers!, GATE_DEADLINE_MS);
  try {
    const r = await runClusterDetailed({ program: "programs/kvlog.s", disk: image, ...rest, input, write: (b) => out.push(Buffer.from(b)), info: (s) => (info += s), onEvent: stream.push });
    return { ...r, out: Buffer.concat(out).toString("latin1"), info, stream, counts: counts(stream.events), end: stream.all("end")[0], gateOpenedByFailovers: await gate };
  } finally {
    stream.end("the run returned");
    input?.end();
  }
}

/** Seeded crash points over kvlog's ~2M instructions (a failure repeats with its icount). */
function crashPoints(n: number, seed: number): number[] {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => 20_000 + Math.floor(next() * 1_900_000));
}

describe("FT with a shared disk, real processes", () => {
  it.each(crashPoints(4, 44).map((p, i) => [i + 1, p]))(
    "SIGKILL of the primary #%i at icount %i: exit 0, exact output, and the checker finds all 1000 records",
    async (i, at) => {
      const image = join(dir, `kv-${i}.img`);
      createDiskImage(image, { blocks: 1001, blockBytes: 512 });
      const r = await cluster(image, { crashPrimaryAtIcount: at });
      expect(r.counts.failovers, r.info).toBe(1);
      expect(r.code).toBe(0);
      expect(r.out).toBe(expected(0));
      // The hosts read the image directly (--disk-read-image): the disk server performed
      // only writes (the header's read is checked by the output: "0 records in the log"),
      // and refused none as stale.
      expect(r.end?.disk, r.info).toMatchObject({ reads: 0, refusedStale: 0 });
      // Every record and at least the last header write (re-issued ones count again).
      expect(r.disk!.writes).toBeGreaterThan(1000);
      const c = checkKvImage(image);
      expect(c.problems).toEqual([]);
      expect(c.committed).toBe(1000);
      expect(c.prefix).toBe(1000);
    },
    // One cluster run: about 25 s beside a standard load; the default 60 s is too close.
    180_000,
  );

  it("a second run appends to the log the first left: its header read travels in the log across a failover", async () => {
    const image = join(dir, "kv-twice.img");
    createDiskImage(image, { blocks: 2001, blockBytes: 512 });
    const first = await cluster(image);
    expect(first.code).toBe(0);
    expect(first.out).toBe(expected(0));
    expect(first.counts.failovers, first.info).toBe(0);
    // Crash right after the header was read (the read's data is only in the log) and again later.
    const second = await cluster(image, { crashPrimaryAtIcount: 60_000 });
    expect(second.code).toBe(0);
    expect(second.counts.failovers, second.info).toBe(1);
    expect(second.out).toBe(expected(1000));
    const c = checkKvImage(image);
    expect(c.problems).toEqual([]);
    expect(c.committed).toBe(2000);
  }, 240_000);

  it("repeated failovers, one of them to a backup cloned with disk I/O in flight: the image holds every record", async () => {
    // kvlog appending 8000 records runs long enough for a new backup to join by clone and
    // take over in turn on a quiet machine; it waits before its final header until the test
    // has seen two failovers (see gated-kvlog.ts), so that under load, where each
    // kill-and-clone cycle takes longer, it cannot end before them.
    const program = gatedKvlog(8000, dir);
    const image = join(dir, "kv-8k.img");
    createDiskImage(image, { blocks: 8001, blockBytes: 512 });
    // Every 600 ms from the moment the pair formed; each kill waits for a paired backup.
    const r = await cluster(image, { program, crashPrimaryEveryMs: 600, gateAfterFailovers: 2 });
    expect(r.gateOpenedByFailovers, r.info).toBe(true);
    expect(r.code, r.info).toBe(0);
    expect(r.out).toBe(expected(0, 8000));
    expect(r.failovers.length, r.info).toBeGreaterThanOrEqual(2);
    expect(r.clones.length, r.info).toBeGreaterThanOrEqual(1);
    // No host was deposed (its halt news would say so).
    expect(r.stream.all("news").filter((n) => /deposed/.test(n.text)), r.info).toEqual([]);
    const c = checkKvImage(image);
    expect(c.problems).toEqual([]);
    expect(c.committed).toBe(8000);
  }, GATE_DEADLINE_MS + 120_000);

  it("a disk image that cannot be used is refused with a clear error, before any host starts", async () => {
    await expect(cluster(join(dir, "missing.img"))).rejects.toThrow(/--disk .*missing\.img/);
  });
});
