// Every opcode and every trap of the reference interpreter.
import { describe, expect, it } from "vitest";
import { OPS } from "../isa/table.js";
import { TRAP_KINDS } from "../src/vm/trap.js";
import { LiveRunner } from "../src/replay/session.js";
import { boot, exec } from "./helpers.js";

/** [snippet, register, expected value] — each snippet ends in HALT automatically. */
const CASES: Record<string, [string, number, number][]> = {
  NOP: [["LI r1, 5\nNOP", 1, 5]],
  HALT: [["LI r1, 1\nHALT\nLI r1, 2", 1, 1]],
  MOV: [["LI r2, -7\nMOV r1, r2", 1, -7]],
  LI: [["LI r1, 0xffffffff", 1, -1], ["LI r1, -2147483648", 1, -2147483648]],
  ADD: [["LI r2, 0x7fffffff\nLI r3, 1\nADD r1, r2, r3", 1, -2147483648]],
  SUB: [["LI r2, 0\nLI r3, 1\nSUB r1, r2, r3", 1, -1]],
  MUL: [["LI r2, 0x10000\nLI r3, 0x10001\nMUL r1, r2, r3", 1, 0x10000], ["LI r2, -3\nLI r3, 7\nMUL r1, r2, r3", 1, -21]],
  DIV: [["LI r2, -7\nLI r3, 2\nDIV r1, r2, r3", 1, -3], ["LI r2, -2147483648\nLI r3, -1\nDIV r1, r2, r3", 1, -2147483648]],
  DIVU: [["LI r2, -1\nLI r3, 2\nDIVU r1, r2, r3", 1, 0x7fffffff]],
  REM: [["LI r2, -7\nLI r3, 2\nREM r1, r2, r3", 1, -1], ["LI r2, 7\nLI r3, -2\nREM r1, r2, r3", 1, 1]],
  REMU: [["LI r2, -1\nLI r3, 10\nREMU r1, r2, r3", 1, 5]],
  AND: [["LI r2, 0xff0\nLI r3, 0x0ff\nAND r1, r2, r3", 1, 0x0f0]],
  OR: [["LI r2, 0xf00\nLI r3, 0x00f\nOR r1, r2, r3", 1, 0xf0f]],
  XOR: [["LI r2, 0xff\nLI r3, 0x0f\nXOR r1, r2, r3", 1, 0xf0]],
  SHL: [["LI r2, 1\nLI r3, 33\nSHL r1, r2, r3", 1, 2]],
  SHR: [["LI r2, -1\nLI r3, 28\nSHR r1, r2, r3", 1, 15]],
  SAR: [["LI r2, -16\nLI r3, 2\nSAR r1, r2, r3", 1, -4]],
  SLT: [["LI r2, -1\nLI r3, 1\nSLT r1, r2, r3", 1, 1], ["LI r2, 1\nLI r3, -1\nSLT r1, r2, r3", 1, 0]],
  SLTU: [["LI r2, -1\nLI r3, 1\nSLTU r1, r2, r3", 1, 0], ["LI r2, 1\nLI r3, -1\nSLTU r1, r2, r3", 1, 1]],
  ADDI: [["LI r2, 10\nADDI r1, r2, -11", 1, -1]],
  MULI: [["LI r2, 6\nMULI r1, r2, 7", 1, 42]],
  ANDI: [["LI r2, 0x1234\nANDI r1, r2, 0xff", 1, 0x34]],
  ORI: [["LI r2, 0x1200\nORI r1, r2, 0x34", 1, 0x1234]],
  XORI: [["LI r2, 5\nXORI r1, r2, -1", 1, -6]],
  SHLI: [["LI r2, 3\nSHLI r1, r2, 4", 1, 48]],
  SHRI: [["LI r2, -2\nSHRI r1, r2, 1", 1, 0x7fffffff]],
  SARI: [["LI r2, -2\nSARI r1, r2, 1", 1, -1]],
  SLTI: [["LI r2, -5\nSLTI r1, r2, -4", 1, 1]],
  SLTIU: [["LI r2, 5\nSLTIU r1, r2, -1", 1, 1]],
  LDW: [[".data\nw: .word 0x11223344\n.code\nmain: LI r2, w\nLDW r1, [r2]", 1, 0x11223344], [".data\n.word 1, 2\n.code\nmain: LDW r1, [4]", 1, 2]],
  LDB: [[".data\nb: .byte 0xfe\n.code\nmain: LDB r1, [b]", 1, 0xfe]],
  STW: [["LI r2, 100\nLI r3, -9\nSTW r3, [r2+8]\nLDW r1, [108]", 1, -9]],
  STB: [["LI r3, 0x1ff\nSTB r3, [5]\nLDB r1, [5]", 1, 0xff], ["LI r3, 0x11223344\nSTW r3, [8]\nLI r4, 0xaa\nSTB r4, [9]\nLDW r1, [8]", 1, 0x1122aa44]],
  JMP: [["LI r1, 1\nJMP skip\nLI r1, 2\nskip: NOP", 1, 1]],
  JR: [["LI r1, 1\nLI r2, skip\nJR r2\nLI r1, 2\nskip: NOP", 1, 1]],
  BEQ: [["LI r1, 0\nLI r2, 3\nLI r3, 3\nBEQ r2, r3, t\nLI r1, 9\nt: NOP", 1, 0]],
  BNE: [["LI r1, 0\nLI r2, 3\nLI r3, 3\nBNE r2, r3, t\nLI r1, 9\nt: NOP", 1, 9]],
  BLT: [["LI r1, 0\nLI r2, -1\nLI r3, 0\nBLT r2, r3, t\nLI r1, 9\nt: NOP", 1, 0]],
  BGE: [["LI r1, 0\nLI r2, -1\nLI r3, 0\nBGE r2, r3, t\nLI r1, 9\nt: NOP", 1, 9]],
  BLTU: [["LI r1, 0\nLI r2, -1\nLI r3, 0\nBLTU r2, r3, t\nLI r1, 9\nt: NOP", 1, 9]],
  BGEU: [["LI r1, 0\nLI r2, -1\nLI r3, 0\nBGEU r2, r3, t\nLI r1, 9\nt: NOP", 1, 0]],
  BEQZ: [["LI r1, 0\nLI r2, 0\nBEQZ r2, t\nLI r1, 9\nt: NOP", 1, 0]],
  BNEZ: [["LI r1, 0\nLI r2, 0\nBNEZ r2, t\nLI r1, 9\nt: NOP", 1, 9]],
  CALL: [["LI r1, 1\nCALL f\nADDI r1, r1, 100\nHALT\nf: ADDI r1, r1, 10\nRET", 1, 111]],
  CALLR: [["LI r1, 1\nLI r2, f\nCALLR r2\nADDI r1, r1, 100\nHALT\nf: ADDI r1, r1, 10\nRET", 1, 111]],
  RET: [["CALL f\nMOV r1, sp\nHALT\nf: RET", 1, 1024 * 1024]],
  PUSH: [["LI r2, 77\nPUSH r2\nLDW r1, [sp]", 1, 77], ["PUSH r2\nMOV r1, sp", 1, 1024 * 1024 - 4]],
  POP: [["LI r2, 77\nPUSH r2\nPOP r1", 1, 77]],
  EI: [["EI\nLI r1, 1", 1, 1]],
  DI: [["EI\nDI\nLI r1, 1", 1, 1]],
  IRET: [["LI r2, back\nPUSH r2\nIRET\nLI r1, 5\nback: LI r1, 6", 1, 6]],
  WFI: [], // covered by the interrupt tests below
  SETVEC: [], // covered by the interrupt tests below
  IN: [["IN r1, MEM_SIZE", 1, 1024 * 1024], ["IN r1, STACK_BASE", 1, 1024 * 1024 - 64 * 1024]],
  OUT: [["LI r2, 5000\nOUT TIMER_PERIOD, r2\nIN r1, TIMER_PERIOD", 1, 5000]],
  TIME: [], // covered below (logged inputs)
  RAND: [],
  HOSTID: [],
  ICOUNT: [["NOP\nNOP\nICOUNT r1", 1, 2]],
};

