// Cloning a backup into a running primary, on the pure FtNode: a tiny in-memory cluster
// (ordered channels, the arbiter's testAndSet, the sink's SinkState) drives a primary that
// runs alone, a new backup that joins it from a snapshot, and a failover to that backup.
import { describe, expect, it } from "vitest";
import { testAndSet } from "../src/arbiter/core.js";
import { CLONE_CHUNK_BYTES } from "../src/ft/clone.js";
import type { Action, Msg } from "../src/ft/node.js";
import type { FtNode } from "../src/ft/node.js";
import { guestImage } from "../src/sim/guest.js";
import { TestCluster } from "./support/cluster.js";

type Cluster = TestCluster;

const GUEST = { lines: 600, periodUs: 300, waitEvery: 8 };

/** Each guest line starts with its number; the timer's "*" may land anywhere. Returns the line numbers in order. */
function lineNumbers(text: string): number[] {
  return text
    .replaceAll("*", "")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => Number(/^(\d+) /.exec(l)?.[1] ?? NaN));
}

function startAlone(c: Cluster, id: string): FtNode {
  const p = c.add(id, 11);
  c.startPrimary(id, { program: "sim-guest", image: guestImage(GUEST), memBytes: 3 * CLONE_CHUNK_BYTES + 4096 });
  return p;
}

function join(c: Cluster, primary: string, id: string, seed: number): FtNode {
  return c.join(primary, id, seed);
}

/** Runs rounds until the primary has sent a clone (it first touches its snapshot buffer, a piece per run). */
function untilCloneSent(c: Cluster): void {
  const before = c.cloneDigests.length;
  for (let i = 0; i < 20 && c.cloneDigests.length === before; i++) c.round();
  expect(c.cloneDigests.length).toBe(before + 1);
}

/** Runs rounds until the joining host reports that it is paired (or gives up). */
function pairUp(c: Cluster, id: string): void {
  for (let i = 0; i < 20 && !c.news.some((n) => n.host === id && n.data.event === "paired-backup"); i++) c.round();
}

