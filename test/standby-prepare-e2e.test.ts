// The standby's connection ahead of time, end to end with real processes (docs/kill-cycle.md):
// once a pair forms, the launcher starts a standby (`--join-stdin`) and writes "prepare URL"
// to it, naming the pair's backup, the host that runs alone and needs a backup when its
// primary dies; the standby opens and authenticates its log channel to that host at once
// (FtHost.runBackup). After the primary's SIGKILL the launcher writes "join URL" with the
// same URL, and the standby sends its hello over the channel it already has.
//
// Nothing else would notice if that path broke: a standby that was never told to prepare,
// or that ignored its prepared channel, still joins, over a new connection, only later.
// So the test reads what the standby says of it in the run's event stream (its news
// "prepared" when the channel is open, then "join-prepared" or "join-connect" at the join).
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { type ClusterControl, runClusterDetailed } from "../src/host/launcher.js";
import { type EventOf, RunStream } from "./support/run-stream.js";

/** How often the test asks again for the kill that the launcher may refuse until the pair has formed. */
const KILL_RETRY_MS = 100;
/** Attempts at the kill: the pair is already formed when the standby prepares, so a few suffice; bounded so that a launcher that never allows it fails the test. */
const KILL_ATTEMPTS_MAX = 300;

describe("the standby connects ahead of time", () => {
  it("a standby prepared to the pair's backup joins it over that channel after the primary's SIGKILL, and the guest goes on", async () => {
    // echo.s: idle until input, it echoes each byte upper-cased and halts at the input's
    // end, so the run lasts exactly as long as the test needs, however slow the machine.
    const stdin = new PassThrough();
    const out: Buffer[] = [];
    let info = "";
    const stream = new RunStream();
    let control: ClusterControl | undefined;
    const running = runClusterDetailed({
      program: "programs/echo.s",
      input: stdin,
      // The standby at the normal priority: at its default (nice 19) beside busy processes
      // its start-up gets about 1.5% of a core and took over 90 s (the e2e files beside the
      // standard load, 2026-12-07); that start-up is not what this test is about.
      standbyNice: 0,
      onControl: (c) => (control = c),
      onEvent: stream.push,
      write: (b) => out.push(Buffer.from(b)),
      info: (s) => (info += s),
    }).finally(() => stream.end("the run returned"));
    const news = (event: string) => (e: { type: string }) => e.type === "news" && (e as EventOf<"news">).event === event;
    try {
      stdin.write("before the kill\n");
      const prepared = await stream.waitFor<EventOf<"news">>("the standby's log channel connected ahead of time (news \"prepared\")", news("prepared"));
      // The standby was started as one: a backup process without a primary to join.
      const spawn = stream.all("spawn").find((s) => s.pid === prepared.pid);
      expect(spawn, info).toMatchObject({ role: "backup", joiner: false });
      // The first backup never prepares: the standby is a second backup process.
      expect(stream.all("spawn").filter((s) => s.role === "backup")[0]?.pid, info).not.toBe(prepared.pid);
      const preparedUrl = /connected ahead of time to (ws:\/\/\S+)$/.exec(prepared.text)?.[1];
      expect(preparedUrl, prepared.text).toBeDefined();
      await stream.waitFor("the echo of the first line", () => stream.console() === "BEFORE THE KILL\n");

      let refused: string | undefined = "not tried";
      for (let attempt = 0; refused !== undefined && attempt < KILL_ATTEMPTS_MAX; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, KILL_RETRY_MS));
        refused = await control!.kill("primary");
      }
      expect(refused, info).toBeUndefined();

      // (Every backup says how it connected: the first backup too, over a new connection.)
      const joined = await stream.waitFor<EventOf<"news">>("the standby's join", (e) => (news("join-prepared")(e) || news("join-connect")(e)) && (e as EventOf<"news">).pid === prepared.pid);
      // The standby joins over the channel it opened ahead of time, to the host it was told
      // of then (the pair's backup, now live alone).
      expect(joined.event, `${joined.text}\n${info}`).toBe("join-prepared");
      expect(joined.text).toContain(`joining ${preparedUrl} `);
      // ... and the join completed: it restored the clone and the pair formed again.
      await stream.waitFor("the standby's restored clone", (e) => news("restored")(e) && e.type === "news" && e.pid === prepared.pid);
      await stream.waitFor("the new pair (a clone event after the join)", (e) => e.type === "clone" && stream.events.indexOf(e) > stream.events.indexOf(joined));
      const fault = stream.all("fault").find((f) => f.fault === "kill" && f.target === "primary");
      expect(fault, info).toBeDefined();
      expect(stream.events.indexOf(fault!)).toBeLessThan(stream.events.indexOf(joined));
      stdin.write("after the clone\n");
    } finally {
      // The input's end halts echo.s, and the run with it (also when a check above failed).
      stdin.end();
    }
    const r = await running;
    expect(r.code, info).toBe(0);
    expect(Buffer.concat(out).toString("latin1")).toBe("BEFORE THE KILL\nAFTER THE CLONE\n");
    expect(r.failovers.length, info).toBe(1);
    // At least that clone (also the first backup's, when it came after its primary stopped waiting).
    expect(r.clones.length, info).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
