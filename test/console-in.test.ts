// Console input under FT, the pure halves (src/ft/console-in.ts) and the terminal's
// escape prefix (src/host/console-keys.ts).
import { describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import { CONSOLE_IN_WINDOW_BYTES, ConsoleInGate, ConsoleInHold } from "../src/ft/console-in.js";
import { EscapeReader } from "../src/host/console-keys.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe("the launcher's held console input", () => {
  it("sends from where a primary asks, forgets what is durable, and gives a new primary what the old one had not logged", () => {
    const h = new ConsoleInHold();
    h.push(bytes("hello "));
    h.push(bytes("world"));
    expect(h.take()).toEqual([]); // no primary yet
    expect(h.from(1, 0)).toBe("ok");
    expect(h.take().map((c) => text(c.bytes))).toEqual(["hello ", "world"]);
    h.durable(3); // "hel" logged and acknowledged
    h.end();
    expect(h.take()).toEqual([{ offset: 11, eof: true }]);
    // The primary dies; its backup had replayed 8 bytes of input ("hello wo").
    expect(h.from(2, 8)).toBe("ok");
    expect(h.take()).toEqual([{ offset: 8, bytes: bytes("rld") }, { offset: 11, eof: true }]);
    // A deposed primary of epoch 1 asking again changes nothing; asking for forgotten bytes is refused.
    expect(h.from(1, 4)).toBe("stale");
    expect(h.from(3, 2)).toMatch(/everything before 3 was durable and is gone/);
    h.durable(11);
    expect(h.heldBytes).toBe(0);
    expect(h.base).toBe(11);
  });

  it("keeps at most a window of bytes in flight beyond the durable offset", () => {
    const h = new ConsoleInHold();
    h.push(new Uint8Array(CONSOLE_IN_WINDOW_BYTES * 2));
    h.from(1, 0);
    const first = h.take().reduce((n, c) => n + (c.bytes?.length ?? 0), 0);
    expect(first).toBe(CONSOLE_IN_WINDOW_BYTES);
    expect(h.take()).toEqual([]);
    h.durable(1000);
    expect(h.take().reduce((n, c) => n + (c.bytes?.length ?? 0), 0)).toBe(1000);
  });
});

describe("the node's console input gate", () => {
  it("input is durable once the log holding it is acknowledged", () => {
    const g = new ConsoleInGate();
    g.startFrom(100, false);
    g.noteLogged({ lsn: 5, icount: 10, kind: EV.CONSOLE_INPUT, data: bytes("abc") });
    g.noteLogged({ lsn: 6, icount: 11, kind: EV.TIMER, data: 0 });
    g.noteLogged({ lsn: 7, icount: 12, kind: EV.CONSOLE_INPUT, data: bytes("de") });
    g.noteLogged({ lsn: 8, icount: 13, kind: EV.CONSOLE_INPUT, data: new Uint8Array(0) });
    g.durableThrough(4);
    expect([g.durableOffset, g.durableEof]).toEqual([100, false]);
    g.durableThrough(6);
    expect([g.durableOffset, g.durableEof]).toEqual([103, false]);
    g.durableThrough(8);
    expect([g.durableOffset, g.durableEof]).toEqual([105, true]);
  });
});

describe("the terminal's escape prefix", () => {
  it("takes ~p, ~b, ~a, ~. at the start of a line and gives every other key to the guest", () => {
    const r = new EscapeReader();
    expect(r.feed(bytes("~p"))).toEqual({ guest: bytes(""), commands: ["crash-primary"] });
    const x = r.feed(bytes("a~b\r~b~~x\r~.~?"));
    expect(text(x.guest)).toBe("a~b\n~x\n");
    expect(x.commands).toEqual(["crash-backup", "quit", "help"]);
    expect(r.feed(bytes("\x04")).commands).toEqual(["end-input"]);
    expect(r.feed(bytes("z\x03")).commands).toEqual(["quit"]);
  });
});