describe("cloning a backup into a running primary", () => {
  it("restores the primary's exact state, pairs in a new epoch, and takes over with continuous output", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 8; i++) c.round();
    expect(p.role).toBe("alone");
    const b = join(c, "P", "B", 22);
    pairUp(c, "B");
    // The backup restored the copy taken at S: same registers and memory, same icount.
    expect(c.cloneDigests).toHaveLength(1);
    const s = c.cloneDigests[0];
    expect(c.news.find((n) => n.host === "B" && n.data.event === "restored")?.data.icount).toBe(s.icount);
    expect(b.paired).toBe(true);
    expect(b.epoch).toBe(2);
    expect(p.epoch).toBe(2);
    expect(c.arbiter).toMatchObject({ epoch: 2, holder: "P", members: ["P", "B"] });
    expect(c.news.find((n) => n.host === "P" && n.data.event === "paired")?.data).toMatchObject({ icount: s.icount, memBytes: 3 * CLONE_CHUNK_BYTES + 4096 });

    for (let i = 0; i < 30; i++) c.round();
    c.crash("P");
    for (let i = 0; i < 5000 && b.role !== "finished"; i++) c.round();
    expect(b.role).toBe("finished");
    expect(b.epoch).toBe(3);
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: GUEST.lines }, (_, i) => i + 1));
  });

  it("a joining backup's status counts the clone's bytes as they arrive (the launcher's progress line), and stops once restored", () => {
    const c = new TestCluster();
    startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    const seen: (string | undefined)[] = [];
    const onPeerMessage = b.onPeerMessage.bind(b);
    b.onPeerMessage = (m, nowMs) => {
      if (m.t === "clone-mem") {
        const s = b.status(nowMs);
        seen.push(s.clone ? `${s.role} ${s.clone.bytes}/${s.clone.totalBytes}` : undefined);
      }
      return onPeerMessage(m, nowMs);
    };
    pairUp(c, "B");
    const total = 3 * CLONE_CHUNK_BYTES + 4096;
    expect(seen).toEqual([0, 1, 2, 3].map((k) => `joining ${k * CLONE_CHUNK_BYTES}/${total}`));
    expect(b.paired).toBe(true);
    expect(b.status(0).clone).toBeUndefined();
    expect(c.nodes.get("P")!.status(0).clone).toBeUndefined();
  });

  it("checks the restored state: a backup whose replay diverges from the clone halts instead of serving", () => {
    const c = new TestCluster();
    startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    // Corrupt one register of the snapshot in flight: replay must notice at the next digest or input.
    c.tamper = (m) => {
      if (m.t === "clone") (m.machine as { regs: number[] }).regs[7] ^= 1;
    };
    for (let i = 0; i < 3000 && b.role !== "halted" && !c.dead.has("B"); i++) c.round();
    expect(c.dead.has("B")).toBe(true);
    expect(c.news.find((n) => n.host === "B" && n.data.event === "halt")?.text).toMatch(/diverged/);
  });

  it("a clone whose backup dies before the pair's epoch leaves the primary alone in its epoch, output intact", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    join(c, "P", "B", 22);
    untilCloneSent(c); // the clone goes out
    c.crash("B"); // before it could restore and answer
    expect(p.role).toBe("alone");
    expect(p.epoch).toBe(1);
    // And it can clone again to another host.
    const b2 = join(c, "P", "C", 33);
    pairUp(c, "C");
    expect(b2.paired).toBe(true);
    expect(c.arbiter).toMatchObject({ epoch: 2, members: ["P", "C"] });
    for (let i = 0; i < 5000 && p.role !== "finished"; i++) c.round();
    expect(p.role).toBe("finished");
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: GUEST.lines }, (_, i) => i + 1));
  });

  it("a joining backup whose primary dies before the pair's epoch may not serve", () => {
    const c = new TestCluster();
    startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    untilCloneSent(c); // the clone goes out; B restores it and answers, P has not yet heard
    expect(b.role).toBe("backup");
    c.crash("P");
    // It asks again for a while (the pair's epoch might still be granted), then gives up.
    for (let i = 0; i < 200; i++) c.round();
    expect(c.dead.has("B")).toBe(false);
    for (let i = 0; i < 20_000 && !c.dead.has("B"); i++) c.round();
    expect(c.dead.has("B")).toBe(true);
    expect(b.paired).toBe(false);
    expect(c.arbiter.epoch).toBe(1);
  });

  it("catch-up: a dropped channel loses messages in flight; the backup reconnects, gets the log it missed, and no failover happens", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    pairUp(c, "B");
    expect(b.paired).toBe(true);
    for (let i = 0; i < 20; i++) c.round();
    // The primary runs on while the channel is down: what it sends is lost.
    const lost: Msg[] = [];
    c.tamper = (m) => void lost.push(m);
    const inFlight = c.inbox.get("B")!.splice(0);
    c.peerOf.delete("P");
    c.exec("P", p.onPeerClosed("dropped", c.nowMs));
    const closed = b.onPeerClosed("dropped", c.nowMs);
    expect(closed).toEqual([{ kind: "reconnect", lsn: expect.any(Number) }]);
    const lsn = (closed[0] as { lsn: number }).lsn;
    for (let i = 0; i < 5; i++) c.round();
    c.tamper = undefined;
    expect(lost.some((m) => m.t === "log") || inFlight.some((m) => m.t === "log")).toBe(true);
    // The backup comes back with what it has; the primary sends the rest again.
    const resumed = p.acceptResume("B", lsn, c.nowMs);
    expect(Array.isArray(resumed)).toBe(true);
    c.peerOf.set("P", "B");
    // The shell's handshake consumes the first message ("resumed"); the log follows on the channel.
    const [hello, ...rest] = resumed as Action[];
    expect(hello).toMatchObject({ kind: "send", msg: { t: "resumed", lsn } });
    c.exec("P", rest);
    c.exec("B", b.onResumed(c.nowMs));
    expect(c.news.find((n) => n.host === "P" && n.data.event === "resumed")?.data.resent).toBeGreaterThan(0);
    for (let i = 0; i < 5000 && p.role !== "finished"; i++) c.round();
    expect(p.role).toBe("finished");
    expect(p.epoch).toBe(2);
    expect(c.news.some((n) => n.data.event === "live" || n.data.event === "alone")).toBe(false);
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: GUEST.lines }, (_, i) => i + 1));
    // A stranger, or a backup asking for log the primary no longer holds, is refused with a reason.
    expect(p.acceptResume("X", 0, c.nowMs)).toMatch(/not a primary waiting|not this primary's backup/);
  });

  it("catch-up refused: a backup that comes back after its primary went on alone loses the arbiter's decision and halts", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    pairUp(c, "B");
    c.peerOf.delete("P");
    c.peerOf.delete("B");
    c.exec("P", p.onPeerClosed("dropped", c.nowMs));
    const closed = b.onPeerClosed("dropped", c.nowMs);
    // The backup stays away longer than the primary's failure timeout: the primary goes on alone.
    for (let i = 0; i < 400 && p.epoch !== 3; i++) {
      c.nowMs += 1;
      c.exec("P", p.tick(c.nowMs));
      c.exec("P", p.run(c.nowMs).actions);
    }
    expect(p.epoch).toBe(3);
    expect(c.news.some((n) => n.host === "P" && n.data.event === "alone")).toBe(true);
    const why = p.acceptResume("B", (closed[0] as { lsn: number }).lsn, c.nowMs);
    expect(why).toMatch(/no longer paired|not a primary waiting/);
    // The backup lets the arbiter decide: the primary already holds epoch 3 without it.
    c.exec("B", b.onResumeRefused(why as string, c.nowMs));
    for (let i = 0; i < 20 && !c.dead.has("B"); i++) c.round();
    expect(c.dead.has("B")).toBe(true);
    expect(c.news.find((n) => n.host === "B" && n.data.event === "halt")?.text).toMatch(/lost the test-and-set for epoch 3 .*already taken/);
    expect(c.arbiter).toMatchObject({ epoch: 3, holder: "P" });
  });

  it("output leaves while a joiner copies (it is no member yet); the pair's epoch waits for it to hold the log of all that output", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    // The joiner stalls (a busy machine) before it has even read the clone: before issue
    // 11 every output waited for its acknowledgements meanwhile.
    c.stalled.add("B");
    untilCloneSent(c);
    const before = c.sink.delivered;
    // 40 ms: well within the failure detector's floor (150 ms here), so the joiner stays.
    for (let i = 0; i < 40; i++) c.round();
    expect(c.sink.delivered).toBeGreaterThan(before);
    expect(c.arbiter.epoch).toBe(1);
    // It wakes, restores the copy and catches up; only then is the pair's epoch claimed,
    // and a failover to it right after keeps the output exact.
    c.stalled.delete("B");
    for (let i = 0; i < 2000 && !(b.role === "backup" && b.paired); i++) c.round();
    expect(b.role).toBe("backup");
    expect(b.paired).toBe(true);
    expect(c.arbiter).toMatchObject({ epoch: 2, members: ["P", "B"] });
    c.crash("P");
    for (let i = 0; i < 5000 && b.role !== "finished"; i++) c.round();
    expect(b.role).toBe("finished");
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: GUEST.lines }, (_, i) => i + 1));
  });

  it("a primary told to crash only when paired waits at its crash icount for a backup, then crashes there", () => {
    const c = new TestCluster();
    const p = c.add("P", 11, { crashAtIcount: 5000, crashOnlyPaired: true });
    c.arbiter = testAndSet(c.arbiter, { epoch: 1, host: "P", members: ["P"] }).state;
    c.exec("P", p.startPrimary({ program: "sim-guest", image: guestImage(GUEST), epoch: 1, withBackup: false, memBytes: 3 * CLONE_CHUNK_BYTES + 4096 }, c.nowMs));
    for (let i = 0; i < 300; i++) c.round();
    // Alone: it stopped at the crash icount and did not crash.
    expect(p.machine.icount).toBe(5000);
    expect(c.crashes).toEqual([]);
    join(c, "P", "B", 22);
    for (let i = 0; i < 300 && c.crashes.length === 0; i++) c.round();
    expect(c.crashes).toEqual([{ host: "P", icount: 5000 }]);
    expect(c.arbiter).toMatchObject({ epoch: 2, members: ["P", "B"] });
  });

  it("a primary waiting at its crash icount skips the crash after CRASH_WAIT_MAX_MS without a backup, says so, and runs the guest to its end", async () => {
    const { CRASH_WAIT_MAX_MS } = await import("../src/ft/node.js");
    const c = new TestCluster();
    const p = c.add("P", 11, { crashAtIcount: 5000, crashOnlyPaired: true });
    c.arbiter = testAndSet(c.arbiter, { epoch: 1, host: "P", members: ["P"] }).state;
    c.exec("P", p.startPrimary({ program: "sim-guest", image: guestImage(GUEST), epoch: 1, withBackup: false }, c.nowMs));
    for (let i = 0; i < 300; i++) c.round();
    expect(p.machine.icount).toBe(5000);
    // Still waiting just short of the bound (rounds are 1 ms).
    while (c.nowMs < CRASH_WAIT_MAX_MS) c.round();
    expect(p.machine.icount).toBe(5000);
    expect(c.news.filter((n) => n.data.event === "crash-skipped")).toEqual([]);
    for (let i = 0; i < 20_000 && p.role !== "finished"; i++) c.round();
    expect(c.crashes).toEqual([]);
    expect(c.news.filter((n) => n.data.event === "crash-skipped").map((n) => n.text)).toEqual([
      `the scripted crash at icount 5000 is skipped: no backup paired within ${CRASH_WAIT_MAX_MS / 1000} s of reaching it`,
    ]);
    expect(p.role).toBe("finished");
    expect(p.machine.icount).toBeGreaterThan(5000);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: GUEST.lines }, (_, i) => i + 1));
  });

  it("a primary does not throttle for a joiner that is still copying: output flows as alone", () => {
    // A low lag threshold: a primary throttling for its joiner would sleep within ~100 ms.
    // A long failure timeout: the joiner stalls mid-copy (a starved process) without being declared failed.
    const c = new TestCluster();
    const long = { ...GUEST, lines: 4000 };
    const p = c.add("P", 11, { lagThresholdMs: 20, timeoutMs: 60_000 });
    c.startPrimary("P", { program: "sim-guest", image: guestImage(long), memBytes: 3 * CLONE_CHUNK_BYTES + 4096 });
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    c.stalled.add("B");
    untilCloneSent(c);
    const levels: number[] = [];
    const before = c.sink.delivered;
    for (let i = 0; i < 400; i++) {
      c.round();
      levels.push(p.inspect().throttleLevel);
    }
    expect(b.role).toBe("idle"); // it has not even read the clone's header
    expect(p.role).toBe("primary");
    expect(Math.max(...levels)).toBe(0);
    expect(c.sink.delivered).toBeGreaterThan(before); // released as alone while the joiner copies
    // The joiner wakes, restores and pairs; the guest's output arrives whole and in order.
    c.stalled.delete("B");
    for (let i = 0; i < 2000 && !(b.role === "backup" && b.paired); i++) c.round();
    expect(b.role).toBe("backup");
    expect(b.paired).toBe(true);
    for (let i = 0; i < 20_000 && p.role !== "finished"; i++) c.round();
    expect(p.role).toBe("finished");
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: long.lines }, (_, i) => i + 1));
  });

  it("after the joiner restored, output goes on as alone until it has the copy's log; the claim covers every byte released", () => {
    const c = new TestCluster();
    const long = { ...GUEST, lines: 4000 };
    const p = c.add("P", 11);
    c.startPrimary("P", { program: "sim-guest", image: guestImage(long), memBytes: 3 * CLONE_CHUNK_BYTES + 4096 });
    for (let i = 0; i < 5; i++) c.round();
    const b = join(c, "P", "B", 22);
    // The log sent while the joiner copied is still on its way when it has restored: it
    // arrives STALL_MS later (a starved process, a full socket).
    const STALL_MS = 40;
    let late: Msg[] | undefined;
    let lateUntil = 0;
    c.onSend = (from, m) => {
      if (from === "B" && m.t === "restored") {
        late = c.inbox.get("B")!.splice(0);
        lateUntil = c.nowMs + STALL_MS;
      }
    };
    // Every chunk the primary releases, with its icount and the log its joiner had acknowledged then.
    const released: { icount: number; acked: number; restoredSeen: boolean }[] = [];
    const gate = p.gate;
    const releaseAll = gate.releaseAll.bind(gate);
    const releaseTo = gate.release.bind(gate);
    const note = <T extends { icount: number }>(chunks: T[]): T[] => {
      for (const ch of chunks) released.push({ icount: ch.icount, acked: p.plog?.ackedIcount ?? 0, restoredSeen: p.join?.restoredLsn !== undefined });
      return chunks;
    };
    gate.releaseAll = () => note(releaseAll());
    gate.release = (icount: number) => note(releaseTo(icount));
    c.deferTas = [];
    for (let i = 0; i < 3000 && c.deferTas.length === 0; i++) {
      if (late && c.nowMs >= lateUntil) {
        c.inbox.get("B")!.unshift(...late);
        late = undefined;
      }
      c.round();
    }
    // The claim of the pair's epoch: the joiner then holds the log through every released byte.
    expect(c.deferTas.map((d) => d.req.members)).toEqual([["P", "B"]]);
    // (Output released before the snapshot at S is in the copy itself.)
    expect(Math.max(p.plog!.ackedIcount, c.cloneDigests[0].icount)).toBeGreaterThanOrEqual(Math.max(...released.map((r) => r.icount)));
    // While the joiner sat on the copy's log, output went on as alone: above what it had acknowledged.
    expect(released.filter((r) => r.restoredSeen && r.icount > r.acked).length).toBeGreaterThan(0);
    c.answerTas("P", c.deferTas[0].req);
    c.deferTas = undefined;
    for (let i = 0; i < 2000 && !c.news.some((n) => n.host === "B" && n.data.event === "paired-backup"); i++) c.round();
    expect(b.paired).toBe(true);
    // And the pair serves the rest: a failover to the new backup loses and repeats nothing.
    for (let i = 0; i < 50; i++) c.round();
    c.crash("P");
    for (let i = 0; i < 20_000 && b.role !== "finished"; i++) c.round();
    expect(b.role).toBe("finished");
    expect(c.gaps).toEqual([]);
    expect(lineNumbers(c.text())).toEqual(Array.from({ length: long.lines }, (_, i) => i + 1));
  });

  it("refuses a join unless the primary runs alone", () => {
    const c = new TestCluster();
    const p = startAlone(c, "P");
    expect(p.acceptJoin("B", 0)).toBeUndefined();
    expect(p.acceptJoin("C", 0)).toMatch(/already under way/);
    const q = c.add("Q", 5);
    expect(q.acceptJoin("B", 0)).toMatch(/idle, not a primary running alone/);
  });
});

