// The arbiter that never forgets (issue 16): its state file (shape, durability before a
// grant is answered, a restart with and without it), the cluster id every answer carries,
// and clients that refuse an arbiter of another cluster.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArbiterClient, WrongClusterError } from "../src/arbiter/client.js";
import { ARBITER_STATE_SHAPE, HOST_ID_CHARS_MAX, MEMBERS_MAX, formatArbiterState, initialState, parseArbiterState, testAndSet } from "../src/arbiter/core.js";
import { ArbiterStateError, readArbiterState, startArbiter } from "../src/arbiter/server.js";
import { UsageError } from "../src/cli/args.js";
import { arbiterCommand } from "../src/cli/hosts.js";
import { setLogger } from "../src/transport/channel.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
setLogger(() => undefined);
const dir = mkdtempSync(join(tmpdir(), "ftvm-arbiter-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `state-${++files}.json`);

describe("arbiter core: the cluster id", () => {
  it("grants in its own cluster, refuses a request of another naming both ids, and a request without one claims in the arbiter's", () => {
    const s0 = initialState("aaaa");
    const r1 = testAndSet(s0, { epoch: 1, host: "p", members: ["p", "b"], cluster: "aaaa" });
    expect(r1.result).toMatchObject({ granted: true, state: { cluster: "aaaa", epoch: 1, holder: "p" } });
    const other = testAndSet(r1.state, { epoch: 2, host: "b", members: ["b"], cluster: "bbbb" });
    expect(other.result).toEqual({ granted: false, state: r1.state, reason: "host b belongs to cluster bbbb, this one to cluster aaaa" });
    expect(testAndSet(r1.state, { epoch: 2, host: "b", members: ["b"] }).result).toMatchObject({ granted: true, state: { cluster: "aaaa", epoch: 2 } });
  });

  it("refuses a request whose state the file could not hold (too many members, empty or huge host ids): every grant reads back", () => {
    const s0 = initialState("aaaa");
    const many = Array.from({ length: MEMBERS_MAX + 1 }, (_, i) => `h${i}`);
    expect(testAndSet(s0, { epoch: 1, host: "h0", members: many }).result).toMatchObject({ granted: false, reason: expect.stringMatching(/malformed request/) });
    expect(testAndSet(s0, { epoch: 1, host: "", members: [""] }).result.granted).toBe(false);
    expect(testAndSet(s0, { epoch: 1, host: "x".repeat(HOST_ID_CHARS_MAX + 1), members: ["x".repeat(HOST_ID_CHARS_MAX + 1)] }).result.granted).toBe(false);
    const ok = testAndSet(s0, { epoch: 1, host: "h0", members: many.slice(0, MEMBERS_MAX) });
    expect(ok.result.granted).toBe(true);
    expect(parseArbiterState(formatArbiterState(ok.state))).toEqual(ok.state);
  });

  it("parses a valid state and refuses every wrong shape with what was expected", () => {
    const s = { cluster: "c0ffee", epoch: 3, members: ["p", "b"], holder: "p" };
    expect(parseArbiterState(formatArbiterState(s))).toEqual(s);
    const cases: [string, RegExp][] = [
      ['{"epoch":5,"members":7}', /version undefined/],
      ["null", /holds null, not an object/],
      ["{not json", /not JSON/],
      ["[1,2]", /an array/],
      ['{"version":1,"cluster":"","epoch":0,"members":[],"holder":""}', /"cluster": a cluster id is/],
      ['{"version":1,"cluster":"c","epoch":-1,"members":[],"holder":""}', /"epoch" is -1/],
      ['{"version":1,"cluster":"c","epoch":2,"members":7,"holder":"p"}', /"members" is 7/],
      ['{"version":1,"cluster":"c","epoch":2,"members":["p"],"holder":"q"}', /holder of epoch 2 must be one of its members/],
      ['{"version":1,"cluster":"c","epoch":0,"members":[],"holder":"","x":1}', /unknown field x/],
    ];
    for (const [text, why] of cases) {
      const r = parseArbiterState(text);
      expect(typeof r, text).toBe("string");
      expect(r, text).toMatch(why);
      expect(r, text).toContain(ARBITER_STATE_SHAPE);
    }
  });
});

describe("arbiter server: state on disk", () => {
  const secret = "s3cret";

  it("founds a cluster in a new file, writes every grant before answering it, and remembers it all after a restart", async () => {
    const file = freshPath();
    const a = await startArbiter({ secret, stateFile: file, newClusterId: () => "first" });
    expect(a.created).toBe(true);
    // The new cluster is on disk before anybody hears of it.
    expect(readArbiterState(file)).toEqual({ cluster: "first", epoch: 0, members: [], holder: "" });
    const c = new ArbiterClient(a.url, secret);
    expect((await c.state()).cluster).toBe("first");
    expect(c.cluster).toBe("first");
    const r = await c.testAndSet({ epoch: 1, host: "p", members: ["p", "b"] });
    expect(r.granted).toBe(true);
    // The answer came after the file held the grant.
    expect(readArbiterState(file)).toMatchObject({ epoch: 1, holder: "p", members: ["p", "b"] });
    expect(existsSync(`${file}.tmp`)).toBe(false);
    await a.close();
    c.close();

    // Restarted with its file (a new id would be drawn only for a new file).
    const b = await startArbiter({ secret, stateFile: file, newClusterId: () => "never-used" });
    expect(b.created).toBe(false);
    expect(b.state()).toEqual({ cluster: "first", epoch: 1, members: ["p", "b"], holder: "p" });
    const c2 = new ArbiterClient(b.url, secret, "first");
    // The same epoch to a fresh host is refused; the holder's retry is still granted (idempotent).
    expect(await c2.testAndSet({ epoch: 1, host: "fresh", members: ["fresh"] })).toMatchObject({ granted: false, reason: expect.stringMatching(/already taken/) });
    expect(await c2.testAndSet({ epoch: 1, host: "p", members: ["p", "b"] })).toMatchObject({ granted: true });
    expect(await c2.testAndSet({ epoch: 2, host: "b", members: ["b"] })).toMatchObject({ granted: true, state: { cluster: "first", epoch: 2 } });
    c2.close();
    await b.close();
  });

  it("an arbiter restarted without its file founds a new cluster, and a client of the old one refuses it (and does not retry)", async () => {
    const a = await startArbiter({ secret, stateFile: freshPath(), newClusterId: () => "old" });
    const host = new ArbiterClient(a.url, secret);
    await host.testAndSet({ epoch: 1, host: "p", members: ["p", "b"] });
    expect(host.cluster).toBe("old");
    await a.close();
    const port = a.port;
    const forgetful = await startArbiter({ secret, port, stateFile: freshPath(), newClusterId: () => "new" });
    try {
      expect(forgetful.state()).toMatchObject({ cluster: "new", epoch: 0 });
      // (The first request may meet the old connection's close: the patient call asks again.)
      const err = await host.statePatiently().catch((e: Error) => e);
      expect(err).toBeInstanceOf(WrongClusterError);
      expect((err as Error).message).toMatch(/the arbiter at ws:\/\/127\.0\.0\.1:\d+ belongs to cluster new, this one to cluster old/);
      // Patient test-and-set ends at once: no amount of waiting makes that arbiter ours.
      await expect(host.testAndSetPatiently({ epoch: 2, host: "b", members: ["b"] })).rejects.toBeInstanceOf(WrongClusterError);
      // And the forgetful arbiter granted nothing to the old cluster's hosts.
      expect(forgetful.state()).toMatchObject({ cluster: "new", epoch: 0 });
    } finally {
      host.close();
      await forgetful.close();
    }
  });

  it("a grant that cannot be made durable is not given", async () => {
    const sub = mkdtempSync(join(dir, "gone-"));
    const file = join(sub, "state.json");
    const a = await startArbiter({ secret, stateFile: file, newClusterId: () => "c" });
    const c = new ArbiterClient(a.url, secret);
    try {
      rmSync(sub, { recursive: true, force: true });
      await expect(c.testAndSet({ epoch: 1, host: "p", members: ["p"] })).rejects.toThrow(/cannot make epoch 1 durable .*; not granted/);
      expect(a.state().epoch).toBe(0);
    } finally {
      c.close();
      await a.close();
    }
  });

  it("refuses at start a state file of the wrong shape, saying what was expected", async () => {
    for (const text of ['{"epoch":5,"members":7}', "null", "{bad json"]) {
      const file = freshPath();
      writeFileSync(file, text);
      await expect(startArbiter({ secret, stateFile: file, newClusterId: () => "x" })).rejects.toThrow(ArbiterStateError);
      await expect(startArbiter({ secret, stateFile: file, newClusterId: () => "x" })).rejects.toThrow(new RegExp(`arbiter state ${file}: .*expected`));
      // Untouched: the operator's file is evidence, not something to overwrite.
      expect(readFileSync(file, "utf8")).toBe(text);
    }
  });
});

describe("ftvm arbiter", () => {
  it("requires --state, and refuses a bad state file as a usage error (exit 2) before listening", async () => {
    await expect(Promise.resolve().then(() => arbiterCommand.run(["--secret", "s"]))).rejects.toThrow(/--state is required/);
    const file = freshPath();
    writeFileSync(file, '{"epoch":5,"members":7}');
    await expect(Promise.resolve().then(() => arbiterCommand.run(["--secret", "s", "--state", file]))).rejects.toThrow(UsageError);
    // The real process: exit 2 with the reason, no stack trace, for each bad shape.
    for (const text of ['{"epoch":5,"members":7}', "null", "{bad json"]) {
      writeFileSync(file, text);
      const r = spawnSync(process.execPath, [...ftvmArgs(), "arbiter", "--secret", "s", "--state", file], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^ftvm: arbiter state .*expected \{"version":1,"cluster"/);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(r.stdout).not.toMatch(/listening/);
    }
  });
});