describe("every opcode", () => {
  it("has a test case here", () => {
    expect(Object.keys(CASES).sort()).toEqual(OPS.map((s) => s.name).sort());
  });
  for (const [name, cases] of Object.entries(CASES)) {
    for (const [src, reg, want] of cases) {
      it(`${name}: ${src.replace(/\n/g, "; ")}`, () => {
        const body = src.includes("main:") ? src : `main:\n${src}`;
        const m = exec(`${body}\nHALT\n`);
        expect(m.trap).toBeNull();
        expect(m.halted).toBe(true);
        expect(m.regs[reg]).toBe(want);
      });
    }
  }

  it("TIME, RAND and HOSTID read the environment and are logged at their icount", () => {
    const b = boot("NOP\nTIME r1\nIN r4, CLOCK_HI\nRAND r2\nHOSTID r3\nHALT", { seed: 5 });
    b.runAll();
    expect(b.events.map((e) => [e.icount, e.kind])).toEqual([
      [1, 1],
      [3, 2],
      [4, 3],
    ]);
    expect(b.m.regs[1]).toBe(b.events[0].data);
    expect(b.m.regs[4]).toBe(0);
    expect(b.m.regs[2]).toBe((b.events[1].data as number) | 0);
    expect(b.m.regs[3]).toBe(7);
  });

  it("ICOUNT counts retired instructions across a loop", () => {
    const m = exec("main: LI r2, 10\nloop: ADDI r2, r2, -1\nBNEZ r2, loop\nICOUNT r1\nHALT");
    expect(m.regs[1]).toBe(1 + 20);
  });
});