describe("a clone carries network output the switch has not confirmed", () => {
  it("the header lists the primary's kept chunks and the new backup keeps them for re-sending", async () => {
    const { cloneMessages, CloneAssembler } = await import("../src/ft/clone.js");
    const { NetGate } = await import("../src/ft/netgate.js");
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 3; i++) c.round();
    const chunk = { conn: 3, generation: 2, offset: 40, bytes: new TextEncoder().encode("+OK\r\n"), close: false };
    const msgs = cloneMessages({
      epoch: 1,
      program: "g",
      image: new Uint8Array(0),
      machine: (await import("../src/vm/snapshot.js")).getMachineState(p.machine),
      devices: p.bus.getState(),
      lsn: 5,
      lastUs: 0,
      unsunk: [],
      netKept: [chunk],
    });
    const a = new CloneAssembler(msgs[0]);
    expect(a.netKept).toEqual([chunk]);
    const g = new NetGate();
    g.keep(a.netKept);
    // The switch's mark for that connection covers it: it is forgotten; otherwise it goes again.
    g.trim([[3, 2, 45, 0]]);
    expect(g.takeKept()).toEqual([]);
    g.keep(a.netKept);
    expect(g.takeKept()).toEqual([chunk]);
    // A malformed list is refused with a reason.
    expect(() => new CloneAssembler({ ...msgs[0], netKept: [{ conn: "x" }] })).toThrow(/malformed network output/);
  });
});

