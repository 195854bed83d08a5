// The guest programs in programs/ and the assembly library in programs/lib: every program
// assembles, the demo programs print what their headers promise, and the library routines
// compute the right thing and keep their register convention (arguments r1..r3, result r1,
// clobbers at most r1..r6, preserves r0 and r7..r14 and sp).
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assemble, assembleFile, LIB_DIR, REPO_ROOT } from "../src/asm/index.js";
import { Bus } from "../src/devices/bus.js";
import { EV } from "../src/devices/events.js";
import { runLive } from "../src/host/live.js";
import type { Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const PROGRAMS = join(REPO_ROOT, "programs");
const program = (name: string) => join(PROGRAMS, name);

/** Runs a program live in-process (real clock, no stdin); returns its output and how it ended. */
async function live(name: string, opts: { hostId?: number } = {}) {
  const chunks: Buffer[] = [];
  const res = await runLive({ program: name, image: assembleFile(program(name)), hostId: opts.hostId, output: (b) => chunks.push(Buffer.from(b)) });
  return { ...res, out: Buffer.concat(chunks).toString("latin1") };
}

/** Runs `ftvm run programs/<name>` as a child process with `input` on stdin. */
function spawnRun(name: string, input: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ftvmArgs(), "run", `programs/${name}`], { cwd: REPO_ROOT });
    let out = "";
    let err = "";
    child.stdout.setEncoding("latin1").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
    child.stdin.end(input);
  });
}

/**
 * A machine with devices and a scripted environment (TIME counts up by 1000 per read,
 * RAND and HOSTID are fixed), for tests that need to look at registers and memory or to
 * deliver an interrupt at an exact instruction boundary.
 */
function harness(image: Image) {
  const m = new Machine(image);
  let now = 0;
  const bus = new Bus(m, {
    input: (kind) => (kind === EV.TIME ? (now += 1000) : kind === EV.RAND ? 0x12345678 : 42),
    interruptsEnabled: () => {},
  });
  let out = "";
  const drain = () => (out += Buffer.from(bus.console.drainOutput()).toString("latin1"));
  const sym = (name: string) => {
    const s = image.symbols.find((x) => x.name === name);
    if (!s) throw new Error(`no symbol ${name}`);
    return s.value;
  };
  return {
    m,
    bus,
    sym,
    get out() {
      drain();
      return out;
    },
    /** Runs until halt, trap or WFI (or maxIcount). */
    run(maxIcount = 50_000_000) {
      for (;;) {
        const r = m.run(maxIcount);
        drain();
        if (r !== "continue" || m.icount >= maxIcount) return r;
      }
    },
    /** Executes one instruction at a time until pc reaches `label`. */
    stepTo(label: string, limit = 1_000_000) {
      const target = sym(label);
      for (let i = 0; i < limit && m.pc !== target; i++) {
        const r = m.run(m.icount + 1);
        drain();
        if (r !== "continue") throw new Error(`stopped (${r}) before reaching ${label}`);
      }
      if (m.pc !== target) throw new Error(`did not reach ${label}`);
    },
  };
}

const lib = (src: string, file = "libtest.s") => assemble(src, file, { includeDirs: [LIB_DIR] });

describe("programs/*.s", () => {
  const files = readdirSync(PROGRAMS).filter((f) => f.endsWith(".s")).sort();

  it("finds the programs", () => {
    for (const f of ["hello.s", "count.s", "timeread.s", "clock.s", "echo.s", "hostid.s", "traps.s"]) expect(files).toContain(f);
  });

  it.each(files)("%s assembles", (f) => {
    const img = assembleFile(program(f));
    expect(img.code.length).toBeGreaterThan(0);
  });

  it("the library files assemble together, in any order, included more than once", () => {
    const img = lib(`
      .include "mem.s"
      .include "printnum.s"
      .include "print.s"
      .include "mem.s"
      main: HALT`);
    const names = img.symbols.map((s) => s.name);
    for (const r of ["print_str", "print_char", "print_newline", "print_uint", "print_int", "print_hex", "memcpy", "memset", "strlen"]) expect(names).toContain(r);
  });
});

