// Divergence caught live (issue 13 point 4): the backup compares the primary's state
// digest at every event it consumes and stops at the first event whose state differs,
// naming that event. A primary/backup pair of pure nodes, messages routed by hand through
// the protocol's parser, so a test can change a message or the backup's memory in flight.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import type { Action, Msg } from "../src/ft/node.js";
import { FtNode } from "../src/ft/node.js";
import { parsePeerMsg, ProtocolError } from "../src/ft/protocol.js";
import { fakeWorld } from "../src/replay/world.js";
import { packr } from "../src/trace/framing.js";
import { PAGE_SHIFT } from "../src/vm/machine.js";
import { asm } from "./helpers.js";

// programs/timesum.s: reads TIME into a running sum kept in memory, with a short spin
// between reads: an event every few hundred instructions, and state (register and memory)
// that depends on each value.
const GUEST = readFileSync(new URL("../programs/timesum.s", import.meta.url), "utf8");

type Event4 = [number, number, number, unknown];

interface Pair {
  p: FtNode;
  b: FtNode;
  /** Every event the primary sent, by lsn. */
  sent: Map<number, Event4>;
  news: { host: string; text: string; data: Record<string, unknown> }[];
  halts: string[];
}

/** Runs a pair to the end (or the backup's halt); `tamper` may change each log message before the backup parses it. */
function runPair(tamper?: (m: { events: Event4[]; sd?: number[] }) => void, beforeBackupRun?: (b: FtNode) => void): Pair {
  const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 1_000_000, world: fakeWorld(3, 3, 7), sliceIcount: 700 });
  const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 1_000_000, world: fakeWorld(4, 4, 7), sliceIcount: 700 });
  const pair: Pair = { p, b, sent: new Map(), news: [], halts: [] };
  const toB: Msg[] = [];
  const toP: Msg[] = [];
  const route = (host: string, acts: Action[], to: Msg[]) => {
    for (const a of acts) {
      if (a.kind === "send") {
        const m = a.msg as { t: string; events?: Event4[]; sd?: number[] };
        if (m.t === "log") {
          for (const e of m.events!) pair.sent.set(e[0], e);
          tamper?.(m as { events: Event4[]; sd?: number[] });
        }
        // Through the wire's parser, as between real hosts.
        to.push(parsePeerMsg(packr.unpack(packr.pack(m)) as { t: string }) as Msg);
      } else if (a.kind === "news") pair.news.push({ host, text: a.text, data: a.data });
      else if (a.kind === "halt") pair.halts.push(`${host}: ${a.reason}`);
    }
  };
  route("P", p.startPrimary({ program: "g.s", image: asm(GUEST, "g.s"), epoch: 1, withBackup: true }, 0), toB);
  b.startBackup(toB.shift()!, 0);
  let now = 0;
  for (let i = 0; i < 200_000 && !(p.role === "finished" && b.role === "finished") && b.role !== "halted"; i++) {
    now++;
    while (toP.length) route("P", p.onPeerMessage(toP.shift()!, now), toB);
    route("P", p.run(now).actions, toB);
    const halted = () => (b.role as string) === "halted";
    while (toB.length && !halted()) route("B", b.onPeerMessage(toB.shift()!, now), toP);
    if (halted()) break;
    beforeBackupRun?.(b);
    route("B", b.run(now).actions, toP);
  }
  return pair;
}