describe("an all-zero memory chunk travels without its bytes", () => {
  it("the joiner gets the same memory, zeroing what it held, and refuses a zero chunk that carries bytes", async () => {
    const { cloneMessages, CloneAssembler, CLONE_CHUNK_BYTES, allZero } = await import("../src/ft/clone.js");
    const { parsePeerMsg } = await import("../src/ft/protocol.js");
    const { getMachineState } = await import("../src/vm/snapshot.js");
    const c = new TestCluster();
    const p = startAlone(c, "P");
    for (let i = 0; i < 3; i++) c.round();
    const machine = getMachineState(p.machine);
    // Three chunks: the first holds the program, the second is zero, the third has one byte set near its end.
    const mem = new Uint8Array(3 * CLONE_CHUNK_BYTES);
    mem.set(machine.mem.subarray(0, Math.min(machine.mem.length, CLONE_CHUNK_BYTES)));
    mem[3 * CLONE_CHUNK_BYTES - 3] = 7;
    const msgs = cloneMessages({ epoch: 1, program: "g", image: new Uint8Array(0), machine: { ...machine, mem, memBytes: mem.length }, devices: p.bus.getState(), lsn: 5, lastUs: 0, unsunk: [] });
    const chunks = msgs.slice(1).map((m) => parsePeerMsg(m as never)) as { t: string; zero?: true; bytes: Uint8Array }[];
    expect(chunks.map((m) => m.zero === true)).toEqual([allZero(mem.subarray(0, CLONE_CHUNK_BYTES)), true, false]);
    expect(chunks[1].bytes.length).toBe(0);
    const a = new CloneAssembler(msgs[0]);
    // The memory it lands in is not zero to start with (a booted image): the zero chunk clears it.
    const into = new Uint8Array(mem.length).fill(0xaa);
    a.receiveInto(into);
    for (const m of chunks) a.add(m as never);
    expect(a.complete).toBe(true);
    expect(a.zeroChunks).toBe(chunks.filter((m) => m.zero).length);
    expect(Buffer.compare(Buffer.from(into), Buffer.from(mem))).toBe(0);
    // A chunk marked zero that carries bytes is refused.
    const b = new CloneAssembler(msgs[0]);
    b.add(chunks[0] as never);
    expect(() => b.add({ t: "clone-mem", index: 1, zero: true, bytes: new Uint8Array(4) } as never)).toThrow(/marked all zero but carries bytes/);
  });

  it("allZero looks at every byte, aligned or not", async () => {
    const { allZero } = await import("../src/ft/clone.js");
    const b = new Uint8Array(4099);
    expect(allZero(b)).toBe(true);
    expect(allZero(b.subarray(1))).toBe(true);
    for (const at of [0, 1, 2048, 4097, 4098]) {
      b[at] = 1;
      expect(allZero(b)).toBe(false);
      expect(at === 0 || allZero(b.subarray(1)) === false).toBe(true);
      b[at] = 0;
    }
  });
});