describe("demo programs", () => {
  it("hello prints hello, world", async () => {
    const r = await live("hello.s");
    expect(r.reason).toBe("halted");
    expect(r.out).toBe("hello, world\n");
  });

  it("count prints exactly 1..100000, one per line", async () => {
    const r = await live("count.s");
    expect(r.reason).toBe("halted");
    let want = "";
    for (let i = 1; i <= 100_000; i++) want += `${i}\n`;
    expect(r.out.length).toBe(want.length);
    expect(r.out === want).toBe(true); // (toBe on 589 KB strings would print a useless diff)
    expect(r.icount).toBeLessThan(10_000_000); // cheap per line: no division
  }, 20_000);

  it("echo echoes piped input upper-cased and exits 0 at end of input", async () => {
    const r = await spawnRun("echo.s", "abc\n");
    expect(r.err).toBe("");
    expect(r.out).toBe("ABC\n");
    expect(r.code).toBe(0);
  }, 20_000);

  it("echo keeps every byte of a large input (more than the console FIFO and the ring hold)", async () => {
    let input = "";
    for (let i = 0; input.length < 40_000; i++) input += `line ${i}: The Quick brown fox {jumps} over the lazy dog ~@[\`]\n`;
    const r = await spawnRun("echo.s", input);
    expect(r.code).toBe(0);
    expect(r.out === input.replace(/[a-z]/g, (c) => c.toUpperCase())).toBe(true);
  }, 20_000);

  it("echo with no input exits 0 without output", async () => {
    const r = await spawnRun("echo.s", "");
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  }, 20_000);

  it("clock prints 10 ticks with increasing times, about one period apart", async () => {
    const r = await live("clock.s");
    expect(r.reason).toBe("halted");
    const lines = r.out.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(10);
    let last = -1;
    lines.forEach((line, i) => {
      const m = /^tick (\d+) at (\d+) us$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(Number(m![1])).toBe(i + 1);
      const t = Number(m![2]);
      expect(t).toBeGreaterThan(last);
      expect(t).toBeGreaterThanOrEqual((i + 1) * 100_000); // a tick is never early
      last = t;
    });
    // It idles with WFI: a busy-waiting clock would retire millions of instructions.
    expect(r.icount).toBeLessThan(10_000);
  }, 20_000);

  it("timeread prints 10 lines of counter, time and random bits", async () => {
    const r = await live("timeread.s");
    expect(r.reason).toBe("halted");
    const lines = r.out.trimEnd().split("\n");
    expect(lines).toHaveLength(10);
    let last = -1;
    lines.forEach((line, i) => {
      const m = /^(\d+) (\d+) ([0-9a-f]{8})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(Number(m![1])).toBe(i + 1);
      expect(Number(m![2])).toBeGreaterThanOrEqual(last);
      last = Number(m![2]);
    });
  }, 20_000);

  it("hostid prints the host id in hex and decimal", async () => {
    expect((await live("hostid.s", { hostId: 42 })).out).toBe("host id: 0x0000002a (42)\n");
    expect((await live("hostid.s", { hostId: 0xdeadbeef })).out).toBe("host id: 0xdeadbeef (3735928559)\n");
  });

  it.each([
    ["traps.s", "division-by-zero", "dividing 7 by 0...\n"],
    ["trap_stack.s", "stack-overflow", ""],
    ["trap_misaligned.s", "misaligned-access", ""],
  ])("%s traps with %s", async (name, kind, out) => {
    const r = await live(name);
    expect(r.reason).toBe("trapped");
    expect(r.trap?.kind).toBe(kind);
    expect(r.out).toBe(out);
  });
});

// An interrupt taken after the main loop decided to sleep but before its WFI must not be
// slept through: the handlers resume past the WFI. These deliver the event exactly there.
describe("interrupt right before WFI", () => {
  it("echo: input cannot be taken between EI and WFI, and is taken once the guest waits", () => {
    const h = harness(assembleFile(program("echo.s")));
    h.bus.deliver(EV.CONSOLE_INPUT, new TextEncoder().encode("hi"));
    h.stepTo("echo_wfi"); // everything echoed, interrupts just enabled, about to sleep
    expect(h.m.ie).toBe(true);
    // The boundary right after EI is in EI's shadow: no interrupt may be delivered there.
    expect(h.bus.canDeliver(EV.CONSOLE_INPUT)).toBe(false);
    expect(h.run()).toBe("waiting");
    expect(h.bus.canDeliver(EV.CONSOLE_INPUT)).toBe(true);
    h.bus.deliver(EV.CONSOLE_INPUT, new TextEncoder().encode("x!"));
    expect(h.run()).toBe("waiting");
    expect(h.out).toBe("HIX!");
    h.bus.deliver(EV.CONSOLE_INPUT, new Uint8Array(0)); // EOF
    expect(h.run()).toBe("halted");
  });

  it("clock: a tick cannot be taken between EI and WFI; the tenth tick halts the clock", () => {
    const h = harness(assembleFile(program("clock.s")));
    for (let i = 0; i < 9; i++) {
      expect(h.run()).toBe("waiting");
      h.bus.deliver(EV.TIMER, null);
    }
    h.stepTo("clock_sleep");
    expect(h.bus.canDeliver(EV.TIMER)).toBe(false);
    expect(h.run()).toBe("waiting");
    h.bus.deliver(EV.TIMER, null); // tick 10
    expect(h.run()).toBe("halted");
    const lines = h.out.trimEnd().split("\n");
    expect(lines).toHaveLength(10);
    expect(lines[9]).toMatch(/^tick 10 at \d+ us$/);
    expect(h.bus.timer.periodUs).toBe(0);
  });
});

