// The standby backup's lower CPU priority during its start-up (src/host/standby-priority.ts):
// lowered only where it can be given back, and given back when it joins.
import { spawn } from "node:child_process";
import { getPriority } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { STANDBY_NICE, lowerStandbyPriority, mayRaisePriority, restoreStandbyPriority, threadPriorities } from "../src/host/standby-priority.js";

const kids: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const k of kids.splice(0)) k.kill("SIGKILL");
});

describe("standby priority", () => {
  it("lowers a standby to STANDBY_NICE and gives the launcher's priority back, where this process may; leaves it alone elsewhere", () => {
    // A child that only waits (stdin open): its priority is all that is looked at.
    const k = spawn(process.execPath, ["-e", "process.stdin.resume()"], { stdio: ["pipe", "ignore", "ignore"] });
    kids.push(k);
    const pid = k.pid!;
    // The child inherits this process's priority (0 unless the tests run under `nice`).
    const own = getPriority();
    expect(getPriority(pid)).toBe(own);
    const lowered = lowerStandbyPriority(pid);
    expect(lowered).toBe(mayRaisePriority() && STANDBY_NICE > own);
    if (lowered) {
      expect(getPriority(pid)).toBe(Math.max(STANDBY_NICE, own));
      expect(restoreStandbyPriority(pid)).toBe(true);
    }
    expect(getPriority(pid)).toBe(own);
  });

  it("gives the priority back to every thread, the ones started while it was lowered too", async () => {
    // libuv starts its thread pool at the first file read, here only after "go": so those
    // threads start while the child is lowered and inherit the lower priority, as a
    // standby's helper threads do (V8's and libuv's start after the launcher lowered it).
    const k = spawn(process.execPath, ["-e", `process.stdin.once("data", () => require("fs").readFile(process.execPath, () => console.log("ready")))`], { stdio: ["pipe", "pipe", "ignore"] });
    kids.push(k);
    const pid = k.pid!;
    const own = getPriority();
    const lowered = lowerStandbyPriority(pid);
    const ready = new Promise<void>((r) => k.stdout!.once("data", () => r()));
    k.stdin!.write("go\n");
    await ready;
    const during = threadPriorities(pid);
    // The pool's four threads at least, besides the main thread and V8's.
    expect(during.length).toBeGreaterThan(4);
    if (!lowered) return expect(during.every((n) => n === own)).toBe(true);
    expect(during.filter((n) => n === Math.max(STANDBY_NICE, own)).length).toBeGreaterThanOrEqual(4);
    expect(restoreStandbyPriority(pid)).toBe(true);
    expect(threadPriorities(pid)).toEqual(during.map(() => own));
  });

  it("lowers nothing when asked for a nice value at or below the launcher's own (ClusterOptions.standbyNice)", () => {
    const k = spawn(process.execPath, ["-e", "process.stdin.resume()"], { stdio: ["pipe", "ignore", "ignore"] });
    kids.push(k);
    const pid = k.pid!;
    const own = getPriority();
    expect(lowerStandbyPriority(pid, own)).toBe(false);
    expect(threadPriorities(pid).every((n) => n === own)).toBe(true);
  });

  it("says so when the process is gone", () => {
    expect(restoreStandbyPriority(2 ** 22 + 12345)).toBe(false);
  });
});
