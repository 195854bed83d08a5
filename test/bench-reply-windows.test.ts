// The pieces of bench:clone that turn timed requests into figures (tools/bench/): the RESP
// reply reader of its clients and the phases a run is cut into.
import { describe, expect, it } from "vitest";
import { respReplyLength } from "../tools/bench/resp-clients.js";
import { floorOver, median, windowStats } from "../tools/bench/reply-windows.js";

describe("bench:clone's figures", () => {
  it("reads the length of each RESP reply redis.s gives, and 0 while one is incomplete", () => {
    expect(respReplyLength(Buffer.from("+OK\r\n"))).toBe(5);
    expect(respReplyLength(Buffer.from(":12\r\n+OK"))).toBe(5);
    expect(respReplyLength(Buffer.from("$-1\r\n"))).toBe(5);
    expect(respReplyLength(Buffer.from("$3\r\nabc\r\n"))).toBe(9);
    expect(respReplyLength(Buffer.from("$3\r\nab"))).toBe(0);
    expect(respReplyLength(Buffer.from("+O"))).toBe(0);
    expect(() => respReplyLength(Buffer.from("*1\r\n"))).toThrow(/unexpected RESP reply type/);
    expect(() => respReplyLength(Buffer.from("$x\r\n"))).toThrow(/malformed RESP bulk length/);
  });

  it("puts each request in the phase it was sent and answered in; an unanswered one waits until the end", () => {
    // Requests (sent, replied): two quiet ones, one stalled across the kill at 10, one sent after it, one never answered.
    const sent = [0, 5, 9, 12, 14];
    const replied = [1, 6, 40, 13, NaN];
    const r = { sentMs: Float64Array.from(sent), repliedMs: Float64Array.from(replied), client: new Uint16Array(5), count: 5 };
    const baseline = windowStats(r, { sentFromMs: 0, sentToMs: 10, repliedToMs: 10 }, 50);
    expect(baseline).toEqual({ n: 2, p50: 1, p99: 1, max: 1, unanswered: 0 });
    const failure = windowStats(r, { sentFromMs: 0, sentToMs: 11, repliedFromMs: 10 }, 50);
    expect(failure).toMatchObject({ n: 1, max: 31 });
    const after = windowStats(r, { sentFromMs: 11, sentToMs: 100 }, 50);
    expect(after).toMatchObject({ n: 2, max: 36, unanswered: 1 });
    expect(windowStats(r, { sentFromMs: 100, sentToMs: 200 }, 50).n).toBe(0);
    expect(median([3, NaN, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("takes the floor at a window's length: the worst reply of each stretch that long, averaged", () => {
    // One request a ms for 100 ms, each answered in 1 ms but the one sent at 50 (30 ms).
    const n = 100;
    const sent = Float64Array.from({ length: n }, (_, i) => i);
    const replied = Float64Array.from({ length: n }, (_, i) => i + (i === 50 ? 30 : 1));
    const r = { sentMs: sent, repliedMs: replied, client: new Uint16Array(n), count: n };
    // Ten windows of 10 ms: one holds the stall.
    expect(floorOver(r, { sentFromMs: 0, sentToMs: 100 }, 200, 10, 10)).toEqual({ worstMs: (30 + 9 * 1) / 10, windows: 10, short: false });
    // Windows of 50 ms every 10 ms: [0,50) holds no stall, [10,60) .. [50,100) do.
    expect(floorOver(r, { sentFromMs: 0, sentToMs: 100 }, 200, 50, 10)).toEqual({ worstMs: (1 + 5 * 30) / 6, windows: 6, short: false });
    // Replies after the phase's end do not count (the stalled one answers at 80).
    expect(floorOver(r, { sentFromMs: 0, sentToMs: 100, repliedToMs: 79 }, 200, 10, 10).worstMs).toBe(1);
    // A phase no longer than the window: its own worst, said to be short.
    expect(floorOver(r, { sentFromMs: 0, sentToMs: 100 }, 200, 100, 10)).toEqual({ worstMs: 30, windows: 1, short: true });
    expect(() => floorOver(r, { sentFromMs: 0, sentToMs: 100 }, 200, 0, 10)).toThrow(/positive/);
  });
});
