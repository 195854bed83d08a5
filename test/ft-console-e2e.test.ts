// Console input under FT: stdin reaches the guest through the launcher, held until the
// primary's log holding it is acknowledged, sent again to a new primary from exactly
// where the old one's log ended. echo.s fed 1 MB while the primary is SIGKILLed every
// 300 ms prints exactly what `ftvm run` prints. The same run is recorded (--record): the
// log stitched from every live host's segment replays to the same output and final state.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { runReplay } from "../src/host/replay.js";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runClusterDetailed } from "../src/host/launcher.js";
import { ftvmArgs } from "./support/ftvm-args.js";
import { RunStream } from "./support/run-stream.js";

const ROOT = new URL("..", import.meta.url).pathname;
const INPUT_BYTES = 1024 * 1024;
const PIECES = 128;
const FAILOVERS = 10;

/** Seeded printable text with newlines (a failure repeats). */
function input(): Buffer {
  const b = Buffer.alloc(INPUT_BYTES);
  let x = 2026;
  for (let i = 0; i < INPUT_BYTES; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = (x & 63) === 0 ? 10 : 32 + ((x >>> 16) % 95);
  }
  return b;
}

describe("console input under FT", () => {
  it(
    `echo.s fed 1 MB across ${FAILOVERS} failovers prints exactly what ftvm run prints; the stitched --record log replays to it`,
    async () => {
      const data = input();
      const run = spawnSync(process.execPath, [...ftvmArgs(), "run", "programs/echo.s"], { cwd: ROOT, input: data, maxBuffer: 8 * INPUT_BYTES, timeout: 120_000 });
      expect(run.status).toBe(0);
      expect(run.stdout.length).toBe(INPUT_BYTES);

      const dir = mkdtempSync(join(tmpdir(), "ftvm-record-"));
      const logPath = join(dir, "run.ftlog");
      const stdin = new PassThrough();
      const out: Buffer[] = [];
      let failovers = 0;
      let ended = false;
      let infoText = "";
      const stream = new RunStream();
      let progress: () => void = () => undefined;
      const running = runClusterDetailed({
        program: "programs/echo.s",
        crashPrimaryEveryMs: 300,
        input: stdin,
        record: logPath,
        onEvent: stream.push,
        write: (b) => out.push(Buffer.from(b)),
        info: (s) => {
          infoText += s;
          failovers += s.match(/went live at icount/g)?.length ?? 0;
          progress();
        },
      }).finally(() => {
        ended = true;
        progress();
      });
      // The input goes in pieces spread over the failovers (piece k waits for k/PIECES of
      // them), so bytes are in flight, held or unlogged whenever a primary dies.
      for (let k = 0; k < PIECES && !ended; k++) {
        while (failovers < Math.floor((k * FAILOVERS) / PIECES) && !ended) await new Promise<void>((r) => (progress = r));
        stdin.write(data.subarray((k * INPUT_BYTES) / PIECES, ((k + 1) * INPUT_BYTES) / PIECES));
        await new Promise((r) => setTimeout(r, 20));
      }
      while (failovers < FAILOVERS && !ended) await new Promise<void>((r) => (progress = r));
      stdin.end();
      const r = await running;
      expect(r.code).toBe(0);
      expect(failovers).toBeGreaterThanOrEqual(FAILOVERS);
      expect(r.summary).toMatch(new RegExp(`failovers: (\\d+)`));
      expect(Number(/failovers: (\d+)/.exec(r.summary)![1])).toBeGreaterThanOrEqual(FAILOVERS);
      expect(r.consoleInput).toMatchObject({ readBytes: INPUT_BYTES, durableBytes: INPUT_BYTES });
      const got = Buffer.concat(out);
      expect(got.length).toBe(run.stdout.length);
      expect(got.equals(run.stdout)).toBe(true);

      // The run's log: history from every epoch of live hosts, ending with the END mark.
      expect(r.record).toMatchObject({ ended: true });
      // Which hosts hold history. A host is in the stitched log only if it logged an event
      // that became history, and echo.s logs nothing while no input comes (it sleeps in
      // WFI): a host that goes live, clones its backup and is killed before any input
      // reaches it is rightly absent (on a loaded machine the next kill can come as soon as
      // the pair forms, before the input this test writes on seeing the failover arrives).
      // So: the live hosts in order are the first primary and each failover's host; the
      // log's hosts are some of them, in that order; and every live host whose successor
      // went live at a later icount is among them (echo.s only moves on an event, so its
      // guest ran on that host's logged input).
      const why = `${JSON.stringify(r.record!.epochs)}\n${infoText}\n${r.summary}`;
      const first = stream.all("role").find((e) => e.role === "primary");
      const live = [{ host: first!.host, icount: 0 }, ...stream.all("failover").map((f) => ({ host: f.host, icount: f.icount }))];
      const logged = r.record!.epochs.map((e) => e.host).filter((h, i, a) => i === 0 || a[i - 1] !== h);
      expect(new Set(logged).size, why).toBe(logged.length);
      expect(logged[0], why).toBe(live[0].host);
      let at = 0;
      for (const h of logged) {
        while (at < live.length && live[at].host !== h) at++;
        expect(at, `${h} is not a live host after the previous one\n${why}`).toBeLessThan(live.length);
      }
      // The last live host's successor is the guest's end (a host that went live with the guest already halted ran nothing).
      const haltIcount = stream.all("end")[0]?.icount ?? 0;
      expect(haltIcount, why).toBeGreaterThan(0);
      const mustHold = live.filter((l, i) => (i + 1 < live.length ? live[i + 1].icount : haltIcount) > l.icount).map((l) => l.host);
      for (const h of mustHold) expect(logged, `${h}'s guest ran on its input\n${why}`).toContain(h);
      expect(mustHold.length, why).toBeGreaterThanOrEqual(2);
      expect(logged.length, why).toBeGreaterThanOrEqual(2);
      expect(r.summary).toMatch(/stitched from \d+ epochs of live hosts/);
      const replayed: Buffer[] = [];
      const rep = runReplay({ logPath, output: (b) => replayed.push(Buffer.from(b)) });
      // "end": the END mark's register and memory digests matched the final state.
      expect(rep.outcome).toBe("end");
      expect(rep.reason).toBe("halted");
      expect(rep.events).toBe(r.record!.events);
      expect(Buffer.concat(replayed).equals(run.stdout)).toBe(true);
      rmSync(dir, { recursive: true, force: true });
    },
    300_000,
  );
});