describe("programs/lib", () => {
  it("print_uint, print_int, print_hex, print_str, print_char, print_newline", () => {
    const calls: [string, number][] = [
      ["print_uint", 0], ["print_uint", 7], ["print_uint", 10], ["print_uint", 1_000_000_000], ["print_uint", 4294967295],
      ["print_int", -2147483648], ["print_int", 2147483647], ["print_int", -1], ["print_int", 0], ["print_int", -42],
      ["print_hex", 0], ["print_hex", 7], ["print_hex", 0xdeadbeef], ["print_hex", 0x0123abcd],
    ];
    const body = calls.map(([r, v]) => `LI r1, ${v}\nCALL ${r}\nLI r1, ' '\nCALL print_char`).join("\n");
    const h = harness(lib(`
      .include "printnum.s"
      .data
      s: .asciz "str"
      .code
      main:
      ${body}
      LI r1, s
      CALL print_str
      CALL print_newline
      HALT`));
    expect(h.run()).toBe("halted");
    expect(h.out).toBe(
      "0 7 10 1000000000 4294967295 -2147483648 2147483647 -1 0 -42 00000000 00000007 deadbeef 0123abcd str\n",
    );
  });

  /** Calls one routine with r1..r3 set and checks the convention; returns r1 and the machine. */
  const routines = lib(`
    .include "printnum.s"
    .include "mem.s"
    .data
    .align 4
    buf: .zero 256
    .code
    main:
    HALT
    ${["print_str", "print_char", "print_newline", "print_uint", "print_int", "print_hex", "memcpy", "memset", "strlen"]
      .map((r) => `call_${r}: CALL ${r}\nHALT`)
      .join("\n")}`);
  const BUF = routines.symbols.find((s) => s.name === "buf")!.value;
  const CLOBBERABLE = new Set([1, 2, 3, 4, 5, 6]);

  function call(routine: string, args: number[], setup?: (m: Machine) => void) {
    const h = harness(routines);
    const m = h.m;
    for (let r = 0; r < 15; r++) m.regs[r] = 0x5a5a0000 + r;
    args.forEach((v, i) => (m.regs[1 + i] = v));
    setup?.(m);
    const sp = m.regs[15];
    m.pc = h.sym(`call_${routine}`);
    expect(h.run()).toBe("halted");
    for (let r = 0; r < 15; r++) if (!CLOBBERABLE.has(r)) expect(m.regs[r], `${routine} changed r${r}`).toBe(0x5a5a0000 + r);
    expect(m.regs[15], `${routine} moved sp`).toBe(sp);
    return { r1: m.regs[1], m, out: h.out };
  }

  it("every routine preserves r0, r7..r14 and sp", () => {
    const setup = (m: Machine) => m.mem.set(new TextEncoder().encode("abc\0"), BUF);
    expect(call("print_str", [BUF], setup).out).toBe("abc");
    expect(call("print_char", [65]).out).toBe("A");
    expect(call("print_newline", []).out).toBe("\n");
    expect(call("print_uint", [-1]).out).toBe("4294967295");
    expect(call("print_int", [-2147483648]).out).toBe("-2147483648");
    expect(call("print_hex", [-1]).out).toBe("ffffffff");
    expect(call("strlen", [BUF], setup).r1).toBe(3);
    expect(call("memcpy", [BUF + 1, BUF + 64, 37]).r1).toBe(BUF + 1);
    expect(call("memset", [BUF + 3, 0x1ff, 29]).r1).toBe(BUF + 3);
  });

  it("strlen", () => {
    for (const s of ["", "a", "hello, world", "x".repeat(200)]) {
      const r = call("strlen", [BUF], (m) => m.mem.set(new TextEncoder().encode(s + "\0"), BUF));
      expect(r.r1).toBe(s.length);
    }
  });

  it("memcpy copies exactly len bytes for every alignment", () => {
    const pattern = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
    for (const dstOff of [0, 1, 2, 3])
      for (const srcOff of [128, 129, 130, 131])
        for (const len of [0, 1, 3, 4, 5, 8, 13, 64, 100]) {
          const { r1, m } = call("memcpy", [BUF + dstOff, BUF + srcOff, len], (m) => m.mem.set(pattern, BUF));
          expect(r1).toBe(BUF + dstOff);
          const want = pattern.slice();
          want.copyWithin(dstOff, srcOff, srcOff + len);
          expect(Buffer.from(m.mem.subarray(BUF, BUF + 256)).equals(Buffer.from(want)), `memcpy dst+${dstOff} src+${srcOff} len ${len}`).toBe(true);
        }
  });

  it("memset fills exactly len bytes for every alignment", () => {
    for (const dstOff of [0, 1, 2, 3])
      for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 200]) {
        const { r1, m } = call("memset", [BUF + dstOff, 0x3a7, len], (m) => m.mem.fill(0xee, BUF, BUF + 256));
        expect(r1).toBe(BUF + dstOff);
        const want = new Uint8Array(256).fill(0xee);
        want.fill(0xa7, dstOff, dstOff + len);
        expect(Buffer.from(m.mem.subarray(BUF, BUF + 256)).equals(Buffer.from(want)), `memset dst+${dstOff} len ${len}`).toBe(true);
      }
  });
});
