// Traces of every FT host (ftvm ft --trace-dir): a crash run's primary and backup traces
// are identical up to where the backup went live, and ftvm trace diff DIR says so; the
// run's stitched log (--record) replays to a trace that equals the live primaries' traces
// joined (each host's over the part of the run it executed as history).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openTrace } from "../src/host/files.js";
import { loadProgram } from "../src/host/program.js";
import { EV } from "../src/devices/events.js";
import { runClusterDetailed } from "../src/host/launcher.js";
import { runReplay } from "../src/host/replay.js";
import { diffAligned } from "../src/trace/align.js";
import { CAUSE_PERIODIC } from "../src/trace/format.js";
import { RunStream } from "./support/run-stream.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("traces of every FT host", () => {
  it("a crash run's primary and backup traces diff identical up to the go-live", async () => {
    const top = mkdtempSync(join(tmpdir(), "ftvm-traces-"));
    dirs.push(top);
    const dir = join(top, "t");
    let info = "";
    const out: Buffer[] = [];
    const stream = new RunStream();
    // timeread.s reads TIME and RAND (logged inputs, traced with the instruction that read them).
    const r = await runClusterDetailed({
      program: "programs/timeread.s",
      crashPrimaryAtIcount: 3_000_000,
      respawn: false,
      traceDir: dir,
      traceIntervalIcount: 50_000,
      record: join(dir, "..", "run.ftlog"),
      write: (b) => out.push(Buffer.from(b)),
      info: (s) => (info += s),
      onEvent: stream.push,
    });
    expect(r.code, info).toBe(0);
    // Where the backup went live: the failover event's icount (the old primary's last logged point).
    const failovers = stream.all("failover");
    expect(failovers, info).toHaveLength(1);
    const liveIcount = failovers[0].icount;
    const names = readdirSync(dir).sort();
    expect(names).toEqual(["host1-primary-e1.trace", "host2-backup-e1-primary-e2.trace"]);
    expect(info).toContain(`traces (compare them all: ftvm trace diff ${dir})`);
    const [pa, pb] = names.map((n) => join(dir, n));
    const a = openTrace(pa);
    const b = openTrace(pb);
    expect(a.header).toMatchObject({ role: "primary", epoch: 1, startIcount: 0 });
    expect(b.header).toMatchObject({ role: "backup", epoch: 1, startIcount: 0 });
    const d = diffAligned(a.header, b.header, () => openTrace(pa).records, () => openTrace(pb).records, { nameA: "primary", nameB: "backup" });
    expect(d.report[0]).toBe(`identical through icount ${liveIcount}, where backup went live (epoch 2): ${d.records} records compared, from the start`);
    expect(d.identical).toBe(true);
    // Both periodic records and records after the logged inputs were compared.
    const before = [...iterate(openTrace(pa).records)].filter((x) => x.icount < liveIcount);
    expect(before.length).toBe(d.records);
    expect(before.some((x) => x.cause === CAUSE_PERIODIC) && before.some((x) => x.atPc >= 0)).toBe(true);

    const cli = spawnSync(process.execPath, [...ftvmArgs(), "trace", "diff", dir], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain(`identical through icount ${liveIcount}, where ${pb} went live (epoch 2)`);
    expect(cli.stdout).toMatch(/1 pair with instructions in common compared; no divergence/);

    // Replaying the run's log gives the same output, and a trace that each host's equals over its part.
    const replayed: Buffer[] = [];
    const rp = join(dir, "..", "replay.trace");
    const rep = runReplay({ logPath: join(dir, "..", "run.ftlog"), tracePath: rp, traceIntervalIcount: 50_000, output: (x) => replayed.push(Buffer.from(x)) });
    expect(rep.outcome).toBe("end");
    expect(Buffer.concat(replayed).equals(Buffer.concat(out))).toBe(true);
    const h = openTrace(rp).header;
    const vsPrimary = diffAligned(a.header, h, () => openTrace(pa).records, () => openTrace(rp).records);
    expect(vsPrimary.report[0]).toBe(`identical through icount ${liveIcount}, where the next host went live (epoch 2): ${d.records} records compared, from the start`);
    const vsBackup = diffAligned(b.header, h, () => openTrace(pb).records, () => openTrace(rp).records);
    expect(vsBackup.identical).toBe(true);
    expect(vsBackup.report[0]).toMatch(/where both end: \d+ records compared, from the start$/);
    // The backup's part goes past the go-live: its records as the new primary were compared too.
    expect(vsBackup.window!.beforeIcount).toBeGreaterThan(liveIcount);
  });
});

describe("divergence caught live", () => {
  it("an unlogged RAND under FT is caught by the backup at the exact icount and source line of the RAND", async () => {
    const image = loadProgram("programs/timeread.s");
    const top = mkdtempSync(join(tmpdir(), "ftvm-diverge-"));
    dirs.push(top);
    let info = "";
    const r = await runClusterDetailed({ program: "programs/timeread.s", unloggedRand: true, onDivergence: "stop", traceDir: join(top, "t"), write: () => undefined, info: (s) => (info += s) });
    expect(r.liveDivergences.length, r.summary).toBeGreaterThanOrEqual(1);
    expect(r.code).toBe(1);
    const d = r.liveDivergences[0];
    // Where the primary read its first RAND: its trace has a record right after it (the
    // RAND's own count is one less), with the instruction's pc. TIME values printed before
    // it have varying digits, so the icount differs from run to run.
    const primary = r.traces!.find((t) => t.role === "primary")!;
    const rand = [...iterate(openTrace(primary.path).records)].find((x) => x.cause === EV.RAND)!;
    expect(rand).toBeDefined();
    expect(d.icount).toBe(rand.icount - 1);
    expect(d.pc).toBe(rand.atPc);
    expect(d.line).toBeDefined();
    const [file, line] = d.line!.split(":");
    expect(file).toBe("programs/timeread.s");
    expect(readFileSync(join(ROOT, file), "utf8").split("\n")[Number(line) - 1]).toMatch(/^\s*RAND\b/);
    expect(image.lines[d.pc!]).toBe(d.line);
    expect(info).toMatch(new RegExp(`divergence caught live: 1 time; the first by the backup pid \\d+ at icount ${d.icount.toLocaleString("en-US")}, pc ${d.pc} \\[programs/timeread.s:${line}\\]`));
    expect(info).toMatch(/--on-divergence stop: the run was stopped/);
  });
});

function* iterate<T>(it: Iterator<T>): Generator<T> {
  for (let r = it.next(); !r.done; r = it.next()) yield r.value;
}