describe("interrupts", () => {
  it("SETVEC + EI + WFI: the timer wakes the guest, the handler runs, IRET returns after the WFI", () => {
    const b = boot(`
main:
    SETVEC VEC_TIMER, tick
    LI r2, 1000
    OUT TIMER_PERIOD, r2
    EI
wait:
    WFI
    LI r3, 3
    BLT r1, r3, wait
    HALT
tick:
    ADDI r1, r1, 1
    IRET
`);
    for (let i = 0; i < 100 && !b.m.halted; i++) {
      b.world.advance(2000);
      b.runAll();
    }
    expect(b.m.halted).toBe(true);
    // Ticks may also land between IRET and the check, so the count is at least 3.
    expect(b.m.regs[1]).toBeGreaterThanOrEqual(3);
    expect(b.bus.timer.ticks).toBe(b.m.regs[1]);
    expect(b.events.filter((e) => e.kind === 16)).toHaveLength(b.m.regs[1]);
  });

  it("an interrupt that arrives while interrupts are disabled stays pending and is logged when delivered", () => {
    const b = boot(`
main:
    SETVEC VEC_CONSOLE, rx
    LI r2, 1
    OUT CON_CTRL, r2
    LI r5, 0
spin:                  ; interrupts are disabled for 1000 iterations
    ADDI r5, r5, 1
    LI r6, 1000
    BLT r5, r6, spin
    EI
    NOP
    DI
    HALT
rx:
    IN r1, CON_IN
    IRET
`);
    b.runAll(10); // CON_CTRL is set: input now raises an interrupt
    b.env.postConsole(new Uint8Array([65]));
    const runner = new LiveRunner(b.bus, b.env);
    while (runner.step() === "continue");
    const ev = b.events.find((e) => e.kind === 17)!;
    // Spin: 4 setup instructions + 3000 + EI = 3005 retired when the guest re-enables;
    // the interrupt is taken after the one instruction in EI's shadow (the NOP).
    expect(ev.icount).toBe(4 + 3000 + 1 + 1);
    expect(b.m.regs[1]).toBe(65);
    expect(b.m.halted).toBe(true);
  });
});

