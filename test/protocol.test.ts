// The log channel's protocol (src/ft/protocol.ts) and handshake (src/ft/handshake.ts):
// the one parser refuses every malformed message with a reason, a peer of another
// version is refused with both versions named, and the hello verdicts are the ones every
// shell (sockets, simulator, tests' cluster) carries out.
import { describe, expect, it } from "vitest";
import { answerHello, firstEpochRequest, helloMsg, onFirstEpochAnswer, resumeAnswerProblem } from "../src/ft/handshake.js";
import { FtNode } from "../src/ft/node.js";
import { reconnectGraceMs } from "../src/ft/node-failover.js";
import { LOG_PROTOCOL_VERSION, type PeerMsg, ProtocolError, parsePeerMsg } from "../src/ft/protocol.js";
import { fakeWorld } from "../src/replay/world.js";
import { guestImage } from "../src/sim/guest.js";
import { TestCluster } from "./support/cluster.js";

const V = LOG_PROTOCOL_VERSION;
const bytes = new Uint8Array([1, 2, 3]);

describe("parsePeerMsg", () => {
  const good: PeerMsg[] = [
    { t: "hello", v: V, host: "h", cluster: "c" },
    { t: "hello", v: V, host: "h", cluster: "c", resume: 7 },
    { t: "start", v: V, epoch: 1, image: bytes, memBytes: 65536, stackBytes: 4096, program: "p", disk: undefined },
    { t: "clone-mem", index: 0, bytes },
    { t: "clone-disk", index: 2, bytes },
    { t: "restored", icount: 5, lsn: 3 },
    { t: "paired", epoch: 2 },
    { t: "log", events: [[1, 10, 0, null]], released: 4 },
    { t: "ack", lsn: 1, icount: 10 },
    { t: "hb", icount: 1, lsn: 1, idle: true },
    { t: "hb", icount: 1, sentLsn: 9 },
    { t: "bye", reason: "halted" },
    { t: "resumed", lsn: 4 },
  ];
  it.each(good.map((m) => [m.t, m]))("takes a well-formed %s as it is", (_t, m) => {
    expect(parsePeerMsg(m)).toEqual(m);
  });

  it("drops fields the protocol does not know, so nothing unchecked reaches the node", () => {
    expect(parsePeerMsg({ t: "ack", lsn: 1, icount: 2, extra: "x" } as PeerMsg)).toEqual({ t: "ack", lsn: 1, icount: 2 });
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["unknown type", { t: "nonsense" }, /unknown message "nonsense" on the log channel/],
    ["ack without lsn", { t: "ack", icount: 1 }, /"ack": lsn must be a non-negative integer, got nothing/],
    ["negative lsn", { t: "ack", lsn: -1, icount: 1 }, /lsn must be a non-negative integer, got -1/],
    ["fractional icount", { t: "hb", icount: 1.5 }, /icount must be a non-negative integer, got 1.5/],
    ["idle not boolean", { t: "hb", icount: 1, idle: "yes" }, /idle must be true or false, got "yes"/],
    ["events not a list", { t: "log", events: {} }, /"log": events must be a list, got a map/],
    ["chunk without bytes", { t: "clone-mem", index: 0, bytes: "abc" }, /"clone-mem": bytes must be bytes, got "abc"/],
    ["hello without host", { t: "hello", v: V, cluster: "c" }, /"hello": host must be a string, got nothing/],
    ["start without image", { t: "start", v: V, epoch: 1, memBytes: 1, stackBytes: 1, program: "p" }, /"start": image must be bytes/],
    ["hello of another version", { t: "hello", v: V + 1, host: "h", cluster: "c" }, new RegExp(`peer speaks log protocol version ${V + 1}, this host speaks version ${V}`)],
    ["start of an old ftvm", { t: "start", epoch: 1 }, new RegExp(`version \\(none: an older ftvm\\), this host speaks version ${V}`)],
    ["clone of another version", { t: "clone", v: 2, epoch: 1 }, /version 2, this host speaks/],
  ];
  it.each(bad)("refuses %s with the reason", (_name, m, why) => {
    expect(() => parsePeerMsg(m as unknown as PeerMsg)).toThrow(ProtocolError);
    expect(() => parsePeerMsg(m as unknown as PeerMsg)).toThrow(why);
  });
});

describe("the handshake", () => {
  const GUEST = guestImage({ lines: 20_000, periodUs: 300, waitEvery: 8 });
  const node = (id: string) => new FtNode({ id, heartbeatMs: 25, timeoutMs: 150, world: fakeWorld(1, 1, 20), sliceIcount: 3000 });

  it("a host that has not started takes a first backup only while its first claim waits for one", () => {
    const n = node("P");
    expect(answerHello(n, helloMsg("B", "c1"), { cluster: "c1" }, 0)).toEqual({ kind: "refuse", code: "refused", reason: "this host is not a primary" });
    expect(answerHello(n, helloMsg("B", "c1"), { cluster: "c1", firstBackup: () => undefined }, 0)).toEqual({ kind: "first", host: "B" });
    expect(answerHello(n, helloMsg("B", "c1"), { cluster: "c1", firstBackup: () => "this primary already has its backup" }, 0)).toMatchObject({ kind: "refuse", reason: "this primary already has its backup" });
  });

  it("refuses another cluster, an exiting host, a malformed first message and another version, each with its reason", () => {
    const n = node("P");
    expect(answerHello(n, helloMsg("B", "c2"), { cluster: "c1" }, 0)).toEqual({ kind: "refuse", code: "refused", reason: "backup B belongs to cluster c2, this one to cluster c1" });
    expect(answerHello(n, helloMsg("B", "c1"), { cluster: "c1", exiting: true }, 0)).toEqual({ kind: "refuse", code: "refused", reason: "this host is exiting" });
    expect(answerHello(n, { t: "ack" }, { cluster: "c1" }, 0)).toEqual({ kind: "refuse", code: "malformed", reason: 'expected hello, got "ack"' });
    expect(answerHello(n, { t: "hello", v: V, host: 5 } as never, { cluster: "c1" }, 0)).toMatchObject({ kind: "refuse", code: "malformed" });
    expect(answerHello(n, { t: "hello", v: 1, host: "B", cluster: "c1" } as never, { cluster: "c1" }, 0)).toMatchObject({ kind: "refuse", code: "refused", reason: expect.stringMatching(/version 1, this host speaks version/) });
  });

  it("a primary running alone takes a joiner, then refuses a second one; a resume from a stranger is refused", () => {
    const c = new TestCluster();
    c.add("P", 1);
    c.startPrimary("P", { program: "g", image: GUEST });
    const p = c.nodes.get("P")!;
    expect(p.role).toBe("alone");
    expect(answerHello(p, helloMsg("J", "local"), { cluster: "local" }, 0)).toEqual({ kind: "join", host: "J" });
    expect(answerHello(p, helloMsg("K", "local"), { cluster: "local" }, 0)).toEqual({ kind: "refuse", code: "refused", reason: "cannot join: a clone to J is already under way" });
    expect(answerHello(p, helloMsg("K", "local", 3), { cluster: "local" }, 0)).toMatchObject({ kind: "refuse", reason: expect.stringMatching(/^cannot resume: /) });
  });

  it("the paired backup's resume is taken back with the log it missed", () => {
    const c = new TestCluster();
    c.add("P", 1);
    c.add("B", 2);
    c.startPrimary("P", { program: "g", image: GUEST }, "B");
    for (let i = 0; i < 30; i++) c.round();
    const p = c.nodes.get("P")!;
    c.exec("P", p.onPeerClosed("dropped", c.nowMs));
    // The backup comes back with what it has acknowledged; an older position is no longer held.
    const lsn = p.plog!.ackedLsn;
    expect(lsn).toBeGreaterThan(0);
    expect(answerHello(p, helloMsg("B", "local", lsn - 1), { cluster: "local" }, c.nowMs)).toMatchObject({ kind: "refuse", reason: expect.stringMatching(/no longer held here/) });
    const v = answerHello(p, helloMsg("B", "local", lsn), { cluster: "local" }, c.nowMs);
    expect(v).toMatchObject({ kind: "resume", host: "B", lsn });
    if (v.kind !== "resume") throw new Error("unreachable");
    expect(v.actions[0]).toEqual({ kind: "send", msg: { t: "resumed", lsn } });
    expect(resumeAnswerProblem({ t: "resumed" })).toBeUndefined();
    expect(resumeAnswerProblem({ t: "log" })).toBe('expected resumed, got "log"');
  });

  it("the first claim: the epoch after the arbiter's, with the waiting backup; refused, the host halts with the arbiter's reason", () => {
    expect(firstEpochRequest(4, "P", "B")).toEqual({ epoch: 5, host: "P", members: ["P", "B"] });
    expect(firstEpochRequest(0, "P")).toEqual({ epoch: 1, host: "P", members: ["P"] });
    const n = node("P");
    const req = firstEpochRequest(0, "P", "B");
    const refused = onFirstEpochAnswer(n, req, { granted: false, state: { cluster: "c", epoch: 3, members: [], holder: "X" }, reason: "epoch 1 is not current + 1" }, { program: "g", image: GUEST }, 0);
    expect(refused.granted).toBe(false);
    expect(refused.actions.at(-1)).toEqual({ kind: "halt", reason: "epoch 1 is not current + 1", code: 3, cause: "lost-election" });
    const granted = onFirstEpochAnswer(n, req, { granted: true, state: { cluster: "c", epoch: 1, members: ["P", "B"], holder: "P" } }, { program: "g", image: GUEST }, 0);
    expect(granted.granted).toBe(true);
    expect(n.role).toBe("primary");
    expect(granted.actions[0]).toMatchObject({ kind: "send", msg: { t: "start", v: V, epoch: 1 } });
  });
});

describe("invariants", () => {
  it("hold through a run of the tests' cluster, and a broken one names the role, epoch and icount", () => {
    const c = new TestCluster();
    c.add("P", 1);
    c.add("B", 2);
    c.startPrimary("P", { program: "g", image: guestImage({ lines: 100, periodUs: 300, waitEvery: 8 }) }, "B");
    c.runToEnd(20_000);
    const p = c.nodes.get("P")!;
    // Break one on purpose: a primary's log acknowledged past what it sent.
    const n = new FtNode({ id: "X", heartbeatMs: 25, timeoutMs: 150, world: fakeWorld(1, 1, 20) });
    n.startPrimary({ program: "g", image: guestImage({ lines: 10, periodUs: 300, waitEvery: 8 }), epoch: 1, withBackup: true }, 0);
    n.invariants();
    n.plog!.ackedLsn = n.plog!.sentLsn + 5;
    expect(() => n.invariants()).toThrow(/invariant broken in role primary \(epoch 1, icount 0\): the backup acknowledged lsn 5, only 0 was sent/);
    expect(p.role).toBe("finished");
  });
});

describe("a paired primary whose log channel closed", () => {
  const GUEST = guestImage({ lines: 20_000, periodUs: 300, waitEvery: 8 });
  /** A pair that has run a while; then P's channel closes (by the backup's side, or by P itself), and P alone ticks every ms for `ms`. */
  function closeAndWait(closedHere: boolean, ms: number): { role: string; graceMs: number } {
    // The hosts' default detector floor (1000 ms), so the grace (a quarter of it) is shorter.
    const c = new TestCluster({ nodeConfig: () => ({ timeoutMs: 1000 }) });
    c.add("P", 1);
    c.add("B", 2);
    c.startPrimary("P", { program: "g", image: GUEST }, "B");
    for (let i = 0; i < 30; i++) c.round();
    const p = c.nodes.get("P")!;
    expect(p.role).toBe("primary");
    p.onPeerClosed("terminated", c.nowMs, closedHere);
    const t0 = c.nowMs;
    for (let t = t0 + 1; t <= t0 + ms; t++) p.tick(t);
    return { role: p.role, graceMs: reconnectGraceMs(p) };
  }

  it("closed from the other side, calls its backup failed once the reconnect grace passes (most likely the backup's process died)", () => {
    const r = closeAndWait(false, 400);
    expect(r.graceMs).toBeLessThan(400);
    expect(r.role).toBe("electing");
  });

  it("closed by itself (a dropped channel), leaves it to the failure detector: no failure within the grace, nor long after it while under the detector's floor", () => {
    expect(closeAndWait(true, 400).role).toBe("primary");
    expect(closeAndWait(true, 900).role).toBe("primary");
    // The detector still decides: past its floor (timeoutMs 1000) and phi, the backup is failed.
    expect(closeAndWait(true, 3000).role).toBe("electing");
  });
});