describe("the backup checks the primary's state digest at every event", () => {
  it("an untouched run checks every event and finds nothing", () => {
    const r = runPair();
    expect(r.halts).toEqual([]);
    expect(r.b.role).toBe("finished");
    // 400 TIME reads plus progress marks and the END mark, all with a digest that agreed.
    const checked = (r.b as unknown as { stateCheck: { checked: number } }).stateCheck.checked;
    expect(checked).toBeGreaterThanOrEqual(400);
    // Every event through the END mark (a progress mark after END is never replayed).
    const endLsn = [...r.sent.values()].find((e) => e[2] === EV.END)![0];
    expect(checked).toBe(endLsn);
  });

  it("a logged value changed in flight is caught at the very next event, by lsn and icount", () => {
    const target = 120; // the lsn of a TIME event whose value the backup gets wrong
    const r = runPair((m) => {
      for (const e of m.events) if (e[0] === target && e[2] === EV.TIME) e[3] = (e[3] as number) + 1;
    });
    const next = r.sent.get(target + 1)!;
    expect(r.sent.get(target)![2]).toBe(EV.TIME);
    expect(r.halts).toHaveLength(1);
    expect(r.halts[0]).toMatch(new RegExp(`^B: replay diverged: state digest at [A-Z_]+ lsn ${target + 1}, icount ${next[1]}: expected [0-9a-f]{8}, got [0-9a-f]{8}; the state agreed at TIME lsn ${target}, icount ${r.sent.get(target)![1]}`));
    const d = r.news.find((n) => n.data.event === "divergence")!;
    expect(d.data).toMatchObject({ icount: next[1], agreedIcount: r.sent.get(target)![1] });
    // The primary ran on: the backup stopped instead of going live on a different state.
    expect(r.b.role).toBe("halted");
  });

  it("a store the backup got wrong, in memory no register reads, is caught at the next progress mark", () => {
    let corruptedAt: number | undefined;
    const r = runPair(undefined, (b) => {
      if (corruptedAt === undefined && b.machine.icount > 20_000) {
        // As a wrong store would: a word the guest never reads changes, its page marked written.
        const addr = 4096 + 64;
        b.machine.mem[addr] ^= 0x40;
        b.machine.dirty[addr >>> PAGE_SHIFT] = 1;
        corruptedAt = b.machine.icount;
      }
    });
    expect(corruptedAt).toBeDefined();
    // Digests at TIME events cover the registers only; the next mark's covers memory.
    const after = [...r.sent.values()].filter((e) => e[1] >= corruptedAt!).sort((x, y) => x[0] - y[0]);
    const mark = after.find((e) => e[2] === EV.PROGRESS || e[2] === EV.END)!;
    expect(after[0][2]).toBe(EV.TIME); // a register-only digest came first, and agreed
    const d = r.news.find((n) => n.data.event === "divergence")!;
    expect(d).toBeDefined();
    expect(r.halts[0]).toMatch(new RegExp(`state digest at ${mark[2] === EV.END ? "END" : "PROGRESS"} lsn ${mark[0]}, icount ${mark[1]}:`));
    expect(d.data.icount).toBe(mark[1]);
  });

  it("a store the backup got wrong that a register then reads is caught at the next event after the read", () => {
    let corruptedAt: number | undefined;
    const r = runPair(undefined, (b) => {
      // At the top of the loop (pc of TIME), so the LDW right after reads the wrong sum.
      if (corruptedAt === undefined && b.machine.icount > 20_000 && b.machine.pc === 1) {
        b.machine.mem[0] ^= 0x40;
        b.machine.dirty[0] = 1;
        corruptedAt = b.machine.icount;
      }
    });
    expect(corruptedAt).toBeDefined();
    const after = [...r.sent.values()].filter((e) => e[1] > corruptedAt!).sort((x, y) => x[0] - y[0]);
    expect(r.halts[0]).toMatch(new RegExp(`state digest at [A-Z]+ lsn ${after[0][0]}, icount ${after[0][1]}:`));
  });
});

describe("LogMsg.sd on the wire", () => {
  it("is one 32-bit digest per event, or the message is refused", () => {
    expect(parsePeerMsg({ t: "log", events: [[1, 2, 34, null]], sd: [0xffffffff] } as { t: string })).toMatchObject({ sd: [0xffffffff] });
    expect(() => parsePeerMsg({ t: "log", events: [[1, 2, 34, null]], sd: [1, 2] } as { t: string })).toThrow(ProtocolError);
    expect(() => parsePeerMsg({ t: "log", events: [[1, 2, 34, null]], sd: [-1] } as { t: string })).toThrow(/sd must be a list of 1 32-bit digests/);
    expect(() => parsePeerMsg({ t: "log", events: [[1, 2, 34, null]], sd: "x" } as { t: string })).toThrow(ProtocolError);
  });
});