/** Snippets that trap, with the trap kind and the pc of the trapping instruction. */
const TRAPS: Record<string, [string, number]> = {
  "invalid-opcode": ["", 0], // built by hand below
  "memory-out-of-bounds": ["LI r2, 0x100000\nLDB r1, [r2]", 1],
  "misaligned-access": ["LI r2, 2\nLDW r1, [r2]", 1],
  "division-by-zero": ["LI r2, 1\nDIV r1, r2, r3", 1],
  "stack-overflow": ["f: CALL f", 0],
  "stack-underflow": ["POP r1", 0],
  "pc-out-of-code": ["LI r2, 1000\nJR r2", 1],
  "bad-port": ["OUT 0x99, r1", 0],
  "unhandled-interrupt": ["LI r2, 100\nOUT TIMER_PERIOD, r2\nEI\nWFI", 4],
  "wfi-with-interrupts-disabled": ["WFI", 0],
};

describe("every trap", () => {
  it("has a test case here", () => {
    expect(Object.keys(TRAPS).sort()).toEqual([...TRAP_KINDS].sort());
  });
  for (const [kind, [src, pc]] of Object.entries(TRAPS)) {
    if (kind === "invalid-opcode") continue;
    it(kind, () => {
      const b = boot(`main:\n${src}\nHALT`);
      for (let i = 0; i < 10 && !b.m.trap; i++) {
        b.world.advance(1000);
        b.runAll();
      }
      expect(b.m.trap?.kind).toBe(kind);
      expect(b.m.trap?.pc).toBe(pc);
      // The trapping instruction did not retire.
      expect(b.m.trap?.icount).toBe(b.m.icount);
      expect(b.m.pc).toBe(pc);
      expect(b.m.run(1e9)).toBe("trapped");
    });
  }
  it("invalid-opcode names the opcode byte", () => {
    const code = new Int32Array([0x03 | (1 << 8), 5, 0xee, 0]);
    const b = boot({ code, data: new Uint8Array(0), entry: 0, symbols: [], lines: [] });
    b.runAll();
    expect(b.m.trap).toMatchObject({ kind: "invalid-opcode", pc: 1, icount: 1 });
    expect(b.m.trap!.detail).toContain("0xee");
  });
  it("a trapping IN does not retire: its destination register keeps its value", () => {
    const b = boot("main:\nLI r1, 42\nIN r1, 0x55\nHALT");
    b.runAll();
    expect(b.m.trap).toMatchObject({ kind: "bad-port", pc: 1, icount: 1 });
    expect(b.m.regs[1]).toBe(42);
  });
  it("a static jump far outside the code traps pc-out-of-code, not invalid-opcode", () => {
    const code = new Int32Array([0x40, 5000, 0x01, 0]); // JMP 5000; HALT
    const b = boot({ code, data: new Uint8Array(0), entry: 0, symbols: [], lines: [] });
    b.runAll();
    expect(b.m.trap?.kind).toBe("pc-out-of-code");
  });
  it("running past the last instruction traps pc-out-of-code", () => {
    const b = boot("NOP");
    b.runAll();
    expect(b.m.trap).toMatchObject({ kind: "pc-out-of-code", pc: 1, icount: 1 });
  });
  it("run(limit) stops exactly at the limit", () => {
    const b = boot("main: ADDI r1, r1, 1\nJMP main");
    for (const limit of [1, 2, 3, 10, 1001]) {
      expect(b.m.run(limit)).toBe("continue");
      expect(b.m.icount).toBe(limit);
    }
    expect(b.m.regs[1]).toBe(501);
  });
});
